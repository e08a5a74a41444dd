"""The real liquidation handler, LIVE, on the fake Coinbase through the real SDK, with the
key in (moto's) Secrets Manager and the lock, state and audit on moto.

The account (tests/support/liquidation_rig.py) holds 100 USDC, 50 USD, 0.01 BTC, 2 SOL,
1000 XYZ (listed only as XYZ-BTC), 0.5 ETH and 3 DOGE (0.45 USDC: dust). The request keeps
nothing, so by hand: BTC 596.40 + SOL 298.20 + USD 50 + XYZ via BTC 592.8216 + 100 held
+ ETH 0.5 x 3000 less the 0.6 % taker fee (1491.00) = 3128.4216 USDC; DOGE stays as dust.
"""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path

from aws_fixtures import client, moto_aws
from fake_coinbase_env import KEY_NAME, throwaway_key
from liquidation_rig import fake_coinbase_rig

D = Decimal
REPO = Path(__file__).resolve().parents[2]


class Context:
    aws_request_id = "req-liq-live"
    function_name = "LiquidateFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:liquidate"

    def get_remaining_time_in_millis(self) -> int:
        return 280_000


def handler_module():
    path = REPO / "functions/liquidate/app.py"
    spec = importlib.util.spec_from_file_location("liquidate_app_live", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_liquidate_handler_when_live_on_fake_coinbase_then_usdc_but_dust_and_once_only(
    monkeypatch,
) -> None:
    pem, _ = throwaway_key()
    request = json.loads((REPO / "events/liquidate-execute.json").read_text())
    with moto_aws() as aws, fake_coinbase_rig() as (rig, fake):
        client("secretsmanager").create_secret(
            Name="trader/coinbase", SecretString=json.dumps({"name": KEY_NAME, "privateKey": pem})
        )
        for name, value in {
            "STATE_TABLE": aws.table,
            "AUDIT_BUCKET": aws.bucket,
            "EXCHANGE": "coinbase",
            "TRADING_MODE": "LIVE",
            "LIVE_TRADING_CONFIRMED": "yes",
            "COINBASE_SECRET_ID": "trader/coinbase",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "247trader",
            "POWERTOOLS_METRICS_NAMESPACE": "247trader-test",
        }.items():
            monkeypatch.setenv(name, value)
        module = handler_module()
        module.app.clock = rig.clock
        module.app.clients = {"dynamodb": aws.dynamodb, "s3": aws.s3}

        answer = module.handler(request, Context())
        creates = fake.count("POST", "/orders")
        again = module.handler(request, Context())

        assert answer["ok"] is True, answer["error"]
        held = {c: a for c, a in fake.exchange.balance_totals().items() if a != 0}
        assert held == {"USDC": D("3128.4216"), "DOGE": D(3)}
        assert creates == 5  # BTC, SOL, ETH, XYZ -> BTC, then that BTC
        assert again["ok"] is True
        assert fake.count("POST", "/orders") == creates  # the same request sells nothing twice
        audits = aws.s3.list_objects_v2(Bucket=aws.bucket)["Contents"]
        assert len(audits) == 2  # one record per invocation, the second beside the first
