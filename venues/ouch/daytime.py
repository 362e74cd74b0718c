"""Venue wall-clock helpers: OUCH timestamps (ns since midnight) and the trading day.

The OUCH 5.0 spec says only "nanoseconds since midnight"; for Nasdaq US that is
midnight in US Eastern time, which is the default here. Both helpers take the
epoch-nanosecond wall clock as a parameter so tests can pin it.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from typing import Final

DEFAULT_TIMEZONE: Final = "America/New_York"
NS_PER_S: Final = 1_000_000_000

WallClock = Callable[[], int]
"""A function returning nanoseconds since the Unix epoch."""


def _zone(timezone: str) -> dt.tzinfo:
    return dt.UTC if timezone.upper() == "UTC" else zoneinfo.ZoneInfo(timezone)


class NsSinceMidnight:
    """Nanoseconds since local midnight in ``timezone``; midnight is recomputed only when the day changes."""

    __slots__ = ("_end", "_start", "_wall", "_zone")

    def __init__(self, timezone: str = DEFAULT_TIMEZONE, wall: WallClock = time.time_ns) -> None:
        self._zone = _zone(timezone)
        self._wall = wall
        self._start = 0
        self._end = -1

    def __call__(self) -> int:
        now = self._wall()
        if not self._start <= now < self._end:
            local = dt.datetime.fromtimestamp(now / NS_PER_S, self._zone)
            midnight = dt.datetime.combine(local.date(), dt.time(), self._zone)
            following = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), self._zone)
            self._start = int(midnight.timestamp()) * NS_PER_S
            self._end = int(following.timestamp()) * NS_PER_S
        return now - self._start


def trading_day(timezone: str = DEFAULT_TIMEZONE, wall: WallClock = time.time_ns) -> str:
    """Return today's date (ISO format) in the venue's ``timezone``."""
    return dt.datetime.fromtimestamp(wall() / NS_PER_S, _zone(timezone)).date().isoformat()
