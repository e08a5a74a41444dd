"""`trader report` (and the end of `trader replay`): report.json, report.html, a table."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from trader.entrypoints.report_html import render_html
from trader.entrypoints.report_text import report_json
from trader.service.report.history import RunHistory
from trader.service.report.performance import Report, build_report

JSON_FILE = "report.json"
HTML_FILE = "report.html"


def write_report(
    history: RunHistory,
    out_dir: Path,
    title: str,
    products: Sequence[str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> Report:
    """Build the report and write both files into `out_dir` (each whole or not at all)."""
    report = build_report(history, products)
    report.extra.update(extra or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_whole(out_dir / JSON_FILE, json.dumps(report_json(report), indent=1) + "\n")
    _write_whole(out_dir / HTML_FILE, render_html(report, title))
    return report


def _write_whole(path: Path, text: str) -> None:
    """Through a temporary file and a rename: a reader never sees half a report."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
