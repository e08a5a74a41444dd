"""`maker(cls)` builds a value equal to `cls(...)` from the same fields, for every domain class
(values hypothesis draws), and falls back to `cls` itself when __init__ does more than store."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_codec import DOMAIN_TYPES, strategy_for

from trader.domain.copying import maker


@pytest.mark.parametrize("cls", DOMAIN_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_maker_when_any_domain_value_then_what_the_class_itself_builds(
    cls: type, data: st.DataObject
) -> None:
    value = data.draw(strategy_for(cls))
    fields = [getattr(value, f.name) for f in dataclasses.fields(cls)]
    made = maker(cls)(*fields)
    assert made == cls(*fields)
    assert type(made) is cls
    assert [getattr(made, f.name) for f in dataclasses.fields(cls)] == fields


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    size: int

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must not be negative")


def test_maker_when_the_class_checks_itself_then_its_init_runs() -> None:
    make = maker(Checked)
    assert make(2) == Checked(2)
    with pytest.raises(ValueError, match="must not be negative"):
        make(-1)
