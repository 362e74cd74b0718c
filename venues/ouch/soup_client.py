"""SoupBinTCP client session: the whole state machine in one place (sans-IO).

States::

    DISCONNECTED --connection_made--> LOGGING_IN --Login Accepted--> LOGGED_IN --logout()--> LOGGING_OUT
         ^                                |                              |                        |
         +--------- connection_lost ------+------------------------------+                        v
                    (backoff, then reconnect; Login Rejected A/S also ends here)              LOGGED_OUT
    LOGGING_IN / LOGGED_IN / LOGGING_OUT --End of Session--> ENDED
    LOGGING_IN --the max_login_refusals-th Login Rejected A in a row, then connection_lost--> LOGIN_REFUSED
    LOGIN_REFUSED --reconnect()--> DISCONNECTED
    DISCONNECTED --end_remembered() (End of Session on file, before a restart)--> ENDED

LOGGED_OUT and ENDED are final: ``reconnect_delay_ns`` returns None. So is LOGIN_REFUSED until ``reconnect()``
(an operator's ``gateway venue reconnect``): a venue that locks an account after repeated bad passwords is not
hammered. Only Login Rejected ``A`` (not authorized) counts; ``S`` (session not available) keeps the usual
backoff; a Login Accepted resets the count. A named session refused ``S`` in both paddings is given up: the next
login asks for the venue's current session (blank, from sequence 1), as a first start does (``left_session``).

The transport feeds bytes and connection events in, takes ``out`` (``take``), and
runs ``poll(now_ns)`` when asked. Sequenced Data is numbered implicitly from the
Login Accepted sequence and every message is handed over with its number, including
one the server sends again below ``next_sequence``: whether a message is new is not this
session's decision (the adapter asks the core's exactly-once component). Re-login asks for the same
session and ``next_sequence``, the number after the highest seen (until that session is refused in every padding).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Final, Protocol

from venues.ouch.errors import BAD_NUMBER, DecodeError
from venues.ouch.soup_config import SoupClientConfig as SoupClientConfig  # noqa: PLC0414 - re-exported
from venues.ouch.soupbin import (
    CLIENT_HEARTBEAT_PACKET,
    DEBUG,
    END_OF_SESSION,
    LOGIN_ACCEPTED,
    LOGIN_REJECT_TEXT,
    LOGIN_REJECTED,
    LOGOUT_REQUEST_PACKET,
    REJECT_NOT_AUTHORIZED,
    SEQUENCED_DATA,
    SERVER_HEARTBEAT,
    UNSEQUENCED_DATA,
    SoupSplitter,
    decode_login_accepted,
    encode_login_request,
)

log = logging.getLogger(__name__)

MS: Final = 1_000_000
MAX_SEQUENCE: Final = 2**63 - 1
"""The highest Login Accepted sequence number the client takes: the journal keeps 64-bit numbers (20 digits
allow more), and a session is refused at login rather than left UP with events the journal cannot store."""


class SoupClientState(enum.Enum):
    """Where the client session stands."""

    DISCONNECTED = "DISCONNECTED"
    LOGGING_IN = "LOGGING_IN"
    LOGGED_IN = "LOGGED_IN"
    LOGGING_OUT = "LOGGING_OUT"
    LOGGED_OUT = "LOGGED_OUT"
    """We logged out on purpose: no reconnect."""
    ENDED = "ENDED"
    """The server sent End of Session: no reconnect."""
    LOGIN_REFUSED = "LOGIN_REFUSED"
    """Login Rejected ``A`` (not authorized) ``max_login_refusals`` times in a row: no reconnect until reconnect()."""


_LOGGED_IN: Final = SoupClientState.LOGGED_IN
_SERVER_TYPES: Final = frozenset(
    {DEBUG, LOGIN_ACCEPTED, LOGIN_REJECTED, SEQUENCED_DATA, UNSEQUENCED_DATA, SERVER_HEARTBEAT, END_OF_SESSION}
)
"""Packet types a SoupBinTCP 4.1 server sends: any other one in a logged-in stream means it is out of frame."""
_LOGGING_OUT: Final = SoupClientState.LOGGING_OUT
_CONNECTED: Final = frozenset({SoupClientState.LOGGING_IN, SoupClientState.LOGGED_IN, SoupClientState.LOGGING_OUT})
_FINAL: Final = frozenset({SoupClientState.LOGGED_OUT, SoupClientState.ENDED, SoupClientState.LOGIN_REFUSED})


class SoupClientListener(Protocol):
    """What the session tells its owner (the venue adapter)."""

    def on_logged_in(self, session: str, sequence: int) -> None:
        """Login Accepted: ``sequence`` is the next sequenced message the server will send."""

    def on_login_rejected(self, reason: str, text: str) -> None:
        """Login Rejected with reason ``A`` or ``S`` (the server closes it), told once the next login is decided."""

    def on_sequenced(self, sequence: int, message: memoryview | bytes) -> None:
        """One Sequenced Data message and its sequence number (a server may send one again).

        A read of whole Sequenced Data packets hands each message over as ``bytes``, any other as a ``memoryview``.
        """

    def on_caught_up(self) -> None:
        """The first Server Heartbeat after Login Accepted: the server had nothing more to send (replay over)."""

    def on_end_of_session(self) -> None:
        """End of Session: no more messages and no reconnect."""

    def on_disconnect_wanted(self, reason: str) -> None:
        """Ask the transport to close the connection (timeout, protocol violation, end)."""

    def on_protocol_error(self, text: str) -> None:
        """The server broke the protocol in a way the session tolerates (counted)."""

    def on_refetch(self, sequence: int, text: str) -> None:
        """The stream is out of frame before ``sequence`` (not applied): the session logs in again from it."""

    def on_unsequenced(self, message: memoryview) -> None:
        """An Unsequenced Data packet from the server (``message``: its payload): counted, not applied."""


class SoupClientSession:
    """A SoupBinTCP client: login, implicit sequencing, heartbeats, timeouts and reconnect backoff."""

    def __init__(self, config: SoupClientConfig, listener: SoupClientListener) -> None:
        self.config = config
        self.listener = listener
        self._on_sequenced = listener.on_sequenced
        """``listener.on_sequenced``, bound once: one call per message, no method lookup."""
        self.state = SoupClientState.DISCONNECTED
        self.reason = "not connected yet"
        self.session = config.session
        """Session to request on the next login; the server's session id once logged in."""
        self.next_sequence = config.first_sequence
        """Sequence number of the next message not yet delivered."""
        self.out = bytearray()
        self._splitter = SoupSplitter()
        self._receive_sequence = 0
        self._requested_sequence = 0
        self._last_sent_ns = 0
        self._last_received_ns = 0
        self._closing = False
        self._session_right_justified = False
        """Request the session padded on the left (as Login Accepted carries it): the venue refused the alpha form."""
        self._catching_up = False
        """Logged in, no Server Heartbeat yet: the server may still be replaying."""
        self._failed_connections = 0
        self.logins = 0
        self.login_rejects = 0
        self.login_refusals = 0
        """Login Rejected ``A`` (not authorized) in a row since the last Login Accepted (or ``reconnect()``)."""
        self.last_login_refusal = ""
        """The last Login Rejected, as text and code (e.g. "not authorized (A)"); empty before any."""
        self._refused_for_good = False
        """This connection's Login Rejected reached ``max_login_refusals``: ``connection_lost`` stops the session."""
        self.session_refusals = 0
        """Login Rejected ``S`` in a row for the named session (one per padding tried)."""
        self.left_session = ""
        """The named session last given up for a blank login (refused ``S`` in every padding); "" if none."""
        self.unavailable_refusals = 0
        """Login Rejected ``S`` in a row for a blank login (the venue has no current session to give; ouchend56)."""
        self.gaps = 0
        """Logins whose Login Accepted sequence was above the one requested: messages the server cannot replay."""
        self.last_gap = (0, 0)
        """The sequence numbers (first, last) the last such login lost; (0, 0) before any."""
        self.numbering_restarts = 0
        """Logins whose Login Accepted sequence was below the one requested (``renumbered``)."""
        self.renumbered = False
        """The last Login Accepted named a sequence below the one requested: the server restarted its numbering
        (it no longer has the messages we saw), so the messages from that number on are new ones."""
        self.heartbeats_sent = 0
        self.debug_packets = 0
        self.unsequenced_ignored = 0
        self.protocol_errors = 0
        self.refetches = 0
        """Connections dropped to ask the server again for a sequenced packet that could not be read."""
        self.refetch_sequence = 0
        """The sequence number last asked for again (``refetch``); 0 if none."""
        self.refetch_repeats = 0
        """How many times in a row ``refetch_sequence`` could not be read."""
        self.after_read: Callable[[], None] | None = None
        """Called once when the read (``data_received``) in which the listener set it ends, also if the read raised;
        then cleared. The OUCH adapter's doubts file: one write per read, before the core journals what the read
        produced (ouch56; None, the steady state: nothing to do)."""

    # ---- commands ------------------------------------------------------------------

    def resume(self, session: str, next_sequence: int) -> None:
        """Set the session and sequence number to ask for on the next login (recovery after a restart)."""
        if self.state in _CONNECTED:
            raise RuntimeError("resume() must be called before connecting")
        self.session = session
        self.next_sequence = next_sequence

    def end_remembered(self, reason: str) -> None:
        """Start ENDED (no login): the venue ended the session before a restart, as its End of Session on file says."""
        if self.state in _CONNECTED:
            raise RuntimeError("end_remembered() must be called before connecting")
        self.state = SoupClientState.ENDED
        self.reason = reason

    def reconnect(self) -> bool:
        """Leave LOGIN_REFUSED: clear the refusal count so the next connection logs in; False in any other state."""
        if self.state is not SoupClientState.LOGIN_REFUSED:
            return False
        self.state = SoupClientState.DISCONNECTED
        self.login_refusals = 0
        self._failed_connections = 0
        self.reason = "reconnect requested after the login was refused"
        return True

    def refetch(self, sequence: int, text: str) -> bool:
        """Drop the connection and log in again asking for ``sequence`` (it could not be read: not applied).

        Nothing from ``sequence`` on in this read is handed over. The server sends it again, and everything
        after it. Return False, and do nothing, once ``sequence`` has failed ``max_refetches`` times in a row
        (``SoupClientConfig``): the caller then takes it as lost. The reconnect backs off as after a failed
        login (doubling with each repeat).
        """
        if sequence != self.refetch_sequence:
            self.refetch_sequence = sequence
            self.refetch_repeats = 0
        if self.refetch_repeats >= self.config.max_refetches:
            return False
        self.refetch_repeats += 1
        self.refetches += 1
        self._failed_connections = max(self._failed_connections, self.refetch_repeats - 1)
        if self.state is SoupClientState.LOGGED_IN or self.state is SoupClientState.LOGGING_OUT:
            self.next_sequence = sequence
            self._receive_sequence = sequence
        self.listener.on_refetch(sequence, text)
        self._request_disconnect(f"sequenced message {sequence} could not be read ({text}); asking for it again")
        return True

    def logout(self, now_ns: int) -> None:
        """Send Logout Request; once the connection closes the session stays down."""
        if self.state in (SoupClientState.LOGGED_IN, SoupClientState.LOGGING_IN):
            self.out += LOGOUT_REQUEST_PACKET
            self._last_sent_ns = now_ns
            self.state = SoupClientState.LOGGING_OUT
            self.reason = "logging out"
        elif self.state is SoupClientState.DISCONNECTED:
            self.state = SoupClientState.LOGGED_OUT
            self.reason = "logged out"

    def take(self, now_ns: int) -> bytearray:
        """Return the bytes queued for the wire (and note the send time); the buffer starts afresh."""
        out = self.out
        if out:
            self.out = bytearray()
            self._last_sent_ns = now_ns
        return out

    @property
    def logged_in(self) -> bool:
        """Return True when application messages may be sent."""
        return self.state is SoupClientState.LOGGED_IN

    @property
    def finished(self) -> bool:
        """Return True when the session will not reconnect (End of Session or logout)."""
        return self.state in _FINAL

    # ---- transport events ------------------------------------------------------------

    def connection_made(self, now_ns: int) -> None:
        """Start a login on a fresh connection."""
        self._splitter.reset()
        self._closing = False
        self._refused_for_good = False
        self._last_sent_ns = now_ns
        self._last_received_ns = now_ns
        if self.state in _FINAL:
            self._request_disconnect(f"session is {self.state.value}; not logging in again")
            return
        self._requested_sequence = self.next_sequence
        self.out = bytearray(
            encode_login_request(
                self.config.username,
                self.config.password,
                self.session,
                self.next_sequence,
                version=self.config.version,
                heartbeat_timeout_ms=self.config.heartbeat_timeout_ms,
                session_right_justified=self._session_right_justified,
            )
        )
        self.state = SoupClientState.LOGGING_IN
        self.reason = f"logging in to session {self.session or '(current)'!r} from sequence {self.next_sequence}"

    def data_received(self, data: bytes | bytearray | memoryview, now_ns: int) -> None:
        """Consume bytes from the server."""
        try:  # free until raised; ``after_read``, set by the listener during the read, runs at its end
            # Final aliases: no lookup; closing: asked to drop this connection (what it still brings is asked for
            # again at the next login)
            accepting = (self.state is _LOGGED_IN or self.state is _LOGGING_OUT) and not self._closing
            splitter = self._splitter
            size = len(data)
            packets: tuple[memoryview] | list[memoryview]
            whole = False
            # bytes (what a transport hands over): compiled, its subscripts are native (any other buffer: generic)
            if type(data) is bytes and not splitter._pending and size > 2:
                if accepting:  # is the read whole Sequenced Data packets, none empty (the steady state, one or many)?
                    pos = 0
                    while size - pos > 2:
                        length = data[pos] << 8 | data[pos + 1]
                        if not length or data[pos + 2] != SEQUENCED_DATA:
                            break
                        pos += 2 + length
                    if pos == size:  # yes: feed's and the loop's work inline, a bytes slice per packet's message
                        # (compiled, a native slice: a copy of a few dozen bytes costs less than a memoryview and a
                        # slice)
                        self._last_received_ns = now_ns
                        pos = 0
                        while pos < size:
                            stop = pos + 2 + (data[pos] << 8 | data[pos + 1])
                            sequence = self._receive_sequence
                            self._receive_sequence = sequence + 1
                            if sequence >= self.next_sequence:
                                self.next_sequence = sequence + 1
                            self._on_sequenced(sequence, data[pos + 3 : stop])
                            if self._closing:  # the message could not be read (``refetch``): nothing after it is taken
                                return
                            pos = stop
                        return
                whole = (data[0] << 8 | data[1]) + 2 == size  # exactly one whole packet: feed's work, inline
            if whole:
                self._last_received_ns = now_ns
                packets = (memoryview(data)[2:],)
            else:
                empty = splitter.empty_packets
                packets = splitter.feed(data)
                if packets:  # a whole packet, not any byte: a wrong length that swallows all later traffic is silence
                    self._last_received_ns = now_ns
                if splitter.empty_packets != empty:  # Packet Length 0: not even a type byte; the stream is out of frame
                    self._protocol_error(f"{splitter.empty_packets - empty} packet(s) of length 0 skipped")
                    if accepting and self._out_of_frame(packets, splitter.empty_packets - empty):
                        return
                if accepting and self._foreign_type(packets):
                    return
            for packet in packets:
                kind = packet[0]
                if kind == SEQUENCED_DATA and accepting:
                    sequence = self._receive_sequence
                    self._receive_sequence = sequence + 1
                    if sequence >= self.next_sequence:
                        self.next_sequence = sequence + 1
                    self._on_sequenced(sequence, packet[1:])
                    if self._closing:  # the message could not be read (``refetch``): nothing after it is taken
                        return
                elif kind == SERVER_HEARTBEAT:
                    if self._catching_up and accepting:
                        self._catching_up = False
                        self.listener.on_caught_up()
                elif self._on_control(packet):
                    return
                else:
                    accepting = self.state is SoupClientState.LOGGED_IN or self.state is SoupClientState.LOGGING_OUT
        finally:
            after = self.after_read
            if after is not None:
                self.after_read = None
                after()

    def connection_lost(self, now_ns: int) -> None:
        """Note the connection is gone; partial packets and unsent bytes are dropped."""
        del now_ns
        splitter = self._splitter
        if self.state is SoupClientState.LOGGING_IN and splitter.buffered:  # no whole packet before the close
            self._protocol_error(
                f"the server closed the connection before a Login Accepted after {splitter.buffered} bytes that "
                f"are not a whole SoupBinTCP packet (is it a SoupBinTCP server?): {splitter.head(40)!r}"
            )
        splitter.reset()
        self.out = bytearray()
        if self.state in _FINAL:
            return
        if self.state is SoupClientState.LOGGING_OUT:
            self.state = SoupClientState.LOGGED_OUT
            self.reason = "logged out"
            return
        if self.state is SoupClientState.LOGGING_IN:
            self._failed_connections += 1
            if self._refused_for_good:
                self._refused_for_good = False
                self.state = SoupClientState.LOGIN_REFUSED
                self.reason = (
                    f"login refused {self.login_refusals} times in a row ({self.last_login_refusal}): "
                    "not reconnecting until `gateway venue reconnect`"
                )
                return
        if not self._closing and self.state is not SoupClientState.DISCONNECTED:
            self.reason = "connection lost"
        self.state = SoupClientState.DISCONNECTED

    def poll(self, now_ns: int) -> int:
        """Send a heartbeat or give up on a silent server when due; return ns until the next deadline."""
        config = self.config
        if self.state not in _CONNECTED or self._closing:
            return config.heartbeat_interval_ns
        silence = now_ns - self._last_received_ns
        if silence >= config.server_timeout_ns:
            what = "Login Accepted" if self.state is SoupClientState.LOGGING_IN else "data"
            self._request_disconnect(f"no {what} from the server for {silence // MS} ms")
            return config.heartbeat_interval_ns
        deadline = self._last_received_ns + config.server_timeout_ns
        if self.state is SoupClientState.LOGGED_IN and now_ns - self._last_sent_ns >= config.heartbeat_interval_ns:
            self.out += CLIENT_HEARTBEAT_PACKET
            self._last_sent_ns = now_ns
            self.heartbeats_sent += 1
        if self.state is SoupClientState.LOGGED_IN:
            deadline = min(deadline, self._last_sent_ns + config.heartbeat_interval_ns)
        elif self.state is SoupClientState.LOGGING_IN:  # nothing brings the deadline forward when Login Accepted
            # arrives: look again one interval after the Login Request (then every interval), not a server
            # timeout later, so the first heartbeat is not late; never a deadline already past (no spinning)
            due = self._last_sent_ns + config.heartbeat_interval_ns
            deadline = min(deadline, due if due > now_ns else now_ns + config.heartbeat_interval_ns)
        return max(deadline - now_ns, 1)

    def reconnect_delay_ns(self, attempt: int) -> int | None:
        """Return the backoff before reconnect ``attempt`` (1-based), or None once the session is over.

        The delay doubles with each failed TCP connect (``attempt``) and with each
        connection in a row that did not get past the login; a successful login resets it.
        """
        if self.state in _FINAL:
            return None
        exponent = self.reconnect_attempt(attempt) - 1
        delay = self.config.reconnect_initial_ns << min(exponent, 40)
        return min(delay, self.config.reconnect_max_ns)

    def reconnect_attempt(self, attempt: int) -> int:
        """Return which reconnect in a row ``attempt`` is: failed TCP connects plus connections that did not log in."""
        return max(attempt - 1, 0) + self._failed_connections + 1

    # ---- internals -------------------------------------------------------------------

    def _request_disconnect(self, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self.reason = reason
            self.listener.on_disconnect_wanted(reason)

    def _out_of_frame(self, packets: list[memoryview], empty: int) -> bool:
        """Packet Length 0 in a logged-in stream: hand over nothing of this read, log in again from the next number.

        A packet of length 0 has no type byte: no server sends one, so the lengths before it were wrong and the
        packets of this read cannot be trusted. Return True if the session asked for them again (``refetch``).
        """
        text = f"{empty} packet(s) of length 0 among {len(packets) + empty}: the stream is out of frame"
        return self.refetch(self._receive_sequence, text)

    def _foreign_type(self, packets: list[memoryview]) -> bool:
        """A packet type no server sends in a logged-in read: its lengths were wrong, as with Packet Length 0.

        Nothing of this read is handed over; the login asks again from the next number (``refetch``). Return True
        if so; False (none, or ``refetch`` gave up on that number) and the packets are read as before.
        """
        for packet in packets:
            kind = packet[0]
            if kind not in _SERVER_TYPES:
                text = f"unknown packet type 0x{kind:02X} among {len(packets)} packet(s): the stream is out of frame"
                if self.refetch(self._receive_sequence, text):
                    self._protocol_error(text)
                    return True
                return False
        return False

    def _protocol_error(self, text: str) -> None:
        self.protocol_errors += 1
        self.listener.on_protocol_error(text)

    def _on_control(self, packet: memoryview) -> bool:
        """Handle a packet other than heartbeats and in-session data; return True to stop reading."""
        kind = packet[0]
        if kind == LOGIN_ACCEPTED:
            if self.state is not SoupClientState.LOGGING_IN:
                self._protocol_error(f"Login Accepted while {self.state.value}; ignored")
                return False
            accepted = decode_login_accepted(packet)
            if not isinstance(accepted, DecodeError) and accepted.sequence > MAX_SEQUENCE:
                accepted = DecodeError(BAD_NUMBER, f"sequence number {accepted.sequence} is above {MAX_SEQUENCE}")
            elif not isinstance(accepted, DecodeError) and accepted.sequence == 0:
                text = "sequence number 0 (the first sequenced message of every session is 1)"
                accepted = DecodeError(BAD_NUMBER, text)
            if isinstance(accepted, DecodeError):  # the login failed: disconnect, back off, log in again
                log.error("SoupBinTCP: bad Login Accepted, disconnecting: %s", accepted.text)
                self._protocol_error(f"bad Login Accepted: {accepted.text}")
                self._request_disconnect(f"bad Login Accepted: {accepted.text}")
                return True
            self._logged_in(accepted.session, accepted.sequence)
            return self._closing
        if kind == LOGIN_REJECTED:
            code = chr(packet[1]) if len(packet) == 2 else "?"
            if self.state is not SoupClientState.LOGGING_IN:  # it only answers a Login Request (SoupBinTCP 3.00)
                self._protocol_error(f"Login Rejected ({code}) while {self.state.value}; ignored")
                return False
            text = LOGIN_REJECT_TEXT.get(code, "unknown reason")
            self.login_rejects += 1
            self.last_login_refusal = f"{text} ({code})"
            if code == REJECT_NOT_AUTHORIZED:  # "S" (session not available) is transient: not counted
                self.login_refusals += 1
                limit = self.config.max_login_refusals
                self._refused_for_good = 0 < limit <= self.login_refusals
            reason = f"login rejected: {text} ({code})"
            if code == "S" and not self.session.strip():
                self.unavailable_refusals += 1
            elif code == "S":
                self.session_refusals += 1
                if self.session_refusals < (2 if len(self.session) < 10 else 1):
                    # the spec leaves its padding open: try the other one next
                    self._session_right_justified = not self._session_right_justified
                    side = "left" if self._session_right_justified else "right"
                    reason += f"; the next login asks for {self.session!r} padded on the {side}"
                else:  # refused in every form: the venue moved to another session (or lost this one)
                    self.left_session = self.session
                    self.session = ""
                    self.next_sequence = self.config.first_sequence
                    self._session_right_justified = False
                    self.session_refusals = 0
                    reason += (
                        f"; session {self.left_session!r} refused in every padding: the next login asks for the "
                        "venue's current session (blank)"
                    )
            self.listener.on_login_rejected(code, text)
            self._request_disconnect(reason)
            return True
        if kind == END_OF_SESSION:
            self.state = SoupClientState.ENDED
            self.reason = "end of session"
            self._closing = True
            self.listener.on_end_of_session()
            self.listener.on_disconnect_wanted("end of session")
            return True
        if kind == DEBUG:
            self.debug_packets += 1
        elif kind == UNSEQUENCED_DATA:
            self.unsequenced_ignored += 1
            self.listener.on_unsequenced(packet[1:])
        elif kind == SEQUENCED_DATA:
            if self._closing:  # the rest of a connection being dropped: asked for again at the next login
                return True
            self._protocol_error(f"Sequenced Data while {self.state.value}")
            self._request_disconnect(f"Sequenced Data while {self.state.value}")
            return True
        else:
            if (self.state is _LOGGED_IN or self.state is _LOGGING_OUT) and not self._closing:
                text = f"unknown packet type 0x{kind:02X}: the stream is out of frame"
                if self.refetch(self._receive_sequence, text):  # as Packet Length 0: asked for again from here
                    self._protocol_error(text)
                    return True
            self._protocol_error(f"unknown packet type 0x{kind:02X} ignored")
        return False

    def _logged_in(self, session: str, sequence: int) -> None:
        requested = self._requested_sequence
        self.renumbered = False
        if requested == 0:
            self.next_sequence = sequence
        elif sequence < self.next_sequence:  # the Login Accepted sequence is authoritative (the spec)
            self.renumbered = True
            self.numbering_restarts += 1
            if self.session and session.strip() != self.session.strip():
                self._protocol_error(
                    f"the server put the login in a new session {session!r} (was {self.session!r}) at sequence "
                    f"{sequence}; {self.next_sequence} was requested in the old one; messages from {sequence} on "
                    "are new ones"
                )
            else:
                self._protocol_error(
                    f"server's next sequence is {sequence}, below the {self.next_sequence} requested in session "
                    f"{session!r}: its numbering restarted; messages from {sequence} on are taken as new"
                )
            self.next_sequence = sequence
        elif sequence > self.next_sequence:
            self.gaps += 1
            self.last_gap = (self.next_sequence, sequence - 1)
            self._protocol_error(
                f"server resumes at sequence {sequence} but {self.next_sequence} was requested: "
                f"messages {self.next_sequence}..{sequence - 1} cannot be recovered"
            )
            self.next_sequence = sequence
        self._receive_sequence = sequence
        self.session = session
        self.state = SoupClientState.LOGGED_IN
        self._catching_up = True
        self._failed_connections = 0
        self.login_refusals = 0
        self.session_refusals = 0
        self.unavailable_refusals = 0
        self.logins += 1
        self.reason = f"logged in to session {session!r}, next sequence {sequence}"
        self.listener.on_logged_in(session, sequence)
