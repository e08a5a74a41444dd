"""The audit records a deployed bot wrote to S3 (S3AuditSink), read back in time order.

Keys are `audit/dt=YYYY-MM-DD/hour=HH/<cycle_id>.jsonl`, so listing a prefix in key order is
listing in time order. Objects are fetched a few at a time (one round trip each), and
yielded in key order.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trader.domain.errors import AuditReadError
from trader.service.audit import parse_audit_line

FETCHES_AT_ONCE = 8


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix); AuditReadError when it is not such a URL."""
    if not url.startswith("s3://"):
        raise AuditReadError(f"{url!r} is not an s3://bucket/prefix URL")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise AuditReadError(f"{url!r} names no bucket (s3://bucket/prefix)")
    return bucket, prefix


class S3AuditReader:
    """Every record under `s3://bucket/prefix`, in key order."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    @property
    def where(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}"

    def records(self) -> Iterator[dict[str, Any]]:
        keys = self.keys()
        if not keys:
            raise AuditReadError(f"{self.where}: no .jsonl audit objects under this prefix")
        with ThreadPoolExecutor(FETCHES_AT_ONCE, thread_name_prefix="audit-read") as pool:
            for key, text in zip(keys, pool.map(self._text, keys), strict=True):
                for number, line in enumerate(text.splitlines(), start=1):
                    if line.strip():
                        yield parse_audit_line(line, f"s3://{self._bucket}/{key} line {number}")

    def keys(self) -> list[str]:
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=self._prefix
            )
            found = [o["Key"] for page in pages for o in page.get("Contents", ())]
        except (ClientError, BotoCoreError) as exc:
            raise AuditReadError(f"{self.where}: cannot list ({_why(exc)})") from None
        return sorted(k for k in found if k.endswith(".jsonl"))

    def _text(self, key: str) -> str:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            return body.decode("utf-8")
        except (ClientError, BotoCoreError) as exc:
            raise AuditReadError(f"s3://{self._bucket}/{key}: cannot read ({_why(exc)})") from None
        except UnicodeDecodeError as exc:
            raise AuditReadError(f"s3://{self._bucket}/{key}: not UTF-8 ({exc.reason})") from None


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return type(exc).__name__
