"""The chaos run: scheduled cycles and liquidations through the real Lambda handlers on moto,
against the simulated exchange and the fake Coinbase (real SDK), with faults injected at
seeded random points and the invariants of tests/support/chaos_observer.py checked after
every step.

    make chaos                                   # 1,000 steps per backend, a fresh seed
    make chaos SEED=1234 CYCLES=1000             # repeat a run exactly
    .venv/bin/python tests/support/chaos_run.py --seed 1234 --cycles 200 --backends sim

Each step moves the clock one interval and delivers that interval's scheduled event to a
cycle container; now and then a liquidation request follows, an earlier event is delivered
again, or the operator sets or clears the kill switch. Every `--recover-every` steps and at
the end the faults stop, a few clean cycles run, and the book must equal the account.
Prints the faults injected and the invariants checked; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chaos_faults import CONCURRENT, KINDS, Dice, ProcessDied, choose
from chaos_observer import CASH, INVARIANTS, Invocation, ran
from chaos_world import ChaosContext, Container, EmfTap, World, open_world
from scripted_market import default_config, tweak

from trader.domain.codec import to_jsonable
from trader.domain.config import Config, load_config
from trader.domain.ids import floor_time
from trader.domain.models import TradingState

BACKENDS = ("sim", "coinbase")


@dataclass(frozen=True)
class RunOptions:
    seed: int
    cycles: int = 1000  # scheduled steps per backend
    backends: tuple[str, ...] = BACKENDS
    rate: float = 0.06  # chance that one call of a chaotic invocation fails
    recover_every: int = 100
    recovery_cycles: int = 5
    liquidation_rate: float = 0.05  # chance of a liquidation request after a step
    log: Path | None = None  # the handlers' log lines (JSON); None: discarded
    config: Path | None = None  # None: the rigs' config (scripted_market.default_config)


@dataclass(frozen=True)
class Plan:
    """One invocation's conditions."""

    chaotic: bool
    skew_s: int = 0
    budget_ms: int = 100_000
    drain_ms: int = 0  # Lambda time each port call uses up
    cold: bool = False
    focus: str = "any"  # the layer whose calls may fail (chaos_inject.LAYERS)


CLEAN = Plan(chaotic=False)


Odds = Callable[[str, float], float]  # a kind's chance, raised while it was never injected


def draw_plan(rng: random.Random, odds: Odds = lambda _kind, p: p) -> Plan:
    if rng.random() >= 0.7:
        return Plan(chaotic=False, cold=rng.random() < 0.05)
    skew = 0
    if (roll := rng.random()) < odds("clock_skew", 0.32) * 0.8:
        skew = rng.choice([-1, 1]) * rng.randint(1, 30)
    elif roll < odds("clock_skew", 0.32):
        skew = rng.choice([-1, 1]) * rng.randint(120, 900)
    budget, drain = 100_000, 0
    if (roll := rng.random()) < (low := odds("low_time", 0.08)):
        budget = rng.randint(1_000, 19_000)  # below min_remaining_seconds_to_trade (20 s)
    elif roll < low + odds("time_runs_out", 0.12):
        budget, drain = rng.randint(25_000, 60_000), rng.randint(2_000, 6_000)
    # Half the chaotic invocations fail at one layer only, so that some get as far as their
    # creates, the calls that matter most, and fail there.
    focus = rng.choice(["any", "any", "exchange", "aws", "create", "create"])
    return Plan(True, skew, budget, drain, cold=rng.random() < 0.05, focus=focus)


def scheduled_event(at: datetime, name: object, interval_s: int = 300) -> dict[str, Any]:
    """An EventBridge scheduled event for the interval `at` falls in."""
    scheduled = floor_time(at, interval_s)
    return {
        "version": "0",
        "id": f"chaos-{name}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": to_jsonable(scheduled),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/cycle"],
        "detail": {},
    }


def chaos_config(config: Config) -> Config:
    """The config with one request thread (the order of calls, hence of the draws, is the
    seed's) and trade limits that let the bot trade through the whole run."""
    return tweak(
        config,
        cycle={"request_threads": 1},
        risk={"max_trades_per_day": 120, "max_trades_per_hour": 12},
    )


@dataclass
class BackendReport:
    backend: str
    steps: int
    outcomes: Counter[str]
    faults: Counter[str]
    checked: Counter[str]
    violations: dict[str, list[str]]
    orders: int
    recoveries: int
    wall_s: float
    fingerprint: str

    @property
    def violation_count(self) -> int:
        return sum(len(found) for found in self.violations.values())


class Driver:
    """Runs the steps of one backend and answers the world's requests for a 2nd invocation."""

    def __init__(self, world: World, options: RunOptions) -> None:
        self.w = world
        self.o = options
        self.step = 0
        self.warm: dict[str, Container] = {}
        self.events: list[dict[str, Any]] = []
        self.payloads: dict[int, tuple[dict[str, Any], int]] = {}  # seq -> (payload, skew)
        self.switch: TradingState | None = None  # HALTED set by the operator or a liquidation
        self.outcomes: Counter[str] = Counter()
        self.requests = 0
        self.recoveries = 0
        self._last_request: dict[str, Any] | None = None
        world.chaos.nested = self._concurrent
        world.chaos.engage_switch = self._halt

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        for _ in range(self.o.cycles):
            self.one_step()
            if self.o.recover_every and self.step % self.o.recover_every == 0:
                self.recover()
        self.recover()

    def one_step(self) -> None:
        self.step += 1
        self.w.extra["where"]["at"] = f"{self.w.backend} step {self.step}"
        rng = self.w.chaos.dice.roll(self.w.backend, "step", self.step)
        self.w.clock.advance()
        self._operator(rng)
        event = scheduled_event(self.w.clock.now(), self.step)
        self.events.append(event)
        self.invoke("cycle", event, draw_plan(rng, self._odds))
        if rng.random() < self.o.liquidation_rate:
            self.invoke("liquidation", self._request(rng), draw_plan(rng, self._odds))
        late = rng.random() < self._odds("late_redelivery", 0.03)
        if self.w.chaos.armed and len(self.events) > 2 and late:
            self.w.chaos.faults["late_redelivery"] += 1
            self.invoke("cycle", rng.choice(self.events[-6:-1]), draw_plan(rng, self._odds))

    def recover(self) -> None:
        """Faults off, fresh containers, clean cycles; then the book must be the account."""
        self.w.chaos.armed = False
        self.warm.clear()
        for _ in range(self.o.recovery_cycles):
            self.w.clock.advance()
            self.invoke("cycle", scheduled_event(self.w.clock.now(), f"r{self.step}"), CLEAN)
        truth = self.w.truth
        products = {p.product_id: p for p in truth.list_products()}
        state = self.w.observer.view.load()
        self.w.observer.check_recovered(state, truth.balance_totals(), products, truth.orders())
        self.recoveries += 1
        self.w.chaos.armed = True

    # --- one invocation -------------------------------------------------------------------

    def invoke(
        self,
        function: str,
        payload: dict[str, Any],
        plan: Plan,
        container: Container | None = None,
    ) -> Invocation:
        w = self.w
        container = container or self._warm(function, plan.cold)
        container.clock.offset = timedelta(seconds=plan.skew_s)
        chaotic = plan.chaotic and w.chaos.armed
        if chaotic:
            self._count_plan(plan)
        owner = f"{w.backend}-{function}-{len(w.observer.invocations) + 1}"
        label = str(payload.get("time") or payload.get("request_id"))
        inv = w.observer.begin(function, owner, label, chaotic, plan.focus)
        self.payloads[inv.seq] = (payload, plan.skew_s)
        context = ChaosContext(owner, plan.budget_ms, plan.drain_ms, inv)
        try:
            inv.answer = container.app.handle(payload, context)
        except ProcessDied:
            inv.died = True
            if self.warm.get(function) is container:
                del self.warm[function]
        except Exception as exc:  # noqa: BLE001 (the observer counts it as a violation)
            inv.raised = f"{type(exc).__name__}: {exc}"
        finally:
            w.observer.end(inv)
        self.outcomes[_outcome(inv)] += 1
        if not inv.nested:
            self._after(inv)
        return inv

    def _after(self, inv: Invocation) -> None:
        observer = self.w.observer
        if observer.view.trading_state() is TradingState.HALTED:
            self.switch = TradingState.HALTED  # a liquidation's halt_trading, or the operator's
        observer.check_stored(self.w.balances(), self.switch)
        observer.check_entries(self.w.truth.orders())

    def _warm(self, function: str, cold: bool) -> Container:
        if cold or function not in self.warm:
            self.warm[function] = self.w.container(function)
        return self.warm[function]

    def _odds(self, kind: str, p: float) -> float:
        """`p`, four times as much while `kind` was never injected (a short run meets it)."""
        return p if self.w.chaos.seen(kind) else min(1.0, 4 * p)

    def _count_plan(self, plan: Plan) -> None:
        faults = self.w.chaos.faults
        if plan.skew_s:
            faults["clock_skew"] += 1
        if plan.budget_ms < self.w.config.cycle.min_remaining_seconds_to_trade * 1000:
            faults["low_time"] += 1
        if plan.drain_ms:
            faults["time_runs_out"] += 1

    # --- the operator and the requests ------------------------------------------------------

    def _operator(self, rng: random.Random) -> None:
        """The operator's hand on the switch: sets HALTED now and then, clears it later."""
        roll = rng.random()
        if not self.w.chaos.armed:
            return
        stored = self.w.observer.view.trading_state()
        if stored is TradingState.HALTED and roll < 0.25:
            self.w.set_switch(TradingState.ACTIVE)
            self.switch = None
        elif stored is TradingState.REDUCING and roll < 0.2:
            self.w.set_switch(TradingState.ACTIVE)  # the release of a drawdown hold
        elif stored is TradingState.ACTIVE and roll < self._odds("kill_switch", 0.02):
            self.w.chaos.faults["kill_switch"] += 1
            self._halt()

    def _halt(self) -> None:
        self.w.set_switch(TradingState.HALTED)
        self.switch = TradingState.HALTED

    def _request(self, rng: random.Random) -> dict[str, Any]:
        """A liquidation request: mostly new, sometimes the last one again."""
        if self._last_request is not None and rng.random() < 0.2:
            return self._last_request
        self.requests += 1
        held = self.w.truth.balance_totals()
        coins = sorted(c for c, amount in held.items() if amount > 0 and c not in CASH)
        executes = rng.random() < 0.85
        request: dict[str, Any] = {
            "request_id": f"chaos-{self.w.backend}-{self.requests}",
            "dry_run": not executes,
            "target": rng.choice(["USDC", "USD"]),
            "keep": rng.sample(coins, k=rng.randint(0, min(2, len(coins)))),
            "halt_trading": rng.random() < 0.2,
        }
        if executes:
            request["confirm"] = "LIQUIDATE"
        self._last_request = request
        return request

    # --- a second invocation, run to its end inside the first one ------------------------

    def _concurrent(self, rng: random.Random) -> None:
        outer = self.w.observer.current
        assert outer is not None
        payload, skew = self.payloads[outer.seq]
        variant = choose(
            rng, [(v, 1) for v in (*CONCURRENT, "concurrent.liquidation")], self.w.chaos.seen
        )
        self.w.chaos.faults[variant] += 1
        function = "cycle"
        if variant == "concurrent.same_id":
            function = outer.function
        elif variant == "concurrent.liquidation":
            function = "liquidation" if outer.function == "cycle" else "cycle"
            payload = self._request(rng) if function == "liquidation" else self.events[-1]
        else:
            section = (
                self.w.config.cycle if outer.function == "cycle" else self.w.config.liquidation
            )
            lease = section.lock_lease_seconds + max(skew, 0)
            interval = self.w.config.cycle.interval_seconds
            lapse = math.ceil((lease + 1) / interval)
            self.w.clock.advance(1 if variant == "concurrent.next_id" else lapse)
            payload = scheduled_event(self.w.clock.now(), f"{self.step}-{outer.seq}")
        plan = Plan(chaotic=True, skew_s=0, cold=True)
        self.invoke(function, payload, plan, container=self.w.container(function))

    def report(self, wall_s: float) -> BackendReport:
        observer = self.w.observer
        return BackendReport(
            self.w.backend,
            self.step,
            self.outcomes,
            self.w.chaos.faults,
            observer.checked,
            observer.violations,
            len(observer.created),
            self.recoveries,
            wall_s,
            self._fingerprint(),
        )

    def _fingerprint(self) -> str:
        """A digest of the account and the stored state: equal for equal runs."""
        state = self.w.observer.view.load()
        orders = sorted(
            (c, o.status.value, str(o.filled_size)) for c, o in self.w.truth.orders().items()
        )
        text = repr((to_jsonable(state), orders, sorted(self.w.truth.balance_totals().items())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _outcome(inv: Invocation) -> str:
    if inv.died:
        return f"{inv.function}: died"
    if inv.raised is not None or inv.answer is None:
        return f"{inv.function}: raised"
    answer = inv.answer
    if inv.function == "liquidation":
        if not ran(inv):
            return "liquidation: refused"
        return "liquidation: ok" if answer.get("ok") else "liquidation: stopped (error)"
    if not answer.get("ok"):
        return "cycle: refused"
    if answer.get("orders"):
        return "cycle: placed orders"
    reason = str(answer.get("no_trade_reason") or "none")
    return f"cycle: {reason}"


# --- the whole run ------------------------------------------------------------------------


def run_chaos(options: RunOptions) -> list[BackendReport]:
    # The rigs' trading settings by default: the run is about the plumbing (orders, locks,
    # state), and the tuned defaults trade a few times a month, which would leave the order
    # paths nearly unexercised.
    config = chaos_config(load_config(options.config) if options.config else default_config())
    reports = []
    with _log_stream(options.log) as stream:
        for backend in options.backends:
            started = time.perf_counter()
            dice = Dice(options.seed)
            with open_world(backend, config, dice, options.rate, stream) as world:
                driver = Driver(world, options)
                with contextlib.redirect_stdout(EmfTap(world.observer, stream)):  # the metrics
                    driver.run()
                reports.append(driver.report(time.perf_counter() - started))
    return reports


@contextlib.contextmanager
def _log_stream(path: Path | None):
    if path is None:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            yield sink
    else:
        with path.open("w", encoding="utf-8") as sink:
            yield sink


def render(options: RunOptions, reports: Sequence[BackendReport]) -> str:
    out = io.StringIO()
    names = [r.backend for r in reports]
    print(
        f"247trader chaos run: seed {options.seed}, {options.cycles} steps per backend, "
        f"fault rate {options.rate}",
        file=out,
    )
    print(f"reproduce: {reproduce_command(options)}", file=out)
    _table(out, "run", names, _run_rows(reports))
    faults = [(k, [r.faults[k] for r in reports]) for k in KINDS]
    _table(out, "fault injected", [*names, "total"], [(k, [*v, sum(v)]) for k, v in faults])
    rows = [(n, [sum(r.checked[n] for r in reports), _violations(reports, n)]) for n in INVARIANTS]
    _table(out, "invariant", ["checked", "violations"], rows)
    for report in reports:
        for name, found in report.violations.items():
            for line in found[:5]:
                print(f"VIOLATION {name}: {line}", file=out)
            if len(found) > 5:
                print(f"VIOLATION {name}: ... and {len(found) - 5} more", file=out)
    return out.getvalue()


def _run_rows(reports: Sequence[BackendReport]) -> list[tuple[str, list[Any]]]:
    outcomes = sorted({k for r in reports for k in r.outcomes})
    rows: list[tuple[str, list[Any]]] = [("scheduled steps", [r.steps for r in reports])]
    cycles = [sum(v for k, v in r.outcomes.items() if k.startswith("cycle")) for r in reports]
    liquidations = [sum(v for k, v in r.outcomes.items() if k.startswith("liq")) for r in reports]
    rows += [("cycle invocations", cycles), ("liquidation invocations", liquidations)]
    rows += [(f"  {k}", [r.outcomes[k] for r in reports]) for k in outcomes]
    rows += [("orders created at the exchange", [r.orders for r in reports])]
    rows += [("recovery checkpoints", [r.recoveries for r in reports])]
    rows += [("wall time (s)", [f"{r.wall_s:.0f}" for r in reports])]
    rows += [("fingerprint", [r.fingerprint for r in reports])]
    return rows


def _violations(reports: Sequence[BackendReport], name: str) -> int:
    return sum(len(r.violations[name]) for r in reports)


def _table(
    out: io.StringIO, title: str, columns: Sequence[str], rows: Sequence[tuple[str, Sequence[Any]]]
) -> None:
    width = max(len(title), *(len(name) for name, _ in rows)) + 2
    print(file=out)
    print(title.ljust(width) + "".join(f"{c:>12}" for c in columns), file=out)
    for name, values in rows:
        print(name.ljust(width) + "".join(f"{v!s:>12}" for v in values), file=out)


def reproduce_command(options: RunOptions) -> str:
    backends = " ".join(options.backends)
    return (
        f".venv/bin/python tests/support/chaos_run.py --seed {options.seed} "
        f"--cycles {options.cycles} --backends {backends} --rate {options.rate} "
        f"--recover-every {options.recover_every} --liquidation-rate {options.liquidation_rate}"
        + (f" --config {options.config}" if options.config is not None else "")
    )


def parse_args(argv: Sequence[str] | None = None) -> RunOptions:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="default: a fresh one, printed")
    parser.add_argument("--cycles", type=int, default=1000, help="scheduled steps per backend")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--rate", type=float, default=0.06, help="chance a call fails")
    parser.add_argument("--recover-every", type=int, default=100)
    parser.add_argument("--liquidation-rate", type=float, default=0.05)
    parser.add_argument("--log", type=Path, default=None, help="write the handlers' logs here")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="default: lib/trader/default.yaml with the rigs' trading settings "
        "(tests/support/scripted_market.py RIG_TRADING), which trade often",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    return RunOptions(
        seed=seed,
        cycles=args.cycles,
        backends=tuple(args.backends),
        rate=args.rate,
        recover_every=args.recover_every,
        liquidation_rate=args.liquidation_rate,
        log=args.log,
        config=args.config,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    print(f"chaos run: seed {options.seed} ({', '.join(options.backends)})", flush=True)
    reports = run_chaos(options)
    print(render(options, reports))
    return 1 if any(r.violation_count for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
