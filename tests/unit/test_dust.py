"""Booking an exit that leaves dust: what is less than one base increment goes off the book."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trader.domain.models import (
    Fill,
    Intent,
    Order,
    OrderStatus,
    OrderType,
    PlannedOrder,
    Position,
    Side,
)
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import Cooldowns, apply_fill
from trader.service.orders import book, pending

D = Decimal
NOW = datetime(2026, 3, 2, 12, 5, tzinfo=UTC)
# 0.0198608548509144 BTC bought by quote size; the exit sells 0.01986085 on the 1e-8 grid,
# leaving 0.0198608548509144 - 0.01986085 = 0.0000000048509144 of dust.
HELD = D("0.0198608548509144")
SOLD = D("0.01986085")
DUST = D("0.0000000048509144")
EXIT = PlannedOrder(
    "c-exit", "BTC-USD", Side.SELL, OrderType.MARKET, Intent.EXIT, SOLD, None, dust=DUST
)


def _state() -> PortfolioState:
    """The exit written ahead (as the cycle does) against the position it sells."""
    position = Position("BTC-USD", HELD, D(50_000), NOW - timedelta(hours=1))
    return PortfolioState(
        positions={"BTC-USD": position}, open_orders={"c-exit": pending(EXIT, NOW)}
    )


def _filled(size: Decimal, status: OrderStatus = OrderStatus.FILLED) -> Order:
    """The exit as Coinbase reports it: no dust (the exchange knows nothing of it)."""
    fill = Fill("e-1", "o-1", "c-exit", "BTC-USD", Side.SELL, D(51_000), size, D("0.5"), NOW)
    order = Order.from_planned(EXIT, status, NOW, order_id="o-1")
    return dataclasses.replace(order, dust=D(0), filled_size=size, fills=(fill,))


def test_book_when_an_exit_fills_and_leaves_only_dust_then_the_position_is_closed() -> None:
    state = book(_state(), _filled(SOLD), Cooldowns(), NOW)

    assert state.positions == {}
    assert state.open_orders == {}
    assert state.dust == {"BTC-USD": DUST}  # still on the exchange: booked + dust = held


def test_apply_fill_when_the_product_is_bought_again_then_its_dust_joins_the_position() -> None:
    closed = book(_state(), _filled(SOLD), Cooldowns(), NOW)
    buy = Fill("e-2", "o-2", "c-buy", "BTC-USD", Side.BUY, D(52_000), D("0.01"), D("0.6"), NOW)

    state = apply_fill(closed, buy, Cooldowns())

    # 0.01 bought + 0.0000000048509144 of dust = 0.0100000048509144, what the exchange holds
    assert state.positions["BTC-USD"].size == D("0.0100000048509144")
    assert state.dust == {}


def test_book_when_an_exit_fills_only_in_part_then_the_rest_stays_a_position() -> None:
    # IOC cancelled after 0.01 of 0.01986085: 0.0098608548509144 left, far more than dust
    state = book(_state(), _filled(D("0.01"), OrderStatus.CANCELLED), Cooldowns(), NOW)

    assert state.positions["BTC-USD"].size == D("0.0098608548509144")


def test_book_when_the_exit_planned_no_dust_then_a_remainder_is_not_written_off() -> None:
    no_dust = PortfolioState(
        positions=_state().positions,
        open_orders={"c-exit": pending(dataclasses.replace(EXIT, dust=D(0)), NOW)},
    )

    state = book(no_dust, _filled(SOLD), Cooldowns(), NOW)

    assert state.positions["BTC-USD"].size == DUST  # 0.0198608548509144 - 0.01986085
