"""JsonlAuditSink: one compact JSON object per line, key order kept, clear errors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from trader.adapters.local.files import JsonlAuditSink
from trader.domain.errors import AuditError


@pytest.fixture
def sink(tmp_path: Path) -> JsonlAuditSink:
    return JsonlAuditSink(tmp_path / "logs" / "247trader-v2_audit.jsonl")


def record(cycle_id: str, **extra: object) -> dict[str, object]:
    return {"schema_version": 1, "cycle_id": cycle_id, "mode": "DRY_RUN", **extra}


def test_write_when_called_twice_then_two_lines_each_parseable_in_record_key_order(
    sink: JsonlAuditSink,
) -> None:
    sink.write(record("20260301T1200Z", no_trade_reason="empty_universe"))
    sink.write(record("20260301T1205Z", orders=[{"price": "64250.01"}], no_trade_reason=None))
    lines = sink.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert list(first) == ["schema_version", "cycle_id", "mode", "no_trade_reason"]
    assert list(second) == ["schema_version", "cycle_id", "mode", "orders", "no_trade_reason"]
    assert second["orders"] == [{"price": "64250.01"}]


def test_write_when_keys_not_alphabetical_then_not_sorted_and_compact(
    sink: JsonlAuditSink,
) -> None:
    sink.write({"schema_version": 1, "zulu": 1, "alpha": [1, 2]})
    assert sink.path.read_text(encoding="utf-8") == '{"schema_version":1,"zulu":1,"alpha":[1,2]}\n'


def test_write_when_text_has_non_ascii_and_newlines_then_raw_utf8_on_one_line(
    sink: JsonlAuditSink,
) -> None:
    sink.write(record("c", note="fee 0.5 € \nsecond line"))
    raw = sink.path.read_bytes()
    assert "€".encode() in raw  # ensure_ascii=False
    assert raw.count(b"\n") == 1  # the embedded newline is escaped as \n
    assert json.loads(raw)["note"] == "fee 0.5 € \nsecond line"


def test_write_when_file_has_earlier_lines_then_appends(sink: JsonlAuditSink) -> None:
    sink.path.parent.mkdir(parents=True)
    sink.path.write_text('{"schema_version":1,"cycle_id":"old"}\n', encoding="utf-8")
    sink.write(record("new"))
    cycle_ids = [json.loads(x)["cycle_id"] for x in sink.path.read_text("utf-8").splitlines()]
    assert cycle_ids == ["old", "new"]


def test_write_when_directory_missing_then_created(tmp_path: Path) -> None:
    sink = JsonlAuditSink(tmp_path / "a" / "b" / "audit.jsonl")
    sink.write(record("c"))
    assert sink.path.is_file()


def test_write_when_value_is_decimal_then_audit_error_names_the_key_and_nothing_written(
    sink: JsonlAuditSink,
) -> None:
    bad = record("c", orders=[{"client_order_id": "x", "price": Decimal("1.5")}])
    with pytest.raises(AuditError, match=r"orders\[0\]\.price") as caught:
        sink.write(bad)
    assert isinstance(caught.value.__cause__, TypeError)
    assert not sink.path.exists()


def test_write_when_value_is_nan_then_audit_error_names_the_key(sink: JsonlAuditSink) -> None:
    with pytest.raises(AuditError, match=r"state\.pnl"):
        sink.write(record("c", state={"pnl": float("nan")}))


def test_write_when_key_is_not_a_string_then_audit_error(sink: JsonlAuditSink) -> None:
    with pytest.raises(AuditError, match="universe"):
        sink.write(record("c", universe={("BTC", "USD"): 1}))


def test_write_when_parent_is_a_file_then_audit_error_from_os_error(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the directory should be", encoding="utf-8")
    sink = JsonlAuditSink(blocker / "audit.jsonl")
    with pytest.raises(AuditError, match=str(sink.path)) as caught:
        sink.write(record("c"))
    assert isinstance(caught.value.__cause__, OSError)


def test_write_when_path_is_a_directory_then_audit_error(tmp_path: Path) -> None:
    sink = JsonlAuditSink(tmp_path)
    with pytest.raises(AuditError) as caught:
        sink.write(record("c"))
    assert isinstance(caught.value.__cause__, OSError)
