"""Making and copying the frozen, slotted domain values without dataclasses' per-field detours.

`quick_init` gives such a class an __init__ that stores each argument straight into its
field's slot, where the one dataclasses writes for a frozen class calls object.__setattr__
by name for every field (about four times the instructions; a replay's cycle makes some
hundred values). `replaced` is dataclasses.replace without its per-field checks, by a copier
written once per class (one line per field). Both store exactly the values dataclasses' own
code would store; equality, hashing, repr and the frozen refusal of assignments are the
dataclass's own.

Both store through an unfrozen twin of the class: the same slots, so the same memory layout,
without the __setattr__ that refuses assignments, so a plain `value.field = x` stores into
the slot (the frozen class's refuses it, and a slot descriptor's __set__ called by hand costs
about six times the store). The value under construction is a twin until its last field is
stored, then becomes the class itself, before anyone else sees it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")
_Copier = Callable[[Any, dict[str, Any]], Any]
_COPIERS: dict[type, _Copier] = {}
# The __init__ dataclasses wrote for each class given a quick one (the tests compare them)
PLAIN_INITS: dict[type, Callable[..., None]] = {}
_new = object.__new__
_set = object.__setattr__


def replaced(value: T, **changes: Any) -> T:
    """A copy of `value` with `changes`, equal to what dataclasses.replace returns."""
    cls = type(value)
    copier = _COPIERS.get(cls) or _learn(cls)
    return copier(value, changes)  # type: ignore[no-any-return]


def quick_init(cls: type[T]) -> type[T]:
    """`cls` with an __init__ that stores through the slots (see the module's docstring);
    applied above @dataclass(frozen=True, slots=True). TypeError for any other class (one
    with __post_init__, init=False, keyword-only or InitVar fields: dataclasses' __init__
    does more there than storing)."""
    if not _simple(cls):
        raise TypeError(f"quick_init: {cls.__name__} is not a plain frozen slotted dataclass")
    PLAIN_INITS[cls] = cls.__init__  # type: ignore[misc]
    init = _generated_init(cls, dataclasses.fields(cls))
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[misc]
    cls.__init_subclass__ = classmethod(_refuse_subclass)  # type: ignore[assignment]
    return cls


def _refuse_subclass(sub: type, **_: Any) -> None:
    """A subclass would inherit an __init__ that ends by setting the value's class to the
    base: its values would silently be the base's. Refused where the subclass is defined."""
    raise TypeError(f"{sub.__name__}: {sub.__mro__[1].__name__} has a quick_init __init__")


def _simple(cls: type) -> bool:
    """A frozen dataclass with slots whose every field is a plain init field and that has no
    __post_init__: all its __init__ (and a copy) does is store each field's value."""
    if not dataclasses.is_dataclass(cls):
        return False
    fields = dataclasses.fields(cls)
    return bool(
        cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        and "__slots__" in cls.__dict__
        and cls.__bases__ == (object,)  # (a base's slots would make the twin another layout)
        and not hasattr(cls, "__post_init__")
        and all(f.init and not f.kw_only for f in fields)
        and len(fields) == len(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    )


@cache  # one twin per class, for its __init__ and its copier
def unfrozen_twin(cls: type) -> type:
    """A class with `cls`'s slots and nothing else (see the module's docstring)."""
    return type(f"_Unfrozen{cls.__name__}", (object,), {"__slots__": cls.__dict__["__slots__"]})


def _generated_init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """An __init__ written for `cls` as dataclasses writes one: the same parameters and
    defaults (a default_factory called when its argument is left out), one slot store each,
    made as the twin."""
    scope: dict[str, Any] = {
        "_FACTORY": _FACTORY,
        "__quick_set__": _set,
        "__quick_cls__": cls,
        "__quick_twin__": unfrozen_twin(cls),
    }
    params, lines = (
        ["__quick_self__"],
        ["    __quick_set__(__quick_self__, '__class__', __quick_twin__)"],
    )
    for f in fields:
        value = f.name
        if f.default is not dataclasses.MISSING:
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            value = f"_factory_{f.name}() if {f.name} is _FACTORY else {f.name}"
        else:
            params.append(f.name)
        lines.append(f"    __quick_self__.{f.name} = {value}")
    lines.append("    __quick_self__.__class__ = __quick_cls__")
    text = "\n".join([f"def __init__({', '.join(params)}):", *lines, "    return None"])
    exec(text, scope)  # noqa: S102 (the text is made of the class's field names)
    return scope["__init__"]  # type: ignore[no-any-return]


class _Factory:
    """Stands for an argument left out whose field has a default_factory."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _learn(cls: type) -> _Copier:
    copier = _COPIERS[cls] = _copier_for(cls)
    return copier


def _copier_for(cls: type) -> _Copier:
    """Fields copied one by one when that is all __init__ would do (`_simple`); else
    dataclasses.replace itself."""
    if not _simple(cls):
        return lambda value, changes: dataclasses.replace(value, **changes)
    return _generated_copier(cls, tuple(f.name for f in dataclasses.fields(cls)))


def _generated_copier(cls: type, names: tuple[str, ...]) -> _Copier:
    """A function written for `cls` (as dataclasses writes __init__): one line per field,
    each read from the value and stored into the twin, then the changes."""
    twin = unfrozen_twin(cls)
    lines = [
        "def copy(value, changes):",
        "    out = _new(twin)",
        *(f"    out.{name} = value.{name}" for name in names),
        "    for name, item in changes.items():",
        "        if name not in known:",
        "            raise TypeError(f'{cls.__name__} has no field {name!r}')",
        "        setattr(out, name, item)",
        "    out.__class__ = cls",
        "    return out",
    ]
    scope: dict[str, Any] = {"_new": _new, "twin": twin, "cls": cls, "known": frozenset(names)}
    exec("\n".join(lines), scope)  # noqa: S102 (the text is made of the class's field names)
    return scope["copy"]  # type: ignore[no-any-return]
