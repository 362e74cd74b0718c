"""The journal's file format and its reading: record framing, the ``MmapJournal`` header page, scan and recovery.

``read_journal`` (start-up), ``data_end`` / ``truncate_torn_tail`` (where appending continues) and
``JournalReader`` (the replay streams). ``gateway.journal`` re-exports every name; see there for the format.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, Protocol

import msgspec

from gateway.journal_records import JournalRecord
from model.fsync import FsyncPolicy

log = logging.getLogger("gateway.journal")

_PROJECT_ROOT: Final = str(Path(__file__).resolve().parent.parent)
"""Where ``python -m gateway.journal_syncer`` finds the packages."""

RECORD_HEADER: Final = struct.Struct(">II")
HEADER_SIZE: Final = RECORD_HEADER.size
_pack_header: Final = RECORD_HEADER.pack_into
_crc32: Final = zlib.crc32
MAX_RECORD_SIZE: Final = 1 << 20
_BATCH: Final = FsyncPolicy.BATCH
_INTERVAL: Final = FsyncPolicy.INTERVAL

MMAP_MAGIC: Final = b"GWJ\x02"
"""First bytes of a journal written by ``MmapJournal`` (its 4 KiB header page, then the records)."""
MMAP_HEADER: Final = struct.Struct(">4sIQI")
"""magic | format version | end of the data last made durable (file offset) | crc32 of the first three."""
MMAP_FORMAT: Final = 2
DATA_START: Final = 4096
"""Where the records of an ``MmapJournal`` file begin (the header page before them)."""
GROW_BYTES: Final = 64 << 20
"""How much an ``MmapJournal`` file is extended (preallocated) at a time."""
OWNER_AT: Final = 64
"""Where the header page holds the owner block: the gateway id and session date the file was begun for."""
OWNER_MAGIC: Final = b"GWID"
OWNER_HEAD: Final = struct.Struct(">4sH")
"""owner block: magic | length of the text | the text (``<gateway_id> <YYYYMMDD>``, UTF-8) | crc32 of all before."""


class JournalCorruptError(Exception):
    """The journal has a damaged record before its tail: an operator must look at it."""


class JournalCloseError(OSError):
    """``close`` could not make everything durable (the file is closed all the same): what was lost, and why.

    ``pending_bytes``: the records never written whole (the last batch, and a record a short write left partly in
    the file, which the close cut off: ``cut_bytes`` of it); ``dropped_records`` of them. Nothing that depended on
    them left the gateway (journal first, then the wire). ``unsynced``: the final fdatasync failed, so what the
    file holds past its last sync may not survive a power failure (a process restart reads it). ``kept``: the
    file at the journal's path ends with its last whole record and all of it is durable (the final sync
    succeeded): every record of anything that left the gateway survives a power failure, so the stop is clean
    for the order ids (journalstop56).
    """

    def __init__(
        self,
        path: Path,
        pending_bytes: int,
        unsynced: bool,
        cause: OSError,
        *,
        dropped_records: int = 0,
        cut_bytes: int = 0,
        kept: bool = False,
    ) -> None:
        self.path = path
        self.pending_bytes = pending_bytes
        self.unsynced = unsynced
        self.cause = cause
        self.dropped_records = dropped_records
        self.cut_bytes = cut_bytes
        self.kept = kept
        parts = []
        if pending_bytes:
            records = f", {dropped_records} records" if dropped_records else ""
            cut = f" ({cut_bytes} bytes of one were cut off the file's end: written in part)" if cut_bytes else ""
            parts.append(f"{pending_bytes} bytes of records were never written (sent nowhere){records}{cut}")
        if unsynced:
            parts.append("the final fdatasync failed (the records since the last sync may not survive a power loss)")
        detail = "; ".join(parts) or "its final flush failed (no batch was pending, the file synced)"
        super().__init__(f"journal {path}: {detail}: {type(cause).__name__}: {cause}")


def count_records(buf: bytes | bytearray | memoryview, start: int, end: int) -> int:
    """Return how many records begin in ``buf[start:end]`` (``start``: a record's start; each lies whole in ``buf``)."""
    count = 0
    unpack_from = RECORD_HEADER.unpack_from
    while start < end:
        start += HEADER_SIZE + unpack_from(buf, start)[0]
        count += 1
    return count


class JournalScan(msgspec.Struct):
    """What reading a journal found."""

    records: int = 0
    good_bytes: int = 0
    """File offset just after the last good record (where appending continues)."""
    torn_bytes: int = 0
    """Bytes after the last good record that were cut off (a torn final write; in an ``MmapJournal`` file the
    zeros after it, its never-written part, are not counted)."""
    synced_bytes: int = -1
    """An ``MmapJournal`` file: the end of the data its header says was made durable (-1: no header)."""
    dropped_records: int = 0
    """CRC-valid records found past the damage that ended an ``MmapJournal`` file's unsynced tail (cut too)."""


_record_decoder = msgspec.msgpack.Decoder(JournalRecord)
_ZEROS: Final = bytes(1 << 16)


def mmap_header(synced: int) -> bytes:
    """Return the header of an ``MmapJournal`` file whose data up to ``synced`` is durable."""
    head = MMAP_HEADER.pack(MMAP_MAGIC, MMAP_FORMAT, synced, 0)[:-4]
    return head + _crc32(head).to_bytes(4, "big")


def owner_block(owner: str) -> bytes:
    """Return the header page's owner block naming ``owner`` (``<gateway_id> <YYYYMMDD>``)."""
    text = owner.encode()[: DATA_START - OWNER_AT - OWNER_HEAD.size - 4]
    head = OWNER_HEAD.pack(OWNER_MAGIC, len(text)) + text
    return head + _crc32(head).to_bytes(4, "big")


def read_owner(page: bytes | memoryview, path: str | Path) -> str | None:
    """Return the owner a header page names, None when it names none (a file begun by an earlier version).

    A damaged owner block raises JournalCorruptError: the page was written whole when the file was begun.
    """
    at = OWNER_AT
    if len(page) < at + OWNER_HEAD.size or bytes(page[at : at + len(OWNER_MAGIC)]) != OWNER_MAGIC:
        return None
    _magic, length = OWNER_HEAD.unpack_from(page, at)
    stop = at + OWNER_HEAD.size + length
    if stop + 4 > len(page) or _crc32(bytes(page[at:stop])) != int.from_bytes(page[stop : stop + 4], "big"):
        raise JournalCorruptError(f"journal {path}: damaged owner block in the header page")
    return bytes(page[at + OWNER_HEAD.size : stop]).decode(errors="replace")


class JournalOwnerError(JournalCorruptError):
    """The journal file was begun by another gateway id or for another session date (files mixed up)."""


class JournalForeignError(JournalOwnerError):
    """The file at the journal's path is not a journal (no header page, no record at byte 0): never cut or reused."""


def foreign_problem(data: bytes | memoryview, size: int, path: str | Path) -> str:
    """Return why ``data`` (a file's first bytes, ``size`` in all) is not a journal; "" when it may be one.

    A journal is empty, all zeros (created, then a power failure before its first write reached the disk),
    begins with the ``MmapJournal`` header page, or begins with a record header (``FileJournal``, an
    earlier version's file) whose length is plausible, also when cut short (its first write cut): what
    follows is then read as a journal (a torn first record, or damage). Anything else was put there by
    someone else: a torn tail is a cut final write after good records, never a whole file.
    """
    head = bytes(data[:DATA_START])
    if not size or head.startswith(MMAP_MAGIC) or not head.strip(b"\0"):
        return ""
    length = int.from_bytes(head[:4].ljust(4, b"\0"), "big")  # cut short: the least the length could be
    if 0 < length <= MAX_RECORD_SIZE:
        return ""
    return (
        f"{path} is not a journal file: it has no journal header and no record at byte 0 ({size} bytes, "
        f"beginning {head[:16]!r}); something other than a gateway wrote it, and it is neither cut nor "
        "overwritten"
    )


def foreign_file_problem(path: str | Path) -> str:
    """Return why the file at ``path`` is not a journal (``foreign_problem``); "" when it may be one or is missing."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return foreign_problem(fh.read(HEADER_SIZE + MAX_RECORD_SIZE), size, path)
    except FileNotFoundError:
        return ""


def _layout(data: bytes | memoryview, path: str | Path) -> tuple[int, int]:
    """Return (where the records start, the synced end: -1 for a file without the ``MmapJournal`` header)."""
    if bytes(data[: len(MMAP_MAGIC)]) != MMAP_MAGIC:
        return 0, -1
    if len(data) < DATA_START:
        raise JournalCorruptError(f"journal {path}: header page cut short ({len(data)} bytes)")
    _magic, version, synced, crc = MMAP_HEADER.unpack_from(data, 0)
    if _crc32(bytes(data[: MMAP_HEADER.size - 4])) != crc or version != MMAP_FORMAT or synced < DATA_START:
        raise JournalCorruptError(f"journal {path}: damaged header (format {version}, synced end {synced})")
    return DATA_START, synced


def _all_zero(view: memoryview, start: int, end: int) -> bool:
    """Return True if ``view[start:end]`` holds only zero bytes."""
    while start < end:
        stop = min(end, start + len(_ZEROS))
        if bytes(view[start:stop]) != _ZEROS[: stop - start]:  # a copy and memcmp: ~25x a memoryview's item walk
            return False
        start = stop
    return True


def _last_nonzero_end(view: memoryview, start: int, end: int) -> int:
    """Return the offset after the last non-zero byte of ``view[start:end]`` (``start`` if all are zero)."""
    while end > start:
        chunk = max(start, end - len(_ZEROS))
        data = bytes(view[chunk:end])  # compared as bytes (memcmp), not item by item as memoryviews are
        if data != _ZEROS[: end - chunk]:
            return chunk + len(data.rstrip(b"\0"))
        end = chunk
    return start


def read_journal(path: str | Path, scan: JournalScan | None = None) -> Iterator[JournalRecord]:
    """Yield every good record of ``path``; fill ``scan``; raise JournalCorruptError on mid-file damage.

    Zeros after the last record are the unwritten part of a preallocated (``MmapJournal``) file,
    not damage. Damage with no good record after it is a torn tail (cut). Damage followed by good
    records is corruption, except past the synced end an ``MmapJournal`` header names: there it is
    what a power failure left of the unsynced tail (pages written back out of order), cut as a
    torn tail with a warning that counts the good records it held.
    """
    scan = scan if scan is not None else JournalScan()
    data = Path(path).read_bytes() if Path(path).exists() else b""
    view = memoryview(data)
    end = len(data)
    pos, synced = _layout(view, path)
    if synced < 0:
        foreign = foreign_problem(view[: HEADER_SIZE + MAX_RECORD_SIZE], end, path)
        if foreign:
            raise JournalForeignError(foreign)
    preallocated = synced >= 0
    """An MmapJournal file: zeros after the records are its unwritten part. (In a file without the header
    page zeros are a torn tail, cut with it, so that ``FileJournal`` appends right after the last record.)"""
    scan.synced_bytes = synced
    scan.good_bytes = pos
    while pos < end:
        problem = ""
        if end - pos < HEADER_SIZE:
            if preallocated and _all_zero(view, pos, end):
                _check_durable_end(pos, end, synced, path)
                return
            problem = "partial record header"
        else:
            length, crc = RECORD_HEADER.unpack_from(view, pos)
            stop = pos + HEADER_SIZE + length
            if preallocated and length == 0 and crc == 0 and _all_zero(view, pos, end):
                _check_durable_end(pos, end, synced, path)
                return  # the rest of the file was never written
            if length == 0:
                problem = "zero-length record (never written)"
            elif length > MAX_RECORD_SIZE:
                problem = f"record length {length} is implausible"
            elif stop > end:
                problem = "record runs past the end of the file"
            elif _crc32(view[pos + HEADER_SIZE : stop]) != crc:
                problem = "checksum mismatch"
        if problem:
            _damage(view, pos, end, synced, path, problem, scan)
            return
        try:
            record = _record_decoder.decode(view[pos + HEADER_SIZE : stop])
        except msgspec.DecodeError as exc:
            raise JournalCorruptError(f"journal {path}: undecodable record at byte {pos}: {exc}") from exc
        pos = stop
        scan.records += 1
        scan.good_bytes = pos
        yield record
    _check_durable_end(pos, end, synced, path)


class JournalCutShortError(JournalCorruptError):
    """The journal's data ends before the durable end its header names: the file was cut short or zeroed."""


def _check_durable_end(pos: int, end: int, synced: int, path: str | Path) -> None:
    """Raise JournalCutShortError if the data ends at ``pos``, before the durable end ``synced`` (-1: no header).

    Everything before the durable end was on disk, so data ending earlier, at the end of the file or at
    zeros, even at a record boundary, was cut or zeroed by something else: never a torn tail to start from.
    """
    if 0 <= pos < synced:
        where = "the file ends there" if pos >= end else f"zeros follow, the file is {end} bytes"
        raise JournalCutShortError(
            f"journal {path}: the data ends at byte {pos} ({where}), before the end of the data made durable "
            f"({synced}) that its header names: the file was cut short or zeroed, and the records between are gone"
        )


def _damage(
    view: memoryview, pos: int, end: int, synced: int, path: str | Path, problem: str, scan: JournalScan
) -> None:
    """Decide what a damaged record at ``pos`` is: a tail to cut (fill ``scan``), or corruption (raise)."""
    written = _last_nonzero_end(view, pos, end)
    if synced >= 0 and pos < synced:
        raise JournalCorruptError(
            f"journal {path}: damaged record at byte {pos}, before the end of the data made durable "
            f"({synced}): {problem}"
        )
    following = _good_records_after(view, pos, written)
    if following and synced < 0:
        raise JournalCorruptError(f"journal {path}: damaged record at byte {pos}: {problem}")
    scan.torn_bytes = (written if synced >= 0 else end) - pos  # an MmapJournal's zeros are not torn bytes
    end = written
    if following:
        scan.dropped_records = following
        log.error(
            "journal %s: damaged record at byte %d (%s) past the last synced byte %d, followed by %d CRC-valid "
            "records: cut as the file's unsynced part, %d bytes with those records. Everything past the last sync "
            "is cut on damage, whatever damaged it: a power failure (pages written back out of order) or anything "
            "else; under fsync none the last sync is the file's start or its last clean close. A process killed "
            "while copying its last batch into the journal leaves this too: then none of the cut records had left "
            "the gateway. After a power failure the orders in them may be at a venue: reconcile them with the venue "
            "(docs/reliability.md 2.3)",
            path,
            pos,
            problem,
            synced,
            following,
            end - pos,
        )
    else:
        log.warning("journal %s: torn record at byte %d (%s); ignoring the tail", path, pos, problem)


def _good_records_after(view: memoryview, pos: int, end: int) -> int:
    """Return how many CRC-valid records follow in a chain from the first one found after ``pos`` (0: none)."""
    probe = pos + 1
    while probe + HEADER_SIZE <= end:
        length, crc = RECORD_HEADER.unpack_from(view, probe)
        stop = probe + HEADER_SIZE + length
        if 0 < length <= MAX_RECORD_SIZE and stop <= end and _crc32(view[probe + HEADER_SIZE : stop]) == crc:
            count = 0
            while probe + HEADER_SIZE <= end:
                length, crc = RECORD_HEADER.unpack_from(view, probe)
                stop = probe + HEADER_SIZE + length
                if not (0 < length <= MAX_RECORD_SIZE and stop <= end):
                    break
                if _crc32(view[probe + HEADER_SIZE : stop]) != crc:
                    break
                count += 1
                probe = stop
            return count
        probe += 1
    return 0


def data_end(path: str | Path) -> int:
    """Return where the records of ``path`` end, by their lengths alone (no CRC check): where to append.

    Stops at zeros (the unwritten part of a preallocated file), at a length that is implausible
    or runs past the end of the file (a torn last record: appending overwrites it).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    view = memoryview(data)
    size = len(data)
    pos = DATA_START if bytes(view[: len(MMAP_MAGIC)]) == MMAP_MAGIC else 0
    unpack_from = RECORD_HEADER.unpack_from
    while pos + HEADER_SIZE <= size:
        length, crc = unpack_from(view, pos)
        if (length == 0 and crc == 0) or length > MAX_RECORD_SIZE or pos + HEADER_SIZE + length > size:
            break
        pos += HEADER_SIZE + length
    return min(pos, size)


def truncate_torn_tail(path: str | Path, good_bytes: int) -> None:
    """Cut ``path`` back to its last good record so new appends start clean."""
    with open(path, "r+b") as fh:
        fh.truncate(good_bytes)
        fh.flush()
        os.fsync(fh.fileno())


class RecordFilter(Protocol):
    """Which records a reader decodes (``JournalReader.read``'s ``select``): the others it passes over."""

    def wanted(self, buf: bytes, start: int, stop: int) -> bool:
        """Return whether to decode the record whose payload is ``buf[start:stop]`` (CRC-checked)."""

    def ends_batch(self, buf: bytes, start: int) -> bool:
        """Return whether a wanted record (payload at ``buf[start]``) may change what is wanted after it."""

    def skip(self, buf: bytes, at: int, end: int, limit: int) -> tuple[int, int]:
        """Pass over up to ``limit`` whole, CRC-valid, unwanted records from the header at ``buf[at]``.

        Stop before the first that is wanted, damaged or not wholly in ``buf[:end]``; return (where, how many).
        """


READ_CHUNK: Final = 64 << 10
"""Bytes a ``JournalReader`` asks the kernel for at a time."""


def _zero(data: bytes) -> bool:
    """Return True if ``data`` holds only zero bytes (a memcmp per 64 KiB, never a byte-by-byte ``strip``)."""
    step = len(_ZEROS)
    for at in range(0, len(data), step):
        part = data[at : at + step]
        if part != _ZEROS[: len(part)]:
            return False
    return True


class JournalReader:
    """Read the records of a journal file from a position on, a bounded number at a time (``read``).

    The replay of events released from memory reads with it (``gateway.replay``): from a position
    the engine noted (``Journal.tell``), forward, as far as it needs and no further. Records are
    CRC-checked as ``read_journal`` checks them; the reader stops at the end of the data (zeros of
    a preallocated file, end of file, a record still being written). A damaged record followed by
    more data raises JournalCorruptError: a replay never skips one. Given the writer's data end
    (``written``: the journal's ``tell``), a reader that reaches it stops there and reads nothing more;
    without it, the zeros after the data are read (up to ``MAX_RECORD_SIZE``) to tell the end from damage.
    """

    def __init__(self, path: str | Path | None, start: int, written: Callable[[], int] | None = None) -> None:
        self._fd = -1
        self._pos = start
        self._written = written
        """The writer's data end (``Journal.tell``), asked where the records stop: there the data ends, without
        reading the file's zeros after it to tell the end from damage (None: a reader of a file at rest)."""
        self._buf = b""
        """Bytes read from ``_buf_at`` on that no record has used yet."""
        self._buf_at = start
        self.done = path is None
        self._damage: JournalCorruptError | None = None
        """Damage found after good records: raised by the next ``read``."""
        self.bytes_read = 0
        self.skipped = 0
        """Records passed over unread by ``read``'s ``select`` (CRC-checked, not decoded)."""
        self.path = path
        if path is None:
            return
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            self.done = True
            return
        head = os.pread(self._fd, len(MMAP_MAGIC), 0)
        data_start = DATA_START if head == MMAP_MAGIC else 0
        self._pos = self._buf_at = max(start, data_start)

    @property
    def position(self) -> int:
        """The file offset after the last record read (where the next ``read`` starts)."""
        return self._pos

    def read(
        self, max_records: int, select: RecordFilter | None = None, max_skipped: int = 0
    ) -> list[tuple[int, JournalRecord]]:
        """Return up to ``max_records`` (file offset, record) pairs; an empty list at the end of the data.

        With ``select`` (given the buffer and where a record's payload starts and stops), a record it turns
        down is CRC-checked but not decoded nor returned (counted in ``skipped``), and the call also returns
        once it has passed over ``max_skipped`` of them (maybe with nothing: not the end; ``done`` says), and
        right after a record that ``select.ends_batch``.
        Damage raises JournalCorruptError, but only once the good records before it were returned: a reader
        that has what it needs stops before it (e.g. a record being written while a worker thread reads).
        """
        out: list[tuple[int, JournalRecord]] = []
        if self._damage is not None:
            raise self._damage
        if self.done:
            return out
        try:
            self._read(max_records, out, select, max_skipped)
        except JournalCorruptError as exc:
            if not out:
                raise
            self._damage = exc
        return out

    def _read(
        self, max_records: int, out: list[tuple[int, JournalRecord]], select: RecordFilter | None, max_skipped: int
    ) -> None:
        decode = _record_decoder.decode
        unpack_from = RECORD_HEADER.unpack_from
        skipped = 0
        while len(out) < max_records:
            if select is not None:  # first pass over the records it does not want, in bulk
                offset = self._pos - self._buf_at
                at, passed = select.skip(self._buf, offset, len(self._buf), max_skipped - skipped)
                if passed:
                    self._pos += at - offset
                    skipped += passed
                    if skipped >= max_skipped:
                        break
            offset = self._pos - self._buf_at
            buf = self._buf
            if len(buf) - offset < HEADER_SIZE and not self._fill(HEADER_SIZE):
                break
            buf = self._buf
            offset = self._pos - self._buf_at
            length, crc = unpack_from(buf, offset)
            if length == 0 or length > MAX_RECORD_SIZE:
                self._end_of_data(f"record length {length}")
                break
            stop = offset + HEADER_SIZE + length
            if stop > len(buf):
                if not self._fill(HEADER_SIZE + length):
                    break
                buf = self._buf
                offset = self._pos - self._buf_at
                stop = offset + HEADER_SIZE + length
            payload = memoryview(buf)[offset + HEADER_SIZE : stop]
            if _crc32(payload) != crc:
                self._end_of_data("checksum mismatch")
                break
            if select is not None and not select.wanted(buf, offset + HEADER_SIZE, stop):
                self._pos += HEADER_SIZE + length
                skipped += 1
                if skipped >= max_skipped:
                    break
                continue
            try:
                record = decode(payload)
            except msgspec.DecodeError as exc:
                raise JournalCorruptError(
                    f"journal {self.path}: undecodable record at byte {self._pos}: {exc}"
                ) from exc
            out.append((self._pos, record))
            self._pos += HEADER_SIZE + length
            if select is not None and select.ends_batch(buf, offset + HEADER_SIZE):
                break  # the caller applies it before anything after it is selected
        self.skipped += skipped

    def _fill(self, needed: int) -> bool:
        """Make ``needed`` bytes from ``_pos`` on available in ``_buf``; False (and done) at the end of the file."""
        keep = self._buf[self._pos - self._buf_at :]
        more = os.pread(self._fd, max(READ_CHUNK, needed - len(keep)), self._pos + len(keep))
        self.bytes_read += len(more)
        self._buf = keep + more
        self._buf_at = self._pos
        if len(self._buf) < needed:
            self.close()
            return False
        return True

    def _end_of_data(self, problem: str) -> None:
        """At ``_pos``: the writer's end, or zeros to the end (the unwritten part), end the data; else damage (raise).

        Without the writer's end, the next ``MAX_RECORD_SIZE`` bytes are looked at (a zeroed header followed by
        data is damage), a ``READ_CHUNK`` at a time, stopping at the first one that is not all zeros.
        """
        pos = self._pos
        written = self._written
        if written is not None and pos >= written():
            self.close()
            return
        rest = self._buf[pos - self._buf_at :]
        damaged = not _zero(rest)
        if not damaged:
            at, stop = pos + len(rest), min(pos + MAX_RECORD_SIZE, os.fstat(self._fd).st_size)
            while at < stop:
                chunk = os.pread(self._fd, min(READ_CHUNK, stop - at), at)
                self.bytes_read += len(chunk)
                if not chunk:
                    break
                if not _zero(chunk):
                    damaged = True
                    break
                at += len(chunk)
        self.close()
        if damaged:
            raise JournalCorruptError(f"journal {self.path}: damaged record at byte {pos}: {problem}")

    def close(self) -> None:
        """Release the file and the buffer (the reader reads nothing more)."""
        self.done = True
        self._buf = b""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
