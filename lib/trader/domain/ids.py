"""Deterministic identifiers: a retried cycle gets the same ids, so it can never order twice."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from trader.domain.models import Side

_NAMESPACE = uuid.UUID("6f1c4a8e-2d47-4b1e-9a47-247247247247")
_CYCLE_ID = re.compile(r"([0-9]{1,4})([0-9]{4}T[0-9]{4}Z)", re.ASCII)
# Two-digit fields written and read by table: a format spec ({:02d}) or int() costs more
# than the rest of an id together, and every cycle writes one id and reads one.
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))
_TWO_DIGIT_VALUES = {text: n for n, text in enumerate(_TWO_DIGITS)}


def floor_time(moment: datetime, interval_seconds: int) -> datetime:
    """`moment` floored to a multiple of the interval since the epoch (UTC)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: cycle times must be UTC-aware")
    seconds = int(moment.timestamp()) // interval_seconds * interval_seconds
    return datetime.fromtimestamp(seconds, UTC)


def cycle_id_for(scheduled: datetime, interval_seconds: int) -> str:
    """The cycle id of a scheduled time, e.g. 2026-11-24T04:05:00Z -> '20261124T0405Z'.

    The year is zero-padded to four digits (strftime's %Y is not, below 1000), so ids sort as
    their times do; ValueError or OverflowError when the floored time leaves years 1-9999."""
    return cycle_id_at(floor_time(scheduled, interval_seconds))


def cycle_id_at(start: datetime) -> str:
    """The id of the cycle starting at `start`, a UTC time on its interval (what floor_time
    gives: a replay steps its clock onto those, and need not floor them again). Its time is
    kept for `cycle_time`, which reads each new id once or twice (its cycle and the next)."""
    year, two = start.year, _TWO_DIGITS
    padded = str(year) if year >= 1000 else f"{year:04d}"
    cycle_id = f"{padded}{two[start.month]}{two[start.day]}T{two[start.hour]}{two[start.minute]}Z"
    if start.second == 0 and start.microsecond == 0 and start.tzinfo is UTC:
        _remember(cycle_id, start)  # the time the id reads back as (a minute, in UTC)
    return cycle_id


# cycle_time's answers: each id made or read lately (a cycle reads its own id and the last)
_TIMES: dict[str, datetime] = {}
_TIMES_KEPT = 8


def _remember(cycle_id: str, start: datetime) -> datetime:
    if len(_TIMES) >= _TIMES_KEPT:
        _TIMES.clear()
    _TIMES[cycle_id] = start
    return start


def cycle_time(cycle_id: str) -> datetime:
    """The start of the cycle an id names: cycle_id_for's inverse. ValueError if not an id.

    Also reads the unpadded ids of years below 1000 that older versions wrote ('9990601T0000Z'
    is 0999-06-01), so a state holding one compares as the past it is, not the far future."""
    known = _TIMES.get(cycle_id)
    return known if known is not None else _remember(cycle_id, _read_cycle_id(cycle_id))


def _read_cycle_id(cycle_id: str) -> datetime:
    match = _CYCLE_ID.fullmatch(cycle_id)
    if match is None:
        raise ValueError(f"{cycle_id!r} is not a cycle id (YYYYMMDDTHHMMZ)")
    year, rest = match.groups()  # rest: MMDDTHHMMZ, each field two digits
    two = _TWO_DIGIT_VALUES
    return datetime(
        int(year), two[rest[0:2]], two[rest[2:4]], two[rest[5:7]], two[rest[7:9]], 0, 0, UTC
    )


def client_order_id(portfolio_id: str, cycle_id: str, product_id: str, side: Side, leg: int) -> str:
    """uuid5 of (portfolio, cycle, product, side, leg): same inputs, same id, on every retry."""
    key = f"{portfolio_id}|{cycle_id}|{product_id}|{side.value}|{leg}"
    return str(uuid.uuid5(_NAMESPACE, key))


def conversion_stem(portfolio_id: str, cycle_id: str) -> str:
    """uuid5 of (portfolio, cycle, "convert"): the stem of the cycle's conversion ids."""
    return str(uuid.uuid5(_NAMESPACE, f"{portfolio_id}|{cycle_id}|convert"))


def liquidation_leg_id(
    portfolio_id: str, request_id: str, currency: str, leg: int, size: Decimal
) -> str:
    """uuid5 of (portfolio, request, currency, leg, size): the client_order_id of a liquidation
    sell, or the client id of its conversion.

    The same request invoked again plans from the balances left, and the same leg of the same
    amount gets the same id, so a retry of an order whose outcome was lost is answered with the
    existing order. The size is part of the key because a retry can plan a currency again for
    a new amount under the same (currency, leg): BTC sold as `BTC.0`, then BTC received from an
    `XYZ-BTC` sale whose second leg failed is planned as `BTC.0` once more, and must not be
    taken for the filled order of the first run.
    """
    amount = format(size.normalize(), "f")  # 0.50 and 0.5 are the same amount
    key = f"{portfolio_id}|liquidation|{request_id}|{currency}|{leg}|{amount}"
    return str(uuid.uuid5(_NAMESPACE, key))
