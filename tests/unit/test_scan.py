"""The bounded scan: which candidates get candles."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from pipeline_builders import config, product, tier

from trader.pipeline.scan import charted, market_request
from trader.pipeline.universe import Member

T = tier()


def member(pid: str, change: str | None) -> Member:
    return Member(product(pid, price_change_24h_pct=None if change is None else Decimal(change)), T)


def test_charted_when_changes_are_known_then_the_biggest_absolute_movers_first() -> None:
    members = [
        member("A-USD", "1.5"),
        member("B-USD", "-7"),
        member("C-USD", "3"),
        member("D-USD", "0"),
    ]
    # |changes|: A 1.5, B 7, C 3, D 0 -> B, C, A, D; the top two are B and C.
    assert charted(members, 2) == ("B-USD", "C-USD")
    assert charted(members, 10) == ("B-USD", "C-USD", "A-USD", "D-USD")


def test_charted_when_no_change_is_known_then_the_universe_order_is_kept() -> None:
    members = [member("A-USD", None), member("B-USD", None), member("C-USD", None)]
    assert charted(members, 2) == ("A-USD", "B-USD")


def test_charted_when_some_changes_are_unknown_then_they_follow_the_known_ones() -> None:
    members = [member("A-USD", None), member("B-USD", "0.1"), member("C-USD", None)]
    assert charted(members, 3) == ("B-USD", "A-USD", "C-USD")


def test_charted_when_there_are_no_candidates_then_nothing() -> None:
    assert charted([], 5) == ()


# changes with ties, signs and equal values spelt otherwise, or unknown
CHANGES = st.none() | st.sampled_from(["0", "-0", "1.5", "-1.5", "1.50", "3", "-7", "7.0"])


@given(st.lists(CHANGES, max_size=8), st.integers(1, 9))
def test_charted_when_any_changes_then_what_sorting_the_members_by_interest_gives(
    changes: list[str | None], limit: int
) -> None:
    members = [member(f"P{i}-USD", change) for i, change in enumerate(changes)]

    def interest(m: Member) -> Decimal:  # the ranking as the docstring says it
        change = m.product.price_change_24h_pct
        return -abs(change) if change is not None else Decimal(1)

    expected = tuple(m.product_id for m in sorted(members, key=interest)[:limit])
    assert charted(members, limit) == expected


def test_market_request_when_regime_products_are_ranked_then_the_scan_slots_go_to_the_others():
    cfg = config(
        universe={
            "tiers": [
                {"name": "core", "products": ["BTC-USD", "ETH-USD"], "position_size_pct": 8},
                {"name": "rest", "match_all": True, "position_size_pct": 4},
            ],
            "filters": {"min_volume_24h_quote": 1000},
        },
        regime={"reference_product": "BTC-USD", "breadth_products": ["ETH-USD", "XRP-USD"]},
        triggers={"max_products_with_candles": 1},
        funding={"sources": ["ETH"]},
    )
    listed = [
        product("BTC-USD", price_change_24h_pct=Decimal(1)),
        product("ETH-USD", price_change_24h_pct=Decimal(9)),
        product("SOL-USD", price_change_24h_pct=Decimal(2)),
        product("ADA-USD", price_change_24h_pct=Decimal(-5)),
        product("DOGE-USD", volume_24h_quote=Decimal(10)),  # below the volume filter
    ]
    request = market_request({p.product_id: p for p in listed}, cfg, {"LTC-USD", "ADA-USD"})
    ranked = ("BTC-USD", "ETH-USD", "ADA-USD", "SOL-USD")  # tier, then the same volume: id
    assert request.quoted == ("BTC-USD", *ranked, "ADA-USD", "LTC-USD", "ETH-USD")
    # XRP is not listed: charted for the regime, not shown; ADA moved most of the others
    assert request.candles == ("BTC-USD", "ETH-USD", "XRP-USD", "ADA-USD")
    assert request.charted == ("BTC-USD", "ETH-USD", "ADA-USD")
    assert request.regime == ("BTC-USD", "ETH-USD", "XRP-USD")
