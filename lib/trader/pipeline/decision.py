"""The whole decision of one cycle: the pure stages in order, over one market snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from trader.domain.config import Config
from trader.domain.models import (
    ZERO,
    MarketSnapshot,
    PlannedOrder,
    Proposal,
    RiskDecision,
    Signal,
)
from trader.domain.state import PortfolioState
from trader.pipeline.dust import DustLot, close_dust, value_dust
from trader.pipeline.execution import Dropped, OrderIds, plan_orders
from trader.pipeline.exits import exit_blockers, propose_exits
from trader.pipeline.outcome import why_no_orders
from trader.pipeline.portfolio import Valuation, busy_products, mark_watermarks, value_book
from trader.pipeline.regime import Regime, detect_regime
from trader.pipeline.risk import RiskContext, check_risk
from trader.pipeline.rules import propose_entries
from trader.pipeline.triggers import run_triggers
from trader.pipeline.universe import Universe, build_universe


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the market and the book look like: regime, universe, valuation, signals, dust."""

    state: PortfolioState  # with the positions' high watermarks marked and dust closed
    regime: Regime
    universe: Universe
    valuation: Valuation
    signals: tuple[Signal, ...]
    dust_closed: tuple[DustLot, ...] = ()  # positions closed as dust this cycle
    dust: tuple[DustLot, ...] = ()  # all dust held, valued at the bid


@dataclass(frozen=True, slots=True)
class Decision:
    """Every stage's answer; `no_trade` says why there is no order to place."""

    assessment: Assessment
    proposals: tuple[Proposal, ...]
    skipped_entries: dict[str, str]
    decisions: tuple[RiskDecision, ...]
    planned: tuple[PlannedOrder, ...]
    dropped: tuple[Dropped, ...]
    no_trade: tuple[str, str] | None

    @property
    def state(self) -> PortfolioState:
        return self.assessment.state


def assess(cfg: Config, state: PortfolioState, snap: MarketSnapshot) -> Assessment:
    regime = detect_regime(snap.candles.get(cfg.regime.reference_product, ()), cfg.regime)
    universe = build_universe(snap.products, snap.quotes, cfg.universe, cfg.cycle.quote_currency)
    state = state.replace(positions=mark_watermarks(state.positions, snap.quotes))
    state, closed = close_dust(state, snap.products, snap.quotes)
    cash = snap.balances.get(cfg.cycle.quote_currency)
    valuation = value_book(state.positions, snap.quotes, cash.total if cash else ZERO)
    signals = run_triggers(universe.product_ids, snap.candles, cfg.triggers)
    dust = value_dust(state.dust, snap.quotes)
    return Assessment(state, regime, universe, valuation, signals, closed, dust)


def decide(cfg: Config, state: PortfolioState, snap: MarketSnapshot, cycle_id: str) -> Decision:
    """Exits and entries proposed, checked by risk, planned as orders (or why there are none)."""
    seen = assess(cfg, state, snap)
    in_flight = exit_blockers(seen.state, snap.as_of)
    exits = propose_exits(seen.state.positions, snap.quotes, snap.as_of, in_flight, cfg.exits)
    busy = busy_products(seen.state)  # after dust left the book: dust holds no product
    entries = propose_entries(
        seen.signals, seen.universe, seen.regime, seen.valuation.equity, busy, cfg.rules
    )
    proposals = (*exits, *entries.proposals)
    cash = snap.balances.get(cfg.cycle.quote_currency)
    available = cash.available if cash else ZERO
    risk_ctx = RiskContext(seen.state, seen.valuation, available, snap.fees.taker, snap.as_of)
    decisions = check_risk(proposals, risk_ctx, cfg.risk)
    plan = plan_orders(
        [d.proposal for d in decisions if d.approved],
        snap.products,
        snap.quotes,
        cfg.risk.min_notional_quote,
        cfg.execution,
        OrderIds(cfg.cycle.portfolio_id, cycle_id),
    )
    no_trade = None
    if not plan.orders:
        no_trade = why_no_orders(
            seen.state.trading_state,
            seen.universe,
            seen.signals,
            exits,
            proposals,
            entries.skipped,
            decisions,
            plan.dropped,
        )
    return Decision(
        seen, proposals, entries.skipped, decisions, plan.orders, plan.dropped, no_trade
    )
