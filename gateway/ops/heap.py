"""The C heap's large-allocation threshold: big buffers go back to the kernel when freed.

glibc serves an allocation of at least ``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and
unmaps it on ``free``. By default the threshold is dynamic: each time such a block is freed it
rises to that block's size (up to 32 MiB), so after one large replay, journal read or slow
consumer's backlog, later buffers of a few MiB come from the main heap, whose free space is
rarely returned: RSS stays up (measured: +21 MiB after a slow-consumer episode at 1,000,000
orders, ``benchmarks/bench_memory.py --slow``). Setting the threshold fixes it (no more
rising): every block of 1 MiB or more is unmapped when freed. Cost: one mmap/munmap per such
block; the hot path's buffers are far smaller.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Final

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD: Final = -3
"""glibc's ``mallopt`` parameter number (malloc.h)."""


def set_mmap_threshold(threshold: int) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes (0: leave the default); return True if set."""
    if threshold <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        log.info("no mallopt in this C library; the heap's mmap threshold is left as it is")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
