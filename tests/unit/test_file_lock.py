"""FileCycleLock: lease, expiry, takeover, fencing tokens, owner-checked release, races."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lock_race import race_acquires

from trader.adapters.local.files import FileCycleLock
from trader.domain.errors import LockHeld

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lock(tmp_path: Path) -> FileCycleLock:
    return FileCycleLock(tmp_path / "data" / ".cycle.lock")


def on_disk(lock: FileCycleLock) -> dict[str, object]:
    return json.loads(lock.path.read_text(encoding="utf-8"))


def test_acquire_when_no_lock_file_then_token_1_and_lease_ends_after_lease_seconds(
    lock: FileCycleLock,
) -> None:
    lease = lock.acquire("cycle-a", T0, 600)
    assert lease.owner == "cycle-a"
    assert lease.token == 1
    assert lease.expires_at == datetime(2026, 3, 1, 12, 10, tzinfo=UTC)  # 12:00 + 600 s
    assert on_disk(lock) == {"owner": "cycle-a", "token": 1, "expires_at": "2026-03-01T12:10:00Z"}


def test_acquire_when_held_and_unexpired_then_lock_held_names_holder_and_expiry(
    lock: FileCycleLock,
) -> None:
    lock.acquire("cycle-a", T0, 600)
    before = lock.path.read_bytes()
    with pytest.raises(LockHeld) as caught:
        lock.acquire("cycle-b", T0 + timedelta(seconds=599), 600)
    assert "'cycle-a'" in str(caught.value)
    assert "2026-03-01T12:10:00Z" in str(caught.value)
    assert lock.path.read_bytes() == before


def test_acquire_when_same_owner_already_holds_then_lock_held(lock: FileCycleLock) -> None:
    lock.acquire("cycle-a", T0, 600)
    with pytest.raises(LockHeld):
        lock.acquire("cycle-a", T0 + timedelta(seconds=1), 600)


def test_acquire_when_lease_expired_exactly_now_then_taken_over_with_next_token(
    lock: FileCycleLock,
) -> None:
    lock.acquire("cycle-a", T0, 600)
    lease = lock.acquire("cycle-b", T0 + timedelta(seconds=600), 300)  # expires_at <= now
    assert (lease.owner, lease.token) == ("cycle-b", 2)
    assert lease.expires_at == datetime(2026, 3, 1, 12, 15, tzinfo=UTC)  # 12:10 + 300 s


def test_acquire_when_released_then_token_keeps_increasing(lock: FileCycleLock) -> None:
    first = lock.acquire("cycle-a", T0, 600)
    lock.release(first)
    assert on_disk(lock) == {"owner": None, "token": 1, "expires_at": None}
    second = lock.acquire("cycle-b", T0 + timedelta(seconds=5), 600)
    assert second.token == 2


def test_acquire_when_new_instance_on_same_file_then_token_continues(tmp_path: Path) -> None:
    path = tmp_path / ".cycle.lock"
    tokens = []
    for minute in range(5):
        lock = FileCycleLock(path)
        lease = lock.acquire(f"run-{minute}", T0 + timedelta(minutes=minute), 30)
        tokens.append(lease.token)
        lock.release(lease)
    assert tokens == [1, 2, 3, 4, 5]


def test_release_when_lease_was_taken_over_then_new_holder_keeps_the_lock(
    lock: FileCycleLock,
) -> None:
    stale = lock.acquire("cycle-a", T0, 60)
    fresh = lock.acquire("cycle-b", T0 + timedelta(seconds=61), 600)
    before = lock.path.read_bytes()
    lock.release(stale)  # quiet no-op
    assert lock.path.read_bytes() == before
    with pytest.raises(LockHeld, match="cycle-b"):
        lock.acquire("cycle-c", T0 + timedelta(seconds=62), 600)
    lock.release(fresh)
    assert on_disk(lock)["owner"] is None


def test_release_when_same_owner_but_older_token_then_no_op(lock: FileCycleLock) -> None:
    # one owner id reused across runs (e.g. a host name): the token tells the leases apart
    old = lock.acquire("laptop", T0, 60)
    lock.acquire("laptop", T0 + timedelta(seconds=60), 600)
    lock.release(old)
    assert on_disk(lock) == {"owner": "laptop", "token": 2, "expires_at": "2026-03-01T12:11:00Z"}


def test_acquire_when_crashed_writer_left_temp_file_then_ignored_and_removed(
    lock: FileCycleLock,
) -> None:
    lock.path.parent.mkdir(parents=True)
    stray = lock.path.with_name(".cycle.lock.0123abcd.tmp")
    stray.write_text('{"owner": "ghost", "token": 99, "expires_at": null}', encoding="utf-8")
    assert lock.acquire("cycle-a", T0, 60).token == 1  # the stray's token 99 is not read
    assert not stray.exists()


def test_release_when_lock_file_missing_then_quiet(lock: FileCycleLock) -> None:
    lease = lock.acquire("cycle-a", T0, 60)
    lock.path.unlink()
    lock.release(lease)
    assert not lock.path.exists()


def test_acquire_when_now_is_naive_then_value_error(lock: FileCycleLock) -> None:
    with pytest.raises(ValueError, match="naive"):
        lock.acquire("cycle-a", datetime(2026, 3, 1, 12, 0), 60)  # noqa: DTZ001
    assert not lock.path.exists()


def test_acquire_when_lease_seconds_not_positive_then_value_error(lock: FileCycleLock) -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        lock.acquire("cycle-a", T0, 0)


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"owner": "x", "token": "7", "expires_at": null}', b"[]"],
    ids=["empty", "not_json", "token_not_int", "list"],
)
def test_acquire_when_lock_file_unreadable_then_refused_and_file_untouched(
    lock: FileCycleLock, content: bytes
) -> None:
    lock.path.parent.mkdir(parents=True)
    lock.path.write_bytes(content)
    with pytest.raises(LockHeld) as caught:
        lock.acquire("cycle-a", T0, 60)
    assert str(lock.path) in str(caught.value)
    assert "unreadable" in str(caught.value)
    assert lock.path.read_bytes() == content


def test_acquire_when_threads_race_then_exactly_one_wins_every_round(tmp_path: Path) -> None:
    # separate instances on one file: only the flock can keep them apart
    path = tmp_path / ".cycle.lock"
    for round_no in range(50):
        now = T0 + timedelta(minutes=round_no)  # the previous round's 60 s lease has expired
        outcomes = race_acquires(FileCycleLock(path), threads=6, now=now)
        # one winner per round, its token the round number + 1
        assert sorted(outcomes) == ["held"] * 5 + [f"won {round_no + 1}"]


_ACQUIRE_IN_PROCESS = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from trader.adapters.local.files import FileCycleLock
from trader.domain.errors import LockHeld
lock_path, go_path, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
while not go_path.exists():
    time.sleep(0.001)
try:
    lease = FileCycleLock(lock_path).acquire(name, datetime(2026, 3, 1, 12, 0, tzinfo=UTC), 600)
    print("won", lease.token)
except LockHeld:
    print("held")
"""


def test_acquire_when_processes_race_then_exactly_one_wins(tmp_path: Path) -> None:
    lock_path, go_path = tmp_path / ".cycle.lock", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ACQUIRE_IN_PROCESS, str(lock_path), str(go_path), f"p{n}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    time.sleep(0.3)  # let the interpreters start and wait for the go file
    go_path.touch()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    answers = sorted(out.decode().strip() for out, _ in outputs)
    assert answers == ["held", "held", "held", "won 1"], [err.decode() for _, err in outputs]
    with pytest.raises(LockHeld, match="until 2026-03-01T12:10:00Z"):
        FileCycleLock(lock_path).acquire("parent", T0 + timedelta(seconds=1), 600)
