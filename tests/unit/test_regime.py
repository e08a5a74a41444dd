"""detect_regime: crash beats volatile beats trend beats chop; short history is unknown."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pipeline_builders import T0, bars, candle

from trader.domain.config import RegimeConfig
from trader.pipeline.regime import Regime, detect_regime

D = Decimal
CFG = RegimeConfig(lookback_bars=48, trend_pct=D(2), crash_pct=D(6), volatile_bar_pct=D("1.2"))


@pytest.mark.parametrize("count", [0, 1, 2])
def test_detect_regime_when_fewer_than_three_bars_then_unknown(count: int) -> None:
    window = bars([100, 101, 102][:count])
    assert detect_regime(window, CFG) == Regime("unknown", bars=count)


def test_detect_regime_when_steady_rise_of_three_pct_then_trending_up() -> None:
    # first open 100, last close 103: (103/100 - 1) * 100 = 3 % >= 2 %
    # bar returns ~1 %, 0.99 %, 0.98 %: stdev ~0.008 < 1.2; peak 103 = last close: drawdown 0
    regime = detect_regime(bars([100, 101, 102, 103]), CFG)
    assert regime.name == "trending_up"
    assert regime.return_pct == D(3)
    assert regime.drawdown_pct == D(0)
    assert regime.bars == 4


def test_detect_regime_when_return_exactly_trend_pct_then_trending_up() -> None:
    # (102 / 100 - 1) * 100 = 2 %, the boundary counts as a trend (>=)
    assert detect_regime(bars([100, "100.7", "101.4", 102]), CFG).name == "trending_up"


def test_detect_regime_when_fall_of_exactly_two_pct_then_trending_down() -> None:
    # (98 / 100 - 1) * 100 = -2 % <= -2 %; drawdown (1 - 98/100) * 100 = 2 % < 6 %
    regime = detect_regime(bars([100, 99, "98.5", 98]), CFG)
    assert regime.name == "trending_down"
    assert regime.return_pct == D(-2)
    assert regime.drawdown_pct == D(2)


def test_detect_regime_when_small_moves_both_ways_then_choppy() -> None:
    # return (100.5/100 - 1) * 100 = 0.5 %; bar returns 0.5, -0.4975, 0.5: stdev ~0.47 < 1.2
    assert detect_regime(bars([100, "100.5", 100, "100.5"]), CFG).name == "choppy"


def test_detect_regime_when_bars_swing_three_pct_then_volatile() -> None:
    # bar returns +3, -2.91, +3, -2.91 %: stdev ~2.96 >= 1.2; return 0; drawdown 2.9 % < 6
    assert detect_regime(bars([100, 103, 100, 103, 100]), CFG).name == "volatile"


def test_detect_regime_when_volatile_and_up_then_volatile_beats_trend() -> None:
    # return (106/100 - 1) * 100 = 6 % would be a trend; bar returns 4, -2.88, 4.95: stdev > 1.2
    assert detect_regime(bars([100, 104, 101, 106]), CFG).name == "volatile"


def test_detect_regime_when_fall_of_six_pct_then_crash() -> None:
    # (94 / 100 - 1) * 100 = -6 % <= -6 %
    regime = detect_regime(bars([100, 98, 96, 94]), CFG)
    assert regime.name == "crash"
    assert regime.return_pct == D(-6)


def test_detect_regime_when_up_but_far_below_the_peak_then_crash() -> None:
    # return (103/100 - 1) * 100 = 3 % (a trend), but the peak high 110 is
    # (1 - 103/110) * 100 = 6.36 % above the last close >= 6 %: crash wins
    window = (
        candle(T0, 100, 100, 100, 100),
        candle(T0, 100, 110, 100, 101),
        candle(T0, 101, 102, 101, 102),
        candle(T0, 102, 103, 102, 103),
    )
    regime = detect_regime(window, CFG)
    assert regime.name == "crash"
    assert regime.return_pct == D(3)
    assert D("6.36") < regime.drawdown_pct < D("6.37")


def test_detect_regime_when_bars_move_ten_pct_each_way_then_reports_the_numbers() -> None:
    # closes 100, 110, 99: bar returns +10 % and -10 % (99/110 = 0.9): population stdev 10
    # return (99/100 - 1) * 100 = -1 %; peak 110: drawdown (1 - 99/110) * 100 = 10 % -> crash
    regime = detect_regime(bars([100, 110, 99]), CFG)
    assert regime == Regime("crash", D(-1), D(10), D(10), 3)


def test_detect_regime_when_more_bars_than_lookback_then_only_the_last_window_counts() -> None:
    # all five bars: 200 -> 101 is a crash; the last three open at 100 and close at 101: +1 %
    cfg = CFG.model_copy(update={"lookback_bars": 3})
    regime = detect_regime(bars([200, 100, 100, "100.5", 101]), cfg)
    assert regime.name == "choppy"
    assert regime.return_pct == D(1)
    assert regime.bars == 3
