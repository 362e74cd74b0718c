"""Requests held behind a Hello meet read back-pressure (protocol doc 1 and 4.6; rev52diff 1, 2).

A real gateway and the real OUCH simulator; the strategies are ``tests/rawclient.py`` over real Unix sockets. The
strategy reconnects with ``last_seq`` 0, so its Hello has a long replay to come, and writes 40,000 Cancels right
behind it: the gateway holds them undecoded until the Welcome and the replay are out, then reads them a chunk at a
time. A strategy that reads its answers slowly sets back-pressure (``StrategyLink.output_full``) in the middle of
such a chunk. rev52diff found the chunk's rest kept for a later turn and then appended *behind* the bytes still held
(requests carried out out of order, frames cut at the chunk's edges decoded as garbage: a fatal
``FRAME_TOO_LARGE``, 813 requests never answered), and a connection that ended while its held bytes waited on
back-pressure never forgotten (its bytes kept, a 5 ms retry for ever).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest

import gateway.server
from gateway.app import GatewayProcess
from gateway.engine import HELD_RETRY_S
from gateway.server import StrategyProtocol
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.rawclient import CANCEL, ERROR, HELLO, RawClient, frame, order_events, split

LIMIT = 64 * 1024
"""``max_strategy_write_buffer``: the smallest a config may set; the answers to the held requests are many times it."""
REPLAYED = 3000
"""Events of the first session, replayed to the second (a long replay: written a slice at a time)."""
PIPELINED = 40_000
"""Cancels written right behind the second Hello (640,000 bytes, each answered ``CancelRejected``)."""


async def _first_session(process: GatewayProcess) -> tuple[str, int]:
    """Log S1 in, give it ``REPLAYED`` events, log it out; return the socket path and its last request number."""
    assert process.engine is not None
    engine = process.engine
    path = str(process.config.path(process.config.strategy_socket))
    client = await RawClient(path).connect()
    welcome = await client.hello("S1", 3, heartbeat_ms=60_000)
    await client.read(welcome[5] + 1, timeout_s=30)  # its replay (none) and the VenueStatus
    last = welcome[6]
    await client.send(b"".join(frame(CANCEL, f"a{i}", 0, last + 1 + i) for i in range(REPLAYED)))
    assert len(order_events(await client.read(REPLAYED, timeout_s=60))) == REPLAYED
    client.close()
    await wait_for(lambda: engine.strategies["S1"].link is None, 10, "S1 logged out")
    return path, last + REPLAYED


def _hello_and_pipeline(last: int) -> bytes:
    return frame(HELLO, "S1", 3, 0, 60_000) + b"".join(
        frame(CANCEL, f"b{i}", 0, last + 1 + i) for i in range(PIPELINED)
    )


@pytest.mark.parametrize("half_close", [False, True], ids=["open", "half-closed"])
async def test_held_requests_when_the_strategy_reads_slowly_then_every_one_answered_in_order(half_close: bool) -> None:
    async with running_gateway(short_tmp(), max_strategy_write_buffer=LIMIT) as (process, _sim):
        assert process.engine is not None
        engine = process.engine
        path, last = await _first_session(process)
        client = await RawClient(path).connect()
        loop = asyncio.get_running_loop()

        async def write() -> None:
            await loop.sock_sendall(client.sock, _hello_and_pipeline(last))
            if half_close:  # loses nothing sent before it: the held requests are answered, then the close
                client.sock.shutdown(socket.SHUT_WR)

        writer = asyncio.ensure_future(write())
        messages: list[list[object]] = []
        answers: list[list[object]] = []
        paused_while_held = False
        closed = False
        deadline = time.monotonic() + 240
        while len(answers) < PIPELINED and time.monotonic() < deadline:
            data = await asyncio.wait_for(loop.sock_recv(client.sock, 4096), 30)  # a small read at a time
            if not data:
                closed = True
                break
            client.buffer += data
            got = split(client.buffer)
            messages += got
            answers += [m for m in order_events(got) if str(m[2]).startswith("b")]
            st = engine.strategies["S1"]
            if st.link is not None and st.link.output_full and engine.held_input(st.link):
                paused_while_held = True
            await asyncio.sleep(0.0005)
        await asyncio.wait_for(writer, 30)
        assert [m[:3] for m in messages if m[0] == ERROR] == []
        assert not closed, f"the gateway closed the connection after {len(answers)} answers"
        assert paused_while_held  # back-pressure did hold the requests behind the Hello
        assert [a[2] for a in answers] == [f"b{i}" for i in range(PIPELINED)]  # every request, once, in order
        if half_close:  # all answered: the connection then closes
            rest = await client.read_until_closed(30)
            assert [m for m in rest if m[0] == ERROR] == []
            await wait_for(lambda: engine.strategies["S1"].link is None, 10, "the half-closed session ended")
        # the first session's logout (and the half-closed one's end): never cut
        assert engine.counters.strategy_disconnects == (2 if half_close else 1)
        client.close()


@pytest.mark.parametrize("end", ["close", "cut"])
async def test_held_requests_when_the_connection_ends_under_back_pressure_then_it_is_forgotten(
    end: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # close: the strategy closes its socket; cut: it stops reading and is cut SLOW_CONSUMER (after 1 s here)
    monkeypatch.setattr(gateway.server, "OUTPUT_STALL_S", 1.0)
    async with running_gateway(short_tmp(), max_strategy_write_buffer=LIMIT) as (process, _sim):
        assert process.engine is not None
        engine = process.engine
        path, last = await _first_session(process)
        retries: list[float] = []
        scheduler = engine.replay_scheduler
        assert scheduler is not None

        def counting(callback: Callable[[], None], delay: float) -> None:
            if delay == HELD_RETRY_S:
                retries.append(time.monotonic())
            scheduler(callback, delay)

        engine.replay_scheduler = counting
        client = await RawClient(path).connect()
        writer = asyncio.ensure_future(client.send(_hello_and_pipeline(last)))
        await client.read(1 + REPLAYED + 1, timeout_s=60)  # Welcome, replay, VenueStatus: then it stops reading
        st = engine.strategies["S1"]
        link = st.link
        assert isinstance(link, StrategyProtocol)
        await wait_for(lambda: link.output_full, 30, "back-pressure")
        assert engine.held_input(link) > 0  # requests still held behind the Hello, waiting on it
        if end == "close":
            writer.cancel()
            client.close()
        await wait_for(lambda: st.link is None, 30, "the session's end")
        # forgotten with the session: its held bytes dropped, no retry left running
        await wait_for(lambda: not engine.welcome_pending(link), 5, "the held bytes dropped")
        assert engine.held_input(link) == 0
        await wait_for(lambda: link.transport is None, 10, "connection_lost")  # the cut: after its 2 s linger
        assert not link.output_full
        await asyncio.sleep(2 * HELD_RETRY_S)
        settled = len(retries)
        await asyncio.sleep(0.5)
        assert len(retries) == settled  # nothing looks at it again
        assert engine.counters.strategy_disconnects == 2
        writer.cancel()
        client.close()
