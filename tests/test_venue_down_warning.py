"""A venue lost is logged at WARNING, every venue kind alike; its failing reconnects at most every 30 s (rev56ops 4).

Before ouchlookup56 the engine logged every venue state change at INFO: an OUCH venue going ``UP -> DISCONNECTED``
and 30 s of login timeouts after it showed nothing to an operator filtering on WARNING until the 2-minute alert
(Cboe's own Logout line was a WARNING, OUCH's and FIX's losses were not). Now leaving UP is a WARNING once per
transition (not the venue's End of Session, not the gateway's stop), and a connection that ends again before UP
a WARNING at most once per 30 s, the others at INFO. A real engine over a real OUCH adapter
talking to the simulator core (fake clock), as tests/ouch/harness.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.venue_events import VenueState
from tests.harness import Rig
from tests.ouch.harness import Link, gateway_over

pytestmark = pytest.mark.timeout(60)

RETRY_WARN_NS = 30_000_000_000
"""The documented rate of the WARNING for a connection that ends before UP (``gateway.engine.VENUE_RETRY_WARN_NS``)."""


def _engine_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gateway.engine" and r.levelno == level]


def _up(tmp_path: Path) -> tuple[Link, Rig]:
    link = Link(tmp_path / "ouch")
    _engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    rig.engine.flush()
    assert link.venue.state is VenueState.UP
    return link, rig


def _login_times_out(link: Link) -> None:
    """A reconnect whose server never answers the Login Request: the adapter gives up after its timeout."""
    link.venue.attach(lambda data: None, lambda: None)
    link.venue.connection_made(link.clock())
    assert link.venue.state is VenueState.LOGGING_IN
    link.clock.advance_ms(link.config.server_timeout_ms + 1)
    link.venue.poll(link.clock())
    link.venue.detach()
    link.venue.connection_lost(link.clock())
    link.clock.advance_ms(1_000)


def test_ouch_venue_lost_then_a_warning_and_its_failing_reconnects_at_most_every_30_s(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, _rig = _up(tmp_path)
    with caplog.at_level(logging.INFO, logger="gateway.engine"):
        link.disconnect()  # the connection to the venue is lost
        warnings = _engine_lines(caplog, logging.WARNING)
        assert len(warnings) == 1 and "venue nasdaq: UP -> DISCONNECTED" in warnings[0]  # old: INFO, no WARNING
        assert "refused until it is UP again" in warnings[0]

        attempts = 0
        start = link.clock()
        while link.clock() - start < RETRY_WARN_NS * 2 + 6_000_000_000:  # a failed login each 6 s, for 66 s
            _login_times_out(link)
            attempts += 1

    warnings = _engine_lines(caplog, logging.WARNING)
    failed = [line for line in warnings[1:] if "LOGGING_IN -> DISCONNECTED" in line and "not UP, reconnecting" in line]
    assert len(failed) == len(warnings) - 1 == 2  # one per 30 s (at 35 s and 65 s) of 11 failed logins
    infos = [line for line in _engine_lines(caplog, logging.INFO) if "LOGGING_IN -> DISCONNECTED" in line]
    assert len(infos) == attempts - 2  # the others still logged, at INFO


def test_venue_leaving_up_when_its_session_ends_or_the_gateway_stops_then_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, rig = _up(tmp_path)
    engine = rig.engine
    with caplog.at_level(logging.INFO, logger="gateway.engine"):
        engine.stopping = True  # ``GatewayApp.stop``: the sessions end now
        link.disconnect()
        engine.stopping = False
        link.connect()
        engine.on_venue_state("nasdaq", VenueState.ENDED, "End of Session")  # the day's planned end
        link.disconnect()  # the venue closes the connection after it

    assert _engine_lines(caplog, logging.WARNING) == []
    infos = _engine_lines(caplog, logging.INFO)
    assert any("venue nasdaq: UP -> DISCONNECTED" in line for line in infos)
    assert any("venue nasdaq: UP -> ENDED" in line for line in infos)
    assert any("venue nasdaq: ENDED -> DISCONNECTED" in line for line in infos)
