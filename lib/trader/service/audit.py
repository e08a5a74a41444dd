"""The audit record: one JSON object per cycle that explains the whole decision.

Field order is part of the contract (DESIGN.md): `schema_version` first, then the rest.
Each value is made JSON-ready where the record takes it (what `to_jsonable` gives for it:
amounts through `decimal_jsonable`, times through `time_jsonable`), so the finished record
needs no second walk, and orjson writes its line (an `AuditRecord`: see there).

A value that is most often plain JSON (str, int, bool, None) is taken as
`x if type(x) in PLAIN else to_jsonable(x)`: to_jsonable's own first test, without the call
(a record takes some fifty such values a cycle, and the calls cost more than the rest).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

import orjson

from trader.domain.codec import (
    PLAIN,
    amounts_jsonable,
    decimal_jsonable,
    decimals_jsonable,
    parse_utc,
    time_jsonable,
    to_jsonable,
)
from trader.domain.errors import AuditError, AuditReadError
from trader.domain.models import (
    ZERO,
    Conversion,
    Fill,
    Mode,
    NoTradeReason,
    Order,
    Position,
    RiskDecision,
)
from trader.domain.state import PortfolioState
from trader.pipeline.decision import Assessment, Decision
from trader.pipeline.dust import DustLot, value_dust
from trader.pipeline.execution import Dropped
from trader.pipeline.gauges import Gauge
from trader.pipeline.portfolio import Valuation
from trader.pipeline.protections import Protections
from trader.pipeline.reconciliation import Drift, ExternalChange, Reconciliation
from trader.pipeline.regime import Regime
from trader.pipeline.universe import Universe
from trader.service.orders import ExitCancel

AUDIT_SCHEMA_VERSION = 1
MAX_EXCEPTION_TEXT = 500
PCT_SHOWN = Decimal("0.0001")
T = TypeVar("T")


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


class AuditRecord(dict[str, Any]):
    """A record `build_record` made: each value JSON-ready as it was taken (str, int, bool,
    None, and lists and dicts of those with str keys; a str or int enum member stands as its
    value). Never a float, Decimal, time or other enum: those are what orjson writes otherwise
    than the json module (a float's exponent, NaN as null, enums and times it would take), so
    `audit_line` writes these records with orjson, and any other mapping with the json module.
    """

    __slots__ = ()


def build_record(trace: CycleTrace, finished_at: datetime) -> AuditRecord:
    started_at, decision = trace.started_at, trace.decision
    duration_ms = int((finished_at - started_at).total_seconds() * 1000)
    seen = decision.assessment if decision is not None else None
    return AuditRecord(
        {
            "schema_version": AUDIT_SCHEMA_VERSION,
            "cycle_id": c if type(c := trace.cycle_id) in PLAIN else to_jsonable(c),
            "mode": to_jsonable(trace.mode._value_),  # .value without its descriptor
            "started_at": time_jsonable(started_at),
            "finished_at": time_jsonable(finished_at),
            "duration_ms": duration_ms,
            "regime": _regime(seen) if seen else None,
            "universe": _universe(seen.universe, trace.charted) if seen else None,
            "triggers": _listed(seen.signals) if seen else [],
            **_proposals_and_orders(decision, trace),
            "reconciliation": _reconciliation(trace.reconciliation),
            "no_trade_reason": r if type(r := trace.no_trade_reason) in PLAIN else to_jsonable(r),
            "no_trade_detail": d if type(d := trace.no_trade_detail) in PLAIN else to_jsonable(d),
            "exception": _exception(trace.exception),
            "state": _state(trace.state, seen.valuation if seen else None),
            "dust": _dust(seen, trace.state),
            "api_calls": to_jsonable(trace.api_calls),
            "protections": _protections(seen.protections) if seen else None,
            # for reports: the market each cycle saw (mid of bid and ask)
            "prices": decimals_jsonable(trace.prices),
        }
    )


def _listed(items: Sequence[Any]) -> list[Any]:
    """to_jsonable of the items as a list; an empty one without the codec."""
    return to_jsonable(list(items)) if items else []


def _proposals_and_orders(decision: Decision | None, trace: CycleTrace) -> dict[str, Any]:
    """The record's `proposals`, `risk` and `orders`."""
    if _nothing_to_show(decision, trace):  # most cycles: all empty
        return {
            "proposals": {"proposed": [], "skipped": {}, "exits_blocked": {}},
            "risk": [],
            "orders": {
                **{"planned": [], "dropped": [], "placed": [], "reconciled": []},
                **{"exit_cancels": [], "conversions": []},
            },
        }
    return {
        "proposals": {
            "proposed": _listed(decision.proposals) if decision else [],
            "skipped": to_jsonable(decision.skipped_entries) if decision else {},
            "exits_blocked": to_jsonable(decision.exits_blocked) if decision else {},
        },
        "risk": _rows(_decision, decision.decisions) if decision else [],
        "orders": {
            **_orders(decision, trace.placed, trace.reconciled),
            "exit_cancels": _rows(_exit_cancel, trace.exit_cancels),
            "conversions": _conversions(decision, trace.conversions),
        },
    }


def _nothing_to_show(decision: Decision | None, trace: CycleTrace) -> bool:
    """Nothing proposed, skipped, blocked, decided, planned, dropped or converted, and no order
    placed, reconciled or cancelled: the sections `_proposals_and_orders` writes all empty."""
    if trace.placed or trace.reconciled or trace.exit_cancels:
        return False
    return decision is None or not (
        decision.proposals
        or decision.skipped_entries
        or decision.exits_blocked
        or decision.decisions
        or decision.planned
        or decision.dropped
        or decision.conversions
    )


def _regime(seen: Assessment) -> dict[str, Any]:
    """The regime, what it read (float gauges shown to 4 places) and what it let entries and
    stops do; `entries.blocked` says the regime refuses every new entry."""
    regime, policy = seen.regime, seen.policy
    age = regime.age
    return {
        "name": n if type(n := regime.name) in PLAIN else to_jsonable(n),
        "candidate": c if type(c := regime.candidate) in PLAIN else to_jsonable(c),
        "since": time_jsonable(regime.since),
        "as_of": time_jsonable(regime.as_of),
        "age_hours": None if age is None else _shown(age.total_seconds() / 3600),
        "breadth": to_jsonable(regime.breadth),
        "gauges": _gauges(regime.gauges) if regime.gauges else {},
        "entries": {
            "size_multiplier": decimal_jsonable(policy.size_multiplier),
            "tiers": None if policy.tiers is None else to_jsonable(list(policy.tiers)),
            "blocked": to_jsonable(policy.blocks_entries),
            "stop_loss_pct": decimal_jsonable(policy.stop_loss_pct),
        },
    }


def _gauges(gauges: Mapping[str, Gauge]) -> dict[str, dict[str, str | None]]:
    """Each product's gauges shown to 4 places (`_shown`, written out for each)."""
    finite = math.isfinite
    return {
        str(pid): {
            "trend_pct": f"{v:.4f}" if finite(v := g.trend_pct) else None,
            "volatility_pct": f"{v:.4f}" if finite(v := g.volatility_pct) else None,
            "drawdown_pct": f"{v:.4f}" if finite(v := g.drawdown_pct) else None,
            "calm_pct": f"{v:.4f}" if finite(v := g.calm_pct) else None,
        }
        for pid, g in gauges.items()
    }


def _shown(value: float) -> str | None:
    """A measurement for the record: 4 decimal places, None when not finite (the text a
    Decimal of those 4 places encodes to)."""
    return f"{value:.4f}" if math.isfinite(value) else None


def _protections(seen: Protections) -> dict[str, Any]:
    return {
        "peak_equity": decimal_jsonable(seen.peak_equity),
        # rounded down, so a drawdown just short of the limit never reads as the limit
        "drawdown_pct": decimal_jsonable(seen.drawdown_pct.quantize(PCT_SHOWN, ROUND_DOWN)),
        "max_drawdown_pct": decimal_jsonable(seen.max_drawdown_pct),
        "tripped": t if type(t := seen.tripped) in PLAIN else to_jsonable(t),
        "released": r if type(r := seen.released) in PLAIN else to_jsonable(r),
        "held_since": time_jsonable(seen.held_since),
    }


def _orders(
    decision: Decision | None, placed: tuple[Order, ...], reconciled: tuple[Order, ...]
) -> dict[str, Any]:
    dropped = decision.dropped if decision else ()
    return {
        "planned": _listed(decision.planned) if decision else [],
        "dropped": _rows(_dropped, dropped),
        "placed": _rows(_order, placed),
        "reconciled": _rows(_order, reconciled),
    }


def _dropped(d: Dropped) -> dict[str, Any]:
    return {"product_id": to_jsonable(d.proposal.product_id), "reason": to_jsonable(d.reason)}


def _reconciliation(recon: Reconciliation | None) -> dict[str, Any] | None:
    if recon is None:
        return None
    drift, external, fills = recon.drift, recon.external, recon.external_fills
    return {
        "checked": _listed(recon.checked),
        "drift": [_drift(d) for d in drift] if drift else [],
        "adopted": _listed(recon.adopted),
        "external": [_external(c) for c in external] if external else [],
        "external_fills": [_external_fill(f) for f in fills] if fills else [],
    }


def _drift(d: Drift) -> dict[str, Any]:
    return {
        "currency": to_jsonable(d.currency),
        "booked": decimal_jsonable(d.booked),
        "exchange": decimal_jsonable(d.exchange),
        "cause": to_jsonable(d.cause),
    }


def _external(c: ExternalChange) -> dict[str, Any]:
    return {
        "product_id": to_jsonable(c.product_id),
        "size": decimal_jsonable(c.size),
        "pnl": decimal_jsonable(c.pnl),
    }


def _external_fill(f: Fill) -> dict[str, Any]:
    return {
        "fill_id": to_jsonable(f.fill_id),
        "product_id": to_jsonable(f.product_id),
        "side": to_jsonable(f.side),
        "size": decimal_jsonable(f.size),
    }


def _conversions(decision: Decision | None, sent: tuple[Conversion, ...]) -> list[dict[str, Any]]:
    """Each conversion the plan needs, with what the exchange made of it (None: not sent)."""
    if decision is None or not decision.conversions:
        return []
    results = {r.client_id: r for r in sent}
    rows = []
    for c in decision.conversions:
        result = results.get(c.client_id)
        rows.append(
            {
                "client_id": to_jsonable(c.client_id),
                "from": to_jsonable(c.from_currency),
                "to": to_jsonable(c.to_currency),
                "amount": decimal_jsonable(c.amount),
                "for_order": to_jsonable(c.for_order),
                "reason": to_jsonable(c.reason),
                "status": to_jsonable(result.status) if result else None,
                "trade_id": to_jsonable(result.trade_id) if result else None,
            }
        )
    return rows


def _exit_cancel(c: ExitCancel) -> dict[str, Any]:
    return {
        "client_order_id": to_jsonable(c.order.client_order_id),
        "order_id": to_jsonable(c.order.order_id),
        "product_id": to_jsonable(c.order.product_id),
        "side": to_jsonable(c.order.side),
        "status_before": to_jsonable(c.order.status),
        "exit_reason": to_jsonable(c.exit_reason),
        "confirmed": to_jsonable(c.confirmed),
        "status": to_jsonable(c.answer.status) if c.answer is not None else None,
        "error": to_jsonable(c.error),
    }


def _universe(universe: Universe, charted: tuple[str, ...]) -> dict[str, Any]:
    return {
        "eligible": [
            {
                "product_id": p if type(p := m.product.product_id) in PLAIN else to_jsonable(p),
                "tier": t if type(t := m.tier.name) in PLAIN else to_jsonable(t),
            }
            for m in universe.members
        ],
        "excluded": to_jsonable(universe.excluded) if universe.excluded else {},
        "charted": _listed(charted),
    }


def _decision(d: RiskDecision) -> dict[str, Any]:
    p = d.proposal
    return {
        "product_id": to_jsonable(p.product_id),
        "side": to_jsonable(p.side),
        "intent": to_jsonable(p.intent),
        "approved": to_jsonable(d.approved),
        "check": to_jsonable(d.check),
        "detail": to_jsonable(d.detail),
    }


def _order(o: Order) -> dict[str, Any]:
    return {
        "client_order_id": to_jsonable(o.client_order_id),
        "order_id": to_jsonable(o.order_id),
        "product_id": to_jsonable(o.product_id),
        "side": to_jsonable(o.side),
        "intent": to_jsonable(o.intent),
        "type": to_jsonable(o.order_type),
        "status": to_jsonable(o.status),
        "base_size": decimal_jsonable(o.base_size),
        "quote_size": decimal_jsonable(o.quote_size),
        "limit_price": decimal_jsonable(o.limit_price),
        "filled_size": decimal_jsonable(o.filled_size),
        "average_filled_price": decimal_jsonable(o.average_filled_price),
        "fees": decimal_jsonable(o.total_fees),
        "failure_reason": to_jsonable(o.failure_reason),
        "fills_mismatch": to_jsonable(o.fills_mismatch),  # fills not adding up to the totals
    }


def _exception(exc: BaseException | None) -> dict[str, str] | None:
    if exc is None:
        return None
    return {"type": type(exc).__name__, "message": str(exc)[:MAX_EXCEPTION_TEXT]}


def _state(state: PortfolioState | None, valuation: Valuation | None) -> dict[str, Any] | None:
    if state is None:
        return None
    today, total, fees, unrealized, external = amounts_jsonable(
        state.realized_pnl_today,
        state.realized_pnl_total,
        state.fees_total,
        valuation.unrealized_pnl if valuation else None,
        state.external_pnl_total,
    )
    summary: dict[str, Any] = {
        "version": v if type(v := state.version) in PLAIN else to_jsonable(v),
        "trading_state": to_jsonable(state.trading_state),
        "trades_today": n if type(n := state.trades_today) in PLAIN else to_jsonable(n),
        "trades_this_hour": h if type(h := state.trades_this_hour) in PLAIN else to_jsonable(h),
        "positions": _positions(state.positions) if state.positions else {},
        "open_orders": len(state.open_orders),
        "pnl": {
            "realized_today": today,
            "realized_total": total,
            "fees_total": fees,
            "unrealized": unrealized,
            "external_total": external,
        },
        "unbooked": to_jsonable(state.unbooked) if state.unbooked else {},
    }
    if valuation is None:
        summary["exposure"] = None
        return summary
    exposure, equity, cash, other = amounts_jsonable(
        valuation.total_exposure, valuation.equity, valuation.cash, valuation.other_holdings
    )
    summary["exposure"] = {"total": exposure, "by_product": decimals_jsonable(valuation.exposure)}
    summary["equity"], summary["cash"], summary["other_holdings"] = equity, cash, other
    return summary


def _positions(positions: Mapping[str, Position]) -> dict[str, dict[str, Any]]:
    return {
        str(pid): {
            "size": decimal_jsonable(p.size),
            "avg_entry_price": decimal_jsonable(p.avg_entry_price),
        }
        for pid, p in positions.items()
    }


def _dust(seen: Assessment | None, state: PortfolioState | None) -> dict[str, Any] | None:
    """Positions closed as dust this cycle, and all dust held, valued at the bid (null when the
    product has no quote; a cycle that stopped before deciding has none)."""
    if seen is not None:
        closed, held = seen.dust_closed, seen.dust
    elif state is not None:
        closed, held = (), value_dust(state.dust, {})
    else:
        return None
    if not closed and not held:  # most cycles
        return {"closed": [], "held": [], "value": decimal_jsonable(ZERO)}
    valued = [(lot, lot.value) for lot in held]  # each value worked out once
    return {
        "closed": [_lot(lot, lot.value) for lot in closed],
        "held": [_lot(lot, value) for lot, value in valued],
        "value": decimal_jsonable(sum((v for _, v in valued if v is not None), ZERO)),
    }


def _lot(lot: DustLot, value: Decimal | None) -> dict[str, Any]:
    size, bid, value_text = amounts_jsonable(lot.size, lot.bid, value)
    return {
        "product_id": p if type(p := lot.product_id) in PLAIN else to_jsonable(p),
        "size": size,
        "bid": bid,
        "value": value_text,
    }


def _rows(build: Callable[[T], dict[str, Any]], items: Sequence[T]) -> list[dict[str, Any]]:
    """`build` of each item; an empty sequence (in most cycles: nothing traded, nothing
    drifted) without the comprehension, a third of its cost."""
    return [build(item) for item in items] if items else []


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


# One encoder for every line (json.dumps with options builds a new one each call), without
# the circular-reference bookkeeping: a record that holds itself ends in RecursionError,
# reported as any other value that is not JSON.
_LINE_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)


def audit_line(record: Mapping[str, Any]) -> str:
    """One compact JSON line, keys in the record's own order; AuditError names a bad value."""
    fast = _fast_line(record, 0)
    return _json_line(record) if fast is None else fast.decode("utf-8")


def audit_jsonl(record: Mapping[str, Any]) -> bytes:
    """`audit_line(record)` and a newline, in UTF-8: what a JSONL sink appends."""
    fast = _fast_line(record, orjson.OPT_APPEND_NEWLINE)
    return (_json_line(record) + "\n").encode("utf-8") if fast is None else fast


def _fast_line(record: Mapping[str, Any], option: int) -> bytes | None:
    """orjson's line of an AuditRecord (the json module's bytes, ~8 times sooner); None for any
    other mapping, or one orjson refuses (an int beyond 64 bits, a str that is not UTF-8, a
    record holding itself): the json module writes those, or says where they fail."""
    if type(record) is not AuditRecord:
        return None
    try:
        return orjson.dumps(record, option=option)
    except orjson.JSONEncodeError:
        return None


def _json_line(record: Mapping[str, Any]) -> str:
    data = dict(record)
    try:
        return _LINE_ENCODER.encode(data)
    except (TypeError, ValueError, RecursionError) as exc:
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
