"""Portfolio state on one DynamoDB table, as a few small items under one partition.

Items under pk = PORTFOLIO#<id>:
  sk STATE                 version, fence token, trading_state (operator-owned), the rest
  sk POS#<product>         one position
  sk ORDER#<client id>     one open order
  sk COUNT#D#<YYYY-MM-DD>  the day's trade count and realized PnL, with a TTL
  sk COUNT#H#<YYYY-MM-DDTHH> the hour's trade count, with a TTL

`load` is one strongly consistent Query. `save` is one TransactWriteItems holding only
the items that changed, a version check on STATE and (with a lease) a ConditionCheck
that the lock item still carries our owner and fencing token; any failed condition
cancels the whole transaction, so a conflict leaves every stored item as it was.

The cycle never overwrites trading_state unless it changed it itself (the max-drawdown
protection's REDUCING), so an operator's HALTED set while a cycle runs survives that cycle's
save (unless that very cycle tripped the protection: then its REDUCING is written).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from trader.adapters.aws.dynamo_lock import FENCE, OWNER, PK, SK, lock_item_key
from trader.domain.codec import from_jsonable, to_jsonable
from trader.domain.errors import StateConflict, StateCorrupt, StateError
from trader.domain.lease import LockLease
from trader.domain.models import ZERO, Order, Position, TradingState
from trader.domain.state import (
    STATE_SCHEMA_VERSION,
    PortfolioState,
    check_before_saving,
    check_state,
)

TTL_ATTRIBUTE = "ttl"
STATE_SK = "STATE"
DAY_COUNTER_TTL = timedelta(days=8)
HOUR_COUNTER_TTL = timedelta(days=2)
MAX_TRANSACTION_ITEMS = 100
# Fields kept in their own items (or as top-level attributes), not in the STATE body.
_SPLIT_FIELDS = frozenset(
    {"version", "trading_state", "positions", "open_orders"}
    | {"trades_today", "realized_pnl_today", "trades_this_hour"}
)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoStateStore:
    """`trader.ports.StateStore` on the table the template declares (pk/sk strings, TTL)."""

    def __init__(
        self,
        table_name: str,
        client: Any,
        portfolio_id: str = "default",
        lock_key: str = "LOCK#cycle",
    ) -> None:
        self._table = table_name
        self.client = client  # a boto3 DynamoDB client (trader.bootstrap.AwsClients)
        self._pk = f"PORTFOLIO#{portfolio_id}"
        self._lock_key = lock_item_key(lock_key)
        self._images: dict[str, dict[str, Any]] = {}  # sk -> item, as last read or written
        self._image_version: int | None = None
        self._loaded_trading_state: str | None = None

    def load(self) -> PortfolioState:
        items = self._query()
        try:
            state = _state_from_items(items)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise StateCorrupt(f"state items under {self._pk} cannot be read: {exc}") from exc
        self._remember(items, state.version)
        return state

    def save(self, state: PortfolioState, lease: LockLease | None) -> PortfolioState:
        check_before_saving(state)
        if self._image_version != state.version:
            self._remember(self._query(), state.version)
        saved = state.replace(version=state.version + 1)
        wanted = _items_for(saved)
        actions = self._changed_item_actions(wanted)
        actions.append(self._state_update(saved, wanted[STATE_SK], lease))
        if lease is not None:
            actions.append(self._fence_check(lease))
        if len(actions) > MAX_TRANSACTION_ITEMS:
            raise StateError(f"a save of {len(actions)} item writes exceeds one transaction")
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise StateConflict(_conflict_message(exc, state.version, lease)) from exc
            raise
        written = [{PK: self._pk, SK: sk, **item} for sk, item in wanted.items() if sk != STATE_SK]
        written.append({PK: self._pk, SK: STATE_SK, "trading_state": saved.trading_state.value})
        self._remember(written, saved.version)
        return saved

    def _query(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": {"S": self._pk}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**kwargs)
            items.extend(_plain(raw) for raw in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _remember(self, items: list[dict[str, Any]], version: int) -> None:
        head = next((item for item in items if item[SK] == STATE_SK), {})
        self._loaded_trading_state = head.get("trading_state")
        self._images = {
            item[SK]: {k: v for k, v in item.items() if k not in (PK, SK)}
            for item in items
            if item[SK] != STATE_SK
        }
        self._image_version = version

    def _changed_item_actions(self, wanted: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = []
        for sk, item in wanted.items():
            if sk != STATE_SK and _comparable(self._images.get(sk)) != _comparable(item):
                full = {PK: self._pk, SK: sk, **item}
                actions.append({"Put": {"TableName": self._table, "Item": _typed(full)}})
        for sk in self._images:
            if sk not in wanted and not sk.startswith("COUNT#"):
                key = _typed({PK: self._pk, SK: sk})
                actions.append({"Delete": {"TableName": self._table, "Key": key}})
        return actions

    def _state_update(
        self, saved: PortfolioState, item: dict[str, Any], lease: LockLease | None
    ) -> dict[str, Any]:
        names = {"#version": "version", "#body": "body", "#schema": "state_schema"}
        values: dict[str, Any] = {
            ":new": saved.version,
            ":body": item["body"],
            ":schema": STATE_SCHEMA_VERSION,
        }
        sets = ["#version = :new", "#body = :body", "#schema = :schema"]
        if lease is not None:
            names["#fence"] = FENCE
            values[":fence"] = lease.token
            sets.append("#fence = :fence")
        if self._loaded_trading_state != saved.trading_state.value:
            names["#ts"] = "trading_state"
            values[":ts"] = saved.trading_state.value
            sets.append("#ts = :ts")
        if saved.version == 1:
            condition = "attribute_not_exists(#version)"
        else:
            condition = "#version = :old"
            values[":old"] = saved.version - 1
        if lease is not None:  # a belt on the lock check: never go back to an older token
            condition += " AND (attribute_not_exists(#fence) OR #fence <= :fence)"
        return {
            "Update": {
                "TableName": self._table,
                "Key": _typed({PK: self._pk, SK: STATE_SK}),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": _typed(values),
            }
        }

    def _fence_check(self, lease: LockLease) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": self._lock_key,
                "ConditionExpression": "#owner = :owner AND #fence = :fence",
                "ExpressionAttributeNames": {"#owner": OWNER, "#fence": FENCE},
                "ExpressionAttributeValues": _typed({":owner": lease.owner, ":fence": lease.token}),
            }
        }


def set_trading_state(
    table_name: str,
    trading_state: TradingState | str,
    client: Any,
    portfolio_id: str = "default",
) -> TradingState:
    """The operator's switch: ACTIVE, REDUCING or HALTED, effective from the next cycle.

    Touches only the trading_state attribute (not the version), so a cycle running at
    the same moment still saves its own work and does not undo the switch. The same
    as `aws dynamodb update-item --table-name <table> --key
    '{"pk":{"S":"PORTFOLIO#default"},"sk":{"S":"STATE"}}' --update-expression
    'SET trading_state = :s' --expression-attribute-values '{":s":{"S":"HALTED"}}'`.
    """
    wanted = TradingState(trading_state)
    client.update_item(
        TableName=table_name,
        Key=_typed({PK: f"PORTFOLIO#{portfolio_id}", SK: STATE_SK}),
        UpdateExpression="SET #ts = :ts",
        ExpressionAttributeNames={"#ts": "trading_state"},
        ExpressionAttributeValues={":ts": {"S": wanted.value}},
    )
    return wanted


def _state_from_items(items: list[dict[str, Any]]) -> PortfolioState:
    by_sk = {item[SK]: item for item in items}
    head = by_sk.get(STATE_SK)
    if head is None:
        return PortfolioState()
    if "version" not in head:  # only an operator's trading_state so far
        return PortfolioState(trading_state=TradingState(head["trading_state"]))
    if int(head.get("state_schema", -1)) != STATE_SCHEMA_VERSION:
        raise ValueError(f"unsupported state_schema {head.get('state_schema')!r}")
    body = from_jsonable(PortfolioState, head["body"])
    positions = {
        sk.removeprefix("POS#"): from_jsonable(Position, item["data"])
        for sk, item in by_sk.items()
        if sk.startswith("POS#")
    }
    orders = {
        sk.removeprefix("ORDER#"): from_jsonable(Order, item["data"])
        for sk, item in by_sk.items()
        if sk.startswith("ORDER#")
    }
    day = by_sk.get(_day_sk(body.day)) if body.day else None
    hour = by_sk.get(_hour_sk(body.hour)) if body.hour else None
    state = body.replace(
        version=int(head["version"]),
        trading_state=TradingState(head["trading_state"]),
        positions=positions,
        open_orders=orders,
        trades_today=int(day["trades"]) if day else 0,
        realized_pnl_today=Decimal(day["realized_pnl"]) if day else ZERO,
        trades_this_hour=int(hour["trades"]) if hour else 0,
    )
    return check_state(state)


def _items_for(state: PortfolioState) -> dict[str, dict[str, Any]]:
    encoded = to_jsonable(state)
    items: dict[str, dict[str, Any]] = {
        STATE_SK: {"body": {k: v for k, v in encoded.items() if k not in _SPLIT_FIELDS}}
    }
    for product_id, position in encoded["positions"].items():
        items[f"POS#{product_id}"] = {"data": position}
    for client_id, order in encoded["open_orders"].items():
        items[f"ORDER#{client_id}"] = {"data": order}
    if state.day is not None:
        day_start = datetime(state.day.year, state.day.month, state.day.day, tzinfo=UTC)
        items[_day_sk(state.day)] = {
            "trades": state.trades_today,
            "realized_pnl": encoded["realized_pnl_today"],
            TTL_ATTRIBUTE: _epoch(day_start + DAY_COUNTER_TTL),
        }
    if state.hour is not None:
        items[_hour_sk(state.hour)] = {
            "trades": state.trades_this_hour,
            TTL_ATTRIBUTE: _epoch(state.hour + HOUR_COUNTER_TTL),
        }
    return items


def _day_sk(day: date) -> str:
    return f"COUNT#D#{day.isoformat()}"


def _hour_sk(hour: datetime) -> str:
    return f"COUNT#H#{hour.astimezone(UTC).strftime('%Y-%m-%dT%H')}"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _typed(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _comparable(item: dict[str, Any] | None) -> Any:
    """Items as read back (numbers are Decimal) and as built (ints) compare equal."""
    return None if item is None else _typed(item)


def _conflict_message(exc: ClientError, version: int, lease: LockLease | None) -> str:
    reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
    fence = "" if lease is None else f" or fencing token {lease.token} was superseded"
    return f"state changed since version {version} was read{fence} (reasons: {reasons})"
