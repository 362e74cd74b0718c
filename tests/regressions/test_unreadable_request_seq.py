"""Regression (found by a client written from docs/strategy-protocol.md): a version-3 request whose
``cl_ord_id`` cannot be read took no place in the request sequence.

It was answered with the documented non-fatal Error (``INVALID_MESSAGE`` / ``BAD_FRAME``, "skipped"), but
its ``req_seq`` was not used up, so the client's next request -- numbered one more, as section 4.5 says --
was a fatal ``REQ_SEQ_GAP``. Reconnecting and sending again "unchanged, in order" (4.5, step 3) repeated
the same two steps forever. Now such a request takes its place when its ``req_seq`` can be read: the Error
is its answer, the number is journaled, and a duplicate of it gets the same Error again (like a MassCancel,
whose answer is not replayed either).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from gateway.journal import FileJournal, JRequest, read_journal
from gateway.protocol.messages import CancelRejected, Error, OrderRejected, Welcome
from gateway.recovery import recover
from model.fsync import FsyncPolicy
from tests.harness import Rig, self_numbered_link


def _raw(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def _new(cl_ord_id: object, req_seq: int) -> bytes:
    return _raw(msgspec.msgpack.encode([2, cl_ord_id, "ACC1", "V1", "AAPL", "B", 100, 1_000_000, "0", "2", 0, req_seq]))


NOT_UTF8 = _raw(  # a NewOrder whose cl_ord_id is the str b"\xff\xfe" (not UTF-8), req_seq 2
    b"\x9c\x02\xa2\xff\xfe\xa4ACC1\xa2V1\xa4AAPL\xa1B\x64\xce\x00\x0f\x42\x40\xa10\xa12\x00\x02"
)
UNREADABLE = {
    "cl_ord_id 33 bytes": (_new("X" * 33, 2), "INVALID_MESSAGE"),
    "cl_ord_id an int": (_new(7, 2), "INVALID_MESSAGE"),
    "cl_ord_id empty": (_new("", 2), "INVALID_MESSAGE"),
    "cancel cl_ord_id 33 bytes": (_raw(msgspec.msgpack.encode([3, "X" * 33, 0, 2])), "INVALID_MESSAGE"),
    "cl_ord_id not UTF-8": (NOT_UTF8, "BAD_FRAME"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_request_when_id_unreadable_but_req_seq_readable_then_error_and_next_request_is_no_gap(case: str) -> None:
    rig = Rig()
    link = self_numbered_link(rig)
    bad, code = UNREADABLE[case]
    rig.engine.link_data(link, _new("A", 1) + bad + _new("C", 3), rig.clock())
    (error,) = link.received()
    assert isinstance(error, Error) and (error.code, error.fatal) == (code, False)
    assert not link.closed
    assert [c[0] for c in rig.venue.commands] == ["new", "new"]  # A and C carried out
    assert link.session.last_req_seq == rig.engine.strategies["S1"].last_req_seq == 3


def test_reconnect_when_client_sends_the_unreadable_request_again_unchanged_then_same_error_and_progress(
    tmp_path: Path,
) -> None:
    """Section 4.5 step 3 from a lost connection: what the gateway has not processed is sent again, unchanged."""
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    link = self_numbered_link(rig)
    bad, _ = UNREADABLE["cl_ord_id 33 bytes"]
    rig.engine.link_data(link, _new("A", 1) + bad, rig.clock())
    rig.engine.link_closed(link)
    rig.engine.flush()
    assert any(isinstance(r, JRequest) and r.req_seq == 2 for r in read_journal(tmp_path / "j"))
    assert recover(read_journal(tmp_path / "j")).strategies["S1"].last_req_seq == 2

    again = rig.connect("S1", last_seq=1)
    again.number_requests = False
    welcome, *_ = again.received()
    assert isinstance(welcome, Welcome) and welcome.last_req_seq == 2
    rig.engine.link_data(again, bad + _new("C", 3), rig.clock())  # a client unsure it got the answer sends it again
    (error,) = again.received()
    assert isinstance(error, Error) and (error.code, error.fatal) == ("INVALID_MESSAGE", False)
    assert not again.closed and again.session.last_req_seq == 3


def test_request_when_neither_id_nor_req_seq_readable_then_error_and_no_place_in_the_sequence() -> None:
    rig = Rig()
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _raw(msgspec.msgpack.encode([2, "X" * 33])) + _new("B", 1), rig.clock())
    error, *rest = link.received()
    assert isinstance(error, Error) and not error.fatal and rest == []
    assert link.session.last_req_seq == 1


def test_request_when_id_readable_then_still_answered_by_it() -> None:
    rig = Rig()
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _new("A", 1) + _raw(msgspec.msgpack.encode([2, "B", "ACC1", 5, "AAPL"])), rig.clock())
    (answer,) = link.received()
    assert isinstance(answer, OrderRejected) and (answer.cl_ord_id, answer.code) == ("B", "INVALID_FIELD")


def test_duplicate_when_same_bytes_again_then_same_code_and_problem_its_own_frame_number_and_counted_again() -> None:
    """What 4.5 says of a duplicate of such a request, exactly (rev51strat: the page said "the same Error")."""
    rig = Rig()
    link = self_numbered_link(rig)
    bad, _ = UNREADABLE["cl_ord_id 33 bytes"]
    rig.engine.link_data(link, _new("A", 1) + bad, rig.clock())
    (first,) = link.received()
    errors = link.session.errors
    rig.engine.link_data(link, bad, rig.clock())  # the same bytes again: its Error again, as a new frame
    (again,) = link.received()
    assert isinstance(first, Error) and isinstance(again, Error)
    assert again.code == first.code and not again.fatal
    assert first.text.startswith("frame 3: ") and again.text.startswith("frame 4: ")  # its place on the connection
    assert again.text.removeprefix("frame 4: ") == first.text.removeprefix("frame 3: ")
    assert link.session.errors == errors + 1  # a protocol error again (7.2): it counts towards the budget
    rig.engine.link_data(link, _new("B", 2), rig.clock())  # another request with that number: a plain duplicate
    assert link.received() == []  # skipped, no answer (nothing carried out)
    assert [c[0] for c in rig.venue.commands] == ["new"]
    assert link.session.last_req_seq == 2


def _cancel(cl_ord_id: object, req_seq: int) -> bytes:
    return _raw(msgspec.msgpack.encode([3, cl_ord_id, 0, req_seq]))


def test_duplicate_when_unreadable_with_the_number_of_a_readable_request_then_skipped_not_answered_again() -> None:
    """rev54strat MEDIUM: an unreadable request re-using the number of a request that was read (answered by an
    order event) got an Error too: two answers for one number, each counted against the error budget."""
    rig = Rig()
    link = self_numbered_link(rig)
    rig.engine.link_data(link, _new("A", 1) + _cancel("NOPE", 2), rig.clock())
    (answer,) = link.received()  # the Cancel of an unknown order: CancelRejected, its one answer
    assert isinstance(answer, CancelRejected) and answer.cl_ord_id == "NOPE"
    rig.engine.link_data(link, _new("", 2) + _cancel(5, 1), rig.clock())  # unreadable, numbers already answered
    assert link.received() == []  # duplicates: skipped, no second answer (each still a protocol error, 7.2)
    assert not link.closed and link.session.last_req_seq == 2
    rig.engine.link_data(link, _new("C", 3), rig.clock())
    assert [c[0] for c in rig.venue.commands] == ["new", "new"]


def test_duplicate_when_unreadable_number_sent_again_after_a_restart_then_error_again_and_readable_ones_skipped(
    tmp_path: Path,
) -> None:
    """The journal says which numbers an Error answered (a JRequest with nothing else in it): after a restart an
    unreadable request sent again with such a number gets its Error again; with a read request's number, nothing."""
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    rig = Rig(journal=journal)
    link = self_numbered_link(rig)
    bad, _ = UNREADABLE["cl_ord_id an int"]
    rig.engine.link_data(link, _new("A", 1) + bad + _cancel("NOPE", 3), rig.clock())
    rig.engine.flush()
    journal.close()
    recovered = recover(read_journal(tmp_path / "j")).strategies["S1"]
    assert recovered.unreadable_seqs == {2} and recovered.last_req_seq == 3

    rig2 = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    rig2.engine.adopt(recover(read_journal(tmp_path / "j")))
    again = rig2.connect("S1", last_seq=2)
    again.number_requests = False
    again.received()
    rig2.engine.link_data(again, bad + _new("", 3) + _new("", 1), rig2.clock())
    (error,) = again.received()  # number 2's answer again; 3 (a CancelRejected) and 1 (an order) skipped
    assert isinstance(error, Error) and (error.code, error.fatal) == ("INVALID_MESSAGE", False)
    assert not again.closed and again.session.last_req_seq == 3
