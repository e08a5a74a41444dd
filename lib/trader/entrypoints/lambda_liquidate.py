"""Liquidation on AWS Lambda, invoked by hand with a liquidation request (DESIGN.md).

`LiquidateApp` is what functions/liquidate/app.py calls. The request is validated before
anything is built: a bad one is answered `ok: false` with an error naming the field, and
nothing is read, locked or sold. The adapters are built once, on the first valid request of
a cold start, as the cycle's are (without the candle cache: a liquidation reads no candles).
Nothing escapes `handle`; every answer is plain JSON (Decimals as strings).

Metrics: `NeedsOperator` (trader.adapters.aws.metrics) when the answer is not ok, with a
warning naming `liquidation_failed` and the error; the audit record has the legs.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trader.adapters.aws.metrics import count_needs_operator
from trader.domain.errors import InvalidLiquidationRequest
from trader.domain.liquidation import parse_liquidation_request
from trader.entrypoints.lambda_cycle import (
    Built,
    build_on_aws,
    check_lease_covers,
    remaining_time,
    still_current,
)
from trader.ports import Clock
from trader.service.cycle import CycleDeps
from trader.service.liquidation import run_liquidation
from trader.service.liquidation_report import refusal
from trader.settings import Settings

log = logging.getLogger("trader.aws")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # a request id worth repeating back


@dataclass
class LiquidateApp:
    """Holds what a warm Lambda keeps between invocations: settings, config and adapters."""

    logger: Any = None
    metrics: Any = None
    environ: Mapping[str, str] | None = None  # None: os.environ (through Settings)
    clock: Clock | None = None  # None: the system clock
    clients: Mapping[str, Any] = field(default_factory=dict)  # "dynamodb"/"s3" for tests
    sleep: Callable[[float], None] | None = None  # None: time.sleep (tests wait for nothing)
    _built: Built | None = None

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            request = parse_liquidation_request(event)
        except InvalidLiquidationRequest as exc:
            return self._refuse(exc, _request_id_of(event))
        if self.logger is not None:
            self.logger.append_keys(request_id=request.request_id)
        try:
            settings, deps = self._bootstrap()
            check_lease_covers(deps.config, "liquidation", context)
        except Exception as exc:  # noqa: BLE001 (a broken deployment must not raise)
            return self._refuse(exc, request.request_id)
        owner = getattr(context, "aws_request_id", None) or f"local-{request.request_id}"
        answer = run_liquidation(
            deps, request, owner, remaining_time(context), mode=settings.trading_mode
        )
        self._emit(answer)
        return answer

    def _bootstrap(self) -> tuple[Settings, CycleDeps]:
        if not still_current(self._built):
            built = build_on_aws(
                self.environ,
                self.clients,
                self.clock,
                self.logger,
                self.metrics,
                function="liquidation",
            )
            if self.sleep is not None:
                built = dataclasses.replace(
                    built, deps=dataclasses.replace(built.deps, sleep=self.sleep)
                )
            self._built = built
        return self._built.settings, self._built.deps

    def _refuse(self, exc: Exception, request_id: str | None) -> dict[str, Any]:
        error = f"{type(exc).__name__}: {exc}"
        (self.logger or log).error(f"no liquidation: {error}")
        count_needs_operator(self.metrics, "liquidation_failed", error, self.logger)
        return refusal(error, request_id)

    def _emit(self, answer: Mapping[str, Any]) -> None:
        if not answer["ok"]:
            (self.logger or log).error(f"liquidation failed: {answer['error']}")
            count_needs_operator(self.metrics, "liquidation_failed", answer["error"], self.logger)


def _request_id_of(event: Any) -> str | None:
    """The request id of a refused request, when it is one worth repeating back."""
    if not isinstance(event, Mapping):
        return None
    value = event.get("request_id")
    return value if isinstance(value, str) and _SAFE_ID.match(value) else None
