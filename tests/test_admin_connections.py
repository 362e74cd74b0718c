"""The admin socket's connections: bounded, closed when idle, a request under way never closed (rev48ops).

A real admin server on a real Unix socket, driven by the gateway's own blocking client; the clock is injected.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from pathlib import Path

import msgspec
import pytest

from gateway.admin import (
    ADMIN_WRITE_HIGH,
    MAX_ADMIN_CONNECTIONS,
    AdminConnections,
    AdminError,
    AdminHandler,
    AdminStats,
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
        with pytest.raises(AdminError, match="admin connection refused: all 2 admin connections are carrying out"):
            # the snapshot client reads the closing line as the error it is (not "an older version?")
            await asyncio.to_thread(fetch_snapshot, path, "status")
        answer.set_result({"done": True})
        assert [await task for task in pending] == [{"ok": True, "done": True}] * 2  # never cut off
        assert connections.closed_bound == 1
    finally:
        server.close()
        await server.wait_closed()


_BIG = {"pad": "x" * 20_000}
"""A reply about the size of a status document."""


def _non_reader(path: Path, requests: int) -> socket.socket:
    """Connect, pipeline ``requests`` requests for a big reply, and never read (a small receive buffer)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(str(path))
    sock.settimeout(15)
    sock.sendall(b'{"cmd": "big"}\n' * requests)
    return sock


async def _wait_for(condition: object, what: str, timeout_s: float = 10.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


async def test_client_not_reading_when_it_pipelines_requests_then_replies_stay_bounded_and_all_come_once_read() -> None:
    path = short_tmp() / "a.sock"
    stats = AdminStats()
    connections = AdminConnections(4)
    server = await start_admin_server(path, {"big": lambda req, who: _BIG}, stats, connections=connections)
    try:
        sock = await asyncio.to_thread(_non_reader, path, 300)
        await _wait_for(lambda: stats.requests.get("big", 0) > 0, "a first answer")
        await asyncio.sleep(0.5)  # old: all 300 answered into the transport's buffer (about 6 MB)
        (link,) = connections._open
        answered = stats.requests["big"]
        assert answered < 50, answered
        assert link.unread_replies() <= ADMIN_WRITE_HIGH + 25_000  # one reply past the high-water mark at most
        assert not link.idle()  # replies unread: not taken for an idle connection

        def read_all() -> int:
            data = b""
            while data.count(b"\n") < 300:
                data += sock.recv(1 << 20)
            return data.count(b"\n")

        assert await asyncio.to_thread(read_all) == 300  # every request answered once its client reads
        assert stats.requests["big"] == 300
        sock.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_closed_connection_when_its_client_does_not_read_then_counted_until_dropped_after_the_linger() -> None:
    path = short_tmp() / "a.sock"
    now = [0]
    connections = AdminConnections(4, 30, lambda: now[0], linger_s=0.5)
    server = await start_admin_server(path, {"big": lambda req, who: _BIG}, connections=connections)
    try:
        sock = await asyncio.to_thread(_non_reader, path, 20)
        await _wait_for(lambda: any(link.unread_replies() for link in connections._open), "replies queued")
        now[0] = 30 * S
        connections.sweep()
        assert connections.closed_idle == 1
        assert connections.open == 1 and connections.closing == 1  # old: 0 at once, the socket held for ever
        await _wait_for(lambda: connections.open == 0, "the connection dropped after the linger", 15)
        assert connections.closing == 0
        sock.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_partial_request_when_not_whole_within_the_time_limit_then_closed_saying_why() -> None:
    path = short_tmp() / "a.sock"
    now = [0]
    connections = AdminConnections(4, 30, lambda: now[0])
    server = await start_admin_server(path, {"status": lambda req, who: {"up": True}}, connections=connections)
    loop = asyncio.get_running_loop()
    try:
        trickle = await _connect(path)
        await loop.sock_sendall(trickle, b"{")
        await _wait_for(lambda: any(link.partial_since is not None for link in connections._open), "a partial")
        for second in range(1, 5):  # a byte a second: activity, but the request's time runs from its first byte
            now[0] = second * S
            await loop.sock_sendall(trickle, b" ")
            await asyncio.sleep(0.05)
            connections.sweep()
        assert connections.closed_request_timeout == 0
        now[0] = 5 * S
        connections.sweep()  # old: never closed (not idle: it keeps sending)
        reply = json.loads(await _read_closed(trickle))
        assert reply["error"].startswith("admin connection closed: a request not whole 5 s after its first byte")
        assert connections.closed_request_timeout == 1
        whole = await _connect(path)  # a request sent whole after a partial one's time: answered
        await loop.sock_sendall(whole, b'{"cmd": ')
        await asyncio.sleep(0.05)
        now[0] = 9 * S
        await loop.sock_sendall(whole, b'"status"}\n{"cmd"')  # the next partial's time starts now
        assert json.loads(await loop.sock_recv(whole, 4096)) == {"ok": True, "up": True}
        now[0] = 13 * S
        connections.sweep()
        assert connections.closed_request_timeout == 1
        trickle.close()
        whole.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_past_the_bound_when_each_connection_holds_a_partial_request_then_the_oldest_closed_not_the_new() -> None:
    path = short_tmp() / "a.sock"
    now = [0]
    connections = AdminConnections(3, 30, lambda: now[0])
    server = await start_admin_server(path, {"kill": lambda req, who: {"state": "HALTED"}}, connections=connections)
    loop = asyncio.get_running_loop()
    try:
        held = []
        for second in range(3):
            now[0] = second * S
            sock = await _connect(path)
            await loop.sock_sendall(sock, b"{")
            await _wait_for(lambda n=second + 1: sum(c.partial_since is not None for c in connections._open) == n, "")
            held.append(sock)
        now[0] = 4 * S
        reply = await asyncio.to_thread(admin_request, path, {"cmd": "kill"})  # old: refused
        assert reply == {"ok": True, "state": "HALTED"}
        error = json.loads(await _read_closed(held[0]))["error"]
        assert error.startswith(
            "admin connection closed: more than 3 admin connections; this was the oldest stalled one (its request "
            "unfinished for 4.0 s)"
        ), error
        assert connections.closed_bound == 1
        for sock in held:
            sock.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_past_the_bound_when_many_clients_not_reading_arrive_then_the_bound_holds_counting_the_closing() -> None:
    path = short_tmp() / "a.sock"
    connections = AdminConnections(4)
    server = await start_admin_server(path, {"big": lambda req, who: _BIG}, connections=connections)
    socks: list[socket.socket] = []
    try:
        for _ in range(20):  # each evicts the oldest stalled one (its replies unread), which counts until gone
            socks.append(await asyncio.to_thread(_non_reader, path, 50))
            assert connections.open <= 4 + 1, connections.open  # one closed for the newest may still be going
        # the last client's connect returns before the loop accepts it: wait for all 20 to be counted
        await _wait_for(
            lambda: connections.closed_bound == 16 and connections.open == 4 and connections.closing == 0, "the bound"
        )  # a first fix counted a closing one as room for every newcomer: 12 open
    finally:
        for sock in socks:
            sock.close()
        server.close()
        await server.wait_closed()


_SNAP = 100_000
"""A spliced snapshot's live part: under ``SPLICE_MAX``, so the reply is spliced, about as big as a status reply."""


async def test_snapshots_pipelined_when_the_client_reads_late_then_each_whole_and_the_request_after_waits() -> None:
    path = short_tmp() / "a.sock"
    live = bytearray(_SNAP)
    letters = iter(b"ABCD")
    kills: list[int] = []

    def snapshot(frame: bytearray, offset: int) -> tuple[int, tuple[bytearray, ...]]:
        live[:] = bytes([next(letters)]) * _SNAP  # the loop's live counters, changed since the last reply
        frame[offset:] = b"<>"
        return offset + 1, (live,)

    def kill(req: object, who: str) -> dict[str, str]:
        kills.append(1)
        return {"state": "HALTED"}

    stats = AdminStats()
    connections = AdminConnections(4)
    server = await start_admin_server(path, {"kill": kill}, stats, {"status": snapshot}, connections)
    try:
        sock = await asyncio.to_thread(socket.socket, socket.AF_UNIX, socket.SOCK_STREAM)
        await asyncio.to_thread(sock.connect, str(path))
        sock.sendall(b'{"cmd":"status","reply":"snapshot"}\n' * 4 + b'{"cmd":"kill","reason":"pipelined"}\n')
        await _wait_for(lambda: stats.requests.get("status", 0) >= 2, "the first replies")
        await asyncio.sleep(0.3)
        assert connections.open == 1  # old: aborted, a spliced reply not all taken by the socket (no last line)
        assert not kills  # replies queued past the high-water mark: the kill waits in the socket, not lost

        def read_all() -> bytes:
            sock.settimeout(15)
            data = b""
            while not data.endswith(b"}\n"):
                chunk = sock.recv(1 << 20)
                assert chunk, f"closed after {len(data)} bytes"
                data += chunk
            return data

        data = await asyncio.to_thread(read_all)
        for letter in b"ABCD":  # each whole, as it was when answered (never sent later from bytes changed since)
            (length,) = struct.unpack_from(">I", data)
            reply = msgspec.msgpack.decode(data[4 : 4 + length])
            assert reply == {"ok": True, "snapshot": b"<" + bytes([letter]) * _SNAP + b">"}, reply["snapshot"][:9]
            data = data[4 + length :]
        assert json.loads(data) == {"ok": True, "state": "HALTED"} and kills == [1]
        sock.close()
    finally:
        server.close()
        await server.wait_closed()


def _pipeline(path: Path, lines: bytes) -> socket.socket:
    """Connect and send ``lines`` in one write, reading nothing."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    sock.sendall(lines)
    return sock


async def test_requests_answered_from_tasks_when_pipelined_then_one_under_way_at_a_time_answered_in_order() -> None:
    path = short_tmp() / "a.sock"
    gate = asyncio.Event()
    started: list[int] = []

    async def reload(req: dict[str, int], who: str) -> dict[str, int]:
        started.append(req["n"])
        await gate.wait()
        return {"n": req["n"]}

    connections = AdminConnections(4)
    server = await start_admin_server(
        path, {"reload": reload, "status": lambda req, who: {"up": True}}, connections=connections
    )
    try:
        lines = b"".join(b'{"cmd": "reload", "n": %d}\n' % n for n in range(3000))
        sock = await asyncio.to_thread(_pipeline, path, lines[:-1] + b'\n{"cmd": "status"}\n')
        await _wait_for(lambda: started, "the first request started")
        await asyncio.sleep(0.3)
        assert started == [0]  # old: all 3,000 started at once, whatever the others waiting (no flow control)
        gate.set()

        def read_all() -> list[dict[str, object]]:
            sock.settimeout(10)
            data = b""
            while data.count(b"\n") < 3001:
                chunk = sock.recv(1 << 20)
                assert chunk, "closed"
                data += chunk
            return [json.loads(line) for line in data.splitlines()]

        replies = await asyncio.to_thread(read_all)
        assert replies == [{"ok": True, "n": n} for n in range(3000)] + [{"ok": True, "up": True}]  # in order
        assert started == list(range(3000))
        sock.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_past_the_bound_when_every_connection_pipelines_behind_a_task_then_kill_gets_in_and_one_goes() -> None:
    path = short_tmp() / "a.sock"
    gate = asyncio.Event()

    async def reload(req: object, who: str) -> dict[str, bool]:
        await gate.wait()
        return {"reloaded": True}

    connections = AdminConnections(2)
    handlers: dict[str, AdminHandler] = {"reload": reload, "kill": lambda req, who: {"state": "HALTED"}}
    server = await start_admin_server(path, handlers, connections=connections)
    try:
        held = []
        for count in (1, 2):
            held.append(await asyncio.to_thread(_pipeline, path, b'{"cmd": "reload"}\n' * 300))
            await _wait_for(lambda n=count: sum(c.busy() for c in list(connections._open)) == n, "busy")
        reply = await asyncio.to_thread(admin_request, path, {"cmd": "kill"})  # old: refused, all 2 "carrying out"
        assert reply == {"ok": True, "state": "HALTED"}
        assert connections.closed_bound == 1
        gate.set()  # the oldest answers its request under way, then closes saying why; the other goes on
        lines = (await asyncio.to_thread(_closed_with_lines, held[0])).splitlines()
        assert json.loads(lines[0]) == {"ok": True, "reloaded": True} and len(lines) == 2, lines[:3]
        error = json.loads(lines[1])["error"]
        assert error.startswith(
            "admin connection closed: more than 2 admin connections; this was the oldest pipelining requests behind "
            "one under way (that one was answered above; the requests after it were not carried out"
        ), error
        await _wait_for(lambda: connections.open == 1 and connections.closing == 0, "the closed one gone")
        for sock in held:
            sock.close()
    finally:
        server.close()
        await server.wait_closed()


def _closed_with_lines(sock: socket.socket) -> bytes:
    """Read ``sock`` until the gateway closes it; return all it wrote."""
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(1 << 20):
        data += chunk
    return data
