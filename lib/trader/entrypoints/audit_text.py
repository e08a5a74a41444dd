"""`trader audit` as text: a line a record (tail), one record explained (show), and the
figures of a time range (stats). Records are plain JSON as the sinks wrote them; a field an
older record lacks is left out, or shown as `-` or None."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from trader.adapters.aws.metrics import FAILED, OK, STUCK, outcome_of
from trader.domain.codec import to_jsonable
from trader.domain.models import Mode
from trader.entrypoints.liquidation_table import render as render_liquidation
from trader.entrypoints.liquidation_table import text_table
from trader.entrypoints.report_text import money
from trader.service.liquidation_legs import DONE
from trader.service.liquidation_report import RECORD_TYPE as LIQUIDATION
from trader.service.report.audit_stats import AuditStats

DRY_RUN = Mode.DRY_RUN.value  # also the status of the orders a DRY_RUN cycle did not send
TRADED = "traded"  # the outcome of a cycle without a NO_TRADE reason (HistoryBuilder's word)


def record_line(record: Mapping[str, Any]) -> str:
    """cycle id, mode, regime, orders, NO_TRADE reason (or traded), equity."""
    head = f"{record.get('cycle_id', '-')}  {record.get('mode', '-'):<7}"
    if record.get("record_type") == LIQUIDATION:
        return f"{head}  {'liquidation':<13}  {_legs_brief(record):<32}  {_liq_outcome(record)}"
    regime = (record.get("regime") or {}).get("name") or "-"
    reason = record.get("no_trade_reason") or _traded(record)
    equity = (record.get("state") or {}).get("equity")
    return (
        f"{head}  {regime:<13}  {_orders_brief(record):<32}  {reason:<30}  equity {_money(equity)}"
    )


def _orders_brief(record: Mapping[str, Any]) -> str:
    orders = record.get("orders") or {}
    placed = [
        f"{o['side']} {o['product_id']} {o.get('status')}" for o in orders.get("placed") or ()
    ]
    reconciled = len(orders.get("reconciled") or ())
    text = ", ".join(placed) or "no orders"
    return text + (f" (+{reconciled} reconciled)" if reconciled else "")


def _legs_brief(record: Mapping[str, Any]) -> str:
    if (record.get("request") or {}).get("dry_run"):
        return f"plan of {len(record.get('plan') or ())} holdings, nothing sent"
    legs = record.get("legs") or ()
    done = sum(1 for leg in legs if leg.get("status") in DONE)
    return f"{done} of {len(legs)} legs done"


def _liq_outcome(record: Mapping[str, Any]) -> str:
    return "ok" if record.get("ok") else f"error: {record.get('error')}"


def show_text(record: Mapping[str, Any]) -> str:
    """A short account of the record, then the whole record as indented JSON."""
    summary = _liquidation_summary(record) if record.get("record_type") == LIQUIDATION else None
    lines = summary or _cycle_summary(record)
    return "\n".join([*lines, "", json.dumps(record, indent=2, ensure_ascii=False)])


def _liquidation_summary(record: Mapping[str, Any]) -> list[str]:
    request = record.get("request") or {}
    answer = {**record, "dry_run": request.get("dry_run")}
    mode = Mode(record.get("mode", Mode.DRY_RUN.value))
    head = f"started {record.get('started_at')} ({record.get('duration_ms', '-')} ms)"
    return [render_liquidation(answer, mode, request.get("target", "-")), head]


def _cycle_summary(record: Mapping[str, Any]) -> list[str]:
    regime = (record.get("regime") or {}).get("name") or "-"
    lines = [
        f"cycle {record.get('cycle_id')}  {record.get('mode')}  started {record.get('started_at')}"
        f" ({record.get('duration_ms', '-')} ms)  regime {regime}",
        _outcome(record),
    ]
    rejected = [r for r in record.get("risk") or () if not r.get("approved")]
    if rejected:
        lines += ["risk rejections:", *(f"  {_rejection(r)}" for r in rejected)]
    orders = _order_lines(record)
    lines += ["orders:", *orders] if orders else ["orders: none"]
    return [*lines, _book(record)]


def _outcome(record: Mapping[str, Any]) -> str:
    reason = record.get("no_trade_reason")
    exception = record.get("exception")
    if exception:
        return f"NO_TRADE {reason}: {exception.get('message')}"
    if reason:
        detail = record.get("no_trade_detail")
        return f"NO_TRADE {reason}" + (f": {detail}" if detail else "")
    return _traded(record)


def _traded(record: Mapping[str, Any]) -> str:
    return "would trade (DRY_RUN: nothing sent)" if record.get("mode") == DRY_RUN else TRADED


def _rejection(risk: Mapping[str, Any]) -> str:
    what = f"{risk.get('product_id')} {risk.get('side')} {risk.get('intent')}"
    return f"{what}: {risk.get('check')}" + (f" ({risk['detail']})" if risk.get("detail") else "")


def _order_lines(record: Mapping[str, Any]) -> list[str]:
    orders = record.get("orders") or {}
    lines = [f"  placed      {_order(o)}" for o in orders.get("placed") or ()]  # or DRY_RUN
    lines += [f"  reconciled  {_order(o)}" for o in orders.get("reconciled") or ()]
    lines += [
        f"  dropped     {d['product_id']}: {d['reason']}" for d in orders.get("dropped") or ()
    ]
    lines += [
        f"  cancelled   {c['side']} {c['product_id']} for {c['exit_reason']}: {c.get('status')}"
        for c in orders.get("exit_cancels") or ()
    ]
    lines += [f"  converted   {_conversion(c)}" for c in orders.get("conversions") or ()]
    return lines


def _conversion(c: Mapping[str, Any]) -> str:
    return f"{c['amount']} {c['from']}->{c['to']} for a buy: {c.get('status') or 'not sent'}"


def _order(o: Mapping[str, Any]) -> str:
    """`BUY SOL-USD MARKET quote 165.75 -> FILLED; filled 1.09 @ 150.75, fees 0.98`."""
    filled = o.get("filled_size")
    if o.get("status") == DRY_RUN:
        fill = "not sent"
    elif filled and Decimal(filled):
        fill = f"filled {filled} @ {o.get('average_filled_price')}, fees {o.get('fees')}"
    else:
        fill = "nothing filled"
    why = f" ({o['failure_reason']})" if o.get("failure_reason") else ""
    return f"{_what(o)} -> {o.get('status')}{why}; {fill}"


def _what(o: Mapping[str, Any]) -> str:
    """`BUY SOL-USD MARKET quote 165.75`; what a record lacks is left out."""
    if o.get("quote_size"):
        size = f"quote {o['quote_size']}"
    else:
        size = f"size {o['base_size']}" if o.get("base_size") else ""
    return " ".join(part for part in (o["side"], o["product_id"], o.get("type"), size) if part)


def _book(record: Mapping[str, Any]) -> str:
    state = record.get("state") or {}
    held = ", ".join(f"{p} {v.get('size')}" for p, v in (state.get("positions") or {}).items())
    realized = (state.get("pnl") or {}).get("realized_total")
    return (
        f"equity {_money(state.get('equity'))}, cash {_money(state.get('cash'))}, "
        f"realized PnL {_money(realized)}, positions: {held or 'none'}"
    )


def _money(value: Any) -> str:
    return "-" if value is None else money(Decimal(str(value)))


def stats_text(stats: AuditStats, where: str, since: datetime, until: datetime) -> str:
    history = stats.history
    reasons = Counter({k: n for k, n in history.outcomes.items() if k != TRADED})
    lines = [
        f"audit records of {where}, started {_time(since)} to {_time(until)}",
        f"records           {stats.cycles} cycles, {stats.liquidations.records} liquidations"
        + (f" (first {_time(stats.first)}, last {_time(stats.last)})" if stats.first else ""),
        f"modes             {_counts(history.modes) or '-'}",
        f"cycle outcomes    {_outcomes(history.outcomes)}",
        f"traded            {history.outcomes[TRADED]} cycles",
        "NO_TRADE reasons" + ("" if reasons else "  none"),
        *(f"  {n:>6}  {reason}" for reason, n in reasons.most_common()),
        *_order_table(stats),
        f"orders by status  {_counts(stats.statuses) or 'none'}",
        f"fills             {len(history.fills)}, fees {money(stats.fees)}",
        *_pnl_lines(stats),
    ]
    return "\n".join(lines)


def _outcomes(outcomes: Counter[str]) -> str:
    """ok / stuck / failed, as the CycleOutcome metric counts them."""
    by_kind: Counter[str] = Counter()
    for reason, n in outcomes.items():
        by_kind[outcome_of(None if reason == TRADED else reason)] += n
    return ", ".join(f"{kind} {by_kind[kind]}" for kind in (OK, STUCK, FAILED))


def _order_table(stats: AuditStats) -> list[str]:
    if not stats.orders:
        return ["orders            none"]
    header = ("product", "side", "orders", "fills", "size", "notional", "fees")
    rows = [
        (
            pid,
            side,
            str(t.orders),
            str(t.fills),
            _size(t.size),
            money(t.notional),
            money(t.fees),
        )
        for (pid, side), t in sorted(stats.orders.items())
    ]
    return [
        "orders by product and side (DRY_RUN: those it would have sent)",
        *(f"  {row}" for row in text_table(header, rows)),
    ]


def _pnl_lines(stats: AuditStats) -> list[str]:
    closed = stats.closed_trades
    pnl = sum((t.pnl for t in closed), Decimal(0))
    lines = [f"closed trades     {len(closed)}, PnL {money(pnl, signed=True)} (net of fees)"]
    if stats.realized_change is not None:
        note = ", not counting the first cycle's own sale" if stats.first_cycle_sold else ""
        lines.append(
            f"realized PnL      {money(stats.realized_change, signed=True)} (booked, net of "
            f"fees: {money(stats.realized_first)} -> {money(stats.realized_last)}{note})"
        )
    if stats.equity is not None:
        lines.append(f"equity            {money(stats.equity[0])} -> {money(stats.equity[1])}")
    liq = stats.liquidations
    if liq.records:
        done = f"{liq.legs_done} of {liq.legs} legs done"
        lines.append(f"liquidations      {liq.records} (ok {liq.ok}), {done}")
    return lines


def stats_json(stats: AuditStats, where: str, since: datetime, until: datetime) -> dict[str, Any]:
    """The same figures as JSON (Decimals as strings, exact)."""
    history = stats.history
    return to_jsonable(
        {
            "source": where,
            "since": since,
            "until": until,
            "first": stats.first,
            "last": stats.last,
            "cycles": stats.cycles,
            "modes": dict(history.modes),
            "outcomes": dict(history.outcomes.most_common()),
            "orders": [
                {
                    "product_id": pid,
                    "side": side,
                    "orders": t.orders,
                    "fills": t.fills,
                    "size": t.size,
                    "notional": t.notional,
                    "fees": t.fees,
                }
                for (pid, side), t in sorted(stats.orders.items())
            ],
            "statuses": dict(stats.statuses),
            "fills": len(history.fills),
            "fees": stats.fees,
            "closed_trades": len(stats.closed_trades),
            "closed_trades_pnl": sum((t.pnl for t in stats.closed_trades), Decimal(0)),
            "realized_pnl": stats.realized_change,
            "realized_pnl_first_cycle_sold": stats.first_cycle_sold,
            "equity": list(stats.equity) if stats.equity else None,
            "liquidations": {
                "records": stats.liquidations.records,
                "ok": stats.liquidations.ok,
                "legs": stats.liquidations.legs,
                "legs_done": stats.liquidations.legs_done,
            },
        }
    )


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _size(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counter.most_common())
