"""Venue wall clock: ns since midnight in the venue's time zone, and the trading day."""

from __future__ import annotations

import datetime as dt

from venues.ouch.daytime import NsSinceMidnight, trading_day

NS = 1_000_000_000


def _epoch_ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * NS


def test_ns_since_midnight_when_0930_new_york_in_summer_then_34200_seconds() -> None:
    wall = _epoch_ns("2024-05-01T13:30:00+00:00")  # 09:30 EDT
    assert NsSinceMidnight("America/New_York", lambda: wall + 5)() == 34_200 * NS + 5


def test_ns_since_midnight_when_day_changes_then_counts_from_the_new_midnight() -> None:
    now = [_epoch_ns("2024-01-15T04:59:59+00:00")]  # 23:59:59 EST
    clock = NsSinceMidnight("America/New_York", lambda: now[0])
    assert clock() == (24 * 3600 - 1) * NS
    now[0] += 2 * NS
    assert clock() == 1 * NS


def test_trading_day_when_utc_already_next_day_then_venue_date_still_today() -> None:
    wall = _epoch_ns("2024-05-02T01:00:00+00:00")  # 21:00 EDT on May 1st
    assert trading_day("America/New_York", lambda: wall) == "2024-05-01"
    assert trading_day("UTC", lambda: wall) == "2024-05-02"
