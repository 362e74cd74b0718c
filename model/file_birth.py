"""A file's birth time, where the file system keeps one (``statx``).

An inode number is reused once freed, and a device number is not stable across a reboot; a file's birth time tells
a file apart from a later one given the same inode number. Used by risk's held-back notes (inode58) and by the FIX
store's journal identity (fixid61).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any, Final

_STATX_BTIME: Final = 0x800
_AT_FDCWD: Final = -100
_libc: Any = None


def birth_ns(path: Path | str, file_id: int | None) -> int | None:
    """Return the birth time (ns) of the file at ``path`` if its inode is ``file_id``; None where unknown.

    ``os.stat`` gives no birth time on Linux (Python 3.11): ``statx``. ext4, xfs, btrfs and recent tmpfs keep one.
    None if the file system does not, the call fails, or the file at the path is no longer ``file_id``.
    """
    global _libc
    if file_id is None:
        return None
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(256)  # struct statx
        if _libc.statx(_AT_FDCWD, os.fsencode(str(path)), 0, _STATX_BTIME, buffer) != 0:
            return None
    except (AttributeError, OSError, TypeError, ValueError):
        return None  # no statx in this C library
    raw = buffer.raw
    mask = int.from_bytes(raw[0:4], "little")
    inode = int.from_bytes(raw[32:40], "little")
    if not mask & _STATX_BTIME or inode != file_id & ((1 << 64) - 1):
        return None
    seconds = int.from_bytes(raw[80:88], "little", signed=True)
    return seconds * 1_000_000_000 + int.from_bytes(raw[88:92], "little")
