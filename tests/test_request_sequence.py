"""Protocol version 3: request numbers through the engine, the journal and recovery (sans-IO, fake clock).

Each request's number is journaled inside the record that decided it (``JRequest``), so the
last processed number and the answers agree after any restart; a request seen again is not
carried out again; one that skips a number closes the session.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import msgspec

from gateway.journal import (
    FileJournal,
    JOrderSent,
    JournalRecord,
    JRequest,
    JSentCancel,
    JStrategyEvent,
    JVenueApplied,
    read_journal,
    unwrap_requests,
)
from gateway.protocol.framing import FrameSplitter, encode_frame
from gateway.protocol.messages import (
    Cancel,
    CancelRejected,
    Error,
    Hello,
    MassCancel,
    MassCancelAck,
    MassCancelRejected,
    NewOrder,
    OrderRejected,
    Replace,
    VenueStatus,
    Welcome,
)
from gateway.recovery import recover
from model.enums import Side
from model.fsync import FsyncPolicy
from model.venue_events import VenueState
from tests.harness import MemoryLink, Rig


def _order(cl_ord_id: str, req_seq: int, *, qty: int = 100, symbol: str = "AAPL") -> NewOrder:
    return NewOrder(cl_ord_id, "ACC1", "V1", symbol, Side.BUY, qty, 1_000_000, req_seq=req_seq)


def _journaled(tmp_path: Path) -> Rig:
    return Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))


def _records(rig: Rig, tmp_path: Path) -> list[JournalRecord]:
    rig.engine.flush()
    return list(read_journal(tmp_path / "j"))


def _crash(rig: Rig) -> None:
    """``kill -9`` of the first process: the kernel drops its lock on the journal file (nothing is written)."""
    journal = rig.engine.journal
    assert isinstance(journal, FileJournal)
    fcntl.flock(journal._fd, fcntl.LOCK_UN)


def _manual(rig: Rig, strategy_id: str = "S1", *, last_seq: int = 0) -> MemoryLink:
    """A version-3 connection whose requests the test numbers itself."""
    link = rig.connect(strategy_id, last_seq=last_seq)
    link.number_requests = False
    return link


def test_welcome_when_version_3_then_carries_last_req_seq_and_version_2_welcome_has_five_fields() -> None:
    rig = Rig()
    link = _manual(rig)
    welcome, _status = link.received()
    assert welcome == Welcome(3, "test-gw", 1, 1000, 0, 0)
    rig.send(link, _order("A", 1), _order("B", 2))
    rig.engine.link_closed(link)
    again = _manual(rig)
    welcome, *_ = again.received()
    assert isinstance(welcome, Welcome) and welcome.last_req_seq == 2

    old = rig.connect("S2", version=2)
    raw = msgspec.msgpack.decode(FrameSplitter().feed(bytes(old.written))[0])
    assert raw == [16, 2, "test-gw", 1, 1000, 0]  # no last_req_seq for a version-2 session


def test_journal_when_each_kind_of_request_then_its_deciding_record_carries_its_number(tmp_path: Path) -> None:
    rig = _journaled(tmp_path)
    link = _manual(rig)
    rig.send(link, _order("A", 1))  # sent
    rig.venue.accept(1)
    rig.send(link, _order("BIG", 2, qty=50_000))  # refused by risk
    rig.send(link, Replace("A", 200, 1_000_000, 0, 3))  # sent
    rig.send(link, Cancel("A", 0, 4))  # held behind the replace
    rig.send(link, Cancel("nope", 0, 5))  # refused
    rig.send(link, Replace("A", 50_000, 1_000_000, 0, 6))  # refused: a replace is in flight
    rig.send(link, MassCancel("", "", "MSFT", "M0", 7))  # matches nothing
    rig.send(link, _order("C", 8))
    rig.send(link, MassCancel("", "", "", "M1", 9))  # cancels C (A's cancel is already wanted)
    rig.venue.set_state(VenueState.DISCONNECTED)
    rig.send(link, _order("D", 10))  # refused: venue down
    wrapped = [(r.req_seq, type(r.record).__name__, r.answer) for r in _records(rig, tmp_path) if type(r) is JRequest]
    assert wrapped == [
        (1, "JOrderSent", None),  # created and sent: one record (issue 12)
        (2, "JOrderCreated", None),
        (3, "JSentReplace", None),
        (4, "JCancelQueued", None),
        (5, "JStrategyEvent", None),
        (6, "JStrategyEvent", None),
        (7, "NoneType", MassCancelAck("M0", 0)),
        (8, "JOrderSent", None),
        (9, "NoneType", MassCancelAck("M1", 2)),
        (10, "JOrderCreated", None),
    ]
    assert rig.engine.strategies["S1"].last_req_seq == 10


def test_journal_when_version_3_then_the_same_records_as_version_2_some_wrapped_none_added(tmp_path: Path) -> None:
    def day(version: int, path: Path) -> list[JournalRecord]:
        rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
        link = rig.connect("S1", version=version)
        rig.new_order(link, "A")
        rig.venue.accept(1)
        rig.send(link, Cancel("A"))
        rig.send(link, Replace("zz", 1, 1))
        rig.engine.flush()
        return list(read_journal(path))

    v2, v3 = day(2, tmp_path / "v2"), day(3, tmp_path / "v3")
    assert [type(r) for r in v3] == [JRequest, JVenueApplied, JRequest, JRequest]  # one record per order event
    assert list(unwrap_requests(v3)) == v2  # nothing added: the number rides on the records a request writes


def test_mass_cancel_journal_when_it_cancels_orders_then_answer_is_journaled_after_the_cancels(tmp_path: Path) -> None:
    rig = _journaled(tmp_path)
    link = _manual(rig)
    rig.send(link, _order("A", 1), _order("B", 2))
    rig.send(link, MassCancel("", "", "", "M1", 3))
    records = _records(rig, tmp_path)
    tail = records[-3:]
    assert [type(r) for r in tail] == [JSentCancel, JSentCancel, JRequest]
    assert tail[2] == JRequest("S1", 3, None, MassCancelAck("M1", 2))


def test_duplicate_when_a_processed_request_comes_again_then_not_carried_out_and_no_second_answer() -> None:
    rig = Rig()
    link = _manual(rig)
    rig.send(link, _order("A", 1), Cancel("nope", 0, 2))
    link.received()
    rig.send(link, _order("A", 1), Cancel("nope", 0, 2), _order("B", 3))  # two repeats, then the next one
    assert len(rig.venue.commands) == 2  # A once, B once
    assert link.received() == []  # no DUPLICATE_CL_ORD_ID, no second UNKNOWN_ORDER, no Error
    assert rig.engine.counters.duplicate_requests == 2 and link.session.errors == 0
    assert rig.engine.strategies["S1"].last_req_seq == 3


def test_duplicate_when_a_mass_cancel_comes_again_then_its_first_answer_is_sent_again() -> None:
    rig = Rig()
    link = _manual(rig)
    rig.send(link, _order("A", 1))
    rig.venue.accept(1)
    rig.send(link, MassCancel("", "", "", "M1", 2), MassCancel("ACC9", "", "", "M2", 3))
    link.received()
    cancels = len(rig.venue.commands)
    rig.send(link, MassCancel("", "", "", "M1", 2), MassCancel("ACC9", "", "", "M2", 3))
    again = link.received()
    assert again[0] == MassCancelAck("M1", 1)
    assert isinstance(again[1], MassCancelRejected) and again[1].code == "ACCOUNT_NOT_PERMITTED"
    assert len(rig.venue.commands) == cancels


def test_gap_when_a_number_is_skipped_then_earlier_requests_answered_later_ones_not_read_and_fatal() -> None:
    rig = Rig()
    link = _manual(rig)
    link.received()
    rig.send(link, _order("A", 1), _order("B", 3), _order("C", 4))
    *_, err = link.received()
    assert isinstance(err, Error) and (err.code, err.fatal) == ("REQ_SEQ_GAP", True)
    assert "req_seq 3 received, 2 expected" in err.text
    assert [c[1] for c in rig.venue.commands] == [1]  # A only
    assert link.closed and rig.engine.strategies["S1"].last_req_seq == 1
    rig.engine.link_closed(link)
    again = _manual(rig)
    welcome, *_ = again.received()
    assert isinstance(welcome, Welcome) and welcome.last_req_seq == 1
    rig.send(again, _order("B", 2), _order("C", 3))
    assert [c[1] for c in rig.venue.commands if c[0] == "new"] == [1, 2, 3]


def test_reconnect_when_requests_pipelined_behind_hello_then_processed_ones_skipped_the_rest_carried_out() -> None:
    rig = Rig()
    link = _manual(rig)
    rig.send(link, _order("A", 1), _order("B", 2))
    rig.engine.link_closed(link)
    again = MemoryLink(rig.clock)
    rig.engine.link_opened(again)
    data = b"".join(encode_frame(m) for m in (Hello("S1", 3), _order("A", 1), _order("B", 2), _order("C", 3)))
    rig.engine.link_data(again, data, rig.clock())
    welcome, status = again.received()
    assert isinstance(welcome, Welcome) and welcome.last_req_seq == 2 and isinstance(status, VenueStatus)
    assert [c[1] for c in rig.venue.commands if c[0] == "new"] == [1, 2, 3]


def test_invalid_request_when_version_3_then_answered_and_numbered_or_outside_the_sequence(tmp_path: Path) -> None:
    rig = _journaled(tmp_path)
    link = _manual(rig)
    link.received()
    bad = msgspec.msgpack.encode([2, "X", "ACC1", "V1", "AAPL", "B", -5, 1, "0", "2", 0, 1])
    unnumbered = msgspec.msgpack.encode([3, "Y"])
    rig.engine.link_data(link, _raw(bad) + _raw(unnumbered), rig.clock())
    first, second = link.received()
    assert isinstance(first, OrderRejected) and (first.cl_ord_id, first.code) == ("X", "INVALID_FIELD")
    assert isinstance(second, CancelRejected) and second.cl_ord_id == "Y" and "req_seq" in second.text
    records = _records(rig, tmp_path)
    assert [type(r) for r in records] == [JRequest, JStrategyEvent]  # only the numbered one is in the sequence
    assert rig.engine.strategies["S1"].last_req_seq == 1


def _raw(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def test_recover_when_journal_has_numbered_requests_then_last_req_seq_and_mass_cancel_answers_restored(
    tmp_path: Path,
) -> None:
    live = _journaled(tmp_path)
    link = _manual(live)
    live.send(link, _order("A", 1), MassCancel("", "", "", "M1", 2), Cancel("A", 0, 3))
    records = _records(live, tmp_path)
    recovered = recover(records)
    st = recovered.strategies["S1"]
    assert st.last_req_seq == 3
    assert st.mass_cancel_answers == {2: MassCancelAck("M1", 1)}
    assert [type(r) for r in records[:2]] == [JRequest, JSentCancel]  # the MassCancel's cancel: its answer is numbered
    assert isinstance(records[0], JRequest) and isinstance(records[0].record, JOrderSent)

    _crash(live)
    fresh = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    fresh.engine.adopt(recover(read_journal(tmp_path / "j")))
    again = _manual(fresh, last_seq=1)
    welcome, *_ = again.received()
    assert isinstance(welcome, Welcome) and welcome.last_req_seq == 3
    fresh.send(again, MassCancel("", "", "", "M1", 2), Cancel("A", 0, 3), Cancel("A", 0, 4))
    answer, rejected = again.received()
    assert answer == MassCancelAck("M1", 1)  # the duplicate gets the journaled answer
    assert isinstance(rejected, CancelRejected) and rejected.code == "CANCEL_PENDING"  # 4 is new: carried out


def test_recover_when_journal_written_by_version_2_sessions_then_last_req_seq_is_0(tmp_path: Path) -> None:
    live = _journaled(tmp_path)
    link = live.connect("S1", version=2)
    live.new_order(link, "A")
    records = _records(live, tmp_path)
    assert [type(r) for r in records] == [JOrderSent]
    assert recover(records).strategies["S1"].last_req_seq == 0
