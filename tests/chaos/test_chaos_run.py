"""The chaos run, bounded: a few dozen scheduled cycles (and liquidations) on each backend
through the real Lambda handlers, with faults at a high rate. The full run (1,000 cycles per
backend) is `make chaos`; see tests/chaos/README.md."""

from __future__ import annotations

from chaos_faults import FAMILIES
from chaos_observer import INVARIANTS
from chaos_run import RunOptions, render, run_chaos

BOUNDED = RunOptions(seed=11, cycles=16, rate=0.2, recover_every=0, liquidation_rate=0.3)


def test_chaos_run_when_faults_hit_every_layer_then_no_invariant_breaks() -> None:
    reports = run_chaos(BOUNDED)
    table = render(BOUNDED, reports)

    broken = {name: found for r in reports for name, found in r.violations.items() if found}
    assert broken == {}, table
    injected = {kind for r in reports for kind, count in r.faults.items() if count}
    # Faults landed in every layer (the full run meets every kind), a create among them
    # that the exchange took but whose answer was lost.
    assert sorted(set(FAMILIES.values()) - {FAMILIES[k] for k in injected}) == [], table
    assert "exchange.create_lost_answer" in injected, table
    checked = {name for r in reports for name, count in r.checked.items() if count}
    assert sorted(set(INVARIANTS) - checked) == [], table
    # The bot still traded through it on both backends, and a liquidation went through.
    assert all(r.outcomes["cycle: placed orders"] > 0 for r in reports), table
    assert sum(r.outcomes["liquidation: ok"] for r in reports) > 0, table


def test_chaos_run_when_the_same_seed_runs_twice_then_the_same_faults_and_the_same_end() -> None:
    options = RunOptions(seed=7, cycles=8, rate=0.2, backends=("sim",), recover_every=0)

    first, again = run_chaos(options)[0], run_chaos(options)[0]

    assert first.faults == again.faults
    assert first.outcomes == again.outcomes
    assert first.fingerprint == again.fingerprint  # the account and the stored state
    assert sum(first.faults.values()) > 0
