"""A fill counted from a status answer, then reported again, over loopback against a real QuickFIX acceptor.

rev36fix s14 (c) as a test: the venue executes 30, its report reaches the gateway with LastPx ``23,0``; the
gateway refuses it (session Reject, reason 6) and asks the venue (OrderStatusRequest), whose QuickFIX answer
(CumQty 30, AvgPx) gives the order its 30 with no ExecID. The venue then sends the corrected report again (same
ExecID, PossResend=Y): before fixfix36 it was applied too (60 counted, venue 30). ``FixSimulator`` (broker-fix44,
FIX 4.4) answers the status question from its book; its raw side channel carries the mangled report and the
copy. The events are applied to the order as they arrive, as the engine does, so the adapter sees its count.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.venue_apply import is_repeated_fill
from model.order import OrderState, mark_sent
from model.venue_events import VenueExecuted
from simulators.fix.simulator import FixSimulator
from venues.fix.fields import MsgType

from .helpers import make_order
from .live import GatewaySide, wait_until

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


async def test_refused_fill_when_resent_after_the_status_answer_counted_it_then_not_applied_again(
    sim: FixSimulator, gateway: GatewaySide
) -> None:
    order = make_order(10, symbol="MSFT")  # no reference price: it rests
    gateway.apply_to(order)
    ref = gateway.send(order)
    mark_sent(order, ref)
    await gateway.wait_events(1)

    # The venue executes 30; the report on the wire carries LastPx "23,0" (its copy of the book's report).
    (report,) = sim.book.execute(sim.session_key(), ref.encode(), 30)
    msg_type, body = report
    mangled = [(tag, b"23,0" if tag == b"31" else value) for tag, value in body]
    sim.inject_message(msg_type, mangled)
    await wait_until(lambda: sim.messages("in", MsgType.ORDER_STATUS_REQUEST), 15.0, "the status question")
    (reject,) = sim.messages("in", MsgType.REJECT)
    assert (reject.get(b"373"), reject.get(b"371")) == (b"6", b"31")
    await gateway.wait_events(2)  # the status answer's fill
    assert order.cum_qty == 30

    copy = sim.inject_message(msg_type, [*body, (b"97", b"Y")])  # the corrected report again, same ExecID
    copy_seq = int(copy.partition(b"\x0134=")[2].partition(b"\x01")[0])
    await wait_until(lambda: gateway.venue.session.next_target_seq > copy_seq, 15.0, "the copy to be read")
    assert sim.execute(ref, 20)  # a real fill: 50 of 100
    events = await gateway.wait_events(4)
    await asyncio.sleep(0.2)

    fills = [(e.qty, e.exec_id) for e in events if isinstance(e, VenueExecuted)]
    exec_id = dict(body)[b"17"].decode()
    assert fills[:2] == [(30, ""), (0, exec_id)]
    assert fills[2][0] == 20 and len(fills) == 3
    repeated = events[2]
    assert isinstance(repeated, VenueExecuted) and is_repeated_fill(order, repeated)  # counted as a repeated fill
    assert (order.cum_qty, order.leaves_qty, order.state) == (50, 50, OrderState.LIVE)
    assert len(sim.messages("in", MsgType.REJECT)) == 1  # the copy is valid: no second Reject
    assert sim.book.status_requests == 1
