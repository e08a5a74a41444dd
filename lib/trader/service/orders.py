"""Order lifecycle in the shell: reconcile what is in flight, place the plan, confirm fills.

An order is written to the state (PENDING) before it is sent, so a crash between sending
and saving is found again by the next cycle. An ambiguous outcome stays UNKNOWN until the
exchange is asked again; it is never assumed rejected.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from trader.domain.errors import ExchangeError, OrderRejected, OutcomeUnknown
from trader.domain.fills import missing_base
from trader.domain.models import ZERO, Fill, Order, OrderStatus, PlannedOrder
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import Cooldowns, apply_fill, count_trade, uncount_trade
from trader.ports import Exchange

log = logging.getLogger("trader.service.orders")
T = TypeVar("T")
R = TypeVar("R")

# A never-acknowledged order the exchange still does not know after this long never arrived;
# a final order whose fill records still do not add up after this long is booked from totals.
ORPHAN_AFTER = timedelta(minutes=15)


def pending(planned: PlannedOrder, now: datetime) -> Order:
    return Order.from_planned(planned, OrderStatus.PENDING, now)


def with_status(order: Order, status: OrderStatus, reason: str | None = None) -> Order:
    return dataclasses.replace(order, status=status, failure_reason=reason)


def remainder_fill(order: Order) -> Fill | None:
    """A fill for what the order says was filled but no fill record shows (fills can lag)."""
    missing = missing_base(order)
    if missing <= 0:
        return None
    seen_value = sum((f.price * f.size for f in order.fills), ZERO)
    seen_fees = sum((f.fee for f in order.fills), ZERO)
    price = (order.average_filled_price * order.filled_size - seen_value) / missing
    return Fill(
        fill_id=f"{order.order_id or order.client_order_id}-remainder",
        order_id=order.order_id or "",
        client_order_id=order.client_order_id,
        product_id=order.product_id,
        side=order.side,
        price=price,
        size=missing,
        fee=max(order.total_fees - seen_fees, ZERO),
        time=order.created_at,
    )


def as_booked(state: PortfolioState, order: Order) -> Order:
    """The order and its fills under the product id the bot wrote it ahead with: an order
    sent on an alias (BTC-USDC, paid in USDC) is the BTC-USD book's, and is booked there."""
    known = state.open_orders.get(order.client_order_id)
    if known is None or known.product_id == order.product_id:
        return order
    pid = known.product_id
    fills = tuple(dataclasses.replace(f, product_id=pid) for f in order.fills)
    return dataclasses.replace(order, product_id=pid, fills=fills)


def book(
    state: PortfolioState, order: Order, cooldowns: Cooldowns, now: datetime
) -> PortfolioState:
    """Apply the order's new fills; it leaves `open_orders` only once final and fully booked.

    A final order whose fill records do not yet add up to its filled size stays, so the next
    cycle can read the missing fills. Fills that the exchange adapter found not adding up to
    the order's totals (`fills_mismatch`: misread, or some missing) are not booked at all
    until they do. After ORPHAN_AFTER what the booked fills lack is booked from the order's
    own totals, so a position is never left unbooked.
    """
    order = as_booked(state, order)
    trusted = order.fills_mismatch is None
    if trusted:
        for fill in order.fills:
            state = apply_fill(state, fill, cooldowns)
    settled = order.status.is_final and trusted and missing_base(order) == ZERO
    if order.status.is_final and not settled and now - order.created_at >= ORPHAN_AFTER:
        booked = tuple(f for f in order.fills if f.fill_id in state.seen_fill_ids)
        remainder = remainder_fill(dataclasses.replace(order, fills=booked))
        if remainder is not None:
            state = apply_fill(state, remainder, cooldowns)
        settled = True
    if not settled:
        return state.replace(open_orders={**state.open_orders, order.client_order_id: order})
    state = write_off_dust(state, order)
    coid = order.client_order_id
    return state.replace(
        open_orders={k: o for k, o in state.open_orders.items() if k != coid},
        cancel_requested={k: t for k, t in state.cancel_requested.items() if k != coid},
    )


def write_off_dust(state: PortfolioState, order: Order) -> PortfolioState:
    """Close the position an exit has sold, when all it left is the dust it could not sell.

    Exits sell the whole position on the product's base grid; the rest, less than one base
    increment, cannot be sold and stays on the exchange. It moves to `state.dust` (the next
    buy takes it back), so the product is free to trade again and booked plus dust is still
    what the exchange holds. Coinbase does not echo the plan's dust: the order as written
    ahead is asked too.
    """
    pid = order.product_id
    known = state.open_orders.get(order.client_order_id)
    dust = max(order.dust, known.dust if known is not None else ZERO)
    position = state.positions.get(pid)
    if dust <= 0 or position is None or position.size > dust:
        return state
    return state.replace(
        positions={p: pos for p, pos in state.positions.items() if p != pid},
        dust={**state.dust, pid: state.dust.get(pid, ZERO) + position.size},
    )


def reconcile(
    state: PortfolioState,
    account: Exchange,
    now: datetime,
    cooldowns: Cooldowns,
    cancel_after: timedelta,
    pool: Executor | None = None,
) -> tuple[PortfolioState, tuple[Order, ...]]:
    """Ask the exchange about every order in flight, cancel stale resting ones, book the rest.

    One order that cannot be read is kept as it was; it never stops the cycle (or its exits).
    """
    known_orders = [known for _, known in sorted(state.open_orders.items())]
    answers = _each(pool, lambda known: _lookup(account, known), known_orders)
    seen: list[Order] = []
    for known, (readable, answer) in zip(known_orders, answers, strict=True):
        if not readable:
            continue
        if answer is None or answer.status is OrderStatus.PENDING:
            if known.order_id is not None or now - known.created_at < ORPHAN_AFTER:
                continue  # acknowledged once, or maybe not readable yet: ask again next cycle
            current = with_status(known, OrderStatus.REJECTED, "never reached the exchange")
            state = uncount_trade(state, known.created_at)
        elif answer.status is OrderStatus.OPEN and now - answer.created_at >= cancel_after:
            current = _cancel(account, answer)
        else:
            current = answer
        state = book(state, current, cooldowns, now)
        seen.append(as_booked(state, current))
    return state, tuple(seen)


def _lookup(account: Exchange, known: Order) -> tuple[bool, Order | None]:
    """(could it be read, what the exchange says); a failed read is logged and skipped."""
    try:
        return True, account.get_order(known.client_order_id, known.order_id)
    except ExchangeError:
        log.warning(
            "order %s could not be read; kept for the next cycle",
            known.client_order_id,
            exc_info=True,
        )
        return False, None


def _cancel(account: Exchange, order: Order) -> Order:
    """Cancel a resting order that sat too long; its product is free to be planned again."""
    try:
        return account.cancel_order(order.client_order_id) or order
    except ExchangeError:
        log.warning(
            "cancelling %s failed; retried next cycle", order.client_order_id, exc_info=True
        )
        return order


@dataclass(frozen=True, slots=True)
class ExitCancel:
    """One best-effort cancel of an order that held back a firing exit, for the audit."""

    order: Order  # as known before the cancel
    exit_reason: str
    answer: Order | None  # the order as read back after the cancel; None: none, or it failed
    error: str | None = None

    @property
    def confirmed(self) -> bool:
        """The order is final at the exchange: it no longer needs to hold the exit back."""
        return self.answer is not None and self.answer.status.is_final


def cancel_for_exits(
    state: PortfolioState,
    account: Exchange,
    blocking: Sequence[tuple[Order, str]],
    now: datetime,
    cooldowns: Cooldowns,
    pool: Executor | None = None,
) -> tuple[PortfolioState, tuple[ExitCancel, ...]]:
    """Ask to cancel each order holding back an exit; book what the exchange answers.

    A confirmed cancel (a final order, its fills booked) frees the exit this cycle. Either
    way the request is remembered (`cancel_requested`), so the order stops holding the exit
    back from the next cycle on: a stuck order never blocks a stop loss for longer.
    """
    cancels = _each(pool, lambda item: _cancel_for_exit(account, *item), blocking)
    requested = dict(state.cancel_requested)
    for cancel in cancels:
        requested.setdefault(cancel.order.client_order_id, now)
    state = state.replace(cancel_requested=requested)
    for cancel in cancels:
        if cancel.answer is not None and cancel.answer.status is not OrderStatus.PENDING:
            state = book(state, cancel.answer, cooldowns, now)
    return state, tuple(cancels)


def _cancel_for_exit(account: Exchange, order: Order, exit_reason: str) -> ExitCancel:
    try:
        return ExitCancel(order, exit_reason, account.cancel_order(order.client_order_id))
    except ExchangeError as exc:
        log.warning(
            "cancelling %s for an exit failed; the exit goes ahead next cycle",
            order.client_order_id,
            exc_info=True,
        )
        return ExitCancel(order, exit_reason, None, f"{type(exc).__name__}: {exc}")


def write_ahead(
    state: PortfolioState, plan: Sequence[PlannedOrder], now: datetime
) -> PortfolioState:
    """The planned orders as PENDING, counted as trades: what a crash after sending must find."""
    open_orders = {**state.open_orders, **{p.client_order_id: pending(p, now) for p in plan}}
    for _ in plan:
        state = count_trade(state)
    return state.replace(open_orders=open_orders)


def send(account: Exchange, planned: PlannedOrder, now: datetime) -> Order:
    """One order sent once; the exchange's answer, or what we know when it gave none."""
    try:
        return account.place_order(planned)
    except OrderRejected as exc:
        return with_status(pending(planned, now), OrderStatus.REJECTED, exc.reason)
    except OutcomeUnknown as exc:
        return with_status(pending(planned, now), OrderStatus.UNKNOWN, str(exc))
    except ExchangeError as exc:  # sent or not, nobody knows: reconcile later
        return with_status(pending(planned, now), OrderStatus.UNKNOWN, type(exc).__name__)


def place_all(
    state: PortfolioState,
    account: Exchange,
    plan: Sequence[PlannedOrder],
    now: datetime,
    cooldowns: Cooldowns,
    pool: Executor | None = None,
    before_send: Callable[[], None] = lambda: None,
) -> tuple[PortfolioState, tuple[Order, ...]]:
    """Send each planned order once (at once, with a pool); a refused one gives back its trade.
    `before_send` runs before each create and may raise to stop it (the lease check)."""

    def send_one(planned: PlannedOrder) -> Order:
        before_send()
        return send(account, planned, now)

    sent = [as_booked(state, o) for o in _each(pool, send_one, plan)]
    for order in sent:
        if order.status is OrderStatus.REJECTED:
            state = uncount_trade(state)
        state = book(state, order, cooldowns, now)
    return state, tuple(sent)


def confirm(
    state: PortfolioState,
    account: Exchange,
    orders: Sequence[Order],
    attempts: int,
    wait: Callable[[], bool],
    cooldowns: Cooldowns,
    now: datetime,
    pool: Executor | None = None,
) -> tuple[PortfolioState, tuple[Order, ...]]:
    """Poll orders not settled yet, at most `attempts` times; `wait()` False stops early."""
    latest = {o.client_order_id: o for o in orders}
    for _ in range(attempts):
        waiting = [o for o in latest.values() if o.client_order_id in state.open_orders]
        if not waiting or not wait():
            break
        for answer in _each(pool, lambda o: _read(account, o), waiting):
            if answer is not None and answer.status is not OrderStatus.PENDING:
                current = as_booked(state, answer)
                state = book(state, current, cooldowns, now)
                latest[current.client_order_id] = current
    return state, tuple(latest.values())


def _each(pool: Executor | None, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """fn over items, concurrently when there is a pool (results in the items' order)."""
    return list(pool.map(fn, items)) if pool is not None else [fn(item) for item in items]


def _read(account: Exchange, order: Order) -> Order | None:
    try:
        return account.get_order(order.client_order_id, order.order_id)
    except ExchangeError:
        return None
