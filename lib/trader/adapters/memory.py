"""In-memory fakes of the state store, the cycle lock and the audit sink, for tests of the cycle.

They follow the same rules as the file adapters (the rule functions are shared), so a
version conflict, a taken-over lease or an unserializable value fails here as it would live.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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
