"""Order requests and create answers: PlannedOrder -> Coinbase body, and what the answer means."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from trader.adapters.coinbase.errors import MalformedResponse
from trader.domain.errors import ExchangeError, OrderRejected
from trader.domain.models import Order, OrderStatus, OrderType, PlannedOrder, Side

DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"


class ClientOrderIdConflict(ExchangeError):
    """The exchange holds a different order under our client_order_id."""


def _f(value: Decimal) -> str:
    return format(value, "f")


def order_configuration(order: PlannedOrder) -> dict[str, Any]:
    """The `order_configuration` body; refuses (OrderRejected, nothing sent) an incomplete plan."""
    if not order.client_order_id:
        # The SDK would silently invent a random id, and a retry could then order twice.
        raise OrderRejected(f"{order.product_id}: empty client_order_id", "INVALID_ORDER_REQUEST")
    if order.order_type is OrderType.LIMIT:
        if not order.base_size or not order.limit_price:
            raise _incomplete(order, "a limit order needs base_size and limit_price")
        return {
            "limit_limit_gtc": {
                "base_size": _f(order.base_size),
                "limit_price": _f(order.limit_price),
                "post_only": order.post_only,
            }
        }
    if order.side is Side.BUY and order.quote_size:
        return {"market_market_ioc": {"quote_size": _f(order.quote_size)}}
    if order.base_size:
        return {"market_market_ioc": {"base_size": _f(order.base_size)}}
    raise _incomplete(order, "a market buy needs quote_size, a market sell base_size")


def accepted_order(order: PlannedOrder, body: Mapping[str, Any], now: datetime) -> Order:
    """The OPEN order for a `success: true` answer (accepted, not necessarily filled)."""
    success = body.get("success_response")
    success = success if isinstance(success, Mapping) else {}
    order_id = success.get("order_id") or body.get("order_id")
    if not order_id:
        raise MalformedResponse(f"create_order {order.client_order_id}: success without order_id")
    for key, wanted in (("product_id", order.venue_id), ("side", order.side.value)):
        got = success.get(key)
        if got and got != wanted:
            raise ClientOrderIdConflict(
                f"client_order_id {order.client_order_id} belongs to an order with "
                f"{key}={got!r}, not {wanted!r}"
            )
    return Order.from_planned(order, OrderStatus.OPEN, now, order_id=str(order_id))


def failure_reason(body: Mapping[str, Any]) -> tuple[str, str]:
    """(reason, message) of a `success: false` answer, most specific field first."""
    err = body.get("error_response")
    err = err if isinstance(err, Mapping) else {}
    candidates = (
        err.get("new_order_failure_reason"),
        err.get("preview_failure_reason"),
        err.get("error"),
        body.get("failure_reason"),
    )
    reason = next(
        (
            str(c)
            for c in candidates
            if c and "UNKNOWN" not in str(c) and "UNSPECIFIED" not in str(c)
        ),
        str(body.get("failure_reason") or "UNKNOWN_FAILURE_REASON"),
    )
    message = str(err.get("message") or err.get("error_details") or "")[:200]
    return reason, message


def rejection(order: PlannedOrder, reason: str, message: str) -> OrderRejected:
    return OrderRejected(
        f"{order.product_id} {order.side.value} {order.client_order_id} rejected: {reason}"
        + (f" ({message})" if message else ""),
        reason,
    )


def _incomplete(order: PlannedOrder, why: str) -> OrderRejected:
    return OrderRejected(
        f"{order.product_id} {order.client_order_id}: {why}; not sent", "INVALID_ORDER_REQUEST"
    )


def preview_verdict(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(reason, message) when a preview answer says the order would fail; None when clean.

    Failing previews list reasons in `errs` (strings, or objects in some SDK versions) and
    may name one in `preview_failure_reason` or an `error_response`; any of them dooms it.
    """
    errs = body.get("errs")
    if errs is not None and not isinstance(errs, list):
        raise MalformedResponse("preview_order: field 'errs' is not a list")
    reasons = [_err_reason(e) for e in errs or []]
    err = body.get("error_response")
    err = err if isinstance(err, Mapping) else {}
    for named in (
        body.get("preview_failure_reason"),
        err.get("preview_failure_reason"),
        err.get("error"),
    ):
        if named and _specific(str(named)) and str(named) not in reasons:
            reasons.append(str(named))
    if not reasons and body.get("success") is False:
        reasons.append(failure_reason(body)[0])
    if not reasons:
        return None
    specific = [r for r in reasons if _specific(r)] or reasons
    message = str(err.get("message") or "") or ", ".join(reasons)
    return specific[0], f"preview: {message[:200]}"


def preview_id(body: Mapping[str, Any]) -> str | None:
    """The id a clean preview hands out for the create to quote back, if any."""
    value = body.get("preview_id")
    return str(value) if value else None


def _specific(reason: str) -> bool:
    return "UNKNOWN" not in reason and "UNSPECIFIED" not in reason


def _err_reason(item: Any) -> str:
    if isinstance(item, Mapping):
        for key in ("preview_failure_reason", "reason", "error", "message"):
            if item.get(key):
                return str(item[key])
    return str(item)
