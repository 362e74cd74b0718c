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
        ({"new_order_constants": {"min_qty": "x"}}, "min_qty needs a whole number"),
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
