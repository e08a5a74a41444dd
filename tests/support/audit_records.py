"""Hand-made audit records for report tests: only the fields the report reads, in the shape
service/audit.build_record writes them (Decimals as strings, times as ISO 8601 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def order(
    coid: str,
    product: str,
    side: str,
    filled: str = "0",
    price: str | None = None,
    fees: str = "0",
    status: str = "FILLED",
) -> dict[str, Any]:
    return {
        "client_order_id": coid,
        "product_id": product,
        "side": side,
        "status": status,
        "filled_size": filled,
        "average_filled_price": price,
        "fees": fees,
    }


def record(
    when: datetime,
    equity: str | None,
    prices: dict[str, str],
    held: dict[str, str] | None = None,
    exposure: str = "0",
    regime: str = "choppy",
    reason: str | None = "no_candidates_from_triggers",
    placed: list[dict[str, Any]] | None = None,
    reconciled: list[dict[str, Any]] | None = None,
    planned: dict[str, str] | None = None,  # client_order_id -> reason
    mode: str = "PAPER",
) -> dict[str, Any]:
    """One cycle's record; `held` is the book after the cycle (product -> size)."""
    return {
        "schema_version": 1,
        "cycle_id": f"{when:%Y%m%dT%H%MZ}",
        "mode": mode,
        "started_at": when.isoformat().replace("+00:00", "Z"),
        "regime": {"name": regime},
        "orders": {
            "planned": [{"client_order_id": c, "reason": r} for c, r in (planned or {}).items()],
            "placed": placed or [],
            "reconciled": reconciled or [],
        },
        "no_trade_reason": None if placed else reason,
        "state": {
            "positions": {p: {"size": s} for p, s in (held or {}).items()},
            "equity": equity,
            "exposure": {"total": exposure},
        },
        "prices": prices,
    }
