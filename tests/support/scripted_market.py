"""A hand-written market for cycle tests: candles you script, quotes from the last close."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from trader.domain.config import DEFAULT_CONFIG_PATH, Config, parse_config
from trader.domain.models import Candle, Product, Quote
from trader.ports import Clock

BAR = timedelta(minutes=5)


def product(pid: str, **overrides: Any) -> Product:
    base, quote = pid.split("-")
    values: dict[str, Any] = {
        "product_id": pid,
        "base_currency": base,
        "quote_currency": quote,
        "base_increment": Decimal("0.0001"),
        "quote_increment": Decimal("0.01"),
        "base_min_size": Decimal("0.001"),
        "base_max_size": Decimal(1_000_000),
        "quote_min_size": Decimal(1),
        "quote_max_size": Decimal(10_000_000),
        "price": Decimal(100),
        "volume_24h_quote": Decimal(100_000_000),
    }
    values.update(overrides)
    return Product(**values)


def series(
    end: datetime, closes: Sequence[Decimal | int | str], volume: Decimal = Decimal(10)
) -> list[Candle]:
    """Closed 5-minute bars whose last one ends at `end`; each opens at the previous close."""
    bars: list[Candle] = []
    start = end - BAR * len(closes)
    previous = Decimal(str(closes[0]))
    for i, close in enumerate(closes):
        c = Decimal(str(close))
        bars.append(
            Candle(start + BAR * i, previous, max(previous, c), min(previous, c), c, volume)
        )
        previous = c
    return bars


def rising(end: datetime, start_price: Decimal, step_pct: Decimal, n: int) -> list[Candle]:
    """n bars, each closing `step_pct` % above the one before."""
    closes = [start_price * (1 + step_pct / 100) ** i for i in range(n)]
    return series(end, [c.quantize(Decimal("0.01")) for c in closes])


@dataclass
class ScriptedMarket:
    """MarketData with fixed products and candles; quotes sit `spread_bps` around the last close."""

    clock: Clock
    products: dict[str, Product]
    candles: dict[str, list[Candle]] = field(default_factory=dict)
    spread_bps: Decimal = Decimal(2)
    quote_age: timedelta = timedelta(0)
    quote_ages: dict[str, timedelta] = field(default_factory=dict)  # per product, overrides

    def list_products(self) -> Sequence[Product]:
        return [
            replace(p, price=self._last(p.product_id) or p.price) for p in self.products.values()
        ]

    def get_quotes(self, product_ids: Sequence[str]) -> Mapping[str, Quote]:
        quotes = {}
        for pid in product_ids:
            last = self._last(pid)
            if last is None:
                continue
            half = last * self.spread_bps / 20_000
            age = self.quote_ages.get(pid, self.quote_age)
            quotes[pid] = Quote(pid, last - half, last + half, self.clock.now() - age)
        return quotes

    def get_candles(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        now = self.clock.now()
        return [
            c
            for c in self.candles.get(product_id, [])
            if start <= c.start < end and c.start + BAR <= now
        ]

    def _last(self, pid: str) -> Decimal | None:
        bars = [c for c in self.candles.get(pid, []) if c.start + BAR <= self.clock.now()]
        return bars[-1].close if bars else None


def tweak(config: Config, **sections: dict[str, Any]) -> Config:
    """A copy of `config` with fields of named sections replaced, e.g. tweak(c, risk={...})."""
    updates = {
        name: getattr(config, name).model_copy(update=values) for name, values in sections.items()
    }
    return config.model_copy(update=updates)


# The rigs script 48 five-minute bars (SOL rising 0.3 % a bar) and test the cycle's mechanics:
# their trades come from the trading settings below (the defaults before issue 11), pinned
# here, since lib/trader/default.yaml's slow, fee-aware defaults (15-minute bars, a day's
# momentum, the edge check) would never trade on them. Tests of those defaults switch them
# back on (test_cycle_entry_guards).
RIG_TRADING: dict[str, dict[str, Any]] = {
    "cycle": {"candle_granularity_seconds": 300, "lookback_bars": 48},
    "triggers": {
        "volume_spike": {"enabled": True, "lookback_bars": 20, "min_ratio": 3},
        "breakout": {"enabled": True, "lookback_bars": 24, "min_margin_pct": "0.1"},
        "momentum": {"lookback_bars": 12, "min_return_pct": 1, "full_strength_return_pct": 4},
    },
    "rules": {
        "regime_size_multiplier": {
            "trending_up": 1,
            "choppy": "0.5",
            "volatile": "0.5",
            "trending_down": "0.25",
            "crash": 0,
            "unknown": "0.5",
        }
    },
    "risk": {"cooldown_minutes_after_exit": 0},
    "exits": {
        "stop_loss_pct": 3,
        "take_profit_pct": 6,
        "trailing_stop_pct": 2,
        "trailing_arm_pct": 0,
        "max_holding_hours": 48,
    },
    "edge": {"enabled": False},
}


def with_rig_trading(path: Path) -> dict[str, Any]:
    """The config file at `path`, as YAML data, with RIG_TRADING's fields over its own."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, fields in RIG_TRADING.items():
        raw[section] = {**raw.get(section, {}), **fields}
    return raw


def default_config() -> Config:
    """lib/trader/default.yaml with the rigs' trading settings (RIG_TRADING) over it."""
    raw = with_rig_trading(DEFAULT_CONFIG_PATH)
    return parse_config(raw, source=f"{DEFAULT_CONFIG_PATH.name} + RIG_TRADING")
