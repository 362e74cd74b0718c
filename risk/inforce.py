"""The copy of the limits in force that the gateway keeps in its state directory, and its note of a held-back file.

The file watch never applies a limits file modified in place (it may be half-written). A restart must not
apply it either: at each load or reload that applies a file the gateway writes the bytes in force here
(atomically: a temporary file renamed over the copy), and while a file at the path is held back it keeps a
note naming that file (device and inode, and its birth time where the file system keeps one) and when it was
first seen. At the next start, if the file at the path is still the one noted and differs from the copy, the copy
is what is put in force, and the file stays NOT APPLIED until it is replaced (``mv``) or reloaded explicitly. A
file replaced while the gateway was down is another file: it is read as it is, as on a first start. An inode
number alone does not say so: once the held-back file is replaced its number is free, and a file written later
(the next ``mv``) may get it (inode58); its birth time tells them apart, and without one a file whose content is
neither the noted nor the one in force is not started on (fail closed: ``_ambiguous``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, NamedTuple

from model.file_birth import birth_ns
from risk.limitsfile import LimitsFileError
from risk.loader import Problem, read_bounded

log = logging.getLogger("risk")


class HeldBack(NamedTuple):
    """A limits file held back when the gateway stopped: the bytes in force then, and what is at the path."""

    raw: bytes
    sha256: str
    since: str
    disk_sha256: str
    note: dict[str, Any] | None = None
    """The note to write beside the copy: the audit log's ``not_applied`` record stood for it (audit58b)."""


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it, flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Flush ``directory`` to disk (a rename in it survives a power failure)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _names(note: dict[str, Any] | None, path: Path, file_id: int | None, born: int | None = None) -> bool:
    """Return True if ``note`` (kept beside a copy) names the file at ``path`` as it is now (``file_id``, ``born``).

    The inode number is not enough: a file created after the noted one was unlinked may get its number (inode58).
    Where both the note and the file have a birth time they must be equal; without one the content decides
    (``InForceCopy.held_back``).
    """
    if note is None or file_id is None or note.get("file") != str(path) or note.get("file_id") != file_id:
        return False
    noted = note.get("born_ns")
    return born is None or not isinstance(noted, int) or noted == born


def _known_born(note: dict[str, Any], born: int | None) -> bool:
    """Return True if the file's birth time equals the note's (the same file, edited in place since, if at all)."""
    return born is not None and note.get("born_ns") == born


class InForceCopy:
    """The copy of the limits in force at ``path`` and the held-back note beside it."""

    def __init__(self, path: Path, what: str = "the copy of the limits") -> None:
        self.path = path
        self.what = what
        """How messages name this copy (``the copy of the reference prices``, ...)."""
        self.note_path = path.with_name(path.name + ".not-applied.json")
        self._prepared = path.with_name(path.name + ".next")
        self._prepare_problem = ""
        self._prepared_raw: bytes | None = None
        self.owed_copy: tuple[bytes | None] | None = None
        """What the copy should hold (``(None,)``: no copy) where writing it failed; None: nothing owed."""
        self.owed_note: tuple[dict[str, Any] | None] | None = None
        """What the note should say (``(None,)``: no note) where writing or removing it failed; None: nothing owed."""

    def prepare(self, raw: bytes) -> bool:
        """Write ``raw`` beside the copy, flushed (a reload's worker thread); False (logged) if it fails."""
        self._prepare_problem = ""
        self._prepared_raw = raw
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._prepared.open("wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            log.error("risk cannot write %s %s: %s", self.what, self._prepared, exc)
            self._prepare_problem = f"cannot write {self.what} {self._prepared}: {exc}"
            with contextlib.suppress(OSError):  # a partial copy would hold a full disk's last bytes (rev55ops)
                self._prepared.unlink(missing_ok=True)
            return False
        return True

    @property
    def owed(self) -> bool:
        """True while what a failed write left here is not what is in force (``keep_owed``)."""
        return self.owed_copy is not None or self.owed_note is not None

    def commit(self, prepared: bool, raw: bytes | None = None) -> str:
        """Make the prepared bytes the copy in force; without them remove the copy (never keep a stale one).

        Returns why the copy in force is not kept ("" if it is, or if there was nothing to keep): the
        failed ``prepare`` before a ``commit(False)``, the failed rename, an old copy that cannot be removed (each
        logged). Never raises an ``OSError``: it runs after the limits are put in force, so whatever the disk
        answers (full, ``EPERM`` of an immutable directory, ``EROFS``) the clean-up is tried and what is left is
        said (riskreload57: a second ``unlink`` in the handler raised out, and the reload was answered refused).
        ``raw``: what the copy should hold (None: the bytes prepared, or no copy), owed (``owed_copy``) if it is not
        kept: written again once the state directory can be (riskcopy57).
        """
        if raw is None and prepared:
            raw = self._prepared_raw
        self._prepared_raw = None
        problems = self._commit(prepared)
        self.owed_copy = (raw,) if problems else None
        return problems

    def _commit(self, prepared: bool) -> str:
        problem, self._prepare_problem = self._prepare_problem, ""
        problems = [problem] if problem else []
        if not prepared:
            problems += self._remove(self.path, "the old copy")
            return "; ".join(problems)
        try:
            os.replace(self._prepared, self.path)
        except OSError as exc:
            log.error("risk cannot keep %s in force %s: %s", self.what, self.path, exc)
            problems.append(f"cannot keep {self.what} in force {self.path}: {exc}")
            problems += self._remove(self._prepared, "the new copy")
            problems += self._remove(self.path, "the old copy")
            return "; ".join(problems)
        try:
            _sync_directory(self.path.parent)
        except OSError as exc:
            log.error("risk cannot keep %s in force %s: %s", self.what, self.path, exc)
            problems.append(f"cannot keep {self.what} in force {self.path}: {exc}")
            problems += self._remove(self.path, "the new copy")  # its rename may not be on disk
        return "; ".join(problems)

    @staticmethod
    def _remove(path: Path, what: str) -> list[str]:
        """Remove ``path``; return why it is left there (logged: an old copy left is stale), [] if removed."""
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("risk cannot remove %s %s: %s", what, path, exc)
            return [f"{what} {path} cannot be removed ({exc}): it is left there"]
        return []

    def save(self, raw: bytes) -> str:
        """Write ``raw`` as the copy in force (a load at start-up); return why it is not kept ("" if it is)."""
        return self.commit(self.prepare(raw), raw)

    def note(
        self, file: str, file_id: int, since: str, sha256: str, in_force: str, born: int | None = None
    ) -> dict[str, Any]:
        """Note that ``file`` (``file_id``, born at ``born``) is held back since ``since``; return it if not kept ({}).

        A failure is logged; the gateway writes the note again once it can (``keep_again``).
        """
        record: dict[str, Any] = {
            "file": file,
            "file_id": file_id,
            "since": since,
            "sha256": sha256,
            "in_force_sha256": in_force,
        }
        if born is not None:
            record["born_ns"] = born  # the start tells this file from one that got its inode number (inode58)
        try:
            _write_atomically(self.note_path, json.dumps(record).encode())
        except OSError as exc:
            log.error("risk cannot note the held-back limits file in %s: %s", self.note_path, exc)
            self.owed_note = (record,)
            return record
        self.owed_note = None
        return {}

    def write_note(self, record: dict[str, Any]) -> str:
        """Write ``record`` as the note beside the copy; return why it is not kept ("" if it is; logged)."""
        try:
            _write_atomically(self.note_path, json.dumps(record).encode())
        except OSError as exc:
            log.error("risk cannot write the note %s: %s", self.note_path, exc)
            self.owed_note = (record,)
            return f"cannot write the note {self.note_path}: {exc}"
        self.owed_note = None
        return ""

    def keep_owed(self) -> str:
        """Write what is owed here (``owed_copy``, ``owed_note``), quietly; "" once kept (nothing owed).

        For the copies a state directory that could not be written left stale or missing (riskcopy57): tried at
        the file watch's ticks while one is owed, so a failure is returned, not logged (the first one was).
        """
        try:
            if self.owed_copy is not None:
                raw = self.owed_copy[0]
                if raw is None:
                    self.path.unlink(missing_ok=True)
                else:
                    _write_atomically(self.path, raw)
                self.owed_copy = None
            if self.owed_note is not None:
                note = self.owed_note[0]
                if note is None:
                    self.note_path.unlink(missing_ok=True)
                else:
                    _write_atomically(self.note_path, json.dumps(note).encode())
                self.owed_note = None
        except OSError as exc:
            for left in (self.path, self.note_path):  # a partial temporary file would hold a full disk's bytes
                with contextlib.suppress(OSError):
                    left.with_name(left.name + ".tmp").unlink(missing_ok=True)
            return str(exc)
        return ""

    def forget(self) -> str:
        """Remove the copy and its note (nothing to keep); return why either is left there ("" if removed)."""
        problems = [self.commit(False, None), self.clear_note()]
        return "; ".join(problem for problem in problems if problem)

    def clear_note(self) -> str:
        """Remove the held-back note (nothing is held back); return why it is left there ("" if removed; logged)."""
        try:
            self.note_path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("risk cannot remove %s: %s", self.note_path, exc)
            self.owed_note = (None,)
            return f"the note {self.note_path} cannot be removed ({exc}): it is left there"
        self.owed_note = None
        return ""

    def noted(self) -> dict[str, Any] | None:
        """Return the held-back note, None if there is none."""
        try:
            note = json.loads(self.note_path.read_bytes())
        except (OSError, ValueError):
            return None
        return note if isinstance(note, dict) else None

    def held_back(
        self, path: Path, file_id: int | None, stale: str | None = None, audited: dict[str, Any] | None = None
    ) -> HeldBack | None:
        """Return what to put in force at start-up if the file at ``path`` (``file_id``) is still held back.

        None: nothing noted, the file was replaced since (another file id), or it is as in force. Raise
        ``LimitsFileError`` if it is held back and the copy cannot be read (fail closed: never the file).
        ``stale``: the sha256 in force when the gateway stopped, from the audit log, where the copy was not kept
        after the last reload (``risk.startup.copy_not_kept``): a copy other than that is not what was in force
        (riskreload57: the note and the copy an unwritable state directory left behind).
        ``audited``: the note the audit log's ``not_applied`` record stands for (``risk.startup.audited_note``),
        obeyed where no note here names the file (audit58b: ``state_dir`` could not keep it); ``HeldBack.note`` is
        then that note, to be written here.
        """
        born = birth_ns(path, file_id)
        note = self.noted()
        if not _names(note, path, file_id, born):
            note = audited
            if not _names(note, path, file_id, born):
                return None  # none, or replaced since the record: another file, read as it is
        assert note is not None and file_id is not None
        try:
            disk = hashlib.sha256(read_bounded(path)).hexdigest()
        except OSError:
            return None  # the load reports it
        by = f" ({note['audit']}; its note in the state directory was not kept)" if note is audited else ""
        try:
            raw = read_bounded(self.path)
        except OSError as exc:
            raise LimitsFileError([self._broken(path, f"cannot be read ({exc})", by)]) from exc
        sha256 = hashlib.sha256(raw).hexdigest()
        if sha256 == disk:
            return None
        if stale is not None and stale != sha256:
            if stale == disk:
                return None  # the file is what was in force: reloaded explicitly, its copy and note not kept since
            raise LimitsFileError(
                [self._broken(path, f"is stale: the audit log says sha256 {stale} was in force, its copy not kept", by)]
            )
        if disk != note.get("sha256") and not _known_born(note, born):
            raise LimitsFileError([self._ambiguous(path, disk, note, by)])
        expected = note.get("in_force_sha256")
        if sha256 != expected:
            raise LimitsFileError(
                [self._broken(path, f"is not what was in force (sha256 {sha256}, noted {expected})", by)]
            )
        return HeldBack(raw, sha256, str(note.get("since", "")), disk, note if note is audited else None)

    def _broken(self, path: Path, what: str, by: str = "") -> Problem:
        """Return the problem of a copy that cannot stand for ``path`` held back: reported at the copy."""
        return Problem(
            str(self.path),
            0,
            0,
            "",
            f"{path} was modified in place and NOT applied before the gateway stopped{by}, and this copy of what was "
            f"in force then {what}: the gateway does not start on it, nor on the file (fail closed); write {path} "
            "completely, then mv it over the path (a replaced file is read as it is)",
        )

    def _ambiguous(self, path: Path, disk: str, note: dict[str, Any], by: str) -> Problem:
        """Return the problem of a file that may be the held-back one edited again, or another file (inode58)."""
        return Problem(
            str(path),
            0,
            0,
            "",
            f"{path} was modified in place and NOT applied before the gateway stopped{by}; the file at the path now "
            f"has the same inode number but other content (sha256 {disk}, noted {note.get('sha256')}), and the file "
            "system gives no birth time to tell whether it is that file edited in place again (maybe half-written) "
            "or a file mv'd over the path since that got its inode number: the gateway does not start on it, nor "
            f"on {self.what} in force then (fail closed); write {path} completely, then mv it over the "
            "path once more (a replaced file is read as it is)",
        )

    def noted_path(self) -> Path | None:
        """Return the path of the file the note says is held back, None without a note."""
        note = self.noted()
        file = note.get("file") if note is not None else None
        return Path(file) if isinstance(file, str) else None

    def read_copy(self) -> bytes | None:
        """Return the copy's bytes, None if there is no copy or it cannot be read."""
        try:
            return read_bounded(self.path)
        except OSError:
            return None
