"""``gateway venue set-seq --next-sender`` and the refusing Logout, against the QuickFIX acceptor over loopback.

fixfix54b (rev54fix s6, s15, s1, s13, s4): a new order goes out, the venue drops the connection without taking it,
then refuses our Logon as numbered too low ("expecting N"). The operator sets our number to N and reconnects: the
venue holds every number below N from us whatever it carried, and never asks for them again, so the order sent at
one of them is in doubt. Before fixfix54b nothing asked about it: it stayed pending for good with its exposure (its
cancel refused UNKNOWN_ORDER). Now the first logon asks about every request still unanswered (OrderStatusRequest
here), and the venue's answer settles it. The refusing Logout itself is taken as received at the next logon
(QuickFIX numbers it): before, that logon asked for it again with a ResendRequest. A set-seq the schedule's daily
reset drops before any Logon carried it is logged (before: without a word). Real FixVenue + VenueConnector; the
events are applied to the order as the engine does, and ``after_replay`` is called on UP as the core does.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import OrderState, mark_sent
from model.venue_events import VenueState
from venues.connector import VenueConnector
from venues.fix.fields import MsgType
from venues.fix.session.schedule import SessionSchedule

from .helpers import make_order
from .live import GatewaySide, running_simulator, wait_until
from .test_loopback_login_refused_schedule import _refused, _tomorrow_at

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(
    ("dialect", "question_type"),
    [("broker-fix44", MsgType.ORDER_STATUS_REQUEST), ("equities-fix42", MsgType.ORDER_CANCEL_REQUEST)],
    ids=["status-request", "asking-cancel"],
)
async def test_set_seq_next_sender_when_an_order_was_dropped_before_the_refusal_then_asked_about_and_settled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, dialect: str, question_type: bytes
) -> None:
    with running_simulator(tmp_path / "sim", dialect) as sim:
        side = GatewaySide(sim, tmp_path / "store")
        order = make_order(7, symbol="MSFT", qty=10)
        side.apply_to(order)  # the engine's part
        await side.start()
        sim.drop_next_input(1)  # the venue loses our NewOrderSingle before taking it
        ref = side.send(order)
        mark_sent(order, ref)
        await wait_until(lambda: sim.relay.dropped_input, 10.0, "the order lost on the venue's side")
        await side.connector.stop()  # the link drops (no Logout)
        assert not sim.messages("in", MsgType.NEW_ORDER_SINGLE)
        ours = side.venue.session.next_sender_seq
        sim.set_next_target_seq(ours + 20)  # the venue desk: "we expect ours + 20"
        side.connector = VenueConnector(side.venue, "127.0.0.1", sim.port, after_input=side.venue.flush)
        side.task = side.connector.start()
        await wait_until(lambda: side.venue.state is VenueState.LOGIN_REFUSED, 10.0, "LOGIN_REFUSED")
        await wait_until(lambda: side.task is not None and side.task.done(), 5.0, "the connector to stop")
        refusal = sim.next_sender_seq() - 1  # the refusing Logout took a number of the venue's
        assert refusal in side.venue.session.refusals  # received: the next logon does not ask for it
        refused_next = side.venue.session.next_sender_seq  # our refused Logon took ``ours``
        assert side.venue.set_sequence_numbers(ours + 20, 0) == ""
        assert side.venue.reconnect() and side.connector.restart()
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            await side.wait_up(10.0)
            side.venue.after_replay([UnansweredRequest(order, RequestKind.NEW, ref)])  # the core's call on UP
            side.venue.flush()
            # before fixfix54b: no question, the order PENDING_NEW for good
            await wait_until(lambda: sim.messages("in", question_type), 10.0, "the question")
            await wait_until(lambda: order.state is not OrderState.PENDING_NEW, 10.0, "the answer applied")
        (question,) = sim.messages("in", question_type)
        assert ref.encode() in (question.get(b"11"), question.get(b"41"))  # the status request's, the cancel's orig
        assert order.is_terminal  # the venue never had it: refused, no exposure left
        assert not sim.messages("in", MsgType.RESEND_REQUEST)  # the refusing Logout was not asked for again
        lines = [r.getMessage() for r in caplog.records if "raised our MsgSeqNum" in r.getMessage()]
        assert len(lines) == 1 and f"from {refused_next} to {ours + 20}" in lines[0], lines
        assert "1 request(s) still unanswered" in lines[0]
        await side.stop()


async def test_set_seq_when_the_schedule_resets_before_any_logon_carried_it_then_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daily = SessionSchedule(start_time="17:00:00", end_time="17:00:00")  # 24 hours, a new session at 17:00
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        with caplog.at_level(logging.WARNING, logger="venues.fix"):
            side = await _refused(sim, tmp_path / "store", daily, _tomorrow_at(16, 59, 53))
            wanted = side.venue.session.next_sender_seq + 40
            assert side.venue.set_sequence_numbers(wanted, 0) == ""  # set, but no reconnect before 17:00
            sim.set_next_target_seq(1)  # the venue's new session day
            sim.set_next_sender_seq(1)
            await side.wait_up(20.0)
        assert side.venue.session.store.next_sender_seq == 2  # the daily reset: the operator's number is gone
        lines = [r.getMessage() for r in caplog.records if "set by the operator" in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in caplog.records]  # before fixfix54b: without a word
        assert f"next sent {wanted}" in lines[0] and "dropped unused" in lines[0]
        await side.stop()


async def test_set_seq_next_sender_when_gateway_restarted_before_the_logon_then_the_dropped_order_asked_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fix55: the mark "our number was raised: ask about every request unanswered at the next logon" lived only in
    the adapter's memory. A gateway restarted between the set-seq and that logon logged on with the raised number
    (from the store) and asked nothing: the order the venue dropped stayed PENDING_NEW for good, with its exposure.
    Now the mark is in the message store, cleared once the questions are asked. (The venue desk gave the number
    before any Logon was refused here: a refusing Logout would take a number of the venue's, which a restarted
    gateway asks for, and the gap fill over it asks about the open orders on its own.)"""
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        store = tmp_path / "store"
        side = GatewaySide(sim, store)
        order = make_order(7, symbol="MSFT", qty=10)
        side.apply_to(order)  # the engine's part
        await side.start()
        sim.drop_next_input(1)  # the venue loses our NewOrderSingle before taking it
        ref = side.send(order)
        mark_sent(order, ref)
        await wait_until(lambda: sim.relay.dropped_input, 10.0, "the order lost on the venue's side")
        await side.connector.stop()  # the link drops (no Logout)
        ours = side.venue.session.next_sender_seq
        sim.set_next_target_seq(ours + 20)  # the venue desk: "we expect ours + 20"
        assert side.venue.set_sequence_numbers(ours + 20, 0) == ""  # while DISCONNECTED
        assert side.venue.session.store.raised_by_operator == (ours, ours + 20)
        side.venue.close()  # the gateway stops before logging on again

        restarted = GatewaySide(sim, store)  # a new process: the order restored from the journal
        assert restarted.venue.session.next_sender_seq == ours + 20
        restarted.venue.restore(order, ref)
        restarted.apply_to(order)
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            restarted.task = restarted.connector.start()
            await restarted.wait_up(10.0)
            restarted.venue.after_replay([UnansweredRequest(order, RequestKind.NEW, ref)])  # the core's call on UP
            restarted.venue.flush()
            # before fix55: no question, the order PENDING_NEW for good
            await wait_until(lambda: sim.messages("in", MsgType.ORDER_STATUS_REQUEST), 10.0, "the question")
            await wait_until(lambda: order.state is not OrderState.PENDING_NEW, 10.0, "the answer applied")
        assert not sim.messages("in", MsgType.RESEND_REQUEST)  # no gap: only the mark asked
        (question,) = sim.messages("in", MsgType.ORDER_STATUS_REQUEST)
        assert question.get(b"11") == ref.encode()
        assert order.is_terminal  # the venue never had it: refused, no exposure left
        lines = [r.getMessage() for r in caplog.records if "raised our MsgSeqNum" in r.getMessage()]
        assert len(lines) == 1 and f"from {ours} to {ours + 20}" in lines[0], lines
        assert restarted.venue.session.store.raised_by_operator == (0, 0)  # asked: cleared in the store
        await restarted.stop()

        again = GatewaySide(sim, store)  # restarted once more: the mark is gone, nothing asked
        await again.start(10.0)
        again.venue.after_replay([])
        again.venue.flush()
        await asyncio.sleep(0.5)
        assert len(sim.messages("in", MsgType.ORDER_STATUS_REQUEST)) == 1
        await again.stop()
