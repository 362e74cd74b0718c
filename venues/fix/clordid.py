"""What a FIX venue's ClOrdIDs are made of: the session day's code and this process's start number in that day.

A new order goes out as ``<prefix><day><order id>`` and each cancel/replace (and each asking cancel) as
``<prefix><day><order id>-<start>.<n>``: ``day`` three base-36 digits (days since 2000-01-01 of the session
day), ``start`` this process's start number in the day (base 36, from ``<store_dir>/<name>.fix-starts.json``,
written atomically before the venue connects), ``n`` the order's n-th such request in this process (base 36).
So no ClOrdID repeats across days (a new journal restarts the order ids; yesterday's GTC order keeps its
own day), across restarts and crashes, or when the venue's sequence numbers restart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

from venues.day_starts import DAY_LEN, base36, count_start
from venues.day_starts import day_code as shared_day_code
from venues.fix.session.schedule import SessionSchedule
from venues.state_error import VenueStateError

__all__ = ["DAY_LEN", "SUFFIX_ROOM", "FixStateError", "base36", "day_code", "next_start", "session_day", "starts_path"]

SUFFIX_ROOM: Final = 8
"""Room kept in a ClOrdID for ``-<start>.<n>`` (start up to 2 base-36 digits, n up to 4: 1,679,615 requests)."""
_NS: Final = 1_000_000_000


class FixStateError(VenueStateError):
    """The start file exists but cannot be trusted, or cannot be written (the venue does not start)."""


def day_code(day: dt.date) -> bytes:
    """Return the three base-36 digits of ``day``: days since 2000-01-01."""
    return shared_day_code(day).encode()


def session_day(schedule: SessionSchedule | None, wall_ns: int) -> dt.date:
    """Return the session day at ``wall_ns``: the date its window started (or next starts); UTC date without one."""
    if schedule is None:
        return dt.datetime.fromtimestamp(wall_ns / _NS, dt.UTC).date()
    return schedule.session_date(wall_ns)


def starts_path(store_dir: str | Path, name: str) -> Path:
    """Return the file counting venue ``name``'s starts in the session day."""
    return Path(store_dir) / f"{name}.fix-starts.json"


def next_start(path: Path, day: dt.date) -> int:
    """Count one more start on ``day`` in ``path`` and return the new count (1 first; a new day starts from 1)."""
    return count_start(
        path,
        day.isoformat(),
        FixStateError,
        "FIX state",
        "cancel/replace ClOrdIDs issued today are unknown; if it is a new session day delete the file, otherwise "
        "restore it",
    )
