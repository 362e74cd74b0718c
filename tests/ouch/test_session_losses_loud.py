"""rev50ouch s14, s6 G4: what a venue's session loses or sends outside its sequence is loud and counted per venue.

A scripted SoupBinTCP venue on real loopback sockets (written from the spec, not the project's simulator): the
second login asks for sequence 2 and is accepted from 4 (messages 2 and 3, fills, are lost: an ERROR naming the
numbers and telling ops to reconcile, ``sequence_gaps``); an Unsequenced Data packet carrying an Executed and a
Debug packet are counted (a WARNING for the first), and every one of those counters reaches ``gateway metrics``
with the venue's label.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import pytest

from tests.metrics_text import venue_metrics_text
from tests.ouch.harness import PX, TS
from tests.ouch.test_late_fill_released import Gateway, wait_until
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderExecuted, SystemEvent
from venues.ouch.soupbin import (
    SERVER_HEARTBEAT_PACKET,
    encode_debug,
    encode_login_accepted,
    encode_sequenced,
    encode_unsequenced,
)


class ScriptedVenue:
    """Answer each connection's Login Request with the next scripted bytes, then heartbeat until closed."""

    def __init__(self, scripts: list[bytes], *, close_after: tuple[int, ...] = ()) -> None:
        self.scripts = scripts
        self.close_after = close_after
        """Connections (0: the first) closed right after their script."""
        self.logins: list[tuple[str, int]] = []
        """(session, sequence) each Login Request asked for."""
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> ScriptedVenue:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        try:
            (length,) = struct.unpack(">H", await reader.readexactly(2))
            login = await reader.readexactly(length)
            assert login[:1] == b"L", login
            # SoupBinTCP 4.x: type, username 6, password 10, session 10, sequence 20 (then the heartbeat timeout)
            self.logins.append((login[17:27].decode().strip(), int(login[27:47].decode().strip() or 0)))
            writer.write(self.scripts.pop(0) if self.scripts else b"")
            if len(self.logins) - 1 in self.close_after:
                await writer.drain()
                return
            while not reader.at_eof() and not self.stopping and not writer.is_closing():
                writer.write(SERVER_HEARTBEAT_PACKET)
                await asyncio.sleep(0.1)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def drop(self) -> None:
        """Close the current connection (the gateway logs in again)."""
        self.writers[-1].close()

    async def stop(self) -> None:
        self.stopping = True
        for writer in self.writers:
            writer.close()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 5)
        if self.server is not None:
            self.server.close()


def _executed(urn: int, qty: int, match: int) -> bytes:
    return encode_message(OrderExecuted(TS, urn, qty, PX, "A", match))


def _metrics_text(gw: Gateway) -> str:
    return venue_metrics_text(gw.venue.name, gw.venue.session_counters(), gw.engine.latency.snapshot())


async def test_login_accepted_above_the_sequence_asked_when_fills_are_lost_then_error_names_them_and_metric_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = await ScriptedVenue(
        [
            encode_login_accepted("SESS01", 1) + encode_sequenced(encode_message(SystemEvent(TS, "S"))),
            encode_login_accepted("SESS01", 4),  # 2 and 3 (fills) are gone: the venue cannot replay them
        ]
    ).start()
    gw = await Gateway(venue, tmp_path).start()  # type: ignore[arg-type]  # duck-typed: it needs only .port
    try:
        await wait_until(lambda: gw.venue.status()["next_sequence"] == 2, "the first message read")
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            venue.drop()
            await wait_until(lambda: len(venue.logins) == 2 and gw.venue.status()["sequence_gaps"] == 1, "the gap")
        assert venue.logins[1] == ("SESS01", 2)
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "REPLAY GAP" in r.message]
        assert len(errors) == 1, [r.getMessage() for r in caplog.records]
        assert "messages 2..3 (2) cannot be recovered" in errors[0]
        assert "reconcile with the venue desk" in errors[0]
        counters = gw.venue.session_counters()
        assert counters["sequence_gaps"] == 1
        assert counters["protocol_errors"] == 1
        text = _metrics_text(gw)
        assert f'gateway_venue_sequence_gaps_total{{venue="{gw.venue.name}"}} 1.0' in text
        assert f'gateway_venue_refetches_given_up_total{{venue="{gw.venue.name}"}} 0.0' in text
        assert f'gateway_venue_protocol_errors_total{{venue="{gw.venue.name}"}} 1.0' in text
    finally:
        await gw.stop()
        await venue.stop()


async def test_unsequenced_data_and_debug_packets_when_the_venue_sends_them_then_warned_counted_and_exported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = await ScriptedVenue(
        [
            encode_login_accepted("SESS01", 1)
            + encode_debug(b"hello")
            + encode_unsequenced(_executed(1, 100, 77))
            + encode_unsequenced(_executed(1, 100, 78))
        ]
    ).start()
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        gw = await Gateway(venue, tmp_path).start()  # type: ignore[arg-type]
        try:
            await wait_until(lambda: gw.venue.session_counters()["unsequenced_ignored"] == 2, "the packets read")
            warnings = [r.getMessage() for r in caplog.records if "Unsequenced Data packet" in r.message]
            assert len(warnings) == 2, warnings  # the 1st and 2nd of their kind (then the 4th, 8th...)
            assert warnings[0].startswith(f"venue {gw.venue.name}: Unsequenced Data packet (")
            assert "ignored" in warnings[0]
            assert "reconcile with the venue desk" in warnings[0]
            assert "45 " in warnings[0]  # 'E' (0x45), the Executed's type byte, among the bytes quoted
            counters = gw.venue.session_counters()
            assert (counters["unsequenced_ignored"], counters["debug_packets"]) == (2, 1)
            status = gw.venue.status()
            assert (status["unsequenced_ignored"], status["debug_packets"]) == (2, 1)
            text = _metrics_text(gw)
            assert f'gateway_venue_unsequenced_ignored_total{{venue="{gw.venue.name}"}} 2.0' in text
            assert f'gateway_venue_debug_packets_total{{venue="{gw.venue.name}"}} 1.0' in text
            assert f'gateway_venue_decode_errors_total{{venue="{gw.venue.name}"}} 0.0' in text
        finally:
            await gw.stop()
            await venue.stop()


async def test_a_reply_that_is_not_soupbintcp_when_the_server_closes_before_login_accepted_then_warned_with_its_bytes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = await ScriptedVenue(
        [b"HTTP/1.1 400 Bad Request\r\n\r\n", encode_login_accepted("SESS01", 1)], close_after=(0,)
    ).start()
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        gw = await Gateway(venue, tmp_path).start()  # type: ignore[arg-type]  # UP at the second connection
        try:
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert len(venue.logins) == 2
            assert any(
                "before a Login Accepted after 28 bytes that are not a whole SoupBinTCP packet" in text
                and "HTTP/1.1 400 Bad Request" in text
                for text in warnings
            ), warnings
        finally:
            await gw.stop()
            await venue.stop()
