"""Regression (faults14): a request still unanswered when an OUCH venue ended its session never got an answer.

The venue here is written from ``../shared/specs/ouch50-soupbintcp.md`` alone: SoupBinTCP 3.00 over a real
loopback socket, Login Accepted, a Server Heartbeat, then End of Session (``Z``) in place of an answer to the
first Enter Order. End of Session says no more messages will be added to the session, and SoupBinTCP's
stream is ordered: an answer the venue had produced would have come before the ``Z``. The request was not
processed and never will be, so the strategy must get its one answer (a reject) instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import struct

from gateway.app import GatewayProcess
from model.venue_events import VenueState
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for
from tests.rawclient import NEW_ORDER, ORDER_REJECTED, VENUE_STATUS, RawClient, frame

RESTING = 2_290_000  # 229.00, inside the example limits' collar around AAPL's 230.10


class EndingVenue:
    """Log in anyone, then end the session instead of answering the first Unsequenced Data packet."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.enters = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack(">H", await reader.readexactly(2))
                packet = await reader.readexactly(length)
                if packet[:1] == b"L":  # Login Request: session 'SESSION1', next sequence 1
                    accepted = b"A" + b"SESSION1".rjust(10) + b"1".rjust(20)
                    writer.write(struct.pack(">H", len(accepted)) + accepted + b"\x00\x01H")
                elif packet[:2] == b"UO":  # Enter Order: the session ends before it is processed
                    self.enters += 1
                    writer.write(b"\x00\x01Z")
                    await writer.drain()
                    writer.close()
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def test_end_of_session_when_an_enter_order_is_unanswered_then_the_strategy_gets_a_reject() -> None:
    venue = EndingVenue()
    port = await venue.start()
    workdir = short_tmp()
    config = gateway_config(workdir, port, e2e_limits(workdir, ("S1", "S2")))
    process = GatewayProcess(config)
    try:
        await process.start()
        await wait_for(lambda: process.venues[0].state is VenueState.UP, what="venue UP")
        client = await RawClient(str(config.path(config.strategy_socket))).connect()
        await client.hello("S1", version=2, heartbeat_ms=30_000)
        await client.send(frame(NEW_ORDER, "E1", "ACC1", "OUCH", "AAPL", "B", 100, RESTING, "0", "2", 0))
        await wait_for(lambda: process.venues[0].state is VenueState.ENDED, what="venue ENDED")
        answers: list[list[object]] = []
        while not answers:  # VenueStatus frames come too; a missing answer times out here
            answers = [m for m in await client.read(1, timeout_s=15) if m[0] != VENUE_STATUS]
        assert venue.enters == 1
        assert [(m[0], m[2], m[3], m[4]) for m in answers] == [(ORDER_REJECTED, "E1", "VENUE", "OUCH_SESSION_ENDED")]
        client.close()
    finally:
        await process.stop()
        await venue.stop()
