"""In-memory wiring of the BOE adapter to the sans-IO BOE simulator core, with a fake clock.

``Link`` plays the gateway core's part where the adapter needs it: it keeps each order's table
state (``gateway.venue_apply``, as the engine and recovery do), journals the venue references
and events in memory, and hands the unanswered requests to ``after_replay`` whenever the venue
comes UP. ``restart`` builds a new adapter from that "journal" the way ``Engine.adopt`` and
``GatewayProcess`` do (``restore``, ``sequence.adopt``, ``resume_after``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.engine import Engine
from gateway.venue_apply import apply_venue_event
from model.clock import FakeClock
from model.enums import OrderType, Side, TimeInForce
from model.exactly_once import ExactlyOnce, ResumeTracker, VenueSequence
from model.order import (
    Order,
    OrderState,
    mark_sent,
    new_order_leaves,
    request_cancel,
    request_replace,
)
from model.send_result import Sent
from model.venue_events import VenueEvent, VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.server import BoeServerConnection
from simulators.boe.simulator import SimulatorConfig, SimulatorCore
from tests.harness import Rig, engine_over
from venues.boe.adapter import BoeVenue
from venues.boe.config import BoeVenueConfig

PX = 1_502_500
DAY_NS = 1_714_560_000_000_000_000
"""2024-05-01 10:40 UTC (06:40 in New York): the adapter's wall clock in these tests."""
_REPLACING = frozenset({OrderState.PENDING_REPLACE, OrderState.PENDING_REPLACE_HELD_CANCEL})


def make_order(order_id: int, **fields: Any) -> Order:
    """Return a gateway order (limit DAY buy 100 AAPL @ 150.24 unless told otherwise)."""
    values: dict[str, Any] = {
        "order_id": order_id,
        "strategy_id": "strat",
        "cl_ord_id": f"S{order_id}",
        "account": "ACC1",
        "venue": "cboe",
        "symbol": "AAPL",
        "side": Side.BUY,
        "qty": 100,
        "price": PX - 100,
        "tif": TimeInForce.DAY,
        "ord_type": OrderType.LIMIT,
    }
    values.update(fields)
    order = Order(**values)
    new_order_leaves(order)
    return order


def venue_config(state_dir: Path, **fields: Any) -> BoeVenueConfig:
    """Return a venue config matching the simulator defaults (0001 / USER / PASS)."""
    values: dict[str, Any] = {
        "name": "cboe",
        "host": "127.0.0.1",
        "port": 1,
        "session_sub_id": "0001",
        "username": "USER",
        "password": "PASS",
        "state_dir": str(state_dir),
    }
    values.update(fields)
    return BoeVenueConfig(**values)


class Link:
    """A BoeVenue talking to a SimulatorCore through byte buffers (no sockets, fake clock)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        exchange: BoeExchangeConfig | None = None,
        sim: SimulatorConfig | None = None,
        clock: FakeClock | None = None,
        core: SimulatorCore | None = None,
        **venue_fields: Any,
    ) -> None:
        self.clock = clock or FakeClock()
        self.core = core or SimulatorCore(
            sim
            or SimulatorConfig(
                exchange=exchange
                or BoeExchangeConfig(
                    units=3,
                    symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3},
                    reference_prices={"AAPL": PX, "MSFT": PX, "SPY": PX},
                )
            ),
            clock=self.clock,
            wall=lambda: DAY_NS,
        )
        self.state_dir = state_dir
        self.config = venue_config(state_dir, **venue_fields)
        self.exactly_once = ExactlyOnce(on_epoch=self._on_epoch)
        self.journal_epochs: list[tuple[str, str]] = []
        self.orders: dict[int, Order] = {}
        self.events: list[VenueEvent] = []
        self.states: list[tuple[VenueState, str]] = []
        self.connection: BoeServerConnection | None = None
        self._to_server = bytearray()
        self._close_requested = False
        self.wire: list[bytes] = []
        self.venue = self._new_venue()

    def _new_venue(self) -> BoeVenue:
        venue = BoeVenue(self.config, self.clock, wall=lambda: DAY_NS)
        venue.event_sink = self._on_event
        venue.state_sink = self._on_state
        venue.bind_sequence(self.exactly_once.venue(self.config.name))
        return venue

    # ---- the core's part ----

    def _on_epoch(self, venue: str, epoch: str) -> None:
        self.journal_epochs.append((venue, epoch))

    def _on_event(self, event: VenueEvent) -> None:
        self.events.append(event)
        order = self.orders.get(event.order_id)
        if order is not None:
            apply_venue_event(order, event, 0, [])

    def _on_state(self, name: str, state: VenueState, reason: str) -> None:
        del name
        self.states.append((state, reason))
        if state is VenueState.UP:  # at every UP, with nothing unanswered too, as the engine does
            self.venue.after_replay(ExactlyOnce.unanswered([o for o in self.orders.values() if o.is_open]))

    @property
    def sequence(self) -> VenueSequence:
        """Return the exactly-once keeper bound to the venue."""
        return self.exactly_once.venue(self.config.name)

    def restart(self) -> BoeVenue:
        """Replace the adapter by a new process's: recover from the in-memory journal, as the core does."""
        self.disconnect()
        tracker = ResumeTracker()
        for venue, epoch in self.journal_epochs:
            tracker.epoch(venue, epoch)
        for event in self.events:
            tracker.event(self.config.name, event.venue_seq)
        point = tracker.points().get(self.config.name)
        self.exactly_once = ExactlyOnce(on_epoch=self._on_epoch)
        self.venue = self._new_venue()
        if point is not None:
            self.sequence.adopt(point)
        for order in self.orders.values():
            if order.is_open and order.venue_ref:
                self.venue.restore(order, order.venue_ref)
                if order.pending_ref and order.state in _REPLACING:
                    self.venue.restore(order, order.pending_ref)
        if point is not None:
            self.venue.resume_after(point)
        return self.venue

    # ---- transport ----

    def _write(self, data: bytes | bytearray) -> None:
        self.wire.append(bytes(data))
        self._to_server += data

    def _close(self) -> None:
        self._close_requested = True

    def connect(self) -> None:
        """Open a connection and let the login and the replay complete."""
        now = self.clock()
        self.connection = self.core.connect(now)
        self._close_requested = False
        self.venue.attach(self._write, self._close)
        self.venue.connection_made(now)
        self.pump()

    def pump(self) -> None:
        """Move bytes both ways until nothing moves; honour cuts and close requests."""
        while self.connection is not None:
            now = self.clock()
            self.venue.flush(journaled=False)  # the wire only: the engine's flush says the journal is written
            moved = False
            if self._to_server:
                data = bytes(self._to_server)
                self._to_server.clear()
                self.core.receive(self.connection, data, now)
                moved = True
            out, cut = self.core.output(self.connection, now)
            if out:
                self.venue.data_received(bytes(out), now)
                moved = True
            if cut or self._close_requested or self.connection.closed:
                self.disconnect()
                return
            if not moved:
                return

    def disconnect(self, *, lose_unsent: bool = True) -> None:
        """Cut the connection (bytes in flight to the exchange are lost unless ``lose_unsent`` is False)."""
        if self.connection is None:
            return
        now = self.clock()
        if not lose_unsent and self._to_server:
            self.core.receive(self.connection, bytes(self._to_server), now)
        self._to_server.clear()
        self.venue.detach()
        self.venue.connection_lost(now)
        self.core.disconnected(self.connection, now)
        self.connection = None

    def poll(self) -> int:
        """Run both sides' timers once."""
        next_ns = self.venue.poll(self.clock())
        if self.connection is not None:
            self.core.poll(self.connection, self.clock())
        self.pump()
        return next_ns

    # ---- requests, as the engine makes them ----

    def send_new(self, order: Order, *, pump: bool = True) -> str:
        """Send a new order (journaling its reference) and let the exchange answer."""
        self.orders[order.order_id] = order
        result = self.venue.send_new(order)
        assert isinstance(result, Sent), result
        mark_sent(order, result.venue_ref)
        if pump:
            self.pump()
        return result.venue_ref

    def send_cancel(self, order: Order, *, pump: bool = True) -> str:
        """Send a cancel and let the exchange answer."""
        result = self.venue.send_cancel(order)
        assert isinstance(result, Sent), result
        request_cancel(order, result.venue_ref)
        if pump:
            self.pump()
        return result.venue_ref

    def send_replace(self, order: Order, qty: int, price: int, *, pump: bool = True) -> str:
        """Send a replace (Modify Order) and let the exchange answer."""
        result = self.venue.send_replace(order, qty, price)
        assert isinstance(result, Sent), result
        request_replace(order, qty, price, result.venue_ref)
        if pump:
            self.pump()
        return result.venue_ref

    @property
    def exchange_records(self) -> list[Any]:
        """Return what the exchange received."""
        return self.core.exchange.records


def connected_link(state_dir: Path, **exchange: Any) -> Link:
    """Return a link logged in to a three-unit exchange (AAPL, MSFT, SPY on units 1-3, each at ``PX``).

    ``exchange`` goes to its ``BoeExchangeConfig``.
    """
    config = BoeExchangeConfig(
        units=3,
        symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3},
        reference_prices={"AAPL": PX, "MSFT": PX, "SPY": PX},
        **exchange,
    )
    link = Link(state_dir, exchange=config)
    link.connect()
    assert link.venue.state is VenueState.UP
    return link


def gateway_over(link: Link, journal: Path) -> tuple[Engine, Rig]:
    """Return a real engine over ``link``'s venue (S1 trading ACC1, journal at ``journal``), and a Rig."""
    return engine_over(link.venue, link.clock, journal, max_qty=1_000_000)
