"""USD <-> USDC through Coinbase's Convert API: quote, commit, poll (reference §7).

There is no USDC-USD order book; a conversion is a quote that must be committed while it is
fresh, then settles on its own. Convert takes no client id, so a conversion is remembered by
ours for the life of the process, and the cycle writes it ahead in the state: a retried
cycle never converts twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from trader.adapters.coinbase.errors import MalformedResponse
from trader.adapters.coinbase.transport import Transport
from trader.domain.models import Conversion, ConversionStatus, PlannedConversion

POLLS = 5  # a USD <-> USDC conversion completes in about a second
POLL_INTERVAL_S = 0.5
_STATUS = {
    "TRADE_STATUS_COMPLETED": ConversionStatus.COMPLETED,
    "TRADE_STATUS_CANCELED": ConversionStatus.FAILED,
}


class Converter:
    """Runs conversions for the Coinbase adapter (the account ids come from its accounts)."""

    def __init__(
        self,
        io: Transport,
        client: Any,
        account_ids: Callable[[], Mapping[str, str]],
        sleep: Callable[[float], None],
    ) -> None:
        self._io, self._client, self._account_ids, self._sleep = io, client, account_ids, sleep
        self._done: dict[str, Conversion] = {}
        self._lock = threading.Lock()

    def convert(self, conversion: PlannedConversion) -> Conversion:
        with self._lock:
            known = self._done.get(conversion.client_id)
        if known is not None and known.status is not ConversionStatus.STARTED:
            return known
        ids = self._account_ids()
        source = ids.get(conversion.from_currency, conversion.from_currency)
        target = ids.get(conversion.to_currency, conversion.to_currency)
        trade_id = known.trade_id if known is not None else None
        if trade_id is None:
            trade_id = self._quote_and_commit(conversion, source, target)
            if trade_id is None:
                return self._remember(conversion, None, ConversionStatus.FAILED, "quote refused")
        status = self._poll(trade_id, source, target)
        return self._remember(conversion, trade_id, status, None)

    def _quote_and_commit(
        self, conversion: PlannedConversion, source: str, target: str
    ) -> str | None:
        amount = format(conversion.amount, "f")
        quote = self._io.once(
            "create_convert_quote",
            self._client.create_convert_quote,
            from_account=source,
            to_account=target,
            amount=amount,
        )
        trade = _trade(quote, "create_convert_quote")
        if trade.get("status") != "TRADE_STATUS_CREATED":
            return None
        trade_id = str(trade["id"])
        self._io.once(
            "commit_convert_trade",
            self._client.commit_convert_trade,
            trade_id,
            from_account=source,
            to_account=target,
        )
        return trade_id

    def _poll(self, trade_id: str, source: str, target: str) -> ConversionStatus:
        for attempt in range(POLLS):
            body = self._io.read(
                "get_convert_trade",
                self._client.get_convert_trade,
                trade_id,
                from_account=source,
                to_account=target,
            )
            status = _STATUS.get(str(_trade(body, "get_convert_trade").get("status")))
            if status is not None:
                return status
            if attempt + 1 < POLLS:
                self._sleep(POLL_INTERVAL_S)
        return ConversionStatus.STARTED

    def _remember(
        self,
        conversion: PlannedConversion,
        trade_id: str | None,
        status: ConversionStatus,
        detail: str | None,
    ) -> Conversion:
        result = Conversion(conversion.client_id, trade_id, status, conversion.amount, detail)
        with self._lock:
            self._done[conversion.client_id] = result
        return result


def _trade(body: Mapping[str, Any], op: str) -> Mapping[str, Any]:
    trade = body.get("trade")
    if not isinstance(trade, Mapping) or not trade.get("id"):
        raise MalformedResponse(f"{op}: no 'trade' with an id")
    return trade
