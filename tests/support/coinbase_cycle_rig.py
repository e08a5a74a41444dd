"""LIVE cycles through the real SDK on the fake Coinbase, with an in-memory store, lock and audit.

    with coinbase_env(start=START) as env:
        rig = CoinbaseCycleRig(env)
        result = rig.run_until_trade()

`run` takes another exchange or store for one cycle (a test double wrapped around them, or
`env.new_exchange()`: a fresh process that remembers no order ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from fake_coinbase_env import CoinbaseEnv
from scripted_market import default_config

from trader.adapters.memory import InMemoryCycleLock, InMemoryStateStore, ListAuditSink
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.config import Config
from trader.domain.ids import cycle_id_for
from trader.domain.models import CycleResult, Mode, Order, Product
from trader.ports import Exchange, StateStore
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle

# 30 s into the first bar of a synthetic day that trades early (see lib/trader/default.yaml).
START = datetime(2026, 2, 17, 0, 0, 30, tzinfo=UTC)


@dataclass
class CoinbaseCycleRig:
    env: CoinbaseEnv
    store: InMemoryStateStore = field(default_factory=InMemoryStateStore)
    lock: InMemoryCycleLock = field(default_factory=InMemoryCycleLock)
    audit: ListAuditSink = field(default_factory=ListAuditSink)
    # lib/trader/default.yaml less the edge check, as the scripted rigs: these tests are about the
    # order lifecycle on the fake, and their first trade is the synthetic day's first signal
    config: Config = field(default_factory=default_config)

    def run(
        self,
        cycle_id: str | None = None,
        exchange: Exchange | None = None,
        store: StateStore | None = None,
        remaining_seconds: Callable[[], float] | None = None,
    ) -> CycleResult:
        """One LIVE cycle at the clock's time (or as `cycle_id`); `remaining_seconds` is the
        Lambda's time left (None: unbounded)."""
        deps = CycleDeps(
            self.config,
            exchange or self.env.exchange,
            store or self.store,
            self.lock,
            self.audit,
            self.env.clock,
            SimulatedPaperAccounts(self.config, self.env.clock),
            sleep=lambda _s: None,
        )
        cid = cycle_id or cycle_id_for(self.env.clock.now(), 300)
        return run_cycle(deps, CycleRequest(cid, Mode.LIVE, "test", remaining_seconds))

    def run_until_trade(self, limit: int = 24, **kwargs: object) -> CycleResult:
        """Cycles a bar apart until one places an order."""
        for _ in range(limit):
            self.env.clock.advance()
            result = self.run(**kwargs)  # type: ignore[arg-type]
            if result.orders:
                return result
        raise AssertionError(f"no trade in {limit} cycles")

    # --- what the fake's account holds (the truth the bot is checked against) ----------------

    def account_totals(self) -> dict[str, Decimal]:
        """Every currency's available + hold, as the fake's account has it."""
        return {c: b.total for c, b in self.env.fake.exchange.get_balances().items()}

    def account_orders(self) -> dict[str, Order]:
        """Every order the fake's account holds, by client_order_id."""
        return self.env.fake.routes.all_orders()

    def products(self) -> dict[str, Product]:
        return {p.product_id: p for p in self.env.fake.routes.products_now()}
