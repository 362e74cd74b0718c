"""Length-prefixed framing for the strategy protocol (sans-IO).

A frame is a 4-byte big-endian unsigned payload length followed by that many bytes
of MessagePack. ``FrameSplitter`` turns a byte stream into payloads;
``FrameWriter`` appends encoded frames to a buffer that the transport takes whole.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import msgspec

from gateway.protocol.messages import MAX_FRAME_SIZE, GatewayMessage, StrategyMessage

LENGTH_PREFIX: Final = struct.Struct(">I")
PREFIX_SIZE: Final = LENGTH_PREFIX.size


class FrameSplitter:
    """Split a byte stream into length-prefixed payloads.

    ``feed`` returns the complete payloads found so far as memoryviews, valid until the
    next call. A length above ``max_frame`` cannot be resynchronised: ``oversized``
    is set to it and the splitter stops producing frames.
    """

    __slots__ = ("_pending", "max_frame", "oversized")

    def __init__(self, max_frame: int = MAX_FRAME_SIZE) -> None:
        self._pending = bytearray()
        self.max_frame = max_frame
        self.oversized: int | None = None

    @property
    def buffered(self) -> int:
        """Return the number of bytes held back waiting for the rest of a frame."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[memoryview]:
        """Consume ``data`` and return every payload it completes."""
        if self.oversized is not None:
            return []
        if self._pending:
            self._pending += data
            buf: bytes | bytearray | memoryview = bytes(self._pending)
            self._pending.clear()
        else:
            buf = data
        view = memoryview(buf)
        end = len(view)
        pos = 0
        frames: list[memoryview] = []
        unpack_from = LENGTH_PREFIX.unpack_from
        max_frame = self.max_frame
        while end - pos >= PREFIX_SIZE:
            (length,) = unpack_from(view, pos)
            if length > max_frame:
                self.oversized = length
                return frames
            stop = pos + PREFIX_SIZE + length
            if stop > end:
                break
            frames.append(view[pos + PREFIX_SIZE : stop])
            pos = stop
        if pos < end:
            self._pending += view[pos:]
        return frames


class FrameWriter:
    """Encode messages as frames into a buffer; the transport takes the buffer whole."""

    __slots__ = ("_encode_into", "buffer")

    def __init__(self) -> None:
        self._encode_into = msgspec.msgpack.Encoder().encode_into
        self.buffer = bytearray()

    def write(self, message: Any) -> None:
        """Append one framed message to the buffer."""
        buf = self.buffer
        start = len(buf)
        self._encode_into(message, buf, start + PREFIX_SIZE)
        LENGTH_PREFIX.pack_into(buf, start, len(buf) - start - PREFIX_SIZE)

    def take(self) -> bytearray:
        """Return the buffered bytes and start a fresh buffer (the old one is never reused)."""
        out = self.buffer
        self.buffer = bytearray()
        return out


_encoder = msgspec.msgpack.Encoder()


def encode_frame(message: Any) -> bytes:
    """Encode one message as a standalone frame (convenience for clients and tests)."""
    payload = _encoder.encode(message)
    return LENGTH_PREFIX.pack(len(payload)) + payload


strategy_message_decoder: Final = msgspec.msgpack.Decoder(StrategyMessage)
"""Decoder for frames a strategy sends (used by the gateway)."""

gateway_message_decoder: Final = msgspec.msgpack.Decoder(GatewayMessage)
"""Decoder for frames the gateway sends (used by clients)."""
