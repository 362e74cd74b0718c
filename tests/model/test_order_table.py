"""The order state machine alone: every (state, input) pair, and random lives of one order."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.enums import OrderType, Side, TimeInForce
from model.order import (
    HELD_CANCEL_STATES,
    REQUESTS,
    TERMINAL_STATES,
    TRANSITIONS,
    VENUE_INPUTS,
    IllegalTransition,
    Order,
    OrderInput,
    OrderState,
    apply_ack,
    apply_cancel_rejected,
    apply_canceled,
    apply_fill,
    apply_reject,
    apply_replaced,
    can,
    fire,
    new_order_leaves,
    next_state,
    refuse,
    request,
    request_replace,
    table_markdown,
)

S = OrderState
In = OrderInput

_AT_VENUE = (
    S.PENDING_NEW,
    S.PENDING_NEW_CANCEL,
    S.PENDING_NEW_HELD_CANCEL,
    S.LIVE,
    S.PENDING_CANCEL,
    S.PENDING_REPLACE,
    S.PENDING_REPLACE_HELD_CANCEL,
    S.LIVE_HELD_CANCEL,
)

EXPECTED: dict[tuple[OrderState, OrderInput], OrderState] = {
    (S.CREATED, In.SEND): S.PENDING_NEW,
    (S.CREATED, In.REFUSE): S.REJECTED,
    (S.PENDING_NEW, In.ACK): S.LIVE,
    (S.PENDING_NEW, In.REJECT): S.REJECTED,
    (S.PENDING_NEW, In.PARTIAL_FILL): S.LIVE,
    (S.PENDING_NEW, In.REQUEST_CANCEL): S.PENDING_NEW_CANCEL,
    (S.PENDING_NEW, In.HOLD_CANCEL): S.PENDING_NEW_HELD_CANCEL,
    (S.PENDING_NEW_CANCEL, In.ACK): S.PENDING_CANCEL,
    (S.PENDING_NEW_CANCEL, In.REJECT): S.REJECTED,
    (S.PENDING_NEW_CANCEL, In.PARTIAL_FILL): S.PENDING_CANCEL,
    (S.PENDING_NEW_CANCEL, In.CANCEL_REJECT): S.PENDING_NEW,
    (S.PENDING_NEW_HELD_CANCEL, In.ACK): S.LIVE_HELD_CANCEL,
    (S.PENDING_NEW_HELD_CANCEL, In.REJECT): S.REJECTED,
    (S.PENDING_NEW_HELD_CANCEL, In.PARTIAL_FILL): S.LIVE_HELD_CANCEL,
    (S.PENDING_NEW_HELD_CANCEL, In.RELEASE_CANCEL): S.PENDING_NEW_CANCEL,
    (S.PENDING_NEW_HELD_CANCEL, In.DROP_HELD_CANCEL): S.PENDING_NEW,
    (S.LIVE, In.PARTIAL_FILL): S.LIVE,
    (S.LIVE, In.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.LIVE, In.HOLD_CANCEL): S.LIVE_HELD_CANCEL,
    (S.LIVE, In.REQUEST_REPLACE): S.PENDING_REPLACE,
    (S.PENDING_CANCEL, In.PARTIAL_FILL): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, In.CANCEL_REJECT): S.LIVE,
    (S.PENDING_REPLACE, In.PARTIAL_FILL): S.PENDING_REPLACE,
    (S.PENDING_REPLACE, In.REPLACED): S.LIVE,
    (S.PENDING_REPLACE, In.REPLACED_TO_NOTHING): S.CANCELED,
    (S.PENDING_REPLACE, In.CANCEL_REJECT): S.LIVE,
    (S.PENDING_REPLACE, In.HOLD_CANCEL): S.PENDING_REPLACE_HELD_CANCEL,
    (S.PENDING_REPLACE_HELD_CANCEL, In.PARTIAL_FILL): S.PENDING_REPLACE_HELD_CANCEL,
    (S.PENDING_REPLACE_HELD_CANCEL, In.REPLACED): S.LIVE_HELD_CANCEL,
    (S.PENDING_REPLACE_HELD_CANCEL, In.REPLACED_TO_NOTHING): S.CANCELED,
    (S.PENDING_REPLACE_HELD_CANCEL, In.CANCEL_REJECT): S.LIVE_HELD_CANCEL,
    (S.PENDING_REPLACE_HELD_CANCEL, In.DROP_HELD_CANCEL): S.PENDING_REPLACE,
    (S.LIVE_HELD_CANCEL, In.PARTIAL_FILL): S.LIVE_HELD_CANCEL,
    (S.LIVE_HELD_CANCEL, In.RELEASE_CANCEL): S.PENDING_CANCEL,
    (S.LIVE_HELD_CANCEL, In.DROP_HELD_CANCEL): S.LIVE,
    # at the venue, whatever is in flight: the rest of a fill or a cancel keeps the state, the last ends it
    **{(state, In.FULL_FILL): S.FILLED for state in _AT_VENUE},
    **{(state, In.FULL_CANCEL): S.CANCELED for state in _AT_VENUE},
    **{(state, In.PARTIAL_CANCEL): state for state in _AT_VENUE},
}
"""The table spelled out a second time, by hand: what every legal pair must lead to."""


def _order(state: OrderState) -> Order:
    order = Order(1, "S1", "A", "ACC1", "V1", "AAPL", Side.BUY, 100, 1_000_000, TimeInForce.DAY, OrderType.LIMIT)
    new_order_leaves(order)
    # reach ``state`` the way the gateway does (the table is the only way to move an order)
    path = {
        S.CREATED: [],
        S.PENDING_NEW: [In.SEND],
        S.PENDING_NEW_CANCEL: [In.SEND, In.REQUEST_CANCEL],
        S.PENDING_NEW_HELD_CANCEL: [In.SEND, In.HOLD_CANCEL],
        S.LIVE: [In.SEND, In.ACK],
        S.PENDING_CANCEL: [In.SEND, In.ACK, In.REQUEST_CANCEL],
        S.PENDING_REPLACE: [In.SEND, In.ACK, In.REQUEST_REPLACE],
        S.PENDING_REPLACE_HELD_CANCEL: [In.SEND, In.ACK, In.REQUEST_REPLACE, In.HOLD_CANCEL],
        S.LIVE_HELD_CANCEL: [In.SEND, In.ACK, In.HOLD_CANCEL],
        S.FILLED: [In.SEND, In.FULL_FILL],
        S.CANCELED: [In.SEND, In.FULL_CANCEL],
        S.REJECTED: [In.REFUSE],
    }[state]
    for step in path:
        assert fire(order, step)
    assert order.state is state
    return order


def test_table_when_compared_with_the_hand_written_one_then_every_legal_pair_agrees() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize("state", list(OrderState), ids=lambda s: s.name)
@pytest.mark.parametrize("event", list(OrderInput), ids=lambda e: e.name)
def test_every_pair_when_fired_then_moves_as_the_table_says_or_is_refused_and_order_unchanged(
    state: OrderState, event: OrderInput
) -> None:
    order = _order(state)
    expected = EXPECTED.get((state, event))
    assert next_state(state, event) is expected
    assert can(order, event) is (expected is not None)
    if event in VENUE_INPUTS:
        assert fire(order, event) is (expected is not None)
        assert order.state is (expected or state)
    elif expected is not None:
        request(order, event)
        assert order.state is expected
    else:
        with pytest.raises(IllegalTransition, match=f"{event.name} is illegal in state {state.name}"):
            request(order, event)
        assert order.state is state


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES), ids=lambda s: s.name)
def test_terminal_state_when_anything_arrives_then_nothing_moves_it(state: OrderState) -> None:
    assert all(next_state(state, event) is None for event in OrderInput)


@pytest.mark.parametrize("state", sorted(HELD_CANCEL_STATES), ids=lambda s: s.name)
def test_held_cancel_when_dropped_then_every_held_state_goes_back_to_itself_without_it(state: OrderState) -> None:
    # ended60: a kill at a venue whose session ENDED holds its Cancel behind a Replace in flight, then drops it at
    # once; PENDING_REPLACE_HELD_CANCEL had no drop (IllegalTransition, and the journal kept a drop it could not read)
    order = _order(state)
    request(order, In.DROP_HELD_CANCEL)
    assert not order.cancel_held
    assert next_state(order.state, In.HOLD_CANCEL) is state  # the hold it came from


def test_inputs_when_partitioned_then_venue_inputs_and_requests_cover_the_enum_once() -> None:
    assert set(OrderInput) == VENUE_INPUTS | REQUESTS and not VENUE_INPUTS & REQUESTS


def test_apply_functions_when_out_of_place_then_quantities_untouched_too() -> None:
    order = _order(S.FILLED)
    before = (order.cum_qty, order.leaves_qty, order.qty, order.price)
    assert not apply_ack(order, "X")
    assert not apply_fill(order, 10, 1)
    assert apply_canceled(order, 0) is None
    assert not apply_replaced(order, 10, 1, "X")
    assert not apply_cancel_rejected(order)
    assert not apply_reject(order)
    assert (order.cum_qty, order.leaves_qty, order.qty, order.price) == before


# ---- random lives -----------------------------------------------------------------------------------

_steps = st.lists(st.tuples(st.sampled_from(list(OrderInput)), st.integers(1, 150)), max_size=40)


def _act(order: Order, event: OrderInput, amount: int) -> bool:
    """Drive ``event`` through the function the engine uses for it; return whether it applied."""
    before = order.state
    if event is In.ACK:
        return apply_ack(order, "X")
    if event is In.REJECT:
        return apply_reject(order)
    if event in (In.PARTIAL_FILL, In.FULL_FILL):
        qty = order.leaves_qty if event is In.FULL_FILL else max(1, min(amount, order.leaves_qty - 1))
        return apply_fill(order, qty, 1_000_000)
    if event in (In.PARTIAL_CANCEL, In.FULL_CANCEL):
        qty = 0 if event is In.FULL_CANCEL else max(1, min(amount, order.leaves_qty - 1))
        return apply_canceled(order, qty) is not None
    if event in (In.REPLACED, In.REPLACED_TO_NOTHING):
        # as a venue reports it: the new total less what is filled, nothing if fills reached the new total
        leaves = 0 if event is In.REPLACED_TO_NOTHING else max(order.pending_qty - order.cum_qty, 0)
        return apply_replaced(order, leaves, 1_000_100, "Y")
    if event is In.CANCEL_REJECT:
        return apply_cancel_rejected(order)
    if not can(order, event):
        with pytest.raises(IllegalTransition):
            request(order, event)
        assert order.state is before
        return False
    if event is In.REQUEST_REPLACE:
        request_replace(order, order.cum_qty + amount, 1_000_100, "R")
    elif event is In.REFUSE:
        refuse(order)
    else:
        request(order, event)
    return True


@settings(max_examples=400, deadline=None)
@given(steps=_steps)
def test_random_lives_when_any_inputs_arrive_then_invariants_hold(steps: list[tuple[OrderInput, int]]) -> None:
    order = _order(S.CREATED)
    reshaped = False
    for event, amount in steps:
        before = (order.state, order.cum_qty, order.leaves_qty, order.qty, order.pending_qty)
        applied = _act(order, event, amount)
        if not applied:
            assert (order.state, order.cum_qty, order.leaves_qty, order.qty, order.pending_qty) == before
            continue
        if before[0] in TERMINAL_STATES:
            pytest.fail(f"{event.name} moved a terminal order")
        reshaped |= event in (In.PARTIAL_CANCEL, In.REPLACED, In.REPLACED_TO_NOTHING)
        state = order.state
        assert (order.leaves_qty == 0) is (state in TERMINAL_STATES), (event, order)
        if not reshaped and state is not S.REJECTED and state is not S.CANCELED:
            assert order.cum_qty + order.leaves_qty == order.qty, (event, order)
        assert (order.pending_qty > 0) is (state in (S.PENDING_REPLACE, S.PENDING_REPLACE_HELD_CANCEL)), order
        assert order.cancel_held is (state in HELD_CANCEL_STATES)
        if state not in TERMINAL_STATES:
            assert order.cum_qty + order.leaves_qty <= order.qty, (event, order)


def test_architecture_doc_when_it_shows_the_table_then_it_is_the_code_s_table() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    shown = doc.split("<!-- order-table:start -->\n", 1)[1].split("<!-- order-table:end -->", 1)[0]
    assert shown == table_markdown(), (
        "regenerate it: python -c 'from model.order import table_markdown as t; print(t(), end=\"\")'"
    )
