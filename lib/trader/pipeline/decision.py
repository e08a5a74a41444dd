"""The whole decision of one cycle: the pure stages in order, over one market snapshot."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from trader.domain.config import Config, TriggersConfig
from trader.domain.copying import quick_init
from trader.domain.memo import PerObject, seconds
from trader.domain.models import (
    ZERO,
    Candle,
    MarketSnapshot,
    Order,
    PlannedConversion,
    PlannedOrder,
    Position,
    Proposal,
    RiskDecision,
    Signal,
)
from trader.domain.state import PortfolioState
from trader.pipeline.dust import DustLot, close_dust, value_dust
from trader.pipeline.edge import screen_entries
from trader.pipeline.execution import Dropped, ExecutionPlan, OrderIds, plan_orders
from trader.pipeline.exits import ExitPlan, exit_blockers, plan_exits
from trader.pipeline.funding import Funding, fund_orders, funding_sales, funding_value
from trader.pipeline.gauges import GaugeCache
from trader.pipeline.outcome import why_no_orders
from trader.pipeline.portfolio import (
    Valuation,
    busy_products,
    mark_watermarks,
    other_holdings_value,
    pooled,
    value_book,
)
from trader.pipeline.protections import Protections, guard_drawdown
from trader.pipeline.regime import Regime, RegimePolicy, detect_regime, policy_for
from trader.pipeline.risk import RiskContext, check_risk
from trader.pipeline.rules import EntryDecision, propose_entries
from trader.pipeline.trigger_windows import TriggerWindows
from trader.pipeline.triggers import run_triggers
from trader.pipeline.unfilled import after_unfilled, unfilled_entries
from trader.pipeline.universe import Universe, build_universe

SignalRule = Callable[
    [Sequence[str], Mapping[str, Sequence[Candle]], TriggersConfig], tuple[Signal, ...]
]
# The last argument is the regime's name (exits may tighten their stop in a falling market).
ExitRule = Callable[
    [Mapping[str, Position], MarketSnapshot, Universe, Collection[str], Config, str], ExitPlan
]


@quick_init
@dataclass(frozen=True, slots=True)
class Rules:
    """Where entries and exits come from: the config's triggers and exit rules (the bot's
    strategy), or a research plug-in with the same signatures (`trader replay --rules`).
    Sizing, risk, execution and the order lifecycle stay the bot's either way."""

    # Which products signal an entry this cycle; None: the config's triggers (run_triggers)
    # with the windows the caller keeps between cycles
    signals: SignalRule | None = None
    exits: ExitRule = plan_exits  # which positions to sell, and why


CONFIGURED_RULES = Rules()


@quick_init
@dataclass(frozen=True, slots=True)
class Assessment:
    """What the market and the book look like: regime, universe, valuation, signals, and what
    the protections made of the valuation."""

    state: PortfolioState  # watermarks and peak marked, dust closed, a protection's trip,
    # the regime remembered
    regime: Regime
    policy: RegimePolicy  # what the regime lets the rules and the exits do
    universe: Universe
    valuation: Valuation
    signals: tuple[Signal, ...]
    protections: Protections
    dust_closed: tuple[DustLot, ...] = ()  # positions closed as dust this cycle
    dust: tuple[DustLot, ...] = ()  # all dust held, valued at the bid
    cash_available: Decimal = ZERO  # the cash currencies' pooled available (risk's cash)


@quick_init
@dataclass(frozen=True, slots=True)
class Decision:
    """Every stage's answer; `no_trade` says why there is no order to place."""

    assessment: Assessment
    proposals: tuple[Proposal, ...]
    skipped_entries: dict[str, str]
    exits_blocked: dict[str, str]  # held product -> why no sell could be proposed
    decisions: tuple[RiskDecision, ...]
    planned: tuple[PlannedOrder, ...]
    dropped: tuple[Dropped, ...]
    no_trade: tuple[str, str] | None
    conversions: tuple[PlannedConversion, ...] = ()  # stablecoin conversions the buys need

    @property
    def state(self) -> PortfolioState:
        return self.assessment.state


def _without(entries: EntryDecision, no_entry: Mapping[str, str]) -> EntryDecision:
    """The entries less those on products that may not be entered, each skip with its reason."""
    if not no_entry:
        return entries
    kept = tuple(p for p in entries.proposals if p.product_id not in no_entry)
    skipped = dict(entries.skipped)
    skipped.update(
        {p.product_id: no_entry[p.product_id] for p in entries.proposals if p not in kept}
    )
    return EntryDecision(kept, skipped)


def read_regime(
    cfg: Config, state: PortfolioState, snap: MarketSnapshot, cache: GaugeCache | None = None
) -> Regime:
    """The regime after the snapshot's newest bars, from the one the state remembers."""
    granularity = cfg.cycle.candle_granularity_seconds
    return detect_regime(snap.candles, state.regime, cfg.regime, granularity, cache)


def _policy_of(cfg: Config, regime: str) -> RegimePolicy:
    return policy_for(regime, cfg.rules, cfg.exits)


_policy = PerObject(_policy_of)  # a frozen value per config and regime, not one per cycle


def assess(
    cfg: Config,
    state: PortfolioState,
    snap: MarketSnapshot,
    regime: Regime | None = None,
    rules: Rules = CONFIGURED_RULES,
    windows: TriggerWindows | None = None,
) -> Assessment:
    """`regime` when the caller read it already (the cycle reads it before freeing exits);
    `windows`: the triggers' windows kept between cycles (None: each read whole)."""
    regime = regime or read_regime(cfg, state, snap)
    universe = build_universe(snap.products, snap.quotes, cfg.universe, cfg.cycle.quote_currency)
    marked = mark_watermarks(state.positions, snap.quotes)
    state = state.replace(regime=regime.memory, positions=marked)
    state, closed = close_dust(state, snap.products, snap.quotes)
    currencies = cfg.cycle.cash_currencies  # a property making a set: read once
    cash = pooled(snap.balances, currencies)
    other = other_holdings_value(snap.balances, state.positions, snap.quotes, currencies)
    valuation = value_book(state.positions, snap.quotes, cash.total, other)
    state, protections = guard_drawdown(state, valuation.equity, snap.as_of, cfg.risk)
    signals = (
        run_triggers(universe.product_ids, snap.candles, cfg.triggers, windows)
        if rules.signals is None
        else rules.signals(universe.product_ids, snap.candles, cfg.triggers)
    )
    dust = value_dust(state.dust, snap.quotes)
    policy = _policy(cfg, regime.name)
    return Assessment(
        state,
        regime,
        policy,
        universe,
        valuation,
        signals,
        protections,
        closed,
        dust,
        cash.available,
    )


def _propose(
    cfg: Config,
    seen: Assessment,
    snap: MarketSnapshot,
    no_entry: Mapping[str, str],
    rules: Rules,
    reconciled: Sequence[Order],
) -> tuple[ExitPlan, EntryDecision]:
    in_flight = exit_blockers(seen.state, snap.as_of)
    regime = seen.regime.name
    exit_plan = rules.exits(seen.state.positions, snap, seen.universe, in_flight, cfg, regime)
    busy = busy_products(seen.state)  # after dust left the book: dust holds no product
    entries = propose_entries(
        seen.signals, seen.universe, seen.policy, seen.valuation.equity, busy, cfg.rules
    )
    unfilled = unfilled_entries(
        reconciled, snap.as_of, seconds(cfg.execution.cancel_resting_after_seconds)
    )
    entries = after_unfilled(
        _without(entries, no_entry), unfilled, cfg.execution.unfilled_entry_fallback
    )
    return exit_plan, screen_entries(entries, snap, cfg.edge, cfg.exits, cfg.execution)


def _risk_context(cfg: Config, seen: Assessment, snap: MarketSnapshot) -> RiskContext:
    available = seen.cash_available  # pooled once, by assess
    fundable = funding_value(
        snap.balances, snap.quotes, cfg.funding.sources, cfg.cycle.quote_currency, snap.fees.taker
    )
    return RiskContext(seen.state, seen.valuation, available, snap.fees.taker, snap.as_of, fundable)


def _with_funding_sales(
    cfg: Config, plan: ExecutionPlan, snap: MarketSnapshot, ids: OrderIds, available: Decimal
) -> ExecutionPlan:
    """The plan, led by sales of funding sources when the cash (`available`) cannot pay its
    buys."""
    sales = funding_sales(
        plan.orders,
        snap.balances,
        snap.quotes,
        available,
        cfg.funding,
        cfg.cycle.quote_currency,
        snap.fees.taker,
    )
    if not sales:
        return plan
    funded = plan_orders(sales, snap.products, snap.quotes, ZERO, cfg.execution, ids)
    return ExecutionPlan((*funded.orders, *plan.orders), (*funded.dropped, *plan.dropped))


def _funded(
    cfg: Config, plan: tuple[PlannedOrder, ...], snap: MarketSnapshot, ids: OrderIds
) -> Funding:
    """Each buy on the stablecoin that pays for it (USD and USDC are one pool)."""
    if not plan:
        return Funding((), ())  # most cycles: no uuid5 for the conversion ids
    cash = {c: b.available for c, b in snap.balances.items() if c in cfg.cycle.cash_currencies}
    return fund_orders(plan, snap.products, cash, ids.conversion_prefix())


def _why_none(
    seen: Assessment,
    exit_plan: ExitPlan,
    entries: EntryDecision,
    proposals: tuple[Proposal, ...],
    decisions: tuple[RiskDecision, ...],
    plan: ExecutionPlan,
) -> tuple[str, str]:
    return why_no_orders(
        seen.state.trading_state,
        seen.universe,
        seen.signals,
        exit_plan.proposals,
        proposals,
        entries.skipped,
        decisions,
        plan.dropped,
    )


def decide(
    cfg: Config,
    state: PortfolioState,
    snap: MarketSnapshot,
    cycle_id: str,
    no_entry: Mapping[str, str] | None = None,
    regime: Regime | None = None,
    rules: Rules = CONFIGURED_RULES,
    reconciled: Sequence[Order] = (),
    windows: TriggerWindows | None = None,
) -> Decision:
    """Exits and entries proposed, checked by risk, planned as orders (or why there are none).

    `no_entry`: products not to enter this cycle, with why (their exits still run). `regime`:
    the cycle's reading, or None to read it here. `reconciled`: the orders read back before
    deciding (an entry limit that ended unfilled decides its entry: pipeline/unfilled.py).
    `windows`: the triggers' windows kept between cycles (the same signals, cheaper)."""
    seen = assess(cfg, state, snap, regime, rules, windows)
    exit_plan, entries = _propose(cfg, seen, snap, no_entry or {}, rules, reconciled)
    proposals = (*exit_plan.proposals, *entries.proposals)
    risk = _risk_context(cfg, seen, snap)
    decisions = check_risk(proposals, risk, cfg.risk)
    ids = OrderIds(cfg.cycle.portfolio_id, cycle_id)
    approved = [d.proposal for d in decisions if d.approved]
    limits = (cfg.risk.min_notional_quote, cfg.execution)
    plan = plan_orders(approved, snap.products, snap.quotes, *limits, ids)
    plan = _with_funding_sales(cfg, plan, snap, ids, risk.cash_available)
    funding = _funded(cfg, plan.orders, snap, ids)
    no_trade = None
    if not plan.orders:
        no_trade = _why_none(seen, exit_plan, entries, proposals, decisions, plan)
    return Decision(
        seen,
        proposals,
        entries.skipped,
        exit_plan.blocked,
        decisions,
        funding.orders,
        plan.dropped,
        no_trade,
        funding.conversions,
    )
