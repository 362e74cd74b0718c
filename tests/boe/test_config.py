"""BOE venue configuration: validation, the field sets and return bitfields it derives, the session config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from gateway.config import ConfigError, decode_venues, load_config
from venues.boe.codec import RETURN_TABLE, NewOrderPacker
from venues.boe.config import BoeVenueConfig
from venues.boe.messages import ORDER_ACKNOWLEDGMENT, ORDER_EXECUTION
from venues.boe.session import MS

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "boe" / "venue-boe.example.yaml"
BASE: dict[str, Any] = {
    "name": "BOE",
    "protocol": "boe",
    "host": "127.0.0.1",
    "port": 9001,
    "session_sub_id": "0001",
    "username": "USER",
    "password": "PASS",
}


def _config(**fields: Any) -> BoeVenueConfig:
    return msgspec.convert({**BASE, **fields}, BoeVenueConfig)


def test_example_file_when_loaded_then_valid() -> None:
    config = msgspec.convert(yaml.safe_load(EXAMPLE.read_text()), BoeVenueConfig)
    assert config.name == "CBOE_BZX"
    assert config.new_order_fields() == (
        "price",
        "ord_type",
        "time_in_force",
        "symbol",
        "capacity",
        "display_indicator",
        "attributed_quote",
        "ext_exec_inst",
    )


def test_defaults_when_minimal_then_session_config_follows_the_spec_figures() -> None:
    session = _config().session_config()
    assert (session.session_sub_id, session.username, session.password) == ("0001", "USER", "PASS")
    assert session.heartbeat_interval_ns == 1_000 * MS
    assert session.server_timeout_ns == 5_000 * MS
    assert session.sequence_outbound
    assert session.end_of_day_reasons == "E"
    assert session.return_bitfields[ORDER_ACKNOWLEDGMENT] == RETURN_TABLE.bitfields_of(
        ["side", "price", "symbol", "capacity", "order_qty", "leaves_qty"]
    )
    assert session.return_bitfields[ORDER_EXECUTION] == bytes([0x01, 0x01])


def test_field_sets_when_firm_and_account_set_then_sent_on_every_message() -> None:
    config = _config(clearing_firm="CFAA", account="ACCOUNT1")
    assert config.new_order_fields() == (
        "clearing_firm",
        "price",
        "ord_type",
        "time_in_force",
        "symbol",
        "capacity",
        "account",
    )
    assert config.cancel_fields() == ("clearing_firm",)
    assert config.modify_fields() == ("clearing_firm", "order_qty", "price")
    assert _config().cancel_fields() == ()
    assert NewOrderPacker(config.new_order_fields()).fields == config.new_order_fields()


def test_initial_units_when_counted_then_listed_at_zero() -> None:
    assert _config(matching_units=3).initial_units() == {1: 0, 2: 0, 3: 0}
    assert _config().initial_units() == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"session_sub_id": "00001"}, "session_sub_id"),
        ({"username": "US-R"}, "username"),
        ({"capacity": "X"}, "capacity"),
        ({"new_order_constants": {"colour": "red"}}, "'colour' is not a New Order optional field"),
        ({"new_order_constants": {"symbol": "AAPL"}}, "'symbol' comes from the order"),
        ({"new_order_constants": {"display_indicator": "VV"}}, "at most 1 characters"),
        ({"new_order_constants": {"min_qty": "x"}}, "min_qty needs a whole number from 0 to 4294967295"),
        (  # fixboe53 (rev53boe s10): passed, then every New Order was refused BOE_INTERNAL_ERROR
            {"new_order_constants": {"max_remove_pct": 300}},
            "max_remove_pct is 300, outside what its 1-byte field carries: 0 to 255",
        ),
        ({"new_order_constants": {"discretion_amount": 65536}}, "its 2-byte field carries: 0 to 65535"),
        ({"new_order_constants": {"display_range": 4294967296}}, "its 4-byte field carries: 0 to 4294967295"),
        ({"new_order_constants": {"custom_group_id": -1}}, "custom_group_id is -1, outside"),
        ({"return_fields": {"order_ack": ["side"]}}, "unknown message 'order_ack'"),
        ({"return_fields": {"order_execution": ["shoe_size"]}}, "'shoe_size' is not a return field"),
        ({"return_fields": {"user_modify_rejected": ["side"]}}, "side may not be requested on this message"),
        ({"cl_ord_id_prefix": "A,B"}, "cl_ord_id_prefix"),
        ({"server_timeout_ms": 1000}, "server_timeout_ms must be longer"),
        ({"reconnect_initial_ms": 500, "reconnect_max_ms": 100}, "reconnect_max_ms"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_config_when_invalid_then_validation_error_names_it(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message.replace("(", r"\(")):
        _config(**fields)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('    cl_ord_id_prefix: "G,"', "cl_ord_id_prefix"),
        ("    timezone: Mars/Olympus", "timezone"),
        ("    server_timeout_ms: 500", "server_timeout_ms"),
    ],
)
def test_config_file_when_a_cross_field_rule_fails_then_the_error_points_at_the_key(
    tmp_path: Path, line: str, key: str
) -> None:
    # rev50boe cfgcheck.sh: `gw.yaml:18:5: venues[0]: cl_ord_id_prefix must not contain ...` named the venue
    # entry's line (a __post_init__ error has no path), not the key's
    text = "\n".join(
        [
            "venues:",
            "  - protocol: boe",
            "    name: CBOE",
            "    host: 127.0.0.1",
            "    port: 49650",
            '    session_sub_id: "0001"',
            "    username: USER",
            "    password: PASS",
            f"    state_dir: {tmp_path}",
            line,
            "",
        ]
    )
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        decode_venues(load_config(path))
    assert str(error.value).startswith(f"{path}:10:{len('    ' + key + ': ') + 1}: venues[0].{key}: ")


def test_new_order_constants_when_at_their_widths_then_accepted_and_packed() -> None:
    constants: dict[str, str | int] = {
        "max_remove_pct": 255,
        "discretion_amount": 65535,
        "display_range": 4294967295,
        "peg_difference": -(1 << 63),  # signed 8 bytes
        "expire_time": (1 << 64) - 1,
    }
    config = _config(new_order_constants=constants)
    assert set(constants) <= set(config.new_order_fields())


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [("max_remove_pct", 300, "0 to 255"), ("discretion_amount", 70000, "0 to 65535")],
)
def test_config_file_when_a_new_order_constant_is_too_wide_then_the_error_names_its_line_and_range(
    tmp_path: Path, name: str, value: int, allowed: str
) -> None:
    # rev53boe s10: `max_remove_pct: 300` passed `gateway launch --dry-run`; every New Order then failed to encode
    text = "\n".join(
        [
            "venues:",
            "  - protocol: boe",
            "    name: CBOE",
            "    host: 127.0.0.1",
            "    port: 49701",
            '    session_sub_id: "0001"',
            "    username: USER",
            "    password: PASS",
            f"    state_dir: {tmp_path}",
            "    new_order_constants:",
            "      display_indicator: V",
            f"      {name}: {value}",
            "",
        ]
    )
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        decode_venues(load_config(path))
    assert str(error.value).startswith(
        f"{path}:12:{len('      ' + name + ': ') + 1}: venues[0].new_order_constants.{name}: "
    ), error.value
    assert f"{name} is {value}, outside what its" in str(error.value) and allowed in str(error.value)
