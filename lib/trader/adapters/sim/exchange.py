"""The simulated exchange: a MatchingExchange over the synthetic market or over candle CSVs."""

from __future__ import annotations

from pathlib import Path

from trader.adapters.sim.csv_market import CsvMarket
from trader.adapters.sim.matching import MatchingExchange
from trader.adapters.sim.synthetic import SyntheticMarket
from trader.domain.config import Config
from trader.domain.errors import ConfigError
from trader.domain.models import FeeRates
from trader.domain.money import HUNDRED
from trader.ports import Clock, MarketData


def build_simulated_exchange(
    cfg: Config, clock: Clock, candles_dir: Path | None = None
) -> MatchingExchange:
    """Synthetic market without `candles_dir`, else the CSVs in it; cash from the simulator config.

    The market is exposed as `.market` (for `set_product_flags`, and `regime_at` when synthetic).
    """
    sim = cfg.simulator
    if sim is None:
        raise ConfigError("the simulated exchange needs a `simulator:` section in the config")
    granularity = cfg.cycle.candle_granularity_seconds
    market: MarketData
    if candles_dir is None:
        market = SyntheticMarket(sim, clock, granularity)
    else:
        market = CsvMarket(Path(candles_dir), clock, granularity)
    return MatchingExchange(
        market=market,
        clock=clock,
        fees=FeeRates(maker=sim.maker_fee_pct / HUNDRED, taker=sim.taker_fee_pct / HUNDRED),
        slippage_bps=sim.slippage_bps,
        balances={cfg.cycle.quote_currency: sim.starting_cash},
        candle_granularity_s=granularity,
    )
