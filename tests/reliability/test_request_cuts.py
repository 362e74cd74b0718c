"""Exactly once across any crash point, for a strategy speaking protocol version 3.

A day of numbered requests of every kind runs through a real engine journaling to a file. For
every prefix of that journal (a crash after each record: a ``kill -9`` during the journal's
write of a batch leaves any prefix of it), the strategy is given exactly what it could have
received before the crash (a batch's strategy bytes leave only after the whole batch is on
disk), the gateway recovers from the prefix, and the strategy reconnects and does what the
protocol says: it reads ``Welcome.last_req_seq``, sends every request above it again unchanged,
and asks again for the answer of a MassCancel at or below it that it never got. Whatever the
crash point: each request is carried out exactly once and gets exactly one answer, and the
event sequence has no gap and no repeat.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import msgspec

from gateway.journal import (
    FileJournal,
    JCancelQueued,
    JOrderCreated,
    JournalRecord,
    JRequest,
    JSentCancel,
    JSentReplace,
    read_journal,
    unwrap_requests,
)
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    Cancel,
    CancelRejected,
    GatewayMessage,
    Hello,
    MassCancel,
    MassCancelAck,
    MassCancelRejected,
    NewOrder,
    OrderEvent,
    OrderRejected,
    Replace,
    Welcome,
)
from gateway.recovery import recover
from model.enums import Side
from model.fsync import FsyncPolicy
from model.order import CANCEL_WANTED_STATES
from model.venue_events import VenueState
from tests.harness import MemoryLink, Rig

ORDER_EVENTS = OrderEvent.__args__


class TappedLink(MemoryLink):
    """A connection that notes, for each write, how many journal records were on disk when it left."""

    def __init__(self, rig: Rig) -> None:
        super().__init__(rig.clock)
        self.rig = rig
        self.writes: list[tuple[int, bytes]] = []

    def write_buffer_size(self) -> int:
        return 0

    def write_out(self, data: bytearray) -> None:
        self.writes.append((self.rig.engine.journal.records_written, bytes(data)))
        super().write_out(data)


def _order(cl_ord_id: str, req_seq: int, *, qty: int = 100, symbol: str = "AAPL") -> NewOrder:
    return NewOrder(cl_ord_id, "ACC1", "V1", symbol, Side.BUY, qty, 1_000_000, req_seq=req_seq)


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def _day(path: Path) -> tuple[TappedLink, list[tuple[int, bytes]]]:
    """Run the day; return the link and every request frame sent, by number."""
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = TappedLink(rig)
    rig.engine.link_opened(link)
    rig.engine.link_data(link, encode_frame(Hello("S1", 3)), rig.clock())
    sent: list[tuple[int, bytes]] = []

    def send(*requests: NewOrder | Cancel | Replace | MassCancel | bytes) -> None:
        frames = []
        for request in requests:
            frame = request if isinstance(request, bytes) else encode_frame(request)
            frames.append(frame)
            sent.append((len(sent) + 1, frame))
        rig.engine.link_data(link, b"".join(frames), rig.clock())

    send(_order("A", 1, qty=300), _order("B", 2), _order("BIG", 3, qty=50_000), _order("D", 4))
    rig.venue.accept(1)
    rig.venue.fill(1, 100, 1_000_000)
    rig.venue.accept(2)
    rig.venue.reject(4)  # D (BIG, order 3, never reached the venue)
    send(Replace("A", 400, 1_010_000, 0, 5), Cancel("A", 0, 6))  # the cancel is held behind the replace
    rig.venue.replaced(1, 300, 1_010_000)  # the held cancel goes out
    rig.venue.cancel(1)
    send(Cancel("nope", 0, 7))
    send(MassCancel("", "", "MSFT", "M1", 8))  # matches nothing: no record but its own
    send(_order("E", 9, qty=10))
    rig.venue.accept(5)
    rig.venue.fill(5, 10, 1_000_000)
    send(_order("F", 10), _order("G", 11))
    rig.venue.accept(7)  # G; F stays unanswered
    send(Replace("B", 50_000, 1_000_000, 0, 12))  # refused by risk
    send(_frame(msgspec.msgpack.encode([2, "X", "ACC1", "V1", "AAPL", "B", -5, 1, "0", "2", 0, 13])))  # INVALID_FIELD
    send(MassCancel("ACC9", "", "", "M2", 14))  # refused: not entitled
    rig.venue.set_state(VenueState.DISCONNECTED)
    send(Cancel("B", 0, 15))  # held until the venue is back
    rig.venue.set_state(VenueState.UP)
    send(MassCancel("", "", "", "M3", 16), _order("H", 17))  # cancels F and G (B's is already on its way)
    rig.engine.flush()
    rig.engine.journal.close()
    return link, sent


def _decode(data: bytes) -> list[GatewayMessage]:
    return [gateway_message_decoder.decode(f) for f in FrameSplitter().feed(data)]


def _write(path: Path, records: list[JournalRecord]) -> None:
    path.unlink(missing_ok=True)
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    for record in records:
        journal.append(record)
    journal.close()


def _crash_and_resume(
    path: Path, seen: list[GatewayMessage], sent: list[tuple[int, bytes]]
) -> tuple[Rig, list[GatewayMessage]]:
    """Recover from ``path``, reconnect as the protocol says, re-send; return the rig and what came back."""
    rig = Rig()
    rig.engine.journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    rig.engine.adopt(recover(read_journal(path)))
    last_seq = max((m.seq for m in seen if isinstance(m, ORDER_EVENTS)), default=0)
    link = MemoryLink(rig.clock)
    rig.engine.link_opened(link)
    rig.engine.link_data(link, encode_frame(Hello("S1", 3, last_seq)), rig.clock())
    after = link.received()
    welcome = after[0]
    assert isinstance(welcome, Welcome)
    answered = {m.request_id for m in seen if isinstance(m, MassCancelAck | MassCancelRejected)}
    again = []
    for req_seq, frame in sent:
        message = msgspec.msgpack.decode(frame[4:])
        if req_seq <= welcome.last_req_seq:
            if message[0] == 5 and message[4] not in answered:  # a MassCancel whose answer was lost: ask again
                again.append(frame)
        else:
            again.append(frame)
    rig.engine.link_data(link, b"".join(again), rig.clock())
    rig.engine.flush()
    return rig, after + link.received()


def test_recover_when_cut_after_any_record_then_resent_requests_carried_out_and_answered_exactly_once(
    tmp_path: Path,
) -> None:
    full = tmp_path / "full.journal"
    tapped, sent = _day(full)
    records = list(read_journal(full))
    assert len(records) > 30  # one record per order event (issue 12): a sent order, a venue event: one each
    for cut in range(len(records) + 1):
        where = f"cut after record {cut}"
        seen = [m for on_disk, data in tapped.writes if on_disk <= cut for m in _decode(data)]
        path = tmp_path / f"cut{cut}.journal"
        _write(path, records[:cut])
        rig, after = _crash_and_resume(path, seen, sent)
        received = seen + after
        events = [m for m in received if isinstance(m, ORDER_EVENTS)]
        st = rig.engine.strategies["S1"]
        assert st.last_req_seq == len(sent), where  # every request processed in the end
        assert [e.seq for e in events] == list(range(1, len(events) + 1)), where
        assert len(events) == len(st.events), where

        # Carried out once: each number decided exactly once (one JRequest each, before or after the crash);
        # each order created once, each cancel held or sent at most once per order, the replace at most once.
        final = list(read_journal(path))
        numbers = Counter(r.req_seq for r in final if isinstance(r, JRequest))
        assert numbers == dict.fromkeys(range(1, len(sent) + 1), 1), (where, numbers)
        decisions = list(unwrap_requests(final))
        created = Counter(r.cl_ord_id for r in decisions if isinstance(r, JOrderCreated))
        assert set(created.values()) == {1} and len(created) == 8, (where, created)
        cancels = Counter(r.order_id for r in decisions if isinstance(r, JSentCancel))
        held = Counter(r.order_id for r in decisions if isinstance(r, JCancelQueued))
        assert set(cancels.values()) | set(held.values()) == {1}, (where, cancels, held)
        for order in st.open_orders.values():  # M3 asked to cancel every open order but H, sent after it
            assert order.cl_ord_id == "H" or order.state in CANCEL_WANTED_STATES, (where, order)
        assert len([r for r in decisions if isinstance(r, JSentReplace)]) <= 1, where

        # Answered once: every event exactly once (above), one answer per MassCancel, and no sign of a
        # request carried out twice.
        mass = Counter(m.request_id for m in received if isinstance(m, MassCancelAck | MassCancelRejected))
        assert mass == {"M1": 1, "M2": 1, "M3": 1}, (where, mass)
        codes = {e.code for e in events if isinstance(e, OrderRejected | CancelRejected)}
        assert not codes & {"DUPLICATE_CL_ORD_ID", "CANCEL_PENDING"}, (where, codes)
        refused = Counter(
            (type(e).__name__, e.cl_ord_id) for e in events if isinstance(e, OrderRejected | CancelRejected)
        )
        assert (
            refused["OrderRejected", "BIG"] == refused["CancelRejected", "nope"] == refused["OrderRejected", "X"] == 1
        )
        assert refused["CancelRejected", "B"] >= 1, where  # its replace is refused, whatever the crash left
        assert {"UNKNOWN_ORDER", "INVALID_FIELD"} <= codes, (where, codes)
