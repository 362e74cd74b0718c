"""SoupBinTCP client session: login, sequencing, heartbeats, timeouts, backoff, replay (fake clock)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.clock import FakeClock
from tests.ouch.golden import hexb, rtext, text
from venues.ouch import soupbin
from venues.ouch.soup_client import SoupClientConfig, SoupClientSession, SoupClientState
from venues.registry import VenueConfigError, decode_venue_config

MS = 1_000_000


@dataclass
class Recorder:
    """A listener that writes down everything the session says."""

    logins: list[tuple[str, int]] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)
    messages: list[tuple[int, bytes]] = field(default_factory=list)
    ended: int = 0
    disconnects: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    caught_up: int = 0
    refetches: list[tuple[int, str]] = field(default_factory=list)
    unsequenced: list[bytes] = field(default_factory=list)

    def on_logged_in(self, session: str, sequence: int) -> None:
        self.logins.append((session, sequence))

    def on_login_rejected(self, reason: str, text: str) -> None:
        self.rejects.append((reason, text))

    def on_sequenced(self, sequence: int, message: memoryview) -> None:
        self.messages.append((sequence, bytes(message)))

    def on_caught_up(self) -> None:
        self.caught_up += 1

    def on_end_of_session(self) -> None:
        self.ended += 1

    def on_disconnect_wanted(self, reason: str) -> None:
        self.disconnects.append(reason)

    def on_protocol_error(self, text: str) -> None:
        self.errors.append(text)

    def on_refetch(self, sequence: int, text: str) -> None:
        self.refetches.append((sequence, text))

    def on_unsequenced(self, message: memoryview) -> None:
        self.unsequenced.append(bytes(message))


CONFIG = SoupClientConfig(
    username="USER01",
    password="PASSWORD",
    server_timeout_ns=3_000 * MS,
    reconnect_initial_ns=100 * MS,
    reconnect_max_ns=1_000 * MS,
)


def _session(config: SoupClientConfig = CONFIG) -> tuple[SoupClientSession, Recorder, FakeClock]:
    recorder = Recorder()
    return SoupClientSession(config, recorder), recorder, FakeClock()


def _msgs(*payloads: bytes) -> bytes:
    return b"".join(soupbin.encode_sequenced(p) for p in payloads)


def _logged_in(session: str = "S1", sequence: int = 1) -> tuple[SoupClientSession, Recorder, FakeClock]:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.take(clock())
    client.data_received(soupbin.encode_login_accepted(session, sequence), clock())
    return client, recorder, clock


def test_connection_made_when_fresh_then_login_request_for_current_session_from_1() -> None:
    client, _, clock = _session()
    client.connection_made(clock())
    assert client.state is SoupClientState.LOGGING_IN
    assert bytes(client.take(clock())) == hexb(
        "00 2F 4C", text("USER01", 6), text("PASSWORD", 10), text("", 10), rtext("1", 20)
    )


def test_connection_made_when_version_410_then_login_carries_heartbeat_timeout() -> None:
    client, _, clock = _session(SoupClientConfig("U", "P", version="4.10", heartbeat_timeout_ms=2500))
    client.connection_made(clock())
    packet = bytes(client.take(clock()))
    assert len(packet) == 54
    assert packet[-5:] == b" 2500"


def test_login_accepted_when_received_then_logged_in_with_session_and_sequence() -> None:
    client, recorder, _ = _logged_in("S1", 1)
    assert client.state is SoupClientState.LOGGED_IN
    assert client.session == "S1"
    assert recorder.logins == [("S1", 1)]


def test_sequenced_when_received_then_numbered_implicitly_from_login_accepted() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(
        soupbin.encode_login_accepted("S1", 1) + _msgs(b"a", b"b") + hexb("00 01 48") + _msgs(b"c"), clock()
    )
    assert recorder.messages == [(1, b"a"), (2, b"b"), (3, b"c")]
    assert client.next_sequence == 4


def test_server_heartbeat_when_first_after_each_login_then_caught_up_once_per_login() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_accepted("S1", 1) + _msgs(b"a", b"b"), clock())
    assert recorder.caught_up == 0  # the replay may not be over yet
    client.data_received(hexb("00 01 48") + _msgs(b"c") + hexb("00 01 48"), clock())
    assert recorder.caught_up == 1
    client.connection_lost(clock())
    client.connection_made(clock())
    client.data_received(hexb("00 01 48"), clock())  # before Login Accepted: not a caught-up signal
    assert recorder.caught_up == 1
    client.data_received(soupbin.encode_login_accepted("S1", 4) + hexb("00 01 48"), clock())
    assert recorder.caught_up == 2


def test_poll_when_one_second_without_sending_then_client_heartbeat_queued() -> None:
    client, _, clock = _logged_in()
    clock.advance_ms(999)
    client.data_received(soupbin.SERVER_HEARTBEAT_PACKET, clock())
    client.poll(clock())
    assert bytes(client.out) == b""
    clock.advance_ms(1)
    client.poll(clock())
    assert bytes(client.take(clock())) == hexb("00 01 52")
    assert client.heartbeats_sent == 1


def test_poll_when_data_sent_recently_then_no_heartbeat_and_deadline_returned() -> None:
    client, _, clock = _logged_in()
    clock.advance_ms(800)
    client.out += soupbin.encode_unsequenced(b"x")
    client.take(clock())
    clock.advance_ms(500)
    client.data_received(soupbin.SERVER_HEARTBEAT_PACKET, clock())
    assert client.poll(clock()) == 500 * MS  # sent at 800 ms, next heartbeat due at 1800 ms
    assert bytes(client.out) == b""


def test_poll_when_server_silent_beyond_timeout_then_disconnect_requested() -> None:
    client, recorder, clock = _logged_in()
    clock.advance_ms(2_999)
    client.poll(clock())
    assert recorder.disconnects == []
    clock.advance_ms(1)
    client.poll(clock())
    assert recorder.disconnects == ["no data from the server for 3000 ms"]
    client.poll(clock())
    assert len(recorder.disconnects) == 1
    client.connection_lost(clock())
    assert client.state is SoupClientState.DISCONNECTED
    assert client.reason == "no data from the server for 3000 ms"


def test_poll_when_only_part_of_a_packet_keeps_coming_then_disconnect_after_the_timeout() -> None:
    # A length of 65,535: every later packet, Server Heartbeats included, is folded into it. Bytes keep arriving
    # but no packet completes, which is silence for the timeout.
    client, recorder, clock = _logged_in()
    client.data_received(b"\xff\xffS", clock())
    for _ in range(3):
        clock.advance_ms(1_000)
        client.data_received(soupbin.SERVER_HEARTBEAT_PACKET + _msgs(b"A"), clock())
        client.poll(clock())
    assert recorder.disconnects == ["no data from the server for 3000 ms"]
    assert recorder.messages == []


def test_poll_when_login_never_answered_then_disconnect_requested() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    clock.advance_ms(3_000)
    client.poll(clock())
    assert recorder.disconnects == ["no Login Accepted from the server for 3000 ms"]


def test_reconnect_delay_when_connects_fail_then_doubles_up_to_the_maximum() -> None:
    client, _, _ = _session()
    assert [client.reconnect_delay_ns(a) for a in range(1, 7)] == [d * MS for d in (100, 200, 400, 800, 1000, 1000)]


def test_reconnect_delay_when_logins_keep_failing_then_backoff_grows_until_a_login_succeeds() -> None:
    client, _, clock = _session()
    for expected in (200, 400, 800):
        client.connection_made(clock())
        client.data_received(soupbin.encode_login_rejected("S"), clock())
        client.connection_lost(clock())
        assert client.reconnect_delay_ns(1) == expected * MS
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_accepted("S1", 1), clock())
    client.connection_lost(clock())
    assert client.reconnect_delay_ns(1) == 100 * MS


def test_connection_made_when_reconnecting_then_same_session_and_next_expected_sequence() -> None:
    client, _, clock = _logged_in("SESS7", 1)
    client.data_received(_msgs(b"a", b"b", b"c"), clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    login = soupbin.decode_client_packet(bytes(client.take(clock()))[2:])
    assert login == soupbin.LoginRequest("USER01", "PASSWORD", "SESS7", 4)


def test_replay_when_server_resends_from_an_earlier_sequence_then_each_message_handed_over_with_its_number() -> None:
    """Whether a message is a repeat is the exactly-once component's decision, not the session's."""
    client, recorder, clock = _logged_in("S1", 1)
    client.data_received(_msgs(b"a", b"b", b"c"), clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_accepted("S1", 2) + _msgs(b"b", b"c", b"d"), clock())
    assert recorder.messages == [(1, b"a"), (2, b"b"), (3, b"c"), (2, b"b"), (3, b"c"), (4, b"d")]
    assert client.next_sequence == 5


def test_login_accepted_when_sequence_above_requested_then_gap_counted_and_reported() -> None:
    client, recorder, clock = _logged_in("S1", 1)
    client.data_received(_msgs(b"a"), clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_accepted("S1", 5) + _msgs(b"e"), clock())
    assert client.gaps == 1
    assert "messages 2..4 cannot be recovered" in recorder.errors[0]
    assert recorder.messages[-1] == (5, b"e")


def test_end_of_session_when_received_then_ended_and_never_reconnects() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(_msgs(b"a") + soupbin.END_OF_SESSION_PACKET + _msgs(b"ignored"), clock())
    assert client.state is SoupClientState.ENDED
    assert recorder.ended == 1
    assert recorder.messages == [(1, b"a")]
    assert recorder.disconnects == ["end of session"]
    client.connection_lost(clock())
    assert client.state is SoupClientState.ENDED
    assert client.reconnect_delay_ns(1) is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [("A", "login rejected: not authorized (A)"), ("S", "login rejected: session not available (S)")],
)
def test_login_rejected_when_received_then_clear_reason_and_retry_with_backoff(code: str, reason: str) -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_rejected(code), clock())
    assert recorder.rejects[0][0] == code
    assert recorder.disconnects == [reason]
    client.connection_lost(clock())
    assert client.state is SoupClientState.DISCONNECTED
    assert client.reason == reason
    assert client.reconnect_delay_ns(1) == 200 * MS


def test_debug_and_server_unsequenced_when_received_then_ignored_and_counted() -> None:
    client, recorder, clock = _logged_in()
    client.data_received(soupbin.encode_debug(b"hello") + soupbin.encode_unsequenced(b"u") + _msgs(b"a"), clock())
    assert recorder.messages == [(1, b"a")]
    assert (client.debug_packets, client.unsequenced_ignored) == (1, 1)


def test_logout_when_logged_in_then_logout_request_sent_and_no_reconnect() -> None:
    client, _, clock = _logged_in()
    client.logout(clock())
    assert bytes(client.take(clock())) == hexb("00 01 4F")
    client.connection_lost(clock())
    assert client.state is SoupClientState.LOGGED_OUT
    assert client.reconnect_delay_ns(1) is None


def test_connection_lost_when_partial_packet_buffered_then_discarded_before_next_connection() -> None:
    client, recorder, clock = _logged_in()
    whole = _msgs(b"abc")
    client.data_received(whole[:3], clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_accepted("S1", 1) + whole, clock())
    assert recorder.messages == [(1, b"abc")]


def test_resume_when_called_before_connecting_then_login_asks_for_that_session_and_sequence() -> None:
    client, _, clock = _session()
    client.resume("SESS9", 42)
    client.connection_made(clock())
    login = soupbin.decode_client_packet(bytes(client.take(clock()))[2:])
    assert login == soupbin.LoginRequest("USER01", "PASSWORD", "SESS9", 42)


def test_resume_when_connected_then_refused() -> None:
    client, _, _ = _logged_in()
    with pytest.raises(RuntimeError):
        client.resume("X", 1)


def test_sequenced_when_received_before_login_then_protocol_error_and_disconnect() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(_msgs(b"early"), clock())
    assert recorder.messages == []
    assert client.protocol_errors == 1
    assert recorder.disconnects == ["Sequenced Data while LOGGING_IN"]


def test_login_accepted_when_malformed_then_disconnect_with_reason() -> None:
    client, recorder, clock = _session()
    client.connection_made(clock())
    client.data_received(hexb("00 1F 41", text("S1", 10), text("12x", 20)), clock())
    assert client.state is SoupClientState.LOGGING_IN
    assert recorder.disconnects[0].startswith("bad Login Accepted")


# ---- the first heartbeat after a login, and the requested session's padding (strict-venue review) --------------


def _login_bytes(client: SoupClientSession, clock: FakeClock) -> bytes:
    return bytes(client.take(clock()))


def test_poll_when_logging_in_then_next_deadline_one_heartbeat_interval_after_the_login_request() -> None:
    """A strict venue saw the first heartbeat 2-5 s after Login Accepted: the timer ran at the server timeout."""
    client, _, clock = _session()
    client.connection_made(clock())
    client.take(clock())
    wait = client.poll(clock())  # the connector's first poll, at connect, while logging in
    assert wait == CONFIG.heartbeat_interval_ns  # not the 3 s server timeout
    clock.advance_ms(10)
    client.data_received(soupbin.encode_login_accepted("S1", 1), clock())
    clock.advance(wait - 10 * MS)  # the timer fires when it was asked to: 1 s after the Login Request
    client.poll(clock())
    assert bytes(client.take(clock())) == soupbin.CLIENT_HEARTBEAT_PACKET
    assert client.heartbeats_sent == 1


def test_poll_when_login_slow_then_nothing_sent_before_login_accepted_and_polled_every_interval_not_spinning() -> None:
    """review28: past one interval without Login Accepted, the deadline was in the past: poll returned 1 ns."""
    client, _, clock = _session()
    client.connection_made(clock())
    client.take(clock())
    clock.advance_ms(1_500)
    waits = [client.poll(clock()), client.poll(clock())]
    assert client.out == bytearray() and client.heartbeats_sent == 0  # heartbeats only once logged in
    assert waits == [CONFIG.heartbeat_interval_ns] * 2
    clock.advance_ms(1_000)
    assert client.poll(clock()) == 500 * MS  # 2.5 s in: the 3 s server timeout comes first


@pytest.mark.parametrize("accepted_session", [b"    SESS01", b"SESS01    "])
def test_relogin_when_logged_in_before_then_session_requested_left_justified_as_an_alpha_field(
    accepted_session: bytes,
) -> None:
    """The spec types Requested Session alpha (left-justified, right-padded), whatever padding Login Accepted had."""
    client, _, clock = _session()
    client.connection_made(clock())
    client.take(clock())
    client.data_received(b"\x00\x1fA" + accepted_session + b"1".rjust(20), clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    assert _login_bytes(client, clock)[19:29] == b"SESS01    "


def test_login_rejected_session_when_named_then_the_other_padding_then_the_current_session() -> None:
    """ouchfix38: a session refused in both paddings is given up (before: asked for, alternating, for ever)."""
    client, recorder, clock = _session()
    client.resume("SESS9", 42)  # after a restart: the venue's padding is not known
    logins = []
    for _ in range(4):
        client.connection_made(clock())
        login = _login_bytes(client, clock)
        logins.append((login[19:29], int(login[29:49])))
        client.data_received(soupbin.encode_login_rejected("S"), clock())
        client.connection_lost(clock())
    assert logins == [(b"SESS9     ", 42), (b"     SESS9", 42), (b" " * 10, 1), (b" " * 10, 1)]
    assert recorder.disconnects[0] == (
        "login rejected: session not available (S); the next login asks for 'SESS9' padded on the left"
    )
    assert recorder.disconnects[1] == (
        "login rejected: session not available (S); session 'SESS9' refused in every padding: the next login "
        "asks for the venue's current session (blank)"
    )
    assert client.left_session == "SESS9"


def test_login_rejected_session_once_then_accepted_then_the_session_is_kept() -> None:
    client, _, clock = _session()
    client.resume("SESS9", 42)
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_rejected("S"), clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    client.take(clock())
    client.data_received(soupbin.encode_login_accepted("SESS9", 42), clock())
    client.connection_lost(clock())
    client.connection_made(clock())  # a later refusal starts the count afresh: the other padding first
    client.data_received(soupbin.encode_login_rejected("S"), clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    login = _login_bytes(client, clock)
    assert (login[19:29], int(login[29:49])) == (b"SESS9     ", 42)


def test_login_rejected_when_not_authorized_or_blank_session_then_padding_unchanged() -> None:
    client, _, clock = _session()
    for code in ("S", "A"):
        client.connection_made(clock())
        assert _login_bytes(client, clock)[19:29] == b" " * 10
        client.data_received(soupbin.encode_login_rejected(code), clock())
        client.connection_lost(clock())
    client.resume("SESS9", 1)
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_rejected("A"), clock())
    client.connection_lost(clock())
    client.connection_made(clock())
    assert _login_bytes(client, clock)[19:29] == b"SESS9     "


@pytest.mark.parametrize("timeout_ms", [500, 1_000])
def test_config_when_410_client_heartbeat_timeout_not_above_the_heartbeat_interval_then_config_error(
    timeout_ms: int,
) -> None:
    """The venue would close a session whose heartbeats come once a second after ``timeout_ms`` of silence."""
    raw = {
        "protocol": "ouch",
        "name": "OUCH",
        "host": "127.0.0.1",
        "port": 15000,
        "username": "USER",
        "password": "PASS",
        "soupbin_version": "4.10",
        "client_heartbeat_timeout_ms": timeout_ms,
    }
    with pytest.raises(VenueConfigError) as error:
        decode_venue_config(raw, "venues[0]")
    assert "venues[0]: client_heartbeat_timeout_ms must be longer than heartbeat_interval_ms" in str(error.value)
    assert decode_venue_config({**raw, "client_heartbeat_timeout_ms": 1_001}, "venues[0]").client_heartbeat_timeout_ms
    assert decode_venue_config({**raw, "soupbin_version": "3.00"}, "venues[0]")  # 3.00 does not send it


def test_poll_when_logging_out_then_no_heartbeat_and_next_poll_at_the_server_timeout_not_at_once() -> None:
    client, _, clock = _logged_in()
    client.logout(clock())
    client.take(clock())
    clock.advance_ms(1_500)  # past a heartbeat interval since the Logout Request
    wait = client.poll(clock())
    assert client.out == bytearray()
    assert wait == CONFIG.server_timeout_ns - 1_500 * MS  # the server's close is awaited, no busy polling


def test_login_rejected_when_received_while_logged_in_then_ignored_counted_and_the_session_kept() -> None:
    client, recorder, clock = _logged_in()
    # SoupBinTCP 3.00: Login Rejected answers a Login Request only ('J' + reason 'A')
    client.data_received(bytes.fromhex("00024a41") + _msgs(b"a"), clock())
    assert client.state is SoupClientState.LOGGED_IN
    assert recorder.rejects == [] and recorder.disconnects == []
    assert (client.login_rejects, client.login_refusals, client.protocol_errors) == (0, 0, 1)
    assert recorder.errors == ["Login Rejected (A) while LOGGED_IN; ignored"]
    assert recorder.messages == [(1, b"a")]  # the session goes on


def test_packet_length_zero_when_logged_in_then_nothing_of_the_read_taken_and_the_login_asks_again() -> None:
    """rev44ouch s7: a Packet Length 0 means the lengths before it lied: nothing of the read is handed over."""
    client, recorder, clock = _logged_in()
    client.data_received(_msgs(b"a"), clock())
    client.data_received(bytes.fromhex("0000") + _msgs(b"b") + bytes.fromhex("0000"), clock())
    assert recorder.messages == [(1, b"a")]
    assert recorder.errors == ["2 packet(s) of length 0 skipped"]
    assert recorder.refetches == [(2, "2 packet(s) of length 0 among 3: the stream is out of frame")]
    assert client.next_sequence == 2
    assert client.refetches == 1
    client.data_received(_msgs(b"c"), clock())  # closing: nothing more is taken from this connection
    assert recorder.messages == [(1, b"a")]
    client.connection_lost(clock())
    client.connection_made(clock())
    assert bytes(client.take(clock()))[-20:] == hexb(rtext("2", 20))


def test_packet_length_zero_when_max_refetches_is_0_then_skipped_and_counted_a_protocol_error() -> None:
    client, recorder, clock = _session(msgspec.structs.replace(CONFIG, max_refetches=0))
    client.connection_made(clock())
    client.data_received(soupbin.encode_login_accepted("S1", 1), clock())
    client.data_received(bytes.fromhex("0000") + _msgs(b"a") + bytes.fromhex("0000"), clock())
    assert recorder.messages == [(1, b"a")]
    assert client.protocol_errors == 1
    assert recorder.errors == ["2 packet(s) of length 0 skipped"]
    assert recorder.refetches == []


def test_refetch_when_a_message_is_unreadable_then_later_ones_dropped_and_the_login_asks_for_it() -> None:
    """The listener finds message 2 unreadable: 3 in the same read is not handed over; the re-login asks for 2."""
    client, recorder, clock = _logged_in()

    def on_sequenced(sequence: int, message: memoryview) -> None:
        recorder.messages.append((sequence, bytes(message)))
        if bytes(message) == b"bad":
            assert client.refetch(sequence, "wrong length")

    recorder.on_sequenced = on_sequenced  # type: ignore[method-assign]
    client._on_sequenced = on_sequenced  # the session binds the listener's method once, at construction
    client.data_received(_msgs(b"a", b"bad", b"c"), clock())
    assert recorder.messages == [(1, b"a"), (2, b"bad")]
    assert recorder.disconnects == ["sequenced message 2 could not be read (wrong length); asking for it again"]
    client.connection_lost(clock())
    assert client.next_sequence == 2
    assert client.reconnect_delay_ns(1) == 100 * MS
    client.connection_made(clock())
    assert bytes(client.take(clock()))[-20:] == hexb(rtext("2", 20))


def test_refetch_when_the_same_number_fails_again_then_backoff_doubles_and_after_the_limit_it_is_given_up() -> None:
    client, recorder, clock = _logged_in()
    delays = []
    for _ in range(CONFIG.max_refetches):
        assert client.refetch(1, "wrong length")
        client.connection_lost(clock())
        delays.append(client.reconnect_delay_ns(1))
        client.connection_made(clock())
        client.take(clock())
        client.data_received(soupbin.encode_login_accepted("S1", 1), clock())
    assert delays == [100 * MS, 200 * MS, 400 * MS]
    assert not client.refetch(1, "wrong length")  # the 4th: the caller takes it as lost
    assert client.refetches == 3
    assert client.refetch(2, "wrong length")  # another number starts its own count
    assert [sequence for sequence, _ in recorder.refetches] == [1, 1, 1, 2]


_PACKETS = st.one_of(
    st.binary(max_size=12).map(soupbin.encode_sequenced),  # b"" included: a packet of the type byte alone
    st.just(soupbin.SERVER_HEARTBEAT_PACKET),
    st.binary(max_size=6).map(soupbin.encode_debug),
    st.binary(max_size=6).map(soupbin.encode_unsequenced),
    st.just(b"\x00\x00"),  # Packet Length 0
)


def _said(recorder: Recorder, client: SoupClientSession) -> tuple[object, ...]:
    return (
        recorder.messages,
        recorder.errors,
        recorder.refetches,
        recorder.disconnects,
        recorder.caught_up,
        client.next_sequence,
        client.protocol_errors,
        client.state,
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(_PACKETS, max_size=12), st.lists(st.integers(0, 200), max_size=4), st.sampled_from([b"", b"bad"]))
def test_data_received_when_reads_are_bytes_then_the_same_as_any_other_buffer(
    packets: list[bytes], cuts: list[int], unreadable: bytes
) -> None:
    """A read of ``bytes`` (one or many whole Sequenced Data packets: the inline path) says what a ``bytearray``
    read (the splitter's path) says: the same messages, numbers, errors and refetches, however the stream is cut."""
    stream = b"".join(packets)
    bounds = sorted({0, len(stream), *(cut for cut in cuts if cut < len(stream))})
    said = []
    for kind in (bytes, bytearray):
        client, recorder, clock = _logged_in()

        def on_sequenced(
            sequence: int, message: memoryview, client: SoupClientSession = client, recorder: Recorder = recorder
        ) -> None:
            recorder.messages.append((sequence, bytes(message)))
            if unreadable and bytes(message) == unreadable:
                client.refetch(sequence, "wrong length")

        client._on_sequenced = on_sequenced
        for start, stop in itertools.pairwise(bounds):
            client.data_received(kind(stream[start:stop]), clock())
        said.append(_said(recorder, client))
    assert said[0] == said[1]


def test_data_received_when_a_read_is_many_sequenced_packets_then_each_handed_over_in_order() -> None:
    client, recorder, clock = _logged_in("S1", 7)
    client.data_received(_msgs(b"a", b"", b"ccc"), clock())
    assert recorder.messages == [(7, b"a"), (8, b""), (9, b"ccc")]
    assert client.next_sequence == 10
    client.data_received(_msgs(b"d") + _msgs(b"e")[:2], clock())  # the last packet partial: kept for the next read
    assert recorder.messages[3:] == [(10, b"d")]
    client.data_received(_msgs(b"e")[2:], clock())
    assert recorder.messages[4:] == [(11, b"e")]
