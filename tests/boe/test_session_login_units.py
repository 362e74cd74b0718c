"""BOE client session: what a refused Login Response's unit list changes (fixboe35).

Only a Login Response ``A`` or ``Q`` is Cboe's word on each unit's highest sequence: a ``B`` (session in
use) listing a unit at 0 renumbered it, and the next login replayed the day as new. A login refused ``I``
(invalid unit) for a unit learned from a message was refused for ever; it now drops the units Cboe does not
have. The reconnect attempt reported counts failed logins as the delay does.
"""

from __future__ import annotations

import pytest

from model.clock import FakeClock
from tests.boe.test_session import CONFIG, Recorder, accepted, ack, state_of
from venues.boe.codec import REPLAY_COMPLETE_BYTES, decode_inbound, encode_message
from venues.boe.messages import LoginRequest, LoginResponse, UnitSequences
from venues.boe.session import BoeClientSession, BoeSessionConfig, BoeSessionState

MS = 1_000_000


def _resumed(units: dict[int, int], config: BoeSessionConfig = CONFIG) -> tuple[BoeClientSession, FakeClock]:
    client = BoeClientSession(config, Recorder())
    client.resume(units)
    client.connection_made(0)
    client.take(0)
    return client, FakeClock()


def _next_login_units(client: BoeClientSession, clock: FakeClock) -> tuple[tuple[int, int], ...]:
    client.connection_lost(clock())
    client.connection_made(clock())
    login = decode_inbound(bytes(client.take(clock())))
    assert isinstance(login, LoginRequest)
    groups = [group for group in login.param_groups if isinstance(group, UnitSequences)]
    return groups[0].units if groups else ()


def _refused(status: str, units: tuple[tuple[int, int], ...] = ()) -> bytes:
    return encode_message(LoginResponse(status, f"refused {status}", 0, 9, units))


@pytest.mark.parametrize("status", ["B", "S", "F", "M", "I", "N"])
def test_login_refused_not_a_or_q_when_listing_a_unit_below_our_mark_then_not_renumbered(status: str) -> None:
    client, clock = _resumed({1: 50})
    client.data_received(_refused(status, ((1, 0),)), clock())
    assert client.renumbered == {}
    assert client.numbering_restarts == 0
    assert _next_login_units(client, clock) == ((1, 50),)


def test_login_refused_b_then_accepted_when_cboe_has_our_mark_then_replay_is_repeats_not_new() -> None:
    client, clock = _resumed({1: 3})
    recorder = client.listener
    assert isinstance(recorder, Recorder)
    client.data_received(_refused("B", ((1, 0),)), clock())
    assert _next_login_units(client, clock) == ((1, 3),)
    client.data_received(accepted(0, ((1, 4),)) + ack(1, 4) + REPLAY_COMPLETE_BYTES, clock())
    assert state_of(client) is BoeSessionState.LOGGED_IN
    assert [(unit, seq) for unit, seq, _, _ in recorder.messages] == [(1, 4)]
    assert client.units == {1: 4} and client.numbering_restarts == 0


def test_login_refused_i_when_it_lists_the_units_then_others_dropped_marks_kept_and_relogin_not_delayed() -> None:
    client, clock = _resumed({1: 5, 9: 1})
    delay_before = client.reconnect_delay_ns(1)
    client.data_received(_refused("I", ((1, 5),)), clock())
    assert client.dropped_units == {9: 1}
    assert _next_login_units(client, clock) == ((1, 5),)
    assert client.reconnect_delay_ns(1) == delay_before  # the correcting re-login is not counted as failed


def test_login_refused_i_when_it_lists_none_then_units_no_login_response_listed_are_dropped() -> None:
    client, clock = _resumed({})
    client.data_received(accepted(0, ((1, 0),)) + REPLAY_COMPLETE_BYTES + ack(1, 1) + ack(9, 1), clock())
    assert client.units == {1: 1, 9: 1}  # unit 9 learned from a message
    assert _next_login_units(client, clock) == ((1, 1), (9, 1))
    client.data_received(_refused("I"), clock())
    assert client.dropped_units == {9: 1}
    assert _next_login_units(client, clock) == ((1, 1),)
    client.data_received(accepted(0, ((1, 1),)) + REPLAY_COMPLETE_BYTES, clock())
    assert state_of(client) is BoeSessionState.LOGGED_IN


def test_login_refused_i_when_nothing_says_which_units_cboe_has_then_all_dropped_for_a_full_replay() -> None:
    client, clock = _resumed({1: 5, 9: 1})  # after a restart: no Login Response seen yet
    client.data_received(_refused("I"), clock())
    assert client.dropped_units == {1: 5, 9: 1}
    assert _next_login_units(client, clock) == ()  # Cboe replays every unit; exactly-once drops what we had


def test_login_refused_i_when_nothing_known_and_no_unspecified_unit_replay_then_units_kept() -> None:
    config = BoeSessionConfig(session_sub_id="0010", username="BATS", password="test", no_unspecified_unit_replay=True)
    client, clock = _resumed({1: 5, 9: 1}, config)
    client.data_received(_refused("I"), clock())
    assert client.dropped_units == {}
    assert _next_login_units(client, clock) == ((1, 5), (9, 1))


def test_reconnect_attempt_when_logins_refused_in_a_row_then_counts_them_as_the_delay_does() -> None:
    client, clock = _resumed({})
    attempts, delays = [], []
    for _ in range(3):
        client.data_received(_refused("B"), clock())
        client.connection_lost(clock())
        attempts.append(client.reconnect_attempt(1))
        delays.append(client.reconnect_delay_ns(1))
        client.connection_made(clock())
        client.take(clock())
    assert attempts == [2, 3, 4]
    assert delays == [200 * MS, 400 * MS, 800 * MS]
    assert client.reconnect_attempt(3) == 6  # two failed TCP connects on top of the three refused logins
