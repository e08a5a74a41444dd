"""Cycle ids and client_order_ids are deterministic, and differ when any input differs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader.domain.ids import (
    _read_cycle_id,
    client_order_id,
    cycle_id_at,
    cycle_id_for,
    cycle_time,
    floor_time,
    liquidation_leg_id,
)
from trader.domain.models import Side
from trader.entrypoints.replay import cycle_id as replay_cycle_id
from trader.entrypoints.replay import cycle_moments

BASE = ("default", "20261124T0405Z", "BTC-USD", Side.BUY, 0)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_floor_time_when_inside_an_interval_then_its_start() -> None:
    assert floor_time(at("2026-11-24T12:07:31.5"), 300) == at("2026-11-24T12:05:00")
    assert floor_time(at("2026-11-24T12:05:00"), 300) == at("2026-11-24T12:05:00")


def test_floor_time_when_naive_then_value_error() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        floor_time(datetime(2026, 11, 24, 12, 7), 300)  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("scheduled", "expected"),
    [
        ("2026-11-24T04:05:00", "20261124T0405Z"),
        ("2026-11-24T04:09:59", "20261124T0405Z"),  # a late retry of the same event
        ("2026-11-24T04:10:00", "20261124T0410Z"),
        ("2026-12-31T23:59:59", "20261231T2355Z"),
    ],
)
def test_cycle_id_for_when_scheduled_time_then_floored_to_the_interval(
    scheduled: str, expected: str
) -> None:
    assert cycle_id_for(at(scheduled), 300) == expected


def test_cycle_id_for_when_time_has_another_offset_then_named_in_utc() -> None:
    # 06:07+02:00 = 04:07 UTC -> 04:05
    plus_two = datetime(2026, 11, 24, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    assert cycle_id_for(plus_two, 300) == "20261124T0405Z"


def test_cycle_id_for_when_hourly_interval_then_floored_to_the_hour() -> None:
    assert cycle_id_for(at("2026-11-24T04:59:59"), 3600) == "20261124T0400Z"


def test_client_order_id_when_same_inputs_then_same_uuid() -> None:
    first = client_order_id(*BASE)
    assert first == client_order_id(*BASE)
    assert uuid.UUID(first).version == 5


@pytest.mark.parametrize(
    "changed",
    [
        ("other", *BASE[1:]),
        (BASE[0], "20261124T0410Z", *BASE[2:]),
        (*BASE[:2], "ETH-USD", *BASE[3:]),
        (*BASE[:3], Side.SELL, BASE[4]),
        (*BASE[:4], 1),
    ],
    ids=["portfolio", "cycle", "product", "side", "leg"],
)
def test_client_order_id_when_any_input_differs_then_different(changed: tuple) -> None:
    assert client_order_id(*changed) != client_order_id(*BASE)


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12)
keys = st.tuples(names, names, names, st.sampled_from(list(Side)), st.integers(0, 3))


@given(keys, keys)
def test_client_order_id_when_inputs_differ_then_ids_differ(a: tuple, b: tuple) -> None:
    assert (client_order_id(*a) == client_order_id(*b)) == (a == b)


LEG = ("default", "liq-1", "BTC", 0, Decimal("0.01"))


def test_liquidation_leg_id_when_same_leg_again_then_same_uuid5_and_trailing_zeros_ignored() -> (
    None
):
    first = liquidation_leg_id(*LEG)
    assert first == liquidation_leg_id("default", "liq-1", "BTC", 0, Decimal("0.0100"))
    assert uuid.UUID(first).version == 5


@pytest.mark.parametrize(
    "changed",
    [
        ("other", "liq-1", "BTC", 0, Decimal("0.01")),
        ("default", "liq-2", "BTC", 0, Decimal("0.01")),
        ("default", "liq-1", "SOL", 0, Decimal("0.01")),
        ("default", "liq-1", "BTC", 1, Decimal("0.01")),
        # BTC planned again for another amount (a bridge's proceeds): never the first id
        ("default", "liq-1", "BTC", 0, Decimal("0.00994")),
    ],
)
def test_liquidation_leg_id_when_any_input_differs_then_another_id(changed) -> None:
    assert liquidation_leg_id(*changed) != liquidation_leg_id(*LEG)


def test_liquidation_leg_id_when_compared_with_cycle_ids_then_never_the_same() -> None:
    # a request named like a cycle id cannot collide with that cycle's orders
    cycle = client_order_id("default", "liq-1", "BTC-USD", Side.SELL, 0)
    assert liquidation_leg_id(*LEG) != cycle


def test_cycle_id_for_when_the_year_is_below_1000_then_zero_padded_to_four_digits() -> None:
    assert cycle_id_for(datetime(999, 6, 1, 0, 2, tzinfo=UTC), 300) == "09990601T0000Z"
    assert cycle_id_for(datetime(1, 1, 1, 0, 7, tzinfo=UTC), 300) == "00010101T0005Z"


@pytest.mark.parametrize(
    ("cycle_id", "expected"),
    [
        ("20261124T0405Z", datetime(2026, 11, 24, 4, 5, tzinfo=UTC)),
        ("09990601T0000Z", datetime(999, 6, 1, tzinfo=UTC)),
        ("9990601T0000Z", datetime(999, 6, 1, tzinfo=UTC)),  # the unpadded id of older versions
        ("99991231T2355Z", datetime(9999, 12, 31, 23, 55, tzinfo=UTC)),
    ],
)
def test_cycle_time_when_a_cycle_id_then_the_start_it_names(
    cycle_id: str, expected: datetime
) -> None:
    assert cycle_time(cycle_id) == expected


@pytest.mark.parametrize("bad", ["x", "round001", "20261324T0405Z", "2026-11-24T04:05Z", ""])
def test_cycle_time_when_not_a_cycle_id_then_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        cycle_time(bad)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_cycle_ids_when_sorted_as_text_then_in_time_order(moment: datetime) -> None:
    real = cycle_id_for(datetime(2026, 11, 24, 4, 5, tzinfo=UTC), 300)
    other = cycle_id_for(moment, 300)
    assert (other < real) == (cycle_time(other) < cycle_time(real))


def read_or_error(parse, text: str) -> datetime | str:
    try:
        return parse(text)
    except ValueError as exc:
        return str(exc)


@settings(max_examples=100)
@given(
    st.lists(
        st.sampled_from(["20261124T0405Z", "9990601T0000Z", "20261324T0405Z", "x"])
        | st.from_regex(r"[0-9]{8}T[0-9]{4}Z", fullmatch=True),
        max_size=12,
    )
)
def test_cycle_time_when_ids_read_again_then_what_reading_each_afresh_gives(ids) -> None:
    for cycle_id in ids:  # repeats and alternations: the cycle's own id, then the last one
        assert read_or_error(cycle_time, cycle_id) == read_or_error(_read_cycle_id, cycle_id)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.sampled_from([60, 300, 900, 3600, 86_400]),
)
def test_cycle_id_for_when_any_time_then_the_id_strftime_writes(moment: datetime, interval) -> None:
    # cycle_id_for formats each field as an integer (strftime costs twice that)
    start = floor_time(moment, interval)
    assert cycle_id_for(moment, interval) == f"{start.year:04d}{start:%m%dT%H%MZ}"


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.sampled_from([7, 45, 60, 90, 300, 3600, 86_400]),
)
def test_cycle_time_when_id_just_made_then_what_reading_it_afresh_gives(moment, interval) -> None:
    # cycle_id_at keeps the time of each id it makes for cycle_time: the time the id reads
    # back as (floored to the minute: an interval of 90 s starts cycles at :30 too)
    made = cycle_id_for(moment, interval)
    read = cycle_time(made)
    assert (read, read.tzinfo) == (_read_cycle_id(made), UTC)
    assert type(read) is datetime
    # cycle_id_at of any time (off the minute too) reads back as its minute, not the time given
    assert cycle_time(cycle_id_at(moment)) == moment.replace(second=0, microsecond=0)


@given(
    st.integers(min_value=0, max_value=253_402_300_000 - 86_400),
    st.sampled_from([7, 60, 90, 300, 900, 3600]),
)
def test_replay_cycle_id_when_any_unix_time_then_what_cycle_id_for_gives(at: int, interval) -> None:
    # the replay names a planned time (on the interval) without flooring it again
    now = datetime.fromtimestamp(at, UTC)
    assert replay_cycle_id(at, now, interval) == cycle_id_for(now, interval)
    on_it = at // interval * interval
    now = datetime.fromtimestamp(on_it, UTC)
    assert replay_cycle_id(on_it, now, interval) == cycle_id_for(now, interval)


@given(
    st.lists(st.integers(min_value=0, max_value=4_000_000_000), unique=True).map(sorted),
    st.sampled_from([7, 60, 300, 900]),
    st.lists(st.integers(1, 3), min_size=1, max_size=40),
)
def test_cycle_moments_when_cycles_on_and_off_the_interval_then_fromtimestamps(
    times: list[int], interval: int, steps: list[int]
) -> None:
    # a replay's plan: runs one interval apart (made by adding it), gaps, and any times
    planned = [*times[:3], *accumulate((interval * s for s in steps), initial=4_000_000_000)]
    made = list(cycle_moments(planned, interval))
    expected = [(at, datetime.fromtimestamp(at, UTC)) for at in planned]
    assert made == expected
    assert [(str(m), m.tzinfo) for _, m in made] == [(str(m), UTC) for _, m in expected]
