"""A strategy that pipelines faster than it reads its answers is slowed down, not cut off (protocol doc 4.6).

A real gateway and the real OUCH simulator; the strategies are ``tests/rawclient.py`` over real Unix sockets.
rev51strat pipelined 250,000 Cancels on one thread and read the answers on another, slower than the gateway
wrote them: the gateway read every request at once, their answers piled up past ``max_strategy_write_buffer`` and
the session was cut ``SLOW_CONSUMER`` although the strategy never stopped reading. Now the gateway stops reading a
strategy's requests while its unsent answers are over a high mark and reads them again under a low mark
(``gateway.server.output_marks``); a strategy that really stops reading is still cut.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import gateway.server
from gateway.app import GatewayProcess
from gateway.server import output_marks
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.rawclient import CANCEL, CANCEL_REJECTED, ERROR, RawClient, frame, order_events, split

LIMIT = 64 * 1024
"""``max_strategy_write_buffer``: the answers to the pipeline are many times this."""
PIPELINED = 20_000
"""Cancels of orders that do not exist: each answered ``CancelRejected`` by the gateway itself (~1.5 MB)."""


async def _login(process: GatewayProcess, strategy_id: str) -> tuple[RawClient, int]:
    client = await RawClient(str(process.config.path(process.config.strategy_socket))).connect()
    # A long heartbeat: these clients send none, and a pipeline read slowly on a loaded machine lasts far more than
    # 3 x 1 s (S2, silent meanwhile, was cut HEARTBEAT_TIMEOUT: strategy_disconnects 1, not the cut asserted on).
    welcome = await client.hello(strategy_id, 3, heartbeat_ms=60_000)
    await client.read(welcome[5] + 1, timeout_s=30)  # the replay and the VenueStatus
    return client, welcome[6]


async def test_pipeline_when_the_strategy_reads_slower_than_answers_come_then_requests_wait_and_none_is_cut() -> None:
    async with running_gateway(short_tmp(), max_strategy_write_buffer=LIMIT) as (process, _sim):
        assert process.engine is not None
        engine = process.engine
        client, last = await _login(process, "S1")
        other, other_last = await _login(process, "S2")
        link = engine.strategies["S1"].link
        assert link is not None
        loop = asyncio.get_running_loop()
        requests = b"".join(frame(CANCEL, f"p{i}", 0, last + 1 + i) for i in range(PIPELINED))
        writer = asyncio.ensure_future(client.send(requests))  # all at once; the socket takes what it can
        answers: list[list[object]] = []
        paused = False
        other_answered = False
        deadline = time.monotonic() + 300
        while len(answers) < PIPELINED and time.monotonic() < deadline:
            data = await asyncio.wait_for(loop.sock_recv(client.sock, 4096), 30)  # a small read at a time
            assert data, f"the gateway closed the connection after {len(answers)} answers"
            client.buffer += data
            messages = split(client.buffer)
            assert [m for m in messages if m[0] == ERROR] == []
            answers += order_events(messages)
            if link.output_full and not paused:  # its requests are not read now: another strategy is served
                paused = True
                await other.send(frame(CANCEL, "o1", 0, other_last + 1))
                (answer,) = await other.read(1, timeout_s=30)
                assert answer[:3] == [CANCEL_REJECTED, answer[1], "o1"]
                other_answered = True
            await asyncio.sleep(0.001)
        await asyncio.wait_for(writer, 30)
        assert paused and other_answered  # back-pressure held S1's requests, and S2 was answered meanwhile
        assert [a[2] for a in answers] == [f"p{i}" for i in range(PIPELINED)]  # every request, once, in order
        assert engine.strategies["S1"].link is link  # still the same session: not cut
        assert engine.counters.strategy_disconnects == 0
        assert link.write_buffer_size() <= LIMIT
        client.close()
        other.close()


async def test_pipeline_when_the_strategy_stops_reading_then_cut_off_as_a_slow_consumer_and_nothing_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gateway.server, "OUTPUT_STALL_S", 1.0)
    async with running_gateway(short_tmp(), max_strategy_write_buffer=LIMIT) as (process, _sim):
        assert process.engine is not None
        engine = process.engine
        client, last = await _login(process, "S1")
        st = engine.strategies["S1"]
        requests = b"".join(frame(CANCEL, f"s{i}", 0, last + 1 + i) for i in range(PIPELINED))
        writer = asyncio.ensure_future(client.send(requests))  # and never reads again
        await wait_for(lambda: st.link is None, timeout_s=60, what="the cut-off")
        assert engine.counters.strategy_disconnects == 1
        writer.cancel()
        client.close()
        high, _low = output_marks(LIMIT)
        assert high < LIMIT
        again, last_again = await _login(process, "S1")  # every request read before the cut was answered
        assert last < last_again < last + PIPELINED
        assert st.next_seq - 1 == last_again  # one CancelRejected each, in the replay
        again.close()
