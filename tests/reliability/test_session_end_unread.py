"""A session closed after a fatal Error ends at once, whether or not the strategy reads (rev48chaos HIGH).

A real gateway (``GatewayProcess``) and the real OUCH simulator in this event loop, real Unix sockets. The
review cut off a strategy as ``SLOW_CONSUMER`` during its replay: the log said so, but the socket stayed open
with 232 KB queued and the session (its open orders, policy ``cancel``) lasted until the strategy read again,
63-90 s later. The connection was closed only once its queued bytes were written, and forgotten only then.
Here the strategy never reads: the session must end at the fatal Error (policy applied, status disconnected),
and the socket must go within the 2 s linger (strategy-protocol.md 4.1, 4.4, 4.6).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest
import yaml

from gateway.config import MemoryConfig
from gateway.engine import REPLAY_LOW_WATER
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import PROTOCOL_VERSION, Canceled, Hello, NewOrder
from gateway.server import SLOW_CONSUMER_LINGER_S
from model.enums import Side, TimeInForce
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import e2e_limits, running_gateway, short_tmp, wait_for
from tests.reliability.support import RecordingClient

REFS = {"AAPL": 2_301_000, "MSFT": 4_205_500}
RESTING = 2_290_000
IOC_AWAY = 2_280_000
IOC = TimeInForce.IOC
IOCS = 3_000
"""Two events each (accepted, canceled): far more than a Unix socket's kernel buffer holds."""
REPLAY_IOCS = 8_000
"""Enough for a replay to fill the kernel's buffer and then the gateway's (``REPLAY_LOW_WATER``) unread."""


def _limits(directory: Path) -> Path:
    path = e2e_limits(directory)
    doc = yaml.safe_load(path.read_text())
    for name in ("ACC1", "ACC2"):
        doc["accounts"][name]["orders_per_s"] = {"per_account": 100_000, "per_symbol": 100_000}
    for sid in ("S1", "S2"):
        doc["strategies"][sid]["orders_per_s"] = {"per_strategy": 100_000}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _strategies(policy: str) -> dict[str, StrategyEntitlement]:
    uid = os.getuid()
    return {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[uid], on_disconnect=policy),  # type: ignore[arg-type]
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[uid]),
    }


def _iocs(first_req: int) -> bytes:
    return b"".join(
        encode_frame(
            NewOrder(
                f"Q{i}", "ACC1", "OUCH", "AAPL", Side.BUY, 1 + i % 50, IOC_AWAY, TimeInForce.IOC, req_seq=first_req + i
            )
        )
        for i in range(IOCS)
    )


async def _dropped(sock: socket.socket, timeout_s: float) -> float:
    """Read whatever the kernel holds (never the gateway's queue: it is dropped) until end-of-file; return when."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), deadline - time.monotonic())
        except ConnectionResetError:
            return time.monotonic()
        if not data:
            return time.monotonic()
    raise AssertionError("the socket was not dropped")


async def test_heartbeat_timeout_when_the_strategy_reads_nothing_then_session_ends_at_once_and_policy_applies() -> None:
    # A hung strategy neither reads nor writes: HEARTBEAT_TIMEOUT closes it with its events still queued. The old
    # code kept the session (and its resting orders, policy cancel) until the queue drained, i.e. forever.
    workdir = short_tmp()
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(workdir, _limits(workdir), exchange=exchange, strategies=_strategies("cancel")) as (
        process,
        sim,
    ):
        assert process.engine is not None
        engine = process.engine
        loop = asyncio.get_running_loop()
        hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hung.setblocking(False)
        await loop.sock_connect(hung, str(process.config.path(process.config.strategy_socket)))
        resting = b"".join(
            encode_frame(NewOrder(f"R{i}", "ACC1", "OUCH", "AAPL", Side.BUY, 10 + i, RESTING, req_seq=i + 1))
            for i in range(5)
        )
        await loop.sock_sendall(hung, encode_frame(Hello("S1", PROTOCOL_VERSION, 0, 2_000)) + resting + _iocs(6))
        st_ready = lambda: "S1" in engine.strategies and engine.strategies["S1"].link is not None  # noqa: E731
        await wait_for(st_ready, timeout_s=15, what="S1's session")
        st = engine.strategies["S1"]
        link = st.link
        assert link is not None
        await wait_for(lambda: link.write_buffer_size() > 0, timeout_s=15, what="events queued behind the kernel's")
        await wait_for(lambda: len(st.open_orders) == 5, timeout_s=15, what="the resting orders accepted")
        # 3 x 2 s of silence: HEARTBEAT_TIMEOUT; the session ends then, though the strategy has read nothing
        await wait_for(lambda: st.link is None, timeout_s=10, what="the session to end at the timeout")
        closed_at = time.monotonic()
        assert engine.counters.strategy_disconnects == 1
        await wait_for(lambda: not st.open_orders, timeout_s=15, what="policy cancel at the venue")
        assert sum(1 for r in sim.exchange.records if r.type == "X") == 5
        assert await _dropped(hung, 10) - closed_at < SLOW_CONSUMER_LINGER_S + 2  # unread bytes dropped with it
        hung.close()
        # every request read before the cut is answered in the replay of the next session, once
        async with RecordingClient(process.config.path(process.config.strategy_socket), "S1") as again:
            await wait_for(lambda: len(again.order_events()) == st.next_seq - 1, timeout_s=10, what="the replay")
            events = again.order_events()
            assert [e.seq for e in events] == list(range(1, st.next_seq))
            assert sorted(e.cl_ord_id for e in events if isinstance(e, Canceled) and e.cl_ord_id[0] == "R") == [
                f"R{i}" for i in range(5)
            ]


@pytest.mark.slow
async def test_replay_not_read_for_10_s_then_session_ends_at_the_cut_and_socket_dropped_unread() -> None:
    # The review's case: cut off SLOW_CONSUMER during its replay, the session lasted until the strategy read again.
    workdir = short_tmp()
    exchange = ExchangeConfig(reference_prices=REFS)
    memory = MemoryConfig(events_kept=1_000)  # a replay read back from the journal, written a slice at a time
    async with running_gateway(
        workdir, _limits(workdir), exchange=exchange, strategies=_strategies("keep"), memory=memory
    ) as (process, _sim):
        assert process.engine is not None
        engine = process.engine
        path = process.config.path(process.config.strategy_socket)
        async with RecordingClient(path, "S1") as first:  # a day's events: thousands, read as they come
            handles = [
                await first.submit("ACC1", "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=RESTING) for i in range(3)
            ]
            for handle in handles:
                await handle.wait_accepted(15)
            for i in range(REPLAY_IOCS):
                first.submit_nowait("ACC1", "OUCH", "AAPL", Side.BUY, 1 + i % 50, price_ticks=IOC_AWAY, tif=IOC)
                if i % 50 == 49:
                    await asyncio.sleep(0)
            await wait_for(lambda: len(first.order_events()) == 3 + 2 * REPLAY_IOCS, timeout_s=60, what="every answer")
        st = engine.strategies["S1"]
        await wait_for(lambda: st.link is None, timeout_s=15, what="the first session to end")
        loop = asyncio.get_running_loop()
        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stalled.setblocking(False)
        await loop.sock_connect(stalled, str(path))
        await loop.sock_sendall(stalled, encode_frame(Hello("S1", PROTOCOL_VERSION, 0, 60_000)))
        await wait_for(lambda: st.link is not None, timeout_s=15, what="the replaying session")
        link = st.link
        assert link is not None
        await wait_for(lambda: link.write_buffer_size() > REPLAY_LOW_WATER, timeout_s=15, what="the replay held back")
        # nothing of the replay read for 10 s: cut off SLOW_CONSUMER; the session ends at the cut
        await wait_for(lambda: st.link is None, timeout_s=15, what="the session to end at the cut")
        closed_at = time.monotonic()
        assert engine.counters.strategy_disconnects == 2
        status = process.status()
        assert status["strategies"]["S1"]["connected"] is False, status["strategies"]["S1"]
        assert await _dropped(stalled, 10) - closed_at < SLOW_CONSUMER_LINGER_S + 2
        stalled.close()
        async with RecordingClient(path, "S1") as again:  # nothing lost
            await wait_for(lambda: len(again.order_events()) == st.next_seq - 1, timeout_s=10, what="the replay")
            assert [e.seq for e in again.order_events()] == list(range(1, st.next_seq))
