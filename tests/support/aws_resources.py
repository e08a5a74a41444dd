"""The table and bucket exactly as template.yaml declares them, for the local stack and tests.

Reading the template (instead of repeating key names here) means a local run and the
tests create what a deploy creates; there is no second copy of the definitions to drift.
"""

from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
TABLE_RESOURCE = "StateTable"
BUCKET_RESOURCE = "AuditBucket"


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when built with it
    """SafeLoader that reads CloudFormation short tags (!Ref, !Sub, ...) as {'Fn::X': value}."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """template.yaml as plain data, short tags expanded to their long form (a fresh copy)."""
    return copy.deepcopy(_parsed(path.resolve(), path.stat().st_mtime_ns))


@functools.cache
def _parsed(path: Path, _mtime_ns: int) -> dict[str, Any]:
    """Parsed once per file version: moto fixtures read the template for every test."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 (a SafeLoader subclass)


@dataclass(frozen=True, slots=True)
class TableDefinition:
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    billing_mode: str
    ttl_attribute: str | None

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        return {
            "TableName": table_name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": self.billing_mode,
        }


@dataclass(frozen=True, slots=True)
class BucketDefinition:
    sse_algorithm: str
    versioning: bool


def table_definition(template: dict[str, Any] | None = None) -> TableDefinition:
    props = _properties(template or load_template(), TABLE_RESOURCE, "AWS::DynamoDB::Table")
    ttl = props.get("TimeToLiveSpecification") or {}
    return TableDefinition(
        key_schema=list(props["KeySchema"]),
        attribute_definitions=list(props["AttributeDefinitions"]),
        billing_mode=props["BillingMode"],
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
    )


def bucket_definition(template: dict[str, Any] | None = None) -> BucketDefinition:
    props = _properties(template or load_template(), BUCKET_RESOURCE, "AWS::S3::Bucket")
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    return BucketDefinition(
        sse_algorithm=rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        versioning=props.get("VersioningConfiguration", {}).get("Status") == "Enabled",
    )


def create_table(
    client: Any, table_name: str, *, with_ttl: bool = True, timeout_s: float = 10.0
) -> TableDefinition:
    """Create the state table as the template declares it and wait until it is ACTIVE.

    `with_ttl=False` is for DynamoDB stand-ins without UpdateTimeToLive (dynalite).
    """
    definition = table_definition()
    client.create_table(**definition.create_table_kwargs(table_name))
    deadline = time.monotonic() + timeout_s
    while client.describe_table(TableName=table_name)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {table_name} did not become ACTIVE in {timeout_s}s")
        time.sleep(0.05)
    if with_ttl and definition.ttl_attribute:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": definition.ttl_attribute, "Enabled": True},
        )
    return definition


def create_bucket(client: Any, bucket: str) -> BucketDefinition:
    """Create the audit bucket with the template's default encryption and versioning."""
    definition = bucket_definition()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": definition.sse_algorithm}}
            ]
        },
    )
    if definition.versioning:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return definition


def _properties(template: dict[str, Any], logical_id: str, expected_type: str) -> dict[str, Any]:
    resource = template["Resources"][logical_id]
    if resource["Type"] != expected_type:
        raise ValueError(f"{logical_id} is {resource['Type']}, expected {expected_type}")
    return resource["Properties"]
