"""Start many lock acquisitions at the same instant, from threads."""

from __future__ import annotations

import threading
from datetime import datetime

from trader.domain.errors import LockHeld
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
