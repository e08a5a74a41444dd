"""The market snapshot: two rounds of parallel requests, whatever the universe size.

Round 1: products, balances, fee rates and the account's new fills. Round 2: quotes for
every product we may touch, and candles for the candidates and the regime's reference product.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from datetime import datetime
from itertools import repeat

from trader.domain.bar_window import BarWindow
from trader.domain.config import Config, regime_bars_to_fetch
from trader.domain.copying import replaced
from trader.domain.errors import ExchangeError
from trader.domain.memo import seconds
from trader.domain.models import (
    AccountFills,
    Balance,
    FeeRates,
    MarketSnapshot,
    Product,
    Quote,
)
from trader.pipeline.scan import MarketRequest
from trader.ports import Exchange, MarketData

log = logging.getLogger(__name__)


def take_snapshot(
    market: MarketData,
    account: Exchange,
    config: Config,
    now: datetime,
    wanted: Callable[[dict[str, Product]], MarketRequest],
    pool: Executor,
    fills_cursor: str | None,
    alongside: Sequence[Callable[[], object]] = (),
) -> tuple[MarketSnapshot, MarketRequest]:
    """Everything the decision needs; `wanted(products)` says what to quote and to chart.

    The account's fills since `fills_cursor` are read with its balances, in the same round.
    """
    products_f = pool.submit(market.list_products)
    balances_f = pool.submit(account.get_balances)
    fees_f = pool.submit(account.get_fee_rates)
    fills_f = pool.submit(_fills_or_none, account, fills_cursor)
    extra_fs = [pool.submit(job) for job in alongside]  # e.g. loading the candle cache
    products = list(products_f.result())
    balances: Mapping[str, Balance] = balances_f.result()
    fees: FeeRates = fees_f.result()
    fills = fills_f.result()
    for extra in extra_fs:
        extra.result()
    by_id = {p.product_id: p for p in products}
    request = wanted(by_id)
    snapshot = _second_round(market, config, now, (by_id, balances, fees), request, pool)
    return replaced(snapshot, account_fills=fills), request


def _fills_or_none(account: Exchange, cursor: str | None) -> AccountFills | None:
    """The account's fills since `cursor`; a failed read is logged, never fatal (the cursor
    stays, so the next cycle reads them)."""
    try:
        return account.get_fills_since(cursor)
    except ExchangeError:
        log.warning("the account's fills could not be read; retried next cycle", exc_info=True)
        return None


def _second_round(
    market: MarketData,
    config: Config,
    now: datetime,
    account: tuple[dict[str, Product], Mapping[str, Balance], FeeRates],
    request: MarketRequest,
    pool: Executor,
) -> MarketSnapshot:
    """Quotes in one call and each charted product's bars: the regime's products over the
    regime's window (when longer than the cycle's lookback), the others over the lookback."""
    products, balances, fees = account
    granularity = config.cycle.candle_granularity_seconds
    lookback = config.cycle.lookback_bars
    # (remembered per config object: an lru_cache here hashed the whole config every call)
    longer = max(lookback, regime_bars_to_fetch(config.regime, granularity))
    quoted = [pid for pid in dict.fromkeys(request.quoted) if pid in products]
    charted = [pid for pid in dict.fromkeys(request.candles) if pid in products]
    quotes_f = pool.submit(market.get_quotes, quoted)
    since = now - seconds(granularity * (lookback + 1))
    regime_since = now - seconds(granularity * (longer + 1))
    starts = dict.fromkeys(request.regime, regime_since)
    windows = [starts.get(pid, since) for pid in charted]
    # map, as the pool's own: submitted at once, read in order; a call's error raised here
    fetched = pool.map(market.get_candles, charted, repeat(granularity), windows, repeat(now))
    quotes: Mapping[str, Quote] = quotes_f.result()
    # as_bars of each, written out (a call per product costs more than the test)
    candles = {
        pid: bars if type(bars) is BarWindow else tuple(bars)
        for pid, bars in zip(charted, fetched, strict=True)
    }
    return MarketSnapshot(
        as_of=now,
        products=products,
        quotes=dict(quotes),
        candles=candles,
        balances=dict(balances),
        fees=fees,
    )


def drop_stale_quotes(snapshot: MarketSnapshot, max_age_s: int) -> MarketSnapshot:
    """Only quotes younger than `max_age_s`: an old quote is treated as no quote at all."""
    limit = seconds(max_age_s)
    fresh = {pid: q for pid, q in snapshot.quotes.items() if snapshot.as_of - q.time <= limit}
    return replaced(snapshot, quotes=fresh) if len(fresh) < len(snapshot.quotes) else snapshot


def staleness(
    snapshot: MarketSnapshot, received_quotes: int, reference: str, granularity_s: int
) -> str | None:
    """Why the whole snapshot is too old to trade on, or None (after drop_stale_quotes).

    Stale when quotes came back and none is fresh, or when the reference product's
    newest closed bar is missing or older than three bars (a replay past its data's end).
    """
    if received_quotes and not snapshot.quotes:
        return f"none of the {received_quotes} quotes is fresh"
    bars = snapshot.candles.get(reference, ())
    if not bars:
        return f"no closed bars for the reference product {reference}"
    lag = snapshot.as_of - bars[-1].start
    if lag > seconds(3 * granularity_s):
        return f"newest {reference} bar started {lag} ago"
    return None
