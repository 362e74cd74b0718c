"""The venue's ResendRequest over many orders, over loopback: answered a slice per loop turn, the loop free between.

rev58fix F1 (MEDIUM): a ResendRequest over N stored messages was answered in one call, so one loop callback wrote
all N copies (3,000 held another strategy's round trip 105-158 ms compiled; a venue asking 1..0 late in the day
would stall the gateway for seconds: docs/strategy-protocol.md 4.6). The gateway side is the real FixVenue driven
by VenueConnector (``live.GatewaySide``); the venue is a raw socket acceptor scripted here (it must ask 1..0 on a
live session, which the QuickFIX simulator does not do on purpose). What is counted is deterministic: the replayed
messages each core flush writes, and the loop turns another task gets between the first and the last of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from model.venue_events import VenueState
from venues.fix.codec import DecodeError, FixMessage, FrameDecoder
from venues.fix.dialect import load_dialect
from venues.fix.fields import MsgType
from venues.fix.session.session import RESEND_SLICE

from .helpers import VenuePeer, decode_all, make_order
from .live import GatewaySide, wait_until

pytestmark = pytest.mark.timeout(60)

ORDERS = 600


class RawVenue:
    """A one-connection FIX acceptor: answers the Logon and TestRequests, records what it reads."""

    def __init__(self) -> None:
        self.dialect = load_dialect("equities-fix42")
        dialect = self.dialect
        self.peer = VenuePeer(dialect.begin_bytes, dialect.target_comp_id.encode(), dialect.sender_comp_id.encode())
        self.received: list[FixMessage] = []
        self.writer: asyncio.StreamWriter | None = None
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> RawVenue:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def send(self, raw: bytes) -> None:
        assert self.writer is not None
        self.writer.write(raw)

    def poss_dups(self) -> list[FixMessage]:
        return [m for m in self.received if m.get(b"43") == b"Y"]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        decoder = FrameDecoder()
        while data := await reader.read(65536):
            for item in decoder.feed(data):
                assert not isinstance(item, DecodeError), item
                self.received.append(item)
                if item.msg_type == MsgType.LOGON:
                    self.send(self.peer.logon(heartbeat=30))
                elif item.msg_type == MsgType.TEST_REQUEST:
                    self.send(self.peer.message(MsgType.HEARTBEAT, [(b"112", item.get(b"112"))]))


@pytest.fixture
async def venue() -> AsyncIterator[RawVenue]:
    raw = await RawVenue().start()
    yield raw
    await raw.close()


async def test_resend_request_over_600_orders_then_at_most_a_slice_per_flush_and_the_loop_turns_between(
    venue: RawVenue, tmp_path: Path
) -> None:
    side = GatewaySide(SimpleNamespace(port=venue.port, dialect=venue.dialect), tmp_path / "store")  # type: ignore[arg-type]
    adapter = side.venue
    turns = 0
    flushes: list[tuple[int, int]] = []
    """(loop turns so far, replayed copies in the flush) for each flush that writes replayed copies."""
    later: list[str] = []

    def flush() -> None:  # the core's flush (``after_input``), counting what it writes
        copies = sum(1 for m in decode_all(adapter.session.outbox) if m.get(b"43") == b"Y" and m.msg_type == b"D")
        if copies:
            flushes.append((turns, copies))
            if len(flushes) == 2:  # a strategy's order between two slices: it waits behind the answer
                later.append(side.send(make_order(ORDERS + 1)))
        adapter.flush()

    side.connector.after_input = flush
    side.task = side.connector.start()
    stop = asyncio.Event()

    async def other_connection() -> None:  # what the loop serves between two slices
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.get_running_loop().create_task(other_connection())
    try:
        await wait_until(lambda: adapter.state is VenueState.UP, 15.0, "the session to be UP")
        for n in range(ORDERS):
            side.send(make_order(n + 1))
        await wait_until(lambda: len([m for m in venue.received if m.msg_type == b"D"]) == ORDERS, 15.0, "the orders")
        last = adapter.session.next_sender_seq - 1
        venue.send(venue.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")]))
        await wait_until(lambda: len(venue.poss_dups()) and venue.received[-1].seq > last, 15.0, "the whole answer")
        # the old code: [(t, 600)], the whole answer in one flush, the loop held for it
        assert max(copies for _, copies in flushes) <= RESEND_SLICE, flushes
        assert sum(copies for _, copies in flushes) == ORDERS
        assert flushes[-1][0] - flushes[0][0] >= ORDERS // RESEND_SLICE - 1  # the other task ran between slices
        answer = [m for m in venue.received if m.get(b"43") == b"Y"]
        covered: list[int] = []
        for m in answer:
            covered.extend(range(m.seq, int(m.get(b"36"))) if m.msg_type == MsgType.SEQUENCE_RESET else [m.seq])
        assert covered == list(range(1, last + 1))  # in order, each number once
        (new,) = [m for m in venue.received if m.get(b"11") == later[0].encode()]
        assert new.seq == last + 1 and venue.received.index(new) > venue.received.index(answer[-1])
        assert [m for m in venue.received if m.msg_type in (MsgType.REJECT, MsgType.LOGOUT)] == []
    finally:
        stop.set()
        await ticker
        await side.connector.stop()
        adapter.close()


async def answer_two_requests(
    venue: RawVenue, tmp_path: Path, orders: int, first: tuple[bytes, bytes], second: tuple[bytes, bytes]
) -> tuple[list[int], int]:
    """Send ``orders`` orders through the real FixVenue, then the venue's two ResendRequests (BeginSeqNo, EndSeqNo)
    and a TestRequest in one write; return the numbers the answer covered, in order (a copy's own, a gap fill's
    range), and the last number sent before it.

    Each message of the answer carries PossDupFlag Y; the TestRequest's Heartbeat comes after the answer, numbered
    next; no Reject, no Logout.
    """
    side = GatewaySide(SimpleNamespace(port=venue.port, dialect=venue.dialect), tmp_path / "store")  # type: ignore[arg-type]
    adapter = side.venue
    side.task = side.connector.start()
    try:
        await wait_until(lambda: adapter.state is VenueState.UP, 15.0, "the session to be UP")
        for n in range(orders):
            side.send(make_order(n + 1))
        await wait_until(lambda: len([m for m in venue.received if m.msg_type == b"D"]) == orders, 15.0, "the orders")
        last = adapter.session.next_sender_seq - 1
        seen = len(venue.received)
        peer = venue.peer
        venue.send(
            peer.message(MsgType.RESEND_REQUEST, [(b"7", first[0]), (b"16", first[1])])
            + peer.message(MsgType.RESEND_REQUEST, [(b"7", second[0]), (b"16", second[1])])
            + peer.message(MsgType.TEST_REQUEST, [(b"112", b"END")])
        )
        await wait_until(
            lambda: any(m.get(b"112") == b"END" for m in venue.received[seen:]), 15.0, "the TestRequest's answer"
        )
        answer = venue.received[seen:]
        covered: list[int] = []
        for m in answer[:-1]:
            assert m.get(b"43") == b"Y", m
            covered.extend(range(m.seq, int(m.get(b"36"))) if m.msg_type == MsgType.SEQUENCE_RESET else [m.seq])
        assert (answer[-1].msg_type, answer[-1].seq, answer[-1].get(b"43")) == (MsgType.HEARTBEAT, last + 1, b"")
        assert [m for m in venue.received if m.msg_type in (MsgType.REJECT, MsgType.LOGOUT)] == []
        return covered, last
    finally:
        await side.connector.stop()
        adapter.close()
