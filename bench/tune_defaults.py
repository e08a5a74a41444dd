"""Tune the entry/exit defaults on real Coinbase 15-minute candles; report out-of-sample.

    .venv/bin/python bench/tune_defaults.py run [--period in|out|both] [--overrides JSON]
    .venv/bin/python bench/tune_defaults.py grid --stage shapes [--workers 2]   # in-sample only

`run` replays config/examples/replay-coinbase-15m.yaml (with any overrides) and prints its
figures beside each product's buy-and-hold and an equal-weight basket; `grid` replays each
named point of a stage (shapes, shapes2, around, final: STAGES) over the in-sample period
only, one JSON line per point. `--days N` cuts each period to its first N days (a smoke run).

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
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
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
    raw = merged(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), overrides)
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


def trend(
    momentum: tuple[int, float, float], breakout: tuple[int, float], fetched: int
) -> dict[str, dict[str, Any]]:
    """Momentum (bars, min %, full-strength %) and breakout (bars, margin %), no volume spike."""
    bars, min_return, full = momentum
    return {
        "cycle": {"lookback_bars": fetched},
        "triggers": {
            "volume_spike": {"enabled": False},
            "breakout": {
                "enabled": True,
                "lookback_bars": breakout[0],
                "min_margin_pct": breakout[1],
            },
            "momentum": {
                "enabled": True,
                "lookback_bars": bars,
                "min_return_pct": min_return,
                "full_strength_return_pct": full,
            },
        },
    }


def exits(stop: float, target: float, trail: float, arm: float, hours: int) -> dict[str, Any]:
    return {
        "stop_loss_pct": stop,
        "take_profit_pct": target,
        "trailing_stop_pct": trail,
        "trailing_arm_pct": arm,
        "max_holding_hours": hours,
    }


# Each stage is a list of named points (config overrides), replayed over the in-sample period.
# "shapes": how the bot looks for trades (triggers, exits), each with the guards on; "shapes2"
# and "around" vary the best of the stage before (bench/README.md has every figure).
# The example config as it was when the grid ran (every tuned field pinned, so later changes
# of the example or of the schema's defaults do not move these figures).
GRID_BASE: dict[str, dict[str, Any]] = {
    "cycle": {"lookback_bars": 48},
    "triggers": {
        "volume_spike": {
            "enabled": True,
            "lookback_bars": 20,
            "min_ratio": 3,
            "min_return_pct": 0.2,
        },
        "breakout": {"enabled": True, "lookback_bars": 24, "min_margin_pct": 0.1},
        "momentum": {
            "enabled": True,
            "lookback_bars": 12,
            "min_return_pct": 1,
            "full_strength_return_pct": 4,
        },
    },
    "rules": {
        "min_signals": 1,
        "regime_size_multiplier": {
            "trending_up": 1,
            "choppy": 0.5,
            "volatile": 0.5,
            "trending_down": 0.25,
            "crash": 0,
            "unknown": 0.5,
        },
    },
    "risk": {"cooldown_minutes_after_loss": 60, "cooldown_minutes_after_exit": 0},
    "exits": exits(3, 6, 2, 2, 48),
    "edge": {"enabled": True, "atr_bars": 14, "atr_multiple": 3, "cost_margin": 1.5},
    "execution": {"post_only_entries": False, "unfilled_entry_fallback": "none"},
}


# trends over hours, not minutes: fewer, larger moves for the same fees
SLOW = {**trend((48, 3, 8), (96, 0.5), 100), "exits": exits(5, 12, 4, 6, 96)}
# a day's momentum, two days' breakout, room to run
SLOWER = {**trend((96, 5, 12), (192, 1), 200), "exits": exits(7, 20, 6, 10, 240)}
ONLY_TRENDING_UP = {
    "rules": {
        "regime_size_multiplier": {
            "trending_up": 1,
            "choppy": 0,
            "volatile": 0,
            "trending_down": 0,
            "crash": 0,
            "unknown": 0,
        }
    }
}
GUARDS = {"edge": {"cost_margin": 2}, "risk": {"cooldown_minutes_after_exit": 240}}


def merged(*parts: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sections merged field by field, later parts winning (one level deep)."""
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        for section, fields in part.items():
            out[section] = {**out.get(section, {}), **fields}
    return out


SHAPES: dict[str, dict[str, dict[str, Any]]] = {
    "today": merged(GUARDS, {"exits": {"trailing_arm_pct": 2}}),
    "today_wide_exits": merged(GUARDS, {"exits": SLOW["exits"]}),
    "slow": merged(SLOW, GUARDS),
    "slow_two_signals": merged(SLOW, GUARDS, {"rules": {"min_signals": 2}}),
    "slow_trending_up": merged(SLOW, GUARDS, ONLY_TRENDING_UP),
    "slow_momentum_only": merged(
        SLOW, GUARDS, {"triggers": {**SLOW["triggers"], "breakout": {"enabled": False}}}
    ),
}
SLOW_UP = merged(SLOW, GUARDS, ONLY_TRENDING_UP)
SHAPES.update(
    {
        "slow_trending_up_two_signals": merged(SLOW_UP, {"rules": {"min_signals": 2}}),
        "slow_trending_up_post_only": merged(SLOW_UP, {"execution": {"post_only_entries": True}}),
        "slow_trending_up_edge3": merged(SLOW_UP, {"edge": {"cost_margin": 3}}),
        "slow_trending_up_long_hold": merged(SLOW_UP, {"exits": exits(5, 20, 6, 10, 240)}),
        "slower": merged(SLOWER, GUARDS),
        "slower_trending_up": merged(SLOWER, GUARDS, ONLY_TRENDING_UP),
    }
)
SLOWER_UP = merged(SLOWER, GUARDS, ONLY_TRENDING_UP)
SHAPES.update(
    {
        "slower_trending_up_edge3": merged(SLOWER_UP, {"edge": {"cost_margin": 3}}),
        "slower_trending_up_edge_off": merged(SLOWER_UP, {"edge": {"enabled": False}}),
        "slower_trending_up_cooldown720": merged(
            SLOWER_UP, {"risk": {"cooldown_minutes_after_exit": 720}}
        ),
        "slower_trending_up_no_cooldown": merged(
            SLOWER_UP, {"risk": {"cooldown_minutes_after_exit": 0}}
        ),
        "slower_trending_up_two_signals": merged(SLOWER_UP, {"rules": {"min_signals": 2}}),
        "slower_trending_up_arm6": merged(
            SLOWER_UP, {"exits": {**SLOWER["exits"], "trailing_arm_pct": 6}}
        ),
        "slower_trending_up_post_only_market": merged(
            SLOWER_UP,
            {"execution": {"post_only_entries": True, "unfilled_entry_fallback": "market"}},
        ),
        "slower_trending_up_longer_hold": merged(SLOWER_UP, {"exits": exits(8, 30, 8, 15, 480)}),
    }
)
LONGER_HOLD = SHAPES["slower_trending_up_longer_hold"]
SHAPES.update(
    {
        "longer_hold_cooldown720": merged(
            LONGER_HOLD, {"risk": {"cooldown_minutes_after_exit": 720}}
        ),
        "longer_hold_two_signals": merged(LONGER_HOLD, {"rules": {"min_signals": 2}}),
        "longer_hold_edge3": merged(LONGER_HOLD, {"edge": {"cost_margin": 3}}),
        "longer_hold_edge2.5_cooldown720": merged(
            LONGER_HOLD,
            {"edge": {"cost_margin": 2.5}, "risk": {"cooldown_minutes_after_exit": 720}},
        ),
    }
)
# After the regime was rebuilt (breadth, hysteresis, dwell; pipeline/regime.py): which regimes
# may enter, and whether a falling regime tightens the stop, around the chosen point. The
# regime's own settings are not tuned here (they were chosen for its flip rate and crash calls).
CHOSEN = SHAPES["longer_hold_cooldown720"]
ENTER_ALSO = {"choppy": 0.5, "volatile": 0.5}
NO_REGIME_STOPS = {"exits": {"regime_stop_loss_pct": {"trending_down": 8, "crash": 8}}}


def entering_in(*regimes: str) -> dict[str, dict[str, Any]]:
    """Entries in trending_up at full size and in `regimes` at half size; nowhere else."""
    sizes = ONLY_TRENDING_UP["rules"]["regime_size_multiplier"]
    return {"rules": {"regime_size_multiplier": {**sizes, **{r: ENTER_ALSO[r] for r in regimes}}}}


for _label, _regimes in (
    ("up", ()),
    ("up_choppy", ("choppy",)),
    ("up_choppy_volatile", ("choppy", "volatile")),
):
    SHAPES[f"regime_{_label}"] = merged(CHOSEN, entering_in(*_regimes))
    SHAPES[f"regime_{_label}_no_regime_stops"] = merged(
        CHOSEN, entering_in(*_regimes), NO_REGIME_STOPS
    )

# No point of the stage "regime" kept fees within 30 % of gross in-sample (regime_up: 31.1 %):
# fewer, better-paid entries around it.
REGIME_UP = SHAPES["regime_up"]
SHAPES.update(
    {
        "regime_up_edge2.5": merged(REGIME_UP, {"edge": {"cost_margin": 2.5}}),
        "regime_up_edge3": merged(REGIME_UP, {"edge": {"cost_margin": 3}}),
        "regime_up_two_signals": merged(REGIME_UP, {"rules": {"min_signals": 2}}),
        "regime_up_cooldown1440": merged(
            REGIME_UP, {"risk": {"cooldown_minutes_after_exit": 1440}}
        ),
    }
)

STAGES = {  # in the order they were run; each stage's shapes follow from the one before
    "shapes": list(SHAPES)[:6],
    "shapes2": list(SHAPES)[6:12],
    "around": list(SHAPES)[12:20],
    "final": list(SHAPES)[20:24],
    "regime": list(SHAPES)[24:30],
    "regime2": list(SHAPES)[30:],
}


def _run_point(
    named: tuple[str, dict[str, Any]], period: tuple[datetime, datetime]
) -> dict[str, Any]:
    name, point = named
    began = time.perf_counter()
    metrics = replay(config_with(point), *period)
    seconds = round(time.perf_counter() - began, 1)
    return {"name": name, "point": point, "seconds": seconds, **asdict(metrics)}


def _print(row: Mapping[str, Any]) -> None:
    print(json.dumps(row, default=str), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("what", choices=("run", "grid"))
    parser.add_argument("--overrides", default="{}", help='run: JSON, e.g. {"edge": {...}}')
    parser.add_argument("--period", choices=("in", "out", "both"), default="both")
    parser.add_argument("--stage", choices=sorted(STAGES), default="shapes")
    parser.add_argument("--workers", type=int, default=1, help="grid: processes")
    parser.add_argument("--days", type=int, default=None, help="only the first N days (smoke)")
    args = parser.parse_args(argv)
    if not (CANDLES / "BTC-USD_15m_coinbase.csv").exists():
        print(f"real candles not found at {CANDLES}", file=sys.stderr)
        return 2
    periods = {"in": [IN_SAMPLE], "out": [OUT_OF_SAMPLE], "both": [IN_SAMPLE, OUT_OF_SAMPLE]}
    chosen = periods["in" if args.what == "grid" else args.period]
    if args.days:
        chosen = [(s, min(e, s + timedelta(days=args.days))) for s, e in chosen]
    if args.what == "grid":
        points = [(name, merged(GRID_BASE, SHAPES[name])) for name in STAGES[args.stage]]
        with ProcessPoolExecutor(args.workers) as pool:
            for row in pool.map(_run_point, points, itertools.repeat(chosen[0])):
                _print(row)
        return 0
    for period in chosen:
        _print(_run_point(("run", json.loads(args.overrides)), period))
        _print({"benchmarks": buy_and_hold(*period)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
