"""Fixtures shared by the AWS adapter tests."""

from __future__ import annotations

import pytest
from aws_fixtures import moto_aws

from trader.adapters.aws.dynamo_lock import DynamoCycleLock


@pytest.fixture
def aws():
    """moto with the table and bucket exactly as template.yaml declares them."""
    with moto_aws() as stack:
        yield stack


@pytest.fixture
def lock(aws):
    return DynamoCycleLock(aws.table, client=aws.dynamodb)
