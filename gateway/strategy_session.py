"""Sans-IO state machine for one strategy connection.

Bytes in -> requests out; messages in -> bytes out. The session owns framing,
decoding, the Hello handshake, heartbeats and the bad-input policy; it knows
nothing about orders. The engine reads ``receive_data``'s result and answers
through ``send``.

Bad-input policy (documented in docs/strategy-protocol.md):

* a frame longer than ``MAX_FRAME_SIZE``: Error(FRAME_TOO_LARGE, fatal) and close,
  because the stream cannot be resynchronised;
* anything before Hello, or a Hello with the wrong protocol version: fatal Error, close;
* an undecodable or unknown frame: Error (non-fatal), the frame is skipped;
* a request that decodes but breaks a field rule: ``InvalidRequest`` for the engine,
  which rejects that order or cancel by its ``cl_ord_id`` (nothing is dropped);
* more than ``max_errors`` non-fatal problems on one connection: fatal Error, close;
* nothing received for ``3 x heartbeat_ms``: the session times out and closes.
"""

from __future__ import annotations

import enum
import re
from typing import Final

import msgspec

from gateway.protocol.framing import FrameSplitter, FrameWriter, strategy_message_decoder
from gateway.protocol.messages import (
    MAX_FRAME_SIZE,
    PROTOCOL_VERSION,
    Cancel,
    Error,
    GatewayMessage,
    Heartbeat,
    Hello,
    MassCancel,
    NewOrder,
    Replace,
)

HEARTBEAT_MISSES_BEFORE_TIMEOUT: Final = 3
DEFAULT_MAX_ERRORS: Final = 100

_TAG_TO_KIND: Final = {2: "NewOrder", 3: "Cancel", 4: "Replace"}
_TAG_TO_TYPE: Final[dict[int, type[msgspec.Struct]]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (Hello, NewOrder, Cancel, Replace, MassCancel)
}
_POSITION = re.compile(r"`\$\[(\d+)\]")
_ORDER_REQUESTS: Final = (NewOrder, Cancel, Replace, MassCancel)
"""Requests passed straight to the engine on an ACTIVE session (NewOrder first: the common case)."""


def describe_validation_error(tag: object, detail: str) -> str:
    """Rewrite msgspec's positional path (``$[6]``) as the field name (``qty``)."""
    cls = _TAG_TO_TYPE.get(tag) if isinstance(tag, int) else None
    if cls is None:
        return detail

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        fields = cls.__struct_fields__
        return f"`{fields[index - 1]}" if 0 < index <= len(fields) else match.group(0)

    return _POSITION.sub(name, detail)


class StrategySessionState(enum.Enum):
    """Where the connection stands."""

    AWAITING_HELLO = "AWAITING_HELLO"
    PENDING_WELCOME = "PENDING_WELCOME"
    """Hello received and handed to the engine, which has not answered yet."""
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"


class InvalidRequest(msgspec.Struct, frozen=True, gc=False):
    """A NewOrder/Cancel/Replace whose ``cl_ord_id`` is readable but whose fields are not."""

    kind: str
    cl_ord_id: str
    text: str


StrategyRequest = NewOrder | Cancel | Replace | MassCancel | Hello | InvalidRequest
"""What ``StrategySession.receive_data`` hands to the engine, one per complete frame."""


class StrategySession:
    """Protocol state for one strategy connection (no sockets, no clocks of its own)."""

    def __init__(self, now_ns: int, *, max_frame: int = MAX_FRAME_SIZE, max_errors: int = DEFAULT_MAX_ERRORS):
        self.state = StrategySessionState.AWAITING_HELLO
        self.strategy_id = ""
        self.heartbeat_ns = 1_000_000_000
        self.close_reason = ""
        self.errors = 0
        self.max_errors = max_errors
        self.frames_in = 0
        self.last_received_ns = now_ns
        self.last_sent_ns = now_ns
        self._splitter = FrameSplitter(max_frame)
        self._writer = FrameWriter()
        self._decode = strategy_message_decoder.decode

    # ---- inbound --------------------------------------------------------------------------

    def receive_data(self, data: bytes, now_ns: int) -> list[StrategyRequest]:
        """Consume bytes from the strategy and return the requests they complete."""
        if self.state is StrategySessionState.CLOSED:
            return []
        self.last_received_ns = now_ns
        out: list[StrategyRequest] = []
        decode = self._decode
        for frame in self._splitter.feed(data):
            self.frames_in += 1
            try:
                msg = decode(frame)
            except msgspec.ValidationError as exc:
                self._on_invalid(frame, str(exc), out)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # a str that is not UTF-8 raises the latter
                self._error("BAD_FRAME", f"frame {self.frames_in}: not a valid message: {exc}")
            else:
                if isinstance(msg, _ORDER_REQUESTS) and self.state is StrategySessionState.ACTIVE:
                    out.append(msg)  # the common case, as _on_message would
                else:
                    self._on_message(msg, out)
            if self.is_closed():
                return out
        if self._splitter.oversized is not None:
            self.close(
                "FRAME_TOO_LARGE",
                f"frame length {self._splitter.oversized} exceeds the maximum {self._splitter.max_frame}",
            )
        return out

    def _on_message(self, msg: object, out: list[StrategyRequest]) -> None:
        if self.state is StrategySessionState.AWAITING_HELLO:
            if type(msg) is not Hello:
                self.close("HELLO_REQUIRED", f"first message must be Hello, got {type(msg).__name__}")
                return
            if msg.protocol_version != PROTOCOL_VERSION:
                self.close(
                    "UNSUPPORTED_VERSION",
                    f"protocol version {msg.protocol_version} not supported; this gateway speaks {PROTOCOL_VERSION}",
                )
                return
            self.state = StrategySessionState.PENDING_WELCOME
            self.strategy_id = msg.strategy_id
            self.heartbeat_ns = msg.heartbeat_ms * 1_000_000
            out.append(msg)
            return
        # ACTIVE, or PENDING_WELCOME for requests pipelined behind the Hello in the same
        # read: the engine answers the Hello first and drops the rest if it refused it.
        if type(msg) is Heartbeat:
            return
        if type(msg) is Hello:
            self._error("ALREADY_LOGGED_IN", "Hello received on an open session; ignored")
            return
        out.append(msg)  # type: ignore[arg-type]

    def _on_invalid(self, frame: memoryview, detail: str, out: list[StrategyRequest]) -> None:
        """Turn a frame that decodes but breaks a field rule into an InvalidRequest or an Error."""
        try:
            raw = msgspec.msgpack.decode(frame)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raw = None
        if (
            self.state is not StrategySessionState.AWAITING_HELLO
            and isinstance(raw, list)
            and len(raw) >= 2
            and type(raw[0]) is int  # a list or map there is unhashable
            and raw[0] in _TAG_TO_KIND
            and isinstance(raw[1], str)
            and 0 < len(raw[1]) <= 64
        ):
            self.errors += 1
            out.append(InvalidRequest(_TAG_TO_KIND[raw[0]], raw[1], describe_validation_error(raw[0], detail)))
            self._check_error_budget()
            return
        if self.state is StrategySessionState.AWAITING_HELLO:
            self.close("HELLO_REQUIRED", f"first frame is not a valid Hello: {detail}")
            return
        tag = raw[0] if isinstance(raw, list) and raw else None
        self._error("INVALID_MESSAGE", f"frame {self.frames_in}: {describe_validation_error(tag, detail)}")

    def _error(self, code: str, text: str) -> None:
        self.errors += 1
        self.send(Error(code, text, False))
        self._check_error_budget()

    def _check_error_budget(self) -> None:
        if self.errors > self.max_errors and self.state is not StrategySessionState.CLOSED:
            self.close("TOO_MANY_ERRORS", f"more than {self.max_errors} protocol errors on this connection")

    def is_closed(self) -> bool:
        """Return True once the session is closed (no more input is processed)."""
        return self.state is StrategySessionState.CLOSED

    # ---- outbound -------------------------------------------------------------------------

    def send(self, message: GatewayMessage) -> None:
        """Queue one message for the strategy."""
        self._writer.write(message)

    def welcome(self) -> None:
        """Mark the handshake complete (the engine has queued the Welcome)."""
        if self.state is StrategySessionState.PENDING_WELCOME:
            self.state = StrategySessionState.ACTIVE

    def close(self, code: str, text: str) -> None:
        """Queue a fatal Error and mark the session closed; the transport closes after flushing."""
        if self.state is StrategySessionState.CLOSED:
            return
        self.send(Error(code, text, True))
        self.close_reason = f"{code}: {text}"
        self.state = StrategySessionState.CLOSED

    def take_output(self, now_ns: int) -> bytearray | None:
        """Return the queued bytes (or None) and note the send time."""
        if not self._writer.buffer:
            return None
        self.last_sent_ns = now_ns
        return self._writer.take()

    @property
    def has_output(self) -> bool:
        """Return True when bytes are waiting to be written."""
        return bool(self._writer.buffer)

    # ---- timers ---------------------------------------------------------------------------

    def poll(self, now_ns: int) -> None:
        """Send a heartbeat after ``heartbeat_ms`` of silence; time out a silent strategy."""
        if self.state is StrategySessionState.CLOSED:
            return
        if self.state is StrategySessionState.AWAITING_HELLO:
            if now_ns - self.last_received_ns > HEARTBEAT_MISSES_BEFORE_TIMEOUT * self.heartbeat_ns:
                self.close("HELLO_TIMEOUT", "no Hello received in time")
            return
        if now_ns - self.last_received_ns > HEARTBEAT_MISSES_BEFORE_TIMEOUT * self.heartbeat_ns:
            self.close(
                "HEARTBEAT_TIMEOUT",
                f"nothing received for {(now_ns - self.last_received_ns) // 1_000_000} ms "
                f"(heartbeat {self.heartbeat_ns // 1_000_000} ms)",
            )
            return
        if now_ns - self.last_sent_ns >= self.heartbeat_ns and not self._writer.buffer:
            self.send(Heartbeat())
