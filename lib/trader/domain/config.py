"""Typed configuration from YAML; an invalid file fails before any cycle, naming the field."""

from __future__ import annotations

import reprlib
from collections.abc import Hashable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trader.domain.errors import ConfigError
from trader.domain.lease import LEASE_MARGIN_SECONDS
from trader.domain.memo import PerObject

# Package data: inside the package, so a plain `sam build` layer (and a wheel) carries it.
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "default.yaml"

MAX_CONFIG_BYTES = 1_000_000
MAX_ERRORS_SHOWN = 20
# Above any account, and far enough below Decimal's 28 digits that amounts quantized to a
# coin's increment stay exact (10**30 of cash made every PAPER cycle `exception:...`).
MAX_MONEY = Decimal(10**15)
Pct = Annotated[Decimal, Field(ge=0, le=100)]
PositivePct = Annotated[Decimal, Field(gt=0, le=100)]
Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY)]
Cash = Annotated[Decimal, Field(gt=0, le=MAX_MONEY)]
Bps = Annotated[Decimal, Field(ge=0, le=10_000)]
Bars = Annotated[int, Field(ge=1, le=350)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventWindow(_Model):
    """How far a scheduled event's time may lie from the clock (Lambda): outside, refused."""

    late_seconds: Annotated[int, Field(ge=0, le=86_400)] | None = None  # None: one interval
    early_seconds: Annotated[int, Field(ge=0, le=300)] = 5


class CycleConfig(_Model):
    interval_seconds: Annotated[int, Field(ge=60, le=3600)] = 300
    portfolio_id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")] = "default"
    quote_currency: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,10}$")] = "USD"
    candle_granularity_seconds: Literal[60, 300, 900, 1800, 3600, 7200, 14400, 21600, 86400] = 900
    lookback_bars: Bars = 200
    # Upper bounds keep every duration a datetime can hold: beyond them, every cycle would
    # end `exception:OverflowError`, its exits included.
    max_snapshot_age_seconds: Annotated[int, Field(ge=1, le=86_400)] = 180
    min_remaining_seconds_to_trade: Annotated[int, Field(ge=0, le=900)] = 20  # Lambda: 900 max
    # Outlives the Lambda timeout (120 s) and ends before the next cycle: bootstrap checks
    # both against LAMBDA_TIMEOUT_SECONDS; here, that it ends before the next cycle.
    lock_lease_seconds: Annotated[int, Field(ge=30, le=86_400)] = 180
    request_threads: Annotated[int, Field(ge=1, le=64)] = 16  # the snapshot's parallel requests
    event_window: EventWindow = EventWindow()
    # Quote currencies counted as one pool of cash (sizing, equity, funding); None: USD and
    # USDC when the quote currency is USD (Coinbase's books for the two are one), else alone.
    quote_pool: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _lease_ends_before_the_next_cycle(self) -> CycleConfig:
        # A run that died keeps the lock for its whole lease: it must not hold back the next.
        longest = self.interval_seconds - LEASE_MARGIN_SECONDS
        if self.lock_lease_seconds > longest:
            raise ValueError(
                f"lock_lease_seconds {self.lock_lease_seconds} must be at most {longest} "
                f"(interval_seconds {self.interval_seconds} - {LEASE_MARGIN_SECONDS} s): a run "
                "that died would otherwise hold back the next cycle"
            )
        return self

    @model_validator(mode="after")
    def _pool_holds_the_quote(self) -> CycleConfig:
        if self.quote_pool is not None and self.quote_currency not in self.quote_pool:
            raise ValueError(
                f"quote_pool {list(self.quote_pool)} must contain quote_currency "
                f"{self.quote_currency!r}"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_the_margin(self) -> CycleConfig:
        # A send needs this much lease left (service/cycle.py _check_lease): a lease no longer
        # than the margin would end every cycle that trades in LockLost.
        if self.min_remaining_seconds_to_trade >= self.lock_lease_seconds:
            raise ValueError(
                f"min_remaining_seconds_to_trade {self.min_remaining_seconds_to_trade} must be "
                f"below lock_lease_seconds {self.lock_lease_seconds}"
            )
        return self

    @property
    def cash_currencies(self) -> frozenset[str]:
        if self.quote_pool is not None:
            return frozenset(self.quote_pool)
        return frozenset({"USD", "USDC"} if self.quote_currency == "USD" else {self.quote_currency})


class Tier(_Model):
    name: Annotated[str, Field(min_length=1)]
    products: tuple[str, ...] = ()
    match_all: bool = False  # any other product that passes the filters
    position_size_pct: PositivePct  # of equity, at full conviction
    min_volume_24h_quote: Money | None = None  # overrides the global filter for this tier


class Filters(_Model):
    min_volume_24h_quote: Money = Decimal(1_000_000)
    max_spread_bps: Bps = Decimal(50)
    exclude: tuple[str, ...] = ()
    allow_limit_only: bool = True
    allow_post_only: bool = False


class UniverseConfig(_Model):
    tiers: Annotated[tuple[Tier, ...], Field(min_length=1)]
    filters: Filters = Filters()
    max_products: Annotated[int, Field(ge=1)] = 50

    @model_validator(mode="after")
    def _unique_names(self) -> UniverseConfig:
        names = [t.name for t in self.tiers]
        if len(names) != len(set(names)):
            raise ValueError(f"tier names must be unique, got {names}")
        catch_all = [t.name for t in self.tiers if t.match_all]
        if len(catch_all) > 1:
            raise ValueError(f"at most one tier may have match_all, got {catch_all}")
        seen: dict[str, str] = {}
        for tier in self.tiers:
            for product in tier.products:
                if product in seen:
                    raise ValueError(
                        f"product {product} is in two tiers: {seen[product]} and {tier.name}"
                    )
                seen[product] = tier.name
        return self


class VolumeSpike(_Model):
    enabled: bool = False
    lookback_bars: Bars = 20
    min_ratio: Annotated[Decimal, Field(gt=1)] = Decimal(3)
    min_return_pct: Decimal = Decimal("0.2")  # the spike bar must close up at least this much


class Breakout(_Model):
    enabled: bool = True
    lookback_bars: Bars = 192
    min_margin_pct: Pct = Decimal(1)  # close above the prior high by at least this much


class Momentum(_Model):
    enabled: bool = True
    lookback_bars: Bars = 96
    min_return_pct: Annotated[Decimal, Field(gt=0)] = Decimal(5)
    full_strength_return_pct: Annotated[Decimal, Field(gt=0)] = Decimal(12)


class TriggersConfig(_Model):
    # Candles cost one request per product: chart only this many candidates a cycle (the
    # biggest 24h movers), so a cycle's round trips do not grow with the universe.
    max_products_with_candles: Annotated[int, Field(ge=1, le=100)] = 12
    volume_spike: VolumeSpike = VolumeSpike()
    breakout: Breakout = Breakout()
    momentum: Momentum = Momentum()


RegimeName = Literal["trending_up", "trending_down", "choppy", "volatile", "crash", "unknown"]
Hours = Annotated[Decimal, Field(gt=0, le=168)]
MAX_REGIME_BARS = 1000  # bars the regime may need per product (the candle cache keeps 2,000)


class RegimeConfig(_Model):
    """The market's regime, read across `reference_product` and `breadth_products`
    (pipeline/regime.py). Windows are in hours, so one config reads 5- and 15-minute bars
    alike; a threshold that enters a regime is stricter than the one that keeps it
    (hysteresis), and a regime is kept at least `min_dwell_hours` except that a crash
    takes over at once."""

    reference_product: str = "BTC-USD"
    breadth_products: tuple[str, ...] = ()  # read with the reference: the market's breadth
    breadth_pct: Annotated[Decimal, Field(gt=0, le=100)] = Decimal(60)  # share that must agree
    trend_hours: Hours = Decimal(24)
    trend_pct: Annotated[Decimal, Field(gt=0)] = Decimal(4)  # move over trend_hours to enter
    trend_hold_pct: Annotated[Decimal, Field(ge=0)] = Decimal(1)  # ... and to stay in it
    volatility_hours: Hours = Decimal(6)
    volatile_pct: Annotated[Decimal, Field(gt=0)] = Decimal("1.2")  # hourly stdev to enter
    volatile_hold_pct: Annotated[Decimal, Field(gt=0)] = Decimal("0.9")  # ... and to stay
    crash_hours: Hours = Decimal(12)
    crash_pct: Annotated[Decimal, Field(gt=0, lt=100)] = Decimal("8.5")  # fall from the high
    crash_sigmas: Annotated[Decimal, Field(ge=0)] = Decimal("3.5")  # ... in calm-time stdevs
    crash_hold_pct: Annotated[Decimal, Field(ge=0, lt=100)] = Decimal(5)  # stays crash above
    min_dwell_hours: Annotated[Decimal, Field(ge=0, le=168)] = Decimal(16)
    crash_min_dwell_hours: Annotated[Decimal, Field(ge=0, le=168)] = Decimal(2)

    @model_validator(mode="after")
    def _holds_are_looser(self) -> RegimeConfig:
        for enter, hold in (
            ("trend_pct", "trend_hold_pct"),
            ("volatile_pct", "volatile_hold_pct"),
            ("crash_pct", "crash_hold_pct"),
        ):
            if getattr(self, hold) > getattr(self, enter):
                raise ValueError(
                    f"{hold} {getattr(self, hold)} is above {enter} {getattr(self, enter)}: "
                    "a regime would be left on the very reading that entered it"
                )
        return self

    @property
    def products(self) -> tuple[str, ...]:
        """The products the regime reads: the reference first, each once."""
        return tuple(dict.fromkeys((self.reference_product, *self.breadth_products)))


# As lib/trader/default.yaml (the tuned defaults enter only in an uptrend: bench/README.md);
# a config that names some regimes keeps these for the others.
DEFAULT_REGIME_MULTIPLIERS: dict[str, Decimal] = {
    "trending_up": Decimal(1),
    "choppy": Decimal(0),
    "volatile": Decimal(0),
    "trending_down": Decimal(0),
    "crash": Decimal(0),
    "unknown": Decimal(0),
}


# By default no new entry in a falling market: naming every tier here lets them in again.
DEFAULT_REGIME_TIERS: dict[str, tuple[str, ...]] = {"trending_down": (), "crash": ()}


class RulesConfig(_Model):
    min_signals: Annotated[int, Field(ge=1)] = 1
    max_new_positions_per_cycle: Annotated[int, Field(ge=0)] = 2
    min_conviction_scale: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.5")
    regime_size_multiplier: dict[RegimeName, Annotated[Decimal, Field(ge=0, le=2)]] = Field(
        default_factory=lambda: dict(DEFAULT_REGIME_MULTIPLIERS)
    )

    # The tiers a regime lets new entries into; a regime not named lets every tier in, and an
    # empty list blocks new entries (exits still run). A partial mapping keeps the defaults.
    regime_tiers: dict[RegimeName, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_REGIME_TIERS)
    )

    @field_validator("regime_size_multiplier")
    @classmethod
    def _merge_defaults(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        # A partial mapping overrides only the regimes it names; a crash never silently sizes at 1.
        return {**DEFAULT_REGIME_MULTIPLIERS, **value}

    @field_validator("regime_tiers")
    @classmethod
    def _merge_default_tiers(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return {**DEFAULT_REGIME_TIERS, **value}


class RiskConfig(_Model):
    max_trades_per_day: Annotated[int, Field(ge=0)] = 30
    max_trades_per_hour: Annotated[int, Field(ge=0)] = 6
    max_total_exposure_pct: Pct = Decimal(60)
    max_exposure_per_asset_pct: Pct = Decimal(15)
    daily_loss_limit_pct: PositivePct = Decimal(3)
    daily_loss_includes_unrealized: bool = False  # count the open positions' net loss too
    # (peak - equity) / peak at or above this moves trading to REDUCING until the operator
    # releases it; None disables the protection (the peak is still tracked).
    max_drawdown_pct: PositivePct | None = Decimal(15)
    cooldown_minutes_after_loss: Annotated[int, Field(ge=0, le=525_600)] = 60  # a year at most
    cooldown_minutes_after_exit: Annotated[int, Field(ge=0, le=525_600)] = 720  # any exit
    min_notional_quote: Money = Decimal(10)

    @model_validator(mode="after")
    def _asset_within_total(self) -> RiskConfig:
        if self.max_exposure_per_asset_pct > self.max_total_exposure_pct:
            raise ValueError(
                f"max_exposure_per_asset_pct {self.max_exposure_per_asset_pct} is above "
                f"max_total_exposure_pct {self.max_total_exposure_pct}"
            )
        return self


class ExecutionConfig(_Model):
    order_type: Literal["market", "limit"] = "market"
    post_only: bool = False
    limit_offset_bps: Bps = Decimal(5)  # limit orders sit this far inside the touch
    max_slippage_bps: Bps = Decimal(30)
    impact_coefficient: Annotated[Decimal, Field(ge=0)] = Decimal(100)  # bps per 1% of 24h volume
    max_order_pct_of_volume: PositivePct = Decimal(1)
    confirm_attempts: Annotated[int, Field(ge=0, le=10)] = 3  # LIVE: polls for fills after placing
    confirm_interval_seconds: Annotated[Decimal, Field(ge=0, le=10)] = Decimal(1)
    # then cancel and re-plan; 30 days at most
    cancel_resting_after_seconds: Annotated[int, Field(ge=60, le=2_592_000)] = 600
    # Coinbase: preview each order first; a doomed one is refused without a create. Costs one
    # more sequential round trip in cycles that trade, hence off by default.
    preview_orders: bool = False
    # Entries as post-only limit orders (maker fee) whatever order_type says; exits keep
    # order_type, so a stop loss still takes liquidity.
    post_only_entries: bool = False
    # An entry limit order cancelled unfilled after cancel_resting_after_seconds: "none" gives
    # that product up for the cycle; "market" buys it at market in the same cycle when the
    # rules still propose it (signals, regime, risk and the edge check, at taker cost, apply).
    unfilled_entry_fallback: Literal["none", "market"] = "none"

    @model_validator(mode="after")
    def _post_only_needs_limit(self) -> ExecutionConfig:
        if self.post_only and self.order_type != "limit":
            raise ValueError("post_only: true needs order_type: limit")
        return self


DEFAULT_REGIME_STOPS: dict[str, Decimal] = {"trending_down": Decimal(2), "crash": Decimal("1.5")}


class ExitsConfig(_Model):
    stop_loss_pct: PositivePct = Decimal(8)
    take_profit_pct: PositivePct = Decimal(30)
    trailing_stop_pct: PositivePct | None = Decimal(8)
    # The trail arms only once the high since entry is this far in profit, net of the entry
    # fee and a taker exit fee (0: as soon as a sale at the high would break even).
    trailing_arm_pct: Pct = Decimal(15)
    max_holding_hours: Annotated[Decimal, Field(gt=0, le=8_760)] | None = Decimal(480)  # a year
    # Sell a holding whose product's status took it out of the universe (limit_only or
    # post_only when not allowed, auction_mode) while the exchange still takes a sell.
    exit_when_not_tradable: bool = True
    # Sell a tradable holding that fell out of the tiers or filters (no tier, volume,
    # excluded by config, beyond max_products); never for this cycle's spread or quote.
    exit_when_left_universe: bool = False
    # A tighter stop loss on open positions while the regime is one of these (the smaller of
    # this and stop_loss_pct applies). A partial mapping keeps the other defaults.
    regime_stop_loss_pct: dict[RegimeName, PositivePct] = Field(
        default_factory=lambda: dict(DEFAULT_REGIME_STOPS)
    )

    @field_validator("regime_stop_loss_pct")
    @classmethod
    def _merge_default_stops(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return {**DEFAULT_REGIME_STOPS, **value}

    def stop_loss_for(self, regime: str | None) -> Decimal:
        """The stop loss in force under `regime`: the tighter of the two."""
        tight = self.regime_stop_loss_pct.get(regime) if regime else None  # type: ignore[call-overload]
        return min(self.stop_loss_pct, tight) if tight is not None else self.stop_loss_pct


class EdgeConfig(_Model):
    """No entry unless the move the market typically makes pays the round trip with a margin
    (pipeline/edge.py)."""

    enabled: bool = True
    atr_bars: Bars = 14  # the average true range of this many charted bars, in % of the close
    # expected move = atr_multiple x ATR %, at most exits.take_profit_pct; a random walk moves
    # about sqrt(n) bar ranges in n bars, so this is about sqrt(the bars a trade lasts)
    atr_multiple: Annotated[Decimal, Field(gt=0, le=100)] = Decimal(3)
    # the expected move must be at least this many times the round-trip cost (both fees,
    # spread and impact)
    cost_margin: Annotated[Decimal, Field(ge=0, le=100)] = Decimal("2.5")


class LiquidationConfig(_Model):
    """How a liquidation request trades (service/liquidation.py)."""

    # How long a liquidation waits for a running cycle to release the lock before it answers
    # lock_held, having sold nothing. Bounded by the Lambda's time left as well.
    lock_wait_seconds: Annotated[int, Field(ge=0, le=600)] = 30
    # Its own lease: the liquidation function's timeout (300 s) is not the cycle's. Bootstrap
    # checks it against LAMBDA_TIMEOUT_SECONDS (DESIGN.md, 'lease').
    lock_lease_seconds: Annotated[int, Field(ge=30, le=3600)] = 360
    # Each leg is confirmed before the next: at most this many polls, this far apart.
    confirm_attempts: Annotated[int, Field(ge=1, le=60)] = 10
    confirm_interval_seconds: Annotated[Decimal, Field(ge=0, le=10)] = Decimal(1)


class ReconcileConfig(_Model):
    """How the state follows the exchange's balances (pipeline/reconciliation.py)."""

    adopt_external_holdings: bool = False  # turn holdings the bot never bought into positions


class FundingConfig(_Model):
    """Two-step buys: coins the bot may sell first when the cash pool cannot pay its buys."""

    sources: tuple[str, ...] = ()  # e.g. [ETH]; empty: buys use cash only
    margin_pct: Pct = Decimal(1)  # sell this much more than the shortfall (price, fees, grid)


class PaperConfig(_Model):
    """PAPER (and DRY_RUN sizing): a simulated account over real market data."""

    starting_cash: Cash = Decimal(10_000)
    maker_fee_pct: Pct = Decimal("0.4")  # used when the exchange cannot report its fee tier
    taker_fee_pct: Pct = Decimal("0.6")
    slippage_bps: Bps = Decimal(2)


class SimProduct(_Model):
    product_id: Annotated[str, Field(pattern=r"^[A-Z0-9]+-[A-Z0-9]+$")]
    start_price: Annotated[Decimal, Field(gt=0)]
    volatility_pct: Annotated[Decimal, Field(gt=0)]  # stdev of a 5-minute return, in percent
    volume_24h_quote: Money
    spread_bps: Bps
    base_increment: Annotated[Decimal, Field(gt=0)]
    quote_increment: Annotated[Decimal, Field(gt=0)]
    base_min_size: Money
    quote_min_size: Money = Decimal(1)


class SimulatorConfig(_Model):
    seed: int = 247
    start: datetime = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
    starting_cash: Cash = Decimal(10_000)
    maker_fee_pct: Pct = Decimal("0.4")
    taker_fee_pct: Pct = Decimal("0.6")
    slippage_bps: Bps = Decimal(2)
    products: Annotated[tuple[SimProduct, ...], Field(min_length=1)]

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start must carry a timezone, e.g. 2026-03-02T00:00:00Z")
        return value


class Config(_Model):
    cycle: CycleConfig = CycleConfig()
    universe: UniverseConfig
    triggers: TriggersConfig = TriggersConfig()
    regime: RegimeConfig = RegimeConfig()
    rules: RulesConfig = RulesConfig()
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    exits: ExitsConfig = ExitsConfig()
    edge: EdgeConfig = EdgeConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    funding: FundingConfig = FundingConfig()
    liquidation: LiquidationConfig = LiquidationConfig()
    paper: PaperConfig = PaperConfig()
    simulator: SimulatorConfig | None = None  # needed only for the simulated exchange

    @model_validator(mode="after")
    def _regime_tiers_exist(self) -> Config:
        names = {t.name for t in self.universe.tiers}
        for regime, tiers in self.rules.regime_tiers.items():
            unknown = [t for t in tiers if t not in names]
            if unknown:
                raise ValueError(
                    f"rules.regime_tiers.{regime} names {unknown}, not tiers of the universe "
                    f"({sorted(names)})"
                )
        return self

    @model_validator(mode="after")
    def _regime_fits_the_bars(self) -> Config:
        regime, grain = self.regime, self.cycle.candle_granularity_seconds
        if hours_to_bars(regime.volatility_hours, grain) < 2:
            raise ValueError(
                f"regime.volatility_hours {regime.volatility_hours} is under two "
                f"{grain}-second bars: no spread of returns to measure"
            )
        needed = regime_bars_needed(regime, grain)
        if needed > MAX_REGIME_BARS:
            raise ValueError(
                f"regime.trend_hours + crash_hours need {needed} bars of {grain} s per product, "
                f"more than {MAX_REGIME_BARS}"
            )
        return self

    @model_validator(mode="after")
    def _bars_fetched_cover_the_lookbacks(self) -> Config:
        """A trigger or the edge check that needs more bars than a cycle fetches would never
        fire (or refuse every entry) without a word: refused here instead."""
        fetched = self.cycle.lookback_bars
        needs = {
            f"triggers.{name}.lookback_bars": trigger.lookback_bars
            for name, trigger in (
                ("volume_spike", self.triggers.volume_spike),
                ("breakout", self.triggers.breakout),
                ("momentum", self.triggers.momentum),
            )
            if trigger.enabled
        }
        if self.edge.enabled:
            needs["edge.atr_bars"] = self.edge.atr_bars
        short = [f"{field} {bars}" for field, bars in needs.items() if bars + 1 > fetched]
        if short:
            raise ValueError(
                f"cycle.lookback_bars {fetched} is too few for {', '.join(short)} "
                "(each needs its bars + 1)"
            )
        return self

    @model_validator(mode="after")
    def _reference_is_a_cash_product(self) -> Config:
        reference = self.regime.reference_product
        base, _, quote = reference.partition("-")
        if not base or quote not in self.cycle.cash_currencies:
            raise ValueError(
                f"regime.reference_product {reference!r} must be BASE-QUOTE with the quote in "
                f"{sorted(self.cycle.cash_currencies)}"
            )
        return self


def hours_to_bars(hours: Decimal, granularity_s: int) -> int:
    """Whole bars in `hours` of `granularity_s` bars, rounded half up, at least one."""
    return max(1, int(hours * 3600 / granularity_s + Decimal("0.5")))


def regime_bars_needed(cfg: RegimeConfig, granularity_s: int) -> int:
    """Bars per product the regime reads: the trend window, the crash window after it (the
    calm before a fall is measured over the trend window that precedes it), and one more."""
    trend = hours_to_bars(cfg.trend_hours, granularity_s)
    crash = hours_to_bars(cfg.crash_hours, granularity_s)
    volatility = hours_to_bars(cfg.volatility_hours, granularity_s)
    return max(trend + crash, volatility) + 1


def regime_bars_to_fetch(cfg: RegimeConfig, granularity_s: int) -> int:
    """Bars per regime product the snapshot asks for: a quarter more than needed, so a gap in
    the exchange's bars (an outage) shortens the window without blanking the regime."""
    return _bars_to_fetch(cfg, granularity_s)


def _work_out_bars_to_fetch(cfg: RegimeConfig, granularity_s: int) -> int:
    needed = regime_bars_needed(cfg, granularity_s)
    return needed + needed // 4


_bars_to_fetch = PerObject(_work_out_bars_to_fetch)  # once per config: the snapshot asks each cycle


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a YAML config; raise ConfigError naming the file, field and value."""
    source = Path(path) if path else DEFAULT_CONFIG_PATH
    return parse_config(_yaml_data(_config_text(source), source), source=str(source))


def _config_text(source: Path) -> str:
    try:
        if source.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{source}: larger than {MAX_CONFIG_BYTES} bytes; not a config")
        return source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None


# What PyYAML raises besides YAMLError: a date or an int it cannot build (`2026-13-45`, 5000
# digits: ValueError), and its own constructors' bare errors on a malformed explicit tag
# (`!!int ''`: IndexError, `!!bool x`: KeyError, `!!timestamp x`: AttributeError,
# `!!set [1]`: TypeError).
_YAML_FAILURES = (yaml.YAMLError, ValueError, LookupError, AttributeError, TypeError)


def _yaml_data(text: str, source: Path) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    except _YAML_FAILURES as exc:
        reason = str(exc) if isinstance(exc, yaml.YAMLError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{source}: not valid YAML ({_clip(reason, 300)})") from exc


def parse_config(raw: Any, source: str = "<config>") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(source, exc)) from None


def _describe(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    errors = exc.errors()
    for err in errors[:MAX_ERRORS_SHOWN]:
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = "missing" if err["type"] == "missing" else f"value {_clip(_SHORT.repr(value))}"
        lines.append(f"  {field}: {shown}: {_clip(err['msg'], 300)}")
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"  ... and {len(errors) - MAX_ERRORS_SHOWN} more")
    return "\n".join(lines)


def _short_repr() -> reprlib.Repr:
    """repr that stops early: a bad value is never expanded in full (an alias bomb would
    take minutes and gigabytes)."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxtuple = 2, 4, 4, 4
    short.maxstring = short.maxother = 60
    return short


_SHORT = _short_repr()


def _clip(text: str, limit: int = 80) -> str:
    """A bad value is shown, never all of it (an alias bomb expands to megabytes)."""
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text)} characters)"


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key repeated in one mapping is an error, not last-wins (a
    second `risk:` section would silently replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if not isinstance(key, Hashable):
                continue  # SafeLoader refuses an unhashable key itself, naming it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {_clip(_SHORT.repr(key))} appears twice in one mapping (first on line "
                    f"{seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)
