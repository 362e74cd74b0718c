"""The admin socket's connections: bounded, closed when idle, a request under way never closed (rev48ops).

A real admin server on a real Unix socket, driven by the gateway's own blocking client; the clock is injected.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from gateway.admin import (
    MAX_ADMIN_CONNECTIONS,
    AdminConnections,
    AdminError,
    admin_connection_bound,
    admin_request,
    fetch_snapshot,
    start_admin_server,
)
from tests.e2e.support import short_tmp

S = 1_000_000_000


async def _read_closed(sock: socket.socket, timeout_s: float = 5.0) -> bytes:
    """Return what the server wrote before closing ``sock`` (b"" if it closed without a word)."""
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(timeout_s):
        while chunk := await loop.sock_recv(sock, 4096):
            data += chunk
    return data


async def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, str(path))
    return sock


def test_bound_when_the_descriptor_limit_is_small_then_an_eighth_of_it() -> None:
    assert admin_connection_bound(1 << 20) == MAX_ADMIN_CONNECTIONS == 32
    assert admin_connection_bound(60) == 7
    assert admin_connection_bound(4) == 1


async def test_idle_connection_when_past_the_timeout_then_closed_saying_why_and_counted() -> None:
    path = short_tmp() / "a.sock"
    now = [0]
    closed: list[int] = []
    connections = AdminConnections(4, 30, lambda: now[0], lambda: closed.append(1))
    server = await start_admin_server(path, {"status": lambda req, who: {"up": True}}, connections=connections)
    loop = asyncio.get_running_loop()
    try:
        idle = await _connect(path)
        talking = await _connect(path)
        await asyncio.sleep(0.1)
        assert connections.open == 2
        now[0] = 20 * S
        await loop.sock_sendall(talking, b'{"cmd": "status"}\n')  # activity: its idle time starts again
        assert json.loads(await loop.sock_recv(talking, 4096)) == {"ok": True, "up": True}
        now[0] = 30 * S
        connections.sweep()
        line = await _read_closed(idle)  # old: held for ever
        reply = json.loads(line)
        assert reply["ok"] is False and reply["error"].startswith("admin connection closed: idle for 30 s"), reply
        assert connections.open == 1 and connections.closed_idle == 1 and closed == [1]
        now[0] = 49 * S
        connections.sweep()
        assert connections.open == 1  # 29 s since its request
        now[0] = 50 * S
        connections.sweep()
        assert json.loads(await _read_closed(talking))["ok"] is False and connections.open == 0
        assert closed == [1, 1]
        idle.close()
        talking.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_request_under_way_when_the_timeout_passes_then_kept_and_answered() -> None:
    path = short_tmp() / "a.sock"
    now = [0]
    answer: asyncio.Future[dict[str, bool]] = asyncio.get_running_loop().create_future()

    async def slow(req: object, who: str) -> dict[str, bool]:
        return await answer

    connections = AdminConnections(4, 30, lambda: now[0])
    server = await start_admin_server(path, {"reconnect": slow}, connections=connections)
    try:
        pending = asyncio.create_task(asyncio.to_thread(admin_request, path, {"cmd": "reconnect"}))
        while not connections.open:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        now[0] = 60 * S
        connections.sweep()  # a request under way: not idle, whatever the time
        answer.set_result({"done": True})
        assert await pending == {"ok": True, "done": True}
        assert connections.closed_idle == 0
    finally:
        server.close()
        await server.wait_closed()


async def test_past_the_bound_when_a_client_connects_then_the_oldest_idle_closed_and_the_new_one_answered() -> None:
    path = short_tmp() / "a.sock"
    connections = AdminConnections(3)
    server = await start_admin_server(path, {"status": lambda req, who: {"up": True}}, connections=connections)
    try:
        held = []
        for _ in range(3):
            held.append(await _connect(path))
            await asyncio.sleep(0.05)  # accepted in this order: the first is the oldest
        reply = await asyncio.to_thread(admin_request, path, {"cmd": "status"})
        assert reply == {"ok": True, "up": True}
        error = json.loads(await _read_closed(held[0]))["error"]
        assert error.startswith("admin connection closed: more than 3 admin connections; this was the oldest idle")
        assert connections.closed_bound == 1
        for sock in held:
            sock.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_past_the_bound_when_every_connection_has_a_request_under_way_then_the_new_one_refused() -> None:
    path = short_tmp() / "a.sock"
    answer: asyncio.Future[dict[str, bool]] = asyncio.get_running_loop().create_future()

    async def slow(req: object, who: str) -> dict[str, bool]:
        return await answer

    connections = AdminConnections(2)
    server = await start_admin_server(path, {"reconnect": slow}, connections=connections)
    try:
        pending = [asyncio.create_task(asyncio.to_thread(admin_request, path, {"cmd": "reconnect"})) for _ in range(2)]
        while sum(link.busy() for link in list(connections._open)) < 2:
            await asyncio.sleep(0.01)
        with pytest.raises(AdminError, match="admin connection refused: 2 admin connections are open, each with a"):
            # the snapshot client reads the closing line as the error it is (not "an older version?")
            await asyncio.to_thread(fetch_snapshot, path, "status")
        answer.set_result({"done": True})
        assert [await task for task in pending] == [{"ok": True, "done": True}] * 2  # never cut off
        assert connections.closed_bound == 1
    finally:
        server.close()
        await server.wait_closed()
