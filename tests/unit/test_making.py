"""`maker(cls)` makes the very value `cls(...)` makes: same type, fields, equality, hash,
repr, and as frozen; and it refuses classes whose layout it cannot stand in for."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trader.adapters.sim.making import maker
from trader.domain.models import Candle, Product, Quote

DECIMALS = st.decimals(allow_nan=False, allow_infinity=False, places=8)
TEXT = st.text(max_size=8)


def product_fields() -> st.SearchStrategy[tuple]:
    kinds = {Decimal: DECIMALS, str: TEXT, bool: st.booleans()}
    fields = []
    for f in dataclasses.fields(Product):
        if f.name == "aliases":
            fields.append(st.lists(TEXT, max_size=2).map(tuple))
        else:
            fields.append(kinds.get(type(getattr(PRODUCT, f.name)), DECIMALS))
    return st.tuples(*fields)


PRODUCT = Product("A-USD", "A", "USD", *[Decimal(1)] * 6)


def assert_same_value(made: object, built: object) -> None:
    assert type(made) is type(built)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    for f in dataclasses.fields(built):  # type: ignore[arg-type]
        assert getattr(made, f.name) is getattr(built, f.name)
    first = dataclasses.fields(built)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, first, None)


@given(values=product_fields())
def test_maker_when_product_fields_given_then_what_product_makes(values: tuple) -> None:
    assert_same_value(maker(Product)(*values), Product(*values))


@given(bid=DECIMALS, ask=DECIMALS, size=st.none() | DECIMALS)
def test_maker_when_quote_fields_given_then_what_quote_makes(bid, ask, size) -> None:
    moment = datetime(2026, 3, 2, tzinfo=UTC)
    made = maker(Quote)("A-USD", bid, ask, moment, size, None)
    assert_same_value(made, Quote("A-USD", bid, ask, moment, size, None))


@given(prices=st.lists(DECIMALS, min_size=5, max_size=5))
def test_maker_when_candle_fields_given_then_what_candle_makes(prices: list[Decimal]) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    made = maker(Candle)(start, *prices)
    assert_same_value(made, Candle(start, *prices))


@dataclass(frozen=True)
class WithDict:
    x: int


@dataclass(slots=True)
class Unfrozen:
    x: int


@dataclass(frozen=True, slots=True)
class Parent:  # (a quick_init class, as Quote, refuses subclasses: test_quick_init)
    x: int


@dataclass(frozen=True, slots=True)
class Child(Parent):
    extra: int = 0


@pytest.mark.parametrize("cls", [WithDict, Unfrozen, Child])
def test_maker_when_not_a_frozen_slotted_dataclass_of_its_own_then_refused(cls: type) -> None:
    with pytest.raises(TypeError, match=cls.__name__):
        maker(cls)
