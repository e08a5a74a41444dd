"""A stuck or unreadable order never holds a position's stop loss back for more than a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from cycle_rig import FEES, NOW, CannotRead, Rig, continue_flat, flat_rig

from trader.adapters.memory import InMemoryStateStore
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.ids import client_order_id
from trader.domain.models import (
    Intent,
    Order,
    OrderStatus,
    OrderType,
    PlannedOrder,
    Position,
    Side,
    TradingState,
)
from trader.domain.state import PortfolioState

D = Decimal
# A flat SOL closes at 100 and is quoted 2 bps wide: bid 99.99. Bought at 110, the position
# is (99.99 / 110 - 1) = -9.1 % under water: the 3 % stop loss fires.
LOSING = Position("SOL-USD", D(2), D(110), NOW - timedelta(hours=1))


def stuck_rig(trading_state: TradingState = TradingState.ACTIVE) -> tuple[Rig, Order]:
    """A losing SOL position and, from an earlier cycle, a SOL limit BUY resting 1 % under."""
    rig = flat_rig()
    rig.exchange = MatchingExchange(
        rig.market, rig.clock, FEES, D(0), {"USD": D(10_000), "SOL": D(2)}
    )
    resting = PlannedOrder(
        client_order_id(rig.config.cycle.portfolio_id, "earlier", "SOL-USD", Side.BUY, 0),
        "SOL-USD",
        Side.BUY,
        OrderType.LIMIT,
        Intent.ENTRY,
        base_size=D(1),
        quote_size=None,
        limit_price=D("98.99"),  # under the bid: it rests
    )
    order = rig.exchange.place_order(resting)
    assert order.status is OrderStatus.OPEN
    rig.store = InMemoryStateStore(
        PortfolioState(
            trading_state=trading_state,
            positions={"SOL-USD": LOSING},
            open_orders={order.client_order_id: order},
        )
    )
    return rig, order


@dataclass
class KeepsItOpen:
    """An exchange that accepts a cancel request but leaves the order OPEN (a stuck order)."""

    inner: MatchingExchange

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def cancel_order(self, client_order_id: str) -> Order | None:
        return self.inner.get_order(client_order_id)


def sold_sol(orders: tuple[Order, ...]) -> Order:
    (sell,) = orders
    assert (sell.product_id, sell.side, sell.status) == ("SOL-USD", Side.SELL, OrderStatus.FILLED)
    return sell


def test_cycle_when_an_order_rests_on_a_product_whose_stop_fires_then_cancelled_and_sold() -> None:
    rig, resting = stuck_rig()

    result = rig.run()

    assert sold_sol(result.orders).base_size == D(2)  # in the same cycle as the cancel
    assert rig.exchange.get_order(resting.client_order_id).status is OrderStatus.CANCELLED
    (cancel,) = rig.audit.records[0]["orders"]["exit_cancels"]
    assert cancel["client_order_id"] == resting.client_order_id
    assert cancel["exit_reason"].startswith("stop_loss -9.10%")  # (99.99 / 110 - 1) x 100
    assert (cancel["status_before"], cancel["status"], cancel["confirmed"]) == (
        "OPEN",
        "CANCELLED",
        True,
    )
    state = rig.store.load()
    assert state.open_orders == {} and state.positions == {}
    assert state.cancel_requested == {}  # forgotten with the order
    assert rig.exchange.get_balances()["USD"].hold == 0


def test_cycle_when_the_exchange_keeps_the_order_open_then_the_stop_sells_the_next_cycle() -> None:
    rig, resting = stuck_rig()
    stubborn = KeepsItOpen(rig.exchange)

    first = rig.run(exchange=stubborn)

    assert first.orders == ()  # the cancel is not confirmed: the order may still trade
    (cancel,) = rig.audit.records[0]["orders"]["exit_cancels"]
    assert (cancel["status"], cancel["confirmed"]) == ("OPEN", False)
    assert rig.store.load().cancel_requested == {resting.client_order_id: NOW}

    continue_flat(rig)
    second = rig.run(exchange=stubborn)

    sold_sol(second.orders)  # one cycle held back, never two
    state = rig.store.load()
    assert "SOL-USD" not in state.positions
    assert resting.client_order_id in state.open_orders  # still tracked until it is final
    assert state.cancel_requested == {resting.client_order_id: NOW}  # the first request


def test_cycle_when_the_order_cannot_be_read_then_the_stop_sells_the_next_cycle() -> None:
    rig, resting = stuck_rig()
    unreadable = CannotRead(rig.exchange, resting.client_order_id)

    first = rig.run(exchange=unreadable)

    assert first.orders == ()
    assert first.record["exception"] is None
    (cancel,) = rig.audit.records[0]["orders"]["exit_cancels"]
    assert cancel["confirmed"] is False
    assert cancel["status"] is None
    assert cancel["error"] == "ExchangeError: 503 from the exchange"

    continue_flat(rig)
    second = rig.run(exchange=unreadable)

    sold_sol(second.orders)
    assert resting.client_order_id in rig.store.load().open_orders  # kept, asked about again


def test_cycle_when_the_stop_does_not_fire_then_an_order_in_flight_is_left_alone() -> None:
    rig, resting = stuck_rig()
    calm = Position("SOL-USD", D(2), D(100), NOW - timedelta(hours=1))  # -0.01 %: no exit
    state = rig.store.load()
    rig.store = InMemoryStateStore(state.replace(positions={"SOL-USD": calm}))

    result = rig.run()

    assert result.orders == ()
    assert rig.audit.records[0]["orders"]["exit_cancels"] == []
    assert rig.exchange.get_order(resting.client_order_id).status is OrderStatus.OPEN


def test_cycle_when_halted_then_no_order_is_cancelled_for_an_exit() -> None:
    rig, resting = stuck_rig(TradingState.HALTED)

    rig.run()

    assert rig.audit.records[0]["orders"]["exit_cancels"] == []
    assert rig.exchange.get_order(resting.client_order_id).status is OrderStatus.OPEN
