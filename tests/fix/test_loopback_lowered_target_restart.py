"""``set-seq --allow-lower-target``, a gateway restart before the logon, against the QuickFIX acceptor (fixlogon56b).

The order is acknowledged; the link drops; the venue fills it while the link is down (QuickFIX numbers and stores
the fill, never sent); then its numbering restarts (``setNextSenderMsgSeqNum``: a venue restarted without its
store), so the fill is never resent. Its Logon is refused as numbered too low; the operator accepts the new numbering
at the number its next Logon carries (no gap, so no gap fill asks by accident) and the gateway restarts before that
logon. Before fixlogon56b the first logon asked nothing (rev56merge2 item 1): the order stayed LIVE with nothing
executed while the venue had filled 100. Now the mark the set-seq wrote in the message store makes that logon ask
about every acknowledged open order (OrderStatusRequest), the answer's CumQty brings the fill, and the mark is
cleared. Real FixVenue + VenueConnector + FileStore; ``after_replay`` is called on UP as the core does.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from model.order import OrderState, mark_sent
from model.venue_events import VenueState
from venues.connector import VenueConnector
from venues.fix.fields import MsgType

from .helpers import make_order
from .live import GatewaySide, running_simulator, wait_until

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(90)


async def test_lowered_target_when_gateway_restarted_before_the_logon_then_the_acked_order_asked_and_its_fill_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        store = tmp_path / "store"
        side = GatewaySide(sim, store)
        order = make_order(7)
        side.apply_to(order)  # the engine's part
        await side.start()
        ref = side.send(order)
        mark_sent(order, ref)
        await wait_until(lambda: order.state is OrderState.LIVE, 10.0, "the ack")
        for _ in range(5):  # the venue's numbers run up (to 7), above where they restart
            sim.send_heartbeat()
        await wait_until(lambda: side.venue.session.next_target_seq == 8, 10.0, "the heartbeats")
        await side.connector.stop()  # the link drops (no Logout)
        assert sim.execute(ref, 100)  # filled while the link is down: numbered, stored, never sent
        sim.set_next_sender_seq(1)  # the venue's numbering restarts: the fill is never resent
        side.connector = VenueConnector(side.venue, "127.0.0.1", sim.port, after_input=side.venue.flush)
        side.task = side.connector.start()
        await wait_until(lambda: side.venue.state is VenueState.LOGIN_REFUSED, 10.0, "LOGIN_REFUSED")
        await wait_until(lambda: side.task is not None and side.task.done(), 5.0, "the connector to stop")
        expected = side.venue.session.next_target_seq
        its_next = sim.next_sender_seq()  # the number the venue desk gives: its next Logon's
        assert its_next < expected
        assert side.venue.set_sequence_numbers(0, its_next, lower_target=True) == ""
        assert side.venue.session.store.lowered_by_operator == (expected, its_next)  # written with the number
        side.venue.close()  # the gateway stops before logging on again

        restarted = GatewaySide(sim, store)  # a new process: the order restored from the journal
        assert restarted.venue.session.next_target_seq == its_next
        restarted.venue.restore(order, ref)
        restarted.apply_to(order)
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            restarted.task = restarted.connector.start()
            await restarted.wait_up(10.0)
            restarted.venue.after_replay([])  # the core's call on UP (the order was acknowledged: nothing unanswered)
            restarted.venue.flush()
            # before fixlogon56b: no question, the order LIVE with nothing executed for good
            await wait_until(lambda: sim.messages("in", MsgType.ORDER_STATUS_REQUEST), 10.0, "the question")
            await wait_until(lambda: order.cum_qty == 100, 10.0, "the fill from the answer's CumQty")
        assert not sim.messages("in", MsgType.RESEND_REQUEST)  # no gap: only the mark asked
        (question,) = sim.messages("in", MsgType.ORDER_STATUS_REQUEST)
        assert question.get(b"11") == ref.encode()
        assert order.state is OrderState.FILLED
        lines = [r.getMessage() for r in caplog.records if "lowered the MsgSeqNum expected" in r.getMessage()]
        assert len(lines) == 1 and f"from {expected} to {its_next}" in lines[0], lines
        assert "1 acknowledged open order(s) (OrderStatusRequest)" in lines[0]
        assert restarted.venue.session.store.lowered_by_operator == (0, 0)  # asked: cleared in the store
        await restarted.stop()

        again = GatewaySide(sim, store)  # restarted once more: the mark is gone, nothing asked
        await again.start(10.0)
        again.venue.after_replay([])
        again.venue.flush()
        await asyncio.sleep(0.5)
        assert len(sim.messages("in", MsgType.ORDER_STATUS_REQUEST)) == 1
        await again.stop()
