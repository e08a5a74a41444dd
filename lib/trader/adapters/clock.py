"""Clocks: the system clock, and a stepping clock for fast simulated sessions and tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SteppingClock:
    """A clock that only moves when told to; `advance()` steps it by a fixed interval."""

    def __init__(self, start: datetime, step_seconds: int) -> None:
        if start.tzinfo is None:
            raise ValueError("SteppingClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._step = timedelta(seconds=step_seconds)

    def now(self) -> datetime:
        return self._now

    def advance(self, steps: int = 1) -> datetime:
        self._now += self._step * steps
        return self._now
