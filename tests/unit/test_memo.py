"""Values worked out once per config object (domain/memo.py) are the values worked out afresh:
per object and per extra argument, and anew for a config read again."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from trader.domain.config import RegimeConfig, regime_bars_needed, regime_bars_to_fetch
from trader.domain.memo import PerObject, seconds
from trader.pipeline.regime import _limits, _work_out


class Box:
    def __init__(self, value: int) -> None:
        self.value = value


def test_per_object_when_asked_again_then_worked_out_once_per_object_and_extra() -> None:
    calls: list[tuple[int, int]] = []

    def work(box: Box, times: int) -> int:
        calls.append((box.value, times))
        return box.value * times

    remembered = PerObject(work)
    one, other_one = Box(1), Box(1)  # equal values, two objects

    assert [remembered(one, 2), remembered(one, 2), remembered(one, 3)] == [2, 2, 3]
    assert remembered(other_one, 2) == 2
    assert calls == [(1, 2), (1, 3), (1, 2)]  # once per (object, extra)


def test_per_object_when_full_then_forgets_and_still_answers() -> None:
    remembered = PerObject(lambda box: box.value + 1, size=2)
    boxes = [Box(i) for i in range(5)]
    assert [remembered(b) for b in boxes] == [1, 2, 3, 4, 5]
    assert [remembered(b) for b in boxes] == [1, 2, 3, 4, 5]


hours = st.decimals(min_value=Decimal("0.25"), max_value=Decimal(160), places=2)


@settings(max_examples=60, deadline=None)
@given(
    trend=hours,
    crash=hours,
    volatility=hours,
    granularity=st.sampled_from([60, 300, 900, 3600, 21600, 86400]),
)
def test_regime_windows_when_any_config_then_what_working_them_out_afresh_gives(
    trend: Decimal, crash: Decimal, volatility: Decimal, granularity: int
) -> None:
    cfg = RegimeConfig(trend_hours=trend, crash_hours=crash, volatility_hours=volatility)
    other = RegimeConfig(trend_hours=trend + 1, crash_hours=crash, volatility_hours=volatility)
    for config in (cfg, other, cfg):  # the second ask of `cfg` comes from memory
        needed = regime_bars_needed(config, granularity)
        assert regime_bars_to_fetch(config, granularity) == needed + needed // 4
        assert _limits(config, granularity) == _work_out(config, granularity)
    assert regime_bars_to_fetch(cfg, 2 * granularity) == (
        regime_bars_needed(cfg, 2 * granularity) + regime_bars_needed(cfg, 2 * granularity) // 4
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-(10**9), max_value=10**9), min_size=1, max_size=60))
def test_seconds_when_lengths_come_and_go_then_each_is_its_own_timedelta(counts) -> None:
    # more lengths than the memo keeps (32): a forgotten one is made again, never mixed up
    for count in counts:
        assert seconds(count) == timedelta(seconds=count)
