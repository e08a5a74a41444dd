"""roll_counters resets at 00:00 UTC and at the top of each hour; cooldowns expire at `until`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from trader.domain.state import (
    PortfolioState,
    expire_cooldowns,
    hour_start,
    in_hour,
    roll_counters,
)

D = Decimal


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def busy_state(day: date, hour: datetime) -> PortfolioState:
    return PortfolioState(
        day=day,
        hour=hour,
        trades_today=7,
        trades_this_hour=3,
        realized_pnl_today=D("-12.5"),
        realized_pnl_total=D("40"),
    )


def test_roll_counters_when_fresh_state_then_day_and_hour_set_and_counters_zero() -> None:
    state = roll_counters(PortfolioState(), at("2026-11-24T12:34:56"))
    assert state.day == date(2026, 11, 24)
    assert state.hour == at("2026-11-24T12:00:00")
    assert (state.trades_today, state.trades_this_hour, state.realized_pnl_today) == (0, 0, D(0))


def test_roll_counters_when_last_second_of_the_day_then_unchanged() -> None:
    state = busy_state(date(2026, 11, 24), at("2026-11-24T23:00:00"))
    assert roll_counters(state, at("2026-11-24T23:59:59")) is state


def test_roll_counters_when_midnight_utc_then_day_and_hour_reset_total_kept() -> None:
    state = busy_state(date(2026, 11, 24), at("2026-11-24T23:00:00"))
    rolled = roll_counters(state, at("2026-11-25T00:00:00"))
    assert rolled.day == date(2026, 11, 25)
    assert rolled.hour == at("2026-11-25T00:00:00")
    assert (rolled.trades_today, rolled.trades_this_hour) == (0, 0)
    assert rolled.realized_pnl_today == D(0)
    assert rolled.realized_pnl_total == D(40)


def test_roll_counters_when_last_second_of_the_hour_then_unchanged() -> None:
    state = busy_state(date(2026, 11, 24), at("2026-11-24T14:00:00"))
    assert roll_counters(state, at("2026-11-24T14:59:59")) is state


def test_roll_counters_when_next_hour_starts_then_only_hourly_counter_reset() -> None:
    state = busy_state(date(2026, 11, 24), at("2026-11-24T14:00:00"))
    rolled = roll_counters(state, at("2026-11-24T15:00:00"))
    assert rolled.hour == at("2026-11-24T15:00:00")
    assert rolled.trades_this_hour == 0
    assert (rolled.day, rolled.trades_today, rolled.realized_pnl_today) == (
        date(2026, 11, 24),
        7,
        D("-12.5"),
    )


def test_roll_counters_when_many_days_skipped_then_reset() -> None:
    state = busy_state(date(2026, 11, 1), at("2026-11-01T14:00:00"))
    rolled = roll_counters(state, at("2026-11-24T14:30:00"))
    assert (rolled.trades_today, rolled.trades_this_hour) == (0, 0)


def test_roll_counters_when_same_instant_in_another_offset_then_same_hour() -> None:
    # 16:30+02:00 is 14:30 UTC: the stored 14:00 UTC hour still holds
    state = busy_state(date(2026, 11, 24), at("2026-11-24T14:00:00"))
    plus_two = datetime(2026, 11, 24, 16, 30, tzinfo=timezone(timedelta(hours=2)))
    assert roll_counters(state, plus_two).trades_this_hour == 3


def test_expire_cooldowns_when_until_reached_or_passed_then_dropped_else_kept() -> None:
    now = at("2026-11-24T12:00:00")
    state = PortfolioState(
        cooldowns={
            "BTC-USD": now - timedelta(seconds=1),
            "ETH-USD": now,
            "SOL-USD": now + timedelta(seconds=1),
        }
    )
    assert expire_cooldowns(state, now).cooldowns == {"SOL-USD": now + timedelta(seconds=1)}


def test_expire_cooldowns_when_nothing_expired_then_same_state() -> None:
    now = at("2026-11-24T12:00:00")
    state = PortfolioState(cooldowns={"BTC-USD": now + timedelta(minutes=5)})
    assert expire_cooldowns(state, now) is state
    assert expire_cooldowns(PortfolioState(), now) == PortfolioState()


def test_hour_start_when_last_microsecond_of_year_then_start_of_that_hour() -> None:
    now = at("2026-12-31T23:59:59.999999")
    assert hour_start(now) == at("2026-12-31T23:00:00")


moments = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(0)), None])


@given(
    now=moments.map(lambda m: m.replace(tzinfo=UTC)),
    hour=st.none() | st.builds(lambda m, tz: m.replace(tzinfo=tz), moments, offsets),
    shift=st.none() | st.sampled_from([-60, -30, 0, 30, 59, 60]),
)
def test_in_hour_when_any_hour_and_now_then_whether_it_equals_the_hour_start(
    now: datetime, hour: datetime | None, shift: int | None
) -> None:
    if shift is not None:  # near now: a UTC hour's start (as saved states hold) or not
        hour = hour_start(now) + timedelta(minutes=shift)
    assert in_hour(hour, now) == (hour == hour_start(now))
