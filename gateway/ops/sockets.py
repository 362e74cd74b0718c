"""Venue socket hook: latency options plus a per-socket answer to "does this socket bypass the kernel?".

``VenueSocketTuner`` is a ``venues.connector.SocketHook`` (``(sock, venue_name) -> None``)
run right after connect. For every venue socket it

* sets ``TCP_NODELAY`` (venue messages are small and must leave at once);
* asks Onload whether the descriptor is accelerated (``onload_fd_stat``), because Onload
  may hand a socket to the kernel at connect time;
* on the kernel path, sets ``SO_BUSY_POLL`` so reads poll the device queue briefly
  instead of waiting for an interrupt;
* reads the options back, records the result in an ``AccelerationRegistry`` (what
  ``gateway status`` shows) and logs one line.

It never raises: a socket option the kernel refuses is reported, not fatal.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

import msgspec

from gateway.ops.onload import FdStat, OnloadExtensions
from model.clock import NowNs, monotonic_ns

log = logging.getLogger(__name__)

SO_BUSY_POLL = getattr(socket, "SO_BUSY_POLL", 46)


class SocketAcceleration(msgspec.Struct, frozen=True):
    """How one venue socket moves its bytes."""

    venue: str
    fd: int
    local: str
    peer: str
    path: str
    """``onload`` (accelerated) or ``kernel``."""
    reason: str
    """Why: the Onload stack, or why the kernel has it."""
    stack_id: int
    stack_name: str
    tcp_nodelay: bool
    so_busy_poll_us: int
    """Read back from the socket (0 = not busy polling)."""
    problems: tuple[str, ...]
    """Options that could not be set, with the error."""
    connected_ns: int


class AccelerationRegistry:
    """The latest ``SocketAcceleration`` of each venue (reconnects replace it)."""

    def __init__(self, on_record: Callable[[], None] | None = None) -> None:
        self._by_venue: dict[str, SocketAcceleration] = {}
        self.connections = 0
        self._on_record = on_record
        """Called after each entry stored (``OpsRuntime``: its status sections built again at the next request)."""

    def record(self, entry: SocketAcceleration) -> None:
        """Store the entry for its venue."""
        self._by_venue[entry.venue] = entry
        self.connections += 1
        if self._on_record is not None:
            self._on_record()

    def get(self, venue: str) -> SocketAcceleration | None:
        """Return the venue's current socket entry, if any."""
        return self._by_venue.get(venue)

    def entries(self) -> list[SocketAcceleration]:
        """Return every venue's entry, by venue name."""
        return [self._by_venue[name] for name in sorted(self._by_venue)]

    def all_accelerated(self) -> bool | None:
        """True if every recorded venue socket is accelerated; ``None`` before any connect."""
        if not self._by_venue:
            return None
        return all(e.path == "onload" for e in self._by_venue.values())

    def status(self) -> dict[str, Any]:
        """Return JSON-able per-socket acceleration for ``gateway status``."""
        return {
            "all_venue_sockets_accelerated": self.all_accelerated(),
            "connections_seen": self.connections,
            "sockets": [msgspec.to_builtins(e) for e in self.entries()],
        }


def _endpoint(sock: socket.socket, peer: bool) -> str:
    try:
        address = sock.getpeername() if peer else sock.getsockname()
    except OSError:
        return "?"
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def _os_error_text(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "error")
    return f"{name} ({exc.strerror or exc})"


class VenueSocketTuner:
    """The venue socket hook: TCP_NODELAY, SO_BUSY_POLL on the kernel path, acceleration, one log line."""

    def __init__(
        self,
        registry: AccelerationRegistry,
        *,
        onload: OnloadExtensions | None,
        onload_absent_reason: str = "Onload not present",
        so_busy_poll_us: int = 0,
        strict: bool = False,
        clock: NowNs = monotonic_ns,
    ) -> None:
        self.registry = registry
        self.onload = onload
        self.onload_absent_reason = onload_absent_reason
        self.so_busy_poll_us = so_busy_poll_us
        self.strict = strict
        self._clock = clock

    def __call__(self, sock: socket.socket, venue: str) -> None:
        """Tune and classify one freshly connected venue socket."""
        if sock.fileno() < 0:
            log.warning("venue %s: socket closed before it could be tuned", venue)
            return
        try:
            entry = self._inspect(sock, venue)
        except Exception:  # the hook must never take a venue connection down
            log.exception("venue %s: socket inspection failed", venue)
            return
        self.registry.record(entry)
        self._log(entry)

    def _inspect(self, sock: socket.socket, venue: str) -> SocketAcceleration:
        fd = sock.fileno()
        problems: list[str] = []
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            problems.append(f"TCP_NODELAY not set: {_os_error_text(exc)}")
        path, reason, stack_id, stack_name = self._classify(fd)
        if path == "kernel" and self.so_busy_poll_us > 0:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_BUSY_POLL, self.so_busy_poll_us)
            except OSError as exc:
                hint = ""
                if exc.errno == errno.EPERM:
                    hint = "; some kernels need CAP_NET_ADMIN to raise it above net.core.busy_read"
                problems.append(f"SO_BUSY_POLL {self.so_busy_poll_us} us not set: {_os_error_text(exc)}{hint}")
        return SocketAcceleration(
            venue=venue,
            fd=fd,
            local=_endpoint(sock, peer=False),
            peer=_endpoint(sock, peer=True),
            path=path,
            reason=reason,
            stack_id=stack_id,
            stack_name=stack_name,
            tcp_nodelay=self._read_option(sock, socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0,
            so_busy_poll_us=self._read_option(sock, socket.SOL_SOCKET, SO_BUSY_POLL),
            problems=tuple(problems),
            connected_ns=self._clock(),
        )

    def _classify(self, fd: int) -> tuple[str, str, int, str]:
        if self.onload is None:
            return "kernel", self.onload_absent_reason, -1, ""
        stat = self.onload.fd_stat(fd)
        if isinstance(stat, str):
            return "kernel", f"acceleration unknown, assuming kernel: {stat}", -1, ""
        if stat.accelerated:
            return "onload", _stack_text(stat), stat.stack_id, stat.stack_name
        return "kernel", "Onload present but this socket was handed to the kernel", -1, ""

    @staticmethod
    def _read_option(sock: socket.socket, level: int, option: int) -> int:
        try:
            return int(sock.getsockopt(level, option))
        except OSError:
            return 0

    def _log(self, entry: SocketAcceleration) -> None:
        options = f"TCP_NODELAY {'on' if entry.tcp_nodelay else 'OFF'}"
        if entry.path == "kernel":
            options += f", SO_BUSY_POLL {entry.so_busy_poll_us} us" if entry.so_busy_poll_us else ", SO_BUSY_POLL off"
        what = f"accelerated by Onload {entry.reason}" if entry.path == "onload" else f"kernel ({entry.reason})"
        line = "venue %s socket fd %d %s -> %s: %s; %s"
        args = (entry.venue, entry.fd, entry.local, entry.peer, what, options)
        for problem in entry.problems:
            log.warning("venue %s socket fd %d: %s", entry.venue, entry.fd, problem)
        if entry.path == "kernel" and self.onload is not None:
            level = logging.ERROR if self.strict else logging.WARNING
            log.log(level, line, *args)
        else:
            log.info(line, *args)


def _stack_text(stat: FdStat) -> str:
    name = f" ({stat.stack_name})" if stat.stack_name else ""
    return f"stack {stat.stack_id}{name}"
