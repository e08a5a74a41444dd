"""The persisted portfolio state and the pure transitions that roll its counters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from trader.domain.codec import from_jsonable, to_jsonable
from trader.domain.copying import quick_init, replaced
from trader.domain.errors import StateInvalid
from trader.domain.models import ZERO, ConversionStatus, Order, Position, TradingState

STATE_SCHEMA_VERSION = 1
SEEN_FILL_IDS_KEPT = 500


REGIME_NAMES = frozenset({"trending_up", "trending_down", "choppy", "volatile", "crash"})


@quick_init
@dataclass(frozen=True, slots=True)
class RegimeMemory:
    """The regime the last cycle settled on, kept so hysteresis and the minimum dwell work
    across stateless cycles (pipeline/regime.py)."""

    name: str  # one of REGIME_NAMES (never unknown: an unknown reading keeps the memory)
    since: datetime  # start of the bar the regime was entered on
    as_of: datetime  # start of the newest bar read

    @property
    def age(self) -> timedelta:
        return self.as_of - self.since


@quick_init
@dataclass(frozen=True, slots=True)
class PortfolioState:
    """Everything a cycle needs to remember. `version` increases by one with every save."""

    version: int = 0
    trading_state: TradingState = TradingState.ACTIVE
    positions: dict[str, Position] = field(default_factory=dict)
    open_orders: dict[str, Order] = field(default_factory=dict)  # by client_order_id
    day: date | None = None
    trades_today: int = 0
    realized_pnl_today: Decimal = ZERO
    hour: datetime | None = None  # start of the UTC hour the hourly counter belongs to
    trades_this_hour: int = 0
    realized_pnl_total: Decimal = ZERO
    fees_total: Decimal = ZERO
    cooldowns: dict[str, datetime] = field(default_factory=dict)  # product -> no entry before
    paper_balances: dict[str, Decimal] = field(default_factory=dict)  # PAPER mode's account
    # product -> base an exit could not sell (below one base increment), off the book but
    # still on the exchange; the next buy of the product takes it back into its position.
    dust: dict[str, Decimal] = field(default_factory=dict)
    seen_fill_ids: tuple[str, ...] = ()
    last_cycle_id: str | None = None
    last_cycle_at: datetime | None = None
    cursors: dict[str, str] = field(default_factory=dict)  # e.g. "fills": the account's fills read
    held_currencies: tuple[str, ...] = ()  # every base currency the bot has held: reconciled
    unbooked: dict[str, Decimal] = field(default_factory=dict)  # held outside the positions
    external_pnl_total: Decimal = ZERO  # PnL of base that left positions outside the bot
    peak_equity: Decimal = ZERO  # highest equity a cycle has valued (0: none yet)
    # Set when the max-drawdown protection moved trading to REDUCING; an ACTIVE seen while it
    # is set is the operator's release (pipeline.protections).
    drawdown_tripped_at: datetime | None = None
    # client_order_id -> when this bot first asked to cancel it to let an exit out; from the
    # next cycle on that order no longer holds the exit back (pipeline.exits.exit_blockers)
    cancel_requested: dict[str, datetime] = field(default_factory=dict)
    # conversion client id -> its status, written ahead: a retried cycle never converts twice
    conversions: dict[str, ConversionStatus] = field(default_factory=dict)
    regime: RegimeMemory | None = None  # None: no regime read yet (or a state from before it)

    def replace(self, **changes: Any) -> PortfolioState:
        return replaced(self, **changes)


def roll_counters(state: PortfolioState, now: datetime) -> PortfolioState:
    """Reset the daily counters at 00:00 UTC and the hourly counter at the top of each hour."""
    now = now.astimezone(UTC)
    today = now.date()
    changes: dict[str, Any] = {}
    if state.day != today:
        changes.update(day=today, trades_today=0, realized_pnl_today=ZERO)
    if not in_hour(state.hour, now):
        changes.update(hour=hour_start(now), trades_this_hour=0)
    return state.replace(**changes) if changes else state


_HOUR = timedelta(hours=1)
_NO_TIME = timedelta(0)


def in_hour(hour: datetime | None, now: datetime) -> bool:
    """`hour == hour_start(now)` for a UTC `now`, without making the hour's start (the
    datetime costs some 10,000 instructions, every cycle) when `hour` is a UTC hour's start,
    as every saved state's is: then it is whether `now` falls in the hour it starts."""
    if hour is None or hour.tzinfo is not UTC or hour.minute or hour.second or hour.microsecond:
        return hour == hour_start(now)
    return _NO_TIME <= now - hour < _HOUR


def expire_cooldowns(state: PortfolioState, now: datetime) -> PortfolioState:
    live = {pid: until for pid, until in state.cooldowns.items() if until > now}
    return state if len(live) == len(state.cooldowns) else state.replace(cooldowns=live)


def hour_start(moment: datetime) -> datetime:
    """The start of the hour `moment` falls in (the hourly trade counter's key)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def state_to_dict(state: PortfolioState) -> dict[str, Any]:
    return {"schema_version": STATE_SCHEMA_VERSION, **to_jsonable(state)}


def state_from_dict(data: dict[str, Any]) -> PortfolioState:
    """Raises ValueError/TypeError/KeyError on malformed input or a broken invariant
    (check_state); stores wrap that in StateCorrupt."""
    return check_state(decode_state(data))


def decode_state(data: dict[str, Any]) -> PortfolioState:
    """The state as written, invariants unchecked (a save's round trip)."""
    if not isinstance(data, dict):
        raise TypeError(f"state must be a JSON object, got {type(data).__name__}")
    schema = data.get("schema_version")
    if schema != STATE_SCHEMA_VERSION:
        raise ValueError(f"unsupported state schema_version {schema!r}")
    body = {k: v for k, v in data.items() if k != "schema_version"}
    return from_jsonable(PortfolioState, body)


# Amounts that may be negative (they must still be finite), and prices that must be positive;
# every other Decimal of the state is a size, balance or fee: finite and not negative.
_SIGNED = frozenset({"realized_pnl_today", "realized_pnl_total", "external_pnl_total"})
_POSITIVE = frozenset({"avg_entry_price", "limit_price", "price"})
_KEYED_BY = {"positions": "product_id", "open_orders": "client_order_id"}


def check_state(state: PortfolioState) -> PortfolioState:
    """`state` when its invariants hold, else ValueError naming the field and its value, e.g.
    `positions.BTC-USD.size: NaN` (the stores report it as StateCorrupt).

    A NaN paper balance made phantom orders, a price of 0 divided by zero, an infinite size
    crashed the summary: a state that breaks them is refused when read, never traded on."""
    _check_fields(state, "")
    if state.regime is not None:
        _check_regime(state.regime)
    return state


def _check_regime(memory: RegimeMemory) -> None:
    if memory.name not in REGIME_NAMES:
        raise ValueError(f"regime.name: {memory.name!r} is not one of {sorted(REGIME_NAMES)}")
    if memory.since > memory.as_of:
        raise ValueError(f"regime.since: {memory.since} is after regime.as_of {memory.as_of}")


def check_before_saving(state: PortfolioState) -> PortfolioState:
    """`state` when the next load will read it, else StateInvalid naming the field; the
    stores call it before writing. A value the load refuses (a fill at price 0 read from the
    exchange, booked, saved) would otherwise stop every cycle after it with StateCorrupt."""
    try:
        return check_state(state)
    except ValueError as exc:
        raise StateInvalid(f"state not saved, it would not load again: {exc}") from None


def _check_fields(value: Any, path: str) -> None:
    for f in dataclasses.fields(value):
        _check(f.name, getattr(value, f.name), f"{path}{f.name}")


def _check(name: str, value: Any, path: str) -> None:
    if isinstance(value, Decimal):
        _check_amount(name, value, path)
    elif isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{path}: {value} must not be negative")
    elif dataclasses.is_dataclass(value):
        _check_fields(value, f"{path}.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_key(name, key, item, f"{path}.{key}")
            _check(name, item, f"{path}.{key}")
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            _check(name, item, f"{path}.{index}")


def _check_amount(name: str, value: Decimal, path: str) -> None:
    if not value.is_finite():
        raise ValueError(f"{path}: {value}")
    if name in _POSITIVE and value <= 0:
        raise ValueError(f"{path}: {value} must be positive")
    if name not in _SIGNED and value < 0:
        raise ValueError(f"{path}: {value} must not be negative")


def _check_key(name: str, key: str, item: Any, path: str) -> None:
    field_name = _KEYED_BY.get(name)
    if field_name is not None and getattr(item, field_name) != key:
        raise ValueError(f"{path}: holds {field_name} {getattr(item, field_name)!r}")
