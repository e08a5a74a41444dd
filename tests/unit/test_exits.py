"""Exit rules: stop loss, take profit, trailing stop (above entry only), max holding time."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pipeline_builders import T0, position, quote

from trader.domain.config import ExitsConfig
from trader.domain.models import Intent, Proposal, Side
from trader.pipeline.exits import exit_reason, propose_exits

D = Decimal
CFG = ExitsConfig(
    stop_loss_pct=D(3), take_profit_pct=D(6), trailing_stop_pct=D(2), max_holding_hours=D(48)
)
ENTRY_100 = position(entry=100)  # high-water mark = entry: trailing stop not armed


def test_exit_reason_when_bid_three_pct_below_entry_then_stop_loss() -> None:
    # (97 / 100 - 1) * 100 = -3 % <= -3 %
    assert exit_reason(ENTRY_100, D(97), T0, CFG) == "stop_loss -3.00% <= -3%"


def test_exit_reason_when_bid_just_above_stop_then_no_exit() -> None:
    # (97.01 / 100 - 1) * 100 = -2.99 % > -3 %
    assert exit_reason(ENTRY_100, D("97.01"), T0, CFG) is None


def test_exit_reason_when_bid_six_pct_above_entry_then_take_profit() -> None:
    # (106 / 100 - 1) * 100 = +6 % >= 6 %
    assert exit_reason(ENTRY_100, D(106), T0, CFG) == "take_profit +6.00% >= 6%"


def test_exit_reason_when_bid_just_below_take_profit_then_no_exit() -> None:
    assert exit_reason(ENTRY_100, D("105.99"), T0, CFG) is None


def test_exit_reason_when_two_pct_below_high_above_entry_then_trailing_stop() -> None:
    # high 105 > entry 100; (1 - 102.9 / 105) * 100 = 2 % (102.9 / 105 = 0.98); +2.9 % is no TP
    pos = position(entry=100, high_watermark=105)
    assert exit_reason(pos, D("102.9"), T0, CFG) == "trailing_stop 2.00% below high 105 >= 2%"


def test_exit_reason_when_less_than_trail_below_high_then_no_exit() -> None:
    # (1 - 102.91 / 105) * 100 = 1.99 % < 2 %
    assert exit_reason(position(entry=100, high_watermark=105), D("102.91"), T0, CFG) is None


def test_exit_reason_when_high_watermark_not_above_entry_then_trailing_stop_not_armed() -> None:
    # 2 % below a high equal to entry, and below a high under entry: only the stop loss applies
    assert exit_reason(position(entry=100, high_watermark=100), D(98), T0, CFG) is None
    assert exit_reason(position(entry=100, high_watermark=0), D(98), T0, CFG) is None


def test_exit_reason_when_trailing_stop_off_then_no_trailing_exit() -> None:
    cfg = CFG.model_copy(update={"trailing_stop_pct": None})
    assert exit_reason(position(entry=100, high_watermark=105), D(102), T0, cfg) is None


def test_exit_reason_when_loss_beyond_stop_and_trail_then_stop_loss_first() -> None:
    # -4 % is both a stop loss and 8.6 % below the high: the stop loss is named
    pos = position(entry=100, high_watermark=105)
    assert exit_reason(pos, D(96), T0, CFG) == "stop_loss -4.00% <= -3%"


def test_exit_reason_when_held_exactly_max_hours_then_max_holding() -> None:
    now = T0 + timedelta(hours=48)
    assert exit_reason(ENTRY_100, D(100), now, CFG) == "max_holding 2 days, 0:00:00 >= 48h"


def test_exit_reason_when_one_second_before_max_hours_then_no_exit() -> None:
    now = T0 + timedelta(hours=48) - timedelta(seconds=1)
    assert exit_reason(ENTRY_100, D(100), now, CFG) is None


def test_exit_reason_when_max_holding_off_then_no_time_exit() -> None:
    cfg = CFG.model_copy(update={"max_holding_hours": None})
    assert exit_reason(ENTRY_100, D(100), T0 + timedelta(days=365), cfg) is None


def test_propose_exits_when_stop_hit_then_full_sell_of_the_position() -> None:
    positions = {"BTC-USD": position(size="0.123", entry=100)}
    quotes = {"BTC-USD": quote(bid="90", ask="90.1")}
    assert propose_exits(positions, quotes, T0, (), CFG) == (
        Proposal(
            "BTC-USD",
            Side.SELL,
            Intent.EXIT,
            quote_size=None,
            base_size=D("0.123"),
            reason="stop_loss -10.00% <= -3%",
        ),
    )


def test_propose_exits_when_no_quote_busy_or_empty_then_skipped() -> None:
    positions = {
        "BTC-USD": position("BTC-USD"),  # no quote
        "ETH-USD": position("ETH-USD"),  # an order is in flight
        "SOL-USD": position("SOL-USD", size=0),
    }
    quotes = {pid: quote(pid, bid="50", ask="50.1") for pid in ("ETH-USD", "SOL-USD")}
    assert propose_exits(positions, quotes, T0, {"ETH-USD"}, CFG) == ()


def test_propose_exits_when_several_exit_then_in_product_order() -> None:
    positions = {pid: position(pid) for pid in ("SOL-USD", "BTC-USD", "ETH-USD")}
    quotes = {pid: quote(pid, bid="50", ask="50.1") for pid in positions}
    assert [p.product_id for p in propose_exits(positions, quotes, T0, (), CFG)] == [
        "BTC-USD",
        "ETH-USD",
        "SOL-USD",
    ]


def test_propose_exits_when_no_positions_then_nothing() -> None:
    assert propose_exits({}, {}, T0, (), CFG) == ()
