"""Whole cycles on the rig: what keeps an entry from bleeding fees (the cooldown after any
exit, the expected move against the round-trip cost, post-only entries and their fallback)."""

from __future__ import annotations

from decimal import Decimal

from cycle_rig import Rig, make_rig
from scripted_market import default_config, rising, series, tweak

from trader.domain.models import Mode, OrderStatus, OrderType, Side

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


# --- the expected move against the round-trip cost ---------------------------------------


def test_cycle_when_the_move_is_too_small_for_the_fees_then_edge_below_cost_audited() -> None:
    rig = make_rig(
        tweak(default_config(), edge={"enabled": True, "cost_margin": 2})
    )  # SOL +0.3 % a bar
    result = rig.run(Mode.PAPER)

    assert result.orders == ()
    assert result.no_trade_reason == "edge_below_cost"
    skipped = rig.audit.records[0]["proposals"]["skipped"]["SOL-USD"]
    # Each rising bar's true range is its close less the close before, so the 14 bars' mean
    # telescopes to (last close - close 14 bars back) / 14: about 0.3 % of the price.
    closes = [c.close for c in rig.market.candles["SOL-USD"]]
    atr = (closes[-1] - closes[-15]) / 14 / closes[-1] * 100
    # 3 x ATR ~ 0.89 % against 2 x (0.6 + 0.6 taker fees + 2 x 1 bp half spread + impact)
    assert skipped == (
        f"edge_below_cost: expected move {3 * atr:.2f}% (3 x ATR {atr:.2f}%) < 2 x round trip 1.22%"
    )


def test_cycle_when_the_move_pays_the_round_trip_with_margin_then_the_entry_goes() -> None:
    rig = make_rig(
        tweak(default_config(), edge={"enabled": True, "cost_margin": 2}), sol_step_pct=D("1.5")
    )
    result = rig.run(Mode.PAPER)

    # 3 x 1.5 % = 4.5 % >= 2 x 1.22 = 2.44 %: bought
    assert [(o.product_id, o.side, o.status) for o in result.orders] == [
        ("SOL-USD", Side.BUY, OrderStatus.FILLED)
    ]


# --- post-only entries and their fallback ------------------------------------------------


def post_only_rig(fallback: str = "none") -> Rig:
    execution = {"post_only_entries": True, "unfilled_entry_fallback": fallback}
    return make_rig(tweak(default_config(), execution=execution))


def test_cycle_when_post_only_entries_then_the_entry_rests_below_the_ask_and_fills_as_maker() -> (
    None
):
    rig = post_only_rig()
    (placed,) = rig.run(Mode.PAPER).orders
    assert (placed.product_id, placed.order_type, placed.status) == (
        "SOL-USD",
        OrderType.LIMIT,
        OrderStatus.OPEN,
    )
    ask = rig.market.get_quotes(["SOL-USD"])["SOL-USD"].ask
    assert placed.limit_price < ask  # never crosses: it would be rejected
    assert rig.audit.records[0]["orders"]["planned"][0]["post_only"] is True

    # The next bar trades through the limit: filled whole at the limit, at the maker fee.
    rig.clock.advance()
    bars = rig.market.candles["SOL-USD"]
    rig.market.candles["SOL-USD"] = [*bars, series(rig.clock.now(), [placed.limit_price - 1])[0]]
    rig.run(Mode.PAPER)

    position = rig.store.load().positions["SOL-USD"]
    assert position.avg_entry_price == placed.limit_price
    notional = placed.limit_price * placed.base_size
    assert position.entry_fees == notional * D("0.004")  # maker, not the 0.6 % taker


def rest_unfilled_until_cancelled(rig: Rig) -> tuple[str, object]:
    """A post-only entry placed, then two bars above its limit: at 600 s it is cancelled."""
    (placed,) = rig.run(Mode.PAPER).orders
    for first_close in ("116", "117"):  # SOL keeps rising, never back to the limit
        rising_sol(rig, first_close)
        result = rig.run(Mode.PAPER)
    return placed.client_order_id, result


def test_cycle_when_a_post_only_entry_rests_unfilled_and_fallback_none_then_given_up() -> None:
    rig = post_only_rig("none")
    coid, result = rest_unfilled_until_cancelled(rig)

    (cancelled,) = result.reconciled
    assert (cancelled.client_order_id, cancelled.status) == (coid, OrderStatus.CANCELLED)
    assert result.orders == ()  # the signal still holds, but that product is given up
    assert result.no_trade_reason == "rules_engine_no_proposals"
    skipped = rig.audit.records[-1]["proposals"]["skipped"]
    assert skipped == {"SOL-USD": f"unfilled_entry: limit {coid} rested unfilled"}
    assert rig.store.load().positions == {}


def test_cycle_when_a_post_only_entry_rests_unfilled_and_fallback_market_then_bought_now() -> None:
    rig = post_only_rig("market")
    coid, result = rest_unfilled_until_cancelled(rig)

    assert [o.status for o in result.reconciled] == [OrderStatus.CANCELLED]
    (bought,) = result.orders
    assert (bought.product_id, bought.order_type, bought.status) == (
        "SOL-USD",
        OrderType.MARKET,
        OrderStatus.FILLED,
    )
    (proposal,) = rig.audit.records[-1]["proposals"]["proposed"]
    assert proposal["at_market"] is True
    assert proposal["reason"].endswith(f"; at market: limit {coid} rested unfilled")
    position = rig.store.load().positions["SOL-USD"]
    # a quote-sized market buy: the fee is inside the quote size, at the 0.6 % taker rate
    # (the base bought is floored to 16 decimals, so the fee is a hair above the exact share)
    taker_share = bought.quote_size * D("0.006") / D("1.006")
    assert abs(position.entry_fees - taker_share) < D("0.000001")
