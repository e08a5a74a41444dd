"""A deterministic, seeded synthetic market: the offline default `MarketData`.

Time is cut into segments of `SEGMENT_BARS` bars counted from `ORIGIN`. Each segment has a
market-wide regime (a Markov chain over segments, so trends and chop persist and a crash is
usually followed by volatility). Segment-end log prices are computed forward from the origin
(cheap: four segments a day), and the bars inside a segment come from a Brownian bridge seeded
by (seed, product, segment). So a candle depends only on the seed, the config and its own time,
never on which times were asked for before.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from trader.adapters.sim.bars import merged_bars
from trader.domain.config import SimProduct, SimulatorConfig
from trader.domain.models import Candle, Product, Quote
from trader.domain.money import round_to_increment
from trader.ports import Clock

ORIGIN = datetime(2026, 1, 1, tzinfo=UTC)
SEGMENT_BARS = 72  # 6 hours of 5-minute bars
REGIMES = ("trending_up", "trending_down", "choppy", "volatile", "crash")
FLAG_TYPES: Mapping[str, type] = {
    "status": str,
    "disabled": bool,
    "trading_disabled": bool,
    "cancel_only": bool,
    "limit_only": bool,
    "post_only": bool,
    "view_only": bool,
    "auction_mode": bool,
}
_CACHE_SEGMENTS = 512
_CORRELATION = 0.7  # share of a product's shocks that are market-wide
_MEAN_REVERSION = 0.05  # per segment, pulls log price back towards its anchor
_SPIKE_CHANCE = 0.015  # per bar: about four volume spikes a day per product
_VOLUME_NORM = 1.4  # long-run mean of the volume multipliers below, measured
_VOL_NORM = 1.4  # long-run realized bar stdev / configured sigma, measured
_BASE_MAX = Decimal(10) ** 12
_QUOTE_MAX = Decimal(10) ** 10


@dataclass(frozen=True, slots=True)
class _Regime:
    weight: float  # chance of being drawn when the regime changes
    stay: float  # chance of persisting into the next segment
    drift: float  # mean log move per bar, in per-bar sigmas
    vol: float  # volatility multiplier of the bars
    swing: float  # volatility multiplier of the segment's net move
    volume: float  # volume multiplier
    spread: float  # spread multiplier
    up_jump: float  # chance that a volume spike moves the price up


_SPECS: Mapping[str, _Regime] = {
    "trending_up": _Regime(0.26, 0.5, 0.3, 0.9, 0.9, 1.1, 1.0, 0.75),
    "trending_down": _Regime(0.24, 0.5, -0.3, 0.9, 0.9, 1.2, 1.0, 0.35),
    "choppy": _Regime(0.31, 0.55, 0.0, 0.7, 0.5, 0.8, 1.0, 0.55),
    "volatile": _Regime(0.14, 0.45, 0.0, 2.5, 2.5, 1.7, 2.0, 0.5),
    "crash": _Regime(0.05, 0.0, -0.6, 2.5, 1.0, 3.0, 3.0, 0.2),
}


def _next_regime(previous: str | None, rng: random.Random) -> str:
    stay, draw = rng.random(), rng.random()
    if previous is not None and stay < _SPECS[previous].stay:
        return previous
    weights = [_SPECS[name].weight for name in REGIMES]
    if previous == "crash":  # after a crash: no second crash, likely turbulence
        weights = [
            w * 4 if n == "volatile" else (0.0 if n == "crash" else w)
            for n, w in zip(REGIMES, weights, strict=True)
        ]
    total = sum(weights)
    acc = 0.0
    for name, weight in zip(REGIMES, weights, strict=True):
        acc += weight / total
        if draw < acc:
            return name
    return REGIMES[-1]


def _shape(regime: str, u: float) -> float:
    """Fraction of the segment's move done by fraction `u` of the segment (crashes front-load)."""
    return min(1.0, u / 0.4) if regime == "crash" else u


class SyntheticMarket:
    """Implements `trader.ports.MarketData` with a scripted, reproducible market."""

    def __init__(self, cfg: SimulatorConfig, clock: Clock, granularity_s: int = 300) -> None:
        if granularity_s <= 0:
            raise ValueError(f"granularity_s must be positive, got {granularity_s}")
        if cfg.start < ORIGIN:
            raise ValueError(
                f"simulator.start {cfg.start.isoformat()} is before the synthetic market's "
                f"origin {ORIGIN.isoformat()}"
            )
        self.granularity_s = granularity_s
        self._cfg = cfg
        self._clock = clock
        self._sims: dict[str, SimProduct] = {p.product_id: p for p in cfg.products}
        self._sigma = {
            pid: float(p.volatility_pct) / 100 / _VOL_NORM * math.sqrt(granularity_s / 300)
            for pid, p in self._sims.items()
        }
        self._flags: dict[str, dict[str, object]] = {pid: {} for pid in self._sims}
        self._regimes: list[str] = []
        self._levels: dict[str, list[float]] = {
            pid: [0.0] for pid in self._sims
        }  # raw log level at segment ends
        self._market_rng = random.Random(f"{cfg.seed}|regimes")
        self._level_rngs = {pid: random.Random(f"{cfg.seed}|levels|{pid}") for pid in self._sims}
        self._segments: OrderedDict[tuple[str, int], tuple[Candle, ...]] = OrderedDict()
        self._volume_cache: dict[tuple[str, int], Decimal] = {}
        anchor_bar = self._bar_index(cfg.start)
        self._offset = {
            pid: math.log(float(p.start_price)) - self._raw_point(pid, anchor_bar)
            for pid, p in self._sims.items()
        }

    # --- the MarketData port -------------------------------------------------------------

    def list_products(self) -> Sequence[Product]:
        last = self._closed_count() - 1
        if last < 0:
            raise ValueError(
                f"no closed bar yet at {self._clock.now().isoformat()}: "
                f"the synthetic market starts at {ORIGIN.isoformat()}"
            )
        return [self._product(pid, last) for pid in self._sims]

    def get_quotes(self, product_ids: Sequence[str]) -> Mapping[str, Quote]:
        """Bid/ask around the last closed close; unknown ids are simply absent."""
        last = self._closed_count() - 1
        if last < 0:
            return {}
        now = self._clock.now()
        regime = _SPECS[self._regime(last // SEGMENT_BARS)]
        quotes: dict[str, Quote] = {}
        for pid in product_ids:
            sim = self._sims.get(pid)
            if sim is None:
                continue
            close = self._bar(pid, last).close
            half = close * sim.spread_bps * Decimal(str(regime.spread)) / Decimal(20_000)
            bid = max(
                round_to_increment(close - half, sim.quote_increment, ROUND_FLOOR),
                sim.quote_increment,
            )
            ask = max(
                round_to_increment(close + half, sim.quote_increment, ROUND_CEILING),
                bid + sim.quote_increment,
            )
            quotes[pid] = Quote(pid, bid, ask, now)
        return quotes

    def get_candles(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        """Closed bars with start in [start, end), ascending; nothing exists before ORIGIN.
        A multiple of the market's own granularity is served as Coinbase does, from whole
        buckets of `epoch seconds // granularity_s`; a bar still forming is left out."""
        if granularity_s != self.granularity_s:
            return self._coarser(product_id, granularity_s, start, end)
        self._require(product_id)
        first = max(0, self._ceil_index(start))
        stop = min(self._ceil_index(end), self._closed_count())
        out: list[Candle] = []
        n = first
        while n < stop:
            segment, offset = divmod(n, SEGMENT_BARS)
            bars = self._segment(product_id, segment)
            take = min(SEGMENT_BARS, offset + stop - n)
            out.extend(bars[offset:take])
            n += take - offset
        return out

    def _coarser(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        if granularity_s % self.granularity_s:
            raise ValueError(
                f"granularity {granularity_s}s asked, but this synthetic market has "
                f"{self.granularity_s}s bars: only a multiple of that can be built"
            )
        step = timedelta(seconds=granularity_s)
        first = datetime.fromtimestamp(start.timestamp() // granularity_s * granularity_s, UTC)
        bars = self.get_candles(product_id, self.granularity_s, max(first, ORIGIN), end + step)
        per_bucket = granularity_s // self.granularity_s
        return [
            bar for bar in merged_bars(bars, granularity_s, per_bucket) if start <= bar.start < end
        ]

    # --- extras for tests and demos ------------------------------------------------------

    def regime_at(self, moment: datetime) -> str:
        """The scripted market-wide regime of the segment containing `moment`."""
        return self._regime(self._bar_index(moment) // SEGMENT_BARS)

    def set_product_flags(self, product_id: str, **flags: object) -> None:
        """Flip status flags mid-run, e.g. `trading_disabled=True` or `status="offline"`."""
        self._require(product_id)
        for name, value in flags.items():
            kind = FLAG_TYPES.get(name)
            if kind is None:
                raise ValueError(f"unknown product flag {name!r}; known: {', '.join(FLAG_TYPES)}")
            if not isinstance(value, kind):
                raise ValueError(f"flag {name} needs a {kind.__name__}, got {value!r}")
        self._flags[product_id].update(flags)

    # --- time ----------------------------------------------------------------------------

    def _bar_index(self, moment: datetime) -> int:
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: use timezone-aware UTC")
        if moment < ORIGIN:
            raise ValueError(
                f"{moment.isoformat()} is before the synthetic market's origin {ORIGIN.isoformat()}"
            )
        return (moment - ORIGIN) // timedelta(seconds=self.granularity_s)

    def _ceil_index(self, moment: datetime) -> int:
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: use timezone-aware UTC")
        return -((ORIGIN - moment) // timedelta(seconds=self.granularity_s))

    def _closed_count(self) -> int:
        """Number of bars closed by now: bar n is closed once ORIGIN + (n + 1) * g <= now."""
        now = self._clock.now()
        return (
            max(0, (now - ORIGIN) // timedelta(seconds=self.granularity_s)) if now >= ORIGIN else 0
        )

    def _require(self, product_id: str) -> SimProduct:
        sim = self._sims.get(product_id)
        if sim is None:
            raise ValueError(
                f"unknown product {product_id!r}; this synthetic market has {', '.join(self._sims)}"
            )
        return sim

    # --- segment levels (computed forward from the origin, cached as a prefix) ------------

    def _extend(self, segment: int) -> None:
        while len(self._regimes) <= segment:
            i = len(self._regimes)
            regime = _next_regime(self._regimes[-1] if self._regimes else None, self._market_rng)
            self._regimes.append(regime)
            spec = _SPECS[regime]
            z_market = self._market_rng.gauss(0.0, 1.0)
            for pid, levels in self._levels.items():
                sigma = self._sigma[pid]
                z = _CORRELATION * z_market + math.sqrt(1 - _CORRELATION**2) * self._level_rngs[
                    pid
                ].gauss(0.0, 1.0)
                previous = levels[i]
                move = (
                    spec.drift * sigma * SEGMENT_BARS
                    + spec.swing * sigma * math.sqrt(SEGMENT_BARS) * z
                )
                levels.append(previous - _MEAN_REVERSION * previous + move)

    def _regime(self, segment: int) -> str:
        self._extend(segment)
        return self._regimes[segment]

    def _raw_point(self, product_id: str, bar: int) -> float:
        """Raw log close of bar `bar - 1` (the price at the start of bar `bar`)."""
        segment, offset = divmod(bar, SEGMENT_BARS)
        if offset == 0:
            self._extend(segment)
            return self._levels[product_id][segment]
        return self._segment_points(product_id, segment)[offset]

    # --- bars inside a segment -----------------------------------------------------------

    def _segment_points(self, product_id: str, segment: int) -> list[float]:
        """Raw log prices at the SEGMENT_BARS + 1 bar boundaries of a segment (Brownian bridge)."""
        return self._segment_path(product_id, segment)[0]

    def _segment_path(
        self, product_id: str, segment: int
    ) -> tuple[list[float], list[float], list[bool]]:
        regime = self._regime(segment)
        spec = _SPECS[regime]
        start, end = self._levels[product_id][segment], self._levels[product_id][segment + 1]
        sigma = self._sigma[product_id] * spec.vol
        market = random.Random(f"{self._cfg.seed}|bars|{segment}")
        own = random.Random(f"{self._cfg.seed}|bars|{product_id}|{segment}")
        idio = math.sqrt(1 - _CORRELATION**2)
        walk, jitters, spikes = [0.0], [], []
        for _ in range(SEGMENT_BARS):
            jitter = math.exp(0.25 * own.gauss(0.0, 1.0))
            shock = _CORRELATION * market.gauss(0.0, 1.0) + idio * own.gauss(0.0, 1.0)
            step = sigma * jitter * shock
            spike = own.random() < _SPIKE_CHANCE
            if spike:
                sign = 1.0 if own.random() < spec.up_jump else -1.0
                step += sign * own.uniform(1.5, 3.5) * sigma
            walk.append(walk[-1] + step)
            jitters.append(jitter)
            spikes.append(spike)
        total = walk[-1]
        points = [
            start
            + (end - start) * _shape(regime, j / SEGMENT_BARS)
            + walk[j]
            - total * j / SEGMENT_BARS
            for j in range(SEGMENT_BARS + 1)
        ]
        points[0], points[-1] = start, end  # exact joins between segments
        return points, jitters, spikes

    def _segment(self, product_id: str, segment: int) -> tuple[Candle, ...]:
        key = (product_id, segment)
        cached = self._segments.get(key)
        if cached is not None:
            self._segments.move_to_end(key)
            return cached
        bars = self._build_segment(product_id, segment)
        self._segments[key] = bars
        if len(self._segments) > _CACHE_SEGMENTS:
            self._segments.popitem(last=False)
        return bars

    def _build_segment(self, product_id: str, segment: int) -> tuple[Candle, ...]:
        sim = self._sims[product_id]
        spec = _SPECS[self._regime(segment)]
        points, jitters, spikes = self._segment_path(product_id, segment)
        sigma = self._sigma[product_id] * spec.vol
        offset = self._offset[product_id]
        inc = sim.quote_increment
        rng = random.Random(f"{self._cfg.seed}|wicks|{product_id}|{segment}")
        quote_per_bar = float(sim.volume_24h_quote) * self.granularity_s / 86_400 / _VOLUME_NORM
        first_bar = segment * SEGMENT_BARS
        step = timedelta(seconds=self.granularity_s)
        prices = [
            max(round_to_increment(Decimal(math.exp(p + offset)), inc, ROUND_HALF_EVEN), inc)
            for p in points
        ]
        bars: list[Candle] = []
        for j in range(SEGMENT_BARS):
            o, c = prices[j], prices[j + 1]
            wick_up = math.exp(abs(rng.gauss(0.0, 1.0)) * sigma * jitters[j] * 0.6)
            wick_down = math.exp(-abs(rng.gauss(0.0, 1.0)) * sigma * jitters[j] * 0.6)
            high = round_to_increment(max(o, c) * Decimal(wick_up), inc, ROUND_CEILING)
            low = max(round_to_increment(min(o, c) * Decimal(wick_down), inc, ROUND_FLOOR), inc)
            move = abs(points[j + 1] - points[j]) / max(sigma, 1e-12)
            mult = spec.volume * math.exp(0.35 * rng.gauss(0.0, 1.0) - 0.06) * (1 + 0.15 * move)
            if spikes[j]:
                mult *= rng.uniform(3.0, 7.0)
            volume = Decimal(quote_per_bar * mult / float(c)).quantize(Decimal("0.00000001"))
            bars.append(
                Candle(
                    ORIGIN + step * (first_bar + j), o, max(high, o, c), min(low, o, c), c, volume
                )
            )
        return tuple(bars)

    def _bar(self, product_id: str, n: int) -> Candle:
        segment, offset = divmod(n, SEGMENT_BARS)
        return self._segment(product_id, segment)[offset]

    # --- products ------------------------------------------------------------------------

    def _product(self, product_id: str, last: int) -> Product:
        sim = self._sims[product_id]
        base, quote = product_id.split("-", 1)
        product = Product(
            product_id=product_id,
            base_currency=base,
            quote_currency=quote,
            base_increment=sim.base_increment,
            quote_increment=sim.quote_increment,
            base_min_size=sim.base_min_size,
            base_max_size=_BASE_MAX,
            quote_min_size=sim.quote_min_size,
            quote_max_size=_QUOTE_MAX,
            price=self._bar(product_id, last).close,
            volume_24h_quote=self._volume_24h(product_id, last),
            price_change_24h_pct=self._change_24h(product_id, last),
        )
        return (
            dataclasses.replace(product, **self._flags[product_id])
            if self._flags[product_id]
            else product
        )

    def _change_24h(self, product_id: str, last: int) -> Decimal:
        """Close now against the close one day of bars earlier, in percent (2 places)."""
        then = self._bar(product_id, max(0, last - 86_400 // self.granularity_s)).close
        change = (self._bar(product_id, last).close / then - 1) * 100
        return change.quantize(Decimal("0.01"))

    def _volume_24h(self, product_id: str, last: int) -> Decimal:
        key = (product_id, last)
        cached = self._volume_cache.get(key)
        if cached is None:
            window = max(1, 86_400 // self.granularity_s)
            first = max(0, last - window + 1)
            end = ORIGIN + timedelta(seconds=self.granularity_s * (last + 1))
            begin = ORIGIN + timedelta(seconds=self.granularity_s * first)
            bars = self.get_candles(product_id, self.granularity_s, begin, end)
            cached = sum((b.volume * b.close for b in bars), Decimal(0)).quantize(Decimal("0.01"))
            if len(self._volume_cache) > 64:
                self._volume_cache.clear()
            self._volume_cache[key] = cached
        return cached
