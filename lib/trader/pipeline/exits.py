"""Exit proposals for open positions: stop loss (tighter in the regimes that set one), take
profit, trailing stop, max holding time, and (per config) a product that left the universe;
never a sell the exchange cannot take.

An order in flight on a held product holds its exit back (one order per product at a time),
but never for more than one cycle: when an exit rule fires and an order from an earlier
cycle is still in flight (OPEN, UNKNOWN, or unreadable), the cycle asks to cancel it
(`orders_blocking_exits`) and proposes the exit at once if the cancel is confirmed; if not,
the order stops holding the exit back from the next cycle on (`exit_blockers`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from trader.domain.config import Config, ExitsConfig
from trader.domain.copying import quick_init
from trader.domain.memo import PerObject
from trader.domain.models import (
    Intent,
    MarketSnapshot,
    Order,
    Position,
    Proposal,
    Quote,
    Side,
    TradingState,
)
from trader.domain.money import HUNDRED
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import mark_watermarks
from trader.pipeline.universe import Universe, status_problem


def exit_reason(
    pos: Position,
    bid: Decimal,
    now: datetime,
    cfg: ExitsConfig,
    exit_fee_rate: Decimal,
    regime: str | None = None,
) -> str | None:
    """The first exit rule the position meets, checked in order of urgency, or None.

    `exit_fee_rate` is what a sale would pay (the taker rate): the trailing stop arms on the
    gain net of both sides' fees. The stop loss is the tighter one `regime` sets
    (exits.regime_stop_loss_pct), if any.
    """
    entry = pos.avg_entry_price
    change = (bid / entry - 1) * HUNDRED
    stop = cfg.stop_loss_for(regime)
    if change <= -stop:
        tightened = f" (regime {regime})" if stop < cfg.stop_loss_pct else ""
        return f"stop_loss {change:.2f}% <= -{stop}%{tightened}"
    if change >= cfg.take_profit_pct:
        return f"take_profit {change:+.2f}% >= {cfg.take_profit_pct}%"
    trailing = _trailing_stop(pos, bid, cfg, exit_fee_rate)
    if trailing is not None:
        return trailing
    if cfg.max_holding_hours is not None:
        held = now - pos.opened_at
        if held >= _max_holding(cfg):
            return f"max_holding {held} >= {cfg.max_holding_hours}h"
    return None


def _longest_hold(cfg: ExitsConfig) -> timedelta:
    return timedelta(hours=float(cfg.max_holding_hours or 0))


_max_holding = PerObject(_longest_hold)  # once per config, not per position and cycle


def net_gain_at_high_pct(pos: Position, exit_fee_rate: Decimal) -> Decimal:
    """What selling at the high since entry would have made, in percent of what the position
    cost, net of the entry fees paid and the exit fee at `exit_fee_rate`."""
    if pos.size <= 0 or pos.avg_entry_price <= 0:
        return -HUNDRED
    cost = pos.avg_entry_price + pos.entry_fees / pos.size
    return (pos.high_watermark * (1 - exit_fee_rate) / cost - 1) * HUNDRED


def _trailing_stop(
    pos: Position, bid: Decimal, cfg: ExitsConfig, exit_fee_rate: Decimal
) -> str | None:
    """The trail fires `trailing_stop_pct` below the high, once armed: only after the high
    was `trailing_arm_pct` in profit net of fees, so it is never a plain stop loss."""
    if cfg.trailing_stop_pct is None or pos.high_watermark <= 0:
        return None
    if net_gain_at_high_pct(pos, exit_fee_rate) < cfg.trailing_arm_pct:
        return None
    drop = (1 - bid / pos.high_watermark) * HUNDRED
    if drop < cfg.trailing_stop_pct:
        return None
    return f"trailing_stop {drop:.2f}% below high {pos.high_watermark} >= {cfg.trailing_stop_pct}%"


@quick_init
@dataclass(frozen=True, slots=True)
class ExitPlan:
    proposals: tuple[Proposal, ...]
    blocked: dict[str, str]  # held product -> why no sell can be proposed at all


def universe_exit_reason(
    product_id: str, problem: str | None, universe: Universe, cfg: ExitsConfig
) -> str | None:
    """Why a sellable holding should go because it left the universe (per config), or None.

    `problem` is the product's status problem (universe.status_problem). A product kept out
    only by this cycle's quote (spread, no valid quote) has not left: its exclusion passes.
    """
    if problem is not None:
        return f"not_tradable: {problem}" if cfg.exit_when_not_tradable else None
    why = universe.excluded.get(product_id)
    if why is None or not cfg.exit_when_left_universe or product_id in universe.momentary:
        return None
    return f"left_universe: {why}"


def plan_exits(
    positions: Mapping[str, Position],
    snap: MarketSnapshot,
    universe: Universe,
    busy_products: Collection[str],
    cfg: Config,
    regime: str | None = None,
) -> ExitPlan:
    """A full SELL for each position that meets an exit rule and has no order in flight.

    A holding the exchange takes no sell of (not listed, not online, disabled, cancel_only,
    ...) gets no proposal, whatever rule it meets; `blocked` names why.
    """
    proposals: list[Proposal] = []
    blocked: dict[str, str] = {}
    for pid, pos in sorted(positions.items()):
        if pid in busy_products or pos.size <= 0:
            continue
        product = snap.products.get(pid)
        problem = status_problem(product, cfg.universe) if product else "not_listed"
        if product is None or not product.is_tradable:
            blocked[pid] = f"{problem}: the exchange takes no sell"
            continue
        quote = snap.quotes.get(pid)
        if quote is None:
            continue
        reason = exit_reason(
            pos, quote.bid, snap.as_of, cfg.exits, snap.fees.taker, regime
        ) or universe_exit_reason(pid, problem, universe, cfg.exits)
        if reason:
            proposals.append(
                Proposal(
                    pid, Side.SELL, Intent.EXIT, quote_size=None, base_size=pos.size, reason=reason
                )
            )
    return ExitPlan(tuple(proposals), blocked)


def orders_blocking_exits(
    state: PortfolioState,
    quotes: Mapping[str, Quote],
    now: datetime,
    cfg: ExitsConfig,
    exit_fee_rate: Decimal,
    regime: str | None = None,
) -> tuple[tuple[Order, str], ...]:
    """(order, exit reason) for each order in flight on a held product whose exit rule fires.

    Called before this cycle places anything, so every order in flight is from an earlier
    cycle. Under HALTED nothing exits, so nothing is cancelled for an exit either.
    """
    if state.trading_state is TradingState.HALTED:
        return ()
    in_flight = {order.product_id for order in state.open_orders.values()}
    held = {pid: pos for pid, pos in state.positions.items() if pid in in_flight}
    firing: dict[str, str] = {}
    for pid, pos in mark_watermarks(held, quotes).items():
        quote = quotes.get(pid)
        reason = (
            exit_reason(pos, quote.bid, now, cfg, exit_fee_rate, regime)
            if quote and pos.size > 0
            else None
        )
        if reason:
            firing[pid] = reason
    return tuple(
        (order, firing[order.product_id])
        for _, order in sorted(state.open_orders.items())
        if order.product_id in firing
    )


def exit_blockers(state: PortfolioState, now: datetime) -> set[str]:
    """Products whose order in flight holds their exit back this cycle: every one, except
    orders this bot asked to cancel in an earlier cycle (confirmed or not)."""
    return {
        order.product_id
        for coid, order in state.open_orders.items()
        if not (coid in state.cancel_requested and state.cancel_requested[coid] < now)
    }
