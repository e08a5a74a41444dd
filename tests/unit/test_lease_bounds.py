"""The lease against the Lambda timeout and the schedule (issue 10 finding 3): it must outlive
the run with 30 s to spare, and end soon enough that a run that timed out holds back no more
cycles than it must. Bounds worked out by hand from timeout, interval and the 30 s margin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trader.domain.config import parse_config
from trader.domain.errors import ConfigError, LockLost
from trader.domain.lease import check_lease, check_lease_fits, check_lease_outlives, grant_lease

UNIVERSE = {"tiers": [{"name": "all", "match_all": True, "position_size_pct": 2}]}


@pytest.mark.parametrize("lease", [150, 180, 270])  # 120 + 30 .. 300 - 30
def test_cycle_lease_when_between_timeout_plus_margin_and_interval_less_margin_then_accepted(
    lease: int,
) -> None:
    check_lease_fits("cycle.lock_lease_seconds", lease, 120, 300, scheduled=True)


@pytest.mark.parametrize("lease", [120, 149, 271, 600])
def test_cycle_lease_when_outside_its_bounds_then_refused_naming_the_values(lease: int) -> None:
    with pytest.raises(ConfigError) as refused:
        check_lease_fits("cycle.lock_lease_seconds", lease, 120, 300, scheduled=True)

    message = str(refused.value)
    assert f"cycle.lock_lease_seconds is {lease} s" in message
    assert "a Lambda timeout of 120 s and a cycle every 300 s" in message
    assert "between 150 s" in message and "and 270 s" in message
    assert "the next cycle" in message


@pytest.mark.parametrize(("lease", "fits"), [(329, False), (330, True), (570, True), (571, False)])
def test_liquidation_lease_when_checked_then_it_may_run_up_to_one_interval_past_the_timeout(
    lease: int, fits: bool
) -> None:
    # timeout 300: from 300 + 30 to 300 + 300 - 30 (started by hand, at any time)
    setting = "liquidation.lock_lease_seconds"
    if fits:
        check_lease_fits(setting, lease, 300, 300, scheduled=False)
        return
    with pytest.raises(ConfigError, match=r"between 330 s .* and 570 s .*more than one cycle"):
        check_lease_fits(setting, lease, 300, 300, scheduled=False)


def test_cycle_lease_when_the_timeout_leaves_no_room_then_refused_saying_so() -> None:
    # timeout 250: at least 280, at most 270
    with pytest.raises(ConfigError, match="no lease fits: shorten the timeout"):
        check_lease_fits("cycle.lock_lease_seconds", 275, 250, 300, scheduled=True)


@pytest.mark.parametrize(("remaining", "fits"), [(150.0, True), (150.5, False), (299.0, False)])
def test_lease_when_the_invocation_has_more_time_left_than_the_lease_less_margin_then_refused(
    remaining: float, fits: bool
) -> None:
    # lease 180: at most 150 s of Lambda time may be left when the lock is taken
    if fits:
        check_lease_outlives("cycle.lock_lease_seconds", 180, remaining)
        return
    with pytest.raises(ConfigError, match=r"is 180 s but this invocation has \d+ s left"):
        check_lease_outlives("cycle.lock_lease_seconds", 180, remaining)


def test_config_when_the_lease_would_hold_back_the_next_cycle_then_refused_naming_both() -> None:
    raw = {"universe": UNIVERSE, "cycle": {"interval_seconds": 300, "lock_lease_seconds": 600}}

    with pytest.raises(ConfigError) as refused:
        parse_config(raw)

    assert "lock_lease_seconds 600 must be at most 270 (interval_seconds 300" in str(refused.value)


@given(st.lists(st.tuples(st.integers(1, 86_400), st.integers(0, 900)), min_size=1, max_size=8))
def test_lease_when_lengths_and_margins_vary_then_each_counts_its_own_seconds(asked) -> None:
    # the lengths are made once per count: each lease and check still uses its own
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    for token, (seconds, margin) in enumerate(asked):
        lease = grant_lease("lock", None, token, owner="me", now=now, lease_seconds=seconds)
        assert lease.expires_at == now + timedelta(seconds=seconds)
        lapses = now + timedelta(seconds=seconds - margin)
        check_lease(lease, lapses - timedelta(microseconds=1), margin)  # still runs long enough
        with pytest.raises(LockLost):
            check_lease(lease, lapses, margin)
