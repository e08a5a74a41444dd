"""The composition root with EXCHANGE=coinbase: where the key comes from and when LIVE may start."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from fake_coinbase_env import KEY_NAME, coinbase_env, market_buy, throwaway_key
from moto import mock_aws

from trader.adapters.clock import SystemClock
from trader.bootstrap import build_exchange
from trader.domain.config import load_config
from trader.domain.errors import ConfigError, LiveTradingRefused, SettingsError
from trader.domain.models import Mode
from trader.settings import Settings


def key_json() -> str:
    pem, _ = throwaway_key()
    return json.dumps({"name": KEY_NAME, "privateKey": pem})


def key_body() -> str:
    pem, _ = throwaway_key()
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def test_build_exchange_when_no_key_then_public_market_data_only() -> None:
    exchange = build_exchange(Settings(exchange="coinbase"), load_config(), SystemClock())
    assert exchange.is_public  # type: ignore[attr-defined]


def test_build_exchange_when_secret_id_is_set_then_the_key_comes_from_secrets_manager() -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="trader/coinbase", SecretString=key_json())
        settings = Settings(exchange="coinbase", coinbase_secret_id="trader/coinbase")
        exchange = build_exchange(
            settings, load_config(), SystemClock(), SecretsProvider(boto3_client=client)
        )
    assert not exchange.is_public  # type: ignore[attr-defined]


def test_build_exchange_when_a_key_file_is_given_then_it_is_used(tmp_path: Path) -> None:
    key_file = tmp_path / "cdp_api_key.json"
    key_file.write_text(key_json())
    settings = Settings(exchange="coinbase", coinbase_key_file=key_file)
    assert not build_exchange(settings, load_config(), SystemClock()).is_public  # type: ignore[attr-defined]


def test_build_exchange_when_the_key_file_is_missing_then_a_config_error_names_it(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=r"nope\.json"):
        build_exchange(
            Settings(exchange="coinbase", coinbase_key_file=missing), load_config(), SystemClock()
        )


def test_build_exchange_when_live_without_a_key_then_refused() -> None:
    settings = Settings(exchange="coinbase", trading_mode=Mode.LIVE, live_trading_confirmed=True)
    with pytest.raises(LiveTradingRefused, match="needs a Coinbase key"):
        build_exchange(settings, load_config(), SystemClock())


def test_build_exchange_when_live_with_key_then_a_banner_is_logged_without_the_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(key_json())
    settings = Settings(
        exchange="coinbase",
        trading_mode=Mode.LIVE,
        live_trading_confirmed=True,
        coinbase_key_file=key_file,
    )
    with caplog.at_level(logging.WARNING):
        build_exchange(settings, load_config(), SystemClock())
    assert "LIVE TRADING" in caplog.text
    body = key_body()
    assert all(body[i : i + 16] not in caplog.text for i in range(0, len(body) - 16, 16))


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"TRADING_MODE": "LIVE", "EXCHANGE": "coinbase"}, "LIVE_TRADING_CONFIRMED=yes"),
        (
            {"TRADING_MODE": "LIVE", "EXCHANGE": "coinbase", "LIVE_TRADING_CONFIRMED": "true"},
            "LIVE_TRADING_CONFIRMED=yes",
        ),
        (
            {"TRADING_MODE": "LIVE", "EXCHANGE": "simulated", "LIVE_TRADING_CONFIRMED": "yes"},
            "EXCHANGE=coinbase",
        ),
    ],
)
def test_settings_when_live_is_not_fully_confirmed_then_refused(
    environ: dict[str, str], complaint: str
) -> None:
    with pytest.raises(LiveTradingRefused, match=complaint):
        Settings.from_env(environ)


def test_settings_when_nothing_is_set_then_dry_run_on_coinbase() -> None:
    settings = Settings.from_env({})
    assert settings.trading_mode is Mode.DRY_RUN
    assert settings.exchange == "coinbase"


@pytest.mark.parametrize("value", ["abc", "0", "901", "120.5"])
def test_settings_when_the_lambda_timeout_is_not_a_whole_number_of_seconds_then_refused(
    value: str,
) -> None:
    with pytest.raises(SettingsError, match=f"LAMBDA_TIMEOUT_SECONDS='{value}'"):
        Settings.from_env({"LAMBDA_TIMEOUT_SECONDS": value})


def test_settings_when_the_lambda_timeout_is_set_then_read_as_seconds() -> None:
    assert Settings.from_env({"LAMBDA_TIMEOUT_SECONDS": "120"}).lambda_timeout_seconds == 120


@pytest.mark.parametrize("mode", [Mode.DRY_RUN, Mode.PAPER, Mode.LIVE])
def test_build_exchange_when_the_stored_secret_is_still_empty_then_public_unless_live(
    mode: Mode,
) -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="trader/coinbase", SecretString="{}")  # a fresh stack's secret
        settings = Settings(
            exchange="coinbase",
            coinbase_secret_id="trader/coinbase",
            trading_mode=mode,
            live_trading_confirmed=mode is Mode.LIVE,
        )
        provider = SecretsProvider(boto3_client=client)
        if mode is Mode.LIVE:
            with pytest.raises(ConfigError, match="name"):
                build_exchange(settings, load_config(), SystemClock(), provider)
        else:
            exchange = build_exchange(settings, load_config(), SystemClock(), provider)
            assert exchange.is_public  # type: ignore[attr-defined]


@pytest.mark.parametrize(("preview", "previews_sent"), [(True, 1), (False, 0)])
def test_build_exchange_when_preview_is_configured_then_orders_are_previewed_accordingly(
    tmp_path: Path, preview: bool, previews_sent: int
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(key_json())
    config = load_config()
    config = config.model_copy(
        update={"execution": config.execution.model_copy(update={"preview_orders": preview})}
    )
    with coinbase_env() as env:  # the fake answers api.coinbase.com for the built adapter
        settings = Settings(exchange="coinbase", coinbase_key_file=key_file)
        exchange = build_exchange(settings, config, env.clock)
        order = exchange.place_order(market_buy("bootstrap-preview-1"))
        assert order.client_order_id == "bootstrap-preview-1"
        assert env.fake.count("POST", r"/orders/preview") == previews_sent
        assert env.fake.orders_created() == 1
