"""One replay for counting instructions under valgrind (the count does not move with the
machine's load, as CPU seconds do on a shared box):

    for d in 1 3; do valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        .venv/bin/python bench/replay_instructions.py real $d 2>&1 | grep 'I *refs'; done

The difference of the two counts over the cycles between them (2 days: 192 real 15-minute
cycles, 576 synthetic 5-minute ones) is the instructions a cycle costs, loading and start-up
taken out. `synthetic` replays the bench's ten seeded products, written for 30 days.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import replay_speed as bench

REAL = ("BTC-USD", "ETH-USD", "SOL-USD")


def main(kind: str, days: int) -> None:
    if kind == "real":
        end = bench.REAL_START + timedelta(days=days)
        bench.timed_replay(bench.CANDLES, bench.EXAMPLE, bench.REAL_START, end, REAL, 0)
        return
    folder = Path(tempfile.mkdtemp(prefix="replay-instructions-"))
    try:
        bench.synthetic_candles(folder, bench.SYNTH_PRODUCTS, 30 * 288)
        config = folder / "synthetic.yaml"
        config.write_text(bench.SYNTH_CONFIG)
        start = bench.SYNTH_START + timedelta(days=1)
        bench.timed_replay(folder, config, start, start + timedelta(days=days), None, 0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("real", "synthetic"):
        sys.exit("usage: replay_instructions.py real|synthetic DAYS")
    main(sys.argv[1], int(sys.argv[2]))
