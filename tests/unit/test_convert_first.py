"""Conversions run before the buys that need them, written ahead, never twice."""

from __future__ import annotations

from decimal import Decimal

from trader.domain.errors import OrderRejected
from trader.domain.models import (
    Conversion,
    ConversionStatus,
    Intent,
    OrderType,
    PlannedConversion,
    PlannedOrder,
    Side,
)
from trader.domain.state import PortfolioState
from trader.service.funding import convert_first

D = Decimal
BUY = PlannedOrder("coid-1", "BTC-USD", Side.BUY, OrderType.MARKET, Intent.ENTRY, None, D(100))
OTHER = PlannedOrder("coid-2", "ETH-USD", Side.BUY, OrderType.MARKET, Intent.ENTRY, None, D(10))
NEEDED = PlannedConversion("cv-0", "USDC", "USD", D(70), "fund BTC-USD", "coid-1")


class Account:
    """Only what convert_first uses; `refuse` makes the next conversion a definite no."""

    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[str] = []
        self.refuse = refuse

    def convert(self, conversion: PlannedConversion) -> Conversion:
        self.sent.append(conversion.client_id)
        if self.refuse:
            raise OrderRejected("no", "INVALID_ARGUMENT")
        return Conversion(conversion.client_id, "t-1", ConversionStatus.COMPLETED, D(70))


def test_convert_first_when_a_buy_needs_usd_then_written_ahead_then_sent_once() -> None:
    saved: list[PortfolioState] = []
    account = Account()

    state, plan, results = convert_first(
        PortfolioState(), account, (BUY, OTHER), (NEEDED,), lambda s: saved.append(s) or s
    )

    assert [s.conversions for s in saved] == [{"cv-0": ConversionStatus.PENDING}]  # before
    assert account.sent == ["cv-0"]
    assert state.conversions == {"cv-0": ConversionStatus.COMPLETED}
    assert plan == (BUY, OTHER)
    assert [r.status for r in results] == [ConversionStatus.COMPLETED]


def test_convert_first_when_the_cycle_is_retried_then_nothing_converts_again() -> None:
    account = Account()
    done = PortfolioState(conversions={"cv-0": ConversionStatus.PENDING})

    state, plan, results = convert_first(done, account, (BUY,), (NEEDED,), lambda s: s)

    assert account.sent == []  # an outcome unknown is never sent twice
    assert (state, plan, results) == (done, (BUY,), ())


def test_convert_first_when_the_conversion_is_refused_then_its_buy_is_not_sent() -> None:
    state, plan, results = convert_first(
        PortfolioState(), Account(refuse=True), (BUY, OTHER), (NEEDED,), lambda s: s
    )
    assert plan == (OTHER,)  # the buy it paid for waits; the others go
    assert state.conversions == {"cv-0": ConversionStatus.FAILED}
    assert results[0].detail == "INVALID_ARGUMENT"
