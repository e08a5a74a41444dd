"""The unchanged cycle over real Coinbase candles (skipped when ../shared is absent)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from trader.adapters.clock import SteppingClock
from trader.bootstrap import LocalPaths, local_deps
from trader.domain.config import load_config
from trader.domain.ids import cycle_id_for
from trader.domain.models import Mode
from trader.service.cycle import CycleRequest, run_cycle
from trader.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CANDLES = REPO.parent / "shared" / "data" / "candles"
EXAMPLE = REPO / "config" / "examples" / "replay-coinbase-15m.yaml"

pytestmark = pytest.mark.skipif(
    not (CANDLES / "BTC-USD_15m_coinbase.csv").exists(),
    reason=f"real candles not found at {CANDLES} (../shared is absent)",
)


def test_replay_when_btc_crashes_on_2024_08_05_then_regime_is_crash_and_no_entry_is_made(
    tmp_path: Path,
) -> None:
    config = load_config(EXAMPLE)
    settings = Settings(exchange="simulated", sim_candles_dir=CANDLES, trading_mode=Mode.PAPER)
    # From noon on 4 August 2024 to noon on 5 August: BTC fell from about 58k to a 49,050 low.
    clock = SteppingClock(datetime(2024, 8, 4, 12, 0, tzinfo=UTC), 900)
    deps = local_deps(settings, config, clock, LocalPaths(tmp_path / "data", tmp_path / "logs"))

    results = []
    for _ in range(96):
        clock.advance()
        results.append(
            run_cycle(deps, CycleRequest(cycle_id_for(clock.now(), 900), Mode.PAPER, "t"))
        )

    assert all(r.record["exception"] is None for r in results)
    crash_cycles = [r for r in results if r.regime == "crash"]
    assert crash_cycles, "a 15 % fall within 12 hours must read as a crash"
    entries_in_crash = [o for r in crash_cycles for o in r.orders if o.intent.value == "ENTRY"]
    assert entries_in_crash == []  # rules.regime_size_multiplier.crash is 0
    assert [r.cycle_id for r in results] == sorted({r.cycle_id for r in results})
