"""The `trader` command for local use."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trader.adapters.clock import SteppingClock, SystemClock
from trader.bootstrap import LocalPaths, local_deps
from trader.domain.config import load_config
from trader.domain.errors import (
    AuditReadError,
    ConfigError,
    InvalidLiquidationRequest,
    LiveTradingRefused,
    StateError,
)
from trader.domain.liquidation import parse_liquidation_request
from trader.domain.models import CycleResult, Mode, TradingState
from trader.entrypoints.audit import add_audit
from trader.entrypoints.runner import LoopOptions, StopFlag, run_loop, stop_on_signals
from trader.entrypoints.summary import SessionSummary, cycle_line, failure
from trader.ports import Clock
from trader.settings import Settings, config_path_from_env

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    formatter = logging.Formatter if getattr(args, "traceback", False) else _OneLineFormatter
    handler.setFormatter(formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        return int(args.handler(args))
    except (ConfigError, StateError, AuditReadError) as exc:
        print(f"trader: {exc}", file=sys.stderr)
        return EXIT_USAGE


class _OneLineFormatter(logging.Formatter):
    """Log lines without tracebacks: a failed cycle is told in one line (and in its audit)."""

    def formatException(self, _ei: Any) -> str:
        return ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trader",
        description="247trader: run trading cycles (and liquidations) locally, with files "
        "instead of AWS.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_run(sub)
    _add_replay(sub)
    _add_report(sub)
    _add_liquidate(sub)
    _add_trading_state(sub)
    add_audit(sub)
    return parser


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run one cycle, or one every --interval seconds",
        description=(
            "Run trading cycles. Each cycle takes the file lock, loads data/.state.json, "
            "reconciles orders, takes a market snapshot, decides, places orders according "
            "to --mode, saves the state and appends one audit record to "
            "logs/247trader-v2_audit.jsonl. SIGINT/SIGTERM finish the current cycle, then stop. "
            "Exit status: 0 when every cycle ran (traded or not), 1 when a cycle failed "
            "(one line each on stderr: trader: cycle ID failed: exception:TYPE: message), "
            "2 for a bad configuration or command line."
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
    _add_mode(
        run,
        "DRY_RUN (default): decide and audit, never place; PAPER: simulated fills on a "
        "paper account kept in the state file; LIVE: real Coinbase orders (needs --exchange "
        "coinbase, --key-file and --confirm-live)",
    )
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    run.add_argument(
        "--fast",
        action="store_true",
        help="simulated exchange only: advance the market one cycle interval per cycle, no wait",
    )
    run.set_defaults(handler=_run)
    _add_sources(run)


def _add_replay(sub: Any) -> None:
    replay = sub.add_parser(
        "replay",
        help="run the unchanged cycle over candle history and report how it did",
        description=(
            "Replay candle CSVs through the same cycle that trades live (pipeline, risk, "
            "execution plan, the paper account's fills, the order lifecycle), one cycle per "
            "cycle.interval_seconds of the config, in PAPER mode on fresh in-memory state. "
            "Writes OUT/audit.jsonl (one record a cycle) and OUT/data/.state.json (the final "
            "state; --resume continues from it). Gaps: a cycle whose just-closed candle is "
            "missing for any replayed product is skipped (no candle is invented); the skipped "
            "cycles and missing candles are counted. Dates are ISO 8601 in UTC. Exit status: "
            "0 when every cycle ran, 1 when a cycle failed, 2 for bad input."
        ),
    )
    _add_replay_window(replay)
    replay.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config YAML (default: $CONFIG_PATH if set, else lib/trader/default.yaml); its "
        "candle_granularity_seconds must be a multiple of the files' candle length",
    )
    replay.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the final state is written and --resume reads it (default: OUT/data)",
    )
    replay.add_argument(
        "--resume",
        action="store_true",
        help="continue from the state in --data-dir after its last cycle, appending to "
        "OUT/audit.jsonl (without it, an earlier replay's files there are refused)",
    )
    replay.add_argument(
        "--spread-bps",
        type=_bps,
        default=Decimal(5),
        metavar="N",
        help="bid/ask spread quoted around each candle's close (default: 5)",
    )
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(handler=_replay)


def _add_report(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="report a run (PAPER, LIVE or a replay) from its audit records",
        description=(
            "Read a run's audit records, from a JSONL log (a file, or a folder of *.jsonl) or "
            "from S3 (s3://bucket/prefix, e.g. s3://my-audit-bucket/audit/dt=2026-05-), and "
            "write OUT/report.json and OUT/report.html (one self-contained page: equity and "
            "drawdown, prices with entries, exits and regimes, the trades, the figures beside "
            "buy-and-hold, why cycles did not trade); print the figures as a table. S3 uses "
            "the usual AWS credentials and AWS_ENDPOINT_URL. Exit status: 0 when written, 2 "
            "for an unreadable or empty source."
        ),
    )
    report.add_argument(
        "source", metavar="AUDIT", help="audit.jsonl, a folder, or s3://bucket/prefix"
    )
    report.add_argument(
        "--out",
        type=Path,
        default=Path("report"),
        metavar="DIR",
        help="output folder (default: report)",
    )
    report.add_argument("--title", default="247trader report", help="the page's title")
    report.set_defaults(handler=_report)


def _add_replay_window(replay: argparse.ArgumentParser) -> None:
    """What a replay reads: the candles, the products, the dates; and where it writes."""
    replay.add_argument(
        "--candles-dir", type=Path, required=True, metavar="DIR", help="folder of candle CSVs"
    )
    replay.add_argument(
        "--rules",
        metavar="MODULE:NAME",
        help="research: take entry signals and exits from a Python plug-in (a "
        "trader.pipeline.decision.Rules) instead of the config's triggers and exit rules; "
        "sizing, risk and execution stay the bot's",
    )
    replay.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    replay.add_argument(
        "--start",
        metavar="WHEN",
        help="first cycle, e.g. 2024-08-01 or 2024-08-01T12:00Z (default: once the "
        "candles common to all products fill cycle.lookback_bars)",
    )
    replay.add_argument(
        "--end",
        metavar="WHEN",
        help="stop before this time (default: after the last candle common to all products)",
    )
    replay.add_argument(
        "--products",
        nargs="+",
        metavar="ID",
        help="products to replay, e.g. BTC-USD ETH-USD (default: the config's tier products "
        "found in DIR, or every file when a tier matches all); must include "
        "regime.reference_product",
    )


def _add_mode(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--mode",
        type=str.upper,
        choices=[m.value for m in Mode],
        default=Mode.DRY_RUN.value,
        help=help_text,
    )


def _add_sources(run: argparse.ArgumentParser) -> None:
    """Where a command gets its market, config and key, and where it keeps its files."""
    run.add_argument(
        "--exchange",
        choices=["simulated", "coinbase"],
        default="simulated",
        help="simulated (default): the offline synthetic market, or candle CSVs with "
        "--candles-dir; coinbase: live Coinbase market data (public without a key)",
    )
    run.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config YAML (default: $CONFIG_PATH if set, else lib/trader/default.yaml)",
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
    run.add_argument(
        "--traceback",
        action="store_true",
        help="log the traceback of a failure (default: one line; the audit has the message)",
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


def _add_liquidate(sub: Any) -> None:
    liq = sub.add_parser(
        "liquidate",
        help="sell every holding into USDC (or USD); a plan unless --execute",
        description="Plan, or with --execute --confirm LIQUIDATE carry out, the sale of every "
        "holding into --target, except --keep and what is worth less than --min-value. It "
        "takes the cycle's lock (waiting up to liquidation.lock_wait_seconds for a running "
        "cycle), prints the plan (and the legs it ran) as a table and as JSON, and appends "
        "one audit record to logs/247trader-v2_audit.jsonl. The account is the one --mode "
        "trades on: the paper account of the state file (PAPER; DRY_RUN only plans), or the "
        "Coinbase account (LIVE). Run the same --request-id again to resume after a failure: "
        "nothing is sold twice. Exit status: 0 when everything asked was done, 1 when not, "
        "2 for a bad request or configuration.",
    )
    liq.add_argument(
        "--execute", action="store_true", help="sell for real (default: only print the plan)"
    )
    liq.add_argument("--confirm", metavar="WORD", help="must be exactly LIQUIDATE for --execute")
    liq.add_argument("--target", type=str.upper, default="USDC", help="USDC (default) or USD")
    liq.add_argument(
        "--keep", nargs="+", default=[], metavar="CUR", help="currencies to leave as they are"
    )
    liq.add_argument(
        "--min-value", default="1", metavar="N", help="leave holdings worth less (default: 1)"
    )
    liq.add_argument(
        "--max-slippage-bps",
        type=int,
        default=100,
        metavar="N",
        help="lowest limit price on limit-only books, in bps under the bid (default: 100)",
    )
    liq.add_argument(
        "--halt-trading",
        action="store_true",
        help="with --execute: set the trading state HALTED before the first sale",
    )
    liq.add_argument(
        "--request-id",
        metavar="ID",
        help="1-64 of A-Z a-z 0-9 . _ - (default: cli-<UTC time>); the same id again resumes",
    )
    _add_mode(
        liq,
        "the account to liquidate: DRY_RUN (default; plans the paper account, never sends), "
        "PAPER (the paper account in the state file), LIVE (the Coinbase account: needs "
        "--exchange coinbase, --key-file and --confirm-live)",
    )
    liq.set_defaults(handler=_liquidate)
    _add_sources(liq)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _bps(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise argparse.ArgumentTypeError(f"must be a number of basis points, got {text}") from None
    if not value.is_finite() or not 0 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"must be between 0 and 10000 bps, got {text}")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    """The command line's settings; LIVE only with --confirm-live (and Settings' own checks)."""
    mode = Mode(args.mode)
    if mode is Mode.LIVE and not args.confirm_live:
        raise LiveTradingRefused(
            "--mode LIVE is refused without --confirm-live: it places real orders with real money"
        )
    settings = Settings(
        trading_mode=mode,
        exchange=args.exchange,
        sim_candles_dir=args.candles_dir,
        config_path=args.config or config_path_from_env(),
        coinbase_key_file=args.key_file,
        live_trading_confirmed=args.confirm_live,
    )
    settings.check_live()
    return settings


def _run(args: argparse.Namespace) -> int:
    if args.fast and args.exchange != "simulated":
        raise ConfigError("--fast works only with --exchange simulated")
    settings = _settings(args)
    mode = settings.trading_mode
    config = load_config(settings.config_path)
    paths = LocalPaths(args.data_dir, args.logs_dir)
    interval = args.interval or config.cycle.interval_seconds
    sim_start = config.simulator.start if config.simulator else None
    clock = _clock(args.fast, sim_start, paths, interval)
    deps = local_deps(settings, config, clock, paths)
    max_cycles = args.cycles if (args.interval or args.cycles) else 1
    summary = SessionSummary()
    failed: list[str] = []

    def report(result: CycleResult) -> None:
        summary.add(result)
        if not args.quiet:
            print(cycle_line(result), flush=True)
        if why := failure(result):
            failed.append(why)

    stop = StopFlag()
    with stop_on_signals(stop):
        run_loop(deps, LoopOptions(mode, interval, max_cycles, args.fast), stop, report)
    if stop.signal_name:
        print(
            f"\n{stop.signal_name} received: the cycle in progress finished; shutting down cleanly."
        )
    print(summary.render(str(paths.audit_file), str(paths.state_file)))
    for why in failed:
        print(f"trader: {why}", file=sys.stderr)
    return 1 if failed else 0


def _replay(args: argparse.Namespace) -> int:
    from trader.adapters.local.audit_log import read_audit_log
    from trader.entrypoints.replay import (
        Progress,
        ReplayOptions,
        load_rules,
        replay_notes,
        run_lines,
        run_replay,
    )
    from trader.entrypoints.replay_plan import parse_when
    from trader.entrypoints.report import write_report
    from trader.entrypoints.report_text import render_table
    from trader.service.report.history import HistoryBuilder

    options = ReplayOptions(
        candles_dir=args.candles_dir,
        out_dir=args.out,
        start=parse_when(args.start, "--start") if args.start else None,
        end=parse_when(args.end, "--end") if args.end else None,
        products=tuple(args.products) if args.products else None,
        data_dir=args.data_dir,
        resume=args.resume,
        spread_bps=args.spread_bps,
        rules=load_rules(args.rules) if args.rules else None,
    )
    config_path = args.config or config_path_from_env()
    config = load_config(config_path)
    history = HistoryBuilder()
    if options.resume and options.audit_file.exists():  # the report covers the whole run
        for record in read_audit_log(options.audit_file):
            history.add(record)
    stop = StopFlag()
    with stop_on_signals(stop):
        run = run_replay(options, config, history.add, stop, None if args.quiet else Progress())
    print(run_lines(run, options))
    title = f"247trader replay: {', '.join(run.plan.products)}"
    extra = replay_notes(run, config, config_path)
    report = write_report(history.history, options.out_dir, title, run.plan.products, extra)
    print(render_table(report))
    print(f"report            {options.out_dir / 'report.html'} (and report.json)")
    for why in run.failures:
        print(f"trader: {why}", file=sys.stderr)
    return 1 if run.failures else 0


def _report(args: argparse.Namespace) -> int:
    from trader.bootstrap import audit_source
    from trader.entrypoints.report import write_report
    from trader.entrypoints.report_text import render_table
    from trader.service.report.history import build_history
    from trader.service.report.performance import EmptyRun

    source = audit_source(args.source)
    try:
        report = write_report(build_history(source.records()), args.out, args.title)
    except (AuditReadError, EmptyRun) as exc:
        print(f"trader: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(render_table(report))
    print(f"report            {args.out / 'report.html'} (and report.json), from {source.where}")
    return 0


def _liquidate(args: argparse.Namespace) -> int:
    from trader.entrypoints.liquidation_table import render
    from trader.entrypoints.runner import owner_id
    from trader.service.liquidation import run_liquidation

    clock = SystemClock()
    raw = {
        "request_id": args.request_id or f"cli-{clock.now():%Y%m%dT%H%M%SZ}",
        "dry_run": not args.execute,
        "confirm": args.confirm,
        "target": args.target,
        "keep": args.keep,
        "min_value": args.min_value,
        "max_slippage_bps": args.max_slippage_bps,
        "halt_trading": args.halt_trading,
    }
    try:
        request = parse_liquidation_request(raw)
    except InvalidLiquidationRequest as exc:
        print(f"trader: {exc} (see trader liquidate --help)", file=sys.stderr)
        return EXIT_USAGE
    settings = _settings(args)
    config = load_config(settings.config_path)
    deps = local_deps(settings, config, clock, LocalPaths(args.data_dir, args.logs_dir))
    answer = run_liquidation(deps, request, owner_id(), mode=settings.trading_mode)
    print(render(answer, settings.trading_mode, request.target))
    print(json.dumps(answer, indent=2))
    return 0 if answer["ok"] else 1


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
