"""What a BOE venue keeps on disk besides the journal: its start number in the day, and the cancels it owes Cboe.

A Modify Order gives the order a new ClOrdID (reference §7.5). The gateway derives every ClOrdID
from the journaled order id; a Modify's also carries ``<start>.<n>``: which start of the gateway
in the day issued it and the order's n-th Modify in that process. The start number is written
(atomically, fsynced) before the venue connects, so no two processes of one day can issue the same
Modify ClOrdID, whatever a crash cut off from the journal. A new trading day starts from 1 again.

The cancels owed (``<name>.boe-owed-cancels.json``): orders that ended here (or that the adapter no longer
tracks) which Cboe showed working after all (a late Acknowledgment, Modified or Restated). The adapter cancels
each at Cboe at once; the ClOrdID is on file before anything of the message that showed it is journaled or the
Cancel goes out, and leaves the file once Cboe answers the Cancel (or received it: its
LastReceivedSequenceNumber covers the Cancel's SequenceNumber). A crash that loses the Cancel leaves the
ClOrdID here; the next process cancels it again after its first Replay Complete (docs/venues/boe.md). The file
outlives the trading day: an order that can outlive it at Cboe (GTC) is still worked there the next day, so
another day's cancels are kept (their SequenceNumbers, of that day's numbering, read as "not sent yet").

The Trade Cancel or Correct messages reported (``<name>.boe-corrections.json``): the ``venue_seq`` of each one
the adapter logged (its WARNING asks ops to correct the position by hand). A bust produces no event, so the
journal does not hold its number and Cboe replays it after a restart; the adapter drops a replayed one it finds
here, so that ops are not told twice to correct the same position. Per trading day. The same file holds the
Order Executions logged at ERROR without being applied (an earlier trading day's order, an unknown ClOrdID:
fixboe50): no event either, so the same replay; a replayed one is logged as reported before.

How these two are written (boestate55, ``venues.state_log``): each file is its JSON snapshot (the first line;
a file of an earlier version is that line alone) followed by one line per change (owed: ``["<ClOrdID>",<seq>]``,
``["<ClOrdID>",null]`` when it leaves the file; reported: ``<venue_seq>``), appended with one ``write`` when the
change happens: before anything after the message is journaled or the Cancel is queued, so a process crash
(``kill -9``) keeps it (the page cache). The adapter fsyncs the appended lines once per read from Cboe, at its end,
before the core journals the read's events and before its Cancels reach the wire; a power failure can lose the
lines of the read being handled, none of whose journal records or Cancels had been written. The file is compacted
(a fresh snapshot, atomically and fsynced) at that point once the changes outgrow the snapshot. Before, every
change rewrote the whole file atomically with two fsyncs on the event loop: a replay of thousands of such messages
(a standby host with no state for the day) froze the gateway for minutes (rev55ops).

The numberings Cboe restarted (``<name>.boe-numbering.json``): matching unit -> the exactly-once stream of its
current numbering, for each unit a Login Response showed Cboe renumbered today, written (atomically, fsynced)
when the Login Response shows it. The journal holds a numbering only once a message of it is journaled; without
this file a restart after a renumbering with no message after it listed the unit at its old mark, took Cboe's
lower highest for a renumbering again and probed New Orders it should have re-sent. ``unsettled``: no Replay
Complete has settled the New Orders in doubt because of the renumbering yet (a restart probes them as the
process before would have). Per trading day.

The executions held (``<name>.boe-held-fills.json``, boe55): Order Executions of orders released from memory that
the engine could not read back from the journal (``BoeVenue._hold_execution``). Such a fill is neither applied nor
journaled while it waits, and the journal may move past its number (a later message of its matching unit applied),
so Cboe would not replay it after a restart: it is written here (atomically, fsynced) before anything after it is
journaled, and a process started again the same trading day holds it again and applies it once the order reads back.
Applying it twice is what the engine's ExecID check prevents (a copy already applied before the stop, or replayed by
Cboe, is a repeat). Per trading day: another day's are reported at ERROR, not applied (that day's journal has the
order).

The sequence gaps open (``<name>.boe-gaps.json``, boe55): (stream, first, last) of every forward gap the
exactly-once component records (numbers a matching unit skipped, never admitted). The journal holds only each unit's
highest number applied, so without this a process started again the same day logged in from that mark and Cboe never
replayed a gap opened before the stop. Rewritten at the adapter's next timer run after a gap opens, closes or is
given up (after the core journaled the message; at most ten writes a second: whether Cboe numbers a unit
contiguously is not established, and a write per message would cost every message). Per trading day.

The orders that ended above a gap (``<name>.boe-ended-over-gaps.json``, boe59): (order id, venue_seq) of each order
that a Cboe message ended (Order Cancelled, an execution or Order Modified with LeavesQty 0, ...) while a gap below
that message was open on its matching unit. A message of that gap arriving later (late, or in Cboe's replay) is older
than the one that ended the order: its LeavesQty is stale and does not show the order working. Kept so that a process
started again the same day (which maps no ended order) judges such a message as the process before would have;
written with the gaps file, dropped once no gap below the message is open. Per trading day.

The end of the day (``<name>.boe-endofday.json``): Cboe's Logout with an end-of-day reason (``E``), written
(atomically, fsynced) when it arrives. Cboe refuses logins for the rest of that day, so a process started again the
same trading day does not log in: the venue is ENDED from the start, as it was before the restart. Per trading day.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path
from typing import Final, TypeVar

import msgspec

from venues.atomic_file import write_file_atomically
from venues.day_starts import count_start, save_starts
from venues.state_error import VenueStateError
from venues.state_log import read_state_log

log = logging.getLogger(__name__)


class BoeStateError(VenueStateError):
    """The state file exists but cannot be trusted, or cannot be written (the venue does not start)."""


class _Owed(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    cancels: dict[str, int]
    """ClOrdID -> the SequenceNumber its Cancel Order last went out with (0: not sent yet)."""


_encoder = msgspec.json.Encoder()
_owed_decoder = msgspec.json.Decoder(_Owed)
_owed_change_decoder = msgspec.json.Decoder(tuple[str, int | None])
_T = TypeVar("_T")


def _not_regular(mode: int) -> OSError | None:
    """Return the error for a file of ``mode`` that is not a regular file (None: it is one)."""
    if stat.S_ISREG(mode):
        return None
    kind = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a directory"
        if stat.S_ISDIR(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a device or socket"
    )
    return OSError(errno.EINVAL, f"not a regular file ({kind})")


def _read_bytes(path: Path) -> bytes | None:
    """Return the bytes of the state file ``path`` (None: no file); never blocks (boe59b).

    Opened with ``O_NONBLOCK`` and read only if it is a regular file (``fstat``): a FIFO at the path (a mistake,
    tooling) raises ``OSError`` ("not a regular file") at once, where ``read_bytes`` waited for a writer for ever and
    the start hung. A directory says so too (not ``[Errno 21]``).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        info = os.fstat(fd)
        error = _not_regular(info.st_mode)
        if error is not None:
            raise error
        chunks: list[bytes] = []
        while chunk := os.read(fd, max(info.st_size, 1 << 16)):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _check_regular(path: Path) -> None:
    """Raise BoeStateError if something other than a regular file is at ``path`` (a FIFO would block its reader)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BoeStateError(f"cannot read BOE state {path}: {exc}") from exc
    error = _not_regular(mode)
    if error is not None:
        raise BoeStateError(f"cannot read BOE state {path}: {error}")


def _read_state(
    path: Path, decoder: msgspec.json.Decoder[_T], corrupt_text: str, unreadable_text: str = ""
) -> _T | None:
    """Return the state decoded from ``path`` (None: no file); BoeStateError naming the file if it is unusable.

    ``unreadable_text``: what the error says after the reason when the file cannot be read (not a regular file, no
    permission); none: the reason alone.
    """
    try:
        raw = _read_bytes(path)
    except OSError as exc:
        raise BoeStateError(
            f"cannot read BOE state {path}: {exc}{': ' if unreadable_text else ''}{unreadable_text}"
        ) from exc
    if raw is None:
        return None
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise BoeStateError(f"BOE state {path} is corrupt ({exc}): {corrupt_text}") from exc


def owed_cancels_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of the cancels venue ``name`` owes Cboe."""
    return Path(state_dir) / f"{name}.boe-owed-cancels.json"


def load_owed_cancels(state_dir: str | Path, name: str, day: str) -> dict[str, int]:
    """Return the cancels venue ``name`` owes Cboe (ClOrdID -> SequenceNumber; 0, not sent yet, for another day's)."""
    file_day, cancels = load_owed(state_dir, name)
    return cancels if file_day == day else dict.fromkeys(cancels, 0)


_OWED_CORRUPT = (
    "orders Cboe may still be working that the gateway canceled are unknown; check the venue's open orders with "
    "Cboe, then delete the file"
)


def load_owed(state_dir: str | Path, name: str) -> tuple[str, dict[str, int]]:
    """Return the trading day of the cancels file of venue ``name`` and its cancels ("" and none: no file)."""
    path = owed_cancels_path(state_dir, name)
    read = _read_log(path, _OWED_CORRUPT)
    if read is None:
        return "", {}
    snapshot, changes = read
    owed = _decode(path, _owed_decoder, snapshot, _OWED_CORRUPT)
    cancels = dict(owed.cancels)
    for line in changes:
        cl_ord_id, seq = _decode(path, _owed_change_decoder, line, _OWED_CORRUPT)
        if seq is None:
            cancels.pop(cl_ord_id, None)
        else:
            cancels[cl_ord_id] = seq
    return owed.day, cancels


def owed_snapshot(day: str, cancels: dict[str, int]) -> bytes:
    """Return the snapshot line of the cancels owed on ``day`` (``StateLog.rewrite``)."""
    return _encoder.encode(_Owed(day, cancels))


def owed_change(cl_ord_id: str, seq: int | None) -> bytes:
    """Return the line of a change to the cancels owed: ``cl_ord_id`` owed with ``seq`` (None: no longer owed)."""
    return _encoder.encode((cl_ord_id, seq))


def save_owed_cancels(state_dir: str | Path, name: str, day: str, cancels: dict[str, int]) -> None:
    """Write the cancels venue ``name`` owes Cboe on ``day`` (atomically, fsynced); OSError if it cannot."""
    path = owed_cancels_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, owed_snapshot(day, cancels) + b"\n")


def _read_log(path: Path, corrupt_text: str) -> tuple[bytes, list[bytes]] | None:
    """Return the snapshot and change lines of ``path`` (None: no file), the unsynced part left out with a WARNING."""
    _check_regular(path)
    try:
        read = read_state_log(path)
    except OSError as exc:
        raise BoeStateError(f"cannot read BOE state {path}: {exc}") from exc
    if read is None:
        return None
    snapshot, changes, dropped = read
    if not snapshot.strip():
        raise BoeStateError(f"BOE state {path} is corrupt (no snapshot on its first line): {corrupt_text}")
    if dropped:
        log.warning(
            "BOE state %s: %d line(s) at its end torn or never written back (the part a power failure cut before "
            "its fsync): left out; the messages they recorded had not been journaled, so Cboe replays them",
            path,
            dropped,
        )
    return snapshot, changes


def _decode(path: Path, decoder: msgspec.json.Decoder[_T], line: bytes, corrupt_text: str) -> _T:
    try:
        return decoder.decode(line)
    except msgspec.DecodeError as exc:
        raise BoeStateError(f"BOE state {path} is corrupt ({exc}): {corrupt_text}") from exc


class _Corrections(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    seen: list[int]
    """``venue_seq`` of every Trade Cancel or Correct reported on ``day``, and of every Order Execution reported
    at ERROR without being applied (an earlier day's order, an unknown ClOrdID)."""


_corrections_decoder = msgspec.json.Decoder(_Corrections)
_correction_decoder = msgspec.json.Decoder(int)
_CORRECTIONS_CORRUPT = (
    "the busts, trade corrections and unapplied executions reported today are unknown; delete the file (Cboe's "
    "replay then reports them again: do not correct a position twice)"
)


def corrections_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of the Trade Cancel or Correct messages venue ``name`` reported."""
    return Path(state_dir) / f"{name}.boe-corrections.json"


def load_corrections(state_dir: str | Path, name: str, day: str) -> set[int]:
    """Return the ``venue_seq`` of the Trade Cancel or Correct messages venue ``name`` reported on ``day``."""
    path = corrections_path(state_dir, name)
    read = _read_log(path, _CORRECTIONS_CORRUPT)
    if read is None:
        return set()
    snapshot, changes = read
    seen = _decode(path, _corrections_decoder, snapshot, _CORRECTIONS_CORRUPT)
    if seen.day != day:
        return set()
    reported = set(seen.seen)
    for line in changes:
        reported.add(_decode(path, _correction_decoder, line, _CORRECTIONS_CORRUPT))
    return reported


def corrections_snapshot(day: str, seen: set[int]) -> bytes:
    """Return the snapshot line of the messages reported on ``day`` (``StateLog.rewrite``)."""
    return _encoder.encode(_Corrections(day, sorted(seen)))


def correction_change(seq: int) -> bytes:
    """Return the line of one more message reported (its ``venue_seq``)."""
    return _encoder.encode(seq)


def save_corrections(state_dir: str | Path, name: str, day: str, seen: set[int]) -> None:
    """Write the Trade Cancel or Correct messages venue ``name`` reported on ``day`` (atomically, fsynced)."""
    path = corrections_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, corrections_snapshot(day, seen) + b"\n")


class _Numbering(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    streams: dict[int, int]
    """Matching unit -> exactly-once stream of its current numbering (``unit | n << 8`` after its n-th restart)."""
    unsettled: bool = False
    """A renumbering's New Orders in doubt are not settled yet (the next replay probes those with S > L)."""


_numbering_decoder = msgspec.json.Decoder(_Numbering)


def numbering_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of the matching units venue ``name`` saw Cboe renumber."""
    return Path(state_dir) / f"{name}.boe-numbering.json"


def load_numbering(state_dir: str | Path, name: str, day: str) -> tuple[dict[int, int], bool]:
    """Return the streams of the units Cboe renumbered on ``day`` and whether that is unsettled (none: no file)."""
    numbering = _read_state(
        numbering_path(state_dir, name),
        _numbering_decoder,
        "the matching units Cboe renumbered today are unknown; delete the file (a restart then takes Cboe's lower "
        "numbers for a renumbering again and probes New Orders in doubt)",
    )
    if numbering is None or numbering.day != day:
        return {}, False
    return dict(numbering.streams), numbering.unsettled


def save_numbering(state_dir: str | Path, name: str, day: str, streams: dict[int, int], unsettled: bool) -> None:
    """Write the units venue ``name`` saw Cboe renumber on ``day`` (atomically, fsynced); OSError if it cannot."""
    path = numbering_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, _encoder.encode(_Numbering(day, dict(streams), unsettled)))


class _EndOfDay(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    """The trading day Cboe ended (its Logout with an end-of-day reason)."""
    reason: str
    """The Logout's LogoutReason (``E``)."""
    text: str
    """The Logout's LogoutReasonText."""
    last_received: int
    """The Logout's LastReceivedSequenceNumber (what Cboe had of ours when it ended the day)."""


_end_of_day_decoder = msgspec.json.Decoder(_EndOfDay)


def end_of_day_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of venue ``name``'s end-of-day mark."""
    return Path(state_dir) / f"{name}.boe-endofday.json"


def load_end_of_day(state_dir: str | Path, name: str, day: str) -> tuple[str, str, int] | None:
    """Return (LogoutReason, text, LastReceivedSequenceNumber) if Cboe ended trading day ``day``, else None.

    BoeStateError if the file exists but cannot be read (the caller takes the day as not ended).
    """
    mark = _read_state(
        end_of_day_path(state_dir, name),
        _end_of_day_decoder,
        "whether Cboe ended the day is unknown; delete the file (a restart then logs in again)",
    )
    if mark is None or mark.day != day:
        return None
    return mark.reason, mark.text, mark.last_received


def save_end_of_day(state_dir: str | Path, name: str, day: str, reason: str, text: str, last_received: int) -> None:
    """Write that Cboe ended trading day ``day`` (atomically, fsynced); OSError if it cannot."""
    path = end_of_day_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, _encoder.encode(_EndOfDay(day, reason, text, last_received)))


def starts_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of venue ``name``'s start count in the trading day (the ``<start>`` of Modify ClOrdIDs)."""
    return Path(state_dir) / f"{name}.boe-starts.json"


def next_start(state_dir: str | Path, name: str, day: str) -> int:
    """Count one more start of venue ``name`` on ``day`` in its state file and return the new count (1 first)."""
    path = starts_path(state_dir, name)
    _check_regular(path)
    return count_start(
        path,
        day,
        BoeStateError,
        "BOE state",
        "Modify ClOrdIDs issued today are unknown; if it is a new trading day delete the file, otherwise restore it",
    )


def raise_start(state_dir: str | Path, name: str, day: str, start: int) -> None:
    """Put ``start`` on file as venue ``name``'s start number on ``day`` (its journal showed a higher one than the
    file gave: boestandby56); OSError if it cannot be written."""
    save_starts(starts_path(state_dir, name), day, start)


class _OrderIds(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    """The trading day (ISO date in the venue's ``timezone``) the numbers are of."""
    reserved: int
    """Order ids up to this one may have gone out under that day's ClOrdIDs (written before the first above it)."""
    last: int | None = None
    """The highest order id sent, written at a clean stop (None while a process runs: ``reserved`` counts)."""
    journal: str = ""
    """The journal the process that wrote it ran on (for the reader: the floor does not depend on it, since a journal
    at the same path may be another file: rev56diff)."""


_order_ids_decoder = msgspec.json.Decoder(_OrderIds)

ORDER_ID_BLOCK: Final = 65_536
"""Order ids reserved per write of ``<name>.boe-order-ids.json``: one fsynced write per block of New Orders (and
the first of each process); a start after a stop that was not clean skips at most this many ids."""


def order_ids_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of the order ids venue ``name`` used in its trading day (day55)."""
    return Path(state_dir) / f"{name}.boe-order-ids.json"


def load_order_ids(state_dir: str | Path, name: str, day: str) -> int:
    """Return the highest order id venue ``name`` may have sent a New Order of on ``day``: the last sent at a clean
    stop, else the last reserved; 0 for no file or another day's."""
    ids = _read_state(
        order_ids_path(state_dir, name),
        _order_ids_decoder,
        "the order ids (ClOrdIDs) sent today are unknown; if it is a new trading day delete the file, otherwise set "
        'reserved in it above every order id sent today (docs/venues/boe.md, "ClOrdIDs")',
    )
    if ids is None or ids.day != day:
        return 0
    return ids.reserved if ids.last is None else ids.last


def save_order_ids(
    state_dir: str | Path, name: str, day: str, reserved: int, last: int | None = None, journal: str = ""
) -> None:
    """Write the order ids venue ``name`` reserved on ``day`` (atomically, fsynced); OSError if it cannot."""
    path = order_ids_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, _encoder.encode(_OrderIds(day, reserved, last, journal)))


class HeldFill(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One Order Execution held for an order the journal could not be read back for (``BoeVenue._hold_execution``)."""

    venue_seq: int
    """Its ``venue_seq`` (``stream_seq(stream, SequenceNumber)``): the event carries it."""
    order_id: int
    """The order id today's ClOrdID names."""
    unit: int
    sequence: int
    cl_ord_id: str
    """The ClOrdID as Cboe sent it (NUL-padded, latin-1)."""
    exec_id: int
    last_shares: int
    last_px: int
    leaves: int
    base: str
    """BaseLiquidityIndicator (latin-1)."""
    sub: str
    """SubLiquidityIndicator (latin-1)."""


class _HeldFills(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    fills: list[HeldFill]
    """In the order they arrived (an order's in its own order)."""


_held_decoder = msgspec.json.Decoder(_HeldFills)


def held_fills_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of the executions venue ``name`` holds (its journal read failed for their orders)."""
    return Path(state_dir) / f"{name}.boe-held-fills.json"


def load_held_fills(state_dir: str | Path, name: str) -> tuple[str, list[HeldFill]]:
    """Return the trading day of venue ``name``'s held executions file and its executions ("" and none: no file)."""
    held = _read_state(
        held_fills_path(state_dir, name),
        _held_decoder,
        "the executions held because the journal could not be read back for their orders are unknown (their fills "
        "may be missing from the positions): reconcile today's executions with Cboe, then delete the file",
    )
    if held is None:
        return "", []
    return held.day, list(held.fills)


def save_held_fills(state_dir: str | Path, name: str, day: str, fills: list[HeldFill]) -> None:
    """Write the executions venue ``name`` holds on ``day`` (atomically, fsynced); OSError if it cannot."""
    path = held_fills_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, _encoder.encode(_HeldFills(day, fills)))


class _Gaps(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    gaps: list[tuple[int, int, int]]
    """(exactly-once stream, first, last) of every forward gap open, oldest first."""


_gaps_decoder = msgspec.json.Decoder(_Gaps)


def gaps_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of the sequence gaps venue ``name`` has open."""
    return Path(state_dir) / f"{name}.boe-gaps.json"


def load_gaps(state_dir: str | Path, name: str, day: str) -> list[tuple[int, int, int]]:
    """Return the sequence gaps venue ``name`` had open on ``day`` (none: no file, or another day's)."""
    gaps = _read_state(
        gaps_path(state_dir, name),
        _gaps_decoder,
        "the sequence gaps open before the stop are unknown; delete the file (a gap opened before the stop is then "
        "not asked again: reconcile with Cboe on the earlier 'sequence gap' WARNING)",
    )
    return [] if gaps is None or gaps.day != day else list(gaps.gaps)


def gaps_of_another_day(state_dir: str | Path, name: str, day: str) -> tuple[str, list[tuple[int, int, int]]]:
    """Return the trading day and the gaps of venue ``name``'s gaps file if they are another day's than ``day``
    (``("", [])``: none, today's, or a file that cannot be read: ``load_gaps`` says so where it matters)."""
    try:
        gaps = _read_state(gaps_path(state_dir, name), _gaps_decoder, "")
    except BoeStateError:
        return "", []
    if gaps is None or gaps.day == day:
        return "", []
    return gaps.day, list(gaps.gaps)


def save_gaps(state_dir: str | Path, name: str, day: str, gaps: list[tuple[int, int, int]]) -> None:
    """Write the sequence gaps venue ``name`` has open on ``day`` (atomically, fsynced); OSError if it cannot."""
    path = gaps_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, _encoder.encode(_Gaps(day, list(gaps))))


class _EndedOverGaps(msgspec.Struct, forbid_unknown_fields=True):
    day: str
    ended: list[tuple[int, int]]
    """(order id, venue_seq of the Cboe message that ended it) of orders that ended above a gap open on their unit;
    the venue_seq negated for a Cancel Rejected ``O`` (boemod62: an older Order Modified is not stale)."""


_ended_decoder = msgspec.json.Decoder(_EndedOverGaps)


def ended_over_gaps_path(state_dir: str | Path, name: str) -> Path:
    """Return the file of the orders venue ``name`` saw end above a sequence gap open on their unit (boe59)."""
    return Path(state_dir) / f"{name}.boe-ended-over-gaps.json"


_ENDED_UNKNOWN = (
    "which message ended an order above a sequence gap is unknown: the venue starts without it (a message of such "
    "a gap that shows its order working has the order canceled at Cboe, needlessly); "
)


def load_ended_over_gaps(state_dir: str | Path, name: str, day: str, keep: int) -> tuple[dict[int, int], int]:
    """Return order id -> venue_seq of the message that ended it, for ``day`` (none: no file, or another day's), and
    how many older entries were left out: at most the newest ``keep`` are returned (the file lists them oldest first;
    the gateway never writes more, a file it did not write may hold any number: boe59b)."""
    ended = _read_state(
        ended_over_gaps_path(state_dir, name),
        _ended_decoder,
        _ENDED_UNKNOWN + "the file is rewritten with the gaps",
        _ENDED_UNKNOWN + "a directory at that path cannot be rewritten: remove it (anything else there is replaced "
        "at the next write of the gaps)",
    )
    if ended is None or ended.day != day:
        return {}, 0
    entries = ended.ended
    over = max(len(entries) - keep, 0)
    return dict(entries[over:]), over


def save_ended_over_gaps(state_dir: str | Path, name: str, day: str, ended: dict[int, int]) -> None:
    """Write the orders that ended above a gap open (``load_ended_over_gaps``; atomically, fsynced); OSError."""
    path = ended_over_gaps_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, _encoder.encode(_EndedOverGaps(day, list(ended.items()))))
