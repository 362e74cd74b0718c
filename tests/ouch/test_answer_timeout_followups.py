"""What the answer timeout (fixouch51) left open (fixouch52).

1. The timeout's Cancel went out once: a session dropped after it, with a replay that does not settle the order,
   left the order in doubt with nothing asking about it. Now every in-doubt order still open gets its Cancel again
   after each login (once per login), logged.
2. A Cancel for a UserRefNum the venue never received is ignored (OUCH 5.0: "superfluous cancels are silently
   ignored"), so the order stayed open until End of Session. Now, a second ``answer_timeout_ms`` after that Cancel
   with still no word of the venue on it, the order ends ``Canceled`` reason ``OUCH_OUTCOME_UNKNOWN`` (risk
   releases it), ERROR; a late answer of the venue after that is an ended order's (canceled there, a fill a late
   fill), never a second answer.
3. A late Accepted for an Enter answered in doubt dropped the venue's order id: now the order keeps it.
4. A Replace the venue never answers left the replace pending for ever: now it is swept like an Enter and answered
   ``CancelRejected`` ``OUCH_IN_DOUBT`` (its outcome is unknown; docs/strategy-protocol.md section 8).

Real engine and journal over the OUCH simulator (fake clock), as tests/ouch/test_answer_timeout.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import (
    Canceled,
    CancelRejected,
    Executed,
    NewOrder,
    OrderAccepted,
    Replace,
    VenueStatus,
)
from model.enums import Side
from model.order import OrderState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import SimulatorConfig
from tests.ouch.harness import PX, TS, Link, gateway_over, restart_from_journal
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderAccepted as OuchAccepted
from venues.ouch.messages import OrderCanceled as OuchCanceled
from venues.ouch.messages import OrderExecuted as OuchExecuted
from venues.ouch.options import NO_OPTIONS

RESTING = PX - 100


def _run(link: Link, engine: object, ms: int) -> None:
    """Let ``ms`` pass on the fake clock in steps of 100 ms, both sides' timers running (the session stays up)."""
    for _ in range(ms // 100):
        link.clock.advance_ms(100)
        link.poll()
        engine.flush()  # type: ignore[attr-defined]
        link.pump()
        engine.flush()  # type: ignore[attr-defined]


def _relogin(link: Link, engine: object) -> None:
    link.disconnect()
    link.connect()
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    engine.flush()  # type: ignore[attr-defined]


def _events(strat: object) -> list[object]:
    return [m for m in strat.received() if not isinstance(m, VenueStatus)]  # type: ignore[attr-defined]


def _lost_enter(tmp_path: Path) -> tuple[Link, object, object, object]:
    """An Enter the venue never got (dropped in flight), answered in doubt after 5 s; its Cancel dropped too."""
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    strat.received()  # the Welcome
    rig.send(strat, NewOrder("lost", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.venue.flush()
    link._to_server.clear()  # the venue never gets the Enter Order
    for _ in range(60):  # both sides' timers run (the session stays up) until the timeout's Cancel is written
        link.clock.advance_ms(100)
        link.venue.poll(link.clock())
        engine.flush()
        link.venue.flush()
        if link.venue.status()["answer_timeouts"]:
            link._to_server.clear()  # the venue never gets the Cancel either
            break
        assert link.connection is not None
        link.core.poll(link.connection, link.clock())
        link.pump()
        engine.flush()
    (answer,) = _events(strat)
    assert isinstance(answer, OrderAccepted) and answer.cl_ord_id == "lost"
    return link, engine, rig, strat


def _cancels(link: Link) -> list[int]:
    return [r.user_ref_num for r in link.core.exchange.records if r.type == "X"]


def test_timeout_cancel_lost_with_the_connection_when_the_replay_does_not_settle_then_sent_again_each_login(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat = _lost_enter(tmp_path)
    assert _cancels(link) == []  # the venue never saw the Cancel either
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _relogin(link, engine)
    assert link.venue.state.value == "UP"
    assert _cancels(link) == [1]  # sent again after the login (the replay had nothing about it)
    lines = [r.getMessage() for r in caplog.records if "sent again after the login" in r.getMessage()]
    assert len(lines) == 1 and "[1]" in lines[0], lines
    _run(link, engine, 1_000)
    assert _cancels(link) == [1]  # once per login
    _relogin(link, engine)
    assert _cancels(link) == [1, 1]
    assert _events(strat) == []
    assert link.core.exchange.violations == []


def test_enter_never_received_when_its_cancel_gets_no_answer_either_then_ended_outcome_unknown_and_released(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link, engine, _rig, strat = _lost_enter(tmp_path)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    _relogin(link, engine)  # the Cancel reaches the venue now, which ignores it (it never had UserRefNum 1)
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _run(link, engine, 4_000)
        assert _events(strat) == []  # not before a second answer_timeout_ms after the Cancel
        _run(link, engine, 2_000)
    (ended,) = _events(strat)
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    assert "reconcile" in ended.text
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert order.state is OrderState.CANCELED and order.leaves_qty == 0
    assert engine.risk.changes[-1] == (order_id, 100, 0)  # type: ignore[attr-defined]  # risk: nothing open
    assert link.venue.status()["outcome_unknown"] == 1
    assert link.venue.session_counters()["outcome_unknown"] == 1
    lines = [r.getMessage() for r in caplog.records if "ended here as Canceled OUCH_OUTCOME_UNKNOWN" in r.getMessage()]
    assert len(lines) == 1 and "reconcile" in lines[0], lines
    _run(link, engine, 20_000)
    _relogin(link, engine)
    assert _events(strat) == [] and _cancels(link) == [1]  # over: nothing more, no Cancel again
    # the venue answers after all: an ended order's messages (canceled there, the fill a late fill), no 2nd answer
    link.core.stream.append(
        encode_message(
            OuchAccepted(
                TS, 1, "B", 100, "AAPL", RESTING, "0", "Y", 777, "A", "N", "N", "L", f"{order_id:014d}", NO_OPTIONS
            )
        )
    )
    link.core.stream.append(encode_message(OuchExecuted(TS, 1, 40, RESTING, "A", 9001, NO_OPTIONS)))
    link.core.stream.append(encode_message(OuchCanceled(TS, 1, 60, "U", NO_OPTIONS)))  # the answer to that Cancel
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    link.pump()
    (late,) = _events(strat)  # the fill, as any late fill (money is never dropped): no second Accepted or Canceled
    assert isinstance(late, Executed) and late.qty == 40 and late.leaves_qty == 0, late
    assert _cancels(link)[-1] == 1 and link.venue.status()["live_after_end"] == 1
    assert link.venue.status()["late_cancels_waiting"] == 0  # its Canceled answered the Cancel sent at the venue
    assert engine.orders[order_id].cum_qty == 40  # type: ignore[attr-defined]
    assert engine.counters.venue_events_out_of_place == 0  # type: ignore[attr-defined]


def test_late_accepted_for_an_enter_answered_in_doubt_when_applied_then_the_order_keeps_the_venue_order_id(
    tmp_path: Path,
) -> None:
    link, engine, _rig, strat = _lost_enter(tmp_path)
    (order_id,) = engine.orders  # type: ignore[attr-defined]
    link.core.stream.append(
        encode_message(
            OuchAccepted(
                TS, 1, "B", 100, "AAPL", RESTING, "0", "Y", 4242, "A", "N", "N", "L", f"{order_id:014d}", NO_OPTIONS
            )
        )
    )
    link.pump()
    engine.flush()  # type: ignore[attr-defined]
    assert _events(strat) == []  # the strategy had its one OrderAccepted
    order = engine.orders[order_id]  # type: ignore[attr-defined]
    assert order.venue_order_id == "4242"
    assert order.state is OrderState.LIVE
    assert engine.counters.venue_events_out_of_place == 0  # type: ignore[attr-defined]
    _run(link, engine, 20_000)  # settled: the venue has it, its Cancel will be answered: never ended unknown
    assert link.venue.status()["outcome_unknown"] == 0
    engine.journal.flush()  # type: ignore[attr-defined]
    _second, again, _rig2 = restart_from_journal(link, tmp_path)  # the journal keeps it
    assert again.orders[order_id].venue_order_id == "4242"


def test_replace_the_venue_never_answers_when_the_timeout_passes_then_cancel_rejected_in_doubt_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = Link(tmp_path / "ouch", exchange=ExchangeConfig(reference_prices={"AAPL": PX}, strict_user_ref_num=True))
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("r1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    (accepted,) = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    rig.send(strat, Replace("r1", 200, RESTING - 100))
    engine.flush()
    link.venue.flush()
    link._to_server.clear()  # the venue never gets the Replace
    with caplog.at_level(logging.ERROR, logger="venues.ouch.adapter"):
        _run(link, engine, 4_000)
        assert _events(strat) == []
        _run(link, engine, 2_000)
    (answer,) = _events(strat)
    assert isinstance(answer, CancelRejected) and answer.code == "OUCH_IN_DOUBT", answer
    (order_id,) = engine.orders
    assert engine.orders[order_id].state is OrderState.LIVE
    assert link.venue.status()["answer_timeouts"] == 1
    # one ERROR for the sweep (docs/venues/ouch.md: "one ERROR line per sweep"), not a second one per replace
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "replace" in r.getMessage()]
    assert len(lines) == 1 and "answer_timeout_ms" in lines[0], lines
    _run(link, engine, 20_000)
    assert _events(strat) == [] and link.venue.status()["answer_timeouts"] == 1


def test_stuck_venue_when_it_says_nothing_past_both_timeouts_then_ended_unknown_and_its_replay_changes_nothing(
    tmp_path: Path,
) -> None:
    # the venue reads and answers everything (Accepted, then Canceled for the gateway's Cancel) but sends nothing more
    # on this connection (heartbeats only): after both timeouts the order ends OUCH_OUTCOME_UNKNOWN; the held answers
    # come in the next login's replay as an ended order's messages (no second answer, nothing out of place)
    link = Link(
        tmp_path / "ouch",
        sim=SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX}), stall_first_after=0),
    )
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    strat.received()
    rig.send(strat, NewOrder("stuck", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    _run(link, engine, 12_000)
    accepted, ended = _events(strat)
    assert isinstance(accepted, OrderAccepted)
    assert isinstance(ended, Canceled) and ended.reason == "OUCH_OUTCOME_UNKNOWN", ended
    (order_id,) = engine.orders
    assert all(not o.open for o in link.core.exchange.orders.values())  # canceled at the venue
    _relogin(link, engine)
    _run(link, engine, 2_000)
    assert _events(strat) == []
    assert engine.orders[order_id].state is OrderState.CANCELED
    assert engine.counters.venue_events_out_of_place == 0
    assert link.venue.status()["late_cancels_waiting"] == 0
