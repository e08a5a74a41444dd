"""Liquidation routes: every holding becomes a route of legs into the target (USDC or USD),
or the reason it is left alone.

Routes, in order of preference: sell on X-<target>; sell on X-<twin> and convert the twin
(USD <-> USDC, the Convert API; there is no USDC-USD book); sell on X-BTC or X-ETH and then
sell the bridge the same two ways. The first route whose every leg is possible wins, so an
intermediate is never bought unless it can be sold on (and a kept currency is never a
bridge). Legs after the first are sized from the expected proceeds of the leg before and
marked `estimated`: the executor sizes them from the actual proceeds.

Pure: holdings, products and quotes in; a frozen plan out, sorted by currency.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from trader.domain.models import ZERO, Product, Quote
from trader.pipeline.execution import BPS, round_down, round_up

TWIN = {"USDC": "USD", "USD": "USDC"}  # one unified book, 1:1 by convert
BRIDGES = ("BTC", "ETH")
CENT = Decimal("0.01")  # convert amounts are sent in cents


class SkipReason(StrEnum):
    KEEP = "keep"
    ALREADY_TARGET = "already_target"
    DUST_BELOW_MIN_VALUE = "dust_below_min_value"
    BELOW_MIN_SIZE = "below_min_size"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    POST_ONLY = "post_only"
    NO_VALID_LIMIT_PRICE = "no_valid_limit_price"
    NO_QUOTE = "no_quote"
    NO_ROUTE = "no_route"


# When no route works, the reported reason is the one of the route that got furthest.
_PROGRESS = {
    SkipReason.NO_ROUTE: 0,
    SkipReason.NO_QUOTE: 1,
    SkipReason.POST_ONLY: 1,
    SkipReason.NO_VALID_LIMIT_PRICE: 2,
    SkipReason.BELOW_MIN_SIZE: 3,
    SkipReason.BELOW_MIN_NOTIONAL: 3,
}


@dataclass(frozen=True, slots=True)
class SellLeg:
    product_id: str
    size: Decimal  # base units, on the product's base_increment grid
    limit_price: Decimal | None  # set when the product is limit_only; None: a market sell
    expected_proceeds: Decimal  # quote units at the bid, less the fee estimate
    estimated: bool  # size is the previous leg's expected proceeds, not a balance
    kind: Literal["sell"] = field(default="sell", init=False)


@dataclass(frozen=True, slots=True)
class ConvertLeg:
    from_currency: str
    to_currency: str
    size: Decimal  # in from_currency, in cents
    estimated: bool
    kind: Literal["convert"] = field(default="convert", init=False)


Leg = SellLeg | ConvertLeg


@dataclass(frozen=True, slots=True)
class CurrencyPlan:
    currency: str
    amount: Decimal  # available balance
    value: Decimal | None  # in target units at the bid; None when nothing quotes it
    route: tuple[Leg, ...]  # empty when skipped
    skip_reason: SkipReason | None
    detail: str  # the numbers behind a skip, or what a route leaves behind
    remainder: Decimal  # what stays in `currency` after the route (everything when skipped)


@dataclass(frozen=True, slots=True)
class LiquidationPlan:
    target: str
    items: tuple[CurrencyPlan, ...]  # one per currency held, sorted by currency

    @property
    def routed(self) -> tuple[CurrencyPlan, ...]:
        return tuple(item for item in self.items if item.route)

    @property
    def skipped(self) -> tuple[CurrencyPlan, ...]:
        return tuple(item for item in self.items if not item.route)

    @property
    def nothing_to_do(self) -> bool:
        return not self.routed


@dataclass(frozen=True, slots=True)
class _Hop:
    source: str
    dest: str
    product_id: str | None  # None: a convert


@dataclass(frozen=True, slots=True)
class _Miss:
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class _Market:
    products: Mapping[str, Product]
    quotes: Mapping[str, Quote]
    keep: frozenset[str]
    max_slippage_bps: Decimal
    fee_rate: Decimal


Path = tuple[_Hop, ...]


def plan_liquidation(
    holdings: Mapping[str, Decimal],
    products: Mapping[str, Product],
    quotes: Mapping[str, Quote],
    *,
    target: str = "USDC",
    keep: Collection[str] = (),
    min_value: Decimal = Decimal(1),
    max_slippage_bps: Decimal | int = 100,
    taker_fee_rate: Decimal = ZERO,
) -> LiquidationPlan:
    """A route or a skip reason for every currency with a positive available balance."""
    if target not in TWIN:
        raise ValueError(f"target {target!r}: must be one of {sorted(TWIN)}")
    market = _Market(products, quotes, frozenset(keep), Decimal(max_slippage_bps), taker_fee_rate)
    items = tuple(
        _plan_currency(currency, holdings[currency], target, min_value, market)
        for currency in sorted(holdings)
        if holdings[currency] > 0
    )
    return LiquidationPlan(target, items)


def _plan_currency(
    currency: str, amount: Decimal, target: str, min_value: Decimal, market: _Market
) -> CurrencyPlan:
    if currency == target:
        return _skip(currency, amount, amount, SkipReason.ALREADY_TARGET, f"already {target}")
    paths = _paths(currency, target)
    values = (_value(amount, path, market.quotes) for path in paths)
    value = next((v for v in values if v is not None), None)  # by the first quoted path
    if currency in market.keep:
        return _skip(currency, amount, value, SkipReason.KEEP, "in the keep list")
    if value is not None and value < min_value:
        detail = f"value {value} {target} < min_value {min_value}"
        return _skip(currency, amount, value, SkipReason.DUST_BELOW_MIN_VALUE, detail)
    misses: list[_Miss] = []
    for path in paths:
        built = _build(path, amount, market)
        if isinstance(built, _Miss):
            misses.append(built)
            continue
        left = amount - built[0].size
        return CurrencyPlan(
            currency,
            amount,
            _value(amount, path, market.quotes),
            built,
            None,
            _remainder_note(currency, amount, left, built[0], market.products),
            left,
        )
    best = max(misses, key=lambda miss: _PROGRESS[miss.reason])  # first of the furthest
    detail = "; ".join(dict.fromkeys([best.detail, *(miss.detail for miss in misses)]))
    return _skip(currency, amount, value, best.reason, detail)


def _skip(
    currency: str, amount: Decimal, value: Decimal | None, reason: SkipReason, detail: str
) -> CurrencyPlan:
    return CurrencyPlan(currency, amount, value, (), reason, detail, amount)


def _paths(currency: str, target: str) -> tuple[Path, ...]:
    """Candidate routes for `currency`, best first."""
    twin = TWIN[target]
    if currency == twin:
        return ((_Hop(twin, target, None),),)
    paths: list[Path] = []
    for via in (target, twin, *BRIDGES):
        if via != currency:
            first = _Hop(currency, via, f"{currency}-{via}")
            paths.extend((first, *tail) for tail in _tails(via, target))
    return tuple(paths)


def _tails(via: str, target: str) -> tuple[Path, ...]:
    """The ways from `via` to the target without another bridge."""
    twin = TWIN[target]
    to_target = _Hop(twin, target, None)
    if via == target:
        return ((),)
    if via == twin:
        return ((to_target,),)
    return ((_Hop(via, target, f"{via}-{target}"),), (_Hop(via, twin, f"{via}-{twin}"), to_target))


def _value(amount: Decimal, path: Path, quotes: Mapping[str, Quote]) -> Decimal | None:
    """`amount` in target units at the bid of every sell along `path` (a convert is 1:1)."""
    value = amount
    for hop in path:
        if hop.product_id is None:
            continue
        quote = quotes.get(hop.product_id)
        if quote is None or quote.bid <= 0:
            return None
        value *= quote.bid
    return value


def _build(path: Path, amount: Decimal, market: _Market) -> tuple[Leg, ...] | _Miss:
    """The legs of `path` for `amount`, or why one of them cannot be placed."""
    legs: list[Leg] = []
    wanted = amount
    for index, hop in enumerate(path):
        if hop.source in market.keep:
            return _Miss(SkipReason.NO_ROUTE, f"{hop.source} is kept, so it is no bridge")
        estimated = index > 0
        leg = (
            _convert_leg(hop, wanted, estimated)
            if hop.product_id is None
            else _sell_leg(hop.product_id, wanted, estimated, market)
        )
        if isinstance(leg, _Miss):
            return leg
        legs.append(leg)
        wanted = leg.expected_proceeds if isinstance(leg, SellLeg) else leg.size
    return tuple(legs)


def _convert_leg(hop: _Hop, wanted: Decimal, estimated: bool) -> ConvertLeg | _Miss:
    size = round_down(wanted, CENT)
    if size <= 0:
        label = f"convert {hop.source}->{hop.dest}"
        return _Miss(SkipReason.BELOW_MIN_SIZE, f"{label}: {_amount(wanted, estimated)} < {CENT}")
    return ConvertLeg(hop.source, hop.dest, size, estimated)


def _sell_leg(
    product_id: str, wanted: Decimal, estimated: bool, market: _Market
) -> SellLeg | _Miss:
    product = market.products.get(product_id)
    if product is None:
        return _Miss(SkipReason.NO_ROUTE, f"{product_id}: no such product")
    blocked = _blocked(product)
    if blocked:
        return _Miss(SkipReason.NO_ROUTE, f"{product_id}: {blocked}")
    if product.post_only:
        return _Miss(SkipReason.POST_ONLY, f"{product_id}: post_only, a sell cannot take")
    quote = market.quotes.get(product_id)
    if quote is None or quote.bid <= 0:
        return _Miss(SkipReason.NO_QUOTE, f"{product_id}: no bid")
    return _sized_sell(product, quote.bid, wanted, estimated, market)


def _sized_sell(
    product: Product, bid: Decimal, wanted: Decimal, estimated: bool, market: _Market
) -> SellLeg | _Miss:
    pid = product.product_id
    size = round_down(min(wanted, product.base_max_size), product.base_increment)
    if size <= 0 or size < product.base_min_size:
        detail = f"{pid}: {_amount(wanted, estimated)} rounds to {size}"
        return _Miss(SkipReason.BELOW_MIN_SIZE, f"{detail} < base_min_size {product.base_min_size}")
    limit = _limit_price(product, bid, market.max_slippage_bps) if product.limit_only else None
    if limit is not None and limit <= 0:
        return _Miss(SkipReason.NO_VALID_LIMIT_PRICE, f"{pid}: bid {bid} < tick {product.tick}")
    price = bid if limit is None else limit
    if size * price < product.quote_min_size:
        detail = f"{pid}: {size} x {price} = {size * price} < quote_min_size"
        return _Miss(SkipReason.BELOW_MIN_NOTIONAL, f"{detail} {product.quote_min_size}")
    proceeds = round_down(size * bid * (1 - market.fee_rate), product.quote_increment)
    return SellLeg(pid, size, limit, proceeds, estimated)


def _limit_price(product: Product, bid: Decimal, max_slippage_bps: Decimal) -> Decimal:
    """The lowest price accepted, on the tick and never above the bid, so the sell crosses."""
    floor = round_up(bid * (1 - max_slippage_bps / BPS), product.tick)
    return min(floor, round_down(bid, product.tick))


def _blocked(product: Product) -> str | None:
    """Why no order can be placed on `product`, or None."""
    if product.status != "online":
        return f"status {product.status}"
    flags = ("disabled", "trading_disabled", "cancel_only", "view_only", "auction_mode")
    return next((flag for flag in flags if getattr(product, flag)), None)


def _amount(wanted: Decimal, estimated: bool) -> str:
    return f"expected proceeds {wanted}" if estimated else str(wanted)


def _remainder_note(
    currency: str, amount: Decimal, left: Decimal, first: Leg, products: Mapping[str, Product]
) -> str:
    """What the route leaves in `currency`, and why it cannot be sold too."""
    if left <= 0:
        return ""
    if isinstance(first, ConvertLeg):
        return f"{left} {currency} remains: converts are in cents"
    product = products[first.product_id]
    if amount > product.base_max_size:
        return f"{left} {currency} remains: one sell is capped at base_max_size"
    return f"{left} {currency} remains: less than base_increment {product.base_increment}"
