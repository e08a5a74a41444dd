"""Why a cycle placed nothing: the first stage that came up empty names the reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trader.domain.models import NoTradeReason, Proposal, RiskDecision, Signal, TradingState
from trader.pipeline.edge import EDGE_BELOW_COST
from trader.pipeline.execution import Dropped
from trader.pipeline.risk import kill_switch_engaged
from trader.pipeline.universe import Universe


def why_no_orders(
    trading_state: TradingState,
    universe: Universe,
    signals: Sequence[Signal],
    exits: Sequence[Proposal],
    proposals: Sequence[Proposal],
    skipped_entries: Mapping[str, str],
    decisions: Sequence[RiskDecision],
    dropped: Sequence[Dropped],
) -> tuple[NoTradeReason, str]:
    """(reason, detail) for a cycle whose execution plan is empty."""
    if trading_state is not TradingState.ACTIVE and not any(d.approved for d in decisions):
        return NoTradeReason.KILL_SWITCH, f"trading_state {trading_state.value}"
    if not universe.members and not exits:
        return NoTradeReason.EMPTY_UNIVERSE, f"{len(universe.excluded)} products excluded"
    if not signals and not exits:
        return NoTradeReason.NO_CANDIDATES_FROM_TRIGGERS, f"{len(universe.members)} products quiet"
    if not proposals:
        detail = "; ".join(f"{pid}: {why}" for pid, why in sorted(skipped_entries.items()))
        if skipped_entries and all(
            why.startswith(NoTradeReason.REGIME_BLOCKED) for why in skipped_entries.values()
        ):
            return NoTradeReason.REGIME_BLOCKED, detail
        if any(why.startswith(EDGE_BELOW_COST) for why in skipped_entries.values()):
            return NoTradeReason.EDGE_BELOW_COST, detail
        return NoTradeReason.RULES_ENGINE_NO_PROPOSALS, detail or "no entry or exit rule met"
    if not any(d.approved for d in decisions):
        detail = "; ".join(f"{d.proposal.product_id}: {d.check}" for d in decisions)
        if kill_switch_engaged(decisions):
            return NoTradeReason.KILL_SWITCH, detail
        return NoTradeReason.ALL_PROPOSALS_BLOCKED_BY_RISK, detail
    detail = "; ".join(f"{d.proposal.product_id}: {d.reason}" for d in dropped)
    return NoTradeReason.NO_ORDERS_AFTER_EXECUTION_FILTER, detail
