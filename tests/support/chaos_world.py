"""The chaos run's world: moto for AWS, the account (the simulated exchange, or the fake
Coinbase under the real SDK), and Lambda containers running the real handlers on them, with
the injection of tests/support/chaos_inject.py wired in.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import responses
from aws_fixtures import MotoAws, client, moto_aws
from aws_lambda_powertools import Logger
from aws_resources import load_template
from chaos_faults import CLOUDWATCH, Dice
from chaos_inject import AwsHooks, Chaos, ChaosPort, RecordingAccount, http_fault_source
from chaos_observer import Invocation, Observer, StoreView
from fake_coinbase import FakeCoinbase
from fake_coinbase_env import KEY_NAME, RecordingSleep, build_exchange, throwaway_key

from trader.adapters.aws.dynamo_state import DynamoStateStore, set_trading_state
from trader.adapters.clock import SteppingClock
from trader.adapters.coinbase.candles import InMemoryCandleCache
from trader.adapters.sim.exchange import build_simulated_exchange
from trader.domain.config import Config
from trader.domain.models import Mode, TradingState
from trader.entrypoints.lambda_cycle import CycleApp, build_on_aws
from trader.entrypoints.lambda_liquidate import LiquidateApp

SECRET_ID = "trader/coinbase-chaos"
# Each function's Timeout as the template gives it (LAMBDA_TIMEOUT_SECONDS): its lease is
# checked against it on a cold start.
TIMEOUTS = {
    name: int(load_template()["Resources"][resource]["Properties"]["Timeout"])
    for name, resource in (("cycle", "CycleFunction"), ("liquidation", "LiquidateFunction"))
}


# --- Lambda containers ----------------------------------------------------------------------


class SkewedClock:
    """A container's clock: the true time plus its own error."""

    def __init__(self, true: SteppingClock) -> None:
        self.true = true
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return self.true.now() + self.offset


class ChaosMetrics:
    """Stands in for Powertools Metrics: the handlers print their EMF lines (single_metric)
    under this namespace and service; `EmfTap` reads them back per invocation."""

    namespace = "247trader-chaos"
    service = "247trader-chaos"


class EmfTap(io.TextIOBase):
    """stdout during the run: each EMF line (a metric the handlers emit) is counted for the
    invocation that printed it, as `<name>` and `<name>:<dimension values>`; every line goes
    on to the log stream."""

    def __init__(self, observer: Observer, sink: io.TextIOBase) -> None:
        self._observer = observer
        self._sink = sink
        self._partial = ""

    def write(self, text: str) -> int:
        self._sink.write(text)
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._count(line)
        return len(text)

    def _count(self, line: str) -> None:
        inv = self._observer.current
        if inv is None or not line.startswith("{"):
            return
        emf = json.loads(line)
        for declared in emf.get("_aws", {}).get("CloudWatchMetrics", []):
            names = sorted({d for dims in declared.get("Dimensions", []) for d in dims})
            values = ",".join(str(emf[d]) for d in names if d != "service")
            for metric in declared.get("Metrics", []):
                inv.metrics[metric["Name"]] += 1
                inv.metrics[f"{metric['Name']}:{values}"] += 1


class ChaosLogger(Logger):
    """The Powertools Logger (JSON lines into `stream`); the CloudWatch audit line may fail."""

    def __init__(self, chaos: Chaos, stream: io.TextIOBase) -> None:
        super().__init__(service="247trader-chaos", stream=stream)
        self._chaos = chaos
        handler = self.registered_handler  # shared by every Logger of the service: a 2nd run
        if isinstance(handler, logging.StreamHandler):  # in this process writes to its stream
            handler.stream = stream  # (not setStream: it flushes the last run's, now closed)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Also notes what a NeedsOperator count was for (`extra.needs_operator`)."""
        kind = (kwargs.get("extra") or {}).get("needs_operator")
        if kind is not None and self._chaos.observer.current is not None:
            self._chaos.observer.current.needs[kind] += 1
        return super().warning(msg, *args, **kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if msg != "audit record":
            return super().info(msg, *args, **kwargs)
        if self._chaos.strike("cloudwatch:audit", CLOUDWATCH) is not None:
            raise OSError("chaos: CloudWatch Logs did not take the line")
        super().info(msg, *args, **kwargs)
        if self._chaos.observer.current is not None:
            self._chaos.observer.current.cloudwatch_audits += 1
        return None


@dataclass
class ChaosContext:
    """The Lambda context: its time left drains with every port call when the plan says so."""

    aws_request_id: str
    budget_ms: int
    drain_ms: int
    invocation: Invocation
    function_name: str = "chaos"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:chaos"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.budget_ms - self.drain_ms * self.invocation.port_calls)


@dataclass
class Container:
    """One warm Lambda instance of one function: its app (adapters built once) and clock."""

    function: str
    app: CycleApp | LiquidateApp
    clock: SkewedClock


@dataclass
class World:
    """One backend's account, AWS, clock and the means to start Lambda containers on them."""

    backend: str
    config: Config
    clock: SteppingClock
    aws: MotoAws
    truth: RecordingAccount
    observer: Observer
    chaos: Chaos
    environ: dict[str, str]
    logger: ChaosLogger
    metrics: ChaosMetrics
    fake: FakeCoinbase | None = None
    state_client: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clients(self) -> dict[str, Any]:
        return {"dynamodb": self.aws.dynamodb, "s3": self.aws.s3} | self.extra["clients"]

    def container(self, function: str) -> Container:
        """A cold start: the handler's own composition (build_on_aws), with the waits of the
        exchange's retries and of the confirm polls not really waiting."""
        clock = SkewedClock(self.clock)
        environ = {**self.environ, "LAMBDA_TIMEOUT_SECONDS": str(TIMEOUTS[function])}
        built = build_on_aws(
            environ,
            self.clients,
            clock,
            self.logger,
            self.metrics,
            function="cycle" if function == "cycle" else "liquidation",
        )
        settings, deps = built.settings, built.deps
        if self.backend == "sim":  # the simulated account is traded as LIVE would trade it
            settings = settings.model_copy(update={"trading_mode": Mode.LIVE})
        port = ChaosPort(self._adapter(clock, deps.candle_cache), self.chaos, self.backend == "sim")
        deps = dataclasses.replace(deps, config=self.config, exchange=port, sleep=_no_wait)
        built = dataclasses.replace(built, settings=settings, deps=deps)
        common = {"logger": self.logger, "metrics": self.metrics, "environ": environ}
        common |= {"clock": clock, "clients": self.clients, "_built": built}
        app = CycleApp(**common) if function == "cycle" else LiquidateApp(**common)
        return Container(function, app, clock)

    def _adapter(self, clock: SkewedClock, cache: Any) -> Any:
        if self.fake is None:
            return self.truth
        return build_exchange(
            clock,  # type: ignore[arg-type]
            RecordingSleep(),
            candle_cache=cache if cache is not None else InMemoryCandleCache(),
        )

    def set_switch(self, wanted: TradingState) -> None:
        """The operator's switch (its own client: no faults, not observed as the bot's)."""
        set_trading_state(self.aws.table, wanted, self.state_client)

    def balances(self) -> dict[str, Any]:
        held = self.truth.get_balances()
        return {
            f"{c} {part}": getattr(b, part)
            for c, b in held.items()
            for part in ("available", "hold")
        }


def _no_wait(_seconds: float) -> None:
    return None


# --- building a world ---------------------------------------------------------------------


@contextmanager
def open_world(
    backend: str, config: Config, dice: Dice, rate: float, log_stream: io.TextIOBase
) -> Iterator[World]:
    """moto, the account and the observer for `backend` ("sim" or "coinbase")."""
    with ExitStack() as stack:
        stack.enter_context(_logs_into(log_stream))
        stack.enter_context(_aws_environment())
        aws = stack.enter_context(moto_aws())
        state_client = client("dynamodb")
        view = _store_view(aws.table, state_client)
        where: dict[str, str] = {"at": backend}
        observer = Observer(view, lambda: where["at"])
        chaos = Chaos(dice, backend, observer, rate)
        clock = SteppingClock(_start(config), config.cycle.interval_seconds)
        environ = _environ(aws, backend)
        fake, clients = None, {}
        if backend == "coinbase":
            fake = stack.enter_context(_fake_coinbase(config, clock, chaos))
            truth = RecordingAccount(fake.routes.exchange, observer, creates=False)
            fake.routes.exchange = truth  # type: ignore[assignment]
            clients["secretsmanager"] = _store_key()
        else:
            truth = RecordingAccount(
                build_simulated_exchange(config, clock), observer, creates=True
            )
        hooks = AwsHooks(chaos)
        hooks.install(aws.dynamodb, "dynamodb")
        hooks.install(aws.s3, "s3")
        logger = ChaosLogger(chaos, log_stream)
        world = World(
            backend, config, clock, aws, truth, observer, chaos, environ, logger,
            ChaosMetrics(), fake, state_client, {"where": where, "clients": clients},
        )  # fmt: skip
        yield world


def _start(config: Config) -> datetime:
    start = config.simulator.start if config.simulator is not None else None
    if start is None:
        raise ValueError("the chaos run needs the config's simulator section (its start)")
    return start + timedelta(seconds=3)  # events arrive a few seconds after their schedule


def _environ(aws: MotoAws, backend: str) -> dict[str, str]:
    env = {"STATE_TABLE": aws.table, "AUDIT_BUCKET": aws.bucket}
    if backend == "sim":
        return env | {"EXCHANGE": "simulated", "TRADING_MODE": "PAPER"}
    return env | {
        "EXCHANGE": "coinbase",
        "TRADING_MODE": "LIVE",
        "LIVE_TRADING_CONFIRMED": "yes",
        "COINBASE_SECRET_ID": SECRET_ID,
    }


def _store_key() -> Any:
    """The throwaway key in (moto's) Secrets Manager, as a deployment stores it; the client."""
    pem, _ = throwaway_key()
    secrets = client("secretsmanager")
    secrets.create_secret(
        Name=SECRET_ID, SecretString=json.dumps({"name": KEY_NAME, "privateKey": pem})
    )
    return secrets


def _store_view(table: str, state_client: Any) -> StoreView:
    """Reads of single attributes where they do (moto serializes whole items slowly)."""
    store = DynamoStateStore(table, state_client)
    pk = {"S": "PORTFOLIO#default"}

    def attribute(sk: str, name: str) -> dict[str, Any] | None:
        key = {"pk": pk, "sk": {"S": sk}}
        return state_client.get_item(
            TableName=table,
            Key=key,
            ConsistentRead=True,
            ProjectionExpression="#a",
            ExpressionAttributeNames={"#a": name},
        ).get("Item")

    def trading_state() -> TradingState:
        value = (attribute("STATE", "trading_state") or {}).get("trading_state", {}).get("S")
        return TradingState(value) if value else TradingState.ACTIVE

    def has_order(coid: str) -> bool:
        return attribute(f"ORDER#{coid}", "sk") is not None

    return StoreView(store.load, trading_state, has_order)


@contextmanager
def _fake_coinbase(config: Config, clock: SteppingClock, chaos: Chaos) -> Iterator[FakeCoinbase]:
    _, public_key = throwaway_key()
    assert config.simulator is not None
    fake = FakeCoinbase.from_config(config.simulator, clock, verify_key=public_key)
    fake.fault_source = functools.partial(http_fault_source, fake, chaos)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield fake


@contextmanager
def _aws_environment() -> Iterator[None]:
    """Region and fake credentials for the clients boto3 builds itself (Powertools'
    Secrets Manager provider); restored afterwards."""
    wanted = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing"}
    wanted |= {"AWS_SECRET_ACCESS_KEY": "testing"}
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _logs_into(stream: io.TextIOBase) -> Iterator[None]:
    """The package's and the SDK's log lines go to `stream` (build_on_aws points the
    package's loggers at the handler's Logger as well); every logger is put back after."""
    names = ["trader", "coinbase", "coinbase.RESTClient"]
    names += [n for n in logging.root.manager.loggerDict if n.startswith("trader.")]
    kept = {n: _logger_config(logging.getLogger(n)) for n in names}
    for name in ("trader", "coinbase.RESTClient"):
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [logging.StreamHandler(stream)], False
    try:
        yield
    finally:
        for name in {
            *names,
            *(n for n in logging.root.manager.loggerDict if n.startswith("trader")),
        }:
            logger = logging.getLogger(name)
            handlers, propagate, level = kept.get(name, ([], True, logging.NOTSET))
            logger.handlers, logger.propagate = list(handlers), propagate
            logger.setLevel(level)


def _logger_config(logger: logging.Logger) -> tuple[list[logging.Handler], bool, int]:
    return list(logger.handlers), logger.propagate, logger.level
