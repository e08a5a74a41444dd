"""Protections that change the trading state by themselves: the max-drawdown hold.

The peak is the highest equity a cycle has valued. When the equity falls `max_drawdown_pct`
below it while trading is ACTIVE, trading moves to REDUCING (exits only) and the state
remembers when. Only the operator sets ACTIVE again, by the usual switch (`trader
trading-state ACTIVE`, `set_trading_state`, or the raw DynamoDB update): a cycle that finds
ACTIVE while the trip is remembered takes it as the release and restarts the peak at the
equity it values, so the old peak cannot trip the hold again at once. The release is read
from the state rather than written by the switch, because the switch touches only the
trading_state attribute (a cycle running at that moment must not undo it, nor it the cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trader.domain.config import RiskConfig
from trader.domain.copying import quick_init
from trader.domain.models import ZERO, TradingState
from trader.domain.money import HUNDRED
from trader.domain.state import PortfolioState

MAX_DRAWDOWN = "max_drawdown"


@quick_init
@dataclass(frozen=True, slots=True)
class Protections:
    """What the protections saw this cycle (the audit's `protections` section)."""

    peak_equity: Decimal
    drawdown_pct: Decimal  # below the peak, in percent (0 at or above it)
    max_drawdown_pct: Decimal | None  # the limit; None: disabled
    tripped: str | None  # the protection that moved the trading state this cycle
    released: bool  # the operator's release was seen: the peak restarted at this equity
    held_since: datetime | None  # the drawdown hold is in force since then (None: not held)


def drawdown_pct(peak: Decimal, equity: Decimal) -> Decimal:
    """How far `equity` is below `peak`, in percent; 0 without a peak or at a new high."""
    if peak <= 0 or equity >= peak:
        return ZERO
    return (peak - equity) / peak * HUNDRED


def guard_drawdown(
    state: PortfolioState, equity: Decimal, now: datetime, cfg: RiskConfig
) -> tuple[PortfolioState, Protections]:
    """Raise the peak, see a release, and trip the hold when the drawdown reaches the limit.

    It trips only from ACTIVE: a REDUCING or HALTED set by the operator stays the operator's,
    and a release is never inferred from a state the protection did not set.
    """
    released = state.drawdown_tripped_at is not None and (
        state.trading_state is TradingState.ACTIVE
    )
    if released:
        state = state.replace(peak_equity=equity, drawdown_tripped_at=None)
    elif equity > state.peak_equity:
        state = state.replace(peak_equity=equity)
    drawdown = drawdown_pct(state.peak_equity, equity)
    limit = cfg.max_drawdown_pct
    trips = limit is not None and state.trading_state is TradingState.ACTIVE and drawdown >= limit
    if trips:
        state = state.replace(trading_state=TradingState.REDUCING, drawdown_tripped_at=now)
    seen = Protections(
        peak_equity=state.peak_equity,
        drawdown_pct=drawdown,
        max_drawdown_pct=limit,
        tripped=MAX_DRAWDOWN if trips else None,
        released=released,
        held_since=state.drawdown_tripped_at,
    )
    return state, seen
