"""The cycle lock's rules, shared by the file and in-memory lock and state store.

A lease has an owner and a fencing token that strictly increases with every acquisition; a
save is refused when the state moved since it was read or a newer lease has written.

On Lambda a lease must outlive the function's timeout (a run never sends on a lapsed lease)
and end soon after it (a run that timed out holds no cycle back): `check_lease_fits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from trader.domain.codec import to_jsonable
from trader.domain.copying import quick_init
from trader.domain.errors import ConfigError, LockHeld, LockLost, StateConflict
from trader.domain.memo import seconds
from trader.domain.state import PortfolioState

# Between a Lambda's end and its lease's: clock skew between hosts, the lock's own round
# trip, the scheduler's delay of the next event.
LEASE_MARGIN_SECONDS = 30


@quick_init
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
    expires_at = now.astimezone(UTC) + seconds(lease_seconds)
    return LockLease(owner, last_token + 1, expires_at)


def holds(holder: LockLease | None, lease: LockLease) -> bool:
    """True when `lease` is still the one on record (same owner and token)."""
    return holder is not None and (holder.owner, holder.token) == (lease.owner, lease.token)


def check_lease(lease: LockLease, now: datetime, margin_seconds: int) -> None:
    """LockLost unless `lease` runs at least `margin_seconds` past `now`: asked before the
    write-ahead save and before each create, so no order is sent on a lease about to lapse."""
    if lease.expires_at - seconds(margin_seconds) <= now:
        raise LockLost(
            f"the lease of {lease.owner!r} (token {lease.token}) expires at "
            f"{to_jsonable(lease.expires_at)}, less than {margin_seconds} s after "
            f"{to_jsonable(now)}; nothing more is written or sent"
        )


def check_lease_fits(
    setting: str,
    lease_seconds: int,
    timeout_seconds: int,
    interval_seconds: int,
    *,
    scheduled: bool,
) -> None:
    """ConfigError unless timeout + margin <= lease <= longest, where longest is one interval
    less the margin for the scheduled cycle (its next run starts one interval after it) and
    the timeout plus that for a run started by hand (a liquidation that timed out holds the
    cycles back for less than one interval)."""
    shortest = timeout_seconds + LEASE_MARGIN_SECONDS
    longest = interval_seconds - LEASE_MARGIN_SECONDS + (0 if scheduled else timeout_seconds)
    if shortest <= lease_seconds <= longest:
        return
    held_back = "the next cycle" if scheduled else "more than one cycle"
    raise ConfigError(
        f"{setting} is {lease_seconds} s; with a Lambda timeout of {timeout_seconds} s and a "
        f"cycle every {interval_seconds} s it must lie between {shortest} s (the timeout + "
        f"{LEASE_MARGIN_SECONDS} s: a shorter lease may lapse while the run still sends) and "
        f"{longest} s (longer, a run that timed out would hold back {held_back})"
        + ("; no lease fits: shorten the timeout" if shortest > longest else "")
    )


def check_lease_outlives(setting: str, lease_seconds: int, remaining_seconds: float) -> None:
    """ConfigError when this invocation may run past its lease (a Timeout raised without
    LAMBDA_TIMEOUT_SECONDS following it): checked at every invocation, before the lock."""
    if remaining_seconds + LEASE_MARGIN_SECONDS > lease_seconds:
        raise ConfigError(
            f"{setting} is {lease_seconds} s but this invocation has {remaining_seconds:.0f} s "
            f"left (+ {LEASE_MARGIN_SECONDS} s margin): the lease could lapse while it still "
            "sends; raise the lease or set LAMBDA_TIMEOUT_SECONDS to the function's Timeout"
        )
