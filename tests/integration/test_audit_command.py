"""`trader audit tail | show | stats` over a JSONL log and over S3 (moto), as an operator runs it.

Two sets of records: a hand-made night (below, every figure worked out by hand) written by
the sinks the bot uses (JsonlAuditSink locally, S3AuditSink deployed), and a real `trader run`
session followed by a real `trader liquidate`.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from audit_records import order, record
from aws_fixtures import client, fake_credentials_in_env, moto_aws
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from trader.adapters.aws.audit import S3AuditSink
from trader.adapters.local.files import JsonlAuditSink
from trader.entrypoints.cli import main


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cycle(when: str, equity: str | None, realized: str | None, **fields: Any) -> dict[str, Any]:
    """A PAPER cycle's record (audit_records.record), with the booked realized PnL."""
    rec = record(at(when), equity, {}, **fields)
    rec["state"]["pnl"] = {"realized_total": realized}
    return rec


def night() -> list[dict[str, Any]]:
    """2026-03-01 22:05 to 2026-03-02 03:05, in the order the bot wrote them."""
    blocked = cycle("2026-03-01T23:40", "1002", "0", reason="all_proposals_blocked_by_risk")
    blocked["risk"] = [
        {"product_id": "ETH-USD", "side": "BUY", "intent": "ENTRY", "approved": False,
         "check": "max_positions", "detail": "1 >= 1"},
    ]  # fmt: skip
    duplicate = {**cycle("2026-03-02T00:15", None, None), "state": None}
    duplicate.update(started_at="2026-03-02T01:00:10Z", no_trade_reason="duplicate_invocation")
    failed = {**cycle("2026-03-02T01:05", None, None), "state": None}
    failed.update(
        no_trade_reason="exception:StateCorrupt",
        exception={"type": "StateCorrupt", "message": "data/.state.json: not JSON"},
    )
    return [
        cycle("2026-03-01T22:05", "990", "-2"),  # before the range
        cycle("2026-03-01T23:10", "1000", "0", held={"BTC-USD": "0.01"},
              placed=[order("b1", "BTC-USD", "BUY", "0.01", "50000", "3.00")]),
        blocked,
        cycle("2026-03-02T00:15", "1004", "3.94",
              placed=[order("s1", "BTC-USD", "SELL", "0.01", "51000", "3.06")]),
        {**cycle("2026-03-02T00:20", None, None, reason="lock_held"), "state": None},
        duplicate,  # the 00:15 cycle delivered again, in the next hour
        failed,
        cycle("2026-03-02T01:30", "1003.94", "3.94",
              placed=[order("e1", "ETH-USD", "BUY", "0", None, "0", status="OPEN")]),
        cycle("2026-03-02T01:35", "1005", "3.94", held={"ETH-USD": "0.1"},
              reconciled=[order("e1", "ETH-USD", "BUY", "0.1", "2000", "1.20")]),
        liquidation("2026-03-02T01:50:00Z"),
        cycle("2026-03-02T03:05", "1006", "3.94"),  # after the range
    ]  # fmt: skip


def liquidation(started: str) -> dict[str, Any]:
    """The record service/liquidation_report.audit_record writes, one sell leg that filled."""
    return {
        "schema_version": 1,
        "record_type": "liquidation",
        "cycle_id": "liquidation-req-1",
        "request_id": "req-1",
        "mode": "PAPER",
        "started_at": started,
        "finished_at": started,
        "duration_ms": 0,
        "request": {"request_id": "req-1", "dry_run": False, "target": "USDC"},
        "ok": True,
        "plan": [{"currency": "ETH", "amount": "0.1", "value": "199.5", "skip_reason": None,
                  "detail": None, "route": [{"kind": "sell", "product_id": "ETH-USDC",
                  "size": "0.1", "limit_price": None, "estimated": False}]}],
        "legs": [{"leg": "ETH.0", "currency": "ETH", "kind": "sell", "venue": "ETH-USDC",
                  "size": "0.1", "client_order_id": "l1", "status": "FILLED",
                  "filled_size": "0.1", "proceeds": "199.5", "detail": None}],
        "remaining": [],
        "error": None,
        "trading_state": None,
        "api_calls": {},
    }  # fmt: skip


RANGE = ["--since", "2026-03-01T23:00Z", "--until", "2026-03-02T02:00Z"]
# By hand, for RANGE (the 22:05 and 03:05 cycles outside it):
# cycles 8: traded 3 (23:10 buy, 00:15 sell, 01:30 order resting), blocked by risk 1, lock_held
# 1, duplicate_invocation 1, exception 1, no_candidates 1 -> ok 3+1+1 = 5, stuck 2, failed 1.
# fills: BTC buy 0.01 @ 50000 = 500 (fee 3.00), BTC sell 0.01 @ 51000 = 510 (fee 3.06), and
# the ETH order, placed resting at 01:30, reconciled filled 0.1 @ 2000 = 200 (fee 1.20) at
# 01:35 -> 3 fills, fees 7.26. The BTC round trip: 510 - 500 - 3.00 - 3.06 = 3.94.
# Booked realized PnL 0 after 23:10, 3.94 after 01:35: +3.94. Equity 1000 -> 1005.
EXPECTED_STATS = {
    "cycles": 8,
    "modes": {"PAPER": 8},
    "fills": 3,
    "fees": "7.26",
    "closed_trades": 1,
    "closed_trades_pnl": "3.94",
    "realized_pnl": "3.94",
    "realized_pnl_first_cycle_sold": False,
    "equity": ["1000", "1005"],
    "statuses": {"FILLED": 2, "OPEN": 1},
    "liquidations": {"records": 1, "ok": 1, "legs": 1, "legs_done": 1},
}
EXPECTED_OUTCOMES = {
    "traded": 3,
    "all_proposals_blocked_by_risk": 1,
    "lock_held": 1,
    "duplicate_invocation": 1,
    "exception:StateCorrupt": 1,
    "no_candidates_from_triggers": 1,
}
EXPECTED_ORDERS = [
    ("BTC-USD", "BUY", 1, 1, "0.01", "500", "3"),
    ("BTC-USD", "SELL", 1, 1, "0.01", "510", "3.06"),
    ("ETH-USD", "BUY", 1, 1, "0.1", "200", "1.2"),
]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    sink = JsonlAuditSink(tmp_path / "logs" / "247trader-v2_audit.jsonl")
    for rec in night():
        sink.write(rec)
    return sink.path


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in the environment, and a fresh default boto3 session for the
    command's client (so a test can hook the calls it makes)."""
    fake_credentials_in_env(monkeypatch)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@contextmanager
def s3_night(records: list[dict[str, Any]] | None = None) -> Iterator[str]:
    """moto with the records written by the deployed bot's sink; yields s3://bucket/audit/."""
    with moto_aws() as aws:
        sink = S3AuditSink(aws.bucket, aws.s3)
        for rec in night() if records is None else records:
            sink.write(rec)
        yield f"s3://{aws.bucket}/audit/"


def s3_calls() -> list[tuple[str, str | None]]:
    """(operation, Prefix) of every S3 call the command's client makes from now on."""
    calls: list[tuple[str, str | None]] = []

    def seen(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, params.get("Prefix")))

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.s3", seen)
    return calls


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def stats_json(capsys: pytest.CaptureFixture[str], source: str, *extra: str) -> dict[str, Any]:
    code, out, err = run(capsys, "stats", source, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def check_night_stats(stats: dict[str, Any]) -> None:
    assert {k: stats[k] for k in EXPECTED_STATS} == EXPECTED_STATS
    assert stats["outcomes"] == EXPECTED_OUTCOMES
    rows = [
        (o["product_id"], o["side"], o["orders"], o["fills"], o["size"], o["notional"], o["fees"])
        for o in stats["orders"]
    ]
    assert [(*r[:4], *(Decimal(v) for v in r[4:])) for r in rows] == [
        (*r[:4], *(Decimal(v) for v in r[4:])) for r in EXPECTED_ORDERS
    ]


def test_stats_when_a_log_then_the_night_adds_up_as_worked_out_by_hand(log, capsys) -> None:
    stats = stats_json(capsys, str(log), *RANGE)

    check_night_stats(stats)
    assert (stats["since"], stats["until"]) == ("2026-03-01T23:00:00Z", "2026-03-02T02:00:00Z")


def test_stats_when_s3_then_the_same_figures_listing_only_the_hours_of_the_range(
    aws_env, capsys
) -> None:
    with s3_night() as url:
        calls = s3_calls()
        stats = stats_json(capsys, url, *RANGE)

    check_night_stats(stats)
    lists = [prefix for op, prefix in calls if op == "ListObjectsV2"]
    assert lists == [
        "audit/dt=2026-03-01/hour=23/",
        "audit/dt=2026-03-02/hour=00/",
        "audit/dt=2026-03-02/hour=01/",
    ]
    # 23:10, 23:40, 00:15, 00:20, 00:15 again, 01:05, 01:30, 01:35, the liquidation
    assert sum(1 for op, _ in calls if op == "GetObject") == 9


def test_stats_when_s3_range_covers_whole_days_then_one_listing_a_day(aws_env, capsys) -> None:
    with s3_night() as url:
        calls = s3_calls()
        stats = stats_json(capsys, url, "--since", "2026-03-01", "--until", "2026-03-03")

    assert [p for op, p in calls if op == "ListObjectsV2"] == [
        "audit/dt=2026-03-01/",
        "audit/dt=2026-03-02/",
    ]
    assert stats["cycles"] == 10  # all 11 records but the liquidation
    assert stats["realized_pnl"] == "5.94"  # -2 after 22:05, 3.94 after 03:05


def test_stats_when_the_range_starts_at_the_sale_then_its_booking_is_left_out_and_said(
    log, capsys
) -> None:
    stats = stats_json(
        capsys, str(log), "--since", "2026-03-02T00:00Z", "--until", "2026-03-02T02:00Z"
    )

    # the first cycle with a book is the 00:15 sale (its buy at 23:10 is outside): the booked
    # realized PnL is 3.94 after it and after 01:35, a change of 0, and the note says why;
    # no trade opened in range, so none closed; fills: the sale and the ETH buy
    assert Decimal(stats["realized_pnl"]) == 0
    assert stats["realized_pnl_first_cycle_sold"] is True
    assert (stats["closed_trades"], stats["fills"], stats["fees"]) == (0, 2, "4.26")
    code, out, _ = run(capsys, "stats", str(log), "--since", "2026-03-02T00:00Z")
    assert code == 0
    assert "(booked, net of fees: 3.94 -> 3.94, not counting the first cycle's own sale)" in out


def test_stats_when_the_s3_url_names_no_bucket_then_exit_2(capsys) -> None:
    assert run(capsys, "stats", "s3://") == (
        2,
        "",
        "trader: 's3://' names no bucket (s3://bucket/prefix)\n",
    )


def test_stats_text_when_a_log_then_reasons_outcomes_orders_and_pnl_are_printed(
    log, capsys
) -> None:
    code, out, _ = run(capsys, "stats", str(log), *RANGE)

    assert code == 0
    lines = out.splitlines()
    assert "cycle outcomes    ok 5, stuck 2, failed 1" in lines
    assert "traded            3 cycles" in lines
    assert "       1  exception:StateCorrupt" in lines
    assert "fills             3, fees 7.26" in lines
    assert "closed trades     1, PnL +3.94 (net of fees)" in lines
    assert "realized PnL      +3.94 (booked, net of fees: 0.00 -> 3.94)" in lines
    assert "equity            1,000.00 -> 1,005.00" in lines
    assert "liquidations      1 (ok 1), 1 of 1 legs done" in lines
    btc_sell = next(line.split() for line in lines if "BTC-USD" in line and "SELL" in line)
    assert btc_sell == ["BTC-USD", "SELL", "1", "1", "0.01", "510.00", "3.06"]


def test_tail_when_a_log_then_one_line_a_record_with_the_liquidation_shown(log, capsys) -> None:
    code, out, _ = run(capsys, "tail", "-n", "3", str(log), "--until", "2026-03-02T02:00Z")

    assert code == 0
    resting, filled, sold_all = out.splitlines()
    assert resting.split() == [
        "20260302T0130Z", "PAPER", "choppy", "BUY", "ETH-USD", "OPEN", "traded", "equity",
        "1,003.94",
    ]  # fmt: skip
    assert filled.split()[:8] == [
        "20260302T0135Z", "PAPER", "choppy", "no", "orders", "(+1", "reconciled)",
        "no_candidates_from_triggers",
    ]  # fmt: skip
    assert sold_all.split() == [
        "liquidation-req-1", "PAPER", "liquidation", "1", "of", "1", "legs", "done", "ok"
    ]  # fmt: skip


def test_tail_when_s3_then_the_same_lines_from_the_newest_hour_only(aws_env, log, capsys) -> None:
    _, from_file, _ = run(capsys, "tail", "-n", "3", str(log), "--until", "2026-03-02T02:00Z")
    with s3_night() as url:
        calls = s3_calls()
        code, from_s3, _ = run(capsys, "tail", "-n", "3", url, "--until", "2026-03-02T02:00Z")

    assert code == 0
    assert from_s3 == from_file
    # hour 01 holds five records (the repeated 00:15, 01:05, 01:30, 01:35, the liquidation)
    assert [p for op, p in calls if op == "ListObjectsV2"] == ["audit/dt=2026-03-02/hour=01/"]


@pytest.mark.parametrize("where", ["log", "s3"])
def test_show_when_a_cycle_was_delivered_twice_then_both_records_each_with_its_summary(
    where, aws_env, log, capsys
) -> None:
    with s3_night() as url:
        source = str(log) if where == "log" else url
        code, out, _ = run(capsys, "show", "20260302T0015Z", source)

    assert code == 0
    first, second = out.split("\n\ncycle ")
    assert first.splitlines()[:3] == [
        "cycle 20260302T0015Z  PAPER  started 2026-03-02T00:15:00Z (- ms)  regime choppy",
        "traded",
        "orders:",
    ]
    assert "  placed      SELL BTC-USD -> FILLED; filled 0.01 @ 51000, fees 3.06" in first
    assert '"client_order_id": "s1"' in first  # then the whole record
    assert second.splitlines()[1] == "NO_TRADE duplicate_invocation"
    assert "started 2026-03-02T01:00:10Z" in second.splitlines()[0]


def test_show_when_risk_blocked_then_the_rejections_are_listed(log, capsys) -> None:
    code, out, _ = run(capsys, "show", "20260301T2340Z", str(log))

    assert code == 0
    assert out.splitlines()[1:4] == [
        "NO_TRADE all_proposals_blocked_by_risk",
        "risk rejections:",
        "  ETH-USD BUY ENTRY: max_positions (1 >= 1)",
    ]


def test_show_when_a_cycle_failed_then_its_exception_message(log, capsys) -> None:
    _, out, _ = run(capsys, "show", "20260302T0105Z", str(log))

    assert out.splitlines()[1] == "NO_TRADE exception:StateCorrupt: data/.state.json: not JSON"


def test_show_when_a_liquidation_in_s3_then_found_in_the_range_with_its_legs(
    aws_env, capsys
) -> None:
    with s3_night() as url:
        calls = s3_calls()
        code, out, _ = run(capsys, "show", "liquidation-req-1", url, *RANGE)

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "liquidation req-1 (executed; mode PAPER, target USDC)"
    assert "ETH.0  ETH-USDC  0.1   FILLED  0.1     199.5" in lines
    assert sum(1 for op, _ in calls if op == "GetObject") == 1  # only its own object


@pytest.mark.parametrize(
    ("record_id", "code", "message"),
    [
        ("2026-03-02", 2, "'2026-03-02' is neither a cycle id (YYYYMMDDTHHMMZ"),
        ("liquidation-", 2, "is neither a cycle id"),
        ("20260302T0555Z", 1, "no audit record 20260302T0555Z in "),
        ("liquidation-nope", 1, "no audit record liquidation-nope in "),
    ],
)
def test_show_when_the_id_is_bad_or_absent_then_one_line_and_its_exit_status(
    log, capsys, record_id, code, message
) -> None:
    got, out, err = run(capsys, "show", record_id, str(log))

    assert got == code
    assert out == ""
    assert message in err
    assert len(err.splitlines()) == 1


def test_commands_when_the_log_is_missing_or_broken_then_exit_2_naming_it(tmp_path, capsys) -> None:
    missing = tmp_path / "nope.jsonl"
    message = f"trader: {missing}: no such audit log (a .jsonl file or a folder of them)\n"
    for view in ("tail", "stats"):
        code, out, err = run(capsys, view, str(missing))
        assert (code, out, err) == (2, "", message)

    broken = tmp_path / "broken.jsonl"
    JsonlAuditSink(broken).write(night()[1])
    with broken.open("a") as f:
        f.write("{not json\n")
    code, _, err = run(capsys, "stats", str(broken), *RANGE)
    assert code == 2
    assert err.startswith(f"trader: {broken} line 2: not JSON")


def test_commands_when_times_are_bad_then_exit_2(log, capsys) -> None:
    code, _, err = run(capsys, "stats", str(log), "--since", "yesterday")
    assert (code, err.strip()) == (
        2,
        "trader: --since 'yesterday' is not a date: use ISO 8601, e.g. 2024-08-01 or "
        "2024-08-01T12:00Z",
    )
    code, _, err = run(capsys, "stats", str(log), "--since", "2d", "--until", "3d")
    assert code == 2
    assert "--since 2d is not before --until 3d" in err


def test_tail_follow_when_the_source_is_s3_then_exit_2(capsys) -> None:
    code, _, err = run(capsys, "tail", "--follow", "s3://bucket/audit/")

    assert code == 2
    assert "--follow works only with a local .jsonl file" in err


def test_stats_when_s3_access_is_denied_then_one_line_naming_the_prefix_and_exit_2(
    aws_env, monkeypatch, capsys
) -> None:
    @set_initial_no_auth_action_count(4)  # moto checks IAM after the four set-up calls
    def denied() -> tuple[int, str, str]:
        with mock_aws():
            client("s3").create_bucket(Bucket="trader-audit-denied")
            iam = client("iam")
            iam.create_user(UserName="reader")
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
            iam.put_user_policy(
                UserName="reader", PolicyName="get", PolicyDocument=json.dumps(policy)
            )
            key = iam.create_access_key(UserName="reader")["AccessKey"]
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            return run(capsys, "stats", "s3://trader-audit-denied/audit/", *RANGE)

    code, out, err = denied()

    assert (code, out) == (2, "")
    assert err == (
        "trader: s3://trader-audit-denied/audit/dt=2026-03-01/hour=23/: cannot list "
        "(AccessDenied: Access Denied)\n"
    )


# --- a real session: `trader run` on the synthetic market, then `trader liquidate` ---------


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 PAPER cycles from 2026-02-17T00:05Z (the default config's simulator), then a
    liquidation of what they left; returns the audit log."""
    root = tmp_path_factory.mktemp("session")
    dirs = ["--data-dir", str(root / "data"), "--logs-dir", str(root / "logs")]
    assert main(["run", "--mode", "PAPER", "--fast", "--cycles", "100", "--quiet", *dirs]) == 0
    liquidate = ["liquidate", "--mode", "PAPER", "--execute", "--confirm", "LIQUIDATE"]
    assert main([*liquidate, "--request-id", "t1", *dirs]) == 0
    return root / "logs" / "247trader-v2_audit.jsonl"


def session_records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def expected_from_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures worked out from the raw records on their own: the simulated market fills
    each market order when placed, so an order with a filled size is one fill."""
    cycles = [r for r in records if r.get("record_type") is None]
    placed = [o for r in cycles for o in r["orders"]["placed"]]
    assert not any(r["orders"]["reconciled"] for r in cycles)  # nothing filled later
    filled = [o for o in placed if Decimal(o["filled_size"]) > 0]
    first_sold = any(o["side"] == "SELL" for o in cycles[0]["orders"]["placed"])
    assert not first_sold  # so the booked realized PnL change covers every cycle
    realized = [Decimal(r["state"]["pnl"]["realized_total"]) for r in cycles]
    return {
        "cycles": len(cycles),
        "outcomes": Counter(r["no_trade_reason"] or "traded" for r in cycles),
        "placed": Counter((o["product_id"], o["side"]) for o in placed),
        "fills": len(filled),
        "fees": sum(Decimal(o["fees"]) for o in filled),
        "realized": realized[-1] - realized[0],
        "equity": [cycles[0]["state"]["equity"], cycles[-1]["state"]["equity"]],
    }


def test_stats_when_a_real_session_then_figures_match_its_raw_records(session, capsys) -> None:
    expected = expected_from_records(session_records(session))
    # the run's times are simulated (Feb 2026); the liquidation's are the real clock's
    stats = stats_json(capsys, str(session), "--since", "2026-02-17", "--until", "2026-02-18")

    assert stats["cycles"] == expected["cycles"] == 100
    assert Counter(stats["outcomes"]) == expected["outcomes"]
    assert {(o["product_id"], o["side"]): o["orders"] for o in stats["orders"]} == expected[
        "placed"
    ]
    assert stats["fills"] == expected["fills"] > 0
    assert Decimal(stats["fees"]) == expected["fees"]
    assert Decimal(stats["realized_pnl"]) == expected["realized"]
    assert stats["equity"] == expected["equity"]


def test_stats_when_a_real_session_is_in_s3_then_the_same_as_from_the_log(
    session, aws_env, capsys
) -> None:
    window = ["--since", "2026-02-17", "--until", "2026-02-18"]
    from_log = stats_json(capsys, str(session), *window)
    with s3_night(session_records(session)) as url:
        from_s3 = stats_json(capsys, url, *window)

    assert from_s3.pop("source") == "s3://trader-audit-test/audit/"
    from_log.pop("source")
    assert from_s3 == from_log


def test_tail_and_show_when_a_real_liquidation_ends_the_log_then_shown_with_its_legs(
    session, capsys
) -> None:
    records = session_records(session)
    last_cycle = records[-2]["cycle_id"]

    code, out, _ = run(capsys, "tail", "-n", "2", str(session))
    assert code == 0
    cycle_line, liquidation_line = out.splitlines()
    assert cycle_line.startswith(f"{last_cycle}  PAPER")
    legs = records[-1]["legs"]
    assert liquidation_line.split()[:8] == [
        "liquidation-t1", "PAPER", "liquidation", str(len(legs)), "of", str(len(legs)), "legs",
        "done",
    ]  # fmt: skip

    code, out, _ = run(capsys, "show", "liquidation-t1", str(session))
    assert code == 0
    assert out.startswith("liquidation t1 (executed; mode PAPER, target USDC)\n")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    for leg in legs:
        assert rows[leg["leg"]][:5] == [
            leg["leg"], leg["venue"], leg["size"], leg["status"], leg["filled_size"]
        ]  # fmt: skip
    assert json.loads(out[out.index("\n{") :]) == records[-1]


def test_commands_when_a_dry_run_then_its_orders_are_shown_as_not_sent(tmp_path, capsys) -> None:
    dirs = ["--data-dir", str(tmp_path / "data"), "--logs-dir", str(tmp_path / "logs")]
    assert main(["run", "--fast", "--cycles", "2", "--quiet", *dirs]) == 0  # DRY_RUN: the default
    log = tmp_path / "logs" / "247trader-v2_audit.jsonl"
    records = session_records(log)
    would = [o for r in records for o in r["orders"]["placed"]]
    assert would and {o["status"] for o in would} == {"DRY_RUN"}  # the market fires an entry
    capsys.readouterr()

    _, out, _ = run(capsys, "tail", str(log))
    first = out.splitlines()[0]
    assert f"{would[0]['side']} {would[0]['product_id']} DRY_RUN" in first
    assert "would trade (DRY_RUN: nothing sent)" in first
    _, out, _ = run(capsys, "show", records[0]["cycle_id"], str(log))
    assert out.splitlines()[1] == "would trade (DRY_RUN: nothing sent)"
    assert "-> DRY_RUN; not sent" in out.splitlines()[3]
    stats = stats_json(capsys, str(log))
    assert (stats["statuses"], stats["fills"]) == ({"DRY_RUN": len(would)}, 0)


def test_stats_when_no_range_is_given_then_the_last_24_hours_of_the_log(tmp_path, capsys) -> None:
    log = tmp_path / "audit.jsonl"
    for rec in night()[:-2]:  # up to 01:35 on 2026-03-02 (the liquidation and 03:05 left out)
        JsonlAuditSink(log).write(rec)

    stats = stats_json(capsys, str(log))

    assert (stats["since"], stats["until"]) == ("2026-03-01T01:36:00Z", "2026-03-02T01:36:00Z")
    assert stats["cycles"] == 9  # every cycle of the night up to 01:35


def test_help_when_asked_then_each_view_documents_its_source_and_exit_status(capsys) -> None:
    for view in ("tail", "show", "stats"):
        with pytest.raises(SystemExit) as done:
            main(["audit", view, "--help"])
        assert done.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "AUDIT a .jsonl file, a folder, or s3://BUCKET/PREFIX" in text
        assert "Exit status: 0 when answered, 1 when `show` finds no record" in text


def test_tail_follow_when_a_cycle_is_appended_then_printed_and_ctrl_c_ends_it(log) -> None:
    follower = subprocess.Popen(
        [sys.executable, "-m", "trader", "audit", "tail", "-n", "1", "-f", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it, whatever this test process inherited (a SIGINT
        # ignored here would be ignored by the command too, and it would never stop).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    lines: queue.Queue[str] = queue.Queue()  # read on a thread, so a silent command fails
    threading.Thread(
        target=lambda: [lines.put(x) for x in follower.stdout or ()], daemon=True
    ).start()
    try:
        assert lines.get(timeout=30).startswith("20260302T0305Z  PAPER")
        JsonlAuditSink(log).write(cycle("2026-03-02T03:10", "1007", "3.94"))
        assert lines.get(timeout=30).split()[-2:] == ["equity", "1,007.00"]
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
        assert follower.stderr is not None and follower.stderr.read() == ""
    finally:
        follower.kill()
