"""FileStateStore: round trip, conditional saves, fencing, backup, corruption, crashed writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trader.adapters.local.files import FileStateStore
from trader.domain.errors import StateConflict, StateCorrupt, StateError
from trader.domain.lease import LockLease
from trader.domain.models import Fill, Order, OrderStatus, OrderType, Position, Side, TradingState
from trader.domain.state import PortfolioState, RegimeMemory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def lease(token: int, owner: str = "cycle-a") -> LockLease:
    return LockLease(owner=owner, token=token, expires_at=T0)


def rich_state(version: int = 0) -> PortfolioState:
    fill = Fill(
        fill_id="f-1",
        order_id="o-1",
        client_order_id="c-1",
        product_id="BTC-USD",
        side=Side.BUY,
        price=Decimal("64250.01"),
        size=Decimal("0.00155600"),
        fee=Decimal("0.59999"),
        time=datetime(2026, 3, 1, 11, 55, 3, 250000, tzinfo=UTC),
    )
    order = Order(
        client_order_id="c-1",
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        status=OrderStatus.OPEN,
        created_at=datetime(2026, 3, 1, 11, 55, tzinfo=UTC),
        order_id="o-1",
        base_size=Decimal("0.003"),
        limit_price=Decimal("64250.01"),
        filled_size=Decimal("0.00155600"),
        fills=(fill,),
    )
    position = Position(
        product_id="ETH-USD",
        size=Decimal("0.12345678"),
        avg_entry_price=Decimal("3120.55"),
        opened_at=datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC),
        entry_fees=Decimal("0.2311"),
        high_watermark=Decimal("3188.10"),
    )
    return PortfolioState(
        version=version,
        trading_state=TradingState.REDUCING,
        positions={"ETH-USD": position},
        open_orders={"c-1": order},
        day=date(2026, 3, 1),
        trades_today=3,
        realized_pnl_today=Decimal("-12.3400"),
        hour=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        trades_this_hour=1,
        realized_pnl_total=Decimal("1043.07"),
        fees_total=Decimal("18.50"),
        cooldowns={"SOL-USD": datetime(2026, 3, 1, 13, 0, tzinfo=UTC)},
        paper_balances={"USDC": Decimal("9876.543210")},
        seen_fill_ids=("f-0", "f-1"),
        last_cycle_id="20260301T1200Z",
        last_cycle_at=T0,
        cursors={"fills": "cursor-17"},
        dust={"XRP-USD": Decimal("0.00000042")},
        cancel_requested={"c-1": T0},
        regime=RegimeMemory("crash", T0 - timedelta(hours=1), T0),
    )


@pytest.fixture
def store(tmp_path: Path) -> FileStateStore:
    return FileStateStore(tmp_path / "data" / ".state.json")


def test_load_when_file_missing_then_fresh_state_at_version_0(store: FileStateStore) -> None:
    assert store.load() == PortfolioState()
    assert store.load().version == 0
    assert not store.path.exists()


def test_load_when_the_file_predates_the_regime_then_it_loads_without_one(
    store: FileStateStore,
) -> None:
    # a state file written before the regime's memory existed has no "regime" key
    store.save(rich_state(version=0), lease(1))
    data = json.loads(store.path.read_text(encoding="utf-8"))
    assert data["state"].pop("regime") == {
        "name": "crash",
        "since": "2026-03-01T11:00:00Z",
        "as_of": "2026-03-01T12:00:00Z",
    }
    store.path.write_text(json.dumps(data), encoding="utf-8")

    assert store.load() == rich_state(version=1).replace(regime=None)


def test_save_then_load_when_state_is_rich_then_reads_back_equal_at_next_version(
    store: FileStateStore,
) -> None:
    saved = store.save(rich_state(version=0), lease(1))
    assert saved.version == 1  # 0 + 1
    assert store.load() == rich_state(version=1)
    assert store.load().positions["ETH-USD"].size == Decimal("0.12345678")


def test_save_when_parent_directory_missing_then_created(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "a" / "b" / ".state.json")
    store.save(PortfolioState(), None)
    assert store.path.is_file()


def test_save_when_written_then_file_is_indented_sorted_json_with_fence(
    store: FileStateStore,
) -> None:
    store.save(rich_state(version=0), lease(7))
    text = store.path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert text.startswith('{\n  "fence": 7,\n  "state": {\n')  # indent 2, "fence" < "state"
    assert list(data["state"]) == sorted(data["state"])
    assert data["state"]["version"] == 1
    assert data["state"]["positions"]["ETH-USD"]["size"] == "0.12345678"  # Decimal as string
    assert data["state"]["last_cycle_at"] == "2026-03-01T12:00:00Z"


def test_save_when_version_on_disk_moved_then_conflict_and_file_byte_identical(
    store: FileStateStore,
) -> None:
    first = store.save(rich_state(version=0), lease(1))  # disk now at version 1
    store.save(first, lease(1))  # disk now at version 2
    before = store.path.read_bytes()
    with pytest.raises(StateConflict, match="holds version 2"):
        store.save(first, lease(1))  # read at version 1
    assert store.path.read_bytes() == before


def test_save_when_file_missing_and_state_not_version_0_then_conflict(
    store: FileStateStore,
) -> None:
    with pytest.raises(StateConflict, match="holds version 0"):
        store.save(PortfolioState(version=4), None)
    assert not store.path.exists()


def test_save_when_lease_token_below_recorded_fence_then_conflict_and_byte_identical(
    store: FileStateStore,
) -> None:
    current = store.save(PortfolioState(), lease(5, "new-holder"))
    before = store.path.read_bytes()
    with pytest.raises(StateConflict, match="token 5"):
        store.save(current, lease(4, "stale-holder"))
    assert store.path.read_bytes() == before


def test_save_when_same_or_higher_token_then_allowed_and_fence_follows(
    store: FileStateStore,
) -> None:
    state = store.save(PortfolioState(), lease(3))
    state = store.save(state, lease(3))  # same holder saving twice in one cycle
    state = store.save(state, lease(9))
    assert state.version == 3  # three saves from 0
    assert json.loads(store.path.read_text(encoding="utf-8"))["fence"] == 9


def test_save_when_lease_is_none_then_fence_kept(store: FileStateStore) -> None:
    state = store.save(PortfolioState(), lease(6))
    store.save(state, None)
    assert json.loads(store.path.read_text(encoding="utf-8"))["fence"] == 6


def test_save_when_file_exists_then_backup_holds_previous_version(store: FileStateStore) -> None:
    first = store.save(rich_state(version=0), lease(1))
    first_bytes = store.path.read_bytes()
    assert not store.backup_path.exists()  # nothing to back up on the first save
    store.save(first.replace(trades_today=4), lease(1))
    assert store.backup_path.read_bytes() == first_bytes
    assert FileStateStore(store.backup_path).load() == rich_state(version=1)
    assert store.load().version == 2


def test_save_when_state_has_naive_datetime_then_refused_and_nothing_written(
    store: FileStateStore,
) -> None:
    naive = datetime(2026, 3, 1, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        store.save(PortfolioState(last_cycle_at=naive), None)
    assert not store.path.exists()


def _valid_file_text() -> str:
    store_dir_state = {"fence": 1, "state": {"schema_version": 1, "version": 1}}
    return json.dumps(store_dir_state, indent=2)


CORRUPT_CONTENTS = {
    "not_json": b"this is not json",
    "truncated": b'{\n  "fence": 1,\n  "state": {\n    "schema_version": 1,\n    "vers',
    "empty": b"",
    "whitespace": b"  \n",
    "binary": b"\xff\xfe\x00garbage",
    "json_list": b"[1, 2, 3]",
    "bare_state_without_envelope": b'{"schema_version": 1, "version": 3}',
    "unknown_schema_version": b'{"fence": 0, "state": {"schema_version": 99, "version": 1}}',
    "version_missing": b'{"fence": 0, "state": {"schema_version": 1}}',
    "version_not_integer": b'{"fence": 0, "state": {"schema_version": 1, "version": "2"}}',
    "fence_negative": b'{"fence": -1, "state": {"schema_version": 1, "version": 1}}',
    "positions_not_object": (
        b'{"fence": 0, "state": {"schema_version": 1, "version": 1, "positions": 5}}'
    ),
    "bad_decimal": (
        b'{"fence": 0, "state": {"schema_version": 1, "version": 1, "fees_total": "x1"}}'
    ),
    "bad_enum": (
        b'{"fence": 0, "state": {"schema_version": 1, "version": 1, "trading_state": "ON"}}'
    ),
}


@pytest.mark.parametrize("content", CORRUPT_CONTENTS.values(), ids=CORRUPT_CONTENTS.keys())
def test_load_and_save_when_file_corrupt_then_state_corrupt_names_file_and_file_untouched(
    store: FileStateStore, content: bytes
) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    with pytest.raises(StateCorrupt) as loaded:
        store.load()
    assert str(store.path) in str(loaded.value)
    assert "no backup" in str(loaded.value)
    for version in (0, 1, 3):
        with pytest.raises(StateCorrupt):
            store.save(PortfolioState(version=version), lease(100))
    assert store.path.read_bytes() == content


def test_valid_minimal_file_when_loaded_then_accepted(store: FileStateStore) -> None:
    # control for the corrupt cases above: the smallest well-formed file loads
    store.path.parent.mkdir(parents=True)
    store.path.write_text(_valid_file_text(), encoding="utf-8")
    assert store.load() == PortfolioState(version=1)


def test_load_when_file_corrupt_and_backup_exists_then_message_suggests_backup(
    store: FileStateStore,
) -> None:
    state = store.save(PortfolioState(), None)
    store.save(state, None)
    store.path.write_bytes(b'{"fence": 0, "sta')
    with pytest.raises(StateCorrupt) as caught:
        store.load()
    message = str(caught.value)
    assert str(store.backup_path) in message
    assert f"cp {store.backup_path} {store.path}" in message


def test_save_when_rename_fails_then_previous_state_intact_and_no_temp_left(
    store: FileStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = store.save(rich_state(version=0), lease(1))
    before = store.path.read_bytes()
    real_replace = os.replace

    def replace_failing_for_state_file(src: object, dst: object) -> None:
        if Path(str(dst)) == store.path:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace_failing_for_state_file)
    with pytest.raises(StateError, match="No space left"):
        store.save(previous.replace(trades_today=9), lease(1))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert store.load() == previous
    assert list(store.path.parent.glob("*.tmp")) == []


_DIE_BEFORE_RENAME = """
import os, sys
from pathlib import Path
from trader.adapters.local.files import FileStateStore
store = FileStateStore(Path(sys.argv[1]))
state = store.load()
real_replace = os.replace
def die_before_state_rename(src, dst):
    if Path(dst) == store.path:
        os._exit(3)  # power cut: temp written and fsynced, rename never happens
    real_replace(src, dst)
os.replace = die_before_state_rename
store.save(state.replace(trades_today=42), None)
"""


def test_save_when_process_dies_between_temp_write_and_rename_then_nothing_lost(
    store: FileStateStore,
) -> None:
    previous = store.save(rich_state(version=0), None)
    before = store.path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    done = subprocess.run(
        [sys.executable, "-c", _DIE_BEFORE_RENAME, str(store.path)],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr.decode()
    strays = list(store.path.parent.glob(".state.json.*.tmp"))
    assert len(strays) == 1  # the dead writer's temp file
    assert json.loads(strays[0].read_text(encoding="utf-8"))["state"]["trades_today"] == 42
    assert store.path.read_bytes() == before
    assert store.load() == previous
    store.save(previous, None)  # the next save cleans up
    assert list(store.path.parent.glob("*.tmp")) == []


def _race_saves(store: FileStateStore, base: PortfolioState, threads: int) -> list[str]:
    """Start `threads` saves of the same base state at once; the outcome of each."""
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []

    def save_once(n: int) -> None:
        barrier.wait()
        try:
            store.save(base.replace(trades_today=n), None)
            outcomes.append("won")
        except StateConflict:
            outcomes.append("conflict")

    workers = [threading.Thread(target=save_once, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def test_save_when_four_threads_save_the_same_version_then_exactly_one_wins(
    tmp_path: Path,
) -> None:
    for round_no in range(40):
        store = FileStateStore(tmp_path / f"r{round_no}" / ".state.json")
        base = store.save(PortfolioState(), None)  # version 1 on disk
        outcomes = _race_saves(store, base, threads=4)
        assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]
        assert store.load().version == 2  # 1 + the single winning save
