"""Typed config: the shipped default loads; a bad file fails naming the field, value and rule."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pipeline_builders import MINIMAL_UNIVERSE, config
from pydantic import ValidationError

import trader.domain.config as config_module
from trader.domain.config import DEFAULT_CONFIG_PATH, RiskConfig, load_config, parse_config
from trader.domain.errors import ConfigError

D = Decimal


def error_of(raw: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    return str(caught.value)


def test_load_config_when_default_then_valid_with_exact_decimals() -> None:
    cfg = load_config()
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    assert cfg.cycle.interval_seconds == raw["cycle"]["interval_seconds"]
    assert [t.name for t in cfg.universe.tiers] == [t["name"] for t in raw["universe"]["tiers"]]
    # YAML floats become the decimal the file shows (repr of the float), not a binary fraction
    shown = D(repr(raw["regime"]["volatile_pct"]))
    assert cfg.regime.volatile_pct == shown
    assert len(str(cfg.regime.volatile_pct)) < 10


def test_parse_config_when_yaml_float_then_exact_decimal() -> None:
    cfg = parse_config(
        yaml.safe_load(
            "universe: {tiers: [{name: a, position_size_pct: 8}]}\n"
            "triggers: {volume_spike: {min_return_pct: 0.1}}\n"
            "paper: {taker_fee_pct: 0.6}\n"
        )
    )
    assert cfg.triggers.volume_spike.min_return_pct == D("0.1")  # not 0.1000000000000000055..
    assert cfg.paper.taker_fee_pct == D("0.6")


def test_load_config_when_path_given_then_that_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "universe:\n  tiers:\n    - {name: only, products: [ETH-USD], position_size_pct: 3}\n"
        "risk: {max_trades_per_day: 5}\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.universe.tiers[0].name == "only"
    assert cfg.risk.max_trades_per_day == 5
    assert cfg.risk.max_trades_per_hour == RiskConfig().max_trades_per_hour  # defaults kept


def test_parse_config_when_value_out_of_range_then_field_value_and_rule_named() -> None:
    message = error_of({"universe": MINIMAL_UNIVERSE, "risk": {"max_trades_per_day": -1}})
    assert "risk.max_trades_per_day: value -1: " in message
    assert "greater than or equal to 0" in message


def test_parse_config_when_nested_list_field_invalid_then_index_in_path() -> None:
    tiers = [{"name": "core", "products": ["BTC-USD"], "position_size_pct": 0}]
    message = error_of({"universe": {"tiers": tiers}})
    assert "universe.tiers.0.position_size_pct: value 0: " in message
    assert "greater than 0" in message


def test_parse_config_when_wrong_type_then_value_shown() -> None:
    message = error_of({"universe": MINIMAL_UNIVERSE, "cycle": {"interval_seconds": "often"}})
    assert "cycle.interval_seconds: value 'often': " in message


def test_parse_config_when_literal_not_allowed_then_allowed_values_listed() -> None:
    message = error_of({"universe": MINIMAL_UNIVERSE, "execution": {"order_type": "stop"}})
    assert "execution.order_type: value 'stop': " in message
    assert "'market'" in message
    assert "'limit'" in message


def test_parse_config_when_several_errors_then_each_on_its_own_line() -> None:
    message = error_of(
        {
            "universe": MINIMAL_UNIVERSE,
            "risk": {"max_trades_per_day": -1, "max_trades_per_hour": -2},
        }
    )
    lines = message.splitlines()
    assert lines[0] == "<config>: invalid configuration"
    assert any(line.strip().startswith("risk.max_trades_per_day: value -1") for line in lines)
    assert any(line.strip().startswith("risk.max_trades_per_hour: value -2") for line in lines)


def test_parse_config_when_unknown_key_then_rejected_naming_it() -> None:
    message = error_of({"universe": MINIMAL_UNIVERSE, "risk": {"max_trade_per_day": 5}})
    assert "risk.max_trade_per_day: value 5: Extra inputs are not permitted" in message


def test_parse_config_when_unknown_section_then_rejected_naming_it() -> None:
    message = error_of({"universe": MINIMAL_UNIVERSE, "riks": {}})
    assert "riks: value {}: Extra inputs are not permitted" in message


def test_parse_config_when_required_section_missing_then_named_as_missing() -> None:
    assert "universe: missing: Field required" in error_of({})


def test_parse_config_when_regime_name_unknown_then_rejected() -> None:
    message = error_of(
        {"universe": MINIMAL_UNIVERSE, "rules": {"regime_size_multiplier": {"sideways": 1}}}
    )
    assert "rules.regime_size_multiplier.sideways" in message


def test_parse_config_when_post_only_with_market_orders_then_rule_explained() -> None:
    message = error_of({"universe": MINIMAL_UNIVERSE, "execution": {"post_only": True}})
    assert "execution: " in message
    assert "post_only: true needs order_type: limit" in message


def test_parse_config_when_a_trigger_needs_more_bars_than_fetched_then_refused_naming_it() -> None:
    # momentum over 96 bars needs 97 of the 48 fetched; the 24-bar breakout fits
    message = error_of(
        {
            "universe": MINIMAL_UNIVERSE,
            "cycle": {"lookback_bars": 48},
            "triggers": {"momentum": {"lookback_bars": 96}, "breakout": {"lookback_bars": 24}},
        }
    )
    assert "cycle.lookback_bars 48 is too few for triggers.momentum.lookback_bars 96" in message
    assert "triggers.breakout.lookback_bars" not in message  # 24 + 1 <= 48


def test_parse_config_when_the_long_trigger_is_disabled_then_its_lookback_is_not_needed() -> None:
    cfg = parse_config(
        {
            "universe": MINIMAL_UNIVERSE,
            "cycle": {"lookback_bars": 48},
            "triggers": {
                "momentum": {"enabled": False, "lookback_bars": 96},
                "breakout": {"lookback_bars": 47},  # 47 + 1 = 48: just enough
            },
        }
    )
    assert cfg.triggers.breakout.lookback_bars == 47


def test_parse_config_when_tier_names_repeat_then_rejected() -> None:
    tier = {"name": "core", "products": ["BTC-USD"], "position_size_pct": 8}
    assert "tier names must be unique" in error_of({"universe": {"tiers": [tier, tier]}})


def test_parse_config_when_simulator_start_is_naive_then_rejected() -> None:
    simulator = {
        "start": "2026-03-02T00:00:00",
        "products": [
            {
                "product_id": "BTC-USD",
                "start_price": 100,
                "volatility_pct": 1,
                "volume_24h_quote": 1,
                "spread_bps": 1,
                "base_increment": "0.001",
                "quote_increment": "0.01",
                "base_min_size": "0.01",
            }
        ],
    }
    message = error_of({"universe": MINIMAL_UNIVERSE, "simulator": simulator})
    assert "simulator.start" in message
    assert "must carry a timezone" in message


@pytest.mark.parametrize("raw", [None, [], "text", 3])
def test_parse_config_when_top_level_not_a_mapping_then_said_so(raw: Any) -> None:
    assert "the top level must be a mapping of sections" in error_of(raw)


def test_load_config_when_file_missing_then_path_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(caught.value).startswith(f"{missing}: cannot read config")


def test_load_config_when_yaml_broken_then_path_and_yaml_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("universe: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: not valid YAML")


def test_load_config_when_file_invalid_then_message_starts_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("universe: {tiers: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: invalid configuration")
    assert "universe.tiers: value []" in str(caught.value)


def test_load_config_when_empty_file_then_top_level_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_config_when_built_then_frozen() -> None:
    cfg = config()
    with pytest.raises(ValidationError):
        cfg.risk.max_trades_per_day = 99  # type: ignore[misc]


def test_default_config_path_when_resolved_then_points_at_the_shipped_file() -> None:
    # package data, beside the package's modules: a plain `sam build` layer carries it
    assert Path(config_module.__file__).resolve().parents[1] / "default.yaml" == DEFAULT_CONFIG_PATH
    assert DEFAULT_CONFIG_PATH.is_file()


def test_parse_config_when_regime_multipliers_are_partial_then_the_rest_keep_their_defaults() -> (
    None
):
    # Naming only trending_up must not leave crash sized at a silent 1: it keeps its default 0.
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["rules"]["regime_size_multiplier"] = {"trending_up": "0.8"}
    multipliers = parse_config(raw).rules.regime_size_multiplier
    assert multipliers["trending_up"] == Decimal("0.8")
    assert multipliers["crash"] == Decimal(0)
    assert multipliers["choppy"] == multipliers["unknown"] == Decimal(0)  # the tuned defaults


def test_parse_config_when_liquidation_omitted_then_documented_defaults() -> None:
    liquidation = config().liquidation

    assert liquidation.lock_wait_seconds == 30
    assert liquidation.confirm_attempts == 10
    assert liquidation.confirm_interval_seconds == Decimal(1)


def test_parse_config_when_liquidation_lock_wait_negative_then_field_named() -> None:
    message = error_of({"universe": MINIMAL_UNIVERSE, "liquidation": {"lock_wait_seconds": -1}})
    assert "liquidation.lock_wait_seconds: value -1: " in message


# --- issue 10, finding 5: no silent last-wins, no contradictions, no megabyte messages ------


def test_load_config_when_a_section_appears_twice_then_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(
        "universe:\n  tiers: [{name: core, match_all: true, position_size_pct: 5}]\n"
        "risk:\n  max_total_exposure_pct: 40\n"
        "risk:\n  max_total_exposure_pct: 100\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    # the second `risk:` is on line 5; the first on line 3
    assert "'risk' appears twice" in message and "first on line 3" in message


def test_parse_config_when_per_asset_exposure_above_total_then_refused() -> None:
    message = error_of(
        config_dict(risk={"max_total_exposure_pct": 20, "max_exposure_per_asset_pct": 30})
    )
    assert "max_exposure_per_asset_pct 30 is above max_total_exposure_pct 20" in message


def test_parse_config_when_a_product_is_in_two_tiers_then_refused_naming_both() -> None:
    tiers = [
        {"name": "core", "products": ["BTC-USD"], "position_size_pct": 5},
        {"name": "alts", "products": ["ETH-USD", "BTC-USD"], "position_size_pct": 3},
    ]
    message = error_of(config_dict(universe={"tiers": tiers}))
    assert "product BTC-USD is in two tiers: core and alts" in message


def test_parse_config_when_two_tiers_match_all_then_refused() -> None:
    tiers = [
        {"name": "a", "match_all": True, "position_size_pct": 5},
        {"name": "b", "match_all": True, "position_size_pct": 3},
    ]
    assert "at most one tier may have match_all, got ['a', 'b']" in error_of(
        config_dict(universe={"tiers": tiers})
    )


@pytest.mark.parametrize("reference", ["BTC", "BTC-EUR", "-USD"])
def test_parse_config_when_reference_product_not_a_cash_product_then_refused(
    reference: str,
) -> None:
    message = error_of(config_dict(regime={"reference_product": reference}))
    assert f"regime.reference_product {reference!r} must be BASE-QUOTE" in message


@pytest.mark.parametrize("quote", ["", "usd", "U"])
def test_parse_config_when_quote_currency_empty_or_malformed_then_refused(quote: str) -> None:
    assert "cycle.quote_currency" in error_of(config_dict(cycle={"quote_currency": quote}))


def test_load_config_when_an_alias_bomb_is_invalid_then_the_message_stays_short(
    tmp_path: Path,
) -> None:
    # Nine levels of nine aliases: 9**9 strings if printed in full.
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(["bombs:", *(f"  {line}" for line in levels), "cycle: *a8", ""]))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(str(caught.value)) < 2_000


def config_dict(**sections: Any) -> dict[str, Any]:
    """A valid config's sections, with `sections` replacing whole sections."""
    base: dict[str, Any] = {
        "universe": {"tiers": [{"name": "core", "match_all": True, "position_size_pct": 5}]}
    }
    return {**base, **sections}


def test_parse_config_when_a_regime_names_a_tier_the_universe_lacks_then_refused() -> None:
    message = error_of(config_dict(rules={"regime_tiers": {"volatile": ["core", "alts"]}}))
    assert "rules.regime_tiers.volatile names ['alts'], not tiers of the universe (['core'])" in (
        message
    )


def test_parse_config_when_regime_tiers_are_partial_then_falling_regimes_still_block() -> None:
    tiers = parse_config(config_dict(rules={"regime_tiers": {"volatile": ["core"]}})).rules
    assert tiers.regime_tiers == {"volatile": ("core",), "trending_down": (), "crash": ()}


def test_parse_config_when_a_hold_threshold_is_above_its_entry_then_refused() -> None:
    message = error_of(config_dict(regime={"trend_pct": 2, "trend_hold_pct": 3}))
    assert "trend_hold_pct 3 is above trend_pct 2" in message


def test_parse_config_when_the_volatility_window_is_under_two_bars_then_refused() -> None:
    # 1 hour of 1-hour bars: one return, no spread to measure
    cycle = {"candle_granularity_seconds": 3600, "interval_seconds": 3600}
    message = error_of(config_dict(cycle=cycle, regime={"volatility_hours": 1}))
    assert "regime.volatility_hours 1 is under two 3600-second bars" in message


def test_parse_config_when_the_regime_needs_too_many_bars_then_refused_naming_the_count() -> None:
    # 1-minute bars: (24 + 12) h = 2,160 bars + 1
    cycle = {"candle_granularity_seconds": 60, "interval_seconds": 60, "lock_lease_seconds": 30}
    message = error_of(config_dict(cycle=cycle))
    assert "need 2161 bars of 60 s per product, more than 1000" in message


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        # each was accepted and then overflowed a datetime in every cycle (or, for the
        # cooldown, when booking a losing exit's fill, after the exchange had filled it)
        ("cycle", "max_snapshot_age_seconds", 10**20),
        ("cycle", "lock_lease_seconds", 10**12),
        ("execution", "cancel_resting_after_seconds", 10**20),
        ("exits", "max_holding_hours", "1e999999"),
        ("risk", "cooldown_minutes_after_loss", 10**12),
        ("paper", "starting_cash", 10**30),  # quantized beyond Decimal's 28 digits
    ],
)
def test_parse_config_when_a_value_is_beyond_what_a_cycle_can_compute_then_refused(
    section: str, field: str, value: Any
) -> None:
    assert f"{section}.{field}" in error_of(config_dict(**{section: {field: value}}))


def test_parse_config_when_trade_margin_not_below_the_lease_then_refused_naming_both() -> None:
    # every cycle that trades would end LockLost: no lease ever has the margin left
    message = error_of(
        config_dict(cycle={"min_remaining_seconds_to_trade": 200, "lock_lease_seconds": 200})
    )
    assert "min_remaining_seconds_to_trade 200 must be below lock_lease_seconds 200" in message
