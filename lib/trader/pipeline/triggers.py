"""Triggers: cheap tests on closed bars that say which products deserve a look this cycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal

from trader.domain.bar_window import span
from trader.domain.config import Breakout, Momentum, TriggersConfig, VolumeSpike
from trader.domain.models import Candle, Signal
from trader.domain.money import HUNDRED, ZERO
from trader.pipeline.trigger_windows import TriggerWindows, prior_high, prior_volume

# Decimals compared with and subtracted instead of the ints 0 and 1: the same values (an
# int is converted exactly first), without converting it on every product every cycle
ONE = Decimal(1)
STRENGTH_STEP = Decimal("0.0001")


def _strength(value: Decimal) -> Decimal:
    """Capped at 1 and kept to 4 places, so audit records stay readable."""
    return min(ONE, value).quantize(STRENGTH_STEP, rounding=ROUND_DOWN)


def volume_spike(
    product_id: str,
    bars: Sequence[Candle],
    cfg: VolumeSpike,
    windows: TriggerWindows | None = None,
) -> Signal | None:
    """Last bar's volume at least `min_ratio` times the mean of the prior bars, on an up bar.
    `windows`: the prior bars' sums kept between cycles (the same answer, cheaper)."""
    n = cfg.lookback_bars
    if not cfg.enabled or len(bars) < n + 1:
        return None
    last = bars[-1]
    total = prior_volume(bars, n) if windows is None else windows.prior_volume(product_id, bars, n)
    mean = total / n
    if mean <= ZERO or last.open <= ZERO:
        return None  # no baseline: a spike over nothing means nothing
    ratio = last.volume / mean
    bar_return = (last.close / last.open - ONE) * HUNDRED
    if ratio < cfg.min_ratio or bar_return < cfg.min_return_pct:
        return None
    strength = _strength(ratio / (2 * cfg.min_ratio))
    return Signal(
        product_id,
        "volume_spike",
        strength,
        f"volume {ratio:.2f}x the {n}-bar mean, bar {bar_return:+.2f}%",
    )


def breakout(
    product_id: str,
    bars: Sequence[Candle],
    cfg: Breakout,
    windows: TriggerWindows | None = None,
) -> Signal | None:
    """Last close above the highest high of the prior N bars by at least the margin.
    `windows`: the prior bars' maxima kept between cycles (the same answer, cheaper)."""
    if not cfg.enabled:
        return None
    return _breakout(product_id, bars, span(bars), cfg.lookback_bars, cfg.min_margin_pct, windows)


Span = tuple[Sequence[Candle], int, int]  # span(bars): the bars as bars[lo:hi] of a sequence


def _breakout(
    product_id: str,
    bars: Sequence[Candle],
    read: Span,
    n: int,
    min_margin_pct: Decimal,
    windows: TriggerWindows | None,
) -> Signal | None:
    """breakout, its settings read (run_triggers reads them once, not for every product) and
    its bars spanned (`read`: indexed without a window's Python-level len and indexing)."""
    source, lo, hi = read
    if hi - lo < n + 1:
        return None
    close = source[hi - 1].close
    # Not above the bar before (one of the prior n): the usual answer, without the prior high.
    # Kept windows are left behind only along a `BarWindow`'s tuple (`source is not bars`),
    # where the next read catches up; a plain sequence's is kept moving (cheap to compare).
    if n and close <= source[hi - 2].high and (windows is None or source is not bars):
        return None
    high = prior_high(bars, n) if windows is None else windows.prior_high(product_id, bars, n)
    if high <= ZERO:
        return None  # no range to break out of (and no division by zero)
    if close <= high:
        return None  # the excess below would be <= 0: the usual answer, without dividing
    excess = (close / high - ONE) * HUNDRED
    if excess < min_margin_pct or excess <= ZERO:
        return None
    strength = _strength(excess)  # a close 1 % above the range is full strength
    return Signal(
        product_id,
        "breakout",
        strength,
        f"close {close} is {excess:.2f}% above the {n}-bar high {high}",
    )


def momentum(product_id: str, bars: Sequence[Candle], cfg: Momentum) -> Signal | None:
    """Close-to-close return over N bars at least `min_return_pct`."""
    if not cfg.enabled:
        return None
    least, full = cfg.min_return_pct, cfg.full_strength_return_pct
    return _momentum(product_id, span(bars), cfg.lookback_bars, least, full)


def _momentum(
    product_id: str,
    read: Span,
    n: int,
    min_return_pct: Decimal,
    full_strength_return_pct: Decimal,
) -> Signal | None:
    """momentum, its settings read (run_triggers reads them once, not for every product) and
    its bars spanned (`read`, as for _breakout)."""
    source, lo, hi = read
    if hi - lo < n + 1:
        return None
    base = source[hi - n - 1].close
    if base <= ZERO:
        return None
    close = source[hi - 1].close
    if close <= base and min_return_pct > ZERO:
        return None  # the return below would be <= 0 < the minimum: without dividing
    ret = (close / base - ONE) * HUNDRED
    if ret < min_return_pct:
        return None
    strength = _strength(ret / full_strength_return_pct)
    return Signal(product_id, "momentum", strength, f"{ret:+.2f}% over {n} bars")


def run_triggers(
    product_ids: Sequence[str],
    candles: Mapping[str, Sequence[Candle]],
    cfg: TriggersConfig,
    windows: TriggerWindows | None = None,
) -> tuple[Signal, ...]:
    """Every signal for every product, in product order then trigger order. `windows`: kept
    between cycles by the caller (a replay, a warm Lambda); None reads each window whole."""
    signals: list[Signal] = []
    # The settings read once here, not for every product (a config read costs ~6 slot reads)
    spike, high, move = cfg.volume_spike, cfg.breakout, cfg.momentum
    spikes, highs, moves = spike.enabled, high.enabled, move.enabled  # off: not asked at all
    high_n, margin = high.lookback_bars, high.min_margin_pct
    move_n, least, full = move.lookback_bars, move.min_return_pct, move.full_strength_return_pct
    for pid in product_ids:
        bars = candles.get(pid, ())
        read = span(bars)
        if spikes and (fired := volume_spike(pid, bars, spike, windows)) is not None:
            signals.append(fired)
        if highs and (fired := _breakout(pid, bars, read, high_n, margin, windows)) is not None:
            signals.append(fired)
        if moves and (fired := _momentum(pid, read, move_n, least, full)) is not None:
            signals.append(fired)
    return tuple(signals)
