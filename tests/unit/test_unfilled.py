"""Entry limits cancelled unfilled: which orders count, and what the fallback does with the
rules' entry on that product (given up, or at market)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from pipeline_builders import T0, entry

from trader.domain.models import Intent, Order, OrderStatus, OrderType, Side
from trader.pipeline.rules import EntryDecision
from trader.pipeline.unfilled import after_unfilled, unfilled_entries

D = Decimal
TEN_MINUTES = timedelta(minutes=10)
NOW = T0 + TEN_MINUTES


def limit_entry(coid: str, product_id: str = "BTC-USD", **changes: object) -> Order:
    order = Order(
        coid,
        product_id,
        Side.BUY,
        OrderType.LIMIT,
        OrderStatus.CANCELLED,
        created_at=T0,
        intent=Intent.ENTRY,
        base_size=D(1),
        limit_price=D(99),
    )
    return dataclasses.replace(order, **changes)


def test_unfilled_entries_when_only_a_stale_unfilled_entry_limit_counts() -> None:
    orders = [
        limit_entry("c-stale"),  # cancelled with nothing filled after resting 10 minutes
        limit_entry("c-expired", "SOL-USD", status=OrderStatus.EXPIRED),
        limit_entry("c-partly", "ETH-USD", filled_size=D("0.5")),  # a position now: no entry
        limit_entry("c-young", "AVAX-USD", created_at=NOW - timedelta(minutes=9)),
        limit_entry("c-open", "DOGE-USD", status=OrderStatus.OPEN),
        limit_entry("c-market", "ADA-USD", order_type=OrderType.MARKET),
        limit_entry("c-exit", "XRP-USD", side=Side.SELL, intent=Intent.EXIT),
    ]
    assert unfilled_entries(orders, NOW, TEN_MINUTES) == {
        "BTC-USD": "c-stale",
        "SOL-USD": "c-expired",
    }


ENTRIES = EntryDecision((entry("BTC-USD"), entry("ETH-USD")), {"SOL-USD": "signals 0 < 1"})


def test_after_unfilled_when_none_then_that_product_is_skipped_the_others_kept() -> None:
    decision = after_unfilled(ENTRIES, {"BTC-USD": "c-1"}, "none")
    assert [p.product_id for p in decision.proposals] == ["ETH-USD"]
    assert decision.skipped == {
        "SOL-USD": "signals 0 < 1",
        "BTC-USD": "unfilled_entry: limit c-1 rested unfilled",
    }


def test_after_unfilled_when_market_then_that_entry_takes_liquidity() -> None:
    decision = after_unfilled(ENTRIES, {"BTC-USD": "c-1"}, "market")
    btc, eth = decision.proposals
    assert (btc.at_market, btc.reason) == (True, "test; at market: limit c-1 rested unfilled")
    assert (btc.quote_size, eth.at_market) == (D(100), False)
    assert decision.skipped == ENTRIES.skipped


def test_after_unfilled_when_nothing_ended_unfilled_then_entries_unchanged() -> None:
    assert after_unfilled(ENTRIES, {}, "market") is ENTRIES
