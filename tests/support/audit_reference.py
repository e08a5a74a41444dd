"""`build_record` as it was before each value was made JSON-ready where the record takes it
(main at 06768cb), verbatim but for its last step (the reference encoder instead of
`to_jsonable`): the record a test compares the fast one with, byte for byte.

It builds the record of domain values first and walks the whole of it once at the end. When
the record gains or changes a field, change it here the same way (the tests comparing the two
then say whether the fast record still encodes each value as the reference walk does).
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from codec_reference import reference_to_jsonable

from trader.domain.models import ZERO, Conversion, Order, RiskDecision
from trader.domain.state import PortfolioState
from trader.pipeline.decision import Assessment, Decision
from trader.pipeline.dust import DustLot, value_dust
from trader.pipeline.portfolio import Valuation
from trader.pipeline.protections import Protections
from trader.pipeline.reconciliation import Reconciliation
from trader.pipeline.universe import Universe
from trader.service.audit import (
    AUDIT_SCHEMA_VERSION,
    PCT_SHOWN,
    CycleTrace,
    _exception,
)
from trader.service.orders import ExitCancel

GAUGE_FIELDS = ("trend_pct", "volatility_pct", "drawdown_pct", "calm_pct")


def reference_build_record(trace: CycleTrace, finished_at: datetime) -> dict[str, Any]:
    duration_ms = int((finished_at - trace.started_at).total_seconds() * 1000)
    decision = trace.decision
    record: dict[str, Any] = {
        "schema_version": AUDIT_SCHEMA_VERSION,
        "cycle_id": trace.cycle_id,
        "mode": trace.mode.value,
        "started_at": trace.started_at,
        "finished_at": finished_at,
        "duration_ms": duration_ms,
        "regime": _regime(decision.assessment) if decision else None,
        "universe": _universe(decision.assessment.universe, trace.charted) if decision else None,
        "triggers": list(decision.assessment.signals) if decision else [],
        "proposals": {
            "proposed": list(decision.proposals) if decision else [],
            "skipped": decision.skipped_entries if decision else {},
            "exits_blocked": decision.exits_blocked if decision else {},
        },
        "risk": [_decision(d) for d in decision.decisions] if decision else [],
        "orders": {
            **_orders(decision, trace.placed, trace.reconciled),
            "exit_cancels": [_exit_cancel(c) for c in trace.exit_cancels],
            "conversions": _conversions(decision, trace.conversions),
        },
        "reconciliation": _reconciliation(trace.reconciliation),
        "no_trade_reason": trace.no_trade_reason,
        "no_trade_detail": trace.no_trade_detail,
        "exception": _exception(trace.exception),
        "state": _state(trace.state, trace.valuation),
        "dust": _dust(decision, trace.state),
        "api_calls": trace.api_calls,
        "protections": _protections(trace.protections),
        "prices": trace.prices,  # for reports: the market each cycle saw (mid of bid and ask)
    }
    return reference_to_jsonable(record)  # type: ignore[no-any-return]


def _regime(seen: Assessment) -> dict[str, Any]:
    """The regime, what it read (float gauges shown to 4 places) and what it let entries and
    stops do; `entries.blocked` says the regime refuses every new entry."""
    regime, policy = seen.regime, seen.policy
    age = regime.age
    return {
        "name": regime.name,
        "candidate": regime.candidate,
        "since": regime.since,
        "as_of": regime.as_of,
        "age_hours": None if age is None else _shown(age.total_seconds() / 3600),
        "breadth": regime.breadth,
        "gauges": {
            pid: {name: _shown(getattr(g, name)) for name in GAUGE_FIELDS}
            for pid, g in regime.gauges.items()
        },
        "entries": {
            "size_multiplier": policy.size_multiplier,
            "tiers": None if policy.tiers is None else list(policy.tiers),
            "blocked": policy.blocks_entries,
            "stop_loss_pct": policy.stop_loss_pct,
        },
    }


def _shown(value: float) -> Decimal | None:
    """A measurement for the record: 4 decimal places, None when not finite."""
    return Decimal(f"{value:.4f}") if math.isfinite(value) else None


def _protections(seen: Protections | None) -> dict[str, Any] | None:
    if seen is None:
        return None
    return {
        "peak_equity": seen.peak_equity,
        # rounded down, so a drawdown just short of the limit never reads as the limit
        "drawdown_pct": seen.drawdown_pct.quantize(PCT_SHOWN, ROUND_DOWN),
        "max_drawdown_pct": seen.max_drawdown_pct,
        "tripped": seen.tripped,
        "released": seen.released,
        "held_since": seen.held_since,
    }


def _orders(
    decision: Decision | None, placed: tuple[Order, ...], reconciled: tuple[Order, ...]
) -> dict[str, Any]:
    dropped = decision.dropped if decision else ()
    return {
        "planned": list(decision.planned) if decision else [],
        "dropped": [{"product_id": d.proposal.product_id, "reason": d.reason} for d in dropped],
        "placed": [_order(o) for o in placed],
        "reconciled": [_order(o) for o in reconciled],
    }


def _reconciliation(recon: Reconciliation | None) -> dict[str, Any] | None:
    if recon is None:
        return None
    return {
        "checked": list(recon.checked),
        "drift": [
            {"currency": d.currency, "booked": d.booked, "exchange": d.exchange, "cause": d.cause}
            for d in recon.drift
        ],
        "adopted": list(recon.adopted),
        "external": [
            {"product_id": c.product_id, "size": c.size, "pnl": c.pnl} for c in recon.external
        ],
        "external_fills": [
            {"fill_id": f.fill_id, "product_id": f.product_id, "side": f.side, "size": f.size}
            for f in recon.external_fills
        ],
    }


def _conversions(decision: Decision | None, sent: tuple[Conversion, ...]) -> list[dict[str, Any]]:
    """Each conversion the plan needs, with what the exchange made of it (None: not sent)."""
    results = {r.client_id: r for r in sent}
    rows = []
    for c in decision.conversions if decision else ():
        result = results.get(c.client_id)
        rows.append(
            {
                "client_id": c.client_id,
                "from": c.from_currency,
                "to": c.to_currency,
                "amount": c.amount,
                "for_order": c.for_order,
                "reason": c.reason,
                "status": result.status if result else None,
                "trade_id": result.trade_id if result else None,
            }
        )
    return rows


def _exit_cancel(c: ExitCancel) -> dict[str, Any]:
    return {
        "client_order_id": c.order.client_order_id,
        "order_id": c.order.order_id,
        "product_id": c.order.product_id,
        "side": c.order.side,
        "status_before": c.order.status,
        "exit_reason": c.exit_reason,
        "confirmed": c.confirmed,
        "status": c.answer.status if c.answer is not None else None,
        "error": c.error,
    }


def _universe(universe: Universe, charted: tuple[str, ...]) -> dict[str, Any]:
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
        "open_orders": len(state.open_orders),
        "pnl": {
            "realized_today": state.realized_pnl_today,
            "realized_total": state.realized_pnl_total,
            "fees_total": state.fees_total,
            "unrealized": valuation.unrealized_pnl if valuation else None,
            "external_total": state.external_pnl_total,
        },
        "unbooked": state.unbooked,
    }
    if valuation is not None:
        summary["exposure"] = {"total": valuation.total_exposure, "by_product": valuation.exposure}
        summary["equity"] = valuation.equity
        summary["cash"] = valuation.cash
        summary["other_holdings"] = valuation.other_holdings
    else:
        summary["exposure"] = None
    return summary


def _dust(decision: Decision | None, state: PortfolioState | None) -> dict[str, Any] | None:
    """Positions closed as dust this cycle, and all dust held, valued at the bid (null when the
    product has no quote; a cycle that stopped before deciding has none)."""
    if decision is not None:
        closed, held = decision.assessment.dust_closed, decision.assessment.dust
    elif state is not None:
        closed, held = (), value_dust(state.dust, {})
    else:
        return None
    values = [lot.value for lot in held if lot.value is not None]
    return {
        "closed": [_lot(lot) for lot in closed],
        "held": [_lot(lot) for lot in held],
        "value": sum(values, ZERO),
    }


def _lot(lot: DustLot) -> dict[str, Any]:
    return {"product_id": lot.product_id, "size": lot.size, "bid": lot.bid, "value": lot.value}
