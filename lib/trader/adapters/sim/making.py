"""A quicker constructor for the frozen, slotted domain values a replay makes every bar.

`maker(cls)` is a factory where `quick_init` is an __init__: both store the fields into the
class's unfrozen twin (`domain/copying.unfrozen_twin`: the very same slots, so plain
attribute stores) and then make the twin a `cls` by setting its __class__, which Python
allows only between classes laid out alike (TypeError otherwise). A factory skips what an
__init__ cannot: the call through the class and the swap to the twin first, so it makes a
twenty-two-field Product about 1.6 times quicker than its __init__. The value is then a `cls`
like any other: its type, equality, hash, repr and frozenness are the dataclass's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from trader.domain.copying import unfrozen_twin

T = TypeVar("T")


def maker(cls: type[T]) -> Callable[..., T]:
    """A function taking every field of `cls` positionally, in order, that returns the `cls`
    its __init__ would make (about 1.6 times quicker for a Product). TypeError
    for a class that is not a frozen dataclass with one slot per field, in the fields' order."""
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    if not frozen or cls.__dict__.get("__slots__") != names or cls.__bases__ != (object,):
        raise TypeError(f"maker: {cls.__name__} is not a frozen dataclass with only its slots")
    twin = unfrozen_twin(cls)
    stores = "".join(f"    made.{name} = {name}\n" for name in names)
    source = f"def make({', '.join(names)}):\n    made = _Twin()\n{stores}"
    source += "    made.__class__ = _Cls\n    return made\n"
    scope: dict[str, Any] = {"_Twin": twin, "_Cls": cls}
    exec(source, scope)  # noqa: S102 (names from the dataclass's own fields)
    make: Callable[..., T] = scope["make"]
    make.__qualname__ = f"maker({cls.__name__})"
    return make
