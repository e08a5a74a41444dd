"""Coarser bars from finer ones, as Coinbase builds each granularity: one bar per bucket of
`epoch seconds // step * step` (open first, high max, low min, close last, volume summed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from trader.domain.models import Candle


def merged_bars(bars: Sequence[Candle], step_s: int, per_bucket: int | None = None) -> list[Candle]:
    """Bars of `step_s` seconds from finer ascending `bars`. Empty buckets stay absent; with
    `per_bucket`, so does a bucket missing any of its `per_bucket` bars (one still forming)."""
    buckets: dict[int, list[Candle]] = {}
    for bar in bars:
        buckets.setdefault(int(bar.start.timestamp()) // step_s * step_s, []).append(bar)
    return [
        _merged(at, group)
        for at, group in buckets.items()
        if per_bucket is None or len(group) == per_bucket
    ]


def _merged(at: int, group: list[Candle]) -> Candle:
    first = group[0]
    high, low, volume = first.high, first.low, first.volume
    for bar in group[1:]:  # max/min keep the first of equal values, as a fold from the first
        high, low, volume = max(high, bar.high), min(low, bar.low), volume + bar.volume
    return Candle(datetime.fromtimestamp(at, UTC), first.open, high, low, group[-1].close, volume)
