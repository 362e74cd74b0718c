"""In-memory wiring of the OUCH adapter to the sans-IO simulator core, with a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.engine import Engine
from gateway.journal import read_journal
from gateway.recovery import recover
from model.clock import FakeClock
from model.enums import OrderType, Side, TimeInForce
from model.order import Order
from model.send_result import Sent
from model.venue_events import VenueEvent, VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig, SimulatorCore
from simulators.ouch.soup_server import SoupServerConnection
from tests.harness import Rig, engine_over
from venues.ouch.adapter import OuchVenue
from venues.ouch.config import OuchVenueConfig
from venues.ouch.refstore import UserRefNumStore

DAY = "2024-05-01"
TS = 34_200_000_000_000
PX = 1_502_500


def make_order(order_id: int, **fields: Any) -> Order:
    """Return a gateway order (limit DAY buy 100 AAPL @ 150.25 unless told otherwise)."""
    values: dict[str, Any] = {
        "order_id": order_id,
        "strategy_id": "strat",
        "cl_ord_id": f"S{order_id}",
        "account": "ACC1",
        "venue": "nasdaq",
        "symbol": "AAPL",
        "side": Side.BUY,
        "qty": 100,
        "price": PX - 100,
        "tif": TimeInForce.DAY,
        "ord_type": OrderType.LIMIT,
    }
    values.update(fields)
    order = Order(**values)
    order.leaves_qty = order.qty
    return order


def venue_config(state_dir: Path, **fields: Any) -> OuchVenueConfig:
    """Return a venue config matching the simulator defaults (USER/PASS)."""
    values: dict[str, Any] = {
        "name": "nasdaq",
        "host": "127.0.0.1",
        "port": 1,
        "username": "USER",
        "password": "PASS",
        "state_dir": str(state_dir),
    }
    values.update(fields)
    return OuchVenueConfig(**values)


class Link:
    """An OuchVenue talking to a SimulatorCore through byte buffers (no sockets, fake clock)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        sim: SimulatorConfig | None = None,
        exchange: ExchangeConfig | None = None,
        clock: FakeClock | None = None,
        core: SimulatorCore | None = None,
        **venue_fields: Any,
    ) -> None:
        self.clock = clock or FakeClock()
        self.core = core or SimulatorCore(
            sim or SimulatorConfig(exchange=exchange or ExchangeConfig(reference_prices={"AAPL": PX})),
            clock=self.clock,
            timestamp=lambda: TS,
        )
        self.state_dir = state_dir
        self.config = venue_config(state_dir, **venue_fields)
        self.store = UserRefNumStore(state_dir, self.config.name, today=lambda: DAY, block=50)
        self.venue = OuchVenue(self.config, self.clock, store=self.store)
        self.events: list[VenueEvent] = []
        self.states: list[tuple[VenueState, str]] = []
        self.venue.event_sink = self.events.append
        self.venue.state_sink = lambda name, state, reason: self.states.append((state, reason))
        self.connection: SoupServerConnection | None = None
        self._to_server = bytearray()
        self._close_requested = False
        self.wire: list[bytes] = []
        """Every chunk the venue wrote, in order."""

    def new_core(self, **sim_fields: Any) -> SimulatorCore:
        """Return a new venue on this link's clock: numbering from 1, no orders (a venue that lost its state).

        ``sim_fields`` go to its ``SimulatorConfig`` (AAPL's reference price is ``PX``, as the link's first venue).
        """
        sim_fields.setdefault("exchange", ExchangeConfig(reference_prices={"AAPL": PX}))
        return SimulatorCore(SimulatorConfig(**sim_fields), clock=self.clock, timestamp=lambda: TS)

    def _write(self, data: bytes | bytearray) -> None:
        self.wire.append(bytes(data))
        self._to_server += data

    def _close(self) -> None:
        self._close_requested = True

    def close_requested(self) -> bool:
        """Return True once the adapter asked for its connection to be closed."""
        return self._close_requested

    def connect(self) -> None:
        """Open a connection and let the login complete."""
        now = self.clock()
        self.connection = self.core.connect(now)
        self._close_requested = False
        self.venue.attach(self._write, self._close)
        self.venue.connection_made(now)
        self.pump()
        self.settle()

    def settle(self, rounds: int = 3) -> None:
        """While the venue is logged in but still reading the replay, let the server go quiet for a heartbeat.

        The adapter acts on unanswered requests only once the replay is over (the first Server
        Heartbeat after Login Accepted), so time must pass on the fake clock for that.
        """
        for _ in range(rounds):
            if self.connection is None or self.venue.state is not VenueState.LOGGING_IN:
                return
            self.clock.advance_ms(self.core.config.heartbeat_interval_ms)
            self.core.poll(self.connection, self.clock())
            self.pump()

    def pump(self) -> None:
        """Move bytes both ways until nothing moves; honour cuts and close requests."""
        while self.connection is not None:
            now = self.clock()
            self.venue.flush()
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

    def disconnect(self) -> None:
        """Cut the connection (bytes in flight are lost)."""
        if self.connection is None:
            return
        now = self.clock()
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

    def send_new(self, order: Order) -> str:
        """Send a new order and let the exchange answer."""
        result = self.venue.send_new(order)
        assert isinstance(result, Sent), result
        self.pump()
        return result.venue_ref


def gateway_over(link: Link, journal: Path) -> tuple[Engine, Rig]:
    """Return a real engine over ``link``'s venue (strategy S1 trading ACC1, journal at ``journal``), and a Rig.

    The Rig only lends its helpers (``connect``, ``new_order``...) to the engine.
    """
    return engine_over(link.venue, link.clock, journal, max_qty=2_000_000)


def restart_from_journal(first: Link, tmp_path: Path) -> tuple[Link, Engine, Rig]:
    """Restart the gateway of ``first`` (journal ``tmp_path/j1``) as a new adapter and engine over the same venue.

    The new engine adopts what ``j1`` recovers and journals to ``tmp_path/j2``, and the adapter is told where the
    journal's venue numbering stands (``resume_after``), as ``gateway run`` does; nothing is connected yet.
    """
    second = Link(tmp_path / "ouch", core=first.core, clock=first.clock)
    engine, rig = gateway_over(second, tmp_path / "j2")
    recovered = recover(read_journal(tmp_path / "j1"))
    engine.adopt(recovered)
    point = recovered.resume.get(second.venue.name)
    if point is not None:
        second.venue.resume_after(point)
    return second, engine, rig


def renumber_and_resend(link: Link, engine: Engine, sequence: int) -> None:
    """The server loses its numbering (same session name, from 1 again), then sends message ``sequence`` again."""
    copy = link.core.stream.message(sequence)
    link.disconnect()
    del link.core.stream.packets[:]  # its next message is 1, below the one the gateway asks for
    link.connect()
    engine.flush()
    assert link.venue.state is VenueState.UP
    link.core.stream.append(copy)
    link.pump()
    engine.flush()
