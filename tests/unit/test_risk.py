"""Risk checks: each block names its check and its numbers; exits pass unless HALTED;
approved entries use up the limits for the proposals after them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipeline_builders import T0, entry, exit_, valuation

from trader.domain.config import RiskConfig
from trader.domain.models import Proposal, RiskDecision, TradingState
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import Valuation
from trader.pipeline.risk import RiskContext, check_risk, kill_switch_engaged

D = Decimal
CFG = RiskConfig(
    max_trades_per_day=30,
    max_trades_per_hour=6,
    max_total_exposure_pct=D(60),
    max_exposure_per_asset_pct=D(15),
    daily_loss_limit_pct=D(3),
    cooldown_minutes_after_loss=60,
    min_notional_quote=D(10),
)


def ctx(
    state: PortfolioState | None = None,
    value: Valuation | None = None,
    cash: Decimal | str | int = 10_000,
    fee: Decimal | str = "0",
) -> RiskContext:
    """Equity 10,000 in cash, no positions, no fee unless told."""
    return RiskContext(state or PortfolioState(), value or valuation(10_000), D(cash), D(fee), T0)


def one(proposal: Proposal, context: RiskContext, cfg: RiskConfig = CFG) -> RiskDecision:
    (decision,) = check_risk([proposal], context, cfg)
    return decision


def blocked(decision: RiskDecision) -> tuple[str | None, str | None]:
    assert not decision.approved
    return decision.check, decision.detail


def test_check_risk_when_entry_within_every_limit_then_approved() -> None:
    decision = one(entry(quote_size=100), ctx())
    assert decision == RiskDecision(entry(quote_size=100), True)


@pytest.mark.parametrize("trading", [TradingState.REDUCING, TradingState.HALTED])
def test_check_risk_when_not_active_then_entry_blocked_by_kill_switch(
    trading: TradingState,
) -> None:
    state = PortfolioState(trading_state=trading)
    assert blocked(one(entry(), ctx(state))) == ("kill_switch", f"trading_state {trading.value}")


def test_check_risk_when_realized_loss_reaches_limit_then_daily_loss_limit() -> None:
    # limit = 10,000 * 3 % = 300; loss 300 >= 300
    state = PortfolioState(realized_pnl_today=D(-300))
    assert blocked(one(entry(), ctx(state))) == (
        "daily_loss_limit",
        "realized loss today 300.00 >= limit 300.00 (3% of equity)",
    )


def test_check_risk_when_realized_loss_just_under_limit_then_approved() -> None:
    state = PortfolioState(realized_pnl_today=D("-299.99"))
    assert one(entry(), ctx(state)).approved


def test_check_risk_when_equity_zero_and_no_loss_then_not_the_daily_loss_limit() -> None:
    # no loss at all must not read as a tripped loss limit (a kill switch): limit 0 % of 0 = 0,
    # loss 0. The entry fails on size instead: 0 + 100 > 15 % of 0
    decision = one(entry(quote_size=100), ctx(value=valuation(0), cash=0))
    assert blocked(decision) == (
        "max_exposure_per_asset",
        "BTC-USD exposure 100.00 > 0.00 (15% of equity)",
    )


WITH_OPEN_LOSS = CFG.model_copy(update={"daily_loss_includes_unrealized": True})


def test_check_risk_when_realized_and_open_loss_reach_the_limit_then_daily_loss_limit() -> None:
    # equity 8,000 cash + 1,750 BTC = 9,750; limit 3 % = 292.50.
    # realized loss 100 + open loss 250 = 350 >= 292.50
    state = PortfolioState(realized_pnl_today=D(-100))
    value = valuation(8_000, unrealized=-250, BTC_USD=1_750)
    assert blocked(one(entry("ETH-USD"), ctx(state, value), WITH_OPEN_LOSS)) == (
        "daily_loss_limit",
        "realized loss today 100.00 + open loss 250.00 = 350.00 >= limit 292.50 (3% of equity)",
    )


def test_check_risk_when_open_loss_is_not_counted_then_only_realized_loss_counts() -> None:
    # the same book with the option off (the default): 100 < 292.50
    state = PortfolioState(realized_pnl_today=D(-100))
    value = valuation(8_000, unrealized=-250, BTC_USD=1_750)
    assert one(entry("ETH-USD"), ctx(state, value)).approved


def test_check_risk_when_open_positions_gain_then_the_gain_does_not_offset_realized_loss() -> None:
    # only the negative part of the unrealized PnL counts: realized 299.99 + max(0, -500) = 299.99
    # < 300 (3 % of 9,000 cash + 1,000 BTC)
    state = PortfolioState(realized_pnl_today=D("-299.99"))
    value = valuation(9_000, unrealized=500, BTC_USD=1_000)
    assert one(entry("ETH-USD"), ctx(state, value), WITH_OPEN_LOSS).approved


def test_check_risk_when_a_realized_gain_and_a_larger_open_loss_then_the_net_loss_counts() -> None:
    # equity 9,000 + 1,000 = 10,000, limit 300: realized +100, open loss 400 -> -100 + 400 = 300
    state = PortfolioState(realized_pnl_today=D(100))
    value = valuation(9_000, unrealized=-400, BTC_USD=1_000)
    assert blocked(one(entry("ETH-USD"), ctx(state, value), WITH_OPEN_LOSS)) == (
        "daily_loss_limit",
        "realized loss today -100.00 + open loss 400.00 = 300.00 >= limit 300.00 (3% of equity)",
    )
    lighter = valuation(9_000, unrealized="-399.99", BTC_USD=1_000)  # 299.99 < 300
    assert one(entry("ETH-USD"), ctx(state, lighter), WITH_OPEN_LOSS).approved


def test_check_risk_when_the_drawdown_hold_is_in_force_then_kill_switch_names_it() -> None:
    state = PortfolioState(trading_state=TradingState.REDUCING, drawdown_tripped_at=T0)
    assert blocked(one(entry(), ctx(state))) == (
        "kill_switch",
        "trading_state REDUCING (max_drawdown hold since 2026-11-24T12:00:00+00:00)",
    )
    assert one(exit_(), ctx(state)).approved  # exits still run


def test_check_risk_when_trades_today_at_limit_then_max_trades_per_day() -> None:
    state = PortfolioState(trades_today=30)
    assert blocked(one(entry(), ctx(state))) == ("max_trades_per_day", "trades today 30 >= 30")


def test_check_risk_when_trades_this_hour_at_limit_then_max_trades_per_hour() -> None:
    state = PortfolioState(trades_today=6, trades_this_hour=6)
    assert blocked(one(entry(), ctx(state))) == (
        "max_trades_per_hour",
        "trades this hour 6 >= 6",
    )


def test_check_risk_when_product_in_cooldown_then_cooldown_with_its_end() -> None:
    state = PortfolioState(cooldowns={"BTC-USD": T0 + timedelta(minutes=1)})
    assert blocked(one(entry(), ctx(state))) == (
        "cooldown",
        "cooldown after an exit until 2026-11-24T12:01:00+00:00",
    )


def test_check_risk_when_cooldown_ends_now_or_other_product_then_approved() -> None:
    state = PortfolioState(cooldowns={"BTC-USD": T0, "ETH-USD": T0 + timedelta(hours=1)})
    assert one(entry("BTC-USD"), ctx(state)).approved


def test_check_risk_when_notional_below_minimum_then_min_notional() -> None:
    assert blocked(one(entry(quote_size="9.99"), ctx())) == ("min_notional", "notional 9.99 < 10")
    assert one(entry(quote_size=10), ctx()).approved


def test_check_risk_when_asset_exposure_would_exceed_limit_then_blocked_with_numbers() -> None:
    # equity 9,000 cash + 1,000 BTC = 10,000; limit 15 % = 1,500; 1,000 + 500.01 = 1,500.01
    value = valuation(9_000, BTC_USD=1_000)
    assert blocked(one(entry(quote_size="500.01"), ctx(value=value))) == (
        "max_exposure_per_asset",
        "BTC-USD exposure 1500.01 > 1500.00 (15% of equity)",
    )
    assert one(entry(quote_size=500), ctx(value=value)).approved  # exactly 1,500


def test_check_risk_when_total_exposure_would_exceed_limit_then_blocked_with_numbers() -> None:
    # 5 x 1,000 held + 5,000 cash = 10,000 equity; limit 60 % = 6,000; 5,000 + 1,000.01
    value = valuation(5_000, A_USD=1_000, B_USD=1_000, C_USD=1_000, E_USD=1_000, F_USD=1_000)
    assert blocked(one(entry("X-USD", "1000.01"), ctx(value=value))) == (
        "max_total_exposure",
        "total exposure 6000.01 > 6000.00 (60% of equity)",
    )
    assert one(entry("X-USD", 1000), ctx(value=value)).approved


def test_check_risk_when_cash_short_of_size_plus_fee_then_insufficient_funds() -> None:
    # need 100 * (1 + 0.006) = 100.60 > 100 available
    assert blocked(one(entry(quote_size=100), ctx(cash=100, fee="0.006"))) == (
        "insufficient_funds",
        "needs 100.60 with fees, 100.00 available",
    )
    # 99.40 * 1.006 = 99.9964 <= 100
    assert one(entry(quote_size="99.40"), ctx(cash=100, fee="0.006")).approved


def test_check_risk_when_several_limits_hit_then_the_first_in_order_is_named() -> None:
    state = PortfolioState(trading_state=TradingState.REDUCING, trades_today=99)
    assert one(entry(quote_size=1), ctx(state, cash=0)).check == "kill_switch"


def test_check_risk_when_exit_while_every_entry_limit_is_hit_then_approved() -> None:
    state = PortfolioState(
        trading_state=TradingState.REDUCING,
        realized_pnl_today=D(-5_000),
        trades_today=30,
        trades_this_hour=6,
        cooldowns={"BTC-USD": T0 + timedelta(hours=1)},
    )
    value = valuation(0, BTC_USD=100_000)  # far above every exposure limit
    assert one(exit_(base_size=1000), ctx(state, value, cash=0)) == RiskDecision(
        exit_(base_size=1000), True
    )


def test_check_risk_when_halted_then_exit_blocked_too() -> None:
    state = PortfolioState(trading_state=TradingState.HALTED)
    assert blocked(one(exit_(), ctx(state))) == (
        "kill_switch",
        "trading_state HALTED stops exits too",
    )


# --- limits used up within one cycle ----------------------------------------------------


def test_check_risk_when_one_trade_left_this_hour_then_second_entry_blocked() -> None:
    state = PortfolioState(trades_this_hour=5)
    decisions = check_risk([entry("BTC-USD"), entry("ETH-USD")], ctx(state), CFG)
    assert decisions[0].approved
    assert blocked(decisions[1]) == ("max_trades_per_hour", "trades this hour 6 >= 6")


def test_check_risk_when_one_trade_left_today_then_second_entry_blocked() -> None:
    state = PortfolioState(trades_today=29)
    decisions = check_risk([entry("BTC-USD"), entry("ETH-USD")], ctx(state), CFG)
    assert decisions[0].approved
    assert blocked(decisions[1]) == ("max_trades_per_day", "trades today 30 >= 30")


def test_check_risk_when_first_entry_spends_cash_then_second_sees_the_rest() -> None:
    # first: 600 * 1.006 = 603.60 spent; 1,000 - 603.60 = 396.40 left; second needs 603.60
    decisions = check_risk(
        [entry("BTC-USD", 600), entry("ETH-USD", 600)], ctx(cash=1000, fee="0.006"), CFG
    )
    assert decisions[0].approved
    assert blocked(decisions[1]) == (
        "insufficient_funds",
        "needs 603.60 with fees, 396.40 available",
    )


def test_check_risk_when_same_asset_twice_then_second_counts_the_first() -> None:
    # limit 1,500; 1,000 approved, then 1,000 + 1,000 = 2,000 > 1,500
    decisions = check_risk([entry("BTC-USD", 1000), entry("BTC-USD", 1000)], ctx(), CFG)
    assert decisions[0].approved
    assert blocked(decisions[1]) == (
        "max_exposure_per_asset",
        "BTC-USD exposure 2000.00 > 1500.00 (15% of equity)",
    )


def test_check_risk_when_earlier_entries_fill_total_limit_then_later_one_blocked() -> None:
    # 4 x 1,400 = 5,600 approved (each <= 1,500); 5,600 + 1,400 = 7,000 > 6,000
    proposals = [entry(f"P{i}-USD", 1400) for i in range(5)]
    decisions = check_risk(proposals, ctx(), CFG)
    assert [d.approved for d in decisions] == [True, True, True, True, False]
    assert blocked(decisions[4]) == (
        "max_total_exposure",
        "total exposure 7000.00 > 6000.00 (60% of equity)",
    )


def test_check_risk_when_an_entry_is_blocked_then_it_uses_up_nothing() -> None:
    state = PortfolioState(trades_this_hour=5)
    decisions = check_risk([entry("BTC-USD", 5), entry("ETH-USD", 100)], ctx(state), CFG)
    assert decisions[0].check == "min_notional"
    assert decisions[1].approved


def test_check_risk_when_exits_come_first_then_they_use_up_no_trade_slot() -> None:
    state = PortfolioState(trades_this_hour=5)
    decisions = check_risk([exit_("ETH-USD"), entry("BTC-USD")], ctx(state), CFG)
    assert [d.approved for d in decisions] == [True, True]


def test_check_risk_when_no_proposals_then_no_decisions() -> None:
    assert check_risk([], ctx(), CFG) == ()


def test_kill_switch_engaged_when_every_block_is_kill_switch_or_loss_limit_then_true() -> None:
    p = entry()
    assert kill_switch_engaged(
        [RiskDecision(p, False, "kill_switch"), RiskDecision(p, False, "daily_loss_limit")]
    )
    assert not kill_switch_engaged(
        [RiskDecision(p, False, "kill_switch"), RiskDecision(p, False, "min_notional")]
    )
    assert not kill_switch_engaged([RiskDecision(p, True)])
    assert not kill_switch_engaged([])


sizes = st.decimals(min_value=D(0), max_value=D(5_000), places=2)


@given(
    st.lists(sizes, max_size=12),
    st.decimals(min_value=D(0), max_value=D(20_000), places=2),
    st.decimals(min_value=D(0), max_value=D("0.02"), places=4),
    st.integers(min_value=0, max_value=7),
)
def test_check_risk_when_any_entries_then_approved_spend_never_exceeds_cash_or_limits(
    quote_sizes: list[Decimal], cash: Decimal, fee: Decimal, hour_trades: int
) -> None:
    state = PortfolioState(trades_this_hour=hour_trades)
    proposals = [entry(f"P{i}-USD", size) for i, size in enumerate(quote_sizes)]
    approved = [
        d.proposal for d in check_risk(proposals, ctx(state, cash=cash, fee=fee), CFG) if d.approved
    ]
    spend = sum((p.quote_size * (1 + fee) for p in approved), D(0))
    assert spend <= cash
    assert len(approved) <= max(0, CFG.max_trades_per_hour - hour_trades)
    assert sum((p.quote_size for p in approved), D(0)) <= D(6_000)  # 60 % of 10,000
    assert all(p.quote_size >= CFG.min_notional_quote for p in approved)
