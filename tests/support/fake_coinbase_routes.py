"""The fake Coinbase's endpoints: state lives in a MatchingExchange over a SyntheticMarket."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from fake_coinbase_json import (
    account_json,
    candle_json,
    error_json,
    fill_json,
    iso,
    order_json,
    preview_json,
    pricebook_json,
    product_json,
    products_json,
    quote_sized,
    s,
)
from partial_fills import PartialFills

from trader.adapters.sim.matching import MatchingExchange
from trader.adapters.sim.synthetic import SyntheticMarket
from trader.domain.codec import parse_utc
from trader.domain.errors import OrderRejected
from trader.domain.models import (
    ZERO,
    Balance,
    Candle,
    FeeRates,
    Intent,
    Order,
    OrderStatus,
    OrderType,
    PlannedConversion,
    PlannedOrder,
    Product,
    Side,
)
from trader.domain.money import round_to_increment
from trader.ports import Clock

GRANULARITIES = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "FOUR_HOUR": 14400,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
_PLAIN_NUMBER = re.compile(r"^\d+(\.\d+)?$")
Answer = tuple[int, Any]
Query = dict[str, list[str]]


class Routes:
    def __init__(
        self,
        market: SyntheticMarket,
        exchange: MatchingExchange,
        clock: Clock,
        fees: FeeRates,
        slippage_bps: Decimal,
    ) -> None:
        self.market = market
        self.slippage_bps = slippage_bps
        self.exchange = exchange
        self.partials = PartialFills(exchange, clock)  # orders filled in two goes
        self.clock = clock
        self.fees = fees
        self.accounts_page_size = 49
        self.extra_currencies: tuple[str, ...] = ("USDC",)
        self.next_create: list[tuple[str, Any, str]] = []
        self.gaps: set[tuple[str, int]] = set()
        self.books: dict[str, dict[str, Any]] = {}  # product_id -> the book's sides shown instead
        self.duplicate_as_failure = False  # answer a repeated id with DUPLICATE_CLIENT_ORDER_ID
        self._configs: dict[str, dict[str, Any]] = {}  # client_order_id -> order_configuration
        self._overrides: dict[str, OrderStatus] = {}  # client_order_id -> status shown
        self._held: dict[str, Order] = {}  # accepted, never sent to the matcher
        self._hidden: dict[str, int] = {}  # client_order_id -> reads left while invisible
        self._converts: dict[str, dict[str, Any]] = {}
        self.preview_ids: list[str] = []  # handed out by clean previews, oldest first
        self._products: tuple[datetime, list[Product]] | None = None
        self._ids: set[str] | None = None
        self._table: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
            ("GET", re.compile(r"/time"), self.time),
            ("GET", re.compile(r"/key_permissions"), self.key_permissions),
            ("GET", re.compile(r"(?:/market)?/products"), self.products),
            ("GET", re.compile(r"(?:/market)?/products/([^/]+)/candles"), self.candles),
            ("GET", re.compile(r"(?:/market)?/products/([^/]+)"), self.product),
            ("GET", re.compile(r"/best_bid_ask"), self.best_bid_ask),
            ("GET", re.compile(r"(?:/market)?/product_book"), self.product_book),
            ("GET", re.compile(r"/accounts"), self.accounts),
            ("GET", re.compile(r"/transaction_summary"), self.transaction_summary),
            ("POST", re.compile(r"/orders"), self.create_order),
            ("POST", re.compile(r"/orders/preview"), self.preview_order),
            ("GET", re.compile(r"/orders/historical/batch"), self.list_orders),
            ("GET", re.compile(r"/orders/historical/fills"), self.fills),
            ("GET", re.compile(r"/orders/historical/([^/]+)"), self.get_order),
            ("POST", re.compile(r"/orders/batch_cancel"), self.batch_cancel),
            ("POST", re.compile(r"/convert/quote"), self.convert_quote),
            ("POST", re.compile(r"/convert/trade/([^/]+)"), self.convert_commit),
            ("GET", re.compile(r"/convert/trade/([^/]+)"), self.convert_get),
        ]

    def handle(self, method: str, path: str, query: Query, body: dict[str, Any]) -> Answer:
        for verb, pattern, handler in self._table:
            match = pattern.fullmatch(path)
            if verb == method and match:
                return handler(query, body, *match.groups())
        return 404, error_json("NOT_FOUND", f"no route {method} {path}")

    # --- public and market data ---------------------------------------------------------------

    def time(self, _q: Query, _b: Any) -> Answer:
        now = self.clock.now()
        secs = int(now.timestamp())
        return 200, {"iso": iso(now), "epochSeconds": str(secs), "epochMillis": str(secs * 1000)}

    def key_permissions(self, _q: Query, _b: Any) -> Answer:
        return 200, {
            "can_view": True,
            "can_trade": True,
            "can_transfer": False,
            "portfolio_uuid": "p-1",
            "portfolio_type": "DEFAULT",
        }

    def products(self, q: Query, _b: Any) -> Answer:
        if q.get("product_type", ["SPOT"])[0] != "SPOT":
            return 200, {"products": [], "num_products": 0}
        items = products_json(self.products_now())
        return 200, {"products": items, "num_products": len(items)}

    def product(self, _q: Query, _b: Any, pid: str) -> Answer:
        found = self._product(pid)
        if found is None:
            return 404, error_json("NOT_FOUND", f"product {pid} not found")
        return 200, product_json(found)

    def best_bid_ask(self, q: Query, _b: Any) -> Answer:
        ids = q.get("product_ids") or [p.product_id for p in self.products_now()]
        quotes = self.market.get_quotes(ids)
        now = iso(self.clock.now())
        books = [
            {**self.books[i], "time": now} if i in self.books else pricebook_json(quotes[i])
            for i in ids
            if i in quotes
        ]
        return 200, {"pricebooks": books}

    def product_book(self, q: Query, _b: Any) -> Answer:
        pid = q.get("product_id", [""])[0]
        quote = self.market.get_quotes([pid]).get(pid)
        if quote is None:
            return 404, error_json("NOT_FOUND", f"product {pid} not found")
        spread = quote.ask - quote.bid
        return 200, {
            "pricebook": pricebook_json(quote),
            "last": s(quote.mid),
            "mid_market": s(quote.mid),
            "spread_bps": s(quote.spread_bps.quantize(Decimal("0.01"))),
            "spread_absolute": s(spread),
        }

    def candles(self, q: Query, _b: Any, pid: str) -> Answer:
        try:
            start, end = int(q["start"][0]), int(q["end"][0])
            granularity = GRANULARITIES[q["granularity"][0]]
        except (KeyError, ValueError, IndexError):
            return 400, error_json("INVALID_ARGUMENT", "start, end and granularity are required")
        if (end - start) // granularity > 350:
            msg = "number of candles requested should be less than 350"
            return 400, error_json("INVALID_ARGUMENT", msg)
        if pid not in self.product_ids():
            return 404, error_json("NOT_FOUND", f"product {pid} not found")
        lo, hi = (datetime.fromtimestamp(t, tz=UTC) for t in (start, end))
        try:
            # Coinbase's `end` is inclusive: ask one bucket further.
            bars = list(
                self.market.get_candles(pid, granularity, lo, hi + timedelta(seconds=granularity))
            )
        except ValueError as exc:
            return 400, error_json("INVALID_ARGUMENT", str(exc))
        bars += self._forming_bar(pid, granularity, bars, lo, hi)
        keep = [b for b in bars if (pid, int(b.start.timestamp())) not in self.gaps]
        keep.sort(key=lambda b: b.start, reverse=True)  # newest first, like Coinbase
        return 200, {"candles": [candle_json(b) for b in keep]}

    def _forming_bar(
        self, pid: str, granularity: int, bars: list[Candle], lo: datetime, hi: datetime
    ) -> list[Candle]:
        """Coinbase also sends the bar still in progress; so does the fake."""
        now = self.clock.now()
        forming = datetime.fromtimestamp(int(now.timestamp()) // granularity * granularity, tz=UTC)
        if not (lo <= forming <= hi) or not bars:
            return []
        last = bars[-1].close
        return [Candle(forming, last, last, last, last, Decimal("0.5"))]

    # --- account ----------------------------------------------------------------------------

    def accounts(self, q: Query, _b: Any) -> Answer:
        """Balances as the account has them: available + hold, funds of open orders on hold."""
        balances = self._with_held_orders(dict(self.exchange.get_balances()))
        for cur in {pid.split("-")[0] for pid in self.product_ids()} | set(self.extra_currencies):
            balances.setdefault(cur, Balance(cur, ZERO))
        rows = [account_json(balances[c]) for c in sorted(balances)]
        size = min(int(q.get("limit", [self.accounts_page_size])[0]), self.accounts_page_size)
        offset = int(q.get("cursor", ["0"])[0] or 0)
        page = rows[offset : offset + size]
        more = offset + size < len(rows)
        return 200, {
            "accounts": page,
            "has_next": more,
            "cursor": str(offset + size) if more else "",
            "size": len(page),
        }

    def hold_of(self, order: Order) -> Decimal:
        """Funds an open order keeps on hold [reference §3: hold = reserved by open orders].

        The matcher's rule: a buy holds its quote (a limit buy base * limit * (1 + maker),
        the most it can cost), a sell its base; a final order holds nothing.
        """
        if order.status is not OrderStatus.OPEN:
            return ZERO
        if order.side is Side.SELL:
            return order.base_size or ZERO
        if order.limit_price is not None and order.base_size is not None:
            return order.base_size * order.limit_price * (1 + self.fees.maker)
        return order.quote_size or ZERO

    def _with_held_orders(self, balances: dict[str, Balance]) -> dict[str, Balance]:
        """Orders accepted but kept away from the matcher (hold_open_next) hold funds too."""
        for order in self._held.values():
            amount = self.hold_of(order)
            base, quote = order.product_id.split("-", 1)
            cur = base if order.side is Side.SELL else quote
            was = balances.get(cur, Balance(cur, ZERO))
            balances[cur] = Balance(cur, was.available - amount, was.hold + amount)
        return balances

    def transaction_summary(self, _q: Query, _b: Any) -> Answer:
        return 200, {
            "total_volume": 1234.5,
            "total_fees": 7.41,
            "fee_tier": {
                "pricing_tier": "Fake tier",
                "usd_from": "0",
                "usd_to": "10000",
                "taker_fee_rate": s(self.fees.taker),
                "maker_fee_rate": s(self.fees.maker),
                "aop_from": "",
                "aop_to": "",
            },
            "margin_rate": None,
            "goods_and_services_tax": None,
            "advanced_trade_only_volume": 1234.5,
            "advanced_trade_only_fees": 7.41,
            "has_promo_fee": False,
        }

    # --- orders -----------------------------------------------------------------------------

    def all_orders(self) -> dict[str, Order]:
        merged = {**self.partials.orders(), **self._held}
        return {
            coid: dataclasses.replace(o, status=self._overrides.get(coid, o.status))
            for coid, o in merged.items()
        }

    def orders_created(self) -> int:
        return len(self.all_orders())

    def create_order(self, _q: Query, body: dict[str, Any]) -> Answer:
        coid = body.get("client_order_id")
        if not coid:
            return 400, error_json("INVALID_ARGUMENT", "client_order_id is required")
        existing = self.all_orders().get(coid)
        if existing is not None:  # Coinbase answers a repeated id with the existing order
            if self.duplicate_as_failure:
                return 200, _failure("DUPLICATE_CLIENT_ORDER_ID", "duplicate", self._configs[coid])
            return 200, _success(existing, self._configs[coid])
        config = body.get("order_configuration") or {}
        try:
            planned = _planned(coid, body, config)
        except ValueError as exc:
            return 400, error_json("INVALID_ARGUMENT", str(exc))
        action = self.next_create.pop(0) if self.next_create else ("normal", None, "")
        if action[0] == "reject":
            return 200, _failure(action[1], action[2], config)
        try:
            order = self._place(planned, action)
        except OrderRejected as exc:
            return 200, _failure(exc.reason, str(exc), config)
        self._configs[coid] = config
        return 200, _success(order, config)

    def preview_order(self, _q: Query, body: dict[str, Any]) -> Answer:
        """What a create would do, by the same matcher on a throwaway copy: nothing placed."""
        config = body.get("order_configuration") or {}
        try:
            planned = _planned(f"preview-{uuid.uuid4()}", body, config)
        except ValueError as exc:
            return 400, error_json("INVALID_ARGUMENT", str(exc))
        trial = MatchingExchange(
            self.market, self.clock, self.fees, self.slippage_bps,
            self.exchange.balance_totals(), self.exchange.orders(),
        )  # fmt: skip
        quote = self.market.get_quotes([planned.product_id]).get(planned.product_id)
        try:
            order = trial.place_order(planned)
        except OrderRejected as exc:
            reason = exc.reason if exc.reason.startswith("PREVIEW_") else f"PREVIEW_{exc.reason}"
            return 200, preview_json(None, quote, "", [reason], ZERO)
        fee = order.total_fees
        if not order.fills and order.base_size and order.limit_price:  # rests: maker
            fee = order.base_size * order.limit_price * self.fees.maker
        self.preview_ids.append(str(uuid.uuid4()))
        return 200, preview_json(order, quote, self.preview_ids[-1], [], fee)

    def _place(self, planned: PlannedOrder, action: tuple[str, Any, str]) -> Order:
        kind, arg, _ = action
        if kind == "hold":
            order_id = str(uuid.uuid4())
            held = Order(
                planned.client_order_id, planned.product_id, planned.side, planned.order_type,
                OrderStatus.OPEN, self.clock.now(), planned.intent, order_id,
                planned.base_size, planned.quote_size, planned.limit_price,
            )  # fmt: skip
            self._held[planned.client_order_id] = held
            return held
        if kind == "partial":
            order = self.exchange.place_order(self._shrunk(planned, arg))
            self._overrides[planned.client_order_id] = OrderStatus.CANCELLED
            return order
        if kind == "partial_rest":
            self.partials.fill_next_in_part(arg, rest=True)
            return self.partials.place_order(planned)
        order = self.exchange.place_order(planned)
        if kind == "hide":
            self._hidden[planned.client_order_id] = int(arg)
        return order

    def _shrunk(self, planned: PlannedOrder, fraction: Decimal) -> PlannedOrder:
        product = self._product(planned.product_id)
        if product is None:
            return planned
        if planned.quote_size is not None:
            part = round_to_increment(
                planned.quote_size * fraction, product.quote_increment, ROUND_FLOOR
            )
            return dataclasses.replace(planned, quote_size=part)
        base = planned.base_size or ZERO
        part = round_to_increment(base * fraction, product.base_increment, ROUND_FLOOR)
        return dataclasses.replace(planned, base_size=part)

    def _visible(self, coid: str) -> bool:
        left = self._hidden.get(coid, 0)
        if left > 0:
            self._hidden[coid] = left - 1
            return False
        return True

    def get_order(self, _q: Query, _b: Any, order_id: str) -> Answer:
        order = next((o for o in self.all_orders().values() if o.order_id == order_id), None)
        if order is None or not self._visible(order.client_order_id):
            return 404, error_json("NOT_FOUND", f"order {order_id} not found")
        config = self._configs[order.client_order_id]
        return 200, {"order": order_json(order, config, self.hold_of(order))}

    def list_orders(self, q: Query, _b: Any) -> Answer:
        statuses = set(q.get("order_status", []))
        since = q.get("start_date", [""])[0]
        rows = []
        for order in sorted(self.all_orders().values(), key=lambda o: o.created_at, reverse=True):
            row = order_json(order, self._configs[order.client_order_id], self.hold_of(order))
            if statuses and row["status"] not in statuses:
                continue
            if since and order.created_at < datetime.fromisoformat(since.replace("Z", "+00:00")):
                continue
            if self._visible(order.client_order_id):
                rows.append(row)
        size = int(q.get("limit", ["100"])[0])
        offset = int(q.get("cursor", ["0"])[0] or 0)
        more = offset + size < len(rows)
        return 200, {
            "orders": rows[offset : offset + size],
            "has_next": more,
            "cursor": str(offset + size) if more else "",
            "sequence": "0",
        }

    def fills(self, q: Query, _b: Any) -> Answer:
        """By order ids, or every fill of the account from `start_sequence_timestamp` on."""
        wanted = set(q.get("order_ids", []))
        since = q.get("start_sequence_timestamp", [""])[0]
        after = parse_utc(since) if since else None
        rows = [
            fill_json(f, quote_sized(o))
            for o in self.all_orders().values()
            if (o.order_id in wanted if wanted else True)
            for f in sorted(o.fills, key=lambda f: (f.time, f.fill_id))
            if after is None or f.time >= after
        ]
        size = int(q.get("limit", ["100"])[0])
        offset = int(q.get("cursor", ["0"])[0] or 0)
        more = offset + size < len(rows)
        return 200, {
            "fills": rows[offset : offset + size],
            "cursor": str(offset + size) if more else "",
        }

    def batch_cancel(self, _q: Query, body: dict[str, Any]) -> Answer:
        results = []
        by_id = {o.order_id: o for o in self.all_orders().values()}
        for order_id in body.get("order_ids") or []:
            order = by_id.get(order_id)
            ok = order is not None and order.status is OrderStatus.OPEN
            if ok and order.client_order_id in self._held:
                self._held[order.client_order_id] = dataclasses.replace(
                    order, status=OrderStatus.CANCELLED
                )
            elif ok:
                self.partials.cancel_order(order.client_order_id)
            reason = "UNKNOWN_CANCEL_FAILURE_REASON" if ok else "INVALID_CANCEL_REQUEST"
            results.append({"success": ok, "failure_reason": reason, "order_id": order_id})
        return 200, {"results": results}

    # --- convert (USD <-> USDC only) ----------------------------------------------------------

    def convert_quote(self, _q: Query, body: dict[str, Any]) -> Answer:
        source, target = _currency(body.get("from_account")), _currency(body.get("to_account"))
        if {source, target} != {"USD", "USDC"}:
            msg = "Unsupported account in this conversion"
            return 400, error_json("INVALID_ARGUMENT", msg)
        amount = Decimal(str(body.get("amount")))
        available = self.exchange.get_balances().get(source, Balance(source, ZERO)).available
        if amount <= 0 or amount > available:
            return 400, error_json("INVALID_ARGUMENT", "Insufficient balance in source account")
        trade_id = f"cv-{len(self._converts) + 1}"
        trade = _trade(trade_id, source, target, amount, "TRADE_STATUS_CREATED")
        self._converts[trade_id] = trade
        return 200, {"trade": trade}

    def convert_commit(self, _q: Query, _b: Any, trade_id: str) -> Answer:
        trade = self._converts.get(trade_id)
        if trade is None:
            return 404, error_json("NOT_FOUND", f"trade {trade_id} not found")
        if trade["status"] == "TRADE_STATUS_CREATED":
            amount = Decimal(trade["amount"]["value"])
            source, target = trade["source_currency"], trade["target_currency"]
            self.exchange.convert(PlannedConversion(trade_id, source, target, amount, "convert"))
            trade["status"] = "TRADE_STATUS_COMPLETED"
        return 200, {"trade": trade}

    def convert_get(self, _q: Query, _b: Any, trade_id: str) -> Answer:
        trade = self._converts.get(trade_id)
        if trade is None:
            return 404, error_json("NOT_FOUND", f"trade {trade_id} not found")
        return 200, {"trade": trade}

    def _product(self, pid: str) -> Product | None:
        return next((p for p in self.products_now() if p.product_id == pid), None)

    def products_now(self) -> list[Product]:
        """The market's products, computed once per clock tick (the synthetic market is slow)."""
        now = self.clock.now()
        if self._products is None or self._products[0] != now:
            self._products = (now, list(self.market.list_products()))
        return self._products[1]

    def product_ids(self) -> set[str]:
        if self._ids is None:
            self._ids = {p.product_id for p in self.products_now()}
        return self._ids

    def set_product_flags(self, product_id: str, **flags: object) -> None:
        self.market.set_product_flags(product_id, **flags)
        self._products = None


def _planned(coid: str, body: dict[str, Any], config: dict[str, Any]) -> PlannedOrder:
    side = Side(str(body.get("side")))
    intent = Intent.ENTRY if side is Side.BUY else Intent.EXIT
    common = {"client_order_id": coid, "product_id": str(body.get("product_id")), "side": side}
    if "market_market_ioc" in config:
        inner = config["market_market_ioc"]
        return PlannedOrder(
            **common, order_type=OrderType.MARKET, intent=intent,
            base_size=_number(inner, "base_size"), quote_size=_number(inner, "quote_size"),
        )  # fmt: skip
    if "limit_limit_gtc" in config:
        inner = config["limit_limit_gtc"]
        return PlannedOrder(
            **common, order_type=OrderType.LIMIT, intent=intent,
            base_size=_number(inner, "base_size"), quote_size=None,
            limit_price=_number(inner, "limit_price"), post_only=bool(inner.get("post_only")),
        )  # fmt: skip
    raise ValueError(f"unsupported order_configuration {sorted(config)}")


def _number(inner: dict[str, Any], key: str) -> Decimal | None:
    raw = inner.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str) or not _PLAIN_NUMBER.match(raw):
        raise ValueError(f"{key} must be a plain decimal string, got {raw!r}")
    return Decimal(raw)


def _success(order: Order, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "success": True,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": order.order_id,
        "success_response": {
            "order_id": order.order_id,
            "product_id": order.product_id,
            "side": order.side.value,
            "client_order_id": order.client_order_id,
        },
        "order_configuration": config,
    }


def _failure(reason: str, message: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "error_response": {
            "error": reason,
            "message": message,
            "error_details": "",
            "preview_failure_reason": f"PREVIEW_{reason}"
            if not reason.startswith("PREVIEW_")
            else reason,
            "new_order_failure_reason": reason,
        },
        "order_configuration": config,
    }


def _currency(account: Any) -> str:
    text = str(account or "")
    return text.removeprefix("acct-").upper()


def _trade(trade_id: str, source: str, target: str, amount: Decimal, status: str) -> dict[str, Any]:
    value = s(amount)
    return {
        "id": trade_id,
        "status": status,
        "user_entered_amount": {"value": value, "currency": source},
        "amount": {"value": value, "currency": target},
        "total": {"value": value, "currency": source},
        "total_fee": {"title": "Fee", "amount": {"value": "0", "currency": source}},
        "fees": [],
        "source_currency": source,
        "target_currency": target,
        "source_id": f"acct-{source.lower()}",
        "target_id": f"acct-{target.lower()}",
    }
