"""How the chaos run injects faults and watches what the bot commits.

Faults go in where the bot meets the outside, so its own error handling is what runs:

- AWS: botocore event hooks on the handlers' DynamoDB and S3 clients answer a call with an
  error instead of moto (`before-call`), or let it commit and lose the answer (`after-call`);
  the same hooks report grants, releases and saves to the observer.
- Coinbase: the fake answers a request with the HTTP error, timeout or broken body drawn
  for it (`FakeCoinbase.fault_source`); the real SDK and adapter read it.
- The simulated exchange has no HTTP: its port raises the typed errors the Coinbase
  adapter raises for the same failures.
- Every port call (the exchange's, and each AWS call) may crash, kill the process, run a
  second invocation to completion in another container (interleaved there, so the order is
  the seed's, not the scheduler's) or set the kill switch.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chaos_faults import (
    CONCURRENT,
    CREATE_ERRORS,
    DUPLICATE,
    DYNAMODB_ANSWER,
    DYNAMODB_CALL,
    DYNAMODB_READ,
    EXCHANGE_ERRORS,
    HTTP_CREATE_ERRORS,
    HTTP_ERRORS,
    PROCESS,
    S3_CALL,
    ChaosCrash,
    Dice,
    Menu,
    ProcessDied,
    aws_error,
    choose,
    exchange_error,
    http_fault,
    lost_answer,
)
from chaos_observer import Observer
from fake_coinbase import FakeCoinbase, Fault, Recorded

from trader.adapters.sim.matching import MatchingExchange
from trader.domain.errors import OrderRejected, OutcomeUnknown
from trader.domain.models import PlannedOrder, Side

PORT_METHODS = frozenset(
    {"list_products", "get_quotes", "get_candles", "get_balances", "get_fee_rates"}
    | {"place_order", "get_order", "cancel_order", "convert", "get_fills_since"}
)
SENDS = frozenset({"place_order", "convert"})
CREATE_SCALE = 4.0
DUPLICATE_SCALE = 12.0
_ORDER_PATH = re.compile(r"/(orders/historical|convert/trade)/(?!batch$|fills$)[^/]+")


@dataclass
class Strike:
    """A fault drawn at a site: what, its dice, and whether it hits after the call went through."""

    kind: str
    rng: Any
    after: bool = False


class Chaos:
    """Draws and applies faults for one backend; `armed` False switches every one off."""

    def __init__(self, dice: Dice, backend: str, observer: Observer, rate: float) -> None:
        self.dice = dice
        self.backend = backend
        self.observer = observer
        self.rate = rate
        self.armed = True
        self.faults: Counter[str] = Counter()
        self.nested: Callable[[Any], None] = lambda _rng: None  # runs a 2nd invocation
        self.engage_switch: Callable[[], None] = lambda: None  # the operator's HALTED

    def pick(self, site: str, menu: Menu, scale: float = 1.0) -> tuple[str, Any] | None:
        """The fault for this occurrence of `site` in the current invocation, if any."""
        inv = self.observer.current
        if inv is None or not self.armed or not inv.chaotic or not in_focus(inv.focus, site):
            return None
        inv.sites[site] += 1
        rng = self.dice.roll(self.backend, "site", inv.seq, site, inv.sites[site])
        if rng.random() >= self.rate * scale:
            return None
        return choose(rng, menu, self.seen), rng

    def seen(self, kind: str) -> bool:
        if kind == "concurrent":
            return all(self.faults[variant] for variant in (*CONCURRENT, "concurrent.liquidation"))
        return self.faults[kind] > 0

    def strike(
        self, site: str, menu: Menu, scale: float = 1.0, *, sends: bool = False
    ) -> Strike | None:
        """Apply a drawn process fault here; return an exchange/AWS fault for the caller.

        At a call that `sends` (a create, a conversion) the 2nd invocation runs after the
        call (the caller's `Strike.after`): between a lease check and the request it guards
        no check can help, and a stall there is not what the lease is for (its margin is)."""
        picked = self.pick(site, menu, scale)
        if picked is None:
            return None
        kind, rng = picked
        inv = self.observer.current
        if kind == "concurrent":
            if inv is None or inv.nested or inv.concurrent_used:
                return None
            inv.concurrent_used = True
            if sends:
                return Strike(kind, rng, after=True)
            self.nested(rng)
            return None
        if kind == "kill_switch":
            self.faults[kind] += 1
            self.engage_switch()
            return None
        self.faults[kind] += 1
        strike = Strike(kind, rng, after=kind in ("crash", "process_died") and rng.random() < 0.5)
        if kind in ("crash", "process_died") and not strike.after:
            raise process_fault(kind, site, "before")
        return strike


# The layers an invocation's faults may be kept to (Plan.focus), by the sites they hold.
CREATE_SITES = ("port:place_order", "port:convert", "http:POST /orders", "http:POST /convert")
LAYERS = {
    "create": lambda site: site.startswith(CREATE_SITES),
    "exchange": lambda site: site.startswith(("port:", "http:")),
    "aws": lambda site: site.startswith(("aws:", "cloudwatch:")),
}


def in_focus(focus: str, site: str) -> bool:
    return focus == "any" or LAYERS[focus](site)


def process_fault(kind: str, site: str, when: str) -> BaseException:
    if kind == "process_died":
        return ProcessDied(f"chaos: the process died {when} {site}")
    return ChaosCrash(f"chaos: crash {when} {site}")


# --- the exchange port ----------------------------------------------------------------------


class ChaosPort:
    """The exchange as the handler's adapters call it, with process faults at each call and,
    with `typed_errors` (the simulated exchange), the adapter's own errors."""

    def __init__(self, inner: Any, chaos: Chaos, typed_errors: bool) -> None:
        self.inner = inner
        self._chaos = chaos
        self._typed = typed_errors

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in PORT_METHODS:
            return attr
        return functools.partial(self._call, name, attr)

    def _call(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        inv = self._chaos.observer.current
        if inv is not None:
            inv.port_calls += 1
        site = f"port:{name}"
        sends = name in SENDS
        strike = self._chaos.strike(site, self._menu(name), _scale(name, self._typed), sends=sends)
        if strike is not None and strike.kind.startswith("exchange."):
            return self._fail(name, fn, strike, *args, **kwargs)
        result = fn(*args, **kwargs)
        if strike is not None and strike.kind == "concurrent":
            self._chaos.nested(strike.rng)
        elif strike is not None and strike.after:
            raise process_fault(strike.kind, site, "after")
        return result

    def _menu(self, name: str) -> Menu:
        if not self._typed:
            return PROCESS
        return (*PROCESS, *(CREATE_ERRORS if name == "place_order" else EXCHANGE_ERRORS))

    @staticmethod
    def _fail(name: str, fn: Callable[..., Any], strike: Strike, *args: Any, **kwargs: Any) -> Any:
        if name != "place_order":
            raise exchange_error(strike.kind, name, strike.rng)
        if strike.kind == "exchange.create_lost_answer":
            fn(*args, **kwargs)  # accepted; the answer never comes back
        raise create_error(strike.kind, strike.rng)


def _scale(name: str, typed: bool) -> float:
    """Creates are where faults matter most: they draw more often. Without typed errors
    (they come by HTTP) the other port calls draw less often."""
    if name == "place_order":
        return CREATE_SCALE
    return 1.0 if typed else 0.4


def create_error(kind: str, rng: Any) -> OrderRejected | OutcomeUnknown:
    """What CoinbaseExchange.place_order raises for `kind`: a 4xx refuses the order, anything
    transient (after its retries) or a lost answer leaves the outcome unknown."""
    error = exchange_error(kind, "create_order", rng)
    if isinstance(error, OrderRejected | OutcomeUnknown):
        return error
    refusals = {"exchange.auth", "exchange.permission", "exchange.bad_request"}
    if kind in refusals | {"exchange.not_found"}:
        return OrderRejected(str(error), kind.removeprefix("exchange.").upper())
    return OutcomeUnknown(f"{error}; no definite answer after the retries")


class RecordingAccount:
    """The account (the truth): tells the observer of each create it receives and each new order."""

    def __init__(self, inner: MatchingExchange, observer: Observer, creates: bool) -> None:
        self.inner = inner
        self._observer = observer
        self._creates = creates  # False: the fake Coinbase reports creates at the HTTP level

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def place_order(self, order: PlannedOrder) -> Any:
        if self._creates:
            self._observer.on_create(order.client_order_id, order.product_id, order.side)
        new = order.client_order_id not in self.inner.orders()
        placed = self.inner.place_order(order)
        if new:
            self._observer.on_new_order(order.client_order_id, order.product_id, order.side)
        return placed


# --- AWS: botocore hooks ------------------------------------------------------------------


class AwsHooks:
    """Hooks on the handlers' boto3 clients: each call may fail, each commit is observed."""

    def __init__(self, chaos: Chaos) -> None:
        self._chaos = chaos

    def install(self, boto_client: Any, service: str) -> None:
        events = boto_client.meta.events
        events.register(f"before-parameter-build.{service}", self._keep_params)
        events.register(f"before-call.{service}", functools.partial(self._before, service))
        events.register(f"after-call.{service}", functools.partial(self._after, service))

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["chaos_params"] = dict(params)

    def _before(self, service: str, model: Any, context: dict[str, Any], **_: Any) -> Any:
        inv = self._chaos.observer.current
        if inv is not None:
            inv.port_calls += 1
        site = _site(service, model.name, context["chaos_params"])
        context["chaos_site"] = site
        strike = self._chaos.strike(site, _menu(service, model.name))
        if strike is None:
            return None
        if strike.after:
            context["chaos_after"] = strike
            return None
        return aws_error(strike.kind, model.name, strike.rng)

    def _after(
        self, service: str, http_response: Any, parsed: dict, context: dict, **_: Any
    ) -> None:
        if http_response.status_code >= 300:
            return
        params, site = context["chaos_params"], context["chaos_site"]
        _observe(self._chaos.observer, site, params, parsed)
        deferred = context.get("chaos_after")
        if deferred is not None:
            raise process_fault(deferred.kind, site, "after")
        if not _is_write(site):
            return
        strike = self._chaos.strike(f"{site}:answer", DYNAMODB_ANSWER)
        if strike is None:
            return
        if strike.kind == "dynamodb.lost_answer":
            raise lost_answer(service, strike.rng)
        raise process_fault(strike.kind, site, "after")


def _site(service: str, operation: str, params: Mapping[str, Any]) -> str:
    if operation == "UpdateItem":
        update = str(params.get("UpdateExpression", ""))
        return f"aws:{service}.{operation}." + (
            "release" if update.startswith("REMOVE") else "acquire"
        )
    key = str(params.get("Key", ""))
    if service == "s3":
        return f"aws:s3.{operation}." + ("audit" if key.startswith("audit/") else "cache")
    return f"aws:{service}.{operation}"


def _menu(service: str, operation: str) -> Menu:
    if service == "s3":
        return S3_CALL
    return DYNAMODB_READ if operation == "Query" else DYNAMODB_CALL


def _is_write(site: str) -> bool:
    return site.startswith(("aws:dynamodb.UpdateItem", "aws:dynamodb.TransactWriteItems"))


def _observe(observer: Observer, site: str, params: Mapping[str, Any], parsed: dict) -> None:
    """Tell the observer what DynamoDB and S3 just committed."""
    if site == "aws:dynamodb.UpdateItem.acquire":
        got = parsed["Attributes"]
        observer.on_grant(got["owner"]["S"], int(got["fence_token"]["N"]))
    elif site == "aws:dynamodb.UpdateItem.release":
        values = params["ExpressionAttributeValues"]
        observer.on_release(values[":owner"]["S"], int(values[":token"]["N"]))
    elif site == "aws:dynamodb.TransactWriteItems":
        observer.on_state_write(*_state_write(params["TransactItems"]))
    elif site == "aws:s3.PutObject.audit" and observer.current is not None:
        observer.current.s3_audits += 1


def _state_write(actions: list[dict[str, Any]]) -> tuple[int, str | None, int | None]:
    """(the version saved, the lease's owner and token) of one TransactWriteItems."""
    version, owner, token = 0, None, None
    for action in actions:
        if "Update" in action and action["Update"]["Key"]["sk"]["S"] == "STATE":
            version = int(action["Update"]["ExpressionAttributeValues"][":new"]["N"])
        if "ConditionCheck" in action:
            values = action["ConditionCheck"]["ExpressionAttributeValues"]
            owner, token = values[":owner"]["S"], int(values[":fence"]["N"])
    return version, owner, token


def http_fault_source(fake: FakeCoinbase, chaos: Chaos, record: Recorded) -> Fault | None:
    """The fake's answer to one request: observed if a create, then maybe a fault."""
    create = record.method == "POST" and record.path == "/orders"
    if create:
        body, coid = record.body, record.body["client_order_id"]
        chaos.observer.on_create(coid, body["product_id"], Side(body["side"]))
        if coid in fake.routes.all_orders():  # a repeat: Coinbase may refuse it by name
            refused = chaos.strike("http:POST /orders repeated", DUPLICATE, DUPLICATE_SCALE)
            fake.routes.duplicate_as_failure = refused is not None
    site = f"http:{record.method} {_ORDER_PATH.sub('/{id}', record.path)}"
    strike = chaos.strike(
        site, HTTP_CREATE_ERRORS if create else HTTP_ERRORS, CREATE_SCALE if create else 1.0
    )
    if strike is None:
        return None
    if strike.kind == "exchange.order_rejected":
        fake.reject_next_create(strike.rng.choice(["INSUFFICIENT_FUND", "UNKNOWN_FAILURE_REASON"]))
        return None
    return http_fault(strike.kind, strike.rng)
