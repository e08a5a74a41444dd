"""bench/cost_model.py (`make cost`) on a short run: it measures what a cycle really does on AWS."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _cost_model():
    spec = importlib.util.spec_from_file_location("cost_model", REPO / "bench" / "cost_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cost_model"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_cost_model_when_two_warm_cycles_measured_then_lock_state_audit_and_bill_under_2(
    monkeypatch,
):
    for name in ("STATE_TABLE", "AUDIT_BUCKET", "EXCHANGE", "TRADING_MODE", "COINBASE_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)  # measure() sets them, monkeypatch restores
    cost = _cost_model()
    monkeypatch.setattr(cost.os, "environ", cost.os.environ)  # restored by delenv's undo
    printed: list[str] = []

    measured = cost.measure(2)
    total = cost.report(measured, 100, printed.append)

    calls = measured.aws.calls
    assert calls["dynamodb.UpdateItem"] == 2 * 2  # the lock: acquire and release each cycle
    assert calls["dynamodb.Query"] == 2  # the state, read once a cycle
    # The audit record every cycle; the candle cache only when a 15-minute bar closed since
    # the last write (at most one of two 5-minute cycles after the cold one, at least none).
    assert 2 <= calls["s3.PutObject"] <= 2 + 1
    assert measured.aws.audit_bytes > 1000  # a real record, not an empty body
    assert measured.aws.wru >= 2 * 2  # at least the lock's two writes a cycle
    assert min(measured.log_bytes) > 1000  # the audit line and the EMF line
    assert 0 < total < 2
    assert any(line.startswith("| **total** |") for line in printed)
