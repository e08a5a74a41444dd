"""The cycle lock's rules, shared by the file and in-memory lock and state store.

A lease has an owner and a fencing token that strictly increases with every acquisition; a
save is refused when the state moved since it was read or a newer lease has written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from trader.domain.codec import to_jsonable
from trader.domain.errors import LockHeld, LockLost, StateConflict
from trader.domain.state import PortfolioState


@dataclass(frozen=True, slots=True)
class LockLease:
    owner: str
    token: int  # fencing token: strictly increases with every acquisition
    expires_at: datetime


def check_save(
    where: str, stored_version: int, fence: int, state: PortfolioState, lease: LockLease | None
) -> int:
    """The fence to record after saving `state`; StateConflict when the save must be refused."""
    if stored_version != state.version:
        raise StateConflict(
            f"{where} holds version {stored_version}, but this state was read at version "
            f"{state.version}; someone else saved in between. Reload and retry."
        )
    if lease is None:
        return fence
    if lease.token < fence:
        raise StateConflict(
            f"{where} was last written under lock token {fence}; the lease of "
            f"{lease.owner!r} with token {lease.token} was taken over and may no longer write"
        )
    return lease.token


def grant_lease(
    where: str,
    holder: LockLease | None,
    last_token: int,
    *,
    owner: str,
    now: datetime,
    lease_seconds: int,
) -> LockLease:
    """The next lease, or LockHeld while `holder` is unexpired. Tokens never repeat."""
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: the lock needs a UTC-aware now")
    if lease_seconds <= 0:
        raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
    if holder is not None and holder.expires_at > now:
        raise LockHeld(
            f"{where} is held by {holder.owner!r} until {to_jsonable(holder.expires_at)} "
            f"(token {holder.token})"
        )
    expires_at = now.astimezone(UTC) + timedelta(seconds=lease_seconds)
    return LockLease(owner=owner, token=last_token + 1, expires_at=expires_at)


def holds(holder: LockLease | None, lease: LockLease) -> bool:
    """True when `lease` is still the one on record (same owner and token)."""
    return holder is not None and (holder.owner, holder.token) == (lease.owner, lease.token)


def check_lease(lease: LockLease, now: datetime, margin_seconds: int) -> None:
    """LockLost unless `lease` runs at least `margin_seconds` past `now`: asked before the
    write-ahead save and before each create, so no order is sent on a lease about to lapse."""
    if lease.expires_at - timedelta(seconds=margin_seconds) <= now:
        raise LockLost(
            f"the lease of {lease.owner!r} (token {lease.token}) expires at "
            f"{to_jsonable(lease.expires_at)}, less than {margin_seconds} s after "
            f"{to_jsonable(now)}; nothing more is written or sent"
        )
