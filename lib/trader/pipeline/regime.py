"""The market's regime, read across the regime's products and held with hysteresis.

Each cycle reads the gauges (pipeline/gauges.py) of the reference and breadth products and
classifies the newest bar: the candidate. Crash beats volatile beats trend beats chop, and
each needs `breadth_pct` of the products to agree, so one coin alone never sets the regime.
The regime the last cycle settled on (its `RegimeMemory`, kept in the state: a cycle is
stateless) gives way to the candidate only when it has lasted `min_dwell_hours` and its own
looser hold threshold no longer holds; a crash takes over at once. The same bar read twice
settles the same way, so a retried cycle changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from trader.domain.bar_window import span
from trader.domain.config import ExitsConfig, RegimeConfig, RulesConfig, hours_to_bars
from trader.domain.copying import quick_init
from trader.domain.memo import PerObject
from trader.domain.models import ZERO, Candle, NoTradeReason
from trader.domain.state import RegimeMemory
from trader.pipeline.gauges import Gauge, GaugeCache, Windows, read_gauge

UNKNOWN = "unknown"


@quick_init
@dataclass(frozen=True, slots=True)
class Breadth:
    """How many of the products read met each threshold."""

    products: int
    up: int  # trend_pct >= trend_pct
    down: int  # trend_pct <= -trend_pct
    up_held: int  # trend_pct >= trend_hold_pct
    down_held: int  # trend_pct <= -trend_hold_pct
    volatile: int  # volatility_pct >= volatile_pct
    volatile_held: int  # volatility_pct >= volatile_hold_pct
    crashing: int  # drawdown >= crash_pct and >= crash_sigmas
    crash_held: int  # drawdown >= crash_hold_pct


@quick_init
@dataclass(frozen=True, slots=True)
class Regime:
    name: str  # trending_up | trending_down | choppy | volatile | crash | unknown
    candidate: str = UNKNOWN  # what the newest bar alone reads
    since: datetime | None = None  # start of the bar the regime was entered on
    as_of: datetime | None = None  # start of the reference product's newest bar
    breadth: Breadth | None = None
    gauges: Mapping[str, Gauge] = field(default_factory=dict)
    memory: RegimeMemory | None = None  # what the state keeps for the next cycle

    @property
    def age(self) -> timedelta | None:
        return self.as_of - self.since if self.as_of and self.since else None


@quick_init
@dataclass(frozen=True, slots=True)
class _Limits:
    """The config's thresholds as floats and durations, once per config."""

    windows: Windows
    agree_pct: float
    trend: float
    trend_hold: float
    volatile: float
    volatile_hold: float
    crash: float
    crash_sigmas: float
    crash_hold: float
    dwell: timedelta
    crash_dwell: timedelta
    forget: timedelta  # a memory older than this (the bot was off) is not held to
    products: tuple[str, ...]  # the regime's products, the reference first


def _work_out(cfg: RegimeConfig, granularity_s: int) -> _Limits:
    windows = Windows(
        trend=hours_to_bars(cfg.trend_hours, granularity_s),
        volatility=hours_to_bars(cfg.volatility_hours, granularity_s),
        crash=hours_to_bars(cfg.crash_hours, granularity_s),
        bars_per_hour=3600 / granularity_s,
    )
    return _Limits(
        windows,
        float(cfg.breadth_pct),
        float(cfg.trend_pct),
        float(cfg.trend_hold_pct),
        float(cfg.volatile_pct),
        float(cfg.volatile_hold_pct),
        float(cfg.crash_pct),
        float(cfg.crash_sigmas),
        float(cfg.crash_hold_pct),
        timedelta(hours=float(cfg.min_dwell_hours)),
        timedelta(hours=float(cfg.crash_min_dwell_hours)),
        timedelta(hours=float(cfg.trend_hours)),
        cfg.products,
    )


# The limits of a config, worked out once per config object and bar length (hashing a
# config every cycle would cost more than the reading)
_limits = PerObject(_work_out)


def detect_regime(
    candles: Mapping[str, Sequence[Candle]],
    memory: RegimeMemory | None,
    cfg: RegimeConfig,
    granularity_s: int,
    cache: GaugeCache | None = None,
) -> Regime:
    """The regime after the reference product's newest bar; `unknown` (memory kept) while the
    reference has too few bars for every window."""
    limits = _limits(cfg, granularity_s)
    gauges = _read(candles, limits.products, limits.windows, cache or GaugeCache())
    if cfg.reference_product not in gauges:
        return Regime(UNKNOWN, memory=memory)
    as_of = candles[cfg.reference_product][-1].start
    breadth = _breadth(gauges.values(), limits)
    candidate = _classify(breadth, limits)
    name, since = _settle(_recall(memory, as_of, limits), candidate, breadth, as_of, limits)
    return Regime(name, candidate, since, as_of, breadth, gauges, RegimeMemory(name, since, as_of))


def _read(
    candles: Mapping[str, Sequence[Candle]],
    products: Sequence[str],
    windows: Windows,
    cache: GaugeCache,
) -> dict[str, Gauge]:
    gauges: dict[str, Gauge] = {}
    needed = windows.needed
    for pid in products:
        window = candles.get(pid)
        if window is None:
            continue
        _, lo, hi = span(window)  # its length, without a window's Python-level len
        if hi - lo < needed:
            continue
        gauge = read_gauge(cache.series(pid, window, windows), windows)
        if gauge is not None:
            gauges[pid] = gauge
    return gauges


def _breadth(gauges: Iterable[Gauge], limits: _Limits) -> Breadth:
    n = up = down = up_held = down_held = volatile = volatile_held = crashing = crash_held = 0
    for g in gauges:
        n += 1
        trend, vol, fall = g.trend_pct, g.volatility_pct, g.drawdown_pct
        up += trend >= limits.trend
        down += trend <= -limits.trend
        up_held += trend >= limits.trend_hold
        down_held += trend <= -limits.trend_hold
        volatile += vol >= limits.volatile
        volatile_held += vol >= limits.volatile_hold
        crash_held += fall >= limits.crash_hold
        crashing += (
            fall >= limits.crash and g.drawdown_sigmas(limits.windows) >= limits.crash_sigmas
        )
    return Breadth(n, up, down, up_held, down_held, volatile, volatile_held, crashing, crash_held)


def _agree(count: int, breadth: Breadth, limits: _Limits) -> bool:
    """`count` of the products read make at least `breadth_pct` of them (exact: no share)."""
    return count > 0 and count * 100 >= limits.agree_pct * breadth.products


def _classify(b: Breadth, limits: _Limits) -> str:
    """What the newest bar alone reads: crash, volatile, trend, or chop."""
    if _agree(b.crashing, b, limits):
        return "crash"
    if _agree(b.volatile, b, limits):
        return "volatile"
    if _agree(b.up, b, limits):
        return "trending_up"
    if _agree(b.down, b, limits):
        return "trending_down"
    return "choppy"


def _holds(name: str, b: Breadth, limits: _Limits) -> bool:
    """Whether regime `name` still holds by its looser threshold (choppy never resists)."""
    held = {
        "crash": b.crash_held,
        "volatile": b.volatile_held,
        "trending_up": b.up_held,
        "trending_down": b.down_held,
    }.get(name, 0)
    return _agree(held, b, limits)


def _recall(memory: RegimeMemory | None, as_of: datetime, limits: _Limits) -> RegimeMemory | None:
    """The memory if it belongs to this run of bars: not from the future, not too old."""
    if memory is None or memory.as_of > as_of or as_of - memory.as_of > limits.forget:
        return None
    return memory


def _settle(
    memory: RegimeMemory | None,
    candidate: str,
    breadth: Breadth,
    as_of: datetime,
    limits: _Limits,
) -> tuple[str, datetime]:
    """(regime, since): the remembered regime unless the candidate may replace it."""
    if memory is None:
        return candidate, as_of
    if memory.as_of == as_of or candidate == memory.name:
        return memory.name, memory.since
    if candidate == "crash":
        return candidate, as_of
    dwell = limits.crash_dwell if memory.name == "crash" else limits.dwell
    if as_of - memory.since < dwell or _holds(memory.name, breadth, limits):
        return memory.name, memory.since
    return candidate, as_of


@quick_init
@dataclass(frozen=True, slots=True)
class RegimePolicy:
    """What the regime lets the rules do: the entries' tiers and size, the stop on holdings."""

    regime: str
    size_multiplier: Decimal
    tiers: tuple[str, ...] | None  # tiers new entries may go into; None: every tier
    stop_loss_pct: Decimal  # in force on open positions under this regime

    @property
    def blocks_entries(self) -> bool:
        return self.size_multiplier <= 0 or self.tiers == ()

    def entry_blocked(self, tier: str) -> str | None:
        """Why the regime refuses a new entry into `tier` (NO_TRADE regime_blocked), or None."""
        if self.size_multiplier <= 0:
            return f"{self._blocked} sizes entries at 0"
        if self.tiers is not None and tier not in self.tiers:
            allowed = f"only {', '.join(self.tiers)}" if self.tiers else "no new entry"
            return f"{self._blocked} allows {allowed} (tier {tier})"
        return None

    @property
    def _blocked(self) -> str:
        return f"{NoTradeReason.REGIME_BLOCKED}: {self.regime}"


def policy_for(regime: str, rules: RulesConfig, exits: ExitsConfig) -> RegimePolicy:
    return RegimePolicy(
        regime,
        rules.regime_size_multiplier.get(regime, ZERO),  # type: ignore[call-overload]
        rules.regime_tiers.get(regime),  # type: ignore[call-overload]
        exits.stop_loss_for(regime),
    )
