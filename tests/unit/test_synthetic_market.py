"""SyntheticMarket: reproducible, path-independent, realistic enough, honest about closed bars."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader.adapters.clock import SteppingClock
from trader.adapters.sim.csv_market import CsvMarket
from trader.adapters.sim.exchange import build_simulated_exchange
from trader.adapters.sim.synthetic import ORIGIN, REGIMES, SyntheticMarket
from trader.domain.config import SimProduct, SimulatorConfig, load_config
from trader.domain.models import FeeRates, Intent, OrderType, PlannedOrder, Side

D = Decimal
START = datetime(2026, 3, 2, tzinfo=UTC)
BAR = timedelta(minutes=5)


def sim_config(seed: int = 247) -> SimulatorConfig:
    return SimulatorConfig(
        seed=seed,
        start=START,
        products=(
            SimProduct(
                product_id="BTC-USD",
                start_price=D(65_000),
                volatility_pct=D("0.25"),
                volume_24h_quote=D(900_000_000),
                spread_bps=D(1),
                base_increment=D("0.00000001"),
                quote_increment=D("0.01"),
                base_min_size=D("0.00001"),
            ),
            SimProduct(
                product_id="DOGE-USD",
                start_price=D("0.15"),
                volatility_pct=D("0.7"),
                volume_24h_quote=D(60_000_000),
                spread_bps=D(10),
                base_increment=D(1),
                quote_increment=D("0.00001"),
                base_min_size=D(1),
            ),
        ),
    )


def market_at(now: datetime, seed: int = 247) -> SyntheticMarket:
    return SyntheticMarket(sim_config(seed), SteppingClock(now, 300))


SHARED = market_at(START + timedelta(days=120))  # read-only, shared by the slow-ish checks


def test_get_candles_when_same_seed_then_same_bars_whatever_was_asked_before() -> None:
    now = START + timedelta(days=3)
    window = (START + timedelta(days=2), START + timedelta(days=2, hours=4))
    direct = market_at(now).get_candles("BTC-USD", 300, *window)

    wandering = market_at(now)
    wandering.get_candles("DOGE-USD", 300, START, now)
    wandering.get_candles("BTC-USD", 300, START + timedelta(days=2, hours=3), now)
    wandering.regime_at(START + timedelta(days=40))
    wandering.list_products()
    assert wandering.get_candles("BTC-USD", 300, *window) == direct
    assert len(direct) == 48  # 4 hours of 5-minute bars


def test_get_candles_when_clock_later_then_earlier_bars_do_not_change() -> None:
    window = (START, START + timedelta(hours=6))
    early = market_at(START + timedelta(hours=6)).get_candles("BTC-USD", 300, *window)
    late = market_at(START + timedelta(days=90)).get_candles("BTC-USD", 300, *window)
    assert early == late


def test_get_candles_when_seed_differs_then_market_differs() -> None:
    now = START + timedelta(days=1)
    a = market_at(now, seed=1).get_candles("BTC-USD", 300, START, now)
    b = market_at(now, seed=2).get_candles("BTC-USD", 300, START, now)
    assert [c.close for c in a] != [c.close for c in b]


def test_list_products_when_clock_at_start_then_price_is_the_configured_start_price() -> None:
    products = {p.product_id: p for p in market_at(START).list_products()}
    assert products["BTC-USD"].price == D("65000.00")
    assert products["DOGE-USD"].price == D("0.15000")
    assert products["BTC-USD"].base_min_size == D("0.00001")
    assert products["BTC-USD"].is_tradable


def test_regime_at_when_spanning_a_hundred_days_then_every_regime_appears() -> None:
    seen = {SHARED.regime_at(START + timedelta(hours=6 * i)) for i in range(400)}
    assert seen == set(REGIMES)


def test_get_candles_when_window_extends_past_now_then_only_closed_bars() -> None:
    now = START + 10 * BAR + timedelta(seconds=150)  # bar 10 is half-way through
    bars = market_at(now).get_candles("BTC-USD", 300, START, START + timedelta(days=1))
    assert len(bars) == 10
    assert bars[-1].start == START + 9 * BAR
    assert [b.start for b in bars] == [START + i * BAR for i in range(10)]


def test_get_candles_when_window_starts_before_origin_then_bars_begin_at_origin() -> None:
    bars = market_at(ORIGIN + 3 * BAR).get_candles(
        "BTC-USD", 300, ORIGIN - timedelta(days=1), ORIGIN + BAR * 9
    )
    assert [b.start for b in bars] == [ORIGIN, ORIGIN + BAR, ORIGIN + 2 * BAR]


def test_regime_at_when_before_origin_then_value_error() -> None:
    with pytest.raises(ValueError, match="origin"):
        SHARED.regime_at(ORIGIN - timedelta(seconds=1))


def test_get_candles_when_granularity_not_a_multiple_then_error_names_both() -> None:
    with pytest.raises(ValueError, match=r"450s asked.*300s bars"):
        SHARED.get_candles("BTC-USD", 450, START, START + timedelta(hours=1))


def test_get_candles_when_15_minute_bars_asked_then_each_is_its_three_5_minute_bars() -> None:
    # As Coinbase serves every granularity: a 15-minute bar opens with the first of its three
    # 5-minute bars, closes with the last, spans their highs and lows and sums their volume.
    first = START + timedelta(days=2, minutes=10)  # inside a bucket: the next starts at :15
    fine = SHARED.get_candles("BTC-USD", 300, START + timedelta(days=2), first + timedelta(hours=2))
    coarse = SHARED.get_candles("BTC-USD", 900, first, first + timedelta(hours=1))

    assert [c.start.minute for c in coarse] == [15, 30, 45, 0]
    for bar in coarse:
        three = [c for c in fine if bar.start <= c.start < bar.start + timedelta(minutes=15)]
        assert len(three) == 3
        assert bar.open == three[0].open and bar.close == three[2].close
        assert bar.high == max(c.high for c in three) and bar.low == min(c.low for c in three)
        assert bar.volume == three[0].volume + three[1].volume + three[2].volume


def test_get_candles_when_a_15_minute_bucket_is_still_forming_then_it_is_left_out() -> None:
    now = START + timedelta(days=2, minutes=10)  # two of the :00 bucket's three bars closed
    market = market_at(now)

    coarse = market.get_candles("BTC-USD", 900, now - timedelta(hours=1), now)

    assert coarse[-1].start == now - timedelta(minutes=25)  # the :45 bucket, whole


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=30_000), st.sampled_from(["BTC-USD", "DOGE-USD"]))
def test_candles_when_any_bar_then_ohlc_consistent_on_grid_and_joined(
    offset: int, pid: str
) -> None:
    start = ORIGIN + offset * BAR
    prev, cur = SHARED.get_candles(pid, 300, start, start + 2 * BAR)
    inc = D("0.01") if pid == "BTC-USD" else D("0.00001")
    for c in (prev, cur):
        assert c.high >= max(c.open, c.close) and c.low <= min(c.open, c.close)
        assert c.low > 0 and c.volume > 0
        assert all(x % inc == 0 for x in (c.open, c.high, c.low, c.close))
    assert cur.open == prev.close


def test_candles_when_sixty_days_then_volatility_and_volume_near_configured() -> None:
    bars = SHARED.get_candles("BTC-USD", 300, START, START + timedelta(days=60))
    returns = [math.log(b.close / a.close) for a, b in pairwise(bars)]
    # configured: 0.25 % stdev of a 5-minute return; 900M quote a day = 3.125M a bar (900M / 288)
    assert 0.18 < statistics.pstdev(returns) * 100 < 0.33
    per_bar = statistics.mean(float(b.volume * b.close) for b in bars)
    assert 0.7 < per_bar / 3_125_000 < 1.3


def test_candles_when_many_bars_then_some_volume_spikes_stand_out() -> None:
    bars = SHARED.get_candles("DOGE-USD", 300, START, START + timedelta(days=10))
    ratios = [
        float(b.volume / statistics.median(x.volume for x in bars[i - 20 : i]))
        for i, b in enumerate(bars)
        if i >= 20
    ]
    assert (
        sum(r >= 3 for r in ratios) >= 10
    )  # spikes of 3x the recent median happen, several a week


def test_regime_when_crash_then_price_falls_hard_within_the_segment() -> None:
    crash = next(
        i for i in range(400) if SHARED.regime_at(START + timedelta(hours=6 * i)) == "crash"
    )
    seg = SHARED.get_candles(
        "BTC-USD", 300, START + timedelta(hours=6 * crash), START + timedelta(hours=6 * crash + 6)
    )
    low = min(b.low for b in seg[:36])
    assert low < seg[0].open * D("0.97")  # more than 3 % down within the first three hours


def test_get_quotes_when_calm_regime_then_spread_around_close_rounded_on_the_safe_side() -> None:
    market = market_at(START)
    assert market.regime_at(START - BAR) in {
        "trending_up",
        "trending_down",
        "choppy",
    }  # spread not widened
    quotes = market.get_quotes(["DOGE-USD", "BTC-USD", "NOPE-USD"])
    # DOGE close 0.15, 10 bps: half = 0.15 * 10 / 20000 = 0.000075 -> 0.149925 down, 0.150075 up
    assert (quotes["DOGE-USD"].bid, quotes["DOGE-USD"].ask) == (D("0.14992"), D("0.15008"))
    # BTC close 65000, 1 bp: half = 3.25 -> 64996.75 / 65003.25, already on the cent grid
    assert (quotes["BTC-USD"].bid, quotes["BTC-USD"].ask) == (D("64996.75"), D("65003.25"))
    assert "NOPE-USD" not in quotes
    assert quotes["BTC-USD"].time == START


def test_get_quotes_when_any_time_then_bid_below_close_below_ask_on_grid() -> None:
    for day in range(0, 100, 7):
        now = START + timedelta(days=day, minutes=17)
        market = market_at(now)
        close = market.get_candles("DOGE-USD", 300, now - BAR * 2, now)[-1].close
        q = market.get_quotes(["DOGE-USD"])["DOGE-USD"]
        floor = (close * (1 - D(10) / 20_000)).quantize(D("0.00001"), ROUND_FLOOR)
        ceil = (close * (1 + D(10) / 20_000)).quantize(D("0.00001"), ROUND_CEILING)
        assert q.bid <= floor < close < ceil <= q.ask


def test_set_product_flags_when_disabled_mid_run_then_list_products_shows_it() -> None:
    market = market_at(START + timedelta(hours=1))
    market.set_product_flags("DOGE-USD", trading_disabled=True)
    products = {p.product_id: p for p in market.list_products()}
    assert products["DOGE-USD"].trading_disabled and not products["DOGE-USD"].is_tradable
    assert products["BTC-USD"].is_tradable


@pytest.mark.parametrize(
    ("pid", "flags", "message"),
    [
        ("NOPE-USD", {"disabled": True}, "unknown product"),
        ("BTC-USD", {"halted": True}, "unknown product flag"),
        ("BTC-USD", {"disabled": "yes"}, "needs a bool"),
    ],
)
def test_set_product_flags_when_bad_input_then_clear_error(
    pid: str, flags: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SHARED.set_product_flags(pid, **flags)


def test_volume_24h_when_listed_then_equals_sum_of_last_day_of_bars() -> None:
    now = START + timedelta(days=5, minutes=3)
    market = market_at(now)
    # closed by 00:03 on day 5: the bars starting day 4 00:00 .. 23:55, i.e. 288 of them
    bars = market.get_candles("BTC-USD", 300, START + timedelta(days=4), now)
    assert len(bars) == 288
    expected = sum((b.volume * b.close for b in bars), D(0))
    product = next(p for p in market.list_products() if p.product_id == "BTC-USD")
    assert abs(product.volume_24h_quote - expected) <= D("0.005")
    assert product.price == bars[-1].close


def test_build_simulated_exchange_when_no_candles_dir_then_synthetic_market_and_config_money() -> (
    None
):
    cfg = load_config()
    assert cfg.simulator is not None
    clock = SteppingClock(cfg.simulator.start, 300)
    exchange = build_simulated_exchange(cfg, clock)
    assert isinstance(exchange.market, SyntheticMarket)
    assert exchange.get_fee_rates() == FeeRates(maker=D("0.004"), taker=D("0.006"))  # 0.4 % / 0.6 %
    assert exchange.get_balances()["USD"].available == cfg.simulator.starting_cash

    buy = PlannedOrder("b1", "ETH-USD", Side.BUY, OrderType.MARKET, Intent.ENTRY, None, D("500.00"))
    order = exchange.place_order(buy)
    clock.advance(12)
    # A quote-sized buy's base is off ETH's 0.00000001 grid; a sell takes the part on it.
    sellable = (order.filled_size // D("0.00000001")) * D("0.00000001")
    sell = PlannedOrder("s1", "ETH-USD", Side.SELL, OrderType.MARKET, Intent.EXIT, sellable, None)
    exchange.place_order(sell)
    totals = exchange.balance_totals()
    assert 0 <= totals["ETH"] == order.filled_size - sellable < D("0.00000001")
    assert D(9_980) < totals["USD"] < D(10_020)  # two fees (~6 USD) and an hour of ETH drift


def test_build_simulated_exchange_when_candles_dir_then_csv_market(tmp_path: Path) -> None:
    (tmp_path / "BTC-USD_5m_test.csv").write_text(
        "time,open,high,low,close,volume\n1772409600,1,2,1,2,3\n"
    )
    cfg = load_config()
    exchange = build_simulated_exchange(cfg, SteppingClock(START, 300), tmp_path)
    assert isinstance(exchange.market, CsvMarket)
