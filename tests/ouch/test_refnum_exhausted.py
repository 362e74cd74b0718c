"""UserRefNums used up (past 2^32-1) and a request that fails to encode: each answered, nothing garbled sent.

OUCH's UserRefNum is a u32. Before (rev48ouch), one Account Query Response with NextUserRefNum 0xFFFFFFFF, or
restarts skipping blocks, took the numbering past it: the next Enter was written as a zeroed packet into the send
buffer before ``struct.error`` escaped, the strategy's connection died with no answer, risk kept the exposure, and
every later order to the venue did the same. Now no reservation goes past 0xFFFFFFFF, the next order is refused
``OUCH_REFNUM_EXHAUSTED`` (one answer each, from any strategy; cancels still go), the encoders leave the send
buffer as it was when they raise, and a request that fails to encode is answered ``OUCH_INTERNAL_ERROR``.

A real ``Engine`` over a real ``OuchVenue`` and ``VenueConnector``, against ``OuchSimulator`` on loopback TCP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.journal import FileJournal
from gateway.protocol.messages import Cancel, Canceled, CancelRejected, NewOrder, OrderAccepted, OrderRejected, Replace
from model.clock import monotonic_ns
from model.enums import RejectSource, Side
from model.fsync import FsyncPolicy
from model.order import OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.harness import LimitRisk, MemoryLink, Rig
from tests.ouch.harness import PX, TS, venue_config
from venues.connector import VenueConnector
from venues.ouch import codec
from venues.ouch.adapter import OuchVenue
from venues.ouch.codec import encode_message
from venues.ouch.messages import AccountQueryResponse
from venues.ouch.refstore import MAX_USER_REF_NUM, UserRefNumStore

pytestmark = pytest.mark.timeout(60)

DAY = "2024-05-01"
RESTING = PX - 100


async def wait_until(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` on the event loop until it holds; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


@pytest.fixture
async def sim() -> AsyncIterator[OuchSimulator]:
    simulator = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
    await simulator.start()
    yield simulator
    await simulator.stop()


class Gateway:
    """An engine journaling to a file, its OUCH venue connected to ``sim`` over loopback TCP."""

    def __init__(self, sim: OuchSimulator, tmp_path: Path) -> None:
        config = venue_config(tmp_path / "ouch", port=sim.port, reconnect_initial_ms=5, reconnect_max_ms=50)
        (tmp_path / "ouch").mkdir(exist_ok=True)
        self.store = UserRefNumStore(tmp_path / "ouch", config.name, today=lambda: DAY, block=100)
        self.venue = OuchVenue(config, monotonic_ns, store=self.store)
        self.rig = Rig(
            journal=FileJournal(tmp_path / "journal", fsync=FsyncPolicy.NONE),
            venues=[self.venue],  # type: ignore[list-item]  # a real OuchVenue where the harness scripts one
            risk=LimitRisk(),
        )
        self.engine = self.rig.engine
        self.connector = VenueConnector(self.venue, "127.0.0.1", sim.port, after_input=self.engine.flush)

    async def start(self) -> Gateway:
        self.connector.start()
        await wait_until(lambda: self.venue.state is VenueState.UP, "the venue to be up")
        return self

    async def stop(self) -> None:
        await self.connector.stop()
        self.engine.journal.close()

    def send(self, link: MemoryLink, *messages: object) -> None:
        self.rig.send(link, *messages)
        self.engine.flush()


async def _answer(link: MemoryLink, what: str) -> object:
    """Wait for, and return, the one message the gateway sends ``link`` next (fail on more)."""
    got: list[object] = []

    def arrived() -> bool:
        got.extend(link.received())
        return bool(got)

    await wait_until(arrived, what)
    await asyncio.sleep(0.05)  # a second answer to the same request would be here by now
    got.extend(link.received())
    assert len(got) == 1, got
    return got[0]


async def test_account_query_raising_the_floor_to_the_last_number_then_one_more_order_and_then_refused_each(
    sim: OuchSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    gw = await Gateway(sim, tmp_path).start()
    try:
        s1 = gw.rig.connect("S1")
        s2 = gw.rig.connect("S2")
        s1.received()
        s2.received()
        gw.send(s1, NewOrder("rest", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        assert isinstance(await _answer(s1, "the resting order's ack"), OrderAccepted)

        # the venue says the next number is the last OUCH can carry (rev48ouch t9_q)
        sim.stream.append(encode_message(AccountQueryResponse(TS, MAX_USER_REF_NUM)))
        sim.flush_all()
        await wait_until(lambda: gw.store.last_issued == MAX_USER_REF_NUM - 1, "the floor to be raised")

        gw.send(s1, NewOrder("last", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        assert isinstance(await _answer(s1, "the last number's ack"), OrderAccepted)

        opened = list(gw.rig.risk.opened)
        gw.send(s1, NewOrder("over1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        gw.send(s2, NewOrder("over2", "ACC2", "nasdaq", "AAPL", Side.SELL, 100, PX + 100))
        for link in (s1, s2):
            answer = await _answer(link, "the refusal")
            assert isinstance(answer, OrderRejected)
            assert (answer.source, answer.code) == (RejectSource.GATEWAY, "OUCH_REFNUM_EXHAUSTED")
            assert "used up" in answer.text and not link.closed
        # nothing left open or reserved (the first went through risk, which was released; the second was
        # refused before risk: the store's error is set from the first on)
        assert gw.rig.risk.opened == opened
        over = [o for o in gw.engine.orders.values() if o.cl_ord_id.startswith("over")]
        assert [(o.state, o.leaves_qty) for o in over] == [(OrderState.REJECTED, 0)] * 2
        assert not any(o.order_id in gw.engine.open_orders for o in over)
        assert [(o.order_id, 100, 0) in gw.rig.risk.changes for o in over] == [True, False]

        # the venue got exactly the two Enters, under their own numbers: no zeroed packet
        assert [(r.type, r.user_ref_num) for r in sim.exchange.records] == [("O", 1), ("O", MAX_USER_REF_NUM)]
        assert sim.exchange.violations == []
        # a Replace needs a new number too: refused the same way; a Cancel needs none and goes
        gw.send(s1, Replace("rest", 50, RESTING))
        answer = await _answer(s1, "the replace's refusal")
        assert isinstance(answer, CancelRejected) and answer.code == "OUCH_REFNUM_EXHAUSTED"
        gw.send(s1, Cancel("rest"))
        assert isinstance(await _answer(s1, "the cancel"), Canceled)

        status = gw.venue.status()
        assert "used up" in str(status["user_ref_num_store_error"])
        assert status["last_user_ref_num"] == MAX_USER_REF_NUM
        reserved = json.loads(gw.store.path.read_text())["reserved"]
        assert reserved <= MAX_USER_REF_NUM
        critical = [r for r in caplog.records if r.levelno == logging.CRITICAL and "used up" in r.getMessage()]
        assert len(critical) == 1  # once, however many orders are refused
    finally:
        await gw.stop()


async def test_a_request_that_fails_to_encode_then_refused_internal_error_and_the_next_one_goes(
    sim: OuchSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="venues.ouch.adapter")
    gw = await Gateway(sim, tmp_path).start()
    try:
        s1 = gw.rig.connect("S1")
        s1.received()
        gw.send(s1, NewOrder("rest", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        assert isinstance(await _answer(s1, "the resting order's ack"), OrderAccepted)

        gw.venue._display = b"YY"  # a fault of the gateway's own: a field the encoder refuses (struct.error)
        gw.send(s1, NewOrder("bad", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        answer = await _answer(s1, "the new order's refusal")
        assert isinstance(answer, OrderRejected)
        assert (answer.source, answer.code) == (RejectSource.GATEWAY, "OUCH_INTERNAL_ERROR")
        assert "error" in answer.text  # struct.error's text, named
        (bad,) = [o for o in gw.engine.orders.values() if o.cl_ord_id == "bad"]
        assert (bad.state, bad.leaves_qty) == (OrderState.REJECTED, 0)
        assert (bad.order_id, 100, 0) in gw.rig.risk.changes  # what risk reserved is released
        gw.send(s1, Replace("rest", 50, RESTING))
        answer = await _answer(s1, "the replace's refusal")
        assert isinstance(answer, CancelRejected) and answer.code == "OUCH_INTERNAL_ERROR"
        assert not s1.closed

        gw.venue._display = b"Y"
        gw.send(s1, NewOrder("good", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        assert isinstance(await _answer(s1, "the next order's ack"), OrderAccepted)
        gw.send(s1, Replace("rest", 50, RESTING))
        await wait_until(lambda: gw.rig.order("S1", "rest").leaves_qty == 50, "the replace")
        # nothing of the failed requests reached the venue: every packet it read was whole and valid
        assert [r.type for r in sim.exchange.records] == ["O", "O", "U"]
        assert sim.exchange.violations == []
        assert gw.venue.status()["internal_errors"] == 2
        assert len([r for r in caplog.records if "not sent: encoding it failed" in r.getMessage()]) == 2
    finally:
        await gw.stop()


def _packers() -> list[tuple[str, Callable[..., object]]]:
    packers: list[tuple[str, Callable[..., object]]] = [("codec", codec.pack_enter_order)]
    try:
        from venues.ouch._enter import pack_enter_order
    except ImportError:
        return packers
    return [*packers, ("native", pack_enter_order)]


@pytest.mark.parametrize(("name", "pack"), _packers())
@pytest.mark.parametrize(
    ("user_ref_num", "display", "appendage"),
    [(MAX_USER_REF_NUM + 1, b"Y", b""), (1, b"YY", b""), (1, b"Y", b"x" * 0x10000), (-1, b"Y", b"\x00")],
)
def test_enter_encoder_when_a_value_is_out_of_range_then_raises_and_leaves_the_buffer_as_it_was(
    name: str, pack: Callable[..., object], user_ref_num: int, display: bytes, appendage: bytes
) -> None:
    buf = bytearray(b"before")
    with pytest.raises(struct.error):
        pack(buf, user_ref_num, b"B", 100, b"AAPL    ", PX, b"0", display, b"A", b"N", b"N", b"1".ljust(14), appendage)
    assert buf == b"before", name  # before: a zeroed 51-byte packet was left behind


def test_replace_and_cancel_encoders_when_a_value_is_out_of_range_then_raise_and_leave_the_buffer_as_it_was() -> None:
    buf = bytearray(b"before")
    with pytest.raises(struct.error):
        codec.pack_replace_order(buf, MAX_USER_REF_NUM, MAX_USER_REF_NUM + 1, 100, PX, b"0", b"Y", b"N", b"1" * 14)
    assert buf == b"before"
    with pytest.raises(struct.error):
        codec.pack_cancel_order(buf, MAX_USER_REF_NUM + 1, 0)
    assert buf == b"before"
    codec.pack_cancel_order(buf, MAX_USER_REF_NUM, 0)  # the last number is encoded as any other
    assert buf[len(b"before") + 4 : len(b"before") + 8] == b"\xff\xff\xff\xff"


def _store_on_file(tmp_path: Path, reserved: int, *, prefetch: bool = False) -> UserRefNumStore:
    (tmp_path / "nasdaq.userrefnum.json").write_text(json.dumps({"day": DAY, "session": "S", "reserved": reserved}))
    store = UserRefNumStore(tmp_path, "nasdaq", today=lambda: DAY, block=100, prefetch=prefetch)
    store.wait_limit = 10.0  # a loaded machine's slow write is not what this is about
    store.bind("S")
    return store


@pytest.mark.parametrize("prefetch", [False, True])
def test_store_when_blocks_reach_the_last_number_then_the_reservation_stops_there_and_then_nothing_is_handed_out(
    tmp_path: Path, prefetch: bool
) -> None:
    store = _store_on_file(tmp_path, MAX_USER_REF_NUM - 150, prefetch=prefetch)
    numbers = [store.next() for _ in range(152)]
    assert numbers[:150] == list(range(MAX_USER_REF_NUM - 149, MAX_USER_REF_NUM + 1))
    assert numbers[150:] == [0, 0]  # before: 4294967296 and on, which OUCH cannot carry
    assert store.exhausted and "used up" in str(store.error)
    assert json.loads(store.path.read_text())["reserved"] == MAX_USER_REF_NUM
    assert store.retry(10**12) is False  # nothing to write: only a new numbering helps


def test_store_when_the_file_reserves_past_the_last_number_then_used_up_until_a_new_session(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="venues.ouch.refstore")
    store = _store_on_file(tmp_path, 4_295_067_292)  # rev48ouch: a state file after restarts past the end
    assert store.exhausted and store.next() == 0 and store.next() == 0
    assert store.last_issued == MAX_USER_REF_NUM
    assert len([r for r in caplog.records if "used up" in r.getMessage()]) == 1
    store.bind("NEW")  # the venue's new session: numbering starts again at 1
    assert (store.exhausted, store.error, store.next()) == (False, None, 1)
