"""The gauges read through a kept `GaugeCache` are the very floats a fresh reading gives.

Random bar series are handed over as windows that move on by one bar, repeat, jump, skip
bars, or come with the newest bar's close other than the next window has it; after each, the
gauges read through one cache kept all along are compared with those read through a new
cache (the whole window copied).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_builders import FIVE_MINUTES, T0, moved_window

from trader.domain.bar_window import BarWindow
from trader.domain.models import Candle
from trader.pipeline.gauges import GaugeCache, Windows, read_gauge

WINDOWS = Windows(trend=4, volatility=3, crash=2, bars_per_hour=12.0)
PRICES = st.decimals(min_value=1, max_value=200, places=2, allow_nan=False)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["next", "next", "next", "same", "jump", "gap", "revise"]),
        st.integers(0, 60),
        st.integers(0, 60),
    ),
    max_size=60,
)


@st.composite
def series(draw) -> list[Candle]:
    count = draw(st.integers(min_value=WINDOWS.needed, max_value=70))
    bars = []
    for i in range(count):
        close, high = draw(PRICES), draw(PRICES)
        bars.append(
            Candle(T0 + i * FIVE_MINUTES, close, max(close, high), close, close, Decimal(1))
        )
    return bars


def windows_of(bars: list[Candle], steps) -> list[tuple[tuple[Candle, ...], int, int]]:
    """The windows a caller hands over, step by step, each at least WINDOWS.needed long, as
    (a tuple, lo, hi): the window is tuple[lo:hi]; the same tuple (all the bars) while no bar
    is revised, as a replay's market hands them."""
    lo, hi, out, whole = 0, WINDOWS.needed + 2, [], tuple(bars)
    for kind, a, b in steps:
        lo, hi = moved_window(kind, a, b, lo, hi)
        hi = max(min(hi, len(bars)), WINDOWS.needed)
        lo = min(lo, hi - WINDOWS.needed)
        if kind == "revise":  # the newest bar: the next window has it as it was
            window = bars[lo:hi]
            window[-1] = dataclasses.replace(window[-1], close=window[-1].close + a)
            out.append((tuple(window), 0, len(window)))
        else:
            out.append((whole, lo, hi))
    return out


@settings(max_examples=300, deadline=None)
@given(bars=series(), steps=STEPS, views=st.sampled_from(["all", "none", "by turns"]))
def test_gauges_when_read_through_a_kept_cache_then_the_floats_of_a_fresh_reading(
    bars, steps, views
) -> None:
    """Windows along one tuple (a replay's) are appended to without comparing their bars; a
    list, or another tuple, between them is compared as ever."""
    kept = GaugeCache()
    for step, (base, lo, hi) in enumerate(windows_of(bars, steps)):
        as_view = views == "all" or (views == "by turns" and step % 3 != 2)
        window = BarWindow(base, lo, hi) if as_view else list(base[lo:hi])
        warm = read_gauge(kept.series("X", window, WINDOWS), WINDOWS)
        cold = read_gauge(GaugeCache().series("X", window, WINDOWS), WINDOWS)
        assert warm == cold


def test_gauges_when_a_list_moved_the_copy_on_between_two_windows_of_one_tuple_then_fresh():
    """A window of the tuple the copy was made from, after a list moved the copy past it,
    is compared again (its bars are no longer the copy's newest)."""
    closes = [100 + (i * 7) % 11 for i in range(WINDOWS.needed + 4)]
    bars = tuple(
        Candle(
            T0 + i * FIVE_MINUTES, Decimal(c), Decimal(c + 1), Decimal(c), Decimal(c), Decimal(1)
        )
        for i, c in enumerate(closes)
    )
    kept = GaugeCache()
    end = WINDOWS.needed + 1
    for window in (BarWindow(bars, 0, end), list(bars[1 : end + 2]), BarWindow(bars, 0, end)):
        warm = read_gauge(kept.series("X", window, WINDOWS), WINDOWS)
        assert warm == read_gauge(GaugeCache().series("X", window, WINDOWS), WINDOWS)


def test_gauges_when_the_same_list_comes_again_with_its_newest_bar_revised_then_fresh():
    """A list is compared bar by bar every time, even the very list object read before: a
    caller may revise a bar in it in place (only a tuple's bars are known to stay)."""
    closes = [100 + (i * 7) % 11 for i in range(WINDOWS.needed + 2)]
    bars = [
        Candle(
            T0 + i * FIVE_MINUTES, Decimal(c), Decimal(c + 1), Decimal(c), Decimal(c), Decimal(1)
        )
        for i, c in enumerate(closes)
    ]
    kept = GaugeCache()
    before = read_gauge(kept.series("X", bars, WINDOWS), WINDOWS)
    bars[-1] = dataclasses.replace(bars[-1], close=bars[-1].close * 2, high=bars[-1].high * 2)
    revised = read_gauge(kept.series("X", bars, WINDOWS), WINDOWS)
    assert revised == read_gauge(GaugeCache().series("X", bars, WINDOWS), WINDOWS)
    assert revised != before  # (the revision moves the gauge: the check above can fail)
