"""SoupBinTCP heartbeat settings a venue does not tolerate are refused at config load; a spec breach is logged.

rev56ouch L3: ``heartbeat_interval_ms: 20000`` (with ``server_timeout_ms: 30000``) on SoupBinTCP 3.00 started without a
word and the client then sent nothing for 20 s: 3.00 wants a Client Heartbeat whenever the client has sent nothing for
more than 1 second, and a server closes a client silent for "typically 15 seconds". ``server_timeout_ms`` below 1,000
was accepted too, though a server heartbeats only after more than 1 second of silence (the session would drop whenever
the venue is quiet). Now both are config errors naming the key (exit 2 at ``gateway run``), and an interval above
1 second that the session survives is a WARNING at start-up.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from model.clock import FakeClock
from venues.ouch.adapter import build_ouch_venue
from venues.registry import VenueConfigError, decode_venue_config

RAW: dict[str, Any] = {
    "protocol": "ouch",
    "name": "OUCH",
    "host": "127.0.0.1",
    "port": 49800,
    "username": "USER",
    "password": "PASS",
    "state_dir": "/nonexistent-ouch-state",
}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"heartbeat_interval_ms": 20_000, "server_timeout_ms": 30_000},
            "venues[0]: heartbeat_interval_ms 20000 must be below 15000: SoupBinTCP 3.00",
        ),
        ({"heartbeat_interval_ms": 15_000, "server_timeout_ms": 30_000}, "heartbeat_interval_ms 15000 must be below"),
        (
            {"heartbeat_interval_ms": 500, "server_timeout_ms": 800},
            "venues[0]: server_timeout_ms 800 must be above 1000: a SoupBinTCP server sends its heartbeat only when "
            "it has sent nothing for more than 1 second",
        ),
        ({"heartbeat_interval_ms": 100, "server_timeout_ms": 1_000}, "server_timeout_ms 1000 must be above 1000"),
    ],
)
def test_config_when_heartbeats_break_soupbintcp_then_refused_naming_the_key(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(VenueConfigError) as error:
        decode_venue_config({**RAW, **fields}, "venues[0]")
    assert message in str(error.value)
    key = "heartbeat_interval_ms" if "heartbeat_interval_ms" in message else "server_timeout_ms"
    assert str(error.value).endswith(f" - at `$.{key}`")  # a config file's error names the key's line


def test_config_when_heartbeats_within_what_a_venue_tolerates_then_accepted() -> None:
    assert decode_venue_config({**RAW, "heartbeat_interval_ms": 14_999, "server_timeout_ms": 30_000}, "venues[0]")
    assert decode_venue_config({**RAW, "heartbeat_interval_ms": 200, "server_timeout_ms": 1_001}, "venues[0]")
    four_ten = {"soupbin_version": "4.10", "client_heartbeat_timeout_ms": 30_000}  # the login names the timeout
    assert decode_venue_config({**RAW, **four_ten, "heartbeat_interval_ms": 20_000, "server_timeout_ms": 30_000}, "v")


def test_build_when_the_heartbeat_interval_is_above_one_second_then_a_warning_naming_the_spec(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slow = decode_venue_config({**RAW, "heartbeat_interval_ms": 5_000, "server_timeout_ms": 15_000}, "venues[0]")
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        build_ouch_venue(slow, FakeClock())
        assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
            "venue OUCH: heartbeat_interval_ms 5000 is above SoupBinTCP's 1000 ms: the client must send a heartbeat "
            "whenever it has sent nothing for more than 1 second; a venue may count it as a violation, or close the "
            "session once it has heard nothing for its own timeout (3.00: typically 15 s). Use 1000 unless the venue "
            "agreed otherwise"
        ]
        caplog.clear()
        build_ouch_venue(decode_venue_config(RAW, "venues[0]"), FakeClock())
        assert not caplog.records
