"""Do an order's fill records add up to the order's own totals? One rule for adapters and service.

An exchange rounds both sides (Coinbase reports a quote-sized buy's `filled_size` with 16
decimals, while its base per fill is a quote amount divided by a price), so they agree
when they differ by at most a tiny share of the total. Product increments are not at hand
where orders are read, so the tolerance is relative, with a floor far below any increment.
"""

from __future__ import annotations

from decimal import Decimal

from trader.domain.models import ZERO, Order

RELATIVE_TOLERANCE = Decimal("1e-9")
ABSOLUTE_TOLERANCE = Decimal("1e-15")


def tolerance(total: Decimal) -> Decimal:
    """How far a sum of fills may sit from `total` and still be the same amount."""
    return max(abs(total) * RELATIVE_TOLERANCE, ABSOLUTE_TOLERANCE)


def filled_base(order: Order) -> Decimal:
    return sum((f.size for f in order.fills), ZERO)


def filled_value(order: Order) -> Decimal:
    """Quote value of the fills, fees excluded (Coinbase's `filled_value`)."""
    return sum((f.notional for f in order.fills), ZERO)


def fills_mismatch(order: Order, reported_value: Decimal | None) -> str | None:
    """Why the fills do not add up to `filled_size` and `filled_value`; None when they do."""
    problems = []
    base = filled_base(order)
    if abs(base - order.filled_size) > tolerance(order.filled_size):
        problems.append(f"fills sum to {base} base, the order says filled_size {order.filled_size}")
    value = filled_value(order)
    if reported_value is not None and abs(value - reported_value) > tolerance(reported_value):
        problems.append(f"fills sum to {value} quote, the order says filled_value {reported_value}")
    if not problems:
        return None
    return f"{len(order.fills)} fill(s): " + "; ".join(problems)


def missing_base(order: Order) -> Decimal:
    """Base the order reports filled that no fill record shows yet; 0 within rounding."""
    missing = order.filled_size - filled_base(order)
    return missing if missing > tolerance(order.filled_size) else ZERO
