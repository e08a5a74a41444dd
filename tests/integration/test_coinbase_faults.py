"""Every failure kind -> its typed error; retries only where safe; no duplicate order, ever."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fake_coinbase import Fault
from fake_coinbase_env import coinbase_env, market_buy

from trader.adapters.coinbase.errors import (
    AuthError,
    BadRequest,
    ExchangeTimeout,
    ExchangeUnavailable,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from trader.adapters.coinbase.order_requests import DUPLICATE_CLIENT_ORDER_ID
from trader.domain.errors import ExchangeError, OrderRejected, OutcomeUnknown
from trader.domain.models import OrderStatus
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import Cooldowns
from trader.service.orders import reconcile, send

ATTEMPTS = 3  # RetryPolicy() default: the first try and two retries


READ_FAULTS = [
    (Fault.http(401, "UNAUTHENTICATED", "Unauthorized"), AuthError, 1),
    (
        Fault.http(403, "PERMISSION_DENIED", "Missing required scopes"),
        PermissionDenied,
        1,
    ),
    (Fault.http(400, "INVALID_ARGUMENT", "bad"), BadRequest, 1),
    (Fault.http(404, "NOT_FOUND", "nope"), NotFound, 1),
    (Fault.rate_limited(), RateLimited, ATTEMPTS),
    (Fault.http(500, "INTERNAL", "boom"), ExchangeUnavailable, ATTEMPTS),
    (Fault(502, "<html>Bad Gateway</html>", "text/html"), ExchangeUnavailable, ATTEMPTS),
    (Fault.http(503, "UNAVAILABLE", "later"), ExchangeUnavailable, ATTEMPTS),
    (Fault.timeout(), ExchangeTimeout, ATTEMPTS),
    (Fault.connection_error(), ExchangeUnavailable, ATTEMPTS),
    (Fault.malformed("<html>not json</html>"), MalformedResponse, 1),
    (Fault.malformed('{"pricebooks": "nope"}'), MalformedResponse, 1),
]


@pytest.mark.parametrize(("fault", "error", "requests_sent"), READ_FAULTS)
def test_read_when_fault_persists_then_typed_error_after_bounded_tries(
    env, fault, error, requests_sent
):
    env.fake.fail("GET", "/best_bid_ask", fault, times=10)

    with pytest.raises(error):
        env.exchange.get_quotes(["BTC-USD"])

    assert env.fake.count("GET", "/best_bid_ask") == requests_sent
    assert len(env.sleep.waits) == requests_sent - 1


def test_read_when_401_then_message_hints_at_clock_skew(env):
    env.fake.fail("GET", "/accounts", Fault.http(401, "UNAUTHENTICATED", "Unauthorized"))

    with pytest.raises(AuthError, match="clock"):
        env.exchange.get_balances()


def test_read_when_429_with_html_body_then_rate_limited_names_the_body_kind(env):
    env.fake.fail("GET", "/products", Fault.rate_limited(), times=10)

    with pytest.raises(RateLimited) as caught:
        env.exchange.list_products()

    assert "NON_JSON_HTML" in str(caught.value)
    assert caught.value.retry_after_s == 1.0


def test_read_when_transient_faults_then_retried_with_bounded_jittered_backoff(env):
    env.fake.fail("GET", "/transaction_summary", Fault.http(503), times=2)

    fees = env.exchange.get_fee_rates()

    assert fees.taker > 0
    assert env.fake.count("GET", "/transaction_summary") == 3
    # base 0.25 s doubling, equal jitter: wait n is within [b*2^n/2, b*2^n]
    first, second = env.sleep.waits
    assert 0.125 <= first <= 0.25
    assert 0.25 <= second <= 0.5


def test_read_when_rate_limited_then_waits_at_least_retry_after(env):
    env.fake.fail("GET", "/best_bid_ask", Fault.rate_limited())

    env.exchange.get_quotes(["BTC-USD"])

    assert env.sleep.waits == [pytest.approx(1.0)]  # Retry-After: 1 beats 0.125..0.25


def test_private_call_when_public_only_then_auth_error_without_request():
    with coinbase_env(public=True) as env:
        with pytest.raises(AuthError, match="credentials"):
            env.exchange.get_balances()
        assert env.fake.requests == []


# --- creates -----------------------------------------------------------------------------

AMBIGUOUS_CREATE_FAULTS = [
    Fault.timeout(),
    Fault.connection_error(),
    Fault.rate_limited(),
    Fault.http(500),
    Fault.http(502),
    Fault.http(503),
    Fault.malformed("<html>oops</html>"),
]


@pytest.mark.parametrize("fault", AMBIGUOUS_CREATE_FAULTS)
def test_place_order_when_every_attempt_ambiguous_then_outcome_unknown(env, fault):
    env.fake.fail("POST", "/orders", fault, times=10)

    with pytest.raises(OutcomeUnknown):
        env.exchange.place_order(market_buy("c-amb"))

    assert env.fake.count("POST", "/orders") == ATTEMPTS
    sent_ids = {r.body["client_order_id"] for r in env.fake.requests if r.path == "/orders"}
    assert sent_ids == {"c-amb"}  # every re-send carried the same id


@pytest.mark.parametrize("fault", [Fault.timeout(after=True), Fault.http(502, after=True)])
def test_place_order_when_accepted_then_client_failed_then_retry_yields_exactly_one_order(
    env, fault
):
    env.fake.fail("POST", "/orders", fault)

    placed = env.exchange.place_order(market_buy("c-once"))

    assert env.fake.count("POST", "/orders") == 2
    assert env.fake.orders_created() == 1
    assert placed.order_id == env.fake.exchange.get_order("c-once").order_id
    assert env.exchange.get_order("c-once").status is OrderStatus.FILLED


def test_place_order_when_accepted_then_every_attempt_failed_then_unknown_and_next_cycle_safe(env):
    env.fake.fail("POST", "/orders", Fault.timeout(after=True), times=ATTEMPTS)

    with pytest.raises(OutcomeUnknown):
        env.exchange.place_order(market_buy("c-cycle"))

    # the retried cycle (a fresh process) re-sends the same plan: still one order
    retried = env.new_exchange().place_order(market_buy("c-cycle"))
    assert env.fake.orders_created() == 1
    assert retried.order_id == env.fake.exchange.get_order("c-cycle").order_id


def test_place_order_when_timeout_before_exchange_saw_it_then_retry_places_it_once(env):
    env.fake.fail("POST", "/orders", Fault.timeout(after=False))

    placed = env.exchange.place_order(market_buy("c-late"))

    assert placed.status is OrderStatus.OPEN
    assert env.fake.orders_created() == 1


def test_place_order_when_400_then_order_rejected_and_not_resent(env):
    env.fake.fail("POST", "/orders", Fault.http(400, "INVALID_ARGUMENT", "bad size"))

    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("c-400"))

    assert caught.value.reason == "INVALID_ARGUMENT"
    assert env.fake.count("POST", "/orders") == 1


@pytest.mark.parametrize(
    ("fault", "error", "reason"),
    [
        (Fault.http(401, "UNAUTHENTICATED", "Unauthorized"), AuthError, "UNAUTHENTICATED"),
        (
            Fault.http(403, "PERMISSION_DENIED", "Missing required scopes"),
            PermissionDenied,
            "PERMISSION_DENIED",
        ),
    ],
)
def test_place_order_when_auth_refused_first_then_rejected_with_the_typed_cause(
    env, fault, error, reason
):
    # A 401/403 creates nothing: a definite "no" (OrderRejected), never UNKNOWN; the typed
    # error stays as the cause so the operator sees what to fix.
    env.fake.fail("POST", "/orders", fault)

    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("c-auth"))
    assert caught.value.reason == reason
    assert isinstance(caught.value.__cause__, error)
    assert env.fake.orders_created() == 0


def test_place_order_when_401_after_an_ambiguous_attempt_then_outcome_unknown(env):
    env.fake.fail("POST", "/orders", Fault.timeout(after=True))
    env.fake.fail("POST", "/orders", Fault.http(401, "UNAUTHENTICATED", "Unauthorized"))

    with pytest.raises(OutcomeUnknown):
        env.exchange.place_order(market_buy("c-mixed"))
    assert env.fake.orders_created() == 1  # the first attempt did go through


def test_place_order_when_duplicate_client_order_id_reason_then_existing_order_returned(env):
    env.exchange.place_order(market_buy("c-d"))
    env.fake.answer_duplicates_with_failure()
    fresh = env.new_exchange()  # a retried cycle in a new process

    found = fresh.place_order(market_buy("c-d"))

    assert found.status is OrderStatus.FILLED
    assert found.order_id == env.fake.exchange.get_order("c-d").order_id
    assert env.fake.orders_created() == 1


def test_place_order_when_ambiguous_then_refused_on_retry_then_unknown_after_looking_it_up(env):
    # From the client's side a 503 may have been accepted; the refusal of the re-send (here
    # for funds) may be caused by that very order, which list_orders need not show yet.
    env.fake.fail("POST", "/orders", Fault.http(503))
    env.fake.reject_next_create("INSUFFICIENT_FUND")

    with pytest.raises(OutcomeUnknown):
        env.exchange.place_order(market_buy("c-x"))

    assert env.exchange.api_calls["list_orders"] == 1  # looked for it before answering


def refusal(reason: str) -> Fault:
    """A create answered `success: false` with `reason` (HTTP 200), the request not processed."""
    body = {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "error_response": {
            "error": reason,
            "message": "refused by the fault",
            "new_order_failure_reason": reason,
        },
    }
    return Fault(status=200, body=json.dumps(body))


RESEND_REFUSALS = [
    refusal("INSUFFICIENT_FUND"),  # the first attempt spent the funds
    refusal("INVALID_LIMIT_PRICE_POST_ONLY"),  # any definite "no" to the re-send
    Fault.http(400, DUPLICATE_CLIENT_ORDER_ID, "duplicate client_order_id"),
    Fault.http(400, "INVALID_ARGUMENT", "bad request"),
]


@pytest.mark.parametrize(
    "refused",
    RESEND_REFUSALS,
    ids=["funds", "post_only_price", "http400_duplicate_id", "http400_invalid_argument"],
)
def test_place_order_when_accepted_then_timed_out_then_resend_refused_then_unknown(env, refused):
    env.fake.hide_next_order(reads=1)  # accepted, but the first list_orders does not show it
    env.fake.fail("POST", "/orders", Fault.timeout(after=True))
    env.fake.fail("POST", "/orders", refused)

    with pytest.raises(OutcomeUnknown):
        env.exchange.place_order(market_buy("c-amb-no"))

    assert env.fake.count("POST", "/orders") == 2
    assert env.fake.orders_created() == 1  # the first attempt went through
    assert env.fake.exchange.get_order("c-amb-no").status is OrderStatus.FILLED


def test_send_when_resend_refused_after_an_accepted_timeout_then_unknown_and_reconcile_books_it(
    env,
):
    env.fake.hide_next_order(reads=1)
    env.fake.fail("POST", "/orders", Fault.timeout(after=True))
    env.fake.fail("POST", "/orders", refusal("INSUFFICIENT_FUND"))
    now = env.clock.now()

    sent = send(env.exchange, market_buy("c-settle"), now)

    assert sent.status is OrderStatus.UNKNOWN
    state = PortfolioState(open_orders={sent.client_order_id: sent}, trades_today=1)
    state, seen = reconcile(state, env.exchange, now, Cooldowns(), timedelta(minutes=10))
    (settled,) = seen
    assert settled.status is OrderStatus.FILLED
    at_exchange = env.fake.exchange.get_order("c-settle")
    assert settled.order_id == at_exchange.order_id
    assert state.open_orders == {}
    assert state.trades_today == 1  # it was placed: the trade stays counted
    assert state.positions["BTC-USD"].size == at_exchange.filled_size
    assert env.fake.exchange.balance_totals()["BTC"] == at_exchange.filled_size


def test_place_order_when_fresh_process_gets_400_duplicate_and_order_listed_then_existing(env):
    env.exchange.place_order(market_buy("c-dup400"))
    env.fake.fail("POST", "/orders", Fault.http(400, DUPLICATE_CLIENT_ORDER_ID, "duplicate"))

    found = env.new_exchange().place_order(market_buy("c-dup400"))

    assert found.status is OrderStatus.FILLED
    assert found.order_id == env.fake.exchange.get_order("c-dup400").order_id
    assert env.fake.orders_created() == 1


def test_place_order_when_fresh_process_gets_400_duplicate_and_order_unlisted_then_unknown(env):
    env.fake.hide_next_order(reads=1)
    env.exchange.place_order(market_buy("c-dup-hidden"))
    env.fake.fail("POST", "/orders", Fault.http(400, DUPLICATE_CLIENT_ORDER_ID, "duplicate"))

    with pytest.raises(OutcomeUnknown):
        env.new_exchange().place_order(market_buy("c-dup-hidden"))

    assert env.fake.orders_created() == 1


def test_errors_when_raised_then_all_are_exchange_errors_with_cause_kept(env):
    env.fake.fail("GET", "/accounts", Fault.timeout(), times=10)

    with pytest.raises(ExchangeError) as caught:
        env.exchange.get_balances()

    assert caught.value.__cause__ is not None
