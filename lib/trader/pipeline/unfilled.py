"""Entry limit orders the cycle cancelled unfilled: the product's entry this cycle is given
up, or goes at market (execution.unfilled_entry_fallback).

A resting entry (post-only or not) that no bar traded through within
`cancel_resting_after_seconds` is cancelled by the reconciliation. With "none" the product
gets no entry in the cycle that cancelled it; the next cycle's signals may propose a new
limit. With "market" the rules' entry on it this cycle, if they still propose one, takes
liquidity at once: no stale order is replayed, and every check still applies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from trader.domain.models import Intent, Order, OrderStatus, OrderType, Side
from trader.pipeline.rules import EntryDecision

_ENDED_UNFILLED = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED})


def unfilled_entries(
    orders: Iterable[Order], now: datetime, cancel_after: timedelta
) -> dict[str, str]:
    """Product -> client_order_id of each entry limit that ended with nothing filled after
    resting at least `cancel_after` (the orders the reconciliation read this cycle)."""
    return {
        order.product_id: order.client_order_id
        for order in orders
        if order.intent is Intent.ENTRY
        and order.side is Side.BUY
        and order.order_type is OrderType.LIMIT
        and order.status in _ENDED_UNFILLED
        and order.filled_size == 0
        and now - order.created_at >= cancel_after
    }


def after_unfilled(
    entries: EntryDecision, unfilled: Mapping[str, str], fallback: str
) -> EntryDecision:
    """The entries, those on a product whose limit just ended unfilled at market ("market")
    or skipped with why ("none")."""
    if not unfilled:
        return entries
    kept = []
    skipped = dict(entries.skipped)
    for proposal in entries.proposals:
        coid = unfilled.get(proposal.product_id)
        if coid is None:
            kept.append(proposal)
        elif fallback == "market":
            reason = f"{proposal.reason}; at market: limit {coid} rested unfilled"
            kept.append(dataclasses.replace(proposal, at_market=True, reason=reason))
        else:
            skipped[proposal.product_id] = f"unfilled_entry: limit {coid} rested unfilled"
    return EntryDecision(tuple(kept), skipped)
