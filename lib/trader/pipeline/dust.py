"""Dust: what is left of a position that no order can sell (under base_min_size on the grid).

A quote-sized buy fills off the size grid; its exit sells the size rounded down to
base_increment and leaves a crumb no order may carry. Such a position leaves the book as
dust: its base amount is kept in `PortfolioState.dust`, its value at the bid goes to the
audit, it is never proposed for exit again, and it no longer holds the product against a
new entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from trader.domain.copying import quick_init
from trader.domain.models import ZERO, Product, Quote
from trader.domain.state import PortfolioState
from trader.pipeline.execution import orderable_base


@quick_init
@dataclass(frozen=True, slots=True)
class DustLot:
    product_id: str
    size: Decimal  # base units
    bid: Decimal | None  # None when the product has no quote

    @property
    def value(self) -> Decimal | None:
        """What the dust would fetch at the bid, if it could be sold."""
        return None if self.bid is None else self.size * self.bid


def is_dust(size: Decimal, product: Product) -> bool:
    """True when no order can sell any of `size`: rounded down to base_increment it is below
    base_min_size."""
    return orderable_base(size, product) <= 0


def close_dust(
    state: PortfolioState, products: Mapping[str, Product], quotes: Mapping[str, Quote]
) -> tuple[PortfolioState, tuple[DustLot, ...]]:
    """Positions no order can sell leave the book as dust; the lots closed, valued at the bid.

    A product with an order in flight is left alone (its fills may still change the size),
    and so is one the market does not list (its minimum is unknown).
    """
    in_flight = {o.product_id for o in state.open_orders.values()}
    closed = tuple(
        _lot(pid, pos.size, quotes)
        for pid, pos in sorted(state.positions.items())
        if pid not in in_flight and pid in products and is_dust(pos.size, products[pid])
    )
    if not closed:
        return state, ()
    gone = {lot.product_id for lot in closed}
    dust = dict(state.dust)
    for lot in closed:
        if lot.size > 0:
            dust[lot.product_id] = dust.get(lot.product_id, ZERO) + lot.size
    positions = {pid: pos for pid, pos in state.positions.items() if pid not in gone}
    return state.replace(positions=positions, dust=dust), closed


def value_dust(dust: Mapping[str, Decimal], quotes: Mapping[str, Quote]) -> tuple[DustLot, ...]:
    """Every product's dust, valued at the bid where there is a quote."""
    return tuple(_lot(pid, size, quotes) for pid, size in sorted(dust.items()))


def _lot(product_id: str, size: Decimal, quotes: Mapping[str, Quote]) -> DustLot:
    quote = quotes.get(product_id)
    return DustLot(product_id, size, quote.bid if quote is not None else None)
