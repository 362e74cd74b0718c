"""How a load generator talks to what it measures: the same actions, two protocols.

* ``StrategyWire``: the strategy protocol (length-prefixed MessagePack) over the gateway's Unix
  socket, exactly what a strategy sends: NewOrder / Cancel / Replace, answered by OrderAccepted,
  OrderRejected, Canceled, Replaced, CancelRejected.
* ``OuchWire``: OUCH 5.0 over SoupBinTCP straight to the simulator (no gateway): the floor. The
  same orders, encoded with the gateway's own OUCH codec (``venues.ouch.codec``) in the same
  layout the gateway's adapter sends.
* ``FixWire``: FIX NewOrderSingles straight to the benchmark's FIX venue (the FIX floor), encoded
  with the gateway's own FIX templates (``venues.fix.templates``) for the same dialect, account
  and tags as the gateway's FIX venue sends.

A wire encodes actions into an output buffer and turns received bytes into answers:
``feed`` writes the answer time, outcome and venue order id of each answered action into the
``Results`` arrays and returns how many actions it completed.

Plans of new orders only (ping-pong, rates, bursts) are encoded before the run starts
(``preencode``: one buffer, one offset per action), so sending is one slice and one ``send`` per
wake-up whatever the rate. Answers are decoded per message, except runs of OUCH Order Accepted
packets, which are read column-wise with numpy (one pass per run, not one Python call per answer).
"""

from __future__ import annotations

import socket
import time
from array import array
from typing import Any, Final, Protocol

from benchmarks.harness.plan import (
    ACCOUNT,
    QTY,
    REJECT_QTY,
    REPLACE_QTY,
    SYMBOL,
    Action,
    price_of,
    replace_price_of,
    side_of,
)
from gateway.protocol.framing import FrameSplitter, FrameWriter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Cancel,
    Canceled,
    CancelRejected,
    Error,
    Hello,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    Replace,
    Replaced,
    Welcome,
)
from model.enums import OrderType, Side, TimeInForce
from venues.ouch.codec import (
    ENTER_ORDER_PACKET,
    decode_accepted,
    decode_rejected,
    pack_cancel_order,
    pack_enter_order,
    pack_replace_order,
)
from venues.ouch.errors import DecodeError
from venues.ouch.soupbin import (
    CLIENT_HEARTBEAT_PACKET,
    LOGIN_ACCEPTED,
    LOGIN_REJECTED,
    SEQUENCED_DATA,
    SoupSplitter,
    encode_login_request,
)

NONE: Final = 0
ACCEPTED: Final = 1
REJECTED: Final = 2
CANCELED: Final = 3
REPLACED: Final = 4
CANCEL_REJECTED: Final = 5
SKIPPED: Final = 6
"""The wire cannot carry the action (risk rejects on the floor: there is no risk check there)."""
OUTCOME_NAMES: Final = {
    NONE: "unanswered",
    ACCEPTED: "accepted",
    REJECTED: "rejected",
    CANCELED: "canceled",
    REPLACED: "replaced",
    CANCEL_REJECTED: "cancel_rejected",
    SKIPPED: "skipped",
}
HANDSHAKE_TIMEOUT_S: Final = 10.0

try:  # the bench extra brings numpy (matplotlib needs it); without it every answer is decoded on its own
    import numpy

    NUMPY: Any = numpy
except ImportError:  # pragma: no cover
    NUMPY = None


class Results:
    """Per-action timestamps and answers of one run (index = action number in the plan)."""

    __slots__ = ("_views", "done", "intended", "outcome", "sent", "venue_id")

    def __init__(self, actions: int) -> None:
        self.intended = array("q", bytes(8 * actions))
        self.sent = array("q", bytes(8 * actions))
        self.done = array("q", bytes(8 * actions))
        """Monotonic ns right after the read that carried the answer; 0 = no answer."""
        self.outcome = array("b", bytes(actions))
        self.venue_id = array("q", bytes(8 * actions))
        """Venue order id (OUCH Order Reference Number) of an accepted new order, for the one-way join."""
        self._views: tuple[Any, Any, Any] | None = None

    def numpy_views(self) -> tuple[Any, Any, Any]:
        """Return writable numpy views of (done, outcome, venue_id) sharing the arrays' memory."""
        if self._views is None:
            np_ = NUMPY
            self._views = (
                np_.frombuffer(self.done, dtype=np_.int64),
                np_.frombuffer(self.outcome, dtype=np_.int8),
                np_.frombuffer(self.venue_id, dtype=np_.int64),
            )
        return self._views


def all_new(kinds: array[int]) -> bool:
    """Return True when every action of a plan is a new order (the plan can be encoded up front)."""
    return not any(kinds)


class Wire(Protocol):
    """A connected target for one load generator."""

    sock: socket.socket
    supports_reject: bool
    errors: int

    def encode(self, out: bytearray, index: int, action: int, target: int, sent_ns: int) -> None:
        """Append the bytes of action ``index`` to ``out``."""

    def feed(self, data: bytes, now_ns: int, results: Results) -> int:
        """Record the answers in ``data``; return how many actions they completed."""

    def heartbeat(self) -> bytes:
        """Return bytes that keep an idle session alive (may be empty)."""

    def preencode(self, kinds: array[int]) -> tuple[bytes, array[int]] | None:
        """Encode every action up front if the wire can (new orders only); return (bytes, offsets) or None.

        ``offsets`` has one entry more than there are actions: action ``i`` is
        ``data[offsets[i]:offsets[i + 1]]``. Once called, ``encode`` must not be used.
        """


# --------------------------------------------------------------------------------------------------
# Strategy protocol (through the gateway)
# --------------------------------------------------------------------------------------------------

_SIDES: Final = {"B": Side.BUY, "S": Side.SELL}


class StrategyWire:
    """A strategy session on the gateway's Unix socket."""

    supports_reject = True

    def __init__(self, socket_path: str, strategy_id: str, *, venue: str, prefix: str, account: str = ACCOUNT) -> None:
        self.socket_path = socket_path
        self.strategy_id = strategy_id
        self.venue = venue
        self.account = account
        self.prefix = prefix
        self.errors = 0
        self.error_texts: list[str] = []
        self._prefix_len = len(prefix)
        self._splitter = FrameSplitter()
        self._writer = FrameWriter()
        self._decode = gateway_message_decoder.decode
        self._pending: dict[int, int] = {}
        """Target new-order index -> index of the cancel/replace waiting for its answer."""
        self._req_base = 0
        """Action ``index`` is request number ``_req_base + index + 1`` (protocol version 3; set by the Welcome)."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def connect(self) -> Welcome:
        """Connect, say Hello, wait for Welcome (blocking)."""
        sock = self.sock
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        sock.connect(self.socket_path)
        self._writer.write(Hello(self.strategy_id, PROTOCOL_VERSION, 0, 60_000))
        sock.sendall(self._writer.take())
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("gateway closed the connection during the handshake")
            for frame in self._splitter.feed(data):
                message = self._decode(frame)
                if isinstance(message, Welcome):
                    sock.setblocking(False)
                    self._req_base = message.last_req_seq
                    return message
                if isinstance(message, Error) and message.fatal:
                    raise ConnectionError(f"gateway refused the session: {message.code}: {message.text}")

    def encode(self, out: bytearray, index: int, action: int, target: int, sent_ns: int) -> None:
        """Append the frame of action ``index``."""
        writer = self._writer
        if action in (Action.NEW, Action.REJECT):
            side = side_of(index)
            writer.write(
                NewOrder(
                    self.prefix + str(index),
                    self.account,
                    self.venue,
                    SYMBOL,
                    _SIDES[side],
                    REJECT_QTY if action == Action.REJECT else QTY,
                    price_of(index),
                    TimeInForce.DAY,
                    OrderType.LIMIT,
                    sent_ns,
                    self._req_base + index + 1,
                )
            )
        elif action == Action.CANCEL:
            self._pending[target] = index
            writer.write(Cancel(self.prefix + str(target), sent_ns, self._req_base + index + 1))
        else:
            self._pending[target] = index
            writer.write(
                Replace(
                    self.prefix + str(target),
                    REPLACE_QTY,
                    replace_price_of(target),
                    sent_ns,
                    self._req_base + index + 1,
                )
            )
        out += writer.take()

    def preencode(self, kinds: array[int]) -> tuple[bytes, array[int]] | None:
        """Encode every NewOrder frame up front (``sent_ns`` 0: the gateway only stores it)."""
        if not all_new(kinds):
            return None
        chunks = []
        offsets = array("q", [0])
        total = 0
        for index in range(len(kinds)):
            frame = encode_frame(
                NewOrder(
                    self.prefix + str(index),
                    self.account,
                    self.venue,
                    SYMBOL,
                    _SIDES[side_of(index)],
                    QTY,
                    price_of(index),
                    TimeInForce.DAY,
                    OrderType.LIMIT,
                    0,
                    self._req_base + index + 1,
                )
            )
            chunks.append(frame)
            total += len(frame)
            offsets.append(total)
        return b"".join(chunks), offsets

    def feed(self, data: bytes, now_ns: int, results: Results) -> int:
        """Record answers carried by gateway frames."""
        completed = 0
        done = results.done
        outcome = results.outcome
        cut = self._prefix_len
        for frame in self._splitter.feed(data):
            message = self._decode(frame)
            match message:
                case OrderAccepted():
                    index = int(message.cl_ord_id[cut:])
                    if not done[index]:
                        done[index] = now_ns
                        outcome[index] = ACCEPTED
                        venue_order_id = message.venue_order_id
                        if venue_order_id.isdigit():  # OUCH Order Reference Number: the one-way join key
                            results.venue_id[index] = int(venue_order_id)
                        completed += 1
                case OrderRejected():
                    index = int(message.cl_ord_id[cut:])
                    if not done[index]:
                        done[index] = now_ns
                        outcome[index] = REJECTED
                        completed += 1
                case Canceled() | Replaced() | CancelRejected():
                    index = self._pending.pop(int(message.cl_ord_id[cut:]), -1)
                    if index >= 0 and not done[index]:
                        done[index] = now_ns
                        kind = type(message)
                        outcome[index] = (
                            CANCELED if kind is Canceled else REPLACED if kind is Replaced else CANCEL_REJECTED
                        )
                        completed += 1
                case Error():
                    self.errors += 1
                    if len(self.error_texts) < 10:
                        self.error_texts.append(f"{message.code}: {message.text}")
        return completed

    def heartbeat(self) -> bytes:
        """Return nothing: the Hello asked for a 60 s heartbeat, longer than any run's idle time."""
        return b""


# --------------------------------------------------------------------------------------------------
# OUCH over SoupBinTCP, straight to the simulator (the floor)
# --------------------------------------------------------------------------------------------------

_OUCH_SIDES: Final = {"B": b"B", "S": b"S"}
_ACCEPTED_TYPE: Final = ord("A")
_CANCELED_TYPE: Final = ord("C")
_REPLACED_TYPE: Final = ord("U")
_REJECTED_TYPE: Final = ord("J")
_CANCEL_REJECT_TYPE: Final = ord("I")
_SYMBOL8: Final = SYMBOL.encode("ascii").ljust(8)


def _cl_ord_id14(index: int) -> bytes:
    return str(index).encode("ascii").ljust(14)


class OuchWire:
    """An OUCH 5.0 account on the simulator, as the gateway's adapter would use it."""

    supports_reject = False

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str = "USER",
        password: str = "PASS",
        first_user_ref_num: int = 1,
        socket_path: str = "",
    ) -> None:
        self.host = host
        self.port = port
        self.socket_path = socket_path
        """Connect to this Unix socket instead (a relay in front of the simulator)."""
        self.username = username
        self.password = password
        self.errors = 0
        self._next_urn = first_user_ref_num
        self._pending = b""
        self._urn_base = 0
        """Pre-encoded plans: action ``i`` is UserRefNum ``_urn_base + i`` (0: not pre-encoded)."""
        self._urn_end = 0
        self._urn_action: dict[int, int] = {}
        """UserRefNum -> index of the Enter or Replace that used it."""
        self._current_urn: dict[int, int] = {}
        """New-order index -> the UserRefNum the venue knows the order by now."""
        self._cancel_pending: dict[int, int] = {}
        """UserRefNum being canceled -> index of the cancel action."""
        self._replace_target: dict[int, int] = {}
        """Replace's new UserRefNum -> the new-order index it replaces."""
        self.sock = socket.socket(socket.AF_UNIX if socket_path else socket.AF_INET, socket.SOCK_STREAM)

    def connect(self) -> None:
        """Connect, log in to the current session, wait for Login Accepted (blocking)."""
        sock = self.sock
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        if self.socket_path:
            sock.connect(self.socket_path)
        else:
            sock.connect((self.host, self.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(encode_login_request(self.username, self.password, "", 0))
        splitter = SoupSplitter()
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("simulator closed the connection during login")
            for packet in splitter.feed(data):
                if packet[0] == LOGIN_ACCEPTED:
                    sock.setblocking(False)
                    return
                if packet[0] == LOGIN_REJECTED:
                    raise ConnectionError(f"simulator rejected the login: {bytes(packet)!r}")

    def preencode(self, kinds: array[int]) -> tuple[bytes, array[int]] | None:
        """Encode every Enter Order up front: action ``i`` gets UserRefNum ``first + i``."""
        if not all_new(kinds):
            return None
        base = self._next_urn
        out = bytearray()
        for index in range(len(kinds)):
            pack_enter_order(
                out,
                base + index,
                _OUCH_SIDES[side_of(index)],
                QTY,
                _SYMBOL8,
                price_of(index),
                b"0",
                b"Y",
                b"A",
                b"N",
                b"N",
                _cl_ord_id14(index),
            )
        self._urn_base = base
        self._urn_end = base + len(kinds)
        self._next_urn = self._urn_end
        return bytes(out), array("q", range(0, ENTER_ORDER_PACKET.size * (len(kinds) + 1), ENTER_ORDER_PACKET.size))

    def encode(self, out: bytearray, index: int, action: int, target: int, sent_ns: int) -> None:
        """Append the SoupBinTCP packet of action ``index`` (risk rejects never get here)."""
        del sent_ns
        urn = self._next_urn
        if action == Action.NEW:
            self._next_urn = urn + 1
            self._urn_action[urn] = index
            self._current_urn[index] = urn
            pack_enter_order(
                out,
                urn,
                _OUCH_SIDES[side_of(index)],
                QTY,
                _SYMBOL8,
                price_of(index),
                b"0",
                b"Y",
                b"A",
                b"N",
                b"N",
                _cl_ord_id14(index),
            )
        elif action == Action.CANCEL:
            current = self._current_urn[target]
            self._cancel_pending[current] = index
            pack_cancel_order(out, current, 0)
        else:
            self._next_urn = urn + 1
            self._urn_action[urn] = index
            self._replace_target[urn] = target
            pack_replace_order(
                out,
                self._current_urn[target],
                urn,
                REPLACE_QTY,
                replace_price_of(target),
                b"0",
                b"Y",
                b"N",
                _cl_ord_id14(target),
            )

    def _action_of(self, urn: int) -> int:
        if self._urn_base:
            return urn - self._urn_base if self._urn_base <= urn < self._urn_end else -1
        return self._urn_action.get(urn, -1)

    def feed(self, data: bytes, now_ns: int, results: Results) -> int:
        """Record answers carried by Sequenced Data packets (runs of Order Accepted column-wise)."""
        if self._pending:
            data = self._pending + data
        size = len(data)
        pos = 0
        completed = 0
        np_ = NUMPY if self._urn_base else None
        while size - pos >= 2:
            if (
                np_ is not None
                and size - pos >= ACCEPTED_RUN_MIN * ACCEPTED_PACKET_SIZE
                and data[pos : pos + 4] == (_ACCEPTED_HEADER)
            ):
                count = _accepted_run(np_, data, pos, (size - pos) // ACCEPTED_PACKET_SIZE)
                if count >= ACCEPTED_RUN_MIN:
                    completed += self._accepted_rows(np_, data, pos, count, now_ns, results)
                    pos += count * ACCEPTED_PACKET_SIZE
                    continue
            end = pos + 2 + ((data[pos] << 8) | data[pos + 1])
            if end > size:
                break
            if end - pos > 3 and data[pos + 2] == SEQUENCED_DATA:
                completed += self._message(memoryview(data)[pos + 3 : end], now_ns, results)
            pos = end
        self._pending = data[pos:] if pos < size else b""
        return completed

    def _accepted_rows(self, np_: Any, data: bytes, pos: int, count: int, now_ns: int, results: Results) -> int:
        rows = np_.frombuffer(data, dtype=np_.uint8, count=count * ACCEPTED_PACKET_SIZE, offset=pos).reshape(
            count, ACCEPTED_PACKET_SIZE
        )
        done, outcome, venue = results.numpy_views()
        urns = np_.ascontiguousarray(rows[:, 12:16]).view(">u4").ravel().astype(np_.int64)
        index = urns - self._urn_base
        keep = (index >= 0) & (index < self._urn_end - self._urn_base)
        index = index[keep]
        fresh = done[index] == 0
        index = index[fresh]
        orns = np_.ascontiguousarray(rows[:, 39:47]).view(">u8").ravel()[keep][fresh]
        done[index] = now_ns
        outcome[index] = ACCEPTED
        venue[index] = orns
        return int(index.size)

    def _message(self, message: memoryview, now_ns: int, results: Results) -> int:
        done = results.done
        outcome = results.outcome
        kind = message[0]
        if kind == _ACCEPTED_TYPE:
            accepted = decode_accepted(message)
            if isinstance(accepted, DecodeError):
                self.errors += 1
                return 0
            index = self._action_of(accepted.user_ref_num)
            if index >= 0 and not done[index]:
                done[index] = now_ns
                outcome[index] = ACCEPTED
                results.venue_id[index] = accepted.order_reference_number
                return 1
        elif kind in (_CANCELED_TYPE, _CANCEL_REJECT_TYPE):
            urn = int.from_bytes(message[9:13], "big")
            index = self._cancel_pending.pop(urn, -1)
            if index >= 0 and not done[index]:
                done[index] = now_ns
                outcome[index] = CANCELED if kind == _CANCELED_TYPE else CANCEL_REJECTED
                return 1
        elif kind == _REPLACED_TYPE:
            urn = int.from_bytes(message[13:17], "big")
            index = self._action_of(urn)
            if index >= 0 and not done[index]:
                done[index] = now_ns
                outcome[index] = REPLACED
                self._current_urn[self._replace_target[urn]] = urn
                return 1
        elif kind == _REJECTED_TYPE:
            rejected = decode_rejected(message)
            index = self._action_of(getattr(rejected, "user_ref_num", -1))
            if index >= 0 and not done[index]:
                done[index] = now_ns
                outcome[index] = REJECTED
                return 1
        return 0

    def heartbeat(self) -> bytes:
        """Return a Client Heartbeat packet."""
        return CLIENT_HEARTBEAT_PACKET


ACCEPTED_PACKET_SIZE: Final = 67
"""Sequenced Data packet carrying Order Accepted without appendage: 2 + 1 + 64."""
ACCEPTED_RUN_MIN: Final = 8
_ACCEPTED_HEADER: Final = b"\x00\x41SA"


def _accepted_run(np_: Any, data: bytes, pos: int, count: int) -> int:
    """Return how many Order Accepted packets without appendage start at ``data[pos:]`` back to back."""
    rows = np_.frombuffer(data, dtype=np_.uint8, count=count * ACCEPTED_PACKET_SIZE, offset=pos).reshape(
        count, ACCEPTED_PACKET_SIZE
    )
    good = (rows[:, 0] == 0) & (rows[:, 1] == 0x41) & (rows[:, 2] == 0x53) & (rows[:, 3] == 0x41)
    good &= (rows[:, 65] == 0) & (rows[:, 66] == 0)
    if bool(good.all()):
        return count
    return int(np_.argmin(good))


# --------------------------------------------------------------------------------------------------
# FIX straight to the benchmark's FIX venue (the FIX floor)
# --------------------------------------------------------------------------------------------------

_FIX_END: Final = b"\x0110="
_FIX_TRAILER: Final = 8
"""``\\x0110=NNN\\x01``."""


def _fix_field(message: bytes, tag: bytes) -> bytes:
    at = message.find(b"\x01" + tag + b"=")
    if at < 0:
        return b""
    start = at + len(tag) + 2
    return message[start : message.find(b"\x01", start)]


class FixWire:
    """A FIX initiator that sends pre-encoded NewOrderSingles (the gateway's templates) and reads ExecutionReports.

    Not a session: Logon with ResetSeqNumFlag, then the orders with MsgSeqNum 2, 3, ...; it sends
    no heartbeats (HeartBtInt 60 outlasts any run's idle time) and ignores the venue's.
    """

    supports_reject = False

    def __init__(
        self,
        host: str,
        port: int,
        *,
        dialect: str = "broker-fix44",
        sender_comp_id: str = "LOADGEN",
        account: str = "ACC1",
        strategy_id: str = "bench",
        prefix: str = "B",
    ) -> None:
        from venues.fix.dialect import load_dialect  # noqa: PLC0415 - only the FIX floor needs it

        self.host = host
        self.port = port
        self.dialect = load_dialect(dialect)
        self.sender = sender_comp_id.encode()
        self.target = self.dialect.target_comp_id.encode()
        self.account = account
        self.strategy_id = strategy_id
        self.prefix = prefix.encode()
        self.errors = 0
        self.error_texts: list[str] = []
        self._pending = b""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def _stamp(self) -> bytes:
        from venues.fix.codec import UtcTimestamps  # noqa: PLC0415

        return UtcTimestamps().format(time.time_ns())

    def connect(self) -> None:
        """Connect, send Logon (MsgSeqNum 1, ResetSeqNumFlag), wait for the venue's Logon (blocking)."""
        from venues.fix.codec import build_message  # noqa: PLC0415

        sock = self.sock
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        sock.connect((self.host, self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        logon = build_message(
            self.dialect.begin_bytes,
            b"A",
            sender=self.sender,
            target=self.target,
            seq=1,
            sending_time=self._stamp(),
            body_fields=[(b"98", b"0"), (b"108", b"60"), (b"141", b"Y")],
        )
        sock.sendall(logon)
        buffer = b""
        while _FIX_END not in buffer:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the FIX venue closed the connection during logon")
            buffer += data
        if _fix_field(buffer, b"35") != b"A":
            raise ConnectionError(f"the FIX venue refused the logon: {buffer[:200]!r}")
        sock.setblocking(False)

    def preencode(self, kinds: array[int]) -> tuple[bytes, array[int]] | None:
        """Encode every NewOrderSingle up front (MsgSeqNum 2 + index), as the gateway's FIX venue would."""
        from model.order import Order  # noqa: PLC0415
        from venues.fix.templates import OrderTemplates  # noqa: PLC0415

        if not all_new(kinds):
            return None
        templates = OrderTemplates(self.dialect, self.sender.decode(), self.target.decode())
        stamp = self._stamp()
        chunks = []
        offsets = array("q", [0])
        total = 0
        for index in range(len(kinds)):
            order = Order(
                index,
                self.strategy_id,
                str(index),
                self.account,
                "FIXV",
                SYMBOL,
                _SIDES[side_of(index)],
                QTY,
                price_of(index),
                TimeInForce.DAY,
                OrderType.LIMIT,
                leaves_qty=QTY,
            )
            raw = templates.new_order(2 + index, stamp, self.prefix + b"%d" % index, order)
            chunks.append(raw)
            total += len(raw)
            offsets.append(total)
        return b"".join(chunks), offsets

    def encode(self, out: bytearray, index: int, action: int, target: int, sent_ns: int) -> None:
        """Refuse: the FIX floor sends pre-encoded new orders only (its paths run ping-pong)."""
        del out, index, target, sent_ns
        raise ValueError(f"the FIX floor carries new orders only, not action {action}")

    def feed(self, data: bytes, now_ns: int, results: Results) -> int:
        """Record the first ExecutionReport of each order (New -> accepted, Rejected -> rejected)."""
        if self._pending:
            data = self._pending + data
        done = results.done
        outcome = results.outcome
        cut = len(self.prefix)
        completed = 0
        pos = 0
        while True:
            end = data.find(_FIX_END, pos)
            if end < 0 or end + _FIX_TRAILER > len(data):
                break
            message = data[pos : end + _FIX_TRAILER]
            pos = end + _FIX_TRAILER
            if b"\x0135=8\x01" not in message:
                continue
            cl_ord_id = _fix_field(message, b"11")
            if not cl_ord_id[cut:].isdigit():
                self.errors += 1
                continue
            index = int(cl_ord_id[cut:])
            if 0 <= index < len(done) and not done[index]:
                done[index] = now_ns
                outcome[index] = REJECTED if _fix_field(message, b"150") == b"8" else ACCEPTED
                order_id = _fix_field(message, b"37")
                if order_id.isdigit():
                    results.venue_id[index] = int(order_id)
                completed += 1
        self._pending = data[pos:]
        return completed

    def heartbeat(self) -> bytes:
        """Return nothing (see the class docstring)."""
        return b""


# --------------------------------------------------------------------------------------------------
# BOE straight to the benchmark's BOE venue (the BOE floor)
# --------------------------------------------------------------------------------------------------

_BOE_SIDES: Final = {"B": b"1", "S": b"2"}


class BoeWire:
    """A BOE client that sends pre-encoded New Orders (the gateway adapter's packer and fields) and reads the answers.

    Logs in with the gateway's default return bitfields and waits for Replay Complete; then New
    Orders numbered 1, 2, ... with ClOrdID ``<prefix><index>``. It sends Client Heartbeats when idle.
    """

    supports_reject = False

    def __init__(self, host: str, port: int, *, prefix: str = "F") -> None:
        from venues.boe.codec import BoeSplitter  # noqa: PLC0415 - only the BOE floor needs it
        from venues.boe.config import BoeVenueConfig  # noqa: PLC0415

        self.host = host
        self.port = port
        self.prefix = prefix.encode()
        self.config = BoeVenueConfig(
            name="BOEFLOOR", host=host, port=port, session_sub_id="0001", username="USER", password="PASS"
        )
        self.errors = 0
        self.error_texts: list[str] = []
        self._splitter = BoeSplitter()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def connect(self) -> None:
        """Connect, log in, wait for Replay Complete (blocking)."""
        from venues.boe.codec import encode_message  # noqa: PLC0415
        from venues.boe.messages import LOGIN_RESPONSE, REPLAY_COMPLETE  # noqa: PLC0415
        from venues.boe.session import BoeClientSession  # noqa: PLC0415

        sock = self.sock
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        sock.connect((self.host, self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        login = BoeClientSession(self.config.session_config(), None).login_request()  # type: ignore[arg-type]
        sock.sendall(encode_message(login))
        seen: set[int] = set()
        while REPLAY_COMPLETE not in seen:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the BOE venue closed the connection during login")
            for message in self._splitter.feed(data):
                seen.add(message[4])
                if message[4] == LOGIN_RESPONSE and message[10] != ord("A"):
                    raise ConnectionError(f"the BOE venue refused the login: {bytes(message[:80])!r}")
        sock.setblocking(False)

    def preencode(self, kinds: array[int]) -> tuple[bytes, array[int]] | None:
        """Encode every New Order up front, as the gateway's BOE venue would (its packer and field set)."""
        from venues.boe.codec import NewOrderPacker  # noqa: PLC0415

        if not all_new(kinds):
            return None
        config = self.config
        packer = NewOrderPacker(config.new_order_fields(), config.new_order_bitfield_count)
        values: dict[str, bytes | int] = {"capacity": config.capacity.encode(), "ord_type": b"2"}
        values["time_in_force"] = b"0"
        values["symbol"] = SYMBOL.encode()
        out = bytearray()
        offsets = array("q", [0])
        for index in range(len(kinds)):
            values["price"] = price_of(index)
            packer.pack(
                out,
                1 + index,
                self.prefix + b"%d" % index,
                _BOE_SIDES[side_of(index)],
                QTY,
                *[values[name] for name in packer.fields],
            )
            offsets.append(len(out))
        return bytes(out), offsets

    def encode(self, out: bytearray, index: int, action: int, target: int, sent_ns: int) -> None:
        """Refuse: the BOE floor sends pre-encoded new orders only (its paths run ping-pong)."""
        del out, index, target, sent_ns
        raise ValueError(f"the BOE floor carries new orders only, not action {action}")

    def feed(self, data: bytes, now_ns: int, results: Results) -> int:
        """Record the first answer of each order (Order Acknowledgment -> accepted, Order Rejected -> rejected)."""
        from venues.boe.messages import ORDER_ACKNOWLEDGMENT, ORDER_REJECTED  # noqa: PLC0415

        done = results.done
        outcome = results.outcome
        cut = len(self.prefix)
        completed = 0
        for message in self._splitter.feed(data):
            kind = message[4]
            if kind != ORDER_ACKNOWLEDGMENT and kind != ORDER_REJECTED:  # noqa: PLR1714
                continue
            cl_ord_id = bytes(message[18:38]).rstrip(b"\x00")
            digits = cl_ord_id[cut:]
            if not digits.isdigit():
                self.errors += 1
                continue
            index = int(digits)
            if 0 <= index < len(done) and not done[index]:
                done[index] = now_ns
                if kind == ORDER_ACKNOWLEDGMENT:
                    outcome[index] = ACCEPTED
                    results.venue_id[index] = int.from_bytes(message[38:46], "little")
                else:
                    outcome[index] = REJECTED
                completed += 1
        return completed

    def heartbeat(self) -> bytes:
        """Return a Client Heartbeat."""
        from venues.boe.codec import CLIENT_HEARTBEAT_BYTES  # noqa: PLC0415

        return CLIENT_HEARTBEAT_BYTES
