"""CoinbaseExchange market data and account reads through the real SDK against the fake."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from fake_coinbase import Fault
from fake_coinbase_env import coinbase_env
from fake_coinbase_json import product_json

from trader.domain.models import Balance, FeeRates

FIVE_MIN = 300


def test_list_products_when_called_then_one_request_and_fields_mapped(env):
    products = {p.product_id: p for p in env.exchange.list_products()}

    # default.yaml's simulator lists six products
    assert set(products) == {"BTC-USD", "ETH-USD", "SOL-USD", "AVAX-USD", "DOGE-USD", "THIN-USD"}
    assert env.fake.count("GET", "/products") == 1
    truth = {p.product_id: p for p in env.fake.market.list_products()}
    sol = products["SOL-USD"]
    assert sol.base_increment == Decimal("0.001")
    assert sol.quote_increment == Decimal("0.01")
    assert sol.base_min_size == Decimal("0.01")
    assert sol.price == truth["SOL-USD"].price
    assert sol.volume_24h_quote == truth["SOL-USD"].volume_24h_quote
    assert sol.is_tradable


def test_list_products_when_flags_set_then_view_only_auction_and_limit_only_mapped(env):
    env.fake.set_product_flags("AVAX-USD", view_only=True, auction_mode=True)
    env.fake.set_product_flags("DOGE-USD", limit_only=True, cancel_only=True)

    products = {p.product_id: p for p in env.exchange.list_products()}

    assert products["AVAX-USD"].view_only and products["AVAX-USD"].auction_mode
    assert not products["AVAX-USD"].is_tradable
    assert products["DOGE-USD"].limit_only and products["DOGE-USD"].cancel_only
    assert products["BTC-USD"].is_tradable


def _usdc_alias_body(env) -> str:
    btc = next(p for p in env.fake.market.list_products() if p.product_id == "BTC-USD")
    usd = product_json(btc)
    usdc = product_json(btc, alias="BTC-USD")
    usdc.update(product_id="BTC-USDC", quote_currency_id="USDC")
    return json.dumps({"products": [usd, usdc], "num_products": 2})


def test_list_products_when_usdc_alias_listed_then_only_usd_product_kept(env):
    env.fake.fail("GET", "/products", Fault(status=200, body=_usdc_alias_body(env)))

    ids = [p.product_id for p in env.exchange.list_products()]

    assert ids == ["BTC-USD"]


def test_list_products_when_quote_is_usdc_then_alias_kept_instead(env):
    exchange = env.new_exchange(quote_currency="USDC")
    env.fake.fail("GET", "/products", Fault(status=200, body=_usdc_alias_body(env)))

    ids = [p.product_id for p in exchange.list_products()]

    assert ids == ["BTC-USDC"]


def test_list_products_when_paginated_then_every_page_read(env):
    products = [product_json(p) for p in env.fake.market.list_products()]
    first = {"products": products[:4], "pagination": {"next_cursor": "c2", "has_next": True}}
    second = {"products": products[4:], "pagination": {"next_cursor": "", "has_next": False}}
    env.fake.fail("GET", "/products", Fault(status=200, body=json.dumps(first)))
    env.fake.fail("GET", "/products", Fault(status=200, body=json.dumps(second)))

    listed = env.exchange.list_products()

    assert len(listed) == 6  # 4 on the first page + 2 on the second
    assert env.fake.requests[-1].query["cursor"] == ["c2"]


def test_get_quotes_when_many_products_then_one_request_with_every_id(env):
    ids = ["BTC-USD", "ETH-USD", "SOL-USD", "NOPE-USD"]

    quotes = env.exchange.get_quotes(ids)

    assert env.fake.count("GET", "/best_bid_ask") == 1
    assert env.fake.requests[-1].query["product_ids"] == ids
    truth = env.fake.market.get_quotes(ids)
    assert set(quotes) == {"BTC-USD", "ETH-USD", "SOL-USD"}  # unknown id simply absent
    for pid, quote in quotes.items():
        assert (quote.bid, quote.ask) == (truth[pid].bid, truth[pid].ask)
        assert quote.bid < quote.ask


def test_get_quotes_when_empty_list_then_no_request(env):
    assert env.exchange.get_quotes([]) == {}
    assert env.fake.requests == []


def test_get_candles_when_cold_then_closed_bars_ascending_and_forming_bar_dropped(env):
    now = env.clock.now()  # 12:00:30, so the 12:00 bar is still forming
    start = now - timedelta(hours=4)

    candles = env.exchange.get_candles("BTC-USD", FIVE_MIN, start, now)

    # first whole bar at or after 08:00:30 is 08:05; last closed bar is 11:55 -> 47 bars
    assert len(candles) == 47
    assert candles[0].start.hour == 8 and candles[0].start.minute == 5
    assert candles[-1].start.hour == 11 and candles[-1].start.minute == 55
    assert all(a.start < b.start for a, b in itertools.pairwise(candles))
    truth = env.fake.market.get_candles("BTC-USD", FIVE_MIN, start, now)
    assert list(candles) == list(truth)


def test_get_candles_when_gap_then_bar_absent_and_not_fetched_again(env):
    now = env.clock.now()
    start = now - timedelta(hours=1)
    missing = int((now - timedelta(minutes=30)).timestamp()) // FIVE_MIN * FIVE_MIN
    env.fake.add_candle_gap("ETH-USD", missing)

    first = env.exchange.get_candles("ETH-USD", FIVE_MIN, start, now)
    again = env.exchange.get_candles("ETH-USD", FIVE_MIN, start, now)

    assert missing not in {int(c.start.timestamp()) for c in first}
    assert len(first) == 11 - 1  # 11:05 .. 11:55 is 11 bars, one of them a gap
    assert again == first
    assert env.fake.count("GET", "/products/ETH-USD/candles") == 1  # the gap is cached as a gap


def test_get_candles_when_window_exceeds_350_bars_then_paged_under_the_cap(env):
    now = env.clock.now()
    start = now - timedelta(minutes=5 * 700)

    candles = env.exchange.get_candles("SOL-USD", FIVE_MIN, start, now)

    # 700 buckets back from 12:00:30 -> 699 whole closed bars, fetched as pages of ≤ 300
    assert len(candles) == 699
    pages = [r for r in env.fake.requests if r.path.endswith("/candles")]
    assert len(pages) == 3
    for page in pages:
        assert (int(page.query["end"][0]) - int(page.query["start"][0])) // FIVE_MIN <= 300
    assert all(r.status == 200 for r in pages)


def test_get_candles_when_warm_then_only_the_new_bar_is_requested(env):
    now = env.clock.now()
    env.exchange.get_candles("BTC-USD", FIVE_MIN, now - timedelta(hours=4), now)

    later = env.clock.advance()  # next cycle, 5 minutes on
    candles = env.exchange.get_candles("BTC-USD", FIVE_MIN, later - timedelta(hours=4), later)

    second = [r for r in env.fake.requests if r.path.endswith("/candles")][1]
    # only [12:00, 12:05) was missing: one bucket
    assert int(second.query["end"][0]) - int(second.query["start"][0]) == FIVE_MIN
    assert candles[-1].start.hour == 12 and candles[-1].start.minute == 0
    assert len(candles) == 47


def test_get_candles_when_nothing_new_closed_then_no_request(env):
    now = env.clock.now()
    env.exchange.get_candles("BTC-USD", FIVE_MIN, now - timedelta(hours=1), now)

    env.exchange.get_candles("BTC-USD", FIVE_MIN, now - timedelta(hours=1), now)

    assert env.fake.count("GET", "/products/BTC-USD/candles") == 1


def test_get_candles_when_granularity_unsupported_then_value_error_without_request(env):
    now = env.clock.now()
    with pytest.raises(ValueError, match="granularity 120s"):
        env.exchange.get_candles("BTC-USD", 120, now - timedelta(hours=1), now)
    assert env.fake.requests == []


def test_get_balances_when_accounts_paginated_then_all_pages_summed(env):
    env.fake.routes.accounts_page_size = 3

    balances = env.exchange.get_balances()

    # USD + USDC + six base currencies = 8 accounts -> pages of 3, 3, 2
    assert env.fake.count("GET", "/accounts") == 3
    assert len(balances) == 8
    assert balances["USD"] == Balance("USD", Decimal(10000), Decimal(0))


def test_get_fee_rates_when_called_twice_within_the_hour_then_one_request(env):
    first = env.exchange.get_fee_rates()
    second = env.exchange.get_fee_rates()

    # default.yaml: maker 0.4 %, taker 0.6 % -> fractions 0.004 / 0.006
    assert first == second == FeeRates(Decimal("0.004"), Decimal("0.006"))
    assert env.fake.count("GET", "/transaction_summary") == 1

    env.clock.advance(13)  # 65 minutes later the tier is read again
    env.exchange.get_fee_rates()
    assert env.fake.count("GET", "/transaction_summary") == 2


def test_api_calls_when_reads_made_then_counted_per_method(env):
    env.exchange.list_products()
    env.exchange.get_quotes(["BTC-USD"])
    env.exchange.get_quotes(["ETH-USD"])

    assert env.exchange.api_calls == {"get_products": 1, "get_best_bid_ask": 2}
    assert env.exchange.reset_api_calls() == {"get_products": 1, "get_best_bid_ask": 2}
    assert env.exchange.api_calls == {}


def test_public_mode_when_no_credentials_then_public_endpoints_without_token():
    with coinbase_env(public=True) as env:
        products = env.exchange.list_products()
        quotes = env.exchange.get_quotes(["BTC-USD", "ETH-USD"])
        now = env.clock.now()
        candles = env.exchange.get_candles("BTC-USD", FIVE_MIN, now - timedelta(hours=1), now)

        assert env.exchange.is_public
        assert len(products) == 6 and set(quotes) == {"BTC-USD", "ETH-USD"}
        assert len(candles) == 11
        assert {r.path.split("/")[1] for r in env.fake.requests} == {"market"}


def test_requests_when_sent_then_carry_the_explicit_timeout_and_a_signed_token(env):
    env.exchange.get_balances()

    request = env.rsps.calls[0].request
    assert request.req_kwargs["timeout"] == 5  # never the SDK's default of None (no timeout)
    assert request.headers["Authorization"].startswith("Bearer ")
    assert request.url.startswith("https://api.coinbase.com/api/v3/brokerage/accounts")
