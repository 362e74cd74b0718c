"""BOE: a Modify re-sent in doubt whose original Cboe answers after the in-doubt deadline (boe39 item 2).

The gateway reports the Modify refused ``IN_DOUBT_TIMEOUT_NS`` (5 s) after the copy's duplicate reject when no answer
to the original came: an unsequenced reject lost in the cut looks the same. Neither the spec nor boe.md bounds how
late Cboe may answer a request it received (reference 7.7: up to 128 messages in flight inside Cboe). The old code
canceled the order at Cboe when the Order Modified came after that (``BOE_ANSWER_LATE``); the order now takes the
size and price Cboe applied (the strategy gets Replaced after its CancelRejected), unless it has ended here: then the
event is out of place (counted) and the order is canceled at Cboe, so nothing works there untracked.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import NewOrder, Replace
from model.enums import Side
from model.order import OrderState
from tests.boe.harness import gateway_over
from tests.boe.test_late_answers import _wait_in_doubt_timeout
from tests.boe.test_modify_up_crossed_by_fill import RESTING, _events, _link, _pump, _risk
from venues.boe.adapter import split_ref


def test_modify_in_doubt_when_cboe_applies_it_after_the_deadline_then_the_strategy_sees_it_replaced(
    tmp_path: Path,
) -> None:
    link = _link(tmp_path)
    engine, rig = gateway_over(link, tmp_path / "journal")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("A", "ACC1", "cboe", "AAPL", Side.BUY, 100, RESTING))
    _pump(link, engine)
    order = engine.strategies["S1"].orders["A"]
    link.core.hold = True
    rig.send(strat, Replace("A", 150, RESTING - 100))
    _pump(link, engine)
    link.core.duplicates_first = True
    link.disconnect(lose_unsent=False)
    link.connect()  # the copy is refused D at once; the original is still held inside Cboe
    _pump(link, engine)
    _wait_in_doubt_timeout(link)
    engine.flush()
    assert _events(strat)[-1][0] == "CancelRejected"
    assert (order.state, order.qty) == (OrderState.LIVE, 100)
    link.clock.advance_ms(30_000)
    assert link.core.release_held(link.connection) == 1  # Cboe applies the Modify, 35 s after the cut
    _pump(link, engine)
    assert _events(strat)[-1] == ("Replaced", 150, 150)  # the old code: Canceled BOE_ANSWER_LATE
    assert (order.state, order.qty, order.price, order.leaves_qty) == (OrderState.LIVE, 150, RESTING - 100, 150)
    assert engine.counters.venue_events_out_of_place == 0
    [live] = link.core.exchange.orders.values()
    assert (live.cl_ord_id, live.leaves) == (split_ref(order.venue_ref)[0], 150)
    assert _risk(engine).changes[-1] == (order.order_id, 100, 150)  # risk is told the open quantity grew
