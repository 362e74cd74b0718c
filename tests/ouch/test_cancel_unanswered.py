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

from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    Executed,
    NewOrder,
    OrderAccepted,
    Replace,
    Replaced,
)
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from tests.metrics_text import venue_metrics_text
from tests.ouch.harness import PX, Link, gateway_over
from tests.ouch.test_answer_timeout_followups import RESTING, _events, _run

UNANSWERED = "cancels had no answer (Canceled, fills, Cancel Reject) within 5000 ms"
ALL_CLEAR = "logged at ERROR as unanswered are answered"
ALL_CLEAR_ANY = "logged at ERROR as unanswered"  # (also the WARNING per Cancel before rev61merge)


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
    return [r.getMessage() for r in caplog.records if ALL_CLEAR_ANY in r.getMessage() and r.levelno == logging.WARNING]


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
    assert (
        f"1 cancels {ALL_CLEAR}, " in line
        and f"1: the order ended here (CANCELED): nothing for the venue desk to cancel: orders [{order_id}], "
        "UserRefNums [1]"
        in line
    ), line
    timing = re.search(
        r"are answered, (\d+) ms or less after their ERROR \(each (\d+) ms or more after it left\)", line
    )
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


def _cancel_logged_then_session_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> tuple[Link, object, object, int]:
    link, engine, strat, _held = _cancel_held_by_the_venue(tmp_path, caplog)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    link.disconnect()
    link.core = link.new_core(session="S2")  # the venue lost its state: a new session
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        for _ in range(4):  # the old session refused in both paddings, then the venue's current one
            link.connect()
            if link.venue.state is VenueState.UP:
                break
            link.disconnect()
        engine.flush()  # type: ignore[attr-defined]
        _run(link, engine, 20_000)
    assert link.venue.status()["session"] == "S2"
    return link, engine, strat, order_id


def test_cancel_logged_unanswered_when_the_venue_moves_to_a_new_session_then_it_stays_counted_no_all_clear(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev61merge MEDIUM 2: the new session answers nothing; the order is unreachable and may still work there."""
    link, engine, strat, order_id = _cancel_logged_then_session_change(tmp_path, caplog)
    assert not _all_clears(caplog)  # before: an all-clear, and the gauge (the critical alert) back to 0
    assert link.venue.status()["cancels_unanswered_now"] == 1
    assert _gauge(link, engine) == 'gateway_venue_cancels_unanswered_now{venue="nasdaq"} 1.0'
    (line,) = [r.getMessage() for r in caplog.records if "cannot be reached through session" in r.getMessage()]
    assert line.endswith(
        f"Orders: [{order_id}]; 1 of their cancels had no answer before (ERROR '... cancels had no answer ...') and "
        "stay counted in cancels_unanswered_now until the order ends here"
    ), line
    assert [(type(e), getattr(e, "code", None)) for e in _events(strat)] == [(CancelRejected, "OUCH_SESSION_CHANGED")]
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert not order.is_terminal  # it stays open here, its exposure counted
    link.venue.forget(order)  # what the engine does once the order ends here
    assert link.venue.status()["cancels_unanswered_now"] == 0


def _orders_canceled_held(tmp_path: Path, count: int) -> tuple[Link, object, object, bytes]:
    """``count`` orders, each canceled by the strategy; the venue holds every Cancel (a slow venue)."""
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    for n in range(count):
        rig.send(strat, NewOrder(f"c{n}", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    assert [type(e) for e in _events(strat)] == [OrderAccepted] * count
    for n in range(count):
        rig.send(strat, Cancel(f"c{n}"))
    engine.flush()
    link.venue.flush()
    held = bytes(link._to_server)
    link._to_server.clear()
    return link, engine, strat, held


def test_many_cancels_logged_unanswered_then_answered_then_one_warning_per_sweep_and_bounded_per_sweep(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev61merge MEDIUM 1: a kill over 3,000 orders at a slow venue gave 3,000 WARNING lines in one loop turn."""
    link, engine, strat, held = _orders_canceled_held(tmp_path, 40)
    link.venue._answered_per_look = 16  # (1024 by default)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _run(link, engine, 11_000)
        (error,) = [r.getMessage() for r in caplog.records if UNANSWERED in r.getMessage()]
        assert error.startswith("venue nasdaq: 40 cancels had no answer"), error
        assert link.venue.status()["cancels_unanswered_now"] == 40
        assert link.connection is not None
        link.core.receive(link.connection, held, link.clock())  # the venue reads them all at last
        link.pump()
        engine.flush()  # type: ignore[attr-defined]
        assert [type(e) for e in _events(strat)] == [Canceled] * 40
        gauges: list[int] = []
        for _ in range(20):  # one sweep (answer_timeout_ms / 10) after another
            _run(link, engine, 500)
            gauges.append(int(link.venue.status()["cancels_unanswered_now"]))  # type: ignore[call-overload]
    lines = _all_clears(caplog)
    assert len(lines) == 3, len(lines)  # one per sweep: before, one per Cancel (40)
    assert gauges[-1] == 0
    drops = [before - after for before, after in zip([40, *gauges], gauges, strict=False)]
    assert max(drops) <= 16, gauges  # bounded per sweep: before, all 40 (3,000) in one call
    first = lines[0]
    assert first.startswith(f"venue nasdaq: 16 cancels {ALL_CLEAR}, "), first
    listed = re.search(
        r"16: the order ended here \(CANCELED\): nothing for the venue desk to cancel: orders \[([\d, ]+)\]", first
    )
    assert listed is not None, first
    assert len(listed[1].split(", ")) == 16
    assert sum(int(line.split(" cancels ")[0].rsplit(" ", 1)[1]) for line in lines) == 40


def test_many_cancels_answered_at_once_then_the_first_twenty_orders_listed_per_group(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _strat, held = _orders_canceled_held(tmp_path, 30)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _run(link, engine, 11_000)
        assert link.connection is not None
        link.core.receive(link.connection, held, link.clock())
        _run(link, engine, 1_000)
    (line,) = _all_clears(caplog)
    assert line.startswith(f"venue nasdaq: 30 cancels {ALL_CLEAR}, "), line
    listed = re.search(
        r"30: the order ended here \(CANCELED\)[^\[]*orders \[([\d, ]+)\], UserRefNums \[([\d, ]+)\]", line
    )
    assert listed is not None, line
    assert len(listed[1].split(", ")) == 20 and len(listed[2].split(", ")) == 20
    assert link.venue.status()["cancels_unanswered_now"] == 0


def test_replace_in_doubt_then_its_replaced_answers_one_cancel_then_no_all_clear_while_the_other_waits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev61merge LOW 3: the Replaced answered the old number's Cancel; the new number's still waited."""
    link, engine, rig, strat = _accepted(tmp_path)
    rig.send(strat, Replace("c1", 200, RESTING))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    replace = bytes(link._to_server)  # held by the venue: answered OUCH_IN_DOUBT after answer_timeout_ms
    link._to_server.clear()
    _run(link, engine, 11_000)
    assert [(type(e), getattr(e, "code", None)) for e in _events(strat)] == [(CancelRejected, "OUCH_IN_DOUBT")]
    rig.send(strat, Cancel("c1"))  # type: ignore[attr-defined]
    engine.flush()  # type: ignore[attr-defined]
    link.venue.flush()
    cancels = bytes(link._to_server)  # to UserRefNums 1 and 2, held too
    link._to_server.clear()
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        _run(link, engine, 11_000)
        (error,) = [r.getMessage() for r in caplog.records if UNANSWERED in r.getMessage()]
        assert "UserRefNums [1, 2]" in error, error
        assert link.venue.status()["cancels_unanswered_now"] == 2
        assert link.connection is not None
        link.core.receive(link.connection, replace, link.clock())  # Replaced 1 -> 2: the Cancel of 1 is answered
        out, _cut = link.core.output(link.connection, link.clock())
        link.venue.data_received(bytes(out), link.clock())
        engine.flush()  # type: ignore[attr-defined]
        link.venue.flush()
        assert link._to_server  # the Cancel sent again to UserRefNum 2: held by the venue too
        link._to_server.clear()
        _run(link, engine, 2_000)
        assert [type(e) for e in _events(strat)] == [Replaced]
        # the Cancel of 2 still waits: the order's Cancels leave the gauge together, with one all-clear naming both
        # (rev61merge7 LOW 3: the gauge dropped by 2 while the line said 1)
        assert link.venue.status()["cancels_unanswered_now"] == 2
        assert not _all_clears(caplog)  # before: an all-clear naming the order while its Cancel still waited
        link.core.receive(link.connection, cancels, link.clock())  # the venue reads the Cancels at last
        _run(link, engine, 1_000)
    assert [type(e) for e in _events(strat)] == [Canceled]
    (line,) = _all_clears(caplog)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    assert f"orders [{order_id}, {order_id}], UserRefNums [" in line, line
    assert "UserRefNums [1, 2]" in line or "UserRefNums [2, 1]" in line, line
    assert line.split(": ")[1].startswith("2 cancels logged at ERROR"), line
    assert link.venue.status()["cancels_unanswered_now"] == 0
