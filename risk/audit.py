"""The risk audit log: one JSON object per line, appended and fsynced, never rewritten.

Records (field ``event``):

* ``startup``: limits loaded when the gateway started.
* ``reload``: a new limits file was applied; ``changes`` lists every field that changed.
* ``reload_refused``: a reload was asked for but the file was invalid; ``errors`` lists why.
* ``not_applied``: the file watch saw a limits or reference file modified in place (possibly half-written) and
  did not apply it.
* ``trading_state``: the kill switch or an admin changed a trading state at run time.
* ``new_day``: the daily credit counters were reset.
* ``venue_reconnect`` / ``venue_set_seq``: an operator's ``gateway venue reconnect`` / ``gateway venue set-seq``
  (its ``--reason``), fixfix54b.

Every record has ``time`` (UTC, ISO 8601), ``time_ns`` (Unix ns), ``event``, ``trigger``
and ``who``, and the gateway writes ``gateway_id`` (its own, after the details: gateways may share an audit log,
killstop56b); one written after the audit log refused it (its change took effect) adds ``late: true`` and
``written_time``. See docs/risk-officer-guide.md for how to read it.
"""

from __future__ import annotations

import datetime
import os
import threading
from pathlib import Path
from typing import Any

import msgspec

_ENCODER = msgspec.json.Encoder()
"""Keys stay in the order written: time, time_ns, event, trigger, who, then the details."""


def utc_text(time_ns: int) -> str:
    """Format Unix nanoseconds as an ISO 8601 UTC time with microseconds."""
    moment = datetime.datetime.fromtimestamp(time_ns / 1e9, tz=datetime.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class AuditLog:
    """Append-only JSON-lines file; each ``write`` is on disk (fsync) before it returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._directory_synced = True
        """False while a file created at ``path`` may not yet be named on disk (its directory not fsynced)."""
        self._fd = self._open()
        self._lock = threading.Lock()
        """One writer at a time (a reload's record is written in a worker thread): lines never interleave."""

    def _open(self) -> int:
        """Open the file at ``path``, creating it if missing (its directory is then fsynced by ``write``)."""
        try:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            pass
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._directory_synced = False
        return fd

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a line and fsync it; raises OSError if the disk refuses.

        Rotation: when the file at ``path`` is no longer the one open (``mv`` or ``rm`` by logrotate, say),
        the record goes to a new file created at ``path`` (checked on every write: audit records are rare).
        After creating a file, and after a rotation, the directory is fsynced before the record is written
        (again on every write until that succeeds), so the file's name at ``path``, and a rotation's rename
        within the directory, survive a power failure with the record.
        """
        with self._lock:
            self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        self._reopen_if_moved()
        if not self._directory_synced:  # before the record: a record on disk is one whose reload was applied
            self._sync_directory()
        line = _ENCODER.encode(record) + b"\n"
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"short write to the audit log {self.path}: {written} of {len(line)} bytes")
        os.fsync(self._fd)

    def _sync_directory(self) -> None:
        """fsync the directory holding ``path``: its entries (a created file, a rename) are then on disk."""
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._directory_synced = True

    def _reopen_if_moved(self) -> None:
        if self._fd < 0:
            raise OSError(f"the audit log {self.path} is closed")
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            at_path = None
        opened = os.fstat(self._fd)
        if at_path is not None and (at_path.st_dev, at_path.st_ino) == (opened.st_dev, opened.st_ino):
            return
        fd = self._open()
        os.close(self._fd)
        self._fd = fd
        self._directory_synced = False  # rotated: the rename and the file now at ``path`` are directory entries

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_audit_log(path: str | Path) -> list[dict[str, Any]]:
    """Read every record of an audit log (for tools and tests)."""
    records: list[dict[str, Any]] = []
    with Path(path).open("rb") as handle:
        for line in handle:
            if line.strip():
                records.append(msgspec.json.decode(line))
    return records
