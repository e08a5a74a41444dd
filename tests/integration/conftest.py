"""Fixtures shared by the integration tests: moto for AWS, the fake Coinbase and an SDK client."""

from __future__ import annotations

import pytest
from aws_fixtures import moto_aws
from coinbase.rest import RESTClient
from fake_coinbase_env import KEY_NAME, coinbase_env, throwaway_key

from trader.adapters.aws.dynamo_lock import DynamoCycleLock


@pytest.fixture
def aws():
    """moto with the table and bucket exactly as template.yaml declares them."""
    with moto_aws() as stack:
        yield stack


@pytest.fixture
def lock(aws):
    return DynamoCycleLock(aws.table, client=aws.dynamodb)


@pytest.fixture
def env():
    """The fake Coinbase installed under the SDK, and a CoinbaseExchange on it."""
    with coinbase_env() as e:
        yield e


@pytest.fixture
def client(env):
    """The official SDK client, signed with the throwaway key the fake checks."""
    pem, _ = throwaway_key()
    return RESTClient(api_key=KEY_NAME, api_secret=pem, timeout=5)
