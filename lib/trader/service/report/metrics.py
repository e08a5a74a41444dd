"""Performance figures of an equity series (pure Decimal arithmetic; definitions in `NOTES`).

Returns and drawdowns are fractions (0.05 = 5 %). Sharpe and Sortino are computed on daily
returns (the last equity of each UTC day against the day before), annualised with
sqrt(365) because crypto trades every day of the year, with a risk-free rate of 0. CAGR uses
calendar time: (last / first) ** (365.25 days / elapsed) - 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

ZERO = Decimal(0)
ONE = Decimal(1)
DAYS_PER_YEAR = Decimal("365.25")
MIN_CAGR_DAYS = 90  # a shorter run's return compounded to a year says nothing
TRADING_DAYS = Decimal(365)  # crypto: every calendar day is a trading day

NOTES = (
    "Returns, drawdowns and exposure are fractions of equity shown as percent.",
    "Sharpe and Sortino: daily returns (last equity of each UTC day), annualised by "
    "sqrt(365), risk-free rate 0; Sharpe uses the sample standard deviation, Sortino the "
    "root mean square of the negative daily returns (target 0).",
    "CAGR: (last / first) ^ (365.25 days / elapsed time) - 1, shown for runs of 90 days or more.",
    "Max drawdown: the largest fall from a running peak of the equity, at cycle resolution.",
    "Buy-and-hold: the starting equity in one product at its first mid price, no fees; "
    "equal-weight: the starting equity split evenly across the products, never rebalanced.",
)


@dataclass(frozen=True, slots=True)
class SeriesStats:
    """The figures every equity series gets (the strategy's and each benchmark's)."""

    start_value: Decimal
    end_value: Decimal
    total_return: Decimal
    cagr: Decimal | None  # None: less than MIN_CAGR_DAYS, or a value at or below 0
    max_drawdown: Decimal
    sharpe: Decimal | None  # None: fewer than two daily returns, or no variation
    sortino: Decimal | None  # None: fewer than two daily returns, or no losing day


def series_stats(times: Sequence[datetime], values: Sequence[Decimal]) -> SeriesStats:
    """Figures of one series sampled at `times` (ascending); needs at least one value."""
    first, last = values[0], values[-1]
    daily = daily_returns(times, values)
    return SeriesStats(
        start_value=first,
        end_value=last,
        total_return=last / first - ONE,
        cagr=cagr(first, last, times[-1] - times[0]),
        max_drawdown=max_drawdown(values),
        sharpe=sharpe(daily),
        sortino=sortino(daily),
    )


def cagr(first: Decimal, last: Decimal, elapsed: timedelta) -> Decimal | None:
    days = Decimal(elapsed.total_seconds()) / 86_400
    if days < MIN_CAGR_DAYS or first <= 0 or last <= 0:
        return None
    return (last / first) ** (DAYS_PER_YEAR / days) - ONE


def drawdowns(values: Sequence[Decimal]) -> list[Decimal]:
    """1 - value / running peak, for each value (0 at a new high)."""
    peak = ZERO
    out = []
    for value in values:
        peak = max(peak, value)
        out.append(ONE - value / peak if peak > 0 else ZERO)
    return out


def max_drawdown(values: Sequence[Decimal]) -> Decimal:
    return max(drawdowns(values), default=ZERO)


def daily_closes(times: Sequence[datetime], values: Sequence[Decimal]) -> list[Decimal]:
    """The last value of each UTC day, in order."""
    closes: dict[date, Decimal] = {}
    for moment, value in zip(times, values, strict=True):
        closes[moment.date()] = value
    return list(closes.values())


def daily_returns(times: Sequence[datetime], values: Sequence[Decimal]) -> list[Decimal]:
    """Each day's close against the day before's; the first day's against the first value,
    unless that value is the first day's only one (then the first day has no return)."""
    if not values:
        return []
    closes = daily_closes(times, values)
    only_one_first_day = len(times) == 1 or times[1].date() != times[0].date()
    if not only_one_first_day:
        closes.insert(0, values[0])
    return [b / a - ONE for a, b in pairwise(closes) if a > 0]


def sharpe(returns: Sequence[Decimal]) -> Decimal | None:
    if len(returns) < 2:
        return None
    mean = sum(returns, ZERO) / len(returns)
    variance = sum(((r - mean) ** 2 for r in returns), ZERO) / (len(returns) - 1)
    if variance == 0:
        return None
    return mean / variance.sqrt() * TRADING_DAYS.sqrt()


def sortino(returns: Sequence[Decimal]) -> Decimal | None:
    if len(returns) < 2:
        return None
    mean = sum(returns, ZERO) / len(returns)
    downside = sum((min(r, ZERO) ** 2 for r in returns), ZERO) / len(returns)
    if downside == 0:
        return None
    return mean / downside.sqrt() * TRADING_DAYS.sqrt()
