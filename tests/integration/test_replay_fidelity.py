"""Fidelity: a moving-average cross on real BTC-USD candles, through `trader replay` and
through backtesting.py, gives the same trades and the same final equity.

Conventions bridged (none changes the bot):
* Fill price: the replay quotes the last closed candle's close (spread 0 here, slippage 0)
  and fills a market order at once; backtesting.py with `trade_on_close=True` fills at the
  signal bar's close. The replay's ask is one tick (0.01) above the close: entry prices agree
  to a tick.
* Time: the replay's cycle at T decides on the bar that closed at T (started at T - 15 min);
  backtesting.py dates a trade by the start of its signal bar. Replay times are shifted back
  one bar to compare.
* Fees: 0.1 % taker in both. The bot's market buy spends a quote size with the fee inside
  it (as Coinbase does): base = quote / 1.001 / price; backtesting.py charges
  `commission` on each side's notional. The sizing below makes these the same buy.
* Sizing: the bot buys 99 % of its equity (the tier's position_size_pct, conviction 1,
  regime multiplier 1), floored to the cent; the backtesting.py strategy computes the same
  quote and buys its base in whole satoshis (FractionalBacktest, 1e-8 BTC units); the bot's
  base has 16 decimals and it sells its position floored to 1e-8, leaving dust under a
  satoshi. Hence sizes agree to a satoshi, besides the tick on the price and the cents by
  which the two equities drift apart through those ticks.
* Data: backtesting.py gets the same CSV rows (gaps are absent rows in both; the replay
  skips the cycles of a missing bar), from 40 bars before the first cycle (the replay's
  lookback) to one bar after the last (so an order placed on the last bar still fills);
  it trades only on the bars the replay decides on.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from trader.entrypoints.cli import main

REPO = Path(__file__).resolve().parents[2]
CANDLES = REPO.parent / "shared" / "data" / "candles"
BTC = CANDLES / "BTC-USD_15m_coinbase.csv"
START, END = datetime(2024, 11, 5, tzinfo=UTC), datetime(2024, 12, 17, tzinfo=UTC)
BAR = timedelta(minutes=15)
LOOKBACK, FEE, CASH, SHARE = 40, 0.001, 10_000, Decimal("0.99")

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.filterwarnings("ignore:.*dayofweek is deprecated"),  # backtesting.py on pandas 3
    pytest.mark.skipif(not BTC.exists(), reason=f"real candles not found at {CANDLES}"),
]

CONFIG = f"""
cycle: {{interval_seconds: 900, candle_granularity_seconds: 900, lookback_bars: {LOOKBACK},
        max_snapshot_age_seconds: 900}}
universe:
  filters: {{min_volume_24h_quote: 0, max_spread_bps: 10000}}
  tiers: [{{name: all, products: [BTC-USD], position_size_pct: {SHARE * 100}}}]
triggers:  # the plug-in replaces them; off, so the config asks no long lookback of them
  breakout: {{enabled: false}}
  momentum: {{enabled: false}}
edge: {{enabled: false}}  # backtesting.py enters on every cross, whatever it costs
regime: {{reference_product: BTC-USD, breadth_products: []}}
rules:
  regime_tiers: {{trending_down: [all], crash: [all]}}  # no regime blocks the strategy's entries
  max_new_positions_per_cycle: 1
  min_conviction_scale: 1
  regime_size_multiplier: {{trending_up: 1, trending_down: 1, choppy: 1, volatile: 1, crash: 1,
                           unknown: 1}}
risk: {{max_trades_per_day: 1000, max_trades_per_hour: 100, max_total_exposure_pct: 100,
       max_exposure_per_asset_pct: 100, daily_loss_limit_pct: 100, max_drawdown_pct: null,
       cooldown_minutes_after_loss: 0, cooldown_minutes_after_exit: 0, min_notional_quote: 1}}
execution: {{order_type: market, max_slippage_bps: 10000, max_order_pct_of_volume: 100}}
paper: {{starting_cash: {CASH}, maker_fee_pct: {FEE * 100}, taker_fee_pct: {FEE * 100},
        slippage_bps: 0}}
"""


def replay(tmp_path: Path) -> tuple[list[dict], Decimal]:
    """The bot's closed trades and final equity, from `trader replay`'s report."""
    config = tmp_path / "sma.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    where = ["--candles-dir", str(CANDLES), "--products", "BTC-USD", "--config", str(config)]
    when = ["--start", START.isoformat(), "--end", END.isoformat(), "--out", str(out)]
    how = ["--spread-bps", "0", "--rules", "sma_cross_rules:RULES", "--quiet"]
    code = main(["replay", *where, *when, *how])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    return [t for t in report["trades"] if not t["open"]], Decimal(report["strategy"]["end_value"])


def backtesting_py() -> tuple[list[tuple], float]:
    """The same strategy in backtesting.py: its closed trades and its equity at the bar the
    replay's last cycle valued."""
    pd = pytest.importorskip("pandas")
    bt = pytest.importorskip("backtesting")
    from backtesting.lib import FractionalBacktest, crossover
    from sma_cross_rules import FAST, SLOW

    frame = pd.read_csv(BTC)
    frame.index = pd.to_datetime(frame.pop("time"), unit="s", utc=True)
    frame.columns = ["Open", "High", "Low", "Close", "Volume"]
    frame = frame[(frame.index >= START - BAR * (LOOKBACK + 1)) & (frame.index < END)]
    first_signal_bar, last_signal_bar = START - BAR, END - 2 * BAR

    class SmaCross(bt.Strategy):
        def init(self) -> None:
            close = pd.Series(self.data.Close)
            self.fast = self.I(lambda: close.rolling(FAST).mean())
            self.slow = self.I(lambda: close.rolling(SLOW).mean())

        def next(self) -> None:
            if not first_signal_bar <= self.data.index[-1] <= last_signal_bar:
                return
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=satoshis(self.equity, self.data.Close[-1] / 1e-8))
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    test = FractionalBacktest(
        frame, SmaCross, cash=CASH, commission=FEE, trade_on_close=True, fractional_unit=1e-8
    )
    stats = test.run()
    trades = [
        (
            row.EntryTime.to_pydatetime(),
            row.ExitTime.to_pydatetime(),
            row.EntryPrice,
            row.ExitPrice,
            row.Size,
            row.PnL,
        )
        for row in stats._trades.itertuples()
    ]
    return trades, float(stats._equity_curve.Equity.loc[last_signal_bar])


def satoshis(equity: float, price: float) -> int:
    """The bot's buy: 99 % of equity to the cent, the fee inside it, in whole satoshis."""
    quote = (Decimal(str(float(equity))) * SHARE).quantize(Decimal("0.01"), ROUND_DOWN)
    return math.floor(float(quote) / (1 + FEE) / price * 1e8)


def test_sma_cross_when_replayed_and_backtested_then_same_trades_and_final_equity(tmp_path):
    ours, our_equity = replay(tmp_path)
    theirs, their_equity = backtesting_py()

    assert len(ours) == len(theirs) > 20
    for mine, (entry, exit_, entry_price, exit_price, size, pnl) in zip(ours, theirs, strict=True):
        assert datetime.fromisoformat(mine["entry_time"]) - BAR == entry
        assert datetime.fromisoformat(mine["exit_time"]) - BAR == exit_
        assert abs(float(mine["entry_price"]) - entry_price) <= 0.01 + 1e-6  # one tick
        assert float(mine["exit_price"]) == pytest.approx(exit_price, abs=1e-6)
        # The bot's ask is a tick above the close (1.5e-7 of the base), and its equity, so its
        # quote, drifts below backtesting.py's by those ticks (a tenth of a cent a trade, 1e-5
        # of 10,000 after 80 trades); backtesting.py floors the base to a satoshi.
        assert float(mine["size"]) == pytest.approx(size, rel=1e-5, abs=1e-8)
        assert float(mine["pnl"]) == pytest.approx(pnl, abs=0.01)
    # Each trade may differ by the tick on its entry and by a satoshi of size: a cent a trade.
    assert float(our_equity) == pytest.approx(their_equity, abs=0.01 * len(ours))
