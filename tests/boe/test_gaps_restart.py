"""A BOE sequence gap seen before a stop is asked of Cboe again after it (boe55 item 4).

The exactly-once component remembers each matching unit's open gaps (numbers skipped, never admitted: fixboe50) in
memory only, and the journal holds each unit's highest number applied: a process started again the same day logged
in from that mark, so Cboe never replayed a message of a gap opened before the stop (a fill lost from the position;
docs/venues/boe.md said so). Now the gaps go on file (``<state_dir>/<name>.boe-gaps.json``) when they open, and the
restarted process asks for them at its first login. Against the sans-IO BOE simulator; the restart recovers from
the events the core journaled (``Link.restart``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from model.venue_events import VenueExecuted, VenueState
from tests.boe.harness import connected_link, make_order
from tests.boe.test_late_sequenced import UNIT, _two_fills_unsent
from venues.boe.adapter import split_ref
from venues.boe.state import gaps_path


def _fills(link: object) -> list[int]:
    return [e.qty for e in link.events if isinstance(e, VenueExecuted)]  # type: ignore[attr-defined]


def test_gap_when_the_gateway_restarts_before_it_is_filled_then_the_login_asks_for_it_and_the_fill_is_applied_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    link = connected_link(tmp_path)
    order = make_order(1)
    link.orders[1] = order
    link.send_new(order)
    _first, second = _two_fills_unsent(link, split_ref(order.venue_ref)[0])
    mark = link.venue.session.units[UNIT]
    link.venue.data_received(second, link.clock())  # n+1 never comes on this connection
    assert _fills(link) == [12] and link.venue.status()["open_gaps"] == 1
    link.poll()  # the adapter's next timer run writes the gaps file
    on_file = json.loads(gaps_path(tmp_path, "cboe").read_bytes())
    assert on_file["gaps"] == [[UNIT, mark + 1, mark + 1]]  # the old code: no file
    link.restart()  # the journal's mark of the unit is n+2
    link.connect()  # logs in from n: Cboe replays n+1 (new) and n+2 (a repeat)
    assert link.venue.state is VenueState.UP
    assert _fills(link) == [12, 11]  # the old code: [12] (n+1 never replayed: logged in from n+2)
    assert order.cum_qty == 23
    status = link.venue.status()
    assert (status["late_admitted"], status["open_gaps"], status["duplicates_dropped"]) == (1, 0, 1)
    assert "sequence gap(s) open before the restart" in caplog.text
    link.poll()  # the gap closed: off the file at the next timer run (the core has journaled the fill)
    assert json.loads(gaps_path(tmp_path, "cboe").read_bytes())["gaps"] == []
    link.restart()
    link.connect()  # nothing open: a plain login, nothing applied twice
    assert _fills(link) == [12, 11]
    assert link.core.exchange.violations == []


def test_gap_when_the_gateway_stops_cleanly_before_the_next_timer_run_then_on_file_and_asked_for_after_the_start(
    tmp_path: Path,
) -> None:
    """A clean stop closes the venue (``close``) right after a gap opened, before the adapter's next timer run wrote
    the gaps file (boemod62: the old code wrote it only there, so the next start logged in from the journal's mark
    and Cboe never replayed the gap: here a fill lost from the position)."""
    link = connected_link(tmp_path)
    order = make_order(1)
    link.orders[1] = order
    link.send_new(order)
    _first, second = _two_fills_unsent(link, split_ref(order.venue_ref)[0])
    mark = link.venue.session.units[UNIT]
    link.venue.data_received(second, link.clock())  # n+1 never comes on this connection
    link.venue.close()  # the stop: no timer run in between
    on_file = json.loads(gaps_path(tmp_path, "cboe").read_bytes())
    assert on_file["gaps"] == [[UNIT, mark + 1, mark + 1]]  # the old code: no file
    link.restart()
    link.connect()  # logs in from n: Cboe replays n+1
    assert _fills(link) == [12, 11]  # the old code: [12]
    assert link.core.exchange.violations == []
