"""The regime over real candle history, bar by bar, as the cycle reads it (no cycle around it).

Shared by tests/integration/test_regime_real_candles.py and bench/regime_report.py. Each bar,
every product's window is the one the snapshot would fetch (closed bars starting in the
regime's window before the bar closed), and the memory passes from one reading to the next
as the state carries it between cycles.
"""

from __future__ import annotations

import itertools
import statistics
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from trader.adapters.sim.csv_market import load_candle_file
from trader.adapters.sim.synthetic import ORIGIN, SyntheticMarket
from trader.domain.config import RegimeConfig, SimulatorConfig, regime_bars_to_fetch
from trader.domain.models import Candle
from trader.domain.state import RegimeMemory
from trader.pipeline.gauges import GaugeCache
from trader.pipeline.regime import detect_regime

REPO = Path(__file__).resolve().parents[2]
CANDLES = REPO.parent / "shared" / "data" / "candles"


@dataclass(frozen=True, slots=True)
class CandleSet:
    name: str
    granularity_s: int
    files: Mapping[str, str]  # product id the regime reads -> file name


SETS = (
    CandleSet(
        "coinbase-15m",
        900,
        {p: f"{p}_15m_coinbase.csv" for p in ("BTC-USD", "ETH-USD", "SOL-USD")},
    ),
    # Binance's USDT pairs, read under the USD ids the config names
    CandleSet(
        "binance-5m",
        300,
        {f"{b}-USD": f"{b}-USDT_5m_binance.csv" for b in ("BTC", "ETH", "SOL")},
    ),
)


@dataclass(frozen=True, slots=True)
class KnownCrash:
    """A crash the candles README lists: the days it spans (UTC, inclusive)."""

    candle_set: str
    first: date
    last: date
    what: str


KNOWN_CRASHES = (
    KnownCrash("coinbase-15m", date(2024, 8, 2), date(2024, 8, 7), "BTC low 49,050 on 08-05"),
    KnownCrash("coinbase-15m", date(2025, 4, 4), date(2025, 4, 10), "tariff sell-off"),
    KnownCrash("coinbase-15m", date(2025, 10, 10), date(2025, 10, 10), "flash crash"),
    # the README's largest single-bar falls (real events) that are not in its windows
    KnownCrash("coinbase-15m", date(2025, 2, 3), date(2025, 2, 3), "ETH -9.6% bar at 01:45"),
    KnownCrash("coinbase-15m", date(2026, 2, 5), date(2026, 2, 6), "BTC 60,001 low, -4.3% bar"),
    KnownCrash("binance-5m", date(2021, 5, 12), date(2021, 5, 24), "05-19: BTC -14% in a day"),
)


def available(candles_dir: Path = CANDLES) -> bool:
    return all((candles_dir / f).exists() for s in SETS for f in s.files.values())


def load_set(candle_set: CandleSet, candles_dir: Path = CANDLES) -> dict[str, list[Candle]]:
    return {
        pid: load_candle_file(candles_dir / name).candles for pid, name in candle_set.files.items()
    }


@dataclass(frozen=True, slots=True)
class History:
    """The regime after each bar of the reference product."""

    bars: tuple[datetime, ...]  # start of each reference bar read
    names: tuple[str, ...]
    seconds: float  # time spent in detect_regime, all bars

    @property
    def per_call_us(self) -> float:
        return self.seconds / len(self.bars) * 1e6


def replay_regime(
    candles: Mapping[str, Sequence[Candle]],
    cfg: RegimeConfig,
    granularity_s: int,
    cache: GaugeCache | None = None,
) -> History:
    """detect_regime after every bar of the reference product, memory carried along."""
    step = timedelta(seconds=granularity_s)
    span = step * (regime_bars_to_fetch(cfg, granularity_s) + 1)  # as the snapshot asks
    starts = {pid: [c.start for c in bars] for pid, bars in candles.items()}
    cache = cache or GaugeCache()
    memory: RegimeMemory | None = None
    bars, names, spent = [], [], 0.0
    for bar in candles[cfg.reference_product]:
        now = bar.start + step  # the cycle after the bar closed
        windows = {
            pid: series[bisect_left(starts[pid], now - span) : bisect_left(starts[pid], now)]
            for pid, series in candles.items()
        }
        began = time.perf_counter()
        regime = detect_regime(windows, memory, cfg, granularity_s, cache)
        spent += time.perf_counter() - began
        memory = regime.memory
        bars.append(bar.start)
        names.append(regime.name)
    return History(tuple(bars), tuple(names), spent)


@dataclass(frozen=True, slots=True)
class Runs:
    """A regime's runs: how often it changed and how long each regime lasted."""

    flips_per_day: float
    lengths: tuple[int, ...]  # bars per run, in order
    share: Mapping[str, float]  # of the bars read (unknown included)

    def length_percentiles(self, granularity_s: int) -> dict[int, float]:
        """Run length in hours at the 10th, 25th, 50th, 75th and 90th percentiles."""
        cuts = statistics.quantiles(self.lengths, n=20, method="inclusive")
        hours = granularity_s / 3600
        return {p: cuts[p // 5 - 1] * hours for p in (10, 25, 50, 75, 90)}


def runs_of(history: History) -> Runs:
    names = [n for n in history.names if n != "unknown"]  # the warm-up before a full window
    lengths: list[int] = []
    for i, name in enumerate(names):
        if i and name == names[i - 1]:
            lengths[-1] += 1
        else:
            lengths.append(1)
    days = (history.bars[-1] - history.bars[0]) / timedelta(days=1)
    counts = Counter(history.names)
    share = {name: count / len(history.names) for name, count in counts.items()}
    return Runs((len(lengths) - 1) / days, tuple(lengths), share)


@dataclass(frozen=True, slots=True)
class CrashCall:
    crash: KnownCrash
    anchor: datetime  # the bar of the event's steepest fall (median of the products)
    called_at: datetime | None  # the first bar from the anchor on that reads crash


def steepest_fall(candles: Mapping[str, Sequence[Candle]], crash: KnownCrash) -> datetime:
    """The bar in the crash's days whose close fell most against the bar before (the median
    of the products' falls): the moment a reader would call it a crash, whatever the
    detector."""
    first = datetime(crash.first.year, crash.first.month, crash.first.day, tzinfo=UTC)
    last = datetime(crash.last.year, crash.last.month, crash.last.day, tzinfo=UTC)
    falls: dict[datetime, list[float]] = {}
    for bars in candles.values():
        for before, bar in itertools.pairwise(bars):
            if first <= bar.start < last + timedelta(days=1):
                falls.setdefault(bar.start, []).append(float(bar.close / before.close - 1))
    full = {t: statistics.median(f) for t, f in falls.items() if len(f) == len(candles)}
    return min(full, key=lambda t: (full[t], t))


def crash_calls(
    history: History, candles: Mapping[str, Sequence[Candle]], candle_set: str
) -> list[CrashCall]:
    """For each known crash of the set: its anchor bar and when, from there on, the regime
    first read crash (None: not within the history)."""
    calls = []
    for crash in (c for c in KNOWN_CRASHES if c.candle_set == candle_set):
        anchor = steepest_fall(candles, crash)
        at = history.bars.index(anchor)
        called = next(
            (history.bars[i] for i in range(at, len(history.bars)) if history.names[i] == "crash"),
            None,
        )
        calls.append(CrashCall(crash, anchor, called))
    return calls


@dataclass(frozen=True, slots=True)
class CrashEpisode:
    started: datetime
    ended: datetime  # start of its last bar
    known: KnownCrash | None  # the README's crash it started in, if any

    @property
    def days(self) -> tuple[date, ...]:
        first, last = self.started.date(), self.ended.date()
        return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def crash_episodes(history: History, candle_set: str) -> list[CrashEpisode]:
    """Every run of crash readings, with the known crash it started in (None: a false call,
    as far as the README knows)."""
    known = [c for c in KNOWN_CRASHES if c.candle_set == candle_set]
    episodes: list[CrashEpisode] = []
    start: int | None = None
    for i, name in enumerate((*history.names, "")):
        if name == "crash" and start is None:
            start = i
        elif name != "crash" and start is not None:
            began = history.bars[start]
            match = next((c for c in known if c.first <= began.date() <= c.last), None)
            episodes.append(CrashEpisode(began, history.bars[i - 1], match))
            start = None
    return episodes


def false_crash_days(episodes: Sequence[CrashEpisode]) -> list[date]:
    return sorted({d for e in episodes if e.known is None for d in e.days})


# The synthetic market's regimes last 6-hour segments (two on average); these windows fit
# that time scale, as the defaults fit a real market's (a trend over a day, a 16 h dwell).
SYNTHETIC_SCALE = {
    "trend_hours": Decimal(6),
    "volatility_hours": Decimal(2),
    "crash_hours": Decimal(3),
    "crash_pct": Decimal(6),
    "crash_sigmas": Decimal(2),
    "crash_hold_pct": Decimal(4),
    "min_dwell_hours": Decimal(3),
    "crash_min_dwell_hours": Decimal(1),
}
REGIMES = ("trending_up", "trending_down", "choppy", "volatile", "crash")


class _Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def synthetic_candles(
    sim: SimulatorConfig, products: Sequence[str], days: int, granularity_s: int = 300
) -> tuple[dict[str, list[Candle]], SyntheticMarket]:
    """`days` of the synthetic market's bars from its origin, and the market (its truth)."""
    end = ORIGIN + timedelta(days=days)
    market = SyntheticMarket(sim, _Clock(end), granularity_s)
    candles = {p: list(market.get_candles(p, granularity_s, ORIGIN, end)) for p in products}
    return candles, market


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    detected: int  # bars read as the regime
    true: int  # bars the market was in it


def scores(history: History, market: SyntheticMarket) -> dict[str, Score]:
    """Per regime, over the bars with a reading: precision and recall against the regime the
    synthetic market generated at each bar."""
    pairs = [
        (market.regime_at(bar), name)
        for bar, name in zip(history.bars, history.names, strict=True)
        if name != "unknown"
    ]
    out = {}
    for regime in REGIMES:
        hits = sum(1 for t, d in pairs if t == d == regime)
        detected = sum(1 for _, d in pairs if d == regime)
        true = sum(1 for t, _ in pairs if t == regime)
        out[regime] = Score(hits / max(detected, 1), hits / max(true, 1), detected, true)
    return out
