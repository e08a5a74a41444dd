"""`trader replay`: the unchanged cycle over candle history, as fast as the machine allows.

Each cycle is `run_cycle` with the live decision code (pipeline, risk, execution plan, the
paper account's fill model, the order lifecycle) on a stepping clock over the candle CSVs.
What differs from a live run is only the wiring (bootstrap.replay_deps): the state is kept
as a value in memory, the lock in memory, the snapshot's calls run inline, and the audit goes
to a buffered JSONL file and to the report. The final state is written once, at the end, to
`<data-dir>/.state.json`, so `--resume` can continue from it.
"""

from __future__ import annotations

import gc
import importlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from trader.adapters.clock import SteppingClock
from trader.adapters.local.audit_log import BufferedJsonlAuditSink
from trader.adapters.local.files import FileStateStore
from trader.adapters.memory import ObjectStateStore
from trader.adapters.sim.csv_market import CandleDataError, CsvMarket
from trader.bootstrap import csv_market, replay_deps
from trader.domain.config import Config
from trader.domain.ids import cycle_id_at, cycle_id_for
from trader.domain.models import CycleResult, Mode
from trader.domain.state import PortfolioState
from trader.entrypoints.replay_plan import (
    Candles,
    ReplayError,
    ReplayPlan,
    choose_products,
    plan_replay,
)
from trader.entrypoints.runner import StopFlag
from trader.pipeline.decision import Rules
from trader.service.cycle import CycleRequest, run_cycle

OWNER = "replay"
AUDIT_FILE = "audit.jsonl"
STATE_FILE = ".state.json"


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    candles_dir: Path
    out_dir: Path
    start: datetime | None = None
    end: datetime | None = None
    products: tuple[str, ...] | None = None
    data_dir: Path | None = None  # default: <out_dir>/data
    resume: bool = False
    spread_bps: Decimal = Decimal(5)  # the quoted spread around each close
    rules: Rules | None = None  # a plug-in's signals and exits (None: the config's)

    @property
    def state_file(self) -> Path:
        return (self.data_dir or self.out_dir / "data") / STATE_FILE

    @property
    def audit_file(self) -> Path:
        return self.out_dir / AUDIT_FILE


@dataclass(slots=True)
class ReplayRun:
    """What a replay did."""

    plan: ReplayPlan
    cycles_run: int = 0
    failures: list[str] = field(default_factory=list)  # one line per cycle that failed
    seconds: float = 0.0  # wall time of the cycles
    cpu_seconds: float = 0.0  # this process's CPU time in the cycles
    stopped_by: str | None = None  # a signal's name when it was cut short
    final_state: PortfolioState | None = None

    @property
    def cycles_per_second(self) -> float:
        return self.cycles_run / self.seconds if self.seconds > 0 else 0.0


class _Sink:
    """The audit of a replay: each record to the JSONL file and to the caller (the report)."""

    def __init__(self, log: BufferedJsonlAuditSink, also: Callable[[Mapping[str, Any]], None]):
        self._log = log
        self._also = also

    def write(self, record: Mapping[str, Any]) -> None:
        self._log.write(record)
        self._also(record)


def open_market(
    options: ReplayOptions, config: Config, clock: SteppingClock
) -> tuple[CsvMarket, dict[str, Candles]]:
    """The candle files of the chosen products, and their bar times for the plan."""
    try:
        folder = csv_market(config, clock, options.candles_dir, spread_bps=options.spread_bps)
        chosen = choose_products(options.products, folder.product_ids(), config)
        market = csv_market(config, clock, options.candles_dir, chosen, options.spread_bps)
        files = {
            pid: Candles(market.native_granularity(pid), market.bar_starts(pid)) for pid in chosen
        }
    except CandleDataError as exc:
        raise ReplayError(f"--candles-dir: {exc}") from None
    return market, files


def load_rules(spec: str) -> Rules:
    """`module:name` -> the Rules object it names (a research or test plug-in)."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ReplayError(f"--rules {spec!r}: expected MODULE:NAME, e.g. my_rules:RULES")
    try:
        rules = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ReplayError(f"--rules {spec!r}: {exc}") from None
    if not isinstance(rules, Rules):
        kind = type(rules).__name__
        raise ReplayError(f"--rules {spec!r}: {name} is not a Rules (its type is {kind})")
    return rules


def starting_state(options: ReplayOptions) -> PortfolioState | None:
    """The state to resume (--resume), else None; refuses to overwrite an earlier replay."""
    state_file, audit_file = options.state_file, options.audit_file
    if options.resume:
        if not state_file.exists():
            raise ReplayError(f"--resume: there is no state to resume in {state_file}")
        state = FileStateStore(state_file).load()
        if state.last_cycle_at is None:
            raise ReplayError(f"--resume: the state in {state_file} has run no cycle yet")
        return state
    for earlier in (state_file, audit_file):
        if earlier.exists():
            raise ReplayError(
                f"{earlier} is from an earlier replay: pass --resume to continue it, or "
                "choose another --out (or remove that folder) to start afresh"
            )
    return None


def run_replay(
    options: ReplayOptions,
    config: Config,
    on_record: Callable[[Mapping[str, Any]], None],
    stop: StopFlag,
    progress: Progress | None = None,
) -> ReplayRun:
    """Plan the cycles, run them, save the final state; StopFlag ends it after a cycle."""
    resumed = starting_state(options)
    clock = SteppingClock(datetime(1970, 1, 1, tzinfo=UTC), config.cycle.interval_seconds)
    market, files = open_market(options, config, clock)
    after = resumed.last_cycle_at if resumed else None
    plan = plan_replay(files, config, options.start, options.end, after)
    store = ObjectStateStore(resumed)
    run = ReplayRun(plan)
    with BufferedJsonlAuditSink(options.audit_file) as log, _loaded_bars_frozen():
        deps = replay_deps(config, market, clock, store, _Sink(log, on_record), options.rules)
        began, began_cpu = time.perf_counter(), time.process_time()
        for at, moment in cycle_moments(plan.cycles, plan.interval_s):
            if stop.is_set():
                run.stopped_by = stop.signal_name
                break
            now = clock.move_to(moment)
            request = CycleRequest(cycle_id(at, now, plan.interval_s), Mode.PAPER, OWNER)
            _count(run, run_cycle(deps, request))
            if progress is not None:
                progress.show(run.cycles_run, len(plan.cycles), now)
        run.seconds = time.perf_counter() - began
        run.cpu_seconds = time.process_time() - began_cpu
    run.final_state = _save(options.state_file, store.load(), resumed)
    return run


def cycle_moments(cycles: Iterable[int], interval_s: int) -> Iterator[tuple[int, datetime]]:
    """Each planned cycle's unix time and its UTC datetime (`datetime.fromtimestamp(at, UTC)`):
    one interval after the cycle before, that one's + the interval (a quarter of the
    instructions); else made from the time."""
    step = timedelta(seconds=interval_s)
    last_at: int | None = None
    moment = datetime.fromtimestamp(0, UTC)
    for at in cycles:
        moment = moment + step if at - interval_s == last_at else datetime.fromtimestamp(at, UTC)
        last_at = at
        yield at, moment


def cycle_id(at: int, now: datetime, interval_s: int) -> str:
    """cycle_id_for(now, interval_s) of the time `now` of unix time `at`: a planned cycle's
    time is on the interval, so it is not floored again (a round trip through a timestamp)."""
    return cycle_id_at(now) if at % interval_s == 0 else cycle_id_for(now, interval_s)


@contextmanager
def _loaded_bars_frozen() -> Iterator[None]:
    """The objects alive before the cycles (the loaded bars: a million for ten years of
    5-minute files) left out of the garbage collector's passes while the cycles run: they live
    until the end, and the collections that would move them through the generations one by
    one scanned them all again (gc.freeze, undone after)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_lines(run: ReplayRun, options: ReplayOptions) -> str:
    """What ran, how fast, what was skipped, and where the files are."""
    plan = run.plan
    missing = ", ".join(f"{pid} {n}" for pid, n in plan.missing_bars.items() if n) or "none"
    lines = [
        f"replayed {', '.join(plan.products)} from {plan.start:%Y-%m-%d %H:%M} to "
        f"{plan.end:%Y-%m-%d %H:%M} UTC, one cycle every {plan.interval_s} s",
        f"cycles run        {run.cycles_run:,} of {len(plan.cycles):,} "
        f"({run.cycles_per_second:,.0f} cycles/s)",
        f"cycles skipped    {len(plan.skipped):,} (a candle missing; missing candles: {missing})",
    ]
    if run.stopped_by:
        lines.append(f"stopped early     {run.stopped_by}: the files hold the cycles that ran")
    lines += [f"audit log         {options.audit_file}", f"final state       {options.state_file}"]
    return "\n".join(lines)


def replay_notes(run: ReplayRun, config: Config, config_path: Path | None) -> dict[str, object]:
    """What the report should say about how the replay ran."""
    plan, paper = run.plan, config.paper
    missing = ", ".join(f"{pid} {n}" for pid, n in plan.missing_bars.items()) or "none"
    return {
        "config": str(config_path or "lib/trader/default.yaml"),
        "fills": f"PAPER account: taker fee {paper.taker_fee_pct} %, maker fee "
        f"{paper.maker_fee_pct} %, slippage {paper.slippage_bps} bps, starting cash "
        f"{paper.starting_cash} {config.cycle.quote_currency}",
        "gaps": f"{len(plan.skipped):,} cycles skipped because a candle was missing "
        f"(missing candles: {missing})",
        "speed": f"{run.cycles_run:,} cycles in {run.seconds:,.1f} s "
        f"({run.cycles_per_second:,.0f} cycles/s)",
    }


def _count(run: ReplayRun, result: CycleResult) -> None:
    run.cycles_run += 1
    reason = result.no_trade_reason or ""
    if reason.startswith("exception:"):
        message = (result.record.get("exception") or {}).get("message") or ""
        run.failures.append(f"cycle {result.cycle_id} failed: {reason}: {message}")


def _save(path: Path, state: PortfolioState, resumed: PortfolioState | None) -> PortfolioState:
    """The final state to the state file (a new file counts versions from 1 again)."""
    stored_version = resumed.version if resumed is not None else 0
    return FileStateStore(path).save(state.replace(version=stored_version), None)


class Progress:
    """A one-line progress bar on stderr, redrawn at most a few times a second (a line every
    10 % when stderr is not a terminal)."""

    def __init__(self, stream: TextIO = sys.stderr, every_s: float = 0.25) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._every = every_s
        self._began = time.perf_counter()
        self._last = 0.0
        self._tenth = 0

    def show(self, done: int, total: int, now: datetime) -> None:
        elapsed = time.perf_counter() - self._began
        tenth = done * 10 // total
        if self._tty and (elapsed - self._last >= self._every or done == total):
            end = "\n" if done == total else ""
            self._write("\r" + self.line(done, total, now, elapsed) + end)
            self._last = elapsed
        elif not self._tty and tenth > self._tenth:
            self._write(self.line(done, total, now, elapsed) + "\n")
            self._tenth = tenth

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    @staticmethod
    def line(done: int, total: int, now: datetime, elapsed: float, width: int = 30) -> str:
        filled = done * width // total
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else 0.0
        return (
            f"replay [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} "
            f"{now:%Y-%m-%d %H:%M} · {rate:,.0f} cycles/s · {left:,.0f} s left"
        )
