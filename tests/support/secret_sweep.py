"""The secret sweep (issue 10, build 3): a pytest plugin that fails any test in which the fake
Coinbase private key (fake_coinbase_env.throwaway_key, the key every fixture signs with)
shows up where a secret must never be:

- a log record (message, arguments, extra fields, formatted exception) at the levels the
  loggers are set to, from any thread;
- stdout and stderr: what pytest captured for the test's report, and what a test read itself
  through capsys/capfd;
- an audit record, as it is handed to any audit sink (S3, CloudWatch, JSONL file, list), and
  any object put into moto's S3;
- the text of a failing test's report (its exception, traceback, hypothesis example).

A 16-character slice of the key's base64 body (or of its private number in hex or decimal)
counts. The leak is reported as a failure of the test naming where it was seen, with every
leaked run of characters replaced by <REDACTED> in what pytest prints. Each check is a few
dozen substring searches, so the sweep stays on in `make test`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

MIN_SLICE = 16
_BLOCK = MIN_SLICE // 2
_RUNS = re.compile(r"[A-Za-z0-9+/=]{%d,}" % MIN_SLICE)  # noqa: UP031 (a regex quantifier)
REDACTED = "<REDACTED>"


class Needles:
    """Finds any slice of MIN_SLICE characters of any secret in a text.

    Every such slice contains one of the secret's 8-character blocks that start at a multiple
    of 8, so a text is searched for those few blocks (C-speed `in`), and only a hit is
    checked slice by slice.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._slices: set[str] = set()
        self._blocks: set[str] = set()
        for secret in secrets:
            for start in range(len(secret) - MIN_SLICE + 1):
                self._slices.add(secret[start : start + MIN_SLICE])
            for start in range(0, len(secret) - _BLOCK + 1, _BLOCK):
                self._blocks.add(secret[start : start + _BLOCK])

    def found_in(self, text: str) -> bool:
        for block in self._blocks:
            at = text.find(block)
            while at >= 0:
                for start in range(max(0, at - _BLOCK + 1), at + 1):
                    if text[start : start + MIN_SLICE] in self._slices:
                        return True
                at = text.find(block, at + 1)
        return False

    def redact(self, text: str) -> str:
        """`text` with every run of key-like characters that holds a slice replaced."""
        return _RUNS.sub(lambda m: REDACTED if self.found_in(m.group()) else m.group(), text)


def key_secrets(pem: str, private_value: int) -> list[str]:
    """What of a PEM private key must never be seen: its base64 body, whole and line by line
    (a log may keep or drop the line breaks), and the private number in hex and decimal."""
    lines = [line.strip() for line in pem.splitlines() if line.strip() and "-----" not in line]
    return ["".join(lines), *lines, format(private_value, "x"), str(private_value)]


@dataclass
class Sweep:
    """Where the key was seen, per test (and outside any test)."""

    needles: Needles
    current: list[str] | None = None  # the running test's findings
    outside: list[str] = field(default_factory=list)
    _undo: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, text: str, where: str) -> None:
        if text and self.needles.found_in(text):
            with self._lock:
                (self.current if self.current is not None else self.outside).append(where)

    def check_bytes(self, data: bytes, where: str) -> None:
        self.check(data.decode("utf-8", "replace"), where)

    # --- hooking in -------------------------------------------------------------------------

    def install(self) -> None:
        handler = _SweepHandler(self)
        logging.getLogger().addHandler(handler)
        self._undo.append(lambda: logging.getLogger().removeHandler(handler))
        self._wrap_readouterr()
        self._wrap_audit_sinks()
        self._wrap_moto_s3()

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _wrap(self, owner: type, name: str, check: Callable[..., None]) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check(*args, **kwargs)
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)
        self._undo.append(lambda: setattr(owner, name, original))

    def _wrap_readouterr(self) -> None:
        from _pytest.capture import CaptureFixture

        original = CaptureFixture.readouterr

        def readouterr(fixture: Any) -> Any:
            result = original(fixture)
            for stream, text in (("stdout", result.out), ("stderr", result.err)):
                if isinstance(text, bytes):
                    self.check_bytes(text, f"{stream} read through capsys/capfd")
                else:
                    self.check(text, f"{stream} read through capsys/capfd")
            return result

        CaptureFixture.readouterr = readouterr  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(CaptureFixture, "readouterr", original))

    def _wrap_audit_sinks(self) -> None:
        from trader.adapters.aws.audit import CloudWatchAuditSink, S3AuditSink
        from trader.adapters.local.files import JsonlAuditSink
        from trader.adapters.memory import ListAuditSink

        for sink in (S3AuditSink, CloudWatchAuditSink, JsonlAuditSink, ListAuditSink):

            def check(_self: Any, record: Any, *_a: Any, _name: str = sink.__name__) -> None:
                # repr, not JSON: the sweep never fails a write the sink itself would take
                self.check(repr(record), f"audit record written to {_name}")

            self._wrap(sink, "write", check)

    def _wrap_moto_s3(self) -> None:
        from moto.s3.models import S3Backend

        def check(_self: Any, bucket: str, key: str, value: Any, *_a: Any, **_k: Any) -> None:
            if isinstance(value, bytes | bytearray):
                self.check_bytes(bytes(value), f"S3 object s3://{bucket}/{key} (moto)")

        self._wrap(S3Backend, "put_object", check)


class _SweepHandler(logging.Handler):
    """Checks every record that reaches the root logger, formatted the way a handler would."""

    _FORMAT = logging.Formatter()
    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def __init__(self, sweep: Sweep) -> None:
        super().__init__(level=logging.NOTSET)
        self.sweep = sweep

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [record.getMessage()]
        except Exception:  # noqa: BLE001 (a record whose arguments do not format)
            parts = [str(record.msg), repr(record.args)]
        if record.exc_info:
            parts.append(self._FORMAT.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
        with contextlib.suppress(Exception):  # an extra whose str() fails: checked without it
            parts += [str(v) for k, v in record.__dict__.items() if k not in self._STANDARD]
        where = f"log record {record.name} {record.levelname} ({record.filename}:{record.lineno})"
        self.sweep.check("\n".join(parts), where)


# --- the pytest hooks (tests/conftest.py loads this module as a plugin) ----------------------

_SWEEP_KEY = pytest.StashKey[Sweep]()


def _test_key_needles() -> Needles:
    from fake_coinbase_env import throwaway_key

    pem, public_key = throwaway_key()
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    private = load_pem_private_key(pem.encode(), password=None)
    value = private.private_numbers().private_value  # type: ignore[union-attr]
    assert private.public_key().public_numbers() == public_key.public_numbers()
    return Needles(key_secrets(pem, value))


def pytest_configure(config: pytest.Config) -> None:
    sweep = Sweep(_test_key_needles())
    sweep.install()
    config.stash[_SWEEP_KEY] = sweep


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SWEEP_KEY in config.stash:
        config.stash[_SWEEP_KEY].uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    sweep = item.config.stash[_SWEEP_KEY]
    sweep.current = []
    try:
        return (yield)
    finally:
        sweep.current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    sweep = item.config.stash[_SWEEP_KEY]
    findings = sweep.current if sweep.current is not None else sweep.outside
    for title, content in report.sections:  # each phase's own output, checked once
        if title.endswith(f" {report.when}"):
            sweep.check(content, title.lower())
    if report.longrepr is not None:
        sweep.check(report.longreprtext, f"the {report.when} report's failure text")
    report.sections = [
        (title, sweep.needles.redact(content) if sweep.needles.found_in(content) else content)
        for title, content in report.sections
    ]
    if not findings or (report.when == "setup" and report.passed):
        return report  # a leak while setting up is reported with the test's own result
    places = "; ".join(dict.fromkeys(findings))
    shown = sweep.needles.redact(report.longreprtext) if report.longrepr is not None else ""
    report.outcome = "failed"
    report.longrepr = f"secret sweep: the fake Coinbase private key was seen in: {places}" + (
        f"\n\n{shown}" if shown else ""
    )
    findings.clear()
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    sweep = session.config.stash.get(_SWEEP_KEY, None)
    if sweep is not None and sweep.outside:
        places = "; ".join(dict.fromkeys(sweep.outside))
        session.config.get_terminal_writer().line(
            f"secret sweep: the fake Coinbase private key was seen outside any test: {places}",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
