"""The audit records a deployed bot wrote to S3 (S3AuditSink), read back in time order.

Keys are `audit/dt=YYYY-MM-DD/hour=HH/<cycle_id>.jsonl`, so listing a prefix in key order is
listing in time order, and a time range needs only the partitions it covers listed (a cycle id
names its own hour). Objects are fetched a few at a time (one round trip each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trader.domain.errors import AuditReadError
from trader.domain.ids import cycle_time
from trader.service.audit import parse_audit_line, record_started_at

FETCHES_AT_ONCE = 8
DEFAULT_ROOT = "audit/"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
S3_LOOKBACK = timedelta(days=7)  # how far back `last` walks when not told where to stop


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix); AuditReadError when it is not such a URL."""
    if not url.startswith("s3://"):
        raise AuditReadError(f"{url!r} is not an s3://bucket/prefix URL")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise AuditReadError(f"{url!r} names no bucket (s3://bucket/prefix)")
    return bucket, prefix


class S3AuditReader:
    """The records under `s3://bucket/prefix`: all of them in key order, or those of a time
    range from its `dt=`/`hour=` partitions only."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._now = now

    @property
    def where(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}"

    def records(self) -> Iterator[dict[str, Any]]:
        keys = self.keys()
        if not keys:
            raise AuditReadError(f"{self.where}: no .jsonl audit objects under this prefix")
        return self._fetch(keys)

    def keys(self) -> list[str]:
        return self._list(self._prefix)

    def records_between(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        for prefix in self._partitions(since, until, whole_days=True):
            yield from self._records_in(self._list(prefix), since, until)

    def last(
        self, count: int, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Walks back an hour at a time from `until` (default now) until it has `count`."""
        until = until or self._now()
        since = since or until - S3_LOOKBACK
        found: list[dict[str, Any]] = []
        for prefix in reversed(self._partitions(since, until, whole_days=False)):
            found = self._records_in(self._list(prefix), since, until) + found
            if len(found) >= count:
                break
        return found[-count:]

    def find(self, record_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        found = self._fetch(self._keys_of(record_id, since, until))
        return sorted((r for r in found if r.get("cycle_id") == record_id), key=record_started_at)

    def _keys_of(self, record_id: str, since: datetime, until: datetime) -> list[str]:
        """The keys a record of this id may have: `<id>.jsonl`, or `<id>.<started>.jsonl` for
        a repeated delivery; under the cycle's hour or the next, or (a liquidation) in range."""
        try:
            hour = _hour_of(cycle_time(record_id))
        except ValueError:  # a liquidation's id holds no time
            return [
                key
                for prefix in self._partitions(since, until, whole_days=True)
                for key in self._list(prefix)
                if key.rsplit("/", 1)[-1].startswith(record_id + ".")
            ]
        starts = (f"{self._root}{_hour_partition(h)}{record_id}." for h in (hour, hour + HOUR))
        prefixes = (self._narrow(start) for start in starts)
        return [key for prefix in prefixes if prefix for key in self._list(prefix)]

    @property
    def _root(self) -> str:
        return partition_root(self._prefix)

    def _partitions(self, since: datetime, until: datetime, whole_days: bool) -> list[str]:
        """The partition prefixes of the range, within the prefix given (which may name a
        month or a day: `audit/dt=2026-05-`)."""
        narrowed = (
            self._narrow(p) for p in partition_prefixes(self._root, since, until, whole_days)
        )
        return list(dict.fromkeys(p for p in narrowed if p is not None))

    def _narrow(self, partition: str) -> str | None:
        if partition.startswith(self._prefix):
            return partition
        return self._prefix if self._prefix.startswith(partition) else None

    def _records_in(
        self, keys: list[str], since: datetime, until: datetime
    ) -> list[dict[str, Any]]:
        found = [r for r in self._fetch(keys) if since <= record_started_at(r) < until]
        return sorted(found, key=record_started_at)  # a liquidation's key sorts by its name

    def _list(self, prefix: str) -> list[str]:
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix
            )
            found = [o["Key"] for page in pages for o in page.get("Contents", ())]
        except (ClientError, BotoCoreError) as exc:
            raise AuditReadError(
                f"s3://{self._bucket}/{prefix}: cannot list ({_why(exc)})"
            ) from None
        return sorted(k for k in found if k.endswith(".jsonl"))

    def _fetch(self, keys: list[str]) -> Iterator[dict[str, Any]]:
        with ThreadPoolExecutor(FETCHES_AT_ONCE, thread_name_prefix="audit-read") as pool:
            for key, text in zip(keys, pool.map(self._text, keys), strict=True):
                for number, line in enumerate(text.splitlines(), start=1):
                    if line.strip():
                        yield parse_audit_line(line, f"s3://{self._bucket}/{key} line {number}")

    def _text(self, key: str) -> str:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            return body.decode("utf-8")
        except (ClientError, BotoCoreError) as exc:
            raise AuditReadError(f"s3://{self._bucket}/{key}: cannot read ({_why(exc)})") from None
        except UnicodeDecodeError as exc:
            raise AuditReadError(f"s3://{self._bucket}/{key}: not UTF-8 ({exc.reason})") from None


def partition_root(prefix: str) -> str:
    """Where the `dt=` partitions are: the prefix up to its `dt=`, else the prefix as a folder;
    the bucket alone means `audit/`, where S3AuditSink writes."""
    if "dt=" in prefix:
        return prefix[: prefix.index("dt=")]
    if not prefix:
        return DEFAULT_ROOT
    return prefix if prefix.endswith("/") else prefix + "/"


def partition_prefixes(
    root: str, since: datetime, until: datetime, whole_days: bool = True
) -> list[str]:
    """The partitions that hold the records started in [since, until), oldest first: each
    hour `dt=D/hour=HH/`, or (`whole_days`) a day the range covers whole as one `dt=D/`."""
    prefixes = []
    hour = _hour_of(since)
    while hour < until:
        next_day = hour + DAY
        if whole_days and hour.hour == 0 and since <= hour and next_day <= until:
            prefixes.append(f"{root}dt={hour:%Y-%m-%d}/")
            hour = next_day
        else:
            prefixes.append(f"{root}{_hour_partition(hour)}")
            hour += HOUR
    return prefixes


def _hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_partition(hour: datetime) -> str:
    """As audit_key names it (adapters/aws/audit.py)."""
    return f"dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return type(exc).__name__
