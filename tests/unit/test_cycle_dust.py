"""Whole cycles with dust: the crumb an exit leaves is closed, audited, and blocks nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from cycle_rig import FEES, NOW, continue_flat, flat_rig, make_rig

from trader.adapters.memory import InMemoryStateStore
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.models import OrderStatus, Position, Side
from trader.domain.state import PortfolioState

D = Decimal
# Scripted products: base_increment 0.0001, base_min_size 0.001. A flat SOL closes at 100,
# quoted 2 bps wide: bid 99.99.
OFF_GRID = D("1.23456")  # what a quote-sized buy fills, off the size grid


def test_cycle_when_an_exit_leaves_a_crumb_then_it_is_closed_as_dust_and_never_sold() -> None:
    rig = flat_rig()
    rig.exchange = MatchingExchange(
        rig.market, rig.clock, FEES, D(0), {"USD": D(10_000), "SOL": OFF_GRID}
    )
    losing = Position("SOL-USD", OFF_GRID, D(150), NOW - timedelta(hours=1))
    rig.store = InMemoryStateStore(PortfolioState(positions={"SOL-USD": losing}))

    (sell,) = rig.run().orders  # stop loss: 99.99 / 150 is -33 %
    # The whole position rounded down to the 0.0001 grid: 1.2345, leaving 0.00006.
    assert (sell.side, sell.base_size, sell.status) == (Side.SELL, D("1.2345"), OrderStatus.FILLED)
    # The exit settled leaving 0.00006 no order can sell: off the book, as dust, at once.
    state = rig.store.load()
    assert state.positions == {}
    assert state.dust == {"SOL-USD": D("0.00006")}
    assert rig.exchange.balance_totals()["SOL"] == D("0.00006")  # what the account still holds

    continue_flat(rig)
    second = rig.run()
    assert second.orders == ()
    record = rig.audit.records[-1]
    assert record["proposals"]["proposed"] == []  # never proposed, never dropped
    assert record["orders"]["dropped"] == []
    assert record["reconciliation"]["drift"] == []  # booked (dust) == exchange
    # 0.00006 x 99.99 = 0.0059994
    lot = {"product_id": "SOL-USD", "size": "0.00006", "bid": "99.99", "value": "0.0059994"}
    assert record["dust"] == {"closed": [], "held": [lot], "value": "0.0059994"}
    assert rig.store.load().dust == {"SOL-USD": D("0.00006")}


def test_cycle_when_dust_remains_on_a_product_then_a_new_entry_there_is_not_blocked() -> None:
    rig = make_rig()  # SOL rises 0.3 % a bar: momentum proposes a SOL entry
    crumb = Position("SOL-USD", D("0.00006"), D(100), NOW - timedelta(hours=1))
    rig.start_with(PortfolioState(positions={"SOL-USD": crumb}))

    result = rig.run()

    (buy,) = result.orders
    assert (buy.product_id, buy.side, buy.status) == ("SOL-USD", Side.BUY, OrderStatus.FILLED)
    assert "SOL-USD" not in rig.audit.records[0]["proposals"]["skipped"]
    closed = rig.audit.records[0]["dust"]["closed"]
    assert [(c["product_id"], c["size"]) for c in closed] == [("SOL-USD", "0.00006")]
    state = rig.store.load()
    # The buy takes the dust back onto the book: the position is the fill plus the crumb,
    # which is what the account holds.
    assert state.positions["SOL-USD"].size == buy.filled_size + D("0.00006")
    assert state.positions["SOL-USD"].size == rig.exchange.balance_totals()["SOL"]
    assert state.dust == {}
