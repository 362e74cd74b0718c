"""The journal's helper process (``mmap`` storage): its fsync (``journal.fsync: interval``), its pages prepared ahead.

``MmapJournal`` starts it once per journal file: ``python -m gateway.journal_syncer JOURNAL_FD CTRL_FD
INTERVAL_MS HEADER PARENT_PID SYNC AHEAD``. Every ``INTERVAL_MS`` on its own clock it reads the data end
the loop stored in the control block (a shared memfd page: a plain store on the loop's side, no system
call, no signal, no lock); under ``SYNC`` (1: the "interval" policy) it fdatasyncs the journal if the end
moved, then records the synced end in the file's header page (``pwrite``: a kill cannot leave half a
header) and its counters in the control block. Then, with ``AHEAD`` bytes (0: off), it prepares the
file's pages from the write position's next page to ``AHEAD`` past it (``prepare_pages``), so that the
loop's first write into them finds them in the page cache. It takes nothing from the gateway process:
no GIL, no futex, no thread there, and its own mappings leave the gateway's address space alone.

It dies with the gateway (``PR_SET_PDEATHSIG``: SIGKILL, and a parent check every cycle), so a
restarted gateway never shares its journal with an old syncer. Stdlib and ``obs`` only: it
starts in a few tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import signal
import struct
import sys
import time
import zlib
from typing import Final

from obs.histogram import BUCKETS, bucket_index

END: Final = 0
"""Control block slot (u64): the end of the data in the file (the loop stores it after each flush)."""
WRITTEN: Final = 1
"""The loop's ``bytes_written`` (stored after each flush)."""
FSYNCS: Final = 2
"""Syncs the process completed."""
FAILURES: Final = 3
"""Syncs that failed."""
SYNCED_WRITTEN: Final = 4
"""``WRITTEN`` as it was when the last successful sync began."""
SYNCED_END: Final = 5
"""``END`` as it was when the last successful sync began."""
FIRST_BUCKET: Final = 6
"""The lowest bucket ``COUNTS`` has counted in (valid once ``END_BUCKET`` is not 0)."""
END_BUCKET: Final = 7
"""One past the highest bucket ``COUNTS`` has counted in (0: none yet). Moved before the count, so the
counts outside ``FIRST_BUCKET:END_BUCKET`` are all 0 and the snapshot sends only that range."""
PREPARED: Final = 8
"""The end of the pages prepared ahead of the write position (0: none yet)."""
PREPARE_ERRNO: Final = 9
"""The errno that made the process stop preparing pages (0: it prepares them, or was told not to)."""
COUNTS: Final = 10
"""First of ``BUCKETS`` slots: fdatasync durations in ns, by ``obs.histogram`` bucket."""
CTRL_SLOTS: Final = COUNTS + BUCKETS
CTRL_BYTES: Final = -(-CTRL_SLOTS * 8 // mmap.PAGESIZE) * mmap.PAGESIZE

HEADER: Final = struct.Struct(">4sIQI")
"""The ``MmapJournal`` header (``gateway.journal.MMAP_HEADER``; a test keeps the two equal)."""
MAGIC: Final = b"GWJ\x02"
FORMAT: Final = 2
_PR_SET_PDEATHSIG: Final = 1
MADV_POPULATE_READ: Final = 22
"""Linux >= 5.14: fault the range's pages in (page cache and page tables) without changing their contents."""
PREPARE_AHEAD: Final = 8 << 20
"""How far past the write position the helper keeps the journal's pages prepared (``MmapJournal``'s default): at
8 MiB/s of journal (~38,000 orders/s) a second of slack for a helper kept off the CPU."""
PREPARE_STEP: Final = 1 << 20
"""The least a step prepares (~0.6 ms of the helper's CPU): a step runs once the prepared pages reach less than
``ahead`` minus this past the write position."""
_PROT_READ: Final = 1
_MADV_RANDOM: Final = 1
_MAP_SHARED: Final = 1
_MAP_FAILED: Final = 2**64 - 1


def _libc() -> ctypes.CDLL:
    """Return libc with ``mmap``, ``munmap`` and ``madvise`` typed (ctypes releases the GIL in each call)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


def prepare_supported() -> int:
    """Return 0 if this kernel has ``MADV_POPULATE_READ``, else the errno it answers (EINVAL before Linux 5.14).

    An empty range: the kernel checks the advice before the length, so nothing is touched.
    """
    try:
        libc = _libc()
    except (OSError, AttributeError):  # no libc to call (not Linux)
        return errno.ENOSYS
    if libc.madvise(None, 0, MADV_POPULATE_READ) == 0:
        return 0
    return ctypes.get_errno() or errno.EINVAL


class PagePreparer:
    """Keep the journal's pages from the write position's next page to ``ahead`` bytes past it in the page cache.

    Each step maps the range not prepared yet on a mapping of its own (``PROT_READ``, shared, ``MADV_RANDOM``: no
    read-around, exactly the range, in page-sized folios), asks ``madvise(MADV_POPULATE_READ)`` to fault it in,
    and unmaps it: the page cache then holds the pages (zeros, clean: nothing more for a sync to write, no block
    allocated), and the loop's first write into one is a minor fault instead of a page-cache allocation (with
    the kernel's read-around: 8 MiB of zeros at once). Never at or behind the write position's page (those are
    the loop's, and its release), never past the file's end (the loop grows the file; ``fstat`` reads its
    size). ~0.6 ms of this process's CPU per MiB (measured: docs/performance.md, "Stop 44").
    """

    def __init__(self, fd: int, ahead: int) -> None:
        self.fd = fd
        page = mmap.PAGESIZE
        self.ahead = ahead - ahead % page
        self.least = min(PREPARE_STEP, self.ahead // 2 // page * page)
        self.done = 0
        """Where the prepared pages end (page-aligned)."""
        self.failed = 0
        """The errno that stopped the preparing (0: none)."""
        self._libc = _libc() if self.ahead > 0 else None

    def step(self, end: int) -> int:
        """Prepare the pages up to ``ahead`` past ``end`` once ``least`` of them are missing; return the bytes prepared.

        An error other than EFAULT (the file cut while mapped: tried again next step) stops the preparing for
        good (``failed``): the loop's first writes then fault the pages in themselves, as without this.
        """
        libc = self._libc
        if libc is None or self.failed or end <= 0:
            return 0
        page = mmap.PAGESIZE
        if self.done - end > self.ahead - self.least:
            return 0
        start = max(self.done, -(-end // page) * page)
        size = os.fstat(self.fd).st_size
        stop = min(size - size % page, end - end % page + self.ahead)
        if stop <= start:
            return 0
        length = stop - start
        addr = libc.mmap(None, length, _PROT_READ, _MAP_SHARED, self.fd, start)
        if addr is None or addr == _MAP_FAILED:
            return self._fail(ctypes.get_errno())
        libc.madvise(addr, length, _MADV_RANDOM)  # no read-around: only the range asked (its folios) is read
        rc = libc.madvise(addr, length, MADV_POPULATE_READ)
        err = ctypes.get_errno() if rc else 0
        libc.munmap(addr, length)
        if err == errno.EFAULT:  # the file shrank under the mapping (cut): nothing prepared, try again next step
            return 0
        if err:
            return self._fail(err)
        self.done = stop
        return length

    def _fail(self, err: int) -> int:
        """Stop preparing pages for good because of ``err``; say so once on stderr (the gateway's)."""
        self.failed = err or errno.EINVAL
        print(
            f"journal-syncer: preparing the journal's pages ahead stopped: {os.strerror(self.failed)}",
            file=sys.stderr,
            flush=True,
        )
        return 0


def header(synced: int) -> bytes:
    """Return the journal header saying the data up to ``synced`` is durable (``gateway.journal.mmap_header``)."""
    head = HEADER.pack(MAGIC, FORMAT, synced, 0)[:-4]
    return head + zlib.crc32(head).to_bytes(4, "big")


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent exits; exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the per-cycle parent check remains
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        sys.exit(0)


def count(ctrl: memoryview, index: int) -> None:
    """Count one sync in bucket ``index``: widen the counted range first, then add the count."""
    if ctrl[END_BUCKET] == 0:
        ctrl[FIRST_BUCKET] = index
        ctrl[END_BUCKET] = index + 1
    else:
        ctrl[FIRST_BUCKET] = min(ctrl[FIRST_BUCKET], index)
        if index >= ctrl[END_BUCKET]:
            ctrl[END_BUCKET] = index + 1
    ctrl[COUNTS + index] += 1


def run(
    fd: int, ctrl_fd: int, interval_ms: int, has_header: bool, parent: int, sync: bool = True, ahead: int = 0
) -> None:
    """Every ``interval_ms`` until the parent goes: sync ``fd`` if asked and the end moved; prepare pages ahead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the gateway's to handle
    _die_with_parent(parent)
    ctrl_map = mmap.mmap(ctrl_fd, CTRL_BYTES)
    ctrl = memoryview(ctrl_map).cast("Q")
    interval = interval_ms / 1000
    synced_end = 0
    preparer = PagePreparer(fd, ahead)
    deadline = time.monotonic()
    while True:
        deadline += interval
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:  # late (a slow disk): start the clock again from now
            deadline = time.monotonic()
        if os.getppid() != parent:
            return
        end = ctrl[END]
        if sync and end != synced_end:
            synced_end = _sync(fd, ctrl, end, synced_end, has_header)
        if preparer.step(end):  # after the sync: the records' durability first
            ctrl[PREPARED] = preparer.done
        elif preparer.failed and not ctrl[PREPARE_ERRNO]:
            ctrl[PREPARE_ERRNO] = preparer.failed


def _sync(fd: int, ctrl: memoryview, end: int, synced_end: int, has_header: bool) -> int:
    """fdatasync ``fd``, count it, write the header; return the synced end (``synced_end`` when it failed)."""
    written = ctrl[WRITTEN]
    started = time.monotonic_ns()
    try:
        os.fdatasync(fd)
    except OSError as exc:
        ctrl[FAILURES] += 1
        print(f"journal-syncer: fdatasync failed: {exc}", file=sys.stderr, flush=True)
        return synced_end
    count(ctrl, bucket_index(time.monotonic_ns() - started))
    ctrl[SYNCED_WRITTEN] = written
    ctrl[SYNCED_END] = end
    ctrl[FSYNCS] += 1
    if end > synced_end and has_header:  # durable with the next sync: never claims more than is on disk
        os.pwrite(fd, header(end), 0)
    return end


def main(argv: list[str]) -> int:
    """Run the syncer from its command line (see the module docstring)."""
    fd, ctrl_fd, interval_ms, has_header, parent, sync, ahead = (int(a) for a in argv)
    run(fd, ctrl_fd, interval_ms, bool(has_header), parent, bool(sync), ahead)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
