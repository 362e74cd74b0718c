"""An OUCH Cancel the venue never answers while the session stays up: ERROR and a counter, nothing made up.

OUCH 5.0 silently ignores a Cancel naming a UserRefNum the venue does not work ("superfluous cancels are silently
ignored"): an order working there under a number the gateway does not know (a Replace whose journal records a power
failure cut, rev60chaos HIGH 1), or a Cancel lost on the way, leaves the strategy's (or the kill switch's) Cancel
unanswered. Before, nothing said so. Now, one ``answer_timeout_ms`` look after another (between one and two
``answer_timeout_ms`` after it left) such a Cancel is logged at ERROR once with its order and UserRefNum and counted
``cancels_unanswered`` (``gateway_venue_cancels_unanswered_total``); the order stays open (``PENDING_CANCEL``), no
Canceled invented: it may be working at the venue.

When the venue answers such a Cancel after all (its late Canceled, fills that end the order, or the session's end)
the ERROR gets its all-clear (rev61ouch LOW 2, graded MEDIUM: before, nothing said so, the critical alert on the
counter kept firing ten minutes and the operator called the venue desk about an order already canceled): one WARNING
naming the order and how late the answer came, and the gauge of the Cancels unanswered now
(``cancels_unanswered_now``, ``gateway_venue_cancels_unanswered_now``, which the alert reads) goes back down.

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_answer_timeout_followups.py.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import msgspec
import pytest

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, NewOrder, OrderAccepted
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from tests.metrics_text import venue_metrics_text
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _events, _run

UNANSWERED = "cancels had no answer (Canceled, fills, Cancel Reject) within 5000 ms"
ALL_CLEAR = "logged at ERROR as unanswered, is answered"


def _accepted(tmp_path: Path) -> tuple[Link, object, object, object]:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("c1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    return link, engine, rig, strat


def test_cancel_the_venue_never_answers_when_the_session_stays_up_then_error_once_and_counted_order_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _accepted(tmp_path)
    rig.send(strat, Cancel("c1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    link._to_server.clear()  # the Cancel lost on the way: the venue never answers it
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _run(link, engine, 4_000)
        assert not [r for r in caplog.records if UNANSWERED in r.getMessage()]  # not before answer_timeout_ms
        _run(link, engine, 7_000)
        said = [r.getMessage() for r in caplog.records if UNANSWERED in r.getMessage()]
        assert len(said) == 1, said  # before: no word at all
        _run(link, engine, 20_000)
    (line,) = [r.getMessage() for r in caplog.records if UNANSWERED in r.getMessage()]  # once per Cancel
    assert link.venue.counters["cancels_unanswered"] == 1
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert f"UserRefNums [1], orders [{order_id}]" in line, line
    assert engine.orders[order_id].state is OrderState.PENDING_CANCEL  # type: ignore[attr-defined]
    assert not _events(strat)  # nothing invented: the order may be working at the venue
    assert link.venue.status()["cancels_unanswered"] == 1


def test_cancel_answered_when_the_venue_cancels_then_nothing_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, rig, strat = _accepted(tmp_path)
    rig.send(strat, Cancel("c1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _run(link, engine, 15_000)
    assert [type(e) for e in _events(strat)] == [Canceled]
    assert not [r for r in caplog.records if UNANSWERED in r.getMessage()]
    assert link.venue.counters.get("cancels_unanswered", 0) == 0


def _cancel_held_by_the_venue(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> tuple[Link, object, object, bytes]:
    """The strategy cancels its order; the venue holds the Cancel (a slow venue): the ERROR after 5-10 s."""
    link, engine, rig, strat = _accepted(tmp_path)
    rig.send(strat, Cancel("c1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    held = bytes(link._to_server)  # not read by the venue yet
    link._to_server.clear()
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _run(link, engine, 11_000)
    assert len([r for r in caplog.records if UNANSWERED in r.getMessage()]) == 1
    assert link.venue.status()["cancels_unanswered_now"] == 1
    assert link.venue.session_counters()["cancels_unanswered_now"] == 1
    return link, engine, strat, held


def _gauge(link: Link, engine: object) -> str:
    text = venue_metrics_text(link.venue.name, link.venue.session_counters(), engine.latency.snapshot())  # type: ignore[attr-defined]
    assert "# TYPE gateway_venue_cancels_unanswered_now gauge" in text
    (line,) = [row for row in text.splitlines() if row.startswith("gateway_venue_cancels_unanswered_now{")]
    return line


def _all_clears(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if ALL_CLEAR in r.getMessage() and r.levelno == logging.WARNING]


def test_cancel_logged_unanswered_when_the_venue_cancels_later_then_one_all_clear_and_the_gauge_back_to_zero(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, strat, held = _cancel_held_by_the_venue(tmp_path, caplog)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert _gauge(link, engine) == 'gateway_venue_cancels_unanswered_now{venue="nasdaq"} 1.0'
    assert link.connection is not None
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.core.receive(link.connection, held, link.clock())  # the venue reads the Cancel at last
        _run(link, engine, 1_000)
        assert [type(e) for e in _events(strat)] == [Canceled]
        (line,) = _all_clears(caplog)  # before: nothing said the Cancel had its answer
        _run(link, engine, 20_000)
    assert _all_clears(caplog) == [line]  # once
    assert f"order {order_id}: its cancel (UserRefNum 1)" in line, line
    assert "the order ended here (CANCELED): nothing for the venue desk to cancel" in line, line
    timing = re.search(r"is answered (\d+) ms after that ERROR \((\d+) ms or more after it left\)", line)
    assert timing is not None, line
    late, left = int(timing[1]), int(timing[2])
    assert 0 < late <= 6_000, line  # the ERROR came 5-10 s after the Cancel left, the answer 11 s after it
    assert 5_000 + late <= left <= 11_000, line  # it had waited answer_timeout_ms at least before its ERROR
    assert link.venue.status()["cancels_unanswered_now"] == 0
    assert link.venue.counters["cancels_unanswered"] == 1  # the counter stays (what happened)
    assert _gauge(link, engine) == 'gateway_venue_cancels_unanswered_now{venue="nasdaq"} 0.0'


def test_cancel_logged_unanswered_when_a_fill_ends_the_order_then_all_clear_names_it_filled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, strat, _held = _cancel_held_by_the_venue(tmp_path, caplog)  # the venue never reads it
    assert link.core.exchange.execute(1, 100)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _run(link, engine, 1_000)
    assert [type(e) for e in _events(strat)] == [Executed]
    (line,) = _all_clears(caplog)
    assert "the order ended here (FILLED)" in line, line
    assert link.venue.status()["cancels_unanswered_now"] == 0


def test_cancel_logged_unanswered_when_the_venue_refuses_it_then_all_clear_says_the_order_is_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, strat, held = _cancel_held_by_the_venue(tmp_path, caplog)
    assert link.connection is not None
    exchange = link.core.exchange
    exchange.config = msgspec.structs.replace(exchange.config, cancel_reject_symbols=frozenset({"AAPL"}))
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.core.receive(link.connection, held, link.clock())  # read at last, and refused (Cancel Reject)
        _run(link, engine, 1_000)
    assert [type(e) for e in _events(strat)] == [CancelRejected]
    (line,) = _all_clears(caplog)
    assert "the order is open here (LIVE)" in line, line
    assert link.venue.status()["cancels_unanswered_now"] == 0


def test_cancel_logged_unanswered_when_the_venue_ends_its_session_then_all_clear_and_the_gauge_back_to_zero(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, strat, _held = _cancel_held_by_the_venue(tmp_path, caplog)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        link.core.end_session(link.clock())
        link.pump()
        engine.flush()  # type: ignore[attr-defined]
    assert link.venue.state is VenueState.ENDED
    (line,) = _all_clears(caplog)  # at once: no sweep runs after the session's end
    assert "the venue's End of Session came first (answered CancelRejected OUCH_SESSION_ENDED)" in line, line
    assert [type(e) for e in _events(strat)] == [CancelRejected]
    assert link.venue.status()["cancels_unanswered_now"] == 0


def test_cancel_logged_unanswered_when_the_venue_moves_to_a_new_session_then_all_clear_asks_for_the_desk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, strat, _held = _cancel_held_by_the_venue(tmp_path, caplog)
    link.disconnect()
    link.core = link.new_core(session="S2")  # the venue lost its state: a new session
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        for _ in range(4):  # the old session refused in both paddings, then the venue's current one
            link.connect()
            if link.venue.state is VenueState.UP:
                break
            link.disconnect()
        engine.flush()  # type: ignore[attr-defined]
        _run(link, engine, 1_000)
    assert link.venue.status()["session"] == "S2"
    (line,) = _all_clears(caplog)
    assert "the venue's new session came first (answered CancelRejected OUCH_SESSION_CHANGED)" in line, line
    assert "ask the venue desk about it" in line, line
    assert [(type(e), getattr(e, "code", None)) for e in _events(strat)] == [(CancelRejected, "OUCH_SESSION_CHANGED")]
    assert link.venue.status()["cancels_unanswered_now"] == 0
