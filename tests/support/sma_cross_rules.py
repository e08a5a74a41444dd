"""A test-only rules plug-in: a moving-average cross, for the fidelity test against
backtesting.py (`trader replay --rules sma_cross_rules:RULES`).

Why a plug-in: the bot's rules engine has no moving-average trigger and no exit on a signal
(its exits are stop loss, take profit, trailing stop, holding time and tradability), so the
strategy cannot be written as config. Only the signals and the exits come from here; sizing
(the tier's share of equity), risk, the execution plan, the paper account's fills and the
order lifecycle are the bot's own.

Entry: the FAST-bar mean of the closes crosses above the SLOW-bar mean on the last closed bar
(below or equal on the bar before, above on this one: backtesting.lib.crossover's test).
Exit: the means cross the other way. Exact Decimal means.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal

from trader.domain.config import Config, TriggersConfig
from trader.domain.models import Candle, Intent, MarketSnapshot, Position, Proposal, Side, Signal
from trader.pipeline.decision import Rules
from trader.pipeline.exits import ExitPlan
from trader.pipeline.universe import Universe

FAST, SLOW = 10, 30


def _mean(closes: Sequence[Decimal]) -> Decimal:
    return sum(closes, Decimal(0)) / len(closes)


def cross(bars: Sequence[Candle]) -> int:
    """+1: fast crossed above slow on the last bar; -1: below; 0: neither (or too few bars)."""
    if len(bars) < SLOW + 1:
        return 0
    closes = [b.close for b in bars[-SLOW - 1 :]]
    fast_now, slow_now = _mean(closes[-FAST:]), _mean(closes[-SLOW:])
    fast_before, slow_before = _mean(closes[-FAST - 1 : -1]), _mean(closes[:-1])
    if fast_before < slow_before and fast_now > slow_now:
        return 1
    if fast_before > slow_before and fast_now < slow_now:
        return -1
    return 0


def signals(
    product_ids: Sequence[str], candles: Mapping[str, Sequence[Candle]], _cfg: TriggersConfig
) -> tuple[Signal, ...]:
    return tuple(
        Signal(pid, "sma_cross_up", Decimal(1), f"SMA{FAST} crossed above SMA{SLOW}")
        for pid in product_ids
        if cross(candles.get(pid, ())) > 0
    )


def exits(
    positions: Mapping[str, Position],
    snap: MarketSnapshot,
    _universe: Universe,
    busy: Collection[str],
    _cfg: Config,
    _regime: str,
) -> ExitPlan:
    proposals = tuple(
        Proposal(pid, Side.SELL, Intent.EXIT, None, pos.size, f"sma_cross_down SMA{FAST}<SMA{SLOW}")
        for pid, pos in sorted(positions.items())
        if pid not in busy and pos.size > 0 and cross(snap.candles.get(pid, ())) < 0
    )
    return ExitPlan(proposals, {})


RULES = Rules(signals=signals, exits=exits)
