"""The exchange's account is the truth: booked positions are compared with its balances
every cycle, and the state follows what the exchange holds.

A currency is checked when the bot holds it or has ever held it (and, with
`adopt_external_holdings`, whenever the account holds it). A difference larger than one
base increment is a drift, with its likely cause:

- `fill_not_booked`: an order of ours on that currency is still in flight, so its fills
  may not be booked yet; the order lifecycle books them, the state is left as it is;
- `external_trade`: the account's fills since the last cursor include a trade that is not
  one of our orders (a manual trade on the website or another bot);
- `unknown`: nothing explains it (a deposit, a withdrawal, a transfer, a lost fill).

For the last two the positions follow the exchange: resized with their average entry kept,
or closed when the exchange holds none, the PnL of what left marked `external` (kept apart
from the realized PnL the loss limits count). Holdings the bot never bought stay out of
positions unless adopted: the state remembers them as `unbooked`, so they are reported once,
not every cycle, and they count in equity like every holding. A coin never held is not
checked at all, so before the bot first buys one, what the account already holds of it is
set apart as unbooked (`set_apart_before_buying`): the position is then only what the bot
bought, and its exit never sells the owner's coins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from trader.domain.copying import quick_init
from trader.domain.models import (
    ZERO,
    AccountFills,
    Balance,
    Fill,
    PlannedOrder,
    Position,
    Product,
    Quote,
    Side,
)
from trader.domain.state import SEEN_FILL_IDS_KEPT, PortfolioState

FILL_NOT_BOOKED = "fill_not_booked"
EXTERNAL_TRADE = "external_trade"
UNKNOWN = "unknown"
DEFAULT_TOLERANCE = Decimal("0.00000001")
FILLS_WAIT = timedelta(days=1)  # the longest a fill waits for an order in flight on its coin


@quick_init
@dataclass(frozen=True, slots=True)
class Drift:
    currency: str
    booked: Decimal
    exchange: Decimal
    cause: str


@quick_init
@dataclass(frozen=True, slots=True)
class ExternalChange:
    """Base that left or joined a position outside the bot, valued at the bid."""

    product_id: str
    size: Decimal  # negative: left the position
    pnl: Decimal  # of what left, against the average entry (0 for what joined)


@quick_init
@dataclass(frozen=True, slots=True)
class Reconciliation:
    state: PortfolioState  # the state after following the exchange
    checked: tuple[str, ...]
    drift: tuple[Drift, ...]
    adopted: tuple[str, ...]
    external: tuple[ExternalChange, ...]
    external_fills: tuple[Fill, ...]

    def drifted_products(self, products: Mapping[str, Product]) -> frozenset[str]:
        """Products whose base currency drifted this cycle: no new entry on them."""
        drifted = {d.currency for d in self.drift}
        return frozenset(pid for pid in products if base_of(pid, products) in drifted)


@quick_init
@dataclass(frozen=True, slots=True)
class Book:
    """What the reconciliation reads of the market and the account this cycle."""

    balances: Mapping[str, Balance]
    products: Mapping[str, Product]
    quotes: Mapping[str, Quote]
    fills: AccountFills | None  # the account's fills since the stored cursor (None: unread)
    cash_currencies: frozenset[str]  # quote currencies: cash, not holdings
    now: datetime


def base_of(product_id: str, products: Mapping[str, Product]) -> str:
    product = products.get(product_id)
    return product.base_currency if product is not None else product_id.split("-", 1)[0]


def external_fills(state: PortfolioState, fills: Collection[Fill]) -> tuple[Fill, ...]:
    """Fills that are not of an order we know and were never booked: trades by someone else."""
    if not fills:
        return ()  # most cycles: no set of the seen ids to make
    ours = {o.order_id for o in state.open_orders.values() if o.order_id}
    ours |= {o.client_order_id for o in state.open_orders.values()}
    seen = set(state.seen_fill_ids)
    return tuple(
        f
        for f in fills
        if f.fill_id not in seen and f.order_id not in ours and f.client_order_id not in ours
    )


def reconcile_balances(
    state: PortfolioState, book: Book, adopt_external_holdings: bool
) -> Reconciliation:
    """Compare each checked currency's booked size with the exchange's total; follow it.

    The fills cursor moves on, and the external fills are remembered as seen, so each is
    reported once. A fill on a coin with an order of ours in flight waits (unseen, unreported,
    the cursor kept) until that order settles: it may be that order's own (an order whose
    create timed out has no order_id to match its fills by, and a fill remembered as seen
    would never be booked), and a drift it explains cannot be followed before the order
    settles, and must then still be put down to it, not to `unknown`. It waits FILLS_WAIT at
    most: an order in flight longer than that is stuck, and the cursor must move on.
    """
    read = external_fills(state, book.fills.fills if book.fills else ())
    waiting = {base_of(o.product_id, book.products) for o in state.open_orders.values()}
    later = tuple(
        f
        for f in read
        if base_of(f.product_id, book.products) in waiting and book.now - f.time < FILLS_WAIT
    )
    outside = tuple(f for f in read if f not in later)
    state = _read_on(state, book.fills, outside, later)
    checked = _checked(state, book, adopt_external_holdings)
    drifts: list[Drift] = []
    changes: list[ExternalChange] = []
    adopted: list[str] = []
    booked: _Booked | None = None  # summed at the first currency checked
    finest = _finest_increments(book.products) if checked else {}
    for currency in checked:
        booked = booked or _Booked.of(state, book.products)
        tolerance = finest.get(currency, DEFAULT_TOLERANCE)
        drift = _drift(currency, booked.size(currency), tolerance, state, book, outside)
        if drift is None:
            continue
        drifts.append(drift)
        if drift.cause == FILL_NOT_BOOKED:
            continue
        state, moved, adoption = _follow(state, drift, book, adopt_external_holdings)
        booked = None  # the state followed the exchange: summed again
        changes.extend(moved)
        adopted.extend(adoption)
    held = tuple(sorted({*checked, *_bases(state.positions, book.products)}))
    if held != state.held_currencies:
        state = state.replace(held_currencies=held)
    return Reconciliation(state, checked, tuple(drifts), tuple(adopted), tuple(changes), outside)


def set_apart_before_buying(
    state: PortfolioState,
    plan: Collection[PlannedOrder],
    balances: Mapping[str, Balance],
    products: Mapping[str, Product],
) -> PortfolioState:
    """Before the first buy of a coin the bot does not track, what the account holds of it
    (read this cycle, before the order is sent) becomes unbooked.

    Without it the next reconciliation, which checks the coin once it is a position, would
    find the owner's holding as a drift and resize the position over it.
    """
    tracked = {*state.held_currencies, *state.unbooked, *_bases(state.positions, products)}
    apart = dict(state.unbooked)
    for order in plan:
        currency = base_of(order.product_id, products)
        balance = balances.get(currency)
        if order.side is Side.BUY and currency not in tracked and balance and balance.total > 0:
            apart[currency] = balance.total
    return state.replace(unbooked=apart) if apart != state.unbooked else state


def _read_on(
    state: PortfolioState,
    fills: AccountFills | None,
    outside: tuple[Fill, ...],
    later: tuple[Fill, ...],
) -> PortfolioState:
    """Remember `outside` as seen and move the cursor on; not while fills wait for `later`."""
    if fills is None:
        return state
    if not outside and _cursor_kept(state, fills, later):
        return state  # most cycles: nothing new to remember
    seen = (*state.seen_fill_ids, *(f.fill_id for f in outside))[-SEEN_FILL_IDS_KEPT:]
    cursors = state.cursors if later else {**state.cursors, "fills": fills.cursor}
    return state.replace(cursors=cursors, seen_fill_ids=seen)


def _cursor_kept(state: PortfolioState, fills: AccountFills, later: tuple[Fill, ...]) -> bool:
    """Whether the cursor stays as it is (held for `later`, or where the read ended) and the
    seen ids are within their bound: reading on from nothing new changes nothing."""
    held_back = bool(later) or state.cursors.get("fills") == fills.cursor
    return held_back and len(state.seen_fill_ids) <= SEEN_FILL_IDS_KEPT


def _bases(positions: Mapping[str, Position], products: Mapping[str, Product]) -> set[str]:
    return {base_of(pid, products) for pid in positions}


def _checked(state: PortfolioState, book: Book, adopt: bool) -> tuple[str, ...]:
    currencies = {
        *state.held_currencies,
        *state.unbooked,
        *_bases(state.positions, book.products),
        *(base_of(pid, book.products) for pid in state.dust),
    }
    if adopt:
        currencies |= {c for c, b in book.balances.items() if b.total > 0}
    return tuple(sorted(currencies - book.cash_currencies))


def _positions_of(currency: str, state: PortfolioState, book: Book) -> dict[str, Position]:
    return {
        pid: pos for pid, pos in state.positions.items() if base_of(pid, book.products) == currency
    }


def booked_size(currency: str, state: PortfolioState, products: Mapping[str, Product]) -> Decimal:
    """What the state says the account holds of `currency`: positions, the dust exits left
    behind, and unbooked holdings."""
    return _Booked.of(state, products).size(currency)


@quick_init
@dataclass(frozen=True, slots=True)
class _Booked:
    """What the state books of each currency, summed in one pass over the positions and one
    over the dust (each currency's sizes added in the order a sum over it alone adds them)."""

    in_positions: dict[str, Decimal]
    dust: dict[str, Decimal]
    unbooked: Mapping[str, Decimal]

    @classmethod
    def of(cls, state: PortfolioState, products: Mapping[str, Product]) -> _Booked:
        in_positions: dict[str, Decimal] = {}
        for pid, position in state.positions.items():
            base = base_of(pid, products)
            in_positions[base] = in_positions.get(base, ZERO) + position.size
        return cls(in_positions, _dust_by_currency(state, products), state.unbooked)

    def size(self, currency: str) -> Decimal:
        in_positions = self.in_positions.get(currency, ZERO)
        return in_positions + self.dust.get(currency, ZERO) + self.unbooked.get(currency, ZERO)


def _dust_by_currency(state: PortfolioState, products: Mapping[str, Product]) -> dict[str, Decimal]:
    dust: dict[str, Decimal] = {}
    for pid, size in state.dust.items():
        base = base_of(pid, products)
        dust[base] = dust.get(base, ZERO) + size
    return dust


def _dust_of(currency: str, state: PortfolioState, products: Mapping[str, Product]) -> Decimal:
    return _dust_by_currency(state, products).get(currency, ZERO)


def _past_dust(state: PortfolioState, drift: Drift, book: Book) -> tuple[PortfolioState, Decimal]:
    """What of the exchange's total is not dust; dust the exchange no longer holds is dropped."""
    dust = _dust_of(drift.currency, state, book.products)
    if drift.exchange >= dust:
        return state, drift.exchange - dust
    kept = {p: s for p, s in state.dust.items() if base_of(p, book.products) != drift.currency}
    return state.replace(dust=kept), drift.exchange


def _tolerance(currency: str, book: Book) -> Decimal:
    """One base increment of the currency's products (the finest, when several trade it)."""
    steps = [p.base_increment for p in book.products.values() if p.base_currency == currency]
    return min(steps) if steps else DEFAULT_TOLERANCE


def _finest_increments(products: Mapping[str, Product]) -> dict[str, Decimal]:
    """Each base currency's _tolerance, in one pass over the products (the first of equal
    increments kept, as min keeps it)."""
    finest: dict[str, Decimal] = {}
    for product in products.values():
        known = finest.get(product.base_currency)
        if known is None or product.base_increment < known:
            finest[product.base_currency] = product.base_increment
    return finest


def _drift(
    currency: str,
    booked: Decimal,
    tolerance: Decimal,
    state: PortfolioState,
    book: Book,
    outside: tuple[Fill, ...],
) -> Drift | None:
    """`booked`: booked_size of `currency`; `tolerance`: its _tolerance."""
    balance = book.balances.get(currency)
    exchange = balance.total if balance is not None else ZERO
    if abs(exchange - booked) <= tolerance:
        return None
    in_flight = any(
        base_of(o.product_id, book.products) == currency for o in state.open_orders.values()
    )
    if in_flight:
        cause = FILL_NOT_BOOKED
    elif any(base_of(f.product_id, book.products) == currency for f in outside):
        cause = EXTERNAL_TRADE
    else:
        cause = UNKNOWN
    return Drift(currency, booked, exchange, cause)


def _follow(
    state: PortfolioState, drift: Drift, book: Book, adopt: bool
) -> tuple[PortfolioState, list[ExternalChange], list[str]]:
    """Resize (or close) the currency's positions to the exchange's total; maybe adopt."""
    state, target = _past_dust(state, drift, book)
    held = _positions_of(drift.currency, state, book)
    if not held:
        return _follow_unbooked(state, drift.currency, target, book, adopt)
    positions = dict(state.positions)
    changes: list[ExternalChange] = []
    in_positions = sum((p.size for p in held.values()), ZERO)
    factor = target / in_positions
    dust = dict(state.dust)
    for pid, pos in sorted(held.items()):
        size = pos.size * factor
        changes.append(_change(pos, size, book.quotes.get(pid)))
        if size <= _tolerance(drift.currency, book):
            del positions[pid]  # what is left is a crumb no order can sell: dust
            if size > 0:
                dust[pid] = dust.get(pid, ZERO) + size
        else:
            positions[pid] = dataclasses.replace(pos, size=size, entry_fees=pos.entry_fees * factor)
    pnl = sum((c.pnl for c in changes), ZERO)
    unbooked = {k: v for k, v in state.unbooked.items() if k != drift.currency}
    external = state.external_pnl_total + pnl
    return (
        state.replace(
            positions=positions, dust=dust, unbooked=unbooked, external_pnl_total=external
        ),
        changes,
        [],
    )


def _follow_unbooked(
    state: PortfolioState, currency: str, amount: Decimal, book: Book, adopt: bool
) -> tuple[PortfolioState, list[ExternalChange], list[str]]:
    """No position holds the currency: adopt the holding, or remember it as unbooked."""
    unbooked = {k: v for k, v in state.unbooked.items() if k != currency}
    adopted = _adopt(currency, amount, book) if adopt and amount > 0 else None
    if adopted is None:
        if amount > 0:
            unbooked[currency] = amount
        return state.replace(unbooked=unbooked), [], []
    positions = {**state.positions, adopted.product_id: adopted}
    change = ExternalChange(adopted.product_id, adopted.size, ZERO)
    return state.replace(positions=positions, unbooked=unbooked), [change], [currency]


def _change(pos: Position, size: Decimal, quote: Quote | None) -> ExternalChange:
    moved = size - pos.size
    mark = quote.bid if quote is not None else pos.avg_entry_price
    pnl = (mark - pos.avg_entry_price) * -moved if moved < 0 else ZERO
    return ExternalChange(pos.product_id, moved, pnl)


def _adopt(currency: str, amount: Decimal, book: Book) -> Position | None:
    """A position for a holding the bot never bought, at the current bid (its cost unknown)."""
    for product in sorted(book.products.values(), key=lambda p: p.product_id):
        quote = book.quotes.get(product.product_id)
        if (
            product.base_currency == currency
            and product.quote_currency in book.cash_currencies
            and quote is not None
        ):
            return Position(product.product_id, amount, quote.bid, book.now, ZERO, quote.bid)
    return None
