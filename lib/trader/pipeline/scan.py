"""What the snapshot asks for: quotes for all we may touch, candles for a bounded scan."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.domain.config import Config
from trader.domain.models import Product
from trader.pipeline.universe import Member, candidates

NO_CHANGE_KNOWN = Decimal(-1)


def charted(members: Sequence[Member], limit: int) -> tuple[str, ...]:
    """The `limit` biggest 24h movers (by absolute change); members without a 24h change keep
    their universe order (tier, then volume) after those with one."""

    def interest(member: Member) -> Decimal:
        change = member.product.price_change_24h_pct
        return -abs(change) if change is not None else -NO_CHANGE_KNOWN

    ranked = sorted(members, key=interest)  # stable: ties keep the universe order
    return tuple(m.product_id for m in ranked[:limit])


@dataclass(frozen=True, slots=True)
class MarketRequest:
    """What the snapshot's second round asks for."""

    quoted: tuple[str, ...]  # every candidate and holding: one quotes call
    candles: tuple[str, ...]  # the regime's reference and the scanned candidates
    charted: tuple[str, ...]  # the candidates among `candles` (for the audit)


def market_request(
    products: Mapping[str, Product], cfg: Config, held: Collection[str]
) -> MarketRequest:
    """Quotes for every candidate and holding; candles for the reference and a bounded few."""
    ranked, _ = candidates(products, cfg.universe, cfg.cycle.quote_currency)
    reference = cfg.regime.reference_product
    sources = (f"{c}-{cfg.cycle.quote_currency}" for c in cfg.funding.sources)
    quoted = (reference, *(m.product_id for m in ranked), *sorted(held), *sources)
    # The reference is charted anyway (regime); the scan's slots go to the others.
    others = [m for m in ranked if m.product_id != reference]
    scanned = charted(others, cfg.triggers.max_products_with_candles)
    has_reference = any(m.product_id == reference for m in ranked)
    shown = (reference, *scanned) if has_reference else scanned
    return MarketRequest(quoted, (reference, *scanned), shown)
