"""JSON-safe encoding of the frozen domain values: Decimal as string, datetime as ISO-8601 UTC.

One codec serves the state file, DynamoDB items and audit records, so a value
reads back exactly as it was written.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for a domain value (recursively)."""
    cls = type(value)
    if cls in PLAIN:  # JSON already (most values): no dispatch
        return value
    encode = _ENCODERS.get(cls) or _learn(cls)
    return encode(value)


def decimal_jsonable(value: Any) -> Any:
    """to_jsonable of a value that is most often a Decimal or None (those without the
    dispatch): what the audit record calls for each amount."""
    if type(value) is Decimal:  # _decimal, written out here: one call less for each amount
        text = str(value)
        return text if "E" not in text and "e" not in text else format(value, "f")
    return None if value is None else to_jsonable(value)


def decimals_jsonable(value: Any) -> Any:
    """to_jsonable of a dict whose values are most often Decimals (prices, exposure): each
    value as `decimal_jsonable` gives it, its Decimal path written out (a call less each)."""
    if type(value) is not dict:
        return to_jsonable(value)
    if not value:
        return {}
    return {
        k if type(k) is str else str(k): text
        if type(v) is Decimal and "E" not in (text := str(v)) and "e" not in text
        else decimal_jsonable(v)
        for k, v in value.items()
    }


def amounts_jsonable(*values: Any) -> list[Any]:
    """`decimal_jsonable` of each value, in one pass (its Decimal path written out: the
    audit's state and dust rows give several amounts at once, and a call each cost more)."""
    return [
        text
        if type(v) is Decimal and "E" not in (text := str(v)) and "e" not in text
        else decimal_jsonable(v)
        for v in values
    ]


def time_jsonable(value: Any) -> Any:
    """to_jsonable of a value that is most often a datetime or None (as decimal_jsonable),
    a UTC time's text kept for the next records: each cycle writes the same few times again
    (its start and end, the regime's bar times)."""
    if type(value) is datetime and value.tzinfo is UTC:
        text = _UTC_TEXTS.get(value)
        if text is None:
            if len(_UTC_TEXTS) >= _UTC_TEXTS_KEPT:
                _UTC_TEXTS.clear()
            text = _UTC_TEXTS[value] = _utc_text(value)
        return text
    return None if value is None else to_jsonable(value)


# Keyed by UTC times only: two of those are equal exactly when their text is the same.
_UTC_TEXTS: dict[datetime, str] = {}
_UTC_TEXTS_KEPT = 64


# How a value of each class is encoded, decided once per class by the rules of `_encoder_for`
# (an audit record holds ~150 values: asking isinstance of each, each cycle, cost more than
# the rest of building the record).
_ENCODERS: dict[type, Callable[[Any], Any]] = {}
PLAIN = frozenset({str, int, bool, type(None)})  # exactly these are JSON already


def _learn(cls: type) -> Callable[[Any], Any]:
    encode = _ENCODERS[cls] = _encoder_for(cls)
    return encode


def _encoder_for(cls: type) -> Callable[[Any], Any]:
    """The first rule that matches the class, in this order (a StrEnum is a str: kept as is)."""
    if cls is type(None) or issubclass(cls, bool | int | str):
        return _same
    if issubclass(cls, Enum):
        return _enum_value
    if issubclass(cls, Decimal):
        return _decimal if cls is Decimal else _decimal_formatted
    if issubclass(cls, datetime):
        return _iso
    if issubclass(cls, date):
        return _date
    if dataclasses.is_dataclass(cls) and not issubclass(cls, type):
        return _dataclass_encoder(tuple(f.name for f in dataclasses.fields(cls)))
    if issubclass(cls, dict):
        return _dict
    if issubclass(cls, list | tuple | set | frozenset):
        return _list
    if issubclass(cls, float):
        return _refuse_float
    return _refuse


def _same(value: Any) -> Any:
    return value


def _enum_value(value: Enum) -> Any:
    item = value._value_  # what .value reads, without its descriptor (a Python call)
    return item if type(item) in PLAIN else to_jsonable(item)  # a float value refused too


def _decimal(value: Decimal) -> str:
    """format(value, "f"), read from str(value) when that is the same text (no exponent: a
    plain number that is not tiny; str takes a quarter of format's time)."""
    text = str(value)
    if "E" in text or "e" in text:  # "e" when the context writes exponents in lower case
        return format(value, "f")
    return text


def _decimal_formatted(value: Decimal) -> str:
    return format(value, "f")  # a subclass: its str may say something else


def _date(value: date) -> str:
    return value.isoformat()


def _dataclass_encoder(names: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
    """A function written for the class (as domain/copying.py writes copiers): one line per
    field, each read, kept when plain JSON already, else encoded, into a dict literal."""
    lines = [
        "def encode(value):",
        "    return {",
        *(
            f"        {name!r}: item if type(item := value.{name}) in PLAIN else to_jsonable(item),"
            for name in names
        ),
        "    }",
    ]
    scope: dict[str, Any] = {"PLAIN": PLAIN, "to_jsonable": to_jsonable}
    exec("\n".join(lines), scope)  # noqa: S102 (the text is made of the class's field names)
    return scope["encode"]  # type: ignore[no-any-return]


def _dict(value: dict[Any, Any]) -> dict[str, Any]:
    if not value:  # most of the record's dicts and lists are empty: no comprehension for those
        return {}
    return {
        k if type(k) is str else str(k): v if type(v) in PLAIN else to_jsonable(v)
        for k, v in value.items()
    }


def _list(value: Any) -> list[Any]:
    if not value:
        return []
    return [v if type(v) in PLAIN else to_jsonable(v) for v in value]


def _refuse_float(value: float) -> Any:
    raise TypeError("floats are not allowed in domain values; use Decimal")


def _refuse(value: Any) -> Any:
    raise TypeError(f"cannot encode {type(value).__name__}")


def from_jsonable(cls: type[T], data: Any) -> T:
    """Rebuild a value of type `cls` from what to_jsonable produced."""
    return _decode(cls, data)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: every datetime must be UTC-aware")
    return _utc_text(value.astimezone(UTC))


def _utc_text(value: datetime) -> str:
    """isoformat() of a UTC time with "Z" for "+00:00": the text orjson writes for it, in a
    quarter of isoformat's time (a subclass of datetime, which orjson refuses: isoformat)."""
    if type(value) is datetime:
        return orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode()
    return value.isoformat().replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """An ISO-8601 timestamp as an aware UTC datetime; naive input is refused."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone")
    return parsed.astimezone(UTC)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if data is None:
            return None
        return _decode(args[0], data)
    if tp is Any:
        return data
    if origin is dict:
        key_t, val_t = typing.get_args(tp)
        return {_decode(key_t, k): _decode(val_t, v) for k, v in data.items()}
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in data)
        return tuple(_decode(a, v) for a, v in zip(args, data, strict=True))
    if origin is list:
        (item_t,) = typing.get_args(tp)
        return [_decode(item_t, v) for v in data]
    if isinstance(tp, type):
        return _decode_plain(tp, data)
    raise TypeError(f"cannot decode into {tp!r}")


def _decode_plain(tp: type, data: Any) -> Any:
    if dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {
            f.name: _decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(tp)
            if f.name in data
        }
        return tp(**kwargs)
    if issubclass(tp, Enum):
        return tp(data)
    if tp is Decimal:
        return Decimal(str(data))
    if tp is datetime:
        return parse_utc(data)
    if tp is date:
        return date.fromisoformat(data)
    if tp is bool:
        if not isinstance(data, bool):
            raise TypeError(f"expected a boolean, got {data!r}")
        return data
    if tp in (int, str):
        return tp(data)
    raise TypeError(f"cannot decode into {tp.__name__}")
