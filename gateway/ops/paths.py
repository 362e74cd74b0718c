"""The directories ``gateway run`` writes into: checked by the dry run, created (or refused) by the run.

``gateway launch --dry-run`` calls ``check_directories(config, create=False)``: it writes
nothing and says, per setting, why the launch would fail (a path that is a regular file, a
read-only file system, a directory this user may not write). ``gateway run`` calls it with
``create=True`` before it opens anything, so the error names the setting
(``journal directory /x/journal: Read-only file system``) instead of a bare ``[Errno 30]``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from gateway.config import GatewayConfig


def writable_directories(config: GatewayConfig) -> list[tuple[str, Path]]:
    """Return (setting, directory) for every directory ``gateway run`` creates or writes files in."""
    dirs = []
    if config.journal.enabled:
        dirs.append(("journal directory", config.path(config.journal.directory)))
    dirs.append(("strategy_socket directory", config.path(config.strategy_socket).parent))
    dirs.append(("admin_socket directory", config.path(config.admin_socket).parent))
    return dirs


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


def check_directory(label: str, path: Path, *, create: bool) -> str | None:
    """Return why ``path`` cannot be used as a directory to write in (``None`` if it can).

    With ``create``, a missing directory (and its parents) is created; without it, the nearest
    existing ancestor must be a directory this user may create entries in.
    """
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            where = "" if exc.filename in (None, str(path)) else f" ({exc.filename})"
            return f"{label} {path}: {exc.strerror or exc}{where}"
    if path.exists():
        if not path.is_dir():
            return f"{label} {path}: exists and is not a directory"
        if not _usable(path):
            return f"{label} {path}: {_why_not_writable(path)}"
        return None
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{label} {path}: cannot be created, {ancestor} is not a directory"
    if not _usable(ancestor):
        return f"{label} {path}: cannot be created in {ancestor}: {_why_not_writable(ancestor)}"
    return None


def check_directories(config: GatewayConfig, *, create: bool) -> list[str]:
    """Return one problem per unusable directory of ``config`` (empty: all usable)."""
    problems = []
    for label, path in writable_directories(config):
        problem = check_directory(label, path, create=create)
        if problem:
            problems.append(problem)
    return problems
