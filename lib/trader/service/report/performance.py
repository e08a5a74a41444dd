"""The report of a run: the strategy's figures beside buy-and-hold, its trades, and why it
did not trade (pure: a RunHistory in, a Report out; see metrics.NOTES for definitions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from trader.service.report.history import Point, RunHistory, Trade
from trader.service.report.metrics import NOTES, ZERO, SeriesStats, drawdowns, series_stats

EQUAL_WEIGHT = "equal-weight"
GAP_FACTOR = Decimal("1.5")  # a step this many cycle intervals long has missing cycles


@dataclass(frozen=True, slots=True)
class TradeStats:
    closed: int
    still_open: int
    win_rate: Decimal | None  # winners / closed trades (net of fees)
    profit_factor: Decimal | None  # sum of wins / |sum of losses|; None: no losing trade
    gross_pnl: Decimal  # equity change + fees: what the trades made before fees
    fees: Decimal
    fee_share_of_gross: Decimal | None  # fees / gross PnL; None when gross PnL <= 0
    time_in_market: Decimal  # share of cycles holding any position
    avg_exposure: Decimal  # mean of exposure / equity over the cycles
    turnover: Decimal  # bought + sold notional / mean equity
    fills: int


@dataclass(frozen=True, slots=True)
class Band:
    """A stretch of cycles in one regime."""

    start: datetime
    end: datetime
    regime: str


@dataclass(frozen=True, slots=True)
class Report:
    start: datetime
    end: datetime
    cycles: int
    interval: timedelta  # the usual step between cycles
    missing_cycles: int  # steps longer than 1.5 intervals, counted in intervals
    modes: dict[str, int]
    products: tuple[str, ...]
    strategy: SeriesStats
    trade_stats: TradeStats
    benchmarks: dict[str, SeriesStats]  # product (buy-and-hold) or EQUAL_WEIGHT
    benchmark_equity: dict[str, tuple[Decimal, ...]]  # the same, valued at each equity time
    trades: tuple[Trade, ...]
    exit_reasons: dict[str, tuple[int, Decimal]]  # kind -> trades, net PnL
    no_trade_reasons: dict[str, int]  # every cycle outcome; "traded" for cycles that did
    regimes: tuple[Band, ...]
    regime_cycles: dict[str, int]  # cycles per regime, most first
    equity: tuple[tuple[datetime, Decimal], ...]
    drawdown: tuple[Decimal, ...]
    prices: dict[str, tuple[tuple[datetime, Decimal], ...]]
    notes: tuple[str, ...] = NOTES
    extra: dict[str, object] = field(default_factory=dict)  # e.g. a replay's skipped candles


class EmptyRun(ValueError):
    """No cycle record with an equity: nothing to report."""


def build_report(history: RunHistory, products: Sequence[str] | None = None) -> Report:
    """The whole report; `products` picks the benchmarks (default: those priced most)."""
    points = [p for p in history.points if p.equity is not None]
    if not points:
        raise EmptyRun("no cycle record with an equity value: nothing to report")
    times = [p.time for p in points]
    values = [p.equity for p in points if p.equity is not None]
    chosen = tuple(products) if products else _priced_products(points)
    prices = {pid: _price_series(points, pid) for pid in chosen}
    interval = _usual_step(times)
    paths = _benchmark_paths(times, values[0], prices)
    return Report(
        start=times[0],
        end=times[-1],
        cycles=len(history.points),
        interval=interval,
        missing_cycles=_missing_cycles(times, interval),
        modes=dict(history.modes),
        products=chosen,
        strategy=series_stats(times, values),
        trade_stats=_trade_stats(history, points, values),
        benchmarks={name: series_stats(times, path) for name, path in paths.items()},
        benchmark_equity={name: tuple(path) for name, path in paths.items()},
        trades=tuple(history.trades),
        exit_reasons=_exit_reasons(history.trades),
        no_trade_reasons=dict(history.outcomes.most_common()),
        regimes=_bands(points),
        regime_cycles=dict(Counter(p.regime or "unknown" for p in points).most_common()),
        equity=tuple(zip(times, values, strict=True)),
        drawdown=tuple(drawdowns(values)),
        prices={pid: tuple(s) for pid, s in prices.items()},
    )


def _trade_stats(
    history: RunHistory, points: Sequence[Point], values: Sequence[Decimal]
) -> TradeStats:
    closed = [t for t in history.trades if not t.open]
    wins = sum((t.pnl for t in closed if t.pnl > 0), ZERO)
    losses = sum((t.pnl for t in closed if t.pnl < 0), ZERO)
    fees = sum((f.fee for f in history.fills), ZERO)
    gross = values[-1] - values[0] + fees
    traded = sum((f.size * f.price for f in history.fills), ZERO)
    mean_equity = sum(values, ZERO) / len(values)
    shares = [(p.exposure or ZERO) / p.equity for p in points if p.equity]
    return TradeStats(
        closed=len(closed),
        still_open=len(history.trades) - len(closed),
        win_rate=Decimal(sum(1 for t in closed if t.pnl > 0)) / len(closed) if closed else None,
        profit_factor=wins / -losses if losses < 0 else None,
        gross_pnl=gross,
        fees=fees,
        fee_share_of_gross=fees / gross if gross > 0 else None,
        time_in_market=Decimal(sum(1 for p in points if p.exposure)) / len(points),
        avg_exposure=sum(shares, ZERO) / len(shares) if shares else ZERO,
        turnover=traded / mean_equity if mean_equity > 0 else ZERO,
        fills=len(history.fills),
    )


def _priced_products(points: Sequence[Point], limit: int = 10) -> tuple[str, ...]:
    """Products with a price in at least half the cycles, most often priced first."""
    seen: Counter[str] = Counter(pid for p in points for pid in p.prices)
    common = [pid for pid, n in seen.most_common() if n * 2 >= len(points)]
    return tuple(sorted(common[:limit]))


def _price_series(points: Sequence[Point], pid: str) -> list[tuple[datetime, Decimal]]:
    return [(p.time, p.prices[pid]) for p in points if pid in p.prices]


def _benchmark_paths(
    times: Sequence[datetime],
    start_equity: Decimal,
    prices: Mapping[str, Sequence[tuple[datetime, Decimal]]],
) -> dict[str, list[Decimal]]:
    """The starting equity held in each product from its first price, and in the equal-weight
    basket of them all, valued at each of `times`."""
    relative: dict[str, list[Decimal]] = {}
    for pid, series in prices.items():
        if len(series) < 2:
            continue
        path = _carried(times, series)
        first = next(p for p in path if p > 0)
        relative[pid] = [p / first for p in path]
    out = {pid: [start_equity * r for r in rel] for pid, rel in relative.items()}
    if len(relative) > 1:
        rows = zip(*relative.values(), strict=True)
        out[EQUAL_WEIGHT] = [start_equity * sum(row, ZERO) / len(relative) for row in rows]
    return out


def _carried(
    times: Sequence[datetime], series: Sequence[tuple[datetime, Decimal]]
) -> list[Decimal]:
    """The series' price at each of `times`: the last one known (the first one before that)."""
    out, i, last = [], 0, series[0][1]
    for moment in times:
        while i < len(series) and series[i][0] <= moment:
            last = series[i][1]
            i += 1
        out.append(last)
    return out


def _exit_reasons(trades: Sequence[Trade]) -> dict[str, tuple[int, Decimal]]:
    """Closed trades by the kind of their exit (the reason's first word), with net PnL."""
    counts: Counter[str] = Counter()
    pnl: dict[str, Decimal] = {}
    for t in trades:
        if t.open:
            continue
        kind = exit_kind(t.exit_reason)
        counts[kind] += 1
        pnl[kind] = pnl.get(kind, ZERO) + t.pnl
    return {kind: (n, pnl[kind]) for kind, n in counts.most_common()}


def exit_kind(reason: str) -> str:
    """`stop_loss -3.02% <= -3%` -> `stop_loss`; `not_tradable: ...` -> `not_tradable`."""
    word = reason.split(" ", 1)[0].rstrip(":")
    return word or "unknown"


def _bands(points: Sequence[Point]) -> tuple[Band, ...]:
    bands: list[Band] = []
    for point in points:
        name = point.regime or "unknown"
        if bands and bands[-1].regime == name:
            bands[-1] = Band(bands[-1].start, point.time, name)
        else:
            bands.append(Band(point.time, point.time, name))
    return tuple(bands)


def _usual_step(times: Sequence[datetime]) -> timedelta:
    steps = sorted(b - a for a, b in pairwise(times))
    return steps[len(steps) // 2] if steps else timedelta(0)


def _missing_cycles(times: Sequence[datetime], interval: timedelta) -> int:
    if not interval:
        return 0
    missing = 0
    for a, b in pairwise(times):
        if b - a >= interval * float(GAP_FACTOR):
            missing += round((b - a) / interval) - 1
    return missing
