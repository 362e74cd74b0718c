"""A long replay over a real Unix socket: written in slices as the strategy reads, complete, in order, once.

Count-based only (never timing): while the replaying strategy does not read, the gateway keeps the
rest of its replay back (it is not all queued in the socket), another strategy's orders are answered,
and requests sent behind the Hello wait for the end of the replay.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gateway.app import LoopReplayReader, _loop_scheduler
from gateway.engine import REPLAY_CHUNK_EVENTS, REPLAY_LOW_WATER
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
from gateway.server import start_strategy_server
from model.enums import Side
from tests.harness import MemoryLink, journaling_rig, trade_filled

ORDERS = 25_000
"""Two events each: a replay of about 3 MB, far more than a Unix socket's kernel buffer."""


async def _until(condition: object, rounds: int = 2_000) -> None:
    for _ in range(rounds):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


async def test_a_long_replay_is_written_as_the_strategy_reads_and_others_trade_meanwhile(
    tmp_path: Path, sock_dir: Path
) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    s1 = rig.connect("S1", uid=os.getuid())
    trade_filled(rig, s1, "ACC1", ORDERS)
    engine.link_closed(s1)
    st = engine.strategies["S1"]
    total = st.next_seq - 1
    assert total == 2 * ORDERS and st.events_base > total - 2_000
    loop = asyncio.get_running_loop()
    engine.replay_reader = LoopReplayReader(loop)
    engine.replay_scheduler = _loop_scheduler(loop)
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    try:
        reader, writer = await asyncio.open_unix_connection(str(sock_dir / "s.sock"))
        behind = NewOrder("late", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=ORDERS + 1)
        writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 1)) + encode_frame(behind))
        await _until(lambda: engine._replays)  # the journal was read; the replay is being written
        (link,) = engine._replays
        stream = engine._replays[link]
        for _ in range(50):  # the strategy reads nothing: the gateway must hold the rest back
            await asyncio.sleep(0.002)
        assert link.write_buffer_size() <= REPLAY_LOW_WATER + 200_000
        assert 0 < stream.next_older < total - 1  # part written, the rest waits for the strategy
        assert stream.read is not None and len(stream.older) <= 2 * REPLAY_CHUNK_EVENTS  # mostly still in the journal
        # another strategy trades meanwhile and gets its answers
        s2r, s2w = await asyncio.open_unix_connection(str(sock_dir / "s.sock"))
        s2w.write(encode_frame(Hello("S2", PROTOCOL_VERSION, 0)))
        splitter = FrameSplitter()
        got: list[object] = []

        async def s2_read(count: int) -> None:
            while len(got) < count:
                got.extend(gateway_message_decoder.decode(f) for f in splitter.feed(await s2r.read(65536)))

        await asyncio.wait_for(s2_read(2), 5)  # Welcome, VenueStatus
        for i in range(20):
            s2w.write(encode_frame(NewOrder(f"o{i}", "ACC2", "V1", "MSFT", Side.SELL, 10, 3_000_000, req_seq=i + 1)))
            await _until(lambda i=i: "o" + str(i) in engine.strategies["S2"].orders)
            rig.venue.accept(engine.strategies["S2"].orders[f"o{i}"].order_id, 3_000_000)
            engine.flush()
        await asyncio.wait_for(s2_read(22), 5)
        assert sum(isinstance(m, OrderAccepted) for m in got) == 20
        assert link in engine._replays  # all of that while S1's replay was still waiting for S1
        assert "late" not in st.orders  # S1's request behind its Hello waits for the end of its replay
        # now S1 reads: everything arrives, in order, once, then the venue states, then the answer to "late"
        messages: list[object] = []
        s1_split = FrameSplitter()

        async def s1_read() -> None:
            while not any(isinstance(m, VenueStatus) for m in messages):
                data = await reader.read(1 << 20)
                assert data, messages[-3:]
                messages.extend(gateway_message_decoder.decode(f) for f in s1_split.feed(data))

        await asyncio.wait_for(s1_read(), 30)
        welcome = messages[0]
        assert isinstance(welcome, Welcome) and welcome.replayed == total - 1
        events = [m for m in messages if isinstance(m, (OrderAccepted, Executed))]
        assert [e.seq for e in events] == list(range(2, total + 1))
        assert not any(isinstance(m, Error) for m in messages)
        await _until(lambda: "late" in st.orders)
        assert not engine._replays and st.replay_pending == 0
        writer.close()
        s2w.close()
    finally:
        server.close()
        await server.wait_closed()


class _UnreadLink(MemoryLink):
    """A connection whose strategy reads nothing: its transport always holds this many unread bytes."""

    unread = 10 * REPLAY_LOW_WATER

    def write_buffer_size(self) -> int:
        return self.unread


def test_a_strategy_that_never_reads_its_replay_is_cut_off_as_a_slow_consumer_not_dropped_silently(
    tmp_path: Path,
) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    s1 = rig.connect("S1", uid=os.getuid())
    trade_filled(rig, s1, "ACC1", 3_000)
    engine.link_closed(s1)
    st = engine.strategies["S1"]
    scheduled: list[object] = []
    engine.replay_scheduler = lambda callback, delay: scheduled.append(callback)
    link = _UnreadLink(rig.clock, uid=os.getuid())
    engine.link_opened(link)
    engine.link_data(link, encode_frame(Hello("S1", PROTOCOL_VERSION, 1)), rig.clock())
    for _ in range(3):  # the pump looks, finds the strategy has not read, looks again later
        callback = scheduled.pop(0)
        assert callable(callback)
        callback()
    messages = link.received()
    assert isinstance(messages[0], Welcome) and len(messages) - 1 <= 512  # one slice, no more
    assert link in engine._replays and st.replay_pending == 1 and link.replaying
    engine.poll(rig.clock() + 5_000_000_000)
    assert not link.session.is_closed()  # not yet
    engine.poll(rig.clock() + 11_000_000_000)
    (error,) = [m for m in link.received() if isinstance(m, Error)]
    assert error.code == "SLOW_CONSUMER" and error.fatal and link.closed
    scheduled.pop(0)()  # type: ignore[operator]
    assert not engine._replays and st.replay_pending == 0
    engine.link_closed(link)
    again = rig.connect("S1", last_seq=1, uid=os.getuid())  # the next connection gets everything
    while scheduled:
        scheduled.pop(0)()  # type: ignore[operator]
    events = [m for m in again.received() if isinstance(m, (OrderAccepted, Executed))]
    assert [e.seq for e in events] == list(range(2, st.next_seq))


def test_events_that_arise_while_a_replay_is_written_follow_the_venue_states_as_new_events(tmp_path: Path) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    s1 = rig.connect("S1", uid=os.getuid())
    trade_filled(rig, s1, "ACC1", 2_000)
    s1.req_seq = 2_000
    rig.new_order(s1, "open")
    open_id = engine.next_order_id - 1
    rig.venue.accept(open_id, 1_000_000)
    engine.flush()
    engine.link_closed(s1)
    scheduled: list[object] = []
    engine.replay_scheduler = lambda callback, delay: scheduled.append(callback)
    link = MemoryLink(rig.clock, uid=os.getuid())
    engine.link_opened(link)
    engine.link_data(link, encode_frame(Hello("S1", PROTOCOL_VERSION, 1)), rig.clock())
    scheduled.pop(0)()  # type: ignore[operator]  # the first slice
    rig.venue.fill(open_id, 40, 1_000_000)  # a new event for S1 while its replay is being written
    engine.flush()
    while scheduled:
        scheduled.pop(0)()  # type: ignore[operator]
    messages = link.received()
    welcome = messages[0]
    assert isinstance(welcome, Welcome)
    kinds = [(type(m).__name__, getattr(m, "seq", getattr(m, "state", None))) for m in messages[1:]]
    replay = [seq for name, seq in kinds[: welcome.replayed]]
    assert replay == list(range(2, welcome.next_seq))
    assert kinds[welcome.replayed :] == [
        ("VenueStatus", "UP"),  # where the venue stands, right after the replay
        ("Executed", welcome.next_seq),  # then the new event
    ]
    assert link.session.state.value == "ACTIVE"


async def test_a_replay_read_as_it_comes_is_not_cut_off_by_a_small_write_buffer_limit(
    tmp_path: Path, sock_dir: Path
) -> None:
    # 4.6: the Welcome and its replay do not count against max_strategy_write_buffer; a replay the strategy reads
    # is never cut off as a slow consumer, even when each slice alone is above the limit.
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    s1 = rig.connect("S1", uid=os.getuid())
    trade_filled(rig, s1, "ACC1", ORDERS)
    engine.link_closed(s1)
    total = engine.strategies["S1"].next_seq - 1
    loop = asyncio.get_running_loop()
    engine.replay_reader = LoopReplayReader(loop)
    engine.replay_scheduler = _loop_scheduler(loop)
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock, max_write_buffer=16_384)
    try:
        reader, writer = await asyncio.open_unix_connection(str(sock_dir / "s.sock"))
        writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 0)))
        messages: list[object] = []
        splitter = FrameSplitter()

        async def read_all() -> None:  # steadily but slower than the gateway writes: the socket fills up
            while not any(isinstance(m, (VenueStatus, Error)) for m in messages):
                data = await reader.read(8192)
                assert data, messages[-3:]
                messages.extend(gateway_message_decoder.decode(f) for f in splitter.feed(data))
                await asyncio.sleep(0.0005)

        await asyncio.wait_for(read_all(), 120)  # 50,000 events read 8 KiB at a time: over 30 s on a loaded machine
        assert not [m for m in messages if isinstance(m, Error)]
        events = [m for m in messages if isinstance(m, (OrderAccepted, Executed))]
        assert [e.seq for e in events] == list(range(1, total + 1))
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
