"""The audit record's gauges are written as text directly: the same text the Decimal of 4
places they were made into before encoded to (tests/support/audit_reference.py)."""

from __future__ import annotations

from audit_reference import _shown as reference_shown
from codec_reference import reference_to_jsonable
from hypothesis import given, settings
from hypothesis import strategies as st

from trader.service.audit import _shown


@settings(max_examples=2000, deadline=None)
@given(st.floats() | st.sampled_from([-0.0, 0.00004999, -0.00005, 1e300, 5e-324]))
def test_shown_when_any_float_then_the_text_of_the_reference_decimal(value: float) -> None:
    assert _shown(value) == reference_to_jsonable(reference_shown(value))
