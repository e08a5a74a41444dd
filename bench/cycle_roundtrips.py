"""Round trips and wall time of whole trading cycles against the fake Coinbase at 50 ms/request.

    .venv/bin/python bench/cycle_roundtrips.py [--latency-ms 50] [--universes 10 30 100]

Unlike coinbase_roundtrips.py (a hand-written snapshot driver), this runs `run_cycle`
itself — lock, load, reconcile, snapshot with the bounded candle scan, decide, place,
confirm, save, audit — with the adapter's real rate limiter (25 requests/s), in LIVE
mode on an authenticated key. "Sequential round trips" is the critical path through the
fake's request log (see coinbase_roundtrips.critical_path). The naive baseline asks one
request per product per datum, one after another.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "bench"))

import responses  # noqa: E402
from coinbase_roundtrips import critical_path, naive, prepare_market  # noqa: E402
from fake_coinbase import FakeCoinbase  # noqa: E402
from fake_coinbase_env import START, RecordingSleep, build_exchange, throwaway_key  # noqa: E402
from wide_market import config_for  # noqa: E402

from trader.adapters.clock import SteppingClock  # noqa: E402
from trader.adapters.memory import (  # noqa: E402
    InMemoryCycleLock,
    InMemoryStateStore,
    ListAuditSink,
)
from trader.adapters.sim.paper import SimulatedPaperAccounts  # noqa: E402
from trader.domain.ids import cycle_id_for  # noqa: E402
from trader.domain.models import Mode  # noqa: E402
from trader.service.cycle import CycleDeps, CycleRequest, run_cycle  # noqa: E402

GRANULARITY = 300


@dataclass(frozen=True)
class Row:
    universe: int
    variant: str
    requests: int
    round_trips: int
    wall_s: float
    orders: int


def one_cycle(
    fake: FakeCoinbase, deps: CycleDeps, clock: SteppingClock
) -> tuple[int, int, float, int]:
    fake.requests.clear()
    began = time.perf_counter()
    result = run_cycle(
        deps, CycleRequest(cycle_id_for(clock.now(), GRANULARITY), Mode.LIVE, "bench")
    )
    wall = time.perf_counter() - began
    if result.record.get("exception"):
        raise SystemExit(f"cycle failed: {result.record['exception']}")
    return len(fake.requests), critical_path(fake.requests), wall, len(result.orders)


def bench_universe(n: int, latency_s: float) -> list[Row]:
    config = config_for(n)
    clock = SteppingClock(START, GRANULARITY)
    fake = FakeCoinbase.from_config(config.simulator, clock, latency_s=latency_s)
    # Coinbase pages accounts at up to 250 (the adapter asks for 250); the fake's default of 49
    # exists to exercise pagination in tests. Each page is one more sequential round trip.
    fake.routes.accounts_page_size = 250
    rows = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        exchange = build_exchange(clock, RecordingSleep(), max_workers=config.cycle.request_threads)
        deps = CycleDeps(
            config,
            exchange,
            InMemoryStateStore(),
            InMemoryCycleLock(),
            ListAuditSink(),
            clock,
            SimulatedPaperAccounts(config, clock),
            sleep=lambda _s: None,
        )
        prepare_market(fake, n)
        rows.append(Row(n, "cold cycle", *one_cycle(fake, deps, clock)))
        for label in ("warm cycle", "warm cycle"):
            clock.advance()
            prepare_market(fake, n)
            time.sleep(1.0)  # the 25/s bucket refills between cycles, as 5 minutes would
            rows.append(Row(n, label, *one_cycle(fake, deps, clock)))
        fake.requests.clear()
        began = time.perf_counter()
        naive(exchange, n)
        rows.append(
            Row(
                n,
                "naive baseline",
                len(fake.requests),
                critical_path(fake.requests),
                time.perf_counter() - began,
                0,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--universes", type=int, nargs="+", default=[10, 30, 100])
    args = parser.parse_args()
    throwaway_key()
    head = "| universe | cycle | requests | sequential round trips | wall @ {} ms | orders |"
    print(head.format(args.latency_ms))
    print("|---:|---|---:|---:|---:|---:|")
    for n in args.universes:
        for r in bench_universe(n, args.latency_ms / 1000):
            cells = (
                r.universe,
                r.variant,
                r.requests,
                r.round_trips,
                f"{r.wall_s:.2f} s",
                r.orders,
            )
            print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
