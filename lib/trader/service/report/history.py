"""A run's history read from its audit records: equity, prices, regimes, outcomes and trades.

Pure: records in (plain JSON objects, as any sink wrote them: a replay, a PAPER or LIVE run's
JSONL log or S3 objects), values out. `HistoryBuilder.add` folds one record at a time, so a
replay of a hundred thousand cycles never holds its records in memory.

A fill is seen when an order's `filled_size` grows from one record to the next (placed, or
reconciled in a later cycle); its time is that cycle's. A trade opens with the first buy of a
product the book does not hold and closes with the sell after which the bot's book
(`state.positions`) no longer holds it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from trader.domain.copying import quick_init
from trader.service.audit import record_started_at

ZERO = Decimal(0)
CYCLE = "cycle"  # the record_type of a cycle's record (the field is absent on those)


@dataclass(frozen=True, slots=True)
class Fill:
    time: datetime
    product_id: str
    side: str  # BUY | SELL
    size: Decimal
    price: Decimal
    fee: Decimal
    reason: str  # the planned order's reason, e.g. "stop_loss -3.02% <= -3%"


@dataclass(slots=True)
class Trade:
    """One round trip of a product: from flat to flat (or still open at the end)."""

    product_id: str
    entry_time: datetime
    bought: Decimal = ZERO  # base
    cost: Decimal = ZERO  # quote paid for it, fees excluded
    sold: Decimal = ZERO
    proceeds: Decimal = ZERO  # quote received, fees excluded
    fees: Decimal = ZERO
    exit_time: datetime | None = None
    exit_reason: str = ""
    open: bool = True

    @property
    def entry_price(self) -> Decimal:
        return self.cost / self.bought if self.bought else ZERO

    @property
    def exit_price(self) -> Decimal | None:
        return self.proceeds / self.sold if self.sold else None

    @property
    def gross_pnl(self) -> Decimal:
        """Proceeds less cost, before fees; an open trade counts only what it sold."""
        sold_cost = self.entry_price * self.sold if self.open else self.cost
        return self.proceeds - sold_cost

    @property
    def pnl(self) -> Decimal:
        return self.gross_pnl - self.fees

    @property
    def return_pct(self) -> Decimal:
        return self.pnl / self.cost * 100 if self.cost else ZERO


@quick_init
@dataclass(frozen=True, slots=True)
class Point:
    """What one cycle saw."""

    time: datetime
    equity: Decimal | None  # cash + positions at the bid, before this cycle's orders
    exposure: Decimal | None  # positions at the bid
    regime: str | None
    prices: Mapping[str, Decimal]  # mid of each quote


@dataclass(slots=True)
class RunHistory:
    points: list[Point] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)  # in the order they opened
    outcomes: Counter[str] = field(default_factory=Counter)  # no_trade_reason, or "traded"
    modes: Counter[str] = field(default_factory=Counter)
    other_records: Counter[str] = field(default_factory=Counter)  # e.g. liquidation


class HistoryBuilder:
    """Folds audit records, in time order, into a RunHistory."""

    def __init__(self) -> None:
        self.history = RunHistory()
        self._filled: dict[str, tuple[Decimal, Decimal, Decimal]] = {}  # coid -> size, value, fee
        self._reasons: dict[str, str] = {}  # coid -> the planned order's reason
        self._open: dict[str, Trade] = {}  # product -> its open trade

    def add(self, record: Mapping[str, Any]) -> None:
        kind = record.get("record_type", CYCLE)
        if kind != CYCLE:
            self.history.other_records[str(kind)] += 1
            return
        when = record_started_at(record)
        self.history.modes[str(record.get("mode"))] += 1
        self.history.outcomes[record.get("no_trade_reason") or "traded"] += 1
        self.history.points.append(_point(when, record))
        orders = record.get("orders") or {}
        for planned in orders.get("planned") or ():
            self._reasons[planned["client_order_id"]] = planned.get("reason") or ""
        for order in (*(orders.get("reconciled") or ()), *(orders.get("placed") or ())):
            fill = self._new_fill(when, order)
            if fill is not None:
                self._book(fill)
        state = record.get("state")
        if state is not None and self._open:
            self._close_flat(set(state.get("positions") or {}), when)

    def _new_fill(self, when: datetime, order: Mapping[str, Any]) -> Fill | None:
        """The part of `order` filled since it was last seen, or None."""
        coid = order["client_order_id"]
        size = _dec(order.get("filled_size"))
        price = _dec(order.get("average_filled_price"))
        fee = _dec(order.get("fees"))
        seen_size, seen_value, seen_fee = self._filled.get(coid, (ZERO, ZERO, ZERO))
        if size <= seen_size:
            return None
        self._filled[coid] = (size, size * price, fee)
        added = size - seen_size
        reason = self._reasons.get(coid, "")
        value = size * price - seen_value
        return Fill(
            when, order["product_id"], order["side"], added, value / added, fee - seen_fee, reason
        )

    def _book(self, fill: Fill) -> None:
        self.history.fills.append(fill)
        trade = self._open.get(fill.product_id)
        if fill.side == "BUY":
            if trade is None:
                trade = self._open[fill.product_id] = Trade(fill.product_id, fill.time)
                self.history.trades.append(trade)
            trade.bought += fill.size
            trade.cost += fill.size * fill.price
        elif trade is not None:  # a sell of coins no trade bought (adopted): not a trade
            trade.sold += fill.size
            trade.proceeds += fill.size * fill.price
            trade.exit_time, trade.exit_reason = fill.time, fill.reason
        else:
            return
        trade.fees += fill.fee

    def _close_flat(self, held: set[str], when: datetime) -> None:
        for pid in [p for p, t in self._open.items() if p not in held and t.sold]:
            trade = self._open.pop(pid)
            trade.open = False
            trade.exit_time = trade.exit_time or when


def build_history(records: Iterable[Mapping[str, Any]]) -> RunHistory:
    builder = HistoryBuilder()
    for record in records:
        builder.add(record)
    return builder.history


def _point(when: datetime, record: Mapping[str, Any]) -> Point:
    state = record.get("state") or {}
    exposure = state.get("exposure") or {}
    regime = record.get("regime") or {}
    prices = {pid: Decimal(p) for pid, p in (record.get("prices") or {}).items()}
    return Point(
        when,
        _dec_or_none(state.get("equity")),
        _dec_or_none(exposure.get("total")),
        regime.get("name"),
        prices,
    )


def _dec(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def _dec_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
