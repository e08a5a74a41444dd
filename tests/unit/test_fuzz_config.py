"""Fuzzing the config file (load_config): hostile YAML text, and lib/trader/default.yaml mutated.

'Clear' here means: load_config returns a Config, or raises ConfigError (its only documented
error) whose message starts with the file's path and stays short (a bad value is shown
clipped, never in full). Nothing else may escape: a raw ValueError, UnicodeDecodeError or
RecursionError reaches the Lambda as a bare type name and `trader run` as a traceback.
A config that is accepted must run: two cycles on the scripted market end in a NO_TRADE
reason or orders, never `exception:...` (a field validated too loosely would stop every
cycle, exits included, until someone reads the audit). Loading writes nothing, so there is
no partial write to check here.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cycle_rig import make_rig
from fuzzing import SetAt, budget, clip, json_values, mutations
from hypothesis import event, example, given
from hypothesis import strategies as st

from trader.domain.config import DEFAULT_CONFIG_PATH, Config, load_config
from trader.domain.errors import ConfigError
from trader.domain.models import Mode

pytestmark = pytest.mark.fuzz

DEFAULT_TEXT = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
DEFAULT_RAW: dict[str, Any] = yaml.safe_load(DEFAULT_TEXT)
MAX_MESSAGE = 10_000  # 20 errors of a few hundred characters at most, and the path

YAML_TOKENS = (
    "cycle:", "universe:", "risk:", "tiers:", "simulator:", "\n", "\n  ", "- ", ": ", ", ",
    "{", "}", "[", "]", "&a ", "*a", "? ", "!!python/object:os.system", "!!binary zz",
    "!!float", "!!int", "!!timestamp", "2026-13-45", "2026-02-30T00:00:00Z", "9" * 5000,
    "0x1F", "0o17", "1_000", "5:00", ".nan", ".inf", "-.inf", "~", "null", "yes", "no",
    "'", '"', "|", ">", "#", "%YAML 1.1\n", "---\n", "...\n", "\t", "\x00", "\ufeff",
    "\\x", "\\u00", "position_size_pct: 8", "name: a",
)  # fmt: skip

yaml_soup = st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join)


def _line_edits(text: str, picks: list[tuple[int, int, str]]) -> str:
    """The default file with lines deleted, repeated or given a stray token."""
    lines = text.splitlines()
    for kind, at, token in picks:
        i = at % len(lines)
        if kind == 0:
            del lines[i]
        elif kind == 1:
            lines.insert(i, lines[i])
        else:
            cut = at % (len(lines[i]) + 1)
            lines[i] = lines[i][:cut] + token + lines[i][cut:]
    return "\n".join(lines) + "\n"


edited_default = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.sampled_from(YAML_TOKENS)),
    min_size=1,
    max_size=4,
).map(lambda picks: _line_edits(DEFAULT_TEXT, picks))

config_texts = st.one_of(
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
    yaml_soup.map(lambda t: t.encode("utf-8", "surrogatepass")),
    edited_default.map(str.encode),
)


def load_or_refuse(path: Path) -> Config | None:
    """The config, or None after checking the ConfigError is clear; anything else escapes."""
    try:
        return load_config(path)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)), clip(message)
        assert len(message) < MAX_MESSAGE, clip(message)
        return None


@budget(ci=100, full=5000)
@given(data=config_texts)
# Bugs it found, each a bare exception out of load_config: UnicodeDecodeError, ValueError (an
# int over 4300 digits, a month 13, February 30) and RecursionError.
@example(data=b"universe: {tiers: [{name: a, position_size_pct: 8}]}\n# \xff\xfe\n")
@example(data=b"cycle: {lookback_bars: " + b"9" * 5000 + b"}\n")
@example(data=b"simulator: {start: 2026-13-45}\n")
@example(data=b"x: 2026-02-30T00:00:00Z\n")
@example(data=b"universe: " + b"[" * 1000 + b"]" * 1000 + b"\n")
@example(data=b"risk: !!float ''\n")  # IndexError from PyYAML itself
@example(data=b"risk: !!timestamp x\n")  # AttributeError from PyYAML itself
def test_load_config_when_any_bytes_then_config_or_config_error_naming_the_file(
    tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(data)

    load_or_refuse(path)


config_values = st.one_of(
    json_values,
    st.sampled_from(
        [0, 1, -1, 0.5, 2, 30, 59, 60, 100, 100.5, 350, 351, 3600, 86_400, 10**6, 10**9,
         10**12, 10**20, 10**30, 1e-9, 1e300, "1e999999", "1e-999999", True, False, None, [],
         {}, "", "BTC-USD", "USD", "USDC", ["USD"], ["BTC-USD", "BTC-USD"]]
    ),
)  # fmt: skip


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in the document, containers included."""
    children: list[Any] = list(node) if isinstance(node, dict) else []
    children += list(range(len(node))) if isinstance(node, list) else []
    return [path, *(leaf for key in children for leaf in _leaves(node[key], (*path, key)))]


LEAVES = [path for path in _leaves(DEFAULT_RAW) if path]


def edited_config(edits: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    """The default config with each edit applied, but those an earlier edit left without a
    place (tiers set to 7, then tiers[0].name set)."""
    raw = DEFAULT_RAW
    for path, value in edits:
        with contextlib.suppress(LookupError, TypeError):
            raw = SetAt(path, value)(raw)
    return raw


# lib/trader/default.yaml with a few fields set to values at and beyond the edges of their range
# (most examples stay a valid config: the cycle must then run), or reshaped at random.
mutated_configs = st.one_of(
    st.lists(st.tuples(st.sampled_from(LEAVES), config_values), min_size=1, max_size=3).map(
        edited_config
    ),
    mutations.map(lambda mutation: mutation(DEFAULT_RAW)),
)


def edit(*path: Any, value: Any) -> dict[str, Any]:
    return edited_config([(path, value)])


@budget(ci=60, full=3000)
@given(raw=mutated_configs, mode=st.sampled_from(Mode))
# Each was accepted, then ended every cycle in `exception:...` (OverflowError, LockLost,
# InvalidOperation): bounds and a cross-field check now refuse them at start-up.
@example(raw=edit("cycle", "max_snapshot_age_seconds", value=10**20), mode=Mode.LIVE)
@example(raw=edit("cycle", "min_remaining_seconds_to_trade", value=10**9), mode=Mode.LIVE)
@example(raw=edit("cycle", "lock_lease_seconds", value=10**12), mode=Mode.LIVE)
@example(raw=edit("execution", "cancel_resting_after_seconds", value=10**20), mode=Mode.LIVE)
@example(raw=edit("exits", "max_holding_hours", value="1e999999"), mode=Mode.LIVE)
@example(raw=edit("paper", "starting_cash", value=10**30), mode=Mode.PAPER)
def test_load_config_when_default_mutated_then_refused_clearly_or_two_cycles_run(
    tmp_path: Path, raw: Any, mode: Mode
) -> None:
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")

    config = load_or_refuse(path)

    event("accepted" if config else "refused")
    if config is None:
        return
    rig = make_rig(config)
    for _ in range(2):
        result = rig.run(mode)
        assert not str(result.no_trade_reason).startswith("exception:"), result
        rig.clock.advance()
