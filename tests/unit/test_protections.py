"""The max-drawdown protection: the peak, the trip to REDUCING, and the operator's release."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pipeline_builders import T0

from trader.domain.config import RiskConfig
from trader.domain.models import TradingState
from trader.domain.state import PortfolioState
from trader.pipeline.protections import MAX_DRAWDOWN, Protections, drawdown_pct, guard_drawdown

D = Decimal
CFG = RiskConfig(max_drawdown_pct=D(15))
EARLIER = T0 - timedelta(days=2)


def test_drawdown_pct_when_no_peak_or_at_a_new_high_then_zero() -> None:
    assert drawdown_pct(D(0), D(9_000)) == 0
    assert drawdown_pct(D(10_000), D(10_000)) == 0
    assert drawdown_pct(D(10_000), D(10_500)) == 0


def test_drawdown_pct_when_equity_below_peak_then_share_of_the_peak() -> None:
    # (10,000 - 8,750) / 10,000 * 100 = 12.5 %
    assert drawdown_pct(D(10_000), D(8_750)) == D("12.5")


def test_guard_when_no_peak_yet_then_the_equity_becomes_the_peak() -> None:
    state, seen = guard_drawdown(PortfolioState(), D(10_000), T0, CFG)
    assert state == PortfolioState(peak_equity=D(10_000))
    assert seen == Protections(D(10_000), D(0), D(15), None, False, None)


def test_guard_when_equity_above_the_peak_then_the_peak_is_raised() -> None:
    state, seen = guard_drawdown(PortfolioState(peak_equity=D(10_000)), D(10_500), T0, CFG)
    assert state.peak_equity == D(10_500)
    assert (seen.drawdown_pct, seen.tripped) == (D(0), None)


def test_guard_when_equity_exactly_the_limit_below_the_peak_then_reducing_and_tripped() -> None:
    # (10,000 - 8,500) / 10,000 * 100 = 15 % >= 15 %
    state, seen = guard_drawdown(PortfolioState(peak_equity=D(10_000)), D(8_500), T0, CFG)
    assert state.trading_state is TradingState.REDUCING
    assert state.drawdown_tripped_at == T0
    assert state.peak_equity == D(10_000)  # the peak stays where it was
    assert seen == Protections(D(10_000), D(15), D(15), MAX_DRAWDOWN, False, T0)


def test_guard_when_just_under_the_limit_then_still_active() -> None:
    # (10,000 - 8,500.01) / 10,000 * 100 = 14.9999 % < 15 %
    state, seen = guard_drawdown(PortfolioState(peak_equity=D(10_000)), D("8500.01"), T0, CFG)
    assert state.trading_state is TradingState.ACTIVE
    assert seen.drawdown_pct == D("14.9999")
    assert seen.tripped is None


@pytest.mark.parametrize("operator", [TradingState.REDUCING, TradingState.HALTED])
def test_guard_when_the_operator_already_stopped_trading_then_no_trip_and_no_hold(
    operator: TradingState,
) -> None:
    before = PortfolioState(trading_state=operator, peak_equity=D(10_000))
    state, seen = guard_drawdown(before, D(8_000), T0, CFG)
    assert state == before  # the operator's switch stays the operator's
    assert (seen.drawdown_pct, seen.tripped, seen.held_since) == (D(20), None, None)


def test_guard_when_the_limit_is_disabled_then_never_trips_but_reports_the_drawdown() -> None:
    off = RiskConfig(max_drawdown_pct=None)
    state, seen = guard_drawdown(PortfolioState(peak_equity=D(10_000)), D(5_000), T0, off)
    assert state.trading_state is TradingState.ACTIVE
    assert seen == Protections(D(10_000), D(50), None, None, False, None)


def test_guard_when_held_and_still_reducing_then_nothing_changes() -> None:
    held = PortfolioState(
        trading_state=TradingState.REDUCING, peak_equity=D(10_000), drawdown_tripped_at=EARLIER
    )
    state, seen = guard_drawdown(held, D(7_000), T0, CFG)
    assert state == held
    # (10,000 - 7,000) / 10,000 = 30 %; no new trip, the hold is reported from when it began
    assert seen == Protections(D(10_000), D(30), D(15), None, False, EARLIER)


def test_guard_when_the_operator_set_active_over_a_hold_then_the_peak_restarts_at_equity() -> None:
    released = PortfolioState(peak_equity=D(10_000), drawdown_tripped_at=EARLIER)  # ACTIVE
    state, seen = guard_drawdown(released, D(8_000), T0, CFG)
    # The old peak (a 20 % drawdown) must not trip it again: the peak is now 8,000.
    assert state == PortfolioState(peak_equity=D(8_000))
    assert seen == Protections(D(8_000), D(0), D(15), None, True, None)


def test_guard_when_equity_falls_the_limit_below_the_restarted_peak_then_trips_again() -> None:
    state, _ = guard_drawdown(
        PortfolioState(peak_equity=D(10_000), drawdown_tripped_at=EARLIER), D(8_000), T0, CFG
    )
    later = T0 + timedelta(minutes=5)
    # (8,000 - 6,800) / 8,000 * 100 = 15 %
    state, seen = guard_drawdown(state, D(6_800), later, CFG)
    assert (state.trading_state, state.drawdown_tripped_at) == (TradingState.REDUCING, later)
    assert seen.tripped == MAX_DRAWDOWN
