"""The execution plan: approved proposals become exchange-ready orders, or are dropped, with why.

Filters: tradability, liquidity (order vs 24h volume), expected slippage (half spread plus
impact), increments (sizes round down, limit prices round to the safe side) and min sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from trader.domain.config import ExecutionConfig
from trader.domain.copying import quick_init
from trader.domain.ids import client_order_id, conversion_stem
from trader.domain.models import (
    ZERO,
    Intent,
    OrderType,
    PlannedOrder,
    Product,
    Proposal,
    Quote,
    Side,
)
from trader.domain.money import BPS, HUNDRED, round_to_increment


@quick_init
@dataclass(frozen=True, slots=True)
class Dropped:
    proposal: Proposal
    reason: str


@quick_init
@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    orders: tuple[PlannedOrder, ...]
    dropped: tuple[Dropped, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class OrderIds:
    portfolio_id: str
    cycle_id: str

    def conversion_prefix(self) -> str:
        """The stem of this cycle's conversion ids (a retried cycle plans the same ones)."""
        return conversion_stem(self.portfolio_id, self.cycle_id)

    def for_proposal(self, proposal: Proposal) -> str:
        """The deterministic client_order_id of the proposal's one order this cycle."""
        leg = 1 if proposal.intent is Intent.FUNDING else 0  # beside an exit of the same coin
        return client_order_id(
            self.portfolio_id, self.cycle_id, proposal.product_id, proposal.side, leg
        )


def round_down(value: Decimal, increment: Decimal) -> Decimal:
    return round_to_increment(value, increment, ROUND_FLOOR)


def round_up(value: Decimal, increment: Decimal) -> Decimal:
    return round_to_increment(value, increment, ROUND_CEILING)


def orderable_base(size: Decimal, product: Product) -> Decimal:
    """The most of `size` one order can carry: rounded down to base_increment, or 0 when that
    is below base_min_size (what no order may carry). A position it gives 0 for is dust."""
    base = round_down(size, product.base_increment)
    return base if base >= product.base_min_size and base > 0 else ZERO


def expected_slippage_bps(
    notional: Decimal, quote: Quote, product: Product, cfg: ExecutionConfig
) -> Decimal:
    """Half the spread plus `impact_coefficient` bps for every 1 % of 24h volume the order is."""
    half_spread = quote.spread_bps / 2
    if product.volume_24h_quote <= 0:
        return Decimal("Infinity")
    share_pct = notional / product.volume_24h_quote * HUNDRED
    return half_spread + cfg.impact_coefficient * share_pct


def order_type_for(
    proposal: Proposal, product: Product, cfg: ExecutionConfig
) -> tuple[OrderType, bool]:
    """(order type, post-only) for the proposal on the product: the product's own limits
    first, then a fallback that takes liquidity now, post-only entries, then order_type."""
    if product.post_only:
        return OrderType.LIMIT, True
    if proposal.at_market:
        return (OrderType.LIMIT, False) if product.limit_only else (OrderType.MARKET, False)
    if cfg.post_only_entries and proposal.intent is Intent.ENTRY:
        return OrderType.LIMIT, True
    if product.limit_only or cfg.order_type == "limit":
        return OrderType.LIMIT, cfg.post_only
    return OrderType.MARKET, False


def _limit_price(
    proposal: Proposal, quote: Quote, product: Product, post_only: bool, cfg: ExecutionConfig
) -> Decimal:
    """Entries rest inside the touch by `limit_offset_bps`; post-only never crosses the book.

    An exit that may take liquidity is priced to sell now: at the bid less the most slippage
    allowed, so a falling market cannot leave a stop-loss resting above it.
    """
    offset = cfg.limit_offset_bps / BPS
    if proposal.side is Side.BUY:
        price = round_down(quote.ask * (1 - offset), product.tick)
        return min(price, quote.ask - product.tick) if post_only else price
    if post_only:
        return max(round_up(quote.bid * (1 + offset), product.tick), quote.bid + product.tick)
    # Exits and funding sales: at most the bid, so they always cross.
    floor = round_up(quote.bid * (1 - cfg.max_slippage_bps / BPS), product.tick)
    return min(floor, round_down(quote.bid, product.tick))


def plan_one(
    proposal: Proposal,
    product: Product | None,
    quote: Quote | None,
    min_notional: Decimal,
    cfg: ExecutionConfig,
    ids: OrderIds,
) -> PlannedOrder | str:
    """The order for one proposal, or the reason there is none."""
    if product is None or not product.is_tradable:
        return "product_not_tradable"
    if quote is None:
        return "no_quote"
    order_type, post_only = order_type_for(proposal, product, cfg)
    touch = quote.ask if proposal.side is Side.BUY else quote.bid
    slip = expected_slippage_bps(_notional(proposal, quote), quote, product, cfg)
    refused = _entry_filters(proposal, quote, product, slip, cfg)
    if refused is not None:
        return refused
    limit = (
        _limit_price(proposal, quote, product, post_only, cfg)
        if order_type is OrderType.LIMIT
        else None
    )
    if limit is not None and limit <= 0:
        return f"no_valid_limit_price: {limit} (touch {touch}, tick {product.tick})"
    price = touch if limit is None else limit
    sized = _size(proposal, product, price, order_type)
    if isinstance(sized, str):
        return sized
    base, quote_size, value = sized
    floor = max(min_notional if proposal.intent is Intent.ENTRY else ZERO, product.quote_min_size)
    if value < floor:
        return f"below_min_notional: {value:.2f} < {floor}"
    return PlannedOrder(
        client_order_id=ids.for_proposal(proposal),
        product_id=proposal.product_id,
        side=proposal.side,
        order_type=order_type,
        intent=proposal.intent,
        base_size=base,
        quote_size=quote_size,
        limit_price=limit,
        post_only=post_only,
        expected_price=price,
        expected_slippage_bps=slip,
        reason=proposal.reason,
        dust=_exit_dust(proposal, base, product),
    )


def _notional(proposal: Proposal, quote: Quote) -> Decimal:
    """What the proposal is worth in quote: the quote to spend, or the base to sell at the bid."""
    if proposal.side is Side.BUY:
        return proposal.quote_size or ZERO
    return (proposal.base_size or ZERO) * quote.bid


def _entry_filters(
    proposal: Proposal, quote: Quote, product: Product, slip: Decimal, cfg: ExecutionConfig
) -> str | None:
    """Why an entry is too big for the product's liquidity or slippage; exits face neither
    filter, so no filter may trap a position."""
    if proposal.intent is not Intent.ENTRY:
        return None
    notional = _notional(proposal, quote)
    if notional > product.volume_24h_quote * cfg.max_order_pct_of_volume / HUNDRED:
        return f"liquidity: {notional:.2f} > {cfg.max_order_pct_of_volume}% of 24h volume"
    if slip > cfg.max_slippage_bps:
        return f"slippage: expected {slip:.2f}bps > {cfg.max_slippage_bps}bps"
    return None


def _exit_dust(proposal: Proposal, base: Decimal | None, product: Product) -> Decimal:
    """What an exit leaves of its position because it is below one base increment."""
    if proposal.intent is not Intent.EXIT or proposal.base_size is None or base is None:
        return ZERO
    left = proposal.base_size - base
    return left if ZERO < left < product.base_increment else ZERO


def _size(
    proposal: Proposal, product: Product, price: Decimal, order_type: OrderType
) -> tuple[Decimal | None, Decimal | None, Decimal] | str:
    """(base_size, quote_size, notional) on the product's grid, or why it cannot be sized."""
    if proposal.side is Side.BUY and order_type is OrderType.MARKET:
        wanted_quote = min(proposal.quote_size or ZERO, product.quote_max_size)
        quote_size = round_down(wanted_quote, product.quote_increment)
        if quote_size <= 0:
            return "below_min_size: quote size rounds to 0"
        return None, quote_size, quote_size
    wanted = (
        proposal.base_size if proposal.side is Side.SELL else (proposal.quote_size or ZERO) / price
    )
    base = orderable_base(wanted or ZERO, product)
    if base <= 0:
        rounded = round_down(wanted or ZERO, product.base_increment)
        return f"below_min_size: {rounded} < {product.base_min_size}"
    base = min(base, round_down(product.base_max_size, product.base_increment))
    return base, None, base * price


def plan_orders(
    approved: Sequence[Proposal],
    products: Mapping[str, Product],
    quotes: Mapping[str, Quote],
    min_notional: Decimal,
    cfg: ExecutionConfig,
    ids: OrderIds,
) -> ExecutionPlan:
    orders: list[PlannedOrder] = []
    dropped: list[Dropped] = []
    for proposal in approved:
        pid = proposal.product_id
        planned = plan_one(proposal, products.get(pid), quotes.get(pid), min_notional, cfg, ids)
        if isinstance(planned, str):
            dropped.append(Dropped(proposal, planned))
        else:
            orders.append(planned)
    return ExecutionPlan(tuple(orders), tuple(dropped))
