"""Order lifecycle edge cases: lagging fills, resting orders, orphans, crashes, stale quotes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from cycle_rig import FEES, NOW, CannotRead, Rig, continue_flat, flat_rig, make_rig
from scripted_market import default_config, product, series, tweak

from trader.adapters.memory import InMemoryStateStore
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.ids import client_order_id
from trader.domain.models import (
    Fill,
    Intent,
    Mode,
    Order,
    OrderStatus,
    OrderType,
    PlannedOrder,
    Position,
    Side,
    TradingState,
)
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import Cooldowns
from trader.service.accounts import keep_paper_account
from trader.service.orders import ORPHAN_AFTER, reconcile, remainder_fill, write_ahead

TEN_MINUTES = timedelta(minutes=10)


@dataclass
class LaggingFills:
    """Reports orders FILLED before their fill records show up (as Coinbase can)."""

    inner: MatchingExchange
    lagging: bool = True

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _strip(self, order: Order | None) -> Order | None:
        if order is None or not self.lagging:
            return order
        return dataclasses.replace(order, fills=())

    def place_order(self, order: PlannedOrder) -> Order:
        return self._strip(self.inner.place_order(order))  # type: ignore[return-value]

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        return self._strip(self.inner.get_order(client_order_id, order_id))


def test_cycle_when_fills_lag_the_status_then_the_order_waits_and_is_booked_later() -> None:
    rig = make_rig()
    lagging = LaggingFills(rig.exchange)
    first = rig.run(exchange=lagging)
    (order,) = first.orders
    assert order.status is OrderStatus.FILLED and order.fills == ()
    state = rig.store.load()
    assert order.client_order_id in state.open_orders  # not dropped with its fills unseen
    assert state.positions == {}

    continue_flat(rig)
    lagging.lagging = False
    rig.run(exchange=lagging)
    state = rig.store.load()
    assert state.positions["SOL-USD"].size == order.filled_size
    assert state.open_orders == {}


def test_cycle_when_fills_never_show_then_the_remainder_is_booked_from_the_totals() -> None:
    rig = make_rig()
    lagging = LaggingFills(rig.exchange)
    (order,) = rig.run(exchange=lagging).orders

    for _ in range(ORPHAN_AFTER // timedelta(minutes=5)):  # 15 minutes of cycles
        continue_flat(rig)
        rig.run(exchange=lagging)
    state = rig.store.load()
    position = state.positions["SOL-USD"]
    assert position.size == order.filled_size
    assert position.avg_entry_price == order.average_filled_price
    assert position.entry_fees == order.total_fees
    assert state.open_orders == {}


def resting_buy(rig: Rig) -> PlannedOrder:
    """A limit BUY 1 % under the bid of a flat market: it rests."""
    bid = rig.market.get_quotes(["SOL-USD"])["SOL-USD"].bid
    return PlannedOrder(
        client_order_id(rig.config.cycle.portfolio_id, "manual", "SOL-USD", Side.BUY, 0),
        "SOL-USD",
        Side.BUY,
        OrderType.LIMIT,
        Intent.ENTRY,
        base_size=Decimal(1),
        quote_size=None,
        limit_price=(bid * Decimal("0.99")).quantize(Decimal("0.01")),
    )


def test_reconcile_when_a_limit_order_rests_too_long_then_it_is_cancelled_and_its_hold_freed() -> (
    None
):
    rig = flat_rig()
    order = rig.exchange.place_order(resting_buy(rig))
    assert order.status is OrderStatus.OPEN
    assert rig.exchange.get_balances()["USD"].hold > 0
    state = PortfolioState(open_orders={order.client_order_id: order})

    early, _ = reconcile(state, rig.exchange, NOW + timedelta(minutes=5), Cooldowns(), TEN_MINUTES)
    assert order.client_order_id in early.open_orders  # 5 minutes: still resting

    late, seen = reconcile(state, rig.exchange, NOW + TEN_MINUTES, Cooldowns(), TEN_MINUTES)
    assert seen[0].status is OrderStatus.CANCELLED
    assert late.open_orders == {}  # the product is free to be planned again
    assert rig.exchange.get_balances()["USD"].hold == 0


@dataclass
class Forgetful:
    """An exchange that cannot find any order (lookup window passed, or a lost index)."""

    inner: MatchingExchange

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        return None


def test_reconcile_when_an_acknowledged_order_cannot_be_found_then_it_is_kept_not_rejected() -> (
    None
):
    rig = flat_rig()
    order = rig.exchange.place_order(resting_buy(rig))
    assert order.order_id is not None
    state = PortfolioState(open_orders={order.client_order_id: order})

    later = NOW + ORPHAN_AFTER * 10
    kept, seen = reconcile(state, Forgetful(rig.exchange), later, Cooldowns(), TEN_MINUTES)
    assert kept.open_orders == {order.client_order_id: order}
    assert seen == ()


def test_cycle_when_one_order_cannot_be_read_then_the_cycle_still_runs_its_exits() -> None:
    rig = flat_rig()
    stuck = rig.exchange.place_order(resting_buy(rig))
    rig.exchange = MatchingExchange(
        rig.market, rig.clock, FEES, Decimal(0), {"USD": Decimal(10_000), "ETH": Decimal(1)}
    )
    rig.exchange.place_order(resting_buy(rig))
    losing = Position("ETH-USD", Decimal(1), Decimal(4000), NOW - timedelta(hours=1))
    rig.store = InMemoryStateStore(
        PortfolioState(positions={"ETH-USD": losing}, open_orders={stuck.client_order_id: stuck})
    )
    result = rig.run(exchange=CannotRead(rig.exchange, stuck.client_order_id))

    assert result.record["exception"] is None
    (sell,) = result.orders
    assert (sell.product_id, sell.side, sell.status) == ("ETH-USD", Side.SELL, OrderStatus.FILLED)
    assert stuck.client_order_id in rig.store.load().open_orders  # kept for the next cycle


class FailSecondSave(InMemoryStateStore):
    def save(self, state, lease):  # type: ignore[override]
        if len(self.saves) == 1:
            self.saves.append(state)  # fail exactly once, on the save after the write-ahead
            raise OSError("disk full")
        return super().save(state, lease)


def test_cycle_when_paper_crashes_after_write_ahead_then_the_order_expires_and_counts_stay() -> (
    None
):
    rig = make_rig()
    rig.store = FailSecondSave()
    result = rig.run(Mode.PAPER)
    assert result.no_trade_reason == "exception:OSError"
    state = rig.store.load()
    (pending,) = state.open_orders.values()
    assert pending.status is OrderStatus.PENDING
    assert state.trades_today == 1  # counted in the write-ahead save, not lost with the crash

    for _ in range(ORPHAN_AFTER // timedelta(minutes=5)):
        continue_flat(rig)
        rig.run(Mode.PAPER)
    state = rig.store.load()
    assert state.open_orders == {}  # the paper account never had it: it expired
    assert state.positions == {}
    assert state.paper_balances["USD"] == Decimal(10_000)  # nothing was ever paid


def test_keep_account_when_a_resting_paper_order_filled_after_reconcile_then_booked_once() -> None:
    rig = flat_rig()
    paper = MatchingExchange(rig.market, rig.clock, FEES, Decimal(0), {"USD": Decimal(10_000)})
    order = paper.place_order(resting_buy(rig))
    state = PortfolioState(open_orders={order.client_order_id: order})
    # A bar that trades through the limit closes before the state is kept.
    limit = order.limit_price
    rig.clock.advance()
    bars = rig.market.candles["SOL-USD"]
    rig.market.candles["SOL-USD"] = [*bars, series(rig.clock.now(), [limit - 1])[0]]

    kept = keep_paper_account(paper, state, Cooldowns(), rig.clock.now())
    again = keep_paper_account(paper, kept, Cooldowns(), rig.clock.now())

    assert kept.positions["SOL-USD"].size == Decimal(1)
    assert kept.open_orders == {}
    # 1 SOL at the limit plus the 0.4 % maker fee, paid once however often it is kept.
    paid = limit + limit * Decimal("0.004")
    assert kept.paper_balances["USD"] == Decimal(10_000) - paid
    assert again.paper_balances == kept.paper_balances
    assert again.positions == kept.positions


def test_cycle_when_one_quote_is_stale_then_that_product_sits_out_and_the_rest_trade() -> None:
    rig = make_rig()
    rig.market.quote_ages = {"ETH-USD": timedelta(minutes=10)}
    result = rig.run()
    assert result.no_trade_reason is None  # SOL still trades
    assert rig.audit.records[0]["universe"]["excluded"] == {"ETH-USD": "no_valid_quote"}


def test_cycle_when_halted_with_a_losing_position_then_even_the_exit_waits() -> None:
    rig = flat_rig()
    losing = Position("SOL-USD", Decimal(1), Decimal(150), NOW - timedelta(hours=1))
    rig.start_with(PortfolioState(trading_state=TradingState.HALTED, positions={"SOL-USD": losing}))
    result = rig.run()
    assert result.no_trade_reason == "kill_switch"
    assert rig.audit.records[0]["risk"][0]["check"] == "kill_switch"
    assert rig.exchange.orders() == {}


def test_cycle_when_reducing_and_the_position_is_dust_then_closed_as_dust_not_proposed() -> None:
    rig = flat_rig()
    dust = Position("SOL-USD", Decimal("0.0005"), Decimal(150), NOW - timedelta(hours=1))
    rig.start_with(PortfolioState(trading_state=TradingState.REDUCING, positions={"SOL-USD": dust}))
    result = rig.run()
    # 0.0005 on the 0.0001 grid is 0.0005 < base_min_size 0.001: no order can sell it, so
    # it leaves the book as dust instead of being proposed (and dropped) every cycle.
    record = rig.audit.records[0]
    assert record["proposals"]["proposed"] == []
    assert result.no_trade_reason == "kill_switch"  # REDUCING, and nothing left to exit
    state = rig.store.load()
    assert state.positions == {}
    assert state.dust == {"SOL-USD": Decimal("0.0005")}
    # bid = 100 - 100 x 2 bps / 2 = 99.99; 0.0005 x 99.99 = 0.049995
    assert record["dust"]["closed"] == [
        {"product_id": "SOL-USD", "size": "0.0005", "bid": "99.99", "value": "0.049995"}
    ]


class ExplodingSink:
    def write(self, record):  # type: ignore[no-untyped-def]
        raise RuntimeError("sink bug")


def test_cycle_when_the_audit_sink_raises_anything_then_the_lock_is_still_released() -> None:
    rig = make_rig()
    rig.audit = ExplodingSink()  # type: ignore[assignment]
    result = rig.run()
    assert result.no_trade_reason is None
    assert rig.lock.holder is None


def test_cycle_when_a_product_goes_limit_only_then_a_stop_loss_exit_still_crosses() -> None:
    rig = flat_rig(tweak(default_config(), execution={"order_type": "limit"}))
    rig.market.products["SOL-USD"] = product("SOL-USD", limit_only=True)
    losing = Position("SOL-USD", Decimal(2), Decimal(110), NOW - timedelta(hours=1))
    rig.exchange = MatchingExchange(
        rig.market, rig.clock, FEES, Decimal(0), {"USD": Decimal(0), "SOL": Decimal(2)}
    )
    rig.store = InMemoryStateStore(PortfolioState(positions={"SOL-USD": losing}))
    result = rig.run()
    (sell,) = result.orders
    assert sell.order_type is OrderType.LIMIT
    assert sell.status is OrderStatus.FILLED  # priced at or under the bid, not resting above it
    assert "SOL-USD" not in rig.store.load().positions


def test_remainder_fill_when_some_fills_were_seen_then_the_rest_is_priced_from_the_totals() -> None:
    seen = Fill(
        "f1", "o1", "c1", "SOL-USD", Side.BUY, Decimal(100), Decimal(1), Decimal("0.6"), NOW
    )
    order = Order(
        "c1",
        "SOL-USD",
        Side.BUY,
        OrderType.MARKET,
        OrderStatus.FILLED,
        NOW,
        Intent.ENTRY,
        order_id="o1",
        filled_size=Decimal(3),
        average_filled_price=Decimal(102),
        total_fees=Decimal("1.84"),
        fills=(seen,),
    )
    rest = remainder_fill(order)
    assert rest is not None
    # 3 filled at an average of 102 = 306 in all; 1 seen at 100 -> 2 more worth 206, at 103.
    assert rest.size == Decimal(2)
    assert rest.price == Decimal(103)
    assert rest.fee == Decimal("1.24")  # 1.84 total - 0.60 seen
    assert rest.fill_id == "o1-remainder"


def test_reconcile_when_a_pending_order_expires_unplaced_then_its_trade_is_given_back() -> None:
    rig = flat_rig()
    planned = resting_buy(rig)
    state = write_ahead(PortfolioState(day=NOW.date(), hour=NOW), [planned], NOW)
    assert state.trades_today == 1 and state.trades_this_hour == 1
    later = NOW + ORPHAN_AFTER
    expired, seen = reconcile(state, rig.exchange, later, Cooldowns(), TEN_MINUTES)  # never sent
    assert seen[0].failure_reason == "never reached the exchange"
    assert expired.open_orders == {}
    assert expired.trades_today == 0 and expired.trades_this_hour == 0
