"""Coinbase order and fill JSON -> domain values; every expected number is worked out by hand.

The scenario of issue 8: a $77 market buy (quote_size, taker 0.6 %) of a coin at $5,000.00.
With `size_inclusive_of_fees` the fee comes out of the 77: value v + 0.006 v = 77, so
v = 77 / 1.006 = 76.540755467196819085... (Coinbase reports 15 decimals: 76.540755467196819)
and the fee is 77 - 76.540755467196819 = 0.459244532803181. The base bought is
v / 5000 = 76.540755467196819 * 0.0002 = 0.0153081510934393638, which Coinbase reports
as filled_size with 16 decimals: 0.0153081510934394.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from trader.adapters.coinbase.errors import MalformedResponse
from trader.adapters.coinbase.mapping import fees_from, fill_from, order_from
from trader.domain.models import ZERO, OrderStatus, Side
from trader.domain.state import PortfolioState
from trader.pipeline.portfolio import Cooldowns
from trader.service.orders import ORPHAN_AFTER, book

D = Decimal
NOW = datetime(2026, 3, 2, 12, 5, tzinfo=UTC)


def fill_json(entry_id: str, price: str, size: str, commission: str, in_quote: bool) -> dict:
    return {
        "entry_id": entry_id,
        "trade_id": f"t-{entry_id}",
        "order_id": "o-77",
        "trade_time": "2026-03-02T12:00:01.020Z",
        "trade_type": "FILL",
        "price": price,
        "size": size,
        "commission": commission,
        "product_id": "XYZ-USD",
        "sequence_timestamp": "2026-03-02T12:00:01.021Z",
        "liquidity_indicator": "TAKER",
        "size_in_quote": in_quote,
        "user_id": "u-1",
        "side": "BUY",
    }


def order_json(**changes: Any) -> dict:
    order = {
        "order_id": "o-77",
        "client_order_id": "c-77",
        "product_id": "XYZ-USD",
        "side": "BUY",
        "status": "FILLED",
        "order_type": "MARKET",
        "time_in_force": "IMMEDIATE_OR_CANCEL",
        "created_time": "2026-03-02T12:00:01.000Z",
        "completion_percentage": "100",
        "filled_size": "0.0153081510934394",
        "average_filled_price": "5000.00",
        "filled_value": "76.540755467196819",
        "total_fees": "0.459244532803181",
        "total_value_after_fees": "77",
        "number_of_fills": "2",
        "size_in_quote": True,
        "size_inclusive_of_fees": True,
        "settled": True,
        "order_configuration": {"market_market_ioc": {"quote_size": "77"}},
    }
    return {**order, **changes}


# Two fills of the $77 buy, sizes in quote: 50.00 + 26.540755467196819 = 76.540755467196819;
# commissions 0.6 % of each: 0.30 + 0.159244532803181 = 0.459244532803181.
QUOTE_FILLS = (
    fill_json("e-1", "5000.00", "50.00", "0.30", in_quote=True),
    fill_json("e-2", "5000.00", "26.540755467196819", "0.159244532803181", in_quote=True),
)


def test_fill_from_when_size_in_quote_then_base_is_quote_size_over_price() -> None:
    fill = fill_from(QUOTE_FILLS[1], "c-77")

    # 26.540755467196819 / 5000 = 26.540755467196819 * 0.0002 = 0.0053081510934393638
    assert fill.size == D("0.0053081510934393638")
    assert fill.price == D("5000.00")
    assert fill.fee == D("0.159244532803181")  # commission, quote units, as reported
    assert fill.side is Side.BUY


def test_fill_from_when_size_in_quote_then_not_rounded_to_any_grid() -> None:
    fill = fill_from(fill_json("e-3", "3.00", "1.00", "0.006", in_quote=True), "c-77")

    # 1.00 / 3.00 = 0.333...: kept to Decimal's 28 digits, not cut to a base increment
    assert fill.size == D("0.3333333333333333333333333333")


def test_fill_from_when_size_in_base_then_size_kept() -> None:
    fill = fill_from(fill_json("e-4", "5000.00", "0.0153", "0.459", in_quote=False), "c-77")

    assert fill.size == D("0.0153")


def test_order_from_when_quote_sized_fills_add_up_then_no_mismatch_and_base_booked() -> None:
    fills = [fill_from(f, "c-77") for f in QUOTE_FILLS]

    order = order_from(order_json(), fills)

    # 50.00 / 5000 + 0.0053081510934393638 = 0.01 + 0.0053081510934393638; the reported
    # 0.0153081510934394 is the same amount at 16 decimals (3.6e-17 apart)
    assert sum(f.size for f in order.fills) == D("0.0153081510934393638")
    assert order.fills_mismatch is None
    assert order.filled_size == D("0.0153081510934394")
    assert order.total_fees == D("0.459244532803181")


def test_order_from_when_fills_read_as_base_do_not_add_up_then_mismatch_names_the_numbers() -> None:
    # The old misreading: the quote sizes taken for base sizes (76.54 "coins" at $5,000).
    misread = [
        fill_from({**f, "size_in_quote": False}, "c-77") for f in QUOTE_FILLS
    ]  # sizes 50.00 and 26.540755467196819 taken as base

    order = order_from(order_json(), misread)

    assert order.fills_mismatch is not None
    assert "76.540755467196819 base" in order.fills_mismatch
    assert "filled_size 0.0153081510934394" in order.fills_mismatch
    # value: 76.540755467196819 * 5000 = 382703.777335984095 quote against 76.540755467196819
    assert "382703.777335984095" in order.fills_mismatch


def test_order_from_when_a_fill_is_missing_then_mismatch_until_it_shows() -> None:
    order = order_from(order_json(), [fill_from(QUOTE_FILLS[0], "c-77")])

    # 0.01 of 0.0153081510934394 base, 50.00 of 76.540755467196819 quote
    assert order.fills_mismatch is not None
    assert "0.01 base" in order.fills_mismatch
    assert "50.0000 quote" in order.fills_mismatch  # 5000.00 * 0.01


def test_book_when_fills_do_not_add_up_then_the_order_stays_in_flight() -> None:
    misread = [fill_from({**f, "size_in_quote": False}, "c-77") for f in QUOTE_FILLS]
    order = order_from(order_json(), misread)
    assert order.status is OrderStatus.FILLED

    state = book(PortfolioState(), order, Cooldowns(), NOW)

    assert state.open_orders == {"c-77": order}  # not settled: asked again next cycle
    assert state.open_orders["c-77"].fills_mismatch == order.fills_mismatch
    assert state.positions == {} and state.seen_fill_ids == ()  # no misread fill booked


def test_book_when_fills_never_add_up_then_the_order_is_booked_from_its_totals_at_last() -> None:
    misread = [fill_from({**f, "size_in_quote": False}, "c-77") for f in QUOTE_FILLS]
    order = order_from(order_json(), misread)

    state = book(PortfolioState(), order, Cooldowns(), NOW + ORPHAN_AFTER)  # created 12:00:01

    assert state.open_orders == {}
    position = state.positions["XYZ-USD"]
    # the order's own totals: filled_size at average_filled_price, total_fees
    assert position.size == D("0.0153081510934394")
    assert position.avg_entry_price == D("5000.00")
    assert position.entry_fees == D("0.459244532803181")


def test_book_when_quote_sized_fills_add_up_then_settled_with_the_base_bought() -> None:
    order = order_from(order_json(), [fill_from(f, "c-77") for f in QUOTE_FILLS])

    state = book(PortfolioState(), order, Cooldowns(), NOW)

    assert state.open_orders == {}
    position = state.positions["XYZ-USD"]
    assert position.size == D("0.0153081510934393638")  # not 76.54
    assert position.entry_fees == D("0.459244532803181") != ZERO


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("size", "-0.5", "'size' is negative"),
        ("commission", "-0.01", "'commission' is negative"),
        ("price", "-3", "'price' is not positive"),
        ("price", "0", "'price' is not positive"),
        ("price", "1E-999999", "'price' is out of range"),
        ("size", "1E+40", "'size' is out of range"),
    ],
)
def test_fill_from_when_a_number_no_fill_can_have_then_malformed_naming_it(
    field: str, value: str, complaint: str
) -> None:
    raw = {**fill_json("e-9", "3.00", "1.00", "0.006", in_quote=False), field: value}
    with pytest.raises(MalformedResponse, match=complaint):
        fill_from(raw, "c-77")


@pytest.mark.parametrize(("maker", "taker"), [("0.004", "1"), ("-0.001", "0.006"), ("2", "0.5")])
def test_fees_from_when_a_rate_is_not_a_fraction_below_one_then_malformed(
    maker: str, taker: str
) -> None:
    tier = {"maker_fee_rate": maker, "taker_fee_rate": taker}
    with pytest.raises(MalformedResponse, match="fee_tier"):
        fees_from({"fee_tier": tier})
