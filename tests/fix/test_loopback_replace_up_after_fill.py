"""A Replace raising the quantity, crossed by a fill of the whole order, over loopback against a real QuickFIX acceptor.

rev38fix s8 (b) as a test (FIX Appendix D, "Filled order followed by Replace Request to increase quantity"): order
100 acknowledged, a Replace to 120 goes out; the venue fills the 100 (OrdStatus 2), then accepts the Replace
(150=5, 39=1, 38=120, 14=100, 151=20), then fills the last 20. Before fixfix38 the first fill ended the order
FILLED and the Replaced and the 20 were out of place. ``FixSimulator`` (broker-fix44, FIX 4.4) is the acceptor: its
book acknowledges the order and reports the 100; the Replace is kept from its book (lost before QuickFIX reads
it, as if the venue worked it by hand) and its answers come through the raw side channel. The events are applied
to the order as they arrive, as the engine does.
"""

from __future__ import annotations

import pytest

from model.order import OrderState, mark_sent, request_replace
from model.send_result import Sent
from model.venue_events import VenueExecuted, VenueReplaced
from simulators.fix.simulator import FixSimulator
from venues.fix.fields import MsgType

from .helpers import make_order
from .live import GatewaySide, wait_until

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


def _report(
    ref: bytes, orig: bytes, exec_type: bytes, status: bytes, cum: int, leaves: int, last: int
) -> list[tuple[bytes, bytes]]:
    body = [(b"37", b"OID"), (b"17", b"M%d%b" % (cum, exec_type)), (b"11", ref), (b"41", orig), (b"150", exec_type)]
    body += [(b"39", status), (b"55", b"MSFT"), (b"54", b"1"), (b"38", b"120"), (b"44", b"150.25")]
    body += [(b"151", b"%d" % leaves), (b"14", b"%d" % cum), (b"6", b"150.25")]
    if last:
        body += [(b"32", b"%d" % last), (b"31", b"150.25")]
    return body


async def test_replace_up_crossed_by_full_fill_then_replaced_and_last_fill_applied(
    sim: FixSimulator, gateway: GatewaySide
) -> None:
    order = make_order(12, symbol="MSFT")  # no reference price: it rests
    gateway.apply_to(order, must_apply=True)
    ref = gateway.send(order)
    mark_sent(order, ref)
    await gateway.wait_events(1)  # acknowledged

    sim.drop_next_input(1)  # the Replace never reaches the acceptor's book: its answers are injected below
    sent = gateway.venue.send_replace(order, 120, order.price)
    assert isinstance(sent, Sent)
    request_replace(order, 120, order.price, sent.venue_ref)
    gateway.venue.flush()
    g_ref = sent.venue_ref.encode()

    (fill,) = sim.book.execute(sim.session_key(), ref.encode(), 100)  # the venue fills the 100: OrdStatus 2
    assert dict(fill[1])[b"39"] == b"2"
    sim.inject_message(*fill)
    await gateway.wait_events(2)
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.PENDING_REPLACE, 100, 20)

    sim.inject_message(MsgType.EXECUTION_REPORT, _report(g_ref, ref.encode(), b"5", b"1", 100, 20, 0))
    await gateway.wait_events(3)
    assert (order.state, order.qty, order.leaves_qty) == (OrderState.LIVE, 120, 20)

    sim.inject_message(MsgType.EXECUTION_REPORT, _report(g_ref, ref.encode(), b"F", b"2", 120, 0, 20))
    events = await gateway.wait_events(4)
    assert (order.state, order.qty, order.cum_qty, order.leaves_qty) == (OrderState.FILLED, 120, 120, 0)
    assert [type(e) for e in events[1:]] == [VenueExecuted, VenueReplaced, VenueExecuted]
    assert isinstance(events[1], VenueExecuted) and events[1].replace_pending
    await wait_until(lambda: gateway.venue.status()["open_orders"] == 0, 15.0, "the adapter to forget the order")
    assert sim.messages("in", MsgType.REJECT) == []


async def test_replace_up_answered_replaced_with_cum_qty_of_unseen_fill_then_fill_first_and_open_at_new_terms(
    sim: FixSimulator, gateway: GatewaySide
) -> None:
    # brief fixrep39 (1): the 100 executed but its report never came; the venue's Replaced says CumQty 100,
    # LeavesQty 20. The Replaced's CumQty used to be ignored (cum 0, position short by 100)
    order = make_order(13, symbol="MSFT")
    gateway.apply_to(order, must_apply=True)
    ref = gateway.send(order)
    mark_sent(order, ref)
    await gateway.wait_events(1)

    sim.drop_next_input(1)
    sent = gateway.venue.send_replace(order, 120, order.price)
    assert isinstance(sent, Sent)
    request_replace(order, 120, order.price, sent.venue_ref)
    gateway.venue.flush()

    sim.inject_message(MsgType.EXECUTION_REPORT, _report(sent.venue_ref.encode(), ref.encode(), b"5", b"1", 100, 20, 0))
    events = await gateway.wait_events(3)
    assert (order.state, order.qty, order.cum_qty, order.leaves_qty) == (OrderState.LIVE, 120, 100, 20)
    assert [type(e) for e in events[1:]] == [VenueExecuted, VenueReplaced]
    assert isinstance(events[1], VenueExecuted) and (events[1].qty, events[1].replace_pending) == (100, True)
    assert gateway.venue.counters["fills_from_cum_qty"] == 1
    assert sim.messages("in", MsgType.REJECT) == []
