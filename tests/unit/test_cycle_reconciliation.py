"""Whole cycles on the simulated account when someone trades by hand between two cycles."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from cycle_rig import Rig, continue_flat, make_rig
from scripted_market import series

from trader.domain.models import Intent, OrderType, PlannedOrder, Side


def sell_by_hand(rig: Rig, product_id: str, size: Decimal) -> None:
    """An order the bot never planned (the website, another bot): a foreign client id."""
    rig.exchange.place_order(
        PlannedOrder("manual-1", product_id, Side.SELL, OrderType.MARKET, Intent.EXIT, size, None)
    )


def bought_sol(rig: Rig) -> Decimal:
    rig.run()
    size = rig.store.load().positions["SOL-USD"].size
    assert rig.exchange.balance_totals()["SOL"] == size  # booked == exchange after the buy
    return size


def test_cycle_when_half_sold_by_hand_then_the_position_follows_the_exchange() -> None:
    rig = make_rig()
    size = bought_sol(rig)
    half = (size / 2).quantize(Decimal("0.001"), ROUND_DOWN)  # SOL's base increment
    sell_by_hand(rig, "SOL-USD", half)
    rig.clock.advance()

    rig.run()

    record = rig.audit.records[-1]["reconciliation"]
    assert record["checked"] == ["SOL"]
    assert record["drift"] == [
        {
            "currency": "SOL",
            "booked": str(size),
            "exchange": str(size - half),
            "cause": "external_trade",
        }
    ]
    assert [f["fill_id"] for f in record["external_fills"]] != []
    state = rig.store.load()
    assert state.positions["SOL-USD"].size == rig.exchange.balance_totals()["SOL"] == size - half


def test_cycle_when_all_sold_by_hand_then_closed_external_and_no_entry_there_that_cycle() -> None:
    rig = make_rig()
    size = bought_sol(rig)
    entry = rig.store.load().positions["SOL-USD"].avg_entry_price
    # A quote-sized buy fills off the size grid: the hand sells all it can, a crumb remains.
    sold = size.quantize(Decimal("0.0001"), ROUND_DOWN)  # SOL's base increment here
    sell_by_hand(rig, "SOL-USD", sold)
    rig.clock.advance()

    result = rig.run()

    audit = rig.audit.records[-1]
    assert [d["cause"] for d in audit["reconciliation"]["drift"]] == ["external_trade"]
    state = rig.store.load()
    assert "SOL-USD" not in state.positions
    (change,) = audit["reconciliation"]["external"]
    assert Decimal(change["size"]) == -sold
    assert state.external_pnl_total == Decimal(change["pnl"])
    bid = rig.exchange.get_quotes(["SOL-USD"])["SOL-USD"].bid
    assert Decimal(change["pnl"]) == (bid - entry) * sold  # what left, at the bid, vs entry
    # The crumb stays on the exchange and in the book as dust: booked == exchange.
    assert state.dust == {"SOL-USD": size - sold}
    assert rig.exchange.balance_totals()["SOL"] == size - sold
    # SOL still rises and signals, but its coin drifted this cycle: no entry until the next.
    assert audit["proposals"]["skipped"]["SOL-USD"] == "balance_drift (external_trade)"
    assert all(o.product_id != "SOL-USD" for o in result.orders)


def test_cycle_when_the_account_holds_a_coin_before_the_bot_buys_it_then_that_stays_unbooked() -> (
    None
):
    rig = make_rig()
    rig.exchange.deposit("SOL", Decimal(1))  # the owner's SOL, there before the bot trades SOL
    first = rig.run()  # SOL rises: the bot buys some
    (buy,) = first.orders
    continue_flat(rig)

    rig.run()

    state = rig.store.load()
    # The position is what the bot bought; the owner's coin stays outside it, as unbooked.
    assert state.positions["SOL-USD"].size == buy.filled_size
    assert state.unbooked == {"SOL": Decimal(1)}
    assert rig.audit.records[-1]["reconciliation"]["drift"] == []
    assert rig.exchange.balance_totals()["SOL"] == buy.filled_size + 1

    # A stop loss sells the bot's position only: the owner's 1 SOL is still there after it.
    rig.clock.advance()
    last = rig.market.candles["SOL-USD"][-1].close
    rig.market.candles["SOL-USD"] = series(rig.clock.now(), [last] * 47 + [last * 9 / 10])
    exit_cycle = rig.run()
    (sell,) = exit_cycle.orders
    assert (sell.side, sell.base_size) == (
        Side.SELL,
        buy.filled_size.quantize(Decimal("0.0001"), ROUND_DOWN),
    )
    assert rig.exchange.balance_totals()["SOL"] >= 1
