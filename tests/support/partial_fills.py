"""Partial fills on the simulated account, which otherwise fills every order whole.

    account = PartialFills(rig.exchange, rig.clock)
    account.fill_next_in_part(Decimal("0.4"), rest=True)
    rig.run(exchange=account)

The next order placed fills only `fraction` of its size at once. Then either the rest is
cancelled (an IOC order on Coinbase: final, CANCELLED, the part filled; the fake Coinbase's
`partial_fill_next`), or the order stays OPEN with the part filled and the rest fills as a
market order at the first read after the clock moved on (a resting order filled in two
goes), unless the order is cancelled first. Either way it shows as one order: its size as
asked, its fills and totals summed. The rest is a second order at the account (client id
`<id>~rest`) whose fills are shown as the first order's, as Coinbase shows one order's fills.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from trader.adapters.sim.matching import MatchingExchange
from trader.domain.errors import OrderRejected
from trader.domain.models import (
    ZERO,
    AccountFills,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PlannedOrder,
    Side,
)
from trader.domain.money import round_to_increment
from trader.ports import Clock

REST = "~rest"
CENT = Decimal("0.01")


class PartialFills:
    """An Exchange over a MatchingExchange whose next order may fill in part."""

    def __init__(self, inner: MatchingExchange, clock: Clock) -> None:
        self.inner = inner
        self._clock = clock
        self._next: tuple[Decimal, bool] | None = None
        self._asked: dict[str, PlannedOrder] = {}  # client_order_id -> the order as asked
        self._waiting: dict[str, tuple[PlannedOrder, datetime]] = {}  # the rest, and since when

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def fill_next_in_part(self, fraction: Decimal, rest: bool) -> None:
        """The next order fills `fraction` at once; the rest later (`rest`) or never."""
        self._next = (fraction, rest)

    # --- the Exchange calls that see orders ------------------------------------------------

    def place_order(self, order: PlannedOrder) -> Order:
        armed, self._next = self._next, None
        if armed is None or order.client_order_id in self._asked:
            return self._shown(order.client_order_id) or self.inner.place_order(order)
        fraction, rest = armed
        part = self._part(order, fraction)
        answer = self.inner.place_order(part)
        if answer.status is not OrderStatus.FILLED:
            return answer  # it rests, smaller: an ordinary resting order
        self._asked[order.client_order_id] = order
        if rest:
            self._waiting[order.client_order_id] = (self._rest(order, part), self._clock.now())
        return self._shown(order.client_order_id)  # type: ignore[return-value]

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        self._fill_rest(client_order_id)
        return self._shown(client_order_id) or self.inner.get_order(client_order_id, order_id)

    def cancel_order(self, client_order_id: str) -> Order | None:
        if client_order_id not in self._asked:
            return self.inner.cancel_order(client_order_id)
        self._fill_rest(client_order_id)  # it may have filled before the cancel arrived
        self._waiting.pop(client_order_id, None)
        return self._shown(client_order_id)

    def orders(self) -> dict[str, Order]:
        """Every order as the account shows it (a rest inside its order)."""
        for coid in list(self._waiting):
            self._fill_rest(coid)
        return {
            coid: self._shown(coid) or order
            for coid, order in self.inner.orders().items()
            if not coid.endswith(REST)
        }

    def get_fills_since(self, cursor: str | None) -> AccountFills:
        found = self.inner.get_fills_since(cursor)
        return dataclasses.replace(found, fills=tuple(self._as_own(f) for f in found.fills))

    # --- the two orders shown as one -----------------------------------------------------------

    def _shown(self, coid: str) -> Order | None:
        asked = self._asked.get(coid)
        part = self.inner.get_order(coid) if asked is not None else None
        if asked is None or part is None:
            return None
        rest = self.inner.get_order(coid + REST)
        fills = (*part.fills, *(self._as_own(f) for f in (rest.fills if rest else ())))
        size = sum((f.size for f in fills), ZERO)
        if coid in self._waiting:
            status = OrderStatus.OPEN
        elif rest is not None and rest.status is OrderStatus.FILLED:
            status = OrderStatus.FILLED
        else:
            status = OrderStatus.CANCELLED
        return dataclasses.replace(
            part,
            status=status,
            base_size=asked.base_size,
            quote_size=asked.quote_size,
            fills=fills,
            filled_size=size,
            average_filled_price=sum((f.price * f.size for f in fills), ZERO) / size,
            total_fees=sum((f.fee for f in fills), ZERO),
        )

    def _as_own(self, fill: Fill) -> Fill:
        """A fill of a rest, shown as its order's."""
        if not fill.client_order_id.endswith(REST):
            return fill
        coid = fill.client_order_id.removesuffix(REST)
        part = self.inner.get_order(coid)
        return dataclasses.replace(
            fill, client_order_id=coid, order_id=part.order_id if part else fill.order_id
        )

    def _fill_rest(self, coid: str) -> None:
        waiting = self._waiting.get(coid)
        if waiting is None or self._clock.now() <= waiting[1]:
            return
        del self._waiting[coid]
        with contextlib.suppress(OrderRejected):  # the funds went: it ends with its part
            self.inner.place_order(waiting[0])

    def _part(self, order: PlannedOrder, fraction: Decimal) -> PlannedOrder:
        if order.side is Side.BUY and order.quote_size is not None:
            part = (order.quote_size * fraction).quantize(CENT, ROUND_DOWN)
            return dataclasses.replace(order, quote_size=part)
        grid = next(
            p.base_increment for p in self.inner.list_products() if p.product_id == order.product_id
        )
        base = round_to_increment((order.base_size or ZERO) * fraction, grid, ROUND_DOWN)
        return dataclasses.replace(order, base_size=base)

    @staticmethod
    def _rest(order: PlannedOrder, part: PlannedOrder) -> PlannedOrder:
        """What the part left, as a market order of its own."""
        quote = base = None
        if order.quote_size is not None and part.quote_size is not None:
            quote = order.quote_size - part.quote_size
        else:
            base = (order.base_size or ZERO) - (part.base_size or ZERO)
        return dataclasses.replace(
            order,
            client_order_id=order.client_order_id + REST,
            order_type=OrderType.MARKET,
            base_size=base,
            quote_size=quote,
            limit_price=None,
            post_only=False,
        )
