"""BOE v2 server side (sans-IO): the per-unit replayable streams and one state machine per connection.

``UnitStreams`` keeps every sequenced Cboe -> member message of the session, numbered per matching
unit, so any connection can replay from any unit sequence. ``BoeServerConnection`` handles one TCP
connection::

    AWAITING_LOGIN --valid Login Request--> (Login Response A, replay, Replay Complete) LOGGED_IN
          \\--refused login (Login Response N/S/B/I/Q/F/M) / no login in time--> CLOSED
    LOGGED_IN --Logout Request / silent client / sequence backwards / end of day--> (Logout) CLOSED

Each connection encodes stream messages with the return bitfields its own login asked for
(reference §3.1 rule 6: requested fields that do not apply are zero-filled). The owner feeds bytes
in, calls ``pump`` after appending to the streams, runs ``poll(now_ns)`` for heartbeats and
timeouts, and writes what ``take`` returns.
"""

from __future__ import annotations

import enum
from typing import Final, Protocol

import msgspec

from venues.boe.codec import (
    HEADER,
    OUTBOUND_LAYOUTS,
    REPLAY_COMPLETE_BYTES,
    SERVER_HEARTBEAT_BYTES,
    BoeSplitter,
    decode_inbound,
    encode_message,
    select_return_fields,
)
from venues.boe.errors import DecodeError
from venues.boe.messages import (
    CANCEL_ORDER,
    CLIENT_HEARTBEAT,
    LOGIN_REQUEST,
    LOGOUT_REQUEST,
    MODIFY_ORDER,
    NEW_ORDER,
    RETURN_ALLOWED,
    LoginRequest,
    LoginResponse,
    Logout,
    ReturnBitfields,
    ReturnMessage,
    UnitSequences,
)

MS: Final = 1_000_000
_APPLICATION: Final = frozenset({NEW_ORDER, CANCEL_ORDER, MODIFY_ORDER})
_TYPE_OF: Final[dict[type, int]] = {layout.cls: layout.type for layout in OUTBOUND_LAYOUTS}


class UnitStreams:
    """Every sequenced message of one session, per matching unit, numbered from 1 and kept for replay."""

    def __init__(self, units: int) -> None:
        self.messages: dict[int, list[ReturnMessage]] = {unit: [] for unit in range(1, units + 1)}
        self.ended = False

    def highest(self, unit: int) -> int:
        """Return the last sequence number used on ``unit`` (0 if none)."""
        return len(self.messages[unit])

    def append(self, unit: int, message: ReturnMessage) -> ReturnMessage:
        """Number ``message`` on ``unit`` and keep it; return it with its header set."""
        if self.ended:
            raise RuntimeError("the session has ended; nothing can be added")
        stream = self.messages[unit]
        numbered = msgspec.structs.replace(message, matching_unit=unit, sequence=len(stream) + 1)
        stream.append(numbered)
        return numbered


class BoeServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Credentials and timers of the simulated BOE port."""

    session_sub_id: str
    username: str
    password: str
    heartbeat_interval_ns: int = 1_000 * MS
    """Send a Server Heartbeat after this long without sending anything (2.3.7 §2.4: one second)."""
    client_timeout_ns: int = 5_000 * MS
    """Log out (``!``) and drop a client silent for this long (2.3.7 §2.4: five seconds)."""
    login_timeout_ns: int = 30_000 * MS
    """Drop a connection that has not sent a Login Request after this long."""
    accept_sequence_ahead: bool = False
    """Accept a login listing a unit sequence above the unit's highest (replaying nothing of that unit), as a
    lenient venue whose numbering restarted does; False: refuse it ``Q`` (sequence ahead), as Cboe does."""


class SessionState:
    """What the session remembers across its connections."""

    def __init__(self) -> None:
        self.last_received = 0
        """Last member -> Cboe sequence number processed (LastReceivedSequenceNumber)."""
        self.logged_in: object | None = None
        """The connection currently logged in (one per session, reference §2.2 of 2.3.7)."""


class ServerConnectionState(enum.Enum):
    """Where one server-side connection stands."""

    AWAITING_LOGIN = "AWAITING_LOGIN"
    LOGGED_IN = "LOGGED_IN"
    CLOSED = "CLOSED"


class BoeServerListener(Protocol):
    """What a connection tells its owner (the simulator)."""

    def on_message(self, connection: BoeServerConnection, message: memoryview) -> None:
        """One application message (New / Cancel / Modify) from a logged-in client."""

    def on_close_wanted(self, connection: BoeServerConnection, reason: str) -> None:
        """The connection should be closed once ``out`` is written."""


class BoeServerConnection:
    """Server side of one BOE connection."""

    def __init__(
        self,
        config: BoeServerConfig,
        streams: UnitStreams,
        session: SessionState,
        listener: BoeServerListener,
    ) -> None:
        self.config = config
        self.streams = streams
        self.session = session
        self.listener = listener
        self.state = ServerConnectionState.AWAITING_LOGIN
        self.reason = "awaiting login"
        self.out = bytearray()
        self.sent: dict[int, int] = {}
        """Matching unit -> last sequence sent on this connection."""
        self.return_bitfields: dict[int, bytes] = {}
        self.sequenced_sent = 0
        self.heartbeats_sent = 0
        self.messages_received = 0
        self.login: LoginRequest | None = None
        self.replay_until: dict[int, int] | None = None
        """Unit -> sequence the replay must reach before Replay Complete (None once it was sent)."""
        self._splitter = BoeSplitter()
        self._connected_ns = 0
        self._last_sent_ns = 0
        self._last_received_ns = 0

    @property
    def replaying(self) -> bool:
        """Return True between the Login Response and Replay Complete (orders are rejected with y)."""
        return self.replay_until is not None

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

    def encode(self, message: ReturnMessage) -> bytes:
        """Encode ``message`` with the return fields this connection's login asked for its type."""
        layout_type = _TYPE_OF[type(message)]
        bitfields = self.return_bitfields.get(layout_type, b"")
        chosen = select_return_fields(bitfields, message.optional)
        return encode_message(msgspec.structs.replace(message, optional=chosen, bitfield_count=len(bitfields)))

    def send_unsequenced(self, message: ReturnMessage) -> None:
        """Queue a message outside the unit streams (MatchingUnit 0, sequence 0)."""
        self.out += self.encode(msgspec.structs.replace(message, matching_unit=0, sequence=0))

    def data_received(self, data: bytes | bytearray | memoryview, now_ns: int) -> None:
        """Consume bytes from the client."""
        if self.state is ServerConnectionState.CLOSED:
            return
        self._last_received_ns = now_ns
        splitter = self._splitter
        for message in splitter.feed(data):
            _start, _length, kind, _unit, sequence = HEADER.unpack_from(message)
            if self.state is ServerConnectionState.AWAITING_LOGIN:
                if kind != LOGIN_REQUEST:
                    self._close(f"message type 0x{kind:02X} before Login Request")
                    return
                self._login(message, now_ns)
            elif kind in _APPLICATION:
                session = self.session
                if sequence and sequence <= session.last_received:
                    self._logout("!", f"SequenceNumber {sequence} not above {session.last_received}")
                    return
                if sequence:
                    session.last_received = sequence
                self.messages_received += 1
                self.listener.on_message(self, message)
            elif kind == CLIENT_HEARTBEAT:
                continue
            elif kind == LOGOUT_REQUEST:
                self.pump(now_ns)
                self._logout("U", "User requested")
                return
            else:
                self._logout("!", f"unexpected message type 0x{kind:02X}")
                return
            if self.closed:
                return
        if splitter.error is not None and not self.closed:
            self._close(f"framing lost: {splitter.error.text}")

    def pump(self, now_ns: int, limit: int | None = None) -> int:
        """Queue stream messages this client has not been sent yet (at most ``limit``); return how many."""
        if self.state is not ServerConnectionState.LOGGED_IN:
            return 0
        count = 0
        for unit, stream in self.streams.messages.items():
            start = self.sent.get(unit, 0)
            stop = len(stream)
            if limit is not None:
                stop = min(stop, start + limit - count)
            for index in range(start, stop):
                self.out += self.encode(stream[index])
            if stop > start:
                self.sent[unit] = stop
                count += stop - start
        if count:
            self.sequenced_sent += count
            self._last_sent_ns = now_ns
        until = self.replay_until
        if until is not None and all(self.sent.get(unit, 0) >= sequence for unit, sequence in until.items()):
            self.out += REPLAY_COMPLETE_BYTES
            self.replay_until = None
            self._last_sent_ns = now_ns
        return count

    def poll(self, now_ns: int) -> int:
        """Send a heartbeat or drop a silent client when due; return ns until the next deadline."""
        config = self.config
        if self.closed:
            return config.heartbeat_interval_ns
        if self.state is ServerConnectionState.AWAITING_LOGIN:
            if now_ns - self._connected_ns >= config.login_timeout_ns:
                self._close(f"no Login Request within {config.login_timeout_ns // MS} ms")
                return config.heartbeat_interval_ns
            return self._connected_ns + config.login_timeout_ns - now_ns
        silence = now_ns - self._last_received_ns
        if silence >= config.client_timeout_ns:
            self._logout("!", f"no data or heartbeat for {silence // MS} ms")
            return config.heartbeat_interval_ns
        if now_ns - self._last_sent_ns >= config.heartbeat_interval_ns:
            self.out += SERVER_HEARTBEAT_BYTES
            self._last_sent_ns = now_ns
            self.heartbeats_sent += 1
        deadline = min(
            self._last_sent_ns + config.heartbeat_interval_ns, self._last_received_ns + config.client_timeout_ns
        )
        return max(deadline - now_ns, 1)

    def end_of_day(self, now_ns: int) -> None:
        """Send what is left of the streams, then Logout ``E``, and close."""
        if self.state is ServerConnectionState.LOGGED_IN:
            self.pump(now_ns)
            self._logout("E", "End of day")

    def connection_lost(self, now_ns: int) -> None:
        """Note the connection is gone."""
        del now_ns
        self._release()
        self.state = ServerConnectionState.CLOSED

    # ---- internals ---------------------------------------------------------------------------------

    def _release(self) -> None:
        if self.session.logged_in is self:
            self.session.logged_in = None

    def _close(self, reason: str) -> None:
        if self.state is not ServerConnectionState.CLOSED:
            self._release()
            self.state = ServerConnectionState.CLOSED
            self.reason = reason
            self.listener.on_close_wanted(self, reason)

    def _units(self) -> tuple[tuple[int, int], ...]:
        return tuple((unit, self.streams.highest(unit)) for unit in sorted(self.streams.messages))

    def _logout(self, reason: str, text: str) -> None:
        self.out += encode_message(Logout(reason, text[:60], self.session.last_received, self._units()))
        self._close(f"logout {reason}: {text}")

    def _refuse(self, status: str, text: str, request: LoginRequest | None) -> None:
        groups = request.param_groups if request is not None else ()
        units = self._units() if status == "Q" else ()  # which unit is behind the login (every unit, as for A)
        self.out += encode_message(LoginResponse(status, text[:60], 0, self.session.last_received, units, groups))
        self._close(f"login refused ({status}): {text}")

    def _check_login(self, request: LoginRequest) -> tuple[str, str] | None:
        config = self.config
        if request.username != config.username or request.password != config.password:
            return "N", "Not authorized"
        if request.session_sub_id != config.session_sub_id:
            return "S", f"Invalid session {request.session_sub_id!r}"
        if self.session.logged_in is not None or self.streams.ended:
            return ("B", "Session in use") if not self.streams.ended else ("D", "Session disabled (end of day)")
        unit_groups = [g for g in request.param_groups if isinstance(g, UnitSequences)]
        if len(unit_groups) > 1:
            return "M", "More than one Unit Sequences group"
        for group in unit_groups:
            for unit, sequence in group.units:
                if unit not in self.streams.messages:
                    return "I", f"Invalid unit {unit}"
                if sequence > self.streams.highest(unit) and not config.accept_sequence_ahead:
                    return "Q", f"Unit {unit} sequence {sequence} ahead of {self.streams.highest(unit)}"
        for returns in request.param_groups:
            if not isinstance(returns, ReturnBitfields):
                continue
            allowed = RETURN_ALLOWED.get(returns.message_type, {})
            for index, byte in enumerate(returns.bitfields, 1):
                wrong = byte & ~allowed.get(index, 0) & 0xFF
                if wrong:
                    return "F", f"Invalid return bitfield {index} bits 0x{wrong:02X} for 0x{returns.message_type:02X}"
        return None

    def _login(self, message: memoryview, now_ns: int) -> None:
        request = decode_inbound(message)
        if isinstance(request, DecodeError) or not isinstance(request, LoginRequest):
            text = request.text if isinstance(request, DecodeError) else "not a Login Request"
            self._refuse("M", f"Invalid Login Request: {text}", None)
            return
        refused = self._check_login(request)
        if refused is not None:
            self._refuse(*refused, request)
            return
        self.login = request
        units = next((g for g in request.param_groups if isinstance(g, UnitSequences)), UnitSequences(0, ()))
        listed = dict(units.units)
        for unit in self.streams.messages:
            if unit in listed:  # above the highest only when accept_sequence_ahead: new messages go out from there
                self.sent[unit] = min(listed[unit], self.streams.highest(unit))
            else:
                self.sent[unit] = self.streams.highest(unit) if units.no_unspecified_unit_replay else 0
        self.return_bitfields = {
            g.message_type: g.bitfields for g in request.param_groups if isinstance(g, ReturnBitfields)
        }
        response = LoginResponse(
            "A",
            "Login Accepted",
            units.no_unspecified_unit_replay,
            self.session.last_received,
            self._units(),
            request.param_groups,
        )
        self.out += encode_message(response)
        self.session.logged_in = self
        self.state = ServerConnectionState.LOGGED_IN
        self.reason = f"logged in as {request.username!r}"
        self._last_sent_ns = now_ns
        self.replay_until = {unit: self.streams.highest(unit) for unit in self.streams.messages}
