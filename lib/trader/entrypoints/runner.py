"""The local main loop: once or every N seconds, stopping cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from trader.adapters.clock import SteppingClock
from trader.domain.ids import cycle_id_for
from trader.domain.models import CycleResult, Mode
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle


@dataclass(frozen=True, slots=True)
class LoopOptions:
    mode: Mode
    interval_seconds: int
    max_cycles: int | None = None  # None: until stopped
    fast: bool = False  # step a SteppingClock one interval per cycle instead of sleeping


class StopFlag:
    """Set by a signal; the cycle in progress finishes, the wait between cycles is cut short."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None
        # the event's own (a replay asks before each cycle: one call less than a method)
        self.is_set: Callable[[], bool] = self._event.is_set

    def set(self, name: str = "stop") -> None:
        self.signal_name = name
        self._event.set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[None]:
    """SIGINT and SIGTERM set the flag instead of interrupting a cycle half-way."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        flag.set(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def sleep_seconds(interval_seconds: int, elapsed: float) -> float:
    """Time-aware sleep: the next cycle starts one interval after this one started (>= 1 s)."""
    return max(1.0, interval_seconds - elapsed)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_loop(
    deps: CycleDeps,
    options: LoopOptions,
    stop: StopFlag,
    on_result: Callable[[CycleResult], None],
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Run cycles until `max_cycles` or a stop signal; cycles never overlap. Returns cycles run."""
    done = 0
    owner = owner_id()
    while not stop.is_set() and (options.max_cycles is None or done < options.max_cycles):
        started = monotonic()
        clock = deps.clock
        if options.fast and isinstance(clock, SteppingClock):
            clock.advance()
        cycle_id = cycle_id_for(clock.now(), options.interval_seconds)
        on_result(run_cycle(deps, CycleRequest(cycle_id, options.mode, owner)))
        done += 1
        if options.fast or stop.is_set():
            continue
        if options.max_cycles is not None and done >= options.max_cycles:
            break
        stop.wait(sleep_seconds(options.interval_seconds, monotonic() - started))
    return done
