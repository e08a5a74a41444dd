"""`replaced`: dataclasses.replace for the frozen, slotted domain values, without its per-field
checks, by a copier written once per class (one line per field, as dataclasses writes
__init__). A replay's cycle copies the state, the snapshot, positions and products a dozen times;
dataclasses.replace spends most of that time asking each field whether it is an init field."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Copier = Callable[[Any, dict[str, Any]], Any]
_COPIERS: dict[type, _Copier] = {}
_new = object.__new__
_set = object.__setattr__


def replaced(value: T, **changes: Any) -> T:
    """A copy of `value` with `changes`, equal to what dataclasses.replace returns."""
    cls = type(value)
    copier = _COPIERS.get(cls) or _learn(cls)
    return copier(value, changes)  # type: ignore[no-any-return]


def _learn(cls: type) -> _Copier:
    copier = _COPIERS[cls] = _copier_for(cls)
    return copier


def _copier_for(cls: type) -> _Copier:
    """Fields copied one by one when that is all __init__ would do (a frozen dataclass with
    slots, every field an init field, no __post_init__); else dataclasses.replace itself."""
    if not _simple(cls):
        return lambda value, changes: dataclasses.replace(value, **changes)
    return _generated_copier(cls, tuple(f.name for f in dataclasses.fields(cls)))


def _simple(cls: type) -> bool:
    """A frozen dataclass with slots, every field an init field, no __post_init__: all its
    __init__ does is store each field."""
    fields = dataclasses.fields(cls)
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    return bool(
        params.frozen
        and hasattr(cls, "__slots__")
        and not hasattr(cls, "__post_init__")
        and all(f.init for f in fields)
        and len(fields) == len(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    )


def _generated_copier(cls: type, names: tuple[str, ...]) -> _Copier:
    """A function written for `cls` (as dataclasses writes __init__): one line per field,
    each read from the value and stored through the field's slot, then the changes."""
    setters = {f"_set_{name}": cls.__dict__[name].__set__ for name in names}
    lines = [
        "def copy(value, changes):",
        "    out = _new(cls)",
        *(f"    _set_{name}(out, value.{name})" for name in names),
        "    for name, item in changes.items():",
        "        if name not in known:",
        "            raise TypeError(f'{cls.__name__} has no field {name!r}')",
        "        _set(out, name, item)",
        "    return out",
    ]
    scope: dict[str, Any] = {"_new": _new, "_set": _set, "cls": cls, "known": frozenset(names)}
    scope.update(setters)
    exec("\n".join(lines), scope)  # noqa: S102 (the text is made of the class's field names)
    return scope["copy"]  # type: ignore[no-any-return]


def maker(cls: type[T]) -> Callable[..., T]:
    """A function making `cls` from all its fields in order, equal to `cls(...)`: for a simple
    class (see `_simple`) each field stored through its slot, about twice as fast as the
    frozen __init__ (which stores each through object.__setattr__); else `cls` itself."""
    if not _simple(cls):
        return cls
    names = tuple(f.name for f in dataclasses.fields(cls))
    setters = {f"_set_{name}": cls.__dict__[name].__set__ for name in names}
    lines = [
        f"def make({', '.join(names)}):",
        "    out = _new(cls)",
        *(f"    _set_{name}(out, {name})" for name in names),
        "    return out",
    ]
    scope: dict[str, Any] = {"_new": _new, "cls": cls, **setters}
    exec("\n".join(lines), scope)  # noqa: S102 (the text is made of the class's field names)
    return scope["make"]  # type: ignore[no-any-return]
