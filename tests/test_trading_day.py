"""The journal's trading day (``gateway.trading_day``, day55): which zone ``auto`` takes, which venues have a day.

Pure functions of decoded venue configs and a wall clock; the restarts against the BOE simulator are in
tests/e2e/test_trading_day.py.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from gateway.config import ConfigError, GatewayConfig, JournalConfig
from gateway.trading_day import day_problem, journal_day, journal_zone, venue_days
from venues.registry import decode_venue_config

NY = zoneinfo.ZoneInfo("America/New_York")


def _wall(year: int, month: int, day: int, hour: int, minute: int = 0, tz: dt.tzinfo = dt.UTC) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()) * 1_000_000_000


def _ouch(**extra: Any) -> Any:
    raw = {"protocol": "ouch", "name": "NSDQ", "host": "h", "port": 1, "username": "u", "password": "p", **extra}
    return decode_venue_config(raw, "ouch")


def _boe(**extra: Any) -> Any:
    raw = {"protocol": "boe", "name": "CBOE", "host": "h", "port": 1, "session_sub_id": "0001", "username": "U"}
    return decode_venue_config({**raw, "password": "P", **extra}, "boe")


def _fix(schedule: dict[str, str] | None = None) -> Any:
    raw: dict[str, Any] = {"protocol": "fix", "name": "BRKR", "host": "h", "port": 1, "sender_comp_id": "A"}
    raw |= {"target_comp_id": "B", "dialect": "generic44"}
    if schedule is not None:
        raw["schedule"] = schedule
    return decode_venue_config(raw, "fix")


def test_auto_when_the_venues_share_a_zone_then_the_journal_takes_it_else_the_hosts() -> None:
    assert journal_zone("auto", [_ouch(), _boe(), _fix()]) == "America/New_York"  # FIX without schedule: no day
    assert journal_zone("auto", [_fix()]) == "local"
    assert journal_zone("auto", []) == "local"
    assert journal_zone("auto", [_ouch(), _boe(timezone="Europe/London")]) == "local"  # no one zone
    assert journal_zone("auto", [_ouch(timezone="utc"), _boe(timezone="UTC")]) == "UTC"
    assert journal_zone("UTC", [_ouch()]) == "UTC"
    # 20:00 US Eastern on 6 December is 01:00 UTC on the 7th: the journal is the 6th's, as the venues' day
    wall = _wall(2026, 12, 6, 20, tz=NY)
    assert journal_day("auto", [_boe()], lambda: wall) == dt.date(2026, 12, 6)
    assert journal_day("UTC", [_boe()], lambda: wall) == dt.date(2026, 12, 7)


def test_day_problem_when_a_utc_journal_meets_an_eastern_venue_after_utc_midnight_then_it_names_the_keys() -> None:
    venues = [_boe()]
    before, after = _wall(2026, 12, 6, 18, tz=NY), _wall(2026, 12, 6, 20, tz=NY)  # 23:00 and 01:00 UTC
    assert day_problem("UTC", venues, journal_day("UTC", venues, lambda: before), before) == ""
    problem = day_problem("UTC", venues, journal_day("UTC", venues, lambda: after), after)
    assert "the journal's trading day is 2026-12-07 (journal.timezone: UTC)" in problem
    assert "venue CBOE's is 2026-12-06 (venues[CBOE].timezone: America/New_York)" in problem
    assert "set journal.timezone to America/New_York" in problem
    assert day_problem("auto", venues, journal_day("auto", venues, lambda: after), after) == ""


def test_fix_schedule_when_closed_or_across_midnight_then_no_day_to_agree_with() -> None:
    london = {"start_time": "08:00", "end_time": "16:30", "timezone": "Europe/London"}
    open_at, closed_at = _wall(2026, 12, 7, 10), _wall(2026, 12, 7, 20)
    [day] = venue_days([_fix(london)], open_at)
    assert (day.day, day.key) == (dt.date(2026, 12, 7), "venues[BRKR].schedule.timezone")
    assert venue_days([_fix(london)], closed_at) == []  # no session going on: nothing to continue
    week = {"start_time": "17:00", "end_time": "17:00", "timezone": "America/New_York"}  # an FX day
    assert venue_days([_fix(week)], _wall(2026, 12, 7, 10, tz=NY)) == []
    # a window open now whose date (in its zone) is not the journal's: refused
    problem = day_problem("Pacific/Kiritimati", [_fix(london)], dt.date(2026, 12, 8), open_at)
    assert "venues[BRKR].schedule.timezone: Europe/London" in problem


def test_config_when_the_journal_timezone_is_unknown_then_refused() -> None:
    assert JournalConfig().timezone == "auto"
    for zone in ("local", "UTC", "America/New_York"):
        assert JournalConfig(timezone=zone).timezone == zone
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        JournalConfig(timezone="Mars/Olympus")
    assert isinstance(ConfigError, type) and GatewayConfig().journal.timezone == "auto"
