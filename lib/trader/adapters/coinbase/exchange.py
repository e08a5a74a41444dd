"""CoinbaseExchange: the Exchange port over the official coinbase-advanced-py RESTClient.

    exchange = CoinbaseExchange(credentials=load_credentials(secret_id), timeout_s=10,
                                candle_cache=InMemoryCandleCache())
    exchange = CoinbaseExchange()          # public-only: market data, no account, no orders

The caller runs calls concurrently (a thread pool): the adapter is thread-safe. Market
data needs few round trips: one products call, one best-bid/ask call for the whole
universe, and candles only for the bars the cache lacks. Every failure is a typed
ExchangeError (see coinbase_errors); a create with no definite answer is OutcomeUnknown.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from coinbase.rest import RESTClient
from requests.adapters import HTTPAdapter

from trader.adapters.clock import SystemClock
from trader.adapters.coinbase.candles import (
    CandleCache,
    closed_bounds,
    granularity_name,
    merge,
    missing_windows,
)
from trader.adapters.coinbase.convert import Converter
from trader.adapters.coinbase.credentials import CoinbaseCredentials
from trader.adapters.coinbase.errors import MalformedResponse
from trader.adapters.coinbase.mapping import (
    account_ids_from,
    balances_from,
    candle_from,
    fees_from,
    fill_from,
    products_from,
    quote_from,
)
from trader.adapters.coinbase.order_client import OrderClient
from trader.adapters.coinbase.pages import pages
from trader.adapters.coinbase.transport import RateLimiter, RetryPolicy, Transport
from trader.domain.codec import parse_utc, to_jsonable
from trader.domain.models import (
    AccountFills,
    Balance,
    Candle,
    Conversion,
    FeeRates,
    Fill,
    Order,
    PlannedConversion,
    PlannedOrder,
    Product,
    Quote,
)
from trader.ports import Clock

BASE_URL = "api.coinbase.com"  # a host: the SDK prepends https:// itself
MAX_PAGES = 50
# Coinbase allows about 30 private requests/s per key and 10 public/s per IP; stay under.
PRIVATE_RATE = (25.0, 25)
PUBLIC_RATE = (8.0, 8)


class CoinbaseExchange:
    """Coinbase Advanced Trade as an Exchange.

    client: a prepared RESTClient (tests, custom transport); built from `credentials`
        otherwise, with an explicit timeout and never the SDK's import-time env defaults.
    credentials: None -> public-only mode (market data from the public endpoints).
    quote_currency: which of an X-USD / X-USDC alias pair list_products keeps.
    candle_cache: where closed bars survive between cycles; None disables caching.
    max_workers: HTTP connection pool size (match the caller's thread pool).
    retry, sleep, rng: backoff for calls safe to repeat (injectable for tests).
    rate_limiter: shared client-side token bucket; default 25/s (8/s public-only);
        `RateLimiter.unlimited()` turns it off (benchmarks against the fake).
    fee_ttl_s: how long the fee tier is reused before asking again.
    preview_orders: preview each new order (POST /orders/preview) before creating it, so a
        doomed one is OrderRejected without a create; costs one more sequential round trip
        per order placed. A preview that fails transiently is skipped (see OrderClient.place).
    """

    def __init__(
        self,
        client: RESTClient | None = None,
        *,
        credentials: CoinbaseCredentials | None = None,
        timeout_s: float = 10,
        quote_currency: str = "USD",
        candle_cache: CandleCache | None = None,
        clock: Clock | None = None,
        max_workers: int = 8,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        fee_ttl_s: int = 3600,
        reconcile_lookback: timedelta = timedelta(days=2),
        base_url: str = BASE_URL,
        rate_limiter: RateLimiter | None = None,
        preview_orders: bool = False,
    ) -> None:
        if client is None:
            client = _build_client(credentials, timeout_s, base_url)
        client.session.mount("https://", HTTPAdapter(pool_maxsize=max_workers))
        self._client = client
        self._public = not getattr(client, "is_authenticated", False)
        self._quote = quote_currency
        self._cache = candle_cache
        self._clock = clock or SystemClock()
        self._workers = max_workers
        if rate_limiter is None:
            rate_limiter = RateLimiter(*(PUBLIC_RATE if self._public else PRIVATE_RATE))
        self._io = Transport(retry, sleep, rng, rate_limiter)
        self._fee_ttl = timedelta(seconds=fee_ttl_s)
        self._fees: tuple[datetime, FeeRates] | None = None
        self._fee_lock = threading.Lock()
        self._orders = OrderClient(
            client, self._io, self._clock, reconcile_lookback, preview=preview_orders
        )
        self._account_ids: dict[str, str] = {}  # currency -> account uuid, from get_balances
        self._converter = Converter(self._io, client, lambda: dict(self._account_ids), sleep)

    def __repr__(self) -> str:
        mode = "public" if self._public else "authenticated"
        return f"CoinbaseExchange({mode}, quote={self._quote})"

    @property
    def is_public(self) -> bool:
        return self._public

    @property
    def api_calls(self) -> dict[str, int]:
        """HTTP requests sent so far, by SDK method (retries included)."""
        return self._io.api_calls

    def reset_api_calls(self) -> dict[str, int]:
        return self._io.reset_api_calls()

    # --- market data -------------------------------------------------------------------

    def list_products(self) -> Sequence[Product]:
        """All spot products in one call (more only if Coinbase paginates)."""
        if self._public:
            fetch, op = self._client.get_public_products, "get_public_products"
            extra: dict[str, Any] = {}
        else:
            fetch, op = self._client.get_products, "get_products"
            extra = {"get_tradability_status": True}

        def page(cursor: str | None) -> Mapping[str, Any]:
            at = {"cursor": cursor} if cursor else {}
            return self._io.read(op, fetch, product_type="SPOT", **extra, **at)

        items = [item for body in pages(page, MAX_PAGES) for item in _list(body, "products", op)]
        return products_from(items, self._quote)

    def get_quotes(self, product_ids: Sequence[str]) -> Mapping[str, Quote]:
        """Best bid/ask of every product in one call (one per product in public-only mode)."""
        ids = list(dict.fromkeys(product_ids))
        if not ids:
            return {}
        if self._public:
            return self._public_quotes(ids)
        body = self._io.read("get_best_bid_ask", self._client.get_best_bid_ask, product_ids=ids)
        quotes = (quote_from(book) for book in _list(body, "pricebooks", "get_best_bid_ask"))
        return {q.product_id: q for q in quotes if q is not None and q.product_id in ids}

    def get_candles(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        """Closed bars with start in [start, end), ascending; fetches only what the cache lacks."""
        name = granularity_name(granularity_s)
        lo, hi = closed_bounds(start, end, granularity_s, self._clock.now())
        if lo >= hi:
            return []
        cached = self._cache.get(product_id, granularity_s) if self._cache else None
        windows = missing_windows(cached, lo, hi, granularity_s)
        fetched = [bar for w in windows for bar in self._fetch_candles(product_id, name, w)]
        series = merge(cached, windows, fetched)
        if self._cache is not None and windows:
            self._cache.put(product_id, granularity_s, series)
        return [c for c in series.candles if lo <= c.start < hi]

    # --- account -------------------------------------------------------------------------

    def get_balances(self) -> Mapping[str, Balance]:
        """Every account page, summed per currency."""

        def page(cursor: str | None) -> Mapping[str, Any]:
            return self._io.read(
                "get_accounts", self._client.get_accounts, limit=250, cursor=cursor
            )

        accounts = [
            item
            for body in pages(page, MAX_PAGES)
            for item in _list(body, "accounts", "get_accounts")
        ]
        balances = balances_from(accounts)
        self._account_ids.update(account_ids_from(accounts))
        return balances

    def convert(self, conversion: PlannedConversion) -> Conversion:
        """USD <-> USDC: quote, commit, poll (see adapters/coinbase/convert.py)."""
        return self._converter.convert(conversion)

    def get_fills_since(self, cursor: str | None) -> AccountFills:
        """The account's fills whose sequence time is at or after `cursor`, oldest first."""
        if cursor is None:  # start now: the history before the first cycle is not ours
            return AccountFills((), to_jsonable(self._clock.now()))

        def page(at: str | None) -> Mapping[str, Any]:
            return self._io.read(
                "get_fills",
                self._client.get_fills,
                start_sequence_timestamp=cursor,
                limit=250,
                cursor=at,
            )

        after = parse_utc(cursor)
        unique: dict[str, Fill] = {}
        for body in pages(page, MAX_PAGES):
            for item in _list(body, "fills", "get_fills"):
                fill = fill_from(item, client_order_id="")
                if fill.time >= after:
                    unique.setdefault(fill.fill_id, fill)
        fills = sorted(unique.values(), key=lambda f: (f.time, f.fill_id))
        return AccountFills(tuple(fills), to_jsonable(fills[-1].time) if fills else cursor)

    def get_fee_rates(self) -> FeeRates:
        """The account's maker/taker fractions from the transaction summary, cached `fee_ttl_s`."""
        now = self._clock.now()
        with self._fee_lock:
            if self._fees is not None and now - self._fees[0] < self._fee_ttl:
                return self._fees[1]
        body = self._io.read("get_transaction_summary", self._client.get_transaction_summary)
        fees = fees_from(body)
        with self._fee_lock:
            self._fees = (now, fees)
        return fees

    # --- orders ---------------------------------------------------------------------------

    def place_order(self, order: PlannedOrder) -> Order:
        """Create (or find again, by client_order_id) the order; OPEN means accepted.

        With `preview_orders`, a new order is previewed first; see OrderClient.place.
        """
        return self._orders.place(order)

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        return self._orders.get(client_order_id, order_id)

    def cancel_order(self, client_order_id: str) -> Order | None:
        return self._orders.cancel(client_order_id)

    # --- helpers --------------------------------------------------------------------------

    def _fetch_candles(
        self, product_id: str, granularity: str, window: tuple[datetime, datetime]
    ) -> list[Candle]:
        fetch = self._client.get_public_candles if self._public else self._client.get_candles
        op = "get_public_candles" if self._public else "get_candles"
        body = self._io.read(
            op,
            fetch,
            product_id=product_id,
            start=str(int(window[0].timestamp())),
            end=str(int(window[1].timestamp())),
            granularity=granularity,
        )
        bars = (candle_from(c, product_id) for c in _list(body, "candles", op))
        return [b for b in bars if window[0] <= b.start < window[1]]

    def _public_quotes(self, ids: list[str]) -> dict[str, Quote]:
        def one(pid: str) -> Quote | None:
            body = self._io.read(
                "get_public_product_book",
                self._client.get_public_product_book,
                product_id=pid,
                limit=1,
            )
            book = body.get("pricebook")
            if not isinstance(book, Mapping):
                raise MalformedResponse(f"get_public_product_book {pid}: no pricebook")
            return quote_from(book)

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            quotes = list(pool.map(one, ids))
        return {q.product_id: q for q in quotes if q is not None}


def _build_client(
    credentials: CoinbaseCredentials | None, timeout_s: float, base_url: str
) -> RESTClient:
    # Pass both key fields explicitly (None included) so the SDK's import-time
    # COINBASE_API_KEY/SECRET defaults can never leak in.
    key = credentials.key_name if credentials else None
    secret = credentials.private_key if credentials else None
    return RESTClient(api_key=key, api_secret=secret, timeout=timeout_s, base_url=base_url)


def _list(body: Mapping[str, Any], key: str, op: str) -> list[Mapping[str, Any]]:
    items = body.get(key)
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise MalformedResponse(f"{op}: field {key!r} is not a list of objects")
    return items
