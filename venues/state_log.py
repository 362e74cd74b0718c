"""A small state file kept as its snapshot and the changes since, appended (a BOE venue's Cancels owed, reports).

The file's first line is the state's JSON snapshot; each later line is one change, written with one ``os.write``
on a descriptor kept open, when the change happens, and not fsynced then: a process crash (``kill -9``) keeps it
(the kernel's page cache holds it and writes it back). ``sync`` makes the changes durable with one fsync (the owner
calls it once per read from the venue, before anything of that read is journaled or sent), or, once the changes
outgrow the snapshot, replaces the file by a fresh snapshot instead (atomically, fsynced:
``write_file_atomically``), so the file stays within about twice its state and each change costs O(1) work,
amortized. A file written by an earlier version (one JSON document, no newline) reads as a snapshot alone.

A process appends only to a file it wrote itself: its first change writes the whole state (``rewrite``), so a
torn tail left by another process is gone before anything is appended. After a failed write the log is closed
(``failed``): the owner writes the whole state again at its next ``sync``.

Reading (``read_state_log``): the part a power failure can cut is the part written since the last sync; a last
line without its newline (torn), and a line holding NUL bytes (pages of the file never written back), are that
part: left out, and counted so the caller can say so.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from venues.atomic_file import write_file_atomically

COMPACT_MIN_BYTES = 4096
"""Changes appended up to this size are never compacted, whatever the snapshot's size (a small state)."""


class StateLog:
    """The writer of one state file: ``rewrite`` a snapshot, ``append`` changes, ``sync`` them once per batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tag = ""
        """What the snapshot on file was written for (a trading day): a change for another one rewrites it."""
        self.failed = False
        """A write failed: the next ``sync`` writes the whole state again (nothing is appended meanwhile)."""
        self.unsynced = False
        """Changes were appended since the last fsync."""
        self._fd = -1
        self._snapshot_bytes = 0
        self._appended_bytes = 0

    def appends_for(self, tag: str) -> bool:
        """Return True if a change for ``tag`` is appended; False if the whole state must be written first."""
        return self._fd >= 0 and self.tag == tag

    @property
    def outgrown(self) -> bool:
        """The changes appended outgrew the snapshot (and ``COMPACT_MIN_BYTES``): ``sync`` rewrites the file."""
        return self._appended_bytes > max(self._snapshot_bytes, COMPACT_MIN_BYTES)

    def rewrite(self, snapshot: bytes, tag: str) -> None:
        """Replace the file by ``snapshot`` (atomically, fsynced), changes appended to it from now on; OSError."""
        self.close()
        self.failed = True  # until the new file is in place and open
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = snapshot + b"\n"
        write_file_atomically(self.path, data)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.tag = tag
        self.failed = self.unsynced = False
        self._snapshot_bytes = len(data)
        self._appended_bytes = 0

    def append(self, line: bytes) -> None:
        """Append one change (one ``write``, no fsync); OSError if it cannot (the log is then ``failed``)."""
        data = line + b"\n"
        try:
            written = os.write(self._fd, data)
        except OSError:
            self._fail()
            raise
        self.unsynced = True
        if written != len(data):  # a short write (the disk full): the torn line must not be followed by others
            self._fail()
            raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes)")
        self._appended_bytes += written

    def sync(self) -> None:
        """Make the appended changes durable (one fsync); OSError if it cannot (the log is then ``failed``)."""
        if self.unsynced:
            try:
                os.fsync(self._fd)
            except OSError:
                self._fail()
                raise
            self.unsynced = False

    def close(self) -> None:
        """Close the descriptor (the file stays as it is; the next change writes the whole state)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def _fail(self) -> None:
        self.close()
        self.failed = True


def read_state_log(path: Path) -> tuple[bytes, list[bytes], int] | None:
    """Return (snapshot line, change lines, lines left out as the unsynced part) of ``path``; None: no file.

    OSError if it cannot be read. The snapshot is the first line (the whole file if it has no newline).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    snapshot, _, rest = raw.partition(b"\n")
    lines = rest.split(b"\n")
    dropped = 1 if lines[-1] else 0  # after the last newline: a torn line (or nothing)
    del lines[-1]
    changes: list[bytes] = []
    for line in lines:
        if b"\0" in line:
            dropped += 1
        elif line:
            changes.append(line)
    return snapshot, changes, dropped
