"""The regime over the real candles (../shared/data/candles; skipped when absent): at most one
change a day, every crash the README lists called within one bar of its steepest fall, few
crash calls elsewhere, and gauges equal to the `ta` package's to 1e-9.

The 15-minute Coinbase set is read with config/examples/replay-coinbase-15m.yaml, the 5-minute
Binance set with lib/trader/default.yaml (both read BTC, ETH and SOL). `bench/regime_report.py`
prints the same figures.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from datetime import timedelta

import pytest
from regime_history import (
    REPO,
    SETS,
    CandleSet,
    History,
    available,
    crash_calls,
    crash_episodes,
    false_crash_days,
    load_set,
    replay_regime,
    runs_of,
)

from trader.domain.config import RegimeConfig, load_config
from trader.domain.models import Candle
from trader.pipeline.gauges import GaugeCache, Windows, read_gauge
from trader.pipeline.regime import _limits

REPO_CONFIGS = {
    "coinbase-15m": "config/examples/replay-coinbase-15m.yaml",
    "binance-5m": None,  # lib/trader/default.yaml
}
# Crash calls outside the README's list, at most (measured: 9 days on 15m, 6 on 5m; each
# is a real fall of 8.5 %+ in 12 hours for two of BTC, ETH and SOL that the README does not
# list, printed when the bound fails).
MAX_FALSE_CRASH_DAYS = {"coinbase-15m": 12, "binance-5m": 8}

pytestmark = pytest.mark.skipif(not available(), reason="../shared/data/candles is absent")


def regime_config(name: str) -> RegimeConfig:
    path = REPO_CONFIGS[name]
    return load_config(REPO / path if path else None).regime


@pytest.fixture(scope="module", params=SETS, ids=[s.name for s in SETS])
def replayed(request: pytest.FixtureRequest) -> tuple[CandleSet, dict[str, list[Candle]], History]:
    candle_set: CandleSet = request.param
    candles = load_set(candle_set)
    cfg = regime_config(candle_set.name)
    return candle_set, candles, replay_regime(candles, cfg, candle_set.granularity_s)


def test_regime_when_replayed_on_real_candles_then_at_most_one_change_a_day(replayed) -> None:
    candle_set, _, history = replayed
    runs = runs_of(history)
    one_bar = sum(1 for n in runs.lengths if n == 1)
    assert runs.flips_per_day <= 1.0, f"{candle_set.name}: {runs.flips_per_day:.2f} a day"
    assert one_bar == 0  # the dwell: no regime lasts a single bar


def test_regime_when_a_listed_crash_comes_then_called_within_one_bar(replayed) -> None:
    candle_set, candles, history = replayed
    bar = timedelta(seconds=candle_set.granularity_s)
    calls = crash_calls(history, candles, candle_set.name)
    assert calls
    late = [
        (c.crash.what, c.anchor, c.called_at)
        for c in calls
        if c.called_at is None or c.called_at - c.anchor > bar
    ]
    assert late == []


def test_regime_when_no_listed_crash_then_few_crash_days(replayed) -> None:
    candle_set, _, history = replayed
    days = false_crash_days(crash_episodes(history, candle_set.name))
    assert len(days) <= MAX_FALSE_CRASH_DAYS[candle_set.name], [d.isoformat() for d in days]


def test_regime_when_read_with_a_cold_cache_every_bar_then_the_same_regimes(replayed) -> None:
    # the incremental copies never change a reading: 3,000 bars read afresh each time
    candle_set, candles, _ = replayed
    cfg = regime_config(candle_set.name)
    part = {pid: bars[20_000:23_000] for pid, bars in candles.items()}
    warm = replay_regime(part, cfg, candle_set.granularity_s, GaugeCache())
    cold = replay_regime(part, cfg, candle_set.granularity_s, _Forgetful())
    assert warm.names == cold.names
    assert len(set(warm.names)) > 1  # the part has changes to get right


class _Forgetful(GaugeCache):
    def series(self, product_id, window, windows):  # type: ignore[no-untyped-def]
        GaugeCache.__init__(self)
        return super().series(product_id, window, windows)


def test_gauges_when_read_on_real_candles_then_equal_the_ta_package_to_1e_9(replayed) -> None:
    pd = pytest.importorskip("pandas")
    ta = pytest.importorskip("ta")
    candle_set, candles, _ = replayed
    windows = _limits(regime_config(candle_set.name), candle_set.granularity_s).windows
    checked = 0
    for pid, bars in candles.items():
        for end in range(windows.needed + 10, len(bars), 997):
            window = bars[end - windows.needed - 10 : end]
            ours = read_gauge(GaugeCache().series(pid, window, windows), windows)
            assert ours is not None
            theirs = _ta_gauge(pd, ta, window, windows)
            for name, value in theirs.items():
                assert math.isclose(getattr(ours, name), value, rel_tol=0, abs_tol=1e-9), (
                    pid,
                    window[-1].start,
                    name,
                )
            checked += 1
    assert checked > 100


def _ta_gauge(pd, ta, window: list[Candle], w: Windows) -> dict[str, float]:
    """The same four numbers from ta: ROC, the Donchian high band, and the Bollinger band's
    stdev (window_dev 1: hband - mavg) of ta's daily returns."""
    close = pd.Series([float(c.close) for c in window])
    high = pd.Series([float(c.high) for c in window])
    low = pd.Series([float(c.low) for c in window])
    returns = ta.others.DailyReturnIndicator(close).daily_return()

    def stdev(n: int, back: int) -> float:
        bands = ta.volatility.BollingerBands(returns, window=n, window_dev=1)
        return float((bands.bollinger_hband() - bands.bollinger_mavg()).iloc[-1 - back])

    peak = ta.volatility.DonchianChannel(high, low, close, window=w.crash)
    return {
        "trend_pct": float(ta.momentum.ROCIndicator(close, window=w.trend).roc().iloc[-1]),
        "volatility_pct": stdev(w.volatility, 0) * math.sqrt(w.bars_per_hour),
        "drawdown_pct": (1 - close.iloc[-1] / peak.donchian_channel_hband().iloc[-1]) * 100,
        "calm_pct": stdev(w.trend, w.crash),
    }


def test_windows_when_bars_are_cut_by_time_then_the_gap_does_not_blank_the_regime(
    replayed,
) -> None:
    # the snapshot fetches a quarter more than needed: after the Binance outages (up to 56
    # bars) the regime is still read (unknown only during the first window of the file)
    candle_set, _, history = replayed
    granularity = timedelta(seconds=candle_set.granularity_s)
    needed = _limits(regime_config(candle_set.name), candle_set.granularity_s).windows.needed
    warm_up = history.bars[0] + granularity * int(needed * 1.25 + 2)
    late_unknown = [
        t
        for t, n in zip(history.bars, history.names, strict=True)
        if n == "unknown" and t > warm_up
    ]
    assert late_unknown == []
    assert bisect_left(history.bars, warm_up) > 0
