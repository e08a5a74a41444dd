"""Liquidation on the simulated account (service/liquidation.py): what is sold, in which
order, what the state books, and what happens when something is in the way.

The rig (tests/support/liquidation_rig.py) holds 100 USDC, 50 USD, 0.01 BTC, 2 SOL,
1000 XYZ (quoted only in BTC), 0.5 ETH (kept by the default request) and 3 DOGE (dust),
at fixed prices without spread or slippage; the taker fee is 0.6 %. By hand:

    BTC.0  sell 0.01 BTC-USDC   @ 60,000 = 600.00 - fee 3.60         = +596.40 USDC
    SOL.0  sell 2 SOL-USDC      @ 150    = 300.00 - fee 1.80         = +298.20 USDC
    USD.0  convert 50 USD -> USDC                                    =  +50.00 USDC
    XYZ.0  sell 1000 XYZ-BTC    @ 0.00001 = 0.01 BTC - fee 0.00006   = +0.00994 BTC
    XYZ.1  sell 0.00994 BTC-USDC @ 60,000 = 596.40 - fee 3.5784      = +592.8216 USDC
    USDC: 100 + 596.40 + 298.20 + 50 + 592.8216                      = 1637.4216
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from liquidation_rig import NOW, RefusingExchange, rig_config, sim_rig
from lock_race import ShortLeaseLock

from trader.domain.errors import AuditError, StateConflict
from trader.domain.ids import liquidation_leg_id
from trader.domain.models import ConversionStatus, Mode, Position, TradingState
from trader.domain.state import PortfolioState

D = Decimal
ALL_LEGS = ["BTC.0", "SOL.0", "USD.0", "XYZ.0", "XYZ.1"]


def held(totals: dict[str, Decimal]) -> dict[str, Decimal]:
    """The currencies with something in them."""
    return {c: amount for c, amount in totals.items() if amount != 0}


def test_liquidate_when_several_coins_then_all_but_kept_and_dust_end_in_usdc() -> None:
    rig, account = sim_rig()

    answer = rig.liquidate()

    assert answer["ok"] is True, answer["error"]
    assert held(account.balance_totals()) == {
        "USDC": D("1637.4216"),
        "ETH": D("0.5"),  # kept
        "DOGE": D(3),  # 0.45 USDC < min_value 1
    }
    assert [leg["leg"] for leg in answer["legs"]] == ALL_LEGS
    assert all(leg["status"] in ("FILLED", "COMPLETED") for leg in answer["legs"])
    assert [(leg["venue"], leg["proceeds"]) for leg in answer["legs"]] == [
        ("BTC-USDC", "596.4"),
        ("SOL-USDC", "298.2"),
        ("USD->USDC", "50"),
        ("XYZ-BTC", "0.00994"),
        ("BTC-USDC", "592.8216"),
    ]
    assert [(r["currency"], r["amount"], r["reason"]) for r in answer["remaining"]] == [
        ("DOGE", "3", "dust_below_min_value"),
        ("ETH", "0.5", "keep"),
    ]
    skipped = {p["currency"]: p["skip_reason"] for p in answer["plan"] if p["skip_reason"]}
    assert skipped == {"DOGE": "dust_below_min_value", "ETH": "keep", "USDC": "already_target"}


def test_liquidate_when_bridge_fill_slips_then_second_leg_sized_from_actual_proceeds() -> None:
    # 10 bps slippage: XYZ-BTC fills at 0.00001 x 0.999 = 0.00000999 -> 0.00999 BTC - fee
    # 0.00005994 = 0.00993006 BTC, so BTC-USDC sells 0.00993006 (the plan forecast 0.00994)
    rig, account = sim_rig({"XYZ": D(1000)}, slippage_bps=D(10))

    answer = rig.liquidate()

    bridge = next(p for p in answer["plan"] if p["currency"] == "XYZ")
    assert bridge["route"][1]["size"] == "0.00994000"
    assert bridge["route"][1]["estimated"] is True
    assert [(leg["leg"], leg["size"]) for leg in answer["legs"]] == [
        ("XYZ.0", "1000"),
        ("XYZ.1", "0.00993006"),
    ]
    assert account.balance_totals()["BTC"] == 0


def test_liquidate_when_same_request_invoked_again_then_no_order_and_no_conversion() -> None:
    rig, account = sim_rig()
    rig.liquidate()
    orders, conversions = len(account.orders()), dict(rig.state().conversions)

    again = rig.liquidate()

    assert again["ok"] is True
    assert again["legs"] == []
    assert len(account.orders()) == orders == 4  # BTC, SOL, XYZ and the BTC of XYZ
    assert rig.state().conversions == conversions  # the one USD conversion, not a second
    assert held(account.balance_totals())["USDC"] == D("1637.4216")


def test_liquidate_when_dry_run_then_plan_and_forecast_answered_and_nothing_sent() -> None:
    rig, account = sim_rig()

    answer = rig.liquidate(dry_run=True, confirm=None)

    assert answer["ok"] is True
    assert answer["dry_run"] is True
    assert answer["legs"] == []
    assert account.orders() == {}
    assert account.balance_totals()["BTC"] == D("0.01")
    assert [p["currency"] for p in answer["plan"] if p["route"]] == ["BTC", "SOL", "USD", "XYZ"]
    assert [r["reason"] for r in answer["remaining"]] == ["dust_below_min_value", "keep"]
    assert rig.store.saves == []  # a dry run writes no state
    assert rig.lock.holder is None
    (record,) = rig.audit.records
    assert record["record_type"] == "liquidation"
    assert record["cycle_id"] == "liquidation-liq-1"


def test_liquidate_when_a_cycle_holds_the_lock_then_waits_30s_and_answers_lock_held() -> None:
    rig, account = sim_rig()
    rig.lock.acquire("cycle-20260302T1200Z", NOW, 600)

    answer = rig.liquidate()

    assert answer["ok"] is False
    assert answer["error"].startswith("lock_held: in-memory cycle lock is held by 'cycle-")
    assert "waited 30 s" in answer["error"]
    assert rig.sleeps == [2.0] * 15  # liquidation.lock_wait_seconds 30, asked every 2 s
    assert account.orders() == {}
    assert answer["legs"] == []
    assert rig.lock.holder is not None and rig.lock.holder.owner == "cycle-20260302T1200Z"
    assert rig.audit.records[0]["error"] == answer["error"]


def test_liquidate_when_the_cycle_lets_go_while_waiting_then_liquidates() -> None:
    rig, account = sim_rig()
    cycle = rig.lock.acquire("cycle-20260302T1200Z", NOW, 600)
    rig.on_sleep = lambda _s: rig.lock.release(cycle) if len(rig.sleeps) == 3 else None

    answer = rig.liquidate()

    assert answer["ok"] is True
    assert rig.sleeps[:3] == [2.0, 2.0, 2.0]
    assert len(account.orders()) == 4
    assert rig.lock.holder is None  # released after


def test_liquidate_when_lambda_time_is_short_then_lock_wait_bounded_by_it() -> None:
    # 25 s left, 20 s needed to trade: it waits at most 5 s (2 + 2 + 1)
    rig, account = sim_rig(config=rig_config(lock_wait_seconds=60))
    rig.lock.acquire("cycle", NOW, 600)

    answer = rig.liquidate(remaining_seconds=lambda: 25.0)

    assert answer["error"].startswith("lock_held:")
    assert rig.sleeps == [2.0, 2.0, 1.0]
    assert account.orders() == {}


def test_liquidate_when_too_little_lambda_time_then_insufficient_time_and_nothing_sold() -> None:
    rig, account = sim_rig()

    answer = rig.liquidate(remaining_seconds=lambda: 10.0)

    assert answer["ok"] is False
    assert answer["error"].startswith("insufficient_time: 10 s left, 20 s needed")
    assert account.orders() == {}
    not_done = [r["currency"] for r in answer["remaining"] if r["reason"] == "not_done"]
    assert not_done == ["BTC", "SOL", "USD", "XYZ"]
    assert rig.lock.holder is None


def test_liquidate_when_halt_trading_then_halted_and_saved_before_the_first_order() -> None:
    rig, _ = sim_rig()

    answer = rig.liquidate(halt_trading=True)

    assert answer["ok"] is True
    first = rig.store.saves[0]
    assert first.trading_state is TradingState.HALTED
    assert first.open_orders == {} and first.conversions == {}  # saved before any leg
    assert rig.state().trading_state is TradingState.HALTED
    assert rig.audit.records[0]["trading_state"] == "HALTED"


def test_liquidate_when_trading_already_halted_then_it_still_sells() -> None:
    rig, account = sim_rig()
    rig.store.save(PortfolioState(trading_state=TradingState.HALTED), None)

    answer = rig.liquidate()

    assert answer["ok"] is True
    assert held(account.balance_totals())["USDC"] == D("1637.4216")
    assert rig.state().trading_state is TradingState.HALTED


def test_liquidate_when_a_position_is_held_then_its_realized_pnl_is_booked_and_it_closes() -> None:
    # 2 SOL bought at 140 with 0.84 of fees; sold on SOL-USDC (booked under SOL-USD) at 150
    # with a 1.80 fee: PnL = (150 - 140) x 2 - 1.80 - 0.84 = 17.36
    rig, _ = sim_rig({"SOL": D(2)})
    opened = NOW - timedelta(hours=3)
    sol = Position("SOL-USD", D(2), D(140), opened, entry_fees=D("0.84"), high_watermark=D(150))
    rig.store.save(PortfolioState(positions={"SOL-USD": sol}, held_currencies=("SOL",)), None)

    answer = rig.liquidate()

    assert answer["ok"] is True
    state = rig.state()
    assert state.positions == {}
    assert state.open_orders == {}
    assert state.realized_pnl_total == D("17.36")
    assert state.fees_total == D("1.80")


def test_liquidate_when_a_create_answer_is_lost_then_it_stops_and_a_retry_sells_nothing() -> None:
    # The 4th create (XYZ.1, BTC-USDC) is placed but its answer is lost and the exchange
    # does not show it yet: the leg stays UNKNOWN and the invocation stops there.
    rig, account = sim_rig()
    flaky = RefusingExchange(account, refuse_at=4)
    rig.exchange = flaky

    first = rig.liquidate()

    assert first["ok"] is False
    assert first["error"].startswith("leg_failed: XYZ.1 sell BTC-USDC ended UNKNOWN")
    assert [leg["leg"] for leg in first["legs"]] == ALL_LEGS
    assert len(rig.state().open_orders) == 1  # kept in flight, not forgotten

    flaky.reveal()
    again = rig.liquidate()

    assert again["ok"] is True
    assert again["legs"] == []  # the BTC was sold by the lost create: nothing left to sell
    assert len(account.orders()) == 4
    assert held(account.balance_totals())["USDC"] == D("1637.4216")
    assert rig.state().open_orders == {}  # read back and booked by the retry


def test_liquidate_when_trading_mode_is_dry_run_then_execution_refused_and_nothing_sold() -> None:
    rig, account = sim_rig()

    answer = rig.liquidate(mode=Mode.DRY_RUN, halt_trading=True)

    assert answer["ok"] is False
    assert answer["error"].startswith("refused: the trading mode is DRY_RUN")
    assert account.orders() == {}
    assert rig.store.saves == []  # not even the halt
    assert rig.audit.records[0]["error"] == answer["error"]


def test_liquidate_when_paper_mode_then_the_paper_account_of_the_state_is_sold() -> None:
    # The paper account slips 2 bps: SOL at 150 x 0.9998 = 149.97; 2 x 149.97 = 299.94,
    # fee 0.6 % = 1.79964 -> 298.14036 USDC; the 10 USD convert -> 308.14036 USDC
    rig, account = sim_rig()
    rig.store.save(PortfolioState(paper_balances={"USD": D(10), "SOL": D(2)}), None)

    answer = rig.liquidate(mode=Mode.PAPER)

    assert answer["ok"] is True, answer["error"]
    assert held(rig.state().paper_balances) == {"USDC": D("308.14036")}
    assert account.orders() == {}  # the exchange's own account is not the paper account
    assert account.balance_totals()["SOL"] == D(2)


def test_liquidate_when_target_usd_then_sold_on_usd_books_and_usdc_converted() -> None:
    # BTC: 0.01 x 60,000 - 3.60 fee = 596.40 USD; 100 USDC -> 100 USD: 696.40 USD
    rig, account = sim_rig({"BTC": D("0.01"), "USDC": D(100)})

    answer = rig.liquidate(target="USD")

    assert answer["ok"] is True
    assert [leg["venue"] for leg in answer["legs"]] == ["BTC-USD", "USDC->USD"]
    assert held(account.balance_totals()) == {"USD": D("696.40")}


def test_liquidate_when_the_state_cannot_be_saved_then_error_answered_and_lock_released() -> None:
    rig, account = sim_rig()
    rig.store.fail_on_save = StateConflict("the state moved")

    answer = rig.liquidate(halt_trading=True)

    assert answer["ok"] is False
    assert answer["error"] == "exception:StateConflict: the state moved"
    assert account.orders() == {}  # the halt is saved before any order: nothing was sent
    assert rig.lock.holder is None
    assert rig.audit.records[0]["ok"] is False


def test_liquidate_when_a_conversion_is_recorded_then_it_is_never_sent_again() -> None:
    # An earlier invocation wrote the USD conversion ahead and never heard back (STARTED):
    # the same leg of the same amount is reported, not sent again, and the route stops.
    rig, account = sim_rig({"USD": D(50)})
    cid = liquidation_leg_id("default", "liq-1", "USD", 0, D(50))
    rig.store.save(PortfolioState(conversions={cid: ConversionStatus.STARTED}), None)

    answer = rig.liquidate()

    assert answer["ok"] is False
    assert answer["error"].startswith("leg_failed: USD.0 convert USD->USDC ended STARTED")
    assert answer["legs"][0]["client_order_id"] == cid
    assert account.balance_totals() == {"USD": D(50)}


def test_liquidate_when_the_audit_sink_fails_then_still_answered_and_lock_released() -> None:
    rig, _ = sim_rig({"SOL": D(2)})
    rig.audit.fail_with = AuditError("bucket gone")

    answer = rig.liquidate()

    assert answer["ok"] is True  # the sale happened; the failed record is logged (and counted)
    assert answer["legs"][0]["status"] == "FILLED"
    assert rig.lock.holder is None


class SlowCreateExchange(RefusingExchange):
    """The simulated account whose first create takes 600 s (the 360 s lease lapses)."""

    def __init__(self, inner, clock) -> None:  # type: ignore[no-untyped-def]
        super().__init__(inner, refuse_at=0)
        self.clock = clock

    def place_order(self, order):  # type: ignore[no-untyped-def]
        placed = super().place_order(order)
        if self._creates == 1:
            self.clock.advance(2)
        return placed


def test_liquidate_when_the_lease_lapses_after_a_leg_then_lock_lost_and_no_further_leg() -> None:
    rig, account = sim_rig()
    rig.exchange = SlowCreateExchange(account, rig.clock)

    answer = rig.liquidate()

    assert answer["ok"] is False
    assert answer["error"].startswith("lock_lost: the lease of 'operator' (token 1) expires at")
    assert [leg["leg"] for leg in answer["legs"]] == ["BTC.0"]
    assert len(account.orders()) == 1  # the first sell only
    assert rig.lock.holder is None


def test_liquidate_when_the_lease_is_nearly_spent_then_lock_lost_and_nothing_sold() -> None:
    rig, account = sim_rig()
    rig.lock = ShortLeaseLock(10, rig.lock)  # type: ignore[assignment]  # 10 s left, 20 needed

    answer = rig.liquidate()

    assert answer["error"].startswith("lock_lost:")
    assert account.orders() == {}
