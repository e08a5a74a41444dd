"""The replay's plan: products, window, and the cycles skipped for missing candles (pure)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pipeline_builders import config

from trader.entrypoints.replay import Progress
from trader.entrypoints.replay_plan import (
    Candles,
    ReplayError,
    choose_products,
    parse_when,
    plan_replay,
)

T0 = 1_730_764_800  # 2024-11-05T00:00:00Z, a multiple of 900
G = 900
# No long windows: the config refuses a trigger or ATR lookback longer than the bars fetched.
SHORT = {
    "triggers": {"breakout": {"enabled": False}, "momentum": {"enabled": False}},
    "edge": {"enabled": False},
}
CFG = config(
    cycle={"interval_seconds": G, "candle_granularity_seconds": G, "lookback_bars": 4}, **SHORT
)


def bars(first: int, count: int, missing: tuple[int, ...] = ()) -> Candles:
    """`count` 15-minute bars from bar index `first` (after T0), without the `missing` ones."""
    return Candles(G, [T0 + i * G for i in range(first, first + count) if i not in missing])


def at(index: int) -> datetime:
    return datetime.fromtimestamp(T0 + index * G, UTC)


def test_plan_when_no_dates_then_starts_once_the_lookback_is_filled_and_ends_after_last_bar():
    plan = plan_replay({"BTC-USD": bars(0, 20)}, CFG)

    # Bar 0 closes at index 1; four more bars of lookback: the first cycle is at index 5.
    # The last bar (index 19) closes at index 20: the last cycle.
    assert plan.start == at(5)
    assert plan.cycles[-1] == T0 + 20 * G
    assert len(plan.cycles) == 16
    assert plan.skipped == ()
    assert plan.missing_bars == {"BTC-USD": 0}


def test_plan_when_a_product_misses_bars_then_those_cycles_are_skipped_and_counted():
    files = {"BTC-USD": bars(0, 20), "ETH-USD": bars(0, 20, missing=(8, 9)), "SOL-USD": bars(0, 20)}

    plan = plan_replay(files, CFG, start=at(5), end=at(15))

    # Bar 8 closes at 9 and bar 9 at 10: the cycles at 9 and 10 have no fresh ETH bar.
    assert plan.skipped == (T0 + 9 * G, T0 + 10 * G)
    assert plan.cycles == tuple(T0 + i * G for i in (5, 6, 7, 8, 11, 12, 13, 14))
    assert plan.missing_bars == {"BTC-USD": 0, "ETH-USD": 2, "SOL-USD": 0}


def test_plan_when_cycles_are_shorter_than_bars_then_every_cycle_of_a_missing_bar_is_skipped():
    five_minutes = config(
        cycle={"interval_seconds": 300, "candle_granularity_seconds": G, "lookback_bars": 1},
        **SHORT,
    )

    plan = plan_replay({"BTC-USD": bars(0, 8, missing=(3,))}, five_minutes, at(2), at(6))

    # Bar 3 would have closed at index 4: the three 5-minute cycles of index 4 are skipped.
    assert plan.skipped == (T0 + 4 * G, T0 + 4 * G + 300, T0 + 4 * G + 600)
    assert plan.missing_bars == {"BTC-USD": 1}


def test_plan_when_products_start_at_different_times_then_the_window_is_their_overlap():
    files = {"BTC-USD": bars(0, 30), "ETH-USD": bars(10, 20)}

    plan = plan_replay(files, CFG)

    assert plan.start == at(11 + 4)  # ETH's first bar closes at 11, then 4 bars of lookback
    assert plan.end == at(31)


def test_plan_when_start_is_before_the_common_data_then_error_names_each_product_range():
    files = {"BTC-USD": bars(0, 30), "ETH-USD": bars(10, 20)}

    with pytest.raises(ReplayError, match=r"--start 2024-11-05T01:15Z is before") as caught:
        plan_replay(files, CFG, start=at(5))
    assert "ETH-USD 2024-11-05T02:30Z to 2024-11-05T07:15Z" in str(caught.value)


def test_plan_when_end_is_after_the_data_then_error():
    with pytest.raises(ReplayError, match=r"--end 2024-11-06T00:00Z is after"):
        plan_replay({"BTC-USD": bars(0, 20)}, CFG, end=at(96))


def test_plan_when_start_is_not_before_end_then_error():
    with pytest.raises(ReplayError, match="is not before --end"):
        plan_replay({"BTC-USD": bars(0, 20)}, CFG, start=at(10), end=at(10))


def test_plan_when_files_share_no_time_then_error():
    with pytest.raises(ReplayError, match="share no time range"):
        plan_replay({"BTC-USD": bars(0, 10), "ETH-USD": bars(50, 10)}, CFG)


def test_plan_when_config_bars_are_finer_than_the_files_then_error_names_the_fix():
    five = config(cycle={"interval_seconds": 300, "candle_granularity_seconds": 300})

    with pytest.raises(ReplayError, match=r"BTC-USD has 900 s candles.*replay-coinbase-15m"):
        plan_replay({"BTC-USD": bars(0, 20)}, five)


def test_plan_when_resuming_then_starts_one_interval_after_the_last_cycle():
    plan = plan_replay({"BTC-USD": bars(0, 20)}, CFG, resume_after=at(12))

    assert plan.start == at(13)


def test_plan_when_resuming_past_the_end_then_error_says_nothing_is_left():
    with pytest.raises(ReplayError, match="nothing left to replay"):
        plan_replay({"BTC-USD": bars(0, 20)}, CFG, resume_after=at(20))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-08-01", datetime(2024, 8, 1, tzinfo=UTC)),
        ("2024-08-01T12:30Z", datetime(2024, 8, 1, 12, 30, tzinfo=UTC)),
        ("2024-08-01T14:30+02:00", datetime(2024, 8, 1, 12, 30, tzinfo=UTC)),
        ("2024-08-01T12:30", datetime(2024, 8, 1, 12, 30, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_parse_when_when_iso_then_utc(text: str, expected: datetime) -> None:
    assert parse_when(text, "--start") == expected


def test_parse_when_when_not_a_date_then_error_names_the_flag_and_the_text():
    with pytest.raises(ReplayError, match=r"--end '2024-13-01' is not a date"):
        parse_when("2024-13-01", "--end")


def test_choose_products_when_none_asked_then_the_tier_products_found_and_the_reference():
    cfg = config(
        universe={"tiers": [{"name": "a", "products": ["ETH-USD"], "position_size_pct": 5}]}
    )

    chosen = choose_products(None, ["BTC-USD", "BTC-USDT", "ETH-USD", "XRP-USD"], cfg)

    assert chosen == ("BTC-USD", "ETH-USD")


def test_choose_products_when_unknown_asked_then_error_lists_the_files():
    with pytest.raises(ReplayError, match=r"no candle file for DOGE-USD; the folder has BTC-USD"):
        choose_products(["BTC-USD", "DOGE-USD"], ["BTC-USD"], CFG)


def test_choose_products_when_reference_left_out_then_error_names_it():
    with pytest.raises(ReplayError, match=r"--products lacks BTC-USD, the regime's reference"):
        choose_products(["ETH-USD"], ["BTC-USD", "ETH-USD"], CFG)


def test_progress_when_not_a_terminal_then_one_line_per_tenth_with_the_count():
    stream = io.StringIO()
    progress = Progress(stream)
    for done in range(1, 51):
        progress.show(done, 50, at(done))

    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("replay [###...........................] 5/50 2024-11-05 01:15")
    assert lines[-1].startswith("replay [" + "#" * 30 + "] 50/50")
