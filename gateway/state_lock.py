"""One gateway per state directory: an exclusive ``flock`` on ``state.lock`` in each directory it keeps state in.

``state_dir`` holds what outlives a process and is not in the journal: the note naming the journal the
gateway began today (``<id>.journal-begun``, which the lost-journal check reads), the risk limits' copy, the
restart counters. Each venue's own directory (``state_dir`` of OUCH and BOE: UserRefNum store, start
counter; ``store_dir`` of FIX: message store) holds its session's numbering. Two gateways writing one of
these at once defeat each other's protections (a second gateway with its own journal directory rewrote the
first one's journal-begun note, so the first one, its journal lost, later began an empty day) or send
duplicate references. So a gateway takes, right after its journal directory's lock (``gateway.journal_lock``)
and before it reads any state, the lock of ``state_dir`` and of every venue directory (each distinct
directory once: a venue directory inside ``state_dir`` is locked on its own too, since another gateway's
config may name it directly). The lock file holds the holder's pid and config file, so a second gateway's
refusal names them; the descriptor is close-on-exec and the kernel drops the lock when the process ends,
however it ends. ``state_in_use`` tells a dry run the same without taking anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Final

from gateway.config import GatewayConfig
from gateway.journal_lock import lock_within
from gateway.ops.paths import venue_directories

STATE_LOCK_FILE: Final = "state.lock"
"""The lock file's name in ``state_dir`` and in each venue's state directory."""
LOCK_RETRY_S: Final = 0.2
"""How long a start retries a lock it finds taken (a dry run's probe holds it for microseconds)."""


class StateDirInUseError(OSError):
    """Another process (a running gateway) holds a state directory's lock; nothing of it was read or written."""


def state_directories(config: GatewayConfig) -> list[tuple[str, Path]]:
    """Return (setting, directory) for ``state_dir`` and each venue directory, each distinct directory once."""
    seen: set[str] = set()
    dirs = []
    for label, path in [("state_dir", config.path(config.state_dir)), *venue_directories(config)]:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            dirs.append((label, path))
    return dirs


def _holder(fd: int) -> str:
    """Return who the lock file names: ``pid N (config C)``, or what is known of it."""
    try:
        pid, _, config = os.pread(fd, 4096, 0).decode(errors="replace").rstrip("\n").partition(" ")
        int(pid)
    except (OSError, ValueError):
        return "a process whose pid the lock file does not name"
    return f"pid {pid}" + (f", config {config}" if config else "")


def in_use_message(label: str, directory: Path, holder: str) -> str:
    """Return the refusal for a state directory another gateway holds (the ERROR line and the dry run's line)."""
    return (
        f"{label} {directory} is in use by another gateway ({holder}, lock {directory / STATE_LOCK_FILE}): one "
        f"gateway per state directory (gateways sharing it overwrite each other's journal-begun note and venue "
        f"numbering); stop that gateway first, or give this one its own {label.rpartition(' ')[2]}"
    )


class StateLocks:
    """The held locks of a gateway's state directories (``release`` or process exit drops them)."""

    def __init__(self) -> None:
        self._fds: list[int] = []

    @property
    def held(self) -> int:
        """Return how many directories are locked."""
        return len(self._fds)

    def release(self) -> None:
        """Drop every lock (the files stay, their pid stale but harmless)."""
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)


def lock_state_directories(config: GatewayConfig, *, retry_s: float = LOCK_RETRY_S) -> StateLocks:
    """Lock every state directory of ``config`` (creating them if missing); write this pid and config into each.

    Raises ``StateDirInUseError`` naming the directory, its setting and the holder when another process holds
    one (the locks taken so far are dropped); an OSError naming the file if one cannot be created.
    """
    locks = StateLocks()
    me = f"{os.getpid()} {Path(config.config_file).absolute() if config.config_file else ''}".rstrip() + "\n"
    try:
        for label, directory in state_directories(config):
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / STATE_LOCK_FILE
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
            except OSError as exc:
                raise OSError(exc.errno, f"{label} {directory}: cannot open {path}: {exc.strerror or exc}") from exc
            if not lock_within(fd, retry_s):
                holder = _holder(fd)
                os.close(fd)
                raise StateDirInUseError(in_use_message(label, directory, holder))
            locks._fds.append(fd)
            with contextlib.suppress(OSError):  # the holder's name is for messages only
                os.ftruncate(fd, 0)
                os.pwrite(fd, me.encode(), 0)
    except BaseException:
        locks.release()
        raise
    return locks


def state_in_use(config: GatewayConfig) -> list[str]:
    """Return the refusal for each state directory of ``config`` a running gateway holds (empty: none).

    For ``gateway launch --dry-run``: a shared lock taken for an instant on an existing lock file; creates
    nothing, writes nothing.
    """
    problems = []
    for label, directory in state_directories(config):
        try:
            fd = os.open(directory / STATE_LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # no lock file: no gateway ever ran with it, or the directory is not there yet
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                problems.append(in_use_message(label, directory, _holder(fd)))
        finally:
            os.close(fd)
    return problems
