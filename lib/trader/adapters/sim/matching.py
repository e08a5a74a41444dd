"""The account side of a simulated exchange, over any `MarketData`.

Used for the offline simulated exchange (over SyntheticMarket or CsvMarket) and for PAPER
trading (over live market data, rebuilt each cycle from persisted balances and orders).

Fill model (documented choices):
* Market BUY by `quote_size`, as Coinbase fills it (`size_inclusive_of_fees: true`: the
  fee comes out of quote_size, reference §6.3): price = ask * (1 + slippage), rounded UP to
  the quote increment; the value bought (fees excluded) v and the fee f = v * taker add up
  to quote_size, so v = quote_size / (1 + taker) and f = quote_size * taker / (1 + taker).
  base = v / price, floored to 16 decimals and NOT to base_increment: Coinbase reports such
  a buy's filled_size with 16 decimals, off the base grid (an observed answer: filled_size
  0.0000144833961948 BTC for a $1.50 buy). The fee is then quote_size - base * price, so
  exactly quote_size is debited; it exceeds notional * taker only by what the floor left.
* Market SELL by `base_size`: price = bid * (1 - slippage), rounded DOWN; fee = taker on proceeds.
  (A market BUY with only `base_size` buys that size at the slipped ask, the fee on top.)
* A marketable limit (not post-only) fills at once as taker at the better of the limit and the
  slipped touch. Otherwise it rests (OPEN) and fills whole at its limit price as maker once a
  closed candle that started after the order trades through it (buy: low < limit; sell:
  high > limit). Resting orders are checked lazily, whenever the account is read.
* Holds are derived from resting orders, never stored: a resting BUY holds
  base * limit * (1 + maker) of the quote currency, a resting SELL holds its base size.
* Orders fill whole (no partial fills).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from operator import attrgetter

from trader.domain.codec import parse_utc, to_jsonable
from trader.domain.copying import replaced
from trader.domain.errors import OrderRejected
from trader.domain.models import (
    ZERO,
    AccountFills,
    Balance,
    Candle,
    Conversion,
    ConversionStatus,
    FeeRates,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PlannedConversion,
    PlannedOrder,
    Product,
    Quote,
    Side,
)
from trader.domain.money import BPS, round_to_increment
from trader.ports import Clock, MarketData

_ORDER_NAMESPACE = uuid.UUID("0b1d5e6a-8f3c-4c2e-9d5b-247000000001")
_SCAN_BARS = 300  # candles fetched per request when checking a resting order
# The base a quote-sized buy gets is floored to this grid (Coinbase's filled_size decimals).
_QUOTE_SIZED_BASE_GRID = Decimal("1e-16")


_ALIASES = attrgetter("aliases")
ALIAS_QUOTE = "USDC"  # X-USDC is the X-USD book settled in USDC (Coinbase's unified books)


# A replay's paper account is opened each cycle and mostly reads the same cursor again.
_cursor_time = functools.lru_cache(maxsize=8)(parse_utc)


def book_of(product_id: str) -> str:
    """The book a product id trades on: an X-USDC alias trades the X-USD book."""
    base, quote = product_id.rsplit("-", 1)
    return f"{base}-USD" if quote == ALIAS_QUOTE else product_id


def _on_grid(value: Decimal, increment: Decimal) -> bool:
    return value % increment == 0


def _reject(message: str, reason: str) -> OrderRejected:
    return OrderRejected(f"{reason}: {message}", reason)


class MatchingExchange:
    """Implements `trader.ports.Exchange`: a simulated account matched against `market`."""

    # Market data passed straight through: the market's own methods (set in __init__)
    get_quotes: Callable[[Sequence[str]], Mapping[str, Quote]]
    get_candles: Callable[[str, int, datetime, datetime], Sequence[Candle]]

    def __init__(
        self,
        market: MarketData,
        clock: Clock,
        fees: FeeRates,
        slippage_bps: Decimal,
        balances: Mapping[str, Decimal],
        orders: Mapping[str, Order] | None = None,
        candle_granularity_s: int | None = None,
    ) -> None:
        self.market = market
        self.get_quotes = market.get_quotes
        self.get_candles = market.get_candles
        self._clock = clock
        self._fees = fees
        self._slippage = Decimal(slippage_bps) / BPS
        self._totals: dict[str, Decimal] = {
            cur: Decimal(amount) for cur, amount in balances.items()
        }
        self._orders: dict[str, Order] = dict(orders or {})
        self._guard = threading.RLock()
        # Bars used to decide whether a resting limit traded through: the market's own grain.
        self.granularity_s: int = candle_granularity_s or getattr(market, "granularity_s", 300)
        self._checked_until: dict[str, datetime] = {}
        self._conversions: dict[str, Conversion] = {}
        self._aliased: dict[str, tuple[Product, Product]] = {}  # id -> (market's, with alias)

    # --- market data: passed through -----------------------------------------------------

    def list_products(self) -> Sequence[Product]:
        """The market's products; each USD book also trades as its USDC alias (as on Coinbase)."""
        products = self.market.list_products()
        if all(map(_ALIASES, products)):  # each names its aliases already (a replay's market)
            return list(products)
        return [self._with_alias(p) for p in products]

    def _with_alias(self, product: Product) -> Product:
        """The product with its USDC alias; the same answer while the market's product is the
        same object (a replay's market keeps it until the next bar)."""
        if product.quote_currency != "USD" or product.aliases:
            return product
        seen = self._aliased.get(product.product_id)
        if seen is not None and seen[0] is product:
            return seen[1]
        aliased = replaced(product, aliases=(f"{product.base_currency}-{ALIAS_QUOTE}",))
        self._aliased[product.product_id] = (product, aliased)
        return aliased

    # --- account -------------------------------------------------------------------------

    def get_fee_rates(self) -> FeeRates:
        return self._fees

    # --- the account, safe to call from several threads (one lock for all of it) ----------

    def get_balances(self) -> Mapping[str, Balance]:
        with self._guard:
            return self._get_balances_unlocked()

    def balance_totals(self) -> dict[str, Decimal]:
        with self._guard:
            return self._balance_totals_unlocked()

    def orders(self) -> dict[str, Order]:
        with self._guard:
            return self._orders_unlocked()

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        with self._guard:
            return self._get_order_unlocked(client_order_id, order_id)

    def cancel_order(self, client_order_id: str) -> Order | None:
        with self._guard:
            return self._cancel_order_unlocked(client_order_id)

    def place_order(self, order: PlannedOrder) -> Order:
        with self._guard:
            return self._place_order_unlocked(order)

    def convert(self, conversion: PlannedConversion) -> Conversion:
        """USD <-> USDC at 1:1 without fee, at once; the same client id never converts twice."""
        with self._guard:
            done = self._conversions.get(conversion.client_id)
            if done is not None:
                return done
            pair = {conversion.from_currency, conversion.to_currency}
            if pair != {"USD", ALIAS_QUOTE}:
                raise _reject(f"cannot convert {sorted(pair)}", "INVALID_ARGUMENT")
            self._settle()
            self._check_funds(conversion.from_currency, conversion.amount)
            self._add(conversion.from_currency, -conversion.amount)
            self._add(conversion.to_currency, conversion.amount)
            trade_id = f"sim-convert-{len(self._conversions) + 1}"
            result = Conversion(
                conversion.client_id, trade_id, ConversionStatus.COMPLETED, conversion.amount
            )
            self._conversions[conversion.client_id] = result
            return result

    def deposit(self, currency: str, amount: Decimal) -> None:
        """Money moved in (positive) or out (negative) from outside the exchange, as a transfer
        on the website would. A simulator and test facility: the Exchange port has no such
        call, and the bot never moves funds. A withdrawal takes only what is available."""
        with self._guard:
            self._settle()
            available = self._totals.get(currency, ZERO) - self._holds().get(currency, ZERO)
            if amount < 0 and -amount > available:
                raise ValueError(f"cannot withdraw {-amount} {currency}: {available} available")
            self._add(currency, amount)

    def get_fills_since(self, cursor: str | None) -> AccountFills:
        if cursor is None:
            return AccountFills((), to_jsonable(self._clock.now()))
        after = _cursor_time(cursor)
        with self._guard:
            if not self._orders:  # (most cycles of a replay: nothing to settle, no fills)
                return AccountFills((), cursor)
            self._settle()
            fills = [f for o in self._orders.values() for f in o.fills if f.time >= after]
        fills.sort(key=lambda f: (f.time, f.fill_id))
        newest = to_jsonable(fills[-1].time) if fills else cursor
        return AccountFills(tuple(fills), newest)

    def _get_balances_unlocked(self) -> Mapping[str, Balance]:
        if not self._orders:  # (most cycles of a replay): nothing to settle, nothing held
            return {
                cur: Balance(cur, total - ZERO, ZERO) for cur, total in sorted(self._totals.items())
            }
        return self._balances_with_holds()

    def _balances_with_holds(self) -> Mapping[str, Balance]:
        """Each currency's balance, resting orders settled and their holds taken off."""
        self._settle()
        holds = self._holds()
        currencies = sorted(set(self._totals) | set(holds))
        return {
            cur: Balance(
                cur, self._totals.get(cur, ZERO) - holds.get(cur, ZERO), holds.get(cur, ZERO)
            )
            for cur in currencies
        }

    def _balance_totals_unlocked(self) -> dict[str, Decimal]:
        """Totals per currency (available + hold), for persisting a PAPER account."""
        self._settle()
        return dict(self._totals)

    def _orders_unlocked(self) -> dict[str, Order]:
        """Every order by client_order_id, for persisting a PAPER account."""
        self._settle()
        return dict(self._orders)

    def _get_order_unlocked(
        self, client_order_id: str, order_id: str | None = None
    ) -> Order | None:
        self._settle()
        return self._orders.get(client_order_id)

    def _cancel_order_unlocked(self, client_order_id: str) -> Order | None:
        """Cancel a resting order (its hold goes with it); a final order comes back unchanged."""
        self._settle()
        order = self._orders.get(client_order_id)
        if order is None or order.status != OrderStatus.OPEN:
            return order
        cancelled = dataclasses.replace(order, status=OrderStatus.CANCELLED)
        self._orders[client_order_id] = cancelled
        return cancelled

    def _place_order_unlocked(self, order: PlannedOrder) -> Order:
        self._settle()
        existing = self._orders.get(order.client_order_id)
        if existing is not None:
            return existing
        product = self._tradable_product(order)
        book = book_of(order.venue_id)
        quote = self.market.get_quotes([book]).get(book)
        if quote is None:
            raise _reject(f"no quote for {order.product_id}", "INVALID_NO_LIQUIDITY")
        if order.order_type == OrderType.MARKET:
            placed = self._market_order(order, product, quote)
        else:
            placed = self._limit_order(order, product, quote)
        self._orders[order.client_order_id] = placed
        return placed

    # --- validation ----------------------------------------------------------------------

    def _tradable_product(self, order: PlannedOrder) -> Product:
        product = next(
            (p for p in self.market.list_products() if p.product_id == book_of(order.venue_id)),
            None,
        )
        if product is None:
            raise _reject(f"unknown product {order.venue_id}", "INVALID_PRODUCT_ID")
        if product.product_id != order.venue_id:  # the alias: same book, other settlement
            quote_currency = order.venue_id.rsplit("-", 1)[-1]
            product = dataclasses.replace(
                product, product_id=order.venue_id, quote_currency=quote_currency
            )
        if product.cancel_only:
            raise _reject(f"{product.product_id} is cancel-only", "ORDER_ENTRY_DISABLED")
        if not product.is_tradable:
            raise _reject(
                f"{product.product_id} is not tradable (status {product.status})",
                "UNTRADABLE_PRODUCT",
            )
        is_market = order.order_type == OrderType.MARKET
        if is_market and (product.limit_only or product.auction_mode):
            raise _reject(
                f"{product.product_id} accepts limit orders only", "UNSUPPORTED_ORDER_CONFIGURATION"
            )
        if product.post_only and not (not is_market and order.post_only):
            raise _reject(
                f"{product.product_id} accepts post-only limit orders only",
                "UNSUPPORTED_ORDER_CONFIGURATION",
            )
        return product

    @staticmethod
    def _check_base(size: Decimal | None, product: Product) -> Decimal:
        """A base_size sent by the client: positive, on the base grid, within the limits."""
        if size is None or size <= 0:
            raise _reject(
                f"base_size must be positive, got {size}", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
            )
        if not _on_grid(size, product.base_increment):
            raise _reject(
                f"base_size {size} is not a multiple of {product.base_increment}",
                "INVALID_SIZE_PRECISION",
            )
        return MatchingExchange._check_base_range(size, product)

    @staticmethod
    def _check_base_range(size: Decimal, product: Product) -> Decimal:
        if size <= 0 or size < product.base_min_size:
            raise _reject(
                f"base_size {size} < min {product.base_min_size}",
                "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
            )
        if size > product.base_max_size:
            raise _reject(
                f"base_size {size} > max {product.base_max_size}",
                "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE",
            )
        return size

    @staticmethod
    def _check_notional(notional: Decimal, product: Product) -> None:
        if notional < product.quote_min_size:
            raise _reject(
                f"notional {notional} < min {product.quote_min_size}",
                "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
            )
        if notional > product.quote_max_size:
            raise _reject(
                f"notional {notional} > max {product.quote_max_size}",
                "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE",
            )

    def _check_funds(self, currency: str, needed: Decimal) -> None:
        available = self._totals.get(currency, ZERO) - self._holds().get(currency, ZERO)
        if needed > available:
            raise _reject(f"need {needed} {currency}, available {available}", "INSUFFICIENT_FUND")

    # --- order types ---------------------------------------------------------------------

    def _market_order(self, order: PlannedOrder, product: Product, quote: Quote) -> Order:
        if order.side == Side.SELL or order.quote_size is None:  # sized in base units
            size = self._check_base(order.base_size, product)
            price = self._taker_price(order.side, quote, product)
            self._check_notional(size * price, product)
            return self._fill_now(order, product, price, size)
        budget = order.quote_size
        if budget <= 0:
            raise _reject(
                f"quote_size must be positive, got {budget}", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
            )
        if not _on_grid(budget, product.quote_increment):
            raise _reject(
                f"quote_size {budget} is not a multiple of {product.quote_increment}",
                "INVALID_SIZE_PRECISION",
            )
        self._check_notional(budget, product)
        price = self._taker_price(Side.BUY, quote, product)
        value = budget / (1 + self._fees.taker)  # fee inside quote_size: value * (1 + taker)
        size = round_to_increment(value / price, _QUOTE_SIZED_BASE_GRID, ROUND_FLOOR)
        self._check_base_range(size, product)
        return self._fill_now(order, product, price, size, fee=budget - size * price)

    def _taker_price(self, side: Side, quote: Quote, product: Product) -> Decimal:
        """The touch moved against us by the slippage, rounded to the grid against us too."""
        if side == Side.BUY:
            return round_to_increment(
                quote.ask * (1 + self._slippage), product.quote_increment, ROUND_CEILING
            )
        return round_to_increment(
            quote.bid * (1 - self._slippage), product.quote_increment, ROUND_FLOOR
        )

    def _limit_order(self, order: PlannedOrder, product: Product, quote: Quote) -> Order:
        limit = order.limit_price
        if limit is None or limit <= 0:
            raise _reject(
                f"limit order needs a positive limit_price, got {limit}", "INVALID_PRICE_PRECISION"
            )
        if not _on_grid(limit, product.tick):
            raise _reject(
                f"limit_price {limit} is not a multiple of {product.tick}",
                "INVALID_PRICE_PRECISION",
            )
        size = self._check_base(order.base_size, product)
        self._check_notional(size * limit, product)
        buy = order.side == Side.BUY
        crosses = limit >= quote.ask if buy else limit <= quote.bid
        if crosses and order.post_only:
            raise _reject(
                f"post-only limit {limit} would cross {quote.bid}/{quote.ask}",
                "INVALID_LIMIT_PRICE_POST_ONLY",
            )
        if crosses:
            touch = self._taker_price(order.side, quote, product)
            price = min(limit, touch) if buy else max(limit, touch)
            return self._fill_now(order, product, price, size)
        if buy:
            self._check_funds(product.quote_currency, size * limit * (1 + self._fees.maker))
        else:
            self._check_funds(product.base_currency, size)
        return self._new_order(order, OrderStatus.OPEN)

    def _fill_now(
        self,
        order: PlannedOrder,
        product: Product,
        price: Decimal,
        size: Decimal,
        fee: Decimal | None = None,
    ) -> Order:
        """Fill whole as taker; the fee is taker on the notional unless given (quote-sized)."""
        if fee is None:
            fee = size * price * self._fees.taker
        if order.side == Side.BUY:
            self._check_funds(product.quote_currency, size * price + fee)
        else:
            self._check_funds(product.base_currency, size)
        created = self._new_order(order, OrderStatus.OPEN)
        return self._apply_fill(created, price, size, fee, self._clock.now(), "TAKER")

    def _new_order(self, order: PlannedOrder, status: OrderStatus) -> Order:
        order_id = str(uuid.uuid5(_ORDER_NAMESPACE, order.client_order_id))
        placed = Order.from_planned(order, status, self._clock.now(), order_id=order_id)
        # The exchange echoes only the fields of the order type it was sent, and the id it
        # was sent on (an alias settles in its own quote currency).
        return dataclasses.replace(
            placed,
            product_id=order.venue_id,
            quote_size=order.quote_size if order.order_type == OrderType.MARKET else None,
            limit_price=order.limit_price if order.order_type == OrderType.LIMIT else None,
        )

    def _apply_fill(
        self,
        order: Order,
        price: Decimal,
        size: Decimal,
        fee: Decimal,
        when: datetime,
        liquidity: str,
    ) -> Order:
        base, quote = order.product_id.split("-", 1)
        notional = price * size
        if order.side == Side.BUY:
            self._add(quote, -(notional + fee))
            self._add(base, size)
        else:
            self._add(base, -size)
            self._add(quote, notional - fee)
        fill = Fill(
            fill_id=f"{order.order_id}-{len(order.fills) + 1}",
            order_id=order.order_id or "",
            client_order_id=order.client_order_id,
            product_id=order.product_id,
            side=order.side,
            price=price,
            size=size,
            fee=fee,
            time=when,
            liquidity=liquidity,
        )
        return dataclasses.replace(
            order,
            status=OrderStatus.FILLED,
            fills=(*order.fills, fill),
            filled_size=order.filled_size + size,
            average_filled_price=price,
            total_fees=order.total_fees + fee,
        )

    def _add(self, currency: str, amount: Decimal) -> None:
        self._totals[currency] = self._totals.get(currency, ZERO) + amount

    # --- resting orders ------------------------------------------------------------------

    def _holds(self) -> dict[str, Decimal]:
        holds: dict[str, Decimal] = {}
        for order in self._orders.values():
            if (
                order.status != OrderStatus.OPEN
                or order.base_size is None
                or order.limit_price is None
            ):
                continue
            base, quote = order.product_id.split("-", 1)
            if order.side == Side.BUY:
                amount, currency = (
                    order.base_size * order.limit_price * (1 + self._fees.maker),
                    quote,
                )
            else:
                amount, currency = order.base_size, base
            holds[currency] = holds.get(currency, ZERO) + amount
        return holds

    def _settle(self) -> None:
        """Fill every resting order that a closed candle has traded through since it was placed."""
        for coid, order in list(self._orders.items()):
            price, size = order.limit_price, order.base_size
            if order.status != OrderStatus.OPEN or price is None or size is None:
                continue
            candle = self._first_trade_through(order, price)
            if candle is not None:
                fee = price * size * self._fees.maker
                self._orders[coid] = self._apply_fill(
                    order, price, size, fee, candle.start, "MAKER"
                )

    def _first_trade_through(self, order: Order, limit: Decimal) -> Candle | None:
        """The first closed candle, started at or after the order, whose range crosses `limit`.

        Remembers how far it has looked, so a long-lived account does not rescan old bars.
        """
        now = self._clock.now()
        bar = timedelta(seconds=self.granularity_s)
        cursor = self._checked_until.get(order.client_order_id, order.created_at)
        while cursor < now:
            end = min(cursor + bar * _SCAN_BARS, now)
            book = book_of(order.product_id)
            candles = self.market.get_candles(book, self.granularity_s, cursor, end)
            for candle in candles:
                if candle.low < limit if order.side == Side.BUY else candle.high > limit:
                    return candle
            # Every bar starting before `end` has closed once end + bar <= now.
            resume = candles[-1].start + bar if candles else cursor
            settled = end if end + bar <= now else resume
            if settled <= cursor:
                break
            cursor = settled
        self._checked_until[order.client_order_id] = cursor
        return None
