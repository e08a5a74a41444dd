"""Each alarm in template.yaml watches a metric the handlers really print (EMF on stdout).

The real functions/cycle/app.py and functions/liquidate/app.py run on moto, configured only
through the environment the template gives them (namespace and service from its Mappings),
through the outcomes the alarms are for: a healthy cycle, a stuck one, a failed one, a
refused event, the kill switch, a failing audit sink, a refused liquidation. What they print
is read back as CloudWatch would extract it; the alarms must name exactly those metrics, and
there must be no more than four of them (each is a billed custom metric: README, Cost).
"""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_resources import load_template
from emf import Metric, log_to_this_stdout, metric_values, metrics_emitted, needs_operator_kinds

from trader.adapters.aws.dynamo_state import set_trading_state
from trader.adapters.clock import SteppingClock

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")
SERVICE = TEMPLATE["Mappings"]["Service"]["Metrics"]
SCHEDULED = json.loads((REPO / "events" / "scheduled.json").read_text())
AT_0405 = datetime(2026, 11, 24, 4, 5, 3, tzinfo=UTC)


def at(hh_mm: str) -> dict[str, Any]:
    return {**SCHEDULED, "time": f"2026-11-24T{hh_mm}:00Z"}


class Context:
    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id
        self.function_name = "fn"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"

    def get_remaining_time_in_millis(self) -> int:
        return 100_000


def _resolved(value: Any) -> Any:
    """A FindInMap into the template's Service mapping, as CloudFormation resolves it."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, key, field = value["Fn::FindInMap"]
        return TEMPLATE["Mappings"][mapping][key][field]
    return value


def alarmed_custom_metrics() -> dict[str, Metric]:
    """Alarm name -> the custom metric it watches (AWS/* namespaces are CloudWatch's own)."""
    alarms = {}
    for name, resource in TEMPLATE["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        p = resource["Properties"]
        namespace = _resolved(p["Namespace"])
        if namespace.startswith("AWS/"):
            continue
        dims = {d["Name"]: _resolved(d["Value"]) for d in p.get("Dimensions", [])}
        alarms[name] = Metric.of(namespace, p["MetricName"], **dims)
    return alarms


def _load(function: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "functions" / function / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def handlers(aws, monkeypatch):
    """Both handler modules with the template's environment, on moto."""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    for name, value in {
        "STATE_TABLE": aws.table,
        "AUDIT_BUCKET": aws.bucket,
        "EXCHANGE": "simulated",
        "TRADING_MODE": "PAPER",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": _resolved(variables["POWERTOOLS_SERVICE_NAME"]),
        "POWERTOOLS_METRICS_NAMESPACE": _resolved(variables["POWERTOOLS_METRICS_NAMESPACE"]),
    }.items():
        monkeypatch.setenv(name, value)
    cycle, liquidate = _load("cycle", "alarm_cycle_app"), _load("liquidate", "alarm_liq_app")
    cycle.app.clock = SteppingClock(AT_0405, 300)
    return cycle, liquidate


def test_alarms_when_handlers_run_through_every_outcome_then_each_watches_an_emitted_metric(
    aws, handlers, monkeypatch, capsys
):
    cycle, liquidate = handlers
    namespace, service = SERVICE["Namespace"], SERVICE["ServiceName"]

    def outcome(value: str) -> Metric:
        return Metric.of(namespace, "CycleOutcome", service=service, outcome=value)

    needs = Metric.of(namespace, "NeedsOperator", service=service)
    out: list[str] = []

    def run(handler, event, request_id: str) -> list[tuple[Metric, float]]:
        handler(event, Context(request_id))
        out.append(capsys.readouterr().out)
        return metric_values(out[-1])

    log_to_this_stdout(SERVICE["ServiceName"])
    capsys.readouterr()
    assert run(cycle.handler, at("04:05"), "c1") == [(outcome("ok"), 1.0)]
    assert run(cycle.handler, at("04:05"), "c2") == [(outcome("stuck"), 1.0)]  # duplicate
    assert run(cycle.handler, {"time": "now"}, "c3") == [(outcome("failed"), 1.0)]  # refused

    set_trading_state(aws.table, "HALTED", aws.dynamodb)  # the kill switch
    cycle.app.clock.advance()
    assert run(cycle.handler, at("04:10"), "c4") == [(outcome("ok"), 1.0), (needs, 1.0)]

    monkeypatch.setenv("AUDIT_BUCKET", "no-such-bucket")  # the S3 audit sink fails
    cycle.app._built = None
    cycle.app.clock.advance()
    assert (needs, 1.0) in run(cycle.handler, at("04:15"), "c5")

    monkeypatch.setenv("AUDIT_BUCKET", aws.bucket)
    cycle.app._built = None
    aws.dynamodb.delete_table(TableName=aws.table)  # every cycle now ends in an exception
    cycle.app.clock.advance()
    assert run(cycle.handler, at("04:20"), "c6") == [(outcome("failed"), 1.0)]

    assert run(liquidate.handler, {"request_id": "x", "dry_run": False}, "l1") == [(needs, 1.0)]

    emitted = metrics_emitted("".join(out))
    assert len(emitted) <= 4  # each distinct metric and dimension set is billed
    alarms = alarmed_custom_metrics()
    assert set(alarms.values()) == emitted, alarms  # every alarm's metric, and nothing unwatched
    kinds = needs_operator_kinds("".join(out))
    assert {"kill_switch", "audit_sink_failed", "liquidation_failed"} <= set(kinds)


def test_no_healthy_cycle_alarm_when_parsed_then_missing_data_breaches_over_15_minutes():
    p = TEMPLATE["Resources"]["NoHealthyCycleAlarm"]["Properties"]

    assert p["TreatMissingData"] == "breaching"  # no cycle at all prints nothing
    assert p["Period"] * p["EvaluationPeriods"] == 900
    assert (p["ComparisonOperator"], p["Threshold"]) == ("LessThanThreshold", 1)
    assert {"Name": "outcome", "Value": "ok"} in p["Dimensions"]


def test_alert_topic_when_encrypted_then_key_policy_lets_cloudwatch_publish():
    key = TEMPLATE["Resources"]["AlertKey"]
    topic = TEMPLATE["Resources"]["AlertTopic"]["Properties"]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [
        s for s in statements if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]

    assert key["Condition"] == "EncryptAlertTopic"
    assert topic["KmsMasterKeyId"] == {
        "Fn::If": ["EncryptAlertTopic", {"Ref": "AlertKey"}, {"Ref": "AWS::NoValue"}]
    }
    assert [set(s["Action"]) for s in cloudwatch] == [{"kms:Decrypt", "kms:GenerateDataKey*"}]
    assert "alias/aws/sns" not in json.dumps(TEMPLATE)  # CloudWatch cannot use that key
