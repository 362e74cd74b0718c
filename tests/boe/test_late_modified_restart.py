"""BOE: a Modify reported refused at the in-doubt deadline, a gateway restart, then Cboe applies it (venfix40 item 1).

Stop 39 applies an Order Modified that comes after the deadline (``VenueReplaced.late_qty``), but only in the
process that reported the Modify refused: the adapter's note of the Modify (``_Tracked.lapsed``) lived in memory.
After a restart the late Modified named a ClOrdID no order had: logged and counted (``unknown_cl_ord_id``), not
applied, while Cboe worked the order at the new size. The refusal now says the Modify may still be applied
(``VenueCancelRejected.lapsed``), the journal keeps it, recovery puts it on the order (``Order.venue_lapsed``) and
the new adapter maps its ClOrdID again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, CancelRejected, NewOrder, Replace
from model.enums import Side
from model.order import OrderState
from tests.boe.harness import gateway_over
from tests.boe.test_late_answers import _wait_in_doubt_timeout
from tests.boe.test_modify_up_crossed_by_fill import RESTING, _events, _link, _pump, _risk
from tests.boe.test_zero_leaves_restart import _restart
from venues.boe.adapter import split_ref


@pytest.mark.parametrize("restart", [False, True])
def test_modify_refused_at_the_deadline_when_cboe_applies_it_after_a_restart_then_replaced(
    tmp_path: Path, restart: bool
) -> None:
    link = _link(tmp_path)
    journal = tmp_path / "journal"
    engine, rig = gateway_over(link, journal)
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    link.core.hold = True
    rig.send(strat, Replace("A", 150, RESTING - 100))
    _pump(link, engine)
    modify = split_ref(order.pending_ref)[0]
    link.core.duplicates_first = True
    link.disconnect(lose_unsent=False)
    link.connect()  # the copy is refused D at once; the original is still held inside Cboe
    _pump(link, engine)
    _wait_in_doubt_timeout(link)
    engine.flush()
    [refused] = [m for m in strat.received() if isinstance(m, CancelRejected)]
    assert refused.code == "BOE_ANSWER_LOST"
    assert "the order takes its quantity and price here (Replaced)" in refused.text  # before: "cancels the order"
    assert (order.state, order.qty) == (OrderState.LIVE, 100)
    if restart:
        engine, rig = _restart(link, engine, journal)
        strat = rig.connect("S1")  # every event again
        link.connect()
        _pump(link, engine)
        order = engine.orders[order.order_id]
        assert (order.state, order.qty) == (OrderState.LIVE, 100)
    link.clock.advance_ms(30_000)
    assert link.core.release_held(link.connection) == 1  # Cboe applies the Modify, long after the cut
    _pump(link, engine)
    assert _events(strat)[-1] == ("Replaced", 150, 150)  # the old code, restarted: nothing (unknown ClOrdID)
    assert (order.state, order.qty, order.price, order.leaves_qty) == (OrderState.LIVE, 150, RESTING - 100, 150)
    assert split_ref(order.venue_ref)[0] == modify and order.venue_lapsed is None
    assert link.venue.counters["unknown_cl_ord_id"] == 0 and link.venue.counters["late_answers"] == 1
    assert engine.counters.venue_events_out_of_place == 0
    assert _risk(engine).changes[-1] == (order.order_id, 100, 150)  # risk is told the open quantity grew
    rig.send(strat, Cancel("A"))  # names the Modify's ClOrdID, which Cboe knows the order by
    _pump(link, engine)
    assert _events(strat)[-1] == ("Canceled", 150, 0, "USER_REQUESTED")
    assert link.core.exchange.orders == {} and link.core.exchange.violations == []
