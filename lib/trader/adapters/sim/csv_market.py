"""Candle CSV files as `MarketData`: real history for replays and the simulated exchange.

Format (see ../shared/data/candles/README.md): header `time,open,high,low,close,volume`, unix
seconds of the candle start, strictly increasing. The product id is the file name up to the
first `_` (`BTC-USD_15m_coinbase.csv` -> `BTC-USD`). Files are read lazily, once, and validated;
coarser granularities are resampled (open first, high max, low min, close last, volume sum).

In a replay a cycle asks several times at one clock reading: what a reading gives (each
product's newest closed bar, the product list) is kept until the clock moves. What each bar
gives (the product with its price and 24-hour volume, the quote's bid and ask) is made for
a run of bars at once, ahead of the clock, with loops that run in C rather than per call.
`trader run --candles-dir` asks from a thread pool: a file is read, and a run made and read,
by one thread at a time (locks); the lockless fast paths see a bar's answer or None.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, InvalidOperation, localcontext
from itertools import accumulate, islice, repeat
from operator import (
    add,
    attrgetter,
    floordiv,
    ge,
    getitem,
    gt,
    le,
    lt,
    mod,
    mul,
    ne,
    sub,
    truediv,
)
from pathlib import Path

from trader.adapters.sim.bars import merged_bars
from trader.adapters.sim.making import maker
from trader.adapters.sim.matching import ALIAS_QUOTE
from trader.domain.bar_window import BarWindow
from trader.domain.copying import replaced
from trader.domain.errors import ExchangeError
from trader.domain.models import ZERO, Candle, Product, Quote
from trader.ports import Clock

HEADER = "time,open,high,low,close,volume"
_GRAIN = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_PRODUCT_ID = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+$")
_DAY = 86_400
_SAMPLE_ROWS = 500  # rows looked at to guess a product's price increment
_DEFAULTS: Mapping[str, Decimal] = {
    "base_increment": Decimal("0.00000001"),
    "base_min_size": Decimal("0.00000001"),
    "base_max_size": Decimal(10) ** 12,
    "quote_min_size": Decimal(1),
    "quote_max_size": Decimal(10) ** 10,
}
CENT = Decimal("0.01")
_TWICE_BPS = Decimal(20_000)  # half the spread in bps, as a fraction of the price
_EXACT = Context(prec=80)  # sliding sums of quote volume, without rounding
# Prices made whole on the grid: to_integral_value reads only a context's rounding (it never
# rounds to a precision nor signals Inexact), so these give what `rounding=` gives, quicker
_FLOORED = Context(rounding=ROUND_FLOOR)
_CEILED = Context(rounding=ROUND_CEILING)
_PRICES = attrgetter("open", "high", "low", "close", "volume")
_PRODUCT_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Product))  # in __init__'s order
_PRODUCT_FIELDS = frozenset(_PRODUCT_FIELD_NAMES) - {"product_id"}
_CLOSE = attrgetter("close")
_START = attrgetter("start")
_VOLUME = attrgetter("volume")
_MAKE_CANDLE = maker(Candle)  # Candle(...), quicker: a million for a ten-product year
_MAKE_PRODUCT = maker(Product)  # Product(...), quicker: some ten a cycle
_MAKE_QUOTE = maker(Quote)
_AHEAD = 512  # bars whose products and quotes are made at once, from the one asked for
_Columns = tuple[list[Decimal], list[Decimal], list[Decimal], list[Decimal], list[Decimal]]
_Rows = tuple[int | None, list[int], _Columns]  # the grain, the rows' times, their prices


class CandleDataError(ExchangeError):
    """A candle file is missing or malformed; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class _Series:
    granularity_s: int
    times: list[int]
    candles: tuple[Candle, ...]  # a window is a view of it (a BarWindow), not a copy


@dataclass(slots=True)
class _Made:
    """A product's products and quotes by its count of closed bars (the count: its newest
    closed bar's index + 1; 0, none closed yet; no quote then), made for one run of counts
    at a time, None elsewhere: a run made forgets the last (a year's would be gigabytes)."""

    products: list[Product | None]
    quotes: list[Quote | None]
    run: tuple[int, int] = (0, 0)  # the counts [from, to) made

    @classmethod
    def empty(cls, bars: int) -> _Made:
        return cls([None] * (bars + 1), [None] * (bars + 1))

    def forget(self) -> None:
        """None in place of the run made (the lists stay the same objects: `_All` holds them)."""
        first, stop = self.run
        self.products[first:stop] = self.quotes[first:stop] = [None] * (stop - first)
        self.run = (0, 0)

    def hold(self, count: int, products: Sequence[Product], quotes: Sequence[Quote | None]) -> None:
        """The run of products and quotes made from `count` on, in place of the last run."""
        self.forget()
        stop = count + len(products)
        self.products[count:stop] = products
        self.quotes[count:stop] = quotes
        self.run = (count, stop)


@dataclass(frozen=True, slots=True)
class _All:
    """Every product's bar times, grain and made lists, in the market's order: each moment's
    counts and answers are read off them in loops that run in C."""

    times: list[list[int]]
    grains: list[int]
    products: list[list[Product | None]]
    quotes: list[list[Quote | None]]
    aligned: bool  # every file's bars start on multiples of its grain

    @classmethod
    def of(cls, order: Iterable[str], natives: Mapping[str, _Series], made: Mapping[str, _Made]):
        series = [natives[pid] for pid in order]
        made_in_order = [made[pid] for pid in order]
        return cls(
            times=[s.times for s in series],
            grains=[s.granularity_s for s in series],
            products=[m.products for m in made_in_order],
            quotes=[m.quotes for m in made_in_order],
            aligned=not any(s.times[0] % s.granularity_s for s in series),
        )

    def on_boundary(self, moment: datetime, seconds: int) -> bool:
        """`moment` (`seconds` its unix seconds, whole) a whole UTC second on every product's
        bar boundary."""
        if not self.aligned or moment.tzinfo is not UTC or moment.microsecond:
            return False
        return not any(map(mod, repeat(seconds), self.grains))


def _candles(times: list[int], *columns: list[Decimal]) -> list[Candle]:
    """Bars from columns, each start one addition after the one before (no call per bar):
    of one of the few gaps between bars, each made once (a file has a handful)."""
    gaps = list(map(sub, islice(times, 1, None), times))
    made = {gap: timedelta(seconds=gap) for gap in set(gaps)}
    starts = accumulate(map(made.__getitem__, gaps), add, initial=_utc(times[0]))
    return list(map(_MAKE_CANDLE, starts, *columns))


def _file_grain(path: Path) -> int | None:
    """Granularity from a name token such as `15m` or `1h`, if the file name has one."""
    for token in path.stem.split("_")[1:]:
        match = _GRAIN.match(token)
        if match:
            return int(match.group(1)) * _UNITS[match.group(2)]
    return None


def _parse_row(path: Path, lineno: int, line: str) -> tuple[int, Candle]:
    parts = line.split(",")
    if len(parts) != 6:
        raise CandleDataError(f"{path.name} line {lineno}: expected 6 fields, got {len(parts)}")
    if "n" in line or "N" in line:  # NaN, Infinity: Decimal would accept them
        raise CandleDataError(f"{path.name} line {lineno}: non-finite value in {line!r}")
    try:
        t = int(parts[0])
        o, h, low, c, v = map(Decimal, parts[1:])
    except (ValueError, InvalidOperation) as exc:
        raise CandleDataError(f"{path.name} line {lineno}: not a number in {line!r}") from exc
    if low <= 0 or h < max(o, c) or low > min(o, c) or v < 0:
        raise CandleDataError(f"{path.name} line {lineno}: inconsistent OHLCV {line!r}")
    return t, Candle(datetime.fromtimestamp(t, UTC), o, h, low, c, v)


def load_candle_file(path: Path) -> _Series:
    """Read and validate one candle CSV; any problem raises CandleDataError naming file and line.

    The garbage collector is paused meanwhile: a year of 5-minute bars is half a million
    new objects, none of them garbage, and the collector's passes over the growing heap
    cost as much as the reading (restarted after, if it was running)."""
    running = gc.isenabled()
    gc.disable()
    try:
        return _load(path)
    finally:
        if running:
            gc.enable()


def _load(path: Path) -> _Series:
    try:
        with path.open(encoding="utf-8") as fh:
            header = fh.readline().strip()
            if header != HEADER:
                raise CandleDataError(f"{path.name} line 1: header {header!r}, expected {HEADER!r}")
            body = fh.read()
    except OSError as exc:
        raise CandleDataError(f"{path}: cannot read ({exc.strerror})") from exc
    grain = _file_grain(path)
    read = _read_plain(body, grain)
    if read is None:  # not every row plainly valid: read row by row, which names the fault
        read = _read_rows(path, io.StringIO(body), grain)
    grain, times, columns = read
    if not times:
        raise CandleDataError(f"{path.name}: no candles")
    return _Series(grain or 60, times, tuple(_candles(times, *columns)))


def _read_plain(body: str, grain: int | None) -> _Rows | None:
    """The rows of `body` read column by column (each loop runs in C, not per row in Python),
    or None unless every row is plainly valid: six fields, whole-second times strictly
    increasing and aligned to the grain, finite prices with low > 0, high >= open and close,
    low <= open and close, volume >= 0. The rows and the grain are what `_read_rows` gives."""
    lines = body.split("\n")
    if lines[-1] == "":
        lines.pop()
    if (
        not lines
        or "n" in body
        or "N" in body
        or any(map(ne, map(str.count, lines, repeat(",")), repeat(5)))
    ):
        return None
    fields = ",".join(lines).split(",")
    try:
        times = list(map(int, fields[0::6]))
        o, h, low, c, v = (list(map(Decimal, fields[k::6])) for k in range(1, 6))
    except (ValueError, ArithmeticError):
        return None
    if len(times) > 1 and grain is None:
        grain = times[1] - times[0]
    if (
        not all(map(lt, times, islice(times, 1, None)))
        or (grain is not None and any(map(mod, times, repeat(grain))))
        or any(map(le, low, repeat(ZERO)))
        or any(map(lt, v, repeat(ZERO)))
        or any(map(lt, h, o))
        or any(map(lt, h, c))
        or any(map(gt, low, o))
        or any(map(gt, low, c))
    ):
        return None
    return grain, times, (o, h, low, c, v)


def _read_rows(path: Path, lines: Iterable[str], grain: int | None) -> _Rows:
    """The rows after the header, each checked by `_parse_row` in order (which names the
    fault), and the grain (the name's, else the step between the first two bars). Only files
    that `_read_plain` refuses come here, so there is no need to be quick."""
    times: list[int] = []
    columns: _Columns = ([], [], [], [], [])
    for lineno, raw in enumerate(lines, start=2):
        line = raw.strip()
        if not line:
            continue
        t, candle = _parse_row(path, lineno, line)
        if times and t <= times[-1]:
            raise CandleDataError(
                f"{path.name} line {lineno}: time {t} is not after the previous {times[-1]}"
            )
        if grain is None and times:
            grain = t - times[0]
        if grain is not None and t % grain:
            raise CandleDataError(
                f"{path.name} line {lineno}: time {t} is not aligned to {grain} s"
            )
        times.append(t)
        for column, value in zip(columns, _PRICES(candle), strict=True):
            column.append(value)
    return grain, times, columns


def resample(series: _Series, step: int) -> _Series:
    """Coarser bars in buckets of `time // step * step`; empty buckets stay absent."""
    candles = merged_bars(series.candles, step)
    return _Series(step, [int(c.start.timestamp()) for c in candles], tuple(candles))


def _price_increment(series: _Series) -> Decimal:
    """The finest price step seen in the first rows (e.g. 0.01 for BTC-USD), at most 1e-8."""
    places = 0
    for c in series.candles[:_SAMPLE_ROWS]:
        for price in (c.open, c.high, c.low, c.close):
            places = max(places, -int(price.as_tuple().exponent))
    return Decimal(1).scaleb(-min(places, 8))


class CsvMarket:
    """Implements `trader.ports.MarketData` over a folder of candle CSVs."""

    def __init__(
        self,
        candles_dir: Path,
        clock: Clock,
        granularity_s: int,
        spread_bps: Decimal = Decimal(5),
        products: Mapping[str, Mapping[str, object]] | None = None,
        only: Collection[str] | None = None,
        usdc_aliases: bool = False,
    ) -> None:
        """`only`: the products to serve (default: every file in the folder). `usdc_aliases`:
        each X-USD product names its X-USDC alias, as Coinbase lists them (what a
        MatchingExchange over this market would add to each product, every bar)."""
        self.granularity_s = granularity_s
        self._usdc_aliases = usdc_aliases
        self._clock = clock
        self._spread = Decimal(spread_bps)
        self._paths = _select(self._discover(Path(candles_dir)), only, Path(candles_dir))
        self._overrides: dict[str, dict[str, object]] = {pid: {} for pid in self._paths}
        # product -> its products and quotes by its count of closed bars, made a run ahead
        self._made: dict[str, _Made] = {}
        # Making a run replaces the last in place: one maker at a time, and each answer read
        # under the lock (`trader run` asks from a thread pool; readers without it see a
        # product or None, never another bar's)
        self._making = threading.Lock()
        self._loading = threading.Lock()  # a file read by one thread, not by two at once
        for pid, fields in (products or {}).items():
            self.set_product_flags(pid, **fields)
        self._natives: dict[str, _Series] = {}  # product -> its file's bars
        self._series: dict[tuple[str, int], _Series] = {}  # (product, grain) -> coarser bars
        self._increments: dict[str, Decimal] = {}
        self._all: _All | None = None  # every product's bars and what is made, once all read
        self._templates: dict[str, Product] = {}  # product -> the fields no bar changes
        # What one clock reading gives (a replay's cycle asks several times at one moment):
        # the moment, its unix seconds, each product's count of closed bars, the list, the
        # quotes (those of every product, when the moment is on the bars' boundaries).
        self._moment: datetime | None = None
        self._moment_s = 0
        self._counts: dict[str, int] | None = None
        # The last counts worked out and their moment's unix seconds (one tuple, replaced
        # whole): the next moment's counts are guessed from them, and get_candles reads its
        # window's end off them when they are its moment's
        self._counted: tuple[int, dict[str, int]] = (-1, {})
        self._listed: tuple[Product, ...] | None = None
        self._quoted: dict[str, Quote | None] | None = None
        # The last window start asked for and its unix seconds (a snapshot asks every product's
        # bars from the same moment): one tuple, replaced whole
        self._window_start: tuple[datetime | None, int] = (None, 0)

    @staticmethod
    def _discover(folder: Path) -> dict[str, Path]:
        if not folder.is_dir():
            raise CandleDataError(f"{folder}: not a folder of candle CSVs")
        paths: dict[str, Path] = {}
        for path in sorted(folder.glob("*.csv")):
            pid = path.stem.split("_", 1)[0]
            if not _PRODUCT_ID.match(pid):
                raise CandleDataError(
                    f"{path.name}: file name must start with a product id like BTC-USD_"
                )
            if pid in paths:
                raise CandleDataError(f"{path.name} and {paths[pid].name} are both {pid}")
            paths[pid] = path
        if not paths:
            raise CandleDataError(f"{folder}: no *.csv candle files")
        return paths

    # --- the MarketData port -------------------------------------------------------------

    def list_products(self) -> Sequence[Product]:
        if self._clock.now() is not self._moment:
            self._at_moment()
        listed = self._listed  # read after the moment: another thread may have moved it on
        if listed is None:
            listed = self._listed = self._products_now()
        return list(listed)

    def get_quotes(self, product_ids: Sequence[str]) -> Mapping[str, Quote]:
        """Last closed close -/+ half the spread; products without a closed candle are absent."""
        self._at_moment()
        quoted = self._quoted
        if quoted is None:
            quoted = self._quoted = self._quotes_now()
        if quoted:  # every product's, made ahead
            return {pid: q for pid in product_ids if (q := quoted.get(pid)) is not None}
        quotes: dict[str, Quote] = {}
        for pid in product_ids:
            quote = self._quote(pid) if pid in self._paths else None
            if quote is not None:
                quotes[pid] = quote
        return quotes

    def get_candles(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        """Closed candles with start in [start, end), ascending; gaps stay absent."""
        # (the common case in few steps: the file's own bars, the moment and start of the
        # call before; else worked out, and kept, by the methods these steps stand for)
        series = self._natives.get(product_id)
        if series is None or series.granularity_s != granularity_s:
            series = self._resampled(product_id, granularity_s)
        now_s = self._moment_s if self._clock.now() is self._moment else self._at_moment()
        seen, start_s = self._window_start
        if start is not seen:
            start_s = self._start_s(start)
        times = series.times
        counted_s, counts = self._counted
        if counted_s == now_s and series is self._natives[product_id]:
            hi = counts[product_id]  # the bars closed by now, counted for the moment
        else:
            hi = bisect_right(times, now_s - granularity_s)
        if end is not self._moment:  # (those closed by now all start before now)
            hi = min(bisect_left(times, _ceil_ts(end)), hi)
        if not hi:
            return ()
        # The first bar from `start`: where it is when no bar is missing, if two comparisons
        # show it there (written out: a call costs more than the comparisons), else bisected
        lo = hi - 1 - (times[hi - 1] - start_s) // granularity_s
        if not (0 < lo < hi and times[lo - 1] < start_s <= times[lo]):
            lo = bisect_left(times, start_s)
        return BarWindow(series.candles, lo, hi) if hi > lo else ()

    # --- extras --------------------------------------------------------------------------

    def time_range(self, product_id: str) -> tuple[datetime, datetime]:
        """Start times of the first and the last candle in the product's file."""
        series = self._native(product_id)
        return series.candles[0].start, series.candles[-1].start

    def product_ids(self) -> tuple[str, ...]:
        return tuple(self._paths)

    def native_granularity(self, product_id: str) -> int:
        """Seconds per candle in the product's file."""
        return self._native(product_id).granularity_s

    def bar_starts(self, product_id: str) -> Sequence[int]:
        """Unix start times of the product's candles in its file, ascending (gaps absent)."""
        return self._native(product_id).times

    def set_product_flags(self, product_id: str, **fields: object) -> None:
        """Override Product fields (flags, increments, min sizes) for one product."""
        if product_id not in self._paths:
            raise ValueError(f"unknown product {product_id!r}; files give {', '.join(self._paths)}")
        unknown = set(fields) - _PRODUCT_FIELDS
        if unknown:
            raise ValueError(f"unknown Product field(s) {sorted(unknown)} for {product_id}")
        self._overrides[product_id].update(fields)
        made = self._made.get(product_id)
        if made is not None:
            with self._making:
                made.forget()
        self._listed = None

    # --- series --------------------------------------------------------------------------

    def _native(self, product_id: str) -> _Series:
        series = self._natives.get(product_id)
        if series is None:
            with self._loading:  # once per file, though threads ask for it at once
                series = self._natives.get(product_id)
                if series is None:
                    series = self._read_file(product_id)
        return series

    def _read_file(self, product_id: str) -> _Series:
        """Read the product's file; its made lists are in place before its bars are seen."""
        path = self._paths.get(product_id)
        if path is None:
            known = ", ".join(self._paths)
            raise ValueError(f"unknown product {product_id!r}; files give {known}")
        series = load_candle_file(path)
        self._made[product_id] = _Made.empty(len(series.times))
        self._natives[product_id] = series
        if len(self._natives) == len(self._paths):
            self._all = _All.of(self._paths, self._natives, self._made)
        return series

    def _resampled(self, product_id: str, granularity_s: int) -> _Series:
        native = self._native(product_id)
        if granularity_s == native.granularity_s:
            return native
        if granularity_s % native.granularity_s:
            raise ValueError(
                f"{self._paths[product_id].name} has {native.granularity_s} s candles; "
                f"{granularity_s} s is not a multiple of that (cannot make finer candles)"
            )
        key = (product_id, granularity_s)
        if key not in self._series:
            self._series[key] = resample(native, granularity_s)
        return self._series[key]

    def _at_moment(self) -> int:
        """The clock's unix seconds; a new reading forgets what the last one gave. The moment
        is set last: a thread that sees it (another thread's `list_products`, `get_quotes`)
        sees its seconds and the last moment's answers forgotten, not half of them."""
        now = self._clock.now()
        if now is not self._moment:  # a stepping clock hands out the same value until it moves
            self._counts = self._listed = self._quoted = None
            self._moment_s = int(now.timestamp())
            self._moment = now
        return self._moment_s

    def _start_s(self, start: datetime) -> int:
        """`_ceil_ts(start)`, kept for the same `start` (held here, so it cannot be another)."""
        seen, seconds = self._window_start
        if start is not seen:
            seconds = _ceil_ts(start)
            self._window_start = (start, seconds)
        return seconds

    def _count_closed(self, product_id: str) -> int:
        """How many of the product's native bars have closed at the moment (its newest closed
        bar's index + 1; 0: none yet)."""
        counts = self._counts_now()
        if counts is not None:
            return counts[product_id]
        series = self._native(product_id)
        return bisect_right(series.times, self._moment_s - series.granularity_s)

    def _counts_now(self) -> dict[str, int] | None:
        """Every product's count of closed bars, kept for the moment; None until every file
        is read (each is read when first asked for). Each count is looked for where the last
        moment's count and the time since say it is (a stepping clock's next moment closes
        one more bar), and bisected only when it is not there."""
        counts, every = self._counts, self._all
        if counts is None and every is not None:
            moment_s = self._moment_s
            last_s, last = self._counted
            limits = list(map(sub, repeat(moment_s), every.grains))
            steps = map(floordiv, repeat(moment_s - last_s), every.grains)
            guesses = map(add, last.values(), steps) if last else ()
            closed = _counts_upto(every.times, limits, guesses)
            counts = self._counts = dict(zip(self._paths, closed, strict=True))
            self._counted = (moment_s, counts)
        return counts

    def _products_now(self) -> tuple[Product, ...]:
        """Every product at the moment: those made ahead, read in one loop when all are."""
        counts, every = self._counts_now(), self._all
        if counts is not None and every is not None:
            listed = tuple(map(getitem, every.products, counts.values()))
            if all(listed):  # (a Product is never false; None is: not made yet)
                return listed
        return tuple(map(self._product, self._paths))

    def _quotes_now(self) -> dict[str, Quote | None]:
        """Every product's quote at the moment (None: no bar closed yet), those made ahead, when
        the moment is on every product's bar boundary; empty otherwise. A quote's time is
        the moment while its bar is the last one (closed at the moment), its bar's end later:
        on a boundary, its bar's end either way, the time it was made with."""
        counts, every, moment = self._counts_now(), self._all, self._moment
        if (
            counts is None
            or every is None
            or moment is None
            or not every.on_boundary(moment, self._moment_s)
        ):
            return {}
        quotes = list(map(getitem, every.quotes, counts.values()))
        if not all(quotes):  # (a Quote is never false; None is: not made, or no bar closed)
            for k, (pid, count) in enumerate(counts.items()):
                if quotes[k] is None and count:
                    quotes[k] = self._made_at(pid, count)[1]
        return dict(zip(self._paths, quotes, strict=True))

    def _product(self, product_id: str) -> Product:
        count = self._count_closed(product_id)
        return self._made_at(product_id, count)[0]

    def _quote(self, product_id: str) -> Quote | None:
        """The product's quote at the moment, timed as `_observed_at` says; None before its
        first bar closes."""
        count = self._count_closed(product_id)
        if not count:
            return None
        made = self._made_at(product_id, count)[1]
        assert made is not None  # (made by _made_at: a quote at every count but 0)
        series = self._natives[product_id]
        observed = self._observed_at(series.granularity_s, series.times[count - 1])
        return _MAKE_QUOTE(product_id, made.bid, made.ask, observed, None, None)

    def _observed_at(self, grain: int, last_start_s: int) -> datetime:
        """Now while the data is current; the last bar's end in a gap or past the file's end."""
        closed_at = last_start_s + grain
        if self._moment is not None and self._moment_s - closed_at < grain:
            return self._moment
        return _utc(closed_at)

    def _made_at(self, product_id: str, count: int) -> tuple[Product, Quote | None]:
        """The product and its quote at `count` closed bars (made now for a run of `_AHEAD`
        from there, if not yet), read under the lock: another thread's run may replace it."""
        with self._making:
            made = self._made[product_id]
            product = made.products[count]
            if product is None:
                series = self._natives[product_id]
                products = self._products_from(product_id, series, count - 1)
                quotes = self._quotes_from(product_id, series, count - 1) if count else [None]
                made.hold(count, products, quotes)
                product = made.products[count]
            assert product is not None  # (made just now, or found)
            return product, made.quotes[count]

    def _products_from(self, product_id: str, series: _Series, idx: int) -> Sequence[Product]:
        """The product as the bars from `idx` on give it (price, 24-hour volume), for up to
        `_AHEAD` bars, the overrides applied; before the first bar, the one offline product."""
        template = self._template(product_id, series)
        overrides = self._overrides[product_id]
        if idx < 0:
            offline = {"status": "offline", "price": ZERO, "volume_24h_quote": ZERO}
            return (replaced(template, **(offline | overrides)),)
        stop = min(idx + _AHEAD, len(series.times))
        fixed = replaced(template, **({"status": "online"} | overrides))
        by_bar = {
            "price": list(map(_CLOSE, series.candles[idx:stop])),
            "volume_24h_quote": _volumes_24h(series, idx, stop),
        }
        columns = (
            by_bar[name]
            if name in by_bar and name not in overrides
            else repeat(getattr(fixed, name))
            for name in _PRODUCT_FIELD_NAMES
        )
        return list(map(_MAKE_PRODUCT, *columns))

    def _quotes_from(self, product_id: str, series: _Series, idx: int) -> list[Quote | None]:
        """The quote at the bars from `idx` on, for up to `_AHEAD` bars, timed at each bar's
        end (its bid and ask from its close)."""
        closes = list(map(_CLOSE, series.candles[idx : idx + _AHEAD]))
        bids, asks = _touches(closes, self._spread, self._increment(product_id, series))
        none = repeat(None)
        ends = _bar_ends(series, idx, len(closes))
        return list(map(_MAKE_QUOTE, repeat(product_id), bids, asks, ends, none, none))

    def _template(self, product_id: str, series: _Series) -> Product:
        """The product's fields that no bar changes (its bar's fields set by `_product`)."""
        template = self._templates.get(product_id)
        if template is None:
            base, quote = product_id.split("-", 1)
            aliased = self._usdc_aliases and quote == "USD"
            template = self._templates[product_id] = Product(
                product_id=product_id,
                base_currency=base,
                quote_currency=quote,
                quote_increment=self._increment(product_id, series),
                aliases=(f"{base}-{ALIAS_QUOTE}",) if aliased else (),
                **_DEFAULTS,  # type: ignore[arg-type]
            )
        return template

    def _increment(self, product_id: str, series: _Series) -> Decimal:
        if product_id not in self._increments:
            self._increments[product_id] = _price_increment(series)
        return self._increments[product_id]


def _volumes_24h(series: _Series, first: int, stop: int) -> list[Decimal]:
    """Quote volume (volume x close) of the bars in the 24 hours up to each bar from `first` to
    `stop` (excluded), to the cent: differences of running sums kept exact (no rounding)."""
    starts = _day_starts(series.times, series.granularity_s, first, stop)
    low = starts[0]
    bars = series.candles[low:stop]
    # The operators in the exact context give what its methods give, for half the instructions
    with localcontext(_EXACT):
        quote_volumes = map(mul, map(_VOLUME, bars), map(_CLOSE, bars))
        running = list(accumulate(quote_volumes, add, initial=ZERO))  # [k]: bars low..low+k-1
        upto = islice(running, first + 1 - low, None)
        before = map(running.__getitem__, map(sub, starts, repeat(low)))
        return list(map(Decimal.quantize, map(sub, upto, before), repeat(CENT)))


def _bar_ends(series: _Series, first: int, count: int) -> list[datetime]:
    """The ends of `count` bars from `first`: the next bar's start where no bar is missing
    (the same time, not made again; bars start on multiples of the grain, checked at load,
    so a span of k grains over k + 1 bars has no gap), else the start + the grain."""
    times, bars, grain = series.times, series.candles, series.granularity_s
    last = min(first + count, len(times) - 1)  # the last bar whose start may serve as an end
    if times[last] - times[first] == (last - first) * grain:
        ends = list(map(_START, bars[first + 1 : last + 1]))
        if len(ends) < count:  # the file's last bar: no next start
            ends.append(bars[-1].start + timedelta(seconds=grain))
        return ends
    step = timedelta(seconds=grain)
    return list(map(add, map(_START, bars[first : first + count]), repeat(step)))


def _day_starts(times: list[int], grain: int, first: int, stop: int) -> list[int]:
    """For each bar from `first` to `stop` (excluded), the index of the first bar in the 24
    hours up to it (started after its start + grain - 24 h - 1 s). Without a missing bar
    among them, that is a fixed number of bars back (or the file's first bar): worked out
    so, not looked for (bars start on multiples of the grain, checked at load, so a span
    of k grains over k + 1 bars has no gap)."""
    back = (_DAY - grain) // grain  # the bars before a bar in its 24 hours, with no gap
    low = max(first - back, 0)
    if grain <= _DAY and times[stop - 1] - times[low] == (stop - 1 - low) * grain:
        from_file_start = min(max(back - first, 0), stop - first)  # windows from bar 0
        return [0] * from_file_start + list(range(first + from_file_start - back, stop - back))
    reach = grain - _DAY - 1  # a window starts after its last bar's start + this
    return list(map(bisect_right, repeat(times), map(add, times[first:stop], repeat(reach))))


def _touches(
    closes: list[Decimal], spread_bps: Decimal, increment: Decimal
) -> tuple[list[Decimal], list[Decimal]]:
    """Bid and ask for each close: close -/+ close x spread / 20,000, floored and ceiled to the
    increment, the bid at least one increment, the ask at least one above the bid."""
    halves = list(map(truediv, map(mul, closes, repeat(spread_bps)), repeat(_TWICE_BPS)))
    bids = list(_on_grid(map(sub, closes, halves), increment, _FLOORED))
    ceilings = list(_on_grid(map(add, closes, halves), increment, _CEILED))
    # Most often no bar needs the floors below (a step for each bar): every bid is at least
    # one increment, every ask above its bid, so a whole increment above (both are whole
    # numbers of increments), and `max` keeps the first of equals: the price as rounded.
    if not all(map(ge, bids, repeat(increment))):
        bids = list(map(max, bids, repeat(increment)))
    if all(map(gt, ceilings, bids)):
        return bids, ceilings
    return bids, list(map(max, ceilings, map(add, bids, repeat(increment))))


def _on_grid(values: Iterable[Decimal], increment: Decimal, whole_by: Context) -> Iterable[Decimal]:
    """`round_to_increment` of each value (as `whole_by` rounds), in one loop (value /
    increment made whole, x it). An increment of a power of ten (as files give them) divides
    as its inverse multiplies: the same digits and exponent (exactly: value's coefficient,
    its exponent less the increment's), for half the instructions."""
    sign, digits, exponent = increment.as_tuple()
    if sign or digits != (1,):
        steps = map(truediv, values, repeat(increment))
    else:
        steps = map(mul, values, repeat(Decimal((0, (1,), -exponent))))
    return map(mul, map(whole_by.to_integral_value, steps), repeat(increment))


def _counts_upto(
    times: Sequence[list[int]], limits: Sequence[int], guesses: Iterable[int]
) -> list[int]:
    """`bisect_right(times[k], limits[k])` for each k (how many of its times are at most its
    limit): the guesses when two comparisons each show them right, in loops that run in C
    (a bisect of a year's bars takes some seventeen, a call per product as much), else
    bisected."""
    counts = list(guesses)
    if counts and min(counts) > 0:
        try:
            below = map(getitem, times, map(sub, counts, repeat(1)))
            above = map(getitem, times, counts)  # IndexError past a file's last bar
            if all(map(le, below, limits)) and all(map(gt, above, limits)):
                return counts
        except IndexError:
            pass
    return list(map(bisect_right, times, limits))


def _select(paths: dict[str, Path], only: Collection[str] | None, folder: Path) -> dict[str, Path]:
    if only is None:
        return paths
    unknown = [pid for pid in only if pid not in paths]
    if unknown:
        raise CandleDataError(
            f"{folder}: no candle file for {', '.join(unknown)}; it has {', '.join(paths)}"
        )
    return {pid: paths[pid] for pid in only}


def _utc(unix_s: int) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC)


def _ceil_ts(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: use timezone-aware UTC")
    ts = moment.timestamp()
    whole = int(ts)
    return whole + 1 if ts > whole else whole
