"""The Glue table over the S3 audit (template.yaml AuditTable) against real audit records.

Records come from real runs: a cycle through the Lambda handler on moto (read back from S3,
with its key), a cycle that places an order (the scripted-market rig) and a liquidation
(the liquidation rig). Every column must be a field some record has, every field a column,
each typed as the JSON holds it; the partition projection must produce the prefix the S3
sink really writes; the example SQL in infra/athena must unnest the order struct as declared.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_resources import load_template
from cycle_rig import make_rig
from liquidation_rig import sim_rig

from trader.adapters.aws.audit import audit_key
from trader.adapters.clock import SteppingClock
from trader.entrypoints.lambda_cycle import CycleApp

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")
TABLE = TEMPLATE["Resources"]["AuditTable"]["Properties"]["TableInput"]
COLUMNS = {c["Name"]: c["Type"] for c in TABLE["StorageDescriptor"]["Columns"]}
SQL = REPO / "infra" / "athena"


def parse_type(text: str) -> Any:
    """A Glue/Hive type as data: 'string', ('array', t), ('map', t), ('struct', {name: t})."""
    parsed, rest = _parse(text.replace(" ", ""))
    assert rest == "", f"trailing {rest!r} in {text!r}"
    return parsed


def _parse(text: str) -> tuple[Any, str]:
    for kind in ("array", "map", "struct"):
        if text.startswith(kind + "<"):
            text = text[len(kind) + 1 :]
            if kind == "array":
                inner, text = _parse(text)
                return ("array", inner), text[1:]
            if kind == "map":
                key, text = _parse(text)
                assert key == "string" and text[0] == ",", text
                inner, text = _parse(text[1:])
                return ("map", inner), text[1:]
            fields: dict[str, Any] = {}
            while text[0] != ">":
                name, text = text.split(":", 1)
                fields[name], text = _parse(text)
                text = text[1:] if text[0] == "," else text
            return ("struct", fields), text[1:]
    name = re.match(r"[a-z]+", text).group(0)
    return name, text[len(name) :]


def mismatches(glue: Any, value: Any, where: str) -> list[str]:
    """Where a JSON value does not read as the declared type (null reads as anything)."""
    if value is None:
        return []
    if glue == "string":  # decimal text, or a nested value the JSON SerDe hands over as text
        return []
    if isinstance(glue, str) and glue in {"int", "bigint"}:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not {glue}"]
    if glue == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: {value!r} is not boolean"]
    kind, inner = glue
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        return [m for i, v in enumerate(value) for m in mismatches(inner, v, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    if kind == "map":
        return [m for k, v in value.items() for m in mismatches(inner, v, f"{where}.{k}")]
    missing = [f"{where}.{name}: no such field" for name in inner if name not in value]
    return missing + [
        m for name, t in inner.items() if name in value for m in mismatches(t, value[name], name)
    ]


@pytest.fixture
def records(aws) -> list[tuple[str, dict[str, Any]]]:
    """(S3 key or '', record) of a handler cycle on moto, an ordering cycle, a liquidation."""
    clock = SteppingClock(datetime(2026, 11, 24, 4, 5, 3, tzinfo=UTC), 300)
    env = {"STATE_TABLE": aws.table, "AUDIT_BUCKET": aws.bucket, "EXCHANGE": "simulated"}
    app = CycleApp(environ=env, clock=clock, clients={"dynamodb": aws.dynamodb, "s3": aws.s3})
    event = json.loads((REPO / "events" / "scheduled.json").read_text())
    assert app.handle(event, None)["ok"] is True
    (key,) = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.bucket)["Contents"]]
    on_s3 = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())
    rig = make_rig()
    assert rig.run().orders  # a cycle that placed an order, so orders.placed is not empty
    liquidation, _ = sim_rig()
    assert liquidation.liquidate()["legs"]
    return [(key, on_s3), ("", rig.audit.records[-1]), ("", liquidation.audit.records[-1])]


def test_columns_when_compared_with_real_records_then_each_field_a_column_typed_as_read(records):
    fields = {name for _, record in records for name in record}

    assert set(COLUMNS) == fields  # no field without a column, no column without a field
    problems = [
        problem
        for _, record in records
        for name, glue in COLUMNS.items()
        for problem in mismatches(parse_type(glue), record.get(name), name)
    ]
    assert problems == []
    placed = records[1][1]["orders"]["placed"]
    assert placed and placed[0]["product_id"] == "SOL-USD"


def test_partition_projection_when_formatted_then_the_prefix_the_s3_sink_writes(records):
    params = TABLE["Parameters"]
    template = params["storage.location.template"]["Fn::Sub"]
    key, record = records[0]
    started = datetime.fromisoformat(record["started_at"])

    prefix = template.replace("${!dt}", f"{started:%Y-%m-%d}").replace("${!hour}", f"{started:%H}")

    assert prefix == f"s3://${{AuditBucket}}/{key.rsplit('/', 1)[0]}/"
    assert key == audit_key(record)
    assert [k["Name"] for k in TABLE["PartitionKeys"]] == ["dt", "hour"]
    assert (params["projection.dt.type"], params["projection.dt.format"]) == ("date", "yyyy-MM-dd")
    assert (params["projection.hour.range"], params["projection.hour.digits"]) == ("0,23", "2")
    assert TABLE["StorageDescriptor"]["Location"] == {"Fn::Sub": "s3://${AuditBucket}/audit/"}


def test_example_sql_when_read_then_each_queries_the_table_and_unnests_orders_as_declared():
    queries = {p.name: p.read_text() for p in SQL.glob("*.sql")}
    _, placed = parse_type(COLUMNS["orders"])[1]["placed"]
    alias = re.search(
        r"UNNEST\(orders\.placed\) AS placed \(([^)]*)\)", queries["orders_per_product.sql"]
    )

    assert set(queries) == {
        "no_trade_reasons_per_day.sql",
        "pnl_per_day.sql",
        "orders_per_product.sql",
    }
    assert all("FROM trader247_dev.audit" in sql for sql in queries.values())
    assert [name.strip() for name in alias.group(1).split(",")] == list(placed[1])
    pnl = parse_type(COLUMNS["state"])[1]["pnl"][1]
    for used in re.findall(r"state\.pnl\.(\w+)", queries["pnl_per_day.sql"]):
        assert used in pnl


def resolves(record: Any, path: list[str]) -> bool:
    """Whether a Logs Insights field path (JSON flattened: `orders.placed.0.side`) is in it."""
    for part in path:
        if isinstance(record, list) and part.isdigit() and int(part) < len(record):
            record = record[int(part)]
        elif isinstance(record, dict) and part in record:
            record = record[part]
        else:
            return False
    return True


def test_saved_queries_when_read_then_every_nested_field_is_in_a_real_record(records):
    """A Logs Insights query over a field the record does not have shows empty columns,
    silently; every dotted field of infra/queries must resolve in a real record."""
    fields = {
        name
        for query in (REPO / "infra" / "queries").glob("*.query")
        for name in re.findall(r"\b[a-z_]+(?:\.[a-z_0-9]+)+\b", query.read_text())
    }
    assert fields  # the queries do read nested fields
    unresolved = sorted(f for f in fields if not any(resolves(r, f.split(".")) for _, r in records))
    assert unresolved == []
