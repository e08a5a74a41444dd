"""What the regime reads from one product's recent bars: trend, volatility and drawdown.

These are measurements, not money: each bar's close and high are read once as floats, and
no amount derived from them is ever traded. Every gauge depends only on the last bars of the
window it is given (a return between two bars, a max, an exact `math.fsum`), so the float
copies kept between cycles by `GaugeCache` give the very bits a reading of the whole window
gives: the cache changes the cost, never the decision (tests/unit/test_gauges.py compares
them). tests/integration/test_regime_real_candles.py checks the values against the `ta`
package on real candles.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from math import sqrt

from trader.domain.bar_window import span
from trader.domain.copying import quick_init
from trader.domain.models import Candle


@dataclass(frozen=True, slots=True)
class Windows:
    """The gauges' windows in bars; `bars_per_hour` scales a bar stdev to an hour's."""

    trend: int
    volatility: int
    crash: int
    bars_per_hour: float
    # Bars a full reading takes (the calm before the crash window is the trend window): worked
    # out once, as it is read for every product every cycle
    needed: int = field(init=False, repr=False, compare=False)
    hour_scale: float = field(init=False, repr=False, compare=False)  # sqrt(bars_per_hour)

    def __post_init__(self) -> None:
        object.__setattr__(self, "needed", max(self.trend + self.crash, self.volatility) + 1)
        object.__setattr__(self, "hour_scale", math.sqrt(self.bars_per_hour))


@quick_init
@dataclass(frozen=True, slots=True)
class Gauge:
    """One product at its newest bar; percentages of price."""

    trend_pct: float  # close against the close `trend` bars earlier (ta's ROC)
    volatility_pct: float  # population stdev of bar returns over `volatility` bars, per hour
    drawdown_pct: float  # close below the highest high of the last `crash` bars
    calm_pct: float  # stdev of bar returns over the `trend` bars before the crash window

    def drawdown_sigmas(self, windows: Windows) -> float:
        """The drawdown in calm-time stdevs of a `crash`-bar move (inf when the calm was flat)."""
        spread = self.calm_pct * math.sqrt(windows.crash)
        return self.drawdown_pct / spread if spread > 0 else math.inf


# Returns are summed as exact integers of 1e-12 percent. A float (10**12 exactly): float
# arithmetic with it gives the very results the int 10**12 gives, without converting it.
SCALE = 1e12


class _Series:
    """One product's newest bars as floats (oldest first): closes, prefix sums of the bar
    returns and of their squares as exact integers (so any window's sums are one
    subtraction, the same whatever order the bars came in), and the running maxima of the
    highs over the crash window."""

    __slots__ = (
        "closes",
        "count",
        "join",
        "peaks",
        "return_sums",
        "source",
        "square_sums",
        "starts",
        "stop",
        "window",
    )

    def __init__(self, crash_window: int) -> None:
        self.window = crash_window
        # The tuple whose bars [.. stop) the kept bars are, all of them (made from it and
        # moved on along it only), else None
        self.source: Sequence[Candle] | None = None
        self.stop = 0
        self.count = 0  # bars ever appended: the index of the next one
        self.join: Decimal | None = None  # the newest bar's close, as the last window had it
        self.starts: list[datetime] = []
        self.closes: list[float] = []
        self.return_sums: list[int] = []  # [i]: sum of the returns into bars 1..i
        self.square_sums: list[int] = []
        self.peaks: deque[tuple[int, float]] = deque()  # (index, high), highs decreasing

    def append(self, bar: Candle) -> None:
        close, high = float(bar.close), float(bar.high)
        ret = 0
        if self.closes and self.closes[-1] > 0:
            ret = round((close / self.closes[-1] - 1.0) * 100.0 * SCALE)
        self.return_sums.append(self.return_sums[-1] + ret if self.return_sums else 0)
        self.square_sums.append(self.square_sums[-1] + ret * ret if self.square_sums else 0)
        self.starts.append(bar.start)
        self.closes.append(close)
        peaks = self.peaks
        while peaks and peaks[-1][1] <= high:
            peaks.pop()
        peaks.append((self.count, high))
        self.count += 1
        while peaks[0][0] <= self.count - 1 - self.window:
            peaks.popleft()

    @property
    def peak(self) -> float:
        """The highest high of the last `window` bars."""
        return self.peaks[0][1]

    def keep_last(self, count: int) -> None:
        """Drop all but the last `count` bars once `count` more have gathered (the lists move
        once every `count` bars, not at every bar): every reading counts from the newest."""
        extra = len(self.closes) - count
        if extra >= count:
            del self.starts[:extra], self.closes[:extra]
            del self.return_sums[:extra], self.square_sums[:extra]

    def stdev(self, first: int, stop: int) -> float:
        """Population stdev (percent) of the returns into kept bars first+1 .. stop."""
        count = stop - first
        total = self.return_sums[stop] - self.return_sums[first]
        squares = self.square_sums[stop] - self.square_sums[first]
        variance = (squares * count - total * total) / (count * count)  # exact until here
        return sqrt(variance) / SCALE if variance > 0.0 else 0.0  # never below 0.0


class GaugeCache:
    """Float copies of each product's newest bars, kept between cycles (a replay, a warm
    Lambda container): a new bar costs one append instead of converting the whole window.
    A window that does not continue the copy (a gap filled, a restart, another source) is
    copied afresh. A window along the tuple the copy was made from (a replay's `BarWindow`),
    moved on by one bar, is appended to without comparing bars: they are the same objects."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}

    def series(self, product_id: str, window: Sequence[Candle], windows: Windows) -> _Series:
        """The floats of (at least) the last min(len(window), windows.needed) bars of
        `window` (read off the tuple under it when it is a `BarWindow`: no copy)."""
        bars, lo, hi = span(window)
        keep = windows.needed
        used = min(hi - lo, keep)
        series = self._series.get(product_id)
        if (
            series is not None
            and series.source is bars
            and series.window == windows.crash
            and _moved_on(series, bars, lo, hi)  # the checks below known to pass
        ):
            series.keep_last(keep)
            series.join = bars[hi - 1].close
            if len(series.closes) >= used:
                return series
        if series is None or series.window != windows.crash or not _extend(series, bars, lo, hi):
            series = _Series(windows.crash)
            for bar in bars[hi - used : hi]:
                series.append(bar)
            # (a tuple only: a list may be the same object again with a bar revised in it)
            series.source, series.stop = (bars if type(bars) is tuple else None), hi
            self._series[product_id] = series
        series.keep_last(keep)
        series.join = bars[hi - 1].close
        if len(series.starts) < used or series.starts[-used] != bars[hi - used].start:
            self._series.pop(product_id)  # the window has bars the copy lacks: read it whole
            return self.series(product_id, window, windows)
        return series


def _moved_on(series: _Series, bars: Sequence[Candle], lo: int, hi: int) -> bool:
    """Whether the window `bars[lo:hi]`, along the tuple the kept bars are (`series.source`),
    ends where they do or one bar on, that bar then appended: what `_extend` would do, without
    comparing the bars (the very objects). False for any other window, left to `_extend`; so
    is a newest bar not after the one before (`_extend` takes it for a revision of it)."""
    stop = series.stop
    if hi == stop:
        return True
    if hi != stop + 1 or hi - lo < 2 or not bars[stop].start > series.starts[-1]:
        return False
    series.append(bars[stop])
    series.stop = hi
    return True


def _extend(series: _Series, bars: Sequence[Candle], lo: int, hi: int) -> bool:
    """Append the bars of the window `bars[lo:hi]` newer than the copy; False when the window
    does not continue it (its bar at the copy's newest start is missing or has another close)."""
    series.source = None  # extended from any window: no longer known to be one tuple's bars
    join = series.join
    if not series.starts or join is None:
        return False
    newest = series.starts[-1]
    at = hi - 1
    while at >= lo and bars[at].start > newest:
        at -= 1
    if at < lo or bars[at].start != newest or bars[at].close != join:
        return False
    for bar in bars[at + 1 : hi]:
        series.append(bar)
    return True


def read_gauge(series: _Series, windows: Windows) -> Gauge | None:
    """The gauges at the newest bar of `series`, or None when it holds too few bars for every
    window (or a price is not positive)."""
    closes = series.closes
    last = len(closes) - 1
    if last < windows.needed - 1:
        return None
    close, then, peak = closes[last], closes[last - windows.trend], series.peaks[0][1]
    if then <= 0 or peak <= 0:
        return None
    crash_start = last - windows.crash
    return Gauge(  # trend, volatility, drawdown, calm (by place: a cycle makes three)
        (close / then - 1) * 100,
        series.stdev(last - windows.volatility, last) * windows.hour_scale,
        (1 - close / peak) * 100,
        series.stdev(crash_start - windows.trend, crash_start),
    )
