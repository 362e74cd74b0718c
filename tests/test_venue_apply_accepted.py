"""``gateway.venue_apply.accepted``: the venue's accepted quantity and price become the order's (fixouch42).

Shared by the engine and recovery (and every venue: OUCH Order Accepted's Quantity and Price, FIX OrderQty
and Price on the acknowledgement; BOE reports the order's own), so a restart rebuilds the same order.
"""

from __future__ import annotations

import pytest

from gateway.protocol.messages import Canceled, OrderAccepted, OrderEvent
from gateway.venue_apply import NEXT_STATE, accepted
from model.enums import OrderType
from model.order import OrderInput, OrderState, fire, next_state, request
from model.venue_events import VenueAccepted
from tests.ouch.harness import make_order

PRICE = 1_502_400


@pytest.mark.parametrize(
    ("qty", "price", "expected"),
    [
        (100, PRICE, (100, PRICE, 100)),  # as sent: unchanged
        (60, PRICE, (60, PRICE, 60)),  # fewer shares accepted: the order and its open quantity follow
        (100, PRICE - 300, (100, PRICE - 300, 100)),  # another price: the order rests at it
        (0, 0, (100, PRICE, 100)),  # nothing said (0): the order's own
    ],
)
def test_accepted_when_the_venue_names_a_quantity_and_price_then_the_order_takes_them(
    qty: int, price: int, expected: tuple[int, int, int]
) -> None:
    order = make_order(1, price=PRICE)
    request(order, OrderInput.SEND)
    out: list[OrderEvent] = []

    event = accepted(order, VenueAccepted(1, 1, "X1", qty, price), 5, out)

    assert (order.qty, order.price, order.leaves_qty) == expected
    assert event == OrderAccepted(5, order.cl_ord_id, "X1", expected[0], price)
    assert order.state is OrderState.LIVE and out == []


def test_accepted_when_a_market_order_is_accepted_at_a_price_then_it_keeps_no_limit() -> None:
    order = make_order(1, price=0, ord_type=OrderType.MARKET)
    request(order, OrderInput.SEND)

    event = accepted(order, VenueAccepted(1, 1, "X1", 100, PRICE), 5, [])

    assert order.price == 0  # risk keeps valuing it at the reference price
    assert isinstance(event, OrderAccepted) and event.price == PRICE


def test_accepted_when_dead_at_a_smaller_quantity_then_the_accepted_shares_are_canceled() -> None:
    order = make_order(1, price=PRICE)
    request(order, OrderInput.SEND)
    out: list[OrderEvent] = []

    accepted(order, VenueAccepted(1, 1, "X1", 60, PRICE, "DEAD", "dead"), 5, out)

    assert out == [Canceled(6, order.cl_ord_id, 60, 0, "DEAD", "dead")]
    assert order.state is OrderState.CANCELED and order.qty == 60


def test_accepted_when_out_of_place_then_the_order_is_unchanged() -> None:
    order = make_order(1, price=PRICE)  # never sent: an acknowledgement is out of place

    assert accepted(order, VenueAccepted(1, 1, "X1", 60, PRICE - 300), 5, []) is None
    assert (order.qty, order.price, order.leaves_qty, order.state) == (100, PRICE, 100, OrderState.CREATED)


def test_next_state_when_compared_with_the_order_table_then_the_same_for_every_state_and_input() -> None:
    """The hot path's inline ``fire`` (the ack here, the send in ``Engine``) reads a copy of ``model.order``'s table."""
    for state in OrderState:
        for event in OrderInput:
            assert NEXT_STATE[state + event] == next_state(state, event), (state, event)
    assert len(NEXT_STATE) == len(OrderState) * len(OrderInput)


@pytest.mark.parametrize("state", list(OrderState))
def test_accepted_when_the_order_is_in_any_state_then_moves_it_as_fire_does(state: OrderState) -> None:
    order = make_order(1, price=PRICE)
    order.state = state
    twin = make_order(1, price=PRICE)
    twin.state = state
    out: list[OrderEvent] = []

    event = accepted(order, VenueAccepted(1, 1, "X1", 100, PRICE), 5, out)

    if fire(twin, OrderInput.ACK):
        assert event == OrderAccepted(5, order.cl_ord_id, "X1", 100, PRICE)
        assert (order.state, order.venue_order_id) == (twin.state, "X1")
    else:  # out of place: nothing changed
        assert event is None
        assert (order.state, order.venue_order_id) == (state, "")
    assert out == []
