"""Sans-IO state machine for one strategy connection.

Bytes in -> requests out; messages in -> bytes out. The session owns framing,
decoding, the Hello handshake, heartbeats, deadlines and the bad-input policy; it
knows nothing about orders. The engine reads ``receive_data``'s result, answers
through ``send``, and calls ``end_of_read`` once it has answered everything in one
read from the socket. A Hello is the last request of its read: the bytes behind it are left
undecoded (``take_behind_hello``) for the engine to read once it has answered the Hello (at once, or
after a Welcome that waits for the journal).

Bad-input policy (documented in docs/strategy-protocol.md, section 4):

* before the Hello, anything but a valid Hello of a supported version is fatal:
  ``BAD_FRAME`` (not MessagePack, zero length), ``HELLO_REQUIRED`` (another message),
  ``BAD_HELLO`` (a Hello whose fields break a rule), ``UNSUPPORTED_VERSION``;
* a Hello must arrive within ``hello_timeout_ms`` of connecting (absolute: bytes do not
  extend it), and a frame must be complete within ``frame_timeout_ms`` of its first byte;
* a frame longer than ``MAX_FRAME_SIZE``: Error(FRAME_TOO_LARGE, fatal), because the
  stream cannot be resynchronised;
* after the Hello, a NewOrder / Cancel / Replace whose tag and ``cl_ord_id`` can be read
  (leniently: other fields may be missing, mistyped or not UTF-8) but that breaks a field
  rule becomes an ``InvalidRequest``, which the engine answers with OrderRejected /
  CancelRejected ``INVALID_FIELD`` (a version-2 MassCancel: MassCancelRejected, by its ``request_id`` however
  malformed the filters before it: ``lenient_element``); a frame with tag 1 is a second Hello
  (``ALREADY_LOGGED_IN``), whatever its fields;
  anything else is a non-fatal Error (``BAD_FRAME``, ``INVALID_MESSAGE``) and is skipped;
  the Error is returned in frame order for the engine to send among its answers;
* each of those counts against ``max_errors``. Once the count goes above it, the rest of
  the current read is still answered (NewOrder / Replace refused with code
  ``TOO_MANY_ERRORS``, Cancel / MassCancel carried out) and then, at ``end_of_read``,
  the fatal Error(TOO_MANY_ERRORS) is sent and the session closes;
* nothing received for ``3 x heartbeat_ms``: the session times out and closes.

Request sequence (version 3, docs/strategy-protocol.md section 4.5): every request carries
``req_seq``, 1, 2, 3, ... per strategy id for the session day. The engine tells the session the
last one processed (``welcome``) and asks ``sequence`` for each request before carrying it out:
the next number is ``NEW``; one at or below the last processed is a ``DUPLICATE`` (not carried
out again: its answer already exists); one above the next is a ``GAP``, a fatal
Error(REQ_SEQ_GAP) naming the number expected, because requests are only processed in order and
only the strategy can send the missing ones again. A request answered ``INVALID_FIELD`` by its id
is numbered like any other when its ``req_seq`` can be read, even leniently from a frame that does
not decode (``lenient_req_seq``: cut short after it, or followed by stray bytes); one without a
readable ``req_seq`` (missing, 0, negative, not an integer) takes no place in the sequence, and its
text says so. One whose id cannot be read but whose ``req_seq`` can is an ``UnreadableRequest``:
its non-fatal Error is its answer and it takes its place (else the strategy's next request would be
a gap).
"""

from __future__ import annotations

import ast
import enum
import logging
import re
from types import FunctionType
from typing import Final, TypeVar

import msgspec

from gateway.protocol.framing import LENGTH_PREFIX, PREFIX_SIZE, FrameSplitter, FrameWriter, strategy_message_decoder
from gateway.protocol.messages import (
    LAST_SEQ_LIMIT,
    MAX_FRAME_SIZE,
    MAX_STR_BYTES,
    MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    REQ_SEQ_VERSION,
    Cancel,
    Error,
    GatewayMessage,
    Heartbeat,
    Hello,
    MassCancel,
    NewOrder,
    Replace,
    WelcomeV2,
)
from gateway.strategy_requests import InvalidRequest as InvalidRequest  # noqa: PLC0414 - re-exported
from gateway.strategy_requests import UnreadableRequest as UnreadableRequest  # noqa: PLC0414 - re-exported
from model.operator_text import clip
from model.venue_events import EVENT_MAX_ID, EVENT_MAX_TEXT, bounded_id

log = logging.getLogger(__name__)

HEARTBEAT_MISSES_BEFORE_TIMEOUT: Final = 3
DEFAULT_MAX_ERRORS: Final = 100
DEFAULT_HELLO_TIMEOUT_MS: Final = 3_000
"""A Hello must have arrived this long after the connection opened (any bytes before it do not count)."""
DEFAULT_FRAME_TIMEOUT_MS: Final = 1_000
"""A frame must be complete this long after its first byte arrived."""

_PREFIX_SIZE: Final = PREFIX_SIZE
_unpack_prefix: Final = LENGTH_PREFIX.unpack_from

_TAG_TO_KIND: Final = {2: "NewOrder", 3: "Cancel", 4: "Replace", 5: "MassCancel"}
_TAG_TO_TYPE: Final[dict[int, type[msgspec.Struct]]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (Hello, NewOrder, Cancel, Replace, MassCancel)
}
_STR_FIELDS: Final[dict[type, tuple[str, ...]]] = {
    Hello: ("strategy_id",),
    NewOrder: ("cl_ord_id", "account", "venue", "symbol"),
    Cancel: ("cl_ord_id",),
    Replace: ("cl_ord_id",),
    MassCancel: ("account", "venue", "symbol", "request_id"),
}
"""Identifier fields limited to ``MAX_STR_BYTES`` UTF-8 bytes (msgspec's own limit counts characters)."""
_POSITION = re.compile(r"`\$\[(\d+)\]")
_ORDER_REQUESTS: Final = (NewOrder, Cancel, Replace, MassCancel)
_NewOrder: Final = NewOrder
"""Compiled, a static read (the imported name is a lookup in the globals dict): tested once per frame."""
_astuple: Final = msgspec.structs.astuple
_decode_any: Final = msgspec.msgpack.Decoder().decode
"""Untyped: tells a frame that is not MessagePack from one that is but is not a message (error path only)."""
_REQ_SEQ_AT: Final[dict[int, int]] = {
    cls.__struct_config__.tag: cls.__struct_fields__.index("req_seq") + 1  # type: ignore[misc]
    for cls in _ORDER_REQUESTS
}
"""Where ``req_seq`` is in each request's array (element 0 is the tag)."""
NO_REQ_SEQ: Final = (
    "`req_seq` is missing or 0: every request of a version-3 session carries its number (1, 2, 3, ...); "
    "this one takes no place in the sequence"
)
NO_PLACE: Final = "; it has no readable `req_seq` (a positive integer): it takes no place in the sequence"
"""Added to the text answering a version-3 request whose ``req_seq`` cannot be read (the strategy's next is no gap)."""
NOT_A_REQUEST: Final = "; it is not a request: it takes no place in the sequence"
"""Added (version 3) to the Error answering a frame that is no request (an unknown tag, not a message, a second
Hello): whatever it carries, it takes no number, and the text says so as for a request without a readable one."""


_S = TypeVar("_S", bound=msgspec.Struct)
ECHO_MAX: Final = 32
"""Characters of a bad value an answer quotes (``describe_validation_error``): a longer one is named by its length
and its first ``ECHO_MAX`` characters, escaped (stratecho57: a 20,000-character ``side`` made an 80 KB answer)."""
ANSWER_TEXT_MAX: Final = EVENT_MAX_TEXT
"""Characters of any text the session builds for an answer or an Error (``bounded_answer_text``): as venue texts."""
_QUOTED = re.compile(
    rf"(Invalid (?:enum )?value )('.*'|\".*\")( - at `[^`]*`)?((?:{re.escape(NO_PLACE)})?)\Z", re.DOTALL
)
"""msgspec's message quoting a bad value (Python's repr of it: control characters escaped) and its path; in an
answer an earlier version journaled, with the field's name for the path and maybe ``NO_PLACE`` after it."""


def bounded_answer_text(text: str) -> str:
    """Return ``text`` if it has at most ``ANSWER_TEXT_MAX`` characters; else clipped to that, on one line, with a
    marker at the end naming its length (every answer's text stays far below a frame's 65,536 bytes)."""
    if len(text) <= ANSWER_TEXT_MAX:
        return text
    return clip(text, ANSWER_TEXT_MAX, f"… [clipped: {len(text):,} characters]")


def clip_quoted_value(detail: str) -> str:
    """Return msgspec's ``detail`` with a quoted bad value longer than ``ECHO_MAX`` characters named by its length
    and its first ``ECHO_MAX`` characters (escaped), not quoted whole; any other ``detail`` as it is.

    The value's own length counts (after unescaping its repr), not its escaped form's: 18 ``\\x01`` are quoted,
    33 ``X`` are named by their length (echo57b). An earlier version's answer (``journaled_form``) goes through
    this too, so its long value gets the same form as a new answer's, never an escape cut in half."""
    match = _QUOTED.match(detail)
    if match is None:
        return detail
    quoted = match.group(2)
    if len(quoted) <= ECHO_MAX + 2:  # a repr: two quotes and at least one character per character of the value
        return detail
    try:
        value: object = ast.literal_eval(quoted)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = None
    if isinstance(value, str):
        if len(value) <= ECHO_MAX:
            return detail
        shown = f"of {len(value):,} characters, starting {value[:ECHO_MAX]!r}"
    else:
        shown = f"{quoted[:ECHO_MAX]}… ({len(quoted):,} characters quoted)"
    return f"{match.group(1)}{shown}{match.group(3) or ''}{match.group(4)}"


def bounded_message(message: _S) -> _S:
    """Return ``message`` with every string that could make its frame too large bounded: a venue id longer than
    ``EVENT_MAX_ID`` in its bounded form (``bounded_id``), any other string longer than ``ANSWER_TEXT_MAX``
    characters with a quoted bad value named by its length (``clip_quoted_value``), then clipped to
    ``ANSWER_TEXT_MAX`` (``StrategySession.send``'s last guard, ``journaled_form``)."""
    changes: dict[str, str] = {}
    for name in message.__struct_fields__:
        value = getattr(message, name)
        if type(value) is str:
            if name in ("venue_order_id", "exec_id"):
                if len(value) > EVENT_MAX_ID:
                    changes[name] = bounded_id(value)
            elif len(value) > ANSWER_TEXT_MAX:
                changes[name] = bounded_answer_text(clip_quoted_value(value))
    return msgspec.structs.replace(message, **changes) if changes else message


def journaled_form(event: _S) -> _S:
    """Return the form in which a strategy event read from the journal is kept and replayed.

    As it was journaled, unless its ``text`` is longer than ``ANSWER_TEXT_MAX`` characters (an answer an earlier
    version journaled, before stratecho57): then bounded (``bounded_message``). Recovery (the replay from memory)
    and ``ReplayJob`` (the replay read from the journal) both use it, so an event has the same bytes however it is
    replayed (echo57b: a 10,033-character text was replayed clipped from memory, whole from the journal).
    """
    text = getattr(event, "text", None)
    if type(text) is str and len(text) > ANSWER_TEXT_MAX:
        return bounded_message(event)
    return event


_MSGPACK_TYPE_NAMES: Final = {"object": "map", "None": "nil", "null": "nil", "bytes": "bin"}
"""msgspec's names for decoded types that MessagePack calls otherwise (``int``, ``str``, ``float``, ``bool`` and
``array`` are the same in both)."""
_TYPE_NAME = re.compile(r"`(object|None|null|bytes)`")


def describe_validation_error(tag: object, detail: str) -> str:
    """Rewrite msgspec's wording in the strategy protocol's terms.

    The positional path (``$[6]``) becomes the field name (``qty``) and msgspec's type names become the
    MessagePack format names a client in any language knows (``object`` -> ``map``, ``None`` -> ``nil``,
    ``bytes`` -> ``bin``). A quoted bad value longer than ``ECHO_MAX`` characters is named by its length and its
    first characters (``clip_quoted_value``), and the whole text is bounded (``bounded_answer_text``).
    """
    detail = bounded_answer_text(clip_quoted_value(detail))
    detail = _TYPE_NAME.sub(lambda match: f"`{_MSGPACK_TYPE_NAMES[match.group(1)]}`", detail)
    cls = _TAG_TO_TYPE.get(tag) if isinstance(tag, int) else None
    if cls is None:
        return detail

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        fields = cls.__struct_fields__
        return f"`{fields[index - 1]}" if 0 < index <= len(fields) else match.group(0)

    return _POSITION.sub(name, detail)


def last_seq_too_large(last_seq: int, next_seq: int) -> str:
    """Return the BAD_HELLO text for a ``last_seq`` at or above ``LAST_SEQ_LIMIT`` that the gateway has not numbered.

    ``next_seq`` is the strategy's next number: every ``last_seq`` below it was numbered (or skipped) by the gateway
    itself and is always accepted, however large; only a ``last_seq`` beyond the gateway's numbering can move it
    (``LAST_SEQ_AHEAD``), and only below the limit.
    """
    return (
        f"Hello: `last_seq` {last_seq} is too large: at most {LAST_SEQ_LIMIT - 1} (2^62 - 1), or a seq this gateway "
        f"has numbered for the strategy id (its last is {next_seq - 1}), so that the events numbered after it fit "
        "64 bits"
    )


def field_name(tag: int | None, position: int) -> str:
    """Return the name of element ``position`` (1 = the first field after the tag) of message ``tag``."""
    cls = _TAG_TO_TYPE.get(tag) if tag is not None else None
    if cls is not None and 0 < position <= len(cls.__struct_fields__):
        return cls.__struct_fields__[position - 1]
    return f"element {position}"


def too_long_field(msg: object) -> str | None:
    """Return a description of the first identifier longer than ``MAX_STR_BYTES`` UTF-8 bytes, or None."""
    for name in _STR_FIELDS.get(type(msg), ()):
        value: str = getattr(msg, name)
        if not value.isascii():  # an ASCII string's length is its byte count, already checked by msgspec
            size = len(value.encode())
            if size > MAX_STR_BYTES:
                return f"`{name}` is {size} bytes of UTF-8 ({len(value)} characters); at most {MAX_STR_BYTES} bytes"
    return None


# ---- lenient reading of a frame that does not decode ---------------------------------------


def peek_elements(frame: bytes | memoryview, count: int) -> tuple[list[int | bytes | None], int | None]:
    """Read the first ``count`` elements of a MessagePack array without validating the rest.

    Returns the elements read (an int, the raw bytes of a string, or None for any other type,
    after which reading stops) and the array's length (None if the frame is not an array).
    Never raises: this is how a frame that fails to decode is still answered by its tag and id.
    """
    data = bytes(frame[: 16 + count * 80])  # enough for a tag and a few short strings
    out: list[int | bytes | None] = []
    if not data:
        return out, None
    head = data[0]
    pos = 1
    if 0x90 <= head <= 0x9F:
        length = head & 0x0F
    elif head == 0xDC and len(data) >= 3:
        length, pos = int.from_bytes(data[1:3], "big"), 3
    elif head == 0xDD and len(data) >= 5:
        length, pos = int.from_bytes(data[1:5], "big"), 5
    else:
        return out, None
    for _ in range(min(count, length)):
        if pos >= len(data):
            break
        b = data[pos]
        pos += 1
        value: int | bytes | None = None
        if b <= 0x7F:
            value = b
        elif b >= 0xE0:
            value = b - 0x100
        elif 0xCC <= b <= 0xD3:
            size = 1 << ((b - 0xCC) & 3)
            if pos + size > len(data):
                break
            value = int.from_bytes(data[pos : pos + size], "big", signed=b >= 0xD0)
            pos += size
        elif 0xA0 <= b <= 0xBF or 0xD9 <= b <= 0xDB:
            if b <= 0xBF:
                size = b & 0x1F
            else:
                width = 1 << (b - 0xD9)
                if pos + width > len(data):
                    break
                size = int.from_bytes(data[pos : pos + width], "big")
                pos += width
            if pos + size > len(data):
                break
            value = data[pos : pos + size]
            pos += size
        out.append(value)
        if value is None:
            break
    return out, length


def lenient_element(frame: bytes | memoryview, position: int) -> int | bytes | None:
    """Return element ``position`` (0: the tag) of a request frame that does not decode, where ``peek_elements``
    stops short of it: an int, or the raw bytes of a string (one far longer than an id: None), else None.

    Every element before it must be well formed, of any type and size (a 500-byte string, an array, a map:
    a MassCancel's filters before its ``request_id``, strat58); what follows it is not read. The work is one pass
    over the elements before it, bounded by the frame (at most ``MAX_FRAME_SIZE`` bytes), as ``lenient_req_seq``'s.
    """
    data = bytes(frame)
    start = _array_start(data, position)
    if start < 0:
        return None
    elements, _ = peek_elements(b"\x91" + data[start : start + 95], 1)  # alone, as a one-element array
    return elements[0] if elements else None


def readable_id(value: int | bytes | None) -> str | None:
    """Return an identifier read leniently if it is valid UTF-8 of 1 to ``MAX_STR_BYTES`` bytes."""
    if not isinstance(value, bytes) or not 0 < len(value) <= MAX_STR_BYTES:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return None


def lenient_req_seq(frame: bytes | memoryview, tag: int | None) -> int:
    """Return the ``req_seq`` of a request frame that does not decode, or 0 if it cannot be read.

    The frame must start with a MessagePack array long enough to hold ``req_seq``, and every element
    before it must be well formed (its value may be anything, even a string that is not UTF-8);
    ``req_seq`` must be a positive integer where the message puts it. What follows it is not read:
    a frame cut short after it, or with stray bytes after the array, still gives its number.
    """
    position = _REQ_SEQ_AT.get(tag) if tag is not None else None
    if position is None:
        return 0
    data = bytes(frame)
    start = _array_start(data, position)
    end = _skip_elements(data, start, 1) if start >= 0 else -1
    if end < 0:
        return 0
    try:
        value = msgspec.msgpack.decode(data[start:end])
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return 0
    return value if type(value) is int and value > 0 else 0


_FIXED_SIZE: Final = {
    0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4,
    0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}  # fmt: skip
"""Bytes after the type byte of a MessagePack value of fixed size (nil, bool, numbers, fixext)."""
_LENGTH_SIZE: Final = {
    0xC4: 1, 0xC5: 2, 0xC6: 4, 0xC7: 1, 0xC8: 2, 0xC9: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4, 0xDC: 2, 0xDD: 4, 0xDE: 2,
    0xDF: 4,
}  # fmt: skip
"""Bytes of the length that follows the type byte of a bin, ext, str8-32, array16/32 or map16/32."""


def _array_start(data: bytes, position: int) -> int:
    """Return where element ``position`` (0: the tag) of the array ``data`` starts, or -1 if it cannot be found."""
    if not data:
        return -1
    head = data[0]
    if 0x90 <= head <= 0x9F:
        length, pos = head & 0x0F, 1
    elif head in (0xDC, 0xDD) and len(data) > _LENGTH_SIZE[head]:
        width = _LENGTH_SIZE[head]
        length, pos = int.from_bytes(data[1 : 1 + width], "big"), 1 + width
    else:
        return -1
    return _skip_elements(data, pos, position) if position < length else -1


def _skip_elements(data: bytes, pos: int, count: int) -> int:
    """Return where ``count`` well-formed MessagePack values from ``pos`` end (-1: cut short or malformed)."""
    end = len(data)
    while count > 0:
        if pos >= end:
            return -1
        b = data[pos]
        pos += 1
        count -= 1
        if b <= 0x7F or b >= 0xE0:  # fixint
            continue
        if b <= 0x8F:  # fixmap: its keys and values follow
            count += 2 * (b & 0x0F)
        elif b <= 0x9F:  # fixarray
            count += b & 0x0F
        elif b <= 0xBF:  # fixstr
            pos += b & 0x1F
        elif b in _FIXED_SIZE:
            pos += _FIXED_SIZE[b]
        elif b in _LENGTH_SIZE:
            width = _LENGTH_SIZE[b]
            if pos + width > end:
                return -1
            size = int.from_bytes(data[pos : pos + width], "big")
            pos += width
            if b >= 0xDE:  # map16/32
                count += 2 * size
            elif b >= 0xDC:  # array16/32
                count += size
            else:  # bin, ext (one more byte: its type), str
                pos += size + (1 if 0xC7 <= b <= 0xC9 else 0)
        else:  # 0xC1: never used
            return -1
    return pos if pos <= end else -1


def not_utf8_field(frame: bytes | memoryview, tag: int | None) -> str | None:
    """Return the name of the first string element of ``frame`` that is not valid UTF-8, if any can be found."""
    try:
        elements = msgspec.msgpack.decode(frame, type=list[msgspec.Raw])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    for position, element in enumerate(elements):
        try:
            msgspec.msgpack.decode(element)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return field_name(tag, position)
        except RecursionError:  # nested too deep to read: not the string sought
            continue
    return None


class ReqSeqCheck(enum.Enum):
    """Where a version-3 request stands in its strategy's request sequence (``StrategySession.sequence``)."""

    NEW = "NEW"
    """The next number: carry the request out."""
    DUPLICATE = "DUPLICATE"
    """At or below the last processed: already carried out and answered; not carried out again."""
    GAP = "GAP"
    """Above the next number: the session is closed with Error(REQ_SEQ_GAP); nothing more is processed."""


class StrategySessionState(enum.Enum):
    """Where the connection stands."""

    AWAITING_HELLO = "AWAITING_HELLO"
    PENDING_WELCOME = "PENDING_WELCOME"
    """Hello received and handed to the engine, which has not answered yet."""
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"


_COMPILED: Final = not isinstance(readable_id, FunctionType)
"""True when this module runs compiled (its functions are native, not Python functions)."""
_CLOSED: Final[StrategySessionState] = StrategySessionState.CLOSED  # not a Literal: no narrowing
_ACTIVE: Final[StrategySessionState] = StrategySessionState.ACTIVE
_PENDING_WELCOME: Final[StrategySessionState] = StrategySessionState.PENDING_WELCOME


StrategyRequest = NewOrder | Cancel | Replace | MassCancel | Hello | InvalidRequest | UnreadableRequest | Error
"""What ``StrategySession.receive_data`` hands to the engine, in frame order.

A non-fatal ``Error`` is for the engine to send where it stands among the answers to the
requests around it, so the strategy sees everything in the order it sent the frames.
"""


class StrategySession:
    """Protocol state for one strategy connection (no sockets, no clocks of its own)."""

    def __init__(
        self,
        now_ns: int,
        *,
        max_frame: int = MAX_FRAME_SIZE,
        max_errors: int = DEFAULT_MAX_ERRORS,
        hello_timeout_ms: int = DEFAULT_HELLO_TIMEOUT_MS,
        frame_timeout_ms: int = DEFAULT_FRAME_TIMEOUT_MS,
    ):
        self.state = StrategySessionState.AWAITING_HELLO
        self.strategy_id = ""
        self.protocol_version = 0
        """The version this session speaks (its Hello's; 0 before the Hello)."""
        self.heartbeat_ns = 1_000_000_000
        self.close_reason = ""
        self.errors = 0
        self.max_errors = max_errors
        self.frames_in = 0
        self.opened_ns = now_ns
        self.hello_timeout_ns = hello_timeout_ms * 1_000_000
        self.frame_timeout_ns = frame_timeout_ms * 1_000_000
        self.last_received_ns = now_ns
        self.last_sent_ns = now_ns
        self.welcome_out = False
        """The Welcome is queued (set by the engine) while the session is not active yet (a replay is written)."""
        self.input_paused = False
        """The gateway does not read the strategy's requests (back-pressure: its answers wait unread; or its MassCancel
        is walked); its silence is not judged meanwhile (its heartbeats wait behind its requests), from the resume on
        again (``pause_input``)."""
        self._paused_output = False
        """Paused for back-pressure (``pause_input``)."""
        self._paused_walk = False
        """Paused while the strategy's MassCancel is walked over several loop turns (``pause_input(walk=True)``)."""
        self.welcome_unwritten = False
        """The Welcome may still wait in the output (the journal cannot be written: nothing leaves): the strategy's
        silence counts from when it is written, checked by ``poll`` (rev55ops)."""
        self.last_req_seq = 0
        """(Version 3) The highest ``req_seq`` processed for this strategy id (set by ``welcome``)."""
        self.duplicates = 0
        """Requests at or below ``last_req_seq`` received on this connection (not carried out)."""
        self.oversize_replaced = 0
        """Messages whose frame would have been above ``MAX_FRAME_SIZE``, sent bounded instead (``send``)."""
        self.pending_close: tuple[str, str] | None = None
        """A fatal Error decided while reading, sent by ``end_of_read`` after the read is answered."""
        self._partial_since: int | None = None
        """When the first byte of the frame still incomplete arrived (None: no partial frame)."""
        self.behind_hello = b""
        """The bytes read behind the Hello, left undecoded for the engine (``take_behind_hello``)."""
        self._splitter = FrameSplitter(max_frame)
        self._writer = FrameWriter()
        self._decode = strategy_message_decoder.decode

    # ---- inbound --------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview, now_ns: int, size: int = -1) -> list[StrategyRequest]:
        """Consume bytes from the strategy and return the requests they complete.

        ``size``: ``len(data)`` when the caller measured it already (``Engine.link_data``); -1: measured here.

        The common case (no bytes held back from the previous read, framing intact) splits the
        frames and decodes each as it is found, in this one function (``FrameSplitter.feed``
        inline): a read of one NewOrder costs no call but the decoder's and the ASCII test's.
        Bytes held back, or a splitter stopped by an oversized frame: ``_receive_buffered``.
        """
        if self.state is _CLOSED:
            return []
        splitter = self._splitter
        if splitter._pending or splitter.oversized is not None:
            return self._receive_buffered(data, now_ns)
        self.last_received_ns = now_ns
        out: list[StrategyRequest] = []
        decode = self._decode
        view = memoryview(data)
        end = size if size >= 0 else len(view)
        pos = 0
        max_frame = splitter.max_frame
        raw = data if type(data) is bytes else None  # bytes (what a transport hands over): compiled, native reads
        while end - pos >= _PREFIX_SIZE:
            if raw is not None:  # the length prefix without a call (no tuple, no int object)
                length = raw[pos] << 24 | raw[pos + 1] << 16 | raw[pos + 2] << 8 | raw[pos + 3]
            else:
                (length,) = _unpack_prefix(view, pos)
            if length > max_frame:
                splitter.oversized = length
                break
            stop = pos + _PREFIX_SIZE + length
            if stop > end:
                break
            # bytes (what a transport hands over): compiled, the frame as a native bytes slice (a copy of a few
            # dozen bytes costs less than a memoryview object and its slice object); any other buffer: a view
            frame: bytes | memoryview = (
                raw[pos + _PREFIX_SIZE : stop] if raw is not None else view[pos + _PREFIX_SIZE : stop]
            )
            pos = stop
            self.frames_in += 1
            try:
                msg = decode(frame)
            except msgspec.ValidationError as exc:
                self._on_invalid(frame, describe_validation_error(_tag_of(frame), str(exc)), out)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # a str that is not UTF-8 may raise the latter
                self._on_undecodable(frame, exc, out)
            else:
                if type(msg) is _NewOrder and self.state is _ACTIVE and self.pending_close is None:
                    if _COMPILED:  # the five fields in one call: compiled, each attribute read of the Struct
                        # would be a generic lookup (about 170 instructions); the tuple's items are read natively
                        fields: tuple[str, str, str, str, object, object, object, object, object, object, int] = (
                            _astuple(msg)
                        )
                        req_seq = fields[10]
                        ascii_ids = (  # four method calls cost less than three concatenations and one call
                            fields[0].isascii() and fields[1].isascii() and fields[2].isascii() and fields[3].isascii()
                        )
                    else:  # interpreted, an attribute read is cheaper than a call, and one call than four
                        req_seq = msg.req_seq
                        ascii_ids = (msg.cl_ord_id + msg.account + msg.venue + msg.symbol).isascii()
                    if (req_seq or self.protocol_version < REQ_SEQ_VERSION) and ascii_ids:
                        out.append(msg)  # the common case, as _on_message would
                    else:
                        self._on_message(msg, out)
                else:
                    self._on_message(msg, out)
            if self.state is not _ACTIVE:  # nothing after a closing frame is processed; after a Hello, later
                if self.state is _PENDING_WELCOME:  # the bytes behind it wait for its Welcome, undecoded
                    self.behind_hello = bytes(view[pos:])
                return out
        if splitter.oversized is not None:
            self._fatal(
                "FRAME_TOO_LARGE", f"frame length {splitter.oversized} exceeds the maximum {splitter.max_frame}"
            )
        elif pos < end:  # the bytes held back start a new frame
            splitter._pending += view[pos:]
            self._partial_since = now_ns
        else:
            self._partial_since = None
        return out

    def _receive_buffered(self, data: bytes | bytearray | memoryview, now_ns: int) -> list[StrategyRequest]:
        """``receive_data`` when bytes are held back from an earlier read (or framing is lost)."""
        self.last_received_ns = now_ns
        out: list[StrategyRequest] = []
        decode = self._decode
        splitter = self._splitter
        had_partial = splitter.buffered > 0
        frames = splitter.feed(data)
        for index, frame in enumerate(frames):
            self.frames_in += 1
            try:
                msg = decode(frame)
            except msgspec.ValidationError as exc:
                self._on_invalid(frame, describe_validation_error(_tag_of(frame), str(exc)), out)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # a str that is not UTF-8 may raise the latter
                self._on_undecodable(frame, exc, out)
            else:
                if (
                    type(msg) is _NewOrder
                    and self.state is StrategySessionState.ACTIVE
                    and self.pending_close is None
                    and (msg.req_seq or self.protocol_version < REQ_SEQ_VERSION)
                    and (msg.cl_ord_id + msg.account + msg.venue + msg.symbol).isascii()
                ):
                    out.append(msg)  # the common case, as _on_message would
                else:
                    self._on_message(msg, out)
            if self.state is not StrategySessionState.ACTIVE:
                if self.state is StrategySessionState.PENDING_WELCOME:
                    self._hold_behind_hello(frames[index + 1 :])
                return out
        if splitter.oversized is not None:
            self._fatal(
                "FRAME_TOO_LARGE", f"frame length {splitter.oversized} exceeds the maximum {splitter.max_frame}"
            )
        elif splitter.buffered:
            if frames or not had_partial:  # the bytes held back start a new frame
                self._partial_since = now_ns
        else:
            self._partial_since = None
        return out

    def _hold_behind_hello(self, frames: list[memoryview]) -> None:
        """Leave the frames after a Hello, and the bytes the splitter holds, undecoded in ``behind_hello``."""
        splitter = self._splitter
        rest = bytearray()
        for frame in frames:
            rest += LENGTH_PREFIX.pack(len(frame))
            rest += frame
        if splitter.oversized is not None:  # its length alone: read again, it is the same fatal Error
            rest += LENGTH_PREFIX.pack(splitter.oversized)
            splitter.oversized = None
        else:
            rest += splitter._pending
            splitter._pending.clear()
        self._partial_since = None
        self.behind_hello = bytes(rest)

    def take_behind_hello(self) -> bytes:
        """Return (and forget) the bytes read behind the Hello, which the session has not decoded.

        A Hello ends what the session decodes of a read: the engine answers it first, and then reads
        the rest at once (a Welcome sent at once) or after its Welcome and replay (``Engine._on_hello``).
        """
        rest = self.behind_hello
        self.behind_hello = b""
        return rest

    def end_of_read(self) -> None:
        """Close with the fatal Error decided while reading, now that the engine answered the read."""
        if self.pending_close is not None and self.state is not StrategySessionState.CLOSED:
            self.close(*self.pending_close)

    def _on_message(self, msg: object, out: list[StrategyRequest]) -> None:
        if self.state is StrategySessionState.AWAITING_HELLO:
            if type(msg) is not Hello:
                self.close("HELLO_REQUIRED", f"the first message must be a Hello, got {type(msg).__name__}")
                return
            if not MIN_PROTOCOL_VERSION <= msg.protocol_version <= PROTOCOL_VERSION:
                self._unsupported_version(msg.protocol_version)
                return
            problem = too_long_field(msg)  # last_seq's bound depends on the strategy's numbering: Engine._on_hello
            if problem is not None:
                self.close("BAD_HELLO", f"Hello: {problem}")
                return
            self.state = StrategySessionState.PENDING_WELCOME
            self.strategy_id = msg.strategy_id
            self.protocol_version = msg.protocol_version
            self.heartbeat_ns = msg.heartbeat_ms * 1_000_000
            out.append(msg)
            return
        # ACTIVE (the bytes behind a Hello are left undecoded until the engine has answered it:
        # take_behind_hello)
        kind = type(msg)
        if kind is Heartbeat:
            return
        if kind is Hello:
            self._second_hello(out)
            return
        req_seq: int = getattr(msg, "req_seq", 0) if self.protocol_version >= REQ_SEQ_VERSION else 0
        problem = too_long_field(msg)
        if self.protocol_version >= REQ_SEQ_VERSION and not req_seq:
            problem = NO_REQ_SEQ if problem is None else problem + NO_PLACE
        if problem is not None:
            ident = _request_id(msg)
            if kind is MassCancel and self.protocol_version >= 2:
                self._invalid(kind.__name__, readable_id(ident.encode()) or "", problem, out, req_seq)
            elif kind is not MassCancel and readable_id(ident.encode()) is not None:
                self._invalid(kind.__name__, ident, problem, out, req_seq)
            else:  # no id to answer by (or a version-1 MassCancel, which has no answer)
                self._error("INVALID_MESSAGE", f"frame {self.frames_in}: {kind.__name__}: {problem}", out, req_seq)
            return
        if self.pending_close is not None and kind in (NewOrder, Replace):
            out.append(
                InvalidRequest(
                    kind.__name__,
                    _request_id(msg),
                    "not carried out: the session is closing after too many protocol errors",
                    "TOO_MANY_ERRORS",
                    req_seq,
                )
            )
            return
        out.append(msg)  # type: ignore[arg-type]

    def _second_hello(self, out: list[StrategyRequest]) -> None:
        """A Hello after the Welcome: ignored, whatever its fields, even ones that break a rule (strat58)."""
        text = "Hello received on an open session; ignored"
        if self.protocol_version >= REQ_SEQ_VERSION:
            text += NOT_A_REQUEST
        self._error("ALREADY_LOGGED_IN", text, out)

    def _on_invalid(self, frame: bytes | memoryview, detail: str, out: list[StrategyRequest]) -> None:
        """A frame that is MessagePack but not a valid message: answer it by its id if it has one.

        The typed decoder reports some bytes that are not MessagePack at all (a never-used byte such as ``c1``
        where the tag or an id should be) as a wrong type: such a frame is read as not MessagePack
        (``BAD_FRAME``, protocol doc 7.1/7.2), checked here, off the path of valid frames (rev54strat).
        """
        try:
            _decode_any(frame)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            self._on_undecodable(frame, exc, out)
            return
        except RecursionError:  # MessagePack nested deeper than the decoder goes: still not a message (rev55diff)
            pass
        elements, _ = peek_elements(frame, 5)
        tag = elements[0] if elements and isinstance(elements[0], int) else None
        if self.state is StrategySessionState.AWAITING_HELLO:
            self._refuse_first_frame(tag, elements, detail)
            return
        if tag == 1:  # a second Hello breaking a rule (a 40-byte id, heartbeat_ms 50) is a second Hello all the same
            self._second_hello(out)
        elif not self._answer_by_id(frame, tag, elements, detail, out):
            self._skip_frame("INVALID_MESSAGE", detail, frame, tag, out)

    def _on_undecodable(self, frame: bytes | memoryview, exc: Exception, out: list[StrategyRequest]) -> None:
        """A frame that is not valid MessagePack (or has a string that is not UTF-8)."""
        elements, _ = peek_elements(frame, 5)
        tag = elements[0] if elements and isinstance(elements[0], int) else None
        bad = not_utf8_field(frame, tag) if tag is not None else None
        detail = f"`{bad}` is not valid UTF-8" if bad is not None else f"not valid MessagePack: {exc}"
        if self.state is StrategySessionState.AWAITING_HELLO:
            if tag is None:
                self.close("BAD_FRAME", f"the first frame is not a MessagePack message ({exc}); expected a Hello")
            else:
                self._refuse_first_frame(tag, elements, detail)
            return
        if tag == 1:  # a second Hello, its MessagePack broken after its tag (a first one: BAD_HELLO, not BAD_FRAME)
            self._second_hello(out)
        elif not self._answer_by_id(frame, tag, elements, detail, out):
            self._skip_frame("BAD_FRAME", detail, frame, tag, out)

    def _refuse_first_frame(self, tag: int | None, elements: list[int | bytes | None], detail: str) -> None:
        if tag != 1:
            what = f"a message with tag {tag}" if tag is not None else "not a message"
            self.close("HELLO_REQUIRED", f"the first message must be a Hello (tag 1), got {what}: {detail}")
            return
        version = elements[2] if len(elements) > 2 else None
        if type(version) is int and version >= 0 and not MIN_PROTOCOL_VERSION <= version <= PROTOCOL_VERSION:
            self._unsupported_version(version)  # an unsigned version other than ours, whatever else is wrong
            return
        if type(version) is int and version < 0:  # not a uint: a broken field, named even if another one is too
            detail = f"`protocol_version` {version} is negative; it is an unsigned integer (1 to {PROTOCOL_VERSION})"
        self.close("BAD_HELLO", f"Hello: {detail}")

    def _unsupported_version(self, version: int) -> None:
        self.close(
            "UNSUPPORTED_VERSION",
            f"protocol version {version} not supported; this gateway speaks versions "
            f"{MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}",
        )

    def _answer_by_id(
        self,
        frame: bytes | memoryview,
        tag: int | None,
        elements: list[int | bytes | None],
        detail: str,
        out: list[StrategyRequest],
    ) -> bool:
        """Turn a bad request into an InvalidRequest if its tag and id can be read; return False if not."""
        kind = _TAG_TO_KIND.get(tag) if tag is not None else None
        if kind is None:
            return False
        req_seq, detail = self._numbered(frame, tag, detail)
        if kind == "MassCancel":
            if self.protocol_version < 2:  # a version-1 session has no MassCancel answer
                return False
            # behind three filters of any form (a long string, an array, a map), which peek_elements stops at
            raw = elements[4] if len(elements) > 4 else lenient_element(frame, 4)
            self._invalid(kind, readable_id(raw) or "", detail, out, req_seq)
            return True
        cl_ord_id = readable_id(elements[1]) if len(elements) > 1 else None
        if cl_ord_id is None:
            return False
        self._invalid(kind, cl_ord_id, detail, out, req_seq)
        return True

    def _invalid(self, kind: str, cl_ord_id: str, text: str, out: list[StrategyRequest], req_seq: int = 0) -> None:
        text = bounded_answer_text(text)
        if self.pending_close is not None:
            out.append(InvalidRequest(kind, cl_ord_id, text, "TOO_MANY_ERRORS", req_seq))
            return
        self.errors += 1
        out.append(InvalidRequest(kind, cl_ord_id, text, "INVALID_FIELD", req_seq))
        self._check_error_budget()

    def _skip_frame(
        self, code: str, detail: str, frame: bytes | memoryview, tag: int | None, out: list[StrategyRequest]
    ) -> None:
        """Answer a frame that cannot be answered by an id with a non-fatal Error.

        A version-3 request whose ``req_seq`` can be read takes its place with it (``_error``); one whose
        ``req_seq`` cannot takes none, and the Error's text says so.
        """
        req_seq, text = self._numbered(frame, tag, f"frame {self.frames_in}: {detail}")
        self._error(code, text, out, req_seq)

    def _numbered(self, frame: bytes | memoryview, tag: int | None, text: str) -> tuple[int, str]:
        """Return the ``req_seq`` a bad version-3 request takes (0: none), and ``text`` noting when it takes none."""
        if self.protocol_version < REQ_SEQ_VERSION:
            return 0, text
        if tag is None or tag not in _REQ_SEQ_AT:  # an unknown tag, or not a message: never numbered
            return 0, text + NOT_A_REQUEST
        req_seq = lenient_req_seq(frame, tag)
        return req_seq, text if req_seq else text + NO_PLACE

    def _error(self, code: str, text: str, out: list[StrategyRequest], req_seq: int = 0) -> None:
        """Count a non-fatal problem; hand its Error to the engine to send in frame order.

        A version-3 request with a readable ``req_seq`` still takes its place in the sequence
        (``UnreadableRequest``), so the strategy's next request is no gap.
        """
        text = bounded_answer_text(text)
        if self.pending_close is not None:  # the fatal Error that follows the read says it all
            if req_seq:
                out.append(UnreadableRequest("", "", req_seq))
            return
        self.errors += 1
        out.append(UnreadableRequest(code, text, req_seq) if req_seq else Error(code, text, False))
        self._check_error_budget()

    def _check_error_budget(self) -> None:
        if self.errors > self.max_errors:
            self._fatal(
                "TOO_MANY_ERRORS",
                f"more than {self.max_errors} protocol errors on this connection; every request read before "
                "this Error was answered",
            )

    def _fatal(self, code: str, text: str) -> None:
        """Close after the engine has answered what was read (at once if there is nothing to answer)."""
        if self.state is StrategySessionState.AWAITING_HELLO:
            self.close(code, text)
        elif self.pending_close is None:
            self.pending_close = (code, text)

    def is_closed(self) -> bool:
        """Return True once the session is closed (no more input is processed)."""
        return self.state is StrategySessionState.CLOSED

    # ---- outbound -------------------------------------------------------------------------

    def send(self, message: GatewayMessage | WelcomeV2) -> None:
        """Queue one message for the strategy, never as a frame above ``MAX_FRAME_SIZE``.

        The last guard (stratecho57): a message whose frame would be larger (none the gateway makes today; an event
        an earlier version journaled, replayed) is written with its strings bounded (``bounded_message``), counted
        in ``oversize_replaced`` and logged (WARNING, the first on the connection). The engine's own writer of live
        order events (``Engine._deliver``) relies on every text being bounded where it is made.
        """
        writer = self._writer
        start = len(writer.buffer)
        writer.write(message)
        size = len(writer.buffer) - start - _PREFIX_SIZE
        if size > MAX_FRAME_SIZE:
            del writer.buffer[start:]
            writer.write(bounded_message(message))
            self.oversize_replaced += 1
            if self.oversize_replaced == 1:
                log.warning(
                    "strategy %s: a %s of %d bytes is above the protocol's %d: sent with its texts clipped (further "
                    "ones on this connection are counted, not logged)",
                    self.strategy_id or "(before its Hello)",
                    type(message).__name__,
                    size,
                    MAX_FRAME_SIZE,
                )

    def welcome(self, now_ns: int, last_req_seq: int = 0) -> None:
        """Mark the handshake complete (the engine has queued the Welcome with ``last_req_seq``).

        The strategy's silence is counted from here: it sends nothing between its Hello and the Welcome,
        which a replay read from the journal may hold back for seconds.
        """
        if self.state is StrategySessionState.PENDING_WELCOME:
            self.state = StrategySessionState.ACTIVE
            self.last_req_seq = last_req_seq
            self.last_received_ns = now_ns
            self.welcome_unwritten = True

    @property
    def sequenced(self) -> bool:
        """Return True if this session's requests carry ``req_seq`` (version 3 and later)."""
        return self.protocol_version >= REQ_SEQ_VERSION

    def sequence(self, req_seq: int) -> ReqSeqCheck:
        """Place a version-3 request (``req_seq`` > 0) in the request sequence before it is carried out.

        The next number (``last_req_seq + 1``) is NEW and becomes the last processed; one at or
        below the last processed is a DUPLICATE; one above the next is a GAP: the session closes
        with a fatal Error(REQ_SEQ_GAP) that names the number expected, and the engine processes
        nothing more from this connection.
        """
        expected = self.last_req_seq + 1
        if req_seq == expected:
            self.last_req_seq = req_seq
            return ReqSeqCheck.NEW
        if req_seq < expected:
            self.duplicates += 1
            return ReqSeqCheck.DUPLICATE
        self.close(
            "REQ_SEQ_GAP",
            f"req_seq {req_seq} received, {expected} expected (the last request processed is {self.last_req_seq}); "
            f"requests are processed in order only: reconnect and send again from req_seq {expected}",
        )
        return ReqSeqCheck.GAP

    def close(self, code: str, text: str) -> None:
        """Queue a fatal Error and mark the session closed; the transport closes after flushing."""
        if self.state is StrategySessionState.CLOSED:
            return
        text = bounded_answer_text(text)
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

    @property
    def walk_paused(self) -> bool:
        """True while the engine walks this strategy's MassCancel (``pause_input`` ``walk``): its link is not read."""
        return self._paused_walk

    def pause_input(self, paused: bool, now_ns: int, *, walk: bool = False) -> None:
        """Note that the gateway stopped (True) or resumed (False) reading the strategy's requests.

        While it does not read them the strategy's silence is not judged (its heartbeats wait in the socket behind
        its requests), nor is a frame left incomplete (its rest waits there too). Both count again from the resume
        (the transport judges the strategy's reading meanwhile). Two reasons, each paused and resumed on its own:
        back-pressure (the transport's) and ``walk``, the strategy's MassCancel walked over several loop turns
        (``Engine._walks``; mass58b); the input is paused while either holds.
        """
        if walk:
            self._paused_walk = paused
        else:
            self._paused_output = paused
        self.input_paused = self._paused_output or self._paused_walk
        if not paused:
            self.last_received_ns = max(self.last_received_ns, now_ns)
            if self._partial_since is not None:  # the rest of a frame cut by the pause waited in the socket
                self._partial_since = max(self._partial_since, now_ns)

    def restart_frame_deadline(self, since_ns: int, now_ns: int) -> None:
        """Count a frame left incomplete by a read taken since ``since_ns`` from ``now_ns`` (the gateway is done).

        The engine calls it when it ends a long read's turn (``Engine._read_turn``) or cuts a read short: the time
        it spent on the read's requests is its own, not the strategy's (docs/strategy-protocol.md 4.3; mass56). The
        rest of the frame is in the bytes it kept, or in the socket it reads again now. A frame begun by an earlier
        read keeps its deadline (a strategy trickling a frame in long reads is not given more time by them).
        """
        started = self._partial_since
        if started is not None and started >= since_ns:
            self._partial_since = max(started, now_ns)

    def poll(self, now_ns: int) -> None:
        """Send a heartbeat after ``heartbeat_ms`` of silence; enforce the deadlines."""
        if self.state is StrategySessionState.CLOSED:
            return
        if self.pending_close is not None:  # the engine always ends a read; this is a safety net
            self.close(*self.pending_close)
            return
        if self.state is StrategySessionState.AWAITING_HELLO and now_ns - self.opened_ns > self.hello_timeout_ns:
            self.close("HELLO_TIMEOUT", f"no Hello within {self.hello_timeout_ns // 1_000_000} ms of connecting")
            return
        started = self._partial_since
        if started is not None and now_ns - started > self.frame_timeout_ns and not self.input_paused:
            self.close(
                "FRAME_TIMEOUT",
                f"a frame begun {(now_ns - started) // 1_000_000} ms ago is still incomplete "
                f"({self._splitter.buffered} bytes received); a frame must be complete within "
                f"{self.frame_timeout_ns // 1_000_000} ms",
            )
            return
        if self.state is not StrategySessionState.ACTIVE:  # no heartbeat before the Welcome (it may wait for
            if (  # the journal: Engine._on_hello), and none expected; after it, during a replay, the strategy's
                self.welcome_out  # silence is not judged but the gateway's must not last (a far-back read)
                and self.state is StrategySessionState.PENDING_WELCOME
                and now_ns - self.last_sent_ns >= self.heartbeat_ns
                and not self._writer.buffer
            ):
                self.send(Heartbeat())
            return
        if self.welcome_unwritten:  # the Welcome left unless bytes still wait (a journal that cannot be written
            if self._writer.buffer:  # holds them): the strategy waits for it, sending nothing; its silence counts
                self.last_received_ns = max(self.last_received_ns, now_ns)  # from the write (within a poll's 100 ms)
                return
            self.welcome_unwritten = False
        if (
            now_ns - self.last_received_ns > HEARTBEAT_MISSES_BEFORE_TIMEOUT * self.heartbeat_ns
            and not self.input_paused
        ):
            self.close(
                "HEARTBEAT_TIMEOUT",
                f"nothing received for {(now_ns - self.last_received_ns) // 1_000_000} ms "
                f"(heartbeat {self.heartbeat_ns // 1_000_000} ms)",
            )
            return
        if now_ns - self.last_sent_ns >= self.heartbeat_ns and not self._writer.buffer:
            self.send(Heartbeat())


def _tag_of(frame: bytes | memoryview) -> int | None:
    elements, _ = peek_elements(frame, 1)
    return elements[0] if elements and isinstance(elements[0], int) else None


def _request_id(msg: object) -> str:
    """Return a request's ``cl_ord_id`` (a MassCancel's ``request_id``)."""
    value = getattr(msg, "cl_ord_id", None)
    if value is None:
        value = getattr(msg, "request_id", "")
    return str(value)
