"""Market regime from the reference product's recent bars."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.domain.config import RegimeConfig
from trader.domain.models import ZERO, Candle
from trader.domain.money import HUNDRED


@dataclass(frozen=True, slots=True)
class Regime:
    name: str  # trending_up | trending_down | choppy | volatile | crash | unknown
    return_pct: Decimal = ZERO  # first open to last close over the window
    drawdown_pct: Decimal = ZERO  # highest high to last close
    bar_volatility_pct: Decimal = ZERO  # population stdev of close-to-close returns
    bars: int = 0


def detect_regime(candles: Sequence[Candle], cfg: RegimeConfig) -> Regime:
    """Crash beats volatile beats trend beats chop; fewer than 3 bars is `unknown`."""
    window = list(candles)[-cfg.lookback_bars :]
    if len(window) < 3:
        return Regime("unknown", bars=len(window))
    first_open = window[0].open
    last_close = window[-1].close
    peak = max(c.high for c in window)
    if first_open <= 0 or peak <= 0 or any(c.close <= 0 for c in window):
        return Regime("unknown", bars=len(window))  # bad data: no regime to read
    ret = (last_close / first_open - 1) * HUNDRED
    drawdown = (1 - last_close / peak) * HUNDRED
    returns = [(b.close / a.close - 1) * HUNDRED for a, b in itertools.pairwise(window)]
    vol = statistics.pstdev(returns)
    if ret <= -cfg.crash_pct or drawdown >= cfg.crash_pct:
        name = "crash"
    elif vol >= cfg.volatile_bar_pct:
        name = "volatile"
    elif ret >= cfg.trend_pct:
        name = "trending_up"
    elif ret <= -cfg.trend_pct:
        name = "trending_down"
    else:
        name = "choppy"
    return Regime(name, ret, drawdown, vol, len(window))
