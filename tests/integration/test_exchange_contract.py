"""One contract for trader.ports.Exchange, run against both implementations:

* MatchingExchange over SyntheticMarket (the simulated exchange), and
* CoinbaseExchange through the real SDK on the fake Coinbase (itself backed by the former).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from fake_coinbase_env import (
    START,
    coinbase_env,
    limit_order,
    market_buy,
    market_sell,
    simulator_config,
)

from trader.adapters.clock import SteppingClock
from trader.adapters.sim.matching import MatchingExchange
from trader.adapters.sim.synthetic import SyntheticMarket
from trader.domain.errors import OrderRejected
from trader.domain.models import ZERO, FeeRates, OrderStatus, Side
from trader.ports import Exchange

CASH = Decimal(10_000)
FIVE_MIN = 300


@dataclass
class Harness:
    exchange: Exchange
    clock: SteppingClock


@contextmanager
def simulated() -> Iterator[Harness]:
    sim = simulator_config()
    clock = SteppingClock(START, FIVE_MIN)
    fees = FeeRates(sim.maker_fee_pct / 100, sim.taker_fee_pct / 100)
    market = SyntheticMarket(sim, clock)
    yield Harness(MatchingExchange(market, clock, fees, sim.slippage_bps, {"USD": CASH}), clock)


@contextmanager
def coinbase() -> Iterator[Harness]:
    with coinbase_env(balances={"USD": CASH}) as env:
        yield Harness(env.exchange, env.clock)


IMPLEMENTATIONS = {"matching": simulated, "coinbase": coinbase}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def harness(request) -> Iterator[Harness]:
    with IMPLEMENTATIONS[request.param]() as h:
        yield h


def _available(exchange: Exchange, currency: str) -> Decimal:
    balance = exchange.get_balances().get(currency)
    return balance.available if balance else ZERO


def test_list_products_when_called_then_spot_products_with_positive_increments(harness):
    products = {p.product_id: p for p in harness.exchange.list_products()}

    assert {"BTC-USD", "ETH-USD"} <= set(products)
    for p in products.values():
        assert p.base_increment > 0 and p.quote_increment > 0 and p.tick > 0
        assert p.price > 0 and p.volume_24h_quote > 0


def test_get_quotes_when_known_and_unknown_ids_then_only_known_with_bid_below_ask(harness):
    quotes = harness.exchange.get_quotes(["BTC-USD", "ETH-USD", "NOPE-USD"])

    assert set(quotes) == {"BTC-USD", "ETH-USD"}
    assert all(0 < q.bid < q.ask for q in quotes.values())


def test_get_candles_when_window_then_closed_bars_ascending_inside_it(harness):
    now = harness.clock.now()
    start = now - timedelta(hours=2)

    candles = harness.exchange.get_candles("ETH-USD", FIVE_MIN, start, now)

    # whole bars from 10:05 to 11:55 inclusive: 2 h back from 12:00:30, forming 12:00 excluded
    assert len(candles) == 23
    assert all(start <= c.start and c.start + timedelta(seconds=FIVE_MIN) <= now for c in candles)
    assert all(a.start < b.start for a, b in itertools.pairwise(candles))


def test_get_balances_when_fresh_account_then_starting_cash_available(harness):
    assert _available(harness.exchange, "USD") == CASH
    assert _available(harness.exchange, "BTC") == ZERO


def test_get_fee_rates_when_called_then_fractions_with_maker_not_above_taker(harness):
    fees = harness.exchange.get_fee_rates()

    assert 0 <= fees.maker <= fees.taker < Decimal("0.05")


def test_market_buy_when_filled_then_balances_move_by_fills_and_fees(harness):
    ex = harness.exchange
    ex.place_order(market_buy("k-buy", "BTC-USD", "250"))

    order = ex.get_order("k-buy")

    assert order is not None and order.status is OrderStatus.FILLED
    spent = sum(f.price * f.size for f in order.fills) + sum(f.fee for f in order.fills)
    assert spent == Decimal(250)  # the fee comes out of quote_size, as on Coinbase
    assert _available(ex, "USD") == CASH - spent
    assert _available(ex, "BTC") == order.filled_size == sum(f.size for f in order.fills)
    assert order.total_fees == sum(f.fee for f in order.fills) > 0


def _sellable(exchange: Exchange, product_id: str, amount: Decimal) -> Decimal:
    """`amount` floored to the product's base increment, as a base_size must be."""
    product = next(p for p in exchange.list_products() if p.product_id == product_id)
    return (amount // product.base_increment) * product.base_increment


def test_market_sell_after_buy_then_base_sold_and_cash_credited_net_of_fee(harness):
    ex = harness.exchange
    ex.place_order(market_buy("k-buy", "ETH-USD", "300"))
    held = _available(ex, "ETH")
    cash_before = _available(ex, "USD")
    # A quote-sized buy's base is off the base grid (Coinbase reports 16 decimals); only
    # the part on the grid (ETH: 0.00000001) can be sold, the dust below it stays.
    sellable = _sellable(ex, "ETH-USD", held)

    ex.place_order(market_sell("k-sell", "ETH-USD", format(sellable, "f")))
    sold = ex.get_order("k-sell")

    assert sold is not None and sold.status is OrderStatus.FILLED
    proceeds = sum(f.price * f.size - f.fee for f in sold.fills)
    assert ZERO <= _available(ex, "ETH") == held - sellable < Decimal("0.00000001")
    assert _available(ex, "USD") == cash_before + proceeds


def test_place_order_when_client_order_id_repeated_then_same_order_and_one_debit(harness):
    ex = harness.exchange
    first = ex.place_order(market_buy("k-dup", "BTC-USD", "100"))
    cash = _available(ex, "USD")

    again = ex.place_order(market_buy("k-dup", "BTC-USD", "100"))

    assert again.order_id == first.order_id
    assert _available(ex, "USD") == cash


def test_place_order_when_funds_insufficient_then_rejected_and_nothing_changes(harness):
    ex = harness.exchange

    with pytest.raises(OrderRejected) as caught:
        ex.place_order(market_buy("k-big", "BTC-USD", "20000"))

    assert caught.value.reason == "INSUFFICIENT_FUND"
    assert ex.get_order("k-big") is None
    assert _available(ex, "USD") == CASH


def test_place_order_when_size_off_grid_then_rejected_as_precision(harness):
    with pytest.raises(OrderRejected) as caught:
        harness.exchange.place_order(limit_order("k-grid", "SOL-USD", Side.BUY, "1.0005", "100"))

    assert caught.value.reason == "INVALID_SIZE_PRECISION"  # SOL base_increment is 0.001


def test_get_order_when_never_placed_then_none(harness):
    assert harness.exchange.get_order("k-never") is None


def test_cancel_order_when_limit_rests_then_cancelled_and_hold_released(harness):
    ex = harness.exchange
    ex.place_order(limit_order("k-rest", "SOL-USD", Side.BUY, "2", "50.00"))
    # hold = 2 * 50 * (1 + 0.004 maker) = 100.40
    assert ex.get_balances()["USD"].hold == Decimal("100.4")

    cancelled = ex.cancel_order("k-rest")

    assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED
    assert ex.get_balances()["USD"].hold == ZERO
    assert _available(ex, "USD") == CASH


def test_post_only_buy_when_it_would_cross_then_rejected_and_nothing_held(harness):
    # Coinbase refuses a post-only limit that would take liquidity
    # (INVALID_LIMIT_PRICE_POST_ONLY); the simulated account and the fake must do the same.
    ex = harness.exchange
    ask = ex.get_quotes(["SOL-USD"])["SOL-USD"].ask
    with pytest.raises(OrderRejected) as refused:
        ex.place_order(limit_order("k-cross", "SOL-USD", Side.BUY, "1", format(ask, "f")))

    assert refused.value.reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert ex.get_order("k-cross") is None
    assert ex.get_balances()["USD"].hold == ZERO


def test_post_only_buy_when_below_the_bid_then_it_rests_open_unfilled(harness):
    ex = harness.exchange
    bid = ex.get_quotes(["SOL-USD"])["SOL-USD"].bid
    limit = bid - Decimal(1)
    placed = ex.place_order(limit_order("k-below", "SOL-USD", Side.BUY, "1", format(limit, "f")))

    assert (placed.status, placed.filled_size) == (OrderStatus.OPEN, ZERO)
    # hold = 1 x limit x (1 + 0.004 maker), released only by a fill or a cancel
    assert ex.get_balances()["USD"].hold == limit * Decimal("1.004")


def test_both_implementations_when_same_script_then_same_fills_and_balances():
    def script(ex: Exchange) -> tuple[dict, list]:
        ex.place_order(market_buy("s-1", "BTC-USD", "500"))
        ex.place_order(market_buy("s-2", "DOGE-USD", "120"))
        doge = _sellable(ex, "DOGE-USD", _available(ex, "DOGE"))
        ex.place_order(market_sell("s-3", "DOGE-USD", format(doge, "f")))
        fills = [
            (f.price, f.size, f.fee) for c in ("s-1", "s-2", "s-3") for f in ex.get_order(c).fills
        ]
        balances = {c: b.available for c, b in ex.get_balances().items() if b.total}
        return balances, fills

    with simulated() as sim_h, coinbase() as cb_h:
        assert script(cb_h.exchange) == script(sim_h.exchange)
