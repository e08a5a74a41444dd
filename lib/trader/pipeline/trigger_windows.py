"""What the triggers read from the bars before the newest one, kept between cycles.

A breakout compares the newest close with the highest high of the `n` bars before it, a
volume spike the newest volume with the sum of theirs. Read afresh, that is a max and a sum
over the window every cycle. `TriggerWindows` keeps, per product and window length, the bars
it last read (as references), a running maximum of their highs and, from the first volume
asked for, an exact running sum of their volumes: when the new window is the last one moved
on by one bar (checked by comparing the bars, which costs pointer comparisons when they are
the same objects, as in a replay or a warm Lambda's candle cache), the new bar costs one
push; any other window (a first read, a restart, a gap filled, bars revised, a jump) is read
whole. A `BarWindow` (a replay's market) needs no comparing: along one tuple, where the new
window ends tells how far it moved on, and a window a few bars behind (a breakout that
answered from the bar before the newest did not ask) catches up bar by bar. Either way the
answer is the value a reading of the whole window gives, to the last digit:

- the maximum is the high `max` returns: the first of equal highs, read from the bars given
  (so a message that prints it shows the same digits);
- the sum is kept exactly and handed out only when the sum `sum(volumes, Decimal(0))` in the
  current context would not have rounded either (every partial sum of non-negative volumes
  fits in the context's precision); otherwise the window is summed as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Context, Decimal, Inexact, getcontext

from trader.domain.bar_window import BarWindow
from trader.domain.models import Candle

_EXACT = Context(prec=2000, traps=[Inexact])
ZERO = Decimal(0)


def prior_high(bars: Sequence[Candle], n: int) -> Decimal:
    """The highest high of the `n` bars before the newest (the first of equal ones)."""
    return max([b.high for b in bars[-n - 1 : -1]])  # a list: faster than a generator


def prior_volume(bars: Sequence[Candle], n: int) -> Decimal:
    """The summed volume of the `n` bars before the newest, in the current context."""
    return sum([b.volume for b in bars[-n - 1 : -1]], ZERO)


class _Window:
    """The last n + 1 bars read (oldest first), as `source[stop - n - 1 : stop]` (a tuple of
    just those bars, or the longer tuple a `BarWindow` reads), and, over the first n of them,
    the highs as a deque of (index, high) with highs non-increasing; once a volume was asked
    for, also the exact volume sum and the number of negative volumes (a breakout alone never
    sums)."""

    __slots__ = ("count", "n", "negatives", "peaks", "source", "stop", "total")

    def __init__(self, source: tuple[Candle, ...], stop: int, n: int) -> None:
        self.source, self.stop, self.n = source, stop, n
        self.count = 0  # bars ever pushed into the prior part: the index of the next one
        self.peaks: deque[tuple[int, Decimal]] = deque()
        self.total: Decimal | None = None  # None: no volume asked for yet
        self.negatives = 0
        for bar in source[stop - n - 1 : stop - 1]:
            self._push(bar)

    def bars(self) -> tuple[Candle, ...]:
        """The n + 1 bars read (the very tuple when the source holds just those)."""
        return self.source[self.stop - self.n - 1 : self.stop]

    def _push(self, bar: Candle) -> None:
        peaks, high = self.peaks, bar.high
        while peaks and peaks[-1][1] < high:  # strict: the first of equal highs stays first
            peaks.pop()
        peaks.append((self.count, high))
        self.count += 1

    def advance(self, source: tuple[Candle, ...], stop: int) -> None:
        """Move on by one bar to `source[stop - n - 1 : stop]` (the bars read less the oldest,
        and a newest): the oldest prior bar leaves, the last newest joins the prior."""
        n, peaks = self.n, self.peaks
        oldest, joining = self.source[self.stop - n - 1], self.source[self.stop - 1]
        self.source, self.stop = source, stop
        high = joining.high  # _push(joining), written out: this runs per product and cycle
        while peaks and peaks[-1][1] < high:
            peaks.pop()
        peaks.append((self.count, high))
        self.count += 1
        while peaks[0][0] < self.count - n:
            peaks.popleft()
        if self.total is not None:
            total = _EXACT.add(self.total, joining.volume)
            self.total = _EXACT.subtract(total, oldest.volume)
            self.negatives += (joining.volume < 0) - (oldest.volume < 0)

    def catch_up(self, stop: int) -> None:
        """Move on along the same source to `stop` (1 to n bars on): a breakout that answered
        from the bar before the newest asked nothing. Bar by bar as `advance` does; while no
        volume is kept, the highs are pushed in one loop and the ones older than the prior
        n bars dropped after it (`advance` drops them after each push: the same peaks stay,
        as which peaks a push pops depends on the highs alone)."""
        source = self.source
        if self.total is not None:
            while self.stop < stop:
                self.advance(source, self.stop + 1)
            return
        peaks, count = self.peaks, self.count
        for bar in source[self.stop - 1 : stop - 1]:  # each newest read joins the prior
            high = bar.high
            while peaks and peaks[-1][1] < high:
                peaks.pop()
            peaks.append((count, high))
            count += 1
        while peaks[0][0] < count - self.n:
            peaks.popleft()
        self.count, self.stop = count, stop

    def volume(self) -> Decimal | None:
        """The exact sum when summing the prior bars in the current context would not round."""
        if self.total is None:
            prior = self.source[self.stop - self.n - 1 : self.stop - 1]
            self.total = ZERO
            for bar in prior:
                self.total = _EXACT.add(self.total, bar.volume)
            self.negatives = sum(bar.volume < 0 for bar in prior)
        if self.negatives:
            return None
        if len(self.total.as_tuple().digits) > getcontext().prec:
            return None
        return self.total


class TriggerWindows:
    """The triggers' windows per (product, length), kept between cycles (a replay, a warm
    Lambda container). Never changes an answer, only its cost."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, int], _Window] = {}

    def _window(self, product_id: str, bars: Sequence[Candle], n: int) -> _Window:
        key = (product_id, n)
        window = self._windows.get(key)
        if type(bars) is BarWindow:  # along one tuple, where the bars end tells the same
            if window is not None and window.source is bars.bars:
                behind = bars.hi - window.stop
                if behind == 0:
                    return window  # read already (another trigger, a retried cycle)
                if 0 < behind <= n and bars.hi - bars.lo > n + 1:
                    window.catch_up(bars.hi)  # moved on by a bar or a few (none read between)
                    return window
            window = self._windows[key] = _Window(bars.bars, bars.hi, n)
            return window
        if not isinstance(bars, tuple):
            bars = tuple(bars[-n - 2 :])  # the bars compared below, as a snapshot hands them
        if window is not None:
            kept = window.bars()
            if kept[-1] is bars[-1] and kept == bars[-n - 1 :]:
                return window  # read already (another trigger, a retried cycle)
            if len(bars) > n + 1 and bars[-n - 2 : -1] == kept:
                tail = bars[-n - 1 :]
                window.advance(tail, len(tail))  # moved on by one bar
                return window
        tail = bars[-n - 1 :]
        window = self._windows[key] = _Window(tail, len(tail), n)
        return window

    def prior_high(self, product_id: str, bars: Sequence[Candle], n: int) -> Decimal:
        """`prior_high(bars, n)`; `bars` holds at least n + 1 bars. The high is read from
        `bars` at the kept maximum's place (bars compare equal by value: 100.0 == 100.00)."""
        window = self._window(product_id, bars, n)
        place = window.peaks[0][0] - (window.count - n)  # 0 .. n - 1 in the prior bars
        if type(bars) is BarWindow:  # the kept source is the window's own tuple
            return bars.bars[bars.hi - n - 1 + place].high
        return bars[len(bars) - n - 1 + place].high

    def prior_volume(self, product_id: str, bars: Sequence[Candle], n: int) -> Decimal:
        """`prior_volume(bars, n)`; `bars` holds at least n + 1 bars."""
        total = self._window(product_id, bars, n).volume()
        return prior_volume(bars, n) if total is None else total
