"""The paper account of DRY_RUN and PAPER: the simulated account over real market data.

Its balances and acknowledged orders live in the portfolio state between cycles; each
cycle opens a fresh MatchingExchange from them. DRY_RUN only sizes from it and never sends.
"""

from __future__ import annotations

from trader.adapters.sim.matching import MatchingExchange
from trader.domain.config import Config
from trader.domain.errors import ExchangeError
from trader.domain.models import FeeRates, OrderStatus
from trader.domain.money import HUNDRED
from trader.domain.state import PortfolioState
from trader.ports import Clock, Exchange


class SimulatedPaperAccounts:
    """Opens a MatchingExchange over the market, with the state's paper balances."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        # Read once (a replay opens the account every cycle; the config is frozen)
        self._slippage_bps = config.paper.slippage_bps
        # A resting order fills on the bars the bot trades on (a 15-minute replay has no
        # 5-minute bars to ask for).
        self._granularity_s = config.cycle.candle_granularity_seconds

    def open(self, market: Exchange, state: PortfolioState) -> MatchingExchange:
        config = self._config
        balances = dict(state.paper_balances) or {
            config.cycle.quote_currency: config.paper.starting_cash
        }
        return MatchingExchange(
            market=market,
            clock=self._clock,
            fees=paper_fees(market, config),
            slippage_bps=self._slippage_bps,
            balances=balances,
            # Only orders the paper account had acknowledged: a PENDING one was never placed there.
            orders={k: o for k, o in state.open_orders.items() if o.status is OrderStatus.OPEN},
            candle_granularity_s=self._granularity_s,
        )


def paper_fees(exchange: Exchange, config: Config) -> FeeRates:
    """The account's real fee tier when the exchange can tell (keys present), else the config's."""
    try:
        return exchange.get_fee_rates()
    except ExchangeError:
        return FeeRates(
            maker=config.paper.maker_fee_pct / HUNDRED, taker=config.paper.taker_fee_pct / HUNDRED
        )
