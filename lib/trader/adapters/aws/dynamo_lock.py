"""The cycle lock as one DynamoDB item: a conditional lease with an owner and a fencing token.

Acquire is a single conditional UpdateItem, so DynamoDB decides the race atomically:
it succeeds only when nobody holds the item or the holder's lease has expired, and the
same write ADDs one to the item's token, so every acquisition gets a larger token than
any before it. Release clears the owner but keeps the item: deleting it would reset the
counter and break the "strictly increasing" promise that the state store's fencing
check relies on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from trader.domain.errors import LockHeld
from trader.domain.lease import LockLease

PK = "pk"
SK = "sk"
LOCK_SK = "LOCK"
OWNER = "owner"
FENCE = "fence_token"
EXPIRES_AT_MS = "expires_at_ms"
ACQUIRED_AT = "acquired_at"

log = logging.getLogger(__name__)
_CONDITIONAL_FAILED = "ConditionalCheckFailedException"


def epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: lock times must be UTC-aware")
    return int(moment.timestamp() * 1000)


def lock_item_key(lock_key: str) -> dict[str, dict[str, str]]:
    return {PK: {"S": lock_key}, SK: {"S": LOCK_SK}}


def error_code(exc: ClientError) -> str | None:
    return exc.response.get("Error", {}).get("Code")


class DynamoCycleLock:
    """`trader.ports.CycleLock` on a DynamoDB table with `pk`/`sk` string keys."""

    def __init__(self, table_name: str, client: Any, lock_key: str = "LOCK#cycle") -> None:
        self._table = table_name
        self.client = client  # a boto3 DynamoDB client (trader.bootstrap.AwsClients)
        self._key = lock_item_key(lock_key)

    def acquire(self, owner: str, now: datetime, lease_seconds: int) -> LockLease:
        if not owner:
            raise ValueError("a lock owner (the invocation's request id) is required")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        expires = now + timedelta(seconds=lease_seconds)
        # Named sub-conditions, as in Powertools' idempotency persistence layer.
        lock_is_free = f"attribute_not_exists(#{OWNER})"
        lease_expired = f"#{EXPIRES_AT_MS} <= :now_ms"
        try:
            response = self.client.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression=(
                    f"SET #{OWNER} = :owner, #{EXPIRES_AT_MS} = :expires_ms, "
                    f"#{ACQUIRED_AT} = :now_iso ADD #{FENCE} :one"
                ),
                ConditionExpression=f"{lock_is_free} OR {lease_expired}",
                ExpressionAttributeNames=_names(OWNER, EXPIRES_AT_MS, ACQUIRED_AT, FENCE),
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":expires_ms": {"N": str(epoch_ms(expires))},
                    ":now_ms": {"N": str(epoch_ms(now))},
                    ":now_iso": {"S": now.astimezone(UTC).isoformat()},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == _CONDITIONAL_FAILED:
                raise LockHeld(_held_message(exc)) from exc
            raise
        attributes = response["Attributes"]
        return LockLease(
            owner=attributes[OWNER]["S"],
            token=int(attributes[FENCE]["N"]),
            expires_at=_from_ms(int(attributes[EXPIRES_AT_MS]["N"])),
        )

    def release(self, lease: LockLease) -> None:
        """Clear the owner if it is still ours (same owner AND token); otherwise do nothing.

        A stale lease (expired and taken over) must never free the new holder's lock.
        """
        try:
            self.client.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression=f"REMOVE #{OWNER} SET #{EXPIRES_AT_MS} = :zero",
                ConditionExpression=f"#{OWNER} = :owner AND #{FENCE} = :token",
                ExpressionAttributeNames=_names(OWNER, EXPIRES_AT_MS, FENCE),
                ExpressionAttributeValues={
                    ":owner": {"S": lease.owner},
                    ":token": {"N": str(lease.token)},
                    ":zero": {"N": "0"},
                },
            )
        except ClientError as exc:
            if error_code(exc) != _CONDITIONAL_FAILED:
                raise
            log.warning(
                "lease %s of %s was already taken over; not released", lease.token, lease.owner
            )


def _held_message(exc: ClientError) -> str:
    holder = exc.response.get("Item") or {}
    owner = holder.get(OWNER, {}).get("S", "?")
    expires = holder.get(EXPIRES_AT_MS, {}).get("N")
    until = _from_ms(int(expires)).isoformat() if expires else "?"
    return f"the cycle lock is held by {owner!r} until {until}"


def _names(*attributes: str) -> dict[str, str]:
    return {f"#{name}": name for name in attributes}


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)
