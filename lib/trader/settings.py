"""Typed settings from the environment: the only place in the package that reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trader.domain.errors import LiveTradingRefused, SettingsError
from trader.domain.models import Mode

ENV_NAMES = {
    "state_table": "STATE_TABLE",
    "audit_bucket": "AUDIT_BUCKET",
    "trading_mode": "TRADING_MODE",
    "exchange": "EXCHANGE",
    "sim_candles_dir": "SIM_CANDLES_DIR",
    "coinbase_secret_id": "COINBASE_SECRET_ID",
    "live_trading_confirmed": "LIVE_TRADING_CONFIRMED",
    "config_path": "CONFIG_PATH",
    "lambda_timeout_seconds": "LAMBDA_TIMEOUT_SECONDS",
}


class Settings(BaseModel):
    """Deployment settings (DESIGN.md, 'Environment of both functions')."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_table: str | None = None
    audit_bucket: str | None = None
    trading_mode: Mode = Mode.DRY_RUN
    exchange: Literal["coinbase", "simulated"] = "coinbase"
    sim_candles_dir: Path | None = None
    coinbase_secret_id: str | None = None
    coinbase_key_file: Path | None = None  # local runs only: the CDP key JSON on disk
    live_trading_confirmed: bool = False
    config_path: Path | None = None
    # The function's Timeout (template.yaml sets it beside it): the lock's lease is checked
    # against it at start-up. None outside Lambda.
    lambda_timeout_seconds: Annotated[int, Field(ge=1, le=900)] | None = None

    @field_validator("trading_mode", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("live_trading_confirmed", mode="before")
    @classmethod
    def _yes_only(cls, value: object) -> bool:
        # Only the exact word "yes" confirms; "true", "1", "YES " and the rest do not.
        return value is True or value == "yes"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        raw = {field: env[name] for field, name in ENV_NAMES.items() if env.get(name)}
        try:
            settings = cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_NAMES.get(str(e['loc'][0]), e['loc'][0])}={e.get('input')!r}: {e['msg']}"
                for e in exc.errors()
            )
            raise SettingsError(f"invalid environment: {problems}") from None
        settings.check_live()
        return settings

    def check_live(self) -> None:
        """LIVE needs the mode and a separate explicit confirmation; nothing else switches it on."""
        if self.trading_mode is Mode.LIVE and not self.live_trading_confirmed:
            raise LiveTradingRefused(
                "TRADING_MODE=LIVE refused: LIVE_TRADING_CONFIRMED=yes must be set as well"
                " before real money is traded"
            )
        if self.trading_mode is Mode.LIVE and self.exchange != "coinbase":
            raise LiveTradingRefused("LIVE trading needs EXCHANGE=coinbase")


def config_path_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """CONFIG_PATH alone: the local command honours it as the Lambda does (without --config)."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_NAMES["config_path"])
    return Path(value) if value else None
