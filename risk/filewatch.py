"""How the risk file watch looks at a file: which version is at the path, and whether it was renamed there.

A version the watch looked at is kept open (read-only) for as long as the watch remembers it, so its inode
cannot be freed and its number given to a later file (ext4 hands a freed number to the next new file at
once): while a version is held, the same (device, inode) at the path is that version, nothing else.

Whether a new version was *renamed* to the path after its last write (complete: ``mv``, ``sed -i``, an
atomic save) or *written at the path* (maybe half-written: ``rm`` then a write, ``cp`` to a new name, an
editor writing a new file at the path) is known from any of:

- inotify (Linux): the last event on the name in its directory is a rename to it (``IN_MOVED_TO``), with no
  create, write or close-after-write on that name since (``RenameWatch``);
- the path resolves to another file than at the previous look: a symlink on the way was swapped
  (a Kubernetes ConfigMap's ``..data``), which publishes the file it points to as it is;
- the change time is later than the modification time (``rename(2)`` sets the change time; only when a
  clock tick passed between the last write and the rename, so a same-process write + rename often does not
  show it: without inotify ``sed -i`` may count as written at the path).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import stat
import struct
from typing import Final, NamedTuple

from risk.loader import MAX_FILE_BYTES

Signature = tuple[int, int, int, int]
"""(modification time ns, size, file id, change time ns): what a cheap ``stat`` says about the file at a path.

The change time makes a write that puts the modification time back (``touch -r``, ``cp -p`` over the file, ``rsync``
writing in place) a change all the same."""

INLINE_BYTES: Final = 65536
"""The most the watch reads of a file where it looks (the event loop) when given a thread to read in
(``look_in_thread``): a larger file is read and hashed there, and decided at the watch's next look (risk60: a
31 MB file `mv`-ed in held the loop ~100 ms)."""

_CHUNK = 1 << 20
"""Bytes per read when hashing (the GIL is free during each read and each hash update)."""

log = logging.getLogger("risk")

_IN_MODIFY = 0x2
_IN_CLOSE_WRITE = 0x8
_IN_MOVED_FROM = 0x40
_IN_MOVED_TO = 0x80
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_Q_OVERFLOW = 0x4000
_IN_IGNORED = 0x8000
_IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_MASK = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE | _IN_ONLYDIR
_WRITTEN = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_CREATE
_EVENT = struct.Struct("iIII")


def file_id(st: os.stat_result) -> int:
    """Return one number for (device, inode): two files on two file systems may share an inode number."""
    return (st.st_dev << 64) | st.st_ino


def signature_of(st: os.stat_result) -> Signature:
    """Return the signature of a ``stat`` result."""
    return (st.st_mtime_ns, st.st_size, file_id(st), st.st_ctime_ns)


def stat_signature(path: str | os.PathLike[str] | None) -> Signature | None:
    """Return the signature of the file at ``path`` (through symlinks), None if there is none."""
    if path is None:
        return None
    try:
        return signature_of(os.stat(path))
    except OSError:
        return None


class RenameWatch:
    """Inotify on the directories of the watched files: which names were last renamed to (``IN_MOVED_TO``).

    Without inotify (not Linux, no watches left) ``available`` is False and ``renamed_to`` always False;
    an event queue overflow forgets everything (every name is unknown again: the change-time rule decides).
    """

    def __init__(self) -> None:
        self._fd = -1
        self._add_watch: object = None
        self._dirs: dict[int, str] = {}
        """Watch descriptor -> directory."""
        self._watching: dict[str, int] = {}
        self._last: dict[tuple[str, str], bool] = {}
        """(directory, name) -> True if its last event was a rename to it, False if a create or write."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = int(libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
            add_watch = libc.inotify_add_watch
        except (OSError, AttributeError) as exc:
            log.warning(
                "risk file watch: no inotify (%s): a save that writes and renames within one clock tick "
                "(sed -i) may count as modified in place",
                exc,
            )
            return
        if fd < 0:
            log.warning(
                "risk file watch: no inotify (%s): a save that writes and renames within one clock tick "
                "(sed -i) may count as modified in place",
                os.strerror(ctypes.get_errno()),
            )
            return
        add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
        self._fd = fd
        self._add_watch = add_watch

    @property
    def available(self) -> bool:
        """Return True while inotify works."""
        return self._fd >= 0

    def watch(self, directory: str) -> None:
        """Watch ``directory`` (once); a failure leaves it to the change-time rule."""
        if self._fd < 0 or directory in self._watching:
            return
        add_watch = self._add_watch
        assert callable(add_watch)
        wd = int(add_watch(self._fd, os.fsencode(directory), _MASK))
        if wd >= 0:
            self._dirs[wd] = directory
            self._watching[directory] = wd

    def drain(self) -> None:
        """Read every queued event."""
        while self._fd >= 0:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            if not data:
                return
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
            offset += _EVENT.size + length
            if mask & _IN_Q_OVERFLOW:
                self._last.clear()
                continue
            directory = self._dirs.get(wd)
            if directory is None:
                continue
            if mask & _IN_IGNORED:  # the directory is gone
                del self._dirs[wd]
                self._watching.pop(directory, None)
                continue
            key = (directory, os.fsdecode(raw.split(b"\0", 1)[0]))
            if mask & _IN_MOVED_TO:
                self._last[key] = True
            elif mask & _WRITTEN:
                self._last[key] = False
            elif mask & (_IN_MOVED_FROM | _IN_DELETE):
                self._last.pop(key, None)

    def renamed_to(self, real: str) -> bool:
        """Return True if the last event on the file ``real`` (no symlinks) was a rename to it."""
        directory, name = os.path.split(real)
        return self._last.get((directory, name)) is True and directory in self._watching

    def close(self) -> None:
        """Stop watching."""
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._dirs.clear()
        self._watching.clear()
        self._last.clear()


_SHARED: list[RenameWatch] = []


def shared_watch() -> RenameWatch:
    """Return the process's one ``RenameWatch`` (inotify instances are few per user: 128 by default).

    What it knows (the last event on each name) is a fact about the file system, the same for every reader.
    """
    if not _SHARED:
        _SHARED.append(RenameWatch())
    return _SHARED[0]


class Version(NamedTuple):
    """One version of a file as the watch saw it (``fd``: held open; None if no file or not readable)."""

    signature: Signature | None
    digest: str | None
    renamed: bool
    real: str | None
    fd: int | None


MISSING = Version(None, None, False, None, None)


class Opened(NamedTuple):
    """A regular file opened to be looked at (``open_version``): not yet read; the caller owns ``fd``."""

    fd: int
    st: os.stat_result
    real: str


def open_version(path: str | os.PathLike[str], renames: RenameWatch | None) -> Version | Opened | None:
    """Open the file at ``path`` without reading it: ``Opened`` for a regular file (``file_digest`` then ``finish``).

    A missing file is ``MISSING``, anything but a regular file a ``Version`` (not held open: a FIFO's writer would
    take it for a reader); None: the path changed meanwhile, look again later.
    """
    real = os.path.realpath(path)
    if renames is not None:
        renames.watch(os.path.dirname(real))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return MISSING if stat_signature(path) is None else None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return Version(signature_of(st), None, st.st_ctime_ns > st.st_mtime_ns, real, None)
    return Opened(fd, st, real)


def file_digest(fd: int, size: int) -> str | None:
    """Return the sha256 of the file ``fd`` read up to one byte past ``size``; None, unread, if ``size`` is too large.

    A file larger than the gateway reads (``MAX_FILE_BYTES``) is refused by its size, never read. Any thread: it
    reads with ``pread`` (no shared offset). A file that grew or shrank meanwhile gives another hash, and
    ``finish`` sees it changed.
    """
    if size > MAX_FILE_BYTES:
        return None
    digest = hashlib.sha256()
    offset = 0
    while offset <= size:
        chunk = os.pread(fd, min(_CHUNK, size + 1 - offset), offset)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def finish(
    path: str | os.PathLike[str], opened: Opened, digest: str | None, renames: RenameWatch | None
) -> Version | None:
    """Return the version ``opened`` was, hashed as ``digest``; None (closed) if the path moved or it was written.

    Called where the watch runs, after the read: every rename event up to now is read first, so the last one on
    the name is the latest.
    """
    fd, st, real = opened
    signature = signature_of(st)
    try:
        if renames is not None:
            renames.drain()
        if (
            stat_signature(path) != signature
            or signature_of(os.fstat(fd)) != signature
            or os.path.realpath(path) != real
        ):
            os.close(fd)
            return None  # replaced or written while read
    except OSError:
        os.close(fd)
        return None
    renamed = st.st_ctime_ns > st.st_mtime_ns or (renames is not None and renames.renamed_to(real))
    return Version(signature, digest, renamed, real, fd)


def look(path: str | os.PathLike[str], renames: RenameWatch | None) -> Version | None:
    """Open the file at ``path`` and return its version (opened, hashed, kept open); None if it moved meanwhile.

    The caller owns ``fd`` (close it when the version is forgotten). None: the path changed while it was
    read, look again later. Reads the whole file in the calling thread (``open_version``, ``file_digest`` and
    ``finish`` apart: the watch reads a large file in a worker thread).
    """
    opened = open_version(path, renames)
    if not isinstance(opened, Opened):
        return opened
    try:
        digest = file_digest(opened.fd, opened.st.st_size)
    except OSError:
        os.close(opened.fd)
        return None
    return finish(path, opened, digest, renames)
