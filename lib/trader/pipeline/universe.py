"""The universe: products eligible to trade this cycle, with their tier, and why others are not."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass

from trader.domain.config import Tier, UniverseConfig
from trader.domain.copying import quick_init
from trader.domain.memo import PerObject
from trader.domain.models import Product, Quote


@quick_init
@dataclass(frozen=True, slots=True)
class Member:
    product: Product
    tier: Tier

    @property
    def product_id(self) -> str:
        return self.product.product_id


@quick_init
@dataclass(frozen=True, slots=True)
class Universe:
    members: tuple[Member, ...]
    excluded: dict[str, str]  # product id -> reason
    # The excluded ones kept out only by this cycle's quote (missing, invalid, spread too wide)
    momentary: frozenset[str] = frozenset()

    @property
    def product_ids(self) -> tuple[str, ...]:
        return tuple([m.product.product_id for m in self.members])

    def get(self, product_id: str) -> Member | None:
        for member in self.members:
            if member.product.product_id == product_id:
                return member
        return None


@dataclass(frozen=True, slots=True)
class _Tiers:
    """The config's tiers as lookups, worked out once per config."""

    by_product: dict[str, Tier]  # each product to the first tier naming it
    catch_all: Tier | None  # the first `match_all` tier
    rank: dict[str, int]  # tier name -> its place in the config


def _index(cfg: UniverseConfig) -> _Tiers:
    by_product: dict[str, Tier] = {}
    for tier in cfg.tiers:
        for product_id in tier.products:
            by_product.setdefault(product_id, tier)
    catch_all = next((t for t in cfg.tiers if t.match_all), None)
    return _Tiers(by_product, catch_all, {t.name: i for i, t in enumerate(cfg.tiers)})


_tiers = PerObject(_index)


def tier_for(product_id: str, cfg: UniverseConfig) -> Tier | None:
    """The first tier naming the product, else the first `match_all` tier."""
    tiers = _tiers(cfg)
    return tiers.by_product.get(product_id, tiers.catch_all)


def status_problem(product: Product, cfg: UniverseConfig) -> str | None:
    """The first status flag that keeps the product out of the universe, or None."""
    if product.status != "online":
        return f"status_{product.status}"
    if not _any_flag(product):
        return None  # the usual answer, without building the table (every product, twice a cycle)
    flags = {
        "disabled": product.disabled,
        "trading_disabled": product.trading_disabled,
        "cancel_only": product.cancel_only,
        "view_only": product.view_only,
        "auction_mode": product.auction_mode,
        "limit_only": product.limit_only and not cfg.filters.allow_limit_only,
        "post_only": product.post_only and not cfg.filters.allow_post_only,
    }
    return next((name for name, raised in flags.items() if raised), None)


def _any_flag(product: Product) -> bool:
    return (
        product.disabled
        or product.trading_disabled
        or product.cancel_only
        or product.view_only
        or product.auction_mode
        or product.limit_only
        or product.post_only
    )


def _exclusion(
    product: Product, cfg: UniverseConfig, quote_currency: str, tier: Tier | None
) -> str | None:
    """Why the product is no candidate, or None; `tier`: its tier (tier_for)."""
    if product.product_id in cfg.filters.exclude:
        return "excluded_by_config"
    if product.quote_currency != quote_currency:
        return f"quote_currency_{product.quote_currency}"
    problem = status_problem(product, cfg)
    if problem:
        return problem
    if tier is None:
        return "no_tier"
    min_volume = (
        tier.min_volume_24h_quote
        if tier.min_volume_24h_quote is not None
        else cfg.filters.min_volume_24h_quote
    )
    if product.volume_24h_quote < min_volume:
        return f"volume_24h {product.volume_24h_quote:.0f} < {min_volume:.0f}"
    return None


Ranking = tuple[tuple[Member, ...], dict[str, str]]


class _LastRanking:
    """The last products ranked, with the config and the answer: a cycle ranks the very same
    product objects twice (its scan, then its universe). Products are frozen values, so the
    same objects in the same order under the same config object rank the same."""

    def __init__(self) -> None:
        self.entry: tuple[tuple[Product, ...], UniverseConfig, str, Ranking] | None = None

    def get(
        self, listed: tuple[Product, ...], cfg: UniverseConfig, currency: str
    ) -> Ranking | None:
        entry = self.entry  # read once: another thread may store meanwhile
        if entry is None or entry[1] is not cfg or entry[2] != currency:
            return None
        known = entry[0]
        if len(known) != len(listed) or not all(map(operator.is_, known, listed)):
            return None
        ranked, excluded = entry[3]
        return ranked, dict(excluded)  # the caller may add to its copy


_LAST = _LastRanking()


def candidates(
    products: Mapping[str, Product], cfg: UniverseConfig, quote_currency: str
) -> Ranking:
    """Products that pass every filter that needs no quote, ranked by tier then 24h volume."""
    listed = tuple(products.values())
    known = _LAST.get(listed, cfg, quote_currency)
    if known is not None:
        return known
    ranked, excluded = _rank(listed, cfg, quote_currency)
    _LAST.entry = (listed, cfg, quote_currency, (ranked, dict(excluded)))
    return ranked, excluded


def _rank(listed: tuple[Product, ...], cfg: UniverseConfig, quote_currency: str) -> Ranking:
    tiers = _tiers(cfg)
    members: list[Member] = []
    excluded: dict[str, str] = {}
    for product in listed:
        tier = tiers.by_product.get(product.product_id, tiers.catch_all)
        reason = _exclusion(product, cfg, quote_currency, tier)
        if reason:
            excluded[product.product_id] = reason
            continue
        assert tier is not None  # _exclusion returned no_tier otherwise
        members.append(Member(product, tier))
    order = tiers.rank
    members.sort(key=lambda m: (order[m.tier.name], -m.product.volume_24h_quote, m.product_id))
    for dropped in members[cfg.max_products :]:
        excluded[dropped.product_id] = f"beyond_max_products {cfg.max_products}"
    return tuple(members[: cfg.max_products]), excluded


def build_universe(
    products: Mapping[str, Product],
    quotes: Mapping[str, Quote],
    cfg: UniverseConfig,
    quote_currency: str,
) -> Universe:
    """Candidates that also have a quote whose spread is within the limit."""
    ranked, excluded = candidates(products, cfg, quote_currency)
    members: list[Member] = []
    momentary: set[str] = set()
    for member in ranked:
        reason = _quote_exclusion(quotes.get(member.product_id), cfg)
        if reason is None:
            members.append(member)
        else:
            excluded[member.product_id] = reason
            momentary.add(member.product_id)
    return Universe(tuple(members), excluded, frozenset(momentary))


def _quote_exclusion(quote: Quote | None, cfg: UniverseConfig) -> str | None:
    """Why this cycle's quote keeps a candidate out (missing, invalid, spread), or None."""
    if quote is None or quote.bid <= 0 or quote.ask < quote.bid:
        return "no_valid_quote"
    if quote.spread_bps > cfg.filters.max_spread_bps:
        return f"spread {quote.spread_bps:.2f}bps > {cfg.filters.max_spread_bps}bps"
    return None
