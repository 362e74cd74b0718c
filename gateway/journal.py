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

import itertools
import logging
import mmap
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec

from gateway import journal_syncer as _syncer
from gateway.protocol.messages import MassCancelAck, MassCancelRejected, OrderEvent
from model.clock import monotonic_ns
from model.fsync import FsyncPolicy
from model.order import (
    ORDER_FIELDS,
    Order,
    OrderInput,
    OrderTicket,
    can,
    cancel_input,
    drop_held_cancel,
    hold_cancel,
    mark_sent,
    order_from_ticket,
    refuse,
    release_cancel,
    request_cancel,
    request_replace,
    ticket,
)
from model.venue_events import VenueEvent
from obs.histogram import SparseHistogram

log = logging.getLogger(__name__)

_PROJECT_ROOT: Final = str(Path(__file__).resolve().parent.parent)
"""Where ``python -m gateway.journal_syncer`` finds the packages."""

RECORD_HEADER: Final = struct.Struct(">II")
HEADER_SIZE: Final = RECORD_HEADER.size
_pack_header: Final = RECORD_HEADER.pack_into
_crc32: Final = zlib.crc32
MAX_RECORD_SIZE: Final = 1 << 20
_BATCH: Final = FsyncPolicy.BATCH
_INTERVAL: Final = FsyncPolicy.INTERVAL

MMAP_MAGIC: Final = b"GWJ\x02"
"""First bytes of a journal written by ``MmapJournal`` (its 4 KiB header page, then the records)."""
MMAP_HEADER: Final = struct.Struct(">4sIQI")
"""magic | format version | end of the data last made durable (file offset) | crc32 of the first three."""
MMAP_FORMAT: Final = 2
DATA_START: Final = 4096
"""Where the records of an ``MmapJournal`` file begin (the header page before them)."""
GROW_BYTES: Final = 64 << 20
"""How much an ``MmapJournal`` file is extended (preallocated) at a time."""


class _Record(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base for journal records."""


class JOrderCreated(_Record, OrderTicket, tag=1, frozen=True):  # type: ignore[misc]  # msgspec allows it
    """A strategy's NewOrder became an order (before risk decided): its ``OrderTicket`` fields, then ``t_in``."""

    t_in: int

    @staticmethod
    def of(order: Order) -> JOrderCreated:
        """Return the record of ``order`` just created."""
        return JOrderCreated(*ticket(order), order.t_in)  # the readable form; _compile_order_created's is faster

    def order(self) -> Order:
        """Return the order this record created, as it was created."""
        return order_from_ticket(self, t_in=self.t_in)


def _compile_order_created() -> Callable[[Order], JOrderCreated]:
    """Return ``JOrderCreated.of`` as one call naming each ticket field, generated from their one definition.

    It runs for every new order: a generated positional call costs a third of unpacking ``ticket(order)``.
    """
    args = ", ".join(f"order.{name}" for name in ORDER_FIELDS)
    namespace: dict[str, Any] = {"JOrderCreated": JOrderCreated}
    exec(f"def of(order):\n    return JOrderCreated({args}, order.t_in)\n", namespace)
    of: Callable[[Order], JOrderCreated] = namespace["of"]
    of.__doc__ = JOrderCreated.of.__doc__
    return of


JOrderCreated.of = staticmethod(_compile_order_created())  # type: ignore[assignment,method-assign]


class JOrderSent(JOrderCreated, tag=15, frozen=True):  # type: ignore[misc]  # as JOrderCreated
    """A new order created and queued for its venue under ``venue_ref`` in the same batch.

    One record instead of ``JOrderCreated`` + ``JSentNew``: the ticket, ``t_in``, then the venue
    reference. It is a ``JOrderCreated`` (a reader looking for created orders finds it).
    """

    venue_ref: str


class JOrderRefused(_Record, tag=2, frozen=True):
    """The gateway or risk refused the order; it never reached a venue."""

    order_id: int


class JSentNew(_Record, tag=3, frozen=True):
    """The order was queued for the venue under ``venue_ref``."""

    order_id: int
    venue_ref: str


class JSentCancel(_Record, tag=4, frozen=True):
    """A cancel for the order was queued for the venue (under ``venue_ref``, if the venue gives cancels one)."""

    order_id: int
    venue_ref: str = ""


class JSentReplace(_Record, tag=5, frozen=True):
    """A replace to total ``qty`` at ``price`` was queued for the venue under ``venue_ref``."""

    order_id: int
    qty: int
    price: int
    venue_ref: str


class JCancelQueued(_Record, tag=6, frozen=True):
    """A cancel was accepted but held back (replace in flight or venue down)."""

    order_id: int


class JVenueEvent(_Record, tag=7, frozen=True):
    """A normalised event from a venue, applied to its order."""

    venue: str
    event: VenueEvent


class JVenueApplied(JVenueEvent, tag=14, frozen=True):
    """A normalised venue event applied to its order, and the strategy events it produced from ``seq`` on.

    One record instead of ``JVenueEvent`` + one ``JStrategyEvent`` per event it produced: those
    events (the order's Accepted, Executed, ... and the rare second one, ``gateway.venue_apply``)
    follow from the event and the order, so recovery produces them again, numbered from ``seq``
    (the owning strategy's next ``seq`` when the event arrived; nothing when it was out of place).
    """

    seq: int


class JStrategyEvent(_Record, tag=8, frozen=True):
    """An order event sent to a strategy (kept so reconnecting strategies get what they missed)."""

    strategy_id: str
    event: OrderEvent


class JReplaceRejected(_Record, tag=9, frozen=True):
    """A replace refused by the gateway or risk before it was sent (the order is unchanged)."""

    order_id: int


class JTradingState(_Record, tag=10, frozen=True):
    """The kill switch or a resume changed the run-time trading state (``account`` "" = firm-wide)."""

    account: str
    state: str
    who: str
    reason: str


class JCancelRefused(_Record, tag=12, frozen=True):
    """A held cancel could not be sent (the venue adapter refused it); the order is as before the hold."""

    order_id: int


class JVenueEpoch(_Record, tag=11, frozen=True):
    """The venue's message numbering restarted as ``epoch``; later ``venue_seq`` values count from it."""

    venue: str
    epoch: str


class JRequest(_Record, tag=13, frozen=True):
    """(Protocol version 3) Strategy ``strategy_id`` processed its request number ``req_seq``.

    ``record`` is the record that decided the request (the order created; the cancel sent or
    held; the replace sent; or the order event that answered it), journaled inside this one so
    that the number and the decision reach the disk together or not at all, whatever prefix of a
    batch a crash leaves. A MassCancel's ``answer`` (not an order event, so not in the strategy's
    event log) is kept here, after the cancels it caused, for a re-sent duplicate to be answered
    again. With neither, the request left no other record. Versions 1 and 2 never write it.
    """

    strategy_id: str
    req_seq: int
    record: JOrderSent | JOrderCreated | JSentCancel | JCancelQueued | JSentReplace | JStrategyEvent | None = None
    answer: MassCancelAck | MassCancelRejected | None = None


JournalRecord = (
    JOrderCreated
    | JOrderSent
    | JVenueApplied
    | JOrderRefused
    | JSentNew
    | JSentCancel
    | JSentReplace
    | JCancelQueued
    | JVenueEvent
    | JStrategyEvent
    | JReplaceRejected
    | JTradingState
    | JVenueEpoch
    | JCancelRefused
    | JRequest
)


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
    elif kind is JSentReplace:
        assert isinstance(rec, JSentReplace)
        request_replace(order, rec.qty, rec.price, rec.venue_ref)
    elif kind is JCancelQueued:
        if can(order, OrderInput.HOLD_CANCEL):  # journals of earlier versions repeat it for a cancel already held
            hold_cancel(order)
    elif kind is JCancelRefused:
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


class JournalCorruptError(Exception):
    """The journal has a damaged record before its tail: an operator must look at it."""


class Journal(Protocol):
    """What the engine writes through and recovery reads back: the contract of every journal.

    ``tests/test_journal_contract.py`` runs one suite over every implementation (``FileJournal``,
    ``NullJournal``, and whatever comes next). ``durable`` says whether what was flushed is kept:
    a journal that keeps nothing reads back nothing, and the suite checks exactly that.
    """

    durable: bool
    records_written: int
    """Records appended so far (this process)."""
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

    def append(self, record: JournalRecord) -> None:
        """Count ``record`` and discard it."""
        self.records_written += 1

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
        self._buf = bytearray()
        self._encode_into = msgspec.msgpack.Encoder().encode_into
        self.fsync = fsync = FsyncPolicy(fsync)
        self.records_written = 0
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
        self._sync_thread: threading.Thread | None = None
        self._trim_zero_padding()
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
        buf = self._buf
        if not buf:
            return
        written = os.write(self._fd, buf)
        self.bytes_written += written
        if written == len(buf):
            buf.clear()
        else:
            del buf[:written]
            while buf:
                written = os.write(self._fd, buf)
                self.bytes_written += written
                del buf[:written]
        if self.fsync is _BATCH:
            self._sync()

    @property
    def pending_bytes(self) -> int:
        """Return how many bytes are waiting to be written."""
        return len(self._buf)

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
        self._base = -1

    def tell(self) -> int:
        """Return the file offset where the pending batch will go (one fstat, the first time only)."""
        if self._base < 0:
            self._base = os.fstat(self._fd).st_size - self.bytes_written
        return self._base + self.bytes_written

    def reader(self, start: int) -> JournalReader:
        """Return a reader of the file from offset ``start`` on."""
        return JournalReader(self.path, start)

    def close(self) -> None:
        """Flush, sync and close the file."""
        self.flush()
        self._closing = True
        self._stop.set()
        if self._sync_thread is not None:
            self._sync_thread.join(timeout=1)
        self._sync()
        os.close(self._fd)


class MmapJournal:
    """Append records to a memory-mapped, preallocated file; ``flush`` copies the batch into the mapping.

    No system call per batch: the copy puts the records in the page cache, where a process crash
    cannot lose them. The fsync policy runs on the loop thread only for ``batch``; ``interval`` is
    a syncer process (``gateway.journal_syncer``) that wakes every ``fsync_interval_ms`` on its own
    clock and syncs if the data end the loop stored in the shared control page moved (nothing
    signals it per batch); after each sync it writes the synced end into the header. A full disk
    shows as the OSError of ``flush`` when the file must grow (``posix_fallocate``): the batch stays
    pending, as for ``FileJournal``.
    """

    durable = True

    def __init__(
        self,
        path: str | Path,
        *,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval_ms: int = 10,
        grow_bytes: int = GROW_BYTES,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._grow_bytes = max(mmap.PAGESIZE, grow_bytes - grow_bytes % mmap.PAGESIZE)
        self._buf = bytearray()
        self._pending = 0
        """``len(self._buf)``, kept by ``append`` and ``flush`` (a length without a call)."""
        self._encode_into = msgspec.msgpack.Encoder().encode_into
        self.fsync = fsync = FsyncPolicy(fsync)
        self.records_written = 0
        self.bytes_written = 0
        size = os.fstat(fd).st_size
        if size == 0:
            os.pwrite(fd, mmap_header(DATA_START).ljust(DATA_START, b"\0"), 0)
            size = DATA_START
        self._header = os.pread(fd, len(MMAP_MAGIC), 0) == MMAP_MAGIC
        """False for a file an earlier version began today (no header page: records from byte 0)."""
        self._head_map = mmap.mmap(fd, DATA_START) if self._header and size >= DATA_START else None
        """The header page on its own mapping (never remapped): a sync on this process's thread ("batch", close)
        updates the synced end with a store; the syncer process (``"interval"``) ``pwrite``s it."""
        self._size = size
        self._end = -1
        """Where the next batch goes (-1: not known yet; ``cut_torn_tail`` or the first flush finds it)."""
        self._synced_end = -1
        self._map: mmap.mmap | None = None
        self._closing = False
        self._local_fsyncs = 0
        self._local_synced = 0
        self._fsync_ns = SparseHistogram()
        self._ctrl_map: mmap.mmap | None = None
        self._ctrl: memoryview = memoryview(bytearray(8 * _syncer.COUNTS)).cast("Q")
        """Where ``flush`` stores the data end and ``bytes_written`` (two stores, no call): the syncer
        process's control block under "interval", a local array otherwise."""
        self._syncer: subprocess.Popen[bytes] | None = None
        self._ctrl_fd = -1
        self._interval_ms = fsync_interval_ms
        self._syncer_exits = 0
        """Times the syncer process was found gone while the journal was open (each counted as a failed sync)."""
        if fsync is FsyncPolicy.INTERVAL:
            self._ctrl_fd = ctrl_fd = os.memfd_create("journal-syncer", os.MFD_CLOEXEC)
            os.ftruncate(ctrl_fd, _syncer.CTRL_BYTES)
            self._ctrl_map = ctrl_map = mmap.mmap(ctrl_fd, _syncer.CTRL_BYTES)
            self._ctrl = memoryview(ctrl_map).cast("Q")
            self._start_syncer()

    def _start_syncer(self) -> None:
        """Start the fsync process (``gateway.journal_syncer``) on the shared control block."""
        args = [
            str(self._fd),
            str(self._ctrl_fd),
            str(self._interval_ms),
            str(int(self._head_map is not None)),
            str(os.getpid()),
        ]
        self._syncer = subprocess.Popen(
            [sys.executable, "-m", "gateway.journal_syncer", *args],
            pass_fds=(self._fd, self._ctrl_fd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            cwd=_PROJECT_ROOT,
            env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},  # no Onload: it has no sockets
        )

    def _check_syncer(self) -> None:
        """Start the syncer again if it has exited while the journal is open (read with the counters: cold)."""
        syncer = self._syncer
        if syncer is None or syncer.poll() is None:
            return
        self._syncer_exits += 1
        log.critical(
            "journal %s: the fsync process %d exited (%s): nothing was synced since; starting a new one",
            self.path,
            syncer.pid,
            syncer.returncode,
        )
        self._start_syncer()

    def append(self, record: JournalRecord) -> None:
        """Encode ``record`` into the pending batch."""
        buf = self._buf
        start = self._pending  # len(buf), kept: no call
        body = start + HEADER_SIZE
        self._encode_into(record, buf, body)
        payload = buf[body:]  # a small copy is cheaper than a memoryview slice for records this size
        length = len(payload)
        _pack_header(buf, start, length, _crc32(payload))
        self._pending = body + length
        self.records_written += 1

    def flush(self) -> None:
        """Copy the pending batch into the mapping (and fdatasync it under the "batch" policy).

        Raises OSError (the batch stays pending) when the file cannot grow (disk full) or, under
        "batch", cannot be synced; the caller must not let anything depending on it leave.
        """
        size = self._pending
        if not size:
            return
        buf = self._buf
        end = self._end
        if end < 0:
            end = self._end = data_end(self.path)
        stop = end + size
        if stop > self._size or self._map is None:
            self._grow(stop)
        self._map[end:stop] = buf  # type: ignore[index]  # mapped by _grow
        self._end = stop
        self.bytes_written = written = self.bytes_written + size
        ctrl = self._ctrl  # after the copy: the syncer never syncs short of what it reads here
        ctrl[0] = stop  # journal_syncer.END
        ctrl[1] = written  # journal_syncer.WRITTEN
        buf.clear()
        self._pending = 0
        if self.fsync is _BATCH:
            self._sync()

    @property
    def pending_bytes(self) -> int:
        """Return how many bytes are waiting to be copied."""
        return self._pending

    def _grow(self, needed: int) -> None:
        """Map the file, preallocating it to hold at least ``needed`` bytes plus one growth step."""
        size = self._size
        if needed > size:
            target = needed + self._grow_bytes
            target -= target % mmap.PAGESIZE
            os.posix_fallocate(self._fd, size, target - size)  # OSError (ENOSPC): nothing changed
            size = target
        mapped = mmap.mmap(self._fd, size)
        if self._map is not None:
            self._map.close()
        self._map = mapped
        self._size = size

    @property
    def fsyncs(self) -> int:
        """Return the fdatasyncs done (by the syncer process and on the loop thread)."""
        self._check_syncer()
        return self._local_fsyncs + self._ctrl[_syncer.FSYNCS]

    @property
    def fsync_failures(self) -> int:
        """Return the fdatasyncs of the syncer process that failed, and its exits (the loop's raise instead)."""
        self._check_syncer()
        return self._ctrl[_syncer.FAILURES] + self._syncer_exits

    @property
    def bytes_synced(self) -> int:
        """Return ``bytes_written`` as it was when the last successful fdatasync began (on disk for sure)."""
        return max(self._local_synced, self._ctrl[_syncer.SYNCED_WRITTEN])

    @property
    def fsync_ns(self) -> SparseHistogram:
        """Return the fdatasync durations (ns): the syncer process's and the loop thread's."""
        merged = SparseHistogram()
        counts = merged.counts
        counts.update(self._fsync_ns.counts)
        if self._ctrl_map is not None:
            dense = self._ctrl[_syncer.COUNTS :].tolist()
            for index in itertools.compress(range(len(dense)), dense):
                counts[index] = counts.get(index, 0) + dense[index]
        return merged

    def _stop_syncer(self) -> None:
        """Stop the syncer process (at once: a sync it was doing is done again by the caller if needed)."""
        syncer = self._syncer
        if syncer is not None:
            self._syncer = None
            syncer.kill()
            syncer.wait()

    def _sync(self) -> None:
        """fdatasync the file on this thread, then record how far the data is durable in the header (raises OSError)."""
        end = self._end
        written = self.bytes_written
        started = monotonic_ns()
        os.fdatasync(self._fd)
        self._fsync_ns.record(monotonic_ns() - started)
        self._local_fsyncs += 1
        self._local_synced = written
        if end > self._synced_end:
            self._synced_end = end
            head = self._head_map
            if head is not None:  # durable with the next sync: never claims more than is on disk
                head[: MMAP_HEADER.size] = mmap_header(end)

    def closing(self) -> bool:
        """Return True once ``close`` has begun."""
        return self._closing

    def records(self, scan: JournalScan | None = None) -> Iterator[JournalRecord]:
        """Yield every record the file holds (see ``read_journal``)."""
        return read_journal(self.path, scan)

    def tell(self) -> int:
        """Return the file offset where the pending batch will go (where the data ends)."""
        if self._end < 0:
            self._end = data_end(self.path)
        return self._end

    def reader(self, start: int) -> JournalReader:
        """Return a reader of the file from offset ``start`` on (what ``flush`` copied is in the page cache)."""
        return JournalReader(self.path, start)

    def cut_torn_tail(self, scan: JournalScan) -> None:
        """Continue after the last good record ``records`` found: cut what follows (a torn tail, zeros)."""
        good = scan.good_bytes
        if self._map is not None:  # already appending: zero what follows the last good record
            if good < self._end:
                self._map[good : self._end] = bytes(self._end - good)
            self._end = self._ctrl[0] = good
            return
        if self._size > good:
            os.ftruncate(self._fd, good)
            os.fsync(self._fd)
            self._size = good
        self._end = self._ctrl[0] = good

    def close(self) -> None:
        """Flush, sync, cut the unwritten part off the file and close it."""
        self.flush()
        self._closing = True
        self._stop_syncer()
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._head_map is not None:
            self._head_map.close()
            self._head_map = None
        if self._end >= 0 and self._size > self._end:
            os.ftruncate(self._fd, self._end)  # a cleanly closed journal ends with its last record
        self._sync()
        if self._header and self._end >= 0:
            os.pwrite(self._fd, mmap_header(self._end), 0)
        os.fsync(self._fd)  # the header, and the file's size after the cut
        os.close(self._fd)
        self._release_ctrl()

    def _release_ctrl(self) -> None:
        """Keep the syncer's last counters in a local array and unmap its control block."""
        if self._ctrl_map is not None:
            kept = bytearray(self._ctrl.tobytes())
            self._ctrl.release()
            self._ctrl_map.close()
            self._ctrl_map = None
            self._ctrl = memoryview(kept).cast("Q")
        if self._ctrl_fd >= 0:
            os.close(self._ctrl_fd)
            self._ctrl_fd = -1


def open_journal(
    path: str | Path, *, storage: str = "mmap", fsync: FsyncPolicy = FsyncPolicy.INTERVAL, fsync_interval_ms: int = 10
) -> Journal:
    """Open today's journal with ``storage`` (``mmap``: ``MmapJournal``, ``file``: ``FileJournal``)."""
    if storage == "mmap":
        return MmapJournal(path, fsync=fsync, fsync_interval_ms=fsync_interval_ms)
    if storage == "file":
        return FileJournal(path, fsync=fsync, fsync_interval_ms=fsync_interval_ms)
    raise ValueError(f"unknown journal storage {storage!r} (mmap or file)")


class JournalScan(msgspec.Struct):
    """What reading a journal found."""

    records: int = 0
    good_bytes: int = 0
    """File offset just after the last good record (where appending continues)."""
    torn_bytes: int = 0
    """Bytes after the last good record that were cut off (a torn final write; in an ``MmapJournal`` file the
    zeros after it, its never-written part, are not counted)."""
    synced_bytes: int = -1
    """An ``MmapJournal`` file: the end of the data its header says was made durable (-1: no header)."""
    dropped_records: int = 0
    """CRC-valid records found past the damage that ended an ``MmapJournal`` file's unsynced tail (cut too)."""


_record_decoder = msgspec.msgpack.Decoder(JournalRecord)
_ZEROS: Final = bytes(1 << 16)


def mmap_header(synced: int) -> bytes:
    """Return the header of an ``MmapJournal`` file whose data up to ``synced`` is durable."""
    head = MMAP_HEADER.pack(MMAP_MAGIC, MMAP_FORMAT, synced, 0)[:-4]
    return head + _crc32(head).to_bytes(4, "big")


def _layout(data: bytes | memoryview, path: str | Path) -> tuple[int, int]:
    """Return (where the records start, the synced end: -1 for a file without the ``MmapJournal`` header)."""
    if bytes(data[: len(MMAP_MAGIC)]) != MMAP_MAGIC:
        return 0, -1
    if len(data) < DATA_START:
        raise JournalCorruptError(f"journal {path}: header page cut short ({len(data)} bytes)")
    _magic, version, synced, crc = MMAP_HEADER.unpack_from(data, 0)
    if _crc32(bytes(data[: MMAP_HEADER.size - 4])) != crc or version != MMAP_FORMAT or synced < DATA_START:
        raise JournalCorruptError(f"journal {path}: damaged header (format {version}, synced end {synced})")
    return DATA_START, synced


def _all_zero(view: memoryview, start: int, end: int) -> bool:
    """Return True if ``view[start:end]`` holds only zero bytes."""
    while start < end:
        stop = min(end, start + len(_ZEROS))
        if view[start:stop] != _ZEROS[: stop - start]:
            return False
        start = stop
    return True


def _last_nonzero_end(view: memoryview, start: int, end: int) -> int:
    """Return the offset after the last non-zero byte of ``view[start:end]`` (``start`` if all are zero)."""
    while end > start:
        chunk = max(start, end - len(_ZEROS))
        if view[chunk:end] != _ZEROS[: end - chunk]:
            return chunk + len(bytes(view[chunk:end]).rstrip(b"\0"))
        end = chunk
    return start


def read_journal(path: str | Path, scan: JournalScan | None = None) -> Iterator[JournalRecord]:
    """Yield every good record of ``path``; fill ``scan``; raise JournalCorruptError on mid-file damage.

    Zeros after the last record are the unwritten part of a preallocated (``MmapJournal``) file,
    not damage. Damage with no good record after it is a torn tail (cut). Damage followed by good
    records is corruption, except past the synced end an ``MmapJournal`` header names: there it is
    what a power failure left of the unsynced tail (pages written back out of order), cut as a
    torn tail with a warning that counts the good records it held.
    """
    scan = scan if scan is not None else JournalScan()
    data = Path(path).read_bytes() if Path(path).exists() else b""
    view = memoryview(data)
    end = len(data)
    pos, synced = _layout(view, path)
    preallocated = synced >= 0
    """An MmapJournal file: zeros after the records are its unwritten part. (In a file without the header
    page zeros are a torn tail, cut with it, so that ``FileJournal`` appends right after the last record.)"""
    scan.synced_bytes = synced
    scan.good_bytes = pos
    while pos < end:
        problem = ""
        if end - pos < HEADER_SIZE:
            if preallocated and _all_zero(view, pos, end):
                return
            problem = "partial record header"
        else:
            length, crc = RECORD_HEADER.unpack_from(view, pos)
            stop = pos + HEADER_SIZE + length
            if preallocated and length == 0 and crc == 0 and _all_zero(view, pos, end):
                return  # the rest of the file was never written
            if length == 0:
                problem = "zero-length record (never written)"
            elif length > MAX_RECORD_SIZE:
                problem = f"record length {length} is implausible"
            elif stop > end:
                problem = "record runs past the end of the file"
            elif _crc32(view[pos + HEADER_SIZE : stop]) != crc:
                problem = "checksum mismatch"
        if problem:
            _damage(view, pos, end, synced, path, problem, scan)
            return
        try:
            record = _record_decoder.decode(view[pos + HEADER_SIZE : stop])
        except msgspec.DecodeError as exc:
            raise JournalCorruptError(f"journal {path}: undecodable record at byte {pos}: {exc}") from exc
        pos = stop
        scan.records += 1
        scan.good_bytes = pos
        yield record


def _damage(
    view: memoryview, pos: int, end: int, synced: int, path: str | Path, problem: str, scan: JournalScan
) -> None:
    """Decide what a damaged record at ``pos`` is: a tail to cut (fill ``scan``), or corruption (raise)."""
    written = _last_nonzero_end(view, pos, end)
    if synced >= 0 and pos < synced:
        raise JournalCorruptError(
            f"journal {path}: damaged record at byte {pos}, before the end of the data made durable "
            f"({synced}): {problem}"
        )
    following = _good_records_after(view, pos, written)
    if following and synced < 0:
        raise JournalCorruptError(f"journal {path}: damaged record at byte {pos}: {problem}")
    scan.torn_bytes = (written if synced >= 0 else end) - pos  # an MmapJournal's zeros are not torn bytes
    end = written
    if following:
        scan.dropped_records = following
        log.warning(
            "journal %s: damaged record at byte %d (%s) after the last synced byte %d: the unsynced tail of a "
            "power failure; cutting %d bytes, including %d CRC-valid records",
            path,
            pos,
            problem,
            synced,
            end - pos,
            following,
        )
    else:
        log.warning("journal %s: torn record at byte %d (%s); ignoring the tail", path, pos, problem)


def _good_records_after(view: memoryview, pos: int, end: int) -> int:
    """Return how many CRC-valid records follow in a chain from the first one found after ``pos`` (0: none)."""
    probe = pos + 1
    while probe + HEADER_SIZE <= end:
        length, crc = RECORD_HEADER.unpack_from(view, probe)
        stop = probe + HEADER_SIZE + length
        if 0 < length <= MAX_RECORD_SIZE and stop <= end and _crc32(view[probe + HEADER_SIZE : stop]) == crc:
            count = 0
            while probe + HEADER_SIZE <= end:
                length, crc = RECORD_HEADER.unpack_from(view, probe)
                stop = probe + HEADER_SIZE + length
                if not (0 < length <= MAX_RECORD_SIZE and stop <= end):
                    break
                if _crc32(view[probe + HEADER_SIZE : stop]) != crc:
                    break
                count += 1
                probe = stop
            return count
        probe += 1
    return 0


def data_end(path: str | Path) -> int:
    """Return where the records of ``path`` end, by their lengths alone (no CRC check): where to append.

    Stops at zeros (the unwritten part of a preallocated file), at a length that is implausible
    or runs past the end of the file (a torn last record: appending overwrites it).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    view = memoryview(data)
    size = len(data)
    pos = DATA_START if bytes(view[: len(MMAP_MAGIC)]) == MMAP_MAGIC else 0
    unpack_from = RECORD_HEADER.unpack_from
    while pos + HEADER_SIZE <= size:
        length, crc = unpack_from(view, pos)
        if (length == 0 and crc == 0) or length > MAX_RECORD_SIZE or pos + HEADER_SIZE + length > size:
            break
        pos += HEADER_SIZE + length
    return min(pos, size)


def truncate_torn_tail(path: str | Path, good_bytes: int) -> None:
    """Cut ``path`` back to its last good record so new appends start clean."""
    with open(path, "r+b") as fh:
        fh.truncate(good_bytes)
        fh.flush()
        os.fsync(fh.fileno())


READ_CHUNK: Final = 64 << 10
"""Bytes a ``JournalReader`` asks the kernel for at a time."""


class JournalReader:
    """Read the records of a journal file from a position on, a bounded number at a time (``read``).

    The replay of events released from memory reads with it (``gateway.replay``): from a position
    the engine noted (``Journal.tell``), forward, as far as it needs and no further. Records are
    CRC-checked as ``read_journal`` checks them; the reader stops at the end of the data (zeros of
    a preallocated file, end of file, a record still being written). A damaged record followed by
    more data raises JournalCorruptError: a replay never skips one.
    """

    def __init__(self, path: str | Path | None, start: int) -> None:
        self._fd = -1
        self._pos = start
        self._buf = b""
        """Bytes read from ``_buf_at`` on that no record has used yet."""
        self._buf_at = start
        self.done = path is None
        self._damage: JournalCorruptError | None = None
        """Damage found after good records: raised by the next ``read``."""
        self.bytes_read = 0
        self.path = path
        if path is None:
            return
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self.done = True
            return
        head = os.pread(self._fd, len(MMAP_MAGIC), 0)
        data_start = DATA_START if head == MMAP_MAGIC else 0
        self._pos = self._buf_at = max(start, data_start)

    def read(self, max_records: int) -> list[tuple[int, JournalRecord]]:
        """Return up to ``max_records`` (file offset, record) pairs; an empty list at the end of the data.

        Damage raises JournalCorruptError, but only once the good records before it were returned: a reader
        that has what it needs stops before it (e.g. a record being written while a worker thread reads).
        """
        out: list[tuple[int, JournalRecord]] = []
        if self._damage is not None:
            raise self._damage
        if self.done:
            return out
        try:
            self._read(max_records, out)
        except JournalCorruptError as exc:
            if not out:
                raise
            self._damage = exc
        return out

    def _read(self, max_records: int, out: list[tuple[int, JournalRecord]]) -> None:
        decode = _record_decoder.decode
        unpack_from = RECORD_HEADER.unpack_from
        while len(out) < max_records:
            offset = self._pos - self._buf_at
            buf = self._buf
            if len(buf) - offset < HEADER_SIZE and not self._fill(HEADER_SIZE):
                break
            buf = self._buf
            offset = self._pos - self._buf_at
            length, crc = unpack_from(buf, offset)
            if length == 0 or length > MAX_RECORD_SIZE:
                self._end_of_data(f"record length {length}")
                break
            stop = offset + HEADER_SIZE + length
            if stop > len(buf):
                if not self._fill(HEADER_SIZE + length):
                    break
                buf = self._buf
                offset = self._pos - self._buf_at
                stop = offset + HEADER_SIZE + length
            payload = memoryview(buf)[offset + HEADER_SIZE : stop]
            if _crc32(payload) != crc:
                self._end_of_data("checksum mismatch")
                break
            try:
                record = decode(payload)
            except msgspec.DecodeError as exc:
                raise JournalCorruptError(
                    f"journal {self.path}: undecodable record at byte {self._pos}: {exc}"
                ) from exc
            out.append((self._pos, record))
            self._pos += HEADER_SIZE + length

    def _fill(self, needed: int) -> bool:
        """Make ``needed`` bytes from ``_pos`` on available in ``_buf``; False (and done) at the end of the file."""
        keep = self._buf[self._pos - self._buf_at :]
        more = os.pread(self._fd, max(READ_CHUNK, needed - len(keep)), self._pos + len(keep))
        self.bytes_read += len(more)
        self._buf = keep + more
        self._buf_at = self._pos
        if len(self._buf) < needed:
            self.close()
            return False
        return True

    def _end_of_data(self, problem: str) -> None:
        """At ``_pos``: zeros to the end (the unwritten part) end the data; anything else is damage (raise)."""
        rest = self._buf[self._pos - self._buf_at :]
        if rest.strip(b"\0") or os.fstat(self._fd).st_size > self._pos + len(rest):
            tail = os.pread(self._fd, MAX_RECORD_SIZE, self._pos)
            if tail.strip(b"\0"):
                self.close()
                raise JournalCorruptError(f"journal {self.path}: damaged record at byte {self._pos}: {problem}")
        self.close()

    def close(self) -> None:
        """Release the file (the reader reads nothing more)."""
        self.done = True
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
