"""SoupBinTCP login refusals (fake clock): ``max_login_refusals`` Login Rejected A in a row stop the session.

A venue that locks an account after repeated bad passwords must not be hammered: after the limit the session
sits in LOGIN_REFUSED and asks for no reconnect until ``reconnect()``. Login Rejected S (session not available)
is transient and not counted; a Login Accepted resets the count.
"""

from __future__ import annotations

import msgspec
import pytest

from model.clock import FakeClock
from tests.ouch.test_soup_client import CONFIG, Recorder
from venues.ouch import soupbin
from venues.ouch.soup_client import SoupClientSession, SoupClientState
from venues.registry import VenueConfigError, decode_venue_config

MS = 1_000_000
NOT_AUTHORIZED = "not authorized (A)"


def _session(max_login_refusals: int = 3) -> tuple[SoupClientSession, Recorder, FakeClock]:
    config = msgspec.structs.replace(CONFIG, max_login_refusals=max_login_refusals)
    recorder = Recorder()
    return SoupClientSession(config, recorder), recorder, FakeClock()


def state_of(client: SoupClientSession) -> SoupClientState:
    """Return the state (a call, so the type checker does not keep an earlier comparison's narrowing)."""
    return client.state


def _refused(client: SoupClientSession, clock: FakeClock, code: str = "A") -> None:
    """One connection whose login the server rejects with ``code``, then closes; the clock moves on 1 s."""
    client.connection_made(clock())
    client.take(clock())
    client.data_received(soupbin.encode_login_rejected(code), clock())
    client.connection_lost(clock())
    clock.advance(1_000 * MS)


def test_login_rejected_a_when_limit_reached_then_login_refused_and_no_reconnect() -> None:
    client, recorder, clock = _session(3)
    _refused(client, clock)
    _refused(client, clock)
    assert state_of(client) is SoupClientState.DISCONNECTED
    assert client.reconnect_delay_ns(1) is not None
    _refused(client, clock)
    assert state_of(client) is SoupClientState.LOGIN_REFUSED
    assert (client.login_refusals, client.last_login_refusal) == (3, NOT_AUTHORIZED)
    assert client.reason.startswith(f"login refused 3 times in a row ({NOT_AUTHORIZED})")
    assert client.reconnect_delay_ns(1) is None
    assert client.reconnect_delay_ns(5) is None
    clock.advance(3_600_000 * MS)  # an hour later: still nothing to schedule
    assert client.reconnect_delay_ns(1) is None
    assert [code for code, _ in recorder.rejects] == ["A", "A", "A"]


def test_login_refused_when_connection_made_anyway_then_no_login_request_sent() -> None:
    client, recorder, clock = _session(1)
    _refused(client, clock)
    client.connection_made(clock())
    assert client.take(clock()) == bytearray()
    assert recorder.disconnects[-1] == "session is LOGIN_REFUSED; not logging in again"


def test_login_rejected_s_when_repeated_then_not_counted_and_backoff_goes_on() -> None:
    client, _, clock = _session(2)
    for _ in range(10):
        _refused(client, clock, "S")
    assert state_of(client) is SoupClientState.DISCONNECTED
    assert client.login_refusals == 0
    assert client.last_login_refusal == "session not available (S)"
    assert client.reconnect_delay_ns(1) == CONFIG.reconnect_max_ns


def test_login_rejected_s_between_a_when_limit_then_still_consecutive_a_count() -> None:
    client, _, clock = _session(2)
    _refused(client, clock)
    _refused(client, clock, "S")  # transient: neither counted nor a reset
    assert state_of(client) is SoupClientState.DISCONNECTED
    _refused(client, clock)
    assert state_of(client) is SoupClientState.LOGIN_REFUSED


def test_login_accepted_when_after_refusals_then_count_reset() -> None:
    client, _, clock = _session(3)
    _refused(client, clock)
    _refused(client, clock)
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_accepted("S1", 1), clock())
    assert client.login_refusals == 0
    client.connection_lost(clock())
    _refused(client, clock)
    _refused(client, clock)
    assert state_of(client) is SoupClientState.DISCONNECTED  # 2 in a row since the login, not 4
    _refused(client, clock)
    assert state_of(client) is SoupClientState.LOGIN_REFUSED


def test_max_login_refusals_when_zero_then_retried_for_ever() -> None:
    client, _, clock = _session(0)
    for _ in range(50):
        _refused(client, clock)
    assert state_of(client) is SoupClientState.DISCONNECTED
    assert client.login_refusals == 50
    assert client.reconnect_delay_ns(1) == CONFIG.reconnect_max_ns


def test_reconnect_when_login_refused_then_count_cleared_and_next_connection_logs_in() -> None:
    client, _, clock = _session(2)
    _refused(client, clock)
    _refused(client, clock)
    assert client.reconnect() is True
    assert state_of(client) is SoupClientState.DISCONNECTED
    assert client.login_refusals == 0
    assert client.reconnect_delay_ns(1) == CONFIG.reconnect_initial_ns  # a fresh start: no backoff left over
    client.connection_made(clock())
    assert state_of(client) is SoupClientState.LOGGING_IN
    assert client.take(clock())[2:3] == b"L"
    client.data_received(soupbin.encode_login_rejected("A"), clock())
    client.connection_lost(clock())
    assert state_of(client) is SoupClientState.DISCONNECTED  # counting starts again from 0: 1 of 2


@pytest.mark.parametrize("state", ["fresh", "logged_in", "ended"])
def test_reconnect_when_not_login_refused_then_false_and_nothing_changed(state: str) -> None:
    client, _, clock = _session(2)
    if state != "fresh":
        client.connection_made(clock())
        client.data_received(soupbin.encode_login_accepted("S1", 1), clock())
    if state == "ended":
        client.data_received(soupbin.END_OF_SESSION_PACKET, clock())
    before = client.state
    assert client.reconnect() is False
    assert state_of(client) is before


def test_login_rejected_a_when_connection_dropped_before_close_then_counted_once() -> None:
    client, _, clock = _session(2)
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_rejected("A") + soupbin.encode_login_rejected("A"), clock())
    client.connection_lost(clock())
    assert client.login_refusals == 1  # the second packet came after the session asked to close: not read
    assert state_of(client) is SoupClientState.DISCONNECTED


def test_venue_config_when_max_login_refusals_bad_then_clear_error_and_default_3() -> None:
    raw = {"protocol": "ouch", "name": "n", "host": "h", "port": 1, "username": "U", "password": "P"}
    assert decode_venue_config(raw, "venues[0]").max_login_refusals == 3
    assert decode_venue_config({**raw, "max_login_refusals": 0}, "venues[0]").max_login_refusals == 0
    for bad in (-1, "three", 1.5):
        with pytest.raises(VenueConfigError) as error:
            decode_venue_config({**raw, "max_login_refusals": bad}, "venues[0]")
        assert "max_login_refusals" in str(error.value)
