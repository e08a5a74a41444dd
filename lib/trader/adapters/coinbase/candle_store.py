"""The candle cache kept between processes, in a blob: a local file, or an S3 object on Lambda.

A warm Lambda keeps its cache in memory; this makes a cold start (or a new local run)
begin where the last cycle stopped, so it asks Coinbase only for the bars it lacks. It is
a cache: a missing, unreadable or unwritable blob costs requests, never a cycle.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

from trader.adapters.coinbase.candles import CandleSeries, InMemoryCandleCache
from trader.domain.codec import from_jsonable, to_jsonable

log = logging.getLogger("trader.candle_store")
FORMAT_VERSION = 1
KEPT_BARS = 120  # per series: more than twice the default lookback of 48 bars
STALE_AFTER = timedelta(days=1)  # a series not extended for a day is dropped


class BlobStore(Protocol):
    def read(self) -> bytes | None:
        """The stored bytes, or None when nothing is stored yet."""
        ...

    def write(self, data: bytes) -> None: ...


class PersistentCandleCache(InMemoryCandleCache):
    """The in-memory candle cache, loaded once per process and written back after cycles."""

    def __init__(
        self,
        blob: BlobStore,
        kept_bars: int = KEPT_BARS,
        kept_longer: Mapping[str, int] | None = None,
    ) -> None:
        """`kept_longer`: products whose series keep more bars (the regime's, over its
        window), so a cold start does not fetch their window again."""
        super().__init__()
        self._blob = blob
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
            data = self._blob.read()
            entries = [] if data is None else _decode(data)
        except Exception:  # a broken cache must never stop a cycle
            log.warning("candle cache unreadable; starting empty", exc_info=True)
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


def _decode(data: bytes) -> list[tuple[str, int, CandleSeries]]:
    body = json.loads(gzip.decompress(data))
    if body.get("version") != FORMAT_VERSION:
        raise ValueError(f"candle cache format {body.get('version')!r} is not {FORMAT_VERSION}")
    return [
        (
            str(row["product_id"]),
            int(row["granularity_s"]),
            from_jsonable(CandleSeries, row["series"]),
        )
        for row in body["series"]
    ]
