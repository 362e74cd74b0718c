"""The gateway's OUCH 5.0 venue: gateway orders in, OUCH over SoupBinTCP out, normalised events back.

Mapping (gateway -> OUCH): ``send_new`` -> Enter Order with a fresh UserRefNum;
``send_cancel`` -> Cancel Order with quantity 0 for the order's current UserRefNum;
``send_replace`` -> Replace Order (OrigUserRefNum = current, a fresh UserRefNum, the
new total quantity for the chain). OUCH -> gateway: Accepted -> VenueAccepted (Order
State D: with ``canceled_reason`` "DEAD"), Executed -> VenueExecuted, Canceled / AIQ Canceled
-> VenueCanceled, Replaced -> VenueReplaced, Rejected -> VenueRejected (Enter) or
VenueCancelRejected (Replace), Cancel Reject -> VenueCancelRejected. Every event
carries the SoupBinTCP sequence number of its message as ``venue_seq``.

Reliability: the session re-logs in with the next expected sequence number, so the
venue replays what was missed; every sequenced message is admitted by the core's
exactly-once component before it is acted on (``model.exactly_once``), so nothing is
acted on twice. Inbound OUCH messages are not sequenced and may be lost in a cut, so
every Enter/Replace/Cancel is kept until the venue answers it. After a login with
requests still unanswered the adapter first reads the replay (until the first Server
Heartbeat), then asks the venue for its NextUserRefNum (Account Query) and only then
acts: OUCH answers every request it processed with a sequenced message, so what is
still unanswered never arrived. A Cancel is sent again (it names the order's number);
an Enter or Replace is sent again under its own number only if the venue has seen no
number as high (NextUserRefNum <= it), otherwise it is in doubt (the venue took its number but has not
answered it yet): an Enter is taken as accepted and canceled there, a Replace gets VenueCancelRejected
"OUCH_IN_DOUBT" (venue_seq 0): no UserRefNum the venue already
has is ever sent again. The Enter of an order asked to cancel is never sent again: it is
reported back "OUCH_NOT_RECEIVED" (its number not taken), which answers its Cancel too. When messages of the
venue were lost (a replay gap, an undecodable answer), or the venue did not answer the Account Query (ouchaq56:
nothing tells then that it never received a request), an Enter or Replace the venue may have processed is in doubt
instead:
an Enter is taken as accepted, a Replace gets VenueCancelRejected "OUCH_IN_DOUBT" and a Cancel
names both numbers (``_in_doubt``); never "not received". UserRefNums come from a persistent store and never go
backwards within the session day.
"""

from __future__ import annotations

import logging
import operator
import time
from collections import deque
from collections.abc import Callable
from types import FunctionType
from typing import Any, Final, cast

from model.clock import NowNs
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.exactly_once import RequestKind, ResumePoint, UnansweredRequest, VenueSequence
from model.order import Order, OrderState, repeated_fill
from model.prices import price_text
from model.send_result import BACKPRESSURED, Refused, SendResult, Sent, Verdict
from model.venue_events import (
    EVENT_MAX_PRICE,
    EVENT_MAX_QTY,
    EventSink,
    StateSink,
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
)
from obs.ratelog import PowerOfTwoLog, is_power_of_two
from venues.base import VenueAdapter, encode_failed
from venues.ouch.chain import Chain as _Chain
from venues.ouch.codec import (
    ENTER_ORDER_PACKET,
    OUTBOUND_DECODERS,
    accepted_core,
    decode_canceled,
    decode_executed,
    decode_fixed_part,
    decode_rejected,
    decode_replaced,
    encode_message,
    outbound_name,
    pack_cancel_order,
    pack_enter_order,
    pack_replace_order,
    replace_packet_terms,
)
from venues.ouch.config import OuchVenueConfig, heartbeat_warnings
from venues.ouch.daytime import WallClock, trading_day
from venues.ouch.doubts import doubts_path, read_doubt_file, save_doubts
from venues.ouch.errors import BAD_APPENDAGE, BAD_LENGTH, OUT_OF_RANGE, TRUNCATED, UNKNOWN_TYPE, DecodeError
from venues.ouch.messages import (
    MAX_PRICE,
    MAX_QUANTITY,
    ORDER_STATE_DEAD,
    AccountQuery,
    AccountQueryResponse,
    AiqCanceled,
    BrokenTrade,
    CancelPending,
    CancelReject,
    OrderAccepted,
    OrderCanceled,
    OrderExecuted,
    OrderModified,
    OrderReplaced,
    OrderRestated,
    PriorityUpdate,
    SystemEvent,
    cancel_text,
    reject_text,
)
from venues.ouch.messages import OrderRejected as OuchRejected
from venues.ouch.options import encode_option
from venues.ouch.owed import load_owed_cancels, save_owed_cancels
from venues.ouch.refcount import RefCounter
from venues.ouch.refstore import MAX_USER_REF_NUM, RETRY_INTERVAL_NS, UserRefNumStore
from venues.ouch.soup_client import SoupClientConfig, SoupClientSession, SoupClientState
from venues.ouch.soupbin import REJECT_NOT_AUTHORIZED, encode_unsequenced

log = logging.getLogger(__name__)

MS: Final = 1_000_000
_CANCEL_KEY: Final = 1 << 32
"""Added to a UserRefNum to key a pending Cancel of that UserRefNum."""

_SIDE: Final = {side: side.value.encode("ascii") for side in Side}
_TIF: Final = {TimeInForce.DAY: b"0", TimeInForce.IOC: b"3"}
_SHORT_SIDES: Final = frozenset({Side.SELL_SHORT, Side.SELL_SHORT_EXEMPT})
_REJECT_CODES: Final = {code: (f"0x{code:04X}", reject_text(code)) for code in range(0x34)}
_MAX_QTY: Final = EVENT_MAX_QTY
"""The largest quantity the strategy protocol carries (docs/strategy-protocol.md, section 2); OUCH sends 2^32-1."""
_MAX_PRICE: Final = EVENT_MAX_PRICE
"""The largest price the strategy protocol carries (section 2); OUCH sends up to 2^64-1."""


_PRICE_RANGE: Final = f"{price_text(1)}..{price_text(MAX_PRICE)}"
"""OUCH's price range in currency units, for the texts of OUCH_PRICE and OUCH_REPLACE."""
_NAMED_FIELDS: Final = (
    ("orig_user_ref_num", "original UserRefNum"),
    ("user_ref_num", "UserRefNum"),
    ("quantity", "quantity"),
    ("decrement_shares", "decrement shares"),
    ("price", "price"),
    ("execution_price", "execution price"),
    ("match_number", "match number"),
    ("order_reference_number", "Order Reference Number"),
    ("order_state", "order state"),
    ("reason", "reason"),
)
"""The fields an ERROR line about a message acted on without its malformed appendage names, when it has them."""
_ACCEPTED_TYPE: Final = ord("A")
"""Order Accepted: ``on_sequenced`` decodes it and hands it to ``_on_accepted`` directly (its order mapped)."""
_DEAD_TEXT: Final = "accepted and canceled at once by the venue (Order State D)"
_CANCEL_REJECT_TEXT: Final = "cancel rejected by the venue (cross order in the late period)"
_REPLACING: Final = frozenset({OrderState.PENDING_REPLACE, OrderState.PENDING_REPLACE_HELD_CANCEL})
# Final aliases of what is used per order: compiled, a use is a static read instead of a lookup of the
# name in this module's globals dict (which every imported name and non-Final global is)
_LIMIT: Final = OrderType.LIMIT
_Sent: Final = Sent
_NewChain: Final = _Chain
_VenueAccepted: Final = VenueAccepted
_repeated_fill: Final = repeated_fill
_Handler = Callable[[int, Any, Any], None]
"""(sequence number, the order's chain, the decoded message)."""
_NEVER_SENT: Final = Refused(
    "OUCH_UNKNOWN_ORDER", "order was never sent to OUCH", RejectSource.GATEWAY
)  # refused here, as BOE_UNKNOWN_ORDER

UNSEEN_ORDER_ID_MARGIN: Final = 1 << 22
"""How far above the highest ClOrdID a standby takeover's replay named new order ids start when the venue's
NextUserRefNum (or its silence) shows requests the replay did not (the other host's Enters taken, unanswered:
their ClOrdIDs are unknown): ``gateway.recovery.ORDER_ID_MARGIN``, 4,194,304, more orders than the gateway creates
in 38 s at its highest measured rate (ouchstandby57)."""
UNANSWERED_REF_SHARE: Final = 10
"""A standby takeover whose Account Query goes unanswered starts its UserRefNums ``user_ref_num_block //
UNANSWERED_REF_SHARE`` (at least 1; 10,000 by default) above the highest number the replay named
(``unanswered_ref_margin``): that many of the other host's Enters may be live at the venue unanswered and are not
reused. Well below a block on purpose (ouchmargin57): the other host, a gateway with the same block coming back the
same day (failback), continues from its own reservation on file, about half a block or more (mostly a whole block)
above its last number; a margin of a whole block started the standby exactly there, so the primary's next Enters
went out below the standby's and the venue ignored them (rev57merge3 finding 1)."""


def unanswered_ref_margin(block: int) -> int:
    """Return how far above the replay's highest UserRefNum a takeover with no Account Query answer starts."""
    return max(block // UNANSWERED_REF_SHARE, 1)


_ACCOUNT_QUERY_PACKET: Final = encode_unsequenced(encode_message(AccountQuery()))
_NOT_RECEIVED: Final = "OUCH_NOT_RECEIVED"
_EOD_WRITE_WAIT_S: Final = 1.0
"""At shutdown, how long to wait for the end-of-day mark to reach the disk (a one-off thread writes it)."""
_SESSION_ENDED: Final = "OUCH_SESSION_ENDED"
_SESSION_CHANGED: Final = "OUCH_SESSION_CHANGED"
_GATEWAY: Final = RejectSource.GATEWAY
"""Source of what OUCH cannot carry, decided here before anything is sent (strategy protocol 8.2)."""
_DAY_ENDED: Final = Refused(
    "OUCH_END_OF_DAY",
    "the venue sent System Event E (end of day): it takes no new orders in this session; cancels still go out",
    RejectSource.GATEWAY,  # decided here before anything is sent (strategy protocol 8.2)
)
_LOST_BY_VENUE_TEXT: Final = (
    "the venue restarted its numbering (it lost its state) and has never seen this order's UserRefNum: "
    "the order is not on its book"
)
_SESSION_ENDED_TEXT: Final = "the venue ended the session before answering"
_NOT_RECEIVED_TEXT: Final = (
    "the venue never received it (unanswered after the replay) and has seen a later UserRefNum, "
    "so it cannot be sent again under its number"
)
_NOT_RECEIVED_CANCEL_TEXT: Final = (
    "the venue never received it (unanswered after the replay) and a cancel of it was requested, "
    "so it is not sent again"
)
_NUMBER_TAKEN_TEXT: Final = (
    "the venue gave this replace's UserRefNum to another order (another host's Enter): it never applied the replace; "
    "the order keeps its size and price"
)
_IN_DOUBT: Final = "OUCH_IN_DOUBT"
_DOUBTED_PRUNE_MIN: Final = 64
"""``_doubted`` is not pruned below this size."""
_OUTCOME_UNKNOWN: Final = "OUCH_OUTCOME_UNKNOWN"
_OUTCOME_UNKNOWN_TEXT: Final = (
    "no answer from the venue to the order nor to the gateway's Cancel within answer_timeout_ms each: most likely "
    "never received by the venue; its outcome is unknown: reconcile it with the venue desk (a late fill is applied)"
)
_OUTCOME_UNKNOWN_UNREADABLE_TEXT: Final = (
    "the venue's answer to the order could not be read and it said nothing of the order within answer_timeout_ms "
    "of the gateway's Cancel: most likely rejected by the venue (it ignores a Cancel of an order it does not hold); "
    "its outcome is unknown: reconcile it with the venue desk (a late fill is applied)"
)
_IN_DOUBT_GAP_TEXT: Final = (
    "messages of the venue were lost (a replay gap at the login, or one undecodable) and it has seen this "
    "UserRefNum or a later one"
)
_IN_DOUBT_TAKEN_TEXT: Final = (
    "the venue took its UserRefNum (NextUserRefNum above it) but has not answered it yet: a slow venue may still "
    "accept or reject it"
)
_IN_DOUBT_UNKNOWN_TEXT: Final = (
    "messages of the venue were lost (a replay gap at the login, or one undecodable) and it did not answer "
    "the Account Query"
)
_IN_DOUBT_NO_QUERY_TEXT: Final = (
    "unanswered after the replay and the venue did not answer the Account Query: whether it took this UserRefNum "
    "is unknown, and a slow venue may still accept or reject it"
)
_REPLACE_WHILE_IN_DOUBT: Final = Refused(
    _IN_DOUBT,
    "the order's live UserRefNum at the venue is in doubt (the answer to an earlier Enter or Replace was lost or "
    "unreadable) and the venue silently ignores a Replace of a number that is not live: no Replace is sent until a "
    "message of the venue names the live number; cancel the order instead",
)
_NOT_RESENT_IN_DOUBT_TEXT: Final = (
    "not sent again: the venue did not answer it and the order's live UserRefNum is in doubt, so the venue may "
    "have ignored it and would ignore it again; cancel the order instead"
)
_EXECUTED: Final = ord("E")
_ENTER_TYPE: Final = ord("O")
_REJECTED_TYPE: Final = ord("J")
_REPLACED_TYPE: Final = ord("U")
_CANCEL_REJECT_TYPE: Final = ord("I")
_CANCELED_TYPE: Final = ord("C")
_AIQ_CANCELED_TYPE: Final = ord("D")
_BUY_SIDE: Final = ord("B")
_IOC_TIF: Final = ord("3")
_ACCEPTED_MISMATCH: Final = "OUCH_ACCEPTED_MISMATCH"


def _native_same() -> Callable[[object, int, object, int, int], bool] | None:
    """Return ``venues.ouch._compare.same`` (built with the compiled modules), or None when it is absent."""
    try:
        from venues.ouch._compare import same  # noqa: PLC0415 - optional: built with the compiled modules
    except ImportError:
        return None
    return cast(Callable[[object, int, object, int, int], bool], same)


_PackEnter = Callable[[bytearray, int, bytes, int, bytes, int, bytes, bytes, bytes, bytes, bytes, bytes, bytes], int]


def _native_pack_enter() -> _PackEnter:
    """Return ``venues.ouch._enter.pack_enter_order`` (built with the compiled modules), else the codec's."""
    try:
        from venues.ouch._enter import pack_enter_order as native  # noqa: PLC0415 - optional: compiled modules
    except ImportError:
        return pack_enter_order
    return cast(_PackEnter, native)


def _native_pack_enter_id() -> Callable[..., int] | None:
    """Return ``venues.ouch._enter.pack_enter_order_id`` (built with the compiled modules), or None when absent."""
    try:
        from venues.ouch._enter import pack_enter_order_id  # noqa: PLC0415 - optional: compiled modules
    except ImportError:
        return None
    return cast(Callable[..., int], pack_enter_order_id)


_PACK_ENTER: Final = _native_pack_enter()
"""``pack_enter_order``: with the compiled modules the C writer (same bytes and errors, one call instead of the
codec's ``struct.pack_into`` of 16 values, about 3,100 instructions); else ``codec.pack_enter_order`` itself."""
_PACK_ENTER_ID: Final = _native_pack_enter_id()
_ENTER_PACK: Final = ENTER_ORDER_PACKET.pack
"""Interpreted, an Enter Order without options in one call: ``pack_enter_order``'s packet (SoupBinTCP length 48: the
type byte and the 47-byte message; appendage length 0) made whole, then appended (``buf`` untouched on an error)."""
"""With the compiled modules, the C writer taking the order id for the ClOrdID (``_cl_ord_id``'s bytes written from
it: no str, no bytes made and freed per order, about 900 instructions); else None (the ClOrdID's bytes are made)."""
_SAME: Final = _native_same()
"""With the compiled modules, ``same(a, a_start, b, b_start, n)``: ``a[a_start:a_start + n] == b[b_start:b_start +
n]`` read in place (compiled, the slices are two new objects, two slice objects and a generic compare); else None."""
_UNMAPPED_KINDS: Final = {ord(kind): kind for kind in "AECDUJIM"}
"""Outbound type about one order (dispatched by UserRefNum) -> its letter, for one whose number is not mapped."""
_SHOWS_LIVE: Final = frozenset(ord(kind) for kind in "UECDM")
"""Outbound types about one order that show the UserRefNum they name took effect (``_adopt_forgotten``)."""
_URN_OFFSET: Final = {ord(kind): 9 for kind in "AECDJIM"} | {ord("U"): 13}
"""Outbound type about one order -> offset of the UserRefNum its handler looks up (after Type and Timestamp)."""
_CANCEL_WANTED_BEFORE_ACK: Final = frozenset({OrderState.PENDING_NEW_CANCEL, OrderState.PENDING_NEW_HELD_CANCEL})
"""A new order the desk asked to cancel before the venue acknowledged it: an Enter lost is reported, never re-sent."""
_NOT_ACKNOWLEDGED: Final = frozenset(
    {OrderState.CREATED, OrderState.PENDING_NEW, OrderState.PENDING_NEW_CANCEL, OrderState.PENDING_NEW_HELD_CANCEL}
)
"""Orders the venue had not acknowledged when the journal last recorded them (``journal_opened``)."""


_OUT_OF_FRAME: Final = frozenset({TRUNCATED, BAD_LENGTH, UNKNOWN_TYPE, BAD_APPENDAGE})
"""Decode errors of a packet whose length does not fit its type: it was framed wrongly, asked for again."""


_FOURTEEN_DIGITS: Final = 10**14
"""The first order id ``_cl_ord_id`` writes in base 36: the ids below are their 14 decimal digits or fewer."""


def _cl_ord_id(order_id: int) -> bytes:
    """Return the 14-character ClOrdID of a gateway order: its decimal id, or "Z" + base 36 when longer."""
    text = str(order_id)
    if len(text) > 14:
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        value = order_id
        chars = []
        while value:
            value, rem = divmod(value, 36)
            chars.append(digits[rem])
        text = "Z" + "".join(reversed(chars))
    return text.encode("ascii").ljust(14)


def _order_id_of(cl_ord_id: bytes) -> int:
    """Return the gateway order id whose ClOrdID (``_cl_ord_id``) is the 14 bytes ``cl_ord_id``; 0: none.

    Any other ClOrdID (another firm's format: letters, leading zeros or spaces, a sign) is no ClOrdID this gateway
    can enter: 0.
    """
    text = cl_ord_id.rstrip(b" ")
    try:
        order_id = int(text[1:], 36) if text[:1] == b"Z" else int(text)
    except ValueError:
        return 0
    return order_id if order_id > 0 and _cl_ord_id(order_id) == cl_ord_id else 0


_CL_ORD_ID_AT: Final = {ord("A"): 48, ord("U"): 52, ord("J"): 15, ord("B"): 22}
"""Outbound type -> offset of its ClOrdID (Accepted, Replaced: the replacement's, Rejected, Broken Trade)."""


def _not_its_replace(chain: _Chain, message: OuchRejected | OrderReplaced) -> bool:
    """Whether a Rejected (or Replaced) carries a ClOrdID other than the one the order's Replaces carry (its own).

    OUCH 5.0: a Rejected carries the ClOrdID of the request it refuses, and this gateway's Replace carries the
    order's ClOrdID (``_pack_replace``). Another host's Enter refused under a waiting Replace's number (the venue's
    NextUserRefNum after a failback: the Replace lost in flight) carries that host's ClOrdID.
    """
    return message.cl_ord_id.encode("latin-1") != _cl_ord_id(chain.order.order_id).rstrip(b" ")


_COMPILED: Final = not isinstance(_cl_ord_id, FunctionType)
"""Whether this module runs compiled (mypyc): ``send_order`` writes the ClOrdID the way that is cheaper for each."""
_PADDING: Final = tuple(b" " * (14 - size) for size in range(15))
"""The spaces that pad a ClOrdID of ``size`` characters to 14."""


def _ref_key(venue_ref: str) -> int:
    """Return the UserRefNum a journaled venue reference names, -1 if it is not a number."""
    try:
        return int(venue_ref)
    except ValueError:
        return -1


REF_LOOKUP_WINDOW_NS: Final = 100_000_000
"""The search budget's window (100 ms of the adapter's clock): ``ref_lookups_per_window`` searches and
``ref_lookup_ns_per_window`` of searching at most in each (at least one); past it, the venue's messages wait,
in order, for a later window (``_held``)."""
REF_LOOKUPS_PER_WINDOW: Final = 10
"""Journal searches for UserRefNums no longer mapped started per window at most (100 a second)."""
REF_LOOKUP_NS_PER_WINDOW: Final = 10_000_000
"""Time spent searching per window, at most (10 ms of 100: a tenth of the loop); the search that passes it ends."""
REF_ANSWERS_KEPT: Final = 16_384
"""UserRefNums whose journal answer (an order id, or 0: not ours) the adapter keeps for its session
(``ref_answers_kept``; the oldest answer goes first): a number named again costs a dict hit, not a search."""


class _LookupOverBudgetError(Exception):
    """The journal search a message needs is over this second's budget: the message waits (``_held``)."""


class OuchVenue(VenueAdapter):
    """One OUCH 5.0 account over a SoupBinTCP client session (sans-IO; driven by ``VenueConnector``)."""

    # Declared here again, though ``VenueAdapter`` declares them: compiled, an attribute of the
    # interpreted base is a generic lookup from this class's methods, one declared here is a native
    # field (the base's methods, interpreted, set it through the class's descriptor, as before).
    event_sink: EventSink
    state_sink: StateSink
    _backpressured: bool
    _write: Callable[[bytes | bytearray], None] | None
    _close: Callable[[], None] | None
    _keeper: VenueSequence | None

    def __init__(
        self,
        config: OuchVenueConfig,
        clock: NowNs,
        *,
        store: UserRefNumStore | None = None,
        wall: WallClock = time.time_ns,
    ) -> None:
        self.name = config.name
        self.config = config
        self.ids_bounded = True  # Order Reference and Match Numbers: below 2^64 (``VenueAdapter.ids_bounded``)
        self.event_sink = self._no_event_sink
        self.state_sink = self._no_state_sink
        self._clock = clock
        self._close_pending = False
        self._backpressured = False
        self._write = None
        self._close = None
        self._live = False
        """Logged in and done with the replay: requests go on the wire (else they wait in ``_inflight``)."""
        self._replaying = False
        """Logged in with requests unanswered, reading the replay (until the first Server Heartbeat)."""
        self._tail_lost = False
        """The journal may have lost its tail (``journal_opened``: not stopped cleanly, ``fsync`` not ``batch``): a
        Replace of this gateway may have left with its record lost (``_lost_replace``)."""
        self._lost_replace_urn = 0
        """The new UserRefNum of the Replaced ``_lost_replace`` applies (0: none): ``_replaced_after_reject``'s text."""
        self._own_refs: set[int] = set()
        """UserRefNums this host's own journal confirmed for its open orders at the start (``journal_opened``), and the
        ones ``_lost_replace`` moved them to: the only OrigUserRefNums a Replaced the journal lost may name."""
        self._journal_ids = 0
        """The highest order id the journal held at an unclean start (``journal_opened``; 0: not such a start): a
        ClOrdID above it in the login's replay may be this host's own Enter whose records the journal lost."""
        self._refs_at_start = 0
        """The highest UserRefNum this host's store may have handed out, at that start (``journal_opened``)."""
        self._ids_foreign = False
        """A ClOrdID noted since the last raise of the order ids is not this host's own lost Enter's (``_foreign_id``):
        the raise goes on file as another host's (``UserRefNumStore.own_ids`` False; ouchpf61)."""
        self._cancels_seen: dict[int, bytearray] = {}
        """The Cancels waiting at the last look (``_sweep_cancels``: key -> the packet kept, its identity)."""
        self._cancels_seen_ns = 0
        """When ``_cancels_seen`` was taken (0: not since the login or the end of a hold)."""
        self._cancels_reported: dict[int, tuple[int, int, _Chain]] = {}
        """Keys of Cancels logged unanswered (``_sweep_cancels``: once each while they wait) -> (when logged, the look
        before, by when it had left, its order): each gets its all-clear once answered (``_cancels_answered``); how
        many wait now is ``cancels_unanswered_now`` (the gauge ``gateway_venue_cancels_unanswered_now``)."""
        self._cancels_to_look: list[int] = []
        """Keys of ``_cancels_reported`` still to look at in this round of ``_cancels_answered`` (at most
        ``_answered_per_look`` a sweep; refilled from it when empty)."""
        self._answered_per_look = 1024
        """How many Cancels logged unanswered one sweep looks at (``_cancels_answered``: bounded work per call)."""
        self._cancels_unreachable: dict[int, int] = {}
        """order_id -> its Cancels logged unanswered still waiting when the venue changed session (``_forget_session``
        with ``previous``): never answered, the order unreachable now and maybe working at the venue; they count in
        ``cancels_unanswered_now`` until the order ends here (``forget``; rev61merge MEDIUM 2)."""
        self._gap_mark: tuple[str, int] = ("", 0)
        """(session, the highest UserRefNum issued) at the last login with a replay gap: an order known by a number up
        to it was live (or on its way) while messages of the venue were lost (``_canceled``'s WARNING)."""
        self._query_sent_ns = 0
        """When the Account Query after the replay went out (0 = none outstanding)."""
        self._held_since_ns = 0
        """When the engine last began holding this venue's bytes (``hold_output``)."""
        self._login_ns = 0
        self._answers_lost = False
        """Messages of the venue were lost (a replay gap at a login, or one undecodable whose order is unknown):
        an unanswered Enter or Replace the venue has seen may have been processed (in doubt, never "not received")."""
        self._gaps_seen = 0
        """``SoupClientSession.gaps`` when last looked at (a login)."""
        self._mark_unwritten = False
        """The owed NextUserRefNum mark could not be put on file (``_owed_mark_not_on_file``; logged once per
        episode: until the file holds it, ``_owed_mark_on_file``)."""
        self._mark_writes = 0
        """The store's successful writes (``UserRefNumStore.writes``) when ``_mark_unwritten`` was set: one more, and
        the file held the state of its time (the episode ended, said or not yet)."""
        self._gaps_judged = 0
        """``SoupClientSession.gaps`` at the last replay's end (``_replay_named_no_replace``)."""
        self._kept_replace_doubts: set[int] = set()
        """Numbers of Replaces in doubt a message may have named unseen (an answer that did not decode, a replay gap):
        never retired for want of a message naming them (``_replay_named_no_replace``)."""
        self._taken_replace_doubts: set[int] = set()
        """Numbers of Replaces in doubt an Account Query answer of this process showed the venue took (its
        NextUserRefNum above them): another answer can only say so again (the number only grows), so a later login
        does not wait for the query for them alone (``on_caught_up``; ouchmark59, rev58merge8 LOW 5)."""
        self._unlost_replace_doubts: set[int] = set()
        """Numbers of Replaces this process put in doubt while no message of the venue was lost (no replay gap, no
        message that did not decode, since the last login's replay was judged): the Replace's answer, if the venue
        sent one, is in a replay still to come. Only these are retired for a higher number of another host a later
        replay names (``_replay_named_no_replace``); one put in doubt at a gap login, or restored from the doubts
        file, may have had its answer lost (the venue applied it: rev59merge2 HIGH 1)."""
        self._foreign_refs: set[int] = set()
        """Numbers of Replaces answered in doubt that are not their order's (``_retire_replace``): a message naming one
        is another host's, or names nothing of this host's; never mapped to the order again. On file with the doubts
        (``venues.ouch.doubts``): a restart keeps them so (ouchdoubt58c; before, the journal's Replace record gave the
        number back to the order)."""
        self._replace_only: set[int] = set()
        """Numbers of Replaces left unanswered (in doubt, or in flight) when their order ended (``_finish``): a Replace
        is answered Replaced or Rejected, never Accepted, so an Accepted naming one is another host's Enter, never the
        order live at the venue (``_unmapped``; ouchdoubt58c). On file with the doubts: a Replace in doubt's at the end
        of the read that ended its order (before that end is journaled), one in flight with the next write."""
        self._day_ended = False
        """The venue sent System Event ``E`` (end of day) this session day: new orders are refused ``OUCH_END_OF_DAY``
        (kept in the UserRefNum store across restarts: ``UserRefNumStore.day_ended``)."""
        self._check_orders = False
        """The venue restarted its numbering with orders open: ask its NextUserRefNum after the replay even with
        nothing unanswered, and end the orders it never saw (``_lost_orders``)."""
        self._query_refnums = False
        """The UserRefNum store was lost, or the venue put the login in another session: ask the venue's
        NextUserRefNum after the next login's replay before sending anything (``_store_lost``, ``on_logged_in``)."""
        self._query_why = "the UserRefNum store was lost"
        """Why ``_query_refnums`` was set (the ERROR when the venue does not answer names it)."""
        self._no_record = False
        """The first login of the day with neither a UserRefNum store nor a journal naming a session (a first start,
        or a standby host taking over with nothing of the day's state): until the venue's NextUserRefNum floors the
        store, a message naming a number this gateway never issued is the day's earlier traffic, not ours
        (``_earlier_traffic``); fixouch51."""
        self._earlier_max = 0
        """The highest UserRefNum such earlier traffic named (the floor when the venue does not answer the query)."""
        self._earlier_seq = 0
        """The sequence number of the last message of such earlier traffic: persisted with the floor
        (``UserRefNumStore.floor``), so a restart the same day logs in after it (``resume_after``; fixstandby52)."""
        self._earlier_ids: set[int] = set()
        """The gateway order ids such earlier traffic used as ClOrdIDs (``_order_id_of``): new order ids start above
        them (``order_ids_above``, ``_end_no_record``; standby53)."""
        self._earlier_foreign = 0
        self._other_max = 0
        """The highest UserRefNum a login's replay named above every number this host's store handed out (another
        host's, which traded the account while this one was away: a failback), until the venue's NextUserRefNum (or,
        unanswered, a margin above this) floors the store (``_other_host``, ``_end_no_record``; ouchfail58)."""
        self._other_in_replay = 0
        """The highest UserRefNum of another host this login's replay named (``_other_host``; 0: none): a Replace in
        doubt below it that no message named can no longer be taken (``_replay_named_no_replace``; ouchmark59)."""
        self._ids_raised = 0
        """The highest ClOrdID of an unknown UserRefNum's message that raised the order ids once UP (``_foreign_id``)"""
        self._ids_due = False
        """``_ids_raised`` is not logged nor on file yet: ``poll`` does both, once."""
        self._ask_unseen = False
        """Messages of orders the gateway does not know came with no record of the day (its journal lost, the store
        kept): the Account Query asks whether requests the replay did not show exist (``_end_no_record``)."""
        """How many ClOrdIDs of such earlier traffic are in no form this gateway enters (they cannot collide)."""
        self._answer_timeout_ns = config.answer_timeout_ms * MS
        """An Enter unanswered this long while live is in doubt (``_sweep_answers``, on the session timer; 0: never)."""
        self._sweep_every_ns = min(max(self._answer_timeout_ns // 10, 10 * MS), 1_000 * MS)
        self._next_sweep_ns = 0
        self._issued_marks: deque[tuple[int, int]] = deque()
        """(time, the store's last UserRefNum then), oldest first: every Enter numbered up to it was sent by then
        (UserRefNums only increase), so nothing per order is timed (the Enter path is untouched)."""
        self._swept_upto = 0
        """The highest UserRefNum the sweep has judged since the last login."""
        self._sweep_paused = False
        """Bytes were held unsent at the last ``poll`` (the journal failing): the sweep waits (``_resume_sweep``)."""
        self._doubt_cancels: dict[int, int] = {}
        """UserRefNum of an Enter answered in doubt -> when its Cancel went out (again: each login).

        Only orders whose Enter timed out, or was left unanswered by a login's replay though the venue took its
        number or a replay gap may have lost its answer (rare): the sweep ends one the venue still names nothing
        about a second ``answer_timeout_ms`` after its Cancel (``_sweep_doubts``), and ``_go_live``, once a login's
        replay is read, sends the Cancel of each one still open again (fixouch52; after the replay: ouchid54). An
        entry leaves when its order ends (or the venue refuses the Cancel)."""
        self._unreadable_doubts: set[int] = set()
        """The UserRefNums of ``_doubt_cancels`` whose Enter's answer arrived but could not be read (ouch55): the
        venue had the Enter, so one it says nothing of after the Cancel most likely rejected it (its own text). On
        file with them (``unreadable``), so a restarted process says the same (ouch56)."""
        self._unreadable_restored: set[int] = set()
        """Those of ``_unreadable_doubts`` restored from the file: their Cancel after the first login is one sent
        again (logged so), not that of an answer just read in the replay (``_cancel_doubts_again``)."""
        self._doubts_due = False
        """An answer that could not be read was put in doubt during this read (or ``poll``): the doubts file is
        written once at the read's end (``_write_due_doubts``), before the core journals the answers (ouch56)."""
        self.ref_lookups_per_window = REF_LOOKUPS_PER_WINDOW
        self.ref_lookup_ns_per_window = REF_LOOKUP_NS_PER_WINDOW
        self.ref_answers_kept = REF_ANSWERS_KEPT
        self._ref_answers: dict[int, int] = {}
        """UserRefNum no longer mapped -> the journal's answer (order id; 0: not ours), for ``_answers_session``."""
        self._answers_session = ""
        self._lookup_window_ns: int | None = None
        """When the current window of the search budget began (None: no search yet)."""
        self._lookups_in_window = 0
        self._lookup_ns_in_window = 0
        self._lookups_unbounded = False
        """Held messages are being read whatever the budget (a login, the replay's end, the session's end)."""
        self._held: deque[tuple[int, bytes]] = deque()
        """Sequenced messages waiting behind one whose journal search was over the budget, in the venue's order
        (admitted, not yet acted on: nothing later of the venue is journaled before them)."""
        self._salvaged_sequence = 0
        self._replay_upto = 0
        """After a numbering restart: the venue's messages up to this number may repeat ones applied (0: none)."""
        self._keeper = None
        """The core's keeper of this venue's message numbers once bound (``bind_sequence``): ``on_sequenced`` admits
        a message numbered above its high water inline (compiled: no interpreted call), anything else via ``admit``."""
        """The sequence of the last message counted and logged as salvaged (a held one is decoded again on each try)."""
        self._session = SoupClientSession(
            SoupClientConfig(
                username=config.username,
                password=config.password,
                session=config.session,
                version=config.soupbin_version,
                heartbeat_interval_ns=config.heartbeat_interval_ms * MS,
                server_timeout_ns=config.server_timeout_ms * MS,
                heartbeat_timeout_ms=config.client_heartbeat_timeout_ms,
                reconnect_initial_ns=config.reconnect_initial_ms * MS,
                reconnect_max_ns=config.reconnect_max_ms * MS,
                max_login_refusals=config.max_login_refusals,
                max_refetches=config.max_refetches,
            ),
            self,
        )
        self.data_received = self._session.data_received  # type: ignore[method-assign]  # one call fewer per read
        self._store = store or UserRefNumStore(
            config.state_dir,
            config.name,
            today=lambda: trading_day(config.timezone, wall),
            block=config.user_ref_num_block,
            prefetch=True,
        )
        self._refnums: RefCounter = self._store.counter
        """The store's numbers, read and written by ``send_order`` (compiled: native fields, no lookups)."""
        self._day_ended = self._store.day_ended  # the venue ended this session day before a restart
        self._state = VenueState.DISCONNECTED
        self._reason = "not connected yet"
        self._chains: dict[int, _Chain] = {}
        """order_id -> chain."""
        self._refs: dict[int, _Chain] = {}
        """UserRefNum -> chain. Old numbers stay mapped."""
        self._replace_refs: set[int] = set()
        """UserRefNums that were the new number of a Replace (the others are Enters)."""
        self._inflight: dict[int, bytearray] = {}
        """Packets the venue has not answered yet, re-sent after each login (by UserRefNum / cancel key)."""
        self._doubted: dict[int, bytearray] = {}
        """UserRefNum of an Enter answered in doubt (``_in_doubt``) -> its Enter packet: the venue's late Accepted is
        compared with the order's own terms as for any Enter (rev52ouch M1). Rare; pruned of ended orders."""
        self._doubted_prune_at = _DOUBTED_PRUNE_MIN
        """Size of ``_doubted`` at which it is next pruned (doubles with what a prune leaves: amortized O(1))."""
        self._symbols: dict[str, bytes] = {}
        self._display = config.display.encode("ascii")
        self._capacity = config.capacity.encode("ascii")
        self._sweep = b"Y" if config.intermarket_sweep else b"N"
        firm = encode_option(2, config.firm) if config.firm else b""
        locate = encode_option(25, "Y" if config.shares_located else "N")
        if config.locate_broker:
            locate += encode_option(26, config.locate_broker)
        self._enter_appendage = firm
        self._enter_short_appendage = firm + locate
        self._replace_short_appendage = locate
        by_urn = operator.attrgetter("user_ref_num")
        self._dispatch: dict[int, tuple[Callable[[memoryview], Any], Callable[[Any], int], _Handler]] = {
            ord("A"): (accepted_core, operator.itemgetter(0), self._on_accepted_fields),
            ord("E"): (decode_executed, by_urn, self._on_executed),
            ord("C"): (decode_canceled, by_urn, self._on_canceled),
            ord("D"): (OUTBOUND_DECODERS[ord("D")], by_urn, self._on_aiq_canceled),
            ord("U"): (decode_replaced, by_urn, self._on_replaced),
            ord("J"): (decode_rejected, by_urn, self._on_rejected),
            ord("I"): (OUTBOUND_DECODERS[ord("I")], by_urn, self._on_cancel_reject),
            ord("M"): (OUTBOUND_DECODERS[ord("M")], by_urn, self._on_modified),
        }
        """Outbound message type about one order -> (decoder, its UserRefNum, handler): one dispatch path."""
        self._without_order: dict[int, Callable[[int, Any], None]] = {
            ord("P"): self._on_cancel_pending,
            ord("Q"): self._on_account_query_response,
            ord("B"): self._on_broken_trade,
            ord("S"): self._on_system_event,
            ord("R"): self._on_restated,
            ord("T"): self._on_priority_update,
        }
        """Outbound message types the adapter acts on that name no order to look up (decoded generically)."""
        self.counters: dict[str, int] = {
            "decode_errors": 0,
            "unknown_user_ref_num": 0,
            "resent": 0,
            "dropped_events": 0,
            "protocol_errors": 0,
            "unsupported_replace": 0,
            "bad_restore": 0,
            "not_received": 0,
            "in_doubt": 0,
            "broken_trades": 0,
            "unanswered_not_held": 0,
            "lost_by_venue": 0,
            "modified": 0,
            "executions_after_end": 0,
            "after_end": 0,
            "live_after_end": 0,
            "ref_never_issued": 0,
            "ref_above_journal": 0,
            "ref_below_journal": 0,
            "ref_answers_reused": 0,
            "held_for_lookup": 0,
            "refetches": 0,
            "refetch_given_up": 0,
            "accepted_mismatch": 0,
            "replaced_after_reject": 0,
            "replaced_journal_lost": 0,
            "replayed_after_renumbering": 0,
            "internal_errors": 0,
            "earlier_traffic": 0,
            "ref_other_host": 0,
            "answer_timeouts": 0,
            "outcome_unknown": 0,
            "cancels_unanswered": 0,
        }
        self.after_end_by_type: dict[str, int] = {}
        """Messages about an order that ended here (its UserRefNum no longer mapped, found in the journal) with
        nothing to apply, by OUCH type letter (``counters["after_end"]`` is their sum)."""
        self._late_cancels: dict[int, list[int]] = load_owed_cancels(
            config.state_dir, config.name, self._store.day, self._store.session
        )
        """UserRefNum -> [order id, shares the venue showed open (-1: not said)] of an order that ended here which
        the venue showed live: canceled at the venue at once, and again after each login until the venue answers
        (``_live_after_end``); kept on file across restarts (``_save_owed``, ``venues.ouch.owed``)."""
        self._doubts_on_file: dict[int, tuple[int, bytes]]
        replaces_on_file: dict[int, tuple[int, int]]
        self._unreadable_on_file: set[int]
        terms_on_file: dict[int, tuple[int, int]]
        on_file = read_doubt_file(config.state_dir, config.name, self._store.day, self._store.session)
        self._doubts_on_file, replaces_on_file, self._unreadable_on_file, terms_on_file = on_file[:4]
        self._foreign_refs.update(on_file.foreign)
        self._replace_only.update(on_file.replace_only)
        """UserRefNum -> (order id, Enter packet) of the orders answered in doubt before a restart (``_doubt_cancels``
        on file, ``venues.ouch.doubts``): ``restore`` makes them in doubt again (doubt53)."""
        self._replayed_enters: set[int] = set(on_file.replayed)
        """Order ids whose Enter was unanswered in the journal at a start (``journal_opened``; on file with the doubts,
        ``venues.ouch.doubts``): an Accepted of it came from a later login's replay, maybe another host's Enter under
        the same number (a failback), so its numbers are never this host's own (``_own_refs``; ouchpf61)."""
        self._replayed_known = False
        """``journal_opened`` ran (the orders are restored): ``_save_doubts`` drops the ids of orders no longer open."""
        self._replace_doubts: dict[int, tuple[int, int]] = {}
        """New UserRefNum of a Replace answered CancelRejected OUCH_IN_DOUBT -> (order id, the UserRefNum it replaced),
        while that number may be the order's live one (a candidate, or settled live): on file with the Enters in doubt
        (``_save_doubts``), so a restart knows the order by both numbers (fixouch54; before, by the old one alone, and
        a Cancel naming only it, ignored by the venue, was never answered: rev54ouch t11)."""
        self._replace_terms: dict[int, tuple[int, int]] = terms_on_file
        """New UserRefNum of a Replace of ``_replace_doubts`` -> (its total Quantity, its Price), read off the packet
        sent and on file with it: a message of the venue naming that number proves the Replace took effect, and the
        order takes these terms before the message is applied (``_settle``, ouchdoubt57). Taken out once applied."""
        self._replace_doubts_on_file: dict[int, list[tuple[int, int]]] = {}
        """Order id -> [(new UserRefNum, the one it replaced)] of the Replaces in doubt before a restart."""
        for urn, (order_id, orig) in replaces_on_file.items():
            self._replace_doubts_on_file.setdefault(order_id, []).append((urn, orig))
        self._doubts_saved = bool(
            self._doubts_on_file or replaces_on_file or on_file.foreign or on_file.replace_only or on_file.replayed
        )
        """The file names orders (else an empty ``_doubt_cancels`` needs no write)."""
        self._doubts_stale = False
        """An entry the file names left (its order ended, its doubt settled): the next sweep writes the file again
        (``_prune_doubts``: batched, not one write per order ending; fixouch54)."""
        self._orphans: dict[int, str] = {}
        """order_id -> the venue session of an order left open when the venue changed session (unreachable now)."""
        self._restored: dict[int, list[int]] = {}
        """order_id -> every UserRefNum given to ``restore`` (ascending)."""
        self.ignored: dict[str, int] = {}
        """Count of outbound messages that produce no event, by OUCH type letter."""
        self._rare_log = PowerOfTwoLog(log)

    # ---- core API --------------------------------------------------------------------------

    @property
    def state(self) -> VenueState:
        """Return the current session state."""
        return self._state

    @property
    def reason(self) -> str:
        """Return the human reason for the current state."""
        return self._reason

    def check_order(self, order: Order) -> Verdict:
        """Return why OUCH cannot take ``order`` now (back-pressure; limit DAY/IOC, qty < 1,000,000, ...)."""
        return self.check_new(order.order_id, order.symbol, order.qty, order.price, order.tif, order.ord_type)

    def check_new(
        self, order_id: int, symbol: str, qty: int, price: int, tif: TimeInForce, ord_type: OrderType
    ) -> Verdict:
        """Return ``check_order``'s answer for an order with these fields (the core's compiled path passes them).

        Compiled, the core calls this natively with the fields it holds, instead of ``check_order``
        reading each of them from the ``Order`` (a generic attribute lookup per field).
        """
        if self._backpressured:
            return BACKPRESSURED
        if self._day_ended:
            return _DAY_ENDED
        if self._refnums.error is not None and not self._store.retry(self._clock()):  # posts one write a second
            return self._refnum_store_refused("new orders")
        if ord_type != _LIMIT:
            return Refused("OUCH_ORD_TYPE", "OUCH orders must be LIMIT orders", _GATEWAY)
        if tif not in _TIF:
            return Refused("OUCH_TIF", f"time in force {tif.name} not supported (DAY or IOC)", _GATEWAY)
        if not 0 < qty <= MAX_QUANTITY:
            return Refused("OUCH_QTY", f"quantity {qty} outside 1..999,999 shares", _GATEWAY)
        if not 0 < price <= MAX_PRICE:
            return Refused("OUCH_PRICE", f"price {price_text(price)} outside {_PRICE_RANGE}", _GATEWAY)
        if symbol not in self._symbols and (  # symbols already sent passed this check before
            not 0 < len(symbol) <= 8 or not symbol.isascii() or not symbol.isprintable() or " " in symbol
        ):
            return Refused("OUCH_SYMBOL", f"symbol {symbol!r} must be 1-8 printable ASCII characters", _GATEWAY)
        if order_id < 0 or order_id >> 64:  # not 0 <= order_id < 2**64 (compiled: native, no compare with a big int)
            return Refused("OUCH_ORDER_ID", f"order id {order_id} cannot be a ClOrdID", _GATEWAY)
        return None

    def check_replace(self, order: Order, qty: int, price: int) -> Verdict:
        """Return why a Replace of ``order`` to ``qty`` at ``price`` cannot go out now.

        OUCH cancels the original when a Replace's details are invalid, so one outside OUCH's
        limits is never sent.
        """
        if self._backpressured:
            return BACKPRESSURED
        if self._refnums.error is not None and not self._store.retry(self._clock()):  # posts one write a second
            return self._refnum_store_refused("replaces")
        chain = self._chains.get(order.order_id)
        if chain is None:
            return self._unknown_order(order)
        if chain.candidates or chain.unconfirmed:  # chain.live_unknown(), inline
            return _REPLACE_WHILE_IN_DOUBT
        if not 0 < qty <= MAX_QUANTITY or not 0 < price <= MAX_PRICE:
            self.counters["unsupported_replace"] += 1
            return Refused(
                "OUCH_REPLACE",
                f"replace to {qty} @ {price_text(price)} is outside OUCH's limits (quantity 1..{MAX_QUANTITY}, "
                f"price {_PRICE_RANGE})",
                RejectSource.GATEWAY,  # what OUCH can carry, decided here: nothing reached the venue (§8.2)
            )
        return None

    def send_new(self, order: Order) -> SendResult:
        """Queue an Enter Order under a fresh UserRefNum."""
        return self.send_order(order, order.order_id, order.symbol, order.side, order.qty, order.price, order.tif)

    def send_order(
        self, order: Order, order_id: Any, symbol: str, side: Side, qty: Any, price: Any, tif: TimeInForce
    ) -> SendResult:
        """Do ``send_new`` for ``order``, whose fields are given (the core's compiled path passes them).

        Compiled, the core calls this natively with the fields it holds, instead of ``send_new``
        reading each of them from the ``Order`` (a generic attribute lookup per field). ``order_id``,
        ``qty`` and ``price`` are ints, typed ``Any`` so that compiled they stay the caller's int objects:
        the dict and the C writer take them as they are (a native int would be boxed anew for each, a new
        object for any value above 256).
        """
        if self._backpressured:
            return BACKPRESSURED
        refnums = self._refnums  # self._store.next(), inline while the reserved block lasts and no prefetch is due
        user_ref_num = refnums.next
        if user_ref_num > refnums.reserved or user_ref_num == refnums.prefetch_at:
            user_ref_num = self._store.next()
            if not user_ref_num:  # the next block could not be persisted: no number beyond the one on file
                self._store.write_failed_at(self._clock())
                return self._refnum_store_refused("new orders")
        else:
            refnums.next = user_ref_num + 1
        urn: Any = user_ref_num  # compiled: boxed once for the chain and the two dicts (each use would box anew)
        chain = _NewChain(order, urn, 0, qty)
        self._chains[order_id] = chain
        self._refs[urn] = chain
        try:  # self._symbol(symbol), inline (a subscript, no method call: a hit is the steady state)
            symbol_bytes: bytes | None = self._symbols[symbol]
        except KeyError:
            symbol_bytes = None
        buf = self._session.out
        try:  # free until raised: a fault here answers this order (``_not_sent``), never the connection
            if symbol_bytes is None:
                symbol_bytes = self._symbol(symbol)
            pack_id = _PACK_ENTER_ID
            if pack_id is not None:  # compiled: the C writer makes the ClOrdID from the id (0 to 2**64 - 1)
                start = pack_id(
                    buf,
                    urn,
                    _SIDE[side],
                    qty,
                    symbol_bytes,
                    price,
                    _TIF[tif],
                    self._display,
                    self._capacity,
                    self._sweep,
                    b"N",
                    order_id,
                    self._enter_short_appendage if side in _SHORT_SIDES else self._enter_appendage,
                )
                self._inflight[urn] = buf[start:]  # self._keep(user_ref_num, buf, start), inline
                if not self._live:
                    del buf[start:]
                return _Sent(str(user_ref_num))
            # _cl_ord_id(order_id), inline for ids of up to 14 digits
            if _COMPILED:  # native str and padding: a bytes formatting would be generic (about 1,250 instructions)
                text = str(order_id)
                cl_ord_id_bytes = (
                    text.encode("ascii") + _PADDING[len(text)] if len(text) <= 14 else _cl_ord_id(order_id)
                )
            else:  # interpreted: one formatting, no call (str.encode, bytes.ljust and len were three)
                cl_ord_id_bytes = b"%-14d" % order_id if 0 <= order_id < _FOURTEEN_DIGITS else _cl_ord_id(order_id)
            appendage = self._enter_short_appendage if side in _SHORT_SIDES else self._enter_appendage
            if appendage:  # options: the writer appends them (on an error it leaves ``buf`` as it was)
                start = _PACK_ENTER(
                    buf,
                    urn,
                    _SIDE[side],
                    qty,
                    symbol_bytes,
                    price,
                    _TIF[tif],
                    self._display,
                    self._capacity,
                    self._sweep,
                    b"N",
                    cl_ord_id_bytes,
                    appendage,
                )
            else:  # pack_enter_order's packet, inline: the same bytes and errors, one call fewer interpreted
                packet = _ENTER_PACK(
                    48,
                    b"U",
                    b"O",
                    urn,
                    _SIDE[side],
                    qty,
                    symbol_bytes,
                    price,
                    _TIF[tif],
                    self._display,
                    self._capacity,
                    self._sweep,
                    b"N",
                    cl_ord_id_bytes,
                    0,
                )
                start = len(buf)
                buf += packet
        except Exception as exc:  # any fault: this order is refused, the strategy's link stays
            return self._not_sent(chain, user_ref_num, "new order", exc)
        self._inflight[urn] = buf[start:]  # self._keep(user_ref_num, buf, start), inline
        if not self._live:
            del buf[start:]
        return _Sent(str(user_ref_num))

    def send_cancel(self, order: Order) -> Sent | Refused:
        """Queue a Cancel Order with quantity 0 (everything open) for the order's current UserRefNum."""
        chain = self._chains.get(order.order_id)
        if chain is None:
            return self._unknown_order(order)
        buf = self._session.out
        for user_ref_num in chain.cancel_targets():
            start = len(buf)
            pack_cancel_order(buf, user_ref_num, 0)
            if chain.done:  # superfluous but harmless: the venue ignores it; nothing to wait for
                if not self._live:
                    del buf[start:]
            else:
                self._keep(user_ref_num | _CANCEL_KEY, buf, start)
        return Sent(str(chain.working))

    def _unknown_order(self, order: Order) -> Refused:
        """Return the refusal of a Cancel or Replace of an order this adapter holds no record of."""
        session = self._orphans.get(order.order_id)
        if session is None:
            return _NEVER_SENT
        return Refused(
            "OUCH_SESSION_CHANGED",
            f"order belongs to venue session {session!r}, the venue is now on session {self._store.session!r}: it "
            "cannot be reached through this session; ask the venue desk",
        )

    def _refnum_store_refused(self, what: str) -> Refused:
        """Return the refusal while the UserRefNum store cannot persist a reservation or its numbers are used up."""
        if self._store.exhausted:  # only a new session or day numbers again
            return Refused("OUCH_REFNUM_EXHAUSTED", f"{what} stopped: {self._refnums.error}", RejectSource.GATEWAY)
        return Refused(  # the gateway refused: nothing reached the venue (strategy-protocol §6.1, §8.2)
            "OUCH_REFNUM_STORE", f"{what} stopped: {self._refnums.error}", RejectSource.GATEWAY
        )

    def _not_sent(self, chain: _Chain, user_ref_num: int, what: str, exc: Exception) -> Refused:
        """Undo the request ``user_ref_num`` of ``chain`` that failed to encode; return its refusal.

        An encoder leaves the send buffer as it was when it raises, so nothing of the request reaches the
        venue: the number is skipped (the venue takes any higher one), the fault logged at ERROR with its
        traceback and counted (``internal_errors``), and the strategy gets the one answer ``OUCH_INTERNAL_ERROR``.
        """
        self.counters["internal_errors"] += 1
        if self._refs.get(user_ref_num) is chain:
            del self._refs[user_ref_num]
        self._replace_refs.discard(user_ref_num)
        self._inflight.pop(user_ref_num, None)
        order_id = chain.order.order_id
        if chain.pending == user_ref_num:  # a replace: the order stays as it was
            chain.pending = 0
        elif self._chains.get(order_id) is chain:  # a new order: never sent
            del self._chains[order_id]
        text = encode_failed(log, self.name, what, order_id, f"UserRefNum {user_ref_num}", exc)
        return Refused("OUCH_INTERNAL_ERROR", text, RejectSource.GATEWAY)

    def withdraw_new(self, order: Order) -> bool:
        """Take back the Enter Order ``send_order`` just queued for ``order`` (the core could not journal it).

        The packet is the last one in the send buffer (nothing is queued between the send and the core's journal
        record) or, while not logged in, only kept for the re-send at login: either way it is dropped, with the
        order's chain and UserRefNum, as for an order whose encoding failed (``_not_sent``: the number is skipped,
        the venue takes any higher one). False, nothing changed, if the packet is not where it must be.
        """
        chain = self._chains.get(order.order_id)
        if chain is None or chain.order is not order or chain.pending:
            return False
        user_ref_num = chain.working
        packet = self._inflight.get(user_ref_num)
        if packet is None:
            return False
        buf = self._session.out
        if self._live:
            if not buf.endswith(packet):
                return False
            del buf[len(buf) - len(packet) :]
        del self._inflight[user_ref_num]
        if self._refs.get(user_ref_num) is chain:
            del self._refs[user_ref_num]
        del self._chains[order.order_id]
        log.error(
            "venue %s: new order %d (UserRefNum %d) taken back before it was sent: the gateway could not journal it",
            self.name,
            order.order_id,
            user_ref_num,
        )
        return True

    def withdraw_cancel(self, order: Order) -> bool:
        """Take back the Cancel Order(s) ``send_cancel`` just queued for ``order`` (the core could not journal it).

        The packets (one per UserRefNum the cancel names) are the last ones in the send buffer or, while not
        logged in, only kept for the re-send at login: either way they are dropped. False, nothing changed, if
        they are not where they must be.
        """
        chain = self._chains.get(order.order_id)
        if chain is None or chain.order is not order:
            return False
        targets = chain.cancel_targets()
        expected = bytearray()
        for user_ref_num in targets:
            pack_cancel_order(expected, user_ref_num, 0)
        if self._live:
            buf = self._session.out
            if not buf.endswith(expected):
                return False
            del buf[len(buf) - len(expected) :]
        if not chain.done:
            for user_ref_num in targets:
                self._inflight.pop(user_ref_num | _CANCEL_KEY, None)
        log.error(
            "venue %s: cancel of order %d taken back before it was sent: the gateway could not journal it",
            self.name,
            order.order_id,
        )
        return True

    def withdraw_replace(self, order: Order) -> bool:
        """Take back the Replace Order ``send_replace`` just queued for ``order`` (the core could not journal it).

        As ``withdraw_new``: the packet leaves the send buffer (or the re-send list), the order's chain is as it
        was before the replace, its new UserRefNum is skipped (the venue takes any higher one).
        """
        chain = self._chains.get(order.order_id)
        if chain is None or chain.order is not order or not chain.pending:
            return False
        user_ref_num = chain.pending
        packet = self._inflight.get(user_ref_num)
        if packet is None:
            return False
        if self._live:
            buf = self._session.out
            if not buf.endswith(packet):
                return False
            del buf[len(buf) - len(packet) :]
        del self._inflight[user_ref_num]
        if self._refs.get(user_ref_num) is chain:
            del self._refs[user_ref_num]
        self._replace_refs.discard(user_ref_num)
        chain.pending = 0
        log.error(
            "venue %s: replace of order %d (UserRefNum %d) taken back before it was sent: the gateway could not "
            "journal it",
            self.name,
            order.order_id,
            user_ref_num,
        )
        return True

    def send_replace(self, order: Order, qty: int, price: int) -> SendResult:
        """Queue a Replace Order to total ``qty`` (whole chain) at ``price`` under a new UserRefNum."""
        refused = self.check_replace(order, qty, price)
        if refused is not None:
            return refused
        chain = self._chains[order.order_id]
        user_ref_num = self._store.next()
        if not user_ref_num:  # the next block could not be persisted: no number beyond the one on file
            self._store.write_failed_at(self._clock())
            return self._refnum_store_refused("replaces")
        self._refs[user_ref_num] = chain
        self._replace_refs.add(user_ref_num)
        chain.pending = user_ref_num
        buf = self._session.out
        start = len(buf)
        try:  # a fault here answers this replace (``_not_sent``), never the connection
            self._pack_replace(buf, chain, user_ref_num, qty, price)
        except Exception as exc:  # any fault: this replace is refused, the link stays
            del buf[start:]
            return self._not_sent(chain, user_ref_num, "replace", exc)
        self._keep(user_ref_num, buf, start)
        return Sent(str(user_ref_num))

    def forget(self, order: Order) -> None:
        """Drop the order's chain and the UserRefNums it is known by now (terminal, released by the engine).

        Numbers a Replace retired (earlier working numbers) stay mapped: a replaced order leaves
        one small entry per Replace behind (see docs/performance.md, memory).
        """
        chain = self._chains.pop(order.order_id, None)
        self._restored.pop(order.order_id, None)
        if self._orphans:
            self._orphans.pop(order.order_id, None)
            if self._cancels_unreachable:  # its Cancel unanswered when the venue left the session (only an orphan's)
                self._cancels_unreachable.pop(order.order_id, None)
        if chain is None:
            return
        refs = self._refs
        for number in (chain.working, chain.pending, *chain.candidates):
            if number and refs.get(number) is chain:
                del refs[number]
                self._replace_refs.discard(number)

    def restore(self, order: Order, venue_ref: str) -> None:
        """Re-learn that UserRefNum ``venue_ref`` names ``order`` (call for each ref, in issue order).

        The lowest number of an order is its Enter, higher ones are Replaces. While the
        order is PENDING_REPLACE the highest number is the Replace in flight. When several
        numbers may be the live one (a Replace may have been refused), cancels name all of
        them until a Replaced message settles it. The request the order was waiting on
        (Enter, Replace or Cancel) is queued again; the venue ignores it if it had it. A
        PENDING_NEW_CANCEL order has its Enter held as well as its Cancel: the replay answers the
        Enter, or the order is reported not received (``_resolve_unanswered``), never re-sent.
        """
        try:
            user_ref_num = int(venue_ref)
        except ValueError:
            self.counters["bad_restore"] += 1
            self._rare(
                "restore",
                "restore of order %d with non-numeric venue ref %r ignored",
                order.order_id,
                venue_ref,
            )
            return
        self._store.ensure_above(user_ref_num)
        if user_ref_num in self._foreign_refs:  # a retired Replace's number (on file): not the order's
            return
        chain = self._chains.get(order.order_id)
        if chain is None:
            chain = _Chain(order, user_ref_num, 0, order.leaves_qty)
            self._chains[order.order_id] = chain
            self._restored[order.order_id] = []
        chain.order = order
        chain.open_qty = order.leaves_qty
        chain.last_cancel_ns = max(chain.last_cancel_ns, order.venue_cancel_ts)  # from the journal (renumbered copy)
        known = self._restored.setdefault(order.order_id, [])
        if user_ref_num not in known:
            known.append(user_ref_num)
            known.sort()
        for number in known:
            self._refs[number] = chain
            if number != known[0]:
                self._replace_refs.add(number)
            else:
                self._replace_refs.discard(number)
        if order.state in _REPLACING and len(known) > 1:
            live = known[:-1]
            chain.pending = known[-1]
        else:
            live = known
            chain.pending = 0
        chain.working = live[-1]
        chain.candidates = tuple(live) if len(live) > 1 else ()
        chain.done = order.is_terminal
        if self._replace_doubts_on_file and not chain.done:
            self._restore_replace_doubts(chain)
        self._requeue(chain)
        if known[0] in self._doubts_on_file:
            self._restore_doubt(chain, known)

    def _restore_replace_doubts(self, chain: _Chain) -> None:
        """Make the Replaces of a restored order answered in doubt before the restart candidates again (fixouch54).

        The journal holds the order under the number its core knows (the Replace was answered CancelRejected
        OUCH_IN_DOUBT, so its old one); the file (``venues.ouch.doubts``) adds each Replace in doubt that replaced
        one of the order's numbers: a Cancel names them all until a message of the venue names the live one, and
        Replaces are refused OUCH_IN_DOUBT meanwhile, as before the restart. An entry whose original number is not
        one of the order's (the order was replaced since: the journal knows its newer number) is stale: ignored.
        """
        order = chain.order
        entries = self._replace_doubts_on_file.get(order.order_id)
        if not entries:
            return
        live = list(chain.cancel_targets())
        added: list[tuple[int, int]] = []
        for urn, orig in sorted(entries):
            if orig in live and urn not in live and urn != chain.pending:
                live.append(urn)
                added.append((urn, orig))
        if not added:
            return
        live.sort()
        for urn, orig in added:
            self._refs[urn] = chain
            self._replace_refs.add(urn)
            self._replace_doubts[urn] = (order.order_id, orig)
        chain.candidates = tuple(live)
        chain.working = live[-1]
        chain.in_doubt = True

    def _restore_doubt(self, chain: _Chain, known: list[int]) -> None:
        """Make a restored order answered in doubt before the restart in doubt again (its Enter is ``known[0]``).

        The journal holds it as accepted; the file (``venues.ouch.doubts``) says the venue never named it. Its
        Cancel goes out after the first login (``_go_live``) and the bound applies from there (``_sweep_doubts``),
        as in the process that answered it (doubt53; before, the order was taken as acknowledged: no Cancel, a
        strategy's Cancel of it ignored by a venue that never had it and never answered). An order the venue named
        meanwhile (its venue order id from a late Accepted, a fill, a Replace) only has its Cancel sent again. One
        whose answer did not reach the journal (PENDING_NEW) gets the re-login rules.
        """
        urn = known[0]
        order_id, enter = self._doubts_on_file[urn]
        order = chain.order
        if order_id != order.order_id:
            return
        if chain.done or order.state is OrderState.PENDING_NEW or order.state in _CANCEL_WANTED_BEFORE_ACK:
            self._doubt_cancels.pop(urn, None)
            chain.unconfirmed = 0
            return
        self._doubt_cancels[urn] = 0  # timed from the first login (``_cancel_doubts_again``)
        if urn in self._unreadable_on_file:  # its answer could not be read: the same text as before the restart
            self._unreadable_doubts.add(urn)
            self._unreadable_restored.add(urn)
        if len(known) > 1 or order.venue_order_id or order.cum_qty or order.leaves_qty != order.qty:
            chain.unconfirmed = 0
            self._doubted.pop(urn, None)
            return
        chain.unconfirmed = urn
        if enter:  # the venue's late Accepted is compared with it (``_on_accepted``)
            self._doubted[urn] = bytearray(enter)

    def _save_doubts(self) -> None:
        """Write the orders answered in doubt still open to their file (fsynced); on an error log it.

        Called before their answers reach the core (so before they are journaled): a crash after that finds them.
        """
        refs = self._refs
        doubted = self._doubted
        inflight = self._inflight
        entries: dict[int, tuple[int, bytes]] = {}
        for urn in self._doubt_cancels:
            chain = refs.get(urn)
            if chain is None or chain.done:
                continue
            enter = doubted.get(urn) or inflight.get(urn) or b""
            entries[urn] = (chain.order.order_id, bytes(enter))
        replaces = self._replace_doubts
        terms = self._replace_terms
        if replaces:
            for urn in [urn for urn in replaces if not self._replace_doubt_open(urn)]:
                del replaces[urn]
        if terms:
            for urn in [urn for urn in terms if urn not in replaces]:
                del terms[urn]
        self._doubts_stale = False
        self._doubts_due = False  # every entry is in this write
        foreign = self._foreign_refs
        replace_only = self._replace_only
        replayed = self._replayed_enters
        if replayed and self._replayed_known:  # kept while the order is open here (once the orders are restored)
            chains = self._chains
            still: set[int] = set()
            for order_id in replayed:
                chain = chains.get(order_id)
                if chain is not None and not chain.done:
                    still.add(order_id)
            self._replayed_enters = replayed = still
        if not (entries or replaces or foreign or replace_only or replayed or self._doubts_saved):
            return
        store = self._store
        unreadable = [urn for urn in self._unreadable_doubts if urn in entries]
        try:
            save_doubts(
                self.config.state_dir,
                self.name,
                store.day,
                store.session,
                entries,
                replaces,
                unreadable=unreadable,
                replace_terms=terms,
                foreign=foreign,
                replace_only=replace_only,
                replayed=replayed,
            )
        except OSError as exc:
            not_ours = sorted(foreign | replace_only)
            log.error(
                "venue %s: cannot write the orders answered in doubt (%d) to %s: %s; their Cancel goes out, but "
                "after a restart they would be taken as acknowledged (no Cancel, never ended OUCH_OUTCOME_UNKNOWN): "
                "check the account's open orders with the venue desk%s%s",
                self.name,
                len(entries),
                self.config.state_dir,
                exc,
                (
                    f"; nor the Replace UserRefNums {not_ours} that are not this gateway's orders' (retired, or "
                    "unanswered when their order ended): after a restart another host's order under one of them "
                    "would be taken for ours (canceled at the venue, its fills applied to ours): fix the state "
                    "directory before any restart"
                    if not_ours
                    else ""
                ),
                (
                    f"; nor that orders {sorted(replayed)} had their Enter unanswered at a stop: after an unclean "
                    "restart another host's Replace of its order under one's number could be taken for a replace of "
                    "ours the journal lost (ouchpf61): fix the state directory before any restart"
                    if replayed
                    else ""
                ),
            )
            return
        self._doubts_saved = bool(entries or replaces or foreign or replace_only or replayed)

    def _doubts_write_due(self) -> None:
        """Write the doubts file at the end of this read (``SoupClientSession.after_read``) or ``poll`` (ouch56).

        For answers that could not be read: several in one read (a burst of broken messages, a replay) cost one
        fsynced write, not one each. The read's events reach the core now but are journaled, and their bytes reach
        strategies, only at the core's flush after the read, so the file is still on disk before any of that
        (docs/reliability.md 2.3e). Also when the read raises (the write runs as the read unwinds).
        """
        if not self._doubts_due:
            self._doubts_due = True
            self._session.after_read = self._write_due_doubts

    def _write_due_doubts(self) -> None:
        """Write the doubts file if an answer put in doubt during the read or ``poll`` is not on file yet."""
        if self._doubts_due:
            self._save_doubts()

    def _replace_doubt_open(self, urn: int) -> bool:
        """Whether Replace ``urn`` of ``_replace_doubts`` may still be its order's live number, the order open here.

        True while it is a candidate, the live number (a fill or a Canceled named it: the journal does not know the
        order by it), or still waiting; False once the order ended or another number is live (its Rejected, a
        message naming the old number, a later Replace: the journal knows that one).
        """
        chain = self._refs.get(urn)
        if chain is None or chain.done or chain.order.order_id != self._replace_doubts[urn][0]:
            return False
        return urn in (chain.working, chain.pending) or urn in chain.candidates

    def _note_replace_doubt(self, chain: _Chain, urn: int, packet: bytes | bytearray | None) -> None:
        """Put Replace ``urn`` of ``chain`` (replacing ``chain.working``) on file before its OUCH_IN_DOUBT answer.

        Written (fsynced) before the answer reaches the core, so before it is journaled: a restart finds it
        (``_restore_replace_doubts``). Already noted (a sweep writes all of its Replaces at once): no write.
        ``packet``: the Replace sent (its terms are kept with it: ``_keep_replace_doubt``).
        """
        if urn in self._replace_doubts:
            return
        self._keep_replace_doubt(chain, urn, packet)
        self._save_doubts()

    def _keep_replace_doubt(self, chain: _Chain, urn: int, packet: bytes | bytearray | None) -> None:
        """Keep Replace ``urn`` of ``chain`` (replacing ``chain.working``) and its terms as in doubt (not written).

        The terms (total Quantity, Price) are read off ``packet``, the Replace sent; without it from the core's replace
        in flight when that is this one (else unknown: a message naming ``urn`` then settles the doubt only).
        """
        order = chain.order
        self._replace_doubts[urn] = (order.order_id, chain.working)
        if not self._answers_lost:  # its answer, if any, cannot be in a message already lost
            self._unlost_replace_doubts.add(urn)
        if packet:
            self._replace_terms[urn] = replace_packet_terms(packet)
        elif order.pending_qty > 0 and order.pending_ref == str(urn):
            self._replace_terms[urn] = (order.pending_qty, order.pending_price)

    def _pre_note_replace_doubt(self, chain: _Chain, urn: int) -> int:
        """Note Replace ``urn`` of ``chain`` (if one is waiting) as about to be answered OUCH_IN_DOUBT; 1 if noted.

        For a caller that puts many requests in doubt at once and writes the file once before their answers
        (``_resolve_unanswered``, ``_sweep_answers``): ``_note_replace_doubt`` then finds it noted and writes nothing
        (ouch55: one write per batch, not one per Replace).
        """
        packet = self._inflight.get(urn) if urn else None
        if packet is None or urn in self._replace_doubts:
            return 0
        self._keep_replace_doubt(chain, urn, packet)
        return 1

    def _prune_doubts(self) -> None:
        """Write the doubts file again without the entries of orders that ended or whose doubt settled (fixouch54).

        Once per sweep, only when the file names something and an entry left (``_doubts_stale``, or a Replace in
        doubt no longer open): not one write per order ending. Before, the file kept them until the next order was
        answered in doubt (a later restart ignored them: their orders were not open).
        """
        replaces = self._replace_doubts
        if not self._doubts_stale and replaces:
            self._doubts_stale = any(not self._replace_doubt_open(urn) for urn in replaces)
        if self._doubts_stale:
            self._save_doubts()

    def resume_after(self, point: ResumePoint) -> None:
        """Log back into today's session (from the UserRefNum store) asking for the first message not journaled.

        That is ``point.high_water + 1`` when the journal's numbering is this session (or not
        recorded), 1 when the journal last saw another session (none of this one is journaled).
        Nothing journaled and no numbering recorded: the login is not named (the venue's current
        session), as on a first start. The session's earlier traffic (another host's, which a standby host with no
        record of the day counted ``earlier_traffic`` and did not journal) is not asked for again: the store names its
        last sequence number, and the login asks for the one after it if the journal holds nothing later
        (``UserRefNumStore.earlier``, logged at WARNING; fixstandby52).
        """
        if not self._store.is_current_day():
            return
        session = self._store.session
        journaled = point.epoch.partition("#")[0]  # "<session>#<n>": renumbered by the venue n times
        if not session:
            if journaled:
                self._store_lost(journaled, point)
            return
        if journaled not in ("", session):
            self.resume(session, 1)
        elif point.epoch or point.high_water:
            earlier = self._store.earlier
            if earlier > point.high_water and point.epoch in ("", session):  # not renumbered since the mark
                log.warning(
                    "venue %s: session %r carried earlier traffic through sequence %d before this gateway's first "
                    "login today (another host's, counted earlier_traffic then; the UserRefNum store %s has it, the "
                    "journal has nothing of it): logging in from sequence %d, UserRefNums above %d",
                    self.name,
                    session,
                    earlier,
                    self._store.path,
                    earlier + 1,
                    self._store.last_issued,
                )
                point = ResumePoint(session, earlier)
            self.sequence.adopt(ResumePoint(point.epoch or session, point.high_water))  # unnamed: this one
            self.resume(session, point.next_seq)

    def _store_lost(self, session: str, point: ResumePoint) -> None:
        """Resume from the journal when the UserRefNum store has no session for today (its state_dir was lost).

        The journal names the session and the last message applied: the login asks for that session from
        ``point.next_seq`` (not the venue's current one from 1), and the venue's NextUserRefNum (Account Query,
        after the replay) floors the store before anything is sent, so no UserRefNum it has seen goes out
        again (a venue ignores a number not above its last). Logged at WARNING.
        """
        log.warning(
            "venue %s: the UserRefNum store %s has no session for today but the journal has session %r up to "
            "sequence %d: logging in to it from sequence %d, and asking the venue's NextUserRefNum (Account "
            "Query) before sending anything",
            self.name,
            self._store.path,
            session,
            point.high_water,
            point.next_seq,
        )
        self.sequence.adopt(point)
        self.resume(session, point.next_seq)
        self._query_refnums = True
        self._query_why = "the UserRefNum store was lost"

    def resume(self, session: str, next_seq: int) -> None:
        """Before connecting: log into ``session`` asking for ``next_seq`` (last journaled venue_seq + 1)."""
        self._session.resume(session, next_seq)
        if session:
            self._store.bind(session)

    def logout(self) -> None:
        """Log out; the session will not reconnect.

        While the engine holds this venue's bytes (the journal failing) only the Logout Request leaves: the held
        requests, whose journal records are not written, are dropped (fixhold55; before, this flush wrote them).
        """
        if self._output_held:
            self._session.out = bytearray()
        self._session.logout(self._clock())
        self.flush()

    def shutdown(self) -> bool:
        """Send the SoupBinTCP Logout Request (gateway stopping); True if connected (the venue then closes)."""
        connected = self._session.state in (SoupClientState.LOGGED_IN, SoupClientState.LOGGING_IN)
        self.logout()
        return connected

    def close(self) -> None:
        """Wait (at most a second) for the end-of-day mark's write: a restart right after ``E`` still finds it."""
        if not self._store.wait_end_of_day_written(_EOD_WRITE_WAIT_S):
            log.error("venue %s: the end-of-day mark was not written within %g s", self.name, _EOD_WRITE_WAIT_S)

    @property
    def user_ref_num_store_stalls(self) -> int:
        """Return how often the UserRefNum store's background write kept orders waiting past its limit."""
        return self._store.stalls

    def session_counters(self) -> dict[str, int]:
        """Return the SoupBinTCP session's counters ``gateway metrics`` exports per venue (``SESSION_COUNTERS``)."""
        session = self._session
        counters = self.counters
        return {
            "sequence_gaps": session.gaps,
            "refetch_given_up": counters["refetch_given_up"],
            "protocol_errors": counters["protocol_errors"],
            "decode_errors": counters["decode_errors"],
            "unsequenced_ignored": session.unsequenced_ignored,
            "debug_packets": session.debug_packets,
            "user_ref_num_store_failures": self._store.write_failures,
            "answer_timeouts": counters["answer_timeouts"],
            "outcome_unknown": counters["outcome_unknown"],
            "cancels_unanswered": counters["cancels_unanswered"],
            "cancels_unanswered_now": self._cancels_unanswered_now(),
            "earlier_traffic": counters["earlier_traffic"],
        }

    def _cancels_unanswered_now(self) -> int:
        """Return the Cancels logged unanswered that have no answer now (the gauge ``cancels_unanswered_now``)."""
        return len(self._cancels_reported) + sum(self._cancels_unreachable.values())

    def status(self) -> dict[str, object]:
        """Return a JSON-able description for ``gateway status``."""
        session = self._session
        return {
            "name": self.name,
            "state": str(self._state),
            "reason": self._reason,
            "session": session.session,
            "next_sequence": session.next_sequence,
            "last_user_ref_num": self._store.last_issued,
            "user_ref_num_store_error": self._store.error,
            "user_ref_num_store_stalls": self._store.stalls,
            "user_ref_num_store_failures": self._store.write_failures,
            "logins": session.logins,
            "login_rejects": session.login_rejects,
            "login_refusals": session.login_refusals,
            "last_login_refusal": session.last_login_refusal,
            **({"login_refused_fix": self._refusal_fix()} if self._state is VenueState.LOGIN_REFUSED else {}),
            "duplicates_dropped": self.sequence.duplicates,
            "sequence_gaps": session.gaps,
            "numbering_restarts": session.numbering_restarts,
            "heartbeats_sent": session.heartbeats_sent,
            "unsequenced_ignored": session.unsequenced_ignored,
            "debug_packets": session.debug_packets,
            "awaiting_answer": len(self._inflight),
            "day_ended": self._day_ended,
            **self.counters,
            "after_end_by_type": dict(self.after_end_by_type),
            "late_cancels_waiting": len(self._late_cancels),
            "cancels_unanswered_now": self._cancels_unanswered_now(),
            "held_now": len(self._held),
            "ignored_by_type": dict(self.ignored),
        }

    # ---- transport hooks --------------------------------------------------------------------

    def connection_made(self, now_ns: int) -> None:
        """Send the Login Request on a fresh connection."""
        self._close_pending = False
        self._session.connection_made(now_ns)
        if self._session.state is SoupClientState.LOGGING_IN:
            self._set_state(VenueState.LOGGING_IN, self._session.reason)
        self.flush()

    def data_received(self, data: bytes, now_ns: int) -> None:
        """Consume bytes from the venue; events go to ``event_sink``.

        Each adapter binds its session's ``data_received`` in its place (``__init__``): the read goes
        straight to the SoupBinTCP session.
        """
        self._session.data_received(data, now_ns)

    def connection_lost(self, now_ns: int) -> None:
        """Note the connection is gone; unanswered requests wait to be re-sent after the next login."""
        session = self._session
        session.connection_lost(now_ns)
        self._live = self._replaying = False
        self._query_sent_ns = 0
        if session.state is SoupClientState.ENDED:
            self._set_state(VenueState.ENDED, "end of session")
        elif session.state is SoupClientState.LOGIN_REFUSED:
            if self._state is not VenueState.LOGIN_REFUSED:
                log.error(
                    "venue %s: LOGIN REFUSED %d times in a row (%s): not reconnecting. To fix: %s",
                    self.name,
                    session.login_refusals,
                    session.last_login_refusal,
                    self._refusal_fix(),
                )
            self._set_state(VenueState.LOGIN_REFUSED, session.reason)
        elif session.state is SoupClientState.LOGGED_OUT:
            self._set_state(VenueState.DISCONNECTED, "logged out")
        else:
            self._set_state(VenueState.DISCONNECTED, session.reason)

    def poll(self, now_ns: int) -> int:
        """Run heartbeat and timeout timers; return ns until the next call is wanted.

        A venue that never answers the Account Query (or never goes quiet after the login) does
        not keep the session down: after ``server_timeout_ms`` the adapter acts without it. While the
        UserRefNum store cannot write, its background retry is posted from here too (at most once a second).
        """
        # bytes not written since the last flush, or the engine's hold (``hold_output``: the journal failing)
        held_output = self._output_held or bool(self._session.out)
        wait = self._session.poll(now_ns)
        if self._mark_unwritten and self._store.owed_on_file:  # the store's retry wrote it: the episode ends
            self._owed_mark_on_file()
        if self._held:  # first: the Account Query's answer may be waiting behind them (then it is no timeout)
            self._read_held()
        timeout = self._session.config.server_timeout_ns
        if self._replaying and now_ns - self._login_ns >= timeout:
            log.warning(
                "venue %s: no Server Heartbeat within %d ms of the login (the venue sent no second of silence: a busy "
                "session?): the replay is taken as read",
                self.name,
                timeout // MS,
            )
            self.on_caught_up()
        elif self._query_sent_ns and not self._held and not held_output and now_ns - self._query_sent_ns >= timeout:
            # not while messages wait for the search budget: the venue answered, this side has not read it yet
            log.warning("venue %s: Account Query unanswered after %d ms", self.name, timeout // MS)
            margin = self._end_no_record(asked=True)  # first: the number below is the floored one
            if self._query_refnums:
                self._query_refnums = False
                if not margin:  # (else the margin's ERROR said what the new numbers are)
                    log.error(
                        "venue %s: %s and the venue did not say its NextUserRefNum: new UserRefNums start at %d and "
                        "may be ones the venue has seen (it ignores those); set the store from the venue desk's number "
                        "(docs/venues/ouch.md)",
                        self.name,
                        self._query_why,
                        self._store.last_issued + 1,
                    )
            self._store.floor(settled=True)  # the owed NextUserRefNum no longer asked at the next login
            if self._mark_unwritten and self._store.owed_on_file:
                self._owed_mark_on_file()
            self._query_sent_ns = 0
            self._resolve_unanswered(None)
        if self._replaying:
            wait = min(wait, max(self._login_ns + timeout - now_ns, 1))
        elif self._query_sent_ns and not held_output:  # held: judged after the hold, not polled for meanwhile
            wait = min(wait, max(self._query_sent_ns + timeout - now_ns, 1))
        if self._refnums.error is not None and not self._store.retry(now_ns):  # recover with no order arriving
            wait = min(wait, RETRY_INTERVAL_NS)
        if self._held:  # the budget is spent: again when its next window begins
            start = self._lookup_window_ns or now_ns
            wait = min(wait, max(start + REF_LOOKUP_WINDOW_NS - now_ns, 1))
        if self._answer_timeout_ns and self._live:
            if held_output:  # not sent yet (journal failing, venue back-pressure): nothing of them can be timed
                self._sweep_paused = True
            elif self._sweep_paused:
                self._resume_sweep(now_ns)
            if now_ns >= self._next_sweep_ns and not self._sweep_paused:
                self._sweep_answers(now_ns)
            if self._sweep_paused:  # not 1 ns: the overdue sweep waits for the hold's end, no busy polling (held54)
                wait = min(wait, self._sweep_every_ns)
            elif self._inflight or self._doubt_cancels:
                wait = min(wait, max(self._next_sweep_ns - now_ns, 1))
        if self._doubts_due:  # answers of held messages read above put in doubt: on file before the core's flush
            self._save_doubts()
        if self._ids_due:  # order ids raised above ClOrdIDs of unknown UserRefNums: logged and on file, once
            self._ids_due = False
            if self._ids_raised > self._store.order_ids:  # (else only another host's id to put on file)
                self._earlier_ids.add(self._ids_raised)
            self._raise_order_ids()
        return wait

    def hold_output(self, held: bool) -> None:
        """The engine starts or stops holding this venue's bytes (held54, ``VenueAdapter.hold_output``).

        The sweep waits while held, paused here at once when live, and resumes here at the release (``_resume_sweep``:
        also after a login during the hold, which keeps it paused; before ouch55 only ``poll`` resumed it, and a
        login during the hold unpaused it); so does the Account Query's timeout: a query
        sent during the hold (a login meanwhile) is timed from the release, when it leaves, not taken as unanswered
        (which would put every unanswered Enter in doubt for want of the venue's NextUserRefNum).
        """
        now = self._clock()
        if held:
            self._held_since_ns = now
            if self._live:  # at once, not at the next ``poll``: nothing leaves from now on (ouch55)
                self._sweep_paused = True
            if self._close_pending:  # wanted before the flush that failed: that flush closed nothing (fixhold55)
                self._output_held = held
                self._close_held()
        else:
            if self._query_sent_ns and self._query_sent_ns >= self._held_since_ns:
                self._query_sent_ns = now or 1
            if self._sweep_paused and self._live:  # what was held leaves at the flush right after this (Engine.flush)
                self._resume_sweep(now, self._held_since_ns or 1)
        self._output_held = held

    def _resume_sweep(self, now_ns: int, since: int = 0) -> None:
        """Time the answers again after a spell in which this venue's bytes were held (rev53ops HIGH 1).

        While the engine holds every venue byte (the journal cannot be written, the venue's socket pushes back),
        an Enter or a Cancel queued meanwhile has not left: the sweep (``_sweep_answers``) would take an Enter that
        was never sent as unanswered, and ``_sweep_doubts`` end an order whose Cancel was never sent. The sweep
        waits while bytes are held; after the spell the Cancels of in-doubt orders are timed from now (they left
        now at the latest) and the Enters issued meanwhile from the next sweep's mark. ``since``: when the engine's
        hold began (from ``hold_output(False)``): a login's mark taken since then is moved to now (ouch55).
        """
        self._sweep_paused = False
        self._cancels_seen_ns = 0  # the Cancels held meanwhile leave now: timed from the next look
        doubts = self._doubt_cancels
        for urn in doubts:
            doubts[urn] = now_ns
        marks = self._issued_marks
        if since and marks and marks[-1][0] >= since:
            # a mark taken during the engine's hold (a login's, ``_go_live``: no sweep runs while paused) names
            # requests sent again then, held: they left now at the latest (ouch55); earlier marks stand (theirs left)
            while marks and marks[-1][0] >= since:
                marks.pop()
            marks.append((now_ns, self._store.last_issued))
        self._next_sweep_ns = min(self._next_sweep_ns, now_ns + self._sweep_every_ns)

    def _sweep_answers(self, now_ns: int) -> None:
        """Take an Enter or Replace unanswered for ``answer_timeout_ms`` while the session stayed up as in doubt.

        OUCH answers every Enter it processes (Accepted or Rejected); a venue that dropped one silently would leave
        the order PENDING_NEW for ever, and one merely slow may have it live. So, as for an answer lost in a replay
        gap (``_in_doubt``): the strategy gets OrderAccepted at the order's own size and price (fills reach it), and a
        Cancel by its UserRefNum goes out at once, so the venue's Canceled (or its fills, or its late Accepted) says
        what became of it; a venue that never had it ignores the Cancel ("superfluous cancels are silently
        ignored"): a second ``answer_timeout_ms`` later the order ends, outcome unknown (``_sweep_doubts``). A
        Replace (Replaced or Rejected) unanswered as long gets CancelRejected "OUCH_IN_DOUBT" (fixouch52): the order
        may be at the old or the new terms, a Cancel names both numbers. One ERROR per sweep, counted
        ``answer_timeouts``. Run on the session timer (``poll``), at most every ``_sweep_every_ns``: the time a
        request was sent is read off ``_issued_marks``, not kept per order.
        """
        self._next_sweep_ns = now_ns + self._sweep_every_ns
        if self._doubt_cancels:
            self._sweep_doubts(now_ns)
        if self._doubts_saved:
            self._prune_doubts()
        marks = self._issued_marks
        issued = self._store.last_issued
        inflight = self._inflight
        if self._cancels_reported:  # (none, nearly always) each Cancel logged unanswered: answered since?
            self._cancels_answered(now_ns)
        if now_ns - self._cancels_seen_ns >= self._answer_timeout_ns:
            self._sweep_cancels(now_ns)
        if not inflight:  # nothing waits: what is sent from now on is numbered above ``issued``
            marks.clear()
            marks.append((now_ns, issued))
            return
        if not marks or marks[-1][1] != issued:
            marks.append((now_ns, issued))
        deadline = now_ns - self._answer_timeout_ns
        upto = 0
        while marks and marks[0][0] <= deadline:
            upto = marks.popleft()[1]
        if upto:
            marks.appendleft((deadline, upto))  # still true: sent by then
        if upto <= self._swept_upto:
            return
        low, self._swept_upto = self._swept_upto, upto
        overdue = sorted(key for key in inflight if low < key <= upto)
        if not overdue:
            return
        ms = self._answer_timeout_ns // MS
        why = f"no Accepted or Rejected within {ms} ms (answer_timeout_ms) while the session stayed up"
        replace_why = f"no Replaced or Rejected within {ms} ms (answer_timeout_ms) while the session stayed up"
        replaces = self._replace_refs
        out = self._session.out
        orders = []
        replaced = []
        enters: list[tuple[int, _Chain]] = []
        doubted: list[tuple[int, _Chain]] = []
        for urn in overdue:
            chain = self._refs.get(urn)
            if chain is None or chain.done or urn not in inflight:
                continue
            if urn in replaces:
                replaced.append(chain.order.order_id)
                doubted.append((urn, chain))
                self._keep_replace_doubt(chain, urn, inflight[urn])
                continue
            enters.append((urn, chain))
            self._doubt_cancels[urn] = now_ns
            self._pre_note_replace_doubt(chain, chain.pending)  # a Replace waiting on it: in the same write (ouch55)
        if enters or doubted:  # on file before their answers are journaled: a restart keeps them in doubt (doubt53)
            self._save_doubts()
        for urn, chain in doubted:
            self._in_doubt(0, chain, urn, replace_why, logged=False)
        for urn, chain in enters:
            orders.append(chain.order.order_id)
            self._in_doubt(0, chain, urn, why, logged=False)
            if (urn | _CANCEL_KEY) not in inflight:  # the desk's own Cancel, if asked, is on its way already
                pack_cancel_order(out, urn, 0)
        if not orders and not replaced:
            return
        self.counters["answer_timeouts"] += len(orders) + len(replaced)
        if orders:
            log.error(
                "venue %s: %d new orders had no answer (Accepted or Rejected) within %d ms while the session stayed "
                "up (answer_timeout_ms): taken as accepted at their own size and price (in doubt: they may be live "
                "at the venue) and canceled there by their UserRefNums %s, so the venue's Canceled or fills settle "
                "them; one the venue still says nothing about %d ms after its Cancel was most likely never received "
                "and ends here (OUCH_OUTCOME_UNKNOWN). Orders: %s",
                self.name,
                len(orders),
                ms,
                [urn for urn in overdue if urn not in replaces][:20],
                ms,
                orders[:20],
            )
        if replaced:
            log.error(
                "venue %s: %d replaces had no answer (Replaced or Rejected) within %d ms while the session stayed up "
                "(answer_timeout_ms): answered CancelRejected OUCH_IN_DOUBT (each order may be at its old or its new "
                "terms at the venue; a cancel names both numbers). Orders: %s",
                self.name,
                len(replaced),
                ms,
                replaced[:20],
            )

    def _sweep_cancels(self, now_ns: int) -> None:
        """Log (ERROR, once each) the Cancels waiting, the same packet, since the last look ``answer_timeout_ms`` ago.

        OUCH 5.0 answers a Cancel of an order it works (Canceled, or fills of the rest) and silently ignores one naming
        a UserRefNum it does not work: a Cancel unanswered that long while the session stayed up most likely named a
        number the order is no longer known by at the venue (a Replace this gateway has no record of), or the venue
        lost it. Nothing is made up (the order may be working): the Cancel keeps waiting, the order stays open
        (``PENDING_CANCEL``), the kill switch's Cancel included; the ERROR names the orders and UserRefNums for the
        venue desk, counted ``cancels_unanswered`` (``gateway_venue_cancels_unanswered_total``; rev60chaos HIGH 1:
        before, no word at all). A Cancel of an order answered in doubt is left to ``_sweep_doubts``. Cost: one walk
        of the requests waiting per ``answer_timeout_ms``, nothing per order. The venue's later answer gets its
        all-clear (``_cancels_answered``); until then the Cancel counts in ``cancels_unanswered_now``.
        """
        seen = self._cancels_seen
        reported = self._cancels_reported
        waiting: dict[int, bytearray] = {}
        overdue: list[tuple[int, int]] = []
        for key, packet in self._inflight.items():
            if key < _CANCEL_KEY:
                continue
            waiting[key] = packet
            if key in reported or seen.get(key) is not packet or not self._cancels_seen_ns:
                continue
            urn = key & (_CANCEL_KEY - 1)
            chain = self._refs.get(urn)
            if chain is None or chain.done or urn in self._doubt_cancels or chain.unconfirmed:
                continue
            reported[key] = (now_ns, self._cancels_seen_ns, chain)
            overdue.append((urn, chain.order.order_id))
        self._cancels_seen = waiting
        self._cancels_seen_ns = now_ns or 1
        if not overdue:
            return
        self.counters["cancels_unanswered"] += len(overdue)
        log.error(
            "venue %s: %d cancels had no answer (Canceled, fills, Cancel Reject) within %d ms while the session stayed "
            "up (answer_timeout_ms): the venue ignores a Cancel of a UserRefNum it does not work, so each order may "
            "still work at the venue under a number the gateway does not know, or the venue lost the Cancel; the "
            "orders stay open here, their Cancel waiting: have the venue desk cancel them and reconcile. UserRefNums "
            "%s, orders %s",
            self.name,
            len(overdue),
            self._answer_timeout_ns // MS,
            [urn for urn, _ in overdue[:20]],
            [order_id for _, order_id in overdue[:20]],
        )

    def _cancels_answered(self, now_ns: int, ended: str = "", everything: bool = False) -> None:
        """Give the Cancels logged unanswered (``_sweep_cancels``) that wait no more their all-clear: one WARNING.

        rev61ouch LOW 2: the ERROR asked for the venue desk, and nothing said when the venue answered after all (a
        Canceled, fills that end the order, a Cancel Reject or Cancel Pending, a message naming the order's live
        number): the operator called the desk about an order already canceled, and the critical alert kept firing.
        Such a Cancel leaves ``cancels_unanswered_now``, and one WARNING per call names them, grouped by how they were
        answered (the order's state here), like the ERROR (count, the first 20 orders and UserRefNums): rev61merge
        MEDIUM 1, a kill over 3,000 orders at a slow venue gave 3,000 lines in one loop turn. Run on the sweep (at
        most ``answer_timeout_ms`` / 10 after the answer) only while a Cancel so logged waits, looking at
        ``_answered_per_look`` of them at most (a round through them all takes several sweeps when more wait), and
        at the session's end or change (``_forget_session``: ``ended`` says how those still waiting are answered
        now, none will come from the venue; ``everything``: ``on_end_of_session``, no sweep runs after it). No
        all-clear for an order while another of its Cancels is still counted (rev61merge LOW 3: its Replace's answer
        cleared the old number's). On a session change ``_forget_session`` first takes out those still waiting:
        never answered, they stay counted (``_cancels_unreachable``), no all-clear.
        """
        reported = self._cancels_reported
        inflight = self._inflight
        if ended or everything:
            todo = list(reported)
            self._cancels_to_look = []
        else:
            look = self._cancels_to_look
            if not look:
                look = list(reported)
            todo = look[-self._answered_per_look :]
            del look[-self._answered_per_look :]
            self._cancels_to_look = look
        groups: dict[str, tuple[list[int], list[int]]] = {}
        first_logged_ns = now_ns
        last_left_ns = 0
        unreachable = self._cancels_unreachable
        siblings: dict[int, list[int]] = {}  # an order's Cancels so logged, by its chain: one all-clear at the end
        if ended:
            for other, (_, _, other_chain) in reported.items():
                siblings.setdefault(id(other_chain), []).append(other)
        for key in todo:
            entry = reported.get(key)
            if entry is None:
                continue
            chain = entry[2]
            waiting = not chain.done and key in inflight
            if waiting and not ended:
                continue
            order = chain.order
            keys = [key]
            if waiting:  # the session's end answers it, and its other Cancels so logged with it (rev62diff LOW 2)
                how = ended
                keys = [other for other in siblings[id(chain)] if other in reported]
            else:  # the order's other Cancels so logged (its Replace's numbers): all answered, or none cleared yet
                done = chain.done
                still = False
                for number in (chain.working, chain.pending, *chain.candidates):
                    other = number | _CANCEL_KEY
                    if not number or other == key or other not in reported or other in keys:
                        continue
                    if not done and other in inflight:
                        still = True  # another Cancel of the order still waits: all clear together with it
                        break
                    keys.append(other)
                if still:
                    continue
                if order.order_id in unreachable:  # another of its Cancels was never answered (a session change)
                    for answered in keys:  # out of the gauge, which counts the unreachable one: no all-clear
                        reported.pop(answered, None)
                    continue
                if order.is_terminal:
                    how = f"the order ended here ({order.state.name}): nothing for the venue desk to cancel"
                else:
                    how = (
                        f"the order is open here ({order.state.name}): a Cancel Reject, a Cancel Pending or a message "
                        "naming its live number answered it (see the lines before)"
                    )
            orders, urns = groups.setdefault(how, ([], []))
            for answered in keys:
                answered_logged_ns, answered_left_ns, _ = reported.pop(answered)
                orders.append(order.order_id)
                urns.append(answered & (_CANCEL_KEY - 1))
                first_logged_ns = min(first_logged_ns, answered_logged_ns)
                last_left_ns = max(last_left_ns, answered_left_ns)
        if not groups:
            return
        count = sum(len(orders) for orders, _ in groups.values())
        log.warning(
            "venue %s: %d cancels logged at ERROR as unanswered are answered, %d ms or less after their ERROR (each "
            "%d ms or more after it left): %s",
            self.name,
            count,
            (now_ns - first_logged_ns) // MS,
            (now_ns - last_left_ns) // MS,
            "; ".join(
                f"{len(orders)}: {how}: orders {orders[:20]}, UserRefNums {urns[:20]}"
                for how, (orders, urns) in groups.items()
            ),
        )

    def _keep_cancels_unreachable(self) -> int:
        """Move the Cancels logged unanswered that still wait to ``_cancels_unreachable`` (a session change).

        rev61merge MEDIUM 2: the venue's new session answers none of them (the gateway refuses them
        OUCH_SESSION_CHANGED) and the order may still work at the venue: before, they left the gauge and the critical
        alert resolved while the desk call was still needed. Return how many.
        """
        reported = self._cancels_reported
        inflight = self._inflight
        kept = self._cancels_unreachable
        moved = 0
        for key, (_, _, chain) in list(reported.items()):
            if chain.done or key not in inflight:
                continue
            del reported[key]
            order_id = chain.order.order_id
            kept[order_id] = kept.get(order_id, 0) + 1
            moved += 1
        return moved

    def _sweep_doubts(self, now_ns: int) -> None:
        """End each order whose Enter timed out if the venue said nothing of it ``answer_timeout_ms`` after its Cancel.

        OUCH 5.0 answers a Cancel of a live order (Canceled, or fills first) and ignores one naming a UserRefNum it
        does not know ("superfluous cancels are silently ignored"): silence that long after the Cancel means the
        venue most likely never received the Enter. The strategy gets Canceled "OUCH_OUTCOME_UNKNOWN" (its
        exposure released), one ERROR per sweep tells ops to reconcile, counted ``outcome_unknown``. Should the venue
        speak of it after all, its messages are an ended order's (``_accepted_after_end``: canceled there; a fill
        applied as a late fill), never a second answer. An order the venue named meanwhile (settled) is not ended:
        its Cancel will be answered.
        """
        deadline = now_ns - self._answer_timeout_ns
        doubts = self._doubt_cancels
        ended: list[tuple[int, int]] = []
        for urn, sent in list(doubts.items()):
            chain = self._refs.get(urn)
            if chain is None or chain.done:
                del doubts[urn]
                self._unreadable_doubts.discard(urn)
                self._doubts_stale = True  # the file drops it at this sweep (``_prune_doubts``)
                continue
            if chain.unconfirmed != urn or sent > deadline:  # the venue named it (its Cancel will be answered)
                continue
            del doubts[urn]
            self._doubts_stale = True
            chain.open_qty = 0
            self._finish(chain)
            refs = self._refs
            for number in (urn, *chain.candidates):  # unmapped: later messages are an ended order's (``_unmapped``)
                if refs.get(number) is chain:
                    del refs[number]
            ended.append((urn, chain.order.order_id))
            text = _OUTCOME_UNKNOWN_TEXT
            if urn in self._unreadable_doubts:
                self._unreadable_doubts.discard(urn)
                text = _OUTCOME_UNKNOWN_UNREADABLE_TEXT
            self._emit(VenueCanceled(0, chain.order.order_id, 0, _OUTCOME_UNKNOWN, text))
        if not ended:
            return
        self.counters["outcome_unknown"] += len(ended)
        log.error(
            "venue %s: %d orders answered in doubt (no answer within answer_timeout_ms, or none after a re-login "
            "though the venue took their UserRefNums) got no word from the venue %d ms after their Cancel either "
            "(the venue ignores a Cancel of a UserRefNum it never received): ended here as "
            "Canceled %s, their exposure released; reconcile them with the venue desk (a late fill is still "
            "applied). UserRefNums %s, orders %s",
            self.name,
            len(ended),
            self._answer_timeout_ns // MS,
            _OUTCOME_UNKNOWN,
            [urn for urn, _ in ended[:20]],
            [order_id for _, order_id in ended[:20]],
        )

    def _cancel_doubts_again(self, now_ns: int, fresh: frozenset[int] = frozenset()) -> None:
        """After a login (the replay read): send the Cancel of every order answered in doubt that is still open.

        The sweep's Cancel may have been lost with the connection, and the replay did not end the order: nothing
        else would ask the venue about it. Once per login, timed from it (``_sweep_doubts``), logged at ERROR.
        """
        doubts = self._doubt_cancels
        inflight = self._inflight
        out = self._session.out
        again = []
        unreadable = self._unreadable_doubts
        for urn in sorted(doubts):
            chain = self._refs.get(urn)
            if chain is None or chain.done:
                del doubts[urn]
                unreadable.discard(urn)
                self._doubts_stale = True
                continue
            if not doubts[urn] and urn in unreadable and urn not in self._unreadable_restored:
                fresh = fresh | {urn}  # its answer was unreadable in the replay: logged then, first; Cancel now
            doubts[urn] = now_ns
            if (urn | _CANCEL_KEY) not in inflight:  # else the desk's Cancel was sent again already
                for target in chain.cancel_targets():
                    pack_cancel_order(out, target, 0)
            if urn not in fresh:  # those just answered in doubt at this login are logged with their reason
                again.append((urn, chain.order.order_id))
        self._unreadable_restored.clear()  # the first login's: from here on they are this process's
        if again:
            log.error(
                "venue %s: %d orders answered in doubt (no answer within answer_timeout_ms) are still open after the "
                "replay: their Cancel is sent again after the login, so the venue's Canceled or fills settle them "
                "(ended OUCH_OUTCOME_UNKNOWN if it says nothing within %d ms). UserRefNums %s, orders %s",
                self.name,
                len(again),
                self._answer_timeout_ns // MS,
                [urn for urn, _ in again[:20]],
                [order_id for _, order_id in again[:20]],
            )

    def _refusal_fix(self) -> str:
        """What the operator does about LOGIN_REFUSED (Login Rejected ``A``): the ERROR line, ``gateway status``.

        ``gateway venue reconnect`` logs in with the credentials read at start, so it cures only a refusal fixed at
        the venue; a wrong username or password in the config needs a restart (lows57: the advice was to fix the
        config, then reconnect, which spent ``max_login_refusals`` more bad logins at the venue).
        """
        return (
            "if the username or password in the venue config is wrong, correct it and restart the gateway (the config "
            "is read at start: `gateway venue reconnect` would log in with the same credentials, and the venue counts "
            "each refused login towards locking the account); if they are right, have the venue desk enable or "
            f"unlock the account, then run `gateway venue reconnect {self.name}`"
        )

    def reconnect(self) -> bool:
        """Leave LOGIN_REFUSED (an operator's ``gateway venue reconnect``): the next connection logs in again."""
        if not self._session.reconnect():
            return False
        self._set_state(VenueState.CONNECTING, self._session.reason)
        return True

    def before_connect(self) -> bool:
        """Return False, the venue ENDED, if it sent End of Session (``Z``) in today's session before this start.

        SoupBinTCP: once the server ends a session, "reconnecting to that session is no longer possible"; a venue
        answers every later login Login Rejected ``S``. The mark is on file beside the UserRefNum store's
        (``<name>.endofday.json``, ``closed``); it counts while it names today and the session the login would ask
        for (the journal's, or the venue's current one: blank). A new trading day logs in again (ouchend56; before,
        the restarted process tried every ``reconnect_max_ms`` for ever and held Cancels unanswered).
        """
        store = self._store
        asked = self._session.session.strip()
        if not store.session_closed or asked not in ("", store.session.strip()):
            return True
        reason = f"end of session {store.session!r} (SoupBinTCP Z) on trading day {store.day} before a restart"
        log.warning(
            "venue %s: the venue ended session %r (End of Session) on trading day %s before this start: not logging "
            "in today (a venue refuses logins to a session it ended); new orders are refused VENUE_UNAVAILABLE, "
            "cancels VENUE_SESSION_ENDED. A start on the next trading day logs in again; should the venue open a "
            "session again today, stop the gateway, delete %s and start it",
            self.name,
            store.session,
            store.day,
            store.eod_path,
        )
        self._session.end_remembered(reason)
        self._set_state(VenueState.ENDED, reason)
        return False

    def reconnect_delay_ns(self, attempt: int) -> int | None:
        """Return the backoff before reconnect ``attempt``, or None once the session is over.

        While the venue refuses logins as "session not available" (``S``) the CONNECTING reason says so, with the
        count, so ``gateway status`` and the strategies' VenueStatus show why (ouchend56).
        """
        session = self._session
        delay = session.reconnect_delay_ns(attempt)
        if delay is not None:
            number = session.reconnect_attempt(attempt)
            reason = f"reconnecting in {delay // MS} ms (attempt {number})"
            if session.unavailable_refusals:
                reason += (
                    f"; the venue has no session open to a login: Login Rejected S (session not available) "
                    f"{session.unavailable_refusals} times in a row"
                    + (f" after session {session.left_session!r} was refused" if session.left_session else "")
                )
            self._set_state(VenueState.CONNECTING, reason)
        return delay

    def flush(self, now: int = 0) -> None:
        """Write every queued byte to the venue socket (then close it, if the session asked to).

        Nothing to do without ``_session.out`` or ``_close_pending``: ``Engine.flush`` then skips the call.
        ``now``: this adapter's clock, read just before by the caller (``Engine.flush``'s journal mark, at most
        other venues' writes earlier: the heartbeat's send time, not a stage); 0: read it here.
        """
        write = self._write
        session = self._session
        out = session.out
        if write is not None and out:  # session.take(now), inline: the buffer starts afresh, the send time noted
            session.out = bytearray()
            session._last_sent_ns = now if now else self._clock()
            write(out)
        if self._close_pending:
            self._close_pending = False
            if self._close is not None:
                self._close()

    # ---- SoupBinTCP session callbacks (called by SoupClientSession, not by the core) ------------

    def on_logged_in(self, session: str, sequence: int) -> None:
        """Login Accepted: bind UserRefNums to the session; UP now, or once the replay is read.

        The session id names the numbering of the messages that follow (an exactly-once epoch).
        With requests unanswered nothing is sent yet: the replay may answer them, and only the
        venue's NextUserRefNum tells which of the others may go out again (``on_caught_up``).
        """
        if self._held:  # messages of the session before this login: acted on first, in their session
            self._read_held(unbounded=True)
        previous = self._store.session
        if not self.sequence.high_water and (
            (not previous and not self.sequence.epoch)
            or (
                previous == session
                and self._session.logins == 1  # this process's first login: a restart, not a reconnect
                and not self._store.earlier
                and not self._chains
                and not self._late_cancels
            )
        ):
            # First login of the day with no record of the day's traffic (no store, no journal): a standby host
            # taking over mid-day lands in a session whose earlier messages name UserRefNums it never issued.
            # Read the replay before sending anything and floor the store on the venue's NextUserRefNum. Also a
            # restart (not a reconnect: there a number never issued is a framing error, ``_never_issued``) before
            # that floor was written (the store names the session, the journal nothing of it, no order of ours is
            # known): nothing in the session can be ours yet (fixstandby52).
            self._no_record = True
        self._store.bind(session)
        self._day_ended = self._store.day_ended  # False from a new day or session on
        if previous and previous != session:
            self._forget_session(f"session changed from {previous!r} to {session!r}", previous=previous)
            # OUCH 5.0 2.2: an account's UserRefNums are strictly increasing throughout the trading day, whatever
            # the SoupBinTCP session; the store continues above its own numbers in the new one (ouchstandby57), and
            # the venue's NextUserRefNum floors it first (numbers of another host: rev50ouch s15).
            self._query_refnums = True
            self._query_why = f"the session changed from {previous!r} to {session!r}"
            log.warning(
                "venue %s: session changed from %r to %r: asking the venue's NextUserRefNum (Account Query) before "
                "sending anything (UserRefNums increase throughout the trading day, across sessions)",
                self.name,
                previous,
                session,
            )
        elif self._session.renumbered and any(not chain.done for chain in self._chains.values()):
            # The venue restarted its numbering under the same session id: it may have lost its orders too. Its
            # NextUserRefNum (the Account Query after the replay) tells which of ours it never saw (``_lost_orders``)
            self._check_orders = True
        if previous and previous != session:
            self._end_replay_window()
        elif self._session.renumbered:  # its messages up to the old high water may be ones already applied
            self._replay_window(max(self.sequence.high_water, self._replay_upto))
        self.sequence.new_epoch(self._epoch_of(session))
        gapped = self._session.gaps != self._gaps_seen
        if gapped:  # messages the venue can no longer replay: answers may be lost
            self._gaps_seen = self._session.gaps
            self._answers_lost = True
            self._gap_mark = (session, self._store.last_issued)
            first, last = self._session.last_gap
            log.error(
                "venue %s: REPLAY GAP: the venue resumed session %r at sequence %d but %d was asked for: its "
                "messages %d..%d (%d) cannot be recovered; fills, cancels and rejects in them are lost to the "
                "gateway (sequence_gaps %d): reconcile with the venue desk (orders, executions) for those numbers",
                self.name,
                session,
                last + 1,
                first,
                first,
                last,
                last - first + 1,
                self._session.gaps,
            )
            if not self._query_refnums:  # the gap may hide another host's numbers (a failback): ask the venue's
                self._query_refnums = True
                self._query_why = "a replay gap may hide UserRefNums of another host"
                self._store.mark_ask()  # on file before anything later is journaled (else ERROR below)
                log.warning(
                    "venue %s: the replay gap may hide UserRefNums of another host (a failback): asking the venue's "
                    "NextUserRefNum (Account Query) after the replay, before sending anything",
                    self.name,
                )
        store = self._store
        if store.ask:  # owed since an earlier login (a stop or crash before the answer): ask it again (ouchfail58b)
            if store.mark_ask():
                self._owed_mark_on_file()  # (its all-clear only when the mark is on file: rev59merge8 MEDIUM 3)
            else:  # the mark in memory only (its write failed): said once, goes on
                self._owed_mark_not_on_file("a replay gap, or an earlier login's replay")
            self._other_max = max(self._other_max, store.other)
            if store.other and store.order_ids:  # the other host's ClOrdIDs noted then (a margin above, unanswered)
                self._earlier_ids.add(store.order_ids)
            if not self._query_refnums:
                self._query_refnums = True
                self._query_why = "an earlier login's replay named another host's UserRefNums or had a gap"
                log.warning(
                    "venue %s: the venue's NextUserRefNum is owed since an earlier login (its replay named another "
                    "host's UserRefNums up to %d, or had a gap; the gateway stopped before the answer): new "
                    "UserRefNums start at %d (on file in %s) and no new order goes out until the Account Query after "
                    "the replay is answered or times out",
                    self.name,
                    store.other,
                    store.last_issued + 1,
                    store.path,
                )
        self._login_ns = self._clock()
        self._other_in_replay = 0
        if not self._inflight:  # nothing waits: what was lost answered nothing still to settle
            self._answers_lost = False
        # Every login reads the venue's replay before going UP (new orders and replaces are refused
        # VENUE_UNAVAILABLE meanwhile, cancels wait). Orders answered in doubt (restored from their file after a
        # restart, or still open at a reconnect) get their Cancel once the replay is read, not before: the replay may
        # end them (Canceled, Rejected, filled) and then no Cancel goes out (ouchid54; before, it went out at Login
        # Accepted, ahead of the replay). And the replay may name UserRefNums of another host that traded the account
        # while this one was away (a failback), above this host's store: nothing new goes out until the venue's
        # NextUserRefNum floors the store above them (``_other_host``; ouchfail58: before, a login with nothing
        # waiting went UP at Login Accepted, and an order sent then took a number the venue had passed, and ignored,
        # and a ClOrdID of the other host's)
        self._replaying = True
        waiting = (
            f"acting on {len(self._inflight)} unanswered requests"
            + (f" and {len(self._doubt_cancels)} orders answered in doubt" if self._doubt_cancels else "")
            if self._inflight or self._doubt_cancels
            else "going UP"
        )
        self._set_state(
            VenueState.LOGGING_IN,
            f"logged in to session {session!r} from sequence {sequence}; reading the replay before {waiting}",
        )

    def _replay_window(self, upto: int) -> None:
        """Judge the venue's messages numbered up to ``upto`` (the old high water) by what they say, first.

        A venue that restarted its numbering under the same session id (Login Accepted below the number asked
        for) is taken to send new messages from its number on; one that replays the messages already applied
        instead would have a partial Canceled applied twice (rev44ouch s10). Until its numbering passes ``upto``
        every message goes through ``_on_sequenced_renumbered`` (the session's callback is swapped: nothing is
        added to the normal path).
        """
        self._replay_upto = upto
        if upto:
            self._session._on_sequenced = self._on_sequenced_renumbered

    def _end_replay_window(self) -> None:
        """Go back to the normal path: the venue's numbering is past the messages it may replay."""
        self._replay_upto = 0
        self._session._on_sequenced = self.on_sequenced

    def _on_sequenced_renumbered(self, sequence: int, message: memoryview | bytes) -> None:
        """Do ``on_sequenced``, dropping a message already applied that a renumbered venue sends again.

        The evidence is in the message: an answer (Accepted, Rejected, Replaced, Cancel Reject) to a request
        that is not waiting for one was answered before (the venue answers each request once), and a Canceled or
        AIQ Canceled no later (its Timestamp) than the last one applied to the order is that one again. Such a
        message is admitted (its number is used) but not acted on: counted (``replayed_after_renumbering``) and
        logged at WARNING (1st, 2nd, 4th...). An Executed goes on (the core drops a repeated Match Number), so does
        anything new.
        """
        if sequence > self._replay_upto:
            self._end_replay_window()
            self.on_sequenced(sequence, message)
            return
        kind = message[0] if message else -1
        offset = _URN_OFFSET.get(kind)
        if offset is None or len(message) < offset + 4:
            self.on_sequenced(sequence, message)
            return
        urn = int.from_bytes(message[offset : offset + 4], "big")
        chain = self._refs.get(urn)
        if chain is None or not self._applied_before(kind, urn, chain, memoryview(message)):
            self.on_sequenced(sequence, message)
            return
        if not self.admit(sequence):
            return
        self.counters["replayed_after_renumbering"] += 1
        self._rare(
            "replayed",
            "%s message at sequence %d for UserRefNum %d of order %d repeats one already applied (the venue restarted "
            "its numbering below the %d messages seen, but sends them again): not applied",
            chr(kind),
            sequence,
            urn,
            chain.order.order_id,
            self._replay_upto,
        )

    def _applied_before(self, kind: int, urn: int, chain: _Chain, message: memoryview) -> bool:
        """Return True if ``message`` about ``chain`` says what was applied already (``_on_sequenced_renumbered``)."""
        inflight = self._inflight
        if kind in (_ACCEPTED_TYPE, _REJECTED_TYPE):
            return urn not in inflight and urn != chain.unconfirmed
        if kind == _REPLACED_TYPE:
            return urn not in inflight and urn != chain.pending and urn not in chain.candidates
        if kind == _CANCEL_REJECT_TYPE:
            return urn | _CANCEL_KEY not in inflight
        if kind in (_CANCELED_TYPE, _AIQ_CANCELED_TYPE):
            return int.from_bytes(message[1:9], "big") <= chain.last_cancel_ns
        return False

    def _epoch_of(self, session: str) -> str:
        """Return the exactly-once numbering of ``session`` after this login.

        The session id, with ``#n`` once the venue has restarted its numbering under that id n times (a Login
        Accepted below the sequence asked for): its messages from 1 again are new ones, not ones already seen.
        """
        current = self.sequence.epoch
        base, _, restarts = current.partition("#")
        if base != session:
            return session
        if self._session.renumbered:
            return f"{session}#{int(restarts) + 1 if restarts.isdigit() else 1}"
        return current

    def on_caught_up(self) -> None:
        """First Server Heartbeat after Login Accepted: the replay is read; ask for the venue's NextUserRefNum.

        The Account Query's answer is sequenced after everything the venue sent before it, so
        when it arrives every request the venue processed has been answered.
        """
        if self._held:  # the replay is read only once every message of it is acted on
            self._read_held(unbounded=True)
        if not self._replaying:
            return
        self._replaying = False
        if (
            not self._inflight
            and not self._check_orders
            and not self._query_refnums
            and not self._ask_unseen
            and not self._replace_doubts_to_judge()  # the venue's NextUserRefNum judges them
        ):
            self._answers_lost = False
            self._gaps_judged = self._session.gaps  # nothing in doubt to keep for a gap of this login
            if self._no_record:  # a first start of the day: nothing of the session's earlier traffic came
                self._go_live(f"logged in to session {self._session.session!r}; no earlier traffic in the replay")
            else:
                self._go_live(f"logged in to session {self._session.session!r}; replay read, nothing unanswered")
            return
        self._query_sent_ns = self._clock() or 1
        self._session.out += _ACCOUNT_QUERY_PACKET

    def _replace_doubts_to_judge(self) -> bool:
        """Whether a Replace in doubt may be judged by the venue's NextUserRefNum (``_replay_named_no_replace``).

        Not one a message may have named unseen (``_kept_replace_doubts``), nor one an earlier answer of this process
        showed taken (``_taken_replace_doubts``: the venue's number only grows). A login with a replay gap asks the
        Account Query all the same (``on_logged_in``), so its gap is judged there. Before, every re-login with a
        Replace in doubt waited for the query, up to ``server_timeout_ms`` with a venue that does not answer it
        (rev58merge8 LOW 5).
        """
        kept = self._kept_replace_doubts
        taken = self._taken_replace_doubts
        return any(urn not in kept and urn not in taken for urn in self._replace_doubts)

    def after_replay(self, unanswered: list[UnansweredRequest]) -> None:
        """The core's list of unanswered requests at UP: the adapter has acted on them already (check).

        ``_resolve_unanswered`` re-sent or reported every request the adapter held before the
        state went UP. A new order or replace the core lists that the adapter holds no packet for
        is counted (it would wait for an answer that cannot come). Cancels are not: a Cancel
        Pending answers one at the venue while the order stays PENDING_CANCEL in the core.
        """
        inflight = self._inflight
        for request in unanswered:
            if request.kind is RequestKind.CANCEL:
                continue
            chain = self._chains.get(request.order.order_id)
            if chain is not None and chain.done:
                continue
            key = _ref_key(request.venue_ref)
            if chain is None or key not in inflight:
                if chain is not None and request.kind is RequestKind.REPLACE and key in self._foreign_refs:
                    self._retired_replace_answered(chain, key)
                    continue
                self.counters["unanswered_not_held"] += 1
                self._rare(
                    "unheld",
                    "%s of order %d (UserRefNum %s) unanswered but not held for re-sending",
                    request.kind,
                    request.order.order_id,
                    request.venue_ref,
                )

    def _retired_replace_answered(self, chain: _Chain, urn: int) -> None:
        """Answer a Replace the journal holds unanswered whose new UserRefNum ``urn`` is on file as another host's.

        ``_replace_number_taken`` puts the number on file (``_foreign_refs``, the doubts file) before the Replace's
        answer is journaled: a stop or crash in between restarts with the order still waiting on that Replace, and
        ``restore`` does not map the number back (the venue gave it to another host's order, whose messages are not
        this order's). The file is the proof that the venue never applied the Replace, so it is answered here, at
        UP, as the process that stopped answered it: ``CancelRejected`` ``OUCH_NOT_RECEIVED``, the order live at its
        old size and price under its old number, and the Cancels the core held behind the Replace (a strategy's, the
        kill switch's) go out next (rev60merge2 HIGH 1: never answered, the held Cancels never sent, the order left
        working at the venue). Once the answer is journaled the order is no longer waiting: never answered twice.
        """
        order = chain.order
        self.counters["not_received"] += 1
        log.warning(
            "venue %s: order %d: its replace (UserRefNum %d), unanswered in the journal, names a number on file as "
            "another host's (%s): the venue never applied it; the order keeps its size and price, live as UserRefNum "
            "%d (the strategy gets CancelRejected %s; a Cancel held behind the replace goes out now)",
            self.name,
            order.order_id,
            urn,
            doubts_path(self.config.state_dir, self.name),
            chain.working,
            _NOT_RECEIVED,
        )
        self._emit(VenueCancelRejected(0, order.order_id, _NOT_RECEIVED, _NUMBER_TAKEN_TEXT))

    def on_login_rejected(self, reason: str, text: str) -> None:
        """Login Rejected: the reason shows in the DISCONNECTED (or LOGIN_REFUSED) state once the connection closes."""
        session = self._session
        if reason == REJECT_NOT_AUTHORIZED and session.config.max_login_refusals:
            log.warning(
                "venue %s: login rejected: %s (%s), %d of %d in a row before the gateway stops reconnecting",
                self.name,
                text,
                reason,
                session.login_refusals,
                session.config.max_login_refusals,
            )
        elif reason == "S" and not session.session and session.unavailable_refusals:
            self._session_unavailable(text, reason)
        elif reason == "S" and session.left_session and not session.session:
            log.error(
                "venue %s: login rejected: %s (%s) for session %r in every padding: the venue is no longer on it; "
                "the next login asks for the venue's current session (blank). If that is another session, the "
                "requests waiting are answered OUCH_SESSION_CHANGED and the orders open in %r stay open in the "
                "gateway, unreachable (ask the venue desk)",
                self.name,
                text,
                reason,
                session.left_session,
                session.left_session,
            )
        else:
            log.warning("venue %s: login rejected: %s (%s)", self.name, text, reason)

    def _session_unavailable(self, text: str, reason: str) -> None:
        """Log a blank login's Login Rejected ``S``: the venue has no session to give (1st, 2nd, 4th... in a row).

        At ERROR when the UserRefNum store names a session of today (this gateway traded in one: most likely the venue
        ended it, an End of Session this process never read: sent before a restart whose mark was lost, or to another
        gateway on the account), else at WARNING (a venue not open yet). The session keeps trying every
        ``reconnect_max_ms`` at most: the venue may open one (ouchend56; before, the same ERROR as when a named
        session is given up, every attempt, saying the next login asks for the current session).
        """
        session = self._session
        count = session.unavailable_refusals
        if count & (count - 1):
            return
        store = self._store
        traded = bool(store.session) and store.is_current_day()
        log.log(
            logging.ERROR if traded else logging.WARNING,
            "venue %s: login rejected: %s (%s) for the venue's current session (blank), %d times in a row%s: the "
            "venue has no session open to this login%s. Trying again every %d ms at most; meanwhile new orders are "
            "refused VENUE_UNAVAILABLE and cancels are held until a login is accepted. Ask the venue desk; if the "
            "session ended for the day, its orders are no longer working there",
            self.name,
            text,
            reason,
            count,
            f" (session {session.left_session!r} was refused in every padding)" if session.left_session else "",
            f": it may have ended session {store.session!r} for the day (an End of Session this gateway did not "
            "read: before a restart whose mark was lost, or sent to another gateway on the account)"
            if traded
            else " (not started yet, or ended for the day)",
            session.config.reconnect_max_ns // MS,
        )

    def bind_sequence(self, sequence: VenueSequence) -> None:
        """Use the core's keeper of this venue's message numbers from now on (kept for the inline admit)."""
        VenueAdapter.bind_sequence(self, sequence)
        self._keeper = sequence

    def on_sequenced(self, sequence: int, message: memoryview | bytes) -> None:
        """Turn one sequenced OUCH message into (at most one) event, unless it was acted on before.

        The one path every message about an order takes: admitted by the exactly-once component,
        decoded, refused if undecodable, its order found by UserRefNum (unknown ones counted), then
        handed to the handler for its type. One whose journal search is over the budget waits (``_hold``), and
        every later one waits behind it, in order. The message is ``bytes`` (a read of whole Sequenced Data
        packets) or a ``memoryview``; past the Accepted's direct path, a view of it.
        """
        keeper = self._keeper
        if keeper is not None and sequence > keeper.high_water:  # VenueSequence.admit's new message, inline
            keeper.high_water = sequence
        elif not self.admit(sequence):
            return
        if self._held:  # an earlier message waits for its journal search: this one waits behind it
            self._held.append((sequence, bytes(message)))
            self.counters["held_for_lookup"] += 1
            return
        try:
            kind = message[0]
        except IndexError:  # empty: the general path below refuses it
            kind = -1
        if kind == _ACCEPTED_TYPE:  # the steady state, by direct calls (compiled: native; no table, no boxing)
            fields = accepted_core(message)
            if type(fields) is not DecodeError:  # else (undecodable: fixed part, salvage) the general path decides
                try:
                    accepted_chain: _Chain | None = self._refs[fields[0]]
                except KeyError:
                    accepted_chain = None
                if accepted_chain is not None:
                    self._on_accepted(sequence, accepted_chain, fields, message)
                    return
        view = message if isinstance(message, memoryview) else memoryview(message)
        try:  # subscripts, no method calls (an empty message: IndexError; an unknown type: KeyError)
            entry = self._dispatch[view[0]]
        except (IndexError, KeyError):
            entry = None
        if entry is None:
            try:
                self._not_about_an_order(sequence, view)
            except _LookupOverBudgetError:
                self._hold(sequence, view)
            return
        decode, user_ref_num, handler = entry
        decoded = decode(view)
        if type(decoded) is DecodeError:
            decoded = self._fixed_part(sequence, view, decoded)
            if decoded is None:
                return
        urn = user_ref_num(decoded)
        try:
            chain: _Chain | None = self._refs[urn]
        except KeyError:
            chain = None
        if chain is None:
            try:
                if not self._unmapped(sequence, view, decoded, urn):
                    self._unknown(sequence, chr(view[0]), urn, view)
            except _LookupOverBudgetError:
                self._hold(sequence, view)
            return
        if kind == _ACCEPTED_TYPE:  # compared with the Enter sent (``_on_accepted``)
            self._on_accepted(sequence, chain, decoded, view)
            return
        handler(sequence, chain, decoded)

    def _act_on(self, sequence: int, message: memoryview) -> bool:
        """Act on an admitted message as ``on_sequenced`` does; False if its journal search is over the budget."""
        try:
            entry = self._dispatch[message[0]]
        except (IndexError, KeyError):
            entry = None
        try:
            if entry is None:
                self._not_about_an_order(sequence, message)
                return True
            decode, user_ref_num, handler = entry
            decoded = decode(message)
            if type(decoded) is DecodeError:
                decoded = self._fixed_part(sequence, message, decoded)
                if decoded is None:
                    return True
            urn = user_ref_num(decoded)
            chain = self._refs.get(urn)
            if chain is None:
                if not self._unmapped(sequence, message, decoded, urn):
                    self._unknown(sequence, chr(message[0]), urn, message)
                return True
            if message[0] == _ACCEPTED_TYPE:  # compared with the Enter sent (``_on_accepted``)
                self._on_accepted(sequence, chain, decoded, message)
                return True
            handler(sequence, chain, decoded)
        except _LookupOverBudgetError:
            return False
        return True

    def _hold(self, sequence: int, message: memoryview) -> None:
        """Keep message ``sequence`` (and every later one) for a later turn: its journal search is over the budget.

        Nothing is dropped and the venue's order is kept: the held messages are acted on in ``poll`` as the
        budget allows (``_ended_order``), and all at once before a login, the replay's end or the session's end.
        Nothing of the venue after them is journaled before them, so a restart meanwhile has the venue send them
        again. Counted (``held_for_lookup``, once per message), logged at ERROR (rarely).
        """
        self._held.append((sequence, bytes(message)))
        self.counters["held_for_lookup"] += 1
        self._rare_log.log(
            "held_for_lookup",
            logging.ERROR,
            "venue %s: messages name UserRefNums no longer mapped here faster than the journal may be searched "
            "(each a search; at most %d and %d ms of them per 100 ms): message at sequence %d and the venue's later "
            "ones wait, in order (%d waiting)",
            self.name,
            self.ref_lookups_per_window,
            self.ref_lookup_ns_per_window // MS,
            sequence,
            len(self._held),
        )

    def _read_held(self, *, unbounded: bool = False) -> None:
        """Act on held messages in order, as far as the search budget goes (``unbounded``: all of them)."""
        held = self._held
        self._lookups_unbounded = unbounded
        try:
            while held:
                sequence, message = held[0]
                if not self._act_on(sequence, memoryview(message)):
                    return
                if held and held[0][0] == sequence:  # else ``on_refetch`` dropped it (and every later one)
                    held.popleft()
        finally:
            self._lookups_unbounded = False

    def _ended_order(self, urn: int) -> int:
        """Return the order UserRefNum ``urn`` (no longer mapped here) was sent for in this session (0: none).

        The adapter maps every number of an order open here (sent in this life, or restored after a restart), so
        one it no longer maps is an order's that ended here: released from memory by the engine
        (``memory.terminal_orders_kept``) or ended before a restart. A UserRefNum does not name the order (unlike
        FIX and BOE ClOrdIDs): the core looks it up in the journal (``order_of_ref``, in this venue session only).
        A number this adapter is canceling at the venue (``_late_cancels``) is known without the look-up; one
        above every number the store handed out this session (its high-water mark) or 0 is not ours without it
        (``ref_never_issued``); one searched before this session is answered as then (``ref_answers_reused``: up
        to ``ref_answers_kept``); one the journal cannot hold, above the session's highest number there with nothing
        written since or below its lowest, is not ours without reading it (``ref_outside_journal``:
        ``ref_above_journal``, ``ref_below_journal``). A search past the window's budget (``ref_lookups_per_window``
        searches, ``ref_lookup_ns_per_window`` of searching) raises ``_LookupOverBudgetError``: the message waits
        (``_hold``), so a venue naming unknown numbers cannot keep the loop searching.
        """
        if urn in self._foreign_refs:  # a retired Replace's number (``_retire_replace``): not this host's order
            return 0
        late = self._late_cancels.get(urn)
        if late is not None:
            return late[0]
        lookup = self.order_of_ref
        if lookup is None:
            return 0
        store = self._store
        if urn > store.last_issued or urn <= 0:  # the store never handed it out this session: not ours
            self.counters["ref_never_issued"] += 1
            return 0
        answers = self._ref_answers
        if self._answers_session != store.session:
            answers.clear()
            self._answers_session = store.session
        known = answers.get(urn)
        if known is not None:
            self.counters["ref_answers_reused"] += 1
            return known
        outside = self.ref_outside_journal
        if outside is not None and (side := outside(self.name, urn, store.session)):  # known without reading
            self.counters["ref_above_journal" if side > 0 else "ref_below_journal"] += 1
            return 0
        clock = self._clock
        now = clock()
        start = self._lookup_window_ns
        if start is None or now - start >= REF_LOOKUP_WINDOW_NS:
            self._lookup_window_ns = now
            self._lookups_in_window = self._lookup_ns_in_window = 0
        elif not self._lookups_unbounded and (
            self._lookups_in_window >= self.ref_lookups_per_window
            or self._lookup_ns_in_window >= self.ref_lookup_ns_per_window
        ):
            raise _LookupOverBudgetError
        self._lookups_in_window += 1
        order_id = lookup(self.name, urn, store.session)
        self._lookup_ns_in_window += clock() - now
        if order_id < 0:  # the journal could not be read: not an answer to keep
            return 0
        if self.ref_answers_kept > 0:
            if len(answers) >= self.ref_answers_kept:
                del answers[next(iter(answers))]  # the oldest answer
            answers[urn] = order_id
        return order_id

    def _unmapped(self, seq: int, message: memoryview, decoded: Any, urn: int) -> bool:
        """Act on ``message`` about one order whose UserRefNum ``urn`` is no longer mapped; False: not found.

        Found in the journal (``_ended_order``), the order ended here: an Executed is a late fill, applied once
        (``_late_execution``); an Accepted or Replaced showing the order live (Order State ``L``), or an Order
        Modified leaving shares open, means the venue works an order the gateway does not track: it is canceled
        at the venue at once (``_live_after_end``). The rest has nothing to apply (a Canceled or AIQ Canceled of
        shares, the AIQ's "quantity prevented from trading" never traded; a Rejected, a Cancel Reject; a dead
        Accepted/Replaced; a Modified to 0): counted after-end by type (``after_end_by_type``), not unknown.
        Not found (another session's number, another gateway's, never sent): False, the caller counts it unknown.
        A number never issued this session (0, or above the highest handed out) is first asked for again
        (``_never_issued``): the stream is most likely out of frame; but one above the highest handed out in a login's
        replay is another host's (``_other_host``: a failback), unless it is the message being asked for again.
        """
        kind = message[0]
        if urn in self._foreign_refs:  # a retired Replace's number (``_retire_replace``): not this host's order
            return False
        if kind == _ACCEPTED_TYPE and urn in self._replace_only:  # never a Replace's answer: another host's Enter
            self._foreign_after_end(seq, urn)
            return False
        if urn <= 0 or urn > self._store.last_issued:
            if self._no_record:
                return self._earlier_traffic(seq, message, urn)
            if urn > 0 and self._replaying and self._others_possible() and seq != self._session.refetch_sequence:
                self._other_host(seq, kind, urn, message)  # another host's number in a login's replay (a failback)
                return False  # counted unknown, its ClOrdID noted (``_unknown``)
            if self._never_issued(seq, kind, urn):
                return True
        order_id = self._ended_order(urn)
        if not order_id:
            return kind == _REPLACED_TYPE and self._lost_replace(seq, decoded)
        if kind == _ACCEPTED_TYPE and self._forgotten_replace_accepted(seq, urn, order_id):
            return False  # another host's Enter under a Replace's number: counted unknown, its ClOrdID noted
        if kind in _SHOWS_LIVE and self._adopt_forgotten(seq, urn, order_id, kind):
            self._dispatch[kind][2](seq, self._refs[urn], decoded)  # acted on as for any number of the order
            return True
        if kind == _EXECUTED:
            self._late_execution(seq, order_id, decoded)
            return True
        letter = _UNMAPPED_KINDS[kind]
        if seq <= self._replay_upto and urn not in self._late_cancels:  # a renumbered venue's copy (see below)
            self._replayed(seq, letter, urn, order_id)
            return True
        late = self._late_cancels
        if letter == "A":
            _urn, quantity, _price, _ref, order_state = decoded
            if order_state != ORDER_STATE_DEAD:
                self._live_after_end(seq, "Order Accepted", urn, order_id, quantity)
                return True
        elif letter == "U":
            assert isinstance(decoded, OrderReplaced)
            if late.pop(decoded.orig_user_ref_num, None) is not None:  # replaced: the original number is not live
                self._save_owed()
            if decoded.order_state != ORDER_STATE_DEAD:
                self._live_after_end(seq, "Order Replaced", urn, order_id, decoded.quantity)
                return True
        elif letter == "M":
            assert isinstance(decoded, OrderModified)
            if decoded.quantity > 0:
                self._live_after_end(seq, "Order Modified", urn, order_id, decoded.quantity)
                return True
            if late.pop(urn, None) is not None:
                self._save_owed()
        elif letter in "CD":
            shares = decoded.quantity if letter == "C" else decoded.decrement_shares
            waiting = late.get(urn)
            if waiting is not None:  # the answer to the cancel sent at the venue (or shares it took off)
                waiting[1] -= shares
                if waiting[1] <= 0 or shares == 0 or (letter == "C" and decoded.reason == "U"):
                    del late[urn]
                self._save_owed()
        elif letter == "I" and late.pop(urn, None) is not None:
            self._save_owed()
            log.error(
                "venue %s: Cancel Reject (sequence %d) for UserRefNum %d of order %d, which ended here and which the "
                "gateway was canceling at the venue: it may still be live there; ask the venue desk",
                self.name,
                seq,
                urn,
                order_id,
            )
        self._after_end(seq, letter, urn, order_id)
        return True

    def journal_opened(self, journal: str, clean: bool, batch: bool, empty: bool) -> None:
        """Note whether the journal may have lost its tail: a stop that was not clean under ``interval``/``none``.

        Then note the numbers the journal itself confirmed for each open order (called after the orders are restored,
        before the first login): the number the venue knows an acknowledged order by, and its Replace in flight. Not
        an order whose Enter the venue never acknowledged here, nor one answered in doubt (``unconfirmed``): another
        host may enter its own order under that number after a failback, and its ClOrdID may be this order's (the
        standby numbers its order ids right above the ones it saw), so a later Replaced from that number is not this
        host's lost Replace (rev60merge9 HIGH 1).

        Nor, at any later start, an order whose Enter was unanswered (or in doubt) in the journal at some start after
        a stop that was not clean (``_replayed_enters``; not after a clean stop, so that a single host's own Accepted
        in the replay keeps its later lost Replace adoptable, rev61merge3 HIGH 2; a planned switchover then is not
        covered, rev61merge7 HIGH 1, documented): that start's login replay may have answered it with the other
        host's Accepted, now journaled as this order's (rev60merge12 HIGH 1: A fails back, crashes again, the
        standby replaces its order at a second takeover, and A's next unclean start adopted that Replace). Those
        order ids go on file
        (the doubts file) here, before the first login reads anything, and stay while the order is open. Also noted:
        the journal's highest order id and the store's highest number, for ``_own_lost_enter``.
        """
        self._tail_lost = not clean and not batch and not empty
        own = self._own_refs
        own.clear()
        replayed = self._replayed_enters
        marked = len(replayed)
        if not clean:  # not at a clean stop: a single host's own lost Replace stays adoptable (rev61merge3 HIGH 2)
            for chain in self._chains.values():
                order = chain.order
                if not chain.done and (chain.unconfirmed or order.state in _NOT_ACKNOWLEDGED):
                    replayed.add(order.order_id)
        self._replayed_known = True
        if len(replayed) > marked:  # on file before the first login reads anything (the file's ERROR says the cost)
            self._save_doubts()
        self._journal_ids = self._refs_at_start = 0
        if not self._tail_lost:
            return
        issued = self.order_ids_issued
        self._journal_ids = issued() if issued is not None else max(self._chains, default=0)
        self._refs_at_start = self._store.last_issued
        for chain in self._chains.values():
            order = chain.order
            if chain.done or chain.unconfirmed or order.state in _NOT_ACKNOWLEDGED or order.order_id in replayed:
                continue
            number = _ref_key(order.venue_ref)
            if number > 0:
                own.add(number)
                if chain.pending:
                    own.add(chain.pending)

    def _lost_replace(self, seq: int, message: OrderReplaced) -> bool:
        """Apply a Replaced of a Replace of this gateway whose records the journal lost; False: not such a one.

        After a power failure cut the journal's tail (``journal_opened``) the venue replays what the journal lacks: a
        Replace sent and answered in the lost part comes back as a Replaced whose OrigUserRefNum is the number an
        open order is known by here and whose UserRefNum no record names. It is this gateway's when its ClOrdID is
        the order's (every Replace carries it: ``_pack_replace``; another host's order has its own), its number is
        one the UserRefNum store handed out and above every number the order is known by, and the order has no
        Replace of its own waiting. Applied as the venue's word (``_on_replaced``): the order takes the new number,
        quantity and price, journaled with the event (``VenueReplaced.late_ref``), the strategy gets ``Replaced``,
        and later Cancels name the live number (rev60chaos HIGH 1: before, the Replaced was counted unknown, the
        order kept its old number, and every Cancel of it, the kill switch's too, named a number the venue ignores:
        never answered, the order working at the venue). Counted ``replaced_journal_lost``, WARNING.

        Only from a number this host's journal confirmed for the order (``_own_refs``): after a failback the replay's
        Accepted of another host's Enter under the number of this host's Enter lost in flight maps that number to
        this host's order (the same terms, the same ClOrdID), and the other host's Replace of its own order then
        looked like this host's lost one: its terms and fills applied here, this host's Cancel canceling its order
        (rev60merge9 HIGH 1). Nor when this login shows another host on the account (a number above this host's in
        the replay, the venue's NextUserRefNum owed from a failback or a replay gap), nor once the day shows another
        host on file (its ClOrdIDs or earlier traffic in the UserRefNum store, numbers retired as its in the doubts
        file: rev60merge11, a second unclean start after a failback): counted unknown as before, and a Cancel of the
        order the venue does not answer is said at ERROR (``_sweep_cancels``).
        """
        if not self._tail_lost:
            return False
        store = self._store
        if (
            self._other_max
            or store.ask
            or (store.order_ids and not store.own_ids)
            or self._ids_foreign
            or store.earlier
            or self._foreign_refs
        ):
            # another host used or may have used the session today (a number above this host's in the replay, the
            # venue's NextUserRefNum owed, another host's ClOrdIDs or earlier traffic on file or in this replay,
            # numbers retired as another host's): none of it is adopted (rev60merge11: after a failback the
            # standby's Accepted was journaled as this host's lost Enter, and at a second unclean start its Replace
            # was adopted). ClOrdIDs of this host's own Enters the journal lost do not count (rev60merge12 HIGH 2)
            return False
        urn = message.user_ref_num
        chain = self._refs.get(message.orig_user_ref_num)
        if (
            chain is None
            or chain.done
            or chain.pending
            or chain.order.pending_qty
            or urn in self._foreign_refs
            or urn > self._store.last_issued
            or urn <= max(chain.cancel_targets())
            or message.orig_user_ref_num not in chain.cancel_targets()
            or message.orig_user_ref_num not in self._own_refs
            or _not_its_replace(chain, message)
        ):
            return False
        self._own_refs.add(urn)  # a second Replace the journal lost replaced this one
        self._refs[urn] = chain
        self._replace_refs.add(urn)
        self._store.ensure_above(urn)
        self.counters["replaced_journal_lost"] += 1
        self._lost_replace_urn = urn
        try:
            self._on_replaced(seq, chain, message)
        finally:
            self._lost_replace_urn = 0
        return True

    def _open_chain_below(self, order_id: int, urn: int) -> _Chain | None:
        """Return order ``order_id``'s chain if it is open here and ``urn`` is above every number it is known by (and
        not its Replace in flight): a number of it the adapter lost track of; else None."""
        chain = self._chains.get(order_id)
        if chain is None or chain.done or chain.order.order_id != order_id:
            return None
        if urn <= max(chain.cancel_targets()) or urn == chain.pending:
            return None
        return chain

    def _forgotten_replace_accepted(self, seq: int, urn: int, order_id: int) -> bool:
        """An Order Accepted names ``urn``, which the journal names for order ``order_id``, open here but not mapped.

        Every number of an order open here is mapped (its Enter's: the lowest, restored with the order), save a
        Replace's whose doubt the doubts file lost (its write failed before a restart, ouchmark59; or it could not
        be read): such a number, above every number the order is known by, was a Replace's, and a Replace is answered
        Replaced or Rejected, never Accepted (OUCH 5.0), so the venue never applied it and this is another host's
        Enter under a number the venue never used up (a standby numbering from its NextUserRefNum). Retired as
        ``_retire_replace`` retires one (``_foreign_refs``, on file): never canceled here, nor a later message naming
        it applied to the order (before, the restart took the Accepted for the order live at the venue after its
        end: it canceled the other host's order, ended the order Canceled while it was live at the venue, and
        applied the other host's fill to it; rev58merge9 MEDIUM 2). True: retired; False: not such a number.
        """
        chain = self._open_chain_below(order_id, urn)
        if chain is None:
            return False
        numbers = chain.cancel_targets()
        self._foreign_refs.add(urn)
        self._late_cancels.pop(urn, None)
        log.warning(
            "venue %s: Order Accepted at sequence %d names UserRefNum %d, the number of a replace of order %d (open "
            "here as UserRefNum %s) the doubts file does not hold (its write failed before a restart?): a replace is "
            "never answered Accepted: another host's Enter (left alone); the order stays live as UserRefNum %s",
            self.name,
            seq,
            urn,
            order_id,
            "/".join(str(number) for number in numbers),
            "/".join(str(number) for number in numbers),
        )
        self._save_doubts()
        return True

    def _adopt_forgotten(self, seq: int, urn: int, order_id: int, kind: int) -> bool:
        """Map ``urn``, which the journal names for order ``order_id``, if that order is open here; False: it is not.

        The adapter maps every number of an order open here, save one it lost track of: a Replace answered in doubt
        before a restart whose doubts file could not be written or read (``_restore_replace_doubts``), or sent
        after the number the journal knows the order by. Such a number, above every number the order is known by,
        is a Replace of it that the venue applied: it joins the candidates (a Cancel names it) and the message
        about it (a Replaced, a fill, a Canceled, a Modified) is acted on as for the order's own, so a late
        Replaced applies as one (fixouch54; before, it was taken as an order that ended here and canceled at the
        venue while the order stayed open here, its strategy never told: rev54ouch t11). A lower number is one a
        Replace retired: not live.
        """
        if urn in self._foreign_refs:  # a retired Replace's number: another host's order
            return False
        chain = self._open_chain_below(order_id, urn)
        if chain is None:
            return False
        numbers = chain.cancel_targets()
        self._refs[urn] = chain
        self._replace_refs.add(urn)
        chain.candidates = tuple(sorted({*numbers, urn}))
        chain.working = urn
        chain.in_doubt = True
        log.warning(
            "venue %s: %s at sequence %d names UserRefNum %d of order %d, which is open here under UserRefNum %s: a "
            "Replace of it the gateway lost track of (in doubt before a restart, its doubts file lost?) that the "
            "venue applied: the order is known by both numbers until the venue names the live one",
            self.name,
            outbound_name(kind),
            seq,
            urn,
            order_id,
            "/".join(str(number) for number in numbers),
        )
        return True

    def _earlier_traffic(self, seq: int, message: memoryview, urn: int) -> bool:
        """Drop a message of the day's earlier traffic (``_no_record``): another gateway's, not ours; True.

        The first one is logged at ERROR (the gateway cannot know the account's orders of the day); each is counted
        ``earlier_traffic``; none is applied, none asked for again (fixouch51: before, each was taken as a stream
        out of frame and the session logged in again ~3 times per message). Its ClOrdID is noted (``_earlier_id``).
        """
        kind = message[0]
        self._earlier_id(message)
        counters = self.counters
        if not counters["earlier_traffic"]:
            log.error(
                "venue %s: NO RECORD OF TODAY'S EARLIER TRAFFIC: session %r already carries messages about orders "
                "this gateway never sent (%s for UserRefNum %d at sequence %d) and neither the journal nor the "
                "UserRefNum store (%s) knows of them (a standby host taking over without the day's state?): they "
                "are counted (earlier_traffic), not applied; new UserRefNums start above the venue's "
                "NextUserRefNum. Reconcile the account's orders and executions of the day with the venue desk",
                self.name,
                self._session.session,
                outbound_name(kind),
                urn,
                seq,
                self._store.path,
            )
        if not self._query_refnums:  # ask the venue's NextUserRefNum after the replay, before sending anything
            self._query_refnums = True
            self._query_why = "the gateway has no record of today's earlier traffic on the account"
        counters["earlier_traffic"] += 1
        self._earlier_max = max(self._earlier_max, urn)
        self._earlier_seq = max(self._earlier_seq, seq)
        return True

    def _earlier_id(self, message: memoryview) -> None:
        """Note the ClOrdID a message of the day's earlier traffic carries (Accepted, Replaced, Rejected, Broken Trade).

        One of this gateway's form (the decimal order id, or ``Z`` + base 36) is a gateway order id another host
        entered today (the primary, before a standby host took over): new order ids start above it
        (``_end_no_record``), since OUCH 5.0's ClOrdID is the order's CAT identifier and the venue does not check
        it for uniqueness (standby53: before, the standby entered ClOrdIDs 1, 2... again). Any other form cannot
        collide with the gateway's and is only counted (logged with the floor).
        """
        at = _CL_ORD_ID_AT.get(message[0]) if message else None
        if at is None or len(message) < at + 14:
            return
        order_id = _order_id_of(bytes(message[at : at + 14]))
        if order_id:
            self._earlier_ids.add(order_id)
        else:
            self._earlier_foreign += 1

    def _never_issued(self, seq: int, kind: int, urn: int) -> bool:
        """Ask the venue again for message ``seq`` about UserRefNum ``urn``, never issued here; False: take it as is.

        OUCH 5.0 UserRefNums begin at 1 and only this gateway issues the account's numbers (the store's high water),
        so such a message was most likely framed wrongly (a truncated packet before it: its bytes read as this
        one's): not applied, the login asks for ``seq`` again (``SoupClientSession.refetch``, counted
        ``refetches``), at most ``max_refetches`` times in a row; then (``refetch_given_up``, ERROR) it is taken
        as today: not ours (``ref_never_issued``, ``unknown_user_ref_num``). Not while the store's high water is
        unknown (``_query_refnums``: its file was lost).
        """
        if not self.config.max_refetches or self._query_refnums:
            return False
        text = f"{outbound_name(kind)} for UserRefNum {urn}, never issued: the stream may be out of frame"
        if self._session.refetch(seq, text):
            return True
        self.counters["refetch_given_up"] += 1
        log.error(
            "venue %s: message at sequence %d named UserRefNum %d, never issued, %d times in a row: taken as not "
            "ours (refetch_given_up); reconcile with the venue desk",
            self.name,
            seq,
            urn,
            self._session.refetch_repeats,
        )
        return False

    def _others_possible(self) -> bool:
        """Return True if a number above the store's in this login's replay is another host's (``_other_host``).

        Not while the venue's NextUserRefNum is asked for another reason (the store's file lost: the journal's own
        numbers are above it; the session changed), unless such a number was seen already: that query floors the
        store all the same, and this host's own numbers would read as another host's.
        """
        return bool(self._other_max) or not self._query_refnums or self._store.ask

    def _other_host(self, seq: int, kind: int, urn: int, message: memoryview) -> None:
        """Note UserRefNum ``urn``, named in a login's replay above every number this host's store handed out.

        Only this gateway numbers its own Enters, from its store, so such a number in the replay (the session's
        messages while this host was away) is another host's on the account: the standby back after the primary
        traded again, a standby that passed the primary's next reserved block, two hosts with different
        ``user_ref_num_block``s. OUCH 5.0 2.2: the venue ignores an Enter not above every number of the day, so this
        host's next numbers (from its reservation on file) may be ones it ignores. The venue stays out of UP (new
        orders and replaces refused ``VENUE_UNAVAILABLE``) until the venue's NextUserRefNum, asked after the replay
        (Account Query), floors the store above it (``_end_no_record``; on file), or, unanswered, a margin above
        the highest named. Not a stream out of frame (no login again for it: before ouchfail58, 3 reconnects per
        message) and not applied (counted ``ref_other_host`` and unknown; logged at WARNING the first time per
        login). Put on file at once (``UserRefNumStore.mark_ask``: the owed query, a provisional floor ``urn`` plus
        ``unanswered_ref_margin``, and the highest ClOrdID of this gateway's form noted, this message's too), before
        anything later in the replay is journaled, and again only when a number comes within half that margin of the
        floor (a few writes per replay): a restart after a stop inside the query's wait, whose replay no longer shows
        these numbers, still numbers and names its orders above them (ouchfail58b). A write that fails leaves the mark
        in memory only (``_owed_mark_not_on_file``: ERROR once; the login goes on, cancels go out).
        """
        self.counters["ref_other_host"] += 1
        if not self._other_max:
            log.warning(
                "venue %s: the replay names UserRefNum %d (%s at sequence %d), above every number this host issued "
                "(%d): another host traded the account since (a failback?); its messages are counted "
                "(ref_other_host), not applied, and no new order goes out until the venue's NextUserRefNum "
                "(Account Query, after the replay) puts this host's UserRefNums above them",
                self.name,
                urn,
                outbound_name(kind),
                seq,
                self._store.last_issued,
            )
        self._other_max = max(self._other_max, urn)
        self._other_in_replay = max(self._other_in_replay, urn)
        if not self._query_refnums:
            self._query_refnums = True
            self._query_why = "the replay named UserRefNums of another host above this host's"
        store = self._store
        margin = unanswered_ref_margin(store.block)
        if not store.ask or urn + margin // 2 > store.counter.reserved:  # a write per half margin, not per message
            at = _CL_ORD_ID_AT.get(kind)
            order_id = _order_id_of(bytes(message[at : at + 14])) if at is not None and len(message) >= at + 14 else 0
            ids = max(self._earlier_ids, default=0)
            if store.mark_ask(urn, min(urn + margin, MAX_USER_REF_NUM), max(order_id, ids)):
                self._owed_mark_on_file()
            else:
                self._owed_mark_not_on_file(f"its replay names another host's UserRefNum {urn}")

    def _owed_mark_not_on_file(self, what: str) -> None:
        """The owed NextUserRefNum mark could not be written: it is in memory only; say what is at stake (per episode).

        ``mark_ask`` puts on file, before anything later in a login's replay is journaled, that the venue's
        NextUserRefNum is owed (another host's numbers, a replay gap). When the state file cannot be written the mark
        lives in memory only: this process still asks the Account Query and numbers above its answer, and every
        Cancel goes out as usual (the kill switch's too), but a stop or crash before a write lands restarts without
        the mark, below the other host's numbers (rev58merge7: its Enters ignored by the venue). The store's ``retry``
        (from ``poll``, once a second) posts the state, mark included, to its background writer. The episode ends
        when the file holds what a restart needs (a later mark's own write, the retry's, or the settled floor: the
        WARNING of ``_owed_mark_on_file``), or at the latest when any write of the store landed since (the state of
        its time on file): a mark that cannot be written after that is said again (rev60ouch MEDIUM 2: once per
        process before). ouchmark59 held the login instead (not UP until the write
        landed): that also kept every Cancel, the kill switch's included, from the venue while the disk was broken
        (rev59merge2 HIGH 2), so it was taken back (ouchmark59b).
        """
        store = self._store
        if self._mark_unwritten and store.writes == self._mark_writes:  # the same episode: said already
            return
        self._mark_unwritten = True
        self._mark_writes = store.writes
        log.error(
            "venue %s: cannot put on file in %s that the venue's NextUserRefNum is owed (%s): %s; it is kept in memory "
            "only: cancels go out, the login goes on; a stop or crash before the file is written restarts below "
            "another host's UserRefNums (its new orders ignored by the venue). To fix: free space on, or repair, the "
            "state directory %s; if the gateway must restart first, set reserved in that file to the venue's "
            "NextUserRefNum minus 1 (the venue desk has it)",
            self.name,
            store.path,
            what,
            store.error or "the write failed",
            store.path.parent,
        )

    def _owed_mark_on_file(self) -> None:
        """The file holds what a restart needs after ``_owed_mark_not_on_file``: say so (once), the episode ends.

        Called when a mark's own write lands (``mark_ask``), and from ``poll`` and the Account Query's answer (or
        its timeout) once the store's file holds it (``owed_on_file``): the store's ``retry`` wrote the mark, or the
        venue's NextUserRefNum settled it and the numbers above it are on file. The next mark that cannot be written
        is said at ERROR again (rev60ouch MEDIUM 2: the flag stayed set for the life of the process, so a second
        episode had no ERROR and no all-clear followed a mark the retry wrote).
        """
        if self._mark_unwritten:
            self._mark_unwritten = False
            store = self._store
            if store.ask:
                log.warning(
                    "venue %s: the venue's NextUserRefNum owed is on file in %s again: a restart asks it too",
                    self.name,
                    store.path,
                )
            else:
                log.warning(
                    "venue %s: the venue's NextUserRefNum owed is settled and the numbers above it are on file in %s "
                    "again: a restart numbers above it",
                    self.name,
                    store.path,
                )

    def _save_owed(self) -> None:
        """Write the Cancels owed to the venue to its file (fsynced); on an error log it (they still go out)."""
        store = self._store
        try:
            save_owed_cancels(self.config.state_dir, self.name, store.day, store.session, self._late_cancels)
        except OSError as exc:
            log.error(
                "venue %s: cannot write the Cancels owed to the venue (%d) to %s: %s; they go out, but a crash "
                "before the venue answers them would lose them: check the account's open orders with the venue desk",
                self.name,
                len(self._late_cancels),
                self.config.state_dir,
                exc,
            )

    def _replayed(self, seq: int, letter: str, urn: int, order_id: int) -> None:
        """Drop a message, numbered in the replay window, about a number no longer mapped whose order the journal names.

        A venue that restarted its numbering and replays the messages already applied (``_replay_window``) sends
        those of orders that ended here (released from memory, or ended before a restart) and of numbers a Replace
        retired (the order is open under its new one): the venue answered each of them before, so such a message
        is that answer again, not the venue working an order the gateway does not track (no ``live_after_end``, no
        Cancel). Counted ``replayed_after_renumbering``, logged at WARNING (1st, 2nd, 4th...). An Executed is not
        dropped here: the core drops a repeated Match Number.
        """
        self.counters["replayed_after_renumbering"] += 1
        self._rare(
            "replayed",
            "%s message at sequence %d for UserRefNum %d of order %d repeats one already applied (the venue restarted "
            "its numbering below the %d messages seen, but sends them again; the number is not mapped any more): "
            "not applied",
            letter,
            seq,
            urn,
            order_id,
            self._replay_upto,
        )

    def _after_end(self, seq: int, letter: str, urn: int, order_id: int) -> None:
        """Count a message about order ``order_id``, ended here, that has nothing to apply (not unknown)."""
        self.counters["after_end"] += 1
        self.after_end_by_type[letter] = self.after_end_by_type.get(letter, 0) + 1
        self._rare(
            "after_end",
            "%s message at sequence %d for UserRefNum %d of order %d, which ended here: nothing to apply",
            letter,
            seq,
            urn,
            order_id,
        )

    def _live_after_end(self, seq: int, what: str, urn: int, order_id: int, open_qty: int) -> None:
        """The venue shows order ``order_id`` live under ``urn`` though it ended here: cancel it at the venue now.

        Nothing may work at the venue that the gateway does not track (its fills would still be applied, late,
        but no strategy could cancel it). The Cancel Order names ``urn`` (quantity 0: everything open); sent now
        when the session is up, else as soon as it is, and again after each login until the venue answers it (a
        Canceled, AIQ Canceled or Executed taking the rest, a Cancel Pending or Cancel Reject; ``_late_cancels``).
        Logged at ERROR and counted (``counters["live_after_end"]``, metric
        ``gateway_venue_orders_live_after_end_total``) once per number.
        """
        waiting = self._late_cancels.get(urn)
        if waiting is not None:  # already being canceled: the venue said more about it (a Restated ...)
            if open_qty >= 0 and waiting[1] != open_qty:
                waiting[1] = open_qty
                self._save_owed()
            return
        self._late_cancels[urn] = [order_id, open_qty]
        self._save_owed()  # on file before the Cancel goes out and before anything of this message is journaled
        self.counters["live_after_end"] += 1
        log.error(
            "venue %s: %s at sequence %d shows order %d live at the venue as UserRefNum %d%s, but the order ended "
            "here: canceling it at the venue (Cancel Order of UserRefNum %d)",
            self.name,
            what,
            seq,
            order_id,
            urn,
            f" ({open_qty} shares open)" if open_qty >= 0 else "",
            urn,
        )
        if self._live:
            pack_cancel_order(self._session.out, urn, 0)

    def _late_execution(self, seq: int, order_id: int, message: OrderExecuted) -> None:
        """Pass on an Executed for a UserRefNum no longer mapped here, of order ``order_id`` (``_ended_order``).

        The fill goes to the core as a ``VenueExecuted`` (its Match Number the execution id), which applies it to
        the order's position (from memory or from the journal) and catches a repeated Match Number there
        (``counters["executions_after_end"]``).
        """
        if message.quantity > _MAX_QTY or message.price > _MAX_PRICE:
            self._out_of_range(seq, "Order Executed", message.quantity, message.price)
            return
        waiting = self._late_cancels.get(message.user_ref_num)
        if waiting is not None and waiting[1] >= 0:  # being canceled at the venue: what is left open
            waiting[1] -= message.quantity
            if waiting[1] <= 0:
                del self._late_cancels[message.user_ref_num]
            self._save_owed()
        self.counters["executions_after_end"] += 1
        self.event_sink(
            VenueExecuted(
                seq, order_id, message.quantity, message.price, message.liquidity_flag, str(message.match_number)
            )
        )

    def _fixed_part(self, sequence: int, message: memoryview, error: DecodeError) -> Any:
        """Return a message about an order whose appendage alone is malformed, decoded from its fields; None if not.

        Its fields (UserRefNum, quantity, price, Match Number) are intact: a fill is money and is not lost. The
        message is acted on as if it had no appendage, counted a protocol error and logged at ERROR (the first
        of each type always, then the 2nd, 4th, 8th...). None: the fields cannot be read either
        (``_undecodable`` has counted and logged it).
        """
        if self._refetch(sequence, message, error):
            return None
        decoded = self._salvaged(sequence, message, error)
        if decoded is None:
            self._undecodable(sequence, message, error)
            return None
        if isinstance(decoded, OrderAccepted):  # in the form of the Accepted hot path (``accepted_core``)
            return (
                decoded.user_ref_num,
                decoded.quantity,
                decoded.price,
                decoded.order_reference_number,
                decoded.order_state,
            )
        return decoded

    def _salvaged(self, sequence: int, message: memoryview, error: DecodeError) -> Any:
        """Decode the fields of ``message`` before its Appendage Length; count and log it (None: they do not decode)."""
        decoded = decode_fixed_part(message)
        if type(decoded) is DecodeError:
            return None
        if sequence == self._salvaged_sequence:  # the same held message tried again: counted and logged once
            return decoded
        self._salvaged_sequence = sequence
        self.counters["protocol_errors"] += 1
        named = ", ".join(
            f"{label} {getattr(decoded, field)}" for field, label in _NAMED_FIELDS if hasattr(decoded, field)
        )
        self._rare_log.log(
            "appendage " + chr(message[0]),
            logging.ERROR,
            "venue %s: %s at sequence %d with a malformed appendage (%s): acted on without it: %s",
            self.name,
            outbound_name(message[0]),
            sequence,
            error.text,
            named,
        )
        return decoded

    def _refetch(self, sequence: int, message: memoryview, error: DecodeError) -> bool:
        """Ask the venue again for message ``sequence`` that does not decode as its type says; False: take it as lost.

        A wrong length for the type, an appendage that does not add up or an unknown type means the packet was
        framed wrongly (its Packet Length lied, so it may hold the next message, or lack its own end): it is not
        applied, the connection drops and the login asks for ``sequence`` (``SoupClientSession.refetch``; the
        exactly-once high water goes back below it, so the venue's resend is new). Each is counted
        (``refetches``) and logged at ERROR. After ``max_refetches`` failures of the same number in a row it is
        taken as lost as before (``refetch_given_up``): salvaged if its fields read, otherwise in doubt.
        """
        if error.kind not in _OUT_OF_FRAME or not self.config.max_refetches:  # a field's value: sent alike again
            return False
        text = error.text if message else "an empty message"
        if self._session.refetch(sequence, text):
            return True
        self.counters["refetch_given_up"] += 1
        log.error(
            "venue %s: message at sequence %d could not be read %d times in a row (%s): taken as lost "
            "(refetch_given_up); reconcile with the venue desk",
            self.name,
            sequence,
            self._session.refetch_repeats,
            text,
        )
        return False

    def on_refetch(self, sequence: int, text: str) -> None:
        """The session asks for ``sequence`` again: it and every later message are not applied (admitted again)."""
        self.counters["refetches"] += 1
        sequencer = self.sequence
        if sequencer.high_water >= sequence:
            sequencer.high_water = sequence - 1
        held = self._held
        while held and held[-1][0] >= sequence:
            held.pop()
        log.error(
            "venue %s: SoupBinTCP sequenced message %d could not be read (%s): not applied; dropping the connection "
            "to log in again from %d (try %d of %d)",
            self.name,
            sequence,
            text,
            sequence,
            self._session.refetch_repeats,
            self._session.config.max_refetches,
        )

    def _undecodable(self, sequence: int, message: memoryview, error: DecodeError) -> None:
        """Count a message about an order that does not decode; if it answers a request, that request is in doubt.

        The UserRefNum sits at a fixed offset: when it names an Enter or Replace still waiting, the venue has
        processed that request (this is its answer), so it gets one answer now (``_in_doubt``) and later
        messages for the order are delivered. When the UserRefNum cannot be read the message may have
        answered anything: requests still unanswered at the next login are in doubt.
        """
        self._decode_error(sequence, error)
        offset = _URN_OFFSET[message[0]]
        if len(message) < offset + 4:
            if self._inflight:  # it may have answered one of them: they are in doubt at the next login
                self._answers_lost = True
            return
        urn = int.from_bytes(message[offset : offset + 4], "big")
        chain = self._refs.get(urn)
        if chain is not None and not chain.done and urn in self._inflight:
            if message[0] == ord("J") and len(message) >= offset + 6:
                # A Rejected whose type, UserRefNum and reason can be read: the request did not take effect
                reason = int.from_bytes(message[offset + 4 : offset + 6], "big")
                code, text = _REJECT_CODES.get(reason) or (f"0x{reason:04X}", reject_text(reason))
                text = f"{text} (the Rejected message did not decode: {error.text})"
                self._rejected(sequence, chain, urn, code, text)
                return
            self._unreadable_answer(
                sequence, chain, urn, f"its answer ({chr(message[0])}) could not be decoded: {error.text}"
            )

    def _unreadable_answer(self, seq: int, chain: _Chain, urn: int, why: str) -> None:
        """Answer the Enter or Replace ``urn`` whose answer arrived but cannot be read (``_in_doubt``), and bound it.

        A Replace is answered CancelRejected "OUCH_IN_DOUBT" (on file: ``_note_replace_doubt``). An Enter is taken as
        accepted and gets what every other Enter in doubt gets (ouch55; before, no Cancel and no bound: one the venue
        had rejected, or whose Accepted was for another order, stayed open here until End of Session, a Cancel of it
        ignored by the venue and never answered): on file before its answer reaches the core (``_save_doubts``), a
        Cancel Order by its UserRefNum (now when live, else once the login's replay is read: ``_go_live``), and
        ``Canceled`` "OUCH_OUTCOME_UNKNOWN" if the venue names it in no message ``answer_timeout_ms`` after that
        Cancel (``_sweep_doubts``), also across a restart.
        """
        if urn in self._replace_refs:
            self._kept_replace_doubts.add(urn)  # the venue answered it: never retired for want of a message
            self._pre_note_replace_doubt(chain, urn)  # on file at the read's end (``_doubts_write_due``)
            self._doubts_write_due()
            self._in_doubt(seq, chain, urn, why)
            return
        live = self._live
        self._doubt_cancels[urn] = self._clock() if live else 0
        self._unreadable_doubts.add(urn)
        self._pre_note_replace_doubt(chain, chain.pending)  # a Replace waiting on it: in the same write
        # on file at the read's end, once for all the read's answers that could not be read (ouch56; before, one
        # fsynced write each), before the core journals them; the Enter's bytes stay in ``_doubted`` for the write
        self._doubts_write_due()
        self._in_doubt(seq, chain, urn, why)
        if live and (urn | _CANCEL_KEY) not in self._inflight:  # the desk's own Cancel, if asked, is on its way
            pack_cancel_order(self._session.out, urn, 0)
            log.error(
                "venue %s: new order %d (UserRefNum %d), taken as accepted in doubt (its answer could not be read), is "
                "canceled there by its UserRefNum, so the venue's Canceled or fills settle it; if the venue still says "
                "nothing of it %d ms after that Cancel it ends here (OUCH_OUTCOME_UNKNOWN)",
                self.name,
                chain.order.order_id,
                urn,
                self._answer_timeout_ns // MS,
            )

    def _in_doubt(self, seq: int, chain: _Chain, urn: int, why: str, *, logged: bool = True) -> None:
        """Answer the Enter or Replace ``urn`` the venue may have processed though its answer cannot be read.

        An Enter is taken as accepted (the order's own size and price; no venue order id), so fills for it
        reach the strategy; a Replace gets VenueCancelRejected "OUCH_IN_DOUBT" and both numbers stay
        candidates: a Cancel names each until a Replaced message settles it. Never "not received".
        """
        sent = self._inflight.pop(urn, None)
        self.counters["in_doubt"] += 1
        order = chain.order
        if urn in self._replace_refs:
            self._note_replace_doubt(chain, urn, sent)  # on file before its answer is journaled (fixouch54)
            if chain.pending == urn:
                chain.pending = 0
            chain.candidates = tuple(sorted({*chain.cancel_targets(), urn}))
            chain.working = urn
            chain.in_doubt = True
            if logged:  # else the caller logs the lot in one line
                log.error(
                    "venue %s: replace of order %d (UserRefNum %d) in doubt: %s; it may be at the old or the new size "
                    "and price at the venue (the strategy gets CancelRejected %s; a cancel names UserRefNums %s; "
                    "replaces are refused until a message of the venue names the live number)",
                    self.name,
                    order.order_id,
                    urn,
                    why,
                    _IN_DOUBT,
                    chain.candidates,
                )
            self._emit(VenueCancelRejected(seq, order.order_id, _IN_DOUBT, f"replace in doubt: {why}"))
            self._answer_pending_replace(seq, chain)
            return
        chain.unconfirmed = urn
        if sent is not None:  # its late Accepted is compared with it (``_on_accepted``)
            doubted = self._doubted
            if len(doubted) >= self._doubted_prune_at:  # drop those of orders that ended meanwhile
                refs = self._refs
                for number in [n for n in doubted if (c := refs.get(n)) is None or c.done]:
                    del doubted[number]
                # next scan when the map has doubled: each entry is scanned O(1) times on average, also while none
                # of them ends (a stuck venue: thousands of Enters unanswered at once; rev53diff's quadratic case)
                self._doubted_prune_at = max(_DOUBTED_PRUNE_MIN, 2 * len(doubted))
            doubted[urn] = sent
        if logged:  # else the caller logs the lot in one line
            log.error(
                "venue %s: new order %d (UserRefNum %d) in doubt: %s; taken as accepted at its own size and price "
                "(replaces are refused until a message of the venue names it)",
                self.name,
                order.order_id,
                urn,
                why,
            )
        self._emit(VenueAccepted(seq, order.order_id, "", order.qty, order.price))
        self._answer_pending_replace(seq, chain)

    def _answer_pending_replace(self, seq: int, chain: _Chain) -> None:
        """Answer a Replace of ``chain`` still unanswered now that the order's live number is in doubt.

        It names a number the venue may not have live: the venue may ignore it and never answer, so it gets
        CancelRejected "OUCH_IN_DOUBT" now and is not sent again; its number joins the candidates a Cancel
        names (the venue may yet process it: a Replaced then settles the order).
        """
        pending = chain.pending
        packet = self._inflight.pop(pending, None) if pending else None
        if packet is None:
            return
        self._note_replace_doubt(chain, pending, packet)  # on file before its answer is journaled (fixouch54)
        chain.pending = 0
        chain.candidates = tuple(sorted({*chain.cancel_targets(), pending}))
        chain.in_doubt = True
        self.counters["in_doubt"] += 1
        log.error(
            "venue %s: replace of order %d (UserRefNum %d) in doubt: it names a UserRefNum that is in doubt "
            "(a cancel names UserRefNums %s)",
            self.name,
            chain.order.order_id,
            pending,
            chain.candidates,
        )
        self._emit(
            VenueCancelRejected(
                seq, chain.order.order_id, _IN_DOUBT, "replace in doubt: it names a UserRefNum that is in doubt"
            )
        )

    def _settle(self, seq: int, chain: _Chain, urn: int) -> None:
        """A message of the venue named ``urn`` for an order whose live number was in doubt: ``urn`` is live.

        It proves ``urn`` live when the venue sent it and every lower number of the order retired (the venue gives a
        Replace's number to the order only by applying it). It proves nothing of a Replace to a higher number: the
        venue may still apply it (OUCH 5.0 4 "Order Replaced": an execution of the original in flight carries the
        original's number and comes before the Replaced; a supervisory cut of the original may come before it too), so
        those numbers stay candidates a Cancel names and Replaces stay refused (ouchdoubt58; before, such a message
        settled the doubt on the old number: a Cancel then named it alone, the venue applied the Replace and ignored
        that Cancel, never answered, and a fill naming the Replace's number was applied at the old terms). Only when
        ``urn`` is the highest candidate is the doubt settled: Cancels sent to the other candidates are not waited for
        any more (the venue ignores them); replaces go out again. When ``urn`` is the number of a Replace answered in
        doubt (``_replace_terms``), that Replace took effect: the order takes its terms first, as from a late Replaced
        (``_doubted_replace_applied``), and the message is then applied to them (ouchdoubt57; before, a fill or
        Canceled naming it was applied against the old size and price: the order could end here while the venue still
        held shares of it live). The old order's end (a fill or Canceled of all it has open) ends the doubt with the
        order (``_finish``): a Replace of a number no longer live is ignored by the venue.
        """
        if urn != chain.unconfirmed and urn not in chain.candidates:
            return
        chain.unconfirmed = 0  # the venue has the Enter (it names the order)
        terms = self._replace_terms
        candidates = chain.candidates
        if candidates:
            above = tuple(number for number in candidates if number > urn)
            retired = [number for number in candidates if number < urn]
            canceling = False
            for number in retired:  # replaced at the venue: a Cancel of it is ignored, its Replace's terms are past
                canceling = self._inflight.pop(number | _CANCEL_KEY, None) is not None or canceling
                terms.pop(number, None)
            if above:  # a Replace to ``above`` may still take effect: still in doubt (Replaces refused)
                chain.candidates = (urn, *above)
                if retired:
                    log.warning(
                        "venue %s: order %d is live at the venue as UserRefNum %d, or as %s should the venue still "
                        "apply its replace (a cancel names UserRefNums %s; replaces stay refused until a message of "
                        "the venue names the live number)",
                        self.name,
                        chain.order.order_id,
                        urn,
                        above,
                        chain.candidates,
                    )
            else:
                chain.candidates = ()
                chain.working = urn
                log.warning(
                    "venue %s: order %d is live at the venue as UserRefNum %d (its doubt is settled)",
                    self.name,
                    chain.order.order_id,
                    urn,
                )
            if canceling and not chain.done and (urn | _CANCEL_KEY) not in self._inflight:
                self._cancel_again(chain, urn)  # those Cancels went out after the Replace to ``urn``: ignored there
        else:
            above = ()
            chain.working = urn
            log.warning(
                "venue %s: order %d is live at the venue as UserRefNum %d (its doubt is settled)",
                self.name,
                chain.order.order_id,
                urn,
            )
        applied = terms.pop(urn, None)
        if chain.order.venue_ref == str(urn):  # the core knows the order by ``urn`` already (its terms with it)
            return
        if applied is not None:
            self._doubted_replace_applied(seq, chain, urn, applied)
            if above:  # a later Replace of it may still take effect: the core's terms may change again
                chain.in_doubt = True
        elif urn in self._replace_doubts:  # on file by a gateway before ouchdoubt57: its terms were not kept
            log.error(
                "venue %s: a message names UserRefNum %d of order %d, a replace answered in doubt: the venue applied "
                "it, but its terms are not known here (the doubts file predates them): the order keeps its old size "
                "and price; check the order with the venue desk",
                self.name,
                urn,
                chain.order.order_id,
            )

    def _foreign_after_end(self, seq: int, urn: int) -> None:
        """An Order Accepted (sequence ``seq``) names ``urn``, the number of a Replace left unanswered when its order
        ended (``_replace_only``): a Replace is answered Replaced or Rejected, never Accepted, so this is another
        host's Enter under a number the venue never used up (OUCH 5.0 2.2): never canceled here, nor any later
        message naming it applied to the order (``_foreign_refs``, on file before anything later is journaled).
        """
        self._replace_only.discard(urn)
        self._foreign_refs.add(urn)
        self._late_cancels.pop(urn, None)
        log.warning(
            "venue %s: UserRefNum %d, the number of a replace left unanswered when its order ended, is not the "
            "order's: an Order Accepted (sequence %d) names it: another host's Enter (left alone)",
            self.name,
            urn,
            seq,
        )
        self._save_doubts()

    def _retire_replace(self, chain: _Chain, urn: int, why: str) -> None:
        """``urn``, the number of a Replace of ``chain`` answered OUCH_IN_DOUBT, is not the order's: the venue did not
        apply that Replace (``why``); the order stays live under its other numbers (rev58merge3 HIGH 1, MEDIUM 3).

        OUCH 5.0: a Replace is answered Replaced or Rejected, never Accepted, and one the venue never received does not
        use up its number, so another host on the account may enter an order under it (a standby numbering from the
        venue's NextUserRefNum). The number leaves the order's candidates (a Cancel no longer names it: it would cancel
        that other order), its terms and Cancel are dropped, it is unmapped for good (a later message naming it is
        not this order's: counted unknown) and the doubts file is written again without it. When one number is left
        the doubt is settled on it: Replaces go out again.
        """
        self._inflight.pop(urn | _CANCEL_KEY, None)  # the venue ignores it, or cancels another host's order
        self._replace_terms.pop(urn, None)
        if self._refs.get(urn) is chain:
            del self._refs[urn]
        self._replace_refs.discard(urn)
        self._foreign_refs.add(urn)
        self._kept_replace_doubts.discard(urn)
        self._unlost_replace_doubts.discard(urn)
        remaining = tuple(number for number in chain.candidates if number != urn)
        chain.working = remaining[-1]
        chain.candidates = remaining if len(remaining) > 1 else ()
        if not chain.candidates:
            chain.in_doubt = False
        log.warning(
            "venue %s: order %d: UserRefNum %d, its replace answered in doubt, is not the order's: %s; the venue did "
            "not apply that replace: the order is live as UserRefNum %s%s",
            self.name,
            chain.order.order_id,
            urn,
            why,
            "/".join(str(number) for number in remaining),
            " (its doubt is settled: replaces go out again)" if not chain.candidates else "",
        )
        self._save_doubts()  # without it: a restart does not make it a candidate again

    def _replay_named_no_replace(self, next_user_ref_num: int | None) -> None:
        """After a login's replay: settle the Replaces answered in doubt the venue never took (rev58merge3 MEDIUM 3).

        Each was sent on an earlier connection (one in doubt is never sent again). OUCH 5.0 2.2: a Replace the venue
        applies or rejects uses up its number, one it ignores (or never received) does not; a Replace it processes is
        answered in the sequenced stream (Replaced, Rejected; Canceled of the original for invalid details). A number
        at or above the venue's NextUserRefNum (its Account Query answer, sequenced after everything it sent) that no
        message up to the replay's end (read in full: no REPLAY GAP) named was never taken: the Replace did not take
        effect, its connection is gone, and the number is not the order's (``_retire_replace``). A message naming it
        would have settled the doubt on it (``_settle``: the lower numbers retire), so every candidate above the
        lowest is one no message named. Kept in doubt: after a replay gap (a message naming it may be in it; one the
        venue took may also be another host's order's, which ``_taken_in_gap`` says at ERROR), a Replace whose answer
        did not decode (``_kept_replace_doubts``), a number the venue took (a slow venue may
        still answer it), and when the Account Query went unanswered. A number the venue took is retired all the same
        when the replay named a higher number of another host (``_other_in_replay``: a standby that numbered from the
        venue's NextUserRefNum plus a margin, a failback; ouchmark59, rev58merge8 MEDIUM 4): UserRefNums strictly
        increase on the account and the venue silently ignores a request numbered below the last it processed, so the
        Replace either was processed before that number (then answered before it, in this replay read in full) or
        is ignored; it was the other host's Enter that took the venue's number past it (before, the doubt never
        ended: every Replace of the order refused ``OUCH_IN_DOUBT`` for the rest of the day). Only a Replace put in
        doubt while no message of the venue was lost (``_unlost_replace_doubts``): one put in doubt at a gap login,
        or restored at a restart, may have had its answer lost (the venue applied it), so it stays (rev59merge2 HIGH 1).
        """
        above = self._other_in_replay
        answered = next_user_ref_num is not None
        if next_user_ref_num is None:
            if not above:
                return
            next_user_ref_num = MAX_USER_REF_NUM + 1  # unanswered: only a higher number named retires one
        gaps = self._session.gaps
        refs = self._refs
        if gaps != self._gaps_judged:
            self._gaps_judged = gaps
            kept = [urn for urn in self._replace_doubts if self._replace_doubt_open(urn)]
            self._kept_replace_doubts.update(kept)
            taken = [urn for urn in kept if urn < next_user_ref_num and self._above_lowest(urn)]
            if taken:
                self._taken_in_gap(taken, next_user_ref_num)
                kept = [urn for urn in kept if urn not in taken]
            if kept:
                log.warning(
                    "venue %s: replaces answered in doubt (UserRefNums %s) stay in doubt: the replay had a gap, so a "
                    "message of the venue naming them may be lost (a cancel names them; replaces of their orders stay "
                    "refused until a message of the venue names the live number)",
                    self.name,
                    kept,
                )
            return
        kept_doubts = self._kept_replace_doubts
        for urn in list(self._replace_doubts):
            chain = refs.get(urn)
            if (
                chain is None
                or chain.done
                or urn in kept_doubts
                or urn not in chain.candidates
                or urn == chain.candidates[0]
                # taken, by no number named above it (whose is unknown), or its answer may have been lost (an earlier
                # login's gap: the venue may have applied it, rev59merge2 HIGH 1)
                or (urn < next_user_ref_num and (urn >= above or urn not in self._unlost_replace_doubts))
            ):
                if answered and chain is not None and urn < next_user_ref_num:
                    self._taken_replace_doubts.add(urn)
                continue
            if urn < next_user_ref_num:  # another host's higher number in the replay: 2 can no longer be taken
                why = (
                    f"this login's replay names UserRefNum {above} of another host, above it, and no message of the "
                    "venue named it up to the replay's end: UserRefNums strictly increase, so the venue ignores it now "
                    "and would have answered it before that one"
                )
            else:
                why = (
                    f"the venue never took it (its NextUserRefNum is {next_user_ref_num}) and no message of the venue "
                    "named it up to the end of this login's replay"
                )
            self._retire_replace(chain, urn, why)

    def _above_lowest(self, urn: int) -> bool:
        """Whether ``urn``, a Replace answered in doubt, is still a candidate of its open order above the lowest."""
        chain = self._refs.get(urn)
        if chain is None or chain.done:
            return False
        candidates = chain.candidates
        return urn in candidates and urn != candidates[0]

    def _taken_in_gap(self, taken: list[int], next_user_ref_num: int) -> None:
        """Say which Replaces answered in doubt had their numbers taken by the venue behind a replay gap; they stay in
        doubt (``_kept_replace_doubts``), and the order ids start a margin above.

        Their answers, if the venue processed them, are in the gap; but a Replace the venue never received does not
        use up its number (OUCH 5.0 2.2), so another host on the account (a standby that took over while this one
        was away: a failback) may have entered its own order under it, its Accepted lost in the same gap. Whose the
        number is cannot be told: a fill or Canceled naming it carries no ClOrdID, and OUCH has no order query. The
        doubt stays: a Cancel of the order names both numbers, and the first message naming this one settles it as
        the order's (the Replace applied), which is right when no other host traded the account (the more common
        case: a slow venue, a gap at a re-login). ouchrep59 retired the number instead (fail closed against the
        other host); that dropped this host's own fills and left its order live at the venue, untracked, with a
        Cancel never answered (rev59merge8 HIGH 2), so it was taken back (ouchgap59): the ERROR says what the
        operator checks with the venue desk. The other host's ClOrdIDs may be in the gap too: that host numbered
        them above the last ClOrdID it saw of this host's, so new order ids start ``UNSEEN_ORDER_ID_MARGIN`` above the
        highest this host issued (``order_ids_issued``: the engine's, a restart's floor included; the store's floor),
        written to the store's file, and none of them is entered again. Before (rev60ouch MEDIUM 3), the margin was
        taken above the highest order still open here: after an earlier jump the same day (an earlier gap, an unclean
        stop's skip) that was below the ids already issued, the margin did nothing and the other host's next ClOrdID
        went out again.
        """
        raise_ids = self.order_ids_above
        if raise_ids is not None:  # that host's ClOrdIDs, if any, are in the gap: new order ids start a margin above
            issued = self.order_ids_issued
            highest = max(max(self._chains, default=0), self._store.order_ids, issued() if issued is not None else 0)
            floor = raise_ids((highest + UNSEEN_ORDER_ID_MARGIN,))
            if floor:
                self._store.floor(0, floor)
        said = (  # unanswered: the caller passes a number above any (rev59merge4 LOW 3: it was printed)
            f"NextUserRefNum {next_user_ref_num}"
            if next_user_ref_num <= MAX_USER_REF_NUM
            else "the Account Query unanswered; the replay named a higher number of another host"
        )
        for urn in taken:
            chain = self._refs.get(urn)
            if chain is None:
                continue
            order_id = chain.order.order_id
            log.error(
                "venue %s: order %d: UserRefNum %d, its replace answered in doubt, may have been taken by the venue "
                "behind a replay gap (%s), by that replace (applied: the order is live there as UserRefNum %d) or by "
                "another host's Enter (a failback: that host's order), which OUCH cannot tell; it stays in doubt: a "
                "Cancel of the order names UserRefNums %s, and the first message naming %d is taken as the order's "
                "(the replace applied): check with the venue desk whose order UserRefNum %d is: if another host's, "
                "its fills reach order %d here and a Cancel of order %d cancels that host's order too",
                self.name,
                order_id,
                urn,
                said,
                urn,
                "/".join(str(number) for number in chain.cancel_targets()),
                urn,
                urn,
                order_id,
                order_id,
            )

    def _cancel_again(self, chain: _Chain, urn: int) -> None:
        """Send the order's Cancel again, to ``urn``: the venue just named it live, after the Cancel went out.

        The Cancel went to numbers the venue had replaced (a Replace in doubt it applied after all): it ignores a
        Cancel of a number not live ("superfluous cancels are silently ignored"), so that Cancel would never be
        answered (rev58ouch HIGH 1). Sent to ``urn`` even if it went there too: a venue may have taken that one before
        the Replace (a number it did not know yet); a second Cancel of a live order is ignored as superfluous.
        """
        buf = self._session.out
        start = len(buf)
        pack_cancel_order(buf, urn, 0)
        self._keep(urn | _CANCEL_KEY, buf, start)
        log.warning(
            "venue %s: order %d: its cancel went out before the venue named UserRefNum %d live (the venue ignores a "
            "Cancel of a number it has replaced, or does not know yet): sent again to UserRefNum %d",
            self.name,
            chain.order.order_id,
            urn,
            urn,
        )

    def _doubted_replace_applied(self, seq: int, chain: _Chain, urn: int, terms: tuple[int, int]) -> None:
        """A message naming ``urn``, the number of a Replace answered OUCH_IN_DOUBT, shows it took effect: apply it.

        The venue consumes a Replace's number only by applying it (or rejecting it: then no message names the order
        by that number), so the order is at the Replace's terms: total ``quantity`` (executions included), ``price``.
        As for a late Replaced (``_replaced_after_reject``): the core takes the new quantity, price and number
        (``VenueReplaced.late_qty``), the strategy gets ``Replaced`` after its ``CancelRejected``, risk's exposure
        follows; counted ``replaced_after_reject``, WARNING. The message naming it is applied next, to those terms.
        A Replace whose Quantity is not above what executed here would have canceled the order at the venue: nothing
        is applied (logged at ERROR), the message goes on against the old terms.
        """
        quantity, price = terms
        order = chain.order
        leaves = quantity - order.cum_qty
        if leaves <= 0:
            log.error(
                "venue %s: a message names UserRefNum %d of order %d, a replace answered in doubt to %d shares at %s, "
                "but %d shares executed here already: its terms are not applied (the order keeps %d open at %s); "
                "check the order with the venue desk",
                self.name,
                urn,
                order.order_id,
                quantity,
                price_text(price),
                order.cum_qty,
                order.leaves_qty,
                price_text(order.price),
            )
            return
        self.counters["replaced_after_reject"] += 1
        chain.in_doubt = False
        chain.open_qty = leaves
        log.warning(
            "venue %s: a message of the venue names UserRefNum %d of order %d, a replace answered in doubt "
            "(CancelRejected OUCH_IN_DOUBT: its outcome was unknown): the venue applied it, %d shares open at %s; the "
            "doubt is settled: the order takes the new terms and the strategy is told (Replaced after its "
            "CancelRejected), then the message is applied",
            self.name,
            urn,
            order.order_id,
            leaves,
            price_text(price),
        )
        self.event_sink(VenueReplaced(seq, order.order_id, leaves, price, "", late_qty=quantity, late_ref=str(urn)))

    def _not_about_an_order(self, sequence: int, message: memoryview) -> None:
        """Decode a message that names no order to act on: handle, count or (rarely) log it."""
        decoded = OUTBOUND_DECODERS[message[0]](message) if message and message[0] in OUTBOUND_DECODERS else None
        if isinstance(decoded, DecodeError):
            error = decoded
            if self._refetch(sequence, message, error):
                return
            decoded = self._salvaged(sequence, message, error)
            if decoded is None:
                self._decode_error(sequence, error)
                return
        if decoded is None:
            error = DecodeError("type", f"unknown outbound message {bytes(message[:1])!r}")
            if not self._refetch(sequence, message, error):
                self._decode_error(sequence, error)
        else:
            handler = self._without_order.get(message[0])
            if self._no_record:  # the day's earlier traffic: its numbers too (a Mass Cancel, Disable, Enable response)
                urn = getattr(decoded, "user_ref_num", 0)
                if urn and handler is None:
                    self._earlier_traffic(sequence, message, urn)
                    return
                if urn:
                    self._earlier_max = max(self._earlier_max, urn)
                    self._earlier_id(message)  # a Broken Trade's ClOrdID
            elif self._replaying and self._others_possible():  # another host's numbers (a Broken Trade, ...)
                urn = getattr(decoded, "user_ref_num", 0)
                if urn > self._store.last_issued:
                    self._other_host(sequence, message[0], urn, message)
            if handler is not None:
                handler(sequence, decoded)
            else:
                self._ignore(chr(message[0]), sequence, decoded)

    def on_end_of_session(self) -> None:
        """End of Session: ENDED, no reconnect; requests still unanswered never will be (answered with rejects).

        The core first hands ``after_session_end`` the requests the adapter holds no packet for;
        ``_forget_session`` then answers those it holds.
        """
        if self._held:  # they may answer requests: acted on before the rest are answered
            self._read_held(unbounded=True)
        self._store.mark_session_closed()  # a restart the same day does not log in again (ouchend56)
        log.warning(
            "venue %s: End of Session (SoupBinTCP Z) in session %r: ENDED, not reconnecting today; cancels are refused "
            "VENUE_SESSION_ENDED",
            self.name,
            self._session.session,
        )
        self._set_state(VenueState.ENDED, "end of session")
        if self._inflight:
            self._forget_session(_SESSION_ENDED_TEXT, _SESSION_ENDED)
        if self._cancels_reported:  # answered before it (no sweep runs from now on): their all-clear
            self._cancels_answered(self._clock(), everything=True)

    def after_session_end(self, unanswered: list[UnansweredRequest]) -> None:
        """Answer each request the core lists unanswered that ``_forget_session`` will not (no packet held).

        E.g. a new order the core lists that this adapter never sent: it would stay unanswered for
        ever. A new order gets VenueRejected (its Cancel, if held, goes with it); a cancel or replace
        VenueCancelRejected. Runs inside ``_set_state``, before
        ``_forget_session``; requests it holds a packet for are left to that.
        """
        inflight = self._inflight
        for request in unanswered:
            if request.order.is_terminal:  # its new order was just answered: its Cancel is over too
                continue
            order_id = request.order.order_id
            chain = self._chains.get(order_id)
            if request.kind is RequestKind.CANCEL:
                targets = chain.cancel_targets() if chain is not None else ()
                if any(number | _CANCEL_KEY in inflight for number in targets):
                    continue
                self._emit(VenueCancelRejected(0, order_id, _SESSION_ENDED, _SESSION_ENDED_TEXT))
                continue
            key = _ref_key(request.venue_ref)
            if chain is not None and key in inflight:
                continue
            if request.kind is RequestKind.NEW:
                if chain is not None:
                    self._finish(chain)
                self._emit(VenueRejected(0, order_id, _SESSION_ENDED, _SESSION_ENDED_TEXT))
            else:
                if chain is not None and chain.pending == key:
                    chain.pending = 0
                self._emit(VenueCancelRejected(0, order_id, _SESSION_ENDED, _SESSION_ENDED_TEXT))

    def on_disconnect_wanted(self, reason: str) -> None:
        """Close the transport (timeout, protocol violation, end of session) at the core's next flush.

        Not here: bytes the core queued earlier in the same read must reach the journal before the
        wire, and the core's flush (which follows every read and timer) journals first. While the engine holds
        this venue's bytes (the journal failing) that flush writes nothing: the close happens here, now, and what
        is held is dropped (``_close_held``).
        """
        log.info("venue %s: disconnecting: %s", self.name, reason)
        self._close_pending = True
        if self._output_held:
            self._close_held()

    def _close_held(self) -> None:
        """Close the connection now, dropping the bytes the engine holds for it (fixhold55).

        The session wants its connection closed (the venue silent past ``server_timeout_ms``, a protocol error, End
        of Session) while the engine holds this venue's bytes (``hold_output``: the journal cannot be written).
        Before, the close waited for the engine's venue flush, which the hold skips: the dead session stayed UP for
        the whole spell, and at the journal's return the held requests were written into it before it closed. What
        was held never leaves, on this connection or a later one (``connection_lost`` drops unsent bytes, as
        on any cut); every request in it is kept until the venue answers it (``_inflight``) and is settled after the
        next login like one lost in a cut (``_resolve_unanswered``): the venue's NextUserRefNum shows it never had
        its number, so it is sent again under it (an Enter of an order asked to cancel meanwhile is reported back
        ``OUCH_NOT_RECEIVED`` instead); Cancels of orders in doubt and owed Cancels go again at ``_go_live``.
        """
        self._close_pending = False
        self._session.out = bytearray()
        self._write = None  # nothing more goes to the connection being closed (``connection_lost`` follows)
        if self._close is not None:
            self._close()

    def on_unsequenced(self, message: memoryview) -> None:
        """An Unsequenced Data packet from the venue: OUCH 5.0 sends its messages sequenced, so nothing is applied.

        Counted (``unsequenced_ignored``, ``gateway_venue_unsequenced_ignored_total``) and logged at WARNING on the
        1st, 2nd, 4th... one, naming the message type and its first bytes: an Executed sent this way is a fill the
        gateway does not apply (reconcile with the venue desk).
        """
        kind = outbound_name(message[0]) if len(message) else "empty"
        self._rare(
            "unsequenced",
            "Unsequenced Data packet (%s, %d bytes: %s) ignored: OUCH messages are sequenced, nothing applied "
            "(unsequenced_ignored %d); if it reports an execution, reconcile with the venue desk",
            kind,
            len(message),
            bytes(message[:24]).hex(" "),
            self._session.unsequenced_ignored,
        )

    def on_protocol_error(self, text: str) -> None:
        """Count a tolerated SoupBinTCP protocol error; log it on the 1st, 2nd, 4th... of its kind (its first words)."""
        self.counters["protocol_errors"] += 1
        kind = " ".join(word for word in text.split()[:3] if not any(c.isdigit() for c in word))  # no numbers
        self._rare("protocol " + kind, "SoupBinTCP protocol error: %s", text)

    # ---- outbound message handlers (called by on_sequenced, decoded, with the order's chain) --------

    def _on_accepted(
        self, seq: int, chain: _Chain, fields: tuple[int, int, int, int, str], message: memoryview | bytes
    ) -> None:
        urn, quantity, price, order_reference_number, order_state = fields
        if quantity > _MAX_QTY or price > _MAX_PRICE:
            self._out_of_range(seq, "Order Accepted", quantity, price)
            if urn in self._inflight and not chain.done:
                text = f"Order Accepted with quantity {quantity} or price {price} out of range"
                self._unreadable_answer(seq, chain, urn, text)
            return
        if chain.done:  # the order ended here before the venue acknowledged it (reported OUCH_NOT_RECEIVED ...)
            if urn in self._replace_refs or urn in self._replace_only:  # a Replace is never answered Accepted
                if self._refs.get(urn) is chain:
                    del self._refs[urn]
                self._foreign_after_end(seq, urn)  # another host's Enter: left alone
                self._unknown(seq, "A", urn, memoryview(message))  # counted, its ClOrdID noted (another host's)
                return
            self._accepted_after_end(seq, chain, urn, quantity, order_state)
            return
        sent = self._inflight.pop(urn, None)
        # Side, Quantity, Symbol, Price and Time In Force sit in the same order in the Enter (packet bytes 8..30)
        # and the Accepted (13..35): one compare of the raw bytes (bytearray against any buffer; compiled, in place
        # by _SAME); only a difference is looked into
        if sent is not None:
            same = _SAME
            if same is not None:
                differs = not same(sent, 8, message, 13, 22)
            else:
                differs = sent[8:30] != message[13:35]  # type: ignore[comparison-overlap]
            if differs:
                if sent[3] != _ENTER_TYPE:  # a Replace waiting: answered Replaced or Rejected, never Accepted
                    self._replace_number_taken(seq, chain, urn, message)
                    return
                if self._mismatched(seq, chain, fields, message, sent):
                    return
        elif urn in self._replace_refs:  # a Replace is answered Replaced, never Accepted: another host's Enter
            if urn in chain.candidates:
                self._retire_replace(chain, urn, f"an Order Accepted (sequence {seq}) names it: another host's Enter")
                self._unknown(seq, "A", urn, memoryview(message))  # counted, its ClOrdID noted (another host's)
                return
            if urn == chain.pending:
                self._replace_number_taken(seq, chain, urn, message)
                return
        if chain.unconfirmed:  # an Enter in doubt: the venue names it
            answered = urn == chain.unconfirmed and sent is None  # taken as accepted already (``_in_doubt``)
            if answered:  # its own terms, compared as for any Enter (rev52ouch M1)
                entered = self._doubted.pop(urn, None)
                if entered is not None and self._mismatched(seq, chain, fields, message, entered, answered=True):
                    return
            self._settle(seq, chain, urn)
            if answered:  # the strategy had its OrderAccepted: a second one would be out of place in the core
                self._accepted_in_doubt(seq, chain, fields)
                return
        # compiled: the quantity boxed once for the chain and the event, the order id kept as the object read
        open_qty: Any = quantity
        chain.open_qty = open_qty
        order_id: Any = chain.order.order_id
        if order_state == ORDER_STATE_DEAD:
            self._finish(chain)
            self.event_sink(
                VenueAccepted(seq, order_id, str(order_reference_number), open_qty, price, "DEAD", _DEAD_TEXT)
            )
            return
        self.event_sink(_VenueAccepted(seq, order_id, str(order_reference_number), open_qty, price))

    def _replace_number_taken(
        self, seq: int, chain: _Chain, urn: int, message: memoryview | bytes, rejected: str = ""
    ) -> None:
        """An Order Accepted names ``urn``, the new UserRefNum of a Replace of ``chain`` still waiting for its answer
        (in flight, or queued again after a restart): another host's Enter; this Replace is lost (rev59ouch HIGH 1).
        ``rejected``: an Order Rejected of another ClOrdID (this one) names it instead: another host's Enter the venue
        refused, which used the number up all the same (``_on_rejected``; rev60ouch MEDIUM 1).

        OUCH 5.0: a Replace is answered Replaced or Rejected, never Accepted, and the venue takes each UserRefNum
        once: it gave ``urn`` to that Enter, so it never applied this Replace and never will (it ignores a Replace
        whose number is not above every one of the day). A Replace lost in flight at a crash (journaled, never
        written) leaves exactly this: its number is the venue's NextUserRefNum, which a standby taking over enters
        its first order under. The Replace is answered now, ``CancelRejected`` ``OUCH_NOT_RECEIVED`` (the order stays
        at its old size and price, live under its old number; a Cancel the core held behind the Replace goes out to
        that number), counted ``not_received``; the number is the other host's for good (``_foreign_refs``, on file
        before the answer is journaled, so a restart does not map it back from the journal's Replace record): the
        message is counted unknown, its ClOrdID raises the order ids (``_unknown``), and later messages naming it
        are not this order's. This host's UserRefNums are above it already (it issued it). Before, the Accepted
        and the other host's fills were applied to the order, the Replace was never answered and the Cancel held
        behind it never went out (a kill switch left the order live at the venue).
        """
        order = chain.order
        inflight = self._inflight
        inflight.pop(urn, None)
        inflight.pop(urn | _CANCEL_KEY, None)
        if chain.pending == urn:
            chain.pending = 0
        if self._refs.get(urn) is chain:
            del self._refs[urn]
        self._replace_refs.discard(urn)
        self._replace_terms.pop(urn, None)
        self._replace_doubts.pop(urn, None)
        self._kept_replace_doubts.discard(urn)
        self._unlost_replace_doubts.discard(urn)
        known = self._restored.get(order.order_id)
        if known is not None and urn in known:
            known.remove(urn)
        self._foreign_refs.add(urn)
        self.counters["not_received"] += 1
        if rejected:
            log.warning(
                "venue %s: order %d: an Order Rejected (sequence %d) names UserRefNum %d, the number of its replace "
                "still unanswered, with ClOrdID %r, not this order's %r: another host's Enter, refused by the venue "
                "(which used the number up); the venue never applied that replace: the order keeps its size and "
                "price, live as UserRefNum %d (the strategy gets CancelRejected %s, not the reject's reason)",
                self.name,
                order.order_id,
                seq,
                urn,
                rejected,
                _cl_ord_id(order.order_id).decode("ascii").rstrip(" "),
                chain.working,
                _NOT_RECEIVED,
            )
        else:
            log.warning(
                "venue %s: order %d: an Order Accepted (sequence %d) names UserRefNum %d, the number of its replace "
                "still unanswered: another host's Enter (left alone; a Replace is answered Replaced or Rejected, never "
                "Accepted); the venue never applied that replace: the order keeps its size and price, live as "
                "UserRefNum %d (the strategy gets CancelRejected %s)",
                self.name,
                order.order_id,
                seq,
                urn,
                chain.working,
                _NOT_RECEIVED,
            )
        self._save_doubts()  # the number on file as not ours before the answer is journaled (else ERROR, goes on)
        self._unknown(seq, "J" if rejected else "A", urn, memoryview(message))  # counted, its ClOrdID noted
        self._emit(VenueCancelRejected(seq, order.order_id, _NOT_RECEIVED, _NUMBER_TAKEN_TEXT))

    def _accepted_in_doubt(self, seq: int, chain: _Chain, fields: tuple[int, int, int, int, str]) -> None:
        """The venue's late Accepted of an Enter answered in doubt (taken as accepted at the order's own size).

        The strategy had its one ``OrderAccepted``; the venue's quantity is the order's from now on
        (docs/strategy-protocol.md 5): fewer shares than the order has open reach the core as a reduction by the
        venue, ``VenueCanceled`` reason "MODIFIED" of the difference (``leaves_qty`` what the venue accepted; risk
        releases the rest), so a later Canceled of what the venue holds ends the order (rev52ouch (a): the order
        stayed open with the shares the venue never took, its Cancel ignored). An Accepted in state D ends it.
        The venue's order id reaches the core first (fixouch52: recorded, no second answer).
        """
        _urn, quantity, price, order_reference_number, order_state = fields
        chain.open_qty = quantity
        order = chain.order
        self.event_sink(VenueAccepted(seq, order.order_id, str(order_reference_number), quantity, price))
        if order_state == ORDER_STATE_DEAD:  # nothing of it rests at the venue
            self._finish(chain)
            self.event_sink(VenueCanceled(seq, order.order_id, 0, "DEAD", _DEAD_TEXT))
            return
        cut = order.leaves_qty - quantity
        if cut <= 0:
            return
        log.warning(
            "venue %s: order %d, answered in doubt at %d shares, was accepted by the venue for %d (its late Order "
            "Accepted at sequence %d): the other %d are canceled here (Canceled MODIFIED)",
            self.name,
            order.order_id,
            order.leaves_qty,
            quantity,
            seq,
            cut,
        )
        text = f"the venue accepted {quantity} of the {order.leaves_qty} shares open (its Accepted came late)"
        self.event_sink(VenueCanceled(seq, order.order_id, cut, "MODIFIED", text))

    def _accepted_after_end(self, seq: int, chain: _Chain, urn: int, quantity: int, order_state: str) -> None:
        """An Accepted for an order that ended here (rev50ouch s11 L1): live at the venue, so canceled there.

        The gateway answered the Enter already (``OUCH_NOT_RECEIVED`` after the Account Query Response: the replay
        had no answer for it; or another end), and the venue now acknowledges it: the order works at the venue,
        untracked. As for any order live at the venue that ended here (``_live_after_end``): its number is
        unmapped (later messages about it are an ended order's, fills applied as late fills) and canceled at the
        venue at once, logged at ERROR and counted ``live_after_end``; no event for the core (the strategy keeps
        its one answer). An Accepted in state D (dead) needs nothing.
        """
        self._inflight.pop(urn, None)
        if order_state == ORDER_STATE_DEAD:
            self._ignore("A", seq, f"Order Accepted (dead) for UserRefNum {urn} of order {chain.order.order_id}, ended")
            return
        if self._refs.get(urn) is chain:
            del self._refs[urn]
        self._live_after_end(seq, "Order Accepted", urn, chain.order.order_id, quantity)

    def _on_accepted_fields(self, seq: int, chain: _Chain, fields: tuple[int, int, int, int, str]) -> None:
        """Apply an Accepted without its bytes (not compared with the Enter; the message paths pass them)."""
        self._on_accepted(seq, chain, fields, b"")

    def _mismatched(
        self,
        seq: int,
        chain: _Chain,
        fields: tuple[int, int, int, int, str],
        message: memoryview | bytes,
        sent: bytearray,
        *,
        answered: bool = False,
    ) -> bool:
        """Handle an Accepted that acknowledges another order than the Enter ``sent``; False if it does not.

        OUCH 5.0: Side and Symbol are "as entered", the Price "equal or better" (re-priced), the Quantity the
        shares accepted, the Time In Force "equal to or shorter in scope than entered". Another side or symbol,
        more shares than entered, a worse price or a longer time in force (an IOC accepted as a Day order, which
        would rest) is another order than the one risk checked: the strategy gets ``VenueRejected``
        ``OUCH_ACCEPTED_MISMATCH`` (its one answer), the number is canceled at the venue (``_late_cancels``: again
        after each login until the venue answers; a fill before that is applied to the order as a late fill) and
        the fault is logged at ERROR and counted (``accepted_mismatch``). Fewer shares, a better price or a
        shorter time in force (Day accepted as IOC) is the venue's word: taken as it says. ``answered``: an Enter
        answered in doubt (the strategy had ``OrderAccepted``): the order ends ``VenueCanceled`` with that code
        instead (rev52ouch M1; before, the late Accepted of another order was taken as this one's).
        """
        if len(sent) < 30 or sent[3] != _ENTER_TYPE or len(message) < 35:
            return False
        urn, quantity, price, _ref, order_state = fields
        entered_side = sent[8]
        differs = []
        if message[13] != entered_side:
            differs.append(f"side {chr(entered_side)} -> {chr(message[13])}")
        entered_symbol = bytes(sent[13:21]).decode("latin-1").rstrip(" ")
        symbol = bytes(message[18:26]).decode("latin-1").rstrip(" ")
        if symbol != entered_symbol:
            differs.append(f"symbol {entered_symbol!r} -> {symbol!r}")
        entered_qty = int.from_bytes(sent[9:13], "big")
        if quantity > entered_qty:
            differs.append(f"quantity {entered_qty} -> {quantity} (more than entered)")
        entered_price = int.from_bytes(sent[21:29], "big")
        if price > entered_price if entered_side == _BUY_SIDE else price < entered_price:
            differs.append(f"price {price_text(entered_price)} -> {price_text(price)} (worse than entered)")
        entered_tif = sent[29]
        tif = message[34]
        if tif != entered_tif and (entered_tif == _IOC_TIF or tif != _IOC_TIF):  # IOC is the shortest scope
            differs.append(f"time in force {chr(entered_tif)!r} -> {chr(tif)!r} (longer than entered)")
        if not differs:
            return False
        order_id = chain.order.order_id
        what = ", ".join(differs)
        live = order_state != ORDER_STATE_DEAD
        self.counters["accepted_mismatch"] += 1
        log.error(
            "venue %s: Order Accepted at sequence %d for UserRefNum %d acknowledges another order than the Enter "
            "Order sent for order %d (%s): the order is %s OUCH_ACCEPTED_MISMATCH%s; fills of it are applied "
            "to order %d: reconcile with the venue desk",
            self.name,
            seq,
            urn,
            order_id,
            what,
            "canceled (it was answered in doubt)" if answered else "rejected",
            f", and UserRefNum {urn} canceled at the venue" if live else " (the venue says it is dead)",
            order_id,
        )
        self._finish(chain)
        if self._refs.get(urn) is chain:  # its messages now are an ended order's (``_unmapped``)
            del self._refs[urn]
        if live:
            self._late_cancels[urn] = [order_id, quantity]
            self._save_owed()  # on file before the VenueRejected is journaled and the Cancel goes out
            if self._live:
                pack_cancel_order(self._session.out, urn, 0)
        text = f"the venue acknowledged another order than the one sent ({what})" + (
            ": canceled at the venue" if live else ""
        )
        if answered:  # the strategy had OrderAccepted (in doubt): the order ends here
            self.event_sink(VenueCanceled(seq, order_id, 0, _ACCEPTED_MISMATCH, text))
        else:
            self.event_sink(VenueRejected(seq, order_id, _ACCEPTED_MISMATCH, text))
        return True

    def _on_executed(self, seq: int, chain: _Chain, message: OrderExecuted) -> None:
        """Report an execution; count its shares off the chain unless the core will refuse it as a copy.

        A server that restarted its numbering can send an Executed again under a new number. The core
        does not apply a fill whose Match Number the order already applied (``gateway.venue_apply.executed``,
        ids per order: both sides of one trade share a Match Number), and neither does the chain's open
        quantity: counted twice, it reaches 0 early and the order's requests in flight are no longer kept
        for re-sending. The ids are the order's own (``Order.exec_id`` / ``exec_ids``), read before the
        event is handed over (the core records them as it applies it), so the two cannot disagree.
        """
        quantity = message.quantity
        if quantity > _MAX_QTY or message.price > _MAX_PRICE:
            self._out_of_range(seq, "Order Executed", quantity, message.price)
            return
        if chain.candidates or chain.unconfirmed:  # the order's live number was in doubt: the fill names it
            self._settle(seq, chain, message.user_ref_num)
        order = chain.order
        match_number = str(message.match_number)
        counted = not order.exec_id or not _repeated_fill(order, match_number)  # no fill yet (common): one read
        if counted:
            chain.open_qty -= quantity
        self.event_sink(
            VenueExecuted(seq, order.order_id, quantity, message.price, message.liquidity_flag, match_number)
        )
        if counted and chain.open_qty <= 0:
            self._finish(chain)

    def _on_canceled(self, seq: int, chain: _Chain, message: OrderCanceled) -> None:
        chain.last_cancel_ns = message.timestamp
        self._canceled(seq, "C", chain, message.user_ref_num, message.quantity, message.reason)

    def _on_aiq_canceled(self, seq: int, chain: _Chain, message: AiqCanceled) -> None:
        chain.last_cancel_ns = message.timestamp
        self._canceled(seq, "D", chain, message.user_ref_num, message.decrement_shares, message.reason)

    def _canceled(self, seq: int, kind: str, chain: _Chain, urn: int, quantity: int, reason: str) -> None:
        if quantity <= 0:
            self._ignore(kind + "0", seq, f"cancel of 0 shares for UserRefNum {chain.working}")
            return
        if quantity > _MAX_QTY:
            self._out_of_range(seq, "Order Canceled" if kind == "C" else "AIQ Canceled", quantity, 0)
            return
        if chain.candidates or chain.unconfirmed:  # the order's live number was in doubt: the venue names it
            self._settle(seq, chain, urn)
        # A Replace of it in doubt: the core's open quantity may be wrong. The venue's Canceled of the whole order
        # (reason U: the answer to the gateway's Cancel, which asks for everything) leaves nothing, whatever the core
        # holds; so does one naming a number whose terms are not known here. A cut of part (a supervisory one)
        # naming the number the core knows (its terms are the venue's) takes off its quantity (ouchdoubt57; before,
        # it ended the order here with the rest live at the venue). The answer to the gateway's Cancel (Canceled U, that
        # Cancel waiting) for fewer shares than open here ends the order too, also after the doubt: the open quantity
        # of a Replace applied from its terms (``_settle``) is the gateway's reckoning, and a venue may count a cut of
        # the original against it (ouchdoubt58; before, the rest stayed open here, the Cancel never answered)
        if kind == "C" and (
            (chain.in_doubt and (reason == "U" or chain.order.venue_ref != str(urn)))
            or (quantity < chain.open_qty and reason == "U" and (urn | _CANCEL_KEY) in self._inflight)
        ):
            if not chain.in_doubt:
                self._canceled_short(chain, urn, quantity)
            chain.open_qty = 0
            self.event_sink(
                VenueCanceled(seq, chain.order.order_id, 0, reason, cancel_text(reason), chain.last_cancel_ns)
            )
            self._finish(chain)
            return
        chain.open_qty -= quantity
        self.event_sink(
            VenueCanceled(seq, chain.order.order_id, quantity, reason, cancel_text(reason), chain.last_cancel_ns)
        )
        if chain.open_qty <= 0:
            self._finish(chain)

    def _canceled_short(self, chain: _Chain, urn: int, quantity: int) -> None:
        """WARNING: the venue's Canceled (reason U) answering the gateway's Cancel is for fewer shares than open here.

        Why the venue had fewer, as far as the adapter can tell: a Replace of the order answered in doubt whose open
        quantity the gateway reckoned from its terms (ouchdoubt58), or messages of the venue lost in a replay gap
        since the order went live (its number issued before that login: fills among them; rev61ouch LOW 1: before,
        the WARNING blamed a Replace that never existed), or neither known here (a gap before a restart, ...).
        """
        order_id = chain.order.order_id
        session, gap_upto = self._gap_mark
        if any(doubted == order_id for doubted, _ in self._replace_doubts.values()):
            why = (
                "were not live there (a replace answered in doubt whose open quantity the gateway reckoned from its "
                "terms?)"
            )
        elif gap_upto and session == self._store.session and chain.working <= gap_upto:
            why = (
                "may have been executed in the replay gap since the order went live (the venue's messages lost at a "
                "login, REPLAY GAP ERROR): reconcile the order's executions with the venue desk"
            )
        else:
            why = (
                "were not live there (executed or canceled in venue messages the gateway never read?): reconcile the "
                "order's executions with the venue desk"
            )
        log.warning(
            "venue %s: Canceled (reason U) of order %d (UserRefNum %d) for %d shares while %d are open here, in answer "
            "to the gateway's Cancel (which asks for everything): the venue had no more; the order ends, the other %d "
            "%s",
            self.name,
            order_id,
            urn,
            quantity,
            chain.open_qty,
            chain.open_qty - quantity,
            why,
        )

    def _on_modified(self, seq: int, chain: _Chain, message: OrderModified) -> None:
        """Apply an Order Modified: its Quantity is the total the venue has open now; what it took off is canceled.

        The strategy gets ``Canceled`` reason "MODIFIED" for the shares the venue took off (none when the
        order is not smaller; the message is then only counted), so a later Canceled or Executed of the rest
        ends the order. A Modified to 0 ends it.
        """
        quantity = message.quantity
        if quantity > _MAX_QTY:
            self._out_of_range(seq, "Order Modified", quantity, 0)
            return
        if chain.candidates or chain.unconfirmed:  # the order's live number was in doubt: the venue names it
            self._settle(seq, chain, message.user_ref_num)
        cut = chain.open_qty - quantity
        if cut <= 0 or chain.done:
            self._ignore("M", seq, message)
            return
        self.counters["modified"] += 1
        chain.open_qty = quantity
        text = f"the venue reduced the order to {quantity} shares open (Order Modified)"
        if quantity == 0:
            self._finish(chain)
            self.event_sink(VenueCanceled(seq, chain.order.order_id, 0, "MODIFIED", text))
            return
        self.event_sink(VenueCanceled(seq, chain.order.order_id, cut, "MODIFIED", text))

    def _on_replaced(self, seq: int, chain: _Chain, message: OrderReplaced) -> None:
        urn = message.user_ref_num
        inflight = self._inflight
        if message.quantity > _MAX_QTY or message.price > _MAX_PRICE:
            self._out_of_range(seq, "Order Replaced", message.quantity, message.price)
            if urn in inflight and not chain.done:
                text = f"Order Replaced with quantity {message.quantity} or price {message.price} out of range"
                self._in_doubt(seq, chain, urn, text)
            return
        inflight.pop(urn, None)
        # A Cancel still waiting on the original went out after this Replace (the core holds a Cancel behind its own
        # Replace), so the venue ignored it (its number was not live any more): it goes to ``urn`` below (ouchdoubt58)
        canceling = inflight.pop(message.orig_user_ref_num | _CANCEL_KEY, None) is not None
        for number in chain.candidates:
            canceling = inflight.pop(number | _CANCEL_KEY, None) is not None or canceling
        if chain.done and message.order_state != ORDER_STATE_DEAD:
            self._replaced_after_end(seq, chain, message)
            return
        late = chain.order.pending_qty == 0 and not chain.done  # the core holds no replace: answered already
        doubted = urn in chain.candidates  # answered CancelRejected OUCH_IN_DOUBT (not refused): its own text
        if doubted:  # its terms are the Replaced's now (``_settle`` would apply them again)
            self._replace_terms.pop(urn, None)
        chain.working = urn
        chain.candidates = ()
        chain.unconfirmed = 0
        chain.in_doubt = False
        chain.open_qty = message.quantity
        if chain.pending == urn:
            chain.pending = 0
        dead = message.order_state == ORDER_STATE_DEAD
        if dead:
            self._finish(chain)
        elif canceling:
            self._cancel_again(chain, urn)
        if late:
            self._replaced_after_reject(seq, chain, message, dead, doubted)
            return
        self.event_sink(
            VenueReplaced(
                seq,
                chain.order.order_id,
                message.quantity,
                message.price,
                str(message.order_reference_number),
                "DEAD" if dead else "",
                _DEAD_TEXT if dead else "",
            )
        )

    def _replaced_after_reject(
        self, seq: int, chain: _Chain, message: OrderReplaced, dead: bool, doubted: bool = False
    ) -> None:
        """A Replaced for a replace the gateway had already reported refused (rev50ouch s11 L2): the venue's word.

        The strategy got ``CancelRejected`` (``OUCH_NOT_RECEIVED`` after the Account Query Response: the replay
        had no answer for it), and the venue now says it applied it: the order works at the venue under the new
        UserRefNum at the new price and size. The order is not canceled (the strategy asked for exactly these
        terms and still holds the order); it is told the truth instead: the core takes the new quantity, price
        and number (``VenueReplaced.late_qty``, as for BOE) and the strategy gets ``Replaced`` after its
        ``CancelRejected``; risk's exposure follows. Logged at WARNING and counted ``replaced_after_reject``
        (``gateway_venue_replaced_after_reject_total``). Dead (state D): the order is canceled here.
        ``doubted``: the replace was answered ``CancelRejected`` "OUCH_IN_DOUBT" (its outcome unknown, in this process
        or before a restart), not refused: the WARNING says so (ouch55; before, it said "reported refused").
        """
        order = chain.order
        self.counters["replaced_after_reject"] += 1
        if message.user_ref_num == self._lost_replace_urn and not doubted:
            what = (
                "a replace whose records the journal may have lost with its tail (an unclean stop under fsync "
                "interval/none)"
            )
            told = "the order takes the new number and terms and the strategy is told"
            after = "from the venue's replay of what the journal lacks"
        elif doubted:
            what = "a replace answered in doubt (CancelRejected OUCH_IN_DOUBT: its outcome was unknown)"
            told = "the doubt is settled: the order takes the new terms and the strategy is told"
            after = "Replaced after its CancelRejected"
        else:
            what = "a replace the gateway had reported refused"
            told = "the strategy is told"
            after = "Replaced after its CancelRejected"
        log.warning(
            "venue %s: Order Replaced at sequence %d: UserRefNum %d replaced %d for order %d, %s: the venue applied "
            "it, %d shares open at %s%s; %s (%s)",
            self.name,
            seq,
            message.user_ref_num,
            message.orig_user_ref_num,
            order.order_id,
            what,
            message.quantity,
            price_text(message.price),
            " and canceled it (state D)" if dead else "",
            told,
            after,
        )
        if dead:
            self.event_sink(VenueCanceled(seq, order.order_id, 0, "DEAD", _DEAD_TEXT))
            return
        self.event_sink(
            VenueReplaced(
                seq,
                order.order_id,
                message.quantity,
                message.price,
                str(message.order_reference_number),
                late_qty=order.cum_qty + message.quantity,
                late_ref=str(message.user_ref_num),
            )
        )

    def _replaced_after_end(self, seq: int, chain: _Chain, message: OrderReplaced) -> None:
        """A Replaced shows the order live at the venue under its new number though it ended here: cancel it there.

        The venue filled (or canceled) the original before it took the Replace (rev44ouch s13): the replacement
        works at the venue and no strategy could cancel it. Its number is unmapped (later messages about it are
        an ended order's: ``_unmapped``) and canceled at the venue at once (``_live_after_end``, counted
        ``live_after_end``); no VenueReplaced (the core would refuse it for an ended order).
        """
        urn = message.user_ref_num
        if self._refs.get(urn) is chain:
            del self._refs[urn]
            self._replace_refs.discard(urn)
        if chain.pending == urn:
            chain.pending = 0
        self._live_after_end(seq, "Order Replaced", urn, chain.order.order_id, message.quantity)

    def _on_rejected(self, seq: int, chain: _Chain, message: OuchRejected) -> None:
        urn = message.user_ref_num
        if urn == chain.pending and not chain.done and urn in self._replace_refs and _not_its_replace(chain, message):
            # another host's Enter refused under the number of this waiting Replace: not this Replace's answer
            self._replace_number_taken(seq, chain, urn, encode_message(message), message.cl_ord_id)
            return
        code, text = _REJECT_CODES.get(message.reason) or (
            f"0x{message.reason:04X}",
            reject_text(message.reason),
        )
        self._rejected(seq, chain, message.user_ref_num, code, text)

    def _rejected(self, seq: int, chain: _Chain, urn: int, code: str, text: str) -> None:
        """Answer the Enter or Replace ``urn`` the venue refused (a Replace's original stays the live number)."""
        was_replace = urn in self._replace_refs
        self._inflight.pop(urn, None)
        if was_replace:
            if chain.pending == urn:
                chain.pending = 0
            if urn in chain.candidates:
                self._inflight.pop(urn | _CANCEL_KEY, None)  # the venue ignores a Cancel of a number it never used
                remaining = tuple(number for number in chain.candidates if number != urn)
                chain.working = remaining[-1]
                chain.candidates = remaining if len(remaining) > 1 else ()
                order = chain.order
                if order.pending_ref and (order.pending_qty == 0 or order.pending_ref != str(urn)):
                    # answered OUCH_IN_DOUBT already: not the answer to the Cancel (no quantity) or the other Replace
                    # the core has in flight, so nothing reaches the strategy (rev58merge3 HIGH 4: before, a Cancel
                    # in flight took it as its CancelRejected, then got its Canceled); with nothing in flight the
                    # core records it as out of place
                    log.warning(
                        "venue %s: the venue rejected UserRefNum %d of order %d (%s %s), a replace answered in doubt "
                        "(CancelRejected OUCH_IN_DOUBT): the order keeps its old terms as UserRefNum %d; the strategy "
                        "had its answer (nothing more is sent to it)",
                        self.name,
                        urn,
                        chain.order.order_id,
                        code,
                        text,
                        chain.working,
                    )
                    return
            self.event_sink(VenueCancelRejected(seq, chain.order.order_id, code, text))
        elif urn == chain.unconfirmed:  # answered in doubt (taken as accepted): the venue ends it after all
            self._finish(chain)
            log.warning(
                "venue %s: new order %d (UserRefNum %d), taken as accepted in doubt, was rejected by the venue (%s %s):"
                " it ends as canceled",
                self.name,
                chain.order.order_id,
                urn,
                code,
                text,
            )
            self.event_sink(VenueCanceled(seq, chain.order.order_id, 0, code, f"rejected by the venue: {text}"))
        else:
            self._finish(chain)
            self.event_sink(VenueRejected(seq, chain.order.order_id, code, text))

    def _on_cancel_reject(self, seq: int, chain: _Chain, message: CancelReject) -> None:
        self._inflight.pop(message.user_ref_num | _CANCEL_KEY, None)
        if self._doubt_cancels.pop(message.user_ref_num, None) is not None:  # the venue has it: not asked again
            self._unreadable_doubts.discard(message.user_ref_num)
            self._doubts_stale = True
        self.event_sink(VenueCancelRejected(seq, chain.order.order_id, "I", _CANCEL_REJECT_TEXT))

    def _on_cancel_pending(self, seq: int, message: CancelPending) -> None:
        """Count a Cancel Pending (the cross cancels the rest); it answers a Cancel (also one of ``_late_cancels``)."""
        urn = message.user_ref_num
        self._inflight.pop(urn | _CANCEL_KEY, None)
        if urn not in self._refs and self._unmapped_not_live(seq, "P", urn):
            if self._late_cancels.pop(urn, None) is not None:
                self._save_owed()
            return
        self._ignore("P", seq, message)

    def _on_restated(self, seq: int, message: OrderRestated) -> None:
        """Count an Order Restated; one for an order that ended here shows it live: canceled at the venue."""
        if message.user_ref_num in self._refs or not self._unmapped_live(seq, "Order Restated", message.user_ref_num):
            self._ignore("R", seq, message)

    def _on_priority_update(self, seq: int, message: PriorityUpdate) -> None:
        """Count an Order Priority Update; one for an order that ended here shows it live: canceled at the venue."""
        urn = message.user_ref_num
        if urn in self._refs or not self._unmapped_live(seq, "Order Priority Update", urn):
            self._ignore("T", seq, message)

    def _unmapped_live(self, seq: int, what: str, urn: int) -> bool:
        """A message showing UserRefNum ``urn`` (not mapped) live: if the journal names its order, cancel it."""
        order_id = self._ended_order(urn)
        if not order_id:
            return False
        self._live_after_end(seq, what, urn, order_id, -1)
        return True

    def _unmapped_not_live(self, seq: int, letter: str, urn: int) -> bool:
        """A message about UserRefNum ``urn`` (not mapped) with nothing to apply: counted after-end if found."""
        order_id = self._ended_order(urn)
        if not order_id:
            return False
        self._after_end(seq, letter, urn, order_id)
        return True

    def _on_system_event(self, seq: int, message: SystemEvent) -> None:
        """Count a System Event; ``E`` (end of day) stops new orders (``OUCH_END_OF_DAY``), ``S`` (start) resumes."""
        self._ignore("S", seq, message)
        if message.event_code == "E" and not self._day_ended:
            self._day_ended = True
            self._store.mark_day_ended(True)  # kept across a restart the same session day
            log.warning(
                "venue %s: System Event E (end of day) at sequence %d: new orders are refused OUCH_END_OF_DAY; "
                "cancels still go out",
                self.name,
                seq,
            )
        elif message.event_code == "S" and self._day_ended:
            self._day_ended = False
            self._store.mark_day_ended(False)
            log.warning("venue %s: System Event S (start of day) at sequence %d: new orders go out", self.name, seq)

    def _on_broken_trade(self, seq: int, message: BrokenTrade) -> None:
        """Log a Broken Trade at ERROR and count it: the gateway corrects nothing and the strategy is not told.

        OUCH 5.0's Broken Trade names the execution by Match Number and carries no quantity; the
        order's cumulative quantity, its position and risk's exposure keep the broken fill.
        """
        chain = self._refs.get(message.user_ref_num)
        if chain is not None:
            order: object = chain.order.order_id
        else:  # the order ended here (released from memory, or before a restart): the journal names it
            order = self._broken_order(message) or "unknown"
        self.counters["broken_trades"] += 1
        log.error(
            "venue %s: BROKEN TRADE at sequence %d: order %s (UserRefNum %d, ClOrdID %r), match number %d, reason %r; "
            "the quantity is not in the message (see the order's fill with that exec_id); position, cumulative "
            "quantity and risk exposure are NOT corrected and the strategy is not told",
            self.name,
            seq,
            order,
            message.user_ref_num,
            message.cl_ord_id,
            message.match_number,
            message.reason,
        )

    def _broken_order(self, message: BrokenTrade) -> str:
        """Name the order of a Broken Trade whose UserRefNum is no longer mapped, from the journal ("": not found).

        The order ended here: the engine reads it back (``order_source``, as for a late fill) so the ERROR line
        says what the risk officer needs for ``gateway risk adjust-position``: the account, symbol and side, and
        whether the fill with that Match Number was applied to the order at all (a fill never applied needs no
        correction).
        """
        order_id = self._ended_order(message.user_ref_num)
        if not order_id:
            return ""
        match = str(message.match_number)
        source = self.order_source
        order = source(order_id, match) if source is not None else None
        if order is None:
            return f"{order_id} (ended here; not read back from the journal)"
        applied = "applied" if _repeated_fill(order, match) else "NOT applied (nothing to correct)"
        return (
            f"{order_id} (ended here, read back from the journal: account {order.account}, {order.symbol} "
            f"{order.side.name}, ClOrdID {order.cl_ord_id!r} of strategy {order.strategy_id}; its fill with this "
            f"match number was {applied})"
        )

    def _on_account_query_response(self, seq: int, message: AccountQueryResponse) -> None:
        self._store.ensure_above(message.next_user_ref_num - 1)
        if not self._query_sent_ns:  # not the answer to our query (one replayed from before: another host's)
            self._ignore("Q", seq, message)
            return
        self._end_no_record(asked=True, next_user_ref_num=message.next_user_ref_num)
        self._store.floor(settled=True)  # on file (a restart before the next block keeps it), the mark cleared
        if self._mark_unwritten and self._store.owed_on_file:  # settled, and on file: the episode ends
            self._owed_mark_on_file()
        if self._query_refnums:
            self._query_refnums = False
            log.warning(
                "venue %s: NextUserRefNum %d: new UserRefNums start at %d",
                self.name,
                message.next_user_ref_num,
                self._store.last_issued + 1,
            )
        self._ignore("Q", seq, message)
        if self._query_sent_ns and not self._replaying:
            self._query_sent_ns = 0
            self._resolve_unanswered(message.next_user_ref_num)

    def _end_no_record(self, asked: bool = False, next_user_ref_num: int | None = None) -> bool:
        """The store is floored (the venue's NextUserRefNum, or the highest number its earlier traffic named).

        ``asked``: the Account Query went out; ``next_user_ref_num``: the venue's answer (None: unanswered). With no
        answer, numbers the earlier traffic (another host's) did not name may be live at the venue: its Enters the
        venue took but had not answered. The store then starts a margin above the highest named
        (``unanswered_ref_margin``: a tenth of ``user_ref_num_block``; OUCH allows gaps), so no Enter reuses one (the
        venue would ignore it) and no Cancel of an order in doubt names the other host's order (ouchstandby57 F2:
        before, the floor was the highest named, and the doubted Enter's Cancel canceled the other host's live
        order). Not a whole block (ouchmargin57): that is where the other host's next reserved block starts, so its
        Enters after a failback went out below this host's and were ignored. New order ids likewise start
        ``UNSEEN_ORDER_ID_MARGIN`` above the highest ClOrdID named when the venue's NextUserRefNum (or no answer)
        shows requests the replay did not (F4). The floor and the last sequence number of the earlier traffic are
        written to the store's file (``UserRefNumStore.floor``): a restart the same day, before this gateway sent
        anything, numbers above the floor and logs in after that traffic (``resume_after``) instead of reading it as
        its own (fixstandby52). Without a record to end, ClOrdIDs of this gateway's form in messages of orders it
        does not know (``_foreign_id``: a failback, a lost journal) raise the order ids all the same. True: the
        UserRefNum margin was taken (logged here at ERROR).
        """
        self._ask_unseen = False
        if not self._no_record:
            other = self._other_max
            if other:
                return self._above_other_host(other, next_user_ref_num)
            if self._earlier_ids:
                self._raise_order_ids()
            return False
        self._no_record = False
        store = self._store
        earlier = self._earlier_max
        unseen = asked and earlier > 0 and (next_user_ref_num is None or next_user_ref_num - 1 > earlier)
        margin = asked and next_user_ref_num is None and self.counters["earlier_traffic"] > 0
        if margin:
            gap = unanswered_ref_margin(store.block)
            store.ensure_above(min(earlier + gap, MAX_USER_REF_NUM))
            log.error(
                "venue %s: the venue did not say its NextUserRefNum after earlier traffic of another host (highest "
                "UserRefNum named %d): new UserRefNums start at %d, a margin of %d above it, since that host's last "
                "Enters may be live at the venue unanswered (OUCH allows gaps): the margin covers up to %d of them "
                "(user_ref_num_block / %d); should that host come back today, it numbers from its own next "
                "reserved block, or above the venue's NextUserRefNum once its replay shows this host's numbers "
                "past it (ops guide: the primary back)",
                self.name,
                earlier,
                store.last_issued + 1,
                gap,
                gap,
                UNANSWERED_REF_SHARE,
            )
        else:
            store.ensure_above(earlier)
        store.floor(self._earlier_seq, self._order_ids_above_earlier((next_user_ref_num or 0) if unseen else -1))
        return margin

    def _above_other_host(self, other: int, next_user_ref_num: int | None) -> bool:
        """Put the store above ``other``, the highest UserRefNum of another host a login's replay named, on file.

        Called once the Account Query after the replay is answered (``next_user_ref_num``: the venue's exact next
        number, taken alone: a number it says it has not seen was read wrong, logged at ERROR) or unanswered within
        ``server_timeout_ms`` (None), before the venue goes UP. Unanswered, the other host's last Enters may be live
        at the venue under the numbers right above ``other``, which no replay shows:
        the store starts ``unanswered_ref_margin`` above it, as a standby's with no record does (ouchstandby57), so
        no Enter of this host goes out under one (ignored by the venue) and no Cancel of one in doubt names it. The
        floor is written to the store's file (``reserved``): a restart the same day numbers above it. The other
        host's ClOrdIDs of this gateway's form raise the order ids (with the margin for those the replay did not
        show when the venue's number shows requests beyond it, or it did not answer). The margin is logged at ERROR
        here; True: it was taken (its ERROR says the new numbers).
        """
        self._other_max = 0
        store = self._store
        unseen = next_user_ref_num is None or next_user_ref_num - 1 > other
        if next_user_ref_num is not None:  # the venue's word (the Account Query's WARNING says where new numbers start)
            store.ensure_above(next_user_ref_num - 1)
            if next_user_ref_num <= other:  # then no host used it: a message read wrong, not a number to number above
                log.error(
                    "venue %s: the replay named UserRefNum %d above this host's, but the venue's NextUserRefNum is %d: "
                    "the venue has not seen that number, so that message was not another host's (read out of "
                    "frame?); new UserRefNums start at %d; reconcile the account's orders with the venue desk",
                    self.name,
                    other,
                    next_user_ref_num,
                    store.last_issued + 1,
                )
        else:
            gap = unanswered_ref_margin(store.block)
            store.ensure_above(min(other + gap, MAX_USER_REF_NUM))
            log.error(
                "venue %s: the venue did not say its NextUserRefNum after the replay named another host's UserRefNums "
                "up to %d, above this host's: new UserRefNums start at %d, a margin of %d above it, since that "
                "host's last Enters may be live at the venue unanswered (OUCH allows gaps): the margin covers up to "
                "%d of them (user_ref_num_block / %d); on file in %s",
                self.name,
                other,
                store.last_issued + 1,
                gap,
                gap,
                UNANSWERED_REF_SHARE,
                store.path,
            )
        store.floor(0, self._order_ids_above_earlier((next_user_ref_num or 0) if unseen else -1))
        return next_user_ref_num is None

    def _raise_order_ids(self) -> None:
        """Raise the order ids above the ClOrdIDs noted since the last time, and keep the floor on file.

        On file with whose they were (``UserRefNumStore.own_ids``): this host's own Enters the journal lost with its
        tail only when every one noted was such (``_own_lost_enter``) and nothing shows another host (a number above
        this host's, the venue's NextUserRefNum owed); else another host's, for the rest of the day (ouchpf61).
        """
        own = not (self._ids_foreign or self._other_max or self._no_record or self._store.ask)
        self._ids_foreign = False
        floor = self._order_ids_above_earlier(-1)
        store = self._store
        if floor or (store.own_ids and not own):
            store.floor(0, floor, own=own)

    def _own_lost_enter(self, order_id: int, urn: int) -> bool:
        """Return True if ClOrdID ``order_id`` under UserRefNum ``urn``, a message the journal knows nothing of, may be
        this host's own Enter whose records the journal lost with its tail (rev60merge12 HIGH 2).

        Only at a start that was not clean under ``fsync: interval``/``none`` (``journal_opened``), for an order id
        above the journal's highest (its lost tail) and a number this host's store may have handed out before it.
        Anything else is another host's. Another host's Enter can still look so (a standby numbering its ClOrdIDs
        right above the ones it saw): the raise then goes on file as this host's, and only another host's Replace
        of an order the journal confirmed as this host's own could be adopted, which ``_own_refs`` refuses. An id
        at or below the order ids already raised while the store has them as this host's own is such an Enter seen
        again (rev62chaos HIGH: a later start's replay brings it again, the journal's highest order id having moved
        past it meanwhile, e.g. by an order refused by risk; it was taken for another host's).
        """
        if not (self._tail_lost and 0 < urn <= self._refs_at_start):
            return False
        store = self._store
        return order_id > self._journal_ids or (store.own_ids and order_id <= store.order_ids)

    def _foreign_id(self, message: memoryview, urn: int) -> None:
        """Note the ClOrdID of a message about an order this gateway does not know (``_unknown``).

        Before the venue goes UP (the login's replay) the noted ids raise the order ids at ``_end_no_record``. Once
        UP (a restart with nothing waiting goes UP at the login and reads its replay then: a failback), an id above
        every one raised so far raises the engine's ids at once, in memory; the WARNING and the floor on file follow
        from the next ``poll``, once for all such messages (a failback's replay of thousands of the other host's
        orders: one write, not one per message).
        """
        if self._no_record:  # a journal lost, the UserRefNum store kept: the numbers are within its reservation
            self._earlier_max = max(self._earlier_max, urn)
            self._ask_unseen = True  # the venue's NextUserRefNum tells whether requests the replay did not show exist
        at = _CL_ORD_ID_AT.get(message[0]) if message else None
        if at is None or len(message) < at + 14:
            return
        order_id = _order_id_of(bytes(message[at : at + 14]))
        if order_id and not self._own_lost_enter(order_id, urn):
            self._ids_foreign = True
            if self._live and self._store.own_ids:  # on file as another host's at the next ``poll``
                self._ids_due = True
        if not self._live:
            self._earlier_id(message)
            return
        if order_id > self._ids_raised and order_id > self._store.order_ids:
            self._ids_raised = order_id
            raise_ids = self.order_ids_above
            if raise_ids is not None:
                raise_ids((order_id,))
            self._ids_due = True

    def _order_ids_above_earlier(self, unseen: int) -> int:
        """Start the engine's new order ids above the ClOrdIDs the day's earlier traffic used; return the floor.

        Called before the venue goes UP (new orders are refused ``VENUE_UNAVAILABLE`` until then), so no
        order is entered under one of those ClOrdIDs (standby53). ``unseen`` >= 0: the venue's NextUserRefNum (0: not
        answered) shows requests of the earlier traffic the replay did not show (Enters the venue took and did not
        answer): their ClOrdIDs are unknown, so the ids start ``UNSEEN_ORDER_ID_MARGIN`` above the highest named
        (where every venue's room allows). Logged at WARNING; 0 when there were none.
        """
        ids = self._earlier_ids
        raise_ids = self.order_ids_above
        if not ids or raise_ids is None:
            if self._earlier_foreign:
                log.warning(
                    "venue %s: the earlier traffic's %d ClOrdIDs are not in this gateway's form (decimal order id, "
                    "or Z + base 36): they cannot collide with its ClOrdIDs",
                    self.name,
                    self._earlier_foreign,
                )
            return 0
        highest = max(ids)
        if unseen >= 0:
            floor = raise_ids([*ids, highest + UNSEEN_ORDER_ID_MARGIN])
            margin = (
                f"; the venue's NextUserRefNum {unseen} shows requests the replay did not"
                if unseen
                else "; the Account Query went unanswered, so requests the replay did not show may exist"
            ) + (
                f": a margin of {UNSEEN_ORDER_ID_MARGIN} for their ClOrdIDs"
                if floor > highest
                else ": no margin for their ClOrdIDs fits another venue's room for order ids (they may be entered "
                "again: reconcile with the venue desk)"
            )
        else:
            floor = raise_ids(ids)
            margin = ""
        log.warning(
            "venue %s: the earlier traffic entered ClOrdIDs of this gateway's form up to %d (%d of them%s): new "
            "order ids start above %d, so none of those ClOrdIDs is entered again%s%s",
            self.name,
            highest,
            len(ids),
            f"; {self._earlier_foreign} of another form, which cannot collide" if self._earlier_foreign else "",
            floor,
            ""
            if floor >= highest
            else f" (those above {floor} are past another venue's room for order ids: the ids cannot reach them)",
            margin,
        )
        self._earlier_ids = set()
        return floor

    # ---- after a login: the requests the replay did not answer -------------------------------------

    def order_id_floor(self) -> int:
        """Return the highest gateway order id the day's earlier traffic used as a ClOrdID (the store's; 0: none).

        A restart the same day after a standby takeover logs in after that traffic (it is not replayed again): the
        core starts new order ids above this as above the journal's (standby53).
        """
        return self._store.order_ids  # loaded only from a file of the store's day (today at start-up)

    def _go_live(self, reason: str, fresh: frozenset[int] = frozenset()) -> None:
        self._end_no_record()
        if self._doubts_on_file or self._replace_doubts_on_file:  # restored (``restore`` comes before the first
            self._doubts_stale = True  # login); the entries of orders that ended before the restart leave the file
            self._replace_doubts_on_file = {}
        self._doubts_on_file = {}
        self._unreadable_on_file = set()
        self._live = True
        now = self._clock()  # requests sent again from here are timed from here (``_sweep_answers``)
        self._issued_marks.clear()
        self._issued_marks.append((now, self._store.last_issued))
        self._swept_upto = 0
        self._cancels_seen_ns = 0  # Cancels sent again from here: timed from the next look
        # a login while the engine holds this venue's bytes (the journal failing): what goes out from here (the
        # Cancels of orders in doubt, requests sent again) leaves at the hold's end, and is timed from then
        # (``hold_output(False)``: ``_resume_sweep``). Before ouch55 this cleared the pause, and a hold released before
        # the next ``poll`` left those Cancels timed from the login (an order ended OUTCOME_UNKNOWN as they left)
        self._sweep_paused = self._output_held
        self._next_sweep_ns = now + self._sweep_every_ns
        out = self._session.out
        for urn in self._late_cancels:  # orders ended here the venue showed live: canceled (again) first
            pack_cancel_order(out, urn, 0)
        if self._doubt_cancels:  # orders answered in doubt, still open: asked (again), timed from now
            self._cancel_doubts_again(now, fresh)
        self._set_state(VenueState.UP, reason)

    def _resolve_unanswered(self, next_user_ref_num: int | None) -> None:
        """Act on every request the replay left unanswered (the venue never received it), then go UP.

        In UserRefNum order: a Cancel is sent again; an Enter or Replace is sent again under its
        own number if the venue has seen none as high (``next_user_ref_num`` <= it), otherwise it is in
        doubt (the venue took its number): an Enter is answered OrderAccepted and canceled by its number,
        a Replace VenueCancelRejected "OUCH_IN_DOUBT" (both numbers candidates; ouchend56, before:
        "OUCH_NOT_RECEIVED", though the venue may have applied it).
        ``next_user_ref_num`` None (the venue did not answer the Account Query): whether the venue took a number is
        unknown, so every Enter and Replace is in doubt, as when its messages were lost (ouchaq56; before, each was
        reported back "OUCH_NOT_RECEIVED", "the venue never received it", false when a slow venue had it).
        The Enter of an order a cancel was asked for (PENDING_NEW_CANCEL, PENDING_NEW_HELD_CANCEL) whose
        number the venue has not taken (``next_user_ref_num`` <= it) is reported back, its Cancel with it:
        sending it again would put on the book an order the desk wants gone (docs/venues/ouch.md). That is the only
        request still reported "OUCH_NOT_RECEIVED": the venue's NextUserRefNum shows it never arrived.
        """
        if self._check_orders:
            self._check_orders = False
            self._lost_orders(next_user_ref_num)
        if self._replace_doubts:
            self._replay_named_no_replace(next_user_ref_num)
        else:  # a gap of this login is judged: no Replace in doubt it can keep (a later one judges later logins')
            self._gaps_judged = self._session.gaps
        inflight = self._inflight
        out = self._session.out
        resent = reported = doubted = 0
        taken: list[tuple[int, int]] = []
        lost = self._answers_lost  # reset after the doubts below are noted (``_keep_replace_doubt`` reads it)
        if next_user_ref_num is not None:
            why = _IN_DOUBT_GAP_TEXT
        else:
            why = _IN_DOUBT_UNKNOWN_TEXT if lost else _IN_DOUBT_NO_QUERY_TEXT
        # No NextUserRefNum (the Account Query unanswered): the venue may have taken any of them (ouchaq56)
        unknown = lost or next_user_ref_num is None
        gap_doubted: list[tuple[int, int]] = []
        # Enters the venue took (below its NextUserRefNum) that the replay did not answer, and, when messages of
        # the venue were lost, every Enter it may have seen: in doubt below, and bounded as after
        # answer_timeout_ms (doubt53, ouchid54 for those of a replay gap): on file before their answers are
        # journaled, their Cancel sent by ``_go_live`` and timed from there (``_sweep_doubts``). The Replaces
        # answered OUCH_IN_DOUBT below (a gap's, one waiting on an Enter in doubt, and one not sent again because its
        # order is in doubt already: ouch56) go on file in the same write: one write per login, not one per Replace
        # (ouch55; before, each Replace wrote the file again)
        added = 0
        replace_refs = self._replace_refs
        for key in inflight:
            if key >= _CANCEL_KEY:
                continue
            chain = self._refs.get(key)
            if chain is None or chain.done:
                continue
            seen = next_user_ref_num is None or key < next_user_ref_num
            if key in replace_refs:
                if seen or chain.candidates or chain.unconfirmed:
                    added += self._pre_note_replace_doubt(chain, key)
                continue
            if seen:
                self._doubt_cancels[key] = 0
                added += 1 + self._pre_note_replace_doubt(chain, chain.pending)
        if added:
            self._save_doubts()
        for key in sorted(inflight, key=lambda k: (k & (_CANCEL_KEY - 1), k)):
            packet = inflight.get(key)
            if packet is None:  # the order was reported back above (its cancel goes with it)
                continue
            chain = self._owner(key)
            if chain is None or chain.done:
                del inflight[key]
                continue
            replace = key in self._replace_refs
            if unknown and key < _CANCEL_KEY and (next_user_ref_num is None or key < next_user_ref_num):
                # The venue has seen this number or a later one and some of its messages were lost, or it did not
                # say its NextUserRefNum (ouchaq56): it may
                # have processed this request, so it is never reported "not received" (an order asked to
                # cancel keeps its Cancel, sent again below in UserRefNum order). An Enter is canceled at the venue
                # by ``_go_live`` and ended OUCH_OUTCOME_UNKNOWN if the venue still says nothing (``_sweep_doubts``)
                if key not in self._replace_refs:
                    gap_doubted.append((key, chain.order.order_id))
                self._in_doubt(0, chain, key, why)
                doubted += 1
                continue
            if replace and key < _CANCEL_KEY and (chain.candidates or chain.unconfirmed):
                # Unanswered, so the venue may have ignored it (its original not live): sent again, it would be
                # ignored again and never answered. A slow venue may yet apply it: its number joins the candidates a
                # Cancel names, on file above (ouch56; before, neither: a Cancel named only the old numbers, which the
                # venue ignores once the Replace took effect, and a restart forgot it)
                del inflight[key]
                if chain.pending == key:
                    chain.pending = 0
                chain.candidates = tuple(sorted({*chain.cancel_targets(), key}))
                chain.in_doubt = True
                doubted += 1
                self.counters["in_doubt"] += 1
                log.error(
                    "venue %s: replace of order %d (UserRefNum %d) %s",
                    self.name,
                    chain.order.order_id,
                    key,
                    _NOT_RESENT_IN_DOUBT_TEXT,
                )
                self._emit(VenueCancelRejected(0, chain.order.order_id, _IN_DOUBT, _NOT_RESENT_IN_DOUBT_TEXT))
                continue
            if replace and key < _CANCEL_KEY and next_user_ref_num is not None and key < next_user_ref_num:
                # The venue took the Replace's number too, unanswered: it may have applied it, or apply it yet, so
                # "never received" would be false (venues56). In doubt, as after answer_timeout_ms: CancelRejected
                # OUCH_IN_DOUBT, both numbers candidates a Cancel names, on file above (ouchend56)
                self._in_doubt(0, chain, key, _IN_DOUBT_TAKEN_TEXT)
                doubted += 1
                continue
            if not replace and key < _CANCEL_KEY and next_user_ref_num is not None and key < next_user_ref_num:
                # The venue took this number (NextUserRefNum, "the next available UserRefNum", is above it) though
                # the replay holds no answer: a slow venue answers it yet (rev52ouch E0: "never received" was
                # false, and its late fill came after the terminal reject). In doubt, as after answer_timeout_ms:
                # OrderAccepted at its own terms and canceled at the venue by its UserRefNum (an order asked to
                # cancel keeps its own Cancel, sent again below in UserRefNum order)
                self._in_doubt(0, chain, key, _IN_DOUBT_TAKEN_TEXT, logged=False)
                self._doubt_cancels[key] = 0  # its Cancel goes out from ``_go_live`` (the desk's, if asked, below)
                taken.append((key, chain.order.order_id))
                doubted += 1
                continue
            cancel_wanted = not replace and key < _CANCEL_KEY and chain.order.state in _CANCEL_WANTED_BEFORE_ACK
            if key >= _CANCEL_KEY or (not cancel_wanted and next_user_ref_num is not None and key >= next_user_ref_num):
                out += packet
                resent += 1
                continue
            del inflight[key]
            reported += 1
            # Reached only with the venue's NextUserRefNum at or below ``key`` (it never saw this number): an Enter of
            # an order asked to cancel (every other Enter and Replace went again, or is in doubt, above)
            text = _NOT_RECEIVED_CANCEL_TEXT if cancel_wanted else _NOT_RECEIVED_TEXT
            order_id = chain.order.order_id
            if replace:
                if chain.pending == key:
                    chain.pending = 0
                self._emit(VenueCancelRejected(0, order_id, _NOT_RECEIVED, text))
            else:
                self._finish(chain)
                self._emit(VenueRejected(0, order_id, _NOT_RECEIVED, text))
        self._answers_lost = False
        self.counters["resent"] += resent
        self.counters["not_received"] += reported
        if taken:
            log.error(
                "venue %s: %d new orders unanswered after the replay though the venue's NextUserRefNum %s is above "
                "their UserRefNums (it received them): %s; taken as accepted at their own size and price (in doubt) "
                "and canceled there by their UserRefNums, so the venue's Canceled or fills settle them. "
                "UserRefNums %s, orders %s",
                self.name,
                len(taken),
                next_user_ref_num,
                _IN_DOUBT_TAKEN_TEXT,
                [urn for urn, _ in taken[:20]],
                [order_id for _, order_id in taken[:20]],
            )
        if gap_doubted:
            log.error(
                "venue %s: %d new orders taken as accepted in doubt (%s) are canceled there by their UserRefNums, so "
                "the venue's Canceled or fills settle them; one the venue still says nothing about %d ms after its "
                "Cancel was most likely never received and ends here (OUCH_OUTCOME_UNKNOWN). UserRefNums %s, orders %s",
                self.name,
                len(gap_doubted),
                "their answers may be among the venue's messages that were lost"
                if lost
                else "the venue did not answer the Account Query: it may have received them",
                self._answer_timeout_ns // MS,
                [urn for urn, _ in gap_doubted[:20]],
                [order_id for _, order_id in gap_doubted[:20]],
            )
        if reported:
            log.warning(
                "venue %s: %d requests never reached the venue and were reported back; %d sent again",
                self.name,
                reported,
                resent,
            )
        self._go_live(
            f"logged in to session {self._session.session!r}; replay read, {resent} requests sent again, "
            f"{reported} reported not received" + (f", {doubted} in doubt" if doubted else ""),
            frozenset(urn for urn, _ in (*taken, *gap_doubted)),
        )

    def _lost_orders(self, next_user_ref_num: int | None) -> None:
        """End the acknowledged orders a venue that restarted its numbering never saw (it lost its state).

        After a numbering restart under the same session id the venue's NextUserRefNum tells what it knows: an
        order none of whose live numbers is below it is not on its book (a Cancel of it would be silently
        ignored, never answered). Each such order ends with VenueCanceled "OUCH_SESSION_CHANGED" for all it has
        open (venue_seq 0), which answers its Cancel or Replace; its requests are not sent again. An order
        whose Enter is unanswered is settled as after any login (sent again, or reported back). The venue
        not answering the Account Query: nothing can be told, the orders stay open (logged at ERROR).
        """
        open_chains = [
            chain
            for chain in self._chains.values()
            if not chain.done
            and chain.order.state is not OrderState.PENDING_NEW
            and chain.order.state not in _CANCEL_WANTED_BEFORE_ACK
        ]
        if next_user_ref_num is None:
            if open_chains:
                log.error(
                    "venue %s: the venue restarted its numbering and did not answer the Account Query: cannot tell "
                    "whether it still has orders %s; they stay open in the gateway: ask the venue desk",
                    self.name,
                    sorted(chain.order.order_id for chain in open_chains),
                )
            return
        lost = [chain for chain in open_chains if min(chain.cancel_targets()) >= next_user_ref_num]
        if not lost:
            return
        self.counters["lost_by_venue"] += len(lost)
        log.error(
            "venue %s: the venue restarted its numbering in session %r and its NextUserRefNum is %d: it never saw "
            "the UserRefNums of %d open orders (it lost its state); they end here as canceled (reason %s, the "
            "strategy is told): reconcile with the venue desk. Orders: %s",
            self.name,
            self._session.session,
            next_user_ref_num,
            len(lost),
            _SESSION_CHANGED,
            sorted(chain.order.order_id for chain in lost),
        )
        for chain in sorted(lost, key=lambda c: c.working):
            self._finish(chain)
            chain.open_qty = 0
            self._emit(VenueCanceled(0, chain.order.order_id, 0, _SESSION_CHANGED, _LOST_BY_VENUE_TEXT))

    # ---- internals ---------------------------------------------------------------------------------

    def _symbol(self, symbol: str) -> bytes:
        raw = self._symbols.get(symbol)
        if raw is None:
            raw = self._symbols[symbol] = symbol.encode("ascii").ljust(8)
        return raw

    def _keep(self, key: int, buf: bytearray, start: int) -> None:
        """Remember the packet at ``buf[start:]`` until answered; take it off the wire if not logged in."""
        self._inflight[key] = buf[start:]
        if not self._live:
            del buf[start:]

    def _pack_replace(self, buf: bytearray, chain: _Chain, user_ref_num: int, qty: int, price: int) -> None:
        order = chain.order
        pack_replace_order(
            buf,
            chain.working,
            user_ref_num,
            qty,
            price,
            _TIF.get(order.tif, b"0"),
            self._display,
            self._sweep,
            _cl_ord_id(order.order_id),
            self._replace_short_appendage if order.side in _SHORT_SIDES else b"",
        )

    def _requeue(self, chain: _Chain) -> None:
        """Queue again the requests a restored order is waiting on (PENDING_NEW_CANCEL: its Enter and its Cancel)."""
        order = chain.order
        for number in self._restored.get(order.order_id, ()):
            self._inflight.pop(number, None)
            self._inflight.pop(number | _CANCEL_KEY, None)
        if chain.done:
            return
        scratch = bytearray()
        state = order.state
        if state is OrderState.PENDING_NEW or state in _CANCEL_WANTED_BEFORE_ACK:
            # PENDING_NEW_CANCEL: the Enter is held too, never re-sent (``_resolve_unanswered``): the replay
            # answers it, or the venue never received it and the order is reported back, its Cancel with it
            pack_enter_order(
                scratch,
                chain.working,
                _SIDE[order.side],
                order.qty,
                self._symbol(order.symbol),
                order.price,
                _TIF.get(order.tif, b"0"),
                self._display,
                self._capacity,
                self._sweep,
                b"N",
                _cl_ord_id(order.order_id),
                self._enter_short_appendage if order.side in _SHORT_SIDES else self._enter_appendage,
            )
            self._inflight[chain.working] = scratch
        elif state in _REPLACING and chain.pending:
            self._pack_replace(scratch, chain, chain.pending, order.pending_qty, order.pending_price)
            self._inflight[chain.pending] = scratch
        if state is OrderState.PENDING_CANCEL or state is OrderState.PENDING_NEW_CANCEL:
            for number in chain.cancel_targets():
                packet = bytearray()
                pack_cancel_order(packet, number, 0)
                self._inflight[number | _CANCEL_KEY] = packet

    def _owner(self, key: int) -> _Chain | None:
        return self._refs.get(key & (_CANCEL_KEY - 1))

    def _finish(self, chain: _Chain) -> None:
        """The order is over at the venue: nothing of it needs re-sending any more."""
        chain.done = True
        inflight = self._inflight
        inflight.pop(chain.working, None)
        inflight.pop(chain.working | _CANCEL_KEY, None)
        if chain.pending:
            inflight.pop(chain.pending, None)
            # never answered: an Accepted naming it is not this order's. On file at the read's end, before the
            # order's end is journaled: else a restart maps it back to the order from the journal's Replace record
            # (rev58merge9: another host's order under it canceled, its fill applied here). Rare: one write
            self._replace_only.add(chain.pending)
            self._doubts_write_due()
            chain.pending = 0
        for number in chain.candidates:
            inflight.pop(number | _CANCEL_KEY, None)
            if number in self._replace_doubts:  # a Replace in doubt: an Accepted naming it is not this order's
                self._replace_only.add(number)
                self._doubts_write_due()

    def _forget_session(self, why: str, code: str = "OUCH_SESSION_CHANGED", previous: str = "") -> None:
        """The venue put us in another session, or ended this one: the UserRefNums it knew mean nothing now.

        Requests still waiting will never be answered; the core hears so through
        synthesized rejects (venue_seq 0), in UserRefNum order: a new order's VenueRejected comes
        first and answers its Cancel too (the order's end answers a Cancel, docs/strategy-protocol.md
        6.1), so a chain whose Enter is rejected gets nothing more; a Cancel or Replace of an
        acknowledged order gets one VenueCancelRejected, however many numbers its Cancel was sent
        to (a Cancel names every number that may be the live one).

        On a session change (``previous`` named) the orders still open stay open in the core (their exposure
        stays counted) but cannot be reached through the new session: they are logged at ERROR once, and a
        Cancel or Replace of one is refused "OUCH_SESSION_CHANGED" (``_unknown_order``).
        """
        log.error("venue %s: %s; %d unanswered requests abandoned", self.name, why, len(self._inflight))
        unreachable = 0
        if self._cancels_reported:  # the Cancels logged unanswered: those answered before this get their all-clear
            if previous:  # those still waiting never will be, the order unreachable and maybe working: kept counted
                unreachable = self._keep_cancels_unreachable()
            self._cancels_answered(
                self._clock(),
                ""
                if previous
                else (
                    "the venue's End of Session came first (answered CancelRejected OUCH_SESSION_ENDED): the venue "
                    "ends the session's orders, nothing of them works there any more"
                ),
                everything=True,
            )
        answered: set[int] = set()
        for key in sorted(self._inflight, key=lambda k: (k & (_CANCEL_KEY - 1), k)):
            chain = self._owner(key)
            if chain is None:
                continue
            order_id = chain.order.order_id
            if order_id in answered:
                continue
            answered.add(order_id)
            if key < _CANCEL_KEY and key not in self._replace_refs:
                chain.done = True  # rejected here: over, not among the orders left open below
                self._emit(VenueRejected(0, order_id, code, why))
            else:
                self._emit(VenueCancelRejected(0, order_id, code, why))
        if previous:
            left = sorted(order_id for order_id, chain in self._chains.items() if not chain.done)
            for order_id in left:
                self._orphans[order_id] = previous
            if unreachable:  # only orders left open (an Enter rejected above is over): ``forget`` drops them
                kept = self._cancels_unreachable
                for order_id in [order_id for order_id in kept if order_id not in self._orphans]:
                    unreachable -= kept.pop(order_id)
            if left:
                log.error(
                    "venue %s: %d orders were open in venue session %r and cannot be reached through session %r: "
                    "they stay open in the gateway (their exposure stays counted); a cancel or replace of them is "
                    "refused OUCH_SESSION_CHANGED: ask the venue desk about them. Orders: %s%s",
                    self.name,
                    len(left),
                    previous,
                    self._store.session,
                    left,
                    f"; {unreachable} of their cancels had no answer before (ERROR '... cancels had no answer ...') "
                    "and stay counted in cancels_unanswered_now until the order ends here"
                    if unreachable
                    else "",
                )
        self._inflight.clear()
        if self._late_cancels:
            self._late_cancels.clear()  # numbers of a session that is over: the venue took its orders off
            self._save_owed()
        self._refs.clear()
        self._replace_refs.clear()
        self._chains.clear()
        self._restored.clear()
        self._doubted.clear()
        self._doubted_prune_at = _DOUBTED_PRUNE_MIN
        self._doubt_cancels.clear()
        self._unreadable_doubts.clear()
        self._replace_doubts.clear()
        self._replace_terms.clear()
        self._kept_replace_doubts.clear()
        self._taken_replace_doubts.clear()
        self._unlost_replace_doubts.clear()
        self._foreign_refs.clear()
        self._replace_only.clear()
        self._replayed_enters.clear()
        self._save_doubts()  # numbers of a session that is over

    def _emit(self, event: VenueEvent) -> None:
        self.event_sink(event)

    def _set_state(self, state: VenueState, reason: str) -> None:
        changed = state is not self._state
        self._state = state
        self._reason = reason
        if changed:
            log.info("venue %s: %s (%s)", self.name, state, reason)
            self.state_sink(self.name, state, reason)

    def _decode_error(self, seq: int, error: DecodeError) -> None:
        self.counters["decode_errors"] += 1
        self._rare("decode", "undecodable OUCH message at sequence %d: %s", seq, error.text)

    def _out_of_range(self, seq: int, kind: str, quantity: int, price: int) -> None:
        """Count and (rarely) log a message whose quantity or price the strategy protocol cannot carry; no event."""
        text = f"{kind}: quantity {quantity} or price {price} outside 0..{_MAX_QTY} / 0..{_MAX_PRICE}"
        self._decode_error(seq, DecodeError(OUT_OF_RANGE, text))

    def _unknown(self, seq: int, kind: str, user_ref_num: int, message: memoryview) -> None:
        """Count a message about a UserRefNum no order of this session has; an Executed (a fill lost) at ERROR.

        Its ClOrdID, if of this gateway's form, is an order id another host (or this one, its journal lost) entered
        today: new order ids start above it (``_foreign_id``; ouchstandby57).
        """
        self.counters["unknown_user_ref_num"] += 1
        self._foreign_id(message, user_ref_num)
        sink = self.unknown_order_sink
        if sink is not None:
            sink()
        self._rare_log.log(
            "unknown " + kind if kind == "E" else "unknown",
            logging.ERROR if kind == "E" else logging.WARNING,
            "venue %s: %s message at sequence %d for unknown UserRefNum %d%s",
            self.name,
            kind,
            seq,
            user_ref_num,
            ": a fill applied to no order (reconcile with the venue desk)" if kind == "E" else "",
        )

    def _ignore(self, kind: str, seq: int, message: object) -> None:
        count = self.ignored[kind] = self.ignored.get(kind, 0) + 1
        if is_power_of_two(count):
            log.info("venue %s: %s at sequence %d (no event; %d so far): %s", self.name, kind, seq, count, message)

    def _rare(self, key: str, message: str, *args: object) -> None:
        """Log ``message`` on the 1st, 2nd, 4th, 8th... occurrence of ``key`` only."""
        self._rare_log.log(key, logging.WARNING, "venue %s: " + message, self.name, *args)

    def _no_event_sink(self, event: VenueEvent) -> None:
        self.counters["dropped_events"] += 1
        self._rare("sink", "no event_sink set; event dropped: %s", event)

    def _no_state_sink(self, name: str, state: VenueState, reason: str) -> None:
        del name, state, reason


def build_ouch_venue(config: OuchVenueConfig, clock: NowNs) -> OuchVenue:
    """Create the OUCH venue adapter for ``config`` (the core then sets ``event_sink`` and ``state_sink``).

    Heartbeat settings SoupBinTCP does not allow but a session survives are logged at WARNING here, once per start
    (``heartbeat_warnings``; those that break the session are refused at config load).
    """
    for warning in heartbeat_warnings(config):
        log.warning("%s", warning)
    return OuchVenue(config, clock)
