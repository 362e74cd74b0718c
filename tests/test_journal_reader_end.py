"""Where a ``JournalReader`` stops: at the writer's end without reading the zeros after it; damage still found.

Found by an ops review: every read that reached the end of an ``MmapJournal``'s data read the next 1 MiB of
its preallocated zeros and stripped them byte by byte (~7 ms of loop per OUCH message for an unknown
UserRefNum). The bytes the reader asks the kernel for are counted here (``os.pread``), so the cost is a number.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.journal import JOrderRefused, JournalCorruptError, JournalReader, MmapJournal
from gateway.journal_read import HEADER_SIZE, MAX_RECORD_SIZE, MMAP_MAGIC, READ_CHUNK
from model.fsync import FsyncPolicy


def _journal(path: Path, count: int) -> tuple[MmapJournal, list[int]]:
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)  # preallocated: 64 MiB of zeros after the records
    positions = []
    for i in range(count):
        positions.append(journal.tell() + journal.pending_bytes)
        journal.append(JOrderRefused(i))
    journal.flush()
    return journal, positions


@pytest.fixture
def preads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every (offset, bytes returned) the code under test reads with ``os.pread``."""
    calls: list[tuple[int, int]] = []
    real = os.pread

    def counting(fd: int, size: int, offset: int) -> bytes:
        data = real(fd, size, offset)
        calls.append((offset, len(data)))
        return data

    monkeypatch.setattr(os, "pread", counting)
    return calls


def test_reader_of_the_journal_when_it_reaches_the_writers_end_then_nothing_past_it_is_read(
    tmp_path: Path, preads: list[tuple[int, int]]
) -> None:
    journal, positions = _journal(tmp_path / "j", 200)
    end = journal.tell()
    for _ in range(50):  # a lookup each: from the last record to the end of the data
        reader = journal.reader(positions[-1])
        assert [r for _, r in reader.read(64)] == [JOrderRefused(199)]
        assert reader.read(64) == [] and reader.done
    past = sum(max(0, offset + size - end) for offset, size in preads)
    assert past <= 50 * READ_CHUNK  # at most the one chunk each that held the last record; the old code: 1 MiB more
    assert sum(size for _, size in preads) <= 50 * (READ_CHUNK + HEADER_SIZE)
    journal.close()


def test_reader_of_a_file_at_rest_when_zeros_follow_then_ends_clean_reading_them_a_chunk_at_a_time(
    tmp_path: Path, preads: list[tuple[int, int]]
) -> None:
    journal, _ = _journal(tmp_path / "j", 10)
    preads.clear()
    reader = JournalReader(journal.path, 0)  # no writer to ask: the zeros tell the end from damage
    assert [r for _, r in reader.read(100)] == [JOrderRefused(i) for i in range(10)]
    assert reader.done
    assert all(size <= READ_CHUNK for _, size in preads)
    assert sum(size for _, size in preads) <= MAX_RECORD_SIZE + READ_CHUNK
    head = len(MMAP_MAGIC)  # the reader's look at the file's first bytes
    assert reader.bytes_read == sum(size for _, size in preads) - head  # the zeros looked at are counted too
    journal.close()


@pytest.mark.parametrize("writer", [False, True])
def test_reader_when_a_zeroed_header_is_followed_by_records_then_damage_is_raised(tmp_path: Path, writer: bool) -> None:
    journal, positions = _journal(tmp_path / "j", 10)
    fd = os.open(journal.path, os.O_RDWR)
    try:
        os.pwrite(fd, bytes(HEADER_SIZE), positions[5])  # record 5's header zeroed: records 6 to 9 follow
    finally:
        os.close(fd)
    reader = journal.reader(0) if writer else JournalReader(journal.path, 0)
    assert [r for _, r in reader.read(100)] == [JOrderRefused(i) for i in range(5)]
    with pytest.raises(JournalCorruptError, match=f"damaged record at byte {positions[5]}"):
        reader.read(100)
    journal.close()
