"""The asyncio layer every TCP venue simulator shares: accept, move bytes, fire timers, cut connections.

A simulator's sans-IO core (``SimulatorCore`` of ``simulators.ouch`` or ``simulators.boe``) decides
everything; ``TcpSimulator`` owns the listening socket and one ``ServerProtocol`` per client. It
works under uvloop and the stdlib loop.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Final, Protocol, cast

from model.clock import NowNs

MS: Final = 1_000_000


class SimulatorCore(Protocol):
    """What ``ServerProtocol`` needs from a sans-IO simulator core."""

    clock: NowNs

    @property
    def first_poll_ns(self) -> int:
        """Return when to run a new connection's timers first."""

    def connect(self, now_ns: int) -> Any:
        """Register a new client connection and return it."""

    def receive(self, connection: Any, data: bytes, now_ns: int) -> None:
        """Feed client bytes."""

    def output(self, connection: Any, now_ns: int) -> tuple[bytearray, bool]:
        """Return the bytes to write and whether to cut the connection right after them."""

    def poll(self, connection: Any, now_ns: int) -> int:
        """Run one connection's timers; return ns until its next deadline."""

    def disconnected(self, connection: Any, now_ns: int) -> None:
        """Forget a connection that is gone."""

    def close(self) -> None:
        """Release files (the record) once the simulator stops."""


class ServerProtocol(asyncio.Protocol):
    """One client connection: bytes in and out, a poll timer, cuts and closes."""

    def __init__(self, simulator: TcpSimulator) -> None:
        self._simulator = simulator
        self._core = simulator.core
        self._clock = simulator.core.clock
        self.transport: asyncio.Transport | None = None
        self.connection: Any = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it: no isinstance check.
        transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport
        self.connection = self._core.connect(self._clock())
        self._simulator.protocols.add(self)
        self._schedule(self._core.first_poll_ns)

    def data_received(self, data: bytes) -> None:
        if self.connection is None:
            return
        self._core.receive(self.connection, data, self._clock())
        self._simulator.flush_all()

    def connection_lost(self, exc: Exception | None) -> None:
        del exc
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._simulator.protocols.discard(self)
        if self.connection is not None:
            self._core.disconnected(self.connection, self._clock())
        self.transport = None

    def flush(self) -> None:
        """Write pending output; cut or close the connection when the core says so."""
        transport = self.transport
        connection = self.connection
        if transport is None or connection is None or transport.is_closing():
            return
        data, cut = self._core.output(connection, self._clock())
        if data:
            transport.write(data)
        if cut:
            transport.abort()
        elif connection.closed:
            transport.close()

    def cut(self) -> None:
        """Abort the connection now (unsent data is lost)."""
        if self.transport is not None:
            self.transport.abort()

    def _schedule(self, delay_ns: int) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(delay_ns, MS) / 1e9, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.connection is None or self.transport is None:
            return
        next_ns = self._core.poll(self.connection, self._clock())
        self.flush()
        if self.transport is not None and not self.transport.is_closing():
            self._schedule(next_ns)


class TcpSimulator:
    """A simulator core on a real TCP socket (in-process API for tests)."""

    def __init__(self, core: SimulatorCore, host: str, port: int) -> None:
        self.core = core
        self.host = host
        self.listen_port = port
        self.protocols: set[ServerProtocol] = set()
        self.cuts = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """Return the TCP port listened on (after ``start``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("simulator is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ServerProtocol(self), self.host, self.listen_port, reuse_address=True
        )

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._server.close()
        for protocol in list(self.protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.core.close()

    def flush_all(self) -> None:
        """Send what the core has for every connection."""
        for protocol in list(self.protocols):
            protocol.flush()

    def drop_connections(self) -> int:
        """Cut every connection now, as a network failure would; return how many."""
        protocols = list(self.protocols)
        for protocol in protocols:
            protocol.cut()
        return len(protocols)
