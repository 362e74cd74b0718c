"""The BOE client session against the BOE simulator over loopback: login, orders, cut, replay, logout.

The transport here is a minimal asyncio driver written for the test (the venue adapter and its
connector are phase 2); it shows what an adapter gets from the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest

from model.clock import monotonic_ns
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.boe.test_session import Recorder, state_of
from venues.boe.codec import NewOrderPacker, ReturnDecoder
from venues.boe.messages import OrderAcknowledgment, OrderExecution
from venues.boe.session import BoeClientSession, BoeSessionConfig, BoeSessionState

PX = 1_000_000
PACKER = NewOrderPacker(("price", "ord_type", "time_in_force", "symbol", "capacity"))
RETURNS = {0x25: bytes([0x01, 0x01]), 0x2C: bytes([0x01, 0x01])}


class Driver(asyncio.Protocol):
    """Moves bytes between one TCP connection and the session; polls it; closes when it asks."""

    def __init__(self, session: BoeClientSession, recorder: Recorder) -> None:
        self.session = session
        self.recorder = recorder
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._disconnects = len(recorder.disconnects)
        """Disconnect requests before this connection: one more means close it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.session.connection_made(monotonic_ns())
        self.flush()
        self._poll()

    def data_received(self, data: bytes) -> None:
        self.session.data_received(data, monotonic_ns())
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.session.connection_lost(monotonic_ns())
        if not self.lost.done():
            self.lost.set_result(None)

    def flush(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        out = self.session.take(monotonic_ns())
        if out:
            self.transport.write(bytes(out))
        if len(self.recorder.disconnects) > self._disconnects:
            self.transport.close()

    def _poll(self) -> None:
        delay = self.session.poll(monotonic_ns())
        self.flush()
        self._timer = asyncio.get_running_loop().call_later(delay / 1e9, self._poll)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


@pytest.fixture
async def simulator() -> AsyncIterator[BoeSimulator]:
    exchange = BoeExchangeConfig(units=2, symbol_units={"AAPL": 1, "MSFT": 2}, reference_prices={"AAPL": PX})
    sim = BoeSimulator(SimulatorConfig(exchange=exchange))
    await sim.start()
    yield sim
    await sim.stop()


async def _connect(port: int, session: BoeClientSession, recorder: Recorder) -> Driver:
    loop = asyncio.get_running_loop()
    _, driver = await loop.create_connection(lambda: Driver(session, recorder), "127.0.0.1", port)
    return driver


def _order(session: BoeClientSession, cl_ord_id: bytes, symbol: bytes, price: int) -> None:
    PACKER.pack(session.out, session.allocate_sequence(), cl_ord_id, b"1", 100, price, b"2", b"0", symbol, b"A")


async def test_session_when_cut_and_reconnected_then_missed_messages_replayed_once(simulator: BoeSimulator) -> None:
    recorder = Recorder()
    session = BoeClientSession(BoeSessionConfig("0001", "USER", "PASS", return_bitfields=RETURNS), recorder)
    driver = await _connect(simulator.port, session, recorder)
    await until(lambda: session.ready, "replay complete")
    _order(session, b"A1", b"AAPL", PX)  # unit 1: ack + execution
    _order(session, b"M1", b"MSFT", PX)  # unit 2: ack, rests (no reference price)
    driver.flush()
    await until(lambda: len(recorder.messages) == 3, "three answers")
    assert {(u, s, r) for u, s, r, _ in recorder.messages} == {(1, 1, False), (1, 2, False), (2, 1, False)}
    decoder = ReturnDecoder(RETURNS)
    ack = decoder.decode(recorder.messages[0][3])
    assert isinstance(ack, OrderAcknowledgment) and ack.optional.symbol in ("AAPL", "MSFT")

    simulator.drop_connections()
    await driver.lost
    assert session.state is BoeSessionState.DISCONNECTED
    simulator.execute("M1", 40)  # unit 2 sequence 2, produced while we are away
    driver = await _connect(simulator.port, session, recorder)
    await until(lambda: session.ready, "replay complete after reconnect")
    assert recorder.messages[-1][:3] == (2, 2, True)
    replayed = decoder.decode(recorder.messages[-1][3])
    assert isinstance(replayed, OrderExecution) and replayed.last_shares == 40
    assert recorder.accepted[-1].last_received_sequence == 2  # both our orders reached Cboe
    assert len(recorder.messages) == 4 and recorder.issues == []
    assert session.allocate_sequence() == 3

    session.logout(monotonic_ns())
    driver.flush()
    await driver.lost
    assert state_of(session) is BoeSessionState.LOGGED_OUT
    assert recorder.logouts[-1].reason == "U"
    assert session.reconnect_delay_ns(1) is None


async def test_session_when_login_refused_then_rejected_reported_and_backoff_grows(simulator: BoeSimulator) -> None:
    recorder = Recorder()
    session = BoeClientSession(BoeSessionConfig("0001", "USER", "WRONG"), recorder)
    driver = await _connect(simulator.port, session, recorder)
    await driver.lost
    assert recorder.rejected == [("N", "Not authorized")]
    assert session.reconnect_delay_ns(1) == 2 * session.config.reconnect_initial_ns
