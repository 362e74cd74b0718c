"""Acknowledged open orders after a numbering reset, through the engine, over loopback (rev43fix44 1 and 2).

The gateway's dialect resets the numbers at every logon (``reset_seq_num_on_logon``), as a daily reset or a
re-created store does: the venue never resends what it sent before. The order is acknowledged, the venue's next
report is lost with the link, both sides restart at 1. The engine's ``on_venue_state`` handed the adapter its
``after_replay`` only when a request was unanswered, and the adapter asks about the acknowledged open orders only
there: with every order acknowledged nothing was asked, a fill of 30 stayed unseen (strategy LIVE 100, traded 0),
and a dialect without OrderStatusRequest skipped its WARNING and ``orders_unchecked_after_reset``. A status
answer saying the order is Rejected (the venue does not have it) was ignored: the order stayed LIVE here.
``FixSimulator`` (a real QuickFIX acceptor) answers the OrderStatusRequest from its book.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.protocol.messages import Canceled, Executed
from model.order import OrderState
from simulators.fix.simulator import FixSimulator
from venues.fix.fields import MsgType

from .live import wait_until
from .loopback import acknowledged_on_resetting, reset_after

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


async def test_reset_when_every_order_acknowledged_and_a_fill_lost_then_asked_about_and_the_fill_applied(
    broker: FixSimulator, tmp_path: Path
) -> None:
    side, rig, link = await acknowledged_on_resetting(broker, tmp_path, "broker-fix44")
    order = rig.order("S1", "A")
    try:
        broker.drop_output()  # the venue's fill report is lost with the link
        assert broker.execute(order.venue_ref, 30)
        await wait_until(lambda: len(broker.messages("out", MsgType.EXECUTION_REPORT)) >= 2, 15.0, "the fill")
        await reset_after(broker, side)
        await wait_until(lambda: order.cum_qty == 30, 15.0, "the status answer's fill")  # old code: never asked
        (question,) = broker.messages("in", MsgType.ORDER_STATUS_REQUEST)
        assert question.get(b"11") == order.venue_ref.encode()
        rig.engine.flush()
        seen = [(m.qty, m.exec_id, m.cum_qty, m.leaves_qty) for m in link.received() if isinstance(m, Executed)]
        assert seen == [(30, "", 30, 70)]
        assert (order.state, order.leaves_qty) == (OrderState.LIVE, 70)
        assert sum(qty for _oid, qty, _px in rig.risk.executions) == 30
    finally:
        await side.stop()


async def test_reset_when_the_venue_no_longer_has_the_order_then_it_ends_canceled_and_counted(
    broker: FixSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    side, rig, link = await acknowledged_on_resetting(broker, tmp_path, "broker-fix44")
    order = rig.order("S1", "A")
    try:
        key = (broker.session_key(), order.venue_ref.encode())
        with broker._lock:  # the venue lost the order (its own reset): OrdStatus 8, OrdRejReason 5
            broker.book.orders.pop(key)
            broker.book.known.pop(key)
        with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
            await reset_after(broker, side)
            await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the order to end")  # old code: LIVE
        rig.engine.flush()
        (canceled,) = [m for m in link.received() if isinstance(m, Canceled)]
        assert (canceled.canceled_qty, canceled.leaves_qty, canceled.reason) == (100, 0, "REJECTED")
        assert "UNKNOWN_ORDER" in canceled.text
        assert side.venue.counters["status_disagreements"] == 1
        assert side.venue.status()["open_orders"] == 0
        assert any("reconcile it with the venue" in r.getMessage() for r in caplog.records)
    finally:
        await side.stop()


async def test_reset_when_no_order_status_request_then_acknowledged_orders_counted_unchecked_and_logged(
    equities: FixSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    side, rig, _link = await acknowledged_on_resetting(equities, tmp_path, "equities-fix42")
    try:
        with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
            await reset_after(equities, side)
            await wait_until(lambda: side.venue.counters["orders_unchecked_after_reset"] == 1, 15.0, "the count")
        assert any("1 open order(s) not checked" in r.getMessage() for r in caplog.records)
        assert equities.messages("in", MsgType.ORDER_CANCEL_REQUEST) == []  # never asked with a cancel
        assert rig.order("S1", "A").state is OrderState.LIVE
    finally:
        await side.stop()
