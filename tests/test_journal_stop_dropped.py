"""A stop while the journal cannot be written: the close leaves the file ending with its last whole record, durable,
and the stop counts as clean for the order ids (journalstop56).

Found by the BOE certification review (rev56boe): a SIGTERM on a full disk left the record a short write had begun
in a ``file`` journal, and the gateway removed the open marker only when the close raised nothing, so the next
start read a torn tail, took the stop for a crash and skipped 4,194,304 order ids (BOE ClOrdIDs: the prefix's room
counts such skips). Units with a fake file (a ``write`` that stops at a byte budget, then ENOSPC; an ``fdatasync``
that fails) and the in-process gateway (``GatewayProcess``: recover, close, recover again).
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from gateway import recovery
from gateway.app import EXIT_JOURNAL_NOT_DURABLE, GatewayProcess
from gateway.config import JournalConfig
from gateway.journal import (
    FileJournal,
    JournalCloseError,
    JournalScan,
    JSeqAhead,
    MmapJournal,
    read_journal,
)
from gateway.recovery import ORDER_ID_MARGIN, mark_journal_open, open_marker, read_open_marker
from model.clock import FakeClock
from model.fsync import FsyncPolicy
from tests.e2e.support import gateway_config, short_tmp
from tests.risk import support


def _record(i: int) -> JSeqAhead:
    return JSeqAhead(f"S{i}", 1000 + i, 10 + i)


def _size(record: JSeqAhead) -> int:
    return 8 + len(msgspec.msgpack.encode(record))


class _Disk:
    """``os.write`` that writes at most ``room`` more bytes (a short write), then fails ENOSPC, as a filling disk."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.room: int | None = None
        real = os.write

        def write(fd: int, data: bytes | bytearray | memoryview) -> int:
            if self.room is None:
                return real(fd, data)
            if self.room <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            done = real(fd, bytes(data[: self.room]))
            self.room -= done
            return done

        monkeypatch.setattr("gateway.journal.os.write", write)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Disk]:
    yield _Disk(monkeypatch)


def _scan(path: Path) -> tuple[list[object], JournalScan]:
    scan = JournalScan()
    return list(read_journal(path, scan)), scan


@pytest.mark.parametrize("into", [1, 7, 8, 12], ids=["header-1", "header-7", "header-whole", "payload"])
def test_close_when_a_short_write_left_a_record_in_part_then_cut_back_to_the_last_whole_record_and_kept(
    tmp_path: Path, disk: _Disk, into: int
) -> None:
    path = tmp_path / "j.journal"
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    for i in range(3):
        journal.append(_record(i))
    journal.flush()
    whole = path.stat().st_size
    for i in range(3, 7):
        journal.append(_record(i))
    disk.room = _size(_record(3)) + into  # record 3 whole, record 4 in part: a torn record in the file
    with pytest.raises(OSError):
        journal.flush()
    with pytest.raises(JournalCloseError) as closed:
        journal.close()
    records, scan = _scan(path)
    assert scan.torn_bytes == 0, scan  # the old code: the record begun by the short write left at the file's end
    assert records == [_record(i) for i in range(4)]
    assert path.stat().st_size == whole + _size(_record(3))
    error = closed.value
    assert error.kept and not error.unsynced
    assert error.dropped_records == 3 and error.cut_bytes == into
    assert error.pending_bytes == sum(_size(_record(i)) for i in range(4, 7))
    assert "3 records" in str(error) and f"{into} bytes of one were cut off" in str(error)


def test_close_when_flushes_failed_twice_inside_records_then_the_last_whole_record_ends_the_file(
    tmp_path: Path, disk: _Disk
) -> None:
    path = tmp_path / "j.journal"
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    for i in range(6):
        journal.append(_record(i))
    disk.room = _size(_record(0)) + 3  # record 1 in part
    with pytest.raises(OSError):
        journal.flush()
    disk.room = 2  # still inside record 1 (the batch now begins inside it)
    with pytest.raises(OSError):
        journal.flush()
    disk.room = _size(_record(1)) - 5 + _size(_record(2)) + 4  # record 1 finished, 2 whole, 3 in part
    with pytest.raises(OSError):
        journal.flush()
    with pytest.raises(JournalCloseError) as closed:
        journal.close()
    records, scan = _scan(path)
    assert scan.torn_bytes == 0 and records == [_record(i) for i in range(3)]
    assert closed.value.kept and closed.value.dropped_records == 3 and closed.value.cut_bytes == 4


def test_close_when_a_short_write_ended_on_a_record_boundary_then_nothing_is_cut(tmp_path: Path, disk: _Disk) -> None:
    path = tmp_path / "j.journal"
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    for i in range(4):
        journal.append(_record(i))
    disk.room = _size(_record(0)) + _size(_record(1))
    with pytest.raises(OSError):
        journal.flush()
    with pytest.raises(JournalCloseError) as closed:
        journal.close()
    records, scan = _scan(path)
    assert scan.torn_bytes == 0 and records == [_record(0), _record(1)]
    assert closed.value.kept and closed.value.dropped_records == 2 and closed.value.cut_bytes == 0


def test_close_when_the_final_fdatasync_fails_then_not_kept(
    tmp_path: Path, disk: _Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.journal"
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    journal.append(_record(0))
    journal.append(_record(1))
    disk.room = 3
    with pytest.raises(OSError):
        journal.flush()

    def fdatasync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr("gateway.journal.os.fdatasync", fdatasync)
    with pytest.raises(JournalCloseError) as closed:
        journal.close()
    assert closed.value.unsynced and not closed.value.kept  # durability not established: a crash for the ids


def test_mmap_close_when_the_batch_could_not_be_copied_then_kept_with_what_it_dropped(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)
    journal.append(_record(0))
    journal.flush()
    for i in range(1, 4):
        journal.append(_record(i))
    journal.hold("the disk is full")  # flush raises, nothing copied: as a growth step that does not fit
    with pytest.raises(JournalCloseError) as closed:
        journal.close()
    assert closed.value.dropped_records == 3 and closed.value.pending_bytes == 3 * _size(_record(1))
    records, scan = _scan(path)
    assert records == [_record(0)] and scan.synced_bytes == scan.good_bytes == path.stat().st_size
    assert closed.value.kept


def test_stop_note_when_written_then_a_clean_stop_with_what_it_dropped_and_unreadable_ones_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "gw-20260101.journal"
    mark_journal_open(journal, 4_194_305)
    assert recovery.mark_journal_closed_dropping(journal, 3, 816, 4_194_309)
    assert open_marker(journal).read_text() == "dropped 3 816 4194309\n"  # in place
    assert read_open_marker(journal) is None and recovery.read_stop_note(journal) == (3, 816, 4_194_309)
    open_marker(journal).write_text("dropped 3 816\n")  # journalstop56's note, without the next id
    assert read_open_marker(journal) is None and recovery.read_stop_note(journal) == (3, 816, 0)
    open_marker(journal).write_text("dropped 3 8")  # cut short by a power failure: not a clean stop
    assert read_open_marker(journal) == 0 and recovery.read_stop_note(journal) is None
    mark_journal_open(journal, 21)
    assert recovery.read_stop_note(journal) is None and read_open_marker(journal) == 21

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("gateway.recovery.os.pwrite", pwrite)
    assert not recovery.mark_journal_closed_dropping(journal, 1, 10, 25)  # cannot say it: kept, an unclean stop
    assert read_open_marker(journal) == 21 and recovery.read_stop_note(journal) is None


def _started(workdir: Path, clock: FakeClock) -> GatewayProcess:
    """Build a gateway and recover today's journal (storage ``file``), as ``start`` does before any socket."""
    limits = support.write_limits(workdir / "limits.yaml", {"accounts": {"ACC1": {"symbols": {"AAPL": {}}}}})
    config = gateway_config(workdir, 1, limits)
    journal = JournalConfig(directory=str(workdir / "journal"), fsync="interval", storage="file")  # type: ignore[arg-type]
    process = GatewayProcess(msgspec.structs.replace(config, journal=journal), clock=clock)
    process.lock_journal()
    process.build()
    process.recover()
    return process


@pytest.mark.parametrize("unsynced", [False, True], ids=["kept", "fdatasync-failed"])
def test_close_journal_when_the_stop_dropped_records_then_the_next_start_skips_no_ids_unless_unsynced(
    caplog: pytest.LogCaptureFixture, unsynced: bool
) -> None:
    workdir = short_tmp()
    clock = FakeClock()
    process = _started(workdir, clock)
    real_close = process.journal.close
    path = Path(process.journal.path)  # type: ignore[attr-defined]

    def close() -> None:  # the file closed as it is; what the disk could not take reported
        real_close()
        error = JournalCloseError(path, 816, unsynced, OSError(errno.ENOSPC, "No space left on device"))
        error.dropped_records, error.kept = 3, not unsynced
        raise error

    process.journal.close = close  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        process._close_journal()
        assert process.exit_code == EXIT_JOURNAL_NOT_DURABLE
        (stop,) = [r.getMessage() for r in caplog.records if "JOURNAL NOT DURABLE AT STOP" in r.getMessage()]
        caplog.clear()
        again = _started(workdir, clock)
    try:
        status = again.recovery
        text = "\n".join(r.getMessage() for r in caplog.records)
        if unsynced:  # durability not established: as after a crash, and the stop said why
            assert status["stopped_cleanly"] is False and status["order_ids_skipped"] == ORDER_ID_MARGIN
            assert "skips order ids as after a crash" in stop, stop
            assert "the last stop on the journal" not in text
        else:  # the old code: marker left, "not closed cleanly", 4194304 ids skipped
            assert status["stopped_cleanly"] is True and status["order_ids_skipped"] == 0, status
            assert status["last_stop_dropped_records"] == 3
            assert "not closed cleanly" not in text
            (line,) = [r.getMessage() for r in caplog.records if "the last stop on the journal" in r.getMessage()]
            assert "dropped 3 records (816 bytes)" in line and "order ids go on from 1 (none skipped)" in line, line
            assert "a clean stop" in stop and "says what this stop dropped" in stop, stop
    finally:
        again._close_journal()


def test_close_journal_when_the_dropped_records_had_used_order_ids_then_the_next_start_gives_none_of_them_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """lead56e: the records a stop dropped may have created orders (ids 1..6 here) the journal never holds: the note
    keeps the stopping gateway's next id, and the next start goes on from it (before, it gave ids 1..6 again)."""
    workdir = short_tmp()
    clock = FakeClock()
    process = _started(workdir, clock)
    assert process.engine is not None
    process.engine.next_order_id = 7  # orders 1..6 created, their records among those the disk could not take
    real_close = process.journal.close
    path = Path(process.journal.path)  # type: ignore[attr-defined]

    def close() -> None:
        real_close()
        error = JournalCloseError(path, 816, False, OSError(errno.ENOSPC, "No space left on device"))
        error.dropped_records, error.kept = 6, True
        raise error

    process.journal.close = close  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        process._close_journal()
        again = _started(workdir, clock)
    try:
        assert again.engine is not None and again.engine.next_order_id == 7
        assert again.recovery["stopped_cleanly"] is True and again.recovery["order_ids_skipped"] == 0
        (line,) = [r.getMessage() for r in caplog.records if "the last stop on the journal" in r.getMessage()]
        assert "order ids go on from 7" in line, line
    finally:
        again._close_journal()
