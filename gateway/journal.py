"""Append-only order journal: every input that changed order state, in order.

The engine writes one record per order event: a new order sent to its venue (``JOrderSent``:
created and sent in one record), a venue event applied to its order (``JVenueApplied``: the
strategy events it produced are not written again, recovery produces them with the same code),
and one per other decision (refused, cancel sent or held, replace sent or refused) with the
event the strategy got for it. Replaying the records rebuilds open orders, positions and
exposure, the per-strategy event sequence, and where each venue session should resume.

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

Durability (see docs/reliability.md):

* Records are handed to the kernel with ``os.write`` at the end of every batch,
  *before* the batch's bytes go to any venue or strategy. A process crash
  (``kill -9``, segfault) therefore loses nothing that left the gateway.
* ``fsync`` policy (``model.fsync.FsyncPolicy``) decides what a power failure can lose: ``"batch"`` fdatasyncs
  before the batch leaves (nothing, at a cost of a disk flush per batch);
  ``"interval"`` fdatasyncs from a background thread every ``fsync_interval_ms``
  (at most that window); ``"none"`` leaves it to the kernel's writeback.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec

from gateway.protocol.messages import OrderEvent
from model.clock import monotonic_ns
from model.fsync import FsyncPolicy
from model.order import ORDER_FIELDS, Order, OrderTicket, order_from_ticket, ticket
from model.venue_events import VenueEvent
from obs.histogram import SparseHistogram

log = logging.getLogger(__name__)

RECORD_HEADER: Final = struct.Struct(">II")
HEADER_SIZE: Final = RECORD_HEADER.size
_pack_header: Final = RECORD_HEADER.pack_into
_crc32: Final = zlib.crc32
MAX_RECORD_SIZE: Final = 1 << 20
_BATCH: Final = FsyncPolicy.BATCH
_INTERVAL: Final = FsyncPolicy.INTERVAL


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


class JOrderSent(JOrderCreated, tag=13, frozen=True):  # type: ignore[misc]  # as JOrderCreated
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
)


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
    bytes_synced: int
    """``bytes_written`` as it was when the last successful sync began (on disk for sure)."""
    fsyncs: int
    fsync_failures: int
    fsync_ns: SparseHistogram
    """Sync durations."""

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
        self._dirty = threading.Event()
        self._closing = False
        self._sync_thread: threading.Thread | None = None
        if fsync is FsyncPolicy.INTERVAL:
            self._interval_s = fsync_interval_ms / 1000
            self._sync_thread = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)
            self._sync_thread.start()

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
        elif self.fsync is _INTERVAL:
            self._dirty.set()

    @property
    def pending_bytes(self) -> int:
        """Return how many bytes are waiting to be written."""
        return len(self._buf)

    def _sync_loop(self) -> None:
        while not self._closing:
            self._dirty.wait()
            if self.closing():
                break
            self._dirty.clear()
            try:
                self._sync()
            except OSError:
                self.fsync_failures += 1
                log.exception("journal %s: fdatasync failed", self.path)
            threading.Event().wait(self._interval_s)

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

    def close(self) -> None:
        """Flush, sync and close the file."""
        self.flush()
        self._closing = True
        self._dirty.set()
        if self._sync_thread is not None:
            self._sync_thread.join(timeout=1)
        self._sync()
        os.close(self._fd)


class JournalScan(msgspec.Struct):
    """What reading a journal found."""

    records: int = 0
    good_bytes: int = 0
    torn_bytes: int = 0
    """Bytes after the last good record that were cut off (a torn final write)."""


_record_decoder = msgspec.msgpack.Decoder(JournalRecord)


def read_journal(path: str | Path, scan: JournalScan | None = None) -> Iterator[JournalRecord]:
    """Yield every good record of ``path``; fill ``scan``; raise JournalCorruptError on mid-file damage."""
    scan = scan if scan is not None else JournalScan()
    data = Path(path).read_bytes() if Path(path).exists() else b""
    view = memoryview(data)
    pos = 0
    end = len(data)
    while pos < end:
        problem = ""
        if end - pos < HEADER_SIZE:
            problem = "partial record header"
        else:
            length, crc = RECORD_HEADER.unpack_from(view, pos)
            stop = pos + HEADER_SIZE + length
            if length > MAX_RECORD_SIZE:
                problem = f"record length {length} is implausible"
            elif stop > end:
                problem = "record runs past the end of the file"
            elif zlib.crc32(view[pos + HEADER_SIZE : stop]) != crc:
                problem = "checksum mismatch"
        if problem:
            if _looks_like_tail(view, pos, end):
                scan.torn_bytes = end - pos
                log.warning("journal %s: torn record at byte %d (%s); ignoring the tail", path, pos, problem)
                return
            raise JournalCorruptError(f"journal {path}: damaged record at byte {pos}: {problem}")
        try:
            record = _record_decoder.decode(view[pos + HEADER_SIZE : stop])
        except msgspec.DecodeError as exc:
            raise JournalCorruptError(f"journal {path}: undecodable record at byte {pos}: {exc}") from exc
        pos = stop
        scan.records += 1
        scan.good_bytes = pos
        yield record


def _looks_like_tail(view: memoryview, pos: int, end: int) -> bool:
    """Return True if no valid record starts anywhere after ``pos`` (so the damage is a torn tail)."""
    probe = pos + 1
    while probe + HEADER_SIZE <= end:
        length, crc = RECORD_HEADER.unpack_from(view, probe)
        stop = probe + HEADER_SIZE + length
        if 0 < length <= MAX_RECORD_SIZE and stop <= end and zlib.crc32(view[probe + HEADER_SIZE : stop]) == crc:
            return False
        probe += 1
    return True


def truncate_torn_tail(path: str | Path, good_bytes: int) -> None:
    """Cut ``path`` back to its last good record so new appends start clean."""
    with open(path, "r+b") as fh:
        fh.truncate(good_bytes)
        fh.flush()
        os.fsync(fh.fileno())
