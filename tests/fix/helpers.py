"""Test helpers: a scripted venue peer (sans-IO), order factory and event recorders."""

from __future__ import annotations

from model.enums import OrderType, Side, TimeInForce
from model.order import Order
from model.venue_events import VenueEvent, VenueState
from venues.fix.codec import DecodeError, FixMessage, FrameDecoder, UtcTimestamps, build_message
from venues.fix.fields import MsgType

WALL_OFFSET_NS = 1_704_189_600_000_000_000 - 1_000_000_000
"""Makes FakeClock's default start (1 s) read 2024-01-02 10:00:00 UTC as wall time."""


def decode_all(data: bytes | bytearray) -> list[FixMessage]:
    """Decode a byte stream that must contain only valid messages."""
    out: list[FixMessage] = []
    for item in FrameDecoder().feed(bytes(data)):
        assert not isinstance(item, DecodeError), item
        out.append(item)
    return out


def make_order(
    order_id: int = 7,
    *,
    account: str = "ACC1",
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    qty: int = 100,
    price: int = 1_502_500,
    tif: TimeInForce = TimeInForce.DAY,
    ord_type: OrderType = OrderType.LIMIT,
    strategy_id: str = "strat1",
) -> Order:
    """Return a fresh PENDING_NEW order."""
    order = Order(order_id, strategy_id, f"C{order_id}", account, "FIXV", symbol, side, qty, price, tif, ord_type)
    order.leaves_qty = qty
    return order


class VenuePeer:
    """The venue side of a session, scripted by a test: builds correctly framed messages."""

    def __init__(self, begin: bytes = b"FIX.4.2", sender: bytes = b"EQX", target: bytes = b"GATEWAY") -> None:
        self.begin = begin
        self.sender = sender
        self.target = target
        self.next_seq = 1
        self.stamps = UtcTimestamps()
        self.wall_ns = 1_704_189_600_000_000_000

    def message(
        self,
        msg_type: bytes,
        body: list[tuple[bytes, bytes]] | None = None,
        *,
        seq: int | None = None,
        header: list[tuple[bytes, bytes]] | None = None,
    ) -> bytes:
        """Build the next message (``seq`` overrides and does not advance the counter)."""
        if seq is None:
            seq = self.next_seq
            self.next_seq += 1
        return build_message(
            self.begin,
            msg_type,
            sender=self.sender,
            target=self.target,
            seq=seq,
            sending_time=self.stamps.format(self.wall_ns),
            body_fields=body or [],
            header_fields=header or [],
        )

    def logon(self, heartbeat: int = 30, reset: bool = False, seq: int | None = None) -> bytes:
        """Build the venue's Logon reply."""
        body = [(b"98", b"0"), (b"108", b"%d" % heartbeat)]
        if reset:
            body.append((b"141", b"Y"))
        return self.message(MsgType.LOGON, body, seq=seq)

    def execution_report(
        self,
        cl_ord_id: bytes,
        exec_type: bytes,
        *,
        ord_status: bytes = b"0",
        order_qty: int = 100,
        leaves: int = 100,
        cum: int = 0,
        price: bytes = b"150.25",
        last_qty: int = 0,
        last_px: bytes = b"",
        exec_id: bytes = b"E1",
        extra: list[tuple[bytes, bytes]] | None = None,
        seq: int | None = None,
        orig_cl_ord_id: bytes = b"",
    ) -> bytes:
        """Build an ExecutionReport (FIX 4.2 style, with ExecTransType)."""
        body = [
            (b"37", b"OID1"),
            (b"17", exec_id),
            (b"11", cl_ord_id),
        ]
        if orig_cl_ord_id:
            body.append((b"41", orig_cl_ord_id))
        body += [
            (b"20", b"0"),
            (b"150", exec_type),
            (b"39", ord_status),
            (b"55", b"AAPL"),
            (b"54", b"1"),
            (b"38", b"%d" % order_qty),
            (b"44", price),
            (b"151", b"%d" % leaves),
            (b"14", b"%d" % cum),
            (b"6", b"0"),
        ]
        if last_qty:
            body += [(b"32", b"%d" % last_qty), (b"31", last_px)]
        body += extra or []
        return self.message(MsgType.EXECUTION_REPORT, body, seq=seq)


class Recorder:
    """Collect venue events and state changes from an adapter."""

    def __init__(self) -> None:
        self.events: list[VenueEvent] = []
        self.states: list[tuple[str, VenueState, str]] = []

    def event(self, event: VenueEvent) -> None:
        """Record one event (the adapter's event_sink)."""
        self.events.append(event)

    def state(self, name: str, state: VenueState, reason: str) -> None:
        """Record one state change (the adapter's state_sink)."""
        self.states.append((name, state, reason))
