"""Entry proposals: sizing by tier, conviction and regime; skips say why; at most N per cycle."""

from __future__ import annotations

from decimal import Decimal

from pipeline_builders import product, signal, tier, universe_of

from trader.domain.config import ExitsConfig, RulesConfig
from trader.domain.models import Intent, Side
from trader.pipeline.regime import RegimePolicy, policy_for
from trader.pipeline.rules import conviction_of, propose_entries, size_scale

D = Decimal
CFG = RulesConfig(
    min_signals=1,
    max_new_positions_per_cycle=2,
    min_conviction_scale=D("0.5"),
    regime_size_multiplier={"trending_up": D(1), "choppy": D("0.5"), "crash": D(0)},
)
CORE = tier("core", 8, "BTC-USD", "ETH-USD")
TIER2 = tier("tier2", 5, "SOL-USD")
UNIVERSE = universe_of(
    (product("BTC-USD"), CORE), (product("ETH-USD"), CORE), (product("SOL-USD"), TIER2)
)


def regime(name: str, cfg: RulesConfig = CFG) -> RegimePolicy:
    return policy_for(name, cfg, ExitsConfig())


UP = regime("trending_up")
EQUITY = D(10_000)


def test_conviction_of_when_signals_agree_then_sum_capped_at_one() -> None:
    assert conviction_of([signal(strength="0.25"), signal(strength="0.5")]) == D("0.75")
    assert conviction_of([signal(strength="0.7"), signal(strength="0.6")]) == D(1)  # 1.3 -> 1
    assert conviction_of([]) == D(0)


def test_size_scale_when_conviction_varies_then_linear_from_min_scale_to_one() -> None:
    assert size_scale(D(0), CFG) == D("0.5")
    assert size_scale(D("0.5"), CFG) == D("0.75")  # 0.5 + 0.5 * 0.5
    assert size_scale(D(1), CFG) == D(1)


def test_propose_entries_when_one_signal_in_uptrend_then_sized_by_tier_and_conviction() -> None:
    # full = 10,000 * 8 % = 800; scale 0.5 + 0.5 * 0.5 = 0.75; x 1 (trending_up) = 600.00
    decision = propose_entries([signal("BTC-USD")], UNIVERSE, UP, EQUITY, (), CFG)
    (proposal,) = decision.proposals
    assert proposal.product_id == "BTC-USD"
    assert proposal.side is Side.BUY
    assert proposal.intent is Intent.ENTRY
    assert proposal.quote_size == D("600.00")
    assert proposal.base_size is None
    assert proposal.tier == "core"
    assert proposal.conviction == D("0.5")
    assert proposal.reason == "momentum (regime trending_up)"
    assert decision.skipped == {}


def test_propose_entries_when_two_signals_in_chop_then_full_conviction_at_half_size() -> None:
    # conviction min(1, 0.7 + 0.6) = 1 -> scale 1; 800 x 1 x 0.5 (choppy) = 400.00
    signals = [signal(kind="breakout", strength="0.7"), signal(kind="momentum", strength="0.6")]
    (proposal,) = propose_entries(signals, UNIVERSE, regime("choppy"), EQUITY, (), CFG).proposals
    assert proposal.quote_size == D("400.00")
    assert proposal.reason == "breakout+momentum (regime choppy)"


def test_propose_entries_when_size_has_fractional_cents_then_rounded_down() -> None:
    # SOL: 1,000 * 5 % = 50; scale 0.5 + 0.5 * 0.1111 = 0.55555; 50 * 0.55555 = 27.7775 -> 27.77
    decision = propose_entries(
        [signal("SOL-USD", strength="0.1111")], UNIVERSE, UP, D(1000), (), CFG
    )
    assert decision.proposals[0].quote_size == D("27.77")


def test_propose_entries_when_regime_sizes_at_zero_then_skipped_with_regime_named() -> None:
    decision = propose_entries([signal("BTC-USD")], UNIVERSE, regime("crash"), EQUITY, (), CFG)
    assert decision.proposals == ()
    assert decision.skipped == {"BTC-USD": "regime_blocked: crash sizes entries at 0"}


def test_propose_entries_when_the_regime_allows_no_tier_then_blocked_even_at_a_size() -> None:
    # trending_down sizes at 0.25 but, by default, lets no tier in: no entry, the regime named
    cfg = CFG.model_copy(update={"regime_size_multiplier": {"trending_down": D("0.25")}})
    decision = propose_entries(
        [signal("BTC-USD"), signal("SOL-USD")],
        UNIVERSE,
        regime("trending_down", cfg),
        EQUITY,
        (),
        cfg,
    )
    assert decision.proposals == ()
    assert decision.skipped == {
        "BTC-USD": "regime_blocked: trending_down allows no new entry (tier core)",
        "SOL-USD": "regime_blocked: trending_down allows no new entry (tier tier2)",
    }


def test_propose_entries_when_the_regime_allows_one_tier_then_only_that_tier_enters() -> None:
    cfg = RulesConfig(
        regime_tiers={"volatile": ("core",)}, regime_size_multiplier={"volatile": D("0.5")}
    )
    decision = propose_entries(
        [signal("BTC-USD"), signal("SOL-USD")],
        UNIVERSE,
        regime("volatile", cfg),
        EQUITY,
        (),
        cfg,
    )
    # BTC (core) enters at 800 x 0.75 x 0.5 (volatile) = 300.00; SOL (tier2) is refused
    assert [(p.product_id, p.quote_size) for p in decision.proposals] == [("BTC-USD", D("300.00"))]
    assert decision.skipped == {"SOL-USD": "regime_blocked: volatile allows only core (tier tier2)"}


def test_propose_entries_when_product_outside_universe_then_not_in_universe() -> None:
    decision = propose_entries([signal("DOGE-USD")], UNIVERSE, UP, EQUITY, (), CFG)
    assert decision.proposals == ()
    assert decision.skipped == {"DOGE-USD": "not_in_universe"}


def test_propose_entries_when_position_or_order_open_then_no_pyramiding() -> None:
    decision = propose_entries([signal("BTC-USD")], UNIVERSE, UP, EQUITY, {"BTC-USD"}, CFG)
    assert decision.proposals == ()
    assert decision.skipped == {"BTC-USD": "position_or_order_open"}


def test_propose_entries_when_fewer_signals_than_needed_then_skipped_with_counts() -> None:
    cfg = CFG.model_copy(update={"min_signals": 2})
    decision = propose_entries([signal("BTC-USD")], UNIVERSE, UP, EQUITY, (), cfg)
    assert decision.skipped == {"BTC-USD": "signals 1 < 2"}


def test_propose_entries_when_more_than_max_per_cycle_then_strongest_kept() -> None:
    cfg = CFG.model_copy(update={"max_new_positions_per_cycle": 1})
    signals = [signal("BTC-USD", strength="0.3"), signal("SOL-USD", strength="0.9")]
    decision = propose_entries(signals, UNIVERSE, UP, EQUITY, (), cfg)
    assert [p.product_id for p in decision.proposals] == ["SOL-USD"]
    assert decision.skipped == {"BTC-USD": "beyond max_new_positions_per_cycle 1"}


def test_propose_entries_when_convictions_tie_then_product_id_breaks_the_tie() -> None:
    signals = [signal("SOL-USD"), signal("ETH-USD"), signal("BTC-USD")]
    decision = propose_entries(signals, UNIVERSE, UP, EQUITY, (), CFG)
    assert [p.product_id for p in decision.proposals] == ["BTC-USD", "ETH-USD"]
    assert decision.skipped == {"SOL-USD": "beyond max_new_positions_per_cycle 2"}


def test_propose_entries_when_no_signals_then_nothing_and_nothing_skipped() -> None:
    decision = propose_entries([], UNIVERSE, UP, EQUITY, (), CFG)
    assert decision.proposals == ()
    assert decision.skipped == {}


def test_propose_entries_when_equity_zero_then_proposal_of_zero_left_to_risk() -> None:
    # rules do not filter on size; risk's min_notional does
    (proposal,) = propose_entries([signal("BTC-USD")], UNIVERSE, UP, D(0), (), CFG).proposals
    assert proposal.quote_size == D(0)
