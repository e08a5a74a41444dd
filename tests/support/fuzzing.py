"""Building blocks of the fuzz tests (tests/*/test_fuzz_*.py): budgets, hostile values, and
one way of mutating any JSON or YAML document.

Budgets: `make test` runs hypothesis's 'ci' profile (tests/conftest.py: derandomized, so a
failure reproduces); `make fuzz` sets HYPOTHESIS_PROFILE=full and each property runs its
`full` count of examples with fresh random seeds.

A `Mutation` is drawn before the document it changes exists (the fake Coinbase builds its
answers while the code under test runs, on whatever thread asks), so it names its target
by numbers that `apply` reduces modulo what it finds at each level: any drawn mutation
applies to any document, deterministically.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FULL = os.environ.get("HYPOTHESIS_PROFILE") == "full"

# Text that reaches a Decimal, int or datetime parser: the forms that break parsers.
NUMBER_TEXTS = (
    "", " ", "0", "-0", "-1", "-0.5", "1e-30", "1e30", "1E+999999", "1e-999999", "1e999999999",
    "NaN", "nan", "-Infinity", "Infinity", "inf", "sNaN", "0x10", "1,5", "1_000", "١٢", "²",
    "12%", "%", " 7 ", "0.000000000000000000000000001", "9" * 40, "-0.0", "1.", ".5", "+3",
)  # fmt: skip
TIME_TEXTS = (
    "", "0", "-1", "1700000000", "99999999999999999999", "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "2026-03-02T12:00:00", "2026-03-02T12:00:00+14:00", "2026-03-02", "yesterday",
    "2026-03-02T12:00:00.123456789Z", "2026-03-02T24:00:00Z",
)  # fmt: skip

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(NUMBER_TEXTS),
    st.sampled_from(TIME_TEXTS),
)
# Any JSON value, biased towards the scalars above; containers stay small.
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def budget(ci: int, full: int) -> settings:
    """Examples per property: `ci` in `make test`, `full` under `make fuzz`.

    The fixtures a fuzz test takes (moto, a tmp dir) are shared by its examples on purpose,
    each example resetting what it reads, hence the function-scoped-fixture check is off.
    """
    return settings(
        max_examples=full if FULL else ci,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@dataclass(frozen=True)
class Mutation:
    """Delete or replace one node of a document: the node reached by following `path`."""

    path: tuple[int, ...]  # at each level, the child index (modulo the number of children)
    op: Literal["replace", "delete"]
    value: Any = None

    def apply(self, document: Any) -> tuple[Any, str]:
        """(the mutated copy, where it was changed: a dotted path); `document` is untouched."""
        root = copy.deepcopy(document)
        parent, key, where = None, None, []
        node = root
        for step in self.path:
            children = _children(node)
            if not children:
                break
            parent, key = node, children[step % len(children)]
            where.append(str(key))
            node = node[key]
        if parent is None:  # the whole document
            return (copy.deepcopy(self.value) if self.op == "replace" else {}), "(document)"
        if self.op == "delete":
            del parent[key]
        else:
            parent[key] = copy.deepcopy(self.value)
        return root, ".".join(where)

    def __call__(self, document: Any) -> Any:
        return self.apply(document)[0]


@dataclass(frozen=True)
class SetAt:
    """A mutation named by keys, for the explicit examples that pin a bug found by fuzzing:
    SetAt(("products", 0, "alias"), [None]) sets that one value."""

    keys: tuple[Any, ...]
    value: Any

    def __call__(self, document: Any) -> Any:
        root = copy.deepcopy(document)
        node = root
        for key in self.keys[:-1]:
            node = node[key]
        node[self.keys[-1]] = copy.deepcopy(self.value)
        return root


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node)
    if isinstance(node, list):
        return list(range(len(node)))
    return []


mutations = st.builds(
    Mutation,
    path=st.lists(st.integers(min_value=0, max_value=63), min_size=1, max_size=7).map(tuple),
    op=st.sampled_from(["replace", "replace", "replace", "delete"]),
    value=json_values,
)


def documented_errors() -> frozenset[str]:
    """The names of the error types the code raises on purpose: TraderError and every
    subclass (the Coinbase adapter's included). `exception:KeyError` names none of them."""
    import trader.adapters.coinbase.credentials
    import trader.adapters.coinbase.errors
    import trader.adapters.coinbase.order_client
    import trader.adapters.coinbase.order_requests
    import trader.entrypoints.lambda_cycle  # noqa: F401 (each module defines errors of its own)
    from trader.domain.errors import TraderError

    found, todo = set(), [TraderError]
    while todo:
        kind = todo.pop()
        found.add(kind.__name__)
        todo.extend(kind.__subclasses__())
    return frozenset(found)


def is_clear_exception_reason(reason: object) -> bool:
    """A NO_TRADE or liquidation reason that is no exception, or names a documented error."""
    text = str(reason or "")
    if not text.startswith("exception:"):
        return True
    return text.removeprefix("exception:").split(":")[0] in documented_errors()


# How a liquidation answer's `error` starts (README, Liquidation; the handler adds the first).
LIQUIDATION_ERRORS = (
    "InvalidLiquidationRequest: ", "lock_held: ", "refused: ", "leg_failed: ",
    "insufficient_time: ", "too_little_proceeds: ", "exception:",
)  # fmt: skip


def clip(text: str, limit: int = 300) -> str:
    """A failure message shows a bad value, never all of it."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
