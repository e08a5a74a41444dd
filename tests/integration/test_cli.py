"""The `trader` command as a user runs it: real processes, real files, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from trader.adapters.local.files import FileStateStore
from trader.domain.config import DEFAULT_CONFIG_PATH
from trader.domain.models import TradingState
from trader.domain.state import PortfolioState

TRADER = [sys.executable, "-m", "trader"]


def run_trader(
    cwd: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADER, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_run_once_when_offline_then_one_cycle_is_audited_and_state_is_saved(tmp_path: Path) -> None:
    done = run_trader(tmp_path, "run", "--once")

    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "logs" / "247trader-v2_audit.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["mode"] == "DRY_RUN"  # the safe default
    state = json.loads((tmp_path / "data" / ".state.json").read_text())
    assert state["state"]["last_cycle_id"] == record["cycle_id"]
    assert "=== 247trader session summary ===" in done.stdout


def test_run_fast_when_paper_then_trades_and_summary_counts_them(tmp_path: Path) -> None:
    done = run_trader(tmp_path, "run", "--mode", "PAPER", "--fast", "--cycles", "120")

    assert done.returncode == 0, done.stderr
    records = [json.loads(x) for x in (tmp_path / "logs" / "247trader-v2_audit.jsonl").open()]
    assert len(records) == 120
    placed = [o for r in records for o in r["orders"]["placed"]]
    filled = [o for o in placed if o["status"] == "FILLED"]
    assert filled, "a 10-hour synthetic session should trade at least once"
    assert f"orders            FILLED {len(filled)}" in done.stdout
    assert done.stdout.count(" TRADED ") == sum(1 for r in records if r["no_trade_reason"] is None)


def test_run_fast_twice_when_state_exists_then_the_second_session_resumes_after_the_first(
    tmp_path: Path,
) -> None:
    run_trader(tmp_path, "run", "--fast", "--cycles", "3")
    run_trader(tmp_path, "run", "--fast", "--cycles", "2")

    ids = [
        json.loads(x)["cycle_id"] for x in (tmp_path / "logs" / "247trader-v2_audit.jsonl").open()
    ]
    assert len(ids) == 5
    assert ids == sorted(set(ids))  # strictly increasing: no duplicate_invocation, no time travel


def test_run_when_live_is_asked_then_refused_with_a_clear_message(tmp_path: Path) -> None:
    done = run_trader(tmp_path, "run", "--once", "--mode", "LIVE")

    assert done.returncode == 2
    assert "LIVE is refused" in done.stderr
    assert not (tmp_path / "logs").exists()  # no cycle ran


def test_run_when_the_config_is_invalid_then_exit_2_naming_field_and_value(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    default = DEFAULT_CONFIG_PATH
    config.write_text(
        default.read_text().replace("max_trades_per_day: 30", "max_trades_per_day: -1")
    )

    done = run_trader(tmp_path, "run", "--once", "--config", str(config))

    assert done.returncode == 2
    assert "risk.max_trades_per_day: value -1" in done.stderr
    assert str(config) in done.stderr


def test_run_once_when_the_cycle_fails_then_exit_1_with_the_one_line_reason(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "data" / ".state.json"
    state_file.parent.mkdir()
    state_file.write_text("[]")  # valid JSON, not a state

    done = run_trader(tmp_path, "run", "--once")

    assert done.returncode == 1
    failed = [x for x in done.stderr.splitlines() if x.startswith("trader: cycle ")]
    assert len(failed) == 1
    assert " failed: exception:StateCorrupt: " in failed[0]
    assert "Traceback" not in done.stderr


def test_run_when_config_path_is_set_and_no_config_option_then_that_file_is_used(
    tmp_path: Path,
) -> None:
    config = tmp_path / "bad.yaml"
    default = DEFAULT_CONFIG_PATH
    config.write_text(
        default.read_text().replace("max_trades_per_day: 30", "max_trades_per_day: -1")
    )

    done = run_trader(tmp_path, "run", "--once", env={"CONFIG_PATH": str(config)})

    assert done.returncode == 2  # the Lambda's variable, read by the local command too
    assert "risk.max_trades_per_day: value -1" in done.stderr
    assert not (tmp_path / "logs").exists()  # no cycle ran


def test_run_when_the_state_file_is_corrupt_then_audited_naming_it_and_left_untouched(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "data" / ".state.json"
    state_file.parent.mkdir()
    state_file.write_text('{"fence": 1, "state": {"schema_version": 1, "vers')

    done = run_trader(tmp_path, "run", "--once")

    # The cycle itself never crashes: it audits exception:StateCorrupt, says so in one line
    # (no traceback) and exits 1 ...
    assert done.returncode == 1
    record = json.loads((tmp_path / "logs" / "247trader-v2_audit.jsonl").read_text())
    assert record["no_trade_reason"] == "exception:StateCorrupt"
    assert "data/.state.json is corrupt" in record["exception"]["message"]
    reason = f"trader: cycle {record['cycle_id']} failed: exception:StateCorrupt: "
    assert reason + record["exception"]["message"] in done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    # ... and the damaged file is left exactly as it was, for a human to inspect.
    assert state_file.read_text() == '{"fence": 1, "state": {"schema_version": 1, "vers'


def test_run_interval_when_sigterm_arrives_then_it_stops_cleanly_with_exit_0(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        [*TRADER, "run", "--interval", "300"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline() if proc.stdout else ""  # the first cycle's line
        assert first.startswith("20"), first
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 20  # it did not sit out the 300 s sleep
    assert "SIGTERM received" in out
    assert "=== 247trader session summary ===" in out


@pytest.mark.parametrize("state", ["REDUCING", "HALTED", "ACTIVE"])
def test_trading_state_when_set_then_the_state_file_holds_it(tmp_path: Path, state: str) -> None:
    done = run_trader(tmp_path, "trading-state", state.lower())
    assert done.returncode == 0, done.stderr
    assert (
        json.loads((tmp_path / "data" / ".state.json").read_text())["state"]["trading_state"]
        == state
    )
    assert run_trader(tmp_path, "trading-state").stdout.strip() == state


def test_help_when_asked_then_lists_the_commands() -> None:
    done = subprocess.run(
        [*TRADER, "run", "--help"], capture_output=True, text=True, check=False, env=os.environ
    )
    assert done.returncode == 0
    flags = ("--once", "--interval", "--mode", "--exchange", "--fast", "--cycles", "--traceback")
    for flag in flags:
        assert flag in done.stdout


def test_trading_state_when_halted_then_the_next_cycle_trades_nothing_and_says_kill_switch(
    tmp_path: Path,
) -> None:
    assert run_trader(tmp_path, "trading-state", "HALTED").returncode == 0
    done = run_trader(tmp_path, "run", "--mode", "PAPER", "--fast", "--cycles", "30")

    assert done.returncode == 0, done.stderr
    records = [json.loads(x) for x in (tmp_path / "logs" / "247trader-v2_audit.jsonl").open()]
    assert {r["no_trade_reason"] for r in records} == {"kill_switch"}
    assert all(r["orders"]["placed"] == [] for r in records)


def test_run_when_live_is_confirmed_on_the_simulated_exchange_then_refused(tmp_path: Path) -> None:
    done = run_trader(tmp_path, "run", "--once", "--mode", "LIVE", "--confirm-live")
    assert done.returncode == 2
    assert "LIVE trading needs EXCHANGE=coinbase" in done.stderr


def test_run_when_live_on_coinbase_without_a_key_then_refused_before_any_request(
    tmp_path: Path,
) -> None:
    done = run_trader(
        tmp_path, "run", "--once", "--mode", "LIVE", "--confirm-live", "--exchange", "coinbase"
    )
    assert done.returncode == 2
    assert "LIVE needs a Coinbase key" in done.stderr
    assert not (tmp_path / "logs").exists()


def test_trading_state_when_active_over_a_drawdown_hold_then_it_says_the_peak_restarts(
    tmp_path: Path,
) -> None:
    held = PortfolioState(
        trading_state=TradingState.REDUCING,
        drawdown_tripped_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
    )
    (tmp_path / "data").mkdir()
    FileStateStore(tmp_path / "data" / ".state.json").save(held, None)

    done = run_trader(tmp_path, "trading-state", "ACTIVE")

    assert done.returncode == 0, done.stderr
    assert "trading state REDUCING -> ACTIVE" in done.stdout
    assert "releases the max_drawdown hold of 2026-03-02T12:00:00+00:00" in done.stdout


def paper_account(tmp_path: Path, balances: dict[str, str]) -> Path:
    """A state file whose PAPER account holds `balances`."""
    (tmp_path / "data").mkdir()
    state_file = tmp_path / "data" / ".state.json"
    paper = {currency: Decimal(amount) for currency, amount in balances.items()}
    FileStateStore(state_file).save(PortfolioState(paper_balances=paper), None)
    return state_file


def answer_of(stdout: str) -> dict:
    """The JSON answer `trader liquidate` prints after its tables."""
    return json.loads(stdout[stdout.index("\n{") :])


def test_liquidate_when_plan_only_then_table_and_json_printed_and_nothing_sold(
    tmp_path: Path,
) -> None:
    state_file = paper_account(tmp_path, {"USD": "50", "SOL": "2"})
    before = state_file.read_text()

    done = run_trader(tmp_path, "liquidate", "--mode", "PAPER", "--request-id", "plan-1")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("liquidation plan-1 (plan only, nothing sent; mode PAPER")
    assert "sell 2 on SOL-USDC" in done.stdout
    assert "convert 50 USD->USDC" in done.stdout
    answer = answer_of(done.stdout)
    assert (answer["ok"], answer["dry_run"], answer["legs"]) == (True, True, [])
    assert state_file.read_text() == before  # a plan writes no state
    record = json.loads((tmp_path / "logs" / "247trader-v2_audit.jsonl").read_text())
    assert (record["record_type"], record["cycle_id"]) == ("liquidation", "liquidation-plan-1")


def test_liquidate_when_executed_in_paper_then_the_paper_account_holds_only_usdc(
    tmp_path: Path,
) -> None:
    state_file = paper_account(tmp_path, {"USD": "50", "SOL": "2", "BTC": "0.01"})

    done = run_trader(
        tmp_path, "liquidate", "--mode", "PAPER", "--execute", "--confirm", "LIQUIDATE",
        "--halt-trading", "--request-id", "all-1",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    answer = answer_of(done.stdout)
    assert [leg["leg"] for leg in answer["legs"]] == ["BTC.0", "SOL.0", "USD.0"]
    state = json.loads(state_file.read_text())["state"]
    left = {c: a for c, a in state["paper_balances"].items() if Decimal(a) != 0}
    assert list(left) == ["USDC"]
    assert state["trading_state"] == "HALTED"

    again = run_trader(
        tmp_path, "liquidate", "--mode", "PAPER", "--execute", "--confirm", "LIQUIDATE",
        "--request-id", "all-1",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert answer_of(again.stdout)["legs"] == []  # the same request sells nothing twice


def test_liquidate_when_execute_without_the_confirm_word_then_exit_2_naming_confirm(
    tmp_path: Path,
) -> None:
    done = run_trader(tmp_path, "liquidate", "--execute", "--confirm", "yes")

    assert done.returncode == 2
    assert "confirm: Input should be 'LIQUIDATE' (got 'yes')" in done.stderr
    assert not (tmp_path / "logs").exists()  # nothing was built, nothing audited


def test_liquidate_when_executed_in_dry_run_mode_then_refused_with_exit_1(tmp_path: Path) -> None:
    state_file = paper_account(tmp_path, {"SOL": "2"})
    before = state_file.read_text()

    done = run_trader(tmp_path, "liquidate", "--execute", "--confirm", "LIQUIDATE")

    assert done.returncode == 1
    assert answer_of(done.stdout)["error"].startswith("refused: the trading mode is DRY_RUN")
    assert state_file.read_text() == before


def test_liquidate_help_when_asked_then_lists_its_options() -> None:
    done = subprocess.run(
        [*TRADER, "liquidate", "--help"], capture_output=True, text=True, check=False
    )

    assert done.returncode == 0
    for flag in (
        "--execute", "--confirm", "--target", "--keep", "--min-value", "--max-slippage-bps",
        "--halt-trading", "--request-id", "--mode", "--exchange", "--config", "--data-dir",
        "--logs-dir", "--key-file", "--confirm-live",
    ):  # fmt: skip
        assert flag in done.stdout
    assert "--fast" not in done.stdout  # a run option only
