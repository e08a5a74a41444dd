"""Risk checks between the rules and execution: each block names its check and its numbers.

Entries face every limit. Exits are never blocked by a limit (a limit must not trap a
position), except when the operator HALTED trading altogether.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from trader.domain.config import RiskConfig
from trader.domain.copying import quick_init
from trader.domain.models import ZERO, Intent, Proposal, RiskDecision, TradingState
from trader.domain.money import HUNDRED
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import Valuation, in_cooldown

KILL_SWITCH_CHECKS = frozenset({"kill_switch", "daily_loss_limit"})


@quick_init
@dataclass(frozen=True, slots=True)
class RiskContext:
    state: PortfolioState
    valuation: Valuation
    cash_available: Decimal
    taker_fee_rate: Decimal
    now: datetime
    fundable: Decimal = ZERO  # what selling the funding sources would add (funding.sources)


@dataclass(slots=True)
class _Running:
    """What the proposals approved earlier in this cycle already use up."""

    trades: int = 0
    spend: Decimal = ZERO
    exposure: dict[str, Decimal] = field(default_factory=dict)


Check = Callable[[Proposal, RiskContext, RiskConfig, _Running], str | None]


def _kill_switch(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    state = ctx.state
    if state.trading_state is TradingState.ACTIVE:
        return None
    held = state.drawdown_tripped_at
    since = f" (max_drawdown hold since {held.isoformat()})" if held is not None else ""
    return f"trading_state {state.trading_state.value}{since}"


def _daily_loss(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    """Realized PnL today, plus (per config) the open positions' net unrealized loss."""
    limit = ctx.valuation.equity * cfg.daily_loss_limit_pct / HUNDRED
    realized = -ctx.state.realized_pnl_today
    open_loss = max(ZERO, -ctx.valuation.unrealized_pnl)
    loss = realized + open_loss if cfg.daily_loss_includes_unrealized else realized
    if loss > 0 and loss >= limit:  # no loss never trips it (equity 0 makes the limit 0)
        pct = cfg.daily_loss_limit_pct
        what = (
            f"realized loss today {realized:.2f} + open loss {open_loss:.2f} = {loss:.2f}"
            if cfg.daily_loss_includes_unrealized
            else f"realized loss today {loss:.2f}"
        )
        return f"{what} >= limit {limit:.2f} ({pct}% of equity)"
    return None


def _trades_per_day(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    done = ctx.state.trades_today + run.trades
    if done >= cfg.max_trades_per_day:
        return f"trades today {done} >= {cfg.max_trades_per_day}"
    return None


def _trades_per_hour(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    done = ctx.state.trades_this_hour + run.trades
    if done >= cfg.max_trades_per_hour:
        return f"trades this hour {done} >= {cfg.max_trades_per_hour}"
    return None


def _cooldown(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    until = in_cooldown(ctx.state, p.product_id, ctx.now)
    if until is not None:
        return f"cooldown after an exit until {until.isoformat()}"
    return None


def _min_notional(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    size = p.quote_size or ZERO
    if size < cfg.min_notional_quote:
        return f"notional {size:.2f} < {cfg.min_notional_quote}"
    return None


def _per_asset(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    held = ctx.valuation.exposure.get(p.product_id, ZERO) + run.exposure.get(p.product_id, ZERO)
    after = held + (p.quote_size or ZERO)
    limit = ctx.valuation.equity * cfg.max_exposure_per_asset_pct / HUNDRED
    if after > limit:
        pct = cfg.max_exposure_per_asset_pct
        return f"{p.product_id} exposure {after:.2f} > {limit:.2f} ({pct}% of equity)"
    return None


def _total(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    after = ctx.valuation.total_exposure + sum(run.exposure.values(), ZERO) + (p.quote_size or ZERO)
    limit = ctx.valuation.equity * cfg.max_total_exposure_pct / HUNDRED
    if after > limit:
        return f"total exposure {after:.2f} > {limit:.2f} ({cfg.max_total_exposure_pct}% of equity)"
    return None


def _funds(p: Proposal, ctx: RiskContext, cfg: RiskConfig, run: _Running) -> str | None:
    need = (p.quote_size or ZERO) * (1 + ctx.taker_fee_rate)
    left = ctx.cash_available + ctx.fundable - run.spend
    if need > left:
        return f"needs {need:.2f} with fees, {left:.2f} available"
    return None


ENTRY_CHECKS: tuple[tuple[str, Check], ...] = (
    ("kill_switch", _kill_switch),
    ("daily_loss_limit", _daily_loss),
    ("max_trades_per_day", _trades_per_day),
    ("max_trades_per_hour", _trades_per_hour),
    ("cooldown", _cooldown),
    ("min_notional", _min_notional),
    ("max_exposure_per_asset", _per_asset),
    ("max_total_exposure", _total),
    ("insufficient_funds", _funds),
)


def check_risk(
    proposals: Sequence[Proposal], ctx: RiskContext, cfg: RiskConfig
) -> tuple[RiskDecision, ...]:
    """Decide each proposal in order; approved entries use up limits for the ones after them."""
    run = _Running()
    decisions: list[RiskDecision] = []
    for proposal in proposals:
        if proposal.intent is Intent.EXIT:
            decisions.append(_decide_exit(proposal, ctx))
            continue
        blocked = next(
            (
                (name, why)
                for name, check in ENTRY_CHECKS
                if (why := check(proposal, ctx, cfg, run))
            ),
            None,
        )
        if blocked:
            decisions.append(RiskDecision(proposal, False, blocked[0], blocked[1]))
            continue
        size = proposal.quote_size or ZERO
        run.trades += 1
        run.spend += size * (1 + ctx.taker_fee_rate)
        run.exposure[proposal.product_id] = run.exposure.get(proposal.product_id, ZERO) + size
        decisions.append(RiskDecision(proposal, True))
    return tuple(decisions)


def _decide_exit(proposal: Proposal, ctx: RiskContext) -> RiskDecision:
    if ctx.state.trading_state is TradingState.HALTED:
        return RiskDecision(proposal, False, "kill_switch", "trading_state HALTED stops exits too")
    return RiskDecision(proposal, True)


def kill_switch_engaged(decisions: Sequence[RiskDecision]) -> bool:
    """True when every block came from the kill switch or the daily loss limit."""
    blocks = [d for d in decisions if not d.approved]
    return bool(blocks) and all(d.check in KILL_SWITCH_CHECKS for d in blocks)
