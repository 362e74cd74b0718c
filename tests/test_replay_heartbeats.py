"""A replay read far back in the journal sends Heartbeats while the read makes no visible progress.

Found by rev47strat: a strategy with early orders, then 300,000 other strategies' orders, reconnected far back; after
the Welcome and the first chunk the journal read passed over the others' records for 2.5-4.2 s with nothing sent
(heartbeat_ms 1000): the session was not active before the end of its replay, so no Heartbeat went out. The SDK
took the silence for a dead gateway (three intervals), reconnected and met the same silence: no progress, for ever.

A real Unix socket, the journaling rig's fake clock, and a replay reader stepped by the test: the second pass is held
(as a long scan holds it), the clock is advanced past ``heartbeat_ms`` and the engine's timer runs.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gateway.app import _loop_scheduler
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Executed,
    Heartbeat,
    Hello,
    OrderAccepted,
    VenueStatus,
    Welcome,
)
from gateway.replay import JournalRead, ReplayRunner
from gateway.server import start_strategy_server
from tests.harness import journaling_rig, trade_filled

ORDERS = 3_000
HEARTBEAT_MS = 100


class _HeldReader:
    """The engine's replay reader, stepped only when the test says (``step_until``)."""

    def __init__(self) -> None:
        self.runner = ReplayRunner()

    def submit(self, read: JournalRead) -> None:
        self.runner.submit(read)

    def cancel(self, read: JournalRead) -> None:
        self.runner.cancel(read, close_now=True)

    def resume(self, read: JournalRead) -> None:
        self.runner.resume(read)

    def step(self) -> None:
        finished = self.runner.step()
        if finished is not None and not finished[0].cancelled:
            finished[0].done(finished[1])


async def test_replay_when_the_journal_read_holds_after_the_welcome_then_heartbeats_keep_the_strategy_alive(
    tmp_path: Path, sock_dir: Path
) -> None:
    rig = journaling_rig(tmp_path / "j")
    engine = rig.engine
    s1 = rig.connect("S1", uid=os.getuid())
    trade_filled(rig, s1, "ACC1", ORDERS)
    engine.link_closed(s1)
    total = engine.strategies["S1"].next_seq - 1
    loop = asyncio.get_running_loop()
    reader_ = _HeldReader()
    engine.replay_reader = reader_
    engine.replay_scheduler = _loop_scheduler(loop)
    server = await start_strategy_server(engine, sock_dir / "s.sock", rig.clock)
    messages: list[object] = []
    splitter = FrameSplitter()
    try:
        reader, writer = await asyncio.open_unix_connection(str(sock_dir / "s.sock"))
        writer.write(encode_frame(Hello("S1", PROTOCOL_VERSION, 1, HEARTBEAT_MS)))

        async def read_more() -> None:
            data = await asyncio.wait_for(reader.read(1 << 20), 2)
            assert data, messages[-3:]
            messages.extend(gateway_message_decoder.decode(f) for f in splitter.feed(data))

        for _ in range(2_000):  # the first pass (the count for the Welcome), then the Welcome is written
            if engine._replays:
                break
            reader_.step()
            await asyncio.sleep(0)
        (stream,) = engine._replays.values()
        assert stream.read is not None  # the events come from the journal, a chunk at a time: held now
        while not any(isinstance(m, Welcome) for m in messages):
            await read_more()
        for _ in range(3):  # the read holds for three heartbeat intervals and more: the gateway is not silent
            before = sum(isinstance(m, Heartbeat) for m in messages)
            rig.clock.advance_ms(HEARTBEAT_MS + 1)
            engine.poll(rig.clock())
            await read_more()
            assert sum(isinstance(m, Heartbeat) for m in messages) == before + 1, messages[-3:]
        assert engine._replays  # still replaying: the session is not active before its replay is out
        for _ in range(20_000):  # the read goes on: every event comes, in order, once, then the venue states
            if any(isinstance(m, VenueStatus) for m in messages):
                break
            if reader_.runner.busy:
                reader_.step()
                await asyncio.sleep(0)
            else:
                await read_more()
        welcome = messages[0]
        assert isinstance(welcome, Welcome) and welcome.replayed == total - 1
        events = [m for m in messages if isinstance(m, (OrderAccepted, Executed))]
        assert [e.seq for e in events] == list(range(2, total + 1))
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
