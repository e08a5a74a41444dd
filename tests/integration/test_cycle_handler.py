"""The cycle Lambda on moto: every scheduled event in events/, repeated deliveries, malformed
events, a broken deployment, and the lock released after an exception (the liquidation
Lambda has its own: test_liquidate_handler.py)."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from aws_lambda_powertools.metrics import Metrics
from emf import Metric, log_to_this_stdout, metric_values

from trader.adapters.clock import SteppingClock
from trader.domain.config import DEFAULT_CONFIG_PATH
from trader.entrypoints.lambda_cycle import CycleApp

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
SCHEDULED_AT = datetime(2026, 11, 24, 4, 5, 3, tzinfo=UTC)  # 3 s after the 04:05 schedule


class LambdaContext:
    """The parts of the Lambda context the handler reads."""

    def __init__(self, request_id: str = "req-1", remaining_ms: int = 100_000) -> None:
        self.aws_request_id = request_id
        self.function_name = "CycleFunction"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cycle"
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


FAILED_OUTCOME = Metric.of(
    "247trader-test", "CycleOutcome", service="handler-test", outcome="failed"
)


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def app_for(aws, metrics=None, **env_changes) -> tuple[CycleApp, SteppingClock]:
    env = {
        "STATE_TABLE": aws.table,
        "AUDIT_BUCKET": aws.bucket,
        "EXCHANGE": "simulated",
        "TRADING_MODE": "PAPER",
        "LAMBDA_TIMEOUT_SECONDS": "120",  # as template.yaml sets it
        **env_changes,
    }
    clock = SteppingClock(SCHEDULED_AT, 300)
    clients = {"dynamodb": aws.dynamodb, "s3": aws.s3}
    return CycleApp(environ=env, clock=clock, clients=clients, metrics=metrics), clock


def audit_objects(aws) -> dict[str, dict]:
    listing = aws.s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])
    return {
        o["Key"]: json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=o["Key"])["Body"].read())
        for o in listing
    }


def test_handle_when_scheduled_event_then_one_cycle_audited_in_s3_and_state_saved(aws):
    app, _ = app_for(aws)

    answer = app.handle(event("scheduled.json"), LambdaContext())

    assert answer["ok"] is True
    assert answer["cycle_id"] == "20261124T0405Z"  # event time 04:05:00 floored to 5 minutes
    records = audit_objects(aws)
    assert list(records) == ["audit/dt=2026-11-24/hour=04/20261124T0405Z.jsonl"]
    record = next(iter(records.values()))
    assert record["mode"] == "PAPER"
    assert record["no_trade_reason"] == answer["no_trade_reason"]
    assert aws.item("PORTFOLIO#default", "STATE")["body"]["M"]["last_cycle_id"] == {
        "S": "20261124T0405Z"
    }


def test_handle_when_same_event_delivered_twice_then_second_is_duplicate_and_trades_nothing(aws):
    app, _ = app_for(aws)
    first = app.handle(event("scheduled.json"), LambdaContext("req-1"))
    version_after_first = aws.item("PORTFOLIO#default", "STATE")["version"]

    second = app.handle(event("scheduled-redelivery.json"), LambdaContext("req-2"))

    assert first["no_trade_reason"] != "duplicate_invocation"
    assert second["no_trade_reason"] == "duplicate_invocation"
    assert second["orders"] == 0
    duplicate = [
        r for r in audit_objects(aws).values() if r["no_trade_reason"] == second["no_trade_reason"]
    ]
    assert duplicate[0]["api_calls"] == {}  # not one exchange call, so no order either
    assert aws.item("PORTFOLIO#default", "STATE")["version"] == version_after_first


def test_handle_when_event_from_a_later_time_then_a_new_cycle_runs(aws):
    app, clock = app_for(aws)
    app.handle(event("scheduled.json"), LambdaContext("req-1"))
    clock.advance()

    later = app.handle(event("scheduled-later.json"), LambdaContext("req-2"))

    assert later["cycle_id"] == "20261124T0410Z"
    assert later["no_trade_reason"] != "duplicate_invocation"
    assert aws.item("PORTFOLIO#default", "STATE")["version"] == {"N": "2"}


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ([], "JSON object"),
        ("2026-11-24T04:05:00Z", "JSON object"),
        ({}, "time"),
        ({**event("scheduled.json"), "time": "yesterday"}, "time"),
        ({**event("scheduled.json"), "time": "2026-11-24T04:05:00"}, "time"),  # no timezone
        ({**event("scheduled.json"), "detail-type": "Object Created"}, "detail-type"),
        ({**event("scheduled.json"), "source": "aws.s3"}, "source"),
        (event("liquidate-dry-run.json"), "time"),  # a liquidation request is no cycle
        ({**event("scheduled.json"), "time": 1795493100}, "time"),  # unix seconds of 04:05
        ({**event("scheduled.json"), "time": 1795493100.0}, "time"),
        ({**event("scheduled.json"), "time": "1795493100"}, "time"),
    ],
)
def test_handle_when_event_malformed_then_clear_error_no_trade_and_nothing_written(
    aws, capsys, bad, named
):
    metrics = Metrics(namespace="247trader-test", service="handler-test")
    app, _ = app_for(aws, metrics=metrics)

    answer = app.handle(bad, LambdaContext())

    assert answer["ok"] is False
    assert "MalformedEvent" in answer["error"]
    assert named in answer["error"]
    assert aws.all_items() == []
    assert audit_objects(aws) == {}
    assert metric_values(capsys.readouterr().out) == [(FAILED_OUTCOME, 1.0)]


@pytest.mark.parametrize(
    "when",
    [
        "2026-11-25T04:05:00Z",  # a day ahead: would be last_cycle_id until tomorrow
        "9999-12-31T23:59:59Z",  # for ever
        "0999-06-01T00:00:00Z",  # its old id 9990601T0000Z sorted above every real one
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: no cycle id at all
        "9999-12-31T23:59:00-01:00",  # after year 9999 in UTC
        "2026-11-24T03:59:59Z",  # 304 s before the clock (04:05:03): over one interval late
        "2026-11-24T04:05:09Z",  # 6 s after the clock: over 5 s early
    ],
)
def test_handle_when_event_dated_outside_the_window_then_refused_and_nothing_written(
    aws, capsys, when
):
    metrics = Metrics(namespace="247trader-test", service="handler-test")
    app, _ = app_for(aws, metrics=metrics)

    answer = app.handle({**event("scheduled.json"), "time": when}, LambdaContext())

    assert answer["ok"] is False
    assert answer["error"].startswith("EventRefused: event time ")
    # the window, clock 04:05:03 less one interval (300 s) to plus 5 s
    assert "2026-11-24T04:00:03Z .. 2026-11-24T04:05:08Z" in answer["error"]
    assert aws.all_items() == []  # no lock, no state
    assert audit_objects(aws) == {}
    assert metric_values(capsys.readouterr().out) == [(FAILED_OUTCOME, 1.0)]


@pytest.mark.parametrize(
    ("when", "cycle_id"),
    [
        ("2026-11-24T04:00:03Z", "20261124T0400Z"),  # exactly one interval late
        ("2026-11-24T04:05:08Z", "20261124T0405Z"),  # exactly 5 s early
    ],
)
def test_handle_when_event_dated_at_the_edges_of_the_window_then_the_cycle_runs(
    aws, when, cycle_id
):
    app, _ = app_for(aws)

    answer = app.handle({**event("scheduled.json"), "time": when}, LambdaContext())

    assert answer["ok"] is True
    assert answer["cycle_id"] == cycle_id


def test_handle_when_a_future_event_came_first_then_the_genuine_cycle_still_runs(aws):
    app, _ = app_for(aws)
    app.handle({**event("scheduled.json"), "time": "2026-11-25T04:05:00Z"}, LambdaContext("r1"))

    answer = app.handle(event("scheduled.json"), LambdaContext("req-2"))

    assert answer["ok"] is True
    assert answer["no_trade_reason"] != "duplicate_invocation"
    assert aws.item("PORTFOLIO#default", "STATE")["body"]["M"]["last_cycle_id"] == {
        "S": "20261124T0405Z"
    }


def test_handle_when_live_not_confirmed_then_refused_without_touching_aws(aws):
    app, _ = app_for(aws, TRADING_MODE="LIVE", EXCHANGE="coinbase")

    answer = app.handle(event("scheduled.json"), LambdaContext())

    assert answer["ok"] is False
    assert "LiveTradingRefused" in answer["error"]
    assert aws.all_items() == []


def test_handle_when_state_table_not_set_then_settings_error_and_no_cycle(aws):
    app, _ = app_for(aws, STATE_TABLE="")

    answer = app.handle(event("scheduled.json"), LambdaContext())

    assert answer == {
        "ok": False,
        "error": "SettingsError: STATE_TABLE and AUDIT_BUCKET must both be set on AWS",
    }


def config_with(tmp_path: Path, section: str, **fields) -> Path:
    """The default config with `fields` changed in `section`, as a file."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw[section].update(fields)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("lease", "timeout", "bounds"),
    [
        ("140", "120", "between 150 s"),  # lapses before a timed-out run has stopped
        ("180", "250", "between 280 s"),  # the Timeout was raised, the lease not
    ],
)
def test_handle_when_the_lease_does_not_fit_the_timeout_then_refused_and_nothing_written(
    aws, capsys, tmp_path, lease, timeout, bounds
):
    metrics = Metrics(namespace="247trader-test", service="handler-test")
    config = config_with(tmp_path, "cycle", lock_lease_seconds=int(lease))
    app, _ = app_for(aws, metrics=metrics, CONFIG_PATH=str(config), LAMBDA_TIMEOUT_SECONDS=timeout)

    answer = app.handle(event("scheduled.json"), LambdaContext())

    assert answer["ok"] is False
    assert answer["error"].startswith(f"ConfigError: cycle.lock_lease_seconds is {lease} s;")
    assert f"a Lambda timeout of {timeout} s" in answer["error"]
    assert bounds in answer["error"]
    assert aws.all_items() == []  # no lock, no state
    assert audit_objects(aws) == {}
    assert metric_values(capsys.readouterr().out) == [(FAILED_OUTCOME, 1.0)]


def test_handle_when_the_invocation_has_more_time_than_the_lease_then_refused_before_the_lock(
    aws,
):
    app, _ = app_for(aws, LAMBDA_TIMEOUT_SECONDS="")  # not told: the context still is
    # 200 s left + 30 s margin against the 180 s lease: the lock could lapse mid-run
    answer = app.handle(event("scheduled.json"), LambdaContext(remaining_ms=200_000))

    assert answer["ok"] is False
    assert (
        "cycle.lock_lease_seconds is 180 s but this invocation has 200 s left" in (answer["error"])
    )
    assert aws.all_items() == []
    assert audit_objects(aws) == {}


def test_handle_when_lock_held_by_another_invocation_then_lock_held_audited(aws):
    from trader.adapters.aws.dynamo_lock import DynamoCycleLock

    DynamoCycleLock(aws.table, client=aws.dynamodb).acquire("other-invocation", SCHEDULED_AT, 600)
    app, _ = app_for(aws)

    answer = app.handle(event("scheduled.json"), LambdaContext())

    assert answer["no_trade_reason"] == "lock_held"
    assert aws.item("LOCK#cycle", "LOCK")["owner"] == {"S": "other-invocation"}


def test_handle_when_state_corrupt_then_exception_audited_and_lock_released(aws):
    corrupt = {"pk": {"S": "PORTFOLIO#default"}, "sk": {"S": "STATE"}, "version": {"N": "1"}}
    corrupt |= {"state_schema": {"N": "99"}, "trading_state": {"S": "ACTIVE"}, "body": {"M": {}}}
    aws.dynamodb.put_item(TableName=aws.table, Item=corrupt)
    app, _ = app_for(aws)

    answer = app.handle(event("scheduled.json"), LambdaContext())

    assert answer["no_trade_reason"] == "exception:StateCorrupt"
    lock_item = aws.item("LOCK#cycle", "LOCK")
    assert "owner" not in lock_item  # released on the exception path
    assert lock_item["fence_token"] == {"N": "1"}
    assert aws.item("PORTFOLIO#default", "STATE") == corrupt  # left for a human


def _load_handler_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cycle_handler_module_when_invoked_then_summary_and_emf_metrics_printed(
    aws, monkeypatch, capsys
):
    # the real functions/cycle/app.py, configured only through its environment
    for name, value in {
        "STATE_TABLE": aws.table,
        "AUDIT_BUCKET": aws.bucket,
        "EXCHANGE": "simulated",
        "TRADING_MODE": "DRY_RUN",
        "LAMBDA_TIMEOUT_SECONDS": "120",  # as template.yaml sets it
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "247trader",
        "POWERTOOLS_METRICS_NAMESPACE": "247trader",
    }.items():
        monkeypatch.setenv(name, value)
    module = _load_handler_module(REPO / "functions" / "cycle" / "app.py", "cycle_app")
    module.app.clock = SteppingClock(SCHEDULED_AT, 300)
    log_to_this_stdout("247trader")

    answer = module.handler(event("scheduled.json"), LambdaContext())

    assert answer["ok"] is True
    assert answer["mode"] == "DRY_RUN"
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    ok = Metric.of("247trader", "CycleOutcome", service="247trader", outcome="ok")
    assert metric_values(out) == [(ok, 1.0)]  # one count a cycle, nothing else
    audit_lines = [line for line in lines if line.get("record_type") == "audit"]
    assert audit_lines[0]["cycle_id"] == "20261124T0405Z"
    assert audit_lines[0]["service"] == "247trader"


def test_local_stack_when_run_then_writes_state_and_audit_and_stops_server():
    import io

    from local_stack import run

    out = io.StringIO()
    run(extra_cycles=1, out=out)

    text = out.getvalue()
    # 3 event files + 1 later cycle (the redelivery audited beside the first record), and
    # the liquidation dry run
    assert "S3 247trader-local-audit: 5 objects" in text
    assert "duplicate_invocation" in text
    assert "liquidation-liquidate-2026-11-24-a.jsonl" in text
    assert "LOCK#cycle" in text
    assert text.rstrip().endswith("moto server stopped")


def test_cycle_handler_when_a_booked_coin_is_not_on_the_exchange_then_drift_needs_operator(
    aws, capsys, caplog
):
    from trader.adapters.aws.dynamo_state import DynamoStateStore
    from trader.domain.models import Position
    from trader.domain.state import PortfolioState

    store = DynamoStateStore(aws.table, aws.dynamodb)
    phantom = Position("BTC-USD", Decimal(1), Decimal(60_000), SCHEDULED_AT)
    store.save(PortfolioState(positions={"BTC-USD": phantom}), None)
    metrics = Metrics(namespace="247trader-test", service="handler-test")
    app, _ = app_for(aws, metrics=metrics)

    answer = app.handle(event("scheduled.json"), LambdaContext())

    assert answer["ok"] is True
    needs = Metric.of("247trader-test", "NeedsOperator", service="handler-test")
    assert (needs, 1.0) in metric_values(capsys.readouterr().out)
    assert "needs operator: reconciliation_drift: BTC" in caplog.text
    assert store.load().positions == {}  # the simulated account holds no BTC: closed
    (record,) = audit_objects(aws).values()
    assert record["reconciliation"]["drift"] == [
        {"currency": "BTC", "booked": "1", "exchange": "0", "cause": "unknown"}
    ]
