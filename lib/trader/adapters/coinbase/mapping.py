"""Coinbase response dicts -> domain values. Every bad field raises MalformedResponse naming it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from trader.adapters.coinbase.errors import MalformedResponse
from trader.domain.fills import fills_mismatch
from trader.domain.models import (
    ZERO,
    Balance,
    Candle,
    FeeRates,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Product,
    Quote,
    Side,
)

# Coinbase's numbers lie far inside these bounds (24h volumes in base units reach about
# 10**14; increments and prices go down to 10**-8). Beyond them an amount quantized to an
# increment no longer fits Decimal's 28 digits, or a division overflows: a balance of 10**30
# ended every cycle in exception:InvalidOperation, a fill priced 1E-999999 in Overflow.
MAX_MAGNITUDE = Decimal(10**18)
MIN_MAGNITUDE = Decimal(10) ** -18
_STATUS = {
    "PENDING": OrderStatus.OPEN,
    "QUEUED": OrderStatus.OPEN,
    "OPEN": OrderStatus.OPEN,
    "CANCEL_QUEUED": OrderStatus.OPEN,
    "EDIT_QUEUED": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.EXPIRED,
    "FAILED": OrderStatus.REJECTED,
    "UNKNOWN_ORDER_STATUS": OrderStatus.UNKNOWN,
}


def dec(data: Mapping[str, Any], key: str, where: str, default: Decimal | None = None) -> Decimal:
    """A Decimal field; '' or missing gives `default` when one is allowed."""
    raw = data.get(key)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise MalformedResponse(f"{where}: field {key!r} is missing")
    if isinstance(raw, float | bool):
        raw = str(raw) if isinstance(raw, float) else None
    try:
        value = Decimal(str(raw).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        raise MalformedResponse(
            f"{where}: field {key!r} is not a number: {str(raw)[:40]!r}"
        ) from None
    if not value.is_finite():
        raise MalformedResponse(f"{where}: field {key!r} is not finite")
    if abs(value) >= MAX_MAGNITUDE or 0 < abs(value) < MIN_MAGNITUDE:
        raise MalformedResponse(f"{where}: field {key!r} is out of range: {str(raw)[:40]!r}")
    return value


def amount(
    data: Mapping[str, Any], key: str, where: str, default: Decimal | None = None
) -> Decimal:
    """A Decimal that is never negative: a size, a price, a fee, a balance. A negative one
    booked into the state would fail its invariants on the next load (StateCorrupt: every
    cycle after it stopped)."""
    value = dec(data, key, where, default)
    if value < 0:
        raise MalformedResponse(f"{where}: field {key!r} is negative: {str(value)[:40]}")
    return value


def positive(data: Mapping[str, Any], key: str, where: str) -> Decimal:
    """A Decimal above zero: an increment (rounding divides by it), a fill's or a limit
    order's price (the state refuses a price of 0 when it is read back)."""
    value = dec(data, key, where)
    if value <= 0:
        raise MalformedResponse(f"{where}: field {key!r} is not positive: {str(value)[:40]}")
    return value


def text(data: Mapping[str, Any], key: str, where: str) -> str:
    raw = data.get(key)
    if not isinstance(raw, str) or not raw:
        raise MalformedResponse(f"{where}: field {key!r} is missing or not a string")
    return raw


def timestamp(raw: Any, where: str) -> datetime:
    """RFC3339 text or unix seconds -> aware UTC datetime."""
    try:
        if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
            return datetime.fromtimestamp(int(raw), tz=UTC)
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise MalformedResponse(f"{where}: bad time {str(raw)[:40]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def product_from(data: Mapping[str, Any]) -> Product:
    pid = text(data, "product_id", "product")
    where = f"product {pid}"
    price_increment = data.get("price_increment")
    return Product(
        product_id=pid,
        base_currency=str(data.get("base_currency_id") or pid.split("-")[0]),
        quote_currency=str(data.get("quote_currency_id") or pid.split("-")[-1]),
        base_increment=positive(data, "base_increment", where),
        quote_increment=positive(data, "quote_increment", where),
        base_min_size=dec(data, "base_min_size", where, ZERO),
        base_max_size=dec(data, "base_max_size", where, Decimal("Infinity")),
        quote_min_size=dec(data, "quote_min_size", where, ZERO),
        quote_max_size=dec(data, "quote_max_size", where, Decimal("Infinity")),
        price_increment=positive(data, "price_increment", where) if price_increment else None,
        status=str(data.get("status") or "offline"),
        disabled=bool(data.get("is_disabled")),
        trading_disabled=bool(data.get("trading_disabled")),
        cancel_only=bool(data.get("cancel_only")),
        limit_only=bool(data.get("limit_only")),
        post_only=bool(data.get("post_only")),
        view_only=bool(data.get("view_only")),
        auction_mode=bool(data.get("auction_mode")),
        price=dec(data, "price", where, ZERO),
        volume_24h_quote=dec(data, "approximate_quote_24h_volume", where, ZERO),
        price_change_24h_pct=(
            dec(data, "price_percentage_change_24h", where)
            if data.get("price_percentage_change_24h") not in (None, "")
            else None
        ),
    )


def products_from(items: Iterable[Mapping[str, Any]], prefer_quote: str) -> list[Product]:
    """Spot products, one per USD/USDC alias pair: the one quoted in `prefer_quote` stays."""
    raw = [p for p in items if str(p.get("product_type") or "SPOT") == "SPOT"]
    listed = {str(p.get("product_id")) for p in raw}
    dropped: set[str] = set()
    aliases: dict[str, set[str]] = {}  # kept product -> the ids of its book it stands for
    for item in raw:
        pid, alias = str(item.get("product_id")), item.get("alias")
        if isinstance(alias, str) and alias in listed and alias != pid:
            keep_alias = pid.rsplit("-", 1)[-1] == prefer_quote
            kept, gone = (pid, str(alias)) if keep_alias else (str(alias), pid)
            dropped.add(gone)
            aliases.setdefault(kept, set()).add(gone)
    return [
        dataclasses.replace(product_from(p), aliases=tuple(sorted(aliases.get(pid, ()))))
        for p in raw
        if (pid := str(p.get("product_id"))) not in dropped
    ]


def quote_from(book: Mapping[str, Any]) -> Quote | None:
    """Best bid/ask of one pricebook; None when a side is empty (no two-sided market)."""
    pid = text(book, "product_id", "pricebook")
    where = f"pricebook {pid}"
    bids, asks = book.get("bids") or [], book.get("asks") or []
    if not isinstance(bids, list) or not isinstance(asks, list):
        raise MalformedResponse(f"{where}: bids/asks are not lists")
    if not bids or not asks:
        return None
    return Quote(
        product_id=pid,
        bid=dec(bids[0], "price", where),
        ask=dec(asks[0], "price", where),
        time=timestamp(book.get("time"), where),
        bid_size=dec(bids[0], "size", where, ZERO),
        ask_size=dec(asks[0], "size", where, ZERO),
    )


def candle_from(data: Mapping[str, Any], pid: str) -> Candle:
    where = f"candle {pid}"
    return Candle(
        start=timestamp(text(data, "start", where), where),
        open=dec(data, "open", where),
        high=dec(data, "high", where),
        low=dec(data, "low", where),
        close=dec(data, "close", where),
        volume=dec(data, "volume", where, ZERO),
    )


def balances_from(accounts: Iterable[Mapping[str, Any]]) -> dict[str, Balance]:
    """One Balance per currency, summing accounts; vaults (not tradable) are skipped."""
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for acct in accounts:
        if "VAULT" in str(acct.get("type") or "").upper():
            continue
        currency = text(acct, "currency", "account")
        where = f"account {currency}"
        available = amount(_money(acct, "available_balance", where), "value", where)
        hold = amount(_money(acct, "hold", where, required=False), "value", where, ZERO)
        prev_available, prev_hold = totals.get(currency, (ZERO, ZERO))
        totals[currency] = (prev_available + available, prev_hold + hold)
    return {cur: Balance(cur, avail, hold) for cur, (avail, hold) in totals.items()}


def account_ids_from(accounts: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Currency -> the uuid of its trading account (what Convert calls from/to_account)."""
    return {
        str(acct["currency"]): str(acct["uuid"])
        for acct in accounts
        if acct.get("uuid")
        and acct.get("currency")
        and "VAULT" not in str(acct.get("type") or "").upper()
    }


def fees_from(summary: Mapping[str, Any]) -> FeeRates:
    """Maker/taker rates as fractions (0.004 = 0.40 %), from the account's fee tier."""
    tier = summary.get("fee_tier")
    if not isinstance(tier, Mapping):
        raise MalformedResponse("transaction_summary: field 'fee_tier' is missing")
    where = "transaction_summary.fee_tier"
    rates = FeeRates(
        maker=amount(tier, "maker_fee_rate", where), taker=amount(tier, "taker_fee_rate", where)
    )
    if rates.maker >= 1 or rates.taker >= 1:  # fractions: 1 would be a fee of 100 %
        raise MalformedResponse(f"{where}: fee rates {rates.maker}, {rates.taker} are not below 1")
    return rates


def fill_from(data: Mapping[str, Any], client_order_id: str) -> Fill:
    """One fill, its size always in base units (see _base_size for quote-sized orders)."""
    where = "fill"
    liquidity = str(data.get("liquidity_indicator") or "TAKER")
    price = positive(data, "price", where)
    return Fill(
        fill_id=text(data, "entry_id", where),
        order_id=text(data, "order_id", where),
        client_order_id=client_order_id,
        product_id=text(data, "product_id", where),
        side=_side(data, where),
        price=price,
        size=_base_size(data, price, where),
        fee=amount(data, "commission", where, ZERO),
        time=timestamp(data.get("trade_time"), where),
        liquidity="MAKER" if liquidity == "MAKER" else "TAKER",
    )


def order_from(data: Mapping[str, Any], fills: Iterable[Fill] = ()) -> Order:
    """The order with its fills; `fills_mismatch` says when they do not add up to its totals.

    `filled_size` is in base units and `filled_value` in quote units without fees [reference
    §6.3], so the fills must sum to both; when they do not, the order is not settled yet.
    """
    order = _order_fields(data, fills)
    where = f"order {order.order_id}"
    reported_value = (
        dec(data, "filled_value", where) if data.get("filled_value") not in (None, "") else None
    )
    mismatch = fills_mismatch(order, reported_value)
    return dataclasses.replace(order, fills_mismatch=mismatch) if mismatch else order


def _order_fields(data: Mapping[str, Any], fills: Iterable[Fill]) -> Order:
    oid = text(data, "order_id", "order")
    where = f"order {oid}"
    config = _configuration(data.get("order_configuration"), where)
    status = _STATUS.get(str(data.get("status")), OrderStatus.UNKNOWN)
    reason = data.get("reject_reason") or data.get("cancel_message") or None
    return Order(
        client_order_id=text(data, "client_order_id", where),
        product_id=text(data, "product_id", where),
        side=_side(data, where),
        order_type=OrderType.LIMIT if "limit_price" in config else OrderType.MARKET,
        status=status,
        created_at=timestamp(data.get("created_time"), where),
        order_id=oid,
        base_size=amount(config, "base_size", where) if config.get("base_size") else None,
        quote_size=amount(config, "quote_size", where) if config.get("quote_size") else None,
        limit_price=positive(config, "limit_price", where) if config.get("limit_price") else None,
        filled_size=amount(data, "filled_size", where, ZERO),
        average_filled_price=amount(data, "average_filled_price", where, ZERO),
        total_fees=amount(data, "total_fees", where, ZERO),
        fills=tuple(sorted(fills, key=lambda f: (f.time, f.fill_id))),
        failure_reason=str(reason) if reason else None,
    )


def _base_size(data: Mapping[str, Any], price: Decimal, where: str) -> Decimal:
    """A fill's size in base units.

    Fills of a quote-sized order (a market buy by `quote_size`) carry `size_in_quote: true`
    and report `size` in QUOTE units [reference §6.3]: the value bought at `price`, fees
    excluded. The commission is charged on that value and, with `size_inclusive_of_fees`,
    comes out of the order's quote_size: sum(size) + sum(commission) = quote_size. So the
    base bought is size / price, kept at full Decimal precision (Coinbase does not round it
    to base_increment either), as ccxt's and hummingbot's Coinbase connectors read it.
    """
    size = amount(data, "size", where)
    if not _is_true(data.get("size_in_quote")):
        return size
    if price <= 0:
        raise MalformedResponse(f"{where}: quote-sized fill with price {price}")
    return size / price


def _is_true(raw: Any) -> bool:
    """A JSON true; the string "true" is read the same way, defensively."""
    return raw is True or (isinstance(raw, str) and raw.strip().lower() == "true")


def _configuration(raw: Any, where: str) -> Mapping[str, Any]:
    """The one inner config (e.g. market_market_ioc) of an order_configuration."""
    if not isinstance(raw, Mapping):
        raise MalformedResponse(f"{where}: field 'order_configuration' is missing")
    inner = [v for v in raw.values() if isinstance(v, Mapping)]
    if len(inner) != 1:
        raise MalformedResponse(f"{where}: order_configuration has {len(inner)} kinds, expected 1")
    return inner[0]


def _side(data: Mapping[str, Any], where: str) -> Side:
    try:
        return Side(str(data.get("side")))
    except ValueError:
        raise MalformedResponse(f"{where}: field 'side' is {data.get('side')!r}") from None


def _money(
    data: Mapping[str, Any], key: str, where: str, required: bool = True
) -> Mapping[str, Any]:
    raw = data.get(key)
    if isinstance(raw, Mapping):
        return raw
    if required:
        raise MalformedResponse(f"{where}: field {key!r} is missing")
    return {}
