"""BOE: a sequence gap still open when the trading day changes is said, not dropped without a line (rev60boe LOW).

The gap's WARNING says "asked for again at the next login"; Cboe numbers every trading day afresh, so at the day
change it can never be: the same process logging in on the next day, or a process started on the next day with the
day before's gaps file, dropped it silently (the fill in it missing from the position for good). Now each says which
numbers of which day were never received and asks the operator to reconcile with Cboe, as the renumbered-unit case
does. Against the sans-IO BOE simulator on a fake clock.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from simulators.boe.simulator import SimulatorCore
from tests.boe.harness import Link, connected_link, make_order
from tests.boe.test_late_sequenced import UNIT, _two_fills_unsent
from tests.boe.test_new_day_gtc import NEXT_DAY_NS
from venues.boe.adapter import GAPS_SAVE_NS, BoeVenue, split_ref
from venues.boe.state import gaps_path

NEVER = "ended with unit %d: %d..%d never received: not asked for on day"


def _gap_on_file(tmp_path: Path) -> tuple[Link, int]:
    """Day 1: a fill's message n+1 never comes (n+2 does), the gap on file; return the link and n+1."""
    link = connected_link(tmp_path)
    order = make_order(1)
    link.orders[1] = order
    link.send_new(order)
    _first, second = _two_fills_unsent(link, split_ref(order.venue_ref)[0])
    missing = link.venue.session.units[UNIT] + 1
    link.venue.data_received(second, link.clock())
    link.poll()
    assert json.loads(gaps_path(tmp_path, "cboe").read_bytes())["gaps"] == [[UNIT, missing, missing]]
    return link, missing


def test_gap_open_when_the_same_process_logs_in_on_the_next_day_then_said_and_no_longer_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, missing = _gap_on_file(tmp_path)
    link.disconnect()
    link.core = SimulatorCore(link.core.config, clock=link.clock, wall=lambda: NEXT_DAY_NS)
    link.venue._wall = lambda: NEXT_DAY_NS
    caplog.set_level(logging.WARNING)
    link.connect()
    assert NEVER % (UNIT, missing, missing) in caplog.text  # main: nothing said
    assert link.venue.status()["open_gaps"] == 0
    link.clock.advance(GAPS_SAVE_NS)
    link.poll()
    on_file = json.loads(gaps_path(tmp_path, "cboe").read_bytes())
    assert on_file["gaps"] == [] and on_file["day"] != "2024-05-01"


def test_gaps_file_of_the_day_before_when_a_process_starts_on_the_next_day_then_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, missing = _gap_on_file(tmp_path)
    link.disconnect()
    caplog.set_level(logging.WARNING)
    BoeVenue(link.config, link.clock, wall=lambda: NEXT_DAY_NS)
    assert NEVER % (UNIT, missing, missing) in caplog.text  # main: nothing said


def test_gaps_file_of_today_when_a_process_starts_then_nothing_said_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, _missing = _gap_on_file(tmp_path)
    link.disconnect()
    caplog.set_level(logging.WARNING)
    link.restart()
    assert "never received" not in caplog.text


def test_gaps_file_of_the_day_before_when_said_at_a_start_then_not_again_at_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev60merge6 LOW: the file was never rewritten, so every start of the later day said the same gap again."""
    link, missing = _gap_on_file(tmp_path)
    link.disconnect()
    caplog.set_level(logging.WARNING)
    first = BoeVenue(link.config, link.clock, wall=lambda: NEXT_DAY_NS)
    assert caplog.text.count(NEVER % (UNIT, missing, missing)) == 1
    first.poll(link.clock())  # the first timer run writes the file as the new day's
    assert json.loads(gaps_path(tmp_path, "cboe").read_bytes())["gaps"] == []
    BoeVenue(link.config, link.clock, wall=lambda: NEXT_DAY_NS)
    assert caplog.text.count(NEVER % (UNIT, missing, missing)) == 1  # lead60 first form: 2
