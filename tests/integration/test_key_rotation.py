"""Key rotation: a key stored or replaced in Secrets Manager is used without a redeploy.

The liquidation handler runs LIVE on the fake Coinbase (which checks every JWT against the
test key's public half) with the key in moto's Secrets Manager. The warm app re-reads the
secret through Powertools' cache; the cache age is set to 0 here so the test need not wait
SECRET_MAX_AGE_S (300 s) of real time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_fixtures import client, moto_aws
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fake_coinbase_env import KEY_NAME, throwaway_key
from liquidation_rig import fake_coinbase_rig

from trader.adapters.coinbase import credentials
from trader.entrypoints.lambda_cycle import Built, still_current
from trader.entrypoints.lambda_liquidate import LiquidateApp

REPO = Path(__file__).resolve().parents[2]
SECRET = "trader/coinbase"


class Context:
    aws_request_id = "req-rotation"

    def get_remaining_time_in_millis(self) -> int:
        return 280_000


def other_key() -> str:
    """A valid P-256 key that the fake Coinbase does not know (a revoked or wrong key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def key_file(pem: str) -> str:
    return json.dumps({"name": KEY_NAME, "privateKey": pem})


def live_app(aws, rig) -> LiquidateApp:
    env = {
        "STATE_TABLE": aws.table,
        "AUDIT_BUCKET": aws.bucket,
        "EXCHANGE": "coinbase",
        "TRADING_MODE": "LIVE",
        "LIVE_TRADING_CONFIRMED": "yes",
        "COINBASE_SECRET_ID": SECRET,
    }
    clients = {"dynamodb": aws.dynamodb, "s3": aws.s3, "secretsmanager": client("secretsmanager")}
    return LiquidateApp(environ=env, clock=rig.clock, clients=clients, sleep=lambda _s: None)


def preview() -> dict:
    """A liquidation preview: reads the account (private calls, signed), sells nothing."""
    return json.loads((REPO / "events/liquidate-dry-run.json").read_text())


def test_liquidate_when_the_stored_key_is_replaced_then_the_warm_app_uses_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(credentials, "SECRET_MAX_AGE_S", 0)
    right_pem, _ = throwaway_key()
    with moto_aws() as aws, fake_coinbase_rig() as (rig, _fake):
        secrets = client("secretsmanager")
        secrets.create_secret(Name=SECRET, SecretString=key_file(other_key()))
        app = live_app(aws, rig)

        with_wrong_key = app.handle(preview(), Context())
        secrets.put_secret_value(SecretId=SECRET, SecretString=key_file(right_pem))
        with_new_key = app.handle(preview(), Context())

    assert with_wrong_key["ok"] is False
    assert "AuthError" in with_wrong_key["error"]
    assert with_new_key["ok"] is True, with_new_key["error"]


def test_liquidate_when_the_key_is_unchanged_then_the_adapters_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(credentials, "SECRET_MAX_AGE_S", 0)
    pem, _ = throwaway_key()
    with moto_aws() as aws, fake_coinbase_rig() as (rig, _fake):
        client("secretsmanager").create_secret(Name=SECRET, SecretString=key_file(pem))
        app = live_app(aws, rig)

        app.handle(preview(), Context())
        first = app._built
        app.handle(preview(), Context())

    assert first is not None
    assert app._built is first  # same key: the warm adapters (and their caches) are kept


class UnreadableSecrets:
    def get(self, name: str, max_age: int | None = None, **_kwargs: object) -> str:
        raise RuntimeError(f"Secrets Manager unavailable for {name}")


def test_still_current_when_the_secret_cannot_be_read_then_the_last_key_is_kept() -> None:
    from trader.settings import Settings

    settings = Settings(coinbase_secret_id=SECRET)
    built = Built(settings, deps=None, key="digest-of-the-last-key", secrets=UnreadableSecrets())  # type: ignore[arg-type]

    assert still_current(built) is True
    assert still_current(None) is False
