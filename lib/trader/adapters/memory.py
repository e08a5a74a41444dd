"""In-memory state stores, the cycle lock and audit sinks: for tests of the cycle, and for
replays (`trader replay`), where nothing needs to outlive the process.

They follow the same rules as the file adapters (the rule functions are shared), so a
version conflict, a taken-over lease or an unserializable value fails here as it would live.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from datetime import datetime
from typing import Any, TypeVar

from trader.domain.errors import StateCorrupt
from trader.domain.lease import LockLease, check_save, grant_lease, holds
from trader.domain.state import (
    PortfolioState,
    check_before_saving,
    decode_state,
    state_from_dict,
    state_to_dict,
)
from trader.service.audit import audit_line


def _stored_form(state: PortfolioState) -> str:
    """The state as JSON text, after proving it reads back equal to itself."""
    text = json.dumps(state_to_dict(state), sort_keys=True)
    decoded = decode_state(json.loads(text))
    if decoded != state and repr(decoded) != repr(state):  # NaN != NaN, yet reads back
        raise ValueError(
            "state does not survive a JSON round trip (a field holds a value of the wrong type)"
        )
    return text


class InMemoryStateStore:
    """A StateStore kept as JSON text in memory; `saves` lists every state written, in order."""

    def __init__(self, initial: PortfolioState | None = None) -> None:
        self._mutex = threading.Lock()
        self._text: str | None = None if initial is None else _stored_form(initial)
        self.fence = 0  # highest lock token that wrote
        self.saves: list[PortfolioState] = []
        self.fail_on_load: Exception | None = None
        self.fail_on_save: Exception | None = None

    def load(self) -> PortfolioState:
        if self.fail_on_load is not None:
            raise self.fail_on_load
        with self._mutex:
            text = self._text
        if text is None:
            return PortfolioState()
        try:
            return state_from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:  # as the file and DynamoDB stores do
            raise StateCorrupt(f"in-memory state cannot be read: {exc}") from exc

    def save(self, state: PortfolioState, lease: LockLease | None) -> PortfolioState:
        if self.fail_on_save is not None:
            raise self.fail_on_save
        new_state = check_before_saving(state.replace(version=state.version + 1))
        text = _stored_form(new_state)
        with self._mutex:
            stored_version = 0 if self._text is None else int(json.loads(self._text)["version"])
            self.fence = check_save("in-memory state", stored_version, self.fence, state, lease)
            self._text = text
            self.saves.append(new_state)
        return new_state


class ObjectStateStore:
    """A StateStore that keeps the state value itself: no JSON round trip, for replays where
    the state never leaves the process (the state is frozen; every change is a new value).
    Versions and fencing follow the same rule as every other store."""

    def __init__(self, initial: PortfolioState | None = None) -> None:
        self._state = initial
        self.fence = 0  # highest lock token that wrote

    def load(self) -> PortfolioState:
        return self._state if self._state is not None else PortfolioState()

    def save(self, state: PortfolioState, lease: LockLease | None) -> PortfolioState:
        stored_version = 0 if self._state is None else self._state.version
        self.fence = check_save("replay state", stored_version, self.fence, state, lease)
        self._state = state.replace(version=state.version + 1)
        return self._state


T = TypeVar("T")


class SettledFuture(Future[T]):
    """A Future that is settled when made: no lock and no condition to build, nothing to wait
    for (a pool's Future builds both; for an in-memory call that costs more than the call)."""

    def __init__(self, result: T | None = None, error: BaseException | None = None) -> None:
        # Future.__init__ is not called: its condition and waiters serve only waiting.
        self._value = result
        self._error = error

    def result(self, timeout: float | None = None) -> T:
        del timeout  # settled when made: nothing to wait for
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # (no error: the call's value)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        del timeout
        return self._error

    def done(self) -> bool:
        return True

    def running(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False

    def add_done_callback(self, fn: Callable[[Future[T]], object]) -> None:
        fn(self)


class InlineExecutor(Executor):
    """Runs each submitted call at once, in the caller's thread. For a replay's cycles, whose
    "requests" are in-memory reads: starting threads for them costs more than the calls."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 (handed to the caller in the future, as a pool does)
            return SettledFuture(error=exc)
        # SettledFuture(value) without the call to __init__ (a replay settles some fifteen calls
        # a cycle, and a call costs more than the rest): the same two fields, stored here
        future: SettledFuture[T] = object.__new__(SettledFuture)
        future._value, future._error = value, None
        return future

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[T]:
        """The calls made at once, in order (a pool submits them all before the first result
        is read); a call's error is raised where its result is read, as a pool's map raises
        it. The calls after a failed one are not made: nothing can read their results."""
        del timeout, chunksize  # nothing to wait for, nothing to batch
        made: list[T] = []
        try:
            made.extend(map(fn, *iterables))  # the loop in C: no frame per call
        except BaseException as exc:  # noqa: BLE001 (raised where it is read, as a pool does)
            return _then_raise(made, exc)
        return iter(made)


def _then_raise(made: list[T], error: BaseException) -> Iterator[T]:
    yield from made
    raise error


class InMemoryCycleLock:
    """A CycleLock in memory: lease expiry, takeover, increasing tokens, owner-checked release."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.holder: LockLease | None = None
        self.last_token = 0

    def acquire(self, owner: str, now: datetime, lease_seconds: int) -> LockLease:
        with self._mutex:
            lease = grant_lease(
                "in-memory cycle lock",
                self.holder,
                self.last_token,
                owner=owner,
                now=now,
                lease_seconds=lease_seconds,
            )
            self.holder = lease
            self.last_token = lease.token
        return lease

    def release(self, lease: LockLease) -> None:
        """Quiet no-op when the lease was taken over, exactly like FileCycleLock."""
        with self._mutex:
            if holds(self.holder, lease):
                self.holder = None


class ListAuditSink:
    """Keeps each record as it would read back from the JSONL file; set `fail_with` to fail."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.fail_with: Exception | None = None

    def write(self, record: Mapping[str, Any]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.records.append(json.loads(audit_line(record)))
