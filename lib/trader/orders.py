"""Order lifecycle in the shell: reconcile what is in flight, place the plan, confirm fills.

An order is written to the state (PENDING) before it is sent, so a crash between sending
and saving is found again by the next cycle. An ambiguous outcome stays UNKNOWN until the
exchange is asked again; it is never assumed rejected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from trader.errors import ExchangeError, OrderRejected, OutcomeUnknown
from trader.models import Order, OrderStatus, PlannedOrder
from trader.pipeline.portfolio import apply_fill, count_trade
from trader.ports import Exchange
from trader.state import PortfolioState

# A PENDING or UNKNOWN order the exchange still does not know after this long never arrived.
ORPHAN_AFTER = timedelta(minutes=15)


def pending(planned: PlannedOrder, now: datetime) -> Order:
    return Order(
        client_order_id=planned.client_order_id,
        product_id=planned.product_id,
        side=planned.side,
        order_type=planned.order_type,
        status=OrderStatus.PENDING,
        created_at=now,
        intent=planned.intent,
        base_size=planned.base_size,
        quote_size=planned.quote_size,
        limit_price=planned.limit_price,
    )


def with_status(order: Order, status: OrderStatus, reason: str | None = None) -> Order:
    return dataclasses.replace(order, status=status, failure_reason=reason)


def book(state: PortfolioState, order: Order, cooldown_minutes: int) -> PortfolioState:
    """Apply the order's new fills and keep it in `open_orders` only while it is not final."""
    for fill in order.fills:
        state = apply_fill(state, fill, cooldown_minutes)
    open_orders = dict(state.open_orders)
    if order.status.is_final:
        open_orders.pop(order.client_order_id, None)
    else:
        open_orders[order.client_order_id] = order
    return state.replace(open_orders=open_orders)


def reconcile(
    state: PortfolioState, account: Exchange, now: datetime, cooldown_minutes: int
) -> tuple[PortfolioState, tuple[Order, ...]]:
    """Ask the exchange about every order in flight and book what happened to it."""
    seen: list[Order] = []
    for coid, known in sorted(state.open_orders.items()):
        current = account.get_order(coid)
        if current is None:
            if now - known.created_at < ORPHAN_AFTER:
                continue  # may not be readable yet; ask again next cycle
            current = with_status(known, OrderStatus.REJECTED, "never reached the exchange")
        state = book(state, current, cooldown_minutes)
        seen.append(current)
    return state, tuple(seen)


def place_all(
    state: PortfolioState,
    account: Exchange,
    plan: Sequence[PlannedOrder],
    now: datetime,
    cooldown_minutes: int,
) -> tuple[PortfolioState, tuple[Order, ...]]:
    """Send each planned order once; count every order the exchange may have accepted."""
    results: list[Order] = []
    for planned in plan:
        try:
            order = account.place_order(planned)
        except OrderRejected as exc:
            order = with_status(pending(planned, now), OrderStatus.REJECTED, exc.reason)
        except OutcomeUnknown as exc:
            order = with_status(pending(planned, now), OrderStatus.UNKNOWN, str(exc))
        except ExchangeError as exc:  # sent or not, nobody knows: reconcile later
            order = with_status(pending(planned, now), OrderStatus.UNKNOWN, type(exc).__name__)
        if order.status is not OrderStatus.REJECTED:
            state = count_trade(state)
        state = book(state, order, cooldown_minutes)
        results.append(order)
    return state, tuple(results)


def confirm(
    state: PortfolioState,
    account: Exchange,
    orders: Sequence[Order],
    attempts: int,
    wait: Callable[[], bool],
    cooldown_minutes: int,
) -> tuple[PortfolioState, tuple[Order, ...]]:
    """Poll orders that are not final yet, at most `attempts` times; `wait()` False stops early."""
    latest = {o.client_order_id: o for o in orders}
    for _ in range(attempts):
        waiting = [o for o in latest.values() if not o.status.is_final]
        if not waiting or not wait():
            break
        for order in waiting:
            current = account.get_order(order.client_order_id)
            if current is not None:
                state = book(state, current, cooldown_minutes)
                latest[order.client_order_id] = current
    return state, tuple(latest.values())
