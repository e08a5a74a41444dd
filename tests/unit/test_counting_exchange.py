"""CountingExchange counts each call per method, also when calls come from several threads
at once (the snapshot's requests run in a pool), without losing one."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from trader.service.counting import CountingExchange

NOW = datetime(2026, 3, 2, tzinfo=UTC)


class Answers:
    """An inner exchange that answers each read with a fixed value."""

    def list_products(self) -> list:
        return []

    def get_quotes(self, product_ids: list[str]) -> dict:
        return {}

    def get_candles(self, product_id: str, granularity_s: int, start, end) -> tuple:
        return ()


def test_calls_when_made_from_many_threads_then_each_counted_once_by_method() -> None:
    exchange = CountingExchange(Answers())  # type: ignore[arg-type]
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        for _ in range(2_000):
            exchange.get_candles("BTC-USD", 300, NOW, NOW)
            exchange.get_quotes(["BTC-USD"])
        exchange.list_products()

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert exchange.calls() == {"get_candles": 16_000, "get_quotes": 16_000, "list_products": 8}
    assert list(exchange.calls()) == ["get_candles", "get_quotes", "list_products"]


def test_calls_when_none_made_then_empty() -> None:
    assert CountingExchange(Answers()).calls() == {}  # type: ignore[arg-type]


METHODS = ("list_products", "get_quotes", "get_candles")


@given(st.lists(st.sampled_from(METHODS), max_size=40))
def test_calls_when_any_calls_made_then_as_a_counter_of_them_sorted_by_name(
    made: list[str],
) -> None:
    exchange = CountingExchange(Answers())  # type: ignore[arg-type]
    for name in made:
        method = getattr(exchange, name)
        if name == "list_products":
            method()
        elif name == "get_quotes":
            method(["BTC-USD"])
        else:
            method("BTC-USD", 300, NOW, NOW)
    expected = dict(sorted(Counter(made).items()))
    assert exchange.calls() == expected
    assert list(exchange.calls()) == list(expected)
