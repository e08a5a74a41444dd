"""USD and USDC are one pool: a USDC-only account trades, and conversions run once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from fake_coinbase_env import coinbase_env
from scripted_market import default_config

from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore, ListAuditSink
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.ids import cycle_id_for
from trader.domain.models import ConversionStatus, Mode, OrderStatus, PlannedConversion, Side
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle

START = datetime(2026, 2, 17, 0, 0, 30, tzinfo=UTC)  # a synthetic day that trades early


def test_cycle_when_the_account_holds_only_usdc_then_buys_go_to_the_usdc_books() -> None:
    with coinbase_env(start=START, balances={"USDC": Decimal(10_000)}) as env:
        store, audit = InMemoryStateStore(), ListAuditSink()
        config = default_config()
        deps = CycleDeps(
            config,
            env.exchange,
            store,
            InMemoryCycleLock(),
            audit,
            env.clock,
            SimulatedPaperAccounts(config, env.clock),
            sleep=lambda _s: None,
        )
        for _ in range(24):
            env.clock.advance()
            cid = cycle_id_for(env.clock.now(), 300)
            result = run_cycle(deps, CycleRequest(cid, Mode.LIVE, "t"))
            if result.orders:
                break
        buys = [o for o in result.orders if o.side is Side.BUY]
        assert buys and all(o.status is OrderStatus.FILLED for o in buys)
        created = [
            r.body["product_id"]
            for r in env.fake.requests
            if r.method == "POST" and r.path.endswith("/orders")
        ]
        assert created and all(pid.endswith("-USDC") for pid in created)  # paid in USDC
        state = store.load()
        held = env.fake.exchange.balance_totals()
        for order in buys:
            # booked under the USD book's id, and equal to what the account holds
            assert order.product_id.endswith("-USD")
            base = order.product_id.split("-")[0]
            assert state.positions[order.product_id].size == held[base]
        assert held.get("USD", Decimal(0)) == 0  # no USD was ever needed
        assert held["USDC"] < Decimal(10_000)


def test_convert_when_usdc_to_usd_on_coinbase_then_balances_move_once_per_client_id() -> None:
    with coinbase_env(balances={"USD": Decimal(5), "USDC": Decimal(100)}) as env:
        env.exchange.get_balances()  # the adapter learns the accounts' ids here
        planned = PlannedConversion("cv-1", "USDC", "USD", Decimal(40), "test", "coid-1")

        first = env.exchange.convert(planned)
        again = env.exchange.convert(planned)

        assert first.status is ConversionStatus.COMPLETED
        assert again == first
        held = env.fake.exchange.balance_totals()
        assert (held["USD"], held["USDC"]) == (Decimal(45), Decimal(60))
        quotes = [r for r in env.fake.requests if r.path.endswith("/convert/quote")]
        assert len(quotes) == 1
        assert quotes[0].body["from_account"] == "acct-usdc"


def test_convert_when_the_pair_is_not_usd_usdc_then_failed_without_moving_money() -> None:
    with coinbase_env(balances={"USD": Decimal(50)}) as env:
        env.exchange.get_balances()
        planned = PlannedConversion("cv-2", "USD", "BTC", Decimal(10), "test", "coid-2")
        try:
            result = env.exchange.convert(planned)
        except Exception as exc:  # noqa: BLE001 - either a typed refusal or a FAILED result
            assert type(exc).__name__ in {"BadRequest", "OrderRejected"}
        else:
            assert result.status is ConversionStatus.FAILED
        assert env.fake.exchange.balance_totals()["USD"] == Decimal(50)
