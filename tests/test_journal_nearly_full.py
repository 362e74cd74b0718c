"""A journal disk with less room than a growth step: ``MmapJournal`` grows by what fits; ``close`` never raises mid-way.

The disk is simulated with a ``posix_fallocate`` that refuses more than ``room`` bytes (ENOSPC), as a file
system with that much free space does; ``tests/reliability/test_journal_disk_full.py`` does it on a tmpfs.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.journal import (
    DATA_START,
    FileJournal,
    JournalCloseError,
    JTradingState,
    MmapJournal,
    data_end,
    read_journal,
)
from model.fsync import FsyncPolicy
from tests.harness import open_fds_on

STEP = 1 << 20


def _disk_with_room(monkeypatch: pytest.MonkeyPatch, room: list[int]) -> list[int]:
    """Make ``posix_fallocate`` fail with ENOSPC beyond ``room[0]`` bytes; return the lengths it was asked for."""
    asked: list[int] = []
    real: Callable[[int, int, int], None] = os.posix_fallocate

    def fallocate(fd: int, offset: int, length: int) -> None:
        asked.append(length)
        if length > room[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, offset, length)
        room[0] -= length

    monkeypatch.setattr(os, "posix_fallocate", fallocate)
    return asked


def _record(i: int) -> JTradingState:
    return JTradingState("ACC1", "ACTIVE", f"ops {i}", "x" * 200)


def test_flush_when_less_room_than_a_step_then_it_grows_by_what_fits_and_logs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    room = [3 * 4096]  # far less than a step: the old code asked for needed + a step and never wrote again
    asked = _disk_with_room(monkeypatch, room)
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE, grow_bytes=STEP)
    with caplog.at_level(logging.WARNING, logger="gateway.journal"):
        journal.append(_record(0))
        journal.flush()  # the old code raised ENOSPC here, and on every retry
    assert journal.pending_bytes == 0
    assert asked[0] >= STEP and asked[-1] <= 3 * 4096
    assert "nearly full" in caplog.text and "grew by" in caplog.text
    written = 1
    while True:  # fill the room that was there: then a flush fails (the batch stays pending) ...
        journal.append(_record(written))
        try:
            journal.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            break
        written += 1
    assert journal.pending_bytes > 0
    room[0] = 10 * 4096  # ... until space is freed: the next flush writes the batch at once
    journal.flush()
    assert journal.pending_bytes == 0
    room[0] = 1 << 30
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway.journal"):
        for i in range(400):  # past the short steps' slack: the next growth takes a full step again
            journal.append(_record(written + 1 + i))
            journal.flush()
    assert "full 1 MiB steps again" in caplog.text
    journal.close()
    assert len(list(read_journal(journal.path))) == written + 1 + 400


def test_close_when_disk_full_then_file_closed_cut_and_error_says_what_was_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=5, grow_bytes=STEP)
    journal.append(_record(0))
    journal.flush()  # one record in the file, a step preallocated
    _disk_with_room(monkeypatch, [0])
    written = 1
    while True:  # the preallocated step fills, then the file cannot grow
        journal.append(_record(written))
        try:
            journal.flush()
        except OSError:
            break
        written += 1
    pending = journal.pending_bytes
    assert pending > 0
    syncer = journal._syncer
    with pytest.raises(JournalCloseError) as failed:  # the old code: OSError out of flush, the file left open
        journal.close()
    assert failed.value.pending_bytes == pending
    assert not failed.value.unsynced
    assert f"{pending} bytes" in str(failed.value)
    assert syncer is not None and syncer.poll() is not None  # the syncer was stopped all the same
    assert open_fds_on(journal.path) == []
    end = data_end(journal.path)
    assert os.path.getsize(journal.path) == end > DATA_START  # cut after its last record, like a clean close
    assert len(list(read_journal(journal.path))) == written  # every record flushed before is there


def test_file_journal_close_when_disk_full_then_closed_and_error_raised(tmp_path: Path) -> None:
    journal = FileJournal("/dev/full", fsync=FsyncPolicy.NONE)
    journal.append(_record(0))
    with pytest.raises(JournalCloseError) as failed:
        journal.close()
    assert failed.value.pending_bytes > 0
    assert open_fds_on("/dev/full") == []


def test_take_back_when_mmap_flush_failed_then_the_record_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = [4096]
    _disk_with_room(monkeypatch, room)
    journal = MmapJournal(tmp_path / "j", fsync=FsyncPolicy.NONE, grow_bytes=STEP)
    written = 0
    while True:  # use the room up: the last append stays pending
        journal.append(_record(written))
        try:
            journal.flush()
        except OSError:
            break
        written += 1
    mark = journal.tell() + journal.pending_bytes
    journal.append(JTradingState("", "ACTIVE", "refused resume", "must never be written"))
    with pytest.raises(OSError):
        journal.flush()
    assert journal.take_back(mark)
    room[0] = 10 * 4096
    journal.flush()  # writes what was pending before the mark, not the record taken back
    journal.close()
    whos = [rec.who for rec in read_journal(journal.path) if isinstance(rec, JTradingState)]
    assert whos == [f"ops {i}" for i in range(written + 1)]


def test_take_back_when_file_journal_wrote_part_of_the_record_then_the_file_is_cut_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    journal.append(_record(0))
    journal.flush()
    mark = journal.tell() + journal.pending_bytes
    size = (tmp_path / "j").stat().st_size
    real_write = os.write

    def short_write(fd: int, data: bytes | bytearray | memoryview) -> int:  # a nearly full disk: 10 bytes fit
        monkeypatch.setattr(os, "write", full_write)
        return real_write(fd, bytes(data[:10]))

    def full_write(fd: int, data: bytes | bytearray | memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", short_write)
    journal.append(JTradingState("", "ACTIVE", "refused resume", "must never be written"))
    with pytest.raises(OSError):
        journal.flush()
    assert (tmp_path / "j").stat().st_size == size + 10
    assert journal.take_back(mark)
    monkeypatch.setattr(os, "write", real_write)
    assert (tmp_path / "j").stat().st_size == size and journal.pending_bytes == 0
    journal.append(_record(1))
    journal.flush()
    journal.close()
    whos = [rec.who for rec in read_journal(journal.path) if isinstance(rec, JTradingState)]
    assert whos == ["ops 0", "ops 1"]
