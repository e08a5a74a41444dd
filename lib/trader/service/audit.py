"""The audit record: one JSON object per cycle that explains the whole decision.

Field order is part of the contract (DESIGN.md): `schema_version` first, then the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trader.domain.codec import to_jsonable
from trader.domain.models import Mode, Order, PlannedOrder, Proposal, RiskDecision, Signal
from trader.domain.state import PortfolioState
from trader.pipeline.execution import Dropped
from trader.pipeline.portfolio import Valuation
from trader.pipeline.regime import Regime
from trader.pipeline.universe import Universe

AUDIT_SCHEMA_VERSION = 1
MAX_EXCEPTION_TEXT = 500


@dataclass(slots=True)
class CycleTrace:
    """What the cycle saw and decided, filled in stage by stage (the shell's scratchpad)."""

    cycle_id: str
    mode: Mode
    started_at: datetime
    regime: Regime | None = None
    universe: Universe | None = None
    charted: tuple[str, ...] = ()  # candidates whose candles were fetched
    signals: tuple[Signal, ...] = ()
    skipped_entries: dict[str, str] = field(default_factory=dict)
    proposals: tuple[Proposal, ...] = ()
    decisions: tuple[RiskDecision, ...] = ()
    planned: tuple[PlannedOrder, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    placed: tuple[Order, ...] = ()
    reconciled: tuple[Order, ...] = ()
    no_trade_reason: str | None = None
    no_trade_detail: str | None = None
    exception: BaseException | None = None
    state: PortfolioState | None = None
    valuation: Valuation | None = None
    api_calls: dict[str, int] = field(default_factory=dict)
    loaded_fill_ids: frozenset[str] = frozenset()


def build_record(trace: CycleTrace, finished_at: datetime) -> dict[str, Any]:
    duration_ms = int((finished_at - trace.started_at).total_seconds() * 1000)
    record: dict[str, Any] = {
        "schema_version": AUDIT_SCHEMA_VERSION,
        "cycle_id": trace.cycle_id,
        "mode": trace.mode.value,
        "started_at": trace.started_at,
        "finished_at": finished_at,
        "duration_ms": duration_ms,
        "regime": trace.regime,
        "universe": _universe(trace.universe, trace.charted),
        "triggers": list(trace.signals),
        "proposals": {"proposed": list(trace.proposals), "skipped": trace.skipped_entries},
        "risk": [_decision(d) for d in trace.decisions],
        "orders": {
            "planned": list(trace.planned),
            "dropped": [
                {"product_id": d.proposal.product_id, "reason": d.reason} for d in trace.dropped
            ],
            "placed": [_order(o) for o in trace.placed],
            "reconciled": [_order(o) for o in trace.reconciled],
        },
        "no_trade_reason": trace.no_trade_reason,
        "no_trade_detail": trace.no_trade_detail,
        "exception": _exception(trace.exception),
        "state": _state(trace.state, trace.valuation),
        "api_calls": trace.api_calls,
    }
    return to_jsonable(record)


def _universe(universe: Universe | None, charted: tuple[str, ...]) -> dict[str, Any] | None:
    if universe is None:
        return None
    return {
        "eligible": [{"product_id": m.product_id, "tier": m.tier.name} for m in universe.members],
        "excluded": universe.excluded,
        "charted": list(charted),
    }


def _decision(d: RiskDecision) -> dict[str, Any]:
    p = d.proposal
    return {
        "product_id": p.product_id,
        "side": p.side,
        "intent": p.intent,
        "approved": d.approved,
        "check": d.check,
        "detail": d.detail,
    }


def _order(o: Order) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "order_id": o.order_id,
        "product_id": o.product_id,
        "side": o.side,
        "intent": o.intent,
        "type": o.order_type,
        "status": o.status,
        "base_size": o.base_size,
        "quote_size": o.quote_size,
        "limit_price": o.limit_price,
        "filled_size": o.filled_size,
        "average_filled_price": o.average_filled_price,
        "fees": o.total_fees,
        "failure_reason": o.failure_reason,
        "fills_mismatch": o.fills_mismatch,  # fills not adding up to the order's totals
    }


def _exception(exc: BaseException | None) -> dict[str, str] | None:
    if exc is None:
        return None
    return {"type": type(exc).__name__, "message": str(exc)[:MAX_EXCEPTION_TEXT]}


def _state(state: PortfolioState | None, valuation: Valuation | None) -> dict[str, Any] | None:
    if state is None:
        return None
    summary: dict[str, Any] = {
        "version": state.version,
        "trading_state": state.trading_state,
        "trades_today": state.trades_today,
        "trades_this_hour": state.trades_this_hour,
        "positions": {
            pid: {"size": p.size, "avg_entry_price": p.avg_entry_price}
            for pid, p in state.positions.items()
        },
        "dust": state.dust,  # base below one increment, off the book, still on the exchange
        "open_orders": len(state.open_orders),
        "pnl": {
            "realized_today": state.realized_pnl_today,
            "realized_total": state.realized_pnl_total,
            "fees_total": state.fees_total,
            "unrealized": valuation.unrealized_pnl if valuation else None,
        },
    }
    if valuation is not None:
        summary["exposure"] = {"total": valuation.total_exposure, "by_product": valuation.exposure}
        summary["equity"] = valuation.equity
        summary["cash"] = valuation.cash
    else:
        summary["exposure"] = None
    return summary
