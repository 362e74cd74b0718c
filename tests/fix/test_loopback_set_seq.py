"""``FixVenue.set_sequence_numbers`` (``gateway venue set-seq``) against the QuickFIX acceptor over loopback (fix53).

A Logon refused as numbered too low (fixfix52: LOGIN_REFUSED) is cured on our side by setting our next MsgSeqNum
to the one the venue expects; ``reconnect`` (``gateway venue reconnect``) then logs on with it. A raised expected
number skips the venue's messages in between: they are never received here, so at the logon every open order is
asked about (OrderStatusRequest), as after a gap fill, and a fill among the skipped messages still reaches the
order. Refused while logged on and for a number going back (nothing changed). The skip is kept in the message store
with the number (fixfix54): a gateway restarted between the set-seq and the logon asks about the open orders too.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from model.order import OrderState, mark_sent
from model.venue_events import VenueExecuted, VenueState
from venues.connector import VenueConnector
from venues.fix.fields import MsgType

from .helpers import make_order
from .live import GatewaySide, running_simulator, wait_until

pytestmark = pytest.mark.timeout(60)


async def test_set_seq_when_login_refused_then_reconnect_logs_on_with_the_venues_number(tmp_path: Path) -> None:
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        store = tmp_path / "store"
        first = await GatewaySide(sim, store).start()
        await first.stop()
        ours = first.venue.session.store.next_sender_seq
        sim.set_next_target_seq(ours + 40)
        side = GatewaySide(sim, store)
        side.task = side.connector.start()
        await wait_until(lambda: side.venue.state is VenueState.LOGIN_REFUSED, 10.0, "LOGIN_REFUSED")
        refused = side.venue.session.next_sender_seq
        assert "below our next MsgSeqNum" in side.venue.set_sequence_numbers(refused - 1, 0)
        assert side.venue.session.next_sender_seq == refused  # nothing changed
        assert side.venue.set_sequence_numbers(ours + 40, 0) == ""
        assert side.venue.state is VenueState.LOGIN_REFUSED  # until the operator's reconnect
        assert side.venue.reconnect() and side.connector.restart()
        await side.wait_up(10.0)
        logons = sim.messages("in", MsgType.LOGON)
        assert logons[-1].get(b"34") == str(ours + 40).encode()
        refusal = side.venue.set_sequence_numbers(ours + 100, 0)
        assert "only while the venue is not logged on" in refusal and "nothing was changed" in refusal
        await side.stop()


async def test_set_seq_when_expected_number_raised_past_a_fill_then_open_order_asked_about_and_fill_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        side = await GatewaySide(sim, tmp_path / "store").start()
        order = make_order(7)
        order.venue_ref = side.send(order)
        await wait_until(lambda: side.events, 10.0, "the order acknowledged")
        await side.connector.stop()  # the link drops (no Logout)
        assert side.venue.session.logged_on is False
        assert sim.execute(order.venue_ref, 30)  # a fill the venue numbers while we are away
        skipped_to = sim.next_sender_seq()  # the venue desk: "we send N next"
        target = side.venue.session.next_target_seq
        assert skipped_to > target
        assert "below the MsgSeqNum expected" in side.venue.set_sequence_numbers(0, target - 1)
        assert side.venue.set_sequence_numbers(0, skipped_to) == ""
        connector = VenueConnector(side.venue, "127.0.0.1", sim.port, after_input=side.venue.flush)
        side.connector = connector
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            side.task = connector.start()
            await side.wait_up(10.0)
            await wait_until(  # the fill's report was skipped: never resent; the status answer reports it
                lambda: any(isinstance(e, VenueExecuted) for e in side.events), 15.0, "the status answer's fill"
            )
        assert not sim.messages("in", MsgType.RESEND_REQUEST)  # the skipped numbers were never asked for
        (question,) = sim.messages("in", MsgType.ORDER_STATUS_REQUEST)
        assert question.get(b"11") == order.venue_ref.encode()
        fills = [e for e in side.events if isinstance(e, VenueExecuted)]
        assert [(e.order_id, e.qty) for e in fills] == [(7, 30)]
        assert any("the operator skipped" in r.getMessage() for r in caplog.records)
        await side.stop()


async def test_set_seq_when_expected_number_raised_then_gateway_restarted_before_logon_then_open_order_asked_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fixfix54: before, the "ask every open order at the next logon" lived only in the adapter's memory: the
    restarted gateway logged on with the raised number (from the store) and asked nothing: the fill among the
    skipped messages never reached the order."""
    with running_simulator(tmp_path / "sim", "broker-fix44") as sim:
        store = tmp_path / "store"
        side = GatewaySide(sim, store)
        order = make_order(7)
        side.apply_to(order, must_apply=True)
        side.task = side.connector.start()
        await side.wait_up(10.0)
        mark_sent(order, side.send(order))  # the engine's part
        await wait_until(lambda: side.events, 10.0, "the order acknowledged")
        assert order.state is OrderState.LIVE, order.state
        await side.connector.stop()  # the link drops (no Logout)
        assert sim.execute(order.venue_ref, 30)  # a fill the venue numbers while we are away
        skipped_to = sim.next_sender_seq()  # the venue desk: "we send N next"
        assert side.venue.set_sequence_numbers(0, skipped_to) == ""
        side.venue.close()  # the gateway stops before logging on again

        restarted = GatewaySide(sim, store)  # a new process: the open order restored from the journal
        assert restarted.venue.session.next_target_seq == skipped_to
        restarted.venue.restore(order, order.venue_ref)
        restarted.apply_to(order, must_apply=True)
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            restarted.task = restarted.connector.start()
            await restarted.wait_up(10.0)
            await wait_until(  # the fill's report was skipped: never resent; the status answer reports it
                lambda: any(isinstance(e, VenueExecuted) for e in restarted.events), 15.0, "the status answer's fill"
            )
        assert not sim.messages("in", MsgType.RESEND_REQUEST)
        (question,) = sim.messages("in", MsgType.ORDER_STATUS_REQUEST)
        assert question.get(b"11") == order.venue_ref.encode()
        fills = [e for e in restarted.events if isinstance(e, VenueExecuted)]
        assert [(e.order_id, e.qty) for e in fills] == [(7, 30)]
        assert (order.cum_qty, order.leaves_qty) == (30, 70)
        assert any("the operator skipped" in r.getMessage() for r in caplog.records)
        assert restarted.venue.session.store.skipped_by_operator == (0, 0)  # asked: cleared in the store
        await restarted.stop()

        again = GatewaySide(sim, store)  # restarted once more: nothing left to ask
        again.venue.restore(order, order.venue_ref)
        await again.start(10.0)
        await asyncio.sleep(0.5)
        assert len(sim.messages("in", MsgType.ORDER_STATUS_REQUEST)) == 1
        assert not [e for e in again.events if isinstance(e, VenueExecuted)]
        await again.stop()
