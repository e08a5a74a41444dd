"""AWS stand-ins for tests: moto in-process, with the table and bucket built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from aws_resources import create_bucket, create_table
from moto import mock_aws

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "region_name": REGION,
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",  # moto accepts anything
}


def fake_credentials_in_env(monkeypatch: Any) -> None:
    """The environment a command's own boto3 clients read, pointed at moto in-process: fake
    credentials and region, no AWS_ENDPOINT_URL (a test must never reach real AWS)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def client(service: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client with fake credentials, so no test ever reads real ones."""
    return boto3.client(service, endpoint_url=endpoint_url, **FAKE_CREDENTIALS)


@dataclass
class MotoAws:
    dynamodb: Any
    s3: Any
    table: str
    bucket: str

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        response = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return response.get("Item")

    def all_items(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=self.table, ConsistentRead=True)["Items"]

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket (its latest version), by key."""
        listing = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {
            o["Key"]: self.s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()
            for o in listing
        }

    def clear(self) -> None:
        """Empty the table and the bucket (every version): a fresh start for the next example."""
        for item in self.all_items():
            key = {"pk": item["pk"], "sk": item["sk"]}
            self.dynamodb.delete_item(TableName=self.table, Key=key)
        listing = self.s3.list_object_versions(Bucket=self.bucket)
        for version in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            self.s3.delete_object(
                Bucket=self.bucket, Key=version["Key"], VersionId=version["VersionId"]
            )


@contextmanager
def moto_aws(
    table: str = "trader-state-test", bucket: str = "trader-audit-test"
) -> Iterator[MotoAws]:
    """moto in-process with the state table and the audit bucket as template.yaml declares them."""
    with mock_aws():
        dynamodb = client("dynamodb")
        s3 = client("s3")
        create_table(dynamodb, table)
        create_bucket(s3, bucket)
        yield MotoAws(dynamodb=dynamodb, s3=s3, table=table, bucket=bucket)
