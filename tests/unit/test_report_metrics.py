"""Performance figures on series small enough to work out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trader.service.report.metrics import (
    cagr,
    daily_returns,
    drawdowns,
    max_drawdown,
    series_stats,
    sharpe,
    sortino,
)

D = Decimal
DAY0 = datetime(2025, 1, 1, tzinfo=UTC)


def days(*offsets: float) -> list[datetime]:
    return [DAY0 + timedelta(days=d) for d in offsets]


def close(value: Decimal, expected: float, tolerance: float = 1e-12) -> bool:
    return abs(float(value) - expected) <= tolerance * max(1.0, abs(expected))


def test_drawdowns_when_equity_dips_twice_then_each_is_measured_from_its_running_peak():
    values = [D(100), D(120), D(90), D(130), D(117)]

    # peaks 100, 120, 120, 130, 130: 0, 0, 1 - 90/120 = 0.25, 0, 1 - 117/130 = 0.1
    assert drawdowns(values) == [D(0), D(0), D("0.25"), D(0), D("0.1")]
    assert max_drawdown(values) == D("0.25")


def test_daily_returns_when_one_value_a_day_then_close_to_close():
    returns = daily_returns(days(0, 1, 2, 3), [D(100), D(110), D(99), D("108.9")])

    assert returns == [D("0.1"), D("-0.1"), D("0.1")]


def test_daily_returns_when_several_values_a_day_then_the_last_of_each_day_counts():
    # Day 0: 100 then 104 (its close); day 1: 90 then 91 (close).
    times = [DAY0, DAY0 + timedelta(hours=12), DAY0 + timedelta(days=1), DAY0 + timedelta(days=1.5)]

    returns = daily_returns(times, [D(100), D(104), D(90), D(91)])

    assert returns == [D("0.04"), D(91) / D(104) - 1]  # day 0 against the first value


def test_sharpe_and_sortino_when_returns_are_up_down_up_then_as_worked_out():
    returns = [D("0.1"), D("-0.1"), D("0.1")]

    # mean 1/30; sample variance ((1/15)^2 + (2/15)^2 + (1/15)^2) / 2 = 1/75;
    # downside: (0 + 0.01 + 0) / 3 = 1/300. Annualised by sqrt(365).
    assert close(sharpe(returns), (1 / 30) / math.sqrt(1 / 75) * math.sqrt(365))
    assert close(sortino(returns), (1 / 30) / math.sqrt(1 / 300) * math.sqrt(365))


def test_sharpe_and_sortino_when_undefined_then_none():
    assert sharpe([D("0.01")]) is None  # one return: no variance
    assert sharpe([D("0.01"), D("0.01")]) is None  # no variation
    assert sortino([D("0.01"), D("0.02")]) is None  # no losing day


def test_cagr_when_121_percent_in_two_years_then_ten_percent_a_year():
    assert close(cagr(D(100), D(121), timedelta(days=730.5)), 0.1)


def test_cagr_when_the_run_is_shorter_than_90_days_then_none():
    assert cagr(D(100), D(150), timedelta(days=30)) is None


def test_series_stats_when_built_then_each_figure_matches_its_function():
    times = days(0, 1, 2, 3)
    values = [D(100), D(110), D(99), D("108.9")]

    stats = series_stats(times, values)

    assert stats.total_return == D("0.089")
    # peaks 100, 110, 110, 110: the deepest is 1 - 99/110 = 0.1
    assert stats.max_drawdown == D("0.1")
    assert stats.cagr is None  # three days
    assert close(stats.sharpe, (1 / 30) / math.sqrt(1 / 75) * math.sqrt(365))


@pytest.mark.parametrize("values", [[D(100)], [D(100), D(100)]])
def test_series_stats_when_flat_or_single_then_no_ratio_and_no_drawdown(values):
    stats = series_stats(days(*range(len(values))), values)

    assert stats.total_return == 0 and stats.max_drawdown == 0
    assert stats.sharpe is None and stats.sortino is None
