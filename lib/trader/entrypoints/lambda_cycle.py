"""The cycle on AWS Lambda: DynamoDB lock and state, S3 + CloudWatch audit, EMF metrics.

`CycleApp` is what functions/cycle/app.py calls. It builds its adapters once, on the
first event of a cold start (never at import), then turns each EventBridge scheduled
event into one `run_cycle` and a small JSON summary. Nothing escapes `handle`: a
malformed event or a broken deployment is logged, counted and answered with ok=false.

Event times: an event dated outside `cycle.event_window` around the clock (default: up to
one interval late, 5 s early) is refused before anything is locked, read or written
(EventRefused, counted as a `failed` CycleOutcome): a time far in the future saved as
last_cycle_id would turn every genuine cycle after it into `duplicate_invocation`.

Metrics (trader.adapters.aws.metrics): one `CycleOutcome` per invocation (ok, stuck or
failed), and `NeedsOperator` when the kill switch is engaged, a protection tripped or the
balances drifted from the book.

The lease: on a cold start the function's lease (`cycle.lock_lease_seconds`, or
`liquidation.lock_lease_seconds`) is checked against LAMBDA_TIMEOUT_SECONDS, and at every
invocation against the time the context has left; a lease that could lapse mid-run, or hold
back the next cycle after a timeout, refuses the invocation like a bad config.

Repeated deliveries: the cycle id comes from the event's scheduled `time`, and the cycle
answers `duplicate_invocation` when the stored state's last_cycle_id is not older. That
record is written in the same conditional, fenced transaction as the cycle's own state,
so it can never say "done" for work that was not saved (Powertools Idempotency would
keep a second record beside the state, with its own window and failure modes).
"""

from __future__ import annotations

import logging
import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from trader.adapters.aws.metrics import FAILED, count_needs_operator, count_outcome, outcome_of
from trader.adapters.clock import SystemClock
from trader.bootstrap import AwsClients, aws_deps, config_for, key_fingerprint, secrets_provider
from trader.domain.config import Config, CycleConfig
from trader.domain.errors import TraderError
from trader.domain.ids import cycle_id_for
from trader.domain.lease import check_lease_fits, check_lease_outlives
from trader.domain.models import CycleResult, NoTradeReason
from trader.ports import Clock
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle
from trader.settings import Settings

if TYPE_CHECKING:
    from trader.adapters.coinbase.credentials import SecretProvider

log = logging.getLogger("trader.aws")
Function = Literal["cycle", "liquidation"]  # which function's lease and adapters


class MalformedEvent(TraderError):
    """The invocation event is not an EventBridge scheduled event; nothing was traded."""


class EventRefused(TraderError):
    """A scheduled event dated outside the window around the clock; nothing was written."""


class ScheduledEvent(BaseModel):
    """The fields of an EventBridge scheduled event that the cycle relies on."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    id: str = Field(min_length=1)
    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    time: AwareDatetime

    @field_validator("time", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        # EventBridge writes ISO-8601 text; pydantic alone would take unix numbers too.
        if not isinstance(value, str) or not _ISO_TIME.match(value):
            shown = reprlib.repr(value)  # a few dozen characters, never the whole of a huge value
            raise ValueError(f"must be ISO-8601 text like 2026-11-24T04:05:00Z, got {shown}")
        return value


_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}", re.ASCII)


def parse_scheduled_event(event: Any) -> ScheduledEvent:
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"event must be a JSON object, got {type(event).__name__}")
    try:
        return ScheduledEvent.model_validate(dict(event))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()
        )
        raise MalformedEvent(f"not a scheduled event: {problems}") from None


@dataclass
class CycleApp:
    """Holds what a warm Lambda keeps between invocations: settings, config and adapters."""

    logger: Any = None
    metrics: Any = None
    environ: Mapping[str, str] | None = None  # None: os.environ (through Settings)
    clock: Clock | None = None  # None: the system clock
    clients: Mapping[str, Any] = field(default_factory=dict)  # "dynamodb"/"s3" for tests
    _built: Built | None = None

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            scheduled = parse_scheduled_event(event)
            settings, deps = self._bootstrap()
            check_lease_covers(deps.config, "cycle", context)
        except Exception as exc:  # noqa: BLE001 (a broken deployment must not raise: rule 4)
            return self._refuse(exc)
        try:
            cycle_id = accepted_cycle_id(scheduled.time, deps.clock.now(), deps.config.cycle)
        except EventRefused as exc:
            return self._refuse(exc)
        if self.logger is not None:
            self.logger.append_keys(cycle_id=cycle_id, scheduled_event_id=scheduled.id)
        request = CycleRequest(
            cycle_id=cycle_id,
            mode=settings.trading_mode,
            owner=getattr(context, "aws_request_id", None) or f"local-{scheduled.id}",
            remaining_seconds=remaining_time(context),
        )
        result = run_cycle(deps, request)
        self._emit(result)
        return summary(result)

    def _refuse(self, exc: Exception) -> dict[str, Any]:
        message = f"no cycle: {type(exc).__name__}: {exc}"
        (self.logger or log).error(message)
        count_outcome(self.metrics, FAILED)
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def _bootstrap(self) -> tuple[Settings, CycleDeps]:
        if not still_current(self._built):
            self._built = build_on_aws(
                self.environ, self.clients, self.clock, self.logger, self.metrics
            )
        return self._built.settings, self._built.deps

    def _emit(self, result: CycleResult) -> None:
        count_outcome(self.metrics, outcome_of(result.no_trade_reason))
        for kind, detail in needs_operator(result):
            count_needs_operator(self.metrics, kind, detail, self.logger)


def needs_operator(result: CycleResult) -> list[tuple[str, str]]:
    """(kind, detail) of what in this cycle a person must look at (NeedsOperator)."""
    found = []
    if result.no_trade_reason == NoTradeReason.KILL_SWITCH:
        found.append(("kill_switch", result.no_trade_detail or "engaged"))
    if result.protection_tripped:  # once, on the cycle that trips it
        found.append(("protection_tripped", result.protection_tripped))
    if result.drift:
        found.append(("reconciliation_drift", ", ".join(result.drift)))
    return found


def accepted_cycle_id(scheduled: datetime, now: datetime, cfg: CycleConfig) -> str:
    """The cycle id of an event dated within the window around the clock; else EventRefused.

    A time far off would be saved as last_cycle_id: one in the future would answer every
    genuine cycle after it `duplicate_invocation` (no exits, no stop loss) until then."""
    interval, window = cfg.interval_seconds, cfg.event_window
    late = timedelta(seconds=interval if window.late_seconds is None else window.late_seconds)
    early = timedelta(seconds=window.early_seconds)
    if not now - late <= scheduled <= now + early:
        raise EventRefused(
            f"event time {scheduled.isoformat()} is outside the accepted window "
            f"{_iso(now - late)} .. {_iso(now + early)} (clock {_iso(now)}: up to "
            f"{late.total_seconds():.0f} s late, {early.total_seconds():.0f} s early); "
            "nothing was written"
        )
    try:
        return cycle_id_for(scheduled, interval)
    except (ValueError, OverflowError) as exc:  # years 1 and 9999 have no room to floor
        raise EventRefused(f"event time {scheduled.isoformat()}: {exc}") from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Built:
    """What a warm container keeps: settings, adapters, and the digest of the Coinbase key
    they were built with (None: no secret configured, or none readable)."""

    settings: Settings
    deps: CycleDeps
    key: str | None
    secrets: SecretProvider | None = None  # its cache lives as long as the adapters


def still_current(built: Built | None) -> bool:
    """Built, and the Coinbase key in Secrets Manager is the one the adapters use.

    Key rotation: the secret is re-read through Powertools' cache (at most once every
    SECRET_MAX_AGE_S), so a key stored in a fresh stack or replaced is used within minutes,
    without a redeploy. An unreadable secret keeps the adapters built with the last key."""
    if built is None:
        return False
    secret_id = built.settings.coinbase_secret_id
    if not secret_id:
        return True
    if built.secrets is None:
        return True
    current = key_fingerprint(built.secrets, secret_id)
    if current is None or current == built.key:
        return True
    log.warning("the Coinbase key in %s changed: rebuilding the adapters with it", secret_id)
    return False


def build_on_aws(
    environ: Mapping[str, str] | None,
    clients: Mapping[str, Any],
    clock: Clock | None,
    logger: Any,
    metrics: Any,
    *,
    function: Function = "cycle",
) -> Built:
    """Settings from the environment and the adapters on AWS: once per cold start (and again
    when the Coinbase key changes). The liquidation keeps no candles; each function's lease
    is checked against its timeout."""
    settings = Settings.from_env(environ)
    config = config_for(settings)
    if settings.lambda_timeout_seconds is not None:
        setting, lease = lease_of(config, function)
        interval = config.cycle.interval_seconds
        timeout = settings.lambda_timeout_seconds
        check_lease_fits(setting, lease, timeout, interval, scheduled=function == "cycle")
    secrets = secrets_provider(clients) if settings.coinbase_secret_id else None
    deps = aws_deps(
        settings,
        config,
        clock or SystemClock(),
        AwsClients(given=clients),
        logger,
        metrics,
        keep_candles=function == "cycle",
        secrets=secrets,
    )
    if logger is not None:  # the package's own loggers write JSON lines too
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        names = {n for n in logging.root.manager.loggerDict if n.startswith("trader")}
        copy_config_to_registered_loggers(source_logger=logger, include=names)
    key = key_fingerprint(secrets, settings.coinbase_secret_id) if secrets else None
    return Built(settings, deps, key, secrets)


def lease_of(config: Config, function: Function) -> tuple[str, int]:
    """The setting that holds `function`'s lease, and its seconds."""
    section = config.cycle if function == "cycle" else config.liquidation
    return f"{function}.lock_lease_seconds", section.lock_lease_seconds


def check_lease_covers(config: Config, function: Function, context: Any) -> None:
    """ConfigError when this invocation's time left could outlast its lease (no context: none)."""
    remaining = remaining_time(context)
    if remaining is not None:
        check_lease_outlives(*lease_of(config, function), remaining())


def remaining_time(context: Any) -> Callable[[], float] | None:
    """The Lambda's time left in seconds, read when asked; None outside Lambda."""
    get_ms = getattr(context, "get_remaining_time_in_millis", None)
    if get_ms is None:
        return None
    return lambda: get_ms() / 1000


def summary(result: CycleResult) -> dict[str, Any]:
    """The handler's small JSON answer."""
    return {
        "ok": True,
        "cycle_id": result.cycle_id,
        "mode": result.mode.value,
        "no_trade_reason": str(result.no_trade_reason) if result.no_trade_reason else None,
        "orders": len(result.orders),
        "duration_ms": int((result.finished_at - result.started_at).total_seconds() * 1000),
    }
