"""template.yaml: lint clean, and the settings the safety rules depend on are really there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_resources import load_template
from sam_template import deployed

from trader.adapters.aws import dynamo_lock, dynamo_state
from trader.domain.config import load_config

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]


def props(logical_id: str) -> dict[str, Any]:
    return RESOURCES[logical_id]["Properties"]


def of_type(type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == type_name}


def test_lint_when_cfn_lint_runs_then_no_findings():
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint is a dev dependency")

    findings = api.lint_file(REPO / "template.yaml")

    assert [str(f) for f in findings] == []


def test_cycle_function_when_parsed_then_scheduled_every_5_minutes_and_only_it():
    events = props("CycleFunction")["Events"]
    schedules = [e["Properties"]["Schedule"] for e in events.values() if e["Type"] == "Schedule"]

    assert schedules == ["rate(5 minutes)"]
    assert "Events" not in props("LiquidateFunction")


def test_functions_when_parsed_then_never_retried_with_failure_destination():
    for name in ("CycleFunction", "LiquidateFunction"):
        invoke = props(name)["EventInvokeConfig"]
        assert invoke["MaximumRetryAttempts"] == 0
        destination = invoke["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination == {"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]}


def test_functions_when_parsed_then_each_tells_its_timeout_and_its_lease_fits_it():
    config = load_config()
    cycle, liquidate = props("CycleFunction"), props("LiquidateFunction")
    for function in (cycle, liquidate):  # start-up checks the lease against this value
        told = function["Environment"]["Variables"]["LAMBDA_TIMEOUT_SECONDS"]
        assert told == str(function["Timeout"])

    assert cycle["Timeout"] < 300  # well under the 5-minute schedule
    # Safety rule 3, with 30 s to spare each side: the lease outlives any invocation, and
    # one that timed out lets the next cycle (300 s after its start) take the lock.
    assert cycle["Timeout"] + 30 <= config.cycle.lock_lease_seconds <= 300 - 30
    # a liquidation (started at any time) that timed out holds back at most one cycle
    lease = config.liquidation.lock_lease_seconds
    assert liquidate["Timeout"] + 30 <= lease <= liquidate["Timeout"] + 300 - 30


def test_functions_when_parsed_then_arm64_current_python_and_handlers_exist():
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Runtime"] in {"python3.12", "python3.13"}
    for name, folder in (("CycleFunction", "cycle"), ("LiquidateFunction", "liquidate")):
        function = props(name)
        assert function["Handler"] == "app.handler"
        assert function["CodeUri"] == f"functions/{folder}/"
        assert "def handler(" in (REPO / "functions" / folder / "app.py").read_text()


def test_layer_when_parsed_then_built_from_lib_with_pinned_requirements_without_boto3():
    layer = RESOURCES["TraderLayer"]
    requirements = (REPO / "lib" / "requirements.txt").read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]

    assert layer["Properties"]["ContentUri"] == "lib/"
    assert layer["Metadata"]["BuildMethod"] == TEMPLATE["Globals"]["Function"]["Runtime"]
    assert all("==" in pin for pin in pins)
    names = {pin.split("==")[0].lower() for pin in pins}
    assert not names & {"boto3", "botocore", "s3transfer", "aws-xray-sdk"}


def test_environment_when_parsed_then_design_variables_set_and_secret_only_by_id():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    design = {"STATE_TABLE", "AUDIT_BUCKET", "TRADING_MODE", "EXCHANGE"}
    design |= {"COINBASE_SECRET_ID", "LIVE_TRADING_CONFIRMED"}

    assert design <= set(variables)
    assert variables["STATE_TABLE"] == {"Ref": "StateTable"}
    assert variables["AUDIT_BUCKET"] == {"Ref": "AuditBucket"}
    assert "PRIVATE KEY" not in json.dumps(TEMPLATE)
    assert PARAMETERS["TradingMode"]["Default"] == "DRY_RUN"
    assert PARAMETERS["LiveTradingConfirmed"]["Default"] == "no"


def test_table_when_parsed_then_matches_adapter_keys_with_ttl_pitr_and_prod_protection():
    table = props("StateTable")
    keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}

    assert keys == {dynamo_lock.PK: "HASH", dynamo_lock.SK: "RANGE"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {
        "AttributeName": dynamo_state.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}


def test_bucket_when_parsed_then_encrypted_versioned_private_tls_only_with_lifecycle():
    bucket = props("AuditBucket")
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    statement = props("AuditBucketPolicy")["PolicyDocument"]["Statement"][0]
    transitions = bucket["LifecycleConfiguration"]["Rules"][0]["Transitions"]

    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert (statement["Effect"], statement["Condition"]) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    assert [t["StorageClass"] for t in transitions] == ["STANDARD_IA", "GLACIER_IR"]


def _named_resources(resource: Any) -> list[str]:
    """Logical ids (or parameter names) a Resource expression refers to; '*' stays '*'."""
    if resource == "*":
        return ["*"]
    if isinstance(resource, list):
        return [name for item in resource for name in _named_resources(item)]
    if isinstance(resource, dict):
        (fn, value), *_ = resource.items()
        if fn == "Ref":
            return [value]
        if fn == "Fn::GetAtt":
            return [value[0]]
        if fn == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]
            return [text.split("${", 1)[1].split(".", 1)[0].split("}", 1)[0]]
        if fn == "Fn::If":
            return _named_resources(value[1]) + _named_resources(value[2])
    raise AssertionError(f"unexpected IAM resource expression {resource!r}")


def test_iam_when_every_statement_checked_then_it_names_only_this_stacks_resources():
    roles = of_type("AWS::IAM::Role")
    assert set(roles) == {"CycleFunctionRole", "LiquidateFunctionRole"}
    own = set(RESOURCES) | {"CoinbaseSecretArn"}  # the secret may be passed in by parameter
    checked = 0
    for role in roles.values():
        assert "ManagedPolicyArns" not in role["Properties"]
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                names = _named_resources(statement["Resource"])
                if names == ["*"]:  # X-Ray has no resource-level permissions at all
                    assert all(a.startswith("xray:") for a in actions), statement
                else:
                    assert set(names) <= own, statement
                    assert not any(a.endswith(":*") or a == "*" for a in actions), statement
                checked += 1
    assert checked >= 10


def test_logs_when_parsed_then_retention_set_and_functions_write_to_their_groups():
    groups = of_type("AWS::Logs::LogGroup")

    assert all(
        g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values()
    )
    assert props("CycleFunction")["LoggingConfig"]["LogGroup"] == {"Ref": "CycleLogGroup"}
    assert props("LiquidateFunction")["LoggingConfig"]["LogGroup"] == {"Ref": "LiquidateLogGroup"}


def test_alarms_when_parsed_then_all_notify_the_topic_with_optional_email():
    alarms = of_type("AWS::CloudWatch::Alarm")

    assert len(alarms) >= 4
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlertTopic"}] for a in alarms.values())
    assert RESOURCES["AlertEmailSubscription"]["Condition"] == "HasAlarmEmail"
    assert RESOURCES["CoinbaseSecret"]["Condition"] == "CreateSecret"


def test_queries_and_dashboard_when_compared_then_same_as_files_in_infra():
    queries = {
        props(k)["Name"]["Fn::Sub"].split("/", 1)[1]: props(k)["QueryString"]
        for k in of_type("AWS::Logs::QueryDefinition")
    }
    files = {p.stem: p.read_text() for p in (REPO / "infra" / "queries").glob("*.query")}
    dashboard = props("Dashboard")["DashboardBody"]["Fn::Sub"][0]

    assert queries == files
    assert json.loads(dashboard) == json.loads((REPO / "infra" / "dashboard.json").read_text())


def _statements(role: str) -> dict[str, dict[str, Any]]:
    (policy,) = props(role)["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def test_liquidate_role_when_parsed_then_least_privilege_for_what_it_does():
    statements = _statements("LiquidateFunctionRole")

    assert set(statements) == {
        "WriteOwnLogs",
        "LockAndState",
        "WriteAuditRecords",
        "ReadCoinbaseKey",
        "OnFailureDestination",
        "XRayHasNoResourceLevelPermissions",
    }
    # the lock's UpdateItem, the state's Query and its one transaction (put/update/delete
    # items under a condition check); no scan, no table-level action, no GetItem it never uses
    assert statements["LockAndState"]["Action"] == [
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ]
    assert statements["LockAndState"]["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    # audit records only: no read, and not the candle cache a liquidation never uses
    assert statements["WriteAuditRecords"]["Action"] == "s3:PutObject"
    assert statements["WriteAuditRecords"]["Resource"] == {"Fn::Sub": "${AuditBucket.Arn}/audit/*"}
    assert statements["ReadCoinbaseKey"]["Action"] == "secretsmanager:GetSecretValue"


def test_liquidate_function_when_parsed_then_lock_lease_outlives_it_and_failures_alarm():
    config = load_config()
    timeout = props("LiquidateFunction")["Timeout"]

    assert config.liquidation.lock_lease_seconds > timeout  # outlives any invocation
    assert config.liquidation.lock_wait_seconds < timeout
    failed = props("NeedsOperatorAlarm")  # a failed liquidation counts NeedsOperator
    assert (failed["MetricName"], failed["Threshold"]) == ("NeedsOperator", 0)
    errors = props("LiquidateErrorsAlarm")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "LiquidateFunction"}}]


def test_checkov_skips_when_listed_then_each_names_a_check_and_says_why():
    skips = [
        (name, skip)
        for name, resource in RESOURCES.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    assert skips  # `make checkov` runs checkov itself; this keeps each skip explained
    for name, skip in skips:
        assert skip["id"].startswith("CKV_"), (name, skip)
        assert len(skip["comment"].split()) >= 5, (name, skip)


def _schedule_rules(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]


@pytest.mark.parametrize(("switch", "state"), [("true", "ENABLED"), ("false", "DISABLED")])
def test_schedule_when_deployed_with_schedule_enabled_then_rule_state_follows(switch, state):
    # through samtranslator: SAM's `Enabled: "false"` would come out ENABLED (a true string)
    (rule,) = _schedule_rules(deployed({"ScheduleEnabled": switch}))

    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["State"] == state


def _functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}


def test_reserved_concurrency_when_default_then_none_reserved_else_the_given_number():
    default = _functions(deployed({}))
    one = _functions(deployed({"ReservedConcurrency": "1"}))

    assert set(default) == set(one) == {"CycleFunction", "LiquidateFunction"}
    assert not any("ReservedConcurrentExecutions" in f["Properties"] for f in default.values())
    assert {f["Properties"]["ReservedConcurrentExecutions"] for f in one.values()} == {"1"}
