"""Orders on Coinbase by client_order_id: create (idempotent), find, read with fills, cancel.

Coinbase has no lookup by client_order_id, so an order we did not create in this process
is found by listing recent orders; its order_id is remembered from then on.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from coinbase.rest import RESTClient

from trader.adapters.coinbase.errors import (
    RETRYABLE,
    AuthError,
    BadRequest,
    ExchangeUnavailable,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from trader.adapters.coinbase.mapping import fill_from, order_from
from trader.adapters.coinbase.order_requests import (
    DUPLICATE_CLIENT_ORDER_ID,
    accepted_order,
    failure_reason,
    order_configuration,
    preview_id,
    preview_verdict,
    rejection,
)
from trader.adapters.coinbase.pages import pages
from trader.adapters.coinbase.transport import Transport
from trader.domain.errors import ExchangeError, OrderRejected, OutcomeUnknown
from trader.domain.models import Fill, Order, PlannedOrder
from trader.ports import Clock

log = logging.getLogger(__name__)

# After sending a create, these leave us not knowing whether Coinbase accepted it.
AMBIGUOUS: tuple[type[ExchangeError], ...] = (RateLimited, ExchangeUnavailable, MalformedResponse)
MAX_PAGES = 20


_READS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="coinbase-order-read")


class OrderNotVisible(ExchangeUnavailable):
    """Coinbase gave us this order_id but does not show the order yet; ask again later."""


class OrderClient:
    """`preview`: ask POST /orders/preview before the first create of each order (see place)."""

    def __init__(
        self,
        client: RESTClient,
        io: Transport,
        clock: Clock,
        lookback: timedelta,
        *,
        preview: bool = False,
    ) -> None:
        self._client = client
        self._io = io
        self._clock = clock
        self._lookback = lookback
        self._preview_first = preview
        self._ids: dict[str, str] = {}  # client_order_id -> order_id
        self._planned: dict[str, PlannedOrder] = {}
        self._lock = threading.Lock()

    def place(self, order: PlannedOrder) -> Order:
        """Send; on a transient failure re-send with the same client_order_id (no 2nd order).

        With previews on, an order never sent before is previewed first: a doomed one is
        OrderRejected with Coinbase's reason and no create is sent; a clean one is created
        quoting its preview_id. A preview that fails transiently (timeout, 5xx, 429, bad
        body) does not block trading: a warning is logged and the order is created without
        it, where the create's own validation still applies. Re-sends never re-preview: the
        order may already exist (and have spent the funds a new preview would look for); a
        process that cannot know (it never sent this id) checks, before accepting a doomed
        preview, that no order carries the id (one list_orders, on that path only).
        """
        config = order_configuration(order)
        extra: dict[str, Any] = {}
        if self._preview_first and not self._seen(order.client_order_id):
            existing, extra = self._preview_new(order, config)
            if existing is not None:
                return existing
        with self._lock:
            self._planned[order.client_order_id] = order
        ambiguous: ExchangeError | None = None
        for attempt in range(self._io.retry.attempts):
            try:
                body = self._io.once(
                    "create_order",
                    self._client.create_order,
                    client_order_id=order.client_order_id,
                    product_id=order.venue_id,
                    side=order.side.value,
                    order_configuration=config,
                    **extra,
                )
                return self._answer(order, body, ambiguous)
            except AMBIGUOUS as err:
                ambiguous = err
                if attempt + 1 < self._io.retry.attempts:
                    self._io.backoff("create_order", attempt, err)
            except (OrderRejected, OutcomeUnknown):
                raise
            except ExchangeError as err:
                return self._refused(order, err, ambiguous)
        raise OutcomeUnknown(
            f"create {order.client_order_id} ({order.product_id} {order.side.value}): "
            f"no definite answer after {self._io.retry.attempts} attempts, last: {ambiguous}"
        ) from ambiguous

    def get(self, client_order_id: str, known_order_id: str | None = None) -> Order | None:
        """The order and its fills; None when Coinbase lists no order with this id.

        With an order_id (remembered, or passed in from the saved state) the order and its
        fills are read at the same time: one round trip instead of two.
        """
        with self._lock:
            order_id = self._ids.get(client_order_id) or known_order_id
        if order_id is None:
            data = self._find(client_order_id)
            if data is None:
                return None
            order_id = str(data.get("order_id"))
            fills = self._fills_or_none(order_id, client_order_id)
        else:
            fills_f = _READS.submit(self._fills_or_none, order_id, client_order_id)
            try:
                data = self._read(order_id)
            finally:
                fills = fills_f.result()  # never left running past this call
            self._remember(client_order_id, order_id)  # a later cancel needs no lookup
        # Fills that cannot be read leave the order without them: the cycle keeps it in
        # flight and, if they never come, books the rest from the order's own totals.
        order = order_from(data, fills or [])
        if order.fills_mismatch is not None:
            log.warning(
                "order %s (%s) not settled: %s",
                client_order_id,
                order.product_id,
                order.fills_mismatch,
            )
        planned = self._planned.get(client_order_id)
        return dataclasses.replace(order, intent=planned.intent) if planned else order

    def cancel(self, client_order_id: str) -> Order | None:
        """Ask Coinbase to cancel, then read the order back (it may have filled meanwhile)."""
        with self._lock:
            order_id = self._ids.get(client_order_id)
        if order_id is None:
            found = self._find(client_order_id)
            if found is None:
                return None
            order_id = str(found.get("order_id"))
        body = self._io.read("cancel_orders", self._client.cancel_orders, order_ids=[order_id])
        for result in body.get("results") or []:
            if isinstance(result, Mapping) and result.get("success") is False:
                log.info(
                    "cancel refused",
                    extra={
                        "client_order_id": client_order_id,
                        "reason": result.get("failure_reason"),
                    },
                )
        return self.get(client_order_id)

    # --- helpers ------------------------------------------------------------------------

    def _preview(self, order: PlannedOrder, config: dict[str, Any]) -> dict[str, Any]:
        """Extra create kwargs (the preview_id); raises OrderRejected when the order is doomed."""
        try:
            body = self._io.once(
                "preview_order",
                self._client.preview_order,
                product_id=order.venue_id,
                side=order.side.value,
                order_configuration=config,
            )
            verdict = preview_verdict(body)
        except AMBIGUOUS as err:  # no verdict: the create validates on its own
            log.warning(
                "order preview failed; creating without it",
                extra={"client_order_id": order.client_order_id, "error": str(err)},
            )
            return {}
        except BadRequest as err:  # the create would be refused the same way
            raise rejection(order, err.code, f"preview: {err}") from err
        except (AuthError, PermissionDenied) as err:  # refused before anything was sent
            raise rejection(order, _refusal_code(err), f"preview: {err}") from err
        if verdict is not None:
            raise rejection(order, *verdict)
        found = preview_id(body)
        return {"preview_id": found} if found else {}

    def _seen(self, client_order_id: str) -> bool:
        """Sent (or listed) by this process before: a repeat, never previewed again."""
        with self._lock:
            return client_order_id in self._planned or client_order_id in self._ids

    def _preview_new(
        self, order: PlannedOrder, config: dict[str, Any]
    ) -> tuple[Order | None, dict[str, Any]]:
        """(the order, when one already carries this id; else None, extra create kwargs)."""
        try:
            return None, self._preview(order, config)
        except OrderRejected:
            # A fresh process may be re-sending an order that was accepted (and spent the
            # funds this preview found missing): doomed only if no order carries the id.
            existing = self._existing(order)
            if existing is None:
                raise
            return existing, {}

    def _existing(self, order: PlannedOrder) -> Order | None:
        try:
            return self.get(order.client_order_id)
        except ExchangeError as err:
            raise OutcomeUnknown(
                f"create {order.client_order_id}: preview refused it, and whether an earlier "
                f"create was accepted could not be checked ({err}); reconcile"
            ) from err

    def _answer(
        self, order: PlannedOrder, body: Mapping[str, Any], ambiguous: ExchangeError | None
    ) -> Order:
        if body.get("success") is True:
            placed = accepted_order(order, body, self._clock.now())
            self._remember(order.client_order_id, str(placed.order_id))
            return placed
        if body.get("success") is not False:
            raise MalformedResponse(f"create_order {order.client_order_id}: no 'success' field")
        reason, message = failure_reason(body)
        if reason == DUPLICATE_CLIENT_ORDER_ID or ambiguous is not None:
            return self._look_up_refused(order, f"refused {reason}", ambiguous)
        raise rejection(order, reason, message)

    def _refused(
        self, order: PlannedOrder, err: ExchangeError, ambiguous: ExchangeError | None
    ) -> Order:
        """The order a refused create may still have made, or the error that says what became
        of it: REJECTED only when no earlier attempt can have created it."""
        if isinstance(err, BadRequest) and (
            ambiguous is not None or err.code == DUPLICATE_CLIENT_ORDER_ID
        ):
            return self._look_up_refused(order, str(err), ambiguous)
        if ambiguous is not None:
            raise OutcomeUnknown(
                f"create {order.client_order_id}: first {ambiguous}, then {err}; reconcile"
            ) from err
        if isinstance(err, BadRequest):
            raise rejection(order, err.code, str(err)) from err
        if isinstance(err, AuthError | PermissionDenied):  # a 401/403 creates nothing
            raise rejection(order, _refusal_code(err), str(err)) from err
        raise err

    def _look_up_refused(
        self, order: PlannedOrder, refusal: str, ambiguous: ExchangeError | None
    ) -> Order:
        """A definite "no" to a create that may exist already (an earlier attempt went
        unanswered, or Coinbase says the id is taken): the order if it is listed, else
        OutcomeUnknown. Never REJECTED: the re-send may be refused because of the first
        attempt (its id, its funds), and list_orders may not show that order yet;
        reconcile settles it by client id."""
        what = f"create {order.client_order_id}: {refusal}"
        if ambiguous is not None:
            what += f" after an unanswered attempt ({ambiguous})"
        try:
            existing = self.get(order.client_order_id)
        except ExchangeError as err:
            raise OutcomeUnknown(f"{what}; lookup failed ({err}); reconcile") from err
        if existing is None:
            raise OutcomeUnknown(f"{what}; no such order listed yet; reconcile")
        return existing

    def _fills_or_none(self, order_id: str, client_order_id: str) -> list[Fill] | None:
        try:
            return self._fills(order_id, client_order_id)
        except ExchangeError:
            log.warning("fills of order %s unreadable; order kept in flight", client_order_id)
            return None

    def _remember(self, client_order_id: str, order_id: str) -> None:
        with self._lock:
            self._ids[client_order_id] = order_id

    def _read(self, order_id: str) -> Mapping[str, Any]:
        try:
            body = self._io.read(
                "get_order", self._client.get_order, order_id, retry_on=(*RETRYABLE, NotFound)
            )
        except NotFound as exc:
            raise OrderNotVisible(f"order {order_id} is not visible yet; ask again later") from exc
        data = body.get("order")
        if not isinstance(data, Mapping):
            raise MalformedResponse(f"get_order {order_id}: no 'order' object")
        return data

    def _find(self, client_order_id: str) -> Mapping[str, Any] | None:
        """Search recent orders for this client_order_id (remembering every id seen)."""
        since = (self._clock.now() - self._lookback).strftime("%Y-%m-%dT%H:%M:%SZ")

        def page(cursor: str | None) -> Mapping[str, Any]:
            return self._io.read(
                "list_orders", self._client.list_orders, start_date=since, limit=250, cursor=cursor
            )

        for body in pages(page, MAX_PAGES):
            match = self._scan(body.get("orders"), client_order_id)
            if match is not None:
                return match
        return None

    def _scan(self, orders: Any, client_order_id: str) -> Mapping[str, Any] | None:
        if not isinstance(orders, list):
            raise MalformedResponse("list_orders: field 'orders' is not a list")
        match = None
        for item in orders:
            if not isinstance(item, Mapping) or not item.get("order_id"):
                raise MalformedResponse("list_orders: an order without order_id")
            coid = item.get("client_order_id")
            if coid:
                self._remember(str(coid), str(item["order_id"]))
            if coid == client_order_id:
                match = item
        return match

    def _fills(self, order_id: str, client_order_id: str) -> list[Fill]:
        fills: dict[str, Fill] = {}

        def page(cursor: str | None) -> Mapping[str, Any]:
            return self._io.read(
                "get_fills", self._client.get_fills, order_ids=[order_id], limit=250, cursor=cursor
            )

        for body in pages(page, MAX_PAGES):
            items = body.get("fills")
            if not isinstance(items, list):
                raise MalformedResponse("get_fills: field 'fills' is not a list")
            for item in items:
                fill = fill_from(item, client_order_id)
                fills.setdefault(fill.fill_id, fill)  # entry_id is unique per fill
        return list(fills.values())


def _refusal_code(err: ExchangeError) -> str:
    return "UNAUTHENTICATED" if isinstance(err, AuthError) else "PERMISSION_DENIED"
