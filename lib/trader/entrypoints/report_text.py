"""The report as a terminal table and as JSON (report.json), and the number formats both
the table and the HTML page use."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from trader.domain.codec import to_jsonable
from trader.service.report.history import Trade
from trader.service.report.metrics import SeriesStats
from trader.service.report.performance import Report, exit_kind

ROWS = (
    ("total return", lambda s: pct(s.total_return)),
    ("CAGR", lambda s: pct(s.cagr)),
    ("max drawdown", lambda s: pct(-s.max_drawdown)),
    ("Sharpe (daily, ann.)", lambda s: ratio(s.sharpe)),
    ("Sortino (daily, ann.)", lambda s: ratio(s.sortino)),
    ("end equity", lambda s: money(s.end_value)),
)


def pct(value: Decimal | None, places: int = 2) -> str:
    """0.0523 -> '+5.23 %'; None -> 'n/a'."""
    return "n/a" if value is None else f"{value * 100:+,.{places}f} %"


def share(value: Decimal | None) -> str:
    """A share without a sign: 0.289 -> '28.9 %'."""
    return "n/a" if value is None else f"{value * 100:,.1f} %"


def ratio(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def money(value: Decimal | None, signed: bool = False) -> str:
    return "n/a" if value is None else f"{value:{'+' if signed else ''},.2f}"


def fee_burden(fees: Decimal, gross: Decimal, fee_share: Decimal | None) -> str:
    """Fees against what the trades made before fees, in words a reader takes in at once."""
    if fee_share is None:
        return f"the trades lost {money(-gross)} before fees"
    if fee_share > 1:
        return f"{fee_share:,.1f}x the gross PnL of {money(gross, True)}"
    return f"{share(fee_share)} of the gross PnL of {money(gross, True)}"


def columns(report: Report) -> dict[str, SeriesStats]:
    """The strategy first, then each buy-and-hold and the equal-weight basket."""
    held = {
        f"{name} hold" if name in report.products else name: s
        for name, s in report.benchmarks.items()
    }
    return {"strategy": report.strategy, **held}


def headline(report: Report) -> str:
    modes = ", ".join(f"{m} {n:,}" for m, n in report.modes.items())
    return (
        f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC · "
        f"{report.cycles:,} cycles ({modes}) · {', '.join(report.products)}"
    )


def render_table(report: Report) -> str:
    """The terminal version: figures beside the benchmarks, trades, outcomes."""
    cols = columns(report)
    width = max(14, *(len(name) + 2 for name in cols))
    lines = ["", f"=== 247trader report: {headline(report)} ===", ""]
    lines.append(f"{'':<22}" + "".join(f"{name:>{width}}" for name in cols))
    for label, cell in ROWS:
        lines.append(f"{label:<22}" + "".join(f"{cell(s):>{width}}" for s in cols.values()))
    lines += ["", *trade_lines(report), ""]
    return "\n".join(lines)


def trade_lines(report: Report) -> list[str]:
    t = report.trade_stats
    net = report.strategy.end_value - report.strategy.start_value
    exits = " · ".join(f"{k} {n:,} ({money(p, True)})" for k, (n, p) in report.exit_reasons.items())
    outcomes = " · ".join(f"{k} {n:,}" for k, n in report.no_trade_reasons.items())
    return [
        f"trades            {t.closed:,} closed, {t.still_open:,} open · win rate "
        f"{share(t.win_rate)} · profit factor {ratio(t.profit_factor)}",
        f"PnL               gross {money(t.gross_pnl, True)} · fees {money(t.fees)} "
        f"({fee_burden(t.fees, t.gross_pnl, t.fee_share_of_gross)}) · net {money(net, True)}",
        f"exposure          in the market {share(t.time_in_market)} of cycles · average "
        f"{share(t.avg_exposure)} of equity · turnover {ratio(t.turnover)}x",
        f"exits             {exits or 'none'}",
        f"cycle outcomes    {outcomes}",
        f"missing cycles    {report.missing_cycles:,} (steps longer than 1.5 x {report.interval})",
    ]


def report_json(report: Report) -> dict[str, Any]:
    """Everything the page shows, as JSON-safe values (Decimals as strings)."""
    return to_jsonable(
        {
            "start": report.start,
            "end": report.end,
            "cycles": report.cycles,
            "interval_seconds": int(report.interval.total_seconds()),
            "missing_cycles": report.missing_cycles,
            "modes": report.modes,
            "products": list(report.products),
            "strategy": report.strategy,
            "benchmarks": report.benchmarks,
            "trade_stats": report.trade_stats,
            "exit_reasons": {
                k: {"trades": n, "pnl": p} for k, (n, p) in report.exit_reasons.items()
            },
            "no_trade_reasons": report.no_trade_reasons,
            "regimes": [
                {"start": b.start, "end": b.end, "regime": b.regime} for b in report.regimes
            ],
            "trades": [trade_json(t) for t in report.trades],
            "daily_equity": daily_equity(report),
            "notes": list(report.notes),
            **({"extra": report.extra} if report.extra else {}),
        }
    )


def trade_json(t: Trade) -> Mapping[str, Any]:
    return {
        "product_id": t.product_id,
        "entry_time": t.entry_time,
        "exit_time": t.exit_time,
        "entry_price": t.entry_price,
        "exit_price": t.exit_price,
        "size": t.bought,
        "fees": t.fees,
        "pnl": t.pnl,
        "return_pct": t.return_pct,
        "exit_kind": exit_kind(t.exit_reason) if not t.open else None,
        "exit_reason": t.exit_reason,
        "open": t.open,
    }


def daily_equity(report: Report) -> list[dict[str, Any]]:
    days: dict[str, Decimal] = {}
    for moment, value in report.equity:
        days[moment.date().isoformat()] = value
    return [{"date": d, "equity": v} for d, v in days.items()]
