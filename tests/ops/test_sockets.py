"""The venue socket hook on live loopback sockets, driven by the real ``VenueConnector``."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys

import pytest

from gateway.ops.onload import FdStat
from gateway.ops.sockets import SO_BUSY_POLL, AccelerationRegistry, VenueSocketTuner
from tests.ops.venue_double import BytesAdapter
from venues.connector import VenueConnector


class _HookedProtocol(asyncio.Protocol):
    """Runs socket hooks from ``connection_made`` exactly as ``venues.connector`` does.

    ``VenueConnector`` itself asserts ``isinstance(transport, asyncio.Transport)``, which
    uvloop's TCPTransport is not, so the loop-parametrised tests drive the hook through
    this protocol; ``test_hook_when_used_by_venue_connector...`` covers the connector.
    """

    def __init__(self, hook: VenueSocketTuner, name: str) -> None:
        self.hook = hook
        self.name = name
        self.sock: socket.socket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.sock = transport.get_extra_info("socket")
        assert self.sock is not None
        self.hook(self.sock, self.name)


class _Connection:
    def __init__(self, transport: asyncio.BaseTransport, protocol: _HookedProtocol, server: asyncio.Server) -> None:
        self.transport = transport
        self.sock = protocol.sock
        self.server = server

    def close(self) -> None:
        self.transport.close()
        self.server.close()


async def _connect(hook: VenueSocketTuner, name: str = "OUCH") -> _Connection:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, protocol = await loop.create_connection(lambda: _HookedProtocol(hook, name), "127.0.0.1", port)
    return _Connection(transport, protocol, server)


async def test_hook_when_kernel_path_then_live_socket_has_nodelay_and_busy_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ops.sockets")
    registry = AccelerationRegistry()
    conn = await _connect(VenueSocketTuner(registry, onload=None, so_busy_poll_us=50))
    try:
        sock = conn.sock
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockopt(socket.SOL_SOCKET, SO_BUSY_POLL) == 50
        entry = registry.get("OUCH")
        assert entry is not None
        assert (entry.fd, entry.path, entry.so_busy_poll_us, entry.tcp_nodelay) == (
            sock.fileno(),
            "kernel",
            50,
            True,
        )
        assert entry.peer == f"127.0.0.1:{conn.server.sockets[0].getsockname()[1]}"
        assert registry.all_accelerated() is False
        lines = [r.getMessage() for r in caplog.records if r.name == "gateway.ops.sockets"]
        assert lines == [
            f"venue OUCH socket fd {sock.fileno()} {entry.local} -> {entry.peer}:"
            " kernel (Onload not present); TCP_NODELAY on, SO_BUSY_POLL 50 us"
        ]
    finally:
        conn.close()


async def test_hook_when_busy_poll_zero_then_option_left_unset() -> None:
    registry = AccelerationRegistry()
    conn = await _connect(VenueSocketTuner(registry, onload=None, so_busy_poll_us=0))
    try:
        assert conn.sock is not None
        assert conn.sock.getsockopt(socket.SOL_SOCKET, SO_BUSY_POLL) == 0
        entry = registry.get("OUCH")
        assert entry is not None and entry.so_busy_poll_us == 0
    finally:
        conn.close()


class _StackStub:
    """Answers ``fd_stat`` like libonload would for a socket in stack 3, or as handed over."""

    def __init__(self, accelerated: bool) -> None:
        self.accelerated = accelerated
        self.asked: list[int] = []

    def fd_stat(self, fd: int) -> FdStat | str:
        self.asked.append(fd)
        return FdStat(True, 3, "gateway", 11) if self.accelerated else FdStat(False)


async def test_hook_when_onload_accelerates_socket_then_records_stack_and_skips_busy_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ops.sockets")
    registry = AccelerationRegistry()
    stack = _StackStub(accelerated=True)
    hook = VenueSocketTuner(registry, onload=stack, so_busy_poll_us=50)  # type: ignore[arg-type]
    conn = await _connect(hook, "FIX1")
    try:
        assert conn.sock is not None
        fd = conn.sock.fileno()
        assert stack.asked == [fd]
        entry = registry.get("FIX1")
        assert entry is not None
        assert (entry.path, entry.stack_id, entry.stack_name) == ("onload", 3, "gateway")
        assert entry.so_busy_poll_us == 0  # Onload spins itself: no kernel busy poll on its sockets
        assert registry.all_accelerated() is True
        assert any(
            r.getMessage().startswith(f"venue FIX1 socket fd {fd} ")
            and "accelerated by Onload stack 3 (gateway)" in r.getMessage()
            for r in caplog.records
        )
    finally:
        conn.close()


async def test_hook_when_onload_hands_socket_to_kernel_in_strict_mode_then_logs_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = AccelerationRegistry()
    hook = VenueSocketTuner(registry, onload=_StackStub(False), so_busy_poll_us=50, strict=True)  # type: ignore[arg-type]
    conn = await _connect(hook)
    try:
        entry = registry.get("OUCH")
        assert entry is not None
        assert entry.path == "kernel"
        assert entry.reason == "Onload present but this socket was handed to the kernel"
        assert entry.so_busy_poll_us == 50  # on the kernel path after all: busy poll it
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "gateway.ops.sockets"]
        assert len(errors) == 1 and "kernel (Onload present but this socket was handed to the kernel)" in (
            errors[0].getMessage()
        )
        assert registry.status()["all_venue_sockets_accelerated"] is False
    finally:
        conn.close()


def test_hook_when_used_by_venue_connector_then_tunes_every_connection() -> None:
    async def scenario() -> tuple[int, int, int, int]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        registry = AccelerationRegistry()
        hook = VenueSocketTuner(registry, onload=None, so_busy_poll_us=25)
        adapter = BytesAdapter("OUCH")
        port = server.sockets[0].getsockname()[1]
        connector = VenueConnector(adapter, "127.0.0.1", port, after_input=lambda: None, socket_hooks=[hook])
        connector.start()
        for _ in range(400):
            if adapter.connected:
                break
            await asyncio.sleep(0.005)
        assert connector.sock is not None
        live = connector.sock.getsockopt(socket.SOL_SOCKET, SO_BUSY_POLL), connector.sock.fileno()
        entry = registry.get("OUCH")
        await connector.stop()
        server.close()
        assert entry is not None
        return adapter.connected, live[0], live[1], entry.fd

    connected, busy_poll, fd, recorded_fd = asyncio.run(scenario())
    assert (connected, busy_poll, recorded_fd) == (1, 25, fd)


def test_hook_when_socket_closed_then_records_nothing_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = AccelerationRegistry()
    sock = socket.socket()
    sock.close()
    VenueSocketTuner(registry, onload=None, so_busy_poll_us=50)(sock, "X")
    assert registry.entries() == []
    assert "venue X: socket closed before it could be tuned" in caplog.text


UNPRIVILEGED_HOOK = """
import os, socket
from gateway.ops.sockets import AccelerationRegistry, VenueSocketTuner
server = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(server.getsockname())
os.setgid(65534); os.setuid(65534)
registry = AccelerationRegistry()
VenueSocketTuner(registry, onload=None, so_busy_poll_us=50)(client, "V")
entry = registry.get("V")
print(entry.tcp_nodelay, entry.so_busy_poll_us, entry.problems)
"""


def test_hook_when_unprivileged_then_busy_poll_outcome_is_reported_not_raised() -> None:
    if os_geteuid() != 0:
        pytest.skip("needs root to drop to an unprivileged user")
    result = subprocess.run(
        [sys.executable, "-c", UNPRIVILEGED_HOOK], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    nodelay, busy, problems = result.stdout.strip().split(" ", 2)
    assert nodelay == "True"
    # 6.18 (this VM) lets any user set SO_BUSY_POLL; older kernels answer EPERM, which must land in problems.
    assert (busy == "50" and problems == "()") or (busy == "0" and "EPERM" in problems)


def os_geteuid() -> int:
    import os

    return os.geteuid()
