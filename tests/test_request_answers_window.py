"""MassCancel answers and unreadable requests' numbers: a window in memory, older ones read from the journal (mass56).

rev56strat: every MassCancel's answer stayed in memory for the day (``StrategyState.mass_cancel_answers``, ~150-250 B
each, 3 x 200,000 MassCancels: +80 MB), rebuilt from the whole journal at a restart; so did the number of every
request whose id could not be read (``unreadable_seqs``). Memory keeps the last ``REQUEST_ANSWERS_KEPT`` of each;
a re-sent duplicate older than that is answered from its ``JRequest`` in the journal, the same answer, also after a
restart (docs/strategy-protocol.md 4.5, docs/ops-guide.md 7).
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import msgspec
import pytest

from gateway.journal import FileJournal, JournalScan, read_journal
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import Error, MassCancel, MassCancelAck, MassCancelRejected, NewOrder
from gateway.recovery import recover
from gateway.strategy_state import REQUEST_ANSWERS_KEPT
from model.enums import Side
from model.fsync import FsyncPolicy
from tests.harness import MemoryLink, Rig, self_numbered_link

MANY = REQUEST_ANSWERS_KEPT * 3 + 17


def _raw(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def _unreadable(req_seq: int) -> bytes:
    """A NewOrder whose cl_ord_id (33 bytes) cannot be read but whose req_seq can: its answer is an Error."""
    return _raw(msgspec.msgpack.encode([2, "X" * 33, "ACC1", "V1", "AAPL", "B", 100, 1_000_000, "0", "2", 0, req_seq]))


def _mass_cancel(n: int, req_seq: int) -> MassCancel:
    """Every third is refused (an account not the strategy's): answers differ by kind and by request id."""
    return MassCancel("ACC9" if n % 3 == 0 else "", "", "", f"M{n}", req_seq)


def _expected(n: int) -> MassCancelAck | MassCancelRejected:
    return MassCancelRejected(f"M{n}", "ACCOUNT_NOT_PERMITTED", "") if n % 3 == 0 else MassCancelAck(f"M{n}", 1)


def _same(got: object, want: MassCancelAck | MassCancelRejected) -> bool:
    if isinstance(want, MassCancelRejected):
        return isinstance(got, MassCancelRejected) and (got.request_id, got.code) == (want.request_id, want.code)
    return got == want


def _run_day(tmp_path: Path) -> tuple[Rig, MemoryLink]:
    """One resting order (req_seq 1), ``MANY`` MassCancels (2 ..) and ``MANY`` unreadable requests after them."""
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    link = self_numbered_link(rig)
    rig.engine.link_data(
        link, encode_frame(NewOrder("A", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, req_seq=1)), rig.clock()
    )
    rig.venue.accept(rig.order("S1", "A").order_id, 1_000_000)
    rig.engine.flush()
    link.received()
    for start in range(0, MANY, 500):  # reads of 500
        batch = b"".join(encode_frame(_mass_cancel(n, 2 + n)) for n in range(start, min(start + 500, MANY)))
        rig.engine.link_data(link, batch, rig.clock())
    answers = link.received()
    assert len(answers) == MANY and all(_same(got, _expected(n)) for n, got in enumerate(answers))
    first_unreadable = 2 + MANY
    errors = 0
    for start in range(0, MANY, 90):  # 90 per connection: each counts towards its connection's error budget
        batch = b"".join(_unreadable(first_unreadable + n) for n in range(start, min(start + 90, MANY)))
        rig.engine.link_data(link, batch, rig.clock())
        got = link.received()
        assert all(isinstance(e, Error) and not e.fatal for e in got)
        errors += len(got)
        rig.engine.link_closed(link)
        link = self_numbered_link(rig)
    assert errors == MANY
    rig.engine.flush()
    return rig, link


def _resend(rig: Rig, link: MemoryLink, n: int) -> object:
    """Send the ``n``-th MassCancel of the day again, unchanged; return its one answer."""
    rig.engine.link_data(link, encode_frame(_mass_cancel(n, 2 + n)), rig.clock())
    (answer,) = link.received()
    return answer


def test_many_mass_cancels_and_unreadable_requests_then_memory_keeps_a_window_of_each(tmp_path: Path) -> None:
    rig, _ = _run_day(tmp_path)
    st = rig.engine.strategies["S1"]
    assert st.last_req_seq == 1 + 2 * MANY
    assert len(st.mass_cancel_answers) <= REQUEST_ANSWERS_KEPT  # before: MANY, one per MassCancel of the day
    assert len(st.unreadable_seqs) <= REQUEST_ANSWERS_KEPT  # before: MANY
    assert max(st.mass_cancel_answers) == 1 + MANY and max(st.unreadable_seqs) == 1 + 2 * MANY  # the latest kept


@pytest.mark.parametrize("n", [0, 1, 2, REQUEST_ANSWERS_KEPT + 5, MANY - 1])
def test_resent_duplicate_mass_cancel_old_or_recent_then_same_answer_again(tmp_path: Path, n: int) -> None:
    rig, link = _run_day(tmp_path)
    assert _same(_resend(rig, link, n), _expected(n))
    assert not rig.venue.commands[1:] or all(c[0] == "cancel" for c in rig.venue.commands[1:])
    assert rig.engine.strategies["S1"].last_req_seq == 1 + 2 * MANY  # a duplicate: nothing carried out again


def test_resent_duplicate_unreadable_request_old_then_same_error_again(tmp_path: Path) -> None:
    rig, link = _run_day(tmp_path)
    for req_seq in (2 + MANY, 2 + MANY + 700, 1 + 2 * MANY):
        rig.engine.link_data(link, _unreadable(req_seq), rig.clock())
        (error,) = link.received()
        assert isinstance(error, Error) and error.code == "INVALID_MESSAGE" and not error.fatal
    rig.engine.link_data(link, encode_frame(_mass_cancel(5, 2 + MANY + 5)), rig.clock())  # a MassCancel now: none
    assert link.received() == []  # (its number was an unreadable request's: a duplicate skipped, not answered)


@pytest.mark.parametrize("scanned", [True, False])
def test_restart_then_window_rebuilt_and_old_duplicate_answered_from_journal(tmp_path: Path, scanned: bool) -> None:
    live, _ = _run_day(tmp_path)
    journal = live.engine.journal
    assert isinstance(journal, FileJournal)
    fcntl.flock(journal._fd, fcntl.LOCK_UN)  # kill -9 of the first process
    scan = JournalScan() if scanned else None
    recovered = recover(read_journal(tmp_path / "j", scan), scan)
    st = recovered.strategies["S1"]
    if scanned:  # each older one's position known: one record read back
        assert len(st.mass_cancel_answers) <= REQUEST_ANSWERS_KEPT and len(st.unreadable_seqs) <= REQUEST_ANSWERS_KEPT
    else:  # no positions (mass56b: never a read from the journal's start for one): memory keeps them all
        assert len(st.mass_cancel_answers) == MANY and len(st.unreadable_seqs) == MANY
    fresh = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    fresh.engine.adopt(recovered)
    link = self_numbered_link(fresh, last_seq=0)
    for n in (0, 4, REQUEST_ANSWERS_KEPT, MANY - 2):
        assert _same(_resend(fresh, link, n), _expected(n)), n
    fresh.engine.link_data(link, _unreadable(2 + MANY + 3), fresh.clock())
    (error,) = link.received()
    assert isinstance(error, Error) and error.code == "INVALID_MESSAGE"
