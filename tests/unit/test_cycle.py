"""A whole cycle on a scripted market: orders, audit, and each NO_TRADE reason from a real cause."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from cycle_rig import FEES, NOW, continue_flat, flat_rig, make_rig
from scripted_market import ScriptedMarket, default_config, product, tweak

from trader.adapters.memory import InlineExecutor, InMemoryStateStore
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.errors import OrderRejected, OutcomeUnknown
from trader.domain.ids import cycle_id_for
from trader.domain.models import (
    Mode,
    Order,
    OrderStatus,
    PlannedOrder,
    Position,
    TradingState,
)
from trader.domain.state import PortfolioState
from trader.service.cycle import CycleRequest, run_cycle

DESIGN_FIELDS = [
    "schema_version",
    "cycle_id",
    "mode",
    "started_at",
    "finished_at",
    "duration_ms",
    "regime",
    "universe",
    "triggers",
    "proposals",
    "risk",
    "orders",
    "no_trade_reason",
    "exception",
    "state",
    "api_calls",
]


# --- a cycle that trades ---------------------------------------------------------------


def test_run_cycle_when_an_order_fills_then_its_fills_are_new_once() -> None:
    rig = make_rig()
    bought = rig.run(Mode.PAPER)
    continue_flat(rig)
    quiet = rig.run(Mode.PAPER)

    (order,) = bought.orders
    assert order.fills  # the paper account filled it
    assert bought.new_fills == order.fills
    assert quiet.new_fills == ()  # booked already: not new again


def test_run_cycle_when_momentum_fires_in_paper_mode_then_buys_fills_books_and_audits() -> None:
    rig = make_rig()
    result = rig.run(Mode.PAPER)

    assert result.no_trade_reason is None
    (order,) = result.orders
    assert (order.product_id, order.side.value, order.status) == (
        "SOL-USD",
        "BUY",
        OrderStatus.FILLED,
    )
    # Equity 10,000 (cash only); SOL is tier2 at 5 % -> 500 at full conviction.
    # Conviction: momentum 0.3 %/bar over 12 bars = 1.003^12 - 1 = 3.66 % -> 3.66/4 = 0.915;
    # breakout: close 0.3 % over the prior 24-bar high -> 0.3; sum capped at 1 -> scale 1.
    # Regime on flat BTC is choppy -> multiplier 0.5 -> quote size 500 * 1 * 0.5 = 250.00.
    assert order.quote_size == Decimal("250.00")
    last_close = rig.market.candles["SOL-USD"][-1].close
    ask = last_close + last_close * Decimal(2) / 20_000  # 2 bps spread around the close
    # PAPER's own slippage (paper.slippage_bps = 2), then up to the 0.01 tick like a real fill.
    price = (ask * (1 + Decimal(2) / 10_000)).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    # The 0.6 % taker fee comes out of the 250.00 (as on Coinbase): 250 / 1.006 buys SOL,
    # the base floored to 16 decimals, not to SOL's base increment.
    value = Decimal("250.00") / Decimal("1.006")
    expected_base = (value / price).quantize(Decimal("1e-16"), rounding=ROUND_FLOOR)
    assert order.filled_size == expected_base

    state = rig.store.load()
    assert state.positions["SOL-USD"].size == expected_base
    assert state.trades_today == 1 and state.trades_this_hour == 1
    assert state.open_orders == {}
    assert rig.exchange.orders() == {}  # PAPER never sends to the exchange


def test_run_cycle_when_paper_buys_by_quote_size_then_cash_falls_by_exactly_the_quote_size() -> (
    None
):
    rig = make_rig()
    (order,) = rig.run(Mode.PAPER).orders
    assert order.quote_size == Decimal("250.00")  # as worked out in the test above

    state = rig.store.load()
    # PAPER keeps its account in the state: 250.00 spent in all, the fee included.
    assert state.paper_balances["USD"] == Decimal("9750.00")
    assert state.paper_balances["SOL"] == order.filled_size == state.positions["SOL-USD"].size
    notional = order.filled_size * order.average_filled_price
    assert order.total_fees == state.fees_total == Decimal("250.00") - notional
    # ... and that fee is the 0.6 % taker on the notional, to within the 16-decimal floor:
    # fee = 250 * 0.006 / 1.006 = 1.49105367793240...; the floor leaves < price * 1e-16.
    floor_leftover = order.average_filled_price * Decimal("1e-16")
    assert abs(order.total_fees - Decimal("1.5") / Decimal("1.006")) < floor_leftover


def test_run_cycle_when_it_trades_then_the_audit_record_carries_every_design_field() -> None:
    rig = make_rig()
    rig.run()

    (record,) = rig.audit.records
    keys = list(json.loads(json.dumps(record)))  # as the JSONL line reads back
    assert keys[0] == "schema_version"
    assert [k for k in keys if k in DESIGN_FIELDS] == DESIGN_FIELDS  # all there, in DESIGN order
    assert record["cycle_id"] == "20260302T1200Z"
    assert record["mode"] == "LIVE"
    assert record["no_trade_reason"] is None
    assert record["regime"]["name"] == "choppy"
    assert {m["product_id"] for m in record["universe"]["eligible"]} == {
        "BTC-USD",
        "ETH-USD",
        "SOL-USD",
    }
    assert {t["kind"] for t in record["triggers"]} >= {"momentum", "breakout"}
    assert record["risk"] == [
        {
            "product_id": "SOL-USD",
            "side": "BUY",
            "intent": "ENTRY",
            "approved": True,
            "check": None,
            "detail": None,
        }
    ]
    (placed,) = record["orders"]["placed"]
    assert placed["client_order_id"] == record["orders"]["planned"][0]["client_order_id"]
    assert placed["status"] == "FILLED"
    for key in ("trades_today", "trades_this_hour", "exposure", "pnl"):
        assert key in record["state"]
    assert record["state"]["trades_today"] == 1
    assert record["api_calls"]["list_products"] == 1
    assert datetime.fromisoformat(record["finished_at"]) >= datetime.fromisoformat(
        record["started_at"]
    )


def test_run_cycle_when_dry_run_then_plans_but_sends_nothing() -> None:
    rig = make_rig()
    result = rig.run(Mode.DRY_RUN)

    (order,) = result.orders
    assert order.status is OrderStatus.DRY_RUN
    assert rig.exchange.orders() == {}
    state = rig.store.load()
    assert state.positions == {} and state.open_orders == {} and state.paper_balances == {}
    assert rig.audit.records[0]["orders"]["placed"][0]["status"] == "DRY_RUN"


def test_run_cycle_when_a_position_hits_its_stop_then_sells_it_even_under_the_kill_switch() -> None:
    rig = flat_rig()
    # Bought 2 SOL at 110; the bid is now just under 100: -9 % is past the 3 % stop.
    position = Position("SOL-USD", Decimal(2), Decimal(110), NOW - timedelta(hours=1))
    rig.exchange = MatchingExchange(
        rig.market, rig.clock, FEES, Decimal(0), {"USD": Decimal(10_000), "SOL": Decimal(2)}
    )
    rig.store = InMemoryStateStore(
        PortfolioState(
            trading_state=TradingState.REDUCING,
            positions={"SOL-USD": position},
            paper_balances={"USD": Decimal(10_000), "SOL": Decimal(2)},
        )
    )
    result = rig.run(Mode.PAPER)

    (order,) = result.orders
    assert (order.side.value, order.status, order.filled_size) == (
        "SELL",
        OrderStatus.FILLED,
        Decimal(2),
    )
    state = rig.store.load()
    assert "SOL-USD" not in state.positions
    assert state.realized_pnl_total < 0
    assert "SOL-USD" in state.cooldowns  # a losing exit starts the cooldown


def test_run_cycle_when_an_exit_leaves_dust_then_the_position_is_closed_and_the_dust_kept() -> None:
    rig = flat_rig()
    # 2.00004567 SOL, as a quote-sized buy leaves it (off SOL's 0.0001 grid), bought at 110:
    # the bid just under 100 is past the 3 % stop.
    held = Decimal("2.00004567")
    position = Position("SOL-USD", held, Decimal(110), NOW - timedelta(hours=1))
    rig.store = InMemoryStateStore(
        PortfolioState(positions={"SOL-USD": position}, paper_balances={"SOL": held})
    )
    (order,) = rig.run(Mode.PAPER).orders

    # 2.0000 sold (the grid part); 0.00004567 < 0.0001 cannot be: dust, off the book
    assert (order.side.value, order.status, order.filled_size) == (
        "SELL",
        OrderStatus.FILLED,
        Decimal("2.0000"),
    )
    assert order.dust == Decimal("0.00004567")
    state = rig.store.load()
    assert "SOL-USD" not in state.positions  # free to be bought again
    assert state.paper_balances["SOL"] == Decimal("0.00004567")  # still in the account
    assert state.dust == {"SOL-USD": Decimal("0.00004567")}  # ... and known to the book


# --- each NO_TRADE reason, from a scenario that causes it -------------------------------------


def test_run_cycle_when_every_product_is_excluded_then_empty_universe() -> None:
    config = default_config()
    config = tweak(
        config,
        universe={
            "filters": config.universe.filters.model_copy(
                update={"exclude": ("BTC-USD", "ETH-USD", "SOL-USD")}
            )
        },
    )
    result = make_rig(config).run()
    assert result.no_trade_reason == "empty_universe"


def test_run_cycle_when_the_market_is_flat_then_no_candidates_from_triggers() -> None:
    result = flat_rig().run()
    assert result.no_trade_reason == "no_candidates_from_triggers"


def test_run_cycle_when_the_regime_sizes_entries_at_zero_then_regime_blocked() -> None:
    config = default_config()
    multipliers = {**config.rules.regime_size_multiplier, "choppy": Decimal(0)}
    rig = make_rig(tweak(config, rules={"regime_size_multiplier": multipliers}))
    result = rig.run()
    assert result.no_trade_reason == "regime_blocked"
    assert rig.audit.records[0]["no_trade_detail"] == (
        "SOL-USD: regime_blocked: choppy sizes entries at 0"
    )
    assert rig.exchange.orders() == {}


def test_run_cycle_when_the_regime_allows_another_tier_then_regime_blocked_naming_it() -> None:
    # SOL (tier2) signals in a choppy market that lets only the core tier in
    config = default_config()
    tiers = {**config.rules.regime_tiers, "choppy": ("core",)}
    rig = make_rig(tweak(config, rules={"regime_tiers": tiers}))
    result = rig.run()
    record = rig.audit.records[0]
    assert result.no_trade_reason == "regime_blocked"
    assert (
        record["no_trade_detail"] == "SOL-USD: regime_blocked: choppy allows only core (tier tier2)"
    )
    assert record["regime"]["entries"] == {
        "size_multiplier": "0.5",
        "tiers": ["core"],
        "blocked": False,
        "stop_loss_pct": "3",
    }
    assert rig.exchange.orders() == {}


def test_run_cycle_when_the_daily_trade_limit_is_zero_then_all_proposals_blocked_by_risk() -> None:
    rig = make_rig(tweak(default_config(), risk={"max_trades_per_day": 0}))
    result = rig.run()
    assert result.no_trade_reason == "all_proposals_blocked_by_risk"
    (decision,) = rig.audit.records[0]["risk"]
    assert decision["check"] == "max_trades_per_day"
    assert decision["detail"] == "trades today 0 >= 0"


def test_run_cycle_when_no_slippage_is_tolerated_then_no_orders_after_execution_filter() -> None:
    rig = make_rig(tweak(default_config(), execution={"max_slippage_bps": Decimal(0)}))
    result = rig.run()
    assert result.no_trade_reason == "no_orders_after_execution_filter"
    assert rig.audit.records[0]["orders"]["dropped"][0]["reason"].startswith("slippage")


class ExplodingMarket(ScriptedMarket):
    def list_products(self):  # type: ignore[override]
        raise RuntimeError("exchange fell over")


def test_run_cycle_when_the_exchange_raises_then_exception_reason_audit_and_lock_released() -> None:
    rig = make_rig()
    rig.market.__class__ = ExplodingMarket
    result = rig.run()

    assert result.no_trade_reason == "exception:RuntimeError"
    assert rig.audit.records[0]["exception"] == {
        "type": "RuntimeError",
        "message": "exchange fell over",
    }
    assert rig.lock.holder is None  # released on the failure path too


def test_run_cycle_when_another_cycle_holds_the_lock_then_lock_held_and_state_untouched() -> None:
    rig = make_rig()
    rig.lock.acquire("someone-else", NOW, 600)
    result = rig.run()

    assert result.no_trade_reason == "lock_held"
    assert rig.store.saves == []
    assert rig.lock.holder is not None and rig.lock.holder.owner == "someone-else"
    assert rig.audit.records[0]["no_trade_reason"] == "lock_held"


@pytest.mark.parametrize("trading_state", [TradingState.REDUCING, TradingState.HALTED])
def test_run_cycle_when_trading_is_not_active_and_entries_signal_then_kill_switch(
    trading_state: TradingState,
) -> None:
    rig = make_rig()
    rig.store = InMemoryStateStore(PortfolioState(trading_state=trading_state))
    result = rig.run()
    assert result.no_trade_reason == "kill_switch"
    assert rig.exchange.orders() == {}


def test_run_cycle_when_todays_losses_reach_the_limit_then_kill_switch() -> None:
    rig = make_rig()
    # 3 % of 10,000 equity = 300; a realized loss of 300 today trips the switch.
    rig.store = InMemoryStateStore(PortfolioState(day=NOW.date(), realized_pnl_today=Decimal(-300)))
    result = rig.run()
    assert result.no_trade_reason == "kill_switch"
    assert rig.audit.records[0]["risk"][0]["check"] == "daily_loss_limit"


def test_run_cycle_when_quotes_are_old_then_stale_market_data() -> None:
    rig = make_rig()
    rig.market.quote_age = timedelta(minutes=10)  # older than max_snapshot_age_seconds (180)
    result = rig.run()
    assert result.no_trade_reason == "stale_market_data"
    assert rig.exchange.orders() == {}


def test_run_cycle_when_the_data_ended_long_ago_then_stale_market_data() -> None:
    rig = make_rig()
    rig.clock.advance(6)  # 30 minutes after the last scripted bar
    rig.market.quote_age = timedelta(0)
    result = rig.run()
    assert result.no_trade_reason == "stale_market_data"


def test_run_cycle_when_little_lambda_time_is_left_then_insufficient_time_and_no_order() -> None:
    rig = make_rig()
    result = rig.run(remaining_seconds=lambda: 5.0)  # below the 20 s margin
    assert result.no_trade_reason == "insufficient_time"
    assert rig.exchange.orders() == {}


def test_run_cycle_when_the_same_event_comes_twice_then_duplicate_invocation_and_one_order() -> (
    None
):
    rig = make_rig()
    first = rig.run(cycle_id="20260302T1200Z")
    second = rig.run(cycle_id="20260302T1200Z")

    assert first.no_trade_reason is None
    assert second.no_trade_reason == "duplicate_invocation"
    assert len(rig.exchange.orders()) == 1


@pytest.mark.parametrize(
    "stored",
    [
        "9990601T0000Z",  # year 999 as strftime wrote it: sorts above every real id as text
        "09990601T0000Z",  # the same, zero-padded as cycle ids are now
    ],
)
def test_run_cycle_when_the_state_holds_a_cycle_of_year_999_then_todays_cycle_runs(
    stored: str,
) -> None:
    rig = make_rig()
    rig.start_with(PortfolioState(last_cycle_id=stored))

    result = rig.run(cycle_id="20260302T1200Z")

    assert result.no_trade_reason != "duplicate_invocation"  # 0999 is long past
    assert rig.store.load().last_cycle_id == "20260302T1200Z"


def test_run_cycle_when_the_state_holds_a_later_cycle_then_duplicate_invocation() -> None:
    rig = make_rig()
    rig.start_with(PortfolioState(last_cycle_id="20260302T1205Z"))

    result = rig.run(cycle_id="20260302T1200Z")

    assert result.no_trade_reason == "duplicate_invocation"
    assert rig.exchange.orders() == {}


@dataclass
class RejectingExchange:
    """Answers every order with the exchange's 'no'; everything else goes to `inner`."""

    inner: MatchingExchange

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def place_order(self, order: PlannedOrder) -> Order:
        raise OrderRejected("Insufficient balance in source account", "INSUFFICIENT_FUND")


def test_run_cycle_when_the_exchange_rejects_every_order_then_orders_rejected() -> None:
    rig = make_rig()
    result = rig.run(exchange=RejectingExchange(rig.exchange))

    assert result.no_trade_reason == "orders_rejected"
    (order,) = result.orders
    assert order.failure_reason == "INSUFFICIENT_FUND"
    state = rig.store.load()
    assert state.open_orders == {} and state.trades_today == 0


# --- ambiguity and crashes never lose an order --------------------------------------------------


@dataclass
class TimeoutAfterAcceptExchange:
    """Accepts the order, then the client times out; the order is not readable for a while."""

    inner: MatchingExchange
    readable: bool = False

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def place_order(self, order: PlannedOrder) -> Order:
        self.inner.place_order(order)
        raise OutcomeUnknown("read timed out after sending the create")

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        return self.inner.get_order(client_order_id, order_id) if self.readable else None


def test_run_cycle_when_a_create_times_out_unreadable_then_unknown_and_next_cycle_books_it() -> (
    None
):
    rig = make_rig()
    flaky = TimeoutAfterAcceptExchange(rig.exchange)
    first = rig.run(exchange=flaky)
    (unknown,) = first.orders
    assert unknown.status is OrderStatus.UNKNOWN
    assert unknown.client_order_id in rig.store.load().open_orders
    assert rig.store.load().positions == {}
    assert rig.store.load().trades_today == 1  # it may have been accepted: it counts

    continue_flat(rig)
    second = rig.run(exchange=flaky.__class__(rig.exchange, readable=True))

    (reconciled,) = second.reconciled
    assert reconciled.client_order_id == unknown.client_order_id
    assert reconciled.status is OrderStatus.FILLED
    state = rig.store.load()
    assert state.positions["SOL-USD"].size == reconciled.filled_size
    assert state.open_orders == {}
    assert len(rig.exchange.orders()) == 1  # one order at the exchange, never two


def test_run_cycle_when_a_create_times_out_but_is_readable_then_confirm_books_it_at_once() -> None:
    rig = make_rig()
    result = rig.run(exchange=TimeoutAfterAcceptExchange(rig.exchange, readable=True))

    (order,) = result.orders
    assert order.status is OrderStatus.FILLED  # the LIVE confirm step asked again
    assert rig.store.load().positions["SOL-USD"].size == order.filled_size


def test_run_cycle_when_the_final_save_fails_after_placing_then_the_order_is_not_lost() -> None:
    rig = make_rig()

    class FailSecondSave(InMemoryStateStore):
        def save(self, state, lease):  # type: ignore[override]
            if len(self.saves) >= 1:
                raise OSError("disk full")
            return super().save(state, lease)

    rig.store = FailSecondSave()
    result = rig.run()
    assert result.no_trade_reason == "exception:OSError"
    # The write-ahead save happened before sending: the order is in the state as PENDING.
    (pending,) = rig.store.load().open_orders.values()
    assert pending.status is OrderStatus.PENDING

    rig.store.__class__ = InMemoryStateStore
    continue_flat(rig)
    rig.run()
    state = rig.store.load()
    assert "SOL-USD" in state.positions
    assert state.open_orders == {}


def test_run_cycle_when_a_product_is_disabled_mid_run_then_it_leaves_the_universe_untraded() -> (
    None
):
    rig = make_rig(tweak(default_config(), risk={"max_trades_per_day": 0}))
    rig.run()  # SOL is eligible (and blocked by risk, so nothing is held)
    assert "SOL-USD" in {m["product_id"] for m in rig.audit.records[0]["universe"]["eligible"]}

    rig.market.products["SOL-USD"] = product("SOL-USD", trading_disabled=True)
    rig.config = default_config()
    rig.clock.advance()
    rig.market.candles = {
        pid: [*bars[1:], replace(bars[-1], start=bars[-1].start + timedelta(minutes=5))]
        for pid, bars in rig.market.candles.items()
    }
    result = rig.run()

    excluded = rig.audit.records[1]["universe"]["excluded"]
    assert excluded == {"SOL-USD": "trading_disabled"}
    assert result.no_trade_reason == "no_candidates_from_triggers"
    assert rig.exchange.orders() == {}


def test_run_cycle_when_the_scan_is_limited_then_candles_are_fetched_for_that_many_only() -> None:
    # Three eligible products, a scan of 1: candles for the reference (BTC, charted anyway for
    # the regime) plus the first other candidate in universe order (ETH: core tier, before SOL).
    config = tweak(default_config(), triggers={"max_products_with_candles": 1})
    rig = make_rig(tweak(config, regime={"breadth_products": ()}))
    rig.run()
    record = rig.audit.records[0]
    assert record["api_calls"]["get_candles"] == 2
    assert record["universe"]["charted"] == ["BTC-USD", "ETH-USD"]
    assert record["api_calls"]["get_quotes"] == 1  # every candidate still quoted, in one call


class _WatchingExecutor(InlineExecutor):
    """Runs calls inline, noting the threads alive while each runs."""

    def __init__(self) -> None:
        self.threads_seen: set[str] = set()
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._note()
        return super().submit(fn, *args, **kwargs)

    def map(self, fn, *iterables, timeout=None, chunksize=1):  # type: ignore[no-untyped-def]
        def watched(*args):  # type: ignore[no-untyped-def]
            self._note()
            return fn(*args)

        return super().map(watched, *iterables, timeout=timeout, chunksize=chunksize)

    def _note(self) -> None:
        self.calls += 1
        self.threads_seen.update(t.name for t in threading.enumerate())


def test_run_cycle_when_an_executor_is_given_then_the_calls_run_on_it_and_no_pool_starts() -> None:
    rig, watching = make_rig(), _WatchingExecutor()
    deps = replace(rig.deps(), executor=watching)

    result = run_cycle(deps, CycleRequest(cycle_id_for(NOW, 300), Mode.PAPER, "test-owner"))

    assert result.no_trade_reason is None  # the same trade as with a pool (the test above)
    assert [o.quote_size for o in result.orders] == [Decimal("250.00")]
    # products, balances, fees, fills; then quotes and candles of BTC, ETH and SOL
    assert watching.calls == 8
    assert not any(name.startswith("cycle") for name in watching.threads_seen)


def test_cycle_shortcut_when_nothing_is_in_flight_then_what_reconcile_and_exit_blockers_give() -> (
    None
):
    # _reconcile and _free_exits skip both calls when no order is in flight: what they give then
    from pipeline_builders import T0, position, quote

    from trader.domain.config import ExitsConfig
    from trader.pipeline.exits import orders_blocking_exits
    from trader.pipeline.portfolio import Cooldowns
    from trader.service.orders import reconcile

    state = PortfolioState(positions={"BTC-USD": position("BTC-USD", 1, 100)})  # far below entry
    crashed = {"BTC-USD": quote("BTC-USD", "50", "51")}
    never_asked = None  # no order to ask the account about
    assert reconcile(state, never_asked, T0, Cooldowns(), timedelta(0)) == (state, ())
    assert orders_blocking_exits(state, crashed, T0, ExitsConfig(), Decimal("0.006")) == ()


def test_fill_ids_when_the_state_carries_the_same_or_another_tuple_then_its_set() -> None:
    from trader.service.cycle import _fill_ids

    seen = ("a", "b")
    for ids in (seen, seen, ("a", "b", "c"), seen, tuple(["a", "b"]), ()):
        assert _fill_ids(ids) == frozenset(ids)
