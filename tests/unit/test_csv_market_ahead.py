"""CsvMarket makes each bar's product (price, 24-hour quote volume) and quote (bid, ask) for a
run of bars at once, ahead of the clock. Here a hypothesis-made file (prices and volumes of
any precision, gaps) is read at hypothesis-made moments, forwards and back, across the runs'
edges (runs of 3 bars here), and every answer must equal the straightforward computation:
the sum of volume x close over the bars of the last 24 hours, to the cent; close -/+ half
the spread, rounded outwards to the increment (`round_to_increment`). Candle windows, which
keep the last window start's seconds and take the clock's own moment as an end without
working it out, must be the file's bars started in [start, end) and closed by now.
"""

from __future__ import annotations

import dataclasses
import tempfile
from bisect import bisect_right
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trader.adapters.sim import csv_market
from trader.adapters.sim.csv_market import CsvMarket
from trader.domain.models import Product
from trader.domain.money import round_to_increment

D = Decimal
T0 = 1_772_409_600  # a multiple of 3600
GRAIN = 3600  # 24 bars a day: windows that start after the file's first bar
EXACT = Context(prec=80)

PRICES = st.one_of(
    st.builds(D, st.decimals(D("0.0001"), D("99999"), places=4)),
    st.sampled_from([D("4E+4"), D("1.0E+3"), D("40000"), D("0.5")]),  # exponents above zero
)
VOLUMES = st.builds(D, st.decimals(D(0), D("10000"), places=8))
BARS = st.lists(st.tuples(st.integers(1, 3), PRICES, VOLUMES), min_size=1, max_size=70)
# The clock's moves in hours: mostly a bar or two on, as a replay goes; sometimes far, or back.
MOVES = st.lists(st.one_of(st.integers(0, 2), st.integers(-40, 60)), min_size=1, max_size=40)


class SetClock:
    """A clock set to any moment, backwards too (a market may be asked out of order)."""

    def __init__(self) -> None:
        self.moment = datetime.fromtimestamp(T0, UTC)

    def now(self) -> datetime:
        return self.moment


def bar_rows(bars: list[tuple[int, Decimal, Decimal]]) -> list[tuple[int, Decimal, Decimal]]:
    """(start, close, volume) of each bar, `step` bars after the one before (gaps between)."""
    rows, start = [], T0 - GRAIN
    for step, close, volume in bars:
        start += step * GRAIN
        rows.append((start, close, volume))
    return rows


def write_file(folder: Path, rows: list[tuple[int, Decimal, Decimal]]) -> None:
    lines = [f"{t},{c},{c},{c},{c},{v}\n" for t, c, v in rows]
    (folder / "SOL-USD_1h_test.csv").write_text(
        "time,open,high,low,close,volume\n" + "".join(lines)
    )


def expected_product(listed: Product, rows: list, now_s: int) -> Product:
    """The product at `now_s` worked out bar by bar; its other fields as any bar lists them."""
    closed = [(t, c, v) for t, c, v in rows if t + GRAIN <= now_s]
    if not closed:
        return dataclasses.replace(listed, status="offline", price=D(0), volume_24h_quote=D(0))
    last = closed[-1][0]
    day = [(c, v) for t, c, v in closed if t > last + GRAIN - 86_400 - 1]
    volume = sum((EXACT.multiply(v, c) for c, v in day), D(0)).quantize(D("0.01"), context=EXACT)
    return dataclasses.replace(
        listed, status="online", price=closed[-1][1], volume_24h_quote=volume
    )


def expected_touch(rows: list, now_s: int, spread_bps: Decimal, inc: Decimal) -> tuple | None:
    closed = [c for t, c, _ in rows if t + GRAIN <= now_s]
    if not closed:
        return None
    close = closed[-1]
    half = close * spread_bps / 20_000
    bid = max(round_to_increment(close - half, inc, ROUND_FLOOR), inc)
    ask = max(round_to_increment(close + half, inc, ROUND_CEILING), bid + inc)
    return bid, ask


# The clock's reading past the whole hour: on a bar's boundary (0), within the bar (seconds),
# a microsecond past, or the boundary read in another time zone
OFFSETS = (0, 0, 0, 1, 1799, 3599, "microsecond", "+02:00")


def moment_at(now_s: int, offset: int | str) -> datetime:
    on_the_hour = datetime.fromtimestamp(now_s, UTC)
    if offset == "microsecond":
        return on_the_hour + timedelta(microseconds=1)
    if offset == "+02:00":
        return on_the_hour.astimezone(timezone(timedelta(hours=2)))
    assert isinstance(offset, int)
    return on_the_hour + timedelta(seconds=offset)


def expected_time(rows: list, moment: datetime) -> datetime:
    """The quote's time: the moment while its bar is the newest that could have closed, the
    bar's end once a later one should have (a gap, or past the file's end)."""
    now_s = int(moment.timestamp())
    closed_at = [t for t, _, _ in rows if t + GRAIN <= now_s][-1] + GRAIN
    return moment if now_s - closed_at < GRAIN else datetime.fromtimestamp(closed_at, UTC)


@pytest.fixture(autouse=True)
def short_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_market, "_AHEAD", 3)  # the runs' edges within a small file


@settings(max_examples=200, deadline=None)
@given(
    bars=BARS,
    moves=MOVES,
    spread=st.sampled_from([D(0), D(5), D("12.5"), D(400)]),
    offsets=st.lists(st.sampled_from(OFFSETS), min_size=1, max_size=5),
)
# closes of one increment: the bid floored to zero, raised to one increment
@example(
    bars=[(1, D("0.0001"), D(1)), (1, D("0.0003"), D(1))],
    moves=[1, 1, 1],
    spread=D(400),
    offsets=[0],
)
def test_products_and_quotes_when_made_ahead_then_those_worked_out_bar_by_bar(
    bars: list, moves: list[int], spread: Decimal, offsets: list
) -> None:
    rows = bar_rows(bars)
    with tempfile.TemporaryDirectory() as name:
        write_file(Path(name), rows)
        clock = SetClock()
        market = CsvMarket(Path(name), clock, GRAIN, spread_bps=spread)
        now_s = T0 - GRAIN
        for step, hours in enumerate(moves):
            now_s += hours * GRAIN
            clock.moment = moment_at(now_s, offsets[step % len(offsets)])
            now_s_seen = int(clock.moment.timestamp())
            (product,) = market.list_products()
            assert product == expected_product(product, rows, now_s_seen)
            touch = expected_touch(rows, now_s_seen, spread, product.quote_increment)
            quote = market.get_quotes(["SOL-USD"]).get("SOL-USD")
            assert (quote.bid, quote.ask) == touch if quote else touch is None
            if quote:  # to the digit, as the audit prints them (1E+1 is not 10)
                assert (str(quote.bid), str(quote.ask)) == tuple(map(str, touch))
                observed = expected_time(rows, clock.moment)
                assert (quote.time, str(quote.time)) == (observed, str(observed))


def test_products_when_flags_override_a_bars_fields_then_the_flags_win(tmp_path: Path) -> None:
    write_file(tmp_path, bar_rows([(1, D(10), D(2))] * 8))
    clock = SetClock()
    flags = {"SOL-USD": {"price": D(7), "status": "delisted", "limit_only": True}}
    market = CsvMarket(tmp_path, clock, GRAIN, products=flags)
    for hours in (0, 2, 5, 9):
        clock.moment = datetime.fromtimestamp(T0 + hours * GRAIN, UTC)
        (product,) = market.list_products()
        assert (product.price, product.status, product.limit_only) == (D(7), "delisted", True)
    assert product.volume_24h_quote == D("160.00")  # 8 bars of 2 x 10


def test_products_when_quote_volumes_need_over_28_digits_then_summed_exactly(
    tmp_path: Path,
) -> None:
    # 12345678901234567890123456789 x 1.01 = 12469135690246913569024691356.89 (31 digits: a
    # 28-digit context would round it, then refuse the quantize); + 2 x 1.01 = ...358.91
    big = D("12345678901234567890123456789")
    write_file(tmp_path, bar_rows([(1, D("1.01"), big), (1, D("1.01"), D(2))]))
    clock = SetClock()
    clock.moment = datetime.fromtimestamp(T0 + 2 * GRAIN, UTC)  # both bars closed
    (product,) = CsvMarket(tmp_path, clock, GRAIN).list_products()
    assert str(product.volume_24h_quote) == "12469135690246913569024691358.91"


# A window: its start (hours before now, or the same start object as the last window), and its
# end: the clock's own moment, an equal datetime that is another object, or hours before/after.
WINDOWS = st.lists(
    st.tuples(
        st.one_of(st.just("same"), st.integers(0, 30)),
        st.one_of(st.sampled_from(["now", "equal"]), st.integers(-5, 5)),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(
    bars=BARS,
    moves=MOVES,
    windows=WINDOWS,
    offset=st.sampled_from([timedelta(0), timedelta(seconds=1, microseconds=500)]),
    listed=st.lists(st.booleans(), min_size=1, max_size=3),
    grain=st.sampled_from([GRAIN, 2 * GRAIN]),
)
def test_candles_when_windows_asked_then_the_files_bars_in_them_closed_by_now(
    bars: list, moves: list[int], windows: list, offset: timedelta, listed: list, grain: int
) -> None:
    """Also when the moment's products were listed first (the window's end is then read off
    the moment's count of closed bars, of the file's own grain), and for coarser bars."""
    rows = bar_rows(bars)
    with tempfile.TemporaryDirectory() as name:
        write_file(Path(name), rows)
        clock = SetClock()
        market = CsvMarket(Path(name), clock, GRAIN)
        moment, start = clock.moment - timedelta(hours=1), clock.moment
        for step, hours in enumerate(moves):
            moment = clock.moment = moment + timedelta(hours=hours) + offset
            if listed[step % len(listed)]:
                market.list_products()
            for back, ahead in windows:
                start = start if back == "same" else moment - timedelta(hours=back)
                end = {"now": moment, "equal": moment + timedelta(0)}.get(ahead, moment)
                if isinstance(ahead, int):
                    end = moment + timedelta(hours=ahead)
                bars_in = market.get_candles("SOL-USD", grain, start, end)
                expected = [
                    t
                    for t in sorted({t // grain * grain for t, _, _ in rows})
                    if start.timestamp() <= t < end.timestamp() and t + grain <= moment.timestamp()
                ]
                assert [int(b.start.timestamp()) for b in bars_in] == expected


@settings(max_examples=300, deadline=None)
@given(
    grain=st.sampled_from([60, 300, 900, 3600, 25_200, 86_400, 172_800]),
    steps=st.lists(st.one_of(st.just(1), st.integers(1, 400)), min_size=1, max_size=400),
    run=st.tuples(st.integers(0, 399), st.integers(1, 512)),
)
def test_day_starts_when_bars_with_or_without_gaps_then_where_a_search_finds_them(
    grain: int, steps: list[int], run: tuple[int, int]
) -> None:
    """The first bar of each bar's 24 hours, worked out along a run without gaps, must be
    the bar a search by time finds: the first started after its start + grain - 24 h - 1 s."""
    times = [grain * k for k in accumulate(steps)]  # gaps where a step is over 1
    first = min(run[0], len(times) - 1)
    stop = min(first + run[1], len(times))
    searched = [bisect_right(times, t + grain - 86_400 - 1) for t in times[first:stop]]
    assert csv_market._day_starts(times, grain, first, stop) == searched


@settings(max_examples=400, deadline=None)
@given(
    value=st.decimals(allow_nan=False, allow_infinity=False),
    increment=st.one_of(
        st.integers(-10, 3).map(lambda k: D(1).scaleb(k)),  # powers of ten, as files give them
        st.sampled_from([D("0.25"), D("0.010"), D("5"), D("1E+1")]),
    ),
    rounding=st.sampled_from([ROUND_FLOOR, ROUND_CEILING]),
)
def test_on_grid_when_any_value_and_increment_then_round_to_increments_digits(
    value: Decimal, increment: Decimal, rounding: str
) -> None:
    """A power-of-ten increment multiplies by its inverse in place of dividing: the same
    number to the digit (exponent included) as round_to_increment gives."""
    whole_by = Context(rounding=rounding)
    (on_grid,) = csv_market._on_grid([value], increment, whole_by)
    expected = round_to_increment(value, increment, rounding)
    assert (on_grid, str(on_grid)) == (expected, str(expected))
