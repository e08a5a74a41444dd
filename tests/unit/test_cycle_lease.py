"""The lease is checked before the write-ahead save and before each create: a cycle whose lease
lapses (or is about to) ends exception:LockLost, audited, with no order sent."""

from __future__ import annotations

from cycle_rig import make_rig
from lock_race import ShortLeaseLock

from trader.adapters.clock import SteppingClock
from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore
from trader.domain.lease import LockLease
from trader.domain.models import Mode
from trader.domain.state import PortfolioState


class SlowSaveStore(InMemoryStateStore):
    """The write-ahead save takes `steps` clock steps (a slow DynamoDB write)."""

    def __init__(self, clock: SteppingClock, steps: int) -> None:
        super().__init__()
        self.clock, self.steps = clock, steps

    def save(self, state: PortfolioState, lease: LockLease | None) -> PortfolioState:
        saved = super().save(state, lease)
        if saved.open_orders:
            self.clock.advance(self.steps)
        return saved


def test_run_cycle_when_the_lease_lapses_before_the_write_ahead_then_lock_lost_and_nothing_sent():
    rig = make_rig()  # SOL rising: the cycle buys SOL when its lease allows
    rig.lock = ShortLeaseLock(10, InMemoryCycleLock())  # 10 s left, 20 s needed to send

    result = rig.run(Mode.LIVE)

    assert result.no_trade_reason == "exception:LockLost"
    assert "expires at" in result.record["exception"]["message"]
    assert rig.exchange.orders() == {}
    assert rig.store.saves == []  # not even the write-ahead
    assert [r["no_trade_reason"] for r in rig.audit.records] == ["exception:LockLost"]


def test_run_cycle_when_the_lease_lapses_during_the_write_ahead_then_no_create_is_sent():
    rig = make_rig()
    rig.store = SlowSaveStore(rig.clock, 1)  # 300 s: past the whole 180 s lease

    result = rig.run(Mode.LIVE)

    assert result.no_trade_reason == "exception:LockLost"
    assert rig.exchange.orders() == {}  # written ahead, never sent
    assert [len(s.open_orders) for s in rig.store.saves] == [1]


def test_run_cycle_when_the_lease_has_time_then_the_order_is_sent():
    rig = make_rig()

    result = rig.run(Mode.LIVE)

    assert result.no_trade_reason is None
    assert len(rig.exchange.orders()) == 1
