"""SoupBinTCP server side (sans-IO): the replayable sequenced stream and one state machine per connection.

``SequencedStream`` keeps every Sequenced Data packet of a session so any client can
replay from any sequence number. ``SoupServerConnection`` handles one TCP connection::

    AWAITING_LOGIN --good Login Request--> LOGGED_IN --Logout / timeout / End of Session--> CLOSED
          \\--bad credentials (J A) / unknown session (J S) / no login in time--> CLOSED

The owner feeds bytes in, calls ``pump`` after appending to the stream, runs
``poll(now_ns)`` for heartbeats and timeouts, and writes what ``take`` returns.
"""

from __future__ import annotations

import enum
from typing import Final, Protocol

import msgspec

from venues.ouch.errors import DecodeError
from venues.ouch.soupbin import (
    CLIENT_HEARTBEAT,
    DEBUG,
    END_OF_SESSION_PACKET,
    LOGIN_REQUEST,
    LOGOUT_REQUEST,
    REJECT_NOT_AUTHORIZED,
    REJECT_SESSION_NOT_AVAILABLE,
    SERVER_HEARTBEAT_PACKET,
    UNSEQUENCED_DATA,
    SoupSplitter,
    decode_login_request,
    encode_login_accepted,
    encode_login_rejected,
    encode_sequenced,
)

MS: Final = 1_000_000


class SequencedStream:
    """All sequenced messages of one session, numbered from 1, kept for replay."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.packets: list[bytes] = []
        """Sequenced Data packets (length and type included); sequence n is ``packets[n - 1]``."""
        self.replayable_from = 1
        """The lowest sequence number still replayed: a login asking for an earlier one is accepted from here
        (Login Accepted above the number requested: the messages between are lost, a replay gap)."""
        self.ended = False

    @property
    def next_sequence(self) -> int:
        """Return the sequence number the next appended message will get."""
        return len(self.packets) + 1

    def append(self, message: bytes | bytearray | memoryview) -> int:
        """Add one message to the session and return its sequence number."""
        if self.ended:
            raise RuntimeError(f"session {self.session!r} has ended; nothing can be added")
        self.packets.append(encode_sequenced(message))
        return len(self.packets)

    def message(self, sequence: int) -> bytes:
        """Return the message (without the SoupBinTCP header) with ``sequence``."""
        return self.packets[sequence - 1][3:]


class SoupServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Credentials and timers of a SoupBinTCP server."""

    username: str
    password: str
    heartbeat_interval_ns: int = 1_000 * MS
    """Send a Server Heartbeat after this long without sending anything."""
    client_timeout_ns: int = 15_000 * MS
    """Drop a client silent for this long (a 4.10 login's Heartbeat Timeout overrides it)."""
    login_timeout_ns: int = 30_000 * MS
    """Drop a connection that has not sent a Login Request after this long."""
    heartbeat_after_replay: bool = True
    """Send a Server Heartbeat right after a login's replay (the spec allows one at any time); False: only after
    ``heartbeat_interval_ns`` of silence, as a venue may (tests of what a client does before it has read the replay)."""


class ServerConnectionState(enum.Enum):
    """Where one server-side connection stands."""

    AWAITING_LOGIN = "AWAITING_LOGIN"
    LOGGED_IN = "LOGGED_IN"
    CLOSED = "CLOSED"


class SoupServerListener(Protocol):
    """What a connection tells its owner (the simulator)."""

    def on_message(self, connection: SoupServerConnection, message: memoryview) -> None:
        """One Unsequenced Data message from a logged-in client."""

    def on_close_wanted(self, connection: SoupServerConnection, reason: str) -> None:
        """The connection should be closed once ``out`` is written."""


class SoupServerConnection:
    """Server side of one SoupBinTCP connection."""

    def __init__(self, config: SoupServerConfig, stream: SequencedStream, listener: SoupServerListener) -> None:
        self.config = config
        self.stream = stream
        self.listener = listener
        self.state = ServerConnectionState.AWAITING_LOGIN
        self.reason = "awaiting login"
        self.out = bytearray()
        self.next_to_send = 0
        """Sequence number of the next stream message to send (0 before login)."""
        self.sequenced_sent = 0
        self.heartbeats_sent = 0
        self.debug_packets = 0
        self.messages_received = 0
        self.login_sequence = 0
        """Sequence number given in Login Accepted."""
        self._replaying = False
        """Logged in, the replay asked for not yet all queued: a Server Heartbeat follows its last message."""
        self._splitter = SoupSplitter()
        self._client_timeout_ns = config.client_timeout_ns
        self._connected_ns = 0
        self._last_sent_ns = 0
        self._last_received_ns = 0

    @property
    def closed(self) -> bool:
        """Return True once the connection is over (or should be closed)."""
        return self.state is ServerConnectionState.CLOSED

    def connection_made(self, now_ns: int) -> None:
        """Start waiting for the Login Request."""
        self._connected_ns = self._last_received_ns = self._last_sent_ns = now_ns

    def take(self, now_ns: int) -> bytearray:
        """Return the bytes queued for the wire (and note the send time)."""
        out = self.out
        if out:
            self.out = bytearray()
            self._last_sent_ns = now_ns
        return out

    def data_received(self, data: bytes | bytearray | memoryview, now_ns: int) -> None:
        """Consume bytes from the client."""
        if self.state is ServerConnectionState.CLOSED:
            return
        self._last_received_ns = now_ns
        for packet in self._splitter.feed(data):
            kind = packet[0]
            if self.state is ServerConnectionState.LOGGED_IN:
                if kind == UNSEQUENCED_DATA:
                    self.messages_received += 1
                    self.listener.on_message(self, packet[1:])
                    if self.closed:
                        return
                elif kind == CLIENT_HEARTBEAT:
                    continue
                elif kind == LOGOUT_REQUEST:
                    self._close("client logged out")
                    return
                elif kind == DEBUG:
                    self.debug_packets += 1
                else:
                    self._close(f"unexpected packet type 0x{kind:02X} from a logged-in client")
                    return
            elif kind == LOGIN_REQUEST:
                self._login(packet, now_ns)
            elif kind == DEBUG:
                self.debug_packets += 1
            else:
                self._close(f"packet type 0x{kind:02X} before Login Request")
                return
            if self.closed:
                return

    def pump(self, now_ns: int, limit: int | None = None) -> int:
        """Queue stream messages the client has not been sent yet (at most ``limit``); return how many."""
        if self.state is not ServerConnectionState.LOGGED_IN:
            return 0
        packets = self.stream.packets
        start = self.next_to_send
        stop = len(packets) + 1
        if limit is not None:
            stop = min(stop, start + limit)
        if stop <= start:
            if self._replaying:
                self._replay_out(now_ns)
            return 0
        out = self.out
        for index in range(start - 1, stop - 1):
            out += packets[index]
        self.next_to_send = stop
        self.sequenced_sent += stop - start
        self._last_sent_ns = now_ns
        if self._replaying and stop == len(packets) + 1:
            self._replay_out(now_ns)
        return stop - start

    def _replay_out(self, now_ns: int) -> None:
        """Follow the login's replay with a Server Heartbeat at once (a client learns it has read the replay).

        SoupBinTCP lets a server send a heartbeat at any time and requires one after a second of silence; a
        venue's first heartbeat after the replay may come up to that second later. The OUCH adapter waits for it
        after a login with no state of the day (docs/venues/ouch.md), so the simulator sends it at once.
        """
        self._replaying = False
        self.out += SERVER_HEARTBEAT_PACKET
        self._last_sent_ns = now_ns
        self.heartbeats_sent += 1

    def poll(self, now_ns: int) -> int:
        """Send a heartbeat or drop a silent client when due; return ns until the next deadline."""
        config = self.config
        if self.state is ServerConnectionState.CLOSED:
            return config.heartbeat_interval_ns
        if self.state is ServerConnectionState.AWAITING_LOGIN:
            if now_ns - self._connected_ns >= config.login_timeout_ns:
                self._close(f"no Login Request within {config.login_timeout_ns // MS} ms")
                return config.heartbeat_interval_ns
            return self._connected_ns + config.login_timeout_ns - now_ns
        silence = now_ns - self._last_received_ns
        if silence >= self._client_timeout_ns:
            self._close(f"client silent for {silence // MS} ms")
            return config.heartbeat_interval_ns
        if now_ns - self._last_sent_ns >= config.heartbeat_interval_ns:
            self.out += SERVER_HEARTBEAT_PACKET
            self._last_sent_ns = now_ns
            self.heartbeats_sent += 1
        deadline = min(
            self._last_sent_ns + config.heartbeat_interval_ns,
            self._last_received_ns + self._client_timeout_ns,
        )
        return max(deadline - now_ns, 1)

    def end_session(self, now_ns: int) -> None:
        """Send what is left of the stream, then End of Session, and close."""
        if self.state is ServerConnectionState.LOGGED_IN:
            self.pump(now_ns)
            self.out += END_OF_SESSION_PACKET
            self._close("end of session")

    def connection_lost(self, now_ns: int) -> None:
        """Note the connection is gone."""
        del now_ns
        self.state = ServerConnectionState.CLOSED

    def _close(self, reason: str) -> None:
        if self.state is not ServerConnectionState.CLOSED:
            self.state = ServerConnectionState.CLOSED
            self.reason = reason
            self.listener.on_close_wanted(self, reason)

    def _login(self, packet: memoryview, now_ns: int) -> None:
        request = decode_login_request(packet)
        if isinstance(request, DecodeError):
            self._close(f"bad Login Request: {request.text}")
            return
        config = self.config
        stream = self.stream
        if request.username.upper() != config.username.upper() or request.password.upper() != config.password.upper():
            self.out += encode_login_rejected(REJECT_NOT_AUTHORIZED)
            self._close(f"login rejected: not authorized ({request.username!r})")
            return
        if stream.ended or request.session not in ("", stream.session):
            self.out += encode_login_rejected(REJECT_SESSION_NOT_AVAILABLE)
            self._close(f"login rejected: session {request.session!r} not available")
            return
        sequence = request.sequence
        if sequence == 0 or sequence > stream.next_sequence:
            sequence = stream.next_sequence
        elif sequence < stream.replayable_from:
            sequence = min(stream.replayable_from, stream.next_sequence)
        if request.heartbeat_timeout_ms:
            self._client_timeout_ns = request.heartbeat_timeout_ms * MS
        self.out += encode_login_accepted(stream.session, sequence)
        self._last_sent_ns = now_ns
        self.login_sequence = sequence
        self.next_to_send = sequence
        self._replaying = config.heartbeat_after_replay
        self.state = ServerConnectionState.LOGGED_IN
        self.reason = f"logged in as {request.username!r} from sequence {sequence}"
