"""Opt-in order preview (POST /orders/preview) through the real SDK against the fake."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from coinbase.rest import RESTClient
from fake_coinbase import Fault
from fake_coinbase_env import KEY_NAME, coinbase_env, limit_order, market_buy, market_sell

from trader.domain.errors import OrderRejected, OutcomeUnknown
from trader.domain.models import OrderStatus, Side

ATTEMPTS = 3  # RetryPolicy() default: the first try and two retries
PREVIEW = "/orders/preview"
CREATE = "/orders"


@pytest.fixture
def env():
    with coinbase_env(preview_orders=True) as e:
        yield e


def _bodies(env, path):
    return [r.body for r in env.fake.requests if r.method == "POST" and r.path == path]


def _sdk(env) -> RESTClient:
    """A second real SDK client on the same fake, to read preview answers directly."""
    return RESTClient(api_key=KEY_NAME, api_secret=env.pem, timeout=5)


# --- off by default ----------------------------------------------------------------------------


def test_place_order_when_preview_off_then_no_preview_request_and_no_preview_id():
    with coinbase_env() as env:
        env.exchange.place_order(market_buy("c-off", "BTC-USD", "100"))

        assert env.fake.count("POST", PREVIEW) == 0
        assert "preview_id" not in _bodies(env, CREATE)[0]
        assert env.exchange.api_calls == {"create_order": 1}


# --- doomed orders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        # cash is 10,000 USD: 20,000 of quote is more than the balance
        (market_buy("c-big", "BTC-USD", "20000"), "PREVIEW_INSUFFICIENT_FUND"),
        # SOL-USD base_min_size is 0.01; 0.005 is on the 0.001 grid but below it
        (market_sell("c-tiny", "SOL-USD", "0.005"), "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
        # quote_min_size is 1 USD
        (market_buy("c-cents", "BTC-USD", "0.50"), "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        # BTC trades near 63,000: a post-only buy at 99,999 would cross the ask
        (
            limit_order("c-cross", "BTC-USD", Side.BUY, "0.001", "99999.00"),
            "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
        ),
    ],
)
def test_place_order_when_preview_says_doomed_then_rejected_with_its_reason_and_no_create(
    env, plan, reason
):
    usd_before = env.fake.exchange.get_balances()["USD"].available

    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(plan)

    assert caught.value.reason == reason
    assert env.fake.count("POST", PREVIEW) == 1
    assert env.fake.count("POST", CREATE) == 0
    assert env.fake.orders_created() == 0
    assert env.fake.exchange.get_balances()["USD"].available == usd_before
    # the only other request: checking that no earlier create used this id
    assert env.exchange.api_calls == {"preview_order": 1, "list_orders": 1}


def test_place_order_when_preview_answers_400_then_rejected_with_its_code_and_no_create(env):
    env.fake.fail("POST", PREVIEW, Fault.http(400, "INVALID_ARGUMENT", "bad size"))

    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("c-400", "BTC-USD", "100"))

    assert caught.value.reason == "INVALID_ARGUMENT"
    assert env.fake.count("POST", CREATE) == 0


def test_place_order_when_preview_errs_are_objects_then_their_reason_is_used(env):
    body = {"errs": [{"preview_failure_reason": "PREVIEW_INVALID_SIZE_PRECISION"}], "warning": []}
    env.fake.fail("POST", PREVIEW, Fault(status=200, body=json.dumps(body)))

    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("c-obj", "BTC-USD", "100"))

    assert caught.value.reason == "PREVIEW_INVALID_SIZE_PRECISION"
    assert env.fake.count("POST", CREATE) == 0


# --- clean orders ------------------------------------------------------------------------------


def test_place_order_when_preview_clean_then_one_preview_then_one_create_with_its_id(env):
    placed = env.exchange.place_order(market_buy("c-good", "BTC-USD", "100"))

    posts = [r.path for r in env.fake.requests if r.method == "POST"]
    assert posts == [PREVIEW, CREATE]
    (preview,), (create,) = _bodies(env, PREVIEW), _bodies(env, CREATE)
    assert "client_order_id" not in preview  # a preview carries no id
    assert preview["order_configuration"] == create["order_configuration"]
    assert preview["product_id"] == create["product_id"] == "BTC-USD"
    assert preview["side"] == create["side"] == "BUY"
    assert create["preview_id"] == env.fake.routes.preview_ids[0]
    assert placed.status is OrderStatus.OPEN and env.fake.orders_created() == 1
    assert env.exchange.api_calls == {"preview_order": 1, "create_order": 1}


def test_place_order_when_preview_clean_but_names_unknown_reason_then_still_created(env):
    body = {
        "order_total": "100",
        "commission_total": "0.6",
        "errs": [],
        "warning": [],
        "preview_id": "pv-1",
        "preview_failure_reason": "UNKNOWN_PREVIEW_FAILURE_REASON",
    }
    env.fake.fail("POST", PREVIEW, Fault(status=200, body=json.dumps(body)))

    env.exchange.place_order(market_buy("c-unk", "BTC-USD", "100"))

    assert _bodies(env, CREATE)[0]["preview_id"] == "pv-1"
    assert env.fake.orders_created() == 1


def test_place_order_when_same_id_placed_twice_then_second_call_not_previewed(env):
    first = env.exchange.place_order(market_buy("c-twice", "BTC-USD", "100"))
    second = env.exchange.place_order(market_buy("c-twice", "BTC-USD", "100"))

    assert second.order_id == first.order_id
    assert env.fake.count("POST", PREVIEW) == 1
    assert env.fake.orders_created() == 1


# --- transient preview failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(503, "UNAVAILABLE", "later"),
        Fault.timeout(),
        Fault.rate_limited(),
        Fault.connection_error(),
        Fault.malformed("<html>not json</html>"),
    ],
)
def test_place_order_when_preview_fails_transiently_then_warning_and_created_once(
    env, fault, caplog
):
    env.fake.fail("POST", PREVIEW, fault, times=10)

    with caplog.at_level(logging.WARNING, logger="trader.adapters.coinbase.order_client"):
        placed = env.exchange.place_order(market_buy("c-skip", "BTC-USD", "100"))

    assert any("preview failed" in r.getMessage() for r in caplog.records)
    assert env.fake.count("POST", PREVIEW) == 1  # not retried: it would only add round trips
    assert env.fake.count("POST", CREATE) == 1
    assert "preview_id" not in _bodies(env, CREATE)[0]
    assert placed.order_id == env.fake.exchange.get_order("c-skip").order_id


def test_place_order_when_preview_skipped_and_order_doomed_then_create_still_rejects(env):
    env.fake.fail("POST", PREVIEW, Fault.http(503))

    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("c-big", "BTC-USD", "20000"))  # cash is 10,000

    assert caught.value.reason == "INSUFFICIENT_FUND"
    assert env.fake.count("POST", CREATE) == 1


# --- re-sends after an ambiguous create --------------------------------------------------------


def test_place_order_when_create_resent_after_timeout_then_not_previewed_again(env):
    env.fake.fail("POST", CREATE, Fault.timeout(after=True))

    placed = env.exchange.place_order(market_buy("c-amb", "BTC-USD", "100"))

    assert env.fake.count("POST", PREVIEW) == 1
    creates = _bodies(env, CREATE)
    assert len(creates) == 2
    assert creates[0]["preview_id"] == creates[1]["preview_id"] == env.fake.routes.preview_ids[0]
    assert env.fake.orders_created() == 1
    assert placed.order_id == env.fake.exchange.get_order("c-amb").order_id


def _accepted_but_unknown(env):
    """150 USD; a 100 USD buy is accepted but every answer is lost. Afterwards about
    150 - (100 + 0.6 fee) = 49.4 USD is left, so a new preview of it would say no funds."""
    env.fake.fail("POST", CREATE, Fault.timeout(after=True), times=ATTEMPTS)
    with pytest.raises(OutcomeUnknown):
        env.exchange.place_order(market_buy("c-lost", "BTC-USD", "100"))
    assert env.fake.exchange.get_balances()["USD"].available < 100


def test_place_order_when_resent_in_same_process_after_unknown_then_not_previewed():
    with coinbase_env(balances={"USD": Decimal(150)}, preview_orders=True) as env:
        _accepted_but_unknown(env)

        again = env.exchange.place_order(market_buy("c-lost", "BTC-USD", "100"))

        assert env.fake.count("POST", PREVIEW) == 1
        assert env.fake.count("POST", CREATE) == ATTEMPTS + 1
        assert env.fake.orders_created() == 1
        assert again.order_id == env.fake.exchange.get_order("c-lost").order_id


def test_place_order_when_fresh_process_resends_accepted_order_then_existing_not_rejected():
    with coinbase_env(balances={"USD": Decimal(150)}, preview_orders=True) as env:
        _accepted_but_unknown(env)
        fresh = env.new_exchange(preview_orders=True)  # cannot know the id was sent

        again = fresh.place_order(market_buy("c-lost", "BTC-USD", "100"))

        # its preview says PREVIEW_INSUFFICIENT_FUND, but the order exists: that is the answer
        assert env.fake.count("POST", PREVIEW) == 2
        assert env.fake.count("POST", CREATE) == ATTEMPTS
        assert env.fake.orders_created() == 1
        assert again.order_id == env.fake.exchange.get_order("c-lost").order_id
        assert again.status is OrderStatus.FILLED


def test_place_order_when_preview_doomed_and_lookup_fails_then_outcome_unknown(env):
    env.fake.fail("GET", "/orders/historical/batch", Fault.http(503), times=10)

    with pytest.raises(OutcomeUnknown):
        env.exchange.place_order(market_buy("c-big", "BTC-USD", "20000"))

    assert env.fake.count("POST", CREATE) == 0


# --- the fake's preview agrees with its create -------------------------------------------------


def test_fake_preview_when_market_buy_then_totals_match_the_fill_the_create_makes(env):
    answer = (
        _sdk(env)
        .preview_order("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "100"}})
        .to_dict()
    )
    assert env.fake.orders_created() == 0  # a preview places nothing

    env.exchange.place_order(market_buy("c-same", "BTC-USD", "100"))

    fill = env.fake.exchange.get_order("c-same").fills[0]
    assert answer["errs"] == []
    assert Decimal(answer["base_size"]) == fill.size
    assert Decimal(answer["commission_total"]) == fill.fee
    # the fee of a quote-sized buy comes out of quote_size: 100 * 0.006 / 1.006 = 0.5964...
    assert abs(fill.fee - Decimal("0.6") / Decimal("1.006")) < fill.price * Decimal("1e-16")
    assert Decimal(answer["order_total"]) == Decimal(100)  # what the buy pays, fee included
    assert answer["preview_id"]


def test_fake_preview_when_resting_limit_buy_then_priced_at_limit_as_maker(env):
    answer = (
        _sdk(env)
        .preview_order(
            "SOL-USD",
            "BUY",
            {"limit_limit_gtc": {"base_size": "1", "limit_price": "100.00", "post_only": True}},
        )
        .to_dict()
    )

    # 1 SOL at 100.00 rests below the market; maker 0.4 %: fee 0.4, total 100.4
    assert Decimal(answer["commission_total"]) == Decimal("0.4")
    assert Decimal(answer["order_total"]) == Decimal("100.4")
    assert env.fake.orders_created() == 0
    assert env.fake.exchange.get_balances()["USD"].hold == 0


def test_fake_preview_when_doomed_then_errs_and_failure_reason_and_nothing_placed(env):
    answer = (
        _sdk(env)
        .preview_order("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "20000"}})
        .to_dict()
    )

    assert answer["errs"] == ["PREVIEW_INSUFFICIENT_FUND"]
    assert answer["preview_failure_reason"] == "PREVIEW_INSUFFICIENT_FUND"
    assert env.fake.orders_created() == 0


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.http(401, "UNAUTHENTICATED", "Unauthorized"), "UNAUTHENTICATED"),
        (Fault.http(403, "PERMISSION_DENIED", "Missing required scopes"), "PERMISSION_DENIED"),
    ],
)
def test_preview_when_refused_for_auth_then_rejected_and_never_created(fault, reason) -> None:
    # Nothing was sent, so the order is a definite "no" (not UNKNOWN, which would block the
    # product for 15 minutes and scan the order list every cycle).
    with coinbase_env(preview_orders=True) as env:
        env.fake.fail("POST", r"/orders/preview", fault)
        with pytest.raises(OrderRejected) as caught:
            env.exchange.place_order(market_buy("c-preview-auth"))
        assert caught.value.reason == reason
        assert env.fake.count("POST", r"/orders") == 0
        assert env.fake.orders_created() == 0
