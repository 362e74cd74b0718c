"""An old re-sent duplicate costs the loop one journal record, whatever the other strategies wrote (mass56b).

rev56merge3: an answer older than the window (``REQUEST_ANSWERS_KEPT``) was looked for by reading the journal from
the strategy's coarse mark (one per 256 of its answers) on, on the event loop: every record of every strategy in
between. S2's 400,000 MassCancels between two marks of S1 made S1's re-sent old MassCancel block the loop ~1 s, an
unreadable request numbered like an old one ~0.85 s. Now each answer's exact position is kept and one record is
read there. Also: the MassCancel work budget (``MASS_CANCEL_TURN_WORK``) is per read turn, not summed over reads.
The records read are counted at the journal's reader (mmap and file journals), not timed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.journal import FileJournal, JournalReader, JournalScan
from gateway.journal_records import JRequest
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import Error, MassCancel, MassCancelAck, NewOrder
from gateway.recovery import recover
from gateway.strategy_state import REQUEST_ANSWERS_KEPT
from model.enums import Side
from model.fsync import FsyncPolicy
from tests.harness import MemoryLink, Rig, journal_of_kind, mass_cancel_frames, self_numbered_link

OTHERS = 3000
"""S2's MassCancels journaled between S1's first two: what a read from a coarse mark had to cross."""


class _Counted:
    """A journal reader that counts the records it returns (what the engine read on the loop)."""

    def __init__(self, reader: JournalReader, counts: list[int]) -> None:
        self._reader = reader
        self._counts = counts

    def read(self, max_records: int, *args: Any, **kwargs: Any) -> list[Any]:
        out = self._reader.read(max_records, *args, **kwargs)
        self._counts[0] += len(out)
        return out

    def close(self) -> None:
        self._reader.close()


class _CountingJournal:
    """The engine's journal, its ``reader`` counted: for a compiled ``MmapJournal``, whose attributes are fixed."""

    def __init__(self, journal: Any, counts: list[int]) -> None:
        self._journal = journal
        self._counts = counts

    def reader(self, start: int) -> _Counted:
        return _Counted(self._journal.reader(start), self._counts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def _count_reads(engine: Any) -> list[int]:
    """Count the records the engine reads back from its journal from now on."""
    counts = [0]
    journal = engine.journal
    real = journal.reader

    def reader(start: int) -> _Counted:
        return _Counted(real(start), counts)

    try:
        journal.reader = reader
    except AttributeError:  # compiled (mypyc): the instance's attributes are fixed; count through a stand-in
        engine.journal = _CountingJournal(journal, counts)
    return counts


def _unreadable(req_seq: int) -> bytes:
    """A NewOrder whose cl_ord_id (33 bytes) cannot be read but whose req_seq can: its answer is an Error."""
    payload = msgspec.msgpack.encode([2, "X" * 33, "ACC1", "V1", "AAPL", "B", 100, 1_000_000, "0", "2", 0, req_seq])
    return len(payload).to_bytes(4, "big") + payload


def _day(kind: str, tmp_path: Path) -> tuple[Rig, MemoryLink]:
    """S1: a NewOrder (req 1), an unreadable request (2), MassCancel "A" (3); S2: ``OTHERS`` MassCancels; S1: "B"
    (req 4) and 1,100 more MassCancels, so that 1 to 4 left memory's window."""
    rig = Rig(journal=journal_of_kind(kind, tmp_path / "j"))
    s1 = self_numbered_link(rig, "S1")
    s2 = self_numbered_link(rig, "S2")
    s1.req_seq = 1
    rig.engine.link_data(
        s1, encode_frame(NewOrder("N1", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=1)), rig.clock()
    )
    s1.req_seq = 2
    rig.engine.link_data(s1, _unreadable(2), rig.clock())
    rig.engine.link_data(s1, mass_cancel_frames(s1, ["A"]), rig.clock())
    for start in range(0, OTHERS, 500):
        rig.engine.link_data(s2, mass_cancel_frames(s2, [f"o{n}" for n in range(start, start + 500)]), rig.clock())
        s2.received()
    rig.engine.link_data(s1, mass_cancel_frames(s1, ["B"]), rig.clock())
    for start in range(0, REQUEST_ANSWERS_KEPT + 76, 500):
        ids = [f"m{n}" for n in range(start, min(start + 500, REQUEST_ANSWERS_KEPT + 76))]
        rig.engine.link_data(s1, mass_cancel_frames(s1, ids), rig.clock())
    rig.engine.flush()
    s1.received()
    st = rig.engine.strategies["S1"]
    assert 3 not in st.mass_cancel_answers and 4 not in st.mass_cancel_answers  # left memory: the journal has them
    return rig, s1


@pytest.mark.parametrize("kind", ["mmap", "file"])
def test_old_resent_mass_cancel_then_one_record_read_whatever_others_wrote(kind: str, tmp_path: Path) -> None:
    rig, s1 = _day(kind, tmp_path)
    counts = _count_reads(rig.engine)
    rig.engine.link_data(s1, encode_frame(MassCancel(request_id="B", req_seq=4)), rig.clock())
    assert s1.received() == [MassCancelAck("B", 1)]  # the same answer as the first time
    assert counts[0] <= 1  # before: 3,000+ (every record of S2's between S1's marks)
    rig.engine.link_data(s1, encode_frame(MassCancel(request_id="A", req_seq=3)), rig.clock())
    assert s1.received() == [MassCancelAck("A", 1)]
    assert counts[0] <= 2


@pytest.mark.parametrize("kind", ["mmap", "file"])
def test_unreadable_requests_numbered_like_old_ones_then_one_record_or_none_read(kind: str, tmp_path: Path) -> None:
    rig, s1 = _day(kind, tmp_path)
    counts = _count_reads(rig.engine)
    rig.engine.link_data(s1, _unreadable(4), rig.clock())  # MassCancel B's number: skipped (answered by an Ack)
    assert s1.received() == []
    assert counts[0] <= 1  # before: 3,000+ (from S1's mark before S2's MassCancels)
    rig.engine.link_data(s1, _unreadable(1), rig.clock())  # a NewOrder's number: skipped, nothing read
    assert s1.received() == []
    assert counts[0] <= 1
    rig.engine.link_data(s1, _unreadable(2), rig.clock())  # an unreadable request's number: its Error again
    (error,) = s1.received()
    assert isinstance(error, Error) and error.code == "INVALID_MESSAGE" and not error.fatal


def test_old_duplicate_whose_record_is_damaged_then_not_answered_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig, s1 = _day("file", tmp_path)
    reader = JournalReader(tmp_path / "j", 0)
    (position,) = [
        at for at, rec in reader.read(10_000) if type(rec) is JRequest and rec.req_seq == 4 and rec.strategy_id == "S1"
    ]
    reader.close()
    with open(tmp_path / "j", "r+b") as fh:  # its checksum no longer matches
        fh.seek(position + 10)
        byte = fh.read(1)
        fh.seek(position + 10)
        fh.write(bytes([byte[0] ^ 0xFF]))
    counts = _count_reads(rig.engine)
    with caplog.at_level(logging.ERROR):
        rig.engine.link_data(s1, encode_frame(MassCancel(request_id="B", req_seq=4)), rig.clock())
    assert s1.received() == []  # a duplicate: never carried out again; its answer cannot be read
    assert counts[0] == 0
    assert "re-sent request 4 cannot be read from the journal" in caplog.text
    rig.engine.link_data(s1, encode_frame(MassCancel(request_id="A", req_seq=3)), rig.clock())
    assert s1.received() == [MassCancelAck("A", 1)]  # the others are read as before


def test_small_mass_cancels_over_many_reads_then_work_counted_per_read_turn() -> None:
    """rev56merge3 2: the work was summed since the last cut, over reads: the 9th read of 501 units was cut."""
    rig = Rig()
    link = rig.connect("S1")
    link.received()
    orders = [NewOrder(f"r{n}", "ACC1", "V1", f"S{n}", Side.BUY, 100, 1_000_000) for n in range(500)]
    rig.send(link, *orders)
    for n in range(500):
        rig.venue.accept(rig.order("S1", f"r{n}").order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    link.defers_reads = True
    for n in range(40):  # one small read per loop turn: a MassCancel of a symbol without orders, then a NewOrder
        link.req_seq += 1
        data = encode_frame(MassCancel(symbol="MSFT", request_id=f"M{n}", req_seq=link.req_seq))
        link.req_seq += 1
        data += encode_frame(NewOrder(f"n{n}", "ACC1", "V1", "SPY", Side.BUY, 100, 1_000_000, req_seq=link.req_seq))
        rig.engine.link_data(link, data, rig.clock())
        assert not link.rest_kept, n  # before: read 8 cut, its NewOrder deferred a turn
        assert rig.order("S1", f"n{n}") is not None
        link.received()


@pytest.mark.parametrize("kind", ["mmap", "file"])
def test_restart_then_old_duplicate_read_at_the_position_recovery_noted(kind: str, tmp_path: Path) -> None:
    live, _ = _day(kind, tmp_path)
    live.engine.journal.close()
    journal = journal_of_kind(kind, tmp_path / "j")
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    s1 = self_numbered_link(fresh, "S1")
    counts = _count_reads(fresh.engine)
    for req_seq, rid in ((4, "B"), (3, "A")):
        fresh.engine.link_data(s1, encode_frame(MassCancel(request_id=rid, req_seq=req_seq)), fresh.clock())
        assert s1.received() == [MassCancelAck(rid, 1)]
    assert counts[0] <= 2


def test_answer_journaled_late_after_a_fault_then_read_where_it_went(tmp_path: Path) -> None:
    """A MassCancel answer the journal refused is journaled at a later ``poll``: its position moves with it."""
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    s1 = self_numbered_link(rig, "S1")
    journal = rig.engine.journal
    real_append = journal.append
    failing = [True]

    def append(record: Any) -> None:
        if failing[0] and type(record) is JRequest and record.answer is not None:
            failing[0] = False
            raise OSError(28, "No space left on device")
        real_append(record)

    journal.append = append  # type: ignore[method-assign]
    rig.engine.link_data(s1, mass_cancel_frames(s1, ["A"]), rig.clock())  # req 1: its record refused, kept owed
    assert s1.received() == [MassCancelAck("A", 0)]
    rig.engine.link_data(s1, mass_cancel_frames(s1, ["x"]), rig.clock())  # req 2 journaled where 1 was to go
    rig.engine.poll(rig.clock())  # req 1's record journaled after all, after req 2's
    for start in range(0, REQUEST_ANSWERS_KEPT + 76, 500):
        ids = [f"m{n}" for n in range(start, min(start + 500, REQUEST_ANSWERS_KEPT + 76))]
        rig.engine.link_data(s1, mass_cancel_frames(s1, ids), rig.clock())
    rig.engine.flush()
    s1.received()
    assert 1 not in rig.engine.strategies["S1"].mass_cancel_answers
    counts = _count_reads(rig.engine)
    rig.engine.link_data(s1, encode_frame(MassCancel(request_id="A", req_seq=1)), rig.clock())
    assert s1.received() == [MassCancelAck("A", 0)]
    assert counts[0] == 1
