"""The universe: tiers, status flags, volume and spread filters, ranking, and why each is out."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_builders import product, quote, universe_config, universe_of

from trader.domain.config import Tier, UniverseConfig
from trader.domain.models import Product
from trader.pipeline.universe import (
    _quote_exclusion,
    _rank,
    build_universe,
    candidates,
    status_problem,
    tier_for,
)

D = Decimal
TIERS = [
    {"name": "core", "products": ["BTC-USD", "ETH-USD"], "position_size_pct": 8},
    {"name": "tier2", "products": ["SOL-USD"], "position_size_pct": 5},
    {
        "name": "rest",
        "match_all": True,
        "position_size_pct": 2,
        "min_volume_24h_quote": 20_000_000,
    },
]
CFG = universe_config(
    tiers=TIERS,
    max_products=50,
    filters={
        "min_volume_24h_quote": 5_000_000,
        "max_spread_bps": 40,
        "exclude": [],
        "allow_limit_only": True,
        "allow_post_only": False,
    },
)


def by_id(*products: Product) -> dict[str, Product]:
    return {p.product_id: p for p in products}


def excluded_reason(p: Product, cfg: UniverseConfig = CFG) -> str | None:
    _, excluded = candidates(by_id(p), cfg, "USD")
    return excluded.get(p.product_id)


def test_candidates_when_no_products_then_nothing_and_nothing_excluded() -> None:
    assert candidates({}, CFG, "USD") == ((), {})


def test_build_universe_when_no_products_then_empty() -> None:
    universe = build_universe({}, {}, CFG, "USD")
    assert universe.members == ()
    assert universe.excluded == {}


def test_tier_for_when_product_named_then_its_tier_else_the_match_all_tier() -> None:
    assert tier_for("ETH-USD", CFG).name == "core"
    assert tier_for("SOL-USD", CFG).name == "tier2"
    assert tier_for("DOGE-USD", CFG).name == "rest"


def test_candidates_when_no_tier_matches_then_excluded_no_tier() -> None:
    cfg = universe_config()  # one tier naming BTC-USD only, no match_all
    assert excluded_reason(product("DOGE-USD"), cfg) == "no_tier"


def test_candidates_when_excluded_in_config_then_excluded_by_config() -> None:
    cfg = CFG.model_copy(
        update={"filters": CFG.filters.model_copy(update={"exclude": ("BTC-USD",)})}
    )
    assert excluded_reason(product("BTC-USD"), cfg) == "excluded_by_config"


def test_candidates_when_other_quote_currency_then_named() -> None:
    assert excluded_reason(product("BTC-EUR")) == "quote_currency_EUR"


def test_candidates_when_status_not_online_then_status_named() -> None:
    assert excluded_reason(product(status="offline")) == "status_offline"


@pytest.mark.parametrize(
    "flag", ["disabled", "trading_disabled", "cancel_only", "view_only", "auction_mode"]
)
def test_candidates_when_status_flag_raised_then_excluded_with_the_flag_named(flag: str) -> None:
    assert excluded_reason(product(**{flag: True})) == flag


def test_candidates_when_limit_only_allowed_then_member_else_excluded() -> None:
    assert excluded_reason(product(limit_only=True)) is None
    strict = CFG.model_copy(
        update={"filters": CFG.filters.model_copy(update={"allow_limit_only": False})}
    )
    assert excluded_reason(product(limit_only=True), strict) == "limit_only"


def test_candidates_when_post_only_not_allowed_then_excluded_else_member() -> None:
    assert excluded_reason(product(post_only=True)) == "post_only"
    lax = CFG.model_copy(
        update={"filters": CFG.filters.model_copy(update={"allow_post_only": True})}
    )
    assert excluded_reason(product(post_only=True), lax) is None


def test_candidates_when_volume_below_global_minimum_then_excluded_with_numbers() -> None:
    # 4,999,999 < the global 5,000,000
    low = product("BTC-USD", volume_24h_quote=D(4_999_999))
    assert excluded_reason(low) == "volume_24h 4999999 < 5000000"
    assert excluded_reason(product("BTC-USD", volume_24h_quote=D(5_000_000))) is None


def test_candidates_when_tier_has_its_own_minimum_then_it_overrides_the_global_one() -> None:
    # 10M passes the global 5M but not the match_all tier's 20M
    assert (
        excluded_reason(product("DOGE-USD", volume_24h_quote=D(10_000_000)))
        == "volume_24h 10000000 < 20000000"
    )


def test_build_universe_when_product_disabled_mid_run_then_tradable_then_excluded() -> None:
    quotes = {"BTC-USD": quote()}
    first = build_universe(by_id(product()), quotes, CFG, "USD")
    second = build_universe(by_id(product(trading_disabled=True)), quotes, CFG, "USD")
    assert first.product_ids == ("BTC-USD",)
    assert second.product_ids == ()
    assert second.excluded == {"BTC-USD": "trading_disabled"}


def test_candidates_when_ranked_then_tier_order_then_volume_then_id() -> None:
    products = by_id(
        product("DOGE-USD", volume_24h_quote=D(90_000_000)),
        product("SOL-USD", volume_24h_quote=D(6_000_000)),
        product("ETH-USD", volume_24h_quote=D(7_000_000)),
        product("BTC-USD", volume_24h_quote=D(9_000_000)),
        product("ADA-USD", volume_24h_quote=D(90_000_000)),
    )
    ranked, excluded = candidates(products, CFG, "USD")
    # core by volume (BTC 9M, ETH 7M), then tier2, then rest: equal volume -> by id
    assert [m.product_id for m in ranked] == [
        "BTC-USD",
        "ETH-USD",
        "SOL-USD",
        "ADA-USD",
        "DOGE-USD",
    ]
    assert [m.tier.name for m in ranked] == ["core", "core", "tier2", "rest", "rest"]
    assert excluded == {}


def test_candidates_when_more_than_max_products_then_the_lowest_ranked_are_cut() -> None:
    cfg = CFG.model_copy(update={"max_products": 2})
    products = by_id(product("BTC-USD"), product("ETH-USD"), product("SOL-USD"))
    ranked, excluded = candidates(products, cfg, "USD")
    assert [m.product_id for m in ranked] == ["BTC-USD", "ETH-USD"]
    assert excluded == {"SOL-USD": "beyond_max_products 2"}


@pytest.mark.parametrize(
    ("bid", "ask"),
    [("0", "100"), ("-1", "100"), ("100.02", "100.01")],
    ids=["zero_bid", "negative_bid", "crossed"],
)
def test_build_universe_when_quote_invalid_then_no_valid_quote(bid: str, ask: str) -> None:
    universe = build_universe(by_id(product()), {"BTC-USD": quote(bid=bid, ask=ask)}, CFG, "USD")
    assert universe.excluded == {"BTC-USD": "no_valid_quote"}


def test_build_universe_when_quote_missing_then_no_valid_quote() -> None:
    assert build_universe(by_id(product()), {}, CFG, "USD").excluded == {
        "BTC-USD": "no_valid_quote"
    }


def test_build_universe_when_spread_exactly_at_limit_then_member() -> None:
    # mid (99.8 + 100.2) / 2 = 100; spread 0.4 / 100 * 10,000 = 40 bps = the limit
    universe = build_universe(
        by_id(product()), {"BTC-USD": quote(bid="99.8", ask="100.2")}, CFG, "USD"
    )
    assert universe.product_ids == ("BTC-USD",)
    assert universe.get("BTC-USD").tier.name == "core"


def test_build_universe_when_spread_just_over_limit_then_excluded_with_numbers() -> None:
    # mid 100; spread 0.4002 / 100 * 10,000 = 40.02 bps > 40
    universe = build_universe(
        by_id(product()), {"BTC-USD": quote(bid="99.7999", ask="100.2001")}, CFG, "USD"
    )
    assert universe.members == ()
    assert universe.get("BTC-USD") is None
    assert universe.excluded == {"BTC-USD": "spread 40.02bps > 40bps"}


def test_build_universe_when_bid_equals_ask_then_member() -> None:
    universe = build_universe(
        by_id(product()), {"BTC-USD": quote(bid="100", ask="100")}, CFG, "USD"
    )
    assert universe.product_ids == ("BTC-USD",)


def test_build_universe_when_only_the_quote_keeps_a_product_out_then_it_is_momentary() -> None:
    # ETH: spread 0.6 / 100 * 10,000 = 60 bps > 40; SOL: no quote; DOGE: volume 10M < 20M (rest)
    products = by_id(product("ETH-USD"), product("SOL-USD"), product("DOGE-USD"))
    quotes = {"ETH-USD": quote("ETH-USD", bid="99.7", ask="100.3")}
    universe = build_universe(products, quotes, CFG, "USD")
    assert universe.excluded == {
        "DOGE-USD": "volume_24h 10000000 < 20000000",
        "ETH-USD": "spread 60.00bps > 40bps",
        "SOL-USD": "no_valid_quote",
    }
    assert universe.momentary == {"ETH-USD", "SOL-USD"}


def reference_tier_for(product_id: str, cfg: UniverseConfig) -> Tier | None:
    """tier_for as it was before its lookups were worked out once per config (06768cb)."""
    for tier in cfg.tiers:
        if product_id in tier.products:
            return tier
    return next((t for t in cfg.tiers if t.match_all), None)


PIDS = ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "ADA-USD"]


@st.composite
def tier_configs(draw: st.DrawFn) -> UniverseConfig:
    """Up to four tiers naming disjoint products, at most one of them match_all."""
    owner = draw(st.lists(st.integers(-1, 3), min_size=len(PIDS), max_size=len(PIDS)))
    count = draw(st.integers(1, 4))
    catch_all = draw(st.one_of(st.none(), st.integers(0, count - 1)))
    tiers = [
        {
            "name": f"t{i}",
            "products": [p for p, o in zip(PIDS, owner, strict=True) if o == i],
            "match_all": i == catch_all,
            "position_size_pct": 1,
        }
        for i in range(count)
    ]
    return universe_config(tiers=tiers)


@settings(max_examples=60, deadline=None)
@given(cfg=tier_configs(), product_id=st.sampled_from([*PIDS, "XRP-USD"]))
def test_tier_for_when_any_tiers_then_what_reading_them_in_order_gives(
    cfg: UniverseConfig, product_id: str
) -> None:
    assert tier_for(product_id, cfg) is reference_tier_for(product_id, cfg)
    # the same tiers in a config read again (a new object) answer from that config
    again = UniverseConfig.model_validate(cfg.model_dump())
    assert tier_for(product_id, again) == reference_tier_for(product_id, again)
    assert tier_for(product_id, again) is reference_tier_for(product_id, again)


def test_tier_for_when_the_config_changes_then_the_new_tiers_answer() -> None:
    moved = CFG.model_copy(update={"tiers": (CFG.tiers[1], CFG.tiers[0], CFG.tiers[2])})
    assert tier_for("SOL-USD", CFG).name == "tier2"
    assert tier_for("BTC-USD", moved).name == "core"
    ranked, _ = candidates(by_id(product("SOL-USD"), product("BTC-USD")), moved, "USD")
    assert [m.product_id for m in ranked] == ["SOL-USD", "BTC-USD"]  # tier2 now ranks first
    ranked, _ = candidates(by_id(product("SOL-USD"), product("BTC-USD")), CFG, "USD")
    assert [m.product_id for m in ranked] == ["BTC-USD", "SOL-USD"]


# Products as a snapshot lists them: a few ids, each as several objects, some equal but spelt
# otherwise (20000000 and 2.0E+7 compare equal; the audit prints them differently).
VOLUMES = ["20000000", "2.0E+7", "4000000", "30000000"]
LISTED = [
    product(pid, volume_24h_quote=D(v), status=s)
    for pid in ["BTC-USD", "SOL-USD", "DOGE-USD", "ADA-EUR"]
    for v in VOLUMES
    for s in ["online", "offline"]
]
SMALL = CFG.model_copy(update={"max_products": 2})


@settings(max_examples=80, deadline=None)
@given(
    calls=st.lists(
        st.tuples(
            st.lists(st.sampled_from(LISTED), max_size=5),
            st.sampled_from([CFG, SMALL]),
            st.sampled_from(["USD", "EUR"]),
            st.booleans(),  # the same mapping again, as the cycle's universe reads its scan's
        ),
        min_size=1,
        max_size=8,
    )
)
def test_candidates_when_ranked_again_then_what_ranking_afresh_gives(calls) -> None:
    previous = None
    for chosen, cfg, currency, again in calls:
        products = previous if again and previous is not None else by_id(*chosen)
        ranked, excluded = candidates(products, cfg, currency)
        fresh_ranked, fresh_excluded = _rank(tuple(products.values()), cfg, currency)
        assert (ranked, excluded) == (fresh_ranked, fresh_excluded)
        # the very objects given (equal ones may be spelt otherwise)
        assert all(m.product is products[m.product_id] for m in ranked)
        excluded["spoilt"] = "by the caller"  # build_universe adds to its copy
        previous = products


def test_candidates_when_equal_products_spelt_otherwise_then_ranks_the_objects_given() -> None:
    before = product("BTC-USD", volume_24h_quote=D("20000000"))
    now = product("BTC-USD", volume_24h_quote=D("2.0E+7"))
    assert before == now  # equal values, other digits

    candidates(by_id(before), CFG, "USD")
    ranked, _ = candidates(by_id(now), CFG, "USD")

    assert ranked[0].product is now


def test_candidates_when_the_same_products_under_another_config_then_ranked_under_it() -> None:
    products = by_id(product("BTC-USD"), product("ETH-USD"), product("SOL-USD"))
    assert len(candidates(products, CFG, "USD")[0]) == 3
    ranked, excluded = candidates(products, SMALL, "USD")
    assert [m.product_id for m in ranked] == ["BTC-USD", "ETH-USD"]
    assert excluded == {"SOL-USD": "beyond_max_products 2"}


def test_universe_when_several_members_then_ids_in_order_and_each_found_by_its_id() -> None:
    core = Tier(name="core", position_size_pct=Decimal(8))
    rest = Tier(name="rest", position_size_pct=Decimal(4))
    ids = ("SOL-USD", "BTC-USD", "ETH-USD")
    universe = universe_of(*((product(pid), core if pid == "BTC-USD" else rest) for pid in ids))
    assert universe.product_ids == ids
    for pid in ids:
        member = universe.get(pid)
        assert member is not None and member.product_id == pid
    assert universe.get("BTC-USD").tier is core
    assert universe.get("DOGE-USD") is None


def reference_rank(listed: tuple[Product, ...], cfg: UniverseConfig, currency: str):
    """_rank as it was before it read the config's values once per config (e3a407a)."""
    members, excluded = [], {}
    for p in listed:
        tier = reference_tier_for(p.product_id, cfg)
        if p.product_id in cfg.filters.exclude:
            reason = "excluded_by_config"
        elif p.quote_currency != currency:
            reason = f"quote_currency_{p.quote_currency}"
        elif status_problem(p, cfg):
            reason = status_problem(p, cfg)
        elif tier is None:
            reason = "no_tier"
        else:
            floor = tier.min_volume_24h_quote
            floor = floor if floor is not None else cfg.filters.min_volume_24h_quote
            below = p.volume_24h_quote < floor
            reason = f"volume_24h {p.volume_24h_quote:.0f} < {floor:.0f}" if below else None
        if reason:
            excluded[p.product_id] = reason
        else:
            members.append((p, tier))
    place = {t.name: i for i, t in enumerate(cfg.tiers)}
    members.sort(key=lambda m: (place[m[1].name], -m[0].volume_24h_quote, m[0].product_id))
    for p, _ in members[cfg.max_products :]:
        excluded[p.product_id] = f"beyond_max_products {cfg.max_products}"
    return [(p.product_id, t.name) for p, t in members[: cfg.max_products]], excluded


RANKED = ["BTC-USD", "SOL-USD", "DOGE-USD", "ADA-USD"]
OFFERED = [
    *(product(pid, volume_24h_quote=D(v)) for pid in RANKED for v in VOLUMES),
    product("ETH-USD", status="offline"),
    product("ETH-EUR"),
]
FLOORS = [D(0), D(4_000_000), D("2.0E+7"), D(25_000_000)]


@st.composite
def ranking_configs(draw: st.DrawFn) -> UniverseConfig:
    """One to three tiers over RANKED, the last maybe match_all, each with its own volume
    floor or none; the filters' floor, exclusions and product limit varied."""
    count = draw(st.integers(1, 3))
    owner = draw(st.lists(st.integers(-1, count - 1), min_size=len(RANKED), max_size=len(RANKED)))
    tiers = [
        {
            "name": f"t{i}",
            "products": [p for p, o in zip(RANKED, owner, strict=True) if o == i],
            "match_all": i == count - 1 and draw(st.booleans()),
            "position_size_pct": 1,
            "min_volume_24h_quote": draw(st.none() | st.sampled_from(FLOORS)),
        }
        for i in range(count)
    ]
    filters = {
        "min_volume_24h_quote": draw(st.sampled_from(FLOORS)),
        "exclude": draw(st.lists(st.sampled_from(RANKED), max_size=1)),
    }
    return universe_config(tiers=tiers, filters=filters, max_products=draw(st.integers(1, 4)))


@settings(max_examples=200, deadline=None)
@given(
    cfg=ranking_configs(),
    listed=st.lists(st.sampled_from(OFFERED), max_size=6),
    currency=st.sampled_from(["USD", "EUR"]),
)
def test_rank_when_any_config_and_products_then_what_reading_the_config_each_time_gives(
    cfg: UniverseConfig, listed: list[Product], currency: str
) -> None:
    products = by_id(*listed)
    ranked, excluded = _rank(tuple(products.values()), cfg, currency)
    expected = reference_rank(tuple(products.values()), cfg, currency)
    assert ([(m.product_id, m.tier.name) for m in ranked], excluded) == expected


QUOTED = st.decimals(min_value=D("0.00000001"), max_value=D(100_000), places=8)


@settings(max_examples=300)
@given(
    bid=QUOTED,
    wider=QUOTED,
    nudge=st.sampled_from(["-0.01", "0", "0", "0.01"]),
    precision=st.sampled_from([28, 6]),  # 6: every step rounds, as a context may make it
)
def test_quote_exclusion_when_any_quote_then_what_the_quotes_own_spread_says(
    bid: Decimal, wider: Decimal, nudge: str, precision: int
) -> None:
    """The spread worked out inline is the quote's spread_bps, at and around the limit."""
    held = quote(bid=str(bid), ask=str(bid + wider))
    with localcontext() as ctx:
        ctx.prec = precision
        limit = held.spread_bps + D(nudge)  # at the very spread, a hair under or over it
        over = held.spread_bps > limit
        expected = f"spread {held.spread_bps:.2f}bps > {limit}bps" if over else None
        assert _quote_exclusion(held, limit) == expected
