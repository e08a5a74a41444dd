"""Decimal-based, frozen domain values shared by the pipeline, the cycle and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from trader.domain.copying import quick_init
from trader.domain.money import BPS, ZERO


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # persisted before sending; outcome not yet known
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"  # sent, outcome ambiguous (timeout, 5xx): reconcile, never assume rejected
    DRY_RUN = "DRY_RUN"  # planned in DRY_RUN mode, never sent

    @property
    def is_final(self) -> bool:
        return self in {
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
            OrderStatus.DRY_RUN,
        }


class Mode(StrEnum):
    DRY_RUN = "DRY_RUN"
    PAPER = "PAPER"
    LIVE = "LIVE"


class TradingState(StrEnum):
    """Operator-controlled state: ACTIVE trades; REDUCING only exits; HALTED places nothing new."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class Intent(StrEnum):
    ENTRY = "ENTRY"
    EXIT = "EXIT"
    FUNDING = "FUNDING"  # a sale of a funding source that pays for this cycle's buys


class NoTradeReason(StrEnum):
    """Why a cycle placed no order. The first six keep their original spelling (DESIGN.md)."""

    EMPTY_UNIVERSE = "empty_universe"
    NO_CANDIDATES_FROM_TRIGGERS = "no_candidates_from_triggers"
    RULES_ENGINE_NO_PROPOSALS = "rules_engine_no_proposals"
    ALL_PROPOSALS_BLOCKED_BY_RISK = "all_proposals_blocked_by_risk"
    NO_ORDERS_AFTER_EXECUTION_FILTER = "no_orders_after_execution_filter"
    LOCK_HELD = "lock_held"
    KILL_SWITCH = "kill_switch"
    STALE_MARKET_DATA = "stale_market_data"
    INSUFFICIENT_TIME = "insufficient_time"
    DUPLICATE_INVOCATION = "duplicate_invocation"
    ORDERS_REJECTED = "orders_rejected"  # every order sent was refused by the exchange
    REGIME_BLOCKED = "regime_blocked"  # every signalled entry was refused by the regime
    EDGE_BELOW_COST = "edge_below_cost"  # an entry's expected move would not pay its round trip

    @staticmethod
    def exception(exc: BaseException) -> str:
        return f"exception:{type(exc).__name__}"


@quick_init
@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    base_currency: str
    quote_currency: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal
    price_increment: Decimal | None = None
    status: str = "online"
    disabled: bool = False
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False
    view_only: bool = False
    auction_mode: bool = False
    price: Decimal = ZERO
    volume_24h_quote: Decimal = ZERO  # approximate 24h volume in quote currency
    price_change_24h_pct: Decimal | None = None  # None when the source does not say
    aliases: tuple[str, ...] = ()  # the same book under other quote currencies (BTC-USDC)

    @property
    def tick(self) -> Decimal:
        """Grid that limit prices must sit on."""
        return self.price_increment or self.quote_increment

    @property
    def is_tradable(self) -> bool:
        return self.status == "online" and not (
            self.disabled or self.trading_disabled or self.cancel_only or self.view_only
        )


@quick_init
@dataclass(frozen=True, slots=True)
class Quote:
    product_id: str
    bid: Decimal
    ask: Decimal
    time: datetime
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def spread_bps(self) -> Decimal:
        mid = self.mid
        if mid <= 0:
            return Decimal("Infinity")
        return (self.ask - self.bid) / mid * BPS


@quick_init
@dataclass(frozen=True, slots=True)
class Candle:
    """One bar; `start` is the UTC open time of the bar."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base units


@quick_init
@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    available: Decimal
    hold: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.available + self.hold


@quick_init
@dataclass(frozen=True, slots=True)
class FeeRates:
    maker: Decimal
    taker: Decimal


@quick_init
@dataclass(frozen=True, slots=True)
class Position:
    product_id: str
    size: Decimal  # base units
    avg_entry_price: Decimal
    opened_at: datetime
    entry_fees: Decimal = ZERO  # quote fees paid on entry, charged pro rata to realized PnL
    high_watermark: Decimal = ZERO  # highest bid seen since entry, for the trailing stop

    @property
    def cost(self) -> Decimal:
        return self.size * self.avg_entry_price


@quick_init
@dataclass(frozen=True, slots=True)
class Signal:
    """One trigger firing for one product; strength is in [0, 1]."""

    product_id: str
    kind: str
    strength: Decimal
    detail: str


@quick_init
@dataclass(frozen=True, slots=True)
class Proposal:
    product_id: str
    side: Side
    intent: Intent
    quote_size: Decimal | None  # entries: quote to spend
    base_size: Decimal | None  # exits: base to sell
    reason: str
    tier: str | None = None
    conviction: Decimal = ZERO
    # Take liquidity now whatever execution.order_type and post_only_entries say (an entry
    # whose limit order was cancelled unfilled, with unfilled_entry_fallback: market)
    at_market: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class RiskDecision:
    proposal: Proposal
    approved: bool
    check: str | None = None  # name of the blocking check
    detail: str | None = None  # the numbers behind the block


@quick_init
@dataclass(frozen=True, slots=True)
class PlannedOrder:
    client_order_id: str
    product_id: str
    side: Side
    order_type: OrderType
    intent: Intent
    base_size: Decimal | None  # set for sells and limit orders
    quote_size: Decimal | None  # set for market buys
    limit_price: Decimal | None = None
    post_only: bool = False
    expected_price: Decimal = ZERO
    expected_slippage_bps: Decimal = ZERO
    reason: str = ""
    # What an exit cannot sell because it is less than one base increment (a quote-sized
    # buy's base is off the grid): written off the book once the exit has filled.
    dust: Decimal = ZERO
    # The id the order is sent on when it is not `product_id`: the same book quoted in the
    # currency that pays (BTC-USDC for BTC-USD). The bot books it under `product_id`.
    venue: str | None = None

    @property
    def venue_id(self) -> str:
        return self.venue or self.product_id


@quick_init
@dataclass(frozen=True, slots=True)
class PlannedConversion:
    """A stablecoin conversion (USD <-> USDC) the plan needs before its buys."""

    client_id: str  # deterministic per cycle and leg: a retried cycle finds it, never redoes it
    from_currency: str
    to_currency: str
    amount: Decimal  # in from_currency
    reason: str
    for_order: str = ""  # the client_order_id of the buy it pays for


class ConversionStatus(StrEnum):
    PENDING = "PENDING"  # written ahead, not yet sent
    STARTED = "STARTED"  # committed, not completed yet
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # refused, cancelled, or never completed


@quick_init
@dataclass(frozen=True, slots=True)
class Conversion:
    """What the exchange made of a planned conversion."""

    client_id: str
    trade_id: str | None
    status: ConversionStatus
    amount: Decimal  # in the from currency
    detail: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    order_id: str
    client_order_id: str
    product_id: str
    side: Side
    price: Decimal
    size: Decimal  # base units
    fee: Decimal  # quote units
    time: datetime
    liquidity: str = "TAKER"

    @property
    def notional(self) -> Decimal:
        return self.price * self.size


@quick_init
@dataclass(frozen=True, slots=True)
class Order:
    client_order_id: str
    product_id: str
    side: Side
    order_type: OrderType
    status: OrderStatus
    created_at: datetime
    intent: Intent = Intent.ENTRY
    order_id: str | None = None
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    filled_size: Decimal = ZERO
    average_filled_price: Decimal = ZERO
    total_fees: Decimal = ZERO
    fills: tuple[Fill, ...] = field(default_factory=tuple)
    failure_reason: str | None = None
    # Why the fill records do not add up to the order's totals (None when they do, or were not
    # checked). Diagnostic text, so it takes no part in comparing two orders.
    fills_mismatch: str | None = field(default=None, compare=False)
    dust: Decimal = ZERO  # as planned (PlannedOrder.dust)

    @classmethod
    def from_planned(
        cls,
        planned: PlannedOrder,
        status: OrderStatus,
        created_at: datetime,
        order_id: str | None = None,
    ) -> Order:
        """The order as the plan sent it, before any fill."""
        return cls(
            client_order_id=planned.client_order_id,
            product_id=planned.product_id,
            side=planned.side,
            order_type=planned.order_type,
            status=status,
            created_at=created_at,
            intent=planned.intent,
            order_id=order_id,
            base_size=planned.base_size,
            quote_size=planned.quote_size,
            limit_price=planned.limit_price,
            dust=planned.dust,
        )


@quick_init
@dataclass(frozen=True, slots=True)
class AccountFills:
    """The account's fills at or after a cursor, oldest first, and the cursor to go on from."""

    fills: tuple[Fill, ...]
    cursor: str


@quick_init
@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    as_of: datetime
    products: dict[str, Product]
    quotes: dict[str, Quote]
    # ascending by start, closed bars only; a replay's market hands BarWindows (views of its
    # history that read as these tuples: domain/bar_window.py)
    candles: dict[str, tuple[Candle, ...]]
    balances: dict[str, Balance]
    fees: FeeRates
    account_fills: AccountFills | None = None  # read with the balances, for reconciliation


@quick_init
@dataclass(frozen=True, slots=True)
class CycleResult:
    """What one cycle did, for the caller (handler summary, local runner, replay)."""

    cycle_id: str
    mode: Mode
    started_at: datetime
    finished_at: datetime
    no_trade_reason: str | None
    no_trade_detail: str | None
    orders: tuple[Order, ...]  # placed this cycle (or planned, in DRY_RUN)
    reconciled: tuple[Order, ...]  # earlier orders whose state was checked this cycle
    regime: str | None
    equity: Decimal | None
    exposure: Decimal | None  # market value of the positions
    drift: tuple[str, ...]  # currencies whose balance drifted from the book this cycle
    realized_pnl_today: Decimal | None
    realized_pnl_total: Decimal | None
    fees_total: Decimal | None
    new_fills: tuple[Fill, ...]  # fills booked for the first time this cycle
    protection_tripped: str | None  # a protection that moved the trading state this cycle
    record: dict[str, Any]  # the audit record, as written
