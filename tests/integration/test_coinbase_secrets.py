"""The Coinbase key: loaded from Secrets Manager (moto) via Powertools, never shown anywhere."""

from __future__ import annotations

import io
import json
import logging

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from fake_coinbase import Fault
from fake_coinbase_env import KEY_NAME, coinbase_env, market_buy, throwaway_key
from moto import mock_aws

from trader.adapters.coinbase.credentials import (
    CoinbaseCredentials,
    CredentialsError,
    coinbase_credentials_from_secret,
    load_credentials,
)
from trader.domain.errors import TraderError


def _key_body(pem: str) -> str:
    """The base64 middle of the PEM: the part that must never be printed."""
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def _fragments(pem: str) -> list[str]:
    body = _key_body(pem)
    return [body[i : i + 16] for i in range(0, len(body) - 16, 16)]


@pytest.fixture
def secrets():
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        yield client


def _store(client, name: str, value: str) -> None:
    client.create_secret(Name=name, SecretString=value)


def test_load_credentials_when_secret_in_secrets_manager_then_key_parsed(secrets):
    pem, _ = throwaway_key()
    _store(secrets, "coinbase/key", json.dumps({"name": KEY_NAME, "privateKey": pem}))

    creds = load_credentials("coinbase/key", SecretsProvider(boto3_client=secrets))

    assert creds.key_name == KEY_NAME
    assert creds.private_key == pem


def test_load_credentials_when_secret_rotated_within_max_age_then_cached_value_served(secrets):
    pem, _ = throwaway_key()
    _store(secrets, "coinbase/key", json.dumps({"name": KEY_NAME, "privateKey": pem}))
    provider = SecretsProvider(boto3_client=secrets)
    first = load_credentials("coinbase/key", provider, max_age_s=300)
    other = KEY_NAME.replace("key-test", "key-new")
    secrets.put_secret_value(
        SecretId="coinbase/key", SecretString=json.dumps({"name": other, "privateKey": pem})
    )

    cached = load_credentials("coinbase/key", provider, max_age_s=300)
    cold = load_credentials("coinbase/key", SecretsProvider(boto3_client=secrets))

    assert cached == first  # served from the warm container's cache
    assert cold.key_name == other  # a new container reads the rotated secret


def test_load_credentials_when_secret_missing_then_credentials_error_names_the_id(secrets):
    with pytest.raises(CredentialsError, match="coinbase/absent"):
        load_credentials("coinbase/absent", SecretsProvider(boto3_client=secrets))


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [
        ("not json SECRETSECRET", "not valid JSON"),
        ('["SECRETSECRET"]', "JSON object"),
        ('{"privateKey": "SECRETSECRET"}', "'name'"),
        ('{"name": "SECRETSECRET", "privateKey": "x"}', "organizations/"),
        (json.dumps({"name": KEY_NAME}), "'privateKey'"),
        (json.dumps({"name": KEY_NAME, "privateKey": "SECRETSECRET"}), "neither a PEM"),
    ],
)
def test_credentials_from_secret_when_invalid_then_error_names_field_not_content(secret, complaint):
    with pytest.raises(CredentialsError, match=complaint) as caught:
        coinbase_credentials_from_secret(secret)

    assert "SECRETSECRET" not in str(caught.value)
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__  # no traceback shows it


def test_credentials_when_printed_then_private_key_hidden():
    pem, _ = throwaway_key()
    creds = CoinbaseCredentials(KEY_NAME, pem)

    for shown in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert all(fragment not in shown for fragment in _fragments(pem))
        assert KEY_NAME in shown


def _exercise(env) -> list[str]:
    """Drive the adapter through failures; return every exception's text."""
    texts = []
    faults = [
        ("GET", "/accounts", Fault.http(401, "UNAUTHENTICATED", "Unauthorized")),
        ("GET", "/accounts", Fault.http(403, "PERMISSION_DENIED", "Missing required scopes")),
        ("GET", "/best_bid_ask", Fault.rate_limited()),
        ("POST", "/orders", Fault.timeout(after=True)),
    ]
    for method, path, fault in faults:
        env.fake.fail(method, path, fault, times=5)
    calls = [
        env.exchange.get_balances,
        env.exchange.get_balances,
        lambda: env.exchange.get_quotes(["BTC-USD"]),
        lambda: env.exchange.place_order(market_buy("c-s")),
    ]
    for call in calls:
        try:
            call()
        except TraderError as exc:
            texts += [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)]
    texts.append(repr(env.exchange))
    return texts


def test_secret_when_failures_logged_then_absent_from_logs_output_and_errors(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with coinbase_env() as env:
        texts = _exercise(env)
    out, err = capsys.readouterr()

    haystacks = [caplog.text, out, err, *texts]
    assert caplog.text  # something was logged, so the check is not vacuous
    for fragment in _fragments(env.pem):
        assert all(fragment not in hay for hay in haystacks)


def test_secret_when_sdk_logs_through_its_own_stream_handler_then_absent():
    sdk_logger = logging.getLogger("coinbase.RESTClient")
    sink = io.StringIO()
    previous = [handler.setStream(sink) for handler in sdk_logger.handlers]
    try:
        with coinbase_env() as env:
            _exercise(env)
    finally:
        for handler, stream in zip(sdk_logger.handlers, previous, strict=True):
            handler.setStream(stream)

    written = sink.getvalue()
    assert "HTTP Error" in written  # the SDK's own handler did write
    assert all(fragment not in written for fragment in _fragments(env.pem))
