"""The fake's endpoints that the adapter does not wrap (convert, time, permissions) and its
guard rails, exercised with the real SDK client directly."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from coinbase.rest import RESTClient
from requests.exceptions import HTTPError


def test_convert_when_usd_to_usdc_quoted_and_committed_then_balances_move(env, client):
    quote = client.create_convert_quote("acct-usd", "acct-usdc", "20.00")
    trade_id = quote.trade.id

    committed = client.commit_convert_trade(trade_id, "acct-usd", "acct-usdc")
    polled = client.get_convert_trade(trade_id, "acct-usd", "acct-usdc")

    assert quote.trade.status == "TRADE_STATUS_CREATED"
    assert committed.trade.status == polled.trade.status == "TRADE_STATUS_COMPLETED"
    balances = env.exchange.get_balances()
    assert balances["USD"].available == Decimal(10_000) - Decimal(20)  # 9,980
    assert balances["USDC"].available == Decimal(20)


def test_convert_when_pair_not_usd_usdc_then_http_400_unsupported(client):
    with pytest.raises(HTTPError) as caught:
        client.create_convert_quote("acct-usd", "acct-btc", "20")

    assert caught.value.response.status_code == 400
    assert "Unsupported account" in caught.value.response.text


def test_convert_when_amount_above_balance_then_http_400(client):
    with pytest.raises(HTTPError):
        client.create_convert_quote("acct-usd", "acct-usdc", "20000")


def test_time_and_permissions_when_asked_then_clock_and_view_trade_without_transfer(env, client):
    server_time = client.get_unix_time()
    permissions = client.get_api_key_permissions()

    assert int(server_time.epoch_seconds) == int(env.clock.now().timestamp())
    assert permissions.can_view and permissions.can_trade and not permissions.can_transfer


def test_candles_when_more_than_350_buckets_asked_then_http_400_invalid_argument(env, client):
    end = int(env.clock.now().timestamp())
    start = end - 351 * 300

    with pytest.raises(HTTPError) as caught:
        client.get_candles("BTC-USD", str(start), str(end), "FIVE_MINUTE")

    assert caught.value.response.status_code == 400
    assert "INVALID_ARGUMENT" in caught.value.response.text


def test_candles_when_asked_then_newest_first_including_the_forming_bar(env, client):
    now = env.clock.now()
    start = int((now - timedelta(minutes=30)).timestamp())

    candles = client.get_candles("BTC-USD", str(start), str(int(now.timestamp())), "FIVE_MINUTE")

    starts = [int(c.start) for c in candles.candles]
    assert starts == sorted(starts, reverse=True)
    assert starts[0] == int(now.timestamp()) // 300 * 300  # 12:00, still forming at 12:00:30


def test_private_endpoint_when_no_token_then_401(env):
    public = RESTClient(api_key=None, api_secret=None, timeout=5)

    with pytest.raises(HTTPError) as caught:
        public.get("/api/v3/brokerage/accounts", public=True)  # skip the SDK's own guard

    assert caught.value.response.status_code == 401


def test_product_when_unknown_then_http_404(client):
    with pytest.raises(HTTPError) as caught:
        client.get_product("NOPE-USD")

    assert caught.value.response.status_code == 404


def test_create_when_size_has_exponent_then_http_400(client):
    config = {"market_market_ioc": {"quote_size": "1E+2"}}

    with pytest.raises(HTTPError) as caught:
        client.create_order("c-e", "BTC-USD", "BUY", config)

    assert caught.value.response.status_code == 400
