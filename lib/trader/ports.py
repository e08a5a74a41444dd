"""The boundaries of the core. Adapters implement these; the cycle only sees these."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from trader.domain.lease import LockLease
from trader.domain.models import (
    AccountFills,
    Balance,
    Candle,
    Conversion,
    FeeRates,
    Order,
    PlannedConversion,
    PlannedOrder,
    Product,
    Quote,
)
from trader.domain.state import PortfolioState


class MarketData(Protocol):
    """Read-only market data."""

    def list_products(self) -> Sequence[Product]:
        """Every spot product with its increments, status flags, price and 24h quote volume."""
        ...

    def get_quotes(self, product_ids: Sequence[str]) -> Mapping[str, Quote]:
        """Best bid/ask for many products in one call."""
        ...

    def get_candles(
        self, product_id: str, granularity_s: int, start: datetime, end: datetime
    ) -> Sequence[Candle]:
        """Closed candles with start in [start, end), ascending; gaps are simply absent."""
        ...


class Exchange(MarketData, Protocol):
    """Market data plus an account: balances, fees and orders."""

    def get_balances(self) -> Mapping[str, Balance]: ...

    def get_fee_rates(self) -> FeeRates: ...

    def place_order(self, order: PlannedOrder) -> Order:
        """Send an order. A repeated client_order_id returns the existing order, never a new one.

        Raises OrderRejected when the exchange said no, OutcomeUnknown when nobody knows.
        """
        ...

    def get_order(self, client_order_id: str, order_id: str | None = None) -> Order | None:
        """The order with this client_order_id and its fills, or None if the exchange has none.

        `order_id`, when the exchange gave one before, lets an adapter read the order directly
        (a fresh process has no memory of it, and lookups by client id may be time-bounded).
        """
        ...

    def cancel_order(self, client_order_id: str) -> Order | None: ...

    def convert(self, conversion: PlannedConversion) -> Conversion:
        """Convert between stablecoins (USD <-> USDC). The same client id never converts twice
        in one process; the cycle writes conversions ahead so a retry does not either."""
        ...

    def get_fills_since(self, cursor: str | None) -> AccountFills:
        """Every fill of the account at or after `cursor`, oldest first, whoever placed it.

        `cursor` is the one an earlier answer gave (a UTC time in ISO form); None starts now,
        with no fills. Fills at the cursor itself come again: callers drop those they know.
        """
        ...


class PaperAccount(Exchange, Protocol):
    """A simulated account (DRY_RUN sizes from it, PAPER trades on it) over real market data."""

    def balance_totals(self) -> dict[str, Decimal]:
        """Every currency's available + hold, as the state keeps it between cycles."""
        ...


class PaperAccounts(Protocol):
    """Opens the paper account a cycle trades on, from the balances kept in the state."""

    def open(self, market: Exchange, state: PortfolioState) -> PaperAccount: ...


class CycleLock(Protocol):
    def acquire(self, owner: str, now: datetime, lease_seconds: int) -> LockLease:
        """Take the lock or raise LockHeld. An expired lease may be taken over."""
        ...

    def release(self, lease: LockLease) -> None:
        """Release only if we still own it; never remove someone else's lock."""
        ...


class StateStore(Protocol):
    def load(self) -> PortfolioState:
        """The stored state, or a fresh one when none exists. Raises StateCorrupt."""
        ...

    def save(self, state: PortfolioState, lease: LockLease | None) -> PortfolioState:
        """Write `state` if the stored version is still `state.version`; return it with version+1.

        Raises StateConflict (and writes nothing) when the version or fencing token moved, and
        StateInvalid (writes nothing) when `state` breaks an invariant its next load checks.
        """
        ...


class AuditSink(Protocol):
    def write(self, record: Mapping[str, Any]) -> None:
        """Store one audit record. Raises AuditError."""
        ...


class AuditSource(Protocol):
    """Audit records written earlier (a JSONL log, S3 objects), read back in time order."""

    @property
    def where(self) -> str:
        """Where the records are, for messages (a path or an s3:// URL)."""
        ...

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first; AuditReadError names the file or object and line of
        anything unreadable."""
        ...

    def records_between(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """The records that started in [since, until), oldest first. An S3 source lists only
        the `dt=`/`hour=` partitions of that range."""
        ...

    def last(
        self, count: int, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The newest `count` records that started in [since, until), oldest first. None:
        no bound (an S3 source looks back at most S3_LOOKBACK before `until` or now)."""
        ...

    def find(self, record_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Every record whose `cycle_id` is `record_id` (a repeated delivery writes a second),
        oldest first. An S3 source reads a cycle id's own hour and the next; a liquidation id
        holds no time, so it is looked for in [since, until)."""
        ...


class PersistentCache(Protocol):
    """A cache that survives the process: loaded once, written back after each cycle."""

    def load(self) -> None: ...

    def flush(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...
