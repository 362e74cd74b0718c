"""BOE: yesterday's number of the message that ended an order says nothing of today's messages (boe59b).

rev59merge5 finding 1 (HIGH, a regression of boe59, fail open): order 1 ended here by Cboe's Order Cancelled (unit 1,
SequenceNumber 2) while Cboe kept working it (a GTC order of an earlier version outlives the day the same way). The
same process logs in on the next trading day; Cboe numbers each unit from 1 again (spec 7.1) and today's Order
Execution of the order (unit 1, SequenceNumber 1) shows 90 shares working. boe59 compared today's number with
yesterday's end, took the Execution for "older than the message that ended the order", logged it at INFO and sent
nothing: 90 shares worked at Cboe, tracked by nothing, no alert. Now the numbers of the messages that ended orders are
forgotten at the new day, and only a message admitted late (it filled a recorded gap) is judged older than the end:
the order is canceled at Cboe, counted ``live_after_end`` (the critical alert), as before boe59.

The sans-IO simulator (``Link``), on a fake clock; the simulator core is replaced by the next day's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.venue_events import VenueExecuted
from simulators.boe.simulator import SimulatorCore
from tests.boe.harness import DAY_NS, Link, make_order
from tests.boe.test_new_day_gtc import NEXT_DAY_NS, UNIT, _cancels, _ended_here_working_at_cboe


def _next_day(tmp_path: Path) -> tuple[Link, str]:
    """Order 1 ended here yesterday (Order Cancelled, unit 1 SequenceNumber 2), still mapped, worked at Cboe; the
    same process logs in on the next trading day (today's numbering from 1)."""
    link, cl_ord_id = _ended_here_working_at_cboe(tmp_path)
    assert link.venue._orders[1].end_seq == (UNIT << 32) | 2
    link.disconnect()
    gtc = link.core.exchange.orders[cl_ord_id]
    link.core = SimulatorCore(link.core.config, clock=link.clock, wall=lambda: NEXT_DAY_NS)
    link.core.exchange.orders[cl_ord_id] = gtc
    now = [DAY_NS]
    link.venue._wall = lambda: now[0]
    now[0] = NEXT_DAY_NS
    link.connect()
    return link, cl_ord_id


def test_execution_today_when_the_order_ended_here_yesterday_then_canceled_at_cboe(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, cl_ord_id = _next_day(tmp_path)
    caplog.set_level(logging.INFO)
    assert link.core.exchange.execute(cl_ord_id, 10)  # today's Order Execution (unit 1, 1), LeavesQty 90
    link.pump()
    assert any(type(e) is VenueExecuted and e.qty == 10 for e in link.events)
    assert _cancels(link) == ["cancelled"], "no Cancel: the order keeps working at Cboe, untracked"  # boe59: []
    assert cl_ord_id not in link.core.exchange.orders
    assert link.venue.status()["live_after_end"] == 1  # boe59: 0 (no critical alert)
    assert "shows order 1 working at Cboe" in caplog.text
    assert "older than the message that ended it" not in caplog.text
    assert "older-than-end" not in link.venue.ignored


def test_execution_today_when_late_through_todays_gap_then_not_judged_by_yesterdays_end(tmp_path: Path) -> None:
    """Today's Execution (unit 1, 1) arrives after today's message 2: late, but older than nothing that ended the
    order today (yesterday's end, unit 1 SequenceNumber 2, is of another numbering)."""
    link, cl_ord_id = _next_day(tmp_path)
    connection = link.connection
    assert connection is not None
    assert link.core.exchange.execute(cl_ord_id, 10)  # today's message 1 (LeavesQty 90): held back ...
    stream = link.core.streams.messages[UNIT]
    execution = connection.encode(stream[-1])
    connection.sent[UNIT] = len(stream)
    other = make_order(2)
    link.orders[2] = other
    link.send_new(other)  # ... behind today's message 2 (order 2's acknowledgment, same unit): a gap
    assert link.venue.status()["open_gaps"] == 1
    link.venue.data_received(execution, link.clock())  # message 1, late
    link.pump()
    assert _cancels(link) == ["cancelled"]  # boe59: [] (taken for older than yesterday's end)
    assert link.venue.status()["live_after_end"] == 1
    assert "older-than-end" not in link.venue.ignored
