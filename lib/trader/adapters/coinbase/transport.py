"""One gate for every SDK call: count it, translate its failure, retry it when that is safe."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trader.adapters.coinbase.errors import RETRYABLE, RateLimited, translate
from trader.domain.errors import ExchangeError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter; `attempts` counts the first try."""

    attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 2.0

    def delay(self, attempt: int, rng: random.Random, hint_s: float | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1` (equal jitter, capped)."""
        backoff = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        jittered = backoff / 2 + rng.uniform(0, backoff / 2)
        if hint_s is not None:
            jittered = max(jittered, min(hint_s, self.max_delay_s))
        return jittered


class RateLimiter:
    """A token bucket shared by every thread: at most `burst` at once, then `rate_per_s`.

    Each caller reserves a slot and sleeps until it (no polling loop), so an injected
    sleep that does not really wait cannot make it spin.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = monotonic()
        self._lock = threading.Lock()

    @classmethod
    def unlimited(cls) -> RateLimiter:
        return cls(float("inf"), 1)

    def acquire(self) -> float:
        """Take one slot; returns the seconds waited for it."""
        if self.rate == float("inf"):
            return 0.0
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


class Transport:
    """Wraps SDK calls: `once` for a single try, `read` for calls that are safe to repeat."""

    def __init__(
        self,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter.unlimited()
        self.sleep = sleep
        self._rng = rng or random.Random()
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def api_calls(self) -> dict[str, int]:
        """HTTP requests sent so far, by SDK method (retries included)."""
        with self._lock:
            return dict(self._calls)

    def reset_api_calls(self) -> dict[str, int]:
        """Return the counts and start again from zero (one audit record per cycle)."""
        with self._lock:
            counts, self._calls = self._calls, {}
        return counts

    def once(self, op: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One SDK call; the response as plain dicts; any failure as a typed ExchangeError."""
        self.limiter.acquire()
        with self._lock:
            self._calls[op] = self._calls.get(op, 0) + 1
        try:
            response = fn(*args, **kwargs)
            body = response.to_dict() if hasattr(response, "to_dict") else response
        except Exception as exc:
            raise translate(exc, op) from exc
        if not isinstance(body, dict):
            raise translate(TypeError("not an object"), op)
        return body

    def read(
        self,
        op: str,
        fn: Callable[..., Any],
        *args: Any,
        retry_on: tuple[type[ExchangeError], ...] = RETRYABLE,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """`once`, retried with backoff on transient failures; only for calls safe to repeat."""
        for attempt in range(self.retry.attempts):
            try:
                return self.once(op, fn, *args, **kwargs)
            except retry_on as err:
                if attempt + 1 >= self.retry.attempts:
                    raise
                self.backoff(op, attempt, err)
        raise AssertionError("unreachable: the loop returns or raises")

    def backoff(self, op: str, attempt: int, err: ExchangeError) -> None:
        hint = err.retry_after_s if isinstance(err, RateLimited) else None
        wait = self.retry.delay(attempt, self._rng, hint)
        log.warning(
            "coinbase call failed, retrying",
            extra={"op": op, "attempt": attempt + 1, "error": str(err), "wait_s": round(wait, 3)},
        )
        self.sleep(wait)
