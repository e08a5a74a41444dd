"""The codec: every domain value survives a JSON round trip exactly; bad values are refused."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader.domain import models
from trader.domain.codec import from_jsonable, parse_utc, to_jsonable
from trader.domain.state import PortfolioState, decode_state, state_from_dict, state_to_dict

D = Decimal
DOMAIN_TYPES = [
    models.Product,
    models.Quote,
    models.Candle,
    models.Balance,
    models.FeeRates,
    models.Position,
    models.Signal,
    models.Proposal,
    models.RiskDecision,
    models.PlannedOrder,
    models.Fill,
    models.Order,
    models.MarketSnapshot,
    models.CycleResult,
    PortfolioState,
]

decimals = st.decimals(
    min_value=D("-1e12"), max_value=D("1e12"), allow_nan=False, allow_infinity=False
) | st.sampled_from([D("Infinity"), D("-Infinity"), D("0E-8"), D("1.50"), D("-0")])
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
datetimes = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=offsets,
)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)


@cache
def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy for any type that appears in the domain dataclasses (every field filled)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(st.none() if a is type(None) else strategy_for(a) for a in args))
    if origin is dict:
        values = json_scalars if args[1] is Any else strategy_for(args[1])
        return st.dictionaries(strategy_for(args[0]), values, max_size=2)
    if origin is tuple:
        return st.lists(strategy_for(args[0]), max_size=2).map(tuple)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        Decimal: decimals,
        datetime: datetimes,
        date: st.dates(min_value=date(1970, 1, 2), max_value=date(2100, 1, 1)),
        str: st.text(max_size=12),
        int: st.integers(),
        bool: st.booleans(),
    }
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = {f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(tp)}
        return st.builds(tp, **fields)
    raise TypeError(f"no strategy for {tp!r}")


def through_json(value: Any, cls: type) -> Any:
    return from_jsonable(cls, json.loads(json.dumps(to_jsonable(value))))


@pytest.mark.parametrize("cls", DOMAIN_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_round_trip_when_any_domain_value_then_reads_back_equal(
    cls: type, data: st.DataObject
) -> None:
    value = data.draw(strategy_for(cls))
    assert through_json(value, cls) == value


@settings(max_examples=15, deadline=None)
@given(strategy_for(PortfolioState))
def test_state_dict_round_trip_when_any_state_then_equal_and_schema_first(
    state: PortfolioState,
) -> None:
    encoded = json.loads(json.dumps(state_to_dict(state)))
    assert next(iter(encoded)) == "schema_version"
    assert decode_state(encoded) == state  # the codec; invariants: test_state_invariants.py


def test_to_jsonable_when_decimal_then_plain_string_keeping_scale() -> None:
    assert to_jsonable(D("1E-8")) == "0.00000001"
    assert to_jsonable(D("1.50")) == "1.50"
    assert str(from_jsonable(Decimal, "1.50")) == "1.50"  # the scale comes back too


def test_to_jsonable_when_datetime_then_iso_utc_with_z() -> None:
    assert to_jsonable(datetime(2026, 11, 24, 12, 0, tzinfo=UTC)) == "2026-11-24T12:00:00Z"
    plus_two = datetime(2026, 11, 24, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert to_jsonable(plus_two) == "2026-11-24T12:00:00.000005Z"


def test_to_jsonable_when_enum_then_its_value_in_json() -> None:
    assert json.dumps(to_jsonable({"side": models.Side.SELL})) == '{"side": "SELL"}'


class Plan(Enum):  # not a str or int enum: its values are encoded as any value is
    WINDOW = (1, "2")
    RATIO = 0.5


def test_to_jsonable_when_a_plain_enum_then_its_value_encoded_and_a_float_value_refused() -> None:
    # The audit record holds what to_jsonable gives: never a float (orjson writes its line)
    assert to_jsonable(Plan.WINDOW) == [1, "2"]
    with pytest.raises(TypeError, match="use Decimal"):
        to_jsonable({"plan": Plan.RATIO})


def test_to_jsonable_when_naive_datetime_then_value_error() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        to_jsonable(datetime(2026, 11, 24))  # noqa: DTZ001 - the point of the test


def test_to_jsonable_when_float_then_type_error_pointing_at_decimal() -> None:
    with pytest.raises(TypeError, match="use Decimal"):
        to_jsonable({"price": 1.5})


def test_to_jsonable_when_unknown_object_then_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="cannot encode object"):
        to_jsonable(object())


def test_parse_utc_when_offset_or_z_then_aware_utc() -> None:
    assert parse_utc("2026-11-24T12:00:00Z") == datetime(2026, 11, 24, 12, tzinfo=UTC)
    parsed = parse_utc("2026-11-24T14:00:00+02:00")
    assert parsed.tzinfo is UTC
    assert parsed.hour == 12


def test_parse_utc_when_no_timezone_then_value_error() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        parse_utc("2026-11-24T12:00:00")


def test_from_jsonable_when_bool_field_gets_a_string_then_type_error() -> None:
    raw = to_jsonable(models.Balance("USD", D(1)))
    assert from_jsonable(models.Balance, raw) == models.Balance("USD", D(1))
    order = to_jsonable(models.Product("A-B", "A", "B", D(1), D(1), D(1), D(1), D(1), D(1)))
    order["disabled"] = "false"
    with pytest.raises(TypeError, match="expected a boolean"):
        from_jsonable(models.Product, order)


def test_from_jsonable_when_optional_fields_absent_then_defaults() -> None:
    assert from_jsonable(models.Balance, {"currency": "USD", "available": "2.5"}) == (
        models.Balance("USD", D("2.5"), D(0))
    )


def test_state_from_dict_when_schema_unknown_then_value_error() -> None:
    with pytest.raises(ValueError, match="schema_version 99"):
        state_from_dict({"schema_version": 99})
    with pytest.raises(ValueError, match="schema_version None"):
        state_from_dict({})


def test_state_from_dict_when_not_an_object_then_type_error() -> None:
    with pytest.raises(TypeError, match="got list"):
        state_from_dict([])  # type: ignore[arg-type]
