"""Domain values -> the JSON shapes Coinbase Advanced Trade sends (numbers as strings)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from trader.domain.models import (
    ZERO,
    Balance,
    Candle,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Product,
    Quote,
)


def s(value: Decimal) -> str:
    return format(value, "f")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def product_json(p: Product, alias: str = "", alias_to: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "product_id": p.product_id,
        "price": s(p.price),
        "price_percentage_change_24h": s(p.price_change_24h_pct or ZERO),
        "volume_24h": s((p.volume_24h_quote / p.price).quantize(Decimal("0.01")))
        if p.price
        else "0",
        "volume_percentage_change_24h": "0",
        "approximate_quote_24h_volume": s(p.volume_24h_quote),
        "base_increment": s(p.base_increment),
        "quote_increment": s(p.quote_increment),
        "price_increment": s(p.tick),
        "base_min_size": s(p.base_min_size),
        "base_max_size": s(p.base_max_size),
        "quote_min_size": s(p.quote_min_size),
        "quote_max_size": s(p.quote_max_size),
        "status": p.status,
        "is_disabled": p.disabled,
        "trading_disabled": p.trading_disabled,
        "cancel_only": p.cancel_only,
        "limit_only": p.limit_only,
        "post_only": p.post_only,
        "auction_mode": p.auction_mode,
        "view_only": p.view_only,
        "product_type": "SPOT",
        "base_currency_id": p.base_currency,
        "quote_currency_id": p.quote_currency,
        "base_display_symbol": p.base_currency,
        "quote_display_symbol": "USD" if p.quote_currency == "USDC" else p.quote_currency,
        "alias": alias,
        "alias_to": list(alias_to),
        "display_name": p.product_id,
        "product_venue": "CBE",
    }


def products_json(products: list[Product]) -> list[dict[str, Any]]:
    """Each product, and for a USD one its USDC twin: the same book under another id
    (reference: unified USD/USDC books; `BTC-USDC` says `alias: "BTC-USD"`)."""
    items: list[dict[str, Any]] = []
    for p in products:
        if p.quote_currency != "USD":
            items.append(product_json(p))
            continue
        twin = f"{p.base_currency}-USDC"
        items.append(product_json(p, alias_to=(twin,)))
        usdc = dataclasses.replace(p, product_id=twin, quote_currency="USDC")
        items.append(product_json(usdc, alias=p.product_id))
    return items


def pricebook_json(q: Quote) -> dict[str, Any]:
    return {
        "product_id": q.product_id,
        "bids": [{"price": s(q.bid), "size": s(q.bid_size or Decimal(10))}],
        "asks": [{"price": s(q.ask), "size": s(q.ask_size or Decimal(10))}],
        "time": iso(q.time),
    }


def candle_json(c: Candle) -> dict[str, Any]:
    return {
        "start": str(int(c.start.timestamp())),
        "low": s(c.low),
        "high": s(c.high),
        "open": s(c.open),
        "close": s(c.close),
        "volume": s(c.volume),
    }


def account_json(b: Balance) -> dict[str, Any]:
    fiat = b.currency in {"USD", "EUR", "GBP"}
    return {
        "uuid": f"acct-{b.currency.lower()}",
        "name": f"{b.currency} Wallet",
        "currency": b.currency,
        "available_balance": {"value": s(b.available), "currency": b.currency},
        "hold": {"value": s(b.hold), "currency": b.currency},
        "default": True,
        "active": True,
        "type": "ACCOUNT_TYPE_FIAT" if fiat else "ACCOUNT_TYPE_CRYPTO",
        "ready": True,
        "retail_portfolio_id": "p-1",
        "platform": "ACCOUNT_PLATFORM_CONSUMER",
    }


_STATUS = {
    OrderStatus.OPEN: "OPEN",
    OrderStatus.PENDING: "PENDING",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.REJECTED: "FAILED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.UNKNOWN: "UNKNOWN_ORDER_STATUS",
}


def quote_sized(o: Order) -> bool:
    """A market buy by quote_size: Coinbase reports it `size_in_quote` [reference §6.3]."""
    return o.order_type is OrderType.MARKET and o.quote_size is not None


def order_json(o: Order, configuration: dict[str, Any], hold: Decimal = ZERO) -> dict[str, Any]:
    """GET /orders/historical/{id} `order` [reference §6.3 and "Shapes for a fake server"].

    `filled_size` in base, `filled_value` in quote without fees, `total_fees`; the fees are
    added to what a buy pays and taken from what a sell receives (`total_value_after_fees`).
    A quote-sized buy is `size_in_quote` and `size_inclusive_of_fees`: its fee came out of
    quote_size, so filled_value + total_fees = quote_size. `hold` is what the order still
    keeps on hold (`outstanding_hold_amount`).
    """
    filled_value = sum((f.price * f.size for f in o.fills), ZERO)
    after_fees = (
        filled_value + o.total_fees if o.side.value == "BUY" else filled_value - o.total_fees
    )
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "product_id": o.product_id,
        "user_id": "u-1",
        "side": o.side.value,
        "status": _STATUS[o.status],
        "order_type": o.order_type.value,
        "time_in_force": "GOOD_UNTIL_CANCELLED"
        if o.order_type is OrderType.LIMIT
        else "IMMEDIATE_OR_CANCEL",
        "created_time": iso(o.created_at),
        "completion_percentage": "100" if o.status is OrderStatus.FILLED else "0",
        "filled_size": s(o.filled_size),
        "average_filled_price": s(o.average_filled_price),
        "filled_value": s(filled_value),
        "total_fees": s(o.total_fees),
        "total_value_after_fees": s(after_fees),
        "number_of_fills": str(len(o.fills)),
        "size_in_quote": quote_sized(o),
        "size_inclusive_of_fees": quote_sized(o),
        "outstanding_hold_amount": s(hold),
        "pending_cancel": False,
        "settled": o.status.is_final,
        "order_configuration": configuration,
        "product_type": "SPOT",
        "reject_reason": o.failure_reason or "",
    }


def fill_json(f: Fill, in_quote: bool = False) -> dict[str, Any]:
    """GET /orders/historical/fills, one fill [reference §6.3].

    A fill of a quote-sized order (`in_quote`) reports `size` in QUOTE units, the value
    bought without the commission (size = price * base), and says `size_in_quote: true`.
    """
    return {
        "entry_id": f.fill_id,
        "trade_id": f"t-{f.fill_id}",
        "order_id": f.order_id,
        "trade_time": iso(f.time),
        "trade_type": "FILL",
        "price": s(f.price),
        "size": s(f.price * f.size if in_quote else f.size),
        "commission": s(f.fee),
        "product_id": f.product_id,
        "sequence_timestamp": iso(f.time),
        "liquidity_indicator": f.liquidity,
        "size_in_quote": in_quote,
        "user_id": "u-1",
        "side": f.side.value,
    }


def error_json(code: str, message: str) -> dict[str, Any]:
    return {"error": code, "error_details": message, "message": message}


def preview_json(
    order: Order | None, quote: Quote | None, preview_id: str, errs: list[str], fee: Decimal
) -> dict[str, Any]:
    """POST /orders/preview: what the order would cost; `errs` empty when it would go through.

    For a fill: base_size and quote_size are what fills, commission_total the fee, and
    order_total the quote that changes hands net of it (a buy pays notional + fee, a sell
    receives notional - fee). A resting limit order is priced at its limit as maker.
    """
    base = price = ZERO
    if order is not None and order.fills:
        base = sum((f.size for f in order.fills), ZERO)
        price = order.fills[-1].price
    elif order is not None:
        base, price = order.base_size or ZERO, order.limit_price or ZERO
    notional = base * price
    buy = order is not None and order.side.value == "BUY"
    body: dict[str, Any] = {
        "order_total": s(notional + fee if buy else notional - fee),
        "commission_total": s(fee),
        "errs": errs,
        "warning": [],
        "base_size": s(base),
        "quote_size": s(notional),
        "best_bid": s(quote.bid) if quote else "0",
        "best_ask": s(quote.ask) if quote else "0",
        "is_max": False,
        "slippage": "0",
        "preview_id": preview_id,
    }
    if errs:
        body["preview_failure_reason"] = errs[0]
    return body
