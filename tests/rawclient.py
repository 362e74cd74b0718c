"""A strategy client written from docs/strategy-protocol.md alone, the way a C++ or Rust implementer would.

Nothing here comes from the gateway's code or from msgspec: the frame is a 4-byte big-endian
length and a MessagePack array ``[tag, field, ...]`` (section 2), the MessagePack subset is
the one the doc lists (ints, strings, booleans, arrays), and messages are plain lists whose
positions are the doc's field order (section 4). Tests use it to check that the doc is exact.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

# Tags, from the tables in section 4.
HELLO, NEW_ORDER, CANCEL, REPLACE, MASS_CANCEL, HEARTBEAT = 1, 2, 3, 4, 5, 6
WELCOME, ORDER_ACCEPTED, ORDER_REJECTED, EXECUTED, CANCELED, REPLACED, CANCEL_REJECTED = 16, 17, 18, 19, 20, 21, 22
ERROR, VENUE_STATUS, MASS_CANCEL_ACK, MASS_CANCEL_REJECTED = 23, 24, 25, 26
ORDER_EVENTS = frozenset({ORDER_ACCEPTED, ORDER_REJECTED, EXECUTED, CANCELED, REPLACED, CANCEL_REJECTED})


class RawStr(bytes):
    """String bytes sent as a MessagePack ``str`` exactly as given (e.g. not valid UTF-8)."""


def pack(value: Any) -> bytes:
    """Encode one value with the shortest MessagePack encoding (section 2)."""
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        if 0 <= value <= 0x7F:
            return bytes([value])
        if -32 <= value < 0:
            return struct.pack(">b", value)
        if value >= 0:
            for marker, fmt, limit in ((0xCC, ">B", 0xFF), (0xCD, ">H", 0xFFFF), (0xCE, ">I", 0xFFFFFFFF)):
                if value <= limit:
                    return bytes([marker]) + struct.pack(fmt, value)
            return b"\xcf" + struct.pack(">Q", value)
        for marker, fmt, low in ((0xD0, ">b", -0x80), (0xD1, ">h", -0x8000), (0xD2, ">i", -0x80000000)):
            if value >= low:
                return bytes([marker]) + struct.pack(fmt, value)
        return b"\xd3" + struct.pack(">q", value)
    if isinstance(value, str | RawStr):
        data = value if isinstance(value, RawStr) else value.encode()
        if len(data) <= 31:
            return bytes([0xA0 | len(data)]) + data
        if len(data) <= 0xFF:
            return b"\xd9" + bytes([len(data)]) + data
        return b"\xda" + struct.pack(">H", len(data)) + data
    if isinstance(value, list | tuple):
        head = bytes([0x90 | len(value)]) if len(value) <= 15 else b"\xdc" + struct.pack(">H", len(value))
        return head + b"".join(pack(v) for v in value)
    raise TypeError(f"not in the protocol: {value!r}")


def unpack(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Decode one MessagePack value at ``pos``; return it and the position after it."""
    b = data[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):
        if b <= 0x9F:
            count = b & 0x0F
        else:
            width = 2 if b == 0xDC else 4
            count = int.from_bytes(data[pos : pos + width], "big")
            pos += width
        items = []
        for _ in range(count):
            item, pos = unpack(data, pos)
            items.append(item)
        return items, pos
    if 0xA0 <= b <= 0xBF or b in (0xD9, 0xDA, 0xDB):
        if b <= 0xBF:
            size = b & 0x1F
        else:
            width = {0xD9: 1, 0xDA: 2, 0xDB: 4}[b]
            size = int.from_bytes(data[pos : pos + width], "big")
            pos += width
        return data[pos : pos + size].decode(), pos + size
    if b in (0xC2, 0xC3):
        return b == 0xC3, pos
    if 0xCC <= b <= 0xCF:
        width = 1 << (b - 0xCC)
        return int.from_bytes(data[pos : pos + width], "big"), pos + width
    if 0xD0 <= b <= 0xD3:
        width = 1 << (b - 0xD0)
        return int.from_bytes(data[pos : pos + width], "big", signed=True), pos + width
    raise ValueError(f"byte {b:#04x} is not in the protocol's MessagePack subset")


def frame(tag: int, *fields: Any) -> bytes:
    """Return one frame: 4-byte big-endian payload length, then the array ``[tag, *fields]``."""
    payload = pack([tag, *fields])
    return struct.pack(">I", len(payload)) + payload


def raw_frame(payload: bytes) -> bytes:
    """Return a frame around arbitrary payload bytes."""
    return struct.pack(">I", len(payload)) + payload


def split(buffer: bytearray) -> list[list[Any]]:
    """Remove and decode every complete frame at the start of ``buffer``."""
    out = []
    while len(buffer) >= 4:
        (length,) = struct.unpack_from(">I", buffer)
        if len(buffer) < 4 + length:
            break
        message, end = unpack(bytes(buffer[4 : 4 + length]))
        assert end == length, "trailing bytes in a frame"
        out.append(message)
        del buffer[: 4 + length]
    return out


def sized_split(sizes: list[int]) -> Any:
    """Return ``split`` noting each complete frame's length in ``sizes`` first (this client reads any length; a test
    puts it in place of ``split`` to see the frames' sizes)."""
    inner = split

    def sized(buffer: bytearray) -> list[list[Any]]:
        pos = 0
        while len(buffer) - pos >= 4:
            (length,) = struct.unpack_from(">I", buffer, pos)
            if len(buffer) - pos < 4 + length:
                break
            sizes.append(length)
            pos += 4 + length
        return inner(buffer)

    return sized


class RawClient:
    """One strategy connection over a non-blocking Unix socket, driven from the test's event loop."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.buffer = bytearray()
        self.received: list[list[Any]] = []
        """Every message decoded so far, in order."""
        self.unread: list[list[Any]] = []
        self.closed = False

    async def connect(self) -> RawClient:
        """Connect the socket (nothing is sent)."""
        await asyncio.get_running_loop().sock_connect(self.sock, self.path)
        return self

    async def send(self, data: bytes) -> None:
        """Write bytes as they are."""
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def hello(
        self, strategy_id: str, version: int = 2, last_seq: int = 0, heartbeat_ms: int = 10_000
    ) -> list[Any]:
        """Send Hello and return the Welcome (fail on anything else).

        The default heartbeat is 10 s: this client sends no heartbeats, and the gateway cuts a strategy silent for
        three intervals, so a test that waits on a slow machine must not be cut for its silence.
        """
        await self.send(frame(HELLO, strategy_id, version, last_seq, heartbeat_ms))
        (welcome,) = await self.read(1)
        assert welcome[0] == WELCOME, welcome
        return welcome

    async def read(self, count: int, timeout_s: float = 15.0) -> list[list[Any]]:
        """Return the next ``count`` messages (heartbeats skipped), fewer only if the gateway closed."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout_s
        while True:
            decoded = [m for m in split(self.buffer) if m[0] != HEARTBEAT]
            self.received += decoded
            self.unread += decoded
            if len(self.unread) >= count or self.closed:
                got, self.unread = self.unread[:count], self.unread[count:]
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {count} messages, got {self.unread}")
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), remaining)
            except ConnectionResetError:  # closed with bytes of ours unread: the end, like EOF
                data = b""
            if not data:
                self.closed = True
            self.buffer += data

    async def read_until_closed(self, timeout_s: float = 15.0) -> list[list[Any]]:
        """Read everything until the gateway closes the connection."""
        return await self.read(1 << 30, timeout_s)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def order_events(messages: list[list[Any]]) -> list[list[Any]]:
    """Return the order events (the messages that carry ``seq``)."""
    return [m for m in messages if m[0] in ORDER_EVENTS]
