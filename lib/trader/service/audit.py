"""The audit record: one JSON object per cycle that explains the whole decision.

Field order is part of the contract (DESIGN.md): `schema_version` first, then the rest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from trader.domain.codec import parse_utc, to_jsonable
from trader.domain.errors import AuditError, AuditReadError
from trader.domain.models import ZERO, Conversion, Mode, NoTradeReason, Order, RiskDecision
from trader.domain.state import PortfolioState
from trader.pipeline.decision import Assessment, Decision
from trader.pipeline.dust import DustLot, value_dust
from trader.pipeline.portfolio import Valuation
from trader.pipeline.protections import Protections
from trader.pipeline.reconciliation import Reconciliation
from trader.pipeline.regime import Regime
from trader.pipeline.universe import Universe
from trader.service.orders import ExitCancel

AUDIT_SCHEMA_VERSION = 1
MAX_EXCEPTION_TEXT = 500
PCT_SHOWN = Decimal("0.0001")


@dataclass(slots=True)
class CycleTrace:
    """What the cycle's steps returned so far; the cycle records each result here once."""

    cycle_id: str
    mode: Mode
    started_at: datetime
    state: PortfolioState | None = None  # as loaded, then as saved at the end
    loaded_fill_ids: frozenset[str] = frozenset()
    reconciled: tuple[Order, ...] = ()
    exit_cancels: tuple[ExitCancel, ...] = ()  # orders cancelled to let a firing exit out
    charted: tuple[str, ...] = ()  # candidates whose candles were fetched
    reconciliation: Reconciliation | None = None
    decision: Decision | None = None
    placed: tuple[Order, ...] = ()
    conversions: tuple[Conversion, ...] = ()  # stablecoin conversions sent for the buys
    prices: dict[str, Decimal] = field(default_factory=dict)  # mid of each fresh quote
    no_trade_reason: str | None = None
    no_trade_detail: str | None = None
    exception: BaseException | None = None
    api_calls: dict[str, int] = field(default_factory=dict)

    def stop(self, reason: str, detail: str | None) -> None:
        self.no_trade_reason, self.no_trade_detail = reason, detail

    def fail(self, exc: BaseException) -> None:
        self.no_trade_reason, self.exception = NoTradeReason.exception(exc), exc

    @property
    def regime(self) -> Regime | None:
        return self.decision.assessment.regime if self.decision else None

    @property
    def valuation(self) -> Valuation | None:
        return self.decision.assessment.valuation if self.decision else None

    @property
    def protections(self) -> Protections | None:
        return self.decision.assessment.protections if self.decision else None


def build_record(trace: CycleTrace, finished_at: datetime) -> dict[str, Any]:
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
    return to_jsonable(record)


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


GAUGE_FIELDS = ("trend_pct", "volatility_pct", "drawdown_pct", "calm_pct")


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


def _unsafe_path(value: Any, path: str, depth: int = 0) -> str | None:
    """Where in `value` json.dumps would fail (compact path such as `orders[0].price`)."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if depth > 64:
        return path  # a reference cycle or absurd nesting
    if isinstance(value, dict):
        return _unsafe_in_dict(value, path, depth)
    if isinstance(value, list | tuple):
        items = (_unsafe_path(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
        return next((found for found in items if found is not None), None)
    return path


def _unsafe_in_dict(value: dict[Any, Any], path: str, depth: int) -> str | None:
    for key, item in value.items():
        child = f"{path}.{key}" if path else str(key)
        if key is not None and not isinstance(key, str | int | float | bool):
            return child
        found = _unsafe_path(item, child, depth + 1)
        if found is not None:
            return found
    return None


def audit_line(record: Mapping[str, Any]) -> str:
    """One compact JSON line, keys in the record's own order; AuditError names a bad value."""
    data = dict(record)
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        where = _unsafe_path(data, "") or "<record>"
        raise AuditError(f"audit record is not JSON-safe at {where!r}: {exc}") from exc


def parse_audit_line(line: str, where: str) -> dict[str, Any]:
    """One audit record from one line of JSON (audit_line's inverse); AuditReadError naming
    `where` (file or object, and line) when it is not one JSON object."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AuditReadError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise AuditReadError(f"{where}: a JSON {type(record).__name__}, not an audit record")
    return record


def record_started_at(record: Mapping[str, Any]) -> datetime:
    """When the record's cycle (or liquidation) started; AuditReadError naming the record when
    `started_at` is missing or not an ISO-8601 UTC time."""
    try:
        return parse_utc(str(record["started_at"]))
    except (KeyError, ValueError):
        cycle = record.get("cycle_id", "?")
        raise AuditReadError(f"audit record of cycle {cycle}: no valid started_at") from None
