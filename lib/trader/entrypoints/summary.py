"""A readable account of a local session: one line per cycle, then totals."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from trader.domain.models import ZERO, CycleResult, Side

CENT = Decimal("0.01")


def cycle_line(result: CycleResult, width: int = 70) -> str:
    """One line: cycle id, mode, regime, then what was traded or why nothing was."""
    head = f"{result.cycle_id} {result.mode.value:<7} {result.regime or '-':<13}"
    intents = {
        o.client_order_id: o.intent.value.lower() for o in (*result.orders, *result.reconciled)
    }
    fills = "; ".join(
        f"{intents.get(f.client_order_id, 'order')} {f.side.value} {f.size} {f.product_id}"
        f" @ {f.price}"
        for f in result.new_fills
    )
    if result.no_trade_reason:
        detail = result.no_trade_detail or ""
        detail = detail if len(detail) <= width else detail[: width - 1] + "…"
        line = f"{head} NO_TRADE {result.no_trade_reason}" + (f" ({detail})" if detail else "")
        return line + (f" | filled earlier order: {fills}" if fills else "")
    if result.mode.value == "DRY_RUN":
        planned = ", ".join(
            f"{o.intent.value.lower()} {o.side.value} {o.product_id}" for o in result.orders
        )
        return f"{head} WOULD TRADE (dry run, nothing sent): {planned}"
    return f"{head} TRADED {fills or 'order(s) resting on the book'}"


def failure(result: CycleResult) -> str | None:
    """One line for a cycle that failed (NO_TRADE `exception:{Type}`), else None."""
    reason = result.no_trade_reason or ""
    if not reason.startswith("exception:"):
        return None
    message = (result.record.get("exception") or {}).get("message")
    return f"cycle {result.cycle_id} failed: {reason}" + (f": {message}" if message else "")


@dataclass(slots=True)
class SessionSummary:
    cycles: int = 0
    orders: Counter[str] = field(default_factory=Counter)
    fills: int = 0
    bought: Decimal = ZERO  # quote spent on fills
    sold: Decimal = ZERO  # quote received on fills
    fees: Decimal = ZERO
    reasons: Counter[str] = field(default_factory=Counter)
    regimes: Counter[str] = field(default_factory=Counter)
    first_equity: Decimal | None = None
    last_equity: Decimal | None = None
    first_realized: Decimal | None = None
    last_realized: Decimal | None = None

    def add(self, result: CycleResult) -> None:
        self.cycles += 1
        self.reasons[result.no_trade_reason or "traded"] += 1
        if result.regime:
            self.regimes[result.regime] += 1
        for order in result.orders:
            self.orders[order.status.value] += 1
        for fill in result.new_fills:
            self.fills += 1
            self.fees += fill.fee
            if fill.side is Side.BUY:
                self.bought += fill.notional
            else:
                self.sold += fill.notional
        if result.equity is not None:
            self.first_equity = (
                self.first_equity if self.first_equity is not None else result.equity
            )
            self.last_equity = result.equity
        if result.realized_pnl_total is not None:
            if self.first_realized is None:
                self.first_realized = result.realized_pnl_total
            self.last_realized = result.realized_pnl_total

    def render(self, audit_file: str, state_file: str) -> str:
        realized = (self.last_realized or ZERO) - (self.first_realized or ZERO)
        lines = [
            "",
            "=== 247trader session summary ===",
            f"cycles            {self.cycles}",
            f"orders            {_counts(self.orders) or 'none'}",
            f"fills             {self.fills}  (bought {_q(self.bought)}, sold {_q(self.sold)})",
            f"fees paid         {_q(self.fees)}",
            f"realized PnL      {_q(realized)} (net of fees, this session)",
        ]
        if self.first_equity is not None and self.last_equity is not None:
            lines.append(f"equity            {_q(self.first_equity)} -> {_q(self.last_equity)}")
        lines += [
            f"regimes seen      {_counts(self.regimes) or 'none'}",
            "cycle outcomes:",
            *(f"  {n:>5}  {reason}" for reason, n in self.reasons.most_common()),
            "",
            f"audit log   {audit_file}   (tail -f {audit_file} | jq .)",
            f"state file  {state_file}   (jq . {state_file})",
        ]
        return "\n".join(lines)


def _q(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common())
