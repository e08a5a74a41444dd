"""Builders for tests and benches: the fake Coinbase installed, and a CoinbaseExchange on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fake_coinbase import FakeCoinbase

from trader.adapters.clock import SteppingClock
from trader.adapters.coinbase.candles import InMemoryCandleCache
from trader.adapters.coinbase.credentials import CoinbaseCredentials
from trader.adapters.coinbase.exchange import CoinbaseExchange
from trader.domain.config import SimulatorConfig, load_config
from trader.domain.models import Intent, OrderType, PlannedOrder, Side

KEY_NAME = "organizations/org-test/apiKeys/key-test"
START = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)  # 30 s into a 5-minute bar


# The tests' Coinbase key: a P-256 key derived from this fixed number, the same on every run,
# so a leak reproduces and tests/support/secret_sweep.py knows exactly what to look for.
# It is a test key and nothing else; it signs only for the fake Coinbase.
TEST_KEY_SEED = int.from_bytes(b"247trader fake Coinbase key, never a real one", "big")


@cache
def throwaway_key() -> tuple[str, Any]:
    """(PEM private key, public key) of the tests' fake Coinbase key (see TEST_KEY_SEED)."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # of P-256
    key = ec.derive_private_key(TEST_KEY_SEED % order, ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


def simulator_config() -> SimulatorConfig:
    return load_config().simulator


class RecordingSleep:
    """An injectable sleep that only records how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class CoinbaseEnv:
    fake: FakeCoinbase
    exchange: CoinbaseExchange
    clock: SteppingClock
    sleep: RecordingSleep
    pem: str = field(repr=False)  # a failing test prints the env: never the key
    rsps: responses.RequestsMock
    extra: dict[str, Any] = field(default_factory=dict)

    def new_exchange(self, **kwargs: Any) -> CoinbaseExchange:
        """Another adapter on the same fake (a fresh process: no remembered order ids)."""
        return build_exchange(self.clock, self.sleep, **kwargs)


def build_exchange(
    clock: SteppingClock, sleep: RecordingSleep, public: bool = False, **kwargs: Any
) -> CoinbaseExchange:
    pem, _ = throwaway_key()
    credentials = None if public else CoinbaseCredentials(KEY_NAME, pem)
    kwargs.setdefault("candle_cache", InMemoryCandleCache())
    return CoinbaseExchange(
        credentials=credentials, timeout_s=5, clock=clock, sleep=sleep, **kwargs
    )


@contextmanager
def coinbase_env(
    start: datetime = START,
    balances: dict[str, Decimal] | None = None,
    latency_s: float = 0.0,
    public: bool = False,
    **exchange_kwargs: Any,
) -> Iterator[CoinbaseEnv]:
    clock = SteppingClock(start, 300)
    pem, public_key = throwaway_key()
    fake = FakeCoinbase.from_config(
        simulator_config(), clock, balances, latency_s=latency_s, verify_key=public_key
    )
    sleep = RecordingSleep()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        exchange = build_exchange(clock, sleep, public=public, **exchange_kwargs)
        yield CoinbaseEnv(fake, exchange, clock, sleep, pem, rsps)


def market_buy(coid: str, product: str = "BTC-USD", quote: str = "100") -> PlannedOrder:
    return PlannedOrder(
        coid, product, Side.BUY, OrderType.MARKET, Intent.ENTRY, None, Decimal(quote)
    )


def market_sell(coid: str, product: str, base: str) -> PlannedOrder:
    return PlannedOrder(
        coid, product, Side.SELL, OrderType.MARKET, Intent.EXIT, Decimal(base), None
    )


def limit_order(
    coid: str, product: str, side: Side, base: str, price: str, post_only: bool = True
) -> PlannedOrder:
    intent = Intent.ENTRY if side is Side.BUY else Intent.EXIT
    return PlannedOrder(
        coid,
        product,
        side,
        OrderType.LIMIT,
        intent,
        Decimal(base),
        None,
        limit_price=Decimal(price),
        post_only=post_only,
    )
