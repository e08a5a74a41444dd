"""The universe: products eligible to trade this cycle, with their tier, and why others are not."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from trader.domain.config import Tier, UniverseConfig
from trader.domain.copying import quick_init
from trader.domain.memo import PerObject
from trader.domain.models import Product, Quote
from trader.domain.money import BPS, ZERO

TWO = Decimal(2)  # (bid + ask) / TWO: the value `/ 2` gives, without converting the int


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
class _Place:
    """A tier as the ranking reads it for every product (config values read once)."""

    tier: Tier
    rank: int  # the tier's place in the config
    min_volume: Decimal  # the tier's 24h volume floor, else the filters'


@dataclass(frozen=True, slots=True)
class _Tiers:
    """The config's tiers as lookups, worked out once per config."""

    by_product: dict[str, Tier]  # each product to the first tier naming it
    catch_all: Tier | None  # the first `match_all` tier
    places: dict[str, _Place]  # by_product's tiers, placed
    catch_all_place: _Place | None
    exclude: frozenset[str]  # filters.exclude


def _index(cfg: UniverseConfig) -> _Tiers:
    by_product: dict[str, Tier] = {}
    for tier in cfg.tiers:
        for product_id in tier.products:
            by_product.setdefault(product_id, tier)
    catch_all = next((t for t in cfg.tiers if t.match_all), None)
    floor = cfg.filters.min_volume_24h_quote
    placed = {
        t.name: _Place(
            t, i, t.min_volume_24h_quote if t.min_volume_24h_quote is not None else floor
        )
        for i, t in enumerate(cfg.tiers)
    }
    places = {pid: placed[tier.name] for pid, tier in by_product.items()}
    catch_all_place = placed[catch_all.name] if catch_all is not None else None
    exclude = frozenset(cfg.filters.exclude)
    return _Tiers(by_product, catch_all, places, catch_all_place, exclude)


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
    product: Product, cfg: UniverseConfig, quote_currency: str, tiers: _Tiers, place: _Place | None
) -> str | None:
    """Why the product is no candidate, or None; `place`: its tier's (tier_for)."""
    if product.product_id in tiers.exclude:
        return "excluded_by_config"
    if product.quote_currency != quote_currency:
        return f"quote_currency_{product.quote_currency}"
    if product.status != "online" or _any_flag(product):  # else status_problem says None
        problem = status_problem(product, cfg)
        if problem:
            return problem
    if place is None:
        return "no_tier"
    min_volume = place.min_volume
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
    ranks: list[tuple[int, Decimal, str]] = []  # each member's place: tier, volume, id
    for product in listed:
        place = tiers.places.get(product.product_id, tiers.catch_all_place)
        if (  # what _exclusion asks first, inline: most products pass without its call
            place is None
            or product.product_id in tiers.exclude
            or product.quote_currency != quote_currency
            or product.status != "online"
            or _any_flag(product)
            or product.volume_24h_quote < place.min_volume
        ) and (reason := _exclusion(product, cfg, quote_currency, tiers, place)):
            excluded[product.product_id] = reason
            continue
        assert place is not None  # _exclusion returned no_tier otherwise
        members.append(Member(product, place.tier))
        ranks.append((place.rank, -product.volume_24h_quote, product.product_id))
    # Sorted by the places made above (stable, as sorting the members by them would be)
    members = [members[i] for i in sorted(range(len(members)), key=ranks.__getitem__)]
    most = cfg.max_products
    for dropped in members[most:]:
        excluded[dropped.product_id] = f"beyond_max_products {most}"
    return tuple(members[:most]), excluded


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
    max_spread_bps = cfg.filters.max_spread_bps  # read once, not for every member
    for member in ranked:
        product_id = member.product.product_id
        reason = _quote_exclusion(quotes.get(product_id), max_spread_bps)
        if reason is None:
            members.append(member)
        else:
            excluded[product_id] = reason
            momentary.add(product_id)
    return Universe(tuple(members), excluded, frozenset(momentary))


def _quote_exclusion(quote: Quote | None, max_spread_bps: Decimal) -> str | None:
    """Why this cycle's quote keeps a candidate out (missing, invalid, spread), or None."""
    if quote is None or quote.bid <= ZERO or quote.ask < quote.bid:
        return "no_valid_quote"
    bid, ask = quote.bid, quote.ask
    spread = (ask - bid) / ((bid + ask) / TWO) * BPS  # quote.spread_bps (mid > 0 here), inline
    if spread > max_spread_bps:
        return f"spread {spread:.2f}bps > {max_spread_bps}bps"
    return None
