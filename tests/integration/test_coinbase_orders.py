"""CoinbaseExchange orders through the real SDK against the fake: create, read, fills, cancel."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from fake_coinbase import Fault
from fake_coinbase_env import limit_order, market_buy
from fake_coinbase_json import fill_json

from trader.adapters.coinbase.order_client import OrderNotVisible
from trader.domain.errors import OrderRejected
from trader.domain.models import Intent, OrderStatus, OrderType, PlannedOrder, Side


def _create_bodies(env):
    return [r.body for r in env.fake.requests if r.method == "POST" and r.path == "/orders"]


def test_place_order_when_market_buy_then_quote_size_sent_as_plain_string(env):
    placed = env.exchange.place_order(market_buy("c-buy", "BTC-USD", "100.50"))

    body = _create_bodies(env)[0]
    assert body["client_order_id"] == "c-buy"
    assert body["side"] == "BUY"
    assert body["order_configuration"] == {"market_market_ioc": {"quote_size": "100.50"}}
    assert placed.status is OrderStatus.OPEN  # accepted, not yet known to be filled
    assert placed.order_id


def test_place_order_when_decimal_has_an_exponent_then_plain_string_sent(env):
    plan = PlannedOrder(
        "c-exp", "BTC-USD", Side.BUY, OrderType.MARKET, Intent.ENTRY, None, Decimal("1E+2")
    )

    env.exchange.place_order(plan)

    sent = _create_bodies(env)[0]["order_configuration"]["market_market_ioc"]["quote_size"]
    assert sent == "100"  # str(Decimal("1E+2")) is '1E+2', which Coinbase rejects


def test_place_order_when_limit_post_only_then_gtc_config_sent(env):
    env.exchange.place_order(limit_order("c-lim", "ETH-USD", Side.BUY, "0.5", "1000.00"))

    config = _create_bodies(env)[0]["order_configuration"]
    assert config == {
        "limit_limit_gtc": {"base_size": "0.5", "limit_price": "1000.00", "post_only": True}
    }


def test_get_order_when_market_buy_filled_then_fills_and_totals_match_the_account(env):
    env.exchange.place_order(market_buy("c-1", "BTC-USD", "100"))

    order = env.exchange.get_order("c-1")

    truth = env.fake.exchange.get_order("c-1")
    assert order is not None and truth is not None
    assert order.status is OrderStatus.FILLED
    assert order.intent is Intent.ENTRY
    assert order.filled_size == truth.filled_size > 0
    assert order.total_fees == truth.total_fees
    assert sum(f.size for f in order.fills) == order.filled_size
    assert [f.fill_id for f in order.fills] == [f.fill_id for f in truth.fills]
    assert order.fills_mismatch is None
    # A quote-sized buy's fee comes out of the 100 (size_inclusive_of_fees): notional + fee
    # is 100 exactly, and the fee is 0.6 % of the notional, 100 * 0.006 / 1.006 =
    # 0.596421471172962..., up to what flooring the base to 16 decimals left (< price * 1e-16).
    fill = order.fills[0]
    assert fill.price * fill.size + fill.fee == Decimal(100)
    assert abs(fill.fee - Decimal("0.6") / Decimal("1.006")) < fill.price * Decimal("1e-16")


def test_place_order_when_same_client_order_id_twice_then_one_order_and_one_debit(env):
    first = env.exchange.place_order(market_buy("c-dup", "BTC-USD", "100"))
    usd_after_first = env.exchange.get_balances()["USD"].available

    second = env.exchange.place_order(market_buy("c-dup", "BTC-USD", "100"))

    assert second.order_id == first.order_id
    assert env.fake.orders_created() == 1
    assert env.exchange.get_balances()["USD"].available == usd_after_first


def test_place_order_when_empty_client_order_id_then_refused_before_any_request(env):
    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("", "BTC-USD", "100"))

    assert caught.value.reason == "INVALID_ORDER_REQUEST"
    assert env.fake.requests == []


def test_place_order_when_market_buy_without_quote_size_then_refused_before_any_request(env):
    plan = PlannedOrder("c-x", "BTC-USD", Side.BUY, OrderType.MARKET, Intent.ENTRY, None, None)

    with pytest.raises(OrderRejected):
        env.exchange.place_order(plan)
    assert env.fake.requests == []


@pytest.mark.parametrize(
    "reason",
    [
        "INSUFFICIENT_FUND",
        "INVALID_SIZE_PRECISION",
        "INVALID_PRICE_PRECISION",
        "INVALID_LIMIT_PRICE_POST_ONLY",
        "INVALID_PRODUCT_ID",
        "UNTRADABLE_PRODUCT",
        "ORDER_ENTRY_DISABLED",
        "INVALID_NO_LIQUIDITY",
        "UNSUPPORTED_ORDER_CONFIGURATION",
        "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
    ],
)
def test_place_order_when_success_false_then_order_rejected_with_that_reason(env, reason):
    env.fake.reject_next_create(reason, "no")

    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("c-r", "BTC-USD", "100"))

    assert caught.value.reason == reason
    assert env.fake.count("POST", "/orders") == 1  # a definite no is never re-sent


def test_place_order_when_funds_short_then_matcher_reason_reaches_the_caller(env):
    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("c-big", "BTC-USD", "20000"))  # cash is 10,000

    assert caught.value.reason == "INSUFFICIENT_FUND"
    assert env.fake.orders_created() == 0


def test_place_order_when_size_off_grid_then_rejected_as_size_precision(env):
    with pytest.raises(OrderRejected) as caught:
        env.exchange.place_order(market_buy("c-grid", "BTC-USD", "100.001"))

    assert caught.value.reason == "INVALID_SIZE_PRECISION"


def test_get_order_when_partially_filled_then_cancelled_with_the_filled_part(env):
    env.fake.partial_fill_next(Decimal("0.4"))

    env.exchange.place_order(market_buy("c-part", "ETH-USD", "200"))
    order = env.exchange.get_order("c-part")

    assert order is not None
    assert order.status is OrderStatus.CANCELLED
    assert order.quote_size == Decimal("200")
    spent = sum(f.price * f.size for f in order.fills)
    assert 0 < spent <= Decimal(80)  # 40 % of 200
    assert order.filled_size == sum(f.size for f in order.fills)


def test_cancel_order_when_order_stays_open_then_cancelled_after_batch_cancel(env):
    env.fake.hold_open_next()
    env.exchange.place_order(limit_order("c-open", "SOL-USD", Side.BUY, "1", "100.00"))
    assert env.exchange.get_order("c-open").status is OrderStatus.OPEN

    cancelled = env.exchange.cancel_order("c-open")

    assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED
    cancel = next(r for r in env.fake.requests if r.path == "/orders/batch_cancel")
    assert cancel.body == {"order_ids": [cancelled.order_id]}


def test_cancel_order_when_resting_limit_then_hold_released(env):
    # a buy far below the market rests; its hold is 1 * 100 * (1 + 0.004) = 100.4 USD
    env.exchange.place_order(limit_order("c-rest", "SOL-USD", Side.BUY, "1", "100.00"))
    assert env.exchange.get_balances()["USD"].hold == Decimal("100.4")

    env.exchange.cancel_order("c-rest")

    assert env.exchange.get_balances()["USD"].hold == 0
    assert env.exchange.get_order("c-rest").status is OrderStatus.CANCELLED


def test_cancel_order_when_unknown_then_none_and_no_cancel_sent(env):
    assert env.exchange.cancel_order("c-never") is None
    assert env.fake.count("POST", "/orders/batch_cancel") == 0


def test_get_order_when_unknown_client_order_id_then_none(env):
    env.exchange.place_order(market_buy("c-other", "BTC-USD", "50"))

    assert env.exchange.get_order("c-never") is None


def test_get_order_when_fresh_process_then_found_by_listing_recent_orders(env):
    env.exchange.place_order(market_buy("c-1", "BTC-USD", "50"))
    env.exchange.place_order(market_buy("c-2", "ETH-USD", "50"))
    fresh = env.new_exchange()  # knows no order ids

    order = fresh.get_order("c-1")
    again = fresh.get_order("c-1")

    assert order is not None and order.product_id == "BTC-USD"
    assert again == order
    assert fresh.api_calls["list_orders"] == 1  # the order_id is remembered after the search
    assert fresh.api_calls["get_order"] == 1


def test_get_order_when_not_readable_for_two_reads_then_retried_until_visible(env):
    env.fake.hide_next_order(reads=2)
    env.exchange.place_order(market_buy("c-late", "BTC-USD", "50"))

    order = env.exchange.get_order("c-late")

    assert order is not None and order.status is OrderStatus.FILLED
    assert env.fake.count("GET", "/orders/historical/(?!fills|batch)[^/]+") == 3  # 404, 404, 200
    assert len(env.sleep.waits) == 2


def test_get_order_when_never_readable_then_order_not_visible_error(env):
    env.fake.hide_next_order(reads=10)
    env.exchange.place_order(market_buy("c-lost", "BTC-USD", "50"))

    with pytest.raises(OrderNotVisible):
        env.exchange.get_order("c-lost")


def test_get_order_when_fills_paginated_then_every_page_read_and_duplicates_dropped(env):
    env.exchange.place_order(market_buy("c-1", "BTC-USD", "50"))
    real = env.fake.exchange.get_order("c-1").fills[0]
    e1 = {**fill_json(real), "entry_id": "e-1", "size": "0.0004"}
    e2 = {**fill_json(real), "entry_id": "e-2", "size": "0.0003"}
    pages = [{"fills": [e1], "cursor": "p2"}, {"fills": [e1, e2], "cursor": ""}]
    for page in pages:
        env.fake.fail("GET", "/orders/historical/fills", Fault(200, json.dumps(page)))

    order = env.exchange.get_order("c-1")

    assert [f.fill_id for f in order.fills] == ["e-1", "e-2"]
    assert sum(f.size for f in order.fills) == Decimal("0.0007")  # 0.0004 + 0.0003
    assert env.exchange.api_calls["get_fills"] == 2
