"""An append-only, checksummed log file: one ``write`` per persisted change.

Layout: a sequence of records ``crc32:u32 kind:u8 length:u32 value:u64 payload``
(little-endian), the CRC covering everything after itself. Kinds: CREATED (value =
wall-clock ns of the last reset), SENDER / TARGET (value = next sequence number) and
SENT (value = MsgSeqNum, payload = the message bytes). Opening the file replays the
records; a torn or corrupt tail (a crash in the middle of a write) is cut off. A reset
writes a fresh file next to the old one and renames it over, so the log only grows
within one session day.

Fsync policy: ``always`` fdatasyncs after every record (on the caller's thread, before the
message may be written to the socket); ``interval`` fdatasyncs from a background thread at most
every interval while there are unsynced writes (the event loop never waits for the disk);
``never`` leaves it to the OS (a killed process loses nothing, a machine crash may).

Offsets of sent messages are indexed by sequence number (8 bytes per message) and the
bytes are read back with ``pread`` only when the peer asks for a resend.
"""

from __future__ import annotations

import array
import errno
import logging
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Final

from model.fsync import FsyncPolicy
from venues.atomic_file import write_file_atomically
from venues.fix.store.base import MessageStore

log = logging.getLogger(__name__)

_RECORD: Final = struct.Struct("<IBIQ")
_BODY: Final = struct.Struct("<BIQ")
_KIND_CREATED: Final = 1
_KIND_SENDER: Final = 2
_KIND_TARGET: Final = 3
_KIND_SENT: Final = 4
_MAX_PAYLOAD: Final = 1 << 20


def _record(kind: int, value: int, payload: bytes = b"") -> bytes:
    body = _BODY.pack(kind, len(payload), value) + payload
    return struct.pack("<I", zlib.crc32(body)) + body


class FileStore(MessageStore):
    """Persist one session's messages and sequence numbers in ``path``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy = FsyncPolicy.NONE,
        fsync_interval_ns: int = 100_000_000,
        creation_time_ns: int = 0,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync = FsyncPolicy(fsync)
        self.fsync_interval_ns = fsync_interval_ns
        self.fsyncs = 0
        """How many fdatasync calls were made (for tests and status)."""
        self.truncated_bytes = 0
        """Bytes of a torn tail cut off when the file was opened."""
        self._sender = 1
        self._target = 1
        self._created = creation_time_ns
        self._offsets = array.array("q")
        self._dirty = False
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._load()
        else:
            self._rewrite(creation_time_ns)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._read_fd = os.open(self.path, os.O_RDONLY)
        self._size = os.fstat(self._fd).st_size
        if fsync is FsyncPolicy.INTERVAL:
            self._flusher = threading.Thread(target=self._flush_loop, name=f"fixstore-{self.path.name}", daemon=True)
            self._flusher.start()

    # ---- MessageStore -----------------------------------------------------------------------

    @property
    def next_sender_seq(self) -> int:
        return self._sender

    @property
    def next_target_seq(self) -> int:
        return self._target

    @property
    def creation_time_ns(self) -> int:
        return self._created

    def save_sent(self, seq: int, raw: bytes) -> None:
        offset = self._size
        self._append(_record(_KIND_SENT, seq, raw))
        offsets = self._offsets
        if seq >= len(offsets):
            offsets.extend([0] * (seq + 1 - len(offsets)))
        offsets[seq] = offset + 1  # 0 means "not stored"
        self._sender = seq + 1

    def set_next_sender_seq(self, seq: int) -> None:
        self._append(_record(_KIND_SENDER, seq))
        self._sender = seq

    def set_next_target_seq(self, seq: int) -> None:
        self._append(_record(_KIND_TARGET, seq))
        self._target = seq

    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        offsets = self._offsets
        for seq in range(max(begin, 1), min(end, len(offsets) - 1) + 1):
            stored = offsets[seq]
            if stored:
                header = os.pread(self._read_fd, _RECORD.size, stored - 1)
                _, _, length, _ = _RECORD.unpack(header)
                out.append((seq, os.pread(self._read_fd, length, stored - 1 + _RECORD.size)))
        return out

    def reset(self, creation_time_ns: int) -> None:
        with self._sync_lock:
            self._reset(creation_time_ns)

    def _reset(self, creation_time_ns: int) -> None:
        os.close(self._fd)
        os.close(self._read_fd)
        self._rewrite(creation_time_ns)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._read_fd = os.open(self.path, os.O_RDONLY)
        self._size = os.fstat(self._fd).st_size
        self._offsets = array.array("q")
        self._sender = 1
        self._target = 1
        self._created = creation_time_ns
        self._dirty = False

    def close(self) -> None:
        if self._flusher is not None:
            self._stop.set()
            self._flusher.join(timeout=5)
            self._flusher = None
        if self._fd >= 0:
            if self._dirty and self.fsync is not FsyncPolicy.NONE:
                self._sync()
            os.close(self._fd)
            os.close(self._read_fd)
            self._fd = -1
            self._read_fd = -1

    # ---- internals ------------------------------------------------------------------------

    def _append(self, record: bytes) -> None:
        """Append one record, all or nothing: on any error the file is cut back and the OSError raised."""
        try:
            written = os.write(self._fd, record)
            if written != len(record):  # a regular file only writes short when the disk is full
                raise OSError(errno.ENOSPC, f"short write to {self.path}: {written} of {len(record)} bytes")
            if self.fsync is FsyncPolicy.BATCH:
                self._sync()
        except OSError:
            self._cut_back()
            raise
        self._size += written
        if self.fsync is not FsyncPolicy.BATCH:
            self._dirty = True

    def _cut_back(self) -> None:
        """Drop whatever part of a failed record reached the file, so the next record follows a whole one."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError as exc:  # the file keeps a torn record; opening it later cuts the tail there
            log.error("FIX store %s: could not cut a failed write back to %d bytes: %s", self.path, self._size, exc)

    def _sync(self) -> None:
        with self._sync_lock:
            self._dirty = False
            os.fdatasync(self._fd)
            self.fsyncs += 1

    def _flush_loop(self) -> None:
        """Interval policy: fdatasync from this thread, so the event loop never blocks on the disk."""
        interval_s = self.fsync_interval_ns / 1e9
        while not self._stop.wait(interval_s):
            if self._dirty:
                try:
                    self._sync()
                except OSError as exc:  # the fd was closed under us by reset/close: retry next round
                    log.warning("FIX store %s: background fdatasync failed: %s", self.path, exc)

    def _rewrite(self, creation_time_ns: int) -> None:
        data = _record(_KIND_CREATED, creation_time_ns) + _record(_KIND_SENDER, 1) + _record(_KIND_TARGET, 1)
        write_file_atomically(self.path, data)

    def _load(self) -> None:
        data = self.path.read_bytes()
        pos = 0
        size = len(data)
        offsets = self._offsets
        while pos + _RECORD.size <= size:
            crc, kind, length, value = _RECORD.unpack_from(data, pos)
            end = pos + _RECORD.size + length
            if length > _MAX_PAYLOAD or end > size or zlib.crc32(data[pos + 4 : end]) != crc:
                break
            if kind == _KIND_SENT:
                if value >= len(offsets):
                    offsets.extend([0] * (value + 1 - len(offsets)))
                offsets[value] = pos + 1
                self._sender = value + 1
            elif kind == _KIND_SENDER:
                self._sender = value
            elif kind == _KIND_TARGET:
                self._target = value
            elif kind == _KIND_CREATED:
                self._created = value
            pos = end
        if pos < size:
            self.truncated_bytes = size - pos
            log.warning(
                "FIX store %s: cut off %d bytes of a torn or corrupt tail at offset %d",
                self.path,
                size - pos,
                pos,
            )
            os.truncate(self.path, pos)
