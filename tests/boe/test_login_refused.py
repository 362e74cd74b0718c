"""BOE login refusals (fake clock): ``max_login_refusals`` Login Responses N / D in a row stop the session.

N (not authorized) and D (session disabled) refuse the credentials: after the limit the session sits in
LOGIN_REFUSED and asks for no reconnect until ``reconnect()``. The other refusals (B session in use, Q sequence
ahead, ...) back off as before and are not counted; Replay Complete resets the count.
"""

from __future__ import annotations

import msgspec
import pytest

from model.clock import FakeClock
from tests.boe.test_session import CONFIG, Recorder, accepted
from venues.boe.codec import REPLAY_COMPLETE_BYTES, encode_message
from venues.boe.messages import LoginResponse
from venues.boe.session import BoeClientSession, BoeSessionState
from venues.registry import VenueConfigError, decode_venue_config

MS = 1_000_000


def _session(max_login_refusals: int = 3) -> tuple[BoeClientSession, Recorder, FakeClock]:
    config = msgspec.structs.replace(CONFIG, max_login_refusals=max_login_refusals)
    recorder = Recorder()
    return BoeClientSession(config, recorder), recorder, FakeClock()


def state_of(client: BoeClientSession) -> BoeSessionState:
    """Return the state (a call, so the type checker does not keep an earlier comparison's narrowing)."""
    return client.state


def _refused(client: BoeClientSession, clock: FakeClock, status: str = "N", text: str = "") -> None:
    """One connection whose login Cboe refuses with ``status``, then closes; the clock moves on 1 s."""
    client.connection_made(clock())
    client.take(clock())
    client.data_received(encode_message(LoginResponse(status, text, 0, 0)), clock())
    client.connection_lost(clock())
    clock.advance(1_000 * MS)


@pytest.mark.parametrize(("status", "text"), [("N", "Invalid password"), ("D", "session disabled")])
def test_login_refused_when_limit_reached_then_login_refused_and_no_reconnect(status: str, text: str) -> None:
    client, recorder, clock = _session(3)
    _refused(client, clock, status, "Invalid password" if status == "N" else "")
    _refused(client, clock, status, "Invalid password" if status == "N" else "")
    assert state_of(client) is BoeSessionState.DISCONNECTED
    assert client.reconnect_delay_ns(1) is not None
    _refused(client, clock, status, "Invalid password" if status == "N" else "")
    assert state_of(client) is BoeSessionState.LOGIN_REFUSED
    assert (client.login_refusals, client.last_login_refusal) == (3, f"{text} ({status})")
    assert client.reason.startswith(f"login refused 3 times in a row ({text} ({status}))")
    assert client.reconnect_delay_ns(1) is None
    clock.advance(3_600_000 * MS)
    assert client.reconnect_delay_ns(7) is None
    assert [s for s, _ in recorder.rejected] == [status] * 3


@pytest.mark.parametrize("status", ["B", "Q", "S", "I", "F", "M"])
def test_login_refused_when_transient_or_sequence_status_then_not_counted_and_backoff_goes_on(status: str) -> None:
    client, _, clock = _session(2)
    for _ in range(6):
        _refused(client, clock, status)
    assert state_of(client) is BoeSessionState.DISCONNECTED
    assert client.login_refusals == 0
    assert client.reconnect_delay_ns(1) == CONFIG.reconnect_max_ns


def test_login_refused_when_b_between_n_then_n_still_consecutive() -> None:
    client, _, clock = _session(2)
    _refused(client, clock, "N")
    _refused(client, clock, "B")
    assert state_of(client) is BoeSessionState.DISCONNECTED
    _refused(client, clock, "D")
    assert state_of(client) is BoeSessionState.LOGIN_REFUSED


def test_replay_complete_when_after_refusals_then_count_reset() -> None:
    client, _, clock = _session(3)
    _refused(client, clock)
    _refused(client, clock)
    client.connection_made(clock())
    client.take(clock())
    client.data_received(accepted() + REPLAY_COMPLETE_BYTES, clock())
    assert client.login_refusals == 0
    client.connection_lost(clock())
    _refused(client, clock)
    _refused(client, clock)
    assert state_of(client) is BoeSessionState.DISCONNECTED
    _refused(client, clock)
    assert state_of(client) is BoeSessionState.LOGIN_REFUSED


def test_max_login_refusals_when_zero_then_retried_for_ever() -> None:
    client, _, clock = _session(0)
    for _ in range(40):
        _refused(client, clock)
    assert state_of(client) is BoeSessionState.DISCONNECTED
    assert client.reconnect_delay_ns(1) == CONFIG.reconnect_max_ns


def test_reconnect_when_login_refused_then_count_cleared_and_next_connection_logs_in() -> None:
    client, recorder, clock = _session(1)
    _refused(client, clock)
    assert state_of(client) is BoeSessionState.LOGIN_REFUSED
    client.connection_made(clock())  # a connection anyway: no login
    assert client.take(clock()) == bytearray()
    assert recorder.disconnects[-1] == "session is LOGIN_REFUSED; not logging in again"
    client.connection_lost(clock())
    assert client.reconnect() is True
    assert state_of(client) is BoeSessionState.DISCONNECTED
    assert client.reconnect_delay_ns(1) == CONFIG.reconnect_initial_ns
    client.connection_made(clock())
    assert state_of(client) is BoeSessionState.LOGGING_IN
    assert client.take(clock())
    assert client.reconnect() is False  # only from LOGIN_REFUSED


def test_venue_config_when_max_login_refusals_bad_then_clear_error_and_default_3() -> None:
    raw = {
        "protocol": "boe",
        "name": "cboe",
        "host": "h",
        "port": 1,
        "session_sub_id": "0001",
        "username": "USER",
        "password": "PASS",
    }
    config = decode_venue_config(raw, "venues[0]")
    assert config.session_config().max_login_refusals == 3
    assert decode_venue_config({**raw, "max_login_refusals": 0}, "venues[0]").max_login_refusals == 0
    for bad in (-1, "3", 1001):
        with pytest.raises(VenueConfigError) as error:
            decode_venue_config({**raw, "max_login_refusals": bad}, "venues[0]")
        assert "max_login_refusals" in str(error.value)
