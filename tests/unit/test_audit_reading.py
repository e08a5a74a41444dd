"""Reading the audit back for `trader audit`: a time range, the last records read from the end
of a log, what is appended to it, and which S3 partitions a range needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest

from trader.adapters.aws.audit_reader import partition_prefixes, partition_root
from trader.adapters.local.audit_log import (
    BLOCK_SIZE,
    BufferedJsonlAuditSink,
    JsonlAuditReader,
    follow_audit_log,
    last_records,
)
from trader.adapters.local.files import JsonlAuditSink
from trader.domain.errors import AuditReadError

T0 = datetime(2026, 2, 17, tzinfo=UTC)
PAD = "x" * 300  # makes 400 records about 140 KB: the end is read in more than one block


def cycle(minutes: int) -> dict[str, object]:
    when = T0 + timedelta(minutes=minutes)
    return {
        "schema_version": 1,
        "cycle_id": f"{when:%Y%m%dT%H%MZ}",
        "mode": "PAPER",
        "started_at": when.isoformat().replace("+00:00", "Z"),
        "pad": PAD,
    }


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """400 cycles five minutes apart from 2026-02-17T00:00Z (the last at 33:15, i.e. 09:15
    on the 18th), written by the sink a replay uses (a live run's fsyncs each line)."""
    with BufferedJsonlAuditSink(tmp_path / "audit.jsonl") as sink:
        for i in range(400):
            sink.write(cycle(5 * i))
    return sink.path


def ids(records: list[dict[str, object]]) -> list[object]:
    return [r["cycle_id"] for r in records]


def test_last_records_when_the_end_spans_blocks_then_the_newest_in_time_order(log: Path) -> None:
    assert log.stat().st_size > 2 * BLOCK_SIZE

    records, end = last_records(log, 3)

    # cycles 397, 398, 399: minutes 1985, 1990, 1995 = 33:05, 33:10, 33:15 after T0
    assert ids(records) == ["20260218T0905Z", "20260218T0910Z", "20260218T0915Z"]
    assert end == log.stat().st_size
    many, _ = last_records(log, 250)  # reaches back across two block boundaries
    assert len(many) == 250
    assert many[0]["cycle_id"] == "20260217T1230Z"  # cycle 150: minute 750 = 12:30


def test_last_records_when_given_a_range_then_only_records_started_inside_it(log: Path) -> None:
    since = T0 + timedelta(hours=1)  # cycle 12
    until = T0 + timedelta(hours=2)  # cycle 24, excluded

    records, _ = last_records(log, 100, since, until)

    assert len(records) == 12
    assert (records[0]["cycle_id"], records[-1]["cycle_id"]) == ("20260217T0100Z", "20260217T0155Z")


def test_last_when_the_log_is_a_folder_then_its_last_file_first(tmp_path: Path) -> None:
    for name, minutes in (("a.jsonl", (0, 5)), ("b.jsonl", (10, 15))):
        for m in minutes:
            JsonlAuditSink(tmp_path / name).write(cycle(m))

    assert ids(JsonlAuditReader(tmp_path).last(3)) == [
        "20260217T0005Z",
        "20260217T0010Z",
        "20260217T0015Z",
    ]


def test_last_when_a_line_near_the_end_is_broken_then_audit_read_error_names_it(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.jsonl"
    JsonlAuditSink(log).write(cycle(0))
    with log.open("a") as f:
        f.write('{"cycle_id": \n')
    JsonlAuditSink(log).write(cycle(5))

    with pytest.raises(AuditReadError, match=r"audit\.jsonl line 2 from the end: not JSON"):
        JsonlAuditReader(log).last(5)


def test_records_between_when_bounds_fall_on_records_then_since_in_until_out(log: Path) -> None:
    reader = JsonlAuditReader(log)

    found = list(reader.records_between(T0 + timedelta(minutes=10), T0 + timedelta(minutes=25)))

    assert ids(found) == ["20260217T0010Z", "20260217T0015Z", "20260217T0020Z"]


def test_find_when_a_cycle_was_audited_twice_then_both_records(tmp_path: Path) -> None:
    sink = JsonlAuditSink(tmp_path / "audit.jsonl")
    sink.write(cycle(0))
    sink.write({**cycle(0), "no_trade_reason": "duplicate_invocation"})
    sink.write(cycle(5))

    found = JsonlAuditReader(sink.path).find("20260217T0000Z", T0, T0)

    assert [r.get("no_trade_reason") for r in found] == [None, "duplicate_invocation"]


def appending(path: Path, chunks: list[bytes]) -> Iterator[None]:
    """A sleep for follow_audit_log: each call appends the next chunk (a writer's progress)."""
    for chunk in chunks:
        with path.open("ab") as f:
            f.write(chunk)
        yield None


def test_follow_when_a_line_arrives_in_two_writes_then_read_once_it_is_whole(log: Path) -> None:
    line = b'{"cycle_id":"20260218T0920Z","started_at":"2026-02-18T09:20:00Z","mode":"PAPER"}\n'
    steps = appending(log, [line[:30], line[30:], b""])

    followed = follow_audit_log(log, log.stat().st_size, lambda: next(steps))

    assert ids(list(islice(followed, 1))) == ["20260218T0920Z"]


def test_follow_when_the_file_is_replaced_by_a_shorter_one_then_read_from_its_start(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.jsonl"
    JsonlAuditSink(log).write(cycle(0))
    JsonlAuditSink(log).write(cycle(5))
    offset = log.stat().st_size

    def rotate() -> None:
        log.unlink()
        JsonlAuditSink(log).write(cycle(10))

    assert ids(list(islice(follow_audit_log(log, offset, rotate), 1))) == ["20260217T0010Z"]


def test_partition_prefixes_when_a_range_covers_a_whole_day_then_one_prefix_for_it() -> None:
    since = datetime(2026, 2, 17, 22, 30, tzinfo=UTC)
    until = datetime(2026, 2, 19, 1, 10, tzinfo=UTC)

    assert partition_prefixes("audit/", since, until) == [
        "audit/dt=2026-02-17/hour=22/",
        "audit/dt=2026-02-17/hour=23/",
        "audit/dt=2026-02-18/",
        "audit/dt=2026-02-19/hour=00/",
        "audit/dt=2026-02-19/hour=01/",
    ]
    hours = partition_prefixes("audit/", since, until, whole_days=False)
    assert len(hours) == 2 + 24 + 2
    assert hours[2] == "audit/dt=2026-02-18/hour=00/"


def test_partition_prefixes_when_bounds_are_on_the_hour_then_until_hour_left_out() -> None:
    since = datetime(2026, 2, 18, 0, 0, tzinfo=UTC)

    assert partition_prefixes("", since, since + timedelta(days=1)) == ["dt=2026-02-18/"]
    assert partition_prefixes("a/", since, since + timedelta(hours=1)) == [
        "a/dt=2026-02-18/hour=00/"
    ]
    assert partition_prefixes("a/", since, since) == []


@pytest.mark.parametrize(
    ("prefix", "root"),
    [
        ("audit/", "audit/"),
        ("audit", "audit/"),
        ("", "audit/"),  # the bucket alone: where S3AuditSink writes
        ("audit/dt=2026-05-", "audit/"),
        ("team/bot/dt=2026-05-03/hour=04/", "team/bot/"),
    ],
)
def test_partition_root_when_given_a_prefix_then_the_folder_of_the_partitions(
    prefix: str, root: str
) -> None:
    assert partition_root(prefix) == root
