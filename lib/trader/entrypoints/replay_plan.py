"""What a replay runs: which products, at which cycle times, and which cycles it skips.

Pure: it reads the candle files' bar times (unix seconds of each bar's start) and the config,
never the clock. Gaps are handled by skipping: a cycle whose just-closed bar is missing for
any replayed product is not run, as if the scheduler had missed it (no bar is invented), and
the plan counts the skipped cycles and the missing bars of each product.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from trader.domain.config import Config
from trader.domain.errors import ConfigError


class ReplayError(ConfigError):
    """A replay's input is unusable (dates, products, candle files); the message says which."""


@dataclass(frozen=True, slots=True)
class Candles:
    """One product's file, as the plan sees it."""

    granularity_s: int  # seconds per candle in the file
    starts: Sequence[int]  # bar start times, ascending, gaps absent


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    products: tuple[str, ...]
    interval_s: int  # seconds between cycles (cycle.interval_seconds)
    cycles: tuple[int, ...]  # unix times of the cycles to run, ascending
    skipped: tuple[int, ...]  # unix times of the cycles not run: a product's bar is missing
    missing_bars: dict[str, int]  # product -> bars missing between the first and last cycle

    @property
    def start(self) -> datetime:
        return _utc(self.cycles[0])

    @property
    def end(self) -> datetime:
        """The time after the last cycle (exclusive)."""
        return _utc(self.cycles[-1] + self.interval_s)


def parse_when(text: str, flag: str) -> datetime:
    """An ISO 8601 date or time as UTC (a time without an offset is read as UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ReplayError(
            f"{flag} {text!r} is not a date: use ISO 8601, e.g. 2024-08-01 or 2024-08-01T12:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def choose_products(
    asked: Sequence[str] | None, available: Sequence[str], config: Config
) -> tuple[str, ...]:
    """The products asked for, or the config's tier products found in the folder (every file
    when a tier matches all); the regime's reference product must be among them."""
    reference = config.regime.reference_product
    if asked:
        unknown = [p for p in asked if p not in available]
        if unknown:
            raise ReplayError(
                f"--products: no candle file for {', '.join(unknown)}; "
                f"the folder has {', '.join(available)}"
            )
        chosen = tuple(dict.fromkeys(asked))
    elif any(t.match_all for t in config.universe.tiers):
        chosen = tuple(available)
    else:
        named = {p for t in config.universe.tiers for p in t.products} | {reference}
        chosen = tuple(p for p in available if p in named)
    if reference not in chosen:
        where = "--products" if asked else "the candle folder"
        raise ReplayError(
            f"{where} lacks {reference}, the regime's reference product "
            f"(regime.reference_product): every cycle would stop as stale_market_data"
        )
    return chosen


def plan_replay(
    files: Mapping[str, Candles],
    config: Config,
    start: datetime | None = None,
    end: datetime | None = None,
    resume_after: datetime | None = None,
) -> ReplayPlan:
    """The cycles from `start` (default: once the lookback is filled) to `end` (exclusive;
    default: the last bar common to all products); `resume_after` is the last cycle already
    run (a resumed replay starts one interval later)."""
    grain = config.cycle.candle_granularity_seconds
    interval = config.cycle.interval_seconds
    _check_granularity(files, grain)
    lo, hi = _common_range(files, grain)
    first = _check_start(start, lo, files) if start else lo + config.cycle.lookback_bars * grain
    first = min(first, hi) if start is None else first
    if resume_after is not None:
        first = max(first, int(resume_after.timestamp()) + interval)
    last = _check_end(end, hi, interval, files) if end else hi + interval
    times = range(-(-first // interval) * interval, last, interval)
    if not times:
        raise ReplayError(_empty_window(first, last, resume_after))
    buckets = {pid: {t // grain * grain for t in f.starts} for pid, f in files.items()}
    skipped: list[int] = []
    missing: dict[str, set[int]] = {pid: set() for pid in files}
    for t in times:
        bar = t // grain * grain - grain  # the bar that closed last at time t
        gone = [pid for pid, seen in buckets.items() if bar not in seen]
        for pid in gone:
            missing[pid].add(bar)
        if gone:
            skipped.append(t)
    not_run = set(skipped)
    run = tuple(t for t in times if t not in not_run)
    if not run:
        raise ReplayError("every cycle of the window lacks a candle: nothing to replay")
    counts = {pid: len(bars) for pid, bars in missing.items()}
    return ReplayPlan(tuple(files), interval, run, tuple(skipped), counts)


def _check_granularity(files: Mapping[str, Candles], grain: int) -> None:
    for pid, f in files.items():
        if grain % f.granularity_s:
            raise ReplayError(
                f"{pid} has {f.granularity_s} s candles; the config's "
                f"cycle.candle_granularity_seconds {grain} is not a multiple of that: use a "
                f"config for {f.granularity_s} s bars (e.g. "
                "config/examples/replay-coinbase-15m.yaml for 15-minute files)"
            )


def _common_range(files: Mapping[str, Candles], grain: int) -> tuple[int, int]:
    """The first and last cycle time at which every product has a closed bar."""
    firsts = {pid: f.starts[0] for pid, f in files.items()}
    lasts = {pid: f.starts[-1] for pid, f in files.items()}
    lo = max(firsts.values()) // grain * grain + grain
    hi = min(lasts.values()) // grain * grain + grain
    if lo > hi:
        raise ReplayError(f"the candle files share no time range: {_ranges(files)}")
    return lo, hi


def _check_start(start: datetime, lo: int, files: Mapping[str, Candles]) -> int:
    t = int(start.timestamp())
    if t < lo:
        raise ReplayError(
            f"--start {_iso(t)} is before the first bar closed in every file ({_iso(lo)}): "
            f"{_ranges(files)}"
        )
    return t


def _check_end(end: datetime, hi: int, interval: int, files: Mapping[str, Candles]) -> int:
    t = int(end.timestamp())
    if t > hi + interval:
        raise ReplayError(
            f"--end {_iso(t)} is after the last bar common to every file closes "
            f"({_iso(hi)}): {_ranges(files)}"
        )
    return t


def _empty_window(first: int, last: int, resume_after: datetime | None) -> str:
    if resume_after is not None:
        last_run = _iso(int(resume_after.timestamp()))
        return f"nothing left to replay: the state's last cycle is {last_run}, the end {_iso(last)}"
    return f"--start {_iso(first)} is not before --end {_iso(last)}"


def _ranges(files: Mapping[str, Candles]) -> str:
    return "; ".join(
        f"{pid} {_iso(f.starts[0])} to {_iso(f.starts[-1])}" for pid, f in files.items()
    )


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _iso(t: int) -> str:
    return _utc(t).strftime("%Y-%m-%dT%H:%MZ")
