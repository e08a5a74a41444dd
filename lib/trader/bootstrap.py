"""The composition root: settings and config in, wired adapters out, for local runs (files)
and for Lambda (DynamoDB, S3, CloudWatch) alike. Nothing is built at import; boto3 clients
are built on first use, once per process, by `AwsClients`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trader.domain.config import Config, load_config, regime_bars_to_fetch
from trader.domain.errors import ConfigError, LiveTradingRefused, SettingsError
from trader.domain.models import Mode
from trader.pipeline.decision import CONFIGURED_RULES, Rules
from trader.ports import (
    AuditSink,
    AuditSource,
    Clock,
    Exchange,
    MarketData,
    PaperAccounts,
    StateStore,
)
from trader.service.cycle import CycleDeps
from trader.settings import Settings

if TYPE_CHECKING:
    from trader.adapters.coinbase.candle_store import BlobStore, PersistentCandleCache
    from trader.adapters.coinbase.candles import CandleCache
    from trader.adapters.coinbase.credentials import CoinbaseCredentials, SecretProvider
    from trader.adapters.sim.csv_market import CsvMarket

AUDIT_FILE_NAME = "247trader-v2_audit.jsonl"
log = logging.getLogger("trader.bootstrap")


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

    @property
    def candle_cache_file(self) -> Path:
        return self.data_dir / ".candles.json.gz"


def config_for(settings: Settings) -> Config:
    return load_config(settings.config_path)


def build_exchange(
    settings: Settings,
    config: Config,
    clock: Clock,
    secrets: SecretProvider | None = None,
    candle_cache: CandleCache | None = None,
) -> Exchange:
    """The market (and, in LIVE, the account): the simulated exchange or Coinbase."""
    if settings.exchange == "simulated":
        from trader.adapters.sim.exchange import build_simulated_exchange

        if config.simulator is None:
            raise ConfigError("EXCHANGE=simulated needs a `simulator:` section in the config")
        return build_simulated_exchange(config, clock, settings.sim_candles_dir)
    return build_coinbase(settings, config, clock, secrets, candle_cache)


def build_coinbase(
    settings: Settings,
    config: Config,
    clock: Clock,
    secrets: SecretProvider | None = None,
    candle_cache: CandleCache | None = None,
) -> Exchange:
    """Coinbase with the key when one is configured, else public market data only.

    LIVE needs a key (and the confirmation Settings already checked); it says so loudly.
    """
    from trader.adapters.coinbase.candles import InMemoryCandleCache
    from trader.adapters.coinbase.exchange import CoinbaseExchange

    # The SDK logs through its own handler; passing lines up too would print them twice.
    logging.getLogger("coinbase.RESTClient").propagate = False
    credentials = _credentials(settings, secrets)
    if settings.trading_mode is Mode.LIVE:
        if credentials is None:
            raise LiveTradingRefused(
                "LIVE needs a Coinbase key: set COINBASE_SECRET_ID (AWS) or --key-file (local)"
            )
        log.warning(
            "LIVE TRADING: real orders on Coinbase, portfolio %r, key %s",
            config.cycle.portfolio_id,
            credentials.key_name.rsplit("/", 1)[-1],
        )
    return CoinbaseExchange(
        credentials=credentials,
        quote_currency=config.cycle.quote_currency,
        candle_cache=candle_cache if candle_cache is not None else InMemoryCandleCache(),
        clock=clock,
        # The cycle's pool plus the adapter's own order-read threads: one connection each.
        max_workers=config.cycle.request_threads + 8,
        preview_orders=config.execution.preview_orders,
    )


def _credentials(settings: Settings, secrets: SecretProvider | None) -> CoinbaseCredentials | None:
    from trader.adapters.coinbase.credentials import (
        CoinbaseCredentials,
        CredentialsError,
        coinbase_credentials_from_secret,
        load_credentials,
    )

    if settings.coinbase_key_file is not None:
        try:
            text = settings.coinbase_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the Coinbase key file {settings.coinbase_key_file} ({exc.strerror})"
            ) from None
        return CoinbaseCredentials(*coinbase_credentials_from_secret(text))
    if settings.coinbase_secret_id:
        try:
            return load_credentials(settings.coinbase_secret_id, provider=secrets)
        except CredentialsError:
            if settings.trading_mode is Mode.LIVE:
                raise
            # A fresh stack's secret is empty until the key is stored: watch public data meanwhile.
            log.warning(
                "Coinbase key unusable; %s runs on public market data", settings.trading_mode
            )
    return None


def secrets_provider(clients: Mapping[str, Any]) -> SecretProvider:
    """Powertools' SecretsProvider (on the given "secretsmanager" client in tests); kept with
    the adapters it built, so its cache lasts between invocations of a warm container."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=clients.get("secretsmanager"))


def key_fingerprint(secrets: SecretProvider, secret_id: str) -> str | None:
    """A digest of the stored Coinbase secret, read through the provider's cache (Powertools:
    at most once every SECRET_MAX_AGE_S); None when it cannot be read. Never the key itself."""
    import hashlib

    from trader.adapters.coinbase.credentials import SECRET_MAX_AGE_S

    try:
        raw = secrets.get(secret_id, max_age=SECRET_MAX_AGE_S)
    except Exception:  # noqa: BLE001 - unreadable now: keep the adapters built with the last key
        return None
    text = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
    return hashlib.sha256(text).hexdigest()


def local_deps(settings: Settings, config: Config, clock: Clock, paths: LocalPaths) -> CycleDeps:
    """Files instead of AWS: the state file, a file lock, the JSONL audit log, the candle cache."""
    from trader.adapters.local.files import FileCycleLock, FileStateStore, JsonlAuditSink

    cache = None
    if settings.exchange == "coinbase":
        from trader.adapters.local.blob import FileBlob

        cache = candle_cache_on(FileBlob(paths.candle_cache_file), config, clock)
    return CycleDeps(
        config=config,
        exchange=build_exchange(settings, config, clock, candle_cache=cache),
        store=FileStateStore(paths.state_file),
        lock=FileCycleLock(paths.lock_file),
        audit=JsonlAuditSink(paths.audit_file),
        clock=clock,
        paper=paper_accounts(config, clock),
        candle_cache=cache,
    )


def csv_market(
    config: Config,
    clock: Clock,
    candles_dir: Path,
    products: Sequence[str] | None = None,
    spread_bps: Decimal = Decimal(5),
) -> CsvMarket:
    """The candle CSVs of `candles_dir` (only `products`, when given) as market data, each
    USD book with its USDC alias (as the replay's MatchingExchange trades them)."""
    from trader.adapters.sim.csv_market import CsvMarket

    granularity = config.cycle.candle_granularity_seconds
    return CsvMarket(candles_dir, clock, granularity, spread_bps, only=products, usdc_aliases=True)


def replay_deps(
    config: Config,
    market: MarketData,
    clock: Clock,
    store: StateStore,
    audit: AuditSink,
    rules: Rules | None = None,
) -> CycleDeps:
    """The cycle over recorded market data: PAPER fills on the paper account (the `paper:`
    section's cash, fees and slippage), an in-memory lock, the snapshot's calls run inline."""
    from trader.adapters.memory import InlineExecutor, InMemoryCycleLock
    from trader.adapters.sim.matching import MatchingExchange
    from trader.domain.models import FeeRates
    from trader.domain.money import HUNDRED

    paper = config.paper
    fees = FeeRates(maker=paper.maker_fee_pct / HUNDRED, taker=paper.taker_fee_pct / HUNDRED)
    exchange = MatchingExchange(market, clock, fees, paper.slippage_bps, balances={})
    return CycleDeps(
        config=config,
        exchange=exchange,
        store=store,
        lock=InMemoryCycleLock(),
        audit=audit,
        clock=clock,
        paper=paper_accounts(config, clock),
        sleep=lambda _seconds: None,
        executor=InlineExecutor(),
        rules=rules or CONFIGURED_RULES,
    )


def audit_source(location: str, clients: AwsClients | None = None) -> AuditSource:
    """The audit records at `location`: `s3://bucket/prefix`, or a JSONL file or folder."""
    if location.startswith("s3://"):
        from trader.adapters.aws.audit_reader import S3AuditReader, parse_s3_url

        bucket, prefix = parse_s3_url(location)
        return S3AuditReader((clients or AwsClients()).s3, bucket, prefix)
    from trader.adapters.local.audit_log import JsonlAuditReader

    return JsonlAuditReader(Path(location))


def candle_cache_on(blob: BlobStore, config: Config, clock: Clock) -> PersistentCandleCache:
    """The candle cache kept in `blob`; the regime's products keep their whole window."""
    from trader.adapters.coinbase.candle_store import KEPT_BARS, PersistentCandleCache

    regime = regime_bars_to_fetch(config.regime, config.cycle.candle_granularity_seconds)
    longer = dict.fromkeys(config.regime.products, max(KEPT_BARS, regime + 2))
    return PersistentCandleCache(blob, clock, kept_longer=longer)


def paper_accounts(config: Config, clock: Clock) -> PaperAccounts:
    from trader.adapters.sim.paper import SimulatedPaperAccounts

    return SimulatedPaperAccounts(config, clock)


@dataclass
class AwsClients:
    """boto3 clients built on first use and kept for the process (a warm Lambda reuses them).

    boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) itself, so a moto server
    can stand in. Tests pass ready clients in `given`.
    """

    given: Mapping[str, Any] = field(default_factory=dict)
    _built: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service in self.given:
            return self.given[service]
        if service not in self._built:
            import boto3

            self._built[service] = boto3.client(service)
        return self._built[service]

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def s3(self) -> Any:
        return self.client("s3")


def aws_deps(
    settings: Settings,
    config: Config,
    clock: Clock,
    clients: AwsClients,
    logger: Any,
    metrics: Any,
    *,
    keep_candles: bool = True,
    secrets: SecretProvider | None = None,
) -> CycleDeps:
    """DynamoDB lock and state, S3 + CloudWatch audit, the candle cache in S3 (one cold start).

    `keep_candles=False` (liquidation: no candles) builds no S3 candle cache, so the function
    needs no access to the bucket's cache/ prefix.
    """
    from trader.adapters.aws.audit import (
        CloudWatchAuditSink,
        FanoutAuditSink,
        S3AuditSink,
        count_failures_in,
    )
    from trader.adapters.aws.blob import S3Blob
    from trader.adapters.aws.dynamo_lock import DynamoCycleLock
    from trader.adapters.aws.dynamo_state import DynamoStateStore

    if not settings.state_table or not settings.audit_bucket:
        raise SettingsError("STATE_TABLE and AUDIT_BUCKET must both be set on AWS")
    sinks = [S3AuditSink(settings.audit_bucket, clients.s3), CloudWatchAuditSink(logger)]
    on_failure = count_failures_in(metrics, logger) if metrics is not None else None
    cache = None
    if keep_candles and settings.exchange == "coinbase":  # resume the last cycle's candles
        key = f"cache/candles-{config.cycle.portfolio_id}.json.gz"
        cache = candle_cache_on(S3Blob(settings.audit_bucket, key, clients.s3), config, clock)
    portfolio = config.cycle.portfolio_id
    return CycleDeps(
        config=config,
        exchange=build_exchange(settings, config, clock, secrets, candle_cache=cache),
        store=DynamoStateStore(settings.state_table, clients.dynamodb, portfolio_id=portfolio),
        lock=DynamoCycleLock(settings.state_table, clients.dynamodb),
        audit=FanoutAuditSink(sinks, on_failure=on_failure),
        clock=clock,
        paper=paper_accounts(config, clock),
        candle_cache=cache,
    )
