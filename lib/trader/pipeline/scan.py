"""Which candidates get candles this cycle: a bounded scan, whatever the universe size."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from trader.pipeline.universe import Member

NO_CHANGE_KNOWN = Decimal(-1)


def charted(members: Sequence[Member], limit: int) -> tuple[str, ...]:
    """The `limit` biggest 24h movers (by absolute change); members without a 24h change keep
    their universe order (tier, then volume) after those with one."""

    def interest(member: Member) -> Decimal:
        change = member.product.price_change_24h_pct
        return -abs(change) if change is not None else -NO_CHANGE_KNOWN

    ranked = sorted(members, key=interest)  # stable: ties keep the universe order
    return tuple(m.product_id for m in ranked[:limit])
