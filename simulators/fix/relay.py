"""A raw side channel in front of the QuickFIX acceptor, for scenarios QuickFIX cannot produce.

QuickFIX only ever writes well-formed messages, so garbled bytes, bad checksums and
silences have to be made outside it. ``RawRelay`` listens on the simulator's public
port and pipes each connection to the acceptor. Towards the client it forwards whole
messages, which lets a test inject raw bytes *between* messages, hold messages back
(the link looks silent) or drop them. It uses blocking sockets on its own threads, so
it works next to any event loop in the same process.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

_END_MARK: Final = b"\x0110="
_CHUNK: Final = 65_536


def split_messages(buffer: bytearray) -> list[bytes]:
    """Remove and return the complete FIX messages at the front of ``buffer``."""
    out: list[bytes] = []
    while True:
        at = buffer.find(_END_MARK)
        if at < 0 or len(buffer) < at + 8:
            return out
        end = at + 8
        out.append(bytes(buffer[:end]))
        del buffer[:end]


def message_seq(raw: bytes) -> int:
    """Return the MsgSeqNum of a raw message (0 if absent)."""
    at = raw.find(b"\x0134=")
    if at < 0:
        return 0
    stop = raw.find(b"\x01", at + 4)
    value = raw[at + 4 : stop]
    return int(value) if value.isdigit() else 0


class _Pipe:
    """One client connection and its upstream connection to the acceptor."""

    def __init__(self, relay: RawRelay, client: socket.socket, upstream: socket.socket) -> None:
        self.relay = relay
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.last_seq_to_client = 0
        self.held: list[bytes] = []

    def start(self) -> None:
        for target, name in ((self._up, "relay-up"), (self._down, "relay-down")):
            threading.Thread(target=target, name=name, daemon=True).start()

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def _up(self) -> None:
        buffer = bytearray()
        try:
            while not self.closed.is_set():
                data = self.client.recv(_CHUNK)
                if not data:
                    break
                buffer += data
                for message in split_messages(buffer):
                    if not self.relay.drops_input(message):
                        self.upstream.sendall(message)
        except OSError:
            pass
        finally:
            self.close()

    def _down(self) -> None:
        buffer = bytearray()
        try:
            while not self.closed.is_set():
                data = self.upstream.recv(_CHUNK)
                if not data:
                    break
                buffer += data
                for message in split_messages(buffer):
                    self.relay.forward(self, message)
        except OSError:
            pass
        finally:
            self.close()

    def send_to_client(self, data: bytes, *, track: bool = True) -> None:
        self.client.sendall(data)
        seq = message_seq(data) if track else 0
        if seq:
            self.last_seq_to_client = max(self.last_seq_to_client, seq)


class RawRelay:
    """Listen on ``host:port`` and relay to ``upstream_port``; inject, hold or drop towards the client."""

    def __init__(self, host: str, port: int, upstream_port: int) -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.lock = threading.RLock()
        """Held while forwarding one message; hold it to make an injection atomic."""
        self.mode = "forward"
        """``forward``, ``hold`` (keep messages until released) or ``drop``."""
        self.dropped = 0
        self.drop_input = 0
        """How many of the next client messages to throw away before they reach the acceptor."""
        self.dropped_input: list[bytes] = []
        self._pipes: list[_Pipe] = []
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.2)  # so the accept loop notices ``stop``
        self.port: int = self._server.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="relay-accept", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError as exc:
                log.warning("relay: acceptor on port %d unreachable: %s", self.upstream_port, exc)
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pipe = _Pipe(self, client, upstream)
            with self.lock:
                self._pipes = [p for p in self._pipes if not p.closed.is_set()]
                self._pipes.append(pipe)
            pipe.start()

    def forward(self, pipe: _Pipe, message: bytes) -> None:
        """Send one message from the acceptor to the client, unless held or dropped."""
        with self.lock:
            if self.mode == "drop":
                self.dropped += 1
            elif self.mode == "hold":
                pipe.held.append(message)
            else:
                try:
                    pipe.send_to_client(message)
                except OSError:
                    pipe.close()

    def drops_input(self, message: bytes) -> bool:
        """Return True (and keep it in ``dropped_input``) if this client message is to be lost."""
        with self.lock:
            if self.drop_input > 0:
                self.drop_input -= 1
                self.dropped_input.append(message)
                return True
            return False

    @property
    def current(self) -> _Pipe | None:
        """Return the newest open connection, if any."""
        with self.lock:
            live = [p for p in self._pipes if not p.closed.is_set()]
            return live[-1] if live else None

    def set_mode(self, mode: str) -> None:
        """Switch between ``forward``, ``hold`` and ``drop``; leaving ``hold`` releases held messages."""
        with self.lock:
            self.mode = mode
            if mode == "forward":
                for pipe in self._pipes:
                    held, pipe.held = pipe.held, []
                    for message in held:
                        with contextlib.suppress(OSError):
                            pipe.send_to_client(message)

    def inject(self, build: Callable[[], tuple[bytes, int]]) -> bytes:
        """Send ``build()`` to the client between two messages (``build`` runs under the lock).

        ``build`` returns the bytes and the sequence number they use up (0 for none): the
        relay's record of what the client has seen only counts numbers really consumed.
        """
        with self.lock:
            pipe = self.current
            if pipe is None:
                raise RuntimeError("no client connected to the relay")
            data, seq = build()
            pipe.send_to_client(data, track=False)
            if seq:
                pipe.last_seq_to_client = max(pipe.last_seq_to_client, seq)
            return data

    def disconnect(self) -> None:
        """Drop every relayed connection (both sides see the TCP connection end)."""
        with self.lock:
            for pipe in self._pipes:
                pipe.close()

    def stop(self) -> None:
        """Stop listening and drop every connection."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._server.close()
        self.disconnect()
        self._thread.join(timeout=2)
