"""An append-only, checksummed log in a memory-mapped, preallocated file: no system call per change.

Layout: a sequence of records ``crc32:u32 kind:u8 length:u32 value:u64 payload``
(little-endian), the CRC covering everything after itself. Kinds: CREATED (value =
wall-clock ns of the last reset), SENDER / TARGET (value = next sequence number),
SENT (value = MsgSeqNum, payload = the message bytes) and SKIPPED (value = the first of the
venue's MsgSeqNums an operator skipped, payload = the expected number after them as u64; value 0:
asked about, fixfix54; a store written before has none, an older gateway ignores them) and RAISED (value = our next
MsgSeqNum before an operator raised it, payload = the raised number as u64; value 0: asked about, fix55; the same
for older stores and gateways) and WITHDRAWN (value = how many entries, payload = per request a stop withdrew
during a journal hold: MsgSeqNum u64, MsgType u8, flags u8 (1: a cancel sent again), ClOrdID length u16, the
ClOrdID; fixstop56b: fdatasynced whatever the fsync policy; an older gateway ignores it). A CREATED record after
others renames the venue's numbering alone (``renumber_inbound``, fixlogon56: an operator lowered the expected
number; an older gateway reads it too; the WITHDRAWN entries stay: our numbering is unchanged), preceded by LOWERED
(value = the expected number before, payload = the lowered one as u64; value 0: the open orders and requests asked
about, fixlogon56b; an older gateway ignores it). JOURNAL (value = the first MsgSeqNum of the venue's numbering,
payload = the identity of the gateway's journal when that numbering began, UTF-8; fixhw60) follows the CREATED record
of a creation, reset or renumbering made under a known journal; ASKED (value = the first of the venue's numbers a
restart asked for again, payload = the end after them as u64; value 0: answered; fixhw60). An older gateway ignores
both.
Opening the file replays the records; a torn or corrupt tail (a crash in the middle of a copy) and the zeros of the
preallocated part are cut off. A reset writes a fresh file next to the old one and renames
it over, so the log only grows within one session day.

Appending copies the record into a shared mapping of the file (the gateway journal's
approach, ``gateway.journal_mmap``): the bytes are in the page cache once the copy returns, so
a killed process loses nothing, and no ``write`` is made per message. The file is extended
(``posix_fallocate``) ``grow_bytes`` at a time, before anything is copied, so a full disk shows
as the ``OSError`` of that call with nothing written, never as a fault on a mapped page; when a
whole step does not fit, by what fits (the step halved down to the record alone, a WARNING
"the disk is nearly full" at the first such growth: ops55), so a nearly full disk never refuses a
record it has room for. A cleanly closed store is cut back to its last record.

Fsync policy: ``always`` fdatasyncs after every record (on the caller's thread, before the
message may be written to the socket); ``interval`` fdatasyncs from a background thread at most
every interval while there are unsynced changes (the event loop never waits for the disk);
``never`` leaves it to the OS (a killed process loses nothing, a machine crash may). On Linux
``fdatasync`` of the file writes back the pages dirtied through the mapping as well.

Offsets of sent messages are indexed by sequence number (8 bytes per message) and the
bytes are read back from the mapping only when the peer asks for a resend.
"""

from __future__ import annotations

import array
import logging
import mmap
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from model.fsync import FsyncPolicy
from model.preallocate import log_growth, preallocate_what_fits
from venues.atomic_file import write_file_atomically
from venues.fix.store.base import FIND_WINDOW, MessageStore, Withdrawn

log = logging.getLogger(__name__)

_RECORD: Final = struct.Struct("<IBIQ")
_BODY: Final = struct.Struct("<BIQ")
_KIND_CREATED: Final = 1
_KIND_SENDER: Final = 2
_KIND_TARGET: Final = 3
_KIND_SENT: Final = 4
_KIND_SKIPPED: Final = 5
_KIND_RAISED: Final = 6
_KIND_WITHDRAWN: Final = 7
_KIND_LOWERED: Final = 8
_KIND_JOURNAL: Final = 9
_KIND_ASKED: Final = 10
_KIND_LAST: Final = _KIND_ASKED
_SKIPPED_END: Final = struct.Struct("<Q")
_WITHDRAWN: Final = struct.Struct("<QBBH")
"""One WITHDRAWN entry's head: MsgSeqNum, MsgType (one byte), flags, ClOrdID length; the ClOrdID follows."""
_WITHDRAWN_AGAIN: Final = 1
_MAX_PAYLOAD: Final = 1 << 20
_OFFSETS_STEP: Final = 4096
"""Sequence numbers the offset index grows by at a time (not one per message)."""
# Final aliases of what is used per record: compiled, a use is a static read instead of a lookup of the
# name in this module's globals dict and of the attribute on the module or Struct
_RECORD_SIZE: Final = _RECORD.size
_pack_body: Final = _BODY.pack
_pack_record_into: Final = _RECORD.pack_into
_crc32: Final = zlib.crc32
_BATCH: Final = FsyncPolicy.BATCH
GROW_BYTES: Final = 4 << 20
"""How much the file is extended (preallocated) at a time: about 15,000 FIX orders."""


def _record(kind: int, value: int, payload: bytes = b"") -> bytes:
    body = _BODY.pack(kind, len(payload), value) + payload
    return struct.pack("<I", zlib.crc32(body)) + body


def _count_records(data: bytes, start: int, stop: int) -> int:
    """Count the CRC-valid records that begin in ``data[start:stop]`` (scanning byte by byte; damage path only)."""
    count = 0
    pos = start
    while pos + _RECORD_SIZE <= stop:
        crc, kind, length, _ = _RECORD.unpack_from(data, pos)
        end = pos + _RECORD_SIZE + length
        if (
            _KIND_CREATED <= kind <= _KIND_LAST
            and length <= _MAX_PAYLOAD
            and end <= stop
            and zlib.crc32(data[pos + 4 : end]) == crc
        ):
            count += 1
            pos = end
        else:
            pos += 1
    return count


def _withdrawn_entries(data: bytes, pos: int, end: int, count: int) -> tuple[Withdrawn, ...]:
    """Decode the ``count`` entries of a WITHDRAWN record's payload ``data[pos:end]`` (as many as are whole)."""
    out: list[Withdrawn] = []
    head = _WITHDRAWN.size
    while len(out) < count and pos + head <= end:
        seq, msg_type, flags, length = _WITHDRAWN.unpack_from(data, pos)
        pos += head
        if pos + length > end:
            break
        out.append(Withdrawn(seq, bytes((msg_type,)), bytes(data[pos : pos + length]), bool(flags & _WITHDRAWN_AGAIN)))
        pos += length
    return tuple(out)


class FileStore(MessageStore):
    """Persist one session's messages and sequence numbers in ``path``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy = FsyncPolicy.NONE,
        fsync_interval_ns: int = 100_000_000,
        creation_time_ns: int = 0,
        grow_bytes: int = GROW_BYTES,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync = FsyncPolicy(fsync)
        self.fsync_interval_ns = fsync_interval_ns
        self.fsyncs = 0
        """How many fdatasync calls were made (for tests and status)."""
        self.truncated_bytes = 0
        """Bytes of a torn or corrupt tail cut off when the file was opened (not the preallocated zeros)."""
        self.damaged_records_cut = 0
        """CRC-valid records cut with that tail: the damage was in the middle (the file was kept aside first)."""
        self.grow_bytes = max(mmap.PAGESIZE, grow_bytes - grow_bytes % mmap.PAGESIZE)
        self.short_growths = 0
        """Growths that took less than a full step (the disk nearly full; ``gateway_disk_short_growths_total``)."""
        self._short_steps = 0
        """Short growths in a row: the WARNING at the first, and once full steps fit again."""
        self._sender = 1
        self._target = 1
        self._skipped = (0, 0)
        self._raised = (0, 0)
        self._lowered = (0, 0)
        self._withdrawn: tuple[Withdrawn, ...] = ()
        self._created = creation_time_ns
        self._journal = ""
        """The journal the gateway runs on (``running_on``): a reset notes its numbering under it."""
        self._begun = ("", 0)
        self._asked = (0, 0)
        self._offsets = array.array("q")
        self._dirty = False
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._map: mmap.mmap | None = None
        self._fd = -1
        self._end = 0
        """Where the next record goes: the end of the last one."""
        self._capacity = 0
        """The file's size: preallocated up to here."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.created_here = not self.path.exists()
        """This store created the file (``remove_if_unused``: a refused start takes it back)."""
        if self.created_here:
            self._rewrite(creation_time_ns)
        else:
            self._load()
        self._fresh_end = os.path.getsize(self.path) if self.created_here else -1
        """The end of the records the file was created with (-1: not created here)."""
        try:
            self._open()
        except BaseException:  # e.g. ENOSPC: nothing of it is used; a file this call created goes again
            self._unmap()
            if self.created_here:
                self.path.unlink(missing_ok=True)
            raise
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
        offset = self._append(_KIND_SENT, seq, raw)
        offsets = self._offsets
        missing = seq + 1 - len(offsets)
        if missing > 0:  # zeros: "not stored"; a step at a time, not one per message
            offsets.frombytes(bytes(offsets.itemsize * max(missing, _OFFSETS_STEP)))
        offsets[seq] = offset + 1  # 0 means "not stored"
        self._sender = seq + 1

    def set_next_sender_seq(self, seq: int) -> None:
        self._append(_KIND_SENDER, seq, b"")
        self._sender = seq

    def set_next_target_seq(self, seq: int) -> None:
        self._append(_KIND_TARGET, seq, b"")
        self._target = seq

    @property
    def skipped_by_operator(self) -> tuple[int, int]:
        return self._skipped

    def set_skipped_by_operator(self, first: int, end: int) -> None:
        self._append(_KIND_SKIPPED, first, _SKIPPED_END.pack(end if first else 0))
        self._skipped = (first, end) if first else (0, 0)

    @property
    def raised_by_operator(self) -> tuple[int, int]:
        return self._raised

    def set_raised_by_operator(self, before: int, new: int) -> None:
        self._append(_KIND_RAISED, before, _SKIPPED_END.pack(new if before else 0))
        self._raised = (before, new) if before else (0, 0)

    @property
    def lowered_by_operator(self) -> tuple[int, int]:
        return self._lowered

    def set_lowered_by_operator(self, before: int, new: int) -> None:
        self._append(_KIND_LOWERED, before, _SKIPPED_END.pack(new if before else 0))
        self._lowered = (before, new) if before else (0, 0)

    def renumber_inbound(self, next_target: int, creation_time_ns: int) -> None:
        """Append CREATED, then TARGET: a crash in between leaves the old expected number under the new name, which a
        restart's first logon finds too high or too low, never a message taken as a repeat."""
        self._append(_KIND_CREATED, creation_time_ns, b"")
        self._created = creation_time_ns
        self._begun = ("", 0)
        self._asked = (0, 0)
        if self._journal:
            self._append(_KIND_JOURNAL, next_target, self._journal.encode())
            self._begun = (self._journal, next_target)
        self._append(_KIND_TARGET, next_target, b"")
        self._target = next_target

    @property
    def numbering_begun(self) -> tuple[str, int]:
        return self._begun

    def running_on(self, journal: str) -> None:
        """Remember ``journal``; note it for the numbering of a file created at this start that took no record yet.

        That record is part of the creation: ``remove_if_unused`` still takes back the file of a refused start.
        """
        self._journal = journal
        if not journal or self._begun[0] or not self.created_here or self._end != self._fresh_end:
            return
        self._append(_KIND_JOURNAL, 1, journal.encode())
        self._begun = (journal, 1)
        self._fresh_end = self._end

    @property
    def asked_again(self) -> tuple[int, int]:
        return self._asked

    def set_asked_again(self, first: int, end: int) -> None:
        self._append(_KIND_ASKED, first, _SKIPPED_END.pack(end if first else 0))
        self._asked = (first, end) if first and end else (0, 0)

    @property
    def withdrawn(self) -> tuple[Withdrawn, ...]:
        return self._withdrawn

    def add_withdrawn(self, withdrawn: Sequence[Withdrawn]) -> None:
        """Append the entries (a record per ``_MAX_PAYLOAD`` bytes of them), then fdatasync whatever the policy.

        Cold: once at a stop during a journal hold. An OSError of the append (a full disk the file cannot grow
        on) goes to the caller, this record and those after it not written; one of the fdatasync is logged at
        ERROR and not raised: the records are in the page cache (a killed process keeps them, a machine crash
        may not), as every record under ``fsync: interval`` until its sync.
        """
        payload = bytearray()
        count = 0
        for entry in withdrawn:
            part = _WITHDRAWN.pack(entry.seq, entry.msg_type[0], _WITHDRAWN_AGAIN if entry.again else 0, len(entry.ref))
            if len(payload) + len(part) + len(entry.ref) > _MAX_PAYLOAD:
                self._append(_KIND_WITHDRAWN, count, bytes(payload))
                payload.clear()
                count = 0
            payload += part
            payload += entry.ref
            count += 1
        if count:
            self._append(_KIND_WITHDRAWN, count, bytes(payload))
        self._withdrawn += tuple(withdrawn)
        if self.fsync is not _BATCH:  # batch: synced by ``_append``
            try:
                self._sync()
            except OSError as exc:
                log.error(
                    "FIX store %s: fdatasync of the requests withdrawn at the stop failed (%s): written, not known "
                    "to be on disk (a machine crash may lose them)",
                    self.path,
                    exc,
                )

    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        offsets = self._offsets
        mapped = self._map
        if mapped is None:
            return out
        for seq in range(max(begin, 1), min(end, len(offsets) - 1) + 1):
            stored = offsets[seq]
            if stored:
                start = stored - 1 + _RECORD.size
                _, _, length, _ = _RECORD.unpack_from(mapped, stored - 1)
                out.append((seq, mapped[start : start + length]))
        return out

    def find_sent(self, marker: bytes, cursor: int = 0, budget: int = 0) -> tuple[list[tuple[int, bytes]], int]:
        """Search the mapping for ``marker`` starting from file offset ``cursor`` to ``budget`` bytes on (0: the end).

        One C-speed search, no work per message but per hit: a hit counts when it lies within the first
        ``FIND_WINDOW`` bytes of the payload (``8=FIX...``) of a SENT record that is still the message stored
        under its number. Returns the hits and the offset to go on from (-1: the end was reached).
        """
        out: list[tuple[int, bytes]] = []
        mapped = self._map
        if mapped is None or not marker:
            return out, -1
        offsets = self._offsets
        count = len(offsets)
        size = _RECORD_SIZE
        end = self._end
        pos = max(cursor, 0)
        stop_at = min(pos + budget, end) if budget else end
        search_end = min(stop_at + len(marker) - 1, end)  # a marker that starts in the slice is found in it
        while True:
            hit = mapped.find(marker, pos, search_end)
            if hit < 0:
                break
            start = mapped.rfind(b"8=FIX", max(0, hit - FIND_WINDOW), hit)
            record = start - size
            if start >= 0 and record >= 0:
                _, kind, length, seq = _RECORD.unpack_from(mapped, record)
                stop = start + length
                if kind == _KIND_SENT and hit + len(marker) <= stop and 0 < seq < count and offsets[seq] == record + 1:
                    out.append((seq, mapped[start:stop]))
                    pos = stop
                    continue
            pos = hit + 1
        if stop_at >= end:
            return out, -1
        return out, max(pos, stop_at)

    def reset(self, creation_time_ns: int) -> None:
        with self._sync_lock:
            self._unmap()
            self._rewrite(creation_time_ns)
            self._offsets = array.array("q")
            self._sender = 1
            self._target = 1
            self._skipped = (0, 0)
            self._raised = (0, 0)
            self._lowered = (0, 0)
            self._withdrawn = ()
            self._created = creation_time_ns
            self._begun = (self._journal, 1) if self._journal else ("", 0)
            self._asked = (0, 0)
            self._dirty = False
            self._fresh_end = -1  # a reset is the session's: never taken back (``remove_if_unused``)
            self._open()

    def close(self) -> None:
        if self._flusher is not None:
            self._stop.set()
            self._flusher.join(timeout=5)
            self._flusher = None
        if self._fd >= 0:
            if self._map is not None:
                self._map.close()
                self._map = None
            os.ftruncate(self._fd, self._end)  # a cleanly closed store ends with its last record
            if self._dirty and self.fsync is not FsyncPolicy.NONE:
                self._sync()
            os.close(self._fd)
            self._fd = -1

    def remove_if_unused(self) -> bool:
        """Delete the file of a closed store that this store created and nothing was written to; return whether.

        A start refused after the venues were built (the journal, a socket in use...) leaves no store of its
        own behind: its records are the creation time and the numbers 1 and 1, what the next start writes
        anew. A store that took any record (a logon, a message, a reset) is kept: its numbers are the session's.
        """
        if self._fd >= 0 or not self.created_here or self._end != self._fresh_end:
            return False
        try:
            self.path.unlink()
        except OSError:
            return False
        return True

    # ---- internals ------------------------------------------------------------------------

    def _append(self, kind: int, value: int, payload: bytes) -> int:
        """Copy one record into the mapping; return its offset (OSError, nothing written, if the file cannot grow)."""
        start = self._end
        length = len(payload)
        end = start + _RECORD_SIZE + length
        mapped = self._map
        if mapped is None or end > self._capacity:
            mapped = self._grow(end)
        crc = _crc32(payload, _crc32(_pack_body(kind, length, value)))
        mapped[start + _RECORD_SIZE : end] = payload
        _pack_record_into(mapped, start, crc, kind, length, value)
        self._end = end
        if self.fsync is _BATCH:
            self._sync()
        else:
            self._dirty = True
        return start

    def _grow(self, needed: int) -> mmap.mmap:
        """Preallocate the file to hold ``needed`` bytes and one growth step more, map it; return the map."""
        if self._fd < 0:
            raise OSError(f"FIX store {self.path} is closed")
        capacity = self._capacity
        if needed > capacity:
            capacity = self._allocate(capacity, needed)  # OSError (ENOSPC): nothing changed
        mapped = mmap.mmap(self._fd, capacity)
        if self._map is not None:
            self._map.close()
        self._map = mapped
        self._capacity = capacity
        return mapped

    def _allocate(self, size: int, needed: int) -> int:
        """Preallocate the file from ``size`` to ``needed`` plus a growth step; return the new size.

        The journal's way, one helper for both (``model.preallocate.preallocate_what_fits``): when the full step
        does not fit (ENOSPC), the step is halved until one fits, down to ``needed`` alone (rounded up to a page),
        so the record is written as soon as the disk has room for it, not only once it has room for a whole step.
        Raises the first OSError when not even ``needed`` fits (nothing changed). Cold: once per step, once per
        record only on a nearly full disk (a page holds about 15 orders).
        """
        target, short = preallocate_what_fits(self._fd, size, needed, self.grow_bytes)
        self._short_steps = log_growth(
            log, "FIX store", self.path, (size, target, needed, self.grow_bytes), short, self._short_steps
        )
        if short:
            self.short_growths += 1
        return target

    def _open(self) -> None:
        """Open the file (whose records end at its size) for appending and map it."""
        self._fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        self._end = self._capacity = os.fstat(self._fd).st_size
        self._grow(self._end + 1)

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

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
        if self._journal:
            data += _record(_KIND_JOURNAL, 1, self._journal.encode())
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
                self._begun = ("", 0)  # a JOURNAL record after it names where this numbering began
                self._asked = (0, 0)
            elif kind == _KIND_JOURNAL:
                self._begun = (data[pos + _RECORD.size : end].decode(errors="replace"), value)
            elif kind == _KIND_ASKED:
                asked_end = _SKIPPED_END.unpack_from(data, pos + _RECORD.size)[0] if length == 8 else 0
                self._asked = (value, asked_end) if value and asked_end else (0, 0)
            elif kind == _KIND_SKIPPED:
                skipped_end = _SKIPPED_END.unpack_from(data, pos + _RECORD.size)[0] if length == 8 else 0
                self._skipped = (value, skipped_end) if value and skipped_end else (0, 0)
            elif kind == _KIND_RAISED:
                raised_to = _SKIPPED_END.unpack_from(data, pos + _RECORD.size)[0] if length == 8 else 0
                self._raised = (value, raised_to) if value and raised_to else (0, 0)
            elif kind == _KIND_LOWERED:
                lowered_to = _SKIPPED_END.unpack_from(data, pos + _RECORD.size)[0] if length == 8 else 0
                self._lowered = (value, lowered_to) if value and lowered_to else (0, 0)
            elif kind == _KIND_WITHDRAWN:
                self._withdrawn += _withdrawn_entries(data, pos + _RECORD.size, end, value)
            pos = end
        if pos < size:
            torn = len(data[pos:].rstrip(b"\0"))  # zeros are the preallocated part of a store not closed
            if torn:
                self.truncated_bytes = torn
                # a record may end in zero bytes (a header-only one's value): look one header further
                intact = _count_records(data, pos + 1, min(size, pos + torn + _RECORD_SIZE))
                if intact:  # not only a torn last record: damage in the middle; keep the evidence
                    self.damaged_records_cut = intact
                    kept = self.path.with_name(f"{self.path.name}.damaged-{pos}")
                    write_file_atomically(kept, data)
                    log.error(
                        "FIX store %s: damaged record at offset %d with %d intact records after it: cut there "
                        "(its sequence numbers may have gone back); the whole file is kept as %s",
                        self.path,
                        pos,
                        intact,
                        kept,
                    )
                else:
                    log.warning(
                        "FIX store %s: cut off %d bytes of a torn or corrupt tail at offset %d",
                        self.path,
                        torn,
                        pos,
                    )
            os.truncate(self.path, pos)
