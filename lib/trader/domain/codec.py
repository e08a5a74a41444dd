"""JSON-safe encoding of the frozen domain values: Decimal as string, datetime as ISO-8601 UTC.

One codec serves the state file, DynamoDB items and audit records, so a value
reads back exactly as it was written.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for a domain value (recursively)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats are not allowed in domain values; use Decimal")
    raise TypeError(f"cannot encode {type(value).__name__}")


def from_jsonable(cls: type[T], data: Any) -> T:
    """Rebuild a value of type `cls` from what to_jsonable produced."""
    return _decode(cls, data)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: every datetime must be UTC-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
