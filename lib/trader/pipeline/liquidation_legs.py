"""Executing a liquidation plan, the pure parts: the market the planner is shown, the actual
size of a leg planned from an estimate, and what the account still holds afterwards and why.

Coinbase lists `X-USDC` as the `X-USD` book under another id (the adapters keep one product
and name the other in `aliases`); the id an order is sent on decides which currency the sale
pays. The planner prefers a sale straight into the target, so each alias is shown to it as
a product of its own, quoted from its twin's book.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from trader.domain.models import Balance, Product, Quote
from trader.pipeline.execution import round_down
from trader.pipeline.liquidation import (
    BRIDGES,
    CENT,
    ConvertLeg,
    Leg,
    LiquidationPlan,
    SellLeg,
    SkipReason,
)

NOT_DONE = "not_done"  # its route was stopped before it finished
REMAINDER = "remainder"  # what a leg rounded to its grid left behind
ON_HOLD = "on_hold"  # reserved by an open order, so not available to sell


@dataclass(frozen=True, slots=True)
class LiquidationMarket:
    """The market and the account as one liquidation sees them."""

    products: dict[str, Product]  # by id, every alias as a product of its own
    twins: dict[str, str]  # alias -> the id of the product whose book it is
    quotes: dict[str, Quote]  # an alias quoted from its twin's book
    balances: dict[str, Balance]
    taker_fee: Decimal
    cash: frozenset[str]  # the quote pool (USD, USDC): proceeds there are the bot's cash

    @property
    def holdings(self) -> dict[str, Decimal]:
        """What can be sold: the available balance of every currency."""
        return {c: b.available for c, b in self.balances.items() if b.available > 0}


@dataclass(frozen=True, slots=True)
class Remaining:
    """What the account still holds in a currency other than the target, and why."""

    currency: str
    amount: Decimal
    reason: str  # a SkipReason value, or NOT_DONE, REMAINDER, ON_HOLD
    detail: str


def market_view(
    products: Iterable[Product],
    quotes: Mapping[str, Quote],
    balances: Mapping[str, Balance],
    taker_fee: Decimal,
    cash: Collection[str],
) -> LiquidationMarket:
    """The planner's market: each alias a product of its own, quoted from its twin."""
    listed: dict[str, Product] = {}
    twins: dict[str, str] = {}
    for product in products:
        listed[product.product_id] = product
        for alias in product.aliases:
            twins[alias] = product.product_id
    for alias, twin in twins.items():
        if alias not in listed:
            quote_currency = alias.rsplit("-", 1)[-1]
            listed[alias] = dataclasses.replace(
                listed[twin], product_id=alias, quote_currency=quote_currency, aliases=()
            )
    seen = dict(quotes)
    for alias, twin in twins.items():
        if twin in quotes and alias not in quotes:
            seen[alias] = dataclasses.replace(quotes[twin], product_id=alias)
    return LiquidationMarket(listed, twins, seen, dict(balances), taker_fee, frozenset(cash))


def quoted_ids(products: Iterable[Product], balances: Mapping[str, Balance]) -> list[str]:
    """The products whose quotes a plan can need: those of held coins and of the bridges."""
    wanted = {c for c, b in balances.items() if b.available > 0} | set(BRIDGES)
    return sorted(p.product_id for p in products if p.base_currency in wanted)


def produced(leg: Leg, products: Mapping[str, Product]) -> str:
    """The currency a leg pays out: the sold product's quote, or the convert's target."""
    if isinstance(leg, ConvertLeg):
        return leg.to_currency
    return products[leg.product_id].quote_currency


def consumed(leg: Leg, products: Mapping[str, Product]) -> str:
    """The currency a leg spends."""
    if isinstance(leg, ConvertLeg):
        return leg.from_currency
    return products[leg.product_id].base_currency


def actual_size(leg: Leg, proceeds: Decimal, market: LiquidationMarket) -> Decimal | str:
    """The size of an estimated leg from what the leg before it really paid out, rounded down
    to its grid; or why that is too little to place."""
    if isinstance(leg, ConvertLeg):
        size = round_down(proceeds, CENT)
        if size <= 0:
            return f"convert {leg.from_currency}->{leg.to_currency}: proceeds {proceeds} < {CENT}"
        return size
    return _sell_size(leg, proceeds, market)


def _sell_size(leg: SellLeg, proceeds: Decimal, market: LiquidationMarket) -> Decimal | str:
    product = market.products[leg.product_id]
    pid = product.product_id
    size = round_down(min(proceeds, product.base_max_size), product.base_increment)
    if size <= 0 or size < product.base_min_size:
        return f"{pid}: proceeds {proceeds} round to {size} < base_min_size {product.base_min_size}"
    quote = market.quotes.get(pid)
    price = leg.limit_price or (quote.bid if quote is not None else None)
    if price is None:
        return f"{pid}: no bid"
    if size * price < product.quote_min_size:
        return f"{pid}: {size} x {price} < quote_min_size {product.quote_min_size}"
    return size


def planned_remaining(
    plan: LiquidationPlan, unfinished: Collection[str] = ()
) -> tuple[Remaining, ...]:
    """What the plan would leave outside the target, and why (a dry run's forecast); the
    routes of `unfinished` currencies (stopped by a failure) as not done."""
    left: list[Remaining] = []
    for item in plan.items:
        if item.skip_reason is SkipReason.ALREADY_TARGET:
            continue
        if item.currency in unfinished:
            left.append(Remaining(item.currency, item.amount, NOT_DONE, "its route did not finish"))
        elif item.skip_reason is not None:
            left.append(Remaining(item.currency, item.amount, item.skip_reason.value, item.detail))
        elif item.remainder > 0:
            left.append(Remaining(item.currency, item.remainder, REMAINDER, item.detail))
    return tuple(left)


def remaining_after(
    plan: LiquidationPlan, balances: Mapping[str, Balance], unfinished: Collection[str]
) -> tuple[Remaining, ...]:
    """What the account still holds outside the target after executing, and why.

    `unfinished`: the currencies of routes that were stopped or never started.
    """
    items = {item.currency: item for item in plan.items}
    left: list[Remaining] = []
    for currency in sorted(balances):
        balance = balances[currency]
        if currency == plan.target or balance.total <= 0:
            continue
        item = items.get(currency)
        if currency in unfinished:
            reason, detail = NOT_DONE, "its route did not finish in this invocation"
        elif item is not None and item.skip_reason is not None:
            reason, detail = item.skip_reason.value, item.detail
        elif balance.available <= 0:
            reason, detail = ON_HOLD, f"{balance.hold} {currency} reserved by open orders"
        else:
            reason = REMAINDER
            detail = item.detail if item is not None and item.detail else "left by a rounded leg"
        left.append(Remaining(currency, balance.total, reason, detail))
    return tuple(left)
