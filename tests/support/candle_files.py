"""Small candle CSV folders for replay and report tests: a seeded walk per product, with
the gaps a test asks for (bars left out, as the real files have them)."""

from __future__ import annotations

import random
from collections.abc import Collection
from decimal import Decimal
from pathlib import Path

import yaml
from scripted_market import with_rig_trading

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "replay-coinbase-15m.yaml"
HEADER = "time,open,high,low,close,volume\n"


def walk_rows(
    start: int, bars: int, grain: int, price: float, seed: int, step_pct: float = 0.4
) -> list[str]:
    """`bars` rows from unix time `start`: each close a seeded step of up to `step_pct` % from
    the last, open = the previous close, high/low around them, prices to the cent."""
    rng = random.Random(seed)
    rows = []
    close = Decimal(str(price))
    for i in range(bars):
        opened = close
        close = (opened * Decimal(str(1 + rng.uniform(-step_pct, step_pct) / 100))).quantize(
            Decimal("0.01")
        )
        high = max(opened, close) + Decimal("0.05")
        low = min(opened, close) - Decimal("0.05")
        volume = Decimal(rng.randint(50, 150))
        rows.append(f"{start + i * grain},{opened},{high},{low},{close},{volume}\n")
    return rows


def write_candles(
    folder: Path,
    product_id: str,
    start: int,
    bars: int,
    grain: int = 900,
    price: float = 100.0,
    seed: int = 1,
    gaps: Collection[int] = (),
) -> Path:
    """`<product>_<grain>_test.csv` in `folder`, without the bars whose index is in `gaps`."""
    rows = walk_rows(start, bars, grain, price, seed)
    label = f"{grain // 60}m" if grain % 3600 else f"{grain // 3600}h"
    path = folder / f"{product_id}_{label}_test.csv"
    path.write_text(HEADER + "".join(r for i, r in enumerate(rows) if i not in set(gaps)))
    return path


def rig_replay_config(folder: Path) -> Path:
    """config/examples/replay-coinbase-15m.yaml with the rigs' trading settings over it
    (scripted_market.RIG_TRADING: short triggers, every regime sized, no edge check, no
    cooldown after exits) and a 48-bar lookback on its 15-minute bars, written to `folder`:
    a two-day walk trades under it, which the tuned example (200 bars, slow triggers) never
    would. For tests of the replay's mechanics, not of the strategy."""
    raw = with_rig_trading(EXAMPLE)
    raw["cycle"].update(candle_granularity_seconds=900, lookback_bars=48)
    path = folder / "rig-replay.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path
