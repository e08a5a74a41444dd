"""Fuzzing the liquidation request: any JSON value into the liquidate handler (LiquidateApp) on
moto, with the simulated exchange, in PAPER (sells the paper account) or DRY_RUN (executing
is refused).

'Clear' here means: `handle` never raises and answers plain JSON of DESIGN.md's shape, whose
`error` is None or one line starting with a documented reason (fuzzing.LIQUIDATION_ERRORS:
`InvalidLiquidationRequest:` naming the field, `refused:`, `lock_held:`, `leg_failed:` ...),
an `exception:` one naming a TraderError subclass (never a bare KeyError or
InvalidOperation). Partial writes: an invalid request touches nothing (table and bucket as
before); a valid one writes exactly one audit record (`record_type: liquidation`) and
releases the lock; a dry run, or a refusal that sent no leg, leaves the state exactly as it
was; an execution never books a negative balance and never sells a kept currency (other
than the target, which receives the proceeds).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aws_fixtures import MotoAws
from fuzzing import (
    LIQUIDATION_ERRORS,
    NUMBER_TEXTS,
    budget,
    clip,
    is_clear_exception_reason,
    json_values,
)
from hypothesis import event, example, given
from hypothesis import strategies as st

from trader.adapters.aws.dynamo_state import DynamoStateStore
from trader.adapters.clock import SteppingClock
from trader.domain.liquidation import LiquidationRequest
from trader.domain.models import Mode
from trader.domain.state import PortfolioState
from trader.entrypoints.lambda_liquidate import LiquidateApp
from trader.service.liquidation_report import RECORD_TYPE

pytestmark = pytest.mark.fuzz

D = Decimal
NOW = datetime(2026, 11, 24, 4, 7, tzinfo=UTC)
PAPER = {"USDC": D(100), "USD": D(50), "BTC": D("0.01"), "SOL": D(2), "DOGE": D(40)}
PAPER |= {"ETH": D("0.5"), "XYZ": D(7)}  # XYZ: no product at all, nothing can sell it
ANSWER_KEYS = {"ok", "request_id", "dry_run", "plan", "legs", "remaining", "error"}


class LambdaContext:
    aws_request_id = "req-fuzz-liq"

    def get_remaining_time_in_millis(self) -> int:
        return 280_000


currencies = st.sampled_from([*sorted(PAPER), "AVAX", "THIN", "USDT"])
amounts = st.one_of(
    st.sampled_from(["0", "1", "0.5", "100", "1e-30", "1e30", "1E+999999", "99999999999"]),
    st.decimals(min_value=0, allow_nan=False, allow_infinity=False).map(str),
    st.integers(min_value=0, max_value=10**30),
)
valid_fields = {
    "dry_run": st.booleans(),
    "target": st.sampled_from(["USDC", "USD"]),
    "keep": st.lists(currencies, max_size=4),
    "min_value": amounts,
    "max_slippage_bps": st.integers(0, 1000),
    "halt_trading": st.booleans(),
}
request_ids = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
# Executing requests, valid field by field: what trades.
executing = st.fixed_dictionaries(
    {"request_id": request_ids, "dry_run": st.just(False), "confirm": st.just("LIQUIDATE")},
    optional={k: v for k, v in valid_fields.items() if k != "dry_run"},
)
junk_field = st.tuples(
    st.sampled_from([*valid_fields, "request_id", "confirm", "unexpected"]),
    st.one_of(json_values, st.sampled_from(NUMBER_TEXTS), st.lists(json_values, max_size=3)),
)
liquidation_requests = st.one_of(
    executing,
    executing,
    st.fixed_dictionaries({"request_id": request_ids}, optional=valid_fields),
    st.tuples(executing, junk_field).map(lambda pair: {**pair[0], pair[1][0]: pair[1][1]}),
    json_values,
)


def _seed(aws: MotoAws) -> dict[str, Any]:
    aws.clear()
    DynamoStateStore(aws.table, aws.dynamodb).save(PortfolioState(paper_balances=PAPER), None)
    return {"items": aws.all_items(), "objects": aws.objects()}


def _parsed(raw: Any) -> LiquidationRequest | None:
    try:
        return LiquidationRequest.model_validate(raw)
    except Exception:  # noqa: BLE001 (any refusal: the handler's answer is checked instead)
        return None


@budget(ci=25, full=2000)
@given(raw=liquidation_requests, mode=st.sampled_from([Mode.PAPER, Mode.PAPER, Mode.DRY_RUN]))
@example(  # an edge kept in every run: a min_value at the end of Decimal's exponent range
    raw={
        "request_id": "liq-huge",
        "dry_run": False,
        "confirm": "LIQUIDATE",
        "min_value": "1e999999",
    },
    mode=Mode.PAPER,
)
@example(  # keeping the target: it still receives the proceeds
    raw={"request_id": "0", "dry_run": False, "confirm": "LIQUIDATE", "keep": ["USDC"]},
    mode=Mode.PAPER,
)
def test_liquidate_when_any_request_then_a_clear_answer_and_no_partial_write(
    aws: MotoAws, raw: Any, mode: Mode
) -> None:
    before = _seed(aws)
    store = DynamoStateStore(aws.table, aws.dynamodb)
    app = LiquidateApp(
        environ={
            "STATE_TABLE": aws.table,
            "AUDIT_BUCKET": aws.bucket,
            "EXCHANGE": "simulated",
            "TRADING_MODE": mode.value,
        },
        clock=SteppingClock(NOW, 300),
        clients={"dynamodb": aws.dynamodb, "s3": aws.s3},
        sleep=lambda _s: None,
    )

    answer = app.handle(raw, LambdaContext())

    json.dumps(answer)  # plain JSON
    assert set(answer) == ANSWER_KEYS
    error = answer["error"]
    event("ok" if answer["ok"] else str(error).split(":")[0])
    assert (error is None) == (answer["ok"] is True)
    if error is not None:
        assert error.startswith(LIQUIDATION_ERRORS), clip(error)
        assert is_clear_exception_reason(error), clip(error)
        assert "\n" not in error, clip(error)
    request = _parsed(raw)
    if request is None:  # refused before anything was built
        assert error.startswith("InvalidLiquidationRequest: "), clip(error)
        assert {"items": aws.all_items(), "objects": aws.objects()} == before
        return
    records = [json.loads(body) for body in aws.objects().values()]
    assert [r["record_type"] for r in records] == [RECORD_TYPE]
    assert "owner" not in (aws.item("LOCK#cycle", "LOCK") or {})  # released
    after = store.load()
    if request.dry_run or (not answer["ok"] and not answer["legs"]):
        assert after.paper_balances == PAPER
        return
    assert all(amount >= 0 for amount in after.paper_balances.values()), after.paper_balances
    for kept in set(request.keep) - {request.target}:  # the target receives the proceeds
        assert after.paper_balances.get(kept) == PAPER.get(kept)
