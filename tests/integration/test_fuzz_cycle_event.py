"""Fuzzing the scheduled event: any JSON value into the cycle handler (CycleApp.handle) on moto.

'Clear' here means: `handle` never raises. A refused event is answered `ok: false` with one
short line `MalformedEvent: ...` (not an EventBridge scheduled event; names the field) or
`EventRefused: ...` (dated outside the window around the clock), and then nothing is written:
the table (lock and state, seeded with an earlier cycle) and the audit bucket are exactly as
before. An accepted event is dated within the window (at most one interval late, 5 s early),
is answered `ok: true` with the cycle id of its time floored to the interval (worked out
here with datetime, not by the code under test), is audited under that id, and ends in orders
or a NO_TRADE reason, never `exception:...`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aws_fixtures import MotoAws
from fuzzing import TIME_TEXTS, budget, clip, json_values
from hypothesis import event, example, given
from hypothesis import strategies as st

from trader.adapters.aws.dynamo_state import DynamoStateStore
from trader.adapters.clock import SteppingClock
from trader.domain.state import PortfolioState
from trader.entrypoints.lambda_cycle import CycleApp

pytestmark = pytest.mark.fuzz

NOW = datetime(2026, 11, 24, 4, 5, 3, tzinfo=UTC)  # 3 s after the 04:05 schedule
INTERVAL = timedelta(seconds=300)
EARLY = timedelta(seconds=5)  # lib/trader/default.yaml: cycle.event_window
EVENT: dict[str, Any] = {
    "version": "0",
    "id": "5f1c0b7e-2a57-4b1e-8e0a-000000000405",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-24T04:05:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/cycle"],
    "detail": {},
}
PREVIOUS_CYCLE = "20261124T0355Z"  # the seeded state's last cycle


class LambdaContext:
    aws_request_id = "req-fuzz"

    def get_remaining_time_in_millis(self) -> int:
        return 100_000


def _iso(moment: datetime, style: int) -> str:
    """One instant written the ways ISO-8601 allows (and a few it does not)."""
    if style == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 1:
        return moment.isoformat()  # +00:00
    if style == 2:
        return moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    if style == 3:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if style == 4:
        return moment.strftime("%Y-%m-%dT%H:%MZ")
    return moment.strftime("%Y-%m-%d %H:%M:%S")  # no timezone: refused


near_times = st.builds(
    lambda seconds, style: _iso(NOW + timedelta(seconds=seconds), style),
    st.integers(min_value=-900, max_value=900),
    st.integers(min_value=0, max_value=5),
)
times = st.one_of(
    near_times,
    near_times,
    st.sampled_from(TIME_TEXTS),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:00-01:00", "1795493100"]),
    st.text(max_size=40),
    st.just("2026-11-24T04:05:00Z" + "x" * 2000),
    json_values,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.just(EVENT["id"]), st.text(max_size=8), json_values),
        "source": st.one_of(st.just("aws.events"), json_values),
        "detail-type": st.one_of(st.just("Scheduled Event"), json_values),
        "detail_type": st.just("Scheduled Event"),
        "time": times,
        "resources": json_values,
        "extra": json_values,
    },
)
events = st.one_of(
    times.map(lambda time: {**EVENT, "time": time}),  # a scheduled event at another time
    fields.map(lambda changed: {**EVENT, **changed}),  # some fields changed
    st.tuples(fields, st.sets(st.sampled_from(sorted(EVENT)))).map(
        lambda pair: {k: v for k, v in {**EVENT, **pair[0]}.items() if k not in pair[1]}
    ),
    json_values,  # anything at all
)


def _seed(aws: MotoAws) -> dict[str, Any]:
    """An empty account with an earlier cycle recorded; returns what the table holds."""
    aws.clear()
    store = DynamoStateStore(aws.table, aws.dynamodb)
    store.save(PortfolioState(last_cycle_id=PREVIOUS_CYCLE), None)
    return {"items": aws.all_items(), "objects": aws.objects()}


def _expected_cycle_id(raw: str) -> str:
    moment = datetime.fromisoformat(raw).astimezone(UTC)
    assert NOW - INTERVAL <= moment <= NOW + EARLY, f"accepted {raw!r}, outside the window"
    floored = moment - timedelta(seconds=moment.timestamp() % 300)
    return floored.strftime("%Y%m%dT%H%MZ")


@budget(ci=30, full=2000)
@given(scheduled=events)
@example(scheduled={**EVENT, "time": "2026-11-24T04:05:00Z" + "x" * 2000})
@example(scheduled={**EVENT, "time": "x" * 2000})
def test_handle_when_any_event_then_a_cycle_or_a_clear_refusal_that_writes_nothing(
    aws: MotoAws, scheduled: Any
) -> None:
    before = _seed(aws)
    environ = {"STATE_TABLE": aws.table, "AUDIT_BUCKET": aws.bucket}
    environ |= {"EXCHANGE": "simulated", "TRADING_MODE": "PAPER"}
    app = CycleApp(
        environ=environ,
        clock=SteppingClock(NOW, 300),
        clients={"dynamodb": aws.dynamodb, "s3": aws.s3},
    )

    answer = app.handle(scheduled, LambdaContext())

    json.dumps(answer)  # plain JSON
    if not answer["ok"]:
        event(answer["error"].split(":")[0])
        error = answer["error"]
        assert error.startswith(("MalformedEvent: ", "EventRefused: ")), clip(error)
        assert "\n" not in error and len(error) <= 600, clip(error)
        assert {"items": aws.all_items(), "objects": aws.objects()} == before
        return
    event("accepted")
    assert answer["cycle_id"] == _expected_cycle_id(scheduled["time"])
    assert not str(answer["no_trade_reason"]).startswith("exception:"), answer
    records = [json.loads(body) for body in aws.objects().values()]
    assert answer["cycle_id"] in {r["cycle_id"] for r in records}
