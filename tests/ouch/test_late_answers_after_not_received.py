"""rev50ouch s11: a late answer for a request the gateway had already reported ``OUCH_NOT_RECEIVED``.

A scripted SoupBinTCP venue on real loopback sockets takes the Enter (or the Replace), does not answer it, drops
the connection, and at the next login has nothing to replay and a NextUserRefNum above the request's number. Then
the venue answers it after all:

* an Enter (fixdoubt52, rev52ouch E0): NextUserRefNum above its number means the venue took it, so it is in doubt
  (``OrderAccepted``, canceled at the venue), never "not received"; the late Accepted and fill reach the order;
* a Replace (ouchend56, venues56): likewise in doubt, ``CancelRejected`` ``OUCH_IN_DOUBT`` (before,
  ``OUCH_NOT_RECEIVED`` "the venue never received it"); the venue's late Order Replaced: the strategy gets
  ``Replaced`` with the venue's size and price (after its ``CancelRejected``), and the order's numbers follow.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import pytest

from gateway.protocol.messages import (
    Cancel,
    CancelRejected,
    Executed,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    Replace,
    Replaced,
)
from model.enums import Side
from model.order import OrderState
from tests.ouch.harness import PX, TS
from tests.ouch.test_late_fill_released import Gateway, wait_until
from venues.ouch.codec import encode_message
from venues.ouch.messages import AccountQueryResponse, OrderExecuted, OrderReplaced
from venues.ouch.messages import OrderAccepted as OuchAccepted
from venues.ouch.soupbin import SERVER_HEARTBEAT_PACKET, encode_login_accepted, encode_sequenced


class InteractiveVenue:
    """A SoupBinTCP server the test drives: Login Accepted from ``next_seq``, heartbeats, messages on demand."""

    def __init__(self) -> None:
        self.inbound: list[bytes] = []
        """Every Unsequenced Data message the gateway sent (OUCH inbound messages), in order."""
        self.next_seq = 1
        self.next_user_ref_num = 1
        self.writer: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.answer_queries = True
        self.session = "SESS01"
        """The session the next Login Accepted names (whatever the login asked for)."""

    async def start(self) -> InteractiveVenue:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def send(self, message: bytes) -> None:
        """Send one sequenced OUCH message (numbered ``next_seq``)."""
        assert self.writer is not None
        self.writer.write(encode_sequenced(message))
        self.next_seq += 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        self.writer = writer
        beat = asyncio.get_running_loop().create_task(self._beat(writer))
        try:
            while True:
                (length,) = struct.unpack(">H", await reader.readexactly(2))
                packet = await reader.readexactly(length)
                if packet[:1] == b"L":
                    writer.write(encode_login_accepted(self.session, self.next_seq))
                elif packet[:1] == b"U":
                    message = packet[1:]
                    self.inbound.append(message)
                    if message[:1] == b"Q" and self.answer_queries:
                        self.send(encode_message(AccountQueryResponse(TS, self.next_user_ref_num)))
                    elif message[:1] == b"O":
                        self.next_user_ref_num = struct.unpack(">I", message[1:5])[0] + 1
                    elif message[:1] == b"U":
                        self.next_user_ref_num = struct.unpack(">I", message[5:9])[0] + 1
                elif packet[:1] == b"O":  # Logout Request
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            beat.cancel()
            writer.close()

    async def _beat(self, writer: asyncio.StreamWriter) -> None:
        while not writer.is_closing():
            writer.write(SERVER_HEARTBEAT_PACKET)
            await asyncio.sleep(0.1)

    def drop(self) -> None:
        assert self.writer is not None
        self.writer.close()

    async def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 5)
        if self.server is not None:
            self.server.close()


def _types(venue: InteractiveVenue, first: int = 0) -> list[tuple[str, int]]:
    return [(m[:1].decode(), struct.unpack(">I", m[1:5])[0] if len(m) >= 5 else 0) for m in venue.inbound[first:]]


async def _unanswered_then_not_received(venue: InteractiveVenue, gw: Gateway, what: str, counter: str) -> None:
    """Drop the connection with the last request unanswered; the next login reports it (``counter``: how)."""
    logins = gw.venue.status()["logins"]
    venue.drop()
    await wait_until(lambda: gw.venue.status()["logins"] == logins + 1, "the next login")  # type: ignore[operator]
    await wait_until(lambda: gw.venue.status()[counter] == 1, f"the {what} reported ({counter})")


async def test_an_enter_the_venue_took_but_did_not_answer_before_a_drop_when_it_answers_late_then_in_doubt_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev52ouch E0: NextUserRefNum above the Enter's number means the venue took it: in doubt, not "never received".

    Before fixdoubt52 the strategy got ``OrderRejected`` ``OUCH_NOT_RECEIVED``, then the venue's late Accepted and
    Executed: an Executed after the terminal reject (counted ``live_after_end``). Now the Enter is answered
    ``OrderAccepted`` (in doubt) and canceled at the venue by its UserRefNum; the late Accepted settles it and its fill
    fills the order.
    """
    venue = await InteractiveVenue().start()
    gw = await Gateway(venue, tmp_path).start()  # type: ignore[arg-type]  # duck-typed: it needs only .port
    try:
        link = gw.rig.connect("S1")
        gw.send(link, NewOrder("a1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
        await wait_until(lambda: any(m[:1] == b"O" for m in venue.inbound), "the Enter at the venue")
        order = gw.rig.order("S1", "a1")
        urn = int(order.venue_ref)
        logins = gw.venue.status()["logins"]
        sent = len(venue.inbound)
        with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
            venue.drop()
            await wait_until(lambda: gw.venue.status()["logins"] == logins + 1, "the next login")  # type: ignore[operator]
            await wait_until(lambda: ("X", urn) in _types(venue, sent), "the Cancel Order of the Enter in doubt")
        assert venue.next_user_ref_num == urn + 1  # the venue's NextUserRefNum: it took this very number
        status = gw.venue.status()
        assert (status["not_received"], status["in_doubt"]) == (0, 1)
        assert order.state is OrderState.LIVE
        answers = [m for m in link.received() if isinstance(m, OrderAccepted | OrderRejected)]
        assert [(type(m).__name__, m.cl_ord_id) for m in answers] == [("OrderAccepted", "a1")]
        assert any("NextUserRefNum" in r.getMessage() and "in doubt" in r.getMessage() for r in caplog.records)
        venue.send(
            encode_message(OuchAccepted(TS, urn, "B", 100, "AAPL", PX - 100, "0", "Y", 7001, "A", "N", "N", "L", "a1"))
        )
        venue.send(encode_message(OrderExecuted(TS, urn, 100, PX - 100, "A", 9001)))
        await wait_until(lambda: order.state is OrderState.FILLED, "the late fill applied")
        tail = [m for m in link.received() if isinstance(m, Executed | OrderAccepted | OrderRejected)]
        assert [(type(m).__name__, m.qty, m.cum_qty, m.leaves_qty) for m in tail] == [  # type: ignore[union-attr]
            ("Executed", 100, 100, 0)  # no second answer
        ]
        assert gw.venue.status()["live_after_end"] == 0
        assert not [r for r in caplog.records if "out of place" in r.getMessage()]
    finally:
        await gw.stop()
        await venue.stop()


async def test_a_late_order_replaced_when_the_replace_the_venue_took_was_in_doubt_then_the_strategy_told_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = await InteractiveVenue().start()
    gw = await Gateway(venue, tmp_path).start()  # type: ignore[arg-type]
    try:
        link = gw.rig.connect("S1")
        gw.send(link, NewOrder("b1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, PX - 100))
        await wait_until(lambda: any(m[:1] == b"O" for m in venue.inbound), "the Enter at the venue")
        order = gw.rig.order("S1", "b1")
        first = int(order.venue_ref)
        venue.send(
            encode_message(
                OuchAccepted(TS, first, "B", 100, "AAPL", PX - 100, "0", "Y", 7002, "A", "N", "N", "L", "b1")
            )
        )
        await wait_until(lambda: order.state is OrderState.LIVE, "the acknowledgment")
        gw.send(link, Replace("b1", 60, PX - 200))
        await wait_until(lambda: any(m[:1] == b"U" for m in venue.inbound), "the Replace at the venue")
        second = struct.unpack(">I", next(m for m in venue.inbound if m[:1] == b"U")[5:9])[0]
        await _unanswered_then_not_received(venue, gw, "Replace", "in_doubt")
        seen = [m for m in link.received() if isinstance(m, CancelRejected | Replaced)]
        assert [(type(m).__name__, m.code) for m in seen] == [("CancelRejected", "OUCH_IN_DOUBT")]  # type: ignore[union-attr]
        assert gw.venue.status()["not_received"] == 0  # old: 1, "the venue never received it"
        assert (order.qty, order.price) == (100, PX - 100)
        with caplog.at_level(logging.WARNING):
            venue.send(
                encode_message(
                    OrderReplaced(
                        TS, first, second, "B", 60, "AAPL", PX - 200, "0", "Y", 7003, "A", "N", "N", "L", "b1"
                    )
                )
            )
            await wait_until(lambda: order.price == PX - 200, "the late Replaced applied")
        assert (order.qty, order.leaves_qty, order.price, order.venue_ref) == (60, 60, PX - 200, str(second))
        tail = [m for m in link.received() if isinstance(m, CancelRejected | Replaced)]
        assert [type(m).__name__ for m in tail] == ["Replaced"]  # after its CancelRejected
        assert (tail[0].qty, tail[0].price, tail[0].leaves_qty) == (60, PX - 200, 60)  # type: ignore[union-attr]
        assert gw.venue.status()["replaced_after_reject"] == 1
        assert any("a replace answered in doubt" in r.getMessage() for r in caplog.records)
        sent = len(venue.inbound)
        gw.send(link, Cancel("b1"))
        await wait_until(lambda: ("X", second) in _types(venue, sent), "the Cancel naming the new number")
    finally:
        await gw.stop()
        await venue.stop()
