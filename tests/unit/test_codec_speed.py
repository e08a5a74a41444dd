"""The fast paths of the cycle give exactly what the plain code they replaced gave.

`to_jsonable` picks its encoding once per class instead of asking isinstance of every value
(and writes a Decimal from its str when that is format's text); `decimal_jsonable` and
`time_jsonable` skip even that for the audit record's amounts and times;
`replaced` (and PortfolioState.replace) copies the fields itself instead of calling
dataclasses.replace; `cycle_time` reads the digits instead of calling strptime. Each is
compared here with the code it replaced (tests/support/codec_reference.py; strptime below),
on values hypothesis generates: the same JSON text, the same value, or the same error.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from enum import Enum, IntEnum
from typing import Any

import pytest
from codec_reference import encoded_outcome, reference_to_jsonable
from hypothesis import given, settings
from hypothesis import strategies as st
from test_codec import DOMAIN_TYPES, strategy_for

from trader.domain import models
from trader.domain.codec import (
    amounts_jsonable,
    decimal_jsonable,
    decimals_jsonable,
    time_jsonable,
    to_jsonable,
)
from trader.domain.copying import replaced
from trader.domain.ids import cycle_time
from trader.domain.state import PortfolioState, RegimeMemory


class Level(IntEnum):  # an int enum stays itself (an int), as a StrEnum stays a str
    LOW = 1


class Plain(Enum):
    A = "a"


class Moment(datetime):  # a datetime subclass (as freezegun's): orjson refuses it, isoformat
    pass


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=6),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3)), None])  # None: naive
    ),
    st.sampled_from([Moment(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC), Moment(2025, 1, 2, 3, 4)]),
    st.dates(),
    st.floats(allow_nan=False),
    st.sampled_from([*models.Side, *models.OrderStatus, Level.LOW, Plain.A]),
    st.sampled_from([object(), PortfolioState, int]),  # not encodable: a TypeError each
    st.builds(
        RegimeMemory,
        st.sampled_from(["choppy", "crash"]),
        st.datetimes(timezones=st.just(UTC)),
        st.datetimes(timezones=st.just(UTC)),
    ),
)
nested = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(st.integers() | st.text(max_size=3), max_size=3),
        st.dictionaries(
            st.text(max_size=3) | st.sampled_from(list(models.Side)), inner, max_size=3
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(nested)
def test_to_jsonable_when_any_nested_value_then_same_json_or_error_as_the_reference(
    value: Any,
) -> None:
    assert encoded_outcome(to_jsonable, value) == encoded_outcome(reference_to_jsonable, value)


@pytest.mark.parametrize("cls", DOMAIN_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_to_jsonable_when_any_domain_value_then_same_json_as_the_reference(
    cls: type, data: st.DataObject
) -> None:
    value = data.draw(strategy_for(cls))
    assert encoded_outcome(to_jsonable, value) == encoded_outcome(reference_to_jsonable, value)


state_changes = st.fixed_dictionaries(
    {},
    optional={
        "version": st.integers(0, 10**6),
        "trades_today": st.integers(0, 99),
        "last_cycle_id": st.none() | st.text(max_size=14),
        "realized_pnl_total": st.decimals(allow_nan=False, places=4),
        "positions": strategy_for(dict[str, models.Position]),
        "regime": st.none() | strategy_for(RegimeMemory),
    },
)


@settings(max_examples=60, deadline=None)
@given(strategy_for(PortfolioState), state_changes)
def test_state_replace_when_any_changes_then_what_dataclasses_replace_gives(
    state: PortfolioState, changes: dict[str, Any]
) -> None:
    copied = state.replace(**changes)
    expected = dataclasses.replace(state, **changes)
    assert copied == expected
    assert all(getattr(copied, f) is getattr(expected, f) for f in changes)  # not copies
    assert copied is not state


def test_state_replace_when_unknown_field_then_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="no field 'versoin'"):
        PortfolioState().replace(versoin=2)


@pytest.mark.parametrize("cls", DOMAIN_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_replaced_when_any_domain_value_and_changes_then_what_dataclasses_replace_gives(
    cls: type, data: st.DataObject
) -> None:
    value, donor = data.draw(strategy_for(cls)), data.draw(strategy_for(cls))
    names = [f.name for f in dataclasses.fields(cls)]
    changed = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=4))
    changes = {name: getattr(donor, name) for name in changed}

    assert replaced(value, **changes) == dataclasses.replace(value, **changes)
    assert type(replaced(value, **changes)) is cls


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    size: int
    note: str = ""

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must not be negative")


def test_replaced_when_copied_then_a_frozen_value_of_the_class_refusing_unknown_fields() -> None:
    # the copy is made as an unfrozen twin and becomes the class itself when complete
    state = PortfolioState(version=3, positions={})
    copy = replaced(state, version=4)
    assert type(copy) is PortfolioState and copy == PortfolioState(version=4, positions={})
    assert repr(copy) == repr(PortfolioState(version=4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.version = 5  # type: ignore[misc]
    with pytest.raises(TypeError, match="PortfolioState has no field 'nope'"):
        replaced(state, nope=1)
    assert state.version == 3


def test_replaced_when_the_class_checks_itself_then_its_post_init_still_runs() -> None:
    assert replaced(Checked(1), size=2) == Checked(2)
    with pytest.raises(ValueError, match="must not be negative"):
        replaced(Checked(1), size=-1)


_CYCLE_ID = re.compile(r"([0-9]{1,4})([0-9]{4}T[0-9]{4}Z)", re.ASCII)


def reference_cycle_time(cycle_id: str) -> datetime:
    """cycle_time as it was before (commit c0adc1a): strptime."""
    match = _CYCLE_ID.fullmatch(cycle_id)
    if match is None:
        raise ValueError(f"{cycle_id!r} is not a cycle id (YYYYMMDDTHHMMZ)")
    year, rest = match.groups()
    return datetime.strptime(f"{int(year):04d}{rest}", "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


def parsed(parse: Any, text: str) -> datetime | str:
    try:
        return parse(text)
    except ValueError:
        return "ValueError"


two = st.integers(0, 99).map(lambda n: f"{n:02d}")
cycle_ids = st.builds(
    lambda y, mo, d, h, mi: f"{y}{mo}{d}T{h}{mi}Z",
    st.integers(0, 9999).map(str) | st.integers(0, 9999).map(lambda n: f"{n:04d}"),
    two | st.sampled_from(["01", "12"]),
    two | st.sampled_from(["01", "28", "29", "30", "31"]),
    two | st.sampled_from(["00", "23"]),
    two | st.sampled_from(["00", "59"]),
)


@settings(max_examples=1000, deadline=None)
@given(cycle_ids | st.text(alphabet="0123456789TZ ", max_size=16))
def test_cycle_time_when_any_id_then_same_time_or_error_as_strptime(text: str) -> None:
    assert parsed(cycle_time, text) == parsed(reference_cycle_time, text)


# Decimals of any exponent: str writes an exponent when it is positive or the number tiny
# (below 1E-6), where the encoder must fall back to format(value, "f").
any_exponent = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(int(d) for d in digits), exponent)),
    st.integers(0, 1),
    st.text("0123456789", min_size=1, max_size=30),
    st.integers(-40, 40),
)


@settings(max_examples=1000, deadline=None)
@given(any_exponent | st.decimals(allow_nan=True, allow_infinity=True, places=None))
def test_to_jsonable_when_any_decimal_then_what_format_f_writes(value: Decimal) -> None:
    assert to_jsonable(value) == format(value, "f")
    with localcontext() as lower:  # exponents written "e": still found and formatted
        lower.capitals = 0
        assert to_jsonable(value) == format(value, "f")


@settings(max_examples=400, deadline=None)
@given(leaves | any_exponent)
def test_decimal_and_time_jsonable_when_any_value_then_same_json_or_error_as_the_reference(
    value: Any,
) -> None:
    expected = encoded_outcome(reference_to_jsonable, value)
    assert encoded_outcome(decimal_jsonable, value) == expected
    assert encoded_outcome(time_jsonable, value) == expected


utc_times = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(utc_times | st.sampled_from([datetime(2025, 1, 1, tzinfo=UTC)]), max_size=150))
def test_time_jsonable_when_times_again_and_again_then_each_its_own_text(
    times: list[datetime],
) -> None:
    # more times than the kept texts: the same time after a clear, and after other times
    for again in (times, times[::-1], times):
        assert [time_jsonable(t) for t in again] == [reference_to_jsonable(t) for t in again]


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.text(max_size=3) | st.sampled_from(list(models.Side)), nested | any_exponent)
    | nested
)
def test_decimals_jsonable_when_any_dict_or_value_then_same_json_or_error_as_the_reference(
    value: Any,
) -> None:
    assert encoded_outcome(decimals_jsonable, value) == encoded_outcome(
        reference_to_jsonable, value
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(leaves | any_exponent, max_size=6))
def test_amounts_jsonable_when_any_values_then_same_json_or_error_as_the_reference(
    values: list[Any],
) -> None:
    expected = encoded_outcome(reference_to_jsonable, values)
    assert encoded_outcome(lambda v: amounts_jsonable(*v), values) == expected
    with localcontext() as lower:  # exponents written "e": still found and formatted
        lower.capitals = 0
        assert encoded_outcome(lambda v: amounts_jsonable(*v), values) == expected


DOMAIN_ENUM_MEMBERS = [
    member
    for kind in vars(models).values()
    if isinstance(kind, type) and issubclass(kind, Enum) and kind.__module__ == models.__name__
    for member in kind
]


@pytest.mark.parametrize("member", [*DOMAIN_ENUM_MEMBERS, Plain.A, Level.LOW], ids=repr)
def test_to_jsonable_when_any_domain_enum_member_then_its_value_as_the_reference_gives(
    member: Enum,
) -> None:
    # an enum's value is read off the member (_value_), not through the .value descriptor
    for value in (member, [member]):
        assert encoded_outcome(to_jsonable, value) == encoded_outcome(reference_to_jsonable, value)
