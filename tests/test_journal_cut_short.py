"""A journal whose data ends before the durable end its header names: refused, never read as a shorter day.

``read_journal`` stopped at the end of the file (or at zeros) without comparing it with the header's durable
end, so a file cut short at a record boundary (or to its header page) started a partial or an empty day.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.journal import (
    DATA_START,
    FileJournal,
    JOrderRefused,
    JournalCutShortError,
    JournalScan,
    MmapJournal,
    data_end,
    read_journal,
)
from gateway.recovery import emptied_journal_problem, journal_note, note_journal_begun
from model.fsync import FsyncPolicy


def _closed_journal(path: Path, records: int) -> list[int]:
    """Write ``records`` records and stop cleanly (the header's durable end = the data end); return their offsets."""
    journal = MmapJournal(path, fsync=FsyncPolicy.INTERVAL, owner="gw1 20261206")
    for i in range(records):
        journal.append(JOrderRefused(i))
        journal.flush()
    journal.close()
    data, pos, out = path.read_bytes(), DATA_START, []
    while pos < len(data):
        out.append(pos)
        pos += 8 + int.from_bytes(data[pos : pos + 4], "big")
    assert pos == len(data) == data_end(path)
    return out


def test_read_when_intact_then_every_record_and_no_error(tmp_path: Path) -> None:
    path = tmp_path / "j"
    _closed_journal(path, 50)
    scan = JournalScan()
    assert len(list(read_journal(path, scan))) == 50
    assert scan.synced_bytes == scan.good_bytes == os.path.getsize(path)


@pytest.mark.parametrize("keep", [25, 0])
def test_read_when_cut_at_a_record_boundary_before_the_durable_end_then_refused(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "j"
    offsets = _closed_journal(path, 50)
    durable = os.path.getsize(path)
    cut = offsets[keep]  # keep 0: the header page only
    os.truncate(path, cut)
    with pytest.raises(JournalCutShortError, match=rf"data ends at byte {cut} \(the file ends there\), before the "):
        list(read_journal(path))
    with pytest.raises(JournalCutShortError, match=rf"made durable \({durable}\)"):
        list(read_journal(path))
    assert os.path.getsize(path) == cut  # nothing cut or grown: left for the operator


def test_read_when_zeroed_from_a_record_boundary_before_the_durable_end_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    offsets = _closed_journal(path, 50)
    size = os.path.getsize(path)
    os.truncate(path, offsets[30])
    os.truncate(path, size + 8192)  # the rest zeros, like the never-written part of a preallocated file
    with pytest.raises(JournalCutShortError, match=rf"data ends at byte {offsets[30]} \(zeros follow"):
        list(read_journal(path))


def test_read_when_the_zeros_begin_past_the_durable_end_then_read_as_the_unwritten_part(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)  # the header's durable end: the file's start
    for i in range(20):
        journal.append(JOrderRefused(i))
        journal.flush()
    scan = JournalScan()
    assert len(list(read_journal(path, scan))) == 20  # the preallocated zeros after them: never written
    assert scan.synced_bytes == DATA_START < scan.good_bytes < os.path.getsize(path)
    journal.close()


def test_read_when_a_file_journal_is_cut_at_a_record_boundary_then_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    for i in range(10):
        journal.append(JOrderRefused(i))
        journal.flush()
    journal.close()
    os.truncate(path, 0)  # no header: nothing says how far it was durable (the doc's file-storage rule)
    assert list(read_journal(path)) == []


def test_emptied_journal_problem_when_an_mmap_journal_this_gateway_began_is_0_bytes_then_named(
    tmp_path: Path,
) -> None:
    state, journal = tmp_path / "state", tmp_path / "journal" / "gw1-20261206.journal"
    _closed_journal(journal, 3)
    assert note_journal_begun(state, "gw1", journal) is None
    assert journal_note(state, "gw1").read_text() == f"{journal.resolve()}\nheader page\n"
    assert emptied_journal_problem(state, "gw1", journal) == ""  # it holds its records
    os.truncate(journal, 0)
    problem = emptied_journal_problem(state, "gw1", journal)
    assert f"the journal {journal} is empty (0 bytes), but this gateway began it today" in problem
    assert f"move {journal} and {journal_note(state, 'gw1')} aside" in problem
    assert "move the file aside only after investigating it" in problem
    assert emptied_journal_problem(state, "gw2", journal) == ""  # another gateway's note names nothing here


def test_emptied_journal_problem_when_nothing_says_it_had_a_header_then_an_ordinary_empty_journal(
    tmp_path: Path,
) -> None:
    state, journal = tmp_path / "state", tmp_path / "journal" / "gw1-20261206.journal"
    journal.parent.mkdir()
    journal.touch()  # a file-storage journal begun and never written to
    assert note_journal_begun(state, "gw1", journal) is None
    assert journal_note(state, "gw1").read_text() == f"{journal.resolve()}\n"
    assert emptied_journal_problem(state, "gw1", journal) == ""
    journal_note(state, "gw1").unlink()  # nothing began it (a crash right after the file was created)
    assert emptied_journal_problem(state, "gw1", journal) == ""
