"""What the bot booked against what the account holds, computed here from the raw state.

These helpers restate the contract (DESIGN.md: after a reconciling cycle the booked positions
equal the exchange's balances, available + hold, within one increment) without the code
under test: a position belongs to a currency through its product's base currency, and
"booked" is positions + dust + unbooked holdings of that currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from trader.domain.models import ZERO, Fill, Order, Product
from trader.domain.state import PortfolioState


def base_currency(product_id: str, products: Mapping[str, Product]) -> str:
    product = products.get(product_id)
    return product.base_currency if product is not None else product_id.split("-", 1)[0]


def booked(state: PortfolioState, currency: str, products: Mapping[str, Product]) -> Decimal:
    """Positions + dust + unbooked of one currency, in base units."""
    total = state.unbooked.get(currency, ZERO)
    for pid, pos in state.positions.items():
        if base_currency(pid, products) == currency:
            total += pos.size
    for pid, size in state.dust.items():
        if base_currency(pid, products) == currency:
            total += size
    return total


def increment(currency: str, products: Mapping[str, Product]) -> Decimal:
    """The finest base increment of the products that trade `currency`."""
    return min(p.base_increment for p in products.values() if p.base_currency == currency)


def mismatches(
    state: PortfolioState,
    totals: Mapping[str, Decimal],
    products: Mapping[str, Product],
    currencies: Iterable[str],
) -> dict[str, tuple[Decimal, Decimal]]:
    """Currency -> (booked, exchange total) where they differ by more than one increment."""
    out = {}
    for currency in sorted(set(currencies)):
        mine, theirs = booked(state, currency, products), totals.get(currency, ZERO)
        if abs(mine - theirs) > increment(currency, products):
            out[currency] = (mine, theirs)
    return out


def coins(state: PortfolioState, totals: Mapping[str, Decimal], cash: str = "USD") -> set[str]:
    """Every coin the account holds or the state books (cash excluded)."""
    held = {c for c, amount in totals.items() if amount != 0}
    mine = {pid.split("-", 1)[0] for pid in (*state.positions, *state.dust)}
    return (held | mine | set(state.unbooked)) - {cash}


def fills(orders: Iterable[Order]) -> list[Fill]:
    return [f for order in orders for f in order.fills]


def fee_sum(orders: Iterable[Order]) -> Decimal:
    return sum((f.fee for f in fills(orders)), ZERO)
