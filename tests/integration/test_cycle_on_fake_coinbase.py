"""Whole cycles through the real SDK on the fake Coinbase: modes, retries, faults."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fake_coinbase import Fault
from fake_coinbase_env import CoinbaseEnv, coinbase_env, limit_order
from scripted_market import default_config

from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore, ListAuditSink
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.ids import cycle_id_for
from trader.domain.models import CycleResult, Mode, Order, OrderStatus, Position, Side
from trader.domain.state import PortfolioState
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle

# 30 s into the first bar of a synthetic day that trades early (see lib/trader/default.yaml).
START = datetime(2026, 2, 17, 0, 0, 30, tzinfo=UTC)


class Rig:
    def __init__(self, env: CoinbaseEnv) -> None:
        self.env = env
        self.store = InMemoryStateStore()
        self.lock = InMemoryCycleLock()
        self.audit = ListAuditSink()
        self.deps = CycleDeps(
            default_config(),
            env.exchange,
            self.store,
            self.lock,
            self.audit,
            env.clock,
            SimulatedPaperAccounts(default_config(), env.clock),
            sleep=lambda _s: None,
        )

    def run(self, mode: Mode, cycle_id: str | None = None) -> CycleResult:
        cid = cycle_id or cycle_id_for(self.env.clock.now(), 300)
        return run_cycle(self.deps, CycleRequest(cid, mode, "test"))

    def run_until_trade(self, mode: Mode, limit: int = 24) -> CycleResult:
        for _ in range(limit):
            self.env.clock.advance()
            result = self.run(mode)
            if result.orders:
                return result
        raise AssertionError(f"no trade in {limit} cycles")


def test_cycle_when_live_on_coinbase_then_orders_reach_the_exchange_once_and_are_booked() -> None:
    with coinbase_env(start=START) as env:
        rig = Rig(env)
        result = rig.run_until_trade(Mode.LIVE)

        assert result.no_trade_reason is None
        assert env.fake.orders_created() == len(result.orders)
        state = rig.store.load()
        for order in result.orders:
            assert order.status is OrderStatus.FILLED
            base = order.product_id.split("-")[0]
            # The position the bot booked is what the exchange's account now holds.
            assert (
                state.positions[order.product_id].size == env.fake.exchange.balance_totals()[base]
            )
        assert rig.lock.holder is None


def test_cycle_when_live_buys_by_quote_size_then_booked_positions_equal_coinbase_balances() -> None:
    with coinbase_env(start=START) as env:
        rig = Rig(env)
        result = rig.run_until_trade(Mode.LIVE)
        buys = [o for o in result.orders if o.side is Side.BUY and o.quote_size is not None]
        assert buys  # the entries are market buys by quote_size, filled in quote units

        # What Coinbase says the account holds, read through the SDK like the bot does.
        balances = env.exchange.get_balances()
        products = {p.product_id: p for p in env.exchange.list_products()}
        state = rig.store.load()
        for order in buys:
            product = products[order.product_id]
            held = balances[product.base_currency]
            booked = state.positions[order.product_id].size
            assert abs(booked - (held.available + held.hold)) <= product.base_increment
        # Each buy spent its quote_size in all, the fee coming out of it.
        spent = sum((o.quote_size for o in buys), Decimal(0))
        assert balances["USD"].available + balances["USD"].hold == Decimal(10_000) - spent


def test_cycle_when_fills_do_not_add_up_then_order_kept_in_flight_and_audited(caplog) -> None:
    with coinbase_env(start=START) as env:
        rig = Rig(env)
        # Every fills read answers with one fill of 1 base at 1 USD: not what any order filled.
        stray = {
            "entry_id": "stray-1", "trade_id": "t-stray", "order_id": "o-stray",
            "trade_time": "2026-02-17T00:00:31.000Z", "trade_type": "FILL", "price": "1",
            "size": "1", "commission": "0", "product_id": "BTC-USD", "side": "BUY",
            "sequence_timestamp": "2026-02-17T00:00:31.000Z", "liquidity_indicator": "TAKER",
            "size_in_quote": False,
        }  # fmt: skip
        page = Fault(200, json.dumps({"fills": [stray], "cursor": ""}))
        env.fake.fail("GET", r"/orders/historical/fills", page, times=1000)
        with caplog.at_level(logging.WARNING, logger="trader.adapters.coinbase.order_client"):
            result = rig.run_until_trade(Mode.LIVE)

        state = rig.store.load()
        for order in result.orders:
            assert order.status is OrderStatus.FILLED
            assert order.fills_mismatch is not None
            assert order.client_order_id in state.open_orders  # not settled
        assert state.positions == {}  # the stray fill was not booked
        placed = result.record["orders"]["placed"]
        assert all("filled_size" in p["fills_mismatch"] for p in placed)  # the audit shows it
        assert any(
            "not settled" in r.getMessage() and "fills sum to 1 base" in r.getMessage()
            for r in caplog.records
        )

        env.fake.clear_faults()  # the real fills can be read again
        env.clock.advance()
        later = rig.run(Mode.LIVE)
        state = rig.store.load()
        assert {o.client_order_id for o in later.reconciled} >= {
            o.client_order_id for o in result.orders
        }
        balances = env.exchange.get_balances()
        for order in result.orders:
            assert order.client_order_id not in state.open_orders
            base = order.product_id.split("-")[0]
            held = balances[base].available + balances[base].hold
            assert state.positions[order.product_id].size == held


@pytest.mark.parametrize("mode", [Mode.DRY_RUN, Mode.PAPER])
def test_cycle_when_not_live_on_public_data_then_nothing_reaches_the_exchange(mode: Mode) -> None:
    with coinbase_env(start=START, public=True) as env:
        rig = Rig(env)
        result = rig.run_until_trade(mode)

        assert env.fake.orders_created() == 0
        assert env.fake.count("POST", r"/orders") == 0
        assert result.record["exception"] is None
        state = rig.store.load()
        if mode is Mode.PAPER:  # the paper account paid for what it bought
            assert state.positions and state.paper_balances["USD"] < Decimal(10_000)
        else:
            assert state.positions == {} and state.paper_balances == {}


def test_cycle_when_the_create_times_out_after_acceptance_then_confirm_finds_the_one_order() -> (
    None
):
    with coinbase_env(start=START) as env:
        rig = Rig(env)
        # Every create is accepted by the exchange, then the client times out (and re-sends).
        env.fake.fail("POST", r"/orders", Fault.timeout(after=True), times=100)
        result = rig.run_until_trade(Mode.LIVE)

        assert env.fake.orders_created() == len(result.orders)  # re-sends made no new order
        assert all(o.status is OrderStatus.FILLED for o in result.orders)  # LIVE confirm read it
        state = rig.store.load()
        assert {o.product_id for o in result.orders} <= set(state.positions)


def test_cycle_when_the_outcome_stays_unknown_then_redelivery_and_next_cycle_add_nothing() -> None:
    with coinbase_env(start=START) as env:
        rig = Rig(env)
        env.fake.fail("POST", r"/orders", Fault.timeout(after=True), times=100)
        env.fake.fail("GET", r"/orders/historical/.*", Fault.http(503), times=1000)
        first = rig.run_until_trade(Mode.LIVE)
        assert all(o.status is OrderStatus.UNKNOWN for o in first.orders)
        created = env.fake.orders_created()
        assert created == len(first.orders)
        assert all(o.client_order_id in rig.store.load().open_orders for o in first.orders)

        again = rig.run(Mode.LIVE, cycle_id=first.cycle_id)  # the same event, delivered again
        assert again.no_trade_reason == "duplicate_invocation"

        env.fake.clear_faults()
        env.clock.advance()
        later = rig.run(Mode.LIVE)
        assert {o.client_order_id for o in later.reconciled} == {
            o.client_order_id for o in first.orders
        }
        state = rig.store.load()
        for order in first.orders:
            assert order.client_order_id not in state.open_orders
            assert order.product_id in state.positions  # booked from the reconciled fills
        new_orders = len(later.orders)
        assert env.fake.orders_created() == created + new_orders  # none of the first re-sent


@pytest.mark.parametrize(
    ("method", "path", "fault", "reason"),
    [
        ("GET", r"/products", Fault.http(503), "exception:ExchangeUnavailable"),
        ("GET", r"/products", Fault.rate_limited(), "exception:RateLimited"),
        ("GET", r"/products", Fault.timeout(), "exception:ExchangeTimeout"),
        ("GET", r"/products", Fault.malformed(), "exception:MalformedResponse"),
        ("GET", r"/best_bid_ask", Fault.http(500), "exception:ExchangeUnavailable"),
        ("GET", r"/accounts", Fault.http(401, "UNAUTHENTICATED"), "exception:AuthError"),
    ],
)
def test_cycle_when_market_data_fails_then_no_trade_names_it_and_state_is_untouched(
    method: str, path: str, fault: Fault, reason: str
) -> None:
    with coinbase_env(start=START) as env:
        rig = Rig(env)
        env.clock.advance()
        rig.run(Mode.LIVE)
        before = rig.store.load()
        env.fake.requests.clear()  # from here on: only the faulty cycle's requests
        env.fake.fail(method, path, fault, times=100)
        env.clock.advance()
        result = rig.run(Mode.LIVE)

        assert result.no_trade_reason == reason
        assert rig.store.load() == before  # nothing half-written
        assert rig.lock.holder is None
        assert env.fake.count("POST", r"/orders") == 0  # nothing was sent on broken data


def test_cycle_when_coinbase_refuses_the_order_then_orders_rejected_and_nothing_booked() -> None:
    with coinbase_env(start=START) as env:
        rig = Rig(env)
        for _ in range(10):
            env.fake.reject_next_create("INSUFFICIENT_FUND", "Insufficient balance")
        first = rig.run_until_trade(Mode.LIVE)

        assert first.no_trade_reason == "orders_rejected"
        assert all(o.status is OrderStatus.REJECTED for o in first.orders)
        state = rig.store.load()
        assert state.positions == {} and state.open_orders == {} and state.trades_today == 0


def holding_btc_with_a_stuck_order(env: CoinbaseEnv) -> tuple[Rig, Order]:
    """1 BTC bought at twice today's bid (its stop loss fires) and a BTC limit BUY the exchange
    accepted in an earlier cycle and keeps OPEN (it never matches)."""
    rig = Rig(env)
    bid = env.fake.market.get_quotes(["BTC-USD"])["BTC-USD"].bid
    env.fake.hold_open_next()
    stuck = env.exchange.place_order(
        limit_order("c-stuck", "BTC-USD", Side.BUY, "0.001", str(bid.quantize(Decimal(1))))
    )
    assert stuck.status is OrderStatus.OPEN
    losing = Position("BTC-USD", Decimal(1), bid * 2, START - timedelta(hours=1))
    rig.store = InMemoryStateStore(
        PortfolioState(positions={"BTC-USD": losing}, open_orders={"c-stuck": stuck})
    )
    rig.deps = dataclasses.replace(rig.deps, store=rig.store)
    return rig, stuck


def btc_sells(result: CycleResult) -> list[Order]:
    return [o for o in result.orders if o.product_id == "BTC-USD" and o.side is Side.SELL]


def test_cycle_when_coinbase_keeps_an_order_open_and_the_stop_fires_then_cancel_and_sell() -> None:
    with coinbase_env(start=START, balances={"USD": Decimal(10_000), "BTC": Decimal(1)}) as env:
        rig, _ = holding_btc_with_a_stuck_order(env)
        env.clock.advance()

        result = rig.run(Mode.LIVE)

        (sell,) = btc_sells(result)
        assert (sell.base_size, sell.status) == (Decimal(1), OrderStatus.FILLED)
        assert env.fake.count("POST", r"/orders/batch_cancel") == 1
        assert env.fake.routes.all_orders()["c-stuck"].status is OrderStatus.CANCELLED
        (cancel,) = result.record["orders"]["exit_cancels"]
        assert (cancel["client_order_id"], cancel["confirmed"]) == ("c-stuck", True)
        assert env.fake.exchange.balance_totals()["BTC"] == 0
        state = rig.store.load()
        assert "BTC-USD" not in state.positions and "c-stuck" not in state.open_orders


def test_cycle_when_coinbase_cannot_read_or_cancel_the_order_then_the_stop_sells_next_cycle() -> (
    None
):
    with coinbase_env(start=START, balances={"USD": Decimal(10_000), "BTC": Decimal(1)}) as env:
        rig, stuck = holding_btc_with_a_stuck_order(env)
        env.fake.fail("GET", rf"/orders/historical/{stuck.order_id}", Fault.http(503), times=1000)
        env.fake.fail("POST", r"/orders/batch_cancel", Fault.http(503), times=1000)
        env.clock.advance()

        first = rig.run(Mode.LIVE)

        assert btc_sells(first) == []
        (cancel,) = first.record["orders"]["exit_cancels"]
        assert cancel["confirmed"] is False
        assert cancel["error"].startswith("ExchangeUnavailable")

        env.clock.advance()
        second = rig.run(Mode.LIVE)

        (sell,) = btc_sells(second)
        assert sell.base_size == Decimal(1)
        assert env.fake.exchange.balance_totals()["BTC"] == 0
        assert "c-stuck" in rig.store.load().open_orders  # still asked about every cycle
