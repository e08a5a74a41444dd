"""Whole cycles on the rig: the max-drawdown hold and its release, the daily loss limit with
open losses, and holdings whose product left the universe."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from cycle_rig import FEES, NOW, Rig, flat_rig, make_rig
from scripted_market import default_config, product, series, tweak

from trader.adapters.memory import InMemoryStateStore
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.models import Mode, OrderStatus, Position, Side, TradingState
from trader.domain.state import PortfolioState

D = Decimal
AN_HOUR_AGO = NOW - timedelta(hours=1)


def next_bar(rig: Rig) -> None:
    """One bar on, each series repeating its last bar (SOL's momentum still shows)."""
    rig.clock.advance()
    rig.market.candles = {
        pid: [*bars[1:], replace(bars[-1], start=bars[-1].start + timedelta(minutes=5))]
        for pid, bars in rig.market.candles.items()
    }


# --- max drawdown ------------------------------------------------------------------------


def test_cycle_when_equity_is_18pct_below_its_peak_then_reducing_audited_exit_sold_no_entry() -> (
    None
):
    rig = make_rig()  # SOL rising: an entry signal
    # 0.01 BTC bought at 70,000; the bid is 65,000 - 6.5 (2 bps spread) = 64,993.50: -7 %, a stop.
    btc = Position("BTC-USD", D("0.01"), D(70_000), AN_HOUR_AGO)
    balances = {"USD": D(10_000), "BTC": D("0.01")}
    rig.store = InMemoryStateStore(
        PortfolioState(positions={"BTC-USD": btc}, paper_balances=balances, peak_equity=D(13_000))
    )
    result = rig.run(Mode.PAPER)

    # equity = 10,000 + 0.01 * 64,993.50 = 10,649.935;
    # drawdown = (13,000 - 10,649.935) / 13,000 * 100 = 18.07742...% >= 15 %
    assert result.protection_tripped == "max_drawdown"
    record = rig.audit.records[0]
    assert record["protections"] == {
        "peak_equity": "13000",
        "drawdown_pct": "18.0774",
        "max_drawdown_pct": "15",
        "tripped": "max_drawdown",
        "released": False,
        "held_since": "2026-03-02T12:00:00Z",
    }
    saved = rig.store.load()
    assert saved.trading_state is TradingState.REDUCING
    assert (saved.drawdown_tripped_at, saved.peak_equity) == (NOW, D(13_000))
    # The SOL entry is stopped by the kill switch, naming the hold; the BTC stop loss still sells.
    sol = next(r for r in record["risk"] if r["product_id"] == "SOL-USD")
    assert (sol["approved"], sol["check"]) == (False, "kill_switch")
    assert "max_drawdown hold since" in sol["detail"]
    (order,) = result.orders
    assert (order.product_id, order.side, order.status) == (
        "BTC-USD",
        Side.SELL,
        OrderStatus.FILLED,
    )
    assert "BTC-USD" not in saved.positions


def test_cycle_when_the_operator_releases_the_hold_then_the_peak_restarts_and_entries_resume() -> (
    None
):
    rig = make_rig()
    rig.store = InMemoryStateStore(PortfolioState(peak_equity=D(12_500)))
    first = rig.run()  # 10,000 cash vs a 12,500 peak: (12,500 - 10,000) / 12,500 = 20 %
    assert (first.protection_tripped, first.no_trade_reason) == ("max_drawdown", "kill_switch")
    assert rig.exchange.orders() == {}

    next_bar(rig)
    still = rig.run()  # held: no second trip, still no entry
    assert (still.protection_tripped, still.no_trade_reason) == (None, "kill_switch")
    assert rig.audit.records[1]["protections"]["held_since"] == "2026-03-02T12:00:00Z"

    held = rig.store.load()
    rig.store.save(held.replace(trading_state=TradingState.ACTIVE), None)  # the operator
    next_bar(rig)
    released = rig.run()

    assert released.protection_tripped is None
    assert rig.audit.records[2]["protections"] == {
        "peak_equity": "10000",  # the equity of the releasing cycle, not the old 12,500
        "drawdown_pct": "0.0000",
        "max_drawdown_pct": "15",
        "tripped": None,
        "released": True,
        "held_since": None,
    }
    (buy,) = released.orders
    assert (buy.product_id, buy.side) == ("SOL-USD", Side.BUY)
    saved = rig.store.load()
    assert saved.trading_state is TradingState.ACTIVE
    assert saved.drawdown_tripped_at is None


def test_cycle_when_max_drawdown_is_disabled_then_a_deep_drawdown_keeps_trading() -> None:
    rig = make_rig(tweak(default_config(), risk={"max_drawdown_pct": None}))
    rig.store = InMemoryStateStore(PortfolioState(peak_equity=D(20_000)))
    result = rig.run()
    assert result.protection_tripped is None
    assert result.no_trade_reason is None  # the SOL entry is placed
    assert rig.audit.records[0]["protections"]["drawdown_pct"] == "50.0000"
    assert rig.store.load().trading_state is TradingState.ACTIVE


# --- daily loss limit with open losses -----------------------------------------------------


def losing_eth_rig(realized_today: Decimal) -> Rig:
    """1 ETH bought at 3,500 (bid 3,200 - 0.32 = 3,199.68: open loss 300.32), 7,000 USD cash;
    open losses count; the stop loss is wide enough to keep ETH open; SOL signals an entry."""
    config = tweak(
        default_config(),
        risk={"daily_loss_includes_unrealized": True},
        exits={"stop_loss_pct": D(50)},
    )
    rig = make_rig(config)
    eth = Position("ETH-USD", D(1), D(3_500), AN_HOUR_AGO)
    rig.exchange = MatchingExchange(
        rig.market, rig.clock, FEES, D(0), {"USD": D(7_000), "ETH": D(1)}
    )
    rig.store = InMemoryStateStore(
        PortfolioState(
            positions={"ETH-USD": eth}, day=NOW.date(), realized_pnl_today=realized_today
        )
    )
    return rig


def test_cycle_when_realized_and_open_losses_reach_the_limit_then_kill_switch() -> None:
    # equity 7,000 + 3,199.68 = 10,199.68; limit 3 % = 305.9904.
    # realized 10 + open 300.32 = 310.32 >= 305.99
    rig = losing_eth_rig(D(-10))
    result = rig.run()
    assert result.no_trade_reason == "kill_switch"
    (sol,) = [r for r in rig.audit.records[0]["risk"] if r["product_id"] == "SOL-USD"]
    assert sol["check"] == "daily_loss_limit"
    assert sol["detail"] == (
        "realized loss today 10.00 + open loss 300.32 = 310.32 >= limit 305.99 (3% of equity)"
    )


def test_cycle_when_open_losses_count_but_stay_under_the_limit_then_the_entry_is_placed() -> None:
    # realized 0 + open 300.32 < 305.99
    result = losing_eth_rig(D(0)).run()
    assert result.no_trade_reason is None
    (buy,) = result.orders
    assert (buy.product_id, buy.side) == ("SOL-USD", Side.BUY)


# --- holdings whose product left the universe ----------------------------------------------


def holding_sol(rig: Rig, size: str = "2", entry: int = 100) -> None:
    sol = Position("SOL-USD", D(size), D(entry), AN_HOUR_AGO)
    rig.exchange = MatchingExchange(
        rig.market, rig.clock, FEES, D(0), {"USD": D(10_000), "SOL": D(size)}
    )
    rig.store = InMemoryStateStore(PortfolioState(positions={"SOL-USD": sol}))


def test_cycle_when_a_held_product_is_cancel_only_then_nothing_sent_and_the_audit_says_why() -> (
    None
):
    rig = flat_rig()
    holding_sol(rig, entry=150)  # -33 %: a stop loss, if the exchange took a sell
    rig.market.products["SOL-USD"] = product("SOL-USD", cancel_only=True)
    result = rig.run()

    assert result.orders == ()
    record = rig.audit.records[0]
    assert record["proposals"]["exits_blocked"] == {
        "SOL-USD": "cancel_only: the exchange takes no sell"
    }
    assert record["proposals"]["proposed"] == []
    assert rig.exchange.orders() == {}


def test_cycle_when_a_held_product_left_the_tiers_and_the_config_says_exit_then_it_is_sold() -> (
    None
):
    config = default_config()
    config = tweak(
        config,
        exits={"exit_when_left_universe": True},
        universe={"filters": config.universe.filters.model_copy(update={"exclude": ("SOL-USD",)})},
    )
    rig = flat_rig(config)
    holding_sol(rig)  # at its entry price: no price rule fires
    result = rig.run()

    (order,) = result.orders
    assert (order.product_id, order.side, order.filled_size) == ("SOL-USD", Side.SELL, D(2))
    (proposal,) = rig.audit.records[0]["proposals"]["proposed"]
    assert proposal["reason"] == "left_universe: excluded_by_config"
    assert "SOL-USD" not in rig.store.load().positions


def test_cycle_when_a_held_product_left_the_tiers_by_default_then_it_is_kept() -> None:
    config = default_config()
    config = tweak(
        config,
        universe={"filters": config.universe.filters.model_copy(update={"exclude": ("SOL-USD",)})},
    )
    rig = flat_rig(config)
    holding_sol(rig)
    result = rig.run()
    assert result.orders == ()
    assert "SOL-USD" in rig.store.load().positions


def test_cycle_when_a_held_product_is_no_longer_listed_then_blocked_not_listed() -> None:
    rig = flat_rig()
    holding_sol(rig)
    del rig.market.products["SOL-USD"]
    rig.market.candles["SOL-USD"] = series(NOW, [100] * 48)
    rig.run()
    assert rig.audit.records[0]["proposals"]["exits_blocked"] == {
        "SOL-USD": "not_listed: the exchange takes no sell"
    }
