"""The audit record's gauges are written as text directly: the same text the Decimal of 4
places they were made into before encoded to (tests/support/audit_reference.py); the audit
line is what json.dumps wrote (orjson writes the line of an AuditRecord: the same bytes), and
a record that is not JSON is an AuditError naming where."""

from __future__ import annotations

import json
import re
import typing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import audit_reference as reference
import pytest
from audit_reference import GAUGE_FIELDS as FIELDS
from audit_reference import _shown as reference_shown
from codec_reference import encoded_outcome, reference_to_jsonable
from hypothesis import given, settings
from hypothesis import strategies as st
from test_codec import strategy_for

from trader.domain.errors import AuditError
from trader.domain.models import (
    Mode,
    Order,
    OrderStatus,
    PlannedConversion,
    PlannedOrder,
    Proposal,
    RiskDecision,
    Side,
)
from trader.pipeline.decision import Decision
from trader.pipeline.execution import Dropped
from trader.pipeline.gauges import Gauge
from trader.service.audit import (
    AuditRecord,
    CycleTrace,
    _gauges,
    _proposals_and_orders,
    _shown,
    audit_jsonl,
    audit_line,
)
from trader.service.orders import ExitCancel


@settings(max_examples=2000, deadline=None)
@given(st.floats() | st.sampled_from([-0.0, 0.00004999, -0.00005, 1e300, 5e-324]))
def test_shown_when_any_float_then_the_text_of_the_reference_decimal(value: float) -> None:
    assert _shown(value) == reference_to_jsonable(reference_shown(value))


gauge_floats = st.floats() | st.sampled_from([-0.0, 0.00005, -0.00004999, 1e300, 5e-324])


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.builds(Gauge, *[gauge_floats] * 4), max_size=4))
def test_gauges_when_any_floats_then_each_the_text_of_the_reference_decimal(
    gauges: dict[str, Gauge],
) -> None:
    expected = {
        pid: {name: reference_to_jsonable(reference_shown(getattr(g, name))) for name in FIELDS}
        for pid, g in gauges.items()
    }
    assert _gauges(gauges) == expected
    assert all(list(row) == list(FIELDS) for row in _gauges(gauges).values())  # in this order


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
    expected = dumped(record)
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


# `proposals`, `risk` and `orders` of a trace where at most one of these is not empty: the
# sections written out for a quiet cycle only when all are (else each as the reference builds it)
DECISION_PARTS = {
    "proposals": tuple[Proposal, ...],
    "skipped_entries": dict[str, str],
    "exits_blocked": dict[str, str],
    "decisions": tuple[RiskDecision, ...],
    "planned": tuple[PlannedOrder, ...],
    "dropped": tuple[Dropped, ...],
    "conversions": tuple[PlannedConversion, ...],
}
TRACE_PARTS = {
    "placed": tuple[Order, ...],
    "reconciled": tuple[Order, ...],
    "exit_cancels": tuple[ExitCancel, ...],
}


@pytest.mark.parametrize("part", [None, *DECISION_PARTS, *TRACE_PARTS, "no decision"])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_proposals_and_orders_when_one_part_or_none_then_the_reference_sections(
    part: str | None, data: st.DataObject
) -> None:
    def drawn(name: str, tp: Any) -> Any:
        if typing.get_origin(tp) is dict:
            text = st.text(max_size=6)
            return data.draw(st.dictionaries(text, text, min_size=1)) if name == part else {}
        one = strategy_for(typing.get_args(tp)[0])
        return tuple(data.draw(st.lists(one, min_size=1, max_size=2))) if name == part else ()

    decision = Decision(
        None,  # type: ignore[arg-type]  # the assessment: not in these sections
        no_trade=None,
        **{name: drawn(name, tp) for name, tp in DECISION_PARTS.items()},
    )
    trace = CycleTrace("c", Mode.PAPER, datetime(2025, 1, 1, tzinfo=UTC))
    trace.placed, trace.reconciled, trace.exit_cancels = (
        drawn(name, tp) for name, tp in TRACE_PARTS.items()
    )
    trace.decision = None if part == "no decision" else decision

    expected = reference_sections(trace.decision, trace)
    assert encoded_outcome(lambda t: _proposals_and_orders(t.decision, t), trace) == expected


def reference_sections(decision: Decision | None, trace: CycleTrace) -> tuple[str, str]:
    sections = {
        "proposals": {
            "proposed": list(decision.proposals) if decision else [],
            "skipped": decision.skipped_entries if decision else {},
            "exits_blocked": decision.exits_blocked if decision else {},
        },
        "risk": [reference._decision(d) for d in decision.decisions] if decision else [],
        "orders": {
            **reference._orders(decision, trace.placed, trace.reconciled),
            "exit_cancels": [reference._exit_cancel(c) for c in trace.exit_cancels],
            "conversions": reference._conversions(decision, trace.conversions),
        },
    }
    return encoded_outcome(reference_to_jsonable, sections)
