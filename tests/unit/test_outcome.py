"""why_no_orders: the first stage that came up empty names the NO_TRADE reason."""

from __future__ import annotations

import pytest
from pipeline_builders import entry, exit_, product, signal, tier, universe_of

from trader.domain.models import NoTradeReason, RiskDecision, TradingState
from trader.pipeline.execution import Dropped
from trader.pipeline.outcome import why_no_orders
from trader.pipeline.universe import Universe

CORE = tier("core", 8, "BTC-USD")
UNIVERSE = universe_of((product("BTC-USD"), CORE))
EMPTY = Universe((), {"ETH-USD": "no_tier", "SOL-USD": "trading_disabled"})
ACTIVE = TradingState.ACTIVE


@pytest.mark.parametrize(
    ("value", "spelling"),
    [
        (NoTradeReason.EMPTY_UNIVERSE, "empty_universe"),
        (NoTradeReason.NO_CANDIDATES_FROM_TRIGGERS, "no_candidates_from_triggers"),
        (NoTradeReason.RULES_ENGINE_NO_PROPOSALS, "rules_engine_no_proposals"),
        (NoTradeReason.ALL_PROPOSALS_BLOCKED_BY_RISK, "all_proposals_blocked_by_risk"),
        (NoTradeReason.NO_ORDERS_AFTER_EXECUTION_FILTER, "no_orders_after_execution_filter"),
        (NoTradeReason.LOCK_HELD, "lock_held"),
        (NoTradeReason.KILL_SWITCH, "kill_switch"),
        (NoTradeReason.STALE_MARKET_DATA, "stale_market_data"),
        (NoTradeReason.INSUFFICIENT_TIME, "insufficient_time"),
        (NoTradeReason.DUPLICATE_INVOCATION, "duplicate_invocation"),
        (NoTradeReason.ORDERS_REJECTED, "orders_rejected"),
    ],
)
def test_no_trade_reason_when_serialised_then_exact_original_spelling(
    value: NoTradeReason, spelling: str
) -> None:
    assert value == spelling
    assert str(value) == spelling
    assert f"{value}" == spelling


def test_no_trade_reason_exception_when_given_an_exception_then_exception_colon_type() -> None:
    class DivisionTrouble(ArithmeticError):
        pass

    assert NoTradeReason.exception(ValueError("secret detail")) == "exception:ValueError"
    assert NoTradeReason.exception(DivisionTrouble()) == "exception:DivisionTrouble"


@pytest.mark.parametrize("trading", [TradingState.REDUCING, TradingState.HALTED])
def test_why_no_orders_when_not_active_then_kill_switch(trading: TradingState) -> None:
    assert why_no_orders(trading, UNIVERSE, [signal()], [], [], {}, [], []) == (
        NoTradeReason.KILL_SWITCH,
        f"trading_state {trading.value}",
    )


def test_why_no_orders_when_universe_empty_and_no_exits_then_empty_universe() -> None:
    assert why_no_orders(ACTIVE, EMPTY, [], [], [], {}, [], []) == (
        NoTradeReason.EMPTY_UNIVERSE,
        "2 products excluded",
    )


def test_why_no_orders_when_no_signals_and_no_exits_then_no_candidates_from_triggers() -> None:
    assert why_no_orders(ACTIVE, UNIVERSE, [], [], [], {}, [], []) == (
        NoTradeReason.NO_CANDIDATES_FROM_TRIGGERS,
        "1 products quiet",
    )


def test_why_no_orders_when_signals_but_no_proposals_then_rules_with_skips_sorted() -> None:
    skipped = {"SOL-USD": "not_in_universe", "BTC-USD": "signals 1 < 2"}
    assert why_no_orders(ACTIVE, UNIVERSE, [signal()], [], [], skipped, [], []) == (
        NoTradeReason.RULES_ENGINE_NO_PROPOSALS,
        "BTC-USD: signals 1 < 2; SOL-USD: not_in_universe",
    )


def test_why_no_orders_when_no_proposals_and_nothing_skipped_then_generic_detail() -> None:
    assert why_no_orders(ACTIVE, UNIVERSE, [signal()], [], [], {}, [], []) == (
        NoTradeReason.RULES_ENGINE_NO_PROPOSALS,
        "no entry or exit rule met",
    )


def test_why_no_orders_when_every_proposal_blocked_then_blocked_by_risk_with_checks() -> None:
    proposals = [entry("BTC-USD"), entry("ETH-USD")]
    decisions = [
        RiskDecision(proposals[0], False, "min_notional", "notional 5.00 < 10"),
        RiskDecision(proposals[1], False, "max_trades_per_hour", "trades this hour 6 >= 6"),
    ]
    assert why_no_orders(ACTIVE, UNIVERSE, [signal()], [], proposals, {}, decisions, []) == (
        NoTradeReason.ALL_PROPOSALS_BLOCKED_BY_RISK,
        "BTC-USD: min_notional; ETH-USD: max_trades_per_hour",
    )


def test_why_no_orders_when_every_block_is_the_daily_loss_limit_then_kill_switch() -> None:
    proposals = [entry("BTC-USD")]
    decisions = [RiskDecision(proposals[0], False, "daily_loss_limit", "realized loss ...")]
    assert why_no_orders(ACTIVE, UNIVERSE, [signal()], [], proposals, {}, decisions, []) == (
        NoTradeReason.KILL_SWITCH,
        "BTC-USD: daily_loss_limit",
    )


def test_why_no_orders_when_approved_but_all_dropped_then_execution_filter() -> None:
    proposals = [entry("BTC-USD"), entry("ETH-USD")]
    decisions = [RiskDecision(p, True) for p in proposals]
    dropped = [
        Dropped(proposals[0], "slippage: expected 35.00bps > 30bps"),
        Dropped(proposals[1], "product_not_tradable"),
    ]
    assert why_no_orders(ACTIVE, UNIVERSE, [signal()], [], proposals, {}, decisions, dropped) == (
        NoTradeReason.NO_ORDERS_AFTER_EXECUTION_FILTER,
        "BTC-USD: slippage: expected 35.00bps > 30bps; ETH-USD: product_not_tradable",
    )


def test_why_no_orders_when_universe_empty_but_an_exit_dropped_then_execution_filter() -> None:
    # an exit keeps the cycle going past the empty universe and the quiet triggers
    exits = [exit_("BTC-USD")]
    decisions = [RiskDecision(exits[0], True)]
    dropped = [Dropped(exits[0], "below_min_notional: 0.50 < 1")]
    assert why_no_orders(ACTIVE, EMPTY, [], exits, exits, {}, decisions, dropped) == (
        NoTradeReason.NO_ORDERS_AFTER_EXECUTION_FILTER,
        "BTC-USD: below_min_notional: 0.50 < 1",
    )
