"""The cycle on AWS Lambda: DynamoDB lock and state, S3 + CloudWatch audit, EMF metrics.

`CycleApp` is what functions/cycle/app.py calls. It builds its adapters once, on the
first event of a cold start (never at import), then turns each EventBridge scheduled
event into one `run_cycle` and a small JSON summary. Nothing escapes `handle`: a
malformed event or a broken deployment is logged, counted and answered with ok=false.

Event times: an event dated outside `cycle.event_window` around the clock (default: up to
one interval late, 5 s early) is refused before anything is locked, read or written
(EventRefused, counted as `EventRefused` and `HandlerErrors`): a time far in the future saved
as last_cycle_id would turn every genuine cycle after it into `duplicate_invocation`.

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
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from trader.adapters.clock import SystemClock
from trader.bootstrap import AwsClients, aws_deps, config_for
from trader.domain.config import CycleConfig
from trader.domain.errors import TraderError
from trader.domain.ids import cycle_id_for
from trader.domain.models import CycleResult
from trader.ports import Clock
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle
from trader.settings import Settings

log = logging.getLogger("trader.aws")


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
    _built: tuple[Settings, CycleDeps] | None = None

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            scheduled = parse_scheduled_event(event)
            settings, deps = self._bootstrap()
        except Exception as exc:  # noqa: BLE001 (a broken deployment must not raise: rule 4)
            return self._refuse(exc)
        try:
            cycle_id = accepted_cycle_id(scheduled.time, deps.clock.now(), deps.config.cycle)
        except EventRefused as exc:
            self._count("EventRefused")
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
        self._count("HandlerErrors")
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def _bootstrap(self) -> tuple[Settings, CycleDeps]:
        if self._built is None:
            self._built = build_on_aws(
                self.environ, self.clients, self.clock, self.logger, self.metrics
            )
        return self._built

    def _count(self, name: str, value: float = 1) -> None:
        count(self.metrics, name, value)

    def _emit(self, result: CycleResult) -> None:
        if self.metrics is None:
            return
        from aws_lambda_powertools.metrics import MetricUnit

        self._count("Cycles")
        self._count("OrdersPlaced", len(result.orders))
        duration_ms = (result.finished_at - result.started_at).total_seconds() * 1000
        self.metrics.add_metric(
            name="CycleDurationMs", unit=MetricUnit.Milliseconds, value=duration_ms
        )
        # Metric values are floats by EMF's definition; money stays Decimal everywhere else.
        for name, amount in (
            ("ExposureQuote", result.exposure),
            ("PnlTodayQuote", result.realized_pnl_today),
            ("EquityQuote", result.equity),
        ):
            if amount is not None and amount.is_finite():
                self.metrics.add_metric(name=name, unit=MetricUnit.NoUnit, value=float(amount))
        if result.drift:  # the booked positions drifted from the exchange's balances
            self._count("BalanceDrift", len(result.drift))
        if result.no_trade_reason:
            self._count("NoTrade")
            self._count_by("NoTradeByReason", "reason", result.no_trade_reason.split(":")[0])
        if result.protection_tripped:  # once, on the cycle that trips it (alarm on it)
            self._count_by("ProtectionTripped", "protection", result.protection_tripped)

    def _count_by(self, name: str, dimension: str, value: str) -> None:
        """One count under its own dimension (EMF: a metric of its own, not the shared set)."""
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name=name, unit=MetricUnit.Count, value=1, namespace=self.metrics.namespace
        ) as metric:
            metric.add_dimension(name=dimension, value=value)


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


def build_on_aws(
    environ: Mapping[str, str] | None,
    clients: Mapping[str, Any],
    clock: Clock | None,
    logger: Any,
    metrics: Any,
    *,
    keep_candles: bool = True,
) -> tuple[Settings, CycleDeps]:
    """Settings from the environment and the adapters on AWS: once per cold start."""
    settings = Settings.from_env(environ)
    config = config_for(settings)
    deps = aws_deps(
        settings,
        config,
        clock or SystemClock(),
        AwsClients(given=clients),
        logger,
        metrics,
        keep_candles=keep_candles,
    )
    if logger is not None:  # the package's own loggers write JSON lines too
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        names = {n for n in logging.root.manager.loggerDict if n.startswith("trader")}
        copy_config_to_registered_loggers(source_logger=logger, include=names)
    return settings, deps


def count(metrics: Any, name: str, value: float = 1) -> None:
    """Add to a Powertools count metric; no-op without metrics (tests, local runs)."""
    if metrics is not None:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


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
