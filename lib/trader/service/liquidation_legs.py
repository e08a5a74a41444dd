"""One leg of a liquidation route on the account: a sell or a convert, written ahead in the
state, sent once under an id derived from the request, confirmed before the route goes on,
and booked.

A sell paid in the bot's cash (USD or USDC) is booked against the position of the coin it
sells, so its realized PnL is counted; it is written ahead under that position's product id
and sent on the id the plan chose (the `venue`), as the cycle does with its USDC aliases. A
sell paid in another coin (`XYZ-BTC`) has no PnL in the quote currency to book: its fills
only mark what they sold, and the state follows the balances afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trader.domain.errors import ExchangeError
from trader.domain.fills import missing_base
from trader.domain.ids import liquidation_leg_id
from trader.domain.models import (
    ZERO,
    ConversionStatus,
    Intent,
    Order,
    OrderStatus,
    OrderType,
    PlannedConversion,
    PlannedOrder,
    Product,
    Side,
)
from trader.domain.state import PortfolioState
from trader.pipeline.liquidation import ConvertLeg, SellLeg
from trader.pipeline.liquidation_legs import LiquidationMarket
from trader.pipeline.portfolio import Cooldowns
from trader.pipeline.reconciliation import base_of
from trader.ports import Exchange
from trader.service.funding import kept_conversions, send_conversion
from trader.service.orders import book, pending, send

log = logging.getLogger("trader.service.liquidation")
DONE = frozenset({OrderStatus.FILLED.value, ConversionStatus.COMPLETED.value})


@dataclass(frozen=True, slots=True)
class LegResult:
    """What one leg did, for the answer and the audit record."""

    leg: str  # "<currency>.<index in its route>", e.g. "XYZ.1"
    currency: str  # the holding whose route it belongs to
    kind: str  # "sell" or "convert"
    venue: str  # the product sold on, or "USD->USDC"
    size: Decimal  # as sent: base units, or the amount converted
    client_order_id: str  # the order's, or the conversion's client id
    status: str  # an OrderStatus or ConversionStatus value
    filled_size: Decimal
    proceeds: Decimal  # what it paid out, net of fees, in the currency it produced
    detail: str | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE


@dataclass(frozen=True, slots=True)
class Desk:
    """What every leg of one invocation needs."""

    account: Exchange
    market: LiquidationMarket
    save: Callable[[PortfolioState], PortfolioState]  # a fenced save under the lock
    wait: Callable[[], bool]  # sleeps between polls; False once time is short
    attempts: int  # polls per leg
    cooldowns: Cooldowns
    now: datetime
    portfolio_id: str
    request_id: str

    def leg_id(self, currency: str, index: int, size: Decimal) -> str:
        return liquidation_leg_id(self.portfolio_id, self.request_id, currency, index, size)


def sell(
    desk: Desk,
    state: PortfolioState,
    currency: str,
    index: int,
    leg: SellLeg,
    size: Decimal,
    dust: Decimal = ZERO,
) -> tuple[PortfolioState, LegResult]:
    """Write the sell ahead, send it, confirm it, book what it filled."""
    planned = _sell_order(desk, state, currency, index, leg, size, dust)
    ahead = {**state.open_orders, planned.client_order_id: pending(planned, desk.now)}
    state = desk.save(state.replace(open_orders=ahead))
    order = _settle(desk, send(desk.account, planned, desk.now))
    state = book(state, _bookable(order, desk.market), desk.cooldowns, desk.now)
    proceeds = sum((f.notional - f.fee for f in order.fills), ZERO).normalize()  # 596.4
    result = LegResult(
        f"{currency}.{index}",
        currency,
        "sell",
        leg.product_id,
        size,
        planned.client_order_id,
        order.status.value,
        order.filled_size,
        proceeds,
        order.failure_reason,
    )
    return state, result


def convert(
    desk: Desk, state: PortfolioState, currency: str, index: int, leg: ConvertLeg, size: Decimal
) -> tuple[PortfolioState, LegResult]:
    """Write the conversion ahead, send it once; one already recorded is never sent again."""
    cid = desk.leg_id(currency, index, size)
    converted = _Converted(f"{currency}.{index}", currency, leg, size, cid)
    known = state.conversions.get(cid)
    if known is not None:
        return state, converted.result(known, "sent by an earlier invocation; not sent again")
    recorded = {**state.conversions, cid: ConversionStatus.PENDING}
    state = desk.save(state.replace(conversions=kept_conversions(recorded)))
    planned = PlannedConversion(
        cid, leg.from_currency, leg.to_currency, size, f"liquidation {desk.request_id}"
    )
    answer = send_conversion(desk.account, planned)
    state = state.replace(conversions=kept_conversions({**state.conversions, cid: answer.status}))
    return state, converted.result(answer.status, answer.detail)


@dataclass(frozen=True, slots=True)
class _Converted:
    leg: str
    currency: str
    planned: ConvertLeg
    size: Decimal
    client_id: str

    def result(self, status: ConversionStatus, detail: str | None) -> LegResult:
        moved = self.size if status is ConversionStatus.COMPLETED else ZERO  # 1:1, no fee
        label = f"{self.planned.from_currency}->{self.planned.to_currency}"
        return LegResult(
            self.leg,
            self.currency,
            "convert",
            label,
            self.size,
            self.client_id,
            status.value,
            moved,
            moved,
            detail,
        )


def _sell_order(
    desk: Desk,
    state: PortfolioState,
    currency: str,
    index: int,
    leg: SellLeg,
    size: Decimal,
    dust: Decimal,
) -> PlannedOrder:
    product = desk.market.products[leg.product_id]
    booked_as = _booked_as(state, product, desk.market)
    quote = desk.market.quotes.get(leg.product_id)
    return PlannedOrder(
        client_order_id=desk.leg_id(currency, index, size),
        product_id=booked_as,
        side=Side.SELL,
        order_type=OrderType.MARKET if leg.limit_price is None else OrderType.LIMIT,
        intent=Intent.EXIT,
        base_size=size,
        quote_size=None,
        limit_price=leg.limit_price,
        expected_price=quote.bid if quote is not None else ZERO,
        reason=f"liquidation {desk.request_id}",
        dust=dust,
        venue=leg.product_id if leg.product_id != booked_as else None,
    )


def _booked_as(state: PortfolioState, product: Product, market: LiquidationMarket) -> str:
    """The product id a sell is booked under: the position of its coin when it pays cash."""
    if product.quote_currency not in market.cash:
        return product.product_id
    held = sorted(
        pid for pid in state.positions if base_of(pid, market.products) == product.base_currency
    )
    if held:
        return held[0]
    return market.twins.get(product.product_id, product.product_id)


def _bookable(order: Order, market: LiquidationMarket) -> Order:
    """The order as the book takes it: fees paid in another coin are not the bot's quote."""
    product = market.products.get(order.product_id)
    if product is None or product.quote_currency in market.cash:
        return order
    fills = tuple(dataclasses.replace(f, fee=ZERO) for f in order.fills)
    return dataclasses.replace(order, fills=fills, total_fees=ZERO)


def _settle(desk: Desk, order: Order) -> Order:
    """Poll the order until it is final with all its fills (bounded); cancel one left resting."""
    for _ in range(desk.attempts):
        if _settled(order) or not desk.wait():
            break
        answer = _read(desk.account, order)
        if answer is not None and answer.status is not OrderStatus.PENDING:
            order = answer
    if order.status is OrderStatus.OPEN:
        order = _cancel(desk.account, order)
    return order


def _settled(order: Order) -> bool:
    if order.status is OrderStatus.REJECTED:
        return True
    return order.status.is_final and order.fills_mismatch is None and missing_base(order) == ZERO


def _read(account: Exchange, order: Order) -> Order | None:
    try:
        return account.get_order(order.client_order_id, order.order_id)
    except ExchangeError:
        log.warning("reading %s failed; asked again", order.client_order_id, exc_info=True)
        return None


def _cancel(account: Exchange, order: Order) -> Order:
    """A leg never rests after its invocation: what did not fill in time is cancelled."""
    try:
        return account.cancel_order(order.client_order_id) or order
    except ExchangeError:
        log.warning("cancelling %s failed", order.client_order_id, exc_info=True)
        return order
