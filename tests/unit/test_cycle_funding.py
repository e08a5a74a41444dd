"""Two-step buys: an account with no cash pays for a buy by selling a funding source first."""

from __future__ import annotations

from decimal import Decimal

from cycle_rig import FEES, make_rig
from scripted_market import default_config

from trader.adapters.sim.matching import MatchingExchange
from trader.domain.config import FundingConfig
from trader.domain.models import Intent, OrderStatus, Side

D = Decimal


def test_cycle_when_no_usd_nor_usdc_but_eth_is_a_funding_source_then_sell_eth_then_buy() -> None:
    config = default_config().model_copy(update={"funding": FundingConfig(sources=("ETH",))})
    rig = make_rig(config)  # SOL rises: momentum proposes a SOL entry
    rig.exchange = MatchingExchange(rig.market, rig.clock, FEES, D(0), {"ETH": D(5)})

    result = rig.run()

    sale, buy = result.orders
    assert (sale.product_id, sale.side, sale.intent) == ("ETH-USD", Side.SELL, Intent.FUNDING)
    assert (buy.product_id, buy.side, buy.intent) == ("SOL-USD", Side.BUY, Intent.ENTRY)
    assert sale.status is buy.status is OrderStatus.FILLED
    held = rig.exchange.balance_totals()
    # The sale brought in at least what the buy spent (1 % margin), and no more than it
    # needed: what is left in USD is at most the margin plus one ETH increment's worth.
    assert 0 <= held["USD"] < buy.quote_size * D("0.02") + D("3200") * D("0.0001")
    assert held["ETH"] == D(5) - sale.filled_size
    audit = rig.audit.records[-1]
    intents = [(o["product_id"], o["intent"]) for o in audit["orders"]["planned"]]
    assert intents == [("ETH-USD", "FUNDING"), ("SOL-USD", "ENTRY")]  # both legs audited
    assert rig.store.load().positions["SOL-USD"].size == held["SOL"]


def test_cycle_when_no_funding_source_is_configured_then_the_buy_is_blocked_for_funds() -> None:
    rig = make_rig()
    rig.exchange = MatchingExchange(rig.market, rig.clock, FEES, D(0), {"ETH": D(5)})

    result = rig.run()

    assert result.orders == ()
    risk = rig.audit.records[-1]["risk"]
    assert any(r["check"] == "insufficient_funds" for r in risk)
