"""Cboe answers the gateway must not apply twice, and an execution that ends an order early (fixboe35).

A unit replayed as new (after Cboe renumbered it, or a venue sending a message again under a new number)
brings back Order Restated, Order Modified and Order Acknowledgment messages the gateway already applied:
a Restated applied again took shares off an order a later Modify had raised, a Modified applied again was
taken as the answer to the Modify in flight, and an Acknowledgment of a canceled order sent a Cancel. An
Order Execution with LeavesQty 0 while shares were still open ended the order in the adapter only: the
strategy's Cancel then went unanswered. Against the sans-IO simulator (``tests.boe.harness.Link``), the
order path through a real engine where the strategy's view matters.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, NewOrder
from model.enums import Side
from model.exactly_once import stream_seq
from model.order import OrderState
from model.venue_events import VenueCanceled, VenueCancelRejected, VenueReplaced, VenueState
from tests.boe.harness import PX, Link, gateway_over, make_order
from venues.boe.adapter import split_ref
from venues.boe.codec import decode_inbound
from venues.boe.messages import (
    CancelOrder,
    LoginRequest,
    OrderAcknowledgment,
    OrderModified,
    OrderRestated,
    ReturnMessage,
    UnitSequences,
)

RESTING = PX - 100
UNIT = 1  # AAPL's matching unit in the harness


def _resend(link: Link, message: ReturnMessage) -> None:
    """Have the unit send ``message`` again under its next sequence number (the exactly-once check lets it in)."""
    link.core.streams.append(UNIT, message)
    link.pump()


def _sent(link: Link, kind: type) -> list[msgspec.Struct]:
    return [m for m in (decode_inbound(w) for w in link.wire) if isinstance(m, kind)]


def test_restated_when_sent_again_after_a_modify_raised_the_order_then_the_order_is_unchanged(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1, price=RESTING)
    cl_ord_id = split_ref(link.send_new(order))[0]
    assert link.core.exchange.restate(cl_ord_id, "S", leaves=60)
    link.pump()
    restated_event = link.events[-1]
    assert isinstance(restated_event, VenueCanceled) and restated_event.reason == "RESTATED"
    assert order.leaves_qty == 60
    link.send_replace(order, 200, RESTING)
    assert (order.state, order.qty, order.leaves_qty) == (OrderState.LIVE, 200, 160)
    (restated,) = [m for m in link.core.streams.messages[UNIT] if isinstance(m, OrderRestated)]
    events = len(link.events)

    _resend(link, restated)
    assert link.events[events:] == []  # was: Canceled 100 (RESTATED), leaves 60 while Cboe had 160 open
    assert (order.state, order.leaves_qty) == (OrderState.LIVE, 160)
    assert link.venue.ignored.get("repeated-restated") == 1


def test_restated_when_sent_again_on_the_same_clordid_then_the_order_is_unchanged(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1, price=RESTING)
    cl_ord_id = split_ref(link.send_new(order))[0]
    assert link.core.exchange.restate(cl_ord_id, "S", leaves=60)
    link.pump()
    (restated,) = [m for m in link.core.streams.messages[UNIT] if isinstance(m, OrderRestated)]
    _resend(link, restated)
    assert [type(e) for e in link.events if isinstance(e, VenueCanceled)] == [VenueCanceled]
    assert (order.state, order.leaves_qty) == (OrderState.LIVE, 60)


def test_modified_when_sent_again_while_another_modify_is_in_flight_then_not_taken_as_its_answer(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1, price=RESTING)
    link.send_new(order)
    link.send_replace(order, 150, RESTING)
    assert (order.state, order.qty, order.leaves_qty) == (OrderState.LIVE, 150, 150)
    (modified,) = [m for m in link.core.streams.messages[UNIT] if isinstance(m, OrderModified)]
    link.send_replace(order, 300, RESTING - 1, pump=False)  # the second Modify is in flight
    link.venue.flush()
    events = len(link.events)

    _resend(link, modified)  # the first Modify's answer again, before Cboe processed the second
    replaced = [(e.leaves_qty, e.price) for e in link.events[events:] if isinstance(e, VenueReplaced)]
    assert replaced == [(300, RESTING - 1)]  # was: (150, RESTING) first, taken as the second Modify's answer
    assert (order.qty, order.leaves_qty, order.price) == (300, 300, RESTING - 1)  # the second Modify's answer
    assert link.venue.ignored.get("repeated-modified") == 1
    assert link.core.exchange.violations == []


def test_acknowledgment_when_sent_again_for_a_canceled_order_then_no_cancel_goes_out(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1, price=RESTING)
    link.send_new(order)
    link.send_cancel(order)
    assert order.state is OrderState.CANCELED
    (ack,) = [m for m in link.core.streams.messages[UNIT] if isinstance(m, OrderAcknowledgment)]
    cancels = len(_sent(link, CancelOrder))

    _resend(link, ack)
    assert len(_sent(link, CancelOrder)) == cancels  # was: a Cancel of the canceled order ("reported refused")
    assert link.venue.counters["late_answers"] == 0
    assert link.venue.ignored.get("repeated-ack") == 1


def test_cancel_rejected_when_the_core_still_has_the_cancel_pending_then_passed_on(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1, price=RESTING)
    cl_ord_id = split_ref(link.send_new(order))[0]
    link.send_cancel(order, pump=False)
    link.venue.flush()
    link.core.exchange.orders.pop(cl_ord_id)  # gone at Cboe before the Cancel: Cancel Rejected O
    link.venue._orders[1].done = True  # the adapter took it as finished, the core did not (white box)
    link.pump()
    last = link.events[-1]  # was: dropped as late-cancel-reject, the Cancel never answered
    assert isinstance(last, VenueCancelRejected) and last.code == "UNKNOWN_ORDER"
    assert order.state is OrderState.LIVE


def test_execution_with_leaves_0_when_shares_still_open_then_the_rest_is_canceled_and_a_cancel_answered(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path / "boe")
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    link.pump()
    engine.flush()
    strat.received()
    order = engine.strategies["S1"].orders["A"]
    cl_ord_id = split_ref(order.venue_ref)[0]
    link.core.exchange.orders[cl_ord_id].leaves = 10  # Cboe ends the order with this fill: LeavesQty 0
    assert link.core.exchange.execute(cl_ord_id, 10)
    link.pump()
    engine.flush()
    received = strat.received()
    assert [(m.qty, m.cum_qty, m.leaves_qty) for m in received if isinstance(m, Executed)] == [(10, 10, 90)]
    assert [(m.canceled_qty, m.leaves_qty, m.reason) for m in received if isinstance(m, Canceled)] == [
        (90, 0, "BOE_LEAVES_ZERO")
    ]  # was: nothing; the order stayed open with 90 shares Cboe no longer had
    assert order.state is OrderState.CANCELED

    rig.send(strat, Cancel("A"))
    link.pump()
    engine.flush()
    answers = [m for m in strat.received() if isinstance(m, (Canceled, CancelRejected))]
    assert len(answers) == 1 and isinstance(answers[0], CancelRejected)  # was: no answer, PENDING_CANCEL for ever
    assert link.core.exchange.violations == []


def test_status_when_logins_refused_in_a_row_then_reason_names_the_real_attempt(tmp_path: Path) -> None:
    link = Link(tmp_path, password="WRONG", max_login_refusals=0)
    reasons = []
    for _ in range(3):
        link.connect()
        link.disconnect()
        delay = link.venue.reconnect_delay_ns(1)
        assert delay is not None
        reasons.append(link.venue.reason)
    assert reasons == [
        "reconnecting in 200 ms (attempt 2)",
        "reconnecting in 400 ms (attempt 3)",
        "reconnecting in 800 ms (attempt 4)",
    ]  # was: "(attempt 1)" each time while the delay doubled


def test_restart_when_the_journal_lists_a_unit_cboe_does_not_have_then_dropped_and_nothing_applied_twice(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path)
    link.connect()
    order = make_order(1, price=RESTING)
    link.send_new(order)
    assert link.core.exchange.execute(split_ref(order.venue_ref)[0], 10)
    link.pump()
    events = list(link.events)
    stray = VenueCanceled(stream_seq(9, 4), 999, 0, "X", "a message on unit 9, never listed")
    link.events.append(stray)  # the journal holds a message of unit 9 (Cboe sent one there once)
    link.restart()
    link.connect()  # lists unit 9: Cboe refuses I (invalid unit)
    assert 9 in link.venue.session.dropped_units
    assert link.states[-1][0] is not VenueState.UP
    link.connect()
    assert link.venue.state is VenueState.UP
    logins = [m for m in (decode_inbound(w) for w in link.wire) if isinstance(m, LoginRequest)]
    units = [g.units for g in logins[-1].param_groups if isinstance(g, UnitSequences)]
    assert all(unit != 9 for group in units for unit, _ in group)
    assert link.events == [*events, stray]  # the day replayed from Cboe's start: every message a repeat
    assert (order.state, order.leaves_qty) == (OrderState.LIVE, 90)
