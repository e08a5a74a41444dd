"""The booked positions follow the exchange's balances (pipeline/reconciliation.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_builders import T0, fill, position, product, quote

from trader.domain.models import (
    AccountFills,
    Balance,
    Intent,
    Order,
    OrderStatus,
    OrderType,
    PlannedOrder,
    Side,
)
from trader.domain.state import SEEN_FILL_IDS_KEPT, PortfolioState
from trader.pipeline.reconciliation import (
    DEFAULT_TOLERANCE,
    Book,
    _finest_increments,
    _tolerance,
    base_of,
    booked_size,
    reconcile_balances,
    set_apart_before_buying,
)

D = Decimal
CASH = frozenset({"USD"})
PRODUCTS = {p.product_id: p for p in (product("BTC-USD"), product("ETH-USD"))}
QUOTES = {"BTC-USD": quote("BTC-USD", "120", "121"), "ETH-USD": quote("ETH-USD", "50", "51")}


def book(balances: dict[str, str], fills: AccountFills | None = None) -> Book:
    held = {c: Balance(c, D(v)) for c, v in balances.items()}
    return Book(held, PRODUCTS, QUOTES, fills, CASH, T0)


def test_reconcile_when_exchange_matches_within_one_increment_then_no_drift() -> None:
    state = PortfolioState(positions={"BTC-USD": position(size="2")})
    # BTC's base increment is 0.001: 1.9995 is within one increment of 2.
    result = reconcile_balances(state, book({"USD": "5", "BTC": "1.9995"}), False)
    assert result.checked == ("BTC",)
    assert result.drift == ()
    assert result.state.positions == state.positions


def test_reconcile_when_a_manual_sale_shows_in_the_fills_then_external_trade_and_resized() -> None:
    state = PortfolioState(positions={"BTC-USD": position(size="2", entry="100")})
    manual = fill("m1", Side.SELL, "120", "0.5")  # an order the bot never placed
    fills = AccountFills((manual,), "2026-11-24T12:00:00Z")
    result = reconcile_balances(state, book({"BTC": "1.5"}, fills), False)
    (drift,) = result.drift
    assert (drift.currency, drift.booked, drift.exchange, drift.cause) == (
        "BTC",
        D(2),
        D("1.5"),
        "external_trade",
    )
    pos = result.state.positions["BTC-USD"]
    assert (pos.size, pos.avg_entry_price) == (D("1.5"), D(100))  # average entry kept
    # 0.5 BTC left at the bid 120 against an entry of 100: +10 marked external.
    assert result.state.external_pnl_total == D(10)
    assert result.state.realized_pnl_total == 0
    assert [(c.product_id, c.size, c.pnl) for c in result.external] == [
        ("BTC-USD", D("-0.5"), D(10))
    ]


def test_reconcile_when_exchange_holds_none_and_nothing_explains_then_closed_as_unknown() -> None:
    state = PortfolioState(positions={"BTC-USD": position(size="1", entry="150")})
    result = reconcile_balances(state, book({"USD": "100"}), False)
    assert [d.cause for d in result.drift] == ["unknown"]
    assert result.state.positions == {}
    assert result.state.external_pnl_total == D(-30)  # 1 BTC at bid 120 against 150
    assert result.state.held_currencies == ("BTC",)  # still checked in later cycles


def test_reconcile_when_an_order_is_in_flight_then_fill_not_booked_and_state_kept() -> None:
    buying = Order(
        "coid-1", "BTC-USD", Side.BUY, OrderType.MARKET, OrderStatus.OPEN, T0, order_id="o-1"
    )
    state = PortfolioState(
        positions={"BTC-USD": position(size="1")}, open_orders={"coid-1": buying}
    )
    result = reconcile_balances(state, book({"BTC": "1.7"}), False)
    assert [(d.cause, d.exchange) for d in result.drift] == [("fill_not_booked", D("1.7"))]
    assert result.state.positions == state.positions  # the order lifecycle books the fills


def test_reconcile_when_a_coin_once_held_is_deposited_then_unbooked_and_reported_once() -> None:
    state = PortfolioState(held_currencies=("ETH",))
    first = reconcile_balances(state, book({"ETH": "3"}), False)
    assert [(d.currency, d.booked, d.exchange, d.cause) for d in first.drift] == [
        ("ETH", D(0), D(3), "unknown")
    ]
    assert first.state.positions == {}
    assert first.state.unbooked == {"ETH": D(3)}
    second = reconcile_balances(first.state, book({"ETH": "3"}), False)
    assert second.drift == ()


def test_reconcile_when_adopting_external_holdings_then_a_position_at_the_bid() -> None:
    result = reconcile_balances(PortfolioState(), book({"USD": "10", "ETH": "3"}), True)
    assert result.adopted == ("ETH",)
    pos = result.state.positions["ETH-USD"]
    assert (pos.size, pos.avg_entry_price, pos.opened_at) == (D(3), D(50), T0)
    assert result.state.external_pnl_total == 0


def test_reconcile_when_never_held_and_not_adopting_then_not_checked() -> None:
    result = reconcile_balances(PortfolioState(), book({"USD": "10", "ETH": "3"}), False)
    assert result.checked == ()
    assert result.state.positions == {}


def test_reconcile_when_fills_read_then_cursor_moves_and_each_external_fill_reported_once() -> None:
    state = PortfolioState(positions={"BTC-USD": position(size="1")})
    manual = fill("m1", Side.BUY, "120", "1")
    fills = AccountFills((manual,), "2026-11-24T12:05:00Z")
    first = reconcile_balances(state, book({"BTC": "2"}, fills), False)
    assert first.state.cursors == {"fills": "2026-11-24T12:05:00Z"}
    assert [f.fill_id for f in first.external_fills] == ["m1"]
    assert first.state.positions["BTC-USD"].size == D(2)
    # The same fill again (at the cursor itself): known now, not reported twice.
    again = reconcile_balances(first.state, book({"BTC": "2"}, fills), False)
    assert again.external_fills == ()
    assert again.drift == ()


def test_reconcile_when_fills_unreadable_then_cursor_kept_and_cause_unknown() -> None:
    state = PortfolioState(
        positions={"BTC-USD": position(size="1")}, cursors={"fills": "2026-11-24T11:00:00Z"}
    )
    result = reconcile_balances(state, book({"BTC": "0.5"}, None), False)
    assert result.state.cursors == {"fills": "2026-11-24T11:00:00Z"}
    assert [d.cause for d in result.drift] == ["unknown"]


def test_drifted_products_when_btc_drifts_then_only_btc_products_named() -> None:
    state = PortfolioState(positions={"BTC-USD": position(size="1")})
    result = reconcile_balances(state, book({"BTC": "0.5"}), False)
    assert result.drifted_products(PRODUCTS) == frozenset({"BTC-USD"})


def planned(product_id: str, side: Side) -> PlannedOrder:
    quote_size = D(100) if side is Side.BUY else None
    base_size = None if side is Side.BUY else D(1)
    intent = Intent.ENTRY if side is Side.BUY else Intent.EXIT
    return PlannedOrder("c-1", product_id, side, OrderType.MARKET, intent, base_size, quote_size)


def test_set_apart_when_buying_a_coin_never_held_then_what_the_account_holds_is_unbooked() -> None:
    balances = {"USD": Balance("USD", D(500)), "ETH": Balance("ETH", D("2.5"), D("0.5"))}
    state = set_apart_before_buying(
        PortfolioState(), [planned("ETH-USD", Side.BUY)], balances, PRODUCTS
    )
    assert state.unbooked == {"ETH": D(3)}  # available 2.5 + hold 0.5: the owner's, not ours
    # The next reconciliation, once the buy of 0.4 ETH is a position: no drift.
    bought = state.replace(positions={"ETH-USD": position("ETH-USD", size="0.4")})
    result = reconcile_balances(bought, book({"ETH": "3.4"}), False)
    assert result.drift == ()
    assert result.state.positions["ETH-USD"].size == D("0.4")


def test_set_apart_when_the_coin_is_tracked_or_sold_or_not_held_then_nothing_changes() -> None:
    balances = {"BTC": Balance("BTC", D(1)), "ETH": Balance("ETH", D(2))}
    tracked = PortfolioState(held_currencies=("BTC",))
    assert set_apart_before_buying(tracked, [planned("BTC-USD", Side.BUY)], balances, PRODUCTS) is (
        tracked
    )
    plan = [planned("ETH-USD", Side.SELL)]
    assert set_apart_before_buying(PortfolioState(), plan, balances, PRODUCTS).unbooked == {}
    plan = [planned("ETH-USD", Side.BUY)]
    assert set_apart_before_buying(PortfolioState(), plan, {}, PRODUCTS).unbooked == {}


def test_reconcile_when_fills_come_on_a_coin_with_an_order_in_flight_then_they_wait() -> None:
    # Our buy timed out: no order_id, so its fill cannot be told from a stranger's by id.
    buying = Order("coid-1", "ETH-USD", Side.BUY, OrderType.MARKET, OrderStatus.UNKNOWN, T0)
    ours = fill("e-ours", Side.BUY, "50", "2", product_id="ETH-USD")
    hand = fill("e-hand", Side.SELL, "50", "0.5", product_id="ETH-USD")
    fills = AccountFills((ours, hand), "2026-11-24T12:05:00Z")
    before = {"fills": "2026-11-24T12:00:00Z"}
    state = PortfolioState(open_orders={"coid-1": buying}, cursors=before)

    waiting = reconcile_balances(state, book({"ETH": "1.5"}, fills), False)

    assert waiting.external_fills == ()  # neither is taken for a stranger's yet
    assert waiting.state.seen_fill_ids == ()  # so the order's own fill can still be booked
    assert waiting.state.cursors == before  # and both are read again next cycle

    # The order settled meanwhile: its fill is booked (seen); the hand's explains the drift.
    settled = waiting.state.replace(
        open_orders={},
        positions={"ETH-USD": position("ETH-USD", size="2", entry="50")},
        seen_fill_ids=("e-ours",),
    )
    after = reconcile_balances(settled, book({"ETH": "1.5"}, fills), False)
    assert [f.fill_id for f in after.external_fills] == ["e-hand"]
    assert [(d.currency, d.cause) for d in after.drift] == [("ETH", "external_trade")]
    assert after.state.positions["ETH-USD"].size == D("1.5")
    assert after.state.cursors == {"fills": "2026-11-24T12:05:00Z"}


def test_reconcile_when_a_fill_waited_a_day_for_a_stuck_order_then_it_is_read_on() -> None:
    stuck = Order("coid-1", "ETH-USD", Side.BUY, OrderType.MARKET, OrderStatus.UNKNOWN, T0)
    old = fill("e-old", Side.SELL, "50", "0.5", product_id="ETH-USD", time=T0 - timedelta(days=1))
    fills = AccountFills((old,), "2026-11-24T12:05:00Z")
    state = PortfolioState(open_orders={"coid-1": stuck}, cursors={"fills": "2026-11-23T12:00:00Z"})

    result = reconcile_balances(state, book({"ETH": "0"}, fills), False)

    assert [f.fill_id for f in result.external_fills] == ["e-old"]  # a day is as long as it waits
    assert result.state.seen_fill_ids == ("e-old",)
    assert result.state.cursors == {"fills": "2026-11-24T12:05:00Z"}


@settings(max_examples=80, deadline=None)
@given(
    seen=st.sampled_from([0, 2, 499, 500, 501, 620]),
    stored=st.sampled_from([None, "2026-11-24T12:00:00Z", "2026-11-24T12:05:00Z"]),
    strangers=st.integers(0, 2),
    in_flight=st.booleans(),
    held=st.sampled_from([(), ("BTC",), ("BTC", "ETH")]),
)
def test_reconcile_when_fills_read_then_cursor_seen_and_held_as_the_plain_update_gives(
    seen: int, stored: str | None, strangers: int, in_flight: bool, held: tuple[str, ...]
) -> None:
    """Most cycles read no new fill at the cursor they stored and give the state back as it
    was; every case must give what updating the cursor, the seen ids (kept to the last
    SEEN_FILL_IDS_KEPT) and the held currencies each time gives (06768cb)."""
    ids = tuple(f"old-{i}" for i in range(seen))
    read = tuple(fill(f"new-{i}", Side.SELL, "120", "0.1") for i in range(strangers))
    orders = {}
    if in_flight:  # a buy on BTC in flight: the fills on BTC wait (cursor and ids kept)
        orders["coid-1"] = Order(
            "coid-1", "BTC-USD", Side.BUY, OrderType.MARKET, OrderStatus.UNKNOWN, T0
        )
    cursors = {} if stored is None else {"fills": stored, "other": "x"}
    state = PortfolioState(
        positions={"BTC-USD": position(size="1")},
        open_orders=orders,
        seen_fill_ids=ids,
        cursors=cursors,
        held_currencies=held,
    )
    fills = AccountFills(read, "2026-11-24T12:05:00Z")

    result = reconcile_balances(state, book({"BTC": "1"}, fills), False).state

    waiting = in_flight and strangers > 0
    outside = () if waiting else tuple(f.fill_id for f in read)
    assert result.seen_fill_ids == (*ids, *outside)[-SEEN_FILL_IDS_KEPT:]
    assert result.cursors == (cursors if waiting else {**cursors, "fills": fills.cursor})
    assert result.held_currencies == tuple(sorted({*held, "BTC"}))  # once held, still checked
    assert list(result.cursors) == list(
        cursors if waiting else {**cursors, "fills": fills.cursor}
    )  # the keys' order too: the state file is written in it


LISTED = {
    p.product_id: p
    for p in (
        product("BTC-USD"),
        product("BTC-USDC", base_currency="BTC", base_increment=D("0.0001")),
        product("ETH-USD", base_increment=D("0.010")),
        product("ETH-EUR", base_currency="ETH", base_increment=D("0.01")),
    )
}
SIZES = st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False)


def plain_booked(currency: str, state: PortfolioState) -> Decimal:
    """What the state books of `currency`, summed over it alone (as before the one pass)."""
    in_positions = sum(
        (p.size for pid, p in state.positions.items() if base_of(pid, LISTED) == currency), D(0)
    )
    dust = sum((s for pid, s in state.dust.items() if base_of(pid, LISTED) == currency), D(0))
    return in_positions + dust + state.unbooked.get(currency, D(0))


@settings(max_examples=200, deadline=None)
@given(
    held=st.dictionaries(st.sampled_from([*LISTED, "SOL-USD"]), SIZES, max_size=5),
    dust=st.dictionaries(st.sampled_from([*LISTED, "SOL-USD", "BTC-EUR"]), SIZES, max_size=4),
    unbooked=st.dictionaries(st.sampled_from(["BTC", "ETH", "SOL", "ADA"]), SIZES, max_size=3),
    precision=st.sampled_from([28, 4]),
)
def test_booked_size_when_summed_in_one_pass_then_the_digits_of_a_sum_per_currency(
    held, dust, unbooked, precision
) -> None:
    positions = {pid: position(pid, size=size) for pid, size in held.items()}
    state = PortfolioState(positions=positions, dust=dust, unbooked=unbooked)
    with localcontext() as ctx:
        ctx.prec = precision  # 4: sums that round, so the order of the additions shows
        for currency in ("BTC", "ETH", "SOL", "ADA", "XRP"):
            assert str(booked_size(currency, state, LISTED)) == str(plain_booked(currency, state))


increments = st.sampled_from(["0.01", "0.010", "0.001", "1", "0.00000001", "0.1"]).map(D)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["BTC", "ETH", "USDC"]), st.sampled_from(["USD", "EUR"]), increments
        ),
        max_size=6,
    )
)
def test_finest_increments_when_any_products_then_each_currencys_tolerance(listed) -> None:
    # the one pass reconcile_balances makes gives what _tolerance works out per currency
    products = {}
    for base, quote_currency, step in listed:
        made = product(f"{base}-{quote_currency}", base_increment=step)
        products[made.product_id] = made
    finest = _finest_increments(products)
    held = Book({}, products, {}, None, CASH, T0)
    for currency in ("BTC", "ETH", "USDC", "SOL"):
        tolerance = finest.get(currency, DEFAULT_TOLERANCE)
        assert str(tolerance) == str(_tolerance(currency, held))  # the same value, as written
