"""A local AWS stack: `python -m local_stack` (or `make local-stack`).

Starts a moto server on 127.0.0.1 (a free port), creates the state table and the audit
bucket from template.yaml's own definitions, runs the cycle handler in-process on the
scheduled events in events/ and on a few later scheduled events (PAPER mode, simulated
exchange), then the liquidation handler on events/liquidate-dry-run.json (a plan of the
paper account, nothing sold), prints what was written to DynamoDB and S3, and stops the
server.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aws_resources import create_bucket, create_table

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
EVENT_FILES = ("scheduled.json", "scheduled-redelivery.json", "scheduled-later.json")
LIQUIDATION_FILE = "liquidate-dry-run.json"
TABLE = "247trader-local-state"
BUCKET = "247trader-local-audit"
CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "local",
    "aws_secret_access_key": "local",  # moto accepts anything; never real keys
}


class LambdaContext:
    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id
        self.function_name = "CycleFunction-local"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:local"

    def get_remaining_time_in_millis(self) -> int:
        return 100_000


def events(extra_cycles: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """The sample events, then `extra_cycles` scheduled events 5 minutes apart after them."""
    last: dict[str, Any] = {}
    for name in EVENT_FILES:
        last = json.loads((EVENTS / name).read_text(encoding="utf-8"))
        yield name, last
    start = datetime.fromisoformat(last["time"].replace("Z", "+00:00"))
    for n in range(1, extra_cycles + 1):
        at = start + timedelta(minutes=5 * n)
        yield (
            f"scheduled {at:%H:%M}",
            {**last, "id": f"local-{n}", "time": f"{at:%Y-%m-%dT%H:%M:%SZ}"},
        )


def run(extra_cycles: int, out: Any = sys.stdout) -> None:
    import boto3
    from aws_lambda_powertools import Logger
    from moto.server import ThreadedMotoServer

    from trader.adapters.clock import SteppingClock
    from trader.entrypoints.lambda_cycle import CycleApp
    from trader.entrypoints.lambda_liquidate import LiquidateApp

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        print(f"moto server on {endpoint}", file=out)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, **CREDENTIALS)
        s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)
        create_table(dynamodb, TABLE)
        create_bucket(s3, BUCKET)
        print(f"created table {TABLE} and bucket {BUCKET} from template.yaml", file=out)
        first = json.loads((EVENTS / EVENT_FILES[0]).read_text(encoding="utf-8"))
        scheduled = datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
        clock = SteppingClock(scheduled + timedelta(seconds=3), 300)
        wiring: dict[str, Any] = {
            "logger": Logger(service="247trader-local", level="WARNING"),  # audit lines: see S3
            "environ": {
                "STATE_TABLE": TABLE,
                "AUDIT_BUCKET": BUCKET,
                "EXCHANGE": "simulated",
                "TRADING_MODE": "PAPER",
                "LAMBDA_TIMEOUT_SECONDS": "120",  # as template.yaml sets it
            },
            "clock": clock,
            "clients": {"dynamodb": dynamodb, "s3": s3},
        }
        app = CycleApp(**wiring)
        for n, (name, event) in enumerate(events(extra_cycles)):
            at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
            while clock.now() < at:  # the clock of each event's delivery (a redelivery's too)
                clock.advance()
            answer = app.handle(event, LambdaContext(f"local-request-{n}"))
            print(f"{name:28s} -> {json.dumps(answer)}", file=out)
        request = json.loads((EVENTS / LIQUIDATION_FILE).read_text(encoding="utf-8"))
        planned = LiquidateApp(**wiring).handle(request, LambdaContext("local-liquidation"))
        print(f"{LIQUIDATION_FILE:28s} -> {json.dumps(brief(planned))}", file=out)
        show(dynamodb, s3, out)
    finally:
        server.stop()
        print("moto server stopped", file=out)


def brief(answer: dict[str, Any]) -> dict[str, Any]:
    """A liquidation answer on one line: what it would sell, and what it would leave."""
    routed = [p["currency"] for p in answer["plan"] if p["route"]]
    left = [f"{r['currency']} ({r['reason']})" for r in answer["remaining"]]
    return {"ok": answer["ok"], "sells": routed, "remaining": left, "error": answer["error"]}


def show(dynamodb: Any, s3: Any, out: Any) -> None:
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    items = dynamodb.scan(TableName=TABLE)["Items"]
    print(f"\nDynamoDB {TABLE}: {len(items)} items", file=out)
    for raw in sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])):
        item = {k: plain.deserialize(v) for k, v in raw.items()}
        shown = {k: v for k, v in item.items() if k not in ("pk", "sk", "body", "data")}
        print(f"  {item['pk']:20s} {item['sk']:26s} {json.dumps(shown, default=str)}", file=out)
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    print(f"\nS3 {BUCKET}: {len(listing)} objects", file=out)
    for obj in listing:
        body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        record = json.loads(body)
        if record.get("record_type") == "liquidation":
            reason = f"liquidation: {len(record['legs'])} legs, error {record['error']}"
        else:
            reason = record.get("no_trade_reason") or f"{len(record['orders']['placed'])} orders"
        print(f"  {obj['Key']}  {obj['Size']} bytes  {reason}", file=out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=6, help="scheduled cycles after events/")
    args = parser.parse_args(argv)
    run(args.cycles)


if __name__ == "__main__":
    main()
