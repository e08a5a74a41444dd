"""The report's SVG charts: axis ticks, and thinning that keeps every spike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trader.entrypoints.report_svg import Frame, Line, Marker, chart, nice_ticks, thin, time_ticks

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_nice_ticks_when_a_range_is_given_then_round_steps_inside_it():
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(9_500, 10_700) == [9_500, 9_750, 10_000, 10_250, 10_500]


def test_time_ticks_when_the_span_is_long_then_month_starts_else_days():
    long = time_ticks(T0.timestamp(), (T0 + timedelta(days=120)).timestamp())
    assert [label for _, label in long] == [
        "Jan 2025",
        "Feb 2025",
        "Mar 2025",
        "Apr 2025",
        "May 2025",
    ]
    short = time_ticks(T0.timestamp(), (T0 + timedelta(days=3)).timestamp())
    assert [label for _, label in short] == ["1 Jan", "2 Jan", "3 Jan", "4 Jan"]


def test_thin_when_many_points_share_a_pixel_then_first_low_high_last_survive():
    frame = Frame(100, 100, 0, 0, 0, 0, T0.timestamp(), T0.timestamp() + 99, 0.0, 100.0)
    values = [50.0, 50.0, 3.0, 50.0, 97.0, 50.0, 60.0]  # all in the first second: one column
    points = [(T0, v) for v in values]

    kept = [100 - y for _, y in thin(points, frame)]  # back from pixels to values

    assert kept == [50.0, 3.0, 97.0, 60.0]


def test_chart_when_drawn_then_svg_with_lines_markers_and_a_legend():
    line = Line("a", [(T0, 1.0), (T0 + timedelta(days=1), 2.0)], "#123456")
    other = Line("b", [(T0, 2.0), (T0 + timedelta(days=1), 1.0)], "#654321", dashed=True)
    mark = Marker(T0, 1.0, True, "#00ff00", "buy <1>")

    svg = chart([line, other], str, markers=[mark], title="t")

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2 and 'stroke-dasharray="6 4"' in svg
    assert "<title>buy &lt;1&gt;</title>" in svg  # escaped
    assert ">a</text>" in svg and ">b</text>" in svg
