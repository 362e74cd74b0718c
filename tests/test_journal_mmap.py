"""The memory-mapped journal beyond the shared contract: crashes, power-loss tails, growth, a full disk, sync policy."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.journal import (
    DATA_START,
    MMAP_MAGIC,
    FileJournal,
    JOrderRefused,
    JournalCorruptError,
    JournalScan,
    JTradingState,
    MmapJournal,
    data_end,
    mmap_header,
    read_journal,
    unwrap_requests,
)
from gateway.journal_mmap import KEEP_BUFFER_BYTES
from gateway.protocol.messages import OrderAccepted, OrderRejected
from model.fsync import FsyncPolicy
from tests.harness import Rig

PAGE = 4096


def _crashed(path: Path, records: int, *, fsync: FsyncPolicy = FsyncPolicy.NONE) -> MmapJournal:
    """Append and flush ``records`` records, then "die": the journal is never closed (its file stays mapped)."""
    journal = MmapJournal(path, fsync=fsync, grow_bytes=2 * PAGE)
    for i in range(records):
        journal.append(JOrderRefused(i))
        journal.flush()
    fcntl.flock(journal._fd, fcntl.LOCK_UN)  # the dead process's lock on the file goes with it
    return journal


def _record_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    pos, end, out = DATA_START, data_end(path), []
    while pos < end:
        out.append(pos)
        pos += 8 + int.from_bytes(data[pos : pos + 4], "big")
    return out


def test_flush_when_the_process_dies_then_every_flushed_record_is_in_the_file_and_the_rest_is_zeros(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    journal = _crashed(path, 300)
    data = path.read_bytes()
    assert data.startswith(MMAP_MAGIC)
    assert len(data) > data_end(path)  # preallocated beyond the records
    assert data[data_end(path) :] == bytes(len(data) - data_end(path))
    scan = JournalScan()
    assert list(read_journal(path, scan)) == [JOrderRefused(i) for i in range(300)]
    assert scan.torn_bytes == 0 and scan.good_bytes == data_end(path)
    del journal


def test_reopen_when_crashed_then_appends_follow_the_last_record_and_a_clean_close_cuts_the_zeros(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    _crashed(path, 10)
    again = MmapJournal(path, fsync=FsyncPolicy.NONE)
    scan = JournalScan()
    assert len(list(again.records(scan))) == 10
    again.cut_torn_tail(scan)
    again.append(JOrderRefused(99))
    again.close()
    assert list(read_journal(path)) == [*(JOrderRefused(i) for i in range(10)), JOrderRefused(99)]
    assert path.stat().st_size == data_end(path)  # nothing after the last record


def test_reopen_when_cut_torn_tail_not_called_then_the_first_flush_finds_the_end(tmp_path: Path) -> None:
    path = tmp_path / "j"
    _crashed(path, 5)
    again = MmapJournal(path, fsync=FsyncPolicy.NONE)
    again.append(JOrderRefused(50))
    again.flush()
    assert list(read_journal(path)) == [*(JOrderRefused(i) for i in range(5)), JOrderRefused(50)]
    again.close()


def test_file_journal_when_it_continues_a_crashed_mmap_journal_then_it_appends_after_the_last_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    _crashed(path, 3)
    legacy = FileJournal(path, fsync=FsyncPolicy.NONE)  # e.g. a test or tool writing with the old storage
    legacy.append(JOrderRefused(7))
    legacy.close()
    assert list(read_journal(path)) == [*(JOrderRefused(i) for i in range(3)), JOrderRefused(7)]


def test_mmap_journal_when_it_continues_an_earlier_version_s_file_then_records_follow_without_a_header(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    old = FileJournal(path, fsync=FsyncPolicy.NONE)
    old.append(JOrderRefused(1))
    old.close()
    journal = MmapJournal(path, fsync=FsyncPolicy.BATCH, grow_bytes=PAGE)
    journal.append(JOrderRefused(2))
    journal.flush()
    assert list(read_journal(path)) == [JOrderRefused(1), JOrderRefused(2)]  # zeros after them: not damage
    journal.close()
    assert not path.read_bytes().startswith(MMAP_MAGIC)
    assert list(read_journal(path)) == [JOrderRefused(1), JOrderRefused(2)]


def test_flush_when_the_file_fills_its_mapping_then_it_grows_and_keeps_every_record(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE, grow_bytes=PAGE)
    sizes = set()
    for i in range(2_000):
        journal.append(JOrderRefused(i))
        if i % 7 == 0:
            journal.flush()
            sizes.add(path.stat().st_size)
    journal.close()
    assert len(sizes) > 5  # grew step by step
    assert list(read_journal(path)) == [JOrderRefused(i) for i in range(2_000)]


def test_crash_when_the_last_record_was_half_copied_then_torn_tail_cut(tmp_path: Path) -> None:
    path = tmp_path / "j"
    _crashed(path, 20)
    offsets = _record_offsets(path)
    data = bytearray(path.read_bytes())
    end = data_end(path)
    data[end - 3 : end] = bytes(3)  # the copy of the last record stopped 3 bytes short
    path.write_bytes(bytes(data))
    scan = JournalScan()
    assert list(read_journal(path, scan)) == [JOrderRefused(i) for i in range(19)]
    assert scan.good_bytes == offsets[-1] and scan.torn_bytes > 0 and scan.dropped_records == 0


def test_power_loss_when_an_unsynced_page_never_reached_the_disk_then_the_unsynced_tail_is_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j"
    journal = _crashed(path, 2_000, fsync=FsyncPolicy.BATCH)  # synced after every flush: the header says so
    offsets = _record_offsets(path)
    synced = offsets[200]
    data = bytearray(path.read_bytes())
    data[: len(mmap_header(synced))] = mmap_header(synced)  # the header as of an earlier sync
    hole = synced - synced % PAGE + PAGE  # a page written after that sync, lost; later pages written
    assert hole + PAGE < data_end(path)
    data[hole : hole + PAGE] = bytes(PAGE)
    path.write_bytes(bytes(data))
    scan = JournalScan()
    kept = list(read_journal(path, scan))
    assert 200 <= len(kept) < 2_000 and kept == [JOrderRefused(i) for i in range(len(kept))]
    assert scan.good_bytes >= synced and scan.dropped_records > 0
    assert "followed by" in caplog.text and "cut as the file's unsynced part" in caplog.text
    assert "power failure;" not in caplog.text  # it does not blame one (the old wording did)
    del journal


def test_crash_when_a_batch_was_being_copied_first_bytes_last_then_the_batch_is_cut_and_the_earlier_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j"
    journal = _crashed(path, 20)
    before = data_end(path)
    for i in range(20, 94):  # one batch of 74 records, one copy (rev45strat saw this after a kill -9)
        journal.append(JOrderRefused(i))
    journal.flush()
    assert data_end(path) - before > 32
    data = bytearray(path.read_bytes())
    data[before : before + 32] = bytes(32)  # glibc's memcpy stores the first vector last: killed before it
    path.write_bytes(bytes(data))
    scan = JournalScan()
    assert list(read_journal(path, scan)) == [JOrderRefused(i) for i in range(20)]
    assert scan.good_bytes == before and scan.dropped_records >= 70
    assert "killed while copying its last batch" in caplog.text and "had left the gateway" in caplog.text
    del journal


def test_damage_when_before_the_synced_end_then_corruption_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = _crashed(path, 50, fsync=FsyncPolicy.BATCH)
    offsets = _record_offsets(path)
    data = bytearray(path.read_bytes())
    data[offsets[10] + 9] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError, match=f"damaged record at byte {offsets[10]}, before the end"):
        list(read_journal(path))
    del journal


def test_header_when_damaged_then_corruption_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    _crashed(path, 3)
    data = bytearray(path.read_bytes())
    data[9] ^= 0x01  # inside the synced end
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError, match="damaged header"):
        list(read_journal(path))


def test_interval_when_records_flushed_then_synced_off_the_loop_and_the_header_follows(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=2)
    journal.append(JOrderRefused(1))
    journal.flush()
    deadline = time.monotonic() + 15
    while journal.fsyncs == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert journal.fsyncs >= 1 and journal.bytes_synced == journal.bytes_written
    # the syncer counts the fsync before it writes the header: poll for the header rather than sleep a fixed time
    while not path.read_bytes()[:DATA_START].startswith(mmap_header(data_end(path))) and time.monotonic() < deadline:
        time.sleep(0.005)
    header = path.read_bytes()[:DATA_START]
    assert header.startswith(mmap_header(data_end(path)))
    idle = journal.fsyncs
    time.sleep(0.05)
    assert journal.fsyncs == idle  # nothing new: no sync
    journal.close()


def test_flush_when_not_batch_then_no_system_call_on_the_loop_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=60_000)
    journal.append(JOrderRefused(0))
    journal.flush()  # the first flush maps the file
    calls: list[str] = []

    def spy(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object) -> object:
            calls.append(name)
            return real(*args)

        return call

    for name in ("write", "pwrite", "fdatasync", "fsync", "posix_fallocate", "ftruncate"):
        monkeypatch.setattr(os, name, spy(name, getattr(os, name)))
    for i in range(100):
        journal.append(JOrderRefused(i))
        journal.flush()
    assert calls == []
    monkeypatch.undo()
    journal.close()


def test_engine_when_the_disk_is_full_then_nothing_leaves_new_orders_refused_and_all_flows_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE, grow_bytes=PAGE)
    rig = Rig(journal=journal)
    link = rig.connect("S1")
    link.received()
    real = os.posix_fallocate

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    flushes = rig.venue.flushes
    rig.new_order(link, "A")
    assert rig.venue.flushes == flushes  # nothing reached the venue
    assert rig.engine.journal_error.startswith("OSError")
    rig.new_order(link, "B")
    assert rig.order("S1", "B").state.name == "REJECTED"
    assert link.received() == []
    monkeypatch.setattr(os, "posix_fallocate", real)
    rig.engine.flush()
    assert rig.engine.journal_error == ""
    assert rig.venue.flushes == flushes + 1
    messages = link.received()
    assert [type(m) for m in messages] == [OrderRejected]
    rig.venue.accept(1)
    rig.engine.flush()
    assert [type(m) for m in link.received()] == [OrderAccepted]
    journal.close()
    created = [r.cl_ord_id for r in unwrap_requests(read_journal(path)) if hasattr(r, "cl_ord_id")]
    assert created == ["A", "B"], "nothing written twice, nothing lost"


def test_records_flushed_when_the_disk_is_full_then_it_stays_while_records_written_counts_the_queued_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rev53ops LOW: ``gateway status`` showed ``records_written`` (records queued): it moved while nothing was written
    for journal in (MmapJournal(tmp_path / "m", fsync=FsyncPolicy.NONE, grow_bytes=PAGE), FileJournal(tmp_path / "f")):
        journal.append(JOrderRefused(1))
        journal.flush()
        assert journal.records_flushed == journal.records_written == 1
        real_fallocate, real_write = os.posix_fallocate, os.write

        def full(*args: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "posix_fallocate", full)
        monkeypatch.setattr(os, "write", full)
        for i in range(2, 2 + PAGE // 4):  # more than the page left: the mapped journal must grow
            journal.append(JOrderRefused(i))
        with pytest.raises(OSError, match="No space left"):
            journal.flush()
        assert journal.records_flushed == 1 and journal.records_written == 1 + PAGE // 4
        monkeypatch.setattr(os, "posix_fallocate", real_fallocate)
        monkeypatch.setattr(os, "write", real_write)
        journal.flush()
        assert journal.records_flushed == journal.records_written == 1 + PAGE // 4
        journal.close()


def test_batches_of_shrinking_and_growing_size_when_the_buffer_is_kept_then_every_record_reads_back(
    tmp_path: Path,
) -> None:
    # flush keeps the batch buffer (and its old bytes) between batches: a small batch after a large one must
    # not carry the large one's tail, and a batch over KEEP_BUFFER_BYTES gives the memory back
    path = tmp_path / "j"
    journal = MmapJournal(path, fsync=FsyncPolicy.NONE)
    big = "x" * 300
    written: list[object] = []
    for batch in ([big] * 40, ["a"], [big, "b"], ["c"] * 3, [big * 100] * 3, ["d"], []):
        for text in batch:
            record = JTradingState("ACC", "halted", "ops", text)
            journal.append(record)
            written.append(record)
        assert journal.pending_bytes == len(journal._buf) or not batch
        journal.flush()
        assert journal.pending_bytes == 0
    assert len(journal._buf) < KEEP_BUFFER_BYTES  # the 90 KB batch's buffer was freed
    journal.close()
    scan = JournalScan()
    assert list(read_journal(path, scan)) == written
    assert scan.torn_bytes == 0
