"""BOE client session: a Login Response naming a unit's highest sequence below the last one we received.

Cboe's number is authoritative (reference 4.2: the highest sequence available on the unit): it
restarted that unit's numbering, so its messages from 1 on are new, and the next login lists the
unit from 0 of the new numbering. Refused ``Q`` (sequence ahead, reference 7.2 item 7) says the same
when the response lists the units. A replay from below our mark, with Cboe's highest at or above
it, is not a restart: its messages are repeats.
"""

from __future__ import annotations

from model.clock import FakeClock
from tests.boe.test_session import CONFIG, Recorder, accepted, ack, state_of
from venues.boe.codec import REPLAY_COMPLETE_BYTES, decode_inbound, encode_message
from venues.boe.messages import LoginRequest, LoginResponse, UnitSequences
from venues.boe.session import BEHIND, BoeClientSession, BoeSessionState


def _resumed(units: dict[int, int]) -> tuple[BoeClientSession, Recorder, FakeClock]:
    recorder = Recorder()
    client = BoeClientSession(CONFIG, recorder)
    client.resume(units)
    client.connection_made(0)
    client.take(0)
    return client, recorder, FakeClock()


def _units_of_next_login(client: BoeClientSession, clock: FakeClock) -> tuple[tuple[int, int], ...]:
    client.connection_lost(clock())
    client.connection_made(clock())
    login = decode_inbound(bytes(client.take(clock())))
    assert isinstance(login, LoginRequest)
    group = login.param_groups[0]
    assert isinstance(group, UnitSequences)
    return group.units


def test_login_accepted_when_a_unit_restarted_at_0_then_its_messages_from_1_are_new_not_repeats() -> None:
    client, recorder, clock = _resumed({1: 50, 2: 7})
    client.data_received(accepted(0, ((1, 0), (2, 7))) + REPLAY_COMPLETE_BYTES + ack(1, 1) + ack(1, 2), clock())
    assert state_of(client) is BoeSessionState.LOGGED_IN
    assert client.renumbered == {1: 0}
    assert client.numbering_restarts == 1
    assert [(unit, seq) for unit, seq, _, _ in recorder.messages] == [(1, 1), (1, 2)]
    assert client.repeats == 0
    assert client.units == {1: 2, 2: 7}
    assert recorder.disconnects == []
    assert [issue.kind for issue in recorder.issues] == [BEHIND]


def test_login_accepted_when_a_unit_restarted_and_cboe_has_new_messages_then_login_again_from_0() -> None:
    client, recorder, clock = _resumed({1: 50, 2: 7})
    # Cboe has 1..4 in its new numbering; it replays after the 50 we listed, i.e. nothing of unit 1
    client.data_received(accepted(0, ((1, 4), (2, 8))) + ack(2, 8) + REPLAY_COMPLETE_BYTES, clock())
    assert client.renumbered == {1: 4}
    assert len(recorder.disconnects) == 1 and "1: 1..4" in recorder.disconnects[0]
    assert recorder.messages == []  # nothing after the Login Response is taken: the next login has it replayed
    assert _units_of_next_login(client, clock) == ((1, 0), (2, 7))
    client.data_received(accepted(0, ((1, 4), (2, 8))) + ack(1, 1) + ack(2, 8) + ack(1, 4), clock())
    assert client.renumbered == {}
    assert client.numbering_restarts == 1
    assert [(unit, seq) for unit, seq, _, _ in recorder.messages] == [(1, 1), (2, 8), (1, 4)]


def test_login_refused_q_when_it_lists_a_unit_below_our_mark_then_next_login_lists_it_from_0() -> None:
    client, recorder, clock = _resumed({1: 50, 2: 7})
    refused = LoginResponse("Q", "Unit 1 sequence 50 ahead of 3", 0, 9, ((1, 3), (2, 7), (3, 0)))
    client.data_received(encode_message(refused), clock())
    assert recorder.rejected == [("Q", "Unit 1 sequence 50 ahead of 3")]
    assert client.renumbered == {1: 3}
    assert client.numbering_restarts == 1
    assert _units_of_next_login(client, clock) == ((1, 0), (2, 7))


def test_login_refused_q_when_it_lists_no_units_then_nothing_is_renumbered() -> None:
    client, recorder, clock = _resumed({1: 50})
    client.data_received(encode_message(LoginResponse("Q", "Sequence ahead", 0, 9)), clock())
    assert recorder.rejected and client.renumbered == {} and client.numbering_restarts == 0
    assert _units_of_next_login(client, clock) == ((1, 50),)


def test_replay_from_below_our_mark_when_cboe_has_at_least_our_mark_then_repeats_not_a_restart() -> None:
    client, _recorder, clock = _resumed({1: 50})
    client.data_received(accepted(0, ((1, 52),)) + ack(1, 49) + ack(1, 50) + ack(1, 51), clock())
    assert client.renumbered == {} and client.numbering_restarts == 0
    assert client.repeats == 2  # delivered; the adapter's exactly-once component drops them
    assert client.units == {1: 51}
