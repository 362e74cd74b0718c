"""A far replay rebuilt from the journal a chunk at a time as the strategy reads it (replay41), over real sockets.

Count-based only (never timing). The events of a replay alive at once (rebuilt from the journal and not yet
written to the strategy) are counted at every event the read rebuilds: bounded by about two chunks, whatever
the replay's length; before replay41 they were all rebuilt before the Welcome. Also: complete, once, in order;
requests behind the Hello and new events come after it, numbered as before; a close mid-replay cancels the read;
an incomplete journal is refused before the Welcome (first pass), and a journal that breaks during the second
pass ends the connection with a fatal REPLAY_UNAVAILABLE after the valid events already written.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.app import LoopReplayReader, ThreadReplayReader, _loop_scheduler
from gateway.engine import REPLAY_CHUNK_EVENTS, REPLAY_RESUME_EVENTS, Engine
from gateway.journal import FileJournal
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Error,
    Executed,
    Hello,
    NewOrder,
    OrderAccepted,
    VenueStatus,
    Welcome,
)
from gateway.replay import STEP_RECORDS, ReplayJob, ReplayRunner
from gateway.server import start_strategy_server
from model.enums import Side
from tests.harness import Rig, journaling_rig, open_fds_on, trade_filled

ORDERS = 10_000
"""Two events each: a replay of about ten chunks."""
BOUND = REPLAY_RESUME_EVENTS + REPLAY_CHUNK_EVENTS + 2 * STEP_RECORDS
"""The most events of a replay alive at once: what is left of a chunk when the next is asked for, the next
chunk, and the step that completes it (a venue event can rebuild two)."""


class _AliveCounter:
    """Count, at every event a replay read keeps, the events kept and not yet written to the strategy."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kept = 0
        self.peak = 0
        original = ReplayJob._take

        def take(job: ReplayJob, event: Any) -> None:
            before = len(job.events)
            original(job, event)
            if len(job.events) > before:
                self.kept += 1
                written = sum(stream.next_older for stream in list(engine._replays.values()))
                self.peak = max(self.peak, self.kept - written)

        monkeypatch.setattr(ReplayJob, "_take", take)


def _rig_with_history(tmp_path: Path) -> tuple[Rig, int]:
    """Return a rig whose S1 traded ``ORDERS`` filled orders and has one order open; its id."""
    rig = journaling_rig(tmp_path / "j")
    s1 = rig.connect("S1", uid=os.getuid())
    trade_filled(rig, s1, "ACC1", ORDERS)
    s1.req_seq = ORDERS
    rig.new_order(s1, "open")
    open_id = rig.engine.next_order_id - 1
    rig.venue.accept(open_id, 1_000_000)
    rig.engine.flush()
    rig.engine.link_closed(s1)
    return rig, open_id


def _reader(engine: Engine, mode: str) -> ReplayRunner:
    loop = asyncio.get_running_loop()
    runner = ReplayRunner()
    engine.replay_reader = LoopReplayReader(loop, runner) if mode == "loop" else ThreadReplayReader(loop, runner)
    engine.replay_scheduler = _loop_scheduler(loop)
    return runner


async def _until(condition: object, rounds: int = 10_000) -> None:
    for _ in range(rounds):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


class _Client:
    """A strategy over a real Unix socket that reads a little at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.messages: list[Any] = []
        self.eof = False
        self._splitter = FrameSplitter()

    async def read_until(self, done: Any, size: int = 16_384) -> None:
        while not done(self.messages):
            data = await self.reader.read(size)
            if not data:
                self.eof = True
                return
            self.messages.extend(gateway_message_decoder.decode(f) for f in self._splitter.feed(data))
            await asyncio.sleep(0)

    def events(self) -> list[Any]:
        return [m for m in self.messages if isinstance(m, (OrderAccepted, Executed))]


@pytest.mark.parametrize("mode", ["loop", "thread"])
async def test_a_far_replay_of_many_chunks_keeps_about_two_chunks_alive_and_arrives_complete_in_order_once(
    tmp_path: Path, sock_dir: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, open_id = _rig_with_history(tmp_path)
    engine = rig.engine
    st = engine.strategies["S1"]
    total = st.next_seq - 1
    assert total == 2 * ORDERS + 1 and total - st.events_base < 1_000  # nearly all of it only in the journal
    runner = _reader(engine, mode)
    alive = _AliveCounter(engine, monkeypatch)
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    try:
        client = _Client(*await asyncio.open_unix_connection(str(sock_dir / "s.sock")))
        behind = NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=ORDERS + 2)
        client.writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)) + encode_frame(behind))
        await asyncio.wait_for(client.read_until(lambda m: len(m) > 3 * REPLAY_CHUNK_EVENTS), 30)
        assert engine._replays and "late" not in st.orders  # mid-replay: the request behind the Hello waits
        rig.venue.fill(open_id, 100, 1_000_000)  # a new event for S1 while its replay is written
        engine.flush()
        await asyncio.wait_for(client.read_until(lambda m: any(isinstance(x, VenueStatus) for x in m)), 60)
        await _until(lambda: "late" in st.orders)
        rig.venue.accept(st.orders["late"].order_id, 1_000_000)
        engine.flush()
        await asyncio.wait_for(client.read_until(lambda m: len(client.events()) == total + 2), 10)
        welcome = client.messages[0]
        assert isinstance(welcome, Welcome) and welcome.replayed == total and welcome.next_seq == total + 1
        events = client.events()
        assert [e.seq for e in events] == list(range(1, total + 3))  # complete, once, in order
        status = next(i for i, m in enumerate(client.messages) if isinstance(m, VenueStatus))
        assert status == total + 1  # the venue states right after the replay, then what is new:
        assert isinstance(client.messages[status + 1], Executed) and client.messages[status + 1].seq == total + 1
        late = client.messages[status + 2]
        assert isinstance(late, OrderAccepted) and late.cl_ord_id == "late" and late.seq == total + 2
        assert not [m for m in client.messages if isinstance(m, Error)]
        assert alive.kept >= total - 1_000  # the journal's part was rebuilt (once: the first pass keeps none)
        assert alive.peak <= BOUND, alive.peak  # before replay41: every one of them at once
        assert runner.finished == 2 and runner.chunks >= (total - 1_000) // (REPLAY_CHUNK_EVENTS + 256)
        await _until(lambda: not engine._replays and st.replay_pending == 0 and runner.in_progress == 0)
        client.writer.close()
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("mode", ["loop", "thread"])
async def test_a_connection_closed_mid_replay_cancels_the_read_and_closes_the_journal(
    tmp_path: Path, sock_dir: Path, mode: str
) -> None:
    rig, _ = _rig_with_history(tmp_path)
    engine = rig.engine
    st = engine.strategies["S1"]
    runner = _reader(engine, mode)
    writing = len(open_fds_on(tmp_path / "j"))  # the journal's own
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    try:
        client = _Client(*await asyncio.open_unix_connection(str(sock_dir / "s.sock")))
        client.writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)))
        await asyncio.wait_for(client.read_until(lambda m: len(m) > 2 * REPLAY_CHUNK_EVENTS), 30)
        assert len(open_fds_on(tmp_path / "j")) == writing + 1
        (stream,) = engine._replays.values()
        assert stream.read is not None  # the second pass is still reading
        client.writer.close()
        await _until(lambda: not engine._replays and runner.in_progress == 0)
        assert runner.cancelled == 1 and st.replay_pending == 0 and st.link is None
        assert len(open_fds_on(tmp_path / "j")) == writing  # the read's file is closed
        # the next connection gets everything
        again = _Client(*await asyncio.open_unix_connection(str(sock_dir / "s.sock")))
        again.writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)))
        await asyncio.wait_for(again.read_until(lambda m: any(isinstance(x, VenueStatus) for x in m)), 60)
        assert [e.seq for e in again.events()] == list(range(1, st.next_seq))
        again.writer.close()
    finally:
        server.close()
        await server.wait_closed()


class _BreaksAfter:
    """A journal reader whose reads fail (an I/O error) once it returned ``records``: damage found mid-replay."""

    def __init__(self, real: Any, records: int) -> None:
        self.real = real
        self.left = records

    def read(self, *args: Any) -> Any:
        if self.left <= 0:
            raise OSError(errno.EIO, "Input/output error")
        batch = self.real.read(*args)
        self.left -= len(batch)
        return batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_a_journal_that_breaks_during_the_rebuild_ends_the_replay_after_valid_events_with_replay_unavailable(
    tmp_path: Path, sock_dir: Path
) -> None:
    rig, _ = _rig_with_history(tmp_path)
    engine = rig.engine
    st = engine.strategies["S1"]
    _reader(engine, "loop")
    journal = engine.journal
    assert isinstance(journal, FileJournal)
    real_reader = journal.reader
    opened: list[int] = []

    def second_breaks(start: int) -> Any:
        opened.append(start)
        reader = real_reader(start)
        return _BreaksAfter(reader, 8_000) if len(opened) == 2 else reader

    journal.reader = second_breaks  # type: ignore[method-assign]
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    try:
        client = _Client(*await asyncio.open_unix_connection(str(sock_dir / "s.sock")))
        client.writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)))
        await asyncio.wait_for(client.read_until(lambda m: isinstance(m[-1], Error) if m else False), 30)
        await asyncio.wait_for(client.read_until(lambda m: False), 5)  # then the gateway closes the connection
        assert client.eof
        welcome, *rest = client.messages
        assert isinstance(welcome, Welcome) and welcome.replayed == st.next_seq - 1  # the first pass found all
        error = rest[-1]
        events = rest[:-1]
        assert all(isinstance(e, (OrderAccepted, Executed)) for e in events)
        assert 0 < len(events) < welcome.replayed
        assert [e.seq for e in events] == list(range(1, len(events) + 1))  # valid, in order, no gap
        assert isinstance(error, Error) and error.code == "REPLAY_UNAVAILABLE" and error.fatal
        assert f"after seq {len(events)} " in error.text and "Input/output error" in error.text
        await _until(lambda: st.link is None and not engine._replays and st.replay_pending == 0)
        # reconnecting with the last event received gets the rest
        again = _Client(*await asyncio.open_unix_connection(str(sock_dir / "s.sock")))
        again.writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, len(events))))
        await asyncio.wait_for(again.read_until(lambda m: any(isinstance(x, VenueStatus) for x in m)), 60)
        assert [e.seq for e in again.events()] == list(range(len(events) + 1, st.next_seq))
        again.writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_an_incomplete_journal_refuses_a_long_replay_before_the_welcome(tmp_path: Path) -> None:
    rig, _ = _rig_with_history(tmp_path)
    engine = rig.engine
    runner = _reader(engine, "loop")
    (tmp_path / "j").write_bytes(b"")  # the journal lost its content
    link = rig.connect("S1", uid=os.getuid())
    await _until(lambda: not engine._journal_reads)
    (error,) = link.received()
    assert isinstance(error, Error) and error.code == "REPLAY_UNAVAILABLE" and error.fatal
    assert engine.strategies["S1"].link is None and runner.submitted == 1 and not engine._replays


async def test_a_seq_ahead_jump_inside_a_long_replay_is_counted_exactly_in_the_welcome(tmp_path: Path) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    uid = os.getuid()
    s1 = rig.connect("S1", uid=uid)
    trade_filled(rig, s1, "ACC1", 3_000)
    engine.link_closed(s1)
    ahead = engine.strategies["S1"].next_seq - 1 + 50
    s1 = rig.connect("S1", last_seq=ahead, uid=uid)  # LAST_SEQ_AHEAD: numbers jump by 50
    assert any(isinstance(m, Error) and m.code == "LAST_SEQ_AHEAD" for m in s1.received())
    frames = [
        encode_frame(NewOrder(f"d{i}", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=3_001 + i))
        for i in range(2_000)
    ]
    engine.link_data(s1, b"".join(frames), rig.clock())
    for order_id in range(engine.next_order_id - 2_000, engine.next_order_id):
        rig.venue.accept(order_id, 1_000_000)
    engine.flush()
    engine.link_closed(s1)
    st = engine.strategies["S1"]
    _reader(engine, "loop")
    link = rig.connect("S1", uid=uid)
    await _until(lambda: not engine._journal_reads and not engine._replays)
    messages = link.received()
    welcome = messages[0]
    events = [m for m in messages if isinstance(m, (OrderAccepted, Executed))]
    assert isinstance(welcome, Welcome) and welcome.replayed == len(events) == 8_000
    assert [e.seq for e in events] == list(range(1, 6_001)) + list(range(ahead + 1, st.next_seq))
