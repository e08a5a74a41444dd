"""The whole decision: the protections run on the cycle's valuation, before risk sees the state."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from pipeline_builders import config, position, product, quote, snapshot

from trader.domain.models import Balance, Side, TradingState
from trader.domain.state import PortfolioState
from trader.pipeline.decision import _policy, _risk_context, assess, decide
from trader.pipeline.portfolio import pooled
from trader.pipeline.regime import policy_for

D = Decimal
CFG = config()  # BTC-USD the one tier; max_drawdown_pct 15; stop loss 3 %


def test_decide_when_equity_falls_past_the_drawdown_limit_then_reducing_and_the_exit_planned() -> (
    None
):
    # cash 9,100 + 10 ETH at the 90 bid = 10,000; (12,500 - 10,000) / 12,500 = 20 % >= 15 %
    state = PortfolioState(peak_equity=D(12_500), positions={"ETH-USD": position("ETH-USD", 10)})
    snap = snapshot(
        [product("BTC-USD"), product("ETH-USD")],
        [quote("BTC-USD"), quote("ETH-USD", bid="90", ask="90.1")],
        cash="9100",
    )
    decision = decide(CFG, state, snap, {"ETH-USD"}, "20261124T1200Z")

    assert decision.state.trading_state is TradingState.REDUCING
    assert decision.state.peak_equity == D(12_500)
    seen = decision.assessment.protections
    assert (seen.drawdown_pct, seen.tripped) == (D(20), "max_drawdown")
    (sell,) = decision.planned  # the stop loss (-10 %) still sells
    assert (sell.product_id, sell.side, sell.base_size) == ("ETH-USD", Side.SELL, D(10))
    assert decision.no_trade is None


def test_decide_when_equity_makes_a_new_high_then_the_peak_follows() -> None:
    state = PortfolioState(peak_equity=D(9_000))
    snap = snapshot([product("BTC-USD")], [quote("BTC-USD")], cash="10000")
    decision = decide(CFG, state, snap, set(), "20261124T1200Z")
    assert decision.state.peak_equity == D(10_000)
    assert decision.state.trading_state is TradingState.ACTIVE


def test_decide_when_a_held_product_went_cancel_only_then_no_sell_and_exits_blocked_says_why() -> (
    None
):
    state = PortfolioState(positions={"BTC-USD": position()})  # bid 90: a stop loss, if it could
    snap = snapshot([product(cancel_only=True)], [quote(bid="90", ask="90.1")])
    decision = decide(CFG, state, snap, {"BTC-USD"}, "20261124T1200Z")
    assert decision.proposals == ()
    assert decision.exits_blocked == {"BTC-USD": "cancel_only: the exchange takes no sell"}


def test_regime_policy_when_read_again_then_the_policy_of_that_config_and_regime() -> None:
    plain = config()
    tight = config(
        rules={"regime_size_multiplier": {"choppy": "0.5"}, "regime_tiers": {"choppy": []}},
        exits={"stop_loss_pct": 5, "regime_stop_loss_pct": {"choppy": 2}},
    )
    for cfg in (plain, tight, plain, tight):  # the second round comes from memory
        for name in ("trending_up", "trending_down", "choppy", "volatile", "crash", "unknown"):
            assert _policy(cfg, name) == policy_for(name, cfg.rules, cfg.exits)
    assert _policy(tight, "choppy") != _policy(plain, "choppy")


def test_risk_context_when_cash_is_in_several_currencies_then_the_pooled_available() -> None:
    """assess pools the cash once; risk reads that pool, as pooling the balances again would."""
    snap = snapshot([product("BTC-USD")], [quote("BTC-USD")])
    balances = {
        "USD": Balance("USD", D("60.5"), D(40)),
        "USDC": Balance("USDC", D("25.25"), D(3)),
        "ETH": Balance("ETH", D(7)),
    }
    snap = dataclasses.replace(snap, balances=balances)
    risk = _risk_context(CFG, assess(CFG, PortfolioState(), snap), snap)
    assert risk.cash_available == pooled(balances, CFG.cycle.cash_currencies).available
    assert risk.cash_available == D("85.75")  # USD and USDC available, not their holds
