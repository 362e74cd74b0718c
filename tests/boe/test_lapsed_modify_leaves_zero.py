"""BOE: a lapsed Modify that Cboe applied after a fill crossed it, Order Modified with LeavesQty 0 (boe58).

rev58boe finding 1 (HIGH): order 100, a Modify to 50 unanswered, the connection cut; Cboe refuses logins ``D`` (or
ends the day with Logout ``E``, or the copy is refused at the in-doubt deadline), so the strategy gets
``CancelRejected`` and the Modify is kept as one Cboe may still apply (``lapsed``). Cboe had filled 60, then applied
the Modify: its replay says Order Execution 60 (LeavesQty 40), then Order Modified OrderQty 50, LeavesQty 0 (the
order is over at Cboe). The old code took LeavesQty 0 for "cannot take it now" and sent a Cancel of the finished
order: Cboe answers ``J`` (too late) and the order stayed LIVE here with 40 open all day, or ``O`` and it ended
``BOE_NOT_AT_CBOE`` with a reconcile ERROR. The live path with the same messages ends the order ``NOTHING_LEFT``,
nothing sent; the lapsed path now does the same.

rev58boe finding 2 (LOW): a Cancel owed during a replay and sent for the first time at Replay Complete was logged
as a WARNING "sent (again)", the line boe.md keeps for a Cancel lost in a crash or a cut.

The sans-IO simulator through a real engine (or the adapter alone, ``Link``), on a fake clock.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, NewOrder, Replace
from model.enums import Side
from model.exactly_once import ExactlyOnce
from model.order import OrderState
from model.venue_events import VenueCanceled, VenueCancelRejected, VenueReplaced, VenueState
from simulators.boe.exchange import BoeExchangeConfig
from tests.boe.harness import DAY_NS, PX, Link, gateway_over, make_order
from tests.boe.test_late_answers import _cut_then_copies_refused_first, _wait_in_doubt_timeout
from tests.boe.test_modify_up_crossed_by_fill import RESTING, UNIT, _events, _execution, _pump
from tests.boe.test_session_ended_modify_applied import _refuse_logins_d
from venues.boe.adapter import split_ref
from venues.boe.messages import OrderModified, ReturnFields
from venues.boe.state import end_of_day_path


def _link(tmp_path: Path, answer: str) -> Link:
    """A Cboe that answers a Cancel of a finished order ``answer``: ``O`` (no such order) or ``J`` (too late)."""
    exchange = BoeExchangeConfig(
        units=3,
        symbol_units={"AAPL": 1, "MSFT": 2, "SPY": 3},
        reference_prices={"AAPL": PX, "MSFT": PX, "SPY": PX},
        cancel_reject_symbols=frozenset({"AAPL"}) if answer == "J" else frozenset(),
    )
    return Link(tmp_path / "boe", exchange=exchange)


def _fill_then_apply(link: Link, old: str, new: str, answer: str) -> None:
    """Cboe drops the held Modify's own processing and answers by hand: 60 executed, then the Modify to 50 applied
    with nothing left (Order Modified OrderQty 50, LeavesQty 0). ``J``: the finished order stays in its book under the
    Modify's ClOrdID with nothing open (a Cancel of it is too late); ``O``: gone."""
    core = link.core
    core.held.clear()
    core.hold = False
    core.streams.append(UNIT, _execution(old, 900_001, 60, 40))
    applied = ReturnFields(order_qty=50, price=RESTING, leaves_qty=0)
    core.streams.append(UNIT, OrderModified(0, 0, DAY_NS, new, 77, applied))
    sim = core.exchange.orders.pop(old)
    if answer == "J":
        sim.cl_ord_id, sim.order_qty, sim.leaves = new, 50, 0
        core.exchange.orders[new] = sim


def _cancels(link: Link) -> list[str]:
    return [r.outcome for r in link.core.exchange.records if r.type == "Cancel Order"]


@pytest.mark.parametrize("answer", ["J", "O"])
@pytest.mark.parametrize("held_cancel", [False, True])
def test_lapsed_modify_at_d_when_the_replay_applies_it_with_leaves_0_then_the_order_ends_nothing_sent(
    tmp_path: Path, answer: str, held_cancel: bool
) -> None:
    """rev58boe s12: the Modify answered BOE_SESSION_ENDED at the ``D`` refusal; the replay after ``gateway venue
    reconnect`` shows Cboe filled 60 and applied the Modify to 50 (LeavesQty 0)."""
    link = _link(tmp_path, answer)
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    rig.send(strat, Replace("A", 50, RESTING))
    _pump(link, engine)
    new = split_ref(order.pending_ref)[0]
    link.disconnect()
    _refuse_logins_d(link, engine)
    assert _events(strat) == [("OrderAccepted",), ("CancelRejected", "VENUE", "BOE_SESSION_ENDED")]
    if held_cancel:
        rig.send(strat, Cancel("A"))  # held: the venue is LOGIN_REFUSED
        _pump(link, engine)
        assert order.state is OrderState.LIVE_HELD_CANCEL
    link.core.streams.ended = False
    _fill_then_apply(link, old, new, answer)
    assert link.venue.reconnect()  # gateway venue reconnect CBOE
    link.connect()
    _pump(link, engine)
    # the old code: a Cancel sent; J: the order LIVE with 40 open (a held Cancel refused TOO_LATE_TO_CANCEL); O:
    # Canceled BOE_NOT_AT_CBOE. A Cancel held while LOGIN_REFUSED is answered by the Canceled.
    assert _events(strat) == [("Executed", 60, 60, 40), ("Canceled", 40, 0, "NOTHING_LEFT")]
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 60, 0)
    assert _cancels(link) == []  # nothing sent to Cboe for a finished order (the old code: cancel-rejected:J / :O)
    assert engine.counters.venue_events_out_of_place == 0
    assert link.venue.status()["late_answers"] == 1
    assert link.venue.status()["late_cancels_waiting"] == 0


@pytest.mark.parametrize("answer", ["J", "O"])
def test_lapsed_modify_at_logout_e_when_a_restarted_process_replays_it_with_leaves_0_then_the_order_ends(
    tmp_path: Path, answer: str
) -> None:
    """rev58boe s15: Logout ``E`` with the Modify unanswered (BOE_SESSION_ENDED, lapsed, journaled); a new process
    (kill -9, the end-of-day file deleted) logs in the same day: the replay says 60 executed, then Order Modified
    LeavesQty 0."""
    link = _link(tmp_path, answer)
    link.connect()
    order = make_order(1, price=RESTING)
    link.send_new(order)
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    link.send_replace(order, 50, order.price)
    new = split_ref(order.pending_ref)[0]
    link.core.end_of_day(link.clock())
    link.pump()
    assert link.venue.state is VenueState.ENDED
    link.venue.after_session_end(ExactlyOnce.unanswered([order]))
    [refused] = [e for e in link.events if isinstance(e, VenueCancelRejected)]
    assert (refused.code, refused.lapsed) == ("BOE_SESSION_ENDED", True)
    link.core.streams.ended = False
    _fill_then_apply(link, old, new, answer)
    end_of_day_path(link.state_dir, link.config.name).unlink()
    link.restart()  # kill -9: the new adapter restores the order and its lapsed Modify from the journal
    link.connect()
    [canceled] = [e for e in link.events if isinstance(e, VenueCanceled)]
    assert canceled.reason == "NOTHING_LEFT"  # the old code: none (J: the order LIVE, 40 open) or BOE_NOT_AT_CBOE
    assert not [e for e in link.events if isinstance(e, VenueReplaced)]
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 60, 0)
    assert _cancels(link) == []
    assert link.venue.status()["late_cancels_waiting"] == 0


@pytest.mark.parametrize("answer", ["J", "O"])
def test_modify_refused_at_the_in_doubt_deadline_when_cboe_applies_it_with_leaves_0_then_the_order_ends(
    tmp_path: Path, answer: str
) -> None:
    """rev58boe s16: the Modify's copy refused ``D`` and no answer to the original within 5 s (CancelRejected
    BOE_ANSWER_LOST, lapsed); then, live, Cboe reports 60 executed and the Modify applied with LeavesQty 0."""
    link = _link(tmp_path, answer)
    link.connect()
    order = make_order(1, price=RESTING)
    link.send_new(order)
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    link.send_replace(order, 50, order.price)
    new = split_ref(order.pending_ref)[0]
    _cut_then_copies_refused_first(link)
    _wait_in_doubt_timeout(link)
    [refused] = [e for e in link.events if isinstance(e, VenueCancelRejected)]
    assert refused.code == "BOE_ANSWER_LOST" and order.state is OrderState.LIVE
    _fill_then_apply(link, old, new, answer)
    link.pump()
    [canceled] = [e for e in link.events if isinstance(e, VenueCanceled)]
    assert canceled.reason == "NOTHING_LEFT"
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 60, 0)
    assert _cancels(link) == []  # the old code: a Cancel of the finished order
    assert link.venue.counters["late_answers"] == 1


def test_lapsed_modify_applied_with_leaves_0_while_another_modify_is_in_flight_then_its_refusal_ends_the_order(
    tmp_path: Path,
) -> None:
    """The order cannot take a late resize with a Modify in flight; with LeavesQty 0 Cboe has nothing to cancel
    either: that Modify's refusal (``O``, nothing open at Cboe) ends the order, nothing else sent."""
    link = _link(tmp_path, "O")
    link.connect()
    order = make_order(1, price=RESTING)
    link.send_new(order)
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    link.send_replace(order, 50, order.price)
    new = split_ref(order.pending_ref)[0]
    _cut_then_copies_refused_first(link)
    _wait_in_doubt_timeout(link)
    assert order.state is OrderState.LIVE
    _fill_then_apply(link, old, new, "O")
    link.core.hold = True  # the second Modify waits inside Cboe behind the answers above
    link.send_replace(order, 80, order.price, pump=False)
    link.venue.flush()
    link.pump()
    assert (order.state, order.cum_qty) == (OrderState.PENDING_REPLACE, 60)
    assert _cancels(link) == []
    assert link.core.release_held(link.connection) == 1  # refused O: the order is gone at Cboe
    link.pump()
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 60, 0)
    assert _cancels(link) == []


def test_cancel_owed_during_the_replay_when_sent_for_the_first_time_then_info_not_the_again_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev58boe finding 2: a New Order answered BOE_SESSION_ENDED at ``D``, acknowledged in the replay, is canceled at
    Cboe after Replay Complete; that Cancel's first and only send is INFO, not the WARNING "sent (again)"."""
    link = _link(tmp_path, "O")
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    link.core.hold = True
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    cl_ord_id = split_ref(order.venue_ref)[0]
    link.disconnect()
    _refuse_logins_d(link, engine)
    assert order.state is OrderState.REJECTED
    link.core.streams.ended = False
    assert link.core.release_held() == 1
    assert link.venue.reconnect()
    with caplog.at_level(logging.INFO, logger="venues.boe.adapter"):
        link.connect()
        _pump(link, engine)
    assert _cancels(link) == ["cancelled"]  # sent once
    [line] = [r for r in caplog.records if f"ClOrdID {cl_ord_id} sent" in r.getMessage()]
    assert line.levelno == logging.INFO  # the old code: WARNING
    assert line.getMessage() == (
        f"venue cboe: Cancel Order of ClOrdID {cl_ord_id} sent after the replay (Cboe rejects cancels during one): "
        "Cboe showed the order working after it had ended here"
    )
    assert "(again)" not in caplog.text


def test_lapsed_modify_applied_with_leaves_0_while_a_cancel_is_in_flight_then_the_canceled_answers_it(
    tmp_path: Path,
) -> None:
    """The strategy's Cancel (under the order's old ClOrdID) waits inside Cboe when the late Order Modified with
    LeavesQty 0 arrives: the order ends NOTHING_LEFT, which answers the Cancel; Cboe's refusal of it (``O``: no
    order by that ClOrdID) is then ignored, not a second answer, and nothing else is sent."""
    link = _link(tmp_path, "O")
    link.connect()
    order = make_order(1, price=RESTING)
    link.send_new(order)
    old = split_ref(order.venue_ref)[0]
    link.core.hold = True
    link.send_replace(order, 50, order.price)
    new = split_ref(order.pending_ref)[0]
    _cut_then_copies_refused_first(link)
    _wait_in_doubt_timeout(link)
    _fill_then_apply(link, old, new, "O")
    link.core.hold = True  # the Cancel waits inside Cboe behind the answers above
    link.send_cancel(order, pump=False)
    link.venue.flush()
    link.pump()
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 60, 0)
    count = len(link.events)
    assert link.core.release_held(link.connection) == 1
    link.pump()
    assert _cancels(link) == ["cancel-rejected:O"]  # the strategy's own Cancel only
    assert link.events[count:] == []  # the refusal answers nothing more
    assert link.venue.status()["late_cancels_waiting"] == 0
