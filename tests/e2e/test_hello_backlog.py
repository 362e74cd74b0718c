"""Connections that never send Hello are bounded: past ``strategy_max_pending_hello`` the oldest is closed.

A real gateway (``GatewayProcess`` with the OUCH simulator) and real Unix sockets. Before, an idle flood held a
descriptor per connection for the whole Hello deadline: at the process's limit libuv accepted and closed a
strategy's connection itself (its reserve-descriptor trick), a reset with no Error frame, nothing logged or counted.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from gateway.app import GatewayProcess
from gateway.entitlements import StrategyEntitlement
from simulators.ouch.exchange import ExchangeConfig
from tests.e2e.support import running_gateway, short_tmp, wait_for
from tests.rawclient import ERROR, HELLO, VENUE_STATUS, WELCOME, RawClient, frame, split


def _sock(process: GatewayProcess) -> str:
    return str(process.config.path(process.config.strategy_socket))


async def test_idle_connections_past_the_bound_then_oldest_get_a_fatal_error_and_a_strategy_still_says_hello(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exchange = ExchangeConfig(reference_prices={"AAPL": 2_301_000})
    async with running_gateway(short_tmp(), exchange=exchange, strategy_max_pending_hello=4) as (process, _sim):
        engine = process.engine
        assert engine is not None
        idle = []

        def seen() -> int:
            return len(engine._links) + engine.counters.strategy_connections_evicted

        for count in range(1, 7):  # one at a time: which is the oldest is then certain
            idle.append(await RawClient(_sock(process)).connect())
            expected = count
            await wait_for(lambda: seen() == expected)  # noqa: B023 (awaited here, before the next iteration)
        for oldest in idle[:2]:
            messages = await oldest.read_until_closed(15)
            assert [(m[0], m[1], m[3]) for m in messages] == [(ERROR, "TOO_MANY_CONNECTIONS", True)], messages
            assert "more than 4 connections had not sent Hello: the oldest is closed" in messages[0][2]
        assert engine.counters.strategy_connections_evicted == 2
        assert process.status()["descriptors"]["pending_hello"] == 4
        strategy = await RawClient(_sock(process)).connect()  # the 5th waiting: the oldest idle one goes
        welcome = await strategy.hello("S1", 2)
        assert welcome[1] == 2
        (status,) = await strategy.read(1)
        assert status[:3] == [VENUE_STATUS, "OUCH", "UP"]
        assert engine.counters.strategy_connections_evicted == 3
        more = [await RawClient(_sock(process)).connect() for _ in range(8)]  # a session never counts as waiting
        await wait_for(lambda: engine.counters.strategy_connections_evicted == 3 + 7)  # 3 waited: room for 1
        assert engine.counters.strategy_connections == 1 and engine.counters.strategy_disconnects == 0
        assert process.status()["descriptors"]["max_pending_hello"] == 4
        assert "strategy connections closed (TOO_MANY_CONNECTIONS)" in caplog.text
        for client in [*idle, strategy, *more]:
            client.close()


async def test_a_reconnect_storm_that_says_hello_at_once_past_the_bound_is_served_and_nobody_is_closed() -> None:
    """Twelve strategies connect and write their Hello before the gateway's loop runs again; the bound is 4.

    The stdlib loop opens all twelve connections before it reads any: the old code counted each as idle when it was
    opened and closed the oldest eight with TOO_MANY_CONNECTIONS though their Hellos were waiting in the socket.
    """
    ids = [f"S{i}" for i in range(12)]
    strategies = {sid: StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()]) for sid in ids}
    exchange = ExchangeConfig(reference_prices={"AAPL": 2_301_000})
    async with running_gateway(short_tmp(), strategies=strategies, strategy_max_pending_hello=4, exchange=exchange) as (
        process,
        _sim,
    ):
        engine = process.engine
        assert engine is not None
        socks = []
        try:
            for sid in ids:  # no await in between: every Hello is written before the gateway reads one
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                socks.append(sock)
                sock.connect(_sock(process))
                sock.sendall(frame(HELLO, sid, 2, 0, 1000))
            buffers = [bytearray() for _ in ids]
            firsts: list[list[object] | None] = [None] * len(ids)
            deadline = time.monotonic() + 10
            while any(first is None for first in firsts) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                for index, sock in enumerate(socks):
                    try:
                        buffers[index] += sock.recv(1 << 16, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        continue
                    messages = split(buffers[index])
                    if messages and firsts[index] is None:
                        firsts[index] = messages[0]
            assert [first[0] if first else None for first in firsts] == [WELCOME] * len(ids), firsts
            assert engine.counters.strategy_connections_evicted == 0
            assert engine.counters.strategy_connections == len(ids)
        finally:
            for sock in socks:
                sock.close()
