"""The audit records of real replays encode to the same JSON text with the fast `to_jsonable`
as with the reflective one it replaced (tests/support/codec_reference.py): every record a
replay builds is encoded both ways and compared, byte for byte."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from candle_files import write_candles
from codec_reference import encoded_outcome, reference_to_jsonable

from trader.domain.codec import to_jsonable
from trader.domain.config import load_config
from trader.entrypoints import replay
from trader.entrypoints.runner import StopFlag
from trader.service import audit

REPO = Path(__file__).resolve().parents[2]
CANDLES = REPO.parent / "shared" / "data" / "candles"
EXAMPLE = REPO / "config" / "examples" / "replay-coinbase-15m.yaml"
REAL = ("BTC-USD", "ETH-USD", "SOL-USD")


class BothEncoders:
    """Stands in for audit.to_jsonable: encodes each record both ways, keeps any difference."""

    def __init__(self) -> None:
        self.records = 0
        self.with_orders = 0
        self.differences: list[str] = []

    def __call__(self, record: Mapping[str, Any]) -> Any:
        fast, reference = (
            encoded_outcome(to_jsonable, record),
            encoded_outcome(reference_to_jsonable, record),
        )
        self.records += 1
        self.with_orders += bool(record["orders"]["placed"])
        if fast != reference:
            self.differences.append(
                f"{record['cycle_id']}: {fast[1][:200]} != {reference[1][:200]}"
            )
        return to_jsonable(record)


def replay_both_ways(
    monkeypatch: pytest.MonkeyPatch, candles: Path, out: Path, start: datetime, end: datetime
) -> BothEncoders:
    both = BothEncoders()
    monkeypatch.setattr(audit, "to_jsonable", both)
    options = replay.ReplayOptions(candles, out, start, end, REAL)
    run = replay.run_replay(options, load_config(EXAMPLE), lambda record: None, StopFlag())
    assert run.failures == []
    assert both.records == run.cycles_run
    return both


@pytest.mark.skipif(
    not (CANDLES / "BTC-USD_15m_coinbase.csv").exists(),
    reason=f"real candles not found at {CANDLES} (../shared is absent)",
)
def test_replay_when_real_candles_then_every_record_encodes_as_the_reference_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Ten days from the start of the November 2024 uptrend: entries, exits, regime changes.
    start, end = datetime(2024, 11, 5, tzinfo=UTC), datetime(2024, 11, 15, tzinfo=UTC)

    both = replay_both_ways(monkeypatch, CANDLES, tmp_path / "out", start, end)

    assert both.records == 960
    assert both.with_orders > 10  # records with orders were compared, not only quiet ones
    assert both.differences == []


def test_replay_when_written_candles_then_every_record_encodes_as_the_reference_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "candles"
    folder.mkdir()
    t0 = 1_730_764_800  # 2024-11-05T00:00:00Z
    for n, (pid, price) in enumerate(zip(REAL, (60_000, 2_500, 150), strict=True)):
        write_candles(folder, pid, t0, 4 * 96, price=price, seed=n)
    start, end = datetime(2024, 11, 6, tzinfo=UTC), datetime(2024, 11, 9, tzinfo=UTC)

    both = replay_both_ways(monkeypatch, folder, tmp_path / "out", start, end)

    assert both.records == 3 * 96
    assert both.with_orders > 0
    assert both.differences == []
