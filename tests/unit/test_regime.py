"""detect_regime: breadth across the regime's products, hysteresis, a minimum dwell, crash at
once, the memory carried between cycles; worked by hand on hourly bars and small windows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trader.domain.config import RegimeConfig
from trader.domain.models import Candle
from trader.domain.state import RegimeMemory
from trader.pipeline.regime import detect_regime

D = Decimal
HOUR = timedelta(hours=1)
T0 = datetime(2026, 3, 2, tzinfo=UTC)
# Hourly bars: trend 4 bars, volatility 2, crash 2; a full reading needs 4 + 2 + 1 = 7 bars.
CFG = RegimeConfig(
    reference_product="BTC-USD",
    breadth_products=("ETH-USD", "SOL-USD"),
    breadth_pct=D(60),  # 2 of 3
    trend_hours=D(4),
    trend_pct=D(4),
    trend_hold_pct=D(1),
    volatility_hours=D(2),
    volatile_pct=D(5),
    volatile_hold_pct=D(4),
    crash_hours=D(2),
    crash_pct=D("8.5"),
    crash_sigmas=D(0),  # off unless a test sets it
    crash_hold_pct=D(5),
    min_dwell_hours=D(3),
    crash_min_dwell_hours=D(1),
)
G = 3600


def hourly(closes: Sequence[int | str], start: datetime = T0) -> list[Candle]:
    """Bars an hour apart, each opening at the previous close; high/low are open/close."""
    out: list[Candle] = []
    previous = D(str(closes[0]))
    for i, raw in enumerate(closes):
        close = D(str(raw))
        out.append(
            Candle(
                start + HOUR * i, previous, max(previous, close), min(previous, close), close, D(1)
            )
        )
        previous = close
    return out


def market(btc: Sequence[int | str], eth: Sequence[int | str], sol: Sequence[int | str]):
    return {"BTC-USD": hourly(btc), "ETH-USD": hourly(eth), "SOL-USD": hourly(sol)}


FLAT = [100] * 7
UP_5 = [100] * 6 + [105]  # +5 % over the last 4 bars; bar stdev over 2 bars: 2.5 (< 5)
DOWN_5 = [100] * 6 + [95]
UP_2 = [100] * 6 + [102]  # +2 %: under trend_pct 4, above trend_hold_pct 1
NEWEST = T0 + 6 * HOUR  # start of the 7th bar


def test_detect_regime_when_the_reference_has_too_few_bars_then_unknown_and_memory_kept() -> None:
    memory = RegimeMemory("trending_up", T0, T0)
    regime = detect_regime(market(FLAT[:6], FLAT, FLAT), memory, CFG, G)
    assert regime.name == "unknown"
    assert regime.memory == memory  # the next full reading still holds to it


def test_detect_regime_when_only_the_reference_rises_then_choppy() -> None:
    # BTC +5 % alone is 1 of 3 < 60 %: one coin never sets the regime
    regime = detect_regime(market(UP_5, FLAT, FLAT), None, CFG, G)
    assert regime.name == "choppy"
    assert regime.breadth is not None
    assert (regime.breadth.products, regime.breadth.up) == (3, 1)


def test_detect_regime_when_two_of_three_rise_four_pct_then_trending_up_from_this_bar() -> None:
    regime = detect_regime(market(FLAT, UP_5, UP_5), None, CFG, G)
    assert regime.name == "trending_up"
    assert regime.since == regime.as_of == NEWEST
    assert regime.memory == RegimeMemory("trending_up", NEWEST, NEWEST)


def test_detect_regime_when_two_of_three_fall_then_trending_down() -> None:
    assert detect_regime(market(DOWN_5, DOWN_5, FLAT), None, CFG, G).name == "trending_down"


def test_detect_regime_when_a_breadth_product_has_too_few_bars_then_breadth_is_over_the_rest() -> (
    None
):
    # SOL has 6 bars: read over BTC and ETH, both up -> 2 of 2
    regime = detect_regime(market(UP_5, UP_5, FLAT[:6]), None, CFG, G)
    assert regime.name == "trending_up"
    assert regime.breadth is not None and regime.breadth.products == 2


def test_detect_regime_when_the_trend_weakens_above_the_hold_threshold_then_it_holds() -> None:
    # entered 5 h ago (dwell 3 h passed); +2 % is under trend_pct but above trend_hold_pct
    memory = RegimeMemory("trending_up", NEWEST - 5 * HOUR, NEWEST - HOUR)
    regime = detect_regime(market(UP_2, UP_2, FLAT), memory, CFG, G)
    assert regime.candidate == "choppy"
    assert regime.name == "trending_up"
    assert regime.since == NEWEST - 5 * HOUR


def test_detect_regime_when_the_trend_is_gone_after_the_dwell_then_it_gives_way() -> None:
    memory = RegimeMemory("trending_up", NEWEST - 5 * HOUR, NEWEST - HOUR)
    regime = detect_regime(market(FLAT, FLAT, UP_2), memory, CFG, G)
    assert regime.name == "choppy"
    assert regime.since == NEWEST


def test_detect_regime_when_a_new_trend_comes_before_the_dwell_then_the_old_regime_stays() -> None:
    # trending_up entered 2 h ago (< 3 h): a clear fall does not replace it yet ...
    memory = RegimeMemory("trending_up", NEWEST - 2 * HOUR, NEWEST - HOUR)
    regime = detect_regime(market(DOWN_5, DOWN_5, DOWN_5), memory, CFG, G)
    assert (regime.candidate, regime.name) == ("trending_down", "trending_up")
    # ... and does once 3 h have passed
    memory = RegimeMemory("trending_up", NEWEST - 3 * HOUR, NEWEST - HOUR)
    assert detect_regime(market(DOWN_5, DOWN_5, DOWN_5), memory, CFG, G).name == "trending_down"


def crashing() -> list[int]:
    # high 100 in the last 2 bars, close 91: (1 - 91/100) * 100 = 9 % >= 8.5 %
    return [100] * 6 + [91]


def test_detect_regime_when_two_of_three_crash_then_crash_at_once_whatever_the_dwell() -> None:
    memory = RegimeMemory("trending_up", NEWEST - HOUR, NEWEST - HOUR)  # 1 h < dwell 3 h
    regime = detect_regime(market(crashing(), crashing(), FLAT), memory, CFG, G)
    assert regime.name == "crash"
    assert regime.since == NEWEST


def test_detect_regime_when_one_of_three_crashes_then_no_crash() -> None:
    # SOL -9 %: 1 of 3; its -9 % over 4 bars is a trend for it alone: choppy
    assert detect_regime(market(FLAT, FLAT, crashing()), None, CFG, G).name == "choppy"


def test_detect_regime_when_the_fall_is_small_against_the_calm_before_then_no_crash() -> None:
    # calm: the 4 returns before the crash window alternate +10 % / -9.09 %: population stdev
    # ~9.55 % a bar; a 2-bar move of sqrt(2) * 9.55 = 13.5 %: the 9 % fall is 0.67 of it
    swinging = [100, 110, 100, 110, 100, 100, 91]
    cfg = CFG.model_copy(update={"crash_sigmas": D(3)})
    regime = detect_regime(market(swinging, swinging, FLAT), None, cfg, G)
    assert regime.candidate != "crash"
    # the same fall after a flat calm is infinitely many stdevs: crash
    assert detect_regime(market(crashing(), crashing(), FLAT), None, cfg, G).name == "crash"


def test_detect_regime_when_the_crash_still_holds_then_it_stays_past_its_dwell() -> None:
    # in crash for 2 h (dwell 1 h): the fall is now 6 % (>= hold 5 %, < enter 8.5 %)
    memory = RegimeMemory("crash", NEWEST - 2 * HOUR, NEWEST - HOUR)
    still = [100] * 6 + [94]
    regime = detect_regime(market(still, still, FLAT), memory, CFG, G)
    assert regime.candidate == "trending_down"  # -6 % over 4 bars
    assert regime.name == "crash"


def test_detect_regime_when_the_same_bar_is_read_again_then_nothing_moves() -> None:
    # a retried cycle: the memory already read this bar; a different reading does not move it
    memory = RegimeMemory("choppy", NEWEST - HOUR, NEWEST)
    regime = detect_regime(market(UP_5, UP_5, UP_5), memory, CFG, G)
    assert regime.name == "choppy"
    assert regime.memory == memory


@pytest.mark.parametrize(
    "as_of",
    [NEWEST - 5 * HOUR, NEWEST + HOUR],  # older than trend_hours (4 h); from the future
    ids=["stale", "future"],
)
def test_detect_regime_when_the_memory_is_not_of_this_run_then_it_is_ignored(
    as_of: datetime,
) -> None:
    memory = RegimeMemory("trending_down", as_of - HOUR, as_of)
    regime = detect_regime(market(UP_5, UP_5, FLAT), memory, CFG, G)
    assert regime.name == "trending_up"
    assert regime.since == NEWEST


def test_detect_regime_when_read_then_the_gauges_are_the_products_numbers() -> None:
    # BTC closes 100 x5, 104, 103; highs equal max(open, close): last two bars 104, 104
    regime = detect_regime(market([100] * 5 + [104, 103], FLAT, FLAT), None, CFG, G)
    gauge = regime.gauges["BTC-USD"]
    assert gauge.trend_pct == pytest.approx(3.0)  # 103 / 100 - 1
    assert gauge.drawdown_pct == pytest.approx((1 - 103 / 104) * 100)  # 0.9615 %
    # returns into the last 2 bars: +4 %, -0.9615 %: population stdev half their spread
    assert gauge.volatility_pct == pytest.approx((4 + 100 / 104 * 1) / 2, rel=1e-9)
    assert gauge.calm_pct == 0.0  # the 4 returns before the crash window are all 0
