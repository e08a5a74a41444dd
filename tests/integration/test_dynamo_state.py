"""DynamoStateStore on moto: round trips, conflicts that change nothing, counters, TTLs."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from bad_states import BAD_IDS, BAD_STATES, plant_in_dynamo

from trader.adapters.aws.dynamo_state import DynamoStateStore, set_trading_state
from trader.domain.errors import StateConflict, StateCorrupt, StateInvalid
from trader.domain.models import Order, OrderStatus, OrderType, Position, Side, TradingState
from trader.domain.state import PortfolioState, RegimeMemory, roll_counters

T0 = datetime(2026, 11, 24, 23, 55, tzinfo=UTC)
PK = "PORTFOLIO#default"


def store_for(aws) -> DynamoStateStore:
    return DynamoStateStore(aws.table, client=aws.dynamodb)


def btc_position() -> Position:
    return Position(
        product_id="BTC-USD",
        size=Decimal("0.00012345"),
        avg_entry_price=Decimal("91234.56"),
        opened_at=T0,
        entry_fees=Decimal("0.0675"),
        high_watermark=Decimal("91300.01"),
    )


def open_order() -> Order:
    return Order(
        client_order_id="c-1",
        product_id="ETH-USD",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        status=OrderStatus.OPEN,
        created_at=T0,
        base_size=Decimal("0.0100"),
        limit_price=Decimal("3012.34"),
    )


def busy_state() -> PortfolioState:
    return roll_counters(PortfolioState(), T0).replace(
        positions={"BTC-USD": btc_position()},
        open_orders={"c-1": open_order()},
        trades_today=3,
        trades_this_hour=2,
        realized_pnl_today=Decimal("-1.2500"),
        cooldowns={"SOL-USD": T0 + timedelta(minutes=30)},
        paper_balances={"USD": Decimal("9876.54321")},
        seen_fill_ids=("f-1", "f-2"),
        last_cycle_id="20261124T2355Z",
        last_cycle_at=T0,
        cursors={"fills": "abc"},
        dust={"XRP-USD": Decimal("0.00000042")},
        cancel_requested={"c-1": T0},
        regime=RegimeMemory("trending_down", T0 - timedelta(hours=20), T0 - timedelta(minutes=5)),
    )


def snapshot(aws) -> list:
    return sorted(aws.all_items(), key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def test_load_when_table_empty_then_fresh_state_at_version_zero(aws):
    assert store_for(aws).load() == PortfolioState()


def test_save_then_load_when_fresh_store_then_every_field_reads_back_exactly(aws, lock):
    lease = lock.acquire("req-1", T0, 600)
    state = busy_state()

    saved = store_for(aws).save(state, lease)
    loaded = DynamoStateStore(aws.table, client=aws.dynamodb).load()

    assert saved.version == 1
    assert loaded == state.replace(version=1)
    assert loaded.positions["BTC-USD"].size == Decimal("0.00012345")


def test_load_when_the_state_item_predates_the_regime_then_it_loads_without_one(aws, lock):
    # a state saved before the regime's memory existed: its body has no "regime" key
    lease = lock.acquire("req-1", T0, 600)
    store_for(aws).save(busy_state(), lease)
    head = aws.dynamodb.get_item(TableName=aws.table, Key={"pk": {"S": PK}, "sk": {"S": "STATE"}})[
        "Item"
    ]
    assert "regime" in head["body"]["M"]
    del head["body"]["M"]["regime"]
    aws.dynamodb.put_item(TableName=aws.table, Item=head)

    loaded = DynamoStateStore(aws.table, client=aws.dynamodb).load()

    assert loaded.regime is None
    assert loaded == busy_state().replace(version=1, regime=None)


def test_save_when_version_moved_then_conflict_and_items_unchanged(aws, lock):
    lease = lock.acquire("req-1", T0, 600)
    first_reader = store_for(aws)
    second_reader = store_for(aws)
    base = first_reader.save(busy_state(), lease)
    stale = second_reader.load()
    first_reader.save(base.replace(trades_today=4), lease)  # version 1 -> 2
    before = snapshot(aws)

    with pytest.raises(StateConflict, match="version 1"):
        second_reader.save(stale.replace(positions={}, trades_today=9), lease)

    assert snapshot(aws) == before


def test_save_when_lease_taken_over_then_stale_holder_conflicts_and_items_unchanged(aws, lock):
    stale_lease = lock.acquire("req-1", T0, 600)
    store = store_for(aws)
    state = store.save(busy_state(), stale_lease)
    lock.acquire("req-2", T0 + timedelta(seconds=600), 600)  # lease expired; taken over
    before = snapshot(aws)

    with pytest.raises(StateConflict, match="fencing token 1"):
        store.save(state.replace(positions={}), stale_lease)

    assert snapshot(aws) == before


def test_save_when_new_holder_then_write_succeeds_and_stores_its_fence_token(aws, lock):
    lock.release(lock.acquire("req-1", T0, 600))
    lease = lock.acquire("req-2", T0, 600)  # token 2

    store_for(aws).save(busy_state(), lease)

    assert aws.item(PK, "STATE")["fence_token"] == {"N": "2"}


def test_save_when_day_and_hour_roll_over_then_new_counters_and_old_ones_kept_with_ttl(aws, lock):
    lease = lock.acquire("req-1", T0, 600)
    store = store_for(aws)
    saved = store.save(busy_state(), lease)  # 2026-11-24 23:xx, 3 trades today, 2 this hour

    next_cycle = roll_counters(store.load(), T0 + timedelta(minutes=10))  # 2026-11-25 00:05
    store.save(next_cycle.replace(trades_today=1, trades_this_hour=1), lease)
    loaded = store.load()

    assert saved.trades_today == 3
    assert (loaded.day, loaded.trades_today, loaded.trades_this_hour) == (date(2026, 11, 25), 1, 1)
    assert loaded.realized_pnl_today == Decimal(0)
    old_day = aws.item(PK, "COUNT#D#2026-11-24")
    assert old_day["trades"] == {"N": "3"}
    # day item lives 8 days past the start of its day: 2026-12-02T00:00Z
    assert old_day["ttl"] == {"N": str(calendar.timegm((2026, 12, 2, 0, 0, 0)))}
    # hour item lives 2 days past its hour start: 2026-11-27T00:00Z for the 00:00 hour
    new_hour = aws.item(PK, "COUNT#H#2026-11-25T00")
    assert new_hour["ttl"] == {"N": str(calendar.timegm((2026, 11, 27, 0, 0, 0)))}


def test_create_table_when_from_template_then_ttl_enabled_on_ttl_attribute(aws):
    description = aws.dynamodb.describe_time_to_live(TableName=aws.table)
    spec = description["TimeToLiveDescription"]

    assert (spec["TimeToLiveStatus"], spec["AttributeName"]) == ("ENABLED", "ttl")


def test_save_when_position_closed_then_its_item_is_deleted(aws, lock):
    lease = lock.acquire("req-1", T0, 600)
    store = store_for(aws)
    saved = store.save(busy_state(), lease)

    store.save(saved.replace(positions={}, open_orders={}), lease)

    assert aws.item(PK, "POS#BTC-USD") is None
    assert aws.item(PK, "ORDER#c-1") is None
    assert store_for(aws).load().positions == {}


def test_save_when_unchanged_items_then_only_state_item_is_written(aws, lock):
    lease = lock.acquire("req-1", T0, 600)
    store = store_for(aws)
    saved = store.save(busy_state(), lease)
    calls = []
    real = aws.dynamodb.transact_write_items

    class CountingClient:
        def __getattr__(self, name):
            return getattr(aws.dynamodb, name)

        def transact_write_items(self, **kwargs):
            calls.append(kwargs["TransactItems"])
            return real(**kwargs)

    counting = DynamoStateStore(aws.table, client=CountingClient())
    counting.load()
    counting.save(saved.replace(last_cycle_id="20261124T2400Z"), lease)

    # nothing but the STATE update and the fence check: positions/orders/counters unchanged
    assert [next(iter(action)) for action in calls[0]] == ["Update", "ConditionCheck"]


def test_save_when_operator_halted_during_cycle_then_cycle_saves_and_halt_survives(aws, lock):
    lease = lock.acquire("req-1", T0, 600)
    store = store_for(aws)
    store.save(busy_state(), lease)
    in_cycle = store.load()

    set_trading_state(aws.table, "HALTED", client=aws.dynamodb)
    store.save(in_cycle.replace(trades_today=4), lease)
    loaded = store_for(aws).load()

    assert (loaded.trading_state, loaded.trades_today) == (TradingState.HALTED, 4)


def test_save_when_cycle_halts_itself_then_trading_state_is_stored(aws, lock):
    lease = lock.acquire("req-1", T0, 600)
    store = store_for(aws)
    saved = store.save(busy_state(), lease)

    store.save(saved.replace(trading_state=TradingState.HALTED), lease)

    assert store_for(aws).load().trading_state is TradingState.HALTED


def test_load_when_operator_halted_before_first_cycle_then_fresh_state_is_halted(aws, lock):
    set_trading_state(aws.table, TradingState.HALTED, client=aws.dynamodb)
    store = store_for(aws)

    first = store.load()
    store.save(first.replace(last_cycle_id="x"), lock.acquire("req-1", T0, 600))

    assert (first.version, first.trading_state) == (0, TradingState.HALTED)
    assert store_for(aws).load().trading_state is TradingState.HALTED


def test_load_when_state_item_malformed_then_state_corrupt_and_item_untouched(aws):
    bad = {"pk": {"S": PK}, "sk": {"S": "STATE"}, "version": {"N": "3"}, "state_schema": {"N": "1"}}
    bad["trading_state"] = {"S": "ACTIVE"}
    bad["body"] = {"M": {"day": {"S": "not-a-date"}}}
    aws.dynamodb.put_item(TableName=aws.table, Item=bad)

    with pytest.raises(StateCorrupt, match="PORTFOLIO#default"):
        store_for(aws).load()

    assert aws.item(PK, "STATE") == bad


def test_set_trading_state_when_unknown_value_then_value_error_and_nothing_written(aws):
    with pytest.raises(ValueError, match="PAUSED"):
        set_trading_state(aws.table, "PAUSED", client=aws.dynamodb)

    assert aws.all_items() == []


def test_save_when_lock_item_deleted_and_token_restarts_then_older_token_is_refused(aws, lock):
    lock.release(lock.acquire("req-1", T0, 600))
    store = store_for(aws)
    saved = store.save(busy_state(), lock.acquire("req-2", T0, 600))  # token 2 stored
    aws.dynamodb.delete_item(
        TableName=aws.table, Key={"pk": {"S": "LOCK#cycle"}, "sk": {"S": "LOCK"}}
    )
    restarted = lock.acquire("req-3", T0, 600)  # counter starts again: token 1
    before = snapshot(aws)

    with pytest.raises(StateConflict):
        store.save(saved.replace(trades_today=7), restarted)

    assert restarted.token == 1
    assert snapshot(aws) == before


@pytest.mark.parametrize(("bad", "message"), BAD_STATES, ids=BAD_IDS)
def test_load_when_an_invariant_is_broken_then_state_corrupt_naming_the_field(aws, bad, message):
    plant_in_dynamo(aws.dynamodb, aws.table, bad)  # a save would refuse it
    items = aws.all_items()

    with pytest.raises(StateCorrupt, match=re.escape(message)):
        store_for(aws).load()

    assert aws.all_items() == items


@pytest.mark.parametrize(("bad", "message"), BAD_STATES, ids=BAD_IDS)
def test_save_when_an_invariant_is_broken_then_state_invalid_and_items_unchanged(
    aws, lock, bad, message
):
    lease = lock.acquire("cycle-a", T0, 600)
    store = store_for(aws)
    saved = store.save(busy_state(), lease)
    items = snapshot(aws)

    with pytest.raises(StateInvalid, match=re.escape(message)):
        store.save(bad.replace(version=saved.version), lease)

    assert snapshot(aws) == items
    assert store_for(aws).load() == saved
