"""Stablecoin conversions before the buys that need them, written ahead like orders.

Convert takes no client id of ours, so the state remembers each conversion by the plan's
deterministic id before it is sent: a retried cycle finds it and never converts twice (an
outcome left unknown is not retried; the pool's total is the same either way, only the
currency the buy can use is not). A buy whose conversion did not complete is not sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from trader.domain.errors import ExchangeError, OrderRejected
from trader.domain.models import Conversion, ConversionStatus, PlannedConversion, PlannedOrder
from trader.domain.state import PortfolioState
from trader.ports import Exchange

log = logging.getLogger(__name__)
CONVERSIONS_KEPT = 50


def convert_first(
    state: PortfolioState,
    account: Exchange,
    plan: tuple[PlannedOrder, ...],
    conversions: Sequence[PlannedConversion],
    save: Callable[[PortfolioState], PortfolioState],
) -> tuple[PortfolioState, tuple[PlannedOrder, ...], tuple[Conversion, ...]]:
    """Run the conversions not yet recorded; the plan less the buys left unpaid."""
    todo = [c for c in conversions if c.client_id not in state.conversions]
    if not todo:
        return state, plan, ()
    pending = {c.client_id: ConversionStatus.PENDING for c in todo}
    state = save(state.replace(conversions=kept_conversions({**state.conversions, **pending})))
    results = tuple(send_conversion(account, c) for c in todo)
    done = {r.client_id: r.status for r in results}
    state = state.replace(conversions=kept_conversions({**state.conversions, **done}))
    unpaid = {
        c.for_order
        for c, r in zip(todo, results, strict=True)
        if r.status is not ConversionStatus.COMPLETED
    }
    return state, tuple(o for o in plan if o.client_order_id not in unpaid), results


def send_conversion(account: Exchange, conversion: PlannedConversion) -> Conversion:
    """One conversion sent once: COMPLETED, FAILED (refused), or STARTED (outcome unknown)."""
    try:
        return account.convert(conversion)
    except OrderRejected as exc:
        return Conversion(
            conversion.client_id, None, ConversionStatus.FAILED, conversion.amount, exc.reason
        )
    except ExchangeError as exc:  # sent or not, nobody knows: the buy waits for a later cycle
        log.warning("conversion %s: outcome unknown", conversion.client_id, exc_info=True)
        return Conversion(
            conversion.client_id,
            None,
            ConversionStatus.STARTED,
            conversion.amount,
            type(exc).__name__,
        )


def kept_conversions(conversions: dict[str, ConversionStatus]) -> dict[str, ConversionStatus]:
    """The newest CONVERSIONS_KEPT records: enough for any retry, never a growing state."""
    return dict(list(conversions.items())[-CONVERSIONS_KEPT:])
