"""A fast answering Cboe BOE v2 venue for the benchmark (sans-IO): every order answered, nothing matched.

``BoeSimulator`` (``gateway sim boe``) is the conformance simulator: matching units, replayable
streams, reason codes, records. This core answers the way that simulator answers a resting order,
and nothing else, with as little work as possible, behind ``benchmarks.harness.venueloop``:

* Login Request -> Login Response ``A`` (one matching unit) and Replay Complete (nothing to
  replay: the benchmark never reconnects); the return bitfields the login asks for shape every
  answer (fields that do not apply are zero-filled, as Cboe sends them);
* New Order -> Order Acknowledgment (a fresh OrderID), Cancel Order -> Order Cancelled (reason
  ``U``): a template patched with one ``pack_into`` (sequence, time, ClOrdID, OrderID); Modify
  Order -> Order Modified (the same OrderID, the new quantity all open, through the generic codec).
  Anything else is counted and ignored;
* a Server Heartbeat after a second without sending; no client timeout.

For the one-way join the core notes, per ``receive`` call, the read time and the OrderIDs it
handed out (OrderIDs are consecutive, so a read is one pair); the gateway passes the OrderID on
as ``OrderAccepted.venue_order_id``.
"""

from __future__ import annotations

import struct
import time
from array import array
from collections.abc import Callable
from typing import Final

from venues.boe.codec import (
    HEADER,
    REPLAY_COMPLETE_BYTES,
    SERVER_HEARTBEAT_BYTES,
    BoeSplitter,
    decode_inbound,
    encode_message,
    return_bitfields_of,
    select_return_fields,
)
from venues.boe.messages import (
    CANCEL_ORDER,
    CLIENT_HEARTBEAT,
    LOGIN_REQUEST,
    LOGOUT_REQUEST,
    MODIFY_ORDER,
    NEW_ORDER,
    ORDER_ACKNOWLEDGMENT,
    ORDER_CANCELLED,
    ORDER_MODIFIED,
    LoginRequest,
    LoginResponse,
    Logout,
    ModifyOrder,
    OrderAcknowledgment,
    OrderCancelled,
    OrderModified,
    ReturnFields,
)

HEARTBEAT_NS: Final = 1_000_000_000
UNIT: Final = 1
FIRST_ORDER_ID: Final = 700_000_001
_PATCH: Final = struct.Struct("<IQ20sQ")
"""SequenceNumber @6, TransactionTime @10, ClOrdID @18, OrderID @38."""
_PATCH_CANCELLED: Final = struct.Struct("<IQ20s")
_CL_ORD_ID: Final = slice(10, 30)
_SAMPLE: Final = ReturnFields(
    side="1",
    price=0,
    ord_type="2",
    time_in_force="0",
    symbol="",
    capacity="A",
    order_qty=0,
    leaves_qty=0,
    last_shares=0,
    orig_cl_ord_id="",
)
"""Values the templates carry for the return fields a login may ask for (zero where the real one varies)."""


class FastBoeConfig:
    """Who may log in."""

    __slots__ = ("password", "session_sub_id", "username")

    def __init__(self, session_sub_id: str = "0001", username: str = "USER", password: str = "PASS") -> None:
        self.session_sub_id = session_sub_id
        self.username = username
        self.password = password


class FastBoeCore:
    """The venue's state over all connections: OrderIDs, counters, the read marks for the one-way join."""

    def __init__(self, config: FastBoeConfig | None = None, *, wall: Callable[[], int] = time.time_ns) -> None:
        self.config = config or FastBoeConfig()
        self.wall = wall
        self.next_order_id = FIRST_ORDER_ID
        self.order_ids: dict[bytes, int] = {}
        """ClOrdID (20 bytes as received) -> OrderID of live orders (for cancels and modifies)."""
        self.marks = array("q")
        """Per receive call that acknowledged orders: (first OrderID, last OrderID + 1, read ns)."""
        self.counters = {"new": 0, "cancels": 0, "modifies": 0, "ignored": 0, "reads": 0, "logins": 0}

    def connect(self) -> FastBoeConnection:
        """Return the state of a new client connection."""
        return FastBoeConnection(self)

    def order_id_read_times(self) -> tuple[array[int], array[int]]:
        """Return (OrderID, read ns) of every acknowledged New Order."""
        ids = array("q")
        times = array("q")
        marks = self.marks
        for k in range(0, len(marks), 3):
            for order_id in range(marks[k], marks[k + 1]):
                ids.append(order_id)
                times.append(marks[k + 2])
        return ids, times


class FastBoeConnection:
    """One client connection: login, then templates patched per answer."""

    def __init__(self, core: FastBoeCore) -> None:
        self.core = core
        self.close_reason: str | None = None
        self.logged_in = False
        self.sequence = 0
        self.received = 0
        """Highest SequenceNumber received from the client."""
        self._splitter = BoeSplitter()
        self._ack = bytearray()
        self._cancelled = bytearray()
        self._modified_bitfields = b""

    def poll(self, now_ns: int, idle_ns: int) -> tuple[bytes, int]:
        """Send a Server Heartbeat after a second without sending."""
        del now_ns
        if self.logged_in and idle_ns >= HEARTBEAT_NS:
            return SERVER_HEARTBEAT_BYTES, HEARTBEAT_NS
        return b"", max(HEARTBEAT_NS - idle_ns, 1)

    def receive(self, data: bytes, now_ns: int) -> bytearray:
        """Answer every whole message in ``data``."""
        core = self.core
        out = bytearray()
        first = core.next_order_id
        wall = core.wall()
        unpack = HEADER.unpack_from
        for message in self._splitter.feed(data):
            _start, _length, kind, _unit, sequence = unpack(message)
            self.received = max(self.received, sequence)
            if kind == NEW_ORDER and self.logged_in:
                self._answer(out, self._ack, bytes(message[_CL_ORD_ID]), core.next_order_id, wall)
                core.order_ids[bytes(message[_CL_ORD_ID])] = core.next_order_id
                core.next_order_id += 1
                core.counters["new"] += 1
            elif kind == CANCEL_ORDER and self.logged_in:
                orig = bytes(message[_CL_ORD_ID])
                if core.order_ids.pop(orig, None) is None:
                    core.counters["ignored"] += 1
                    continue
                self.sequence += 1
                start = len(out)
                out += self._cancelled
                _PATCH_CANCELLED.pack_into(out, start + 6, self.sequence, wall, orig)
                core.counters["cancels"] += 1
            elif kind == MODIFY_ORDER and self.logged_in:
                self._modify(message, out, wall)
            elif kind == LOGIN_REQUEST:
                self._login(message, out)
            elif kind == LOGOUT_REQUEST:
                out += encode_message(Logout("U", "logged out", 0))
                self.close_reason = "logout"
            elif kind != CLIENT_HEARTBEAT:
                core.counters["ignored"] += 1
        if self._splitter.error is not None:
            self.close_reason = f"framing lost: {self._splitter.error.text}"
        core.counters["reads"] += 1
        if core.next_order_id != first:
            core.marks.extend((first, core.next_order_id, now_ns))
        return out

    def _modify(self, message: memoryview, out: bytearray, wall: int) -> None:
        """Modify Order -> Order Modified (the generic codec: modifies are not the benchmark's hot path)."""
        core = self.core
        modify = decode_inbound(message)
        order_id = core.order_ids.pop(bytes(message[30:50]), None)
        if not isinstance(modify, ModifyOrder) or order_id is None:
            core.counters["ignored"] += 1
            return
        core.order_ids[bytes(message[10:30])] = order_id
        qty = modify.optional.order_qty or 0
        available = ReturnFields(
            price=modify.optional.price, order_qty=qty, leaves_qty=qty, orig_cl_ord_id=modify.orig_cl_ord_id
        )
        bitfields = self._modified_bitfields
        returns = select_return_fields(bitfields, available) if bitfields else ReturnFields()
        self.sequence += 1
        out += encode_message(
            OrderModified(UNIT, self.sequence, wall, modify.cl_ord_id, order_id, returns, len(bitfields))
        )
        core.counters["modifies"] += 1

    def _answer(self, out: bytearray, template: bytearray, cl_ord_id: bytes, order_id: int, wall: int) -> None:
        self.sequence += 1
        start = len(out)
        out += template
        _PATCH.pack_into(out, start + 6, self.sequence, wall, cl_ord_id, order_id)

    def _login(self, message: memoryview, out: bytearray) -> None:
        request = decode_inbound(message)
        config = self.core.config
        if not isinstance(request, LoginRequest):
            out += encode_message(LoginResponse("M", "bad Login Request", 0, 0))
            self.close_reason = "bad login"
            return
        if (request.session_sub_id, request.username, request.password) != (
            config.session_sub_id,
            config.username,
            config.password,
        ):
            out += encode_message(LoginResponse("N", "not authorized", 0, 0))
            self.close_reason = "login refused"
            return
        bitfields = return_bitfields_of(request.param_groups)

        def template(message_type: int, build: Callable[[ReturnFields, int], object]) -> bytearray:
            fields = bitfields.get(message_type)
            returns = select_return_fields(fields, _SAMPLE) if fields else ReturnFields()
            return bytearray(encode_message(build(returns, len(fields) if fields else 0)))  # type: ignore[arg-type]

        self._ack = template(ORDER_ACKNOWLEDGMENT, lambda r, n: OrderAcknowledgment(UNIT, 0, 0, "", 0, r, n))
        self._cancelled = template(ORDER_CANCELLED, lambda r, n: OrderCancelled(UNIT, 0, 0, "", "U", r, n))
        self._modified_bitfields = bitfields.get(ORDER_MODIFIED, b"")
        out += encode_message(LoginResponse("A", "welcome", 0, self.received, ((UNIT, self.sequence),)))
        out += REPLAY_COMPLETE_BYTES
        self.logged_in = True
        self.core.counters["logins"] += 1
