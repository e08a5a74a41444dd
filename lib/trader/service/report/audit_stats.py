"""What a stretch of audit records adds up to, for `trader audit stats` (pure: records in).

Fills, fees and closed trades come from the report's HistoryBuilder, so they are found the
way the report finds them: a fill is an order's filled size growing from one record to the
next (placed, or reconciled in a later cycle), and a trade runs from flat to flat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from trader.service.audit import record_started_at
from trader.service.liquidation_legs import DONE
from trader.service.liquidation_report import RECORD_TYPE as LIQUIDATION
from trader.service.report.history import ZERO, Fill, HistoryBuilder, RunHistory, Trade


@dataclass(slots=True)
class OrderTally:
    """One product and side: orders and what filled."""

    orders: int = 0  # `orders.placed`: sent, or under DRY_RUN those it would have sent
    fills: int = 0
    size: Decimal = ZERO  # base filled
    notional: Decimal = ZERO  # quote value of the fills, fees excluded
    fees: Decimal = ZERO


@dataclass(slots=True)
class LiquidationTally:
    records: int = 0
    ok: int = 0
    legs: int = 0
    legs_done: int = 0  # FILLED sells and COMPLETED conversions


@dataclass(slots=True)
class AuditStats:
    history: RunHistory  # cycles by outcome and mode, fills, trades, equity points
    orders: dict[tuple[str, str], OrderTally] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)  # orders by status (or DRY_RUN)
    liquidations: LiquidationTally = field(default_factory=LiquidationTally)
    first: datetime | None = None  # the first record's start
    last: datetime | None = None
    realized_first: Decimal | None = None  # state.pnl.realized_total after the first cycle
    realized_last: Decimal | None = None
    first_cycle_sold: bool = False  # then what that cycle booked is not in realized_change

    @property
    def cycles(self) -> int:
        return sum(self.history.outcomes.values())

    @property
    def fees(self) -> Decimal:
        return sum((f.fee for f in self.history.fills), ZERO)

    @property
    def closed_trades(self) -> list[Trade]:
        return [t for t in self.history.trades if not t.open]

    @property
    def realized_change(self) -> Decimal | None:
        """The bot's booked realized PnL (net of fees) after the last cycle less after the
        first: what the cycles in between booked, and the first too unless it sold."""
        if self.realized_first is None or self.realized_last is None:
            return None
        return self.realized_last - self.realized_first

    @property
    def equity(self) -> tuple[Decimal, Decimal] | None:
        values = [p.equity for p in self.history.points if p.equity is not None]
        return (values[0], values[-1]) if values else None


class AuditStatsBuilder:
    """Folds audit records, in time order, into AuditStats."""

    def __init__(self) -> None:
        self._history = HistoryBuilder()
        self.stats = AuditStats(self._history.history)

    def add(self, record: Mapping[str, Any]) -> None:
        when = record_started_at(record)
        self.stats.first = self.stats.first or when
        self.stats.last = when
        fills = self.stats.history.fills
        seen = len(fills)
        self._history.add(record)
        for fill in fills[seen:]:
            self._fill(fill)
        if record.get("record_type") == LIQUIDATION:
            self._liquidation(record)
        else:
            self._cycle(record, sold=any(f.side == "SELL" for f in fills[seen:]))

    def _cycle(self, record: Mapping[str, Any], sold: bool) -> None:
        orders = record.get("orders") or {}
        for order in orders.get("placed") or ():
            self._tally(order["product_id"], order["side"]).orders += 1
            self.stats.statuses[str(order.get("status"))] += 1
        realized = ((record.get("state") or {}).get("pnl") or {}).get("realized_total")
        if realized is not None:
            self.stats.realized_last = Decimal(str(realized))
            if self.stats.realized_first is None:
                self.stats.realized_first = self.stats.realized_last
                self.stats.first_cycle_sold = sold

    def _liquidation(self, record: Mapping[str, Any]) -> None:
        tally = self.stats.liquidations
        tally.records += 1
        tally.ok += bool(record.get("ok"))
        legs = record.get("legs") or ()
        tally.legs += len(legs)
        tally.legs_done += sum(1 for leg in legs if leg.get("status") in DONE)

    def _fill(self, fill: Fill) -> None:
        tally = self._tally(fill.product_id, fill.side)
        tally.fills += 1
        tally.size += fill.size
        tally.notional += fill.size * fill.price
        tally.fees += fill.fee

    def _tally(self, product_id: str, side: str) -> OrderTally:
        return self.stats.orders.setdefault((product_id, side), OrderTally())


def audit_stats(records: Iterable[Mapping[str, Any]]) -> AuditStats:
    builder = AuditStatsBuilder()
    for record in records:
        builder.add(record)
    return builder.stats
