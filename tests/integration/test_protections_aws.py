"""The max-drawdown hold on AWS (moto): the cycle handler trips it, DynamoDB keeps REDUCING,
NeedsOperator (`protection_tripped`) is counted once, and the operator's switch releases it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aws_lambda_powertools.metrics import Metrics
from emf import Metric, metric_values

from trader.adapters.aws.dynamo_state import DynamoStateStore, set_trading_state
from trader.adapters.clock import SteppingClock
from trader.domain.models import TradingState
from trader.domain.state import PortfolioState
from trader.entrypoints.lambda_cycle import CycleApp

EVENTS = Path(__file__).resolve().parents[2] / "events"
SCHEDULED_AT = datetime(2026, 11, 24, 4, 5, 3, tzinfo=UTC)  # 3 s after the 04:05 schedule


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def context(request_id: str) -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=request_id, get_remaining_time_in_millis=lambda: 100_000)


def app_for(aws, metrics: Metrics | None = None) -> tuple[CycleApp, SteppingClock]:
    """The cycle app in PAPER on the simulated exchange, with moto's table and bucket."""
    env = {
        "STATE_TABLE": aws.table,
        "AUDIT_BUCKET": aws.bucket,
        "EXCHANGE": "simulated",
        "TRADING_MODE": "PAPER",
        "LAMBDA_TIMEOUT_SECONDS": "120",  # as template.yaml sets it
    }
    clock = SteppingClock(SCHEDULED_AT, 300)
    clients = {"dynamodb": aws.dynamodb, "s3": aws.s3}
    return CycleApp(environ=env, clock=clock, clients=clients, metrics=metrics), clock


def audit_records(aws) -> dict[str, dict[str, Any]]:
    """cycle id -> its audit record in S3."""
    listing = aws.s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])
    bodies = (aws.s3.get_object(Bucket=aws.bucket, Key=o["Key"])["Body"] for o in listing)
    return {r["cycle_id"]: r for r in (json.loads(b.read()) for b in bodies)}


def test_handle_when_equity_is_far_below_its_peak_then_reducing_stored_audited_and_counted(
    aws, capsys, caplog
):
    # PAPER starts with 10,000 of paper cash; a 100,000 peak is a 90 % drawdown.
    store = DynamoStateStore(aws.table, aws.dynamodb)
    store.save(PortfolioState(peak_equity=Decimal(100_000)), None)
    metrics = Metrics(namespace="247trader-test", service="protect-test")
    app, clock = app_for(aws, metrics=metrics)
    capsys.readouterr()

    answer = app.handle(event("scheduled.json"), context("req-1"))

    assert answer["ok"] is True
    assert aws.item("PORTFOLIO#default", "STATE")["trading_state"] == {"S": "REDUCING"}
    assert audit_records(aws)["20261124T0405Z"]["protections"]["tripped"] == "max_drawdown"
    needs = Metric.of("247trader-test", "NeedsOperator", service="protect-test")
    assert (needs, 1.0) in metric_values(capsys.readouterr().out)
    assert "needs operator: protection_tripped: max_drawdown" in caplog.text

    # The next cycle is held, not tripped again: the kill switch (REDUCING) needs a person.
    caplog.clear()
    clock.advance()
    app.handle(event("scheduled-later.json"), context("req-2"))
    assert (needs, 1.0) in metric_values(capsys.readouterr().out)
    assert "protection_tripped" not in caplog.text
    assert "needs operator: kill_switch: trading_state REDUCING" in caplog.text
    assert store.load().trading_state is TradingState.REDUCING


def test_handle_when_the_operator_sets_active_over_the_hold_then_the_peak_restarts(aws):
    store = DynamoStateStore(aws.table, aws.dynamodb)
    store.save(PortfolioState(peak_equity=Decimal(100_000)), None)
    app, clock = app_for(aws)
    app.handle(event("scheduled.json"), context("req-1"))
    assert store.load().drawdown_tripped_at is not None

    set_trading_state(aws.table, "ACTIVE", aws.dynamodb)  # touches trading_state only
    clock.advance()
    app.handle(event("scheduled-later.json"), context("req-2"))

    state = store.load()
    assert state.trading_state is TradingState.ACTIVE
    assert state.drawdown_tripped_at is None
    assert state.peak_equity < Decimal(100_000)  # restarted at the releasing cycle's equity
    later = audit_records(aws)["20261124T0410Z"]
    assert later["protections"]["released"] is True
    assert later["protections"]["tripped"] is None
