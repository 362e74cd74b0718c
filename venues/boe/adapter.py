"""The gateway's Cboe BOE v2 venue: gateway orders in, BOE out, normalised events back.

Mapping (gateway -> BOE, ``docs/venues/boe.md``): ``send_new`` -> New Order under the order's
ClOrdID; ``send_cancel`` -> Cancel Order naming the ClOrdID the order is known by now;
``send_replace`` -> Modify Order (a new ClOrdID, OrigClOrdID = current, OrderQty = the new total,
Price). BOE -> gateway: Order Acknowledgment -> VenueAccepted, Order Rejected -> VenueRejected,
Order Execution -> VenueExecuted, Order Cancelled -> VenueCanceled, Order Modified ->
VenueReplaced, User Modify Rejected / Cancel Rejected -> VenueCancelRejected, Order Restated that
lowers the open quantity -> VenueCanceled of the difference (reason ``RESTATED``); other
restatements and Trade Cancel or Correct are counted and logged (no strategy event exists for
them). Cboe's reason letters become the strategy codes of ``STRATEGY_REASONS``. An Order Execution with
LeavesQty 0 that leaves shares open also cancels the rest (``BOE_LEAVES_ZERO``): Cboe ended the order.
A message Cboe sends again under a new number cannot change an order twice: a Restated applies only to
the ClOrdID the order is known by now, a Modified only to the ClOrdID of the Modify in flight, and an
Acknowledgment of an order already filled or canceled is ignored.

Exactly once: every Cboe message is numbered per matching unit; the core's exactly-once component
decides per unit (``VenueSequence.admit_stream``) and each event carries ``stream_seq(unit,
number)``. After a restart the session logs in with the last number journaled on every unit
(``resume_after``), so Cboe replays exactly what the journal lacks.

A unit whose numbering Cboe restarted under the same session (its Login Response names a highest
number below the last one we received, or refuses the login ``Q``, sequence ahead): Cboe's number
is authoritative, so the unit's messages from 1 on are new ones. The unit gets a new exactly-once
stream, ``unit | n << 8`` for its n-th restart (``_unit_streams``): its events' ``venue_seq`` are
in that stream, so the journal holds the new numbering apart from the old, and a restart resumes
in the newest stream journaled for each unit. Counted in ``numbering_restarts``, logged once per
login (WARNING). The session logs in again from 0 on the unit when Cboe already had messages in its
new numbering (they are replayed). Until the next Replay Complete, a New Order unanswered with
S > L is probed like one with S <= L (below): after a restart L no longer proves Cboe never had it.

Requests after a re-login (the OUCH lesson: never re-send what the venue already has): nothing is
re-sent at login. The replay answers what Cboe processed; only after Replay Complete does the
adapter act on what is still unanswered (``after_replay``), using Cboe's LastReceivedSequenceNumber
L from the Login Response and the SequenceNumber S each request went out with (kept in memory, and
in the journaled venue reference ``<ClOrdID>@<S>`` across a restart):

* S > L: Cboe never received it (spec 2.3.7: unacknowledged orders after Replay Complete are
  unknown to Cboe): re-sent under the same ClOrdID with a new SequenceNumber;
* S <= L: Cboe received it, yet no answer came in the replay. Either its answer was an
  unsequenced reject (matching unit 0, never replayed) lost in the cut, or Cboe has not answered
  it yet (received is not processed: up to 128 messages may be in flight inside Cboe). Silence is
  not a refusal, so the adapter asks Cboe with a request whose answer settles it (``in_doubt``):
  a Cancel or Modify is re-sent (a Cancel cannot cancel twice, a Modify sets absolute quantity
  and price; the answer of the copy Cboe did not need is dropped here). Cboe may answer the copy
  first (refused as a duplicate of the original it still holds: Modify ``D``, Cancel ``J``), so
  the first reject of a copy answers nothing yet (``_hold``): the original's answer settles the
  request (Modified, Cancelled, or its reject), else ``IN_DOUBT_TIMEOUT_NS`` later the held reject
  answers it (a duplicate ``D``: ``BOE_ANSWER_LOST``). A Modified after that is a late answer, applied
  all the same: the order is known by its ClOrdID and takes its size (``late_answers``,
  ``VenueReplaced.late_qty``); one that ended here (or has another Modify in flight) is canceled at Cboe.
  A New Order is *probed* with a Cancel Order of its ClOrdID (``probes``), which Cboe processes
  after the New Order: a late acknowledgment and fills arrive first as usual, the order is then
  canceled (``BOE_ANSWER_LATE``). An order still unacknowledged ``PROBE_TIMEOUT_NS`` after Replay Complete
  (its probe rejected, or unanswered) was never kept by Cboe: reported refused
  (``BOE_ANSWER_LOST``, ``answers_lost``); the wait also covers a Cancel that overtakes its New
  Order inside Cboe. So does a cut during the ``MAX_PROBES``-th probe. Should Cboe acknowledge it
  after all, the adapter cancels it at once (``late_answers``). While the gateway holds its bytes (the journal
  failing: ``hold_output``) the probes have not left: the wait is not counted, and starts at the first ``poll``
  after the hold unless it had begun before it (held54).

An order no longer mapped here (ended before a restart, or released from memory) is named by its ClOrdID: a
message showing it working at Cboe (a late Acknowledgment, a Modified or Restated with shares open, an execution
leaving shares open) has it canceled there at once (``live_after_end``), the Cancel owed on file until Cboe
answers or received it (``_owe_cancel``, ``venues.boe.state``: a crash that loses it leaves it to the next
process); messages that need nothing count as after its end (``after_end``), not unknown.

ClOrdIDs (20 characters): ``<prefix><day><order id>`` for a New Order (``day``: three base-36
digits, days since 2000-01-01, so a GTC order of another day never clashes), and
``<prefix><day><order id>.<start>.<n>`` for a Modify (``start``: this process's start number in
the day from ``venues.boe.state``; ``n``: the order's n-th Modify in this process), unique in the
day across restarts and crashes.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable
from typing import Any, Final

from model.clock import NowNs
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.exactly_once import (
    MAX_OPEN_GAPS,
    STREAM_SHIFT,
    ExactlyOnce,
    ResumePoint,
    UnansweredRequest,
    VenueSequence,
    stream_seq,
)
from model.order import Order, OrderState, repeated_fill
from model.prices import price_text
from model.send_result import BACKPRESSURED, Refused, SendResult, Sent, Verdict
from model.venue_events import (
    EVENT_MAX_PRICE,
    EVENT_MAX_QTY,
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
)
from obs.ratelog import IntervalLog, PowerOfTwoLog, TallyLog, is_power_of_two
from venues.base import LOOKUP_NEVER_CREATED, LOOKUP_UNREADABLE, VenueAdapter, VenueOrder, encode_failed
from venues.boe.codec import (
    ACK_TERMS,
    MESSAGE_NAMES,
    AckCore,
    AckTerms,
    CancelledCore,
    CancelPacker,
    ExecutionCore,
    ModifyPacker,
    NewOrderPacker,
    ReturnDecoder,
    ack_core,
    cancelled_core,
    execution_core,
)
from venues.boe.config import BoeVenueConfig
from venues.boe.errors import DecodeError
from venues.boe.messages import (
    CANCEL_REJECTED,
    MAX_CL_ORD_ID,
    ORDER_ACKNOWLEDGMENT,
    ORDER_CANCELLED,
    ORDER_EXECUTION,
    ORDER_MODIFIED,
    ORDER_REJECTED,
    ORDER_RESTATED,
    RESTATEMENT_REASONS,
    TRADE_CANCEL_OR_CORRECT,
    USER_MODIFY_REJECTED,
    LoginResponse,
    Logout,
    OrderAcknowledgment,
    OrderModified,
    OrderRestated,
    TradeCancelOrCorrect,
    login_refusal_fix,
    reason_text,
)
from venues.boe.messages import CancelRejected as BoeCancelRejected
from venues.boe.messages import OrderRejected as BoeOrderRejected
from venues.boe.messages import UserModifyRejected as BoeUserModifyRejected
from venues.boe.session import BoeClientSession, BoeSessionState, SequenceIssue
from venues.boe.state import (
    ORDER_ID_BLOCK,
    BoeStateError,
    HeldFill,
    correction_change,
    corrections_path,
    corrections_snapshot,
    end_of_day_path,
    ended_over_gaps_path,
    gaps_of_another_day,
    gaps_path,
    held_fills_path,
    load_corrections,
    load_end_of_day,
    load_ended_over_gaps,
    load_gaps,
    load_held_fills,
    load_numbering,
    load_order_ids,
    load_owed,
    next_start,
    order_ids_path,
    owed_cancels_path,
    owed_change,
    owed_snapshot,
    raise_start,
    save_end_of_day,
    save_ended_over_gaps,
    save_gaps,
    save_held_fills,
    save_numbering,
    save_order_ids,
    starts_path,
)
from venues.day_starts import DAY_LEN, EPOCH_DAY, base36
from venues.day_starts import day_code as shared_day_code
from venues.state_log import StateLog

log = logging.getLogger(__name__)

MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000
MAX_QTY: Final = 0xFFFF_FFFF
"""OrderQty is an unsigned 4-byte field."""
MAX_PRICE: Final = (1 << 63) - 1
_CARRIED_QTY: Final = EVENT_MAX_QTY
"""The largest quantity the strategy protocol carries (docs/strategy-protocol.md, section 2)."""
_CARRIED_PRICE: Final = EVENT_MAX_PRICE
"""The largest price the strategy protocol carries (section 2); none is negative (BOE prices are signed)."""
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_MODIFY_ROOM: Final = 6
"""Characters a Modify ClOrdID adds to the order's (``.<start>.<n>``, up to two base-36 digits each)."""
_FORBIDDEN: Final = frozenset(',;|@"')
ORDER_ID_SKIP: Final = 1 << 22
"""How far the order ids move ahead at each unclean stop (``gateway.recovery.ORDER_ID_MARGIN``: 4,194,304)."""

_SIDE: Final = {Side.BUY: b"1", Side.SELL: b"2", Side.SELL_SHORT: b"5", Side.SELL_SHORT_EXEMPT: b"6"}
_ORD_TYPE: Final = {OrderType.LIMIT: b"2", OrderType.MARKET: b"1"}
_TIF: Final = {TimeInForce.DAY: b"0", TimeInForce.GTC: b"1", TimeInForce.IOC: b"3", TimeInForce.FOK: b"4"}
_REPLACING: Final = frozenset({OrderState.PENDING_REPLACE, OrderState.PENDING_REPLACE_HELD_CANCEL})

STRATEGY_REASONS: Final = {
    "A": "ADMINISTRATIVE",
    "C": "CAPACITY_UNDEFINED",
    "D": "DUPLICATE_CLORDID",
    "E": "SWP_SIZE_CUT",
    "F": "FAILED_TO_QUOTE",
    "H": "HALTED",
    "I": "WRONG_DATA_CENTER",
    "J": "TOO_LATE_TO_CANCEL",
    "K": "ORDER_RATE_EXCEEDED",
    "L": "WOULD_LOCK_OR_CROSS",
    "M": "ORDER_EXCEEDS_LIMIT",
    "N": "NO_LIQUIDITY",
    "O": "UNKNOWN_ORDER",
    "P": "FILL_PENDING",
    "Q": "WAITING_FOR_FIRST_TRADE",
    "R": "ROUTING_UNAVAILABLE",
    "S": "SHORT_SALE_PRICE",
    "T": "WOULD_TRADE_THROUGH",
    "U": "USER_REQUESTED",
    "V": "WOULD_WASH",
    "W": "ADD_LIQUIDITY_ONLY",
    "X": "EXPIRED",
    "Y": "UNKNOWN_SYMBOL",
    "Z": "UNFORESEEN",
    "f": "RISK_GROUP_LIMIT",
    "m": "MARKET_ACCESS_RISK_LIMIT",
    "o": "TOO_MANY_OPEN_ORDERS",
    "r": "RESERVE_RELOAD",
    "s": "RISK_ROOT_LIMIT",
    "u": "LIMIT_UP_LIMIT_DOWN",
    "w": "WOULD_REMOVE_ON_UNSLIDE",
    "x": "CROSSED_MARKET",
    "y": "REPLAY_IN_PROGRESS",
}
"""Cboe reason letter (reject, cancel, cancel reject, modify reject) -> the code a strategy receives."""
UNKNOWN_REASON: Final = "VENUE"
"""The code of a reason letter not in ``STRATEGY_REASONS`` (the text names the letter)."""
_GTC_TEXT: Final = (
    "GTC not supported on BOE: the journal is per trading day, so an order still open at the day's end would be "
    "worked by Cboe the next day with no order here to apply its fills to; send DAY orders"
)
_SESSION_ENDED_TEXT: Final = "not answered: Cboe ended the session for the day (Logout) before processing it"
_SESSION_ENDED_RECEIVED: Final = (
    "not answered: Cboe ended the session for the day (Logout) after receiving it (SequenceNumber {seq}, its "
    "Logout's LastReceivedSequenceNumber {last}) without answering: whether it took effect is unknown; reconcile "
    "with Cboe"
)
_SESSION_ENDED_UNSEQUENCED: Final = (
    "not answered: Cboe ended the session for the day (Logout) without answering it (sent unsequenced: whether "
    "Cboe received it is unknown); reconcile with Cboe"
)
_DISABLED_TEXT: Final = (
    "not answered: Cboe refuses every login to the session (D, session disabled: as after its end of day), so no "
    "login can ask it about this request ({what}): whether Cboe received it and what it did is unknown; reconcile "
    "with Cboe"
)
_CUT_CAUSE: Final = "cut from its tail by a power failure, docs/reliability.md 2.3c"
"""Why the journal does not have an order of today's ClOrdID, after a stop that was not clean (``journal_opened``)."""
_OTHER_JOURNAL_CAUSE: Final = (
    "not a power failure: the journal {journal} {how}; the order is in another journal (another "
    "trading day's: journal.timezone and this venue's timezone; or the journal was moved away or replaced), "
    'docs/venues/boe.md "ClOrdIDs"'
)
"""The same after a clean stop (or under ``fsync: batch``): a power failure cannot have cut it (day55)."""
_NEVER_CREATED_SHORT: Final = "the journal never created: {cause}"
_OTHER_VENUE_SHORT: Final = "is another venue's order, not this venue's"
_NEVER_CREATED: Final = "no order of that id exists here (the journal never created it: {cause}; or not this venue's)"
_CONNECTED: Final = frozenset({BoeSessionState.LOGGING_IN, BoeSessionState.REPLAYING, BoeSessionState.LOGGED_IN})
"""The session states in which a Logout Request goes out (and Cboe's answer is worth waiting for)."""
_ANSWER_LOST_TEXT: Final = (
    "Cboe received this order (SequenceNumber {seq}, it reported {last} received) but no answer was replayed "
    "and {why}: it was refused unsequenced and the answer was lost in a disconnect"
)
_LATE_TEXT: Final = (
    "Cboe answered this order only after a reconnect; the gateway canceled it (its Cancel asked Cboe for the "
    "order's state)"
)
PROBE_TIMEOUT_NS: Final = 5 * NS_PER_S
"""How long after Replay Complete a probed New Order Cboe has not acknowledged is reported refused."""
HELD_RETRY_NS: Final = NS_PER_S
"""How often the adapter asks the engine again for an order whose journal read failed (its fills held meanwhile)."""
ANSWERED_LOG_NS: Final = NS_PER_S
"""Cboe's answers to the Cancels the adapter owed (``_answer_after_end``): one INFO line in full per this interval,
the others counted and said in one summary line (boe56; a standby's replay answers thousands at once)."""
GAPS_SAVE_NS: Final = NS_PER_S // 10
"""The least time between two writes of the gaps file (``<name>.boe-gaps.json``): at most ten a second."""
MAX_ENDED_OVER_GAPS: Final = 4_096
"""The most orders remembered as ended above a gap open (``BoeVenue._ended_over_gaps``): past it the oldest is
forgotten, and a late message of its gap showing it working has it canceled at Cboe (needlessly, as before boe59)."""
_NUMBER_MASK: Final = (1 << STREAM_SHIFT) - 1
_ANY_ORDER: Final = 1 << 62
"""``BoeVenue._gap_ids_high`` for gaps taken back from before a restart: any order of the day may be in them."""
MAX_HELD_FILLS: Final = 1_000
"""The most executions held at once (``BoeVenue.held_fills_cap``): one more is not held but logged at ERROR, not
applied, put on the corrections file (``_held_over_cap``). Bounds the memory and the state file rewritten per hold."""
_PASS_ON: Final = 1
"""``_never_created``: the engine has the order, or the adapter is not attached to an engine (the core decides)."""
MAX_PROBES: Final = 3
"""Cuts in a row a New Order in doubt is probed across; at the next it is reported refused."""
IN_DOUBT_TIMEOUT_NS: Final = PROBE_TIMEOUT_NS
"""How long a reject of a Modify or Cancel re-sent in doubt waits for Cboe's answer to the original."""
_UNACKED: Final = frozenset({OrderState.PENDING_NEW, OrderState.PENDING_NEW_CANCEL, OrderState.PENDING_NEW_HELD_CANCEL})
_ENDED_AT_CBOE: Final = frozenset({OrderState.FILLED, OrderState.CANCELED})
"""The core's states of an order Cboe acknowledged and then finished (an acknowledgment of it again is a repeat)."""
_CANCELING: Final = frozenset({OrderState.PENDING_CANCEL, OrderState.PENDING_NEW_CANCEL})
"""The core's states with a Cancel of the order at Cboe awaiting its answer."""
UNIT_BITS: Final = 8
"""A matching unit is one byte: a renumbered unit's n-th numbering is exactly-once stream ``unit | n << UNIT_BITS``."""
_UNIT_MASK: Final = (1 << UNIT_BITS) - 1
_RENUMBERED_LOST_TEXT: Final = (
    "Cboe restarted its numbering before answering this order (SequenceNumber {seq}; it reported {last} received, "
    "which no longer proves it never had it) and {why}: taken as not kept by Cboe"
)

_NONE: Final = 0
_MODIFY_COPY: Final = 1
_CANCEL_COPY: Final = 2
_RENUMBERED_COPY: Final = 4
"""The copies went out in the first replay after Cboe restarted a numbering: the original's answer may be gone with
the old numbering, so a copy refused because Cboe no longer has the order by that ClOrdID says what Cboe did."""
_RENUMBERED_LOST_MODIFY: Final = (
    "Cboe restarted its numbering before answering this Modify; the copy re-sent was refused ({copy}) and a Modify "
    "asking for the order by the Modify's ClOrdID was refused too ({probe}): Cboe holds no open order by either "
    "ClOrdID, so the order has ended there (its answers went with the old numbering: reconcile fills with Cboe)"
)
_RENUMBERED_LOST_CANCEL: Final = (
    "Cboe restarted its numbering before answering this Cancel Order; the copy re-sent was refused ({copy}) and no "
    "other answer came within {wait} s: Cboe holds no open order by this ClOrdID, so the order has ended there "
    "(canceled, or filled: its answers went with the old numbering: reconcile fills with Cboe)"
)
_COPY_LOST_TEXT: Final = (
    "Cboe received this {kind} before a disconnect, yet no answer to it was replayed; the copy re-sent under the "
    "same ClOrdID to learn its outcome was refused as a duplicate ({text}) and no answer to the original came "
    "within {wait} s: taken as refused unsequenced, the answer lost in the disconnect ({later})"
)
_LATER_MODIFY: Final = (
    "should Cboe apply it later after all, the order takes its quantity and price here (Replaced) if it is still "
    "open with no other Modify in flight, and is canceled at Cboe otherwise"
)
_LATER_CANCEL: Final = "should Cboe cancel the order later after all, its Order Cancelled ends it here (Canceled)"
_COPY_REFUSED_TEXT: Final = (
    "{text} (Cboe's answer to the copy of this {kind} re-sent after a disconnect; no answer to the original came "
    "within {wait} s)"
)
_LATE_MODIFIED_TEXT: Final = (
    "Cboe applied a Modify of this order after the gateway had reported it refused (no answer within "
    f"{IN_DOUBT_TIMEOUT_NS // NS_PER_S} s of a reconnect); the gateway canceled the order"
)
_NEW: Final = 1
_MODIFY: Final = 2
_CANCEL: Final = 3


def day_code(day: str) -> str:
    """Return the three base-36 digits of trading day ``day`` (ISO date): days since 2000-01-01."""
    return shared_day_code(dt.date.fromisoformat(day))


def trading_day(timezone: str, wall: Callable[[], int]) -> str:
    """Return today's date (ISO) in the venue's time zone."""
    zone = dt.UTC if timezone.upper() == "UTC" else _zone(timezone)
    return dt.datetime.fromtimestamp(wall() / NS_PER_S, zone).date().isoformat()


def _zone(timezone: str) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(timezone)


def _pad(cl_ord_id: str) -> bytes:
    """Return a ClOrdID as it appears on the wire: 20 bytes, NUL-padded."""
    return cl_ord_id.encode("latin-1").ljust(MAX_CL_ORD_ID, b"\x00")


def _unpad(cl_ord_id: bytes) -> str:
    return cl_ord_id.rstrip(b"\x00").decode("latin-1")


def _is_base36(text: str) -> bool:
    """Return True if ``text`` is a number in the lowercase base-36 digits of the ClOrdIDs (not empty)."""
    return 0 < len(text) <= 13 and all(char in _DIGITS for char in text)


def split_ref(venue_ref: str) -> tuple[str, int]:
    """Return (ClOrdID, SequenceNumber) of a venue reference ``<ClOrdID>@<S>`` (S 0: not known)."""
    cl_ord_id, _, seq = venue_ref.partition("@")
    return cl_ord_id, int(seq) if seq.isdigit() else 0


class _Tracked(VenueOrder[bytes], gc=False):
    """One gateway order at Cboe: ``working`` is the (NUL-padded) ClOrdID Cboe knows it by now,
    ``pending`` the ClOrdID of the Modify in flight (b"": none)."""

    new_seq: int = 0
    """SequenceNumber the New Order last went out with."""
    modify_seq: int = 0
    """SequenceNumber the Modify in flight last went out with."""
    cancel_seq: int = 0
    """SequenceNumber the Cancel in flight last went out with."""
    modifies: int = 0
    """Modify Orders sent for this order by this process (the ``n`` of its Modify ClOrdIDs)."""
    done: bool = False
    """Cboe has finished the order (filled, cancelled, rejected), or the adapter reported it refused."""
    probes: int = 0
    """Cancel Orders sent to learn whether Cboe kept this New Order (received, no answer after a re-login)."""
    copies: int = 0
    """Requests re-sent in doubt (``_MODIFY_COPY``, ``_CANCEL_COPY`` bits) whose first reject waits for the
    answer to the original (Cboe may answer the copy first: ``held_modify``, ``held_cancel``)."""
    held_modify: tuple[str, str] | None = None
    """(reason letter, text) of the first reject of the Modify re-sent in doubt, not answered yet."""
    held_cancel: tuple[str, str] | None = None
    """(reason letter, text) of the first reject of the Cancel re-sent in doubt, not answered yet."""
    held_until: int = 0
    """Clock time at which a held reject answers the strategy (no answer to the original by then; 0: none held)."""
    lapsed: bytes = b""
    """ClOrdID of a Modify in doubt reported refused at the deadline: a Modified of it is a late answer."""
    lapsed_qty: int = 0
    lapsed_price: int = 0
    """The total quantity and price that Modify asked for (a late Modified without them applies these)."""
    lapsed_seq: int = 0
    """The SequenceNumber that Modify last went out with (its venue reference ``<ClOrdID>@<S>``)."""
    late: bool = False
    """The adapter canceled the order at Cboe after a late answer (its Order Cancelled says so), or owes Cboe a Cancel
    of it (``_owed``: its answer discharges it)."""
    asked: bytes = b""
    """ClOrdID of a Modify re-sent in doubt after Cboe restarted a numbering whose copy Cboe refused as if it had
    applied the original (``D``, ``O``): the Modify in flight (``pending``) asks Cboe for the order by it."""
    zero_leaves: bool = False
    """An execution said LeavesQty 0 while a Modify was in flight: the Modify's answer reopens the order (Order
    Modified) or ends it (User Modify Rejected: ``_modify_refused``)."""
    zero_cause: str = ""
    """What said LeavesQty 0 (``zero_leaves``; "": not known, set before a restart), for the text of the end."""
    zero_seq: int = 0
    """venue_seq of that message: the order ends at the Modify's refusal, which may be unsequenced (``end_seq``)."""
    end_seq: int = 0
    """venue_seq of the newest Cboe message that ended the order (0: none, or the gateway ended it): a message
    older than it (one of a gap, arriving late) does not show the order working, whatever its LeavesQty (boe59)."""


_Decoder = Callable[[memoryview], Any]
"""Decodes one Cboe message of its type: the decoded value, or a ``DecodeError``."""
_Handler = Callable[[Any, int], None]
"""Acts on one decoded message new to the exactly-once component (its ``venue_seq`` given)."""


class BoeVenue(VenueAdapter):
    """One Cboe BOE v2 port (sans-IO; driven by ``VenueConnector``)."""

    def __init__(
        self,
        config: BoeVenueConfig,
        clock: NowNs,
        *,
        wall: Callable[[], int] = time.time_ns,
        start: int | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.ids_bounded = True  # OrderIDs and ExecIDs: numbers below 2^64 (``VenueAdapter.ids_bounded``)
        self.event_sink = self._no_event_sink
        self.state_sink = self._no_state_sink
        self._clock = clock
        self._wall = wall
        self._day = trading_day(config.timezone, wall)
        self._start = start if start is not None else next_start(config.state_dir, config.name, self._day)
        self._start36 = base36(self._start)
        self._base = config.cl_ord_id_prefix + day_code(self._day)
        self._ids_floor = load_order_ids(config.state_dir, config.name, self._day)
        """The highest order id a process of this trading day may have sent a New Order of (``order_id_floor``;
        ``<name>.boe-order-ids.json``, day55): none is used again, whatever journal the gateway opened (the last one
        sent at a clean stop, else the last reserved)."""
        self._journal = ""
        """The journal this process runs on (``journal_opened``; "": none, or not told)."""
        self._journal_cut = False
        """The journal may have lost its tail (``journal_opened``: the last stop was not clean and ``fsync`` is not
        ``batch``): an Order Modified of an earlier process's Modify above the ClOrdID an order is known by may be
        the answer to a Modify the journal lost (``_lost_modify``), not a repeat."""
        self._core_skips = False
        """The core starts new ids ``ORDER_ID_MARGIN`` past the floors it is given (``journal_opened``: the last stop
        on the journal was not clean and ``fsync`` is not ``batch``; ``gateway.recovery.first_order_id``)."""
        self._ids_reserved = self._ids_floor
        """Order ids up to this one are on file as reserved: a New Order above it writes the next block first."""
        self._ids_high = 0
        """The highest order id this process sent a New Order of (on file as ``last`` at a clean stop)."""
        self._ids_named = 0
        """The highest order id a ClOrdID of today's in Cboe's messages named (``_order_id_of``): above every id of
        this venue's day known here (``_ids_floor``, ``_ids_high``), another host sent it (a standby taking over: the
        primary's orders in the replay); the core's new ids go above it before the venue is UP
        (``_ids_above_named``)."""
        self._ids_checked = 0
        """The highest ``_ids_named`` asked of the engine so far (each asked once: at most one journal read)."""
        self._lost_cause = _CUT_CAUSE
        """Why the journal may lack an order of today's ClOrdID (``journal_opened``): its ERROR lines say it."""
        self._close_pending = False
        self._backpressured = False
        self._session = BoeClientSession(config.session_config(), self)
        self._session.resume(config.initial_units())
        self._state = VenueState.DISCONNECTED
        self._reason = "not connected yet"
        self._last_logout: Logout | None = None
        """Cboe's last Logout (the end-of-day mark names its reason, text and LastReceivedSequenceNumber)."""
        self._end_marked = self._remember_end_of_day()
        """Cboe ended the trading day and it is on file (``<name>.boe-endofday.json``), or the write was tried."""
        self._new_packer = NewOrderPacker(config.new_order_fields(), config.new_order_bitfield_count)
        self._cancel_packer = CancelPacker(config.cancel_fields())
        self._modify_packer = ModifyPacker(config.modify_fields())
        self._decoder = ReturnDecoder(config.return_bitfields())
        self._ack_reader = AckTerms(config.return_bitfields().get(ORDER_ACKNOWLEDGMENT, b""))
        """Reads the terms an Order Acknowledgment of the negotiated layout returns (checked against the order)."""
        layout = self._new_packer.fields
        constants = self._constant_values(config)
        self._new_template: list[object] = [constants.get(name) for name in layout]
        """The New Order optional values in wire order: the constants, and slots for the order's own."""
        self._at_price = layout.index("price")
        self._at_ord_type = layout.index("ord_type")
        self._at_tif = layout.index("time_in_force")
        self._at_symbol = layout.index("symbol")
        owed_day, owed = load_owed(config.state_dir, config.name)
        self._owed: dict[bytes, int] = {
            _pad(cl_ord_id): seq if owed_day == self._day else 0  # another day's numbers mean nothing today
            for cl_ord_id, seq in owed.items()
            if 0 < len(cl_ord_id) <= MAX_CL_ORD_ID
        }
        """NUL-padded ClOrdID -> SequenceNumber of the Cancel Order the adapter owes Cboe for an order Cboe showed
        working after it ended here (0: not sent yet, it goes at Replay Complete); kept on file (``_owe_cancel``),
        also across trading days (a GTC order outlives the day at Cboe)."""
        self._owed_unsent: set[bytes] = set()
        """ClOrdIDs this process put on ``_owed`` while not logged in: their Cancel has never gone out (INFO when it
        does at Replay Complete; one on file from an earlier process, or sent and lost in a cut: WARNING)."""
        if self._owed and owed_day != self._day:
            self._carried_over(owed_day)
        self._corrections = load_corrections(config.state_dir, config.name, self._day)
        """``venue_seq`` of the Trade Cancel or Correct messages reported today (on file: a replay is dropped)."""
        self._owed_log = StateLog(owed_cancels_path(config.state_dir, config.name))
        self._corrections_log = StateLog(corrections_path(config.state_dir, config.name))
        """The two files above: a change appended when it happens, fsynced once per read (``_sync_state``)."""
        self._state_unsynced = False
        """A change went to either file since the last ``_sync_state`` (it fsyncs, or compacts, or retries)."""
        self._probing: dict[int, _Tracked] = {}
        """order_id -> order whose New Order is probed (its Cancel went out on this connection)."""
        self._probe_deadline = 0
        """``poll`` time at which the orders of ``_probing`` still unacknowledged are reported refused (0: not set)."""
        self._probe_rejects: dict[int, str] = {}
        """order_id -> why Cboe rejected its probe (the refusal waits for ``_probe_deadline`` all the same)."""
        self._holding: dict[int, _Tracked] = {}
        self._queued: tuple[int, bytearray, int, int, int, int, bytes] | None = None
        """The request ``send_*`` queued last: (order id, send buffer, start, end, SequenceNumber, the order's
        SequenceNumber of that kind before it, its pending ClOrdID before it), for ``withdraw_*``."""
        """order_id -> order holding a reject of a request re-sent in doubt (until ``held_until``)."""
        self._firm = (config.clearing_firm.encode("ascii"),) if config.clearing_firm else ()
        self._orders: dict[int, _Tracked] = {}
        """order_id -> tracked order."""
        self._refs: dict[bytes, _Tracked] = {}
        """NUL-padded ClOrdID (New and every Modify) -> tracked order."""
        self._symbols: dict[str, bytes] = {}
        self._last_processed = 0
        """Cboe's LastReceivedSequenceNumber from the Login Response of the current connection."""
        streams, unsettled = load_numbering(config.state_dir, config.name, self._day)
        self._unit_streams: dict[int, int] = streams
        """Matching unit -> exactly-once stream of its current numbering, for units Cboe renumbered (else the unit);
        on file (``_save_numbering``): the journal holds a numbering only once a message of it is journaled."""
        self._unsettled = unsettled
        """A renumbering's New Orders in doubt are not settled yet (on file: a restart probes them, as this would)."""
        self._renumbered = unsettled
        """Cboe restarted a numbering since the last Replay Complete (a unit's, or LastReceivedSequenceNumber)."""
        self._renumbered_replay = False
        """The replay just completed followed such a restart: ``after_replay`` probes New Orders with S > L too."""
        self._doubtful: set[int] = set()
        """order_id of New Orders probed only because Cboe restarted its numbering (S > L)."""
        self._asked_gaps: list[tuple[int, int, int]] = []
        """Open gaps (stream, first, last) the current login asked Cboe to replay (``_ask_for_gaps``)."""
        generic = self._decoder.decode
        self._handlers: dict[int, tuple[_Decoder, _Handler]] = {
            ORDER_ACKNOWLEDGMENT: (self._ack_decode, self._on_ack),
            ORDER_EXECUTION: (execution_core, self._on_execution),
            ORDER_CANCELLED: (cancelled_core, self._on_cancelled),
            ORDER_REJECTED: (generic, self._on_rejected),
            ORDER_MODIFIED: (generic, self._on_modified),
            USER_MODIFY_REJECTED: (generic, self._on_modify_rejected),
            CANCEL_REJECTED: (generic, self._on_cancel_rejected),
            ORDER_RESTATED: (generic, self._on_restated),
            TRADE_CANCEL_OR_CORRECT: (generic, self._on_trade_correction),
        }
        """Message type -> (decoder, handler): a message is decoded before its number is admitted, so one that
        does not decode is not taken as seen (the session has Cboe send it again)."""
        self._gaps_unsaved = False
        """A gap opened, closed or was given up: the gaps file is rewritten at the next ``poll`` (``_save_gaps``)."""
        gaps_day, gaps = gaps_of_another_day(config.state_dir, config.name, self._day)
        if gaps:  # said once: the file is rewritten as today's at the first poll (rev60merge6: said at every start)
            self._unfilled_at_day_change(gaps_day, gaps)
            self._gaps_unsaved = True
        self._gaps_saved_at = 0
        """``poll`` time of the last write of the gaps file (at most one per ``GAPS_SAVE_NS``)."""
        self._ended_over_gaps: dict[int, int] = {}
        """Order id -> venue_seq of the Cboe message that ended it, for orders that ended while a gap below that
        message was open on their unit (``_ended_at``, boe59): a message of the gap arriving later is older than the
        end, so its LeavesQty does not show the order working, also once the order is no longer mapped here
        (released, or ended before a restart). On file with the gaps (``<name>.boe-ended-over-gaps.json``); an
        entry goes once no gap below its message is open (``_save_gaps``). At most ``MAX_ENDED_OVER_GAPS``."""
        self._ended_on_file = False
        """The file of ``_ended_over_gaps`` holds entries (it is rewritten, empty, once they are gone)."""
        self._ended_unwritable = False
        """The last write of the file of ``_ended_over_gaps`` failed (its ERROR said once until a write succeeds)."""
        self._gap_ids_high = 0
        """The highest order id that may have messages in the gaps open (the last sent when the newest one opened):
        an order above it ends with no message of its own in any of them, and is not remembered."""
        self._late_seq = -1
        """venue_seq of the last message admitted late (it filled a recorded gap: ``_on_late``): only such a message
        can be older than the one that ended its order (``_is_older_than_end``, boe59b)."""
        self._admit_stream = self._watch(self.sequence)
        self.counters: dict[str, int] = {
            "decode_errors": 0,
            "unknown_cl_ord_id": 0,
            "unknown_executions": 0,
            "executions_after_end": 0,
            "executions_held": 0,
            "executions_held_over_cap": 0,
            "executions_held_applied_after_restart": 0,
            "resent": 0,
            "answers_lost": 0,
            "in_doubt": 0,
            "probes": 0,
            "late_answers": 0,
            "lost_modifies": 0,
            "dropped_events": 0,
            "protocol_errors": 0,
            "sequence_gaps": 0,
            "sequence_issues": 0,
            "restatements": 0,
            "trade_corrections": 0,
            "trade_corrections_after_end": 0,
            "repeated_trade_corrections": 0,
            "repeated_reports": 0,
            "executions_earlier_day": 0,
            "bad_restore": 0,
            "renumbered_asks": 0,
            "live_after_end": 0,
            "after_end": 0,
            "internal_errors": 0,
            "ended_not_at_cboe": 0,
            "accepted_mismatch": 0,
            "ack_unchecked": 0,
        }
        self.ignored: dict[str, int] = {}
        """Cboe messages that produce no event, by kind."""
        self._rare_log = PowerOfTwoLog(log)
        self._fill_log = IntervalLog(log, every_ns=NS_PER_S)
        self._answered_logged_ns = -1
        """When the last INFO line of Cboe's answer to a Cancel owed was logged in full (-1: never)."""
        self._answered_tally = TallyLog(2, ANSWERED_LOG_NS)
        """The answers to Cancels owed not logged in full: [of orders that ended here, of orders the journal never
        created], said in one line at most once per ``ANSWERED_LOG_NS`` (``_say_answered``, also from ``poll``)."""
        """Executions for unknown ClOrdIDs: every one is a fill on the account, logged up to once a second."""
        self._lost_ids: dict[int, int] = {}
        """Order ids today's ClOrdIDs named that the engine has no order of (``_never_created``) -> why
        (``LOOKUP_NEVER_CREATED``, ``LOOKUP_OTHER_VENUE``): definite answers only, never a failed journal read."""
        self._held_fills: dict[int, list[tuple[int, ExecutionCore]]] = {}
        """Order id -> its executions (venue_seq, message) held because the journal could not be read back for it
        (``_hold_execution``): handed on, in order, once the engine reads it (``_retry_held``). On file
        (``<name>.boe-held-fills.json``, ``_save_held``): a restart holds them again (``_load_held``)."""
        self._held_count = 0
        """Executions in ``_held_fills``."""
        self._held_retry_at = 0
        self.held_fills_cap = MAX_HELD_FILLS
        """The most executions held at once: one more is logged at ERROR, not held (``_held_over_cap``)."""
        self._held_unsaved = False
        """Held executions were handed on (``_held_handed``): the file drops them at the engine's next flush."""
        self._held_handed: list[tuple[int, int, ExecutionCore]] = []
        """(order id, venue_seq, message) of held executions handed on to the core whose journal records are not
        written yet: still on file (``_save_held``) until the engine's flush after them writes the journal
        (``flush``). Before boe56 the next ``poll`` dropped them from the file whether or not that flush had
        failed, so a stop while the journal was failing lost them from the positions."""
        self._held_restored: set[int] = set()
        """``venue_seq`` of the executions held again from the file at start (counted when applied:
        ``executions_held_applied_after_restart``)."""
        self._load_held()

    # ---- core API --------------------------------------------------------------------------

    @property
    def state(self) -> VenueState:
        """Return the current session state."""
        return self._state

    @property
    def reason(self) -> str:
        """Return the human reason for the current state."""
        return self._reason

    @property
    def session(self) -> BoeClientSession:
        """Return the client session (tests and status)."""
        return self._session

    def bind_sequence(self, sequence: VenueSequence) -> None:
        """Use the core's keeper of this venue's message numbers (per matching unit) from now on."""
        super().bind_sequence(sequence)
        self._admit_stream = self._watch(sequence)

    def _watch(self, sequence: VenueSequence) -> Callable[[int, int], bool]:
        """Have ``sequence`` tell this adapter of late messages and forgotten gaps; return its ``admit_stream``."""
        sequence.on_late = self._on_late
        sequence.on_forget = self._on_gap_forgotten
        sequence.on_gap = self._on_gap
        return sequence.admit_stream

    def _on_gap(self, stream: int, first: int, last: int) -> None:
        """A forward gap opened: on file at the next ``poll`` (``_save_gaps``; at most ten writes a second).

        Not at once: whether Cboe numbers a unit's messages contiguously is not established (docs/venues/boe.md,
        "Sequencing"), and a write with an fsync per message would then be the cost of every message.
        """
        del stream, first, last
        self._gaps_unsaved = True
        self._gap_ids_high = max(self._ids_high, self._ids_floor)

    def _save_gaps(self) -> None:
        """Write the gaps open to the state file (a restart asks Cboe for them again); on an error, log it."""
        self._gaps_unsaved = False
        try:
            save_gaps(self.config.state_dir, self.name, self._day, self.sequence.gaps)
        except OSError as exc:
            log.error(
                "venue %s: cannot write the sequence gaps open (%d) to %s: %s; a restart would not ask Cboe for "
                "them again: reconcile with Cboe on the 'sequence gap' WARNING if the gateway stops meanwhile",
                self.name,
                len(self.sequence.gaps),
                gaps_path(self.config.state_dir, self.name),
                exc,
            )
        ended = self._ended_over_gaps
        if ended:  # keep only the orders that ended above a gap still open on their unit
            lowest: dict[int, int] = {}
            for stream, first, _last in self.sequence.gaps:
                lowest[stream] = min(first, lowest.get(stream, first))
            for order_id, mark in list(ended.items()):
                seq = -mark if mark < 0 else mark
                if (seq & _NUMBER_MASK) <= lowest.get(seq >> STREAM_SHIFT, seq & _NUMBER_MASK):
                    del ended[order_id]
        if not ended and not self._ended_on_file:
            return
        try:
            save_ended_over_gaps(self.config.state_dir, self.name, self._day, ended)
        except OSError as exc:
            if not self._ended_unwritable:  # once until a write succeeds: each gaps write tries again (boe59b)
                self._ended_unwritable = True
                log.error(
                    "venue %s: cannot write the orders that ended above a sequence gap (%d) to %s: %s; after a "
                    "restart a message of such a gap that shows its order working has the order canceled at Cboe "
                    "(needlessly); tried again with each write of the gaps, said again only after one succeeds",
                    self.name,
                    len(ended),
                    ended_over_gaps_path(self.config.state_dir, self.name),
                    exc,
                )
            return
        if self._ended_unwritable:
            self._ended_unwritable = False
            log.info(
                "venue %s: the orders that ended above a sequence gap (%d) are written to %s again",
                self.name,
                len(ended),
                ended_over_gaps_path(self.config.state_dir, self.name),
            )
        self._ended_on_file = bool(ended)

    def _ended_at(self, tracked: _Tracked, seq: int, *, refused: bool = False) -> None:
        """The Cboe message ``seq`` ended the order: one older than it cannot show the order working (boe59).

        Its LeavesQty is older than the end. A gap open below ``seq`` on the order's unit may deliver such a message
        later (late, or in Cboe's replay), also once the order is no longer mapped here: then the order is remembered
        (``_ended_over_gaps``, on file with the gaps). Without a gap open this is one compare and one store.
        ``refused``: a Cancel Rejected ``O`` (``_not_at_cboe``) ended it, remembered as ``-seq``: that refusal is of
        the ClOrdID the order went by, so an older Order Modified, which gave the order another ClOrdID at Cboe (a
        Modify the journal lost: ``_lost_modified_after_end``), is not stale (boemod62).
        """
        if seq <= tracked.end_seq:
            return
        tracked.end_seq = seq
        sequence = self._sequence  # (bound by the core; None: no message admitted yet, so no gap)
        if sequence is None or not sequence.gaps or tracked.order.order_id > self._gap_ids_high:
            return
        stream, number = seq >> STREAM_SHIFT, seq & _NUMBER_MASK
        if not any(gap[0] == stream and gap[1] < number for gap in sequence.gaps):
            return
        ended = self._ended_over_gaps
        ended.pop(tracked.order.order_id, None)
        ended[tracked.order.order_id] = -seq if refused else seq  # (negative: a Cancel Rejected O, boemod62)
        if len(ended) > MAX_ENDED_OVER_GAPS:  # the oldest forgotten: a late message of it cancels it (fail closed)
            del ended[next(iter(ended))]
        self._gaps_unsaved = True

    def _forget_end_numbers(self) -> None:
        """A new trading day: Cboe numbers each unit from 1 again, so yesterday's numbers of the messages that ended
        orders say nothing of today's (boe59b: today's Order Execution of an order still worked at Cboe, a GTC one,
        numbered below yesterday's end was taken for stale and the order left working untracked). Once a day, over
        every order still mapped (also those released whose earlier Modifies' ClOrdIDs stay mapped)."""
        for tracked in self._orders.values():
            tracked.end_seq = tracked.zero_seq = 0
        for tracked in self._refs.values():
            tracked.end_seq = tracked.zero_seq = 0
        self._late_seq = -1

    def _is_older_than_end(self, seq: int, end: int) -> bool:
        """Return True if message ``seq`` is older than ``end``, the one that ended its order (boe59, boe59b).

        Only a message admitted late (it filled a gap recorded below ``end``: ``_on_late``) can be: a message admitted
        in order is the newest of its unit, whatever its number says (a numbering Cboe restarted unnoticed). Within
        one day and one numbering (a renumbered unit's is a stream of its own, above the one before) a lower number
        means an older message.
        """
        return seq < end and seq == self._late_seq

    def _older_than_end(self, seq: int, kind: str, named: str, end: int, leaves: int | None) -> None:
        """A message older than the one that ended the order shows it working: stale, nothing sent (boe59)."""
        self._ignore(
            "older-than-end",
            seq,
            f"{kind} of {named} shows it working at Cboe (LeavesQty {'not given' if leaves is None else leaves}), but "
            f"is older than the message that ended it (venue_seq {end}; it arrived late, through a gap): its "
            "LeavesQty is stale, nothing sent to Cboe",
        )

    def _on_late(self, stream: int, number: int, last: int) -> None:
        """A message of a recorded gap came after a higher one: admitted (applied once), logged.

        The gaps file is rewritten at the next ``poll``, once the core has journaled the message (a stop in between
        asks Cboe for it again after the restart: a repeat the engine's ExecID check does not apply twice).
        """
        self._gaps_unsaved = True
        self._late_seq = stream_seq(stream, number)
        log.warning(
            "venue %s: unit %d: message %d arrived after %d: applied, gap closed",
            self.name,
            stream & _UNIT_MASK,
            number,
            last,
        )

    def _on_gap_forgotten(self, stream: int, first: int, last: int) -> None:
        """More gaps open than the exactly-once component remembers: the oldest is forgotten."""
        self._gaps_unsaved = True
        log.warning(
            "venue %s: unit %d: gap %d..%d forgotten (more than %d gaps open): a message of it arriving later "
            "is dropped as a repeat; reconcile with Cboe if one does",
            self.name,
            stream & _UNIT_MASK,
            first,
            last,
            MAX_OPEN_GAPS,
        )

    def cl_ord_id(self, order_id: int) -> str:
        """Return the ClOrdID of a gateway order's New Order."""
        return f"{self._base}{order_id}"

    def max_order_id(self) -> int:
        """Return the largest order id whose ClOrdID leaves room for the Modify suffix (``check_order``'s bound)."""
        digits = MAX_CL_ORD_ID - _MODIFY_ROOM - len(self._base)
        return 10**digits - 1 if digits > 0 else -1

    def order_id_room_fix(self, next_order_id: int) -> str:
        """Return how long ``cl_ord_id_prefix`` may be for ids from ``next_order_id`` (the start-up ERROR's fix)."""
        prefix = self.config.cl_ord_id_prefix
        room = MAX_CL_ORD_ID - _MODIFY_ROOM - DAY_LEN - len(str(next_order_id))
        skips = f"each unclean stop today moved the ids {ORDER_ID_SKIP:,} ahead"
        if room < 0:
            return f"no prefix leaves room for them ({skips}): the venue takes no more orders today"
        return (
            f"shorten cl_ord_id_prefix {prefix!r} ({len(prefix)} characters) to {room} characters at most "
            f"({skips}; docs/venues/boe.md, ClOrdIDs) and restart: open orders keep the ClOrdIDs they were sent with"
        )

    def check_order(self, order: Order) -> Verdict:
        """Return why BOE cannot take ``order`` now (back-pressure, or an order BOE cannot carry)."""
        if self._backpressured:
            return BACKPRESSURED
        if order.ord_type not in _ORD_TYPE:
            return Refused("BOE_ORD_TYPE", f"order type {order.ord_type!r} not supported (limit or market)")
        if order.tif not in _TIF:
            return Refused("BOE_TIF", f"time in force {order.tif!r} not supported (DAY, IOC, FOK)")
        if order.tif is TimeInForce.GTC:
            return Refused("BOE_TIF", _GTC_TEXT)
        if not 0 < order.qty <= MAX_QTY:
            return Refused("BOE_QTY", f"quantity {order.qty} outside 1..{MAX_QTY}")
        if order.ord_type is OrderType.LIMIT and not 0 < order.price <= MAX_PRICE:
            return Refused("BOE_PRICE", f"limit price {order.price} must be positive")
        symbol = order.symbol
        if symbol not in self._symbols and (
            not 0 < len(symbol) <= 8 or not symbol.isascii() or not symbol.isprintable() or " " in symbol
        ):
            return Refused("BOE_SYMBOL", f"symbol {symbol!r} must be 1-8 printable ASCII characters")
        if order.order_id < 0 or len(self.cl_ord_id(order.order_id)) + _MODIFY_ROOM > MAX_CL_ORD_ID:
            return Refused("BOE_ORDER_ID", f"order id {order.order_id} does not fit a 20-character ClOrdID")
        return None

    def check_replace(self, order: Order, qty: int, price: int) -> Verdict:
        """Return why a Modify of ``order`` to ``qty`` at ``price`` cannot go out now."""
        if self._backpressured:
            return BACKPRESSURED
        if order.order_id not in self._orders:
            return Refused("BOE_UNKNOWN_ORDER", "order was never sent to BOE", RejectSource.GATEWAY)
        if not 0 < qty <= MAX_QTY or not 0 < price <= MAX_PRICE:
            return Refused("BOE_REPLACE", f"modify to {qty} @ {price} is outside BOE's limits", RejectSource.GATEWAY)
        return None

    def send_new(self, order: Order) -> SendResult:
        """Queue a New Order under the order's ClOrdID."""
        if self._backpressured:
            return BACKPRESSURED
        if order.order_id > self._ids_reserved:
            refused = self._reserve_ids(order.order_id)
            if refused is not None:
                return refused
        self._ids_high = order.order_id
        text = self.cl_ord_id(order.order_id)
        padded = _pad(text)
        tracked = _Tracked(order, padded, b"")
        self._orders[order.order_id] = tracked
        self._refs[padded] = tracked
        out = self._session.out
        start = len(out)
        try:  # free until raised: a fault here answers this order (``_not_sent``), never the connection
            seq = self._pack_new(tracked)
        except Exception as exc:  # never sent: the order is not tracked
            del self._orders[order.order_id]
            del self._refs[padded]
            return self._not_sent(order, "new order", padded, exc)
        self._queued = (order.order_id, out, start, len(out), seq, 0, b"")
        return Sent(f"{text}@{seq}")

    def _reserve_ids(self, order_id: int) -> Refused | None:
        """Put order ids up to ``order_id`` + ``ORDER_ID_BLOCK`` on file for this trading day before one goes out.

        A restart reads them (``order_id_floor``) and starts new order ids above them, so no ClOrdID of the day is
        sent twice, whatever journal it opens (another day's, an empty one: rev55boe s12). One fsynced write per
        block on the event loop. If it cannot be written the New Order is refused ``BOE_ORDER_ID`` (nothing sent;
        the next one tries again).
        """
        reserved = order_id + ORDER_ID_BLOCK
        try:
            save_order_ids(self.config.state_dir, self.name, self._day, reserved, journal=self._journal)
        except OSError as exc:
            path = order_ids_path(self.config.state_dir, self.name)
            self._fill_log.log(
                "order-ids-file",
                self._clock(),
                logging.ERROR,
                "venue %s: cannot write %s (%s): New Orders refused BOE_ORDER_ID until it can be written (a restart "
                "could otherwise use a ClOrdID of today again)",
                self.name,
                path,
                exc.strerror or exc,
            )
            return Refused(
                "BOE_ORDER_ID",
                f"the order ids of the trading day cannot be recorded ({path}: {exc.strerror or exc}): not sent",
                RejectSource.GATEWAY,
            )
        self._ids_reserved = reserved
        return None

    def order_id_floor(self) -> int:
        """Return the order id the core must start new ids above so that no ClOrdID of the trading day is used again.

        ``N`` is the highest order id a process of this trading day may have sent a New Order of, from
        ``<name>.boe-order-ids.json`` (the day's, in the venue's ``timezone``): the last id sent at a clean stop,
        else the last block reserved (0: no file, or another day's). It bounds every BOE order id of the day
        whatever journal the start opened and whatever became of the old one (moved away, replaced, lost, begun
        empty at the same path: rev56diff), so new ids always start at ``N + 1`` or above. When the core skips
        ``ORDER_ID_MARGIN`` past the floors (``journal_opened`` comes first: a stop it saw as not clean, ``fsync``
        not ``batch``), ``N - ORDER_ID_SKIP`` is returned: the core starts at max(the journal's ids + the margin,
        ``N + 1``) and the margin is not added to ``N`` too (it would use up the ClOrdIDs' room, docs/venues/boe.md,
        the table of unclean stops). Before, the floor was waived by the journal's path alone, trusting a skip the
        core makes only after a stop it sees as not clean: a journal begun empty at the same path after a
        ``kill -9`` started at order id 1 and sent the day's ClOrdIDs again.
        """
        if self._core_skips:
            return max(self._ids_floor - ORDER_ID_SKIP, 0)
        return self._ids_floor

    def journal_opened(self, journal: str, clean: bool, batch: bool, empty: bool) -> None:
        """Say in the ERROR lines for an order of today's ClOrdID the journal lacks why it may lack it (day55).

        A power failure can cut such an order from the journal's tail only after a stop that was not clean under
        ``fsync: interval`` or ``none``; otherwise the order was journaled elsewhere (another day's journal, one
        moved away or replaced), and the line says so instead of blaming a power failure (rev55boe s12).
        """
        self._journal = journal
        self._core_skips = self._journal_cut = not clean and not batch
        if not clean and not batch:
            self._lost_cause = _CUT_CAUSE
            return
        how = (
            "was begun empty at this start"
            if empty
            else "was closed cleanly"
            if clean
            else "is written under fsync: batch (nothing leaves before it is durable)"
        )
        self._lost_cause = _OTHER_JOURNAL_CAUSE.format(journal=journal, how=how)

    def close(self) -> None:
        """Put the last order id sent on file (``<name>.boe-order-ids.json``): the next start goes on right above it.

        Also the sequence gaps, if one opened or closed since the last timer run (``_save_gaps``; the core has
        flushed every event to the journal before a stop closes the venues): before boemod62 a clean stop within
        that run's interval of a gap opening left it off the file, the next start did not ask Cboe for it, and a
        message of it (an Order Modified, a fill) was never replayed.
        """
        if self._gaps_unsaved:
            self._save_gaps()
        if not self._ids_high and not self._ids_floor:
            return
        try:
            save_order_ids(
                self.config.state_dir,
                self.name,
                self._day,
                max(self._ids_reserved, self._ids_high),
                max(self._ids_floor, self._ids_high),
                self._journal,
            )
        except OSError as exc:
            log.error(
                "venue %s: cannot write %s at the stop (%s): the next start takes the ids reserved (up to %d) as used",
                self.name,
                order_ids_path(self.config.state_dir, self.name),
                exc.strerror or exc,
                self._ids_reserved,
            )

    def send_cancel(self, order: Order) -> Sent | Refused:
        """Queue a Cancel Order naming the ClOrdID Cboe knows the order by now."""
        tracked = self._orders.get(order.order_id)
        if tracked is None:
            return Refused("BOE_UNKNOWN_ORDER", "order was never sent to BOE", RejectSource.GATEWAY)
        out = self._session.out
        start = len(out)
        prev_seq = tracked.cancel_seq
        try:  # a fault here answers this cancel (``_not_sent``), never the connection
            seq = self._pack_cancel(tracked)
        except Exception as exc:
            return self._not_sent(order, "cancel", tracked.working, exc)
        self._queued = (order.order_id, out, start, len(out), seq, prev_seq, b"")
        return Sent(f"{_unpad(tracked.working)}@{seq}")

    def send_replace(self, order: Order, qty: int, price: int) -> SendResult:
        """Queue a Modify Order to total ``qty`` at ``price`` under a new ClOrdID."""
        refused = self.check_replace(order, qty, price)
        if refused is not None:
            return refused
        tracked = self._orders[order.order_id]
        tracked.modifies += 1
        text = f"{self.cl_ord_id(order.order_id)}.{self._start36}.{base36(tracked.modifies)}"
        if len(text) > MAX_CL_ORD_ID:
            tracked.modifies -= 1
            return Refused(
                "BOE_REPLACE", "too many modifies of this order for a 20-character ClOrdID", RejectSource.GATEWAY
            )
        padded = _pad(text)
        pending = tracked.pending
        tracked.pending = padded
        self._refs[padded] = tracked
        out = self._session.out
        start = len(out)
        prev_seq = tracked.modify_seq
        try:  # a fault here answers this modify (``_not_sent``), never the connection
            seq = self._pack_modify(tracked, qty, price)
        except Exception as exc:  # never sent: the order as it was, its ClOrdID number free again
            tracked.pending = pending
            tracked.modifies -= 1
            del self._refs[padded]
            return self._not_sent(order, "replace", padded, exc)
        self._queued = (order.order_id, out, start, len(out), seq, prev_seq, pending)
        return Sent(f"{text}@{seq}")

    def _take_back(self, order: Order, what: str) -> _Tracked | None:
        """Drop the message ``send_*`` queued last for ``order`` from the send buffer and give back its number.

        The core could not journal the request (fault51, journal before wire): the message must not leave. It is
        the last one in the send buffer (nothing is queued between the send and the core's journal record), so
        the next message takes its SequenceNumber and Cboe sees no gap. None, nothing changed, if it is not there.
        """
        queued = self._queued
        tracked = self._orders.get(order.order_id)
        if queued is None or tracked is None or tracked.order is not order or queued[0] != order.order_id:
            return None
        _, out, start, end, seq, _, _ = queued
        if out is not self._session.out or len(out) != end:
            return None
        del out[start:]
        self._session.release_sequence(seq)
        self._queued = None
        log.error(
            "venue %s: %s of order %d (SequenceNumber %d) taken back before it was sent: the gateway could not "
            "journal it",
            self.name,
            what,
            order.order_id,
            seq,
        )
        return tracked

    def withdraw_new(self, order: Order) -> bool:
        """Take back the New Order ``send_new`` just queued for ``order`` (``_take_back``); the order untracked."""
        queued = self._queued
        tracked = self._take_back(order, "new order")
        if tracked is None or queued is None:
            return False
        del self._orders[order.order_id]
        if self._refs.get(tracked.working) is tracked:
            del self._refs[tracked.working]
        return True

    def withdraw_cancel(self, order: Order) -> bool:
        """Take back the Cancel Order ``send_cancel`` just queued for ``order`` (``_take_back``)."""
        queued = self._queued
        tracked = self._take_back(order, "cancel")
        if tracked is None or queued is None:
            return False
        tracked.cancel_seq = queued[5]
        return True

    def withdraw_replace(self, order: Order) -> bool:
        """Take back the Modify Order ``send_replace`` just queued for ``order``: the order as before it."""
        queued = self._queued
        if queued is None:
            return False
        pending = self._orders[order.order_id].pending if order.order_id in self._orders else b""
        tracked = self._take_back(order, "modify")
        if tracked is None:
            return False
        if self._refs.get(pending) is tracked:
            del self._refs[pending]
        tracked.pending = queued[6]
        tracked.modifies -= 1
        tracked.modify_seq = queued[5]
        return True

    def _not_sent(self, order: Order, what: str, padded: bytes, exc: Exception) -> Refused:
        """Return the refusal of the request ``what`` of ``order`` whose encoding raised (net49).

        The caller undid what it had noted for the request; ``_pack_*`` left the send buffer as it was and gave
        back the SequenceNumber it took (the next message carries it). The fault is logged at ERROR with its
        traceback and counted (``internal_errors``); the strategy gets the one answer ``BOE_INTERNAL_ERROR`` (an
        OrderRejected, or a CancelRejected for a cancel or modify).
        """
        self.counters["internal_errors"] += 1
        text = encode_failed(log, self.name, what, order.order_id, f"ClOrdID {_unpad(padded)}", exc)
        return Refused("BOE_INTERNAL_ERROR", text, RejectSource.GATEWAY)

    def forget(self, order: Order) -> None:
        """Drop the order's tracking and the ClOrdIDs it is known by now (terminal, released by the engine).

        ClOrdIDs of earlier Modifies stay mapped: a modified order leaves one small entry per Modify behind.
        """
        tracked = self._orders.pop(order.order_id, None)
        if tracked is None:
            return
        self._holding.pop(order.order_id, None)
        refs = self._refs
        for ref in (tracked.working, tracked.pending):
            if ref and refs.get(ref) is tracked:
                del refs[ref]

    def restore(self, order: Order, venue_ref: str) -> None:
        """Re-learn, after a restart, that ``venue_ref`` (``<ClOrdID>@<S>``) names ``order``.

        Called with the reference the order is known by, then (replace in flight) the Modify's.
        """
        cl_ord_id, seq = split_ref(venue_ref)
        if not cl_ord_id or len(cl_ord_id) > MAX_CL_ORD_ID:
            self.counters["bad_restore"] += 1
            self._rare("restore", "restore of order %d with venue ref %r ignored", order.order_id, venue_ref)
            return
        self._session.next_outbound = max(self._session.next_outbound, seq + 1)
        self._start_above(cl_ord_id)
        padded = _pad(cl_ord_id)
        tracked = self._orders.get(order.order_id)
        if tracked is None:
            tracked = self._orders[order.order_id] = _Tracked(order, padded, b"")
        tracked.order = order
        if order.state in _REPLACING and venue_ref == order.pending_ref and tracked.working != padded:
            tracked.pending = padded
            tracked.modify_seq = seq
        else:
            tracked.working = padded
            if order.state in (OrderState.PENDING_NEW, OrderState.PENDING_NEW_CANCEL):
                tracked.new_seq = seq
        tracked.done = order.is_terminal
        # an execution said LeavesQty 0 while the Modify was in flight: the journal's events rebuilt the mark
        tracked.zero_leaves = order.venue_leaves_zero and order.state in _REPLACING
        if padded in self._owed:  # the process before canceled it at Cboe after a late answer: its Cancelled says so
            tracked.late = True
        self._refs[padded] = tracked
        lapsed = order.venue_lapsed
        if lapsed is not None:  # a Modify reported refused at the in-doubt deadline: Cboe may still apply it
            self._restore_lapsed(tracked, *lapsed)

    def _restore_lapsed(self, tracked: _Tracked, venue_ref: str, qty: int, price: int) -> None:
        """Map again the ClOrdID of a Modify reported refused at the in-doubt deadline (its late Modified applies)."""
        cl_ord_id, seq = split_ref(venue_ref)
        if not cl_ord_id or len(cl_ord_id) > MAX_CL_ORD_ID:
            return
        self._start_above(cl_ord_id)
        padded = _pad(cl_ord_id)
        if padded in (tracked.working, tracked.pending):
            return
        tracked.lapsed, tracked.lapsed_qty, tracked.lapsed_price, tracked.lapsed_seq = padded, qty, price, seq
        self._refs[padded] = tracked

    def _start_above(self, cl_ord_id: str) -> None:
        """Take this process's start number above the one of a Modify ClOrdID of today the journal names (boestandby56).

        The start number comes from ``<name>.boe-starts.json``; a file lost or replaced (a standby with the journal
        on shared storage but another ``state_dir``, a state_dir wiped) counts from 1 again, and the Modifies of
        this process would go out under ClOrdIDs an earlier process of the day sent (rev56boe s19). The journal's
        ClOrdIDs of the open orders (``restore``: the one an order is known by, a Modify in flight, one reported
        refused at the in-doubt deadline) say which starts sent Modifies: a start at or above this one's moves it
        above, on file (one fsynced write), with a WARNING. At start-up only (``restore``), never per order.
        """
        if not cl_ord_id.startswith(self._base):
            return
        _digits, dot, suffix = cl_ord_id[len(self._base) :].partition(".")
        start = suffix.partition(".")[0]
        if not dot or not _is_base36(start) or int(start, 36) < self._start:
            return
        was, self._start = self._start, int(start, 36) + 1
        self._start36 = base36(self._start)
        path = starts_path(self.config.state_dir, self.name)
        try:
            raise_start(self.config.state_dir, self.name, self._day, self._start)
            written = f"on file in {path}"
        except OSError as exc:
            written = f"NOT on file ({path}: {exc.strerror or exc}): a restart today counts from the file again"
        log.warning(
            "venue %s: the journal names Modify ClOrdID %s of start %d today, at or above this start's number %d "
            "from %s (the file lost or replaced?): this start's Modify ClOrdIDs use start %d (%s). A Modify an "
            "earlier start sent that Cboe refused is not in the journal's open orders: with the start file lost, "
            "Cboe may refuse a Modify as a duplicate ClOrdID (docs/venues/boe.md, ClOrdIDs)",
            self.name,
            cl_ord_id,
            self._start - 1,
            was,
            path,
            self._start,
            written,
        )

    def resume_after(self, point: ResumePoint) -> None:
        """Before connecting after a restart: log in with the last number journaled on every matching unit.

        Only when the journal's numbering is today's (the epoch is the trading day); another
        day's numbers mean nothing to Cboe today (it would answer Q), so the login then lists only
        the configured units from 0.

        A unit Cboe renumbered today resumes in its newest numbering, journaled or on file
        (``<name>.boe-numbering.json``): a renumbering no message followed is in the file only, at mark 0.
        """
        if point.epoch != self._day:
            return
        self.sequence.adopt(point)
        units = self.config.initial_units()
        latest: dict[int, int] = {}
        for stream in sorted(point.streams):  # a renumbered unit's newest numbering journaled wins
            latest[stream & _UNIT_MASK] = stream
        for unit, stream in self._unit_streams.items():  # ... or the newer one on file
            latest[unit] = max(latest.get(unit, unit), stream)
        self._unit_streams = {unit: stream for unit, stream in latest.items() if stream != unit}
        units.update({unit: point.streams.get(stream, 0) for unit, stream in latest.items()})
        self._session.resume(units, self._session.next_outbound)
        self._resume_gaps()

    def _resume_gaps(self) -> None:
        """Take back the gaps open before the restart (``<name>.boe-gaps.json``): the first login asks for them.

        Only the numbers at or below each stream's journaled mark: Cboe replays everything above it anyway. Before
        boe55 no gap was known across a restart: the login listed the journal's mark and Cboe never replayed them.
        """
        marks = self.sequence.streams
        kept = [
            (stream, first, min(last, marks.get(stream, 0)))
            for stream, first, last in load_gaps(self.config.state_dir, self.name, self._day)
            if first <= marks.get(stream, 0)
        ]
        if not kept:
            return
        self.sequence.gaps[:0] = kept
        self._gap_ids_high = _ANY_ORDER  # the orders of the process before may have messages in them
        try:
            self._ended_over_gaps, over = load_ended_over_gaps(
                self.config.state_dir, self.name, self._day, MAX_ENDED_OVER_GAPS
            )
        except BoeStateError as exc:  # fail closed: such a message shows its order working, canceled at Cboe
            log.error("venue %s: %s", self.name, exc)
        else:
            if over:
                log.warning(
                    "venue %s: %s lists %d orders that ended above a sequence gap, more than the %d the gateway "
                    "keeps (it never writes more: a file of another origin): the newest %d kept, the %d oldest left "
                    "out (a message of a gap that shows one of those working has the order canceled at Cboe, "
                    "needlessly); the file is rewritten with the gaps",
                    self.name,
                    ended_over_gaps_path(self.config.state_dir, self.name),
                    over + len(self._ended_over_gaps),
                    MAX_ENDED_OVER_GAPS,
                    len(self._ended_over_gaps),
                    over,
                )
        self._ended_on_file = True  # rewritten (or emptied) at the next write of the gaps
        log.warning(
            "venue %s: %d sequence gap(s) open before the restart (%s): asked of Cboe again at the first login (%s)",
            self.name,
            len(kept),
            ", ".join(f"unit {stream & _UNIT_MASK} {first}..{last}" for stream, first, last in kept),
            gaps_path(self.config.state_dir, self.name),
        )

    def after_replay(self, unanswered: list[UnansweredRequest]) -> None:
        """Replay is complete: re-send what Cboe never received, report what it had but whose answer was lost.

        With nothing unanswered there is nothing to do (the core calls this at every UP) but settle a renumbering.
        """
        if not unanswered:
            self._settle_numbering()
            return
        sequenced = self.config.sequence_outbound
        last = self._last_processed
        renumbered = self._renumbered_replay
        self._renumbered_replay = False
        orders = self._orders
        self._doubtful = {oid for oid in self._doubtful if oid in orders and not orders[oid].done}
        plan: list[tuple[_Tracked, int, int]] = []
        for request in unanswered:
            tracked = self._orders.get(request.order.order_id)
            if tracked is None or tracked.done:
                continue
            kind = {"new": _NEW, "replace": _MODIFY, "cancel": _CANCEL}[request.kind.value]
            seq = (tracked.new_seq, tracked.modify_seq, tracked.cancel_seq)[kind - 1]
            if not seq:
                seq = split_ref(request.venue_ref)[1]
            self._session.next_outbound = max(self._session.next_outbound, seq + 1)
            plan.append((tracked, kind, seq))
        self._probing.clear()
        self._probe_rejects.clear()
        for held in [*self._holding.values(), *(tracked for tracked, _kind, _seq in plan)]:
            self._settle(held, _MODIFY_COPY | _CANCEL_COPY)  # settled again below, by new copies if need be
        self._holding.clear()
        owed = self._owed
        for tracked, kind, seq in plan:
            if tracked.done:  # its new order was just reported refused: nothing else of it is pending
                continue
            if kind == _CANCEL and tracked.working in owed:  # the Cancel owed (``_cancel_again``) went out: its answer
                continue  # settles this one; no copy in doubt beside it
            if kind == _NEW and sequenced and renumbered and seq > last:
                self._doubtful.add(tracked.order.order_id)  # Cboe restarted: L no longer says it never had it
                self._probe(tracked, seq, last)
            elif not (sequenced and (0 < seq <= last or renumbered)):
                self._resend(tracked, kind)
            elif kind == _NEW:
                self._probe(tracked, seq, last)
            elif kind == _CANCEL and tracked.probes:
                continue  # the probe of its New Order is this Cancel's answer too
            else:  # Cboe received it: answered late, or refused unsequenced; the copy's answer settles it
                self.counters["in_doubt"] += 1  # after Cboe restarted a numbering, also with S > L
                tracked.copies |= _MODIFY_COPY if kind == _MODIFY else _CANCEL_COPY
                if renumbered:
                    tracked.copies |= _RENUMBERED_COPY
                self._resend(tracked, kind)
        self._probe_deadline = 0  # counted from the next poll, on the poll's clock
        self._settle_numbering()

    def _settle_numbering(self) -> None:
        """Mark a renumbering settled on file once no New Order is probed because of it (``_doubtful``)."""
        if self._unsettled and not self._doubtful:
            self._unsettled = False
            self._save_numbering()

    def _save_numbering(self) -> None:
        """Write the units Cboe renumbered today to the state file; on an error, log it (the session goes on)."""
        try:
            save_numbering(self.config.state_dir, self.name, self._day, self._unit_streams, self._unsettled)
        except OSError as exc:
            log.error(
                "venue %s: cannot write the matching units Cboe renumbered (%s) to %s: %s; a restart before a "
                "message of the new numbering is journaled takes Cboe's lower numbers for a renumbering again "
                "(New Orders in doubt are then probed, not re-sent)",
                self.name,
                self._unit_streams,
                self.config.state_dir,
                exc,
            )

    def after_session_end(self, unanswered: list[UnansweredRequest]) -> None:
        """Cboe ended the day (Logout E, no reconnect): report each request it left unanswered refused.

        Every answer Cboe gave came before its Logout on the same connection, and one lost in an earlier
        cut was reported by ``after_replay``: what is still unanswered and numbered above the Logout's
        LastReceivedSequenceNumber was never processed, and never will be. One at or below it Cboe received
        without answering (no re-login can probe it, as ``after_replay`` would): its text says so, and an ERROR
        asks ops to reconcile; the day is over at Cboe all the same, so the request is refused like the others.
        """
        last = self._session.last_processed
        for request in unanswered:
            tracked = self._orders.get(request.order.order_id)
            if tracked is None or tracked.done:
                continue
            kind = request.kind.value
            seq = _request_seq(tracked, kind)
            if not seq:
                text, level = _SESSION_ENDED_UNSEQUENCED, logging.ERROR
            elif seq <= last:
                text, level = _SESSION_ENDED_RECEIVED.format(seq=seq, last=last), logging.ERROR
            else:
                text, level = _SESSION_ENDED_TEXT, logging.WARNING
            log.log(level, "venue %s: order %d: %s %s", self.name, tracked.order.order_id, kind, text)
            self._answer_session_ended(tracked, kind, text)

    def _answer_disabled(self) -> None:
        """Cboe refuses every login ``D`` (session disabled): answer the requests no login can settle (boestandby56).

        The reference gives ``D`` only as "Session disabled" (§4.2) and does not say what Cboe answers a login after
        its end of day; Cboe refuses logins then (the simulator answers ``D``), and a Logout ``E`` the gateway never
        read (it was down, or cut, when Cboe ended the day) leaves ``D`` as the only word. No login means no replay
        and no probe: a New Order, Cancel or Modify still unanswered (sent before a ``kill -9``, or in flight at a
        cut) would wait all day (rev56boe s20). Each is answered now, ``BOE_SESSION_ENDED`` (as at a Logout ``E``),
        its text saying the outcome at Cboe is unknown: a New Order ends (``OrderRejected``), a Cancel or Modify
        gets ``CancelRejected`` (the order stays open here). Should a login pass later (``gateway venue reconnect``
        once Cboe enables the session), Cboe's replay settles them as it would a late answer: an acknowledgment of
        an order refused here is canceled at Cboe, an Order Cancelled or Modified is applied.
        """
        open_orders = [tracked.order for tracked in self._orders.values() if not tracked.done and tracked.order.is_open]
        unanswered = ExactlyOnce.unanswered(open_orders)
        if not unanswered:
            return
        log.error(
            "venue %s: Cboe refuses every login (D, session disabled: what it answers after its end of day) and no "
            "login can settle %d request(s) sent before (orders %s): each is answered BOE_SESSION_ENDED, its outcome "
            "at Cboe unknown: reconcile them with Cboe",
            self.name,
            len(unanswered),
            ", ".join(str(order_id) for order_id in sorted({request.order.order_id for request in unanswered})[:10])
            + (", ..." if len(unanswered) > 10 else ""),
        )
        for request in unanswered:
            tracked = self._orders.get(request.order.order_id)
            if tracked is None or tracked.done:
                continue
            kind = request.kind.value
            seq = _request_seq(tracked, kind) or split_ref(request.venue_ref)[1]
            text = _DISABLED_TEXT.format(what=f"SequenceNumber {seq}" if seq else "sent unsequenced")
            self._answer_session_ended(tracked, kind, text)

    def _answer_session_ended(self, tracked: _Tracked, kind: str, text: str) -> None:
        """Answer one request Cboe's day left unanswered ``BOE_SESSION_ENDED`` (a New Order ends; the order stays open
        at a refused Cancel or Modify).

        A Modify so answered is kept as one reported refused at the in-doubt deadline (``lapsed``): Cboe may have
        applied it, its Order Modified lost in a cut, and a login the same day (Cboe enables the session again, or a
        re-login after Logout ``E``) replays it; ``_late_modified`` then applies it here, and the order is known by
        the Modify's ClOrdID. Before boemodify57 the replayed Order Modified was dropped as a repeat: the order stayed
        at its old size here while Cboe worked the new one, and a Cancel named the old ClOrdID (rev57boe s12, s14).
        """
        order_id = tracked.order.order_id
        if kind == "new":
            tracked.done = True
            self.event_sink(VenueRejected(0, order_id, "BOE_SESSION_ENDED", text))
        elif kind == "replace":
            lapsed = bool(tracked.pending)
            if lapsed:
                tracked.lapsed, tracked.pending = tracked.pending, b""
                tracked.lapsed_qty, tracked.lapsed_price = tracked.order.pending_qty, tracked.order.pending_price
                tracked.lapsed_seq = tracked.modify_seq
            self._modify_refused(tracked, 0, "BOE_SESSION_ENDED", text, lapsed=lapsed)
        else:
            self.event_sink(VenueCancelRejected(0, order_id, "BOE_SESSION_ENDED", text))

    def logout(self) -> None:
        """Log out; the session will not reconnect.

        While the engine holds this venue's bytes (the journal failing) only the Logout Request leaves: the held
        requests, whose journal records are not written, are dropped (fixhold55; before, this flush wrote them).
        """
        if self._output_held:
            self._session.out = bytearray()
        self._session.logout(self._clock())
        self.flush(journaled=False)

    def shutdown(self) -> bool:
        """Send the Logout Request (gateway stopping); True if connected (Cboe answers Logout, then closes)."""
        connected = self._session.state in _CONNECTED
        self.logout()
        return connected

    def session_counters(self) -> dict[str, int]:
        """Return the BOE session's counters ``gateway metrics`` exports per venue (``SESSION_COUNTERS``)."""
        counters = self.counters
        sequence = self.sequence
        return {
            "sequence_gaps": counters["sequence_gaps"],
            "protocol_errors": counters["protocol_errors"],
            "decode_errors": counters["decode_errors"],
            "gaps_forgotten": sequence.gaps_forgotten,
            "late_admitted": sequence.late,
            "repeated_reports": counters["repeated_reports"],
            "login_timeouts": self._session.login_timeouts,
            "executions_held": counters["executions_held"],
            "executions_held_over_cap": counters["executions_held_over_cap"],
            "executions_held_now": self._held_count,
        }

    def status(self) -> dict[str, object]:
        """Return a JSON-able description for ``gateway status``."""
        session = self._session
        return {
            "name": self.name,
            "state": str(self._state),
            "reason": self._reason,
            "session_state": session.state.value,
            "units": dict(session.units),
            "next_outbound_sequence": session.next_outbound,
            "cboe_last_received_sequence": session.last_processed,
            "logins": session.logins,
            "login_rejects": session.login_rejects,
            "login_refusals": session.login_refusals,
            "last_login_refusal": session.last_login_refusal,
            "last_login_refusal_status": session.last_refusal_status,
            **(
                {"login_refused_fix": login_refusal_fix(session.last_refusal_status, self.name)}
                if self._state is VenueState.LOGIN_REFUSED
                else {}
            ),
            "replayed": session.replayed,
            "repeats_received": session.repeats,
            "duplicates_dropped": self.sequence.duplicates,
            "late_admitted": self.sequence.late,
            "open_gaps": len(self.sequence.gaps),
            "gaps_forgotten": self.sequence.gaps_forgotten,
            "numbering_restarts": session.numbering_restarts,
            "undecodable_drops": session.undecodable,
            "renumbered_units": {unit: stream >> UNIT_BITS for unit, stream in sorted(self._unit_streams.items())},
            "heartbeats_sent": session.heartbeats_sent,
            "login_timeouts": session.login_timeouts,
            "open_orders": sum(1 for tracked in self._orders.values() if not tracked.done),
            "late_cancels_waiting": len(self._owed),
            "executions_held_now": self._held_count,
            "executions_held_cap": self.held_fills_cap,
            "start_of_day": self._start,
            **self.counters,
            "ignored_by_type": dict(self.ignored),
        }

    # ---- transport hooks --------------------------------------------------------------------

    def connection_made(self, now_ns: int) -> None:
        """Send the Login Request on a fresh connection (a new trading day starts the units afresh)."""
        self._close_pending = False
        day = trading_day(self.config.timezone, self._wall)
        if day != self._day:
            log.info("venue %s: trading day %s -> %s: matching-unit sequences start afresh", self.name, self._day, day)
            previous, self._day = self._day, day
            self._base = self.config.cl_ord_id_prefix + day_code(day)
            self._ids_floor = self._ids_reserved = self._ids_high = 0  # the new day's ClOrdIDs: none used yet
            self._session.resume(self.config.initial_units(), 1)
            self._unit_streams = {}
            self._last_processed = 0  # Cboe's count of ours restarts with the day too
            self._corrections = set()  # so does the numbering the busts reported were in
            self._ended_over_gaps = {}  # and the messages that ended orders above a gap (boe59)
            self._forget_end_numbers()
            if self.sequence.gaps:  # yesterday's numbers mean nothing to Cboe today: said, no longer asked for
                self._unfilled_at_day_change(previous, self.sequence.gaps)
                self.sequence.gaps.clear()
                self._gaps_unsaved = True
            if self._owed:  # a GTC order outlives the day at Cboe: the Cancels stay owed, sent after the login
                for padded in self._owed:
                    self._owed[padded] = 0  # yesterday's SequenceNumbers mean nothing today
                self._carried_over(previous)
                self._save_owed()
        if self.sequence.gaps:
            self._ask_for_gaps()
        self._session.connection_made(now_ns)
        if self._session.state is BoeSessionState.LOGGING_IN:
            self._set_state(VenueState.LOGGING_IN, self._session.reason)
        self.flush(journaled=False)

    def _unfilled_at_day_change(self, day: str, gaps: list[tuple[int, int, int]]) -> None:
        """Say the sequence gaps trading day ``day`` ended with: never received, and never asked for again.

        Cboe numbers every trading day afresh, so a gap of an earlier day cannot be replayed (rev60boe: it was dropped
        without a line at the day change, and a restart on the next day dropped the gaps file's the same way).
        """
        for stream, first, last in gaps[:16]:
            log.warning(
                "venue %s: trading day %s ended with unit %d: %d..%d never received: not asked for on day %s (Cboe "
                "numbers each trading day afresh); an Execution among them is missing here: reconcile with Cboe",
                self.name,
                day,
                stream & _UNIT_MASK,
                first,
                last,
                self._day,
            )
        if len(gaps) > 16:
            log.warning(
                "venue %s: ... and %d more gaps of trading day %s never received", self.name, len(gaps) - 16, day
            )

    def _ask_for_gaps(self) -> None:
        """Log in from below each unit's oldest open gap: Cboe replays what it skipped (the rest are repeats)."""
        units = self._session.units
        renumbered = self._session.renumbered
        self._asked_gaps = []
        for stream, first, last in self.sequence.gaps:
            unit = stream & _UNIT_MASK
            if self._unit_streams.get(unit, unit) != stream or unit in renumbered or unit not in units:
                continue
            self._asked_gaps.append((stream, first, last))
            if first - 1 < units[unit]:
                log.info(
                    "venue %s: unit %d: logging in from %d instead of %d: Cboe replays the gap %d..%d",
                    self.name,
                    unit,
                    first - 1,
                    units[unit],
                    first,
                    last,
                )
                units[unit] = first - 1

    def data_received(self, data: bytes, now_ns: int) -> None:
        """Consume bytes from Cboe; events go to ``event_sink``."""
        self._session.data_received(data, now_ns)
        if self._state_unsynced:  # before the core journals the read's events and writes its bytes
            self._sync_state()

    def connection_lost(self, now_ns: int) -> None:
        """Note the connection is gone; unanswered requests wait for the next Replay Complete."""
        session = self._session
        session.connection_lost(now_ns)
        if session.state is BoeSessionState.ENDED:
            self._set_state(VenueState.ENDED, session.reason)
        elif session.state is BoeSessionState.LOGIN_REFUSED:
            if self._state is not VenueState.LOGIN_REFUSED:
                log.error(
                    "venue %s: LOGIN REFUSED %d times in a row (%s): not reconnecting. To fix: %s",
                    self.name,
                    session.login_refusals,
                    session.last_login_refusal,
                    login_refusal_fix(session.last_refusal_status, self.name),
                )
            self._set_state(VenueState.LOGIN_REFUSED, session.reason)
            if session.last_refusal_status == "D":
                self._answer_disabled()
        else:
            self._set_state(VenueState.DISCONNECTED, session.reason)

    def poll(self, now_ns: int) -> int:
        """Run heartbeat and timeout timers (and the probes' bound); return ns until the next call is wanted."""
        wait = self._session.poll(now_ns)
        if self._probing and self._session.ready and not self._output_held:  # held: the probes have not left (held54)
            if not self._probe_deadline:
                self._probe_deadline = now_ns + PROBE_TIMEOUT_NS
            left = self._probe_deadline - now_ns
            if left > 0:
                wait = min(wait, left)
            else:
                self._probes_expired()
        if self._holding and self._session.ready:
            self._holds_expired(now_ns)
            if self._holding:
                wait = min(wait, min(tracked.held_until for tracked in self._holding.values()) - now_ns)
        if self._gaps_unsaved:  # a gap opened or closed: the core has journaled the message since
            if now_ns >= self._gaps_saved_at + GAPS_SAVE_NS or not self._gaps_saved_at:
                self._gaps_saved_at = now_ns
                self._save_gaps()
            else:
                wait = min(wait, self._gaps_saved_at + GAPS_SAVE_NS - now_ns)
        tally = self._answered_tally.pending
        if tally[0] or tally[1]:  # answers to Cancels owed counted, not logged: said within ANSWERED_LOG_NS (boe56)
            self._say_answered(now_ns)
            tally = self._answered_tally.pending
            if tally[0] or tally[1]:  # the last such line is too recent: at the latest one interval from now
                wait = min(wait, ANSWERED_LOG_NS)
        if self._held_fills:
            if now_ns >= self._held_retry_at:
                self._retry_held(now_ns)
            if self._held_fills:
                wait = min(wait, self._held_retry_at - now_ns)
        if self._state_unsynced:
            self._sync_state()
        return wait

    def reconnect(self) -> bool:
        """Leave LOGIN_REFUSED (an operator's ``gateway venue reconnect``): the next connection logs in again."""
        if not self._session.reconnect():
            return False
        self._set_state(VenueState.CONNECTING, self._session.reason)
        return True

    def before_connect(self) -> bool:
        """Return False, the venue ENDED, if Cboe ended the trading day before this start (no login today)."""
        session = self._session
        if session.state is not BoeSessionState.ENDED:
            return True
        log.warning(
            "venue %s: Cboe ended trading day %s before this start (%s): not logging in today (Cboe refuses logins "
            "after the end of the day); new orders are refused VENUE_UNAVAILABLE, cancels VENUE_SESSION_ENDED. A "
            "start on the next trading day logs in again; to log in today all the same, stop the gateway, delete "
            "%s and start it",
            self.name,
            self._day,
            session.reason,
            end_of_day_path(self.config.state_dir, self.name),
        )
        self._set_state(VenueState.ENDED, session.reason)
        return False

    def _remember_end_of_day(self) -> bool:
        """Start ENDED if the end-of-day mark on file names today (Cboe's Logout ``E`` before a restart)."""
        try:
            mark = load_end_of_day(self.config.state_dir, self.name, self._day)
        except BoeStateError as exc:
            log.error("venue %s: %s; taken as not ended: the venue logs in", self.name, exc)
            return False
        if mark is None:
            return False
        reason, text, last = mark
        self._session.end_remembered(
            f"ended for the day before a restart (Logout {reason!r}{': ' + text if text else ''})", last
        )
        self._reason = self._session.reason
        return True

    def _mark_end_of_day(self) -> None:
        """Put Cboe's end of the day on file (a restart the same trading day does not log in)."""
        self._end_marked = True
        logout = self._last_logout
        reason, text = (logout.reason, logout.text) if logout is not None else ("", "")
        try:
            save_end_of_day(self.config.state_dir, self.name, self._day, reason, text, self._session.last_processed)
        except OSError as exc:
            log.error(
                "venue %s: cannot write the end-of-day mark to %s: %s; a restart today would log in again, and Cboe "
                "refuses logins after the end of the day (LOGIN_REFUSED)",
                self.name,
                end_of_day_path(self.config.state_dir, self.name),
                exc,
            )

    def reconnect_delay_ns(self, attempt: int) -> int | None:
        """Return the backoff before reconnect ``attempt``, or None once the session is over."""
        session = self._session
        delay = session.reconnect_delay_ns(attempt)
        if delay is not None:  # the try in a row, failed logins included (``attempt`` counts failed connects only)
            tries = session.reconnect_attempt(attempt)
            self._set_state(VenueState.CONNECTING, f"reconnecting in {delay // MS} ms (attempt {tries})")
        return delay

    def flush(self, journaled: bool = True) -> None:
        """Write every queued byte to the venue socket (then close it, if the session asked to).

        ``journaled``: called by the engine's flush, after the journal batch was written (``Engine.flush``: journal,
        then venues; not called when that write fails): the held executions handed on since then leave the held
        file now (``_held_handed``, boe56). False: the adapter's own flush (a login, a Logout), which proves nothing.
        """
        if self._state_unsynced:  # the Cancels owed are durable on file before they leave
            self._sync_state()
        if self._held_unsaved and journaled:  # their journal records are written: off the file
            self._held_handed.clear()
            self._save_held()
        write = self._write
        if write is not None and self._session.out:
            write(self._session.take(self._clock()))
        if self._close_pending:
            self._close_pending = False
            if self._close is not None:
                self._close()

    # ---- session callbacks (BoeSessionListener) ------------------------------------------------

    def on_login_accepted(self, response: LoginResponse) -> None:
        """Login accepted: today's numbering; remember what Cboe processed; the replay follows (no re-send here)."""
        self.sequence.new_epoch(self._day)
        self._renumber()
        if response.last_received_sequence < self._last_processed and not self._renumbered:
            self._renumbered = True  # Cboe processed less of ours than it said before: it restarted
            log.warning(
                "venue %s: Cboe reports our sequence %d processed, below the %d it reported before: it restarted; "
                "New Orders unanswered are probed, not re-sent",
                self.name,
                response.last_received_sequence,
                self._last_processed,
            )
        self._last_processed = response.last_received_sequence
        self._set_state(VenueState.LOGGING_IN, self._session.reason)

    def _renumber(self, refused: str = "") -> bool:
        """Give each unit the Login Response showed Cboe renumbered a new exactly-once stream; log it (one line).

        ``refused``: the login was refused (``Q``), and why. Return True if a unit was renumbered.
        """
        renumbered = self._session.renumbered
        if not renumbered:
            return False
        streams = self._unit_streams
        for unit in renumbered:
            streams[unit] = streams.get(unit, unit) + (1 << UNIT_BITS)
        self._renumbered = self._unsettled = True
        self._save_numbering()  # before anything of the new numbering is journaled
        log.warning(
            "venue %s: Cboe restarted the numbering of matching unit(s) %s (its highest now below the last we "
            "received, %s; restarts so far %d%s): their messages from 1 on are taken as new, not as repeats; the "
            "next login lists them from 0, and New Orders unanswered are probed, not re-sent",
            self.name,
            ", ".join(str(unit) for unit in sorted(renumbered)),
            ", ".join(f"{unit}: {highest}" for unit, highest in sorted(renumbered.items())),
            self._session.numbering_restarts,
            f"; {refused}" if refused else "",
        )
        return True

    def on_login_rejected(self, status: str, text: str) -> None:
        """Login Response other than A: the reason shows in the DISCONNECTED (or LOGIN_REFUSED) state once closed."""
        if self._renumber(f"login refused {status}: {text}"):
            return
        dropped = self._session.dropped_units
        if dropped:
            log.warning(
                "venue %s: login rejected: %s (%s): the next login no longer lists matching unit(s) %s (Cboe's "
                "Login Responses do not list them; our last sequences were %s)",
                self.name,
                text,
                status,
                ", ".join(str(unit) for unit in sorted(dropped)),
                ", ".join(f"{unit}: {last}" for unit, last in sorted(dropped.items())),
            )
        else:
            log.warning("venue %s: login rejected: %s (%s)", self.name, text, status)

    def on_replay_complete(self) -> None:
        """Replay Complete: UP (the core then hands over the unanswered requests: ``after_replay``)."""
        if self._owed:
            self._send_owed()
        if self._asked_gaps:
            self._gaps_replayed()
        self._renumbered_replay, self._renumbered = self._renumbered, False
        named = self._ids_named
        if named > self._ids_floor and named > self._ids_high and named > self._ids_checked:
            self._ids_checked = named
            self._ids_above_named()
        self._set_state(VenueState.UP, self._session.reason)

    def _ids_above_named(self) -> None:
        """Start the core's new order ids above a ClOrdID of today the journal never created (boestandby56).

        Before the venue is UP (new orders are refused ``VENUE_UNAVAILABLE`` until then), so no New Order goes out
        under a ClOrdID Cboe already has today. A standby host taking over with its own journal and ``state_dir``
        reads the primary's orders in the replay (each one the journal never created): before this its first New
        Orders went out under the primary's ClOrdIDs again (Cboe refused them ``D`` while the primary's worked, or
        took them, and later messages of the primary's order then reached the standby's: rev56boe s07). The floor
        goes on file (``<name>.boe-order-ids.json``: a restart starts above it, the replay not read again), with a
        WARNING. Once per Replay Complete with a new highest; one engine lookup (no journal read for an id above the
        journal's).
        """
        high = self._ids_named
        raise_ids = self.order_ids_above
        if raise_ids is None or self._never_created(high, "") != LOOKUP_NEVER_CREATED:
            return
        floor = raise_ids((high,))
        if floor <= 0:
            log.warning(
                "venue %s: Cboe's replay names ClOrdID order ids up to %d this gateway's journal never created: past "
                "another venue's room for order ids, the ids cannot reach them",
                self.name,
                high,
            )
            return
        self._ids_floor = max(self._ids_floor, floor)
        reserved = max(self._ids_reserved, floor)
        path = order_ids_path(self.config.state_dir, self.name)
        try:
            save_order_ids(self.config.state_dir, self.name, self._day, reserved, journal=self._journal)
            self._ids_reserved = reserved
            written = f"on file in {path}"
        except OSError as exc:
            written = f"NOT on file ({path}: {exc.strerror or exc}): a restart today may not start above them"
        log.warning(
            "venue %s: Cboe's replay names ClOrdIDs of this gateway's form up to order id %d that the journal never "
            "created (another host's orders of today: a standby taking over, or a journal without the day's "
            "earlier orders): new order ids start above %d, so none of those ClOrdIDs is entered again (%s)%s",
            self.name,
            high,
            floor,
            written,
            "" if floor >= high else f"; those above {floor} are past another venue's room for order ids",
        )

    def _gaps_replayed(self) -> None:
        """Replay Complete after a login from below open gaps: a gap still open is one Cboe does not have."""
        asked, self._asked_gaps = self._asked_gaps, []
        gaps = self.sequence.gaps
        for gap in asked:
            stream, first, last = gap
            still = [open_gap for open_gap in gaps if open_gap[0] == stream and first <= open_gap[1] <= last]
            for open_gap in still:
                gaps.remove(open_gap)
                self._gaps_unsaved = True
                log.warning(
                    "venue %s: unit %d: Cboe's replay did not send %d..%d: no longer waited for (a message of it "
                    "arriving later is dropped as a repeat); reconcile with Cboe",
                    self.name,
                    stream & _UNIT_MASK,
                    open_gap[1],
                    open_gap[2],
                )

    def on_sequence_issue(self, issue: SequenceIssue) -> None:
        """Count and (rarely) log a gap, a unit Cboe has less of than we saw, or a short replay.

        A unit behind our mark is a renumbered one: counted here, logged by ``_renumber`` (one line per login).
        """
        if issue.kind == "gap":
            self.counters["sequence_gaps"] += 1
            self._fill_log.log(  # any of them may be a fill: every gap, at most a line a second (rev55boe)
                "seq-gap",
                self._clock(),
                logging.WARNING,
                "venue %s: sequence gap: %s: applied if they arrive later, asked for again at the next login "
                "(`open_gaps` in status); until then an execution among them is missing from the positions",
                self.name,
                issue.text,
            )
            return
        self.counters["sequence_issues"] += 1
        if issue.kind != "behind":
            self._rare("seq-" + issue.kind, "sequence %s: %s", issue.kind, issue.text)

    def on_logout(self, logout: Logout) -> None:
        """Cboe's Logout: logged (the session decides whether to reconnect).

        INFO for the answer to our Logout Request and for the end of the day; WARNING for any other (``!`` Cboe
        saw a protocol violation, ``A`` administrative, ...): the session drops and logs in again.
        """
        self._last_logout = logout
        expected = self._session.state is BoeSessionState.LOGGING_OUT or (
            bool(logout.reason) and logout.reason in self.config.end_of_day_logout_reasons
        )
        if expected:
            log.info("venue %s: Logout %r from Cboe: %s", self.name, logout.reason, logout.text)
        else:
            log.warning(
                "venue %s: Logout %r from Cboe, unrequested: %s (LastReceivedSequenceNumber %d); logging in again "
                "after the backoff",
                self.name,
                logout.reason,
                logout.text,
                logout.last_received_sequence,
            )

    def on_disconnect_wanted(self, reason: str) -> None:
        """Close the transport at the core's next flush (the journal is written before the wire).

        At Cboe's end of the day (the session ENDED) the mark goes on file first (``_mark_end_of_day``).
        """
        log.info("venue %s: disconnecting: %s", self.name, reason)
        if self._session.state is BoeSessionState.ENDED and not self._end_marked:
            self._mark_end_of_day()
        self._close_pending = True
        if self._output_held:  # that flush writes nothing while the engine holds this venue's bytes: close now
            self._close_held()

    def hold_output(self, held: bool) -> None:
        """The engine starts or stops holding this venue's bytes (``VenueAdapter.hold_output``).

        A close the session wanted before the flush that failed (that flush closed nothing) happens now (fixhold55).
        """
        self._output_held = held
        if held and self._close_pending:
            self._close_held()

    def _close_held(self) -> None:
        """Close the connection now, dropping the bytes the engine holds for it (fixhold55).

        The session wants its connection closed (Cboe silent past ``server_timeout``, a login or replay timeout, a
        Logout, framing lost) while the engine holds this venue's bytes (``hold_output``: the journal cannot be
        written). Before, the close waited for the engine's venue flush, which the hold skips: the dead session
        stayed UP for the whole spell, and at the journal's return the held requests were written into it before
        it closed. What was held never leaves, on this connection or a later one (``connection_lost`` drops unsent
        bytes, as on any cut); every request in it stays unanswered in the core and is settled after the next
        Replay Complete like one lost in a cut (``after_replay``): its SequenceNumber is above Cboe's
        LastReceivedSequenceNumber, so it is re-sent (a New Order under the same ClOrdID); owed Cancels go again
        at Replay Complete (``_send_owed``).
        """
        self._close_pending = False
        self._session.out = bytearray()
        self._write = None  # nothing more goes to the connection being closed (``connection_lost`` follows)
        if self._close is not None:
            self._close()

    def on_protocol_error(self, text: str) -> None:
        """Count a BOE protocol error the session tolerated or disconnected for."""
        self.counters["protocol_errors"] += 1
        self._rare("protocol", "BOE protocol error: %s", text)

    def on_application(self, message: memoryview, unit: int, sequence: int, replay: bool) -> str | None:
        """Turn one Cboe message into (at most one) event, unless the exactly-once component has seen it.

        Return why the message does not decode (its number is then not admitted), else None.
        """
        stream = unit
        if self._unit_streams:  # a unit Cboe renumbered: its messages are numbered in a stream of their own
            stream = self._unit_streams.get(unit, unit)
        entry = self._handlers.get(message[4])
        if entry is None:
            if self._admit_stream(stream, sequence):
                self._ignore(f"0x{message[4]:02X}", sequence, "no handler")
            return None
        decoded = entry[0](message)
        if decoded.__class__ is DecodeError:
            return self._undecodable(message, unit, sequence, decoded)
        if self._admit_stream(stream, sequence):
            entry[1](decoded, stream_seq(stream, sequence))
        elif not replay:
            self._live_repeat(unit, sequence, message)
        return None

    def _live_repeat(self, unit: int, sequence: int, message: memoryview) -> None:
        """A sequenced message at or below its unit's last, outside a replay and of no open gap: dropped, logged.

        Either Cboe sent one already applied again, or one of a gap no longer known (forgotten, or opened before
        a restart: the journal holds no gaps) came late; logged rarely (1st, 2nd, 4th ... occurrence).
        """
        self._rare(
            "live-repeat",
            "unit %d: %s %d arrived after %d outside a replay: dropped as a repeat (already applied, or of a gap "
            "not known: reconcile with Cboe if it was never applied)",
            unit,
            MESSAGE_NAMES.get(message[4], f"message type 0x{message[4]:02X}"),
            sequence,
            self._session.units.get(unit, 0),
        )

    def _undecodable(self, message: memoryview, unit: int, sequence: int, error: DecodeError) -> str:
        """Count and log a Cboe message of a known type that does not decode; return why (for the session)."""
        self.counters["decode_errors"] += 1
        name = MESSAGE_NAMES[message[4]]
        if sequence and sequence <= self._session.units.get(unit, 0):  # a repeat of one read before: nothing lost
            self._rare("decode", "undecodable repeated %s (unit %d, sequence %d): %s", name, unit, sequence, error.text)
        else:
            log.error(
                "venue %s: undecodable %s (unit %d, sequence %d, %d bytes): %s (%s); not taken as received: "
                "dropping the connection so that %s",
                self.name,
                name,
                unit,
                sequence,
                len(message),
                error.text,
                error.kind,
                "Cboe sends it again after the re-login"
                if sequence
                else "the request it answered is settled after the re-login (unsequenced: never replayed)",
            )
        return f"{error.text} ({error.kind})"

    # ---- Cboe -> member handlers ----------------------------------------------------------------

    @staticmethod
    def _ack_decode(message: memoryview) -> tuple[AckCore, memoryview] | DecodeError:
        """Decode an Order Acknowledgment's fixed part; keep the message (its return fields are checked)."""
        core = ack_core(message)
        if isinstance(core, DecodeError):
            return core
        return core, message

    def _on_ack(self, decoded: tuple[AckCore, memoryview], seq: int) -> None:
        core, message = decoded
        _unit, _sequence, cl_ord_id, order_id = core
        tracked = self._refs.get(cl_ord_id) or self._earlier_ref(cl_ord_id)
        if tracked is None:
            if not self._working_after_end(seq, "Order Acknowledgment", cl_ord_id):
                self._unknown(seq, "Order Acknowledgment", cl_ord_id)
            return
        order = tracked.order
        if tracked.done:
            if order.state in _ENDED_AT_CBOE:  # a repeat of the acknowledgment (a unit replayed after a renumbering)
                self._ignore("repeated-ack", seq, core)
            else:  # reported refused (its answer taken as lost), yet Cboe has it
                self._late_ack(tracked, seq)
            return
        qty, price = order.qty, order.price
        if order.state in _UNACKED:  # its first acknowledgment: the returned fields against the New Order sent
            terms = self._ack_terms(tracked, message, seq)
            if terms is None:
                return
            qty, price = terms
        self.event_sink(VenueAccepted(seq, order.order_id, str(order_id), qty, price))

    def _ack_terms(self, tracked: _Tracked, message: memoryview, seq: int) -> tuple[int, int] | None:
        """Check an Order Acknowledgment's return fields against the New Order sent, as OUCH checks its Accepted.

        Return the quantity and price the order takes (fewer shares or a better price: Cboe's word, as OUCH takes
        them), or None if Cboe acknowledged another order (another side, symbol or order type, more shares than
        sent, a worse price, another time in force but Day acknowledged as IOC): that order is not the one risk
        checked, so it is rejected here (``BOE_ACCEPTED_MISMATCH``, its one answer, exposure released), canceled at
        Cboe by its ClOrdID (``_owe_cancel``: on file, sent again after a login until answered; a fill before
        that is applied as a late fill), logged at ERROR and counted (``accepted_mismatch``). A field not returned,
        or zero-filled (Cboe's "does not apply"), is not checked; an Ack whose optional fields do not decode (a set
        bit we do not know) is taken unchecked (``ack_unchecked``), as before.
        """
        order = tracked.order
        terms = self._ack_reader.read(message)
        if terms is None:  # not the negotiated layout: the table-driven decoder
            full = self._decoder.decode(message)
            if not isinstance(full, OrderAcknowledgment):  # a set bit we do not know: the fixed part only
                self.counters["ack_unchecked"] += 1
                return order.qty, order.price
            fields = full.optional
            terms = tuple(
                (value.encode("latin-1") if isinstance(value, str) else value) or b""
                for value in (getattr(fields, name) for name in ACK_TERMS)
            )
        side, ack_price, ord_type, tif, symbol, order_qty, leaves = terms
        sent_side = _SIDE[order.side]
        qty = order.qty
        price = order.price
        if (
            (not side or side in (sent_side, b"\x00"))
            and (not symbol or symbol.rstrip(b"\x00") in (b"", order.symbol.encode()))
            and (not ord_type or ord_type == _ORD_TYPE.get(order.ord_type) or ord_type == b"\x00")
            and (not tif or tif == _TIF.get(order.tif) or tif == b"\x00")
            and (not order_qty or order_qty == qty)
            and (not leaves or leaves == qty)
            and (not ack_price or ack_price == price)
        ):
            return qty, price  # as sent: the usual case, read with one unpack
        differs: list[str] = []
        if side and side not in (b"\x00", sent_side):
            differs.append(f"side {sent_side.decode()} -> {side.decode('latin-1')}")
        ack_symbol = symbol.rstrip(b"\x00").decode("latin-1") if symbol else ""
        if ack_symbol and ack_symbol != order.symbol:
            differs.append(f"symbol {order.symbol!r} -> {ack_symbol!r}")
        sent_type = _ORD_TYPE.get(order.ord_type, b"")
        if ord_type and ord_type not in (b"\x00", sent_type):
            differs.append(f"order type {sent_type.decode()} -> {ord_type.decode('latin-1')}")
        sent_tif = _TIF.get(order.tif, b"")
        if tif and tif not in (b"\x00", sent_tif) and not (sent_tif == b"0" and tif == b"3"):  # Day as IOC: shorter
            differs.append(f"time in force {sent_tif.decode()} -> {tif.decode('latin-1')}")
        for name, value in (("OrderQty", order_qty), ("LeavesQty", leaves)):
            if value and value > order.qty:
                differs.append(f"{name} {order.qty} -> {value} (more than sent)")
            elif value and value < qty:
                qty = value
        if ack_price and order.ord_type is OrderType.LIMIT and ack_price != price:
            if ack_price > price if order.side is Side.BUY else ack_price < price:
                differs.append(f"price {price_text(price)} -> {price_text(ack_price)} (worse than sent)")
            else:
                price = ack_price
        if not differs:
            return qty, price
        what = ", ".join(differs)
        self.counters["accepted_mismatch"] += 1
        tracked.done = True
        self._owe_cancel(tracked.working)  # on file before the VenueRejected is journaled; out now if logged in
        log.error(
            "venue %s: Order Acknowledgment (venue_seq %d) of ClOrdID %s acknowledges another order than the New "
            "Order sent for order %d (%s): the order is rejected BOE_ACCEPTED_MISMATCH and canceled at Cboe; fills "
            "of it are applied to order %d: reconcile with Cboe",
            self.name,
            seq,
            _unpad(tracked.working),
            order.order_id,
            what,
            order.order_id,
        )
        text = f"Cboe acknowledged another order than the one sent ({what}): canceled at Cboe"
        self.event_sink(VenueRejected(seq, order.order_id, "BOE_ACCEPTED_MISMATCH", text))
        return None

    def _on_execution(self, core: ExecutionCore, seq: int) -> None:
        _u, _s, cl_ord_id, exec_id, last_shares, last_px, leaves, base, sub = core
        tracked = self._refs.get(cl_ord_id) or self._earlier_ref(cl_ord_id)
        if tracked is None:
            if not self._forgotten_execution(seq, core):
                self._unknown_execution(seq, cl_ord_id, exec_id, last_shares, last_px)
            return
        order = tracked.order
        # a Modify in flight: Cboe applies the difference in OrderQty to the open quantity, also of an order the
        # fill leaves nothing of (LeavesQty 0): the core keeps such an order open, and the Modify's answer says
        replacing = bool(tracked.pending) and order.state in _REPLACING
        ended = not leaves and not tracked.done  # Cboe ended the order: so does the gateway, whatever it had open
        if ended:
            if replacing:  # ... unless the Modify reopens it: its answer decides (``_modify_refused``)
                tracked.zero_leaves = True
                tracked.zero_cause = f"after an execution of {last_shares}"
                tracked.zero_seq = seq
                ended = False
            else:
                tracked.done = True
                self._ended_at(tracked, seq)
        unapplied = ""  # an execution the gateway cannot apply (its values out of range): what Cboe said of it
        if not last_shares:  # not an execution: neither applied nor taken for a repeat (the core's qty 0)
            self._no_shares(seq, cl_ord_id, exec_id)
        elif not (0 <= last_shares <= _CARRIED_QTY and 0 <= last_px <= _CARRIED_PRICE):
            self._out_of_range(seq, "Order Execution", last_shares, last_px)
            unapplied = f"LastShares {last_shares}, LastPx {last_px}"
            last_shares = 0  # not applied
        else:
            liquidity = (base + sub).rstrip(b"\x00").decode("latin-1")
            self.event_sink(
                VenueExecuted(
                    seq, order.order_id, last_shares, last_px, liquidity, str(exec_id), replacing, False, not leaves
                )
                if replacing
                else VenueExecuted(seq, order.order_id, last_shares, last_px, liquidity, str(exec_id))
            )
        if ended and order.leaves_qty > 0:  # the execution (applied above) left shares open: Cboe has none
            self._leaves_zero(seq, tracked, f"after an execution of {last_shares}", order.leaves_qty, unapplied)
        elif tracked.zero_leaves and order.is_terminal:  # the Modify could not reopen it (it lowered the quantity)
            tracked.zero_leaves = False
            tracked.done = True
            self._ended_at(tracked, seq)
        elif leaves and order.is_terminal and not replacing:  # Cboe works on an order that ended here ...
            if self._is_older_than_end(seq, tracked.end_seq):  # ... unless older than what ended it (a gap's, late)
                self._older_than_end(seq, "Order Execution", f"order {order.order_id}", tracked.end_seq, leaves)
            else:
                self._working_tracked(seq, tracked)

    def _leaves_zero(self, seq: int, tracked: _Tracked, cause: str, rest: int, unapplied: str = "") -> None:
        """Cboe said LeavesQty 0 (``cause``: what said it) while the order has shares open here: cancel them.

        ``unapplied``: the execution's values, which the gateway could not apply (out of range): the shares are
        closed here without a fill, though they may have traded at Cboe: said at ERROR, to reconcile (rev55boe).
        """
        order = tracked.order
        if unapplied:
            text = (
                f"Cboe reported nothing left open (LeavesQty 0) with an execution the gateway cannot apply "
                f"({unapplied}: out of range); the {rest} shares still open here are closed without a fill: "
                "they may have traded at Cboe: reconcile with Cboe"
            )
            log.error("venue %s: order %d: %s", self.name, order.order_id, text)
            self.event_sink(VenueCanceled(seq, order.order_id, 0, "BOE_LEAVES_ZERO", text))
            return
        text = f"Cboe reported nothing left open (LeavesQty 0) {cause}; the {rest} shares still open here are canceled"
        log.warning("venue %s: order %d: %s", self.name, order.order_id, text)
        self.event_sink(VenueCanceled(seq, order.order_id, 0, "BOE_LEAVES_ZERO", text))

    def _on_cancelled(self, core: CancelledCore, seq: int) -> None:
        _u, _s, cl_ord_id, reason = core
        tracked = self._refs.get(cl_ord_id) or self._earlier_ref(cl_ord_id)
        if tracked is None:
            if not self._answer_after_end(seq, "Order Cancelled", cl_ord_id):
                self._unknown(seq, "Order Cancelled", cl_ord_id)
            return
        if tracked.order.is_terminal and self._discharge(cl_ord_id):
            # the answer to the Cancel sent after the order ended here (``_working_tracked``; ``_late_ack`` of a New
            # Order reported refused, ``_late_modified`` of an order that ended: ``late``): INFO, as when unmapped.
            # Before boemodify57 a ``late`` one became a Canceled BOE_ANSWER_LATE saying a Modify was applied,
            # out of place for the ended order (rev57boe s04).
            tracked.done = True
            self._ended_at(tracked, seq)
            self.counters["after_end"] += 1
            self._answered(seq, "Order Cancelled", f"order {tracked.order.order_id}", _unpad(cl_ord_id), False)
            return
        tracked.done = True
        self._ended_at(tracked, seq)
        self._settle(tracked, _CANCEL_COPY)
        letter = reason.decode("latin-1")
        if tracked.late:  # the adapter canceled it at Cboe after a late answer: this may be the Cancel's answer
            self._discharge(cl_ord_id)
            if letter == "U" and tracked.order.state is not OrderState.PENDING_CANCEL:
                self._probing.pop(tracked.order.order_id, None)
                text = _LATE_TEXT if tracked.probes else _LATE_MODIFIED_TEXT
                self.event_sink(VenueCanceled(seq, tracked.order.order_id, 0, "BOE_ANSWER_LATE", text))
                return
        if tracked.probes and letter == "U" and tracked.order.state is not OrderState.PENDING_CANCEL:
            self._probing.pop(tracked.order.order_id, None)  # the probe's cancel, the strategy asked for none
            self.event_sink(VenueCanceled(seq, tracked.order.order_id, 0, "BOE_ANSWER_LATE", _LATE_TEXT))
            return
        self.event_sink(VenueCanceled(seq, tracked.order.order_id, 0, *_reason(letter)))

    def _on_rejected(self, decoded: BoeOrderRejected, seq: int) -> None:
        tracked = self._refs.get(_pad(decoded.cl_ord_id)) or self._earlier_ref(decoded.cl_ord_id)
        if tracked is None:
            if not self._answer_after_end(seq, "Order Rejected", decoded.cl_ord_id):
                self._unknown(seq, "Order Rejected", decoded.cl_ord_id)
            return
        if tracked.done:
            self._ignore("late-reject", seq, decoded)
            return
        tracked.done = True
        code, text = _reason(decoded.reason, decoded.text)
        self.event_sink(VenueRejected(seq, tracked.order.order_id, code, text))

    def _on_modified(self, decoded: OrderModified, seq: int) -> None:
        padded = _pad(decoded.cl_ord_id)
        tracked = self._refs.get(padded) or self._earlier_ref(padded)
        if tracked is None:
            if not self._after_end(seq, "Order Modified", decoded.cl_ord_id, decoded.optional.leaves_qty):
                self._unknown(seq, "Order Modified", decoded.cl_ord_id)
            return
        if tracked.pending != padded:  # not the Modify in flight: a repeat of one applied (or superseded) earlier
            if padded == tracked.lapsed and not tracked.done:
                self._late_modified(tracked, decoded, padded, seq)
            elif self._journal_cut and not tracked.done and self._lost_modify(tracked.working, padded):
                self._late_modified(tracked, decoded, padded, seq, lost=True)  # ... unless the journal lost it
            elif tracked.done and self._lost_modify(tracked.working, padded):  # ... of an order that ended here
                self._lost_modified_after_end(tracked, decoded, padded, seq)
            else:
                self._ignore("repeated-modified", seq, decoded)
            return
        order = tracked.order
        tracked.working = padded
        tracked.pending = b""
        tracked.asked = b""  # (the answer to a Modify asking for the order: Cboe applied the one before it)
        tracked.zero_leaves = False  # the Modified's LeavesQty is what Cboe has open now
        self._settle(tracked, _MODIFY_COPY)
        fields = decoded.optional
        price = fields.price if fields.price is not None else order.pending_price or order.price
        if fields.leaves_qty is not None:
            leaves = fields.leaves_qty
        else:
            total = fields.order_qty if fields.order_qty is not None else order.pending_qty
            leaves = total - order.cum_qty
        if leaves <= 0:
            tracked.done = True
            self._ended_at(tracked, seq)
        if not (leaves <= _CARRIED_QTY and 0 <= price <= _CARRIED_PRICE):
            self._out_of_range(seq, "Order Modified", leaves, price)
            return
        self.event_sink(VenueReplaced(seq, order.order_id, max(leaves, 0), price, str(decoded.order_id)))

    def _on_modify_rejected(self, decoded: BoeUserModifyRejected, seq: int) -> None:
        padded = _pad(decoded.cl_ord_id)
        tracked = self._refs.get(padded) or self._earlier_ref(padded)
        if tracked is None:
            if not self._answer_after_end(seq, "User Modify Rejected", decoded.cl_ord_id, ends=False):
                self._unknown(seq, "User Modify Rejected", decoded.cl_ord_id)
            return
        if tracked.pending != padded:  # the answer to a Modify re-sent in doubt whose original was answered
            self._ignore("late-modify-reject", seq, decoded)
            return
        answer = (decoded.reason, decoded.text)
        if tracked.asked:
            self._asked_refused(tracked, seq, answer)
            return
        if tracked.copies & _MODIFY_COPY:  # one of the original's and the copy's answers: wait for the other
            held = tracked.held_modify
            if held is None:
                tracked.held_modify = answer
                self._hold(tracked, seq, decoded)
                return
            if answer[0] == "D" and held[0] != "D":  # the copy's duplicate reject: the original's answer says more
                answer = held
            self._settle(tracked, _MODIFY_COPY)
        tracked.pending = b""
        code, text = _reason(*answer)
        self._modify_refused(tracked, seq, code, text)

    def _asked_refused(self, tracked: _Tracked, seq: int, answer: tuple[str, str]) -> None:
        """Cboe refused the Modify asking for the order by the ClOrdID of a Modify in doubt (``_ask``).

        ``O``: no open order by it either: the order has ended at Cboe (CancelRejected, then Canceled
        ``BOE_ANSWER_LOST``). Any other reason: Cboe has the order by that ClOrdID, so it applied the Modify in doubt
        (Replaced with the quantity and price asked).
        """
        order = tracked.order
        asked, tracked.asked, tracked.pending = tracked.asked, b"", b""
        if answer[0] == "O":
            text = _RENUMBERED_LOST_MODIFY.format(copy="D or O", probe=f"O: {_reason(*answer)[1]}")
            self.event_sink(VenueCancelRejected(seq, order.order_id, "BOE_ANSWER_LOST", text))
            self._ended_unseen(tracked, text)
            return
        tracked.working = asked
        leaves = order.pending_qty - order.cum_qty
        log.warning(
            "venue %s: order %d: Cboe has it by the ClOrdID of its Modify %s (the Modify asking for it was refused "
            "%s): the Modify was applied before Cboe restarted its numbering; quantity %d, price %d",
            self.name,
            order.order_id,
            _unpad(asked),
            answer[0],
            order.pending_qty,
            order.pending_price,
        )
        if leaves <= 0:
            tracked.done = True
        self.event_sink(VenueReplaced(seq, order.order_id, max(leaves, 0), order.pending_price, order.venue_order_id))

    def _modify_refused(self, tracked: _Tracked, seq: int, code: str, text: str, *, lapsed: bool = False) -> None:
        """Report the Modify in flight refused; end an order an execution left nothing of at Cboe meanwhile.

        An execution with LeavesQty 0 while the Modify was in flight left the order open here (the Modify could
        reopen it): refused, Cboe has nothing open. The core ends a fully executed order FILLED with the refusal;
        shares still open here are canceled (``BOE_LEAVES_ZERO``). A Modify reported refused at the in-doubt deadline
        (``lapsed``) leaves the order tracked: should Cboe apply it after all, ``_late_modified`` applies it here; the
        event says so (``VenueCancelRejected.lapsed``), so the order keeps the Modify across a restart.
        """
        order = tracked.order
        self.event_sink(VenueCancelRejected(seq, order.order_id, code, text, lapsed))
        if not tracked.zero_leaves:
            return
        tracked.zero_leaves = False
        tracked.done = not tracked.lapsed  # a Modify refused at the in-doubt deadline may still be applied: canceled
        self._ended_at(tracked, max(seq, tracked.zero_seq))
        if order.is_open and order.leaves_qty > 0:
            cause = tracked.zero_cause or "after an execution while the Modify was in flight (before a restart)"
            self._leaves_zero(seq, tracked, f"{cause}, and refused the Modify", order.leaves_qty)

    def _on_cancel_rejected(self, decoded: BoeCancelRejected, seq: int) -> None:
        tracked = self._refs.get(_pad(decoded.cl_ord_id)) or self._earlier_ref(decoded.cl_ord_id)
        if tracked is None:
            if not self._answer_after_end(seq, "Cancel Rejected", decoded.cl_ord_id):
                self._unknown(seq, "Cancel Rejected", decoded.cl_ord_id)
            return
        if tracked.late or tracked.order.is_terminal:  # this may answer the Cancel the adapter sent after its end
            self._discharge(_pad(decoded.cl_ord_id))
        if tracked.done and tracked.order.state not in _CANCELING:  # a Cancel re-sent in doubt (or a probe) of an
            self._ignore("late-cancel-reject", seq, decoded)  # order Cboe finished: nothing to answer
            return
        if tracked.probes and tracked.order.state in _UNACKED:  # the probe: Cboe does not have the order (yet)
            reason = decoded.reason  # Cboe's Text, else the letter's meaning (an empty Text said nothing)
            self._probe_rejects[tracked.order.order_id] = f"{reason}: {decoded.text or reason_text(reason)}"
            self._ignore("probe-rejected", seq, decoded)  # refused at the deadline, unless acknowledged by then
            return
        answer = (decoded.reason, decoded.text)
        if (
            answer[0] == "O"
            and tracked.order.state is OrderState.PENDING_CANCEL
            and not tracked.done
            and not tracked.pending
            and not tracked.copies & _CANCEL_COPY
        ):  # Cboe has no order by the ClOrdID it works this one under: it is not working there (rev55chaos)
            if _pad(decoded.cl_ord_id) != tracked.working:  # ... unless a Modified renamed it since (boepf60)
                if self._cancel_again(tracked, seq, decoded.cl_ord_id):
                    return
            else:
                self._not_at_cboe(tracked, seq, answer[1])
                return
        if tracked.copies & _CANCEL_COPY and tracked.order.state in _CANCELING:  # wait for the other answer
            held = tracked.held_cancel
            if held is None:
                tracked.held_cancel = answer
                self._hold(tracked, seq, decoded)
                return
            if answer[0] == "D" and held[0] != "D":
                answer = held
            self._settle(tracked, _CANCEL_COPY)
        code, text = _reason(*answer)
        self.event_sink(VenueCancelRejected(seq, tracked.order.order_id, code, text))

    def _cancel_again(self, tracked: _Tracked, seq: int, named: str) -> bool:
        """Cboe refused ``O`` a Cancel naming ``named``, a ClOrdID the order no longer goes by: send it again.

        An Order Modified that came after the Cancel went out (a Modify whose record the journal lost with its tail,
        which Cboe processed after the restart, before the Cancel: ``_lost_modify``) gave the order its ClOrdID; the
        refusal says nothing about the order, which works at Cboe under it. The Cancel goes out again naming it
        (a Cancel cannot cancel twice; the order stays pending cancel); its answer settles the strategy's Cancel.
        During a replay (Cboe rejects cancels during one) the Cancel is owed (``_owe_cancel``: on file, so a restart
        before Replay Complete keeps it) and goes out at Replay Complete (``_send_owed``); ``late`` makes its answer
        discharge it, and ``after_replay`` sends no copy of the Cancel in doubt beside it. Return False (the refusal
        answers the Cancel) only if the packer cannot write the Cancel now.
        Before boepf60 the order ended ``Canceled BOE_NOT_AT_CBOE`` ("not working at Cboe") while it worked there;
        before boepf60b a refusal in a replay answered the Cancel (the kill switch's was never sent again).
        """
        order = tracked.order
        if self._session.ready:
            try:
                self._pack_cancel(tracked)
            except Exception:  # the packer could not write it (it packed this ClOrdID before): the refusal answers
                log.exception("venue %s: order %d: the Cancel could not be sent again", self.name, order.order_id)
                return False
            when = ""
        else:
            self._owe_cancel(tracked.working)  # False: owed already (the refusal replayed again after a restart)
            tracked.late = True
            when = " after the replay"
        log.warning(
            "venue %s: order %d: Cboe refused the Cancel naming ClOrdID %s (Cancel Rejected O, venue_seq %d)%s; the "
            "order no longer goes by it (an Order Modified since gave it %s): the Cancel is sent again naming that%s",
            self.name,
            order.order_id,
            named,
            seq,
            "" if when == "" else " in its replay",
            _unpad(tracked.working),
            when,
        )
        self._ignore("stale-cancel-reject", seq, f"order {order.order_id}: {named}")
        return True

    def _not_at_cboe(self, tracked: _Tracked, seq: int, cboe_text: str) -> None:
        """Cboe refused the Cancel of an acknowledged order ``O``: it has no order by that ClOrdID. End it here.

        Reason ``O`` is "ClOrdID does not match any known order" (reference §8): the order is not working at Cboe
        (Cboe lost its book, e.g. restarted, or ended it with no message that reached the gateway). A Cancel
        crossing a fill is answered ``J`` (too late), and the fill that ended the order comes first on its unit,
        so this is only for an order still open here with no Modify in flight (a Modify could have given it
        another ClOrdID), no copy in doubt (``_RENUMBERED_COPY`` rules), and a Cancel that named the ClOrdID the
        order goes by now (one an Order Modified renamed since is sent again: ``_cancel_again``). Everything open
        is canceled (``BOE_NOT_AT_CBOE``), which answers the strategy's Cancel; a fill Cboe reports later is a late
        fill. A Modify of the order reported refused at the in-doubt deadline (``lapsed``) may have given Cboe the order
        under that ClOrdID: a Cancel of it is owed (``_owe_cancel``), so nothing works there untracked.
        """
        order = tracked.order
        tracked.done = True
        self._ended_at(tracked, seq, refused=True)
        self.counters["ended_not_at_cboe"] += 1
        renumbered = ", ".join(str(unit) for unit in sorted(self._unit_streams))
        text = (
            f"Cboe refused the Cancel: ClOrdID {_unpad(tracked.working)} does not match any known order (Cancel "
            f"Rejected O{': ' + cboe_text if cboe_text else ''}): the order is not working at Cboe"
            + (f" (Cboe restarted the numbering of matching unit(s) {renumbered} today)" if renumbered else "")
            + "; it ends here, everything open canceled: reconcile fills with Cboe (a fill reported later is applied)"
        )
        if tracked.lapsed and tracked.lapsed != tracked.working:
            self._owe_cancel(tracked.lapsed)
        self._fill_log.log(
            "not-at-cboe",
            self._clock(),
            logging.ERROR,
            "venue %s: order %d (%d shares open) ends here, Canceled BOE_NOT_AT_CBOE: %s (%d such orders so far)",
            self.name,
            order.order_id,
            order.leaves_qty,
            text,
            self.counters["ended_not_at_cboe"],
        )
        self.event_sink(VenueCanceled(seq, order.order_id, 0, "BOE_NOT_AT_CBOE", text))

    def _on_restated(self, decoded: OrderRestated, seq: int) -> None:
        """Order Restated: a lower open quantity is a partial (or full) cancel; anything else is counted."""
        self.counters["restatements"] += 1
        tracked = self._refs.get(_pad(decoded.cl_ord_id)) or self._earlier_ref(decoded.cl_ord_id)
        if tracked is None:
            if not self._after_end(seq, "Order Restated", decoded.cl_ord_id, decoded.optional.leaves_qty):
                self._unknown(seq, "Order Restated", decoded.cl_ord_id)
            return
        order = tracked.order
        leaves = decoded.optional.leaves_qty
        meaning = RESTATEMENT_REASONS.get(decoded.reason, f"reason {decoded.reason!r}")
        if tracked.working != _pad(decoded.cl_ord_id):  # of a ClOrdID a Modify has since replaced: a repeat
            self._ignore("repeated-restated", seq, f"order {order.order_id}: {meaning}, leaves {leaves}")
            return
        if leaves is None or leaves >= order.leaves_qty or tracked.done:
            self._ignore("restated", seq, f"order {order.order_id}: {meaning}, leaves {leaves}")
            return
        removed = order.leaves_qty - leaves
        if leaves <= 0:
            tracked.done = True
            self._ended_at(tracked, seq)
        self.event_sink(
            VenueCanceled(
                seq, order.order_id, removed, "RESTATED", f"restated by Cboe ({meaning}): {removed} shares off"
            )
        )

    def _on_trade_correction(self, decoded: TradeCancelOrCorrect, seq: int) -> None:
        """Trade Cancel or Correct: counted and logged with the order (the strategy protocol has no bust event).

        The position keeps the fill (risk officer's guide 8): the WARNING names the order, its account, symbol and
        side, so that the position can be corrected (``gateway risk adjust-position``). An order no longer mapped
        here (ended before a restart, or released from memory) is found by its ClOrdID, from the engine's memory or
        read back from the journal (``order_source``), and named the same way (``trade_corrections_after_end``).
        """
        if seq in self._corrections:  # reported before a restart: Cboe replays it (no event journaled its number)
            self.counters["repeated_trade_corrections"] += 1
            self._ignore("repeated-trade-correction", seq, f"execution {decoded.exec_ref_id} of {decoded.cl_ord_id}")
            return
        self.counters["trade_corrections"] += 1
        tracked = self._refs.get(_pad(decoded.cl_ord_id))
        order: Order | None = tracked.order if tracked is not None else None
        order_id = order.order_id if order is not None else self._order_id_of(decoded.cl_ord_id)
        where = ""
        if order is None and order_id >= 0:
            self.counters["trade_corrections_after_end"] += 1
            lookup = self.order_lookup
            found = lookup(order_id, str(decoded.exec_ref_id)) if lookup is not None else LOOKUP_NEVER_CREATED
            order = None if isinstance(found, int) else found
            where = (
                " (no longer tracked here: read back)"
                if order is not None
                else " (the journal cannot be read back for it now)"
                if found == LOOKUP_UNREADABLE
                else " (not found in the journal)"
            )
        busted = decoded.corrected_price == 0
        what = "busted" if busted else f"price corrected to {price_text(decoded.corrected_price)}"
        exec_ref = str(decoded.exec_ref_id)
        if order is not None and not repeated_fill(order, exec_ref):  # not a fill this order applied (boestandby56)
            named = (
                f"order {order.order_id}{where} (account {order.account}), which applied no execution {exec_ref} "
                f"(Cboe's OrderID {decoded.order_id}, the order's {order.venue_order_id or 'none'}): not this "
                "order's fill (the ClOrdID entered twice today: another host's or another journal's order; or a fill "
                "not applied here), so no position here holds it"
            )
            order = None
            fix = "reconcile with Cboe (do not adjust this order's position)"
        elif order is None:
            earlier = self._earlier_day(decoded.cl_ord_id) if order_id < 0 else None
            named = (
                f"order {order_id}{where}"
                if order_id >= 0
                else f"order {earlier[1]} of trading day {earlier[0]} (not in today's journal)"
                if earlier is not None
                else "no order of this gateway"
            )
            fix = "reconcile with Cboe"
        else:
            named = f"order {order.order_id}{where}: account {order.account}, {order.symbol}, side {order.side.name}"
            signed = -decoded.last_shares if order.side is Side.BUY else decoded.last_shares
            fix = (
                f"correct the position: gateway risk adjust-position --account {order.account} --symbol "
                f"{order.symbol} --qty {signed} --price {price_text(decoded.last_px)} --reason ..."
                if busted
                else (
                    f"correct the traded notional if it matters: gateway risk adjust-position --account "
                    f"{order.account} --symbol {order.symbol} with --qty {signed} --price "
                    f"{price_text(decoded.last_px)} and --qty {-signed} --price "
                    f"{price_text(decoded.corrected_price)} --reason ..."
                )
            )
        log.warning(
            "venue %s: Trade Cancel or Correct (venue_seq %d) for ClOrdID %s, %s, execution %d (%d @ %s) %s: not "
            "applied; %s",
            self.name,
            seq,
            decoded.cl_ord_id,
            named,
            decoded.exec_ref_id,
            decoded.last_shares,
            price_text(decoded.last_px),
            what,
            fix,
        )
        self._note_correction(seq)  # after the line: a crash in between reports it twice, never not at all

    # ---- internals ---------------------------------------------------------------------------------

    def _symbol(self, symbol: str) -> bytes:
        raw = self._symbols.get(symbol)
        if raw is None:
            raw = self._symbols[symbol] = symbol.encode("ascii")
        return raw

    @staticmethod
    def _constant_values(config: BoeVenueConfig) -> dict[str, object]:
        values: dict[str, object] = {}
        for name, value in config.new_order_constants.items():
            values[name] = value.encode("ascii") if isinstance(value, str) else value
        if config.clearing_firm:
            values["clearing_firm"] = config.clearing_firm.encode("ascii")
        if config.clearing_account:
            values["clearing_account"] = config.clearing_account.encode("ascii")
        if config.account:
            values["account"] = config.account.encode("ascii")
        values["capacity"] = config.capacity.encode("ascii")
        return values

    def _pack_new(self, tracked: _Tracked) -> int:
        """Queue the New Order of ``tracked`` with a fresh SequenceNumber; return it.

        If the packer raises (a value it cannot carry), the send buffer is as it was (the packer drops the message
        begun) and the SequenceNumber is given back before the exception goes on.
        """
        order = tracked.order
        values = self._new_template.copy()
        values[self._at_price] = order.price if order.ord_type is OrderType.LIMIT else 0
        values[self._at_ord_type] = _ORD_TYPE[order.ord_type]
        values[self._at_tif] = _TIF[order.tif]
        values[self._at_symbol] = self._symbol(order.symbol)
        side = _SIDE[order.side]
        session = self._session
        seq = session.allocate_sequence()
        try:  # the packer drops a message it could not write whole
            self._new_packer.pack(session.out, seq, tracked.working, side, order.qty, *values)
        except BaseException:
            session.release_sequence(seq)  # never sent: the next message takes the number
            raise
        tracked.new_seq = seq
        return seq

    def _pack_cancel(self, tracked: _Tracked) -> int:
        """Queue a Cancel Order of ``tracked`` with a fresh SequenceNumber; return it (on a fault, as ``_pack_new``)."""
        session = self._session
        seq = session.allocate_sequence()
        try:
            self._cancel_packer.pack(session.out, seq, tracked.working, *self._firm)
        except BaseException:
            session.release_sequence(seq)
            raise
        tracked.cancel_seq = seq
        return seq

    def _pack_modify(self, tracked: _Tracked, qty: int, price: int) -> int:
        """Queue a Modify Order of ``tracked`` with a fresh SequenceNumber; return it (on a fault, as ``_pack_new``)."""
        values = {"order_qty": qty, "price": price}
        if self._firm:
            values["clearing_firm"] = self._firm[0]  # type: ignore[assignment]
        fields = [values[name] for name in self._modify_packer.fields]
        session = self._session
        seq = session.allocate_sequence()
        try:
            self._modify_packer.pack(session.out, seq, tracked.pending, tracked.working, *fields)
        except BaseException:
            session.release_sequence(seq)
            raise
        tracked.modify_seq = seq
        return seq

    def _resend(self, tracked: _Tracked, kind: int) -> None:
        """Send an unanswered request Cboe never received again: same ClOrdID, new SequenceNumber."""
        order = tracked.order
        if kind == _NEW:
            self._pack_new(tracked)
        elif kind == _MODIFY:
            if not tracked.pending:
                return
            self._pack_modify(tracked, order.pending_qty, order.pending_price)
        else:
            self._pack_cancel(tracked)
        self.counters["resent"] += 1

    def _probe(self, tracked: _Tracked, seq: int, last: int) -> None:
        """Cboe received the New Order but did not answer it (yet): ask with a Cancel, or give up after MAX_PROBES."""
        if tracked.probes >= MAX_PROBES:
            self._answer_lost(tracked, f"{tracked.probes} Cancel Orders across as many reconnects went unanswered")
            return
        tracked.probes += 1
        self.counters["probes"] += 1
        log.warning(
            "venue %s: order %d: %s (SequenceNumber %d, it reported %d received) but sent no answer yet: canceling "
            "it to learn its state (probe %d)",
            self.name,
            tracked.order.order_id,
            "Cboe may have its New Order, as it restarted its numbering"
            if tracked.order.order_id in self._doubtful
            else "Cboe received its New Order",
            seq,
            last,
            tracked.probes,
        )
        self._pack_cancel(tracked)
        self._probing[tracked.order.order_id] = tracked

    def _probes_expired(self) -> None:
        """PROBE_TIMEOUT_NS after Replay Complete: report the probed orders Cboe has not acknowledged refused."""
        probing = list(self._probing.values())
        rejects = self._probe_rejects
        self._probing.clear()
        for tracked in probing:
            if not tracked.done and tracked.order.state in _UNACKED:
                rejected = rejects.get(tracked.order.order_id)
                waited = f"no acknowledgment came within {PROBE_TIMEOUT_NS // NS_PER_S} s"
                self._answer_lost(
                    tracked, f"Cboe rejected a Cancel of it ({rejected}) and {waited}" if rejected else waited
                )
        rejects.clear()
        self._doubtful.clear()  # every probed order is acknowledged or reported refused by now
        self._settle_numbering()

    def _answer_lost(self, tracked: _Tracked, why: str) -> None:
        """Cboe received the New Order and its probe settled nothing else: report it refused (never re-sent)."""
        self.counters["answers_lost"] += 1
        self._probing.pop(tracked.order.order_id, None)
        template = _RENUMBERED_LOST_TEXT if tracked.order.order_id in self._doubtful else _ANSWER_LOST_TEXT
        self._doubtful.discard(tracked.order.order_id)
        text = template.format(seq=tracked.new_seq, last=self._last_processed, why=why)
        log.warning("venue %s: order %d: %s", self.name, tracked.order.order_id, text)
        tracked.done = True
        self.event_sink(VenueRejected(0, tracked.order.order_id, "BOE_ANSWER_LOST", text))

    def _late_ack(self, tracked: _Tracked, seq: int) -> None:
        """Cboe acknowledged an order the gateway already reported finished: cancel it at Cboe at once."""
        self.counters["late_answers"] += 1
        log.error(
            "venue %s: Order Acknowledgment (venue_seq %d) for order %d reported refused earlier: canceling it",
            self.name,
            seq,
            tracked.order.order_id,
        )
        tracked.late = True
        self._owe_cancel(tracked.working)  # now, or after the replay: Cboe rejects cancels during one

    def _hold(self, tracked: _Tracked, seq: int, decoded: object) -> None:
        """Keep the first reject of a request re-sent in doubt until the other answer or ``IN_DOUBT_TIMEOUT_NS``.

        Cboe may answer the copy (rejected as a duplicate of the original it has) before the original.
        """
        if not tracked.held_until:
            tracked.held_until = self._clock() + IN_DOUBT_TIMEOUT_NS
        self._holding[tracked.order.order_id] = tracked
        self._ignore("in-doubt-reject-held", seq, decoded)

    def _settle(self, tracked: _Tracked, copies: int) -> None:
        """The answers to the requests ``copies`` re-sent in doubt are settled: forget their held rejects."""
        if not tracked.copies & copies:
            return
        tracked.copies &= ~copies
        if not tracked.copies & (_MODIFY_COPY | _CANCEL_COPY):
            tracked.copies = 0  # the renumbering's mark goes with the last copy
        if copies & _MODIFY_COPY:
            tracked.held_modify = None
        if copies & _CANCEL_COPY:
            tracked.held_cancel = None
        if tracked.held_modify is None and tracked.held_cancel is None:
            tracked.held_until = 0
            self._holding.pop(tracked.order.order_id, None)

    def _holds_expired(self, now_ns: int) -> None:
        """Answer the held rejects whose wait is over: Cboe sent no answer to the original."""
        wait = IN_DOUBT_TIMEOUT_NS // NS_PER_S
        for tracked in [held for held in self._holding.values() if held.held_until <= now_ns]:
            modify, cancel = tracked.held_modify, tracked.held_cancel
            renumbered = bool(tracked.copies & _RENUMBERED_COPY)
            self._settle(tracked, _MODIFY_COPY | _CANCEL_COPY)
            if tracked.done:
                continue
            order_id = tracked.order.order_id
            asked = modify is not None and renumbered and modify[0] in ("D", "O") and self._ask(tracked, modify)
            if modify is not None and tracked.pending and not asked:
                tracked.lapsed, tracked.pending = tracked.pending, b""
                tracked.lapsed_qty, tracked.lapsed_price = tracked.order.pending_qty, tracked.order.pending_price
                tracked.lapsed_seq = tracked.modify_seq
                self._modify_refused(tracked, 0, *_copy_refused("Modify", modify, wait), lapsed=True)
            if cancel is not None and tracked.order.state in _CANCELING:
                if renumbered and cancel[0] in ("O", "J"):  # Cboe holds nothing open by this ClOrdID
                    text = _RENUMBERED_LOST_CANCEL.format(copy=f"{cancel[0]}: {_reason(*cancel)[1]}", wait=wait)
                    self._ended_unseen(tracked, text)
                else:
                    self.event_sink(VenueCancelRejected(0, order_id, *_copy_refused("Cancel Order", cancel, wait)))

    def _ask(self, tracked: _Tracked, copy: tuple[str, str]) -> bool:
        """After Cboe restarted a numbering, the copy of a Modify was refused as if Cboe had applied the original
        (``D``: its ClOrdID is live; ``O``: the order's ClOrdID no longer is): ask with a Modify of the order by the
        Modify's ClOrdID, to the same quantity and price. Its Order Modified says Cboe applied it (Replaced, with
        Cboe's figures); its refusal ``O`` that Cboe holds nothing open of the order. False: no ClOrdID left.
        """
        order = tracked.order
        modifies = tracked.modifies + 1
        text = f"{self.cl_ord_id(order.order_id)}.{self._start36}.{base36(modifies)}"
        if not tracked.pending or len(text) > MAX_CL_ORD_ID:
            return False
        tracked.modifies = modifies
        tracked.asked = tracked.working = tracked.pending  # the Modify asks for the order by this ClOrdID
        tracked.pending = padded = _pad(text)
        self._refs[padded] = tracked
        self._pack_modify(tracked, order.pending_qty, order.pending_price)
        self.counters["renumbered_asks"] += 1
        log.warning(
            "venue %s: order %d: Cboe restarted its numbering before answering its Modify %s; the copy was refused "
            "(%s: %s): asking Cboe for the order by that ClOrdID (Modify %s, same quantity and price)",
            self.name,
            order.order_id,
            _unpad(tracked.asked),
            copy[0],
            copy[1],
            text,
        )
        return True

    def _ended_unseen(self, tracked: _Tracked, text: str) -> None:
        """Cboe holds nothing open of the order, its answers gone with an old numbering: end it here (Canceled)."""
        self.counters["answers_lost"] += 1
        tracked.done = True
        log.error("venue %s: order %d: %s", self.name, tracked.order.order_id, text)
        self.event_sink(VenueCanceled(0, tracked.order.order_id, 0, "BOE_ANSWER_LOST", text))

    def _late_modified(
        self, tracked: _Tracked, decoded: OrderModified, padded: bytes, seq: int, *, lost: bool = False
    ) -> None:
        """Cboe applied a Modify reported refused at the deadline: the order is known by its ClOrdID and takes its size.

        Cboe's word wins: an open order with no other Modify in flight takes the new quantity, price and open
        quantity (``VenueReplaced.late_qty``; the strategy gets Replaced after the CancelRejected). An order that
        ended here, or that has another Modify in flight, cannot take it: the core counts the event out of place
        and the order is canceled at Cboe (``BOE_ANSWER_LATE``), so nothing works there that the gateway does not
        track. LeavesQty 0 (an execution crossed the Modify: Cboe applied it and has nothing open) needs nothing
        sent: ``_late_modified_finished``.

        ``lost``: the same for the Order Modified of a Modify the journal lost with its tail (``_lost_modify``, after
        a stop that was not clean: a power failure cut the Modify and its answer, Cboe replays the answer). Its
        quantity and price are Cboe's (a field Cboe did not return: the order's own; the Modify's SequenceNumber is
        not known: ``@0``); the strategy gets Replaced (it may have had one before the power failure), the event
        is journaled with the new ClOrdID, so later Cancels name the ClOrdID Cboe knows the order by (boepf60;
        before, it was dropped as a repeat: the Cancel named the old ClOrdID, Cboe refused it ``O`` and the order
        ended ``BOE_NOT_AT_CBOE`` while it worked at Cboe).
        """
        self.counters["lost_modifies" if lost else "late_answers"] += 1
        order = tracked.order
        tracked.working = padded
        tracked.lapsed = b""
        fields = decoded.optional
        if lost:
            price = fields.price if fields.price is not None else order.price
            if fields.order_qty is not None:
                total = fields.order_qty
            elif fields.leaves_qty is not None:
                total = order.cum_qty + fields.leaves_qty
            else:  # neither returned (return_fields): the order keeps its size, under the new ClOrdID
                total = order.qty
            leaves = fields.leaves_qty if fields.leaves_qty is not None else total - order.cum_qty
            what = f"whose Modify {decoded.cl_ord_id} the journal lost with its tail (a stop that was not clean)"
        else:
            price = fields.price if fields.price is not None else tracked.lapsed_price or order.price
            total = fields.order_qty if fields.order_qty is not None else tracked.lapsed_qty
            leaves = fields.leaves_qty if fields.leaves_qty is not None else total - order.cum_qty
            what = "whose Modify was reported refused"
        if leaves <= 0:  # Cboe holds nothing open of it: a Cancel would only be refused (rev58boe)
            self._late_modified_finished(tracked, seq, total, price, lost=lost)
            return
        applicable = order.is_open and order.state not in _REPLACING and leaves <= _CARRIED_QTY
        if applicable and 0 <= price <= _CARRIED_PRICE:
            log.error(
                "venue %s: Order Modified (venue_seq %d) for order %d, %s: applied (quantity %d, price %d, %d open)",
                self.name,
                seq,
                order.order_id,
                what,
                order.cum_qty + leaves,
                price,
                leaves,
            )
            ref = f"{decoded.cl_ord_id}@{0 if lost else tracked.lapsed_seq}"
            self.event_sink(
                VenueReplaced(
                    seq,
                    order.order_id,
                    leaves,
                    price,
                    str(decoded.order_id),
                    late_qty=order.cum_qty + leaves,
                    late_ref=ref,
                )
            )
            return
        log.error(
            "venue %s: Order Modified (venue_seq %d) for order %d, %s: the order %s; canceling it at Cboe",
            self.name,
            seq,
            order.order_id,
            what,
            "has ended here" if order.is_terminal else "cannot take it now",
        )
        if order.is_terminal:  # the core counts it out of place (an ended order does not reopen)
            if lost:  # it works at Cboe, the strategy told it ended: "Orders Cboe works after they ended here"
                self.counters["live_after_end"] += 1
            self.event_sink(
                VenueReplaced(seq, order.order_id, max(leaves, 0), price, str(decoded.order_id), late_qty=max(total, 1))
            )
        tracked.late = True
        self._owe_cancel(padded)

    def _lost_modified_after_end(self, tracked: _Tracked, decoded: OrderModified, padded: bytes, seq: int) -> None:
        """The Order Modified of a Modify the journal lost (``_lost_modify``) for an order that ended here.

        Cboe works the order under that ClOrdID (LeavesQty above 0): it is canceled there (``_late_modified``,
        ``live_after_end``), once (``_owe_cancel``); the strategy, told of the end already, gets nothing more (the
        core counts the event out of place). Whatever the start (``_journal_cut`` is this process's only): after a
        clean stop every Modify of an earlier process is on the journal, so a Modify numbered above the ClOrdID the
        order went by is one lost at an earlier stop that was not clean (a Cancel of an order Cboe no longer has is
        only refused). E.g. the Order Modified lost in transit (a gap) and the ``O`` refusal of a Cancel naming the
        old ClOrdID first: the order ended ``BOE_NOT_AT_CBOE`` while it worked at Cboe (rev61boe HIGH 1; before,
        dropped as ``repeated-modified``). Older than the message that ended the order (it came through a gap) it
        is stale (boe59) unless that message was such an ``O`` (``_ended_at`` ``refused``): the ``O`` refused the
        ClOrdID the order went by, and says nothing of the one this Order Modified gave it.
        """
        end = tracked.end_seq
        ended = self._ended_over_gaps
        if self._is_older_than_end(seq, end) and not (ended and ended.get(tracked.order.order_id) == -end):
            leaves = decoded.optional.leaves_qty
            self._older_than_end(seq, "Order Modified", f"order {tracked.order.order_id}", end, leaves)
            return
        self._late_modified(tracked, decoded, padded, seq, lost=True)

    def _lost_modify(self, working: bytes, padded: bytes) -> bool:
        """Return True if ``padded`` is the ClOrdID of a Modify an earlier process sent after the one ``working`` names.

        Only after a stop that was not clean (``_journal_cut``) and for an order not done: the journal may have lost
        that Modify and its Order Modified with its tail, and Cboe replays the answer (docs/reliability.md 2.5 step
        3). An earlier process's Modify (start below this process's) numbered above the ClOrdID the order is known
        by (its New Order's, or an earlier Modify's: a later start, or the same start and a higher ``n``) was sent
        after it; a repeat names the working ClOrdID or one below it. Never on the path of an Order Modified in
        flight (only for one that is not the ``pending`` one).
        """
        mine = self._modify_number(_unpad(padded))
        known = self._modify_number(_unpad(working))
        return mine is not None and known is not None and 0 < mine[0] < self._start and mine > known

    def _modify_number(self, cl_ord_id: str) -> tuple[int, int] | None:
        """Return (start, n) of today's Modify ClOrdID (``...<order id>.<start>.<n>``), (0, 0) of a New Order's ClOrdID,
        None of one that is neither."""
        if not cl_ord_id.startswith(self._base):
            return None
        _digits, dot, suffix = cl_ord_id[len(self._base) :].partition(".")
        if not dot:
            return (0, 0)
        start, dot, n = suffix.partition(".")
        if not dot or not _is_base36(start) or not _is_base36(n):
            return None
        return (int(start, 36), int(n, 36))

    def _late_modified_finished(
        self, tracked: _Tracked, seq: int, total: int, price: int, *, lost: bool = False
    ) -> None:
        """A late Order Modified (``_late_modified``) with LeavesQty 0: Cboe applied the Modify and has nothing open.

        As on the live path (an Order Modified with LeavesQty 0 ends the order, ``NOTHING_LEFT``), nothing goes to
        Cboe. An open order ends here: what is open is canceled, ``NOTHING_LEFT`` (the core cannot resize an order
        to nothing late, so no Replaced comes first). One with another Modify in flight ends at that Modify's
        refusal (``zero_leaves``, as after an execution with LeavesQty 0). One that ended here needs nothing.
        Before boe58 each was canceled at Cboe: Cboe refused it (``J``) and an open order stayed open here all day.
        """
        order = tracked.order
        how = "a Modify the journal lost with its tail" if lost else "its Modify reported refused"
        what = (
            f"Cboe applied {how} (quantity {total}, price {price}){'' if lost else ' after all'}, with nothing left "
            "open (LeavesQty 0): the order is over at Cboe, nothing sent to it"
        )
        if order.is_terminal:
            tracked.done = True
            self._ended_at(tracked, seq)
            log.warning(
                "venue %s: Order Modified (venue_seq %d) for order %d, which has ended here: %s",
                self.name,
                seq,
                order.order_id,
                what,
            )
            return
        if order.state in _REPLACING:  # Cboe refuses the Modify in flight (nothing open): its refusal ends the order
            tracked.zero_leaves = True
            tracked.zero_cause = (
                f"when it applied an earlier Modify reported refused (quantity {total}, price {price}) after all "
                f"(Order Modified, venue_seq {seq})"
            )
            tracked.zero_seq = seq
            log.error(
                "venue %s: Order Modified (venue_seq %d) for order %d: %s; the order ends here at the answer to its "
                "Modify in flight",
                self.name,
                seq,
                order.order_id,
                what,
            )
            return
        tracked.done = True
        self._ended_at(tracked, seq)
        text = f"{what}; the {order.leaves_qty} shares open here are canceled"
        log.error("venue %s: Order Modified (venue_seq %d) for order %d: %s", self.name, seq, order.order_id, text)
        self.event_sink(VenueCanceled(seq, order.order_id, 0, "NOTHING_LEFT", text))

    def _set_state(self, state: VenueState, reason: str) -> None:
        changed = state is not self._state
        self._state = state
        self._reason = reason
        if changed:
            log.info("venue %s: %s (%s)", self.name, state, reason)
            self.state_sink(self.name, state, reason)

    def _decode_error(self, seq: int, error: DecodeError) -> None:
        self.counters["decode_errors"] += 1
        self._rare("decode", "undecodable BOE message (venue_seq %d): %s", seq, error.text)

    def _no_shares(self, seq: int, cl_ord_id: bytes, exec_id: int) -> None:
        """An Order Execution of no shares (LastShares 0): invalid, a protocol error; its LeavesQty still counts."""
        self.on_protocol_error(
            f"Order Execution (venue_seq {seq}) of ClOrdID {_unpad(cl_ord_id)!r}, ExecID {exec_id}, with LastShares 0: "
            "an execution of nothing, not applied"
        )

    def _out_of_range(self, seq: int, kind: str, quantity: int, price: int) -> None:
        """Count and (rarely) log a message whose quantity or price the strategy protocol cannot carry; no event."""
        text = f"{kind}: quantity {quantity} or price {price} outside 0..{_CARRIED_QTY} / 0..{_CARRIED_PRICE}"
        self.counters["decode_errors"] += 1  # counted with the undecodable ones (docs/venues/boe.md), said apart
        self._rare("range", "BOE message with a value out of range (venue_seq %d), not applied: %s", seq, text)

    def _earlier_ref(self, cl_ord_id: bytes | str) -> _Tracked | None:
        """Return the order tracked here that an earlier ClOrdID of it names, one an earlier process sent; else None.

        A restart maps only the ClOrdID an open order is known by now (``restore``), while Cboe may still report
        under an earlier one of the same order: its New Order's, or an earlier Modify's. In the process that sent
        them every ClOrdID stays mapped (``_refs``); today's ClOrdIDs name the order (``<prefix><day><order id>``,
        a Modify's with ``.<start>.<n>``, ``start`` that of an earlier process), so after a restart the message
        reaches the order just as it would have in that process.
        """
        text = _unpad(cl_ord_id) if isinstance(cl_ord_id, bytes) else cl_ord_id
        order_id = self._order_id_of(text)
        if order_id < 0:
            return None
        tracked = self._orders.get(order_id)
        _digits, dot, suffix = text[len(self._base) :].partition(".")
        if tracked is None or not dot:
            return tracked
        start, _dot, n = suffix.partition(".")
        if not _is_base36(start) or not _is_base36(n) or int(start, 36) >= self._start:
            return None  # not an earlier process's Modify: this process maps every one it sent
        return tracked

    def _count_unknown(self) -> None:
        """Count a message about an order no gateway order is (``unknown_cl_ord_id``, the core's counter too)."""
        self.counters["unknown_cl_ord_id"] += 1
        sink = self.unknown_order_sink
        if sink is not None:
            sink()

    def _unknown(self, seq: int, kind: str, cl_ord_id: bytes | str) -> None:
        self._count_unknown()
        text = _unpad(cl_ord_id) if isinstance(cl_ord_id, bytes) else cl_ord_id
        self._rare("unknown", "%s (venue_seq %d) for unknown ClOrdID %r", kind, seq, text)

    def _forgotten_execution(self, seq: int, core: ExecutionCore) -> bool:
        """Pass on an execution of an order no longer mapped here whose ClOrdID is ours; False if it is not.

        Today's ClOrdIDs (``<prefix><day><order id>``, a Modify's with ``.<start>.<n>`` after it) name the order
        without a table: an execution of an order the engine released from memory, or of one from before a
        restart, goes to the core as a ``VenueExecuted``, which applies it to the order's position (from memory
        or from the journal) and catches a repeated ExecID there (``counters["executions_after_end"]``). Shares
        left open (LeavesQty above 0): Cboe works the order, which is canceled there (``_working_after_end``).
        An order id the engine has no order of (``_never_created``: a power failure cut the order from the
        journal's tail, docs/reliability.md 2.3c, or another venue's order) is an unknown execution: logged at
        ERROR, counted and put on file (``_unknown_execution``), never handed to the core. The journal could not
        be read back for it (no answer): the execution is held and handed on once it can (``_hold_execution``).
        """
        _u, _s, cl_ord_id, exec_id, last_shares, last_px, leaves, _base, _sub = core
        text = _unpad(cl_ord_id)
        order_id = self._order_id_of(text)
        if order_id < 0:
            return self._earlier_day_execution(seq, core)
        held = self._held_fills.get(order_id)
        why = _PASS_ON if held is not None else self._never_created(order_id, str(exec_id))
        if why not in (_PASS_ON, LOOKUP_UNREADABLE):  # no order here: an unknown execution, not a late fill
            self._unknown_execution(seq, cl_ord_id, exec_id, last_shares, last_px, order_id, why)
            if leaves:
                self._working_after_end(seq, "Order Execution", cl_ord_id, counted=True)
            elif self._owed.get(cl_ord_id) == 0:
                self._discharge(cl_ord_id)
            return True
        if held is not None and any(seq == held_seq for held_seq, _core in held):  # held before a restart: replayed
            self._ignore("held-execution-replayed", seq, f"Order Execution of order {order_id}, held already")
        elif seq in self._corrections:  # logged at ERROR, not applied, before a restart (``_held_over_cap``)
            self._reported_before(seq, f"Order Execution for ClOrdID {text!r} (order {order_id}), ExecID {exec_id}")
        elif held is not None or why == LOOKUP_UNREADABLE:  # held: after the fills held before it, in order
            self._hold_execution(seq, core, order_id, held)
        else:
            self._pass_on(seq, core, order_id)
        if leaves:
            self._working_after_end(seq, "Order Execution", cl_ord_id, leaves)
        elif self._owed.get(cl_ord_id) == 0:  # Cboe ended it before the Cancel owed went out: none is needed
            self._discharge(cl_ord_id)
        return True

    def _pass_on(self, seq: int, core: ExecutionCore, order_id: int) -> None:
        """Hand an execution of order ``order_id``, no longer mapped here, to the core (``executions_after_end``)."""
        _u, _s, cl_ord_id, exec_id, last_shares, last_px, _leaves, base, sub = core
        if not last_shares:
            self._no_shares(seq, cl_ord_id, exec_id)
        elif not (0 <= last_shares <= _CARRIED_QTY and 0 <= last_px <= _CARRIED_PRICE):
            self._out_of_range(seq, "Order Execution", last_shares, last_px)
        else:
            liquidity = (base + sub).rstrip(b"\x00").decode("latin-1")
            self.counters["executions_after_end"] += 1
            self.event_sink(VenueExecuted(seq, order_id, last_shares, last_px, liquidity, str(exec_id)))

    def _hold_execution(
        self, seq: int, core: ExecutionCore, order_id: int, held: list[tuple[int, ExecutionCore]] | None
    ) -> None:
        """Hold an execution of order ``order_id`` whose journal read failed: neither applied nor taken as unknown.

        The engine could not read the order, released from memory, back from the journal (an I/O error, too many
        open files, damage: ``LOOKUP_UNREADABLE``): no answer, so not "never created". The execution waits here,
        with any later one of the same order (in order), and the adapter asks the engine again every
        ``HELD_RETRY_NS`` (``poll``): found, each is handed on as a late fill; a definite "none", each is an
        unknown execution. Counted ``executions_held``, logged at ERROR (up to one line a second). On file
        (``_save_held``: written before the core journals anything after this message, so before the journal can
        move past its number), so a process started again the same day holds it again (``_load_held``). At most
        ``held_fills_cap`` at once: one more is ``_held_over_cap``. ``held``: the order's executions held already.
        """
        if self._held_count >= self.held_fills_cap:
            self._held_over_cap(seq, core, order_id)
            return
        if held is None:
            self._held_fills[order_id] = [(seq, core)]
        else:
            held.append((seq, core))
        self._held_count += 1
        self.counters["executions_held"] += 1
        if not self._held_retry_at or len(self._held_fills) == 1:
            self._held_retry_at = self._clock() + HELD_RETRY_NS
        self._save_held()
        self._held_error(seq, core, order_id)

    def _held_over_cap(self, seq: int, core: ExecutionCore, order_id: int) -> None:
        """An execution to hold while ``held_fills_cap`` are held already: logged at ERROR, not applied.

        Not held (memory and the file stay bounded) and not dropped silently: one ERROR per execution (up to one line
        a second, the next says how many), counted ``executions_held_over_cap`` (``gateway metrics``, alert
        ``GatewayVenueExecutionsHeldOverCap``) and put on the corrections file, so Cboe's replay of it after a
        restart is the WARNING "reported before", not a fill applied after ops corrected the position by hand.
        """
        _u, _s, cl_ord_id, exec_id, last_shares, last_px, leaves, _base, _sub = core
        count = self.counters["executions_held_over_cap"] = self.counters["executions_held_over_cap"] + 1
        self._fill_log.log(
            "held-over-cap",
            self._clock(),
            logging.ERROR,
            "venue %s: Order Execution (venue_seq %d) for ClOrdID %r (order %d, released from memory): %d @ %s, "
            "ExecID %d, LeavesQty %d: the journal cannot be read back for the order and %d executions are held "
            "already (the most held at once): NOT HELD, not applied to any order or position (%d such executions so "
            "far): correct the position (gateway risk adjust-position) and reconcile with Cboe",
            self.name,
            seq,
            _unpad(cl_ord_id),
            order_id,
            last_shares,
            price_text(last_px),
            exec_id,
            leaves,
            self._held_count,
            count,
        )
        self._note_correction(seq)

    def _held_error(self, seq: int, core: ExecutionCore, order_id: int) -> None:
        _u, _s, cl_ord_id, exec_id, last_shares, last_px, _leaves, _base, _sub = core
        self._fill_log.log(
            "held-execution",
            self._clock(),
            logging.ERROR,
            "venue %s: Order Execution (venue_seq %d) for ClOrdID %r (order %d, released from memory): %d @ %s, "
            "ExecID %d: the journal cannot be read back for the order; the execution is held and applied once it "
            "can (asked again every %d s; %d executions held now, %d so far; kept in %s: a restart holds it again)",
            self.name,
            seq,
            _unpad(cl_ord_id),
            order_id,
            last_shares,
            price_text(last_px),
            exec_id,
            HELD_RETRY_NS // NS_PER_S,
            self._held_count,
            self.counters["executions_held"],
            held_fills_path(self.config.state_dir, self.name),
        )

    def _retry_held(self, now_ns: int) -> None:
        """Ask the engine again for the orders whose executions are held (``_hold_execution``), oldest first."""
        self._held_retry_at = now_ns + HELD_RETRY_NS
        for order_id in list(self._held_fills):
            first = self._held_fills[order_id][0][1]
            why = self._never_created(order_id, str(first[3]))
            if why == LOOKUP_UNREADABLE:  # the journal still fails: the rest wait too (one read a second)
                return
            held = self._held_fills.pop(order_id)
            self._held_count -= len(held)
            self._held_handed.extend((order_id, seq, core) for seq, core in held)  # on file until journaled
            self._held_unsaved = True  # off the file at the engine's flush, once the journal has them (``flush``)
            log.warning(
                "venue %s: order %d read back from the journal: %d held execution(s) %s",
                self.name,
                order_id,
                len(held),
                "handed on as late fills" if why == _PASS_ON else "are unknown executions (no such order here)",
            )
            for seq, core in held:
                if why == _PASS_ON:
                    if seq in self._held_restored:
                        self.counters["executions_held_applied_after_restart"] += 1
                    self._pass_on(seq, core, order_id)
                else:
                    _u, _s, cl_ord_id, exec_id, last_shares, last_px, _leaves, _base, _sub = core
                    self._unknown_execution(seq, cl_ord_id, exec_id, last_shares, last_px, order_id, why)

    def _save_held(self) -> None:
        """Write the executions held to the state file (all of them, and those handed on whose journal records are not
        written yet: ``_held_handed``); on an error, log it (they stay held)."""
        self._held_unsaved = bool(self._held_handed)
        handed = [(order_id, [(seq, core)]) for order_id, seq, core in self._held_handed]
        fills = [
            HeldFill(
                seq,
                order_id,
                unit,
                sequence,
                cl_ord_id.decode("latin-1"),
                exec_id,
                last_shares,
                last_px,
                leaves,
                base.decode("latin-1"),
                sub.decode("latin-1"),
            )
            for order_id, held in [*handed, *self._held_fills.items()]
            for seq, (unit, sequence, cl_ord_id, exec_id, last_shares, last_px, leaves, base, sub) in held
        ]
        try:
            save_held_fills(self.config.state_dir, self.name, self._day, fills)
        except OSError as exc:
            log.error(
                "venue %s: cannot write the executions held (%d) to %s: %s; they stay held in memory, but a stop "
                "before the journal reads back loses them from the positions: reconcile them with Cboe from the "
                "ERROR lines that held them",
                self.name,
                len(fills),
                held_fills_path(self.config.state_dir, self.name),
                exc,
            )

    def _load_held(self) -> None:
        """Hold again the executions an earlier process of the day held (``_hold_execution``), from the state file.

        Asked of the engine at the first ``poll`` (once connected: recovery has run); found, each is handed on as a
        late fill (a copy the journal already has, applied before the stop, is a repeat the core does not apply).
        Another trading day's: logged at ERROR, not applied (that day's journal has the order), and dropped.
        """
        file_day, fills = load_held_fills(self.config.state_dir, self.name)
        if not fills:
            return
        if file_day != self._day:
            for fill in fills:
                log.error(
                    "venue %s: Order Execution (venue_seq %d) for ClOrdID %r (order %d of trading day %s): %d @ %s, "
                    "ExecID %d was held (the journal could not be read back for the order) when that day's process "
                    "stopped: not applied to any order or position: correct the position (gateway risk "
                    "adjust-position) and reconcile with Cboe",
                    self.name,
                    fill.venue_seq,
                    fill.cl_ord_id.rstrip("\x00"),
                    fill.order_id,
                    file_day,
                    fill.last_shares,
                    price_text(fill.last_px),
                    fill.exec_id,
                )
            self._save_held()  # today's: none
            return
        for fill in fills:
            core: ExecutionCore = (
                fill.unit,
                fill.sequence,
                fill.cl_ord_id.encode("latin-1"),
                fill.exec_id,
                fill.last_shares,
                fill.last_px,
                fill.leaves,
                fill.base.encode("latin-1"),
                fill.sub.encode("latin-1"),
            )
            self._held_fills.setdefault(fill.order_id, []).append((fill.venue_seq, core))
            self._held_restored.add(fill.venue_seq)
        self._held_count = len(fills)
        log.warning(
            "venue %s: %d execution(s) of %d order(s) held before a restart (the journal could not be read back for "
            "their orders; %s): held again, applied once the orders read back",
            self.name,
            len(fills),
            len(self._held_fills),
            held_fills_path(self.config.state_dir, self.name),
        )

    def _never_created(self, order_id: int, exec_id: str) -> int:
        """Return why the engine has no order ``order_id`` of this venue, in memory or in the journal.

        ``LOOKUP_NEVER_CREATED``: today's ClOrdID of an order id the journal never created (the order reached Cboe
        and then a power failure cut it from the journal's tail, docs/reliability.md 2.3c); ``LOOKUP_OTHER_VENUE``:
        another venue's order. Both definite, kept (``_lost_ids``): asked of the engine (``order_lookup``, which
        reads an order released from memory back from the journal) once per order id. ``LOOKUP_UNREADABLE``: the
        journal could not be read back (no answer, not kept: asked again next time). ``_PASS_ON``: the engine has
        the order, or the adapter is not attached to an engine (the core decides).
        """
        why = self._lost_ids.get(order_id)
        if why is not None:
            return why
        lookup = self.order_lookup
        if lookup is None:
            return _PASS_ON
        found = lookup(order_id, exec_id)
        if not isinstance(found, int):
            return _PASS_ON
        if found != LOOKUP_UNREADABLE:
            self._lost_ids[order_id] = found
        return found

    def _lost_order(self, text: str, *, ask: bool = True) -> int:
        """Return the order id today's ClOrdID ``text`` names if the engine never created it, else -1.

        ``ask`` False: only an order id already known lost (``_lost_ids``), no question to the engine (which may
        read a released order back from the journal).
        """
        order_id = self._order_id_of(text)
        if order_id < 0:
            return -1
        if not ask:
            return order_id if order_id in self._lost_ids else -1
        why = self._never_created(order_id, "")
        return order_id if why not in (_PASS_ON, LOOKUP_UNREADABLE) else -1

    def _earlier_day_execution(self, seq: int, core: ExecutionCore) -> bool:
        """Log an execution of an order of an earlier trading day at ERROR (a late fill); False if not one of ours.

        The order is in that day's journal, not today's: the fill reaches no order or position here (counted
        ``executions_earlier_day``). Shares left open: Cboe still works it (GTC), so it is canceled there. Reported
        once, also across restarts (its ``venue_seq`` goes on the corrections file: no event journals it, so Cboe
        replays it after a restart, and that copy is logged as reported before, ``repeated_reports``).
        """
        cl_ord_id, leaves = core[2], core[6]
        text = _unpad(cl_ord_id)
        earlier = self._earlier_day(text)
        if earlier is None:
            return False
        if seq in self._corrections:  # reported before a restart: Cboe replays it (no event journaled its number)
            self._reported_before(
                seq, f"Order Execution of ClOrdID {text}, order {earlier[1]} of trading day {earlier[0]}"
            )
        else:
            self._earlier_day_error(seq, core, text, earlier)
        if leaves:
            self._working_after_end(seq, "Order Execution", cl_ord_id)
        elif self._owed.get(cl_ord_id) == 0:
            self._discharge(cl_ord_id)
        return True

    def _earlier_day_error(self, seq: int, core: ExecutionCore, text: str, earlier: tuple[str, int]) -> None:
        """The ERROR for an execution of an earlier day's order, put on file (reported once, also across restarts)."""
        _u, _s, _c, exec_id, last_shares, last_px, leaves, _base, _sub = core
        count = self.counters["executions_earlier_day"] = self.counters["executions_earlier_day"] + 1
        self._fill_log.log(
            "earlier-day-execution",
            self._clock(),
            logging.ERROR,
            "venue %s: Order Execution (venue_seq %d) of ClOrdID %s, order %d of trading day %s (this gateway's, not "
            "in today's journal): %d @ %s, ExecID %d, LeavesQty %d: a late fill not applied to any order or position "
            "(%d such executions so far): correct the position (gateway risk adjust-position) and reconcile with Cboe",
            self.name,
            seq,
            text,
            earlier[1],
            earlier[0],
            last_shares,
            price_text(last_px),
            exec_id,
            leaves,
            count,
        )
        self._note_correction(seq)  # after the line: a crash in between reports it twice, never not at all

    def _reported_before(self, seq: int, what: str) -> None:
        """A message reported at ERROR (or WARNING) before a restart, replayed by Cboe: not a new instruction."""
        self.counters["repeated_reports"] += 1
        log.warning(
            "venue %s: %s (venue_seq %d) was reported before a restart (the ERROR with venue_seq %d, see %s): Cboe "
            "replayed it; not a new fill: do not adjust the position again",
            self.name,
            what,
            seq,
            seq,
            corrections_path(self.config.state_dir, self.name),
        )

    def _earlier_day(self, cl_ord_id: str) -> tuple[str, int] | None:
        """Return (trading day, order id) of a ClOrdID this gateway sent on an earlier trading day, else None."""
        at = len(self.config.cl_ord_id_prefix)
        code = cl_ord_id[at : at + DAY_LEN]
        digits = cl_ord_id[at + DAY_LEN :].partition(".")[0]
        if (
            not cl_ord_id.startswith(self.config.cl_ord_id_prefix)
            or len(code) != DAY_LEN
            or not _is_base36(code)
            or not digits.isdigit()
            or not digits.isascii()
            or len(digits) > 18
            or int(code, 36) >= int(self._base[at:], 36)
        ):
            return None
        return (EPOCH_DAY + dt.timedelta(days=int(code, 36))).isoformat(), int(digits)

    def _named(self, cl_ord_id: str) -> str | None:
        """Return the order a ClOrdID of this gateway names (today's, or an earlier day's), else None."""
        order_id = self._order_id_of(cl_ord_id)
        if order_id >= 0:
            return f"order {order_id}"
        earlier = self._earlier_day(cl_ord_id)
        return None if earlier is None else f"order {earlier[1]} of trading day {earlier[0]}"

    def _carried_over(self, day: str) -> None:
        """Log the Cancels owed since trading day ``day`` that stay owed today (sent after the login)."""
        log.warning(
            "venue %s: a new trading day (%s): %d Cancel(s) owed since %s kept, sent after the login (ClOrdIDs %s): "
            "a GTC order outlives the day at Cboe; Cboe refuses those of orders it ended",
            self.name,
            self._day,
            len(self._owed),
            day or "an unknown day",
            ", ".join(_unpad(padded) for padded in self._owed),
        )

    def _working_tracked(self, seq: int, tracked: _Tracked) -> None:
        """An execution left shares open at Cboe of an order that ended here: cancel it there (``_owe_cancel``)."""
        if not self._owe_cancel(tracked.working):
            self._ignore("after-end-cancel-owed", seq, f"Order Execution of order {tracked.order.order_id}")
            return
        self.counters["live_after_end"] += 1
        self._fill_log.log(
            "after-end-cancel",
            self._clock(),
            logging.ERROR,
            "venue %s: Order Execution (venue_seq %d) shows order %d working at Cboe (ClOrdID %s), but it ended here "
            "(%s): canceling it at Cboe (%d such cancels so far; the fill is applied as a late fill)",
            self.name,
            seq,
            tracked.order.order_id,
            _unpad(tracked.working),
            tracked.order.state.name,
            self.counters["live_after_end"],
        )

    def _order_id_of(self, cl_ord_id: str) -> int:
        """Return the order id a ClOrdID of today's names (``<prefix><day><order id>[.<start>.<n>]``), else -1.

        Only for a ClOrdID no order here maps (and the trade corrections): the highest is kept (``_ids_named``).
        """
        digits = cl_ord_id[len(self._base) :].partition(".")[0]
        if not cl_ord_id.startswith(self._base) or not digits.isdigit() or not digits.isascii() or len(digits) > 18:
            return -1
        order_id = int(digits)
        self._ids_named = max(self._ids_named, order_id)
        return order_id

    def _after_end(self, seq: int, kind: str, cl_ord_id: str, leaves: int | None) -> bool:
        """A Modified or Restated of an order no longer mapped here: canceled at Cboe if it shows shares open.

        LeavesQty absent (not a return field asked for) counts as open: a Cancel of an order Cboe has ended
        changes nothing. Return False if the ClOrdID is not one of today's of this gateway.
        """
        if leaves is None or leaves > 0:
            return self._working_after_end(seq, kind, cl_ord_id, leaves)
        return self._answer_after_end(seq, kind, cl_ord_id)

    def _working_after_end(
        self, seq: int, kind: str, cl_ord_id: bytes | str, leaves: int | None = None, *, counted: bool = False
    ) -> bool:
        """Cboe shows working an order no longer mapped here (ended, before a restart or released): cancel it there.

        The order's ClOrdID names it (``_order_id_of``); nothing of it is open here, so nothing may work at Cboe:
        a Cancel Order naming the ClOrdID Cboe knows it by goes out at once (after the replay if one is under way),
        on file first (``_owe_cancel``), logged at ERROR and counted (``live_after_end``). Its answer is expected
        (``_answer_after_end``); a fill before it lands reaches the core as an execution after the end. Return
        False if the ClOrdID is not one of today's of this gateway (an unknown ClOrdID).

        An order id the engine never created (``_lost_order``: cut from the journal's tail by a power failure) is
        canceled the same way (no strategy here knows the order), counted as an unknown ClOrdID (``counted``: the
        caller did) and named so in the ERROR.
        """
        text = cl_ord_id if isinstance(cl_ord_id, str) else _unpad(cl_ord_id)
        named = self._named(text)
        if named is None:
            return False
        end = self._ended_over_gaps.get(self._order_id_of(text), 0) if self._ended_over_gaps else 0
        if end < 0:  # a Cancel Rejected O ended it: not of the ClOrdID an Order Modified gave it (``_ended_at``)
            end = 0 if kind == "Order Modified" else -end
        if self._is_older_than_end(seq, end):  # older than the message that ended the order (boe59): stale LeavesQty
            self._older_than_end(seq, kind, named, end, leaves)
            return True
        lost = self._lost_order(text, ask=False)
        owed = self._owe_cancel(_pad(text))
        if owed and lost < 0:  # asked once per Cancel owed (not per message): the ERROR says which case it is
            lost = self._lost_order(text)
        if lost >= 0 and not counted:
            self._count_unknown()
        if not owed:  # its Cancel is on its way, or goes at Replay Complete
            self._ignore("after-end-cancel-owed", seq, f"{kind} of {named} (ClOrdID {text})")
            return True
        self.counters["live_after_end"] += 1
        self._fill_log.log(
            "after-end-cancel",
            self._clock(),
            logging.ERROR,
            "venue %s: %s (venue_seq %d) shows %s working at Cboe (ClOrdID %s), but %s: canceling it at Cboe (%d "
            "such cancels so far; %s)",
            self.name,
            kind,
            seq,
            named,
            text,
            _NEVER_CREATED.format(cause=self._lost_cause)
            if lost >= 0
            else "the gateway no longer tracks it (it ended here, before a restart or released from memory)",
            self.counters["live_after_end"],
            "its fills are logged as unknown executions: reconcile with Cboe"
            if lost >= 0
            else "a fill before the cancel lands is applied as a late fill",
        )
        return True

    def _answer_after_end(self, seq: int, kind: str, cl_ord_id: bytes | str, *, ends: bool = True) -> bool:
        """Count a message of an order no longer mapped here that needs nothing (``after_end``).

        A message that ends the order at Cboe (``ends``: all but a User Modify Rejected) settles a Cancel the
        adapter owes for its ClOrdID (``_working_after_end``): an Order Cancelled or Cancel Rejected is then the
        expected answer to it (logged at INFO). Any other is ignored (``ignored_by_type.after-end``). Return
        False if the ClOrdID is not one of today's of this gateway (an unknown ClOrdID).
        """
        text = cl_ord_id if isinstance(cl_ord_id, str) else _unpad(cl_ord_id)
        named = self._named(text)
        if named is None:
            return False
        lost = self._lost_order(text, ask=False) >= 0  # known lost only: no journal read for a message needing none
        if lost:
            self._count_unknown()
        else:
            self.counters["after_end"] += 1
        if ends and self._discharge(_pad(text)):
            self._answered(seq, kind, named, text, lost)
        else:
            self._ignore(
                "unknown-order" if lost else "after-end",
                seq,
                f"{kind} of {named} (ClOrdID {text}), which "
                + ("the journal never created" if lost else "has ended here"),
            )
        return True

    def _answered(self, seq: int, kind: str, named: str, text: str, lost: bool) -> None:
        """Log Cboe's answer to a Cancel owed: in full at most once per ``ANSWERED_LOG_NS``, the rest counted (boe56).

        A standby host's replay of the primary's day answers a Cancel per order (before boe56 one INFO line each:
        50,000 lines for a 50,000-message replay). The others within the interval are counted and said in one
        summary line (``_say_answered``) before the next line in full, or from ``poll`` when the burst ends.
        """
        now = self._clock()
        last = self._answered_logged_ns
        if last >= 0 and now - last < ANSWERED_LOG_NS:
            self._answered_tally.add(1 if lost else 0)
            return
        self._say_answered(now)
        self._answered_logged_ns = now
        log.info(
            "venue %s: %s (venue_seq %d) of %s (ClOrdID %s): Cboe answered the Cancel the gateway sent "
            "after %s; nothing of it works at Cboe any more",
            self.name,
            kind,
            seq,
            named,
            text,
            "finding the order unknown here (the journal never created it)" if lost else "the order had ended here",
        )

    def _say_answered(self, now_ns: int) -> None:
        """Say the answers to Cancels owed counted since the last such line (``_answered``), if any and if due."""
        due = self._answered_tally.due(now_ns)
        if due is None:
            return
        ended, lost = due
        log.info(
            "venue %s: Cboe answered %d more Cancels the gateway sent after the order had ended here and %d after "
            "finding the order unknown here (the journal never created it), not logged one by one (one such line a "
            "second): nothing of them works at Cboe any more",
            self.name,
            ended,
            lost,
        )

    def _owe_cancel(self, padded: bytes) -> bool:
        """Cancel the order Cboe knows by ``padded`` at Cboe: now if logged in, else at Replay Complete.

        The ClOrdID goes on file (``_owed_changed``: one ``write``, fsynced at the end of the read) before the
        Cancel is queued and before the core journals anything after the message that showed it, so a crash that
        loses the Cancel leaves it on file for the next process (``_send_owed``). Return False if a Cancel of it is
        owed already.
        """
        if padded in self._owed:
            return False
        seq = self._session.allocate_sequence() if self._session.ready else 0
        self._owed[padded] = seq
        self._owed_changed(padded, seq)
        if self._session.ready:
            self._cancel_packer.pack(self._session.out, seq, padded, *self._firm)
        else:
            self._owed_unsent.add(padded)
        return True

    def _send_owed(self) -> None:
        """At Replay Complete: send the owed Cancels Cboe never received; forget those it did (they end the order).

        A Cancel whose SequenceNumber is at or below Cboe's LastReceivedSequenceNumber reached Cboe: its answer
        was replayed (and settled it) or is still to come. Any other (not sent yet, lost in a cut or a crash, or
        not sequenced) goes out again: a Cancel cannot cancel twice. One this process owed during the replay and
        never sent goes out for the first time: INFO; one sent before or on file from an earlier process: WARNING.
        """
        last = self._last_processed
        sequenced = self.config.sequence_outbound
        session = self._session
        unsent, self._owed_unsent = self._owed_unsent, set()
        for padded, sent in list(self._owed.items()):
            if sequenced and 0 < sent <= last:
                del self._owed[padded]
                self._owed_changed(padded, None)
                continue
            seq = self._owed[padded] = session.allocate_sequence()
            self._owed_changed(padded, seq)
            self._cancel_packer.pack(session.out, seq, padded, *self._firm)
            tracked = self._refs.get(padded)
            if tracked is not None and not tracked.done:  # ``_cancel_again``: the order is open here
                why = (
                    "Cboe refused a Cancel naming the order's earlier ClOrdID (Cancel Rejected O) in a replay; the "
                    "order works at Cboe under this one"
                )
                yet = "; Cboe has not answered a Cancel of it yet"
            else:
                why, yet = (
                    "Cboe showed the order working after it had ended here",
                    ", and has not answered a Cancel of it yet",
                )
            if not sent and padded in unsent:
                log.info(
                    "venue %s: Cancel Order of ClOrdID %s sent after the replay (Cboe rejects cancels during one): %s",
                    self.name,
                    _unpad(padded),
                    why,
                )
                continue
            log.warning(
                "venue %s: Cancel Order of ClOrdID %s sent (again) after the replay: %s%s",
                self.name,
                _unpad(padded),
                why,
                yet,
            )

    def _discharge(self, padded: bytes) -> bool:
        """Cboe answered the Cancel owed for ``padded``: off the file. Return False if none was owed."""
        if self._owed.pop(padded, None) is None:
            return False
        self._owed_changed(padded, None)
        return True

    def _note_correction(self, seq: int) -> None:
        """Put a message reported on file: a Trade Cancel or Correct, an execution of an earlier day's order or for
        an unknown ClOrdID (a replay of it after a restart is then not reported as new)."""
        if not seq:
            return
        self._corrections.add(seq)
        written = self._corrections_log
        if written.failed:  # the end of the read writes the whole file again (``_sync_state``)
            self._state_unsynced = True
            return
        try:
            if written.appends_for(self._day):
                written.append(correction_change(seq))
                self._state_unsynced = True
            else:  # this process's first report of the day: the whole file (a new day's, or one read at start)
                written.rewrite(corrections_snapshot(self._day, self._corrections), self._day)
        except OSError as exc:
            self._state_unsynced = True
            self._corrections_failed(exc, f"venue_seq {seq}")

    def _corrections_failed(self, exc: OSError, which: str) -> None:
        log.error(
            "venue %s: cannot write the message(s) reported (%s: a Trade Cancel or Correct, or an execution not "
            "applied) to %s: %s; after a restart Cboe's replay reports them again: do not correct the position "
            "twice",
            self.name,
            which,
            self.config.state_dir,
            exc,
        )

    def _owed_changed(self, padded: bytes, seq: int | None) -> None:
        """Put a change of the Cancels owed on file (``seq`` None: no longer owed) before anything after it happens.

        One ``write`` appended to the file (a process crash keeps it), fsynced at the end of the read
        (``_sync_state``); the first change of the process (or of a trading day) writes the whole file instead.
        """
        written = self._owed_log
        if written.failed:  # the end of the read writes the whole file again (``_sync_state``)
            self._state_unsynced = True
            return
        try:
            if written.appends_for(self._day):
                written.append(owed_change(_unpad(padded), seq))
                self._state_unsynced = True
            else:
                written.rewrite(self._owed_snapshot(), self._day)
        except OSError as exc:
            self._state_unsynced = True
            self._owed_failed(exc)

    def _owed_snapshot(self) -> bytes:
        return owed_snapshot(self._day, {_unpad(padded): seq for padded, seq in self._owed.items()})

    def _owed_failed(self, exc: OSError) -> None:
        log.error(
            "venue %s: cannot write the Cancels owed to Cboe (%d) to %s: %s; they go out, but a crash before "
            "Cboe answers them would lose them: check the venue's open orders with Cboe",
            self.name,
            len(self._owed),
            self.config.state_dir,
            exc,
        )

    def _save_owed(self) -> None:
        """Write the whole file of the owed Cancels (a new trading day); on an error, log it (the Cancels go out)."""
        try:
            self._owed_log.rewrite(self._owed_snapshot(), self._day)
        except OSError as exc:
            self._state_unsynced = True
            self._owed_failed(exc)

    def _sync_state(self) -> None:
        """Make the changes appended to the two files durable: one fsync each per read from Cboe, at its end.

        Called before the core journals what the read caused and before the Cancels it queued leave (``flush``);
        a file whose changes outgrew its snapshot is written whole instead (compacted), and one whose write failed
        is written whole again (at most one ERROR per read while the disk refuses).
        """
        self._state_unsynced = False
        owed = self._owed_log
        try:
            if owed.failed or owed.outgrown:
                owed.rewrite(self._owed_snapshot(), self._day)
            else:
                owed.sync()
        except OSError as exc:
            self._owed_failed(exc)
        reported = self._corrections_log
        try:
            if reported.failed or reported.outgrown:
                reported.rewrite(corrections_snapshot(self._day, self._corrections), self._day)
            else:
                reported.sync()
        except OSError as exc:
            self._corrections_failed(exc, f"{len(self._corrections)} today")

    def _unknown_execution(
        self,
        seq: int,
        cl_ord_id: bytes,
        exec_id: int,
        shares: int,
        price: int,
        order_id: int = -1,
        why: int = LOOKUP_NEVER_CREATED,
    ) -> None:
        """Count an Order Execution for a ClOrdID no order here has, and log it at ERROR: a fill on the account.

        Every one leaves a line, up to one a second (the next line says how many were not logged in between).
        ``order_id``: today's ClOrdID names that order id, which the engine never created, or another venue's order
        (``why``, ``_never_created``).
        """
        which = (
            _NEVER_CREATED_SHORT.format(cause=self._lost_cause) if why == LOOKUP_NEVER_CREATED else _OTHER_VENUE_SHORT
        )
        unknown = (
            f"ClOrdID {_unpad(cl_ord_id)!r} (order {order_id}, which {which})"
            if order_id >= 0
            else f"unknown ClOrdID {_unpad(cl_ord_id)!r}"
        )
        if seq in self._corrections:  # reported before a restart: Cboe replays it (no event journaled its number)
            self._reported_before(seq, f"Order Execution for {unknown}, ExecID {exec_id}")
            return
        self.counters["unknown_executions"] += 1
        self._count_unknown()
        self._fill_log.log(
            "unknown-execution",
            self._clock(),
            logging.ERROR,
            "venue %s: Order Execution (venue_seq %d) for %s: %d @ %s, ExecID %d: not applied to any "
            "order or position (%d such executions so far): reconcile with Cboe",
            self.name,
            seq,
            unknown,
            shares,
            price_text(price),
            exec_id,
            self.counters["unknown_executions"],
        )
        self._note_correction(seq)

    def _ignore(self, kind: str, seq: int, message: object) -> None:
        count = self.ignored[kind] = self.ignored.get(kind, 0) + 1
        if is_power_of_two(count):
            log.info("venue %s: %s at venue_seq %d (no event; %d so far): %s", self.name, kind, seq, count, message)

    def _rare(self, key: str, message: str, *args: object) -> None:
        """Log ``message`` on the 1st, 2nd, 4th, 8th... occurrence of ``key`` only."""
        self._rare_log.log(key, logging.WARNING, "venue %s: " + message, self.name, *args)

    def _no_event_sink(self, event: VenueEvent) -> None:
        self.counters["dropped_events"] += 1
        self._rare("sink", "no event_sink set; event dropped: %s", event)

    def _no_state_sink(self, name: str, state: VenueState, reason: str) -> None:
        del name, state, reason


def _request_seq(tracked: _Tracked, kind: str) -> int:
    """Return the SequenceNumber of the order's latest request of ``kind`` (new, replace, cancel); 0: none."""
    return tracked.new_seq if kind == "new" else tracked.modify_seq if kind == "replace" else tracked.cancel_seq


def _reason(letter: str, text: str = "") -> tuple[str, str]:
    """Return (strategy code, text) of a Cboe reason letter (and the text Cboe sent, if any)."""
    code = STRATEGY_REASONS.get(letter)
    meaning = reason_text(letter)
    if code is None:
        return UNKNOWN_REASON, f"Cboe reason {letter!r}: {text or meaning}"
    return code, f"{meaning}: {text}" if text and text != meaning else meaning


def _copy_refused(kind: str, answer: tuple[str, str], wait: int) -> tuple[str, str]:
    """Return (strategy code, text) of the reject of a request re-sent in doubt with no answer to the original."""
    letter, text = answer
    code, meaning = _reason(letter, text)
    if letter == "D":  # the copy was a duplicate of the original Cboe had: the original's answer is what was lost
        later = _LATER_MODIFY if kind == "Modify" else _LATER_CANCEL
        return "BOE_ANSWER_LOST", _COPY_LOST_TEXT.format(kind=kind, text=f"{letter}: {meaning}", wait=wait, later=later)
    return code, _COPY_REFUSED_TEXT.format(kind=kind, text=meaning, wait=wait)


def build_boe_venue(config: BoeVenueConfig, clock: NowNs) -> BoeVenue:
    """Create the BOE venue adapter for ``config`` (the core then sets ``event_sink`` and ``state_sink``)."""
    return BoeVenue(config, clock)
