"""The audit record's gauges are written as text directly: the same text the Decimal of 4
places they were made into before encoded to (tests/support/audit_reference.py); the audit
line is what json.dumps wrote (orjson writes the line of an AuditRecord: the same bytes), and
a record that is not JSON is an AuditError naming where."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from audit_reference import _shown as reference_shown
from codec_reference import reference_to_jsonable
from hypothesis import given, settings
from hypothesis import strategies as st

from trader.domain.errors import AuditError
from trader.domain.models import OrderStatus, Side
from trader.service.audit import AuditRecord, _shown, audit_jsonl, audit_line


@settings(max_examples=2000, deadline=None)
@given(st.floats() | st.sampled_from([-0.0, 0.00004999, -0.00005, 1e300, 5e-324]))
def test_shown_when_any_float_then_the_text_of_the_reference_decimal(value: float) -> None:
    assert _shown(value) == reference_to_jsonable(reference_shown(value))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_audit_line_when_any_json_record_then_what_json_dumps_writes(
    record: dict[str, Any],
) -> None:
    expected = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert audit_line(record) == expected
    assert audit_jsonl(record) == (expected + "\n").encode("utf-8")


def dumped(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# What build_record puts in a record: no floats; str enum members as they are; ints of any
# size (beyond 64 bits orjson refuses them: the json module writes them); any text (control
# characters, non-ASCII); keys that are not str (orjson refuses them: json writes them as text).
ready_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30])
    | st.text()
    | st.sampled_from([*Side, *OrderStatus]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(), inner, max_size=4)
        | st.dictionaries(st.integers() | st.booleans() | st.none(), inner, max_size=2)
    ),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.text(), ready_values, max_size=6))
def test_audit_line_when_an_audit_record_then_orjson_writes_what_json_dumps_writes(
    values: dict[str, Any],
) -> None:
    record = AuditRecord(values)

    assert audit_line(record) == dumped(values)
    assert audit_jsonl(record) == (dumped(values) + "\n").encode("utf-8")


def test_audit_jsonl_when_an_audit_record_holds_itself_then_audit_error_naming_where() -> None:
    looped = AuditRecord({"cycle_id": "c", "orders": {"placed": []}})
    looped["orders"]["placed"].append(looped)
    with pytest.raises(AuditError, match=re.escape("not JSON-safe at 'orders.placed[0].orders")):
        audit_jsonl(looped)


def test_audit_jsonl_when_a_str_is_not_unicode_text_then_refused_as_json_text_was() -> None:
    # a lone surrogate: json writes it into the text, which no UTF-8 sink can write
    record = AuditRecord({"cycle_id": "c", "exception": {"message": "bad \ud800"}})
    assert audit_line(record) == dumped(dict(record))
    with pytest.raises(UnicodeEncodeError):
        audit_jsonl(record)


@pytest.mark.parametrize(
    ("bad", "where"),
    [(Decimal("1.5"), "orders.planned[0].size"), (float("inf"), "orders.planned[0].size")],
)
def test_audit_line_when_a_value_is_not_json_then_audit_error_naming_where(
    bad: Any, where: str
) -> None:
    record = {"cycle_id": "c", "orders": {"planned": [{"size": bad}]}}
    with pytest.raises(AuditError, match=re.escape(f"not JSON-safe at {where!r}")):
        audit_line(record)


def test_audit_line_when_the_record_holds_itself_then_audit_error_not_a_crash() -> None:
    looped: dict[str, Any] = {"cycle_id": "c", "orders": []}
    looped["orders"].append(looped)
    with pytest.raises(AuditError, match="not JSON-safe at 'orders"):
        audit_line(looped)
