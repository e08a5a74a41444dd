"""States that break an invariant, each with the message naming the field (state invariants),
and ways to put one in a store without a save (which refuses them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from trader.domain.models import Order, OrderStatus, OrderType, Position, Side
from trader.domain.state import (
    STATE_SCHEMA_VERSION,
    PortfolioState,
    RegimeMemory,
    state_to_dict,
)

T0 = datetime(2026, 11, 24, 23, 55, tzinfo=UTC)
D = Decimal


def position(size: str = "0.5", price: str = "60000", pid: str = "BTC-USD") -> Position:
    return Position(pid, D(size), D(price), T0)


def order(limit_price: str) -> Order:
    return Order(
        "c-1", "ETH-USD", Side.BUY, OrderType.LIMIT, OrderStatus.OPEN, T0,
        base_size=D("0.1"), limit_price=D(limit_price),
    )  # fmt: skip


BAD_STATES = [
    (PortfolioState(paper_balances={"USD": D("NaN")}), "paper_balances.USD: NaN"),
    (PortfolioState(positions={"BTC-USD": position(size="NaN")}), "positions.BTC-USD.size: NaN"),
    (
        PortfolioState(positions={"BTC-USD": position(size="Infinity")}),
        "positions.BTC-USD.size: Infinity",
    ),
    (
        PortfolioState(positions={"BTC-USD": position(size="-0.5")}),
        "positions.BTC-USD.size: -0.5 must not be negative",
    ),
    (
        PortfolioState(positions={"BTC-USD": position(price="0")}),
        "positions.BTC-USD.avg_entry_price: 0 must be positive",
    ),
    (
        PortfolioState(positions={"ETH-USD": position()}),
        "positions.ETH-USD: holds product_id 'BTC-USD'",
    ),
    (PortfolioState(day=T0.date(), trades_today=-1), "trades_today: -1 must not be negative"),
    (PortfolioState(fees_total=D("-0.01")), "fees_total: -0.01 must not be negative"),
    (PortfolioState(realized_pnl_total=D("-Infinity")), "realized_pnl_total: -Infinity"),
    (
        PortfolioState(open_orders={"c-1": order(limit_price="0")}),
        "open_orders.c-1.limit_price: 0 must be positive",
    ),
    (
        PortfolioState(regime=RegimeMemory("sideways", T0, T0)),
        "regime.name: 'sideways' is not one of",
    ),
    (
        PortfolioState(regime=RegimeMemory("crash", T0 + timedelta(minutes=5), T0)),
        "regime.since: 2026-11-25 00:00:00+00:00 is after regime.as_of",
    ),
]
BAD_IDS = [message.split(":")[0] for _, message in BAD_STATES]


def plant_in_file(path: Path, state: PortfolioState) -> None:
    """`state` written straight into a state file, without the check a save makes (a state an
    older version left, or a hand edit)."""
    saved = state.replace(version=state.version + 1)
    path.write_text(json.dumps({"fence": 0, "state": state_to_dict(saved)}), encoding="utf-8")


def plant_in_dynamo(client: Any, table: str, state: PortfolioState) -> None:
    """`state` written straight into the table as the store lays it out (one item per position,
    order and counter), without the check a save makes."""
    from trader.adapters.aws.dynamo_state import STATE_SK, _items_for, _typed

    saved = state.replace(version=state.version + 1)
    head = {"version": saved.version, "state_schema": STATE_SCHEMA_VERSION}
    head |= {"trading_state": saved.trading_state.value}
    for sk, item in _items_for(saved).items():
        extra = head if sk == STATE_SK else {}
        typed = _typed({"pk": "PORTFOLIO#default", "sk": sk, **item, **extra})
        client.put_item(TableName=table, Item=typed)
