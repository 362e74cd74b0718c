"""``MmapJournal``: the journal on a memory-mapped, preallocated file (the gateway's default storage).

Compiled with mypyc (``obs.native``): ``append`` and ``flush`` run twice per order round trip. The
records (``gateway.journal_records``), the file format and its reading (``gateway.journal_read``) are
interpreted; ``gateway.journal`` re-exports ``MmapJournal`` with them.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, SupportsIndex

import msgspec

from gateway import journal_syncer as _syncer
from gateway.journal_file import check_and_restore, check_journal_file, restore_journal_file
from gateway.journal_lock import lock_journal_file
from gateway.journal_pack import PACK_FIELDS, PACK_REQUEST, PACKER
from gateway.journal_read import (
    _BATCH,
    _PROJECT_ROOT,
    DATA_START,
    GROW_BYTES,
    HEADER_SIZE,
    MMAP_HEADER,
    MMAP_MAGIC,
    OWNER_AT,
    JournalCloseError,
    JournalOwnerError,
    JournalReader,
    JournalScan,
    _crc32,
    _pack_header,
    count_records,
    data_end,
    log,
    mmap_header,
    owner_block,
    read_journal,
    read_owner,
)
from gateway.journal_records import JOrderSent, JournalRecord, JRequest
from model.clock import monotonic_ns
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from model.preallocate import log_growth, preallocate_what_fits
from obs.histogram import SparseHistogram, merge_dense

# Final aliases of names read per record: compiled, a static read instead of a lookup in the module's globals dict
_HEADER_SIZE: Final = HEADER_SIZE
_crc32_f: Final[Callable[[bytearray], SupportsIndex]] = _crc32
"""Typed to return an object: the CRC goes to ``_pack_header_f`` as the int object it is (no unboxing, no new one)."""
_pack_header_f: Final = _pack_header
_BATCH_F: Final = _BATCH
_PACKER: Final = PACKER
_PACK_FIELDS: Final = PACK_FIELDS
_PACK_REQUEST: Final = PACK_REQUEST
_JOrderSent: Final = JOrderSent
_JRequest: Final = JRequest
KEEP_BUFFER_BYTES: Final = 64 * 1024
"""``flush`` keeps the batch buffer's allocation up to this size (a larger one, after a burst, is freed)."""
TRIM_STEP_BYTES: Final = 2 << 20
"""The most written pages one ``release_pages`` call gives back (~40 us of page-table work per MiB measured)."""


_FIRST_RELEASABLE: Final = -(-DATA_START // mmap.PAGESIZE) * mmap.PAGESIZE
"""The first page ``release_pages`` may release: past the header, on a page boundary of this kernel (4 KiB on
x86_64; 16 or 64 KiB on some arm64 kernels, where ``DATA_START`` is not one and ``madvise`` would refuse)."""


_prepare_supported: Callable[[], int] = _syncer.prepare_supported
"""Asked once per journal opened (cold): 0, or the errno of a kernel without ``MADV_POPULATE_READ`` (tests swap it)."""
_PREPARE_LOGGED: set[str] = set()

SYNCER_STEADY_S: Final = 60.0
"""A helper process that lived this long before it exited is started again at once."""
SYNCER_FIRST_RETRY_S: Final = 0.25
"""After a second exit within ``SYNCER_STEADY_S`` of its start, wait this long before starting the next one,
doubling at each exit in a row up to ``SYNCER_LAST_RETRY_S`` (a helper that cannot start is not spawned from the
loop four times a second)."""
SYNCER_LAST_RETRY_S: Final = 30.0
SYNCER_RELOG_S: Final = 60.0
"""At most one log line about the helper's exits per this many seconds (the count of the others in it)."""


def _log_prepare_off(problem: str) -> None:
    """Log once per process that the journal's pages are not prepared ahead, and why."""
    if problem in _PREPARE_LOGGED:
        return
    _PREPARE_LOGGED.add(problem)
    log.warning(
        "journal: pages ahead of the write position are not prepared (%s): the first write into each new page "
        "faults it in on the order's flush (a stall of up to a few ms every few MiB; docs/performance.md)",
        problem,
    )


class MmapJournal:
    """Append records to a memory-mapped, preallocated file; ``flush`` copies the batch into the mapping.

    No system call per batch: the copy puts the records in the page cache, where a process crash
    cannot lose them. The fsync policy runs on the loop thread only for ``batch``; ``interval`` is
    a syncer process (``gateway.journal_syncer``) that wakes every ``fsync_interval_ms`` on its own
    clock and syncs if the data end the loop stored in the shared control page moved (nothing
    signals it per batch); after each sync it writes the synced end into the header. Under every policy
    the same process (``prepare_ahead`` > 0, the kernel having ``MADV_POPULATE_READ``) keeps the file's next
    ``prepare_ahead`` bytes past the data end in the page cache, so ``flush`` rarely meets a page the page
    cache lacks; the mapping is ``MADV_RANDOM``, so one it meets costs a page, not a read-around. A full disk
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
        owner: str = "",
        prepare_ahead: int = _syncer.PREPARE_AHEAD,
        read_around: bool = False,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            lock_journal_file(fd, self.path)  # before anything is read or written: one gateway per journal file
        except BaseException:
            os.close(fd)
            raise
        self._grow_bytes = max(mmap.PAGESIZE, grow_bytes - grow_bytes % mmap.PAGESIZE)
        self._buf = bytearray()
        self._pending = 0
        """The pending batch's length, kept by ``append`` and ``flush`` (a length without a call): ``_buf[:_pending]``
        is the batch (``flush`` keeps the buffer's old bytes, which the next ``append`` overwrites)."""
        self._encode_into: Callable[..., None] = msgspec.msgpack.Encoder().encode_into  # any offset object
        self.fsync = fsync = FsyncPolicy(fsync)
        self.records_written = 0
        self.records_flushed = 0
        """``records_written`` as it was after the last flush that copied its batch (``Journal.records_flushed``):
        set once per batch, never per record, so that ``append`` stays as it is."""
        self.bytes_written = 0
        size = os.fstat(fd).st_size
        if size == 0:
            page = bytearray(mmap_header(DATA_START).ljust(DATA_START, b"\0"))
            if owner:
                block = owner_block(owner)
                page[OWNER_AT : OWNER_AT + len(block)] = block
            os.pwrite(fd, page, 0)
            size = DATA_START
        self._header = os.pread(fd, len(MMAP_MAGIC), 0) == MMAP_MAGIC
        if self._header and owner:
            self._check_owner(owner)
        """False for a file an earlier version began today (no header page: records from byte 0)."""
        self._head_map = mmap.mmap(fd, DATA_START) if self._header and size >= DATA_START else None
        """The header page on its own mapping (never remapped): a sync on this process's thread ("batch", close)
        updates the synced end with a store; the syncer process (``"interval"``) ``pwrite``s it."""
        self._size = size
        self._end = -1
        """Where the next batch goes (-1: not known yet; ``cut_torn_tail`` or the first flush finds it)."""
        self._synced_end = -1
        self._map: mmap.mmap | None = None
        self._spare: list[int] = []
        """Descriptors held in reserve for ``_remap`` (Python's ``mmap`` dup()s the file's): two before the first
        mapping, one after. Closed just before a mapping is made, so it never fails on a full descriptor table."""
        self._keep_spare(2)
        self._released = _FIRST_RELEASABLE
        """Where the mapping's pages not yet released begin (``release_pages``; page-aligned, never the header's)."""
        self._release_problem = ""
        """Why ``madvise`` refused to release pages ("": it did not; e.g. pages locked by ``mlockall``): not retried."""
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
        self._syncer_started = 0.0
        self._syncer_gone = False
        self._syncer_quick_exits = 0
        """Exits in a row of helpers that lived less than ``SYNCER_STEADY_S``: the restart's backoff."""
        self._syncer_due = 0.0
        self._syncer_logged = -SYNCER_RELOG_S
        self._syncer_unlogged = 0
        self._lost = ""
        """Why the path no longer names the open file and it could not be restored ("": it does): ``flush`` raises."""
        self.file_restores = 0
        """Times the file was found deleted while open and restored (``check_file``)."""
        self._short_steps = 0
        """Growths in a row that took less than a full step (the disk nearly full): logged at the first, and when
        full steps fit again."""
        self.short_growths = 0
        """Every growth that took less than a full step (``gateway_disk_short_growths_total``, ops55)."""
        """Times the syncer process was found gone while the journal was open (each counted as a failed sync)."""
        self._read_around = read_around
        """False: the mapping is ``MADV_RANDOM`` (a fault on a page the page cache lacks reads that page's folio,
        not the file's read-around window: 8 MiB of zeros at once with ``read_ahead_kb`` 8192); True: as before
        stop 44 (the A/B bench's "before")."""
        self._prepare_ahead = prepare_ahead if prepare_ahead > 0 else 0
        self._prepare_problem = "" if self._prepare_ahead else "off"
        """Why the helper does not prepare pages ahead ("": it does), for ``gateway status``."""
        self._prepare_text = f"{self._prepare_ahead >> 20} MiB ahead"
        if self._prepare_ahead:
            err = _prepare_supported()
            if err:
                self._prepare_ahead = 0
                self._prepare_problem = f"off: the kernel lacks MADV_POPULATE_READ ({errno.errorcode.get(err, err)})"
                _log_prepare_off(self._prepare_problem)
        if fsync is FsyncPolicy.INTERVAL or self._prepare_ahead:
            self._ctrl_fd = ctrl_fd = os.memfd_create("journal-syncer", os.MFD_CLOEXEC)
            os.ftruncate(ctrl_fd, _syncer.CTRL_BYTES)
            self._ctrl_map = ctrl_map = mmap.mmap(ctrl_fd, _syncer.CTRL_BYTES)
            self._ctrl = memoryview(ctrl_map).cast("Q")
            self._start_syncer()

    def _check_owner(self, owner: str) -> None:
        """Close the file and raise JournalOwnerError if its header page names another owner (none: accepted)."""
        try:
            found = read_owner(os.pread(self._fd, DATA_START, 0), self.path)
        except Exception:
            os.close(self._fd)
            raise
        if found is not None and found != owner:
            os.close(self._fd)
            theirs, _, their_day = found.rpartition(" ")
            ours, _, our_day = owner.rpartition(" ")
            raise JournalOwnerError(
                f"journal {self.path} was begun by gateway {theirs!r} for session {their_day}, not by this gateway "
                f"{ours!r} for session {our_day}: journal files mixed up (renamed, copied or restored over another)"
            )

    def _start_syncer(self) -> None:
        """Start the fsync process (``gateway.journal_syncer``) on the shared control block."""
        args = [
            str(self._fd),
            str(self._ctrl_fd),
            str(self._interval_ms),
            str(int(self._head_map is not None)),
            str(os.getpid()),
            str(int(self.fsync is FsyncPolicy.INTERVAL)),
            str(self._prepare_ahead),
        ]
        self._syncer_started = time.monotonic()
        self._syncer_gone = False
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
        """Start the helper again if it has exited while the journal is open (read with the counters: cold).

        A helper that exits again soon after its start is started again after a backoff (0.25 s doubling to
        30 s), and its exits are logged at most once a minute with the count of the others.
        """
        syncer = self._syncer
        if syncer is None:
            return
        now = time.monotonic()
        if not self._syncer_gone:
            if syncer.poll() is None:
                return
            self._syncer_gone = True
            if now - self._syncer_started >= SYNCER_STEADY_S:
                self._syncer_quick_exits = 0
            quick = self._syncer_quick_exits
            delay = 0.0 if quick == 0 else min(SYNCER_FIRST_RETRY_S * (1 << min(quick - 1, 16)), SYNCER_LAST_RETRY_S)
            self._syncer_quick_exits = quick + 1
            self._syncer_due = now + delay
            interval = self.fsync is FsyncPolicy.INTERVAL
            if interval:
                self._syncer_exits += 1
            if now - self._syncer_logged < SYNCER_RELOG_S:
                self._syncer_unlogged += 1
            else:
                self._syncer_logged = now
                others = self._syncer_unlogged
                self._syncer_unlogged = 0
                again = "starting a new one" if delay == 0.0 else f"starting a new one in {delay:g} s"
                if others:
                    again += f" ({others} more exits since the last line)"
                if interval:
                    log.critical(
                        "journal %s: the fsync process %d exited (%s): nothing was synced since; %s",
                        self.path,
                        syncer.pid,
                        syncer.returncode,
                        again,
                    )
                else:  # it only prepared pages: nothing durable missed
                    log.warning(
                        "journal %s: its helper process %d exited (%s): no pages prepared ahead since; %s",
                        self.path,
                        syncer.pid,
                        syncer.returncode,
                        again,
                    )
        if now < self._syncer_due or self._closing:
            return
        self._start_syncer()

    def append(self, record: object) -> None:  # a JournalRecord: not checked against the union on each call
        """Encode ``record`` into the pending batch.

        The batch starts at offset 0 of ``_buf``, which ``flush`` does not empty (no free and no new
        allocation per batch): ``encode_into`` writes at ``body`` and truncates the buffer to its end. With
        the compiled modules, the C ``PACKER`` (``gateway.journal_pack``) writes the per-order records' same
        bytes in one call, and cuts the buffer there too; msgspec encodes the records it does not handle.
        Raises what msgspec raises (an int beyond MessagePack's: OverflowError) with the batch as it was.
        """
        buf = self._buf
        start = self._pending  # the batch's length, kept: no call
        packer = _PACKER
        if packer is not None:  # compiled: the header and body in one C call, msgspec's bytes (-1: not handled)
            end = packer(buf, start, record)
            if end >= 0:
                self._pending = end
                self.records_written += 1
                return
        body = start + _HEADER_SIZE
        at: SupportsIndex = body  # boxed once: the encoder's offset and the slice's start
        try:
            self._encode_into(record, buf, at)
        except BaseException:  # e.g. an int beyond MessagePack's (OverflowError): the batch ends where it did
            del buf[start:]  # not at the encoder's partial end, which the next flush would copy as if pending
            raise
        payload = buf[at:]  # a small copy is cheaper than a memoryview slice for records this size
        length = len(payload)
        _pack_header_f(buf, start, length, _crc32_f(payload))
        self._pending = body + length
        self.records_written += 1

    def append_fields(self, cls: type, a: object, b: object, c: object) -> None:
        """Encode the record ``cls(a, b, c)`` into the pending batch (the engine's ``JVenueApplied``).

        With the compiled modules, the C ``PACK_FIELDS`` writes ``append``'s bytes from the three values, no
        Struct made; for a value it does not handle (or pure Python) the record is made and ``append``-ed.
        """
        packer = _PACK_FIELDS
        if packer is not None:
            end = packer(self._buf, self._pending, cls, a, b, c)
            if end >= 0:
                self._pending = end
                self.records_written += 1
                return
        self.append(cls(a, b, c))

    def append_order_sent(
        self,
        req_seq: int,
        order_id: Any,
        strategy_id: str,
        cl_ord_id: str,
        account: str,
        venue: str,
        symbol: str,
        side: Side,
        qty: Any,
        price: Any,
        tif: TimeInForce,
        ord_type: OrderType,
        t_in: Any,
        venue_ref: str,
    ) -> None:
        """Encode ``JOrderSent(order_id, ..., venue_ref)`` into the pending batch, in ``JRequest(strategy_id,
        req_seq, ...)`` when ``req_seq`` is not 0 (protocol version 3).

        With the compiled modules, the C ``PACK_REQUEST``/``PACK_FIELDS`` write ``append``'s bytes from the
        parts, no Struct made; for a value they do not handle (or pure Python) the records are made and
        ``append``-ed. ``order_id``, ``qty``, ``price`` and ``t_in`` are ints, typed ``Any`` so that compiled
        they reach the C writer as the caller's int objects (a native int would be boxed anew: a new object
        for any value above 256).
        """
        buf = self._buf
        start = self._pending
        if req_seq:
            packer = _PACK_REQUEST
            if packer is not None:
                end = packer(
                    buf, start, strategy_id, req_seq, _JOrderSent, order_id, strategy_id, cl_ord_id, account, venue,
                    symbol, side, qty, price, tif, ord_type, t_in, venue_ref,
                )  # fmt: skip
                if end >= 0:
                    self._pending = end
                    self.records_written += 1
                    return
        else:
            packer = _PACK_FIELDS
            if packer is not None:
                end = packer(
                    buf, start, _JOrderSent, order_id, strategy_id, cl_ord_id, account, venue, symbol, side, qty,
                    price, tif, ord_type, t_in, venue_ref,
                )  # fmt: skip
                if end >= 0:
                    self._pending = end
                    self.records_written += 1
                    return
        sent = _JOrderSent(
            order_id, strategy_id, cl_ord_id, account, venue, symbol, side, qty, price, tif, ord_type, t_in, venue_ref
        )
        self.append(_JRequest(strategy_id, req_seq, sent) if req_seq else sent)

    def flush(self) -> None:
        """Copy the pending batch into the mapping (and fdatasync it under the "batch" policy).

        Raises OSError (the batch stays pending) when the file cannot grow (disk full) or, under
        "batch", cannot be synced; the caller must not let anything depending on it leave.
        """
        if self._lost:  # the file was deleted or replaced and not restored yet: fail closed (nothing leaves)
            raise OSError(errno.ENOENT, self._lost)
        size = self._pending
        if not size:
            return
        buf = self._buf
        end = self._end
        if end < 0:
            end = self._end = data_end(self.path)
        stop = end + size
        mapped = self._map
        if stop > self._size or mapped is None:
            mapped = self._grow(stop)
        mapped[end:stop] = buf
        self._end = stop
        self.bytes_written = written = self.bytes_written + size
        self.records_flushed = self.records_written
        ctrl = self._ctrl  # after the copy: the syncer never syncs short of what it reads here
        ctrl[_syncer.END] = stop
        ctrl[_syncer.WRITTEN] = written
        if size > KEEP_BUFFER_BYTES:  # after a burst: give the memory back; else the next append reuses it
            buf.clear()
        self._pending = 0
        if self.fsync is _BATCH_F:
            self._sync()

    @property
    def pending_bytes(self) -> int:
        """Return how many bytes are waiting to be copied."""
        return self._pending

    def _grow(self, needed: int) -> mmap.mmap:
        """Map the file, preallocating it to hold at least ``needed`` bytes plus one growth step; return the map."""
        size = self._size
        if needed > size:
            size = self._allocate(size, needed)
        return self._remap(size)

    def _remap(self, size: int) -> mmap.mmap:
        """Map the file's first ``size`` bytes in place of the old mapping; return the new map.

        The new mapping holds no page before the write position: ``release_pages`` starts at its page.
        """
        spare = self._spare
        if spare:  # the mapping's dup() takes this number: no new descriptor needed at the limit
            os.close(spare.pop())
        try:
            mapped = mmap.mmap(self._fd, size)
        except ValueError as exc:  # the file is shorter than it was made: another process cut it
            self._keep_spare(2 if self._map is None else 1)
            raise OSError(errno.EIO, f"journal {self.path}: the file was cut by another process ({exc})") from None
        except OSError:
            self._keep_spare(2 if self._map is None else 1)
            raise
        if not self._read_around:
            with contextlib.suppress(OSError):  # only a hint: the faults read around as before
                mapped.madvise(mmap.MADV_RANDOM)
        if self._map is not None:
            self._map.close()  # frees its duplicate: the spare taken above is put back in it
        self._map = mapped
        self._keep_spare(1)
        self._size = size
        if self._end >= 0:
            self._released = max(self._released, self._end - self._end % mmap.PAGESIZE)
        return mapped

    def _keep_spare(self, want: int) -> None:
        """Hold ``want`` reserve descriptors (as many as can be had: at the limit, fewer until one is freed)."""
        spare = self._spare
        while len(spare) < want:
            try:
                spare.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))  # not the file: a restore frees it
            except OSError:
                return

    def _drop_spare(self) -> None:
        """Close the reserve descriptors (``close``)."""
        for fd in self._spare:
            os.close(fd)
        self._spare.clear()

    def release_pages(self, most: int = TRIM_STEP_BYTES) -> int:
        """Release up to ``most`` bytes of the mapping's pages wholly behind the write position; return those left.

        Cold, from a timer (``gateway run``'s journal check): ``madvise(MADV_DONTNEED)`` drops the pages from
        this process's resident set only; on a shared file mapping their data stays in the page cache (written
        back if dirty, as before), where readers, the syncer and a restart find it. The header page and the page
        holding the write position are never released. Nothing happens per batch.
        """
        mapped = self._map
        end = self._end
        if mapped is None or end < 0 or self._closing or self._release_problem:
            return 0
        start = self._released
        stop = end - end % mmap.PAGESIZE
        if stop <= start:
            return 0
        upto = min(stop, start + most - most % mmap.PAGESIZE)
        try:
            mapped.madvise(mmap.MADV_DONTNEED, start, upto - start)
        except OSError as exc:  # EINVAL for locked pages (spin.mlockall): they stay, as they were meant to
            self._release_problem = str(exc)
            log.info("journal %s: its written pages stay resident (madvise: %s)", self.path, exc)
            return 0
        self._released = upto
        return stop - upto

    def prepare_state(self) -> str:
        """Return how the pages ahead of the write position are prepared, for ``gateway status``'s journal line.

        "N MiB ahead" (the helper process faults them in), or why not: "off" (asked), the kernel's lack
        (found at start), or the errno the helper stopped on (read from its control block).
        """
        if not self._prepare_problem:
            err = self._ctrl[_syncer.PREPARE_ERRNO]
            if not err:
                return self._prepare_text  # the same object each time: the status snapshot compares by identity
            self._prepare_problem = f"stopped: {os.strerror(err)}"
        return self._prepare_problem

    def prepared_end(self) -> int:
        """Return where the pages the helper process prepared end (0: none yet)."""
        return self._ctrl[_syncer.PREPARED]

    def resident_bytes(self) -> int:
        """Return the bytes of written pages not released yet (an upper bound of the mapping's resident data)."""
        if self._map is None or self._end < 0:
            return 0
        return max(0, self._end - self._released)

    def grow_ahead(self) -> bool:
        """Grow the file by a step now, from a timer, when less than half a step is left after the write position.

        ``flush`` then almost never grows the file on an order's path (it still does when a burst outruns the
        timer, and on a nearly full disk, where it grows by what fits: this one only tries a full step and leaves
        the rest to it). Returns True if the file grew.
        """
        if self._map is None or self._end < 0 or self._closing or self._lost or self._short_steps:
            return False
        size = self._size
        if size - self._end >= self._grow_bytes // 2:
            return False
        try:
            os.posix_fallocate(self._fd, size, self._grow_bytes)
            self._remap(size + self._grow_bytes)
        except OSError:  # ENOSPC and the like: ``flush`` grows by what fits, or raises what it finds, and says so
            return False
        return True

    def _allocate(self, size: int, needed: int) -> int:
        """Preallocate the file from ``size`` to ``needed`` plus a growth step; return the new size.

        When the full step does not fit (ENOSPC), the step is halved until one fits, down to ``needed``
        alone (rounded up to a page): the records are written as soon as the disk has room for them,
        not only once it has room for a whole step (``model.preallocate.preallocate_what_fits``, shared with the
        FIX message store). Raises the OSError when not even ``needed`` fits (nothing changed). Cold: once per
        step, a few times per batch only on a nearly full disk.
        """
        target, short = preallocate_what_fits(self._fd, size, needed, self._grow_bytes)
        self._short_steps = log_growth(
            log, "journal", self.path, (size, target, needed, self._grow_bytes), short, self._short_steps
        )
        if short:
            self.short_growths += 1
        return target

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

    def sync_counts(self, check: bool = True) -> tuple[int, int, int]:
        """Return (``bytes_synced``, ``fsyncs``, ``fsync_failures``), looking for a gone syncer once, not twice.

        ``check`` False: read the counters without looking (no ``waitpid``): the status snapshot's, which leaves the
        look to the gateway's journal file check (every ``JOURNAL_FILE_CHECK_S``, 0.25 s), so a syncer's death
        counts in ``fsync_failures`` at most that much later than it did when every request looked (stat60).
        """
        if check:
            self._check_syncer()
        ctrl = self._ctrl
        return (
            max(self._local_synced, ctrl[_syncer.SYNCED_WRITTEN]),
            self._local_fsyncs + ctrl[_syncer.FSYNCS],
            ctrl[_syncer.FAILURES] + self._syncer_exits,
        )

    @property
    def fsync_ns(self) -> SparseHistogram:
        """Return the fdatasync durations (ns): the syncer process's and the loop thread's, merged."""
        merged = SparseHistogram()
        merged.counts = merge_dense(*self.fsync_ns_parts())
        return merged

    def fsync_ns_parts(self) -> tuple[dict[int, int], int, bytes | memoryview]:
        """Return the fdatasync durations uncopied, as the status snapshot sends them: the loop thread's
        counts, and the syncer process's counts from bucket ``first`` on (native uint64 each, a byte view
        of the shared control block, only the range it has counted in). ``fsync_ns`` is their merge.
        """
        ctrl_map = self._ctrl_map
        if ctrl_map is None:
            return self._fsync_ns.counts, 0, b""
        ctrl = self._ctrl
        first = ctrl[_syncer.FIRST_BUCKET]
        end = ctrl[_syncer.END_BUCKET]
        if end <= first:
            return self._fsync_ns.counts, 0, b""
        dense = memoryview(ctrl_map)[(_syncer.COUNTS + first) * 8 : (_syncer.COUNTS + end) * 8]
        return self._fsync_ns.counts, first, dense

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

    def check_file(self) -> tuple[str, bool]:
        """Return ("", False) while the path names the open file; else restore it (what happened, True), or fail closed.

        From a slow timer, on the loop's thread (never per batch). A deleted file is restored from the open one
        (``gateway.journal_file``); when that fails, or another file took the path, ``flush`` raises OSError with
        the problem (nothing leaves, new orders are refused) until a later check restores it: (problem, False).
        """
        if self._closing:
            return "", False
        problem, restored = check_and_restore(self._fd, self.path, self._restore, self._size)
        self._lost = problem if problem and not restored else ""
        self.file_restores += 1 if restored else 0
        return problem, restored

    def hold(self, problem: str) -> None:
        """Fail closed with ``problem`` (``flush`` raises it) until the next ``check_file`` finds the file fine."""
        if problem and not self._lost:
            self._lost = problem

    def _restore(self) -> None:
        """Write the open file's data to a new file at the path, durable, and continue in that one (raises OSError)."""
        end = self._end if self._end >= 0 else os.fstat(self._fd).st_size
        page = mmap.PAGESIZE
        size = -(-end // page) * page
        head = mmap_header(end) if self._header and end >= DATA_START else b""  # all of it synced by the copy
        new = restore_journal_file(self._fd, self.path, end, size, head)
        os.dup2(new, self._fd, inheritable=False)  # the same descriptor number, now the new file's
        os.close(new)
        if self._map is not None:
            self._map.close()
            self._map = None  # the next flush maps the new file
            self._keep_spare(2)  # as before a first mapping: the closed one's descriptor is the second spare
        self._size = size
        if self._head_map is not None:
            self._head_map.close()
            self._head_map = mmap.mmap(self._fd, DATA_START)
        self._synced_end = max(self._synced_end, end)
        if self._syncer is not None:  # it syncs the descriptor it was given: the old file's
            self._stop_syncer()
            self._start_syncer()

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

    def take_back(self, mark: int) -> bool:
        """Drop the record appended at ``mark``; False (nothing dropped) if the failed flush had copied it."""
        at = self.tell()
        if at > mark:  # copied into the mapping (the sync failed under "batch"): it may be on disk
            return False
        self._pending = pending = mark - at
        del self._buf[pending:]  # ``flush`` copies the buffer whole
        self.records_written -= 1
        return True

    def reader(self, start: int) -> JournalReader:
        """Return a reader of the file from offset ``start`` on (what ``flush`` copied is in the page cache).

        It stops at ``tell`` (the end ``flush`` reached), never reading the preallocated zeros after it.
        """
        return JournalReader(self.path, start, self.tell)

    def cut_torn_tail(self, scan: JournalScan) -> None:
        """Continue after the last good record ``records`` found: cut what follows (a torn tail, zeros)."""
        good = scan.good_bytes
        if self._map is not None:  # already appending: zero what follows the last good record
            if good < self._end:
                self._map[good : self._end] = bytes(self._end - good)
                self._released = min(self._released, max(_FIRST_RELEASABLE, good - good % mmap.PAGESIZE))
            self._end = self._ctrl[_syncer.END] = good
            return
        if self._size > good:
            os.ftruncate(self._fd, good)
            os.fsync(self._fd)
            self._size = good
        self._end = self._ctrl[_syncer.END] = good

    def close(self) -> None:
        """Flush, sync, cut the unwritten part off the file and close it.

        A batch that cannot be copied (the file cannot grow: disk full) or a sync that fails does not stop
        the close: the syncer is stopped, the file cut after its last record and closed all the same, then
        ``JournalCloseError`` says what could not be made durable.
        """
        failed: OSError | None = None
        if check_journal_file(self._fd, self.path)[1]:  # deleted since the last check: put back before the end
            with contextlib.suppress(OSError):
                self.check_file()
        try:
            self.flush()
        except OSError as exc:  # the batch stays pending: it is what cannot be written
            failed = exc
        pending = self._pending
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
        unsynced = False
        try:
            self._sync()
            if self._header and self._end >= 0:
                os.pwrite(self._fd, mmap_header(self._end), 0)  # only after the sync: never claims more
            os.fsync(self._fd)  # the header, and the file's size after the cut
        except OSError as exc:
            unsynced = True
            failed = failed or exc
        # every record copied is in the file, durable, up to its end (a batch is copied whole or not at all)
        kept = not unsynced and not check_journal_file(self._fd, self.path)[0]
        os.close(self._fd)
        self._drop_spare()
        self._release_ctrl()
        if failed is not None:
            dropped = count_records(self._buf, 0, pending) if pending else 0
            raise JournalCloseError(self.path, pending, unsynced, failed, dropped_records=dropped, kept=kept)

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
