"""Exit proposals for open positions: stop loss, take profit, trailing stop, max holding time,
and (per config) a product that left the universe; never a sell the exchange cannot take."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from trader.domain.config import Config, ExitsConfig
from trader.domain.models import Intent, MarketSnapshot, Position, Proposal, Side
from trader.domain.money import HUNDRED
from trader.pipeline.universe import Universe, status_problem


def exit_reason(pos: Position, bid: Decimal, now: datetime, cfg: ExitsConfig) -> str | None:
    """The first exit rule the position meets, checked in order of urgency, or None."""
    entry = pos.avg_entry_price
    change = (bid / entry - 1) * HUNDRED
    if change <= -cfg.stop_loss_pct:
        return f"stop_loss {change:.2f}% <= -{cfg.stop_loss_pct}%"
    if change >= cfg.take_profit_pct:
        return f"take_profit {change:+.2f}% >= {cfg.take_profit_pct}%"
    if cfg.trailing_stop_pct is not None and pos.high_watermark > entry:
        drop = (1 - bid / pos.high_watermark) * HUNDRED
        if drop >= cfg.trailing_stop_pct:
            return (
                f"trailing_stop {drop:.2f}% below high {pos.high_watermark}"
                f" >= {cfg.trailing_stop_pct}%"
            )
    if cfg.max_holding_hours is not None:
        held = now - pos.opened_at
        if held >= timedelta(hours=float(cfg.max_holding_hours)):
            return f"max_holding {held} >= {cfg.max_holding_hours}h"
    return None


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
        reason = exit_reason(pos, quote.bid, snap.as_of, cfg.exits) or universe_exit_reason(
            pid, problem, universe, cfg.exits
        )
        if reason:
            proposals.append(
                Proposal(
                    pid, Side.SELL, Intent.EXIT, quote_size=None, base_size=pos.size, reason=reason
                )
            )
    return ExitPlan(tuple(proposals), blocked)
