"""A cycle test rig: a scripted market, a simulated exchange and in-memory adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from scripted_market import ScriptedMarket, default_config, product, rising, series

from trader.adapters.clock import SteppingClock
from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore, ListAuditSink
from trader.adapters.sim.matching import MatchingExchange
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.config import Config
from trader.domain.errors import ExchangeError
from trader.domain.ids import cycle_id_for
from trader.domain.models import CycleResult, FeeRates, Mode, Order
from trader.domain.state import PortfolioState
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FLAT_BARS = 440  # enough for every window of the default regime (433 five-minute bars)
FEES = FeeRates(maker=Decimal("0.004"), taker=Decimal("0.006"))


@dataclass
class Rig:
    """Everything one test cycle needs, with the scripted market exposed for changes."""

    config: Config
    clock: SteppingClock
    market: ScriptedMarket
    exchange: MatchingExchange
    store: InMemoryStateStore = field(default_factory=InMemoryStateStore)
    lock: InMemoryCycleLock = field(default_factory=InMemoryCycleLock)
    audit: ListAuditSink = field(default_factory=ListAuditSink)

    def deps(self, exchange: object | None = None) -> CycleDeps:
        return CycleDeps(
            self.config,
            exchange or self.exchange,
            self.store,
            self.lock,
            self.audit,
            self.clock,
            SimulatedPaperAccounts(self.config, self.clock),
            sleep=lambda _s: None,
        )

    def start_with(self, state: PortfolioState) -> None:
        """The stored state, on an account that holds the coins it books (the exchange is the
        truth: a position the account does not hold is closed by the next reconciliation)."""
        self.store = InMemoryStateStore(state)
        coins = {pid.split("-")[0]: pos.size for pid, pos in state.positions.items()}
        cash = {"USD": Decimal(10_000), **coins}
        self.exchange = MatchingExchange(self.market, self.clock, FEES, Decimal(0), cash)

    def run(
        self, mode: Mode = Mode.LIVE, exchange: object | None = None, **request: object
    ) -> CycleResult:
        """LIVE against the simulated exchange: orders land in `self.exchange` for tests to see."""
        cycle_id = str(request.pop("cycle_id", cycle_id_for(self.clock.now(), 300)))
        return run_cycle(self.deps(exchange), CycleRequest(cycle_id, mode, "test-owner", **request))


def make_rig(config: Config | None = None, sol_step_pct: Decimal = Decimal("0.3")) -> Rig:
    """BTC and ETH flat (regime choppy), SOL rising `sol_step_pct` % a bar for 48 bars (too
    few for the regime, which reads it when it has enough)."""
    config = config or default_config()
    clock = SteppingClock(NOW, 300)
    market = ScriptedMarket(
        clock,
        products={pid: product(pid) for pid in ("BTC-USD", "ETH-USD", "SOL-USD")},
        candles={
            "BTC-USD": series(NOW, [65000] * FLAT_BARS),
            "ETH-USD": series(NOW, [3200] * FLAT_BARS),
            "SOL-USD": rising(NOW, Decimal(100), sol_step_pct, 48),
        },
    )
    exchange = MatchingExchange(market, clock, FEES, Decimal(0), {"USD": Decimal(10_000)})
    return Rig(config, clock, market, exchange)


def flat_rig(config: Config | None = None) -> Rig:
    return make_rig(config, sol_step_pct=Decimal(0))


def continue_flat(rig: Rig) -> None:
    """Move one bar on; every product stays at its last close (no exit, no new signal)."""
    rig.clock.advance()
    for pid, bars in rig.market.candles.items():
        rig.market.candles[pid] = series(rig.clock.now(), [bars[-1].close] * len(bars))


@dataclass
class CannotRead:
    """An exchange that fails every read and cancel of one order (a 503 each time)."""

    inner: MatchingExchange
    bad: str

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        if client_order_id == self.bad:
            raise ExchangeError("503 from the exchange")
        return self.inner.get_order(client_order_id, order_id)

    def cancel_order(self, client_order_id: str) -> Order | None:
        if client_order_id == self.bad:
            raise ExchangeError("503 from the exchange")
        return self.inner.cancel_order(client_order_id)
