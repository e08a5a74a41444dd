"""Replay speed: cycles per second of `trader replay`, beside backtesting.py on the same file.

    .venv/bin/python bench/replay_speed.py                     # ~3 min on the 2-core box
    .venv/bin/python bench/replay_speed.py --days 30 --profile 25
    .venv/bin/python bench/replay_speed.py --full              # the whole 3-product file too

Two replays, both through `run_replay` (the code `trader replay` runs), timed apart from
loading the candle files:

* real: BTC-USD, ETH-USD and SOL-USD 15-minute Coinbase candles (../shared/data/candles),
  config/examples/replay-coinbase-15m.yaml, `--days` days from 2024-11-05 (or --full);
* synthetic: 10 products x 5-minute bars. Only three real 5-minute files exist, so the ten are
  seeded random walks written to a temporary folder (one year, 105,120 bars each); the replay
  runs `--synthetic-days` of them and the one-year time is extrapolated from that rate unless
  --synthetic-full.

backtesting.py runs a 10/30 SMA cross over the whole BTC-USD 15-minute file in the same
process, and the ratio of its bars per second to the replay's cycles per second is printed.
CPU seconds (time.process_time) are printed beside wall seconds: on a shared machine the
wall clock also counts other sessions' work. The interpreter is printed too: how CPython was
built moves these figures by a quarter (bench/README.md, "The interpreter").
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDLES = ROOT.parent / "shared" / "data" / "candles"
EXAMPLE = ROOT / "config" / "examples" / "replay-coinbase-15m.yaml"
REAL_START = datetime(2024, 11, 5, tzinfo=UTC)
SYNTH_START = datetime(2025, 1, 1, tzinfo=UTC)
SYNTH_PRODUCTS = 10
SYNTH_BARS = 365 * 288  # a year of 5-minute bars

SYNTH_CONFIG = """
cycle: {interval_seconds: 300, candle_granularity_seconds: 300, lookback_bars: 200,
        max_snapshot_age_seconds: 300}
universe:
  filters: {min_volume_24h_quote: 1000000, max_spread_bps: 40}
  tiers:
    - {name: core, products: [P00-USD, P01-USD], position_size_pct: 8}
    - {name: rest, match_all: true, position_size_pct: 4}
regime: {reference_product: P00-USD, breadth_products: [P01-USD, P02-USD]}
"""


def synthetic_candles(folder: Path, products: int, bars: int) -> None:
    """Seeded walks: 0.3 % steps, prices to the cent, volumes that pass the filters."""
    start = int(SYNTH_START.timestamp())
    for n in range(products):
        rng = random.Random(n)
        close = 100.0 * (n + 1)
        lines = ["time,open,high,low,close,volume\n"]
        for i in range(bars):
            opened = close
            close = max(0.05, round(opened * (1 + rng.gauss(0, 0.003)), 2))
            high, low = max(opened, close) + 0.01, max(0.01, min(opened, close) - 0.01)
            volume = round(rng.uniform(5_000, 15_000) / close * 100, 4)
            lines.append(
                f"{start + i * 300},{opened:.2f},{high:.2f},{low:.2f},{close:.2f},{volume}\n"
            )
        (folder / f"P{n:02d}-USD_5m_synthetic.csv").write_text("".join(lines))


def timed_replay(candles: Path, config_path: Path, start, end, products, profile: int) -> dict:
    from trader.adapters.clock import SteppingClock
    from trader.domain.config import load_config
    from trader.entrypoints import replay
    from trader.entrypoints.runner import StopFlag
    from trader.service.report.history import HistoryBuilder

    config = load_config(config_path)
    out = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    options = replay.ReplayOptions(candles, out, start, end, products)
    clock = SteppingClock(datetime(1970, 1, 1, tzinfo=UTC), config.cycle.interval_seconds)
    wall, cpu = time.perf_counter(), time.process_time()
    market, _files = replay.open_market(options, config, clock)  # reads and checks every file
    for pid in market.product_ids():
        first = start or market.time_range(pid)[0]  # (--full: from each file's first bar)
        market.get_candles(pid, config.cycle.candle_granularity_seconds, first, first)
    load_wall, load_cpu = time.perf_counter() - wall, time.process_time() - cpu
    history = HistoryBuilder()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    run = replay.run_replay(options, config, history.add, StopFlag())
    if profiler:
        profiler.disable()
    shutil.rmtree(out, ignore_errors=True)
    if profiler:
        print_profile(profiler, profile)
    return {
        "cycles": run.cycles_run,
        "wall": run.seconds,
        "cpu": run.cpu_seconds,
        "load_wall": load_wall,
        "load_cpu": load_cpu,
    }


def print_profile(profiler: cProfile.Profile, top: int) -> None:
    for order in ("tottime", "cumulative"):
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.strip_dirs().sort_stats(order).print_stats(top)


def backtesting_py(path: Path) -> dict:
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    frame = pd.read_csv(path)
    frame.index = pd.to_datetime(frame.pop("time"), unit="s", utc=True)
    frame.columns = ["Open", "High", "Low", "Close", "Volume"]

    class SmaCross(Strategy):
        def init(self) -> None:
            close = pd.Series(self.data.Close)
            self.fast = self.I(lambda: close.rolling(10).mean())
            self.slow = self.I(lambda: close.rolling(30).mean())

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    test = Backtest(frame, SmaCross, cash=10_000_000, commission=0.001, finalize_trades=True)
    wall, cpu = time.perf_counter(), time.process_time()
    test.run()
    return {
        "bars": len(frame),
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
    }


def main() -> int:
    args = _args()
    if not CANDLES.exists():
        print(f"real candles not found at {CANDLES}", file=sys.stderr)
        return 1
    end = None if args.full else REAL_START + timedelta(days=args.days)
    real = timed_replay(
        CANDLES,
        EXAMPLE,
        None if args.full else REAL_START,
        end,
        ("BTC-USD", "ETH-USD", "SOL-USD"),
        args.profile,
    )
    folder = Path(tempfile.mkdtemp(prefix="replay-bench-candles-"))
    synthetic_candles(folder, SYNTH_PRODUCTS, SYNTH_BARS)
    config = folder / "synthetic.yaml"
    config.write_text(SYNTH_CONFIG)
    s_end = None if args.synthetic_full else SYNTH_START + timedelta(days=args.synthetic_days + 1)
    synth = timed_replay(folder, config, SYNTH_START + timedelta(days=1), s_end, None, 0)
    shutil.rmtree(folder, ignore_errors=True)
    bt = backtesting_py(CANDLES / "BTC-USD_15m_coinbase.csv")
    _print(real, synth, bt)
    return 0


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60, help="days of the real replay (60)")
    parser.add_argument("--full", action="store_true", help="the whole real 3-product file")
    parser.add_argument("--synthetic-days", type=int, default=10, help="days of the 10x5m run")
    parser.add_argument("--synthetic-full", action="store_true", help="the whole synthetic year")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="cProfile the real replay's cycles, print the top N entries",
    )
    return parser.parse_args()


def _print(real: dict, synth: dict, bt: dict) -> None:
    bt_rate = bt["bars"] / bt["cpu"]
    rows = [
        ("replay 3 x 15m real", real),
        (f"replay {SYNTH_PRODUCTS} x 5m synthetic", synth),
    ]
    print(
        f"\n{'run':<28}{'cycles':>9}{'wall s':>9}{'cpu s':>8}{'cycles/s cpu':>14}"
        f"{'cycles/s wall':>15}{'load cpu s':>12}{'bt ratio':>10}"
    )
    for name, r in rows:
        rate = r["cycles"] / r["cpu"]
        print(
            f"{name:<28}{r['cycles']:>9,}{r['wall']:>9.1f}{r['cpu']:>8.1f}{rate:>14,.0f}"
            f"{r['cycles'] / r['wall']:>15,.0f}{r['load_cpu']:>12.1f}{bt_rate / rate:>9,.0f}x"
        )
    print(
        f"{'backtesting.py SMA, BTC 15m':<28}{bt['bars']:>9,}{bt['wall']:>9.1f}{bt['cpu']:>8.1f}"
        f"{bt_rate:>14,.0f}{bt['bars'] / bt['wall']:>15,.0f}"
    )
    year = SYNTH_BARS - 288  # the synthetic year's cycles (after a day of lookback)
    rate = synth["cycles"] / synth["cpu"]
    print(
        f"\n10 x 1 year of 5-minute bars: {year:,} cycles at {rate:,.0f} cycles/s cpu = "
        f"{year / rate:,.0f} s of cycles + {synth['load_cpu']:.1f} s to load the files "
        "(target < 60 s)"
    )
    print(
        f"ratio: backtesting.py's bars/s over the replay's cycles/s (cpu): "
        f"{bt_rate / (real['cycles'] / real['cpu']):,.0f}x on the 3-product replay"
    )
    print(f"interpreter: {interpreter()}")


def interpreter() -> str:
    """Which Python ran this, and whether its core is a shared libpython (as a build without
    PGO/LTO, pyenv's default, has it) or linked into the executable (Linux only: read from
    the process's memory map)."""
    described = f"{sys.executable} ({platform.python_implementation()} {platform.python_version()}"
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return described + ")"
    shared = "libpython" in maps.read_text()
    return described + f", libpython {'a shared library' if shared else 'in the executable'})"


if __name__ == "__main__":
    sys.exit(main())
