"""Audit sinks on AWS: one S3 object per cycle, one structured CloudWatch line, and a fan-out."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trader.adapters.aws.metrics import count_needs_operator
from trader.domain.codec import parse_utc
from trader.domain.errors import AuditError
from trader.ports import AuditSink
from trader.service.audit import audit_jsonl

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_fallback_log = logging.getLogger(__name__)


def audit_key(record: Mapping[str, Any], prefix: str = "audit/") -> str:
    """`audit/dt=YYYY-MM-DD/hour=HH/<cycle_id>.jsonl` from the record's started_at (UTC)."""
    cycle_id = record.get("cycle_id")
    if not isinstance(cycle_id, str) or not _SAFE_ID.match(cycle_id):
        raise AuditError(f"audit record has no usable cycle_id: {cycle_id!r}")
    try:
        started = parse_utc(str(record["started_at"]))
    except (KeyError, ValueError) as exc:
        raise AuditError(f"audit record {cycle_id} has no valid started_at") from exc
    return f"{prefix}dt={started:%Y-%m-%d}/hour={started:%H}/{cycle_id}.jsonl"


class S3AuditSink:
    """One newline-delimited JSON object per cycle, encrypted at rest (Athena-friendly keys)."""

    def __init__(self, bucket: str, client: Any, prefix: str = "audit/") -> None:
        self._bucket = bucket
        self.client = client  # a boto3 S3 client (trader.bootstrap.AwsClients)
        self._prefix = prefix

    def write(self, record: Mapping[str, Any]) -> None:
        """Write at the cycle's key; never overwrite it (a repeated delivery of the same event
        audits `duplicate_invocation` under the same cycle id): that record goes beside it."""
        key = audit_key(record, self._prefix)
        body = audit_jsonl(record)
        try:
            self._put(key, body)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise AuditError(f"could not write s3://{self._bucket}/{key}") from exc
            self._write_beside(key, body, record)
        except BotoCoreError as exc:
            raise AuditError(f"could not write s3://{self._bucket}/{key}") from exc

    def _write_beside(self, key: str, body: bytes, record: Mapping[str, Any]) -> None:
        started = parse_utc(str(record["started_at"])).strftime("%Y%m%dT%H%M%S%fZ")
        other = key.removesuffix(".jsonl") + f".{started}.jsonl"
        try:
            self._put(other, body)
        except (ClientError, BotoCoreError) as exc:
            raise AuditError(f"could not write s3://{self._bucket}/{other}") from exc

    def _put(self, key: str, body: bytes) -> None:
        self.client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            ServerSideEncryption="AES256",
            IfNoneMatch="*",  # S3 conditional write: an existing record is never replaced
        )


# Keys the logging machinery owns; an audit field with such a name is logged as audit_<name>.
_RESERVED = frozenset(
    {"name", "msg", "args", "level", "levelname", "levelno", "pathname", "filename"}
    | {"module", "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created"}
    | {"msecs", "relativeCreated", "thread", "threadName", "processName", "process"}
    | {"asctime", "location", "timestamp", "message", "service", "taskName"}
    | {"cold_start", "function_name", "function_memory_size", "function_arn"}
    | {"function_request_id", "xray_trace_id", "sampling_rate"}
)


class CloudWatchAuditSink:
    """The record as one structured line through the Powertools Logger.

    Its fields sit at the top level of the line (`fields no_trade_reason` works in Logs
    Insights) next to `record_type = "audit"`. Powertools leaves out top-level nulls, which
    Logs Insights reads as null anyway.
    """

    def __init__(self, logger: Any = None) -> None:
        if logger is None:
            from aws_lambda_powertools import Logger

            logger = Logger()
        self._logger = logger

    def write(self, record: Mapping[str, Any]) -> None:
        fields = {(f"audit_{k}" if k in _RESERVED else k): v for k, v in record.items()}
        try:
            self._logger.info("audit record", extra={"record_type": "audit", **fields})
        except (TypeError, ValueError, KeyError, OSError) as exc:
            raise AuditError("could not log the audit record") from exc


FailureCallback = Callable[[str, Exception], None]


class FanoutAuditSink:
    """Every sink gets every record; a failing sink is logged and counted, never blocks the rest.

    Raises AuditError only when all sinks failed.
    """

    def __init__(self, sinks: Sequence[AuditSink], on_failure: FailureCallback | None = None):
        if not sinks:
            raise ValueError("FanoutAuditSink needs at least one sink")
        self._sinks = tuple(sinks)
        self._on_failure = on_failure

    def write(self, record: Mapping[str, Any]) -> None:
        failures: list[tuple[str, Exception]] = []
        for sink in self._sinks:
            name = type(sink).__name__
            try:
                sink.write(record)
            except Exception as exc:  # noqa: BLE001 (one broken sink must not starve the others)
                failures.append((name, exc))
                self._report(name, exc, record)
        if len(failures) == len(self._sinks):
            names = ", ".join(name for name, _ in failures)
            raise AuditError(f"every audit sink failed ({names})") from failures[-1][1]

    def _report(self, name: str, exc: Exception, record: Mapping[str, Any]) -> None:
        _fallback_log.error(
            "audit sink %s failed for cycle %s: %s: %s",
            name,
            record.get("cycle_id"),
            type(exc).__name__,
            exc,
        )
        if self._on_failure is not None:
            self._on_failure(name, exc)


def count_failures_in(metrics: Any, logger: Any = None) -> FailureCallback:
    """An on_failure callback counting NeedsOperator (`audit_sink_failed`, naming the sink)."""

    def count(sink: str, exc: Exception) -> None:
        count_needs_operator(metrics, "audit_sink_failed", f"{sink}: {type(exc).__name__}", logger)

    return count
