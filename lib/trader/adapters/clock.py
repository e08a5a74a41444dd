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

    def move_to(self, moment: datetime) -> datetime:
        """Jump to `moment` (a replay's next cycle, past a gap); never backwards."""
        if moment < self._now:
            raise ValueError(f"the clock cannot go back from {self._now} to {moment}")
        self._now = moment.astimezone(UTC)
        return self._now
