"""Exit rules: stop loss, take profit, trailing stop (above entry only), max holding time, and
a holding whose product left the universe (sold when it can be, blocked with why when not)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_builders import (
    MINIMAL_UNIVERSE,
    T0,
    config,
    position,
    product,
    quote,
    snapshot,
)

from trader.domain.config import ExitsConfig
from trader.domain.models import (
    Intent,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Proposal,
    Quote,
    Side,
    TradingState,
)
from trader.domain.state import PortfolioState
from trader.pipeline.exits import (
    ExitPlan,
    exit_blockers,
    exit_reason,
    orders_blocking_exits,
    plan_exits,
)
from trader.pipeline.portfolio import mark_watermarks
from trader.pipeline.universe import Universe

D = Decimal
CFG = ExitsConfig(
    stop_loss_pct=D(3),
    take_profit_pct=D(6),
    trailing_stop_pct=D(2),
    trailing_arm_pct=D(0),  # armed once a sale at the high would break even after fees
    max_holding_hours=D(48),
)
TAKER = D("0.006")  # what an exit pays
ENTRY_100 = position(entry=100)  # high-water mark = entry: trailing stop not armed
IN_UNIVERSE = Universe((), {})  # nothing excluded: only the price and time rules apply


def test_exit_reason_when_bid_three_pct_below_entry_then_stop_loss() -> None:
    # (97 / 100 - 1) * 100 = -3 % <= -3 %
    assert exit_reason(ENTRY_100, D(97), T0, CFG, TAKER) == "stop_loss -3.00% <= -3%"


def test_exit_reason_when_bid_just_above_stop_then_no_exit() -> None:
    # (97.01 / 100 - 1) * 100 = -2.99 % > -3 %
    assert exit_reason(ENTRY_100, D("97.01"), T0, CFG, TAKER) is None


def test_exit_reason_when_bid_six_pct_above_entry_then_take_profit() -> None:
    # (106 / 100 - 1) * 100 = +6 % >= 6 %
    assert exit_reason(ENTRY_100, D(106), T0, CFG, TAKER) == "take_profit +6.00% >= 6%"


def test_exit_reason_when_bid_just_below_take_profit_then_no_exit() -> None:
    assert exit_reason(ENTRY_100, D("105.99"), T0, CFG, TAKER) is None


def test_exit_reason_when_two_pct_below_high_above_entry_then_trailing_stop() -> None:
    # high 105 > entry 100; (1 - 102.9 / 105) * 100 = 2 % (102.9 / 105 = 0.98); +2.9 % is no TP
    pos = position(entry=100, high_watermark=105)
    assert (
        exit_reason(pos, D("102.9"), T0, CFG, TAKER) == "trailing_stop 2.00% below high 105 >= 2%"
    )


def test_exit_reason_when_less_than_trail_below_high_then_no_exit() -> None:
    # (1 - 102.91 / 105) * 100 = 1.99 % < 2 %
    assert exit_reason(position(entry=100, high_watermark=105), D("102.91"), T0, CFG, TAKER) is None


def test_exit_reason_when_high_watermark_not_above_entry_then_trailing_stop_not_armed() -> None:
    # 2 % below a high equal to entry, and below a high under entry: only the stop loss applies
    assert exit_reason(position(entry=100, high_watermark=100), D(98), T0, CFG, TAKER) is None
    assert exit_reason(position(entry=100, high_watermark=0), D(98), T0, CFG, TAKER) is None


def test_exit_reason_when_high_only_a_tick_above_entry_then_trail_is_no_stop_loss() -> None:
    # The old trail armed at any tick above entry and sold 2 % below it, at a loss: here
    # 100.01 x 0.994 = 99.41 < 100 is no profit after the exit fee, so 98 (-2 %) holds.
    pos = position(entry=100, high_watermark="100.01")
    assert exit_reason(pos, D(98), T0, CFG, TAKER) is None


def test_exit_reason_when_high_below_the_net_arm_then_no_trail_and_above_it_then_trail() -> None:
    cfg = CFG.model_copy(update={"trailing_arm_pct": D(2)})
    # cost 100 + 0.60 entry fee = 100.60 a unit. High 103: 103 x 0.994 = 102.382,
    # 102.382 / 100.60 = 1.0177 -> +1.77 % < 2 %: not armed, though 100.9 is 2.04 % below it.
    unarmed = position(entry=100, entry_fees="0.6", high_watermark=103)
    assert exit_reason(unarmed, D("100.9"), T0, cfg, TAKER) is None
    # High 103.5: 103.5 x 0.994 = 102.879, / 100.60 = 1.0227 -> +2.27 % >= 2 %: armed;
    # 101.4 is (1 - 101.4 / 103.5) = 2.03 % below the high.
    armed = position(entry=100, entry_fees="0.6", high_watermark="103.5")
    reason = exit_reason(armed, D("101.4"), T0, cfg, TAKER)
    assert reason == "trailing_stop 2.03% below high 103.5 >= 2%"


def test_exit_reason_when_exit_fee_is_counted_then_the_trail_arms_later() -> None:
    # High 102.5 over entry 100 (no entry fee) is +2.5 % gross: armed at 2 % without an exit
    # fee; with 0.6 %, 102.5 x 0.994 = 101.885 -> +1.885 % < 2 %: not armed.
    cfg = CFG.model_copy(update={"trailing_arm_pct": D(2)})
    pos = position(entry=100, high_watermark="102.5")
    assert exit_reason(pos, D("100.4"), T0, cfg, D(0)) == (
        "trailing_stop 2.05% below high 102.5 >= 2%"  # 1 - 100.4 / 102.5 = 2.05 %
    )
    assert exit_reason(pos, D("100.4"), T0, cfg, TAKER) is None


def test_exit_reason_when_trailing_stop_off_then_no_trailing_exit() -> None:
    cfg = CFG.model_copy(update={"trailing_stop_pct": None})
    assert exit_reason(position(entry=100, high_watermark=105), D(102), T0, cfg, TAKER) is None


def test_exit_reason_when_loss_beyond_stop_and_trail_then_stop_loss_first() -> None:
    # -4 % is both a stop loss and 8.6 % below the high: the stop loss is named
    pos = position(entry=100, high_watermark=105)
    assert exit_reason(pos, D(96), T0, CFG, TAKER) == "stop_loss -4.00% <= -3%"


def test_exit_reason_when_held_exactly_max_hours_then_max_holding() -> None:
    now = T0 + timedelta(hours=48)
    assert exit_reason(ENTRY_100, D(100), now, CFG, TAKER) == "max_holding 2 days, 0:00:00 >= 48h"


def test_exit_reason_when_one_second_before_max_hours_then_no_exit() -> None:
    now = T0 + timedelta(hours=48) - timedelta(seconds=1)
    assert exit_reason(ENTRY_100, D(100), now, CFG, TAKER) is None


def test_exit_reason_when_max_holding_off_then_no_time_exit() -> None:
    cfg = CFG.model_copy(update={"max_holding_hours": None})
    assert exit_reason(ENTRY_100, D(100), T0 + timedelta(days=365), cfg, TAKER) is None


def plan(
    positions: dict[str, Position],
    quotes: Sequence[Quote],
    busy: Collection[str] = (),
    products: Sequence[Product] | None = None,
    universe: Universe = IN_UNIVERSE,
    **exits: object,
) -> ExitPlan:
    """plan_exits over a tradable product for every quote unless `products` says otherwise."""
    listed = products if products is not None else [product(q.product_id) for q in quotes]
    cfg = config(exits={**CFG.model_dump(), **exits})
    return plan_exits(positions, snapshot(listed, quotes), universe, busy, cfg)


def sell(product_id: str, size: str, reason: str) -> Proposal:
    return Proposal(product_id, Side.SELL, Intent.EXIT, None, D(size), reason)


def test_plan_exits_when_stop_hit_then_full_sell_of_the_position() -> None:
    positions = {"BTC-USD": position(size="0.123", entry=100)}
    assert plan(positions, [quote(bid="90", ask="90.1")]) == ExitPlan(
        (sell("BTC-USD", "0.123", "stop_loss -10.00% <= -3%"),), {}
    )


def test_plan_exits_when_no_quote_busy_or_empty_then_skipped() -> None:
    positions = {
        "BTC-USD": position("BTC-USD"),  # no quote
        "ETH-USD": position("ETH-USD"),  # an order is in flight
        "SOL-USD": position("SOL-USD", size=0),
    }
    quotes = [quote(pid, bid="50", ask="50.1") for pid in ("ETH-USD", "SOL-USD")]
    listed = [product(pid) for pid in positions]
    assert plan(positions, quotes, {"ETH-USD"}, listed) == ExitPlan((), {})


def test_plan_exits_when_several_exit_then_in_product_order() -> None:
    positions = {pid: position(pid) for pid in ("SOL-USD", "BTC-USD", "ETH-USD")}
    quotes = [quote(pid, bid="50", ask="50.1") for pid in positions]
    assert [p.product_id for p in plan(positions, quotes).proposals] == [
        "BTC-USD",
        "ETH-USD",
        "SOL-USD",
    ]


def test_plan_exits_when_no_positions_then_nothing() -> None:
    assert plan({}, []) == ExitPlan((), {})


# --- a holding whose product left the universe ---------------------------------------------

FLAT = quote(bid="100", ask="100.1")  # at the entry price: no price rule fires


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"cancel_only": True}, "cancel_only"),
        ({"disabled": True}, "disabled"),
        ({"trading_disabled": True}, "trading_disabled"),
        ({"view_only": True}, "view_only"),
        ({"status": "delisted"}, "status_delisted"),
    ],
)
def test_plan_exits_when_the_product_takes_no_sell_then_nothing_proposed_and_why_blocked(
    changes: dict[str, object], why: str
) -> None:
    # Even a stop loss (bid 90 is -10 %) is not proposed: the exchange would refuse the sell.
    positions = {"BTC-USD": position()}
    blocked = plan(positions, [quote(bid="90", ask="90.1")], products=[product(**changes)])
    assert blocked == ExitPlan((), {"BTC-USD": f"{why}: the exchange takes no sell"})


def test_plan_exits_when_the_product_is_no_longer_listed_then_blocked_not_listed() -> None:
    assert plan({"BTC-USD": position()}, [FLAT], products=[]) == ExitPlan(
        (), {"BTC-USD": "not_listed: the exchange takes no sell"}
    )


def test_plan_exits_when_limit_only_is_not_allowed_then_sell_not_tradable() -> None:
    # allow_limit_only false keeps a limit_only product out; a limit sell is still accepted.
    limit_only = product(limit_only=True)
    universe = Universe((), {"BTC-USD": "limit_only"})
    cfg_universe = {**MINIMAL_UNIVERSE, "filters": {"allow_limit_only": False}}
    cfg = config(universe=cfg_universe, exits=CFG.model_dump())
    positions = {"BTC-USD": position(size="0.5")}
    got = plan_exits(positions, snapshot([limit_only], [FLAT]), universe, (), cfg)
    assert got == ExitPlan((sell("BTC-USD", "0.5", "not_tradable: limit_only"),), {})


def test_plan_exits_when_auction_mode_then_sold_unless_not_tradable_exits_are_off() -> None:
    in_auction = [product(auction_mode=True)]
    universe = Universe((), {"BTC-USD": "auction_mode"})
    positions = {"BTC-USD": position()}
    assert plan(positions, [FLAT], products=in_auction, universe=universe).proposals == (
        sell("BTC-USD", "1", "not_tradable: auction_mode"),
    )
    off = plan(
        positions, [FLAT], products=in_auction, universe=universe, exit_when_not_tradable=False
    )
    assert off == ExitPlan((), {})


def test_plan_exits_when_out_of_every_tier_and_left_universe_exits_on_then_sell_with_why() -> None:
    universe = Universe((), {"BTC-USD": "no_tier"})
    positions = {"BTC-USD": position(size=2)}
    got = plan(positions, [FLAT], universe=universe, exit_when_left_universe=True)
    assert got == ExitPlan((sell("BTC-USD", "2", "left_universe: no_tier"),), {})


def test_plan_exits_when_out_of_every_tier_and_left_universe_exits_off_then_held() -> None:
    universe = Universe((), {"BTC-USD": "volume_24h 900000 < 1000000"})
    assert plan({"BTC-USD": position()}, [FLAT], universe=universe) == ExitPlan((), {})


def test_plan_exits_when_only_the_spread_keeps_it_out_then_not_a_left_universe_exit() -> None:
    # A wide spread this cycle is the market of the moment, not the product leaving.
    universe = Universe((), {"BTC-USD": "spread 99.95bps > 50bps"}, frozenset({"BTC-USD"}))
    got = plan({"BTC-USD": position()}, [FLAT], universe=universe, exit_when_left_universe=True)
    assert got == ExitPlan((), {})


def test_plan_exits_when_a_price_rule_and_left_universe_apply_then_one_sell_named_by_rule() -> None:
    universe = Universe((), {"BTC-USD": "no_tier"})
    positions = {"BTC-USD": position()}
    got = plan(
        positions, [quote(bid="90", ask="90.1")], universe=universe, exit_when_left_universe=True
    )
    assert got.proposals == (sell("BTC-USD", "1", "stop_loss -10.00% <= -3%"),)


# --- orders in flight that hold an exit back ----------------------------------------------


def in_flight(coid: str, product_id: str, status: OrderStatus = OrderStatus.OPEN) -> Order:
    return Order(coid, product_id, Side.BUY, OrderType.LIMIT, status, T0, Intent.ENTRY)


def test_orders_blocking_exits_when_stop_fires_where_an_order_is_in_flight_then_that_order() -> (
    None
):
    state = PortfolioState(
        positions={"BTC-USD": position("BTC-USD"), "ETH-USD": position("ETH-USD")},
        open_orders={
            "c-btc": in_flight("c-btc", "BTC-USD", OrderStatus.UNKNOWN),
            "c-eth": in_flight("c-eth", "ETH-USD"),
            "c-sol": in_flight("c-sol", "SOL-USD"),  # no position: no exit to free
        },
    )
    quotes = {
        "BTC-USD": quote("BTC-USD", bid="96", ask="96.1"),  # -4 %: stop loss
        "ETH-USD": quote("ETH-USD", bid="99", ask="99.1"),  # -1 %: no rule fires
    }

    blocking = orders_blocking_exits(state, quotes, T0, CFG, TAKER)

    assert blocking == ((state.open_orders["c-btc"], "stop_loss -4.00% <= -3%"),)


def test_orders_blocking_exits_when_the_trailing_stop_fires_on_this_bid_then_that_order() -> None:
    # Marked as the decision marks it (a bid under the high of 105 leaves it there):
    # (1 - 102.9 / 105) x 100 = 2 % >= 2 %, while +2.9 % over entry is neither stop nor target.
    pos = position("BTC-USD", entry=100, high_watermark=105)
    state = PortfolioState(
        positions={"BTC-USD": pos}, open_orders={"c1": in_flight("c1", "BTC-USD")}
    )
    quotes = {"BTC-USD": quote("BTC-USD", bid="102.9", ask="103")}

    ((_, reason),) = orders_blocking_exits(state, quotes, T0, CFG, TAKER)

    assert reason.startswith("trailing_stop 2.00% below high 105")


def test_orders_blocking_exits_when_halted_then_none() -> None:
    state = PortfolioState(
        trading_state=TradingState.HALTED,
        positions={"BTC-USD": position("BTC-USD")},
        open_orders={"c1": in_flight("c1", "BTC-USD")},
    )
    quotes = {"BTC-USD": quote("BTC-USD", bid="50", ask="50.1")}

    assert orders_blocking_exits(state, quotes, T0, CFG, TAKER) == ()


def test_exit_blockers_when_a_cancel_was_asked_in_an_earlier_cycle_then_no_longer_blocking() -> (
    None
):
    state = PortfolioState(
        open_orders={
            "c-old": in_flight("c-old", "BTC-USD"),  # cancel asked a cycle ago
            "c-now": in_flight("c-now", "ETH-USD"),  # cancel asked this cycle
            "c-new": in_flight("c-new", "SOL-USD"),  # no cancel asked
        },
        cancel_requested={"c-old": T0 - timedelta(minutes=5), "c-now": T0},
    )

    assert exit_blockers(state, T0) == {"ETH-USD", "SOL-USD"}


def test_exit_reason_when_the_regime_is_crash_then_the_tighter_stop_fires_naming_it() -> None:
    # exits.regime_stop_loss_pct crash 1.5: (98.5 / 100 - 1) * 100 = -1.5 % <= -1.5 %, which the
    # 3 % stop alone lets through
    cfg = CFG.model_copy(update={"regime_stop_loss_pct": {"crash": D("1.5")}})
    assert exit_reason(ENTRY_100, D("98.5"), T0, cfg, TAKER, "crash") == (
        "stop_loss -1.50% <= -1.5% (regime crash)"
    )
    assert exit_reason(ENTRY_100, D("98.5"), T0, cfg, TAKER, "choppy") is None
    assert exit_reason(ENTRY_100, D("98.5"), T0, cfg, TAKER) is None


def test_exit_reason_when_the_regime_stop_is_looser_than_the_stop_then_the_stop_holds() -> None:
    # a regime stop of 5 % never loosens the 3 % stop loss
    cfg = CFG.model_copy(update={"regime_stop_loss_pct": {"trending_down": D(5)}})
    assert (
        exit_reason(ENTRY_100, D(97), T0, cfg, TAKER, "trending_down") == "stop_loss -3.00% <= -3%"
    )


def test_plan_exits_when_the_regime_is_trending_down_then_the_tighter_stop_sells() -> None:
    # default exits config: trending_down stops at 2 %; bid 97.9 is -2.1 %
    cfg = config()
    positions = {"BTC-USD": position("BTC-USD")}
    snap = snapshot([product("BTC-USD")], [quote("BTC-USD", bid="97.9", ask="98")])
    (sell,) = plan_exits(positions, snap, IN_UNIVERSE, (), cfg, "trending_down").proposals
    assert sell.reason == "stop_loss -2.10% <= -2% (regime trending_down)"
    assert plan_exits(positions, snap, IN_UNIVERSE, (), cfg, "choppy").proposals == ()


def test_orders_blocking_exits_when_the_regime_tightens_the_stop_then_that_order() -> None:
    state = PortfolioState(
        positions={"BTC-USD": position("BTC-USD")}, open_orders={"c1": in_flight("c1", "BTC-USD")}
    )
    quotes = {"BTC-USD": quote("BTC-USD", bid="98", ask="98.1")}  # -2 %
    assert orders_blocking_exits(state, quotes, T0, CFG, TAKER) == ()
    ((_, reason),) = orders_blocking_exits(state, quotes, T0, ExitsConfig(), TAKER, "crash")
    assert reason == "stop_loss -2.00% <= -1.5% (regime crash)"


def reference_orders_blocking_exits(state, quotes, now, cfg, fee, regime=None):
    """orders_blocking_exits as it was before it read only the positions with an order in
    flight (06768cb): every position's exit rule, then the orders on those that fire."""
    if state.trading_state is TradingState.HALTED:
        return ()
    firing = {}
    for pid, pos in mark_watermarks(state.positions, quotes).items():
        q = quotes.get(pid)
        reason = exit_reason(pos, q.bid, now, cfg, fee, regime) if q and pos.size > 0 else None
        if reason:
            firing[pid] = reason
    return tuple(
        (order, firing[order.product_id])
        for _, order in sorted(state.open_orders.items())
        if order.product_id in firing
    )


PIDS = ["BTC-USD", "ETH-USD", "SOL-USD"]


@settings(max_examples=120, deadline=None)
@given(
    held=st.dictionaries(
        st.sampled_from(PIDS),
        st.tuples(st.sampled_from(["0", "1"]), st.sampled_from(["100", "104"])),
        max_size=3,
    ),
    orders=st.lists(st.sampled_from(PIDS), max_size=4),
    bids=st.dictionaries(st.sampled_from(PIDS), st.sampled_from(["90", "99", "101.9", "107"])),
    hours=st.sampled_from([0, 47, 48]),
    state_of=st.sampled_from(list(TradingState)),
)
def test_orders_blocking_exits_when_any_book_then_what_reading_every_position_gives(
    held, orders, bids, hours, state_of
) -> None:
    state = PortfolioState(
        trading_state=state_of,
        positions={
            pid: position(pid, size=size, entry=100, high_watermark=high)
            for pid, (size, high) in held.items()
        },
        open_orders={f"c{i}": in_flight(f"c{i}", pid) for i, pid in enumerate(orders)},
    )
    quotes = {pid: quote(pid, bid=bid, ask=str(D(bid) + 1)) for pid, bid in bids.items()}
    now = T0 + timedelta(hours=hours)

    assert orders_blocking_exits(state, quotes, now, CFG, TAKER) == (
        reference_orders_blocking_exits(state, quotes, now, CFG, TAKER)
    )


def test_exit_reason_when_the_config_holds_longer_then_its_own_limit() -> None:
    now = T0 + timedelta(hours=48)
    longer = CFG.model_copy(update={"max_holding_hours": D(49)})
    assert exit_reason(ENTRY_100, D(100), now, CFG, TAKER).startswith("max_holding")
    assert exit_reason(ENTRY_100, D(100), now, longer, TAKER) is None
    assert exit_reason(ENTRY_100, D(100), now + timedelta(hours=1), longer, TAKER) == (
        "max_holding 2 days, 1:00:00 >= 49h"
    )
