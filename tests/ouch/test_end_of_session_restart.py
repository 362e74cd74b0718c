"""SoupBinTCP End of Session (``Z``) across a restart, and a venue that refuses every login ``S`` (ouchend56).

rev56ouch M1: the End of Session was kept in memory only. A gateway restarted the same trading day logged in again;
a venue answers every login to a session it ended Login Rejected ``S`` ("reconnecting to that session is no longer
possible"), so the venue cycled DISCONNECTED / CONNECTING for ever, Cancels were held unanswered instead of refused
``VENUE_SESSION_ENDED``, and the only ERROR, repeated every attempt, said the next login asks for the current session.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from model.venue_events import VenueState
from tests.ouch.harness import DAY, Link
from venues.ouch.adapter import OuchVenue
from venues.ouch.refstore import UserRefNumStore


def _ended_session(tmp_path: Path) -> Link:
    """Log in, let the venue send End of Session, and stop (the mark's write waited for, as the stop does)."""
    link = Link(tmp_path)
    link.connect()
    assert link.venue.state is VenueState.UP
    link.core.end_session(link.clock())
    link.pump()
    assert link.states[-1] == (VenueState.ENDED, "end of session")
    link.venue.close()
    return link


def _restarted(first: Link, tmp_path: Path, day: str = DAY) -> Link:
    """A new adapter over the same state dir and venue, resumed into the session on file (as ``gateway run``)."""
    second = Link(tmp_path, core=first.core, clock=first.clock)
    if day != DAY:
        second.store = UserRefNumStore(tmp_path, second.config.name, today=lambda: day, block=50)
        second.venue = OuchVenue(second.config, second.clock, store=second.store)
        second.venue.state_sink = lambda name, state, reason: second.states.append((state, reason))
    if second.store.session:
        second.venue.resume(second.store.session, first.core.stream.next_sequence)
    return second


def test_end_of_session_when_the_gateway_restarts_the_same_day_then_ended_without_a_login(tmp_path: Path) -> None:
    first = _ended_session(tmp_path)
    mark = json.loads((tmp_path / "nasdaq.endofday.json").read_text())
    assert mark == {"day": DAY, "session": "OUCHSIM", "ended": False, "closed": True}
    second = _restarted(first, tmp_path)
    assert second.venue.before_connect() is False  # old: True, and every login refused S for ever
    assert second.venue.state is VenueState.ENDED
    assert "end of session 'OUCHSIM' (SoupBinTCP Z)" in second.venue.reason
    assert second.states[-1][0] is VenueState.ENDED
    assert second.venue.reconnect_delay_ns(1) is None


def test_end_of_session_mark_when_another_day_or_session_then_the_venue_logs_in(tmp_path: Path) -> None:
    first = _ended_session(tmp_path)
    assert _restarted(first, tmp_path, day="2024-05-02").venue.before_connect() is True  # a new trading day
    store = UserRefNumStore(tmp_path, "nasdaq", today=lambda: DAY)
    assert store.session_closed
    store.bind("OTHER")  # the venue opened another session: the mark names OUCHSIM only
    assert not store.session_closed


def test_end_of_session_mark_when_end_of_day_came_first_then_both_kept(tmp_path: Path) -> None:
    store = UserRefNumStore(tmp_path, "nasdaq", today=lambda: DAY)
    store.bind("S1")
    store.mark_day_ended(True)
    store.mark_session_closed()
    assert store.wait_end_of_day_written(5)
    again = UserRefNumStore(tmp_path, "nasdaq", today=lambda: DAY)
    assert again.day_ended and again.session_closed
    (tmp_path / "nasdaq.endofday.json").write_text(json.dumps({"day": DAY, "session": "S1", "ended": True}))
    older = UserRefNumStore(tmp_path, "nasdaq", today=lambda: DAY)  # a file written before ouchend56
    assert older.day_ended and not older.session_closed


def test_login_when_the_venue_has_no_session_and_no_mark_then_error_and_the_reason_in_the_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The End of Session never reached this gateway (a mark lost, or sent to another instance): every login is
    refused ``S``. The gateway keeps trying (the venue may open a session) but says why, in an ERROR (1st, 2nd,
    4th... time) and in the CONNECTING reason; the named session's give-up ERROR is logged once."""
    first = Link(tmp_path)
    first.connect()
    first.disconnect()
    first.core.end_session(first.clock())  # no connection: the gateway never reads the Z
    second = _restarted(first, tmp_path)
    assert second.venue.before_connect() is True
    caplog.set_level(logging.WARNING, logger="venues.ouch.adapter")
    reasons = []
    for attempt in range(1, 8):  # 'OUCHSIM' right- then left-padded, then blank five times
        second.connect()
        assert second.connection is None
        assert second.venue.reconnect_delay_ns(attempt) is not None
        reasons.append(second.venue.reason)
    assert second.venue.state is VenueState.CONNECTING
    assert reasons[-1].endswith(
        "; the venue has no session open to a login: Login Rejected S (session not available) 5 times in a row "
        "after session 'OUCHSIM' was refused"
    )  # old: "reconnecting in 200 ms (attempt 7)"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert sum("in every padding: the venue is no longer on it" in e for e in errors) == 1  # old: 6
    unavailable = [e for e in errors if "has no session open to this login" in e]
    assert [e.split(", ")[1].split(" ")[0] for e in unavailable] == ["1", "2", "4"]
    assert "it may have ended session 'OUCHSIM' for the day" in unavailable[0]
