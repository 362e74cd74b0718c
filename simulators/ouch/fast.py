"""A fast answering OUCH 5.0 venue for the benchmark (sans-IO): every order answered, nothing matched.

``OuchSimulator`` (``gateway sim ouch``) is the conformance simulator: a full exchange core with
records, reference prices, fills, cuts. Driving a load test it costs tens of microseconds per
order in Python, so the load generator and the simulator saturated together at about 48,000
orders/s on one vCPU, below the rates the gateway is meant to be measured at. This core answers
the way that simulator answers a resting order, and nothing else, with as little work as possible:

* Enter Order -> Order Accepted (order state Live, the order's own fields echoed, a fresh Order
  Reference Number), Cancel Order -> Order Canceled (reason U, the decrement the full simulator
  would give), Replace Order -> Order Replaced (the original's side, symbol, capacity and cross
  type; a fresh Order Reference Number). Anything else is counted and ignored, as are cancels and
  replaces of unknown orders;
* a run of Enter Orders without appendage (the gateway's and the load generator's orders: 50-byte
  Unsequenced Data packets back to back) is answered column-wise with numpy: one array per run
  instead of one Python call per order; single orders (ping-pong) and anything irregular take the
  per-packet path, which builds each Accepted with one ``struct`` pack. Both produce the same
  bytes (tests/bench/test_fast_ouch.py checks them against the real codec and the spec's golden
  bytes);
* no replay: a client may log in to the current session from sequence 0 or the next sequence
  number only (the benchmark never reconnects).

For the one-way join the core notes, per ``receive`` call, the read time and the Order Reference
Numbers it handed out (``marks``): Order Reference Numbers are consecutive, so a read is one pair.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from venues.ouch.codec import decode_inbound
from venues.ouch.messages import CancelOrder, EnterOrder, ReplaceOrder
from venues.ouch.soupbin import (
    LOGIN_REQUEST,
    LOGOUT_REQUEST,
    REJECT_NOT_AUTHORIZED,
    REJECT_SESSION_NOT_AVAILABLE,
    SERVER_HEARTBEAT_PACKET,
    UNSEQUENCED_DATA,
    LoginRequest,
    decode_login_request,
    encode_login_accepted,
    encode_login_rejected,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

try:  # numpy comes with the bench extra (matplotlib needs it too); without it every order takes the packet path
    import numpy

    NUMPY: Any = numpy
except ImportError:  # pragma: no cover - the bench extra is installed wherever the bench runs
    NUMPY = None

ENTER_PACKET_SIZE: Final = 50
"""SoupBinTCP length (2) + 'U' + Enter Order without appendage (47)."""
ENTER_HEADER: Final = b"\x00\x30UO"
ACCEPTED_PACKET: Final = struct.Struct(">HccQ27sQ3sc16s")
"""Sequenced Data packet carrying Order Accepted, assembled from the Enter Order packet's bytes."""
ACCEPTED_PACKET_SIZE: Final = ACCEPTED_PACKET.size
CANCELED_PACKET: Final = struct.Struct(">HccQIIcH")
REPLACED_PACKET: Final = struct.Struct(">HccQII1sI8sQccQcccc14sH")
STORED_ENTER: Final = struct.Struct(">cIcI8sQccccc14sH")
"""An open order as the core keeps it: the Enter Order layout without appendage (47 bytes)."""
NUMPY_MIN_RUN: Final = 8
"""Runs shorter than this are answered packet by packet (numpy's per-call cost is ~1 us)."""
HEARTBEAT_NS: Final = 1_000_000_000
"""A Server Heartbeat goes out after this long without output (SoupBinTCP: every second)."""
_ORDER_STATE_LIVE: Final = b"L"
_CANCEL_REASON_USER: Final = b"U"
_HEADER: Final = (0x00, 0x41, ord("S"), ord("A"))


class FastOuchConfig:
    """Credentials and session name of the fast venue."""

    __slots__ = ("password", "session", "username")

    def __init__(self, username: str = "USER", password: str = "PASS", session: str = "FASTSIM") -> None:
        self.username = username
        self.password = password
        self.session = session


class FastOuchCore:
    """One SoupBinTCP session answering OUCH orders; sans-IO, any number of connections (one at a time in practice)."""

    def __init__(
        self,
        config: FastOuchConfig | None = None,
        *,
        timestamp: Callable[[], int],
        use_numpy: bool = True,
        first_order_reference_number: int = 100_000_001,
    ) -> None:
        self.config = config or FastOuchConfig()
        self.timestamp = timestamp
        """Nanoseconds since midnight for OUCH Timestamp fields (read once per ``receive``)."""
        self.numpy = NUMPY if use_numpy else None
        self.next_sequence = 1
        self.next_orn = first_order_reference_number
        """Order Reference Numbers start where the full simulator's do (``ExchangeConfig``)."""
        self.orders: dict[int, bytes] = {}
        """UserRefNum -> the open order (``STORED_ENTER`` layout)."""
        self.marks = array("q")
        """Per ``receive`` that handed out Order Reference Numbers: (first ORN, end ORN, read ns)."""
        self.counters = {"enters": 0, "cancels": 0, "replaces": 0, "ignored": 0, "numpy_runs": 0, "reads": 0}

    def connect(self) -> FastConnection:
        """Return the state of a new client connection."""
        return FastConnection(self)

    # ---- answers ----------------------------------------------------------------------------

    def answer_enter_run(self, buf: bytes, pos: int, count: int, ts: int, out: bytearray) -> None:
        """Answer ``count`` 50-byte Enter Order packets at ``buf[pos:]`` (numpy: one pass per column group)."""
        np_ = self.numpy
        assert np_ is not None
        orn0 = self.next_orn
        rows = np_.frombuffer(buf, dtype=np_.uint8, count=count * ENTER_PACKET_SIZE, offset=pos).reshape(
            count, ENTER_PACKET_SIZE
        )
        answer = np_.empty((count, ACCEPTED_PACKET_SIZE), dtype=np_.uint8)
        answer[:, 0:4] = _HEADER
        answer[:, 4:12] = np_.frombuffer(ts.to_bytes(8, "big"), dtype=np_.uint8)
        answer[:, 12:39] = rows[:, 4:31]
        answer[:, 39:47] = np_.arange(orn0, orn0 + count, dtype=">u8").view(np_.uint8).reshape(count, 8)
        answer[:, 47:50] = rows[:, 31:34]
        answer[:, 50] = 0x4C  # order state Live
        answer[:, 51:67] = rows[:, 34:50]
        out += answer.tobytes()
        urns: list[int] = np_.ascontiguousarray(rows[:, 4:8]).view(">u4").ravel().tolist()
        end = pos + count * ENTER_PACKET_SIZE
        stored = [buf[p + 3 : p + ENTER_PACKET_SIZE] for p in range(pos, end, ENTER_PACKET_SIZE)]
        self.orders.update(zip(urns, stored, strict=True))
        self.next_orn = orn0 + count
        self.next_sequence += count
        self.counters["enters"] += count
        self.counters["numpy_runs"] += 1

    def answer_enter_packet(self, buf: bytes, pos: int, ts: int, out: bytearray) -> None:
        """Answer one 50-byte Enter Order packet at ``buf[pos:]`` with one pack."""
        orn = self.next_orn
        out += ACCEPTED_PACKET.pack(
            ACCEPTED_PACKET_SIZE - 2,
            b"S",
            b"A",
            ts,
            buf[pos + 4 : pos + 31],
            orn,
            buf[pos + 31 : pos + 34],
            _ORDER_STATE_LIVE,
            buf[pos + 34 : pos + 50],
        )
        self.orders[int.from_bytes(buf[pos + 4 : pos + 8], "big")] = buf[pos + 3 : pos + ENTER_PACKET_SIZE]
        self.next_orn = orn + 1
        self.next_sequence += 1
        self.counters["enters"] += 1

    def answer_message(self, message: bytes | memoryview, ts: int, out: bytearray) -> None:
        """Answer any other OUCH message (an Enter with appendage, Cancel, Replace); ignore the rest."""
        decoded = decode_inbound(message)
        if isinstance(decoded, EnterOrder):
            self._enter(decoded, ts, out)
        elif isinstance(decoded, CancelOrder):
            self._cancel(decoded, ts, out)
        elif isinstance(decoded, ReplaceOrder):
            self._replace(decoded, ts, out)
        else:
            self.counters["ignored"] += 1

    def _enter(self, m: EnterOrder, ts: int, out: bytearray) -> None:
        stored = STORED_ENTER.pack(
            b"O",
            m.user_ref_num,
            m.side.encode(),
            m.quantity,
            m.symbol.encode().ljust(8),
            m.price,
            m.time_in_force.encode(),
            m.display.encode(),
            m.capacity.encode(),
            m.intermarket_sweep.encode(),
            m.cross_type.encode(),
            m.cl_ord_id.encode().ljust(14),
            0,
        )
        packet = b"\x00\x30U" + stored
        self.answer_enter_packet(packet, 0, ts, out)

    def _cancel(self, m: CancelOrder, ts: int, out: bytearray) -> None:
        stored = self.orders.get(m.user_ref_num)
        if stored is None:
            self.counters["ignored"] += 1
            return
        open_qty = int.from_bytes(stored[6:10], "big")
        decrement = open_qty - min(m.quantity, open_qty)
        if decrement <= 0:
            self.counters["ignored"] += 1
            return
        out += CANCELED_PACKET.pack(CANCELED_PACKET.size - 2, b"S", b"C", ts, m.user_ref_num, decrement, b"U", 0)
        if decrement == open_qty:
            del self.orders[m.user_ref_num]
        else:
            self.orders[m.user_ref_num] = stored[:6] + (open_qty - decrement).to_bytes(4, "big") + stored[10:]
        self.next_sequence += 1
        self.counters["cancels"] += 1

    def _replace(self, m: ReplaceOrder, ts: int, out: bytearray) -> None:
        orig = self.orders.get(m.orig_user_ref_num)
        if orig is None or m.user_ref_num in self.orders or m.quantity <= 0:
            self.counters["ignored"] += 1
            return
        (_, _, side, _, symbol, _, _, _, capacity, _, cross, _, _) = STORED_ENTER.unpack(orig)
        tif = m.time_in_force.encode()
        display = m.display.encode()
        sweep = m.intermarket_sweep.encode()
        cl_ord_id = m.cl_ord_id.encode().ljust(14)
        orn = self.next_orn
        out += REPLACED_PACKET.pack(
            REPLACED_PACKET.size - 2,
            b"S",
            b"U",
            ts,
            m.orig_user_ref_num,
            m.user_ref_num,
            side,
            m.quantity,
            symbol,
            m.price,
            tif,
            display,
            orn,
            capacity,
            sweep,
            cross,
            _ORDER_STATE_LIVE,
            cl_ord_id,
            0,
        )
        del self.orders[m.orig_user_ref_num]
        self.orders[m.user_ref_num] = STORED_ENTER.pack(
            b"O", m.user_ref_num, side, m.quantity, symbol, m.price, tif, display, capacity, sweep, cross, cl_ord_id, 0
        )
        self.next_orn = orn + 1
        self.next_sequence += 1
        self.counters["replaces"] += 1

    def order_reference_read_times(self) -> tuple[array[int], array[int]]:
        """Return (Order Reference Number, read ns) for every number handed out."""
        orns = array("q")
        times = array("q")
        marks = self.marks
        for k in range(0, len(marks), 3):
            first, end, t = marks[k], marks[k + 1], marks[k + 2]
            orns.extend(range(first, end))
            times.extend(array("q", [t]) * (end - first))
        return orns, times


class FastConnection:
    """One client connection: login, then orders; ``receive`` returns the bytes to write back."""

    __slots__ = ("_pending", "close_reason", "core", "logged_in")

    def __init__(self, core: FastOuchCore) -> None:
        self.core = core
        self.logged_in = False
        self.close_reason: str | None = None
        self._pending = b""

    def poll(self, now_ns: int, idle_ns: int) -> tuple[bytes, int]:
        """Return (a Server Heartbeat after a second without output, ns until the next check)."""
        del now_ns
        if not self.logged_in or self.close_reason is not None:
            return b"", HEARTBEAT_NS
        if idle_ns >= HEARTBEAT_NS:
            return SERVER_HEARTBEAT_PACKET, HEARTBEAT_NS
        return b"", HEARTBEAT_NS - idle_ns

    def receive(self, data: bytes, now_ns: int) -> bytearray:
        """Consume client bytes; return every answer they call for (possibly empty)."""
        core = self.core
        out = bytearray()
        if self.close_reason is not None:
            return out
        buf = self._pending + data if self._pending else data
        size = len(buf)
        pos = 0
        ts = core.timestamp()
        orn_first = core.next_orn
        np_ = core.numpy
        core.counters["reads"] += 1
        while size - pos >= 2:
            length = (buf[pos] << 8) | buf[pos + 1]
            if (
                self.logged_in
                and buf[pos : pos + 4] == ENTER_HEADER
                and size - pos >= ENTER_PACKET_SIZE
                and buf[pos + 48 : pos + 50] == b"\x00\x00"
            ):
                count = (size - pos) // ENTER_PACKET_SIZE
                if count >= NUMPY_MIN_RUN and np_ is not None:
                    count = _uniform_enters(np_, buf, pos, count)
                    if count >= NUMPY_MIN_RUN:
                        core.answer_enter_run(buf, pos, count, ts, out)
                        pos += count * ENTER_PACKET_SIZE
                        continue
                core.answer_enter_packet(buf, pos, ts, out)
                pos += ENTER_PACKET_SIZE
                continue
            end = pos + 2 + length
            if end > size:
                break
            if length and not self._packet(buf, pos + 2, end, ts, out):
                pos = size
                break
            pos = end
        self._pending = buf[pos:] if pos < size else b""
        if core.next_orn != orn_first:
            core.marks.extend((orn_first, core.next_orn, now_ns))
        return out

    def _packet(self, buf: bytes, start: int, end: int, ts: int, out: bytearray) -> bool:
        """Handle one packet other than a plain Enter Order; return False once the connection is to close."""
        kind = buf[start]
        if kind == UNSEQUENCED_DATA:
            if self.logged_in and end > start + 1:
                self.core.answer_message(memoryview(buf)[start + 1 : end], ts, out)
        elif kind == LOGIN_REQUEST:
            self._login(memoryview(buf)[start:end], out)
        elif kind == LOGOUT_REQUEST:
            self.close_reason = "client logged out"
        # client heartbeats and debug packets need no answer
        return self.close_reason is None

    def _login(self, packet: memoryview, out: bytearray) -> None:
        core = self.core
        request = decode_login_request(packet)
        if self.logged_in or not isinstance(request, LoginRequest):
            self.close_reason = "bad or repeated login request"
            return
        config = core.config
        if request.username != config.username or request.password != config.password:
            out += encode_login_rejected(REJECT_NOT_AUTHORIZED)
            self.close_reason = "login rejected: not authorized"
            return
        if (request.session and request.session != config.session) or request.sequence not in (0, core.next_sequence):
            out += encode_login_rejected(REJECT_SESSION_NOT_AVAILABLE)
            self.close_reason = "login rejected: session or sequence not available (no replay)"
            return
        out += encode_login_accepted(config.session, core.next_sequence)
        out += SERVER_HEARTBEAT_PACKET  # no replay here: it is read (the OUCH adapter waits for this, ouch.md)
        self.logged_in = True


def _uniform_enters(np_: Any, buf: bytes, pos: int, count: int) -> int:
    """Return how many 50-byte Enter Order packets without appendage start at ``buf[pos:]`` back to back."""
    rows: npt.NDArray[np.uint8] = np_.frombuffer(
        buf, dtype=np_.uint8, count=count * ENTER_PACKET_SIZE, offset=pos
    ).reshape(count, ENTER_PACKET_SIZE)
    good = (
        (rows[:, 0] == 0) & (rows[:, 1] == 0x30) & (rows[:, 2] == 0x55) & (rows[:, 3] == 0x4F) & (rows[:, 48] == 0)
    ) & (rows[:, 49] == 0)
    if bool(good.all()):
        return count
    return int(np_.argmin(good))
