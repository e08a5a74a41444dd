"""The candle cache kept between processes, in a blob: a local file, or an S3 object on Lambda.

A warm Lambda keeps its cache in memory; this makes a cold start (or a new local run)
begin where the last cycle stopped, so it asks Coinbase only for the bars it lacks. It is
a cache: a missing, unreadable or unwritable blob costs requests, never a cycle.

The blob is not trusted: it is read and inflated up to MAX_JSON_BYTES only (300 KiB of
gzip can hold gigabytes), and every series is checked (`series_problem`: on the grid, not
past the clock, sane prices). Anything wrong drops the whole cache, with a warning saying
why; the bars are fetched again. A series ending in 2099 would otherwise never be fetched.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from trader.adapters.coinbase.candles import CandleSeries, InMemoryCandleCache, series_problem
from trader.domain.codec import parse_utc, to_jsonable
from trader.domain.models import Candle
from trader.ports import Clock

log = logging.getLogger("trader.candle_store")
FORMAT_VERSION = 1
KEPT_BARS = 120  # per series: more than twice the default lookback of 48 bars
# Kept at most, the newest-ended first: above the most one cycle charts (the triggers'
# max_products_with_candles, at most 100, and the regime's reference product).
MAX_SERIES = 128
STALE_AFTER = timedelta(days=1)  # a series not extended for a day is dropped
# Read and inflated at most: MAX_SERIES full series of long prices take about 2.9 MB.
MAX_JSON_BYTES = 4 << 20
MAX_REASON_CHARS = 300


class BadCache(ValueError):
    """The blob is not a candle cache this process will believe."""


class BlobStore(Protocol):
    def read(self, max_bytes: int) -> bytes | None:
        """The stored bytes, at most `max_bytes` + 1 of them (more means too large), or None
        when nothing is stored yet."""
        ...

    def write(self, data: bytes) -> None: ...


class PersistentCandleCache(InMemoryCandleCache):
    """The in-memory candle cache, loaded once per process and written back after cycles."""

    def __init__(
        self,
        blob: BlobStore,
        clock: Clock,
        kept_bars: int = KEPT_BARS,
        kept_longer: Mapping[str, int] | None = None,
    ) -> None:
        """`kept_longer`: products whose series keep more bars (the regime's, over its
        window), so a cold start does not fetch their window again."""
        super().__init__()
        self._blob = blob
        self._clock = clock
        self._kept = kept_bars
        self._kept_longer = dict(kept_longer or {})
        self._loaded = False
        self._dirty = False
        self._state_lock = threading.Lock()

    def put(self, product_id: str, granularity_s: int, series: CandleSeries) -> None:
        super().put(product_id, granularity_s, series)
        with self._state_lock:
            self._dirty = True

    def load(self) -> None:
        """Read the blob once per process; a bad blob is logged and ignored (an empty cache)."""
        with self._state_lock:
            if self._loaded:
                return
            self._loaded = True
        try:
            data = self._blob.read(MAX_JSON_BYTES)
            entries = [] if data is None else _decode(data, self._clock)
        except Exception as exc:  # noqa: BLE001 (a broken cache must never stop a cycle)
            reason = f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]
            log.warning("candle cache unreadable, dropped (%s); starting empty", reason)
            return
        for product_id, granularity_s, series in entries:
            super().put(product_id, granularity_s, series)

    def flush(self) -> None:
        """Write the cache back if a cycle added bars; failures are logged, never raised."""
        with self._state_lock:
            if not self._dirty:
                return
            self._dirty = False
        try:
            self._blob.write(_encode(self._snapshot(), self._kept, self._kept_longer))
        except Exception:  # the next cycle simply fetches more bars
            log.warning("candle cache could not be written", exc_info=True)

    def _snapshot(self) -> list[tuple[str, int, CandleSeries]]:
        """The live series, oldest-ended ones evicted (from memory too): a product that left
        the scan a day ago would be refetched whole anyway, so keeping it only costs."""
        with self._lock:
            if self._series:
                newest = max(series.end for series in self._series.values())
                for key in [k for k, v in self._series.items() if v.end < newest - STALE_AFTER]:
                    del self._series[key]
            by_end = sorted(self._series, key=lambda k: self._series[k].end, reverse=True)
            for key in by_end[MAX_SERIES:]:  # what is written is always read back whole
                del self._series[key]
            return [(pid, g, series) for (pid, g), series in sorted(self._series.items())]


def _encode(
    entries: list[tuple[str, int, CandleSeries]], kept: int, kept_longer: Mapping[str, int]
) -> bytes:
    rows = []
    for product_id, granularity_s, series in entries:
        bars = series.candles[-max(kept, kept_longer.get(product_id, 0)) :]
        start = bars[0].start if len(bars) < len(series.candles) else series.start
        trimmed = CandleSeries(start, series.end, bars)
        rows.append(
            {
                "product_id": product_id,
                "granularity_s": granularity_s,
                "series": to_jsonable(trimmed),
            }
        )
    body = json.dumps({"version": FORMAT_VERSION, "series": rows}, separators=(",", ":"))
    return gzip.compress(body.encode("utf-8"))


def _decode(data: bytes, clock: Clock) -> list[tuple[str, int, CandleSeries]]:
    if len(data) > MAX_JSON_BYTES:
        raise BadCache(f"the blob is larger than {MAX_JSON_BYTES} bytes")
    body = json.loads(_inflate(data))
    if body.get("version") != FORMAT_VERSION:
        raise BadCache(f"candle cache format {body.get('version')!r} is not {FORMAT_VERSION}")
    now = clock.now()
    return [_checked(row, now) for row in body["series"]]


def _inflate(data: bytes) -> bytes:
    """The gzip stream inflated, never past MAX_JSON_BYTES (a bomb stops there)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    body = inflater.decompress(data, MAX_JSON_BYTES + 1)
    if len(body) > MAX_JSON_BYTES:
        raise BadCache(f"the blob decompresses to more than {MAX_JSON_BYTES} bytes")
    if not inflater.eof:
        raise BadCache("the blob is not a whole gzip stream")
    return body


def _checked(row: dict[str, Any], now: datetime) -> tuple[str, int, CandleSeries]:
    product_id, granularity_s = str(row["product_id"]), int(row["granularity_s"])
    data = row["series"]
    bars = tuple(_candle(bar) for bar in data["candles"])
    series = CandleSeries(parse_utc(data["start"]), parse_utc(data["end"]), bars)
    problem = series_problem(series, granularity_s, now)
    if problem is not None:
        raise BadCache(f"{product_id} {granularity_s} s: {problem}")
    return product_id, granularity_s, series


def _candle(bar: dict[str, Any]) -> Candle:
    """One bar as to_jsonable wrote it (directly: the codec's generic decoder is slower)."""
    prices = (Decimal(str(bar[name])) for name in ("open", "high", "low", "close", "volume"))
    return Candle(parse_utc(bar["start"]), *prices)
