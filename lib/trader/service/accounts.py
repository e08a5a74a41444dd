"""Which account a mode trades against, and how that account is kept between cycles.

DRY_RUN and PAPER use a simulated account (MatchingExchange) over the real market data,
with its balances kept in the portfolio state; DRY_RUN only sizes from it and never sends.
LIVE uses the exchange itself.
"""

from __future__ import annotations

from datetime import datetime

from trader.adapters.sim.matching import MatchingExchange
from trader.domain.config import Config
from trader.domain.errors import ExchangeError
from trader.domain.models import FeeRates, Mode, OrderStatus
from trader.domain.money import HUNDRED
from trader.domain.state import PortfolioState
from trader.ports import Clock, Exchange
from trader.service.orders import book


def open_account(
    mode: Mode, exchange: Exchange, state: PortfolioState, config: Config, clock: Clock
) -> Exchange:
    if mode is Mode.LIVE:
        return exchange
    balances = dict(state.paper_balances) or {
        config.cycle.quote_currency: config.paper.starting_cash
    }
    return MatchingExchange(
        market=exchange,
        clock=clock,
        fees=paper_fees(exchange, config),
        slippage_bps=config.paper.slippage_bps,
        balances=balances,
        # Only orders the paper account had acknowledged: a PENDING one was never placed there.
        orders={k: o for k, o in state.open_orders.items() if o.status is OrderStatus.OPEN},
    )


def paper_fees(exchange: Exchange, config: Config) -> FeeRates:
    """The account's real fee tier when the exchange can tell (keys present), else the config's."""
    try:
        return exchange.get_fee_rates()
    except ExchangeError:
        return FeeRates(
            maker=config.paper.maker_fee_pct / HUNDRED, taker=config.paper.taker_fee_pct / HUNDRED
        )


def keep_account(
    mode: Mode, account: Exchange, state: PortfolioState, cooldown_minutes: int, now: datetime
) -> PortfolioState:
    """Carry a PAPER account into the state, its open orders re-booked first.

    The paper account settles resting orders whenever it is read, so a limit order may have
    filled since reconcile; booking it now keeps the saved balances and positions in step.
    """
    if mode is not Mode.PAPER or not isinstance(account, MatchingExchange):
        return state
    for coid in sorted(state.open_orders):
        current = account.get_order(coid)
        if current is not None and current.status is not OrderStatus.PENDING:
            state = book(state, current, cooldown_minutes, now)
    return state.replace(paper_balances=account.balance_totals())
