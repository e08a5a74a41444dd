"""`trader audit`: read the audit records of a local run or of the deployed bot.

`tail` (the last records, a line each), `show ID` (one record explained, then whole) and
`stats` (what a time range adds up to), over a JSONL log (a file or a folder) or an S3 prefix
whose `dt=`/`hour=` partitions are listed only for the range asked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trader.bootstrap import LocalPaths, audit_source
from trader.domain.errors import ConfigError
from trader.domain.ids import cycle_time
from trader.entrypoints.replay_plan import parse_when
from trader.ports import AuditSource

DEFAULT_SOURCE = str(LocalPaths().audit_file)
STATS_SPAN = timedelta(hours=24)
FIND_SPAN = timedelta(days=7)  # where a liquidation id is looked for in S3 by default
FOLLOW_POLL_SECONDS = 1.0
NOT_FOUND = 1
_AGO = re.compile(r"([1-9][0-9]*)([mhd])", re.ASCII)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_LIQUIDATION_ID = re.compile(r"liquidation-[A-Za-z0-9._-]{1,64}", re.ASCII)
EXIT_STATUS = (
    "Exit status: 0 when answered, 1 when `show` finds no record of that id, 2 for bad input "
    "(an id, a time, an unreadable or missing log, an S3 error such as AccessDenied)."
)


def add_audit(sub: Any) -> None:
    audit = sub.add_parser(
        "audit",
        help="read the audit records: the last ones, one cycle, figures over a time range",
        description=(
            "Read the audit records of a local run (a JSONL file, or a folder of *.jsonl; "
            f"default {DEFAULT_SOURCE}) or of the deployed bot (s3://BUCKET/PREFIX, the "
            "folder of its dt=/hour= partitions, e.g. s3://my-audit-bucket/audit/; "
            "s3://BUCKET alone reads BUCKET/audit/). S3 uses the usual AWS credentials and "
            "AWS_ENDPOINT_URL, and lists only the partitions of the time asked. Times are "
            "ISO 8601 in UTC (2026-05-01, 2026-05-01T12:00Z) or a span before now (30m, 6h, "
            f"2d). {EXIT_STATUS}"
        ),
    )
    views = audit.add_subparsers(required=True, metavar="VIEW")
    _add_tail(views)
    _add_show(views)
    _add_stats(views)


def _add_tail(views: Any) -> None:
    tail = views.add_parser(
        "tail",
        help="the last records, one line each",
        description="The last N records, oldest first, one line each: cycle id, mode, regime, "
        "orders, NO_TRADE reason (or traded), equity; a liquidation: its legs and outcome. "
        "A log is read from its end; S3 is walked back an hour at a time from --until "
        f"(default now), at most to --since (default 7 days before). {EXIT_STATUS}",
    )
    tail.add_argument("-n", type=_positive, default=20, metavar="N", help="records (default 20)")
    tail.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="a local file only: then print each record appended, until Ctrl-C",
    )
    _add_source(tail)
    _add_range(tail, "only records started at or after WHEN", "only records started before WHEN")
    tail.set_defaults(handler=_piped(_tail))


def _add_show(views: Any) -> None:
    show = views.add_parser(
        "show",
        help="one record: what it traded or why not, then the whole record",
        description="Find the records of one cycle id (20260217T0005Z) or liquidation "
        "(liquidation-<request id>) and print, for each, a summary (what it traded or why "
        "not, risk rejections, orders and fills; a liquidation's plan, legs and what "
        "remains) and the whole record as JSON. A repeated delivery of a cycle writes a "
        "second record (duplicate_invocation): both are shown. In S3 a cycle is looked for "
        "in its own hour and the next; a liquidation id holds no time, so it is looked for "
        f"in --since/--until (default the last 7 days). {EXIT_STATUS}",
    )
    show.add_argument("record_id", metavar="ID", help="a cycle id or liquidation-<request id>")
    _add_source(show)
    _add_range(show, "S3, a liquidation: search from WHEN", "S3, a liquidation: search to WHEN")
    show.set_defaults(handler=_piped(_show))


def _add_stats(views: Any) -> None:
    stats = views.add_parser(
        "stats",
        help="NO_TRADE reasons, orders, fills, fees, PnL over a time range",
        description="What the records started in [--since, --until) add up to: cycles per "
        "outcome (ok/stuck/failed, as the CycleOutcome metric counts them) and per NO_TRADE "
        "reason, orders per product and side (DRY_RUN: those it would have sent), fills and fees "
        "(an order's filled size growing from one record to the next, as `trader report` "
        "finds them), the PnL of trades opened and closed in the range, the bot's booked "
        "realized PnL (state.pnl.realized_total: after the last cycle less after the first), "
        f"equity, liquidations. {EXIT_STATUS}",
    )
    _add_source(stats)
    _add_range(
        stats,
        "from WHEN (default: 24 h before --until)",
        "to WHEN (default: now for S3; for a log, the minute after its newest record)",
    )
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(handler=_piped(_stats))


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="?",
        default=DEFAULT_SOURCE,
        metavar="AUDIT",
        help=f"a .jsonl file, a folder, or s3://BUCKET/PREFIX (default {DEFAULT_SOURCE})",
    )


def _add_range(parser: argparse.ArgumentParser, since_help: str, until_help: str) -> None:
    parser.add_argument("--since", metavar="WHEN", help=since_help)
    parser.add_argument("--until", metavar="WHEN", help=until_help)


def _piped(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The handler, stopping quietly when the reader of its output goes (`| head`)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
            return 0

    return run


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return int(text)


def parse_time(text: str, flag: str, now: datetime) -> datetime:
    """ISO 8601 (UTC when no offset), or a span before `now`: 30m, 6h, 2d."""
    ago = _AGO.fullmatch(text.strip())
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    return parse_when(text, flag)


def _times(args: argparse.Namespace, now: datetime) -> tuple[datetime | None, datetime | None]:
    since = parse_time(args.since, "--since", now) if args.since else None
    until = parse_time(args.until, "--until", now) if args.until else None
    if since is not None and until is not None and since >= until:
        raise ConfigError(f"--since {args.since} is not before --until {args.until}")
    return since, until


def _tail(args: argparse.Namespace) -> int:
    from trader.entrypoints.audit_text import record_line

    since, until = _times(args, datetime.now(UTC))
    if args.follow:
        return _follow(args, since, until)
    for record in audit_source(args.source).last(args.n, since, until):
        print(record_line(record))
    return 0


def _follow(args: argparse.Namespace, since: datetime | None, until: datetime | None) -> int:
    from trader.adapters.local.audit_log import follow_audit_log, last_records
    from trader.entrypoints.audit_text import record_line

    path = Path(args.source)
    if args.source.startswith("s3://") or not path.is_file():
        raise ConfigError(f"--follow works only with a local .jsonl file, not {args.source}")
    records, end = last_records(path, args.n, since, until)
    for record in records:
        print(record_line(record), flush=True)
    try:
        for record in follow_audit_log(path, end, lambda: time.sleep(FOLLOW_POLL_SECONDS)):
            print(record_line(record), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def _show(args: argparse.Namespace) -> int:
    from trader.entrypoints.audit_text import show_text

    record_id = _record_id(args.record_id)
    now = datetime.now(UTC)
    since, until = _times(args, now)
    until = until or now
    source = audit_source(args.source)
    found = source.find(record_id, since or until - FIND_SPAN, until)
    if not found:
        print(f"trader: no audit record {record_id} in {source.where}", file=sys.stderr)
        return NOT_FOUND
    print("\n\n".join(show_text(record) for record in found))
    return 0


def _record_id(text: str) -> str:
    try:
        cycle_time(text)
    except ValueError:
        if not _LIQUIDATION_ID.fullmatch(text):
            raise ConfigError(
                f"{text!r} is neither a cycle id (YYYYMMDDTHHMMZ, e.g. 20260217T0005Z) nor a "
                "liquidation record id (liquidation-<request id>)"
            ) from None
    return text


def _stats(args: argparse.Namespace) -> int:
    from trader.entrypoints.audit_text import stats_json, stats_text
    from trader.service.report.audit_stats import audit_stats

    source = audit_source(args.source)
    since, until = _times(args, datetime.now(UTC))
    until = until or _default_until(source, args.source)
    since = since or until - STATS_SPAN
    stats = audit_stats(source.records_between(since, until))
    if args.json:
        print(json.dumps(stats_json(stats, source.where, since, until), indent=1))
    else:
        print(stats_text(stats, source.where, since, until))
    return 0


def _default_until(source: AuditSource, location: str) -> datetime:
    """Now for S3; for a log, the minute after its newest record (a simulated or replayed
    run's records are not of the last 24 hours)."""
    from trader.service.audit import record_started_at

    now = datetime.now(UTC)
    newest = None if location.startswith("s3://") else source.last(1)
    if not newest:
        return now
    started = record_started_at(newest[0])
    return started.replace(second=0, microsecond=0) + timedelta(minutes=1)
