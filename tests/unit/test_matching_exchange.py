"""MatchingExchange over a hand-written fake market; every expected number is worked out by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader.adapters.clock import SteppingClock
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.codec import to_jsonable
from trader.domain.errors import OrderRejected
from trader.domain.models import (
    AccountFills,
    Balance,
    Candle,
    FeeRates,
    Intent,
    OrderStatus,
    OrderType,
    PlannedOrder,
    Product,
    Quote,
    Side,
)

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BAR = timedelta(seconds=300)


class FakeMarket:
    """Products, quotes and candles set by the test; only closed candles are served."""

    granularity_s = 300

    def __init__(self, clock: SteppingClock) -> None:
        self.clock = clock
        self.products: dict[str, Product] = {
            "BTC-USD": Product(
                "BTC-USD",
                "BTC",
                "USD",
                D("0.00000001"),
                D("0.01"),
                D("0.0001"),
                D(10_000),
                D(1),
                D(10_000_000),
            )
        }
        self.quotes: dict[str, tuple[Decimal, Decimal]] = {
            "BTC-USD": (D("49990.00"), D("50000.00"))
        }
        self.candles: dict[str, list[Candle]] = {"BTC-USD": []}

    def list_products(self) -> Sequence[Product]:
        return list(self.products.values())

    def get_quotes(self, product_ids: Sequence[str]) -> Mapping[str, Quote]:
        now = self.clock.now()
        return {p: Quote(p, *self.quotes[p], now) for p in product_ids if p in self.quotes}

    def get_candles(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        assert granularity_s == 300
        now = self.clock.now()
        return [
            c
            for c in self.candles.get(product_id, [])
            if start <= c.start < end and c.start + BAR <= now
        ]

    def flag(self, **flags: object) -> None:
        self.products["BTC-USD"] = dataclasses.replace(self.products["BTC-USD"], **flags)


def bar(start: datetime, low: str, high: str) -> Candle:
    return Candle(start, D(low), D(high), D(low), D(high), D(1))


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(T0 + timedelta(seconds=30), 300)


@pytest.fixture
def market(clock: SteppingClock) -> FakeMarket:
    return FakeMarket(clock)


@pytest.fixture
def exchange(market: FakeMarket, clock: SteppingClock) -> MatchingExchange:
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    return MatchingExchange(market, clock, fees, D(10), {"USD": D(10_000)})


def market_buy(quote: str, coid: str = "c-buy") -> PlannedOrder:
    return PlannedOrder(coid, "BTC-USD", Side.BUY, OrderType.MARKET, Intent.ENTRY, None, D(quote))


def market_sell(base: str, coid: str = "c-sell") -> PlannedOrder:
    return PlannedOrder(coid, "BTC-USD", Side.SELL, OrderType.MARKET, Intent.EXIT, D(base), None)


def limit(
    side: Side, base: str, price: str, coid: str = "c-lim", post_only: bool = False
) -> PlannedOrder:
    intent = Intent.ENTRY if side == Side.BUY else Intent.EXIT
    return PlannedOrder(
        coid, "BTC-USD", side, OrderType.LIMIT, intent, D(base), None, D(price), post_only
    )


def test_place_market_buy_when_funded_then_fills_at_slipped_ask_with_the_fee_inside_quote_size(
    exchange: MatchingExchange,
) -> None:
    order = exchange.place_order(market_buy("1000.00"))
    # price = 50000.00 * (1 + 10/10000) = 50050.00
    # value bought v = 1000 / 1.006 = 994.03578528827037...  (v + 0.006 v = 1000)
    # base = v / 50050 = 0.01986085485091449306... -> 16 decimals: 0.0198608548509144
    # notional = 0.0198608548509144 * 50050 = 993.04274254572 + 0.99304274254572
    #          = 994.03578528826572; fee = 1000 - 994.03578528826572 = 5.96421471173428
    # (6 / 1.006 = 5.96421471172962...; the 16-decimal floor adds 4.7e-12)
    assert order.status == OrderStatus.FILLED
    assert order.filled_size == D("0.0198608548509144")
    assert order.average_filled_price == D("50050.00")
    assert order.total_fees == D("5.96421471173428")
    assert order.fills[0].liquidity == "TAKER"
    assert order.intent == Intent.ENTRY
    balances = exchange.get_balances()
    assert balances["USD"].available == D("9000.00")  # 10000 - 1000: exactly quote_size
    assert balances["BTC"].available == D("0.0198608548509144")


def test_place_market_sell_when_holding_then_fills_at_slipped_bid_minus_fee(
    market: FakeMarket, clock: SteppingClock
) -> None:
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    exchange = MatchingExchange(market, clock, fees, D(10), {"USD": D(0), "BTC": D("0.5")})
    order = exchange.place_order(market_sell("0.01"))
    # price = 49990.00 * (1 - 0.001) = 49940.01; notional = 499.4001; fee = 2.9964006
    assert order.average_filled_price == D("49940.01")
    assert order.total_fees == D("2.9964006")
    totals = exchange.balance_totals()
    assert totals["USD"] == D("496.4036994")  # 499.4001 - 2.9964006
    assert totals["BTC"] == D("0.49")


def test_place_market_buy_when_slipped_ask_is_off_grid_then_price_rounds_up(
    market: FakeMarket, exchange: MatchingExchange
) -> None:
    market.quotes["BTC-USD"] = (D("100.00"), D("100.01"))
    order = exchange.place_order(market_buy("10.00"))
    # 100.01 * 1.001 = 100.11001 -> up to the cent: 100.12
    # base = 10 / 1.006 / 100.12 = 9.94035785288270... / 100.12 = 0.09928443720418201935...
    #      -> 16 decimals: 0.0992844372041820
    assert order.average_filled_price == D("100.12")
    assert order.filled_size == D("0.0992844372041820")


def test_place_order_when_client_order_id_repeats_then_same_order_and_balances_move_once(
    exchange: MatchingExchange,
) -> None:
    first = exchange.place_order(market_buy("1000.00", coid="same"))
    again = exchange.place_order(market_buy("2000.00", coid="same"))
    assert again == first
    assert exchange.balance_totals()["BTC"] == D("0.0198608548509144")  # the 1000.00 buy above
    assert len(exchange.orders()) == 1


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"trading_disabled": True}, "UNTRADABLE_PRODUCT"),
        ({"disabled": True}, "UNTRADABLE_PRODUCT"),
        ({"status": "offline"}, "UNTRADABLE_PRODUCT"),
        ({"cancel_only": True}, "ORDER_ENTRY_DISABLED"),
        ({"limit_only": True}, "UNSUPPORTED_ORDER_CONFIGURATION"),
        ({"post_only": True}, "UNSUPPORTED_ORDER_CONFIGURATION"),
    ],
)
def test_place_market_order_when_product_flagged_then_rejected_with_reason(
    market: FakeMarket, exchange: MatchingExchange, flags: dict[str, object], reason: str
) -> None:
    market.flag(**flags)
    with pytest.raises(OrderRejected) as info:
        exchange.place_order(market_buy("100.00"))
    assert info.value.reason == reason
    assert exchange.get_order("c-buy") is None
    assert exchange.balance_totals() == {"USD": D(10_000)}


@pytest.mark.parametrize(
    ("planned", "reason"),
    [
        (
            PlannedOrder("x", "NOPE-USD", Side.BUY, OrderType.MARKET, Intent.ENTRY, None, D(10)),
            "INVALID_PRODUCT_ID",
        ),
        (market_sell("0.000100001"), "INVALID_SIZE_PRECISION"),  # 9 decimals, grid is 8
        (market_buy("10.001"), "INVALID_SIZE_PRECISION"),  # quote grid is 0.01
        (limit(Side.BUY, "0.01", "49000.005"), "INVALID_PRICE_PRECISION"),
        (market_sell("0.00009"), "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),  # min 0.0001
        (market_buy("0.99"), "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),  # min 1
        (
            limit(Side.BUY, "0.0001", "9000.00"),
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
        ),  # 0.90 notional
        (market_buy("10000.01"), "INSUFFICIENT_FUND"),  # fee inside: 10000.01 > 10000
        (market_sell("0.01"), "INSUFFICIENT_FUND"),  # no BTC at all
        (
            limit(Side.BUY, "0.01", "50000.00", post_only=True),
            "INVALID_LIMIT_PRICE_POST_ONLY",
        ),  # = ask
        (limit(Side.BUY, "1", "49000.00"), "INSUFFICIENT_FUND"),  # hold 49196 > 10000
    ],
)
def test_place_order_when_invalid_then_rejected_with_coinbase_reason(
    exchange: MatchingExchange, planned: PlannedOrder, reason: str
) -> None:
    with pytest.raises(OrderRejected) as info:
        exchange.place_order(planned)
    assert info.value.reason == reason
    assert exchange.balance_totals() == {"USD": D(10_000)}
    assert exchange.orders() == {}


def test_place_post_only_limit_when_product_is_post_only_and_price_rests_then_accepted(
    market: FakeMarket, exchange: MatchingExchange
) -> None:
    market.flag(post_only=True)
    order = exchange.place_order(limit(Side.BUY, "0.01", "49000.00", post_only=True))
    assert order.status == OrderStatus.OPEN


def test_place_limit_buy_when_not_marketable_then_rests_with_hold_until_a_later_bar_trades_through(
    market: FakeMarket, exchange: MatchingExchange, clock: SteppingClock
) -> None:
    market.candles["BTC-USD"].append(bar(T0, "48000.00", "50000.00"))  # started before the order
    order = exchange.place_order(limit(Side.BUY, "0.01", "49000.00"))
    assert order.status == OrderStatus.OPEN
    # hold = 0.01 * 49000 * (1 + 0.004) = 491.96
    usd = exchange.get_balances()["USD"]
    assert (usd.available, usd.hold) == (D("9508.04"), D("491.96"))

    market.candles["BTC-USD"].append(
        bar(T0 + BAR, "49000.00", "49500.00")
    )  # touches, no trade-through
    clock.advance(2)  # now T0 + 10m30s: both later bars closed
    assert exchange.get_order("c-lim").status == OrderStatus.OPEN  # type: ignore[union-attr]
    # The first bar (T0) went below 49000 but started before the order: not a fill.

    market.candles["BTC-USD"].append(bar(T0 + 2 * BAR, "48999.99", "49500.00"))
    assert exchange.get_order("c-lim").status == OrderStatus.OPEN  # type: ignore[union-attr]  # not closed yet
    clock.advance()
    filled = exchange.get_order("c-lim")
    assert filled is not None and filled.status == OrderStatus.FILLED
    fill = filled.fills[0]
    # maker fee = 0.01 * 49000 * 0.004 = 1.96; USD = 10000 - 490 - 1.96 = 9508.04
    assert (fill.price, fill.size, fill.fee, fill.liquidity) == (
        D("49000.00"),
        D("0.01"),
        D("1.96"),
        "MAKER",
    )
    assert fill.time == T0 + 2 * BAR
    balances = exchange.get_balances()
    assert (balances["USD"].available, balances["USD"].hold) == (D("9508.04"), D(0))
    assert balances["BTC"].available == D("0.01")


def test_place_limit_sell_when_resting_then_base_held_and_cancel_releases_it(
    market: FakeMarket, clock: SteppingClock
) -> None:
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    exchange = MatchingExchange(market, clock, fees, D(10), {"USD": D(0), "BTC": D("0.03")})
    exchange.place_order(limit(Side.SELL, "0.02", "51000.00"))
    btc = exchange.get_balances()["BTC"]
    assert (btc.available, btc.hold) == (D("0.01"), D("0.02"))
    with pytest.raises(OrderRejected) as info:
        exchange.place_order(market_sell("0.02", coid="too-much"))
    assert info.value.reason == "INSUFFICIENT_FUND"

    cancelled = exchange.cancel_order("c-lim")
    assert cancelled is not None and cancelled.status == OrderStatus.CANCELLED
    btc = exchange.get_balances()["BTC"]
    assert (btc.available, btc.hold) == (D("0.03"), D(0))
    market.candles["BTC-USD"].append(bar(T0 + BAR, "50000.00", "52000.00"))
    clock.advance(2)
    assert exchange.get_order("c-lim").status == OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_resting_limit_sell_when_a_later_high_exceeds_it_then_fills_as_maker(
    market: FakeMarket, clock: SteppingClock
) -> None:
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    exchange = MatchingExchange(market, clock, fees, D(10), {"BTC": D("0.02")})
    exchange.place_order(limit(Side.SELL, "0.02", "51000.00"))
    market.candles["BTC-USD"].append(bar(T0 + BAR, "50000.00", "51000.01"))
    clock.advance(2)
    # proceeds 0.02 * 51000 = 1020; maker fee 4.08; USD 1015.92
    assert exchange.balance_totals() == {"BTC": D(0), "USD": D("1015.92")}


def test_cancel_order_when_filled_or_unknown_then_unchanged_or_none(
    exchange: MatchingExchange,
) -> None:
    filled = exchange.place_order(market_buy("100.00"))
    assert exchange.cancel_order("c-buy") == filled
    assert exchange.cancel_order("nobody") is None
    assert exchange.get_order("nobody") is None


def test_place_limit_buy_when_marketable_and_not_post_only_then_fills_at_once_as_taker(
    exchange: MatchingExchange,
) -> None:
    order = exchange.place_order(limit(Side.BUY, "0.01", "50100.00"))
    # touch with slippage = 50050.00 < limit 50100.00: pay 50050.00; fee 500.50 * 0.006 = 3.003
    assert order.status == OrderStatus.FILLED
    assert order.average_filled_price == D("50050.00")
    assert order.total_fees == D("3.003")
    assert order.fills[0].liquidity == "TAKER"


def test_account_when_rebuilt_from_persisted_totals_and_orders_then_resting_order_still_fills(
    market: FakeMarket, exchange: MatchingExchange, clock: SteppingClock
) -> None:
    exchange.place_order(limit(Side.BUY, "0.01", "49000.00"))
    totals, orders = exchange.balance_totals(), exchange.orders()
    rebuilt = MatchingExchange(market, clock, exchange.get_fee_rates(), D(10), totals, orders)
    assert rebuilt.get_balances()["USD"].hold == D("491.96")
    market.candles["BTC-USD"].append(bar(T0 + BAR, "48500.00", "49500.00"))
    clock.advance(2)
    assert rebuilt.get_order("c-lim").status == OrderStatus.FILLED  # type: ignore[union-attr]
    assert rebuilt.balance_totals() == {"USD": D("9508.04"), "BTC": D("0.01")}


def test_order_ids_when_same_client_order_id_on_two_accounts_then_identical(
    market: FakeMarket, clock: SteppingClock
) -> None:
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    one = MatchingExchange(market, clock, fees, D(10), {"USD": D(10_000)}).place_order(
        market_buy("50.00")
    )
    two = MatchingExchange(market, clock, fees, D(10), {"USD": D(10_000)}).place_order(
        market_buy("50.00")
    )
    assert one.order_id == two.order_id and one.order_id
    assert one.fills[0].fill_id == two.fills[0].fill_id


def test_place_market_buy_when_sized_in_base_then_buys_that_size_at_slipped_ask(
    exchange: MatchingExchange,
) -> None:
    planned = PlannedOrder(
        "b", "BTC-USD", Side.BUY, OrderType.MARKET, Intent.ENTRY, D("0.01"), None
    )
    order = exchange.place_order(planned)
    # 0.01 * 50050.00 = 500.50; fee 500.50 * 0.006 = 3.003; cash 10000 - 503.503 = 9496.497
    assert (order.filled_size, order.average_filled_price) == (D("0.01"), D("50050.00"))
    assert exchange.balance_totals()["USD"] == D("9496.497")


def test_place_limit_sell_when_marketable_then_fills_at_once_at_the_better_of_limit_and_touch(
    market: FakeMarket, clock: SteppingClock
) -> None:
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    exchange = MatchingExchange(market, clock, fees, D(10), {"BTC": D("0.01")})
    order = exchange.place_order(limit(Side.SELL, "0.01", "49900.00"))
    # slipped bid 49990.00 * 0.999 = 49940.01 beats the 49900.00 limit
    # proceeds 499.4001 - fee 2.9964006 = 496.4036994
    assert order.average_filled_price == D("49940.01")
    assert exchange.balance_totals() == {"BTC": D(0), "USD": D("496.4036994")}


def test_deposit_when_money_moves_in_and_out_then_totals_follow_and_no_fill_is_reported(
    exchange: MatchingExchange, clock: SteppingClock
) -> None:
    cursor = exchange.get_fills_since(None).cursor
    exchange.deposit("USD", D("250.50"))
    exchange.deposit("BTC", D("0.003"))
    exchange.deposit("USD", D("-0.50"))

    assert exchange.balance_totals() == {"USD": D("10250.00"), "BTC": D("0.003")}
    assert exchange.get_fills_since(cursor).fills == ()  # a transfer is not a trade


def test_deposit_when_withdrawing_more_than_available_then_refused_and_the_hold_kept(
    market: FakeMarket, clock: SteppingClock
) -> None:
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    exchange = MatchingExchange(market, clock, fees, D(10), {"USD": D(0), "BTC": D("0.03")})
    exchange.place_order(limit(Side.SELL, "0.02", "51000.00"))  # 0.02 BTC on hold

    with pytest.raises(ValueError, match=r"0\.01 available"):
        exchange.deposit("BTC", D("-0.011"))
    exchange.deposit("BTC", D("-0.01"))

    btc = exchange.get_balances()["BTC"]
    assert (btc.available, btc.hold) == (D(0), D("0.02"))


def test_get_fills_since_when_cursors_alternate_then_each_reads_from_its_own_time(
    exchange: MatchingExchange, clock: SteppingClock
) -> None:
    """The cursor's time is remembered per cursor text: going back to an older cursor reads
    from that cursor's time again, not the last one read."""
    first = exchange.get_fills_since(None).cursor
    exchange.place_order(market_buy("100.00", "c-1"))
    clock.advance()
    second = exchange.get_fills_since(first).cursor
    exchange.place_order(market_buy("100.00", "c-2"))

    assert [f.client_order_id for f in exchange.get_fills_since(first).fills] == ["c-1", "c-2"]
    assert [f.client_order_id for f in exchange.get_fills_since(second).fills] == ["c-1", "c-2"]
    clock.advance()
    third = to_jsonable(clock.now())
    assert exchange.get_fills_since(third).fills == ()
    assert len(exchange.get_fills_since(first).fills) == 2
    with pytest.raises(ValueError):
        exchange.get_fills_since("not a time")


# Amounts of any exponent (1E+3 - 0 is 1000: the subtraction sets the digits the audit prints)
AMOUNTS = st.one_of(
    st.builds(D, st.decimals(D("-1000"), D("100000"), places=8)),
    st.sampled_from([D("1E+3"), D("0"), D("0E-8"), D("-0"), D("12.50")]),
)


def as_text(balances: Mapping[str, Balance]) -> list[tuple[str, str, str, str]]:
    return [(k, b.currency, str(b.available), str(b.hold)) for k, b in balances.items()]


@settings(max_examples=100, deadline=None)
@given(totals=st.dictionaries(st.sampled_from(["USD", "USDC", "BTC", "ETH", "A"]), AMOUNTS))
def test_get_balances_when_no_orders_then_what_settling_and_holds_give(totals: dict) -> None:
    """With no orders there is nothing to settle or hold: the short way must give the
    balances the general one does, to the digit and in the same order."""
    clock = SteppingClock(T0, 300)
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    exchange = MatchingExchange(FakeMarket(clock), clock, fees, D(10), totals)
    assert as_text(exchange.get_balances()) == as_text(exchange._balances_with_holds())


def test_get_fills_since_when_no_orders_then_what_an_order_without_fills_gives(
    market: FakeMarket, clock: SteppingClock
) -> None:
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    empty = MatchingExchange(market, clock, fees, D(10), {"USD": D(10_000)})
    resting = MatchingExchange(market, clock, fees, D(10), {"USD": D(10_000)})
    resting.place_order(limit(Side.BUY, "0.01", "40000.00"))  # rests: no fill
    cursor = "2026-03-01T12:00:00+00:00"  # handed back as given, not respelled
    assert empty.get_fills_since(cursor) == resting.get_fills_since(cursor)
    assert empty.get_fills_since(cursor) == AccountFills((), cursor)
