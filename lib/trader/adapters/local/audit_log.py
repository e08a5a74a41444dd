"""The local audit log as JSON lines: a fast writer for replays, and a reader for any run.

`JsonlAuditSink` (files.py) fsyncs every record, as a live cycle must. A replay writes tens of
thousands of records a minute that can be made again from the candles, so
`BufferedJsonlAuditSink` only appends through a buffer, flushed on close.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from trader.domain.errors import AuditError, AuditReadError
from trader.service.audit import audit_line, parse_audit_line


class BufferedJsonlAuditSink:
    """Appends one JSON line per record through the file's buffer (no fsync)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: TextIO = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {path}: {exc.strerror}") from exc

    def write(self, record: Mapping[str, Any]) -> None:
        self._file.write(audit_line(record) + "\n")

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
    """An AuditSource over a JSONL audit log, or a folder of them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def records(self) -> Iterator[dict[str, Any]]:
        return read_audit_log(self.path)


def read_audit_log(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of a JSONL audit log, in file order; a folder: its *.jsonl files by name.

    AuditReadError names the file and line of anything that is not one JSON object a line.
    """
    if path.is_dir():
        files = sorted(path.rglob("*.jsonl"))
        if not files:
            raise AuditReadError(f"{path}: no *.jsonl audit files in the folder")
    elif path.is_file():
        files = [path]
    else:
        raise AuditReadError(f"{path}: no such audit log (a .jsonl file or a folder of them)")
    for file in files:
        yield from _read_file(file)


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
