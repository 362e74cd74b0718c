"""Rebuild the engine's state by replaying its journal (no bytes are sent while replaying)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.journal import (
    JCancelQueued,
    JOrderCreated,
    JOrderRefused,
    JournalRecord,
    JReplaceRejected,
    JSentCancel,
    JSentNew,
    JSentReplace,
    JStrategyEvent,
    JTradingState,
    JVenueEpoch,
    JVenueEvent,
)
from gateway.protocol.messages import OrderEvent, OrderRejected
from gateway.strategy_state import StrategyState
from model.exactly_once import ResumePoint
from model.order import (
    Order,
    OrderState,
    can,
    cancel_input,
    hold_cancel,
    mark_sent,
    refuse,
    release_cancel,
    request_cancel,
    request_replace,
)
from model.order import OrderInput as In
from model.venue_events import VenueEvent
from risk.api import RiskGate
from venues.base import VenueAdapter


class ReplayTarget(Protocol):
    """The engine state a replay rebuilds: ``gateway.engine.Engine``, named here so neither imports the other."""

    next_order_id: int

    @property
    def orders(self) -> dict[int, Order]:
        """Every order of the session, by order id."""
        ...

    @property
    def open_orders(self) -> dict[int, Order]:
        """Orders sent to a venue and not yet terminal, by order id."""
        ...

    @property
    def strategies(self) -> dict[str, StrategyState]:
        """Per-strategy state, by strategy id."""
        ...

    @property
    def venues(self) -> Mapping[str, VenueAdapter]:
        """The configured venue adapters, by name."""
        ...

    @property
    def risk(self) -> RiskGate:
        """Pre-trade risk, told about every order replayed as sent."""
        ...

    @property
    def recovery_emitted(self) -> list[tuple[StrategyState, OrderEvent]]:
        """Events the handlers produced while replaying a journaled venue event."""
        ...

    def on_venue_event(self, venue: str, event: VenueEvent) -> None:
        """Apply a venue event exactly as at run time (the engine is in recovery mode)."""
        ...


@dataclass
class Replay:
    """What replaying a journal found."""

    resume: dict[str, ResumePoint] = field(default_factory=dict)
    """Per venue: its last journaled numbering epoch and the highest venue_seq journaled in it."""
    unanswered: list[Order] = field(default_factory=list)
    """Orders neither sent to a venue nor answered to their strategy (the crash cut their batch)."""
    unjournaled: list[tuple[str, OrderEvent]] = field(default_factory=list)
    """(strategy id, event) that journaled venue events produced but whose own records were cut off."""
    trading_states: list[JTradingState] = field(default_factory=list)
    """Kill switch and resume commands, in order, for the process to re-apply to risk."""


def replay_journal(engine: ReplayTarget, records: Iterable[JournalRecord]) -> Replay:
    """Apply ``records`` to ``engine`` (in recovery mode).

    A crash during the journal's write of a batch can leave any prefix of it on disk. Nothing
    of the batch left the gateway, but its tail may be missing: an order created and not yet
    sent or refused, or a venue event whose strategy events were not written. Those are
    returned (``unanswered``, ``unjournaled``) for ``Engine.finish_recovery`` to complete.
    """
    epochs: dict[str, str] = {}
    high_water: dict[str, int] = {}
    orders = engine.orders
    unanswered: dict[int, Order] = {}
    trading_states: list[JTradingState] = []
    emitted = engine.recovery_emitted
    for rec in records:
        kind = type(rec)
        if kind is JVenueEvent:
            assert isinstance(rec, JVenueEvent)
            emitted.clear()
            engine.on_venue_event(rec.venue, rec.event)
            if rec.event.venue_seq > high_water.get(rec.venue, 0):
                high_water[rec.venue] = rec.event.venue_seq
        elif kind is JVenueEpoch:
            assert isinstance(rec, JVenueEpoch)
            if epochs.get(rec.venue, "") and epochs[rec.venue] != rec.epoch:
                high_water[rec.venue] = 0  # a new numbering (the first one named keeps the high water)
            epochs[rec.venue] = rec.epoch
        elif kind is JStrategyEvent:
            assert isinstance(rec, JStrategyEvent)
            st = engine.strategies.get(rec.strategy_id)
            if st is None:
                st = engine.strategies[rec.strategy_id] = StrategyState(rec.strategy_id)
            st.events.append(rec.event)
            st.next_seq = rec.event.seq + 1
            if emitted:
                del emitted[0]
            if type(rec.event) is OrderRejected:
                rejected = st.orders.get(rec.event.cl_ord_id)
                if rejected is not None:
                    unanswered.pop(rejected.order_id, None)
        elif kind is JOrderCreated:
            assert isinstance(rec, JOrderCreated)
            st = engine.strategies.get(rec.strategy_id)
            if st is None:
                st = engine.strategies[rec.strategy_id] = StrategyState(rec.strategy_id)
            order = Order(
                rec.order_id,
                rec.strategy_id,
                rec.cl_ord_id,
                rec.account,
                rec.venue,
                rec.symbol,
                rec.side,
                rec.qty,
                rec.price,
                rec.tif,
                rec.ord_type,
                leaves_qty=rec.qty,
                t_in=rec.t_in,
            )
            st.orders[rec.cl_ord_id] = order
            orders[rec.order_id] = order
            unanswered[rec.order_id] = order
            engine.next_order_id = max(engine.next_order_id, rec.order_id + 1)
        elif kind is JOrderRefused:
            assert isinstance(rec, JOrderRefused)
            refuse(orders[rec.order_id])
        elif kind is JSentNew:
            assert isinstance(rec, JSentNew)
            order = orders[rec.order_id]
            mark_sent(order, rec.venue_ref)
            unanswered.pop(order.order_id, None)
            engine.open_orders[order.order_id] = order
            engine.strategies[order.strategy_id].open_orders[order.order_id] = order
            engine.risk.on_order_opened(order)
        elif kind is JSentCancel:
            assert isinstance(rec, JSentCancel)
            order = orders[rec.order_id]
            if cancel_input(order) is In.RELEASE_CANCEL:
                release_cancel(order)
            else:
                request_cancel(order)
        elif kind is JSentReplace:
            assert isinstance(rec, JSentReplace)
            request_replace(orders[rec.order_id], rec.qty, rec.price, rec.venue_ref)
        elif kind is JCancelQueued:
            assert isinstance(rec, JCancelQueued)
            order = orders[rec.order_id]
            if can(order, In.HOLD_CANCEL):  # journals of earlier versions repeat it for a cancel already held
                hold_cancel(order)
        elif kind is JTradingState:
            assert isinstance(rec, JTradingState)
            trading_states.append(rec)
        elif kind is JReplaceRejected:
            pass
    _restore_venue_refs(engine)
    resume = {venue: ResumePoint(epochs.get(venue, ""), high_water.get(venue, 0)) for venue in {*epochs, *high_water}}
    replay = Replay(resume, list(unanswered.values()), trading_states=trading_states)
    replay.unjournaled = [(st.strategy_id, event) for st, event in emitted]
    emitted.clear()
    return replay


def _restore_venue_refs(engine: ReplayTarget) -> None:
    """Tell each venue adapter, for every order still open, the reference(s) the venue knows it by.

    Called once the replay is complete, so each order is in its recovered state: first the
    reference the venue knows the order by now, then the replace still in flight, if any.
    """
    for order in engine.open_orders.values():
        venue = engine.venues.get(order.venue)
        if venue is None or not order.venue_ref:
            continue
        venue.restore(order, order.venue_ref)
        if order.pending_ref and order.state in _REPLACING:
            venue.restore(order, order.pending_ref)


_REPLACING = frozenset({OrderState.PENDING_REPLACE, OrderState.PENDING_REPLACE_HELD_CANCEL})
