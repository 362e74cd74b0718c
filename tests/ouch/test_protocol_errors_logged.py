"""SoupBinTCP protocol errors the adapter tolerates are counted and each kind logged from its first (fixouch42).

A stray Login Accepted, a Login Rejected while logged in (it only answers a Login Request, SoupBinTCP 3.00)
and a Packet Length of 0 (no type byte) are three kinds: each gets its own 1st, 2nd, 4th... WARNING lines.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.clock import FakeClock
from model.venue_events import VenueState
from tests.ouch.harness import venue_config
from venues.ouch.adapter import OuchVenue
from venues.ouch.refstore import UserRefNumStore
from venues.ouch.soupbin import encode_login_accepted, encode_login_rejected, encode_packet


def test_protocol_errors_when_three_kinds_arrive_logged_in_then_each_counted_and_logged_and_the_session_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    config = venue_config(
        tmp_path, max_refetches=0
    )  # a message that cannot be read: taken as lost at once (the path after max_refetches; see test_refetch.py)
    venue = OuchVenue(config, clock, store=UserRefNumStore(tmp_path, config.name, today=lambda: "2024-05-01"))
    closed: list[bool] = []
    venue.attach(lambda data: None, lambda: closed.append(True))
    venue.connection_made(clock())
    venue.data_received(encode_login_accepted("S1", 1) + encode_packet(b"H"), clock())  # the replay: nothing
    assert venue.state is VenueState.UP

    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        venue.data_received(encode_login_accepted("S1", 1) + encode_login_rejected("A"), clock())
        venue.data_received(bytes.fromhex("0000"), clock())
        venue.flush()

    assert venue.state is VenueState.UP and closed == []
    status = venue.status()
    assert (status["protocol_errors"], status["login_rejects"]) == (3, 0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "Login Accepted while LOGGED_IN; ignored" in lines[0]
    assert "Login Rejected (A) while LOGGED_IN; ignored" in lines[1]
    assert "1 packet(s) of length 0 skipped" in lines[2]
