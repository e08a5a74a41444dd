"""The pure candle-window arithmetic behind the cache (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trader.adapters.coinbase.candles import (
    PAGE_BUCKETS,
    CandleSeries,
    InMemoryCandleCache,
    closed_bounds,
    merge,
    missing_windows,
)
from trader.domain.models import Candle

G = 300
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def bar(minutes: int) -> Candle:
    one = Decimal(1)
    return Candle(at(minutes), one, one, one, one, one)


def test_closed_bounds_when_now_inside_a_bar_then_that_bar_excluded():
    lo, hi = closed_bounds(at(-60), at(60), G, now=at(2))

    # bars 11:00 .. 11:55 are closed at 12:02; 12:00 is forming
    assert (lo, hi) == (at(-60), at(0))


def test_closed_bounds_when_start_inside_a_bar_then_first_whole_bar_after_it():
    lo, hi = closed_bounds(at(-61), at(-30), G, now=at(0))

    assert (lo, hi) == (at(-60), at(-30))


def test_closed_bounds_when_window_entirely_in_the_future_then_empty():
    lo, hi = closed_bounds(at(10), at(20), G, now=at(0))

    assert lo == hi


def test_missing_windows_when_no_cache_then_whole_range_in_pages_of_300():
    windows = missing_windows(None, at(0), at(5 * 650), G)

    # 650 bars -> 300 + 300 + 50
    assert [(b - a) // timedelta(seconds=G) for a, b in windows] == [300, 300, 50]
    assert windows[0][0] == at(0) and windows[-1][1] == at(5 * 650)


def test_missing_windows_when_cache_covers_the_start_then_only_the_tail():
    cached = CandleSeries(at(0), at(60), (bar(0), bar(55)))

    assert missing_windows(cached, at(0), at(65), G) == [(at(60), at(65))]


def test_missing_windows_when_request_starts_earlier_then_head_and_tail():
    cached = CandleSeries(at(30), at(60), ())

    assert missing_windows(cached, at(0), at(70), G) == [(at(0), at(30)), (at(60), at(70))]


def test_missing_windows_when_cache_is_disjoint_then_whole_range_again():
    cached = CandleSeries(at(0), at(10), ())

    assert missing_windows(cached, at(100), at(110), G) == [(at(100), at(110))]


def test_merge_when_tail_fetched_then_series_extended_and_bars_deduplicated():
    cached = CandleSeries(at(0), at(10), (bar(0), bar(5)))

    merged = merge(cached, [(at(10), at(20))], [bar(10), bar(15), bar(5)])

    assert (merged.start, merged.end) == (at(0), at(20))
    assert [c.start for c in merged.candles] == [at(0), at(5), at(10), at(15)]


def test_merge_when_over_the_cap_then_oldest_bars_trimmed_and_start_moved():
    merged = merge(None, [(at(0), at(50))], [bar(m) for m in range(0, 50, 5)], max_bars=4)

    # ten bars 12:00 .. 12:45, keep the newest four
    assert [c.start for c in merged.candles] == [at(30), at(35), at(40), at(45)]
    assert merged.start == at(30) and merged.end == at(50)


def test_merge_when_nothing_cached_or_fetched_then_value_error():
    with pytest.raises(ValueError, match="merge needs"):
        merge(None, [], [])


def test_in_memory_cache_when_put_then_get_returns_it_per_product_and_granularity():
    cache = InMemoryCandleCache()
    series = CandleSeries(at(0), at(5), (bar(0),))
    cache.put("BTC-USD", G, series)

    assert cache.get("BTC-USD", G) == series
    assert cache.get("BTC-USD", 60) is None
    assert cache.get("ETH-USD", G) is None


@given(
    cached_from=st.integers(0, 200),
    cached_len=st.integers(0, 200),
    lo=st.integers(0, 400),
    length=st.integers(1, 800),
)
def test_missing_windows_when_any_cache_then_pages_bounded_and_cover_exactly_the_gaps(
    cached_from, cached_len, lo, length
):
    cached = CandleSeries(at(5 * cached_from), at(5 * (cached_from + cached_len)), ())
    start, end = at(5 * lo), at(5 * (lo + length))

    windows = missing_windows(cached, start, end, G)

    covered = set()
    for a, b in windows:
        buckets = (b - a) // timedelta(seconds=G)
        assert 0 < buckets <= PAGE_BUCKETS
        covered |= {a + timedelta(seconds=G * i) for i in range(buckets)}
    wanted = {at(5 * i) for i in range(lo, lo + length)}
    overlaps = cached.end >= start and cached.start <= end
    known = {at(5 * i) for i in range(cached_from, cached_from + cached_len)} if overlaps else set()
    assert covered == wanted - known
