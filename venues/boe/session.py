"""BOE v2 client session: the whole state machine in one place (sans-IO).

States::

    DISCONNECTED --connection_made--> LOGGING_IN --Login Response A--> REPLAYING --Replay Complete--> LOGGED_IN
         ^                                |                               |                             |
         +-------- connection_lost -------+-------------------------------+-----------------------------+
             (backoff, then reconnect; a Login Response other than A or none within login_timeout, a
              silent server, a replay that never completes and an unrequested Logout A/! all count as
              failed logins, except the
              first login dropped to correct renumbered units, or refused I for units Cboe does not
              have: its re-login is the correction)
    REPLAYING / LOGGED_IN --logout()--> LOGGING_OUT --Logout--> LOGGED_OUT      (final: no reconnect)
    any connected state --Logout E (end of day)--> ENDED                          (final: no reconnect)
    LOGGING_IN --the max_login_refusals-th lasting refusal (N/D/S/F/M, or an I it cannot correct) in a row,
                 then connection_lost--> LOGIN_REFUSED
    LOGIN_REFUSED --reconnect()--> DISCONNECTED

LOGIN_REFUSED is final until ``reconnect()`` (an operator's ``gateway venue reconnect``): Cboe refused the login
``max_login_refusals`` times in a row for a reason no retry cures: the credentials (``N`` not authorized, ``D``
session disabled: a venue that locks an account after repeated bad passwords must not be hammered) or what the
venue config makes of the Login Request (``S`` invalid session, ``F`` invalid return bitfield, ``M`` structurally
invalid, ``I`` invalid unit once dropping the units Cboe did not list cannot correct it). The same login would get
the same answer all day. ``B`` (session in use) and ``Q`` (sequence ahead) back off as before and are not counted;
Replay Complete resets the count.

Sequencing (reference §7.1, §7.2): every Cboe -> member application message carries its matching
unit and a per-unit sequence number. The session keeps the last one received per unit (``units``)
and sends them in the Login Request's Unit Sequences group, so Cboe replays exactly what was
missed. A message counts as received only once the adapter has decoded it: one of a known type
that does not decode (cut short, say) leaves its unit's number where it was, and the session drops
the connection (a protocol error), so the next login lists the last number read and Cboe sends it
again; an unsequenced one is dropped for too, so that the request it answered is settled after the
re-login. Those drops back off like failed logins. A sequenced message of a type we do not know is
ignored but counts as received: no replay would make it readable.

Messages received between the Login Response and Replay Complete are delivered with ``replay=True``:
orders sent before Replay Complete would be rejected (reason ``y``), and the adapter must read the
whole replay before deciding what to re-send. Every sequenced message is handed over with its unit
and number, including one Cboe sends again at or below the unit's last number: whether a message is
new is not this session's decision (the adapter asks the core's exactly-once component,
``model.exactly_once``, per matching unit). The session only counts such repeats and reports a
number above the next expected as a gap (delivered), as ``SequenceIssue`` data, never raised. A
Login Response whose highest number for a unit is below the last one we received (accepted, or
refused ``Q``; the unit list of any other refusal, ``B`` session in use say, changes nothing) means
Cboe restarted that unit's numbering: the unit is ``renumbered``, its mark
starts again from 0, and when Cboe already has messages in its new numbering the session logs in
again (from 0) to have them replayed. That corrective re-login does not back off further: the
refused (or dropped) login is not counted as failed, once until the next Replay Complete; a
renumbering again before then counts as usual. A login refused ``I`` (invalid unit: we listed a unit
Cboe does not have, one learned from a message, say) drops from the next login the units the response
does not list (with none listed: those no Login Response has listed), keeping the marks of the others;
that re-login is free in the same way. Messages on matching unit 0 / sequence 0 are
unsequenced (the order handler's rejects): delivered, never tracked.

Member -> Cboe application messages are numbered by ``allocate_sequence`` from one counter
(Cboe logs out on a step backwards, ignores a step forwards); after a login the counter continues
above Cboe's LastReceivedSequenceNumber, which also tells the adapter which of its requests Cboe
processed before the connection broke.

The transport feeds bytes and connection events in, takes ``out`` (``take``), and runs
``poll(now_ns)`` when asked; ``poll`` returns the nanoseconds until its next deadline.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, Protocol

import msgspec

from venues.boe.codec import (
    CLIENT_HEARTBEAT_BYTES,
    HEADER,
    LOGOUT_REQUEST_BYTES,
    MESSAGE_NAMES,
    BoeSplitter,
    decode_outbound_generic,
    encode_message,
)
from venues.boe.errors import DecodeError
from venues.boe.messages import (
    LOGIN_ACCEPTED,
    LOGIN_INVALID_UNIT,
    LOGIN_LASTING_REFUSALS,
    LOGIN_RESPONSE,
    LOGIN_UNITS_AUTHORITATIVE,
    LOGOUT,
    LOGOUT_END_OF_DAY,
    REPLAY_COMPLETE,
    RETURN_TYPES,
    SERVER_HEARTBEAT,
    LoginRequest,
    LoginResponse,
    Logout,
    ParamGroup,
    ReturnBitfields,
    UnitSequences,
    login_status_text,
)

MS: Final = 1_000_000
UNIT_SHIFT: Final = 32


def venue_seq(unit: int, sequence: int) -> int:
    """Return one integer that orders (matching unit, sequence) pairs: ``unit << 32 | sequence``.

    BOE sequences are per matching unit; the gateway's ``venue_seq`` is one integer per event.
    Within a unit the integers increase with the sequence; 0 stays 0 (unsequenced).
    """
    return (unit << UNIT_SHIFT) | sequence if sequence else 0


def split_venue_seq(value: int) -> tuple[int, int]:
    """Return (matching unit, sequence) of a ``venue_seq`` made by ``venue_seq``."""
    return value >> UNIT_SHIFT, value & 0xFFFF_FFFF


class BoeSessionState(enum.Enum):
    """Where the client session stands."""

    DISCONNECTED = "DISCONNECTED"
    LOGGING_IN = "LOGGING_IN"
    REPLAYING = "REPLAYING"
    """Login accepted; Cboe is replaying missed messages. Orders would be rejected (reason y)."""
    LOGGED_IN = "LOGGED_IN"
    """Replay Complete received: orders may be sent."""
    LOGGING_OUT = "LOGGING_OUT"
    LOGGED_OUT = "LOGGED_OUT"
    """We logged out on purpose: no reconnect."""
    ENDED = "ENDED"
    """Cboe sent Logout for the end of the day: no reconnect."""
    LOGIN_REFUSED = "LOGIN_REFUSED"
    """A lasting refusal (N, D, S, F, M; an I not corrected) ``max_login_refusals`` times in a row: no reconnect
    until ``reconnect()``."""


_CONNECTED: Final = frozenset(
    {BoeSessionState.LOGGING_IN, BoeSessionState.REPLAYING, BoeSessionState.LOGGED_IN, BoeSessionState.LOGGING_OUT}
)
_SESSION_UP: Final = frozenset({BoeSessionState.REPLAYING, BoeSessionState.LOGGED_IN, BoeSessionState.LOGGING_OUT})
_FINAL: Final = frozenset({BoeSessionState.LOGGED_OUT, BoeSessionState.ENDED, BoeSessionState.LOGIN_REFUSED})
_RETURN_TYPES: Final = frozenset(RETURN_TYPES)


class BoeSessionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Login credentials, negotiated return fields and timers of a BOE client session."""

    session_sub_id: str
    username: str
    password: str
    return_bitfields: dict[int, bytes] = {}
    """Message type -> return bitfields asked for at login (one Return Bitfields group each)."""
    no_unspecified_unit_replay: bool = False
    """Login flag: True = do not replay units the login does not list."""
    sequence_outbound: bool = True
    """Number member -> Cboe application messages (False: send 0, which Cboe accepts as "not supplied")."""
    heartbeat_interval_ns: int = 1_000 * MS
    """Send a Client Heartbeat after this long without sending anything (spec 2.3.7 §2.4: one second)."""
    server_timeout_ns: int = 5_000 * MS
    """Drop the connection after this long without any byte from Cboe (also bounds login and logout)."""
    login_timeout_ns: int = 10_000 * MS
    """Drop the connection when the Login Response has not come this long after the Login Request (Server
    Heartbeats do not count: a venue that heartbeats but never answers the login would hold it for ever)."""
    replay_timeout_ns: int = 60_000 * MS
    """Drop the connection when Replay Complete has not come this long after the Login Response."""
    reconnect_initial_ns: int = 100 * MS
    reconnect_max_ns: int = 10_000 * MS
    max_login_refusals: int = 3
    """Stop reconnecting after this many lasting refusals (N, D, S, F, M; an I not corrected) in a row; 0 = never."""
    end_of_day_reasons: str = LOGOUT_END_OF_DAY
    """LogoutReason codes that end the session for the day (no reconnect)."""


class SequenceIssue(msgspec.Struct, frozen=True, gc=False):
    """A sequence anomaly on one matching unit, reported as data."""

    kind: str
    """``gap`` (delivered anyway), ``behind`` (Cboe has less than we saw: it restarted the unit's numbering) or
    ``replay_short`` (Replay Complete came before the unit reached the sequence the Login Response gave)."""
    unit: int
    expected: int
    received: int
    text: str


GAP: Final = "gap"
BEHIND: Final = "behind"
REPLAY_SHORT: Final = "replay_short"


class BoeSessionListener(Protocol):
    """What the session tells its owner (the venue adapter)."""

    def on_login_accepted(self, response: LoginResponse) -> None:
        """Login Response A: replay follows; ``response.last_received_sequence`` is the last request Cboe processed."""

    def on_login_rejected(self, status: str, text: str) -> None:
        """Login Response other than A (Cboe closes the connection)."""

    def on_application(self, message: memoryview, unit: int, sequence: int, replay: bool) -> str | None:
        """One Cboe -> member application message (whole, header included), also one repeated (``sequence`` at or
        below the unit's last) and one sequenced of a type not known (a protocol error, ignored by the adapter, its
        number received): the adapter asks the exactly-once component whether it is new.

        Return None, or why the message does not decode: it is then not received (the adapter must not have
        admitted its number), and the session drops the connection to have Cboe send it again.
        """

    def on_replay_complete(self) -> None:
        """Replay Complete: every replayed message was delivered; orders may be sent now."""

    def on_sequence_issue(self, issue: SequenceIssue) -> None:
        """A gap, a unit behind our mark or a short replay on one matching unit."""

    def on_logout(self, logout: Logout) -> None:
        """Cboe's Logout (answer to ours, end of day, administrative or protocol violation)."""

    def on_disconnect_wanted(self, reason: str) -> None:
        """Ask the transport to close the connection (timeout, protocol violation, logout)."""

    def on_protocol_error(self, text: str) -> None:
        """Cboe broke the protocol in a way the session tolerates or disconnects for (counted)."""


class BoeClientSession:
    """A BOE v2 client: login with per-unit sequences, replay, heartbeats, timeouts, logout and backoff."""

    def __init__(self, config: BoeSessionConfig, listener: BoeSessionListener) -> None:
        self.config = config
        self.listener = listener
        self.state = BoeSessionState.DISCONNECTED
        self.reason = "not connected yet"
        self.units: dict[int, int] = {}
        """Matching unit -> last sequence received (the high-water mark sent at login)."""
        self.replay_targets: dict[int, int] = {}
        """Matching unit -> highest sequence Cboe said it has, from the last Login Response."""
        self.next_outbound = 1
        """Sequence number the next member -> Cboe application message gets."""
        self.last_processed = 0
        """Cboe's LastReceivedSequenceNumber from the last Login Response (or Logout)."""
        self.out = bytearray()
        self._splitter = BoeSplitter()
        self._last_sent_ns = 0
        self._last_received_ns = 0
        self._phase_started_ns = 0
        self._closing = False
        self._failed_logins = 0
        self._undecodable_in_row = 0
        """Connections dropped in a row for an undecodable message (until the stream moves past it)."""
        self._broken_unit = 0
        self._broken_sequence = 0
        """Unit and number of the last message dropped for (0: an unsequenced one)."""
        self._correcting = False
        """A login was dropped to correct renumbered units since the last Replay Complete (only the first is free)."""
        self._uncounted = False
        """This connection's login is dropped for the correction: ``connection_lost`` does not count it as failed."""
        self.logins = 0
        self.login_rejects = 0
        self.login_refusals = 0
        """Lasting refusals (``LOGIN_LASTING_REFUSALS``, an I not corrected) in a row since the last Replay Complete
        (or ``reconnect()``)."""
        self.last_login_refusal = ""
        """The last refused login, as text and status (e.g. "not authorized (...) (N)"); empty before any."""
        self.last_refusal_status = ""
        """The LoginResponseStatus of the last refused login ("" before any)."""
        self._refused_for_good = False
        """This connection's refusal reached ``max_login_refusals``: ``connection_lost`` stops the session."""
        self.replayed = 0
        self.repeats = 0
        """Sequenced messages at or below their unit's last number (delivered; the adapter's component drops them)."""
        self.gaps = 0
        self.numbering_restarts = 0
        """Units whose numbering Cboe restarted, as Login Responses showed (``renumbered``)."""
        self.listed_units: set[int] = set()
        """Matching units any Login Response of this process listed (Cboe has them)."""
        self.dropped_units: dict[int, int] = {}
        """Units (with our last sequence) the last Login Response, refused ``I`` (invalid unit), dropped from login."""
        self.renumbered: dict[int, int] = {}
        """Matching unit -> highest sequence Cboe has on it, for the units the last Login Response showed below
        our mark: Cboe restarted that unit's numbering (it no longer has what we saw), so its messages from 1 on
        are new ones. The login after lists them from 0."""
        self.unsequenced = 0
        self.heartbeats_sent = 0
        self.login_timeouts = 0
        """Connections dropped because the Login Response did not come within ``login_timeout_ns``."""
        self.protocol_errors = 0
        self.undecodable = 0
        """Connections dropped because a message of a known type did not decode."""

    # ---- commands ------------------------------------------------------------------------

    def resume(self, units: Mapping[int, int], next_outbound: int = 1) -> None:
        """Set the per-unit sequences (and outbound counter) to log in with (recovery after a restart)."""
        if self.state in _CONNECTED:
            raise RuntimeError("resume() must be called before connecting")
        self.units = {unit: sequence for unit, sequence in units.items() if sequence >= 0}
        self.next_outbound = max(next_outbound, 1)

    def allocate_sequence(self) -> int:
        """Return the SequenceNumber for the next application message we send (0 when not sequencing)."""
        if not self.config.sequence_outbound:
            return 0
        sequence = self.next_outbound
        self.next_outbound = sequence + 1
        return sequence

    def release_sequence(self, sequence: int) -> None:
        """Give back ``sequence``, the last one ``allocate_sequence`` returned, for a message that never left.

        The next message takes it, so Cboe sees no number skipped (it would ignore a forward gap, but the
        adapter compares its numbers with LastReceivedSequenceNumber after a login). A number already followed by
        another is kept (0, not sequencing: nothing to give back).
        """
        if sequence and self.next_outbound == sequence + 1:
            self.next_outbound = sequence

    def end_remembered(self, reason: str, last_received: int) -> None:
        """Start ENDED: Cboe ended this trading day before a restart (its Logout ``E``, on file); no login today."""
        self.state = BoeSessionState.ENDED
        self.reason = reason
        self.last_processed = max(self.last_processed, last_received)

    def reconnect(self) -> bool:
        """Leave LOGIN_REFUSED: clear the refusal count so the next connection logs in; False in any other state."""
        if self.state is not BoeSessionState.LOGIN_REFUSED:
            return False
        self.state = BoeSessionState.DISCONNECTED
        self.login_refusals = 0
        self._failed_logins = 0
        self.reason = "reconnect requested after the login was refused"
        return True

    def logout(self, now_ns: int) -> None:
        """Send Logout Request; once Cboe answers (or the connection closes) the session stays down."""
        if self.state in (BoeSessionState.LOGGING_IN, BoeSessionState.REPLAYING, BoeSessionState.LOGGED_IN):
            self.out += LOGOUT_REQUEST_BYTES
            self._last_sent_ns = now_ns
            self._phase_started_ns = now_ns
            self.state = BoeSessionState.LOGGING_OUT
            self.reason = "logging out"
        elif self.state is BoeSessionState.DISCONNECTED:
            self.state = BoeSessionState.LOGGED_OUT
            self.reason = "logged out"

    def take(self, now_ns: int) -> bytearray:
        """Return the bytes queued for the wire (and note the send time); the buffer starts afresh."""
        out = self.out
        if out:
            self.out = bytearray()
            self._last_sent_ns = now_ns
        return out

    @property
    def ready(self) -> bool:
        """Return True when application messages may be sent (logged in and replay complete)."""
        return self.state is BoeSessionState.LOGGED_IN

    @property
    def replaying(self) -> bool:
        """Return True between the Login Response and Replay Complete."""
        return self.state is BoeSessionState.REPLAYING

    @property
    def finished(self) -> bool:
        """Return True when the session will not reconnect (our logout or end of day)."""
        return self.state in _FINAL

    def login_request(self) -> LoginRequest:
        """Return the Login Request the next connection sends."""
        config = self.config
        groups: list[ParamGroup] = []
        if self.units or config.no_unspecified_unit_replay:
            groups.append(UnitSequences(int(config.no_unspecified_unit_replay), tuple(sorted(self.units.items()))))
        groups.extend(ReturnBitfields(kind, bits) for kind, bits in sorted(config.return_bitfields.items()))
        return LoginRequest(config.session_sub_id, config.username, config.password, tuple(groups))

    # ---- transport events ----------------------------------------------------------------------

    def connection_made(self, now_ns: int) -> None:
        """Start a login on a fresh connection."""
        self._splitter.reset()
        self._closing = False
        self._uncounted = False
        self._refused_for_good = False
        self._last_sent_ns = self._last_received_ns = self._phase_started_ns = now_ns
        if self.state in _FINAL:
            self._request_disconnect(f"session is {self.state.value}; not logging in again")
            return
        self.out = bytearray(encode_message(self.login_request()))
        self.state = BoeSessionState.LOGGING_IN
        listed = ", ".join(f"{u}:{s}" for u, s in sorted(self.units.items())) or "none"
        self.reason = f"logging in (units {listed})"

    def data_received(self, data: bytes | bytearray | memoryview, now_ns: int) -> None:
        """Consume bytes from Cboe."""
        splitter = self._splitter
        messages = splitter.feed(data)
        if messages:  # a whole message, not any byte: a bad MessageLength that swallows all later traffic is silence
            self._last_received_ns = now_ns
        unpack = HEADER.unpack_from
        for message in messages:
            if self._closing:
                return
            _start, _length, kind, unit, sequence = unpack(message)
            if kind in _RETURN_TYPES:
                self._on_application(message, unit, sequence)
            elif kind == SERVER_HEARTBEAT:
                continue
            else:
                self._on_session(kind, message, unit, sequence, now_ns)
        if splitter.error is not None and not self._closing:
            self._protocol_error(f"framing lost: {splitter.error.text}")
            self._request_disconnect(f"framing lost: {splitter.error.text}")

    def connection_lost(self, now_ns: int) -> None:
        """Note the connection is gone; partial messages and unsent bytes are dropped."""
        del now_ns
        self._splitter.reset()
        self.out = bytearray()
        if self.state in _FINAL:
            return
        if self.state is BoeSessionState.LOGGING_OUT:
            self.state = BoeSessionState.LOGGED_OUT
            self.reason = "logged out"
            return
        if self.state in (BoeSessionState.LOGGING_IN, BoeSessionState.REPLAYING) and not self._uncounted:
            self._failed_logins += 1
        self._uncounted = False
        if self._refused_for_good:
            self._refused_for_good = False
            self.state = BoeSessionState.LOGIN_REFUSED
            self.reason = (
                f"login refused {self.login_refusals} times in a row ({self.last_login_refusal}): "
                "not reconnecting until `gateway venue reconnect`"
            )
            return
        if not self._closing and self.state is not BoeSessionState.DISCONNECTED:
            self.reason = "connection lost"
        self.state = BoeSessionState.DISCONNECTED

    def poll(self, now_ns: int) -> int:
        """Send a heartbeat or give up on a silent Cboe when due; return ns until the next deadline."""
        config = self.config
        state = self.state
        if state not in _CONNECTED or self._closing:
            return config.heartbeat_interval_ns
        silence = now_ns - self._last_received_ns
        if silence >= config.server_timeout_ns:
            partial = self._splitter.partial()
            if partial:  # bytes kept coming, but no message completed: a MessageLength that lies, say
                text = f"no whole message from Cboe for {silence // MS} ms: {partial}"
                self._protocol_error(text)
                self._request_disconnect(text)
                return config.heartbeat_interval_ns
            if state is BoeSessionState.LOGGING_IN:  # the login unanswered: a login timeout, whichever timer fires
                waited = (now_ns - self._phase_started_ns) // MS
                self._login_timeout(waited, f"nothing from Cboe for {silence // MS} ms: server_timeout")
                return config.heartbeat_interval_ns
            self._request_disconnect(f"no data from Cboe for {silence // MS} ms")
            return config.heartbeat_interval_ns
        deadline = self._last_received_ns + config.server_timeout_ns
        if state is BoeSessionState.LOGGING_IN:
            if now_ns - self._phase_started_ns >= config.login_timeout_ns:
                self._login_timeout(config.login_timeout_ns // MS, "")
                return config.heartbeat_interval_ns
            deadline = min(deadline, self._phase_started_ns + config.login_timeout_ns)
        elif state is BoeSessionState.REPLAYING:
            if now_ns - self._phase_started_ns >= config.replay_timeout_ns:
                text = f"no Replay Complete {config.replay_timeout_ns // MS} ms after login"
                self._protocol_error(text)  # a WARNING, as a login timeout is (before, only the INFO disconnect)
                self._request_disconnect(text)
                return config.heartbeat_interval_ns
            deadline = min(deadline, self._phase_started_ns + config.replay_timeout_ns)
        elif state is BoeSessionState.LOGGING_OUT:
            if now_ns - self._phase_started_ns >= config.server_timeout_ns:
                self._request_disconnect(f"no Logout {config.server_timeout_ns // MS} ms after Logout Request")
                return config.heartbeat_interval_ns
            deadline = min(deadline, self._phase_started_ns + config.server_timeout_ns)
        if state in _SESSION_UP:
            if now_ns - self._last_sent_ns >= config.heartbeat_interval_ns:
                self.out += CLIENT_HEARTBEAT_BYTES
                self._last_sent_ns = now_ns
                self.heartbeats_sent += 1
            deadline = min(deadline, self._last_sent_ns + config.heartbeat_interval_ns)
        elif state is BoeSessionState.LOGGING_IN:  # nothing brings the deadline forward when the Login Response
            # arrives: without this the first heartbeat after it came a server timeout (5 s, Cboe's limit) later;
            # look again every interval instead, never at a deadline already past (no spinning)
            due = self._last_sent_ns + config.heartbeat_interval_ns
            deadline = min(deadline, due if due > now_ns else now_ns + config.heartbeat_interval_ns)
        return max(deadline - now_ns, 1)

    def reconnect_delay_ns(self, attempt: int) -> int | None:
        """Return the backoff before reconnect ``attempt`` (1-based), or None once the session is over.

        The delay doubles with each failed TCP connect (``attempt``) and with each failed login in a row
        (rejected, timed out, cut before Replay Complete, or logged out by Cboe with A or !); Replay
        Complete resets it. A connection dropped for a message that did not decode counts likewise, until
        that message is read (an unsequenced one: until a message is read after Replay Complete): a venue
        that keeps sending the same broken message is not hammered (such a drop during the replay is also a
        failed login; the larger count wins). A login refused ``Q`` listing a unit Cboe renumbered, refused
        ``I`` for units then dropped, or accepted with messages of a renumbered unit it would not replay, is not
        counted: the re-login that
        corrects it (the unit from 0) waits no longer than the login before it. Only the first such login
        until Replay Complete is free; a venue that keeps refusing backs off as usual.
        """
        if self.state in _FINAL:
            return None
        delay = self.config.reconnect_initial_ns << min(self.reconnect_attempt(attempt) - 1, 40)
        return min(delay, self.config.reconnect_max_ns)

    def reconnect_attempt(self, attempt: int) -> int:
        """Return which try in a row the next connection is: failed TCP connects (``attempt``) plus failed logins."""
        return max(attempt - 1, 0) + max(self._failed_logins, self._undecodable_in_row) + 1

    # ---- internals -----------------------------------------------------------------------------

    def _request_disconnect(self, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self.reason = reason
            self.listener.on_disconnect_wanted(reason)

    def _login_timeout(self, waited_ms: int, why: str) -> None:
        """The Login Response has not come: count a login timeout, a protocol error, and drop the connection.

        ``login_timeout`` (Server Heartbeats coming) or ``server_timeout`` (nothing at all from Cboe, ``why`` says
        so), whichever is first: before boemodify57 a Cboe silent at login was dropped by the silence rule alone,
        counted in neither ``login_timeouts`` nor ``protocol_errors`` and logged at INFO (rev57boe s19).
        """
        self.login_timeouts += 1
        text = f"no Login Response {waited_ms} ms after the Login Request"
        if why:
            text += f" ({why})"
        self._protocol_error(text)
        self._request_disconnect(text)

    def _protocol_error(self, text: str) -> None:
        self.protocol_errors += 1
        self.listener.on_protocol_error(text)

    def _issue(self, kind: str, unit: int, expected: int, received: int, text: str) -> None:
        self.listener.on_sequence_issue(SequenceIssue(kind, unit, expected, received, text))

    def _on_application(self, message: memoryview, unit: int, sequence: int) -> None:
        state = self.state
        if state not in _SESSION_UP:
            self._protocol_error(f"{MESSAGE_NAMES[message[4]]} while {state.value}; ignored")
            return
        replay = state is BoeSessionState.REPLAYING
        if sequence == 0:
            self.unsequenced += 1
            failed = self.listener.on_application(message, unit, 0, replay)
            if failed is not None:
                self._undecodable(message, unit, 0, failed)
            elif self._undecodable_in_row:
                self._moved_on(unit, 0, replay)
            return
        last = self.units.get(unit, 0)
        if replay:
            self.replayed += 1
        if sequence <= last:
            self.repeats += 1
            failed = self.listener.on_application(message, unit, sequence, replay)
            if failed is not None:  # a number already received (and read): nothing is missing
                name = MESSAGE_NAMES[message[4]]
                self._protocol_error(f"undecodable {name} repeated (unit {unit}, sequence {sequence}): {failed}")
            return
        if sequence != last + 1:
            self.gaps += 1
            self._issue(GAP, unit, last + 1, sequence, f"unit {unit}: {last + 1}..{sequence - 1} missing")
        failed = self.listener.on_application(message, unit, sequence, replay)
        if failed is not None:
            self._undecodable(message, unit, sequence, failed)
            return
        self.units[unit] = sequence
        if self._undecodable_in_row:
            self._moved_on(unit, sequence, replay)

    def _moved_on(self, unit: int, sequence: int, replay: bool) -> None:
        """A message decoded after drops for an undecodable one: end the back-off once it is behind us."""
        if self._broken_sequence:  # Cboe sends that one again: read once its unit reaches its number
            if unit == self._broken_unit and sequence >= self._broken_sequence:
                self._undecodable_in_row = 0
        elif not replay:  # an unsequenced one (never replayed): once a message is read after Replay Complete
            self._undecodable_in_row = 0

    def _undecodable(self, message: memoryview, unit: int, sequence: int, why: str) -> None:
        """A message of a known type did not decode: leave its number unreceived and drop the connection."""
        self.undecodable += 1
        self._undecodable_in_row += 1
        self._broken_unit = unit
        self._broken_sequence = sequence
        name = MESSAGE_NAMES[message[4]]
        if sequence:
            after = f"the next login lists {self.units.get(unit, 0)} so that Cboe sends it again"
        else:
            after = "unsequenced, never replayed: requests in doubt are settled after the next login"
        text = f"undecodable {name} (unit {unit}, sequence {sequence}, {len(message)} bytes): {why}; {after}"
        self._protocol_error(text)
        self._request_disconnect(text)

    def _on_session(self, kind: int, message: memoryview, unit: int, sequence: int, now_ns: int) -> None:
        if kind == LOGIN_RESPONSE:
            if self.state is not BoeSessionState.LOGGING_IN:
                self._protocol_error(f"Login Response while {self.state.value}; ignored")
                return
            response = decode_outbound_generic(message)
            if not isinstance(response, LoginResponse):
                text = response.text if isinstance(response, DecodeError) else "?"
                self._protocol_error(f"bad Login Response: {text}")
                self._request_disconnect(f"bad Login Response: {text}")
                return
            self._on_login_response(response, now_ns)
        elif kind == REPLAY_COMPLETE:
            if self.state is not BoeSessionState.REPLAYING:
                self._protocol_error(f"Replay Complete while {self.state.value}; ignored")
                return
            self._on_replay_complete()
        elif kind == LOGOUT:
            logout = decode_outbound_generic(message)
            if not isinstance(logout, Logout):
                text = logout.text if isinstance(logout, DecodeError) else "?"
                self._protocol_error(f"bad Logout: {text}")
                logout = Logout("?", f"undecodable Logout: {text}", self.last_processed)
            self._on_logout(logout)
        else:
            name = MESSAGE_NAMES.get(kind, f"unknown message type 0x{kind:02X}")
            self._protocol_error(f"{name} from Cboe while {self.state.value}; ignored")
            if sequence and self.state in _SESSION_UP:  # received: no replay of it would be readable either;
                self._on_application(message, unit, sequence)  # numbered like the others (gaps, exactly-once)

    def _on_login_response(self, response: LoginResponse, now_ns: int) -> None:
        renumbered = self._renumbered(response)
        self.dropped_units = {}
        self.listed_units.update(unit for unit, _highest in response.units)
        if response.status != LOGIN_ACCEPTED:
            text = response.text or login_status_text(response.status)
            self.login_rejects += 1
            self.last_login_refusal = f"{text} ({response.status})"
            self.last_refusal_status = response.status
            lasting = response.status in LOGIN_LASTING_REFUSALS  # B, Q may pass: not counted
            if renumbered:  # a Q naming units Cboe renumbered: the next login (from 0) corrects it
                self._correction()
            elif response.status == LOGIN_INVALID_UNIT:
                if self._drop_invalid_units(response):
                    self._correction()  # the next login, without the units Cboe does not have, corrects it
                else:  # nothing left to drop: the same login, the same I
                    lasting = True
            if lasting:
                self.login_refusals += 1
                limit = self.config.max_login_refusals
                self._refused_for_good = 0 < limit <= self.login_refusals
            self.listener.on_login_rejected(response.status, text)
            self._request_disconnect(f"login rejected: {text} ({response.status})")
            return
        self.state = BoeSessionState.REPLAYING
        self._phase_started_ns = now_ns
        self.logins += 1
        self.last_processed = response.last_received_sequence
        if self.config.sequence_outbound:
            self.next_outbound = max(self.next_outbound, response.last_received_sequence + 1)
        self.replay_targets = dict(response.units)
        for unit, _highest in response.units:
            self.units.setdefault(unit, 0)
        self.reason = f"logged in, replaying (Cboe processed our sequence {response.last_received_sequence})"
        self.listener.on_login_accepted(response)
        missed = {unit: highest for unit, highest in renumbered.items() if highest}
        if missed:  # Cboe replays after the number we listed: its new 1..highest only come with a login from 0
            self._correction()
            listed = ", ".join(f"{unit}: 1..{highest}" for unit, highest in sorted(missed.items()))
            self._request_disconnect(f"logging in again for the renumbered units' messages ({listed})")

    def _renumbered(self, response: LoginResponse) -> dict[int, int]:
        """Note the units whose highest sequence (Login Response) is below the last one we received.

        Cboe's number is authoritative (reference 4.2: the highest sequence available on the unit): it
        restarted that unit's numbering, so what it sends from 1 on is new. Accepted (a venue that lets the
        login through) or refused with ``Q`` (sequence ahead, reference 7.2 item 7, when it lists the units),
        the next login lists the unit from 0 of its new numbering. A replay that merely repeats messages
        we had is not this: Cboe's highest is then at or above our mark.
        """
        renumbered: dict[int, int] = {}
        if response.status not in LOGIN_UNITS_AUTHORITATIVE:  # B (in use), I, ...: its list says nothing of them
            self.renumbered = renumbered
            return renumbered
        for unit, highest in response.units:
            last = self.units.get(unit, 0)
            if highest < last:
                renumbered[unit] = highest
                self.numbering_restarts += 1
                self.units[unit] = 0
                self._issue(
                    BEHIND,
                    unit,
                    last,
                    highest,
                    f"unit {unit}: Cboe has up to {highest}, we saw {last}: Cboe restarted its numbering; "
                    f"its messages from 1 on are new",
                )
        self.renumbered = renumbered
        return renumbered

    def _drop_invalid_units(self, response: LoginResponse) -> bool:
        """Login refused ``I`` (invalid unit): drop from the login the units Cboe does not have; True if any.

        Kept: the units this response lists, else (it lists none) those an earlier Login Response listed, with
        our marks. With neither, every unit is dropped unless ``no_unspecified_unit_replay`` (Cboe then replays
        every unit from its start; the adapter's exactly-once component drops what we had); with it, none is
        (an unlisted unit would not be replayed at all): the login is retried as before.
        """
        listed = {unit for unit, _highest in response.units} or self.listed_units
        if not listed and self.config.no_unspecified_unit_replay:
            return False
        dropped = {unit: last for unit, last in self.units.items() if unit not in listed}
        for unit in dropped:
            del self.units[unit]
        self.dropped_units = dropped
        return bool(dropped)

    def _correction(self) -> None:
        """Leave this login, dropped for a re-login listing the renumbered units from 0, uncounted (once per replay)."""
        if not self._correcting:
            self._correcting = True
            self._uncounted = True

    def _on_replay_complete(self) -> None:
        self.state = BoeSessionState.LOGGED_IN
        self._failed_logins = 0
        self.login_refusals = 0
        self._correcting = False
        for unit, highest in sorted(self.replay_targets.items()):
            last = self.units.get(unit, 0)
            if last < highest and (unit in self.units or not self.config.no_unspecified_unit_replay):
                self._issue(
                    REPLAY_SHORT, unit, highest, last, f"unit {unit}: replay ended at {last}, Cboe had {highest}"
                )
        self.reason = "logged in, replay complete"
        self.listener.on_replay_complete()

    def _on_logout(self, logout: Logout) -> None:
        self.last_processed = max(self.last_processed, logout.last_received_sequence)
        self.listener.on_logout(logout)
        if self.state is BoeSessionState.LOGGING_OUT:
            self.state = BoeSessionState.LOGGED_OUT
            self._request_disconnect("logged out")
            self.reason = "logged out"
            return
        if logout.reason and logout.reason in self.config.end_of_day_reasons:
            self.state = BoeSessionState.ENDED
            self._request_disconnect(f"end of day ({logout.text or 'Logout ' + logout.reason})")
            self.reason = "ended for the day"
            return
        if self.state is BoeSessionState.LOGGED_IN:  # before Replay Complete, connection_lost counts it
            self._failed_logins += 1
        self._request_disconnect(f"logged out by Cboe: {logout.reason} {logout.text}".rstrip())
