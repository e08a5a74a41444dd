"""The fake answers orders, fills and balances as Coinbase does (reference §3 and §6.3),
read with the real SDK client directly, not through the adapter under test.

Cash is 10,000 USD; fees are the simulator's (maker 0.4 %, taker 0.6 %).
"""

from __future__ import annotations

from decimal import Decimal

from coinbase.rest import RESTClient

D = Decimal


def _balance(client: RESTClient, currency: str) -> tuple[Decimal, Decimal]:
    """(available, hold) of one currency, from GET /accounts."""
    for acct in client.get_accounts(limit=250).to_dict()["accounts"]:
        if acct["currency"] == currency:
            return D(acct["available_balance"]["value"]), D(acct["hold"]["value"])
    return D(0), D(0)


def _order(client: RESTClient, order_id: str) -> dict:
    return client.get_order(order_id).to_dict()["order"]


def _fills(client: RESTClient, order_id: str) -> list[dict]:
    return client.get_fills(order_ids=[order_id]).to_dict()["fills"]


def _buy_by_quote(client: RESTClient, coid: str, product: str, quote: str) -> str:
    config = {"market_market_ioc": {"quote_size": quote}}
    return client.create_order(coid, product, "BUY", config).to_dict()["success_response"][
        "order_id"
    ]


def test_market_buy_by_quote_size_when_filled_then_fills_in_quote_and_fee_inside_it(client):
    order_id = _buy_by_quote(client, "q-1", "BTC-USD", "100.00")

    order, fills = _order(client, order_id), _fills(client, order_id)

    assert order["size_in_quote"] is True and order["size_inclusive_of_fees"] is True
    assert all(f["size_in_quote"] is True for f in fills)
    # fill sizes are quote amounts: they add up to filled_value (fees excluded), and the
    # base bought is each size / price, adding up to filled_size
    assert sum(D(f["size"]) for f in fills) == D(order["filled_value"])
    assert sum(D(f["size"]) / D(f["price"]) for f in fills) == D(order["filled_size"])
    assert sum(D(f["commission"]) for f in fills) == D(order["total_fees"])
    # $100 spent in total, the fee included: filled_value + total_fees = 100
    assert D(order["filled_value"]) + D(order["total_fees"]) == D(100)
    assert D(order["total_value_after_fees"]) == D(100)
    # the fee is 0.6 % of filled_value: 100 * 0.006 / 1.006 = 0.59642147117296...
    assert abs(D(order["total_fees"]) - D("0.6") / D("1.006")) < D("1e-10")
    assert _balance(client, "USD") == (D("9900.00"), D(0))  # 10000 - 100
    assert _balance(client, "BTC") == (D(order["filled_size"]), D(0))


def test_market_sell_by_base_size_when_filled_then_sizes_in_base_and_fee_from_proceeds(client):
    bought = _order(client, _buy_by_quote(client, "q-1", "ETH-USD", "300.00"))
    base = (D(bought["filled_size"]) // D("0.00000001")) * D("0.00000001")  # ETH's grid
    usd_before, _ = _balance(client, "USD")
    config = {"market_market_ioc": {"base_size": format(base, "f")}}
    sell = client.create_order("s-1", "ETH-USD", "SELL", config).to_dict()
    order_id = sell["success_response"]["order_id"]

    order, fills = _order(client, order_id), _fills(client, order_id)

    assert order["size_in_quote"] is False and order["size_inclusive_of_fees"] is False
    assert all(f["size_in_quote"] is False for f in fills)
    assert sum(D(f["size"]) for f in fills) == D(order["filled_size"]) == base
    value, fees = D(order["filled_value"]), D(order["total_fees"])
    assert value == sum(D(f["size"]) * D(f["price"]) for f in fills)
    assert fees == value * D("0.006")  # taker on the proceeds
    assert D(order["total_value_after_fees"]) == value - fees
    assert _balance(client, "USD") == (usd_before + value - fees, D(0))


def test_limit_buy_when_resting_then_funds_on_hold_until_cancelled(client):
    config = {"limit_limit_gtc": {"base_size": "2", "limit_price": "50.00", "post_only": True}}
    created = client.create_order("l-1", "SOL-USD", "BUY", config).to_dict()
    order_id = created["success_response"]["order_id"]

    # hold = 2 * 50.00 * (1 + 0.004 maker) = 100.40, taken from what is available
    assert _balance(client, "USD") == (D("9899.60"), D("100.40"))
    assert D(_order(client, order_id)["outstanding_hold_amount"]) == D("100.40")

    client.cancel_orders([order_id])

    assert _balance(client, "USD") == (D(10_000), D(0))
    assert D(_order(client, order_id)["outstanding_hold_amount"]) == D(0)


def test_limit_buy_when_it_fills_later_then_hold_released_and_base_credited(env, client):
    book = client.get_best_bid_ask(product_ids=["SOL-USD"]).to_dict()["pricebooks"][0]
    bid = D(book["bids"][0]["price"])
    limit = bid - D("0.05")  # just under the bid: rests, and a later bar trades through it
    config = {
        "limit_limit_gtc": {"base_size": "1", "limit_price": format(limit, "f"), "post_only": True}
    }
    order_id = client.create_order("l-2", "SOL-USD", "BUY", config).to_dict()["success_response"][
        "order_id"
    ]
    hold = limit * D("1.004")  # 1 * limit * (1 + maker)
    assert _balance(client, "USD") == (D(10_000) - hold, hold)

    for _ in range(12):  # an hour of bars at most
        env.clock.advance()
        if _order(client, order_id)["status"] == "FILLED":
            break
    order = _order(client, order_id)

    assert order["status"] == "FILLED"
    # paid 1 * limit plus the 0.4 % maker fee: the amount held, now spent; nothing on hold
    assert D(order["filled_value"]) + D(order["total_fees"]) == hold
    assert _balance(client, "USD") == (D(10_000) - hold, D(0))
    assert _balance(client, "SOL") == (D(1), D(0))


def test_market_buy_when_accepted_but_still_open_then_its_quote_size_is_on_hold(env, client):
    env.fake.hold_open_next()
    order_id = _buy_by_quote(client, "q-open", "BTC-USD", "250.00")

    assert _order(client, order_id)["status"] == "OPEN"
    assert _balance(client, "USD") == (D("9750.00"), D("250.00"))

    client.cancel_orders([order_id])

    assert _balance(client, "USD") == (D(10_000), D(0))
