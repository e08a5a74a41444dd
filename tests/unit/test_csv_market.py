"""CsvMarket: parsing, validation, resampling, closed bars and quotes, on small hand-made files."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trader.adapters.clock import SteppingClock
from trader.adapters.sim.csv_market import CandleDataError, CsvMarket, load_candle_file
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.models import FeeRates

D = Decimal
T0 = 1_772_409_600  # 2026-03-02T00:00:00Z, a multiple of 900
HEADER = "time,open,high,low,close,volume\n"
SHARED_CANDLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "candles"

# Six 5-minute bars, then a gap of two bars, then one more.
ROWS_5M = [
    (T0 + 0, "100.00", "101.00", "99.50", "100.50", "2"),
    (T0 + 300, "100.50", "102.00", "100.00", "101.00", "3"),
    (T0 + 600, "101.00", "101.50", "98.00", "99.00", "5"),
    (T0 + 900, "99.00", "99.50", "97.00", "98.00", "1"),
    (T0 + 1200, "98.00", "100.00", "97.50", "99.90", "4"),
    (T0 + 1500, "99.90", "100.20", "99.80", "100.00", "0.5"),
    (T0 + 2400, "100.00", "100.10", "99.00", "99.10", "7"),
]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def write(
    folder: Path, name: str, rows: list[tuple[int, str, str, str, str, str]], header: str = HEADER
) -> Path:
    path = folder / name
    path.write_text(header + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "SOL-USD_5m_test.csv", ROWS_5M)
    return tmp_path


def market(folder: Path, now_s: int, granularity: int = 300) -> CsvMarket:
    return CsvMarket(folder, SteppingClock(at(now_s), 300), granularity)


def test_get_candles_when_file_read_then_decimal_candles_ascending_with_gap_absent(
    folder: Path,
) -> None:
    bars = market(folder, 10_000).get_candles("SOL-USD", 300, at(0), at(3000))
    assert [b.start for b in bars] == [at(s) for s in (0, 300, 600, 900, 1200, 1500, 2400)]
    assert (bars[2].open, bars[2].high, bars[2].low, bars[2].close, bars[2].volume) == (
        D("101.00"),
        D("101.50"),
        D("98.00"),
        D("99.00"),
        D(5),
    )


def test_get_candles_when_coarser_granularity_then_resampled_by_hand(folder: Path) -> None:
    bars = market(folder, 10_000).get_candles("SOL-USD", 900, at(0), at(3600))
    # bucket 0 (rows 0..2): open 100.00, high max(101, 102, 101.5) = 102.00,
    #   low min(99.5, 100, 98) = 98.00, close 99.00, volume 2 + 3 + 5 = 10
    # bucket 900 (rows 3..5): open 99.00, high 100.20, low 97.00, close 100.00,
    #   volume 1 + 4 + 0.5 = 5.5
    # bucket 1800 (row at 2400 only): 100.00 / 100.10 / 99.00 / 99.10, volume 7
    assert [(b.start, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (at(0), D("100.00"), D("102.00"), D("98.00"), D("99.00"), D(10)),
        (at(900), D("99.00"), D("100.20"), D("97.00"), D("100.00"), D("5.5")),
        (at(1800), D("100.00"), D("100.10"), D("99.00"), D("99.10"), D(7)),
    ]


def test_get_candles_when_clock_mid_bar_then_only_closed_bars(folder: Path) -> None:
    m = market(folder, 1000)  # 5m bars closed by then: 0, 300, 600 (ends 900); 900 ends 1200
    assert [b.start for b in m.get_candles("SOL-USD", 300, at(0), at(9999))] == [
        at(0),
        at(300),
        at(600),
    ]
    # 15m: bucket 0 ends at 900 <= 1000 (closed); bucket 900 ends at 1800 (still forming)
    assert [b.start for b in m.get_candles("SOL-USD", 900, at(0), at(9999))] == [at(0)]


def test_get_candles_when_finer_than_file_then_clear_error(folder: Path) -> None:
    with pytest.raises(ValueError, match=r"SOL-USD_5m_test.csv has 300 s candles; 60 s"):
        market(folder, 10_000).get_candles("SOL-USD", 60, at(0), at(600))


def test_get_quotes_when_last_close_known_then_half_spread_each_side_on_grid(folder: Path) -> None:
    m = market(folder, 1200)  # last closed 5m bar: 900..1200, close 98.00
    q = m.get_quotes(["SOL-USD", "NOPE-USD"])
    # half of 5 bps of 98.00 = 0.0245 -> bid 97.9755 down to 97.97, ask 98.0245 up to 98.03
    assert (q["SOL-USD"].bid, q["SOL-USD"].ask) == (D("97.97"), D("98.03"))
    assert q["SOL-USD"].time == at(1200)
    assert "NOPE-USD" not in q


def test_get_quotes_when_clock_inside_a_gap_then_quote_time_is_the_last_bar_end(
    folder: Path,
) -> None:
    q = market(folder, 2500).get_quotes(["SOL-USD"])["SOL-USD"]  # bars 1800 and 2100 missing
    assert q.time == at(1800)  # the 1500 bar closed at 1800; nothing since


def test_list_products_when_listed_then_price_volume_and_increments(folder: Path) -> None:
    (product,) = market(folder, 1800).list_products()
    assert (product.product_id, product.base_currency, product.quote_currency) == (
        "SOL-USD",
        "SOL",
        "USD",
    )
    assert product.price == D("100.00")
    # 24 h of closed bars = all six: 2*100.50 + 3*101 + 5*99 + 1*98 + 4*99.90 + 0.5*100
    #   = 201 + 303 + 495 + 98 + 399.6 + 50 = 1546.60
    assert product.volume_24h_quote == D("1546.60")
    assert product.quote_increment == D("0.01")  # prices in the file have two decimals
    assert product.is_tradable


def test_list_products_when_before_first_candle_then_offline(folder: Path) -> None:
    (product,) = market(folder, 0).list_products()
    assert product.status == "offline" and not product.is_tradable


def test_products_when_overrides_given_then_applied(folder: Path) -> None:
    overrides = {"SOL-USD": {"base_increment": D("0.001"), "limit_only": True}}
    m = CsvMarket(folder, SteppingClock(at(1800), 300), 300, products=overrides)
    (product,) = m.list_products()
    assert product.base_increment == D("0.001") and product.limit_only
    with pytest.raises(ValueError, match="unknown Product field"):
        m.set_product_flags("SOL-USD", colour="red")


def test_product_id_when_usdt_file_then_keeps_its_own_id(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USDT_5m_binance.csv", ROWS_5M)
    (product,) = market(tmp_path, 10_000).list_products()
    assert (product.product_id, product.quote_currency) == ("BTC-USDT", "USDT")


def test_time_range_when_asked_then_first_and_last_candle_start(folder: Path) -> None:
    assert market(folder, 0).time_range("SOL-USD") == (at(0), at(2400))


@pytest.mark.parametrize(
    ("header", "rows", "match"),
    [
        ("time,o,h,l,c,v\n", ROWS_5M, r"SOL-USD_5m_test.csv line 1: header"),
        (
            HEADER,
            [ROWS_5M[0], ROWS_5M[2], ROWS_5M[1]],
            r"SOL-USD_5m_test.csv line 4: time .* is not after",
        ),
        (HEADER, [ROWS_5M[0], ROWS_5M[0]], r"line 3: time .* is not after"),
        (HEADER, [ROWS_5M[0], (T0 + 301, *ROWS_5M[1][1:])], r"line 3: time .* not aligned to 300"),
        (HEADER, [ROWS_5M[0], (T0 + 300, "x", "1", "1", "1", "1")], r"line 3: not a number"),
        (
            HEADER,
            [ROWS_5M[0], (T0 + 300, "1", "0.5", "1", "1", "1")],
            r"line 3: inconsistent OHLCV",
        ),
        (HEADER, [ROWS_5M[0], (T0 + 300, "1", "1", "1", "1")], r"line 3: expected 6 fields"),
    ],
)
def test_load_when_file_malformed_then_error_names_file_and_line(
    tmp_path: Path, header: str, rows: list[tuple[int, str, str, str, str, str]], match: str
) -> None:
    write(tmp_path, "SOL-USD_5m_test.csv", rows, header=header)
    with pytest.raises(CandleDataError, match=match):
        market(tmp_path, 10_000).get_candles("SOL-USD", 300, at(0), at(3000))


def test_constructor_when_folder_has_no_csv_then_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CandleDataError, match=r"no \*\.csv candle files"):
        market(tmp_path, 0)


@pytest.mark.shared_data
def test_real_coinbase_file_when_present_then_matches_the_readme() -> None:
    if not (SHARED_CANDLES / "BTC-USD_15m_coinbase.csv").exists():
        pytest.skip("../shared/data/candles is not here")
    clock = SteppingClock(datetime(2026, 6, 1, tzinfo=UTC), 900)
    m = CsvMarket(SHARED_CANDLES, clock, 900)
    first, last = m.time_range("BTC-USD")
    assert (first, last) == (
        datetime(2024, 4, 18, 16, 30, tzinfo=UTC),
        datetime(2026, 5, 8, 16, 45, tzinfo=UTC),
    )
    assert (
        len(m.get_candles("BTC-USD", 900, first, last + timedelta(minutes=15))) == 71_946
    )  # README rows
    # README landmark: BTC-USD low 49,050.01 on 2024-08-05
    day = m.get_candles(
        "BTC-USD", 86_400, datetime(2024, 8, 5, tzinfo=UTC), datetime(2024, 8, 6, tzinfo=UTC)
    )
    assert [d.low for d in day] == [D("49050.01")]
    assert {p.product_id for p in m.list_products()} >= {
        "BTC-USD",
        "ETH-USD",
        "SOL-USD",
        "BTC-USDT",
    }


def test_list_products_when_the_clock_moves_then_volume_counts_the_last_24_hours(
    tmp_path: Path,
) -> None:
    # 300 five-minute bars, bar i with volume i and close 10: quote volume 10 * i.
    rows = [(T0 + i * 300, "10", "10", "10", "10", str(i)) for i in range(300)]
    write(tmp_path, "SOL-USD_5m_test.csv", rows)
    clock = SteppingClock(at(11 * 300), 300)
    m = CsvMarket(tmp_path, clock, 300)

    # Bars 0..10 have closed: 10 * (0 + 1 + ... + 10) = 550.
    assert m.list_products()[0].volume_24h_quote == D("550.00")
    clock.advance(289)  # bars 0..299 closed; 24 h = the 288 bars 12..299
    (product,) = m.list_products()
    assert product.volume_24h_quote == D(10 * sum(range(12, 300)))
    assert product.price == D(10)


def test_list_products_when_usdc_aliases_then_what_a_matching_exchange_lists(
    tmp_path: Path,
) -> None:
    """The replay's market names each USD book's USDC alias itself (as Coinbase lists it), so
    the products are those a MatchingExchange over a plain market lists, bar after bar."""
    write(tmp_path, "SOL-USD_5m_test.csv", ROWS_5M)
    write(tmp_path, "SOL-USDT_5m_test.csv", ROWS_5M)
    clock = SteppingClock(at(0), 300)
    plain = CsvMarket(tmp_path, clock, 300)
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    matching = MatchingExchange(plain, clock, fees, D(5), balances={})
    aliased = CsvMarket(tmp_path, clock, 300, usdc_aliases=True)
    for _ in range(10):
        assert aliased.list_products() == matching.list_products()
        clock.advance()
    aliases = {p.product_id: p.aliases for p in aliased.list_products()}
    assert aliases == {"SOL-USD": ("SOL-USDC",), "SOL-USDT": ()}


@pytest.mark.parametrize("files", [("SOL-USD", "BTC-USD"), ("SOL-USD", "SOL-USDT")])
def test_matching_exchange_when_its_market_names_the_aliases_then_the_same_list(
    tmp_path: Path, files: tuple[str, ...]
) -> None:
    """A MatchingExchange over the replay's market (aliases named: passed on as they are)
    lists what one over a plain market lists (aliases added), with USD books only or not."""
    for pid in files:
        write(tmp_path, f"{pid}_5m_test.csv", ROWS_5M)
    clock = SteppingClock(at(0), 300)
    fees = FeeRates(maker=D("0.004"), taker=D("0.006"))
    plain = MatchingExchange(CsvMarket(tmp_path, clock, 300), clock, fees, D(5), balances={})
    aliased_market = CsvMarket(tmp_path, clock, 300, usdc_aliases=True)
    aliased = MatchingExchange(aliased_market, clock, fees, D(5), balances={})
    for _ in range(10):
        assert aliased.list_products() == plain.list_products()
        ids = list(files)
        assert aliased.get_quotes(ids) == aliased_market.get_quotes(ids) == plain.get_quotes(ids)
        clock.advance()


@pytest.mark.parametrize("was_running", [True, False])
@pytest.mark.parametrize("rows", [ROWS_5M, [(T0, "1", "0.5", "1", "1", "1")]], ids=["good", "bad"])
def test_load_when_done_or_failed_then_the_collector_as_it_was(
    tmp_path: Path, was_running: bool, rows: list
) -> None:
    """Loading pauses the garbage collector and leaves it as it found it, even on an error."""
    path = write(tmp_path, "SOL-USD_5m_test.csv", rows)
    (gc.enable if was_running else gc.disable)()
    try:
        try:
            load_candle_file(path)
        except CandleDataError:
            assert rows is not ROWS_5M
        assert gc.isenabled() is was_running
    finally:
        gc.enable()
