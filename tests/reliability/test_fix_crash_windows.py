"""Crash windows of a FIX venue, deterministically: the real engine, journal, FIX adapter and file store.

``GatewayProcess.build`` and ``recover`` (the start-up a restarted ``gateway run`` goes through)
on a fake clock, the venue played by a scripted peer and the strategy by an in-memory link. A
``kill -9`` is modelled by dropping a process's objects at a chosen point: whatever the journal
and the FIX store handed to the kernel survives, everything else is gone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from gateway.app import GatewayProcess
from gateway.config import load_config
from gateway.engine import Engine
from gateway.journal import FileJournal, MmapJournal
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import PROTOCOL_VERSION, Hello, NewOrder, OrderEvent, StrategyMessage
from model.clock import FakeClock
from model.enums import Side
from model.order import Order
from model.venue_events import VenueState
from tests.fix.helpers import VenuePeer, decode_all
from tests.harness import LimitRisk, MemoryLink
from tests.reliability.support import ORDER_EVENTS, final_state
from venues.fix.adapter import FixVenue
from venues.fix.codec import FixMessage
from venues.fix.fields import MsgType
from venues.fix.store import FileStore


class _Killed(BaseException):
    """The process dies here (a BaseException: no ``except Exception`` on the way may take it for an error)."""


class Venue:
    """The exchange side of the session: numbers its messages and answers ResendRequests (PossDup)."""

    def __init__(self) -> None:
        self.peer = VenuePeer()
        self.sent: dict[int, tuple[bytes, list[tuple[bytes, bytes]]]] = {}

    def app(self, msg_type: bytes, body: list[tuple[bytes, bytes]]) -> bytes:
        self.sent[self.peer.next_seq] = (msg_type, body)
        return self.peer.message(msg_type, body)

    def ack(self, cl_ord_id: bytes, qty: int) -> bytes:
        return self.app(MsgType.EXECUTION_REPORT, _er(cl_ord_id, b"0", b"0", qty, leaves=qty, cum=0))

    def fill(self, cl_ord_id: bytes, qty: int) -> bytes:
        body = [*_er(cl_ord_id, b"2", b"2", qty, leaves=0, cum=qty), (b"32", b"%d" % qty), (b"31", b"230.10")]
        return self.app(MsgType.EXECUTION_REPORT, body)

    def resend(self, begin: int) -> bytes:
        """Replay ``begin``.. the last message sent, as a QuickFIX acceptor does (business messages only)."""
        out = b""
        for seq in range(begin, self.peer.next_seq):
            if seq in self.sent:
                msg_type, body = self.sent[seq]
                stamp = self.peer.stamps.format(self.peer.wall_ns)
                out += self.peer.message(msg_type, body, seq=seq, header=[(b"43", b"Y"), (b"122", stamp)])
            else:
                out += self.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"%d" % (seq + 1))], seq=seq)
        return out


def _er(
    cl_ord_id: bytes, exec_type: bytes, ord_status: bytes, qty: int, *, leaves: int, cum: int
) -> list[tuple[bytes, bytes]]:
    return [
        (b"37", b"OID-" + cl_ord_id),
        (b"17", b"E-%b-%b" % (cl_ord_id, exec_type)),
        (b"11", cl_ord_id),
        (b"20", b"0"),
        (b"150", exec_type),
        (b"39", ord_status),
        (b"55", b"AAPL"),
        (b"54", b"1"),
        (b"38", b"%d" % qty),
        (b"44", b"230.15"),
        (b"151", b"%d" % leaves),
        (b"14", b"%d" % cum),
        (b"6", b"0"),
    ]


class Process:
    """One ``gateway run``: start-up exactly as the process does it, then sans-IO transports."""

    def __init__(self, config: Path, clock: FakeClock) -> None:
        self.clock = clock
        risk = LimitRisk()  # the hot-path half of the risk engine is all this needs
        self.process = GatewayProcess(load_config(config), clock=clock, risk=risk)  # type: ignore[arg-type]
        self.process.build()
        self.process.recover()
        assert self.process.engine is not None
        self.engine: Engine = self.process.engine
        venue = self.process.venues[0]
        assert isinstance(venue, FixVenue)
        self.venue = venue
        self.wire = bytearray()

    def connect_venue(self) -> None:
        self.venue.attach(self.wire.extend, lambda: None)
        self.venue.connection_made(self.clock())
        self.engine.flush()

    def venue_read(self, data: bytes) -> None:
        """One read of the venue socket: what the connector does (adapter, then the core's flush)."""
        self.venue_read_unflushed(data)
        self.engine.flush()

    def venue_read_unflushed(self, data: bytes) -> None:
        """The same read, killed before the core's flush."""
        self.venue.data_received(data, self.clock())

    def take_wire(self) -> list[FixMessage]:
        messages = decode_all(self.wire)
        self.wire.clear()
        return messages

    def strategy(self, last_seq: int = 0) -> MemoryLink:
        link = MemoryLink(self.clock, uid=os.getuid())
        self.engine.link_opened(link)
        self.engine.link_data(link, _frames(Hello("S1", PROTOCOL_VERSION, last_seq)), self.clock())
        return link

    def abandon(self) -> None:
        """``kill -9``: no flush; the journal's pending batch is lost, the store keeps what it wrote."""
        store = self.venue.session.store
        assert isinstance(store, FileStore)
        store.close()  # only releases the files (fsync "never": nothing is written on close)
        journal = self.process.journal
        if isinstance(journal, MmapJournal):  # what was copied into the mapping stays, the pending batch goes
            journal._stop_syncer()
            if journal._map is not None:
                journal._map.close()
            if journal._head_map is not None:  # holds a duplicate of the descriptor: the file's lock with it
                journal._head_map.close()
        else:
            assert isinstance(journal, FileJournal)
        os.close(journal._fd)  # dropped unwritten, like the process


def _frames(*messages: StrategyMessage) -> bytes:
    return b"".join(encode_frame(m) for m in messages)


def _config(workdir: Path) -> Path:
    config = {
        "gateway_id": "crashwin",
        "strategy_socket": "s.sock",
        "admin_socket": "a.sock",
        "journal": {"directory": "journal", "fsync": "none"},
        "strategies": {"S1": {"accounts": ["ACC1"], "on_disconnect": "keep"}},
        "venues": [
            {
                "protocol": "fix",
                "name": "EQX",
                "host": "127.0.0.1",
                "port": 1,
                "dialect": "equities-fix42",
                "store": "file",
                "store_dir": "fix",
                "fsync": "never",
            }
        ],
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _order_events(link: MemoryLink) -> list[OrderEvent]:
    return [m for m in link.received() if isinstance(m, ORDER_EVENTS)]


@pytest.mark.parametrize("fill_in_same_read", [False, True], ids=["ack-read-alone", "ack-and-fill-in-one-read"])
def test_fix_recovery_when_killed_between_venue_read_and_journal_write_then_nothing_lost(
    tmp_path: Path, fill_in_same_read: bool
) -> None:
    """The flaky ``test_fix_session_when_gateway_killed_mid_flow...`` failures, without the race.

    A marketable order: the venue sends ER New and ER Fill; the gateway reads the ER New (alone,
    or with the Fill) and is killed before the core's flush writes the journal batch holding it.
    The FIX store must not have recorded those messages as processed: after the restart the
    session asks for them again and the strategy sees Accepted, then Executed. (Before the fix it
    saw Executed alone -- ``Executed(seq=28, cl_ord_id='A21') after PENDING_NEW`` -- or, with both
    in one read, nothing at all: the order stayed PENDING_NEW while the venue had filled it.)
    """
    config = _config(tmp_path)
    clock = FakeClock()
    exchange = Venue()

    first = Process(config, clock)
    first.connect_venue()
    first.venue_read(exchange.peer.logon())
    assert first.venue.state is VenueState.UP
    link = first.strategy()
    order = NewOrder("A1", "ACC1", "EQX", "AAPL", Side.BUY, 25, 2_301_500, req_seq=1)
    first.engine.link_data(link, _frames(order), clock())
    (new_order,) = [m for m in first.take_wire() if m.msg_type == MsgType.NEW_ORDER_SINGLE]
    cl_ord_id = new_order.get(b"11")
    ack, fill = exchange.ack(cl_ord_id, 25), exchange.fill(cl_ord_id, 25)
    first.venue_read_unflushed(ack + fill if fill_in_same_read else ack)  # else the Fill waits in the socket
    seen = _order_events(link)
    assert seen == []  # nothing of that read left the gateway (journal first, strategies last)
    first.abandon()

    second = Process(config, clock)
    second.connect_venue()
    second.take_wire()
    second.venue_read(exchange.peer.logon())  # the venue's Logon carries the number after the Fill
    asked = [m for m in second.take_wire() if m.msg_type == MsgType.RESEND_REQUEST]
    if asked:
        second.venue_read(exchange.resend(int(asked[0].get(b"7"))))
    assert second.venue.state is VenueState.UP
    again = second.strategy(last_seq=len(seen))
    events = seen + _order_events(again)

    assert [type(e).__name__ for e in events] == ["OrderAccepted", "Executed"], events
    assert [e.seq for e in events] == [1, 2]
    assert final_state(events)[0] == "FILLED"
    assert not second.engine.open_orders


def test_fix_recovery_when_killed_after_the_store_took_an_order_but_before_the_journal_then_no_orphan_order(
    tmp_path: Path,
) -> None:
    """``send_new`` writes the NewOrderSingle to the FIX store at once; the journal gets the order's records
    at the core's flush. Killed in between, the store holds an order no journal record (and no strategy)
    owns, which never reached the wire. After the restart the venue asks for it (our numbers moved past it):
    it must be gap-filled, not replayed (equities-fix42 replays orders younger than 30 s: the venue would get
    a live order nobody owns), and the next new order must not reuse its order id (ClOrdID sent twice).
    """
    config = _config(tmp_path)
    clock = FakeClock()
    exchange = Venue()

    first = Process(config, clock)
    first.connect_venue()
    first.venue_read(exchange.peer.logon())
    link = first.strategy()
    send_new = first.venue.send_new

    def send_new_then_killed(order: Order) -> object:
        send_new(order)  # the NewOrderSingle is in the FIX store ...
        raise _Killed  # ... and the process dies before the core's next flush (the engine may be compiled:
        # its methods cannot be replaced, the venue adapter's can)

    first.venue.send_new = send_new_then_killed  # type: ignore[method-assign,assignment]
    with pytest.raises(_Killed):
        first.engine.link_data(
            link, _frames(NewOrder("A1", "ACC1", "EQX", "AAPL", Side.BUY, 25, 2_290_000, req_seq=1)), clock()
        )
    orphan_seq = first.venue.session.next_sender_seq - 1
    (stored,) = first.venue.session.store.get_sent(orphan_seq, orphan_seq)
    assert b"\x0135=D\x01" in stored[1]  # in the store ...
    first.abandon()  # ... but not in the journal, and never on the wire

    second = Process(config, clock)
    assert second.engine.orders == {}  # the journal never had it
    second.connect_venue()
    second.take_wire()
    second.venue_read(exchange.peer.logon())
    second.venue_read(exchange.app(MsgType.RESEND_REQUEST, [(b"7", b"%d" % orphan_seq), (b"16", b"0")]))
    answer = second.take_wire()
    assert [m.msg_type for m in answer] == [MsgType.SEQUENCE_RESET]  # gap-filled, not replayed
    link = second.strategy()
    second.engine.link_data(
        link, _frames(NewOrder("A2", "ACC1", "EQX", "AAPL", Side.BUY, 30, 2_290_000, req_seq=1)), clock()
    )
    (new_order,) = [m for m in second.take_wire() if m.msg_type == MsgType.NEW_ORDER_SINGLE]
    orphan_cl_ord_id = stored[1].split(b"\x0111=")[1].split(b"\x01")[0]
    assert new_order.get(b"11") != orphan_cl_ord_id  # the order id was not used again
