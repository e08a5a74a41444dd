"""The report of a replay, and `trader report` over the same records from a file and from S3."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_fixtures import fake_credentials_in_env, moto_aws
from candle_files import rig_replay_config, write_candles

from trader.adapters.aws.audit import S3AuditSink
from trader.entrypoints.cli import main

REPO = Path(__file__).resolve().parents[2]
T0 = 1_730_764_800  # 2024-11-05T00:00:00Z
SECTIONS = (
    "Strategy beside buy-and-hold",
    "Equity and drawdown",
    "Prices, trades and regimes",
    "Exits",
    "Trades (",
    "Why cycles did not trade",
    "Regimes",
    "Notes",
)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-day replay of three walking products (it trades: the walk fires momentum)."""
    root = tmp_path_factory.mktemp("replayed")
    candles = root / "candles"
    candles.mkdir()
    for seed, (pid, price) in enumerate(
        {"BTC-USD": 60_000, "ETH-USD": 2_500, "SOL-USD": 150}.items()
    ):
        write_candles(candles, pid, T0, 288, price=price, seed=seed + 1)
    out = root / "out"
    config = rig_replay_config(root)  # a config a two-day walk trades under
    args = ["--candles-dir", str(candles), "--out", str(out), "--config", str(config), "--quiet"]
    assert main(["replay", *args]) == 0
    return out


def test_replay_report_when_written_then_html_is_self_contained_with_every_section(replayed):
    html = (replayed / "report.html").read_text()

    assert not re.search(r"https?:|//[a-z]|<script|<link|<img|@import|url\(", html, re.I)
    for section in SECTIONS:
        assert f"<h2>{section}" in html
    assert html.count("<svg") == 2 + 3  # equity, drawdown, and one price chart a product


def test_replay_report_when_it_traded_then_json_trades_match_the_audit_fills(replayed):
    report = json.loads((replayed / "report.json").read_text())
    records = [json.loads(line) for line in (replayed / "audit.jsonl").read_text().splitlines()]

    placed = [o for r in records for o in r["orders"]["placed"] if o["status"] == "FILLED"]
    buys = [o for o in placed if o["side"] == "BUY"]
    assert buys, "the walk should trade"
    assert len(report["trades"]) == len(buys)  # each buy opened a trade (no pyramiding)
    first = report["trades"][0]
    assert first["entry_price"] == buys[0]["average_filled_price"]
    assert first["size"] == buys[0]["filled_size"]
    fees = sum(float(o["fees"]) for o in placed)
    assert float(report["trade_stats"]["fees"]) == pytest.approx(fees, rel=1e-12)
    assert report["strategy"]["start_value"] == records[0]["state"]["equity"]
    assert sum(report["no_trade_reasons"].values()) == len(records)
    assert set(report["benchmarks"]) == {"BTC-USD", "ETH-USD", "SOL-USD", "equal-weight"}


def test_report_command_when_given_the_replay_log_then_the_same_report(replayed, tmp_path):
    assert main(["report", str(replayed / "audit.jsonl"), "--out", str(tmp_path)]) == 0

    again = json.loads((tmp_path / "report.json").read_text())
    first = json.loads((replayed / "report.json").read_text())
    first.pop("extra")  # how the replay ran: only the replay knows
    assert again == first


def test_report_command_when_records_are_in_s3_then_the_same_report(
    replayed, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_credentials_in_env(monkeypatch)
    lines = (replayed / "audit.jsonl").read_text().splitlines()
    with moto_aws() as aws:
        sink = S3AuditSink(aws.bucket, aws.s3)  # as the deployed cycle writes them
        for line in lines:
            sink.write(json.loads(line))

        code = main(["report", f"s3://{aws.bucket}/audit/", "--out", str(tmp_path)])

    assert code == 0
    from_s3 = json.loads((tmp_path / "report.json").read_text())
    first = json.loads((replayed / "report.json").read_text())
    first.pop("extra")
    assert from_s3 == first


def test_report_command_when_the_bucket_is_missing_then_exit_2_naming_it(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto_aws():
        code = main(["report", "s3://no-such-bucket/audit/", "--out", str(tmp_path)])

    assert code == 2
    assert "s3://no-such-bucket/audit/: cannot list (NoSuchBucket" in capsys.readouterr().err


def test_report_command_when_a_line_is_not_json_then_exit_2_naming_file_and_line(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text('{"schema_version": 1, "started_at": "2025-01-01T00:00:00Z"}\n{"cycle\n')

    assert main(["report", str(log), "--out", str(tmp_path / "r")]) == 2

    assert f"{log} line 2: not JSON" in capsys.readouterr().err
    assert not (tmp_path / "r" / "report.html").exists()
