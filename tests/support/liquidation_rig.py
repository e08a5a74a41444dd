"""Liquidation test rig: a market with fixed prices (every amount can be worked out by hand),
an account on it (the simulated account, or the fake Coinbase under the real SDK), and
in-memory state, lock and audit.

The market: BTC 60,000, ETH 3,000, SOL 150 and DOGE 0.15 (USD books, each also traded as
its USDC alias), and XYZ quoted only in BTC at 0.00001: XYZ reaches USDC through BTC only.
No spread and no slippage, so a market sell fills at the price; the taker fee is 0.6 %.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import responses
from fake_coinbase import FakeCoinbase
from fake_coinbase_env import RecordingSleep, build_exchange, throwaway_key
from scripted_market import ScriptedMarket, default_config, product, series, tweak

from trader.adapters.clock import SteppingClock
from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore, ListAuditSink
from trader.adapters.sim.matching import MatchingExchange
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.config import Config
from trader.domain.errors import OutcomeUnknown
from trader.domain.liquidation import parse_liquidation_request
from trader.domain.models import FeeRates, Mode, Order, PlannedOrder
from trader.domain.state import PortfolioState
from trader.ports import Exchange
from trader.service.cycle import CycleDeps
from trader.service.liquidation import run_liquidation

D = Decimal
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FEES = FeeRates(maker=D("0.004"), taker=D("0.006"))
PRICES = {"BTC-USD": "60000", "ETH-USD": "3000", "SOL-USD": "150", "DOGE-USD": "0.15"}
PRICES |= {"XYZ-BTC": "0.00001"}
# Several coins: BTC and SOL sell on their USDC alias, USD converts, XYZ goes through BTC,
# ETH is kept by the default request, DOGE (3 x 0.15 = 0.45 USDC) is dust below min_value 1.
HOLDINGS = {"USDC": D(100), "USD": D(50), "BTC": D("0.01"), "SOL": D(2), "XYZ": D(1000)}
HOLDINGS |= {"ETH": D("0.5"), "DOGE": D(3)}
REQUEST: dict[str, Any] = {
    "request_id": "liq-1",
    "dry_run": False,
    "confirm": "LIQUIDATE",
    "keep": ["ETH"],
}


def products() -> dict[str, Any]:
    return {
        "BTC-USD": product("BTC-USD", base_increment=D("0.00000001"), base_min_size=D("0.00001")),
        "ETH-USD": product("ETH-USD"),
        "SOL-USD": product("SOL-USD"),
        "DOGE-USD": product(
            "DOGE-USD", base_increment=D(1), base_min_size=D(1), quote_increment=D("0.00001")
        ),
        "XYZ-BTC": product(
            "XYZ-BTC",
            base_increment=D(1),
            base_min_size=D(1),
            quote_increment=D("0.00000001"),
            quote_min_size=D("0.00001"),
        ),
    }


def fixed_market(clock: SteppingClock) -> ScriptedMarket:
    candles = {pid: series(NOW, [price] * 3) for pid, price in PRICES.items()}
    return ScriptedMarket(clock, products(), candles, spread_bps=D(0))


def rig_config(**liquidation: Any) -> Config:
    return tweak(default_config(), liquidation=liquidation) if liquidation else default_config()


@dataclass
class LiquidationRig:
    """Everything one liquidation needs; `sleeps` records every wait it asked for."""

    config: Config
    clock: SteppingClock
    market: ScriptedMarket
    exchange: Exchange
    store: InMemoryStateStore = field(default_factory=InMemoryStateStore)
    lock: InMemoryCycleLock = field(default_factory=InMemoryCycleLock)
    audit: ListAuditSink = field(default_factory=ListAuditSink)
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[float], None] | None = None

    def deps(self) -> CycleDeps:
        return CycleDeps(
            self.config,
            self.exchange,
            self.store,
            self.lock,
            self.audit,
            self.clock,
            SimulatedPaperAccounts(self.config, self.clock),
            sleep=self._sleep,
        )

    def liquidate(
        self,
        mode: Mode = Mode.LIVE,
        remaining_seconds: Callable[[], float] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        request = parse_liquidation_request({**REQUEST, **fields})
        return run_liquidation(self.deps(), request, "operator", remaining_seconds, mode=mode)

    def state(self) -> PortfolioState:
        return self.store.load()

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)


def sim_rig(
    balances: Mapping[str, Decimal] | None = None,
    config: Config | None = None,
    slippage_bps: Decimal = Decimal(0),
) -> tuple[LiquidationRig, MatchingExchange]:
    """The simulated account holding `balances` (HOLDINGS by default), traded in LIVE mode."""
    clock = SteppingClock(NOW, 300)
    market = fixed_market(clock)
    held = dict(HOLDINGS if balances is None else balances)
    account = MatchingExchange(market, clock, FEES, slippage_bps, held)
    return LiquidationRig(config or rig_config(), clock, market, account), account


@contextmanager
def fake_coinbase_rig(
    balances: Mapping[str, Decimal] | None = None,
) -> Iterator[tuple[LiquidationRig, FakeCoinbase]]:
    """The real Coinbase adapter and SDK on the fake Coinbase, whose account is HOLDINGS."""
    clock = SteppingClock(NOW, 300)
    market = fixed_market(clock)
    held = dict(HOLDINGS if balances is None else balances)
    account = MatchingExchange(market, clock, FEES, D(0), held)
    _, public_key = throwaway_key()
    fake = FakeCoinbase(market, account, clock, FEES, D(0), verify_key=public_key)  # type: ignore[arg-type]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        exchange = build_exchange(clock, RecordingSleep())
        yield LiquidationRig(rig_config(), clock, market, exchange), fake


class RefusingExchange:
    """The simulated account, but the `refuse_at`-th create (1-based) loses its answer: it
    is placed, then the caller hears OutcomeUnknown, and reads of it find nothing until
    `reveal()` (a create whose answer was lost, on an exchange slow to show it)."""

    def __init__(self, inner: MatchingExchange, refuse_at: int) -> None:
        self.inner = inner
        self._refuse_at = refuse_at
        self._creates = 0
        self._hidden: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def place_order(self, order: PlannedOrder) -> Order:
        self._creates += 1
        placed = self.inner.place_order(order)
        if self._creates == self._refuse_at:
            self._hidden.add(order.client_order_id)
            raise OutcomeUnknown(f"create {order.client_order_id}: timed out")
        return placed

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        if client_order_id in self._hidden:
            return None
        return self.inner.get_order(client_order_id, order_id)

    def reveal(self) -> None:
        self._hidden.clear()
