"""The lock under real contention: 16 threads against one dynalite server, many rounds.

moto does not make a conditional check and its write atomic, so this race runs on dynalite,
which does (and validates requests the way DynamoDB does).
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from dynalite_server import dynalite_endpoint, unavailable_reason

from trader.adapters.aws_resources import create_table
from trader.adapters.dynamo_lock import DynamoCycleLock
from trader.errors import LockHeld

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))

THREADS = 16
ROUNDS = 100
TABLE = "race-state"
T0 = datetime(2026, 11, 24, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def endpoint():
    # Switch threads very often: against moto (not atomic) this same race shows two winners
    # in about a third of the rounds; DynamoDB and dynalite must show exactly one.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with dynalite_endpoint() as url:
            create_table(dynalite_client(url), TABLE, with_ttl=False)  # no UpdateTimeToLive
            yield url
    finally:
        sys.setswitchinterval(interval)


def dynalite_client(url: str):
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def race(locks: list[DynamoCycleLock], round_no: int, now: datetime) -> list:
    """Every lock tries to acquire at the same instant; returns leases or LockHeld per thread."""
    barrier = threading.Barrier(len(locks))

    def attempt(index: int):
        barrier.wait()
        try:
            return locks[index].acquire(f"req-{round_no}-{index}", now, 600)
        except LockHeld as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(locks)) as pool:
        return list(pool.map(attempt, range(len(locks))))


def test_acquire_when_16_invocations_race_then_exactly_one_wins_every_round(endpoint):
    locks = [
        DynamoCycleLock(TABLE, client=dynalite_client(endpoint), lock_key="LOCK#race")
        for _ in range(THREADS)
    ]
    winner_tokens = []

    for round_no in range(ROUNDS):
        outcomes = race(locks, round_no, T0 + timedelta(minutes=5 * round_no))
        winners = [o for o in outcomes if not isinstance(o, LockHeld)]
        assert len(winners) == 1, f"round {round_no}: {len(winners)} winners"
        assert sum(isinstance(o, LockHeld) for o in outcomes) == THREADS - 1
        winner_tokens.append(winners[0].token)
        locks[0].release(winners[0])

    # one acquisition per round, so the fencing tokens are exactly 1..ROUNDS
    assert winner_tokens == list(range(1, ROUNDS + 1))


def test_acquire_when_16_race_for_an_expired_lease_then_exactly_one_takes_it_over(endpoint):
    locks = [
        DynamoCycleLock(TABLE, client=dynalite_client(endpoint), lock_key="LOCK#expiry")
        for _ in range(THREADS)
    ]
    holder = locks[0].acquire("crashed-cycle", T0, 600)  # never released

    for round_no in range(10):
        now = T0 + timedelta(seconds=600 * (round_no + 1))  # the previous lease just expired
        outcomes = race(locks, round_no, now)
        winners = [o for o in outcomes if not isinstance(o, LockHeld)]
        assert len(winners) == 1, f"round {round_no}: {len(winners)} winners"
        assert winners[0].token == holder.token + round_no + 1
