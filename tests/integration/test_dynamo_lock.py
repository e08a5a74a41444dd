"""DynamoCycleLock on moto: the lock's logic, one call at a time (the race runs on dynalite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aws_fixtures import FAKE_CREDENTIALS
from aws_resources import create_table
from moto.server import ThreadedMotoServer

from trader.adapters.aws.dynamo_lock import DynamoCycleLock
from trader.bootstrap import AwsClients
from trader.domain.errors import LockHeld

T0 = datetime(2026, 11, 24, 4, 5, tzinfo=UTC)
LEASE = 600
LOCK_PK = "LOCK#cycle"


def test_acquire_when_free_then_lease_has_owner_first_token_and_expiry(lock):
    lease = lock.acquire("req-1", T0, LEASE)

    assert lease.owner == "req-1"
    assert lease.token == 1
    # 04:05:00 + 600 s = 04:15:00
    assert lease.expires_at == datetime(2026, 11, 24, 4, 15, tzinfo=UTC)


def test_acquire_when_held_and_unexpired_then_lock_held_and_item_unchanged(aws, lock):
    lock.acquire("req-1", T0, LEASE)
    before = aws.item(LOCK_PK, "LOCK")

    with pytest.raises(LockHeld):
        lock.acquire("req-2", T0 + timedelta(seconds=LEASE - 1), LEASE)

    assert aws.item(LOCK_PK, "LOCK") == before


def test_acquire_when_lease_expired_then_taken_over_with_larger_token(aws, lock):
    first = lock.acquire("req-1", T0, LEASE)

    # expires_at == now counts as expired (the condition is expires_at <= now)
    second = lock.acquire("req-2", T0 + timedelta(seconds=LEASE), LEASE)

    assert second.owner == "req-2"
    assert second.token == first.token + 1
    assert aws.item(LOCK_PK, "LOCK")["owner"] == {"S": "req-2"}


def test_release_when_owner_then_next_acquire_succeeds_and_token_keeps_increasing(lock):
    tokens = []
    for n in range(3):
        lease = lock.acquire(f"req-{n}", T0, LEASE)
        tokens.append(lease.token)
        lock.release(lease)

    # the counter survives releases, so tokens are 1, 2, 3 (never reset to 1)
    assert tokens == [1, 2, 3]


def test_release_when_lease_taken_over_then_no_op_and_new_holder_keeps_lock(aws, lock):
    stale = lock.acquire("req-1", T0, LEASE)
    fresh = lock.acquire("req-2", T0 + timedelta(seconds=LEASE + 1), LEASE)
    before = aws.item(LOCK_PK, "LOCK")

    lock.release(stale)

    assert aws.item(LOCK_PK, "LOCK") == before
    with pytest.raises(LockHeld):
        lock.acquire("req-3", T0 + timedelta(seconds=LEASE + 2), LEASE)
    lock.release(fresh)


def test_release_when_same_owner_but_old_token_then_lock_stays_held(lock):
    # the same request id re-acquiring after expiry gets a new token; the old lease is stale
    old = lock.acquire("req-1", T0, LEASE)
    lock.acquire("req-1", T0 + timedelta(seconds=LEASE), LEASE)

    lock.release(old)

    with pytest.raises(LockHeld, match="'req-1'"):
        lock.acquire("req-2", T0 + timedelta(seconds=LEASE + 1), LEASE)


def test_acquire_when_held_then_message_names_holder_and_expiry(lock):
    lock.acquire("req-1", T0, LEASE)

    # held until 04:05 + 600 s = 04:15
    with pytest.raises(LockHeld, match=r"'req-1' until 2026-11-24T04:15:00\+00:00"):
        lock.acquire("req-2", T0, LEASE)


def test_acquire_when_naive_now_then_value_error_and_nothing_written(aws, lock):
    with pytest.raises(ValueError, match="naive"):
        lock.acquire("req-1", datetime(2026, 11, 24, 4, 5), LEASE)  # noqa: DTZ001

    assert aws.item(LOCK_PK, "LOCK") is None


def test_acquire_when_no_owner_then_value_error(lock):
    with pytest.raises(ValueError, match="owner"):
        lock.acquire("", T0, LEASE)


def test_aws_clients_when_built_lazily_then_honour_aws_endpoint_url(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_DEFAULT_REGION", FAKE_CREDENTIALS["region_name"])
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        import boto3

        direct = boto3.client("dynamodb", endpoint_url=endpoint)
        create_table(direct, "lazy-lock-table")

        clients = AwsClients()  # the composition root builds the client on first use
        lock = DynamoCycleLock("lazy-lock-table", clients.dynamodb)
        lease = lock.acquire("req-1", T0, LEASE)

        stored = direct.get_item(
            TableName="lazy-lock-table", Key={"pk": {"S": LOCK_PK}, "sk": {"S": "LOCK"}}
        )["Item"]
        assert stored["owner"] == {"S": "req-1"}
        assert lease.token == 1
        assert clients.dynamodb is lock.client  # built once, then reused
    finally:
        server.stop()
