"""A fill the venue reports after it canceled the order, over loopback against a real QuickFIX acceptor.

The venue executes 30 of a resting order, but its report is held back (``FixSimulator``'s book executes
without sending, its raw side channel sends the report later); the strategy cancels, the venue cancels the
70 left and the adapter forgets the order's ClOrdIDs. Then the fill's report arrives. Before, the adapter
counted it ``unknown_cl_ord_id`` and the 30 shares never reached the position; now the gateway's engine (a
real ``Engine`` over the real ``FixVenue``) applies it as a late fill and the strategy gets its ``Executed``.
"""

from __future__ import annotations

import pytest

from gateway.protocol.messages import Cancel, Canceled, Executed, OrderAccepted
from model.order import OrderState
from simulators.fix.simulator import FixSimulator
from tests.harness import Rig

from .live import GatewaySide, wait_until
from .loopback import resting_order

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


def _fill_report(ref: str, exec_id: bytes, qty: int) -> list[tuple[bytes, bytes]]:
    """The body of a venue's ExecutionReport (FIX 4.4) of a fill of ``qty`` at 10.00 that ends the order."""
    return [
        (b"37", b"VENUE-OID"),
        (b"17", exec_id),
        (b"11", ref.encode()),
        (b"150", b"F"),
        (b"39", b"2"),
        (b"55", b"MSFT"),
        (b"54", b"1"),
        (b"38", b"100"),
        (b"32", b"%d" % qty),
        (b"31", b"10.00"),
        (b"151", b"0"),
        (b"14", b"%d" % qty),
        (b"6", b"10.00"),
    ]


async def test_fill_when_reported_after_the_venue_canceled_the_order_then_the_position_takes_it(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    venue = gateway.venue
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.send(link, Cancel("A"))
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the cancel")
    assert order.order_id not in venue._orders  # the adapter forgot the order's ClOrdIDs

    # a fill routed away before the cancel, reported after it (its own ClOrdID, the order's first)
    sim.inject_message(b"8", _fill_report(order.venue_ref, b"LATE1", 30))
    await wait_until(lambda: order.cum_qty == 30, 15.0, "the late fill to be applied")
    sim.inject_message(b"8", [*_fill_report(order.venue_ref, b"LATE1", 30), (b"97", b"Y")])  # a PossResend copy
    await wait_until(lambda: venue.counters["fills_after_end"] == 2, 15.0, "the copy to be read")
    rig.engine.flush()
    events = [m for m in link.received() if isinstance(m, (OrderAccepted, Executed, Canceled))]
    assert [type(m).__name__ for m in events] == ["OrderAccepted", "Canceled", "Executed"]
    late = events[-1]
    assert isinstance(late, Executed) and (late.qty, late.cum_qty, late.leaves_qty) == (30, 30, 0)
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 30, 0)
    assert [(oid, qty, px) for oid, qty, px in rig.risk.executions] == [(order.order_id, 30, 100_000)]
    counters = rig.engine.counters
    assert (counters.late_fills, counters.repeated_fills) == (1, 1)
    assert venue.counters["unknown_cl_ord_id"] == 0


async def test_fill_when_its_report_crosses_the_cancel_whose_cum_qty_counted_it_then_not_applied_twice(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    venue = gateway.venue
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    # the venue executes 30; its report is delayed (the book's report, sent later on the raw channel)
    (held,) = sim.book.execute(sim.session_key(), order.venue_ref.encode(), 30)
    rig.send(link, Cancel("A"))
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the cancel")
    assert order.cum_qty == 30  # the Canceled's CumQty 30: the fill counted from it, with no ExecID
    sim.inject_message(*held)
    await wait_until(lambda: venue.counters["fills_after_end"] == 1, 15.0, "the fill's report to be read")
    rig.engine.flush()
    assert order.cum_qty == 30
    assert sum(qty for _oid, qty, _px in rig.risk.executions) == 30
    assert (rig.engine.counters.late_fills, rig.engine.counters.repeated_fills) == (0, 1)
