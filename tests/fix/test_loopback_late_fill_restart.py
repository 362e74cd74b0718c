"""A fill a Canceled's CumQty already counted, reported after a gateway restart, over loopback (QuickFIX acceptor).

rev40rel (HIGH, a fill counted twice): the venue executes 30 of a resting order but holds its report; it cancels
the order with CumQty 30, so the gateway counts the 30 from that CumQty (no ExecID) and the adapter forgets the
order. The gateway is killed and restarted (a new ``FixVenue`` on the same message store, a new engine recovering
the same journal); then the held fill report arrives. The adapter's memory of ended orders did not survive the
restart, so it passed the fill on whole and the engine applied 30 more (cum 60, traded notional too high). Now the
adapter checks the report's CumQty against the order the engine recovered (``VenueAdapter.order_source``): nothing
new, a repeat. A genuine late fill beyond that CumQty is still applied, once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.journal import read_journal
from gateway.protocol.messages import Cancel, Executed
from gateway.recovery import recover
from model.order import OrderState
from simulators.fix.simulator import FixSimulator

from .live import GatewaySide, wait_until
from .loopback import journaled_rig, kill_gateway, restarted_gateway, resting_order

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


def _fill_report(ref: str, exec_id: bytes, last: int, cum: int) -> list[tuple[bytes, bytes]]:
    """The body of a venue's ExecutionReport (FIX 4.4) of a fill of ``last`` at 10.00, CumQty ``cum``, order done."""
    return [
        (b"37", b"VENUE-OID"),
        (b"17", exec_id),
        (b"11", ref.encode()),
        (b"150", b"F"),
        (b"39", b"4"),
        (b"55", b"MSFT"),
        (b"54", b"1"),
        (b"38", b"100"),
        (b"32", b"%d" % last),
        (b"31", b"10.00"),
        (b"151", b"0"),
        (b"14", b"%d" % cum),
        (b"6", b"10.00"),
    ]


async def test_fill_counted_by_a_cancel_s_cum_qty_when_reported_after_a_restart_then_not_applied_again(
    sim: FixSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "gw.journal"
    first = await GatewaySide(sim, tmp_path / "store").start()
    rig = journaled_rig(first, path)
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    # the venue executes 30; its report is held back (sent later on the raw channel)
    (held,) = sim.book.execute(sim.session_key(), order.venue_ref.encode(), 30)
    rig.send(link, Cancel("A"))
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the cancel")
    rig.engine.flush()
    assert order.cum_qty == 30  # from the Canceled's CumQty 30, with no ExecID
    seen = [m for m in link.received() if isinstance(m, Executed)]
    assert [(m.qty, m.exec_id, m.cum_qty) for m in seen] == [(30, "", 30)]
    last_seq = rig.engine.strategies["S1"].next_seq - 1

    # kill -9: the adapter's memory of ended orders goes with the process; the journal and the store stay
    await kill_gateway(first, rig)
    second, rig2 = restarted_gateway(sim, tmp_path / "store", path)  # appends to the same journal
    try:
        await second.start()
        link2 = rig2.connect("S1", last_seq=last_seq)
        link2.received()
        assert order.order_id not in second.venue._ended  # the new adapter never saw the order end

        sim.inject_message(*held)  # the fill's own report: ExecID, LastQty 30, CumQty 30
        await wait_until(lambda: second.venue.counters["fills_after_end"] == 1, 15.0, "the held report to be read")
        rig2.engine.flush()
        again = rig2.order("S1", "A")
        assert (again.state, again.cum_qty, again.leaves_qty) == (OrderState.CANCELED, 30, 0)  # old code: 60
        assert [m for m in link2.received() if isinstance(m, Executed)] == []
        counters = rig2.engine.counters
        assert (counters.repeated_fills, counters.late_fills) == (1, 0)
        assert sum(qty for _oid, qty, _px in rig2.risk.executions) == 30  # recovery's 30, nothing more

        # a genuine late fill beyond that CumQty (20 more, CumQty 50): applied, once
        sim.inject_message(b"8", _fill_report(order.venue_ref, b"LATE2", 20, 50))
        await wait_until(lambda: second.venue.counters["fills_after_end"] == 2, 15.0, "the late fill to be read")
        sim.inject_message(b"8", [*_fill_report(order.venue_ref, b"LATE2", 20, 50), (b"97", b"Y")])  # a copy
        await wait_until(lambda: second.venue.counters["fills_after_end"] == 3, 15.0, "the copy to be read")
        rig2.engine.flush()
        late = [(m.qty, m.exec_id, m.cum_qty, m.leaves_qty) for m in link2.received() if isinstance(m, Executed)]
        assert late == [(20, "LATE2", 50, 0)]
        assert (again.state, again.cum_qty) == (OrderState.CANCELED, 50)
        assert (counters.repeated_fills, counters.late_fills) == (2, 1)
        assert sum(qty for _oid, qty, _px in rig2.risk.executions) == 50
        assert second.venue.counters["unknown_cl_ord_id"] == 0
    finally:
        await second.stop()
        rig2.engine.journal.close()

    # and the journal recovers to the same count: the repeat was journaled with nothing to apply
    assert recover(read_journal(path)).orders[order.order_id].cum_qty == 50
