"""The in-memory fakes, and one contract suite run against both the fakes and the file adapters."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from lock_race import race_acquires

from trader.adapters.local.files import FileCycleLock, FileStateStore, JsonlAuditSink
from trader.adapters.memory import (
    InlineExecutor,
    InMemoryCycleLock,
    InMemoryStateStore,
    ListAuditSink,
    ObjectStateStore,
)
from trader.domain.errors import AuditError, LockHeld, StateConflict
from trader.domain.lease import LockLease
from trader.domain.models import Position
from trader.domain.state import PortfolioState
from trader.ports import AuditSink, CycleLock, StateStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def lease(token: int, owner: str = "cycle-a") -> LockLease:
    return LockLease(owner=owner, token=token, expires_at=T0)


def state_with_position() -> PortfolioState:
    position = Position(
        product_id="BTC-USD",
        size=Decimal("0.00155600"),
        avg_entry_price=Decimal("64250.01"),
        opened_at=datetime(2026, 3, 1, 11, 55, tzinfo=UTC),
    )
    return PortfolioState(
        positions={"BTC-USD": position},
        realized_pnl_today=Decimal("-1.25"),
        last_cycle_at=T0,
        seen_fill_ids=("f-1",),
    )


# --- contract: StateStore ------------------------------------------------------------------


@pytest.fixture(params=["memory", "object", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    if request.param == "memory":
        return InMemoryStateStore()
    if request.param == "object":
        return ObjectStateStore()
    return FileStateStore(tmp_path / ".state.json")


def test_store_load_when_nothing_saved_then_fresh_state(store: StateStore) -> None:
    assert store.load() == PortfolioState()


def test_store_save_when_versions_match_then_round_trips_with_version_plus_one(
    store: StateStore,
) -> None:
    saved = store.save(state_with_position(), lease(1))
    assert saved == state_with_position().replace(version=1)  # 0 + 1
    assert store.load() == saved


def test_store_save_when_read_version_is_stale_then_conflict_and_stored_state_kept(
    store: StateStore,
) -> None:
    v1 = store.save(PortfolioState(), None)
    v2 = store.save(v1.replace(trades_today=1), None)
    with pytest.raises(StateConflict):
        store.save(v1.replace(trades_today=99), None)
    assert store.load() == v2


def test_store_save_when_token_below_fence_then_conflict_and_stored_state_kept(
    store: StateStore,
) -> None:
    v1 = store.save(PortfolioState(), lease(8, "new"))
    with pytest.raises(StateConflict):
        store.save(v1.replace(trades_today=5), lease(7, "old"))
    assert store.load() == v1


def test_store_save_when_no_lease_after_fenced_save_then_allowed(store: StateStore) -> None:
    v1 = store.save(PortfolioState(), lease(8))
    v2 = store.save(v1, None)  # tools that run without the lock
    store.save(v2, lease(8))  # the fence survived the lock-free save
    with pytest.raises(StateConflict):
        store.save(store.load(), lease(7))


# --- contract: CycleLock -------------------------------------------------------------------


@pytest.fixture(params=["memory", "file"])
def lock(request: pytest.FixtureRequest, tmp_path: Path) -> CycleLock:
    if request.param == "memory":
        return InMemoryCycleLock()
    return FileCycleLock(tmp_path / ".cycle.lock")


def test_lock_acquire_when_held_then_lock_held_until_expiry_then_takeover(lock: CycleLock) -> None:
    first = lock.acquire("a", T0, 60)
    with pytest.raises(LockHeld, match="'a'"):
        lock.acquire("b", T0 + timedelta(seconds=59), 60)
    second = lock.acquire("b", T0 + timedelta(seconds=60), 60)
    assert (first.token, second.token) == (1, 2)
    assert second.expires_at == datetime(2026, 3, 1, 12, 2, tzinfo=UTC)  # 12:01 + 60 s


def test_lock_release_when_taken_over_then_no_op_and_release_of_own_frees(
    lock: CycleLock,
) -> None:
    stale = lock.acquire("a", T0, 60)
    fresh = lock.acquire("b", T0 + timedelta(seconds=90), 60)
    lock.release(stale)
    with pytest.raises(LockHeld, match="'b'"):
        lock.acquire("c", T0 + timedelta(seconds=91), 60)
    lock.release(fresh)
    assert lock.acquire("c", T0 + timedelta(seconds=92), 60).token == 3


def test_lock_acquire_when_naive_now_then_value_error(lock: CycleLock) -> None:
    with pytest.raises(ValueError, match="naive"):
        lock.acquire("a", datetime(2026, 3, 1), 60)  # noqa: DTZ001


def test_lock_and_store_when_holder_taken_over_then_its_save_is_fenced(
    lock: CycleLock, store: StateStore
) -> None:
    # the whole point of the tokens: a slow cycle whose lease ran out cannot overwrite
    slow = lock.acquire("slow", T0, 60)
    state = store.load()
    fast = lock.acquire("fast", T0 + timedelta(seconds=61), 60)
    store.save(state.replace(trades_today=1), fast)
    with pytest.raises(StateConflict):
        store.save(store.load().replace(trades_today=2), slow)
    assert store.load().trades_today == 1


# --- contract: AuditSink -------------------------------------------------------------------


def _file_sink_records(tmp_path: Path) -> tuple[AuditSink, Callable[[], list[dict]]]:
    sink = JsonlAuditSink(tmp_path / "audit.jsonl")

    def records() -> list[dict]:
        if not sink.path.exists():
            return []
        return [json.loads(line) for line in sink.path.read_text("utf-8").splitlines()]

    return sink, records


@pytest.fixture(params=["memory", "file"])
def audit(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[AuditSink, Callable[[], list[dict]]]:
    if request.param == "memory":
        sink = ListAuditSink()
        return sink, lambda: sink.records
    return _file_sink_records(tmp_path)


def test_audit_write_when_two_records_then_both_kept_in_order_with_key_order(
    audit: tuple[AuditSink, Callable[[], list[dict]]],
) -> None:
    sink, records = audit
    sink.write({"schema_version": 1, "cycle_id": "x", "mode": "PAPER"})
    sink.write({"schema_version": 1, "cycle_id": "y", "api_calls": 3})
    kept = records()
    assert [r["cycle_id"] for r in kept] == ["x", "y"]
    assert list(kept[1]) == ["schema_version", "cycle_id", "api_calls"]


def test_audit_write_when_value_is_decimal_then_audit_error_and_nothing_kept(
    audit: tuple[AuditSink, Callable[[], list[dict]]],
) -> None:
    sink, records = audit
    with pytest.raises(AuditError, match="risk"):
        sink.write({"schema_version": 1, "risk": Decimal("0.1")})
    assert records() == []


# --- fake-only behaviour -------------------------------------------------------------------


def test_memory_store_when_initial_given_then_load_returns_it() -> None:
    initial = state_with_position().replace(version=4)
    store = InMemoryStateStore(initial)
    assert store.load() == initial
    with pytest.raises(StateConflict):
        store.save(initial.replace(version=3), None)
    assert store.save(initial, None).version == 5  # 4 + 1


def test_memory_store_when_saved_then_saves_and_fence_recorded() -> None:
    store = InMemoryStateStore()
    v1 = store.save(PortfolioState(), lease(2))
    v2 = store.save(v1.replace(trades_today=1), lease(3))
    assert store.saves == [v1, v2]
    assert store.fence == 3


def test_memory_store_when_field_has_wrong_type_then_save_refused() -> None:
    # a list where the state holds a tuple reads back as a tuple: the file store would change it
    store = InMemoryStateStore()
    with pytest.raises(ValueError, match="round trip"):
        store.save(PortfolioState(seen_fill_ids=["f-1"]), None)  # type: ignore[arg-type]
    assert store.load() == PortfolioState()


def test_memory_store_when_told_to_fail_then_raises_that() -> None:
    store = InMemoryStateStore()
    store.fail_on_save = OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        store.save(PortfolioState(), None)
    store.fail_on_load = StateConflict("boom")
    with pytest.raises(StateConflict, match="boom"):
        store.load()


def test_memory_store_when_loaded_state_mutated_then_store_unchanged() -> None:
    store = InMemoryStateStore()
    store.save(state_with_position(), None)
    loaded = store.load()
    loaded.positions.clear()  # dicts inside a frozen dataclass are still mutable
    assert "BTC-USD" in store.load().positions


def test_list_audit_sink_when_fail_with_set_then_raises_and_keeps_nothing() -> None:
    sink = ListAuditSink()
    sink.fail_with = AuditError("s3 down")
    with pytest.raises(AuditError, match="s3 down"):
        sink.write({"schema_version": 1})
    assert sink.records == []


def test_list_audit_sink_when_caller_mutates_record_later_then_kept_copy_unchanged() -> None:
    sink = ListAuditSink()
    original = {"schema_version": 1, "orders": [{"client_order_id": "a"}]}
    sink.write(original)
    original["orders"].append({"client_order_id": "b"})  # type: ignore[attr-defined]
    assert sink.records == [{"schema_version": 1, "orders": [{"client_order_id": "a"}]}]


def test_memory_lock_when_threads_race_then_exactly_one_wins() -> None:
    for _ in range(50):
        lock = InMemoryCycleLock()
        outcomes = race_acquires(lock, threads=6, now=T0)
        assert sorted(o.split()[0] for o in outcomes) == ["held"] * 5 + ["won"]
        assert lock.last_token == 1


# --- InlineExecutor ---------------------------------------------------------------------------


def test_inline_executor_when_calls_are_submitted_then_each_runs_at_once_in_the_callers_thread():
    ran: list[tuple[int, str]] = []

    def job(n: int) -> int:
        ran.append((n, threading.current_thread().name))
        return n * 2

    pool = InlineExecutor()
    first = pool.submit(job, 1)
    assert ran == [(1, threading.current_thread().name)]  # before anyone asked for the result
    assert first.result() == 2
    assert first.done() and first.exception() is None and not first.cancelled()
    assert pool.submit(job, n=5).result() == 10  # keyword arguments passed on
    assert list(pool.map(job, [2, 3])) == [4, 6]


@pytest.mark.parametrize("failing", [None, 0, 2, 4])
def test_inline_executor_map_when_compared_with_a_pool_then_the_same_results_and_error(failing):
    """Results in order, over several iterables (the shortest bounds them); each call made
    before the first result is read; a call's error raised where its result is read."""

    def job(ran: list[int], n: int, k: int) -> int:
        ran.append(n)
        if n == failing:
            raise ValueError(f"no bars for {n}")
        return n * 10 + k

    def read(pool: Executor) -> tuple[list[object], list[int]]:
        ran: list[int] = []
        results = pool.map(partial(job, ran), [0, 1, 2, 3, 4], [7, 8, 9, 6])
        ran_before_reading = sorted(ran)
        got: list[object] = []
        try:
            got.extend(results)
        except ValueError as exc:
            got.append(str(exc))
        return got, ran_before_reading

    inline, ran_inline = read(InlineExecutor())
    with ThreadPoolExecutor(max_workers=1) as threads:
        pooled, _ = read(threads)
    assert inline == pooled
    expected = {None: [7, 18, 29, 36], 0: ["no bars for 0"], 2: [7, 18, "no bars for 2"]}
    assert inline == expected.get(failing, [7, 18, 29, 36])  # 4 has no partner: never called
    called = [0, 1, 2, 3] if failing is None or failing == 4 else list(range(failing + 1))
    assert ran_inline == called


def test_inline_executor_when_the_call_raises_then_the_future_holds_the_error():
    def fails() -> None:
        raise ValueError("no quote")

    future = InlineExecutor().submit(fails)

    with pytest.raises(ValueError, match="no quote"):
        future.result()
