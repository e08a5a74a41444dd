"""Round trips and wall time of one market snapshot against the fake Coinbase at 50 ms/request.

    .venv/bin/python bench/coinbase_roundtrips.py [--latency-ms 50] [--workers 8 64]

The snapshot driver does what the cycle does: stage 1 = products ‖ accounts ‖ fees,
stage 2 = quotes ‖ candles for the universe, concurrency from a thread pool in the
caller. "Sequential round trips" is the critical path: the longest chain of requests
where each one started only after the previous one had finished (from the fake's
request timestamps). The naive baseline asks one request per product per datum
(product, quote, candles), one after another.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from fake_coinbase import FakeCoinbase, Recorded  # noqa: E402
from fake_coinbase_env import START, RecordingSleep, build_exchange, throwaway_key  # noqa: E402
from wide_market import simulator  # noqa: E402

from trader.adapters.clock import SteppingClock  # noqa: E402
from trader.adapters.coinbase.exchange import CoinbaseExchange  # noqa: E402
from trader.adapters.coinbase.transport import RateLimiter  # noqa: E402
from trader.domain.config import SimulatorConfig  # noqa: E402

GRANULARITY = 300
LOOKBACK_BARS = 48


@dataclass(frozen=True)
class Row:
    universe: int
    variant: str
    workers: int
    requests: int
    round_trips: int
    wall_s: float


def critical_path(requests: list[Recorded]) -> int:
    """Longest chain of requests, each started after the previous one ended."""
    ordered = sorted(requests, key=lambda r: r.started)
    depth: list[int] = []
    for i, r in enumerate(ordered):
        before = [depth[j] for j in range(i) if ordered[j].ended <= r.started]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


def snapshot(exchange: CoinbaseExchange, pool: ThreadPoolExecutor, universe: int) -> None:
    """Stage 1: products ‖ accounts ‖ fees. Stage 2: quotes ‖ candles of the universe."""
    now = exchange._clock.now()  # the bench shares the adapter's clock
    products = pool.submit(exchange.list_products)
    balances = pool.submit(exchange.get_balances)
    fees = pool.submit(exchange.get_fee_rates)
    ids = [p.product_id for p in products.result()][:universe]
    balances.result()
    fees.result()
    start = now - timedelta(seconds=GRANULARITY * LOOKBACK_BARS)
    quotes = pool.submit(exchange.get_quotes, ids)
    candles = [pool.submit(exchange.get_candles, pid, GRANULARITY, start, now) for pid in ids]
    quotes.result()
    for future in candles:
        future.result()


def naive(exchange: CoinbaseExchange, universe: int) -> None:
    """One request per product per datum, sequentially: the baseline."""
    client = exchange._client
    now = exchange._clock.now()
    start = now - timedelta(seconds=GRANULARITY * LOOKBACK_BARS)
    ids = [f"P{i:03d}-USD" for i in range(universe)]
    client.get_accounts()
    client.get_transaction_summary()
    for pid in ids:
        client.get_product(pid)
        client.get_best_bid_ask(product_ids=[pid])
        client.get_candles(
            pid, str(int(start.timestamp())), str(int(now.timestamp())), "FIVE_MINUTE"
        )


def prepare_market(fake: FakeCoinbase, universe: int) -> None:
    """Let the synthetic market generate its bars before timing: server-side work."""
    now = fake.routes.clock.now()
    start = now - timedelta(seconds=GRANULARITY * (LOOKBACK_BARS + 1))
    for pid in [f"P{i:03d}-USD" for i in range(universe)]:
        fake.market.get_candles(pid, GRANULARITY, start, now + timedelta(seconds=GRANULARITY))
    fake.routes.products_now()


def measure(fake: FakeCoinbase, run) -> tuple[int, int, float]:
    fake.requests.clear()
    began = time.perf_counter()
    run()
    wall = time.perf_counter() - began
    return len(fake.requests), critical_path(fake.requests), wall


def bench_universe(n: int, latency_s: float, workers: list[int], limited: int) -> list[Row]:
    rows = []
    sim = simulator(n)
    for w in [*workers, limited]:
        rate = "limited" if w == limited else "unlimited"
        cold, warm, baseline = run_cycles(sim, n, latency_s, w, rate == "limited")
        rows.append(Row(n, f"cold, {rate}", w, *cold))
        rows.append(Row(n, f"warm, {rate}", w, *warm))
        if baseline is not None:
            rows.append(Row(n, "naive", 1, *baseline))
    return rows


def run_cycles(sim: SimulatorConfig, n: int, latency_s: float, workers: int, limited: bool):
    """A cold snapshot, then a warm one a bar later (and the naive baseline when unlimited)."""
    import responses

    clock = SteppingClock(START, GRANULARITY)
    fake = FakeCoinbase.from_config(sim, clock, latency_s=latency_s)
    # limited: the adapter's default budget for private calls (25/s, burst 25)
    limiter = RateLimiter(25.0, 25) if limited else RateLimiter.unlimited()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        exchange = build_exchange(
            clock, RecordingSleep(), max_workers=workers, rate_limiter=limiter
        )
        with ThreadPoolExecutor(max_workers=workers) as pool:
            prepare_market(fake, n)
            cold = measure(fake, partial(snapshot, exchange, pool, n))
            clock.advance()  # the next cycle, 5 minutes later: one new bar each
            prepare_market(fake, n)
            if limited:
                time.sleep(limiter.burst / limiter.rate)  # the bucket refills between cycles
            warm = measure(fake, partial(snapshot, exchange, pool, n))
        baseline = None
        if not limited and workers == 8:
            baseline = measure(fake, partial(naive, exchange, n))
    return cold, warm, baseline


def table(rows: list[Row], latency_ms: int) -> str:
    lines = [
        "| universe | variant | workers | requests | sequential round trips "
        f"| wall @ {latency_ms} ms |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.universe} | {r.variant} | {r.workers} | {r.requests} | {r.round_trips} "
        f"| {r.wall_s:.2f} s |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 128])
    parser.add_argument("--limited-workers", type=int, default=32)
    parser.add_argument("--universes", type=int, nargs="+", default=[10, 30, 100])
    args = parser.parse_args()
    throwaway_key()
    rows = [
        row
        for n in args.universes
        for row in bench_universe(n, args.latency_ms / 1000, args.workers, args.limited_workers)
    ]
    print(table(rows, args.latency_ms))


if __name__ == "__main__":
    main()
