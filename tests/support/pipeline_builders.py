"""Small builders for the pure pipeline's inputs: products, quotes, candles, positions, fills.

Every builder has plain defaults so a test states only what it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trader.domain.config import Config, Tier, UniverseConfig, parse_config
from trader.domain.models import (
    Balance,
    Candle,
    FeeRates,
    Fill,
    Intent,
    MarketSnapshot,
    Position,
    Product,
    Proposal,
    Quote,
    Side,
    Signal,
)
from trader.pipeline.portfolio import Valuation
from trader.pipeline.universe import Member, Universe

D = Decimal
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)


def product(product_id: str = "BTC-USD", **changes: Any) -> Product:
    """A tradable product with round increments: 0.001 base, 0.01 quote, $10M a day."""
    base, quote = product_id.split("-")
    fields: dict[str, Any] = {
        "product_id": product_id,
        "base_currency": base,
        "quote_currency": quote,
        "base_increment": D("0.001"),
        "quote_increment": D("0.01"),
        "base_min_size": D("0.01"),
        "base_max_size": D(10_000),
        "quote_min_size": D(1),
        "quote_max_size": D(10_000_000),
        "price": D(100),
        "volume_24h_quote": D(10_000_000),
    }
    fields.update(changes)
    return Product(**fields)


def quote(
    product_id: str = "BTC-USD", bid: Decimal | str = "99.99", ask: Decimal | str = "100.01"
) -> Quote:
    return Quote(product_id, D(bid), D(ask), T0)


def candle(
    start: datetime,
    open_: Decimal | str | int,
    high: Decimal | str | int,
    low: Decimal | str | int,
    close: Decimal | str | int,
    volume: Decimal | str | int = 10,
) -> Candle:
    return Candle(start, D(open_), D(high), D(low), D(close), D(volume))


def bars(
    closes: Sequence[Decimal | str | int],
    volumes: Sequence[Decimal | str | int] | None = None,
    start: datetime = T0,
) -> tuple[Candle, ...]:
    """5-minute bars that open at the previous close (the first opens at its own close)."""
    out: list[Candle] = []
    previous = D(closes[0]) if closes else D(0)
    for i, raw in enumerate(closes):
        close = D(raw)
        volume = D(volumes[i]) if volumes is not None else D(10)
        out.append(
            Candle(
                start + i * FIVE_MINUTES,
                previous,
                max(previous, close),
                min(previous, close),
                close,
                volume,
            )
        )
        previous = close
    return tuple(out)


def moved_window(kind: str, a: int, b: int, lo: int, hi: int) -> tuple[int, int]:
    """The bounds [lo, hi) of a window handed over step by step, after one step: `next` moves
    on by one bar, `jump` goes to [min(a, b), max(a, b)), `gap` skips a % 5 bars; any other
    kind keeps them (the caller bounds them by its bars)."""
    if kind == "next":
        return lo + 1, hi + 1
    if kind == "jump":
        return min(a, b), max(a, b)
    if kind == "gap":
        return lo + a % 5, hi + a % 5
    return lo, hi


def position(
    product_id: str = "BTC-USD",
    size: Decimal | str | int = 1,
    entry: Decimal | str | int = 100,
    opened_at: datetime = T0,
    entry_fees: Decimal | str | int = 0,
    high_watermark: Decimal | str | int | None = None,
) -> Position:
    """A position whose high-water mark defaults to its entry price (trailing stop inactive)."""
    hw = D(entry) if high_watermark is None else D(high_watermark)
    return Position(product_id, D(size), D(entry), opened_at, D(entry_fees), hw)


def fill(
    fill_id: str,
    side: Side,
    price: Decimal | str | int,
    size: Decimal | str | int,
    fee: Decimal | str | int = 0,
    product_id: str = "BTC-USD",
    time: datetime = T0,
) -> Fill:
    return Fill(
        fill_id,
        f"order-{fill_id}",
        f"coid-{fill_id}",
        product_id,
        side,
        D(price),
        D(size),
        D(fee),
        time,
    )


def entry(
    product_id: str = "BTC-USD", quote_size: Decimal | str | int = 100, reason: str = "test"
) -> Proposal:
    return Proposal(product_id, Side.BUY, Intent.ENTRY, D(quote_size), None, reason)


def exit_(product_id: str = "BTC-USD", base_size: Decimal | str | int = 1) -> Proposal:
    return Proposal(product_id, Side.SELL, Intent.EXIT, None, D(base_size), "test exit")


def signal(product_id: str = "BTC-USD", kind: str = "momentum", strength: str = "0.5") -> Signal:
    return Signal(product_id, kind, D(strength), "test")


def tier(name: str = "core", pct: Decimal | str | int = 8, *products: str, **extra: Any) -> Tier:
    return Tier(name=name, products=products, position_size_pct=D(pct), **extra)


def universe_of(*members: tuple[Product, Tier]) -> Universe:
    return Universe(tuple(Member(p, t) for p, t in members), {})


def snapshot(
    products: Sequence[Product] = (),
    quotes: Sequence[Quote] = (),
    cash: Decimal | str | int = 10_000,
    candles: dict[str, tuple[Candle, ...]] | None = None,
    now: datetime = T0,
) -> MarketSnapshot:
    """A market at `now` with USD cash `cash` (all available) and 0.4/0.6 % fees."""
    return MarketSnapshot(
        as_of=now,
        products={p.product_id: p for p in products},
        quotes={q.product_id: q for q in quotes},
        candles=candles or {},
        balances={"USD": Balance("USD", D(cash))},
        fees=FeeRates(D("0.004"), D("0.006")),
    )


def valuation(
    cash: Decimal | str | int = 10_000,
    unrealized: Decimal | str | int = 0,
    **exposure: Decimal | str | int,
) -> Valuation:
    """Exposure keyword names use '_' for '-': valuation(9000, BTC_USD=1000)."""
    exposed = {k.replace("_", "-"): D(v) for k, v in exposure.items()}
    return Valuation(D(cash), exposed, D(unrealized))


MINIMAL_UNIVERSE: dict[str, Any] = {
    "tiers": [{"name": "core", "products": ["BTC-USD"], "position_size_pct": 8}]
}


def config(**sections: Any) -> Config:
    """A validated Config: the given sections over a one-tier universe."""
    raw: dict[str, Any] = {"universe": MINIMAL_UNIVERSE, **sections}
    return parse_config(raw)


def universe_config(**changes: Any) -> UniverseConfig:
    raw: dict[str, Any] = {**MINIMAL_UNIVERSE, **changes}
    return UniverseConfig.model_validate(raw)
