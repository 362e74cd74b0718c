"""Session hours: when the session may be logged on, and when sequence numbers reset.

A window opens every allowed day at ``start_time`` and closes at ``end_time`` (the next
day when ``end_time`` is not after ``start_time``; equal times make a 24-hour session
that resets once a day). Times are wall-clock in ``timezone``. Sequence numbers reset
at the start of each window: a store created before the current window's start is
reset before the next logon.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from typing import Annotated, Final

import msgspec

_TIME: Final = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_NS: Final = 1_000_000_000


def _parse_time(text: str) -> dt.time:
    hour, minute, *rest = (int(p) for p in text.split(":"))
    return dt.time(hour, minute, rest[0] if rest else 0)


@functools.lru_cache(maxsize=16)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


class SessionSchedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Daily session window in a time zone."""

    start_time: Annotated[str, msgspec.Meta(pattern=_TIME)]
    end_time: Annotated[str, msgspec.Meta(pattern=_TIME)]
    timezone: str = "UTC"
    weekdays: list[str] = []
    """Days a window may *start* on (``Mon`` .. ``Sun``); empty means every day."""

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        for day in self.weekdays:
            if day not in _DAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(_DAYS)}")
        if not re.match(_TIME, self.start_time) or not re.match(_TIME, self.end_time):
            raise ValueError("start_time and end_time must be HH:MM or HH:MM:SS")

    @property
    def _zone(self) -> zoneinfo.ZoneInfo:
        return _zone(self.timezone)

    def _window(self, day: dt.date) -> tuple[int, int] | None:
        """Return the (start, end) wall ns of the window starting on ``day``, if it has one."""
        if self.weekdays and _DAYS[day.weekday()] not in self.weekdays:
            return None
        start_t, end_t = _parse_time(self.start_time), _parse_time(self.end_time)
        start = dt.datetime.combine(day, start_t, self._zone)
        end_day = day if end_t > start_t else day + dt.timedelta(days=1)
        end = dt.datetime.combine(end_day, end_t, self._zone)
        return int(start.timestamp()) * _NS, int(end.timestamp()) * _NS

    def _local_date(self, wall_ns: int) -> dt.date:
        return dt.datetime.fromtimestamp(wall_ns / _NS, self._zone).date()

    def current_window(self, wall_ns: int) -> tuple[int, int] | None:
        """Return (start, end) of the window containing ``wall_ns``, or None when closed."""
        today = self._local_date(wall_ns)
        for back in (0, 1):
            window = self._window(today - dt.timedelta(days=back))
            if window is not None and window[0] <= wall_ns < window[1]:
                return window
        return None

    def is_open(self, wall_ns: int) -> bool:
        """Return True when ``wall_ns`` falls inside a session window."""
        return self.current_window(wall_ns) is not None

    def next_start(self, wall_ns: int) -> int:
        """Return the wall ns at which the next window opens after ``wall_ns``."""
        today = self._local_date(wall_ns)
        for ahead in range(0, 9):
            window = self._window(today + dt.timedelta(days=ahead))
            if window is not None and window[0] > wall_ns:
                return window[0]
        raise ValueError("schedule never opens")  # unreachable with a valid weekday list

    def session_date(self, wall_ns: int) -> dt.date:
        """Return the date (in ``timezone``) the window containing ``wall_ns`` started on, else the next one's."""
        window = self.current_window(wall_ns)
        start = window[0] if window is not None else self.next_start(wall_ns)
        return self._local_date(start)

    def needs_reset(self, store_created_ns: int, wall_ns: int) -> bool:
        """Return True when a store created at ``store_created_ns`` predates the current window."""
        window = self.current_window(wall_ns)
        return window is not None and store_created_ns < window[0]
