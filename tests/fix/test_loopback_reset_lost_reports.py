"""Reports lost with a numbering reset, over loopback against a real QuickFIX acceptor (rev37fix s4 B2).

The gateway's dialect resets the numbers at every logon (``reset_seq_num_on_logon``) and has no
OrderStatusRequest. The venue's acknowledgement and a fill of 4 are lost with the link; on the new connection
(both sides start at 1, nothing is resent) the gateway asks about the unanswered order with a cancel, which
``FixSimulator`` (equities-fix42) executes from its book: Canceled, CumQty 4. Before fixfix37 the strategy got
Canceled with nothing executed (4 shares lost: exposure undercounted). The events are applied to the order as
they arrive, as the engine does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import OrderState, mark_sent
from model.venue_events import VenueCanceled, VenueExecuted, VenueState
from simulators.fix.simulator import FixSimulator
from venues.fix.fields import MsgType

from .helpers import make_order
from .live import GatewaySide, wait_until
from .loopback import resetting_dialect

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sim(equities: FixSimulator) -> FixSimulator:
    """Return the equities-fix42 simulator (no OrderStatusRequest: the gateway asks with a cancel)."""
    return equities


async def test_reset_on_logon_when_filled_while_down_and_canceled_on_the_question_then_the_fill_first(
    sim: FixSimulator, tmp_path: Path
) -> None:
    gateway = GatewaySide(sim, tmp_path / "store", dialect=resetting_dialect(tmp_path, "equities-fix42"))
    order = make_order(10, symbol="MSFT", qty=10)  # no reference price: it rests
    gateway.apply_to(order)  # the engine's part
    await gateway.start()
    try:
        sim.drop_output()  # the venue's reports from now on are lost with the link
        ref = gateway.send(order)
        mark_sent(order, ref)
        await wait_until(lambda: sim.messages("in", MsgType.NEW_ORDER_SINGLE), 15.0, "the order at the venue")
        assert sim.execute(ref, 4)
        await wait_until(lambda: len(sim.messages("out", MsgType.EXECUTION_REPORT)) >= 2, 15.0, "ack and fill")
        sim.drop_connection()
        await wait_until(lambda: gateway.venue.state is not VenueState.UP, 15.0, "the link to drop")
        sim.release_output()
        await gateway.wait_up()
        assert gateway.venue.session.next_sender_seq <= 3  # the numbers restarted: nothing will be resent
        gateway.venue.after_replay([UnansweredRequest(order, RequestKind.NEW, ref)])  # the core's call on UP
        gateway.venue.flush()
        await gateway.wait_events(2)
        executed, canceled, *_ = gateway.events
        assert isinstance(executed, VenueExecuted) and (executed.qty, executed.exec_id) == (4, "")
        assert isinstance(canceled, VenueCanceled) and canceled.reason == "CANCELED"
        assert (order.state, order.cum_qty) == (OrderState.CANCELED, 4)
        assert gateway.venue.counters["fills_from_cum_qty"] == 1
    finally:
        await gateway.stop()
