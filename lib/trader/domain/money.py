"""Money constants and the one rule for putting a number on an exchange's grid."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)  # percent
BPS = Decimal(10_000)  # basis points in one


def round_to_increment(value: Decimal, increment: Decimal, rounding: str) -> Decimal:
    """`value` on the grid of `increment` (any positive step, not only powers of ten)."""
    return (value / increment).to_integral_value(rounding=rounding) * increment
