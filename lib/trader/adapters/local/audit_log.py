"""The local audit log as JSON lines: a fast writer for replays, and a reader for any run
(whole, a time range, its last records read from the end, and what is appended to it).

`JsonlAuditSink` (files.py) fsyncs every record, as a live cycle must. A replay writes tens of
thousands of records a minute that can be made again from the candles, so
`BufferedJsonlAuditSink` only appends through a buffer, flushed on close.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from trader.domain.errors import AuditError, AuditReadError
from trader.service.audit import audit_jsonl, parse_audit_line, record_started_at

BLOCK_SIZE = 1 << 16  # read from the end of a log this much at a time
WRITE_BUFFER = 1 << 18  # a replay's records written out ~80 at a time, not ~3 (the default)


class BufferedJsonlAuditSink:
    """Appends one JSON line per record through the file's buffer (no fsync)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO = path.open("ab", buffering=WRITE_BUFFER)
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {path}: {exc.strerror}") from exc

    def write(self, record: Mapping[str, Any]) -> None:
        self._file.write(audit_jsonl(record))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> BufferedJsonlAuditSink:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()


class JsonlAuditReader:
    """An AuditSource over a JSONL audit log, or a folder of them (in time order: appended)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def records(self) -> Iterator[dict[str, Any]]:
        return read_audit_log(self.path)

    def records_between(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        return (r for r in read_audit_log(self.path) if since <= record_started_at(r) < until)

    def last(
        self, count: int, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        return last_records(self.path, count, since, until)[0]

    def find(self, record_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """A file is read whole, so the range is not needed."""
        del since, until
        return [r for r in read_audit_log(self.path) if r.get("cycle_id") == record_id]


def read_audit_log(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of a JSONL audit log, in file order; a folder: its *.jsonl files by name.

    AuditReadError names the file and line of anything that is not one JSON object a line.
    """
    for file in _audit_files(path):
        yield from _read_file(file)


def _audit_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.rglob("*.jsonl"))
        if not files:
            raise AuditReadError(f"{path}: no *.jsonl audit files in the folder")
        return files
    if path.is_file():
        return [path]
    raise AuditReadError(f"{path}: no such audit log (a .jsonl file or a folder of them)")


def _read_file(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield parse_audit_line(line, f"{path} line {number}")
    except OSError as exc:
        raise AuditReadError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise AuditReadError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def last_records(
    path: Path, count: int, since: datetime | None = None, until: datetime | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The newest `count` records that started in [since, until), oldest first, read from the
    end of the log (its last file first), and the size the last file had when read (where
    `follow_audit_log` goes on)."""
    files = _audit_files(path)
    end = _size(files[-1])
    found: list[dict[str, Any]] = []
    for file in reversed(files):
        for record in _records_backwards(file, end if file == files[-1] else _size(file)):
            started = record_started_at(record)
            if since is not None and started < since:
                return found[::-1], end
            if until is None or started < until:
                found.append(record)
                if len(found) == count:
                    return found[::-1], end
    return found[::-1], end


def _records_backwards(path: Path, end: int) -> Iterator[dict[str, Any]]:
    """The records of `path` before byte `end`, last first, read a block at a time."""
    try:
        with path.open("rb") as file:
            for number, line in enumerate(_lines_backwards(file, end), start=1):
                where = f"{path} line {number} from the end"
                yield parse_audit_line(_text(line, path), where)
    except OSError as exc:
        raise AuditReadError(f"{path}: cannot read ({exc.strerror})") from exc


def _lines_backwards(file: BinaryIO, end: int) -> Iterator[bytes]:
    position, head = end, b""
    while position > 0:
        start = max(0, position - BLOCK_SIZE)
        file.seek(start)
        lines = (file.read(position - start) + head).split(b"\n")
        position, head = start, lines[0]  # the first may be the end of a line before the block
        yield from (line for line in reversed(lines[1:]) if line.strip())
    if head.strip():
        yield head


def follow_audit_log(
    path: Path, offset: int, sleep: Callable[[], object]
) -> Iterator[dict[str, Any]]:
    """The records appended to the file after byte `offset`, as they come: a look after each
    `sleep()`, for as long as the caller reads. Only whole lines are read (a writer may be
    half-way); a file cut shorter than `offset` (replaced) is read again from its start."""
    pending = b""
    while True:
        sleep()
        size = _size(path)
        if size < offset:
            offset, pending = 0, b""
        if size == offset:
            continue
        try:
            with path.open("rb") as file:
                file.seek(offset)
                data = file.read(size - offset)
        except OSError as exc:
            raise AuditReadError(f"{path}: cannot read ({exc.strerror})") from exc
        offset += len(data)
        *complete, pending = (pending + data).split(b"\n")
        for line in complete:
            if line.strip():
                yield parse_audit_line(_text(line, path), f"{path}, a line appended")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise AuditReadError(f"{path}: cannot read ({exc.strerror})") from exc


def _text(line: bytes, path: Path) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditReadError(f"{path}: not UTF-8 text ({exc.reason})") from exc
