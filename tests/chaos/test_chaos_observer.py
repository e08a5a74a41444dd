"""The chaos run's referee catches what it is there to catch: each check below is fed a
history that breaks one invariant, and one that keeps it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from chaos_observer import Observer, StoreView

from trader.domain.models import Order, OrderStatus, OrderType, Position, Side, TradingState
from trader.domain.state import PortfolioState

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Stored:
    """What the observer reads as stored: a state, a trading state, written-ahead ids."""

    def __init__(self) -> None:
        self.state = PortfolioState()
        self.switch = TradingState.ACTIVE
        self.ahead: set[str] = set()

    def view(self) -> StoreView:
        return StoreView(lambda: self.state, lambda: self.switch, lambda c: c in self.ahead)


def observer(stored: Stored) -> Observer:
    return Observer(stored.view(), lambda: "test")


def filled(coid: str, side: Side, size: str = "1") -> Order:
    return Order(
        coid, "SOL-USD", side, OrderType.MARKET, OrderStatus.FILLED, NOW,
        filled_size=Decimal(size),
    )  # fmt: skip


def holding_the_lock(obs: Observer, owner: str = "req-1", function: str = "cycle"):
    inv = obs.begin(function, owner, "20260302T1200Z", chaotic=True)
    obs.on_grant(owner, obs.last_token + 1)
    return inv


def test_on_create_when_the_cycle_began_halted_then_violation_and_not_when_active() -> None:
    stored = Stored()
    stored.ahead = {"a", "b"}
    obs = observer(stored)
    active = holding_the_lock(obs, "req-1")
    obs.on_create("a", "SOL-USD", Side.BUY)
    obs.end(active)
    stored.switch = TradingState.HALTED
    halted = holding_the_lock(obs, "req-2")

    obs.on_create("b", "SOL-USD", Side.SELL)  # HALTED stops exits too

    assert obs.violations["no_order_while_halted"] == [
        "test: create b (SOL-USD SELL) by cycle 20260302T1200Z, which began HALTED"
    ]
    assert obs.checked["no_order_while_halted"] == 2
    obs.end(halted)


def test_on_create_when_a_liquidation_sells_while_halted_then_no_violation() -> None:
    stored = Stored()
    stored.switch, stored.ahead = TradingState.HALTED, {"leg"}
    obs = observer(stored)
    holding_the_lock(obs, "operator", function="liquidation")

    obs.on_create("leg", "SOL-USD", Side.SELL)

    assert obs.violation_count == 0


def test_on_create_when_not_written_ahead_or_lease_superseded_then_violations() -> None:
    stored = Stored()
    stored.ahead = {"known"}
    obs = observer(stored)
    first = holding_the_lock(obs, "req-1")
    obs.on_create("known", "SOL-USD", Side.BUY)
    obs.on_grant("req-2", 2)  # another container took the lock over

    obs.on_create("unknown", "SOL-USD", Side.BUY)  # the first one still sends

    assert obs.violations["written_ahead"] == [
        "test: create unknown (SOL-USD BUY) not written ahead"
    ]
    assert len(obs.violations["single_lock_holder"]) == 1
    assert "by req-1 (token 1)" in obs.violations["single_lock_holder"][0]
    obs.end(first)


def test_on_state_write_when_version_skips_or_writer_superseded_then_violations() -> None:
    obs = observer(Stored())
    holding_the_lock(obs, "req-1")
    obs.on_state_write(1, "req-1", 1)
    obs.on_grant("req-2", 2)

    obs.on_state_write(3, "req-1", 1)  # skips version 2, and req-1 is no longer the holder

    assert obs.violations["state_version_increasing"] == [
        "test: state version 3 committed after version 1"
    ]
    assert len(obs.violations["single_lock_holder"]) == 1
    assert obs.checked["single_lock_holder"] == 4  # two grants, two writes


def test_on_grant_when_a_token_repeats_then_violation() -> None:
    obs = observer(Stored())
    obs.on_grant("req-1", 5)

    obs.on_grant("req-2", 5)

    assert obs.violations["single_lock_holder"] == [
        "test: lock token 5 granted to req-2 after token 5"
    ]


def test_check_entries_when_bought_twice_before_a_sell_then_violation() -> None:
    obs = observer(Stored())
    for coid, side in (("b1", Side.BUY), ("s1", Side.SELL), ("b2", Side.BUY), ("b3", Side.BUY)):
        obs.on_new_order(coid, "SOL-USD", side)
    orders = {
        "b1": filled("b1", Side.BUY),
        "s1": filled("s1", Side.SELL),
        "b2": filled("b2", Side.BUY),
        "b3": filled("b3", Side.BUY),
    }

    obs.check_entries(orders)

    # b1 then its sale, then b2: fine; b3 bought SOL again while b2 was held
    assert obs.violations["one_order_per_intent"] == [
        "test: buy b3 of SOL while buy b2 was not sold"
    ]
    assert obs.checked["one_order_per_intent"] == 3


def test_check_entries_when_a_buy_filled_nothing_then_it_does_not_count() -> None:
    obs = observer(Stored())
    obs.on_new_order("b1", "SOL-USD", Side.BUY)
    obs.on_new_order("b2", "SOL-USD", Side.BUY)

    obs.check_entries({"b1": filled("b1", Side.BUY, "0"), "b2": filled("b2", Side.BUY)})

    assert obs.violation_count == 0


def test_end_when_no_sink_took_the_record_and_nothing_counted_then_violation() -> None:
    obs = observer(Stored())
    counted = obs.begin("cycle", "req-1", "a", chaotic=True)
    counted.answer = {"ok": True}
    counted.metrics.update({"CycleOutcome": 1, "NeedsOperator": 2})
    counted.needs["audit_sink_failed"] = 2
    obs.end(counted)
    silent = obs.begin("cycle", "req-2", "b", chaotic=True)
    silent.answer, silent.s3_audits = {"ok": True}, 1  # CloudWatch never got it, not counted
    silent.metrics["CycleOutcome"] = 1

    obs.end(silent)

    assert obs.violations["audited_or_counted"] == [
        "test: cycle b: 1 sink(s) without the record, 0 counted (NeedsOperator audit_sink_failed)"
    ]


def test_end_when_a_cycle_counts_no_outcome_or_two_then_violation() -> None:
    obs = observer(Stored())
    for label, outcomes in (("none", 0), ("one", 1), ("two", 2)):
        inv = obs.begin("cycle", f"req-{label}", label, chaotic=True)
        inv.answer, inv.s3_audits, inv.cloudwatch_audits = {"ok": True}, 1, 1
        inv.metrics["CycleOutcome"] = outcomes
        obs.end(inv)

    assert [v.split(":")[1] for v in obs.violations["audited_or_counted"]] == [
        " cycle none",
        " cycle two",
    ]


def test_end_when_refused_without_its_count_then_violation() -> None:
    obs = observer(Stored())
    counted = obs.begin("cycle", "req-1", "a", chaotic=True)
    counted.answer = {"ok": False, "error": "EventRefused: ..."}
    counted.metrics["CycleOutcome:failed"] = 1
    obs.end(counted)
    refused = obs.begin("cycle", "req-2", "b", chaotic=True)
    refused.answer = {"ok": False, "error": "EventRefused: ..."}
    obs.end(refused)
    request = obs.begin("liquidation", "req-3", "liq-1", chaotic=True)
    request.answer = {"ok": False, "error": "invalid liquidation request: ..."}  # no call made
    obs.end(request)

    found = obs.violations["audited_or_counted"]
    assert [line.split(" refused")[0] for line in found] == [
        "test: cycle b",
        "test: liquidation liq-1",
    ]


def test_check_stored_when_a_position_is_negative_or_halted_undone_then_violations() -> None:
    stored = Stored()
    stored.state = PortfolioState(
        positions={"SOL-USD": Position("SOL-USD", Decimal(-1), Decimal(150), NOW)}
    )
    obs = observer(stored)

    obs.check_stored({"USD available": Decimal(5)}, TradingState.HALTED)

    assert obs.violations["no_negative_position"] == [
        "test: negative: {'position SOL-USD': Decimal('-1')}"
    ]
    assert obs.violations["no_order_while_halted"] == ["test: the operator's HALTED reads ACTIVE"]


def test_end_when_a_run_ends_in_an_error_no_fault_explains_then_violation() -> None:
    obs = observer(Stored())
    answers = [
        ("cycle", {"ok": True, "no_trade_reason": "exception:StateConflict"}),  # a fence held
        ("cycle", {"ok": True, "no_trade_reason": "exception:KeyError"}),
        ("liquidation", {"ok": False, "error": "exception:TypeError: unsupported operand"}),
        ("liquidation", {"ok": False, "error": "leg_failed: SOL.0 sell SOL-USD ended UNKNOWN"}),
    ]
    for function, answer in answers:
        inv = obs.begin(function, f"req-{len(obs.invocations)}", function, chaotic=True)
        inv.answer, inv.s3_audits, inv.cloudwatch_audits = answer, 1, 1
        inv.metrics["CycleOutcome"], inv.port_calls = 1, 3  # it ran: it took the lock
        obs.end(inv)

    found = obs.violations["exceptions_explained"]
    assert [line.split(" ended")[0] for line in found] == [
        "test: cycle cycle",
        "test: liquidation liquidation",
    ]
    assert "KeyError" in found[0] and "TypeError" in found[1]
    assert obs.checked["exceptions_explained"] == 4
