"""What the chaos run injects, and the seeded dice that decide where.

Every decision is drawn from `random.Random("<seed>:<what>:...")` (a string seed is hashed
with SHA-512, so the same seed gives the same draws in every process, whatever
PYTHONHASHSEED). A fault at a port, AWS or HTTP call is drawn per *site* (the call's kind,
e.g. `http:GET /orders/historical/{id}`) and per occurrence of that site within the
invocation, not from one shared stream: threads that interleave differently cannot shift
the draws, so a failing seed fails again.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from fake_coinbase import Fault

from trader.adapters.coinbase.errors import (
    AuthError,
    BadRequest,
    ExchangeTimeout,
    ExchangeUnavailable,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from trader.domain.errors import ExchangeError, OrderRejected, OutcomeUnknown

# Every kind, in the order the report lists them, with what it stands for.
KINDS: dict[str, str] = {
    "exchange.rate_limited": "429 Too Many Requests -> RateLimited",
    "exchange.unavailable": "503 or connection refused -> ExchangeUnavailable",
    "exchange.timeout": "no answer within the timeout -> ExchangeTimeout",
    "exchange.auth": "401 -> AuthError",
    "exchange.permission": "403 -> PermissionDenied",
    "exchange.bad_request": "400 -> BadRequest",
    "exchange.not_found": "404 -> NotFound",
    "exchange.malformed": "200 with a body that is not JSON or not the shape asked for",
    "exchange.corrupt_field": "200, the real answer with one field changed: negative, zero, "
    "not a number, null, or gone (Coinbase only)",
    "exchange.order_rejected": "a create refused (success: false) -> OrderRejected",
    "exchange.create_lost_answer": "a create accepted, then its answer lost (timeout/5xx)",
    "exchange.duplicate_refused": "a repeated client_order_id answered DUPLICATE_CLIENT_ORDER_ID"
    " instead of with the order (Coinbase only)",
    "dynamodb.throttled": "ProvisionedThroughputExceededException",
    "dynamodb.conditional": "ConditionalCheckFailed / TransactionCanceled on a write",
    "dynamodb.internal": "500 InternalServerError",
    "dynamodb.lost_answer": "a write committed, then its answer lost",
    "s3.error": "S3 500/503/403 on the audit record or the candle cache",
    "cloudwatch.error": "the CloudWatch audit line cannot be written",
    "crash": "an exception raised before or after a random port call",
    "process_died": "the Lambda killed at a random port call (no audit, lock left held)",
    "clock_skew": "the container's clock seconds to minutes off",
    "low_time": "an invocation with less Lambda time left than a send needs",
    "time_runs_out": "Lambda time running out during the invocation",
    "concurrent.same_id": "the same event delivered to a 2nd container mid-invocation",
    "concurrent.next_id": "the next interval's event arrives mid-invocation",
    "concurrent.lease_lapsed": "a 2nd invocation after the 1st stalled past its lease",
    "concurrent.liquidation": "a liquidation mid-cycle, or a cycle mid-liquidation",
    "kill_switch": "HALTED set by the operator, between or during invocations",
    "late_redelivery": "an earlier scheduled event delivered after a later one ran",
}

# The layer each kind hits: a short run is expected to hit every layer, a long one every kind.
_LAYER_OF = {
    "exchange.order_rejected": "create",
    "exchange.create_lost_answer": "create",
    "exchange.duplicate_refused": "create",
    "crash": "process",
    "process_died": "process",
    "clock_skew": "time",
    "low_time": "time",
    "time_runs_out": "time",
    "kill_switch": "operator",
    "late_redelivery": "operator",
}
FAMILIES: dict[str, str] = {kind: _LAYER_OF.get(kind, kind.split(".")[0]) for kind in KINDS}

# Menus: which kinds a site can draw, with weights.
Menu = Sequence[tuple[str, float]]
EXCHANGE_ERRORS: Menu = (
    ("exchange.rate_limited", 3),
    ("exchange.unavailable", 3),
    ("exchange.timeout", 3),
    ("exchange.auth", 1),
    ("exchange.permission", 1),
    ("exchange.bad_request", 1),
    ("exchange.not_found", 1),
    ("exchange.malformed", 2),
)
HTTP_ERRORS: Menu = (*EXCHANGE_ERRORS, ("exchange.corrupt_field", 3))
HTTP_CREATE_ERRORS: Menu = (
    *HTTP_ERRORS,
    ("exchange.order_rejected", 3),
    ("exchange.create_lost_answer", 6),
)
CREATE_ERRORS: Menu = (
    *EXCHANGE_ERRORS,
    ("exchange.order_rejected", 3),
    ("exchange.create_lost_answer", 6),
)
PROCESS: Menu = (
    ("crash", 2),
    ("process_died", 1),
    ("concurrent", 2),
    ("kill_switch", 0.5),
)
DYNAMODB_CALL: Menu = (
    ("dynamodb.throttled", 3),
    ("dynamodb.conditional", 2),
    ("dynamodb.internal", 1),
    *PROCESS,
)
DYNAMODB_READ: Menu = tuple(k for k in DYNAMODB_CALL if k[0] != "dynamodb.conditional")
DYNAMODB_ANSWER: Menu = (("dynamodb.lost_answer", 3), ("process_died", 1), ("crash", 1))
S3_CALL: Menu = (("s3.error", 4), ("crash", 1), ("process_died", 0.5))
CLOUDWATCH: Menu = (("cloudwatch.error", 1),)
DUPLICATE: Menu = (("exchange.duplicate_refused", 1),)
CONCURRENT = ("concurrent.same_id", "concurrent.next_id", "concurrent.lease_lapsed")


class ChaosCrash(Exception):
    """An unexpected error at a port call: the cycle turns it into `exception:ChaosCrash`."""


class ProcessDied(BaseException):
    """The Lambda was killed: no `except Exception` catches it, nothing after it runs."""


class Dice:
    """Seeded draws, each from its own stream named by what it decides."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def roll(self, *what: object) -> random.Random:
        return random.Random(":".join(str(part) for part in (self.seed, *what)))


def choose(rng: random.Random, menu: Menu, seen: Callable[[str], bool] = lambda _k: False) -> str:
    """A kind from `menu` by weight; kinds not `seen` yet weigh five times more, so a short
    run meets every kind early, and a long one (every kind seen) keeps the menu's odds."""
    kinds = [kind for kind, _ in menu]
    weights = [weight * (0.2 if seen(kind) else 1.0) for kind, weight in menu]
    return rng.choices(kinds, weights=weights)[0]


# --- the exchange errors, as the Coinbase adapter raises them (the simulated exchange) ------


_TYPED: dict[str, Callable[[str], ExchangeError]] = {
    "exchange.rate_limited": lambda what: RateLimited(f"{what}: HTTP 429", retry_after_s=1.0),
    "exchange.unavailable": lambda what: ExchangeUnavailable(f"{what}: HTTP 503"),
    "exchange.timeout": lambda what: ExchangeTimeout(f"{what}: no answer within the timeout"),
    "exchange.auth": lambda what: AuthError(f"{what}: HTTP 401"),
    "exchange.permission": lambda what: PermissionDenied(f"{what}: HTTP 403"),
    "exchange.bad_request": lambda what: BadRequest(f"{what}: HTTP 400", 400, "INVALID_ARGUMENT"),
    "exchange.not_found": lambda what: NotFound(f"{what}: HTTP 404", 404, "NOT_FOUND"),
    "exchange.malformed": lambda what: MalformedResponse(f"{what}: the body is not valid JSON"),
    "exchange.create_lost_answer": lambda what: OutcomeUnknown(f"{what}: no definite answer"),
}


def exchange_error(kind: str, op: str, rng: random.Random) -> ExchangeError:
    """The typed error the adapter would raise for `kind` on `op`."""
    what = f"{op}: chaos"
    if kind == "exchange.order_rejected":
        reason = rng.choice(["INSUFFICIENT_FUND", "INVALID_LIMIT_PRICE_POST_ONLY"])
        return OrderRejected(f"{what}: rejected", reason)
    return _TYPED[kind](what)


# --- the same, as HTTP answers of the fake Coinbase (the real adapter and SDK read them) ----

_HTTP: dict[str, Callable[[random.Random], Fault]] = {
    "exchange.rate_limited": lambda _rng: Fault.rate_limited(),
    "exchange.unavailable": lambda rng: rng.choice(
        [Fault.connection_error(), Fault.http(503, "UNAVAILABLE", "service unavailable")]
    ),
    "exchange.timeout": lambda _rng: Fault.timeout(),
    "exchange.auth": lambda _rng: Fault.http(401, "UNAUTHENTICATED", "invalid signature"),
    "exchange.permission": lambda _rng: Fault.http(403, "PERMISSION_DENIED", "missing scope"),
    "exchange.bad_request": lambda _rng: Fault.http(400, "INVALID_ARGUMENT", "chaos"),
    "exchange.not_found": lambda _rng: Fault.http(404, "NOT_FOUND", "chaos"),
    # not JSON at all, JSON of another shape, JSON of another type
    "exchange.malformed": lambda rng: Fault.malformed(
        rng.choice(['{"products": [{"product_id": ', '{"unexpected": []}', "[]"])
    ),
    # the create is processed, then the answer is lost
    "exchange.create_lost_answer": lambda rng: rng.choice(
        [Fault.timeout(after=True), Fault.http(502, "BAD_GATEWAY", "upstream reset", after=True)]
    ),
}


def http_fault(kind: str, rng: random.Random) -> Fault:
    """The fake's answer for `kind` (order_rejected is the fake's own create refusal)."""
    if kind == "exchange.corrupt_field":
        return Fault.corrupted(lambda answer: corrupt_one_field(answer, rng))
    return _HTTP[kind](rng)


# What a field becomes: each a value a careless reader would take, or choke on.
_CORRUPTIONS: tuple[Callable[[Any], Any], ...] = (
    lambda v: f"-{v}" if isinstance(v, str) and v[:1].isdigit() else -1,  # negative
    lambda _v: "0",
    lambda _v: "abc",
    lambda _v: None,
    lambda _v: "",
    lambda _v: "1e999",
)
_GONE = object()


def corrupt_one_field(answer: Any, rng: random.Random) -> Any:
    """`answer` with one leaf (chosen by `rng`) changed, or removed; mostly a number (sizes,
    prices, fees, balances: what the bot computes with)."""
    leaves = list(_leaves(answer, ()))
    numbers = [path for path in leaves if _is_number(_at(answer, path))]
    if not leaves:
        return answer
    path = rng.choice(numbers if numbers and rng.random() < 0.8 else leaves)
    change = _GONE if rng.random() < 0.15 else rng.choice(_CORRUPTIONS)
    return _replaced(answer, path, change)


def _leaves(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def _is_number(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _replaced(node: Any, path: tuple[Any, ...], change: Any) -> Any:
    if not path:
        return change(node) if callable(change) else node
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        copy = dict(node)
        if not rest and change is _GONE:
            del copy[head]
        else:
            copy[head] = _replaced(node[head], rest, change)
        return copy
    copy_list = list(node)
    copy_list[head] = _replaced(node[head], rest, change)
    return copy_list


# --- AWS errors, as botocore answers (a before-call hook returns them instead of moto) -------


def aws_error(kind: str, operation: str, rng: random.Random) -> tuple[AWSResponse, dict]:
    """(http response, parsed body) of a failed call; botocore raises the ClientError."""
    if kind == "dynamodb.throttled":
        if operation == "TransactWriteItems" and rng.random() < 0.5:
            return _canceled("ThrottlingError")
        return _error(400, "ProvisionedThroughputExceededException", "rate of requests exceeds")
    if kind == "dynamodb.conditional":
        if operation == "TransactWriteItems":
            return _canceled("ConditionalCheckFailed")
        return _error(400, "ConditionalCheckFailedException", "The conditional request failed")
    if kind == "dynamodb.internal":
        return _error(500, "InternalServerError", "Internal server error")
    if kind == "s3.error":
        code = rng.choice([(500, "InternalError"), (503, "SlowDown"), (403, "AccessDenied")])
        return _error(code[0], code[1], "chaos")
    raise ValueError(f"not an AWS fault: {kind}")


def lost_answer(service: str, rng: random.Random) -> Exception:
    """What botocore raises when the request went through and the answer did not come back."""
    url = f"https://{service}.us-east-1.amazonaws.com/"
    if rng.random() < 0.5:
        return ReadTimeoutError(endpoint_url=url)
    return ConnectionClosedError(endpoint_url=url)


def _error(status: int, code: str, message: str, **extra: object) -> tuple[AWSResponse, dict]:
    parsed = {
        "Error": {"Code": code, "Message": f"{message} (chaos)"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "chaos"},
        **extra,
    }
    raw = json.dumps(parsed["Error"]).encode()
    return AWSResponse("https://chaos.invalid/", status, {}, _Raw(raw)), parsed


def _canceled(reason: str) -> tuple[AWSResponse, dict]:
    reasons = [{"Code": "None"}, {"Code": reason, "Message": "chaos"}]
    return _error(
        400,
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[None, {reason}]",
        CancellationReasons=reasons,
    )


class _Raw:
    """The little of urllib3's response that AWSResponse reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_args: object, **_kwargs: object):
        yield self._body
