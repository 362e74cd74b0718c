"""What a start puts in force besides the limits file: held-back copies, and what changed while the gateway was down.

The gateway keeps, in its state directory, a copy of each file in force (``risk.inforce``): the limits file, the
reference-price file, and the start-of-day positions file as the day's first start read it. At a start:

* a reference-price file the watch held back (modified in place, noted) is not read: its copy is in force and
  it stays NOT APPLIED, as for the limits file;
* a start-of-day positions file modified in place since a start of the session date read it (same file, other
  content) is not read: the positions read then are in force (the journal's fills were counted on them) and it
  is NOT APPLIED until a complete file is ``mv``-ed over the path (read at the next start); positions other than
  the day's first start read (a file replaced since, another file named, none named now) are read as they are,
  with a WARNING, a ``start_positions`` field in the ``startup`` record and a line in the status; the day's
  first read is kept all day;
* a limits (or reference-price) file that differs from the copy in force when the gateway stopped is
  applied as it is, and what changed is listed field by field (the ``startup`` record and a WARNING).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, NamedTuple

from risk.audit import audit_files, files_read, read_tail, records_in_line, utc_text
from risk.diff import Change, diff_trees
from risk.filewatch import stat_signature
from risk.inforce import HeldBack, InForceCopy
from risk.limitsfile import LimitsFile, LimitsFileError
from risk.loader import Parsed, Problem, parse_file, read_bounded
from risk.model import LimitsDocument, ReferencePriceDocument, StartPositionsDocument

log = logging.getLogger("risk")

MAX_LISTED = 20
"""Changes named in the start-up WARNING (the ``startup`` record lists every one)."""

AUDIT_TAIL_BYTES = 4 << 20
"""How much of each audit log file's end a start reads for the last word on the limits in force (``copy_not_kept``)."""

_LIMITS_EVENTS = ("startup", "reload", "reload_copy_not_kept", "copies_kept")
_WORDS = (b'"event":"startup"', b'"event":"reload', b'"event":"copies_kept"', b'"event":"not_applied"')


class Copies(NamedTuple):
    """The copies kept in the state directory: of the limits, the reference prices, the start-of-day positions."""

    limits: InForceCopy
    reference: InForceCopy
    positions: InForceCopy
    """The start-of-day positions the session date's first start read (kept all day)."""
    positions_latest: InForceCopy
    """Other start-of-day positions a later start of the same date put in force (``keep_positions``)."""

    @classmethod
    def beside(cls, keep: Path) -> Copies:
        """Return the copies kept beside ``keep`` (the limits copy, ``<gateway_id>-risk-in-force.yaml``)."""
        stem = keep.name.removesuffix(".yaml")
        positions = "the copy of the start-of-day positions"
        return cls(
            InForceCopy(keep),
            InForceCopy(keep.with_name(f"{stem}-reference.yaml"), "the copy of the reference prices"),
            InForceCopy(keep.with_name(f"{stem}-start-positions.yaml"), positions),
            InForceCopy(keep.with_name(f"{stem}-start-positions-latest.yaml"), positions),
        )


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _file_id(path: Path) -> int | None:
    signature = stat_signature(path)
    return signature[2] if signature is not None else None


class LastWord(NamedTuple):
    """What the end of the risk audit log says of this gateway's limits in force (``last_word``)."""

    record: dict[str, Any] | None
    """This gateway's last ``startup``, ``reload``, ``reload_copy_not_kept`` or ``copies_kept`` record (None: none)."""
    held: dict[str, dict[str, Any]]
    """This gateway's latest ``not_applied`` record after it, per file: a file the watch held back since (the note
    in the state directory may not have been kept: ``audited_note``)."""
    file: str = ""
    """The file of ``audit_files`` the record was read from ("": none)."""
    unread: tuple[tuple[str, str], ...] = ()
    """The files read before the record was found that exist but could not be read: (file, why), newest first. A
    record there (a ``not_applied``, a ``reload_copy_not_kept``) is not known: ``unread_problem``."""


NO_WORD = LastWord(None, {})


def last_word(audit_log: str | os.PathLike[str] | None, gateway_id: str | None) -> LastWord:
    """Return this gateway's last word on the limits in force in the audit log's files, the last ``AUDIT_TAIL_BYTES``
    of each.

    The files are ``risk.audit.audit_files``, newest first: the current file, then, where it has none of this
    gateway's limits records (rotated since: the guide's ``mv`` or ``logrotate``), ``<audit_log>.1`` (riskcopy57),
    then ``<audit_log>.2`` (ops59: the files the kill switches are read from, so a record stands as many rotations
    for both; before, a held-back file was put in force after two rotations); the ``not_applied`` records the newer
    files hold after it count too. A file that is missing holds nothing; one that cannot be read or is not a regular
    file (``read_tail``: a FIFO never blocks the start) is a WARNING naming it, and the older files are read; it is
    in ``unread`` (the start may refuse: ``unread_problem``). Cold: read once at a start (and by a stop that could
    not keep the copies, to say where the record is).
    """
    if audit_log is None:
        return NO_WORD
    held: dict[str, dict[str, Any]] = {}
    unread: list[tuple[str, str]] = []
    for path in reversed(audit_files(audit_log)):
        try:
            start, tail = read_tail(path, AUDIT_TAIL_BYTES)
        except FileNotFoundError:
            continue
        except OSError as exc:
            unread.append((str(path), str(exc)))
            log.warning(
                "risk cannot read the risk audit log %s (%s): a record there of the limits in force when the gateway "
                "stopped is not known (the start reads %s for it); the older files are read: make it a regular file "
                "the gateway's user can read (ops guide, section 6)",
                path,
                exc,
                files_read(audit_log),
            )
            continue
        record = _last_word(tail, start > 0, gateway_id, held)
        if record is not None:
            return LastWord(record, held, str(path), tuple(unread))
    return LastWord(None, held, "", tuple(unread))


def unread_problem(
    word: LastWord, audit_log: str | os.PathLike[str] | None, limits: Path, copy: Path, kind: str = "limits"
) -> Problem | None:
    """Return why the start refuses when an audit file it could not read may hold a held-back state (None: it does not).

    The start knows a limits file held back while ``state_dir`` could not keep its note, and a copy in force left
    stale there, from this gateway's ``not_applied`` and limits records (``audited_note``, ``copy_not_kept``). Where
    an audit file it reads before its last word exists but cannot be read (write-only, a FIFO: ``word.unread``) and
    the file at ``limits`` is not the copy in force when the gateway stopped (``copy``; for the current file, a
    missing copy too), such a record may be there: the start refuses (fail closed, ops59b; before, the file on disk,
    maybe half-written, was put in force). The same file as the copy: nothing held back matters. ``kind``: what
    ``limits`` holds, ``"limits"`` or ``"reference prices"`` (the reference-price file and its copy; ops59c). The
    caller does not ask where the note kept beside the copy names the file as held back (ops59c: it tells).
    """
    if not word.unread or audit_log is None:
        return None
    try:
        disk = _sha(read_bounded(limits))
    except OSError:
        return None  # the load reports it
    try:
        kept: str | None = _sha(read_bounded(copy))
    except OSError:
        kept = None
    if kept == disk:
        return None
    current = str(Path(audit_log))
    files = [(file, why) for file, why in word.unread if kept is not None or file == current]
    if not files:
        return None  # only a rotated file unread, and no copy: a first start (the WARNING names it)
    named = "; ".join(f"{file} ({why})" for file, why in files)
    what = (
        f"is not the copy of the {kind} in force when the gateway stopped ({copy})"
        if kept
        else (f"has no copy of the {kind} in force when the gateway stopped ({copy} is missing)")
    )
    return Problem(
        str(limits),
        0,
        0,
        "",
        f"the risk audit log cannot be read: {named}; {limits} {what}, and whether it was modified in place and NOT "
        "applied (maybe half-written) or that copy is stale is known from the audit log only: the gateway does not "
        f"start on it (fail closed); make {files[0][0]} a regular file the gateway's user can read and write (mode "
        "0640), then start again (ops guide, section 6)",
    )


def copy_not_kept(
    audit_log: str | os.PathLike[str] | None,
    gateway_id: str | None,
    copies: Copies | None = None,
    word: LastWord | None = None,
) -> dict[str, Any] | None:
    """Return this gateway's last record on the limits in force if it says a copy in the state directory is stale.

    A ``reload_copy_not_kept`` record follows a reload applied while the copies in the state directory could not be
    kept (riskreload57): a copy left there is then stale, and the record's ``sha256`` / ``reference_sha256`` are
    what was in force; so does a ``startup`` record with ``copy_problem`` (a start that could not keep them). With
    ``copies`` (those kept beside the limits copy), a last ``reload`` record whose ``sha256`` is not the limits
    copy's, or whose ``reference_sha256`` is not the reference-price copy's, proves that copy stale too, whatever
    record saying so was lost (audit58: ``reload_copy_not_kept`` is not required, and a full disk refusing it, then
    a crash, lost it; or a crash came before the copies were written): that record is returned with a
    ``copy_problem`` saying so. None: no audit log, none such in its last ``AUDIT_TAIL_BYTES``, or a later
    ``startup``, ``reload`` or ``copies_kept`` of this gateway whose copies were kept. ``word``: ``last_word``
    already read (else it is read here).
    """
    record = (word if word is not None else last_word(audit_log, gateway_id)).record
    if record is None or not isinstance(record.get("sha256"), str):
        return None
    event = record.get("event")
    if event == "reload_copy_not_kept" or (event == "startup" and record.get("copy_problem")):
        return record
    if event == "reload" and copies is not None:
        return _not_the_reloads(record, copies)
    return None


def audited_note(word: LastWord, path: Path | str | None) -> dict[str, Any] | None:
    """Return the held-back note the audit log's ``not_applied`` record of ``path`` stands for (None: none).

    A file the watch held back (modified in place) is noted beside its copy in the state directory; where that
    could not be written (``state_dir`` full, read-only, immutable) and the gateway stopped before it could be
    (a crash, or a stop still unable to), this gateway's ``not_applied`` record of the file after its last word
    on the limits says the same (audit58b: the start put the held-back file in force), if it says so: its
    ``note_kept`` is false, and its ``file_id`` names the file (both since audit58b). A record whose note was kept
    is not obeyed: the note's absence then says the file is no longer held back (written back as in force).
    """
    if path is None:
        return None
    record = word.held.get(str(path))
    if record is None or record.get("note_kept") is not False or not isinstance(record.get("file_id"), int):
        return None
    return {
        "file": str(path),
        "file_id": record["file_id"],
        "since": str(record.get("time", "")),
        "sha256": record.get("sha256"),
        "in_force_sha256": record.get("in_force_sha256"),
        **({"born_ns": record["born_ns"]} if isinstance(record.get("born_ns"), int) else {}),
        "audit": f"the audit log's not_applied record at {record.get('time', '?')}",
    }


def audited_reference(word: LastWord, limits_path: Path) -> dict[str, Any] | None:
    """Return the note of the reference-price file the audit log says was held back (``audited_note``), if any."""
    others = [file for file in word.held if file != str(limits_path)]
    return audited_note(word, others[0]) if others else None


def _not_the_reloads(record: dict[str, Any], copies: Copies) -> dict[str, Any] | None:
    """Return ``record`` (a ``reload``, the last word) with ``copy_problem`` if a copy kept is not what it applied."""
    stale = []
    limits = copies.limits.read_copy()
    if limits is not None and _sha(limits) != record["sha256"]:
        stale.append(f"{copies.limits.path} sha256 {_sha(limits)[:12]}, the reload's {record['sha256'][:12]}")
    reference = copies.reference.read_copy()
    in_force = record.get("reference_sha256")
    if reference is not None and _sha(reference) != (in_force if isinstance(in_force, str) else ""):
        reload_reference = in_force[:12] if isinstance(in_force, str) else "none"
        stale.append(f"{copies.reference.path} sha256 {_sha(reference)[:12]}, the reload's {reload_reference}")
    if not stale:
        return None
    problem = f"{'; '.join(stale)}: not written before a crash, or the record saying so lost"
    return {**record, "copy_problem": problem}


def _last_word(
    tail: bytes, cut: bool, gateway_id: str | None, held: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """Return this gateway's last limits record in ``tail`` (None: none); add the ``not_applied`` it leaves standing.

    ``tail``: the end of one of the audit log's files (``cut``: its first line is cut). ``held`` gets, per file, the
    latest ``not_applied`` record (a later file read first, ``last_word``, has the later
    ones) that no limits record since put other content of in force: every record after it has, for that file (the
    limits file: ``sha256``; the reference-price file: ``reference_sha256``), the ``in_force_sha256`` it names. A
    start that held the file back, or a reload of the other file, leaves it standing; a reload of the file does not.
    """
    lines = tail.split(b"\n")
    if cut:
        lines = lines[1:]  # the first line is cut
    last: dict[str, Any] | None = None
    standing: dict[str, str] | None = None  # file -> the sha256 every limits record since kept in force
    record: dict[str, Any]
    for line in reversed(lines):
        if not any(event in line for event in _WORDS):
            continue  # the audit writer's compact JSON: no other line needs parsing
        for record in reversed(records_in_line(line)[0]):  # a torn line's whole records too (audittorn57)
            if record.get("gateway_id") != gateway_id:
                continue
            event = record.get("event")
            if event in _LIMITS_EVENTS:
                last = last if last is not None else record
                if event == "reload_copy_not_kept":
                    continue  # its ``reload``, just before, says what was in force (the reference file too)
                if standing is None:
                    standing = {
                        str(record[file]): str(record[sha])
                        for file, sha in (("file", "sha256"), ("reference_file", "reference_sha256"))
                        if isinstance(record.get(file), str) and isinstance(record.get(sha), str)
                    }
                else:
                    _still_standing(standing, record)
                if not standing:
                    return last
            elif event == "not_applied" and isinstance(record.get("file"), str):
                file = record["file"]
                if standing is None or standing.get(file) == record.get("in_force_sha256"):
                    held.setdefault(file, record)
    return last


def _still_standing(standing: dict[str, str], record: dict[str, Any]) -> None:
    """Drop from ``standing`` each file an earlier limits ``record`` had other content of in force."""
    for file, sha in (("file", "sha256"), ("reference_file", "reference_sha256")):
        name = record.get(file)
        if isinstance(name, str) and name in standing and record.get(sha) != standing[name]:
            del standing[name]
    for name in [name for name in standing if name not in (record.get("file"), record.get("reference_file"))]:
        del standing[name]  # not in force then: renamed since


def held_reference(
    copy: InForceCopy, stale: str | None = None, audited: dict[str, Any] | None = None
) -> tuple[HeldBack, Parsed[ReferencePriceDocument], int] | None:
    """Return the reference-price file held back when the gateway stopped: (held, its copy parsed, file id).

    None if nothing is noted (beside the copy, or by the audit log: ``audited``, ``audited_note``), the file was
    replaced since, or it is as in force. Raises ``LimitsFileError`` (reported at the copy) if the copy is missing
    or is not what was in force.
    """
    paths = [copy.noted_path(), Path(audited["file"]) if audited is not None else None]
    for path in dict.fromkeys(path for path in paths if path is not None):
        file_id = _file_id(path)
        held = copy.held_back(path, file_id, stale, audited)
        if held is not None and file_id is not None:
            return held, parse_file(path, ReferencePriceDocument, content=held.raw), file_id
    return None


class KeptPositions(NamedTuple):
    """A start-of-day positions file modified in place since a start of the day read it, and what that start read."""

    path: Path
    note: dict[str, Any]
    """The note of that read: file, file_id, since, sha256."""
    copy: InForceCopy
    disk_sha256: str
    modified: str
    """When the file was last modified (its mtime, UTC)."""
    parsed: Parsed[StartPositionsDocument] | None
    """What that start read (its copy), None if the copy is missing or altered (``problem`` says so)."""
    problem: Problem | None


class DayPositions(NamedTuple):
    """What the session date's starts read as start-of-day positions (``day_positions``).

    ``first``: the note of the day's first start (``file`` None: it read no file, every position started flat);
    ``latest``: the note of a later start that put other positions in force (None: the first's are the latest);
    ``kept``: the files modified in place since those starts read them.
    """

    first: dict[str, Any] | None
    latest: dict[str, Any] | None
    kept: tuple[KeptPositions, ...]

    def parsed(self) -> tuple[Parsed[StartPositionsDocument], ...]:
        """Return the copies to put in force instead of the files modified in place (``read_limits``)."""
        return tuple(k.parsed for k in self.kept if k.parsed is not None)

    def in_force(self, limits: LimitsFile) -> KeptPositions | None:
        """Return the kept positions ``limits`` put in force; raise ``LimitsFileError`` if their copy is lost."""
        for kept in self.kept:
            if limits.positions_path is not None and kept.path == limits.positions_path:
                if kept.problem is not None:
                    raise LimitsFileError([kept.problem])
                return kept if limits.positions_parsed is kept.parsed else None
        return None


NO_DAY = DayPositions(None, None, ())


def _day_note(copy: InForceCopy, day: str) -> dict[str, Any] | None:
    note = copy.noted()
    return note if note is not None and note.get("day") == day else None


def day_positions(first_copy: InForceCopy, latest_copy: InForceCopy, day: str) -> DayPositions:
    """Return what the session date ``day``'s starts read, and the files modified in place since."""
    first = _day_note(first_copy, day)
    if first is None:
        return NO_DAY
    latest = _day_note(latest_copy, day)
    kept: list[KeptPositions] = []
    for note, copy in ((latest, latest_copy), (first, first_copy)):
        if note is None or not isinstance(note.get("file"), str):
            continue
        path = Path(note["file"])
        if any(k.path == path for k in kept):
            continue  # a later start read this path: what it read is what was in force
        try:
            disk = _sha(read_bounded(path))
            modified = utc_text(path.stat().st_mtime_ns)
        except OSError:
            continue  # the load reports it
        if _file_id(path) != note.get("file_id") or disk == note.get("sha256"):
            continue  # replaced since (read as it is), or unchanged
        raw = copy.read_copy()
        if raw is None or _sha(raw) != note.get("sha256"):
            what = (
                "cannot be read"
                if raw is None
                else f"is not what was read (sha256 {_sha(raw)}, noted {note.get('sha256')})"
            )
            problem = Problem(
                str(copy.path),
                0,
                0,
                "",
                f"the copy of the start-of-day positions read at {note.get('since', '?')} {what}, and {path} was "
                f"modified in place since ({modified}): the gateway does not start on it, nor on the file (fail "
                f"closed); write {path} completely, then mv it over the path (a replaced file is read as it is)",
            )
            kept.append(KeptPositions(path, note, copy, disk, modified, None, problem))
            continue
        parsed = parse_file(path, StartPositionsDocument, content=raw)
        kept.append(KeptPositions(path, note, copy, disk, modified, parsed, None))
    return DayPositions(first, latest, tuple(kept))


class PositionsOutcome(NamedTuple):
    """What a start says about the start-of-day positions it put in force (``positions_outcome``)."""

    warning: str
    """The WARNING (log, ``startup`` record, status), "" if the day's first positions are in force as read."""
    record: dict[str, Any] | None
    """The ``startup`` record's ``start_positions`` (and the status's), None if nothing to say."""


def _read(note: dict[str, Any] | None) -> str:
    """Word what a start read: ``<file> (sha256 <x>, read at <since>)`` or ``no file``."""
    if note is None:
        return "?"
    if not isinstance(note.get("file"), str):
        return f"no start_positions_file (every position flat; at {note.get('since', '?')})"
    return f"{note['file']} (sha256 {note.get('sha256')}, read at {note.get('since', '?')})"


def positions_outcome(
    limits: LimitsFile, day: DayPositions, kept: KeptPositions | None, copy: Path
) -> PositionsOutcome:
    """Say which start-of-day positions are in force if not those the day's first start read, and why.

    ``kept``: the positions put in force instead of a file modified in place; ``copy``: where the day's first
    start's copy is kept.
    """
    first = day.first
    path = limits.positions_path
    if first is None:
        return PositionsOutcome("", None)
    sha = limits.positions_sha256
    first_file = first.get("file") if isinstance(first.get("file"), str) else None
    first_read = {
        "file": first_file,
        "sha256": first.get("sha256") or None,
        "read_at": first.get("since"),
        "copy": str(copy) if first_file is not None else None,
    }
    in_force = {"file": str(path) if path is not None else None, "sha256": sha or None}
    fills = "with the day's fills from the journal"
    if kept is not None:
        by = "the day's first start" if kept.note is first else "a restart"
        case = "modified_in_place"
        warning = (
            f"{path} (start_positions_file) was modified in place (last at {kept.modified}) since {by} read it "
            f"({kept.note.get('since', '?')}): its content (sha256 {kept.disk_sha256}) is NOT APPLIED; the "
            f"start-of-day positions read then (sha256 {sha}, kept in {kept.copy.path}) are in force, {fills}: "
            "write a complete file and mv it over the path, it is read at the next start"
        )
        if kept.note is first:  # the day's first positions are in force: the status says NOT APPLIED
            return PositionsOutcome(warning, None)
        warning += f"; the day's first start read {_read(first)}"
    elif first_file == (str(path) if path is not None else None) and first.get("sha256", "") == sha:
        return PositionsOutcome("", None)  # the day's first positions, as read then
    elif path is None:
        case = "not_set"
        warning = (
            f"start_positions_file is not set now, but the day's first start read {_read(first)}, kept in {copy}: "
            f"every position starts flat, {fills}, counted since then; name that file again and restart to put "
            "those positions back in force (or correct positions with `gateway risk adjust-position`)"
        )
    elif first_file is None:
        case = "set_since"
        warning = (
            f"start_positions_file names {path} (sha256 {sha}) now, but the day's first start read no "
            f"start_positions_file (every position started flat, at {first.get('since', '?')}): the positions of "
            f"{path} are in force, {fills}, counted since then"
        )
    elif first_file == str(path):
        case = "replaced"
        warning = (
            f"{path} (start_positions_file) was replaced since the day's first start read it "
            f"({first.get('since', '?')}; sha256 {first.get('sha256')} -> {sha}): the new file's positions are in "
            f"force, {fills} (the day's first start's are kept in {copy})"
        )
    elif first.get("sha256") == sha:
        log.info(
            "risk start_positions_file names %s now, the day's first start read %s: the same content (sha256 %s)",
            path,
            first_file,
            sha,
        )
        return PositionsOutcome("", None)
    else:
        case = "other_file"
        warning = (
            f"start_positions_file names another file now: {path} (sha256 {sha}), but the day's first start read "
            f"{_read(first)}, kept in {copy}: the positions of {path} are in force, {fills}, counted since then; "
            "name that file again and restart to put those positions back in force"
        )
    return PositionsOutcome(warning, {"case": case, "in_force": in_force, "day_first": first_read, "warning": warning})


def keep_positions(
    limits: LimitsFile, day: DayPositions, kept: KeptPositions | None, copies: Copies, today: str, now: str
) -> str:
    """Note what this start read: the day's first start's copy is kept all day; a later start's other positions too.

    The day's first read stays in ``copies.positions`` for the whole session date (the journal's fills were
    counted on it); positions a later start puts in force that differ from it are kept in
    ``copies.positions_latest`` (a file modified in place after that start is caught by its note). Returns why a
    copy or note is not kept ("" if all are; riskcopy57: it was ignored, the start said nothing).
    """
    if kept is not None:
        return ""  # what a start of the day read is in force, and noted
    path = limits.positions_path
    parsed = limits.positions_parsed
    file_id = _file_id(path) if path is not None else None
    if path is not None and (parsed is None or file_id is None):
        return ""
    record: dict[str, Any] = {
        "file": str(path) if path is not None else None,
        "file_id": file_id,
        "since": now,
        "sha256": limits.positions_sha256,
        "in_force_sha256": limits.positions_sha256,
        "day": today,
    }
    same = ("file", "file_id", "sha256")
    problems = []
    if day.first is None:
        target = copies.positions
        problems.append(copies.positions_latest.forget())
    elif all(day.first.get(k) == record[k] for k in same):
        return copies.positions_latest.forget()
    elif day.latest is not None and all(day.latest.get(k) == record[k] for k in same):
        return ""  # that start's read, noted
    else:
        target = copies.positions_latest
    problems.append(target.save(parsed.raw) if parsed is not None else target.commit(False, None))
    problems.append(target.write_note(record))
    return "; ".join(problem for problem in problems if problem)


class DownChanges(NamedTuple):
    """What changed while the gateway was down, against the copies in force when it stopped."""

    previous_sha256: str
    previous_reference_sha256: str | None
    changes: list[Change]
    warning: str


def changes_while_down(
    limits: LimitsFile, copies: Copies, reference_kept: bool, not_kept: dict[str, Any] | None = None
) -> DownChanges | None:
    """Diff the limits put in force now against the copies in force when the gateway stopped (None: no change).

    ``not_kept``: the ``reload_copy_not_kept`` record that was the last word on the limits (``copy_not_kept``): a
    copy other than its ``sha256`` is stale, and the record's hashes say what was in force instead.
    """
    previous = copies.limits.read_copy()
    if previous is None:
        return None
    if not_kept is not None and _sha(previous) != not_kept["sha256"]:
        return _stale_copy(limits, copies.limits.path, reference_kept, not_kept)
    previous_reference = None if reference_kept else copies.reference.read_copy()
    noted_reference = not_kept.get("reference_sha256") if not_kept is not None else None
    if not_kept is not None and previous_reference is not None and _sha(previous_reference) != (noted_reference or ""):
        return _stale_copy(limits, copies.reference.path, reference_kept, not_kept)  # riskcopy57
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


def _stale_copy(limits: LimitsFile, copy: Path, reference_kept: bool, not_kept: dict[str, Any]) -> DownChanges:
    """What changed while down where ``copy`` is stale (not kept after the last reload): the audit log's hashes."""
    in_force, reference = str(not_kept["sha256"]), not_kept.get("reference_sha256")
    reference = reference if isinstance(reference, str) else None
    what = "start" if not_kept.get("event") == "startup" else "reload"
    stale = (
        f"the copy {copy} is stale: the {what} at {not_kept.get('time', '?')} put limits in force but "
        f"its copy was not kept ({not_kept.get('copy_problem', '')}; the audit log's {not_kept.get('event')} record)"
    )
    if in_force == limits.sha256 and (reference_kept or (reference or "") == (limits.reference_sha256 or "")):
        warning = (
            f"{stale}: the limits in force when the gateway stopped (sha256 {in_force[:12]}) are those of "
            f"{limits.path} now: nothing changed while the gateway was down; the copy is written again"
        )
    else:
        warning = (
            f"the limits changed while the gateway was down ({limits.path} sha256 {in_force[:12]} -> "
            f"{limits.sha256[:12]}, by the audit log): what changed cannot be listed, {stale}"
        )
    return DownChanges(in_force, reference, [], warning)


def session_day(wall_ns: int) -> str:
    """Return the session date of a start by the host's local date (a risk engine loaded without the gateway's trading
    day, ``RiskEngine.load(trading_day=...)``: the gateway passes its journal's, in ``journal.timezone``)."""
    return datetime.datetime.fromtimestamp(wall_ns / 1e9).date().isoformat()
