"""BOE login refusals (fake clock): ``max_login_refusals`` lasting refusals in a row stop the session.

N (not authorized) and D (session disabled) refuse the credentials, S (invalid session), F (invalid return
bitfield) and M (structurally invalid) what the venue config makes of the Login Request, and an I (invalid unit)
with no unit left to drop is the same login again: after the limit the session sits in LOGIN_REFUSED and asks
for no reconnect until ``reconnect()``. B (session in use) and Q (sequence ahead) back off as before and are not
counted; Replay Complete resets the count.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pytest

from model.clock import FakeClock
from model.venue_events import VenueState
from tests.boe.harness import Link
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


LASTING = [
    ("N", "Invalid password"),
    ("D", "session disabled"),
    ("S", "invalid session"),
    ("F", "invalid return bitfield in the login"),
    ("M", "Login Request structurally invalid"),
]


@pytest.mark.parametrize(("status", "text"), LASTING)
def test_login_refused_when_limit_reached_then_login_refused_and_no_reconnect(status: str, text: str) -> None:
    """S, F and M (the old code: retried for ever at the usual backoff) count like N and D."""
    client, recorder, clock = _session(3)
    sent = "Invalid password" if status == "N" else ""
    _refused(client, clock, status, sent)
    _refused(client, clock, status, sent)
    assert state_of(client) is BoeSessionState.DISCONNECTED
    assert client.reconnect_delay_ns(1) is not None
    _refused(client, clock, status, sent)
    assert state_of(client) is BoeSessionState.LOGIN_REFUSED
    assert (client.login_refusals, client.last_login_refusal) == (3, f"{text} ({status})")
    assert client.last_refusal_status == status
    assert client.reason.startswith(f"login refused 3 times in a row ({text} ({status}))")
    assert client.reconnect_delay_ns(1) is None
    clock.advance(3_600_000 * MS)
    assert client.reconnect_delay_ns(7) is None
    assert [s for s, _ in recorder.rejected] == [status] * 3


@pytest.mark.parametrize("status", ["B", "Q"])
def test_login_refused_when_transient_or_sequence_status_then_not_counted_and_backoff_goes_on(status: str) -> None:
    """B (session in use: the other connection goes) and Q (sequence ahead: Cboe may catch up) may pass."""
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


def _refused_i(client: BoeClientSession, clock: FakeClock, units: tuple[tuple[int, int], ...]) -> None:
    client.connection_made(clock())
    client.take(clock())
    client.data_received(encode_message(LoginResponse("I", "", 0, 0, units)), clock())
    client.connection_lost(clock())
    clock.advance(1_000 * MS)


def test_login_refused_when_i_and_no_unit_left_to_drop_then_counted_until_login_refused() -> None:
    """An I that drops units corrects the login (not counted); an I with nothing left to drop is the same login
    again, so it counts (the old code retried it for ever)."""
    client, _, clock = _session(2)
    client.resume({1: 5, 9: 3})
    _refused_i(client, clock, ((1, 5),))  # unit 9 dropped: the next login differs
    assert (client.login_refusals, sorted(client.units)) == (0, [1])
    _refused_i(client, clock, ((1, 5),))  # nothing to drop: the same answer would come all day
    assert (client.login_refusals, state_of(client)) == (1, BoeSessionState.DISCONNECTED)
    _refused_i(client, clock, ((1, 5),))
    assert state_of(client) is BoeSessionState.LOGIN_REFUSED
    assert client.last_refusal_status == "I"
    assert client.reconnect_delay_ns(1) is None


def test_adapter_when_cboe_refuses_the_session_then_login_refused_error_names_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The sans-IO simulator knows session 0001 only: a venue configured with 0002 is refused S at every login."""
    link = Link(tmp_path / "boe", session_sub_id="0002")
    with caplog.at_level(logging.WARNING, logger="venues.boe.adapter"):
        for _ in range(3):
            link.connect()
    assert link.venue.state is VenueState.LOGIN_REFUSED
    assert link.venue.reconnect_delay_ns(1) is None
    status = link.venue.status()
    assert (status["login_refusals"], status["last_login_refusal_status"]) == (3, "S")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "LOGIN REFUSED 3 times in a row" in errors[0] and "(S)" in errors[0]
    assert "session_sub_id" in errors[0] and "gateway venue reconnect cboe" in errors[0]
