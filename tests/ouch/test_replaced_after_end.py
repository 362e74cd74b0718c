"""A Replaced arriving after its order filled here leaves nothing untracked at the venue (rev44ouch s13).

The venue fills the original's 100 before it takes the Replace up to 150: its Replaced shows the replacement
live (50 open) under the new UserRefNum while the order is FILLED here. The adapter cancels that number at the
venue at once (``live_after_end``) and a later answer about it is an ended order's, not applied twice.
"""

from __future__ import annotations

from pathlib import Path

from gateway.protocol.messages import Executed, NewOrder, Replace, Replaced
from model.enums import Side
from model.order import OrderState
from tests.ouch.harness import PX, TS, Link, gateway_over
from venues.ouch.codec import decode_inbound, encode_message
from venues.ouch.messages import CancelOrder, OrderCanceled, OrderExecuted, OrderReplaced
from venues.ouch.soupbin import SoupSplitter

RESTING = PX - 100


def test_replaced_after_the_order_filled_when_read_then_the_replacement_is_canceled_at_the_venue(
    tmp_path: Path,
) -> None:
    link = Link(tmp_path / "ouch")
    engine, rig = gateway_over(link, tmp_path / "j1")
    link.connect()
    strat = rig.connect("S1")
    rig.send(strat, NewOrder("a1", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
    engine.flush()
    link.pump()
    engine.flush()
    rig.send(strat, Replace("a1", 150, RESTING))
    engine.flush()  # the Replace (UserRefNum 2) is on the wire; the venue has not read it
    link.core.stream.append(encode_message(OrderExecuted(TS, 1, 100, RESTING, "R", 701)))
    link.core.stream.append(
        encode_message(OrderReplaced(TS, 1, 2, "B", 50, "AAPL", RESTING, "0", "Y", 78, "A", "N", "N", "L", "A"))
    )
    link._to_server.clear()  # the venue's answers above stand in for its reading the Replace
    link.pump()
    engine.flush()

    order = rig.engine.orders[1]
    assert order.state is OrderState.FILLED
    assert [m.qty for m in strat.received() if isinstance(m, Executed)] == [100]
    assert [m for m in strat.received() if isinstance(m, Replaced)] == []
    status = link.venue.status()
    assert (status["live_after_end"], status["late_cancels_waiting"]) == (1, 1)
    sent = [decode_inbound(p[1:]) for p in SoupSplitter().feed(b"".join(link.wire)) if p[0] == ord("U")]
    assert sent[-1] == CancelOrder(2, 0)

    link.core.stream.append(encode_message(OrderCanceled(TS, 2, 50, "U")))  # the venue's answer
    link.pump()
    engine.flush()
    status = link.venue.status()
    assert (status["late_cancels_waiting"], status["unknown_user_ref_num"]) == (0, 0)
    assert order.state is OrderState.FILLED and order.cum_qty == 100
