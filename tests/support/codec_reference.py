"""The reflective `to_jsonable` as it was before the per-class dispatch (commit c0adc1a),
verbatim, with the codec's `_iso` as it was before orjson wrote UTC times: the reference the
fast encoder must match byte for byte."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: every datetime must be UTC-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reference_to_jsonable(value: Any) -> Any:
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
        return {
            f.name: reference_to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        return {str(k): reference_to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [reference_to_jsonable(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats are not allowed in domain values; use Decimal")
    raise TypeError(f"cannot encode {type(value).__name__}")


def encoded_outcome(encode: Any, value: Any) -> tuple[str, str]:
    """The compact JSON text an encoder's output dumps to, or the error it raised."""
    try:
        encoded = encode(value)
    except (TypeError, ValueError) as exc:
        return type(exc).__name__, str(exc)
    return "json", json.dumps(encoded, separators=(",", ":"), ensure_ascii=False)
