"""The paper account of DRY_RUN and PAPER: a resting order fills on the bars the bot trades on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pipeline_builders import config

from trader.adapters.clock import SteppingClock
from trader.adapters.sim.csv_market import CsvMarket
from trader.adapters.sim.matching import MatchingExchange
from trader.adapters.sim.paper import SimulatedPaperAccounts
from trader.domain.models import FeeRates, Intent, OrderStatus, OrderType, PlannedOrder, Side
from trader.domain.state import PortfolioState
from trader.service.counting import CountingExchange

D = Decimal
T0 = 1_772_409_600  # 2026-03-02T00:00:00Z
ROWS_15M = [  # time, open, high, low, close, volume: the third bar trades down to 95
    (T0, "100.00", "100.50", "99.50", "100.00", "5"),
    (T0 + 900, "100.00", "100.50", "99.50", "100.00", "5"),
    (T0 + 1800, "100.00", "100.50", "95.00", "99.00", "5"),
]


def test_paper_order_when_market_has_only_15_minute_bars_then_a_resting_buy_fills_on_them(
    tmp_path: Path,
) -> None:
    lines = "".join(",".join(map(str, row)) + "\n" for row in ROWS_15M)
    (tmp_path / "SOL-USD_15m_test.csv").write_text("time,open,high,low,close,volume\n" + lines)
    clock = SteppingClock(datetime.fromtimestamp(T0 + 1800, UTC), 900)  # two bars closed
    fees = FeeRates(D("0.004"), D("0.006"))
    market = MatchingExchange(
        CsvMarket(tmp_path, clock, 900), clock, fees, D(0), {}, candle_granularity_s=900
    )
    cfg = config(cycle={"interval_seconds": 900, "candle_granularity_seconds": 900})
    # The cycle hands the paper account its counting wrapper, which knows no granularity.
    paper = SimulatedPaperAccounts(cfg, clock).open(CountingExchange(market), PortfolioState())
    buy = PlannedOrder(
        "p-1", "SOL-USD", Side.BUY, OrderType.LIMIT, Intent.ENTRY, D(1), None, D(96), True
    )
    assert paper.place_order(buy).status is OrderStatus.OPEN

    clock.advance()  # the bar of T0 + 1800 has closed: its low 95 is below the limit 96

    filled = paper.get_order("p-1")
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert (filled.average_filled_price, filled.total_fees) == (D(96), D(96) * D("0.004"))
