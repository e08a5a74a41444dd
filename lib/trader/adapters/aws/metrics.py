"""The stack's custom CloudWatch metrics: four, each one EMF line on stdout when counted.

Every distinct (metric name, dimension set) is a billed custom metric ($0.30 a month each,
prorated by the hours it receives data), so the stack has four, and template.yaml's alarms
read only these (README, Cost):

- `CycleOutcome{service, outcome=ok}`: a cycle ran to its decision (orders, or no trade for
  a market reason or the kill switch). One per healthy cycle; its absence for 15 minutes
  is the "no healthy cycle" alarm.
- `CycleOutcome{service, outcome=stuck}`: the cycle could not decide (`STUCK_REASONS`).
- `CycleOutcome{service, outcome=failed}`: it ended in `exception:*`, or the handler
  refused the event (malformed, outside the time window, broken settings or config).
- `NeedsOperator{service}`: something a person must look at: the kill switch engaged, a
  protection tripped, reconciliation drift, an audit sink failed, a liquidation failed.
  A log line names which (`needs_operator`); the audit record has the detail.

Everything else (orders, exposure, PnL, durations, reasons) is in the audit record, read
with Logs Insights (infra/queries) or Athena (infra/athena).
"""

from __future__ import annotations

import logging
from typing import Any

from trader.domain.models import NoTradeReason

CYCLE_OUTCOME = "CycleOutcome"
NEEDS_OPERATOR = "NeedsOperator"
OK, STUCK, FAILED = "ok", "stuck", "failed"
STUCK_REASONS = frozenset(
    {
        NoTradeReason.LOCK_HELD,
        NoTradeReason.DUPLICATE_INVOCATION,
        NoTradeReason.STALE_MARKET_DATA,
        NoTradeReason.INSUFFICIENT_TIME,
        NoTradeReason.ORDERS_REJECTED,
    }
)

_log = logging.getLogger("trader.aws")


def outcome_of(no_trade_reason: str | None) -> str:
    """ok, stuck or failed: the `outcome` dimension of a cycle that ended this way."""
    if no_trade_reason is None:
        return OK
    if no_trade_reason.startswith("exception:"):
        return FAILED
    return STUCK if no_trade_reason in STUCK_REASONS else OK


def count_outcome(metrics: Any, outcome: str) -> None:
    """One CycleOutcome count; no-op without metrics (tests, local runs)."""
    if outcome not in {OK, STUCK, FAILED}:
        raise ValueError(f"outcome must be ok, stuck or failed, got {outcome!r}")
    _emit(metrics, CYCLE_OUTCOME, {"outcome": outcome})


def count_needs_operator(metrics: Any, kind: str, detail: str, logger: Any = None) -> None:
    """One NeedsOperator count, and a warning naming what needs a person and why."""
    (logger or _log).warning(f"needs operator: {kind}: {detail}", extra={"needs_operator": kind})
    _emit(metrics, NEEDS_OPERATOR, {})


def _emit(metrics: Any, name: str, dimensions: dict[str, str]) -> None:
    """Print one EMF line now, with the service dimension and exactly these others."""
    if metrics is None:
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions={"service": str(metrics.service), **dimensions},
    ):
        pass
