"""Domain errors: one class per failure mode; adapters translate library exceptions into these."""

from __future__ import annotations


class TraderError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(TraderError):
    """The configuration is invalid; the message names the field, the value and what is allowed."""


class SettingsError(ConfigError):
    """An environment setting is missing or invalid."""


class LiveTradingRefused(ConfigError):
    """LIVE mode was asked for without every explicit confirmation it needs."""


class LockHeld(TraderError):
    """Another cycle holds the lock."""


class LockLost(TraderError):
    """Our lease expired or was taken over; we may no longer write."""


class StateError(TraderError):
    """Base of state-store failures."""


class StateCorrupt(StateError):
    """The stored state cannot be read; it is left untouched for a human to inspect."""


class StateConflict(StateError):
    """The stored state changed since we read it (version or fencing token mismatch)."""


class StateInvalid(StateError):
    """A state that breaks its invariants was not saved; the stored state is as it was."""


class ExchangeError(TraderError):
    """Base of exchange failures."""


class OrderRejected(ExchangeError):
    """The exchange said no to an order; the outcome is known (nothing was placed)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class OutcomeUnknown(ExchangeError):
    """A create was sent and we do not know whether it was accepted (timeout, 5xx, 429)."""


class AuditError(TraderError):
    """An audit sink failed to store a record."""


class AuditReadError(AuditError):
    """An audit log cannot be read (missing, unreadable, not JSON lines); the message names
    the file or object and the line."""


class InvalidLiquidationRequest(TraderError):
    """A liquidation request is malformed; the one-line message names the field at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class LiquidationRefused(TraderError):
    """A valid liquidation request this deployment will not execute (DRY_RUN never sends)."""
