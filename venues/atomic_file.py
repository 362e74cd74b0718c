"""Replace a small state file atomically and durably (the FIX store's reset, the OUCH UserRefNum state)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename over ``path``, fsync of the directory.

    A reader, or the file after a crash, has either the old content or the new one, never a
    mix. On an error the OSError propagates, ``path`` is unchanged (unless only the final
    directory fsync failed) and the temporary file is removed.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
