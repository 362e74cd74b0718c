"""Regression (docs/strategy-protocol.md 6.1 and 6.3 promised what the gateway never does): a Replace in flight
when its order ends.

The page said the venue's late answer to the Replace "may still follow" the order's terminal event. The gateway
never sends anything after an order's terminal event (the order model has no way out of FILLED, CANCELED or
REJECTED; a late venue answer is counted as out of place): the terminal event answers the Replace. The page now
says so; this pins the behaviour it describes.
"""

from __future__ import annotations

import pytest

from gateway.protocol.messages import Canceled, Executed, Replace
from tests.harness import Rig


@pytest.mark.parametrize("ending", ["full fill", "venue cancel"])
@pytest.mark.parametrize("late", ["cancel rejected", "replaced"])
def test_replace_when_order_ends_in_flight_then_terminal_event_is_its_only_answer(ending: str, late: str) -> None:
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "A")
    order = rig.order("S1", "A")
    rig.venue.accept(order.order_id)
    rig.engine.flush()
    link.received()
    rig.send(link, Replace("A", 200, 1_000_000))
    if ending == "full fill":
        rig.venue.fill(order.order_id, 100, 1_000_000)
    else:
        rig.venue.cancel(order.order_id, 100)
    if late == "cancel rejected":
        rig.venue.cancel_reject(order.order_id)
    else:
        rig.venue.replaced(order.order_id, 150, 1_000_000)
    rig.engine.flush()
    (terminal,) = link.received()
    assert isinstance(terminal, Executed | Canceled) and terminal.leaves_qty == 0
    assert rig.engine.counters.venue_events_out_of_place == 1
