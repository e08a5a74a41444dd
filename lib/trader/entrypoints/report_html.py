"""The report as one self-contained HTML page: inline CSS and SVG, no script, no link out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape

from trader.entrypoints.report_svg import Line, Marker, Shade, chart
from trader.entrypoints.report_text import (
    ROWS,
    columns,
    fee_burden,
    headline,
    money,
    pct,
    ratio,
    share,
)
from trader.service.report.history import Trade
from trader.service.report.performance import EQUAL_WEIGHT, Report, exit_kind

REGIME_COLORS = {
    "trending_up": "#d8f0d8",
    "trending_down": "#f7dede",
    "choppy": "#f1f1f1",
    "volatile": "#fbe8cc",
    "crash": "#f0a8a8",
    "unknown": "#ffffff",
}
STRATEGY, BASKET, LOSS, GAIN, ENTRY = "#1f5fa8", "#8a8a8a", "#c0392b", "#1e8449", "#1f5fa8"
UNSHADED = ("choppy", "unknown")  # the usual state: left white so the others stand out
TRADES_SHOWN = 2000  # the page lists at most this many trades (report.json has them all)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;
margin:0 auto;max-width:1040px;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:30px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}.sub{color:#666;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}
.card{border:1px solid #e2e2e2;border-radius:8px;padding:10px 12px;background:#fafafa}
.card .k{color:#666;font-size:12px}.card .v{font-size:20px;font-weight:600}
.card .b{color:#777;font-size:12px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}thead th{background:#f4f4f4;position:sticky;top:0}
.pos{color:#1e8449}.neg{color:#c0392b}.muted{color:#888}
.scroll{max-height:520px;overflow:auto;border:1px solid #eee}
.bar{display:inline-block;height:11px;background:#7a9cc6;vertical-align:middle}
.chart{display:block;margin:6px 0}.tick{font-size:11px;fill:#666}.legend{font-size:12px;fill:#333}
.key span{display:inline-block;padding:1px 8px;margin-right:6px;border:1px solid #ddd;
border-radius:3px;font-size:12px}ul.notes{color:#555;font-size:13px}
"""


def render_html(report: Report, title: str) -> str:
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(headline(report))}</p>',
        _cards(report),
        "<h2>Strategy beside buy-and-hold</h2>",
        _comparison(report),
        "<h2>Equity and drawdown</h2>",
        _equity_charts(report),
        "<h2>Prices, trades and regimes</h2>",
        _regime_key(report),
        *(_price_chart(report, pid) for pid in report.products),
        "<h2>Exits</h2>",
        _exits(report),
        f"<h2>Trades ({len(report.trades):,})</h2>",
        _trades(report.trades),
        "<h2>Why cycles did not trade</h2>",
        _histogram(report.no_trade_reasons),
        "<h2>Regimes</h2>",
        _regime_share(report),
        "<h2>Notes</h2>",
        _notes(report),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _signed(text: str, value: Decimal | None) -> str:
    css = "" if value is None or value == 0 else ("pos" if value > 0 else "neg")
    return f'<span class="{css}">{escape(text)}</span>'


def _cards(report: Report) -> str:
    cards = [*_return_cards(report), *_trading_cards(report)]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div>'
            f'<div class="b">{escape(b)}</div></div>'
            for k, v, b in cards
        )
        + "</div>"
    )


def _return_cards(report: Report) -> list[tuple[str, str, str]]:
    """The strategy's figure, and under it the equal-weight basket's (or the one product's)."""
    s = report.strategy
    name = EQUAL_WEIGHT if EQUAL_WEIGHT in report.benchmarks else "buy-and-hold"
    basket = report.benchmarks.get(EQUAL_WEIGHT) or next(iter(report.benchmarks.values()), None)

    def versus(text: str) -> str:
        return f"{name}: {text}" if basket else ""

    return [
        (
            "Total return",
            _signed(pct(s.total_return), s.total_return),
            versus(pct(basket.total_return) if basket else ""),
        ),
        (
            "Max drawdown",
            _signed(pct(-s.max_drawdown), -s.max_drawdown),
            versus(pct(-basket.max_drawdown) if basket else ""),
        ),
        (
            "Sharpe (daily, annualised)",
            escape(ratio(s.sharpe)),
            versus(ratio(basket.sharpe) if basket else ""),
        ),
        ("CAGR", _signed(pct(s.cagr), s.cagr), versus(pct(basket.cagr) if basket else "")),
    ]


def _trading_cards(report: Report) -> list[tuple[str, str, str]]:
    t = report.trade_stats
    return [
        ("Trades (closed)", f"{t.closed:,}", f"win rate {share(t.win_rate)}"),
        ("Profit factor", escape(ratio(t.profit_factor)), f"{t.fills:,} fills"),
        ("Fees", escape(money(t.fees)), fee_burden(t.fees, t.gross_pnl, t.fee_share_of_gross)),
        (
            "Average exposure",
            share(t.avg_exposure),
            f"in the market {share(t.time_in_market)} of cycles · turnover {ratio(t.turnover)}x",
        ),
    ]


def _comparison(report: Report) -> str:
    cols = columns(report)
    head = "".join(f"<th>{escape(name)}</th>" for name in cols)
    rows = []
    for label, cell in ROWS:
        cells = "".join(f"<td>{escape(cell(s))}</td>" for s in cols.values())
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _floats(times: Sequence[datetime], values: Sequence[Decimal]) -> list[tuple[datetime, float]]:
    return [(t, float(v)) for t, v in zip(times, values, strict=True)]


def _equity_charts(report: Report) -> str:
    times = [t for t, _ in report.equity]
    lines = [Line("strategy", _floats(times, [v for _, v in report.equity]), STRATEGY)]
    basket = report.benchmark_equity.get(EQUAL_WEIGHT)
    if basket is None and len(report.benchmark_equity) == 1:
        name, basket = next(iter(report.benchmark_equity.items()))
        label = f"{name} hold"
    else:
        label = f"{EQUAL_WEIGHT} buy-and-hold"
    if basket is not None:
        lines.append(Line(label, _floats(times, basket), BASKET, dashed=True))
    equity = chart(lines, lambda v: f"{v:,.0f}", title="equity")
    down = [-float(d) * 100 for d in report.drawdown]
    places = 1 if report.strategy.max_drawdown < Decimal("0.05") else 0
    drawdown = chart(
        [Line("drawdown", list(zip(times, down, strict=True)), LOSS, fill_to_zero=True)],
        lambda v: f"{v:.{places}f} %",
        height=150,
        title="drawdown",
    )
    return equity + '\n<div class="muted">Drawdown from the running peak</div>\n' + drawdown


def _regime_key(report: Report) -> str:
    seen = {b.regime for b in report.regimes}
    keys = "".join(
        f'<span style="background:{color}">{name}</span>'
        for name, color in REGIME_COLORS.items()
        if name in seen and name not in UNSHADED
    )
    return (
        f'<p class="key">Background: regime of the cycle. {keys} (no shade: choppy or unknown) '
        f'<span style="border:0">▲ entry</span><span style="border:0">▼ exit '
        f'(<b class="pos">gain</b> / <b class="neg">loss</b>)</span></p>'
    )


def _price_chart(report: Report, pid: str) -> str:
    series = report.prices.get(pid, ())
    if len(series) < 2:
        return f"<p class='muted'>{escape(pid)}: no prices recorded</p>"
    line = Line(pid, [(t, float(p)) for t, p in series], "#333")
    shades = [
        Shade(b.start, b.end + report.interval, REGIME_COLORS.get(b.regime, "#fff"))
        for b in report.regimes
        if b.regime in REGIME_COLORS and b.regime not in UNSHADED
    ]
    markers = [m for t in report.trades if t.product_id == pid for m in _trade_markers(t)]
    svg = chart(
        [line],
        lambda v: f"{v:,.2f}" if v < 100 else f"{v:,.0f}",
        height=230,
        markers=markers,
        shades=shades,
        title=f"{pid} price",
    )
    return f"<h3>{escape(pid)}</h3>\n{svg}"


def _trade_markers(t: Trade) -> list[Marker]:
    out = [
        Marker(
            t.entry_time,
            float(t.entry_price),
            True,
            ENTRY,
            f"buy {t.bought:.6f} @ {t.entry_price:,.2f} {t.entry_time:%Y-%m-%d %H:%M}",
        )
    ]
    if t.exit_time is not None and t.exit_price is not None and not t.open:
        color = GAIN if t.pnl > 0 else LOSS
        out.append(
            Marker(
                t.exit_time,
                float(t.exit_price),
                False,
                color,
                f"sell @ {t.exit_price:,.2f} {t.exit_time:%Y-%m-%d %H:%M}: "
                f"{t.exit_reason} · PnL {t.pnl:+,.2f}",
            )
        )
    return out


def _exits(report: Report) -> str:
    rows = "".join(
        f"<tr><td>{escape(kind)}</td><td>{n:,}</td><td>{_signed(money(p, True), p)}</td>"
        f"<td>{_signed(money(p / n, True), p)}</td></tr>"
        for kind, (n, p) in report.exit_reasons.items()
    )
    if not rows:
        return "<p class='muted'>No closed trade.</p>"
    return (
        "<table><thead><tr><th>exit</th><th>trades</th><th>net PnL</th><th>per trade</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _trades(trades: Sequence[Trade]) -> str:
    if not trades:
        return "<p class='muted'>No trade.</p>"
    head = (
        "<tr><th>product</th><th>entry (UTC)</th><th>exit (UTC)</th><th>entry price</th>"
        "<th>exit price</th><th>size</th><th>fees</th><th>PnL</th><th>PnL %</th>"
        "<th>exit reason</th></tr>"
    )
    rows = [_trade_row(t) for t in trades[:TRADES_SHOWN]]
    more = (
        f"<p class='muted'>The first {TRADES_SHOWN:,} of {len(trades):,} trades; "
        "report.json lists them all.</p>"
        if len(trades) > TRADES_SHOWN
        else ""
    )
    table = f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="scroll">{table}</div>{more}'


def _trade_row(t: Trade) -> str:
    exit_time = "open" if t.open or t.exit_time is None else f"{t.exit_time:%Y-%m-%d %H:%M}"
    exit_price = "" if t.exit_price is None else f"{t.exit_price:,.2f}"
    kind = "still open" if t.open else exit_kind(t.exit_reason)
    return (
        f"<tr><td>{escape(t.product_id)}</td><td>{t.entry_time:%Y-%m-%d %H:%M}</td>"
        f"<td>{exit_time}</td><td>{t.entry_price:,.2f}</td><td>{exit_price}</td>"
        f"<td>{t.bought:.6f}</td><td>{t.fees:,.2f}</td>"
        f"<td>{_signed(money(t.pnl, True), t.pnl)}</td>"
        f"<td>{_signed(f'{t.return_pct:+.2f} %', t.return_pct)}</td>"
        f'<td title="{escape(t.exit_reason)}">{escape(kind)}</td></tr>'
    )


def _histogram(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    top = max(counts.values(), default=1)
    rows = "".join(
        f"<tr><td>{escape(reason)}</td><td>{n:,}</td><td>{n / total:.1%}</td>"
        f'<td style="width:45%;text-align:left">'
        f'<span class="bar" style="width:{n / top * 100:.1f}%"></span></td></tr>'
        for reason, n in counts.items()
    )
    return (
        "<table><thead><tr><th>cycle outcome</th><th>cycles</th><th>share</th><th></th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _regime_share(report: Report) -> str:
    cycles = report.regime_cycles
    total = max(sum(cycles.values()), 1)
    changes = max(len(report.regimes) - 1, 0)
    days = max((report.end - report.start).total_seconds() / 86_400, 1e-9)
    rows = "".join(
        f'<tr><td><span style="background:{REGIME_COLORS.get(name, "#fff")}">&nbsp;&nbsp;&nbsp;'
        f"</span> {escape(name)}</td><td>{n:,}</td><td>{n / total:.1%}</td></tr>"
        for name, n in cycles.items()
    )
    return (
        f"<p>{changes:,} regime changes, {changes / days:.1f} a day.</p>"
        "<table><thead><tr><th>regime</th><th>cycles</th><th>share</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _notes(report: Report) -> str:
    extra = [f"{k}: {v}" for k, v in report.extra.items()]
    gaps = (
        f"Missing cycles (steps longer than 1.5 × the usual {report.interval}): "
        f"{report.missing_cycles:,}."
    )
    items = [*report.notes, gaps, *extra]
    return '<ul class="notes">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
