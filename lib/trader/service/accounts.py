"""How the paper account is carried from one cycle to the next (LIVE keeps nothing: the
exchange is the account)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trader.domain.models import OrderStatus
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import Cooldowns
from trader.ports import PaperAccount
from trader.service.orders import book


def keep_paper_account(
    account: PaperAccount,
    state: PortfolioState,
    cooldowns: Cooldowns,
    now: datetime,
    **also: Any,
) -> PortfolioState:
    """Carry a PAPER account into the state, its open orders re-booked first; `also`: other
    changes of the state made in the same copy (the cycle's stamp).

    The paper account settles resting orders whenever it is read, so a limit order may have
    filled since reconcile; booking it now keeps the saved balances and positions in step.
    """
    for coid in sorted(state.open_orders):
        current = account.get_order(coid)
        if current is not None and current.status is not OrderStatus.PENDING:
            state = book(state, current, cooldowns, now)
    return state.replace(paper_balances=account.balance_totals(), **also)
