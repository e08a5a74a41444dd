"""The liquidation Lambda on moto (DynamoDB lock and state, S3 audit) with the simulated
exchange in PAPER mode: the files in events/, bad requests, a running cycle holding the lock,
and the real functions/liquidate/app.py module.

The paper account (in the state) holds 100 USDC, 50 USD, 0.01 BTC, 2 SOL, 2000 XYZ and
1 DOGE. The test's simulator config adds XYZ-BTC, XYZ's only product, so XYZ is sold through
BTC; 1 DOGE (about 0.15 USDC) is dust below min_value 1.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from aws_lambda_powertools.metrics import Metrics
from emf import Metric, metric_values, needs_operator_kinds

from trader.adapters.aws.dynamo_lock import DynamoCycleLock
from trader.adapters.aws.dynamo_state import DynamoStateStore
from trader.adapters.clock import SteppingClock
from trader.domain.config import DEFAULT_CONFIG_PATH
from trader.domain.models import TradingState
from trader.domain.state import PortfolioState
from trader.entrypoints.lambda_liquidate import LiquidateApp

D = Decimal
REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
NOW = datetime(2026, 11, 24, 4, 7, 0, tzinfo=UTC)
PAPER = {"USDC": D(100), "USD": D(50), "BTC": D("0.01"), "SOL": D(2), "XYZ": D(2000)}
PAPER |= {"DOGE": D(1)}
XYZ_BTC = {
    "product_id": "XYZ-BTC",
    "start_price": "0.00002",
    "volatility_pct": "0.5",
    "volume_24h_quote": "50",
    "spread_bps": "10",
    "base_increment": "1",
    "quote_increment": "0.00000001",
    "base_min_size": "1",
    "quote_min_size": "0.00001",
}


class LambdaContext:
    def __init__(self, request_id: str = "req-liq-1") -> None:
        self.aws_request_id = request_id
        self.function_name = "LiquidateFunction"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:liquidate"

    def get_remaining_time_in_millis(self) -> int:
        return 280_000


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """The default config, with XYZ-BTC in the simulated market."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["simulator"]["products"].append(XYZ_BTC)
    path = tmp_path / "with-xyz.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def store(aws) -> DynamoStateStore:
    store = DynamoStateStore(aws.table, aws.dynamodb)
    store.save(PortfolioState(paper_balances=dict(PAPER)), None)
    return store


def app_for(aws, config_path: Path, metrics=None, **env_changes) -> tuple[LiquidateApp, list]:
    env = {
        "STATE_TABLE": aws.table,
        "AUDIT_BUCKET": aws.bucket,
        "EXCHANGE": "simulated",
        "TRADING_MODE": "PAPER",
        "LAMBDA_TIMEOUT_SECONDS": "300",  # as template.yaml sets it
        "CONFIG_PATH": str(config_path),
        **env_changes,
    }
    sleeps: list[float] = []
    app = LiquidateApp(
        environ=env,
        clock=SteppingClock(NOW, 300),
        clients={"dynamodb": aws.dynamodb, "s3": aws.s3},
        metrics=metrics,
        sleep=sleeps.append,
    )
    return app, sleeps


def audit_objects(aws) -> dict[str, dict]:
    listing = aws.s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])
    return {
        o["Key"]: json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=o["Key"])["Body"].read())
        for o in listing
    }


def nonzero(balances: dict[str, Decimal]) -> dict[str, Decimal]:
    return {c: a for c, a in balances.items() if a != 0}


def test_liquidate_handler_when_dry_run_event_then_plan_answered_and_nothing_traded(
    aws, store, config_path
):
    app, _ = app_for(aws, config_path)

    answer = app.handle(event("liquidate-dry-run.json"), LambdaContext())

    assert answer["ok"] is True, answer["error"]
    assert answer["dry_run"] is True
    assert answer["legs"] == []
    routes = {p["currency"]: [leg.get("product_id") for leg in p["route"]] for p in answer["plan"]}
    assert routes["BTC"] == ["BTC-USDC"]
    assert routes["XYZ"] == ["XYZ-BTC", "BTC-USDC"]  # through BTC, its only way out
    assert [(r["currency"], r["reason"]) for r in answer["remaining"]] == [
        ("DOGE", "dust_below_min_value")
    ]
    assert store.load().paper_balances == PAPER
    json.dumps(answer)  # plain JSON: Decimals are strings
    (key,) = audit_objects(aws)
    assert key == "audit/dt=2026-11-24/hour=04/liquidation-liquidate-2026-11-24-a.jsonl"


def test_liquidate_handler_when_execute_event_then_usdc_audited_in_s3_and_trading_halted(
    aws, store, config_path, capsys
):
    metrics = Metrics(namespace="247trader-test", service="liquidate-test")
    app, _ = app_for(aws, config_path, metrics=metrics)

    answer = app.handle(event("liquidate-execute.json"), LambdaContext())

    assert answer["ok"] is True, answer["error"]
    assert [leg["leg"] for leg in answer["legs"]] == ["BTC.0", "SOL.0", "USD.0", "XYZ.0", "XYZ.1"]
    state = store.load()
    assert state.trading_state is TradingState.HALTED
    assert set(nonzero(state.paper_balances)) == {"USDC", "DOGE"}
    assert state.paper_balances["USDC"] > PAPER["USDC"] + PAPER["USD"]
    (record,) = audit_objects(aws).values()
    assert record["record_type"] == "liquidation"
    assert record["cycle_id"] == "liquidation-liquidate-2026-11-24-a"
    assert record["request"]["confirm"] == "LIQUIDATE"
    assert record["legs"] == answer["legs"]
    assert aws.item("LOCK#cycle", "LOCK").get("owner") is None  # released
    assert metric_values(capsys.readouterr().out) == []  # a liquidation done needs no one


def test_liquidate_handler_when_same_execute_event_again_then_nothing_more_is_sold(
    aws, store, config_path
):
    app, _ = app_for(aws, config_path)
    app.handle(event("liquidate-execute.json"), LambdaContext("req-1"))
    after_first = store.load().paper_balances

    again = app.handle(event("liquidate-execute.json"), LambdaContext("req-2"))

    assert again["ok"] is True
    assert again["legs"] == []
    assert store.load().paper_balances == after_first
    assert len(audit_objects(aws)) == 2  # the second record beside the first, never over it


BAD_REQUESTS = [
    ({**event("liquidate-execute.json"), "confirm": None}, "confirm"),
    ({**event("liquidate-execute.json"), "confirm": "yes"}, "confirm"),
    ({**event("liquidate-dry-run.json"), "target": "EUR"}, "target"),
    ({**event("liquidate-dry-run.json"), "keep": ["btc"]}, "keep[0]"),
    ({**event("liquidate-dry-run.json"), "min_value": "-1"}, "min_value"),
    ({**event("liquidate-dry-run.json"), "keep": ["ABC"] * 5000}, "keep"),
    ('{"request_id": "liquidate-1", "dry_run": fal', "expected a JSON object, got a string"),
    ([event("liquidate-dry-run.json")], "expected a JSON object, got an array"),
    ({}, "request_id: required"),
]


@pytest.mark.parametrize(("bad", "named"), BAD_REQUESTS)
def test_liquidate_handler_when_bad_request_then_error_names_it_and_nothing_is_touched(
    aws, config_path, capsys, bad, named
):
    metrics = Metrics(namespace="247trader-test", service="liquidate-test")
    app, _ = app_for(aws, config_path, metrics=metrics)

    answer = app.handle(bad, LambdaContext())

    assert answer["ok"] is False
    assert answer["error"].startswith("InvalidLiquidationRequest: invalid liquidation request")
    assert named in answer["error"]
    assert len(answer["error"]) < 400
    assert (answer["plan"], answer["legs"]) == ([], [])
    assert aws.all_items() == []  # no state, no lock
    assert audit_objects(aws) == {}
    assert app._built is None  # nothing was even built
    needs = Metric.of("247trader-test", "NeedsOperator", service="liquidate-test")
    assert metric_values(capsys.readouterr().out) == [(needs, 1.0)]


def test_liquidate_handler_when_its_lease_outlasts_one_interval_past_the_timeout_then_refused(
    aws, capsys, store, config_path
):
    raw = yaml.safe_load(config_path.read_text())
    raw["liquidation"]["lock_lease_seconds"] = 600  # was the shared lease: 300 s past it
    config_path.write_text(yaml.safe_dump(raw))
    metrics = Metrics(namespace="247trader-test", service="liquidate-test")
    app, _ = app_for(aws, config_path, metrics=metrics)

    answer = app.handle(event("liquidate-execute.json"), LambdaContext())

    assert answer["ok"] is False
    assert answer["error"].startswith("ConfigError: liquidation.lock_lease_seconds is 600 s;")
    assert "between 330 s" in answer["error"] and "and 570 s" in answer["error"]
    assert store.load().paper_balances == PAPER  # nothing sold
    assert aws.item("LOCK#cycle", "LOCK") is None  # no lock taken
    assert audit_objects(aws) == {}
    needs = Metric.of("247trader-test", "NeedsOperator", service="liquidate-test")
    assert metric_values(capsys.readouterr().out) == [(needs, 1.0)]


def test_liquidate_handler_when_a_cycle_holds_the_lock_then_lock_held_after_a_bounded_wait(
    aws, store, config_path
):
    DynamoCycleLock(aws.table, client=aws.dynamodb).acquire("cycle-20261124T0405Z", NOW, 600)
    app, sleeps = app_for(aws, config_path)

    answer = app.handle(event("liquidate-execute.json"), LambdaContext())

    assert answer["ok"] is False
    assert answer["error"].startswith("lock_held:")
    assert sum(sleeps) == 30  # liquidation.lock_wait_seconds
    assert store.load().paper_balances == PAPER  # nothing sold
    assert store.load().trading_state is TradingState.ACTIVE  # not even halted
    assert aws.item("LOCK#cycle", "LOCK")["owner"] == {"S": "cycle-20261124T0405Z"}
    (record,) = audit_objects(aws).values()
    assert record["error"] == answer["error"]


def test_liquidate_handler_when_live_not_confirmed_then_refused_without_touching_aws(
    aws, config_path
):
    app, _ = app_for(aws, config_path, TRADING_MODE="LIVE", EXCHANGE="coinbase")

    answer = app.handle(event("liquidate-execute.json"), LambdaContext())

    assert answer["ok"] is False
    assert answer["error"].startswith("LiveTradingRefused:")
    assert answer["request_id"] == "liquidate-2026-11-24-a"
    assert aws.all_items() == []


def _load_handler_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_liquidate_handler_module_when_invoked_with_events_then_answers_and_emits_metrics(
    aws, store, config_path, monkeypatch, capsys
):
    for name, value in {
        "STATE_TABLE": aws.table,
        "AUDIT_BUCKET": aws.bucket,
        "EXCHANGE": "simulated",
        "TRADING_MODE": "PAPER",
        "LAMBDA_TIMEOUT_SECONDS": "300",  # as template.yaml sets it
        "CONFIG_PATH": str(config_path),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # a service name of its own: Powertools keeps one logger (and its stream) per name
        "POWERTOOLS_SERVICE_NAME": "247trader-liquidate-test",
        "POWERTOOLS_METRICS_NAMESPACE": "247trader",
    }.items():
        monkeypatch.setenv(name, value)
    module = _load_handler_module(REPO / "functions" / "liquidate" / "app.py", "liquidate_app")
    module.app.clock = SteppingClock(NOW, 300)
    module.app.sleep = lambda _s: None

    rehearsal = module.handler(event("liquidate-dry-run.json"), LambdaContext("req-1"))
    done = module.handler(event("liquidate-execute.json"), LambdaContext("req-2"))
    refused = module.handler({"request_id": "x"} | {"dry_run": False}, LambdaContext("req-3"))

    assert rehearsal["ok"] is True and rehearsal["legs"] == []
    assert done["ok"] is True and len(done["legs"]) == 5
    assert refused["ok"] is False and "confirm" in refused["error"]
    assert json.loads(json.dumps(done)) == done
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    needs = Metric.of("247trader", "NeedsOperator", service="247trader-liquidate-test")
    assert metric_values(out) == [(needs, 1.0)]  # the refused request only
    assert needs_operator_kinds(out) == ["liquidation_failed"]
    records = [line for line in lines if line.get("record_type") == "liquidation"]
    assert [r["request_id"] for r in records] == ["liquidate-2026-11-24-a"] * 2
    assert store.load().trading_state is TradingState.HALTED
