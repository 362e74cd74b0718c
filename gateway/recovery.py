"""Recovery: journal records in, a ``Recovered`` value out (no engine, nothing sent, nothing journaled).

``recover`` applies each record to the orders through the order table (``model.order``) and,
for venue events, through the same functions the engine uses (``gateway.venue_apply``), so a
recovered order is in exactly the state the live one was. What it builds is handed to
``Engine.adopt``, which takes it over, tells risk and the venue adapters, and completes what a
crash cut short.

A crash during the journal's write of a batch can leave any prefix of it on disk. Nothing of
the batch left the gateway, but its tail may be missing: an order created and not yet sent or
refused (``never_sent``), or a venue event whose strategy events were not written
(``cut_off``). A CRC-valid record that names an order the journal never created, or asks for a
transition the order's table forbids, cannot have been written by this gateway from the start
of the day: ``JournalCorruptError``.

A version-3 request's number (``req_seq``) is in the ``JRequest`` that wraps the record deciding
it, so a strategy's ``last_req_seq`` is exactly the last request whose decision is on disk: a
request cut off with its batch was never processed, and the strategy sends it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gateway.journal import (
    REPEATED_DROP_STATES,
    JCancelQueued,
    JCancelRefused,
    JOrderCreated,
    JOrderRefused,
    JOrderSent,
    JournalCorruptError,
    JournalRecord,
    JournalScan,
    JPositionAdjusted,
    JReplaceRejected,
    JRequest,
    JSentCancel,
    JSentNew,
    JSentReplace,
    JSeqAhead,
    JStrategyEvent,
    JTradingState,
    JVenueApplied,
    JVenueEpoch,
    JVenueEvent,
    follow_order_record,
)
from gateway.journal_read import MMAP_MAGIC
from gateway.protocol.messages import OrderEvent, OrderRejected
from gateway.ref_lookup import RefHigh, note_session, ref_number
from gateway.replay import MARK_MASK, JournalMarks, mark_position
from gateway.strategy_session import journaled_form
from gateway.strategy_state import StrategyState
from gateway.venue_apply import apply_venue_event
from model.exactly_once import ExactlyOnce, ResumePoint, ResumeTracker, UnansweredRequest
from model.fsync import FsyncPolicy
from model.order import (
    CANCEL_WANTED_STATES,
    HELD_CANCEL_STATES,
    IllegalTransition,
    Order,
    OrderInput,
    OrderState,
    mark_sent,
)
from model.venue_events import VenueExecuted
from venues.atomic_file import write_file_atomically

INTERNAL_ERROR_WHO: Final = "gateway (internal error)"
"""Who halted an account after a fault of the gateway's own (``GatewayProcess._halt_after_fault``): a halt that
cancels nothing, unlike a kill switch (``Recovered.kill_owed``)."""

RESUME_REFUSED: Final = "resume refused"
"""The reason of the HALTED record a resume whose ACTIVE record may be on disk journals after it (``app.resume``):
it re-states what was in force before that ACTIVE, a kill only if a kill was (``Recovered.kills``); it is no kill of
its own and owes no Cancel (walk59b)."""

ORDER_ID_MARGIN: Final = 1 << 22
"""How far past the journal's last order id new ids start after an unclean stop (``first_order_id``): 4,194,304,
more orders than the gateway can create in 38 s at its highest measured rate (110,000 a second on one core,
docs/performance.md), longer than the window a power failure can cut from the journal under ``fsync: interval``
(``fsync_interval_ms``) or ``none`` (the kernel's writeback delay, ~30 s)."""

_FILLED = OrderState.FILLED
_RELEASE = OrderInput.RELEASE_CANCEL
_DROP = OrderInput.DROP_HELD_CANCEL

log = logging.getLogger(__name__)


@dataclass
class Recovered:
    """Everything the journal says about the day so far, for ``Engine.adopt``."""

    orders: dict[int, Order] = field(default_factory=dict)
    """Every order of the day, by order id, in its table state."""
    open_orders: dict[int, Order] = field(default_factory=dict)
    """Orders sent to a venue and not yet terminal."""
    strategies: dict[str, StrategyState] = field(default_factory=dict)
    """Per strategy: its orders, open orders, event log, next ``seq``, last ``req_seq`` and MassCancel answers."""
    next_order_id: int = 1
    exposure: list[tuple[Order, int, int]] = field(default_factory=list)
    """Risk's inputs in journal order: (order, 0, 0) when it was sent, (order, qty, price) per fill."""
    resume: dict[str, ResumePoint] = field(default_factory=dict)
    """Per venue: its last journaled numbering epoch and the highest venue_seq journaled in it."""
    unanswered: dict[str, list[UnansweredRequest]] = field(default_factory=dict)
    """Per venue: requests sent that no journaled venue event answered (outcome unknown)."""
    trading_states: list[JTradingState] = field(default_factory=list)
    """Kill switch and resume commands, in order, for the process to re-apply to risk."""
    kill_owed: dict[int, Order] = field(default_factory=dict)
    """Orders a kill switch owes a Cancel the journal does not hold (walk59): open at a journaled HALTED record of
    a kill (not a halt of the gateway's own) of their scope, a Cancel wanted or not (their strategy's, walk59c, or a
    disconnect policy's or the stop's own, kill60) unless an earlier kill's own Cancel is still wanted
    (``kill_sent``), with no fresh Cancel of the gateway's own journaled for them after it (``JSentCancel.own``,
    ``JCancelQueued.own``; the release of one held before the kill is not the kill's).
    A kill's Cancels are walked over several loop turns (``Engine.cancel_all``); a crash in between leaves these:
    the start cancels the ones still open (``Engine.cancel_owed``; one whose Cancel is in flight or held is left
    to it, and gets the kill's Cancel if that one is refused). A resume after the kill does not take them back: the
    kill's answer promised them. The live engine keeps the same per order (``Engine._kill_owed``), so the two
    agree."""
    kill_sent: set[int] = field(default_factory=set)
    """Open orders whose held or in-flight Cancel is the one that paid a kill's debt (kill60; joined by a strategy's
    Cancel or not), as ``Engine._kill_sent``: a later kill owes them nothing more, its refusal brings no other."""
    kills: set[str] = field(default_factory=set)
    """The scopes a kill switch halted that no resume has lifted since, at the journal's end ("" firm-wide, else an
    account): a journaled HALTED record of a kill (not a halt of the gateway's own after an internal error, nor the
    re-statement of a refused resume, ``RESUME_REFUSED``, unless it re-states a kill) until an ACTIVE record of the
    same scope (walk59b, ``Engine.killed_scopes``)."""
    adjustments: list[tuple[int, JPositionAdjusted]] = field(default_factory=list)
    """Position corrections, in order, each with how many ``exposure`` entries come before it."""
    never_sent: list[Order] = field(default_factory=list)
    """Orders neither sent to a venue nor answered to their strategy (the crash cut their batch)."""
    cut_off: list[tuple[str, OrderEvent]] = field(default_factory=list)
    """(strategy id, event) that a journaled venue event produced but whose own records were cut off."""
    unknown_venue_events: int = 0
    """Journaled venue events for an order of another venue (counted, not applied)."""
    repeated_drops: dict[int, int] = field(default_factory=dict)
    """Order id -> the ``JCancelRefused`` records that repeat its held Cancel's drop (read as one, nothing more):
    written at each poll by versions before ended60, after a kill's Cancel held behind a Replace at a venue whose
    session had ENDED (``gateway.journal.REPEATED_DROP_STATES``)."""
    order_marks: JournalMarks = field(default_factory=JournalMarks)
    """Every ``MARK_EVERY``-th order id: a journal position at or before its creation (``gateway.replay``)."""
    position: int = 0
    """While recovering: the file offset of the record being applied (known when ``recover`` got the scan)."""
    venue_sessions: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Venue -> its latest session id (an epoch's part before ``#``) and where its first epoch record begins (0
    when the positions are not known): the venue's references are that session's from there (``gateway.ref_lookup``)."""
    ref_highs: dict[str, RefHigh] = field(default_factory=dict)
    """Venue -> the highest numeric reference journaled in its latest session, up to the journal's end (only when
    the positions are known): a number above it is not searched for in what recovery read (``gateway.ref_lookup``)."""
    ref_lows: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Venue -> (where its latest session began, the lowest numeric reference journaled in it), only when the
    positions are known: a lower number was never sent in the session and is not searched for (``Engine.ref_lows``)."""


def recover(records: Iterable[JournalRecord], scan: JournalScan | None = None) -> Recovered:
    """Rebuild the day from ``records``; raise JournalCorruptError if they cannot be this gateway's.

    With the ``scan`` that ``records`` fills (``Journal.records(scan)``), the replay index is rebuilt
    too (``gateway.replay``: where each record began); without it the index stays empty and a far-back
    replay reads the journal from its start.
    """
    try:
        return _recover(records, scan)
    except KeyError as exc:  # CRC-valid but not this day's journal from its start (e.g. its head was cut)
        raise JournalCorruptError(
            f"a journal record refers to order {exc.args[0]}, which the journal never created"
        ) from exc
    except IllegalTransition as exc:  # CRC-valid but not what this gateway could have written
        raise JournalCorruptError(f"a journal record is impossible where it stands: {exc}") from exc


def _strategy(out: Recovered, strategy_id: str) -> StrategyState:
    st = out.strategies.get(strategy_id)
    if st is None:
        st = out.strategies[strategy_id] = StrategyState(strategy_id)
    return st


def _positioned(records: Iterable[JournalRecord], out: Recovered, scan: JournalScan) -> Iterator[JournalRecord]:
    """Yield ``records``, noting in ``out.position`` where each began (``scan`` says where the last one ended)."""
    it = iter(records)
    while True:
        out.position = scan.good_bytes
        try:
            rec = next(it)
        except StopIteration:
            return
        yield rec


def _mark(out: Recovered, st: StrategyState, before: int) -> None:
    """Note a replay index entry if the record just applied gave ``st`` an event whose seq is a multiple of 1,024."""
    seq = st.next_seq - 1
    if (seq & ~MARK_MASK) > (before - 1) and seq >= 1:
        key = seq & ~MARK_MASK
        oldest = next(iter(st.open_orders), -1)
        st.marks.add(key, mark_position(out.position, oldest, out.order_marks))


def _unwrap(records: Iterable[JournalRecord], out: Recovered, indexed: bool) -> Iterator[JournalRecord]:
    """Yield ``records`` with each ``JRequest`` replaced by the record it carries, noting its ``req_seq``.

    ``indexed``: ``out.position`` says where each record began, so memory keeps the last MassCancel answers and
    unreadable numbers and the positions of the others (read back one record each); without it, all of them.
    """
    for rec in records:
        if type(rec) is JRequest:
            st = _strategy(out, rec.strategy_id)
            st.last_req_seq = max(st.last_req_seq, rec.req_seq)
            if rec.answer is not None:  # the last ones kept, the older read back from the journal if asked for
                st.note_answer(rec.req_seq, rec.answer, out.position, indexed)
            if rec.record is not None:
                yield rec.record
            elif rec.answer is None:  # the number alone: a request whose id could not be read (or a fault's)
                st.note_unreadable(rec.req_seq, out.position, indexed)
        else:
            yield rec


def _note_ref(highs: dict[str, int], lows: dict[str, int], venue: str, venue_ref: str) -> None:
    """Note a numeric reference sent to ``venue``: its session's highest and lowest so far (``Recovered.ref_highs``,
    ``Recovered.ref_lows``; a reference that is not a number is neither)."""
    number = ref_number(venue_ref)
    if number > (high := highs.get(venue, -1)):
        highs[venue] = number
        if high < 0:
            lows[venue] = number
    elif 0 <= number < lows[venue]:
        lows[venue] = number


def _recover(records: Iterable[JournalRecord], scan: JournalScan | None) -> Recovered:
    out = Recovered()
    indexed = scan is not None
    if scan is not None:
        records = _positioned(records, out, scan)
    orders = out.orders
    open_orders = out.open_orders
    resume = ResumeTracker()
    unanswered: dict[int, Order] = {}
    produced: list[OrderEvent] = []
    expected: list[tuple[StrategyState, OrderEvent]] = []
    """The strategy events the last venue event produced that no JStrategyEvent has confirmed yet."""
    highs: dict[str, int] = {}
    """Venue -> the highest numeric reference sent since its latest session began (``Recovered.ref_highs``)."""
    owed = out.kill_owed
    sent = out.kill_sent
    kills = out.kills
    dropped: set[int] = set()
    """Orders whose last Cancel record is a ``JCancelRefused``: another one right after it repeats it (ended60)."""
    repeats = out.repeated_drops
    resumed: dict[str, bool] = {}
    """Scope -> whether a kill was in force before its last trading-state record, an ACTIVE (``RESUME_REFUSED``)."""
    lows: dict[str, int] = {}
    """Venue -> the lowest (``Recovered.ref_lows``): the first one, as the numbers increase (a lower one later
    counts too; it costs a comparison only where a number is not a new highest, which is rare)."""
    for rec in _unwrap(records, out, indexed):
        kind = type(rec)
        if kind is JVenueApplied or kind is JVenueEvent:
            assert isinstance(rec, JVenueEvent)
            event = rec.event
            expected.clear()
            resume.event(rec.venue, event.venue_seq)
            order = orders[event.order_id]
            if order.venue != rec.venue:
                out.unknown_venue_events += 1
                continue
            st = out.strategies[order.strategy_id]
            applied = isinstance(rec, JVenueApplied)
            if applied and rec.seq != st.next_seq:  # type: ignore[attr-defined]  # a JVenueApplied
                raise JournalCorruptError(
                    f"a venue event for order {order.order_id} numbers its strategy events from "
                    f"{rec.seq} but strategy {st.strategy_id} is at seq {st.next_seq}"  # type: ignore[attr-defined]
                )
            first = apply_venue_event(order, event, st.next_seq, produced)
            if sent and order.order_id in sent and order.state not in CANCEL_WANTED_STATES:
                sent.discard(order.order_id)  # the kill's Cancel refused (or the order ended): no other (kill60)
            if first is None:
                continue  # out of place when it arrived, too: the engine journaled and ignored it
            if applied:  # its strategy events are part of the record
                before = st.next_seq
                st.events.append(first)
                if produced:
                    st.events.extend(produced)
                    produced.clear()
                st.next_seq = st.events[-1].seq + 1
                if indexed:
                    _mark(out, st, before)
            else:  # an earlier version's record: its strategy events follow as JStrategyEvent records
                expected.append((st, first))
                if produced:
                    expected.extend((st, e) for e in produced)
                    produced.clear()
            if type(event) is VenueExecuted:
                out.exposure.append((order, event.qty, event.price))
            if order.state >= _FILLED:
                open_orders.pop(order.order_id, None)
                st.open_orders.pop(order.order_id, None)
        elif kind is JStrategyEvent:
            assert isinstance(rec, JStrategyEvent)
            st = _strategy(out, rec.strategy_id)
            before = st.next_seq
            # an answer an earlier version journaled with an unbounded text (stratecho57): kept, and replayed, bounded,
            # by the rule the replay read from the journal follows too (ReplayJob)
            st.events.append(journaled_form(rec.event))
            st.next_seq = rec.event.seq + 1
            if indexed:
                _mark(out, st, before)
            if expected and expected[0][0] is st and expected[0][1].seq == rec.event.seq:
                del expected[0]
            if type(rec.event) is OrderRejected:
                rejected = st.orders.get(rec.event.cl_ord_id)
                if rejected is not None:
                    unanswered.pop(rejected.order_id, None)
                else:  # a NewOrder refused before it became an order (INVALID_FIELD, ...): its id is used up
                    st.refused_id(rec.event.cl_ord_id)
        elif kind is JOrderCreated:
            assert isinstance(rec, JOrderCreated)
            order = rec.order()
            _strategy(out, rec.strategy_id).orders[rec.cl_ord_id] = order
            orders[rec.order_id] = order
            if indexed and not rec.order_id & MARK_MASK:
                out.order_marks.add(rec.order_id, out.position)
            unanswered[rec.order_id] = order
            out.next_order_id = max(out.next_order_id, rec.order_id + 1)
        elif kind is JOrderSent:
            assert isinstance(rec, JOrderSent)
            order = rec.order()
            st = _strategy(out, rec.strategy_id)
            st.orders[rec.cl_ord_id] = order
            orders[rec.order_id] = order
            out.next_order_id = max(out.next_order_id, rec.order_id + 1)
            if indexed and not rec.order_id & MARK_MASK:
                out.order_marks.add(rec.order_id, out.position)
            mark_sent(order, rec.venue_ref)
            _note_ref(highs, lows, rec.venue, rec.venue_ref)
            open_orders[order.order_id] = order
            st.open_orders[order.order_id] = order
            out.exposure.append((order, 0, 0))
        elif kind is JSentNew:
            assert isinstance(rec, JSentNew)
            order = orders[rec.order_id]
            mark_sent(order, rec.venue_ref)
            _note_ref(highs, lows, order.venue, rec.venue_ref)
            unanswered.pop(order.order_id, None)
            open_orders[order.order_id] = order
            out.strategies[order.strategy_id].open_orders[order.order_id] = order
            out.exposure.append((order, 0, 0))
        elif isinstance(rec, (JOrderRefused, JSentCancel, JSentReplace, JCancelQueued, JCancelRefused)):
            # refused; cancel sent, held or dropped, the gateway's own or joined by a strategy's (Order.own_cancel);
            # replace sent
            order = orders[rec.order_id]
            # a fresh Cancel of the gateway's own pays a kill's debt (the kill's); the release of one held before
            # the kill does not, nor a strategy's (refused, the kill's Cancel follows): as Engine._kill_paid (kill60)
            pays = False
            if owed and rec.order_id in owed and isinstance(rec, (JSentCancel, JCancelQueued)) and rec.own:
                pays = order.state not in (HELD_CANCEL_STATES if kind is JSentCancel else CANCEL_WANTED_STATES)
            if kind is JCancelRefused:
                if order.state not in HELD_CANCEL_STATES:  # only a repeat of the drop just read (ended60)
                    if rec.order_id not in dropped or order.state not in REPEATED_DROP_STATES:
                        raise IllegalTransition(order, _DROP)
                    repeats[rec.order_id] = repeats.get(rec.order_id, 0) + 1
                dropped.add(rec.order_id)
            elif dropped:  # any other record of the order (a Cancel queued or sent again, a Replace): no repeat follows
                dropped.discard(rec.order_id)
            follow_order_record(order, rec)
            if pays:
                del owed[rec.order_id]
                sent.add(rec.order_id)
            elif sent and kind is JCancelRefused:  # a held Cancel dropped: if the kill's, no longer wanted
                sent.discard(rec.order_id)
            if kind is JSentReplace:
                assert isinstance(rec, JSentReplace)
                _note_ref(highs, lows, order.venue, rec.venue_ref)
        elif kind is JVenueEpoch:
            assert isinstance(rec, JVenueEpoch)
            resume.epoch(rec.venue, rec.epoch)
            noted = out.venue_sessions.get(rec.venue)
            note_session(out.venue_sessions, rec.venue, rec.epoch, out.position)
            if out.venue_sessions[rec.venue] is not noted:  # a new session: its numbers start again
                highs.pop(rec.venue, None)
                lows.pop(rec.venue, None)
        elif kind is JTradingState:
            assert isinstance(rec, JTradingState)
            out.trading_states.append(rec)
            scope = rec.account
            killed_before = resumed.pop(scope, None)
            if rec.state == "ACTIVE":
                resumed[scope] = scope in kills
                kills.discard(scope)
            elif killed_before is not None and rec.reason == RESUME_REFUSED:
                # app.resume's re-statement right behind its ACTIVE (walk59b): what was in force before it, a kill
                # only if a kill was (its Cancels owed since that kill's record, no new ones)
                if killed_before:
                    kills.add(scope)
            elif rec.state == "HALTED" and rec.who != INTERNAL_ERROR_WHO:  # a kill: what it cancels (walk59)
                kills.add(scope)
                for order in open_orders.values():
                    if (not scope or order.account == scope) and order.order_id not in sent:
                        # a Cancel wanted or not, a strategy's (walk59c) or a policy's or the stop's own (kill60);
                        # not one whose earlier kill's own Cancel is still wanted: it had it (rev59merge14)
                        owed[order.order_id] = order
        elif kind is JReplaceRejected:
            pass  # the order is unchanged
        elif kind is JPositionAdjusted:
            assert isinstance(rec, JPositionAdjusted)
            out.adjustments.append((len(out.exposure), rec))
        elif kind is JSeqAhead:
            assert isinstance(rec, JSeqAhead)
            _strategy(out, rec.strategy_id).skip_to(rec.next_seq)
    out.resume = resume.points()
    if indexed:  # where recovery stopped reading: the end of the journal's data
        for venue in highs.keys() | out.venue_sessions.keys():
            floor = out.venue_sessions.get(venue, ("", 0))[1]
            out.ref_highs[venue] = RefHigh(floor, highs.get(venue, -1), out.position)
            if venue in lows:
                out.ref_lows[venue] = (floor, lows[venue])
    by_venue: dict[str, list[Order]] = {}
    for order in open_orders.values():
        by_venue.setdefault(order.venue, []).append(order)
    out.unanswered = {
        venue: requests
        for venue, venue_orders in by_venue.items()
        if (requests := ExactlyOnce.unanswered(venue_orders))
    }
    for order_id in [order_id for order_id in owed if order_id not in open_orders]:  # ended since: nothing owed
        del owed[order_id]
    sent.intersection_update(open_orders)
    out.never_sent = list(unanswered.values())
    out.cut_off = [(st.strategy_id, event) for st, event in expected]
    if repeats:
        log.warning(
            "the journal repeats the drop of a held Cancel (JCancelRefused) for %d order(s) (%s), %d repeat(s) in "
            "all: written at each poll by a version before ended60 that could not drop a kill's Cancel held behind "
            "a Replace at a venue whose session had ended; each read as one drop, the order as it was with its "
            "Replace in flight (or answered since); nothing is owed for them",
            len(repeats),
            ", ".join(str(order_id) for order_id in sorted(repeats)[:10]) + (" ..." if len(repeats) > 10 else ""),
            sum(repeats.values()),
        )
    return out


def open_marker(journal: Path) -> Path:
    """Return the file that exists while a gateway has ``journal`` open (``<journal>.open``)."""
    return journal.with_name(journal.name + ".open")


STOP_DROPPED: Final = "dropped"
"""The first word of an open marker a stop rewrote as a clean stop's note (``mark_journal_closed_dropping``)."""


def read_open_marker(journal: Path) -> int | None:
    """Return the first order id the last gateway on ``journal`` could use, or None if it stopped cleanly.

    The marker exists from before a gateway's first order until its clean stop (``mark_journal_open``,
    ``mark_journal_closed``), so finding it means the last gateway did not stop cleanly (a crash, a kill, a
    power failure), whatever its fsync policy and storage. It holds that gateway's first order id (0 if
    unreadable): the ids a lost journal tail could have used start there, whatever the journal still holds.
    A marker the stop rewrote as its note of records it dropped (``read_stop_note``) is a clean stop: None.
    """
    try:
        text = open_marker(journal).read_text(errors="replace")
    except FileNotFoundError:
        return None
    if _stop_note(text) is not None:
        return None
    try:
        return max(int(text.strip() or 0), 0)
    except ValueError:
        return 0


def _stop_note(text: str) -> tuple[int, int, int] | None:
    """Return (records, bytes, next order id) from a whole ``dropped R B [N]`` line at the start of ``text``, else
    None (N: 0 when the line has none)."""
    line, newline, _ = text.partition("\n")
    words = line.split()
    if not newline or len(words) not in (3, 4) or words[0] != STOP_DROPPED or not "".join(words[1:]).isdigit():
        return None
    return int(words[1]), int(words[2]), int(words[3]) if len(words) == 4 else 0


def read_stop_note(journal: Path) -> tuple[int, int, int] | None:
    """Return (records, bytes, next order id) of what the last stop on ``journal`` dropped, never written, if it said
    so, else None. The next order id is the stopping gateway's (0: not said): the records dropped may have created
    orders under ids up to it, which the journal never holds; the next start goes on from it, so that none of
    those ids names another order (lead56e; their requests, never answered, are sent again by their strategies).

    Written by ``mark_journal_closed_dropping`` in place of the open marker: a stop while the journal could not
    be written whose file still ended with its last whole record, all of it durable (journalstop56).
    """
    try:
        return _stop_note(open_marker(journal).read_text(errors="replace"))
    except FileNotFoundError:
        return None


def mark_journal_open(journal: Path, first_order_id: int) -> OSError | None:
    """Write ``journal``'s open marker with this gateway's first order id, durably, before any order is created.

    Return the OSError if it cannot be written (a full disk: the journal cannot be written either then); the
    old marker, if any, stays, and if there was none an empty one is created if possible (it needs no data
    block): the next start still sees an unclean stop, without this run's first id (``read_open_marker``: 0).
    """
    marker = open_marker(journal)
    try:
        write_file_atomically(marker, f"{first_order_id}\n".encode())
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o640))
            _fsync_directory(marker.parent)
        return exc
    return None


def mark_journal_closed(journal: Path) -> None:
    """Remove ``journal``'s open marker after a clean stop (the journal closed and made durable)."""
    marker = open_marker(journal)
    try:
        marker.unlink()
    except FileNotFoundError:
        return
    _fsync_directory(marker.parent)


def mark_journal_closed_dropping(journal: Path, records: int, nbytes: int, next_order_id: int = 0) -> bool:
    """Mark a clean stop that dropped ``records`` (``nbytes``) it could not write: the open marker says so.

    Only after the journal closed with every record it holds durable (``JournalCloseError.kept``): the records
    dropped were never written, so nothing that depended on them left the gateway, and no id a power failure
    could cut had reached a venue: the next start skips none (``read_open_marker``: None) and says what the stop
    dropped (``read_stop_note``). The marker is written in place (the disk is full: it keeps the block it has),
    then synced: until then it still holds the first order id (an unclean stop); a line cut short reads as an
    unreadable marker (unclean too). ``next_order_id`` (the stopping gateway's) is in the note: the next start
    gives no id below it (``read_stop_note``). If it cannot be written the marker is kept as it was (return
    False): the next start takes the stop for a crash and skips ids past any the dropped records used (lead56e:
    it was removed, and those ids could be given again).
    """
    note = f"{STOP_DROPPED} {records} {nbytes} {next_order_id}\n".encode()
    marker = open_marker(journal)
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            os.pwrite(fd, note, 0)
            os.ftruncate(fd, len(note))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stopped_cleanly(marked: bool, scan: JournalScan, file_size: int) -> bool:
    """Return whether the last gateway on the journal stopped cleanly.

    ``marked``: ``read_open_marker`` found the marker (not clean). An ``MmapJournal`` file tells too: a clean
    stop cuts it after its last record and writes that end into the header as durable, so zeros after the
    records or a durable end short of them mean it did not (a journal begun before the marker existed).
    """
    if marked:
        return False
    if scan.synced_bytes >= 0:
        return scan.synced_bytes == scan.good_bytes == file_size
    return True


def first_order_id(
    journal_next: int, previous_first: int | None, clean: bool, fsync: FsyncPolicy, venue_floor: int = 0
) -> int:
    """Return the first order id of a starting gateway: past every id a power failure could have cut from the journal.

    ``journal_next``: one past the last id the journal holds; ``previous_first``: the marker's (``read_open_marker``);
    ``venue_floor``: the highest order id a venue adapter's own state names (``VenueAdapter.order_id_floor``: an
    OUCH standby takeover's floor, above which the last gateway's ids went on after its start; the last
    NewOrderSingle in a FIX store). After an unclean stop under ``interval``/``none`` the records of orders that had
    reached a venue under their ids (OUCH, FIX and BOE ClOrdIDs) may be gone from the journal's tail: new ids start
    ``ORDER_ID_MARGIN`` past the journal's last, the last gateway's first (whose own start the journal may have lost
    entirely) and the venue floor (a takeover raised the ids past the marker's first after the start: ouchid54;
    before, ids from the floor up were used again when the journal lost them), so none of those is used again. After
    a clean stop, or under ``batch`` (no byte leaves before its records are durable, so an id the journal lost
    reached no venue), the ids simply continue (above the venue floor: ``GatewayProcess``).
    """
    if clean or FsyncPolicy(fsync) is FsyncPolicy.BATCH:
        return journal_next
    return max(journal_next, previous_first or 0, venue_floor + 1) + ORDER_ID_MARGIN


class JournalLostError(JournalCorruptError):
    """Today's journal file is gone although a gateway began it: starting would begin an empty day (exit 1)."""


def journal_note(state_dir: Path, gateway_id: str) -> Path:
    """Return the file in the gateway's ``state_dir`` naming the journal it last began (``<id>.journal-begun``)."""
    return state_dir / f"{gateway_id}.journal-begun"


NOTE_HEADER: Final = "header page"
"""The note's second line when the journal it names has the ``MmapJournal`` header page: never 0 bytes again."""


def note_journal_begun(state_dir: Path, gateway_id: str, journal: Path) -> OSError | None:
    """Write, durably, that ``journal`` was begun (each start, after it is open); return the OSError if it cannot be.

    The note names the journal and, on a second line, ``NOTE_HEADER`` when the file begins with the header
    page (an ``mmap`` journal: a file that can never be empty again unless something else cut it).
    """
    note = journal_note(state_dir, gateway_id)
    try:
        with open(journal, "rb") as fh:
            header = fh.read(len(MMAP_MAGIC)) == MMAP_MAGIC
    except OSError:
        header = False
    text = f"{journal.resolve()}\n" + (f"{NOTE_HEADER}\n" if header else "")
    try:
        if note.read_text(errors="replace") == text:
            return None  # this journal's note is there already: no write, no fsync
    except OSError:
        pass
    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(note, text.encode())
    except OSError as exc:
        return exc
    return None


def unreadable_note_problem(state_dir: Path, gateway_id: str) -> str:
    """Return why the note ``note_journal_begun`` writes cannot be read as one; "" if it reads well or is absent.

    The note is a journal's absolute path and a newline, then ``NOTE_HEADER`` and a newline when that journal has
    the header page: anything else (bytes that are not UTF-8, a relative path, other lines) was not written by a
    gateway, and whether it named today's journal cannot be told.
    """
    note = journal_note(state_dir, gateway_id)
    try:
        raw = note.read_bytes()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot read {note} ({exc.strerror or exc})"
    try:
        lines = raw.decode().split("\n")
    except UnicodeDecodeError:
        lines = []
    well_formed = len(lines) >= 2 and os.path.isabs(lines[0]) and "\0" not in lines[0] and lines[-1] == ""
    if well_formed and lines[1:-1] in ([], [NOTE_HEADER]):
        return ""
    return f"{note} is corrupt (not a journal's path and a newline, as the gateway writes it: {raw[:60]!r})"


def lost_journal_problem(state_dir: Path, gateway_id: str, journal: Path) -> str:
    """Return why starting on ``journal`` would wrongly begin an empty day; "" if not (it exists, or was never begun).

    The note ``note_journal_begun`` wrote names the journal this gateway began last: if that is ``journal``
    and nothing is at its path, the file (or its whole directory) was deleted since, and the day's open
    orders, positions and event numbers with it.
    """
    if os.path.lexists(journal):
        return ""
    note = journal_note(state_dir, gateway_id)
    try:
        named = note.read_text(errors="replace").partition("\n")[0].strip()
    except OSError:
        return ""
    if named != str(journal.resolve()):
        return ""
    return (
        f"the journal {journal} is gone, but this gateway began it today ({note} says so): it was deleted, or "
        "its directory, since; starting would begin an empty day (open orders, positions and exposure forgotten, "
        "limits checked against nothing). Put the file back (a backup, or the copy the gateway restores while "
        f"running), or, to begin the day with an empty journal on purpose, move {note} aside and start again "
        "(docs/reliability.md 2.3d)"
    )


def emptied_journal_problem(state_dir: Path, gateway_id: str, journal: Path) -> str:
    """Return why starting on an empty ``journal`` would wrongly begin an empty day; "" if not.

    An ``mmap`` journal this gateway began has its header page from its first moment (the note
    ``note_journal_begun`` wrote says so): 0 bytes at its path means something cut it (or a power failure came
    before the page reached the disk), and the day's records with it. An empty file nobody began (a crash
    before the note) or a ``file``-storage journal never written to is an ordinary empty journal: "".
    """
    try:
        if os.stat(journal).st_size:
            return ""
    except OSError:
        return ""
    note = journal_note(state_dir, gateway_id)
    try:
        lines = [line.strip() for line in note.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    if not lines or lines[0] != str(journal.resolve()) or NOTE_HEADER not in lines[1:]:
        return ""
    return (
        f"the journal {journal} is empty (0 bytes), but this gateway began it today with its header page ({note} "
        "says so): something cut it (or a power failure came before its first page reached the disk); starting "
        "would begin an empty day (open orders, positions and exposure forgotten, limits checked against nothing). "
        "Put the file back, or, to begin the day with an empty journal on purpose (after reconciling open orders "
        f"and positions with the venues), move {journal} and {note} aside and start again (docs/reliability.md "
        "2.4); move the file aside only after investigating it"
    )
