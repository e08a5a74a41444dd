"""The candle cache between processes: file and S3 blobs, a cold start that fetches little,
and a blob that must not be trusted (issue 10 finding 4): a gzip bomb, a series ending in
2099, a NaN close, any bar that is not a bar. A bad blob is dropped whole, with a warning
naming why, and the bars are fetched again."""

from __future__ import annotations

import gzip
import json
import logging
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from fake_coinbase_env import START, coinbase_env
from moto import mock_aws
from scripted_market import default_config

from trader.adapters.aws.blob import S3Blob
from trader.adapters.clock import SteppingClock
from trader.adapters.coinbase.candle_store import (
    KEPT_BARS,
    MAX_JSON_BYTES,
    MAX_SERIES,
    PersistentCandleCache,
)
from trader.adapters.coinbase.candles import CandleSeries
from trader.adapters.local.blob import FileBlob
from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore, ListAuditSink
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.bootstrap import candle_cache_on
from trader.domain.codec import to_jsonable
from trader.domain.ids import cycle_id_for
from trader.domain.models import Candle, Mode
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CLOCK = SteppingClock(T0 + timedelta(days=3), 300)  # after every series written here


def series(n: int, start: datetime = T0) -> CandleSeries:
    """n 5-minute bars from `start`: bar i opens and closes at i + 1, ranges i + 1 .. i + 2."""
    bars = tuple(
        Candle(
            start + timedelta(minutes=5 * i),
            Decimal(i + 1),
            Decimal(i + 2),
            Decimal(i + 1),
            Decimal(i + 1),
            Decimal(1),
        )
        for i in range(n)
    )
    return CandleSeries(start, start + timedelta(minutes=5 * n), bars)


class CountingBlob(FileBlob):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


def test_cache_when_flushed_and_loaded_by_a_new_process_then_the_series_come_back(
    tmp_path: Path,
) -> None:
    blob = FileBlob(tmp_path / ".candles.json.gz")
    first = PersistentCandleCache(blob, CLOCK)
    first.load()
    first.put("BTC-USD", 300, series(10))
    first.flush()

    second = PersistentCandleCache(FileBlob(tmp_path / ".candles.json.gz"), CLOCK)
    second.load()
    assert second.get("BTC-USD", 300) == series(10)
    assert second.get("ETH-USD", 300) is None


def test_cache_when_a_series_is_long_then_only_the_newest_bars_are_kept(tmp_path: Path) -> None:
    blob = FileBlob(tmp_path / "c.json.gz")
    cache = PersistentCandleCache(blob, CLOCK, kept_bars=4)
    cache.put("BTC-USD", 300, series(10))
    cache.flush()

    again = PersistentCandleCache(blob, CLOCK)
    again.load()
    kept = again.get("BTC-USD", 300)
    assert kept is not None
    # Bars 6..9 survive; the series now starts at bar 6 (T0 + 30 min), so the cache never
    # claims to know bars it dropped. Its end is unchanged.
    assert [c.open for c in kept.candles] == [Decimal(i + 1) for i in range(6, 10)]
    assert kept.start == T0 + timedelta(minutes=30)
    assert kept.end == T0 + timedelta(minutes=50)


def test_cache_when_nothing_changed_then_flush_writes_nothing(tmp_path: Path) -> None:
    blob = CountingBlob(tmp_path / "c.json.gz")
    cache = PersistentCandleCache(blob, CLOCK)
    cache.load()
    cache.flush()
    assert blob.writes == 0
    cache.put("BTC-USD", 300, series(2))
    cache.flush()
    cache.flush()
    assert blob.writes == 1


@pytest.mark.parametrize("content", [b"not gzip at all", gzip.compress(b'{"version": 99}'), b""])
def test_cache_when_the_blob_is_corrupt_then_it_starts_empty_and_says_so(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.json.gz"
    path.write_bytes(content)
    cache = PersistentCandleCache(FileBlob(path), CLOCK)
    with caplog.at_level(logging.WARNING):
        cache.load()
    assert cache.get("BTC-USD", 300) is None
    assert "candle cache unreadable" in caplog.text


def test_cache_when_the_blob_cannot_be_written_then_flush_logs_and_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = PersistentCandleCache(FileBlob(blocker / "under-a-file" / "c.json.gz"), CLOCK)
    cache.put("BTC-USD", 300, series(2))
    with caplog.at_level(logging.WARNING):
        cache.flush()  # must not raise
    assert "could not be written" in caplog.text


def test_s3_blob_when_missing_then_none_and_after_write_the_same_bytes() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="audit-bucket")
        blob = S3Blob("audit-bucket", "cache/candles-default.json.gz", s3)
        assert blob.read(100) is None
        blob.write(b"\x1f\x8bpayload")
        assert blob.read(100) == b"\x1f\x8bpayload"
        assert blob.read(4) == b"\x1f\x8bpay"  # at most one byte over the limit: too large
        head = s3.head_object(Bucket="audit-bucket", Key="cache/candles-default.json.gz")
        assert head["ServerSideEncryption"] == "AES256"


def test_file_blob_when_larger_than_asked_then_only_one_byte_over_the_limit_is_read(
    tmp_path: Path,
) -> None:
    blob = FileBlob(tmp_path / "c.json.gz")
    assert blob.read(10) is None
    blob.write(b"0123456789abcdef")

    assert blob.read(10) == b"0123456789a"
    assert blob.read(100) == b"0123456789abcdef"


def candle_windows(env) -> list[int]:  # type: ignore[no-untyped-def]
    """Bars asked for by each candles request since the last clear."""
    spans = []
    for r in env.fake.requests:
        if r.path.endswith("/candles"):
            spans.append((int(r.query["end"][0]) - int(r.query["start"][0])) // 300)
    return spans


def test_cold_start_when_the_cache_was_kept_then_only_the_missing_bars_are_fetched(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".candles.json.gz"
    with coinbase_env(start=START) as env:
        cache = candle_cache_on(FileBlob(path), default_config(), env.clock)  # as bootstrap does
        first = env.new_exchange(candle_cache=cache)
        deps = CycleDeps(
            default_config(),
            first,
            InMemoryStateStore(),
            InMemoryCycleLock(),
            ListAuditSink(),
            env.clock,
            SimulatedPaperAccounts(default_config(), env.clock),
            candle_cache=cache,
        )
        env.clock.advance()
        run_cycle(deps, CycleRequest(cycle_id_for(env.clock.now(), 300), Mode.DRY_RUN, "a"))
        assert max(candle_windows(env)) >= 48  # the first process fetched the full lookback

        # A new process (cold Lambda): new adapter, new cache object, the same blob.
        env.fake.requests.clear()
        cache2 = candle_cache_on(FileBlob(path), default_config(), env.clock)  # as bootstrap does
        second = env.new_exchange(candle_cache=cache2)
        deps2 = CycleDeps(
            default_config(),
            second,
            deps.store,
            InMemoryCycleLock(),
            ListAuditSink(),
            env.clock,
            SimulatedPaperAccounts(default_config(), env.clock),
            candle_cache=cache2,
        )
        env.clock.advance()
        run_cycle(deps2, CycleRequest(cycle_id_for(env.clock.now(), 300), Mode.DRY_RUN, "b"))
        windows = candle_windows(env)
        assert windows and max(windows) <= 2  # one new bar each (2 with boundary slack)


def test_cache_when_a_series_has_not_grown_for_a_day_then_flush_evicts_it(tmp_path: Path) -> None:
    blob = FileBlob(tmp_path / "c.json.gz")
    cache = PersistentCandleCache(blob, CLOCK)
    old = series(3)  # ends at T0 + 15 min
    fresh = series(1, start=T0 + timedelta(days=2))
    cache.put("OLD-USD", 300, old)
    cache.put("NEW-USD", 300, fresh)
    cache.flush()

    assert cache.get("OLD-USD", 300) is None  # gone from memory ...
    again = PersistentCandleCache(blob, CLOCK)
    again.load()
    assert again.get("OLD-USD", 300) is None  # ... and from the blob
    assert again.get("NEW-USD", 300) == fresh


# --- a blob not to be trusted: dropped whole, with the reason, and fetched again -------------


def blob_with(path: Path, rows: list[dict]) -> FileBlob:
    """A file blob holding `rows` as the cache's format (version 1) writes them."""
    body = json.dumps({"version": 1, "series": rows}).encode()
    path.write_bytes(gzip.compress(body))
    return FileBlob(path)


def row(product_id: str, candles: CandleSeries, granularity_s: int = 300) -> dict:
    return {
        "product_id": product_id,
        "granularity_s": granularity_s,
        "series": to_jsonable(candles),
    }


def gzip_of_zeros(size: int) -> bytes:
    """`size` zero bytes, gzipped a MiB at a time (never the whole of them in memory)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [packer.compress(chunk) for _ in range(size >> 20)]
    return b"".join([*parts, packer.flush()])


def test_cache_when_the_blob_is_a_gzip_bomb_then_refused_by_size_within_a_memory_bound(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.json.gz"
    path.write_bytes(gzip_of_zeros(128 << 20))  # 128 MiB of zeros in about 130 KiB
    assert path.stat().st_size < 300 * 1024
    cache = PersistentCandleCache(FileBlob(path), CLOCK)

    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING):
            cache.load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 3 * MAX_JSON_BYTES  # the cap and the parts, never the 128 MiB
    assert cache.get("BTC-USD", 300) is None
    assert f"decompresses to more than {MAX_JSON_BYTES} bytes" in caplog.text


def test_cache_when_the_blob_itself_is_over_the_limit_then_refused_before_inflating(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.json.gz"
    path.write_bytes(bytes(MAX_JSON_BYTES + 10))
    cache = PersistentCandleCache(FileBlob(path), CLOCK)

    with caplog.at_level(logging.WARNING):
        cache.load()

    assert f"the blob is larger than {MAX_JSON_BYTES} bytes" in caplog.text


def test_cache_when_a_series_ends_in_2099_then_dropped_and_the_bars_are_fetched_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with coinbase_env(start=START) as env:
        now = env.clock.now()
        # what a poisoned cache would say: BTC known up to 2099, so nothing missing to fetch
        known_from = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # START is 12:00:30 that day
        future = CandleSeries(known_from, datetime(2099, 1, 1, tzinfo=UTC), ())
        cache = PersistentCandleCache(
            blob_with(tmp_path / "c.json.gz", [row("BTC-USD", future)]), env.clock
        )
        exchange = env.new_exchange(candle_cache=cache)

        with caplog.at_level(logging.WARNING):
            cache.load()
        bars = exchange.get_candles("BTC-USD", 300, now - timedelta(hours=4), now)

    # 08:00:30 .. 12:00:30: the closed bars 08:05 .. 11:55, 47 of them, in one request
    assert candle_windows(env) == [47]
    assert len(bars) == 47
    assert "ends at 2099-01-01T00:00:00Z, after the clock" in caplog.text


def nan_close(candles: CandleSeries) -> dict:
    data = to_jsonable(candles)
    data["candles"][1]["close"] = "NaN"
    return data


def with_bar(candles: CandleSeries, index: int, **fields: str) -> dict:
    data = to_jsonable(candles)
    data["candles"][index].update(fields)
    return data


GOOD = series(3)  # bars at 12:00, 12:05, 12:10: open = close = 1, 2, 3; high one above
BAD_SERIES = [
    (nan_close(GOOD), "ETH-USD 300 s: bar 1: close NaN is not a finite positive price"),
    (with_bar(GOOD, 0, open="0"), "bar 0: open 0 is not a finite positive price"),
    (with_bar(GOOD, 0, low="-1"), "bar 0: low -1 is not a finite positive price"),
    (with_bar(GOOD, 2, high="Infinity"), "bar 2: high Infinity is not a finite positive price"),
    (with_bar(GOOD, 1, high="1.5"), "bar 1: high 1.5 is below open 2 or close 2"),
    (with_bar(GOOD, 1, low="2.5"), "bar 1: low 2.5 is above open 2 or close 2"),
    (with_bar(GOOD, 0, volume="-0.1"), "bar 0: volume -0.1 is not finite and >= 0"),
    (with_bar(GOOD, 0, volume="sNaN"), "bar 0: volume sNaN is not finite and >= 0"),
    (with_bar(GOOD, 1, start="2026-03-02T12:07:00Z"), "bar 1: start 2026-03-02T12:07:00Z is not"),
    (with_bar(GOOD, 1, start="2026-03-02T12:00:00Z"), "bar 1: start 2026-03-02T12:00:00Z is not"),
    (with_bar(GOOD, 2, start="2026-03-02T12:15:00Z"), "outside the series"),
    ({**to_jsonable(GOOD), "end": "2026-03-02T11:55:00Z"}, "ends at 2026-03-02T11:55:00Z, before"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_SERIES)
def test_cache_when_a_bar_is_not_a_bar_then_the_whole_cache_is_dropped_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: dict, reason: str
) -> None:
    good_row = row("BTC-USD", GOOD)
    bad_row = {"product_id": "ETH-USD", "granularity_s": 300, "series": bad}
    cache = PersistentCandleCache(blob_with(tmp_path / "c.json.gz", [good_row, bad_row]), CLOCK)

    with caplog.at_level(logging.WARNING):
        cache.load()

    assert cache.get("BTC-USD", 300) is None  # the good series goes too: one cache, one verdict
    assert cache.get("ETH-USD", 300) is None
    assert "candle cache unreadable" in caplog.text
    assert reason in caplog.text


def test_cache_when_the_granularity_is_not_coinbase_s_then_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = PersistentCandleCache(
        blob_with(tmp_path / "c.json.gz", [row("BTC-USD", GOOD, 0)]), CLOCK
    )

    with caplog.at_level(logging.WARNING):
        cache.load()

    assert cache.get("BTC-USD", 0) is None
    assert "granularity 0" in caplog.text


def test_cache_when_every_series_is_kept_at_its_longest_then_the_blob_reads_back_whole(
    tmp_path: Path,
) -> None:
    # The most a flush writes: MAX_SERIES series of KEPT_BARS bars with long prices
    # (a coin at 0.0000123... quoted to 18 places, a volume in the billions).
    price = Decimal("0.000012345678901234")
    bar = lambda i: Candle(  # noqa: E731
        T0 + timedelta(minutes=5 * i), price, price, price, price, Decimal("123456789012.12345678")
    )
    longest = CandleSeries(
        T0, T0 + timedelta(minutes=5 * KEPT_BARS), tuple(map(bar, range(KEPT_BARS)))
    )
    blob = FileBlob(tmp_path / "c.json.gz")
    cache = PersistentCandleCache(blob, CLOCK)
    for n in range(MAX_SERIES + 5):  # five more than are kept
        cache.put(f"C{n:03d}-USD", 300, longest)
    cache.flush()

    again = PersistentCandleCache(blob, CLOCK)
    again.load()
    kept = [n for n in range(MAX_SERIES + 5) if again.get(f"C{n:03d}-USD", 300) is not None]
    assert len(kept) == MAX_SERIES
    assert again.get(f"C{kept[0]:03d}-USD", 300) == longest
