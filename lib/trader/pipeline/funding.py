"""Who pays for each buy: USD and USDC are one pool of cash, and funding sources top it up.

Coinbase's `X-USD` and `X-USDC` products are one order book under two ids; the id an order
is placed on decides which balance pays (and which a sale credits). A buy therefore goes to
the alias whose quote currency holds the funds; when no single currency holds enough, the
shortfall is converted first (Coinbase's Convert API: USDC <-> USD, no order book).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from trader.domain.config import FundingConfig
from trader.domain.copying import quick_init
from trader.domain.models import (
    ZERO,
    Balance,
    Intent,
    PlannedConversion,
    PlannedOrder,
    Product,
    Proposal,
    Quote,
    Side,
)
from trader.domain.money import HUNDRED, round_to_increment

CENT = Decimal("0.01")


@quick_init
@dataclass(frozen=True, slots=True)
class Funding:
    orders: tuple[PlannedOrder, ...]  # the plan, each buy sent on the id of the currency paying
    conversions: tuple[PlannedConversion, ...]  # to run before the orders


def cost_of(order: PlannedOrder) -> Decimal:
    """What a buy spends in quote: its quote size, or base x limit price (fees ride on top)."""
    if order.quote_size is not None:
        return order.quote_size
    return (order.base_size or ZERO) * (order.limit_price or order.expected_price)


def alias_for(product: Product | None, currency: str) -> str | None:
    """The product id of the same book quoted in `currency` (itself, or one of its aliases)."""
    if product is None:
        return None
    if product.quote_currency == currency:
        return product.product_id
    return next((a for a in product.aliases if a.rsplit("-", 1)[-1] == currency), None)


def fund_orders(
    plan: Sequence[PlannedOrder],
    products: Mapping[str, Product],
    available: Mapping[str, Decimal],
    conversion_id: str,
) -> Funding:
    """Each buy on the first cash currency that can pay it alone (the product's own quote
    first); else the biggest other balance tops up the product's quote by a conversion.

    `available` holds the cash currencies of the pool only; `conversion_id` prefixes the
    deterministic ids of the conversions (a retried cycle plans the same ones).
    """
    left = dict(available)
    orders: list[PlannedOrder] = []
    conversions: list[PlannedConversion] = []
    for order in plan:
        product = products.get(order.product_id)
        if order.side is Side.SELL or product is None:
            orders.append(order)
            continue
        funded, conversion = _fund_one(order, product, left, f"{conversion_id}-{len(conversions)}")
        orders.append(funded)
        if conversion is not None:
            conversions.append(conversion)
    return Funding(tuple(orders), tuple(conversions))


def _fund_one(
    order: PlannedOrder, product: Product, left: dict[str, Decimal], conversion_id: str
) -> tuple[PlannedOrder, PlannedConversion | None]:
    need = cost_of(order)
    own = product.quote_currency
    payers = [own, *sorted(c for c in left if c != own)]
    for currency in payers:
        alias = alias_for(product, currency)
        if alias is not None and left.get(currency, ZERO) >= need:
            left[currency] = left[currency] - need
            venue = alias if alias != order.product_id else None
            return dataclasses.replace(order, venue=venue), None
    shortfall = round_to_increment(need - left.get(own, ZERO), CENT, ROUND_CEILING)
    donors = sorted((c for c in left if c != own), key=lambda c: (-left[c], c))
    if not donors or left[donors[0]] < shortfall:
        return order, None  # nobody can pay: the exchange refuses it, as risk should have
    donor = donors[0]
    left[donor] -= shortfall
    left[own] = left.get(own, ZERO) + shortfall - need
    reason = f"fund {order.product_id} buy of {need}: {shortfall} {donor} -> {own}"
    return order, PlannedConversion(
        conversion_id, donor, own, shortfall, reason, order.client_order_id
    )


def funding_value(
    balances: Mapping[str, Balance],
    quotes: Mapping[str, Quote],
    sources: Sequence[str],
    quote_currency: str,
    taker_fee_rate: Decimal,
) -> Decimal:
    """What selling every funding source now would bring, after the taker fee."""
    total = ZERO
    for currency in sources:
        balance, quote = balances.get(currency), quotes.get(f"{currency}-{quote_currency}")
        if balance is not None and quote is not None:
            total += balance.available * quote.bid * (1 - taker_fee_rate)
    return total


def funding_sales(
    plan: Sequence[PlannedOrder],
    balances: Mapping[str, Balance],
    quotes: Mapping[str, Quote],
    cash_available: Decimal,
    cfg: FundingConfig,
    quote_currency: str,
    taker_fee_rate: Decimal,
) -> tuple[Proposal, ...]:
    """Sells of funding sources, in the configured order, that cover what the plan's buys
    need beyond the cash (with `margin_pct` more, for price moves, fees and the size grid)."""
    need = sum((cost_of(o) for o in plan if o.side is Side.BUY), ZERO) * (1 + taker_fee_rate)
    short = (need - cash_available) * (1 + cfg.margin_pct / HUNDRED)
    sales: list[Proposal] = []
    for currency in cfg.sources:
        product_id = f"{currency}-{quote_currency}"
        balance, quote = balances.get(currency), quotes.get(product_id)
        if short <= 0 or balance is None or quote is None or balance.available <= 0:
            continue
        per_unit = quote.bid * (1 - taker_fee_rate)
        size = min(balance.available, short / per_unit)
        reason = f"funding: buys need {need:.2f}, cash {cash_available:.2f}"
        sales.append(Proposal(product_id, Side.SELL, Intent.FUNDING, None, size, reason))
        short -= size * per_unit
    return tuple(sales)
