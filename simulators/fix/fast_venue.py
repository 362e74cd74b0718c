"""The benchmark's FIX venue: the project's own sans-IO ``FixSession`` as acceptor, ExecutionReports from templates.

``gateway sim fix`` (QuickFIX C++ with Python callbacks) stays the conformance venue. Measured
against, it cost about 80 µs of Python callback per message and put the same slow acceptor in
every FIX path, so a FIX comparison measured the acceptor more than either initiator. This venue
answers with as little as the FIX session layer allows:

* the session is ``venues.fix.session.FixSession`` with ``SessionConfig.acceptor``: it waits for
  the initiator's Logon, answers it (same HeartBtInt, ResetSeqNumFlag echoed), keeps sequence
  numbers, heartbeats and test requests, and hands each in-sequence business message to this
  class (its ``SessionHandler``);
* NewOrderSingle (D) -> ExecutionReport New; OrderCancelRequest (F) -> ExecutionReport Canceled;
  OrderCancelReplaceRequest (G) -> ExecutionReport Replaced; each built with one ``%`` from a
  template compiled per connection (CompIDs, BeginString, the dialect's echoed tags), with the
  order's own field values echoed. Cancels and replaces of unknown orders get an
  OrderCancelReject, other business messages a BusinessMessageReject. Nothing is filled;
* the initiator's SenderCompID is read from its Logon and must be one of ``targets``.

OrderIDs are decimal numbers from ``first_order_id`` up, so the gateway path can join them to the
venue's read time (``marks``, as the OUCH bench venue does with Order Reference Numbers).
tests/fix/test_fast_venue.py validates every report against the quickfix DataDictionary.
"""

from __future__ import annotations

from array import array
from typing import Final

from model.clock import NowNs
from venues.fix import fields as f
from venues.fix.codec import DecodeError, FixMessage, FrameDecoder, build_message, finish
from venues.fix.dialect import BeginString, Dialect
from venues.fix.fields import MsgType
from venues.fix.session import FixSession, FixSessionState, SessionConfig
from venues.fix.store import MemoryStore

_MARKET: Final = b"1"
_UNSUPPORTED_MESSAGE_TYPE: Final = 3


class _Order:
    """An open order as the venue keeps it: the echoed field values (raw bytes)."""

    __slots__ = ("echo", "ord_type", "order_id", "price", "qty", "side", "symbol")

    def __init__(
        self, order_id: bytes, symbol: bytes, side: bytes, qty: bytes, ord_type: bytes, price: bytes, echo: bytes
    ) -> None:
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.qty = qty
        self.ord_type = ord_type
        self.price = price
        self.echo = echo


class ReportTemplates:
    """ExecutionReport bodies (New, Canceled, Replaced) for one CompID pair, compiled once."""

    def __init__(self, begin_string: bytes, sender: bytes, target: bytes) -> None:
        self.begin_string = begin_string
        trans = b"20=0\x01" if begin_string == BeginString.FIX42.value.encode() else b""
        head = b"35=8\x0149=" + sender + b"\x0156=" + target + b"\x0134=%d\x0152=%b\x0137=%b\x0117=%b\x01" + trans
        order = b"55=%b\x0154=%b\x0138=%b\x0140=%b\x01%b"
        self.new = head + b"11=%b\x01150=0\x0139=0\x01" + order + b"151=%b\x0114=0\x016=0\x01%b"
        self.canceled = head + b"11=%b\x0141=%b\x01150=4\x0139=4\x01" + order + b"151=0\x0114=0\x016=0\x01%b"
        self.replaced = head + b"11=%b\x0141=%b\x01150=5\x0139=0\x01" + order + b"151=%b\x0114=0\x016=0\x01%b"


class FastFixVenue:
    """Configuration shared by every connection: dialect, our CompID, the initiators we accept."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        sender_comp_id: str,
        targets: tuple[str, ...],
        clock: NowNs,
        wall_offset_ns: int = 0,
        first_order_id: int = 100_000_001,
    ) -> None:
        self.dialect = dialect
        self.begin_string = dialect.begin_bytes
        self.sender_comp_id = sender_comp_id.encode()
        self.targets = frozenset(t.encode() for t in targets)
        self.clock = clock
        self.wall_offset_ns = wall_offset_ns
        self.echo_tags = tuple(str(t).encode() for t in dialect.executions.echoed_tags)
        self.next_order_id = first_order_id
        self.next_exec_id = 1
        self.marks = array("q")
        """Per ``receive`` that accepted orders: (first OrderID, end OrderID, read ns)."""
        self.counters = {"new": 0, "cancel": 0, "replace": 0, "rejected": 0}

    def connect(self) -> FastFixConnection:
        """Return the state of a new initiator connection."""
        return FastFixConnection(self)

    def order_id_read_times(self) -> tuple[array[int], array[int]]:
        """Return (OrderID, read ns) for every order accepted."""
        ids = array("q")
        times = array("q")
        marks = self.marks
        for k in range(0, len(marks), 3):
            first, end, t = marks[k], marks[k + 1], marks[k + 2]
            ids.extend(range(first, end))
            times.extend(array("q", [t]) * (end - first))
        return ids, times


class FastFixConnection:
    """One initiator connection: peeks its Logon for the CompID, then runs a ``FixSession`` acceptor."""

    def __init__(self, venue: FastFixVenue) -> None:
        self.venue = venue
        self.session: FixSession | None = None
        self.templates: ReportTemplates | None = None
        self.orders: dict[bytes, _Order] = {}
        """ClOrdID the initiator currently knows the order by -> the order."""
        self._early = bytearray()
        self._refused: str | None = None

    @property
    def close_reason(self) -> str | None:
        """Return why the connection must close once the output is written (None: keep it)."""
        if self._refused is not None:
            return self._refused
        return self.session.close_reason if self.session is not None else None

    @property
    def state(self) -> FixSessionState:
        """Return the session state (DISCONNECTED before the initiator's Logon arrived)."""
        return self.session.state if self.session is not None else FixSessionState.DISCONNECTED

    def receive(self, data: bytes, now_ns: int) -> bytes:
        """Feed initiator bytes; return what to write back."""
        session = self.session
        if session is None:
            session = self._start(data, now_ns)
            if session is None:
                return b""
            data = bytes(self._early)
            self._early.clear()
        venue = self.venue
        first = venue.next_order_id
        session.data_received(data, now_ns)
        session.commit_inbound()  # nothing of ours to make durable first: the reports are already in the outbox
        if venue.next_order_id != first:
            venue.marks.extend((first, venue.next_order_id, now_ns))
        return self._take()

    def poll(self, now_ns: int, idle_ns: int = 0) -> tuple[bytes, int]:
        """Run the session's timers; return (bytes to write, ns until the next poll)."""
        del idle_ns  # the session keeps its own heartbeat clock
        if self.session is None:
            return b"", 1_000_000_000
        wait = self.session.poll(now_ns)
        return self._take(), wait

    def _take(self) -> bytes:
        assert self.session is not None
        out = self.session.outbox
        if not out:
            return b""
        data = bytes(out)
        out.clear()
        return data

    def _start(self, data: bytes, now_ns: int) -> FixSession | None:
        """Buffer until the first message is complete; create the session for the CompID its Logon names."""
        self._early += data
        probe = FrameDecoder().feed(bytes(self._early))
        if not probe:
            return None
        first = probe[0]
        if isinstance(first, DecodeError):
            self._refused = f"first bytes are not a FIX message: {first.text}"
            return None
        venue = self.venue
        target = first.get(f.SENDER_COMP_ID)
        if target not in venue.targets:
            self._refused = f"unknown SenderCompID {target!r}"
            return None
        config = SessionConfig(
            begin_string=venue.begin_string,
            sender_comp_id=venue.sender_comp_id,
            target_comp_id=target,
            acceptor=True,
        )
        session = FixSession(config, MemoryStore(), self, wall_offset_ns=venue.wall_offset_ns)
        session.connection_made(now_ns)
        self.session = session
        self.templates = ReportTemplates(venue.begin_string, venue.sender_comp_id, target)
        return session

    # ---- SessionHandler ------------------------------------------------------------------------

    def on_app_message(self, message: FixMessage) -> None:
        """Answer an in-sequence business message."""
        msg_type = message.msg_type
        if msg_type == MsgType.NEW_ORDER_SINGLE:
            self._new(message.fields)
        elif msg_type == MsgType.ORDER_CANCEL_REQUEST:
            self._cancel(message)
        elif msg_type == MsgType.ORDER_CANCEL_REPLACE_REQUEST:
            self._replace(message)
        else:
            assert self.session is not None
            self.session.send_business_reject(
                message.seq,
                msg_type,
                reason=_UNSUPPORTED_MESSAGE_TYPE,
                text="unsupported message type",
                now_ns=self.venue.clock(),
            )

    def on_state(self, state: FixSessionState, reason: str) -> None:
        """Nothing to do: the transport reads ``close_reason``."""
        del state, reason

    def on_session_reject(self, message: FixMessage) -> None:
        """The initiator rejected one of our reports: count it."""
        del message
        self.venue.counters["rejected"] += 1

    def on_not_replayed(self, raw: bytes) -> None:
        """Nothing: reports are never replayed to the benchmark initiator."""
        del raw

    def may_replay(self, raw: bytes) -> bool:
        """Every stored report may be replayed (the dialect decides)."""
        del raw
        return True

    def on_numbering_reset(self, creation_time_ns: int) -> None:
        """Nothing: the simulator keeps no journal whose numbering it would have to name."""
        del creation_time_ns

    def on_gap_filled(self, first: int, new_seq: int, unseen: int) -> None:
        """Nothing: the simulator checks no orders against the peer's reports."""
        del first, new_seq, unseen

    def _send(self, template: bytes, values: tuple[object, ...]) -> None:
        session = self.session
        assert session is not None
        now = self.venue.clock()
        seq = session.next_sender_seq
        body = template % (seq, session.sending_time(now), *values)
        session.send_app(seq, finish(session.config.begin_string, body), now)

    def _ids(self) -> tuple[bytes, bytes]:
        venue = self.venue
        exec_id = b"X%d" % venue.next_exec_id
        venue.next_exec_id += 1
        return exec_id, b"%d" % venue.next_order_id

    def _new(self, fields: dict[bytes, bytes]) -> None:
        venue = self.venue
        templates = self.templates
        assert templates is not None
        exec_id, order_id = self._ids()
        venue.next_order_id += 1
        get = fields.get
        cl_ord_id = get(f.CL_ORD_ID, b"?")
        ord_type = get(f.ORD_TYPE, b"2")
        price = b"" if ord_type == _MARKET else b"44=" + get(f.PRICE, b"0") + b"\x01"
        qty = get(f.ORDER_QTY, b"0")
        echo = b"".join(tag + b"=" + fields[tag] + b"\x01" for tag in venue.echo_tags if tag in fields)
        order = _Order(order_id, get(f.SYMBOL, b"?"), get(f.SIDE, b"1"), qty, ord_type, price, echo)
        self.orders[cl_ord_id] = order
        self._send(
            templates.new,
            (order_id, exec_id, cl_ord_id, order.symbol, order.side, qty, ord_type, price, qty, echo),
        )
        venue.counters["new"] += 1

    def _cancel(self, message: FixMessage) -> None:
        templates = self.templates
        assert templates is not None
        orig = message.get(f.ORIG_CL_ORD_ID)
        cl_ord_id = message.get(f.CL_ORD_ID, b"?")
        order = self.orders.pop(orig, None)
        if order is None:
            self._cancel_reject(cl_ord_id, orig, b"1")
            return
        exec_id, _ = self._ids()
        self._send(
            templates.canceled,
            (
                order.order_id,
                exec_id,
                cl_ord_id,
                orig,
                order.symbol,
                order.side,
                order.qty,
                order.ord_type,
                order.price,
                order.echo,
            ),
        )
        self.venue.counters["cancel"] += 1

    def _replace(self, message: FixMessage) -> None:
        templates = self.templates
        assert templates is not None
        orig = message.get(f.ORIG_CL_ORD_ID)
        cl_ord_id = message.get(f.CL_ORD_ID, b"?")
        order = self.orders.pop(orig, None)
        if order is None:
            self._cancel_reject(cl_ord_id, orig, b"2")
            return
        order.qty = message.get(f.ORDER_QTY, order.qty)
        if order.ord_type != _MARKET:
            order.price = b"44=" + message.get(f.PRICE, b"0") + b"\x01"
        self.orders[cl_ord_id] = order
        exec_id, _ = self._ids()
        self._send(
            templates.replaced,
            (
                order.order_id,
                exec_id,
                cl_ord_id,
                orig,
                order.symbol,
                order.side,
                order.qty,
                order.ord_type,
                order.price,
                order.qty,
                order.echo,
            ),
        )
        self.venue.counters["replace"] += 1

    def _cancel_reject(self, cl_ord_id: bytes, orig: bytes, response_to: bytes) -> None:
        session = self.session
        assert session is not None
        now = self.venue.clock()
        seq = session.next_sender_seq
        raw = build_message(
            session.config.begin_string,
            MsgType.ORDER_CANCEL_REJECT,
            sender=session.config.sender_comp_id,
            target=session.config.target_comp_id,
            seq=seq,
            sending_time=session.sending_time(now),
            body_fields=[
                (f.ORDER_ID, b"NONE"),
                (f.CL_ORD_ID, cl_ord_id),
                (f.ORIG_CL_ORD_ID, orig or b"?"),
                (f.ORD_STATUS, b"8"),
                (f.CXL_REJ_RESPONSE_TO, response_to),
                (f.CXL_REJ_REASON, b"1"),
                (f.TEXT, b"unknown order"),
            ],
        )
        session.send_app(seq, raw, now)
