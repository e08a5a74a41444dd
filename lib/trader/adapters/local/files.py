"""Local file adapters: the state file, the cycle lock file and the JSONL audit log.

Writes are atomic (temp file in the same directory, fsync, rename, fsync of the
directory), and every read-modify-write holds an exclusive `fcntl.flock` on a
`<name>.guard` file beside the data, so two processes never interleave.
The version and lease rules are trader.domain.lease's, shared with the in-memory fakes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import InvalidOperation
from pathlib import Path
from typing import Any

from trader.domain.codec import parse_utc, to_jsonable
from trader.domain.errors import AuditError, LockHeld, StateCorrupt, StateError
from trader.domain.lease import LockLease, check_save, grant_lease, holds
from trader.domain.state import (
    PortfolioState,
    check_before_saving,
    state_from_dict,
    state_to_dict,
)
from trader.service.audit import audit_jsonl

# What a malformed file can raise while being decoded (InvalidOperation: a bad Decimal).
DECODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, InvalidOperation)


# --- file helpers -------------------------------------------------------------------------


@contextlib.contextmanager
def _guarded(data_path: Path) -> Iterator[None]:
    """Exclusive flock on `<data_path>.guard` for one read-modify-write (threads and processes)."""
    data_path.parent.mkdir(parents=True, exist_ok=True)
    guard = data_path.with_name(data_path.name + ".guard")
    with open(guard, "a", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _temp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_backup(path: Path, backup: Path) -> None:
    """Point `backup` at the current contents of `path` (a hard link, else a durable copy)."""
    staged = _temp_name(backup)
    try:
        os.link(path, staged)
    except OSError:
        shutil.copyfile(path, staged)
        with open(staged, "rb") as handle:
            os.fsync(handle.fileno())
    os.replace(staged, backup)
    # rename(2) does nothing when both names already link the same inode (the backup of an
    # unchanged file, e.g. after a crashed save), leaving `staged` behind.
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()


def _atomic_write(path: Path, text: str, backup: Path | None = None) -> None:
    """Replace `path` with `text` so that a crash leaves either the old or the new file whole."""
    temp = _temp_name(path)
    try:
        with open(temp, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if backup is not None and path.exists():
            _keep_backup(path, backup)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)


def _remove_stray_temps(path: Path) -> None:
    """Temp files left by a crashed writer; only call while holding the guard."""
    for stray in path.parent.glob(f"{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stray.unlink()


def _pretty(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- state ------------------------------------------------------------------------------------


def _decode_state_file(raw: bytes) -> tuple[int, PortfolioState]:
    """(fence, state) from the file's bytes; raises one of DECODE_ERRORS naming what is wrong."""
    if not raw.strip():
        raise ValueError("the file is empty")
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or set(data) != {"fence", "state"}:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"expected an object with the keys 'fence' and 'state', found {found}")
    fence = data["fence"]
    if type(fence) is not int or fence < 0:
        raise ValueError(f"'fence' must be a non-negative integer, found {fence!r}")
    body = data["state"]
    if not isinstance(body, dict) or type(body.get("version")) is not int or body["version"] < 0:
        raise ValueError("'state.version' must be present and a non-negative integer")
    return fence, state_from_dict(body)


class FileStateStore:
    """The portfolio state in one JSON file (`jq . data/.state.json`), previous version in `.bak`.

    File layout: {"fence": <highest lock token that wrote>, "state": <state_to_dict(...)>}.
    A file that cannot be decoded raises StateCorrupt on load and on save; it is never replaced.
    """

    def __init__(self, path: Path = Path("data/.state.json")) -> None:
        self.path = path
        self.backup_path = path.with_name(path.name + ".bak")

    def load(self) -> PortfolioState:
        stored = self._read()
        return PortfolioState() if stored is None else stored[1]

    def save(self, state: PortfolioState, lease: LockLease | None) -> PortfolioState:
        new_state = check_before_saving(state.replace(version=state.version + 1))
        body = state_to_dict(new_state)  # a caller's bad value fails here, before any I/O
        try:
            with _guarded(self.path):
                fence, stored_version = self._stored_fence_and_version()
                where = f"state file {self.path}"
                new_fence = check_save(where, stored_version, fence, state, lease)
                text = _pretty({"fence": new_fence, "state": body})
                _remove_stray_temps(self.path)
                _atomic_write(self.path, text, self.backup_path)
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path}: {exc}") from exc
        return new_state

    def _stored_fence_and_version(self) -> tuple[int, int]:
        stored = self._read()
        return (0, 0) if stored is None else (stored[0], stored[1].version)

    def _read(self) -> tuple[int, PortfolioState] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}") from exc
        try:
            return _decode_state_file(raw)
        except DECODE_ERRORS as exc:
            raise StateCorrupt(self._corrupt_message(exc)) from exc

    def _corrupt_message(self, exc: BaseException) -> str:
        if self.backup_path.exists():
            hint = (
                f"the previous version is in {self.backup_path}; once checked, restore it with "
                f"`cp {self.backup_path} {self.path}`"
            )
        else:
            hint = "there is no backup file"
        return (
            f"state file {self.path} is corrupt ({type(exc).__name__}: {exc}). It was left "
            f"untouched and saves are refused until it is fixed; {hint}."
        )


# --- lock -------------------------------------------------------------------------------------


def _decode_lock_file(raw: bytes) -> tuple[LockLease | None, int]:
    """(holder or None, last token) from the lock file's bytes."""
    data = json.loads(raw.decode("utf-8"))
    token = data["token"]
    if type(token) is not int or token < 0:
        raise ValueError(f"'token' must be a non-negative integer, found {token!r}")
    owner = data["owner"]
    if owner is None:
        return None, token
    if not isinstance(owner, str):
        raise ValueError(f"'owner' must be a string or null, found {owner!r}")
    return LockLease(owner=owner, token=token, expires_at=parse_utc(data["expires_at"])), token


class FileCycleLock:
    """A lease lock in a JSON file, same rules as the DynamoDB lock.

    The file outlives a release (`owner: null`) so fencing tokens keep increasing.
    A release by a holder whose lease was taken over is a quiet no-op: it runs in
    `finally` blocks, and that holder's writes are already refused by the fence.
    """

    def __init__(self, path: Path = Path("data/.cycle.lock")) -> None:
        self.path = path

    def acquire(self, owner: str, now: datetime, lease_seconds: int) -> LockLease:
        where = f"cycle lock {self.path}"
        with _guarded(self.path):
            holder, last_token = self._read()
            lease = grant_lease(
                where, holder, last_token, owner=owner, now=now, lease_seconds=lease_seconds
            )
            _remove_stray_temps(self.path)
            self._write(lease.owner, lease.token, lease.expires_at)
        return lease

    def release(self, lease: LockLease) -> None:
        with _guarded(self.path):
            try:
                holder, _ = self._read()
            except LockHeld:
                return  # unreadable: not ours to repair; acquire reports it
            if holds(holder, lease):
                self._write(None, lease.token, None)

    def _read(self) -> tuple[LockLease | None, int]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None, 0
        try:
            return _decode_lock_file(raw)
        except DECODE_ERRORS as exc:
            raise LockHeld(
                f"cycle lock file {self.path} is unreadable ({type(exc).__name__}: {exc}); "
                "refusing to take the lock. If no cycle is running, rewrite it as "
                '{"owner": null, "expires_at": null, "token": N} with N at least the '
                "'fence' in the state file."
            ) from exc

    def _write(self, owner: str | None, token: int, expires_at: datetime | None) -> None:
        record = {"owner": owner, "token": token, "expires_at": to_jsonable(expires_at)}
        _atomic_write(self.path, _pretty(record))


# --- audit ------------------------------------------------------------------------------------


class JsonlAuditSink:
    """Appends one JSON object per line to a local file, fsynced before returning."""

    def __init__(self, path: Path = Path("logs/247trader-v2_audit.jsonl")) -> None:
        self.path = path

    def write(self, record: Mapping[str, Any]) -> None:
        payload = memoryview(audit_jsonl(record))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                while payload:
                    payload = payload[os.write(fd, payload) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AuditError(f"cannot append audit record to {self.path}: {exc}") from exc
