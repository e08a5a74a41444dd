"""Candle windows and the candle cache: a warm cycle asks Coinbase only for the bars it lacks.

Coinbase serves at most 350 buckets per request, newest first, with the still-forming
bar included and empty buckets absent. A cached series remembers the range it covers,
so a bar absent inside that range is a real gap, not something to fetch again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from trader.domain.codec import to_jsonable
from trader.domain.models import Candle

GRANULARITY_NAMES = {
    60: "ONE_MINUTE",
    300: "FIVE_MINUTE",
    900: "FIFTEEN_MINUTE",
    1800: "THIRTY_MINUTE",
    3600: "ONE_HOUR",
    7200: "TWO_HOUR",
    14400: "FOUR_HOUR",
    21600: "SIX_HOUR",
    86400: "ONE_DAY",
}
MAX_BUCKETS_PER_REQUEST = 350
PAGE_BUCKETS = 300  # safely under the cap whether Coinbase counts `end` inclusively or not
MAX_CACHED_BARS = 2000


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """Closed bars known for starts in [start, end), ascending; absent bars inside are gaps."""

    start: datetime
    end: datetime
    candles: tuple[Candle, ...]


class CandleCache(Protocol):
    """Where closed bars survive between cycles (memory here; the lead may persist it)."""

    def get(self, product_id: str, granularity_s: int) -> CandleSeries | None: ...

    def put(self, product_id: str, granularity_s: int, series: CandleSeries) -> None: ...


class InMemoryCandleCache:
    """A thread-safe dict of series, for a warm Lambda container or a local session."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, int], CandleSeries] = {}
        self._lock = threading.Lock()

    def get(self, product_id: str, granularity_s: int) -> CandleSeries | None:
        with self._lock:
            return self._series.get((product_id, granularity_s))

    def put(self, product_id: str, granularity_s: int, series: CandleSeries) -> None:
        with self._lock:
            self._series[(product_id, granularity_s)] = series


def granularity_name(granularity_s: int) -> str:
    try:
        return GRANULARITY_NAMES[granularity_s]
    except KeyError:
        allowed = sorted(GRANULARITY_NAMES)
        raise ValueError(
            f"granularity {granularity_s}s is not served by Coinbase; use one of {allowed}"
        ) from None


def closed_bounds(
    start: datetime, end: datetime, granularity_s: int, now: datetime
) -> tuple[datetime, datetime]:
    """[lo, hi) of bar starts that lie in [start, end) and are closed at `now`."""
    lo = _ceil(start, granularity_s)
    hi = min(_ceil(end, granularity_s), _floor(now, granularity_s))
    return lo, max(lo, hi)


def missing_windows(
    cached: CandleSeries | None, lo: datetime, hi: datetime, granularity_s: int
) -> list[tuple[datetime, datetime]]:
    """The windows (each ≤ PAGE_BUCKETS bars) still to fetch for [lo, hi)."""
    if lo >= hi:
        return []
    if cached is None or cached.end < lo or cached.start > hi:
        gaps = [(lo, hi)]
    else:
        gaps = [(lo, cached.start)] if lo < cached.start else []
        if cached.end < hi:
            gaps.append((cached.end, hi))
    return [page for gap in gaps for page in _pages(gap, granularity_s)]


def merge(
    cached: CandleSeries | None,
    fetched_windows: list[tuple[datetime, datetime]],
    fetched: list[Candle],
    max_bars: int = MAX_CACHED_BARS,
) -> CandleSeries:
    """The cached series extended by freshly fetched windows (contiguous by construction)."""
    if not fetched_windows:
        if cached is None:
            raise ValueError("merge needs a cached series or at least one fetched window")
        return cached
    lo = min(w[0] for w in fetched_windows)
    hi = max(w[1] for w in fetched_windows)
    bars: dict[datetime, Candle] = {}
    if cached is not None and cached.end >= lo and cached.start <= hi:
        lo, hi = min(lo, cached.start), max(hi, cached.end)
        bars.update((c.start, c) for c in cached.candles)
    bars.update((c.start, c) for c in fetched if lo <= c.start < hi)
    ordered = tuple(bars[k] for k in sorted(bars))
    if len(ordered) > max_bars:
        ordered = ordered[-max_bars:]
        lo = ordered[0].start
    return CandleSeries(lo, hi, ordered)


def series_problem(series: CandleSeries, granularity_s: int, now: datetime) -> str | None:
    """Why `series` cannot be a series of closed `granularity_s` bars known at `now`, or None:
    edges on the grid, not after the clock, every bar inside them, on the grid, ascending,
    with sane prices and volume. A cache read back is checked before it is believed."""
    if granularity_s not in GRANULARITY_NAMES:
        return f"granularity {granularity_s} s is not one Coinbase serves"
    start, end = to_jsonable(series.start), to_jsonable(series.end)
    if not _on_grid(series.start, granularity_s) or not _on_grid(series.end, granularity_s):
        return f"series {start} .. {end} is not on the {granularity_s} s grid"
    if series.end < series.start:
        return f"series ends at {end}, before it starts at {start}"
    if series.end > now:  # a series known into the future would never be fetched again
        return f"series ends at {end}, after the clock {to_jsonable(now)}"
    previous = None
    for index, bar in enumerate(series.candles):
        problem = _bar_problem(bar, previous, series, granularity_s)
        if problem is not None:
            return f"bar {index}: {problem}"
        previous = bar.start
    return None


def _bar_problem(
    bar: Candle, previous: datetime | None, series: CandleSeries, granularity_s: int
) -> str | None:
    start = to_jsonable(bar.start)
    if not _on_grid(bar.start, granularity_s) or (previous is not None and bar.start <= previous):
        return f"start {start} is not on the grid after the bar before"
    if not series.start <= bar.start < series.end:
        return f"start {start} is outside the series"
    for name in ("open", "high", "low", "close"):
        price = getattr(bar, name)
        if not price.is_finite() or price <= 0:
            return f"{name} {price} is not a finite positive price"
    if bar.high < max(bar.open, bar.close):
        return f"high {bar.high} is below open {bar.open} or close {bar.close}"
    if bar.low > min(bar.open, bar.close):
        return f"low {bar.low} is above open {bar.open} or close {bar.close}"
    if not bar.volume.is_finite() or bar.volume < 0:
        return f"volume {bar.volume} is not finite and >= 0"
    return None


def _on_grid(moment: datetime, granularity_s: int) -> bool:
    return _floor(moment, granularity_s) == moment


def _pages(
    window: tuple[datetime, datetime], granularity_s: int
) -> list[tuple[datetime, datetime]]:
    step = timedelta(seconds=granularity_s * PAGE_BUCKETS)
    pages, cursor = [], window[0]
    while cursor < window[1]:
        pages.append((cursor, min(cursor + step, window[1])))
        cursor += step
    return pages


def _floor(moment: datetime, granularity_s: int) -> datetime:
    seconds = int(moment.timestamp()) // granularity_s * granularity_s
    return datetime.fromtimestamp(seconds, tz=UTC)


def _ceil(moment: datetime, granularity_s: int) -> datetime:
    floored = _floor(moment, granularity_s)
    return floored if floored == moment else floored + timedelta(seconds=granularity_s)
