"""Strategies reconnecting together are queued by the kernel, not refused (a real Unix socket)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from gateway.server import LISTEN_BACKLOG, create_unix_server

CONNECTIONS = 300
"""More than asyncio's default backlog (100), fewer than the kernel's usual cap (4096)."""


async def test_connections_made_while_the_loop_is_busy_wait_in_the_backlog(sock_dir: Path) -> None:
    assert LISTEN_BACKLOG > CONNECTIONS
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    if somaxconn <= CONNECTIONS:
        pytest.skip(f"net.core.somaxconn is {somaxconn}: the kernel caps the backlog below {CONNECTIONS}")
    accepted: list[asyncio.BaseTransport] = []

    class Keep(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(transport)

    path = sock_dir / "s.sock"
    server = await create_unix_server(path, Keep, 0o600)
    clients: list[socket.socket] = []
    try:
        # no await until every connect ran: the loop accepts nothing meanwhile, as when it is busy
        refused = 0
        for _ in range(CONNECTIONS):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.setblocking(False)
            clients.append(client)
            try:
                client.connect(str(path))
            except BlockingIOError:  # EAGAIN: the listen queue is full
                refused += 1
        assert refused == 0
        for _ in range(2_000):
            if len(accepted) == CONNECTIONS:
                break
            await asyncio.sleep(0.001)
        assert len(accepted) == CONNECTIONS
    finally:
        for client in clients:
            client.close()
        for transport in accepted:
            transport.close()
        server.close()
        await server.wait_closed()
