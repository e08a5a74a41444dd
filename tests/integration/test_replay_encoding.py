"""The audit records of real replays are, byte for byte, what the record built as before gave
(tests/support/audit_reference.py: the record of domain values, walked once at the end by the
reflective encoder of tests/support/codec_reference.py): every cycle's record is built both
ways, and its line as the sinks write it (orjson's, of an AuditRecord) compared with the json
module's text of the reference record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from audit_reference import reference_build_record
from candle_files import HEADER
from codec_reference import encoded_outcome

from trader.domain.config import load_config
from trader.domain.errors import AuditError
from trader.entrypoints import replay
from trader.entrypoints.runner import StopFlag
from trader.service import cycle
from trader.service.audit import AuditRecord, CycleTrace, audit_jsonl, build_record

REPO = Path(__file__).resolve().parents[2]
CANDLES = REPO.parent / "shared" / "data" / "candles"
EXAMPLE = REPO / "config" / "examples" / "replay-coinbase-15m.yaml"
REAL = ("BTC-USD", "ETH-USD", "SOL-USD")


def same(value: Any) -> Any:
    return value


class BothBuilders:
    """Stands in for cycle.build_record: builds each record both ways, keeps any difference."""

    def __init__(self) -> None:
        self.records = 0
        self.with_orders = 0
        self.differences: list[str] = []

    def __call__(self, trace: CycleTrace, finished_at: datetime) -> dict[str, Any]:
        record = build_record(trace, finished_at)
        assert type(record) is AuditRecord  # the line is orjson's
        fast = line_outcome(record)
        reference = encoded_outcome(same, reference_build_record(trace, finished_at))
        self.records += 1
        self.with_orders += bool(record["orders"]["placed"])
        if fast != reference:
            self.differences.append(f"{trace.cycle_id}: {where_they_part(fast, reference)}")
        return record


def line_outcome(record: AuditRecord) -> tuple[str, str]:
    """The line a sink writes, without its newline (as encoded_outcome's text), or the error."""
    try:
        line = audit_jsonl(record)
    except AuditError as exc:
        return type(exc).__name__, str(exc)
    assert line.endswith(b"\n")
    return "json", line[:-1].decode("utf-8")


def where_they_part(fast: tuple[str, str], reference: tuple[str, str]) -> str:
    """Both outcomes (JSON text or error) around the first character where they differ."""
    (fast_kind, fast_text), (ref_kind, ref_text) = fast, reference
    pairs = enumerate(zip(fast_text, ref_text, strict=False))
    at = next((i for i, (a, b) in pairs if a != b), min(len(fast_text), len(ref_text)))
    part = slice(max(0, at - 80), at + 80)
    return f"{fast_kind} {fast_text[part]!r} != {ref_kind} {ref_text[part]!r}"


def replay_both_ways(
    monkeypatch: pytest.MonkeyPatch, candles: Path, out: Path, start: datetime, end: datetime
) -> BothBuilders:
    both = BothBuilders()
    monkeypatch.setattr(cycle, "build_record", both)
    options = replay.ReplayOptions(candles, out, start, end, REAL)
    run = replay.run_replay(options, load_config(EXAMPLE), lambda record: None, StopFlag())
    assert run.failures == []
    assert both.records == run.cycles_run
    return both


@pytest.mark.skipif(
    not (CANDLES / "BTC-USD_15m_coinbase.csv").exists(),
    reason=f"real candles not found at {CANDLES} (../shared is absent)",
)
def test_replay_when_real_candles_then_every_record_is_the_reference_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Ten days from the start of the November 2024 uptrend: entries, exits, regime changes.
    start, end = datetime(2024, 11, 5, tzinfo=UTC), datetime(2024, 11, 15, tzinfo=UTC)

    both = replay_both_ways(monkeypatch, CANDLES, tmp_path / "out", start, end)

    assert both.records == 960
    assert both.with_orders >= 5  # records with orders were compared, not only quiet ones
    assert both.differences == []


def trend_rows(start: int, bars: int, price: float) -> str:
    """15-minute bars that rise 0.15 % a bar for 75 hours, then fall 0.3 % a bar, each
    reaching 0.6 % beyond its open and close: entries (momentum, breakout, an edge that pays
    the round trip) and then exits (stops) for the default rules."""
    rows, close = [HEADER], price
    for i in range(bars):
        opened = close
        close = round(opened * (1.0015 if i < 300 else 0.997), 2)
        high, low = max(opened, close) * 1.006, min(opened, close) * 0.994  # ranges that pay
        rows.append(f"{start + i * 900},{opened:.2f},{high:.2f},{low:.2f},{close:.2f},5000\n")
    return "".join(rows)


def test_replay_when_written_candles_then_every_record_is_the_reference_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "candles"
    folder.mkdir()
    t0 = 1_730_764_800  # 2024-11-05T00:00:00Z
    for pid, price in zip(REAL, (60_000, 2_500, 150), strict=True):
        (folder / f"{pid}_15m_test.csv").write_text(trend_rows(t0, 5 * 96, price))
    start, end = datetime(2024, 11, 7, 6, tzinfo=UTC), datetime(2024, 11, 10, tzinfo=UTC)

    both = replay_both_ways(monkeypatch, folder, tmp_path / "out", start, end)

    assert both.records == 264  # 2 days 18 hours of 15-minute cycles
    assert both.with_orders > 0
    assert both.differences == []
