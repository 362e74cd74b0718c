"""Grow a memory-mapped file by a step, or by what fits on a nearly full disk (texts56: one copy of what the order
journal and the FIX message store each did).

Both files grow by preallocating (``posix_fallocate``) from their current size to what the next record needs plus a
growth step, then mapping the new size. When the whole step does not fit (ENOSPC), the step is halved until one
fits, down to what is needed alone (rounded up to a page): the records are written as soon as the disk has room for
them, not only once it has room for a whole step (ops55). The callers count the short growth
(``gateway_disk_short_growths_total``); ``log_growth`` words both files' WARNINGs. Cold: once per step, a few times
per batch only on a nearly full disk.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
from pathlib import Path


def preallocate_what_fits(fd: int, size: int, needed: int, step: int) -> tuple[int, bool]:
    """Preallocate ``fd`` from ``size`` to ``needed`` plus ``step`` (in whole pages); return (the new size, short).

    ``short``: the whole step did not fit and the file grew by less (a halved step, down to ``needed`` rounded up to
    a page). Raises the first OSError when not even ``needed`` fits, or at once for an error other than ENOSPC
    (nothing changed then).
    """
    page = mmap.PAGESIZE
    least = -(-needed // page) * page
    target = max(least, (needed + step) // page * page)
    try:
        os.posix_fallocate(fd, size, target - size)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        while True:
            step = (step // 2) // page * page
            target = max(least, (needed + step) // page * page)
            try:
                os.posix_fallocate(fd, size, target - size)
            except OSError as again:
                if again.errno != errno.ENOSPC or not step:
                    raise exc from None
            else:
                return target, True
    return target, False


def log_growth(
    logger: logging.Logger,
    kind: str,
    path: Path,
    grown: tuple[int, int, int, int],
    short: bool,
    short_steps: int,
) -> int:
    """Log the start and the end of a nearly-full spell (one WARNING each); return the short steps in a row so far.

    ``kind`` and ``path`` name the file (``journal``, ``FIX store``); ``grown`` is (size, new size, bytes needed,
    full step) of the growth just made, ``short`` as ``preallocate_what_fits`` said, and ``short_steps`` the short
    steps in a row before it (0 once a full step fits again).
    """
    size, target, needed, step = grown
    if short:
        if not short_steps:
            logger.warning(
                "%s %s: the disk is nearly full: the file grew by %d KiB only (the records need %d bytes; a full step "
                "is %d MiB); it keeps growing by what fits, free space on %s",
                kind,
                path,
                (target - size) >> 10,
                needed - size,
                step >> 20,
                path.parent,
            )
        return short_steps + 1
    if short_steps:
        logger.warning(
            "%s %s: grows by full %d MiB steps again (after %d short steps on a nearly full disk)",
            kind,
            path,
            step >> 20,
            short_steps,
        )
    return 0
