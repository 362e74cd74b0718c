"""Grow a memory-mapped file by a step, or by what fits on a nearly full disk (texts56: one copy of what the order
journal and the FIX message store each did).

Both files grow by preallocating (``posix_fallocate``) from their current size to what the next record needs plus a
growth step, then mapping the new size. When the whole step does not fit (ENOSPC), the step is halved until one
fits, down to what is needed alone (rounded up to a page): the records are written as soon as the disk has room for
them, not only once it has room for a whole step (ops55). The callers word their own WARNING and count the short
growth (``gateway_disk_short_growths_total``). Cold: once per step, a few times per batch only on a nearly full disk.
"""

from __future__ import annotations

import errno
import mmap
import os


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
