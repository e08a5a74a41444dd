"""The `trader` command for local use."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from trader.adapters.clock import SteppingClock, SystemClock
from trader.bootstrap import LocalPaths, local_deps
from trader.domain.config import load_config
from trader.domain.errors import ConfigError, LiveTradingRefused, StateError
from trader.domain.models import CycleResult, Mode, TradingState
from trader.entrypoints.runner import LoopOptions, StopFlag, run_loop, stop_on_signals
from trader.entrypoints.summary import SessionSummary, cycle_line
from trader.ports import Clock
from trader.settings import Settings

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except (ConfigError, StateError) as exc:
        print(f"trader: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trader",
        description="247trader: run trading cycles locally, with files instead of AWS.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_run(sub)
    _add_trading_state(sub)
    return parser


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run one cycle, or one every --interval seconds",
        description=(
            "Run trading cycles. Each cycle takes the file lock, loads data/.state.json, "
            "reconciles orders, takes a market snapshot, decides, places orders according "
            "to --mode, saves the state and appends one audit record to "
            "logs/247trader-v2_audit.jsonl. SIGINT/SIGTERM finish the current cycle, then stop."
        ),
    )
    when = run.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="run a single cycle (the default)")
    when.add_argument(
        "--interval",
        type=_positive,
        metavar="SECONDS",
        help="run a cycle every SECONDS (e.g. 300) until stopped or --cycles is reached",
    )
    run.add_argument("--cycles", type=_positive, metavar="N", help="stop after N cycles")
    run.add_argument(
        "--mode",
        type=str.upper,
        choices=[m.value for m in Mode],
        default=Mode.DRY_RUN.value,
        help="DRY_RUN (default): decide and audit, never place; PAPER: simulated fills on a "
        "paper account kept in the state file; LIVE: real Coinbase orders (needs --exchange "
        "coinbase, --key-file and --confirm-live)",
    )
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    run.set_defaults(handler=_run)
    _add_sources(run)


def _add_sources(run: argparse.ArgumentParser) -> None:
    """Where `run` gets its market, config and key, and where it keeps its files."""
    run.add_argument(
        "--exchange",
        choices=["simulated", "coinbase"],
        default="simulated",
        help="simulated (default): the offline synthetic market, or candle CSVs with "
        "--candles-dir; coinbase: live Coinbase market data (public without a key)",
    )
    run.add_argument(
        "--fast",
        action="store_true",
        help="simulated exchange only: advance the market one bar per cycle without waiting",
    )
    run.add_argument(
        "--config", type=Path, metavar="PATH", help="config YAML (default: config/default.yaml)"
    )
    run.add_argument("--candles-dir", type=Path, metavar="DIR", help="replay candle CSVs from DIR")
    run.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="state and lock files (default: data)"
    )
    run.add_argument(
        "--logs-dir", type=Path, default=Path("logs"), help="audit log folder (default: logs)"
    )
    run.add_argument(
        "--key-file",
        type=Path,
        metavar="PATH",
        help="Coinbase API key JSON as the CDP portal gives it (name + privateKey); "
        "never printed or logged",
    )
    run.add_argument(
        "--confirm-live",
        action="store_true",
        help="the explicit confirmation LIVE needs, on top of --mode LIVE",
    )


def _add_trading_state(sub: Any) -> None:
    halt = sub.add_parser(
        "trading-state",
        help="show or set the kill switch: ACTIVE, REDUCING (exits only) or HALTED",
        description="Show the trading state, or set it. REDUCING stops new entries but lets "
        "exits run; HALTED places no order at all. The next cycle obeys it.",
    )
    halt.add_argument("state", nargs="?", type=str.upper, choices=[s.value for s in TradingState])
    halt.add_argument("--data-dir", type=Path, default=Path("data"))
    halt.set_defaults(handler=_trading_state)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _run(args: argparse.Namespace) -> int:
    mode = Mode(args.mode)
    if mode is Mode.LIVE and not args.confirm_live:
        raise LiveTradingRefused(
            "--mode LIVE is refused without --confirm-live: it places real orders with real money"
        )
    if args.fast and args.exchange != "simulated":
        raise ConfigError("--fast works only with --exchange simulated")
    settings = Settings(
        trading_mode=mode,
        exchange=args.exchange,
        sim_candles_dir=args.candles_dir,
        config_path=args.config,
        coinbase_key_file=args.key_file,
        live_trading_confirmed=args.confirm_live,
    )
    settings.check_live()
    config = load_config(settings.config_path)
    paths = LocalPaths(args.data_dir, args.logs_dir)
    interval = args.interval or config.cycle.interval_seconds
    sim_start = config.simulator.start if config.simulator else None
    clock = _clock(args.fast, sim_start, paths, interval)
    deps = local_deps(settings, config, clock, paths)
    max_cycles = args.cycles if (args.interval or args.cycles) else 1
    summary = SessionSummary()

    def report(result: CycleResult) -> None:
        summary.add(result)
        if not args.quiet:
            print(cycle_line(result), flush=True)

    stop = StopFlag()
    with stop_on_signals(stop):
        run_loop(deps, LoopOptions(mode, interval, max_cycles, args.fast), stop, report)
    if stop.signal_name:
        print(
            f"\n{stop.signal_name} received: the cycle in progress finished; shutting down cleanly."
        )
    print(summary.render(str(paths.audit_file), str(paths.state_file)))
    return 0


def _clock(fast: bool, sim_start: datetime | None, paths: LocalPaths, interval: int) -> Clock:
    """--fast: a stepping clock that resumes after the last cycle in the state file."""
    if not fast:
        return SystemClock()
    if sim_start is None:
        raise ConfigError("--fast needs a `simulator:` section (with `start`) in the config")
    from trader.adapters.local.files import FileStateStore

    last = FileStateStore(paths.state_file).load().last_cycle_at
    return SteppingClock(sim_start if last is None or last < sim_start else last, interval)


def _trading_state(args: argparse.Namespace) -> int:
    from trader.adapters.local.files import FileStateStore

    store = FileStateStore(LocalPaths(args.data_dir).state_file)
    state = store.load()
    if args.state is None:
        print(state.trading_state.value)
        return 0
    saved = store.save(state.replace(trading_state=TradingState(args.state)), None)
    print(f"trading state {state.trading_state.value} -> {saved.trading_state.value}")
    held = state.drawdown_tripped_at
    if held is not None and saved.trading_state is TradingState.ACTIVE:
        print(
            f"releases the max_drawdown hold of {held.isoformat()}: "
            "the next cycle restarts the peak at its equity"
        )
    return 0
