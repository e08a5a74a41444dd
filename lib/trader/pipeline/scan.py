"""What the snapshot asks for: quotes for all we may touch, candles for a bounded scan."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.domain.config import Config
from trader.domain.copying import quick_init
from trader.domain.models import Product
from trader.pipeline.universe import Member, candidates

NO_CHANGE_KNOWN = Decimal(-1)


def charted(members: Sequence[Member], limit: int) -> tuple[str, ...]:
    """The `limit` biggest 24h movers (by absolute change); members without a 24h change keep
    their universe order (tier, then volume) after those with one."""
    changes = [m.product.price_change_24h_pct for m in members]
    interest = [-abs(c) if c is not None else -NO_CHANGE_KNOWN for c in changes]
    ranked = sorted(range(len(members)), key=interest.__getitem__)  # stable: ties keep order
    return tuple([members[i].product.product_id for i in ranked[:limit]])


@quick_init
@dataclass(frozen=True, slots=True)
class MarketRequest:
    """What the snapshot's second round asks for."""

    quoted: tuple[str, ...]  # every candidate and holding: one quotes call
    candles: tuple[str, ...]  # the regime's products and the scanned candidates
    charted: tuple[str, ...]  # the candidates among `candles` (for the audit)
    regime: tuple[str, ...] = ()  # the regime's products: charted over its longer window


def market_request(
    products: Mapping[str, Product], cfg: Config, held: Collection[str]
) -> MarketRequest:
    """Quotes for every candidate and holding; candles for the regime's products and a
    bounded few others."""
    ranked, _ = candidates(products, cfg.universe, cfg.cycle.quote_currency)
    regime = cfg.regime.products
    sources = (f"{c}-{cfg.cycle.quote_currency}" for c in cfg.funding.sources)
    ranked_ids = [m.product.product_id for m in ranked]
    quoted = (cfg.regime.reference_product, *ranked_ids, *sorted(held))
    # The regime's products are charted anyway; the scan's slots go to the others.
    others = [m for m, pid in zip(ranked, ranked_ids, strict=True) if pid not in regime]
    scanned = charted(others, cfg.triggers.max_products_with_candles)
    shown = (*(pid for pid in regime if pid in ranked_ids), *scanned)
    return MarketRequest((*quoted, *sources), (*regime, *scanned), shown, regime)
