"""The Lambda layer ships no local-only code, and the cycle handler works without it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def finish_build():
    spec = importlib.util.spec_from_file_location("finish_build", REPO / "infra/finish_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_local_only_list_when_compared_with_the_package_then_every_path_exists() -> None:
    # A renamed module would otherwise slip back into the layer unnoticed.
    missing = [p for p in finish_build().LOCAL_ONLY if not (REPO / "lib" / p).exists()]
    assert missing == []


def test_local_only_list_when_an_entrypoint_is_not_a_handler_then_it_is_left_out() -> None:
    # Only the two Lambda entrypoints belong in the layer; `trader audit`, report and the
    # rest are local commands.
    entrypoints = {p.name for p in (REPO / "lib/trader/entrypoints").glob("*.py")}
    local = {Path(p).name for p in finish_build().LOCAL_ONLY if "/entrypoints/" in p}
    assert entrypoints - local == {"__init__.py", "lambda_cycle.py", "lambda_liquidate.py"}


HANDLER_RUN = r"""
import json, sys
from moto import mock_aws
with mock_aws():
    import boto3
    from aws_resources import create_bucket, create_table
    create_table(boto3.client("dynamodb"), "trader-state")
    create_bucket(boto3.client("s3"), "trader-audit")
    import app, trader
    class Context:
        aws_request_id = "req-layer"
        function_name = "CycleFunction"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cycle"
        def get_remaining_time_in_millis(self):
            return 100_000
    answer = app.handler(json.load(open(sys.argv[1])), Context())
    local = [m for m in sys.modules if m.startswith("trader.") and "local" in m]
    print(json.dumps({"answer": answer, "trader": trader.__file__, "local": local}))
"""


def run_handler_on_trimmed_layer(tmp_path, function: str, event: str) -> dict:
    """The handler of functions/<function> on a copy of the package without local-only code."""
    layer = tmp_path / "python"
    shutil.copytree(REPO / "lib" / "trader", layer / "trader")
    finish_build().remove_local_only(layer)
    assert not (layer / "trader/entrypoints/cli.py").exists()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(layer), str(REPO / "functions" / function), str(REPO / "tests/support")]
        ),
        "STATE_TABLE": "trader-state",
        "AUDIT_BUCKET": "trader-audit",
        "EXCHANGE": "simulated",
        "TRADING_MODE": "PAPER",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "247trader-test",
        "POWERTOOLS_SERVICE_NAME": "247trader",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("CONFIG_PATH", None)  # the default config is the layer's own package data
    payload = json.loads((REPO / "events" / event).read_text())
    if "time" in payload:  # the handler runs on the system clock: an event of now, in its window
        payload["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event_file = tmp_path / event
    event_file.write_text(json.dumps(payload))
    done = subprocess.run(
        [sys.executable, "-c", HANDLER_RUN, str(event_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["trader"].startswith(str(layer))  # the trimmed copy, not the repo's lib/
    assert out["local"] == []
    return out["answer"]


def test_cycle_handler_when_layer_lacks_local_only_code_then_a_cycle_still_runs(tmp_path) -> None:
    answer = run_handler_on_trimmed_layer(tmp_path, "cycle", "scheduled.json")

    assert answer["ok"] is True
    assert not str(answer["no_trade_reason"] or "").startswith("exception:")


def test_liquidate_handler_when_layer_lacks_local_only_code_then_it_plans(tmp_path) -> None:
    answer = run_handler_on_trimmed_layer(tmp_path, "liquidate", "liquidate-dry-run.json")

    assert answer["ok"] is True, answer["error"]
    assert answer["plan"] and answer["legs"] == []
