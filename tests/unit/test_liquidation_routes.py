"""Liquidation routes: which legs turn each holding into the target, and why a holding is left
alone. Expected sizes, prices and values are worked out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_builders import product, quote

from trader.domain.models import Product, Quote
from trader.pipeline.liquidation import (
    ConvertLeg,
    CurrencyPlan,
    LiquidationPlan,
    SellLeg,
    SkipReason,
    plan_liquidation,
)

D = Decimal
# product() defaults: base_increment 0.001, quote_increment 0.01, base_min_size 0.01,
# base_max_size 10,000, quote_min_size 1, online with no flag set.
SATS = D("0.00000001")


def btc_quoted(product_id: str, **changes: Any) -> Product:
    """An X-BTC product: whole units of X, prices and notional in satoshis."""
    fields: dict[str, Any] = {
        "base_increment": D(1),
        "base_min_size": D(1),
        "quote_increment": SATS,
        "quote_min_size": D("0.00001"),
    }
    return product(product_id, **{**fields, **changes})


def btc_usdc(product_id: str = "BTC-USDC", **changes: Any) -> Product:
    fields: dict[str, Any] = {"base_increment": SATS, "base_min_size": D("0.00001")}
    return product(product_id, **{**fields, **changes})


def plan(
    holdings: dict[str, str | int],
    products: list[Product],
    quotes: list[Quote],
    **options: Any,
) -> LiquidationPlan:
    return plan_liquidation(
        {currency: D(amount) for currency, amount in holdings.items()},
        {p.product_id: p for p in products},
        {q.product_id: q for q in quotes},
        **options,
    )


def only(result: LiquidationPlan) -> CurrencyPlan:
    assert len(result.items) == 1, result.items
    return result.items[0]


# --- routes ------------------------------------------------------------------------------


def test_plan_when_target_product_tradable_then_one_market_sell_there() -> None:
    # 2.5 SOL x bid 150 = 375 USDC; SOL-USD exists too but the direct book comes first
    item = only(
        plan(
            {"SOL": "2.5"},
            [product("SOL-USDC"), product("SOL-USD")],
            [quote("SOL-USDC", "150", "150.1"), quote("SOL-USD", "150", "150.1")],
        )
    )
    assert item.route == (SellLeg("SOL-USDC", D("2.5"), None, D("375.00"), False),)
    assert item.value == D(375)
    assert item.skip_reason is None
    assert item.remainder == 0


def test_plan_when_only_usd_product_then_sell_there_and_convert_usd_to_usdc() -> None:
    # 10 ABC x 2.005 = 20.05 USD, then 20.05 USD -> USDC (an estimate of the sell's proceeds)
    item = only(plan({"ABC": 10}, [product("ABC-USD")], [quote("ABC-USD", "2.005", "2.01")]))
    assert item.route == (
        SellLeg("ABC-USD", D(10), None, D("20.05"), False),
        ConvertLeg("USD", "USDC", D("20.05"), True),
    )
    assert item.value == D("20.05")


def test_plan_when_target_usd_and_only_usdc_product_then_sell_there_and_convert_to_usd() -> None:
    # 4 ABC x 3.333 = 13.332 -> proceeds 13.33 on the 0.01 grid -> convert 13.33 USDC to USD
    item = only(
        plan({"ABC": 4}, [product("ABC-USDC")], [quote("ABC-USDC", "3.333", "3.34")], target="USD")
    )
    assert item.route == (
        SellLeg("ABC-USDC", D(4), None, D("13.33"), False),
        ConvertLeg("USDC", "USD", D("13.33"), True),
    )
    assert item.value == D("13.332")


def test_plan_when_only_btc_product_then_sell_to_btc_then_btc_to_target() -> None:
    # 1000 XYZ x 0.0000021 = 0.0021 BTC; 0.0021 BTC x 95,000 = 199.50 USDC
    item = only(
        plan(
            {"XYZ": 1000},
            [btc_quoted("XYZ-BTC"), btc_usdc()],
            [quote("XYZ-BTC", "0.0000021", "0.0000022"), quote("BTC-USDC", "95000", "95001")],
        )
    )
    assert item.route == (
        SellLeg("XYZ-BTC", D(1000), None, D("0.0021"), False),
        SellLeg("BTC-USDC", D("0.0021"), None, D("199.50"), True),
    )
    assert item.value == D("199.5")


def test_plan_when_fee_rate_given_then_bridge_leg_sized_from_proceeds_after_fee() -> None:
    # leg 1: 1000 x 0.0000021 = 0.0021 BTC, x (1 - 0.006) = 0.0020874 BTC (on the sats grid)
    # leg 2: 0.0020874 x 95,000 = 198.303, x 0.994 = 197.113182 -> 197.11 USDC
    item = only(
        plan(
            {"XYZ": 1000},
            [btc_quoted("XYZ-BTC"), btc_usdc()],
            [quote("XYZ-BTC", "0.0000021", "0.0000022"), quote("BTC-USDC", "95000", "95001")],
            taker_fee_rate=D("0.006"),
        )
    )
    assert item.route == (
        SellLeg("XYZ-BTC", D(1000), None, D("0.0020874"), False),
        SellLeg("BTC-USDC", D("0.0020874"), None, D("197.11"), True),
    )
    assert item.value == D("199.5")  # valued at the bid, before fees


def test_plan_when_btc_usdc_disabled_then_btc_sold_on_usd_and_converted() -> None:
    # 1000 x 0.0000021 = 0.0021 BTC -> BTC-USD 0.0021 x 95,000 = 199.50 USD -> convert 199.50
    item = only(
        plan(
            {"XYZ": 1000},
            [btc_quoted("XYZ-BTC"), btc_usdc(trading_disabled=True), btc_usdc("BTC-USD")],
            [
                quote("XYZ-BTC", "0.0000021", "0.0000022"),
                quote("BTC-USDC", "95000", "95001"),
                quote("BTC-USD", "95000", "95001"),
            ],
        )
    )
    assert [leg.kind for leg in item.route] == ["sell", "sell", "convert"]
    assert item.route[1] == SellLeg("BTC-USD", D("0.0021"), None, D("199.50"), True)
    assert item.route[2] == ConvertLeg("USD", "USDC", D("199.50"), True)


def test_plan_when_no_btc_product_then_bridge_through_eth() -> None:
    # 50 ABC x 0.001 = 0.05 ETH (quote grid 0.00001); 0.05 ETH x 3,000 = 150 USDC
    eth = {"quote_increment": D("0.00001"), "quote_min_size": D("0.0001")}
    item = only(
        plan(
            {"ABC": 50},
            [product("ABC-ETH", **eth), product("ETH-USDC", base_increment=D("0.0001"))],
            [quote("ABC-ETH", "0.001", "0.0011"), quote("ETH-USDC", "3000", "3001")],
        )
    )
    assert item.route == (
        SellLeg("ABC-ETH", D(50), None, D("0.05"), False),
        SellLeg("ETH-USDC", D("0.05"), None, D("150.00"), True),
    )


def test_plan_when_bridge_proceeds_below_its_min_size_then_nothing_sold_at_all() -> None:
    # 1000 x 0.00000001 = 0.00001 BTC (0.95 USDC; min_value 0 lets it through), but BTC-USDC
    # needs 0.0001 BTC: the first leg would strand the BTC as dust, so no leg is planned
    item = only(
        plan(
            {"XYZ": 1000},
            [btc_quoted("XYZ-BTC", quote_min_size=SATS), btc_usdc(base_min_size=D("0.0001"))],
            [quote("XYZ-BTC", "0.00000001", "0.00000002"), quote("BTC-USDC", "95000", "95001")],
            min_value=D(0),
        )
    )
    assert item.route == ()
    assert item.skip_reason is SkipReason.BELOW_MIN_SIZE
    assert item.detail.startswith(
        "BTC-USDC: expected proceeds 0.00001000 rounds to 0.00001000 < base_min_size 0.0001; "
    )


def test_plan_when_usd_held_and_target_usdc_then_one_convert_of_equal_value() -> None:
    # 12.345 USD: convert in cents -> 12.34, 0.005 USD stays behind
    item = only(plan({"USD": "12.345"}, [], []))
    assert item.route == (ConvertLeg("USD", "USDC", D("12.34"), False),)
    assert item.value == D("12.345")
    assert item.remainder == D("0.005")
    assert item.detail == "0.005 USD remains: converts are in cents"


def test_plan_when_usdc_held_and_target_usd_then_convert_to_usd() -> None:
    item = only(plan({"USDC": 40}, [], [], target="USD"))
    assert item.route == (ConvertLeg("USDC", "USD", D("40.00"), False),)


# --- status flags ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"disabled": True}, "disabled"),
        ({"trading_disabled": True}, "trading_disabled"),
        ({"cancel_only": True}, "cancel_only"),
        ({"view_only": True}, "view_only"),
        ({"auction_mode": True}, "auction_mode"),
        ({"status": "delisted"}, "status delisted"),
    ],
)
def test_plan_when_only_product_not_tradable_then_no_route_naming_the_flag(
    changes: dict[str, Any], named: str
) -> None:
    item = only(plan({"SOL": 2}, [product("SOL-USDC", **changes)], [quote("SOL-USDC", "150")]))
    assert item.route == ()
    assert item.skip_reason is SkipReason.NO_ROUTE
    assert f"SOL-USDC: {named}" in item.detail
    assert item.value == D(300)  # still valued from its quote: 2 x 150
    assert item.remainder == D(2)


def test_plan_when_direct_product_cancel_only_then_falls_back_to_usd_and_convert() -> None:
    item = only(
        plan(
            {"SOL": 2},
            [product("SOL-USDC", cancel_only=True), product("SOL-USD")],
            [quote("SOL-USDC", "150"), quote("SOL-USD", "150")],
        )
    )
    assert [getattr(leg, "product_id", leg.kind) for leg in item.route] == ["SOL-USD", "convert"]


@pytest.mark.parametrize(
    ("bid", "bps", "tick", "limit"),
    [
        # 151.22 x (1 - 0.01) = 149.7078 -> up to the 0.01 tick: 149.71
        ("151.22", 100, None, "149.71"),
        # same floor on a 0.05 tick: 149.7078 -> 149.75
        ("151.22", 100, "0.05", "149.75"),
        # no slippage allowed: the bid itself
        ("151.22", 0, None, "151.22"),
        # 10% of 0.0123 = 0.01107 -> up to 0.0001: 0.0111
        ("0.0123", 1000, "0.0001", "0.0111"),
    ],
)
def test_plan_when_limit_only_then_limit_sell_at_bid_less_slippage_rounded_up_to_tick(
    bid: str, bps: int, tick: str | None, limit: str
) -> None:
    changes: dict[str, Any] = {"limit_only": True, "quote_min_size": D("0.01")}
    if tick is not None:
        changes["price_increment"] = D(tick)
    item = only(
        plan(
            {"SOL": 3},
            [product("SOL-USDC", **changes)],
            [quote("SOL-USDC", bid, "1000")],
            max_slippage_bps=bps,
            min_value=D(0),
        )
    )
    (leg,) = item.route
    assert isinstance(leg, SellLeg)
    assert leg.limit_price == D(limit)
    assert leg.size == D(3)


def test_plan_when_only_product_post_only_then_skipped_as_post_only() -> None:
    item = only(plan({"SOL": 2}, [product("SOL-USDC", post_only=True)], [quote("SOL-USDC")]))
    assert item.skip_reason is SkipReason.POST_ONLY
    assert "SOL-USDC: post_only" in item.detail


def test_plan_when_product_has_no_quote_then_no_quote_and_no_value() -> None:
    item = only(plan({"SOL": 2}, [product("SOL-USDC")], []))
    assert item.skip_reason is SkipReason.NO_QUOTE
    assert item.value is None


def test_plan_when_no_product_at_all_then_no_route_listing_what_was_tried() -> None:
    item = only(plan({"ZZZ": 5}, [], []))
    assert item.skip_reason is SkipReason.NO_ROUTE
    assert item.detail == (
        "ZZZ-USDC: no such product; ZZZ-USD: no such product; "
        "ZZZ-BTC: no such product; ZZZ-ETH: no such product"
    )


# --- sizes and dust ----------------------------------------------------------------------


def test_plan_when_amount_below_base_min_size_then_below_min_size() -> None:
    # 0.009 SOL < base_min_size 0.01 (worth 0.009 x 150 = 1.35, above min_value 1)
    item = only(plan({"SOL": "0.009"}, [product("SOL-USDC")], [quote("SOL-USDC", "150")]))
    assert item.skip_reason is SkipReason.BELOW_MIN_SIZE
    assert item.detail.startswith("SOL-USDC: 0.009 rounds to 0.009 < base_min_size 0.01; ")


def test_plan_when_notional_below_quote_min_size_then_below_min_notional() -> None:
    # 0.5 x 1.5 = 0.75 < quote_min_size 1 (min_value 0 so the dust rule does not apply first)
    item = only(
        plan({"ABC": "0.5"}, [product("ABC-USDC")], [quote("ABC-USDC", "1.5")], min_value=D(0))
    )
    assert item.skip_reason is SkipReason.BELOW_MIN_NOTIONAL
    assert item.detail.startswith("ABC-USDC: 0.5 x 1.5 = 0.75 < quote_min_size 1; ")


def test_plan_when_value_below_min_value_then_dust_below_min_value() -> None:
    # 0.3 ABC x bid 2 = 0.6 USDC < min_value 1
    item = only(plan({"ABC": "0.3"}, [product("ABC-USDC")], [quote("ABC-USDC", "2")]))
    assert item.skip_reason is SkipReason.DUST_BELOW_MIN_VALUE
    assert item.value == D("0.6")
    assert item.detail == "value 0.6 USDC < min_value 1"


def test_plan_when_leftover_below_increment_then_grid_amount_sold_and_rest_explained() -> None:
    # 3.2145 on a 0.001 grid: one sell of 3.214; 0.0005 cannot be sold by any order
    item = only(plan({"SOL": "3.2145"}, [product("SOL-USDC")], [quote("SOL-USDC", "100")]))
    assert item.route == (SellLeg("SOL-USDC", D("3.214"), None, D("321.40"), False),)
    assert item.remainder == D("0.0005")
    assert item.detail == "0.0005 SOL remains: less than base_increment 0.001"


def test_plan_when_amount_above_base_max_size_then_capped_and_rest_explained() -> None:
    item = only(
        plan(
            {"SOL": "12.5"}, [product("SOL-USDC", base_max_size=D(10))], [quote("SOL-USDC", "100")]
        )
    )
    assert item.route[0].size == D(10)
    assert item.remainder == D("2.5")
    assert "capped at base_max_size" in item.detail


# --- keep, target, nothing to do, order ---------------------------------------------------


def test_plan_when_currency_kept_then_skipped_with_keep_and_still_valued() -> None:
    item = only(plan({"SOL": 2}, [product("SOL-USDC")], [quote("SOL-USDC", "150")], keep={"SOL"}))
    assert item.skip_reason is SkipReason.KEEP
    assert item.route == ()
    assert item.value == D(300)


def test_plan_when_bridge_currency_kept_then_not_used_as_a_bridge() -> None:
    item = only(
        plan(
            {"XYZ": 1000},
            [btc_quoted("XYZ-BTC"), btc_usdc()],
            [quote("XYZ-BTC", "0.0000021", "0.0000022"), quote("BTC-USDC", "95000", "95001")],
            keep={"BTC"},
        )
    )
    assert item.skip_reason is SkipReason.NO_ROUTE
    assert "BTC is kept, so it is no bridge" in item.detail


def test_plan_when_usd_kept_then_usd_product_not_used_with_a_convert() -> None:
    item = only(plan({"ABC": 10}, [product("ABC-USD")], [quote("ABC-USD", "2")], keep={"USD"}))
    assert item.skip_reason is SkipReason.NO_ROUTE


@pytest.mark.parametrize("target", ["USDC", "USD"])
def test_plan_when_holding_is_the_target_then_already_target(target: str) -> None:
    item = only(plan({target: 250}, [], [], target=target))
    assert item.skip_reason is SkipReason.ALREADY_TARGET
    assert item.value == D(250)


@pytest.mark.parametrize("holdings", [{}, {"USDC": 5}, {"SOL": 0, "ETH": -1}])
def test_plan_when_nothing_but_target_or_empty_balances_then_nothing_to_do(
    holdings: dict[str, str | int],
) -> None:
    result = plan(holdings, [product("SOL-USDC")], [quote("SOL-USDC")])
    assert result.nothing_to_do
    assert result.routed == ()
    assert all(item.currency == "USDC" for item in result.items)  # zero balances are left out


def test_plan_when_holdings_in_any_order_then_items_sorted_by_currency() -> None:
    products = [product("SOL-USDC"), product("ABC-USDC")]
    quotes = [quote("SOL-USDC"), quote("ABC-USDC")]
    result = plan({"SOL": 1, "USDC": 1, "ABC": 1, "USD": 5}, products, quotes)
    assert [item.currency for item in result.items] == ["ABC", "SOL", "USD", "USDC"]
    assert [item.currency for item in result.routed] == ["ABC", "SOL", "USD"]
    assert [item.currency for item in result.skipped] == ["USDC"]


def test_plan_when_target_unknown_then_value_error() -> None:
    with pytest.raises(ValueError, match="target 'EUR'"):
        plan({"SOL": 1}, [], [], target="EUR")


# --- invariants --------------------------------------------------------------------------

CURRENCIES = ("AAA", "BBB", "BTC", "ETH", "USD", "USDC")
INCREMENTS = (D(1), D("0.1"), D("0.05"), D("0.001"), SATS)
PRODUCT_IDS = tuple(
    f"{base}-{quote_}"
    for base in ("AAA", "BBB", "BTC", "ETH")
    for quote_ in ("USDC", "USD", "BTC", "ETH")
    if base != quote_
)
FLAGS = ("limit_only", "post_only", "cancel_only", "trading_disabled", "auction_mode")


@st.composite
def markets(draw: st.DrawFn) -> tuple[dict[str, Product], dict[str, Quote]]:
    products: dict[str, Product] = {}
    quotes: dict[str, Quote] = {}
    for pid in draw(st.lists(st.sampled_from(PRODUCT_IDS), unique=True, min_size=4)):
        increment = draw(st.sampled_from(INCREMENTS))
        flags = dict.fromkeys(draw(st.lists(st.sampled_from(FLAGS), max_size=1)), True)
        products[pid] = product(
            pid,
            base_increment=increment,
            base_min_size=increment * draw(st.integers(1, 3)),
            base_max_size=D(draw(st.integers(1, 100_000))),
            quote_min_size=draw(st.sampled_from((D(0), SATS, D(1)))),
            price_increment=draw(st.sampled_from((None, D("0.01"), SATS))),
            **flags,
        )
        if draw(st.integers(0, 9)):  # one product in ten has no quote
            bid = draw(st.decimals(D("0.00001"), D(100_000), places=8))
            quotes[pid] = quote(pid, bid, bid * 2)
    return products, quotes


amounts = st.one_of(
    st.decimals(D("0.00000001"), D(100_000), places=8), st.integers(1, 10_000).map(D)
)


@given(amount=amounts, increment=st.sampled_from(INCREMENTS))
def test_plan_when_direct_sell_then_all_but_less_than_one_increment_is_sold(
    amount: Decimal, increment: Decimal
) -> None:
    sol = product(
        "SOL-USDC",
        base_increment=increment,
        base_min_size=increment,
        base_max_size=D(1_000_000),
        quote_min_size=D(0),
    )
    result = plan_liquidation(
        {"SOL": amount}, {"SOL-USDC": sol}, {"SOL-USDC": quote("SOL-USDC", "100")}, min_value=D(0)
    )
    item = only(result)
    if amount < increment:
        assert item.skip_reason is SkipReason.BELOW_MIN_SIZE
        return
    (leg,) = item.route
    assert leg.size + item.remainder == amount
    assert 0 <= item.remainder < increment


@settings(max_examples=300, deadline=None)
@given(
    market=markets(),
    holdings=st.dictionaries(st.sampled_from(CURRENCIES), amounts),
    keep=st.frozensets(st.sampled_from(CURRENCIES), max_size=2),
    target=st.sampled_from(("USDC", "USD")),
    bps=st.integers(0, 1000),
    fee=st.sampled_from((D(0), D("0.006"))),
)
def test_plan_when_any_market_then_legs_on_grid_never_above_holding_and_keep_untouched(
    market: tuple[dict[str, Product], dict[str, Quote]],
    holdings: dict[str, Decimal],
    keep: frozenset[str],
    target: str,
    bps: int,
    fee: Decimal,
) -> None:
    products, quotes = market
    result = plan_liquidation(
        holdings,
        products,
        quotes,
        target=target,
        keep=keep,
        min_value=D(0),
        max_slippage_bps=bps,
        taker_fee_rate=fee,
    )
    assert [item.currency for item in result.items] == sorted(holdings)
    for item in result.items:
        assert (item.skip_reason is None) == bool(item.route)
        assert item.remainder >= 0
        available = item.amount
        for leg in item.route:
            assert leg.size <= available  # the holding, then the previous leg's proceeds
            available = _check_leg(leg, products, quotes, keep)
        if item.route:
            assert item.remainder == item.amount - item.route[0].size
            assert item.route[-1].size > 0
            last = item.route[-1]
            ends_in = (
                last.to_currency
                if isinstance(last, ConvertLeg)
                else products[last.product_id].quote_currency
            )
            assert ends_in == target


def _check_leg(
    leg: SellLeg | ConvertLeg,
    products: dict[str, Product],
    quotes: dict[str, Quote],
    keep: frozenset[str],
) -> Decimal:
    """Assert one leg keeps the product's rules; return what the next leg may at most sell."""
    if isinstance(leg, ConvertLeg):
        assert leg.from_currency not in keep
        assert {leg.from_currency, leg.to_currency} == {"USD", "USDC"}
        assert leg.size % D("0.01") == 0
        return leg.size
    p = products[leg.product_id]
    assert p.is_tradable and not p.auction_mode and not p.post_only
    assert p.base_currency not in keep
    assert leg.size % p.base_increment == 0
    assert p.base_min_size <= leg.size <= p.base_max_size
    bid = quotes[leg.product_id].bid
    if p.limit_only:
        assert leg.limit_price is not None
        assert leg.limit_price % p.tick == 0
        assert 0 < leg.limit_price <= bid
    else:
        assert leg.limit_price is None
    assert leg.size * (leg.limit_price or bid) >= p.quote_min_size
    assert leg.expected_proceeds <= leg.size * bid
    return leg.expected_proceeds
