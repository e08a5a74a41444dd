"""The regime over the real candles (../shared/data/candles): flips, runs, crash calls, false
crash days and the cost of one reading.

    .venv/bin/python bench/regime_report.py                       # both sets, default config
    .venv/bin/python bench/regime_report.py --set coinbase-15m \
        --config config/examples/replay-coinbase-15m.yaml

Each set is read with the config's regime section at the set's own granularity (the windows
are in hours). The detector is driven bar by bar as the cycle drives it (tests/support/
regime_history.py); nothing else of the cycle runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import timeit
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from regime_history import (  # noqa: E402
    CANDLES,
    SETS,
    SYNTHETIC_SCALE,
    CandleSet,
    crash_calls,
    crash_episodes,
    false_crash_days,
    load_set,
    replay_regime,
    runs_of,
    scores,
    synthetic_candles,
)

from trader.domain.config import load_config  # noqa: E402
from trader.pipeline.gauges import GaugeCache  # noqa: E402


def report(candle_set: CandleSet, config_path: Path | None, candles_dir: Path) -> None:
    cfg = load_config(config_path).regime
    candles = load_set(candle_set, candles_dir)
    history = replay_regime(candles, cfg, candle_set.granularity_s, GaugeCache())
    runs = runs_of(history)
    print(f"== {candle_set.name}: {len(history.bars):,} bars of {candle_set.granularity_s} s")
    print(f"flips per day      {runs.flips_per_day:.2f}   ({len(runs.lengths) - 1} changes)")
    one_bar = sum(1 for n in runs.lengths if n == 1) / len(runs.lengths)
    print(f"runs of one bar    {one_bar:.1%}")
    pct = runs.length_percentiles(candle_set.granularity_s)
    print("run length (hours) " + "  ".join(f"p{p} {h:.1f}" for p, h in pct.items()))
    print("time in regime     " + "  ".join(f"{n} {s:.1%}" for n, s in sorted(runs.share.items())))
    for call in crash_calls(history, candles, candle_set.name):
        lag = (
            "not called"
            if call.called_at is None
            else f"{(call.called_at - call.anchor) // (history.bars[1] - history.bars[0])} bar(s)"
        )
        print(
            f"crash {call.crash.first} ({call.crash.what}): steepest bar "
            f"{call.anchor:%Y-%m-%d %H:%M}, called after {lag}"
        )
    episodes = crash_episodes(history, candle_set.name)
    false = [e for e in episodes if e.known is None]
    days = false_crash_days(episodes)
    print(f"crash episodes     {len(episodes)} ({len(false)} outside the README's crashes)")
    print(f"false crash days   {len(days)}: {', '.join(d.isoformat() for d in days)}")
    print(f"detect_regime      {history.per_call_us:.1f} µs per call (warm cache)")
    part = {pid: bars[20_000:21_000] for pid, bars in candles.items()}
    cold = replay_regime(part, cfg, candle_set.granularity_s, _NoCache())
    print(f"{'':19}{cold.per_call_us:.1f} µs per call (whole window every call, 1,000 bars)")
    print()


class _NoCache(GaugeCache):
    """Forgets everything: every call reads its whole window, as a cold Lambda does."""

    def series(self, product_id, window, keep):  # type: ignore[no-untyped-def]
        self.__init__()  # type: ignore[misc]
        return super().series(product_id, window, keep)


def synthetic(config_path: Path | None, days: int) -> None:
    """Precision and recall per regime on the synthetic market, with the config's regime and
    with windows at the synthetic market's time scale (the figures the unit test floors)."""
    cfg = load_config(config_path)
    candles, market = synthetic_candles(cfg.simulator, cfg.regime.products, days)
    for label, regime in (
        ("config's regime", cfg.regime),
        ("synthetic scale", cfg.regime.model_copy(update=SYNTHETIC_SCALE)),
    ):
        history = replay_regime(candles, regime, 300)
        runs = runs_of(history)
        print(f"== synthetic market, {days} days, {label}: {runs.flips_per_day:.2f} flips/day")
        for name, s in scores(history, market).items():
            print(
                f"{name:14} precision {s.precision:.2f}  recall {s.recall:.2f}"
                f"  (read {s.detected}, true {s.true} bars)"
            )
        print()


def before(rev: str, candle_set: CandleSet, candles_dir: Path, bars: int) -> None:
    """The per-call cost of the detector at git revision `rev` (the reference's window in
    Decimal, as it was), over the same bars, for a before/after figure."""
    source = subprocess.run(
        ["git", "show", f"{rev}:lib/trader/pipeline/regime.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    old: dict[str, object] = {}
    exec(compile(source, f"{rev}:regime.py", "exec"), old)
    detect = old["detect_regime"]
    cfg = SimpleNamespace(
        lookback_bars=48,
        trend_pct=Decimal(2),
        crash_pct=Decimal(6),
        volatile_bar_pct=Decimal("0.6"),
    )
    reference = load_set(candle_set, candles_dir)["BTC-USD"][: bars + 48]
    began = time.perf_counter()
    for end in range(48, len(reference)):
        detect(reference[end - 48 : end], cfg)  # type: ignore[operator]
    spent = time.perf_counter() - began
    print(f"== before ({rev}): {spent / (len(reference) - 48) * 1e6:.1f} µs per call")
    print(f"   (BTC's 48 bars in Decimal, {candle_set.name}, {bars:,} bars)")
    print()


def calibration() -> float:
    """µs for sum(range(1000)) here and now: the machine's speed, to compare runs."""
    return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=[s.name for s in SETS], action="append")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--candles-dir", type=Path, default=CANDLES)
    parser.add_argument("--synthetic-days", type=int, default=60, help="0: skip")
    parser.add_argument("--before", default="ac134f4", help="git revision to time; '': skip")
    args = parser.parse_args()
    print(f"calibration: sum(range(1000)) takes {calibration():.1f} µs on this machine now\n")
    if args.before:
        before(args.before, SETS[0], args.candles_dir, 20_000)
    for candle_set in SETS:
        if not args.set or candle_set.name in args.set:
            report(candle_set, args.config, args.candles_dir)
    if args.synthetic_days:
        synthetic(args.config, args.synthetic_days)


if __name__ == "__main__":
    main()
