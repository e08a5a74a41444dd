"""The pure parts of executing a liquidation: the planner's view of the market (USDC aliases
as products), sizing an estimated leg from actual proceeds, and what is left and why."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from pipeline_builders import product, quote

from trader.domain.models import Balance
from trader.pipeline.liquidation import ConvertLeg, SellLeg, plan_liquidation
from trader.pipeline.liquidation_legs import (
    NOT_DONE,
    ON_HOLD,
    REMAINDER,
    Remaining,
    actual_size,
    market_view,
    planned_remaining,
    quoted_ids,
    remaining_after,
)

D = Decimal
CASH = frozenset({"USD", "USDC"})
# product() defaults: base_increment 0.001, base_min_size 0.01, quote_min_size 1


def btc_usd():
    return dataclasses.replace(product("BTC-USD"), aliases=("BTC-USDC",))


def view(*products, quotes=(), balances=None):
    held = {c: Balance(c, D(a)) for c, a in (balances or {}).items()}
    return market_view(products, {q.product_id: q for q in quotes}, held, D(0), CASH)


def test_market_view_when_product_has_a_usdc_alias_then_alias_listed_and_quoted_from_twin() -> None:
    market = view(btc_usd(), quotes=[quote("BTC-USD", "60000", "60001")])

    alias = market.products["BTC-USDC"]
    assert (alias.base_currency, alias.quote_currency, alias.aliases) == ("BTC", "USDC", ())
    assert alias.base_increment == market.products["BTC-USD"].base_increment
    assert market.twins == {"BTC-USDC": "BTC-USD"}
    assert market.quotes["BTC-USDC"].bid == D(60000)
    assert market.quotes["BTC-USDC"].product_id == "BTC-USDC"


def test_market_view_when_planned_then_a_usd_book_sells_straight_into_usdc() -> None:
    # without the alias the route would be BTC-USD then a convert; with it, one sell
    market = view(btc_usd(), quotes=[quote("BTC-USD", "60000", "60001")], balances={"BTC": "1"})

    plan = plan_liquidation(market.holdings, market.products, market.quotes)

    assert [leg.product_id for leg in plan.items[0].route] == ["BTC-USDC"]


def test_market_view_when_balances_have_holds_then_only_available_is_sold() -> None:
    market = market_view(
        [], {}, {"SOL": Balance("SOL", D(2), D(1)), "X": Balance("X", D(0))}, 0, CASH
    )

    assert market.holdings == {"SOL": D(2)}


def test_quoted_ids_when_held_coins_then_their_products_and_the_bridges() -> None:
    products = [product("SOL-USD"), product("BTC-USD"), product("ETH-USD"), product("ADA-USD")]
    balances = {"SOL": Balance("SOL", D(1)), "ADA": Balance("ADA", D(0))}

    assert quoted_ids(products, balances) == ["BTC-USD", "ETH-USD", "SOL-USD"]


def test_actual_size_when_sell_then_proceeds_rounded_down_to_the_base_increment() -> None:
    market = view(product("BTC-USDC"), quotes=[quote("BTC-USDC", "100", "101")])
    leg = SellLeg("BTC-USDC", D("0.5"), None, D(50), True)

    # 0.12345 BTC of actual proceeds -> 0.123 on the 0.001 grid
    assert actual_size(leg, D("0.12345"), market) == D("0.123")


def test_actual_size_when_proceeds_below_min_size_then_the_reason() -> None:
    market = view(product("BTC-USDC"), quotes=[quote("BTC-USDC", "100", "101")])
    leg = SellLeg("BTC-USDC", D("0.5"), None, D(50), True)

    # 0.0099 rounds to 0.009 < base_min_size 0.01
    assert actual_size(leg, D("0.0099"), market) == (
        "BTC-USDC: proceeds 0.0099 round to 0.009 < base_min_size 0.01"
    )


def test_actual_size_when_notional_below_quote_min_size_then_the_reason() -> None:
    market = view(product("BTC-USDC"), quotes=[quote("BTC-USDC", "50", "51")])
    leg = SellLeg("BTC-USDC", D("0.5"), None, D(50), True)

    # 0.015 x 50 = 0.75 < quote_min_size 1
    reason = actual_size(leg, D("0.015"), market)
    assert reason == "BTC-USDC: 0.015 x 50 < quote_min_size 1"


def test_actual_size_when_convert_then_proceeds_in_cents_rounded_down() -> None:
    leg = ConvertLeg("USD", "USDC", D("20.05"), True)

    assert actual_size(leg, D("19.987"), view()) == D("19.98")
    assert actual_size(leg, D("0.004"), view()) == "convert USD->USDC: proceeds 0.004 < 0.01"


def plan_of(holdings, keep=()):
    market = view(
        btc_usd(),
        product("SOL-USD"),
        quotes=[quote("BTC-USD", "60000", "60001"), quote("SOL-USD", "150", "150.1")],
        balances=holdings,
    )
    return plan_liquidation(market.holdings, market.products, market.quotes, keep=keep)


def test_planned_remaining_when_kept_and_crumbs_then_each_with_its_reason() -> None:
    # SOL 2.0005: 2.000 sold on the 0.001 grid, 0.0005 remains
    plan = plan_of({"SOL": "2.0005", "BTC": "1", "USDC": "5"}, keep=["BTC"])

    assert [(r.currency, r.amount, r.reason) for r in planned_remaining(plan)] == [
        ("BTC", D(1), "keep"),
        ("SOL", D("0.0005"), REMAINDER),
    ]


def test_planned_remaining_when_routes_unfinished_then_their_amounts_not_done() -> None:
    plan = plan_of({"SOL": "2", "BTC": "1"})

    left = planned_remaining(plan, unfinished={"SOL"})

    assert left == (Remaining("SOL", D(2), NOT_DONE, "its route did not finish"),)


def test_remaining_after_when_balances_left_then_target_ignored_and_reasons_given() -> None:
    plan = plan_of({"SOL": "2", "BTC": "1", "USDC": "5"}, keep=["BTC"])
    balances = {
        "USDC": Balance("USDC", D(300)),  # the target: never "remaining"
        "BTC": Balance("BTC", D(1)),  # kept
        "SOL": Balance("SOL", D(0), D(2)),  # all on hold, not in an unfinished route
        "USD": Balance("USD", D("0.004")),  # a convert's sub-cent crumb
        "XYZ": Balance("XYZ", D(0)),  # nothing held
    }

    left = remaining_after(plan, balances, unfinished=())

    assert [(r.currency, r.amount, r.reason) for r in left] == [
        ("BTC", D(1), "keep"),
        ("SOL", D(2), ON_HOLD),
        ("USD", D("0.004"), REMAINDER),
    ]


def test_remaining_after_when_route_unfinished_then_its_bridge_is_not_done() -> None:
    plan = plan_of({"SOL": "2"})
    balances = {"SOL": Balance("SOL", D(2)), "BTC": Balance("BTC", D("0.01"))}

    left = remaining_after(plan, balances, unfinished={"SOL", "BTC"})

    assert [(r.currency, r.reason) for r in left] == [("BTC", NOT_DONE), ("SOL", NOT_DONE)]
