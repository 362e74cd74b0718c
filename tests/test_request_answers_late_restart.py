"""A MassCancel answer journaled late is answered again after a restart, too (rev56merge4 M1; mass56c).

The journal refuses request 1's record (ENOSPC), request 2's is journaled, then ``Engine._settle_owed`` journals
request 1's after it: out of ``req_seq`` order in the file. Live, ``JournalMarks.move`` keeps its exact position
(mass56b). Recovery noted positions with ``JournalMarks.add``, which ignores a key not above the last: request 1 got
none, and once more than ``REQUEST_ANSWERS_KEPT`` answers followed, its re-sent duplicate got no answer and no log
line. docs/strategy-protocol.md 4.5: a duplicate MassCancel gets the same answer again, however old; an answer that
cannot be given is logged at ERROR.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.journal import JournalScan
from gateway.journal_records import JRequest
from gateway.protocol.framing import encode_frame
from gateway.protocol.messages import MassCancel, MassCancelAck
from gateway.recovery import recover
from gateway.replay import JournalMarks
from gateway.strategy_state import REQUEST_ANSWERS_KEPT
from tests.harness import Rig, journal_of_kind, mass_cancel_frames, self_numbered_link

pytestmark = pytest.mark.timeout(120)


class _RefusingOneAnswer:
    """The engine's journal, refusing the first MassCancel answer's record (ENOSPC) as a full disk would."""

    def __init__(self, journal: Any) -> None:
        self._journal = journal
        self._failing = True

    def append(self, record: Any) -> None:
        if self._failing and type(record) is JRequest and record.answer is not None:
            self._failing = False
            raise OSError(28, "No space left on device")
        self._journal.append(record)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def _day_with_a_late_answer(kind: str, tmp_path: Path) -> None:
    """Request 1's record journaled after request 2's, then more answers than memory keeps; the journal closed."""
    rig = Rig(journal=journal_of_kind(kind, tmp_path / "j"))
    s1 = self_numbered_link(rig, "S1")
    journal = rig.engine.journal
    rig.engine.journal = _RefusingOneAnswer(journal)  # a stand-in: a compiled MmapJournal's methods are fixed
    rig.engine.link_data(s1, mass_cancel_frames(s1, ["A"]), rig.clock())  # req 1: its record refused, owed
    assert s1.received() == [MassCancelAck("A", 0)]
    rig.engine.link_data(s1, mass_cancel_frames(s1, ["x"]), rig.clock())  # req 2 journaled first
    rig.engine.poll(rig.clock())  # req 1's record journaled after all, after req 2's
    for start in range(0, REQUEST_ANSWERS_KEPT + 76, 500):
        ids = [f"m{n}" for n in range(start, min(start + 500, REQUEST_ANSWERS_KEPT + 76))]
        rig.engine.link_data(s1, mass_cancel_frames(s1, ids), rig.clock())
    rig.engine.flush()
    s1.received()
    rig.engine.link_data(s1, encode_frame(MassCancel(request_id="A", req_seq=1)), rig.clock())
    assert s1.received() == [MassCancelAck("A", 0)]  # live (mass56b): answered
    journal.close()


def _restart(kind: str, tmp_path: Path) -> Rig:
    """Recover and adopt the journal as ``gateway run`` does (a scan: positions noted)."""
    journal = journal_of_kind(kind, tmp_path / "j")
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    journal.cut_torn_tail(scan)
    fresh = Rig(journal=journal)
    fresh.engine.adopt(recovered)
    return fresh


@pytest.mark.parametrize("kind", ["file", "mmap"])
def test_late_journaled_answer_then_restart_then_duplicate_answered(kind: str, tmp_path: Path) -> None:
    _day_with_a_late_answer(kind, tmp_path)
    fresh = _restart(kind, tmp_path)
    st = fresh.engine.strategies["S1"]
    assert 1 not in st.mass_cancel_answers  # older than memory keeps: read back from the journal
    assert st.request_marks.exactly(1) >= 0  # before: -1, the late record's position never noted
    assert list(st.request_marks.keys) == sorted(set(st.request_marks.keys))
    s1 = self_numbered_link(fresh, "S1")
    fresh.engine.link_data(s1, encode_frame(MassCancel(request_id="B", req_seq=2)), fresh.clock())
    assert s1.received() == [MassCancelAck("x", 0)]  # a normal old duplicate: answered
    fresh.engine.link_data(s1, encode_frame(MassCancel(request_id="A", req_seq=1)), fresh.clock())
    assert s1.received() == [MassCancelAck("A", 0)]  # the late-journaled one: the same answer again


def test_old_duplicate_mass_cancel_without_a_position_then_logged_at_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A MassCancel duplicate older than memory whose position is unknown: no answer, but an ERROR, never silence."""
    _day_with_a_late_answer("file", tmp_path)
    fresh = _restart("file", tmp_path)
    st = fresh.engine.strategies["S1"]
    marks = st.request_marks
    kept = JournalMarks()  # every position but request 1's (as recovery before mass56c left them)
    for key, position in zip(marks.keys, marks.positions, strict=True):
        if key != 1:
            kept.add(key, position)
    st.request_marks = kept
    s1 = self_numbered_link(fresh, "S1")
    with caplog.at_level(logging.ERROR, logger="gateway"):
        fresh.engine.link_data(s1, encode_frame(MassCancel(request_id="A", req_seq=1)), fresh.clock())
    assert s1.received() == []
    assert "its re-sent MassCancel 1 has no journal position noted" in caplog.text


def test_journal_marks_insert_keeps_keys_in_order_and_the_first_position() -> None:
    marks = JournalMarks()
    for key, position in ((2, 20), (3, 30), (1, 40), (5, 50), (4, 60), (3, 99)):
        marks.insert(key, position)
    assert list(marks.keys) == [1, 2, 3, 4, 5]
    assert [marks.exactly(k) for k in range(1, 6)] == [40, 20, 30, 60, 50]
    assert marks.exactly(6) == -1
