"""Trades, fills and the whole report from hand-made audit records."""

from __future__ import annotations

from decimal import Decimal

import pytest
from audit_records import at, order, record

from trader.domain.errors import AuditReadError
from trader.service.report.history import build_history
from trader.service.report.performance import EQUAL_WEIGHT, EmptyRun, build_report

D = Decimal


def two_trades() -> list[dict]:
    """BTC bought at 100 and sold at 110 (a winner); ETH bought at 50, sold at 45 (a loser)."""
    prices = lambda btc, eth: {"BTC-USD": btc, "ETH-USD": eth}  # noqa: E731
    return [
        record(
            at(0),
            "1000",
            prices("100", "50"),
            held={"BTC-USD": "1"},
            exposure="100",
            placed=[order("b1", "BTC-USD", "BUY", "1", "100", "0.6")],
            planned={"b1": "momentum (regime choppy)"},
        ),
        record(at(1), "1009.40", prices("110", "50"), held={"BTC-USD": "1"}, exposure="110"),
        record(
            at(2),
            "1009.40",
            prices("110", "50"),
            regime="trending_up",
            placed=[order("s1", "BTC-USD", "SELL", "1", "110", "0.66")],
            planned={"s1": "take_profit +10.00% >= 6%"},
        ),
        record(
            at(3),
            "1008.74",
            prices("120", "50"),
            held={"ETH-USD": "2"},
            exposure="100",
            placed=[order("b2", "ETH-USD", "BUY", "2", "50", "0.6")],
            planned={"b2": "breakout (regime trending_up)"},
        ),
        record(
            at(4),
            "998.14",
            prices("120", "45"),
            held={"ETH-USD": "2"},
            exposure="90",
            reason="rules_engine_no_proposals",
        ),
        record(
            at(5),
            "998.14",
            prices("120", "45"),
            placed=[order("s2", "ETH-USD", "SELL", "2", "45", "0.54")],
            planned={"s2": "stop_loss -10.00% <= -3%"},
        ),
    ]


def test_history_when_bought_and_sold_to_flat_then_one_trade_with_its_prices_fees_and_pnl():
    history = build_history(two_trades())

    btc, eth = history.trades
    assert (btc.product_id, btc.entry_time, btc.exit_time) == ("BTC-USD", at(0), at(2))
    assert (btc.entry_price, btc.exit_price, btc.bought) == (D(100), D(110), D(1))
    assert btc.fees == D("1.26")  # 0.6 + 0.66
    assert btc.pnl == D("8.74")  # 110 - 100 - 1.26
    assert not btc.open and btc.exit_reason.startswith("take_profit")
    assert eth.pnl == D("-11.14")  # 2 x (45 - 50) - 0.6 - 0.54
    assert len(history.fills) == 4


def test_history_when_a_limit_order_fills_in_a_later_cycle_then_the_fill_is_timed_there():
    resting = order("b1", "BTC-USD", "BUY", "0", None, "0", status="OPEN")
    filled = order("b1", "BTC-USD", "BUY", "0.5", "100", "0.2")
    records = [
        record(at(0), "1000", {"BTC-USD": "101"}, placed=[resting], planned={"b1": "breakout"}),
        record(at(1), "1000", {"BTC-USD": "99"}, held={"BTC-USD": "0.5"}, reconciled=[filled]),
        record(at(2), "1000", {"BTC-USD": "99"}, held={"BTC-USD": "0.5"}, reconciled=[filled]),
    ]

    history = build_history(records)

    (fill,) = history.fills  # seen twice, counted once
    assert (fill.time, fill.size, fill.price, fill.fee) == (at(1), D("0.5"), D(100), D("0.2"))
    (trade,) = history.trades
    assert trade.open and trade.entry_time == at(1)


def test_history_when_an_order_fills_in_two_parts_then_each_part_at_its_own_price():
    first = order("s1", "BTC-USD", "SELL", "1", "110", "0.5", status="OPEN")
    rest = order("s1", "BTC-USD", "SELL", "2", "111", "1.1")  # average of 110 and 112
    buy = order("b1", "BTC-USD", "BUY", "2", "100", "1")
    records = [
        record(at(0), "1000", {"BTC-USD": "100"}, held={"BTC-USD": "2"}, placed=[buy]),
        record(at(1), "1000", {"BTC-USD": "110"}, held={"BTC-USD": "1"}, placed=[first]),
        record(at(2), "1000", {"BTC-USD": "112"}, reconciled=[rest]),
    ]

    history = build_history(records)

    assert [(f.size, f.price, f.fee) for f in history.fills[1:]] == [
        (D(1), D(110), D("0.5")),
        (D(1), D(112), D("0.6")),  # 2 x 111 - 110 = 112; fees 1.1 - 0.5
    ]
    (trade,) = history.trades
    assert trade.exit_time == at(2) and trade.pnl == D(22) - D("2.1")


def test_report_when_two_trades_then_the_figures_are_as_worked_out():
    report = build_report(build_history(two_trades()))

    t = report.trade_stats
    assert (t.closed, t.still_open) == (2, 0)
    assert t.win_rate == D("0.5")
    assert t.profit_factor == D("8.74") / D("11.14")
    assert t.fees == D("2.4")
    # Equity 1000 -> 998.14 (-1.86) with 2.40 of fees: the trades made +0.54 before fees.
    assert t.gross_pnl == D("0.54")
    assert t.fee_share_of_gross == D("2.4") / D("0.54")
    assert t.time_in_market == D(4) / D(6)  # cycles 0, 1, 3 and 4 hold a position
    shares = [D(100) / 1000, D(110) / D("1009.40"), D(100) / D("1008.74"), D(90) / D("998.14")]
    assert t.avg_exposure == sum(shares) / 6
    # turnover: bought 100 + 100, sold 110 + 90 = 400; the mean equity is 6,023.82 / 6
    assert t.turnover == D(400) / (D("6023.82") / 6)
    assert report.exit_reasons == {"take_profit": (1, D("8.74")), "stop_loss": (1, D("-11.14"))}
    assert report.no_trade_reasons == {
        "traded": 4,
        "no_candidates_from_triggers": 1,
        "rules_engine_no_proposals": 1,
    }


def test_report_when_prices_move_then_buy_and_hold_and_equal_weight_follow_them():
    report = build_report(build_history(two_trades()))

    # BTC 100 -> 120: +20 %; ETH 50 -> 45: -10 %; equal weight: (1.2 + 0.9) / 2 - 1 = +5 %.
    assert report.benchmarks["BTC-USD"].total_return == D("0.2")
    assert report.benchmarks["ETH-USD"].total_return == D("-0.1")
    assert report.benchmarks[EQUAL_WEIGHT].total_return == D("0.05")
    assert report.benchmarks[EQUAL_WEIGHT].end_value == D(1050)
    assert report.strategy.total_return == D("998.14") / 1000 - 1


def test_report_when_regimes_change_then_bands_cover_each_stretch():
    report = build_report(build_history(two_trades()))

    assert [(b.start, b.end, b.regime) for b in report.regimes] == [
        (at(0), at(1), "choppy"),
        (at(2), at(2), "trending_up"),
        (at(3), at(5), "choppy"),
    ]


def test_report_when_cycles_are_missing_then_they_are_counted():
    records = [record(at(h), "1000", {"BTC-USD": "1"}) for h in (0, 1, 2, 5, 6)]

    assert build_report(build_history(records)).missing_cycles == 2  # hours 3 and 4


def test_report_when_no_record_has_an_equity_then_empty_run():
    with pytest.raises(EmptyRun):
        build_report(build_history([record(at(0), None, {})]))


def test_history_when_a_record_has_no_start_time_then_the_error_names_its_cycle():
    broken = {**record(at(0), "1000", {}), "started_at": "noon"}

    with pytest.raises(AuditReadError, match="cycle 20250101T0000Z: no valid started_at"):
        build_history([broken])


def test_history_when_a_liquidation_record_is_read_then_it_is_counted_apart():
    liquidation = {"schema_version": 1, "record_type": "liquidation", "started_at": "x"}

    history = build_history([record(at(0), "1000", {}), liquidation])

    assert len(history.points) == 1
    assert history.other_records == {"liquidation": 1}
