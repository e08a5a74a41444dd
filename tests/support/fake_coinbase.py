"""A stateful fake Coinbase Advanced Trade under the real SDK, intercepted with `responses`.

    fake = FakeCoinbase.from_config(cfg.simulator, clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        client = RESTClient(api_key=KEY_NAME, api_secret=pem, timeout=5)   # the real SDK
        ...

The account is a MatchingExchange over a SyntheticMarket, so the fake and the simulated
exchange agree on prices, fills, fees and balances. Faults are injected on demand with
`fail(method, path_regex, Fault...)` and the order-level helpers below, or drawn per request
by `fault_source` (the chaos run, tests/support/chaos_world.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
import responses
from fake_coinbase_json import error_json
from fake_coinbase_routes import Routes

from trader.adapters.sim.matching import MatchingExchange
from trader.adapters.sim.synthetic import SyntheticMarket
from trader.domain.config import SimulatorConfig
from trader.domain.models import FeeRates
from trader.ports import Clock

HOST = "api.coinbase.com"
PREFIX = "/api/v3/brokerage"
BASE = f"https://{HOST}{PREFIX}"
RATE_LIMIT_HTML = (
    "<html><head><title>429 Too Many Requests</title></head><body>slow down</body></html>"
)

Reply = tuple[int, dict[str, str], str]


@dataclass(frozen=True)
class Fault:
    """One injected failure: an HTTP answer, or an exception raised at the client.

    `after=True` processes the request first (e.g. the create is accepted), then fails;
    `corrupt` processes it too, then answers 200 with the JSON answer it makes of the real one.
    """

    status: int = 0
    body: str = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    exception: type[Exception] | None = None
    after: bool = False
    corrupt: Callable[[Any], Any] | None = None

    @classmethod
    def http(cls, status: int, code: str = "INTERNAL", message: str = "fault", **kw: Any) -> Fault:
        return cls(status=status, body=json.dumps(error_json(code, message)), **kw)

    @classmethod
    def rate_limited(cls, **kw: Any) -> Fault:
        headers = {"x-ratelimit-limit": "30", "x-ratelimit-remaining": "0", "Retry-After": "1"}
        return cls(429, RATE_LIMIT_HTML, "text/html", headers, **kw)

    @classmethod
    def timeout(cls, after: bool = False) -> Fault:
        return cls(exception=requests.exceptions.ReadTimeout, after=after)

    @classmethod
    def connection_error(cls) -> Fault:
        return cls(exception=requests.exceptions.ConnectionError)

    @classmethod
    def malformed(cls, body: str = '{"products": [{"product_id": ', **kw: Any) -> Fault:
        return cls(status=200, body=body, **kw)

    @classmethod
    def corrupted(cls, change: Callable[[Any], Any]) -> Fault:
        """The request is processed; its answer goes out as `change(answer)`."""
        return cls(after=True, corrupt=change)


@dataclass
class Recorded:
    method: str
    path: str  # relative to /api/v3/brokerage
    query: dict[str, list[str]]
    body: dict[str, Any]
    started: float
    ended: float = 0.0
    status: int = 0


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    fault: Fault
    remaining: int


@dataclass
class _Rewrite:
    method: str
    pattern: re.Pattern[str]
    change: Callable[[Any], Any]
    skip: int  # matching answers to let through unchanged first
    remaining: int


class FakeCoinbase:
    """The fake exchange. `requests` records every request (for counts and round trips)."""

    def __init__(
        self,
        market: SyntheticMarket,
        exchange: MatchingExchange,
        clock: Clock,
        fees: FeeRates,
        slippage_bps: Decimal,
        *,
        latency_s: float = 0.0,
        verify_key: Any = None,
    ) -> None:
        self.routes = Routes(market, exchange, clock, fees, slippage_bps)
        self.latency_s = latency_s
        self.verify_key = verify_key
        self.requests: list[Recorded] = []
        self._injections: list[_Injection] = []
        self._rewrites: list[_Rewrite] = []
        # Asked about every request no queued fault matched (the chaos run draws one there).
        self.fault_source: Callable[[Recorded], Fault | None] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        sim: SimulatorConfig,
        clock: Clock,
        balances: dict[str, Decimal] | None = None,
        **kwargs: Any,
    ) -> FakeCoinbase:
        market = SyntheticMarket(sim, clock)
        fees = FeeRates(maker=sim.maker_fee_pct / 100, taker=sim.taker_fee_pct / 100)
        cash = balances if balances is not None else {"USD": sim.starting_cash}
        exchange = MatchingExchange(market, clock, fees, sim.slippage_bps, cash)
        return cls(market, exchange, clock, fees, sim.slippage_bps, **kwargs)

    # --- wiring ---------------------------------------------------------------------------

    def install(self, rsps: responses.RequestsMock) -> None:
        pattern = re.compile(re.escape(BASE) + r"/.*")
        for method in ("GET", "POST", "PUT", "DELETE"):
            rsps.add_callback(method, pattern, callback=self._handle)

    @property
    def exchange(self) -> MatchingExchange:
        return self.routes.exchange

    @property
    def market(self) -> SyntheticMarket:
        return self.routes.market

    # --- fault injection --------------------------------------------------------------------

    def fail(self, method: str, path_regex: str, fault: Fault, times: int = 1) -> None:
        """The next `times` requests matching (method, path) get `fault`."""
        with self._lock:
            self._injections.append(_Injection(method, re.compile(path_regex), fault, times))

    def clear_faults(self) -> None:
        """Forget every fault and rewrite still waiting to be injected."""
        with self._lock:
            self._injections.clear()
            self._rewrites.clear()

    def rewrite(
        self,
        method: str,
        path_regex: str,
        change: Callable[[Any], Any],
        times: int = 1,
        skip: int = 0,
    ) -> None:
        """After `skip` matching answers, the next `times` have their JSON body replaced by
        `change(body)` (the state change behind the answer happens as usual): a malformed
        answer from an exchange that did the work."""
        with self._lock:
            self._rewrites.append(_Rewrite(method, re.compile(path_regex), change, skip, times))

    def reject_next_create(self, reason: str, message: str = "rejected by the fake") -> None:
        self.routes.next_create.append(("reject", reason, message))

    def reject_create_after(
        self, creates: int, reason: str, message: str = "rejected by the fake"
    ) -> None:
        """Let the next `creates` new orders through, then refuse the one after with `reason`."""
        self.routes.next_create.extend([("normal", None, "")] * creates)
        self.routes.next_create.append(("reject", reason, message))

    def partial_fill_next(self, fraction: Decimal, rest_later: bool = False) -> None:
        """The next create fills only `fraction` of its size; the rest is cancelled (IOC), or
        with `rest_later` the order stays OPEN and the rest fills at the first request after
        the clock moved on (tests/support/partial_fills.py)."""
        self.routes.next_create.append(("partial_rest" if rest_later else "partial", fraction, ""))

    def hold_open_next(self) -> None:
        """The next create is accepted and stays OPEN, unfilled, until cancelled."""
        self.routes.next_create.append(("hold", None, ""))

    def hide_next_order(self, reads: int) -> None:
        """The next created order is invisible (404 / not listed) for `reads` reads."""
        self.routes.next_create.append(("hide", reads, ""))

    def set_product_flags(self, product_id: str, **flags: object) -> None:
        """Flip a product's status flags (use this, not market.set_product_flags: cached)."""
        self.routes.set_product_flags(product_id, **flags)

    def answer_duplicates_with_failure(self) -> None:
        """A repeated client_order_id gets `success: false, DUPLICATE_CLIENT_ORDER_ID`."""
        self.routes.duplicate_as_failure = True

    def set_book(
        self, product_id: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]
    ) -> None:
        """Best bid/ask shows this book for `product_id`: (price, size) levels, best first,
        stamped with the clock; a side may be empty, as Coinbase shows a thin market. Fills
        stay the matcher's."""
        levels = lambda side: [{"price": p, "size": q} for p, q in side]  # noqa: E731
        self.routes.books[product_id] = {
            "product_id": product_id,
            "bids": levels(bids),
            "asks": levels(asks),
        }

    def add_candle_gap(self, product_id: str, start_ts: int) -> None:
        self.routes.gaps.add((product_id, start_ts))

    # --- inspection -------------------------------------------------------------------------

    def count(self, method: str, path_regex: str) -> int:
        return sum(
            1 for r in self.requests if r.method == method and re.fullmatch(path_regex, r.path)
        )

    def orders_created(self) -> int:
        return self.routes.orders_created()

    # --- dispatch ---------------------------------------------------------------------------

    def _handle(self, request: requests.PreparedRequest) -> Reply:
        parts = urlsplit(request.url or "")
        path = parts.path.removeprefix(PREFIX)
        query = parse_qs(parts.query, keep_blank_values=True)
        body = json.loads(request.body) if request.body else {}
        record = Recorded(request.method or "", path, query, body, time.perf_counter())
        with self._lock:
            self.requests.append(record)
        if self.latency_s:
            time.sleep(self.latency_s)
        try:
            reply = self._dispatch(request, record)
        finally:
            record.ended = time.perf_counter()
        record.status = reply[0]
        return reply

    def _dispatch(self, request: requests.PreparedRequest, record: Recorded) -> Reply:
        auth_failure = self._check_auth(request, record)
        if auth_failure is not None:
            return auth_failure
        fault = self._take_fault(record)
        if fault is not None and not fault.after:
            return self._apply(fault)
        with self._lock:
            status, payload = self.routes.handle(
                record.method, record.path, record.query, record.body
            )
        if fault is not None and fault.corrupt is not None:
            payload = fault.corrupt(payload)
        elif fault is not None:
            return self._apply(fault)
        change = self._take_rewrite(record)
        if change is not None:
            payload = change(payload)
        headers = {"Content-Type": "application/json", "x-ratelimit-remaining": "29"}
        return status, headers, json.dumps(payload)

    def _take_fault(self, record: Recorded) -> Fault | None:
        with self._lock:
            for inj in self._injections:
                if (
                    inj.remaining > 0
                    and inj.method == record.method
                    and inj.pattern.fullmatch(record.path)
                ):
                    inj.remaining -= 1
                    return inj.fault
        return self.fault_source(record) if self.fault_source is not None else None

    def _take_rewrite(self, record: Recorded) -> Callable[[Any], Any] | None:
        with self._lock:
            for rw in self._rewrites:
                if rw.method != record.method or not rw.pattern.fullmatch(record.path):
                    continue
                if rw.skip > 0:
                    rw.skip -= 1
                elif rw.remaining > 0:
                    rw.remaining -= 1
                    return rw.change
        return None

    @staticmethod
    def _apply(fault: Fault) -> Reply:
        if fault.exception is not None:
            raise fault.exception(f"fake: injected {fault.exception.__name__}")
        return fault.status, {"Content-Type": fault.content_type, **fault.headers}, fault.body

    def _check_auth(self, request: requests.PreparedRequest, record: Recorded) -> Reply | None:
        if record.path.startswith("/market/") or record.path == "/time":
            return None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return 401, {}, json.dumps(error_json("UNAUTHENTICATED", "missing bearer token"))
        token = header.removeprefix("Bearer ")
        options = {"verify_signature": self.verify_key is not None}
        try:
            claims = jwt.decode(
                token, key=self.verify_key, algorithms=["ES256", "EdDSA"], options=options
            )
        except jwt.PyJWTError as exc:
            return 401, {}, json.dumps(error_json("UNAUTHENTICATED", f"bad jwt: {exc}"))
        if claims.get("uri") != f"{record.method} {HOST}{PREFIX}{record.path}":
            return 401, {}, json.dumps(error_json("UNAUTHENTICATED", "jwt uri mismatch"))
        return None
