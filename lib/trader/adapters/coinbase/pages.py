"""Coinbase's cursor pagination, read one way.

The API spells "there is a next page" three ways: `pagination.next_cursor` with
`pagination.has_next` (products), `cursor` with `has_next` (orders, accounts), and
`cursor` alone, empty on the last page (fills).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

Page = Mapping[str, Any]


def next_cursor(body: Page) -> str | None:
    """The cursor of the page after `body`, or None on the last page."""
    pagination = body.get("pagination")
    if isinstance(pagination, Mapping):
        return pagination.get("next_cursor") if pagination.get("has_next") else None
    if "has_next" in body:
        return body.get("cursor") if body.get("has_next") else None
    return body.get("cursor") or None


def pages(fetch: Callable[[str | None], Page], max_pages: int) -> Iterator[Page]:
    """Each page from `fetch(cursor)` (None first), until no new cursor or `max_pages`."""
    cursor: str | None = None
    for _ in range(max_pages):
        body = fetch(cursor)
        yield body
        following = next_cursor(body)
        if not following or following == cursor:
            return
        cursor = following
