"""The snapshot's second round charts the regime's products over the regime's window (when
longer than the lookback) and the others over the lookback, for any config: its window length,
worked out once per regime config and granularity, is what regime_bars_to_fetch says."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trader.adapters.memory import InlineExecutor
from trader.domain.bar_window import BarWindow, as_bars
from trader.domain.config import load_config, regime_bars_to_fetch
from trader.domain.models import Candle, FeeRates, Product, Quote
from trader.pipeline.scan import MarketRequest
from trader.service.snapshot import _second_round

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class AskedMarket:
    """MarketData that answers nothing and notes each window asked for."""

    def __init__(self) -> None:
        self.windows: dict[str, tuple[datetime, datetime]] = {}

    def list_products(self) -> Sequence[Product]:
        return []

    def get_quotes(self, product_ids: Sequence[str]) -> Mapping[str, Quote]:
        return {}

    def get_candles(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        self.windows[product_id] = (start, end)
        return ()


def product(pid: str) -> Product:
    base, quote = pid.split("-")
    one = Decimal(1)
    return Product(pid, base, quote, one, one, one, one, one, one)


@pytest.mark.parametrize("granularity", [300, 900, 3600])
@pytest.mark.parametrize("trend_hours", [1, 24, 96])
@pytest.mark.parametrize("lookback", [20, 200])
def test_second_round_when_any_config_then_regime_window_as_regime_bars_to_fetch_says(
    granularity: int, trend_hours: int, lookback: int
) -> None:
    cfg = load_config()
    cfg = cfg.model_copy(
        update={
            "cycle": cfg.cycle.model_copy(
                update={"candle_granularity_seconds": granularity, "lookback_bars": lookback}
            ),
            "regime": cfg.regime.model_copy(update={"trend_hours": Decimal(trend_hours)}),
        }
    )
    products = {pid: product(pid) for pid in ("BTC-USD", "SOL-USD")}
    request = MarketRequest(("BTC-USD",), ("BTC-USD", "SOL-USD"), ("SOL-USD",), ("BTC-USD",))
    market = AskedMarket()
    account = (products, {}, FeeRates(maker=Decimal(0), taker=Decimal(0)))
    _second_round(market, cfg, NOW, account, request, InlineExecutor())

    longer = max(lookback, regime_bars_to_fetch(cfg.regime, granularity))
    assert market.windows == {
        "BTC-USD": (NOW - timedelta(seconds=granularity * (longer + 1)), NOW),
        "SOL-USD": (NOW - timedelta(seconds=granularity * (lookback + 1)), NOW),
    }


def test_second_round_when_one_regime_config_at_two_granularities_then_each_its_own_window() -> (
    None
):
    cfg = load_config()
    regime = cfg.regime.model_copy(update={"trend_hours": Decimal(96)})
    products = {"BTC-USD": product("BTC-USD")}
    request = MarketRequest(("BTC-USD",), ("BTC-USD",), (), ("BTC-USD",))
    account = (products, {}, FeeRates(maker=Decimal(0), taker=Decimal(0)))
    for granularity in (300, 900, 300):
        cycle = cfg.cycle.model_copy(
            update={"candle_granularity_seconds": granularity, "lookback_bars": 20}
        )
        market = AskedMarket()
        _second_round(
            market,
            cfg.model_copy(update={"cycle": cycle, "regime": regime}),
            NOW,
            account,
            request,
            InlineExecutor(),
        )
        bars = regime_bars_to_fetch(regime, granularity)
        assert market.windows["BTC-USD"][0] == NOW - timedelta(seconds=granularity * (bars + 1))


class AnsweringMarket(AskedMarket):
    """Answers each product's candles with the sequence given for it."""

    def __init__(self, answers: Mapping[str, Sequence[Candle]]) -> None:
        super().__init__()
        self.answers = answers

    def get_candles(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        return self.answers[product_id]


def test_second_round_when_candles_as_any_sequence_then_each_kept_as_as_bars_keeps_it() -> None:
    bar = Candle(NOW, *(Decimal(n) for n in (1, 2, 0, 1, 5)))
    answers: dict[str, Sequence[Candle]] = {
        "BTC-USD": BarWindow((bar, bar, bar), 1, 3),  # a window stays itself
        "ETH-USD": [bar, bar],  # a list becomes a tuple
        "SOL-USD": (bar,),
    }
    products = {pid: product(pid) for pid in answers}
    request = MarketRequest(("BTC-USD",), tuple(answers), (), ("BTC-USD",))
    account = (products, {}, FeeRates(maker=Decimal(0), taker=Decimal(0)))
    snap = _second_round(
        AnsweringMarket(answers), load_config(), NOW, account, request, InlineExecutor()
    )
    for pid, given in answers.items():
        expected = as_bars(given)
        assert type(snap.candles[pid]) is type(expected)
        assert list(snap.candles[pid]) == list(expected)
    assert snap.candles["BTC-USD"] is answers["BTC-USD"]
