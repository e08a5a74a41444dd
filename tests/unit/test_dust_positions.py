"""Dust: a remainder no order can sell leaves the book, recorded with its value at the bid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pipeline_builders import T0, position, product, quote

from trader.domain.models import Intent, Order, OrderStatus, OrderType, Side
from trader.domain.state import PortfolioState
from trader.pipeline.dust import DustLot, close_dust, is_dust, value_dust
from trader.pipeline.execution import orderable_base

D = Decimal
# default product: base_increment 0.001, base_min_size 0.01; default quote: bid 99.99
PRODUCTS = {"BTC-USD": product("BTC-USD"), "ETH-USD": product("ETH-USD")}
QUOTES = {"BTC-USD": quote("BTC-USD"), "ETH-USD": quote("ETH-USD", "2000", "2001")}


@pytest.mark.parametrize(
    ("size", "orderable", "dust"),
    [
        ("0.0109", "0.010", False),  # rounds down to exactly the minimum: sellable
        ("0.01", "0.01", False),
        ("0.0099", "0", True),  # 0.009 < 0.01
        ("0.00099", "0", True),  # a crumb under one increment rounds to 0
        ("0", "0", True),
        ("1.23456", "1.234", False),  # sells 1.234, leaves 0.00056
    ],
)
def test_is_dust_when_size_rounded_to_the_grid_is_below_the_minimum_then_true(
    size: str, orderable: str, dust: bool
) -> None:
    assert orderable_base(D(size), product()) == D(orderable)
    assert is_dust(D(size), product()) is dust


def test_close_dust_when_a_remainder_is_below_the_minimum_then_removed_and_valued_at_bid() -> None:
    state = PortfolioState(
        positions={
            "BTC-USD": position("BTC-USD", "0.00056", entry=120),
            "ETH-USD": position("ETH-USD", "1.5", entry=1900),
        }
    )

    closed_state, closed = close_dust(state, PRODUCTS, QUOTES)

    # 0.00056 x 99.99 = 0.0559944
    assert closed == (DustLot("BTC-USD", D("0.00056"), D("99.99")),)
    assert closed[0].value == D("0.0559944")
    assert set(closed_state.positions) == {"ETH-USD"}
    assert closed_state.dust == {"BTC-USD": D("0.00056")}
    assert closed_state.realized_pnl_total == 0  # nothing was sold


def test_close_dust_when_dust_already_held_then_the_amounts_add_up() -> None:
    state = PortfolioState(
        positions={"BTC-USD": position("BTC-USD", "0.0004")}, dust={"BTC-USD": D("0.0003")}
    )

    closed_state, _ = close_dust(state, PRODUCTS, QUOTES)

    assert closed_state.dust == {"BTC-USD": D("0.0007")}  # 0.0003 + 0.0004


def test_close_dust_when_an_order_is_in_flight_then_the_position_is_kept() -> None:
    buying = Order("c1", "BTC-USD", Side.BUY, OrderType.LIMIT, OrderStatus.OPEN, T0, Intent.ENTRY)
    state = PortfolioState(
        positions={"BTC-USD": position("BTC-USD", "0.005")}, open_orders={"c1": buying}
    )

    assert close_dust(state, PRODUCTS, QUOTES) == (state, ())


def test_close_dust_when_the_product_is_not_listed_then_the_position_is_kept() -> None:
    state = PortfolioState(positions={"SOL-USD": position("SOL-USD", "0.0001")})

    assert close_dust(state, PRODUCTS, QUOTES) == (state, ())


def test_close_dust_when_unquoted_then_closed_with_an_unknown_value() -> None:
    state = PortfolioState(positions={"BTC-USD": position("BTC-USD", "0.002")})

    closed_state, closed = close_dust(state, PRODUCTS, {})

    assert closed == (DustLot("BTC-USD", D("0.002"), None),)
    assert closed[0].value is None
    assert closed_state.dust == {"BTC-USD": D("0.002")}


def test_value_dust_when_some_quoted_then_each_valued_at_its_bid() -> None:
    lots = value_dust({"ETH-USD": D("0.001"), "SOL-USD": D("0.3")}, QUOTES)

    # ETH: 0.001 x 2000 = 2.000; SOL has no quote
    assert [(lot.product_id, lot.value) for lot in lots] == [
        ("ETH-USD", D("2.000")),
        ("SOL-USD", None),
    ]
