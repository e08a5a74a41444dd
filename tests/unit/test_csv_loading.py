"""The candle file reader reads what the row-by-row reader it replaced read.

`load_candle_file` reads a plainly valid file column by column and hands any other file to
the row-by-row reader, where `_parse_row` names the fault. Here the reader is run on files
hypothesis writes (valid rows, gaps, blank lines, and rows broken in each way the reader
checks) and on the real candles: the same bars (compared field by field, with the Decimals'
digits) and the same grain, or the same error message.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from regime_history import CANDLES

from trader.adapters.sim.csv_market import (
    HEADER,
    CandleDataError,
    _file_grain,
    _parse_row,
    _Series,
    load_candle_file,
)


def reference_load(path: Path) -> _Series:
    """The reader before the fast path (main at 2fc4b88), kept as the reference."""
    grain = _file_grain(path)
    times: list[int] = []
    candles = []
    with path.open(encoding="utf-8") as fh:
        header = fh.readline().strip()
        if header != HEADER:
            raise CandleDataError(f"{path.name} line 1: header {header!r}, expected {HEADER!r}")
        for lineno, raw in enumerate(fh, start=2):
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
            candles.append(candle)
    if not candles:
        raise CandleDataError(f"{path.name}: no candles")
    return _Series(grain or 60, times, candles)


def outcome(load, path: Path):
    """The series as plain text (digits and start of every field), or the error's message."""
    try:
        series = load(path)
    except CandleDataError as exc:
        return str(exc)
    bars = [tuple(str(getattr(c, f)) for f in c.__slots__) for c in series.candles]
    return series.granularity_s, series.times, bars, [c.start for c in series.candles]


PRICE = st.sampled_from(["100", "100.0", "99.5", "101.25", "1E+2", " 100", "100 "])
BROKEN_ROWS = (
    "", "   ", "x,1,1,1,1,1", "5,1,1,1,1", "5,1,1,1,1,1,1", "5,nan,1,1,1,1",
     "5,1,Infinity,1,1,1", "5,1,2,3,1,1", "5,1,0.5,1,1,1", "5,0,1,0,1,1", "5,1,1,1,1,-1",
     "5,1,1,1,1,abc", "5,1,1,1,1,1e5", "5,1,1,0.5,2,1", "5,1,2,1,0.5,1"
)  # fmt: skip
BROKEN = st.sampled_from(BROKEN_ROWS)


@st.composite
def candle_lines(draw) -> list[str]:
    """Rows at steps of 300 s (some steps skipped or repeated), now and then a broken one."""
    t = draw(st.sampled_from([0, 300, 1_700_000_100]))
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 9)) == 0:
            t += 300
            lines.append(draw(BROKEN).replace("5,", f"{t},", 1))
            continue
        t += draw(st.sampled_from([300, 300, 300, 600, 0, 150]))
        o, c = draw(PRICE), draw(PRICE)
        high = max(float(o), float(c)) + draw(st.sampled_from([0, 1]))
        low = min(float(o), float(c)) - draw(st.sampled_from([0, 0.5]))
        volume = draw(st.sampled_from(["0", "12.5", "3.33333333", "7"]))
        lines.append(f"{t},{o},{high},{low},{c},{volume}")
    return lines


@settings(max_examples=300, deadline=None)
@given(lines=candle_lines(), name=st.sampled_from(["X-USD_5m_t.csv", "X-USD_t.csv"]))
def test_load_candle_file_when_any_rows_then_what_the_row_by_row_reader_gave(lines, name) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
        assert outcome(load_candle_file, path) == outcome(reference_load, path)


@pytest.mark.parametrize("row", BROKEN_ROWS)
def test_load_candle_file_when_a_broken_row_follows_good_ones_then_the_same_error(
    row: str, tmp_path: Path
) -> None:
    path = tmp_path / "X-USD_5m_t.csv"
    good = "300,1,2,0.5,1.5,7\n600,1.5,2,1,1,3"
    path.write_text(f"{HEADER}\n{good}\n{row.replace('5,', '900,', 1)}\n", encoding="utf-8")
    assert outcome(load_candle_file, path) == outcome(reference_load, path)


@pytest.mark.skipif(not CANDLES.is_dir(), reason="needs ../shared/data/candles")
@pytest.mark.parametrize("name", ["BTC-USD_15m_coinbase.csv", "SOL-USD_15m_coinbase.csv"])
def test_load_candle_file_when_real_candles_then_what_the_row_by_row_reader_gave(name) -> None:
    assert outcome(load_candle_file, CANDLES / name) == outcome(reference_load, CANDLES / name)
