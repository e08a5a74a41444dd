"""The edge check: an entry goes only when its expected move (ATR-based, capped at the take
profit) is at least `cost_margin` times its round trip (both fees, spread and impact)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from pipeline_builders import (
    FIVE_MINUTES,
    T0,
    candle,
    config,
    entry,
    product,
    quote,
    signal,
    snapshot,
    tier,
    universe_of,
)

from trader.domain.config import EdgeConfig, ExecutionConfig, ExitsConfig
from trader.domain.models import Candle, FeeRates, NoTradeReason, TradingState
from trader.pipeline.edge import atr_pct, round_trip_cost_pct, screen_entries
from trader.pipeline.outcome import why_no_orders
from trader.pipeline.rules import EntryDecision

D = Decimal
FEES = FeeRates(maker=D("0.004"), taker=D("0.006"))
MARKET = ExecutionConfig()
POST_ONLY_ENTRIES = ExecutionConfig(post_only_entries=True)
EXITS = ExitsConfig(take_profit_pct=D(6))
EDGE = EdgeConfig(atr_bars=2, atr_multiple=D(2), cost_margin=D("1.5"))


def three_bars() -> tuple[Candle, ...]:
    """True ranges 3 and 3.5 over a last close of 100 (worked out in the test below)."""
    return (
        candle(T0, 100, 100, 100, 100),
        candle(T0 + FIVE_MINUTES, 100, 102, 99, 101),
        candle(T0 + 2 * FIVE_MINUTES, 101, "101.5", 98, 100),
    )


def test_atr_pct_when_bars_then_mean_true_range_over_the_last_close() -> None:
    # bar 1: max(102, 100) - min(99, 100) = 3; bar 2: max(101.5, 101) - min(98, 101) = 3.5
    # mean 3.25 over the last close 100 -> 3.25 %
    assert atr_pct(three_bars(), 2) == D("3.25")


def test_atr_pct_when_a_bar_gaps_up_then_the_gap_from_the_close_before_counts() -> None:
    # opens at 103 after a close of 100, range 103..105: true range 105 - 100 = 5 -> 5 / 105
    gapped = (candle(T0, 100, 100, 100, 100), candle(T0 + FIVE_MINUTES, 103, 105, 103, 105))
    assert atr_pct(gapped, 1) == D(5) / D(105) * 100


def test_atr_pct_when_fewer_than_n_plus_one_bars_then_none() -> None:
    assert atr_pct(three_bars(), 3) is None
    assert atr_pct((), 1) is None


def test_round_trip_cost_when_taker_entry_then_both_fees_and_both_slippages() -> None:
    # spread (100.01 - 99.99) / 100 = 2 bps -> half 1 bps; impact 100 bps x (1,000 / 10M x 100
    # = 0.01 % of the day's volume) = 1 bps: 2 bps a side = 0.02 %.
    # 0.6 + 0.02 (entry) + 0.6 + 0.02 (exit) = 1.24 %
    cost = round_trip_cost_pct(entry(quote_size=1000), product(), quote(), FEES, MARKET)
    assert cost == D("1.24")


def test_round_trip_cost_when_post_only_entry_then_maker_fee_and_no_entry_slippage() -> None:
    # 0.4 (maker entry, rests: no spread, no impact) + 0.6 + 0.02 (exit) = 1.02 %
    cost = round_trip_cost_pct(entry(quote_size=1000), product(), quote(), FEES, POST_ONLY_ENTRIES)
    assert cost == D("1.02")


def test_round_trip_cost_when_a_fallback_takes_liquidity_then_taker_though_post_only() -> None:
    at_market = dataclasses.replace(entry(quote_size=1000), at_market=True)
    cost = round_trip_cost_pct(at_market, product(), quote(), FEES, POST_ONLY_ENTRIES)
    assert cost == D("1.24")


def screened(
    bars: tuple[Candle, ...],
    edge: EdgeConfig = EDGE,
    exits: ExitsConfig = EXITS,
    execution: ExecutionConfig = MARKET,
) -> EntryDecision:
    snap = snapshot([product()], [quote()], candles={"BTC-USD": bars})
    entries = EntryDecision((entry(quote_size=1000),), {"ETH-USD": "signals 0 < 1"})
    return screen_entries(entries, snap, edge, exits, execution)


def test_screen_entries_when_move_clears_the_margin_then_kept() -> None:
    # move 2 x 3.25 = 6.5 % -> capped at the 6 % take profit; 1.5 x 1.24 = 1.86 %: kept
    decision = screened(three_bars())
    assert [p.product_id for p in decision.proposals] == ["BTC-USD"]
    assert decision.skipped == {"ETH-USD": "signals 0 < 1"}


def test_screen_entries_when_move_below_margin_times_cost_then_skipped_with_both_figures() -> None:
    # ATR 3.25 %: 0.5 x 3.25 = 1.625 % < 1.5 x 1.24 = 1.86 %
    decision = screened(three_bars(), edge=EDGE.model_copy(update={"atr_multiple": D("0.5")}))
    assert decision.proposals == ()
    assert decision.skipped == {
        "ETH-USD": "signals 0 < 1",
        "BTC-USD": "edge_below_cost: expected move 1.62% (0.5 x ATR 3.25%) < 1.5 x round trip"
        " 1.24%",
    }


def test_screen_entries_when_post_only_entry_then_its_lower_cost_clears_the_margin() -> None:
    # move 1.625 % against 1.5 x 1.02 = 1.53 % (maker entry): kept, though a taker one is not
    edge = EDGE.model_copy(update={"atr_multiple": D("0.5")})
    assert screened(three_bars(), edge=edge).proposals == ()
    assert len(screened(three_bars(), edge=edge, execution=POST_ONLY_ENTRIES).proposals) == 1


def test_screen_entries_when_atr_is_large_then_the_move_is_capped_at_the_take_profit() -> None:
    # 2 x 3.25 = 6.5 %, but the exit sells at +1.5 %: 1.5 < 1.86 -> skipped
    decision = screened(three_bars(), exits=ExitsConfig(take_profit_pct=D("1.5")))
    assert decision.skipped["BTC-USD"].startswith("edge_below_cost: expected move 1.50%")


def test_screen_entries_when_too_few_bars_then_skipped_as_unmeasured() -> None:
    decision = screened(three_bars()[:2])
    assert decision.skipped["BTC-USD"] == ("edge_below_cost: fewer than 3 bars to measure the move")


def test_screen_entries_when_disabled_then_every_entry_kept() -> None:
    decision = screened(three_bars()[:2], edge=EDGE.model_copy(update={"enabled": False}))
    assert len(decision.proposals) == 1


def test_why_no_orders_when_an_entry_fell_to_the_edge_then_edge_below_cost() -> None:
    skipped = {
        "BTC-USD": "edge_below_cost: expected move 0.90% < 1.5 x round trip 1.24%",
        "ETH-USD": "position_or_order_open",
    }
    members = universe_of((product(), tier()))
    # signals fired, no exit, no proposal left: the rules stage came up empty
    reason, detail = why_no_orders(
        TradingState.ACTIVE, members, (signal(),), (), (), skipped, (), ()
    )
    assert reason is NoTradeReason.EDGE_BELOW_COST
    assert detail == (
        "BTC-USD: edge_below_cost: expected move 0.90% < 1.5 x round trip 1.24%; "
        "ETH-USD: position_or_order_open"
    )


def test_config_when_edge_section_given_then_validated() -> None:
    cfg = config(edge={"atr_bars": 20, "atr_multiple": 4, "cost_margin": 2})
    assert (cfg.edge.atr_bars, cfg.edge.atr_multiple, cfg.edge.cost_margin) == (20, 4, 2)
