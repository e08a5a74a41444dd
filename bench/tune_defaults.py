"""Tune the entry/exit defaults on real Coinbase 15-minute candles; report out-of-sample.

    .venv/bin/python bench/tune_defaults.py baseline            # today's example config, both periods
    .venv/bin/python bench/tune_defaults.py grid [--workers 2]  # the in-sample grid (<= 2025-06-30)
    .venv/bin/python bench/tune_defaults.py check               # config/examples/replay-coinbase-15m.yaml
                                                                # in-sample and out-of-sample

Every run is the unchanged `run_cycle` in PAPER mode over the candles in
../shared/data/candles (BTC, ETH, SOL-USD), one cycle per 15-minute bar, on a fresh
in-memory state, lock and audit. The harness is deliberately small and local to this script
(`trader replay` is a separate piece of work). In-sample ends 2025-06-30 23:45 UTC; the
out-of-sample period starts 2025-07-01 00:00 UTC and is never used to choose a value.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from trader.adapters.clock import SteppingClock
from trader.adapters.memory import InMemoryCycleLock
from trader.adapters.sim.csv_market import load_candle_file
from trader.adapters.sim.exchange import build_simulated_exchange
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.config import Config, parse_config
from trader.domain.ids import cycle_id_for
from trader.domain.models import Mode, OrderStatus
from trader.domain.state import PortfolioState
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle

ROOT = Path(__file__).resolve().parents[1]
CANDLES = ROOT.parent / "shared" / "data" / "candles"
EXAMPLE = ROOT / "config" / "examples" / "replay-coinbase-15m.yaml"
PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD")
BAR = 900
WARM_UP_BARS = 60  # the regime's and triggers' lookback before the first counted bar
IN_SAMPLE = (datetime(2024, 4, 20, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
OUT_OF_SAMPLE = (datetime(2025, 7, 1, tzinfo=UTC), datetime(2026, 5, 8, 16, 45, tzinfo=UTC))


class _KeptState:
    """A StateStore that keeps the object itself (no JSON, no file): replay speed only."""

    def __init__(self) -> None:
        self.state = PortfolioState()

    def load(self) -> PortfolioState:
        return self.state

    def save(self, state: PortfolioState, lease: object) -> PortfolioState:
        self.state = state.replace(version=state.version + 1)
        return self.state


class _NoAudit:
    def write(self, record: Mapping[str, Any]) -> None:
        """Records are dropped; the cycle results carry what the report needs."""


@dataclass(frozen=True)
class Metrics:
    period: str
    start_equity: float
    end_equity: float
    return_pct: float
    max_drawdown_pct: float
    fees: float
    gross_pnl: float  # net PnL + fees
    fees_share_of_gross: float | None  # fees / gross when gross > 0
    orders: int  # orders the exchange accepted (filled or resting)
    cycles: int
    no_trade: dict[str, int]


def config_with(overrides: Mapping[str, Mapping[str, Any]]) -> Config:
    """The example replay config with some fields of some sections replaced."""
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for section, fields in overrides.items():
        raw[section] = {**raw.get(section, {}), **fields}
    return parse_config(raw, source=f"{EXAMPLE.name} + {dict(overrides)}")


def coinbase_only(folder: Path) -> Path:
    """A folder of links to the three Coinbase files only (the CSV market reads every file
    in its folder, and the Binance ones are not part of this replay)."""
    folder.mkdir(parents=True, exist_ok=True)
    for pid in PRODUCTS:
        link = folder / f"{pid}_15m_coinbase.csv"
        if not link.exists():
            link.symlink_to(CANDLES / link.name)
    return folder


def replay(cfg: Config, start: datetime, end: datetime) -> Metrics:
    """One cycle per bar from `start` to `end` (exclusive), fresh PAPER account."""
    clock = SteppingClock(start, BAR)
    candles = coinbase_only(Path(tempfile.gettempdir()) / "tune_defaults_candles")
    deps = CycleDeps(
        config=cfg,
        exchange=build_simulated_exchange(cfg, clock, candles),
        store=_KeptState(),
        lock=InMemoryCycleLock(),
        audit=_NoAudit(),
        clock=clock,
        paper=SimulatedPaperAccounts(cfg, clock),
    )
    equity: list[float] = []
    orders, no_trade, last = 0, {}, None
    while clock.now() < end:
        request = CycleRequest(cycle_id_for(clock.now(), BAR), Mode.PAPER, "tune")
        last = run_cycle(deps, request)
        if last.record.get("exception"):
            raise RuntimeError(f"{request.cycle_id}: {last.record['exception']}")
        orders += sum(o.status is not OrderStatus.REJECTED for o in last.orders)
        if last.no_trade_reason:
            no_trade[last.no_trade_reason] = no_trade.get(last.no_trade_reason, 0) + 1
        if last.equity is not None:
            equity.append(float(last.equity))
        clock.advance()
    fees = float(last.fees_total or 0) if last else 0.0
    return _metrics(f"{start:%Y-%m-%d}..{end:%Y-%m-%d}", equity, fees, orders, no_trade)


def _metrics(
    period: str, equity: Sequence[float], fees: float, orders: int, no_trade: dict[str, int]
) -> Metrics:
    first, final = equity[0], equity[-1]
    gross = final - first + fees
    return Metrics(
        period=period,
        start_equity=round(first, 2),
        end_equity=round(final, 2),
        return_pct=round((final / first - 1) * 100, 2),
        max_drawdown_pct=round(max_drawdown_pct(equity), 2),
        fees=round(fees, 2),
        gross_pnl=round(gross, 2),
        fees_share_of_gross=round(fees / gross * 100, 1) if gross > 0 else None,
        orders=orders,
        cycles=len(equity),
        no_trade=dict(sorted(no_trade.items(), key=lambda kv: -kv[1])),
    )


def max_drawdown_pct(equity: Sequence[float]) -> float:
    peak, worst = 0.0, 0.0
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, (peak - value) / peak * 100)
    return worst


def buy_and_hold(start: datetime, end: datetime) -> dict[str, dict[str, float]]:
    """Each product held alone, and an equal-weight basket (a third each, never rebalanced):
    return and max drawdown on the 15-minute closes, no fees."""
    curves = {pid: _closes(pid, start, end) for pid in PRODUCTS}
    length = min(len(c) for c in curves.values())
    basket = [sum(curves[p][i] / curves[p][0] for p in PRODUCTS) / 3 for i in range(length)]
    out = {pid: _curve_figures(c) for pid, c in curves.items()}
    out["equal_weight"] = _curve_figures(basket)
    return out


def _closes(pid: str, start: datetime, end: datetime) -> list[float]:
    series = load_candle_file(CANDLES / f"{pid}_15m_coinbase.csv")
    return [float(c.close) for c in series.candles if start <= c.start < end]


def _curve_figures(curve: Sequence[float]) -> dict[str, float]:
    return {
        "return_pct": round((curve[-1] / curve[0] - 1) * 100, 2),
        "max_drawdown_pct": round(max_drawdown_pct(curve), 2),
    }


# --- the grid ------------------------------------------------------------------------------

GRID: dict[str, dict[str, tuple[Any, ...]]] = {}


def grid_points(grid: Mapping[str, Mapping[str, Sequence[Any]]]) -> Iterator[dict[str, Any]]:
    keys = [(s, f) for s, fields in grid.items() for f in fields]
    for values in itertools.product(*(grid[s][f] for s, f in keys)):
        point: dict[str, dict[str, Any]] = {}
        for (section, field), value in zip(keys, values, strict=True):
            point.setdefault(section, {})[field] = value
        yield point


def _run_point(point: dict[str, Any], period: tuple[datetime, datetime]) -> dict[str, Any]:
    began = time.perf_counter()
    metrics = replay(config_with(point), *period)
    return {"point": point, "seconds": round(time.perf_counter() - began, 1), **asdict(metrics)}


def _print(row: Mapping[str, Any]) -> None:
    print(json.dumps(row, default=str), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("baseline", "grid", "check"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--days", type=int, default=None, help="only the first N days (smoke)")
    args = parser.parse_args(argv)
    if not (CANDLES / "BTC-USD_15m_coinbase.csv").exists():
        print(f"real candles not found at {CANDLES}", file=sys.stderr)
        return 2
    periods = [IN_SAMPLE, OUT_OF_SAMPLE]
    if args.days:
        periods = [(s, min(e, s + timedelta(days=args.days))) for s, e in periods]
    if args.what == "grid":
        points = list(grid_points(GRID))
        with ProcessPoolExecutor(args.workers) as pool:
            for row in pool.map(_run_point, points, itertools.repeat(periods[0])):
                _print(row)
        return 0
    overrides = BASELINE if args.what == "baseline" else {}
    for period in periods:
        _print(_run_point(overrides, period))
        _print({"benchmarks": buy_and_hold(*period)})
    return 0


BASELINE: dict[str, dict[str, Any]] = {}

if __name__ == "__main__":
    sys.exit(main())
