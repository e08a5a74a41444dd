"""The triggers' kept windows give the answers of a whole-window reading, to the last digit.

Random bar series (highs and volumes with ties written with different digits, 100.0 against
100.00; zero and, rarely, negative volumes) are read through one `TriggerWindows` as a
sequence of windows (lists, tuples, `BarWindow`s over one tuple, or each by turns) that move
on by one bar, repeat, go back by one, jump, skip bars (a gap), come back as equal bars that
are other objects (a restart, another source), with one bar revised, or shrink; each reading
is compared with `max`/`sum` over the window and each trigger's signal with the one read
without the cache (Signal equality compares the message text, which prints the high's
digits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_builders import FIVE_MINUTES, T0, moved_window

from trader.domain.bar_window import BarWindow
from trader.domain.config import Breakout, VolumeSpike
from trader.domain.models import Candle
from trader.pipeline.trigger_windows import TriggerWindows
from trader.pipeline.triggers import breakout, volume_spike

D = Decimal
# few distinct values, many ties, several spellings of the same value
PRICES = st.sampled_from(["99", "100", "100.0", "100.00", "100.5", "100.50", "101", "1E+2"])
VOLUMES = st.one_of(
    st.sampled_from(["0", "0.00", "10", "10.0", "3.33333333", "-1"]),
    st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False).map(str),
)


@st.composite
def series(draw) -> list[Candle]:
    count = draw(st.integers(min_value=1, max_value=40))
    bars = []
    for i in range(count):
        high, volume = D(draw(PRICES)), D(draw(VOLUMES))
        bars.append(Candle(T0 + i * FIVE_MINUTES, high, high, high, high, volume))
    return bars


# a step: (kind, a, b): the window moves on by one, stays, goes back by one, jumps to
# [a, b), skips a bars, comes back as copies (equal bars, other objects), or with one bar's
# high raised by b (a revised bar, the others the same objects)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["next", "next", "next", "same", "back", "jump", "gap", "copies", "revise"]
        ),
        st.integers(0, 40),
        st.integers(0, 40),
    ),
    max_size=40,
)


def windows_of(bars: list[Candle], steps) -> list[tuple[tuple[Candle, ...], int, int]]:
    """The windows a caller hands over, step by step, starting with the first 8 bars, as
    (a tuple, lo, hi): the window is tuple[lo:hi]; the same tuple (all the bars) unless the
    step made copies or revised a bar, as a replay's market hands them."""
    lo, hi, out, whole = 0, min(8, len(bars)), [], tuple(bars)
    for kind, a, b in steps:
        lo, hi = moved_window(kind, a, b, lo, hi)
        if kind == "back":
            lo, hi = max(lo - 1, 0), max(hi - 1, 0)
        hi = min(hi, len(bars))
        lo = min(lo, hi)
        window = bars[lo:hi]
        if kind == "copies":
            window = [dataclasses.replace(c, high=c.high + 0) for c in window]
        if kind == "revise" and window:
            at = a % len(window)
            window[at] = dataclasses.replace(window[at], high=window[at].high + b)
        out.append(
            (tuple(window), 0, len(window)) if kind in ("copies", "revise") else (whole, lo, hi)
        )
    return out


def handed(kind: str, step: int, base: tuple[Candle, ...], lo: int, hi: int) -> Sequence[Candle]:
    """The window as a list, a tuple (as a live snapshot keeps it), a `BarWindow` (as a
    replay's market hands it), or, `mixed`, one of the three by turns."""
    if kind == "mixed":
        kind = ("list", "tuple", "window")[step % 3]
    if kind == "window":
        return BarWindow(base, lo, hi)
    return list(base[lo:hi]) if kind == "list" else base[lo:hi]


def outcome(trigger, window, cfg, kept):
    """The signal, or the error's class (a 4-digit context cannot quantize some strengths)."""
    try:
        return trigger("X", window, cfg, kept)
    except ArithmeticError as exc:
        return type(exc)


def test_prior_high_when_same_objects_move_on_then_equal_to_max_with_its_digits() -> None:
    bars = [
        Candle(T0 + i * FIVE_MINUTES, D(1), D(h), D(1), D(1), D(1))
        for i, h in enumerate(["5", "5.0", "4", "5.00", "3", "3", "2"])
    ]
    kept = TriggerWindows()
    for end in range(4, len(bars) + 1):
        window = bars[:end]
        assert str(kept.prior_high("X", window, 3)) == str(max(b.high for b in window[-4:-1]))


@settings(max_examples=300, deadline=None)
@given(
    bars=series(),
    steps=STEPS,
    n=st.integers(1, 6),
    precision=st.sampled_from([28, 4]),
    kind=st.sampled_from(["list", "tuple", "window", "mixed"]),
    volume_from=st.integers(0, 10),  # volumes asked for from this window on (the sum is lazy)
)
def test_trigger_windows_when_read_step_by_step_then_equal_the_whole_window_reading(
    bars, steps, n, precision, kind, volume_from
) -> None:
    kept = TriggerWindows()
    spike = VolumeSpike(enabled=True, lookback_bars=n, min_ratio=D("1.5"), min_return_pct=D(-1))
    up = Breakout(lookback_bars=n, min_margin_pct=D(0))
    with localcontext() as ctx:
        ctx.prec = precision  # 4: sums that round, where the exact running sum must not be used
        for step, (base, lo, hi) in enumerate(windows_of(bars, steps)):
            window = handed(kind, step, base, lo, hi)
            if len(window) < n + 1:
                continue
            prior = window[-n - 1 : -1]
            high = kept.prior_high("X", window, n)
            assert (str(high), high) == (
                str(max(b.high for b in prior)),
                max(b.high for b in prior),
            )
            assert outcome(breakout, window, up, kept) == outcome(breakout, window, up, None)
            if step < volume_from:
                continue
            assert kept.prior_volume("X", window, n) == sum((b.volume for b in prior), D(0))
            assert outcome(volume_spike, window, spike, kept) == outcome(
                volume_spike, window, spike, None
            )


def test_prior_volume_when_a_negative_volume_made_the_partial_sums_round_then_summed_as_before():
    # in 4 digits 12345 rounds to 1.234E+4, so the plain sum is 1.234E+4 - 12344 + 1 = -3,
    # while the exact sum is 2 (a short number: only the negative volume tells it apart)
    volumes = ["12345", "-12344", "1", "7"]
    bars = [
        Candle(T0 + i * FIVE_MINUTES, D(1), D(1), D(1), D(1), D(v)) for i, v in enumerate(volumes)
    ]
    with localcontext() as ctx:
        ctx.prec = 4
        plain = sum((b.volume for b in bars[:3]), D(0))
        assert plain == D(-3)
        assert TriggerWindows().prior_volume("X", bars, 3) == plain


@settings(max_examples=300, deadline=None)
@given(
    bars=series(),
    closes=st.lists(st.sampled_from(["98", "100", "100.00", "101", "103"]), min_size=40),
    steps=STEPS,
    n=st.integers(1, 6),
    asked=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_prior_high_when_breakouts_answered_unread_between_then_the_whole_window_max(
    bars, closes, steps, n, asked
) -> None:
    """A breakout at or below the bar before asks the kept window nothing, so a `BarWindow`'s
    window falls behind by a few bars; the next reading catches up to the same max."""
    bars = [
        dataclasses.replace(b, close=D(c), high=max(b.high, D(c)))
        for b, c in zip(bars, closes, strict=False)
    ]
    kept = TriggerWindows()
    up = Breakout(lookback_bars=n, min_margin_pct=D(0))
    for step, (base, lo, hi) in enumerate(windows_of(bars, steps)):
        window = BarWindow(base, lo, hi)
        if len(window) < n + 1:
            continue
        assert breakout("X", window, up, kept) == breakout("X", window, up, None)
        if asked[step]:
            highest = max(b.high for b in window[-n - 1 : -1])
            high = kept.prior_high("X", window, n)
            assert (str(high), high) == (str(highest), highest)
