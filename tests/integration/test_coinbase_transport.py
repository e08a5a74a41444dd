"""Retry policy and client-side rate limiter of the Coinbase transport (pure, no network)."""

from __future__ import annotations

import random

import pytest
from fake_coinbase_env import RecordingSleep

from trader.adapters.coinbase.errors import BadRequest, ExchangeUnavailable
from trader.adapters.coinbase.transport import RateLimiter, RetryPolicy, Transport


class FrozenTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_when_burst_used_up_then_each_caller_waits_its_turn():
    clock, sleep = FrozenTime(), RecordingSleep()
    limiter = RateLimiter(rate_per_s=10, burst=2, monotonic=clock, sleep=sleep)

    waits = [limiter.acquire() for _ in range(4)]

    # two free slots, then one slot every 1/10 s: 0.1 s and 0.2 s after now
    assert waits == [0, 0, pytest.approx(0.1), pytest.approx(0.2)]
    assert sleep.waits == [pytest.approx(0.1), pytest.approx(0.2)]


def test_rate_limiter_when_time_passes_then_tokens_refill_up_to_the_burst():
    clock, sleep = FrozenTime(), RecordingSleep()
    limiter = RateLimiter(rate_per_s=10, burst=2, monotonic=clock, sleep=sleep)
    limiter.acquire()
    limiter.acquire()

    clock.now = 5.0  # long enough to refill far beyond the burst of 2
    waits = [limiter.acquire() for _ in range(3)]

    assert waits == [0, 0, pytest.approx(0.1)]


def test_rate_limiter_when_unlimited_then_never_waits():
    limiter = RateLimiter.unlimited()

    assert [limiter.acquire() for _ in range(1000)] == [0.0] * 1000


@pytest.mark.parametrize("attempt", [0, 1, 2, 5, 10])
def test_retry_delay_when_any_attempt_then_within_half_and_full_capped_backoff(attempt):
    policy = RetryPolicy(attempts=3, base_delay_s=0.25, max_delay_s=2.0)
    cap = min(2.0, 0.25 * 2**attempt)

    delays = [policy.delay(attempt, random.Random(seed)) for seed in range(50)]

    assert all(cap / 2 <= d <= cap for d in delays)
    assert len(set(delays)) > 1  # jittered


def test_retry_delay_when_server_hint_then_hint_respected_but_capped():
    policy = RetryPolicy(base_delay_s=0.25, max_delay_s=2.0)

    assert policy.delay(0, random.Random(1), hint_s=1.5) == 1.5
    assert policy.delay(0, random.Random(1), hint_s=60) == 2.0


def test_transport_read_when_non_retryable_error_then_raised_at_once():
    sleep = RecordingSleep()
    io = Transport(sleep=sleep)
    calls = []

    def failing():
        calls.append(1)
        raise BadRequest("no", 400, "INVALID_ARGUMENT")

    with pytest.raises(BadRequest):
        io.read("op", failing)
    assert len(calls) == 1 and sleep.waits == []


def test_transport_read_when_transient_then_retried_up_to_attempts_and_counted():
    sleep = RecordingSleep()
    io = Transport(RetryPolicy(attempts=4), sleep=sleep)

    def down():
        raise ExchangeUnavailable("503")

    with pytest.raises(ExchangeUnavailable):
        io.read("op", down)
    assert io.api_calls == {"op": 4}
    assert len(sleep.waits) == 3
