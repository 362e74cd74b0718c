"""OUCH adapter + VenueConnector against OuchSimulator over real loopback TCP (asyncio and uvloop)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from model.clock import monotonic_ns
from model.enums import TimeInForce
from model.send_result import Sent
from model.venue_events import (
    VenueAccepted,
    VenueCanceled,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
    VenueState,
)
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.harness import sent_ref as _ref
from tests.ouch.harness import PX, make_order, venue_config
from venues.connector import VenueConnector
from venues.ouch.adapter import OuchVenue
from venues.ouch.messages import AccountQueryResponse, OrderAccepted, OrderCanceled, OrderExecuted, OrderReplaced
from venues.ouch.refstore import UserRefNumStore


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


class Session:
    """A started simulator and an OUCH venue connected to it through VenueConnector."""

    def __init__(self, simulator: OuchSimulator, venue: OuchVenue, connector: VenueConnector) -> None:
        self.simulator = simulator
        self.venue = venue
        self.connector = connector
        self.events: list[VenueEvent] = []
        self.states: list[tuple[VenueState, str]] = []
        venue.event_sink = self.events.append
        venue.state_sink = lambda name, state, reason: self.states.append((state, reason))


@pytest.fixture
async def open_session(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """Return a factory starting a simulator and a connected venue; everything is stopped afterwards."""
    started: list[Session] = []

    async def start(sim: SimulatorConfig | None = None, **venue_fields: object) -> Session:
        simulator = OuchSimulator(sim or SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
        await simulator.start()
        config = venue_config(
            tmp_path, port=simulator.port, reconnect_initial_ms=5, reconnect_max_ms=50, **venue_fields
        )
        store = UserRefNumStore(tmp_path, config.name, today=lambda: "2024-05-01", block=100)
        venue = OuchVenue(config, monotonic_ns, store=store)
        connector = VenueConnector(venue, "127.0.0.1", simulator.port, after_input=venue.flush)
        session = Session(simulator, venue, connector)
        started.append(session)
        connector.start()
        return session

    yield start
    for session in started:
        await session.connector.stop()
        await session.simulator.stop()


Start = Callable[..., object]


async def _up(open_session: Start, **kwargs: object) -> Session:
    session = await open_session(**kwargs)  # type: ignore[misc]
    assert isinstance(session, Session)
    await wait_until(lambda: session.venue.state is VenueState.UP, "login")
    return session


async def test_connect_when_simulator_listening_then_logged_in_and_up(open_session: Start) -> None:
    session = await _up(open_session)
    assert [s for s, _ in session.states] == [VenueState.LOGGING_IN, VenueState.UP]
    assert session.simulator.core.logins == 1


async def test_new_order_when_marketable_then_accepted_then_executed(open_session: Start) -> None:
    session = await _up(open_session)
    session.venue.send_new(make_order(1, price=PX + 100, qty=200))
    session.venue.flush()
    await wait_until(lambda: len(session.events) == 2, "accepted and executed")
    accepted, executed = session.events
    assert isinstance(accepted, VenueAccepted)
    assert isinstance(executed, VenueExecuted)
    assert (executed.order_id, executed.qty, executed.price, executed.venue_seq) == (1, 200, PX, 2)


async def test_cancel_when_order_resting_then_canceled(open_session: Start) -> None:
    session = await _up(open_session)
    order = make_order(2)
    session.venue.send_new(order)
    session.venue.flush()
    await wait_until(lambda: len(session.events) == 1, "accepted")
    session.venue.send_cancel(order)
    session.venue.flush()
    await wait_until(lambda: len(session.events) == 2, "canceled")
    canceled = session.events[1]
    assert isinstance(canceled, VenueCanceled) and canceled.venue_ts > 0  # the Canceled's Timestamp (fixouch46)
    assert canceled == VenueCanceled(2, 2, 100, "U", "user requested", canceled.venue_ts)


async def test_replace_when_order_resting_then_replaced_with_new_leaves(open_session: Start) -> None:
    session = await _up(open_session)
    order = make_order(3, qty=300)
    session.venue.send_new(order)
    session.venue.flush()
    await wait_until(lambda: len(session.events) == 1, "accepted")
    assert session.venue.send_replace(order, 500, PX - 500) == Sent("2")
    session.venue.flush()
    await wait_until(lambda: len(session.events) == 2, "replaced")
    replaced = session.events[1]
    assert isinstance(replaced, VenueReplaced)
    assert (replaced.leaves_qty, replaced.price) == (500, PX - 500)


async def test_new_order_when_venue_rejects_then_rejected(open_session: Start) -> None:
    sim = SimulatorConfig(exchange=ExchangeConfig(reject_symbols=frozenset({"HALT"})))
    session = await _up(open_session, sim=sim)
    session.venue.send_new(make_order(4, symbol="HALT"))
    session.venue.flush()
    await wait_until(lambda: len(session.events) == 1, "rejected")
    assert session.events == [VenueRejected(1, 4, "0x0017", "Invalid Symbol")]


async def test_login_when_password_wrong_then_rejected_reason_and_retried_with_backoff(
    open_session: Start,
) -> None:
    session = await open_session(password="WRONG")  # type: ignore[misc]
    assert isinstance(session, Session)
    await wait_until(lambda: session.connector.connections >= 3, "three login attempts")
    assert (VenueState.DISCONNECTED, "login rejected: not authorized (A)") in session.states
    assert session.venue.state is not VenueState.UP
    assert session.simulator.core.logins == 0


async def test_end_of_session_when_sent_then_ended_and_never_reconnects(open_session: Start) -> None:
    session = await _up(open_session)
    session.simulator.end_session()
    await wait_until(lambda: session.venue.state is VenueState.ENDED, "ENDED")
    assert session.connector._task is not None
    await asyncio.wait_for(session.connector._task, 2.0)
    assert session.connector.connections == 1
    assert session.states[-1] == (VenueState.ENDED, "end of session")


async def test_flow_when_simulator_cuts_mid_stream_repeatedly_then_events_have_no_gaps_or_duplicates(
    open_session: Start,
) -> None:
    exchange = ExchangeConfig(
        reference_prices={"AAPL": PX}, fill_ratio=0.6, partial_fills=True, seed=11, strict_user_ref_num=True
    )
    session = await _up(open_session, sim=SimulatorConfig(drop_after=40, exchange=exchange))
    venue, simulator = session.venue, session.simulator
    orders = []
    refs: dict[str, int] = {}
    for i in range(300):
        await wait_until(lambda: venue.state is VenueState.UP, "UP between cuts")
        order = make_order(1000 + i, price=PX + (50 if i % 3 == 0 else -50), qty=100 + i)
        if i % 4 == 1:
            order.tif = TimeInForce.IOC
        orders.append(order)
        refs[_ref(venue.send_new(order))] = order.order_id
        if i % 5 == 2:
            venue.send_cancel(order)
        elif i % 7 == 4:
            refs[_ref(venue.send_replace(order, order.qty + 50, PX - 75))] = order.order_id
        if i % 10 == 9:
            venue.flush()
            await asyncio.sleep(0.001)
        if i in (150, 151, 220):
            simulator.drop_connections()
    venue.flush()
    await wait_until(
        lambda: (
            venue.status()["awaiting_answer"] == 0
            and venue.status()["next_sequence"] == simulator.stream.next_sequence
            and venue.state is VenueState.UP
        ),
        "every request answered and the whole stream delivered",
        timeout=30.0,
    )
    stream = dict(simulator.outbound())
    assert simulator.core.cuts >= 5
    assert venue.status()["duplicates_dropped"] == 0

    by_seq = Counter(e.venue_seq for e in session.events)
    queries = {seq for seq, message in stream.items() if isinstance(message, AccountQueryResponse)}
    assert sorted(by_seq) == [seq for seq in range(1, simulator.stream.next_sequence) if seq not in queries]
    assert simulator.exchange.violations == []
    assert [e.venue_seq for e in session.events] == sorted(e.venue_seq for e in session.events)
    for seq, count in by_seq.items():
        assert count == 1, (seq, stream[seq])  # one message, one event (Order State D included)

    for event in session.events:
        message = stream[event.venue_seq]
        if isinstance(event, VenueAccepted):
            assert isinstance(message, OrderAccepted)
            assert refs[str(message.user_ref_num)] == event.order_id
            assert (event.qty, event.price, event.venue_order_id) == (
                message.quantity,
                message.price,
                str(message.order_reference_number),
            )
            assert (event.canceled_reason == "DEAD") is (message.order_state == "D")
        elif isinstance(event, VenueExecuted):
            assert isinstance(message, OrderExecuted)
            assert refs[str(message.user_ref_num)] == event.order_id
            assert (event.qty, event.price, event.exec_id) == (
                message.quantity,
                message.price,
                str(message.match_number),
            )
        elif isinstance(event, VenueReplaced):
            assert isinstance(message, OrderReplaced)
            assert (event.leaves_qty, event.price) == (message.quantity, message.price)
        elif isinstance(event, VenueCanceled) and event.reason != "DEAD":
            assert isinstance(message, OrderCanceled)
            assert refs[str(message.user_ref_num)] == event.order_id
            assert (event.canceled_qty, event.reason) == (message.quantity, message.reason)

    accepted = Counter(e.order_id for e in session.events if isinstance(e, VenueAccepted))
    assert sorted(accepted) == sorted(o.order_id for o in orders)
    assert set(accepted.values()) == {1}
    processed = Counter(
        r.user_ref_num for r in simulator.exchange.records if r.type == "O" and r.outcome.startswith("accepted")
    )
    assert set(processed.values()) == {1}
    assert len(processed) == len(orders)


async def test_simulator_restarted_with_its_state_lost_then_open_orders_end_and_a_held_cancel_is_answered(
    open_session: Start,
) -> None:
    """rev38strat s21: the venue restarts under the same session id, numbering from 1, no orders (ouchfix38)."""
    session = await _up(open_session)
    first = session.simulator
    resting = [make_order(i, price=PX - 100) for i in (1, 2)]
    for order in resting:
        order.venue_ref = _ref(session.venue.send_new(order))
    session.venue.flush()
    await wait_until(lambda: len(session.events) == 2, "both accepted")
    port = first.port
    await first.stop()
    await wait_until(lambda: session.venue.state is not VenueState.UP, "the cut")
    assert isinstance(session.venue.send_cancel(resting[0]), Sent)  # held until the venue is back
    second = OuchSimulator(SimulatorConfig(port=port, exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
    await second.start()
    try:
        await wait_until(lambda: session.venue.state is VenueState.UP, "the login to the restarted venue")
        canceled = [e for e in session.events if isinstance(e, VenueCanceled)]
        assert [(e.order_id, e.canceled_qty, e.reason) for e in canceled] == [
            (1, 0, "OUCH_SESSION_CHANGED"),
            (2, 0, "OUCH_SESSION_CHANGED"),
        ]
        assert session.venue.status()["awaiting_answer"] == 0  # old: the Cancel waited for ever
    finally:
        await second.stop()
