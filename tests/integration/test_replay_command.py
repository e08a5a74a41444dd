"""`trader replay` as a user runs it, on small candle folders written by the test."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from candle_files import rig_replay_config, write_candles

from trader.domain.config import load_config
from trader.entrypoints import replay as replay_entry
from trader.entrypoints.cli import main
from trader.entrypoints.runner import StopFlag

REPO = Path(__file__).resolve().parents[2]
T0 = 1_730_764_800  # 2024-11-05T00:00:00Z
G = 900


@pytest.fixture
def candles(tmp_path: Path) -> Path:
    """Two days of BTC, ETH and SOL 15-minute bars; ETH lacks bars 100 and 101."""
    folder = tmp_path / "candles"
    folder.mkdir()
    write_candles(folder, "BTC-USD", T0, 192, price=60_000, seed=1)
    write_candles(folder, "ETH-USD", T0, 192, price=2_500, seed=2, gaps=(100, 101))
    write_candles(folder, "SOL-USD", T0, 192, price=150, seed=3)
    return folder


def replay(candles: Path, out: Path, *args: str) -> int:
    config = rig_replay_config(candles.parent)  # a config a two-day walk trades under
    where = ["--candles-dir", str(candles), "--out", str(out), "--config", str(config)]
    return main(["replay", *where, "--quiet", *args])


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]


def cycle_id(index: int) -> str:
    return f"{datetime.fromtimestamp(T0 + index * G, UTC):%Y%m%dT%H%MZ}"


def test_replay_when_a_candle_is_missing_then_its_cycles_are_skipped_and_the_rest_audited(
    candles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    code = replay(candles, out, "--start", "2024-11-05T12:00Z", "--end", "2024-11-06T12:00Z")

    assert code == 0
    ids = [r["cycle_id"] for r in records(out)]
    # 96 cycle times from index 48 to 143; ETH's bars 100 and 101 close at 101 and 102.
    assert len(ids) == 94
    assert cycle_id(101) not in ids and cycle_id(102) not in ids
    assert ids[0] == cycle_id(48) and ids[-1] == cycle_id(143)
    assert {r["mode"] for r in records(out)} == {"PAPER"}
    assert all(r["exception"] is None for r in records(out))
    state = json.loads((out / "data" / ".state.json").read_text())["state"]
    assert state["last_cycle_id"] == cycle_id(143)
    shown = capsys.readouterr().out
    assert "cycles run        94 of 94" in shown
    assert "cycles skipped    2 (a candle missing; missing candles: ETH-USD 2)" in shown


def test_replay_when_out_holds_an_earlier_replay_then_refused_until_resume(
    candles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert replay(candles, out, "--start", "2024-11-05T12:00Z", "--end", "2024-11-06T00:00Z") == 0
    first = records(out)

    refused = replay(candles, out, "--start", "2024-11-05T12:00Z")
    assert refused == 2
    assert "from an earlier replay: pass --resume" in capsys.readouterr().err
    assert records(out) == first  # nothing written by the refused run

    assert replay(candles, out, "--resume", "--end", "2024-11-06T06:00Z") == 0
    ids = [r["cycle_id"] for r in records(out)]
    assert ids[: len(first)] == [r["cycle_id"] for r in first]
    assert ids[len(first)] == cycle_id(96)  # the cycle after the last one of the first run
    assert ids[-1] == cycle_id(119)
    assert ids == sorted(set(ids))
    # The paper account carried over: the fees paid before still count, positions still held.
    before, after = first[-1]["state"], records(out)[len(first)]["state"]
    assert Decimal(before["pnl"]["fees_total"]) > 0  # the first part traded
    assert after["pnl"]["fees_total"] == before["pnl"]["fees_total"]
    assert after["positions"].keys() == before["positions"].keys()
    # The report covers the whole run, both parts.
    report = json.loads((out / "report.json").read_text())
    assert report["cycles"] == len(ids)
    assert report["start"] == records(out)[0]["started_at"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "yesterday"], "--start 'yesterday' is not a date"),
        (["--products", "BTC-USD", "XRP-USD"], "no candle file for XRP-USD"),
        (["--start", "2024-11-01"], "--start 2024-11-01T00:00Z is before the first bar"),
        (["--end", "2024-12-01"], "--end 2024-12-01T00:00Z is after the last bar"),
    ],
)
def test_replay_when_input_is_bad_then_exit_2_naming_it_and_nothing_written(
    candles: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    out = tmp_path / "out"

    assert replay(candles, out, *args) == 2

    assert message in capsys.readouterr().err
    assert not (out / "audit.jsonl").exists()


def test_replay_when_candles_dir_is_missing_then_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(tmp_path / "nowhere", tmp_path / "out") == 2

    assert f"--candles-dir: {tmp_path / 'nowhere'}: not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sma_cross_rules", "expected MODULE:NAME"),
        ("no_such_module:RULES", "No module named 'no_such_module'"),
        ("sma_cross_rules:FAST", "FAST is not a Rules (its type is int)"),
    ],
)
def test_replay_when_rules_plug_in_is_unusable_then_exit_2_naming_it(
    candles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    assert replay(candles, tmp_path / "out", "--rules", spec) == 2

    assert message in capsys.readouterr().err


def test_replay_when_a_rules_plug_in_is_given_then_its_signals_and_exits_trade(
    candles: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"

    assert replay(candles, out, "--rules", "sma_cross_rules:RULES") == 0

    reasons = {p["reason"].split(" ")[0] for r in records(out) for p in r["orders"]["planned"]}
    assert reasons == {"sma_cross_up", "sma_cross_down"}  # never the config's triggers


def test_replay_when_cycles_run_then_loaded_bars_are_out_of_collections_until_it_ends(
    candles: Path, tmp_path: Path
) -> None:
    before = gc.get_freeze_count()
    frozen_during: list[int] = []
    options = replay_entry.ReplayOptions(candles, tmp_path / "out")
    config = load_config(rig_replay_config(candles.parent))

    run = replay_entry.run_replay(
        options, config, lambda record: frozen_during.append(gc.get_freeze_count()), StopFlag()
    )

    assert run.cycles_run == len(frozen_during) > 0
    loaded_bars = 192 * 3 - 2
    assert min(frozen_during) >= before + loaded_bars
    assert gc.get_freeze_count() == before
