"""BOE: a Modify answered ``BOE_SESSION_ENDED`` that Cboe had applied, replayed by a later login (boemodify57).

rev57boe s12/s14/s18: a Modify 100 -> 150 reaches Cboe and is applied; its Order Modified is lost in a cut; Cboe
refuses every login ``D`` (or ends the day with Logout ``E``), so the gateway answers the Modify ``CancelRejected
BOE_SESSION_ENDED`` (the order stays 100 here). Cboe enables the session again and ``gateway venue reconnect`` logs in:
docs/venues/boe.md "Refused logins" says the replay applies an Order Modified. The old code dropped it as a repeat
(``repeated-modified``): the order stayed 100 here while Cboe worked 150 (a fill of 150 was an overfill), and a
Cancel held meanwhile went out under the old ClOrdID, was refused ``O`` and ended the order ``BOE_NOT_AT_CBOE`` while
Cboe still worked 150 that no strategy owned. Now the Modify is kept as one that may still be applied (``lapsed``,
as at the in-doubt deadline): the strategy sees CancelRejected, then Replaced, and the order is known by the Modify's
ClOrdID from then on.

The sans-IO simulator through a real engine, on a fake clock (``tests.boe.harness``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.engine import Engine
from gateway.protocol.messages import Cancel, NewOrder, Replace
from model.enums import Side
from model.exactly_once import ExactlyOnce
from model.order import OrderState
from model.venue_events import VenueCancelRejected, VenueReplaced, VenueState
from tests.boe.harness import Link, gateway_over, make_order
from tests.boe.test_modify_up_crossed_by_fill import RESTING, _events, _link, _pump, _risk
from tests.harness import MemoryLink, Rig
from venues.boe.adapter import split_ref
from venues.boe.state import end_of_day_path


def _refuse_logins_d(link: Link, engine: Engine | None = None) -> None:
    """Cboe disables the session (logins refused ``D``) until ``_enable``; three logins: LOGIN_REFUSED."""
    link.core.streams.ended = True  # the simulator's end of day: logins refused D, nothing processed
    for _ in range(3):
        link.connect()
        if engine is not None:
            engine.flush()
    assert link.venue.state is VenueState.LOGIN_REFUSED


def _enable_and_apply_held(link: Link) -> None:
    """Cboe enables the session again and processes what it held (the Modify): its answer is sequenced, unsent."""
    link.core.streams.ended = False
    assert link.core.release_held() == 1


def _modify_applied_answer_lost(tmp_path: Path) -> tuple[Link, Engine, Rig, MemoryLink, str]:
    """Order A 100 at Cboe; a Modify to 150 reaches Cboe (held inside it) and the connection is cut; logins are
    refused ``D``: the Modify is answered BOE_SESSION_ENDED. Return the Modify's ClOrdID."""
    link = _link(tmp_path)
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    link.core.hold = True
    rig.send(strat, Replace("A", 150, RESTING))
    _pump(link, engine)
    modify = split_ref(order.pending_ref)[0]
    assert len(link.core.held) == 1  # Cboe has the Modify
    link.disconnect()
    _refuse_logins_d(link, engine)
    assert _events(strat) == [("OrderAccepted",), ("CancelRejected", "VENUE", "BOE_SESSION_ENDED")]
    assert (order.state, order.qty) == (OrderState.LIVE, 100)
    _enable_and_apply_held(link)
    return link, engine, rig, strat, modify


def test_modify_answered_session_ended_when_cboe_applied_it_then_the_replay_applies_it_once(tmp_path: Path) -> None:
    link, engine, _rig, strat, modify = _modify_applied_answer_lost(tmp_path)
    order = engine.strategies["S1"].orders["A"]
    assert link.venue.reconnect()  # gateway venue reconnect CBOE
    link.connect()
    _pump(link, engine)
    assert _events(strat) == [("Replaced", 150, 150)]  # the old code: nothing (repeated-modified)
    assert (order.state, order.qty, order.leaves_qty) == (OrderState.LIVE, 150, 150)
    assert split_ref(order.venue_ref)[0] == modify
    assert _risk(engine).changes[-1] == (order.order_id, 100, 150)
    assert link.core.exchange.execute(modify, 150)  # Cboe fills what it works
    _pump(link, engine)
    assert _events(strat) == [("Executed", 150, 150, 0)]
    assert (order.state, order.cum_qty) == (OrderState.FILLED, 150)
    assert engine.counters.venue_events_out_of_place == 0
    assert link.venue.status()["late_answers"] == 1


def test_modify_answered_session_ended_when_a_cancel_waited_then_it_names_the_modifys_clordid(tmp_path: Path) -> None:
    link, engine, rig, strat, modify = _modify_applied_answer_lost(tmp_path)
    order = engine.strategies["S1"].orders["A"]
    rig.send(strat, Cancel("A"))  # held: the venue is LOGIN_REFUSED
    _pump(link, engine)
    assert link.venue.reconnect()
    link.connect()
    _pump(link, engine)
    assert _events(strat) == [("Replaced", 150, 150), ("Canceled", 150, 0, "USER_REQUESTED")]
    assert order.state is OrderState.CANCELED
    cancels = [r for r in link.core.exchange.records if r.type == "Cancel Order"]
    assert [r.outcome for r in cancels] == ["cancelled"]  # the old code: cancel-rejected:O (the old ClOrdID)
    assert link.core.exchange.orders == {}  # nothing left working at Cboe (the old code: 150 under the Modify's)
    del modify


def test_modify_answered_session_ended_after_a_restart_then_the_replay_applies_it(tmp_path: Path) -> None:
    """kill -9 with the Modify unanswered; the new process is refused ``D``, later logs in: the journal kept it."""
    link = _link(tmp_path)
    link.connect()
    order = make_order(1)
    link.send_new(order)
    link.core.hold = True
    link.send_replace(order, 150, order.price)
    modify = split_ref(order.pending_ref)[0]
    link.restart()  # kill -9: the new adapter restores the order and its Modify in flight from the journal
    _refuse_logins_d(link)
    assert isinstance(link.events[-1], VenueCancelRejected) and link.events[-1].lapsed
    assert order.venue_lapsed is not None  # journaled: a restart from here keeps the Modify too
    _enable_and_apply_held(link)
    link.restart()  # and again, before Cboe's answer arrives
    link.connect()
    replaced = [e for e in link.events if isinstance(e, VenueReplaced)]
    assert [(e.late_qty, e.leaves_qty) for e in replaced] == [(150, 150)]  # the old code: none
    assert (order.state, order.qty, split_ref(order.venue_ref)[0]) == (OrderState.LIVE, 150, modify)


def test_modify_answered_at_logout_e_when_a_same_day_login_replays_its_modified_then_it_is_applied(
    tmp_path: Path,
) -> None:
    """rev57boe s18: Logout ``E`` with the Modify received and unanswered; the documented same-day re-login (stop,
    delete ``<name>.boe-endofday.json``, start) replays Cboe's Order Modified: the order takes it."""
    link = _link(tmp_path)
    link.connect()
    order = make_order(1)
    link.send_new(order)
    link.core.hold = True
    link.send_replace(order, 150, order.price)
    modify = split_ref(order.pending_ref)[0]
    link.core.end_of_day(link.clock())
    link.pump()
    assert link.venue.state is VenueState.ENDED
    link.venue.after_session_end(ExactlyOnce.unanswered([order]))  # as the core does once the venue ENDED
    [refused] = [e for e in link.events if isinstance(e, VenueCancelRejected)]
    assert (refused.code, refused.lapsed) == ("BOE_SESSION_ENDED", True)  # the old code: lapsed False
    assert (order.state, order.qty) == (OrderState.LIVE, 100)
    _enable_and_apply_held(link)
    end_of_day_path(link.state_dir, link.config.name).unlink()  # as the ENDED WARNING says, for a same-day login
    link.restart()
    link.connect()
    replaced = [e for e in link.events if isinstance(e, VenueReplaced)]
    assert [(e.late_qty, e.leaves_qty) for e in replaced] == [(150, 150)]  # the old code: none (repeated-modified)
    assert (order.state, order.qty, split_ref(order.venue_ref)[0]) == (OrderState.LIVE, 150, modify)


def test_new_order_answered_session_ended_when_cboe_had_it_then_the_cancels_answer_is_after_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev57boe s04 (LOW): the New Order reached Cboe, its Acknowledgment lost in the cut; answered BOE_SESSION_ENDED
    at the ``D`` refusal. The replayed Acknowledgment makes the adapter cancel it at Cboe; Cboe's Order Cancelled is
    the answer to that Cancel (INFO, ``after_end``), not a Canceled saying a Modify was applied, out of place."""
    link = _link(tmp_path)
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    link.core.hold = True
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    link.disconnect()
    _refuse_logins_d(link, engine)
    assert order.state is OrderState.REJECTED
    _enable_and_apply_held(link)
    assert link.venue.reconnect()
    with caplog.at_level(logging.INFO, logger="venues.boe.adapter"):
        link.connect()
        _pump(link, engine)
    assert link.core.exchange.orders == {}  # canceled at Cboe
    assert [r.outcome for r in link.core.exchange.records if r.type == "Cancel Order"] == ["cancelled"]
    assert engine.counters.venue_events_out_of_place == 0  # the old code: 1 (Canceled BOE_ANSWER_LATE)
    status = link.venue.status()
    assert (status["late_answers"], status["after_end"], status["late_cancels_waiting"]) == (1, 1, 0)
    assert "Cboe answered the Cancel the gateway sent after the order had ended here" in caplog.text
    assert "Cboe applied a Modify" not in caplog.text
    assert order.state is OrderState.REJECTED
