"""Liquidation through the real Coinbase adapter and SDK, against the fake Coinbase.

The fake's account holds 100 USDC, 50 USD, 0.01 BTC, 2 SOL, 1000 XYZ (listed only as
XYZ-BTC), 0.5 ETH (kept) and 3 DOGE (0.45 USDC: dust), at fixed prices (see
tests/support/liquidation_rig.py). By hand, as on the simulated account:
BTC 596.40 + SOL 298.20 + USD 50 + XYZ via BTC 592.8216 + 100 held = 1637.4216 USDC.
"""

from __future__ import annotations

from decimal import Decimal

from liquidation_rig import fake_coinbase_rig

D = Decimal
CREATES = "/orders"


def held(fake) -> dict[str, Decimal]:
    return {c: a for c, a in fake.exchange.balance_totals().items() if a != 0}


def created_on(fake) -> list[tuple[str, str]]:
    """(product id, base size) of every create the fake was sent, in order."""
    return [
        (r.body["product_id"], r.body["order_configuration"]["market_market_ioc"]["base_size"])
        for r in fake.requests
        if r.method == "POST" and r.path == CREATES
    ]


def test_liquidate_on_coinbase_when_several_coins_then_usdc_but_kept_and_dust() -> None:
    with fake_coinbase_rig() as (rig, fake):
        answer = rig.liquidate()

        assert answer["ok"] is True, answer["error"]
        assert held(fake) == {"USDC": D("1637.4216"), "ETH": D("0.5"), "DOGE": D(3)}
        assert created_on(fake) == [
            ("BTC-USDC", "0.01"),  # the alias: the sale pays USDC, not USD
            ("SOL-USDC", "2"),
            ("XYZ-BTC", "1000"),
            ("BTC-USDC", "0.00994000"),  # sized from the BTC the XYZ sale really paid
        ]
        assert fake.count("POST", "/convert/quote") == 1  # the 50 USD
        assert [leg["status"] for leg in answer["legs"]] == ["FILLED"] * 2 + ["COMPLETED"] + [
            "FILLED"
        ] * 2
        assert rig.state().open_orders == {}


def test_liquidate_on_coinbase_when_same_request_again_then_not_one_create_or_convert() -> None:
    with fake_coinbase_rig() as (rig, fake):
        rig.liquidate()
        creates, converts = fake.count("POST", CREATES), fake.count("POST", "/convert/quote")

        again = rig.liquidate()

        assert again["ok"] is True
        assert again["legs"] == []
        assert fake.count("POST", CREATES) == creates == 4
        assert fake.count("POST", "/convert/quote") == converts == 1
        assert held(fake)["USDC"] == D("1637.4216")


def test_liquidate_on_coinbase_when_bridge_leg_refused_then_stops_and_retry_sells_once() -> None:
    with fake_coinbase_rig() as (rig, fake):
        # BTC.0, SOL.0 and XYZ.0 go through; the 4th create (XYZ.1: BTC-USDC) is refused
        fake.reject_create_after(3, "INSUFFICIENT_FUND", "Insufficient balance in source account")

        first = rig.liquidate()

        assert first["ok"] is False
        assert first["error"].startswith("leg_failed: XYZ.1 sell BTC-USDC ended REJECTED")
        assert [(leg["leg"], leg["status"]) for leg in first["legs"]] == [
            ("BTC.0", "FILLED"),
            ("SOL.0", "FILLED"),
            ("USD.0", "COMPLETED"),
            ("XYZ.0", "FILLED"),
            ("XYZ.1", "REJECTED"),
        ]
        # 100 + 596.40 + 298.20 + 50 = 1044.60 USDC; the 0.00994 BTC from XYZ waits
        assert held(fake) == {
            "USDC": D("1044.6"),
            "BTC": D("0.00994"),
            "ETH": D("0.5"),
            "DOGE": D(3),
        }
        assert ("BTC", "0.00994000", "not_done") in [
            (r["currency"], r["amount"], r["reason"]) for r in first["remaining"]
        ]

        retry = rig.liquidate()

        assert retry["ok"] is True, retry["error"]
        assert [(leg["leg"], leg["venue"], leg["size"]) for leg in retry["legs"]] == [
            ("BTC.0", "BTC-USDC", "0.00994000")
        ]
        # every amount sold exactly once, the refused create included only as an attempt
        assert created_on(fake) == [
            ("BTC-USDC", "0.01"),
            ("SOL-USDC", "2"),
            ("XYZ-BTC", "1000"),
            ("BTC-USDC", "0.00994000"),
            ("BTC-USDC", "0.00994000"),
        ]
        assert fake.orders_created() == 4
        assert fake.count("POST", "/convert/quote") == 1
        assert held(fake) == {"USDC": D("1637.4216"), "ETH": D("0.5"), "DOGE": D(3)}


def test_liquidate_on_coinbase_when_dry_run_then_reads_only() -> None:
    with fake_coinbase_rig() as (rig, fake):
        answer = rig.liquidate(dry_run=True, confirm=None)

        assert answer["ok"] is True
        assert [p["currency"] for p in answer["plan"] if p["route"]] == ["BTC", "SOL", "USD", "XYZ"]
        assert [r.method for r in fake.requests if r.method != "GET"] == []
        assert held(fake)["BTC"] == D("0.01")
