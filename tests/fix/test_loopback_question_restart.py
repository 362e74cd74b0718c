"""Status questions across a gateway restart, a Reset-mode skip and the venue's own reports (QuickFIX acceptor).

rev45fix 1 (HIGH): a new order gap-filled on the venue's resend request (the broker dialect never replays
business messages) is asked about with an OrderStatusRequest; the venue holds its acknowledgment and the answer,
and the gateway is killed. The question lived in memory only: after the restart the venue's answer (resent
PossDupFlag=Y at the logon) was counted ``ignored_exec_reports`` ("a status we did not ask for"), the fill of 40
never reached the strategy nor risk, the order stayed PENDING_NEW for good; a venue that had not answered was
never asked again and ``questions_open`` said 0. Now the restarted adapter takes the question back from the
message store and asks it again once logged on.

rev45fix 2: a SequenceReset in Reset mode (123=N) skipping numbers lost the reports among them silently (no
count, no question); it is now treated as a GapFill over reports.

rev45fix 3: the venue's own report answering the request a status question is about (its New, a fill) settles
the question: ``questions_open`` returns to 0 then, and the late answer is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from gateway.protocol.messages import Executed
from model.order import Order, OrderState
from simulators.fix.sim_book import Report
from simulators.fix.simulator import FixSimulator
from tests.harness import Rig
from venues.fix.fields import MsgType

from .live import GatewaySide, wait_until
from .loopback import journaled_rig, kill_gateway, restarted_gateway, resting_order

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


class _Holding:
    """Make the simulated venue take new orders and status questions but hold its answers (kept here)."""

    def __init__(self, sim: FixSimulator) -> None:
        self.sim = sim
        self.book = sim.book
        self.on_new = sim.book.on_new
        self.on_status = sim.book.on_status
        self.new_reports: list[Report] = []
        self.status_reports: list[Report] = []
        sim.book.on_new = self._new  # type: ignore[method-assign]
        sim.book.on_status = self._status  # type: ignore[method-assign]

    def _new(self, session: str, fields: Mapping[bytes, bytes], poss_dup: bool = False) -> list[Report]:
        self.new_reports.extend(self.on_new(session, fields, poss_dup))
        return []

    def _status(self, session: str, fields: Mapping[bytes, bytes]) -> list[Report]:
        self.status_reports.extend(self.on_status(session, fields))
        return []

    def answer_again(self) -> None:
        """Answer from now on."""
        self.book.on_new = self.on_new  # type: ignore[method-assign]
        self.book.on_status = self.on_status  # type: ignore[method-assign]


async def _asked_about_new_order(sim: FixSimulator, side: GatewaySide, rig: Rig, qty: int) -> tuple[Order, _Holding]:
    """Send an order the venue takes without answering; its resend request gap-fills it: the gateway asks."""
    holding = _Holding(sim)
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=qty, venue="FIXV", symbol="MSFT")  # no reference price: it rests
    order = rig.order("S1", "A")
    await wait_until(lambda: holding.new_reports, 15.0, "the venue to take the order")
    sim.set_next_target_seq(sim.next_target_seq() - 1)  # the venue asks for the order again: gap-filled
    await wait_until(lambda: sim.messages("in", MsgType.ORDER_STATUS_REQUEST), 15.0, "the status question")
    assert side.venue.status()["questions_open"] == 1
    assert order.state is OrderState.PENDING_NEW
    return order, holding


@pytest.mark.parametrize("answered_while_down", [True, False])
async def test_question_out_when_gateway_killed_then_taken_back_and_the_answer_applied_once(
    broker: FixSimulator, tmp_path: Path, answered_while_down: bool
) -> None:
    path = tmp_path / "gw.journal"
    first = await GatewaySide(broker, tmp_path / "store").start()
    rig = journaled_rig(first, path)
    order, holding = await _asked_about_new_order(broker, first, rig, 40)
    rig.engine.flush()
    last_seq = rig.engine.strategies["S1"].next_seq - 1

    await kill_gateway(first, rig)  # kill -9: the question out was in memory only
    broker.drop_connection()
    await wait_until(lambda: not broker.logged_on, 15.0, "the acceptor to see the disconnect")
    holding.answer_again()
    if answered_while_down:  # the venue fills the order and answers the question while the gateway is away
        key = broker.session_key()
        assert holding.book.execute(key, order.venue_ref.encode(), 40)  # its report held, as the ack was
        (question,) = broker.messages("in", MsgType.ORDER_STATUS_REQUEST)
        for msg_type, body in holding.on_status(key, question.message.fields):
            broker.send(msg_type, body)  # stored by QuickFIX, resent PossDupFlag=Y at the next logon
    second, rig2 = restarted_gateway(broker, tmp_path / "store", path)
    again = rig2.order("S1", "A")
    assert again.state is OrderState.PENDING_NEW
    try:
        link2 = rig2.connect("S1", last_seq=last_seq)
        link2.received()
        await second.start()
        venue = second.venue
        if answered_while_down:  # before rev45fix: ignored, PENDING_NEW for good
            await wait_until(lambda: again.state is OrderState.FILLED, 15.0, "the answer's fill")
            rig2.engine.flush()
            fills = [(m.qty, m.cum_qty) for m in link2.received() if isinstance(m, Executed)]
            assert fills == [(40, 40)]
            assert sum(qty for _oid, qty, _px in rig2.risk.executions) == 40
            assert venue.status()["open_orders"] == 0  # ended by the answer: no longer tracked
        else:  # before rev45fix: nothing asked, questions_open 0, PENDING_NEW for good
            await wait_until(lambda: again.state is OrderState.LIVE, 15.0, "the answer to the question asked again")
            assert venue.counters["status_requests_sent"] == 1
            questions = broker.messages("in", MsgType.ORDER_STATUS_REQUEST)
            assert [q.get(b"11") for q in questions] == [order.venue_ref.encode()] * 2
        await wait_until(lambda: venue.status()["questions_open"] == 0, 15.0, "no question out")
        assert venue.counters["unknown_cl_ord_id"] == 0
        assert broker.book.duplicates == 0
    finally:
        await second.stop()
        rig2.engine.journal.close()


async def test_sequence_reset_reset_mode_over_a_fill_then_counted_and_the_order_asked(
    broker: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    venue = gateway.venue
    broker.drop_output()
    assert broker.execute(order.venue_ref, 30)  # its report never arrives
    await wait_until(lambda: broker.relay.dropped, 15.0, "the fill report to be lost")
    skipped = venue.session.next_target_seq
    broker.release_output()
    broker.send_sequence_reset(broker.next_sender_seq() + 5)  # Reset mode, over the fill's number
    await wait_until(lambda: order.cum_qty == 30, 15.0, "the fill from the status answer")  # before: lost
    assert venue.session.next_target_seq > skipped + 5
    assert venue.session.counters["gap_filled_unseen"] >= 1
    assert venue.counters["gap_fills_with_open_orders"] == 1
    assert venue.counters["status_requests_sent"] == 1
    await wait_until(lambda: venue.status()["questions_open"] == 0, 15.0, "no question out")
    rig.engine.flush()
    assert [(m.qty, m.cum_qty) for m in link.received() if isinstance(m, Executed)] == [(30, 30)]


async def test_question_out_when_the_venue_reports_the_order_then_settled_and_the_late_answer_ignored(
    broker: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    venue = gateway.venue
    order, holding = await _asked_about_new_order(broker, gateway, rig, 100)
    await wait_until(lambda: holding.status_reports, 15.0, "the venue to hold its answer")
    for msg_type, body in holding.new_reports:
        broker.send(msg_type, body)  # the venue's New, late
    assert broker.execute(order.venue_ref, 30)
    await wait_until(lambda: order.cum_qty == 30, 15.0, "the New and the fill")
    assert order.state is OrderState.LIVE
    assert venue.status()["questions_open"] == 0  # before rev45fix: 1 until the answer came, if ever
    ignored = venue.counters["ignored_exec_reports"]
    for msg_type, body in holding.status_reports:
        broker.send(msg_type, body)  # the late answer (New, CumQty 0): finds no question out
    await wait_until(lambda: venue.counters["ignored_exec_reports"] == ignored + 1, 15.0, "the late answer")
    assert (order.state, order.cum_qty) == (OrderState.LIVE, 30)
