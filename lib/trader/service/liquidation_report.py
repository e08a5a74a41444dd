"""The answer to a liquidation request and its audit record (DESIGN.md, liquidation request).

Both are plain JSON: Decimals as strings, times as ISO-8601 UTC. The record goes through the
same AuditSink as the cycle's, under the id `liquidation-<request_id>`, with
`record_type: "liquidation"` so it is never taken for a cycle's record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trader.domain.codec import to_jsonable
from trader.domain.liquidation import LiquidationRequest
from trader.domain.models import Mode, TradingState
from trader.pipeline.liquidation import CurrencyPlan, Leg, LiquidationPlan, SellLeg
from trader.pipeline.liquidation_legs import Remaining
from trader.service.audit import AUDIT_SCHEMA_VERSION
from trader.service.liquidation_legs import LegResult

RECORD_TYPE = "liquidation"


@dataclass(slots=True)
class LiquidationTrace:
    """What one invocation found and did; the service records each step's result here once."""

    request: LiquidationRequest
    mode: Mode
    started_at: datetime
    plan: LiquidationPlan | None = None
    legs: list[LegResult] = field(default_factory=list)  # appended as each leg ends
    remaining: tuple[Remaining, ...] = ()
    error: str | None = None  # "<reason>: <detail>"; None when everything asked was done
    trading_state: TradingState | None = None  # as saved
    api_calls: dict[str, int] = field(default_factory=dict)

    @property
    def record_id(self) -> str:
        """The audit record's id (its S3 key's name): safe, since request ids are."""
        return f"liquidation-{self.request.request_id}"


def answer(trace: LiquidationTrace) -> dict[str, Any]:
    """The response of DESIGN.md: ok, request_id, dry_run, plan, legs, remaining, error."""
    return {
        "ok": trace.error is None,
        "request_id": trace.request.request_id,
        "dry_run": trace.request.dry_run,
        "plan": plan_json(trace.plan),
        "legs": [to_jsonable(leg) for leg in trace.legs],
        "remaining": [to_jsonable(item) for item in trace.remaining],
        "error": trace.error,
    }


def refusal(error: str, request_id: str | None = None) -> dict[str, Any]:
    """The answer to a request that was not run at all (invalid, or no deployment to run it)."""
    return {
        "ok": False,
        "request_id": request_id,
        "dry_run": None,
        "plan": [],
        "legs": [],
        "remaining": [],
        "error": error,
    }


def audit_record(trace: LiquidationTrace, finished_at: datetime) -> dict[str, Any]:
    """One record per invocation, whatever happened (a lock held and an error included)."""
    body = answer(trace)
    duration_ms = int((finished_at - trace.started_at).total_seconds() * 1000)
    return {
        "schema_version": AUDIT_SCHEMA_VERSION,
        "record_type": RECORD_TYPE,
        "cycle_id": trace.record_id,
        "request_id": trace.request.request_id,
        "mode": trace.mode.value,
        "started_at": to_jsonable(trace.started_at),
        "finished_at": to_jsonable(finished_at),
        "duration_ms": duration_ms,
        "request": to_jsonable(trace.request.model_dump()),
        "ok": body["ok"],
        "plan": body["plan"],
        "legs": body["legs"],
        "remaining": body["remaining"],
        "error": trace.error,
        "trading_state": to_jsonable(trace.trading_state),
        "api_calls": trace.api_calls,
    }


def plan_json(plan: LiquidationPlan | None) -> list[dict[str, Any]]:
    if plan is None:
        return []
    return [_item(item) for item in plan.items]


def _item(item: CurrencyPlan) -> dict[str, Any]:
    return {
        "currency": item.currency,
        "amount": to_jsonable(item.amount),
        "value": to_jsonable(item.value),
        "route": [_leg(leg) for leg in item.route],
        "skip_reason": to_jsonable(item.skip_reason),
        "detail": item.detail,
    }


def _leg(leg: Leg) -> dict[str, Any]:
    """A planned leg; `estimated`: its size is a forecast, the executor sizes it from the
    proceeds of the leg before."""
    if isinstance(leg, SellLeg):
        return {
            "kind": "sell",
            "product_id": leg.product_id,
            "size": to_jsonable(leg.size),
            "limit_price": to_jsonable(leg.limit_price),
            "estimated": leg.estimated,
        }
    return {
        "kind": "convert",
        "from": leg.from_currency,
        "to": leg.to_currency,
        "size": to_jsonable(leg.size),
        "estimated": leg.estimated,
    }
