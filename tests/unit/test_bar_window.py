"""A `BarWindow` reads as the tuple slice it stands for: every answer a reader can ask for
(length, truth, an index or slice of any sign and step, iteration, membership, equality and
hash) is compared with the slice's own, over random tuples and bounds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trader.domain.bar_window import BarWindow, as_bars, span

# small ints stand for bars: equal values that are other objects test equality, not identity
BASES = st.lists(st.integers(0, 5), max_size=12).map(tuple)
INDEXES = st.integers(-15, 15)
SLICES = st.builds(
    slice,
    st.none() | st.integers(-15, 15),
    st.none() | st.integers(-15, 15),
    st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3]),
)


@st.composite
def windows(draw) -> tuple[tuple[int, ...], int, int]:
    base = draw(BASES)
    lo = draw(st.integers(0, len(base)))
    return base, lo, draw(st.integers(lo, len(base)))


def answer(read, bars):
    """What `read(bars)` gives, or the class of the error it raises."""
    try:
        return read(bars)
    except IndexError as exc:
        return type(exc)


@settings(max_examples=400)
@given(window=windows(), at=INDEXES, cut=SLICES, probe=st.integers(0, 6))
def test_bar_window_when_read_any_way_then_as_the_slice(window, at, cut, probe) -> None:
    base, lo, hi = window
    view, copy = BarWindow(base, lo, hi), base[lo:hi]
    assert len(view) == len(copy)
    assert bool(view) == bool(copy)
    assert answer(lambda b: b[at], view) == answer(lambda b: b[at], copy)
    assert view[cut] == copy[cut]
    assert type(view[cut]) is tuple
    assert list(view) == list(copy)
    assert list(reversed(view)) == list(reversed(copy))
    assert (probe in view) == (probe in copy)
    assert view.count(probe) == copy.count(probe)
    assert view.as_tuple() == copy


@given(window=windows(), other=windows())
def test_bar_window_when_compared_then_equal_as_the_slices_are(window, other) -> None:
    base, lo, hi = window
    view, copy = BarWindow(base, lo, hi), base[lo:hi]
    other_view, other_copy = BarWindow(*other), other[0][other[1] : other[2]]
    assert view == copy
    assert copy == view
    assert (view == other_view) == (copy == other_copy)
    assert (view == other_copy) == (copy == other_copy)
    assert (view != other_view) == (copy != other_copy)
    assert view != list(copy)  # as a tuple is never equal to a list
    if copy == other_copy:
        assert hash(view) == hash(other_view) == hash(copy)


@given(window=windows())
def test_span_when_given_a_window_or_a_sequence_then_what_to_index_and_where(window) -> None:
    base, lo, hi = window
    bars, first, stop = span(BarWindow(base, lo, hi))
    assert (bars, first, stop) == (base, lo, hi)
    assert bars is base
    assert span(base[lo:hi]) == (base[lo:hi], 0, hi - lo)


def test_as_bars_when_a_window_then_kept_else_a_tuple() -> None:
    view = BarWindow((1, 2, 3), 1, 3)
    assert as_bars(view) is view
    assert as_bars([2, 3]) == (2, 3)
    assert type(as_bars([2, 3])) is tuple
