"""The journal's trading day, and the start-up check that it is every venue's (day55).

One journal file per gateway and trading day (``<gateway_id>-<YYYYMMDD>.journal``, docs/reliability.md 2.1). The
date in its name is the date in ``journal.timezone``:

* ``auto`` (the default): the time zone of the venues' trading days when they all name one (every OUCH and BOE
  venue's ``timezone``, every FIX venue's ``schedule.timezone``; a FIX venue without a schedule has no trading day
  of its own), else the host's local time zone;
* ``local``: the host's local time zone (what every version before day55 used: ``dt.date.today()``);
* an IANA name (``America/New_York``) or ``UTC``.

A host whose local date is not its venues' (a UTC host with US Eastern venues, from 19:00 to 24:00 Eastern) used
to open a new, empty journal at a restart after the host's midnight while the venues' trading day went on: the
day's open orders, positions and fills forgotten, and BOE ClOrdIDs (order ids restarting at 1) used again
(rev55boe s12). ``auto`` names the journal by the venues' day; and whatever the setting, ``day_problem`` refuses
the start while a venue's trading day is not the journal's (exit 2, the keys to set named; exit 1 when the last
journal begun is later than today).

Pure functions of the configs and a wall clock (nanoseconds since the epoch): no I/O.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Sequence
from typing import Any, Final

__all__ = ["AUTO", "LOCAL", "VenueDay", "check_zone", "day_problem", "journal_day", "journal_zone", "venue_days"]

AUTO: Final = "auto"
LOCAL: Final = "local"
_NS: Final = 1_000_000_000

WallClock = Callable[[], int]


class VenueDay:
    """One venue's trading day at a moment: its name, the date, the time zone and the config key that sets it."""

    __slots__ = ("day", "key", "name", "zone")

    def __init__(self, name: str, day: dt.date, zone: str, key: str) -> None:
        self.name = name
        self.day = day
        self.zone = zone
        self.key = key


def check_zone(zone: str) -> None:
    """Raise ValueError unless ``zone`` is ``auto``, ``local``, ``UTC`` or a time zone the host knows."""
    if zone in (AUTO, LOCAL) or zone.upper() == "UTC":
        return
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {zone!r} (use auto, local, UTC or an IANA name such as America/New_York)"
        ) from None


def _date_in(zone: str, wall_ns: int) -> dt.date:
    if zone == LOCAL:
        return dt.datetime.fromtimestamp(wall_ns / _NS).date()  # the host's local time zone (TZ, /etc/localtime)
    tz = dt.UTC if zone.upper() == "UTC" else zoneinfo.ZoneInfo(zone)
    return dt.datetime.fromtimestamp(wall_ns / _NS, tz).date()


def _venue_zone(venue: Any) -> tuple[str, str] | None:
    """Return (time zone, config key) of a decoded venue config's trading day; None if it has none."""
    protocol = type(venue).__module__.split(".")[1] if type(venue).__module__.startswith("venues.") else ""
    name = getattr(venue, "name", "?")
    if protocol in ("ouch", "boe"):
        zone = getattr(venue, "timezone", None)
        return (zone, f"venues[{name}].timezone") if isinstance(zone, str) else None
    schedule = getattr(venue, "schedule", None)
    if schedule is not None and isinstance(getattr(schedule, "timezone", None), str):
        return schedule.timezone, f"venues[{name}].schedule.timezone"
    return None


def venue_days(venues: Sequence[Any], wall_ns: int) -> list[VenueDay]:
    """Return the trading day of each venue that has one (OUCH, BOE: ``timezone``; FIX: ``schedule``) at ``wall_ns``.

    An OUCH or BOE venue's day is the date in its ``timezone`` (its UserRefNums and unit numbering restart then, and a
    BOE ClOrdID carries it); a FIX venue's is its schedule's session date (its ClOrdIDs carry it) while a window is
    open, for a window within one date (``start_time`` before ``end_time``): a closed window has no session going
    on, and one across midnight (an FX week's 17:00 to 17:00) spans two journal dates whatever the setting, as
    before (its store gives the order id floor).
    """
    days = []
    for venue in venues:
        found = _venue_zone(venue)
        if found is None:
            continue
        zone, key = found
        schedule = getattr(venue, "schedule", None)
        if schedule is not None and hasattr(schedule, "session_date"):
            if not _within_a_day(schedule) or schedule.current_window(wall_ns) is None:
                continue  # no session going on, or one that spans midnight (it spans journals too: the FIX store)
            day = schedule.session_date(wall_ns)
        else:
            day = _date_in(zone, wall_ns)
        days.append(VenueDay(getattr(venue, "name", "?"), day, zone, key))
    return days


def _within_a_day(schedule: Any) -> bool:
    """Return whether a FIX schedule's window starts and ends on the same date in its time zone (start < end)."""
    times = [(*(int(part) for part in text.split(":")), 0)[:3] for text in (schedule.start_time, schedule.end_time)]
    return times[0] < times[1]


def journal_zone(setting: str, venues: Sequence[Any]) -> str:
    """Return the time zone the journal's date is taken in: ``setting``, or for ``auto`` the venues' shared one.

    ``auto``: the one time zone every venue with a trading day names (compared as written, ``UTC`` in any case),
    else (none has one, or they name several) ``local``.
    """
    if setting != AUTO:
        return setting
    zones = {zone.upper() if zone.upper() == "UTC" else zone for zone, _key in filter(None, map(_venue_zone, venues))}
    return zones.pop() if len(zones) == 1 else LOCAL


def journal_day(setting: str, venues: Sequence[Any], wall: WallClock = time.time_ns) -> dt.date:
    """Return the journal's trading day now: the date in ``journal_zone(setting, venues)``."""
    return _date_in(journal_zone(setting, venues), wall())


def day_problem(setting: str, venues: Sequence[Any], journal: dt.date, wall_ns: int) -> str:
    """Return why the start must be refused: a venue's trading day is not the journal's ``journal`` ("" if none).

    Opening the journal of another day than a venue's would begin an empty day while the venue's goes on (its
    open orders, positions and fills forgotten, its order references used again), or continue yesterday's journal
    into the venue's new day.
    """
    zone = journal_zone(setting, venues)
    wrong = [v for v in venue_days(venues, wall_ns) if v.day != journal]
    if not wrong:
        return ""
    names = "; ".join(f"venue {v.name}'s is {v.day.isoformat()} ({v.key}: {v.zone})" for v in wrong)
    where = "the host's local time zone" if zone == LOCAL else zone
    how = f"journal.timezone: {setting}" + (f", which takes {where}" if setting in (AUTO, LOCAL) else "")
    zones = sorted({v.zone for v in venue_days(venues, wall_ns)})
    advice = (
        f"set journal.timezone to {zones[0]} (the venues' time zone)"
        if len(zones) == 1
        else f"give the venues one time zone ({', '.join(zones)}: their timezone / schedule.timezone keys) and set "
        "journal.timezone to it (or leave it auto)"
    )
    return (
        f"the journal's trading day is {journal.isoformat()} ({how}), but {names}: opening the journal of "
        "another day than a venue's would begin an empty day while the venue's goes on (open orders, positions "
        "and fills forgotten, order references such as BOE ClOrdIDs used again) or carry this journal into the "
        f"venue's next day. Nothing was opened; {advice}, then start again (docs/ops-guide.md, "
        '"The journal\'s trading day")'
    )
