"""The OUCH answer-timeout sweep after a spell of the engine holding the venue's bytes, across a re-login (ouch55).

While the journal cannot be written the engine holds every byte for the venue (docs/reliability.md 2.3a) and the
adapter's sweep waits (held54): a Cancel of an order in doubt that has not left cannot be timed. The pause was set
and lifted by ``poll`` only, and a login cleared it: a login during the hold (the Cancels of the orders in doubt
queued, held) followed by the release before the adapter's next ``poll`` left those Cancels timed from the login,
so the first sweep after the release ended the order ``OUCH_OUTCOME_UNKNOWN`` as its Cancel left. Now the hold
pauses the sweep at once, a login during it keeps it paused, and the release resumes it (the Cancels timed from
the release). The journal coming back while the session is down leaves the next login to time them.

Real engine and FileJournal over the OUCH simulator (fake clock); the journal's descriptor is pointed at /dev/full
(every write fails ENOSPC), as tests/ouch/test_answer_timeout_journal_full.py does. The venue's bytes move only by
``Engine.flush`` (journal first), never by the adapter's own flush, except the Login Request (``connection_made``).
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.journal import FileJournal
from gateway.protocol.messages import Canceled, NewOrder, OrderRejected
from model.enums import Side
from model.venue_events import VenueState
from tests.ouch.harness import Link
from tests.ouch.test_answer_timeout_followups import RESTING, _cancels, _events, _lost_enter


def _journal_full(engine: object) -> int:
    journal = engine.journal  # type: ignore[attr-defined]
    assert isinstance(journal, FileJournal)
    journal.check_file = lambda: ("", False)  # type: ignore[method-assign]  # the swapped descriptor is the point
    saved = os.dup(journal._fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, journal._fd)
    os.close(full)
    return saved


def _journal_back(engine: object, saved: int) -> None:
    os.dup2(saved, engine.journal._fd)  # type: ignore[attr-defined]
    os.close(saved)


def _hold(rig: object, strat: object, engine: object) -> int:
    """Make the engine hold the venue's bytes: the journal fails on a write (a NewOrder risk refuses: journaled)."""
    saved = _journal_full(engine)
    rig.send(strat, NewOrder("big", "ACC1", "nasdaq", "AAPL", Side.BUY, 3_000_000, RESTING))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    assert engine.journal_error  # type: ignore[attr-defined]
    return saved


def _move(link: Link, engine: object) -> None:
    """Move bytes both ways: the venue's answers read, the gateway's bytes only as ``Engine.flush`` writes them."""
    assert link.connection is not None
    now = link.clock()
    for _ in range(20):
        engine.flush()  # type: ignore[attr-defined]
        moved = False
        if link._to_server:
            data = bytes(link._to_server)
            link._to_server.clear()
            link.core.receive(link.connection, data, now)
            moved = True
        out, cut = link.core.output(link.connection, now)
        assert not cut
        if out:
            link.venue.data_received(bytes(out), now)
            moved = True
        if not moved:
            return


def _login_without_polls(link: Link, engine: object) -> None:
    """Connect and log in; the replay's end is the venue's heartbeat (no ``poll`` of the adapter meanwhile)."""
    now = link.clock()
    link.connection = link.core.connect(now)
    link.venue.attach(link._write, link._close)
    link.venue.connection_made(now)  # the Login Request goes out by the adapter's own flush
    _move(link, engine)
    for _ in range(5):
        if link.venue.state is VenueState.UP:
            return
        link.clock.advance_ms(link.core.config.heartbeat_interval_ms)
        link.core.poll(link.connection, link.clock())
        _move(link, engine)
    assert link.venue.state is VenueState.UP


def _run(link: Link, engine: object, ms: int) -> None:
    for _ in range(ms // 100):
        link.clock.advance_ms(100)
        link.venue.poll(link.clock())
        assert link.connection is not None
        link.core.poll(link.connection, link.clock())
        _move(link, engine)


def test_login_during_the_hold_when_released_before_the_next_poll_then_the_cancel_is_timed_from_the_release(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _lost_enter(tmp_path)  # in doubt; its Cancel lost; the venue never had the Enter
    link.disconnect()
    saved = _hold(rig, strat, engine)
    link.clock.advance_ms(1_000)
    _login_without_polls(link, engine)  # the in-doubt order's Cancel queued at the login: held
    assert _cancels(link) == []
    link.clock.advance_ms(6_000)  # the hold lasts longer than answer_timeout_ms
    _journal_back(engine, saved)
    _move(link, engine)  # the release (``hold_output(False)``), then the held bytes leave
    assert not engine.journal_error  # type: ignore[attr-defined]
    assert _cancels(link) == [1]  # the Cancel left now
    _run(link, engine, 1_000)
    # old: ended OUCH_OUTCOME_UNKNOWN at the first sweep, its Cancel out for less than a sweep: timed from the login
    assert [m for m in _events(strat) if isinstance(m, Canceled)] == []
    assert link.venue.status()["outcome_unknown"] == 0
    _run(link, engine, 5_000)  # a full answer_timeout_ms after the Cancel left: the venue never had it
    (ended,) = [m for m in _events(strat) if isinstance(m, Canceled)]
    assert ended.reason == "OUCH_OUTCOME_UNKNOWN", ended


def test_journal_back_while_the_session_is_down_then_the_next_login_cancels_and_bounds_from_the_login(
    tmp_path: Path,
) -> None:
    link, engine, rig, strat = _lost_enter(tmp_path)
    _run(link, engine, 100)
    saved = _hold(rig, strat, engine)  # held while live: the sweep waits
    link.clock.advance_ms(6_000)
    link.venue.poll(link.clock())
    assert link.venue.status()["outcome_unknown"] == 0  # its Cancel never left (lost): not judged while held
    link.disconnect()
    _journal_back(engine, saved)
    engine.flush()  # type: ignore[attr-defined]  # the release, while the session is down
    assert not engine.journal_error  # type: ignore[attr-defined]
    assert [m for m in _events(strat) if isinstance(m, OrderRejected)]  # the big order: refused by risk
    link.clock.advance_ms(10_000)
    _login_without_polls(link, engine)
    assert _cancels(link) == [1]  # sent again after the login
    _run(link, engine, 4_000)
    assert [m for m in _events(strat) if isinstance(m, Canceled)] == []
    _run(link, engine, 2_000)
    (ended,) = [m for m in _events(strat) if isinstance(m, Canceled)]
    assert ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
