"""The OUCH all-clear and `cancels_unanswered_now` for an order with two Cancels logged unanswered (rev61merge7)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.protocol.messages import Cancel, CancelRejected, Replace, Replaced
from model.venue_events import VenueState
from tests.ouch.test_answer_timeout_followups import RESTING, _events, _run
from tests.ouch.test_cancel_unanswered import UNANSWERED, _accepted, _all_clears


def _two_cancels_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> tuple[Any, Any, Any, Any, bytes, bytes]:
    """Accept c1, leave its Replace in doubt, then Cancel it: two Cancels (UserRefNums 1 and 2) logged unanswered."""
    link, engine_made, rig_made, strat = _accepted(tmp_path)
    engine: Any = engine_made
    rig: Any = rig_made
    rig.send(strat, Replace("c1", 200, RESTING))
    engine.flush()
    link.venue.flush()
    replace = bytes(link._to_server)
    link._to_server.clear()
    _run(link, engine, 11_000)
    assert [(type(e), getattr(e, "code", None)) for e in _events(strat)] == [(CancelRejected, "OUCH_IN_DOUBT")]
    rig.send(strat, Cancel("c1"))
    engine.flush()
    link.venue.flush()
    cancels = bytes(link._to_server)
    link._to_server.clear()
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _run(link, engine, 11_000)
    (error,) = [r.getMessage() for r in caplog.records if UNANSWERED in r.getMessage()]
    assert "UserRefNums [1, 2]" in error, error
    assert link.venue.status()["cancels_unanswered_now"] == 2
    return link, engine, rig, strat, replace, cancels


def test_replaced_then_session_change_before_the_sweep_gives_no_all_clear_for_an_order_still_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat, replace, _cancels = _two_cancels_logged(tmp_path, caplog)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.core.receive(link.connection, replace, link.clock())  # Replaced 1 -> 2 answers the Cancel of 1
        out, _cut = link.core.output(link.connection, link.clock())
        link.venue.data_received(bytes(out), link.clock())
        engine.flush()
        link.venue.flush()
        link._to_server.clear()  # the Cancel sent again to 2: held
        assert [type(e) for e in _events(strat)] == [Replaced]
        # no sweep yet (< answer_timeout_ms / 10): the venue moves to a new session now
        link.disconnect()
        link.core = link.new_core(session="S2")
        for _ in range(4):
            link.connect()
            if link.venue.state is VenueState.UP:
                break
            link.disconnect()
        engine.flush()
        _run(link, engine, 5_000)
    (order_id,) = engine.orders
    now = link.venue.status()["cancels_unanswered_now"]
    clears = _all_clears(caplog)
    reach = [r.getMessage() for r in caplog.records if "cannot be reached through session" in r.getMessage()]
    print("gauge", now, "\nALL-CLEARS", clears, "\nREACH", reach)
    assert now == 1  # the Cancel of 2 is counted (unreachable)
    # the docs: "No all-clear for an order while another of its Cancels ... still waits"
    assert not [c for c in clears if f"orders [{order_id}]" in c], clears


def test_fill_ends_order_with_two_cancels_counted_then_the_all_clear_count_matches_the_gauge_drop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat, replace, cancels = _two_cancels_logged(tmp_path, caplog)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.core.receive(link.connection, replace, link.clock())
        link.core.receive(link.connection, cancels, link.clock())  # the venue reads all: Replaced, Canceled
        _run(link, engine, 2_000)
    print([type(e).__name__ for e in _events(strat)])
    clears = _all_clears(caplog)
    print("ALL-CLEARS", clears)
    assert link.venue.status()["cancels_unanswered_now"] == 0
    total = sum(int(c.split(" cancels ")[0].rsplit(" ", 1)[1]) for c in clears)
    assert total == 2, clears  # ops-guide: "cancels_unanswered_now drops by the count"


def test_replaced_then_end_of_session_then_one_all_clear_names_both_cancels(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Replaced answers the Cancel of the old number, the session's end the one of the new: one line (rev62diff)."""
    link, engine, _rig, strat, replace, _cancels = _two_cancels_logged(tmp_path, caplog)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.core.receive(link.connection, replace, link.clock())  # Replaced 1 -> 2 answers the Cancel of 1
        out, _cut = link.core.output(link.connection, link.clock())
        link.venue.data_received(bytes(out), link.clock())
        engine.flush()
        link.venue.flush()
        link._to_server.clear()  # the Cancel sent again to 2: held by the venue
        assert [type(e) for e in _events(strat)] == [Replaced]
        link.core.end_session(link.clock())  # before a sweep (< answer_timeout_ms / 10)
        link.pump()
        engine.flush()
        assert link.venue.state is VenueState.ENDED
        _run(link, engine, 60_000)
    (order_id,) = engine.orders
    clears = _all_clears(caplog)
    assert link.venue.status()["cancels_unanswered_now"] == 0
    assert len(clears) == 1, clears  # ops-guide: an order's Cancels leave the gauge together, one all-clear
    assert "2: the venue's End of Session came first" in clears[0], clears
    assert f"orders [{order_id}, {order_id}], UserRefNums [1, 2]" in clears[0], clears
