"""The paths ``gateway run`` writes into: checked by the dry run, created (or refused) by the run.

``gateway launch --dry-run`` calls ``check_paths(config, create=False)``: it leaves nothing
behind, says which directories and socket paths it checked (``checked_paths``) or, per setting,
why the launch would fail (a path that is a regular file, a read-only file system, a directory this
user may not write, a file system too full to take one byte: the dry run only, killstop56, a socket
path that is too long, is not a socket, or is shared by both sockets), and, with ``check_listening``,
whether another process listens on a socket path (the run would stop there). ``gateway run`` calls it
with ``create=True`` before it opens anything, so the error names the setting
(``journal directory /x/journal: Read-only file system``) instead of a bare ``[Errno 30]``; it notes the
directories it created (``made``) and, if the start is then refused (the risk limits, a venue's state, a socket in
use...), removes those still empty (``remove_made_directories``): a refused start leaves no empty directory behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gateway.config import GatewayConfig, resolve_venue_paths
from venues.registry import VenueConfigError, decode_venue_config

VENUE_DIRECTORIES = ("state_dir", "store_dir")
"""The venue settings naming a directory the venue writes its state in (OUCH UserRefNums, BOE start
counter, FIX message store)."""


def writable_directories(config: GatewayConfig) -> list[tuple[str, Path]]:
    """Return (setting, directory) for every directory ``gateway run`` creates or writes files in."""
    dirs = []
    if config.journal.enabled:
        dirs.append(("journal directory", config.path(config.journal.directory)))
    dirs.append(("strategy_socket directory", config.path(config.strategy_socket).parent))
    dirs.append(("admin_socket directory", config.path(config.admin_socket).parent))
    dirs.append(("risk_audit_log directory", config.path(config.risk_audit_log).parent))
    dirs.append(("state_dir", config.path(config.state_dir)))
    return dirs + venue_directories(config)


def venue_directories(config: GatewayConfig) -> list[tuple[str, Path]]:
    """Return (setting, directory) for each venue's state directory, resolved as the gateway resolves it.

    A venue section that does not decode is skipped: loading the config reports it, naming the venue.
    """
    dirs = []
    for index, raw in enumerate(config.venues):
        try:
            venue = decode_venue_config(resolve_venue_paths(config, raw), f"venues[{index}]")
        except VenueConfigError:
            continue
        name = getattr(venue, "name", "") or f"venues[{index}]"
        for setting in VENUE_DIRECTORIES:
            value = getattr(venue, setting, None)
            if isinstance(value, str):
                dirs.append((f"venue {name} {setting}", Path(value)))
    return dirs


def socket_paths(config: GatewayConfig) -> list[tuple[str, Path]]:
    """Return (setting, path) for every Unix socket ``gateway run`` listens on."""
    return [
        ("strategy_socket", config.path(config.strategy_socket)),
        ("admin_socket", config.path(config.admin_socket)),
    ]


def _why_not_writable(path: Path) -> str:
    """Return why this user cannot create files in the existing directory ``path``."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
    except OSError as exc:
        return exc.strerror or str(exc)
    return f"{os.strerror(errno.EACCES)} (user {os.geteuid()} cannot create files in it)"


def _usable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def _cannot_create_in(path: Path, written: bool = False) -> str | None:
    """Return why an entry cannot be created (``written``: and a byte written) in the directory ``path``.

    ``None`` if it can. ``os.access`` answers from the mode bits, and for root always yes: a file system that
    refuses every new entry (sysfs, procfs: EPERM) passes it. So create a scratch directory
    there, as the run's ``mkdir`` would. ``written`` (the dry run): in it also a file of one byte, written and
    fsynced as the run's lock files and journal are: a full file system still lets a directory be made (a tmpfs, or
    ext4's blocks reserved for root) but not a data block written (killstop56: the dry run passed a full tmpfs, then
    the launch exited 1 writing ``gateway.lock``). The run does not ask it: a restart on a full disk whose lock files
    and journal exist starts, refusing orders until the journal can be written (docs/reliability.md 2.3a). Both are
    removed at once: the dry run leaves nothing behind.
    """
    try:
        probe = tempfile.mkdtemp(prefix=".gateway-dry-run-", dir=path)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not written:
        os.rmdir(probe)
        return None
    try:
        fd = os.open(os.path.join(probe, "probe"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            if os.write(fd, b"\n") != 1:
                return os.strerror(errno.ENOSPC)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(probe, "probe"))
        os.rmdir(probe)
    return None


def check_directory(label: str, path: Path, *, create: bool, made: list[Path] | None = None) -> str | None:
    """Return why ``path`` cannot be used as a directory to write in (``None`` if it can).

    The dry run (``create=False``) and the run (``create=True``) word a problem the same way: both
    look first, without creating anything (the nearest existing ancestor must be a directory this
    user may create entries in); only then does the run create the missing directory and its parents.
    A ``mkdir`` that still fails (the file system changed in between) is named with the same prefix.
    ``check_paths`` looks at every directory and socket path before it creates any (``create_directory``).
    """
    problem = _directory_problem(label, path)
    if problem is not None or not create:
        return problem
    return create_directory(label, path, made)


def create_directory(label: str, path: Path, made: list[Path] | None = None) -> str | None:
    """Create ``path`` and its missing parents; return why that failed (``None``: it is there now).

    ``made``: the directories this call created are appended to it (the deepest first).
    """
    missing = []
    at = path
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = "" if exc.filename in (None, str(path)) else f" ({exc.filename})"
        if made is not None:
            made.extend(p for p in missing if p.is_dir())
        return f"{label} {path}: cannot be created: {exc.strerror or exc}{where}"
    if made is not None:
        made.extend(missing)
    return None


LOCK_FILES = ("gateway.lock", "state.lock")
"""The lock files a start takes in the directories it locks (``gateway.journal_lock``, ``gateway.state_lock``)."""


def remove_made_directories(made: Sequence[Path]) -> list[Path]:
    """Remove the directories of ``made`` (``create_directory``) that a refused start left empty; return them.

    A directory holding anything but a lock file of this start is left as it is (a journal file, a state file:
    data, never removed). A lock file is removed only while this process holds its lock (an exclusive ``flock``
    taken without waiting, the file unlinked while held): one another process holds is left, and so is its
    directory. The deepest directories go first, so a parent the start created goes too once empty.
    """
    removed = []
    for directory in sorted(dict.fromkeys(made), key=lambda p: len(p.parts), reverse=True):
        for name in LOCK_FILES:
            _remove_lock_file(directory / name)
        try:
            os.rmdir(directory)
        except OSError:  # not empty (or already gone): left as it is
            continue
        removed.append(directory)
    return removed


def _remove_lock_file(path: Path) -> None:
    """Unlink the lock file ``path`` if nobody holds it (taken exclusively first, unlinked while held)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino == os.lstat(path).st_ino:
            os.unlink(path)
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _directory_problem(label: str, path: Path, written: bool = False) -> str | None:
    """Return why ``path`` cannot be used or created as a directory to write in, creating nothing (``written``: the
    dry run's probe, a byte written there too: ``_cannot_create_in``)."""
    if path.exists():
        if not path.is_dir():
            return f"{label} {path}: exists and is not a directory"
        if not _usable(path):
            return f"{label} {path}: {_why_not_writable(path)}"
        refused = _cannot_create_in(path, written)
        return f"{label} {path}: {refused}" if refused else None
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{label} {path}: cannot be created, {ancestor} is not a directory"
    if not _usable(ancestor):
        return f"{label} {path}: cannot be created in {ancestor}: {_why_not_writable(ancestor)}"
    refused = _cannot_create_in(ancestor, written)
    return f"{label} {path}: cannot be created in {ancestor}: {refused}" if refused else None


def check_directories(config: GatewayConfig, written: bool = False) -> list[str]:
    """Return one problem per unusable directory of ``config`` (empty: all usable); create nothing (``written``: the
    dry run's probe, ``_cannot_create_in``)."""
    dirs = writable_directories(config)
    return [problem for label, path in dirs if (problem := _directory_problem(label, path, written))]


def create_directories(config: GatewayConfig, made: list[Path] | None = None) -> list[str]:
    """Create every missing directory of ``config`` (after ``check_directories`` found none unusable).

    ``made``: the directories created are appended to it (``create_directory``).
    """
    return [problem for label, path in writable_directories(config) if (problem := create_directory(label, path, made))]


UNIX_PATH_MAX = 107
"""The longest Unix socket path in bytes: ``sun_path`` holds 108, one of them the terminating NUL."""


def check_socket_path(label: str, path: Path) -> str | None:
    """Return why ``gateway run`` cannot listen on the Unix socket ``path`` (``None`` if it can).

    The path must fit ``sun_path``, and whatever is already there must be a socket (a stale one
    is replaced at the start): a regular file, a directory or a symlink is refused, never removed.
    """
    size = len(os.fsencode(path))
    if size > UNIX_PATH_MAX:
        return f"{label} {path}: {size} bytes, longer than the {UNIX_PATH_MAX} bytes a Unix socket path may have"
    try:
        mode = os.lstat(path).st_mode
    except OSError:  # nothing there (or a parent in the way: the directory check names it)
        return None
    if not stat.S_ISSOCK(mode):
        return f"{label} {path}: exists and is not a socket"
    return None


def accepts_connections(path: Path) -> bool:
    """Return True if a process listens on the Unix socket at ``path`` (a connect succeeds; the probe closes).

    A refused connect (or nothing there) means no listener: a stale socket. A listener whose backlog is
    full counts as listening; the connect waits at most 2 s.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(os.fsdecode(path))
    except (BlockingIOError, TimeoutError):
        return True  # bound and listening, its queue full: still in use
    except OSError:
        return False
    finally:
        probe.close()
    return True


def socket_in_use(label: str, path: Path) -> str | None:
    """Return why ``gateway run`` would stop at ``path``: a process accepts connections there (``None``: none does).

    The run (``gateway.server.prepare_socket_path``) asks ``accepts_connections`` of a socket it finds at
    the path: no listener means a stale socket (removed, then bound again), a listener means another
    gateway, and the run stops. This asks the same of the same paths.
    """
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return None  # nothing there, or not a socket (check_socket_path names it)
    except OSError:
        return None
    if not accepts_connections(path):
        return None
    return f"{label} {path}: another process is listening on this socket"


def check_listening(config: GatewayConfig) -> list[str]:
    """Return one problem per socket path of ``config`` another process listens on (empty: none)."""
    return [problem for label, path in socket_paths(config) if (problem := socket_in_use(label, path))]


def check_sockets(config: GatewayConfig) -> list[str]:
    """Return one problem per socket path of ``config`` the gateway cannot listen on (empty: all usable)."""
    problems = [problem for label, path in socket_paths(config) if (problem := check_socket_path(label, path))]
    (_, strategy), (_, admin) = socket_paths(config)
    if os.path.realpath(strategy) == os.path.realpath(admin):
        problems.append(f"admin_socket {admin}: the same path as strategy_socket (each needs its own socket)")
    return problems


def check_paths(config: GatewayConfig, *, create: bool, made: list[Path] | None = None) -> list[str]:
    """Return every problem with the directories and socket paths of ``config`` (empty: the run can use them).

    Everything is looked at first, creating nothing; ``create=True`` (``gateway run``) then creates the
    missing directories only if no check found a problem, noting them in ``made``: a start refused later
    removes those still empty (``remove_made_directories``), so a refused start leaves no empty directories behind.
    """
    problems = check_directories(config, written=not create) + check_sockets(config)
    if problems or not create:
        return problems
    return create_directories(config, made)


def checked_paths(config: GatewayConfig) -> list[str]:
    """Describe what ``check_paths`` looks at, for the dry run's success lines (one entry a line)."""
    directories = ", ".join(f"{label} {path}" for label, path in writable_directories(config))
    sockets = ", ".join(f"{label} {path}" for label, path in socket_paths(config))
    return [
        f"directories (each exists or can be created, and this user can create files in it): {directories}",
        f"socket paths (each fits a Unix socket path, nothing there or a stale socket no process listens on):"
        f" {sockets}",
    ]
