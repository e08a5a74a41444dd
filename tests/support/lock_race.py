"""Lock doubles: many acquisitions at the same instant, from threads; a lease nearly spent."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from trader.domain.errors import LockHeld
from trader.domain.lease import LockLease
from trader.ports import CycleLock


def race_acquires(lock: CycleLock, threads: int, now: datetime) -> list[str]:
    """What each of `threads` simultaneous acquires got: "won <token>" or "held"."""
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []

    def acquire_once(n: int) -> None:
        barrier.wait()
        try:
            outcomes.append(f"won {lock.acquire(f'thread-{n}', now, 60).token}")
        except LockHeld:
            outcomes.append("held")

    workers = [threading.Thread(target=acquire_once, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


@dataclass
class ShortLeaseLock:
    """Grants leases that run `seconds` only, whatever was asked (a lease nearly spent)."""

    seconds: int
    inner: CycleLock

    def acquire(self, owner: str, now: datetime, lease_seconds: int) -> LockLease:
        lease = self.inner.acquire(owner, now, lease_seconds)
        return replace(lease, expires_at=now + timedelta(seconds=self.seconds))

    def release(self, lease: LockLease) -> None:
        self.inner.release(lease)
