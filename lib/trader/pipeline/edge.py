"""The entry's edge: no entry unless the move the market typically makes pays the round trip.

The expected move is `atr_multiple` average true ranges of the charted bars, in percent of
the last close (a random walk moves about sqrt(n) bar ranges in n bars, so the multiple is
about the square root of the bars a trade is expected to last), at most the take-profit
target: the exit sells there, so no larger move is ever captured. The round trip is what the
entry and its exit cost in percent of the notional: the entry's fee (maker when it goes
post-only, else taker), the exit's taker fee, and execution's expected slippage (half the
spread plus impact) on each side that takes liquidity. An entry whose expected move is below
`cost_margin` times its round trip is skipped, naming both figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise

from trader.domain.config import EdgeConfig, ExecutionConfig, ExitsConfig
from trader.domain.models import ZERO, Candle, FeeRates, MarketSnapshot, Product, Proposal, Quote
from trader.domain.money import BPS, HUNDRED
from trader.pipeline.execution import expected_slippage_bps, order_type_for
from trader.pipeline.rules import EntryDecision

EDGE_BELOW_COST = "edge_below_cost"


def atr_pct(bars: Sequence[Candle], n: int) -> Decimal | None:
    """The mean true range of the last `n` bars in percent of the last close; None with fewer
    than n + 1 bars (each true range needs the bar before it)."""
    if len(bars) < n + 1 or bars[-1].close <= 0:
        return None
    window = bars[-n - 1 :]
    ranges = (
        max(bar.high, before.close) - min(bar.low, before.close) for before, bar in pairwise(window)
    )
    return sum(ranges, ZERO) / n / bars[-1].close * HUNDRED


def round_trip_cost_pct(
    proposal: Proposal, product: Product, quote: Quote, fees: FeeRates, cfg: ExecutionConfig
) -> Decimal:
    """Both fees and the slippage of each side that takes liquidity, in % of the notional."""
    _, maker_entry = order_type_for(proposal, product, cfg)
    slip = expected_slippage_bps(proposal.quote_size or ZERO, quote, product, cfg) / BPS * HUNDRED
    entry = fees.maker * HUNDRED if maker_entry else fees.taker * HUNDRED + slip
    return entry + fees.taker * HUNDRED + slip


def _below_cost(
    proposal: Proposal,
    snap: MarketSnapshot,
    cfg: EdgeConfig,
    configs: tuple[ExitsConfig, ExecutionConfig],
) -> str | None:
    exits, execution = configs
    product, quote = snap.products.get(proposal.product_id), snap.quotes.get(proposal.product_id)
    if product is None or quote is None:
        return None  # execution drops it, naming why
    atr = atr_pct(snap.candles.get(proposal.product_id, ()), cfg.atr_bars)
    if atr is None:
        return f"{EDGE_BELOW_COST}: fewer than {cfg.atr_bars + 1} bars to measure the move"
    move = min(cfg.atr_multiple * atr, exits.take_profit_pct)
    cost = round_trip_cost_pct(proposal, product, quote, snap.fees, execution)
    if move >= cfg.cost_margin * cost:
        return None
    return (
        f"{EDGE_BELOW_COST}: expected move {move:.2f}% ({cfg.atr_multiple} x ATR {atr:.2f}%)"
        f" < {cfg.cost_margin} x round trip {cost:.2f}%"
    )


def screen_entries(
    entries: EntryDecision,
    snap: MarketSnapshot,
    cfg: EdgeConfig,
    exits: ExitsConfig,
    execution: ExecutionConfig,
) -> EntryDecision:
    """The entries whose expected move clears `cost_margin` times their round trip; the
    others move to the skipped, each with both figures."""
    if not cfg.enabled:
        return entries
    kept: list[Proposal] = []
    skipped = dict(entries.skipped)
    for proposal in entries.proposals:
        why = _below_cost(proposal, snap, cfg, (exits, execution))
        if why is None:
            kept.append(proposal)
        else:
            skipped[proposal.product_id] = why
    return EntryDecision(tuple(kept), skipped)
