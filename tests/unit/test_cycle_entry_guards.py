"""Whole cycles on the rig: what keeps an entry from bleeding fees (the cooldown after any
exit, the expected move against the round-trip cost, post-only entries and their fallback)."""

from __future__ import annotations

from decimal import Decimal

from cycle_rig import Rig, make_rig
from scripted_market import default_config, rising, tweak

from trader.domain.models import Mode, OrderStatus, Side

D = Decimal


def rising_sol(rig: Rig, first_close: str) -> None:
    """One bar on; SOL's 48 bars rise 0.3 % a bar from `first_close` (momentum fires)."""
    rig.clock.advance()
    rig.market.candles["SOL-USD"] = rising(rig.clock.now(), D(first_close), D("0.3"), 48)


# --- the cooldown after any exit ---------------------------------------------------------


def test_cycle_when_a_winning_exit_then_no_re_entry_within_the_cooldown_after_exit() -> None:
    config = tweak(
        default_config(),
        risk={"cooldown_minutes_after_loss": 0, "cooldown_minutes_after_exit": 60},
    )
    rig = make_rig(config)
    bought = rig.run(Mode.PAPER)  # SOL bought at about 115 (100 x 1.003^47)
    assert [(o.side, o.status) for o in bought.orders] == [(Side.BUY, OrderStatus.FILLED)]

    rising_sol(rig, "110")  # last close 110 x 1.003^47 = 126.5: +10 % over entry, take profit
    sold = rig.run(Mode.PAPER)
    assert [(o.side, o.status) for o in sold.orders] == [(Side.SELL, OrderStatus.FILLED)]
    assert rig.store.load().realized_pnl_total > 0  # a winning exit

    rising_sol(rig, "111")  # momentum still fires, five minutes after the exit
    again = rig.run(Mode.PAPER)

    assert again.orders == ()
    assert again.no_trade_reason == "all_proposals_blocked_by_risk"
    (decision,) = rig.audit.records[-1]["risk"]
    # sold at 12:05, the second cycle: no entry before 12:05 + 60 minutes
    assert (decision["product_id"], decision["check"]) == ("SOL-USD", "cooldown")
    assert decision["detail"] == "cooldown after an exit until 2026-03-02T13:05:00+00:00"
