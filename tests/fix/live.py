"""Drive a real FixVenue through VenueConnector over loopback (for the conformance scenarios)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from gateway.venue_apply import apply_venue_event
from model.clock import monotonic_ns
from model.order import Order
from model.send_result import Sent
from model.venue_events import VenueEvent, VenueState
from simulators.fix.simulator import FixSimulator
from venues.connector import VenueConnector
from venues.fix.adapter import FixVenue
from venues.fix.config import FixVenueConfig, StoreKind, build_fix_venue
from venues.fix.session import ReconnectBackoff

from .helpers import Recorder


def start_simulator(work_dir: Path, dialect: str = "equities-fix42", **options: Any) -> FixSimulator:
    """Start a ``FixSimulator`` (a real QuickFIX acceptor on loopback, raw side channel on) working in ``work_dir``."""
    simulator = FixSimulator(dialect=dialect, raw_channel=True, work_dir=str(work_dir), **options)
    simulator.start()
    return simulator


def close_simulator(simulator: FixSimulator) -> None:
    """Close ``simulator``; fail if any of its QuickFIX callbacks raised."""
    simulator.close()
    assert simulator.callback_errors == 0


@contextlib.contextmanager
def running_simulator(work_dir: Path, dialect: str = "equities-fix42", **options: Any) -> Iterator[FixSimulator]:
    """Run a simulator (``start_simulator``) for the ``with`` block; close it after (``close_simulator``)."""
    simulator = start_simulator(work_dir, dialect, **options)
    try:
        yield simulator
    finally:
        simulator.close()
    assert simulator.callback_errors == 0


async def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``predicate`` on the event loop until it holds; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


class GatewaySide:
    """A FixVenue connected to a simulator, with recorded events and states."""

    def __init__(
        self,
        sim: FixSimulator,
        store_dir: Path | None = None,
        *,
        dialect: str | None = None,
        strict: bool = False,
        **config: Any,
    ) -> None:
        self.sim = sim
        self.config = FixVenueConfig(
            name="FIXV",
            host="127.0.0.1",
            port=sim.port,
            dialect=dialect or sim.dialect.name,
            heartbeat_interval_s=1,
            logon_timeout_s=2.0,
            logout_timeout_s=1.0,
            store=StoreKind.FILE if store_dir else StoreKind.MEMORY,
            store_dir=str(store_dir or "unused"),
            reconnect=ReconnectBackoff(initial_ms=50, maximum_ms=300),
            strict=strict,
            username="user1",
            password="pw",
        )
        if config:
            self.config = msgspec.structs.replace(self.config, **config)
        self.recorder = Recorder()
        self.venue: FixVenue = build_fix_venue(self.config, monotonic_ns)
        self.venue.event_sink = self.recorder.event
        self.venue.state_sink = self.recorder.state
        self.task: asyncio.Task[None] | None = None
        self.connector = VenueConnector(
            self.venue, "127.0.0.1", sim.port, after_input=self.venue.flush, connect_timeout_s=2.0
        )

    @property
    def events(self) -> list[VenueEvent]:
        return self.recorder.events

    @property
    def states(self) -> list[VenueState]:
        return [s for _, s, _ in self.recorder.states]

    async def start(self, timeout: float = 5.0) -> GatewaySide:
        """Connect and wait for the session to be UP."""
        self.task = self.connector.start()
        await self.wait_up(timeout)
        return self

    async def wait_up(self, timeout: float = 15.0) -> None:
        """Wait until the session is UP here and logged on at the acceptor.

        QuickFIX's acceptor marks its side logged on only after its Logon answer is on the wire: a message
        the simulator sends in between (``sim.send_test_request`` at once) is numbered and stored but never
        sent, and the gap fill then covers it. Its ``on_logon`` comes after the mark.
        """
        await wait_until(lambda: self.venue.state is VenueState.UP, timeout, "the session to be UP")
        await wait_until(lambda: self.sim.logged_on, timeout, "the acceptor to mark the session logged on")

    def send(self, order: Order) -> str:
        """Send a new order the way the core does (send, then flush)."""
        result = self.venue.send_new(order)
        assert isinstance(result, Sent), result
        self.venue.flush()
        return result.venue_ref

    def apply_to(self, order: Order, *, must_apply: bool = False) -> None:
        """Apply each event to ``order`` as it is reported (the engine's part), recording it too.

        ``must_apply``: fail on an event the order does not take (``apply_venue_event`` returns None).
        """
        record = self.recorder.event

        def sink(event: VenueEvent) -> None:
            record(event)
            applied = apply_venue_event(order, event, len(self.events), [])
            assert applied is not None or not must_apply, (event, order.state)

        self.venue.event_sink = sink

    async def wait_events(self, count: int, timeout: float = 15.0) -> list[VenueEvent]:
        await wait_until(lambda: len(self.events) >= count, timeout, f"{count} venue events")
        return self.events

    async def kill(self) -> None:
        """Stop like a killed process: no Logout, the socket just closes; the store stays as written.

        The store's file is closed as the kernel closes a dead process's files (nothing more is
        written; its fsync thread ends).
        """
        await self.connector.stop()
        self.venue.close()

    async def stop(self) -> None:
        """Log out gracefully, then stop the connector."""
        if self.venue.state is VenueState.UP:
            self.venue.logout("test over")
            self.venue.flush()
            await wait_until(lambda: self.venue.state is VenueState.DISCONNECTED, 15.0, "logout")
            task = self.task
            await wait_until(lambda: task is not None and task.done(), 15.0, "the connector to stop reconnecting")
        await self.connector.stop()
        self.venue.close()
