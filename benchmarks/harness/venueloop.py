"""A plain ``epoll`` loop for the benchmark's fast venues: one ``recv`` and one ``send`` per wake-up.

The venues (``simulators.ouch.fast``, ``simulators.fix.fast_venue``) are sans-IO; this moves their
bytes with as little Python as possible between the kernel and them: no event-loop callbacks, no
transports, reads of up to 1 MiB, TCP_NODELAY, and timers (heartbeats) only when a connection's
poll deadline has passed. It runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Final, Protocol

RECV_SIZE: Final = 1 << 20
MAX_WAIT_NS: Final = 250_000_000


class VenueConnection(Protocol):
    """What the loop needs from a venue's per-connection state."""

    @property
    def close_reason(self) -> str | None:
        """Why the connection must close once its output is written (None: keep it)."""

    def receive(self, data: bytes, now_ns: int) -> bytes | bytearray:
        """Consume client bytes; return the answer bytes."""

    def poll(self, now_ns: int, idle_ns: int) -> tuple[bytes | bytearray, int]:
        """Run timers (``idle_ns``: since the last write); return (bytes to write, ns until the next poll)."""


class StopRequested(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the SIGTERM/SIGINT handler to leave the loop."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise StopRequested


class _Client:
    __slots__ = ("conn", "last_sent_ns", "next_poll_ns", "out", "sock")

    def __init__(self, sock: socket.socket, conn: VenueConnection, now_ns: int) -> None:
        self.sock = sock
        self.conn = conn
        self.out = bytearray()
        self.last_sent_ns = now_ns
        self.next_poll_ns = now_ns


def serve(
    port_file: Path, connect: Callable[[], VenueConnection], host: str = "127.0.0.1", *, ready: Callable[[], None]
) -> None:
    """Listen on a free port (written to ``port_file``), serve connections until SIGTERM/SIGINT.

    ``ready`` runs once everything is set up, right before the port file appears.
    """
    clock = time.monotonic_ns
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(16)
    listener.setblocking(False)
    poller = select.epoll()
    listen_fd = listener.fileno()
    poller.register(listen_fd, select.EPOLLIN)
    clients: dict[int, _Client] = {}
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    ready()
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(listener.getsockname()[1]))
    tmp.rename(port_file)

    def close(fd: int) -> None:
        client = clients.pop(fd)
        with contextlib.suppress(OSError):
            poller.unregister(fd)
        client.sock.close()

    def flush(fd: int, client: _Client, now_ns: int) -> None:
        pending = client.out
        try:
            sent = client.sock.send(pending)
        except BlockingIOError:
            sent = 0
        except OSError:
            close(fd)
            return
        if sent:
            del pending[:sent]
            client.last_sent_ns = now_ns
        poller.modify(fd, select.EPOLLIN | select.EPOLLOUT if pending else select.EPOLLIN)
        if not pending and client.conn.close_reason is not None:
            close(fd)

    wait_s = MAX_WAIT_NS / 1e9
    try:
        while True:
            events = poller.poll(wait_s)
            now = clock()
            for fd, mask in events:
                if fd == listen_fd:
                    sock, _ = listener.accept()
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    clients[sock.fileno()] = _Client(sock, connect(), now)
                    poller.register(sock.fileno(), select.EPOLLIN)
                    continue
                client = clients.get(fd)
                if client is None:
                    continue
                if mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    try:
                        data: bytes | None = client.sock.recv(RECV_SIZE)
                    except BlockingIOError:
                        data = None
                    except OSError:
                        data = b""
                    if data == b"":
                        close(fd)
                        continue
                    if data:
                        client.out += client.conn.receive(data, now)
                if client.out:
                    flush(fd, client, now)
                elif client.conn.close_reason is not None:
                    close(fd)
            earliest = now + MAX_WAIT_NS
            for fd, client in list(clients.items()):
                if now >= client.next_poll_ns:
                    out, wait = client.conn.poll(now, now - client.last_sent_ns)
                    client.next_poll_ns = now + max(wait, 1_000_000)
                    if out:
                        client.out += out
                        flush(fd, client, now)
                earliest = min(earliest, client.next_poll_ns)
            wait_s = max(earliest - clock(), 0) / 1e9
    except StopRequested:
        pass
    finally:
        for fd in list(clients):
            close(fd)
        listener.close()
        poller.close()
