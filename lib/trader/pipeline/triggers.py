"""Triggers: cheap tests on closed bars that say which products deserve a look this cycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal

from trader.domain.config import Breakout, Momentum, TriggersConfig, VolumeSpike
from trader.domain.models import Candle, Signal
from trader.domain.money import HUNDRED
from trader.pipeline.trigger_windows import TriggerWindows, prior_high, prior_volume

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
    if mean <= 0 or last.open <= 0:
        return None  # no baseline: a spike over nothing means nothing
    ratio = last.volume / mean
    bar_return = (last.close / last.open - 1) * HUNDRED
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
    n = cfg.lookback_bars
    if not cfg.enabled or len(bars) < n + 1:
        return None
    high = prior_high(bars, n) if windows is None else windows.prior_high(product_id, bars, n)
    if high <= 0:
        return None  # no range to break out of (and no division by zero)
    excess = (bars[-1].close / high - 1) * HUNDRED
    if excess < cfg.min_margin_pct or excess <= 0:
        return None
    strength = _strength(excess)  # a close 1 % above the range is full strength
    return Signal(
        product_id,
        "breakout",
        strength,
        f"close {bars[-1].close} is {excess:.2f}% above the {n}-bar high {high}",
    )


def momentum(product_id: str, bars: Sequence[Candle], cfg: Momentum) -> Signal | None:
    """Close-to-close return over N bars at least `min_return_pct`."""
    n = cfg.lookback_bars
    if not cfg.enabled or len(bars) < n + 1:
        return None
    base = bars[-n - 1].close
    if base <= 0:
        return None
    ret = (bars[-1].close / base - 1) * HUNDRED
    if ret < cfg.min_return_pct:
        return None
    strength = _strength(ret / cfg.full_strength_return_pct)
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
    spike, high, move = cfg.volume_spike, cfg.breakout, cfg.momentum  # read once, not per product
    spikes = spike.enabled  # off by default: not asked at all then
    for pid in product_ids:
        bars = candles.get(pid, ())
        for fired in (
            volume_spike(pid, bars, spike, windows) if spikes else None,
            breakout(pid, bars, high, windows),
            momentum(pid, bars, move),
        ):
            if fired is not None:
                signals.append(fired)
    return tuple(signals)
