"""The candle cache between processes: file and S3 blobs, and a cold start that fetches little."""

from __future__ import annotations

import gzip
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from fake_coinbase_env import START, coinbase_env
from moto import mock_aws
from scripted_market import default_config

from trader.adapters.aws.blob import S3Blob
from trader.adapters.coinbase.candle_store import PersistentCandleCache
from trader.adapters.coinbase.candles import CandleSeries
from trader.adapters.local.blob import FileBlob
from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore, ListAuditSink
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.ids import cycle_id_for
from trader.domain.models import Candle, Mode
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def series(n: int) -> CandleSeries:
    bars = tuple(
        Candle(
            T0 + timedelta(minutes=5 * i),
            Decimal(i),
            Decimal(i + 1),
            Decimal(i),
            Decimal(i),
            Decimal(1),
        )
        for i in range(n)
    )
    return CandleSeries(T0, T0 + timedelta(minutes=5 * n), bars)


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
    first = PersistentCandleCache(blob)
    first.load()
    first.put("BTC-USD", 300, series(10))
    first.flush()

    second = PersistentCandleCache(FileBlob(tmp_path / ".candles.json.gz"))
    second.load()
    assert second.get("BTC-USD", 300) == series(10)
    assert second.get("ETH-USD", 300) is None


def test_cache_when_a_series_is_long_then_only_the_newest_bars_are_kept(tmp_path: Path) -> None:
    blob = FileBlob(tmp_path / "c.json.gz")
    cache = PersistentCandleCache(blob, kept_bars=4)
    cache.put("BTC-USD", 300, series(10))
    cache.flush()

    again = PersistentCandleCache(blob)
    again.load()
    kept = again.get("BTC-USD", 300)
    assert kept is not None
    # Bars 6..9 survive; the series now starts at bar 6 (T0 + 30 min), so the cache never
    # claims to know bars it dropped. Its end is unchanged.
    assert [c.open for c in kept.candles] == [Decimal(i) for i in range(6, 10)]
    assert kept.start == T0 + timedelta(minutes=30)
    assert kept.end == T0 + timedelta(minutes=50)


def test_cache_when_nothing_changed_then_flush_writes_nothing(tmp_path: Path) -> None:
    blob = CountingBlob(tmp_path / "c.json.gz")
    cache = PersistentCandleCache(blob)
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
    cache = PersistentCandleCache(FileBlob(path))
    with caplog.at_level(logging.WARNING):
        cache.load()
    assert cache.get("BTC-USD", 300) is None
    assert "candle cache unreadable" in caplog.text


def test_cache_when_the_blob_cannot_be_written_then_flush_logs_and_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = PersistentCandleCache(FileBlob(blocker / "under-a-file" / "c.json.gz"))
    cache.put("BTC-USD", 300, series(2))
    with caplog.at_level(logging.WARNING):
        cache.flush()  # must not raise
    assert "could not be written" in caplog.text


def test_s3_blob_when_missing_then_none_and_after_write_the_same_bytes() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="audit-bucket")
        blob = S3Blob("audit-bucket", "cache/candles-default.json.gz", s3)
        assert blob.read() is None
        blob.write(b"\x1f\x8bpayload")
        assert blob.read() == b"\x1f\x8bpayload"
        head = s3.head_object(Bucket="audit-bucket", Key="cache/candles-default.json.gz")
        assert head["ServerSideEncryption"] == "AES256"


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
        cache = PersistentCandleCache(FileBlob(path))
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
        cache2 = PersistentCandleCache(FileBlob(path))
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
    cache = PersistentCandleCache(blob)
    old = series(3)  # ends at T0 + 15 min
    fresh = CandleSeries(
        T0 + timedelta(days=2), T0 + timedelta(days=2, minutes=5), series(1).candles
    )
    cache.put("OLD-USD", 300, old)
    cache.put("NEW-USD", 300, fresh)
    cache.flush()

    assert cache.get("OLD-USD", 300) is None  # gone from memory ...
    again = PersistentCandleCache(blob)
    again.load()
    assert again.get("OLD-USD", 300) is None  # ... and from the blob
    assert again.get("NEW-USD", 300) == fresh
