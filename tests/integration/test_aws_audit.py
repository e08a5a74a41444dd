"""Audit sinks: the S3 object and key, the CloudWatch line, and each sink failing alone."""

from __future__ import annotations

import io
import itertools
import json
import logging

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import Metrics
from emf import Metric, metric_values

from trader.adapters.aws.audit import (
    CloudWatchAuditSink,
    FanoutAuditSink,
    S3AuditSink,
    count_failures_in,
)
from trader.domain.errors import AuditError

_loggers = itertools.count()


def record(**changes):
    base = {
        "schema_version": 1,
        "cycle_id": "20261124T0405Z",
        "mode": "DRY_RUN",
        "started_at": "2026-11-24T04:05:00.123Z",
        "finished_at": "2026-11-24T04:05:02.456Z",
        "duration_ms": 2333,
        "orders": [],
        "no_trade_reason": "rules_engine_no_proposals",
        "exception": None,
        "state": {"trades_today": 3, "exposure": "123.45", "pnl": "-0.50"},
    }
    return {**base, **changes}


def captured_logger() -> tuple[Logger, io.StringIO]:
    # Powertools reuses the logging.Logger of a service name, so each capture gets its own name
    out = io.StringIO()
    service = f"audit-test-{next(_loggers)}"
    return Logger(service=service, logger_handler=logging.StreamHandler(out)), out


class RaisingLogger:
    def info(self, *_args, **_kwargs):
        raise OSError("log pipe closed")


class CountingFailures:
    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def __call__(self, sink: str, exc: Exception) -> None:
        self.calls.append((sink, type(exc).__name__))


def test_write_when_s3_then_object_at_dated_key_with_one_json_line_encrypted(aws):
    S3AuditSink(aws.bucket, client=aws.s3).write(record())

    key = "audit/dt=2026-11-24/hour=04/20261124T0405Z.jsonl"
    obj = aws.s3.get_object(Bucket=aws.bucket, Key=key)
    body = obj["Body"].read().decode()
    assert body.endswith("\n")
    assert body.count("\n") == 1
    assert json.loads(body) == record()
    assert next(iter(json.loads(body))) == "schema_version"
    assert obj["ServerSideEncryption"] == "AES256"
    assert obj["ContentType"] == "application/x-ndjson"


def test_write_when_started_at_has_offset_then_key_uses_utc_date_and_hour(aws):
    # 01:30 at +02:00 is 23:30 UTC on the previous day
    S3AuditSink(aws.bucket, client=aws.s3).write(record(started_at="2026-11-24T01:30:00+02:00"))

    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert keys == ["audit/dt=2026-11-23/hour=23/20261124T0405Z.jsonl"]


def test_write_when_bucket_missing_then_audit_error_from_client_error(aws):
    with pytest.raises(AuditError, match="no-such-bucket") as caught:
        S3AuditSink("no-such-bucket", client=aws.s3).write(record())

    assert type(caught.value.__cause__).__name__ == "NoSuchBucket"


def test_write_when_cycle_id_is_a_path_then_audit_error_and_nothing_written(aws):
    with pytest.raises(AuditError, match="cycle_id"):
        S3AuditSink(aws.bucket, client=aws.s3).write(record(cycle_id="../escape"))

    assert aws.s3.list_objects_v2(Bucket=aws.bucket)["KeyCount"] == 0


def test_write_when_record_not_json_safe_then_audit_error(aws):
    with pytest.raises(AuditError, match="JSON-safe"):
        S3AuditSink(aws.bucket, client=aws.s3).write(record(duration_ms=float("nan")))


def test_write_when_cloudwatch_then_one_line_with_record_fields_at_top_level():
    logger, out = captured_logger()

    CloudWatchAuditSink(logger).write(record(name="clashes-with-logging"))

    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["record_type"] == "audit"
    assert line["no_trade_reason"] == "rules_engine_no_proposals"
    assert line["state"] == {"trades_today": 3, "exposure": "123.45", "pnl": "-0.50"}
    assert line["audit_name"] == "clashes-with-logging"
    expected = {k: v for k, v in record().items() if v is not None}
    assert {k: line[k] for k in expected} == expected


def test_write_when_s3_fails_alone_then_cloudwatch_still_gets_record_and_failure_counted(aws):
    logger, out = captured_logger()
    failures = CountingFailures()
    fanout = FanoutAuditSink(
        [S3AuditSink("no-such-bucket", client=aws.s3), CloudWatchAuditSink(logger)],
        on_failure=failures,
    )

    fanout.write(record())

    assert json.loads(out.getvalue())["cycle_id"] == "20261124T0405Z"
    assert failures.calls == [("S3AuditSink", "AuditError")]


def test_write_when_cloudwatch_fails_alone_then_s3_still_gets_record_and_failure_counted(aws):
    failures = CountingFailures()
    fanout = FanoutAuditSink(
        [CloudWatchAuditSink(RaisingLogger()), S3AuditSink(aws.bucket, client=aws.s3)],
        on_failure=failures,
    )

    fanout.write(record())

    assert aws.s3.list_objects_v2(Bucket=aws.bucket)["KeyCount"] == 1
    assert failures.calls == [("CloudWatchAuditSink", "AuditError")]


def test_write_when_every_sink_fails_then_audit_error_names_them(aws):
    fanout = FanoutAuditSink(
        [S3AuditSink("no-such-bucket", client=aws.s3), CloudWatchAuditSink(RaisingLogger())]
    )

    with pytest.raises(AuditError, match="S3AuditSink, CloudWatchAuditSink"):
        fanout.write(record())


def test_count_failures_in_when_a_sink_fails_then_needs_operator_counted_and_named(
    aws, capsys, caplog
):
    metrics = Metrics(namespace="247trader-test", service="audit-test")
    fanout = FanoutAuditSink(
        [S3AuditSink("no-such-bucket", client=aws.s3), CloudWatchAuditSink(captured_logger()[0])],
        on_failure=count_failures_in(metrics),
    )

    fanout.write(record())

    needs = Metric.of("247trader-test", "NeedsOperator", service="audit-test")
    assert metric_values(capsys.readouterr().out) == [(needs, 1.0)]
    assert "needs operator: audit_sink_failed: S3AuditSink: AuditError" in caplog.text


def test_write_when_cycle_id_already_audited_then_first_record_kept_and_second_beside_it(aws):
    sink = S3AuditSink(aws.bucket, client=aws.s3)
    sink.write(record())
    duplicate = record(started_at="2026-11-24T04:10:03.5Z", no_trade_reason="duplicate_invocation")

    sink.write(duplicate)

    prefix = "audit/dt=2026-11-24/hour=04/"
    first = aws.s3.get_object(Bucket=aws.bucket, Key=prefix + "20261124T0405Z.jsonl")
    # the second record's key carries its own started_at: 04:10:03.500000
    second_key = prefix + "20261124T0405Z.20261124T041003500000Z.jsonl"
    second = aws.s3.get_object(Bucket=aws.bucket, Key=second_key)
    assert json.loads(first["Body"].read()) == record()
    assert json.loads(second["Body"].read()) == duplicate
