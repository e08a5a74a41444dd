"""CsvMarket keeps what one clock reading gives (each product's newest closed bar, the product
list) until the clock moves, and serves candle windows as slices of one tuple.

Here one market answers a hypothesis-made run of calls while its clock moves (whole and
fractional seconds, into gaps, past the files' end) and its products' flags change; every
answer must equal a fresh market's, built at that moment with the same flags (nothing kept).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from candle_files import write_candles
from hypothesis import given, settings
from hypothesis import strategies as st

from trader.adapters.clock import SteppingClock
from trader.adapters.sim.csv_market import CsvMarket
from trader.domain.bar_window import BarWindow

T0 = 1_772_409_600  # a multiple of 900
PRODUCTS = ("BTC-USD", "SOL-USD")
START = datetime.fromtimestamp(T0, UTC)

MOVE = st.tuples(st.just("move"), st.integers(0, 4000), st.sampled_from([0, 1, 250_000]))
LIST = st.tuples(st.just("list"))
QUOTES = st.tuples(st.just("quotes"), st.lists(st.sampled_from([*PRODUCTS, "XRP-USD"])))
CANDLES = st.tuples(
    st.just("candles"),
    st.sampled_from(PRODUCTS),
    st.sampled_from([300, 900]),
    st.integers(0, 60),  # bars back from now
)
FLAG = st.tuples(
    st.just("flag"), st.sampled_from(PRODUCTS), st.sampled_from(["limit_only", "cancel_only"])
)
CALLS = st.lists(st.one_of(MOVE, LIST, QUOTES, CANDLES, FLAG), min_size=1, max_size=25)


def ask(market: CsvMarket, call: tuple, now: datetime) -> object:
    if call[0] == "list":
        return market.list_products()
    if call[0] == "quotes":
        return market.get_quotes(call[1])
    _, pid, grain, back = call
    return market.get_candles(pid, grain, now - timedelta(seconds=grain * back), now)


def fresh_answer(folder: Path, now: datetime, flags: dict[str, dict], call: tuple) -> object:
    market = CsvMarket(folder, SteppingClock(now, 300), 300, products=flags)
    return ask(market, call, now)


@settings(max_examples=150, deadline=None)
@given(calls=CALLS, gaps=st.sets(st.integers(0, 11), max_size=4))
def test_answers_when_clock_moves_and_flags_change_then_a_fresh_markets(calls, gaps) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_candles(folder, "BTC-USD", T0, 12, grain=300, gaps=gaps)
        write_candles(folder, "SOL-USD", T0 + 600, 10, grain=300, price=20.0, seed=2)
        clock = SteppingClock(START, 300)
        market = CsvMarket(folder, clock, 300)
        flags: dict[str, dict] = {pid: {} for pid in PRODUCTS}
        for call in calls:
            if call[0] == "move":
                clock.move_to(clock.now() + timedelta(seconds=call[1], microseconds=call[2]))
            elif call[0] == "flag":
                flags[call[1]][call[2]] = not flags[call[1]].get(call[2], False)
                market.set_product_flags(call[1], **flags[call[1]])
            else:
                answer = ask(market, call, clock.now())
                assert answer == fresh_answer(folder, clock.now(), flags, call)
                assert type(answer) is type(fresh_answer(folder, clock.now(), flags, call))


def test_get_candles_when_asked_then_a_window_over_the_files_bars_not_a_copy(
    tmp_path: Path,
) -> None:
    write_candles(tmp_path, "BTC-USD", T0, 40, grain=300)
    now = START + timedelta(hours=2)
    clock = SteppingClock(now, 300)
    market = CsvMarket(tmp_path, clock, 300)
    bars = market.get_candles("BTC-USD", 300, START, now)
    assert type(bars) is BarWindow
    assert (bars.lo, bars.hi) == (0, 24)  # 2 hours of 5-minute bars closed
    clock.move_to(now + timedelta(seconds=300))  # one bar later: the same tuple, moved on
    later = market.get_candles("BTC-USD", 300, START + timedelta(seconds=300), clock.now())
    assert later.bars is bars.bars
    assert (later.lo, later.hi) == (1, 25)
    assert market.get_candles("BTC-USD", 300, now, now) == ()
