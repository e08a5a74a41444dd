"""The secret sweep (tests/support/secret_sweep.py): it finds any 16-character slice of the
fake Coinbase key, and a pytest run in which tests leak the key fails those tests, naming
where the key was seen, without printing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_coinbase_env import throwaway_key
from hypothesis import given
from hypothesis import strategies as st
from secret_sweep import MIN_SLICE, REDACTED, Needles, key_secrets

PEM = throwaway_key()[0]
BODY = "".join(line for line in PEM.splitlines() if "-----" not in line)
SUPPORT = Path(__file__).resolve().parents[1] / "support"


def needles() -> Needles:
    return Needles([BODY])


@given(
    start=st.integers(min_value=0, max_value=len(BODY) - MIN_SLICE),
    extra=st.integers(min_value=0, max_value=40),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_found_in_when_any_slice_of_16_or_more_anywhere_in_a_text_then_found(
    start: int, extra: int, before: str, after: str
) -> None:
    leaked = BODY[start : start + MIN_SLICE + extra]
    assert needles().found_in(before + leaked + after)


@given(start=st.integers(min_value=0, max_value=len(BODY) - MIN_SLICE + 1))
def test_found_in_when_only_15_characters_then_not_found(start: int) -> None:
    assert not needles().found_in("#" + BODY[start : start + MIN_SLICE - 1] + "#")


def test_found_in_when_the_pem_is_json_escaped_then_found() -> None:
    assert needles().found_in(repr(PEM).replace("\n", "\\n"))


def test_redact_when_a_text_holds_the_key_then_every_leaked_run_is_replaced() -> None:
    text = f"key: {BODY[10:50]} and again {BODY} done"
    redacted = needles().redact(text)
    assert redacted == f"key: {REDACTED} and again {REDACTED} done"
    assert not needles().found_in(redacted)


def test_key_secrets_when_pem_then_body_lines_and_the_private_number_in_hex_and_decimal() -> None:
    secrets = key_secrets(PEM, 0xABCDEF0123456789)
    assert secrets[0] == BODY
    assert all(line in secrets for line in PEM.splitlines()[1:-1])
    assert secrets[-2:] == ["abcdef0123456789", str(0xABCDEF0123456789)]


LEAKY_TESTS = """
import logging

from aws_fixtures import moto_aws
from fake_coinbase_env import throwaway_key

from trader.adapters.memory import ListAuditSink

PEM = throwaway_key()[0]
BODY = "".join(line for line in PEM.splitlines() if "-----" not in line)


def test_logs_a_slice_of_the_key():
    logging.getLogger("trader.leaky").warning("signing with %s", BODY[40:60])


def test_prints_the_key_and_reads_it_back(capsys):
    print(PEM)
    capsys.readouterr()


def test_writes_the_key_into_an_audit_record():
    ListAuditSink().write({"cycle_id": "c-1", "note": BODY})


def test_puts_the_key_into_s3():
    with moto_aws() as aws:
        aws.s3.put_object(Bucket=aws.bucket, Key="k", Body=BODY[:30].encode())


def test_fails_with_the_key_in_its_message():
    assert PEM == "", f"unexpected key {PEM}"


def test_logs_nothing_secret():
    logging.getLogger("trader.leaky").warning("placed order c-1 with key name only")
"""


def test_sweep_when_tests_leak_the_key_then_they_fail_naming_where_and_nothing_prints_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])
    )

    result = pytester.runpytest_subprocess("-p", "secret_sweep", "-p", "no:cacheprovider")

    result.assert_outcomes(failed=5, passed=1)
    output = result.stdout.str() + result.stderr.str()
    seen = "secret sweep: the fake Coinbase private key was seen in:"
    for test, where in [
        ("test_logs_a_slice_of_the_key", "log record trader.leaky WARNING"),
        ("test_prints_the_key_and_reads_it_back", "stdout read through capsys/capfd"),
        ("test_writes_the_key_into_an_audit_record", "audit record written to ListAuditSink"),
        ("test_puts_the_key_into_s3", "S3 object s3://trader-audit-test/k (moto)"),
        ("test_fails_with_the_key_in_its_message", "the call report's failure text"),
    ]:
        assert f"{test} - {seen} {where}" in output or (
            test in output and f"{seen} {where}" in output
        ), (test, where)
    assert REDACTED in output
    assert not needles().found_in(output)  # the report itself never shows the key
