"""Coinbase failures translated into the domain's typed errors (never the SDK's or requests')."""

from __future__ import annotations

import json
from multiprocessing import AuthenticationError as SdkNoCredentials

from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import HTTPError, InvalidJSONError, Timeout

from trader.domain.errors import ExchangeError

_BODY_EXCERPT = 200


class RateLimited(ExchangeError):
    """HTTP 429: too many requests; `retry_after_s` when the exchange said how long to wait."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ExchangeUnavailable(ExchangeError):
    """5xx, connection failure or timeout: the exchange could not be reached or did not answer."""


class ExchangeTimeout(ExchangeUnavailable):
    """No answer within the client timeout."""


class AuthError(ExchangeError):
    """HTTP 401 or a private call without credentials."""


class PermissionDenied(ExchangeError):
    """HTTP 403: the API key lacks a scope this call needs."""


class BadRequest(ExchangeError):
    """Any other 4xx: the exchange refused the request as sent (`code` is its error code)."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class NotFound(BadRequest):
    """HTTP 404: no such product, order or account."""


class MalformedResponse(ExchangeError):
    """The exchange answered with something we cannot read (not JSON, missing or bad fields)."""


RETRYABLE: tuple[type[ExchangeError], ...] = (RateLimited, ExchangeUnavailable)


def translate(exc: BaseException, op: str) -> ExchangeError:
    """The typed error for a failed SDK call `op`; the caller raises it `from exc`."""
    if isinstance(exc, ExchangeError):
        return exc
    if isinstance(exc, HTTPError) and exc.response is not None:
        return _from_http(exc, op)
    if isinstance(exc, Timeout):
        return ExchangeTimeout(f"{op}: no answer within the timeout ({type(exc).__name__})")
    if isinstance(exc, RequestsConnectionError):
        return ExchangeUnavailable(f"{op}: connection failed ({type(exc).__name__})")
    if isinstance(exc, InvalidJSONError | json.JSONDecodeError):
        return MalformedResponse(f"{op}: the response body is not valid JSON")
    if isinstance(exc, SdkNoCredentials):
        return AuthError(f"{op}: needs API credentials (running in public-only mode)")
    if isinstance(exc, KeyError | TypeError | AttributeError | ValueError):
        return MalformedResponse(f"{op}: unexpected response shape ({type(exc).__name__})")
    return ExchangeError(f"{op}: {type(exc).__name__}")


def _from_http(exc: HTTPError, op: str) -> ExchangeError:
    response = exc.response
    status = response.status_code
    code, message = _error_fields(response.text)
    detail = f"{op}: HTTP {status} {code}: {message}"
    if status == 401:
        return AuthError(
            f"{detail} (check the key name and private key, and that this machine's clock is "
            "in sync: the signed token is valid only from 'now' for 120 s)"
        )
    if status == 403:
        return PermissionDenied(
            f"{detail} (the API key lacks a scope: view for reads, trade for orders)"
        )
    if status == 429:
        return RateLimited(detail, _retry_after(response.headers))
    if status >= 500:
        return ExchangeUnavailable(detail)
    if status == 404:
        return NotFound(detail, status, code)
    return BadRequest(detail, status, code)


def _error_fields(text: str) -> tuple[str, str]:
    """(code, message) from a Coinbase error body, which may be JSON, HTML or plain text."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = str(body.get("error") or body.get("code") or "UNKNOWN")
        message = str(body.get("message") or body.get("error_details") or "")
        return code, message[:_BODY_EXCERPT]
    first_line = " ".join(text.split())[:_BODY_EXCERPT]
    kind = "HTML" if first_line.lstrip().lower().startswith("<") else "TEXT"
    return f"NON_JSON_{kind}", first_line


def _retry_after(headers: object) -> float | None:
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    raw = getter("Retry-After")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
