"""The liquidation request: defaults that cannot sell anything, an explicit word to execute,
and refusals of one short line that name the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trader.domain.errors import InvalidLiquidationRequest
from trader.domain.liquidation import LiquidationRequest, parse_liquidation_request

D = Decimal


def refused(raw: object) -> InvalidLiquidationRequest:
    with pytest.raises(InvalidLiquidationRequest) as caught:
        parse_liquidation_request(raw)
    message = str(caught.value)
    assert message.startswith("invalid liquidation request: ")
    assert "\n" not in message
    assert len(message) <= 300
    return caught.value


def test_parse_when_only_request_id_then_a_dry_run_with_documented_defaults() -> None:
    request = parse_liquidation_request({"request_id": "r-1"})
    assert request == LiquidationRequest(
        request_id="r-1",
        dry_run=True,
        confirm=None,
        target="USDC",
        keep=(),
        min_value=D(1),
        max_slippage_bps=100,
        halt_trading=False,
    )
    assert not request.executes


def test_parse_when_confirmed_execute_request_then_every_field_kept() -> None:
    request = parse_liquidation_request(
        {
            "request_id": "Ops_2026.11.24-a",
            "dry_run": False,
            "confirm": "LIQUIDATE",
            "target": "USD",
            "keep": ["ETH", "BTC", "ETH"],
            "min_value": "0.5",
            "max_slippage_bps": 250,
            "halt_trading": True,
        }
    )
    assert request.executes
    assert request.target == "USD"
    assert request.keep == ("BTC", "ETH")  # sorted, duplicates dropped
    assert request.min_value == D("0.5")
    assert request.max_slippage_bps == 250
    assert request.halt_trading


@pytest.mark.parametrize(("value", "expected"), [(0, "0"), ("1.25", "1.25"), (2.5, "2.5")])
def test_parse_when_min_value_number_or_string_then_exact_decimal(
    value: Any, expected: str
) -> None:
    request = parse_liquidation_request({"request_id": "r", "min_value": value})
    assert request.min_value == D(expected)


def test_parse_when_request_id_missing_then_refused_naming_request_id() -> None:
    error = refused({"dry_run": True})
    assert error.field == "request_id"
    assert "request_id: required" in str(error)


@pytest.mark.parametrize("request_id", ["", "a b", "a/b", "ü", "x" * 65, 42, None])
def test_parse_when_request_id_malformed_then_refused_naming_request_id(request_id: Any) -> None:
    assert refused({"request_id": request_id}).field == "request_id"


def test_parse_when_request_id_64_allowed_characters_then_accepted() -> None:
    request_id = "aZ0._-" * 10 + "abcd"  # 6 x 10 + 4 = 64
    assert parse_liquidation_request({"request_id": request_id}).request_id == request_id


def test_parse_when_dry_run_false_and_confirm_missing_then_refused_naming_confirm() -> None:
    error = refused({"request_id": "r", "dry_run": False})
    assert error.field == "confirm"
    assert "confirm: must be exactly 'LIQUIDATE' to execute (dry_run is false)" in str(error)


@pytest.mark.parametrize("confirm", ["yes", "liquidate", "LIQUIDATE ", True, ""])
def test_parse_when_dry_run_false_and_confirm_wrong_then_refused_naming_confirm(
    confirm: Any,
) -> None:
    assert refused({"request_id": "r", "dry_run": False, "confirm": confirm}).field == "confirm"


def test_parse_when_dry_run_and_confirm_wrong_then_refused_before_it_matters() -> None:
    assert refused({"request_id": "r", "confirm": "yes"}).field == "confirm"


@pytest.mark.parametrize("dry_run", ["false", 0, None])
def test_parse_when_dry_run_not_a_boolean_then_refused_naming_dry_run(dry_run: Any) -> None:
    # "false" must not quietly become False and execute
    assert refused({"request_id": "r", "dry_run": dry_run, "confirm": "LIQUIDATE"}).field == (
        "dry_run"
    )


@pytest.mark.parametrize("target", ["EUR", "usdc", "", None, "BTC"])
def test_parse_when_target_unknown_then_refused_naming_target(target: Any) -> None:
    error = refused({"request_id": "r", "target": target})
    assert error.field == "target"
    assert "'USDC' or 'USD'" in str(error)


@pytest.mark.parametrize("min_value", ["-1", -0.01, "nan", "Infinity", "abc", True])
def test_parse_when_min_value_negative_or_not_a_number_then_refused_naming_min_value(
    min_value: Any,
) -> None:
    assert refused({"request_id": "r", "min_value": min_value}).field == "min_value"


@pytest.mark.parametrize("bps", [-1, 1001, "100", 50.0, True])
def test_parse_when_max_slippage_bps_out_of_range_or_not_int_then_refused(bps: Any) -> None:
    assert refused({"request_id": "r", "max_slippage_bps": bps}).field == "max_slippage_bps"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [([], "an array"), ("{}", "a string"), (None, "null"), (7, "a number"), (True, "a boolean")],
)
def test_parse_when_not_a_json_object_then_refused_saying_what_it_got(raw: Any, kind: str) -> None:
    error = refused(raw)
    assert error.field == "(request)"
    assert str(error) == f"invalid liquidation request: expected a JSON object, got {kind}"


def test_parse_when_keep_list_huge_then_refused_with_its_length_not_its_content() -> None:
    error = refused({"request_id": "r", "keep": ["BTC"] * 100_000})
    assert error.field == "keep"
    assert str(error) == "invalid liquidation request: keep: at most 100 currencies, got 100000"


def test_parse_when_keep_has_100_codes_then_accepted() -> None:
    codes = [f"C{i}" for i in range(100)]
    assert len(parse_liquidation_request({"request_id": "r", "keep": codes}).keep) == 100


@pytest.mark.parametrize("code", ["btc", "TOOLONGCODE1", "", "B-C", 5])
def test_parse_when_keep_code_malformed_then_refused_naming_its_position(code: Any) -> None:
    assert refused({"request_id": "r", "keep": ["ETH", code]}).field == "keep[1]"


def test_parse_when_keep_is_a_string_then_refused_naming_keep() -> None:
    assert refused({"request_id": "r", "keep": "BTC"}).field == "keep"


def test_parse_when_extra_field_then_refused_naming_it() -> None:
    error = refused({"request_id": "r", "products": "all"})
    assert error.field == "products"
    assert "products: unknown field" in str(error)


def test_parse_when_old_event_shape_then_refused_not_half_understood() -> None:
    # events/liquidate-all.json predates the contract: no request_id and three unknown fields
    old = {"action": "liquidate", "products": "all", "target_currency": "USDC", "confirm": "yes"}
    error = refused(old)
    assert error.field == "request_id"
    assert "and 2 more" in str(error)  # 5 problems: 3 are spelled out


def test_parse_when_value_is_huge_then_message_stays_short_and_one_line() -> None:
    error = refused({"request_id": "x" * 1_000_000, "y\n" * 10_000: 1})
    assert "x" * 50 not in str(error)


@given(
    st.dictionaries(
        st.sampled_from([*LiquidationRequest.model_fields, "extra"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=80),
            st.lists(st.text(max_size=12), max_size=5),
        ),
    )
)
def test_parse_when_any_json_object_then_a_request_or_one_short_refusal(
    raw: dict[str, Any],
) -> None:
    # nothing but InvalidLiquidationRequest may escape, and never an unconfirmed execute
    try:
        request = parse_liquidation_request(raw)
    except InvalidLiquidationRequest as exc:
        message = str(exc)
        assert "\n" not in message
        assert len(message) <= 300
        assert exc.field
        return
    assert request.dry_run or request.confirm == "LIQUIDATE"
