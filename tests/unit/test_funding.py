"""USD and USDC as one pool: each buy on the stablecoin that pays (pipeline/funding.py)."""

from __future__ import annotations

from decimal import Decimal

from pipeline_builders import product

from trader.domain.models import Intent, OrderType, PlannedOrder, Side
from trader.pipeline.funding import fund_orders

D = Decimal
PRODUCTS = {
    "BTC-USD": product("BTC-USD", aliases=("BTC-USDC",)),
    "ETH-USD": product("ETH-USD", aliases=("ETH-USDC",)),
    "XYZ-USD": product("XYZ-USD"),  # no USDC book
}


def buy(product_id: str, quote_size: str) -> PlannedOrder:
    return PlannedOrder(
        f"c-{product_id}", product_id, Side.BUY, OrderType.MARKET, Intent.ENTRY, None, D(quote_size)
    )


def sell(product_id: str) -> PlannedOrder:
    return PlannedOrder(
        f"s-{product_id}", product_id, Side.SELL, OrderType.MARKET, Intent.EXIT, D(1), None
    )


def test_fund_when_usd_pays_then_the_plan_is_unchanged() -> None:
    plan = (buy("BTC-USD", "100"), sell("ETH-USD"))
    funding = fund_orders(plan, PRODUCTS, {"USD": D(150), "USDC": D(0)}, "cv")
    assert funding.orders == plan
    assert funding.conversions == ()


def test_fund_when_only_usdc_holds_cash_then_the_buy_goes_to_the_usdc_book() -> None:
    funding = fund_orders([buy("BTC-USD", "100")], PRODUCTS, {"USD": D(0), "USDC": D(500)}, "cv")
    assert [(o.product_id, o.venue_id) for o in funding.orders] == [("BTC-USD", "BTC-USDC")]
    assert funding.conversions == ()


def test_fund_when_two_buys_share_the_pool_then_each_currency_pays_what_it_can() -> None:
    # USD 120 pays the first buy (100); the second (80) no longer fits in USD's 20: USDC.
    plan = (buy("BTC-USD", "100"), buy("ETH-USD", "80"))
    funding = fund_orders(plan, PRODUCTS, {"USD": D(120), "USDC": D(90)}, "cv")
    assert [o.venue_id for o in funding.orders] == ["BTC-USD", "ETH-USDC"]


def test_fund_when_neither_alone_suffices_then_the_shortfall_is_converted_first() -> None:
    # 100 to spend, USD 30 + USDC 80: convert 70 USDC -> USD, then buy on BTC-USD.
    funding = fund_orders([buy("BTC-USD", "100")], PRODUCTS, {"USD": D(30), "USDC": D(80)}, "cv")
    assert [o.product_id for o in funding.orders] == ["BTC-USD"]
    (conversion,) = funding.conversions
    assert (conversion.from_currency, conversion.to_currency, conversion.amount) == (
        "USDC",
        "USD",
        D(70),
    )
    assert conversion.client_id == "cv-0"


def test_fund_when_the_product_has_no_usdc_book_then_usdc_is_converted_for_it() -> None:
    funding = fund_orders([buy("XYZ-USD", "40")], PRODUCTS, {"USD": D(0), "USDC": D(50)}, "cv")
    assert [o.product_id for o in funding.orders] == ["XYZ-USD"]
    assert [(c.from_currency, c.amount) for c in funding.conversions] == [("USDC", D(40))]


def test_fund_when_the_pool_cannot_pay_then_the_order_is_left_for_the_exchange_to_refuse() -> None:
    funding = fund_orders([buy("BTC-USD", "100")], PRODUCTS, {"USD": D(30), "USDC": D(20)}, "cv")
    assert [o.product_id for o in funding.orders] == ["BTC-USD"]
    assert funding.conversions == ()


def test_fund_when_a_shortfall_has_fractions_of_a_cent_then_rounded_up_to_the_cent() -> None:
    funding = fund_orders(
        [buy("XYZ-USD", "10.004")], PRODUCTS, {"USD": D("0.001"), "USDC": D(20)}, "cv"
    )
    assert funding.conversions[0].amount == D("10.01")  # 10.003 -> 10.01, never short
