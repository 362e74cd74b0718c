"""SoupBinTCP server session: login checks, replay from any sequence, heartbeats, timeouts, end of session."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from model.clock import FakeClock
from simulators.ouch.soup_server import SequencedStream, ServerConnectionState, SoupServerConfig, SoupServerConnection
from tests.ouch.golden import hexb, rtext
from venues.ouch import soupbin
from venues.ouch.errors import DecodeError
from venues.ouch.soup_client import SoupClientConfig, SoupClientSession
from venues.ouch.soupbin import SoupSplitter, decode_server_packet

MS = 1_000_000
CONFIG = SoupServerConfig(username="USER01", password="PASSWORD", client_timeout_ns=15_000 * MS)


@dataclass
class ServerRecorder:
    messages: list[bytes] = field(default_factory=list)
    closes: list[str] = field(default_factory=list)

    def on_message(self, connection: SoupServerConnection, message: memoryview) -> None:
        del connection
        self.messages.append(bytes(message))

    def on_close_wanted(self, connection: SoupServerConnection, reason: str) -> None:
        del connection
        self.closes.append(reason)


def _server(stream: SequencedStream | None = None) -> tuple[SoupServerConnection, ServerRecorder, FakeClock]:
    recorder = ServerRecorder()
    clock = FakeClock()
    conn = SoupServerConnection(CONFIG, stream or SequencedStream("SESS1"), recorder)
    conn.connection_made(clock())
    return conn, recorder, clock


def _packets(data: bytes | bytearray) -> list[soupbin.ServerPacket]:
    out = []
    for packet in SoupSplitter().feed(bytes(data)):
        decoded = decode_server_packet(packet)
        assert not isinstance(decoded, DecodeError)
        out.append(decoded)
    return out


def _login(username: str = "USER01", password: str = "PASSWORD", session: str = "", sequence: int = 1) -> bytes:
    return soupbin.encode_login_request(username, password, session, sequence)


def test_login_when_credentials_match_case_insensitively_then_accepted_with_session_and_sequence() -> None:
    conn, _, clock = _server()
    conn.data_received(_login("user01", "password"), clock())
    assert conn.state is ServerConnectionState.LOGGED_IN
    assert bytes(conn.take(clock())) == hexb("00 1F 41", rtext("SESS1", 10), rtext("1", 20))


def test_login_when_password_wrong_then_rejected_not_authorized_and_closed() -> None:
    conn, recorder, clock = _server()
    conn.data_received(_login(password="WRONG"), clock())
    assert bytes(conn.take(clock())) == hexb("00 02 4A 41")
    assert conn.state is ServerConnectionState.CLOSED
    assert recorder.closes == ["login rejected: not authorized ('USER01')"]


def test_login_when_session_unknown_then_rejected_session_not_available() -> None:
    conn, _, clock = _server()
    conn.data_received(_login(session="OTHER"), clock())
    assert bytes(conn.take(clock())) == hexb("00 02 4A 53")


def test_login_when_named_session_matches_then_accepted() -> None:
    conn, _, clock = _server()
    conn.data_received(_login(session="SESS1"), clock())
    assert _packets(conn.take(clock())) == [soupbin.LoginAccepted("SESS1", 1)]


def test_pump_when_replay_requested_from_3_then_messages_3_onwards_sent() -> None:
    stream = SequencedStream("SESS1")
    for i in range(1, 6):
        stream.append(f"m{i}".encode())
    conn, _, clock = _server(stream)
    conn.data_received(_login(sequence=3), clock())
    assert conn.pump(clock()) == 3
    assert _packets(conn.take(clock())) == [
        soupbin.LoginAccepted("SESS1", 3),
        soupbin.SequencedData(b"m3"),
        soupbin.SequencedData(b"m4"),
        soupbin.SequencedData(b"m5"),
        soupbin.ServerHeartbeat(),  # the replay is out: said at once (heartbeat_after_replay)
    ]
    stream.append(b"m6")
    assert conn.pump(clock()) == 1
    assert _packets(conn.take(clock())) == [soupbin.SequencedData(b"m6")]


def test_login_when_sequence_0_then_starts_with_the_next_new_message() -> None:
    stream = SequencedStream("SESS1")
    stream.append(b"old")
    conn, _, clock = _server(stream)
    conn.data_received(_login(sequence=0), clock())
    conn.pump(clock())
    assert _packets(conn.take(clock())) == [soupbin.LoginAccepted("SESS1", 2), soupbin.ServerHeartbeat()]


def test_login_when_sequence_beyond_the_stream_then_clamped_to_next_sequence() -> None:
    stream = SequencedStream("SESS1")
    stream.append(b"one")
    conn, _, clock = _server(stream)
    conn.data_received(_login(sequence=99), clock())
    assert _packets(conn.take(clock())) == [soupbin.LoginAccepted("SESS1", 2)]


def test_pump_when_limited_then_sends_at_most_limit() -> None:
    stream = SequencedStream("S")
    for i in range(5):
        stream.append(bytes([i]))
    conn, _, clock = _server(stream)
    conn.data_received(_login(), clock())
    assert conn.pump(clock(), limit=2) == 2
    assert conn.next_to_send == 3


def test_poll_when_one_second_without_sending_then_server_heartbeat() -> None:
    conn, _, clock = _server()
    conn.data_received(_login(), clock())
    conn.take(clock())
    clock.advance_ms(999)
    conn.poll(clock())
    assert conn.out == b""
    clock.advance_ms(1)
    conn.poll(clock())
    assert bytes(conn.take(clock())) == hexb("00 01 48")


def test_poll_when_client_silent_beyond_timeout_then_closed() -> None:
    conn, recorder, clock = _server()
    conn.data_received(_login(), clock())
    clock.advance_ms(14_999)
    conn.poll(clock())
    assert conn.state is ServerConnectionState.LOGGED_IN
    clock.advance_ms(1)
    conn.poll(clock())
    assert recorder.closes == ["client silent for 15000 ms"]


def test_poll_when_410_login_gives_heartbeat_timeout_then_that_timeout_applies() -> None:
    conn, recorder, clock = _server()
    conn.data_received(
        soupbin.encode_login_request("USER01", "PASSWORD", "", 1, version="4.10", heartbeat_timeout_ms=500),
        clock(),
    )
    clock.advance_ms(500)
    conn.poll(clock())
    assert recorder.closes == ["client silent for 500 ms"]


def test_poll_when_no_login_request_in_time_then_closed() -> None:
    conn, recorder, clock = _server()
    clock.advance_ms(30_000)
    conn.poll(clock())
    assert recorder.closes == ["no Login Request within 30000 ms"]


def test_end_session_when_logged_in_then_rest_of_stream_then_end_of_session_then_closed() -> None:
    stream = SequencedStream("S")
    conn, recorder, clock = _server(stream)
    conn.data_received(_login(), clock())
    stream.append(b"last")
    conn.end_session(clock())
    stream.ended = True
    assert _packets(conn.take(clock()))[1:] == [
        soupbin.SequencedData(b"last"),
        soupbin.ServerHeartbeat(),  # the replay (of nothing) was out before "last"
        soupbin.EndOfSession(),
    ]
    assert recorder.closes == ["end of session"]
    late, _, _ = _server(stream)
    late.data_received(_login(), clock())
    assert bytes(late.take(clock())) == hexb("00 02 4A 53")


def test_data_when_logged_in_then_unsequenced_messages_delivered_and_logout_closes() -> None:
    conn, recorder, clock = _server()
    conn.data_received(_login() + soupbin.encode_unsequenced(b"order") + soupbin.CLIENT_HEARTBEAT_PACKET, clock())
    assert recorder.messages == [b"order"]
    conn.data_received(soupbin.LOGOUT_REQUEST_PACKET + soupbin.encode_unsequenced(b"late"), clock())
    assert recorder.messages == [b"order"]
    assert recorder.closes == ["client logged out"]


def test_data_when_unsequenced_before_login_then_closed_and_not_delivered() -> None:
    conn, recorder, clock = _server()
    conn.data_received(soupbin.encode_unsequenced(b"order"), clock())
    assert recorder.messages == []
    assert recorder.closes == ["packet type 0x55 before Login Request"]


class _ClientRecorder:
    def __init__(self) -> None:
        self.messages: list[tuple[int, bytes]] = []
        self.closes = 0

    def on_logged_in(self, session: str, sequence: int) -> None:
        pass

    def on_login_rejected(self, reason: str, text: str) -> None:
        pass

    def on_sequenced(self, sequence: int, message: memoryview | bytes) -> None:
        self.messages.append((sequence, bytes(message)))

    def on_caught_up(self) -> None:
        pass

    def on_end_of_session(self) -> None:
        pass

    def on_disconnect_wanted(self, reason: str) -> None:
        self.closes += 1

    def on_protocol_error(self, text: str) -> None:
        raise AssertionError(text)

    def on_refetch(self, sequence: int, text: str) -> None:
        raise AssertionError(f"{sequence}: {text}")

    def on_unsequenced(self, message: memoryview) -> None:
        raise AssertionError(bytes(message))


def test_client_and_server_when_connection_cut_mid_stream_repeatedly_then_every_message_once_in_order() -> None:
    clock = FakeClock()
    stream = SequencedStream("SESS1")
    listener = _ClientRecorder()
    client = SoupClientSession(SoupClientConfig("USER01", "PASSWORD"), listener)
    produced = 0
    for cut_after in (3, 1, 7, 0, 5, 20):
        server = SoupServerConnection(CONFIG, stream, ServerRecorder())
        server.connection_made(clock())
        client.connection_made(clock())
        server.data_received(client.take(clock()), clock())
        for _ in range(6):
            produced += 1
            stream.append(f"msg{produced}".encode())
        server.pump(clock())
        wire = bytes(server.take(clock()))
        delivered = wire[: len(soupbin.encode_login_accepted("SESS1", 1)) + cut_after * 10 + 4]
        client.data_received(delivered, clock())
        client.connection_lost(clock())
        server.connection_lost(clock())
        clock.advance_ms(10)
    server = SoupServerConnection(CONFIG, stream, ServerRecorder())
    server.connection_made(clock())
    client.connection_made(clock())
    server.data_received(client.take(clock()), clock())
    server.pump(clock())
    client.data_received(server.take(clock()), clock())
    assert len(listener.messages) == produced == 36
    assert [seq for seq, _ in listener.messages] == list(range(1, len(listener.messages) + 1))
    assert [m for _, m in listener.messages] == [f"msg{i}".encode() for i in range(1, len(listener.messages) + 1)]
    assert client.next_sequence == len(listener.messages) + 1


def test_pump_when_heartbeat_after_replay_off_then_replay_without_heartbeat() -> None:
    stream = SequencedStream("SESS1")
    stream.append(b"m1")
    config = msgspec.structs.replace(CONFIG, heartbeat_after_replay=False)
    conn = SoupServerConnection(config, stream, ServerRecorder())
    clock = FakeClock()
    conn.connection_made(clock())
    conn.data_received(_login(sequence=1), clock())
    assert conn.pump(clock()) == 1
    assert _packets(conn.take(clock())) == [soupbin.LoginAccepted("SESS1", 1), soupbin.SequencedData(b"m1")]
