"""``FixVenue``: the gateway's venue adapter for one FIX session.

Outgoing: ``send_new`` / ``send_cancel`` / ``send_replace`` encode from the dialect's
precompiled templates, write the message through the store (persisted before any byte
can reach the socket) and queue it; ``flush`` writes the queue.

Incoming: ExecutionReport (8), OrderCancelReject (9), BusinessMessageReject (j) and
session Rejects of our orders become the normalised ``VenueEvent``s with ``venue_seq``
= the message's MsgSeqNum; events the adapter synthesises (an order gap-filled instead
of replayed) carry ``venue_seq`` 0. A request refused before it is stored (strict validation,
a store that cannot be written) is a ``Refused`` returned by ``send_*``, never an event. The store
learns that a message was processed only in ``flush``, which the core calls after its
journal holds the message's event: never before (a crash in between would skip the
message after a restart), possibly after (``resume_after`` covers that). Each business
message is admitted by the core's exactly-once component before it is acted on; a store
reset starts a new numbering epoch there (its name: the store's creation time).

ClOrdIDs: ``<prefix><day><order_id>`` for a new order and ``<prefix><day><order_id>-<start>.<n>``
for each cancel/replace (``venues.fix.clordid``), so every ClOrdID is unique across days, restarts
and numbering resets, and names its order without a lookup table that would have to survive a
restart. The adapter remembers, per open order, the ClOrdID the venue currently knows it by
(OrigClOrdID of the next cancel/replace) and the one in flight.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final

from model.clock import NowNs
from model.enums import OrderType, RejectSource
from model.exactly_once import RequestKind, ResumePoint, UnansweredRequest
from model.operator_text import clip
from model.order import Order, OrderState
from model.send_result import BACKPRESSURED, Refused, SendResult, Sent, Verdict
from model.venue_events import (
    EVENT_MAX_PRICE,
    EVENT_MAX_QTY,
    EVENT_MAX_TEXT,
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
    id_text,
)
from obs.ratelog import IntervalLog
from venues.base import VenueAdapter, encode_failed
from venues.fix import fields as f
from venues.fix.clordid import DAY_LEN, SUFFIX_ROOM, FixStateError, base36, day_code, next_start, session_day
from venues.fix.codec import FixMessage, FrameDecoder, parse_price, parse_qty, small_number
from venues.fix.dialect import Dialect
from venues.fix.fields import ExecType, MsgType, SessionRejectReason
from venues.fix.orders import REFUSED_KEPT
from venues.fix.orders import Probe as _Probe
from venues.fix.orders import Tracked as _Tracked
from venues.fix.session import FixSession, FixSessionState, ReconnectBackoff, SessionConfig
from venues.fix.session.session import wall_text
from venues.fix.session.state import LOGGED_ON_STATES
from venues.fix.store.base import MessageStore, Withdrawn
from venues.fix.store.journal_id import journal_identity, same_journal
from venues.fix.templates import OrderTemplates

log = logging.getLogger(__name__)

_TERMINAL_ORD_STATUS: Final = frozenset({b"2", b"3", b"4", b"8", b"C"})
_SELL_SIDES: Final = frozenset({b"2", b"5", b"6"})
"""Sell, Sell short, Sell short exempt: a venue may echo plain Sell for a short sale, so these match each other."""
_FILL_TYPES: Final = frozenset({ExecType.TRADE, ExecType.PARTIAL_FILL, ExecType.FILL})
_LIVE_TYPES: Final = frozenset({ExecType.NEW, ExecType.REPLACED, ExecType.RESTATED})
"""ExecTypes that show the order working at the venue (unless its OrdStatus ends it or LeavesQty is 0)."""
_CANCEL_TYPES: Final = {
    ExecType.CANCELED: "CANCELED",
    ExecType.EXPIRED: "EXPIRED",
    ExecType.DONE_FOR_DAY: "DONE_FOR_DAY",
}
_ORD_REJ_REASONS: Final = {
    b"0": "BROKER_OPTION",
    b"1": "UNKNOWN_SYMBOL",
    b"2": "EXCHANGE_CLOSED",
    b"3": "ORDER_EXCEEDS_LIMIT",
    b"4": "TOO_LATE_TO_ENTER",
    b"5": "UNKNOWN_ORDER",
    b"6": "DUPLICATE_ORDER",
    b"8": "STALE_ORDER",
    b"11": "UNSUPPORTED_ORDER_CHARACTERISTIC",
    b"13": "INCORRECT_QUANTITY",
    b"99": "OTHER",
}
_CXL_REJ_REASONS: Final = {
    b"0": "TOO_LATE_TO_CANCEL",
    b"1": "UNKNOWN_ORDER",
    b"2": "BROKER_OPTION",
    b"3": "ALREADY_PENDING",
    b"6": "DUPLICATE_CLORDID",
    b"99": "OTHER",
}
_STATE_MAP: Final = {
    FixSessionState.DISCONNECTED: VenueState.DISCONNECTED,
    FixSessionState.LOGON_SENT: VenueState.LOGGING_IN,
    FixSessionState.AWAITING_LOGON: VenueState.LOGGING_IN,
    FixSessionState.RESYNCING: VenueState.LOGGING_IN,
    FixSessionState.ACTIVE: VenueState.UP,
    FixSessionState.LOGOUT_SENT: VenueState.DISCONNECTED,
    FixSessionState.ENDED: VenueState.ENDED,
    FixSessionState.LOGIN_REFUSED: VenueState.LOGIN_REFUSED,
}
_REPLACING: Final = frozenset({OrderState.PENDING_REPLACE, OrderState.PENDING_REPLACE_HELD_CANCEL})
_NEW_UNANSWERED: Final = frozenset(
    {OrderState.CREATED, OrderState.PENDING_NEW, OrderState.PENDING_NEW_CANCEL, OrderState.PENDING_NEW_HELD_CANCEL}
)
"""States in which no venue message has answered an order's NewOrderSingle (CREATED: sent, not yet marked)."""
_CANCELING: Final = frozenset({OrderState.PENDING_CANCEL, OrderState.PENDING_NEW_CANCEL})
_STATUS_CANCELED: Final = {b"4": "CANCELED", b"C": "EXPIRED", b"3": "DONE_FOR_DAY"}
_STATUS_REQUEST_FIELD: Final = b"\x0135=H\x01"
"""An OrderStatusRequest's MsgType field as stored (what the store is searched for after a restart)."""
_SCAN_SLICE_BYTES: Final = 1 << 20
"""Bytes of the store searched for status questions per call after a restart (about 1 ms; ``_scan_slice``)."""
_CANCEL_REQUEST_FIELD: Final = b"\x0135=F\x01"
"""An OrderCancelRequest's MsgType field: an asking cancel (no OrderStatusRequest) searched for after a restart."""
_CL_ORD_ID_FIELD: Final = b"\x0111="
"""The start of a stored message's ClOrdID field (a cheap test before decoding it)."""
_ORIG_CL_ORD_ID_FIELD: Final = b"\x0141="
"""The start of a stored message's OrigClOrdID field (likewise)."""
_NOT_SENT_TEXT: Final = (
    "the venue does not know it: gap-filled instead of replayed on the venue's resend request, and the venue's "
    "answer about it says it never received it"
)
_HELD_AT_STOP_TEXT: Final = (
    "the gateway stopped while its journal could not be written: the request never left (its MsgSeqNum went to the "
    "venue as a SequenceReset-GapFill)"
)
_EARLIER_CANCEL_TEXT: Final = (
    "; it was this cancel sent again, an earlier one's outcome unknown: if that one reached the venue, the venue may "
    "still cancel the order (a Canceled then follows)"
)
_SESSION_ENDED_TEXT: Final = (
    "the FIX session ended (end of the session schedule) before the venue answered; its numbering restarts at the "
    "next start, so no answer from this session will come"
)
_LOWERED_WHY: Final = (
    "the operator lowered the MsgSeqNum expected from the venue (set-seq --allow-lower-target): messages of its old "
    "numbering may be lost"
)
_UNSUPPORTED_BY_VENUE: Final = frozenset({"BUSINESS_REJECT_3", "BUSINESS_REJECT_4"})
"""BusinessMessageReject reasons that mean "this message type is not taken here" (unsupported, app not available)."""
# Final aliases of what is used per message (see venues.fix.session.session)
_NewTracked: Final = _Tracked
_Sent: Final = Sent
_VenueAccepted: Final = VenueAccepted
_VenueExecuted: Final = VenueExecuted
_MARKET: Final = OrderType.MARKET
_STRICT_REFUSAL: Final = Refused("FIX_INVALID", "refused by strict validation; not sent", RejectSource.GATEWAY)
_TOO_MANY_REQUESTS: Final = Refused(
    "FIX_CL_ORD_ID",
    "too many cancel/replace requests of this order for the venue's ClOrdID length; not sent",
    RejectSource.GATEWAY,
)
"""Refusals before sending (strategy-protocol §8.2): source GATEWAY, nothing reached the venue."""
_BUSINESS_REJECT_UNSUPPORTED_TYPE: Final = 3
ENDED_KEPT: Final = 10_000
UNKNOWN_FILL_LINES: Final = 10
"""Fills for unknown ClOrdIDs logged in one second at most (each is an ERROR line; a flood is cut, and counted)."""
"""Orders the adapter keeps after their end (a reference each) to check a later fill's CumQty against."""
QUESTION_WAIT_NS: Final = 30_000_000_000
"""A status question unanswered this long is asked again, the wait doubling at each ask (30 s, 60 s, 120 s, ...)."""
QUESTION_ASKS: Final = 4
"""How many times a status question goes out before it is given up (counted ``questions_unanswered``, ERROR)."""
_QUESTION_CHECK_NS: Final = 1_000_000_000
"""How often ``poll`` looks at the questions out and those the store refused (clock ns)."""
_MAX_ORDER_DIGITS: Final = 18
"""Digits of an int64 order id: a longer number in a ClOrdID is not one of ours."""


def _decode_one(raw: bytes) -> FixMessage | None:
    """Decode one stored message (resend handling; not the hot path)."""
    decoded = FrameDecoder().feed(raw)
    return decoded[0] if decoded and isinstance(decoded[0], FixMessage) else None


_TRADE_CORRECTIONS: Final = frozenset({b"G", b"H"})
"""FIX 4.4 ExecType Trade Correct / Trade Cancel (4.2 says it with ExecTransType 2 / 1)."""
_DEFINED_EXEC_TYPES: Final = frozenset(bytes([c]) for c in b"0123456789ABCDEFGHIJKL")
_DEFINED_ORD_STATUS: Final = frozenset(bytes([c]) for c in b"0123456789ABCDE")
"""OrdStatus (39) values FIX 4.2 / 4.4 define: anything else (or none) in an ExecutionReport is refused (fixfix51)."""
"""ExecType (150) values FIX defines (4.2 to 5.0); those the adapter does not apply are ignored and counted."""
_MAX_QTY: Final = EVENT_MAX_QTY
"""The largest quantity the strategy protocol carries (docs/strategy-protocol.md, section 2)."""
_MAX_PRICE: Final = EVENT_MAX_PRICE
"""The largest price the strategy protocol carries, in ten-thousandths (section 2); none is negative."""


class _ValueIncorrectError(ValueError):
    """A well-formed value the message cannot carry (Reject reason 5, not 6)."""


def _is_utf8(value: bytes) -> bool:
    """Return whether ``value`` is UTF-8 (cold: a message refused)."""
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


def _qty(value: bytes) -> int:
    """Parse a venue's quantity; ``ValueError`` unless a whole number the strategy protocol can carry."""
    qty = parse_qty(value)
    if qty > _MAX_QTY:
        raise ValueError(f"quantity {value!r} is above {_MAX_QTY}")
    return qty


def _price(value: bytes) -> int:
    """Parse a venue's price; ``ValueError`` unless in the strategy protocol's range (0 to 2^53-1 ten-thousandths)."""
    price = parse_price(value)
    if not 0 <= price <= _MAX_PRICE:
        raise ValueError(f"price {value!r} is outside 0 to {_MAX_PRICE} ten-thousandths")
    return price


class _MissingTagError(ValueError):
    """A tag the message needs is absent (session Reject reason 1, not 6)."""


class _TagError(ValueError):
    """A venue message's tag is missing (``missing``) or unreadable; ``tag`` names it for the session Reject."""

    def __init__(self, tag: bytes, text: str, *, missing: bool = False) -> None:
        super().__init__(text)
        self.tag = tag
        self.missing = missing


def _fill_beyond(fields: dict[bytes, bytes], seq: int, order: Order) -> tuple[int, tuple[VenueEvent, ...]]:
    """Return a status answer's CumQty (the order's own when absent) and the fill past what the order executed.

    The fill, at AvgPx, is one ``VenueExecuted`` when CumQty is above ``order.cum_qty``, else none; while a
    replace is in flight it is marked ``replace_pending``, as a reported fill is (a replace raising the quantity
    keeps the order open when the fill reaches its current quantity).
    Raise ``_TagError`` naming CumQty or AvgPx when it is missing (AvgPx only when needed) or out of range.
    """
    tag = f.CUM_QTY
    try:
        cum = _qty(fields[tag]) if tag in fields else order.cum_qty
        if cum <= order.cum_qty:
            return cum, ()
        tag = f.AVG_PX
        price = _price(fields[tag])
        replacing = order.state in _REPLACING
        return cum, (VenueExecuted(seq, order.order_id, cum - order.cum_qty, price, "", "", replacing),)
    except KeyError:
        raise _TagError(tag, f"required tag {tag.decode()} missing", missing=True) from None
    except ValueError as exc:
        raise _TagError(tag, str(exc)) from None


def _replace_taken(
    fields: dict[bytes, bytes], seq: int, order: Order, leaves: int, price: int, venue_order_id: str, *, filled: bool
) -> tuple[VenueEvent, ...]:
    """Return the events of a replace the venue took: the fill its CumQty shows beyond the order's count, and it.

    Executions up to the order's current quantity may have come before the replace took: the fill first (marked
    ``replace_pending``: a replace raising the quantity keeps the order open), then the ``VenueReplaced``.
    Executions beyond it can only have come under the new terms: the replace first, leaving open what the report
    leaves plus that fill, then the fill. Raise ``_TagError`` as ``_fill_beyond`` does.
    """
    order_id = order.order_id
    cum, fill = _fill_beyond(fields, seq, order)
    if not fill:
        return (VenueReplaced(seq, order_id, leaves, price, venue_order_id, "", "", filled),)
    executed = fill[0]
    assert isinstance(executed, VenueExecuted)
    if cum <= order.qty:
        return (executed, VenueReplaced(seq, order_id, leaves, price, venue_order_id, "", "", filled))
    after = VenueExecuted(seq, order_id, executed.qty, executed.price, "", "")
    return (VenueReplaced(seq, order_id, max(leaves, 0) + executed.qty, price, venue_order_id), after)


def _salvage(raw: bytes) -> FixMessage | None:
    """Read the fields of a stored message that does not decode (a damaged store record), leniently.

    Only to learn which request it was (MsgType, ClOrdID) when it is gap-filled on a resend: a field
    that is not ``<digits>=<value>`` is skipped; no MsgType, nothing.
    """
    fields: dict[bytes, bytes] = {}
    for field in raw.split(b"\x01"):
        tag, sep, value = field.partition(b"=")
        if sep and tag.isdigit():
            fields[tag] = value
    msg_type = fields.get(f.MSG_TYPE, b"")
    if not msg_type:
        return None
    seq = fields.get(f.MSG_SEQ_NUM, b"")
    return FixMessage(raw, fields, msg_type, int(seq) if seq.isdigit() else 0)


def _no_events(event: VenueEvent) -> None:
    log.error("FIX venue has no event sink attached; dropped %r", event)


def _no_states(name: str, state: VenueState, reason: str) -> None:
    log.info("venue %s: %s (%s)", name, state, reason)


def _reason_code(prefix: str, reason: bytes) -> str:
    """Return the code of a venue's session or business reject: ``prefix`` and its reason number, ``?`` for none or
    one that is not 1 to 16 digits (FIX's reasons are numbers; a code has at most 32 bytes, docs/strategy-protocol.md
    section 5: before texts56 a 60,000-digit reason made a 60,016-character code, a strategy frame above 65,536
    bytes and a metric label as long)."""
    return prefix + (reason.decode() if 0 < len(reason) <= 16 and reason.isdigit() else "?")


class FixVenue(VenueAdapter):
    """One FIX session as a gateway venue."""

    def __init__(
        self,
        name: str,
        dialect: Dialect,
        session_config: SessionConfig,
        store: MessageStore,
        clock: NowNs,
        *,
        wall_offset_ns: int = 0,
        backoff: ReconnectBackoff | None = None,
        strict: bool = False,
        validator: Callable[[bytes], str | None] | None = None,
        starts_file: Path | None = None,
    ) -> None:
        """``starts_file``: where this venue's starts in the session day are counted (``venues.fix.clordid``);
        None counts them in memory only (tests: a restart then starts from 1 again)."""
        self.name = name
        self.dialect = dialect
        self.clock = clock
        self._backpressured = False
        self.event_sink = _no_events
        self.state_sink = _no_states
        self.backoff = backoff or ReconnectBackoff()
        self.session = FixSession(session_config, store, self, wall_offset_ns=wall_offset_ns)
        self.session.wake = self._resend_left  # the rest of a ResendRequest's answer: polled at the next turn
        self.templates = OrderTemplates(
            dialect, session_config.sender_comp_id.decode(), session_config.target_comp_id.decode()
        )
        self._prefix = dialect.orders.cl_ord_id_prefix.encode()
        self._prefix_len = len(self._prefix)
        self._wall_offset_ns = wall_offset_ns
        self._starts_file = starts_file
        self._day = session_day(session_config.schedule, clock() + wall_offset_ns)
        self._day_code = day_code(self._day)
        self._base = self._prefix + self._day_code
        """``<prefix><day>``: what today's ClOrdIDs start with."""
        self._start = next_start(starts_file, self._day) if starts_file is not None else 1
        self._suffix = b"-%s." % base36(self._start).encode()
        self._orders: dict[int, _Tracked] = {}
        self._ended: dict[int, Order] = {}
        """The last ``ENDED_KEPT`` orders no longer tracked, oldest first: a fill reported for one after its end
        is checked against its CumQty as a tracked order's is (``_forgotten_fill``)."""
        self._probes: dict[int, _Probe] = {}
        """order_id -> the question out to the venue about one of its requests whose outcome is unknown."""
        self._unasked: dict[int, _Probe] = {}
        """order_id -> a question (about CANCEL: a cancel sent again) the store refused: sent again by ``poll``
        within a second while the session is up, and after the next replay."""
        self._questions_due = 0
        """When ``poll`` next looks at the questions out and those not sent (clock ns)."""
        self._held_since_ns = 0
        """When the engine last began holding this venue's bytes (``hold_output``)."""
        self.question_wait_ns = QUESTION_WAIT_NS
        """How long a status question waits for its answer before it is asked again (doubling at each ask)."""
        self._first_connection = True
        """No connection made yet by this process: the status questions still out are taken back from the store."""
        self._asked_before_start: dict[int, _Probe] = {}
        """order_id -> a status question taken back from the store, asked again at the first ``after_replay``."""
        self._asked_before_connection: dict[int, _Probe] = {}
        """The questions out when the connection was made: those asked since went under the venue's numbering of now
        (a gap fill at the logon asks before ``after_replay``), not in doubt after a lowered expected number."""
        self._queued: tuple[int, int, bytes, bool, bytes, bool] | None = None
        """The business message ``send_*`` stored last: (order id, MsgSeqNum, the message, queued on the wire, the
        order's pending ClOrdID before it, the order tracked before it), for ``withdraw_*`` (fault51)."""
        self._queued_now = False
        """``send_app``'s answer for the last business message stored (True: queued on the wire)."""
        self._store_failing = False
        """The last business message write failed: ``store_failures`` counts the episode once, until one succeeds."""
        self._replaces_held: dict[int, bytes] = {}
        """order_id -> the ClOrdID of a replace put in doubt while another question about the order was out: asked
        about once that question is settled (``_ask_held``), unless the venue's report settled it meanwhile."""
        self._resync_after: set[int] = set()
        """order_ids whose request in flight was asked about after a gap fill: once that question is settled the
        order is asked about by the ClOrdID it is known by (a fill on it may have been gap-filled as well)."""
        self._cum_below_logged: set[int] = set()
        """order_ids whose status answer said a CumQty below the gateway's count (logged once per order)."""
        self._scan_cursor = -1
        """Where the search of the store for status questions goes on (``find_sent``); -1: no search under way."""
        self._scan_last = 0
        """The last MsgSeqNum stored when the search started (later ones are this process's own questions)."""
        self._scan_refs: dict[bytes, _Tracked] = {}
        """ClOrdID -> open order, for the search under way."""
        self._scan_found: list[bytes] = []
        """Status questions about those ClOrdIDs found so far (decoded when the search ends)."""
        self._asking_refs: dict[int, list[bytes]] = {}
        """order_id -> the ClOrdIDs of every asking cancel sent for the order (kept until it is forgotten): a
        refusal naming one whose question another answer already settled is not the strategy's cancel's."""
        self._numbering_reset = False
        """The venue's numbering restarted since the session was last up: it will never ask for older messages."""
        self._cancels_again: dict[int, bytes] = {}
        """order_id -> the ClOrdID of the cancel last sent again for the order (``_cancel_again``: an earlier one's
        outcome unknown), for a stop during a journal hold (``_answer_held``); pruned to open orders at each
        connection."""
        self._venue_state = VenueState.DISCONNECTED
        self._state_reason = "not connected yet"
        self._close_pending_polls = 0
        self._no_reconnect = False
        self._logged_on_this_connection = False
        self._failed_logons = 0
        """Connections in a row that never got logged on (refused, timed out, dropped before the Logon)."""
        self._asking_after_skip = False
        """True while those open orders are asked about (the ERROR line names the operator, not the venue)."""
        self._rarelog = IntervalLog(log)
        self._fill_lines_at = 0
        """When the current second of ``_unknown_fill`` lines started (clock ns)."""
        self._fill_lines = 0
        """Lines ``_unknown_fill`` logged in that second."""
        self._fill_lines_skipped = 0
        """Fills ``_unknown_fill`` did not log (beyond ``UNKNOWN_FILL_LINES`` in a second), said in its next line."""
        liquidity_tag = dialect.executions.liquidity_tag
        self._liquidity_tag = str(liquidity_tag).encode() if liquidity_tag else b""
        self._liquidity = {k.encode(): v for k, v in dialect.executions.liquidity_values.items()}
        self._required_tags = tuple(str(t).encode() for t in dialect.executions.required_tags)
        if validator is None and strict:
            from venues.fix.dictionary import FixValidator  # noqa: PLC0415  (needs quickfix)

            validator = FixValidator.for_dialect(dialect).check
        self._validator = validator
        self.counters: dict[str, int] = {
            "orders_sent": 0,
            "cancels_sent": 0,
            "replaces_sent": 0,
            "events": 0,
            "unknown_cl_ord_id": 0,
            "unparseable": 0,
            "ignored_exec_reports": 0,
            "fills_partly_counted": 0,
            "fills_from_cum_qty": 0,
            "fills_unknown": 0,
            "unknown_executions": 0,
            "fills_after_end": 0,
            "mismatched_reports": 0,
            "orders_unchecked_after_reset": 0,
            "gap_fills_with_open_orders": 0,
            "orders_unchecked_after_gap_fill": 0,
            "missing_required_tags": 0,
            "unsupported_msg_types": 0,
            "not_replayed": 0,
            "outcome_unknown": 0,
            "status_requests_sent": 0,
            "cancels_asking": 0,
            "questions_asked_again": 0,
            "questions_unanswered": 0,
            "cancels_resent": 0,
            "not_sent": 0,
            "replaces_maybe_taken": 0,
            "strict_failures": 0,
            "restatements_not_applied": 0,
            "status_disagreements": 0,
            "store_failures": 0,
            "live_after_end": 0,
            "replaced_after_reject": 0,
            "internal_errors": 0,
        }
        self._late_cancels: dict[bytes, bytes] = {}
        """ClOrdID under which the venue showed live an order that ended here -> the ClOrdID of the cancel sent
        for it (``_live_after_end``), until the venue answers that cancel (at most ``ENDED_KEPT``)."""
        self._tail_may_be_lost = False
        """The journal was not closed cleanly under ``fsync: interval`` or ``none`` (``journal_opened``): a power
        failure may have cut records of venue messages the store had already recorded as processed, so
        ``resume_after`` expects the venue's messages from the journal's last on (fixjournal59)."""
        self._received_before: tuple[str, int, int] = ("", 0, 0)
        """(numbering, first, end) of the venue's numbers ``resume_after`` asked for again: received and processed
        here before the stop (the store had recorded them), so a gap fill over them hides nothing never seen: the
        venue resends its business messages and gap-fills its admin ones (``on_gap_filled``, fixjournal59b). Kept in
        the store too (``MessageStore.asked_again``, fixhw60): a start stopped again before its Logon leaves the next
        start knowing them."""
        self._journal_id = ""
        """The identity of the journal this start runs on (``journal_opened``): path, device and inode."""
        self._resume_pending = False
        """``journal_opened`` came and ``resume_after`` not (the journal names nothing of this venue): the first
        connection looks whether the journal may have lost the first messages of the store's numbering."""

    # ---- VenueAdapter: orders ------------------------------------------------------------------

    @property
    def state(self) -> VenueState:
        return self._venue_state

    @property
    def resumes_after_end(self) -> bool:
        """Return True with a schedule: ENDED lasts until the next window opens, then the session logs on again."""
        return self.session.config.schedule is not None

    def check_order(self, order: Order) -> Verdict:
        if self._backpressured:
            return BACKPRESSURED
        tpl = self.templates
        if order.tif not in tpl.tif:
            return Refused("TIF_NOT_SUPPORTED", f"{self.name} does not take TIF {order.tif.name}")
        if order.ord_type not in tpl.ord_types:
            return Refused("ORDER_TYPE_NOT_SUPPORTED", f"{self.name} does not take {order.ord_type.name} orders")
        if order.side not in tpl.sides:
            return Refused("SIDE_NOT_SUPPORTED", f"{self.name} does not take side {order.side.name}")
        if order.ord_type is OrderType.LIMIT and order.price <= 0:
            return Refused("BAD_PRICE", "a limit order needs a positive price")
        if order.qty <= 0:
            return Refused("BAD_QTY", "quantity must be positive")
        symbol = order.symbol
        if not symbol or len(symbol) > self.dialect.orders.symbol_max_length or not _printable(symbol):
            return Refused(
                "BAD_SYMBOL",
                f"symbol must be 1..{self.dialect.orders.symbol_max_length} printable ASCII characters",
            )
        if tpl.account_field(order.account) is None or not _printable(order.account):
            return Refused("ACCOUNT_NOT_MAPPED", f"account {order.account!r} has no {self.name} account")
        longest = len(self._base) + len(str(order.order_id)) + SUFFIX_ROOM
        if order.order_id < 0 or longest > self.dialect.orders.cl_ord_id_max_length:
            return Refused("ORDER_ID_TOO_LONG", "order id does not fit the venue's ClOrdID length")
        for _, source in self.dialect.orders.order_fields.items():
            value = str(getattr(order, source.value))
            if not value or not _printable(value):
                return Refused("BAD_FIELD", f"{source.value} {value!r} cannot be sent in a FIX field")
        if self._validator is not None:
            probe = tpl.new_order(1, self.session.sending_time(self.clock()), self._new_ref(order), order)
            problem = self._validator(probe)
            if problem is not None:
                return Refused("FIX_INVALID", f"the order would not be valid FIX: {problem}")
        return None

    def _new_ref(self, order: Order) -> bytes:
        """Return the ClOrdID of the order's new order (the journaled one, else today's)."""
        ref = order.venue_ref
        return ref.encode() if ref else self._base + b"%d" % order.order_id

    def _next_ref(self, tracked: _Tracked) -> bytes:
        """Return the ClOrdID of the order's next cancel/replace: ``<prefix><day><order id>-<start>.<n>``.

        The caller counts it (``tracked.requests``) once the message is stored: a refused one uses no number.
        """
        n = base36(tracked.requests + 1).encode()
        return b"%b%d%b%b" % (self._base, tracked.order.order_id, self._suffix, n)

    def _check_day(self, now: int) -> None:
        """Follow the session day (before each connection): a new day gets its own code and start number."""
        day = session_day(self.session.config.schedule, now + self._wall_offset_ns)
        if day == self._day:
            return
        start = 1
        if self._starts_file is not None:
            try:
                start = next_start(self._starts_file, day)
            except FixStateError as exc:  # counted in memory: unique unless this process dies today
                log.error("FIX %s: %s; this process counts the day's start as 1", self.name, exc)
        log.info("FIX %s: session day %s -> %s: ClOrdIDs carry the new day", self.name, self._day, day)
        self._day = day
        self._day_code = day_code(day)
        self._base = self._prefix + self._day_code
        self._start = start
        self._suffix = b"-%s." % base36(start).encode()

    def send_new(self, order: Order) -> SendResult:
        if self._backpressured:
            return BACKPRESSURED
        now = self.clock()
        session = self.session
        seq = session.next_sender_seq
        ref = self._base + b"%d" % order.order_id
        try:  # free until raised: a fault here answers this order (``_not_sent``), never the connection
            raw = self.templates.new_order(seq, session.sending_time(now), ref, order)
        except Exception as exc:  # nothing stored or queued yet: MsgSeqNum ``seq`` is still the next one
            return self._not_sent(order, "new order", ref, exc)
        refused = self._store(seq, raw, now, order)
        if refused is not None:
            return refused
        self._orders[order.order_id] = _NewTracked(order, ref, b"")
        self._queued = (order.order_id, seq, raw, self._queued_now, b"", False)
        self.counters["orders_sent"] += 1
        return _Sent(ref.decode())

    def send_cancel(self, order: Order) -> Sent | Refused:
        now = self.clock()
        session = self.session
        known = order.order_id in self._orders
        tracked = self._tracked(order)
        seq = session.next_sender_seq
        ref = self._next_ref(tracked)
        if len(ref) > self.dialect.orders.cl_ord_id_max_length:
            return _TOO_MANY_REQUESTS
        try:  # a fault here answers this cancel (``_not_sent``), never the connection
            raw = self.templates.cancel(seq, session.sending_time(now), tracked.working, ref, order)
        except Exception as exc:
            return self._not_sent(order, "cancel", ref, exc, known=known)
        refused = self._store(seq, raw, now, order)
        if refused is not None:
            return refused
        self._queued = (order.order_id, seq, raw, self._queued_now, tracked.pending, known)
        tracked.pending = ref
        tracked.requests += 1
        self.counters["cancels_sent"] += 1
        return Sent(ref.decode())

    def send_replace(self, order: Order, qty: int, price: int) -> SendResult:
        if self._backpressured:
            return BACKPRESSURED
        now = self.clock()
        session = self.session
        known = order.order_id in self._orders
        tracked = self._tracked(order)
        seq = session.next_sender_seq
        ref = self._next_ref(tracked)
        if len(ref) > self.dialect.orders.cl_ord_id_max_length:
            return _TOO_MANY_REQUESTS
        try:  # a fault here answers this replace (``_not_sent``), never the connection
            raw = self.templates.replace(
                seq, session.sending_time(now), tracked.working, ref, order, qty=qty, price=price
            )
        except Exception as exc:
            return self._not_sent(order, "replace", ref, exc, known=known)
        refused = self._store(seq, raw, now, order)
        if refused is not None:
            return refused
        self._queued = (order.order_id, seq, raw, self._queued_now, tracked.pending, known)
        tracked.pending = ref
        tracked.requests += 1
        self.counters["replaces_sent"] += 1
        return Sent(ref.decode())

    def _not_sent(self, order: Order, what: str, ref: bytes, exc: Exception, *, known: bool = True) -> Refused:
        """Refuse the request ``what`` of ``order`` whose encoding raised; return its refusal (net49).

        The templates return the whole message or raise, and nothing is stored or queued before they return: the
        MsgSeqNum was not taken (the next message carries it, the venue sees no gap), the send buffer and the
        store are as they were, the order's tracking unchanged (one made for this request, ``known`` False, is
        dropped). The fault is logged at ERROR with its traceback and counted (``internal_errors``); the strategy
        gets the one answer ``FIX_INTERNAL_ERROR`` (an OrderRejected, or a CancelRejected for a cancel or replace).
        """
        self.counters["internal_errors"] += 1
        if not known:
            self._orders.pop(order.order_id, None)
        text = encode_failed(log, self.name, what, order.order_id, f"ClOrdID {ref.decode(errors='replace')}", exc)
        return Refused("FIX_INTERNAL_ERROR", text, RejectSource.GATEWAY)

    def _take_back(self, order: Order, what: str) -> tuple[int, int, bytes, bool, bytes, bool] | None:
        """Keep the message ``send_*`` stored last for ``order`` off the wire (the core could not journal it).

        Journal before wire (fault51). Its MsgSeqNum is taken and the message stored, so it cannot simply be
        dropped: queued on the wire, its bytes (the last ones queued, ``session.queue``: nothing is queued between the
        send and the core's journal record) are replaced by a SequenceReset-GapFill of that one number (PossDupFlag
        Y, as in a replay), so the venue sees the number used and nothing else; not queued (the session not
        logged on), it waits in the store, and a resend request gap-fills it (``may_replay``: the adapter no
        longer tracks it as unanswered). None, nothing changed, if the message is not where it must be.
        """
        queued = self._queued
        if queued is None or queued[0] != order.order_id:
            return None
        _, seq, raw, on_wire, _, _ = queued
        session = self.session
        if on_wire:
            outbox = session.queue  # the outbox, or what waits behind an answer to a ResendRequest
            if not outbox.endswith(raw):
                return None
            del outbox[len(outbox) - len(raw) :]
            outbox += session.admin.gap_fill(seq, session.sending_time(self.clock()), seq + 1)
        self._queued = None
        log.error(
            "FIX %s: %s of order %d (MsgSeqNum %d) taken back before it was sent (%s): the gateway could not "
            "journal it",
            self.name,
            what,
            order.order_id,
            seq,
            "a SequenceReset-GapFill goes out in its place" if on_wire else "not logged on: gap-filled if asked for",
        )
        return queued

    def withdraw_new(self, order: Order) -> bool:
        """Take back the NewOrderSingle ``send_new`` just stored for ``order`` (``_take_back``); untracked."""
        tracked = self._orders.get(order.order_id)
        if tracked is None or tracked.order is not order or self._take_back(order, "new order") is None:
            return False
        del self._orders[order.order_id]
        self.counters["orders_sent"] -= 1
        return True

    def withdraw_cancel(self, order: Order) -> bool:
        """Take back the OrderCancelRequest ``send_cancel`` just stored for ``order``: the order as before it."""
        return self._withdraw_request(order, "cancel", "cancels_sent")

    def withdraw_replace(self, order: Order) -> bool:
        """Take back the OrderCancelReplaceRequest ``send_replace`` just stored for ``order``: as before it."""
        return self._withdraw_request(order, "replace", "replaces_sent")

    def _withdraw_request(self, order: Order, what: str, counter: str) -> bool:
        tracked = self._orders.get(order.order_id)
        if tracked is None or tracked.order is not order:
            return False
        queued = self._take_back(order, what)
        if queued is None:
            return False
        tracked.pending = queued[4]  # its ClOrdID number stays used (skipped: the venue never saw it)
        if not queued[5]:
            del self._orders[order.order_id]
        self.counters[counter] -= 1
        return True

    def _tracked(self, order: Order) -> _Tracked:
        tracked = self._orders.get(order.order_id)
        if tracked is None:
            tracked = self._orders[order.order_id] = _Tracked(order, self._new_ref(order), b"")
        return tracked

    def _store(self, seq: int, raw: bytes, now: int, order: Order) -> Refused | None:
        """Validate (strict mode) and persist message ``seq``, queueing it; on failure nothing changed."""
        validator = self._validator
        if validator is not None:
            problem = validator(raw)
            if problem is not None:
                self.counters["strict_failures"] += 1
                log.error("FIX %s: order %d not sent, strict validation failed: %s", self.name, order.order_id, problem)
                return _STRICT_REFUSAL
        try:
            self._queued_now = self.session.send_app(seq, raw, now)
        except OSError as exc:  # the store could not be written: the message was neither kept nor queued
            if not self._store_failing:  # one failure episode, however many writes (re-asks each second) it refuses
                self._store_failing = True
                self.counters["store_failures"] += 1
            self._rarelog.log(
                "store",
                now,
                logging.ERROR,
                "FIX %s: message store write failed, request refused FIX_STORE (the venue stays UP; every order for "
                "it is refused until a write succeeds): %s",
                self.name,
                exc,
            )
            return Refused("FIX_STORE", f"the FIX message store cannot be written: {exc}", RejectSource.GATEWAY)
        self._store_failing = False
        return None

    def forget(self, order: Order) -> None:
        """Drop what is kept about the order (terminal, released by the engine; usually gone already)."""
        self._forget(order.order_id)

    def restore(self, order: Order, venue_ref: str) -> None:
        """Re-learn ``venue_ref`` for ``order`` (call once per journaled ref, oldest first).

        The first ref of an order (its new order) becomes the ClOrdID the venue knows it
        by; a later ref becomes it too, unless the order is still PENDING_REPLACE, in
        which case the ref is the replace in flight. A cancel in flight (PENDING_CANCEL,
        PENDING_NEW_CANCEL) is the order's ``pending_ref``: the core restores only a
        replace's ref, so it is taken from the order, and a venue's resend request over
        it replays it or sends it again (``may_replay``, ``on_not_replayed``).
        """
        ref = venue_ref.encode()
        tracked = self._orders.get(order.order_id)
        if tracked is None:
            pending = order.pending_ref.encode() if order.state in _CANCELING else b""
            self._orders[order.order_id] = _Tracked(order, ref, pending)
            return
        tracked.order = order
        if order.state in _REPLACING:
            tracked.pending = ref
        else:
            tracked.working = ref
            tracked.pending = b""

    def journal_opened(self, journal: str, clean: bool, batch: bool, empty: bool) -> None:
        """Note whether the journal may have lost its tail (not closed cleanly, ``fsync`` not ``batch``), and tell the
        store which journal the gateway runs on (``MessageStore.running_on``: where a numbering begins, fixhw60)."""
        del empty
        self._tail_may_be_lost = not clean and not batch
        self._resume_pending = True
        try:  # path, inode and birth time: not the device number, which a reboot may change (fixid61)
            self._journal_id = journal_identity(journal)
        except OSError:
            self._journal_id = ""
        if not self._journal_id:
            return
        try:
            self.session.store.running_on(self._journal_id)
        except OSError as exc:
            log.warning(
                "FIX %s: cannot note in the message store that its numbering began with the journal %s (%s): after "
                "a power failure the journal's first messages of it are not asked for again",
                self.name,
                journal,
                exc.strerror or exc,
            )

    def resume_after(self, point: ResumePoint) -> None:
        """Before connecting after a restart: expect the first MsgSeqNum the journal does not hold.

        When ``point`` is about the store's numbering (or names none), the store is raised to
        ``point.high_water + 1`` if it lags the journal (it recorded messages as processed only
        after the core journaled them, but a power loss under ``fsync: none`` can still take
        its last records). A store ahead of the journal is kept after a clean stop, or under
        ``fsync: batch``: it can be ahead only by messages that produced no event (heartbeats,
        ignored reports). After any other stop (``journal_opened``) a power failure may have cut
        the journal's tail after the store recorded its messages (a Replaced, a fill), so the
        store is lowered to ``point.high_water + 1`` and the venue resends the rest (PossDupFlag
        Y): every message the journal lacks is applied once, an execution the journal holds is
        told by its ExecID (fixjournal59; before, those messages were never asked for again: a
        replace pending for good, a fill missing). Not below the end of a skip the operator made
        (``set-seq --next-target``) that is still to be asked about. When the journal holds no
        message of the store's numbering (``high_water`` 0, or ``point`` names an older numbering:
        the store was reset or re-created since), the venue is asked from the numbering's first
        number only if that numbering began on this very journal (``_resume_from_numbering_start``,
        fixhw60): a store kept across days would bring back other days' messages.
        """
        store = self.session.store
        epoch = self._epoch()
        self._resume_pending = False
        self._restore_asked_again(epoch)
        if point.epoch not in ("", epoch):
            self._resume_from_numbering_start()
            return
        self.sequence.adopt(ResumePoint(epoch, point.high_water))  # an unnamed numbering is the store's
        expected = point.next_seq
        held = store.next_target_seq
        if held < expected:
            log.info(
                "FIX %s: journal is ahead of the store; expecting MsgSeqNum %d (store said %d)",
                self.name,
                expected,
                held,
            )
            store.set_next_target_seq(expected)
            return
        if held == expected or not self._tail_may_be_lost:
            return
        if not point.high_water:
            self._resume_from_numbering_start()
            return
        skipped_end = store.skipped_by_operator[1]
        if skipped_end > expected:  # the operator skipped them: asked about at the logon, not asked for again
            expected = skipped_end
            if held <= expected:
                return
        log.warning(
            "FIX %s: the journal was not closed cleanly and holds the venue's messages up to MsgSeqNum %d, the "
            "message store had recorded them up to %d: expecting %d, so the venue resends %d..%d (a power failure "
            "may have cut their events from the journal's tail; each is applied once)",
            self.name,
            point.high_water,
            held - 1,
            expected,
            expected,
            held - 1,
        )
        self._resend_from(epoch, expected, held)

    def _resume_from_numbering_start(self) -> None:
        """After a stop that may have cut the journal's tail, with none of the store's numbering in the journal.

        The journal may have lost the numbering's first messages (the day's first Accepted and fill under ``fsync:
        interval``, or those after a schedule's daily reset): the venue resends them from the numbering's first
        number when the store says that numbering began on this journal (``MessageStore.numbering_begun``, fixhw60;
        before, never: an order PENDING_NEW for good, a fill missing from positions). This journal: the same path,
        inode and birth time (``same_journal``), not the device number a reboot may change (fixid61: before, the
        power failure's reboot made it "another journal"); not when the store recorded
        only the venue's Logon (number 1, no event). A numbering the store began
        under another journal (kept across days), or a store that does not say, keeps its number: asking from 1
        would bring back other days' messages (logged at WARNING).
        """
        store = self.session.store
        held = store.next_target_seq
        journal, first = store.numbering_begun
        # a numbering from 1 opens with the venue's Logon, which carries no event: nothing of it lost below 3
        if not self._tail_may_be_lost or held <= (2 if first <= 1 else first):
            return
        if not same_journal(journal, self._journal_id):
            log.warning(
                "FIX %s: the journal was not closed cleanly and holds none of the venue's messages of the message "
                "store's numbering (recorded up to MsgSeqNum %d), which began %s: not asked for again, as that would "
                "bring back other days' messages; after a mere process crash nothing was lost, after a power failure "
                "reconcile the open orders with the venue",
                self.name,
                held - 1,
                f"on another journal ({journal}; this one: {self._journal_id})"
                if journal
                else "before this journal or on an unknown one",
            )
            return
        expected = max(first, store.skipped_by_operator[1])
        if held <= expected:
            return
        log.warning(
            "FIX %s: the journal was not closed cleanly and holds none of the venue's messages of the message store's "
            "numbering, begun on this journal at MsgSeqNum %d; the store had recorded them up to %d: expecting %d, so "
            "the venue resends %d..%d (a power failure may have cut their events from the journal; each is applied "
            "once)",
            self.name,
            first,
            held - 1,
            expected,
            expected,
            held - 1,
        )
        self._resend_from(self._epoch(), expected, held)

    def _resend_from(self, epoch: str, expected: int, held: int) -> None:
        """Expect ``expected`` again: the venue resends ``expected..held-1``; the range is on file before the number."""
        store = self.session.store
        _, low, end = self._received_before
        if end:  # a range asked before and not yet answered: both
            expected_low, held_end = min(low, expected), max(end, held)
        else:
            expected_low, held_end = expected, held
        store.set_asked_again(expected_low, held_end)
        store.set_next_target_seq(expected)
        self._received_before = (epoch, expected_low, held_end)

    def _restore_asked_again(self, epoch: str) -> None:
        """Take the range an earlier start asked for again from the store, unless the venue answered for it since."""
        store = self.session.store
        low, end = store.asked_again
        if not end:
            return
        if store.next_target_seq >= end:  # received again up to its end: answered
            self._forget_asked_again()
            return
        self._received_before = (epoch, low, end)

    def _forget_asked_again(self) -> None:
        """The venue answered for the range asked again: forget it, on file too."""
        self._received_before = ("", 0, 0)
        store = self.session.store
        if not store.asked_again[1]:
            return
        try:
            store.set_asked_again(0, 0)
        except OSError as exc:  # kept on file: the next start finds it answered (its end passed) and forgets it
            log.warning("FIX %s: cannot clear the range asked again in the message store (%s)", self.name, exc)

    def order_id_floor(self) -> int:
        """Return the order id of the last NewOrderSingle in the store (0: none).

        The store takes a NewOrderSingle in ``send_new``, before the core's journal has the order; a
        crash in between leaves an order id the journal does not know. Order ids only grow, so the
        last NewOrderSingle stored holds the highest one (read backwards from the newest message).
        """
        store = self.session.store
        for seq in range(store.next_sender_seq - 1, 0, -1):
            for _, raw in store.get_sent(seq, seq):
                message = _decode_one(raw)
                if message is None or message.msg_type != MsgType.NEW_ORDER_SINGLE:
                    continue
                cl_ord_id = message.get(f.CL_ORD_ID)
                base_len = len(self._base)
                digits = cl_ord_id[base_len:]
                if cl_ord_id[:base_len] == self._base and digits.isdigit():  # today's (another day's never clash)
                    return int(digits)
        return 0

    def _epoch(self) -> str:
        """Return the name of the store's current numbering (its creation time, ns)."""
        return str(self.session.store.creation_time_ns)

    def logout(self, reason: str = "operator request", *, reconnect: bool = False) -> None:
        """Start a graceful logout (the connection closes when the venue answers).

        Unless ``reconnect``, ``reconnect_delay_ns`` then returns None so the connector stops;
        the core flushes afterwards as after any call.
        """
        self._no_reconnect = not reconnect
        self.session.logout(reason, self.clock())

    def shutdown(self) -> bool:
        """Send Logout (gateway stopping); True if logged on (the venue answers Logout, then the connection closes).

        While the engine holds this venue's bytes (``hold_output``: the journal cannot be written) the Logout leaves
        behind a SequenceReset-GapFill over the numbers the held messages took, never the held messages themselves,
        and the held requests are answered ``NOT_SENT`` (``_withdraw_held``, fixstop56; before, this flush wrote
        them: NewOrderSingles whose journal records were never written reached the venue ahead of the Logout). The
        incoming MsgSeqNum is not committed to the store then: the events of what the venue sent during the hold
        are not journaled, so the venue must resend it at the next logon.
        """
        session = self.session
        logged_on = session.logged_on
        session.end_resend("the gateway is stopping")  # what waited behind the answer is queued: withdrawn if held
        if self._output_held:
            self._withdraw_held()
            self.logout("gateway stopping")
            self._write_outbox()
            return logged_on
        self.logout("gateway stopping")
        self.flush()
        return logged_on

    def _withdraw_held(self) -> None:
        """Take what the engine holds for this venue off the wire at a stop (fixstop56); answer its requests.

        Every message the session queued since the last write (none has its journal record written: journal
        before wire) gives way to one SequenceReset-GapFill per run of their numbers (PossDupFlag Y, as in a
        replay), so the venue sees each number used and no gap before the Logout, and never the messages (a
        Logout already queued stays). What was queued in answer to the venue's ResendRequest (PossDupFlag Y:
        copies of messages sent earlier) is dropped: the venue still misses those numbers and asks for them again.
        The stored copies of the held messages stay in the store under their numbers (numbers are never reused):
        a later ResendRequest over them, during the logout or after a restart, gap-fills them (``may_replay``:
        their orders are no longer tracked as unanswered, or, after a restart the journal never had them, not
        known at all). Each held request still unanswered is answered now: a NewOrderSingle ``VenueRejected`` (the
        order forgotten), a cancel or replace ``VenueCancelRejected`` (the order stays as it was), code
        ``NOT_SENT``; those answers are journaled like any event once the journal can be written, or lost with the
        order's own record if it never is (the strategy then sends the request again after the restart, the
        request having no number at the gateway: docs/strategy-protocol.md 4.5). A question (OrderStatusRequest
        or asking cancel) held is asked again after the restart, as any question not answered.

        The journal may also take the order's record and not its answer (a write cut short at the exit): so before
        the gap fill is written the requests it answers are written to the message store, fdatasynced
        (``MessageStore.add_withdrawn``, fixstop56b), and the restarted gateway answers each one still unanswered
        ``NOT_SENT`` again before its first logon (``_answer_withdrawn``). A store that cannot take them (OSError)
        gets no gap fill either: the held messages are dropped unanswered, only the Logout leaves, and the venue
        asks for their numbers at the next logon (``_withdraw_unmarked``).
        """
        session = self.session
        out = session.outbox
        if not out:
            return
        decoder = FrameDecoder()
        messages = [m for m in decoder.feed(bytes(out)) if isinstance(m, FixMessage)]
        fresh = [m for m in messages if m.get(f.POSS_DUP_FLAG) != b"Y"]
        if not fresh:
            out.clear()
            return
        held = [(message, answer) for message in fresh if (answer := self._held_answer(message)) is not None]
        if held:
            try:
                session.store.add_withdrawn([answer[2] for _, answer in held])
            except OSError as exc:
                self._withdraw_unmarked(messages, fresh, exc)
                return
        out.clear()
        # gap fills queued (PossDupFlag Y): a message taken back (fault51), or the answer to a ResendRequest
        fills = {m.seq: m.get(f.NEW_SEQ_NO) for m in messages if m.msg_type == MsgType.SEQUENCE_RESET}
        ends = {end: seq for seq, end in fills.items()}
        stamp = session.sending_time(self.clock())
        start = fresh[0].seq
        below = ends.get(b"%d" % start)
        while below is not None and below < start:
            start = below  # one ends where these begin: what it covered, this covers as well
            below = ends.get(b"%d" % start)
        run_from, last = start, fresh[0].seq - 1
        withdrawn: list[FixMessage] = []
        for message in fresh:
            seq = message.seq
            if seq != last + 1 and fills.get(last + 1) != b"%d" % seq:
                # a number not queued (stored while not logged on): left out, the venue asks for it
                if run_from <= last:
                    out += session.admin.gap_fill(run_from, stamp, last + 1)
                run_from = seq
            if message.msg_type == MsgType.LOGOUT:  # already asked (it leaves, after the numbers before it)
                if run_from < seq:
                    out += session.admin.gap_fill(run_from, stamp, seq)
                out += message.raw
                run_from = seq + 1
            elif message.msg_type not in f.ADMIN_MSG_TYPES:
                withdrawn.append(message)
            last = seq
        if run_from <= last:
            out += session.admin.gap_fill(run_from, stamp, last + 1)
        answered = 0
        for message, (tracked, kind, mark) in held:
            if self._orders.get(tracked.order.order_id) is not tracked:
                continue  # its order ended with an earlier answer (its new order's): that answers this one too
            if self._unanswered(tracked, message.msg_type, message.get(f.CL_ORD_ID)) is kind:
                self._answer_not_sent(tracked, kind, mark.again)
                answered += 1
        log.warning(
            "FIX %s: stopping while the journal cannot be written: %d held message(s), MsgSeqNum %d..%d, replaced by "
            "a SequenceReset-GapFill (%d order message(s) never sent; %d request(s) answered NOT_SENT)",
            self.name,
            len(fresh),
            start,
            last,
            len(withdrawn),
            answered,
        )

    def _held_answer(self, message: FixMessage) -> tuple[_Tracked, RequestKind, Withdrawn] | None:
        """Return what answers the request of an order message withdrawn at a stop (None: nothing to answer).

        The order, what the message asked for, and the store's entry for it (``Withdrawn``): its ClOrdID, or for a
        cancel sent again (``_cancel_again``: an earlier one's outcome unknown, its ClOrdID the adapter's own) the
        cancel the journal holds (the order's ``pending_ref``), the one a restarted gateway has in flight.
        """
        cl_ord_id = message.get(f.CL_ORD_ID)
        tracked = self._lookup(cl_ord_id)
        if tracked is None:
            return None  # not an order's (a late cancel), or settled meanwhile
        msg_type = message.msg_type
        if self._is_question(tracked, msg_type, cl_ord_id):
            return None  # asked again after the restart, as any question unanswered
        kind = self._unanswered(tracked, msg_type, cl_ord_id)
        if kind is None:
            return None  # a request the venue answered meanwhile
        ref = cl_ord_id
        again = kind is RequestKind.CANCEL and self._cancels_again.get(tracked.order.order_id) == cl_ord_id
        if again and tracked.order.pending_ref:
            ref = tracked.order.pending_ref.encode()
        return tracked, kind, Withdrawn(message.seq, msg_type, ref, again)

    def _answer_not_sent(self, tracked: _Tracked, kind: RequestKind, again: bool) -> None:
        """Answer ``NOT_SENT`` the order's request ``kind`` withdrawn at a stop (``again``: a cancel sent again).

        The gateway's own answer (``withheld``): the strategy's reject has source GATEWAY (lows57; VENUE before).
        """
        order_id = tracked.order.order_id
        self.counters["not_sent"] += 1
        self._cancels_again.pop(order_id, None)
        if kind is RequestKind.NEW:
            self._emit(VenueRejected(0, order_id, "NOT_SENT", _HELD_AT_STOP_TEXT, withheld=True))
            self._forget(order_id)
            return
        tracked.pending = b""
        text = _HELD_AT_STOP_TEXT + _EARLIER_CANCEL_TEXT if again else _HELD_AT_STOP_TEXT
        self._emit(VenueCancelRejected(0, order_id, "NOT_SENT", text, withheld=True))

    def _withdraw_unmarked(self, messages: list[FixMessage], fresh: list[FixMessage], exc: OSError) -> None:
        """The store could not take the withdrawal (``_withdraw_held``): the held messages go, unanswered, no gap fill.

        Without the store's entry a restarted gateway could not tell a request gap-filled here from one the venue
        has, so their numbers are left as a gap instead: the venue asks for them (during the logout, or at the next
        logon after a restart) and the session's resend answers as for any message not sent: replayed while its
        request is unanswered and journaled (an outbox held as now is never written before the journal is), a gap
        fill otherwise. Only a Logout already queued stays; the answers the requests get are the venue's.
        """
        out = self.session.outbox
        out.clear()
        for message in messages:
            if message.msg_type == MsgType.LOGOUT:
                out += message.raw
        log.error(
            "FIX %s: stopping while the journal cannot be written, and the message store cannot be written either "
            "(%s): %d held message(s), MsgSeqNum %d..%d, dropped without a SequenceReset-GapFill (not answered "
            "NOT_SENT): the venue asks for them at the next logon, and each is replayed if its request is journaled "
            "and unanswered, gap-filled otherwise",
            self.name,
            exc,
            len(fresh),
            fresh[0].seq,
            fresh[-1].seq,
        )

    def _answer_withdrawn(self) -> None:
        """After a restart, before the first logon: answer ``NOT_SENT`` the requests a stop withdrew (fixstop56b).

        A stop during a journal hold sent a gap fill over their numbers and answered them ``NOT_SENT``
        (``_withdraw_held``), but the journal may have taken a request's record and not its answer (a write cut
        short at the exit): such an order came back pending, and no resend, answer or timeout would ever end it
        (the venue holds its number as a gap fill). The store's entries (``MessageStore.withdrawn``) name them:
        each request the journal still has unanswered gets the answer it got at the stop, the same text (the venue
        never had it); one answered since (the journal took the stop's answer) is left alone.
        """
        entries = self.session.store.withdrawn
        if not entries or not self._orders:
            return
        answered: list[int] = []
        for entry in entries:
            tracked = self._lookup(entry.ref)
            if tracked is None:
                continue
            kind = self._unanswered(tracked, entry.msg_type, entry.ref)
            if kind is None:
                continue
            answered.append(entry.seq)
            self._answer_not_sent(tracked, kind, entry.again)
        if answered:
            log.warning(
                "FIX %s: %d request(s) withdrawn at the last stop while the journal could not be written (MsgSeqNum "
                "%s, gap-filled then) came back unanswered (the journal took their records, not their answers): "
                "answered NOT_SENT now, before the logon (the venue never had them)",
                self.name,
                len(answered),
                ", ".join(str(seq) for seq in answered[:10]) + (", ..." if len(answered) > 10 else ""),
            )

    def shutdown_answered(self) -> bool:
        """Return True once the venue answered the Logout or the connection closed (no longer LOGOUT_SENT)."""
        return self.session.state is not FixSessionState.LOGOUT_SENT

    def close(self) -> None:
        """Close the message store (its last writes are synced under ``fsync: batch`` / ``interval``)."""
        self.session.store.close()

    # ---- VenueAdapter: transport hooks ----------------------------------------------------------

    def connection_made(self, now_ns: int) -> None:
        self._check_day(now_ns)
        if self._first_connection:
            self._first_connection = False
            if self._resume_pending:  # the journal names nothing of this venue: its first messages may be lost
                self._resume_pending = False
                self._restore_asked_again(self._epoch())
                self._resume_from_numbering_start()
            self._answer_withdrawn()  # before the logon and the questions: the venue never had them
            self._questions_from_store()
        self._close_pending_polls = 0
        self._no_reconnect = False
        self._logged_on_this_connection = False
        self._asked_before_connection = dict(self._probes) if self._probes else {}
        if self._cancels_again:
            orders = self._orders
            self._cancels_again = {k: ref for k, ref in self._cancels_again.items() if k in orders}
        self.session.connection_made(now_ns)
        self.sequence.new_epoch(self._epoch())  # no-op unless the numbering changed (e.g. a re-created store)
        self._write_outbox()

    def data_received(self, data: bytes, now_ns: int) -> None:
        self.session.data_received(data, now_ns)

    def connection_lost(self, now_ns: int) -> None:
        if not self._logged_on_this_connection and self.session.state is not FixSessionState.ENDED:
            self._failed_logons += 1
        self.session.connection_lost(now_ns)

    def poll(self, now_ns: int) -> int:
        if self.session.close_reason is not None:
            # The core normally flushes (and so closes) right after each call; if it did
            # not, close now rather than keep a dead session open.
            self._close_pending_polls += 1
            if self._close_pending_polls > 1:
                if self._output_held:  # the journal failing: its bytes never leave before their records (held54)
                    self.session.outbox.clear()  # as on any cut: the next logon's resend covers their numbers
                    if self._close is not None:
                        self._close()
                else:
                    self._write_outbox()
            return 50_000_000
        if self._scan_cursor >= 0:
            self._scan_slice()
        wait = self.session.poll(now_ns)
        if self._scan_cursor >= 0:
            wait = 0  # the next slice at the loop's next turn
        if (
            (self._unasked or self._probes)
            and now_ns >= self._questions_due
            and self.session.logged_on
            and not self._output_held  # held: nothing asked has left (``hold_output``)
        ):
            self._questions_due = now_ns + _QUESTION_CHECK_NS
            self._check_questions(now_ns)
        return wait

    def hold_output(self, held: bool) -> None:
        """The engine starts (True) or stops (False) holding this venue's bytes (held54, ``VenueAdapter.hold_output``).

        While held nothing is asked again and no question is given up (``poll``): a question that went out before
        the hold keeps its time, one asked during it (an OrderStatusRequest or asking cancel queued meanwhile, a
        login's questions) is timed from the release, when it leaves; so is a ResendRequest (the session's
        ``hold_output``).
        """
        now = self.clock()
        if held:
            self._held_since_ns = now
        else:
            since = self._held_since_ns
            for probe in self._probes.values():
                if probe.asked_ns >= since:
                    probe.asked_ns = now
        self.session.hold_output(held, now)
        self._output_held = held

    def set_write_paused(self, paused: bool) -> None:
        """As ``VenueAdapter.set_write_paused``; the session's answer to a ResendRequest waits while paused."""
        super().set_write_paused(paused)
        session = self.session
        session.write_paused = paused
        if not paused:
            session.wake_for_resend()

    def _resend_left(self) -> None:
        """The session's answer to a ResendRequest has slices left: ask the transport to poll at the next turn."""
        poll_soon = self.poll_soon
        if poll_soon is not None:
            poll_soon()

    def _check_questions(self, now: int) -> None:
        """Send the questions the store refused; ask again each status question unanswered too long.

        A status question is asked again after ``question_wait_ns`` (``QUESTION_WAIT_NS``), the wait doubling at
        each ask; after ``QUESTION_ASKS`` asks (an asking cancel, never sent again for a timeout, after as long) it
        is counted ``questions_unanswered`` and logged at ERROR once: it stays out (``questions_open``) for ops.
        """
        if self._unasked:
            self._ask_unasked("the message store refused the question earlier")
        for order_id, probe in list(self._probes.items()):
            asks = probe.asks
            if asks > QUESTION_ASKS:
                continue  # given up: counted and logged
            waited = now - probe.asked_ns
            by_status = probe.by_status
            wait = self.question_wait_ns
            if waited < (wait << (asks - 1) if by_status else wait * ((1 << QUESTION_ASKS) - 1)):
                continue
            tracked = self._orders.get(order_id)
            if tracked is None or tracked.order.is_terminal:
                continue
            if by_status and asks < QUESTION_ASKS:
                del self._probes[order_id]
                self.counters["questions_asked_again"] += 1
                self._ask(
                    tracked,
                    probe.about,
                    tracked.working if probe.resync else probe.ref,
                    cancel_too=probe.cancel_too,
                    by_status=True,
                    resync=probe.resync,
                    why=f"no answer {waited // 1_000_000_000} s after it was asked ({asks} time(s))",
                    asks=asks + 1,
                )
                continue
            probe.asks = QUESTION_ASKS + 1
            self.counters["questions_unanswered"] += 1
            log.error(
                "FIX %s: order %d: the venue has not answered the gateway's %s about %s %r (asked %d time(s), the "
                "last %d s ago): its outcome there is unknown; reconcile the order with the venue",
                self.name,
                order_id,
                "OrderStatusRequest" if by_status else f"asking cancel {probe.probe_ref.decode(errors='replace')}",
                "the order" if probe.resync else ("new order" if probe.about is RequestKind.NEW else "replace"),
                probe.ref.decode(errors="replace"),
                asks if by_status else 1,
                waited // 1_000_000_000,
            )

    def reconnect_delay_ns(self, attempt: int) -> int | None:
        """Return the wait before reconnect ``attempt``: the backoff, doubled for failed connects and logons.

        The connector counts failed TCP connects (``attempt``, 1 after any connection that was made);
        connections in a row that never got logged on (the venue refused or never answered the
        Logon) count as failed attempts too, so such a venue is not sent a Logon every
        ``initial_ms``. A logon that succeeds starts afresh. ``max_attempts`` counts both.
        """
        if self._no_reconnect:
            return None
        if self.session.state is FixSessionState.LOGIN_REFUSED:
            # only ``gateway venue reconnect`` ends it, or with a session schedule, its next start (fix53)
            wall = self.clock() + self.session.wall_offset_ns
            ends = self.session.refusal_ends_ns(wall)
            return None if ends is None else max(ends - wall, 0) + 1_000_000_000
        schedule = self.session.config.schedule
        if self._venue_state is VenueState.ENDED and schedule is not None:
            wall = self.clock() + self.session.wall_offset_ns
            return max(schedule.next_start(wall) - wall, 0) + 1_000_000_000
        return self.backoff.delay_ns(attempt + self._failed_logons)

    def flush(self) -> None:
        """Commit the incoming MsgSeqNum to the store, then write the outbox.

        The core calls this after its journal write, so the events of every message handled so
        far are journaled: only now may the store record those messages as processed.
        """
        self.session.commit_inbound()
        self._write_outbox()

    def _write_outbox(self) -> None:
        """Write the outbox (and close the connection if the session asked to)."""
        session = self.session
        out = session.outbox
        if out:
            if self._write is not None:
                self._write(bytes(out))
            out.clear()
        if session.close_reason is not None and self._close is not None:
            self._close()

    def status(self) -> dict[str, object]:
        session = self.session
        return {
            "name": self.name,
            "state": str(self._venue_state),
            "reason": self._state_reason,
            "protocol": "fix",
            "dialect": self.dialect.name,
            "session_state": str(session.state),
            "next_sender_seq": session.next_sender_seq,
            "next_target_seq": session.next_target_seq,
            "store_created_ns": session.store.creation_time_ns,
            "open_orders": len(self._orders),
            "questions_open": len(self._probes),
            "late_cancels_waiting": len(self._late_cancels),
            **self._login_refused_status(),
            **{f"session_{k}": v for k, v in session.counters.items()},
            **self.counters,
        }

    def session_counters(self) -> dict[str, int]:
        """The counters ``gateway metrics`` exports per venue: the adapter's, and the venue's Logons too low."""
        return {**super().session_counters(), "venue_logons_too_low": self.session.counters["venue_logons_too_low"]}

    def _login_refused_status(self) -> dict[str, object]:
        """The refused logon's detail for ``status`` while LOGIN_REFUSED (fixfix52); nothing otherwise."""
        session = self.session
        if session.state is not FixSessionState.LOGIN_REFUSED:
            return {}
        return {
            "last_login_refusal": session.refused_text,
            "login_refusals": 1,
            "login_refused_expected_seq": session.refused_expected,
            "login_refused_by": "gateway" if session.refused_venue_logon else "venue",
            "login_refused_logon_seq": session.refused_logon_seq,
            "login_refused_fix": self._refusal_fix(),
        }

    def _refusal_fix(self) -> str:
        """What the operator does about a Logon refused as numbered too low (the ERROR line and ``gateway status``)."""
        session = self.session
        if session.refused_venue_logon:
            fix = (
                f"ask the venue desk why its numbers went back, and have it send MsgSeqNum {session.refused_expected} "
                "next (or reset the session's numbers to 1 on both sides); if its numbering did restart, accept "
                f"it: `gateway venue set-seq {self.name} --next-target {session.refused_logon_seq} "
                "--allow-lower-target --reason ...` (its messages from there are taken as new ones; a fill it sends "
                f"again is recognised by its ExecID), then run `gateway venue reconnect {self.name}`; a venue that "
                "restarts its numbers at every Logon needs `reset_seq_num_on_logon: true` in the venue config"
            )
        else:
            ours = session.next_sender_seq
            expected = session.refused_expected
            theirs = expected if expected > ours else "N"
            fix = (
                f"ask the venue desk to expect MsgSeqNum {ours} from us (or to reset the session's numbers to 1 on "
                f"both sides), or set ours to the number the venue expects (`gateway venue set-seq {self.name} "
                f"--next-sender {theirs}`), then run `gateway venue reconnect {self.name}`"
            )
        wall = self.clock() + session.wall_offset_ns
        ends = session.refusal_ends_ns(wall)
        if ends is not None:
            fix += (
                f"; otherwise the session schedule ends the refusal at {wall_text(ends)} (a new session, both "
                "numbers reset, at its next start)"
            )
        return fix

    def set_sequence_numbers(self, next_sender: int, next_target: int, *, lower_target: bool = False) -> str:
        """Set the next MsgSeqNum we send and the one we expect (``gateway venue set-seq``, fix53); "" when done.

        Refused (the reason returned, nothing changed) while logged on, for a number below the current one, and
        when the next Logon is a new session day (``FixSession.set_numbers``). A raised expected number skips the
        venue's messages in between, never received here: at the next logon every open order is asked about, as
        after a gap fill over them (``on_gap_filled``). The skip is written to the message store with the number
        (``skipped_by_operator``), so a gateway restarted before that logon asks too (fixfix54). So is a raised
        next number of ours (``raised_by_operator``, fix55): the next logon asks about every request still
        unanswered (``after_replay``), after a restart too. ``lower_target`` (fixlogon56) lets the
        expected number go down when the venue's numbering restarted: its messages take a new exactly-once epoch
        (the store's new creation time, named to the core at the next connection), so they are not dropped as
        repeats of those numbered the same before.
        """
        return self.session.set_numbers(next_sender, next_target, self.clock(), lower_target=lower_target)

    def reconnect(self) -> bool:
        """Leave LOGIN_REFUSED (an operator's ``gateway venue reconnect``): the next connection logs on again."""
        if not self.session.reconnect():
            return False
        self._failed_logons = 0
        return True

    # ---- SessionHandler ----------------------------------------------------------------------------

    def on_state(self, state: FixSessionState, reason: str) -> None:
        if state in LOGGED_ON_STATES:
            self._logged_on_this_connection = True
            self._failed_logons = 0
            if self.session.store.skipped_by_operator[0]:
                self._ask_after_skip()
        venue_state = _STATE_MAP[state]
        self._state_reason = reason
        if state is FixSessionState.LOGIN_REFUSED:
            self._login_refused()
        if venue_state is not self._venue_state:
            self._venue_state = venue_state
            self.state_sink(self.name, venue_state, reason)
        elif venue_state is VenueState.UP and self._numbering_reset:
            # UP again after an in-session reset (the venue's Logon with ResetSeqNumFlag=Y): told again, so the
            # core calls ``after_replay`` (at every UP), which asks about what the venue will never resend
            self.state_sink(self.name, venue_state, reason)
            self._numbering_reset = False  # after_replay ran (the core calls it at once)

    def _ask_after_skip(self) -> None:
        """Logged on after ``gateway venue set-seq --next-target`` skipped the venue's messages: ask about the orders.

        The skip is read from the message store (fixfix54: a restart between the set-seq and this logon keeps it;
        before, it lived in this object only and a restarted gateway asked nothing, a fill among the skipped
        messages lost). Every open order is asked about as after a gap fill over them (``on_gap_filled``); then
        the skip is cleared in the store (the questions are stored already: a restart asks them again). A store
        that cannot be written keeps it: the next logon asks again, never less.
        """
        store = self.session.store
        first, end = store.skipped_by_operator
        self._asking_after_skip = True
        try:
            self.on_gap_filled(first, end, end - first)
        finally:
            self._asking_after_skip = False
        try:
            store.set_skipped_by_operator(0, 0)
        except OSError as exc:
            log.error(
                "FIX %s: the message store could not be written (%s): the open orders are asked about again at the "
                "next logon",
                self.name,
                exc,
            )

    def _login_refused(self) -> None:
        """Log the refused logon once, with the venue's words and the way out (fixfix52).

        Or the venue's Logon we refused as numbered too low (fixlogon56): both numbers and the way out.
        """
        session = self.session
        expected = session.refused_expected
        if session.refused_venue_logon:
            log.error(
                "FIX %s: LOGON REFUSED: the venue's Logon carried MsgSeqNum %d, below the %d we expect from it, "
                "without ResetSeqNumFlag: its numbers went back (a venue restarted without its message store, or "
                'failed over to a host that restarts them at every Logon). Logged out ("MsgSeqNum too low"); not '
                "reconnecting (the FIX session rules: manual intervention; retrying would log on unnoticed once the "
                "venue's numbers had crept back up, or never). To fix: %s",
                self.name,
                session.refused_logon_seq,
                expected,
                self._refusal_fix(),
            )
            return
        log.error(
            "FIX %s: LOGON REFUSED: the venue's Logout says our MsgSeqNum is too low: %r (%s; our Logon carried %d): "
            "not reconnecting (retrying cannot cure it: the venue counted messages of ours that our message store "
            "no longer holds: a store cut back or deleted, restored from a backup, or another gateway logged on with "
            "the same CompIDs). To fix: %s",
            self.name,
            session.refused_text,
            f"it expects {expected}" if expected else "it names no expected number",
            session.refused_logon_seq,
            self._refusal_fix(),
        )

    def on_numbering_reset(self, creation_time_ns: int) -> None:
        """The store restarted both numbers: a new exactly-once epoch, journaled by the core.

        The venue will never ask for a message of the old numbering again: requests still
        unanswered are asked about once the session is up (``after_replay``).
        """
        self._numbering_reset = True
        self.sequence.new_epoch(str(creation_time_ns))

    def on_app_message(self, message: FixMessage) -> None:
        if not self.admit(message.seq):
            return
        msg_type = message.msg_type
        if msg_type == MsgType.EXECUTION_REPORT:
            self._on_execution_report(message)
        elif msg_type == MsgType.ORDER_CANCEL_REJECT:
            self._on_cancel_reject(message)
        elif msg_type == MsgType.BUSINESS_MESSAGE_REJECT:
            self._on_business_reject(message)
        else:
            self.counters["unsupported_msg_types"] += 1
            self._rare("msgtype", "unsupported message type %r from the venue", msg_type)
            self.session.send_business_reject(
                message.seq,
                msg_type,
                reason=_BUSINESS_REJECT_UNSUPPORTED_TYPE,
                text="unsupported message type",
                now_ns=self.clock(),
            )

    def on_session_reject(self, message: FixMessage) -> None:
        if not self.admit(message.seq):
            return
        ref_seq = small_number(message.get(f.REF_SEQ_NUM))  # -1: not digits, or too many for int() (fixresend59b)
        if ref_seq < 0:
            return
        text = self._text(message.get(f.TEXT)) or "session-level reject"
        code = _reason_code("SESSION_REJECT_", message.get(f.SESSION_REJECT_REASON))
        self._reject_stored(ref_seq, message.seq, code, text)

    def may_replay(self, raw: bytes) -> bool:
        """Replay a stored order message only while its request is unanswered (or it is a question still open).

        A request the venue has answered needs no replay (a gap fill does it no harm), and a message
        for an order this process does not track is never replayed: after a crash it may be one the
        journal never had (stored, then killed before the journal write), which no strategy owns.
        """
        message = _decode_one(raw)
        if message is None:
            return False
        cl_ord_id = message.get(f.CL_ORD_ID)
        tracked = self._lookup(cl_ord_id)
        if tracked is None:
            return bool(self._late_cancels) and cl_ord_id in self._late_cancels.values()  # an unanswered late cancel
        msg_type = message.msg_type
        if self._is_question(tracked, msg_type, cl_ord_id):
            return True
        return self._unanswered(tracked, msg_type, cl_ord_id) is not None

    def on_not_replayed(self, raw: bytes) -> None:
        """A stored order message was gap-filled on the venue's resend request: its outcome may be unknown.

        Answered requests need nothing (the venue's reports said what became of them). For one still
        unanswered the venue may or may not have it: the order stays tracked, a cancel is sent again
        (cancels are harmless twice), and about a new order or a replace the venue is asked
        (OrderStatusRequest where the dialect has it, otherwise a cancel naming the request). Only
        the venue's answer that it does not know it becomes NOT_SENT.
        """
        self.counters["not_replayed"] += 1
        message = _decode_one(raw) or _salvage(raw)  # a damaged store record still names its request
        if message is None:
            return
        cl_ord_id = message.get(f.CL_ORD_ID)
        tracked = self._lookup(cl_ord_id)
        if tracked is None:
            return  # no longer open, or never known to this process (see may_replay)
        order_id = tracked.order.order_id
        msg_type = message.msg_type
        if self._is_question(tracked, msg_type, cl_ord_id):  # our question itself never reached the venue
            lost = self._probes.pop(order_id)
            self._ask(
                tracked,
                lost.about,
                lost.ref,
                cancel_too=lost.cancel_too,
                by_status=lost.by_status,
                resync=lost.resync,
                earlier=lost.earlier,
            )
            return
        kind = self._unanswered(tracked, msg_type, cl_ord_id)
        if kind is None:
            return
        self.counters["outcome_unknown"] += 1
        probe = self._probes.get(order_id)
        if kind is RequestKind.CANCEL:
            if probe is not None:
                probe.cancel_too = True  # sent again once the venue says it has the order
            else:
                self._cancel_again(tracked)
        elif probe is None:
            self._ask(tracked, kind, cl_ord_id)
        elif kind is RequestKind.REPLACE and (probe.about is not RequestKind.REPLACE or probe.ref != cl_ord_id):
            self._replaces_held[order_id] = cl_ord_id  # asked once the question out is settled (_ask_held)

    def after_replay(self, unanswered: list[UnansweredRequest]) -> None:
        """The session is up again: ask about requests in doubt the venue will never ask for again.

        The venue's ResendRequest covers what it missed of the current numbering; when the numbering
        restarted (ResetSeqNumFlag, a daily reset, a re-created store) messages from before are never
        asked for, so every request still unanswered is in doubt. Questions that could not be sent
        earlier (the store refused the write) are sent now too.
        """
        reset, self._numbering_reset = self._numbering_reset, False
        restored, self._asked_before_start = self._asked_before_start, {}
        store = self.session.store
        raised = store.raised_by_operator if store.raised_by_operator[0] else None  # kept across restarts (fix55)
        if raised is not None:
            self._sender_raised(raised, unanswered)
        # the venue's numbering restarted by the operator's word: as a reset for what it sent (fixlogon56b)
        lowered = store.lowered_by_operator if store.lowered_by_operator[0] else None
        if lowered is not None:
            self._target_lowered(lowered, unanswered)
        venue_restarted = reset or lowered is not None
        in_doubt = venue_restarted or raised is not None
        why = (
            "sequence numbers reset: the venue never asks for it again"
            if reset
            else _LOWERED_WHY
            if lowered is not None
            else "the operator raised our MsgSeqNum (set-seq --next-sender) past it"
        )
        before: dict[int, _Probe] = {}
        if in_doubt and self._probes:
            before, self._probes = self._probes, {}  # asked under the old numbering: the answer may never come
            if not reset and raised is None:  # lowered: a question asked on this connection went under the new one
                asked_before = self._asked_before_connection
                for asked_id, question in list(before.items()):
                    if asked_before.get(asked_id) is not question:
                        self._probes[asked_id] = before.pop(asked_id)
        elif restored:  # asked before a restart and not answered since: the venue may never have got the question
            before = {order_id: probe for order_id, probe in restored.items() if self._probes.get(order_id) is probe}
            for order_id in before:
                del self._probes[order_id]
        if in_doubt:
            for request in unanswered:
                tracked = self._orders.get(request.order.order_id)
                if tracked is None:
                    continue
                order_id = tracked.order.order_id
                if order_id in self._unasked:
                    continue  # sent below, as it was to go out
                kind, ref = request.kind, request.venue_ref.encode()
                if kind is RequestKind.CANCEL:
                    probe = self._probes.get(order_id)
                    if probe is not None:
                        probe.cancel_too = True
                    else:
                        self._cancel_again(tracked)
                elif order_id not in self._probes:
                    old = before.get(order_id)
                    if old is not None and not old.resync and old.ref == ref:
                        continue  # the question out about it is asked again below as it was asked (a cancel, say)
                    self.counters["outcome_unknown"] += 1
                    self._ask(tracked, kind, ref, why=why)
        if self._unasked:
            self._ask_unasked("the message store refused the question earlier")
        if before:
            self._ask_again(
                before,
                "sequence numbers reset before its answer"
                if reset
                else why
                if in_doubt
                else "asked before the gateway restarted",
            )
        if venue_restarted:
            self._check_live_orders(
                {request.order.order_id for request in unanswered},
                why="sequence numbers reset" if reset else _LOWERED_WHY,
            )
        if not self._unasked:  # asked (the questions are stored): a restart asks them again
            if raised is not None:
                self._clear_raised_mark()
            if lowered is not None:
                self._clear_lowered_mark()

    def _clear_raised_mark(self) -> None:
        """Forget in the store that ``set-seq --next-sender`` raised our number, once its requests were asked about.

        A store that cannot be written keeps the mark: the next logon asks about every request unanswered again
        (never less), as a question the store refused (``_unasked``) keeps it too.
        """
        try:
            self.session.store.set_raised_by_operator(0, 0)
        except OSError as exc:
            log.error(
                "FIX %s: the message store could not be written (%s): the requests still unanswered are asked "
                "about again at the next logon",
                self.name,
                exc,
            )

    def _clear_lowered_mark(self) -> None:
        """Forget in the store that ``set-seq --allow-lower-target`` lowered the expected number, once asked about.

        As ``_clear_raised_mark``: a store that cannot be written keeps the mark, and the next logon asks about
        every open order and every request unanswered again (never less).
        """
        try:
            self.session.store.set_lowered_by_operator(0, 0)
        except OSError as exc:
            log.error(
                "FIX %s: the message store could not be written (%s): the open orders and the requests still "
                "unanswered are asked about again at the next logon",
                self.name,
                exc,
            )

    def _target_lowered(self, lowered: tuple[int, int], unanswered: list[UnansweredRequest]) -> None:
        """Logged on after ``gateway venue set-seq --next-target M --allow-lower-target``: say what is in doubt.

        The number expected before (N) proves only that the venue's messages below it were received; what the venue
        sent from N on under its old numbering (a fill, an acknowledgement, a cancel) and never resent is gone with
        that numbering. So, as after a numbering reset (``after_replay``), every request still unanswered, every
        question out and every acknowledged open order is asked about. Before fixlogon56b nothing was: an order
        filled there stayed LIVE with nothing executed here, a new order whose ack was lost stayed PENDING_NEW.
        """
        orders = self._orders
        requests = sum(1 for request in unanswered if request.order.order_id in orders)
        asked_before = self._asked_before_connection  # those asked since (a gap fill's) are counted as orders
        questions = {k for k, probe in self._probes.items() if k in orders and asked_before.get(k) is probe}
        in_doubt = {request.order.order_id for request in unanswered}
        live = sum(
            1
            for order_id, tracked in orders.items()
            if order_id not in in_doubt and order_id not in questions and not tracked.order.is_terminal
        )
        if not requests and not questions and not live:
            log.warning(
                "FIX %s: the operator lowered the MsgSeqNum expected from the venue (`gateway venue set-seq "
                "--next-target --allow-lower-target`) from %d to %d: no order open, nothing to ask about",
                self.name,
                lowered[0],
                lowered[1],
            )
            return
        status_request = self.dialect.orders.status_request
        log.error(
            "FIX %s: the operator lowered the MsgSeqNum expected from the venue (`gateway venue set-seq --next-target "
            "--allow-lower-target`) from %d to %d: messages it sent from %d on under its old numbering (a fill, an "
            "acknowledgement, a cancel) may be lost, never resent; asking the venue about %d request(s) still "
            "unanswered and %d question(s) out (%s) and %d acknowledged open order(s) (%s)",
            self.name,
            lowered[0],
            lowered[1],
            lowered[0],
            requests,
            len(questions),
            "OrderStatusRequest" if status_request else "a cancel naming the request",
            live,
            "OrderStatusRequest"
            if status_request
            else "not checked: the dialect has no OrderStatusRequest; reconcile them with the venue",
        )

    def _sender_raised(self, raised: tuple[int, int], unanswered: list[UnansweredRequest]) -> None:
        """Logged on with our MsgSeqNum raised by ``gateway venue set-seq --next-sender``: say what is in doubt.

        The venue expects the new number: it holds every number below it from us, whatever those messages
        carried (or did not: it may never have taken a request it dropped the connection on), and never asks for
        them again. So every request still unanswered, all sent at numbers below, is in doubt and asked about as
        after a numbering reset (``after_replay``), and so is every question out. Before fixfix54b nothing was
        asked: a new order the venue dropped stayed pending for good with its exposure, its cancel refused
        UNKNOWN_ORDER.
        """
        requests = sum(1 for request in unanswered if request.order.order_id in self._orders)
        questions = sum(1 for order_id in self._probes if order_id in self._orders)
        if not requests and not questions:
            return
        log.error(
            "FIX %s: the operator raised our MsgSeqNum (`gateway venue set-seq --next-sender`) from %d to %d: the "
            "venue holds our numbers below %d whatever they carried and will not ask for them again; %d request(s) "
            "still unanswered and %d question(s) out were sent at them: asking the venue about them (%s)",
            self.name,
            raised[0],
            raised[1],
            raised[1],
            requests,
            questions,
            "OrderStatusRequest" if self.dialect.orders.status_request else "a cancel naming the request",
        )

    def _questions_from_store(self) -> None:
        """After a restart: start taking back from the store the questions still out (the journal keeps none).

        An OrderStatusRequest stored in the current numbering that names the ClOrdID of an open order's new
        order or replace still unanswered, or the ClOrdID the order is known by now, is taken as out; so is an
        asking cancel where the dialect has no OrderStatusRequest (``_asking_cancel_from_store``). The store
        is searched a slice at a time (``_SCAN_SLICE_BYTES``: this call, then each ``poll``), so a large store
        does not hold the event loop; ``_scan_done`` takes the questions found.
        """
        if not self._orders:
            return
        refs: dict[bytes, _Tracked] = {}
        for open_order in self._orders.values():
            if not open_order.order.is_terminal:
                refs[open_order.working] = open_order
                if open_order.pending:
                    refs[open_order.pending] = open_order
        if not refs:
            return
        self._scan_refs = refs
        self._scan_last = self.session.store.next_sender_seq - 1
        self._scan_cursor = 0
        self._scan_slice()

    def _scan_slice(self) -> None:
        """Search the next slice of the store for status questions about the open orders; at the end take them."""
        refs = self._scan_refs
        last = self._scan_last
        found = self._scan_found
        by_status = self.dialect.orders.status_request  # else asking cancels, naming the request by OrigClOrdID
        marker = _STATUS_REQUEST_FIELD if by_status else _CANCEL_REQUEST_FIELD
        hits, self._scan_cursor = self.session.store.find_sent(marker, self._scan_cursor, _SCAN_SLICE_BYTES)
        for seq, raw in hits:
            at = raw.find(_CL_ORD_ID_FIELD if by_status else _ORIG_CL_ORD_ID_FIELD)
            if seq <= last and at >= 0 and raw[at + 4 : raw.find(b"\x01", at + 4)] in refs:
                found.append(raw)  # decoded at the end, only if about an open order
        if self._scan_cursor < 0:
            self._scan_done()

    def _scan_done(self) -> None:
        """Take the status questions found in the store as out (``_question_from_store``).

        Before the session is up (the search ended within the first connection's call or its logon) they are
        out: the venue's answer (resent at the logon, PossDupFlag=Y) is applied as it would have been before
        the restart, and each still out at the first ``after_replay`` is asked again (the venue may never have
        got it; one answered before the restart with nothing to report is settled by the new answer). Once up
        (a large store), they are asked again at once: an answer that came meanwhile found no question out and
        was ignored, so the new answer is the one applied. An order asked about afresh meanwhile keeps that
        question.
        """
        refs, self._scan_refs = self._scan_refs, {}
        found, self._scan_found = self._scan_found, []
        taken: dict[int, _Probe] = {}
        for raw in found:
            self._question_from_store(raw, refs, taken)
        for order_id in list(taken):
            tracked = self._orders.get(order_id)
            if tracked is None or tracked.order.is_terminal or order_id in self._probes or order_id in self._unasked:
                del taken[order_id]
        if not taken:
            return
        up = self._venue_state is VenueState.UP  # after_replay ran already (the core calls it at every UP)
        log.warning(
            "FIX %s: %d status question(s) sent before the restart taken back from the store (orders %s); %s",
            self.name,
            len(taken),
            ", ".join(str(order_id) for order_id in taken),
            "asking them again" if up else "asked again once logged on",
        )
        if up:
            self._ask_again(taken, "asked before the gateway restarted")
            return
        self._probes.update(taken)
        self._asked_before_start = dict(taken)

    def _question_from_store(self, raw: bytes, refs: dict[bytes, _Tracked], taken: dict[int, _Probe]) -> None:
        """Put stored message ``raw`` in ``taken`` if it is a question about an open order (``refs``)."""
        message = _decode_one(raw)
        if message is None:
            return
        if message.msg_type == MsgType.ORDER_CANCEL_REQUEST:
            self._asking_cancel_from_store(message, refs, taken)
            return
        if message.msg_type != MsgType.ORDER_STATUS_REQUEST:
            return
        ref = message.get(f.CL_ORD_ID)
        tracked = refs.get(ref)
        if tracked is None:
            return
        order = tracked.order
        if ref == tracked.pending and order.state in _REPLACING:
            about, resync = RequestKind.REPLACE, False
        elif ref == tracked.working:
            about, resync = RequestKind.NEW, order.state not in _NEW_UNANSWERED
        else:
            return
        cancel_too = order.state in _CANCELING  # it may have been gap-filled before: cancels are harmless twice
        taken[order.order_id] = _Probe(about, ref, ref, True, cancel_too, resync, (), self.clock())

    def _asking_cancel_from_store(
        self, message: FixMessage, refs: dict[bytes, _Tracked], taken: dict[int, _Probe]
    ) -> None:
        """Put a stored asking cancel (a dialect without OrderStatusRequest) about an open order in ``taken``.

        An OrderCancelRequest naming (OrigClOrdID) the new order of an order still unanswered, other than the
        strategy's own cancel in flight (the order's ``pending``), or naming the replace in flight, asked
        whether the venue has that request. A later one of the same order replaces the earlier, kept in
        ``earlier`` (the venue may answer any of them); each is known as an asking cancel (``_asking_refs``).
        """
        ref = message.get(f.ORIG_CL_ORD_ID)
        tracked = refs.get(ref)
        if tracked is None:
            return
        order = tracked.order
        probe_ref = message.get(f.CL_ORD_ID)
        if ref == tracked.pending and order.state in _REPLACING:
            about = RequestKind.REPLACE
        elif ref == tracked.working and order.state in _NEW_UNANSWERED and probe_ref != tracked.pending:
            about = RequestKind.NEW
        else:
            return  # the strategy's cancel
        order_id = order.order_id
        before = taken.get(order_id)
        earlier = (*before.earlier, before.probe_ref) if before is not None and before.ref == ref else ()
        cancel_too = order.state in _CANCELING
        taken[order_id] = _Probe(about, ref, probe_ref, False, cancel_too, False, earlier, self.clock())
        self._asking_refs.setdefault(order_id, []).append(probe_ref)

    def _ask_unasked(self, why: str) -> None:
        """Send each question (and each cancel sent again) the store refused, as it was to go out.

        One whose request was answered meanwhile (the new order acknowledged, the replace answered, the cancel
        settled) or whose order ended is dropped; one whose order has another question out is left to that one
        (a cancel is then sent again once it is answered).
        """
        unasked, self._unasked = self._unasked, {}
        for order_id, question in unasked.items():
            tracked = self._orders.get(order_id)
            if tracked is None or tracked.order.is_terminal:
                continue
            state = tracked.order.state
            about = question.about
            probe = self._probes.get(order_id)
            if about is RequestKind.CANCEL:
                if state not in _CANCELING:
                    continue
                if probe is not None:
                    probe.cancel_too = True
                else:
                    self._cancel_again(tracked)
                continue
            if probe is not None:
                probe.cancel_too = probe.cancel_too or question.cancel_too
                if about is RequestKind.REPLACE and not question.resync and probe.ref != question.ref:
                    self._replaces_held[order_id] = question.ref  # asked once that one is settled (_ask_held)
                continue
            if not question.resync and (
                (about is RequestKind.NEW and state not in _NEW_UNANSWERED)
                or (about is RequestKind.REPLACE and tracked.pending != question.ref)
            ):
                continue  # answered meanwhile
            self._ask(
                tracked,
                about,
                tracked.working if question.resync else question.ref,
                cancel_too=question.cancel_too,
                by_status=question.by_status,
                resync=question.resync,
                why=why,
                earlier=question.earlier,
                asks=question.asks,
            )

    def _ask_again(self, before: dict[int, _Probe], why: str) -> None:
        """Ask again each question in ``before`` whose answer may never come (a numbering reset, a gap fill).

        The same question goes out under the current numbering (an OrderStatusRequest with the same ClOrdID,
        about the ClOrdID the venue now knows the order by when it is about the order's state; an asking cancel
        under a new ClOrdID, the old one kept in ``earlier``), unless the order is already asked about afresh
        (an unanswered request after a reset). Whichever answer comes first settles it; a later one finds no
        question out (a status report is then ignored, and CumQty is cumulative: no fill is applied twice).
        """
        for order_id, old in before.items():
            tracked = self._orders.get(order_id)
            if tracked is None or tracked.order.is_terminal:
                continue
            probe = self._probes.get(order_id)
            if probe is None:
                ref = tracked.working if old.resync else old.ref
                self._ask(
                    tracked,
                    old.about,
                    ref,
                    cancel_too=old.cancel_too,
                    by_status=old.by_status,
                    resync=old.resync,
                    why=why,
                    earlier=() if old.by_status else (*old.earlier, old.probe_ref),
                )
                continue  # not stored: sent again by poll (and after the next replay), ``earlier`` kept
            if old.cancel_too:
                probe.cancel_too = True
            if not old.by_status and not probe.by_status and old.probe_ref != probe.probe_ref:
                probe.earlier = (*probe.earlier, *old.earlier, old.probe_ref)

    def on_gap_filled(self, first: int, new_seq: int, unseen: int) -> None:
        """The venue gap-filled numbers never received here: a report among them (a fill, a cancel) is lost.

        A venue gap-fills over its own session messages (Heartbeats, TestRequests) as well, and nothing tells
        them apart, so with orders open every such gap fill counts (``gap_fills_with_open_orders``) and is
        logged at ERROR; where the dialect has OrderStatusRequest every open order is then asked about
        (``_check_live_orders``), otherwise they are counted unchecked (``orders_unchecked_after_gap_fill``).
        A status question already out is asked again: its answer may be among the numbers never received.
        """
        open_orders = [tracked for tracked in self._orders.values() if not tracked.order.is_terminal]
        if not open_orders:
            return
        if self._asking_after_skip:  # the venue's Logouts refusing our Logons among them were received (fixfix54b)
            unseen -= sum(1 for seq in self.session.refusals if first <= seq < new_seq)
        elif first != self.session.too_large_skipped and self._received_before[2]:
            unseen = self._unseen_after_restart(first, new_seq, unseen)
            if unseen <= 0:
                return
        self.counters["gap_fills_with_open_orders"] += 1
        asking = self.dialect.orders.status_request
        self._rarelog.log(
            "gap_filled",
            self.clock(),
            logging.ERROR,
            "FIX %s: %s MsgSeqNum %d..%d (%d never received here) with %d order(s) open: a fill "
            "or cancel among them would not be resent; %s",
            self.name,
            "the operator skipped (`gateway venue set-seq --next-target`)"
            if self._asking_after_skip
            else "the gateway skipped (too large, max_body_length)"
            if first == self.session.too_large_skipped
            else "the venue gap-filled",
            first,
            new_seq - 1,
            unseen,
            len(open_orders),
            "asking the venue about them (OrderStatusRequest)"
            if asking
            else "the dialect has no OrderStatusRequest: reconcile them with the venue",
        )
        if asking and self._probes:  # the answer to a question out may be among the numbers never received
            asked = {order_id: probe for order_id, probe in self._probes.items() if probe.by_status}
            for order_id, probe in asked.items():
                del self._probes[order_id]
                if not probe.resync:
                    self._resync_after.add(order_id)  # a report on the order's own ClOrdID may be lost too
            self._ask_again(asked, "the venue gap-filled messages never received before its answer")
        self._check_live_orders(set(), after_gap_fill=True)

    def _unseen_after_restart(self, first: int, new_seq: int, unseen: int) -> int:
        """Return how many of ``unseen`` gap-filled numbers were never received, before the stop either.

        ``resume_after`` asked again for numbers received and processed before a stop that may have cut the
        journal's tail (``_received_before``). The venue resends the business messages among them (each applied
        once) and gap-fills its admin messages (Heartbeats, TestRequests), which carried no report: a gap fill
        over those numbers only is logged at INFO, not counted, and asks nothing (fixjournal59b: before, every
        kill -9 with an order open paged ops and asked the venue about every open order). Numbers outside them
        count as before. The numbers this connection received (``unseen`` leaves them out already) come after
        them: the venue's Logon and later. A venue that gap-fills its business messages too (messages not
        persisted) is not told apart: a report the journal lost with its tail and that venue does not resend is
        not asked about (as before fixjournal59, when nothing was asked for again).
        """
        epoch, low, end = self._received_before
        if epoch != self._epoch():  # the numbering restarted since: those numbers are another numbering's
            self._received_before = ("", 0, 0)
            return unseen
        before = min(new_seq, end) - max(first, low)
        if before <= 0:
            return unseen
        if new_seq >= end:  # passed: the venue has answered for all of them
            self._forget_asked_again()
        unseen -= before
        if unseen <= 0:
            log.info(
                "FIX %s: the venue gap-filled MsgSeqNum %d..%d, all received here (%d..%d before the restart, asked "
                "for again in case the journal lost their events): its admin messages, which it does not resend; "
                "nothing lost",
                self.name,
                first,
                new_seq - 1,
                max(first, low),
                min(new_seq, end) - 1,
            )
        return unseen

    def _check_live_orders(self, in_doubt: set[int], *, after_gap_fill: bool = False, why: str = "") -> None:
        """After a numbering reset (or a gap fill): ask about each acknowledged open order (lost reports).

        Where the dialect has OrderStatusRequest each is asked about as after a refused report (its answer
        reports the fill and the end the gateway lacks); otherwise they cannot be checked: counted
        (``orders_unchecked_after_reset``, ``orders_unchecked_after_gap_fill``) and, after a reset, logged at
        WARNING with their number (a gap fill logged its ERROR already). After a gap fill an order with a
        request in flight is asked too, as its answer may be among the numbers never received
        (``_ask_in_flight``); after a reset those in ``in_doubt`` are asked about by ``after_replay``. ``why``
        names the reset in the log (the operator's lowered expected number is one of the venue's numbering).
        """
        live = [
            tracked
            for order_id, tracked in self._orders.items()
            if order_id not in in_doubt and order_id not in self._probes and not tracked.order.is_terminal
        ]
        if not live:
            return
        if not self.dialect.orders.status_request:
            if after_gap_fill:
                self.counters["orders_unchecked_after_gap_fill"] += len(live)
                return
            self.counters["orders_unchecked_after_reset"] += len(live)
            log.warning(
                "FIX %s: %s: %d open order(s) not checked (the dialect has no "
                "OrderStatusRequest): fills or cancels the venue sent while the link was down are not resent; "
                "reconcile them with the venue",
                self.name,
                why or "sequence numbers reset",
                len(live),
            )
            return
        if after_gap_fill:
            why = "the venue gap-filled messages never received"
        elif not why:
            why = "sequence numbers reset"
        for tracked in live:
            if after_gap_fill and (tracked.pending or tracked.order.state in _NEW_UNANSWERED):
                self._ask_in_flight(tracked, why)
                continue
            self._ask(tracked, RequestKind.NEW, tracked.working, by_status=True, resync=True, why=why)

    def _ask_in_flight(self, tracked: _Tracked, why: str) -> None:
        """Ask about an order whose request in flight may have had its answer gap-filled (OrderStatusRequest).

        A new order unanswered is asked about by its ClOrdID (the answer acknowledges, fills or ends it, or says
        NOT_SENT); a replace by its ClOrdID (the answer says Replaced, with CumQty, or NOT_SENT), then the order
        by the ClOrdID it is known by (``_resync_after``: a fill on it may have been gap-filled too); a cancel
        by asking the order's state, the cancel sent again if the order still works there (its answer is the
        cancel's one answer).
        """
        order = tracked.order
        order_id = order.order_id
        state = order.state
        cancel_too = state in _CANCELING
        if state in _NEW_UNANSWERED:
            self._ask(tracked, RequestKind.NEW, tracked.working, cancel_too=cancel_too, by_status=True, why=why)
        elif tracked.pending and state in _REPLACING:
            self._resync_after.add(order_id)
            self._ask(tracked, RequestKind.REPLACE, tracked.pending, by_status=True, why=why)
        else:
            self._ask(
                tracked, RequestKind.NEW, tracked.working, cancel_too=cancel_too, by_status=True, resync=True, why=why
            )

    def after_session_end(self, unanswered: list[UnansweredRequest]) -> None:
        """The schedule ended the session (ENDED until the next start): report each unanswered request refused.

        The next window starts a new numbering (the store is reset before the logon), so the venue never
        resends anything of this session: without an answer now the strategy would wait until the next start.
        A new order is reported rejected and forgotten; a cancel or replace is reported cancel-rejected and
        the order stays open as the gateway knew it. Any question out about them is dropped.
        """
        for request in unanswered:
            tracked = self._orders.get(request.order.order_id)
            if tracked is None:
                continue
            order_id = tracked.order.order_id
            kind = request.kind
            log.warning("FIX %s: order %d: %s: %s", self.name, order_id, kind.value, _SESSION_ENDED_TEXT)
            if kind is RequestKind.NEW:
                self._emit(VenueRejected(0, order_id, "FIX_SESSION_ENDED", _SESSION_ENDED_TEXT))
                self._forget(order_id)
                continue
            tracked.pending = b""
            self._probes.pop(order_id, None)
            self._unasked.pop(order_id, None)
            self._emit(VenueCancelRejected(0, order_id, "FIX_SESSION_ENDED", _SESSION_ENDED_TEXT))

    def _unanswered(self, tracked: _Tracked, msg_type: bytes, cl_ord_id: bytes) -> RequestKind | None:
        """Return what the order message ``cl_ord_id`` asked for if no venue message has answered it yet."""
        state = tracked.order.state
        if msg_type == MsgType.NEW_ORDER_SINGLE:
            return RequestKind.NEW if cl_ord_id == tracked.working and state in _NEW_UNANSWERED else None
        if not cl_ord_id or cl_ord_id != tracked.pending:
            return None
        if msg_type == MsgType.ORDER_CANCEL_REPLACE_REQUEST and state in _REPLACING:
            return RequestKind.REPLACE
        if msg_type == MsgType.ORDER_CANCEL_REQUEST and state in _CANCELING:
            return RequestKind.CANCEL
        return None

    def _is_question(self, tracked: _Tracked, msg_type: bytes, cl_ord_id: bytes) -> bool:
        """Return True when the message is the question still out about one of the order's requests."""
        probe = self._probes.get(tracked.order.order_id)
        if probe is None or cl_ord_id != probe.probe_ref:
            return False
        return msg_type == (MsgType.ORDER_STATUS_REQUEST if probe.by_status else MsgType.ORDER_CANCEL_REQUEST)

    def _ask(
        self,
        tracked: _Tracked,
        about: RequestKind,
        ref: bytes,
        *,
        cancel_too: bool = False,
        by_status: bool | None = None,
        resync: bool = False,
        why: str = "",
        earlier: tuple[bytes, ...] = (),
        asks: int = 1,
    ) -> None:
        """Ask the venue whether it has request ``ref`` (a new order or a replace) of ``tracked``'s order.

        A question the store refuses is kept as it was to go out (``_unasked``): ``poll`` sends it again.
        """
        order = tracked.order
        if by_status is None:
            by_status = self.dialect.orders.status_request
        now = self.clock()
        session = self.session
        seq = session.next_sender_seq
        stamp = session.sending_time(now)
        if by_status:
            probe_ref = ref
            raw = self.templates.status_request(seq, stamp, ref, order)
        else:
            probe_ref = self._next_ref(tracked)
            raw = self.templates.cancel(seq, stamp, ref, probe_ref, order)
        if self._store(seq, raw, now, order) is not None:  # sent again by poll, and after the next replay
            self._unasked[order.order_id] = _Probe(about, ref, b"", by_status, cancel_too, resync, earlier, now, asks)
            return
        if not by_status:
            tracked.requests += 1
            self._asking_refs.setdefault(order.order_id, []).append(probe_ref)
        self._probes[order.order_id] = _Probe(about, ref, probe_ref, by_status, cancel_too, resync, earlier, now, asks)
        self.counters["status_requests_sent" if by_status else "cancels_asking"] += 1
        log.info(
            "FIX %s: %s %s unknown (%s); asking with %s",
            self.name,
            "state of order"
            if resync
            else ("outcome of new order" if about is RequestKind.NEW else "outcome of replace"),
            ref.decode(errors="replace"),
            why or ("a report about it was refused" if resync else "gap-filled on the venue's resend request"),
            "OrderStatusRequest" if by_status else f"a cancel ({probe_ref.decode(errors='replace')})",
        )

    def _cancel_again(self, tracked: _Tracked) -> None:
        """Send the order's cancel again under a new ClOrdID (its first one may never have reached the venue)."""
        order = tracked.order
        now = self.clock()
        session = self.session
        seq = session.next_sender_seq
        ref = self._next_ref(tracked)
        raw = self.templates.cancel(seq, session.sending_time(now), tracked.working, ref, order)
        if self._store(seq, raw, now, order) is not None:  # sent again by poll, and after the next replay
            self._unasked[order.order_id] = _Probe(RequestKind.CANCEL, tracked.pending, b"", False, asked_ns=now)
            return
        tracked.pending = ref
        tracked.requests += 1
        self.counters["cancels_resent"] += 1
        self._cancels_again[order.order_id] = ref

    def _answered(
        self, tracked: _Tracked, probe: _Probe, venue_seq: int, *, known: bool, events: tuple[VenueEvent, ...] = ()
    ) -> None:
        """The venue answered our question about ``probe.ref``: report what that settles, then ask what it held."""
        self._settle(tracked, probe, venue_seq, known=known, events=events)
        if self._replaces_held:
            self._ask_held(tracked.order.order_id)

    def _ask_held(self, order_id: int) -> None:
        """Ask about the replace put in doubt while the question just settled was out (``_replaces_held``).

        Not when the venue's report settled it meanwhile (the Replaced, its reject: no longer the replace in
        flight) or the order ended; kept while another question about the order is out.
        """
        ref = self._replaces_held.pop(order_id, None)
        tracked = self._orders.get(order_id)
        if ref is None or tracked is None or tracked.order.is_terminal:
            return
        if tracked.pending != ref or tracked.order.state not in _REPLACING:
            return  # answered by the venue's own report
        if order_id in self._probes or order_id in self._unasked:
            self._replaces_held[order_id] = ref
            return
        self._ask(tracked, RequestKind.REPLACE, ref, why="gap-filled while another question about the order was out")

    def _settle(
        self, tracked: _Tracked, probe: _Probe, venue_seq: int, *, known: bool, events: tuple[VenueEvent, ...] = ()
    ) -> None:
        """Report what the venue's answer to our question about ``probe.ref`` settles."""
        order = tracked.order
        order_id = order.order_id
        del self._probes[order_id]
        resync_after = order_id in self._resync_after
        self._resync_after.discard(order_id)
        if not known:
            self.counters["not_sent"] += 1
            if probe.about is RequestKind.NEW:
                if order.state in _NEW_UNANSWERED:
                    self._emit(VenueRejected(venue_seq, order_id, "NOT_SENT", _NOT_SENT_TEXT))
                    self._forget(order_id)
            elif tracked.pending == probe.ref:
                tracked.pending = b""
                self._emit(VenueCancelRejected(venue_seq, order_id, "NOT_SENT", _NOT_SENT_TEXT))
            if resync_after and order_id in self._orders and not order.is_terminal:
                why = "a report on it may have been gap-filled with the answer to its replace"
                self._ask(tracked, RequestKind.NEW, tracked.working, by_status=True, resync=True, why=why)
            return
        for event in events:
            self._emit(event)
        if order.is_terminal and not tracked.pending:  # filled (or ended) by the answer: no longer open here
            self._forget(order_id)
            return
        if probe.cancel_too and order_id in self._orders and order.state in _CANCELING:
            self._cancel_again(tracked)

    def _settled_by_report(self, tracked: _Tracked, venue_seq: int) -> None:
        """The venue's own report answered the request a status question is about: settle the question.

        Its answer, coming later, finds no question out and is ignored (``ignored_exec_reports``), as one after
        another answer settled it; a venue that drops the question leaves none counted out. A question about
        the order's state (``resync``) waits for its answer: a report does not say what else was lost.
        """
        order = tracked.order
        probe = self._probes.get(order.order_id)
        if probe is None or not probe.by_status or probe.resync:
            return
        if probe.about is RequestKind.NEW:
            if order.state in _NEW_UNANSWERED:
                return
        elif tracked.pending == probe.ref:
            return
        self._answered(tracked, probe, venue_seq, known=True)

    def _on_status_report(self, message: FixMessage, tracked: _Tracked, cl_ord_id: bytes) -> None:
        """An ExecutionReport answering an OrderStatusRequest (ExecType I, or 4.2 ExecTransType 3)."""
        order = tracked.order
        probe = self._probes.get(order.order_id)
        if probe is None or not probe.by_status:
            self.counters["ignored_exec_reports"] += 1  # a status we did not ask for: the order's reports tell
            return
        fields = message.fields
        seq = message.seq
        status = fields.get(f.ORD_STATUS, b"")
        if probe.resync:
            self._on_resync_status(message, tracked, probe, status)
            return
        if status == b"8":  # Rejected: the venue does not know that ClOrdID (OrdRejReason 5), or never took it
            self._answered(tracked, probe, seq, known=False)
            return
        order_id = order.order_id
        tag = b""
        events: tuple[VenueEvent, ...] = ()
        try:
            venue_order_id = fields.get(f.ORDER_ID, b"").decode()  # not UTF-8: refused (before, out of the read)
            if probe.about is RequestKind.NEW:
                if order.state not in _NEW_UNANSWERED:
                    pass  # answered meanwhile
                elif status == b"2":
                    tag = f.CUM_QTY
                    if tag not in fields:
                        raise KeyError(tag)
                    cum, events = _fill_beyond(fields, seq, order)
                    if not events:  # Filled with nothing (more) executed: no fill to report
                        raise _ValueIncorrectError(
                            f"OrdStatus Filled with CumQty {cum}, executed so far {order.cum_qty}"
                        )
                else:  # the fill it may already have had (CumQty), then its end, or its acceptance before the fill
                    cum, fill = _fill_beyond(fields, seq, order)
                    if status in _STATUS_CANCELED:
                        events = (*fill, VenueCanceled(seq, order_id, 0, _STATUS_CANCELED[status], ""))
                    else:
                        tag = f.ORDER_QTY
                        qty = _qty(fields[tag]) if tag in fields else order.qty
                        tag = f.PRICE
                        price = _price(fields[tag]) if tag in fields else order.price
                        events = (VenueAccepted(seq, order_id, venue_order_id, qty, price or order.price), *fill)
            elif tracked.pending == probe.ref:
                if cl_ord_id != probe.ref:  # the venue knows the order by another ClOrdID: the replace never took
                    self._answered(tracked, probe, seq, known=False)
                    return
                tag = f.LEAVES_QTY
                leaves = _qty(fields[tag])
                tag = f.PRICE
                price = _price(fields[tag]) if tag in fields else (order.pending_price or order.price)
                # filled meanwhile: the fill and the replace, in the order they can have come in
                events = _replace_taken(fields, seq, order, leaves, price, venue_order_id, filled=status == b"2")
                tracked.working = cl_ord_id
                tracked.pending = b""
        except _TagError as bad:
            self._unparseable(message, bad.tag, bad)
            return
        except KeyError:
            self._unparseable(message, tag, _MissingTagError(f"required tag {tag.decode()} missing"))
            return
        except ValueError as exc:
            self._unparseable(message, tag, exc)
            return
        self._answered(tracked, probe, seq, known=True, events=events)

    def _on_resync_status(self, message: FixMessage, tracked: _Tracked, probe: _Probe, status: bytes) -> None:
        """The venue's status of an acknowledged order (``_resynced``), then ask about a replace it held."""
        self._resynced(message, tracked, probe, status)
        if self._replaces_held:
            self._ask_held(tracked.order.order_id)

    def _resynced(self, message: FixMessage, tracked: _Tracked, probe: _Probe, status: bytes) -> None:
        """The venue's status of an acknowledged order: report the fill and the end the gateway lacks.

        Asked after a refused report, a numbering reset or a gap fill. The fill its CumQty shows beyond the
        order's count comes first (at AvgPx), then the end: OrdStatus 4 / C / 3 ``VenueCanceled``; 8 (Rejected:
        the venue does not have the order) ends it too (``_rejected_there``). OrdStatus 2 (Filled) with a CumQty
        of 0 is refused (session Reject naming tag 14); with a CumQty above 0 but below the order's quantity (the
        venue cut the order, a Restated lost in the reset or gap) it ends the order: the fill beyond the count,
        then ``VenueCanceled`` reason ``RESTATED`` of the rest (``_filled_short_there``).
        """
        order = tracked.order
        order_id = order.order_id
        del self._probes[order_id]
        fields = message.fields
        seq = message.seq
        try:
            cum, fill = _fill_beyond(fields, seq, order)
        except _TagError as bad:
            self._unparseable(message, bad.tag, bad)
            return
        if status == b"2" and cum <= 0 and not order.is_terminal:
            refused = _ValueIncorrectError(f"OrdStatus Filled with CumQty {cum}, executed so far {order.cum_qty}")
            self._unparseable(message, f.CUM_QTY, refused)
            return
        if cum < order.cum_qty:
            self._cum_below(message, tracked, cum)
        for executed in fill:
            self._emit(executed)
        if status == b"2" and cum < order.qty and not order.is_terminal:
            self._filled_short_there(message, tracked, cum)
        elif status in _STATUS_CANCELED and not order.is_terminal:
            tracked.pending = b""
            self._emit(VenueCanceled(seq, order_id, 0, _STATUS_CANCELED[status], ""))
            self._forget(order_id)
        elif status == b"8" and not order.is_terminal:
            self._rejected_there(message, tracked)
        elif status == b"2" and cum >= order.qty and not tracked.pending:
            self._forget(order_id)
        elif probe.cancel_too and not order.is_terminal and order.state in _CANCELING:
            self._cancel_again(tracked)  # its answer may have been gap-filled: the venue answers this one

    def _cum_below(self, message: FixMessage, tracked: _Tracked, cum: int) -> None:
        """A status answer's CumQty is below what the gateway counted: counted, logged at ERROR once per order.

        The gateway keeps its count: the fills it applied came with their ExecIDs and are not undone. Ops
        reconcile the order with the venue (``status_disagreements``).
        """
        order = tracked.order
        order_id = order.order_id
        self.counters["status_disagreements"] += 1
        if order_id in self._cum_below_logged:
            return
        self._cum_below_logged.add(order_id)
        log.error(
            "FIX %s: order %d: the venue's status answer (MsgSeqNum %d, OrdStatus %s) says CumQty %d, below the %d "
            "the gateway counted from the venue's fills: the gateway keeps its count (fills applied are not "
            "undone); reconcile the order with the venue",
            self.name,
            order_id,
            message.seq,
            message.get(f.ORD_STATUS, b"?").decode(errors="replace"),
            cum,
            order.cum_qty,
        )

    def _filled_short_there(self, message: FixMessage, tracked: _Tracked, cum: int) -> None:
        """A status answer says the order is Filled at a CumQty below its quantity: nothing is open at the venue.

        The venue cut the order (a Restated the reset or gap lost) and filled the rest; the fill beyond the
        count was applied before this. The order ends here (``VenueCanceled`` reason ``RESTATED``, leaves 0), so
        neither the strategy nor risk counts as open what the venue has not; counted (``status_disagreements``)
        and logged at ERROR for ops to reconcile with the venue.
        """
        order = tracked.order
        order_id = order.order_id
        self.counters["status_disagreements"] += 1
        self._rarelog.log(
            "filled-short-there",
            self.clock(),
            logging.ERROR,
            "FIX %s: order %d: the venue's status answer (MsgSeqNum %d) says OrdStatus 2 (Filled) at CumQty %d of the "
            "order's %d (OrderQty %s there; %d executed here): the venue cut it (a Restated lost in the reset or "
            "gap); the rest ended here (Canceled, RESTATED); reconcile it with the venue",
            self.name,
            order_id,
            message.seq,
            cum,
            order.qty,
            message.get(f.ORDER_QTY, b"?").decode(errors="replace"),
            order.cum_qty,
        )
        text = f"the venue's status answer says Filled at {cum} of {order.qty}: nothing else is open there"
        tracked.pending = b""
        self._emit(VenueCanceled(message.seq, order_id, 0, "RESTATED", text))
        self._forget(order_id)

    def _rejected_there(
        self, message: FixMessage, tracked: _Tracked, what: str = "status answer", named: str = ""
    ) -> None:
        """A status answer (or an OrderCancelReject) says an acknowledged order is Rejected (OrdStatus 8).

        The venue does not have the order: it works nowhere. The order ends here (``VenueCanceled`` reason
        ``REJECTED``, the text naming the OrdRejReason or CxlRejReason ``named``), so neither the strategy nor
        risk counts as open what the venue does not have; counted (``status_disagreements``) and logged at
        ERROR for ops to reconcile with the venue.
        """
        order = tracked.order
        order_id = order.order_id
        self.counters["status_disagreements"] += 1
        if not named:
            code = message.get(f.ORD_REJ_REASON)
            named = _ORD_REJ_REASONS.get(code, "VENUE") if code else "no OrdRejReason"
        self._rarelog.log(
            "rejected-there",
            self.clock(),
            logging.ERROR,
            "FIX %s: order %d: the venue's %s (MsgSeqNum %d) says OrdStatus 8 (Rejected, %s), the "
            "gateway had it %s with cum %d, %d open: ended here (Canceled, REJECTED); reconcile it with the venue",
            self.name,
            order_id,
            what,
            message.seq,
            named,
            order.state.name,
            order.cum_qty,
            order.leaves_qty,
        )
        text = f"the venue's {what} says OrdStatus 8 (Rejected, {named}): the order is not working there"
        tracked.pending = b""
        self._emit(VenueCanceled(message.seq, order_id, 0, "REJECTED", text))
        self._forget(order_id)

    def _resync(self, tracked: _Tracked, cl_ord_id: bytes) -> None:
        """A report about the order was refused: ask the venue for its state where the dialect has OrderStatusRequest.

        Never with a cancel (that would end a live order), and not while a question about it is already out.
        """
        order = tracked.order
        order_id = order.order_id
        if not self.dialect.orders.status_request or order_id in self._probes or order_id not in self._orders:
            return
        if order.state in _NEW_UNANSWERED:
            self._ask(tracked, RequestKind.NEW, tracked.working, by_status=True)
        elif tracked.pending and cl_ord_id == tracked.pending and order.state in _REPLACING:
            self._ask(tracked, RequestKind.REPLACE, tracked.pending, by_status=True)
        else:
            self._ask(tracked, RequestKind.NEW, tracked.working, by_status=True, resync=True)

    def _forget(self, order_id: int) -> None:
        """The order is over: stop tracking it and any question about it (kept among the last ended orders)."""
        tracked = self._orders.pop(order_id, None)
        if tracked is not None:
            ended = self._ended
            ended[order_id] = tracked.order
            if len(ended) > ENDED_KEPT:
                del ended[next(iter(ended))]
        self._probes.pop(order_id, None)
        self._unasked.pop(order_id, None)
        self._asking_refs.pop(order_id, None)
        self._resync_after.discard(order_id)
        self._cum_below_logged.discard(order_id)
        self._replaces_held.pop(order_id, None)

    # ---- incoming business messages ------------------------------------------------------------

    def _rare(self, key: str, text: str, *args: object) -> None:
        """Log at most once per 10 s per ``key`` (bad input must not flood the log)."""
        self._rarelog.log(key, self.clock(), logging.WARNING, "FIX %s: " + text, self.name, *args)

    def _text(self, raw: bytes) -> str:
        """Return a venue's Text (58) as text: its UTF-8, or ``_not_utf8_text``'s form of bytes that are not."""
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return self._not_utf8_text(raw)

    def _not_utf8_text(self, raw: bytes) -> str:
        """Return a venue's Text (58) that is not UTF-8 as text (U+FFFD for each byte not UTF-8), bounded.

        One within ``EVENT_MAX_TEXT`` characters is that text, as before. A longer one is its first characters and
        ``… [N bytes, not UTF-8, sha256 <64 hex digits>]`` (the venue's bytes' length and digest, as ``id_text``
        names a non-UTF-8 id), which the engine does not clip again; a WARNING gives them with its first 64 bytes
        in hex (rev59fix LOW: the engine's "whole text" line was up to 192 KB of U+FFFD, the bytes lost).
        """
        text = raw.decode(errors="replace")
        if len(text) <= EVENT_MAX_TEXT:
            return text
        digest = hashlib.sha256(raw).hexdigest()
        self._rare(
            "text_not_utf8",
            "a Text (58) of %d bytes, not UTF-8: the journal and the strategy get its first characters (U+FFFD for "
            "each byte not UTF-8), its length and SHA-256 %s; its first 64 bytes in hex: %s",
            len(raw),
            digest,
            raw[:64].hex(),
        )
        return clip(text, EVENT_MAX_TEXT, f"… [{len(raw):,} bytes, not UTF-8, sha256 {digest}]")

    def _emit(self, event: VenueEvent) -> None:
        self.counters["events"] += 1
        self.event_sink(event)

    def _order_id(self, cl_ord_id: bytes) -> int:
        """Return the order id ``<prefix><day><order id>[-<start>.<n>]`` names (-1: not one of ours)."""
        prefix_len = self._prefix_len
        if cl_ord_id[:prefix_len] != self._prefix:
            return -1
        digits = cl_ord_id[prefix_len + DAY_LEN :].partition(b"-")[0]
        if not digits.isdigit() or len(digits) > _MAX_ORDER_DIGITS:
            return -1
        return int(digits)

    def _of_day(self, cl_ord_id: bytes, *refs: bytes) -> bool:
        """Return True when ``cl_ord_id``'s day is today's or that of one of ``refs`` (the order's own ClOrdIDs).

        Order ids restart with a new journal: yesterday's order 1 is not today's order 1.
        """
        day = cl_ord_id[self._prefix_len : self._prefix_len + DAY_LEN]
        if day == self._day_code:
            return True
        start = self._prefix_len
        end = start + DAY_LEN
        return any(ref[start:end] == day for ref in refs if ref)

    def _lookup(self, cl_ord_id: bytes) -> _Tracked | None:
        order_id = self._order_id(cl_ord_id)
        if order_id < 0:
            return None
        tracked = self._orders.get(order_id)
        if tracked is None or not self._of_day(cl_ord_id, tracked.working, tracked.pending):
            return None
        return tracked

    def _unknown(self, message: FixMessage, cl_ord_id: bytes) -> None:
        """Count and log (WARNING, at most once per 10 s) a report for a ClOrdID no order here has."""
        self.counters["unknown_cl_ord_id"] += 1
        sink = self.unknown_order_sink
        if sink is not None:
            sink()
        self._rare(
            "unknown",
            "%s for unknown ClOrdID %r (MsgSeqNum %d) ignored",
            message.msg_type.decode(errors="replace"),
            id_text(cl_ord_id),
            message.seq,
        )

    def _unknown_fill(self, message: FixMessage, cl_ord_id: bytes) -> None:
        """Count a fill for a ClOrdID no order here has and log it at ERROR: a fill on the account, not applied.

        Each one is logged with its quantity, price and ExecID as the venue wrote them, and the count so far;
        only beyond ``UNKNOWN_FILL_LINES`` in one second (a flood: another gateway's session) are the rest of
        that second left out, and the next line says how many.
        """
        counters = self.counters
        counters["unknown_cl_ord_id"] += 1
        counters["unknown_executions"] += 1
        sink = self.unknown_order_sink
        if sink is not None:
            sink()
        now = self.clock()
        if now - self._fill_lines_at >= 1_000_000_000:
            self._fill_lines_at = now
            self._fill_lines = 0
        if self._fill_lines >= UNKNOWN_FILL_LINES:
            self._fill_lines_skipped += 1
            return
        self._fill_lines += 1
        skipped, self._fill_lines_skipped = self._fill_lines_skipped, 0
        fields = message.fields
        log.error(
            "FIX %s: fill (ExecutionReport MsgSeqNum %d) for unknown ClOrdID %r: %s @ %s, ExecID %r: not applied to "
            "any order or position (%d such fills so far%s): reconcile with the venue",
            self.name,
            message.seq,
            id_text(cl_ord_id),
            fields.get(f.LAST_QTY, b"?").decode(errors="replace"),
            fields.get(f.LAST_PX, b"?").decode(errors="replace"),
            id_text(fields.get(f.EXEC_ID, b"")),
            counters["unknown_executions"],
            f"; {skipped} not logged before this one" if skipped else "",
        )

    def _forgotten_fill(self, message: FixMessage, cl_ord_id: bytes) -> bool:
        """Pass on a fill for an order no longer tracked here (it ended) whose ClOrdID is ours; False if not one.

        ``<prefix><order_id>[-<MsgSeqNum>]`` names the order without a table: the fill (a fill crossing a
        cancel, a late fill) goes to the core as a ``VenueExecuted`` (LastQty at LastPx, the ExecID), which
        applies it to the order's position, from memory or from the journal, and catches a repeated ExecID
        there (``counters["fills_after_end"]``). For one of the last ``ENDED_KEPT`` orders ended here, its CumQty
        is checked as a tracked order's (``_not_yet_counted``: a fill already counted from a Canceled's CumQty is
        passed on with quantity 0, a repeat the core counts). Not a fill (or not ours, or a correction): False,
        the caller counts it unknown. A fill missing LastQty or LastPx, or carrying one out of range, is refused as
        unparseable (a session Reject).

        Attached to an engine, the order is the engine's (``order_source``: from memory, or read back from the
        journal if memory released it; none: not ours, False), and the report's Side and Symbol are checked
        against it as for a tracked order: a mismatch is refused (``_mismatch_refused``), no event.
        """
        fields = message.fields
        if fields.get(f.EXEC_TYPE, b"") not in _FILL_TYPES or fields.get(f.EXEC_TRANS_TYPE, b"0") != b"0":
            return False
        order_id = self._order_id(cl_ord_id)
        if order_id < 0:
            return False
        exec_id = id_text(fields.get(f.EXEC_ID, b""))
        source = self.order_source
        if source is None:
            ended = self._ended.get(order_id)
        else:  # the engine's order (a rebuilt one is a new object: the kept entry would count a stale CumQty)
            ended = source(order_id, exec_id)
            if ended is None:
                return False
            if order_id in self._ended:
                self._ended[order_id] = ended
        if ended is None:
            if cl_ord_id[self._prefix_len : self._prefix_len + DAY_LEN] != self._day_code:
                return False  # another day's order id: not this journal's order
        elif not self._of_day(cl_ord_id, ended.venue_ref.encode()):
            return False  # the same order id of another day (a new journal restarted the ids): not this order
        else:
            side = fields.get(f.SIDE)
            symbol = fields.get(f.SYMBOL)
            account = fields.get(f.ACCOUNT)
            wrong_account = account is not None and not self._same_account(account, ended)
            if (
                (side is not None and not _same_side(side, self.templates.sides[ended.side]))
                or (symbol is not None and symbol != ended.symbol.encode())
                or wrong_account
            ):
                self._mismatch_refused(message, ended, cl_ord_id, side, symbol, wrong_account=wrong_account)
                return True
        tag = f.LAST_QTY
        try:
            qty = _qty(fields[tag])
            if qty <= 0:
                raise _ValueIncorrectError(f"LastQty {fields[tag]!r} of a fill is not positive")
            tag = f.LAST_PX
            price = _price(fields[tag])
        except KeyError:
            self._unparseable(message, tag, _MissingTagError(f"required tag {tag.decode()} missing"))
            return True
        except ValueError as exc:
            self._unparseable(message, tag, exc)
            return True
        liquidity = self._liquidity.get(fields.get(self._liquidity_tag, b""), "") if self._liquidity_tag else ""
        cum = fields.get(f.CUM_QTY)
        if ended is not None and cum is not None and ended.cum_qty:  # counted already (a Canceled's CumQty)?
            qty = self._not_yet_counted(message, cum, qty, ended, exec_id)
        self.counters["fills_after_end"] += 1
        self._emit(_VenueExecuted(message.seq, order_id, qty, price, liquidity, exec_id))
        return True

    def _late_status(self, fields: dict[bytes, bytes], cl_ord_id: bytes) -> bool:
        """Return True for a status report (an OrderStatusRequest's answer) naming an order that ended here."""
        if fields.get(f.EXEC_TYPE) != ExecType.ORDER_STATUS and fields.get(f.EXEC_TRANS_TYPE) != b"3":
            return False
        ended = self._ended.get(self._order_id(cl_ord_id))
        return ended is not None and self._of_day(cl_ord_id, ended.venue_ref.encode())

    def _unparseable(self, message: FixMessage, tag: bytes, exc: ValueError) -> None:
        """Refuse a venue message that cannot be read (session Reject naming ``tag``, counted, logged).

        A UTF-8 decode that failed is of OrderID (37), the one field of the venue's taken strictly (lead56b): the
        Reject names it, not the tag read last before it (rev56merge2: an ack's non-UTF-8 OrderID was refused as
        "tag 44"). Cold: the check is made here, nothing per message.
        """
        if isinstance(exc, UnicodeDecodeError) and not _is_utf8(message.fields.get(f.ORDER_ID, b"")):
            tag = f.ORDER_ID
        self.counters["unparseable"] += 1
        self._rare("unparseable", "MsgSeqNum %d: %s", message.seq, exc)
        if isinstance(exc, _MissingTagError) or (isinstance(exc, _TagError) and exc.missing):
            reason = SessionRejectReason.REQUIRED_TAG_MISSING
        elif isinstance(exc, _ValueIncorrectError):
            reason = SessionRejectReason.VALUE_INCORRECT
        else:
            reason = SessionRejectReason.INCORRECT_DATA_FORMAT
        self.session.send_reject(
            message.seq,
            reason,
            f"tag {tag.decode()}: {exc}",
            self.clock(),
            ref_tag=int(tag) if tag else 0,
            ref_msg_type=message.msg_type,
        )

    def _on_execution_report(self, message: FixMessage) -> None:
        fields = message.fields
        cl_ord_id = fields.get(f.CL_ORD_ID, b"")
        tracked = self._lookup(cl_ord_id)
        if tracked is None:
            if self._late_status(fields, cl_ord_id):
                self.counters["ignored_exec_reports"] += 1  # the answer to a question about an order ended meanwhile
            elif not self._forgotten_fill(message, cl_ord_id) and not self._report_after_end(message, cl_ord_id):
                if fields.get(f.EXEC_TYPE, b"") in _FILL_TYPES:
                    self._unknown_fill(message, cl_ord_id)
                else:
                    self._unknown(message, cl_ord_id)
            return
        order = tracked.order
        exec_type = fields.get(f.EXEC_TYPE, b"")
        seq = message.seq
        if self._required_tags:
            self._check_required(message)
        side = fields.get(f.SIDE)
        symbol = fields.get(f.SYMBOL)
        if fields.get(f.ORD_STATUS) not in _DEFINED_ORD_STATUS or (
            (side is None or symbol is None) and exec_type in _FILL_TYPES
        ):
            self._incomplete(message, tracked, cl_ord_id, exec_type)
            return
        if (side is not None and not _same_side(side, self.templates.sides[order.side])) or (
            symbol is not None and symbol != order.symbol.encode()
        ):
            self._mismatched(message, tracked, cl_ord_id, side, symbol)
            return
        if exec_type == ExecType.ORDER_STATUS or fields.get(f.EXEC_TRANS_TYPE) == b"3":
            self._on_status_report(message, tracked, cl_ord_id)
            return
        if exec_type == ExecType.REJECTED and self._probes:
            probe = self._probes.get(order.order_id)
            if probe is not None and not probe.by_status and _asked_by(probe, cl_ord_id):  # our asking cancel
                if fields.get(f.ORD_REJ_REASON) == b"5":
                    self._answered(tracked, probe, seq, known=False)
                else:
                    self._asking_cancel_refused(message, tracked, probe)
                return
        tag = b""
        before: tuple[VenueEvent, ...] = ()
        refusal = False
        try:
            if fields.get(f.EXEC_TRANS_TYPE, b"0") != b"0":
                self._trade_correction(message, order.order_id, b"ExecTransType " + fields[f.EXEC_TRANS_TYPE])
                return
            if exec_type in _FILL_TYPES:
                # a copy of a fill (PossResend=Y, same ExecID) is passed on: the core does not apply it again
                tag = f.LAST_QTY
                qty = _qty(fields[tag])
                if qty <= 0:
                    raise _ValueIncorrectError(f"LastQty {fields[tag]!r} of a fill is not positive")
                tag = f.LAST_PX
                price = _price(fields[tag])
                liquidity = self._liquidity.get(fields.get(self._liquidity_tag, b""), "") if self._liquidity_tag else ""
                exec_id = id_text(fields.get(f.EXEC_ID, b""))
                cum = fields.get(f.CUM_QTY)
                if cum is not None:
                    if order.cum_qty:  # the order has fills: has it counted this one already?
                        qty = self._not_yet_counted(message, cum, qty, order, exec_id)
                    if qty:  # CumQty above what the order counted plus this fill: fills lost (a reset)
                        before = self._missing_fills(message, cum, qty, order, fields.get(f.AVG_PX), price)
                # a Replace raising the quantity still takes after a fill leaves nothing open (App D): the core
                # keeps such an order open while the Replace is in flight
                replacing = order.state in _REPLACING
                event: VenueEvent = _VenueExecuted(seq, order.order_id, qty, price, liquidity, exec_id, replacing)
            elif exec_type == ExecType.NEW:
                tag = f.ORDER_QTY
                qty = _qty(fields[tag]) if tag in fields else order.qty
                tag = f.PRICE
                price = _price(fields[tag]) if tag in fields else order.price
                if price == 0 and order.ord_type is _MARKET:
                    price = order.price
                event = _VenueAccepted(seq, order.order_id, fields.get(f.ORDER_ID, b"").decode(), qty, price)
            elif exec_type in _CANCEL_TYPES:
                if f.CUM_QTY in fields:  # fills the gateway never heard of (lost with a reset) come first
                    _, before = _fill_beyond(fields, seq, order)
                    for executed in before:
                        if isinstance(executed, VenueExecuted):
                            self._fills_from_cum_qty(message, order, executed)
                tracked.pending = b""
                if self._late_cancels and self._late_cancels.pop(cl_ord_id, None) is None:  # _live_after_end's
                    self._late_answered(cl_ord_id)  # cancel of the order itself (a Replaced it could not take)
                raw_text = fields.get(f.TEXT, b"")
                try:  # inline, not ``_text``: a cancel's answer is the order path (no call more per order)
                    text = raw_text.decode()
                except UnicodeDecodeError:
                    text = self._not_utf8_text(raw_text)
                event = VenueCanceled(seq, order.order_id, 0, _CANCEL_TYPES[exec_type], text)
            elif exec_type == ExecType.REPLACED and self._refused_replace(tracked, cl_ord_id, fields):
                self._replaced_after_reject(message, tracked, cl_ord_id)
                return
            elif exec_type == ExecType.REPLACED:
                tag = f.LEAVES_QTY
                leaves = _qty(fields[tag])
                tag = f.PRICE
                price = _price(fields[tag]) if tag in fields else (order.pending_price or order.price)
                filled = fields.get(f.ORD_STATUS) == b"2"  # filled takes precedence: a replace leaving 0 ends it FILLED
                venue_order_id = fields.get(f.ORDER_ID, b"").decode()
                # fills the gateway never heard of (lost with a reset) are reported around the replace (its CumQty)
                taken = _replace_taken(fields, seq, order, leaves, price, venue_order_id, filled=filled)
                before, event = taken[:-1], taken[-1]
                for executed in taken:
                    if isinstance(executed, VenueExecuted):
                        self._fills_from_cum_qty(message, order, executed)
                tracked.working = cl_ord_id
                tracked.pending = b""
            elif exec_type == ExecType.RESTATED:
                restated = self._restated(message, tracked, cl_ord_id)
                if restated is None:
                    return
                before, event = restated
            elif exec_type == ExecType.REJECTED:
                reason = fields.get(f.ORD_REJ_REASON, b"")
                raw_text = fields.get(f.TEXT, b"")
                try:  # inline, as a cancel's answer above
                    text = raw_text.decode() or "rejected by the venue"
                except UnicodeDecodeError:
                    text = self._not_utf8_text(raw_text)
                if tracked.pending and cl_ord_id == tracked.pending:
                    if order.state in _REPLACING:
                        tracked.refused = _refused(tracked.refused, cl_ord_id)
                    tracked.pending = b""
                    refusal = True  # its OrdStatus is about the order, which stays tracked (``_refusal_status``)
                    event = VenueCancelRejected(seq, order.order_id, _ORD_REJ_REASONS.get(reason, "VENUE"), text)
                elif cl_ord_id in tracked.refused:  # a replace refused (or answered) before: refused again
                    self._refused_again(message, cl_ord_id)
                    return
                elif order.state not in _NEW_UNANSWERED:  # acknowledged: the venue killed it (New -> Rejected)
                    named = f"{_ORD_REJ_REASONS.get(reason, 'VENUE')}: {text}"
                    self._rejected_there(message, tracked, "unsolicited ExecutionReport (ExecType 8)", named)
                    return
                else:
                    event = VenueRejected(seq, order.order_id, _ORD_REJ_REASONS.get(reason, "VENUE"), text)
            else:
                tag = f.EXEC_TYPE
                if exec_type not in _DEFINED_EXEC_TYPES:  # not a FIX value (or missing): refused, not dropped unseen
                    if not exec_type:
                        raise _MissingTagError("required tag 150 missing")
                    raise ValueError(f"not an ExecType FIX defines: {exec_type!r}")
                if exec_type in _TRADE_CORRECTIONS:
                    self._trade_correction(message, order.order_id, b"ExecType " + exec_type)
                    return
                self.counters["ignored_exec_reports"] += 1
                return
        except _TagError as bad:
            self._unparseable(message, bad.tag, bad)
            self._resync(tracked, cl_ord_id)
            return
        except KeyError:
            self._unparseable(message, tag, _MissingTagError(f"required tag {tag.decode()} missing"))
            self._resync(tracked, cl_ord_id)
            return
        except ValueError as exc:
            self._unparseable(message, tag, exc)
            self._resync(tracked, cl_ord_id)
            return
        for earlier in before:
            self._emit(earlier)
        self._emit(event)
        if self._probes:
            self._settled_by_report(tracked, seq)
        if refusal:  # a cancel/replace refused: the order is not over unless it ended here (rev49fix)
            self._refusal_status(message, tracked, cl_ord_id, "ExecutionReport (ExecType 8)", ends_on_rejected=False)
        elif fields.get(f.ORD_STATUS, b"") in _TERMINAL_ORD_STATUS:
            self._report_status(message, tracked, cl_ord_id, exec_type, event)

    def _report_status(
        self, message: FixMessage, tracked: _Tracked, cl_ord_id: bytes, exec_type: bytes, event: VenueEvent
    ) -> None:
        """Act on the final OrdStatus (2 / 3 / 4 / 8 / C) of a report applied (not a refusal) (fixfix51).

        OrdStatus is the order's state after the report. An order the report ended here is forgotten (unless a
        request of it is in flight, whose answer is still to come). A fill whose OrdStatus is 4 / C / 3 (an IOC
        partly filled, the rest canceled in the same report) ends the order: ``VenueCanceled`` of the rest (reason
        CANCELED / EXPIRED / DONE_FOR_DAY) after the fill. OrdStatus 8 about an acknowledged order ends it
        (``_rejected_there``). Any other final status the report does not bear out while the order is open here
        (New or Replaced with OrdStatus 2 / 4 / C / 3, a fill short of the quantity with OrdStatus 2) is a
        disagreement, as in a refusal (``_ended_there``): counted, the venue asked. Before fixfix51 the adapter
        forgot the order whatever the core made of the report: the venue's later Canceled was dropped as unknown.
        """
        order = tracked.order
        status = message.fields[f.ORD_STATUS]
        if order.is_terminal or _ends(event, status, message.fields, order):
            if not tracked.pending:
                self._forget(order.order_id)
            return
        if status in _STATUS_CANCELED and exec_type in _FILL_TYPES:
            tracked.pending = b""
            text = self._text(message.fields.get(f.TEXT, b""))
            self._emit(VenueCanceled(message.seq, order.order_id, 0, _STATUS_CANCELED[status], text))
            self._forget(order.order_id)
        elif status == b"8" and order.state not in _NEW_UNANSWERED:
            what = f"ExecutionReport (ExecType {exec_type.decode(errors='replace')})"
            self._rejected_there(message, tracked, what)
        elif not tracked.pending and order.order_id in self._orders:
            what = f"ExecutionReport (ExecType {exec_type.decode(errors='replace')})"
            self._ended_there(message, tracked, cl_ord_id, status, what)

    def _incomplete(self, message: FixMessage, tracked: _Tracked, cl_ord_id: bytes, exec_type: bytes) -> None:
        """Refuse an ExecutionReport without a defined OrdStatus (39), or a fill without Side (54) / Symbol (55).

        FIX requires them (4.2 and 4.4); the adapter acts on OrdStatus and checks a fill against the order by Side
        and Symbol. Session Reject (reason 1, required tag missing; 5, value incorrect, for an OrdStatus FIX does not
        define), counted ``unparseable``, not applied; where the dialect has OrderStatusRequest the venue is asked
        about the order, as after any refused report. Before fixfix51 such a fill was applied, and a status answer
        with an undefined OrdStatus dropped without a word.
        """
        fields = message.fields
        status = fields.get(f.ORD_STATUS)
        exc: ValueError
        if status is None:
            tag, exc = f.ORD_STATUS, _MissingTagError("required tag 39 missing")
        elif status not in _DEFINED_ORD_STATUS:
            tag, exc = f.ORD_STATUS, _ValueIncorrectError(f"not an OrdStatus FIX defines: {status!r}")
        else:
            tag = f.SIDE if f.SIDE not in fields else f.SYMBOL
            exc = _MissingTagError(f"required tag {tag.decode()} missing (ExecType {exec_type!r})")
        self._unparseable(message, tag, exc)
        self._resync(tracked, cl_ord_id)

    def _refused_replace(self, tracked: _Tracked, cl_ord_id: bytes, fields: dict[bytes, bytes]) -> bool:
        """Return True when a Replaced naming ``cl_ord_id`` is for a replace the venue refused before.

        Not the replace in flight nor the ClOrdID the order is known by; one the order keeps as refused
        (``Tracked.refused``), or one whose OrigClOrdID (41) is the ClOrdID the order is known by: the venue applied
        it to the order as the gateway has it, so the gateway never saw it taken (refused, or its answer lost over
        a restart, which keeps no refused ClOrdID).
        """
        if cl_ord_id in (tracked.pending, tracked.working):
            return False
        return cl_ord_id in tracked.refused or fields.get(f.ORIG_CL_ORD_ID, b"") == tracked.working

    def _refused_again(self, message: FixMessage, cl_ord_id: bytes) -> None:
        """Count and log a refusal of a replace refused or answered before (its answer came already): ignored."""
        self.counters["ignored_exec_reports"] += 1
        self._rare(
            "refusedagain",
            "%s (MsgSeqNum %d) refusing replace %r, which the order was answered about already: ignored",
            message.msg_type.decode(errors="replace"),
            message.seq,
            cl_ord_id.decode(errors="replace"),
        )

    def _replaced_after_reject(self, message: FixMessage, tracked: _Tracked, cl_ord_id: bytes) -> None:
        """The venue reports Replaced for a replace it refused before (OrderCancelReject): its word wins.

        The fill its CumQty shows beyond the count comes first (at AvgPx). An open order then takes the replace's
        quantity (OrderQty, else CumQty + LeavesQty), price and open quantity, and is known by its ClOrdID from now
        on (``VenueReplaced.late_qty``: the strategy gets Replaced after the CancelRejected, risk counts what is
        open at the venue), as BOE does for an Order Modified after its Modify was reported refused. A replace of
        the strategy's in flight meanwhile named the ClOrdID the venue no longer has: it is answered refused first
        (``VenueCancelRejected`` code ``FIX_REPLACED_EARLIER``; the venue's own answer to it, later, is ignored, and
        should the venue apply it after all, its Replaced is taken the same way). An order that cannot take it
        (ended here, nothing open, a LeavesQty above OrderQty less CumQty, or a question out about the replace in
        flight) keeps the gateway's terms; if the venue shows some of it open, the ClOrdID is canceled there
        (``_live_after_end``): for an order still open here that is the order itself, whose Canceled then ends
        it here (the strategy gets Canceled, which answers a replace in flight too); so is one the answer to the
        replace in flight ended (a fill had reached its quantity, kept open only for that replace). Counted
        (``replaced_after_reject``) and logged at ERROR.
        """
        order = tracked.order
        order_id = order.order_id
        fields = message.fields
        seq = message.seq
        tag = f.LEAVES_QTY
        try:
            leaves = _qty(fields[tag])
            tag = f.PRICE
            price = _price(fields[tag]) if tag in fields else order.price
            cum, fill = _fill_beyond(fields, seq, order)
            tag = f.ORDER_QTY
            total = _qty(fields[tag]) if tag in fields else max(cum, order.cum_qty) + leaves
        except _TagError as bad:
            self._unparseable(message, bad.tag, bad)
            return
        except KeyError:
            self._unparseable(message, tag, _MissingTagError(f"required tag {tag.decode()} missing"))
            return
        except ValueError as exc:
            self._unparseable(message, tag, exc)
            return
        self.counters["replaced_after_reject"] += 1
        # a replace the gateway saw refused, or (after a stop that may have cut the journal's tail) one whose
        # records the journal may have lost: sent, answered Replaced, then lost (fixjournal59)
        before = (
            "which the venue refused before"
            if cl_ord_id in tracked.refused or not self._tail_may_be_lost
            else "which the venue refused before, or whose records the journal lost with its tail"
        )
        if cl_ord_id in tracked.refused:
            tracked.refused = tuple(ref for ref in tracked.refused if ref != cl_ord_id)
        for executed in fill:
            self._emit(executed)
        executed_qty = max(cum, order.cum_qty)
        fits = not order.is_terminal and 0 < leaves <= total - executed_qty
        superseded = b""
        if fits and order.state in _REPLACING and tracked.pending and order_id not in self._probes:
            superseded = tracked.pending
        applicable = fits and (bool(superseded) or order.state not in _REPLACING)
        if superseded:
            outcome = f"applied here (the venue's terms); the replace {superseded.decode(errors='replace')!r} in "
            outcome += "flight named the ClOrdID the venue replaced: answered refused (FIX_REPLACED_EARLIER)"
        elif applicable:
            outcome = "applied here (the venue's terms)"
        elif leaves > 0 and not order.is_terminal:
            outcome = f"the order ({order.state.name}) cannot take it here: canceling the order there"
        elif leaves > 0:
            outcome = "the order ended here: canceling it there"
        else:
            outcome = "nothing open there: the order keeps its terms here"
        log.error(
            "FIX %s: order %d: Replaced (MsgSeqNum %d) for replace %r, %s: OrderQty %d, price %d, %d open there (%d "
            "executed); %s",
            self.name,
            order_id,
            seq,
            cl_ord_id.decode(errors="replace"),
            before,
            total,
            price,
            leaves,
            executed_qty,
            outcome,
        )
        if applicable:
            tracked.working = cl_ord_id  # before the answer below: a cancel the core held behind it names it
            if superseded:
                tracked.pending = b""
                tracked.refused = _refused(tracked.refused, superseded)
                text = f"the venue applied the earlier replace {cl_ord_id.decode(errors='replace')}, refused before; "
                text += "this replace named the ClOrdID it replaced"
                self._emit(VenueCancelRejected(seq, order_id, "FIX_REPLACED_EARLIER", text))
                if order.is_terminal:  # it ended it FILLED (open only for the replace in flight): cancel it there
                    self._live_after_end(message, cl_ord_id, order)
                    return
            venue_order_id = fields.get(f.ORDER_ID, b"").decode()
            late = cl_ord_id.decode()
            self._emit(VenueReplaced(seq, order_id, leaves, price, venue_order_id, late_qty=total, late_ref=late))
            return
        if leaves > 0:
            self._live_after_end(message, cl_ord_id, order)

    def _restated(
        self, message: FixMessage, tracked: _Tracked, cl_ord_id: bytes
    ) -> tuple[tuple[VenueEvent, ...], VenueEvent] | None:
        """Return what a Restated report (ExecType D) changes: fills first, then a cut of the open quantity.

        What the venue has open is LeavesQty (151), else OrderQty (38) less CumQty. Fills its CumQty (14) shows
        beyond the order's count come first, as for a cancel. Less open than the order then has is canceled
        (``VenueCanceled`` reason ``RESTATED``, the report's Text; all of it at LeavesQty 0) and logged at WARNING.
        More open than the order has (the venue raised it) cannot be applied: counted
        (``restatements_not_applied``) and logged at ERROR, for ops to reconcile with the venue. A restatement
        that changes neither (a price, a time in force) is counted in ``ignored_exec_reports``: None.
        While a replace is in flight the report is judged on the terms it is about: the replace's when it names
        the replace's ClOrdID or its OrderQty is the replace's (not the order's), the order's current ones
        otherwise (what a fill kept open for the replace is not theirs: see ``_restated_replacing``).
        Raise ``_TagError`` naming a quantity that does not parse.
        """
        order = tracked.order
        fields = message.fields
        seq = message.seq
        before: tuple[VenueEvent, ...] = ()
        if f.CUM_QTY in fields:
            _, before = _fill_beyond(fields, seq, order)
            for executed in before:
                if isinstance(executed, VenueExecuted):
                    self._fills_from_cum_qty(message, order, executed)
        executed_qty = sum(e.qty for e in before if isinstance(e, VenueExecuted))
        tag = f.LEAVES_QTY if f.LEAVES_QTY in fields else f.ORDER_QTY
        try:
            if tag in fields:
                leaves = _qty(fields[tag])
                if tag == f.ORDER_QTY:
                    leaves = max(leaves - order.cum_qty - executed_qty, 0)
            else:
                leaves = -1
        except ValueError as exc:
            raise _TagError(tag, str(exc)) from None
        open_now = max(order.leaves_qty - executed_qty, 0)
        if order.state in _REPLACING and order.pending_qty > 0:
            judged = self._restated_replacing(message, tracked, cl_ord_id, leaves, order.cum_qty + executed_qty)
            if judged is None:  # about the replace's terms: its answer settles what is open
                if not before:
                    self.counters["ignored_exec_reports"] += 1
                    return None
                return before[:-1], before[-1]
            open_now = max(judged - executed_qty, 0)
        if 0 <= leaves < open_now:
            text = self._text(fields.get(f.TEXT, b"")) or "restated by the venue"
            self._rare(
                "restated",
                "order %d: Restated (MsgSeqNum %d, ExecRestatementReason %r) leaves %d of its %d open: %d canceled",
                order.order_id,
                seq,
                fields.get(f.EXEC_RESTATEMENT_REASON, b"").decode(errors="replace"),
                leaves,
                open_now,
                open_now - leaves,
            )
            return before, VenueCanceled(seq, order.order_id, open_now - leaves if leaves else 0, "RESTATED", text)
        if leaves > open_now:
            self.counters["restatements_not_applied"] += 1
            self._rarelog.log(
                "restated-up",
                self.clock(),
                logging.ERROR,
                "FIX %s: order %d: Restated (MsgSeqNum %d) says %d open, the gateway has %d: not applied (risk "
                "counts %d): reconcile it with the venue",
                self.name,
                order.order_id,
                seq,
                leaves,
                open_now,
                max(open_now, order.pending_qty - order.cum_qty - executed_qty),
            )
        if not before:
            self.counters["ignored_exec_reports"] += 1
            return None
        return before[:-1], before[-1]

    def _restated_replacing(
        self, message: FixMessage, tracked: _Tracked, cl_ord_id: bytes, leaves: int, cum: int
    ) -> int | None:
        """Return the open quantity a Restated arriving while a replace is in flight is measured against.

        A report naming the replace's ClOrdID, or whose OrderQty (38) is the replace's and not the order's, is
        about the replace's terms: None (nothing is cut: the replace's answer, Replaced or refused, settles what
        is open), logged at WARNING; unless it shows more open than even the replace leaves (``pending_qty`` less
        ``cum``, this report's fills included), which is counted and logged as not applied. Any other is about
        the order's current terms: what they leave open before this report's fills, ``leaves_qty``, or 0 when a
        fill reaching them kept the order open for the replace (``leaves_qty`` above ``qty`` less ``cum_qty``).
        """
        order = tracked.order
        fields = message.fields
        pending_qty = order.pending_qty
        try:
            report_qty = _qty(fields[f.ORDER_QTY]) if f.ORDER_QTY in fields else order.qty
        except ValueError as exc:
            raise _TagError(f.ORDER_QTY, str(exc)) from None
        if cl_ord_id != tracked.pending and (report_qty != pending_qty or report_qty == order.qty):
            leaves_now = order.leaves_qty
            return leaves_now if leaves_now <= order.qty - order.cum_qty else 0
        replace_open = max(pending_qty - cum, 0)
        if leaves > replace_open:
            self.counters["restatements_not_applied"] += 1
            self._rarelog.log(
                "restated-up",
                self.clock(),
                logging.ERROR,
                "FIX %s: order %d: Restated (MsgSeqNum %d) says %d open, the replace in flight leaves %d: not "
                "applied (risk counts %d): reconcile it with the venue",
                self.name,
                order.order_id,
                message.seq,
                leaves,
                replace_open,
                max(order.leaves_qty, replace_open),
            )
        else:
            self._rare(
                "restated-replace",
                "order %d: Restated (MsgSeqNum %d) of the replace in flight (OrderQty %d, %d open): nothing cut, "
                "the replace's answer settles it",
                order.order_id,
                message.seq,
                report_qty,
                leaves,
            )
        return None

    def _not_yet_counted(self, message: FixMessage, cum_raw: bytes, qty: int, order: Order, exec_id: str) -> int:
        """Return the part of a fill of ``qty`` the order has not counted yet, by the report's CumQty (14).

        CumQty is what the venue has executed of the order, this fill included: what the order has counted
        beyond ``CumQty - qty`` came from this fill by another way (a status answer's fill, which has no
        ExecID, or an earlier copy), so only the rest is new; 0 (nothing new) is the core's to count as a
        repeated fill (``gateway.venue_apply.is_repeated_fill``). A CumQty that does not parse, or that is
        below the fill itself (not a cumulative quantity), says nothing: the fill is ``qty``, checked by
        ExecID alone.
        """
        try:
            cum = _qty(cum_raw)
        except ValueError:
            return qty
        new = cum - order.cum_qty
        if new >= qty or cum < qty:  # the common case: CumQty rose by LastQty
            return qty
        if new > 0:
            self.counters["fills_partly_counted"] += 1
            self._rare(
                "partly-counted",
                "fill %r of order %d (MsgSeqNum %d): LastQty %d, CumQty %d, already counted %d: %d applied",
                exec_id,
                order.order_id,
                message.seq,
                qty,
                cum,
                order.cum_qty,
                new,
            )
            return new
        return 0

    def _missing_fills(
        self, message: FixMessage, cum_raw: bytes, qty: int, order: Order, avg_px: bytes | None, last_px: int
    ) -> tuple[VenueEvent, ...]:
        """Return the fill a report's CumQty shows beyond the order's count and this fill of ``qty`` (none: ``()``).

        CumQty rising by more than LastQty means fills the gateway never received (lost with a numbering
        reset): that quantity is reported first, at AvgPx (LastPx when AvgPx is absent or unreadable), with
        no ExecID, as a status answer's fill is; counted (``fills_from_cum_qty``) and logged at ERROR. A
        CumQty that does not parse or is below the fill itself says nothing (see ``_not_yet_counted``).
        """
        try:
            cum = _qty(cum_raw)
        except ValueError:
            return ()
        missing = cum - order.cum_qty - qty
        if missing <= 0 or cum < qty:
            return ()
        try:
            price = _price(avg_px) if avg_px else last_px
        except ValueError:
            price = last_px
        executed = VenueExecuted(message.seq, order.order_id, missing, price, "", "", order.state in _REPLACING)
        self._fills_from_cum_qty(message, order, executed)
        return (executed,)

    def _fills_from_cum_qty(self, message: FixMessage, order: Order, executed: VenueExecuted) -> None:
        """Count and log (ERROR, at most once per 10 s) a fill taken from a report's CumQty, not from its own report."""
        self.counters["fills_from_cum_qty"] += 1
        self._rarelog.log(
            "cum-qty-fill",
            self.clock(),
            logging.ERROR,
            "FIX %s: order %d: MsgSeqNum %d (ExecType %s) has CumQty %s, the order counted %d: "
            "%d executed without a report the gateway received (lost with a reset?), applied at %d",
            self.name,
            order.order_id,
            message.seq,
            message.get(f.EXEC_TYPE).decode(errors="replace"),
            message.get(f.CUM_QTY).decode(errors="replace"),
            order.cum_qty,
            executed.qty,
            executed.price,
        )

    def _mismatched(
        self, message: FixMessage, tracked: _Tracked, cl_ord_id: bytes, side: bytes | None, symbol: bytes | None
    ) -> None:
        """Refuse a report whose Side (54) or Symbol (55) is not the order's (``_mismatch_refused``).

        Where the dialect has OrderStatusRequest the venue is then asked about the order.
        """
        self._mismatch_refused(message, tracked.order, cl_ord_id, side, symbol)
        self._resync(tracked, cl_ord_id)

    def _same_account(self, account: bytes, order: Order) -> bool:
        """Return True when a report's Account (1) is the one the order went out with (or none was sent)."""
        chunk = self.templates.account_field(order.account)
        return not chunk or account == chunk[2:-1]  # b"1=<value>\x01"

    def _mismatch_refused(
        self,
        message: FixMessage,
        order: Order,
        cl_ord_id: bytes,
        side: bytes | None,
        symbol: bytes | None,
        *,
        wrong_account: bool = False,
    ) -> None:
        """Refuse a report whose Side (54), Symbol (55) or Account (1) is not the order's: not applied, ERROR log.

        Answered with a session Reject (reason 5, value incorrect, RefTagID 54, 55 or 1) and counted
        (``mismatched_reports``). Account is checked for a fill of an order no longer tracked only.
        """
        self.counters["mismatched_reports"] += 1
        if side is not None and not _same_side(side, self.templates.sides[order.side]):
            tag = f.SIDE
        elif wrong_account:
            tag = f.ACCOUNT
        else:
            tag = f.SYMBOL
        text = f"tag {tag.decode()}: {message.get(tag).decode(errors='replace')!r} is not the order's"
        self._rarelog.log(
            "mismatched",
            self.clock(),
            logging.ERROR,
            "FIX %s: MsgSeqNum %d for order %d (ClOrdID %r, %s %s) refused, not applied: %s",
            self.name,
            message.seq,
            order.order_id,
            cl_ord_id,
            order.side.name,
            order.symbol,
            text,
        )
        self.session.send_reject(
            message.seq,
            SessionRejectReason.VALUE_INCORRECT,
            text,
            self.clock(),
            ref_tag=int(tag),
            ref_msg_type=message.msg_type,
        )

    def _trade_correction(self, message: FixMessage, order_id: int, what: bytes) -> None:
        """Count and log a trade correction or bust (4.4 ExecType G / H, 4.2 ExecTransType 1 / 2): not applied."""
        self.counters["ignored_exec_reports"] += 1
        self._rare(
            "exectrans",
            "%s (trade correction/cancel) for order %d, ExecRefID %r, MsgSeqNum %d: not applied",
            what.decode(errors="replace"),
            order_id,
            message.get(f.EXEC_REF_ID),
            message.seq,
        )

    def _check_required(self, message: FixMessage) -> None:
        for tag in self._required_tags:
            if tag not in message.fields:
                self.counters["missing_required_tags"] += 1
                self._rare("required", "ExecutionReport %d lacks tag %s", message.seq, tag.decode())

    def _on_cancel_reject(self, message: FixMessage) -> None:
        cl_ord_id = message.get(f.CL_ORD_ID)
        tracked = self._lookup(cl_ord_id)
        if tracked is None:
            if not self._cancel_reject_after_end(message, cl_ord_id):
                self._unknown(message, cl_ord_id)
            return
        probe = self._probes.get(tracked.order.order_id) if self._probes else None
        if probe is not None and not probe.by_status and _asked_by(probe, cl_ord_id):  # our asking cancel
            if message.get(f.CXL_REJ_REASON) == b"1":
                self._answered(tracked, probe, message.seq, known=False)
            else:
                self._asking_cancel_refused(message, tracked, probe)
            return
        if cl_ord_id != tracked.pending and cl_ord_id in self._asking_refs.get(tracked.order.order_id, ()):
            # the other answer to a question asked twice (before and after a numbering reset): the first settled
            # it; this one is not about the strategy's cancel (rev44diff)
            self.counters["ignored_exec_reports"] += 1
            self._rare(
                "askedtwice",
                "OrderCancelReject for %s (MsgSeqNum %d): an asking cancel whose question is settled: ignored",
                cl_ord_id.decode(errors="replace"),
                message.seq,
            )
            return
        reason = message.get(f.CXL_REJ_REASON)
        text = self._text(message.get(f.TEXT)) or "cancel/replace refused by the venue"
        order = tracked.order
        if cl_ord_id == tracked.pending:
            if order.state in _REPLACING:
                tracked.refused = _refused(tracked.refused, cl_ord_id)
            tracked.pending = b""
        elif self._late_cancels and self._late_answered(cl_ord_id):  # _live_after_end's cancel of the order
            log.error(
                "FIX %s: the venue refused (OrderCancelReject MsgSeqNum %d: %s) the cancel %r of order %d, which it "
                "showed working on terms the order could not take: it may still work there; ask the venue desk",
                self.name,
                message.seq,
                text,
                cl_ord_id.decode(errors="replace"),
                order.order_id,
            )
            return
        elif cl_ord_id in tracked.refused:  # a replace refused (or answered) before: nothing for the strategy
            self._refused_again(message, cl_ord_id)
            return
        self._emit(VenueCancelRejected(message.seq, order.order_id, _CXL_REJ_REASONS.get(reason, "VENUE"), text))
        if self._probes:
            self._settled_by_report(tracked, message.seq)
        named = _CXL_REJ_REASONS.get(reason, "VENUE")
        self._refusal_status(message, tracked, cl_ord_id, "OrderCancelReject", ends_on_rejected=True, named=named)

    def _refusal_status(
        self,
        message: FixMessage,
        tracked: _Tracked,
        cl_ord_id: bytes,
        what: str,
        *,
        ends_on_rejected: bool,
        named: str = "",
    ) -> None:
        """Act on the OrdStatus (39) of a refusal of the order's cancel/replace (answered already: the refusal's event).

        The refusal leaves the order open: it stays tracked (its ClOrdID chain, its count of requests, so the next
        cancel/replace gets a ClOrdID of its own and the venue's later reports reach it) unless it ended here.
        OrdStatus 2 / 4 / C / 3 says the order is over there while it is open here (``_ended_there``: asked about
        where the dialect has OrderStatusRequest, else logged at ERROR to reconcile). OrdStatus 8 in an
        OrderCancelReject (``ends_on_rejected``) about an acknowledged order says the venue does not have it: it
        ends here (``_rejected_there``); in an ExecutionReport ExecType 8 (where OrdStatus 8 may be the refused
        request's) and about an order never acknowledged (its own answer is still to come) it is as 2 / 4 / C / 3.
        Before rev49fix an ExecutionReport refusal with any of them, and an OrderCancelReject with 8 about an order
        never acknowledged, made the adapter forget the order the core kept open.
        """
        status = message.get(f.ORD_STATUS)
        if status not in _TERMINAL_ORD_STATUS:
            return
        order = tracked.order
        if order.is_terminal:
            self._forget(order.order_id)
        elif status == b"8" and ends_on_rejected and order.state not in _NEW_UNANSWERED:
            self._rejected_there(message, tracked, what, named)  # the venue no longer has it: it works nowhere
        elif order.order_id in self._orders:
            self._ended_there(message, tracked, cl_ord_id, status, what)

    def _cancel_reject_after_end(self, message: FixMessage, cl_ord_id: bytes) -> bool:
        """Pass on an OrderCancelReject for an order that has ended here; False if it names none.

        A cancel sent again under a new ClOrdID (gap-filled on the venue's resend request, or after a
        numbering reset) is answered twice when the venue had the first: the first answer ends the order,
        the second (too late, unknown order) comes after it. So does the answer to a cancel that crossed the
        order's fill. The ClOrdID names the order id; an order of this venue that has ended here (among the
        last ``ENDED_KEPT``, or the engine's, ``order_source``) gets the ``VenueCancelRejected``, which the
        core counts out of place (``venue_events_out_of_place``), not as an order the journal lacks.
        """
        ended = self._ended_order(cl_ord_id)
        if ended is None:
            return False
        reason = message.get(f.CXL_REJ_REASON)
        text = self._text(message.get(f.TEXT)) or "cancel/replace refused by the venue"
        orig = self._late_answered(cl_ord_id)
        if orig:
            log.error(
                "FIX %s: the venue refused (OrderCancelReject MsgSeqNum %d: %s) the cancel %r of order %d, which it "
                "showed live as ClOrdID %r after the order ended here: it may still work there; ask the venue desk",
                self.name,
                message.seq,
                text,
                cl_ord_id.decode(errors="replace"),
                ended.order_id,
                orig.decode(errors="replace"),
            )
        self._emit(VenueCancelRejected(message.seq, ended.order_id, _CXL_REJ_REASONS.get(reason, "VENUE"), text))
        return True

    def _ended_order(self, cl_ord_id: bytes) -> Order | None:
        """Return the order ``cl_ord_id`` names if it has ended here (None: not ours, open, or another day's).

        Among the last ``ENDED_KEPT`` orders ended here, or, attached to an engine, the engine's (``order_source``:
        from memory, or read back from the journal if memory released it).
        """
        order_id = self._order_id(cl_ord_id)
        if order_id < 0:
            return None
        source = self.order_source
        ended = self._ended.get(order_id) if source is None else source(order_id, "")
        if ended is None or not ended.is_terminal:
            return None
        if not self._of_day(cl_ord_id, ended.venue_ref.encode()):
            return None  # the same order id of another day (a new journal restarted the ids): not this order
        return ended

    def _report_after_end(self, message: FixMessage, cl_ord_id: bytes) -> bool:
        """Act on a report (not a fill) about an order that ended here; False if ``cl_ord_id`` names none.

        The venue's word comes after the order's end here: an acknowledgment of an order ended REJECTED (after a
        BusinessMessageReject), a second Canceled of an order canceled here, the answer to a cancel sent again.
        A New, Canceled (Expired, DoneForDay) or Rejected goes to the order as its event, which the ended order
        cannot take: counted out of place by the core (``venue_events_out_of_place``, its WARNING line), not as
        an order the journal lacks. The rest (pending, replaced, restated; a trade correction or bust, logged as
        for an open order) is counted ``ignored_exec_reports``. A New, Replaced or Restated that shows the order
        working at the venue is also canceled there (``_live_after_end``), unless it is resent (PossDupFlag=Y) or a
        possible copy (PossResend=Y): after a crash between the journal write and the inbound commit the venue
        resends the New and then the report that ended the order, so a resent New is the past, not a live order.
        A report whose Side or Symbol is not the order's is not about it: False (unknown).
        """
        fields = message.fields
        exec_type = fields.get(f.EXEC_TYPE, b"")
        trans_type = fields.get(f.EXEC_TRANS_TYPE, b"0")
        if exec_type in _FILL_TYPES and trans_type == b"0":
            return False  # a fill ``_forgotten_fill`` could not place: unknown
        ended = self._ended_order(cl_ord_id)
        if ended is None:
            return False
        side = fields.get(f.SIDE)
        symbol = fields.get(f.SYMBOL)
        if (side is not None and not _same_side(side, self.templates.sides[ended.side])) or (
            symbol is not None and symbol != ended.symbol.encode()
        ):
            return False  # not a report of this order (its ClOrdID aside): unknown
        seq = message.seq
        order_id = ended.order_id
        if trans_type != b"0" or exec_type in _TRADE_CORRECTIONS:
            self._trade_correction(message, order_id, b"ExecTransType " + trans_type + b", ExecType " + exec_type)
            return True
        text = self._text(fields.get(f.TEXT, b""))
        if (
            exec_type in _LIVE_TYPES
            and fields.get(f.ORD_STATUS, b"") not in _TERMINAL_ORD_STATUS
            and fields.get(f.LEAVES_QTY, b"1").strip(b"0.") != b""
            and fields.get(f.POSS_DUP_FLAG) != b"Y"  # a resend repeats the past: the report that ended it follows
            and fields.get(f.POSS_RESEND) != b"Y"  # a copy of a report already sent under another number
        ):
            self._live_after_end(message, cl_ord_id, ended)
        if exec_type == ExecType.NEW:
            self._emit(_VenueAccepted(seq, order_id, fields.get(f.ORDER_ID, b"").decode(errors="replace"), 0, 0))
        elif exec_type in _CANCEL_TYPES:
            if self._late_cancels and self._late_cancels.pop(cl_ord_id, None) is None:  # the canceled ClOrdID
                self._late_answered(cl_ord_id)  # or the cancel's own
            self._emit(VenueCanceled(seq, order_id, 0, _CANCEL_TYPES[exec_type], text))
        elif exec_type == ExecType.REJECTED:
            reason = _ORD_REJ_REASONS.get(fields.get(f.ORD_REJ_REASON, b""), "VENUE")
            self._emit(VenueRejected(seq, order_id, reason, text or "rejected by the venue"))
        else:
            self.counters["ignored_exec_reports"] += 1
        return True

    def _live_after_end(self, message: FixMessage, cl_ord_id: bytes, order: Order) -> None:
        """The venue shows ``order``, ended here, working as ``cl_ord_id``: cancel it there now; log it at ERROR.

        Nothing may work at the venue that the gateway does not track: risk no longer counts its open quantity
        and no strategy can cancel it (a fill of it is still applied, as a late fill). Also for an order open here
        that cannot take a replace the venue refused and applied anyway (``_replaced_after_reject``): the cancel
        is of the order itself there, and its Canceled ends it here. An OrderCancelRequest
        naming ``cl_ord_id`` goes out under a ClOrdID of its own (``<prefix><day><order id>-<start>.L<n>``) and is
        replayed on the venue's resend request until the venue answers it (a Canceled, or an OrderCancelReject:
        logged at ERROR). Counted (``counters["live_after_end"]``, metric
        ``gateway_venue_orders_live_after_end_total``) once per ClOrdID the venue shows live.
        """
        late = self._late_cancels
        if cl_ord_id in late:  # being canceled already: the venue said more about it
            return
        counters = self.counters
        counters["live_after_end"] += 1
        now = self.clock()
        session = self.session
        seq = session.next_sender_seq
        ref = b"%b%d%bL%b" % (self._base, order.order_id, self._suffix, base36(counters["live_after_end"]).encode())
        why = ""
        if len(ref) > self.dialect.orders.cl_ord_id_max_length:
            why = f"its ClOrdID would be longer than {self.dialect.orders.cl_ord_id_max_length}"
        else:
            raw = self.templates.cancel(seq, session.sending_time(now), cl_ord_id, ref, order)
            refused = self._store(seq, raw, now, order)
            if refused is not None:
                why = refused.text
            else:
                if len(late) >= ENDED_KEPT:
                    del late[next(iter(late))]
                late[cl_ord_id] = ref
                counters["cancels_sent"] += 1
        log.error(
            "FIX %s: ExecutionReport (ExecType %s, MsgSeqNum %d) shows order %d working at the venue as ClOrdID %r, "
            "but the order %s; %s (%d such orders so far): check with the venue desk that it is gone and whether it "
            "traded",
            self.name,
            message.fields.get(f.EXEC_TYPE, b"").decode(errors="replace"),
            message.seq,
            order.order_id,
            cl_ord_id.decode(errors="replace"),
            f"ended here {order.state.name}: risk no longer counts it and no strategy can cancel it"
            if order.is_terminal
            else f"is {order.state.name} here on terms it cannot take from that report (a replace the venue refused, "
            "applied anyway): its Canceled ends the order here",
            f"NOT canceled there ({why}): have the venue desk cancel it now"
            if why
            else f"canceling it at the venue (OrderCancelRequest ClOrdID {ref.decode()!r})",
            counters["live_after_end"],
        )

    def _late_answered(self, cl_ord_id: bytes) -> bytes:
        """Forget the cancel ``_live_after_end`` sent as ``cl_ord_id`` (answered); return the ClOrdID it canceled."""
        late = self._late_cancels
        if not late:
            return b""
        for orig, ref in late.items():
            if ref == cl_ord_id:
                del late[orig]
                return orig
        return b""

    def _ended_there(
        self, message: FixMessage, tracked: _Tracked, cl_ord_id: bytes, status: bytes, what: str = "OrderCancelReject"
    ) -> None:
        """A refusal of its cancel/replace (``what``) says the order is over (OrdStatus 2 / 4 / C / 3, or 8 where it
        does not end it: ``_refusal_status``) while it is open here.

        Counted (``status_disagreements``) and kept tracked: where the dialect has OrderStatusRequest the venue
        is asked about it (its answer reports the fill or the end the gateway lacks), logged at WARNING; otherwise
        logged at ERROR for ops to reconcile with the venue.
        """
        order = tracked.order
        self.counters["status_disagreements"] += 1
        asking = bool(self.dialect.orders.status_request) and order.order_id not in self._probes
        self._rarelog.log(
            "ended-there",
            self.clock(),
            logging.WARNING if asking else logging.ERROR,
            "FIX %s: order %d: %s (MsgSeqNum %d) says OrdStatus %s, the gateway has it %s with cum %d, %d open: %s",
            self.name,
            order.order_id,
            what,
            message.seq,
            status.decode(errors="replace"),
            order.state.name,
            order.cum_qty,
            order.leaves_qty,
            "asking the venue (OrderStatusRequest)" if asking else "reconcile it with the venue",
        )
        self._resync(tracked, cl_ord_id)

    def _asking_cancel_refused(self, message: FixMessage, tracked: _Tracked, probe: _Probe) -> None:
        """The venue refused our asking cancel but knows the request asked about: settle it by OrdStatus (39).

        An ExecutionReport (Rejected) carries CumQty: what it shows beyond the order's count is reported at
        AvgPx, then the order's end (OrdStatus 4 / C / 3) or its acceptance. An OrderCancelReject carries no
        CumQty nor price, so a fill it implies cannot be applied. The safe side: a new order still unanswered
        is reported accepted (``VenueAccepted``, the strategy gets OrderAccepted) and stays open in full, so
        risk keeps counting all of it; unless OrdStatus is 0 (New) or A (Pending New), which say nothing was
        executed, that is counted (``fills_unknown``) and logged at ERROR for ops to reconcile with the venue.
        OrdStatus 8 (Rejected): ``VenueRejected``, nothing executed. A replace asked about is answered refused
        (``VenueCancelRejected``, the venue's reason and Text): the order keeps its terms, after the fill the
        report's CumQty shows (which may end it FILLED); an ExecutionReport whose OrdStatus says it ended
        (4 / C / 3) cancels it instead. Without a CumQty, fills OrdStatus implies are counted and logged as for
        a new order.
        """
        order = tracked.order
        order_id = order.order_id
        seq = message.seq
        status = message.get(f.ORD_STATUS)
        events: tuple[VenueEvent, ...] = ()
        with_cum = message.msg_type == MsgType.EXECUTION_REPORT and f.CUM_QTY in message.fields
        if probe.about is RequestKind.NEW and order.state in _NEW_UNANSWERED:
            if status == b"8":
                text = self._text(message.get(f.TEXT)) or "the venue says the order was rejected"
                self._answered(tracked, probe, seq, known=True, events=(VenueRejected(seq, order_id, "VENUE", text),))
                self._forget(order_id)
                return
            with_cum, fill = self._fill_from_cum(message, order, with_cum)
            if with_cum and status in _STATUS_CANCELED:
                events = (*fill, VenueCanceled(seq, order_id, 0, _STATUS_CANCELED[status], ""))
                self._answered(tracked, probe, seq, known=True, events=events)
                self._forget(order_id)
                return
            venue_order_id = message.get(f.ORDER_ID).decode(errors="replace")
            events = (VenueAccepted(seq, order_id, venue_order_id, order.qty, order.price), *fill)
        elif probe.about is RequestKind.NEW or tracked.pending != probe.ref:
            self._answered(tracked, probe, seq, known=True)  # answered meanwhile: its reports told
            return
        else:
            with_cum, events = self._replace_refused(message, tracked, probe.ref, status, with_cum)
            if events and isinstance(events[-1], VenueCanceled):
                self._answered(tracked, probe, seq, known=True, events=events)
                self._forget(order_id)
                return
        if status not in (b"0", b"A") and not with_cum:
            self.counters["fills_unknown"] += 1
            log.error(
                "FIX %s: order %d: the venue refused the gateway's asking cancel %r of %s %r with OrdStatus %r "
                "(MsgSeqNum %d): it may have executed some of it, which an OrderCancelReject does not say; "
                "the order stays open in full (risk counts all of it): reconcile it with the venue",
                self.name,
                order_id,
                message.get(f.CL_ORD_ID).decode(errors="replace"),
                "new order" if probe.about is RequestKind.NEW else "replace",
                probe.ref.decode(errors="replace"),
                status.decode(errors="replace"),
                seq,
            )
        self._answered(tracked, probe, seq, known=True, events=events)
        if order.is_terminal:  # a fill the report showed ended it (a replace refused after it)
            self._forget(order_id)

    def _fill_from_cum(self, message: FixMessage, order: Order, with_cum: bool) -> tuple[bool, tuple[VenueEvent, ...]]:
        """Return whether the report's CumQty is usable, and the fill it shows beyond the order's count.

        A CumQty (or the AvgPx it needs) that does not parse rejects the report (a session Reject) and says nothing.
        """
        if not with_cum:
            return False, ()
        try:
            _, fill = _fill_beyond(message.fields, message.seq, order)
        except _TagError as bad:
            self._unparseable(message, bad.tag, bad)
            return False, ()
        return True, fill

    def _replace_refused(
        self, message: FixMessage, tracked: _Tracked, ref: bytes, status: bytes, with_cum: bool
    ) -> tuple[bool, tuple[VenueEvent, ...]]:
        """Return whether CumQty said what executed, and the events answering replace ``ref`` (in doubt, its asking
        cancel refused by the venue): the fill the report's CumQty shows first (none when it does not parse: the
        report is rejected for it, as for a new order), then the order's end (OrdStatus 4 / C / 3 with a CumQty)
        or the replace refused. ``tracked.pending`` is cleared.

        The venue did not say it does not know the replace's ClOrdID, so it may have taken the replace: reported
        refused all the same (the order keeps the terms risk counts), counted (``replaces_maybe_taken``) and logged
        at ERROR for ops to reconcile.
        """
        order = tracked.order
        seq = message.seq
        with_cum, fill = self._fill_from_cum(message, order, with_cum)
        tracked.pending = b""
        if with_cum and status in _STATUS_CANCELED:
            return True, (*fill, VenueCanceled(seq, order.order_id, 0, _STATUS_CANCELED[status], ""))
        if message.msg_type == MsgType.EXECUTION_REPORT:
            code = _ORD_REJ_REASONS.get(message.get(f.ORD_REJ_REASON), "VENUE")
        else:
            code = _CXL_REJ_REASONS.get(message.get(f.CXL_REJ_REASON), "VENUE")
        text = self._text(message.get(f.TEXT)) or "the venue refused the gateway's asking cancel"
        self.counters["replaces_maybe_taken"] += 1
        log.error(
            "FIX %s: order %d: the venue refused the gateway's asking cancel %r of replace %r in doubt (OrdStatus "
            "%r, MsgSeqNum %d) without saying it does not know that ClOrdID: the replace is reported refused and the "
            "order keeps its terms (ClOrdID %r) here, but the venue may have taken it (quantity %d, price %d): "
            "reconcile the order with the venue",
            self.name,
            order.order_id,
            message.get(f.CL_ORD_ID).decode(errors="replace"),
            ref.decode(errors="replace"),
            status.decode(errors="replace"),
            seq,
            tracked.working.decode(errors="replace"),
            order.pending_qty,
            order.pending_price,
        )
        return with_cum, (*fill, VenueCancelRejected(seq, order.order_id, code, text))

    def _on_business_reject(self, message: FixMessage) -> None:
        ref_msg_type = message.get(f.REF_MSG_TYPE)
        code = _reason_code("BUSINESS_REJECT_", message.get(f.BUSINESS_REJECT_REASON))
        text = self._text(message.get(f.TEXT)) or "business message reject"
        ref_id = message.get(f.BUSINESS_REJECT_REF_ID)
        if ref_id and self._lookup(ref_id) is not None:
            self._reject_business(ref_msg_type, ref_id, message.seq, code, text)
            return
        ref_seq = small_number(message.get(f.REF_SEQ_NUM))  # -1: not digits, or too many for int() (fixresend59b)
        if ref_seq >= 0:
            self._reject_stored(ref_seq, message.seq, code, text)
            return
        self._unknown(message, ref_id)

    def _reject_stored(self, ref_seq: int, venue_seq: int, code: str, text: str) -> None:
        """Turn a reject of our message ``ref_seq`` into an order event, if it was an order message."""
        stored = self.session.store.get_sent(ref_seq, ref_seq)
        if not stored:
            return  # an admin message: the session layer logged it
        decoded = FrameDecoder().feed(stored[0][1])
        if decoded and isinstance(decoded[0], FixMessage):
            original = decoded[0]
            self._reject_business(original.msg_type, original.get(f.CL_ORD_ID), venue_seq, code, text)

    def _reject_business(self, msg_type: bytes, cl_ord_id: bytes, venue_seq: int, code: str, text: str) -> None:
        """Emit the order event for a refused D (rejected) or F/G (cancel rejected)."""
        tracked = self._lookup(cl_ord_id)
        if tracked is None:
            return
        order_id = tracked.order.order_id
        probe = self._probes.get(order_id) if self._probes else None
        if probe is not None and self._is_question(tracked, msg_type, cl_ord_id):
            if probe.resync:  # never asked with a cancel: that would end a live order
                del self._probes[order_id]
                if self._replaces_held:
                    self._ask_held(order_id)
            elif probe.by_status and code in _UNSUPPORTED_BY_VENUE:  # no OrderStatusRequest here: ask with a cancel
                del self._probes[order_id]
                self._ask(tracked, probe.about, probe.ref, cancel_too=probe.cancel_too, by_status=False)
            else:  # refused as unknown (some venues answer an unknown order with a Reject)
                self._answered(tracked, probe, venue_seq, known=False)
            return
        if msg_type == MsgType.NEW_ORDER_SINGLE and tracked.order.state not in _NEW_UNANSWERED:
            self._late_reject(tracked, venue_seq, code, text)
        elif msg_type == MsgType.NEW_ORDER_SINGLE:
            self._emit(VenueRejected(venue_seq, order_id, code, text))
            self._forget(order_id)
        elif msg_type in (MsgType.ORDER_CANCEL_REQUEST, MsgType.ORDER_CANCEL_REPLACE_REQUEST):
            if cl_ord_id == tracked.pending:
                tracked.pending = b""
            self._emit(VenueCancelRejected(venue_seq, order_id, code, text))

    def _late_reject(self, tracked: _Tracked, venue_seq: int, code: str, text: str) -> None:
        """A session Reject or BusinessMessageReject of the NewOrderSingle of an order the venue acknowledged.

        The venue's own ExecutionReport said it took the order: a reject of the message that carried it is a
        contradiction, not the order's end (nothing is emitted; the core would not take a reject of an
        acknowledged order). Counted (``status_disagreements``), logged, and where the dialect has
        OrderStatusRequest the venue is asked about the order (its answer ends it if the venue does not have it:
        OrdStatus 8 is ``VenueCanceled`` reason ``REJECTED``); otherwise logged at ERROR to reconcile. Before
        fixfix51 the adapter forgot the order while the core and risk kept it open.
        """
        order = tracked.order
        self.counters["status_disagreements"] += 1
        asking = bool(self.dialect.orders.status_request) and order.order_id not in self._probes
        self._rarelog.log(
            "late-reject",
            self.clock(),
            logging.WARNING if asking else logging.ERROR,
            "FIX %s: order %d: %s (MsgSeqNum %d: %s) of its NewOrderSingle, which the venue acknowledged "
            "(the gateway has it %s with cum %d, %d open): not applied; %s",
            self.name,
            order.order_id,
            code,
            venue_seq,
            text,
            order.state.name,
            order.cum_qty,
            order.leaves_qty,
            "asking the venue (OrderStatusRequest)" if asking else "reconcile it with the venue",
        )
        self._resync(tracked, tracked.working)


def _ends(event: VenueEvent, status: bytes, fields: dict[bytes, bytes], order: Order) -> bool:
    """Return True when ``event`` itself ends the order (the core applies it as it comes; this says so without it).

    Everything open canceled, a reject, a replace leaving nothing open, or a fill report whose OrdStatus 2 its own
    CumQty bears out (the order's quantity reached).
    """
    if isinstance(event, VenueCanceled):
        return event.canceled_qty == 0
    if isinstance(event, VenueRejected):
        return True
    if isinstance(event, VenueReplaced):
        return event.leaves_qty == 0
    if isinstance(event, VenueExecuted) and status == b"2":
        cum = fields.get(f.CUM_QTY, b"")
        if not cum.isdigit():
            return False
        try:
            return int(cum) >= order.qty
        except ValueError:  # more than 4,300 digits: int() refuses them (fixresend59b; no call more per fill)
            return False
    return False


def _refused(refused: tuple[bytes, ...], cl_ord_id: bytes) -> tuple[bytes, ...]:
    """Return ``refused`` with ``cl_ord_id`` (a refused replace) added last, dropping the oldest past the cap."""
    if cl_ord_id in refused:
        return refused
    return (*refused[1 - REFUSED_KEPT :], cl_ord_id) if len(refused) >= REFUSED_KEPT else (*refused, cl_ord_id)


def _asked_by(probe: _Probe, cl_ord_id: bytes) -> bool:
    """Return True when ``cl_ord_id`` is the asking cancel of ``probe`` (or one it replaced)."""
    return cl_ord_id == probe.probe_ref or (bool(probe.earlier) and cl_ord_id in probe.earlier)


def _printable(text: str) -> bool:
    """Return True when ``text`` is printable ASCII (safe inside a FIX field)."""
    return text.isascii() and text.isprintable()


def _same_side(reported: bytes, sent: bytes) -> bool:
    """Return whether a report's Side (54) names the order's side (the sell sides match each other)."""
    return reported == sent or (reported in _SELL_SIDES and sent in _SELL_SIDES)
