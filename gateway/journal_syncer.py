"""The journal's fsync process (``journal.fsync: interval`` with ``mmap`` storage).

``MmapJournal`` starts it once per journal file: ``python -m gateway.journal_syncer JOURNAL_FD CTRL_FD
INTERVAL_MS HEADER PARENT_PID``. Every ``INTERVAL_MS`` on its own clock it reads the data end the loop
stored in the control block (a shared memfd page: a plain store on the loop's side, no system
call, no signal, no lock), fdatasyncs the journal if the end moved, then records the synced end
in the file's header page (``pwrite``: a kill cannot leave half a header) and its counters in the
control block. It takes nothing from the gateway process: no GIL, no futex, no thread there.

It dies with the gateway (``PR_SET_PDEATHSIG``: SIGKILL, and a parent check every cycle), so a
restarted gateway never shares its journal with an old syncer. Stdlib and ``obs`` only: it
starts in a few tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
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
COUNTS: Final = 8
"""First of ``BUCKETS`` slots: fdatasync durations in ns, by ``obs.histogram`` bucket."""
CTRL_SLOTS: Final = COUNTS + BUCKETS
CTRL_BYTES: Final = -(-CTRL_SLOTS * 8 // mmap.PAGESIZE) * mmap.PAGESIZE

HEADER: Final = struct.Struct(">4sIQI")
"""The ``MmapJournal`` header (``gateway.journal.MMAP_HEADER``; a test keeps the two equal)."""
MAGIC: Final = b"GWJ\x02"
FORMAT: Final = 2
_PR_SET_PDEATHSIG: Final = 1


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


def run(fd: int, ctrl_fd: int, interval_ms: int, has_header: bool, parent: int) -> None:
    """Sync ``fd`` every ``interval_ms`` while the end in the control block moves, until the parent goes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the gateway's to handle
    _die_with_parent(parent)
    ctrl_map = mmap.mmap(ctrl_fd, CTRL_BYTES)
    ctrl = memoryview(ctrl_map).cast("Q")
    interval = interval_ms / 1000
    synced_end = 0
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
        if end == synced_end:
            continue
        written = ctrl[WRITTEN]
        started = time.monotonic_ns()
        try:
            os.fdatasync(fd)
        except OSError as exc:
            ctrl[FAILURES] += 1
            print(f"journal-syncer: fdatasync failed: {exc}", file=sys.stderr, flush=True)
            continue
        count(ctrl, bucket_index(time.monotonic_ns() - started))
        ctrl[SYNCED_WRITTEN] = written
        ctrl[SYNCED_END] = end
        ctrl[FSYNCS] += 1
        if end > synced_end and has_header:  # durable with the next sync: never claims more than is on disk
            os.pwrite(fd, header(end), 0)
        synced_end = end


def main(argv: list[str]) -> int:
    """Run the syncer from its command line (see the module docstring)."""
    fd, ctrl_fd, interval_ms, has_header, parent = (int(a) for a in argv)
    run(fd, ctrl_fd, interval_ms, bool(has_header), parent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
