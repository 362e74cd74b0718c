"""BOE: an execution the gateway cannot apply is reported once, also across restarts (fixboe50, rev50boe s14).

An Order Execution of an order of an earlier trading day (ERROR: "correct the position (gateway risk
adjust-position)") or for a ClOrdID not the gateway's (ERROR: "reconcile with Cboe") produces no event, so the
journal never holds its number: after a restart the login lists its unit before it and Cboe replays it. Every
restart logged the ERROR again, and ops following the guide corrected the position once per restart (100 shares
became 300 after two restarts). Like a bust (fixboe45), its ``venue_seq`` now goes on the corrections file and a
replayed copy is logged as reported before, never as a new instruction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.boe.harness import Link, make_order
from tests.boe.test_modify_up_crossed_by_fill import _execution
from venues.boe.adapter import day_code, split_ref
from venues.boe.state import load_corrections

UNIT = 1  # AAPL's matching unit in the harness


@pytest.mark.parametrize("how", ["earlier day", "unknown"])
def test_unapplied_execution_when_the_gateway_restarts_twice_then_its_error_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1)
    link.orders[1] = order
    cl_ord_id = split_ref(link.send_new(order))[0]
    today = day_code("2024-05-01")
    ghost = day_code("2024-04-30") + cl_ord_id[len(today) :] if how == "earlier day" else "GHOST1"
    caplog.set_level(logging.WARNING)
    link.core.streams.append(UNIT, _execution(ghost, 900_001, 100, 0))  # number 2, after the Acknowledgment
    link.pump()
    counter = "executions_earlier_day" if how == "earlier day" else "unknown_executions"
    assert link.venue.status()[counter] == 1
    assert load_corrections(tmp_path, "cboe", "2024-05-01") == {(UNIT << 32) | 2}
    for restart in (1, 2):  # kill -9: the login lists the unit at the Acknowledgment, Cboe replays the execution
        link.restart()
        link.connect()
        status = link.venue.status()
        assert link.venue.session.units[UNIT] == 2  # replayed
        assert (status[counter], status["repeated_reports"]) == (0, 1)
        repeated = [r for r in caplog.records if "was reported before a restart" in r.getMessage()]
        assert len(repeated) == restart and repeated[-1].levelno == logging.WARNING
        assert "(venue_seq 4294967298)" in repeated[-1].getMessage()
        assert "do not adjust the position again" in repeated[-1].getMessage()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "not applied to any" in r.getMessage()]
    assert len(errors) == 1  # the old code: 3
