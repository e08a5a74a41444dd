"""A cycle that dies at any step of trading loses no order, places none twice, books none twice.

The crash is a pair of test doubles, one around the state store and one around the exchange,
that raise once at a chosen point of the cycle that trades. `ProcessDied` is a BaseException,
so the cycle's own `except Exception` does not catch it: nothing after the crash runs (no
audit record, no further save, the lock stays held until its lease runs out), as when a
Lambda is killed. On the simulated rig the same points are also hit with an ordinary
Exception, which the cycle turns into `exception:CycleCrash`.

After the crash a normal cycle runs, later (the lease of the dead cycle's lock has run out)
and, on the fake Coinbase, in a fresh process (an adapter that remembers no order id). Then:

- every intent written ahead has at most one order at the exchange, and exactly one when
  the exchange had accepted it before the crash (orders are counted at the exchange, per
  product and side, from the crashed cycle on: a second order for the same decision would
  show up there under another client_order_id);
- booked (positions + dust + unbooked) equals the account's available + hold per coin
  within one base increment;
- no fill is booked twice or missed: the fees booked equal the sum of every fill's fee at
  the exchange, and every fill id was seen once;
- the recovering cycle finds no drift: its order reconciliation explained everything.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pytest
from account_checks import coins, fee_sum, fills, mismatches
from coinbase_cycle_rig import START, CoinbaseCycleRig
from cycle_rig import Rig, make_rig
from fake_coinbase_env import coinbase_env
from scripted_market import rising, series

from trader.adapters.memory import InMemoryStateStore
from trader.domain.lease import LockLease
from trader.domain.models import ZERO, Order, OrderStatus, PlannedOrder, Product
from trader.domain.state import PortfolioState

# Where the process dies, in the order a trading cycle reaches them.
CRASH_POINTS = {
    "after_write_ahead": "the plan is saved as PENDING orders; nothing is sent",
    "before_create": "the create never leaves the process",
    "after_create": "the exchange accepted the order; its answer never arrives",
    "during_confirm": "the first read of the placed order never returns",
    "after_fills": "the read returned the order with its fills; they are never booked",
    "before_final_save": "everything is booked in memory; the final save never happens",
    "after_final_save": "the state is saved; the audit record is never written",
}
SENT = {"after_create", "during_confirm", "after_fills", "before_final_save", "after_final_save"}
STEP = Decimal("0.3")  # % a bar SOL rises: make_rig's momentum
LEASE_BARS = 1  # the very next cycle: the dead one's lease (180 s) has lapsed by then


class ProcessDied(BaseException):
    """The process is gone: the cycle's `except Exception` cannot catch it."""


class CycleCrash(Exception):
    """An unexpected error the cycle catches: audited as `exception:CycleCrash`."""


@dataclass
class Crash:
    """One crash at `point` (orders are placed from several threads at once).

    A dead process does nothing more: after ProcessDied every call through the doubles dies
    too. An ordinary error is raised once; the other threads carry on.
    """

    point: str
    kind: type[BaseException] = ProcessDied
    happened: bool = False
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def at(self, point: str) -> None:
        with self._guard:
            dead = self.happened and self.kind is ProcessDied
            if not dead and (self.happened or point != self.point):
                return
            self.happened = True
        raise self.kind(f"crash {point}: {CRASH_POINTS[point]}")


class CrashingStore:
    """The state store, dying around the write-ahead save or the save after it."""

    def __init__(self, inner: InMemoryStateStore, crash: Crash) -> None:
        self.inner = inner
        self.crash = crash
        self.write_ahead: PortfolioState | None = None  # as saved before sending

    def load(self) -> PortfolioState:
        return self.inner.load()

    def save(self, state: PortfolioState, lease: LockLease | None) -> PortfolioState:
        final = self.write_ahead is not None
        if final:
            self.crash.at("before_final_save")
        saved = self.inner.save(state, lease)
        if final:
            self.crash.at("after_final_save")
        elif any(o.status is OrderStatus.PENDING for o in state.open_orders.values()):
            self.write_ahead = saved
            self.crash.at("after_write_ahead")
        return saved

    def intents(self) -> list[Order]:
        """The orders the crashed cycle decided on, as written ahead."""
        assert self.write_ahead is not None, "the cycle never wrote a plan ahead"
        return [o for o in self.write_ahead.open_orders.values() if o.status is OrderStatus.PENDING]


class CrashingExchange:
    """The exchange, dying around a create or the first read after one.

    `coinbase_answers`: a create answers only "accepted" (OPEN, no fills), as Coinbase does;
    the simulated account would answer with the fills at once and leave confirm nothing to do.
    """

    def __init__(self, inner: object, crash: Crash, coinbase_answers: bool = False) -> None:
        self.inner = inner
        self.crash = crash
        self.coinbase_answers = coinbase_answers
        self.accepted: set[str] = set()  # client_order_ids the exchange took before any crash
        self._guard = threading.Lock()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def place_order(self, order: PlannedOrder) -> Order:
        self.crash.at("before_create")
        answer: Order = self.inner.place_order(order)  # type: ignore[attr-defined]
        with self._guard:
            self.accepted.add(order.client_order_id)
        self.crash.at("after_create")
        if not self.coinbase_answers:
            return answer
        return dataclasses.replace(
            answer, status=OrderStatus.OPEN, fills=(), filled_size=ZERO, total_fees=ZERO
        )

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        after_create = bool(self.accepted)
        if after_create:
            self.crash.at("during_confirm")
        answer: Order | None = self.inner.get_order(client_order_id, order_id)  # type: ignore[attr-defined]
        if after_create and answer is not None and answer.fills:
            self.crash.at("after_fills")
        return answer


@dataclass(frozen=True)
class Recovered:
    """What a test needs after the crash and the recovering cycle."""

    state: PortfolioState
    intents: list[Order]
    accepted: set[str]
    crashed_at: datetime
    account_orders: dict[str, Order]
    totals: dict[str, Decimal]
    products: dict[str, Product]
    record: dict


def assert_recovered(seen: Recovered) -> None:
    """The checks of the module docstring, against the account's own orders and balances."""
    assert seen.intents, "the crashed cycle planned nothing"
    for intent in seen.intents:
        same_decision = sorted(
            o.client_order_id
            for o in seen.account_orders.values()
            if (o.product_id, o.side) == (intent.product_id, intent.side)
            and o.created_at >= seen.crashed_at
        )
        expected = [intent.client_order_id] if intent.client_order_id in seen.accepted else []
        assert same_decision == expected, f"orders for {intent.product_id} {intent.side}"
        in_flight = seen.state.open_orders.get(intent.client_order_id)
        if expected:  # settled by the recovering cycle
            assert in_flight is None
        else:  # never sent: kept, asked about again until it is orphaned (ORPHAN_AFTER)
            assert in_flight is not None and in_flight.status is OrderStatus.PENDING
    state, totals, products = seen.state, seen.totals, seen.products
    assert all(p.size > 0 for p in state.positions.values())
    assert mismatches(state, totals, products, coins(state, totals)) == {}
    exchange_fill_ids = [f.fill_id for f in fills(seen.account_orders.values())]
    assert len(set(state.seen_fill_ids)) == len(state.seen_fill_ids)  # none booked twice
    assert set(exchange_fill_ids) <= set(state.seen_fill_ids)  # none missed
    assert state.fees_total == fee_sum(seen.account_orders.values())
    assert seen.record["reconciliation"]["drift"] == []
    assert seen.record["exception"] is None


def run_crashing(run: Callable[[], object], crash: Crash) -> None:
    if crash.kind is ProcessDied:
        with pytest.raises(ProcessDied):
            run()
    else:
        result = run()
        assert result.no_trade_reason == "exception:CycleCrash"  # type: ignore[attr-defined]
    assert crash.happened


# --- the simulated account (the rig) ------------------------------------------------------


def keep_rising(rig: Rig) -> None:
    """One bar on, SOL still rising: it signals an entry again; only the state knows it is
    bought (or being bought) already."""
    rig.clock.advance()
    last = rig.market.candles["SOL-USD"][-1].close
    first = last / (1 + STEP / 100) ** 46  # 48 bars whose last closes STEP % above `last`
    rig.market.candles["SOL-USD"] = rising(rig.clock.now(), first, STEP, 48)
    for pid in ("BTC-USD", "ETH-USD"):
        rig.market.candles[pid] = series(rig.clock.now(), [rig.market.candles[pid][-1].close] * 48)


def crash_on_rig(point: str, kind: type[BaseException]) -> Recovered:
    """SOL rises: the first cycle buys it and dies at `point`; SOL keeps rising."""
    rig: Rig = make_rig()
    crash = Crash(point, kind)
    store = CrashingStore(rig.store, crash)
    exchange = CrashingExchange(rig.exchange, crash, coinbase_answers=True)
    crashed_at = rig.clock.now()
    rig.store = store  # type: ignore[assignment]
    run_crashing(lambda: rig.run(exchange=exchange), crash)

    rig.store = store.inner
    for _ in range(LEASE_BARS):
        keep_rising(rig)
    rig.run()
    return Recovered(
        rig.store.load(),
        store.intents(),
        exchange.accepted,
        crashed_at,
        rig.exchange.orders(),
        rig.exchange.balance_totals(),
        {p.product_id: p for p in rig.market.list_products()},
        rig.audit.records[-1],
    )


@pytest.mark.parametrize("kind", [ProcessDied, CycleCrash], ids=["dies", "raises"])
@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_cycle_when_the_process_crashes_at_a_step_on_the_simulated_exchange_then_it_recovers(
    point: str, kind: type[BaseException]
) -> None:
    seen = crash_on_rig(point, kind)

    assert_recovered(seen)
    (intent,) = seen.intents
    assert intent.product_id == "SOL-USD"
    # SOL signalled again; only what the state knew (the order, or the position) held it back.
    assert seen.record["proposals"]["skipped"]["SOL-USD"] == "position_or_order_open"
    assert (intent.client_order_id in seen.accepted) is (point in SENT)
    sol = seen.state.positions.get("SOL-USD")
    if point in SENT:  # bought once, booked once: the position is what the account holds
        assert sol is not None and sol.size == seen.totals["SOL"]
        assert seen.totals["USD"] == Decimal(10_000) - intent.quote_size  # type: ignore[operator]
    else:  # nothing reached the exchange: nothing is booked, the cash is untouched
        assert sol is None and seen.totals["USD"] == Decimal(10_000)


# --- the fake Coinbase, through the real SDK (LIVE) ------------------------------------------


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_cycle_when_the_process_dies_at_a_step_on_coinbase_then_a_fresh_process_recovers(
    point: str,
) -> None:
    with coinbase_env(start=START) as env:
        rig = CoinbaseCycleRig(env)
        crash = Crash(point)
        store = CrashingStore(rig.store, crash)
        exchange = CrashingExchange(env.exchange, crash)
        crashed_at = None
        for _ in range(24):  # the synthetic day trades within a few bars
            env.clock.advance()
            crashed_at = env.clock.now()
            try:
                rig.run(exchange=exchange, store=store)  # type: ignore[arg-type]
            except ProcessDied:
                break
        assert crash.happened and crashed_at is not None

        env.clock.advance(LEASE_BARS)
        recovery = rig.run(exchange=env.new_exchange())  # a fresh process
        seen = Recovered(
            rig.store.load(),
            store.intents(),
            exchange.accepted,
            crashed_at,
            rig.account_orders(),
            rig.account_totals(),
            rig.products(),
            recovery.record,
        )

        assert_recovered(seen)
        # The recovering cycle wanted the same coins again; what the state knew held it back.
        skipped = recovery.record["proposals"]["skipped"]
        assert {skipped.get(i.product_id) for i in seen.intents} == {"position_or_order_open"}
        if point in SENT:  # at least the order that was being sent reached the exchange
            assert seen.accepted
        if point == "after_write_ahead":
            assert not seen.accepted
