"""The local loop: time-aware sleep, no overlap, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from scripted_market import ScriptedMarket, default_config, product, series

from trader.adapters.clock import SteppingClock
from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore, ListAuditSink
from trader.adapters.sim.matching import MatchingExchange
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.models import CycleResult, FeeRates, Mode
from trader.entrypoints.runner import (
    LoopOptions,
    StopFlag,
    run_loop,
    sleep_seconds,
    stop_on_signals,
)
from trader.service.cycle import CycleDeps

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def quiet_deps(clock: SteppingClock) -> CycleDeps:
    market = ScriptedMarket(
        clock, {"BTC-USD": product("BTC-USD")}, {"BTC-USD": series(START, [65000] * 48)}
    )
    fees = FeeRates(Decimal(0), Decimal(0))
    exchange = MatchingExchange(market, clock, fees, Decimal(0), {"USD": Decimal(1000)})
    return CycleDeps(
        default_config(),
        exchange,
        InMemoryStateStore(),
        InMemoryCycleLock(),
        ListAuditSink(),
        clock,
        SimulatedPaperAccounts(default_config(), clock),
    )


class RecordingStop(StopFlag):
    """A StopFlag that records how long the loop asked to wait instead of waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return self.is_set()


@pytest.mark.parametrize(
    ("interval", "elapsed", "expected"),
    [(300, 12.5, 287.5), (300, 0.0, 300.0), (300, 299.5, 1.0), (300, 450.0, 1.0), (60, 59.0, 1.0)],
)
def test_sleep_seconds_when_a_cycle_took_time_then_the_next_starts_one_interval_after(
    interval: int, elapsed: float, expected: float
) -> None:
    # max(1, interval - elapsed): 300-12.5 = 287.5; a cycle longer than the interval waits 1 s.
    assert sleep_seconds(interval, elapsed) == expected


def test_run_loop_when_cycles_take_time_then_each_wait_subtracts_the_cycle_duration() -> None:
    clock = SteppingClock(START, 300)
    ticks = iter([0.0, 4.0, 300.0, 303.0, 600.0, 601.5])  # (start, end) of three cycles
    stop = RecordingStop()
    results: list[CycleResult] = []

    ran = run_loop(
        quiet_deps(clock),
        LoopOptions(Mode.DRY_RUN, 300, max_cycles=3),
        stop,
        results.append,
        monotonic=lambda: next(ticks),
    )
    assert ran == 3
    # waits after cycles 1 and 2 only: 300 - 4 = 296 and 300 - 3 = 297; none after the last.
    assert stop.waits == [296.0, 297.0]


def test_run_loop_when_stopped_during_a_cycle_then_that_cycle_finishes_and_no_other_starts() -> (
    None
):
    clock = SteppingClock(START, 300)
    stop = RecordingStop()
    results: list[CycleResult] = []

    def on_result(result: CycleResult) -> None:
        results.append(result)
        stop.set("SIGTERM")  # arrives while the first cycle is being reported

    ran = run_loop(quiet_deps(clock), LoopOptions(Mode.DRY_RUN, 300), stop, on_result)
    assert ran == 1
    assert results[0].record["finished_at"] is not None
    assert stop.waits == []


def test_stop_on_signals_when_sigterm_arrives_mid_cycle_then_the_loop_ends_after_it() -> None:
    clock = SteppingClock(START, 300)
    stop = StopFlag()
    seen: list[str] = []

    def on_result(result: CycleResult) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, handled by stop_on_signals
        seen.append(result.cycle_id)

    with stop_on_signals(stop):
        ran = run_loop(
            quiet_deps(clock), LoopOptions(Mode.DRY_RUN, 300, fast=True), stop, on_result
        )
    assert ran == 1
    assert stop.signal_name == "SIGTERM"
    assert seen == ["20260302T1205Z"]  # fast mode stepped the clock one bar before the cycle
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the old handler is back


def test_run_loop_when_fast_then_the_clock_moves_one_interval_per_cycle_without_waiting() -> None:
    clock = SteppingClock(START, 300)
    stop = RecordingStop()
    ids: list[str] = []
    run_loop(
        quiet_deps(clock),
        LoopOptions(Mode.DRY_RUN, 300, max_cycles=3, fast=True),
        stop,
        lambda r: ids.append(r.cycle_id),
    )
    assert ids == ["20260302T1205Z", "20260302T1210Z", "20260302T1215Z"]
    assert stop.waits == []
