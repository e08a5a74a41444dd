"""The rules engine's entries: which signalled products to buy, and for how much."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from trader.domain.config import RulesConfig
from trader.domain.copying import quick_init
from trader.domain.models import ZERO, Intent, Proposal, Side, Signal
from trader.domain.money import HUNDRED
from trader.pipeline.regime import RegimePolicy
from trader.pipeline.universe import Member, Universe

ONE = Decimal(1)
CENT = Decimal("0.01")


@quick_init
@dataclass(frozen=True, slots=True)
class EntryDecision:
    proposals: tuple[Proposal, ...]
    skipped: dict[str, str]  # product id -> why no entry was proposed


def conviction_of(signals: Sequence[Signal]) -> Decimal:
    """Agreeing triggers add up: the sum of strengths, capped at 1."""
    return min(ONE, sum((s.strength for s in signals), ZERO))


def size_scale(conviction: Decimal, cfg: RulesConfig) -> Decimal:
    """From `min_conviction_scale` at conviction 0 up to 1 at conviction 1, linearly."""
    return cfg.min_conviction_scale + (ONE - cfg.min_conviction_scale) * conviction


def _entry(
    member: Member,
    fired: Sequence[Signal],
    regime: str,
    sizing: tuple[Decimal, Decimal],
    cfg: RulesConfig,
) -> Proposal:
    """A BUY of the tier's share of equity, scaled by conviction and the regime's multiplier."""
    equity, multiplier = sizing
    conviction = conviction_of(fired)
    full = equity * member.tier.position_size_pct / HUNDRED
    size = (full * size_scale(conviction, cfg) * multiplier).quantize(CENT, ROUND_DOWN)
    return Proposal(
        member.product_id,
        Side.BUY,
        Intent.ENTRY,
        quote_size=size,
        base_size=None,
        reason=f"{'+'.join(s.kind for s in fired)} (regime {regime})",
        tier=member.tier.name,
        conviction=conviction,
    )


def propose_entries(
    signals: Sequence[Signal],
    universe: Universe,
    policy: RegimePolicy,
    equity: Decimal,
    busy_products: Collection[str],
    cfg: RulesConfig,
) -> EntryDecision:
    """One BUY per product with enough signals, strongest first, at most N per cycle, sized
    by the regime's multiplier and only into the tiers the regime allows.

    `busy_products` already have a position or an open order: no pyramiding.
    """
    by_product: dict[str, list[Signal]] = defaultdict(list)
    for signal in signals:
        by_product[signal.product_id].append(signal)
    skipped: dict[str, str] = {}
    ranked: list[Proposal] = []
    sizing = (equity, policy.size_multiplier)
    for pid, fired in by_product.items():
        member = universe.get(pid)
        if member is None:
            skipped[pid] = "not_in_universe"
        elif pid in busy_products:
            skipped[pid] = "position_or_order_open"
        elif len(fired) < cfg.min_signals:
            skipped[pid] = f"signals {len(fired)} < {cfg.min_signals}"
        elif blocked := policy.entry_blocked(member.tier.name):
            skipped[pid] = blocked
        else:
            ranked.append(_entry(member, fired, policy.regime, sizing, cfg))
    ranked.sort(key=lambda p: (-p.conviction, p.product_id))
    for dropped in ranked[cfg.max_new_positions_per_cycle :]:
        skipped[dropped.product_id] = (
            f"beyond max_new_positions_per_cycle {cfg.max_new_positions_per_cycle}"
        )
    return EntryDecision(tuple(ranked[: cfg.max_new_positions_per_cycle]), skipped)
