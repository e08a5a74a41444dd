"""The regime in the cycle: its memory saved in the state and held to by the next cycle (a
cycle is stateless), and a crash that blocks entries with NO_TRADE regime_blocked."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from cycle_rig import FLAT_BARS, NOW, make_rig
from scripted_market import series

from trader.domain.state import PortfolioState, RegimeMemory

NEWEST = NOW - timedelta(minutes=5)  # start of the rig's newest closed bar


def test_run_cycle_when_it_reads_the_regime_then_the_state_keeps_it_for_the_next_cycle() -> None:
    rig = make_rig()
    rig.run()
    assert rig.store.load().regime == RegimeMemory("choppy", NEWEST, NEWEST)


def test_run_cycle_when_the_remembered_trend_is_younger_than_the_dwell_then_it_holds() -> None:
    # the state says trending_up since 2 h ago; BTC and ETH are flat now (choppy), but the
    # 16 h dwell has not passed: the cycle still reads trending_up, and keeps its start
    rig = make_rig()
    since = NEWEST - timedelta(hours=2)
    rig.start_with(PortfolioState(regime=RegimeMemory("trending_up", since, NEWEST - 5 * MIN)))
    rig.run()
    record = rig.audit.records[0]
    assert (record["regime"]["name"], record["regime"]["candidate"]) == ("trending_up", "choppy")
    assert record["regime"]["age_hours"] == "2.0000"
    assert rig.store.load().regime == RegimeMemory("trending_up", since, NEWEST)


def test_run_cycle_when_the_remembered_trend_is_older_than_the_dwell_then_it_gives_way() -> None:
    rig = make_rig()
    since = NEWEST - timedelta(hours=17)
    rig.start_with(PortfolioState(regime=RegimeMemory("trending_up", since, NEWEST - 5 * MIN)))
    rig.run()
    assert rig.audit.records[0]["regime"]["name"] == "choppy"
    assert rig.store.load().regime == RegimeMemory("choppy", NEWEST, NEWEST)


MIN = timedelta(minutes=1)


def test_run_cycle_when_btc_and_eth_crash_then_no_entry_and_regime_blocked() -> None:
    # BTC and ETH fall 10 % over the last 10 bars after a flat calm: (1 - 0.9) = 10 % >= 8.5 %
    # of the 12 h high, infinitely many calm stdevs; SOL's momentum signal is refused
    rig = make_rig()
    for pid, price in (("BTC-USD", 65000), ("ETH-USD", 3200)):
        falling = [Decimal(price) * (1 - Decimal(i) / 100) for i in range(1, 11)]
        rig.market.candles[pid] = series(NOW, [price] * (FLAT_BARS - 10) + falling)
    result = rig.run()
    record = rig.audit.records[0]
    assert result.regime == "crash"
    assert result.no_trade_reason == "regime_blocked"
    assert record["no_trade_detail"] == "SOL-USD: regime_blocked: crash sizes entries at 0"
    assert record["regime"]["entries"]["blocked"] is True
    assert record["regime"]["entries"]["stop_loss_pct"] == "1.5"
    assert rig.exchange.orders() == {}
