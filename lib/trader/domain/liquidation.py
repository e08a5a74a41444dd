"""The liquidation request (DESIGN.md): a frozen, validated value.

A dry run is the default; executing needs `confirm` equal to `LIQUIDATE` exactly. A bad
request is refused with one line that names the field and never echoes more than a few
characters of what was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails

from trader.domain.errors import InvalidLiquidationRequest

CONFIRM_WORD = "LIQUIDATE"
MAX_KEEP = 100
_SHOWN = 40  # characters of a field name or bad value repeated in an error
_MESSAGE_MAX = 300
_ERRORS_SHOWN = 3
_PREFIX = "invalid liquidation request: "

RequestId = Annotated[
    str, Field(strict=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
]
CurrencyCode = Annotated[str, Field(strict=True, pattern=r"^[A-Z0-9]{1,10}$")]


class LiquidationRequest(BaseModel):
    """What to sell into which target, and whether to do it for real."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: RequestId
    dry_run: Annotated[bool, Field(strict=True)] = True
    # Any value other than the word is refused, even on a dry run: a typo shows up in the
    # rehearsal rather than at the moment of executing.
    confirm: Literal["LIQUIDATE"] | None = Field(default=None, validate_default=True)
    target: Literal["USDC", "USD"] = "USDC"
    keep: tuple[CurrencyCode, ...] = ()  # sorted, without duplicates
    min_value: Annotated[Decimal, Field(ge=0)] = Decimal(1)  # in target units
    max_slippage_bps: Annotated[int, Field(strict=True, ge=0, le=1000)] = 100
    halt_trading: Annotated[bool, Field(strict=True)] = False

    @field_validator("keep", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        # Before item validation, so a huge list costs one len() and one short error.
        if isinstance(value, list | tuple) and len(value) > MAX_KEEP:
            raise ValueError(f"at most {MAX_KEEP} currencies, got {len(value)}")
        return value

    @field_validator("keep")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(value)))

    @field_validator("confirm")
    @classmethod
    def _confirmed(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("dry_run") is False and value != CONFIRM_WORD:
            raise ValueError(f"must be exactly {CONFIRM_WORD!r} to execute (dry_run is false)")
        return value

    @property
    def executes(self) -> bool:
        """True only for a confirmed, non-dry-run request (validation guarantees the word)."""
        return not self.dry_run


def parse_liquidation_request(raw: object) -> LiquidationRequest:
    """The validated request, or InvalidLiquidationRequest whose one line names the field."""
    if not isinstance(raw, Mapping):
        message = f"{_PREFIX}expected a JSON object, got {_json_type(raw)}"
        raise InvalidLiquidationRequest(message, "(request)")
    try:
        return LiquidationRequest.model_validate(dict(raw))
    except ValidationError as exc:
        raise _refusal(exc) from None


def _refusal(exc: ValidationError) -> InvalidLiquidationRequest:
    errors = exc.errors(include_url=False)
    parts = [_describe(err) for err in errors[:_ERRORS_SHOWN]]
    if len(errors) > _ERRORS_SHOWN:
        parts.append(f"and {len(errors) - _ERRORS_SHOWN} more")
    message = _clip(_PREFIX + "; ".join(parts), _MESSAGE_MAX)
    return InvalidLiquidationRequest(message, _field(errors[0]))


def _describe(err: ErrorDetails) -> str:
    field = _field(err)
    if err["type"] == "missing":
        return f"{field}: required"
    if err["type"] == "extra_forbidden":
        return f"{field}: unknown field"
    message = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
        return f"{field}: {message} (got {_clip(repr(value), _SHOWN)})"
    return f"{field}: {message}"  # lists, objects and flags are not repeated back


def _field(err: ErrorDetails) -> str:
    loc = err["loc"]
    if not loc:
        return "(request)"
    return _clip(str(loc[0]), _SHOWN) + "".join(f"[{part}]" for part in loc[1:])


def _clip(text: str, limit: int) -> str:
    """At most `limit` printable characters: one line, never the whole of a huge input."""
    line = "".join(ch if ch.isprintable() else "?" for ch in text[: limit + 1])
    return line if len(line) <= limit else line[: limit - 3] + "..."


_JSON_TYPES: dict[type, str] = {
    list: "an array",
    tuple: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _json_type(raw: object) -> str:
    return _JSON_TYPES.get(type(raw), type(raw).__name__)
