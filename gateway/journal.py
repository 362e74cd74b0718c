"""Append-only order journal: every input that changed order state, in order.

The engine writes one record per order event: a new order sent to its venue (``JOrderSent``:
created and sent in one record), a venue event applied to its order (``JVenueApplied``: the
strategy events it produced are not written again, recovery produces them with the same code),
and one per other decision (refused, cancel sent or held, replace sent or refused) with the
event the strategy got for it. Replaying the records rebuilds open orders, positions and
exposure, the per-strategy event sequence, and where each venue session should resume. A
version-3 strategy request's deciding record (``JOrderSent``, or ``JOrderCreated`` for a refused
order, a cancel or replace sent or held, the order event that answered it) is wrapped in
``JRequest``, which adds its ``req_seq``.

Records of earlier versions still decode and replay (``JOrderCreated`` + ``JSentNew`` for a sent
order, ``JVenueEvent`` followed by the ``JStrategyEvent`` records of what it produced): a journal
written by an earlier version on the same day is continued, never rewritten. A journal written
by this version is refused by an earlier one (an unknown record tag is an undecodable record:
start-up stops with exit 1), so do not downgrade in the middle of a trading day.

File format: a sequence of records, each ``u32 length | u32 crc32 | payload``
(big-endian), the payload being a MessagePack array (``JournalRecord``). A record
whose length runs past the end of the file or whose CRC does not match *at the
tail* is a torn write from a crash: recovery truncates it. A bad record followed
by good ones is corruption: recovery refuses to start rather than guess.

Two storages write that format (``journal.storage`` in gateway.yaml):

* ``MmapJournal`` (``mmap``, the default): the file is memory-mapped and grown in preallocated
  steps (``posix_fallocate``, so a full disk shows when a step is taken, never as a fault on a
  store); ``flush`` copies the batch into the mapping: no system call per batch, and the records
  are in the page cache, shared with the kernel, the moment the copy returns. The file starts with
  a 4 KiB header page (``MMAP_MAGIC``, and the end of the data last made durable, updated after
  each sync) and records follow it; the part of the file not yet written is zeros. A clean close
  cuts the zeros off.
* ``FileJournal`` (``file``): the header-less format of earlier versions, ``os.write`` per batch.

Durability (see docs/reliability.md):

* Records are in the page cache at the end of every batch, *before* the batch's bytes go to any
  venue or strategy. A process crash (``kill -9``, segfault) therefore loses nothing that left
  the gateway.
* ``fsync`` policy (``model.fsync.FsyncPolicy``) decides what a power failure can lose: ``"batch"``
  fdatasyncs before the batch leaves (nothing, at a cost of a disk flush per batch);
  ``"interval"`` fdatasyncs every ``fsync_interval_ms`` while there are new records (at most that
  window), on its own clock, never signalled by the event loop: ``MmapJournal`` from a process
  of its own (``gateway.journal_syncer``: no GIL hand-over, no futex in the gateway),
  ``FileJournal`` from a background thread; ``"none"`` leaves it to the kernel's writeback.
* A memory-mapped file is written back page by page in no particular order, so what a power
  failure leaves of the last, unsynced stretch may have zeros where a page never reached the
  disk, with later pages intact. The header's synced end tells that apart from corruption:
  damage past it is the unsynced tail and is cut (as a torn tail), damage before it refuses
  start-up.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final, Protocol

import msgspec

from gateway.journal_file import check_and_restore, check_journal_file, restore_journal_file
from gateway.journal_lock import (
    JournalInUseError,
    JournalLock,
    journal_in_use,
    lock_journal_directory,
    lock_journal_file,
)
from gateway.journal_mmap import MmapJournal
from gateway.journal_read import (
    _BATCH,
    DATA_START,
    GROW_BYTES,
    HEADER_SIZE,
    MAX_RECORD_SIZE,
    MMAP_FORMAT,
    MMAP_HEADER,
    MMAP_MAGIC,
    READ_CHUNK,
    RECORD_HEADER,
    JournalCloseError,
    JournalCorruptError,
    JournalCutShortError,
    JournalForeignError,
    JournalOwnerError,
    JournalReader,
    JournalScan,
    _crc32,
    _pack_header,
    count_records,
    data_end,
    foreign_file_problem,
    mmap_header,
    read_journal,
    truncate_torn_tail,
)
from gateway.journal_records import (
    JCancelQueued,
    JCancelRefused,
    JOrderCreated,
    JOrderRefused,
    JOrderSent,
    JournalRecord,
    JPositionAdjusted,
    JReplaceRejected,
    JRequest,
    JSentCancel,
    JSentNew,
    JSentReplace,
    JSeqAhead,
    JStrategyEvent,
    JTradingState,
    JVenueApplied,
    JVenueEpoch,
    JVenueEvent,
)
from model.clock import monotonic_ns
from model.fsync import FsyncPolicy
from model.order import (
    Order,
    OrderInput,
    OrderState,
    can,
    cancel_input,
    drop_held_cancel,
    hold_cancel,
    mark_sent,
    refuse,
    release_cancel,
    request_cancel,
    request_replace,
)
from obs.histogram import SparseHistogram

__all__ = [  # the journal's one import point: these modules' names are re-exported
    "DATA_START",
    "GROW_BYTES",
    "HEADER_SIZE",
    "MAX_RECORD_SIZE",
    "MMAP_FORMAT",
    "MMAP_HEADER",
    "MMAP_MAGIC",
    "READ_CHUNK",
    "RECORD_HEADER",
    "FileJournal",
    "JCancelQueued",
    "JCancelRefused",
    "JOrderCreated",
    "JOrderRefused",
    "JOrderSent",
    "JPositionAdjusted",
    "JReplaceRejected",
    "JRequest",
    "JSentCancel",
    "JSentNew",
    "JSentReplace",
    "JSeqAhead",
    "JStrategyEvent",
    "JTradingState",
    "JVenueApplied",
    "JVenueEpoch",
    "JVenueEvent",
    "Journal",
    "JournalCloseError",
    "JournalCorruptError",
    "JournalCutShortError",
    "JournalForeignError",
    "JournalInUseError",
    "JournalLock",
    "JournalOwnerError",
    "JournalReader",
    "JournalRecord",
    "JournalScan",
    "MmapJournal",
    "NullJournal",
    "data_end",
    "follow_order_record",
    "foreign_file_problem",
    "journal_in_use",
    "lock_journal_directory",
    "lock_journal_file",
    "mmap_header",
    "open_journal",
    "read_journal",
    "truncate_torn_tail",
    "unwrap_requests",
]

log = logging.getLogger(__name__)


REPEATED_DROP_STATES: Final = frozenset({OrderState.PENDING_REPLACE, OrderState.LIVE})
"""Where a ``JCancelRefused`` that repeats a drop already applied finds its order (ended60). Versions before ended60
journaled the drop of a kill's Cancel held behind a Replace at a venue whose session had ENDED, then failed to apply
it (no drop from PENDING_REPLACE_HELD_CANCEL), and journaled it again at each poll: the first one drops the held
Cancel (the Replace stays in flight), the repeats find it PENDING_REPLACE (or LIVE once the Replace was answered)
and change nothing. ``gateway.recovery`` accepts one only right after another drop of the same order."""


def follow_order_record(order: Order, rec: object) -> None:
    """Make on ``order`` the transition a journaled order record says happened; other records change nothing.

    One reading of the records that move an order without a venue event (refused, sent, cancel sent
    or held or dropped, replace sent), shared by recovery and the replay from the journal.
    """
    kind = type(rec)
    if kind is JSentNew:
        assert isinstance(rec, JSentNew)
        mark_sent(order, rec.venue_ref)
    elif kind is JSentCancel:
        assert isinstance(rec, JSentCancel)
        if cancel_input(order) is OrderInput.RELEASE_CANCEL:
            release_cancel(order, rec.venue_ref)
        else:
            request_cancel(order, rec.venue_ref)
        order.own_cancel = rec.own
    elif kind is JSentReplace:
        assert isinstance(rec, JSentReplace)
        request_replace(order, rec.qty, rec.price, rec.venue_ref)
    elif kind is JCancelQueued:
        assert isinstance(rec, JCancelQueued)
        if can(order, OrderInput.HOLD_CANCEL):  # journals of earlier versions repeat it for a cancel already held
            hold_cancel(order)
        order.own_cancel = rec.own  # without ``own`` for a cancel held or sent: a strategy's Cancel joined it
    elif kind is JCancelRefused:
        if order.state not in REPEATED_DROP_STATES:  # (a repeat changes nothing; nothing held: IllegalTransition)
            drop_held_cancel(order)
    elif kind is JOrderRefused:
        refuse(order)


def unwrap_requests(records: Iterable[JournalRecord]) -> Iterator[JournalRecord]:
    """Yield ``records`` with each ``JRequest`` replaced by the record it carries (if any): one decision each."""
    for record in records:
        if type(record) is JRequest:
            if record.record is not None:
                yield record.record
        else:
            yield record


class Journal(Protocol):
    """What the engine writes through and recovery reads back: the contract of every journal.

    ``tests/test_journal_contract.py`` runs one suite over every implementation (``FileJournal``,
    ``NullJournal``, and whatever comes next). ``durable`` says whether what was flushed is kept:
    a journal that keeps nothing reads back nothing, and the suite checks exactly that.
    """

    durable: bool
    records_written: int
    """Records appended so far (this process), those still pending (not in the file yet) included."""

    @property
    def records_flushed(self) -> int:
        """Return the records ``flush`` put in the file so far (this process): ``records_written`` as it was at the
        end of the last flush that wrote the whole batch. What ``gateway status`` shows: it stops while flushes fail."""
        ...

    bytes_written: int
    """Bytes handed to the storage so far (this process)."""

    @property
    def bytes_synced(self) -> int:
        """Return ``bytes_written`` as it was when the last successful sync began (on disk for sure)."""
        ...

    @property
    def fsyncs(self) -> int:
        """Return the syncs done."""
        ...

    @property
    def fsync_failures(self) -> int:
        """Return the syncs that failed."""
        ...

    @property
    def fsync_ns(self) -> SparseHistogram:
        """Return the sync durations."""
        ...

    @property
    def pending_bytes(self) -> int:
        """Return how many bytes are appended but not yet written."""
        ...

    def fsync_ns_parts(self) -> tuple[dict[int, int], int, bytes | memoryview]:
        """Return ``fsync_ns`` uncopied: sparse counts, and dense native uint64 counts from bucket ``first`` on."""
        ...

    def sync_counts(self, check: bool = True) -> tuple[int, int, int]:
        """Return (``bytes_synced``, ``fsyncs``, ``fsync_failures``), read together (the status snapshot's);
        ``check``: look for a gone helper first (the snapshot leaves that to the journal file check)."""
        ...

    def append(self, record: JournalRecord) -> None:
        """Add ``record`` to the pending batch (nothing is written yet)."""
        ...

    def flush(self) -> None:
        """Write the pending batch; on OSError the unwritten rest stays pending for the next flush."""
        ...

    def close(self) -> None:
        """Flush, make durable and release the storage."""
        ...

    def records(self, scan: JournalScan | None = None) -> Iterator[JournalRecord]:
        """Yield every record kept so far, in order; fill ``scan``.

        A damaged last record is a torn tail: it is not yielded and ``scan.torn_bytes`` says how
        long it is. Damage followed by good records raises JournalCorruptError.
        """
        ...

    def cut_torn_tail(self, scan: JournalScan) -> None:
        """Drop the torn tail ``records`` found, so the next append follows the last good record."""
        ...

    def tell(self) -> int:
        """Return the file offset where the pending batch will go (at or before every record not yet flushed)."""
        ...

    def take_back(self, mark: int) -> bool:
        """Drop the one record appended at ``mark`` (``tell() + pending_bytes`` before it) that a flush failed to write.

        Only for a record that must not be written later (a refused admin command). Return False, dropping
        nothing, when the record may already be on the storage (its flush failed after copying it).
        """
        ...

    def reader(self, start: int) -> JournalReader:
        """Return a reader of the records flushed so far from file offset ``start`` (a record's start) on."""
        ...


class NullJournal:
    """A journal that keeps nothing (tests, benchmarks that measure without disk, journal disabled)."""

    durable = False
    pending_bytes = 0

    def __init__(self) -> None:
        self.records_written = 0
        self.bytes_written = 0
        self.bytes_synced = 0
        self.fsyncs = 0
        self.fsync_failures = 0
        self.fsync_ns = SparseHistogram()

    def fsync_ns_parts(self) -> tuple[dict[int, int], int, bytes | memoryview]:
        """Return ``fsync_ns``'s counts, with no dense part."""
        return self.fsync_ns.counts, 0, b""

    def sync_counts(self, check: bool = True) -> tuple[int, int, int]:
        """Return (``bytes_synced``, ``fsyncs``, ``fsync_failures``)."""
        return self.bytes_synced, self.fsyncs, self.fsync_failures

    def append(self, record: JournalRecord) -> None:
        """Count ``record`` and discard it."""
        self.records_written += 1

    @property
    def records_flushed(self) -> int:
        """Return ``records_written``: nothing is ever pending."""
        return self.records_written

    def flush(self) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""

    def records(self, scan: JournalScan | None = None) -> Iterator[JournalRecord]:
        """Yield nothing: nothing was kept."""
        del scan
        return iter(())

    def cut_torn_tail(self, scan: JournalScan) -> None:
        """Do nothing: there is no tail."""

    def tell(self) -> int:
        """Return 0: nothing is kept."""
        return 0

    def take_back(self, mark: int) -> bool:
        """Uncount the record: nothing was kept."""
        del mark
        self.records_written -= 1
        return True

    def reader(self, start: int) -> JournalReader:
        """Return a reader of nothing."""
        return JournalReader(None, start)


class FileJournal:
    """Append records to a file; ``flush`` hands the batch to the kernel in one write."""

    durable = True

    def __init__(
        self,
        path: str | Path,
        *,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval_ms: int = 10,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            lock_journal_file(self._fd, self.path)  # before anything is read or written: one gateway per file
            foreign = foreign_file_problem(self.path)
            if foreign:
                raise JournalForeignError(foreign)
        except BaseException:
            os.close(self._fd)
            raise
        self._buf = bytearray()
        self._encode_into = msgspec.msgpack.Encoder().encode_into
        self.fsync = fsync = FsyncPolicy(fsync)
        self.records_written = 0
        self.records_flushed = 0
        """``records_written`` as it was when the last flush wrote the whole batch (``Journal.records_flushed``)."""
        self.bytes_written = 0
        self.bytes_synced = 0
        """``bytes_written`` as it was when the last successful fdatasync began (on disk for sure)."""
        self.fsyncs = 0
        self.fsync_failures = 0
        self.fsync_ns = SparseHistogram()
        """fdatasync durations, counted by whichever thread syncs (the fsync thread under "interval")."""
        self._stop = threading.Event()
        """Set by ``close`` only: the fsync thread wakes on its own clock, never per flush."""
        self._base = -1
        """The file's size minus ``bytes_written`` (-1: not known yet; ``tell`` finds it once)."""
        self._closing = False
        self._lost = ""
        """Why the path no longer names the open file and it could not be restored ("": it does): ``flush`` raises."""
        self.file_restores = 0
        """Times the file was found deleted while open and restored (``check_file``)."""
        self._sync_thread: threading.Thread | None = None
        self._torn_at = 0
        self._torn_end = 0
        """File offsets of the record a failed flush left partly in the file (its start, its end); none when
        ``_torn_end`` is not past ``tell()``. Set on the failure path only: ``close`` cuts that record off."""
        self._trim_zero_padding()
        self.tell()  # the base known from the start: ``check_file`` notices a file cut shorter than it
        if fsync is FsyncPolicy.INTERVAL:
            self._interval_s = fsync_interval_ms / 1000
            self._sync_thread = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)
            self._sync_thread.start()

    def _trim_zero_padding(self) -> None:
        """Cut the zeros a crashed ``MmapJournal`` left after its records, so appends follow the last record."""
        size = os.fstat(self._fd).st_size
        if not size:
            return
        with self.path.open("rb") as fh:
            fh.seek(size - 1)
            last = fh.read(1)
        if last == b"\0":
            end = data_end(self.path)
            if end < size:
                os.ftruncate(self._fd, end)

    def append(self, record: JournalRecord) -> None:
        """Encode ``record`` into the pending batch."""
        buf = self._buf
        start = len(buf)
        body = start + HEADER_SIZE
        self._encode_into(record, buf, body)
        payload = buf[body:]  # a small copy is cheaper than a memoryview slice for records this size
        _pack_header(buf, start, len(payload), _crc32(payload))
        self.records_written += 1

    def flush(self) -> None:
        """Write the pending batch to the kernel (and fdatasync it under the "batch" policy).

        On an error (disk full, I/O error) the bytes already written are dropped from the batch
        and the rest stays pending, so a later flush continues exactly where this one stopped;
        the OSError goes to the caller, which must not let anything depending on it leave.
        """
        if self._lost:  # the file was deleted or replaced and not restored yet: fail closed (nothing leaves)
            raise OSError(errno.ENOENT, self._lost)
        buf = self._buf
        if not buf:
            return
        written = os.write(self._fd, buf)
        self.bytes_written += written
        if written == len(buf):
            buf.clear()
        else:
            self._write_rest(written)
        self.records_flushed = self.records_written
        if self.fsync is _BATCH:
            self._sync()

    def _write_rest(self, done: int) -> None:
        """Write the rest of the batch after a short write of ``done`` bytes (a disk filling up).

        On an error the written part is dropped from the batch (the rest stays pending) and, when it ends inside a
        record, that record's place in the file is noted (``_torn_at``, ``_torn_end``) for ``close`` to cut.
        """
        buf = self._buf
        start = self.tell() - done  # where the batch began in the file
        try:
            while done < len(buf):
                written = os.write(self._fd, buf[done:])  # a copy: the failure path only
                self.bytes_written += written
                done += written
        finally:
            if done < len(buf):
                self._note_torn(start, done)
            del buf[:done]

    def _note_torn(self, start: int, done: int) -> None:
        """Note the record the first ``done`` bytes of the batch (at file offset ``start``) end inside, if any."""
        buf = self._buf
        at = self._torn_end - start if self._torn_end > start else 0  # the batch's first record start
        while at < done:
            end = at + HEADER_SIZE + RECORD_HEADER.unpack_from(buf, at)[0]
            if end > done:
                self._torn_at, self._torn_end = start + at, start + end
                return
            at = end
        if at == done:  # the file ends with a whole record
            self._torn_at = self._torn_end = 0

    @property
    def pending_bytes(self) -> int:
        """Return how many bytes are waiting to be written."""
        return len(self._buf)

    def fsync_ns_parts(self) -> tuple[dict[int, int], int, bytes | memoryview]:
        """Return ``fsync_ns``'s counts, with no dense part."""
        return self.fsync_ns.counts, 0, b""

    def sync_counts(self, check: bool = True) -> tuple[int, int, int]:
        """Return (``bytes_synced``, ``fsyncs``, ``fsync_failures``)."""
        return self.bytes_synced, self.fsyncs, self.fsync_failures

    def _sync_loop(self) -> None:
        """Every ``fsync_interval_ms``: fdatasync if anything was written since the last sync."""
        synced = self.bytes_written
        while not self._stop.wait(self._interval_s):
            written = self.bytes_written
            if written == synced:
                continue
            try:
                self._sync()
            except OSError:
                self.fsync_failures += 1
                log.exception("journal %s: fdatasync failed", self.path)
            else:
                synced = written

    def _sync(self) -> None:
        """fdatasync the file, timing it into ``fsync_ns`` (raises OSError)."""
        written = self.bytes_written
        started = monotonic_ns()
        os.fdatasync(self._fd)
        self.fsync_ns.record(monotonic_ns() - started)
        self.fsyncs += 1
        self.bytes_synced = written

    def check_file(self) -> tuple[str, bool]:
        """Return ("", False) while the path names the open file; else restore it (see ``MmapJournal.check_file``)."""
        if self._closing:
            return "", False
        problem, restored = check_and_restore(self._fd, self.path, self._restore, self.tell())
        self._lost = problem if problem and not restored else ""
        self.file_restores += 1 if restored else 0
        return problem, restored

    def hold(self, problem: str) -> None:
        """Fail closed with ``problem`` (``flush`` raises it) until the next ``check_file`` finds the file fine."""
        if problem and not self._lost:
            self._lost = problem

    def _restore(self) -> None:
        """Write the open file to a new file at the path, durable, and append to that one (raises OSError)."""
        new = restore_journal_file(self._fd, self.path, os.fstat(self._fd).st_size, 0)
        try:
            fcntl.fcntl(new, fcntl.F_SETFL, os.O_APPEND)
            os.dup2(new, self._fd, inheritable=False)  # the same descriptor number, now the new file's
        finally:
            os.close(new)

    def closing(self) -> bool:
        """Return True once ``close`` has begun."""
        return self._closing

    def records(self, scan: JournalScan | None = None) -> Iterator[JournalRecord]:
        """Yield every record the file holds (see ``read_journal``)."""
        return read_journal(self.path, scan)

    def cut_torn_tail(self, scan: JournalScan) -> None:
        """Cut the file back to the last good record ``records`` found (nothing to do without a torn tail)."""
        if scan.torn_bytes:
            truncate_torn_tail(self.path, scan.good_bytes)
        self._torn_at = self._torn_end = 0
        self._base = -1
        self.tell()

    def tell(self) -> int:
        """Return the file offset where the pending batch will go (one fstat, the first time only)."""
        if self._base < 0:
            self._base = os.fstat(self._fd).st_size - self.bytes_written
        return self._base + self.bytes_written

    def take_back(self, mark: int) -> bool:
        """Drop the record appended at ``mark``; cut the file back to ``mark`` if a short write put part of it there."""
        at = self.tell()
        if at > mark:  # a short write (disk full) put its first bytes in the file: cut them off
            os.ftruncate(self._fd, mark)
            self._torn_at = self._torn_end = 0
            self.bytes_written -= at - mark
            self.bytes_synced = min(self.bytes_synced, self.bytes_written)
            self._buf.clear()
        else:
            del self._buf[mark - at :]
        self.records_written -= 1
        return True

    def reader(self, start: int) -> JournalReader:
        """Return a reader of the file from offset ``start`` on (the file ends with its data: no zeros to read past)."""
        return JournalReader(self.path, start)

    def close(self) -> None:
        """Flush, sync and close the file (closed even when that fails: then ``JournalCloseError`` says what).

        A record a failed flush left partly in the file (a short write on a full disk) is cut off first, so the
        file ends with its last whole record, as a stop leaves it (journalstop56: before, the next start found it
        torn, and took the stop for a crash).
        """
        failed: OSError | None = None
        if check_journal_file(self._fd, self.path)[1]:  # deleted since the last check: put back before the end
            with contextlib.suppress(OSError):
                self.check_file()
        try:
            self.flush()
        except OSError as exc:
            failed = exc
        self._closing = True
        self._stop.set()
        if self._sync_thread is not None:
            self._sync_thread.join(timeout=1)
        at = self.tell()
        pending = len(self._buf)
        torn = self._torn_end > at
        rest = self._torn_end - at if torn else 0  # the batch's first bytes: the rest of the torn record
        dropped = count_records(self._buf, rest, pending) + (1 if torn else 0) if pending else 0
        cut = 0
        if torn:
            try:
                os.ftruncate(self._fd, self._torn_at)
            except OSError as exc:
                failed = failed or exc
            else:
                cut = at - self._torn_at
                self.bytes_written -= cut
        unsynced = False
        try:
            self._sync()
        except OSError as exc:
            unsynced = True
            failed = failed or exc
        kept = not unsynced and (cut or not torn) and not check_journal_file(self._fd, self.path)[0]
        os.close(self._fd)
        if failed is not None:
            raise JournalCloseError(
                self.path, pending + cut, unsynced, failed, dropped_records=dropped, cut_bytes=cut, kept=bool(kept)
            )


def open_journal(
    path: str | Path,
    *,
    storage: str = "mmap",
    fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
    fsync_interval_ms: int = 10,
    owner: str = "",
) -> Journal:
    """Open today's journal with ``storage`` (``mmap``: ``MmapJournal``, ``file``: ``FileJournal``).

    ``owner`` (``<gateway_id> <YYYYMMDD>``): an ``MmapJournal`` file records it in its header page when begun
    and, when opened again, raises ``JournalOwnerError`` if its header names another (``FileJournal``: no header).
    """
    if storage == "mmap":
        return MmapJournal(path, fsync=fsync, fsync_interval_ms=fsync_interval_ms, owner=owner)
    if storage == "file":
        return FileJournal(path, fsync=fsync, fsync_interval_ms=fsync_interval_ms)
    raise ValueError(f"unknown journal storage {storage!r} (mmap or file)")
