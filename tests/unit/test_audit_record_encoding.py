"""The audit record's gauges are written as text directly: the same text the Decimal of 4
places they were made into before encoded to (tests/support/audit_reference.py); the audit
line is what json.dumps wrote, and a record that is not JSON is an AuditError naming where."""

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
from trader.service.audit import _shown, audit_line


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
