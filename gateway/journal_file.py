"""The journal file's name, watched: found deleted or replaced while the gateway writes it, and put back.

A journal file deleted (unlinked) while the gateway has it open stays whole behind the open file
descriptor, and the gateway keeps writing into it, but nothing on disk names it any more: the next
start would begin an empty journal and forget every order. ``check_journal_file`` compares the
open descriptor with the path (one ``fstat`` and one ``stat``, from a slow timer, never per order);
``restore_journal_file`` writes what the descriptor holds to a new file in the same directory (made
again when it was deleted with the file), makes it durable and renames it to the path. Both journal
storages use them (``MmapJournal``, ``FileJournal``: ``check_file``); docs/reliability.md 2.3d says
what the gateway does with them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

COPY_CHUNK: Final = 1 << 20


def check_journal_file(fd: int, path: Path, size: int = 0) -> tuple[str, bool]:
    """Return ("", False) while ``path`` names the file open on ``fd``; else what is wrong and whether to restore.

    Restore only when nothing is at ``path`` (deleted, or moved away): a different file there is never
    overwritten (someone put it there; the gateway refuses orders until an operator sorts it out). The
    open file shorter than ``size`` (the bytes the journal has mapped or written) was cut by another
    process: not restorable either (its records are gone; writing on would lose more).
    """
    try:
        mine = os.fstat(fd)
        there = os.stat(path)
    except FileNotFoundError:
        return f"the journal file {path} was deleted while the gateway had it open", True
    except OSError as exc:
        return f"the journal file {path} cannot be looked at: {exc.strerror or exc}", False
    if mine.st_size < size:
        return (
            f"the journal file {path} was cut to {mine.st_size} bytes (the gateway had {size}) by another process "
            "while the gateway had it open: records of this session are gone from it; stop the gateway and "
            "reconcile with the venues (docs/reliability.md 2.3d)",
            False,
        )
    if (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino):
        return "", False
    return (
        f"the journal file {path} was replaced by another file while the gateway had it open (that file is not "
        "overwritten: move it aside and the gateway restores the journal)",
        False,
    )


def check_and_restore(fd: int, path: Path, restore: Callable[[], None], size: int = 0) -> tuple[str, bool]:
    """Return ("", False) while ``path`` names the file open on ``fd``; else (what is wrong, whether restored).

    A deleted file is put back by ``restore`` (raising OSError when it cannot: the problem then says so);
    another file at ``path`` is left alone (not restored).
    """
    problem, restorable = check_journal_file(fd, path, size)
    if not problem or not restorable:
        return problem, False
    try:
        restore()
    except OSError as exc:
        return f"{problem}; restoring it failed: {exc}", False
    return problem, True


def restore_journal_file(fd: int, path: Path, length: int, allocate: int, header: bytes = b"") -> int:
    """Copy ``fd``'s first ``length`` bytes to a new file renamed to ``path`` (durable first); return its fd.

    The new file is preallocated to ``allocate`` bytes (at least ``length``: a full disk fails here, not
    later on a store into a mapping), gets ``header`` at offset 0 when given, is fdatasynced, renamed
    over nothing (``path`` must be free), and the directory is fsynced. A directory deleted with the file
    (``rm -rf`` of the journal directory) is made again first, as the start makes it (``make_directory``).
    The returned descriptor is open read-write and close-on-exec, and holds the file's ``flock`` (taken
    before the rename: a second gateway never finds the restored journal unlocked). Raises OSError (the
    temporary file removed) when any step fails.
    """
    make_directory(path.parent)
    tmp = path.with_name(f".{path.name}.restore-{os.getpid()}")
    new = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(new, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if allocate > 0:
            os.posix_fallocate(new, 0, max(allocate, length))
        _copy(fd, new, length)
        if header:
            os.pwrite(new, header, 0)
        os.fdatasync(new)
        if os.path.lexists(path):
            raise FileExistsError(f"{path} appeared while it was being restored")
        os.rename(tmp, path)
    except BaseException:
        os.close(new)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)  # the name durable too; the data already is: a failure does not undo it
    return new


def make_directory(directory: Path) -> bool:
    """Make ``directory`` and its missing parents (mode 0o777 less the umask, as at start); True if any was made.

    Each directory made is made durable in its parent (the parent fsynced), so a restored journal's name
    survives a power failure with its directory. Raises OSError when one cannot be made.
    """
    missing: list[Path] = []
    at = directory
    while not at.is_dir():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for made in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by someone else meanwhile: fine if it is a directory
            os.mkdir(made)
        _fsync_directory(made.parent)
    return bool(missing)


def _fsync_directory(directory: Path) -> None:
    """fsync ``directory`` (its entries durable); a failure is ignored: the data written is durable already."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy(fd: int, new: int, length: int) -> None:
    """Copy ``fd``'s first ``length`` bytes to ``new`` (read through ``/proc/self/fd``: ``fd`` may be write-only)."""
    try:
        src = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)  # a deleted file opens there too
    except OSError:
        src = os.dup(fd)
    try:
        at = 0
        while at < length:
            chunk = os.pread(src, min(COPY_CHUNK, length - at), at)
            if not chunk:
                raise OSError(f"the open journal file ended at byte {at}, short of {length}")
            os.pwrite(new, chunk, at)
            at += len(chunk)
    finally:
        os.close(src)
