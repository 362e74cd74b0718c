"""The journal's records: one msgspec Struct per kind of order event (``gateway.journal`` re-exports them).

Kept apart from the writers and the reader so that the compiled ``gateway.journal_mmap`` can depend on them
without an import cycle; see ``gateway.journal`` for what each record means and how they replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from gateway.protocol.messages import MassCancelAck, MassCancelRejected, OrderEvent
from model.order import (
    ORDER_FIELDS,
    Order,
    OrderTicket,
    order_from_ticket,
    ticket,
)
from model.venue_events import VenueEvent


class _Record(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base for journal records."""


class JOrderCreated(_Record, OrderTicket, tag=1, frozen=True):  # type: ignore[misc]  # msgspec allows it
    """A strategy's NewOrder became an order (before risk decided): its ``OrderTicket`` fields, then ``t_in``."""

    t_in: int

    @staticmethod
    def of(order: Order) -> JOrderCreated:
        """Return the record of ``order`` just created."""
        return JOrderCreated(*ticket(order), order.t_in)  # the readable form; _compile_order_created's is faster

    def order(self) -> Order:
        """Return the order this record created, as it was created."""
        return order_from_ticket(self, t_in=self.t_in)


def _compile_order_created() -> Callable[[Order], JOrderCreated]:
    """Return ``JOrderCreated.of`` as one call naming each ticket field, generated from their one definition.

    It runs for every new order: a generated positional call costs a third of unpacking ``ticket(order)``.
    """
    args = ", ".join(f"order.{name}" for name in ORDER_FIELDS)
    namespace: dict[str, Any] = {"JOrderCreated": JOrderCreated}
    exec(f"def of(order):\n    return JOrderCreated({args}, order.t_in)\n", namespace)
    of: Callable[[Order], JOrderCreated] = namespace["of"]
    of.__doc__ = JOrderCreated.of.__doc__
    return of


JOrderCreated.of = staticmethod(_compile_order_created())  # type: ignore[assignment,method-assign]


class JOrderSent(JOrderCreated, tag=15, frozen=True):  # type: ignore[misc]  # as JOrderCreated
    """A new order created and queued for its venue under ``venue_ref`` in the same batch.

    One record instead of ``JOrderCreated`` + ``JSentNew``: the ticket, ``t_in``, then the venue
    reference. It is a ``JOrderCreated`` (a reader looking for created orders finds it).
    """

    venue_ref: str


class JOrderRefused(_Record, tag=2, frozen=True):
    """The gateway or risk refused the order; it never reached a venue."""

    order_id: int


class JSentNew(_Record, tag=3, frozen=True):
    """The order was queued for the venue under ``venue_ref``."""

    order_id: int
    venue_ref: str


class JSentCancel(_Record, tag=4, frozen=True):
    """A cancel for the order was queued for the venue (under ``venue_ref``, if the venue gives cancels one).

    ``own``: the gateway sent it for its own reasons (the kill switch, a disconnect policy, the stop; also a cancel
    it held so, released), no strategy sent it, so no strategy is answered if the venue refuses it (fixeng55).
    Journals written before have no such field and read as False; a journal with it reads in earlier versions
    (msgspec ignores the extra trailing field).
    """

    order_id: int
    venue_ref: str = ""
    own: bool = False


class JSentReplace(_Record, tag=5, frozen=True):
    """A replace to total ``qty`` at ``price`` was queued for the venue under ``venue_ref``."""

    order_id: int
    qty: int
    price: int
    venue_ref: str


class JCancelQueued(_Record, tag=6, frozen=True):
    """A cancel was accepted but held back (replace in flight or venue down).

    ``own``: the gateway holds it for its own reasons (the kill switch, a disconnect policy, the stop), no strategy
    sent it, so no strategy is answered if a fault drops it (answer54). Journals written before have no such field
    and read as False; a journal with it reads in earlier versions (msgspec ignores the extra trailing field).
    """

    order_id: int
    own: bool = False


class JVenueEvent(_Record, tag=7, frozen=True):
    """A normalised event from a venue, applied to its order."""

    venue: str
    event: VenueEvent


class JVenueApplied(JVenueEvent, tag=14, frozen=True):
    """A normalised venue event applied to its order, and the strategy events it produced from ``seq`` on.

    One record instead of ``JVenueEvent`` + one ``JStrategyEvent`` per event it produced: those
    events (the order's Accepted, Executed, ... and the rare second one, ``gateway.venue_apply``)
    follow from the event and the order, so recovery produces them again, numbered from ``seq``
    (the owning strategy's next ``seq`` when the event arrived; nothing when it was out of place).
    """

    seq: int


class JStrategyEvent(_Record, tag=8, frozen=True):
    """An order event sent to a strategy (kept so reconnecting strategies get what they missed)."""

    strategy_id: str
    event: OrderEvent


class JReplaceRejected(_Record, tag=9, frozen=True):
    """A replace refused by the gateway or risk before it was sent (the order is unchanged)."""

    order_id: int


class JTradingState(_Record, tag=10, frozen=True):
    """The kill switch or a resume changed the run-time trading state (``account`` "" = firm-wide).

    ``state_id``: the change's identity, also in its ``trading_state`` risk audit record (kill58): unique per
    gateway (the Unix ns time it was made, raised past every identity the gateway wrote before), so the start tells
    exactly which of the audit log's kills the journal holds (``gateway.audit_kills.lost_states``). A state a start
    re-applies from the audit log keeps the original's. Journals written before have no such field and read as 0
    (no identity: judged by state, as before); a journal with it reads in earlier versions (msgspec ignores the
    extra trailing field).
    """

    account: str
    state: str
    who: str
    reason: str
    state_id: int = 0


class JCancelRefused(_Record, tag=12, frozen=True):
    """A held cancel could not be sent (the venue adapter refused it); the order is as before the hold."""

    order_id: int


class JVenueEpoch(_Record, tag=11, frozen=True):
    """The venue's message numbering restarted as ``epoch``; later ``venue_seq`` values count from it."""

    venue: str
    epoch: str


class JRequest(_Record, tag=13, frozen=True):
    """(Protocol version 3) Strategy ``strategy_id`` processed its request number ``req_seq``.

    ``record`` is the record that decided the request (the order created; the cancel sent or
    held; the replace sent; or the order event that answered it), journaled inside this one so
    that the number and the decision reach the disk together or not at all, whatever prefix of a
    batch a crash leaves. A MassCancel's ``answer`` (not an order event, so not in the strategy's
    event log) is kept here, after the cancels it caused, for a re-sent duplicate to be answered
    again. With neither, the request left no other record. Versions 1 and 2 never write it.
    """

    strategy_id: str
    req_seq: int
    record: JOrderSent | JOrderCreated | JSentCancel | JCancelQueued | JSentReplace | JStrategyEvent | None = None
    answer: MassCancelAck | MassCancelRejected | None = None


class JSeqAhead(_Record, tag=16, frozen=True):
    """A strategy's Hello said ``last_seq`` = ``next_seq - 1``, beyond the last event the journal holds for it.

    The journal lost events the strategy had received (the unsynced tail of a power failure under
    ``fsync: interval``/``none``), or the strategy kept the ``last_seq`` of an earlier session: its events
    are numbered from ``next_seq`` on, so the strategy discards none of the new ones. ``lost_from`` is the
    gateway's ``next_seq`` before it: the numbers ``lost_from`` .. ``next_seq - 1`` name no event here.
    """

    strategy_id: str
    next_seq: int
    lost_from: int


class JPositionAdjusted(_Record, tag=17, frozen=True):
    """A risk officer corrected a position (``gateway risk adjust-position``: a busted or corrected trade).

    ``qty`` is added to ``account``'s filled position in ``symbol`` (+ buys, - sells) and ``notional`` to its
    gross traded notional today (fixed-point; negative: a busted trade's notional removed); ``price`` is the
    trade's, as given (0: none). Journaled and flushed before risk applies it; recovery re-applies it in order
    with the fills, so a restart the same day rebuilds the corrected position.
    """

    account: str
    symbol: str
    qty: int
    price: int
    notional: int
    who: str
    reason: str


JournalRecord = (
    JOrderCreated
    | JOrderSent
    | JVenueApplied
    | JOrderRefused
    | JSentNew
    | JSentCancel
    | JSentReplace
    | JCancelQueued
    | JVenueEvent
    | JStrategyEvent
    | JReplaceRejected
    | JTradingState
    | JVenueEpoch
    | JCancelRefused
    | JRequest
    | JSeqAhead
    | JPositionAdjusted
)
