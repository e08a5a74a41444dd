"""`trader liquidate`'s table: the plan, the legs it ran and what remains (local only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

from trader.domain.models import Mode

CENT = Decimal("0.01")  # values are shown in cents; the JSON answer keeps them exact


def render(answer: Mapping[str, Any], mode: Mode, target: str) -> str:
    """The answer as text tables; the JSON answer is printed after it."""
    what = "plan only, nothing sent" if answer["dry_run"] else "executed"
    lines = [f"liquidation {answer['request_id']} ({what}; mode {mode.value}, target {target})"]
    lines += text_table(
        ("currency", "amount", f"value {target}", "route or why not"),
        [_plan_row(item) for item in answer["plan"]],
    )
    if answer["legs"]:
        lines += ["", "legs"]
        lines += text_table(
            ("leg", "on", "size", "status", "filled", "proceeds"),
            [_leg_row(leg) for leg in answer["legs"]],
        )
    left = answer["remaining"]
    if left:
        lines += ["", "remaining"]
        rows = [(r["currency"], r["amount"], f"{r['reason']}: {r['detail']}") for r in left]
        lines += text_table(("currency", "amount", "why"), rows)
    lines += ["", f"error: {answer['error']}" if answer["error"] else "ok"]
    return "\n".join(lines)


def _plan_row(item: Mapping[str, Any]) -> tuple[str, ...]:
    route = " -> ".join(_step(leg) for leg in item["route"])
    why = route or f"{item['skip_reason']}: {item['detail']}"
    value = "-" if item["value"] is None else str(Decimal(item["value"]).quantize(CENT, ROUND_DOWN))
    return item["currency"], item["amount"], value, why


def _step(leg: Mapping[str, Any]) -> str:
    size = ("~" if leg["estimated"] else "") + leg["size"]
    if leg["kind"] == "convert":
        return f"convert {size} {leg['from']}->{leg['to']}"
    price = f" limit {leg['limit_price']}" if leg["limit_price"] else ""
    return f"sell {size} on {leg['product_id']}{price}"


def _leg_row(leg: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        leg["leg"],
        leg["venue"],
        leg["size"],
        leg["status"],
        leg["filled_size"],
        leg["proceeds"],
    )


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
