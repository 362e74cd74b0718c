"""The journal contract (``gateway.journal.Journal``), run over every implementation.

Add a new journal to ``BACKENDS``: a ``Backend`` opens it on a directory (again after a
"restart"), and, for a durable one, can tear its last write and damage a record in the middle,
the two failures recovery must tell apart. The memory-mapped journal runs with a growth step of
two pages, so the suite also grows (and remaps) its file.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.journal import (
    DATA_START,
    FileJournal,
    JCancelQueued,
    JCancelRefused,
    JOrderCreated,
    JOrderRefused,
    Journal,
    JournalCorruptError,
    JournalRecord,
    JournalScan,
    JPositionAdjusted,
    JReplaceRejected,
    JRequest,
    JSentCancel,
    JSentNew,
    JSentReplace,
    JStrategyEvent,
    JTradingState,
    JVenueEpoch,
    JVenueEvent,
    MmapJournal,
    NullJournal,
    data_end,
    mmap_header,
)
from gateway.protocol.messages import MassCancelAck, OrderAccepted
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from model.order import ORDER_FIELDS, Order, new_order_leaves
from model.venue_events import VenueAccepted


@dataclass
class Backend:
    """How the suite opens one implementation and, if it is durable, breaks its storage."""

    open: Callable[[Path], Journal]
    tear: Callable[[Path, int], None] | None = None
    """Cut ``n`` bytes off the last write (a crash in the middle of it)."""
    damage: Callable[[Path], None] | None = None
    """Flip a byte inside the first record (corruption with good records after it)."""


PAGE = mmap.PAGESIZE


def _file_path(directory: Path) -> Path:
    return directory / "gw.journal"


def _tear_file(directory: Path, n: int) -> None:
    path = _file_path(directory)
    os.truncate(path, path.stat().st_size - n)


def _damage_file(directory: Path) -> None:
    path = _file_path(directory)
    data = bytearray(path.read_bytes())
    data[9] ^= 0xFF  # inside the first record's payload (its header is 8 bytes)
    path.write_bytes(bytes(data))


def _tear_mmap(directory: Path, n: int) -> None:
    """A crash in the middle of copying the last record: its last ``n`` bytes never made it, nor a sync of it."""
    path = _file_path(directory)
    data = bytearray(path.read_bytes())
    end = data_end(path)
    last = DATA_START
    while True:
        length = int.from_bytes(data[last : last + 4], "big")
        if last + 8 + length >= end:
            break
        last += 8 + length
    data[end - n : end] = bytes(n)
    data[: len(mmap_header(last))] = mmap_header(last)  # synced up to the record before it, at most
    path.write_bytes(bytes(data))


def _damage_mmap(directory: Path) -> None:
    path = _file_path(directory)
    data = bytearray(path.read_bytes())
    data[DATA_START + 9] ^= 0xFF  # inside the first record's payload
    path.write_bytes(bytes(data))


def _mmap(fsync: FsyncPolicy) -> Callable[[Path], Journal]:
    def open_it(directory: Path) -> Journal:
        return MmapJournal(_file_path(directory), fsync=fsync, fsync_interval_ms=1, grow_bytes=2 * PAGE)

    return open_it


BACKENDS: dict[str, Backend] = {
    "file": Backend(
        lambda directory: FileJournal(_file_path(directory), fsync=FsyncPolicy.NONE), _tear_file, _damage_file
    ),
    "file-batch-fsync": Backend(
        lambda directory: FileJournal(_file_path(directory), fsync=FsyncPolicy.BATCH), _tear_file, _damage_file
    ),
    "null": Backend(lambda directory: NullJournal()),
    "mmap": Backend(_mmap(FsyncPolicy.NONE), _tear_mmap, _damage_mmap),
    "mmap-batch-fsync": Backend(_mmap(FsyncPolicy.BATCH), _tear_mmap, _damage_mmap),
    "mmap-interval-fsync": Backend(_mmap(FsyncPolicy.INTERVAL), _tear_mmap, _damage_mmap),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
def journal(backend: Backend, tmp_path: Path) -> Iterator[Journal]:
    opened = backend.open(tmp_path)
    yield opened
    opened.close()


def _order() -> Order:
    order = Order(7, "S1", "A", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_502_500, TimeInForce.DAY, OrderType.LIMIT)
    new_order_leaves(order)
    order.t_in = 123
    return order


EVERY_KIND: list[JournalRecord] = [
    JOrderCreated.of(_order()),
    JOrderRefused(7),
    JSentNew(7, "1"),
    JSentCancel(7, "1"),
    JSentReplace(7, 200, 1_502_600, "2"),
    JCancelQueued(7),
    JVenueEvent("V1", VenueAccepted(3, 7, "X7", 100, 1_502_500)),
    JStrategyEvent("S1", OrderAccepted(1, "A", "X7", 100, 1_502_500)),
    JReplaceRejected(7),
    JTradingState("ACC1", "HALTED", "ops", "test"),
    JVenueEpoch("V1", "SESSION1"),
    JCancelRefused(7),
    JRequest("S1", 1, JOrderCreated.of(_order())),
    JRequest("S1", 2, JStrategyEvent("S1", OrderAccepted(2, "A", "X7", 100, 1_502_500))),
    JRequest("S1", 3, None, MassCancelAck("M1", 1)),
    JRequest("S1", 4),
    JPositionAdjusted("ACC1", "AAPL", -100, 1_502_500, -150_250_000, "ops [pid 1 uid 2]", "bust of exec 123"),
]


def _kept(journal: Journal, records: list[JournalRecord]) -> list[JournalRecord]:
    """What ``journal`` must give back after ``records`` were flushed: all of them, or nothing if not durable."""
    return records if journal.durable else []


# ---- the shared contract ------------------------------------------------------------------------


def test_append_and_flush_when_every_record_kind_then_read_back_equal_and_in_order(journal: Journal) -> None:
    for record in EVERY_KIND:
        journal.append(record)
    journal.flush()
    scan = JournalScan()
    assert list(journal.records(scan)) == _kept(journal, EVERY_KIND)
    assert journal.records_written == len(EVERY_KIND)
    assert scan.torn_bytes == 0


def test_reader_from_tell_when_batches_flushed_then_reads_exactly_the_later_records_in_bounded_reads(
    journal: Journal,
) -> None:
    journal.append(JOrderRefused(1))
    journal.flush()
    start = journal.tell()
    later = [JOrderRefused(n) for n in range(2, 40)] + EVERY_KIND
    for record in later:
        journal.append(record)
    assert journal.tell() == start  # pending records go where the flushed ones end
    journal.flush()
    reader = journal.reader(start)
    got: list[JournalRecord] = []
    positions: list[int] = []
    while batch := reader.read(5):
        assert len(batch) <= 5
        positions.extend(p for p, _ in batch)
        got.extend(r for _, r in batch)
    assert got == _kept(journal, later)
    assert positions == sorted(positions) and (not positions or positions[0] == start)
    whole = journal.reader(0)
    everything = [r for batch in iter(lambda: whole.read(1000), []) for _, r in batch]
    assert everything == _kept(journal, [JOrderRefused(1), *later])


def test_append_when_not_flushed_then_nothing_kept_yet(journal: Journal) -> None:
    journal.append(JOrderRefused(1))
    assert list(journal.records()) == []
    journal.flush()
    assert list(journal.records()) == _kept(journal, [JOrderRefused(1)])
    journal.flush()  # nothing pending: nothing more written
    assert list(journal.records()) == _kept(journal, [JOrderRefused(1)])


def test_close_when_records_pending_then_they_are_kept_for_the_next_process(backend: Backend, tmp_path: Path) -> None:
    first = backend.open(tmp_path)
    first.append(JOrderRefused(1))
    first.flush()
    first.append(JOrderRefused(2))
    first.close()
    second = backend.open(tmp_path)
    second.append(JOrderRefused(3))
    second.flush()
    assert list(second.records()) == _kept(second, [JOrderRefused(1), JOrderRefused(2), JOrderRefused(3)])
    second.close()


def test_records_when_last_write_torn_then_tail_reported_and_cut_and_appends_follow_the_last_good_record(
    backend: Backend, tmp_path: Path
) -> None:
    if backend.tear is None:
        pytest.skip("keeps nothing that could tear")
    first = backend.open(tmp_path)
    for i in range(5):
        first.append(JOrderRefused(i))
    first.close()
    backend.tear(tmp_path, 3)
    second = backend.open(tmp_path)
    scan = JournalScan()
    assert list(second.records(scan)) == [JOrderRefused(i) for i in range(4)]
    assert scan.torn_bytes > 0 and scan.records == 4
    second.cut_torn_tail(scan)
    second.append(JOrderRefused(99))
    second.close()
    third = backend.open(tmp_path)
    again = JournalScan()
    assert list(third.records(again)) == [*(JOrderRefused(i) for i in range(4)), JOrderRefused(99)]
    assert again.torn_bytes == 0
    third.close()


def test_records_when_damaged_before_good_records_then_corruption_refused(backend: Backend, tmp_path: Path) -> None:
    if backend.damage is None:
        pytest.skip("keeps nothing that could be damaged")
    first = backend.open(tmp_path)
    for i in range(5):
        first.append(JOrderRefused(i))
    first.close()
    backend.damage(tmp_path)
    second = backend.open(tmp_path)
    with pytest.raises(JournalCorruptError):
        list(second.records())
    second.close()


def test_cut_torn_tail_when_nothing_torn_then_nothing_lost(journal: Journal) -> None:
    journal.append(JOrderRefused(1))
    journal.flush()
    scan = JournalScan()
    list(journal.records(scan))
    journal.cut_torn_tail(scan)
    assert list(journal.records()) == _kept(journal, [JOrderRefused(1)])


# ---- the record format ---------------------------------------------------------------------------


def test_order_created_record_when_laid_out_then_the_order_ticket_then_t_in() -> None:
    assert JOrderCreated.__struct_fields__ == (*ORDER_FIELDS, "t_in")
    order = _order()
    record = JOrderCreated.of(order)
    assert record.order() == order  # a new order, as it was created


def test_records_when_written_by_an_earlier_version_then_still_decode(tmp_path: Path) -> None:
    """Bytes as the journal wrote them before venue epochs, cancel refs and folded OUCH events."""
    path = tmp_path / "old.journal"
    old = [
        b"\x9d\x01\x07\xa2S1\xa1A\xa4ACC1\xa2V1\xa4AAPL\xa1Bd\xce\x00\x16\xed$\xa10\xa12{",  # created
        b"\x92\x04\x07",  # JSentCancel without venue_ref
        b"\x93\x07\xa2V1\x96\xa3acc\x03\x07\xa2X7d\xce\x00\x16\xed$",  # VenueAccepted, 5 fields
    ]
    path.write_bytes(b"".join(struct.pack(">II", len(p), zlib.crc32(p)) + p for p in old))
    records = list(FileJournal(path, fsync=FsyncPolicy.NONE).records())
    assert records == [
        JOrderCreated.of(_order()),
        JSentCancel(7),
        JVenueEvent("V1", VenueAccepted(3, 7, "X7", 100, 1_502_500)),
    ]


def _synced_and_counted(journal: Journal) -> bool:
    """Return True once the last batch is synced and that sync is counted in ``fsyncs`` (its last store)."""
    sparse, _first, dense = journal.fsync_ns_parts()
    timed = sum(sparse.values()) + sum(memoryview(dense).cast("Q"))
    del dense
    return journal.bytes_synced == journal.bytes_written and journal.fsyncs == timed


def test_sync_counts_and_fsync_parts_when_synced_then_the_same_as_the_properties(journal: Journal) -> None:
    journal.append(JOrderRefused(7))
    journal.flush()
    if getattr(journal, "fsync", FsyncPolicy.NONE) is not FsyncPolicy.NONE:  # synced once, then nothing moves
        # the syncer stores the fsync's time, then bytes synced, then the fsync count last: wait for the count too
        deadline = time.monotonic() + 10
        while not _synced_and_counted(journal) and time.monotonic() < deadline:
            time.sleep(0.001)
    assert journal.sync_counts() == (journal.bytes_synced, journal.fsyncs, journal.fsync_failures)
    sparse, first, dense = journal.fsync_ns_parts()
    merged = dict(sparse)
    for offset, count in enumerate(memoryview(dense).cast("Q")):
        merged[first + offset] = merged.get(first + offset, 0) + count
    del dense  # (a view of the syncer's control block: released before the journal closes it)
    assert {k: v for k, v in merged.items() if v} == journal.fsync_ns.counts
    assert sum(merged.values()) == journal.fsyncs
