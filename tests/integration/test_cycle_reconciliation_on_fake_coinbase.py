"""LIVE cycles through the real SDK on the fake Coinbase: partial fills, faults and a trade by
hand, and the book against the account after each (issue 8 §6)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from account_checks import coins, fee_sum, fills, mismatches
from coinbase_cycle_rig import START, CoinbaseCycleRig
from fake_coinbase import Fault
from fake_coinbase_env import coinbase_env, market_sell

from trader.domain.models import OrderStatus, Side

CASH = Decimal(10_000)
MANUAL = "manual-"  # client ids of the orders placed by hand


def assert_book_is_the_account(rig: CoinbaseCycleRig) -> None:
    """Booked == available + hold per coin within one increment; every fill seen once, and
    the fees booked are the fees of the bot's own fills (not of the trades by hand)."""
    state, totals, orders = rig.store.load(), rig.account_totals(), rig.account_orders()
    assert mismatches(state, totals, rig.products(), coins(state, totals)) == {}
    assert len(set(state.seen_fill_ids)) == len(state.seen_fill_ids)
    assert {f.fill_id for f in fills(orders.values())} <= set(state.seen_fill_ids)
    own = [o for coid, o in orders.items() if not coid.startswith(MANUAL)]
    assert state.fees_total == fee_sum(own)


def test_cycle_when_coinbase_fills_part_and_cancels_the_rest_then_only_the_part_is_booked() -> None:
    with coinbase_env(start=START) as env:
        rig = CoinbaseCycleRig(env)
        env.fake.partial_fill_next(Decimal("0.4"))  # IOC: 40 % fills, the rest is cancelled
        result = rig.run_until_trade()

        (order,) = result.orders
        # SOL's tier share at full size: BTC, ETH and SOL read trending_up (multiplier 1)
        assert order.side is Side.BUY and order.quote_size == Decimal("331.50")
        assert order.status is OrderStatus.CANCELLED  # confirm read it final
        # 40 % of 331.50 is 132.60, the fee inside it: that is all the cash that went.
        assert rig.account_totals()["USD"] == CASH - Decimal("132.60")
        state = rig.store.load()
        assert state.positions["SOL-USD"].size == order.filled_size
        assert order.client_order_id not in state.open_orders
        assert_book_is_the_account(rig)


def test_cycle_when_coinbase_fills_part_now_and_the_rest_later_then_in_flight_then_settled() -> (
    None
):
    with coinbase_env(start=START) as env:
        rig = CoinbaseCycleRig(env)
        env.fake.partial_fill_next(Decimal("0.4"), rest_later=True)
        first = rig.run_until_trade()

        (order,) = first.orders
        assert order.status is OrderStatus.OPEN  # still working on the rest
        state = rig.store.load()
        assert state.open_orders[order.client_order_id].status is OrderStatus.OPEN
        # What filled is booked, only that: 132.60 of the 331.50 spent.
        assert rig.account_totals()["USD"] == CASH - Decimal("132.60")
        assert state.positions["SOL-USD"].size == order.filled_size == rig.account_totals()["SOL"]
        assert_book_is_the_account(rig)

        env.clock.advance()
        second = rig.run()  # the rest filled meanwhile; this cycle reads the order again

        (settled,) = second.reconciled
        assert settled.client_order_id == order.client_order_id
        assert settled.status is OrderStatus.FILLED
        assert len(settled.fills) == 2  # the part read again, and the rest: each booked once
        state = rig.store.load()
        assert order.client_order_id not in state.open_orders
        assert rig.account_totals()["USD"] == CASH - Decimal("331.50")
        assert state.positions["SOL-USD"].size == settled.filled_size
        assert second.record["reconciliation"]["drift"] == []
        assert_book_is_the_account(rig)


def test_cycle_when_faults_hide_an_order_and_a_hand_sells_meanwhile_then_external_trade() -> None:
    with coinbase_env(start=START) as env:
        rig = CoinbaseCycleRig(env)
        # Every create is accepted, then times out; every order read answers 503.
        env.fake.fail("POST", r"/orders", Fault.timeout(after=True), times=100)
        env.fake.fail("GET", r"/orders/historical/(?!fills).*", Fault.http(503), times=1000)
        first = rig.run_until_trade()
        (unknown,) = first.orders
        assert unknown.status is OrderStatus.UNKNOWN
        bought = rig.account_totals()["SOL"]
        assert rig.store.load().positions == {}  # nothing known, nothing booked

        # Meanwhile the owner sells half of it on the website (another client, its own id).
        env.fake.clear_faults()
        half = (bought / 2).quantize(Decimal("0.001"), ROUND_DOWN)  # SOL's base increment
        website = env.new_exchange()
        website.place_order(market_sell(f"{MANUAL}1", "SOL-USD", str(half)))

        env.fake.fail("GET", r"/orders/historical/(?!fills).*", Fault.http(503), times=1000)
        env.clock.advance()
        blind = rig.run()  # the order still cannot be read
        recon = blind.record["reconciliation"]
        # SOL is not the bot's coin yet; the SOL fills (its own, whose order_id it never got,
        # and the hand's) wait until its order settles: neither is taken for external yet.
        assert (recon["drift"], recon["external_fills"]) == ([], [])

        env.fake.clear_faults()
        env.clock.advance()
        clear = rig.run()

        (reconciled,) = clear.reconciled
        assert (reconciled.status, reconciled.filled_size) == (OrderStatus.FILLED, bought)
        drift = clear.record["reconciliation"]["drift"]
        assert drift == [
            {
                "currency": "SOL",
                "booked": str(bought),
                "exchange": str(bought - half),
                "cause": "external_trade",
            }
        ]
        sold = [(f["side"], f["size"]) for f in clear.record["reconciliation"]["external_fills"]]
        assert sold == [("SELL", str(half))]
        state = rig.store.load()
        assert state.positions["SOL-USD"].size == bought - half
        assert_book_is_the_account(rig)
