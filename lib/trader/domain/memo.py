"""Values worked out once per frozen config object instead of every cycle."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import timedelta
from functools import lru_cache
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class PerObject(Generic[K, V]):
    """`compute(key, *extra)` remembered per key object, by identity, and per `extra` (plain
    hashable values, e.g. a bar length): a config is frozen, and hashing one every cycle would
    cost more than the work saved. The key is kept while remembered, so its id is never
    another object's; a new object (a config read again) is worked out anew."""

    def __init__(self, compute: Callable[..., V], size: int = 64) -> None:
        self._compute = compute
        self._size = size
        self._known: dict[tuple[int, tuple[Hashable, ...]], tuple[K, V]] = {}

    def __call__(self, key: K, *extra: Any) -> V:
        slot = (id(key), extra)
        known = self._known.get(slot)
        if known is not None and known[0] is key:
            return known[1]
        if len(self._known) >= self._size:
            self._known.clear()
        value = self._compute(key, *extra)
        self._known[slot] = (key, value)
        return value


@lru_cache(maxsize=32)
def seconds(count: int) -> timedelta:
    """timedelta(seconds=count), made once per count: each cycle asks for the same few lengths
    (a lease, the bars to fetch, a quote's age), and making a timedelta costs ~4 k
    instructions, more than the lease or the window bounds it serves."""
    return timedelta(seconds=count)
