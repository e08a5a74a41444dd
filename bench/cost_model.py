"""`make cost`: the monthly AWS bill of the stack at one cycle per 5 minutes, from measured figures.

    .venv/bin/python bench/cost_model.py [--cycles 12] [--rtt-ms 100]      # ~50 s

Measured here, on the real cycle handler (functions/cycle/app.py) with moto for AWS and the
fake Coinbase through the real SDK, LIVE on a key from (moto's) Secrets Manager:

- per warm cycle: process CPU time, Coinbase requests and sequential round trips, every AWS call
  (botocore event hooks on the clients), the bytes of each DynamoDB item it wrote or read (so
  the on-demand write and read request units), S3 PUTs/GETs and bytes, the bytes it printed
  to CloudWatch Logs (log lines and EMF metrics);
- from template.yaml as deployed with its default parameters (samtranslator, conditions
  resolved): alarms, dashboards, KMS keys, secrets, custom metrics, X-Ray tracing.

Assumed (printed): Lambda bills the configured 512 MB; CPU at 512 MB is 512/1769 of a vCPU, so
the measured CPU (the handler's, and moto's and the fake's, an overestimate) is scaled by
1769/512; each sequential Coinbase round trip costs
--rtt-ms; one cold start an hour with its INIT billed; prices are us-east-1 list prices.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "bench"))

import boto3  # noqa: E402
from aws_fixtures import moto_aws  # noqa: E402
from coinbase_cycle_rig import START  # noqa: E402
from coinbase_roundtrips import critical_path  # noqa: E402
from fake_coinbase_env import KEY_NAME, coinbase_env, throwaway_key  # noqa: E402
from sam_template import deployed  # noqa: E402

CYCLES_PER_MONTH = 30 * 24 * 12  # one every 5 minutes, 8,640
MEMORY_GB = 0.5
VCPU_SCALE = 1769 / 512  # Lambda gives one vCPU at 1,769 MB; CPU-bound time scales
COLD_STARTS_PER_MONTH = 30 * 24  # assume one an hour (containers recycle)
INIT_SECONDS = 1.5  # imports of a cold start, billed since Aug 2025
FAKE_LATENCY_S = 0.02  # so concurrent Coinbase requests overlap and round trips can be counted
AWS_CALL_S = 0.015  # one DynamoDB/S3/Secrets Manager call inside the region
PLATFORM_LOG_BYTES = 350  # START, END and REPORT lines Lambda writes per invocation
REQUEST_OUT_BYTES = 1500  # one Coinbase request out (TLS, headers, JWT)
LOG_STORED_RATIO = 0.15  # CloudWatch Logs stores compressed; 30 days retained
PRICES_AS_OF = "2025 list prices, us-east-1 (not fetched: check the AWS pricing pages)"
PRICE = {
    "lambda_gb_s": 0.0000133334,  # arm64
    "lambda_request": 0.20 / 1e6,
    "ddb_wru": 0.625 / 1e6,  # on-demand, since Nov 2024
    "ddb_rru": 0.125 / 1e6,
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "s3_gb_month": 0.023,
    "logs_ingest_gb": 0.50,
    "logs_store_gb_month": 0.03,
    "metric_month": 0.30,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
    "kms_key_month": 1.00,
    "secret_month": 0.40,
    "secret_call": 0.05 / 10_000,
    "xray_trace": 5.00 / 1e6,
    "data_out_gb": 0.09,
}


@dataclass
class AwsCalls:
    """Every AWS call of a run by service.operation, with DynamoDB request units."""

    calls: Counter = field(default_factory=Counter)
    wru: float = 0.0
    rru: float = 0.0
    audit_bytes: int = 0  # PutObject bodies under audit/ (kept); the rest is the candle cache
    cache_bytes: int = 0

    def reset(self) -> None:
        self.calls.clear()
        self.wru = self.rru = 0.0
        self.audit_bytes = self.cache_bytes = 0

    def hook(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.*.*", self._before)
        client.meta.events.register("after-call.*.*", self._after)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        self.calls[f"{service}.{model.name}"] += 1
        if service == "dynamodb":
            self.wru += write_units(model.name, params)
        if model.name == "PutObject":
            body = params.get("Body", b"")
            size = len(body) if isinstance(body, bytes | str) else 0
            if params["Key"].startswith("audit/"):
                self.audit_bytes += size
            else:
                self.cache_bytes += size

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.service_model.service_name == "dynamodb":
            self.rru += read_units(model.name, parsed)


def item_bytes(value: Any) -> int:
    """DynamoDB's size of a typed attribute value (names + values, roughly as it bills)."""
    if isinstance(value, dict) and len(value) == 1:
        (kind, inner), *_ = value.items()
        if kind in {"S", "B"}:
            return len(inner.encode() if isinstance(inner, str) else inner)
        if kind == "N":
            return len(str(inner)) // 2 + 2
        if kind in {"BOOL", "NULL"}:
            return 1
        if kind == "M":
            return 3 + sum(len(k) + item_bytes(v) + 1 for k, v in inner.items())
        if kind == "L":
            return 3 + sum(item_bytes(v) + 1 for v in inner)
    if isinstance(value, dict):  # a whole item
        return sum(len(k) + item_bytes(v) for k, v in value.items())
    return 0


def write_units(operation: str, params: dict[str, Any]) -> float:
    """On-demand WRUs: 1 per KB written, 2 per KB in a transaction (updates: the new values)."""
    if operation == "PutItem":
        return math.ceil(item_bytes(params["Item"]) / 1024)
    if operation in {"UpdateItem", "DeleteItem"}:
        values = params.get("ExpressionAttributeValues", {})
        size = item_bytes(params["Key"]) + sum(item_bytes(v) for v in values.values())
        return math.ceil(max(size, 1) / 1024)
    if operation == "TransactWriteItems":
        units = 0
        for entry in params["TransactItems"]:
            ((_kind, body),) = entry.items()
            size = item_bytes(body.get("Item") or body.get("Key", {}))
            size += sum(item_bytes(v) for v in body.get("ExpressionAttributeValues", {}).values())
            units += 2 * math.ceil(max(size, 1) / 1024)
        return units
    return 0


def read_units(operation: str, parsed: dict[str, Any]) -> float:
    """On-demand RRUs: 1 per 4 KB strongly consistent (as the store reads), summed per call."""
    if operation == "GetItem":
        return math.ceil(max(item_bytes(parsed.get("Item", {})), 1) / 4096)
    if operation == "Query":
        size = sum(item_bytes(i) for i in parsed.get("Items", []))
        return math.ceil(max(size, 1) / 4096)
    return 0


@dataclass
class Measured:
    """Per warm cycle (the first, cold one builds the adapters: the INIT assumption covers it)."""

    cycles: int
    cpu_s: list[float]  # process CPU of the handler, moto and the fake together
    coinbase_requests: list[int]
    round_trips: list[int]
    log_bytes: list[int]
    orders: int
    aws: AwsCalls

    def per_cycle(self, key: str) -> float:
        return self.aws.calls[key] / self.cycles


class Context:
    aws_request_id = "cost-model"
    function_name = "CycleFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cycle"

    def get_remaining_time_in_millis(self) -> int:
        return 100_000


def measure(cycles: int) -> Measured:
    """`cycles` warm LIVE cycles, 5 minutes apart, through the real cycle handler on moto."""
    pem, _ = throwaway_key()
    recorded = AwsCalls()
    with moto_aws() as aws, coinbase_env(start=START, latency_s=FAKE_LATENCY_S) as env:
        secret = boto3.client("secretsmanager", region_name="us-east-1")
        secret.create_secret(
            Name="trader/coinbase", SecretString=json.dumps({"name": KEY_NAME, "privateKey": pem})
        )
        for name, value in handler_environment(aws.table, aws.bucket).items():
            os.environ[name] = value
        for client in (aws.dynamodb, aws.s3):
            recorded.hook(client)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            module = load_handler()
            restore = log_to(out, os.environ["POWERTOOLS_SERVICE_NAME"])
            module.app.clock = env.clock
            module.app.clients = {"dynamodb": aws.dynamodb, "s3": aws.s3}
            run_cycle(module, env, out)  # cold: bootstrap, key, clients (the INIT assumption)
            recorded.reset()
            rows = [run_cycle(module, env, out) for _ in range(cycles)]
            restore()
        cpu, requests, trips, logs = (list(column) for column in zip(*rows, strict=True))
        return Measured(cycles, cpu, requests, trips, logs, env.fake.orders_created(), recorded)


def log_to(stream: io.StringIO, service: str) -> Callable[[], None]:
    """Point the service's Powertools log handler at `stream` (it keeps the stdout it first
    found, maybe closed by now); returns what puts the old streams back."""
    handlers = [h for h in logging.getLogger(service).handlers if hasattr(h, "stream")]
    old = [h.stream for h in handlers]
    for handler in handlers:
        handler.stream = stream

    def restore() -> None:
        for handler, previous in zip(handlers, old, strict=True):
            handler.stream = previous

    return restore


def run_cycle(module: Any, env: Any, out: io.StringIO) -> tuple[float, int, int, int]:
    """(CPU seconds, Coinbase requests, sequential round trips, bytes printed) of one cycle."""
    event = json.loads((ROOT / "events" / "scheduled.json").read_text())
    env.clock.advance()
    env.fake.requests.clear()
    at = env.clock.now() - timedelta(seconds=30)
    began, before = time.process_time(), len(out.getvalue())
    answer = module.handler({**event, "time": f"{at:%Y-%m-%dT%H:%M:%SZ}"}, Context())
    cpu = time.process_time() - began
    if not answer.get("ok") or str(answer.get("no_trade_reason")).startswith("exception"):
        raise SystemExit(f"cycle failed: {answer}")
    printed = len(out.getvalue()[before:].encode())
    return cpu, len(env.fake.requests), critical_path(env.fake.requests), printed


def handler_environment(table: str, bucket: str) -> dict[str, str]:
    return {
        "STATE_TABLE": table,
        "AUDIT_BUCKET": bucket,
        "EXCHANGE": "coinbase",
        "TRADING_MODE": "LIVE",
        "LIVE_TRADING_CONFIRMED": "yes",
        "COINBASE_SECRET_ID": "trader/coinbase",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "247trader",
        "POWERTOOLS_METRICS_NAMESPACE": "247trader",
    }


def load_handler() -> Any:
    spec = importlib.util.spec_from_file_location("cost_cycle_app", ROOT / "functions/cycle/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values)


@dataclass(frozen=True)
class Line:
    item: str
    quantity: str
    dollars: float


def bill(m: Measured, rtt_s: float) -> tuple[list[Line], dict[str, Any]]:
    """Monthly lines at one cycle per 5 minutes, and the figures they rest on."""
    resources = Counter(r["Type"] for r in deployed({}).values())
    n = CYCLES_PER_MONTH
    aws_calls = sum(m.aws.calls.values())
    duration = (
        mean(m.cpu_s) * VCPU_SCALE + mean(m.round_trips) * rtt_s + aws_calls / m.cycles * AWS_CALL_S
    )
    gb_s = (n * duration + COLD_STARTS_PER_MONTH * INIT_SECONDS) * MEMORY_GB
    log_bytes = mean(m.log_bytes) + PLATFORM_LOG_BYTES
    puts, gets = m.per_cycle("s3.PutObject"), m.per_cycle("s3.GetObject")
    audit_bytes = m.aws.audit_bytes / m.cycles
    metrics = 4  # trader.adapters.aws.metrics; only outcome=ok gets data every hour
    figures = {
        "duration_s": duration,
        "wru": m.aws.wru / m.cycles,
        "rru": m.aws.rru / m.cycles,
        "log_bytes": log_bytes,
        "s3_bytes": audit_bytes,
        "cache_bytes": m.aws.cache_bytes / m.cycles,
        "puts": puts,
        "gets": gets,
    }
    lines = [
        Line("Lambda compute", f"{gb_s:,.0f} GB-s", gb_s * PRICE["lambda_gb_s"]),
        Line("Lambda requests", f"{n:,}", n * PRICE["lambda_request"]),
        Line(
            "DynamoDB writes",
            f"{n * figures['wru']:,.0f} WRU",
            n * figures["wru"] * PRICE["ddb_wru"],
        ),
        Line(
            "DynamoDB reads",
            f"{n * figures['rru']:,.0f} RRU",
            n * figures["rru"] * PRICE["ddb_rru"],
        ),
        Line("S3 PUT", f"{n * puts:,.0f}", n * puts * PRICE["s3_put"]),
        Line("S3 GET", f"{n * gets:,.0f}", n * gets * PRICE["s3_get"]),
        Line(
            "S3 storage (after 12 months)",
            f"{12 * n * audit_bytes / 1e9:.2f} GB",
            12 * n * audit_bytes / 1e9 * PRICE["s3_gb_month"],
        ),
        Line(
            "S3 candle cache versions (kept 1 day)",
            f"{288 * figures['cache_bytes'] / 1e6:.1f} MB",
            288 * figures["cache_bytes"] / 1e9 * PRICE["s3_gb_month"],
        ),
        Line(
            "CloudWatch Logs ingestion",
            f"{n * log_bytes / 1e9:.3f} GB",
            n * log_bytes / 1e9 * PRICE["logs_ingest_gb"],
        ),
        Line(
            "CloudWatch Logs storage",
            f"{n * log_bytes * LOG_STORED_RATIO / 1e9:.3f} GB",
            n * log_bytes * LOG_STORED_RATIO / 1e9 * PRICE["logs_store_gb_month"],
        ),
        Line("Custom metrics (1 of 4 all month)", f"{metrics} defined", PRICE["metric_month"]),
        Line(
            "Alarms",
            f"{resources['AWS::CloudWatch::Alarm']}",
            resources["AWS::CloudWatch::Alarm"] * PRICE["alarm_month"],
        ),
        Line(
            "Dashboard (CreateDashboard=no)",
            f"{resources['AWS::CloudWatch::Dashboard']}",
            resources["AWS::CloudWatch::Dashboard"] * PRICE["dashboard_month"],
        ),
        Line(
            "KMS key (EncryptAlerts=no)",
            f"{resources['AWS::KMS::Key']}",
            resources["AWS::KMS::Key"] * PRICE["kms_key_month"],
        ),
        Line(
            "Secrets Manager secret",
            f"{resources['AWS::SecretsManager::Secret']}",
            resources["AWS::SecretsManager::Secret"] * PRICE["secret_month"],
        ),
        Line(
            "Secrets Manager calls (one a cold start)",
            f"{COLD_STARTS_PER_MONTH:,}",
            COLD_STARTS_PER_MONTH * PRICE["secret_call"],
        ),
        Line("X-Ray traces (Tracing: Active)", f"{n:,}", n * PRICE["xray_trace"]),
        Line(
            "Data out to Coinbase",
            f"{n * mean(m.coinbase_requests) * REQUEST_OUT_BYTES / 1e9:.2f} GB",
            n * mean(m.coinbase_requests) * REQUEST_OUT_BYTES / 1e9 * PRICE["data_out_gb"],
        ),
    ]
    return lines, figures


def report(m: Measured, rtt_ms: int, out: Callable[[str], None] = print) -> float:
    lines, f = bill(m, rtt_ms / 1000)
    total = sum(line.dollars for line in lines)
    head = f"Measured over {m.cycles} warm LIVE cycles on moto + the fake Coinbase"
    out(f"{head} ({m.orders} orders created, with the cold cycle before them):")
    out(
        f"  CPU {mean(m.cpu_s) * 1000:.0f} ms a cycle (max {max(m.cpu_s) * 1000:.0f} ms), "
        f"{mean(m.coinbase_requests):.1f} Coinbase requests in {mean(m.round_trips):.1f} "
        "sequential round trips, AWS calls per cycle: "
        + ", ".join(f"{k} {v / m.cycles:.2f}" for k, v in sorted(m.aws.calls.items()))
    )
    out(
        f"  DynamoDB {f['wru']:.1f} WRU + {f['rru']:.1f} RRU, S3 {f['puts']:.1f} PUT "
        f"({f['s3_bytes']:,.0f} B audited) + {f['gets']:.1f} GET, {f['log_bytes']:,.0f} B logged "
        f"(incl. {PLATFORM_LOG_BYTES} B of Lambda's own lines)"
    )
    out(
        f"Assumed: {PRICES_AS_OF}; {CYCLES_PER_MONTH:,} cycles a month; billed duration "
        f"{f['duration_s'] * 1000:.0f} ms = CPU x {VCPU_SCALE:.2f} (512 MB is {1 / VCPU_SCALE:.2f}"
        f" vCPU) + {rtt_ms} ms per round trip + {AWS_CALL_S * 1000:.0f} ms per AWS call; "
        f"{COLD_STARTS_PER_MONTH} cold starts of {INIT_SECONDS} s; logs stored at "
        f"{LOG_STORED_RATIO:.0%} of raw; no free tier."
    )
    out("")
    out("| item | per month | $ / month |")
    out("|---|---:|---:|")
    for line in sorted(lines, key=lambda x: -x.dollars):
        out(f"| {line.item} | {line.quantity} | {line.dollars:.3f} |")
    out(f"| **total** | | **{total:.2f}** |")
    top = sorted(lines, key=lambda x: -x.dollars)[:3]
    out("")
    out("Dominated by: " + ", ".join(f"{x.item} ({x.dollars / total:.0%})" for x in top) + ".")
    out(
        "Worst case for metrics: all 4 getting data every hour adds "
        f"${3 * PRICE['metric_month']:.2f}; CreateDashboard=yes adds $3.00 beyond an account's "
        "first 3 dashboards; EncryptAlerts=yes adds $1.00."
    )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--rtt-ms", type=int, default=100)
    args = parser.parse_args()
    total = report(measure(args.cycles), args.rtt_ms)
    if total >= 2:
        raise SystemExit(f"over the $2 target: ${total:.2f}")


if __name__ == "__main__":
    main()
