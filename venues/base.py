"""The contract between the gateway core and every venue adapter.

An adapter turns gateway commands (``send_new``/``send_cancel``/``send_replace``)
into venue protocol bytes and the venue's replies into the normalised
``VenueEvent`` structs of ``model.venue_events``, which it hands to the core through ``sink``.
Adapters buffer outgoing bytes; the core calls ``flush`` once per batch so the
journal is written before anything reaches the wire.

``send_new`` / ``send_cancel`` / ``send_replace`` return a ``model.send_result``: ``Sent``
with the venue reference used (OUCH UserRefNum, FIX ClOrdID), which the core journals
before the bytes are flushed and hands back through ``restore`` after a restart;
``Refused`` (nothing went out, nothing changed); or ``BACKPRESSURED`` (the venue is not
reading; nothing queued). Adapters never call the event sink from inside ``send_*``.
``check_order`` / ``check_replace`` give the same answers without sending, for the core
to ask before risk commits its counters.

Every event carries ``venue_seq``: the venue's own sequence number for the message
that produced it (SoupBinTCP sequence, FIX MsgSeqNum), or 0 for events the adapter
synthesises; one message yields at most one event. The core journals it, which is how
recovery knows where to resume. Whether a message is new is decided by the core's
exactly-once component (``model.exactly_once``), which the core binds to the adapter
(``bind_sequence``): the adapter asks ``admit(seq)`` before acting on a message and names a
new numbering epoch (``sequence.new_epoch``) whenever the venue's numbering restarts.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable
from typing import Final, Generic, TypeVar

import msgspec

from model.exactly_once import ResumePoint, UnansweredRequest, VenueSequence
from model.order import Order
from model.send_result import BACKPRESSURED, Refused, SendResult, Sent, Verdict
from model.venue_events import EventSink, StateSink, VenueState

LOOKUP_NEVER_CREATED: Final = 0
"""``VenueAdapter.order_lookup``: the journal never created that order id (a power failure cut it from the tail)."""
LOOKUP_UNREADABLE: Final = -1
"""``VenueAdapter.order_lookup``: the journal could not be read back (a passing failure: ask again later)."""
LOOKUP_OTHER_VENUE: Final = -2
"""``VenueAdapter.order_lookup``: the order id is another venue's order."""

SESSION_COUNTERS = (
    "sequence_gaps",
    "refetch_given_up",
    "protocol_errors",
    "decode_errors",
    "unsequenced_ignored",
    "debug_packets",
    "gaps_forgotten",
    "late_admitted",
    "repeated_reports",
    "login_timeouts",
    "user_ref_num_store_failures",
    "answer_timeouts",
    "outcome_unknown",
    "cancels_unanswered",
    "earlier_traffic",
    "executions_held",
    "executions_held_over_cap",
    "venue_logons_too_low",
)
"""Venue session counters ``gateway metrics`` exports per venue (``gateway.exporter.VENUE_SESSION_COUNTERS``): messages
lost (replay gaps, packets given up, gaps forgotten), broken or unreadable input, packets read but not applied,
messages applied out of order or reported again after a restart, logins the venue never answered, and (OUCH) failed
writes of the UserRefNum store (orders refused ``OUCH_REFNUM_STORE`` meanwhile), Enters and Replaces unanswered past
``answer_timeout_ms``, orders ended outcome unknown (``OUCH_OUTCOME_UNKNOWN``) after that, Cancels unanswered that long
(logged once each; the order kept open), and messages of the day's
earlier traffic (another host's, seen by a gateway with no record of the day: not applied), and (BOE) executions held
because the journal could not be read back for their orders, and those not held past the cap (not applied), and (FIX)
the venue's Logons refused as numbered below the MsgSeqNum expected from it (fixlogon56)."""
SESSION_GAUGES = ("executions_held_now", "cancels_unanswered_now")
"""Venue session gauges ``gateway metrics`` exports per venue (``gateway.exporter.VENUE_SESSION_GAUGES``): (BOE) the
executions held now, waiting for the journal to read back; (OUCH) the Cancels logged unanswered that still wait."""

RefT = TypeVar("RefT")
"""How a venue names an order: OUCH UserRefNum (int), FIX ClOrdID (bytes)."""


def encode_failed(logger: logging.Logger, venue: str, what: str, order_id: int, ref: str, exc: BaseException) -> str:
    """Log a request whose encoding raised (ERROR, with its traceback); return the text of its refusal.

    The adapters' safety net for a fault of the gateway's own (net49): the request named (``what``: new order,
    replace, cancel; ``ref``: how the venue would have known it) is refused with the adapter's
    ``<PROTOCOL>_INTERNAL_ERROR`` (source GATEWAY) instead of the exception reaching the strategy's connection.
    What is shared is this line and the text; each adapter undoes its own state first, because what it holds for
    a request differs (OUCH: the chain, its UserRefNum and the kept packet; FIX: the tracked ClOrdID, the MsgSeqNum
    not taken until the message is stored; BOE: the ClOrdIDs, the SequenceNumber taken and the packet begun), and
    counts it (``internal_errors``).
    """
    logger.error(
        "venue %s: %s of order %d (%s) not sent: encoding it failed: %r",
        venue,
        what,
        order_id,
        ref,
        exc,
        exc_info=exc,
    )
    return f"{what} not sent: the gateway failed to encode it ({type(exc).__name__}: {exc})"


class VenueOrder(msgspec.Struct, Generic[RefT], gc=False):
    """One gateway order at a venue, as its adapter tracks it: the reference the venue knows it by now,
    and the reference of the request in flight (the adapter's "none" value when there is none).

    Each adapter extends it (OUCH ``_Chain``, FIX ``_Tracked``). Exempt from the garbage collector
    (an ``Order`` and scalars: no cycles), so open orders never make young collections longer.
    """

    order: Order
    working: RefT
    """The reference the venue currently knows the order by (its new order, or the last replace it took)."""
    pending: RefT
    """The reference of the cancel/replace in flight (the adapter's empty value: none)."""


class VenueAdapter(abc.ABC):
    """One venue session as the core sees it."""

    name: str
    event_sink: EventSink
    state_sink: StateSink
    ids_bounded: bool = False
    """True: every venue id this adapter puts in an event (``VenueExecuted.exec_id``, ``venue_order_id``) has at most
    ``model.venue_events.EVENT_MAX_ID`` characters by its protocol's own types (OUCH and BOE: numbers below 2^64),
    so the engine does not measure them on the acknowledgement and fill path. False (the default, FIX): the engine
    bounds a longer one before it is journaled (``model.venue_events.bounded_ids``, texts56)."""
    unknown_order_sink: Callable[[], None] | None = None
    """Called once per venue message about an order the adapter cannot map to any gateway order (its rare
    branch); the engine counts it as ``venue_events_unknown_order`` (None: not attached to an engine)."""
    order_of_ref: Callable[[str, int, str], int] | None = None
    """(venue name, numeric reference, venue session) -> the id of the order the venue was sent under that
    reference in that session, from the journal (0: none; -1: the journal could not be read; None: not attached to
    an engine). For an adapter whose references do not name the order (OUCH) and that no longer maps one a fill
    names (its rare branch)."""
    ref_outside_journal: Callable[[str, int, str], int] | None = None
    """(venue name, numeric reference, venue session) -> non-zero if the journal holds nothing under that reference
    in that session, known without reading it: 1 above the highest number the session has in the journal, nothing
    journaled since that was noted (``Engine.ref_highs``); -1 below its lowest (``Engine.ref_lows``); 0: it may
    (a search says). None: not attached to an engine."""
    order_source: Callable[[int, str], Order | None] | None = None
    """``(order_id, exec_id)`` -> the engine's order of that id on this venue (from memory, or read back from the
    journal if memory released it), None if it has none: an adapter checks a fill for an order it no longer
    tracks against it (the engine then finds it in memory). None: not attached to an engine."""
    order_lookup: Callable[[int, str], Order | int] | None = None
    """``(order_id, exec_id)`` -> what ``order_source`` answers, saying why there is no order: ``LOOKUP_NEVER_CREATED``
    (the journal never created that order id: a definite answer), ``LOOKUP_OTHER_VENUE`` (another venue's order) or
    ``LOOKUP_UNREADABLE`` (the journal could not be read back for an order released from memory: a passing failure,
    no answer; ask again). For an adapter whose references name the order id and that keeps the definite answers
    (BOE). None: not attached to an engine."""
    order_ids_above: Callable[[Iterable[int]], int] | None = None
    """``(ids)`` -> the highest of ``ids`` the engine's new order ids now start above (0: none): gateway order ids
    another host used today at this venue (their ClOrdIDs in a standby takeover's replay), so none is used again.
    Ids no other venue could carry are left out: the engine's ids cannot reach them without running out of that
    venue's room anyway (``max_order_id``). None: not attached to an engine."""
    order_ids_issued: Callable[[], int] | None = None
    """``()`` -> the highest gateway order id the engine has issued (or skipped past: a restart's floor, an earlier
    ``order_ids_above``), 0: none yet. An adapter that must start new ids a margin above every ClOrdID this host used
    (OUCH: a replay gap that may hide another host's, which that host numbered above this host's last) reads it
    there, never per order. None: not attached to an engine."""
    poll_soon: Callable[[], None] | None = None
    """Set by the transport (``VenueConnector.poll_soon``): run ``poll`` at the event loop's next turn instead of when
    its timer is due. For an adapter whose work is cut into slices, one per turn (FIX: the rest of an answer to a
    ResendRequest, fixresend58); ``poll`` answering 0 keeps it going. None: no transport (sans-IO tests)."""
    _write: Callable[[bytes | bytearray], None] | None = None
    _close: Callable[[], None] | None = None
    _transport_paused = False
    _backpressured = False
    """What ``check_*`` / ``send_*`` answer about back-pressure (see ``hold_backpressure``)."""
    _backpressure_held = False
    _output_held = False
    """The engine holds every byte this adapter queues (its journal cannot be written): ``hold_output``."""

    @property
    @abc.abstractmethod
    def state(self) -> VenueState:
        """Return the current session state."""

    @abc.abstractmethod
    def check_order(self, order: Order) -> Verdict:
        """Return why ``send_new(order)`` would not send now (Refused, BACKPRESSURED), or None."""

    def check_replace(self, order: Order, qty: int, price: int) -> Verdict:
        """Return why ``send_replace(order, qty, price)`` would not send now, or None."""
        del order, qty, price
        return BACKPRESSURED if self._backpressured else None

    @abc.abstractmethod
    def send_new(self, order: Order) -> SendResult:
        """Queue a new order for the wire (only when ``state`` is UP)."""

    @abc.abstractmethod
    def send_cancel(self, order: Order) -> Sent | Refused:
        """Queue a cancel of everything still open on ``order`` (never back-pressured: cancels reduce risk)."""

    @abc.abstractmethod
    def send_replace(self, order: Order, qty: int, price: int) -> SendResult:
        """Queue a replace of ``order`` to total ``qty`` at ``price`` under a new venue reference."""

    # ---- back-pressure, told by the transport -------------------------------------------

    def set_write_paused(self, paused: bool) -> None:
        """The socket's send buffer went above (True) or back below (False) its high-water mark."""
        self._transport_paused = paused
        if not self._backpressure_held:
            self._backpressured = paused

    def hold_backpressure(self, hold: bool, backpressured: bool | None = None) -> None:
        """Keep answering back-pressure as now (or as ``backpressured``) until released (a long read is one batch).

        The core holds it while it takes one long strategy read in slices: a socket that backs up
        while that read's own slices are written does not refuse the rest of the read. The rest of
        a read taken on a later loop turn is held at the answer the read began with (``backpressured``).
        """
        self._backpressure_held = hold
        if not hold:
            self._backpressured = self._transport_paused
        elif backpressured is not None:
            self._backpressured = backpressured

    @property
    def backpressured(self) -> bool:
        """Return what ``check_*`` / ``send_*`` answer about back-pressure now (True: refused)."""
        return self._backpressured

    @property
    def write_paused(self) -> bool:
        """Return True while the venue socket's send buffer is above its high-water mark."""
        return self._transport_paused

    # ---- output held by the core (the journal failing) -----------------------------------

    def hold_output(self, held: bool) -> None:
        """The core starts (True) or stops (False) holding every byte the adapter queues (held54).

        While the journal cannot be written the core writes nothing to any venue (``Engine.flush``: journal before
        wire); the queued bytes leave at the first flush that writes the journal, right after ``hold_output(False)``.
        Called only when that changes (``Engine._journal_failed`` / ``_journal_back``), never per flush. A request
        queued meanwhile has not left: no answer or probe timer may take its silence for the venue's. Each adapter
        pauses its answer and probe timers while held and, after, times what was sent (or asked again) during the
        hold from the release: OUCH the answer-timeout sweep and the Account Query, BOE the probes' deadline, FIX
        the ResendRequest retries and the order-status questions. The default notes the state. Bytes the venue's
        own socket holds (``set_write_paused``) are not this: they were written, and leave as the venue reads.
        """
        self._output_held = held

    @property
    def output_held(self) -> bool:
        """Return True while the core holds the venue's bytes (``hold_output``)."""
        return self._output_held

    @abc.abstractmethod
    def restore(self, order: Order, venue_ref: str) -> None:
        """Re-learn, during recovery, that ``venue_ref`` (from send_new/send_replace) names ``order``."""

    def withdraw_new(self, order: Order) -> bool:
        """Take back the new order ``send_new`` just queued for ``order``; True if nothing of it will reach the venue.

        Called by the core right after ``send_new`` when it could not journal the order (a fault of the gateway's
        own, docs/reliability.md 2.8): journal before wire, so the queued message must not leave. An adapter
        that can take it back (its bytes still at the end of the send buffer, its reference not yet used on the
        wire) undoes what it noted for the order, as for an order whose encoding failed, and returns True; the
        default returns False (the message stays queued: the core then keeps the order as sent, tracked in
        memory only, and the fault is reported as an order the journal does not hold).
        """
        return False

    def withdraw_cancel(self, order: Order) -> bool:
        """Take back the Cancel ``send_cancel`` just queued for ``order``; True if nothing of it will reach the venue.

        As ``withdraw_new``, for a cancel whose journal record the core could not write (fault51): the adapter
        takes the queued message out of its send buffer and undoes what it noted for it (the order as before the
        cancel). The default returns False (the cancel goes out, tracked in memory only).
        """
        return False

    def withdraw_replace(self, order: Order) -> bool:
        """Take back the Replace ``send_replace`` just queued for ``order``; True if nothing of it will reach the venue.

        As ``withdraw_cancel``, for a replace (the order as before it; the reference it took may be skipped).
        """
        return False

    def forget(self, order: Order) -> None:  # noqa: B027 - optional hook
        """Drop what the adapter keeps about ``order``: it is terminal and leaves the gateway's memory.

        A venue message about it after this is one about an unknown order (counted, ignored), as it
        would be for an order of another day. Adapters that keep nothing per order need not override it.
        """

    # ---- byte transport, driven by venues.connector.VenueConnector ----------------------

    def attach(self, write: Callable[[bytes | bytearray], None], close: Callable[[], None]) -> None:
        """Bind the adapter to a connected transport (write and close functions)."""
        self._write = write
        self._close = close

    def detach(self) -> None:
        """Forget the transport after the connection is lost."""
        self._write = None
        self._close = None

    @abc.abstractmethod
    def connection_made(self, now_ns: int) -> None:
        """Start the session on a fresh connection (e.g. queue the logon) and flush it."""

    @abc.abstractmethod
    def data_received(self, data: bytes, now_ns: int) -> None:
        """Consume bytes from the venue; events go to ``event_sink``."""

    @abc.abstractmethod
    def connection_lost(self, now_ns: int) -> None:
        """Note that the connection is gone; orders in flight wait for replay after reconnect."""

    @abc.abstractmethod
    def poll(self, now_ns: int) -> int:
        """Run timers (heartbeats, timeouts); return ns until the next call is wanted."""

    def max_order_id(self) -> int | None:
        """Return the largest gateway order id this venue's order references can carry; None: no such limit."""
        return None

    def order_id_room_fix(self, next_order_id: int) -> str:
        """Return what an operator does when order ids from ``next_order_id`` exceed ``max_order_id``."""
        del next_order_id
        return "change its order-reference settings so that they fit, and restart"

    def before_connect(self) -> bool:
        """Return False if the session must not connect at all (the connector's loop then ends before connecting).

        Asked once each time the connector's loop starts. The default, True: connect. BOE answers False when Cboe
        ended the trading day before a restart (its end-of-day mark on file): the venue is ENDED from the start.
        """
        return True

    def reconnect(self) -> bool:
        """Leave LOGIN_REFUSED (an operator's ``gateway venue reconnect``): the next connection logs in again.

        Return False, changing nothing, in any other state. The default: the adapter never stops for refusals.
        """
        return False

    def set_sequence_numbers(self, next_sender: int, next_target: int, *, lower_target: bool = False) -> str:
        """Set the session's next outgoing / expected sequence numbers (``gateway venue set-seq``; 0 keeps one).

        Return why it is refused ("": done). ``lower_target``: the operator allows the expected number to go down
        (``--allow-lower-target``: the venue's numbering restarted). The default: the protocol has no such numbers.
        """
        del next_sender, next_target, lower_target
        return "this venue's protocol has no session sequence numbers to set (FIX venues only); nothing was changed"

    @abc.abstractmethod
    def reconnect_delay_ns(self, attempt: int) -> int | None:
        """Return how long to wait before reconnect attempt ``attempt`` (1-based); None = stop."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Write every queued byte to the venue socket (called after the core's journal write; emits no event)."""

    # ---- exactly-once, bound by the core -----------------------------------------------

    _sequence: VenueSequence | None = None

    @property
    def sequence(self) -> VenueSequence:
        """Return the exactly-once keeper of this venue's message numbers (a private one until bound)."""
        sequence = self._sequence
        if sequence is None:
            sequence = self._sequence = VenueSequence(self.name)
        return sequence

    def bind_sequence(self, sequence: VenueSequence) -> None:
        """Use the core's keeper of this venue's message numbers from now on."""
        self._sequence = sequence
        self.admit = sequence.admit  # type: ignore[method-assign]  # one call per message on the hot path

    def admit(self, seq: int) -> bool:
        """Return True if the venue message numbered ``seq`` is new; False if it was already acted on."""
        return self.sequence.admit(seq)

    def resume_after(self, point: ResumePoint) -> None:  # noqa: B027 - optional hook
        """Before connecting after a restart: continue the venue session after ``point`` (exclusive).

        ``point.high_water`` is the highest ``venue_seq`` the core journaled in numbering
        ``point.epoch`` ("" = not recorded: the venue's current numbering). The session asks
        for, or expects, ``point.high_water + 1``.
        """

    def after_replay(self, unanswered: list[UnansweredRequest]) -> None:  # noqa: B027 - optional hook
        """The session is up again (replay complete): decide what to do about requests still unanswered.

        Their outcome is unknown: the venue may or may not have them. The core calls this on
        every transition to UP with the requests of this venue's open orders that no venue event
        has answered, an empty list included (FIX asks about its acknowledged open orders after a
        numbering reset then). The default does nothing (the adapter's own re-send or the venue's resend
        already covers them).
        """

    @property
    def resumes_after_end(self) -> bool:
        """Return whether an ENDED session comes back UP by itself (FIX at its next schedule window).

        The default, False, means ENDED is the end of the day (OUCH End of Session, BOE Logout E): the core
        refuses cancels for such a venue (``VENUE_SESSION_ENDED``), held ones included, since nothing could
        ever carry them. A venue that resumes keeps them held and sends them when it is UP again, so a
        cancel-on-disconnect or ``cancel_all`` of an order that outlives the session (GTC) is not lost.
        """
        return False

    def after_session_end(self, unanswered: list[UnansweredRequest]) -> None:  # noqa: B027 - optional hook
        """The session ended (ENDED): answer the requests this session never will.

        ENDED lasts until the adapter reports UP again (OUCH and BOE never do; FIX does at its next
        schedule window: ``resumes_after_end``). The core calls this on each transition to ENDED, with the
        requests of this venue's open orders that no venue event has answered. The default does nothing (an
        adapter that answers them itself when its session ends, as OUCH does, needs no more).
        """

    def order_id_floor(self) -> int:
        """Return the highest gateway order id the adapter's own persistent state names (0: none).

        After a restart the core starts new order ids above it as well as above the journal's: a
        crash between the adapter's write and the journal's must not make an order id (and the
        venue reference built from it) be used twice.
        """
        return 0

    def journal_opened(self, journal: str, clean: bool, batch: bool, empty: bool) -> None:  # noqa: B027 - optional
        """The core opened ``journal`` at start-up, before ``order_id_floor`` and the first connection (day55).

        ``clean``: the last gateway on it stopped cleanly; ``batch``: ``fsync: batch``; ``empty``: it held no record
        (begun at this start). The default does nothing (BOE words its ERROR lines for an order the journal lacks by
        it, a power failure or another journal, and lowers its order id floor by the margin the core then adds).
        """

    def session_counters(self) -> dict[str, int]:
        """Return the session's counters of ``SESSION_COUNTERS`` (and gauges of ``SESSION_GAUGES``) this adapter keeps.

        ``gateway metrics`` exports them per venue.

        The default: those of them in the adapter's ``counters`` dict (if it has one); an adapter whose session
        keeps some elsewhere overrides it.
        """
        counters = getattr(self, "counters", None)
        if not isinstance(counters, dict):
            return {}
        return {name: counters[name] for name in (*SESSION_COUNTERS, *SESSION_GAUGES) if name in counters}

    def shutdown(self) -> bool:
        """The gateway is stopping: end the venue session gracefully; True if there is an answer to wait for.

        Called before the connector closes the connection (after the core's last flush). The
        default does nothing: the connection is simply closed.
        """
        return False

    def shutdown_answered(self) -> bool:
        """Return True once the session that ``shutdown`` ended is over (the gateway then closes the connection).

        The default: the adapter is no longer UP or logging in (the venue closed the connection after
        answering the logout). An adapter whose state leaves UP as soon as its logout is sent overrides it.
        """
        return self.state is not VenueState.UP and self.state is not VenueState.LOGGING_IN

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the adapter holds open (files, threads); called once its connector has stopped."""

    def status(self) -> dict[str, object]:
        """Return a JSON-able description for ``gateway status``."""
        return {"name": self.name, "state": str(self.state)}
