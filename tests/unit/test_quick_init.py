"""`quick_init` (domain/copying.py) makes the same values as the __init__ dataclasses wrote.

Every class the cycle gives a quick __init__ is checked against the __init__ it replaced
(kept in PLAIN_INITS): the same arguments, positional or by keyword, some left to their
defaults or default factories, store the same field values; the same calls are refused; the
values stay frozen and compare, hash and print as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# the modules whose classes get a quick __init__: the cycle's, and the report's Point
import trader.service.cycle
import trader.service.report.history  # noqa: F401
from trader.domain import models
from trader.domain.copying import PLAIN_INITS, quick_init
from trader.domain.state import PortfolioState

QUICK = sorted(PLAIN_INITS, key=lambda c: f"{c.__module__}.{c.__qualname__}")

anything = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=4),
    st.decimals(allow_nan=False, places=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2).map(tuple),
)


def test_quick_init_covers_the_domain_values_the_cycle_makes() -> None:
    for cls in (models.Product, models.Quote, models.Candle, models.Position, PortfolioState):
        assert cls in PLAIN_INITS
        assert cls.__init__ is not PLAIN_INITS[cls]


@st.composite
def calls(draw: st.DrawFn, cls: type) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments for `cls`: every field without a default, some with one; a leading run of
    them positional, the rest by keyword."""
    given: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        has_default = f.default is not dataclasses.MISSING or (
            f.default_factory is not dataclasses.MISSING
        )
        if not has_default or draw(st.booleans()):
            given[f.name] = draw(anything)
    names = [f.name for f in dataclasses.fields(cls)]
    leading = 0
    while leading < len(names) and names[leading] in given:
        leading += 1
    positional = draw(st.integers(0, leading))
    args = tuple(given.pop(name) for name in names[:positional])
    return args, given


def made_plainly(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    value = object.__new__(cls)
    PLAIN_INITS[cls](value, *args, **kwargs)
    return value


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__qualname__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_quick_init_when_any_arguments_then_the_fields_dataclasses_init_stores(
    cls: type, data: st.DataObject
) -> None:
    args, kwargs = data.draw(calls(cls))
    quick, plain = cls(*args, **kwargs), made_plainly(cls, args, kwargs)

    passed = {f.name for f in dataclasses.fields(cls)[: len(args)]} | set(kwargs)
    for f in dataclasses.fields(cls):
        mine, theirs = getattr(quick, f.name), getattr(plain, f.name)
        if f.name in passed or f.default is not dataclasses.MISSING:
            assert mine is theirs, f.name  # the very object given, or the default itself
        else:  # a default factory's fresh value (a cache compares by identity: type only)
            assert type(mine) is type(theirs), f.name
            assert type(mine).__eq__ is object.__eq__ or mine == theirs, f.name
    same_fields = {f.name: getattr(quick, f.name) for f in dataclasses.fields(cls)}
    rebuilt = made_plainly(cls, (), same_fields)
    assert quick == rebuilt and repr(quick) == repr(rebuilt)
    if all(_hashable(v) for v in same_fields.values()):
        assert hash(quick) == hash(rebuilt)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__qualname__)
def test_quick_init_when_arguments_missing_unknown_or_too_many_then_refused_alike(
    cls: type,
) -> None:
    fields = dataclasses.fields(cls)
    every = {f.name: 1 for f in fields}
    required = {
        f.name: 1
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    wrong_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {**required, "no_such_field": 1}),
        (tuple(range(len(fields) + 1)), {}),
        ((1,), every),  # the first field twice
    ]
    if required:
        wrong_calls.append(((), dict(list(required.items())[1:])))
    for args, kwargs in wrong_calls:
        with pytest.raises(TypeError):
            made_plainly(cls, args, kwargs)
        with pytest.raises(TypeError):
            cls(*args, **kwargs)


def test_quick_init_when_a_field_is_assigned_then_frozen_as_before() -> None:
    quote = models.Quote("BTC-USD", Decimal(1), Decimal(2), None)  # type: ignore[arg-type]
    assert type(quote) is models.Quote  # made as the unfrozen twin, then the class itself
    with pytest.raises(FrozenInstanceError):
        quote.bid = Decimal(3)  # type: ignore[misc]
    assert hash(quote) == hash(models.Quote("BTC-USD", Decimal(1), Decimal(2), None))  # type: ignore[arg-type]


def test_quick_init_when_factories_left_out_then_each_value_gets_its_own() -> None:
    first, second = PortfolioState(), PortfolioState()
    assert first.positions == {} and first.positions is not second.positions
    assert (
        models.Order(
            "c", "p", models.Side.BUY, models.OrderType.MARKET, models.OrderStatus.OPEN, None
        ).fills
        == ()
    )  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Checked:
    size: int

    def __post_init__(self) -> None:
        raise AssertionError("never skipped")


@dataclass(frozen=True, slots=True)
class _Derived:
    size: int
    kind: str = field(default="sell", init=False)


@dataclass(frozen=True)
class _Unslotted:
    size: int


@dataclass(slots=True)
class _Mutable:
    size: int


class _Base:
    __slots__ = ("note",)


@dataclass(frozen=True, slots=True)
class _OnABase(_Base):  # its twin would have another memory layout
    size: int


@pytest.mark.parametrize("cls", [_Checked, _Derived, _Unslotted, _Mutable, _OnABase, int])
def test_quick_init_when_init_does_more_than_store_then_refused(cls: type) -> None:
    with pytest.raises(TypeError, match="not a plain frozen slotted dataclass"):
        quick_init(cls)


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__qualname__)
def test_quick_init_when_subclassed_then_refused_where_the_subclass_is_defined(cls) -> None:
    # the inherited __init__ would end by making each value a `cls`, not the subclass
    with pytest.raises(TypeError, match=cls.__name__):

        @dataclass(frozen=True, slots=True)
        class Sub(cls):  # type: ignore[misc, valid-type]
            pass
