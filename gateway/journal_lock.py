"""One gateway per journal directory: an exclusive ``flock`` on ``<journal.directory>/gateway.lock``.

A gateway takes the lock before it reads or writes anything of its journal (``GatewayProcess.start``,
first step) and holds it for the life of the process: the descriptor is close-on-exec, so nothing the
gateway starts (the journal syncer, a launcher's exec) inherits it, and the kernel drops the lock when
the process ends, however it ends (no stale lock after ``kill -9``). The holder's pid is written into
the file, so a second gateway's refusal names it.

A lock on a path is undone by unlinking the path (a clean-up of stale ``*.lock`` files, ``rm -rf`` of the
directory): the next gateway creates a new file and locks that. So the journal file itself is locked too
(``lock_journal_file``, by both storages when they open it; a restored journal file is locked before it
takes the path): a second gateway that got past a deleted ``gateway.lock`` stops at the journal it would
share. ``JournalLock.check`` (the gateway's 0.25 s journal-file timer) puts a deleted lock file back.

Readers need no lock: ``read_journal``, ``JournalReader`` and the inspection commands open the journal
file itself read-only and work while the gateway runs. ``journal_in_use`` tells a dry run whether a
gateway holds the directory without taking the lock itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Final

LOCK_FILE: Final = "gateway.lock"
"""The lock file's name in the journal directory."""
LOCK_RETRY_S: Final = 0.2
"""How long ``lock_journal_directory`` retries a lock it finds taken (a ``journal_in_use`` probe holds it
for microseconds; a running gateway holds it for good)."""


class JournalInUseError(OSError):
    """Another process (a running gateway) holds the journal directory's lock; nothing was read or written."""


def _holder_pid(fd: int) -> int:
    """Return the pid written in the lock file (0 if it holds none)."""
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).split()[0])
    return 0


def in_use_message(directory: Path, pid: int) -> str:
    """Return the refusal for a journal directory ``pid`` holds (the ERROR line and the dry run's line)."""
    holder = f"pid {pid}" if pid else "a process whose pid the lock file does not name"
    return (
        f"journal directory {directory} is in use by another gateway ({holder}, lock {directory / LOCK_FILE}): "
        "one gateway per journal directory; stop that gateway first, or give this one its own journal.directory"
    )


class JournalLock:
    """The held lock of one journal directory (``release`` or process exit drops it)."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self._fd = fd

    @property
    def held(self) -> bool:
        """Return True until ``release``."""
        return self._fd >= 0

    def check(self) -> tuple[str, bool]:
        """Return ("", False) while ``gateway.lock`` is the file this lock holds; else (what is wrong, restored).

        A deleted lock file is created again (``O_EXCL``: never over another file), locked and written (this
        pid): (problem, True). Another file at the path is locked in place if nobody
        holds it (then it is this lock's file: (problem, True)); if a process holds it, that process took
        the directory: (problem naming it, False), and the gateway refuses orders until an operator sorts
        it out. From the gateway's slow journal-file timer (one ``fstat`` and one ``stat``).
        """
        if self._fd < 0:
            return "", False
        path = self.directory / LOCK_FILE
        try:
            mine = os.fstat(self._fd)
            there = os.stat(path)
        except FileNotFoundError:
            return self._recreate(path)
        except OSError as exc:
            return f"the journal lock file {path} cannot be looked at: {exc.strerror or exc}", False
        if (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino):
            return "", False
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            return f"the journal lock file {path} was replaced and cannot be opened: {exc.strerror or exc}", False
        if not lock_within(fd, 0):
            pid = _holder_pid(fd)
            os.close(fd)
            return (
                f"the journal lock file {path} was replaced while this gateway held the directory, and "
                f"{'pid ' + str(pid) if pid else 'another process'} holds the new one: another gateway took this "
                "journal directory (stop it; this gateway refuses orders meanwhile)",
                False,
            )
        self._take(fd)
        return f"the journal lock file {path} was replaced by another file while the gateway held it; locked it", True

    def _recreate(self, path: Path) -> tuple[str, bool]:
        """Create the lock file again (never over a file another process just created), lock it, write this pid."""
        problem = f"the journal lock file {path} was deleted while the gateway held it"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        except OSError as exc:  # exists now: the next check looks at that file
            return f"{problem}; re-creating it failed: {exc.strerror or exc}", False
        if not lock_within(fd, 0):  # another process opened and locked it in between: it took the directory
            os.close(fd)
            return f"{problem}; another process locked the new one first", False
        self._take(fd)
        return problem, True

    def _take(self, fd: int) -> None:
        """Make ``fd`` (locked) this lock's file, with this pid written in it; drop the old one."""
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        old, self._fd = self._fd, fd
        os.close(old)

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it; the file stays, its pid stale but harmless)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def lock_journal_file(fd: int, path: Path, *, retry_s: float = LOCK_RETRY_S) -> None:
    """Take an exclusive ``flock`` on the journal file open on ``fd`` (its inode: a deletion cannot undo it).

    Raises ``JournalInUseError`` (the directory's refusal, naming the pid ``gateway.lock`` holds) when
    another process holds it; ``fd`` is left open (the caller closes it).
    """
    if lock_within(fd, retry_s):
        return
    pid = 0
    with contextlib.suppress(OSError):
        lock = os.open(path.parent / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
        pid = _holder_pid(lock)
        os.close(lock)
    raise JournalInUseError(f"{in_use_message(path.parent, pid)} (it holds the journal {path})")


def lock_within(fd: int, retry_s: float) -> bool:
    """Take an exclusive ``flock`` on ``fd``, retrying every 10 ms for ``retry_s``; False if still held by another."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _held_elsewhere(fd: int) -> bool:
    """Return whether another open file holds a lock on ``fd``'s file (a shared lock taken for an instant)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


def lock_journal_directory(directory: str | Path, *, retry_s: float = LOCK_RETRY_S) -> JournalLock:
    """Take ``directory``'s exclusive lock (creating both if missing) and write this pid into it.

    Raises ``JournalInUseError`` naming the directory and the holder's pid when another process holds it.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        if not lock_within(fd, retry_s):
            raise JournalInUseError(in_use_message(path, _holder_pid(fd)))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return JournalLock(path, fd)


def journal_in_use(directory: str | Path) -> str | None:
    """Return why ``directory`` cannot be used (a gateway holds it: the refusal it would get), else None.

    For ``gateway launch --dry-run``: takes the lock for an instant only if nobody holds it (a gateway
    starting in that instant retries for ``LOCK_RETRY_S``), creates nothing, writes nothing.
    """
    path = Path(directory)
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        fd = -1  # no lock file: no gateway ever ran here, the directory is not there yet, or the file was deleted
    if fd >= 0:
        try:
            if _held_elsewhere(fd):
                return in_use_message(path, _holder_pid(fd))
        finally:
            os.close(fd)
    return _journal_file_in_use(path)


def _journal_file_in_use(directory: Path) -> str | None:
    """Return the refusal if a process holds the lock of a journal file in ``directory`` (``lock_journal_file``).

    A running gateway whose ``gateway.lock`` was deleted (and not yet put back) still holds its journal's own lock,
    which is what a starting gateway would meet.
    """
    try:
        journals = sorted(directory.glob("*.journal"))
    except OSError:
        return None
    for journal in journals:
        try:
            fd = os.open(journal, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if _held_elsewhere(fd):
                return f"{in_use_message(directory, 0)} (it holds the journal {journal})"
        finally:
            os.close(fd)
    return None
