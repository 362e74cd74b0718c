"""The latency histograms' bytes in a shared memory mapping: ``status`` and ``metrics`` leave them out of the reply.

The gateway keeps ``StageLatencies.lows`` and ``mid`` (``gateway.latency``) in one mapping of a sealed ``memfd``
(``memfd_create``: memory with no path, nothing on any file system). At start the memfd is sized, given all its
pages (``posix_fallocate``: a later increment can never fault for want of memory), then sealed ``F_SEAL_SHRINK |
F_SEAL_GROW | F_SEAL_SEAL``: nobody, the gateway's own user included, can truncate or grow it, so the mapping the
loop writes can never lose a page under it (``SIGBUS``). The loop counts into it as before (one byte per bucket, the
C extension or the pure-Python increments): nothing more per order.

A reader (``gateway status``, ``gateway metrics``, the exporter: ``gateway.admin.fetch_snapshot``) asks for the
snapshot without the histogram bytes; the reply names the gateway's pid and the memfd's descriptor number, and the
reader opens ``/proc/<pid>/fd/<n>`` read-only (the kernel allows that to the gateway's user and root only, as the
0600 admin socket does), checks it is a sealed memfd of this name, of this run (the header's pid and token) and
long enough, maps it read-only and copies it. Nothing of this runs on the gateway's loop. (Passing the descriptor
itself with ``SCM_RIGHTS`` on the admin connection was the alternative: the loop's transports cannot send
ancillary data, so it would need a second socket object and care about the order of writes, per request.)

Layout (``VERSION``), little-endian: a 64-byte header, then every stage's low bytes (``STAGES`` order), then ``mid``:

* ``magic`` (8 bytes), ``version``, ``stages``, ``buckets``, ``pid`` (uint32 each), ``token`` (uint64: the
  creation's ``time_ns``, also in the reply: a reader never takes another run's memfd for this one);
* ``seq`` (uint64, offset 32): odd while a carry is being written (a low byte wrapping into its ``mid`` byte, a
  ``mid`` byte into the run-time ``carried`` dict, a reset), even otherwise; the loop takes no lock, so a reader
  copies between two reads of ``seq`` that agree and are even (a plain increment is one byte: never torn);
* ``wraps`` (uint64, offset 40): how many times ``carried`` (the 65,536s, sent in the reply) changed; the reply
  says how many it had, and a reader whose copy shows another number asks again.

Where the memfd cannot be opened (another user, another pid namespace or ``/proc``, a container, an older
gateway), the reader asks for the reply with the bytes in it, as before (``gateway.admin.fetch_snapshot``). Where
the gateway cannot make it (no ``memfd_create``, no memory for its pages), the counts stay in an anonymous mapping
and every reply carries them.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import struct
import time
from typing import Final

from obs.histogram import BUCKETS

MAGIC: Final = b"GWSTATS\0"
VERSION: Final = 2
"""2: a sealed memfd found through ``/proc/<pid>/fd/<n>`` (1, a file beside the admin socket, was never released)."""
NAME: Final = "gateway-stats"
"""The memfd's name: ``/proc/<pid>/fd/<n>`` reads ``/memfd:gateway-stats (deleted)``."""
SEALS: Final = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
HEADER: Final = struct.Struct("<8sIIIIQQQ")
"""magic, version, stages, buckets, pid, token, seq, wraps (the last 16 bytes of the 64 are spare)."""
HEADER_SIZE: Final = 64
SEQ: Final = 4
"""``seq``'s index in the header as uint64 words (offset 32)."""
WRAPS: Final = 5
"""``wraps``' index in the header as uint64 words (offset 40)."""
_WORD: Final = struct.Struct("<Q")
READ_TRIES: Final = 1000
"""Copies a reader makes at most before it gives up (the loop carrying all the time: ask for the bytes instead)."""

Descriptor = tuple[int, int, int, int]
"""What a reply names: (version, pid, descriptor number, token)."""


def make_memfd(size: int) -> int:
    """Return a new memfd of ``size`` bytes, every page allocated, sealed against shrinking and growing.

    Raises ``OSError`` when it cannot (no ``memfd_create``: ENOSYS; no memory for the pages: ENOSPC/ENOMEM).
    """
    create = getattr(os, "memfd_create", None)
    if create is None:
        raise OSError(errno.ENOSYS, "memfd_create is not available here")
    fd: int = create(NAME, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, size)
        os.posix_fallocate(fd, 0, size)  # every page now: an increment never faults for want of one
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


class StatsMap:
    """The mapping holding the stages' counts: anonymous (tests, benchmarks) or a sealed memfd others can map."""

    def __init__(self, stages: int, shared: bool = False) -> None:
        """Map ``stages`` stages' counts; ``shared``: in a sealed memfd (``make_memfd``; raises ``OSError``)."""
        self.stages = stages
        self.size = HEADER_SIZE + 2 * stages * BUCKETS
        self.token = time.time_ns()
        self.pid = os.getpid()
        self.fd = -1
        """The memfd, kept open for the process's life (readers open ``/proc/<pid>/fd/<fd>``); -1: anonymous."""
        if not shared:
            self._map = mmap.mmap(-1, self.size)
        else:
            fd = make_memfd(self.size)
            try:
                self._map = mmap.mmap(fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            except BaseException:
                os.close(fd)
                raise
            self.fd = fd
        HEADER.pack_into(self._map, 0, MAGIC, VERSION, stages, BUCKETS, self.pid, self.token, 0, 0)
        view = memoryview(self._map)
        self.control = view[:HEADER_SIZE].cast("Q")
        """The header as uint64 words: ``control[SEQ]``, ``control[WRAPS]``."""
        at = HEADER_SIZE
        lows: list[memoryview] = []
        for _ in range(stages):
            lows.append(view[at : at + BUCKETS])
            at += BUCKETS
        self.lows = tuple(lows)
        self.mid = view[at : at + stages * BUCKETS]

    def descriptor(self) -> Descriptor | None:
        """Return what a reader needs to find and check the memfd (version, pid, fd, token); None if anonymous."""
        if self.fd < 0:
            return None
        return VERSION, self.pid, self.fd, self.token


class SharedReadError(Exception):
    """The stats memfd could not be read: the reader asks for the reply with the histogram bytes instead."""


class SharedMovedError(SharedReadError):
    """The loop changed ``carried`` between the reply and the copy: the reader asks for a shared reply again."""


def open_shared(descriptor: Descriptor) -> tuple[int, str]:
    """Return the gateway's stats memfd opened read-only (and its ``/proc`` path); raise ``SharedReadError``.

    The link is read first: a descriptor that is not a memfd of ``NAME`` (another pid namespace's process under that
    number) is never opened (opening a FIFO or a device could block or act). Then: a regular file, sealed against
    shrinking (the size checked next cannot drop under the mapping).
    """
    _version, pid, number, _token = descriptor
    link = f"/proc/{int(pid)}/fd/{int(number)}"
    try:
        target = os.readlink(link)
    except OSError as exc:
        raise SharedReadError(f"cannot see {link}: {exc.strerror}") from exc
    if not target.startswith(f"/memfd:{NAME} "):
        raise SharedReadError(f"{link} is not the gateway's stats memfd ({target!r})")
    try:
        fd = os.open(link, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise SharedReadError(f"cannot open {link}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SharedReadError(f"{link} is not a stats memfd")
        try:
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        except OSError as exc:
            raise SharedReadError(f"{link} has no seals: {exc.strerror}") from exc
        if seals & fcntl.F_SEAL_SHRINK == 0:
            raise SharedReadError(f"{link} is not sealed against shrinking")
    except BaseException:
        os.close(fd)
        raise
    return fd, link


def read_shared(descriptor: Descriptor, wraps: int | None) -> tuple[bytes, bytes]:
    """Return (low, mid) copied from the gateway's stats memfd as of a moment no carry was half written.

    ``descriptor`` is the reply's (version, pid, fd, token), ``wraps`` its count of ``carried`` changes (None: not
    checked, the copy's 65,536s are not needed). Raises ``SharedReadError`` when the memfd cannot be opened or
    mapped, is not the one the reply names, or the loop changed ``carried`` since the reply (the caller asks again).
    """
    version, pid, _number, token = descriptor
    if version != VERSION:
        raise SharedReadError(f"stats memfd layout {version} is not this program's {VERSION}")
    fd, link = open_shared(descriptor)
    try:
        size = os.fstat(fd).st_size  # sealed: it cannot shrink after this
        if size < HEADER_SIZE:
            raise SharedReadError(f"{link} is shorter than a stats header")
        try:
            mapped = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        except (OSError, ValueError) as exc:
            raise SharedReadError(f"cannot map {link}: {exc}") from exc
    finally:
        os.close(fd)
    try:
        magic, got_version, stages, buckets, got_pid, got_token, _seq, _wraps = HEADER.unpack_from(mapped, 0)
        if (magic, got_version, got_pid, got_token) != (MAGIC, VERSION, pid, token) or buckets != BUCKETS:
            raise SharedReadError(f"{link} is not this gateway's stats memfd (another run's?)")
        half = stages * BUCKETS
        if size < HEADER_SIZE + 2 * half:
            raise SharedReadError(f"{link} is shorter than its header says")
        for _ in range(READ_TRIES):
            before = _WORD.unpack_from(mapped, 32)[0]
            if before & 1:  # a carry being written: read again
                continue
            data = mapped[HEADER_SIZE : HEADER_SIZE + 2 * half]
            seen_wraps = _WORD.unpack_from(mapped, 40)[0]
            if _WORD.unpack_from(mapped, 32)[0] == before:
                if wraps is not None and seen_wraps != wraps:
                    raise SharedMovedError("the 65,536s changed since the reply")
                return data[:half], data[half:]
        raise SharedReadError(f"{link}: no quiet moment in {READ_TRIES} copies")
    finally:
        mapped.close()
