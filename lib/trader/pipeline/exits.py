"""Exit proposals for open positions: stop loss, take profit, trailing stop, max holding time."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from trader.domain.config import ExitsConfig
from trader.domain.models import Intent, Position, Proposal, Quote, Side
from trader.domain.money import HUNDRED


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


def propose_exits(
    positions: Mapping[str, Position],
    quotes: Mapping[str, Quote],
    now: datetime,
    busy_products: Collection[str],
    cfg: ExitsConfig,
) -> tuple[Proposal, ...]:
    """A full SELL for each position that meets an exit rule and has no order in flight."""
    proposals: list[Proposal] = []
    for pid, pos in sorted(positions.items()):
        quote = quotes.get(pid)
        if quote is None or pid in busy_products or pos.size <= 0:
            continue
        reason = exit_reason(pos, quote.bid, now, cfg)
        if reason:
            proposals.append(
                Proposal(
                    pid, Side.SELL, Intent.EXIT, quote_size=None, base_size=pos.size, reason=reason
                )
            )
    return tuple(proposals)
