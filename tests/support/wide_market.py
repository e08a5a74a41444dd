"""A universe of n products, P000-USD .. P{n-1}-USD, every one eligible, P000-USD the regime's
reference: on the synthetic market (the benches), or scripted with fixed bars under the fake
Coinbase (the limit tests: the synthetic market's own work grows too fast past 100 products)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import responses
from fake_coinbase import FakeCoinbase
from fake_coinbase_env import CoinbaseEnv, RecordingSleep, build_exchange, throwaway_key
from scripted_market import ScriptedMarket, default_config, product, rising, series

from trader.adapters.clock import SteppingClock
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.config import Config, SimProduct, SimulatorConfig
from trader.domain.models import FeeRates, Product
from trader.ports import Clock

FEES = FeeRates(maker=Decimal("0.004"), taker=Decimal("0.006"))


def product_ids(n: int) -> list[str]:
    return [f"P{i:03d}-USD" for i in range(n)]


def simulator(n: int) -> SimulatorConfig:
    """The default simulator with n products priced 10, 11, ... USD, 5 bps wide, $50M a day."""
    base = default_config().simulator
    assert base is not None  # lib/trader/default.yaml has one
    products = tuple(
        SimProduct(
            product_id=pid,
            start_price=Decimal(10 + i),
            volatility_pct=Decimal("0.5"),
            volume_24h_quote=Decimal(50_000_000),
            spread_bps=Decimal(5),
            base_increment=Decimal("0.001"),
            quote_increment=Decimal("0.01"),
            base_min_size=Decimal("0.01"),
        )
        for i, pid in enumerate(product_ids(n))
    )
    return base.model_copy(update={"products": products})


def config_for(n: int) -> Config:
    """The rigs' config (scripted_market.default_config) on `simulator(n)`: one match-all
    tier without a volume floor, room for all n products, P000-USD as the regime's reference."""
    base = default_config()
    universe = base.universe.model_copy(
        update={
            "tiers": (base.universe.tiers[-1].model_copy(update={"min_volume_24h_quote": 0}),),
            "max_products": max(n, 1),
        }
    )
    return base.model_copy(
        update={
            "universe": universe,
            "regime": base.regime.model_copy(update={"reference_product": "P000-USD"}),
            "simulator": simulator(n),
        }
    )


# --- the same universe on a scripted market: the fake's own work stays small at 500 products -


def scripted_products(n: int, movers: int) -> dict[str, Product]:
    """P000..: P001..P{movers} moved 5 % in 24h (the scan charts them), the rest 0.1 %."""
    return {
        pid: product(
            pid,
            price=Decimal(10 + i),
            price_change_24h_pct=Decimal(5) if 1 <= i <= movers else Decimal("0.1"),
        )
        for i, pid in enumerate(product_ids(n))
    }


def scripted_market(
    clock: Clock, n: int, movers: int = 12, bars: int = 60, deep_bars: int = 60
) -> ScriptedMarket:
    """`n` products with flat bars at 10 + i USD, but the movers, which rise 0.3 % a bar
    (momentum: the bot buys them); the movers and the reference have `deep_bars` bars."""
    end = clock.now().replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 5)
    candles = {}
    for i, pid in enumerate(product_ids(n)):
        if 1 <= i <= movers:
            candles[pid] = rising(end, Decimal(10 + i), Decimal("0.3"), deep_bars)
        else:
            candles[pid] = series(end, [10 + i] * (deep_bars if i == 0 else bars))
    return ScriptedMarket(clock, scripted_products(n, movers), candles, spread_bps=Decimal(4))


@contextmanager
def wide_coinbase(
    market: ScriptedMarket, balances: dict[str, Decimal], latency_s: float = 0.0
) -> Iterator[CoinbaseEnv]:
    """The fake Coinbase on `market` (clock and all), holding `balances`, under the real SDK."""
    clock = market.clock
    assert isinstance(clock, SteppingClock)
    account = MatchingExchange(market, clock, FEES, Decimal(0), balances)
    pem, public_key = throwaway_key()
    fake = FakeCoinbase(
        market,  # type: ignore[arg-type]
        account,
        clock,
        FEES,
        Decimal(0),
        latency_s=latency_s,
        verify_key=public_key,
    )
    sleep = RecordingSleep()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        exchange = build_exchange(clock, sleep, max_workers=24)
        yield CoinbaseEnv(fake, exchange, clock, sleep, pem, rsps)
