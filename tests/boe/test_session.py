"""BOE client session: every transition and timer with a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from model.clock import FakeClock
from tests.boe.golden import CAPTURES, hexb
from venues.boe.codec import (
    CLIENT_HEARTBEAT_BYTES,
    LOGOUT_REQUEST_BYTES,
    REPLAY_COMPLETE_BYTES,
    SERVER_HEARTBEAT_BYTES,
    decode_inbound,
    encode_message,
)
from venues.boe.messages import (
    LoginRequest,
    LoginResponse,
    Logout,
    OrderAcknowledgment,
    OrderCancelled,
    OrderRejected,
    ReturnBitfields,
    UnitSequences,
)
from venues.boe.session import (
    BEHIND,
    GAP,
    REPLAY_SHORT,
    BoeClientSession,
    BoeSessionConfig,
    BoeSessionState,
    SequenceIssue,
    split_venue_seq,
    venue_seq,
)

MS = 1_000_000


@dataclass
class Recorder:
    """A listener that writes down everything the session says."""

    accepted: list[LoginResponse] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    messages: list[tuple[int, int, bool, bytes]] = field(default_factory=list)
    replay_completes: int = 0
    issues: list[SequenceIssue] = field(default_factory=list)
    logouts: list[Logout] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_login_accepted(self, response: LoginResponse) -> None:
        self.accepted.append(response)

    def on_login_rejected(self, status: str, text: str) -> None:
        self.rejected.append((status, text))

    def on_application(self, message: memoryview, unit: int, sequence: int, replay: bool) -> None:
        self.messages.append((unit, sequence, replay, bytes(message)))

    def on_replay_complete(self) -> None:
        self.replay_completes += 1

    def on_sequence_issue(self, issue: SequenceIssue) -> None:
        self.issues.append(issue)

    def on_logout(self, logout: Logout) -> None:
        self.logouts.append(logout)

    def on_disconnect_wanted(self, reason: str) -> None:
        self.disconnects.append(reason)

    def on_protocol_error(self, text: str) -> None:
        self.errors.append(text)


CONFIG = BoeSessionConfig(
    session_sub_id="0010",
    username="BATS",
    password="test",
    return_bitfields={0x25: hexb("00 41"), 0x2A: b"\x00"},
    reconnect_initial_ns=100 * MS,
    reconnect_max_ns=1_000 * MS,
)


def _session(config: BoeSessionConfig = CONFIG) -> tuple[BoeClientSession, Recorder, FakeClock]:
    recorder = Recorder()
    return BoeClientSession(config, recorder), recorder, FakeClock()


def state_of(client: BoeClientSession) -> BoeSessionState:
    """Return the state (a call, so the type checker does not keep an earlier comparison's narrowing)."""
    return client.state


def accepted(last: int = 0, units: tuple[tuple[int, int], ...] = ((1, 0), (2, 0))) -> bytes:
    return encode_message(LoginResponse("A", "Login Accepted", 0, last, units))


def ack(unit: int, sequence: int, cl_ord_id: str = "C1") -> bytes:
    return encode_message(OrderAcknowledgment(unit, sequence, 1, cl_ord_id, 99))


def _logged_in(
    config: BoeSessionConfig = CONFIG, units: tuple[tuple[int, int], ...] = ((1, 0), (2, 0))
) -> tuple[BoeClientSession, Recorder, FakeClock]:
    client, recorder, clock = _session(config)
    client.connection_made(clock())
    client.take(clock())
    client.data_received(accepted(0, units) + REPLAY_COMPLETE_BYTES, clock())
    return client, recorder, clock


# ---- login ----------------------------------------------------------------------------------------


def test_connection_made_when_fresh_then_login_with_return_groups_and_no_units() -> None:
    client, _, clock = _session()
    client.connection_made(clock())
    assert state_of(client) is BoeSessionState.LOGGING_IN
    login = decode_inbound(bytes(client.take(clock())))
    assert login == LoginRequest(
        "0010", "BATS", "test", (ReturnBitfields(0x25, hexb("00 41")), ReturnBitfields(0x2A, b"\x00"))
    )


def test_connection_made_when_units_known_then_login_carries_each_high_water_mark() -> None:
    client, _, clock = _session()
    client.resume({2: 7, 1: 40}, next_outbound=31)
    client.connection_made(clock())
    login = decode_inbound(bytes(client.take(clock())))
    assert isinstance(login, LoginRequest)
    assert login.param_groups[0] == UnitSequences(0, ((1, 40), (2, 7)))
    assert client.next_outbound == 31


def test_connection_made_when_suppressing_unlisted_units_then_flag_set_even_without_units() -> None:
    client, _, clock = _session(BoeSessionConfig("1", "U", "P", no_unspecified_unit_replay=True))
    client.connection_made(clock())
    assert decode_inbound(bytes(client.take(clock()))) == LoginRequest("1", "U", "P", (UnitSequences(1, ()),))


def test_captured_login_response_when_received_then_replaying_with_units_and_last_processed() -> None:
    client, recorder, clock = _session()
    client.resume({1: 40})
    client.connection_made(clock())
    client.data_received(CAPTURES["LOGIN_RESPONSE"], clock())
    assert client.state is BoeSessionState.REPLAYING
    assert client.replaying and not client.ready
    assert client.replay_targets == {1: 46, 2: 0, 3: 0}
    assert client.units == {1: 40, 2: 0, 3: 0}
    assert client.last_processed == 30
    assert client.next_outbound == 31
    assert recorder.accepted[0].last_received_sequence == 30


def test_login_response_when_rejected_then_reported_disconnect_and_backoff_grows() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(encode_message(LoginResponse("N", "Invalid password", 0, 0)), clock())
    assert recorder.rejected == [("N", "Invalid password")]
    assert recorder.disconnects == ["login rejected: Invalid password (N)"]
    assert client.reconnect_delay_ns(1) == 100 * MS
    client.connection_lost(clock())
    assert client.state is BoeSessionState.DISCONNECTED
    assert client.reason == "login rejected: Invalid password (N)"
    assert client.reconnect_delay_ns(1) == 200 * MS  # a failed login backs off like a failed connect
    assert client.reconnect_delay_ns(2) == 400 * MS
    client.connection_made(clock())
    client.data_received(encode_message(LoginResponse("D", "", 0, 0)), clock())
    assert recorder.rejected[-1] == ("D", "session disabled")
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 400 * MS
    assert client.reconnect_delay_ns(9) == 1_000 * MS  # capped


def test_login_response_when_undecodable_then_protocol_error_and_disconnect() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(hexb("BA BA 09 00 24 00 00 00 00 00 41"), clock())
    assert recorder.errors == ["bad Login Response: Login Response: 11 bytes, needs 78"]
    assert recorder.disconnects == ["bad Login Response: Login Response: 11 bytes, needs 78"]


def test_login_when_no_response_within_server_timeout_then_disconnect() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.take(clock())
    assert client.poll(clock()) == 1_000 * MS  # a heartbeat interval: a Login Response would not move the timer
    clock.advance_ms(4_999)
    client.poll(clock())
    assert client.out == b""  # no heartbeats before the login is accepted
    clock.advance_ms(1)
    client.poll(clock())
    # rev57boe s19: counted as a login timeout and a protocol error whichever timer fires first (the old code: the
    # disconnect "no Login Response from Cboe for 5000 ms" alone, login_timeouts and protocol_errors 0)
    text = "no Login Response 5000 ms after the Login Request (nothing from Cboe for 5000 ms: server_timeout)"
    assert (client.login_timeouts, client.protocol_errors) == (1, 1)
    assert recorder.disconnects == [text]
    assert recorder.errors == [text]
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 200 * MS


def test_login_when_cboe_only_heartbeats_then_disconnect_after_the_login_timeout_counted_and_backed_off() -> None:
    # rev50boe s13: a venue that accepts TCP, never answers the Login Request and sends a Server Heartbeat every
    # second kept the session LOGGING_IN for ever (the heartbeats reset the server timeout), with nothing logged.
    client, recorder, clock = _session()
    for attempt in (1, 2):
        client.connection_made(clock())
        client.take(clock())
        for _ in range(9):
            clock.advance_ms(1_000)
            client.data_received(hexb("BA BA 08 00 09 00 00 00 00 00"), clock())  # Server Heartbeat
            client.poll(clock())
        assert recorder.disconnects == ["no Login Response 10000 ms after the Login Request"] * (attempt - 1)
        clock.advance_ms(1_000)
        client.poll(clock())
        client.poll(clock())
        assert recorder.disconnects == ["no Login Response 10000 ms after the Login Request"] * attempt
        assert (client.login_timeouts, client.protocol_errors) == (attempt, attempt)
        client.connection_lost(clock())
        assert client.state is BoeSessionState.DISCONNECTED
        assert client.reconnect_delay_ns(1) == (100 << attempt) * MS  # a failed login: the backoff doubles


# ---- replay and sequencing ------------------------------------------------------------------------------


def test_replay_when_messages_before_replay_complete_then_flagged_and_ready_after() -> None:
    client, recorder, clock = _session()
    client.resume({1: 40})
    client.connection_made(clock())
    client.data_received(accepted(30, ((1, 42), (2, 1))) + ack(1, 41) + ack(1, 42) + ack(2, 1), clock())
    assert [(u, s, r) for u, s, r, _ in recorder.messages] == [(1, 41, True), (1, 42, True), (2, 1, True)]
    assert recorder.replay_completes == 0
    client.data_received(REPLAY_COMPLETE_BYTES + ack(1, 43), clock())
    assert recorder.replay_completes == 1
    assert client.ready
    assert [(u, s, r) for u, s, r, _ in recorder.messages][-1] == (1, 43, False)
    assert client.units == {1: 43, 2: 1}
    assert client.replayed == 3
    assert recorder.issues == []


def test_application_when_sequence_repeats_then_delivered_for_the_adapter_to_decide_and_counted() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(ack(1, 1) + ack(1, 2) + ack(1, 2) + ack(1, 1), clock())
    assert [s for _, s, _, _ in recorder.messages] == [1, 2, 2, 1]  # the exactly-once component drops repeats
    assert recorder.issues == []
    assert client.repeats == 2
    assert client.units[1] == 2  # the mark never goes back


def test_application_when_sequence_jumps_then_gap_reported_and_delivered() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(ack(2, 1) + ack(2, 5), clock())
    assert [s for _, s, _, _ in recorder.messages] == [1, 5]
    assert recorder.issues == [SequenceIssue(GAP, 2, 2, 5, "unit 2: 2..4 missing")]
    assert client.units[2] == 5


def test_application_when_units_interleave_then_each_tracked_separately() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(ack(1, 1) + ack(2, 1) + ack(1, 2) + ack(2, 2), clock())
    assert recorder.issues == []
    assert client.units == {1: 2, 2: 2}


def test_application_when_unit_0_sequence_0_then_delivered_untracked() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(CAPTURES["ORDER_REJECTED"] * 2, clock())
    assert [(u, s, r) for u, s, r, _ in recorder.messages] == [(0, 0, False), (0, 0, False)]
    assert client.unsequenced == 2
    assert 0 not in client.units


def test_application_when_before_login_then_protocol_error_and_ignored() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(ack(1, 1), clock())
    assert recorder.messages == []
    assert recorder.errors == ["Order Acknowledgment while LOGGING_IN; ignored"]


def test_login_response_when_cboe_behind_our_high_water_mark_then_reported() -> None:
    client, recorder, clock = _session()
    client.resume({1: 50})
    client.connection_made(clock())
    client.data_received(accepted(0, ((1, 46),)), clock())
    text = "unit 1: Cboe has up to 46, we saw 50: Cboe restarted its numbering; its messages from 1 on are new"
    assert recorder.issues == [SequenceIssue(BEHIND, 1, 50, 46, text)]


def test_replay_complete_when_unit_short_of_login_response_then_reported() -> None:
    client, recorder, clock = _session()
    client.resume({1: 40})
    client.connection_made(clock())
    client.data_received(accepted(0, ((1, 46), (2, 0))) + ack(1, 41) + REPLAY_COMPLETE_BYTES, clock())
    assert recorder.issues == [SequenceIssue(REPLAY_SHORT, 1, 46, 41, "unit 1: replay ended at 41, Cboe had 46")]


def test_captured_replayed_cancel_when_unit_1_resumed_at_45_then_delivered_as_replay() -> None:
    client, recorder, clock = _session()
    client.resume({1: 45})
    client.connection_made(clock())
    client.data_received(CAPTURES["LOGIN_RESPONSE"] + CAPTURES["ORDER_CANCELLED"] + REPLAY_COMPLETE_BYTES, clock())
    assert [(u, s, r) for u, s, r, _ in recorder.messages] == [(1, 46, True)]
    assert recorder.issues == []


def test_replay_complete_when_not_replaying_then_protocol_error() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(REPLAY_COMPLETE_BYTES, clock())
    assert recorder.errors == ["Replay Complete while LOGGED_IN; ignored"]


def test_replay_when_replay_complete_never_comes_then_disconnect_and_backoff() -> None:
    config = BoeSessionConfig("1", "U", "P", replay_timeout_ns=3_000 * MS, server_timeout_ns=5_000 * MS)
    client, recorder, clock = _session(config)
    client.connection_made(clock())
    client.data_received(accepted(), clock())
    clock.advance_ms(2_000)
    client.data_received(SERVER_HEARTBEAT_BYTES, clock())
    assert client.poll(clock()) == 1_000 * MS  # replay deadline first
    clock.advance_ms(1_000)
    client.poll(clock())
    assert recorder.disconnects == ["no Replay Complete 3000 ms after login"]
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 200 * MS


def test_splitter_when_framing_lost_then_protocol_error_and_disconnect() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(b"\x00\x01\x02\x03", clock())
    assert recorder.errors == ["framing lost: StartOfMessage 00 01 at byte 0"]
    assert recorder.disconnects == ["framing lost: StartOfMessage 00 01 at byte 0"]


def test_unknown_message_type_when_received_then_protocol_error_and_ignored() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(hexb("BA BA 08 00 77 00 00 00 00 00") + ack(1, 1), clock())
    assert recorder.errors == ["unknown message type 0x77 from Cboe while LOGGED_IN; ignored"]
    assert len(recorder.messages) == 1


# ---- heartbeats and timeouts -----------------------------------------------------------------------------


def test_poll_when_one_second_without_sending_then_client_heartbeat_queued() -> None:
    client, _, clock = _logged_in()
    clock.advance_ms(999)
    client.data_received(SERVER_HEARTBEAT_BYTES, clock())
    assert client.poll(clock()) == 1 * MS
    assert client.out == b""
    clock.advance_ms(1)
    client.poll(clock())
    assert bytes(client.take(clock())) == CLIENT_HEARTBEAT_BYTES
    assert client.heartbeats_sent == 1


def test_poll_when_data_sent_recently_then_no_heartbeat_and_deadline_returned() -> None:
    client, _, clock = _logged_in()
    clock.advance_ms(800)
    client.out += b"x"
    client.take(clock())
    clock.advance_ms(500)
    client.data_received(SERVER_HEARTBEAT_BYTES, clock())
    assert client.poll(clock()) == 500 * MS  # sent at 800 ms, next heartbeat due at 1800 ms
    assert client.out == b""


def test_poll_when_replaying_then_heartbeats_too() -> None:
    client, _, clock = _session()
    client.connection_made(clock())
    client.take(clock())
    client.data_received(accepted(), clock())
    clock.advance_ms(1_000)
    client.poll(clock())
    assert bytes(client.out) == CLIENT_HEARTBEAT_BYTES


def test_poll_when_server_silent_for_five_seconds_then_disconnect_once() -> None:
    client, recorder, clock = _logged_in()
    clock.advance_ms(4_999)
    client.poll(clock())
    assert recorder.disconnects == []
    clock.advance_ms(1)
    client.poll(clock())
    client.poll(clock())
    assert recorder.disconnects == ["no data from Cboe for 5000 ms"]
    client.connection_lost(clock())
    assert client.state is BoeSessionState.DISCONNECTED
    assert client.reconnect_delay_ns(1) == 100 * MS  # it had got past the login


def test_poll_when_only_part_of_a_message_keeps_coming_then_disconnect_after_five_seconds() -> None:
    # A header claiming 65,535 bytes: every later message, Server Heartbeats included, is folded into it. Bytes
    # keep arriving but no message completes, which is silence for Cboe's rule (no data, no heartbeat for 5 s).
    # The disconnect, and a protocol error (a WARNING in the adapter), name the frame and its claimed length
    # (rev48boe: "no data from Cboe" at INFO, while bytes kept arriving, hid the lying MessageLength).
    client, recorder, clock = _logged_in()
    client.data_received(hexb("BA BA FF FF 25 01 00 00 00 00"), clock())
    for _ in range(5):
        clock.advance_ms(1_000)
        client.data_received(SERVER_HEARTBEAT_BYTES + ack(1, 1), clock())
        client.poll(clock())
    held = 10 + 5 * (len(SERVER_HEARTBEAT_BYTES) + len(ack(1, 1)))
    text = (
        "no whole message from Cboe for 5000 ms: an incomplete Order Acknowledgment (message type 0x25, matching "
        f"unit 1) claims MessageLength 65535: {held} of its 65537 bytes arrived, every later byte taken as part of it"
    )
    assert recorder.disconnects == [text]
    assert recorder.errors == [text]
    assert recorder.messages == []


def test_poll_when_silent_with_two_bytes_of_a_frame_held_then_the_partial_frame_named() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(hexb("BA BA"), clock())
    clock.advance_ms(5_000)
    client.poll(clock())
    assert recorder.disconnects == [
        "no whole message from Cboe for 5000 ms: 2 byte(s) of a message, before its MessageLength"
    ]


def test_poll_when_disconnected_then_interval_and_nothing_queued() -> None:
    client, _, clock = _session()
    assert client.poll(clock()) == 1_000 * MS
    assert client.out == b""


# ---- logout -------------------------------------------------------------------------------------------------


def test_logout_when_logged_in_then_request_then_logout_u_then_logged_out_for_good() -> None:
    client, recorder, clock = _logged_in()
    client.logout(clock())
    assert bytes(client.take(clock())) == LOGOUT_REQUEST_BYTES
    assert client.state is BoeSessionState.LOGGING_OUT
    client.data_received(ack(1, 1), clock())  # queued data still arrives
    client.data_received(encode_message(Logout("U", "User requested", 12, ((1, 1),))), clock())
    assert recorder.logouts == [Logout("U", "User requested", 12, ((1, 1),))]
    assert recorder.disconnects == ["logged out"]
    assert state_of(client) is BoeSessionState.LOGGED_OUT
    client.connection_lost(clock())
    assert client.finished
    assert client.reconnect_delay_ns(1) is None
    assert client.last_processed == 12


def test_logout_when_no_answer_then_disconnect_after_timeout_and_logged_out() -> None:
    client, recorder, clock = _logged_in()
    client.logout(clock())
    for _ in range(6):
        clock.advance_ms(999)
        client.data_received(SERVER_HEARTBEAT_BYTES, clock())
        client.poll(clock())
    assert recorder.disconnects == ["no Logout 5000 ms after Logout Request"]
    client.connection_lost(clock())
    assert client.state is BoeSessionState.LOGGED_OUT


def test_logout_when_disconnected_then_logged_out_and_no_reconnect() -> None:
    client, _, clock = _session()
    client.logout(clock())
    assert client.state is BoeSessionState.LOGGED_OUT
    client.connection_made(clock())
    assert client.out == b""
    assert client.reconnect_delay_ns(1) is None


def test_logout_e_when_received_then_ended_and_no_reconnect() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(encode_message(Logout("E", "End of day", 0)), clock())
    assert client.state is BoeSessionState.ENDED
    assert recorder.disconnects == ["end of day (End of day)"]
    client.connection_lost(clock())
    assert client.state is BoeSessionState.ENDED
    assert client.reconnect_delay_ns(1) is None


@pytest.mark.parametrize("reason", ["A", "!"])
def test_logout_from_cboe_when_administrative_or_violation_then_reconnect_with_backoff(reason: str) -> None:
    client, recorder, clock = _logged_in()
    client.data_received(encode_message(Logout(reason, "go away", 3)), clock())
    assert recorder.disconnects == [f"logged out by Cboe: {reason} go away"]
    client.connection_lost(clock())
    assert client.state is BoeSessionState.DISCONNECTED
    assert client.reconnect_delay_ns(1) == 200 * MS
    client.connection_made(clock())
    assert state_of(client) is BoeSessionState.LOGGING_IN


def test_replay_complete_when_received_then_backoff_resets() -> None:
    client, _, clock = _session()
    for _ in range(2):
        client.connection_made(clock())
        client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 400 * MS
    client.connection_made(clock())
    client.data_received(accepted() + REPLAY_COMPLETE_BYTES, clock())
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 100 * MS


# ---- outbound sequencing and re-login --------------------------------------------------------------------


def test_allocate_sequence_when_logged_in_then_continues_above_cboe_last_processed() -> None:
    client, _, clock = _session()
    assert [client.allocate_sequence() for _ in range(3)] == [1, 2, 3]
    client.connection_made(clock())
    client.data_received(accepted(last=10), clock())
    assert client.allocate_sequence() == 11
    client.connection_lost(clock())
    client.connection_made(clock())
    client.data_received(accepted(last=5), clock())  # Cboe lost our 6..11: never step backwards
    assert client.allocate_sequence() == 12


def test_allocate_sequence_when_not_sequencing_then_zero() -> None:
    client, _, _ = _session(BoeSessionConfig("1", "U", "P", sequence_outbound=False))
    assert client.allocate_sequence() == 0


def test_relogin_when_connection_lost_then_login_carries_what_was_received() -> None:
    client, _, clock = _logged_in()
    client.data_received(ack(1, 1) + ack(1, 2) + ack(2, 1), clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    login = decode_inbound(bytes(client.take(clock())))
    assert isinstance(login, LoginRequest)
    assert login.param_groups[0] == UnitSequences(0, ((1, 2), (2, 1)))


def test_resume_when_connected_then_runtime_error() -> None:
    client, _, clock = _session()
    client.connection_made(clock())
    with pytest.raises(RuntimeError):
        client.resume({1: 1})


def test_data_received_when_split_anywhere_then_same_result() -> None:
    stream = accepted(0, ((1, 2),)) + ack(1, 1) + ack(1, 2) + REPLAY_COMPLETE_BYTES
    stream += encode_message(OrderCancelled(1, 3, 5, "C1", "U"))
    for cut in range(1, len(stream)):
        client, recorder, clock = _session()
        client.connection_made(clock())
        client.data_received(stream[:cut], clock())
        client.data_received(stream[cut:], clock())
        assert [(s, r) for _, s, r, _ in recorder.messages] == [(1, True), (2, True), (3, False)]
        assert client.ready


def test_venue_seq_when_packed_then_orders_within_a_unit_and_splits_back() -> None:
    assert venue_seq(1, 46) < venue_seq(1, 47) < venue_seq(2, 1)
    assert split_venue_seq(venue_seq(3, 99)) == (3, 99)
    assert venue_seq(0, 0) == 0


def test_rejected_from_order_handler_when_replaying_then_flagged_replay() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(accepted() + encode_message(OrderRejected(0, 0, 1, "C9", "y", "replay")), clock())
    assert [(u, s, r) for u, s, r, _ in recorder.messages] == [(0, 0, True)]


def test_poll_when_logging_in_then_next_poll_one_interval_after_the_login_so_the_first_heartbeat_is_not_late() -> None:
    """The connector polls once at connect; the Login Response does not move its timer (Cboe cuts at 5 s of silence)."""
    client, _, clock = _session()
    client.connection_made(clock())
    client.take(clock())
    wait = client.poll(clock())
    assert wait == CONFIG.heartbeat_interval_ns  # not the server timeout
    assert client.out == b""  # no heartbeat before the Login Response
    clock.advance_ms(20)
    client.data_received(accepted(), clock())
    clock.advance(wait - 20 * MS)
    client.poll(clock())
    assert bytes(client.take(clock())) == CLIENT_HEARTBEAT_BYTES


def test_poll_when_login_response_slow_then_polled_every_interval_not_spinning() -> None:
    """review28: past one interval without a Login Response, the deadline was in the past: poll returned 1 ns."""
    client, _, clock = _session()
    client.connection_made(clock())
    client.take(clock())
    clock.advance_ms(1_500)
    assert [client.poll(clock()), client.poll(clock())] == [CONFIG.heartbeat_interval_ns] * 2
    assert client.out == b""
    clock.advance_ms(3_000)
    assert client.poll(clock()) == 500 * MS  # 4.5 s in: Cboe's 5 s server timeout comes first
