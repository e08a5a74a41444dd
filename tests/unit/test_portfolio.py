"""Accounting: valuing the book, high-water marks, and fills booked once into positions,
realized PnL (net of both sides' fees), fees and cooldowns."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from pipeline_builders import T0, fill, position, quote

from trader.domain.models import Position, Side
from trader.domain.state import SEEN_FILL_IDS_KEPT, PortfolioState
from trader.pipeline.portfolio import (
    Cooldowns,
    Valuation,
    apply_fill,
    count_trade,
    in_cooldown,
    mark_watermarks,
    value_book,
)

D = Decimal
COOLDOWN = Cooldowns(after_loss_minutes=60)
LATER = T0 + timedelta(hours=1)


def test_value_book_when_quoted_and_unquoted_positions_then_bid_or_entry_marks() -> None:
    positions = {
        "BTC-USD": position("BTC-USD", size=2, entry=100),  # marked at bid 110: 220, +20
        "ETH-USD": position("ETH-USD", size=1, entry=50),  # no quote: at entry 50, +0
    }
    book = value_book(positions, {"BTC-USD": quote(bid="110", ask="111")}, D(1000))
    assert book.exposure == {"BTC-USD": D(220), "ETH-USD": D(50)}
    assert book.unrealized_pnl == D(20)  # (110 - 100) x 2
    assert book.total_exposure == D(270)
    assert book.equity == D(1270)  # 1,000 + 270


def test_value_book_when_other_holdings_then_counted_in_equity_only() -> None:
    positions = {"BTC-USD": position("BTC-USD", size=1, entry=100)}  # at bid 110: 110
    book = value_book(positions, {"BTC-USD": quote(bid="110", ask="111")}, D(50), D("7.5"))
    assert (book.total_exposure, book.other_holdings) == (D(110), D("7.5"))
    assert book.equity == D("167.5")  # 50 cash + 110 + 7.5


def test_value_book_when_empty_then_equity_is_cash() -> None:
    book = value_book({}, {}, D("12.34"))
    assert (book.total_exposure, book.unrealized_pnl, book.equity) == (D(0), D(0), D("12.34"))


def test_mark_watermarks_when_bid_above_mark_then_raised_else_unchanged() -> None:
    positions = {
        "BTC-USD": position("BTC-USD", entry=100, high_watermark=100),
        "ETH-USD": position("ETH-USD", entry=100, high_watermark=120),
        "SOL-USD": position("SOL-USD", entry=100, high_watermark=100),
    }
    quotes = {"BTC-USD": quote(bid="105", ask="106"), "ETH-USD": quote(bid="110", ask="111")}
    marked = mark_watermarks(positions, quotes)
    assert marked["BTC-USD"].high_watermark == D(105)
    assert marked["ETH-USD"] is positions["ETH-USD"]  # 110 < 120
    assert marked["SOL-USD"] is positions["SOL-USD"]  # no quote


def test_apply_fill_when_first_buy_then_position_opened_with_fee_and_mark() -> None:
    state = apply_fill(PortfolioState(), fill("f1", Side.BUY, 100, 1, "0.6"), COOLDOWN)
    assert state.positions == {"BTC-USD": Position("BTC-USD", D(1), D(100), T0, D("0.6"), D(100))}
    assert state.fees_total == D("0.6")
    assert state.realized_pnl_today == D(0)
    assert state.seen_fill_ids == ("f1",)


def test_apply_fill_when_two_buys_then_size_weighted_average_entry() -> None:
    # 1 @ 100 + 3 @ 120: size 4, avg (100 + 360) / 4 = 115, fees 0.6 + 2.16 = 2.76
    state = apply_fill(PortfolioState(), fill("f1", Side.BUY, 100, 1, "0.6"), COOLDOWN)
    state = apply_fill(state, fill("f2", Side.BUY, 120, 3, "2.16", time=LATER), COOLDOWN)
    assert state.positions["BTC-USD"] == Position("BTC-USD", D(4), D(115), T0, D("2.76"), D(120))
    assert state.fees_total == D("2.76")


def test_apply_fill_when_partial_sell_then_pnl_net_of_exit_fee_and_pro_rata_entry_fees() -> None:
    # 1 of 4 sold: entry fee share 2.76 x 1/4 = 0.69
    # pnl (130 - 115) x 1 - 0.78 - 0.69 = 13.53
    held = PortfolioState(positions={"BTC-USD": position(size=4, entry=115, entry_fees="2.76")})
    state = apply_fill(held, fill("s1", Side.SELL, 130, 1, "0.78"), COOLDOWN)
    assert state.realized_pnl_today == D("13.53")
    assert state.realized_pnl_total == D("13.53")
    assert state.fees_total == D("0.78")
    assert state.positions["BTC-USD"] == Position(
        "BTC-USD",
        D(3),
        D(115),
        T0,
        D("2.07"),
        D(115),  # 2.76 - 0.69 fees left
    )
    assert state.cooldowns == {}  # a winning exit


def test_apply_fill_when_full_sell_at_loss_then_closed_and_cooldown_started() -> None:
    # all 3 sold: entry fee share 2.07; pnl (110 - 115) x 3 - 1.98 - 2.07 = -15 - 4.05 = -19.05
    held = PortfolioState(
        positions={"BTC-USD": position(size=3, entry=115, entry_fees="2.07")},
        realized_pnl_today=D("13.53"),
        realized_pnl_total=D("13.53"),
    )
    state = apply_fill(held, fill("s2", Side.SELL, 110, 3, "1.98", time=LATER), COOLDOWN)
    assert state.positions == {}
    assert state.realized_pnl_today == D("-5.52")  # 13.53 - 19.05
    assert state.realized_pnl_total == D("-5.52")
    assert state.cooldowns == {"BTC-USD": LATER + timedelta(minutes=60)}


def test_apply_fill_when_buy_then_sells_then_whole_round_trip_adds_up() -> None:
    # buy 2 @ 100 fee 1.2; sell 1 @ 110 fee 0.66; sell 1 @ 90 fee 0.54
    # pnl1 = 10 - 0.66 - 0.6 = 8.74; pnl2 = -10 - 0.54 - 0.6 = -11.14; total -2.40
    # independent check: proceeds 200 - cost 200 - all fees (1.2 + 0.66 + 0.54 = 2.40) = -2.40
    state = apply_fill(PortfolioState(), fill("b", Side.BUY, 100, 2, "1.2"), COOLDOWN)
    state = apply_fill(state, fill("s1", Side.SELL, 110, 1, "0.66"), COOLDOWN)
    state = apply_fill(state, fill("s2", Side.SELL, 90, 1, "0.54"), COOLDOWN)
    assert state.realized_pnl_total == D("-2.40")
    assert state.fees_total == D("2.40")
    assert state.positions == {}


def test_apply_fill_when_same_fill_id_twice_then_booked_once() -> None:
    once = apply_fill(PortfolioState(), fill("f1", Side.BUY, 100, 1, "0.6"), COOLDOWN)
    assert apply_fill(once, fill("f1", Side.BUY, 100, 1, "0.6"), COOLDOWN) is once
    assert once.positions["BTC-USD"].size == D(1)


def test_apply_fill_when_loss_but_cooldown_zero_then_no_cooldown() -> None:
    held = PortfolioState(positions={"BTC-USD": position(size=1, entry=100)})
    state = apply_fill(held, fill("s", Side.SELL, 90, 1), Cooldowns())
    assert state.realized_pnl_today == D(-10)
    assert state.cooldowns == {}


def test_apply_fill_when_winning_exit_and_cooldown_after_any_exit_then_cooldown_started() -> None:
    # sold 1 @ 110 against an entry at 100: +9.40 after the 0.6 fee, yet no re-entry for 30 min
    held = PortfolioState(positions={"BTC-USD": position(size=1, entry=100)})
    cooldowns = Cooldowns(after_loss_minutes=60, after_exit_minutes=30)
    state = apply_fill(held, fill("s", Side.SELL, 110, 1, "0.6", time=LATER), cooldowns)
    assert state.realized_pnl_total == D("9.4")
    assert state.cooldowns == {"BTC-USD": LATER + timedelta(minutes=30)}


def test_apply_fill_when_losing_exit_then_the_longer_of_both_cooldowns() -> None:
    held = PortfolioState(positions={"BTC-USD": position(size=1, entry=100)})
    cooldowns = Cooldowns(after_loss_minutes=60, after_exit_minutes=30)
    state = apply_fill(held, fill("s", Side.SELL, 90, 1, time=LATER), cooldowns)
    assert state.cooldowns == {"BTC-USD": LATER + timedelta(minutes=60)}
    longer_after_exit = Cooldowns(after_loss_minutes=60, after_exit_minutes=90)
    state = apply_fill(held, fill("s", Side.SELL, 90, 1, time=LATER), longer_after_exit)
    assert state.cooldowns == {"BTC-USD": LATER + timedelta(minutes=90)}


def test_apply_fill_when_sale_of_a_coin_not_in_the_positions_then_no_cooldown() -> None:
    # a funding sale or an adopted coin's sale is no exit from a position: nothing to churn
    state = apply_fill(PortfolioState(), fill("s", Side.SELL, 110, 1), Cooldowns(0, 30))
    assert state.cooldowns == {}


def test_apply_fill_when_buy_then_no_cooldown_after_exit() -> None:
    state = apply_fill(PortfolioState(), fill("b", Side.BUY, 100, 1), Cooldowns(60, 30))
    assert state.cooldowns == {}


def test_apply_fill_when_selling_more_than_held_then_only_the_held_size_counts() -> None:
    # 3 held @ 100, 5 sold @ 110 fee 1: pnl (110 - 100) x 3 - 1 = 29
    held = PortfolioState(positions={"BTC-USD": position(size=3, entry=100)})
    state = apply_fill(held, fill("s", Side.SELL, 110, 5, 1), COOLDOWN)
    assert state.positions == {}
    assert state.realized_pnl_total == D(29)


def test_apply_fill_when_selling_an_untracked_product_then_no_pnl_but_the_fee_counts() -> None:
    # No position, so no cost basis: the 100 of proceeds are not profit (booking them would
    # also loosen the daily loss limit). The 0.6 fee is still a fee paid.
    state = apply_fill(PortfolioState(), fill("s", Side.SELL, 50, 2, "0.6"), COOLDOWN)
    assert state.realized_pnl_total == D(0)
    assert state.realized_pnl_today == D(0)
    assert state.fees_total == D("0.6")
    assert state.positions == {}


def test_apply_fill_when_more_fills_than_kept_then_oldest_ids_forgotten() -> None:
    state = PortfolioState()
    for i in range(SEEN_FILL_IDS_KEPT + 1):
        state = apply_fill(state, fill(f"f{i}", Side.BUY, 1, 1), COOLDOWN)
    assert len(state.seen_fill_ids) == SEEN_FILL_IDS_KEPT
    assert state.seen_fill_ids[0] == "f1"
    assert state.seen_fill_ids[-1] == f"f{SEEN_FILL_IDS_KEPT}"


def test_count_trade_when_called_then_day_and_hour_counters_up_by_one() -> None:
    state = count_trade(PortfolioState(trades_today=4, trades_this_hour=1))
    assert (state.trades_today, state.trades_this_hour) == (5, 2)


def test_in_cooldown_when_until_after_now_then_until_else_none() -> None:
    state = PortfolioState(cooldowns={"BTC-USD": LATER})
    assert in_cooldown(state, "BTC-USD", T0) == LATER
    assert in_cooldown(state, "BTC-USD", LATER) is None  # ends at `until`
    assert in_cooldown(state, "ETH-USD", T0) is None


# 28 digits each (as size x bid may have): their sums round, so the order of adding shows
amounts = st.builds(
    lambda whole, part: D(f"{whole}.{part:016d}"),
    st.integers(10**11, 10**12 - 1),
    st.integers(10**15, 10**16 - 1),
)


@given(
    cash=amounts,
    exposure=st.dictionaries(st.sampled_from(["BTC-USD", "ETH-USD", "SOL-USD"]), amounts),
    other=amounts,
)
def test_valuation_when_made_then_its_totals_are_the_sums_read_in_order(
    cash: Decimal, exposure: dict[str, Decimal], other: Decimal
) -> None:
    # summed once when made: the very digits summing on every read gave (28-digit rounding)
    valuation = Valuation(cash, dict(exposure), D(0), other)
    total = sum(exposure.values(), D(0))
    assert str(valuation.total_exposure) == str(total)
    assert str(valuation.equity) == str(cash + total + other)
    assert valuation == Valuation(cash, dict(exposure), D(0), other)
