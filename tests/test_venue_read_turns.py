"""One long venue read is taken a part per loop turn, other sockets served in between (fairvenue57).

rev57strat F2: one strategy's MassCancel over ~12,100 resting OUCH orders brought the venue's ~12,100 Order Canceled
back in one read (up to 256 KiB), handed to the adapter in 8 KiB slices but all in one loop turn: another strategy's
request the gateway answers itself waited 84-194 ms. Now the rest of a long read is kept (the venue socket not read
meanwhile) and taken on later turns. Real TCP connections on loopback, a recording adapter: every byte reaches the
adapter once, in order, also when the connection drops or the connector stops with a rest kept; a fault in a slice
drops the rest as before; the poll timer never judges the venue while its bytes are here unread. Counted, not timed.
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
from collections.abc import Callable
from typing import Any

import pytest

from tests.harness import ScriptedVenue
from venues import connector as venue_connector
from venues.connector import BATCH_BYTES, VenueConnector

pytestmark = pytest.mark.timeout(30)

BURST = bytes(range(251)) * (8 * BATCH_BYTES // 251 + 1)  # 9 slices: more than 2 turns, one read (< 256 KiB)


class _Venue(ScriptedVenue):
    """Records what it is handed, slice by slice, into a timeline shared with the other socket."""

    def __init__(self, timeline: list[Any]) -> None:
        super().__init__("V1")
        self.timeline = timeline
        self.read = bytearray()
        self.slices = 0
        self.fail_at = 0
        """The slice (1-based) whose reading raises; 0: none."""
        self.on_slice: Callable[[int], None] | None = None
        self.polls: list[int] = []
        """Bytes read when each poll ran."""
        self.poll_ns = 1_000_000_000

    def connection_made(self, now_ns: int) -> None:
        self.timeline.append("made")

    def data_received(self, data: bytes, now_ns: int) -> None:
        self.slices += 1
        if self.slices == self.fail_at:
            raise RuntimeError("injected fault reading a slice")
        self.read += data
        self.timeline.append(("venue", len(self.read)))
        if self.on_slice is not None:
            self.on_slice(self.slices)

    def connection_lost(self, now_ns: int) -> None:
        self.timeline.append(("lost", len(self.read)))

    def poll(self, now_ns: int) -> int:
        self.polls.append(len(self.read))
        return self.poll_ns


class _Other(asyncio.Protocol):
    """Another connection of the gateway's (a strategy): notes in the timeline when it is served."""

    def __init__(self, timeline: list[Any]) -> None:
        self.timeline = timeline

    def data_received(self, data: bytes) -> None:
        self.timeline.append("other")


def _unread(sock: Any) -> int:
    return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0])


async def _until(condition: Callable[[], object], what: str, rounds: int = 50_000) -> None:
    """Let the loop turn until ``condition`` holds (each round one iteration, no sleep)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"timed out waiting for {what}")


class _Rig:
    """A venue server on loopback, a connector with a recording adapter, and another socket on the same loop."""

    def __init__(self) -> None:
        self.timeline: list[Any] = []
        self.venue = _Venue(self.timeline)
        self.faults: list[str] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.AbstractServer | None = None
        self.connector: VenueConnector | None = None
        self.other_socks: tuple[socket.socket, socket.socket] | None = None

    async def start(self) -> VenueConnector:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)

        self.server = await asyncio.start_server(accepted, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        connector = self.connector = VenueConnector(self.venue, "127.0.0.1", port, after_input=lambda: None)
        connector.on_fault = lambda where, exc: self.faults.append(str(exc))
        connector.start()
        await _until(lambda: self.writers and connector.sock is not None, "the venue connection")
        ours, theirs = socket.socketpair()
        self.other_socks = (ours, theirs)
        await asyncio.get_running_loop().create_unix_connection(lambda: _Other(self.timeline), sock=theirs)
        return connector

    async def burst(self, data: bytes) -> None:
        """Have the venue's ``data`` arrive as one read: written while the connection is not read, then read."""
        connector = self.connector
        assert connector is not None and connector._transport is not None
        connector._transport.pause_reading()
        self.writers[0].write(data)
        await self.writers[0].drain()
        await _until(lambda: _unread(connector.sock) == len(data), "the burst in the socket buffer")
        connector._transport.resume_reading()

    def poke_other(self) -> None:
        """Another connection's bytes arrive (read on a later loop turn)."""
        assert self.other_socks is not None
        self.other_socks[0].send(b"x")

    async def close(self) -> None:
        if self.connector is not None:
            await self.connector.stop()
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
        if self.other_socks is not None:
            for sock in self.other_socks:
                sock.close()


def _venue_marks(timeline: list[Any]) -> list[int]:
    return [entry[1] for entry in timeline if isinstance(entry, tuple) and entry[0] == "venue"]


async def test_long_venue_read_then_another_connection_served_between_its_turns_and_every_byte_once_in_order() -> None:
    rig = _Rig()
    try:
        connector = await rig.start()
        rig.venue.on_slice = lambda n: rig.poke_other() if n == 1 else None
        await rig.burst(BURST)
        await _until(lambda: len(rig.venue.read) == len(BURST) and "other" in rig.timeline, "the read and the other")
        assert bytes(rig.venue.read) == BURST  # every byte once, in order
        at = rig.timeline.index("other")
        before = [e for e in rig.timeline[:at] if isinstance(e, tuple) and e[0] == "venue"]
        after = [e for e in rig.timeline[at:] if isinstance(e, tuple) and e[0] == "venue"]
        # before the fix: all 9 slices in one loop turn, the other connection served after them (after == [])
        assert after, rig.timeline
        assert len(before) <= 2 * venue_connector.READ_TURN_BYTES // BATCH_BYTES, (
            rig.timeline
        )  # within two turns of the read
        assert all(
            mark - prev <= BATCH_BYTES
            for prev, mark in zip([0, *_venue_marks(rig.timeline)], _venue_marks(rig.timeline), strict=False)
        )
        # the socket is read again after the rest: the venue's next bytes come after the whole burst
        rig.writers[0].write(b"next")
        await _until(lambda: len(rig.venue.read) == len(BURST) + 4, "the next read")
        assert bytes(rig.venue.read[-4:]) == b"next"
        assert connector.protocol is not None and not connector.protocol.rest_kept()
        assert not rig.faults
    finally:
        await rig.close()


async def test_short_venue_read_then_taken_in_its_turn_as_before() -> None:
    rig = _Rig()
    try:
        connector = await rig.start()
        data = BURST[: venue_connector.READ_TURN_BYTES - 10]  # two slices, one turn: nothing kept
        rig.venue.on_slice = lambda n: rig.poke_other() if n == 1 else None
        await rig.burst(data)
        await _until(lambda: len(rig.venue.read) == len(data) and "other" in rig.timeline, "the read and the other")
        assert rig.timeline.index("other") > rig.timeline.index(("venue", len(data)))
        assert connector.protocol is not None and not connector.protocol.rest_kept()
    finally:
        await rig.close()


@pytest.mark.parametrize("how", ["disconnect", "stop"])
async def test_connection_ends_while_rest_kept_then_rest_read_before_the_loss_once_in_order(how: str) -> None:
    rig = _Rig()
    try:
        connector = await rig.start()
        await rig.burst(BURST)
        protocol = connector.protocol
        await _until(lambda: protocol is not None and protocol.rest_kept(), "a rest kept")
        assert len(rig.venue.read) < len(BURST)
        if how == "disconnect":
            connector.disconnect()
            await _until(lambda: any(isinstance(e, tuple) and e[0] == "lost" for e in rig.timeline), "the loss")
        else:
            await asyncio.wait_for(connector.stop(), 10)
        assert bytes(rig.venue.read) == BURST
        assert rig.timeline[-1] == ("lost", len(BURST)), rig.timeline  # after every byte, nothing after it
        for _ in range(20):  # the turn scheduled before the loss finds nothing
            await asyncio.sleep(0)
        assert bytes(rig.venue.read) == BURST and rig.timeline[-1] == ("lost", len(BURST))
    finally:
        await rig.close()


async def test_fault_in_a_later_turns_slice_then_rest_dropped_connection_dropped_as_before() -> None:
    rig = _Rig()
    try:
        await rig.start()
        rig.venue.fail_at = 2 * venue_connector.READ_TURN_BYTES // BATCH_BYTES  # the last slice of the second turn
        await rig.burst(BURST)
        await _until(
            lambda: rig.faults and any(isinstance(e, tuple) and e[0] == "lost" for e in rig.timeline), "the loss"
        )
        good = (rig.venue.fail_at - 1) * BATCH_BYTES
        assert bytes(rig.venue.read) == BURST[:good]  # the slices before the fault, once; the rest dropped
        assert rig.faults == ["injected fault reading a slice"]
        assert rig.timeline[-1] == ("lost", good)
    finally:
        await rig.close()


async def test_poll_due_while_rest_kept_then_it_runs_once_the_read_is_all_taken() -> None:
    rig = _Rig()
    rig.venue.poll_ns = 0  # the poll is due at every loop turn
    try:
        connector = await rig.start()
        await rig.burst(BURST)
        await _until(lambda: len(rig.venue.read) == len(BURST), "the read")
        await _until(lambda: rig.venue.polls[-1] == len(BURST), "a poll after the read")
        # never judged with the venue's bytes here unread: each poll saw none of the burst or all of it
        assert set(rig.venue.polls) == {0, len(BURST)}, sorted(set(rig.venue.polls))
        assert connector.protocol is not None and not connector.protocol.rest_kept()
    finally:
        await rig.close()


async def test_venue_keeps_its_socket_full_then_the_poll_still_runs_between_its_reads() -> None:
    """rev57merge5 HIGH: a venue that keeps the socket full (a flood, a long replay) starved the poll under uvloop.

    fairvenue57 ran the waiting poll with ``call_soon`` once a long read was all taken; uvloop runs that after its
    next I/O poll, when a new long read had kept a rest again, so the poll waited again for as long as the venue sent:
    no heartbeat for 23.6 s against a 1 s interval (a SoupBinTCP server drops a silent client after ~15 s). Now the
    waiting poll runs as the read is all taken, before the socket is read again. Counted by the bytes read, not timed.
    """
    timeline: list[Any] = []
    venue = _Venue(timeline)
    venue.poll_ns = 1_000_000  # due 1 ms after each poll: it waits behind every long read
    flood = 48 << 20
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    connector = VenueConnector(venue, "127.0.0.1", port, after_input=lambda: None)
    connector.start()
    loop = asyncio.get_running_loop()
    conn, _ = await loop.run_in_executor(None, listener.accept)
    try:
        await _until(lambda: connector.sock is not None, "the venue connection")
        before = len(venue.polls)

        def keep_full() -> None:  # another thread, as a venue host: the socket buffer never drains
            chunk = bytes(range(256)) * 1024
            for _ in range(flood // len(chunk)):
                conn.sendall(chunk)

        sending = loop.run_in_executor(None, keep_full)
        while len(venue.read) < flood:
            await asyncio.sleep(0.01)
        await sending
        during = [read for read in venue.polls[before:] if read < flood]
        # before the fix: 0 to 2 polls while 48 MB were read (each one waiting behind the next long read)
        assert len(during) >= 10, (len(during), len(venue.polls))
    finally:
        await connector.stop()
        conn.close()
        listener.close()
