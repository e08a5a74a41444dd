"""Triggers on closed bars: volume spike, breakout, momentum; thin or empty data fires nothing."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pipeline_builders import FIVE_MINUTES, T0, bars, candle

from trader.domain.bar_window import BarWindow
from trader.domain.config import Breakout, Momentum, TriggersConfig, VolumeSpike
from trader.domain.models import Candle, Signal
from trader.pipeline.trigger_windows import TriggerWindows
from trader.pipeline.triggers import breakout, momentum, run_triggers, volume_spike

D = Decimal
SPIKE = VolumeSpike(enabled=True, lookback_bars=3, min_ratio=D(3), min_return_pct=D("0.2"))
BREAK = Breakout(lookback_bars=3, min_margin_pct=D("0.1"))
MOMO = Momentum(lookback_bars=3, min_return_pct=D(1), full_strength_return_pct=D(4))


def spike_bars(prior_volume: str | int, last_volume: str | int, last_close: str = "101"):
    """Three flat bars at 100, then a bar opening at 100 and closing at `last_close`."""
    flat = [candle(T0 + i * FIVE_MINUTES, 100, 100, 100, 100, prior_volume) for i in range(3)]
    top = max(D(100), D(last_close))
    last = candle(T0 + 3 * FIVE_MINUTES, 100, top, 100, last_close, last_volume)
    return (*flat, last)


def break_bars(last_close: str) -> tuple[Candle, ...]:
    """Prior highs 100, 101, 102, then a bar closing at `last_close` (its own high ignored)."""
    prior = [candle(T0 + i * FIVE_MINUTES, 99, 100 + i, 99, 99) for i in range(3)]
    return (*prior, candle(T0 + 3 * FIVE_MINUTES, 99, 200, 99, last_close))


# --- volume spike -----------------------------------------------------------------------


def test_volume_spike_when_four_and_a_half_times_mean_on_up_bar_then_fires() -> None:
    # mean of prior (10, 10, 10) = 10; ratio 45 / 10 = 4.5 >= 3; bar (101/100 - 1) * 100 = 1 %
    # strength 4.5 / (2 * 3) = 0.75
    assert volume_spike("BTC-USD", spike_bars(10, 45), SPIKE) == Signal(
        "BTC-USD", "volume_spike", D("0.75"), "volume 4.50x the 3-bar mean, bar +1.00%"
    )


def test_volume_spike_when_ratio_exactly_min_ratio_then_fires_at_half_strength() -> None:
    # 30 / 10 = 3 = min_ratio; strength 3 / 6 = 0.5
    fired = volume_spike("BTC-USD", spike_bars(10, 30), SPIKE)
    assert fired is not None
    assert fired.strength == D("0.5")


def test_volume_spike_when_ratio_just_below_min_ratio_then_nothing() -> None:
    # 29.99 / 10 = 2.999 < 3
    assert volume_spike("BTC-USD", spike_bars(10, "29.99"), SPIKE) is None


def test_volume_spike_when_strength_has_more_places_then_rounded_down_to_four() -> None:
    # 10 / 3 = 3.333..; / 6 = 0.5555.. -> 0.5555 (down, not 0.5556)
    fired = volume_spike("BTC-USD", spike_bars(3, 10), SPIKE)
    assert fired is not None
    assert fired.strength == D("0.5555")


def test_volume_spike_when_ratio_huge_then_strength_capped_at_one() -> None:
    # 120 / 10 = 12; 12 / 6 = 2 -> capped at 1
    assert volume_spike("BTC-USD", spike_bars(10, 120), SPIKE).strength == D(1)


def test_volume_spike_when_bar_closes_down_then_nothing() -> None:
    assert volume_spike("BTC-USD", spike_bars(10, 100, last_close="99"), SPIKE) is None


def test_volume_spike_when_bar_return_below_minimum_then_nothing() -> None:
    # (100.19 / 100 - 1) * 100 = 0.19 % < 0.2 %
    assert volume_spike("BTC-USD", spike_bars(10, 100, last_close="100.19"), SPIKE) is None


@pytest.mark.parametrize("last_volume", [0, 50])
def test_volume_spike_when_prior_volume_zero_then_nothing_and_no_division_error(
    last_volume: int,
) -> None:
    assert volume_spike("BTC-USD", spike_bars(0, last_volume), SPIKE) is None


def test_volume_spike_when_last_bar_has_zero_volume_then_nothing() -> None:
    assert volume_spike("BTC-USD", spike_bars(10, 0), SPIKE) is None


def test_volume_spike_when_disabled_then_nothing() -> None:
    off = SPIKE.model_copy(update={"enabled": False})
    assert volume_spike("BTC-USD", spike_bars(10, 45), off) is None


# --- breakout ---------------------------------------------------------------------------


def test_breakout_when_close_half_pct_above_prior_high_then_fires_at_half_strength() -> None:
    # prior high 102; (102.51 / 102 - 1) * 100 = 0.5 % >= 0.1 %; strength 0.5 (1 % is full)
    assert breakout("BTC-USD", break_bars("102.51"), BREAK) == Signal(
        "BTC-USD", "breakout", D("0.5"), "close 102.51 is 0.50% above the 3-bar high 102"
    )


def test_breakout_when_margin_exactly_minimum_then_fires() -> None:
    # (102.102 / 102 - 1) * 100 = 0.1 % = min_margin_pct
    assert breakout("BTC-USD", break_bars("102.102"), BREAK).strength == D("0.1")


def test_breakout_when_margin_just_below_minimum_then_nothing() -> None:
    # (102.1 / 102 - 1) * 100 = 0.098 % < 0.1 %
    assert breakout("BTC-USD", break_bars("102.1"), BREAK) is None


def test_breakout_when_close_below_prior_high_then_nothing() -> None:
    assert breakout("BTC-USD", break_bars("101"), BREAK) is None


def test_breakout_when_margin_zero_and_close_equals_prior_high_then_nothing() -> None:
    # excess 0: not a breakout even when the configured margin is 0
    assert (
        breakout("BTC-USD", break_bars("102"), BREAK.model_copy(update={"min_margin_pct": 0}))
        is None
    )


def test_breakout_when_close_two_pct_above_then_strength_capped_at_one() -> None:
    # (104 / 102 - 1) * 100 = 1.96 % -> capped at 1
    assert breakout("BTC-USD", break_bars("104"), BREAK).strength == D(1)


def test_breakout_when_prior_highs_are_zero_then_nothing() -> None:
    zeros = (*[candle(T0, 0, 0, 0, 0, 0)] * 3, candle(T0, 0, 1, 0, 1, 0))
    assert breakout("BTC-USD", zeros, BREAK) is None


# --- momentum ---------------------------------------------------------------------------


def test_momentum_when_two_pct_over_lookback_then_fires_at_half_strength() -> None:
    # base = close 3 bars back = 100; (102 / 100 - 1) * 100 = 2 % >= 1 %; strength 2 / 4 = 0.5
    assert momentum("BTC-USD", bars([100, 90, 110, 102]), MOMO) == Signal(
        "BTC-USD", "momentum", D("0.5"), "+2.00% over 3 bars"
    )


def test_momentum_when_return_exactly_minimum_then_fires() -> None:
    # (101 / 100 - 1) * 100 = 1 %; strength 1 / 4 = 0.25
    assert momentum("BTC-USD", bars([100, 100, 100, 101]), MOMO).strength == D("0.25")


def test_momentum_when_return_just_below_minimum_then_nothing() -> None:
    # (100.99 / 100 - 1) * 100 = 0.99 % < 1 %
    assert momentum("BTC-USD", bars([100, 100, 100, "100.99"]), MOMO) is None


def test_momentum_when_return_above_full_strength_then_capped_at_one() -> None:
    # 8 % / 4 % = 2 -> 1
    assert momentum("BTC-USD", bars([100, 100, 100, 108]), MOMO).strength == D(1)


def test_momentum_when_base_close_zero_then_nothing() -> None:
    assert momentum("BTC-USD", bars([0, 1, 2, 3]), MOMO) is None


def test_momentum_when_only_the_window_before_lookback_rose_then_nothing() -> None:
    # 50 -> 100 happened before the window; the window base 100 -> 100.5 is +0.5 %
    assert momentum("BTC-USD", bars([50, 100, 100, 100, "100.5"]), MOMO) is None


# --- thin data and run_triggers ---------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 3])
def test_each_trigger_when_fewer_than_lookback_plus_one_bars_then_nothing(count: int) -> None:
    # a spike, a breakout and a 20 % move, cut down to `count` bars
    window = bars([100, 100, 100, 120], volumes=[10, 10, 10, 1000])[-count:] if count else ()
    assert volume_spike("X-USD", window, SPIKE) is None
    assert breakout("X-USD", window, BREAK) is None
    assert momentum("X-USD", window, MOMO) is None


def test_run_triggers_when_all_fire_then_product_order_then_trigger_order() -> None:
    cfg = TriggersConfig(volume_spike=SPIKE, breakout=BREAK, momentum=MOMO)
    # last bar: volume 40 vs 10 (4x), close 105 vs open 100, high of prior bars 100, +5 % in 3 bars
    hot = bars([100, 100, 100, 105], volumes=[10, 10, 10, 40])
    fired = run_triggers(["ETH-USD", "BTC-USD"], {"BTC-USD": hot, "ETH-USD": hot}, cfg)
    assert [(s.product_id, s.kind) for s in fired] == [
        ("ETH-USD", "volume_spike"),
        ("ETH-USD", "breakout"),
        ("ETH-USD", "momentum"),
        ("BTC-USD", "volume_spike"),
        ("BTC-USD", "breakout"),
        ("BTC-USD", "momentum"),
    ]


def test_run_triggers_when_no_candles_or_zero_volume_then_nothing() -> None:
    cfg = TriggersConfig(volume_spike=SPIKE, breakout=BREAK, momentum=MOMO)
    flat = bars([100, 100, 100, 100], volumes=[0, 0, 0, 0])
    assert run_triggers(["BTC-USD", "ETH-USD"], {"ETH-USD": flat}, cfg) == ()
    assert run_triggers([], {}, cfg) == ()


prices = st.decimals(min_value=D("0.0001"), max_value=D(100_000), places=4)
volumes = st.decimals(min_value=D(0), max_value=D(10**9), places=3)


@given(st.lists(st.tuples(prices, prices, volumes), min_size=0, max_size=30))
def test_run_triggers_when_any_bars_then_strengths_in_unit_interval(
    rows: list[tuple[Decimal, Decimal, Decimal]],
) -> None:
    window = tuple(
        candle(T0 + i * FIVE_MINUTES, o, max(o, c), min(o, c), c, v)
        for i, (o, c, v) in enumerate(rows)
    )
    cfg = TriggersConfig(volume_spike=SPIKE, breakout=BREAK, momentum=MOMO)
    for fired in run_triggers(["X-USD"], {"X-USD": window}, cfg):
        assert D(0) <= fired.strength <= D(1)


def each_trigger_alone(product_ids, candles, cfg: TriggersConfig) -> tuple[Signal, ...]:
    """run_triggers as it read the settings: each trigger asked with its config, per product."""
    asked = (
        (volume_spike, cfg.volume_spike),
        (breakout, cfg.breakout),
        (momentum, cfg.momentum),
    )
    signals = (ask(pid, candles.get(pid, ()), part) for pid in product_ids for ask, part in asked)
    return tuple(s for s in signals if s is not None)


near = st.decimals(min_value=D(97), max_value=D(106), places=2)  # moves below full strength


@given(
    st.lists(st.tuples(near | prices, near, volumes), min_size=0, max_size=12),
    st.tuples(st.booleans(), st.booleans(), st.booleans()),
    st.integers(1, 4),
    st.booleans(),
)
def test_run_triggers_when_any_settings_then_what_asking_each_trigger_gives(
    rows, enabled, lookback: int, kept_windows: bool
) -> None:
    window = tuple(
        candle(T0 + i * FIVE_MINUTES, o, max(o, c), min(o, c), c, v)
        for i, (o, c, v) in enumerate(rows)
    )
    settings = {"enabled": enabled[0], "lookback_bars": lookback}
    cfg = TriggersConfig(
        volume_spike=SPIKE.model_copy(update=settings),
        breakout=BREAK.model_copy(update={**settings, "enabled": enabled[1]}),
        momentum=MOMO.model_copy(update={**settings, "enabled": enabled[2]}),
    )
    candles = {"X-USD": window, "Y-USD": window[1:]}
    windows = TriggerWindows() if kept_windows else None
    fired = run_triggers(["X-USD", "Y-USD", "Z-USD"], candles, cfg, windows)
    assert fired == each_trigger_alone(["X-USD", "Y-USD", "Z-USD"], candles, cfg)


def read_out_breakout(pid: str, window, cfg: Breakout) -> Signal | None:
    """breakout as its docstring says, straight off the bars: no early answer, no span."""
    n = cfg.lookback_bars
    if len(window) < n + 1:
        return None
    high = max(b.high for b in window[-n - 1 : -1])
    if high <= 0:
        return None
    excess = (window[-1].close / high - 1) * 100
    if excess < cfg.min_margin_pct or excess <= 0:
        return None
    strength = min(D(1), excess).quantize(D("0.0001"), rounding=ROUND_DOWN)
    why = f"close {window[-1].close} is {excess:.2f}% above the {n}-bar high {high}"
    return Signal(pid, "breakout", strength, why)


def read_out_momentum(pid: str, window, cfg: Momentum) -> Signal | None:
    """momentum as its docstring says, straight off the bars: no early answer, no span."""
    n = cfg.lookback_bars
    if len(window) < n + 1 or window[-n - 1].close <= 0:
        return None
    ret = (window[-1].close / window[-n - 1].close - 1) * 100
    if ret < cfg.min_return_pct:
        return None
    strength = min(D(1), ret / cfg.full_strength_return_pct)
    rounded = strength.quantize(D("0.0001"), rounding=ROUND_DOWN)
    return Signal(pid, "momentum", rounded, f"{ret:+.2f}% over {n} bars")


# closes and highs a hair apart, some equal values written with other digits
ladder = st.sampled_from([D(x) for x in ["98", "99.9", "100", "100.00", "100.01", "100.3", "101"]])


@settings(max_examples=300)
@given(
    st.lists(st.tuples(ladder, ladder), min_size=0, max_size=10),
    st.integers(1, 4),
    st.sampled_from([D(0), D("0.01"), D("0.2"), D(2)]),
    st.sampled_from([D("0.01"), D("0.5"), D(3)]),
    st.sampled_from(["tuple", "list", "window", "kept window"]),
)
@example([(D(100), D(100)), (D("100.3"), D("100.3"))], 1, D(0), D("0.01"), "window")  # a hair up
@example([(D("100.00"), D(100)), (D(100), D(100))], 1, D(0), D("0.01"), "tuple")  # level
def test_run_triggers_when_any_bars_then_what_reading_the_bars_out_gives(
    rows, lookback: int, margin: Decimal, least: Decimal, handed: str
) -> None:
    """The spanned bars and the answers without dividing (a close at or below the prior high
    or the base) give the signals of the plain reading, on a tuple, a list or a window."""
    written = tuple(
        candle(T0 + i * FIVE_MINUTES, c, max(c, h), min(c, h), c) for i, (c, h) in enumerate(rows)
    )
    up = Breakout(lookback_bars=lookback, min_margin_pct=margin)
    move = Momentum(lookback_bars=lookback, min_return_pct=least, full_strength_return_pct=D(4))
    cfg = TriggersConfig(breakout=up, momentum=move)
    around = (candle(T0, 1, 500, 1, 1), *written, candle(T0, 1, 500, 1, 1))  # bars beside it
    window = {
        "tuple": written,
        "list": list(written),
        "window": BarWindow(around, 1, len(around) - 1),
        "kept window": BarWindow(around, 1, len(around) - 1),
    }[handed]
    kept = TriggerWindows() if handed == "kept window" else None
    expected = (read_out_breakout("X", written, up), read_out_momentum("X", written, move))
    assert run_triggers(["X"], {"X": window}, cfg, kept) == tuple(
        s for s in expected if s is not None
    )
    assert (breakout("X", window, up), momentum("X", window, move)) == expected
