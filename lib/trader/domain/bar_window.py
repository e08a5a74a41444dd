"""A run of bars read from a longer tuple without copying it: a replay's candle window.

A replay's market holds each product's whole history as one tuple and hands out, every
cycle, the last couple of hundred bars of it. As a tuple slice that is a copy made and freed
per product per cycle; as a `BarWindow` it is three fields. The window reads as that slice
would (length, indexing, slicing gives a tuple, iteration, equality with the same bars), so
any reader of a `Sequence[Candle]` takes it unchanged; a reader that keeps something between
cycles (`TriggerWindows`) can also tell in one comparison that a new window is an earlier
one moved on along the same tuple, where a plain sequence has to be compared bar by bar.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import index
from typing import overload

from trader.domain.models import Candle


class BarWindow(Sequence[Candle]):
    """The bars `bars[lo:hi]` of a tuple (immutable: the window never changes), not copied.
    `0 <= lo <= hi <= len(bars)` is the maker's promise (checked where it is made)."""

    __slots__ = ("bars", "hi", "lo")

    def __init__(self, bars: tuple[Candle, ...], lo: int, hi: int) -> None:
        self.bars = bars
        self.lo = lo
        self.hi = hi

    def as_tuple(self) -> tuple[Candle, ...]:
        return self.bars[self.lo : self.hi]

    def __len__(self) -> int:
        return self.hi - self.lo

    @overload
    def __getitem__(self, key: int) -> Candle: ...

    @overload
    def __getitem__(self, key: slice) -> tuple[Candle, ...]: ...

    def __getitem__(self, key: int | slice) -> Candle | tuple[Candle, ...]:
        """A bar, as the slice's indexing gives it; a slice of the window is a tuple."""
        if type(key) is int:  # the common case first: one bar
            at = key + (self.hi if key < 0 else self.lo)
            if self.lo <= at < self.hi:
                return self.bars[at]
            raise IndexError("bar window index out of range")
        if isinstance(key, slice):
            start, stop, step = key.indices(self.hi - self.lo)
            if step == 1:  # the common case, read off the tuple at once
                return self.bars[self.lo + start : self.lo + stop]
            return self.as_tuple()[key]
        return self[index(key)]  # an int-like index (a numpy integer, a bool)

    def __iter__(self) -> Iterator[Candle]:
        return iter(self.as_tuple())

    def __reversed__(self) -> Iterator[Candle]:
        return reversed(self.as_tuple())

    def __eq__(self, other: object) -> bool:
        """Equal to a window or a tuple holding equal bars, as the slice would be."""
        if isinstance(other, BarWindow):
            return self.as_tuple() == other.as_tuple()
        if isinstance(other, tuple):
            return self.as_tuple() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __repr__(self) -> str:
        return f"BarWindow({self.as_tuple()!r})"


def as_bars(bars: Sequence[Candle]) -> Sequence[Candle]:
    """`bars` as a snapshot keeps them: a window as it is, any other sequence as a tuple."""
    return bars if type(bars) is BarWindow else tuple(bars)


def span(bars: Sequence[Candle]) -> tuple[Sequence[Candle], int, int]:
    """The sequence to index and the range [lo, hi) of it that `bars` holds: a window's tuple
    and its bounds, any other sequence itself, whole."""
    if type(bars) is BarWindow:
        return bars.bars, bars.lo, bars.hi
    return bars, 0, len(bars)
