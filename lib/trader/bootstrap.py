"""The composition root: settings and config in, wired adapters out. Nothing is built at import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trader.config import Config, load_config
from trader.cycle import CycleDeps
from trader.errors import ConfigError
from trader.ports import Clock, Exchange
from trader.settings import Settings

AUDIT_FILE_NAME = "247trader-v2_audit.jsonl"


@dataclass(frozen=True, slots=True)
class LocalPaths:
    """Where a local run keeps its files (DESIGN.md: data/.state.json, logs/…_audit.jsonl)."""

    data_dir: Path = Path("data")
    logs_dir: Path = Path("logs")

    @property
    def state_file(self) -> Path:
        return self.data_dir / ".state.json"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / ".cycle.lock"

    @property
    def audit_file(self) -> Path:
        return self.logs_dir / AUDIT_FILE_NAME


def config_for(settings: Settings) -> Config:
    return load_config(settings.config_path)


def build_exchange(settings: Settings, config: Config, clock: Clock) -> Exchange:
    if settings.exchange == "simulated":
        from trader.adapters.simulated import build_simulated_exchange

        if config.simulator is None:
            raise ConfigError("EXCHANGE=simulated needs a `simulator:` section in the config")
        return build_simulated_exchange(config, clock, settings.sim_candles_dir)
    raise ConfigError("EXCHANGE=coinbase is not wired into the cycle yet; use EXCHANGE=simulated")


def local_deps(settings: Settings, config: Config, clock: Clock, paths: LocalPaths) -> CycleDeps:
    """Files instead of AWS: the state file, a file lock and the JSONL audit log."""
    from trader.adapters.files import FileCycleLock, FileStateStore, JsonlAuditSink

    return CycleDeps(
        config=config,
        exchange=build_exchange(settings, config, clock),
        store=FileStateStore(paths.state_file),
        lock=FileCycleLock(paths.lock_file),
        audit=JsonlAuditSink(paths.audit_file),
        clock=clock,
    )
