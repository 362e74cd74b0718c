"""What a start puts in force besides the limits file: held-back copies, and what changed while the gateway was down.

The gateway keeps, in its state directory, a copy of each file in force (``risk.inforce``): the limits file, the
reference-price file, and the start-of-day positions file as the day's first start read it. At a start:

* a reference-price file the watch held back (modified in place, noted) is not read: its copy is in force and
  it stays NOT APPLIED, as for the limits file;
* a start-of-day positions file modified in place since the day's first start read it (same file, other
  content, same session date) is not read: the positions read then are in force (the journal's fills were
  counted on them) and it is NOT APPLIED until a complete file is ``mv``-ed over the path (read at the next
  start); a file replaced since is read as it is, with a warning;
* a limits (or reference-price) file that differs from the copy in force when the gateway stopped is
  applied as it is, and what changed is listed field by field (the ``startup`` record and a WARNING).
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any, NamedTuple

from risk.diff import Change, diff_trees
from risk.filewatch import stat_signature
from risk.inforce import HeldBack, InForceCopy
from risk.limitsfile import LimitsFile, LimitsFileError
from risk.loader import Parsed, Problem, parse_file, read_bounded
from risk.model import LimitsDocument, ReferencePriceDocument, StartPositionsDocument

MAX_LISTED = 20
"""Changes named in the start-up WARNING (the ``startup`` record lists every one)."""


class Copies(NamedTuple):
    """The copies kept in the state directory: of the limits, the reference prices, the start-of-day positions."""

    limits: InForceCopy
    reference: InForceCopy
    positions: InForceCopy

    @classmethod
    def beside(cls, keep: Path) -> Copies:
        """Return the copies kept beside ``keep`` (the limits copy, ``<gateway_id>-risk-in-force.yaml``)."""
        stem = keep.name.removesuffix(".yaml")
        return cls(
            InForceCopy(keep),
            InForceCopy(keep.with_name(f"{stem}-reference.yaml")),
            InForceCopy(keep.with_name(f"{stem}-start-positions.yaml")),
        )


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _file_id(path: Path) -> int | None:
    signature = stat_signature(path)
    return signature[2] if signature is not None else None


def held_reference(copy: InForceCopy) -> tuple[HeldBack, Parsed[ReferencePriceDocument], int] | None:
    """Return the reference-price file held back when the gateway stopped: (held, its copy parsed, file id).

    None if nothing is noted, the file was replaced since, or it is as in force. Raises ``LimitsFileError``
    (reported at the copy) if the copy is missing or is not what was in force.
    """
    path = copy.noted_path()
    if path is None:
        return None
    file_id = _file_id(path)
    held = copy.held_back(path, file_id)
    if held is None or file_id is None:
        return None
    return held, parse_file(path, ReferencePriceDocument, content=held.raw), file_id


class DayPositions(NamedTuple):
    """The start-of-day positions noted by the day's first start (``note``), and their copy if put in force."""

    note: dict[str, Any] | None
    kept: Parsed[StartPositionsDocument] | None
    disk_sha256: str


def day_positions(copy: InForceCopy, day: str) -> DayPositions:
    """Return the positions the day's first start read, kept if the file was modified in place since.

    Raises ``LimitsFileError`` (reported at the copy) if they are to be kept and the copy is missing or altered.
    """
    note = copy.noted()
    if note is None or note.get("day") != day or not isinstance(note.get("file"), str):
        return DayPositions(None, None, "")
    path = Path(note["file"])
    try:
        disk = _sha(read_bounded(path))
    except OSError:
        return DayPositions(note, None, "")  # the load reports it
    if _file_id(path) != note.get("file_id") or disk == note.get("sha256"):
        return DayPositions(note, None, disk)  # replaced since (read as it is), or unchanged
    raw = copy.read_copy()
    if raw is None or _sha(raw) != note.get("sha256"):
        what = (
            "cannot be read"
            if raw is None
            else f"is not what was read (sha256 {_sha(raw)}, noted {note.get('sha256')})"
        )
        raise LimitsFileError(
            [
                Problem(
                    str(copy.path),
                    0,
                    0,
                    "",
                    f"the copy of the start-of-day positions read at the day's first start {what}, and {path} was "
                    "modified in place since: the gateway does not start on it, nor on the file (fail closed); "
                    f"write {path} completely, then mv it over the path (a replaced file is read as it is)",
                )
            ]
        )
    return DayPositions(note, parse_file(path, StartPositionsDocument, content=raw), disk)


def positions_warning(limits: LimitsFile, day: DayPositions, copy: InForceCopy) -> str:
    """Return the start-up warning about the start-of-day positions file ("" if none)."""
    path = limits.positions_path
    note = day.note
    if path is None or note is None or note.get("file") != str(path):
        return ""
    if day.kept is not None and limits.positions_parsed is day.kept:
        return (
            f"{path} (start_positions_file) was modified in place since the day's first start read it "
            f"({note.get('since', '?')}): its content (sha256 {day.disk_sha256}) is NOT APPLIED; the start-of-day "
            f"positions read then (sha256 {limits.positions_sha256}, kept in {copy.path}) are in force, with the "
            "day's fills from the journal: write a complete file and mv it over the path, it is read at the next start"
        )
    if limits.positions_sha256 != note.get("sha256"):
        return (
            f"{path} (start_positions_file) was replaced since the day's first start read it "
            f"({note.get('since', '?')}; sha256 {note.get('sha256')} -> {limits.positions_sha256}): the new file's "
            "positions are in force, with the day's fills from the journal"
        )
    return ""


def keep_positions(limits: LimitsFile, day: DayPositions, copy: InForceCopy, today: str, now: str) -> None:
    """Keep a copy of the start-of-day positions read now (and the note), unless the day's are kept."""
    path = limits.positions_path
    parsed = limits.positions_parsed
    if path is None or parsed is None or (day.kept is not None and parsed is day.kept):
        return
    file_id = _file_id(path)
    note = day.note
    if (
        note is not None
        and note.get("file") == str(path)
        and note.get("file_id") == file_id
        and note.get("sha256") == parsed.sha256
    ):
        return  # the day's copy already
    if file_id is None:
        return
    copy.save(parsed.raw)
    copy.note(str(path), file_id, now, parsed.sha256, parsed.sha256, day=today)


class DownChanges(NamedTuple):
    """What changed while the gateway was down, against the copies in force when it stopped."""

    previous_sha256: str
    previous_reference_sha256: str | None
    changes: list[Change]
    warning: str


def changes_while_down(limits: LimitsFile, copies: Copies, reference_kept: bool) -> DownChanges | None:
    """Diff the limits put in force now against the copies in force when the gateway stopped (None: no change)."""
    previous = copies.limits.read_copy()
    if previous is None:
        return None
    previous_reference = None if reference_kept else copies.reference.read_copy()
    same_limits = _sha(previous) == limits.sha256
    same_reference = previous_reference is None or _sha(previous_reference) == limits.reference_sha256
    if same_limits and same_reference:
        return None
    old = parse_file(limits.path, LimitsDocument, shown_as=str(copies.limits.path), content=previous)
    if old.value is None:
        warning = (
            f"{limits.path} differs from the copy of the limits in force when the gateway stopped "
            f"({copies.limits.path}), which is not a valid limits file: what changed cannot be listed"
        )
        return DownChanges(_sha(previous), None, [], warning)
    changes = diff_trees(old.display, limits.display)
    reference_sha = None
    if previous_reference is not None and limits.reference_path is not None:
        reference_sha = _sha(previous_reference)
        old_reference = parse_file(limits.reference_path, ReferencePriceDocument, content=previous_reference)
        if old_reference.value is not None:
            changes += diff_trees(old_reference.display, limits.reference_display, ("reference_file",))
    if not changes:
        return None
    listed = "; ".join(str(change) for change in changes[:MAX_LISTED])
    more = (
        f" (and {len(changes) - MAX_LISTED} more: the startup audit record lists every one)"
        if len(changes) > MAX_LISTED
        else ""
    )
    warning = (
        f"the limits changed while the gateway was down ({limits.path} sha256 {_sha(previous)[:12]} -> "
        f"{limits.sha256[:12]}, against the copies in force when it stopped, {copies.limits.path}): "
        f"{len(changes)} change(s) applied: "
        f"{listed}{more}"
    )
    return DownChanges(_sha(previous), reference_sha, changes, warning)


def session_day(wall_ns: int) -> str:
    """Return the session date of a start (the host's local date, as the journal's name has it)."""
    return datetime.datetime.fromtimestamp(wall_ns / 1e9).date().isoformat()
