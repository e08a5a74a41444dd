"""Limits (issue 10, build 4): a cycle at the sizes Coinbase can hand it, through the real SDK
on the fake Coinbase at 50 ms a request, checked for what it did first and for its time
second.

The time budget is the cycle function's Lambda timeout less the time the cycle keeps in hand
to trade (`cycle.min_remaining_seconds_to_trade`): 120 - 20 = 100 s. A measured cycle must
fit in it SLOWER times over: a 512 MB arm64 Lambda has about a third of this machine's core.
The market is scripted (fixed bars): the synthetic market's own work at 500 products would
be measured instead of the bot's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from aws_resources import load_template
from coinbase_cycle_rig import START, CoinbaseCycleRig
from fake_coinbase import Fault
from fake_coinbase_json import candle_json
from scripted_market import tweak
from wide_market import config_for, product_ids, scripted_market, wide_coinbase

from trader.adapters.clock import SteppingClock
from trader.domain.codec import to_jsonable
from trader.domain.config import Config, load_config
from trader.domain.models import CycleResult

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = load_template(REPO / "template.yaml")["Resources"]["CycleFunction"]["Properties"][
    "Timeout"
]
BUDGET_S = TIMEOUT_S - load_config().cycle.min_remaining_seconds_to_trade
SLOWER = 4
LATENCY_S = 0.05
BAR = timedelta(minutes=5)


def lambda_clock() -> Callable[[], float]:
    """The time a Lambda started now would have left, in seconds (as the context tells it)."""
    deadline = time.monotonic() + TIMEOUT_S
    return lambda: deadline - time.monotonic()


def timed(rig: CoinbaseCycleRig) -> tuple[CycleResult, float]:
    began = time.perf_counter()
    result = rig.run(remaining_seconds=lambda_clock())
    return result, time.perf_counter() - began


def adopting(config: Config) -> Config:
    return tweak(config, reconcile={"adopt_external_holdings": True})


def test_cycle_when_500_products_and_200_balances_across_pages_then_all_seen_within_budget():
    clock = SteppingClock(START, 300)
    coins = [pid.removesuffix("-USD") for pid in product_ids(500)[300:]]  # P300 .. P499
    balances = {"USD": Decimal(100_000)} | {coin: Decimal("0.01") for coin in coins}
    with wide_coinbase(scripted_market(clock, 500), balances, LATENCY_S) as env:
        rig = CoinbaseCycleRig(env, config=adopting(config_for(500)))

        result, wall = timed(rig)

        record = to_jsonable(result.record)
        assert record["exception"] is None and result.no_trade_reason is None
        # Coinbase listed 1,000 books (each USD one with its USDC twin): 500 products.
        eligible = {m["product_id"] for m in record["universe"]["eligible"]}
        assert eligible == set(product_ids(500))
        assert record["universe"]["excluded"] == {}
        # 12 biggest movers (P001 .. P012) and the reference P000 charted: one request each,
        # and a second for P000, whose regime window (36 h of 5-minute bars: 433) is more
        # than one page of 350
        assert sorted(record["universe"]["charted"]) == product_ids(13)
        assert env.fake.count("GET", r"/products/[^/]+/candles") == 14
        # 502 wallets (500 coins, USD, USDC), 49 a page as the fake pages them: 11 pages
        assert env.fake.count("GET", r"/accounts") == 11
        # every balance booked: each of the 200 coins is a position of exactly its size
        positions = rig.store.load().positions
        assert {f"{c}-USD": positions[f"{c}-USD"].size for c in coins} == dict.fromkeys(
            (f"{c}-USD" for c in coins), Decimal("0.01")
        )
        assert sorted(record["reconciliation"]["adopted"]) == sorted(coins)
        # and it still trades: two of the rising movers (max_new_positions_per_cycle)
        bought = {o.product_id for o in result.orders}
        assert len(bought) == 2 and bought <= set(product_ids(13)[1:])
    assert wall * SLOWER < BUDGET_S, f"{wall:.2f} s x {SLOWER} is over the {BUDGET_S} s budget"


def test_cycle_when_350_bars_are_looked_back_then_all_are_fetched_and_parsed_within_budget():
    # 350 is the most candles Coinbase answers one request with, and the config's maximum.
    clock = SteppingClock(START, 300)
    config = tweak(config_for(500), cycle={"lookback_bars": 350})
    market = scripted_market(clock, 500, deep_bars=400)
    with wide_coinbase(market, {"USD": Decimal(100_000)}, LATENCY_S) as env:
        rig = CoinbaseCycleRig(env, config=config)

        result, wall = timed(rig)

        assert result.record["exception"] is None
        asked = [
            (int(r.query["end"][0]) - int(r.query["start"][0])) // 300
            for r in env.fake.requests
            if r.path.endswith("/candles")
        ]
        assert max(asked) <= 350  # Coinbase refuses more (the fake too, with a 400)
        assert all(r.status == 200 for r in env.fake.requests)
        # What the cycle fetched is all there, as the market has it: asked again from the
        # adapter's cache, 350 closed bars of each charted product, with no new request.
        env.fake.requests.clear()
        now = clock.now()
        for pid in product_ids(13):
            bars = env.exchange.get_candles(pid, 300, now - 351 * BAR, now)
            assert bars == market.get_candles(pid, 300, now - 351 * BAR, now)
            assert len(bars) == 350
        assert env.fake.requests == []
    assert wall * SLOWER < BUDGET_S, f"{wall:.2f} s x {SLOWER} is over the {BUDGET_S} s budget"


def test_candles_when_coinbase_answers_350_bars_to_a_page_of_300_then_only_the_window_is_kept():
    clock = SteppingClock(START, 300)
    market = scripted_market(clock, 20, deep_bars=400)
    now = clock.now()
    hi = now.replace(second=0)  # START is 30 s into a bar: the last closed one ends here
    lo = hi - 350 * BAR
    with wide_coinbase(market, {"USD": Decimal(100)}) as env:
        # The first page asks for [lo, lo + 300 bars); Coinbase answers 350 bars, newest first.
        full = market.get_candles("P001-USD", 300, lo, hi)
        answer = {"candles": [candle_json(c) for c in reversed(full)]}
        env.fake.fail("GET", r"/products/P001-USD/candles", Fault(200, json.dumps(answer)))

        bars = env.exchange.get_candles("P001-USD", 300, lo, hi)

        assert bars == full  # 350 bars, ascending, each once
        assert env.fake.count("GET", r"/products/P001-USD/candles") == 2  # 300 + 50


def test_cycle_when_the_book_is_one_level_deep_then_the_order_is_priced_at_that_level():
    clock = SteppingClock(START, 300)
    with wide_coinbase(scripted_market(clock, 20, movers=1), {"USD": Decimal(10_000)}) as env:
        rig = CoinbaseCycleRig(env, config=config_for(20))
        # one bid and one ask, 0.002 P001 each: all the book Coinbase shows
        env.fake.set_book("P001-USD", [("12.99", "0.002")], [("13.01", "0.002")])

        result = rig.run()

        (planned,) = to_jsonable(result.record)["orders"]["planned"]
        assert (planned["product_id"], planned["side"]) == ("P001-USD", "BUY")
        assert Decimal(planned["expected_price"]) == Decimal("13.01")  # the ask
        # half the spread: 0.02 / 13.00 mid = 15.3846 bps / 2 = 7.6923 bps; impact: 100 bps
        # per 1 % of the 100M 24h volume, and 100 USD is 0.0001 % of it: 0.01 bps
        quote_size = Decimal(planned["quote_size"])
        assert quote_size == Decimal(100)  # tier3 2 % of 10,000, halved (regime choppy)
        expected = Decimal("0.02") / Decimal("13.00") * 10_000 / 2 + Decimal("0.01")
        assert abs(Decimal(planned["expected_slippage_bps"]) - expected) < Decimal("1e-9")
        assert [o.product_id for o in result.orders] == ["P001-USD"]


def test_cycle_when_the_book_has_one_side_only_then_no_quote_is_the_reason_and_nothing_sent():
    clock = SteppingClock(START, 300)
    with wide_coinbase(scripted_market(clock, 20, movers=1), {"USD": Decimal(10_000)}) as env:
        rig = CoinbaseCycleRig(env, config=config_for(20))
        env.fake.set_book("P001-USD", [("12.99", "0.002")], [])  # bids, no asks

        result = rig.run()

        assert result.record["universe"]["excluded"] == {"P001-USD": "no_valid_quote"}
        assert result.no_trade_reason == "no_candidates_from_triggers"
        assert env.fake.count("POST", r"/orders") == 0
