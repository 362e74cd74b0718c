"""The risk audit log: one JSON object per line, appended and fsynced, never rewritten.

Records (field ``event``):

* ``startup``: limits loaded when the gateway started.
* ``reload``: a new limits file was applied; ``changes`` lists every field that changed.
* ``reload_refused``: a reload was asked for but the file was invalid; ``errors`` lists why.
* ``not_applied``: the file watch saw a limits or reference file modified in place (possibly half-written) and
  did not apply it.
* ``trading_state``: the kill switch or an admin changed a trading state at run time; the gateway adds
  ``state_id``, the change's identity, also in its journal record (kill58, ``gateway.audit_kills``).
* ``new_day``: the daily credit counters were reset.
* ``venue_reconnect`` / ``venue_set_seq``: an operator's ``gateway venue reconnect`` / ``gateway venue set-seq``
  (its ``--reason``), fixfix54b.

Every record has ``time`` (UTC, ISO 8601), ``time_ns`` (Unix ns), ``event``, ``trigger``
and ``who``, and the gateway writes ``gateway_id`` (its own, after the details: gateways may share an audit log,
killstop56b); one written after the audit log refused it (its change took effect) adds ``late: true`` and
``written_time``. See docs/risk-officer-guide.md for how to read it.

A record the disk took only in part (a short write: the disk filled) is blanked out, its bytes overwritten with
spaces and a newline, so the next record is not glued onto it (audittorn57); where that fails, or a crash cut a
record short, the next record starts with a newline. A short write that missed only the final newline left the
whole record on disk: it is a written record (fsynced, never reported failed; the next record starts with a
newline), not blanked out (audit58: one whose blank-out failed became whole with the next record's newline, a
reload refused yet recorded as applied, a kill written twice). Readers (``read_audit_log``, ``records_in_line``) recover
the whole records of a line that does not decode as one.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any, Final

import msgspec

_ENCODER = msgspec.json.Encoder()
"""Keys stay in the order written: time, time_ns, event, trigger, who, then the details."""
_DECODER = msgspec.json.Decoder()
_RESYNC = json.JSONDecoder()
RECORD_START = '{"time":'
"""How every record starts (``time`` is written first); a ``{"time":`` inside a string is escaped, never this."""

log = logging.getLogger("risk")

ROTATED_SUFFIXES: Final = (".2", ".1")
"""The names rotations give the audit log's previous files, oldest first (``mv <log> <log>.1``, logrotate's ``.1``,
``.2``): every reader at a start or a stop reads them (``audit_files``)."""

ROTATIONS_READ: Final = len(ROTATED_SUFFIXES)
"""How many rotations a record in the current file stands before a start no longer reads it."""


def audit_files(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Return the audit log's files in the order their records were written: ``<log>.2``, ``<log>.1``, ``<log>``.

    The one list every reader of the audit log at a start or a stop uses: the kill switches the journal lost
    (``gateway.audit_kills``), the last word on the limits in force (``risk.startup.last_word``), the stop's check
    of a kill's record (ops59: the start read ``<log>`` and ``<log>.1`` for the limits, ``<log>.2`` too for a kill,
    and a held-back file was put in force after two rotations). Read them with ``read_tail``.
    """
    log_path = Path(path)
    return (*(log_path.with_name(log_path.name + suffix) for suffix in ROTATED_SUFFIXES), log_path)


def rotations_left(path: str | os.PathLike[str], file: str | os.PathLike[str]) -> int:
    """Return how many more rotations of the audit log ``path`` leave ``file`` (one of ``audit_files``) read by a
    start: 2 for the current file, 1 for ``<log>.1``, 0 for ``<log>.2`` (or a file not among them)."""
    files = audit_files(path)
    return files.index(Path(file)) if Path(file) in files else 0


def files_read(path: str | os.PathLike[str]) -> str:
    """Name the files a start reads, newest first: ``<log>, <log>.1 and <log>.2``."""
    names = [str(file) for file in reversed(audit_files(path))]
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def rotate_advice(path: str | os.PathLike[str], file: str | os.PathLike[str]) -> str:
    """Say how many rotations before the start a record in ``file`` (one of ``audit_files``) stands."""
    left = rotations_left(path, file)
    if not left:
        return "do not rotate it before the start"
    return f"do not rotate it more than {'once' if left == 1 else f'{left} times'} before the start"


def read_tail(path: str | os.PathLike[str], limit: int) -> tuple[int, bytes]:
    """Return where the last ``limit`` bytes of the audit log file ``path`` start, and those bytes; never blocks.

    Opened with ``O_NONBLOCK`` and read only if it is a regular file (``fstat``): a FIFO, a device or a directory at
    a rotated path (retention tooling, a mistake) raises ``OSError`` ("not a regular file") at once, where a plain
    ``open`` of a FIFO waited for a writer for ever and a start hung, deaf to SIGTERM (ops59). ``FileNotFoundError``
    for a missing file, as ``open``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_kind(info.st_mode)})")
        size = info.st_size
        start = max(size - limit, 0)
        chunks: list[bytes] = []
        at = start
        while at < size:
            chunk = os.pread(fd, min(size - at, 1 << 20), at)
            if not chunk:
                break  # cut short meanwhile
            chunks.append(chunk)
            at += len(chunk)
        return start, b"".join(chunks)
    finally:
        os.close(fd)


def not_regular(path: str | os.PathLike[str], kind: str) -> OSError:
    """Return the error of an audit log path where a file that is not a regular one (``kind``) is."""
    return OSError(
        errno.EINVAL,
        f"the risk audit log {path} is not a regular file ({kind}): its records are written to a regular file only "
        "(risk_audit_log; ops guide, section 6)",
    )


def check_regular(path: str | os.PathLike[str]) -> None:
    """Raise ``OSError`` (``not_regular``) if something other than a regular file is at ``path`` (none: fine).

    The start's first look (``RiskEngine.load``), before it reads anything: the gateway does not start on an audit
    log it could not write to without blocking (a FIFO), as on an unusable ``state_dir`` (exit 1).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise not_regular(path, _kind(mode))


def _kind(mode: int) -> str:
    """Name what a file that is not a regular one is."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a directory" if stat.S_ISDIR(mode) else "a device"


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
        self._readable = True
        """The file is open for reading too (``_ends_torn`` reads its last byte)."""
        self._torn = False
        """The file does not end with a newline we wrote (a short write's bytes could not be blanked out, or a
        record was written whole but its newline): the next record starts with a newline."""
        self._fd = self._open()
        self._lock = threading.Lock()
        """One writer at a time (a reload's record is written in a worker thread): lines never interleave."""

    def _open(self) -> int:
        """Open the file at ``path``, creating it if missing (its directory is then fsynced by ``write``).

        Opened for reading too where permitted: ``_write`` reads its last byte (a record cut short leaves no newline
        there); write-only otherwise. Only a regular file (ops59b): anything else at ``path`` (a FIFO, a device)
        raises ``OSError`` at once, never waited on. Before, a FIFO there was opened read-write (which never
        blocks): each record went into the pipe, and once it was full a write blocked the event loop for good.
        """
        readable = True
        flags = os.O_APPEND | os.O_NONBLOCK  # a FIFO's open never waits for a reader
        try:
            try:
                fd = os.open(self.path, os.O_RDWR | flags)
            except FileNotFoundError:
                fd = os.open(self.path, os.O_RDWR | flags | os.O_CREAT, 0o640)
                self._directory_synced = False
            except PermissionError:
                fd = os.open(self.path, os.O_WRONLY | flags)
                readable = False
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            try:  # ENXIO: a FIFO without a reader, or a Unix socket (open(2) of either); say which (ops59c)
                kind = _kind(os.stat(self.path).st_mode)
            except OSError:
                kind = "a FIFO or a socket"
            raise self._not_regular(kind) from exc
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise self._not_regular(_kind(mode))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        self._readable = readable
        self._torn = False
        return fd

    def _not_regular(self, kind: str) -> OSError:
        return not_regular(self.path, kind)

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
        after_torn = self._ends_torn()
        if after_torn:  # the last record in the file was cut short: this one starts on a line of its own
            line = b"\n" + line
        written = os.write(self._fd, line)
        if written == len(line) - 1:  # the whole record but its newline: written (audit58), the next starts a line
            self._torn = True
            log.warning(
                "risk audit log %s: the disk took the record but not its newline (full?): the record is written, "
                "the next one starts on a new line",
                self.path,
            )
        elif written != len(line):
            repaired = self._blank(written, after_torn)
            raise OSError(f"short write to the audit log {self.path}: {written} of {len(line)} bytes; {repaired}")
        else:
            self._torn = False
        os.fsync(self._fd)

    def _ends_torn(self) -> bool:
        """True if the file does not end with a newline: a record cut short (by a crash, or a short write that
        could not be blanked out) is its last line, and the next record would be glued onto it."""
        if self._torn or not self._readable:
            return self._torn
        size = os.fstat(self._fd).st_size
        return size > 0 and os.pread(self._fd, 1, size - 1) != b"\n"

    def _blank(self, written: int, after_torn: bool) -> str:
        """Overwrite the ``written`` bytes a short write left at the file's end with spaces and a newline (a blank
        line readers skip), so no part of a record stays for the next one to be glued onto; say what was done.

        Overwritten in place rather than cut off (``ftruncate``): the audit log may be shared (O_APPEND), and
        another gateway's record appended meanwhile would be cut with it; bytes already in the file take no new
        room on a full disk. If that fails, the next record starts with a newline (``_ends_torn``).
        """
        if written <= 0:
            return "nothing of it was written"
        flags = -1
        try:
            end = os.lseek(self._fd, 0, os.SEEK_CUR)  # O_APPEND: just after the bytes this write appended
            blank = bytearray(b" " * written)
            blank[-1:] = b"\n"
            if after_torn:
                blank[:1] = b"\n"  # the newline ending the torn line before stays
            flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_APPEND)  # pwrite with O_APPEND appends (Linux)
            if os.pwrite(self._fd, bytes(blank), end - written) != written:
                raise OSError("short write")
            os.fsync(self._fd)
        except OSError as exc:
            self._torn = True
            return f"the part written could not be blanked out ({exc}): the next record starts on a new line"
        finally:
            if flags != -1:
                fcntl.fcntl(self._fd, fcntl.F_SETFL, flags)
        return "the part written was blanked out (a line of spaces)"

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


def records_in_line(line: bytes) -> tuple[list[dict[str, Any]], bool]:
    """Decode one line of an audit log: its whole records, and True if the line is not one whole record.

    A whole line is one record; a blank one (a short write blanked out) none. A line that does not decode as one
    record is damaged: a record cut short (a crash, or a short write before audittorn57) with the next record
    written glued onto it on the same line. Its records are recovered from each ``{"time":`` (every record
    starts so), each decoded as far as it goes; the bytes that are not part of a whole record are dropped.
    """
    line = line.strip()
    if not line:
        return [], False
    try:
        record = _DECODER.decode(line)
    except msgspec.DecodeError:
        pass
    else:
        if isinstance(record, dict):
            return [record], False
    text = line.decode("utf-8", "replace")
    records: list[dict[str, Any]] = []
    at = text.find(RECORD_START)
    while at >= 0:
        try:
            found, end = _RESYNC.raw_decode(text, at)
        except ValueError:
            at = text.find(RECORD_START, at + 1)
            continue
        if isinstance(found, dict):
            records.append(found)
        at = text.find(RECORD_START, end)
    return records, True


def read_audit_log(path: str | Path) -> list[dict[str, Any]]:
    """Read every record of an audit log (for tools and tests), the whole records of a damaged line included.

    A line that is not one whole record (``records_in_line``) is named in one WARNING (its line number and byte
    offset) with how many records were recovered from it.
    """
    records: list[dict[str, Any]] = []
    damaged: list[str] = []
    offset = 0
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, 1):
            found, bad = records_in_line(line)
            records.extend(found)
            if bad:
                damaged.append(f"line {number} (byte offset {offset}): {len(found)} whole records recovered")
            offset += len(line)
    if damaged:
        log.warning(
            "risk audit log %s: %d lines are not one whole record (a record cut short; an earlier version of the "
            "gateway wrote the next record on the same line): %s; the rest of those lines skipped",
            path,
            len(damaged),
            "; ".join(damaged[:10]) + (f"; and {len(damaged) - 10} more" if len(damaged) > 10 else ""),
        )
    return records
