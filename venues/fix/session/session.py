"""The FIX session state machine (initiator side; acceptor side with ``SessionConfig.acceptor``), sans-IO.

Inputs: ``connection_made``, ``data_received``, ``connection_lost`` and ``poll``, each with
``now_ns`` from the injected monotonic clock; ``send_app`` for business messages the
adapter encoded. Outputs: bytes appended to ``outbox`` (the adapter writes them when the
core flushes), ``close_reason`` when the connection must be closed after that write,
and calls on the ``SessionHandler``.

The venue's ResendRequest is answered ``resend_slice`` stored messages at a time (fixresend58): the first slice at
once, the next ones from ``poll``, which then asks to be called again at once (it returns 0; ``wake`` tells the
owner to call it soon). Meanwhile every message the session numbers anew waits behind the answer (``queue``), so
the venue gets our numbers in order: the replay, then what came after it.

Persistence: every outgoing message consumes its sequence number in the store before it
is put in the outbox; business messages are stored whole. The incoming number moves on in
memory as messages are handled and reaches the store only through ``commit_inbound``, which
the owner calls once what the handler did with them is durable (``FixVenue.flush``: the core
calls it after writing its journal). The store therefore never claims a message the owner
could lose in a crash: a crash before the commit makes the next session ask for it again.

Wall-clock time (SendingTime, the schedule, staleness on resend) is ``now_ns +
wall_offset_ns``: one injected clock drives everything.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from typing import Final, Protocol

from model.operator_text import clip
from obs.ratelog import IntervalLog, is_power_of_two
from venues.fix import fields as f
from venues.fix.codec import (
    MAX_NEXT_SEQ,
    MAX_SEQ_NUMBER,
    DecodeError,
    DecodeErrorKind,
    FixMessage,
    FrameDecoder,
    UtcTimestamps,
    printable,
    small_number,
)
from venues.fix.fields import MsgType, SessionRejectReason
from venues.fix.session.admin import AdminEncoder
from venues.fix.session.config import SessionConfig
from venues.fix.session.resend import InboundGap, ResendJob, answer_resend_slice
from venues.fix.session.state import LOGGED_ON_STATES, FixSessionState
from venues.fix.session.timers import HeartbeatTimers
from venues.fix.store.base import MessageStore

log = logging.getLogger(__name__)

_NOT_REPLAYED_ON_RESET: Final = frozenset({MsgType.SEQUENCE_RESET, MsgType.LOGON})
"""Held messages a SequenceReset skips over that are not acted on (they only move numbers)."""
_MIN_POLL: Final = 1_000_000
_MAX_POLL: Final = 100_000_000
RESEND_SLICE: Final = 64
"""Stored messages of a ResendRequest's answer handled per slice, per event-loop turn (fixresend58).

Each costs re-stamping, the owner's ``may_replay`` and, gap-filled, its ``on_not_replayed``: measured 9-12 us
compiled, 15-20 us pure Python for the session alone (``/tmp/fixresend58/bench_resend.py``), 35-50 us with the
adapter's checks and the write; 64 keep a slice at about 1-2 ms compiled (3 ms pure), and a day of 100,000
messages takes some 1,600 turns, other connections served between them."""
RESEND_SLICE_NUMBERS: Final = 64
"""Numbers per slice, as a multiple of ``resend_slice``: those of admin messages (not stored) cost little."""


# Final aliases of what is used per message: compiled, a use is a static read instead of a lookup of the
# name in this module's globals dict (every imported name and non-Final global is one)
_DecodeError: Final = DecodeError
_LOGGED_ON_STATES: Final = LOGGED_ON_STATES
_DISCONNECTED: Final = FixSessionState.DISCONNECTED
_LOGON_SENT: Final = FixSessionState.LOGON_SENT
_AWAITING_LOGON: Final = FixSessionState.AWAITING_LOGON
_RESYNCING: Final = FixSessionState.RESYNCING
_ACTIVE: Final = FixSessionState.ACTIVE
_LOGOUT_SENT: Final = FixSessionState.LOGOUT_SENT
_ENDED: Final = FixSessionState.ENDED
_LOGIN_REFUSED: Final = FixSessionState.LOGIN_REFUSED

_SEQ_TERM: Final = r"(?:seq\w{0,32}(?:\s{1,8}num(?:ber)?\b)?|\btag\s{0,8}34\b|\(34\))"
"""A sequence number named: MsgSeqNum, SeqNum, Sequence number, seq num, tag 34, (34)."""
_TOO_LOW_RE: Final = re.compile(
    _SEQ_TERM + r"[\s:=]{0,8}(?:\(\s{0,8}\d{1,18}\s{0,8}\)[\s:=]{0,8})?(?:\d{1,18}\s{0,8})?(?:(?:is|was)\s{1,8})?"
    r"(?:too\s{0,8}(?:low|small)\b|(?:(?:lower|less|smaller)\s{1,8}than|below|behind)\s{1,8}(?:the\s{1,8})?"
    r"(?:next\s{1,8})?expect)"
    r"|\blow\s{1,8}(?:msg\s{0,8})?seq",
    re.IGNORECASE,
)
"""A sequence number said to be too low (fixfix52: "too low"; fix53: "lower than", "less than", "below", ...).

The words must be about the sequence number (fixfix54b): right after it ("MsgSeqNum too low", "MsgSeqNum(34) too
low", "Sequence number 12 lower than expected 57", "MsgSeqNum 12 is less than expected", "seq num below the expected
value"), a comparison with what is expected. Before, any "below" / "less than" anywhere in a text that spoke of
``seq`` or had a 34 in it counted: "Logon rejected: margin below requirement (account 34)" or "HeartBtInt 1 is less
than the minimum 30 (MsgSeqNum 1)" stopped the session in LOGIN_REFUSED with set-seq advice instead of a retry.
"""
_SEQ_RE: Final = re.compile(_SEQ_TERM, re.IGNORECASE)
_EXPECTED_RE: Final = re.compile(r"expect[^\W\d]{0,32}+\D{0,20}?(\d{1,18})", re.IGNORECASE)
_RECEIVED_RE: Final = re.compile(
    r"(?:receiv|got\b|\bgot|\bsent\b|\bwas\b)[^\W\d]{0,32}+\D{0,20}?(\d{1,18})", re.IGNORECASE
)


def seq_too_low_refusal(text: str, logon_seq: int = 0, next_expected: int = 0) -> int | None:
    """Return the number a Logout refusing our Logon says the venue expects, 0 if it names none; None if not such.

    Such a Logout says our MsgSeqNum is too low: the venue counted messages of ours our store no longer holds. No
    retry cures it (fixfix52): every Logon only takes one number more. Recognised (fix53), in this order:

    - NextExpectedMsgSeqNum (789) in the Logout (``next_expected``) above ``logon_seq`` + 1, ``logon_seq`` the
      MsgSeqNum of the Logon it refused: the venue expects more than our Logon took, whatever the Text (FIX 4.4
      defines 789 for the Logon; a venue that sends it in the Logout means the same). 789 = ``logon_seq`` + 1
      proves nothing by itself (fixfix54): the venue took our Logon in sequence and counted it before refusing it
      for another reason (the FIX spec's Logon answer counts the Logon in 789 when it was the number expected), or
      it expected exactly that one number more: the Text decides as without 789 (a too-low Text naming no number
      expects 789). 789 at or below ``logon_seq`` is no such refusal;
    - a Text naming the number expected and the number received, the first above the second ("MsgSeqNum too low,
      expecting N but received M", QuickFIX's and QuickFIX/J's; "expected N, received M"; "Sequence mismatch:
      expected N got M"), where the text speaks of sequence numbers or the received number is ``logon_seq``; the
      expected number is never the received one too ("MsgSeqNum 12 was below the expected 40": fix55);
    - a Text saying too low in other words ("too low", "lower than", "less than", "below", ...) and speaking of
      sequence numbers (``seq`` or tag 34): "MsgSeqNum(34) too low", "Sequence number 12 less than expected".

    Any other Logout (a venue restarting, its session not open yet, a text naming a received number above the
    expected one, no text at all) is None: retried.
    """
    if next_expected > 0 and logon_seq > 0:
        if next_expected > logon_seq + 1:
            return next_expected
        if next_expected <= logon_seq:
            return None
        by_text = seq_too_low_refusal(text, logon_seq)
        return next_expected if by_text == 0 else by_text
    seq_words = _SEQ_RE.search(text) is not None
    expected_m = _EXPECTED_RE.search(text)
    expected = int(expected_m.group(1)) if expected_m else 0
    received_m = _RECEIVED_RE.search(text, expected_m.end()) if expected_m else None
    if received_m is None:
        received_m = _RECEIVED_RE.search(text)
        # "MsgSeqNum 12 was below the expected 40" (fix55): "was" reaches over to the expected number itself, which
        # is then no received number (before, 40 received against 40 expected made the refusal a retry)
        while expected_m and received_m is not None and received_m.start(1) == expected_m.start(1):
            received_m = _RECEIVED_RE.search(text, received_m.start() + 1)
    if expected and received_m is not None:
        received = int(received_m.group(1))
        if seq_words or (logon_seq and received == logon_seq):
            return expected if expected > received else None
    if _TOO_LOW_RE.search(text) is None:
        return None
    return expected


REFUSAL_TEXT_READ: Final = 1024
"""The bytes of each end of a Logout's Text (58) refusing our Logon that ``seq_too_low_refusal`` reads (rev60fix): a
venue says "too low" at the start or the end of its text. The whole of a hostile 9 KB Text took the patterns'
backtracking 7.6 s of the loop before their repeats were bounded; bounded, they read the same texts as before
(rev60merge4: "Unexpected MsgSeqNum: received 5 but expected 20", "MsgSeqNumTooLow") at up to a few us per
character of such a text, so the read is kept to its two ends."""


_DIGITS: Final = b"0123456789"
_CUT: Final = "\n" + " " * 24
"""Between the two ends read: wider than the 20 characters the patterns let between a word and its number, so no
number is read across the cut ("expecting " at the head's end and the tail's "received 7" read 7 as expected)."""


def refusal_text_read(raw: bytes) -> str:
    """Return what ``seq_too_low_refusal`` reads of a refusing Logout's Text: all of it within twice
    ``REFUSAL_TEXT_READ`` bytes, else its first and last ``REFUSAL_TEXT_READ`` bytes on two lines (``_CUT``).

    A number a cut goes through is left out of both ends (fixid61): "expecting 1500" cut after "15" was read as 15,
    a LOGIN_REFUSED naming a number the venue does not expect. Its digits on either side of the cut are dropped,
    and no number is read across the cut: a too-low refusal whose number is cut names none (0), as one that gives
    none.
    """
    size = REFUSAL_TEXT_READ
    if len(raw) <= 2 * size:
        return raw.decode(errors="replace")
    head = raw[:size]
    if raw[size] in _DIGITS:
        head = head.rstrip(_DIGITS)
    tail = raw[-size:]
    if raw[-size - 1] in _DIGITS:
        tail = tail.lstrip(_DIGITS)
    return head.decode(errors="replace") + _CUT + tail.decode(errors="replace")


VENUE_TEXT_LOGGED: Final = 500
"""The most characters of a venue's session-level Text (58) (its Logout, its Reject) that the session's log lines and
reasons carry (``venue_text``): the reason reaches a WARNING of the session, the engine's state-transition line and
the strategies' VenueStatus, once per connection (fixresend59b)."""
_FIELD_LOGGED: Final = 24


def venue_text(raw: bytes, limit: int = VENUE_TEXT_LOGGED) -> str:
    """Return a venue's Text (58) of a session-level message for log lines and reasons: one line, bounded.

    Within ``limit`` characters: the text (U+FFFD for each byte not UTF-8; a control character a space, as
    ``model.operator_text.clip`` does: no forged log line). Longer: its first ``limit`` characters, then ``… [N
    bytes, sha256 <64 hex digits>]`` (``, not UTF-8`` after the length when it is not), the form the adapter gives a
    long non-UTF-8 Text of a business message (fixresend59). Before (rev59merge3), a venue refusing every Logon with a
    60 KB Text put it whole into two lines per connection, ~400 KB of log a second at a 1 s reconnect.
    """
    try:
        text = raw.decode()
        kind = ""
    except UnicodeDecodeError:
        text = raw.decode(errors="replace")
        kind = ", not UTF-8"
    if len(text) <= limit:
        return clip(text, limit)
    # ``limit`` characters of the text and the marker after them (before, the marker took ~90 of the ``limit``)
    return clip(text[:limit], limit) + f"… [{len(raw):,} bytes{kind}, sha256 {hashlib.sha256(raw).hexdigest()}]"


def _field_text(raw: bytes) -> str:
    """Return a venue's short field (a number, a code) for a log line: its first characters, one line (fixresend59b).

    Cut on a character, never inside one (fixresend59c): the first ``4 * _FIELD_LOGGED`` bytes hold at least
    ``_FIELD_LOGGED`` whole characters (U+FFFD for each byte not UTF-8), however long the field.
    """
    text = raw[: 4 * _FIELD_LOGGED].decode(errors="replace")
    if len(raw) <= 4 * _FIELD_LOGGED and len(text) <= _FIELD_LOGGED:
        return clip(text, _FIELD_LOGGED)
    return clip(text[:_FIELD_LOGGED], _FIELD_LOGGED) + f"… ({len(raw):,} bytes)"


_NEW_SEQ_NO_LIMIT: Final = "the largest NewSeqNo taken (the numbers counted on from it must fit the store's 64 bits)"
"""What a NewSeqNo above ``MAX_NEXT_SEQ`` is refused for (fixhw60: before, "the largest sequence number taken",
which is ``MAX_SEQ_NUMBER``)."""


def _too_large(
    name: str, value: bytes, limit: int = MAX_SEQ_NUMBER, why: str = "the largest sequence number taken"
) -> str:
    """Return the Reject's text for a number field of ``value``, digits only but above ``limit`` (fixresend59b)."""
    what = f"{name} {value.decode()} is" if len(value) <= _FIELD_LOGGED else f"{name} has {len(value):,} digits:"
    return f"{what} above {limit:,}, {why}"


def wall_text(wall_ns: int) -> str:
    """Return ``wall_ns`` (ns since the epoch) as ``YYYY-MM-DD HH:MM:SS UTC`` for log lines and status."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(wall_ns // 1_000_000_000))


def _utc_timestamp_ns(value: bytes) -> int | None:
    """Return a FIX UTCTimestamp as ns since the epoch, or None if it is not one (QuickFIX 1.16's rules).

    ``YYYYMMDD-HH:MM:SS`` with an optional fraction of up to 9 digits; month 1-12, day 1-31 (a day
    past the month's end rolls over, as in QuickFIX), hour 0-23, minute 0-59, second 0-60 (leap).
    """
    size = len(value)
    if size < 17 or size > 27 or value[8:9] != b"-" or value[11:12] != b":" or value[14:15] != b":":
        return None
    digits = value[0:8] + value[9:11] + value[12:14] + value[15:17]
    fraction = value[18:]
    if not digits.isdigit() or (size > 17 and (value[17:18] != b"." or not (fraction.isdigit() or not fraction))):
        return None
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8])
    hour, minute, second = int(value[9:11]), int(value[12:14]), int(value[15:17])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second <= 60):
        return None
    # days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's days_from_civil)
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
    return seconds * 1_000_000_000 + (int(fraction.ljust(9, b"0")) if fraction else 0)


class SessionHandler(Protocol):
    """What the session tells its owner (the venue adapter)."""

    def on_app_message(self, message: FixMessage) -> None:
        """Handle an in-sequence business message (its number is stored by ``commit_inbound``)."""

    def on_state(self, state: FixSessionState, reason: str) -> None:
        """Note a session state change."""

    def on_session_reject(self, message: FixMessage) -> None:
        """Handle the venue's Reject (3) of one of our messages."""

    def on_not_replayed(self, raw: bytes) -> None:
        """Handle a stored business message that was gap-filled instead of replayed."""

    def may_replay(self, raw: bytes) -> bool:
        """Return whether a stored business message the venue asks for again may be replayed (else gap-filled)."""

    def on_numbering_reset(self, creation_time_ns: int) -> None:
        """Both sequence numbers restarted at 1 (a new numbering, named by the store's creation time)."""

    def on_gap_filled(self, first: int, new_seq: int, unseen: int) -> None:
        """The venue gap-filled ``first`` .. ``new_seq - 1``, ``unseen`` of which never arrived here."""


class FixSession:
    """One FIX session: logon, sequence numbers, heartbeats, resends and logout."""

    def __init__(
        self,
        config: SessionConfig,
        store: MessageStore,
        handler: SessionHandler,
        *,
        wall_offset_ns: int = 0,
    ) -> None:
        self.config = config
        self.store = store
        self.handler = handler
        self.wall_offset_ns = wall_offset_ns
        self.admin = AdminEncoder(config)
        self.decoder = FrameDecoder(config.max_body_length)
        self.too_large: set[int] = set()
        """MsgSeqNums of messages skipped once as above ``max_body_length`` (the venue's resend gives them again)."""
        self.too_large_skipped = 0
        """The last MsgSeqNum skipped for good as too large (0: none)."""
        self._unnumbered_at = 0
        """The number expected when a message too large to take came without a readable MsgSeqNum (0: none): if the
        next message is numbered one above, the skipped one was this number (fixfix52)."""
        self._unnumbered_count = 0
        """How many such messages came in a row from ``_unnumbered_at`` (fix53): the next message numbered that many
        above it makes them ``_unnumbered_at`` and the numbers after it."""
        self.timers = HeartbeatTimers(config.heartbeat_interval_s * 1_000_000_000, config.test_request_grace)
        self.gap = InboundGap(config.max_queued)
        self.refusals: set[int] = set()
        self.operator_numbers: tuple[int, int] = (0, 0)
        """The next sent / expected MsgSeqNums an operator's ``set_numbers`` set, until a Logon goes out with them
        ((0, 0): none): a schedule's daily reset that drops them first says so (fixfix54b)."""
        """MsgSeqNums of the venue's admin messages received here but never in sequence: Logouts refusing our Logon,
        a Logout inside a gap, admin messages held for a gap when the connection dropped (rev49fix). A later gap
        fill over them covers messages received here (``_process_skipped``), not ones lost. Forgotten with a
        numbering reset."""
        self.stamps = UtcTimestamps()
        self._last_stamp_ns = 0
        """The latest wall time a SendingTime was stamped with (``sending_time``)."""
        self.outbox = bytearray()
        self.queue = self.outbox
        """Where a message numbered now goes: ``outbox``, or ``behind_resend`` while a ResendRequest is answered."""
        self.behind_resend = bytearray()
        """Messages numbered while a ResendRequest is answered a slice at a time: they follow the answer's last
        slice (their numbers come after it), so the venue never sees them ahead of the numbers it asked for."""
        self.resend_slice = RESEND_SLICE
        """Stored messages answered per slice of a ResendRequest (``RESEND_SLICE``)."""
        self._resend: ResendJob | None = None
        """The venue's ResendRequest being answered (None: none)."""
        self._resend_began_ns = 0
        """When that answer began (a gap of ours asked for meanwhile is timed from its end)."""
        self.write_paused = False
        """The owner's socket buffer is above its high-water mark: no further slice until it drains."""
        self.wake: Callable[[], None] | None = None
        """Called when an answer to a ResendRequest has slices left: the owner calls ``poll`` at the next turn."""
        self.state = _DISCONNECTED
        self.reason = "not connected yet"
        self.close_reason: str | None = None
        """Set when the connection must be closed once ``outbox`` has been written."""
        self.refused_text = ""
        """The Text of the venue's Logout that refused our Logon as numbered too low (state LOGIN_REFUSED; "" else)."""
        self.refused_expected = 0
        """The MsgSeqNum that Logout says the venue expects (0: it names none)."""
        self.refused_logon_seq = 0
        """The MsgSeqNum of our Logon it refused."""
        self.refused_wall_ns = 0
        """When (wall ns) the venue refused it: the session schedule's next start after it ends the refusal (fix53)."""
        self.refused_venue_logon = False
        """LOGIN_REFUSED the other way round (fixlogon56): it is the venue's Logon we refused as numbered too low
        (``refused_logon_seq`` its MsgSeqNum, ``refused_expected`` the number we expect from it); False: the venue
        refused ours."""
        self._logon_seq = 0
        """The MsgSeqNum of the Logon sent on this connection (0: none)."""
        self.logon_sent_ns = 0
        self.logout_sent_ns = 0
        self.logon_reset = False
        self._target_pending = 0
        """Next incoming MsgSeqNum not yet written to the store (0: the store is current)."""
        self._test_request_counter = 0
        self._outstanding_test_req_id = b""
        self._gap_asked_ns = 0
        """When the outstanding gap was last asked for (or last made progress)."""
        self._gap_asked_from = 0
        """The expected number at that time."""
        self._gap_asks = 0
        """ResendRequests sent for the outstanding gap since it last made progress (the first ask included)."""
        self.output_held = False
        """The gateway holds the bytes this session queues (its journal failing, ``hold_output``): no ResendRequest
        retry is timed or counted meanwhile."""
        self._held_since_ns = 0
        """When the last such hold began."""
        self._rarelog = IntervalLog(log)
        self.counters: dict[str, int] = {
            "garbled": 0,
            "rejects_sent": 0,
            "rejects_received": 0,
            "resend_requests_received": 0,
            "resend_requests_sent": 0,
            "resend_timeouts": 0,
            "resend_gap_logouts": 0,
            "messages_replayed": 0,
            "gap_fills_sent": 0,
            "poss_dup_ignored": 0,
            "poss_dup_rejected": 0,
            "poss_dup_orig_sending_time_late": 0,
            "held_processed_on_reset": 0,
            "gap_filled_unseen": 0,
            "messages_received": 0,
            "store_failures": 0,
            "damaged_not_resent": 0,
            "too_large_unnumbered": 0,
            "venue_logons_too_low": 0,
        }

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def next_sender_seq(self) -> int:
        """Return the MsgSeqNum the next outgoing message will carry."""
        return self.store.next_sender_seq

    @property
    def next_target_seq(self) -> int:
        """Return the MsgSeqNum expected next from the venue (the store's may lag until ``commit_inbound``)."""
        return self._target_pending or self.store.next_target_seq

    def commit_inbound(self) -> None:
        """Write the incoming number to the store: call once the handled messages' effects are durable.

        Until then a restart expects the first uncommitted message again and asks the venue
        to resend it (a crash may repeat a message, never skip one).
        """
        pending = self._target_pending
        if pending:
            try:
                self.store.set_next_target_seq(pending)
            except OSError as exc:  # the store lags: the next commit tries again (a restart asks for more)
                self._store_failed(exc, close=False)
                return
            self._target_pending = 0

    def _store_failed(self, exc: OSError, *, close: bool) -> None:
        """Count a store write that failed; close the connection if a message could not be numbered."""
        count = self.counters["store_failures"] = self.counters["store_failures"] + 1
        if is_power_of_two(count):
            log.error(
                "FIX %s: message store write failed (%d so far): %s", self.config.target_comp_id.decode(), count, exc
            )
        if close:
            self.request_close(f"message store write failed: {exc}")

    def _reset_store(self, wall_ns: int) -> None:
        """Reset both sequence numbers (uncommitted incoming progress belongs to the old numbering)."""
        self._drop_resend_at_reset()
        self._target_pending = 0
        self.refusals.clear()
        self.too_large.clear()
        self.store.reset(wall_ns)
        self.handler.on_numbering_reset(self.store.creation_time_ns)

    @property
    def logged_on(self) -> bool:
        """Return True once the venue's Logon has been accepted (and until logout/disconnect)."""
        return self.state in _LOGGED_ON_STATES

    def sending_time(self, now_ns: int) -> bytes:
        """Return the SendingTime stamp for ``now_ns``, never earlier than one already given.

        A read from the venue is handled at one time, while the owner stamps what it sends on the
        way (``after_replay`` when the Logon brings the session up) with its own, later clock: a
        replay later in the same read would otherwise carry a SendingTime earlier than its
        OrigSendingTime, which the venue rejects (SessionRejectReason 10) before logging out.
        """
        wall = now_ns + self.wall_offset_ns
        if wall < self._last_stamp_ns:
            wall = self._last_stamp_ns
        else:
            self._last_stamp_ns = wall
        return self.stamps.format(wall)

    def _set_state(self, state: FixSessionState, reason: str) -> None:
        if state is _LOGOUT_SENT and self._resend is not None:
            self.end_resend(f"our Logout: {reason}")  # the venue asks for the rest at the next logon
        if state is self.state and reason == self.reason:
            return
        self.state = state
        self.reason = reason
        self.handler.on_state(state, reason)

    def _rare(self, key: str, now_ns: int, level: int, text: str, *args: object) -> None:
        """Log at most once per 10 s per ``key`` (bad input must not flood the log)."""
        self._rarelog.log(key, now_ns, level, "FIX %s: " + text, self.config.target_comp_id.decode(), *args)

    def _queue_admin(self, raw: bytes, now_ns: int) -> None:
        """Consume a sequence number for an admin message and queue it (not if the store cannot record it)."""
        try:
            self.store.set_next_sender_seq(self.store.next_sender_seq + 1)
        except OSError as exc:
            self._store_failed(exc, close=True)
            return
        self.queue += raw
        self.timers.sent(now_ns)

    def closing(self) -> bool:
        """Return True once the connection is to be closed (nothing more is read)."""
        return self.close_reason is not None

    def request_close(self, reason: str) -> None:
        """Ask the owner to close the connection once the outbox is written."""
        if self._resend is not None:
            self.end_resend(f"closing the connection: {reason}")
        if self.close_reason is None:
            self.close_reason = reason
            log.warning(
                "FIX %s->%s: closing the connection: %s",
                self.config.sender_comp_id.decode(),
                self.config.target_comp_id.decode(),
                reason,
            )

    # ---- outgoing ---------------------------------------------------------------------------

    def send_app(self, seq: int, raw: bytes, now_ns: int) -> bool:
        """Persist business message ``seq`` and queue it if logged on; return True if queued.

        When not logged on the message stays in the store: the venue sees the gap at the
        next logon and asks for it (it is then replayed or gap-filled). If the store cannot
        be written the OSError goes to the caller and nothing changed (the store undoes a
        partial write): the adapter turns it into a refusal.
        """
        self.store.save_sent(seq, raw)
        if self.state is _ACTIVE or self.state is _RESYNCING:
            self.queue += raw
            self.timers.last_sent_ns = now_ns
            return True
        return False

    def send_test_request(self, now_ns: int) -> bytes:
        """Send a TestRequest now; return its TestReqID."""
        self._test_request_counter += 1
        test_req_id = b"TEST%d" % self._test_request_counter
        seq = self.store.next_sender_seq
        self._queue_admin(self.admin.test_request(seq, self.sending_time(now_ns), test_req_id), now_ns)
        self._outstanding_test_req_id = test_req_id
        self.timers.test_request_sent(now_ns)
        return test_req_id

    def send_reject(
        self,
        ref_seq: int,
        reason: int,
        text: str,
        now_ns: int,
        *,
        ref_tag: int = 0,
        ref_msg_type: bytes = b"",
    ) -> None:
        """Send a session-level Reject (3) of the venue's message ``ref_seq``."""
        seq = self.store.next_sender_seq
        raw = self.admin.reject(
            seq, self.sending_time(now_ns), ref_seq, reason, text, ref_tag=ref_tag, ref_msg_type=ref_msg_type
        )
        self._queue_admin(raw, now_ns)
        self.counters["rejects_sent"] += 1

    def send_business_reject(self, ref_seq: int, ref_msg_type: bytes, *, reason: int, text: str, now_ns: int) -> None:
        """Send a BusinessMessageReject (j) of the venue's message ``ref_seq``."""
        seq = self.store.next_sender_seq
        raw = self.admin.business_reject(
            seq, self.sending_time(now_ns), ref_seq, ref_msg_type=ref_msg_type, reason=reason, text=text
        )
        try:
            self.store.save_sent(seq, raw)
        except OSError as exc:
            self._store_failed(exc, close=True)
            return
        self.queue += raw
        self.timers.sent(now_ns)

    def logout(self, reason: str, now_ns: int) -> None:
        """Start the logout handshake (or just close when not logged on)."""
        if self.state in _LOGGED_ON_STATES:
            seq = self.store.next_sender_seq
            self._queue_admin(self.admin.logout(seq, self.sending_time(now_ns), reason), now_ns)
            self.logout_sent_ns = now_ns
            self._set_state(_LOGOUT_SENT, reason)
        elif self.state is _LOGON_SENT or self.state is _AWAITING_LOGON:
            self.request_close(reason)

    def _logout_and_close(self, reason: str, now_ns: int) -> None:
        """Send a Logout with ``reason`` and close without waiting (protocol violation by the venue)."""
        seq = self.store.next_sender_seq
        self._queue_admin(self.admin.logout(seq, self.sending_time(now_ns), reason), now_ns)
        self._set_state(_LOGOUT_SENT, reason)
        self.request_close(reason)

    # ---- connection lifecycle ----------------------------------------------------------------

    def connection_made(self, now_ns: int) -> None:
        """Queue the Logon on a fresh connection (or close at once outside the schedule)."""
        self.decoder.clear()
        self.gap.clear()
        self._drop_resend()
        self.outbox.clear()
        self.close_reason = None
        wall = now_ns + self.wall_offset_ns
        schedule = self.config.schedule
        if self.state is _LOGIN_REFUSED and not self._refusal_ended(wall):
            self.request_close(f"logon refused: {self.refused_text}; waiting for `gateway venue reconnect`")
            return
        if schedule is not None:
            if not schedule.is_open(wall):
                self._set_state(_ENDED, "outside the session schedule")
                self.request_close("outside the session schedule")
                return
            if schedule.needs_reset(self.store.creation_time_ns, wall):
                log.info("FIX %s: new session day, resetting sequence numbers", self.config.target_comp_id.decode())
                store = self.store
                if (
                    self.operator_numbers[0]
                    or store.raised_by_operator[0]
                    or store.skipped_by_operator[0]
                    or store.lowered_by_operator[0]
                ):
                    # before fixfix54b dropped without a word (a 24-hour session's refusal set right, never used);
                    # the store's marks say so after a restart too (fix55)
                    log.warning(
                        "FIX %s: the MsgSeqNums set by the operator (`gateway venue set-seq`: next sent %d, next "
                        "expected %d) are dropped unused: a new session day started first, and the schedule's "
                        "daily reset restarts both numbers at 1 (a new session with the venue)",
                        self.config.target_comp_id.decode(),
                        self.operator_numbers[0] or store.next_sender_seq,
                        self.operator_numbers[1] or self.next_target_seq,
                    )
                self._reset_store(wall)
        self.operator_numbers = (0, 0)  # the Logon below carries them (or the reset dropped them)
        if self.config.acceptor:
            self.logon_reset = False
            self.logon_sent_ns = now_ns  # the logon timeout runs from the connection
            self._set_state(_AWAITING_LOGON, "waiting for the initiator's Logon")
            return
        reset = self.config.reset_seq_num_on_logon
        if reset:
            self._reset_store(wall)
        self.logon_reset = reset
        seq = self.store.next_sender_seq
        self.timers.start(now_ns)
        self._queue_admin(self.admin.logon(seq, self.sending_time(now_ns), reset), now_ns)
        self._logon_seq = seq
        self.logon_sent_ns = now_ns
        self._set_state(_LOGON_SENT, "logon sent")

    def connection_lost(self, now_ns: int) -> None:
        """Forget the connection; orders stay in the store for the next logon.

        Messages held for a gap are dropped: the venue resends them after the next logon, unless the
        session resets the numbers at every logon (``reset_seq_num_on_logon``), in which case nothing of
        this numbering is ever resent and they are processed first, in order (``_process_skipped``).
        """
        if self.gap.queued and self.config.reset_seq_num_on_logon and self.state in _LOGGED_ON_STATES:
            self._process_skipped(self.next_target_seq, max(self.gap.queued) + 1, now_ns)
        elif self.gap.queued or self.gap.done:
            self._note_admin_held()
        self._drop_resend()
        self.outbox.clear()
        self.decoder.clear()
        self.gap.clear()
        self._unnumbered_at = 0
        self._unnumbered_count = 0
        self._outstanding_test_req_id = b""
        self.timers.test_request_sent_ns = 0
        if self.state is not _ENDED and self.state is not _LOGIN_REFUSED:
            reason = self.close_reason or ("connection lost" if self.state is not _DISCONNECTED else self.reason)
            self._set_state(_DISCONNECTED, reason)
        self.close_reason = None

    # ---- timers ------------------------------------------------------------------------------

    def poll(self, now_ns: int) -> int:
        """Run heartbeat/test-request/logon/logout/schedule timers; return ns until the next poll.

        The answer is capped at ``_MAX_POLL``: events between polls (the venue's Logon, a
        logout asked for by the operator) can create deadlines earlier than the one computed
        here, and the transport only reschedules when poll returns.

        While a ResendRequest is answered a slice at a time, each poll queues the next slice first and answers 0
        (call again at the next turn) until the last; not while the owner holds the output or its socket is full
        (the slice before has not left: ``hold_output`` and ``write_paused`` ending call ``wake``).
        """
        if self._resend is not None and self.close_reason is None and not self.output_held and not self.write_paused:
            self._resend_step(now_ns)
            if self.resending:  # not `self._resend`: mypy keeps it narrowed across the call (mypyc trusts that)
                self._poll_timers(now_ns)
                return 0
        return self._poll_timers(now_ns)

    def _poll_timers(self, now_ns: int) -> int:
        """``poll`` but for a ResendRequest's slices."""
        wait = min(self.store.poll(now_ns), _MAX_POLL)
        state = self.state
        if self.close_reason is not None or state in (_DISCONNECTED, _ENDED, _LOGIN_REFUSED):
            return wait
        if state is _LOGON_SENT or state is _AWAITING_LOGON:
            deadline = self.logon_sent_ns + self.config.logon_timeout_ns
            if now_ns >= deadline:
                self.request_close("no Logon reply within the logon timeout")
            return max(min(wait, deadline - now_ns), _MIN_POLL)
        if state is _LOGOUT_SENT:
            deadline = self.logout_sent_ns + self.config.logout_timeout_ns
            if now_ns >= deadline:
                self.request_close(f"no Logout reply ({self.reason})")
            return max(min(wait, deadline - now_ns), _MIN_POLL)
        schedule = self.config.schedule
        if schedule is not None and not schedule.is_open(now_ns + self.wall_offset_ns):
            self.logout("end of the session schedule", now_ns)
            return wait
        timers = self.timers
        if timers.dead(now_ns):
            self.request_close("no answer to TestRequest: the link is dead")
            return wait
        if timers.test_request_due(now_ns):
            self.send_test_request(now_ns)
        gap_deadline = self._check_gap(now_ns)
        if gap_deadline:
            wait = min(wait, gap_deadline - now_ns)
        if timers.heartbeat_due(now_ns):
            seq = self.store.next_sender_seq
            self._queue_admin(self.admin.heartbeat(seq, self.sending_time(now_ns)), now_ns)
        return max(min(wait, timers.next_deadline() - now_ns), _MIN_POLL)

    # ---- incoming ---------------------------------------------------------------------------

    def data_received(self, data: bytes, now_ns: int) -> None:
        """Decode ``data`` and act on every complete message in it."""
        if self.closing():
            return
        for item in self.decoder.feed(data):
            if self.closing():
                return
            if isinstance(item, _DecodeError):
                self._on_decode_error(item, now_ns)
            else:
                self.timers.received(now_ns)
                self.counters["messages_received"] += 1
                self._on_message(item, now_ns)

    def _on_decode_error(self, error: DecodeError, now_ns: int) -> None:
        self.counters["garbled"] += 1
        self._rare(
            f"decode:{error.kind}",
            now_ns,
            logging.WARNING,
            "bad message from the venue (%s, %d so far): %s: %r",
            error.kind,
            self.counters["garbled"],
            error.text,
            printable(error.raw[:120]),
        )
        if error.kind is DecodeErrorKind.TOO_LARGE:
            self._too_large(error, now_ns)
            return
        if error.kind is DecodeErrorKind.BAD_SEQ_NUM and (self.logged_on or self.state is _LOGON_SENT):
            # the answer to our Logon too (fixid61): before, ignored, and the log said "no Logon reply" 10 s later
            self._logout_and_close("MsgSeqNum (34) missing or not a number", now_ns)
            return
        if not self.logged_on:
            return
        if error.kind is not DecodeErrorKind.GARBLED_FIELD or error.seq <= 0:
            return  # garbled: ignored without consuming a sequence number (FIX spec)
        self.timers.received(now_ns)
        expected = self.next_target_seq
        if error.seq == expected:
            self.send_reject(
                error.seq,
                error.reject_reason,
                error.text,
                now_ns,
                ref_tag=error.ref_tag,
                ref_msg_type=error.msg_type,
            )
            self._advance(expected + 1, now_ns)
        elif error.seq > expected:
            self._open_gap(error.seq, now_ns)

    def _too_large(self, error: DecodeError, now_ns: int) -> None:
        """A message above ``max_body_length`` was skipped whole (fixfix51).

        The first time its MsgSeqNum is not taken: the next message opens a gap and the venue is asked to resend
        it (it may have been a corrupted BodyLength). When the venue's resend gives the same number too large
        again, it is skipped for good: counted as a number never received (``gap_filled_unseen``) and the adapter
        told as for a gap fill (with orders open, each is asked about with an OrderStatusRequest, whose answer
        reports a fill the message carried, where the dialect has one; without, the adapter's ERROR says to
        reconcile them with the venue), logged at ERROR with its MsgSeqNum. Before, the gap was asked for again
        and again, the session logged out and reconnected for ever. Raise ``max_body_length`` in the venue's config
        for a venue that sends such messages.
        """
        seq = error.seq
        expected = self.next_target_seq
        venue = self.config.target_comp_id.decode(errors="replace")
        if seq <= 0 and self.logged_on:
            self._too_large_unnumbered(error, expected, venue)
            return
        if self.logged_on and 0 < seq < expected:  # a copy of a number processed already (PossDup): nothing lost
            self._rare("too_large_old", now_ns, logging.WARNING, "%s: MsgSeqNum %d, processed already", error.text, seq)
            return
        if not self.logged_on or seq <= 0 or seq not in self.too_large:
            if seq > 0 and len(self.too_large) < self.config.max_queued:
                self.too_large.add(seq)
            log.error(
                "FIX %s: message MsgSeqNum %s from the venue skipped: %s; raise the venue setting max_body_length "
                "to take it. Its number is asked for again (ResendRequest); skipped for good if it comes too "
                "large again",
                venue,
                seq or "unknown",
                error.text,
            )
            return
        self.too_large.discard(seq)
        self.too_large_skipped = seq
        log.error(
            "FIX %s: message MsgSeqNum %d from the venue skipped for good: %s again on the venue's resend; counted "
            "as never received (gap_filled_unseen), as under a gap fill: a fill or cancel it carried is not applied "
            "(with orders open the adapter's next line says what is done: asked about where the dialect has "
            "OrderStatusRequest, else to reconcile with the venue); raise the venue setting max_body_length to take "
            "such messages",
            venue,
            seq,
            error.text,
        )
        self.timers.received(now_ns)
        self.counters["gap_filled_unseen"] += 1
        if seq == expected:
            self._advance(seq + 1, now_ns)
        else:
            self.gap.mark_done(seq)
        self.handler.on_gap_filled(seq, seq + 1, 1)

    def _too_large_unnumbered(self, error: DecodeError, expected: int, venue: str) -> None:
        """A message above ``max_body_length`` whose MsgSeqNum cannot be read was skipped (fixfix52).

        Garbled input: ignored without taking a number (FIX spec), so the next message opens a gap and the venue is
        asked for it. When that next message is numbered ``expected + 1`` (TCP keeps the venue's order) the skipped
        one was ``expected``: it is then handled as a too large message with that number (``_too_large``): asked for
        once more, skipped for good when it comes too large again, open orders asked about. Before fixfix52 each of
        its copies was a message of no number: the gap was asked for again and again, the session logged out and
        reconnected for ever.
        """
        self.counters["too_large_unnumbered"] += 1
        if self._unnumbered_at and self._unnumbered_at == expected:
            # another one right after (nothing taken in sequence since): before fix53 the next message, two
            # numbers above, matched neither, and every resend of the two cycled the same way for ever
            self._unnumbered_count += 1
        else:
            self._unnumbered_at = expected
            self._unnumbered_count = 1
        count = self._unnumbered_count
        log.error(
            "FIX %s: message from the venue skipped, its MsgSeqNum (34) not readable in its first %d bytes %r: %s; "
            "taken as MsgSeqNum %s if the next message is %d (then asked for again, skipped for good if it comes too "
            "large again); raise the venue setting max_body_length to take it",
            venue,
            len(error.raw),
            printable(error.raw[:120]),
            error.text,
            expected + count - 1 if count == 1 else f"{expected + count - 1} ({count} such in a row from {expected})",
            expected + count,
        )

    def _check_header(self, message: FixMessage, now_ns: int) -> bool:
        """Validate BeginString and CompIDs; on a mismatch end the session and return False."""
        fields = message.fields
        if fields.get(f.BEGIN_STRING) != self.config.begin_string:
            got = fields.get(f.BEGIN_STRING, b"")
            self._logout_and_close(f"incorrect BeginString {got!r}, expected {self.config.begin_string!r}", now_ns)
            return False
        if (
            fields.get(f.SENDER_COMP_ID) != self.config.target_comp_id
            or fields.get(f.TARGET_COMP_ID) != self.config.sender_comp_id
        ):
            text = "CompID problem: expected {}->{}, got {!r}->{!r}".format(
                self.config.target_comp_id.decode(),
                self.config.sender_comp_id.decode(),
                fields.get(f.SENDER_COMP_ID, b""),
                fields.get(f.TARGET_COMP_ID, b""),
            )
            if self.logged_on:
                self.send_reject(
                    message.seq,
                    SessionRejectReason.COMP_ID_PROBLEM,
                    text,
                    now_ns,
                    ref_tag=49,
                    ref_msg_type=message.msg_type,
                )
            self._logout_and_close(text, now_ns)
            return False
        return True

    def _on_message(self, message: FixMessage, now_ns: int) -> None:
        if not self._check_header(message, now_ns):
            return
        msg_type = message.msg_type
        if self.state is _AWAITING_LOGON:
            if msg_type == MsgType.LOGON:
                self._accept_logon(message, now_ns)
            else:
                self.request_close(f"first message from the initiator was {msg_type!r}, not a Logon")
            return
        if self.state is _LOGON_SENT:
            if msg_type == MsgType.LOGON:
                self._on_logon(message, now_ns)
            elif msg_type == MsgType.LOGOUT:
                self._note_refusal(message.seq)  # received: the next logon does not ask for it (``_logged_on``)
                raw_text = message.get(f.TEXT)
                next_expected = message.get(f.NEXT_EXPECTED_MSG_SEQ_NUM)
                expected = seq_too_low_refusal(  # its head and tail read (rev60fix); logged bounded (fixresend59b)
                    refusal_text_read(raw_text) or "venue refused the logon",
                    self._logon_seq,
                    max(small_number(next_expected, MAX_NEXT_SEQ), 0),
                )
                text = venue_text(raw_text) or "venue refused the logon"
                if expected is not None:
                    if next_expected.isdigit() and not message.get(f.TEXT):
                        text = f"NextExpectedMsgSeqNum(789) {expected} in the venue's Logout, no Text"
                    self._refused_too_low(text, expected, now_ns)
                self.request_close(f"logon refused: {text}")
            else:
                self.request_close(f"first message from the venue was {msg_type!r}, not a Logon")
            return
        if self.state is _LOGOUT_SENT and msg_type == MsgType.LOGOUT:
            if message.seq == self.next_target_seq:
                self._target_pending = message.seq + 1  # counted like any message (committed at the flush)
            elif message.seq > self.next_target_seq:
                self._note_refusal(message.seq)  # inside a gap: a later gap fill over it covers it
            self.request_close(self.reason)
            return
        if not self.logged_on and self.state is not _LOGOUT_SENT:
            return
        if msg_type == MsgType.LOGON and self.logged_on and message.get(f.RESET_SEQ_NUM_FLAG) == b"Y":
            self._on_reset_logon(message, now_ns)
            return
        self._sequenced(message, now_ns)

    def _refused_too_low(self, text: str, expected: int, now_ns: int) -> None:
        """The venue refused our Logon as numbered too low: LOGIN_REFUSED, no reconnect until ``reconnect`` (fixfix52)
        or, with a session schedule, its next start (fix53).

        Before fixfix52 the session reconnected for ever (each Logon one number higher, every ``maximum_ms``).
        """
        self.refused_text = text
        self.refused_expected = expected
        self.refused_logon_seq = self._logon_seq or self.store.next_sender_seq - 1
        self.refused_wall_ns = now_ns + self.wall_offset_ns
        self.refused_venue_logon = False
        self._set_state(_LOGIN_REFUSED, f"logon refused: {text}")

    def refusal_ends_ns(self, wall_ns: int) -> int | None:
        """Return the wall ns at which the session schedule ends LOGIN_REFUSED (None: no schedule, only ``reconnect``).

        The end of the window the venue refused us in (the connection then made is ENDED, the requests still
        unanswered answered as at any session end), or with the window closed, the next start; a 24-hour session's
        window ends where the next one starts.
        """
        schedule = self.config.schedule
        if schedule is None:
            return None
        window = schedule.current_window(wall_ns)
        if window is None:
            return schedule.next_start(wall_ns)
        return window[1] if window[0] <= self.refused_wall_ns else window[0]

    def _refusal_ended(self, wall: int) -> bool:
        """At a connection in LOGIN_REFUSED: the schedule ended the refused session (fix53); clear the refusal then.

        A new window started after the refusal (the next session day: a new trading session, its numbers reset by
        the schedule's daily reset before the Logon), or the window the venue refused us in has closed (ENDED until
        the next start). Before fix53 only ``gateway venue reconnect`` ended LOGIN_REFUSED.
        """
        schedule = self.config.schedule
        if schedule is None:
            return False
        window = schedule.current_window(wall)
        if window is not None and window[0] <= self.refused_wall_ns:
            return False  # the same window: still refused
        venue = self.config.target_comp_id.decode(errors="replace")
        if window is None:
            log.warning(
                "FIX %s: the session window ended while LOGIN_REFUSED (logon refused: %r): ENDED until the schedule's "
                "next start, which logs on again as a new session (both numbers reset by the schedule)",
                venue,
                self.refused_text,
            )
        else:
            log.warning(
                "FIX %s: the session schedule's next start ends LOGIN_REFUSED (logon refused at %s: %r): logging on "
                "again as a new session (both numbers reset by the schedule's daily reset)",
                venue,
                wall_text(self.refused_wall_ns),
                self.refused_text,
            )
        self._clear_refusal()
        return True

    def _clear_refusal(self) -> None:
        self.refused_text = ""
        self.refused_expected = 0
        self.refused_logon_seq = 0
        self.refused_wall_ns = 0
        self.refused_venue_logon = False

    def set_numbers(self, next_sender: int, next_target: int, now_ns: int, *, lower_target: bool = False) -> str:
        """Set the next outgoing and expected MsgSeqNums (an operator's ``gateway venue set-seq``, fix53); 0 keeps one.

        Return why it is refused ("": done; refused, nothing changed). Only while not logged on (LOGIN_REFUSED,
        DISCONNECTED or ENDED: the next Logon carries the new number), never lower than the current number (a
        number above what the venue expects it recovers by itself, with a ResendRequest; taking the venue's
        messages again under numbers already processed would break exactly-once) unless ``lower_target`` says the
        venue's numbering restarted (``--allow-lower-target``, fixlogon56: the venue's Logon refused as numbered too
        low): then the expected number goes down and the venue's messages take a new name of numbering
        (``store.renumber_inbound``: the store's creation time, the exactly-once epoch), so its messages from there
        are new ones, not repeats of those numbered the same before; our own number and messages stay; and what the
        venue sent under the old numbering and never resent is lost (``store.lowered_by_operator``: the owner asks
        about every open order and every request unanswered at the next logon, as after a reset, and clears it,
        fixlogon56b). Not when the next Logon is a new session day under the schedule (the daily reset restarts
        both numbers at 1 then). Written to the message store (a restart keeps them), with the venue's numbers a
        raised expected number skips (``store.skipped_by_operator``: the owner asks about its open orders at the
        next logon and clears it) and our numbers a raised next number passes over (``store.raised_by_operator``:
        the owner asks about every request still unanswered at the next logon and clears it, fix55).
        """
        state = self.state
        if state is not _LOGIN_REFUSED and state is not _DISCONNECTED and state is not _ENDED:
            return (
                f"the session is {state}: MsgSeqNums are set only while the venue is not logged on (LOGIN_REFUSED, "
                "DISCONNECTED or ENDED); nothing was changed"
            )
        sender, target = self.store.next_sender_seq, self.next_target_seq
        if next_sender and next_sender < sender:
            return (
                f"--next-sender {next_sender} is below our next MsgSeqNum {sender}: a Logon numbered above what the "
                "venue expects is recovered by the venue itself (it asks for the rest with a ResendRequest); a "
                "number is never taken back. Nothing was changed"
            )
        if next_target and next_target < target and not lower_target:
            return (
                f"--next-target {next_target} is below the MsgSeqNum expected from the venue, {target}: the venue's "
                "messages up to there were processed already and would be taken as duplicates; to restart the "
                "numbering agree a reset of both sides with the venue desk, or, if the venue's numbering did restart "
                "(its Logon refused as numbered too low), say so with --allow-lower-target. Nothing was changed"
            )
        schedule = self.config.schedule
        if schedule is not None:
            wall = now_ns + self.wall_offset_ns
            window = schedule.current_window(wall)
            start = window[0] if window is not None else schedule.next_start(wall)
            if self.store.creation_time_ns < start:
                return (
                    "the next Logon starts a new session day under the session schedule: both numbers restart at 1 "
                    "then (the schedule's daily reset); nothing was changed"
                )
        store = self.store
        try:
            if next_sender and next_sender != sender:
                # every request still unanswered was sent below the new number: the venue holds those numbers
                # whatever they carried and never asks for them; written before the number (a crash in between
                # asks once more, never less), so the first logon asks about them even after a restart (fix55:
                # before, that lived only in the adapter's memory)
                store.set_raised_by_operator(store.raised_by_operator[0] or sender, next_sender)
                store.set_next_sender_seq(next_sender)
            if next_target and next_target < target:
                # the venue's numbering restarted (the operator says so): a new name for it, so that its messages
                # from ``next_target`` on are not taken for those numbered the same before (fixlogon56). What it
                # sent from ``target`` on under the old numbering is lost with it: marked before the number (a
                # crash in between asks once more, never less), so the first logon asks about every open order
                # and every request unanswered, as after a reset, even after a restart (fixlogon56b)
                store.set_lowered_by_operator(store.lowered_by_operator[0] or target, next_target)
                store.renumber_inbound(next_target, max(now_ns + self.wall_offset_ns, store.creation_time_ns + 1))
                self._target_pending = 0
                self.refusals.clear()
                self.too_large.clear()
                if self.refused_venue_logon and self.refused_logon_seq >= next_target:
                    # the refused Logon was received: the next logon does not count it among those never received
                    self.refusals.add(self.refused_logon_seq)
            elif next_target and next_target != target:
                # the venue's messages target..next_target-1 are skipped, never received here: written before the
                # number (a crash in between asks once more, never less), so the first logon asks about every
                # open order even after a restart (fixfix54: before, that lived only in the adapter's memory)
                first = store.skipped_by_operator[0] or target
                store.set_skipped_by_operator(first, next_target)
                store.set_next_target_seq(next_target)
                self._target_pending = 0
        except OSError as exc:
            return (
                f"the message store could not be written ({exc}): next MsgSeqNum {self.store.next_sender_seq}, "
                f"expected {self.next_target_seq}"
            )
        self.operator_numbers = (self.store.next_sender_seq, self.next_target_seq)
        return ""

    def reconnect(self) -> bool:
        """Leave LOGIN_REFUSED (an operator's ``gateway venue reconnect``); False, nothing changed, in other states."""
        if self.state is not _LOGIN_REFUSED:
            return False
        self._clear_refusal()
        self._set_state(_DISCONNECTED, "reconnect asked by the operator after a refused logon")
        return True

    def _note_admin_held(self) -> None:
        """The connection drops with a gap open: remember the numbers of the admin messages received in it.

        The venue gap-fills admin messages on the next resend, so those numbers would count as never received
        (``on_gap_filled``). Business messages held are dropped unremembered: the venue resends them.
        """
        gap = self.gap
        for seq in gap.done:
            self._note_refusal(seq)
        for seq, held in gap.queued.items():
            if held.msg_type in f.ADMIN_MSG_TYPES:
                self._note_refusal(seq)

    def _note_refusal(self, seq: int) -> None:
        """Remember the number of an admin message received but never in sequence (a Logout refusing our Logon, one
        inside a gap): the venue counted it; a gap fill may cover it."""
        expected = self.next_target_seq
        refusals = self.refusals
        if refusals:
            refusals.difference_update([n for n in refusals if n < expected])
        if seq >= expected and len(refusals) < self.config.max_queued:
            refusals.add(seq)

    def _on_reset_logon(self, message: FixMessage, now_ns: int) -> None:
        """Follow the venue's in-session Logon with ResetSeqNumFlag=Y, as at logon: both numbers restart.

        Answered with our Logon (ResetSeqNumFlag=Y, MsgSeqNum 1); the venue's Logon is its message 1.
        Messages held for a gap of the old numbering are genuine messages the venue will never resend:
        they are processed first, in order, as when a SequenceReset skips them (``_process_skipped``);
        requests in doubt are asked about (``on_numbering_reset``, then the adapter's ``after_replay``).
        """
        seq = message.seq
        if seq != 1:
            self._logout_and_close(f"Logon with ResetSeqNumFlag must have MsgSeqNum 1, got {seq}", now_ns)
            return
        self._rare("inline_reset", now_ns, logging.WARNING, "venue reset the sequence numbers in session; following")
        if self.gap.queued:
            self._process_skipped(self.next_target_seq, max(self.gap.queued) + 1, now_ns)
        self.gap.clear()
        self._gap_asked_ns = 0
        self._reset_store(now_ns + self.wall_offset_ns)
        self.logon_reset = True
        heartbeat_s = self.timers.interval_ns // 1_000_000_000
        logon = self.admin.logon(self.store.next_sender_seq, self.sending_time(now_ns), True, heartbeat_s=heartbeat_s)
        self._queue_admin(logon, now_ns)
        self._advance(seq + 1, now_ns)
        self._set_state(_ACTIVE, "logged on; the venue reset the sequence numbers")

    def _on_logon(self, message: FixMessage, now_ns: int) -> None:
        seq = message.seq
        if message.get(f.RESET_SEQ_NUM_FLAG) == b"Y":
            if not self.logon_reset:
                # The venue reset on its own: follow it (our Logon counts as our message 1).
                self._reset_store(now_ns + self.wall_offset_ns)
                self.store.set_next_sender_seq(2)
            if seq != 1:
                self._logout_and_close(f"Logon with ResetSeqNumFlag must have MsgSeqNum 1, got {seq}", now_ns)
                return
            self._target_pending = 0
            self.store.set_next_target_seq(1)
        expected = self.next_target_seq
        if seq < expected:
            self._venue_logon_too_low(seq, expected, now_ns)
            return
        self.timers.start(now_ns)
        self._logged_on(seq, expected, now_ns)

    def _venue_logon_too_low(self, seq: int, expected: int, now_ns: int) -> None:
        """The venue's Logon is numbered below the number expected from it: Logout, close, LOGIN_REFUSED (fixlogon56).

        The FIX session rules make a Logon numbered too low without ResetSeqNumFlag a serious error needing manual
        intervention: the venue's numbers went back (its store lost, a failover to a host that restarts them at every
        Logon without saying so). No retry cures it: before, the session reconnected for ever on its backoff (each
        try taking two of our numbers), or, when the venue's own refusals had carried its numbers up to the expected
        one, logged on unnoticed. It stops here as for our own Logon refused as too low (``_refused_too_low``) until
        ``reconnect`` or, with a session schedule, the end of the refused window; ``set_numbers`` may lower the
        expected number when the operator says so explicitly.
        """
        text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
        self.counters["venue_logons_too_low"] += 1
        self._queue_admin(self.admin.logout(self.store.next_sender_seq, self.sending_time(now_ns), text), now_ns)
        self.refused_text = (
            f"the venue's Logon carried MsgSeqNum {seq}, below the {expected} expected from it (no ResetSeqNumFlag)"
        )
        self.refused_expected = expected
        self.refused_logon_seq = seq
        self.refused_wall_ns = now_ns + self.wall_offset_ns
        self.refused_venue_logon = True
        self._set_state(_LOGIN_REFUSED, f"logon refused: {self.refused_text}")
        self.request_close(text)

    def _logged_on(self, seq: int, expected: int, now_ns: int) -> None:
        """Go ACTIVE after the venue's Logon ``seq``, or RESYNCING for the gap before it (the Logon counts as done)."""
        if seq > expected and expected in self.refusals:
            expected = self._skip_refusals(expected, seq)
        if seq > expected:
            self._set_state(_RESYNCING, f"logged on; asking for {expected}..{seq - 1}")
            self._open_gap(seq, now_ns)
            self.gap.mark_done(seq)  # the Logon is processed: the gap ends at seq - 1
            return
        self._advance(seq + 1, now_ns)
        self._set_state(_ACTIVE, "logged on")

    def _skip_refusals(self, expected: int, seq: int) -> int:
        """Take the venue's Logouts refusing our earlier Logons, from ``expected`` on, as received; return the next.

        QuickFIX numbers its refusing Logout, and its next Logon comes one number later: before fixfix54b that number
        opened a gap and was asked for with a ResendRequest. Not counted when it arrives: a venue that does not
        count its refusal (its Logon then reuses the number) must still find its Logon in sequence.
        """
        refusals = self.refusals
        while expected < seq and expected in refusals:
            refusals.discard(expected)
            expected += 1
        self._target_pending = expected
        return expected

    def _accept_logon(self, message: FixMessage, now_ns: int) -> None:
        """Acceptor: answer the initiator's Logon with ours (same HeartBtInt and reset flag), then go ACTIVE."""
        seq = message.seq
        heartbeat = message.get(f.HEART_BT_INT)
        interval_s = small_number(heartbeat)  # -1: not digits, or too many for int() (fixresend59b)
        if interval_s < 0:
            self._logout_and_close("HeartBtInt (108) missing or not a number", now_ns)
            return
        reset = message.get(f.RESET_SEQ_NUM_FLAG) == b"Y"
        if reset:
            if seq != 1:
                self._logout_and_close(f"Logon with ResetSeqNumFlag must have MsgSeqNum 1, got {seq}", now_ns)
                return
            self._reset_store(now_ns + self.wall_offset_ns)
        expected = self.next_target_seq
        if seq < expected:
            self._logout_and_close(f"MsgSeqNum too low, expecting {expected} but received {seq}", now_ns)
            return
        interval_s = interval_s or self.config.heartbeat_interval_s
        self.timers = HeartbeatTimers(interval_s * 1_000_000_000, self.config.test_request_grace)
        self.timers.start(now_ns)
        self.logon_reset = reset
        logon = self.admin.logon(self.store.next_sender_seq, self.sending_time(now_ns), reset, heartbeat_s=interval_s)
        self._queue_admin(logon, now_ns)
        self._logged_on(seq, expected, now_ns)

    def _open_gap(self, seq: int, now_ns: int) -> None:
        """Note that ``seq`` is beyond the expected number; ask for the gap once."""
        if self.gap.note(seq):
            expected = self.next_target_seq
            self._ask_resend(expected, now_ns)
            self._gap_asks = 1
            self._rare(
                "gap",
                now_ns,
                logging.INFO,
                "sequence gap: expected %d, received %d; ResendRequest sent",
                expected,
                seq,
            )

    def _ask_resend(self, expected: int, now_ns: int) -> None:
        """Send ResendRequest(expected, 0) and start the gap's resend timeout."""
        raw = self.admin.resend_request(self.store.next_sender_seq, self.sending_time(now_ns), expected, 0)
        self._queue_admin(raw, now_ns)
        self.counters["resend_requests_sent"] += 1
        self._gap_asked_ns = now_ns
        self._gap_asked_from = expected

    def _resend_timeout_ns(self) -> int:
        """Return how long a gap may make no progress before it is asked for again."""
        return self.config.resend_timeout_ns or self.timers.interval_ns

    def hold_output(self, held: bool, now_ns: int) -> None:
        """The gateway starts (True) or stops (False) holding what this session queues (held54).

        A ResendRequest queued meanwhile has not left: the gap's retries are neither timed nor counted towards
        ``max_resend_attempts`` while held (``_check_gap``), and one asked for during the hold is timed from the
        release, when it leaves. One asked for before the hold left then: its timeout runs from then.
        """
        if held:
            self._held_since_ns = now_ns
        elif self.gap.open and self._gap_asked_ns >= self._held_since_ns:
            self._gap_asked_ns = now_ns
        self.output_held = held
        if not held:
            self.wake_for_resend()

    def wake_for_resend(self) -> None:
        """Tell the owner (``wake``) to poll soon if a ResendRequest's answer has slices left (its output can go)."""
        if self._resend is not None and self.wake is not None:
            self.wake()

    def _check_gap(self, now_ns: int) -> int:
        """Ask again for a gap that made no progress within the resend timeout; return its deadline (0: none)."""
        if not self.gap.open or self.output_held:  # held: nothing asked has left (``hold_output``)
            return 0
        if self._resend is not None:  # what we ask waits behind our answer to the venue's ResendRequest
            return 0
        expected = self.next_target_seq
        if expected != self._gap_asked_from:  # progress: the timeout runs from now
            self._gap_asked_from = expected
            self._gap_asked_ns = now_ns
            self._gap_asks = 1
        deadline = self._gap_asked_ns + self._resend_timeout_ns()
        if now_ns >= deadline:
            limit = self.config.max_resend_attempts
            if 0 < limit <= self._gap_asks:
                self._give_up_gap(expected, now_ns)
                return 0
            self.counters["resend_timeouts"] += 1
            self._rare(
                "resend_timeout",
                now_ns,
                logging.WARNING,
                "sequence gap from %d (up to %d) not filled within %.1f s; asking again",
                expected,
                self.gap.until,
                self._resend_timeout_ns() / 1e9,
            )
            self._ask_resend(expected, now_ns)
            self._gap_asks += 1
            deadline = now_ns + self._resend_timeout_ns()
        return deadline

    def _give_up_gap(self, expected: int, now_ns: int) -> None:
        """Log out and reconnect: ``max_resend_attempts`` ResendRequests in a row brought nothing.

        The next Logon finds the gap again (the venue's MsgSeqNum is still above ours) and asks anew, so a
        venue whose resend got stuck on its side gets a fresh session instead of the same request for ever.
        """
        self.counters["resend_gap_logouts"] += 1
        asks = self._gap_asks
        reason = f"sequence gap from {expected} not filled after {asks} ResendRequests"
        log.error(
            "FIX %s: %s (each %.1f s apart); logging out to reconnect and ask again",
            self.config.target_comp_id.decode(),
            reason,
            self._resend_timeout_ns() / 1e9,
        )
        self._gap_asks = 0
        self._logout_and_close(reason, now_ns)

    def _advance(self, next_seq: int, now_ns: int) -> None:
        """Move the next expected number on and process held messages that are now in order.

        The number reaches the store at the next ``commit_inbound``.
        """
        self._target_pending = next_seq
        gap = self.gap
        while (gap.queued or gap.done) and not self.closing():
            expected = self.next_target_seq
            held = gap.pop(expected)
            if held is None:
                if not gap.take_done(expected):
                    break
                self._target_pending = expected + 1  # acted on when it arrived early (a Logon, a ResendRequest)
                continue
            self._dispatch(held, now_ns)
            if held.msg_type != MsgType.SEQUENCE_RESET:
                self._target_pending = held.seq + 1
        if gap.close_if_filled(self.next_target_seq) and self.state is _RESYNCING:
            self._set_state(_ACTIVE, "logged on; gap filled")

    def _sequenced(self, message: FixMessage, now_ns: int) -> None:
        """Apply the sequence number rules, then dispatch in-order messages."""
        seq = message.seq
        msg_type = message.msg_type
        expected = self.next_target_seq
        if msg_type == MsgType.SEQUENCE_RESET and message.get(f.GAP_FILL_FLAG) != b"Y":
            self._on_sequence_reset(message, now_ns, gap_fill=False)
            return
        if seq == expected:
            self._dispatch(message, now_ns)
            if msg_type != MsgType.SEQUENCE_RESET and (not self.closing() or msg_type == MsgType.LOGOUT):
                self._advance(seq + 1, now_ns)  # a Logout's number counts too (else the next logon asks for it)
            return
        if seq > expected:
            if self._unnumbered_at:
                unnumbered, count = self._unnumbered_at, self._unnumbered_count
                self._unnumbered_at = self._unnumbered_count = 0
                if unnumbered == expected and seq == expected + count:  # the skipped ones were ``expected``, ...
                    for skipped in range(expected, seq):
                        error = DecodeError(
                            DecodeErrorKind.TOO_LARGE,
                            "above max_body_length (MsgSeqNum not readable)",
                            b"",
                            seq=skipped,
                        )
                        self._too_large(error, now_ns)
                        if self.closing():
                            return
                    self._sequenced(message, now_ns)
                    return
            if msg_type == MsgType.LOGOUT:
                self._note_refusal(seq)  # received, never in sequence: a later gap fill over it covers it (rev49fix)
                self._dispatch(message, now_ns)
                return
            if msg_type == MsgType.RESEND_REQUEST:
                self._on_resend_request(message, now_ns)  # answered now, so not held: its number is done
                self.gap.mark_done(seq)
            else:
                self.gap.hold(message)
            self._open_gap(seq, now_ns)
            return
        if message.poss_dup:
            if msg_type == MsgType.SEQUENCE_RESET or self._poss_dup_times_valid(message, now_ns):
                self.counters["poss_dup_ignored"] += 1
            return
        if msg_type == MsgType.SEQUENCE_RESET and seq in self.gap.passed:
            # the venue gap-fills over its own Logon (or ResendRequest) that we already moved past: nothing to do
            self.gap.passed.discard(seq)
            return
        self._logout_and_close(f"MsgSeqNum too low, expecting {expected} but received {seq}", now_ns)

    def _poss_dup_times_valid(self, message: FixMessage, now_ns: int) -> bool:
        """Check OrigSendingTime of a PossDupFlag=Y copy numbered too low, as QuickFIX's ``doPossDup`` does.

        Return True when the copy may be ignored. Otherwise answer it and return False: 122 missing
        -> Reject (reason 1); 122 or 52 not a UTCTimestamp -> Reject (reason 6, incorrect data
        format); OrigSendingTime later than SendingTime -> Reject (reason 10, SendingTime accuracy
        problem) and Logout. Only this branch pays for the parsing.
        """
        fields = message.fields
        orig = fields.get(f.ORIG_SENDING_TIME)
        if orig is None:
            self._poss_dup_without_orig_sending_time(message, now_ns)
            return False
        sending = fields.get(f.SENDING_TIME)
        orig_ns = _utc_timestamp_ns(orig)
        sending_ns = None if sending is None else _utc_timestamp_ns(sending)
        if orig_ns is None:
            self._poss_dup_bad_timestamp(message, f.ORIG_SENDING_TIME, orig, now_ns)
            return False
        if sending is None or sending_ns is None:
            self._poss_dup_bad_timestamp(message, f.SENDING_TIME, sending, now_ns)
            return False
        if orig_ns > sending_ns:
            self._poss_dup_orig_sending_time_late(message, orig, sending, now_ns)
            return False
        return True

    def _poss_dup_bad_timestamp(self, message: FixMessage, tag: bytes, value: bytes | None, now_ns: int) -> None:
        """Reject a PossDupFlag=Y copy whose 122 or 52 is not a UTCTimestamp (reason 6; 52 missing: reason 1)."""
        self.counters["poss_dup_rejected"] += 1
        name = "OrigSendingTime" if tag == f.ORIG_SENDING_TIME else "SendingTime"
        self._rare(
            "possdup_format",
            now_ns,
            logging.WARNING,
            "MsgSeqNum %d: PossDupFlag=Y with %s (%s) %r, not a UTCTimestamp; rejected",
            message.seq,
            name,
            tag.decode(),
            value if value is None else value[:40],
        )
        if value is None:
            reason, text = SessionRejectReason.REQUIRED_TAG_MISSING, f"Required tag missing: {name} ({tag.decode()})"
        else:
            reason = SessionRejectReason.INCORRECT_DATA_FORMAT
            text = f"Incorrect data format for value: {name} ({tag.decode()}) is not a UTCTimestamp"
        self.send_reject(message.seq, reason, text, now_ns, ref_tag=int(tag), ref_msg_type=message.msg_type)

    def _poss_dup_orig_sending_time_late(self, message: FixMessage, orig: bytes, sending: bytes, now_ns: int) -> None:
        """Reject a PossDupFlag=Y copy sent before it was first sent (reason 10) and log out, as QuickFIX does.

        Like QuickFIX: the Reject has no RefTagID, the Logout no Text, and the session then waits for the
        venue's Logout (or the logout timeout) before closing. The copy's number is not consumed.
        """
        self.counters["poss_dup_orig_sending_time_late"] += 1
        self._rare(
            "possdup_late",
            now_ns,
            logging.WARNING,
            "MsgSeqNum %d: PossDupFlag=Y with OrigSendingTime %r later than SendingTime %r; rejected, logging out",
            message.seq,
            orig[:40],
            sending[:40],
        )
        self.send_reject(
            message.seq,
            SessionRejectReason.SENDING_TIME_ACCURACY,
            "SendingTime accuracy problem: OrigSendingTime (122) is later than SendingTime (52)",
            now_ns,
            ref_msg_type=message.msg_type,
        )
        if self.state in _LOGGED_ON_STATES:
            seq = self.store.next_sender_seq
            self._queue_admin(self.admin.logout(seq, self.sending_time(now_ns)), now_ns)
            self.logout_sent_ns = now_ns
            self._set_state(_LOGOUT_SENT, "SendingTime accuracy problem: OrigSendingTime later than SendingTime")

    def _poss_dup_without_orig_sending_time(self, message: FixMessage, now_ns: int) -> None:
        """Reject a PossDupFlag=Y copy (numbered too low) that lacks OrigSendingTime, as QuickFIX does."""
        self.counters["poss_dup_rejected"] += 1
        self._rare(
            "possdup122",
            now_ns,
            logging.WARNING,
            "MsgSeqNum %d: PossDupFlag=Y without OrigSendingTime (122); rejected",
            message.seq,
        )
        self.send_reject(
            message.seq,
            SessionRejectReason.REQUIRED_TAG_MISSING,
            "Required tag missing: OrigSendingTime (122) on a PossDupFlag=Y message",
            now_ns,
            ref_tag=int(f.ORIG_SENDING_TIME),
            ref_msg_type=message.msg_type,
        )

    def _dispatch(self, message: FixMessage, now_ns: int) -> None:
        """Act on an in-sequence message (the caller commits its number)."""
        msg_type = message.msg_type
        if msg_type not in f.ADMIN_MSG_TYPES:
            self.handler.on_app_message(message)
        elif msg_type == MsgType.HEARTBEAT:
            if self._outstanding_test_req_id and message.get(f.TEST_REQ_ID) == self._outstanding_test_req_id:
                self._outstanding_test_req_id = b""
        elif msg_type == MsgType.TEST_REQUEST:
            test_req_id = message.get(f.TEST_REQ_ID)
            if not test_req_id:  # a Heartbeat without 112 answers nothing: rejected, as QuickFIX does
                self.send_reject(
                    message.seq,
                    SessionRejectReason.REQUIRED_TAG_MISSING,
                    "Required tag missing: TestReqID (112)",
                    now_ns,
                    ref_tag=int(f.TEST_REQ_ID),
                    ref_msg_type=msg_type,
                )
                return
            seq = self.store.next_sender_seq
            self._queue_admin(self.admin.heartbeat(seq, self.sending_time(now_ns), test_req_id), now_ns)
        elif msg_type == MsgType.RESEND_REQUEST:
            self._on_resend_request(message, now_ns)
        elif msg_type == MsgType.SEQUENCE_RESET:
            self._on_sequence_reset(message, now_ns, gap_fill=True)
        elif msg_type == MsgType.REJECT:
            self.counters["rejects_received"] += 1
            self._rare(
                "reject",
                now_ns,
                logging.WARNING,
                "venue rejected our message %s: reason %s tag %s: %s",
                _field_text(message.get(f.REF_SEQ_NUM)),
                _field_text(message.get(f.SESSION_REJECT_REASON)),
                _field_text(message.get(f.REF_TAG_ID)),
                venue_text(message.get(f.TEXT)),
            )
            self.handler.on_session_reject(message)
        elif msg_type == MsgType.LOGOUT:
            text = venue_text(message.get(f.TEXT))  # bounded: into a WARNING and the state line (fixresend59b)
            reason = f"venue logged out: {text}" if text else "venue logged out"
            if self.state is not _LOGOUT_SENT:
                if self._resend is not None:  # ours answers the venue's: not "our Logout" (rev58merge5)
                    self.end_resend(f"the venue's Logout ({text or 'no Text'}), which ours answers")
                seq = self.store.next_sender_seq
                self._queue_admin(self.admin.logout(seq, self.sending_time(now_ns)), now_ns)
                self._set_state(_LOGOUT_SENT, reason)
            self.request_close(reason)
        elif msg_type == MsgType.LOGON:
            self.send_reject(
                message.seq,
                SessionRejectReason.VALUE_INCORRECT,
                "already logged on",
                now_ns,
                ref_msg_type=msg_type,
            )

    def _on_sequence_reset(self, message: FixMessage, now_ns: int, *, gap_fill: bool) -> None:
        value = message.get(f.NEW_SEQ_NO)
        expected = self.next_target_seq
        new_seq = small_number(value, MAX_NEXT_SEQ)  # -1: not digits, or above what the store counts on from
        if new_seq < 0:
            if value.isdigit():
                reason, problem = (
                    SessionRejectReason.VALUE_INCORRECT,
                    _too_large("NewSeqNo", value, MAX_NEXT_SEQ, _NEW_SEQ_NO_LIMIT),
                )
            else:
                reason, problem = SessionRejectReason.INCORRECT_DATA_FORMAT, "NewSeqNo missing or not a number"
            self.send_reject(message.seq, reason, problem, now_ns, ref_tag=36, ref_msg_type=MsgType.SEQUENCE_RESET)
            if gap_fill:
                self._advance(expected + 1, now_ns)
            return
        if new_seq > expected:
            seen = self._process_skipped(expected, new_seq, now_ns)
            if new_seq - expected > seen:  # Reset mode (disaster recovery) skips numbers as a GapFill does
                self.counters["gap_filled_unseen"] += new_seq - expected - seen
                self.handler.on_gap_filled(expected, new_seq, new_seq - expected - seen)
        if new_seq < expected or (gap_fill and new_seq == expected):
            self.send_reject(
                message.seq,
                SessionRejectReason.VALUE_INCORRECT,
                f"NewSeqNo {new_seq} would lower the expected number {expected}",
                now_ns,
                ref_tag=36,
                ref_msg_type=MsgType.SEQUENCE_RESET,
            )
            if gap_fill or message.seq == expected:  # received and answered: its number is taken (fixfix51)
                self._advance(expected + 1, now_ns)
            elif message.seq > expected:
                self._note_refusal(message.seq)  # a later gap fill over it covers a message received here
            return
        if new_seq > expected:
            self._advance(new_seq, now_ns)

    def _process_skipped(self, expected: int, new_seq: int, now_ns: int) -> int:
        """Handle held messages that a SequenceReset is about to skip over.

        A venue may gap-fill over numbers whose messages we already received early (QuickFIX's
        memory store answers a ResendRequest that way when the first requested number is
        missing). They are genuine messages the venue will not send again: dropping them
        would lose executions, leave its TestRequest unanswered (the venue then drops the
        link) or a Reject of ours unseen, so they are processed, in order, before the jump.
        Only the numbering messages themselves (SequenceReset, Logon) are not acted on again. Return how
        many numbers of the range had arrived (held, acted on early, or a Logout that refused our Logon).
        """
        seen: set[int] = set()
        if self.gap.done:
            done = self.gap.done
            seen.update(seq for seq in done if expected <= seq < new_seq)
            self.gap.done = {seq for seq in done if not expected <= seq < new_seq}
        if self.refusals:
            refusals = self.refusals
            seen.update(seq for seq in refusals if expected <= seq < new_seq)
            self.refusals = {seq for seq in refusals if seq >= new_seq}
        skipped = [seq for seq in self.gap.queued if expected <= seq < new_seq]
        seen.update(skipped)
        for seq in sorted(skipped):
            held = self.gap.pop(seq)
            if held is not None and held.msg_type not in _NOT_REPLAYED_ON_RESET:
                self.counters["held_processed_on_reset"] += 1
                self._rare(
                    "skipped",
                    now_ns,
                    logging.WARNING,
                    "SequenceReset or reset Logon skips message %d received earlier; processed",
                    seq,
                )
                self._dispatch(held, now_ns)
        return len(seen)

    def _on_resend_request(self, message: FixMessage, now_ns: int) -> None:
        begin_b, end_b = message.get(f.BEGIN_SEQ_NO), message.get(f.END_SEQ_NO)
        self.counters["resend_requests_received"] += 1
        if not begin_b or not end_b:
            missing = 7 if not begin_b else 16
            name = "BeginSeqNo" if not begin_b else "EndSeqNo"
            self.send_reject(
                message.seq,
                SessionRejectReason.REQUIRED_TAG_MISSING,
                f"Required tag missing: {name} ({missing})",
                now_ns,
                ref_tag=missing,
                ref_msg_type=MsgType.RESEND_REQUEST,
            )
            return
        if not begin_b.isdigit() or not end_b.isdigit():
            self.send_reject(
                message.seq,
                SessionRejectReason.INCORRECT_DATA_FORMAT,
                "BeginSeqNo/EndSeqNo not numbers",
                now_ns,
                ref_tag=7 if not begin_b.isdigit() else 16,
                ref_msg_type=MsgType.RESEND_REQUEST,
            )
            return
        begin, asked = small_number(begin_b), small_number(end_b)  # asked: as the venue wrote it (0: to the end)
        end = 0 if asked == 999_999 else asked  # FIX 4.1 style "infinity"
        last_sent = self.store.next_sender_seq - 1
        problem = ""
        if begin < 0:  # above the store's 64 bits (fixresend59b, fixresend59c): a value, refused
            problem, ref_tag = _too_large("BeginSeqNo", begin_b), 7
        elif end < 0:  # 2**63-1 or 2**64-1 (20 digits) is "to the end", as 0 is: capped below
            problem, ref_tag = _too_large("EndSeqNo", end_b), 16
        elif end and end < begin:
            problem, ref_tag = f"EndSeqNo {end} is below BeginSeqNo {begin}", 16
        elif begin > last_sent:
            problem, ref_tag = f"BeginSeqNo {begin} is above the last message sent ({last_sent})", 7
        if problem:  # nothing to resend: answered with a clear error, not with silence
            self.send_reject(
                message.seq,
                SessionRejectReason.VALUE_INCORRECT,
                problem,
                now_ns,
                ref_tag=ref_tag,
                ref_msg_type=MsgType.RESEND_REQUEST,
            )
            self._rare("resend_range", now_ns, logging.WARNING, "ResendRequest rejected: %s", problem)
            return
        begin = max(begin, 1)
        job = self._resend
        # no answer reaches a number sent after the first answer began: those wait behind it (fixresend59)
        limit = last_sent if job is None else job.limit
        if end == 0 or end > limit:
            end = limit
        if job is not None:
            was_begin, was_end, at = job.begin, job.end, job.next
            if begin >= was_begin:
                # on one connection, the copies from there on have left or come next, in order: taken on by the answer
                # under way, never answered again from a number it has passed (rev59merge10: going back made a read of
                # many such requests one slice each in one turn, and a venue re-asking on a timer got copies again)
                if end > was_end and begin <= end:  # beyond what it answers: it goes on to there (rev59fix)
                    job.end = end
                if begin >= at:
                    self._rare(
                        "resend_again",
                        now_ns,
                        logging.INFO,
                        "venue asked for %d..%d while its ResendRequest %d..%d is answered (at %d): answered by it, "
                        "which ends at %d (at most %d, the last number sent before it began; those after follow it)",
                        begin,
                        asked,
                        was_begin,
                        was_end,
                        at,
                        job.end,
                        limit,
                    )
                    return
                self._rare(
                    "resend_again",
                    now_ns,
                    logging.INFO,
                    "venue asked for %d..%d while its ResendRequest %d..%d is answered (at %d): %d..%d were sent in "
                    "this answer already and are not sent again (a venue missing them asks again after it ends); the "
                    "answer goes on to %d (at most %d, the last number sent before it began; those after follow it)",
                    begin,
                    asked,
                    was_begin,
                    was_end,
                    at,
                    begin,
                    at - 1,
                    job.end,
                    limit,
                )
                return
            # below the answer's first number: answered from there (those sent already go again, PossDupFlag Y) up to
            # the farther of the two ends, never beyond the limit; the same job (its counts go on), its next slice at
            # the next turn, so a read of many such requests costs no slice each (rev59merge10)
            job.begin = begin
            job.next = begin
            job.end = max(end, was_end)
            self._rare(
                "resend_again",
                now_ns,
                logging.INFO,
                "venue asked for %d..%d while its ResendRequest %d..%d is answered (at %d): answering %d..%d",
                begin,
                asked,
                was_begin,
                was_end,
                at,
                begin,
                job.end,
            )
            self.wake_for_resend()
            return
        self._resend_began_ns = now_ns
        self.queue = self.behind_resend  # what is numbered from now on goes after the answer
        self._resend = ResendJob(begin, end, limit)
        self._resend_step(now_ns)
        self.wake_for_resend()

    def _resend_step(self, now_ns: int) -> None:
        """Queue the next slice of the answer to the venue's ResendRequest; release what waits behind at its end."""
        job = self._resend
        if job is None:
            return
        reply = answer_resend_slice(
            job,
            self.store,
            self.admin,
            begin_string=self.config.begin_string,
            stamp=self.sending_time(now_ns),
            wall_now_ns=now_ns + self.wall_offset_ns,
            replay_business=self.config.replay_business,
            stale_after_ns=self.config.stale_after_ns,
            may_replay=self.handler.may_replay,
            budget=self.resend_slice,
            max_numbers=self.resend_slice * RESEND_SLICE_NUMBERS,
        )
        job.slices += 1
        out = self.outbox
        counters = self.counters
        for raw in reply.messages:
            out += raw
            if b"\x0135=4\x01" in raw[:40]:
                counters["gap_fills_sent"] += 1
                job.gap_fills += 1
            else:
                counters["messages_replayed"] += 1
                job.replayed += 1
        if reply.messages:
            self.timers.sent(now_ns)
        if reply.damaged:
            counters["damaged_not_resent"] += len(reply.damaged)
            job.damaged.extend(reply.damaged)
        job.not_replayed += len(reply.gap_filled_business)
        for raw in reply.gap_filled_business:  # what the owner sends about them waits behind the answer
            self.handler.on_not_replayed(raw)
        if job.done and self._resend is job:
            self._resend = None
            self._release_behind_resend()
            if self.gap.open and self._gap_asked_ns >= self._resend_began_ns:
                self._gap_asked_ns = now_ns  # our ResendRequest waited behind the answer: timed from now
            self._resend_done(job, now_ns)

    def _resend_done(self, job: ResendJob, now_ns: int) -> None:
        """Log the answer to a ResendRequest (at most once per 10 s), and its damaged store records (WARNING)."""
        self._rare(
            "resend",
            now_ns,
            logging.INFO,
            "venue asked for %d..%d: %d replayed, %d gap fills, %d business messages not replayed (%d slice(s))",
            job.begin,
            job.end,
            job.replayed,
            job.gap_fills,
            job.not_replayed,
            job.slices,
        )
        if job.damaged:
            self._rare(
                "damaged",
                now_ns,
                logging.WARNING,
                "stored messages %s cannot be resent (damaged store records): gap-filled",
                job.damaged,
            )

    def _release_behind_resend(self) -> None:
        """Queue what waited behind a ResendRequest's answer after it, and number into ``outbox`` again."""
        self.queue = self.outbox
        if self.behind_resend:
            self.outbox += self.behind_resend
            self.behind_resend.clear()

    def end_resend(self, why: str) -> None:
        """Stop answering the venue's ResendRequest before its end (our Logout, a close): what waited goes now.

        The numbers not answered yet are missing at the venue: it asks for them again at the next logon (our
        Logon is numbered above them), as for any Logout sent with a gap open there.
        """
        job = self._resend
        if job is None:
            return
        self._resend = None
        self._release_behind_resend()
        log.warning(  # once per answer cut, which ends its connection: not rate-limited
            "FIX %s: answer to the venue's ResendRequest %d..%d stopped before %d (%s): the venue asks for the rest "
            "again",
            self.config.target_comp_id.decode(),
            job.begin,
            job.end,
            job.next,
            why,
        )

    def _drop_resend_at_reset(self) -> None:
        """Stop answering the venue's ResendRequest at a numbering reset; drop what waited behind it, unsent.

        The answer's numbers and those behind it belong to the old numbering, which the venue never asks for again:
        what waited behind the answer (orders, cancels, questions, admin messages numbered while it went out) must
        not go out after the reset in the dead numbering (before fixresend58b it did: ``end_resend`` queued it just
        ahead of our reset Logon). It gets the fate of every message of the old numbering at a reset: the requests
        still unanswered among it are asked about under the new numbering (``on_numbering_reset``, then the owner's
        ``after_replay``: a new order or replace asked, a cancel sent again, a question asked again), each answered
        once by the venue's answer.
        """
        job = self._resend
        if job is None:
            return
        behind = self.behind_resend
        waited = behind.count(b"\x0110=")  # one CheckSum per message
        self._drop_resend()
        log.warning(  # once per reset, which is rare: not rate-limited
            "FIX %s: answer to the venue's ResendRequest %d..%d stopped before %d: the sequence numbers were reset "
            "(the venue never asks for the old numbers again); %d message(s) numbered behind the answer are not "
            "sent in the old numbering: requests still unanswered are asked about under the new one",
            self.config.target_comp_id.decode(),
            job.begin,
            job.end,
            job.next,
            waited,
        )

    def _drop_resend(self) -> None:
        """Forget a ResendRequest's answer and what waited behind it (the connection is gone: the outbox too)."""
        self._resend = None
        self.behind_resend.clear()
        self.queue = self.outbox

    @property
    def resending(self) -> bool:
        """Return True while a ResendRequest of the venue is answered a slice at a time."""
        return self._resend is not None
