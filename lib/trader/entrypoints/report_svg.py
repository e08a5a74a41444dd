"""Inline SVG charts for the HTML report: time series with axes, bands and markers.

Self-contained markup (no script, no fonts, no network). A series longer than the chart is
wide keeps, per pixel column, its first, lowest, highest and last value, so spikes survive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

XY = tuple[datetime, float]


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    points: Sequence[XY]
    color: str
    dashed: bool = False
    fill_to_zero: bool = False  # shade between the line and 0 (drawdown)


@dataclass(frozen=True, slots=True)
class Marker:
    when: datetime
    value: float
    up: bool  # a triangle pointing up (entry) or down (exit)
    color: str
    title: str


@dataclass(frozen=True, slots=True)
class Shade:
    start: datetime
    end: datetime
    color: str


@dataclass(frozen=True, slots=True)
class Frame:
    """The plot area and the scales from time and value to pixels."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    t0: float
    t1: float
    v0: float
    v1: float

    def x(self, when: datetime) -> float:
        span = (self.t1 - self.t0) or 1.0
        return self.left + (when.timestamp() - self.t0) / span * (
            self.width - self.left - self.right
        )

    def y(self, value: float) -> float:
        span = (self.v1 - self.v0) or 1.0
        plot = self.height - self.top - self.bottom
        return self.top + (self.v1 - value) / span * plot


def chart(
    lines: Sequence[Line],
    fmt: Callable[[float], str],
    width: int = 960,
    height: int = 260,
    markers: Sequence[Marker] = (),
    shades: Sequence[Shade] = (),
    title: str = "",
) -> str:
    """One SVG chart; `fmt` writes the value axis' labels."""
    frame = _frame(lines, markers, width, height)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" class="chart">',
        *(_shade(frame, s) for s in shades),
        *_value_axis(frame, fmt),
        *_time_axis(frame),
        *(_line(frame, line) for line in lines),
        *(_marker(frame, m, marker_size(len(markers), width)) for m in markers),
        _legend(lines, frame),
        "</svg>",
    ]
    return "\n".join(p for p in parts if p)


def _frame(lines: Sequence[Line], markers: Sequence[Marker], width: int, height: int) -> Frame:
    times = [t.timestamp() for line in lines for t, _ in (line.points[0], line.points[-1])]
    values = [v for line in lines for _, v in line.points] + [m.value for m in markers]
    if any(line.fill_to_zero for line in lines):
        values.append(0.0)
    v0, v1 = min(values), max(values)
    pad = (v1 - v0) * 0.05 or abs(v1) * 0.05 or 1.0
    top = 26 if len(lines) > 1 else 10  # room for the legend, drawn only for two lines or more
    return Frame(width, height, 78, 16, top, 28, min(times), max(times), v0 - pad, v1 + pad)


def thin(points: Sequence[XY], frame: Frame) -> list[tuple[float, float]]:
    """Pixel coordinates, at most four per pixel column (first, low, high, last)."""
    columns: dict[int, list[tuple[float, float]]] = {}
    for when, value in points:
        x, y = frame.x(when), frame.y(value)
        columns.setdefault(int(x), []).append((x, y))
    out: list[tuple[float, float]] = []
    for column in columns.values():
        if len(column) <= 4:
            out.extend(column)
            continue
        low = min(column, key=lambda p: p[1])
        high = max(column, key=lambda p: p[1])
        middle = sorted((low, high), key=column.index)
        out.extend([column[0], *middle, column[-1]])
    return out


def _line(frame: Frame, line: Line) -> str:
    xy = thin(line.points, frame)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    stroke = (
        f'<polyline points="{path}" fill="none" stroke="{line.color}" stroke-width="1.4"{dash}/>'
    )
    if not line.fill_to_zero or not xy:
        return stroke
    zero = frame.y(0.0)
    area = f"{xy[0][0]:.1f},{zero:.1f} {path} {xy[-1][0]:.1f},{zero:.1f}"
    return f'<polygon points="{area}" fill="{line.color}" fill-opacity="0.25"/>\n{stroke}'


def _marker(frame: Frame, m: Marker, size: float) -> str:
    x, y = frame.x(m.when), frame.y(m.value)
    tip = (y - 1.8 * size, y + 0.2 * size) if m.up else (y + 1.8 * size, y - 0.2 * size)
    shape = f"{x - size:.1f},{tip[1]:.1f} {x + size:.1f},{tip[1]:.1f} {x:.1f},{tip[0]:.1f}"
    return (
        f'<polygon points="{shape}" fill="{m.color}" stroke="white" stroke-width="0.5">'
        f"<title>{escape(m.title)}</title></polygon>"
    )


def marker_size(count: int, width: int) -> float:
    """Half the width of a marker: 4 px, smaller as markers crowd (at least 1.5 px)."""
    per_marker = width / max(count, 1)
    return max(1.5, min(4.0, per_marker * 2))


def _shade(frame: Frame, s: Shade) -> str:
    x0, x1 = frame.x(s.start), frame.x(s.end)
    plot = frame.height - frame.top - frame.bottom
    return (
        f'<rect x="{x0:.1f}" y="{frame.top}" width="{max(x1 - x0, 0.6):.1f}" height="{plot}" '
        f'fill="{s.color}"/>'
    )


def _value_axis(frame: Frame, fmt: Callable[[float], str]) -> list[str]:
    out = []
    for value in nice_ticks(frame.v0, frame.v1):
        y = frame.y(value)
        out.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#e4e4e4"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(fmt(value))}</text>"
        )
    return out


def _time_axis(frame: Frame) -> list[str]:
    base = frame.height - frame.bottom
    out = [
        f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{base}" y2="{base}" '
        'stroke="#888"/>'
    ]
    for when, label in time_ticks(frame.t0, frame.t1):
        x = frame.x(when)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="#888"/>'
            f'<text x="{x:.1f}" y="{base + 17}" text-anchor="middle" class="tick">{label}</text>'
        )
    return out


def _legend(lines: Sequence[Line], frame: Frame) -> str:
    if len(lines) < 2:
        return ""
    items, x = [], frame.left + 4
    for line in lines:
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        items.append(
            f'<line x1="{x}" x2="{x + 22}" y1="12" y2="12" stroke="{line.color}" '
            f'stroke-width="2"{dash}/><text x="{x + 27}" y="16" class="legend">'
            f"{escape(line.label)}</text>"
        )
        x += 40 + 7 * len(line.label)
    return "".join(items)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values (1, 2, 2.5 or 5 times a power of ten) spread over [low, high]."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def time_ticks(t0: float, t1: float) -> list[tuple[datetime, str]]:
    """Month starts for a long span (labelled "Jan 2025"), else day starts ("5 Nov")."""
    start, end = datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(t1, UTC)
    days = (t1 - t0) / 86_400
    if days > 75:
        every = max(1, math.ceil(days / 30 / 10))
        return [(m, f"{m:%b %Y}") for i, m in enumerate(_months(start, end)) if i % every == 0]
    every = max(1, math.ceil(days / 10))
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    ticks = []
    day = first.toordinal() + (1 if first < start else 0)
    while (moment := datetime.fromordinal(day).replace(tzinfo=UTC)) <= end:
        ticks.append((moment, f"{moment.day} {moment:%b}"))
        day += every
    return ticks


def _months(start: datetime, end: datetime) -> list[datetime]:
    year, month = start.year, start.month + (0 if start.day == 1 and start.hour == 0 else 1)
    out = []
    while True:
        year, month = (year + 1, 1) if month > 12 else (year, month)
        moment = datetime(year, month, 1, tzinfo=UTC)
        if moment > end:
            return out
        out.append(moment)
        month += 1
