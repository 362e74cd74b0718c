"""BOE: a request Cboe received but never answered before its end-of-day Logout (fixboe50, rev50boe s5).

A request still unanswered at Logout ``E`` is refused ``BOE_SESSION_ENDED``; its text said "before processing
it" even when the Logout's LastReceivedSequenceNumber covered it: Cboe had received it, and whether it took
effect is unknown. The text now says which, and that case is an ERROR asking ops to reconcile. Against the
sans-IO BOE simulator: it receives the New Order (its LastReceivedSequenceNumber moves) and holds it unprocessed,
then ends the day.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.exactly_once import ExactlyOnce
from model.order import OrderState
from model.venue_events import VenueRejected, VenueState
from tests.boe.harness import connected_link, make_order


def test_end_of_day_when_cboe_received_the_new_order_unanswered_then_the_reject_says_the_outcome_is_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = connected_link(tmp_path)
    link.core.hold = True  # received (LastReceivedSequenceNumber 1), never processed
    order = make_order(1)
    link.send_new(order)
    assert order.state is OrderState.PENDING_NEW
    link.core.end_of_day(link.clock())
    link.pump()
    assert link.venue.state is VenueState.ENDED
    assert link.venue.session.last_processed == 1
    caplog.set_level(logging.WARNING)
    link.venue.after_session_end(ExactlyOnce.unanswered([order]))  # as the core does once the venue ENDED
    [reject] = [e for e in link.events if isinstance(e, VenueRejected)]
    assert reject.code == "BOE_SESSION_ENDED"
    assert "after receiving it (SequenceNumber 1, its Logout's LastReceivedSequenceNumber 1)" in reject.text
    assert "before processing it" not in reject.text  # the old text: untrue here
    [line] = [r for r in caplog.records if "ended the session for the day" in r.getMessage()]
    assert line.levelno == logging.ERROR and "reconcile with Cboe" in line.getMessage()
