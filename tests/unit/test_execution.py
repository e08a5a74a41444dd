"""The execution plan: order type, limit prices on the safe side, sizes on the grid, and the
filters (tradability, liquidity, slippage, min size, min notional) that drop proposals."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipeline_builders import entry, exit_, product, quote

from trader.domain.config import ExecutionConfig
from trader.domain.ids import client_order_id
from trader.domain.models import Intent, OrderType, PlannedOrder, Product, Proposal, Quote, Side
from trader.pipeline.execution import (
    Dropped,
    OrderIds,
    expected_slippage_bps,
    plan_one,
    plan_orders,
    round_down,
    round_up,
)

D = Decimal
IDS = OrderIds("default", "20261124T1200Z")
MARKET = ExecutionConfig(
    order_type="market",
    post_only=False,
    limit_offset_bps=D(5),
    max_slippage_bps=D(30),
    impact_coefficient=D(100),
    max_order_pct_of_volume=D(1),
)
LIMIT = MARKET.model_copy(update={"order_type": "limit"})
POST = LIMIT.model_copy(update={"post_only": True, "limit_offset_bps": D(0)})
MIN_NOTIONAL = D(10)
# default product: base 0.001, quote 0.01, min base 0.01, min quote 1, $10M a day
# default quote: bid 99.99, ask 100.01 -> mid 100, spread 2 bps


def plan(
    proposal: Proposal,
    cfg: ExecutionConfig = MARKET,
    prod: Product | None = None,
    q: Quote | None = None,
) -> PlannedOrder | str:
    prod = prod if prod is not None else product()
    return plan_one(proposal, prod, q or quote(), MIN_NOTIONAL, cfg, IDS)


def planned(result: PlannedOrder | str) -> PlannedOrder:
    assert isinstance(result, PlannedOrder), result
    return result


@pytest.mark.parametrize(
    ("value", "increment", "down", "up"),
    [
        ("1.2349", "0.001", "1.234", "1.235"),
        ("1.23", "0.01", "1.23", "1.23"),  # already on the grid: unchanged both ways
        ("1.27", "0.05", "1.25", "1.30"),
        ("0.0000000149", "0.00000001", "0.00000001", "0.00000002"),
        ("7", "5", "5", "10"),
    ],
)
def test_round_when_value_between_grid_points_then_down_and_up_to_neighbours(
    value: str, increment: str, down: str, up: str
) -> None:
    assert round_down(D(value), D(increment)) == D(down)
    assert round_up(D(value), D(increment)) == D(up)


def test_expected_slippage_when_order_is_share_of_volume_then_half_spread_plus_impact() -> None:
    # spread (100.1 - 99.9) / 100 * 10,000 = 20 bps -> half 10; 20,000 / 10M = 0.2 % -> 100 x 0.2
    slip = expected_slippage_bps(D(20_000), quote(bid="99.9", ask="100.1"), product(), MARKET)
    assert slip == D(30)


def test_expected_slippage_when_no_volume_then_infinite() -> None:
    slip = expected_slippage_bps(D(1), quote(), product(volume_24h_quote=D(0)), MARKET)
    assert slip == D("Infinity")


# --- market orders ----------------------------------------------------------------------


def test_plan_one_when_market_buy_then_quote_size_rounded_down_to_quote_increment() -> None:
    # 100.019 -> 100.01 (down, never up). Slippage on the asked 100.019:
    # half spread 1 + 100 x (100.019 / 10M x 100 = 0.00100019 %) = 1 + 0.100019 = 1.100019 bps
    order = planned(plan(entry(quote_size="100.019", reason="momentum")))
    assert order == PlannedOrder(
        client_order_id=client_order_id("default", "20261124T1200Z", "BTC-USD", Side.BUY, 0),
        product_id="BTC-USD",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        intent=Intent.ENTRY,
        base_size=None,
        quote_size=D("100.01"),
        limit_price=None,
        post_only=False,
        expected_price=D("100.01"),
        expected_slippage_bps=D("1.100019"),
        reason="momentum",
    )


def test_plan_one_when_market_sell_then_base_size_rounded_down_to_base_increment() -> None:
    # 1.23456789 -> 1.234 on a 0.001 grid; priced at the bid 99.99
    order = planned(plan(exit_(base_size="1.23456789")))
    assert (order.side, order.order_type, order.intent) == (
        Side.SELL,
        OrderType.MARKET,
        Intent.EXIT,
    )
    assert order.base_size == D("1.234")
    assert order.quote_size is None
    assert order.expected_price == D("99.99")


def test_plan_one_when_exit_is_off_the_base_grid_then_what_is_left_is_dust() -> None:
    # 1.23456789 sells 1.234 on the 0.001 grid; 0.00056789 < 0.001 cannot be sold: dust
    order = planned(plan(exit_(base_size="1.23456789")))
    assert order.dust == D("0.00056789")


def test_plan_one_when_exit_is_on_the_grid_or_capped_then_no_dust() -> None:
    assert planned(plan(exit_(base_size="1.234"))).dust == 0
    # capped at base_max_size 15: the 5 left is a position, not dust
    assert planned(plan(exit_(base_size="20"), prod=product(base_max_size=D(15)))).dust == 0
    assert planned(plan(entry(quote_size="100"))).dust == 0


def test_plan_one_when_market_buy_rounds_to_zero_then_below_min_size() -> None:
    # 0.009 -> 0.00 on a 0.01 grid
    assert plan(entry(quote_size="0.009")) == "below_min_size: quote size rounds to 0"


def test_plan_one_when_sell_below_base_min_size_then_below_min_size() -> None:
    # 0.0099 -> 0.009 < 0.01
    assert plan(exit_(base_size="0.0099")) == "below_min_size: 0.009 < 0.01"


def test_plan_one_when_sell_exactly_base_min_size_then_planned() -> None:
    # 0.01 x 99.99 = 0.9999 < quote_min 1 -> use a product whose quote minimum is lower
    order = planned(plan(exit_(base_size="0.01"), prod=product(quote_min_size=D("0.5"))))
    assert order.base_size == D("0.01")


def test_plan_one_when_sell_above_base_max_size_then_capped() -> None:
    order = planned(plan(exit_(base_size="20"), prod=product(base_max_size=D(15))))
    assert order.base_size == D(15)


def test_plan_one_when_entry_below_min_notional_then_dropped_with_numbers() -> None:
    assert plan(entry(quote_size="9.99")) == "below_min_notional: 9.99 < 10"


def test_plan_one_when_exit_below_min_notional_but_above_quote_min_then_planned() -> None:
    # 0.05 x 99.99 = 4.9995: under the entries' 10 but over the product's quote_min_size 1
    assert planned(plan(exit_(base_size="0.05"))).base_size == D("0.05")


def test_plan_one_when_exit_below_quote_min_size_then_dropped() -> None:
    # 0.01 x 50 = 0.50 < 1
    result = plan(exit_(base_size="0.01"), q=quote(bid="50", ask="50.01"))
    assert result == "below_min_notional: 0.50 < 1"


# --- limit orders -----------------------------------------------------------------------


def test_plan_one_when_limit_buy_then_price_rounded_down_and_size_fits_the_quote() -> None:
    # 100.03 x (1 - 0.0005) = 99.979985 -> 99.97 (down); 1,000 / 99.97 = 10.0030009.. -> 10.003
    # 10.003 x 99.97 = 999.99991 <= 1,000
    order = planned(plan(entry(quote_size=1000), LIMIT, q=quote(bid="100.02", ask="100.03")))
    assert order.order_type is OrderType.LIMIT
    assert order.limit_price == D("99.97")
    assert order.expected_price == D("99.97")
    assert order.base_size == D("10.003")
    assert order.quote_size is None
    assert order.post_only is False


def test_plan_one_when_limit_exit_then_priced_to_sell_now_and_rounded_up() -> None:
    # An exit must not rest above a falling market: bid less the 30 bps slippage allowance,
    # 99.97 x (1 - 0.003) = 99.67009 -> 99.68 (rounded up: never below the allowance).
    order = planned(plan(exit_(base_size=1), LIMIT, q=quote(bid="99.97", ask="99.98")))
    assert order.limit_price == D("99.68")
    assert order.limit_price < D("99.97")  # marketable: it crosses the bid
    assert order.base_size == D(1)


def test_plan_one_when_post_only_exit_then_it_rests_one_tick_above_the_bid() -> None:
    # Post-only cannot cross: offset 0 -> 99.97, lifted to bid + tick = 99.98 (it will rest,
    # and the cycle cancels and re-plans it after cancel_resting_after_seconds).
    order = planned(plan(exit_(base_size=1), POST, q=quote(bid="99.97", ask="99.99")))
    assert order.limit_price == D("99.98")
    assert order.post_only


def test_plan_one_when_price_increment_set_then_limit_on_that_grid() -> None:
    # 99.979985 on a 0.05 grid -> 99.95
    prod = product(price_increment=D("0.05"))
    order = planned(plan(entry(quote_size=1000), LIMIT, prod, quote(bid="100", ask="100.03")))
    assert order.limit_price == D("99.95")


def test_plan_one_when_post_only_buy_at_ask_then_one_tick_below_ask() -> None:
    # offset 0: 100.01 would take liquidity; post-only moves it to 100.01 - 0.01 = 100.00 < ask
    order = planned(plan(entry(quote_size=1000), POST, q=quote(bid="99.99", ask="100.01")))
    assert order.post_only is True
    assert order.limit_price == D("100.00")


def test_plan_one_when_post_only_sell_at_bid_then_one_tick_above_bid() -> None:
    # offset 0: 99.99 would take liquidity; post-only moves it to 99.99 + 0.01 = 100.00 > bid
    order = planned(plan(exit_(base_size=1), POST, q=quote(bid="99.99", ask="100.01")))
    assert order.limit_price == D("100.00")


def test_plan_one_when_not_post_only_and_no_offset_then_limit_may_sit_at_the_touch() -> None:
    cfg = LIMIT.model_copy(update={"limit_offset_bps": D(0)})
    order = planned(plan(entry(quote_size=1000), cfg, q=quote(bid="99.99", ask="100.01")))
    assert order.limit_price == D("100.01")


def test_plan_one_when_product_is_post_only_then_post_only_limit_even_in_market_mode() -> None:
    order = planned(plan(entry(quote_size=1000), MARKET, product(post_only=True)))
    assert (order.order_type, order.post_only) == (OrderType.LIMIT, True)
    assert order.limit_price < D("100.01")  # never at or above the ask


def test_plan_one_when_product_is_limit_only_then_limit_without_post_only() -> None:
    order = planned(plan(entry(quote_size=1000), MARKET, product(limit_only=True)))
    assert (order.order_type, order.post_only) == (OrderType.LIMIT, False)


def test_plan_one_when_post_only_buy_and_ask_is_one_tick_then_dropped_not_priced_at_zero() -> None:
    # min(100 x 0.01 -> 0.01, 0.01 - 0.01 = 0.00): a buy at 0 is no order at all
    result = plan(entry(quote_size=100), POST, q=quote(bid="0.01", ask="0.01"))
    assert result == "no_valid_limit_price: 0.00 (touch 0.01, tick 0.01)"


def test_plan_one_when_limit_buy_smaller_than_base_min_then_below_min_size() -> None:
    # 0.5 / 99.95 = 0.00500.. -> 0.005 < 0.01
    assert plan(entry(quote_size="0.5"), LIMIT) == "below_min_size: 0.005 < 0.01"


# --- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prod",
    [None, product(trading_disabled=True), product(cancel_only=True), product(status="offline")],
)
def test_plan_one_when_product_missing_or_not_tradable_then_dropped(prod: Product | None) -> None:
    assert plan_one(entry(), prod, quote(), MIN_NOTIONAL, MARKET, IDS) == "product_not_tradable"


def test_plan_one_when_no_quote_then_dropped() -> None:
    assert plan_one(entry(), product(), None, MIN_NOTIONAL, MARKET, IDS) == "no_quote"


def test_plan_one_when_order_above_share_of_volume_then_liquidity() -> None:
    # 1 % of 10M = 100,000; 100,000.01 is over
    assert plan(entry(quote_size="100000.01")) == "liquidity: 100000.01 > 1% of 24h volume"


def test_plan_one_when_entry_slippage_exactly_at_limit_then_planned() -> None:
    # half spread 10 + 100 x (20,000 / 10M x 100 = 0.2) = 30 bps = the limit
    q = quote(bid="99.9", ask="100.1")
    assert planned(plan(entry(quote_size=20_000), q=q)).expected_slippage_bps == D(30)


def test_plan_one_when_entry_slippage_over_limit_then_dropped_with_numbers() -> None:
    # half spread 10 + 100 x 0.25 = 35 bps > 30
    q = quote(bid="99.9", ask="100.1")
    assert plan(entry(quote_size=25_000), q=q) == "slippage: expected 35.00bps > 30bps"


def test_plan_one_when_exit_slippage_over_limit_then_still_planned() -> None:
    # 250 x 99.9 = 24,975 -> 10 + 100 x 0.24975 = 34.975 bps: exits are not trapped by slippage
    q = quote(bid="99.9", ask="100.1")
    order = planned(plan(exit_(base_size=250), q=q))
    assert order.expected_slippage_bps == D("34.975")


def test_plan_orders_when_mixed_then_orders_and_dropped_in_proposal_order() -> None:
    products = {"BTC-USD": product("BTC-USD"), "ETH-USD": product("ETH-USD")}
    quotes = {"BTC-USD": quote("BTC-USD"), "ETH-USD": quote("ETH-USD")}
    proposals = [entry("ETH-USD", 50), entry("SOL-USD", 50), entry("BTC-USD", 5)]
    result = plan_orders(proposals, products, quotes, MIN_NOTIONAL, MARKET, IDS)
    assert [o.product_id for o in result.orders] == ["ETH-USD"]
    assert result.dropped == (
        Dropped(proposals[1], "product_not_tradable"),
        Dropped(proposals[2], "below_min_notional: 5.00 < 10"),
    )


def test_plan_orders_when_nothing_approved_then_empty_plan() -> None:
    result = plan_orders([], {}, {}, MIN_NOTIONAL, MARKET, IDS)
    assert (result.orders, result.dropped) == ((), ())


# --- invariants -------------------------------------------------------------------------

increments = st.sampled_from([D("1"), D("0.1"), D("0.001"), D("0.00000001")])
ticks = st.sampled_from([D("0.01"), D("0.05"), D("0.0001"), D("0.5")])


@st.composite
def market(draw: st.DrawFn) -> tuple[Product, Quote]:
    tick = draw(ticks)
    bid_ticks = draw(st.integers(min_value=1, max_value=2_000_000))
    spread_ticks = draw(st.integers(min_value=0, max_value=50))
    bid = bid_ticks * tick
    prod = product(
        base_increment=draw(increments),
        quote_increment=D("0.01"),
        price_increment=tick,
        base_min_size=D(0),
        quote_min_size=D(0),
        volume_24h_quote=D(10) ** 12,
    )
    return prod, quote(bid=bid, ask=bid + spread_ticks * tick)


@given(
    market(),
    st.decimals(min_value=D("0.01"), max_value=D(1_000_000), places=2),
    st.sampled_from([MARKET, LIMIT, POST, LIMIT.model_copy(update={"post_only": True})]),
)
def test_plan_one_when_buying_then_sizes_on_grid_and_never_above_what_was_asked(
    mkt: tuple[Product, Quote], spend: Decimal, cfg: ExecutionConfig
) -> None:
    prod, q = mkt
    result = plan_one(
        entry(quote_size=spend),
        prod,
        q,
        D(0),
        cfg.model_copy(update={"max_slippage_bps": D(10_000)}),
        IDS,
    )
    if isinstance(result, str):
        assert result.startswith(("below_min_size", "no_valid_limit_price"))
        return
    if result.order_type is OrderType.MARKET:
        assert result.quote_size % prod.quote_increment == 0
        assert result.quote_size <= spend
    else:
        assert result.base_size % prod.base_increment == 0
        assert result.base_size * result.limit_price <= spend
        assert result.limit_price % prod.tick == 0
        assert D(0) < result.limit_price <= q.ask
        if result.post_only:
            assert result.limit_price < q.ask


@given(
    market(),
    st.decimals(min_value=D("0.00000001"), max_value=D(1_000), places=8),
    st.sampled_from([MARKET, LIMIT, POST, LIMIT.model_copy(update={"post_only": True})]),
)
def test_plan_one_when_selling_then_size_on_grid_and_price_on_the_safe_side(
    mkt: tuple[Product, Quote], size: Decimal, cfg: ExecutionConfig
) -> None:
    prod, q = mkt
    result = plan_one(exit_(base_size=size), prod, q, D(0), cfg, IDS)
    if isinstance(result, str):
        assert result.startswith(("below_min_size", "no_valid_limit_price"))
        return
    assert result.base_size % prod.base_increment == 0
    assert D(0) < result.base_size <= size
    if result.order_type is OrderType.LIMIT:
        assert result.limit_price % prod.tick == 0
        if result.post_only:
            assert result.limit_price > q.bid  # never crosses
        else:  # marketable: at most the bid, and within one tick of the slippage allowance
            assert result.limit_price <= q.bid
            floor = q.bid * (1 - cfg.max_slippage_bps / 10_000)
            assert result.limit_price >= floor or result.limit_price + prod.tick > q.bid


def test_plan_one_when_an_exit_is_larger_than_the_volume_share_then_still_planned() -> None:
    # 2,000 x 99.99 = 199,980 > 1 % of 10M (100,000): an entry that size is dropped, but a
    # position must always be sellable, so the exit is planned in full.
    order = planned(plan(exit_(base_size=2000)))
    assert order.base_size == D(2000)
    assert order.intent is Intent.EXIT


def test_plan_one_when_a_market_buy_exceeds_quote_max_size_then_capped_at_it() -> None:
    # quote_max_size 500: a 600 buy is sent as 500.00, the most the product accepts.
    order = planned(plan(entry(quote_size=600), prod=product(quote_max_size=D(500))))
    assert order.quote_size == D("500.00")


POST_ONLY_ENTRIES = MARKET.model_copy(update={"post_only_entries": True})


def test_plan_one_when_post_only_entries_then_entry_rests_post_only_and_exit_goes_at_market() -> (
    None
):
    # entry: ask 100.01 x (1 - 5 bps) = 99.959995 -> 99.95 (down) < ask; exit: market, as
    # order_type says
    buy = planned(plan(entry(quote_size=1000), POST_ONLY_ENTRIES))
    assert (buy.order_type, buy.post_only, buy.limit_price) == (OrderType.LIMIT, True, D("99.95"))
    sell = planned(plan(exit_(base_size=1), POST_ONLY_ENTRIES))
    assert (sell.order_type, sell.post_only) == (OrderType.MARKET, False)


def test_plan_one_when_entry_at_market_then_market_though_post_only_entries() -> None:
    at_market = dataclasses.replace(entry(quote_size=1000), at_market=True)
    order = planned(plan(at_market, POST_ONLY_ENTRIES))
    assert (order.order_type, order.post_only, order.quote_size) == (
        OrderType.MARKET,
        False,
        D(1000),
    )


def test_plan_one_when_entry_at_market_on_a_post_only_product_then_still_post_only() -> None:
    at_market = dataclasses.replace(entry(quote_size=1000), at_market=True)
    order = planned(plan(at_market, MARKET, product(post_only=True)))
    assert (order.order_type, order.post_only) == (OrderType.LIMIT, True)
