"""Coinbase CDP API key loading: Secrets Manager through Powertools Parameters, cached.

The private key never appears in an exception, a log line or a repr.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from trader.domain.errors import SettingsError

SECRET_MAX_AGE_S = 300
_KEY_NAME = re.compile(r"^organizations/[^/\s]+/apiKeys/[^/\s]+$")


class CredentialsError(SettingsError):
    """The Coinbase key secret is missing or not in the CDP key-file format."""


@dataclass(frozen=True, slots=True)
class CoinbaseCredentials:
    """An API key name and its private key; the key is hidden from repr."""

    key_name: str
    private_key: str = field(repr=False)

    def __str__(self) -> str:
        return f"CoinbaseCredentials(key_name={self.key_name!r}, private_key=<hidden>)"


class SecretProvider(Protocol):
    """What we need of Powertools' SecretsProvider."""

    def get(self, name: str, max_age: int | None = None, **kwargs: Any) -> Any: ...


def coinbase_credentials_from_secret(secret_json: str) -> tuple[str, str]:
    """(key_name, private_key) from a CDP key file `{"name": ..., "privateKey": ...}`.

    Errors name what is wrong but never echo the secret's content.
    """
    try:
        data = json.loads(secret_json)
    except (TypeError, ValueError):
        raise CredentialsError("Coinbase secret is not valid JSON") from None
    if not isinstance(data, dict):
        raise CredentialsError("Coinbase secret must be a JSON object with name and privateKey")
    name = data.get("name")
    key = data.get("privateKey")
    if not isinstance(name, str) or not name.strip():
        raise CredentialsError("Coinbase secret: field 'name' is missing or empty")
    if not _KEY_NAME.match(name.strip()):
        raise CredentialsError(
            "Coinbase secret: field 'name' must look like organizations/<org>/apiKeys/<id>"
        )
    if not isinstance(key, str) or not key.strip():
        raise CredentialsError("Coinbase secret: field 'privateKey' is missing or empty")
    if "PRIVATE KEY" not in key and not _looks_like_base64_key(key):
        raise CredentialsError(
            "Coinbase secret: field 'privateKey' is neither a PEM private key nor a base64 key"
        )
    return name.strip(), key


def load_credentials(
    secret_id: str, provider: SecretProvider | None = None, max_age_s: int | None = None
) -> CoinbaseCredentials:
    """Read the key from Secrets Manager (cached by Powertools for `max_age_s`, default
    SECRET_MAX_AGE_S) and validate it. Readers of one provider must agree on the age: a
    cached value keeps the age it was stored with."""
    if not secret_id:
        raise CredentialsError("COINBASE_SECRET_ID is empty")
    if provider is None:
        provider = SecretsProvider()
    try:
        raw = provider.get(secret_id, max_age=SECRET_MAX_AGE_S if max_age_s is None else max_age_s)
    except Exception as exc:  # noqa: BLE001 - any provider failure becomes one typed error
        raise CredentialsError(
            f"cannot read Coinbase secret {secret_id!r} ({type(exc).__name__})"
        ) from None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    name, key = coinbase_credentials_from_secret(raw)
    return CoinbaseCredentials(name, key)


def _looks_like_base64_key(key: str) -> bool:
    # The CDP portal can hand out Ed25519 keys as raw base64 (32 or 64 bytes).
    return re.fullmatch(r"[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{86}==", key.strip()) is not None
