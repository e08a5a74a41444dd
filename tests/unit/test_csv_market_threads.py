"""`trader run --candles-dir` asks the CSV market from a thread pool: the product list on one
thread while the matching engine settles resting orders with quotes on another. Making a run
of products and quotes replaces the last run in place, so it must not interleave with another
thread's making or reading: every answer must be the one a single thread gets."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trader.adapters.clock import SteppingClock
from trader.adapters.sim import csv_market
from trader.adapters.sim.csv_market import CsvMarket

START = datetime(2025, 1, 1, tzinfo=UTC)
BARS = 120
PRODUCTS = ("AAA-USD", "BBB-USD", "CCC-USD")


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Threads switched as often as the interpreter allows (races show within a short run)."""
    was = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(was)


def write_files(folder: Path) -> None:
    first = int(START.timestamp())
    for n, pid in enumerate(PRODUCTS):
        lines = ["time,open,high,low,close,volume"]
        for i in range(BARS):
            close = 100 + n + (i % 7)
            lines.append(f"{first + 300 * i},{close},{close + 1},{close - 1},{close},{10 + i}")
        (folder / f"{pid}_5m_test.csv").write_text("\n".join(lines) + "\n")


def answers_alone(folder: Path, moments: list[datetime]) -> list[tuple]:
    clock = SteppingClock(moments[0], 300)
    market = CsvMarket(folder, clock, 300)
    seen = []
    for moment in moments:
        clock.move_to(moment)
        seen.append((tuple(market.list_products()), dict(market.get_quotes(PRODUCTS))))
    return seen


def answers_from_two_threads(folder: Path, moments: list[datetime]) -> list[tuple]:
    clock = SteppingClock(moments[0], 300)
    market = CsvMarket(folder, clock, 300)
    both = threading.Barrier(2)
    listed: list[tuple] = []
    quoted: list[dict] = []
    errors: list[BaseException] = []

    def ask(answers: list, question, moves_clock: bool) -> None:
        for moment in moments:
            try:
                both.wait(timeout=10)
                if moves_clock:  # one thread moves the clock while the other waits
                    clock.move_to(moment)
                both.wait(timeout=10)
                answers.append(question())
            except BaseException as exc:  # noqa: BLE001 (reported by the test below)
                errors.append(exc)
                both.abort()
                return

    threads = [
        threading.Thread(target=ask, args=(listed, lambda: tuple(market.list_products()), True)),
        threading.Thread(
            target=ask, args=(quoted, lambda: dict(market.get_quotes(PRODUCTS)), False)
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return list(zip(listed, quoted, strict=True))


def test_made_ahead_when_two_threads_ask_at_each_moment_then_the_single_thread_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, busy_switching: None
) -> None:
    monkeypatch.setattr(csv_market, "_AHEAD", 1)  # a new run at every moment: the most making
    write_files(tmp_path)
    moments = [START + timedelta(minutes=5 * k) for k in range(BARS + 2)]
    for _ in range(5):  # a few rounds: the threads interleave differently each time
        assert answers_from_two_threads(tmp_path, moments) == answers_alone(tmp_path, moments)


def test_made_ahead_when_another_thread_makes_the_same_run_meanwhile_then_each_gets_its_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving forced: B finds the run missing and starts making it; A finds it
    missing too, makes and holds it; B's run then takes the place of A's (forgetting it) while
    A has yet to read its product. Made and read under one lock, A reads what it made (or B
    makes first and A finds it): no thread sees the gap between two runs."""
    monkeypatch.setattr(csv_market, "_AHEAD", 3)
    write_files(tmp_path)
    clock = SteppingClock(START + timedelta(minutes=5), 300)
    market = CsvMarket(tmp_path, clock, 300)
    market.list_products()  # every file read, the first runs made
    clock.move_to(START + timedelta(minutes=50))  # past those runs: each is made again
    b_making, a_held, b_forgot = threading.Event(), threading.Event(), threading.Event()
    products_from, hold, forget = (
        CsvMarket._products_from,
        csv_market._Made.hold,
        csv_market._Made.forget,
    )

    def slow_products_from(self, product_id, series, idx):
        if threading.current_thread().name == "B":
            b_making.set()
            a_held.wait(timeout=0.5)  # (with the lock, A cannot hold meanwhile)
        else:
            b_making.wait(timeout=0.5)
        return products_from(self, product_id, series, idx)

    def pausing_hold(self, count, products, quotes):
        hold(self, count, products, quotes)
        if threading.current_thread().name == "A":
            a_held.set()
            b_forgot.wait(timeout=0.5)

    def pausing_forget(self):
        forget(self)
        if threading.current_thread().name == "B" and a_held.is_set() and not b_forgot.is_set():
            b_forgot.set()
            time.sleep(0.2)  # A reads now, if nothing stops it

    monkeypatch.setattr(CsvMarket, "_products_from", slow_products_from)
    monkeypatch.setattr(csv_market._Made, "hold", pausing_hold)
    monkeypatch.setattr(csv_market._Made, "forget", pausing_forget)
    got: dict[str, object] = {}

    def run(name: str, question) -> None:
        try:
            got[name] = question()
        except BaseException as exc:  # noqa: BLE001 (compared below)
            got[name] = exc

    b = threading.Thread(
        target=run, args=("B", lambda: dict(market.get_quotes(PRODUCTS))), name="B"
    )
    a = threading.Thread(target=run, args=("A", lambda: tuple(market.list_products())), name="A")
    b.start()
    assert b_making.wait(timeout=5)
    a.start()
    a.join(timeout=10)
    b.join(timeout=10)
    listed, quoted = answers_alone(tmp_path, [clock.now()])[0]
    assert got == {"A": listed, "B": quoted}


def test_file_when_two_threads_ask_for_it_at_once_then_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second read of a file would put new made lists beside those the market already reads
    every product's answers from (and `set_product_flags` would clear the wrong ones)."""
    write_files(tmp_path)
    market = CsvMarket(tmp_path, SteppingClock(START + timedelta(hours=1), 300), 300)
    reading, second_asks = threading.Event(), threading.Event()
    reads: list[str] = []
    load = csv_market.load_candle_file

    def slow_load(path: Path):  # the first read waits for the second thread to ask
        reads.append(threading.current_thread().name)
        reading.set()
        second_asks.wait(timeout=0.5)
        return load(path)

    monkeypatch.setattr(csv_market, "load_candle_file", slow_load)
    first = threading.Thread(target=market.bar_starts, args=(PRODUCTS[0],), name="first")
    first.start()
    assert reading.wait(timeout=5)
    second = threading.Thread(target=market.bar_starts, args=(PRODUCTS[0],), name="second")
    second.start()
    time.sleep(0.05)  # the second thread is asking now (it waits, or reads the file too)
    second_asks.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert reads == ["first"]
    market.list_products()  # every file read: the market's table holds each file's lists
    every = market._all
    assert every is not None
    assert every.products[0] is market._made[PRODUCTS[0]].products


class _OtherThreadMovesOn(SteppingClock):
    """A clock under which another thread moves the market on: the next reading, once armed,
    first moves to the next bar and has the market asked for quotes there (as the other
    thread of `trader run` would, between two steps of the asking thread)."""

    def __init__(self, start: datetime, market_of: list[CsvMarket]) -> None:
        super().__init__(start, 300)
        self.armed = False
        self.market_of = market_of

    def now(self) -> datetime:
        if self.armed:
            self.armed = False
            self.move_to(super().now() + timedelta(minutes=5))
            self.market_of[0].get_quotes(PRODUCTS)  # the other thread, at the new moment
        return super().now()


def test_products_when_another_thread_moved_the_moment_on_meanwhile_then_the_new_moments(
    tmp_path: Path,
) -> None:
    """The product list is read after the moment is checked: a list kept from the last moment
    is not handed out because another thread has meanwhile set the new one."""
    write_files(tmp_path)
    market_of: list[CsvMarket] = []
    clock = _OtherThreadMovesOn(START + timedelta(minutes=30), market_of)
    market = CsvMarket(tmp_path, clock, 300)
    market_of.append(market)
    before = market.list_products()
    clock.armed = True
    moved = market.list_products()
    alone = CsvMarket(tmp_path, SteppingClock(START + timedelta(minutes=35), 300), 300)
    assert moved == alone.list_products()
    assert moved != before  # (the price moves from one bar to the next: the check can fail)
