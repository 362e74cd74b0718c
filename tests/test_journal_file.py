"""The journal file deleted or replaced while open: restored from the open file, or fail closed; its owner block."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from gateway.journal import (
    DATA_START,
    FileJournal,
    JOrderRefused,
    JournalCloseError,
    JournalForeignError,
    JournalInUseError,
    JournalOwnerError,
    JournalScan,
    MmapJournal,
    mmap_header,
    read_journal,
)
from gateway.journal_read import MMAP_HEADER, OWNER_AT, read_owner
from model.fsync import FsyncPolicy

STORAGES = ["mmap", "file"]


def _open(path: Path, storage: str, fsync: FsyncPolicy = FsyncPolicy.NONE) -> MmapJournal | FileJournal:
    if storage == "mmap":
        return MmapJournal(path, fsync=fsync, grow_bytes=2 * 4096)
    return FileJournal(path, fsync=fsync)


def _write(journal: MmapJournal | FileJournal, first: int, count: int) -> None:
    for i in range(first, first + count):
        journal.append(JOrderRefused(i))
        journal.flush()


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("fsync", [FsyncPolicy.NONE, FsyncPolicy.BATCH])
def test_check_file_when_deleted_then_restored_with_every_record_and_later_ones_follow(
    tmp_path: Path, storage: str, fsync: FsyncPolicy
) -> None:
    path = tmp_path / "gw-20261204.journal"
    journal = _open(path, storage, fsync)
    assert journal.check_file() == ("", False)
    _write(journal, 0, 100)
    path.unlink()
    _write(journal, 100, 50)  # into the deleted file
    problem, restored = journal.check_file()
    assert restored and "was deleted while the gateway had it open" in problem
    assert journal.file_restores == 1
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(150)]
    assert journal.check_file() == ("", False)
    _write(journal, 150, 3000)  # grows the new file (mmap: past its first allocation)
    journal.close()
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(3150)]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize("storage", STORAGES)
def test_check_file_when_the_whole_directory_deleted_then_made_again_with_every_record_and_later_ones_follow(
    tmp_path: Path, storage: str
) -> None:
    directory = tmp_path / "var" / "journal"
    path = directory / "gw-20261204.journal"
    journal = _open(path, storage)
    _write(journal, 0, 40)
    shutil.rmtree(tmp_path / "var")  # ``rm -rf`` of the state tree, the journal's directory and its parent
    _write(journal, 40, 10)  # into the deleted file
    problem, restored = journal.check_file()  # the old code: "restoring it failed: [Errno 2] ... .restore-PID"
    assert restored and "was deleted while the gateway had it open" in problem
    assert directory.is_dir() and list(read_journal(path)) == [JOrderRefused(i) for i in range(50)]
    made = tmp_path / "made"
    made.mkdir()  # what the start makes: the same mode
    assert directory.stat().st_mode == made.stat().st_mode
    assert journal.check_file() == ("", False)
    _write(journal, 50, 5)  # accepted again: written into the restored file
    journal.close()
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(55)]
    assert [p.name for p in directory.iterdir()] == [path.name]  # no temporary file left


def test_close_when_final_flush_fails_with_nothing_pending_then_the_message_has_no_empty_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    journal = _open(path, "mmap")
    _write(journal, 0, 2)
    other = tmp_path / "other"
    other.write_bytes(b"not yours")
    other.rename(path)
    assert not journal.check_file()[1]
    with pytest.raises(JournalCloseError) as caught:
        journal.close()
    text = str(caught.value)
    assert ": :" not in text and "its final flush failed" in text  # the old code: "journal j: : OSError: ..."


def test_check_file_when_mmap_deleted_then_header_of_the_copy_says_all_of_it_is_durable(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)  # never synced: the header names the data start
    _write(journal, 0, 10)
    assert MMAP_HEADER.unpack_from(path.read_bytes(), 0)[2] == DATA_START
    path.unlink()
    assert journal.check_file()[1]
    data = path.read_bytes()
    assert data[: MMAP_HEADER.size] == mmap_header(journal.tell())  # fdatasynced up to its data end
    journal.close()


def test_check_file_when_interval_then_the_syncer_syncs_the_restored_file(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=5)
    try:
        _write(journal, 0, 10)
        path.unlink()
        assert journal.check_file()[1]
        restored_end = journal.tell()
        _write(journal, 10, 10)
        deadline = time.monotonic() + 15
        while MMAP_HEADER.unpack_from(path.read_bytes(), 0)[2] <= restored_end:  # the old syncer synced the old file
            assert time.monotonic() < deadline, "the syncer never synced the restored file"
            time.sleep(0.01)
    finally:
        journal.close()
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(20)]


@pytest.mark.parametrize("storage", STORAGES)
def test_check_file_when_another_file_took_the_path_then_flush_fails_until_it_is_moved_aside(
    tmp_path: Path, storage: str
) -> None:
    path = tmp_path / "j"
    journal = _open(path, storage)
    _write(journal, 0, 5)
    other = tmp_path / "other"
    other.write_bytes(b"not yours")
    other.rename(path)
    problem, restored = journal.check_file()
    assert not restored and "replaced by another file" in problem
    journal.append(JOrderRefused(5))
    with pytest.raises(OSError, match="replaced by another file"):
        journal.flush()
    with pytest.raises(OSError):  # also with nothing pending: nothing may leave meanwhile
        journal.flush()
    assert path.read_bytes() == b"not yours"
    path.rename(tmp_path / "aside")
    assert journal.check_file()[1]
    journal.flush()  # the record held while failing
    journal.close()
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(6)]
    assert (tmp_path / "aside").read_bytes() == b"not yours"


@pytest.mark.parametrize("storage", STORAGES)
def test_close_when_deleted_since_the_last_check_then_restored_first(tmp_path: Path, storage: str) -> None:
    path = tmp_path / "j"
    journal = _open(path, storage)
    _write(journal, 0, 7)
    path.unlink()
    journal.close()
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(7)]


def test_owner_when_begun_then_header_page_names_it_and_another_owner_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gw1-20261204.journal"
    journal = MmapJournal(path, owner="gw1 20261204")
    _write(journal, 0, 3)
    journal.close()
    assert read_owner(path.read_bytes()[:DATA_START], path) == "gw1 20261204"
    MmapJournal(path, owner="gw1 20261204").close()  # its own: continued
    with pytest.raises(
        JournalOwnerError, match=r"begun by gateway 'gw1' for session 20261204, not by this gateway 'gw2'"
    ):
        MmapJournal(path, owner="gw2 20261204")
    with pytest.raises(JournalOwnerError, match=r"not by this gateway 'gw1' for session 20261205"):
        MmapJournal(path, owner="gw1 20261205")
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(3)]


def test_owner_when_file_begun_without_one_then_continued_unchecked(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path)  # as an earlier version began it: the header page has no owner block
    _write(journal, 0, 2)
    journal.close()
    assert path.read_bytes()[OWNER_AT : OWNER_AT + 4] == bytes(4)
    journal = MmapJournal(path, owner="gw2 20261204")
    _write(journal, 2, 1)
    journal.close()
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(3)]


@pytest.mark.parametrize("storage", STORAGES)
def test_close_when_another_file_took_the_path_then_it_is_left_alone_and_close_says_not_durable(
    tmp_path: Path, storage: str
) -> None:
    path = tmp_path / "j"
    journal = _open(path, storage)
    _write(journal, 0, 2)
    other = tmp_path / "other"
    other.write_bytes(b"not yours")
    other.rename(path)
    assert not journal.check_file()[1]
    journal.append(JOrderRefused(2))
    with pytest.raises(JournalCloseError, match="replaced by another file"):
        journal.close()
    assert path.read_bytes() == b"not yours"


@pytest.mark.parametrize("storage", STORAGES)
def test_open_when_another_journal_holds_the_file_then_refused_and_when_restored_the_copy_is_locked(
    tmp_path: Path, storage: str
) -> None:
    path = tmp_path / "gw-20261204.journal"
    journal = _open(path, storage)
    _write(journal, 0, 3)
    with pytest.raises(JournalInUseError, match="is in use by another gateway"):  # the old code: opened it
        _open(path, storage)
    path.unlink()
    assert journal.check_file()[1]
    with pytest.raises(JournalInUseError):  # the restored file is locked too
        _open(path, storage)
    journal.close()
    again = _open(path, storage)  # the lock went with the close
    assert list(again.records()) == [JOrderRefused(i) for i in range(3)]
    again.close()


@pytest.mark.parametrize("storage", STORAGES)
def test_check_file_when_cut_by_another_process_then_flush_fails_closed_without_a_traceback(
    tmp_path: Path, storage: str
) -> None:
    path = tmp_path / "gw-20261204.journal"
    journal = _open(path, storage)
    _write(journal, 0, 50)
    os.truncate(path, 10)  # what a second gateway's clean stop did to the first's file
    problem, restored = journal.check_file()  # the old code: no problem (then ValueError or SIGBUS in flush)
    assert not restored and "was cut to 10 bytes" in problem
    journal.append(JOrderRefused(99))
    with pytest.raises(OSError, match="was cut to 10 bytes"):
        journal.flush()
    with pytest.raises(JournalCloseError):
        journal.close()


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("content", [b"not a journal\n", b"x", b"\x00\x00\x00\x00junk", b"\xff" * 20])
def test_open_when_the_file_is_not_a_journal_then_refused_and_left_untouched(
    tmp_path: Path, storage: str, content: bytes
) -> None:
    path = tmp_path / "gw-20261204.journal"
    path.write_bytes(content)
    with pytest.raises(JournalForeignError, match="is not a journal file"):  # the old code: a torn tail at byte 0
        journal = _open(path, storage)
        try:
            list(journal.records())
        finally:
            journal.close()
    assert path.read_bytes() == content
    with pytest.raises(JournalForeignError):
        list(read_journal(path))


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("content", [b"", bytes(4096), b"\x00\x00\x00\x40\x12\x34\x56\x78abc"])
def test_open_when_empty_zeros_or_a_cut_first_record_then_a_journal_begun_there(
    tmp_path: Path, storage: str, content: bytes
) -> None:
    path = tmp_path / "gw-20261204.journal"
    path.write_bytes(content)  # a crash right after creation; a power failure before the first write; a cut one
    journal = _open(path, storage)
    scan = JournalScan()
    assert list(journal.records(scan)) == []
    journal.cut_torn_tail(scan)
    _write(journal, 0, 2)
    journal.close()
    assert list(read_journal(path)) == [JOrderRefused(0), JOrderRefused(1)]
