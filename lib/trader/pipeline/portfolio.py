"""Pure accounting: valuing the book and applying fills to positions, PnL, fees and cooldowns."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from trader.domain.config import RiskConfig
from trader.domain.copying import quick_init, replaced
from trader.domain.models import ZERO, Balance, Fill, Position, Quote, Side
from trader.domain.state import SEEN_FILL_IDS_KEPT, PortfolioState, hour_start


@dataclass(frozen=True, slots=True)
class Valuation:
    cash: Decimal  # quote currency, available + hold
    exposure: dict[str, Decimal]  # product -> position size x bid
    unrealized_pnl: Decimal
    other_holdings: Decimal = ZERO  # what the account holds outside the positions, at the bid
    # Summed once when made (a cycle reads them some ten times); `exposure` is never changed
    total_exposure: Decimal = field(init=False, repr=False, compare=False)
    equity: Decimal = field(init=False, repr=False, compare=False)  # cash + exposure + other

    def __post_init__(self) -> None:
        total = sum(self.exposure.values(), ZERO)
        object.__setattr__(self, "total_exposure", total)
        object.__setattr__(self, "equity", self.cash + total + self.other_holdings)


def value_book(
    positions: Mapping[str, Position],
    quotes: Mapping[str, Quote],
    cash: Decimal,
    other_holdings: Decimal = ZERO,
) -> Valuation:
    """Mark positions at the bid (what a sale would fetch); an unquoted one at its entry price.
    `other_holdings`: the account's other coins, valued (other_holdings_value)."""
    exposure: dict[str, Decimal] = {}
    unrealized = ZERO
    for pid, pos in positions.items():
        quote = quotes.get(pid)
        mark = quote.bid if quote is not None else pos.avg_entry_price
        exposure[pid] = pos.size * mark
        unrealized += (mark - pos.avg_entry_price) * pos.size
    return Valuation(cash, exposure, unrealized, other_holdings)


def pooled(balances: Mapping[str, Balance], currencies: Collection[str]) -> Balance:
    """The cash of several quote currencies as one balance (USD and USDC: one pool)."""
    held = [b for c, b in balances.items() if c in currencies]
    available = sum((b.available for b in held), ZERO)
    hold = sum((b.hold for b in held), ZERO)
    return Balance("+".join(sorted(currencies)), available, hold)


def other_holdings_value(
    balances: Mapping[str, Balance],
    positions: Mapping[str, Position],
    quotes: Mapping[str, Quote],
    cash_currencies: Collection[str],
) -> Decimal:
    """The account's coins beyond the positions (never bought, dust, a manual buy), at the bid
    of their `<coin>-<cash>` product; a coin without such a quote counts nothing."""
    in_positions: dict[str, Decimal] = {}
    for pid, pos in positions.items():
        base = pid.split("-", 1)[0]
        in_positions[base] = in_positions.get(base, ZERO) + pos.size
    total = ZERO
    for currency, balance in balances.items():
        extra = balance.total - in_positions.get(currency, ZERO)
        if currency in cash_currencies or extra <= 0:
            continue
        bids = [
            quotes[f"{currency}-{c}"].bid
            for c in sorted(cash_currencies)
            if f"{currency}-{c}" in quotes
        ]
        if bids:
            total += extra * bids[0]
    return total


def mark_watermarks(
    positions: Mapping[str, Position], quotes: Mapping[str, Quote]
) -> dict[str, Position]:
    """Raise each position's high-water mark to the current bid (for the trailing stop)."""
    marked: dict[str, Position] = {}
    for pid, pos in positions.items():
        quote = quotes.get(pid)
        raised = quote is not None and quote.bid > pos.high_watermark
        marked[pid] = replaced(pos, high_watermark=quote.bid) if raised else pos
    return marked


def busy_products(state: PortfolioState) -> set[str]:
    """Products held or with an order in flight: no new entry on them (no pyramiding)."""
    return {*state.positions, *(o.product_id for o in state.open_orders.values())}


@quick_init
@dataclass(frozen=True, slots=True)
class Cooldowns:
    """How long a product may not be entered again after a sale out of its position."""

    after_loss_minutes: int = 0  # a sale that realized a loss (net of both sides' fees)
    after_exit_minutes: int = 0  # any sale out of a position, winning or losing: no churn

    @classmethod
    def of(cls, cfg: RiskConfig) -> Cooldowns:
        return cls(cfg.cooldown_minutes_after_loss, cfg.cooldown_minutes_after_exit)

    def minutes_after(self, pnl: Decimal) -> int:
        """The cooldown a sale out of a position with this realized PnL starts."""
        return max(self.after_exit_minutes, self.after_loss_minutes if pnl < 0 else 0)


def apply_fill(state: PortfolioState, fill: Fill, cooldowns: Cooldowns) -> PortfolioState:
    """Book one fill once: position, realized PnL (net of both sides' fees), fees, cooldown."""
    if fill.fill_id in state.seen_fill_ids:
        return state
    positions = dict(state.positions)
    dust = dict(state.dust)
    pnl = ZERO
    sold_out_of_position = fill.side is Side.SELL and fill.product_id in positions
    if fill.side is Side.BUY:
        held = positions.get(fill.product_id)
        if held is None and fill.product_id in dust:  # an earlier exit's dust, back on the book
            fill = dataclasses.replace(fill, size=fill.size + dust.pop(fill.product_id))
        positions[fill.product_id] = _add_to_position(held, fill)
    else:
        pos = positions.get(fill.product_id)
        if pos is not None:
            pnl, remaining = _reduce_position(pos, fill)
            if remaining is None:
                del positions[fill.product_id]
            else:
                positions[fill.product_id] = remaining
        else:
            pnl = ZERO  # no cost basis for holdings we did not buy: no realized PnL to book
    return state.replace(
        positions=positions,
        dust=dust,
        cooldowns=_cooled(state, fill, cooldowns.minutes_after(pnl) if sold_out_of_position else 0),
        realized_pnl_today=state.realized_pnl_today + pnl,
        realized_pnl_total=state.realized_pnl_total + pnl,
        fees_total=state.fees_total + fill.fee,
        seen_fill_ids=(*state.seen_fill_ids, fill.fill_id)[-SEEN_FILL_IDS_KEPT:],
    )


def _cooled(state: PortfolioState, fill: Fill, minutes: int) -> dict[str, datetime]:
    """The cooldowns with the fill's product held off for `minutes` from the fill (never
    shortening one already running)."""
    if minutes <= 0:
        return state.cooldowns
    until = fill.time + timedelta(minutes=minutes)
    running = state.cooldowns.get(fill.product_id)
    return {**state.cooldowns, fill.product_id: until if running is None else max(running, until)}


def _add_to_position(pos: Position | None, fill: Fill) -> Position:
    if pos is None:
        return Position(fill.product_id, fill.size, fill.price, fill.time, fill.fee, fill.price)
    size = pos.size + fill.size
    avg = (pos.size * pos.avg_entry_price + fill.size * fill.price) / size
    return Position(
        pos.product_id,
        size,
        avg,
        pos.opened_at,
        pos.entry_fees + fill.fee,
        max(pos.high_watermark, fill.price),
    )


def _reduce_position(pos: Position, fill: Fill) -> tuple[Decimal, Position | None]:
    sold = min(fill.size, pos.size)
    entry_fee_share = pos.entry_fees * sold / pos.size
    pnl = (fill.price - pos.avg_entry_price) * sold - fill.fee - entry_fee_share
    left = pos.size - sold
    if left <= 0:
        return pnl, None
    return pnl, Position(
        pos.product_id,
        left,
        pos.avg_entry_price,
        pos.opened_at,
        pos.entry_fees - entry_fee_share,
        pos.high_watermark,
    )


def count_trade(state: PortfolioState) -> PortfolioState:
    """One more order placed today and this hour (counters are rolled by the caller)."""
    return state.replace(
        trades_today=state.trades_today + 1, trades_this_hour=state.trades_this_hour + 1
    )


def uncount_trade(state: PortfolioState, counted_at: datetime | None = None) -> PortfolioState:
    """Give back a trade counted for an order that was never placed.

    With `counted_at`, only the counters of that UTC day and hour are touched: an order
    counted yesterday does not lower today's count.
    """
    same_day = counted_at is None or counted_at.date() == state.day
    same_hour = counted_at is None or hour_start(counted_at) == state.hour
    return state.replace(
        trades_today=max(0, state.trades_today - 1) if same_day else state.trades_today,
        trades_this_hour=(
            max(0, state.trades_this_hour - 1) if same_hour else state.trades_this_hour
        ),
    )


def in_cooldown(state: PortfolioState, product_id: str, now: datetime) -> datetime | None:
    """The end of the product's cooldown after an exit, or None when it may be entered."""
    until = state.cooldowns.get(product_id)
    return until if until is not None and until > now else None
