"""The gateway core: strategy requests -> risk -> venues, venue events -> the owning strategy.

Plain synchronous code with an injected clock. Transports call ``link_data`` /
``venue event sinks`` with input and then ``flush``; the engine never touches a
socket itself. Within one batch, everything is journaled first, then written to
the venues, then to the strategies, so a crash never leaves bytes on a wire that
the journal does not know about.

Every order ends one of two ways: accepted by a venue and then (eventually)
terminal, or rejected with a reason and a source. Venue events are routed by the
gateway's own order id, so an event can only ever reach the strategy that owns
the order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from operator import attrgetter
from types import FunctionType
from typing import Any, Final

import msgspec

from gateway.engine_counters import EngineCounters
from gateway.entitlements import Entitlements
from gateway.journal import (
    JCancelQueued,
    JCancelRefused,
    JOrderCreated,
    JOrderRefused,
    JOrderSent,
    Journal,
    JournalCorruptError,
    JPositionAdjusted,
    JReplaceRejected,
    JRequest,
    JSentCancel,
    JSentReplace,
    JSeqAhead,
    JStrategyEvent,
    JVenueApplied,
    JVenueEpoch,
    JVenueEvent,
    NullJournal,
)
from gateway.journal_mmap import MmapJournal
from gateway.journal_pack import PACK_FRAME
from gateway.latency import StageLatencies
from gateway.protocol.framing import LENGTH_PREFIX, PREFIX_SIZE
from gateway.protocol.messages import (
    LAST_SEQ_LIMIT,
    REQ_SEQ_VERSION,
    Cancel,
    CancelRejected,
    Error,
    Hello,
    MassCancel,
    MassCancelAck,
    MassCancelAnswer,
    MassCancelRejected,
    NewOrder,
    OrderEvent,
    OrderRejected,
    Replace,
    VenueStatus,
    Welcome,
    WelcomeV2,
)
from gateway.protocol.prices import price_text
from gateway.recovery import Recovered
from gateway.ref_lookup import RefHigh, ScanEnd, find_ref, note_session, ref_scan_start, session_floor
from gateway.replay import (
    MARK_MASK,
    JournalMarks,
    JournalRead,
    ReplayJob,
    ReplayReader,
    mark_position,
    rebuild_order,
    replay_start,
)
from gateway.strategy_session import (
    InvalidRequest,
    ReqSeqCheck,
    StrategyRequest,
    StrategySession,
    StrategySessionState,
    UnreadableRequest,
    last_seq_too_large,
)
from gateway.strategy_state import (
    RELEASED_IDS_CAPACITY,
    REQUEST_ANSWERS_KEPT,
    OrderGroup,
    ReleasedIds,
    StrategyLink,
    StrategyState,
    group_opened,
)
from gateway.venue_apply import (
    NEXT_STATE,
    accepted,
    cancel_rejected,
    canceled,
    executed,
    is_repeated_fill,
    rejected,
    replaced,
    venue_order_id_only,
)
from model.clock import NowNs
from model.denials import Denial
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.exactly_once import ExactlyOnce
from model.order import (
    CANCEL_WANTED_STATES,
    HELD_CANCEL_STATES,
    PHASE,
    IllegalTransition,
    Order,
    OrderInput,
    OrderState,
    can,
    cancel_input,
    drop_held_cancel,
    hold_cancel,
    refuse,
    release_cancel,
    request_cancel,
    request_replace,
)
from model.send_result import BackPressured, Refused, Sent
from model.venue_events import (
    EVENT_MAX_ID,
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
    bounded_id,
    bounded_ids,
    bounded_text,
    bounded_texts,
    event_id,
    event_text,
)
from obs.ratelog import IntervalLog, WindowLog, is_power_of_two
from risk.api import RiskGate
from risk.engine import RiskEngine
from venues.base import LOOKUP_NEVER_CREATED, LOOKUP_OTHER_VENUE, LOOKUP_UNREADABLE, VenueAdapter
from venues.ouch.adapter import OuchVenue

log = logging.getLogger(__name__)

VENUE_RETRY_WARN_NS: Final = 30_000_000_000
"""A venue connection that ends before UP is logged at WARNING at most once per this (30 s), per venue."""
_TRYING: Final = (VenueState.CONNECTING, VenueState.LOGGING_IN)
"""The states of a venue connection on its way to UP."""

ReplayScheduler = Callable[[Callable[[], None], float], None]
"""Calls a function on the loop after a delay in seconds (0: after the loop has looked at its sockets)."""

_MARK_MASK: Final = MARK_MASK
REPLAY_SLICE_EVENTS: Final = 512
"""Replayed events encoded for a strategy per loop callback (about 0.15 ms), when a scheduler is set."""
REPLAY_LOW_WATER: Final = 256 * 1024
"""A replay's next slice is written only once the strategy has fewer unread bytes than this."""
REPLAY_RETRY_S: Final = 0.001
"""How soon a replay waiting for its strategy to read looks again."""
REPLAY_STALL_NS: Final = 10_000_000_000
"""A strategy that reads nothing of its replay for this long is cut off as a slow consumer."""
REPLAY_CHUNK_EVENTS: Final = 2048
"""A replay from the journal of more events than this is read twice, when a scheduler is set: first only
checked and counted (before the Welcome), then rebuilt and handed over this many events at a time."""
REPLAY_RESUME_EVENTS: Final = 1024
"""The next chunk is read once fewer than this many of the last are still to be written."""

BATCH_BYTES: Final = 4096
"""Strategy bytes processed between two flushes (about 60 NewOrder frames)."""
LATE_FILLS_LOGGED_PER_S: Final = 10
"""Late fills logged one by one per second (``Engine._late_fill``); the rest are in the journal and counted."""
HELD_INPUT_LIMIT: Final = 1 << 20
"""Bytes held unread behind a Hello that waits for its Welcome above which the connection is no longer read."""
READ_TURN_BYTES: Final = 4 * BATCH_BYTES
"""Bytes of one strategy read processed per loop turn: a longer read's rest waits for a later turn, other
connections' reads in between (``Engine._link_slices``, ``StrategyLink.read_rest_soon``)."""
HELD_CHUNK_BYTES: Final = READ_TURN_BYTES
"""Bytes held behind a Hello read per loop callback once its Welcome and replay are out (never more than
``READ_TURN_BYTES``: such a chunk is never kept for a later turn; one cut by back-pressure puts its rest back in
front of the held bytes, ``Engine._read_turn``)."""
MASS_CANCEL_TURN_WORK: Final = 4096
"""Groups looked at plus orders walked by a strategy's MassCancels after which its read's turn ends (mass56): the
requests behind the MassCancel that passed it wait for a later loop turn, in order, other connections' reads and
the venues' timers served in between (``Engine._cut_turn``)."""
MASS_CANCEL_WALK_SLICE: Final = 512
"""Orders a MassCancel acts on (sends or holds a Cancel for) per loop turn (mass58). A MassCancel matching more of a
strategy's orders walks them a slice per loop turn (``Engine._walk_on``), other strategies and the venues' reads served
in between; that strategy's later requests wait for its end (``Engine._walks``); its answer comes after the last
slice."""

HELD_RETRY_S: Final = 0.005
"""While a strategy's answers are over its high mark (``StrategyLink.output_full``) the bytes held behind its Hello
wait: looked at again this often (the link cuts a strategy that reads nothing of them for 10 s)."""

GATEWAY: Final = RejectSource.GATEWAY
RISK: Final = RejectSource.RISK
VENUE: Final = RejectSource.VENUE
_SEND: Final = OrderInput.SEND
_REQUEST_CANCEL: Final = OrderInput.REQUEST_CANCEL
_HOLD: Final = OrderInput.HOLD_CANCEL
_RELEASE: Final = OrderInput.RELEASE_CANCEL
_DROP: Final = OrderInput.DROP_HELD_CANCEL
_REPLACING: Final = frozenset({OrderState.PENDING_REPLACE, OrderState.PENDING_REPLACE_HELD_CANCEL})
_FILLED: Final = OrderState.FILLED
_NOT_APPLIED: Final = "not applied: reconcile with the venue"
_HELD_BY_ADAPTER: Final = "the venue adapter asks again (a fill is held and applied once the journal reads back)"
"""States from here on are terminal (compare with ``>=``)."""
TERMINAL_ORDERS_KEPT: Final = 10_000
"""Terminal orders kept in memory (the most recent); older ones are released (the journal has them)."""
EVENTS_KEPT: Final = 10_000
"""Events kept in memory per strategy (the most recent); a reconnect that needs older ones reads the journal."""
RELEASE_BATCH: Final = 1_024
"""Orders or events released at a time, once that many are over the window (amortises the work)."""
_GAP: Final = ReqSeqCheck.GAP
_pack_prefix: Final = LENGTH_PREFIX.pack_into
_length_prefix: Final = LENGTH_PREFIX.pack
_encode_event: Final = msgspec.msgpack.Encoder().encode
"""FrameWriter's encoder's bytes (msgspec's defaults), as a new ``bytes``: the interpreted ``_deliver``."""
# Final aliases of what is used per order: compiled, a use is a static read instead of a lookup of the
# name in this module's globals dict (which every imported name and non-Final global is)
_Order: Final = Order
_JOrderSent: Final = JOrderSent
_JRequest: Final = JRequest
_JVenueApplied: Final = JVenueApplied
_VenueAccepted: Final = VenueAccepted
_VenueExecuted: Final = VenueExecuted
_EVENT_MAX_ID: Final = EVENT_MAX_ID
_Sent: Final = Sent
_NEXT_STATE: Final = NEXT_STATE
_UP: Final = VenueState.UP
_NewOrder: Final = NewOrder
_Hello: Final = Hello
_Error: Final = Error
_astuple: Final = msgspec.structs.astuple
_OuchVenue: Final = OuchVenue
_MmapJournal: Final = MmapJournal
_PACK_FRAME: Final = PACK_FRAME


def _duplicate_text(cl_ord_id: str) -> str:
    """The text of ``DUPLICATE_CL_ORD_ID`` (a valid NewOrder's and a malformed one's alike)."""
    return f"cl_ord_id {cl_ord_id!r} was already used by this strategy"


def _mass_cancel_rate_text(denial: str) -> str:
    """The text of a filtered MassCancel refused by the cancel-rate limit (docs/strategy-protocol.md 6.1)."""
    return (
        f"{denial}; a MassCancel with a filter counts as one Cancel: nothing canceled. A MassCancel without filters "
        "cancels every open order of yours and is never refused"
    )


def _session_ended_text(venue: str) -> str:
    return f"venue {venue} session ended; nothing is sent to it until it is up again"


def _backpressure_text(venue: str, what: str = "") -> str:
    if what:
        return f"venue {venue} is not reading fast enough; {what} not queued, retry later"
    return f"venue {venue} is not reading fast enough; retry later"


def _cancel_pending_text(order: Order) -> str:
    """Return ``CANCEL_PENDING``'s text for ``order``: where its first cancel is (held, or sent), in its words."""
    state = order.state
    if state is OrderState.PENDING_REPLACE_HELD_CANCEL:
        return "a cancel is already pending: it is held until the order's Replace resolves"
    if state is OrderState.LIVE_HELD_CANCEL or state is OrderState.PENDING_NEW_HELD_CANCEL:
        return f"a cancel is already pending: it is held until venue {order.venue} is up"
    return "a cancel is already in flight"


_COMPILED: Final = not isinstance(_backpressure_text, FunctionType)
"""True when this module runs compiled by mypyc (its functions are then not Python functions)."""


def _after_end(event: VenueExecuted) -> VenueExecuted:
    """Return ``event`` marked as reported after its order ended here (``VenueExecuted.after_end``)."""
    return msgspec.structs.replace(event, after_end=True)


class Engine:
    """Route orders and events; keep order state; journal every change."""

    def __init__(
        self,
        *,
        risk: RiskGate,
        venues: Iterable[VenueAdapter],
        entitlements: Entitlements,
        clock: NowNs,
        journal: Journal | None = None,
        gateway_id: str = "gateway",
        heartbeat_ms: int = 1_000,
        terminal_orders_kept: int = TERMINAL_ORDERS_KEPT,
        events_kept: int = EVENTS_KEPT,
        released_ids_capacity: int = RELEASED_IDS_CAPACITY,
    ) -> None:
        self.risk = risk
        self._native_risk: RiskEngine | None = risk if isinstance(risk, RiskEngine) else None
        """``risk`` when it is the product's ``RiskEngine`` (compiled, the engine calls it natively while
        ``risk`` is still that object; any other gate is called through the protocol)."""
        self.entitlements = entitlements
        self.clock = clock
        self.journal: Journal = journal if journal is not None else NullJournal()
        self.gateway_id = gateway_id
        self.heartbeat_ms = heartbeat_ms
        self.venues: dict[str, VenueAdapter] = {}
        self.venue_states: dict[str, VenueState] = {}
        self.venue_texts_clipped: dict[str, int] = {}
        """Per venue: its texts clipped to ``EVENT_MAX_TEXT`` (events' and its session's, ``VenueStatus``; fix55)."""
        self.venue_ids_bounded: dict[str, int] = {}
        """Per venue: its ids (ExecID, OrderID) longer than ``EVENT_MAX_ID`` put in their bounded form (texts56)."""
        self.strategies: dict[str, StrategyState] = {}
        self.orders: dict[int, Order] = {}
        self.open_orders: dict[int, Order] = {}
        self._counters = EngineCounters()
        self._rarelog = IntervalLog(log)
        """Lines a venue can cause without bound (repeated fills): at most one per kind per 10 s."""
        self._late_fill_log = WindowLog(
            log, "each is in the journal and counted in late_fills (gateway_late_fills_total)", LATE_FILLS_LOGGED_PER_S
        )
        """Every late fill at ERROR, up to ``LATE_FILLS_LOGGED_PER_S`` a second (then one line saying so)."""
        # the four counters counted per order round trip, as native ints (compiled: a field of this object
        # instead of a generic read and write of a Struct attribute); ``counters`` adds them in when read
        self._n_orders_received = 0
        self._n_orders_sent = 0
        self._n_venue_events = 0
        self._n_accepted = 0
        self.rejects: dict[tuple[RejectSource, str], int] = {}
        """OrderRejected sent to strategies, by (source, code)."""
        self.cancel_rejects: dict[tuple[RejectSource, str], int] = {}
        """CancelRejected sent to strategies (cancels and replaces refused), by (source, code)."""
        self.latency = StageLatencies()
        self.next_order_id = 1
        self.orders_created = 0
        """Orders created today, released ones included (ids may skip: see ``GatewayProcess.recover``)."""
        self.terminal_orders_kept = terminal_orders_kept
        self.events_kept = events_kept
        self._release_due = False
        """More than ``terminal_orders_kept + RELEASE_BATCH`` terminal orders are in memory."""
        self._terminal: deque[Order] = deque()
        """Terminal orders still in memory, oldest first (released beyond ``terminal_orders_kept``)."""
        self._events_over: list[StrategyState] = []
        """Strategies whose event window is over ``events_kept`` (trimmed once the journal is written)."""
        self.released_orders = 0
        self.released_events = 0
        self.released_ids = ReleasedIds(released_ids_capacity)
        """Every strategy's released ``cl_ord_id``s: one table, allocated here (``memory.released_ids_capacity``)."""
        self.journal_replays = 0
        """Reconnects whose replay reached before the in-memory window (served from the journal)."""
        self.replays_cancelled = 0
        """Journal reads stopped because their connection closed before the replay was out."""
        self.replay_reader: ReplayReader | None = None
        self.replay_scheduler: ReplayScheduler | None = None
        """Set by ``gateway.app``: a long replay is then written a slice at a time as the strategy reads it."""
        self._replays: dict[StrategyLink, _ReplayStream] = {}
        """Connections whose replay is being written (their Welcome is out, their session not yet active)."""
        self.order_marks = JournalMarks()
        """Replay index: every 1,024th order id -> a journal position at or before its creation."""
        self.replay_records = 0
        """Journal records decoded for replays (the cost the index bounds)."""
        self.journal_rebuilds = 0
        """Released orders read back from the journal for a fill the venue reported (``_released_order``)."""
        self.journal_rebuild_records = 0
        """Journal records decoded for them."""
        self.stopping = False
        """The gateway is stopping (``GatewayApp.stop``): a venue leaving UP now is the stop's doing, logged at INFO."""
        self._venue_retry_warned: dict[str, int] = {}
        """Venue -> when (engine clock) a connection that ended before UP was last logged at WARNING."""
        self.ref_lookups = 0
        """Venue references looked up in the journal for an adapter that no longer maps them (``_order_of_ref``)."""
        self.ref_lookup_records = 0
        """Journal records decoded for them."""
        self.ref_lookups_found = 0
        """Of ``ref_lookups``, those the journal named an order for (the others: counted unknown by the adapter)."""
        self.ref_lookup_failures = 0
        """Look-ups the journal could not answer (damage, I/O error): the message was counted unknown."""
        self.venue_sessions: dict[str, tuple[str, int]] = {}
        """Venue -> its latest session id and where in the journal it began (``gateway.ref_lookup.note_session``)."""
        self.ref_highs: dict[str, RefHigh] = {}
        """Venue -> the highest number its latest session has in the journal up to a position (``RefHigh``): a
        number above it is searched for in the records after that position only (``_order_of_ref``)."""
        self.ref_lows: dict[str, tuple[int, int]] = {}
        """Venue -> (where its latest session began, the lowest number that session has in the journal): numbers
        increase with the journal within a session, so a lower number was never sent there and is not searched
        for (``_ref_outside_journal``). Noted by recovery and by a search that read from the session's start."""
        self.journal_rebuild_skipped = 0
        """Journal records passed over for them undecoded (other orders', by their first bytes)."""
        self.journal_rebuild_failures = 0
        """Released orders the journal could not be read back for (``_read_released``: ``LOOKUP_UNREADABLE``)."""
        self._pending_hellos: dict[StrategyLink, bytearray] = {}
        """Connections whose Hello waits for its Welcome and replay, or whose bytes behind it are being read -> those
        bytes, held undecoded (read a chunk per loop callback after the replay: ``_read_held``)."""
        self._kept_reads: dict[StrategyLink, _KeptRead] = {}
        """Connections whose long read is taken a ``READ_TURN_BYTES`` part per loop turn -> its rest (the link
        reads nothing more from the strategy until it is done: ``StrategyLink.read_rest_soon``)."""
        self._mass_cancel_work = 0
        """Groups looked at, orders walked and journal records read by MassCancels in this read's turn (or since its
        last cut): ``MASS_CANCEL_TURN_WORK``. Reset when a read's turn begins (``link_data``, ``_read_turn``), so a
        cut refused (a held read, a Hello waiting, a fatal Error) does not carry its work over to the next read of
        any strategy (mass56b)."""
        self._cut: list[StrategyRequest] | None = None
        """The requests of a read left behind a MassCancel that ended the turn (``_cut_turn``), to be kept."""
        self._walks: dict[str, _MassWalk] = {}
        """Strategy id -> its MassCancel being walked a ``MASS_CANCEL_WALK_SLICE`` per loop turn (mass58): its
        connection's later requests wait for its end (``_behind_walk``)."""
        self.killed_scopes: set[str] = set()
        """The scopes a kill switch halted that no resume has lifted ("" firm-wide, else an account): ``cancel_all``
        adds one, ``kill_lifted`` takes it away, ``adopt`` takes recovery's (``Recovered.kills``)."""
        self._kill_owed: set[int] = set()
        """Orders a kill switch owes its Cancel (walk59c), per order whatever resume came since: every order of the
        scope open at the kill (``cancel_all``), its Cancel wanted or not (its strategy's, or a disconnect policy's
        or the stop's own Cancel held or in flight: kill60), until the gateway sends or holds a fresh Cancel of its
        own for it (journaled ``JSentCancel.own`` or ``JCancelQueued.own``, not the release of one held before:
        ``_kill_paid``), as ``Recovered.kill_owed`` has it (``adopt`` takes that). The kill's walk sends one only to
        an order still owed; a refusal of whatever Cancel was wanted (by the venue or the adapter) sends it then
        (``_kill_refusal``); once per order. Ended orders' ids are dropped at the next kill."""
        self._kill_sent: set[int] = set()
        """Orders whose held or in-flight Cancel is a kill's own, the one that paid its debt (``_kill_paid``; kill60),
        joined by a strategy's Cancel or not: a later kill owes them nothing more while it is wanted, and its refusal
        brings no other (the kill's Cancel once per order). Left at its refusal or drop; ended orders' ids are
        dropped at the next kill. ``Recovered.kill_sent`` has the same."""
        self._own_walks: list[_CancelWalk] = []
        """The gateway's own Cancels of many orders walked a ``MASS_CANCEL_WALK_SLICE`` per loop turn, each walk on
        its own: a kill switch's (``cancel_all``, walk59) and a disconnect policy's (mass58). A Hello of that strategy
        waits for the policy's (``_hellos_behind_walk``; mass59); nothing else waits for them."""
        self._hellos_behind_walk: dict[StrategyLink, Hello] = {}
        """Connections whose Hello waits for the end of their strategy's disconnect policy's walk (mass59): answered
        after its last slice (``_welcome_after_walk``), their bytes behind it held meanwhile (``_pending_hellos``)."""
        self._in_turn = False
        """A long read's turn is being taken (``_read_turn``): it keeps what a cut left itself."""
        self._held_read: StrategyLink | None = None
        """The connection whose chunk of bytes held behind its Hello is being read (``_read_held``)."""
        self._held_rest: bytes = b""
        """The part of that chunk back-pressure left unread (``_read_turn``): put back in front of the held bytes."""
        self._held_aside: dict[StrategyLink, bytearray] = {}
        """Connections whose chunk held behind a Hello was cut behind a MassCancel's walk (mass59) -> the bytes held
        after that chunk: read (``_read_held``) once the walk and the chunk's rest are carried out (``link_rest``)."""
        self._journal_reads: dict[StrategyLink, JournalRead] = {}
        """Connections whose replay is being read from the journal (at most one per strategy: its connection's)."""
        self._start_highs: dict[str, int] = {}
        """Strategy id -> the last seq the journal held for it when this process started (``adopt``, before any event
        numbered since), until its first Hello since the start is answered: a ``last_seq`` above it has events the
        journal lost, and the events numbered since the start are issued again after it (``_reissue``, seq61)."""
        self.journal_error = ""
        """Why the last journal write failed ("" while the journal is healthy)."""
        self.journal_failures = 0
        self.exactly_once = ExactlyOnce(on_epoch=self._on_venue_epoch)
        """Decides which venue messages are new (adapters ask it) and which requests are unanswered."""
        self._req_seq = 0
        """The number of the version-3 request being carried out, until a record carrying it is journaled."""
        self.halt_accounts: Callable[[list[str], str], None] | None = None
        """Set by ``gateway.app``: halt these accounts (journaled, lifted by ``gateway resume --account``) with this
        reason; called by ``_internal_error`` for the accounts of a strategy whose request hit a fault of the
        gateway's own."""
        self._fault_note = ""
        """What the step that failed knew of its order (``_order_unjournaled``), for ``_internal_error``'s text."""
        self._owed: dict[int, tuple[Order, str, str, bool]] = {}
        """Orders whose held Cancel must be dropped, or whose Cancel answered, but whose journal record failed (a
        fault while handling a fault) -> (order, code, text, whether the strategy is answered): tried again at each
        ``poll`` until the journal takes it (``_settle_owed``); the Cancel stays held meanwhile, as the journal says."""
        self._owed_records: list[JRequest] = []
        """Request records (``JRequest``: a MassCancel's answer sent already, the number of a request the last resort
        answered) a fault kept from the journal: tried again at each ``poll`` (``_settle_owed``)."""
        self._owed_failures = 0
        self._risk_held: Order | None = None
        """The last new order risk let through (and counted), for ``_internal_error`` to release if a fault stopped
        it before it was sent or refused (then it is still CREATED); never cleared: its state tells."""
        self._produced: list[OrderEvent] = []
        """The second strategy event a venue event produced, if any (``gateway.venue_apply``); reused."""
        self._links: list[StrategyLink] = []
        self._dirty_link: StrategyLink | None = None
        """The first connection the next flush has bytes (or a close) for; None: none (``_mark_dirty``)."""
        self._dirty_links: list[StrategyLink] = []
        """The further ones, each once: empty while ``_dirty_link`` is None."""
        self._wire_first: Order | None = None
        """The first order of the batch the next flush sends (``t_wire`` is stamped on it); None: no order."""
        self._wire_pending: list[Order] = []
        """The batch's later orders (a read of several): empty while ``_wire_first`` is None."""
        self._decoded_ns = 0
        """When the current strategy read's frames were decoded."""
        self._encoded_ns = 0
        """When the last order to send was encoded: the next flush's start, ``journal_write``'s (0: read it then)."""
        self._venue_event_ns = 0
        """When the first venue event of the current batch reached the engine (0: none yet)."""
        self._venue_events_pending = 0
        self._venue_list: list[VenueAdapter] = []
        self._venue_event_handlers: dict[type, Callable[[StrategyState, Order, object], None]] = {
            # VenueAccepted, the steady state, is applied in the venue sink itself (``_venue_sink``)
            VenueRejected: self._on_venue_rejected,  # type: ignore[dict-item]
            VenueExecuted: self._on_venue_executed,  # type: ignore[dict-item]
            VenueCanceled: self._on_venue_canceled,  # type: ignore[dict-item]
            VenueReplaced: self._on_venue_replaced,  # type: ignore[dict-item]
            VenueCancelRejected: self._on_venue_cancel_rejected,  # type: ignore[dict-item]
        }
        for venue in venues:
            self.add_venue(venue)

    # ======================================================================================
    # Venues
    # ======================================================================================

    def add_venue(self, venue: VenueAdapter) -> None:
        """Attach a venue adapter: its events and state changes now flow into this engine."""
        name = venue.name
        self.venues[name] = venue
        self._venue_list.append(venue)
        self.venue_states[name] = venue.state
        self.venue_texts_clipped.setdefault(name, 0)
        self.venue_ids_bounded.setdefault(name, 0)
        venue.event_sink = self._venue_sink(name)
        venue.state_sink = self.on_venue_state
        venue.unknown_order_sink = self._count_unknown_order
        venue.order_of_ref = self._order_of_ref
        venue.ref_outside_journal = self._ref_outside_journal
        venue.order_ids_above = self._order_ids_above
        venue.order_ids_issued = self._order_ids_issued
        venue.order_source = self._order_source(name)
        venue.order_lookup = self._order_lookup(name)
        venue.bind_sequence(self.exactly_once.venue(name))

    def _order_ids_above(self, ids: Iterable[int]) -> int:
        """Start new order ids above the highest of ``ids`` that every venue can carry; return it (0: none).

        ``ids``: gateway order ids another host used today (``VenueAdapter.order_ids_above``: the ClOrdIDs of an
        OUCH standby takeover's replay). Ids past a venue's room (``max_order_id``, for a venue not already past
        it) are left out: new ids past it would leave that venue refusing every order, and the ids cannot reach
        them without that anyway. Once per takeover, never per order.
        """
        limit: int | None = None
        for venue in self._venue_list:
            room = venue.max_order_id()
            if room is not None and room >= self.next_order_id and (limit is None or room < limit):
                limit = room
        floor = max((i for i in ids if limit is None or i <= limit), default=0)
        if floor >= self.next_order_id:
            self.next_order_id = floor + 1
        return floor

    def _order_ids_issued(self) -> int:
        """The highest order id issued or skipped past (``VenueAdapter.order_ids_issued``; 0: none)."""
        return self.next_order_id - 1

    def _order_of_ref(self, venue: str, ref: int, session: str) -> int:
        """Return the order ``venue`` was sent under numeric reference ``ref`` in its session ``session`` (0: none).

        -1: the journal could not be read (no answer: the adapter does not keep it as one).

        For an adapter whose references do not name the order (OUCH UserRefNums) and that no longer maps
        ``ref`` (the order was released from memory, or ended before a restart): read from the journal
        (``gateway.ref_lookup``: a binary search over the replay index, then a scan; a number above the highest
        the session has in the journal (``ref_highs``) reads only the records since that was noted, one below its
        lowest (``ref_lows``) reads nothing), on the event
        loop, only when such a message arrives (any message about one order: docs/venues/ouch.md). The caller passes
        a fill on under the id, which the sink then applies as any fill of an order released from memory
        (``_released_order``); the rest the adapter settles itself (counted after-end, or canceled at the venue).
        Counted in ``ref_lookups`` / ``ref_lookups_found`` / ``ref_lookup_records`` / ``ref_lookup_failures``
        (``gateway status`` section ``journal_lookups``, ``gateway metrics`` ``gateway_journal_ref_lookups_total``...).
        """
        journal = self.journal
        floor = session_floor(self.venue_sessions, venue, session)
        if floor is None:  # not the venue's latest session: nothing it can fill now was sent under it
            return 0
        low = self.ref_lows.get(venue)
        if low is not None and low[0] == floor and ref < low[1]:  # below the session's first number: never sent
            return 0
        known = self.ref_highs.get(venue)
        if known is not None and known.floor != floor:  # noted for an earlier session
            known = None
        scan_end = ScanEnd()
        try:
            if known is not None and ref > known.high:  # not journaled before ``known.end``: read what came since
                start, probed = known.end, 0
            else:
                start, probed = ref_scan_start(journal.reader, self.order_marks.positions, venue, ref, floor)
            order_id, records = find_ref(journal.reader(start), venue, ref, session, self._venue_of, scan_end)
        except (JournalCorruptError, OSError) as exc:
            self._rarelog.log(
                "ref_lookup_failed",
                self.clock(),
                logging.ERROR,
                "venue %s: reference %d, no longer mapped: the journal cannot be read (%s: %s); not applied: "
                "reconcile with the venue",
                venue,
                ref,
                type(exc).__name__,
                exc,
            )
            self.ref_lookup_failures += 1
            return -1
        if scan_end.end >= 0:  # read to the end: every number of the session there is at most this
            high = max(scan_end.high, ref, known.high if known is not None else -1)
            self.ref_highs[venue] = RefHigh(floor, high, scan_end.end)
        if start == floor and scan_end.low >= 0 and (low is None or low[0] != floor):  # read from the session's start
            self.ref_lows[venue] = (floor, scan_end.low)
        self.ref_lookups += 1
        self.ref_lookup_records += probed + records
        if order_id:
            self.ref_lookups_found += 1
        self._rarelog.log(
            "ref_lookup",
            self.clock(),
            logging.INFO,
            "venue %s: reference %d, no longer mapped: %s in the journal (%d records read)",
            venue,
            ref,
            f"order {order_id}" if order_id else "not found",
            probed + records,
        )
        return order_id

    def _ref_outside_journal(self, venue: str, ref: int, session: str) -> int:
        """Say, without reading it, whether the journal has nothing sent to ``venue`` under ``ref`` in ``session``.

        1: ``ref`` is above the highest number the session has in the journal up to a position (``ref_highs``:
        noted by recovery, and by each search that read to the journal's end) and nothing was written since
        (ouchlookup56: a standby's numbers named by the replay after a failback, a venue's stream out of frame).
        -1: ``ref`` is below the lowest number the session has in the journal (``ref_lows``: noted by recovery,
        and by a search that read from the session's start), which stays its lowest whatever is written since
        (ouchlow57: the primary's numbers named by a replay from early in the day on a standby that took over).
        0: it may be there (a search says). The OUCH adapter asks first: such a number costs no search of its
        budget. Not the venue's latest session: 1 (``_order_of_ref`` answers 0 without reading too).
        """
        floor = session_floor(self.venue_sessions, venue, session)
        if floor is None:
            return 1
        low = self.ref_lows.get(venue)
        if low is not None and low[0] == floor and ref < low[1]:
            return -1
        known = self.ref_highs.get(venue)
        if known is not None and known.floor == floor and ref > known.high and known.end == self.journal.tell():
            return 1
        return 0

    def _venue_of(self, order_id: int) -> str | None:
        """Return the venue of order ``order_id`` if it is in memory (None: not known here)."""
        order = self.orders.get(order_id)
        return None if order is None else order.venue

    def _count_unknown_order(self) -> None:
        """Count a venue message about an order no key of the adapter maps to (its own counter says which key)."""
        self._counters.venue_events_unknown_order += 1

    def _on_venue_epoch(self, venue: str, epoch: str) -> None:
        """Journal that ``venue``'s message numbering restarted: later venue_seq values count from 0 again."""
        log.info("venue %s: message numbering is now %r", venue, epoch)
        note_session(self.venue_sessions, venue, epoch, self.journal.tell())
        self.journal.append(JVenueEpoch(venue, epoch))

    def on_venue_state(self, name: str, state: VenueState, reason: str) -> None:
        """Note a venue session state change; at UP hand the adapter what is unanswered, release held cancels.

        ``after_replay`` is called at every UP, with nothing unanswered too: after a numbering reset the FIX
        adapter asks about the acknowledged open orders then (their reports sent meanwhile are never resent).
        """
        previous = self.venue_states.get(name)
        self.venue_states[name] = state
        if state != previous:
            self._log_venue_state(name, previous, state, reason)
            text = bounded_text(reason)  # a venue's Logout Text may be long (fix55)
            if text is not reason:
                self.venue_texts_clipped[name] = self.venue_texts_clipped.get(name, 0) + 1
            notice = VenueStatus(name, state.value, text)
            for link in self._links:
                if link.session.state is StrategySessionState.ACTIVE:
                    link.session.send(notice)
                    self._mark_dirty(link)
        if state is VenueState.UP:
            mine = [order for order in self.open_orders.values() if order.venue == name]
            self.venues[name].after_replay(self.exactly_once.unanswered(mine))
            for order in mine:
                if can(order, _RELEASE):
                    self._own_cancel(order, f"venue {name} back UP, sending a held cancel", held=True)
        elif state is VenueState.ENDED and state != previous:
            unanswered = self.exactly_once.unanswered([o for o in self.open_orders.values() if o.venue == name])
            if unanswered:
                self.venues[name].after_session_end(unanswered)
            if not self.venues[name].resumes_after_end:
                for order in [o for o in self.open_orders.values() if o.venue == name]:
                    if order.state is OrderState.LIVE_HELD_CANCEL:  # nothing left in flight: no venue will take it
                        self._refuse_held_cancel(order)

    def _log_venue_state(self, name: str, previous: VenueState | None, state: VenueState, reason: str) -> None:
        """Log a venue's state change (the whole reason: ``%s``, one line), at WARNING when the venue is lost.

        Leaving UP other than for the venue's end of session or the gateway's stop: WARNING, once per
        transition (orders to the venue are refused from now on). A connection that ends before UP again (a
        reconnect's connect, login or replay failing): WARNING at most once per ``VENUE_RETRY_WARN_NS`` per
        venue, the rest at INFO (ouchlookup56: every venue kind alike; before, all INFO, so a WARNING filter
        saw nothing of an OUCH venue lost until the 2-minute alert).
        """
        if previous is VenueState.UP and state is not VenueState.ENDED and not self.stopping:
            log.warning(
                "venue %s: %s -> %s (%s): orders to it are refused until it is UP again", name, previous, state, reason
            )
            self._venue_retry_warned[name] = self.clock()
            return
        if state is VenueState.DISCONNECTED and previous in _TRYING and not self.stopping:
            now = self.clock()
            last = self._venue_retry_warned.get(name)
            if last is None or now - last >= VENUE_RETRY_WARN_NS:
                self._venue_retry_warned[name] = now
                log.warning("venue %s: %s -> %s (%s): not UP, reconnecting", name, previous, state, reason)
                return
        log.info("venue %s: %s -> %s (%s)", name, previous, state, reason)

    @property
    def counters(self) -> EngineCounters:
        """Return the counters (``gateway status``, the metrics, the demo summary), up to date.

        The four counted per order round trip (``orders_received``, ``orders_sent``, ``venue_events``,
        ``accepted``) are native ints of the engine between reads: they are added in here.
        """
        c = self._counters
        if self._n_orders_received:
            c.orders_received += self._n_orders_received
            self._n_orders_received = 0
        if self._n_orders_sent:
            c.orders_sent += self._n_orders_sent
            self._n_orders_sent = 0
        if self._n_venue_events:
            c.venue_events += self._n_venue_events
            self._n_venue_events = 0
        if self._n_accepted:
            c.accepted += self._n_accepted
            self._n_accepted = 0
        return c

    def venue_counters(self, venue: str) -> dict[str, int]:
        """Return what the engine counts of ``venue``'s input for ``gateway metrics`` (per venue, beside the adapter's
        ``session_counters``): its texts clipped and its ids bounded (texts56)."""
        return {
            "texts_clipped": self.venue_texts_clipped.get(venue, 0),
            "ids_bounded": self.venue_ids_bounded.get(venue, 0),
        }

    def on_venue_event(self, venue: str, event: VenueEvent) -> None:
        """Apply one normalised venue event to its order and tell the owning strategy."""
        self._venue_sink(venue)(event)

    def _venue_sink(self, venue: str) -> Callable[[VenueEvent], None]:
        """Return ``venue``'s event sink: ``on_venue_event`` with the venue's name bound (one call per event)."""
        adapter = self.venues.get(venue)
        long_ids = adapter is None or not adapter.ids_bounded  # its ids may exceed EVENT_MAX_ID (FIX): measured

        def sink(event: VenueEvent) -> None:  # nothing of the engine captured: recovery replaces its tables
            self._n_venue_events += 1
            # a venue's text clipped (fix55) and its ids bounded (texts56) before anything journals or quotes them:
            # no call for an acknowledgement or a fill, the steady state (for OUCH and BOE, whose ids are numbers,
            # not even a length)
            if type(event) is not _VenueAccepted:
                if type(event) is not _VenueExecuted or (long_ids and len(event.exec_id) > _EVENT_MAX_ID):
                    event = self._bounded(venue, event)
            elif event.canceled_text or (long_ids and len(event.venue_order_id) > _EVENT_MAX_ID):
                event = self._bounded(venue, event)
            key: Any = event.order_id  # compiled: the event's int object as the key (no unbox and box again)
            try:  # a subscript, no method call: a known order is the steady state
                order: Order | None = self.orders[key]
            except KeyError:
                order = None
            if order is None or order.venue != venue:
                # off the steady path: a fill of an order released from memory is rebuilt from the journal
                order = self._released_order(venue, event) if order is None else None
                if order is None:
                    counters = self._counters
                    counters.venue_events_unknown_order += 1
                    if counters.venue_events_unknown_order <= 10:
                        log.warning("venue %s: event for unknown order %d ignored: %r", venue, event.order_id, event)
                    return
            if not self._venue_event_ns:
                self._venue_event_ns = self.clock()
            self._venue_events_pending += 1
            st = self.strategies[order.strategy_id]
            if type(event) is VenueExecuted and order.state >= _FILLED:  # a fill after the order's end here
                self._after_end_fill(venue, st, order, event)
                return
            # one record: the event, and (implied, numbered from st.next_seq) the strategy events it produces
            journal = self.journal
            try:  # free unless raised: an adapter's number beyond MessagePack's ints must not reach the loop
                if _COMPILED and type(journal) is _MmapJournal:  # a native call writing the record from its parts
                    journal.append_fields(_JVenueApplied, venue, event, st.next_seq)
                else:  # tests may set any Journal; interpreted, one call fewer this way
                    journal.append(_JVenueApplied(venue, event, st.next_seq))
            except OverflowError:  # nothing journaled (the batch ends where it did), nothing applied
                self._venue_events_pending -= 1
                self._out_of_place(order, event)
                return
            except Exception as exc:  # a fault of the gateway's own: nothing journaled, nothing applied
                self._venue_fault(venue, order, event, exc, journaled=False)
                return
            try:  # free until raised (3.11, mypyc): a fault applying it is this message's alone
                if type(event) is not _VenueAccepted:  # the steady state is an acknowledgement, applied below
                    self._venue_event_handlers[type(event)](st, order, event)
                    return
                # the acknowledgement, here (no handler call, no table): what the other handlers do for theirs
                out = self._produced
                qty, price = order.qty, order.price
                answer = accepted(order, event, st.next_seq, out)
                if answer is None:
                    if not venue_order_id_only(order, event):  # (else: the venue's id of an order answered in doubt)
                        self._out_of_place(order, event)
                    elif order.price != price:  # ... and the venue's price: its exposure follows (doubt53)
                        self._accepted_otherwise(order, order.leaves_qty, price)
                    return
                self._n_accepted += 1
                self._deliver(st, answer)  # first: the JVenueApplied implies it, whatever faults below (answer54)
                canceled_event = out.pop() if out else None  # OUCH Order State D: the same message canceled it
                if canceled_event is not None:
                    self._deliver(st, canceled_event)
                if order.qty != qty or order.price != price:
                    self._accepted_otherwise(order, qty, price)
                if canceled_event is not None:
                    self._counters.canceled += 1
                    self.risk.on_open_changed(order, canceled_event.canceled_qty, order.price)  # type: ignore[union-attr]
                    self._close(order)
            except Exception as exc:
                self._venue_fault(venue, order, event, exc, journaled=True)

        return sink

    def _bounded(self, venue: str, event: VenueEvent) -> VenueEvent:
        """Return ``event`` with a text longer than the venue events' bound clipped (``bounded_texts``, fix55) and
        an id longer than theirs in its bounded form (``bounded_ids``, texts56).

        The whole text or id goes to the log, one line per venue per 10 s at most (a venue repeating it must not
        flood the log), and each is counted (``gateway_venue_texts_clipped_total``,
        ``gateway_venue_ids_bounded_total``); the journal and the strategy get the bounded one, whose form says so.
        """
        bounded = bounded_texts(event)
        if bounded is not event:
            self.venue_texts_clipped[venue] = self.venue_texts_clipped.get(venue, 0) + 1
            text = event_text(event)
            self._rarelog.log(
                "venue_text_clipped:" + venue,
                self.clock(),
                logging.WARNING,
                "venue %s: the text of its %s for order %d has %d characters: clipped to %d for the journal and "
                "the strategy (docs/strategy-protocol.md, section 5, `str`); the whole text: %r",
                venue,
                type(event).__name__,
                event.order_id,
                len(text),
                len(event_text(bounded)),
                text,
            )
        ided = bounded_ids(bounded)
        if ided is not bounded:
            self.venue_ids_bounded[venue] = self.venue_ids_bounded.get(venue, 0) + 1
            field, whole = event_id(bounded)
            self._rarelog.log(
                "venue_id_bounded:" + venue,
                self.clock(),
                logging.WARNING,
                "venue %s: the %s of its %s for order %d has %d characters: the journal and the strategy get %r (its "
                "first characters and the SHA-256 of the whole: docs/strategy-protocol.md, section 5, `id`); the "
                "whole id: %r",
                venue,
                field,
                type(event).__name__,
                event.order_id,
                len(whole),
                bounded_id(whole),
                whole,
            )
        return ided

    def _venue_fault(self, venue: str, order: Order, event: object, exc: Exception, *, journaled: bool) -> None:
        """The last resort for one venue message: a fault of the gateway's own applying ``event`` to ``order``.

        Fails closed and loud (docs/reliability.md 2.8), never raises: one CRITICAL line with the traceback,
        counted (``internal_errors``); the order's account halted (journaled; ``gateway resume --account``)
        until an operator reconciled it with the venue; its strategy told nothing more of that message than the
        strategy events its journal record implies (the handlers deliver those first: answer54), and what the
        order's state shows is what was applied before the fault. The venue session and every other
        message, order and strategy go on: the message itself was not at fault, so a new login would not bring
        it again (it is journaled, or the venue's numbering has passed it).
        """
        self._counters.internal_errors += 1
        account = ""
        halted = ""
        try:
            account = order.account
            halt = self.halt_accounts
            if halt is None:
                halted = f"account {account} NOT halted (no halt hook)"
            else:
                halt(
                    [account],
                    f"INTERNAL_ERROR: a fault of the gateway's own applying a venue {venue} message to order "
                    f"{order.order_id} ({order.cl_ord_id!r}); reconcile the account's orders with the venue, then: "
                    "gateway resume --account <account>",
                )
                halted = f"account {account} HALTED until an operator reconciles it"
        except Exception:
            log.exception("venue %s: halting the account after the fault failed", venue)
            halted = f"halting account {account or '?'} FAILED: halt it by hand (gateway kill --account)"
        try:
            what = f"{type(event).__name__} for order {order.order_id} ({order.strategy_id}'s {order.cl_ord_id!r})"
        except Exception:
            what = "a message"
        log.critical(
            "INTERNAL ERROR applying venue %s's %s (%s: %s): %s; %s; the venue session and other orders go on; "
            "reconcile with the venue, then gateway resume --account",
            venue,
            what,
            type(exc).__name__,
            exc,
            "the event was journaled, its effects here may be partial"
            if journaled
            else "nothing of it was journaled or applied",
            halted,
            exc_info=exc,
        )

    def transport_fault(self, where: str, exc: Exception, account_orders: list[Order] | None = None) -> None:
        """The last resort for a fault outside any one request or message (a venue's own reading, the flush).

        Counted (``internal_errors``) and logged at CRITICAL with the traceback, naming ``where`` and what is
        done about it (the caller acts); the accounts of ``account_orders`` (orders whose fate at the venue the
        fault left unknown) are halted. Never raises.
        """
        self._counters.internal_errors += 1
        accounts: list[str] = []
        halted = ""
        try:
            accounts = sorted({order.account for order in account_orders or ()})
            halt = self.halt_accounts
            if accounts and halt is not None:
                halt(
                    accounts,
                    f"INTERNAL_ERROR: a fault of the gateway's own in {where}; reconcile the account's orders with "
                    "the venue, then: gateway resume --account <account>",
                )
                halted = f"; account(s) {', '.join(accounts)} HALTED until an operator reconciles them"
        except Exception:
            log.exception("halting the accounts after the fault in %s failed", where)
            halted = f"; halting account(s) {', '.join(accounts)} FAILED: halt them by hand (gateway kill --account)"
        try:
            log.critical("INTERNAL ERROR in %s (%s: %s)%s", where, type(exc).__name__, exc, halted, exc_info=exc)
        except Exception:
            return

    def _after_end_fill(self, venue: str, st: StrategyState, order: Order, event: VenueExecuted) -> None:
        """Apply a fill the venue reported after the order ended here: position and traded notional take it.

        Marked ``after_end`` and journaled as a ``JVenueEvent`` followed by the ``Executed`` it produced (a
        ``JStrategyEvent``), not as one ``JVenueApplied``: recovery applies it to the order as the engine does
        (``executed``), and a replay from the journal, which follows only the orders still open where it
        starts reading, finds the event itself. Nothing opens again; a repeated execution id is not applied.
        """
        ev = _after_end(event)
        try:
            self.journal.append(JVenueEvent(venue, ev))
        except OverflowError:  # an adapter's number beyond MessagePack's ints: nothing journaled, nothing applied
            self._venue_events_pending -= 1
            self._out_of_place(order, ev)
            return
        except Exception as exc:  # a fault of the gateway's own: nothing journaled, nothing applied
            self._venue_fault(venue, order, ev, exc, journaled=False)
            return
        try:  # a fault from here is this message's alone (before, it reached the adapter's read: the session dropped)
            produced = executed(order, ev, st.next_seq, self._produced)
            if produced is None:
                if is_repeated_fill(order, ev):
                    self._repeated_fill(order, ev)
                else:
                    self._out_of_place(order, ev)
                return
            self._emit(st, produced)  # first: the journaled event implies it, whatever faults below (answer54)
            self._counters.executions += 1
            self._late_fill(order, ev)
            self.risk.on_execution(order, ev.qty, ev.price)
        except Exception as exc:
            self._venue_fault(venue, order, ev, exc, journaled=True)

    def _order_source(self, venue: str) -> Callable[[int, str], Order | None]:
        """Return ``venue``'s ``order_source``: an order its adapter no longer tracks, from memory or the journal."""

        def source(order_id: int, exec_id: str) -> Order | None:
            order = self.orders.get(order_id)
            if order is None:
                return self._rebuild_released(venue, order_id, exec_id)
            return order if order.venue == venue else None

        return source

    def _released_order(self, venue: str, event: VenueEvent) -> Order | None:
        """Return the order a fill names that memory released, rebuilt from the journal (None: not this gateway's).

        Only an execution (``_rebuild_released``).
        """
        if type(event) is not VenueExecuted:
            return None
        return self._rebuild_released(venue, event.order_id, event.exec_id)

    def _order_lookup(self, venue: str) -> Callable[[int, str], Order | int]:
        """Return ``venue``'s ``order_lookup``: ``order_source`` saying why there is none (``venues.base.LOOKUP_*``)."""

        def lookup(order_id: int, exec_id: str) -> Order | int:
            order = self.orders.get(order_id)
            if order is None:
                return self._read_released(venue, order_id, exec_id, _HELD_BY_ADAPTER)
            return order if order.venue == venue else LOOKUP_OTHER_VENUE

        return lookup

    def _rebuild_released(self, venue: str, order_id: int, exec_id: str) -> Order | None:
        """Return order ``order_id`` of ``venue``, released from memory, rebuilt from the journal (None: none such).

        ``_read_released``; a journal that cannot be read is logged (the fill is not applied).
        """
        found = self._read_released(venue, order_id, exec_id, _NOT_APPLIED)
        return None if isinstance(found, int) else found

    def _read_released(self, venue: str, order_id: int, exec_id: str, then: str) -> Order | int:
        """Return order ``order_id`` of ``venue``, released from memory, rebuilt from the journal, or why not.

        A fill the venue reports is the truth of the position, even long after its order ended here and was
        released (``memory.terminal_orders_kept``): the order is read back from the journal (from the replay
        index's position at or before its creation to the end, late fills applied since included, so their
        execution ids still catch a repeat) and kept in memory again as a terminal order (released again
        later). Only an order this gateway created for ``venue`` and that has ended. None such: ``LOOKUP_*``
        (``venues.base``): never created, another venue's, or the journal could not be read (an ERROR line
        ending ``then``: what becomes of the fill). The order's strategy is the engine's even if ``gateway.yaml``
        no longer configures it (recovery keeps every strategy the journal names): its fill is applied all the same.
        """
        if not 0 < order_id < self.next_order_id:
            return LOOKUP_NEVER_CREATED
        start = self.order_marks.at_or_before(order_id)
        try:
            reader = self.journal.reader(start)
            order, records = rebuild_order(reader, order_id)
        except (JournalCorruptError, OSError, IllegalTransition) as exc:
            self.journal_rebuild_failures += 1
            self._rarelog.log(
                "rebuild_failed",
                self.clock(),
                logging.ERROR,
                "venue %s: execution %r for order %d, released from memory: the journal cannot be read (%s: %s); %s",
                venue,
                exec_id,
                order_id,
                type(exc).__name__,
                exc,
                then,
            )
            return LOOKUP_UNREADABLE
        self.journal_rebuilds += 1
        self.journal_rebuild_records += records
        self.journal_rebuild_skipped += reader.skipped
        if order is None:
            return LOOKUP_NEVER_CREATED
        if order.venue != venue:
            return LOOKUP_OTHER_VENUE
        if order.state < _FILLED:  # open in the journal but not in memory: not a released order (never the case)
            return LOOKUP_NEVER_CREATED
        if order.strategy_id not in self.strategies:  # (recovery and Hello make every one: defensive)
            self.strategies[order.strategy_id] = StrategyState(order.strategy_id, self.released_ids)
        self.orders[order_id] = order
        self._terminal.append(order)  # released again with the next batch of terminal orders
        if len(self._terminal) > self._terminal_over_at:
            self._release_due = True
        self._rarelog.log(
            "rebuilt",
            self.clock(),
            logging.INFO,
            "venue %s: execution %r for order %d (%s, strategy %s), released from memory: rebuilt from the journal "
            "(%d records decoded, %d passed over)",
            venue,
            exec_id,
            order_id,
            order.cl_ord_id,
            order.strategy_id,
            records,
            reader.skipped,
        )
        return order

    # The handlers deliver the strategy events the venue event produced without journaling them (its
    # JVenueApplied record implies them); anything else they cause is journaled as usual.

    def _accepted_otherwise(self, order: Order, qty: int, price: int) -> None:
        """Recount the exposure of an order the venue accepted at another quantity or price; log it (rarely)."""
        self.risk.on_open_changed(order, qty, price)
        self._rarelog.log(
            "accepted_otherwise",
            self.clock(),
            logging.WARNING,
            "venue %s accepted order %d (%s, strategy %s) as %d @ %s, sent as %d @ %s: the order, its open "
            "quantity and risk exposure follow the venue",
            order.venue,
            order.order_id,
            order.cl_ord_id,
            order.strategy_id,
            order.qty,
            price_text(order.price),
            qty,
            price_text(price),
        )

    def _on_venue_rejected(self, st: StrategyState, order: Order, ev: VenueRejected) -> None:
        prev_leaves, prev_price = order.leaves_qty, order.price
        event = rejected(order, ev, st.next_seq, self._produced)
        if event is None:
            self._out_of_place(order, ev)
            return
        self._deliver(st, event)  # first: the JVenueApplied implies it, whatever faults below (answer54)
        if ev.withheld:  # the gateway's own answer about a request that never left it (lows57)
            self._counters.rejected_gateway += 1
            self._count_reject(self.rejects, GATEWAY, ev.code)
        else:
            self._counters.rejected_venue += 1
            self._count_reject(self.rejects, VENUE, ev.code)
        self.risk.on_open_changed(order, prev_leaves, prev_price)
        self._close(order)

    def _on_venue_executed(self, st: StrategyState, order: Order, ev: VenueExecuted) -> None:
        open_qty = order.leaves_qty
        event = executed(order, ev, st.next_seq, self._produced)
        if event is None:
            if is_repeated_fill(order, ev):
                self._repeated_fill(order, ev)
            else:
                self._out_of_place(order, ev)
            return
        self._deliver(st, event)  # first: the JVenueApplied implies it, whatever faults below (answer54)
        self._counters.executions += 1
        if ev.qty > open_qty:
            self._overfilled(order, ev, open_qty)
        self.risk.on_execution(order, ev.qty, ev.price)
        if order.state is _FILLED:
            self._counters.filled += 1
            self._close(order)

    def _on_venue_canceled(self, st: StrategyState, order: Order, ev: VenueCanceled) -> None:
        prev_leaves, prev_price = order.leaves_qty, order.price
        event = canceled(order, ev, st.next_seq, self._produced)
        if event is None:
            self._out_of_place(order, ev)
            return
        self._deliver(st, event)  # first: the JVenueApplied implies it, whatever faults below (answer54)
        self.risk.on_open_changed(order, prev_leaves, prev_price)
        if order.state >= _FILLED:
            self._counters.canceled += 1
            self._close(order)

    def _on_venue_replaced(self, st: StrategyState, order: Order, ev: VenueReplaced) -> None:
        prev_leaves, prev_price = order.leaves_qty, order.price
        out = self._produced
        event = replaced(order, ev, st.next_seq, out)
        if event is None:
            self._out_of_place(order, ev)
            return
        self._deliver(st, event)  # first, both: the JVenueApplied implies them, whatever faults below (answer54)
        ended = bool(out)  # nothing left, or OUCH Order State D: the same message canceled it (FIX: or filled)
        if ended:
            self._deliver(st, out.pop())
        self._counters.replaced += 1
        self.risk.on_open_changed(order, prev_leaves, prev_price)
        if ended:
            if order.state is _FILLED:
                self._counters.filled += 1
            else:
                self._counters.canceled += 1
            self._close(order)
        else:
            self._release_if_up(order)

    def _on_venue_cancel_rejected(self, st: StrategyState, order: Order, ev: VenueCancelRejected) -> None:
        prev_leaves, prev_price = order.leaves_qty, order.price
        out = self._produced
        own = order.own_cancel
        canceling = order.state in CANCEL_WANTED_STATES  # (a refused Replace brings no kill's Cancel: rev59merge14)
        event = cancel_rejected(order, ev, st.next_seq, out)
        if st.groups is not None:  # a refused Cancel leaves the order live: a MassCancel looks at it again
            st.unsettle(order)
        if event is None:
            if own and not order.own_cancel:  # the gateway's own cancel refused: applied, answered to no strategy
                self._counters.cancel_rejected += 1  # refused by the venue (no CancelRejected sent: not by code)
                self._own_refused(order, ev.code, ev.text)
                if self._kill_owed or self._kill_sent:  # a policy's or the stop's the kill found: its Cancel now
                    self._kill_refusal(order, "the gateway's own Cancel (a disconnect policy's or the stop's)")
                return
            self._out_of_place(order, ev)
            return
        self._deliver(st, event)  # first, both: the JVenueApplied implies them, whatever faults below (answer54)
        ended = bool(out)  # a replace that kept a filled order open was refused: the order ends FILLED
        if ended:
            self._deliver(st, out.pop())
        self._counters.cancel_rejected += 1
        self._count_reject(self.cancel_rejects, GATEWAY if ev.withheld else VENUE, ev.code)
        self.risk.on_open_changed(order, prev_leaves, prev_price)  # a refused replace's reservation goes
        if ended:
            self._counters.filled += 1
            self._close(order)
            return
        self._release_if_up(order)
        if canceling and (self._kill_owed or self._kill_sent):
            self._kill_refusal(order, "its strategy's Cancel")

    def _kill_refusal(self, order: Order, whose: str) -> None:
        """A Cancel of ``order`` was refused (by the venue or the adapter), ``whose`` it was: settle a kill's debt.

        If it was a kill's own Cancel (``_kill_sent``, joined by its strategy's or not), nothing more: the kill's
        Cancel once per order. If a kill owes the order its Cancel (``_kill_owed``: the refused one was wanted before
        the kill, or a strategy's since), the kill's Cancel goes now (``_kill_refused_cancel``; kill60).
        """
        if not order.is_open or order.state in CANCEL_WANTED_STATES:  # (a Cancel held behind it is sent now)
            return
        order_id = order.order_id
        sent = self._kill_sent
        if order_id in sent:
            sent.discard(order_id)
        elif order_id in self._kill_owed:
            self._kill_refused_cancel(order, whose)

    def _kill_paid(self, order_id: int) -> None:
        """A fresh Cancel of the gateway's own is journaled for ``order_id`` (not the release of one held before the
        kill): a kill's debt is paid, that Cancel is the kill's (``_kill_sent``). Called only if ``_kill_owed``."""
        owed = self._kill_owed
        if order_id in owed:
            owed.discard(order_id)
            self._kill_sent.add(order_id)

    def _kill_refused_cancel(self, order: Order, whose: str) -> None:
        """Cancel ``order`` for a kill switch that owes it its Cancel (``_kill_owed``): ``whose`` Cancel, wanted at
        the kill or since, was refused (walk59b, kill60). The kill's walk passed it over (a Cancel was wanted);
        without this it would work on, silently. Once per order, whatever resume came since (walk59c: as a restart
        would): an order the kill sent or held its own Cancel for is owed nothing more (a refusal of that one, also
        when a strategy's Cancel joined it, is only logged).
        """
        owed = self._kill_owed
        if order.order_id not in owed or not order.is_open or order.state in CANCEL_WANTED_STATES:
            return
        scopes = self.killed_scopes
        if not scopes:
            halts = "trading was resumed since"
        elif "" in scopes:
            halts = "all trading is halted"
        else:
            halts = f"account {order.account} is {'halted' if order.account in scopes else 'resumed'}"
        log.warning(
            "order %s (%s's %r) at venue %s: %s was refused and a kill switch owes it a Cancel (%s): the kill's "
            "Cancel sent now, once",
            order.order_id,
            order.strategy_id,
            order.cl_ord_id,
            order.venue,
            whose,
            halts,
        )
        self._own_cancel(order, f"the kill switch ({whose} refused)")

    def _release_if_up(self, order: Order) -> None:
        """Send the cancel held behind a replace that just resolved if the venue can take it; refuse it if ENDED."""
        if order.state is OrderState.LIVE_HELD_CANCEL:
            venue = self.venues.get(order.venue)
            if venue is not None and venue.state is VenueState.UP:
                self._own_cancel(order, f"venue {order.venue} answered a replace, sending the cancel held", held=True)
            elif venue is not None and venue.state is VenueState.ENDED and not venue.resumes_after_end:
                self._refuse_held_cancel(order)

    def _refuse_held_cancel(self, order: Order) -> None:
        """Answer a held cancel of a venue whose session ENDED for the day: nothing will ever carry it.

        Never raises (it runs in a loop over the venue's orders, or inside a venue message's handling): a fault (its
        ``JCancelRefused`` or its answer not journaled) is counted and logged at CRITICAL, the order's account halted,
        and what is left of it tried again at each ``poll`` until the journal takes it (``_settle_owed``), the Cancel
        held meanwhile, as the journal has it: the strategy gets its one answer then.
        """
        text = _session_ended_text(order.venue)
        reply = not order.own_cancel  # the gateway's own: none sent it, none is answered
        try:
            self._drop_held_and_answer(order, "VENUE_SESSION_ENDED", text, reply)
            if not reply:
                self._own_refused(order, "VENUE_SESSION_ENDED", text)
        except Exception as exc:
            self._owed[order.order_id] = (order, "VENUE_SESSION_ENDED", text, reply)
            try:
                what = f"order {order.order_id} ({order.strategy_id}'s {order.cl_ord_id!r})"
            except Exception:
                what = "an order"
            self.transport_fault(
                f"refusing the held Cancel of {what} at venue {order.venue}'s end of session: "
                "its answer (CancelRejected VENUE_SESSION_ENDED) is given once the journal takes it (tried again "
                "at each poll), the Cancel held meanwhile",
                exc,
                [order],
            )

    def _unsettle(self, order: Order) -> None:
        """``order``'s held Cancel was dropped (it is live again): its strategy's MassCancels look at it again."""
        st = self.strategies.get(order.strategy_id)
        if st is not None and st.groups is not None:
            st.unsettle(order)

    def _drop_held_and_answer(self, order: Order, code: str, text: str, reply: bool) -> bool:
        """Drop ``order``'s held Cancel and, if ``reply``, answer its strategy ``CancelRejected`` ``code``.

        The drop is checked against the order table first (nothing journaled if it is illegal: a record no restart
        could apply, ended60), the ``JCancelRefused`` is journaled, then the held state dropped: if the journal
        raises, the order is as the journal has it (held), and calling this again (``_settle_owed``) finishes the
        job, the answer given once. False, nothing done: no answer is owed any more (the Cancel is in flight after
        all, or the order ended: the venue's events answer it).
        """
        if order.state in HELD_CANCEL_STATES:
            if not can(order, _DROP):  # never journal a drop the table refuses: a restart could not read it (ended60)
                raise IllegalTransition(order, _DROP)
            self.journal.append(JCancelRefused(order.order_id))
            drop_held_cancel(order)  # (no longer the gateway's own, either)
            self._unsettle(order)
            if self._kill_sent:  # a kill's held Cancel dropped: not wanted any more (kill60)
                self._kill_sent.discard(order.order_id)
        elif order.state in CANCEL_WANTED_STATES or order.is_terminal:
            return False
        if reply:
            self._cancel_reject(self.strategies[order.strategy_id], order.cl_ord_id, GATEWAY, code, text)
        return True

    def _settle_owed(self) -> None:
        """Journal (and answer) again what a fault kept from a held Cancel's drop or its answer (``_owed``), and the
        request records a fault kept from the journal (``_owed_records``)."""
        records = self._owed_records
        while records:
            journal = self.journal
            position = journal.tell() + journal.pending_bytes
            try:
                journal.append(records[0])
            except Exception as exc:
                self._owed_failures += 1
                n = self._owed_failures
                if n & (n - 1) == 0:
                    log.error(
                        "a request's record (its number, a MassCancel's answer) still cannot be journaled (%s: %s; "
                        "%d tries failed)",
                        type(exc).__name__,
                        exc,
                        n,
                    )
                break
            record = records.pop(0)
            st = self.strategies.get(record.strategy_id)
            if st is not None:  # where a re-sent duplicate's answer is read back from, once memory lets it go
                st.request_marks.move(record.req_seq, position)
            log.warning(
                "strategy %s: its request %d's record journaled after all",
                record.strategy_id,
                record.req_seq,
            )
        for order_id, (order, code, text, reply) in list(self._owed.items()):
            try:
                done = self._drop_held_and_answer(order, code, text, reply)
            except Exception as exc:
                self._owed_failures += 1
                n = self._owed_failures
                if n & (n - 1) == 0:  # the 1st, 2nd, 4th, 8th... failure
                    log.error(
                        "order %s: its held Cancel's drop or answer still cannot be journaled (%s: %s; %d tries "
                        "failed): it stays held, tried again at each poll",
                        order_id,
                        type(exc).__name__,
                        exc,
                        n,
                    )
                continue
            del self._owed[order_id]
            if not done:
                outcome = "no answer owed any more (its Cancel went out after all, or the order ended)"
            elif reply:
                outcome = f"its Cancel answered after all, CancelRejected {code}"
            else:
                outcome = "its held Cancel dropped after all (the gateway's own: no strategy answer)"
            log.warning(
                "order %s (%s's %r): %s; the journal took it", order_id, order.strategy_id, order.cl_ord_id, outcome
            )

    def _overfilled(self, order: Order, ev: VenueExecuted, open_qty: int) -> None:
        """Count and log (1st, 2nd, 4th... time) an execution for more than the order had open."""
        counters = self._counters
        counters.overfills += 1
        if is_power_of_two(counters.overfills):
            log.error(
                "order %d (%s, strategy %s): venue %s executed %d with %d open; applied, cum_qty now %d of %d "
                "(%d overfills so far): reconcile with the venue",
                order.order_id,
                order.cl_ord_id,
                order.strategy_id,
                order.venue,
                ev.qty,
                open_qty,
                order.cum_qty,
                order.qty,
                counters.overfills,
            )

    def _repeated_fill(self, order: Order, ev: VenueExecuted) -> None:
        """Count and log (at most once per 10 s) a venue's copy of a fill the order already applied: not applied."""
        self._counters.repeated_fills += 1
        self._rarelog.log(
            "repeated_fill",
            self.clock(),
            logging.WARNING,
            "venue %s: execution %r of order %d (%s) repeated under venue_seq %d: not applied again "
            "(%d repeated fills so far)",
            order.venue,
            ev.exec_id,
            order.order_id,
            order.cl_ord_id,
            ev.venue_seq,
            self._counters.repeated_fills,
        )

    def _late_fill(self, order: Order, ev: VenueExecuted) -> None:
        """Count and log at ERROR a fill the venue reported after the order ended here (each: money).

        Up to ``LATE_FILLS_LOGGED_PER_S`` lines a second; past it one line says the rest of that second is in the
        journal and counted, and the next line logged says how many were not logged (``obs.ratelog.WindowLog``).
        """
        counters = self._counters
        counters.late_fills += 1
        self._late_fill_log.log(
            "late fills",
            self.clock(),
            logging.ERROR,
            "order %d (%s, strategy %s): venue %s executed %d @ %s (execution %r, venue_seq %d) after the order "
            "ended %s: applied to the position (cum_qty now %d of %d; %d late fills so far): check with the venue "
            "that nothing else of it is open",
            order.order_id,
            order.cl_ord_id,
            order.strategy_id,
            order.venue,
            ev.qty,
            price_text(ev.price),
            ev.exec_id,
            ev.venue_seq,
            order.state.name,
            order.cum_qty,
            order.qty,
            counters.late_fills,
        )

    def _out_of_place(self, order: Order, event: object) -> None:
        """Count and log (at most once per 10 s, with the count so far) a venue event the order cannot take."""
        counters = self._counters
        counters.venue_events_out_of_place += 1
        self._rarelog.log(
            "out_of_place",
            self.clock(),
            logging.WARNING,
            "order %d in state %s: out-of-place venue event %r (not applied; %d out-of-place events so far)",
            order.order_id,
            order.state.name,
            event,
            counters.venue_events_out_of_place,
        )

    # ======================================================================================
    # Strategy connections
    # ======================================================================================

    def link_opened(self, link: StrategyLink) -> None:
        """Register a new strategy connection (it must send Hello first)."""
        self._links.append(link)
        link.strategy = None

    def link_closed(self, link: StrategyLink) -> None:
        """Forget a connection; apply the strategy's disconnect policy to its open orders."""
        if self._forget_link(link):
            self.flush()

    def _forget_link(self, link: StrategyLink) -> bool:
        """Forget a connection and apply the disconnect policy, without flushing; return True if it had a strategy.

        Called again for the same connection (``link_closed`` after a Hello found it closing) it does nothing.
        """
        if link in self._links:
            self._links.remove(link)
        if self._kept_reads:  # the rest of its long read is dropped undecoded, as bytes left in its socket
            self._kept_reads.pop(link, None)
        self._end_replay(link)
        if self._pending_hellos:  # bytes held behind its Hello (waiting on back-pressure): dropped, as unread
            self._pending_hellos.pop(link, None)
        if self._held_aside:
            self._held_aside.pop(link, None)
        if self._hellos_behind_walk:  # its Hello waited for a policy's walk: never answered
            self._hellos_behind_walk.pop(link, None)
        st = link.strategy
        link.strategy = None
        if st is None or st.link is not link:
            return False
        st.link = None
        self._counters.strategy_disconnects += 1
        policy = self.entitlements.disconnect_policy(st.strategy_id)
        log.info(
            "strategy %s disconnected (%s); %d open orders: %s",
            st.strategy_id,
            link.session.close_reason or "connection closed",
            len(st.open_orders),
            "canceling" if policy == "cancel" else "kept",
        )
        if policy == "cancel":
            why = f"strategy {st.strategy_id}'s disconnect policy"
            orders = list(st.open_orders.values())
            if len(orders) > MASS_CANCEL_WALK_SLICE and self.replay_scheduler is not None:
                # a slice per loop turn, as a MassCancel's (mass58), beside its MassCancel's walk if it died in one
                # (walk59); a Hello of the strategy or the stop: the rest now
                self._walk_own(orders, why, st.strategy_id)
            else:
                for order in orders:
                    self._own_cancel(order, why)
        return True

    def _end_replay(self, link: StrategyLink) -> None:
        """Stop the replay of a connection that closed before it was all out.

        A journal read is cancelled (its file closed, its events dropped, at the reader's next step);
        a replay being written is dropped; requests held for the Welcome are forgotten. The strategy
        may log in again at once.
        """
        read = self._journal_reads.pop(link, None)
        stream = self._replays.pop(link, None)
        if read is None and stream is None:
            return
        self._pending_hellos.pop(link, None)
        st = stream.st if stream is not None else None
        if read is not None:
            st = self.strategies.get(read.strategy_id)
            reader = self.replay_reader
            assert reader is not None
            reader.cancel(read)
            self.replay_records += read.records
            self.replays_cancelled += 1
        if stream is not None:
            self._stop_stream_read(stream)
        if st is not None:
            st.replay_pending -= 1
            self._check_events_over(st)
            log.info("strategy %s: connection closed before its replay was out; replay stopped", st.strategy_id)

    def _stop_stream_read(self, stream: _ReplayStream) -> None:
        """Cancel the second pass of a replay being written (its connection closed or was cut off)."""
        read = stream.read
        if read is None:
            return
        stream.read = None
        stream.older = []
        reader = self.replay_reader
        assert reader is not None
        reader.cancel(read)
        self.replay_records += read.records
        self.replays_cancelled += 1

    def cancel_orphaned_orders(self) -> int:
        """Apply the cancel policy to strategies that had open orders before a restart and never came back.

        Called once, a grace period after start-up: a strategy whose connection died with the
        previous gateway process gets the same treatment as one that disconnected. Returns how
        many orders were canceled (or had their cancel queued).
        """
        count = 0
        for st in self.strategies.values():
            if st.link is not None or not st.open_orders:
                continue
            if self.entitlements.disconnect_policy(st.strategy_id) != "cancel":
                continue
            log.warning(
                "strategy %s did not reconnect after the restart; canceling its %d open orders (policy cancel)",
                st.strategy_id,
                len(st.open_orders),
            )
            for order in list(st.open_orders.values()):
                self._own_cancel(order, f"strategy {st.strategy_id}'s disconnect policy after the restart")
                count += 1
        self.flush()
        return count

    def disconnect_for_stop(self) -> list[Order]:
        """Cut every strategy off as the gateway stops and apply each one's disconnect policy; return the cancels.

        A stop is a disconnection for every strategy: each connection is closed and forgotten as
        ``link_closed`` does (policy ``cancel``: its open orders are canceled; ``keep``: left working),
        so that no request arrives after the cancels. A ``cancel`` strategy not connected (not back
        since a restart, within ``reconnect_grace_s``) gets the same, as ``cancel_orphaned_orders``
        would have given it. Returns the orders whose cancel was sent or queued.
        """
        canceled: list[Order] = []
        self.finish_own_walks()  # a kill switch's Cancels (and the policies' walked so far) first, all of them
        if self._walks:
            for walk in list(self._walks.values()):  # a MassCancel being walked: all of it first, journaled and
                self._walk_rest(walk)  # answered: its answer written (journal first) before its connection closes
            self.flush()
        for st in self.strategies.values():
            if st.link is not None or not st.open_orders:
                continue
            if self.entitlements.disconnect_policy(st.strategy_id) != "cancel":
                continue
            log.info(
                "strategy %s not connected at the stop; %d open orders: canceling", st.strategy_id, len(st.open_orders)
            )
            for order in list(st.open_orders.values()):
                self._own_cancel(order, f"the stop (strategy {st.strategy_id}'s disconnect policy)")
                canceled.append(order)
        for link in list(self._links):
            owner = link.strategy
            connected = owner is not None and owner.link is link
            if connected and owner is not None and self.entitlements.disconnect_policy(owner.strategy_id) == "cancel":
                canceled.extend(owner.open_orders.values())
            link.session.close_reason = "the gateway is stopping"
            link.close_transport(drop_unread=True)  # (what it sent unread, not carried out: a clean end-of-file)
            self._forget_link(link)  # its connection_lost later finds it forgotten: a no-op; one flush below
        self.finish_own_walks()  # the policies' cancels: all of them before the stop goes on
        self.flush()
        return canceled

    def link_data(self, link: StrategyLink, data: bytes | memoryview, t_in: int, *, last: bool = True) -> None:
        """Process bytes from a strategy and flush what they produced.

        A burst arrives as reads of up to a few hundred kilobytes (thousands of orders): a read
        longer than ``BATCH_BYTES`` is taken in slices (``_link_slices``, each slice back here,
        ``last`` for the read's final one), which puts the first orders on the wire after one
        slice's work instead of after the whole read's, at the cost of one journal and one socket
        write per slice. After the ``last`` slice of a read, every request in the read has been
        answered: a fatal Error the session decided while reading (too many errors, an oversized
        frame) goes out now. Bytes behind a Hello whose Welcome waits are held, unread (``_hold_input``).
        """
        if self._pending_hellos and link in self._pending_hellos:  # its Welcome waits: read after it
            self._hold_input(link, data)
            return
        size = len(data)  # measured once: the session's decoding takes it too
        if size > BATCH_BYTES:
            self._link_slices(link, data, t_in)
            return
        if not self._in_turn:  # a read's turn of its own: its MassCancels' work counted from nothing (mass56b)
            self._mass_cancel_work = 0
        session = link.session
        try:  # free until raised (3.11, mypyc): a fault in one request is caught in ``_requests`` with it
            requests = session.receive_data(data, t_in, size)
            self._decoded_ns = self.clock()
            self._requests(link, requests, t_in)
            if self._cut is not None and not self._in_turn:  # a MassCancel flood ended the turn: the rest later
                if self._cut or self._walking(link):  # (a walk's link reads nothing until its end: mass58)
                    self._keep_cut(link, t_in)
                else:  # it was the read's last request: nothing to keep
                    self._cut = None
            if last and session.pending_close is not None and self._cut is None and link not in self._kept_reads:
                session.end_of_read()  # a fatal Error to send (after a cut: once the rest is carried out, mass59)
        except Exception as exc:  # a fault of the gateway's own outside any one request (decoding the read)
            self._internal_error(link, None, exc)
        # _mark_dirty, inline, when flush has something to do for the link (bytes the session wrote itself,
        # or a close): an order's read usually has neither (its answers are events, which mark the link)
        if session._writer.buffer or session.state is StrategySessionState.CLOSED:
            self._mark_dirty(link)
        self.flush()

    def _requests(self, link: StrategyLink, requests: list[StrategyRequest], t_in: int) -> None:
        """Carry out a connection's decoded requests in order (those behind a Hello that waits are held)."""
        session = link.session
        # session.sequenced, inline: known once the Hello is decoded, even if it is in this read
        sequenced = session.protocol_version >= REQ_SEQ_VERSION
        t_in_object: Any = t_in  # compiled: boxed once per read for its orders (each would box it anew)
        req: StrategyRequest | None = None
        try:  # free until raised (3.11, mypyc): a fault in carrying out one request is caught here, with it
            for req in requests:
                # the flush's journal_write starts at the last order's encoding only if nothing ran after it
                self._encoded_ns = 0
                st = link.strategy
                kind = type(req)
                if st is None and kind is not _Hello:  # its Hello was refused: nothing after it counts
                    break
                if sequenced and kind is not _Hello and kind is not _Error:
                    assert st is not None
                    req_seq: int = req.req_seq  # type: ignore[union-attr]
                    if req_seq:
                        if req_seq == session.last_req_seq + 1:  # NEW: session.sequence(req_seq), inline
                            session.last_req_seq = req_seq
                        elif session.sequence(req_seq) is _GAP:  # closed: nothing after it is processed
                            break
                        else:  # a DUPLICATE
                            self._on_duplicate(st, req)  # type: ignore[arg-type]
                            if self._mass_cancel_work >= MASS_CANCEL_TURN_WORK and self._cut_turn(link, requests, req):
                                return  # (old duplicates read back from the journal: as much work as a walk)
                            continue
                        st.last_req_seq = self._req_seq = req_seq
                if kind is _NewOrder:
                    assert st is not None
                    self._on_new_order(st, req, t_in_object)  # type: ignore[arg-type]
                elif kind is Cancel:
                    assert st is not None
                    self._on_cancel(st, req)  # type: ignore[arg-type]
                elif kind is Replace:
                    assert st is not None
                    self._on_replace(st, req)  # type: ignore[arg-type]
                elif kind is MassCancel:
                    assert st is not None
                    self._on_mass_cancel(st, req)  # type: ignore[arg-type]
                    if self._mass_cancel_work >= MASS_CANCEL_TURN_WORK and self._cut_turn(link, requests, req):
                        return
                elif kind is Hello:  # the last of the read: the session left the bytes behind it undecoded
                    self._on_hello(link, req)  # type: ignore[arg-type]
                    rest = session.take_behind_hello()
                    if link in self._pending_hellos:  # its Welcome waits (a journal read, a long replay): read after it
                        self._hold_input(link, rest)
                    elif rest and not session.is_closed():  # welcomed at once: read them now
                        self._requests(link, session.receive_data(rest, t_in), t_in)
                    return
                elif kind is InvalidRequest:
                    assert st is not None
                    self._on_invalid(st, req)  # type: ignore[arg-type]
                elif kind is Error:  # a non-fatal protocol error, in its place among the answers
                    session.send(req)  # type: ignore[arg-type]
                elif kind is UnreadableRequest:  # a numbered request without a readable id: the Error is its answer
                    if st is not None:  # the number's answer is an Error, not replayed: a duplicate gets one again
                        journal = self.journal  # its JRequest goes where the records appended so far end
                        st.note_unreadable(req.req_seq, journal.tell() + journal.pending_bytes, journal.durable)  # type: ignore[union-attr]
                    self._on_unreadable(session, req)  # type: ignore[arg-type]
                if self._req_seq:  # no record carried the request's number: journal it on its own
                    assert st is not None
                    self.journal.append(JRequest(st.strategy_id, self._req_seq))
                    self._req_seq = 0
        except Exception as exc:  # a fault of the gateway's own: the last resort (docs/reliability.md 2.8)
            self._internal_error(link, req, exc)

    def _cut_turn(self, link: StrategyLink, requests: list[StrategyRequest], req: StrategyRequest) -> bool:
        """End the read's turn after ``req``, a MassCancel that brought the work past ``MASS_CANCEL_TURN_WORK``.

        The requests behind it (``_cut``) are carried out on a later loop turn, in order, before any byte read
        after them (``_KeptRead.requests``): other connections and the venues' timers are served in between, so one
        strategy's MassCancels do not hold up the others (mass56). Also while a fatal Error waits for the end of the
        read (it waits for the rest: ``_end_of_read``) and in a chunk held behind a Hello (the bytes held after it
        wait: ``_held_aside``; mass59). Not while its Hello waits for its Welcome: False, go on.
        """
        if not self._may_cut(link):
            if self._walks and self._walking(link):  # (changed since its walk began: a fatal Error on its way)
                self._walk_rest(self._walks[link.strategy.strategy_id])  # type: ignore[union-attr]
            return False
        self._mass_cancel_work = 0
        if self._req_seq:  # (the MassCancel's answer carries its number: nothing is left to journal)
            assert link.strategy is not None
            self.journal.append(JRequest(link.strategy.strategy_id, self._req_seq))
            self._req_seq = 0
        index = next(i for i, item in enumerate(requests) if item is req)  # by identity: equal ones may repeat
        self._cut = requests[index + 1 :]
        return True

    def _may_cut(self, link: StrategyLink) -> bool:
        """Return True if ``link``'s read may end its turn behind a MassCancel (``_cut_turn``), its rest kept.

        Also with a fatal Error due at the end of the read (it waits for the rest: ``_end_of_read``) and in a chunk
        held behind a Hello (the bytes held after it wait: ``_held_aside``; mass59).
        """
        session = link.session
        if link in self._pending_hellos:
            return False
        return session.state is not StrategySessionState.CLOSED

    def _walking(self, link: StrategyLink) -> bool:
        """Return True if ``link``'s strategy has a MassCancel being walked (``_walks``)."""
        st = link.strategy
        return st is not None and st.strategy_id in self._walks

    def _take_cut(self) -> list[StrategyRequest] | None:
        """Return the requests a MassCancel flood's cut left behind (None: no cut), and forget them here.

        A method, not ``self._cut`` read in place: mypy narrows the attribute to None after ``self._cut = None`` in
        the same function (calls in between do not undo that), and the compiled module then checked the list a
        later cut left against None (``TypeError: None object expected; got list``; a fresh clone's suite).
        """
        cut = self._cut
        self._cut = None
        return cut

    def _keep_cut(self, link: StrategyLink, t_in: int) -> None:
        """Keep what a cut left of a read not taken in turns (``_read_turn`` keeps its own) for a later loop turn."""
        kept = _KeptRead(memoryview(b""), 0, t_in, [v.backpressured for v in self._venue_list])
        kept.requests, self._cut = self._cut, None
        link.session.restart_frame_deadline(t_in, self.clock())
        if link.read_rest_soon():
            self._kept_reads[link] = kept
        else:  # the link cannot defer it: now
            self._read_turn(link, kept)

    def _internal_error(self, link: StrategyLink, req: StrategyRequest | None, exc: Exception) -> None:
        """The last resort: a fault of the gateway's own while carrying out ``req`` (None: outside any request).

        Fails closed and loud (docs/reliability.md 2.8): one CRITICAL line with the traceback and what is known,
        counted (``internal_errors``, ``gateway_engine_internal_errors_total``); a new order risk counted but that
        was neither sent nor refused is refused in memory and its exposure released; the request's number, if the
        fault left it unjournaled, journaled alone (it is processed: the fatal Error is its answer, a re-send of
        it is a duplicate); the strategy's accounts halted until an operator reconciles them (``halt_accounts``);
        the session ended with a fatal ``Error(INTERNAL_ERROR)`` that says what became of the request, so the
        connection closes and the disconnect policy applies to the orders the gateway knows. The requests after it
        in the same read are not carried out (the next Welcome's ``last_req_seq`` stops before them). Other
        strategies are untouched. Never raises: a second fault while failing closed is logged at CRITICAL too and
        the connection is dropped.
        """
        self._counters.internal_errors += 1
        try:
            self._fail_closed(link, req, exc)
        except Exception as again:
            log.critical(
                "INTERNAL ERROR while failing closed after a fault of the gateway's own (%s: %s): strategy %s's "
                "connection is dropped; reconcile its orders with the venue, then gateway resume --account",
                type(exc).__name__,
                exc,
                link.strategy.strategy_id if link.strategy is not None else "(before its Hello)",
                exc_info=again,
            )
            try:
                link.close_transport()
            except Exception:
                log.exception("dropping the connection after the second fault failed too")

    def _fail_closed(self, link: StrategyLink, req: StrategyRequest | None, exc: Exception) -> None:
        """Carry out ``_internal_error``'s steps, each guarded so that the others still happen."""
        note, self._fault_note = self._fault_note, ""
        session = link.session
        st = link.strategy
        strategy_id = st.strategy_id if st is not None else ""
        released = self._release_unsent()
        try:
            what = _request_words(req)
        except Exception:
            what = "request"
        try:
            outcome = note or self._fault_outcome(st, req)
        except Exception:
            outcome = "what became of it is unknown: reconcile with the venue"
        if released:
            outcome = "nothing of it reached a venue (what risk had counted for it is released)"
        req_seq, self._req_seq = self._req_seq, 0
        if req_seq and st is not None:
            try:
                self.journal.append(JRequest(strategy_id, req_seq))
            except Exception:  # this process counts it processed: the journal must say so too, at the next poll
                log.exception(
                    "strategy %s: request %d could not be journaled as processed (tried again at each poll)",
                    strategy_id,
                    req_seq,
                )
                self._owed_records.append(JRequest(strategy_id, req_seq))
        try:
            accounts = self._fault_accounts(st, req) if st is not None else []
        except Exception:
            log.exception("strategy %s: its accounts could not be read to halt them", strategy_id)
            accounts = []
            halted = "; its accounts could not be read, so none was halted: halt them by hand (gateway kill --account)"
        else:
            halted = ""
        if accounts:
            reason = (
                f"INTERNAL_ERROR: a fault of the gateway's own carrying out strategy {strategy_id}'s {what}; "
                "reconcile the account's orders with the venue, then: gateway resume --account <account>"
            )
            halt = self.halt_accounts
            if halt is None:
                halted = "; its accounts were not halted (no halt hook)"
            else:
                try:
                    halt(accounts, reason)
                    halted = f"; account(s) {', '.join(accounts)} HALTED until an operator reconciles them"
                except Exception:
                    log.exception("strategy %s: halting its accounts after the fault failed", strategy_id)
                    halted = f"; halting account(s) {', '.join(accounts)} FAILED"
        fault = f"{type(exc).__name__}: {exc}"
        if len(fault) > 200:
            fault = fault[:197] + "..."
        ended = "its session is ended (fatal Error INTERNAL_ERROR, its disconnect policy applies)"
        if not session.is_closed():
            try:
                session.close(
                    "INTERNAL_ERROR",
                    f"the gateway failed carrying out your {what} ({fault}): {outcome}. Nothing after it in the same "
                    "read was carried out: "
                    + (
                        "after reconnecting, Welcome.last_req_seq says how far the gateway got"
                        if session.protocol_version >= REQ_SEQ_VERSION
                        else "your replay after reconnecting shows the answers it gave (one per request it carried out)"
                    )
                    + (
                        f"; your account(s) {', '.join(accounts)} are halted until an operator reconciles them"
                        if accounts and halted.startswith("; account")
                        else ""
                    ),
                )
            except Exception:
                log.exception("strategy %s: its session could not be ended with the fatal Error", strategy_id)
                ended = "its session could not send the fatal Error, so its connection is dropped (no answer sent)"
                link.close_transport()
        log.critical(
            "INTERNAL ERROR carrying out strategy %s's %s (%s): %s; the rest of its read was not carried out; %s%s; "
            "reconcile with the venue, then gateway resume --account",
            strategy_id or "(before its Hello)",
            what,
            fault,
            outcome,
            ended,
            halted,
            exc_info=exc,
        )
        self._mark_dirty(link)

    def _fault_accounts(self, st: StrategyState, req: StrategyRequest | None) -> list[str]:
        """Return the accounts to halt after a fault carrying out ``req``: those it concerns, else all the strategy's.

        A NewOrder's account, a Cancel's or Replace's order's account, a MassCancel's account filter, each only if
        the strategy may trade it (the fault may have come before the entitlement check); otherwise (no request,
        a filter-less MassCancel, an order not found) every account the strategy may trade.
        """
        entitled = sorted(self.entitlements._accounts.get(st.strategy_id, ()))
        account = ""
        kind = type(req)
        if kind is NewOrder or kind is MassCancel:
            account = req.account  # type: ignore[union-attr]
        elif kind is Cancel or kind is Replace:
            order = st.orders.get(req.cl_ord_id)  # type: ignore[union-attr]
            if order is not None:
                account = order.account
        if account and account in entitled:
            return [account]
        return entitled

    def _release_unsent(self) -> bool:
        """Refuse in memory, and release from risk, a new order risk counted that a fault stopped before its send.

        True if there was one. Its answer is the fatal Error; no journal record (the order never reached a venue,
        and the journal may be what failed).
        """
        held = self._risk_held
        if held is None:
            return False
        self._risk_held = None
        if held.state is not OrderState.CREATED or held.venue_ref or held.order_id in self.open_orders:
            return False  # sent, or refused (and released) already
        try:
            prev_leaves, prev_price = held.leaves_qty, held.price
            refuse(held)
            self._terminal.append(held)
            self.risk.on_open_changed(held, prev_leaves, prev_price)
        except Exception:
            log.exception("order %s: what risk counted for it could not be released", held.cl_ord_id)
            return False
        return True

    def _fault_outcome(self, st: StrategyState | None, req: StrategyRequest | None) -> str:
        """Say what became of the request a fault stopped, as far as the gateway's tables tell."""
        if req is None or st is None:
            return "no request of this read was carried out after the fault"
        kind = type(req)
        if kind is NewOrder:
            order = st.orders.get(req.cl_ord_id)  # type: ignore[union-attr]
            if order is None or (not order.venue_ref and order.order_id not in self.open_orders):
                return "nothing of it reached a venue"
            if order.order_id in self.open_orders:
                return (
                    f"it was sent to venue {order.venue} and journaled: its events come as usual (in your replay "
                    "after reconnecting)"
                )
            return f"it may have reached venue {order.venue}: reconcile it with the venue"
        if kind is Cancel or kind is Replace or kind is MassCancel:
            return "its outcome is unknown: the events of the orders it names say what the venue did"
        return "its outcome is unknown"

    def _link_slices(self, link: StrategyLink, data: bytes | memoryview, t_in: int) -> None:
        """Process a read longer than ``BATCH_BYTES`` in slices, flushing after each.

        Past ``READ_TURN_BYTES`` the rest waits for later loop turns if the link can (``read_rest_soon``).
        """
        self._read_turn(link, _KeptRead(memoryview(data), 0, t_in, [v.backpressured for v in self._venue_list]))

    def link_rest(self, link: StrategyLink) -> None:
        """Process the next ``READ_TURN_BYTES`` of a long read kept for this loop turn (``read_rest_soon``).

        Its slices count as read now (ingress time, frame and heartbeat deadlines): the bytes waited as they
        would have in the strategy's socket. Nothing if the connection was forgotten since (its rest dropped).
        """
        kept = self._kept_reads.pop(link, None)
        if kept is None:
            return
        kept.t_in = self.clock()
        self._read_turn(link, kept, may_wait=True)
        if link not in self._kept_reads:  # all of it read (or the session ended): read the strategy again
            if self._held_aside:  # a chunk held behind its Hello was cut by a walk: the bytes held after it now
                held = self._held_aside.pop(link, None)
                if held is not None and link.strategy is not None and not link.session.is_closed():
                    self._pending_hellos[link] = held
                    self._read_held_soon(link)
            link.read_rest_done()

    def _read_turn(self, link: StrategyLink, kept: _KeptRead, *, may_wait: bool = False) -> None:
        """Process slices of ``kept`` from ``kept.start``: up to ``READ_TURN_BYTES``, then keep the rest for later.

        Back-pressure is judged once per read, as if the read were one batch: a venue socket that backs up
        while the read's own slices are written does not refuse the rest of that read, also on a later turn
        (each venue held at the answer it gave when the read began). The rest is taken now, not kept, when
        the link cannot defer it, when a fatal Error waits for the end of the read (what is left is only
        answered, not carried out), or while a Hello waits for its Welcome (the rest is held behind it). A chunk
        held behind a Hello (``_read_held``) is never kept: cut by back-pressure, its rest goes back in front of
        the bytes still held (``_held_rest``), so they are read in the order written, whole frames across the cut.

        The turn also ends after a MassCancel that brought the work past ``MASS_CANCEL_TURN_WORK`` (``_cut_turn``):
        the requests decoded behind it (``kept.requests``) come first on the next turn, then the bytes. A frame
        that this turn's slices left incomplete has its deadline counted from the turn's end: the gateway's own
        processing time is not the strategy's (docs/strategy-protocol.md 4.3; mass56).

        While the strategy's MassCancel is walked over several loop turns (``_walks``), nothing of the read is taken:
        it waits, kept, for the walk's end if ``may_wait`` (the link, not read meanwhile, is taken again then), else
        the rest of the walk is carried out now (mass58).
        """
        if self._walks and self._behind_walk(link, kept, may_wait):
            return
        venues = self._venue_list
        for venue, backpressured in zip(venues, kept.backpressured, strict=False):
            venue.hold_backpressure(True, backpressured)
        in_turn, self._in_turn = self._in_turn, True
        if not in_turn:  # this turn's MassCancels' work, counted from nothing (mass56b)
            self._mass_cancel_work = 0
        session = link.session
        t_in = kept.t_in
        try:
            view = kept.view
            end = len(view)
            start = kept.start
            turn_end = start + READ_TURN_BYTES
            requests = kept.requests
            while requests is not None:  # what a cut left of the read: carried out first, in order
                kept.requests = None
                self._carry_out(link, requests, t_in)
                if session.state is StrategySessionState.CLOSED:
                    return
                requests = self._take_cut()
                if requests is None:
                    break
                kept.requests = requests
                if link.read_rest_soon():
                    self._kept_reads[link] = kept
                    return
                requests = kept.requests  # the link cannot defer it: now
            while start < end:
                self.link_data(link, view[start : start + BATCH_BYTES], t_in, last=start + BATCH_BYTES >= end)
                start += BATCH_BYTES
                if session.state is StrategySessionState.CLOSED:
                    return
                cut = self._take_cut()
                if cut is not None:  # a MassCancel flood ended the turn: the requests behind it first, then the rest
                    while cut is not None:
                        kept.requests = cut
                        kept.start = start
                        if link.read_rest_soon():
                            self._kept_reads[link] = kept
                            return
                        self._carry_out(link, cut, t_in)  # the link cannot defer it: now (and what a cut of it left)
                        kept.requests = None
                        if session.is_closed():
                            return
                        cut = self._take_cut()
                    continue
                if (
                    (start >= turn_end or link.output_full)  # back-pressure: the rest once it reads its answers
                    and start < end
                    and session.pending_close is None
                    and link not in self._pending_hellos
                ):
                    if link is self._held_read:  # a held chunk: its rest back in front of the held bytes
                        self._held_rest = bytes(view[start:end])
                        return
                    if link.read_rest_soon():
                        kept.start = start
                        self._kept_reads[link] = kept
                        return
        finally:
            self._in_turn = in_turn
            for venue in venues:
                venue.hold_backpressure(False)
            session.restart_frame_deadline(t_in, self.clock())
        if not in_turn and session.pending_close is not None:
            self._end_of_read(link)

    def _end_of_read(self, link: StrategyLink) -> None:
        """Send the fatal Error the session decided while reading, once its read is all carried out (mass59).

        A read cut behind a MassCancel walked a slice per loop turn keeps its rest (``_kept_reads``, ``_cut``): the
        Error waits for it, so every request before the fatal frame is answered first, in order (strategy-protocol
        7.2).
        """
        session = link.session
        if session.pending_close is None or self._cut is not None or link in self._kept_reads:
            return
        session.end_of_read()
        self._mark_dirty(link)
        self.flush()

    def _carry_out(self, link: StrategyLink, requests: list[StrategyRequest], t_in: int) -> None:
        """Carry out requests a cut left (decoded already) and flush what they produced, as ``link_data`` does."""
        session = link.session
        if self._walks and self._walking(link):  # (only if its link could not wait: the walk's rest now)
            self._walk_rest(self._walks[link.strategy.strategy_id])  # type: ignore[union-attr]
        self._decoded_ns = self.clock()
        try:
            self._requests(link, requests, t_in)
        except Exception as exc:  # (``_requests`` catches its own; a fault outside any request is the last resort's)
            self._internal_error(link, None, exc)
        if session._writer.buffer or session.state is StrategySessionState.CLOSED:
            self._mark_dirty(link)
        self.flush()

    def _on_hello(self, link: StrategyLink, hello: Hello) -> None:
        session = link.session
        refusal = self.entitlements.check_hello(hello.strategy_id, link.peer)
        if refusal is not None:
            self._counters.strategy_refused += 1
            log.warning("refused Hello: %s", refusal)
            session.close("NOT_AUTHORIZED", refusal)
            return
        st = self.strategies.get(hello.strategy_id)
        if st is not None and st.link is not None and st.link.is_closing():
            # its connection ended (end-of-file, reset, or closing after a fatal Error) and the loop has not yet
            # called link_closed: the id is free at once (docs/strategy-protocol.md 1); the flush after this read
            # sends what the disconnect policy decided, and link_closed later finds nothing left to do
            old = st.link
            self._forget_link(old)
            old.close_transport()  # no longer read (StrategyLink.hold_input), it would not see its end-of-file
        if st is not None and st.link is not None:
            self._counters.strategy_refused += 1
            self._rarelog.log(  # a client looping its Hellos: a line per strategy per 10 s (rev60strat LOW 4)
                f"already_connected {hello.strategy_id}",
                self.clock(),
                logging.WARNING,
                "refused Hello: strategy %s is already connected",
                hello.strategy_id,
            )
            session.close("ALREADY_CONNECTED", f"strategy {hello.strategy_id!r} already has a session")
            return
        if hello.last_seq >= LAST_SEQ_LIMIT and hello.last_seq >= (st.next_seq if st is not None else 1):
            self._counters.strategy_refused += 1
            log.warning("refused Hello of %s: last_seq %d is too large", hello.strategy_id, hello.last_seq)
            session.close("BAD_HELLO", last_seq_too_large(hello.last_seq, st.next_seq if st is not None else 1))
            return
        if st is None:
            st = self.strategies[hello.strategy_id] = StrategyState(hello.strategy_id, self.released_ids)
        elif self._walks and hello.strategy_id in self._walks:  # back while its MassCancel is walked: its rest now,
            self._walk_rest(self._walks[hello.strategy_id])  # so a re-sent duplicate finds its answer (mass58)
        st.link = link
        link.strategy = st
        self._counters.strategy_connections += 1
        if self._own_walks and self._policy_walking(st.strategy_id) and self.replay_scheduler is not None:
            # back while its disconnect policy's Cancels are walked: the Welcome waits for the walk's last slice (its
            # bytes behind the Hello held meanwhile), so the rest are sent before it, a slice per loop turn (mass59;
            # before, the rest in one turn held other strategies up 54-116 ms)
            self._pending_hellos.setdefault(link, bytearray())
            self._hellos_behind_walk[link] = hello
            log.info(  # (before, nothing between "disconnected" and the next Hello: rev59merge7 LOW 2)
                "strategy %s: Hello on a new connection while its disconnect policy's Cancels are sent: the Welcome "
                "follows the last of them",
                st.strategy_id,
            )
            return
        self._answer_hello(link, st, hello)

    def _answer_hello(self, link: StrategyLink, st: StrategyState, hello: Hello) -> None:
        """Welcome ``st``'s new connection ``link`` (the replay from memory, or read from the journal first)."""
        base = st.numbered_base
        last_seq = max(hello.last_seq, 0)
        if self._start_highs:  # (empty once every strategy known at the start has said Hello)
            start_high = self._start_highs.get(st.strategy_id, -1)
            if start_high >= 0:
                if start_high < last_seq and start_high < st.next_seq - 1:  # events since the start on its numbers
                    self._reissue(link, st, hello, start_high)
                    return
                del self._start_highs[st.strategy_id]  # its first Hello since the start: nothing to issue again
        if last_seq >= st.next_seq:  # the strategy has seen events the journal does not hold
            self._welcome(link, st, hello, [], self._seq_ahead(st, hello))
            return
        if last_seq >= base:
            self._welcome(link, st, hello, [])
            return
        kept = st.kept_after(last_seq)  # across a LAST_SEQ_AHEAD jump: memory may still hold the events before it
        if kept is not None:
            self._welcome(link, st, hello, kept)
            return
        # the replay reaches before the in-memory window: the journal has those events, from an indexed position
        start = replay_start(st.marks, last_seq)
        # a long replay is read twice: checked and counted now, rebuilt a chunk at a time after the Welcome
        twice = (
            self.replay_reader is not None
            and self.replay_scheduler is not None
            and base - last_seq > REPLAY_CHUNK_EVENTS
        )

        def finish(result: list[OrderEvent] | str, read: JournalRead | None) -> None:
            if read is None:
                self._journal_read(link, st, hello, result)
            elif twice and not isinstance(result, str):
                self._journal_read(link, st, hello, result, held=True, counted=read.taken, start=start)
            else:
                self._journal_read(link, st, hello, result, held=True)

        note = "; checked first, then rebuilt as it is written" if twice else ""
        self._read_back(link, st, last_seq, start, finish, "for its replay", note, keep=not twice)

    def _read_back(
        self,
        link: StrategyLink,
        st: StrategyState,
        after: int,
        start: int,
        finish: Callable[[list[OrderEvent] | str, JournalRead | None], None],
        purpose: str,
        note: str = "",
        *,
        keep: bool = True,
    ) -> None:
        """Read ``st``'s events after ``after`` up to its in-memory window back from the journal, from byte ``start``.

        Without a replay reader the read runs here and ``finish(result, None)`` at once. Else it goes to the reader
        (the runner bounds the files open): ``st``'s events stay in memory and ``link``'s bytes are held until
        ``finish(result, read)`` runs. ``keep=False``: the read only checks and counts (a long replay read twice).
        """
        strategy_id = st.strategy_id
        base = st.numbered_base
        journal = self.journal
        reader = self.replay_reader
        if reader is None:
            job = ReplayJob(journal.reader(start), strategy_id, after, base)
            result = job.run()
            self.replay_records += job.records
            finish(result, None)
            return
        st.replay_pending += 1  # its events stay in memory until the read is done with
        self._pending_hellos.setdefault(link, bytearray())  # (bytes held while a policy's walk ended: kept)
        log.info(
            "strategy %s: reading events %d..%d from the journal %s (from byte %d%s)",
            strategy_id,
            after + 1,
            base,
            purpose,
            start,
            note,
        )

        def open_job() -> ReplayJob:  # when the read's turn comes
            return ReplayJob(journal.reader(start), strategy_id, after, base, keep=keep)

        def done(result: list[OrderEvent] | str) -> None:  # names no read: a read -> done -> read cycle outlived it
            finished = self._journal_reads.pop(link)
            self.replay_records += finished.records
            finish(result, finished)

        read = JournalRead(strategy_id, open_job, done)
        self._journal_reads[link] = read
        reader.submit(read)

    def _reissue(self, link: StrategyLink, st: StrategyState, hello: Hello, start_high: int) -> None:
        """Answer a first Hello since the start whose ``last_seq`` is above ``start_high`` (``_start_highs``).

        The journal lost events the strategy received (a power failure under ``fsync: interval``/``none``), and
        events numbered since the start (a venue's replay, a kill's Cancels, ``adopt``'s) took numbers after
        ``start_high``, some of which the strategy holds for the lost ones: it would discard them as repeats. They
        are issued again after the Hello's ``last_seq`` (``_reissue_now``). Those that left memory are read back
        from the journal first (more events since the start than ``memory.events_kept``).
        """
        if start_high >= st.numbered_base:
            self._reissue_now(link, st, hello, start_high, [])
            return

        def finish(result: list[OrderEvent] | str, read: JournalRead | None) -> None:
            self._journal_read(link, st, hello, result, held=read is not None, reissue_after=start_high)

        start = replay_start(st.marks, start_high)
        self._read_back(link, st, start_high, start, finish, "to issue them again")

    def _reissue_now(
        self, link: StrategyLink, st: StrategyState, hello: Hello, start_high: int, older: list[OrderEvent]
    ) -> None:
        """Issue the events numbered since the start again after the Hello's ``last_seq``, then Welcome.

        ``older``: those of them read back from the journal (the rest are in memory). Each copy is journaled as a
        new event (``JStrategyEvent``) numbered from ``max(last_seq, next_seq - 1) + 1`` (a ``JSeqAhead`` first if
        that skips numbers), in the order of the originals, which keep their numbers: a later Hello from before them
        is replayed both. The copies follow the Welcome and ``Error(LAST_SEQ_AHEAD)`` as its replay; some may repeat
        events the strategy received before the power failure (a fill the venue sent again): docs/strategy-protocol.md
        4.1 says how to tell.
        """
        strategy_id = st.strategy_id
        self._start_highs.pop(strategy_id, None)
        events = st.events
        originals = older + events[max(start_high, st.numbered_base) - st.events_base :]
        last_seq = hello.last_seq
        numbered = st.next_seq - 1
        first = max(last_seq, numbered) + 1
        journal = self.journal
        if first > st.next_seq:
            journal.append(JSeqAhead(strategy_id, first, st.next_seq))
            st.skip_to(first)
        for event in originals:
            copy = msgspec.structs.replace(event, seq=st.next_seq)
            journal.append(JStrategyEvent(strategy_id, copy))
            self._deliver(st, copy)
        count = len(originals)
        self._counters.strategy_seq_ahead += 1
        log.warning(
            "strategy %s said Hello with last_seq %d but the journal held its events up to seq %d only when the "
            "gateway started (its tail was lost in a power failure); the %d events numbered since, %d..%d, are "
            "issued again as %d..%d (copies, after its last_seq); last_req_seq %d (requests after it are carried out "
            "again if sent again: reconcile with the venue's drop copy)",
            strategy_id,
            last_seq,
            start_high,
            count,
            start_high + 1,
            numbered,
            first,
            first + count - 1,
            st.last_req_seq,
        )
        notice = Error(
            "LAST_SEQ_AHEAD",
            f"your last_seq {last_seq} is beyond the last seq the gateway's journal held when it started, "
            f"{start_high} (its journal lost events {start_high + 1}..{last_seq}); the {count} events numbered since, "
            f"{start_high + 1}..{numbered}, are issued again as {first}..{first + count - 1}: an Executed whose "
            f"exec_id you hold for its order is a repeat; new events are numbered from {first + count}; requests "
            f"processed: up to {st.last_req_seq}",
            False,
        )
        self._welcome(link, st, hello, [], notice, after=first - 1)

    def _seq_ahead(self, st: StrategyState, hello: Hello) -> Error:
        """Number ``st``'s events after the Hello's ``last_seq``, beyond the journal's; return the notice for it.

        The journal lost the tail in which the strategy's events up to ``last_seq`` were (a power failure under
        ``fsync: interval``/``none``: docs/reliability.md 2.3), or the strategy kept the ``last_seq`` of an earlier
        session. Numbering on from the gateway's ``next_seq`` would reuse numbers the strategy has seen, and it
        would discard those events as repeats: the numbering continues after ``last_seq`` instead (journaled,
        ``JSeqAhead``, so a restart keeps it) and the strategy is told with a non-fatal ``Error(LAST_SEQ_AHEAD)``.
        """
        last_seq = hello.last_seq
        lost_from = st.next_seq
        self.journal.append(JSeqAhead(st.strategy_id, last_seq + 1, lost_from))
        st.skip_to(last_seq + 1)
        self._counters.strategy_seq_ahead += 1
        log.warning(
            "strategy %s said Hello with last_seq %d but the gateway numbered its events up to seq %d only (the "
            "journal's tail was lost in a power failure, or the strategy kept an earlier session's last_seq); its "
            "events are numbered from %d on; last_req_seq %d (requests after it are carried out again if sent "
            "again: reconcile with the venue's drop copy)",
            st.strategy_id,
            last_seq,
            lost_from - 1,
            last_seq + 1,
            st.last_req_seq,
        )
        return Error(
            "LAST_SEQ_AHEAD",
            # not "last event": lost_from - 1 names none if an earlier jump skipped it and nothing came since (4.1)
            f"your last_seq {last_seq} is beyond the last seq the gateway numbered, {lost_from - 1} (its journal "
            f"lost events {lost_from}..{last_seq}, or they were another session's); new events are numbered from "
            f"{last_seq + 1}; requests processed: up to {st.last_req_seq}",
            False,
        )

    def _journal_read(
        self,
        link: StrategyLink,
        st: StrategyState,
        hello: Hello,
        result: list[OrderEvent] | str,
        *,
        held: bool = False,
        counted: int = -1,
        start: int = 0,
        reissue_after: int = -1,
    ) -> None:
        """Finish a Hello whose replay was read from the journal: Welcome and replay, or REPLAY_UNAVAILABLE.

        ``counted`` (>= 0): the read only checked and counted the events; they are read again from ``start``
        as they are written. ``reissue_after`` (>= 0): the events read are to be issued again (``_reissue``).
        """
        if held:
            st.replay_pending -= 1
            self._check_events_over(st)
        if st.link is not link or link.session.is_closed():  # gone while the journal was read
            self._pending_hellos.pop(link, None)
            return
        if isinstance(result, str):
            self._pending_hellos.pop(link, None)
            self._counters.strategy_refused += 1
            log.error("refused Hello of %s (last_seq %d): %s", hello.strategy_id, hello.last_seq, result)
            st.link = None
            link.strategy = None
            link.session.close("REPLAY_UNAVAILABLE", f"events after seq {hello.last_seq} cannot be replayed: {result}")
        elif reissue_after >= 0:
            self.journal_replays += 1
            self._reissue_now(link, st, hello, reissue_after, result)
        else:
            self.journal_replays += 1
            self._welcome(link, st, hello, result, counted=counted, start=start)
        if held:
            self._mark_dirty(link)
            self.flush()

    def _check_events_over(self, st: StrategyState) -> None:
        """Trim a strategy's events later if they grew past the window while a replay held them."""
        if st.replay_pending == 0 and len(st.events) >= self.events_kept + RELEASE_BATCH:
            self._events_over.append(st)

    def _welcome(
        self,
        link: StrategyLink,
        st: StrategyState,
        hello: Hello,
        older: list[OrderEvent],
        notice: Error | None = None,
        *,
        counted: int = -1,
        start: int = 0,
        after: int = -1,
    ) -> None:
        """Send the Welcome, then the replay (``older``, then what memory holds) and venue states.

        ``after`` (>= 0): the replay from memory begins after that seq, not after the Hello's ``last_seq``
        (``_reissue_now``: the copies only).

        ``older``: the events read from the journal, or the ones memory keeps from before a ``LAST_SEQ_AHEAD`` jump
        (``StrategyState.kept_after``); what memory holds is from the jump on (``numbered_base``).

        With a scheduler (``gateway run``) a replay longer than one slice is written a slice per loop
        callback, each once the strategy has read what the last left unread (``_pump``): the loop never
        stops for a whole replay, and the replay never piles up in the socket. Until it is all out the
        session is not active: new events for the strategy join the replay from memory, and requests
        that followed the Hello wait (as they waited for the journal read). ``counted`` (>= 0) events from
        the journal are not in ``older``: they are read again from ``start`` a chunk at a time as they are
        written (``_replay_chunk``), so no more than about two chunks of them live at once.
        """
        session = link.session
        base = st.numbered_base
        last_seq = after if after >= 0 else max(hello.last_seq, 0)
        from_memory = min(max(last_seq, base) + 1, st.next_seq)  # the first seq memory replays
        replayed = (counted if counted >= 0 else len(older)) + st.next_seq - from_memory
        heartbeat_ms = session.heartbeat_ns // 1_000_000
        if session.sequenced:
            session.send(
                Welcome(session.protocol_version, self.gateway_id, st.next_seq, heartbeat_ms, replayed, st.last_req_seq)
            )
        else:
            session.send(WelcomeV2(session.protocol_version, self.gateway_id, st.next_seq, heartbeat_ms, replayed))
        session.welcome_out = True  # heartbeats while the replay is written (``StrategySession.poll``)
        if notice is not None:  # right after the Welcome (LAST_SEQ_AHEAD)
            session.send(notice)
        stream = _ReplayStream(st, hello, older, from_memory, replayed, st.next_seq)
        if self.replay_scheduler is not None and (replayed > REPLAY_SLICE_EVENTS or counted >= 0):
            st.replay_pending += 1  # its events stay in memory until the replay is out
            self._replays[link] = stream
            link.set_replaying(True)
            self._pending_hellos.setdefault(link, bytearray())
            if counted >= 0:
                self._stream_from_journal(link, stream, start, last_seq, base)
            self._pump_soon(link, 0.0)
            return
        self._replay_slice(link, stream, 1 << 62)
        self._replay_done(link, stream)

    def _stream_from_journal(
        self, link: StrategyLink, stream: _ReplayStream, start: int, after: int, upto: int
    ) -> None:
        """Start the second pass of a long replay: the events ``after`` < seq <= ``upto``, a chunk at a time."""
        reader = self.replay_reader
        assert reader is not None
        journal = self.journal
        strategy_id = stream.st.strategy_id

        def open_job() -> ReplayJob:
            return ReplayJob(journal.reader(start), strategy_id, after, upto)

        def chunk(result: list[OrderEvent] | str) -> None:
            self._replay_chunk(link, result)

        read = JournalRead(strategy_id, open_job, chunk, REPLAY_CHUNK_EVENTS)
        stream.read = read
        stream.reading = True
        reader.submit(read)

    def _replay_chunk(self, link: StrategyLink, result: list[OrderEvent] | str) -> None:
        """Take the next chunk of a replay's second pass (or its last, or why the journal cannot give the rest)."""
        stream = self._replays.get(link)
        if stream is None or stream.read is None:  # stopped meanwhile
            return
        read = stream.read
        if isinstance(result, str):
            self._replay_broken(link, stream, result)
            return
        result.reverse()  # newest first, before the older ones still to write
        result.extend(stream.older)
        stream.older = result
        if read.parked:
            stream.reading = False
        else:  # the last: the journal's part is all here
            stream.read = None
            self.replay_records += read.records
        self._pump_soon(link, 0.0)

    def _replay_broken(self, link: StrategyLink, stream: _ReplayStream, reason: str) -> None:
        """End a replay whose second pass found the journal unreadable where the first did not (damage since).

        The events already rebuilt are valid and in order: they are written, then a fatal REPLAY_UNAVAILABLE
        naming the last one; the strategy reconnects with it as ``last_seq`` and gets the rest or the refusal.
        """
        st = stream.st
        send = link.session.send
        older = stream.older
        for event in reversed(older):
            send(event)
        if older:
            stream.last_sent = older[0].seq
        stream.next_older += len(older)
        stream.older = []
        read = stream.read
        stream.read = None
        if read is not None:
            self.replay_records += read.records
        del self._replays[link]
        self._pending_hellos.pop(link, None)
        st.replay_pending -= 1
        self._check_events_over(st)
        log.error(
            "strategy %s: its replay stopped after event %d of %d (seq %d): %s",
            st.strategy_id,
            stream.next_older,
            stream.replayed,
            stream.last_sent,
            reason,
        )
        link.session.close("REPLAY_UNAVAILABLE", f"events after seq {stream.last_sent} cannot be replayed: {reason}")
        self._mark_dirty(link)
        self.flush()

    def _pump_soon(self, link: StrategyLink, delay: float) -> None:
        stream = self._replays.get(link)
        if stream is not None:
            if stream.scheduled:  # one pump per replay at a time
                return
            stream.scheduled = True
        scheduler = self.replay_scheduler
        assert scheduler is not None
        scheduler(lambda: self._pump(link), delay)

    def _pump(self, link: StrategyLink) -> None:
        """Write the next slice of a replay if the strategy has read the last one (else look again soon)."""
        stream = self._replays.get(link)
        if stream is None:
            return
        stream.scheduled = False
        st = stream.st
        session = link.session
        if st.link is not link or session.is_closed():  # gone, or cut off, while its replay was written
            del self._replays[link]
            self._stop_stream_read(stream)
            self._pending_hellos.pop(link, None)
            st.replay_pending -= 1
            self._check_events_over(st)
            return
        if link.write_buffer_size() > REPLAY_LOW_WATER:
            if not stream.blocked_since:
                stream.blocked_since = self.clock()
            self._pump_soon(link, REPLAY_RETRY_S)
            return
        stream.blocked_since = 0
        read = stream.read
        if read is not None and not stream.reading and len(stream.older) < REPLAY_RESUME_EVENTS:
            stream.reading = True  # the next chunk is read while the rest of this one is written
            reader = self.replay_reader
            assert reader is not None
            reader.resume(read)
        if self._replay_slice(link, stream, REPLAY_SLICE_EVENTS):
            del self._replays[link]
            link.set_replaying(False)  # the last slice and what follows it are written by the flush below
            st.replay_pending -= 1
            self._check_events_over(st)
            self._replay_done(link, stream)
        elif stream.older or stream.read is None:
            self._pump_soon(link, 0.0)
        # else: waiting for the journal's next chunk, whose arrival pumps again (``_replay_chunk``)
        self._mark_dirty(link)
        self.flush()

    def _replay_slice(self, link: StrategyLink, stream: _ReplayStream, budget: int) -> bool:
        """Queue up to ``budget`` more replayed events; return True once the replay has caught up."""
        send = link.session.send
        older = stream.older  # newest first: each slice is taken off its end, and freed once sent
        if older and budget > 0:
            chunk = older[-budget:]
            del older[-budget:]
            for event in reversed(chunk):
                send(event)
            budget -= len(chunk)
            stream.next_older += len(chunk)
            stream.last_sent = chunk[0].seq
        if stream.read is not None:  # the journal's part is not all read yet: memory's comes after it
            return False
        st = stream.st
        while budget > 0 and stream.next_seq < st.next_seq:  # then what memory holds (and events since the Welcome)
            if stream.next_seq == stream.welcome_next_seq and stream.venue_states is None:
                stream.venue_states = self._send_venue_states(link.session)  # after the replay, before anything new
            stop = st.next_seq if stream.venue_states is not None else stream.welcome_next_seq
            first = stream.next_seq - st.events_base - 1
            chunk = st.events[first : first + min(budget, stop - stream.next_seq)]
            for event in chunk:
                send(event)
            stream.next_seq += len(chunk)
            budget -= len(chunk)
        return not older and stream.next_seq == st.next_seq

    def _send_venue_states(self, session: StrategySession) -> list[str]:
        """Send where every venue stands; return the states sent."""
        states = []
        for venue in self._venue_list:
            state = venue.state.value
            session.send(VenueStatus(venue.name, state, bounded_text(str(venue.status().get("reason") or ""))))
            states.append(state)
        return states

    def _replay_done(self, link: StrategyLink, stream: _ReplayStream) -> None:
        """The replay is out: venue states, the session goes active, requests that waited are carried out."""
        session = link.session
        st = stream.st
        hello = stream.hello
        sent = stream.venue_states
        if sent is None:  # where every venue stands, after the replay and before anything new
            self._send_venue_states(session)
        else:  # sent when the replay ended, events since followed it: report a venue that changed meanwhile
            for venue, state in zip(self._venue_list, sent, strict=False):
                if venue.state.value != state:
                    reason = bounded_text(str(venue.status().get("reason") or ""))
                    session.send(VenueStatus(venue.name, venue.state.value, reason))
        session.welcome(self.clock(), st.last_req_seq)
        peer = link.peer
        log.info(
            "strategy %s connected (pid %s, uid %s); protocol version %d, last_seq %d, replayed %d events, "
            "last_req_seq %d",
            hello.strategy_id,
            peer.pid if peer else "?",
            peer.uid if peer else "?",
            session.protocol_version,
            hello.last_seq,
            stream.replayed,
            st.last_req_seq,
        )
        held = self._pending_hellos.get(link)
        if held:  # the bytes behind the Hello: read now, a chunk per loop callback
            self._read_held_soon(link)
        elif held is not None:
            del self._pending_hellos[link]
            link.hold_input(False)  # nothing held: the Hello is answered (a half-closed link closes after the flush)

    def _hold_input(self, link: StrategyLink, data: bytes | memoryview) -> None:
        """Keep bytes read behind a Hello undecoded until its Welcome and replay are out; bound what is kept.

        Above ``HELD_INPUT_LIMIT`` the connection is no longer read (the strategy's writes then wait in its
        socket): back-pressure, not an error; reading resumes as the held bytes are read (``_read_held``).
        The frame deadline does not run against them: the session has not seen them.
        """
        held = self._pending_hellos[link]
        held += data
        if len(held) > HELD_INPUT_LIMIT:
            link.hold_input(True)

    def welcome_pending(self, link: StrategyLink) -> bool:
        """Return True while ``link``'s Hello is still being answered: its Welcome, replay or held requests to come.

        The link then calls ``hold_input(False)`` when it is all done (``StrategyProtocol.eof_received``).
        """
        return link in self._pending_hellos or link in self._held_aside

    def held_input(self, link: StrategyLink) -> int:
        """Return how many bytes read from ``link`` the gateway holds undecoded behind its Hello."""
        held = self._pending_hellos.get(link)
        if held is None:
            held = self._held_aside.get(link)
        return len(held) if held is not None else 0

    def _read_held_soon(self, link: StrategyLink) -> None:
        """Read the bytes held behind a Hello: a chunk per loop callback (all now without a scheduler)."""
        scheduler = self.replay_scheduler
        if scheduler is not None:
            scheduler(lambda: self._read_held(link), 0.0)
            return
        while link in self._pending_hellos:
            self._read_held(link)

    def _read_held(self, link: StrategyLink) -> None:
        """Read the next ``HELD_CHUNK_BYTES`` held behind a Hello as one read (new bytes keep queuing behind).

        Other connections are served between two chunks: a strategy's backlog never holds them up for
        longer than one chunk's work. A session that ends (a fatal Error in a chunk) reads nothing more; a
        connection forgotten meanwhile (closed, cut off) is no longer looked at. While the strategy's answers are
        over the high mark the next chunk waits; one cut by it mid-way has its rest read first (``_held_rest``).
        """
        held = self._pending_hellos.get(link)
        if held is None:  # forgotten (its bytes dropped with it), or all read
            return
        session = link.session
        live = bool(held) and not session.is_closed() and link.strategy is not None  # else: dropped, unread
        if live and link.output_full and self.replay_scheduler is not None:  # back-pressure: after it reads its answers
            self.replay_scheduler(lambda: self._read_held(link), HELD_RETRY_S)
            return
        del self._pending_hellos[link]  # read as any read (link_data), then held again if bytes remain
        if live:
            chunk = bytes(held[:HELD_CHUNK_BYTES])
            del held[:HELD_CHUNK_BYTES]
            self._held_read = link
            t_in = self.clock()
            try:
                self.link_data(link, chunk, t_in)
            finally:
                self._held_read = None
            session.restart_frame_deadline(t_in, self.clock())  # the frame's rest is held here: not the strategy's
            rest = self._held_rest
            if rest:  # back-pressure cut the chunk: the rest first, before the bytes held behind it
                self._held_rest = b""
                held[:0] = rest
            if link in self._kept_reads and not session.is_closed() and link.strategy is not None:
                # a MassCancel walked a slice per loop turn cut the chunk: the walk, then the chunk's rest
                # (``link_rest``), then the bytes held after it (mass59; before, the walk was done in one turn)
                self._held_aside[link] = held
                return
            if held and not session.is_closed() and link.strategy is not None:
                self._pending_hellos[link] = held
                if len(held) <= HELD_INPUT_LIMIT:
                    link.hold_input(False)
                if self.replay_scheduler is not None:
                    self._read_held_soon(link)
                return
        if not session.is_closed():
            link.hold_input(False)

    def _on_duplicate(
        self, st: StrategyState, req: NewOrder | Cancel | Replace | MassCancel | InvalidRequest | UnreadableRequest
    ) -> None:
        """A version-3 request already processed came again: not carried out, and no second answer.

        Its answer is an order event (in the replay, or still to come from the venue), except a
        MassCancel's, which is not replayed: that one is sent again as it was first given; and the ``Error`` of a
        request whose id could not be read, sent again to a duplicate whose id cannot be read either (the gateway
        keeps no bytes: it cannot tell the same unreadable request from a changed one). An unreadable duplicate of
        a number whose request was read (answered by an order event) is skipped like any other (rev54strat).
        """
        self._counters.duplicate_requests += 1
        if isinstance(req, MassCancel) or (isinstance(req, InvalidRequest) and req.kind == "MassCancel"):
            answer = st.mass_cancel_answers.get(req.req_seq)
            if answer is None and self._kept_from(st, req.req_seq):  # older than the answers kept: the journal's
                record = self._request_from_journal(st, req.req_seq, mass_cancel=True)
                answer = record.answer if record is not None else None
            if answer is not None:
                self._answer_mass_cancel(st, answer)
        elif isinstance(req, UnreadableRequest) and st.link is not None:
            if req.req_seq in st.unreadable_seqs:
                self._on_unreadable(st.link.session, req)  # its answer is not replayed: again
            elif self._kept_from(st, req.req_seq):
                record = self._request_from_journal(st, req.req_seq)
                if record is not None and record.record is None and record.answer is None:
                    self._on_unreadable(st.link.session, req)

    def _kept_from(self, st: StrategyState, req_seq: int) -> bool:
        """Return True if a MassCancel answer or unreadable number ``req_seq`` may have left memory for the journal."""
        return self.journal.durable and st.requests_noted > REQUEST_ANSWERS_KEPT and 0 < req_seq <= st.last_req_seq

    def _request_from_journal(self, st: StrategyState, req_seq: int, *, mass_cancel: bool = False) -> JRequest | None:
        """Return the strategy's ``JRequest`` numbered ``req_seq``, read from the journal (None: not found, unreadable).

        For a re-sent duplicate older than the answers memory keeps (``REQUEST_ANSWERS_KEPT``): ``request_marks``
        has the exact position of each of the strategy's MassCancel answers and unreadable numbers, so one record is
        read there, whatever the other strategies journaled since (mass56b: the read from a coarse mark crossed them
        all, ~1 s per 12 MB). A number it has no position for (a NewOrder's, say) reads nothing; for a re-sent
        ``mass_cancel`` that is logged at ERROR (every MassCancel's answer has a position: none means its number was
        another request's, or the position was lost; mass56c), never silence. A record found damaged or other than
        expected is logged and not answered again (docs/strategy-protocol.md 4.5).
        """
        position = st.request_marks.exactly(req_seq)
        if position < 0:
            if mass_cancel:
                self._rarelog.log(
                    "request_position_unknown",
                    self.clock(),
                    logging.ERROR,
                    "strategy %s: the answer of its re-sent MassCancel %d has no journal position noted (that number "
                    "was not a MassCancel's, or its record's position was lost): not answered again",
                    st.strategy_id,
                    req_seq,
                )
            return None
        self._mass_cancel_work += 1
        found: JRequest | None = None
        problem = "another record is there"
        try:
            reader = self.journal.reader(position)
            try:
                batch = reader.read(1)
            finally:
                reader.close()
            if not batch:
                problem = "no record there"
            else:
                record = batch[0][1]
                if type(record) is JRequest and record.req_seq == req_seq and record.strategy_id == st.strategy_id:
                    found = record
        except (JournalCorruptError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if found is None:
            self._rarelog.log(
                "request_lookup_failed",
                self.clock(),
                logging.ERROR,
                "strategy %s: the answer of its re-sent request %d cannot be read from the journal at %d (%s): not "
                "answered again",
                st.strategy_id,
                req_seq,
                position,
                problem,
            )
        return found

    def _on_unreadable(self, session: StrategySession, req: UnreadableRequest) -> None:
        """Answer a request whose id cannot be read with its non-fatal Error (none after the error budget ran out)."""
        if req.code:
            session.send(Error(req.code, req.text, False))

    def _on_invalid(self, st: StrategyState, req: InvalidRequest) -> None:
        """Answer a request the session could not accept (a broken field, or read after the error budget ran out)."""
        self._counters.invalid_requests += 1
        if req.kind == "NewOrder":
            self._n_orders_received += 1  # read and answered by its id, as any NewOrder (docs/ops-guide.md, metrics)
            self._counters.rejected_gateway += 1
            if req.cl_ord_id in st.orders or req.cl_ord_id in st.released:
                # the duplicate's answer, the original order untouched (an INVALID_FIELD OrderRejected by that id would
                # read as the original's end), naming the broken field too: also that a request without a readable
                # req_seq takes no place in the sequence (protocol doc 4.5; rev60strat LOW 3)
                # After the error budget ran out (TOO_MANY_ERRORS) the code stays too, for the same reason (a client
                # takes any other refusal by a used id for the original's end), the text naming the budget and then
                # the request's own text: its field rule, or that it was not carried out (rev60merge3 LOW 2)
                text = _duplicate_text(req.cl_ord_id)
                if req.code == "INVALID_FIELD":
                    text += f"; the request breaks a field rule too: {req.text}"
                else:
                    text += f"; read after the error budget ran out (TOO_MANY_ERRORS): {req.text}"
                self._count_reject(self.rejects, GATEWAY, "DUPLICATE_CL_ORD_ID")
                self._emit(st, OrderRejected(st.next_seq, req.cl_ord_id, GATEWAY, "DUPLICATE_CL_ORD_ID", text))
                return
            self._count_reject(self.rejects, GATEWAY, req.code)
            self._emit(st, OrderRejected(st.next_seq, req.cl_ord_id, GATEWAY, req.code, req.text))
            st.refused_id(req.cl_ord_id)  # used up, as any NewOrder's: a reuse is DUPLICATE_CL_ORD_ID
        elif req.kind == "MassCancel":
            answer = MassCancelRejected(req.cl_ord_id, req.code, req.text)
            self._answer_mass_cancel(st, answer)
            self._journal_mass_cancel_answer(st, answer)
        else:
            self._count_reject(self.cancel_rejects, GATEWAY, req.code)
            self._emit(st, CancelRejected(st.next_seq, req.cl_ord_id, GATEWAY, req.code, req.text))

    # ---- new orders ------------------------------------------------------------------------

    def _on_new_order(self, st: StrategyState, msg: NewOrder, t_in: Any) -> None:
        """Decide on, journal and send a NewOrder read at ``t_in`` (an int: compiled, the read's one int object)."""
        self._n_orders_received += 1
        if _COMPILED:  # every field of the request (a Struct) in one call: compiled, each attribute read of
            # it would be a generic lookup (about 170 instructions), while the tuple's items are read natively
            # (qty, price and sent_ns kept as the request's int objects (``Any``): each native int handed to the
            # Order, a dict or a tuple would be boxed again, a new object per use; a native call unboxes them)
            fields: tuple[str, str, str, str, Side, Any, Any, TimeInForce, OrderType, Any, Any] = _astuple(msg)
            cl_ord_id, account, venue_name, symbol, side, qty, price, tif, ord_type, sent_ns, _ = fields
        else:  # interpreted, an attribute read is cheaper than a call
            cl_ord_id = msg.cl_ord_id
            account = msg.account
            venue_name = msg.venue
            symbol = msg.symbol
            side = msg.side
            qty = msg.qty
            price = msg.price
            tif = msg.tif
            ord_type = msg.ord_type
            sent_ns = msg.sent_ns
        if cl_ord_id in st.orders or (st.released.count and cl_ord_id in st.released):  # fail-closed (ReleasedIds)
            self._counters.rejected_gateway += 1
            self._count_reject(self.rejects, GATEWAY, "DUPLICATE_CL_ORD_ID")
            self._emit(
                st,
                OrderRejected(
                    st.next_seq,
                    cl_ord_id,
                    GATEWAY,
                    "DUPLICATE_CL_ORD_ID",
                    _duplicate_text(cl_ord_id),
                ),
            )
            return
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        self.orders_created += 1
        if not order_id & _MARK_MASK:  # replay index: one entry per 1,024 orders
            self.order_marks.add(order_id, self.journal.tell())
        # compiled: the order id boxed once here for the Order and the three dicts (each use of a native int as
        # an object makes a new int object); native calls take the native int
        key: Any = order_id
        strategy_id = st.strategy_id  # read once: the journal record below takes the same values
        order = _Order(
            key,
            strategy_id,
            cl_ord_id,
            account,
            venue_name,
            symbol,
            side,
            qty,
            price,
            tif,
            ord_type,
            leaves_qty=qty,
            t_sent=sent_ns,
            t_in=t_in,
        )
        st.orders[cl_ord_id] = order
        self.orders[key] = order
        # journaled once decided, in the same batch: JOrderSent when sent, JOrderCreated + refusal otherwise;
        # version 3: the first of them inside a JRequest with the request's number
        if self.journal_error:
            self._refuse(
                st, order, GATEWAY, "JOURNAL_UNAVAILABLE", f"the order journal cannot be written: {self.journal_error}"
            )
            return
        try:  # entitlements.may_trade, inline (subscripts, no method calls: hits are the steady state)
            accounts: frozenset[str] | None = self.entitlements._accounts[strategy_id]
        except KeyError:
            accounts = None
        if accounts is None or account not in accounts:
            self._log_not_entitled(st, account)
            self._refuse(
                st,
                order,
                GATEWAY,
                "ACCOUNT_NOT_PERMITTED",
                f"strategy {strategy_id!r} is not entitled to trade account {account!r}",
            )
            return
        try:
            venue: VenueAdapter | None = self.venues[venue_name]
        except KeyError:
            venue = None
        if venue is None:
            self._refuse(st, order, GATEWAY, "UNKNOWN_VENUE", f"no venue named {venue_name!r}")
            return
        # an OUCH adapter (exactly that class) is called natively with the fields held here (compiled: no
        # method lookup, no generic reads of the Order); any other adapter through the VenueAdapter methods
        ouch: OuchVenue | None = venue if type(venue) is _OuchVenue else None
        if (venue.state if ouch is None else ouch._state) is not _UP:  # OUCH: its property, inline
            self._refuse(st, order, GATEWAY, "VENUE_UNAVAILABLE", f"venue {venue_name} session is {venue.state.value}")
            return
        # asked before risk, which counts an order it lets through
        if ouch is not None:
            verdict = ouch.check_new(order_id, symbol, qty, price, tif, ord_type)
        else:
            verdict = venue.check_order(order)
        if verdict is not None:
            if type(verdict) is Refused:
                self._refuse(st, order, GATEWAY, verdict.code, verdict.text)
            else:
                self._refuse(st, order, GATEWAY, "VENUE_BACKPRESSURE", _backpressure_text(venue_name, "order"))
            return
        clock: Callable[[], Any] = self.clock  # its marks kept as the int objects it returns (no unbox and box)
        t_checked = clock()
        risk = self.risk
        native_risk = self._native_risk
        if native_risk is not None and native_risk is risk:  # compiled: a native call, not a method lookup
            # the fields held here passed on (cum_qty 0: the Order was made above)
            denial = native_risk.check_new(
                order, order_id, account, strategy_id, symbol, side, ord_type, qty, price, 0, t_in
            )
        else:
            denial = risk.check_and_commit_new(order, t_in)
        order.t_risk = t_risk = clock()
        if denial is not None:
            self._counters.rejected_risk += 1
            self._refuse(st, order, RISK, denial.code, denial.text, counted=True)
            return
        self._risk_held = order  # counted by risk: a fault before it is sent or refused releases it
        nxt = _NEXT_STATE[order.state + _SEND]  # mark_sent and fire, inline (compiled: no interpreted call)
        if nxt is None:  # checked before the send: nothing is queued for an order that cannot be marked sent
            raise IllegalTransition(order, _SEND)
        if ouch is not None:
            result = ouch.send_order(order, key, symbol, side, qty, price, tif)  # compiled: the int objects held
        else:
            result = venue.send_new(order)
        if type(result) is not _Sent:
            self._refuse_unsent(st, order, result)  # type: ignore[arg-type]
            return
        self._encoded_ns = t_encoded = clock()  # also the flush's start (journal_write) if this is the batch's last
        venue_ref = result.venue_ref
        req_seq = self._req_seq
        if req_seq:  # version 3: the request's number with the order, in one record (JRequest)
            self._req_seq = 0
        # journal before wire: the record right after the queueing (nothing between them can fail); a failed
        # append takes the queued message back if the adapter can, and goes to the last resort (_internal_error)
        journal = self.journal
        try:  # free until raised (3.11, mypyc)
            if _COMPILED and type(journal) is _MmapJournal:  # a native call writing the record from its parts
                journal.append_order_sent(  # the int objects held (order id, qty, price, t_in): none boxed again
                    req_seq, key, strategy_id, cl_ord_id, account, venue_name, symbol, side, qty, price, tif,
                    ord_type, t_in, venue_ref,
                )  # fmt: skip
            else:  # tests may set any Journal; interpreted, one call fewer this way
                sent = _JOrderSent(
                    order_id,
                    strategy_id,
                    cl_ord_id,
                    account,
                    venue_name,
                    symbol,
                    side,
                    qty,
                    price,
                    tif,
                    ord_type,
                    t_in,
                    venue_ref,
                )
                journal.append(_JRequest(strategy_id, req_seq, sent) if req_seq else sent)
        except Exception:
            self._order_unjournaled(st, order, venue, req_seq, venue_ref)
            raise
        order.state = nxt
        order.venue_ref = venue_ref
        self._n_orders_sent += 1
        self.open_orders[key] = order
        st.open_orders[key] = order
        groups = st.groups
        if groups is not None:  # it sent a MassCancel: its open orders by the filters' keys (mass56)
            group_key = (account, venue_name, symbol)
            try:
                group = groups[group_key]
            except KeyError:
                group = groups[group_key] = OrderGroup()
            group.orders[key] = order
            group.todo[key] = order
        if native_risk is not None and native_risk is risk:  # the fields held here (just sent: settled)
            # on_opened's first test, inline: check_new's open_new counted this order last, as it stands (the
            # same qty and price, nothing recounted since), so there is nothing to recount (no call); else the call
            book = native_risk._book
            leaves: int = qty  # compiled: unboxed once, then native compares (qty and price are held as objects)
            limit_price: int = price
            if (
                limit_price > 0
                and order_id == book.opened_id
                and leaves > 0
                and leaves == book.opened_leaves
                and leaves * limit_price == book.opened_notional
            ):
                book.opened_id = -1  # as on_opened leaves it
            else:
                native_risk.on_opened(order, order_id, price, qty, ord_type, True)
        else:
            risk.on_order_opened(order)
        if self._wire_first is None:  # the batch's first order: a field (a read of one order appends nothing)
            self._wire_first = order
        else:
            self._wire_pending.append(order)
        # latency.orders.add(...), inline: the order's marks up to its encoding (the first of a batch in fields),
        # once it is journaled and counted (a fault here leaves the order whole)
        stages = self.latency.orders
        if stages._pending:
            decoded = self._decoded_ns
            if _COMPILED:  # five native appends: no tuple made, concatenated and freed per order
                marks = stages._marks
                marks.append(t_in)
                marks.append(decoded if decoded else t_in)
                marks.append(t_checked)
                marks.append(t_risk)
                marks.append(t_encoded)
            else:  # interpreted, one operator instead of five calls
                stages._marks += (t_in, decoded if decoded else t_in, t_checked, t_risk, t_encoded)
        else:
            stages._t_in = t_in
            stages._t_decoded = self._decoded_ns or t_in
            stages._t_checked = t_checked
            stages._t_risk = t_risk
            stages._t_encoded = t_encoded
        stages._pending += 1

    def _order_unjournaled(
        self, st: StrategyState, order: Order, venue: VenueAdapter, req_seq: int, venue_ref: str
    ) -> None:
        """Settle a sent order whose journal record failed (the exception goes on to ``_internal_error``).

        Journal before wire: an adapter that can take the queued message back (``withdraw_new``: OUCH) does, and
        the order is refused in memory (risk released; no record: the journal is what failed; the fatal Error is
        its answer). Otherwise the message leaves with the batch, so the order is kept as sent, tracked in memory
        (open, counted by risk, its events routed, its strategy's disconnect policy applies to it), and noted as
        the one the journal does not hold. The request's number is left for ``_internal_error`` to journal alone.
        """
        self._req_seq = req_seq
        if venue.withdraw_new(order):
            prev_leaves, prev_price = order.leaves_qty, order.price
            refuse(order)
            self._terminal.append(order)
            self.risk.on_open_changed(order, prev_leaves, prev_price)
            self._fault_note = f"nothing of it reached venue {order.venue}"
            return
        order.state = _NEXT_STATE[order.state + _SEND] or order.state
        order.venue_ref = venue_ref
        self._n_orders_sent += 1
        key: Any = order.order_id
        self.open_orders[key] = order
        st.open_orders[key] = order
        if st.groups is not None:
            group_opened(st.groups, order)
        self.risk.on_order_opened(order)
        if self._wire_first is None:
            self._wire_first = order
        else:
            self._wire_pending.append(order)
        self._fault_note = (
            f"it was sent to venue {order.venue} (reference {venue_ref}) but the journal does not hold it: this "
            "gateway process tracks it, a restarted one would not know it; reconcile it with the venue"
        )

    def _refuse_unsent(self, st: StrategyState, order: Order, result: Refused | BackPressured) -> None:
        """The adapter did not send an order risk let through: refuse it and release what risk reserved."""
        prev_leaves, prev_price = order.leaves_qty, order.price
        if isinstance(result, Refused):
            if result.source is VENUE:
                self._counters.rejected_venue += 1
            else:
                self._counters.rejected_gateway += 1
            self._refuse(st, order, result.source, result.code, result.text, counted=True)
        else:
            self._refuse(st, order, GATEWAY, "VENUE_BACKPRESSURE", _backpressure_text(order.venue, "order"))
        self.risk.on_open_changed(order, prev_leaves, prev_price)

    def _log_not_entitled(self, st: StrategyState, account: str) -> None:
        """Log an order for an account the strategy may not trade (1st, 2nd, 4th, ... time: never a flood)."""
        self._counters.account_not_permitted += 1
        count = self._counters.account_not_permitted
        if is_power_of_two(count):
            peer = st.link.peer if st.link is not None else None
            log.warning(
                "strategy %s (pid %s, uid %s) is not entitled to account %r: order rejected (%d so far)",
                st.strategy_id,
                peer.pid if peer else "?",
                peer.uid if peer else "?",
                account,
                count,
            )

    def _refuse(
        self,
        st: StrategyState,
        order: Order,
        source: RejectSource,
        code: str,
        text: str,
        *,
        counted: bool = False,
        created_journaled: bool = False,
    ) -> None:
        """Refuse a new order before it reached a venue (journaling its creation first, unless it already is)."""
        if not counted:
            self._counters.rejected_gateway += 1
        refuse(order)
        self._terminal.append(order)
        if len(self._terminal) > self._terminal_over_at:
            self._release_due = True
        self._count_reject(self.rejects, source, code)
        if not created_journaled:
            req_seq = self._req_seq
            if req_seq:  # version 3: the request's number with the order, in one record
                self._req_seq = 0
                self.journal.append(JRequest(st.strategy_id, req_seq, JOrderCreated.of(order)))
            else:
                self.journal.append(JOrderCreated.of(order))
        self.journal.append(JOrderRefused(order.order_id))
        self._emit(st, OrderRejected(st.next_seq, order.cl_ord_id, source, code, text))

    # ---- cancels and replaces --------------------------------------------------------------

    def _on_cancel(self, st: StrategyState, msg: Cancel) -> None:
        order = st.orders.get(msg.cl_ord_id)
        problem = self._cancel_problem(st, order, msg.cl_ord_id)
        if problem is not None:
            self._cancel_reject(st, msg.cl_ord_id, GATEWAY, *problem)
            return
        assert order is not None
        if order.state in CANCEL_WANTED_STATES:
            if order.own_cancel:  # the gateway's own Cancel, held or sent: the strategy's from now on
                self._journal_decision(st.strategy_id, JCancelQueued(order.order_id))  # answered when it resolves
                order.own_cancel = False
                return
            self._cancel_reject(st, msg.cl_ord_id, GATEWAY, "CANCEL_PENDING", _cancel_pending_text(order))
            return
        denial = self.risk.check_cancel(order, self.clock())
        if denial is not None:
            self._cancel_reject(st, msg.cl_ord_id, RISK, denial.code, denial.text)
            return
        self._cancel(order)

    def _on_replace(self, st: StrategyState, msg: Replace) -> None:
        order = st.orders.get(msg.cl_ord_id)
        problem = self._cancel_problem(st, order, msg.cl_ord_id)
        if problem is not None or order is None:
            self._cancel_reject(st, msg.cl_ord_id, GATEWAY, *(problem or ("UNKNOWN_ORDER", "")))
            return
        venue = self.venues.get(order.venue)
        if not can(order, OrderInput.REQUEST_REPLACE):
            state = order.state  # name what is pending, in the strategy's states (protocol doc 6.3)
            if state is OrderState.PENDING_REPLACE_HELD_CANCEL:
                pending = "order is PENDING_REPLACE, and a Cancel is held until the Replace resolves"
            elif state is OrderState.LIVE_HELD_CANCEL or state is OrderState.PENDING_NEW_HELD_CANCEL:
                pending = f"order is PENDING_CANCEL: its Cancel is held until venue {order.venue} is up"
            else:
                pending = f"order is {PHASE[state]}"
            problem = ("REQUEST_PENDING", f"{pending}; replace only a LIVE order with nothing in flight")
        elif msg.qty <= order.cum_qty:
            problem = ("INVALID_QTY", f"new total {msg.qty} must exceed the filled {order.cum_qty}")
        elif venue is None or venue.state is not VenueState.UP:
            why = "is not configured" if venue is None else f"session is {venue.state.value}"
            problem = ("VENUE_UNAVAILABLE", f"venue {order.venue} {why}")
        if problem is not None:
            self.journal.append(JReplaceRejected(order.order_id))
            self._cancel_reject(st, msg.cl_ord_id, GATEWAY, *problem)
            return
        assert venue is not None  # a missing venue was answered VENUE_UNAVAILABLE above
        verdict = venue.check_replace(order, msg.qty, msg.price)  # asked before risk reserves exposure
        if verdict is not None:
            self.journal.append(JReplaceRejected(order.order_id))
            self._replace_unsent(st, order, verdict)
            return
        denial = self.risk.check_replace(order, msg.qty, msg.price, self.clock())
        if denial is not None:
            self.journal.append(JReplaceRejected(order.order_id))
            self._cancel_reject(st, msg.cl_ord_id, RISK, denial.code, denial.text)
            return
        result = venue.send_replace(order, msg.qty, msg.price)
        if not isinstance(result, Sent):
            prev_leaves, prev_price = order.leaves_qty, order.price
            self.journal.append(JReplaceRejected(order.order_id))
            self._replace_unsent(st, order, result)
            self.risk.on_open_changed(order, prev_leaves, prev_price)  # release what check_replace reserved
            return
        try:  # journal before wire: the record first; if it raises, the adapter takes the queued Replace back
            self._journal_decision(st.strategy_id, JSentReplace(order.order_id, msg.qty, msg.price, result.venue_ref))
        except Exception:
            self._replace_unjournaled(order, venue, msg.qty, msg.price, result.venue_ref)
            raise
        request_replace(order, msg.qty, msg.price, result.venue_ref)
        self._counters.replaces_sent += 1

    def _replace_unjournaled(self, order: Order, venue: VenueAdapter, qty: int, price: int, venue_ref: str) -> None:
        """Settle a queued Replace whose journal record failed (the exception goes on to ``_internal_error``).

        Journal before wire (docs/reliability.md 2.8): the adapter takes the message back (``withdraw_replace``)
        and what risk reserved for it is released: the order stays as it was. An adapter that cannot leaves it
        queued: the replace is then in flight, tracked in memory only, and the fault's text says so.
        """
        if venue.withdraw_replace(order):
            self.risk.on_open_changed(order, order.leaves_qty, order.price)  # release what check_replace reserved
            self._fault_note = f"nothing of it reached venue {order.venue}: the order is as it was"
            return
        request_replace(order, qty, price, venue_ref)
        self._counters.replaces_sent += 1
        self._fault_note = (
            f"it was sent to venue {order.venue} (reference {venue_ref}) but the journal does not hold it: this "
            "gateway process tracks it, a restarted one would not know it; reconcile the order with the venue"
        )

    def _replace_unsent(self, st: StrategyState, order: Order, verdict: Refused | BackPressured) -> None:
        if isinstance(verdict, Refused):
            self._cancel_reject(st, order.cl_ord_id, verdict.source, verdict.code, verdict.text)
        else:
            self._cancel_reject(st, order.cl_ord_id, GATEWAY, "VENUE_BACKPRESSURE", _backpressure_text(order.venue))

    def _cancel_problem(self, st: StrategyState, order: Order | None, cl_ord_id: str) -> tuple[str, str] | None:
        if order is None:
            if cl_ord_id in st.released:  # terminal and released from memory
                return ("ORDER_CLOSED", "order is already closed")
            return ("UNKNOWN_ORDER", f"no order with cl_ord_id {cl_ord_id!r}")
        if order.is_terminal:
            return ("ORDER_CLOSED", f"order is already {PHASE[order.state]}")
        return None

    def _cancel_reject(self, st: StrategyState, cl_ord_id: str, source: RejectSource, code: str, text: str) -> None:
        self._emit(st, CancelRejected(st.next_seq, cl_ord_id, source, code, text))
        self._count_reject(self.cancel_rejects, source, code)  # once it is journaled: a retry counts it once

    @staticmethod
    def _count_reject(counts: dict[tuple[RejectSource, str], int], source: RejectSource, code: str) -> None:
        key = (source, code)
        counts[key] = counts.get(key, 0) + 1

    def _on_mass_cancel(self, st: StrategyState, msg: MassCancel) -> None:
        """Cancel the strategy's matching open orders; answer with the count (version 2 sessions and later).

        In version 3 the answer is journaled (``JRequest.answer``) after the cancels, so a crash
        that cuts the batch short leaves the request unprocessed, and carrying it out again when
        the strategy re-sends it cancels the rest and gives the count of the orders open then.

        One that matches more than ``MASS_CANCEL_WALK_SLICE`` orders when the read may end its turn (``_may_cut``)
        acts on them a slice per loop turn (``_walk_on``; mass58): the orders matched now, in the order sent, an
        order opened since not among them; the turn ends behind it and the connection's later requests wait, kept,
        for its end (``_behind_walk``); its answer is sent and journaled after the last slice, in one batch, so a
        crash between two slices leaves it unprocessed as above (its answer never sent).
        """
        answer: MassCancelAnswer
        if msg.account and not self.entitlements.may_trade(st.strategy_id, msg.account):
            answer = MassCancelRejected(
                msg.request_id,
                "ACCOUNT_NOT_PERMITTED",
                f"strategy {st.strategy_id!r} is not entitled to trade account {msg.account!r}; nothing canceled",
            )
            self._answer_mass_cancel(st, answer)
            self._journal_mass_cancel_answer(st, answer)
            return
        # Only the groups of open orders the filters match are looked at, and only the orders of theirs it can still
        # act on are walked (mass56): the count is every matching open order, as before; a flood of MassCancels of
        # orders already canceling (or of none) costs a look per group, not a walk of every open order each.
        groups = st.order_groups()
        account, venue, symbol = msg.account, msg.venue, msg.symbol
        filtered = bool(account or venue or symbol)
        count = 0
        walk: list[OrderGroup] = []
        keys: list[tuple[str, str]] = []  # (account, symbol) of the groups a filtered one acts on: checked first
        for (g_account, g_venue, g_symbol), group in groups.items():
            if (
                (not account or g_account == account)
                and (not venue or g_venue == venue)
                and (not symbol or g_symbol == symbol)
            ):
                count += len(group.orders)
                if group.todo:
                    walk.append(group)
                    if filtered:
                        keys.append((g_account, g_symbol))
        link = st.link
        if keys and link is not None and link.session.protocol_version >= 2:
            # a filtered MassCancel is checked as one Cancel against the strategy's own window: refused as a whole
            # while it is full (strat60b; lead60: only the strategy's window, and never in version 1, which has no
            # answer to tell the strategy with)
            denial = self._mass_cancel_denial(st.strategy_id, keys)
            if denial is not None:
                answer = MassCancelRejected(msg.request_id, denial.code, _mass_cancel_rate_text(denial.text))
                self._answer_mass_cancel(st, answer)
                self._count_reject(self.cancel_rejects, RISK, denial.code)
                self._journal_mass_cancel_answer(st, answer)
                return
        answer = MassCancelAck(msg.request_id, count)
        req_seq, self._req_seq = self._req_seq, 0  # the cancels do not carry the number: the answer does
        matching = [order for group in walk for order in group.todo.values()]
        matching.sort(key=_ORDER_ID)  # in the order the orders were sent, as a walk of ``open_orders`` had them
        why = f"strategy {st.strategy_id}'s MassCancel {msg.request_id!r}"
        if (
            len(matching) > MASS_CANCEL_WALK_SLICE
            and self.replay_scheduler is not None
            and link is not None
            and self._may_cut(link)
            and st.strategy_id not in self._walks
        ):  # a slice per loop turn, the answer after the last; its later requests wait (the turn ends: _cut_turn)
            mass = _MassWalk(st, link, answer, req_seq, why, matching)
            self._walks[st.strategy_id] = mass
            # its link is not read until the walk's end: its silence and a frame it left incomplete are not judged
            # meanwhile, both counted again from the end (docs/strategy-protocol.md 4.3; mass58b)
            link.session.pause_input(True, self.clock(), walk=True)
            self._mass_cancel_work += len(groups)
            self._walk_slice(mass)
            self._mass_cancel_work = MASS_CANCEL_TURN_WORK
            self._walk_soon(mass)
            return
        self._answer_mass_cancel(st, answer)  # before any event it causes
        self._mass_cancel_work += len(groups) + len(matching)
        sent: dict[tuple[str, str], int] = {}
        for order in matching:  # a fault on one order's cancel is that order's alone (answered CancelRejected)
            if self._mass_cancel_order(st, order, why):
                key = (order.account, order.symbol)
                sent[key] = sent.get(key, 0) + 1
        self._count_mass_cancels(st.strategy_id, sent)
        self._req_seq = req_seq
        self._journal_mass_cancel_answer(st, answer)

    def _mass_cancel_denial(self, strategy_id: str, keys: list[tuple[str, str]]) -> Denial | None:
        """Check a filtered MassCancel as one Cancel against the strategy's window under each (account, symbol)'s
        limits it acts on; the first refusal.

        A MassCancel without filters is the flatten and is never checked; one with a filter (account, venue or
        symbol) could otherwise send a Cancel per request past ``cancels_per_s`` (rev60merge3 MEDIUM 1: 300
        one-order MassCancels all passed a limit of 100). Its Cancels are then counted as any MassCancel's
        (``_count_mass_cancels``). Nothing is refused while REDUCING or HALTED (``RiskGate.check_cancels``).
        """
        now = self.clock()
        risk = self.risk
        seen: set[tuple[str, str]] = set()
        for key in keys:
            if key in seen:  # the same account and symbol at another venue
                continue
            seen.add(key)
            denial = risk.check_cancels(key[0], strategy_id, key[1], now)
            if denial is not None:
                return denial
        return None

    def _count_mass_cancels(self, strategy_id: str, sent: dict[tuple[str, str], int]) -> None:
        """Count a MassCancel's Cancels (of one slice, by account and symbol) in the cancel rate; never refused.

        A MassCancel only reduces risk: the throttle never refuses it or cuts it short, but what it sent uses up the
        strategy's, account's and symbol's ``cancels_per_s`` as single Cancels would (docs/risk-officer-guide.md 7;
        strat60: before, a MassCancel of 1,350 orders left the budget untouched, and single Cancels right after it
        passed too). Counted once per slice and key (``RiskGate.count_cancels``), not per order.
        """
        if not sent:
            return
        now = self.clock()
        risk = self.risk
        for (account, symbol), count in sent.items():
            risk.count_cancels(account, strategy_id, symbol, count, now)

    def _mass_cancel_order(self, st: StrategyState, order: Order, why: str) -> bool:
        """Cancel ``order`` for its strategy's MassCancel ``why`` (or join the gateway's own Cancel of it); never raise.

        Its group's ``todo`` keeps it only if it is still open without a Cancel of the strategy's held or in flight
        (refused, ...): the next MassCancel looks at it again. Returns True if a Cancel of it was sent or held now
        (one the cancel rate counts: ``_count_mass_cancels``); joining the gateway's own is not one.
        """
        issued = False
        if order.state not in CANCEL_WANTED_STATES:
            self._own_cancel(order, why, answer=True)
            issued = order.state in CANCEL_WANTED_STATES
        elif order.own_cancel:  # the gateway's own Cancel, held or sent: joined, answered when it resolves
            self._join_own_cancel(st, order, why)
        if not order.is_open or (order.state in CANCEL_WANTED_STATES and not order.own_cancel):
            groups = st.groups
            group = groups.get((order.account, order.venue, order.symbol)) if groups is not None else None
            if group is not None:
                group.todo.pop(order.order_id, None)
        return issued

    def _walk_slice(self, mass: _MassWalk) -> bool:
        """Act on the next ``MASS_CANCEL_WALK_SLICE`` orders of a MassCancel's walk; return True if it is all walked.

        An order that ended since the MassCancel was read is passed over (it was counted: it ended with its event).
        """
        orders = mass.orders
        start = mass.next
        end = min(start + MASS_CANCEL_WALK_SLICE, len(orders))
        st = mass.st
        why = mass.why
        sent: dict[tuple[str, str], int] = {}
        for index in range(start, end):
            order = orders[index]
            if order.is_open and self._mass_cancel_order(st, order, why):
                key = (order.account, order.symbol)
                sent[key] = sent.get(key, 0) + 1
        self._count_mass_cancels(st.strategy_id, sent)
        mass.next = end
        self._mass_cancel_work += end - start
        return end >= len(orders)

    def _walk_soon(self, mass: _MassWalk) -> None:
        scheduler = self.replay_scheduler
        assert scheduler is not None
        scheduler(lambda: self._walk_on(mass), 0.0)

    def _walk_on(self, mass: _MassWalk) -> None:
        """The next slice of a MassCancel's walk, on its own loop turn; at the last, its answer (mass58)."""
        if self._walks.get(mass.st.strategy_id) is not mass:  # walked to its end meanwhile (``_walk_rest``)
            return
        try:
            if self._walk_slice(mass):
                self._walk_end(mass)
            else:
                self._walk_soon(mass)
        except Exception as exc:  # (``_own_cancel`` never raises: a fault of the walk's own, the last resort)
            self._walks.pop(mass.st.strategy_id, None)
            self.transport_fault(
                f"{mass.why}, walking its orders: the orders from the {mass.next + 1}th of {len(mass.orders)} on may "
                "have no Cancel; reconcile them",
                exc,
                mass.orders[mass.next :],
            )
            self._walk_end(mass)
        self.flush()

    def _walk_rest(self, mass: _MassWalk) -> None:
        """Walk the rest of a MassCancel now (its requests cannot wait, the strategy is back, the stop); answer it."""
        while not self._walk_slice(mass):
            pass
        self._walk_end(mass)

    def _walk_end(self, mass: _MassWalk) -> None:
        """A MassCancel is all walked: its answer (to the connection that sent it) and its record, in one batch.

        Its requests behind it, kept with the link's read (``_behind_walk``), are taken on the next loop turn.
        """
        st = mass.st
        self._walks.pop(st.strategy_id, None)
        mass.link.session.pause_input(False, self.clock(), walk=True)  # its deadlines run again from now
        if st.link is mass.link:  # (a connection since: its Welcome counted the request, a re-send gets the answer)
            self._answer_mass_cancel(st, mass.answer)
        saved, self._req_seq = self._req_seq, mass.req_seq
        try:
            self._journal_mass_cancel_answer(st, mass.answer)
        finally:
            self._req_seq = saved
        for link in mass.waiting:
            if link in self._kept_reads:
                link.read_rest_soon()

    def _walk_own(self, orders: list[Order], why: str, strategy_id: str = "") -> None:
        """Send (or hold) the gateway's own Cancels of ``orders`` a ``MASS_CANCEL_WALK_SLICE`` per loop turn, the
        first slice now (a kill switch's, ``strategy_id`` empty; a disconnect policy's: that strategy's)."""
        walk = _CancelWalk(orders, why, strategy_id)
        self._own_walks.append(walk)
        self._own_slice(walk)
        self._own_soon(walk)

    def _own_slice(self, walk: _CancelWalk) -> bool:
        """Cancel the next ``MASS_CANCEL_WALK_SLICE`` orders of an own walk; return True if it is all walked.

        An order that ended since is passed over; one whose Cancel is wanted already is left as it is (``_cancel``);
        a kill's (no ``strategy_id``) passes over an order the gateway's own Cancel was sent or held for since the
        kill (``_kill_owed``: a strategy's Cancel refused meanwhile, walk59c), once per order.
        """
        orders = walk.orders
        start = walk.next
        end = min(start + MASS_CANCEL_WALK_SLICE, len(orders))
        why = walk.why
        owed = None if walk.strategy_id else self._kill_owed
        for index in range(start, end):
            order = orders[index]
            if order.is_open and (owed is None or order.order_id in owed):
                self._own_cancel(order, why)
        walk.next = end
        return end >= len(orders)

    def _own_soon(self, walk: _CancelWalk) -> None:
        scheduler = self.replay_scheduler
        assert scheduler is not None
        scheduler(lambda: self._own_on(walk), 0.0)

    def _own_on(self, walk: _CancelWalk) -> None:
        """The next slice of an own walk, on its own loop turn; flushed (journal first, then the venues)."""
        walks = self._own_walks
        if walk not in walks:  # walked to its end meanwhile (the stop)
            return
        ended = True
        try:
            if self._own_slice(walk):
                walks.remove(walk)
            else:
                self._own_soon(walk)
                ended = False
        except Exception as exc:  # (``_own_cancel`` never raises: a fault of the walk's own, the last resort)
            ended = True
            if walk in walks:
                walks.remove(walk)
            self.transport_fault(
                f"{walk.why}, walking its orders: the orders from the {walk.next + 1}th of {len(walk.orders)} on may "
                "have no Cancel; reconcile them",
                exc,
                walk.orders[walk.next :],
            )
        if ended and self._hellos_behind_walk:  # its last slice: a Hello that waited for it is answered
            self._welcome_after_walk(walk.strategy_id)
        self.flush()

    def _policy_walking(self, strategy_id: str) -> bool:
        """Return True while a disconnect policy's Cancels of ``strategy_id``'s orders are walked (``_own_walks``)."""
        return any(walk.strategy_id == strategy_id for walk in self._own_walks)

    def _welcome_after_walk(self, strategy_id: str) -> None:
        """Answer the Hello of ``strategy_id`` that waited for its disconnect policy's walk, once none is left.

        Its Welcome (and replay, read from the journal if need be) goes out now, after every Cancel of the walk; the
        bytes it sent behind the Hello, held meanwhile, are read after it (mass59). Not flushed.
        """
        if not self._hellos_behind_walk or not strategy_id or self._policy_walking(strategy_id):
            return
        for link, hello in list(self._hellos_behind_walk.items()):
            st = link.strategy
            if st is None or st.strategy_id != strategy_id:
                continue
            del self._hellos_behind_walk[link]
            if st.link is not link or link.session.is_closed():  # (gone meanwhile: ``_forget_link`` dropped it)
                continue
            try:
                self._answer_hello(link, st, hello)
            except Exception as exc:  # a fault of the gateway's own: the last resort, as in ``_requests``
                self._internal_error(link, None, exc)
            self._mark_dirty(link)

    def finish_own_walks(self) -> None:
        """Walk the rest of every own walk now (the stop: a kill switch's and the policies' Cancels); not flushed."""
        while self._own_walks:
            walk = self._own_walks.pop(0)
            while not self._own_slice(walk):
                pass

    @property
    def own_walks(self) -> int:
        """How many walks of the gateway's own Cancels (kill switch, disconnect policy) are under way."""
        return len(self._own_walks)

    def _behind_walk(self, link: StrategyLink, kept: _KeptRead, may_wait: bool) -> bool:
        """Keep ``kept`` until the walk of ``link``'s strategy's MassCancel ends (True), or end the walk now (False)."""
        st = link.strategy
        mass = self._walks.get(st.strategy_id) if st is not None else None
        if mass is None:
            return False
        if may_wait:  # taken on a loop turn of the link's own (``link_rest``): it is not read meanwhile
            self._kept_reads[link] = kept
            if link not in mass.waiting:
                mass.waiting.append(link)
            return True
        self._walk_rest(mass)
        return False

    def _join_own_cancel(self, st: StrategyState, order: Order, why: str) -> None:
        """Make the gateway's own Cancel of ``order`` (held or sent) the strategy's: a MassCancel's order (fixeng55).

        Journaled (``JCancelQueued`` without ``own``: recovery and the replay rebuild it) before the flag is cleared,
        so the journal and this process agree on who is answered. Never raises: a fault journaling it is that
        order's alone (counted, logged at CRITICAL, its account halted); the order is then answered
        ``CancelRejected`` ``INTERNAL_ERROR`` at once (its own Cancel stays the gateway's, answered to no strategy),
        so it gets its one answer all the same.
        """
        try:
            self.journal.append(JCancelQueued(order.order_id))
            order.own_cancel = False
            return
        except Exception as exc:
            fault = exc
        text = (
            f"a fault of the gateway's own joining this order's Cancel ({why}) to the one the gateway started itself: "
            f"that Cancel goes on (held or sent to venue {order.venue}), its outcome not answered to you: the order's "
            f"events will say; account {order.account} is halted until an operator reconciles it"
        )
        answered = "; its strategy was answered CancelRejected INTERNAL_ERROR"
        try:
            self._cancel_reject(st, order.cl_ord_id, GATEWAY, "INTERNAL_ERROR", text)
        except Exception:
            log.exception("order %s: answering its Cancel after a fault of the gateway's own failed", order.order_id)
            answered = "; answering it failed too (ERROR above): reconcile it with the strategy"
        self.transport_fault(
            f"{why}, joining the gateway's own Cancel of order {order.order_id} ({st.strategy_id}'s "
            f"{order.cl_ord_id!r}): the gateway's Cancel goes on{answered}",
            fault,
            [order],
        )

    def _journal_mass_cancel_answer(self, st: StrategyState, answer: MassCancelAnswer) -> None:
        """(Version 3) Journal a MassCancel's answer with its number and keep it for a re-sent duplicate.

        The answer went to the strategy already (before the cancels it caused): a fault journaling it is no reason
        for a second one (the last resort's fatal Error). It is counted and logged at CRITICAL, and the record tried
        again at each ``poll`` until the journal takes it (``_settle_owed``); this process answers a re-sent
        duplicate meanwhile (``mass_cancel_answers``).
        """
        req_seq = self._req_seq
        if req_seq:
            self._req_seq = 0
            journal = self.journal
            st.note_answer(req_seq, answer, journal.tell() + journal.pending_bytes, journal.durable)
            record = JRequest(st.strategy_id, req_seq, None, answer)
            try:
                self.journal.append(record)
            except Exception as exc:
                self._owed_records.append(record)
                self.transport_fault(
                    f"journaling strategy {st.strategy_id}'s MassCancel {answer.request_id!r} (req_seq {req_seq}), "
                    f"already answered {type(answer).__name__}: its record is journaled once the journal takes it "
                    "(tried again at each poll); its session goes on",
                    exc,
                )

    def _journal_decision(self, strategy_id: str, record: JSentCancel | JCancelQueued | JSentReplace) -> None:
        """Journal ``record``, inside a ``JRequest`` if it decides the version-3 request being carried out."""
        req_seq = self._req_seq
        if req_seq:
            self._req_seq = 0
            try:
                self.journal.append(_JRequest(strategy_id, req_seq, record))
            except Exception:  # the number is left for the last resort to journal alone
                self._req_seq = req_seq
                raise
        else:
            self.journal.append(record)

    def _answer_mass_cancel(self, st: StrategyState, answer: MassCancelAck | MassCancelRejected) -> None:
        """Send a MassCancel's answer (not an order event: not sequenced, not replayed; version 2 only)."""
        link = st.link
        if link is not None and link.session.protocol_version >= 2 and not link.session.is_closed():
            link.session.send(answer)
            self._mark_dirty(link)

    def _cancel(self, order: Order, own: bool = False) -> None:
        """Send a cancel now, or hold it until a replace resolves or the venue is back (no-op if one is wanted).

        ``own``: the gateway's own cancel (no strategy sent it): journaled so (``JCancelQueued.own``,
        ``JSentCancel.own``) and noted on the order (``Order.own_cancel``), held or sent.
        """
        venue = self.venues.get(order.venue)
        if venue is not None and venue.state is VenueState.UP and can(order, _REQUEST_CANCEL):
            self._send_cancel(order, own)
        elif (
            venue is not None
            and venue.state is VenueState.ENDED
            and not venue.resumes_after_end
            and order.state not in CANCEL_WANTED_STATES
        ):
            if own:
                self._own_ended(order)
            else:
                st = self.strategies[order.strategy_id]
                self._cancel_reject(
                    st, order.cl_ord_id, GATEWAY, "VENUE_SESSION_ENDED", _session_ended_text(order.venue)
                )
        elif can(order, _HOLD):
            try:
                self._journal_decision(order.strategy_id, JCancelQueued(order.order_id, own))
            except Exception:  # nothing held
                self._fault_note = f"nothing of it reached venue {order.venue}: the order is as it was"
                raise
            hold_cancel(order)
            if own:
                order.own_cancel = True
                if self._kill_owed:  # a Cancel of the gateway's own journaled: the kill's debt paid (walk59c)
                    self._kill_paid(order.order_id)

    def _send_cancel(self, order: Order, own: bool = False) -> None:
        """Send a cancel (a new one, or the held one) to the venue; a refusal goes to the strategy.

        Not for the gateway's own cancel (``own``, or a held one marked ``Order.own_cancel``): none sent it, so its
        refusal, by the adapter here or by the venue later (``_on_venue_cancel_rejected``), is logged
        (``_own_refused``), not answered; it is journaled so (``JSentCancel.own``) and stays marked while in flight.
        """
        held = cancel_input(order) is _RELEASE
        if held and order.own_cancel:
            own = True
        venue = self.venues[order.venue]
        result = venue.send_cancel(order)
        if isinstance(result, Sent):
            try:  # journal before wire: the record first; if it raises, the adapter takes the queued Cancel back
                self._journal_decision(order.strategy_id, JSentCancel(order.order_id, result.venue_ref, own))
            except Exception:
                if venue.withdraw_cancel(order):
                    self._fault_note = f"nothing of it reached venue {order.venue}: the order is as it was"
                else:
                    self._fault_note = (
                        f"it was sent to venue {order.venue} (reference {result.venue_ref}) but the journal does "
                        "not hold it: this gateway process tracks it, a restarted one would not know it; reconcile "
                        "the order with the venue"
                    )
                    if held:
                        release_cancel(order, result.venue_ref)
                    else:
                        request_cancel(order, result.venue_ref)
                    order.own_cancel = own
                    self._counters.cancels_sent += 1
                raise
            if held:
                release_cancel(order, result.venue_ref)
            else:
                request_cancel(order, result.venue_ref)
            if own:
                order.own_cancel = True
                if self._kill_owed and not held:  # a fresh Cancel of the gateway's own journaled: the kill's debt
                    self._kill_paid(order.order_id)  # paid (walk59c); not by the release of one held (kill60)
            self._counters.cancels_sent += 1
            return
        if held:  # the record first: if it raises, the Cancel stays held as the journal has it (_own_cancel answers)
            try:
                self.journal.append(JCancelRefused(order.order_id))
            except Exception:
                self._fault_note = f"nothing of it reached venue {order.venue} (it refused it: {result.code})"
                raise
            drop_held_cancel(order)  # (clears ``own_cancel``; ``own`` says whose it was)
            self._unsettle(order)
        if own:
            self._own_refused(order, result.code, result.text)
            if held and (self._kill_owed or self._kill_sent):  # (not a fresh one: that is the kill's, or its like)
                self._kill_refusal(order, "the gateway's own Cancel held (a disconnect policy's or the stop's)")
            return
        st = self.strategies[order.strategy_id]
        self._cancel_reject(st, order.cl_ord_id, result.source, result.code, result.text)
        if self._kill_owed or self._kill_sent:  # refused by the adapter, as by the venue (kill60)
            self._kill_refusal(order, "its strategy's Cancel")

    def _own_ended(self, order: Order) -> None:
        """Refuse the gateway's own Cancel of ``order``: its venue's session ENDED for the day, nothing will carry it.

        For an order a kill owes its Cancel (``_kill_owed``) the refusal is journaled as a Cancel of the gateway's
        own held and refused (``JCancelQueued.own``, then ``JCancelRefused``: the order as it was), so a restart
        knows the kill's Cancel was tried (walk59b: it was owed again, and logged as cut short, at every start that
        day, ``Recovered.kill_owed``); once per order (walk59c: not again at each later disconnect policy's or
        stop's Cancel). Logged either way (``_own_refused``).
        """
        owed = self._kill_owed
        if order.order_id in owed and can(order, _HOLD):
            try:
                self._journal_decision(order.strategy_id, JCancelQueued(order.order_id, True))
            except Exception:  # nothing held
                self._fault_note = f"nothing of it reached venue {order.venue}: the order is as it was"
                raise
            owed.discard(order.order_id)
            hold_cancel(order)
            order.own_cancel = True
            self._refuse_held_cancel(order)  # JCancelRefused, the order as it was; logged; never raises
            return
        self._own_refused(order, "VENUE_SESSION_ENDED", _session_ended_text(order.venue))

    def _own_refused(self, order: Order, code: str, text: str) -> None:
        """Log the refusal of a Cancel the gateway sent for its own reasons: no strategy sent it, none is answered."""
        log.warning(
            "the gateway's own Cancel of order %s (%s's %r) at venue %s was refused (%s: %s): the order stays open; "
            "no strategy answer (it sent no Cancel)",
            order.order_id,
            order.strategy_id,
            order.cl_ord_id,
            order.venue,
            code,
            text,
        )

    def cancel_all(self, account: str | None = None, *, walk: bool = False) -> int:
        """Cancel every open order (of ``account`` if given) at every venue; return how many.

        ``walk`` (``gateway kill``, walk59): more than ``MASS_CANCEL_WALK_SLICE`` orders are walked a slice per loop
        turn (``_walk_own``; the first slice now), other strategies and the venues served in between; the orders
        are those open now, in the order sent. A crash between two slices leaves the rest without a journaled
        Cancel: the next start sends them (``Recovered.kill_owed``, ``cancel_owed``). The stop walks the rest first.
        The scope is under a kill from now (``killed_scopes``) until ``kill_lifted``; each order is owed its Cancel
        (``_kill_owed``) until one of the gateway's own is journaled for it, resume or not.
        """
        self.killed_scopes.add(account or "")
        orders = [order for order in self.open_orders.values() if account is None or order.account == account]
        open_orders = self.open_orders
        sent: set[int] = set()
        for order_id in self._kill_sent:  # (ended ones, and any no longer wanted, dropped)
            kept = open_orders.get(order_id)
            if kept is not None and kept.state in CANCEL_WANTED_STATES:
                sent.add(order_id)
        owed = {order_id for order_id in self._kill_owed if order_id in open_orders}
        owed.update(order.order_id for order in orders if order.order_id not in sent)  # (an earlier kill's Cancel
        self._kill_sent = sent  # held or in flight, joined or not: owed nothing more, rev59merge14; any other
        self._kill_owed = owed  # Cancel wanted, a strategy's or the gateway's own, may be refused: owed, kill60)
        if walk and len(orders) > MASS_CANCEL_WALK_SLICE and self.replay_scheduler is not None:
            self._walk_own(orders, "the kill switch")
        else:
            for order in orders:
                self._own_cancel(order, "the kill switch")
        self.flush()
        return len(orders)

    def kill_lifted(self, account: str | None) -> None:
        """A resume lifted the kill switch of ``account``'s scope (None: firm-wide; an account's own stays)."""
        self.killed_scopes.discard(account or "")  # (the Cancels the kill owes stay owed: ``_kill_owed``)

    def cancel_owed(self, orders: list[Order]) -> int:
        """Cancel, at the start, the open orders a kill switch owed a Cancel the journal does not hold (walk59).

        A crash in the middle of a kill's walk (``cancel_all``) left them without one (``Recovered.kill_owed``):
        each gets the gateway's own Cancel, held (journaled) for a venue not UP yet and sent when it is. An order
        whose Cancel is wanted already (its strategy's, or a disconnect policy's or the stop's own, journaled: its
        venue answers it at the reconnect) is left to it; refused, the kill's Cancel follows (``_kill_refusal``).
        Returns how many Cancels were sent or held.
        """
        count = 0
        for order in orders:
            if order.order_id in self.open_orders and order.state not in CANCEL_WANTED_STATES:
                self._own_cancel(order, "the kill switch (its Cancels carried on at the start)")
                count += 1
        self.flush()
        return count

    def _own_cancel(self, order: Order, why: str, *, held: bool = False, answer: bool = False) -> None:
        """Cancel ``order`` for the reason ``why`` (send its held cancel if ``held``); never raise.

        These cancels come in loops over many orders (the kill switch, a disconnect policy, the stop, a venue back
        UP, a MassCancel) or inside a venue message's handling (a cancel held behind a replace): a fault of the
        gateway's own on one order is that order's alone. It is counted and logged at CRITICAL saying whether the
        Cancel went out, the order's account is halted, and the loop goes on. A held cancel the fault kept from the
        venue, and a MassCancel's (``answer``), is answered ``CancelRejected`` ``INTERNAL_ERROR``
        (``_answer_unsent_cancel``): every Cancel the strategy was told of gets its one answer. A Cancel the gateway
        held for its own reasons (not ``answer``: ``Order.own_cancel``) is dropped the same way but answered to no
        strategy: none sent it.
        """
        own = held and order.own_cancel
        try:
            if held:
                self._send_cancel(order)
            else:
                self._cancel(order, not answer)  # a hold of the gateway's own (not a MassCancel's) is noted so
        except Exception as exc:
            note, self._fault_note = self._fault_note, ""
            answered = self._answer_unsent_cancel(order, why, note, not own) if held or answer else ""
            try:
                what = f"order {order.order_id} ({order.strategy_id}'s {order.cl_ord_id!r})"
                if note.startswith("nothing of it reached"):
                    outcome = (
                        f"its Cancel did not go out, the order is still live at venue {order.venue}: cancel it there, "
                        "or again through the gateway (a Cancel passes the halted account)"
                    )
                else:
                    outcome = f"{note or 'what became of its Cancel is unknown'}; reconcile it with the venue"
            except Exception:
                what, outcome = "an order", "reconcile the account's orders with the venue"
            self.transport_fault(f"{why}, canceling {what}: {outcome}{answered}", exc, [order])

    def _answer_unsent_cancel(self, order: Order, why: str, note: str, reply: bool) -> str:
        """Answer ``CancelRejected`` ``INTERNAL_ERROR`` for ``order``'s Cancel a fault kept from its venue.

        A held cancel leaves the held state (journaled ``JCancelRefused``: a restarted gateway holds nothing for
        it), so a later Cancel goes out; the strategy is answered if ``reply`` (not for a Cancel the gateway held
        for its own reasons). An order whose Cancel is in flight after all (sent, though not journaled) or that
        ended is left to the venue's answer. If the journal cannot take the record (a fault while handling the
        fault), the Cancel stays held, as the journal has it, and is dropped and answered once the journal takes it
        (``_settle_owed``, at each poll). Never raises; returns what the CRITICAL line adds.
        """
        try:
            if note.startswith("nothing of it reached"):
                fate = f"nothing of it reached venue {order.venue}, the order is live there"
            else:
                fate = "what became of it is unknown: the order's events from the venue will say"
            text = (
                f"a fault of the gateway's own canceling this order ({why}): {fate}; account {order.account} is "
                "halted until an operator reconciles it; cancel it again if you want it gone (a Cancel passes the halt)"
            )
        except Exception:
            text = "a fault of the gateway's own canceling this order; its account is halted"
        try:
            if not self._drop_held_and_answer(order, "INTERNAL_ERROR", text, reply):
                return ""
        except Exception:
            log.exception("order %s: answering its Cancel after a fault of the gateway's own failed", order.order_id)
            self._owed[order.order_id] = (order, "INTERNAL_ERROR", text, reply)
            if not reply:
                return (
                    "; the gateway's own Cancel: no strategy answer; dropping it failed too (ERROR above): it stays "
                    "held, as the journal has it, until the journal takes its drop (tried again at each poll)"
                )
            return (
                "; answering its Cancel failed too (ERROR above): it is answered (CancelRejected INTERNAL_ERROR) "
                "once the journal takes it (tried again at each poll), the Cancel held meanwhile as the journal has it"
            )
        if not reply:
            return "; the gateway's own Cancel: no strategy answer (it sent none)"
        return "; its strategy was answered CancelRejected INTERNAL_ERROR"

    # ======================================================================================
    # Output
    # ======================================================================================

    def _emit(self, st: StrategyState, event: OrderEvent) -> None:
        """Journal an order event, then sequence it, keep it for replay and queue it for the strategy."""
        req_seq = self._req_seq
        if req_seq:  # the answer to the version-3 request being carried out: journaled with its number
            self._req_seq = 0
            self.journal.append(JRequest(st.strategy_id, req_seq, JStrategyEvent(st.strategy_id, event)))
        else:
            self.journal.append(JStrategyEvent(st.strategy_id, event))
        self._deliver(st, event)

    def _deliver(self, st: StrategyState, event: OrderEvent) -> None:
        """Sequence an order event already journaled (or implied by a journal record), keep it, queue it."""
        st.next_seq += 1
        st.events.append(event)
        if st.next_seq & _MARK_MASK == 1:  # replay index: one entry per 1,024 events of the strategy
            self._mark(st)
        if st.next_seq - st.events_base == self._events_over_at:  # len(st.events) == events_kept + RELEASE_BATCH
            self._events_over.append(st)
        link = st.link
        if link is None:
            return
        session = link.session  # read once: the link is an interpreted transport (compiled: a generic lookup)
        if session.state is StrategySessionState.ACTIVE:
            writer = session._writer  # session.send(event): FrameWriter.write, inline
            buf = writer.buffer
            frame = _PACK_FRAME  # compiled: the frame in one C call, FrameWriter's bytes (-1: msgspec's then)
            if frame is None:  # interpreted: FrameWriter's bytes in three calls (encode, len, prefix), not four
                payload = _encode_event(event)
                buf += _length_prefix(len(payload))
                buf += payload
            else:
                start = len(buf)
                if frame(buf, start, event) < 0:
                    writer._encode_into(event, buf, start + PREFIX_SIZE)
                    _pack_prefix(buf, start, len(buf) - start - PREFIX_SIZE)
            first = self._dirty_link  # _mark_dirty, inline (hot path): a read's one connection is a field
            if first is None:
                self._dirty_link = link
            elif link is not first and link not in self._dirty_links:
                self._dirty_links.append(link)

    def _mark(self, st: StrategyState) -> None:
        """Note where the journal can rebuild the strategy's events after the one just delivered (replay index)."""
        oldest = next(iter(st.open_orders), -1)
        st.marks.add(st.next_seq - 1, mark_position(self.journal.tell(), oldest, self.order_marks))

    def _close(self, order: Order) -> None:
        self.open_orders.pop(order.order_id, None)
        self._terminal.append(order)
        if len(self._terminal) > self._terminal_over_at:
            self._release_due = True
        st = self.strategies.get(order.strategy_id)
        if st is not None:
            st.open_orders.pop(order.order_id, None)
            groups = st.groups
            if groups is not None:  # its MassCancels' groups (kept while empty: an order opens one again); no call
                key: Any = order.order_id
                try:
                    group = groups[(order.account, order.venue, order.symbol)]
                    del group.orders[key]
                    if key in group.todo:
                        del group.todo[key]
                except KeyError:  # (not there: nothing to forget)
                    pass

    def _release(self) -> None:
        """Release terminal orders and events beyond their windows (the journal has been written).

        An order leaves ``orders``, its strategy's ``orders`` (its ``cl_ord_id`` goes to the
        strategy's ``released`` set: still a duplicate, a cancel of it still ORDER_CLOSED) and its
        venue adapter's maps. Events leave only when the journal keeps them (``durable``): a
        reconnect that needs them reads them back (``_events_from_journal``).
        """
        terminal = self._terminal
        keep = self.terminal_orders_kept
        self._release_due = False
        if len(terminal) > keep + RELEASE_BATCH:
            orders = self.orders
            strategies = self.strategies
            venues = self.venues
            popleft = terminal.popleft
            for _ in range(len(terminal) - keep):
                order = popleft()
                orders.pop(order.order_id, None)
                st = strategies.get(order.strategy_id)
                if st is not None and st.orders.get(order.cl_ord_id) is order:
                    del st.orders[order.cl_ord_id]
                    st.released.add(order.cl_ord_id)
                venue = venues.get(order.venue)
                if venue is not None:
                    venue.forget(order)
                self.released_orders += 1
        over = self._events_over
        if over:
            if self.journal.durable:  # without a journal that keeps them, events stay in memory
                for st in over:
                    if not st.replay_pending:  # else once its Welcome is out (``_journal_read``)
                        self.released_events += st.release_events(self.events_kept)
            over.clear()

    def _mark_dirty(self, link: StrategyLink) -> None:
        """Have the next flush write ``link``'s bytes (or close it): the first such link in a field, then a list."""
        first = self._dirty_link
        if first is None:
            self._dirty_link = link
        elif link is not first and link not in self._dirty_links:
            self._dirty_links.append(link)

    def _journal_failed(self, exc: OSError) -> None:
        """Report a failed journal write (the flush stops: nothing else leaves)."""
        self.journal_failures += 1
        if not self.journal_error or self.journal_failures % 1000 == 0:
            log.critical(
                "JOURNAL WRITE FAILED (%s): nothing is sent to venues or strategies until the journal can be "
                "written again; the orders already taken wait and go out then, new ones are refused "
                "(JOURNAL_UNAVAILABLE) while it fails, and every answer, those refusals included, reaches its "
                "strategy only then (answers are journaled before they are sent); %d failures so far",
                exc,
                self.journal_failures,
            )
        if not self.journal_error:
            self._hold_venues(True)
        self.journal_error = f"{type(exc).__name__}: {exc}"

    def _journal_fault(self, exc: Exception) -> None:
        """A journal flush raised something other than OSError (a fault of the gateway's own, fault51).

        Failed closed as a failed write (``_journal_failed``: nothing leaves, new orders are refused
        ``JOURNAL_UNAVAILABLE`` until a flush succeeds); counted once per episode (``internal_errors``) and
        logged at CRITICAL with the traceback.
        """
        if not self.journal_error:
            self.transport_fault("the journal's flush (nothing is sent until it succeeds)", exc)
            self._hold_venues(True)
        self.journal_failures += 1
        self.journal_error = f"{type(exc).__name__}: {exc}"

    def _venue_flush_fault(self, venue: VenueAdapter, exc: Exception) -> None:
        """Writing venue ``venue``'s queued bytes raised (fault51): what reached the wire is unknown.

        Treated as a protocol fault of that session: counted and logged at CRITICAL (``transport_fault``), the
        accounts of this batch's new orders for it halted, and its connection dropped: the adapter logs in
        again and settles its unanswered requests as after any drop (docs/venues/*.md). Other venues and
        strategies go on.
        """
        name = getattr(venue, "name", "?")
        first = self._wire_first  # the batch's first order to send (perf51); the list holds the later ones
        batch = [first, *self._wire_pending] if first is not None else self._wire_pending
        orders = [order for order in batch if order.venue == name]
        self.transport_fault(f"writing to venue {name} (its connection is dropped: it logs in again)", exc, orders)
        try:
            close = venue._close
            if close is not None:
                close()
        except Exception:
            log.exception("venue %s: dropping the connection after the fault failed", name)

    def _link_write_fault(self, link: StrategyLink, exc: Exception) -> None:
        """Writing one strategy connection's bytes raised (fault51): that connection is dropped, no other.

        Its events are journaled: after reconnecting the strategy gets every one it missed (its replay), and its
        disconnect policy applies meanwhile. Counted and logged at CRITICAL (``transport_fault``).
        """
        st = link.strategy
        who = st.strategy_id if st is not None else "(before its Hello)"
        self.transport_fault(f"writing to strategy {who}'s connection (it is dropped; its replay has the rest)", exc)
        try:
            link.close_transport()
        except Exception:
            log.exception("strategy %s: dropping the connection after the fault failed", who)

    def _journal_back(self) -> None:
        """Note that the journal is writable again."""
        log.warning("journal writable again after %d failed writes (%s)", self.journal_failures, self.journal_error)
        self.journal_error = ""
        self._hold_venues(False)

    def _hold_venues(self, held: bool) -> None:
        """Tell every venue the engine starts (True) or stops (False) holding its bytes (held54).

        Only when that changes (the journal's first failed flush, its first good one): the adapters' answer and
        probe timers wait while requests cannot leave (``VenueAdapter.hold_output``). One venue's fault is its own.
        """
        for venue in self._venue_list:
            try:
                venue.hold_output(held)
            except Exception as exc:
                self.transport_fault(f"telling venue {getattr(venue, 'name', '?')} its bytes are held", exc)

    def flush(self) -> None:
        """Write the batch: journal first, then venues, then strategies.

        If the journal cannot be written, nothing else is written either: venue and strategy
        bytes stay queued until a later flush gets the journal onto disk first.
        """
        first = self._wire_first
        if first is not None:
            clock = self.clock
            # the batch's last order's encoding mark starts the flush: journal_write is its journal record (appended
            # right after it) and the batch's copy into the mapping, no clock read of its own (0: a failed flush, or
            # a request carried out after that order: then the flush reads the clock, as the stage's name says)
            t_start = self._encoded_ns
            if not t_start:
                t_start = clock()
            self._encoded_ns = 0
            journal = self.journal
            try:  # the journal batch first; on failure nothing else leaves (fail closed)
                if type(journal) is _MmapJournal:  # compiled: a native call (tests may set any Journal)
                    journal.flush()
                else:
                    journal.flush()
            except OSError as exc:
                self._journal_failed(exc)
                return
            except Exception as exc:  # a fault of the gateway's own: failed closed as a failed write
                self._journal_fault(exc)
                return
            if self.journal_error:
                self._journal_back()
            t_journal = clock()
            for venue in self._venue_list:
                try:  # free until raised (3.11, mypyc): one venue's fault is its own (``_venue_flush_fault``)
                    if type(venue) is _OuchVenue:  # compiled: a native call; none when it has nothing to do (inline)
                        if venue._session.out or venue._close_pending:  # its send time: the mark just read
                            venue.flush(t_journal if venue._clock is clock else 0)
                    else:
                        venue.flush()
                except Exception as exc:
                    self._venue_flush_fault(venue, exc)
            t_wire = clock()
            first.t_wire = t_wire
            self._wire_first = None
            wire_pending = self._wire_pending
            if wire_pending:  # the batch's later orders
                for order in wire_pending:
                    order.t_wire = t_wire
                wire_pending.clear()
        else:
            t_wire = t_start = t_journal = 0
            journal = self.journal
            try:  # the journal batch first; on failure nothing else leaves (fail closed)
                if type(journal) is _MmapJournal:  # compiled: a native call (tests may set any Journal)
                    journal.flush()
                else:
                    journal.flush()
            except OSError as exc:
                self._journal_failed(exc)
                return
            except Exception as exc:  # a fault of the gateway's own: failed closed as a failed write
                self._journal_fault(exc)
                return
            if self.journal_error:
                self._journal_back()
            for venue in self._venue_list:
                try:  # as above
                    if type(venue) is _OuchVenue:  # as above: an acknowledgement's flush has no venue bytes
                        if venue._session.out or venue._close_pending:
                            venue.flush()
                    else:
                        venue.flush()
                except Exception as exc:
                    self._venue_flush_fault(venue, exc)
        self._decoded_ns = 0
        first_link = self._dirty_link
        if first_link is not None:
            now = 0  # read when the first link has bytes to write (a read's own link often has none)
            # the links in the order they were marked; nothing here marks one (a write or a close calls back into the
            # engine on a later loop turn, never from inside this flush: server.StrategyProtocol)
            more = self._dirty_links
            for link in (first_link, *more) if more else (first_link,):
                session = link.session
                writer = session._writer  # session.take_output(now), inline
                data = writer.buffer
                try:  # free until raised (3.11, mypyc): one connection's fault is its own (``_link_write_fault``)
                    if data:
                        if not now:
                            now = self.clock()
                        session.last_sent_ns = now
                        writer.buffer = bytearray()  # the bytes taken are never written into again
                        link.write_out(data)
                    if session.state is StrategySessionState.CLOSED:  # the link's session, read once above
                        link.close_transport()
                except Exception as exc:
                    self._link_write_fault(link, exc)
            self._dirty_link = None
            if more:
                more.clear()
            if self._venue_event_ns:
                if not now:
                    now = self.clock()
                self.latency.delivered(now, self.clock(), self._venue_event_ns, self._venue_events_pending)
        self._venue_event_ns = 0
        self._venue_events_pending = 0
        if self._release_due or self._events_over:
            self._release()
        if t_wire:  # the batch's orders (and its journal and venue writes) are counted once every byte is out
            self.latency.orders.wire(t_wire, t_start, t_journal)

    def poll(self, now_ns: int) -> None:
        """Run strategy heartbeats and timeouts (also of a replay the strategy does not read), journal and answer
        what a fault kept from a held Cancel (``_settle_owed``); flush what they made."""
        for link, stream in list(self._replays.items()):
            if stream.blocked_since and now_ns - stream.blocked_since > REPLAY_STALL_NS:
                log.warning("strategy %s: disconnected as a slow consumer of its replay", stream.st.strategy_id)
                link.session.close(
                    "SLOW_CONSUMER",
                    f"nothing of the replay was read for {REPLAY_STALL_NS // 1_000_000_000} s; reconnect with "
                    "last_seq to receive every event after the last one you processed",
                )
                self._mark_dirty(link)
        for link in list(self._links):
            if link.session.pending_close is not None and (link in self._kept_reads or self._walking(link)):
                continue  # its fatal Error waits for the rest of its read, cut behind a walked MassCancel (mass59)
            link.session.poll(now_ns)
            if link.session.has_output or link.session.state is StrategySessionState.CLOSED:
                self._mark_dirty(link)
        if self._owed or self._owed_records:
            self._settle_owed()
        self.flush()

    # ======================================================================================
    # Recovery
    # ======================================================================================

    def adopt(self, recovered: Recovered) -> int:
        """Take over what recovery rebuilt, then complete what the crash cut short; return how many.

        Call once, on a fresh engine, before any venue connects or strategy is accepted, with
        the journal already open for appending. Risk is told the exposure in journal order,
        each venue adapter the references its open orders are known by, the exactly-once
        component where each venue resumes. Orders created but neither sent nor answered never
        reached a venue: they are rejected (``NOT_SENT``). Events produced by journaled venue
        events whose own records were cut off are delivered now, with the next sequence
        numbers. Both are journaled like any event.
        """
        self.orders = recovered.orders
        self.open_orders = recovered.open_orders
        self.strategies = recovered.strategies
        for st in self.strategies.values():  # recovery's own tables -> this engine's (one for the gateway)
            st.released = st.released.moved_to(self.released_ids)
        self.next_order_id = recovered.next_order_id
        self.order_marks = recovered.order_marks
        self.venue_sessions = recovered.venue_sessions
        self.ref_highs = recovered.ref_highs
        self.ref_lows = recovered.ref_lows
        self.killed_scopes = set(recovered.kills)
        self._kill_owed = set(recovered.kill_owed)
        self._kill_sent = set(recovered.kill_sent)
        self.orders_created = len(recovered.orders)
        self._terminal.extend(order for order in self.orders.values() if order.is_terminal)
        self._events_over = [st for st in self.strategies.values() if len(st.events) > self.events_kept]
        exposure = recovered.exposure
        done = 0
        for at, adjustment in recovered.adjustments:  # position corrections, in order with the fills
            self._adopt_exposure(exposure, done, at)
            done = at
            self._adopt_adjustment(adjustment)
        self._adopt_exposure(exposure, done, len(exposure))
        for name, point in recovered.resume.items():
            self.exactly_once.venue(name).adopt(point)
        for order in self.open_orders.values():
            venue = self.venues.get(order.venue)
            if venue is None or not order.venue_ref:
                continue
            venue.restore(order, order.venue_ref)  # the reference the venue knows the order by now
            if order.pending_ref and order.state in _REPLACING:
                venue.restore(order, order.pending_ref)  # then the replace still in flight
        # what the journal held for each strategy, before any event numbered at this start (a first Hello above it)
        self._start_highs = {strategy_id: st.next_seq - 1 for strategy_id, st in self.strategies.items()}
        text = "the gateway stopped before sending this order to the venue"
        for order in recovered.never_sent:
            st = self.strategies[order.strategy_id]
            if can(order, OrderInput.REFUSE):
                self._refuse(st, order, GATEWAY, "NOT_SENT", text, created_journaled=True)
            else:  # refused, but the crash cut the answer off
                self._counters.rejected_gateway += 1
                self._emit(st, OrderRejected(st.next_seq, order.cl_ord_id, GATEWAY, "NOT_SENT", text))
        for strategy_id, event in recovered.cut_off:
            st = self.strategies[strategy_id]
            self._emit(st, msgspec.structs.replace(event, seq=st.next_seq))
        count = len(recovered.never_sent) + len(recovered.cut_off)
        if count:
            log.warning(
                "recovery: %d orders never sent were rejected (NOT_SENT) and %d events cut off the journal's "
                "tail were delivered",
                len(recovered.never_sent),
                len(recovered.cut_off),
            )
        self.flush()
        return count

    def _adopt_exposure(self, exposure: list[tuple[Order, int, int]], start: int, end: int) -> None:
        """Tell risk ``exposure[start:end]`` (recovery's, in journal order): orders sent, then each fill."""
        risk = self.risk
        native_risk = self._native_risk
        for index in range(start, end):
            order, qty, price = exposure[index]
            if qty and native_risk is not None:
                native_risk.on_replayed_execution(order, qty, price)  # no fill time in the journal: no last trade
            elif qty:
                risk.on_execution(order, qty, price)
            else:
                risk.on_order_opened(order)

    def _adopt_adjustment(self, rec: JPositionAdjusted) -> None:
        """Re-apply a journaled position correction (``gateway risk adjust-position``) to risk."""
        apply = getattr(self.risk, "apply_adjustment", None)
        if apply is None:  # a risk gate without corrections (tests' stand-ins)
            log.error("recovery: risk cannot apply the position correction %s: not applied", rec)
            return
        apply(rec.account, rec.symbol, rec.qty, rec.price, rec.notional, rec.who, rec.reason, restored=True)

    # ======================================================================================
    # Status
    # ======================================================================================

    def counter_values(self) -> dict[str, int]:
        """Return the counters by name, with the venue messages the exactly-once component found repeated."""
        values: dict[str, int] = msgspec.structs.asdict(self.counters)
        values["venue_events_duplicate"] = self.exactly_once.duplicates
        return values

    def status(self) -> dict[str, object]:
        """Return the status document's core sections (the latency histograms as a copy of their counts).

        Cost on the event loop: a few dicts per strategy and venue; the histogram counts are the live
        buffer (``StageLatencies.view``: the admin socket encodes the document before the loop runs
        again), not a copy; nothing here grows with the number of orders, nothing is sorted.
        """
        return {
            "gateway_id": self.gateway_id,
            "orders_total": self.orders_total,
            "orders_in_memory": len(self.orders),
            "orders_open": len(self.open_orders),
            "journal_error": self.journal_error or None,
            "counters": self.counter_values(),
            "rejects": reject_table(self.rejects),
            "cancel_rejects": reject_table(self.cancel_rejects),
            "strategies": {
                sid: {
                    "connected": st.link is not None,
                    "pid": st.link.peer.pid if st.link is not None and st.link.peer else None,
                    "next_seq": st.next_seq,
                    "last_req_seq": st.last_req_seq,
                    "orders": st.orders_count(),
                    "open_orders": len(st.open_orders),
                }
                for sid, st in self.strategies.items()
            },
            "venues": {name: venue.status() for name, venue in self.venues.items()},
            "latency": self.latency.view(),
        }

    @property
    def terminal_orders_kept(self) -> int:
        """Return how many terminal orders are kept in memory (the most recent)."""
        return self._terminal_orders_kept

    @terminal_orders_kept.setter
    def terminal_orders_kept(self, value: int) -> None:
        self._terminal_orders_kept = value
        self._terminal_over_at = value + RELEASE_BATCH

    @property
    def events_kept(self) -> int:
        """Return how many events are kept in memory per strategy (the most recent)."""
        return self._events_kept

    @events_kept.setter
    def events_kept(self, value: int) -> None:
        self._events_kept = value
        self._events_over_at = value + RELEASE_BATCH + 1
        """``next_seq - events_base`` when ``len(events)`` reaches ``events_kept + RELEASE_BATCH`` (no call)."""

    @property
    def orders_total(self) -> int:
        """Return how many orders were created today (in memory or released)."""
        return self.orders_created

    def strategies_connected(self) -> int:
        """Return how many strategies have a session now."""
        return sum(1 for st in self.strategies.values() if st.link is not None)


_ORDER_ID: Final = attrgetter("order_id")
"""An order's ``order_id`` as a sort key called in C (a Python function's call per order took 15 ms of 36,000)."""


def _request_words(req: object) -> str:
    """Name a request for a log line or an Error text: ``NewOrder cl_ord_id 'A1' req_seq 7``."""
    if req is None:
        return "read"
    words = type(req).__name__
    ident = getattr(req, "cl_ord_id", None) or getattr(req, "request_id", None) or getattr(req, "strategy_id", "")
    if ident:
        words += f" {ident!r}"
    req_seq = getattr(req, "req_seq", 0)
    if req_seq:
        words += f" req_seq {req_seq}"
    return words


def reject_table(counts: dict[tuple[RejectSource, str], int]) -> list[tuple[str, str, int]]:
    """Return reject counts as (source, code, count) rows (as many rows as distinct codes seen)."""
    return [(source.value, code, count) for (source, code), count in counts.items()]


class _MassWalk:
    """A MassCancel walked a ``MASS_CANCEL_WALK_SLICE`` per loop turn (mass58; the gateway's own: ``_CancelWalk``)."""

    __slots__ = ("answer", "link", "next", "orders", "req_seq", "st", "waiting", "why")

    def __init__(
        self,
        st: StrategyState,
        link: StrategyLink,
        answer: MassCancelAck,
        req_seq: int,
        why: str,
        orders: list[Order],
    ) -> None:
        self.st = st
        self.link = link
        """The connection that sent it: its answer goes there only."""
        self.answer = answer
        """Its ``MassCancelAck``, counted when it was read: sent and journaled after the last slice."""
        self.req_seq = req_seq
        self.why = why
        self.orders = orders
        """The orders it matched when it was read, to act on (an order opened since is not its)."""
        self.next = 0
        """The index of the next order to act on."""
        self.waiting: list[StrategyLink] = []
        """Connections of the strategy whose kept read waits for the end (taken again then)."""


class _CancelWalk:
    """The gateway's own Cancels of many orders walked a ``MASS_CANCEL_WALK_SLICE`` per loop turn: a kill switch's
    (walk59) or a disconnect policy's (mass58)."""

    __slots__ = ("next", "orders", "strategy_id", "why")

    def __init__(self, orders: list[Order], why: str, strategy_id: str) -> None:
        self.orders = orders
        """The orders to cancel, those open when it began (an order opened since is not its)."""
        self.why = why
        self.strategy_id = strategy_id
        """The strategy whose disconnect policy it carries out ("" for the kill switch's)."""
        self.next = 0
        """The index of the next order to cancel."""


class _KeptRead:
    """A long strategy read taken a ``READ_TURN_BYTES`` part per loop turn: its bytes and how far it got."""

    __slots__ = ("backpressured", "requests", "start", "t_in", "view")

    def __init__(self, view: memoryview, start: int, t_in: int, backpressured: list[bool]) -> None:
        self.requests: list[StrategyRequest] | None = None
        """Requests decoded from the read that a cut left (``Engine._cut_turn``): carried out before ``view``'s rest."""
        self.view = view
        self.start = start
        """Where the next turn starts (a multiple of ``BATCH_BYTES``)."""
        self.t_in = t_in
        """The ingress time of the slices of this turn."""
        self.backpressured = backpressured
        """Each venue's back-pressure answer when the read began (``Engine._venue_list`` order)."""


class _ReplayStream:
    """A replay being written to a strategy: the events read from the journal, then from memory."""

    __slots__ = (
        "blocked_since",
        "hello",
        "last_sent",
        "next_older",
        "next_seq",
        "older",
        "read",
        "reading",
        "replayed",
        "scheduled",
        "st",
        "venue_states",
        "welcome_next_seq",
    )

    def __init__(
        self, st: StrategyState, hello: Hello, older: list[OrderEvent], next_seq: int, replayed: int, welcome_next: int
    ) -> None:
        self.st = st
        self.hello = hello
        older.reverse()  # sent from the end: a sent slice is freed with it, not all at once at the end
        self.older = older
        """The events read from the journal not yet sent, newest first."""
        self.next_older = 0
        """How many of them were sent."""
        self.next_seq = next_seq
        """The seq of the next event to take from memory (``st.events``)."""
        self.replayed = replayed
        self.welcome_next_seq = welcome_next
        """The Welcome's ``next_seq``: the events from it on are new, sent after the venue states."""
        self.venue_states: list[str] | None = None
        """The venue states sent once the replay was out (None: not yet)."""
        self.blocked_since = 0
        """When the strategy's unread bytes first kept the next slice back (0: not waiting)."""
        self.read: JournalRead | None = None
        """The second pass of a long replay from the journal, until its last chunk is here (None: none, or done)."""
        self.reading = False
        """Whether ``read`` is being stepped (False: parked with a chunk handed over, waiting for ``resume``)."""
        self.scheduled = False
        """Whether a ``_pump`` is scheduled (one at a time)."""
        self.last_sent = max(hello.last_seq, 0)
        """The seq of the last event from the journal written."""
