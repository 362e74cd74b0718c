"""The latency histograms' bytes in a shared memory mapping: ``status`` and ``metrics`` leave them out of the reply.

The gateway keeps ``StageLatencies.lows`` and ``mid`` (``gateway.latency``) in one mapping, a file beside its admin
socket (``<admin_socket>.stats``, mode 0600, made afresh at each start and removed at a clean stop). The loop
counts into it as before (one byte per bucket, the C extension or the pure-Python increments): nothing more per
order. A reader (``gateway status``, ``gateway metrics``, the exporter: ``gateway.admin.fetch_snapshot``) asks for
the snapshot without the histogram bytes, finds the file's path in the reply, maps it read-only and copies it.

Layout (``VERSION``), little-endian: a 64-byte header, then every stage's low bytes (``STAGES`` order), then ``mid``:

* ``magic`` (8 bytes), ``version``, ``stages``, ``buckets``, ``pid`` (uint32 each), ``token`` (uint64: the
  creation's ``time_ns``, also in the reply: a reader never takes a left-over file of an earlier run for this one);
* ``seq`` (uint64, offset 32): odd while a carry is being written (a low byte wrapping into its ``mid`` byte, a
  ``mid`` byte into the run-time ``carried`` dict, a reset), even otherwise; the loop takes no lock, so a reader
  copies between two reads of ``seq`` that agree and are even (a plain increment is one byte: never torn);
* ``wraps`` (uint64, offset 40): how many times ``carried`` (the 65,536s, sent in the reply) changed; the reply
  says how many it had, and a reader whose copy shows another number asks again.

Where the file cannot be mapped (another user, another mount namespace, an older gateway), the reader asks for
the reply with the bytes in it, as before (``gateway.admin.fetch_snapshot``).
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
import time
from pathlib import Path
from typing import Final

from obs.histogram import BUCKETS

MAGIC: Final = b"GWSTATS\0"
VERSION: Final = 1
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


class StatsMap:
    """The mapping holding the stages' counts: anonymous (tests, benchmarks) or a file others can map."""

    def __init__(self, stages: int, path: Path | None = None) -> None:
        """Map ``stages`` stages' counts; with ``path``, in a new file there (mode 0600; an old one is replaced)."""
        self.stages = stages
        self.size = HEADER_SIZE + 2 * stages * BUCKETS
        self.path = path
        self.token = time.time_ns()
        self.pid = os.getpid()
        self.identity = (0, 0)
        """The file's (device, inode): ``remove`` removes no file made since by another run."""
        if path is None:
            self._map = mmap.mmap(-1, self.size)
        else:
            try:
                mode = os.lstat(path).st_mode
                if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                    os.unlink(path)  # a left-over of an earlier run (the state lock says no other gateway uses it)
            except FileNotFoundError:
                pass
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                os.ftruncate(fd, self.size)
                self._map = mmap.mmap(fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                made = os.fstat(fd)
                self.identity = made.st_dev, made.st_ino
            finally:
                os.close(fd)
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

    def descriptor(self) -> tuple[str, int, int, int] | None:
        """Return what a reader needs to find and check the file (path, version, pid, token); None if anonymous."""
        if self.path is None:
            return None
        return str(self.path), VERSION, self.pid, self.token

    def remove(self) -> None:
        """Remove the file if it is still this mapping's (a clean stop; the mapping itself stays valid)."""
        if self.path is None:
            return
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self.identity:
                os.unlink(self.path)
        except OSError:
            pass


class SharedReadError(Exception):
    """The stats file could not be read: the reader asks for the reply with the histogram bytes instead."""


class SharedMovedError(SharedReadError):
    """The loop changed ``carried`` between the reply and the copy: the reader asks for a shared reply again."""


def read_shared(descriptor: tuple[str, int, int, int], wraps: int | None) -> tuple[bytes, bytes]:
    """Return (low, mid) copied from the gateway's stats file as of a moment no carry was half written.

    ``descriptor`` is the reply's (path, version, pid, token), ``wraps`` its count of ``carried`` changes (None: not
    checked, the copy's 65,536s are not needed). Raises
    ``SharedReadError`` when the file cannot be opened or mapped, is not the one the reply names, or the loop
    changed ``carried`` since the reply (the caller asks again).
    """
    path, version, pid, token = descriptor
    if version != VERSION:
        raise SharedReadError(f"stats file layout {version} is not this program's {VERSION}")
    try:
        fd = os.open(str(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise SharedReadError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size < HEADER_SIZE:
            raise SharedReadError(f"{path} is not a stats file")
        try:
            mapped = mmap.mmap(fd, st.st_size, mmap.MAP_SHARED, mmap.PROT_READ)
        except (OSError, ValueError) as exc:
            raise SharedReadError(f"cannot map {path}: {exc}") from exc
    finally:
        os.close(fd)
    try:
        magic, got_version, stages, buckets, got_pid, got_token, _seq, _wraps = HEADER.unpack_from(mapped, 0)
        if (magic, got_version, got_pid, got_token) != (MAGIC, VERSION, pid, token) or buckets != BUCKETS:
            raise SharedReadError(f"{path} is not this gateway's stats file (another run's?)")
        half = stages * BUCKETS
        if st.st_size < HEADER_SIZE + 2 * half:
            raise SharedReadError(f"{path} is shorter than its header says")
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
        raise SharedReadError(f"{path}: no quiet moment in {READ_TRIES} copies")
    finally:
        mapped.close()
