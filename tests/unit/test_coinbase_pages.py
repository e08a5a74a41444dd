"""Coinbase's three spellings of "next page", read by one helper."""

from __future__ import annotations

from trader.adapters.coinbase.pages import next_cursor, pages


def test_next_cursor_when_products_pagination_has_next_then_its_next_cursor() -> None:
    body = {"products": [], "pagination": {"next_cursor": "p2", "has_next": True}}
    assert next_cursor(body) == "p2"
    assert next_cursor({"pagination": {"next_cursor": "p2", "has_next": False}}) is None


def test_next_cursor_when_orders_or_accounts_has_next_then_cursor_only_if_true() -> None:
    assert next_cursor({"orders": [], "has_next": True, "cursor": "c2"}) == "c2"
    assert next_cursor({"orders": [], "has_next": False, "cursor": "c2"}) is None


def test_next_cursor_when_fills_carry_a_bare_cursor_then_empty_means_last_page() -> None:
    assert next_cursor({"fills": [], "cursor": "f2"}) == "f2"
    assert next_cursor({"fills": [], "cursor": ""}) is None
    assert next_cursor({"fills": []}) is None


def test_pages_when_three_pages_then_each_fetched_once_with_the_previous_cursor() -> None:
    book = {None: ("a", "k1"), "k1": ("b", "k2"), "k2": ("c", "")}
    asked: list[str | None] = []

    def fetch(cursor: str | None) -> dict[str, object]:
        asked.append(cursor)
        item, following = book[cursor]
        return {"items": [item], "cursor": following}

    assert [p["items"] for p in pages(fetch, 10)] == [["a"], ["b"], ["c"]]
    assert asked == [None, "k1", "k2"]


def test_pages_when_cursor_repeats_or_limit_reached_then_stops() -> None:
    looping = list(pages(lambda _c: {"cursor": "same"}, 10))
    assert len(looping) == 2  # None -> "same" -> "same" again: stop
    endless = iter(range(1000))
    capped = list(pages(lambda _c: {"cursor": f"k{next(endless)}"}, 3))
    assert len(capped) == 3
