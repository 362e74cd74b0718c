"""Sequence gaps that end at the venue's own Logon or ResendRequest, over loopback.

The gateway side is the real FixVenue driven by VenueConnector (``live.GatewaySide``); the venue is a raw
socket acceptor scripted here, because QuickFIX never numbers messages this way on purpose (a venue does
after a lost message: its Logon or ResendRequest takes the next number and its resend stops before it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from model.venue_events import VenueAccepted, VenueExecuted, VenueState
from venues.fix.codec import DecodeError, FixMessage, FrameDecoder
from venues.fix.dialect import load_dialect
from venues.fix.fields import MsgType

from .helpers import VenuePeer, make_order
from .live import GatewaySide, wait_until

pytestmark = pytest.mark.timeout(30)

_POSS_DUP = [(b"43", b"Y"), (b"122", b"20240102-09:59:59.000")]


class RawVenue:
    """A one-connection FIX acceptor speaking raw bytes: records what it reads, sends what the test builds."""

    def __init__(self) -> None:
        dialect = load_dialect("equities-fix42")
        self.dialect = dialect
        self.peer = VenuePeer(dialect.begin_bytes, dialect.target_comp_id.encode(), dialect.sender_comp_id.encode())
        self.received: list[FixMessage] = []
        self.writer: asyncio.StreamWriter | None = None
        self.server: asyncio.Server | None = None
        self.port = 0
        self.logon_seq = 1
        """MsgSeqNum of the Logon answering the gateway's."""

    async def start(self) -> RawVenue:
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection (``_serve``), tracked so that ``close`` ends it before the test's loop closes."""
        task = asyncio.current_task()
        assert task is not None
        self._writers.add(writer)
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except Exception:
            if not self._closing:  # a connection cut by ``close`` mid-read is no venue fault
                raise
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)

    async def close(self) -> None:
        """Close every connection and the server, and wait for the handlers: one still reading when the test's loop
        closes is cancelled there, which asyncio reports as an error (a flake under load, stop 61's trial run)."""
        self._closing = True
        if self.writer is not None:
            self.writer.close()
        for writer in list(self._writers):
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        pending = [task for task in self._handlers if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    def send(self, raw: bytes) -> None:
        assert self.writer is not None
        self.writer.write(raw)

    def messages(self, msg_type: bytes) -> list[FixMessage]:
        return [m for m in self.received if m.msg_type == msg_type]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        decoder = FrameDecoder()
        while data := await reader.read(65536):
            for item in decoder.feed(data):
                assert not isinstance(item, DecodeError), item
                self.received.append(item)
                if item.msg_type == MsgType.LOGON:
                    self.peer.next_seq = self.logon_seq
                    self.send(self.peer.logon(heartbeat=1))
                elif item.msg_type == MsgType.TEST_REQUEST:
                    self.send(self.peer.message(MsgType.HEARTBEAT, [(b"112", item.get(b"112"))]))


@pytest.fixture
async def venue() -> AsyncIterator[RawVenue]:
    raw = await RawVenue().start()
    yield raw
    await raw.close()


async def _gateway(venue: RawVenue, tmp_path: Path) -> GatewaySide:
    side = GatewaySide(SimpleNamespace(port=venue.port, dialect=venue.dialect), tmp_path / "store")  # type: ignore[arg-type]
    side.task = side.connector.start()
    return side


def _copy(venue: RawVenue, raw: bytes) -> bytes:
    """Return ``raw`` resent: same MsgSeqNum, PossDupFlag=Y and OrigSendingTime."""
    (message,) = FrameDecoder().feed(raw)
    assert isinstance(message, FixMessage)
    header = {b"8", b"9", b"35", b"49", b"56", b"34", b"52", b"10"}
    body = [(tag, value) for tag, value in message.fields.items() if tag not in header]
    return venue.peer.message(message.msg_type, body, seq=message.seq, header=_POSS_DUP)


def _report(venue: RawVenue, cl_ord_id: bytes, exec_type: bytes, *, seq: int | None = None, **kw: object) -> bytes:
    return venue.peer.execution_report(cl_ord_id, exec_type, seq=seq, **kw)  # type: ignore[arg-type]


async def test_logon_numbered_too_high_when_venue_resends_up_to_just_before_it_then_up_and_reports_flow(
    venue: RawVenue, tmp_path: Path
) -> None:
    venue.logon_seq = 3  # 1 and 2 were lost; the Logon is 3
    side = await _gateway(venue, tmp_path)
    try:
        await wait_until(lambda: venue.messages(MsgType.RESEND_REQUEST), 15.0, "the gateway's ResendRequest")
        (asked,) = venue.messages(MsgType.RESEND_REQUEST)
        assert (asked.get(b"7"), asked.get(b"16")) == (b"1", b"0")
        assert side.venue.state is VenueState.LOGGING_IN
        # the venue resends 1..2 and stops before its Logon (3): a gap fill over 1, a Heartbeat copy as 2
        venue.send(venue.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"2")], seq=1, header=_POSS_DUP))
        venue.send(venue.peer.message(MsgType.HEARTBEAT, seq=2, header=_POSS_DUP))
        await wait_until(lambda: side.venue.state is VenueState.UP, 15.0, "the session to be UP")
        cl_ord_id = side.send(make_order(7)).encode()
        await wait_until(lambda: venue.messages(MsgType.NEW_ORDER_SINGLE), 15.0, "the order at the venue")
        venue.peer.next_seq = 4
        venue.send(_report(venue, cl_ord_id, b"0"))
        await side.wait_events(1, 15.0)
        assert [type(e) for e in side.events] == [VenueAccepted]
        assert side.venue.session.next_target_seq == 5
        assert venue.messages(MsgType.REJECT) == [] and venue.messages(MsgType.LOGOUT) == []
    finally:
        await side.connector.stop()
        side.venue.close()


async def test_resend_request_numbered_too_high_when_venue_resends_only_below_it_then_later_fills_delivered(
    venue: RawVenue, tmp_path: Path
) -> None:
    side = await _gateway(venue, tmp_path)
    try:
        await wait_until(lambda: side.venue.state is VenueState.UP, 15.0, "the session to be UP")
        cl_ord_id = side.send(make_order(7)).encode()
        await wait_until(lambda: venue.messages(MsgType.NEW_ORDER_SINGLE), 15.0, "the order at the venue")
        ack = _report(venue, cl_ord_id, b"0", seq=2)  # lost on the way
        venue.peer.next_seq = 3
        venue.send(venue.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"1"), (b"16", b"0")]))  # 3, answered at once
        await wait_until(lambda: venue.messages(MsgType.RESEND_REQUEST), 15.0, "the gateway's ResendRequest")
        (asked,) = venue.messages(MsgType.RESEND_REQUEST)
        assert (asked.get(b"7"), asked.get(b"16")) == (b"2", b"0")
        assert venue.messages(MsgType.SEQUENCE_RESET)  # the venue's ResendRequest was answered (our Logon gap-filled)
        # the venue resends 2 only (3 was its ResendRequest), then a fill follows as 4
        venue.send(_copy(venue, ack))
        await side.wait_events(1, 15.0)
        venue.send(_report(venue, cl_ord_id, b"1", ord_status=b"1", last_qty=40, last_px=b"150.25", leaves=60, cum=40))
        await side.wait_events(2, 15.0)
        assert [type(e) for e in side.events] == [VenueAccepted, VenueExecuted]
        assert side.venue.session.next_target_seq == 5
        assert side.venue.state is VenueState.UP
    finally:
        await side.connector.stop()
        side.venue.close()
