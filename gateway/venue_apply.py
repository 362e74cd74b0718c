"""What one venue event does to its order, and the strategy events it produces: shared by the engine and recovery.

Pure functions of (order, event): each moves the order through its table (``model.order``) and
returns the strategy event the owning strategy is to receive (numbered ``seq``), or None, leaving
the order untouched, when the event is out of place. The rare second event (a replace that leaves
nothing, an OUCH Order State D: Canceled, numbered ``seq + 1``) is appended to ``out``. The engine
adds what only a running gateway does (counters, risk, sending); recovery applies the journal's
venue events with the very same functions, so the two cannot disagree about an order's state or
about which events a venue event produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.protocol.messages import (
    Canceled,
    CancelRejected,
    Executed,
    OrderAccepted,
    OrderEvent,
    OrderRejected,
    Replaced,
)
from model.enums import RejectSource
from model.order import (
    Order,
    OrderInput,
    OrderState,
    apply_cancel_rejected,
    apply_canceled,
    apply_fill,
    apply_fill_replace_pending,
    apply_late_fill,
    apply_late_replaced,
    apply_reject,
    apply_replaced,
    apply_replaced_filled,
    end_filled,
    next_state,
    remember_fill,
    repeated_fill,
)
from model.venue_events import (
    VenueAccepted,
    VenueCanceled,
    VenueCancelRejected,
    VenueEvent,
    VenueExecuted,
    VenueRejected,
    VenueReplaced,
)

_VENUE: Final = RejectSource.VENUE
_GATEWAY: Final = RejectSource.GATEWAY
_ACK: Final = OrderInput.ACK
_NOTHING_LEFT_TEXT: Final = "replace left no open quantity"
_CANCELING: Final = frozenset({OrderState.PENDING_CANCEL, OrderState.PENDING_NEW_CANCEL})
"""A cancel (not a replace) is in flight: a refusal then is the cancel's."""
# Final aliases of what is used per order: compiled, a use is a static read instead of a lookup of the
# name in this module's globals dict (which every imported name and non-Final global is)
_OrderAccepted: Final = OrderAccepted
NEXT_STATE: Final[list[OrderState | None]] = [next_state(state, event) for state in OrderState for event in OrderInput]
"""``model.order``'s flat table, ``next_state(state, event)`` at ``state + event``, held here for the hot path's
inline ``fire`` (the acknowledgement here, the send in ``Engine``): compiled, ``fire`` is an interpreted call (about
1,200 instructions), the table a native list read. The same table (``tests/test_venue_apply.py`` compares them)."""

Out = list[OrderEvent]


def accepted(order: Order, ev: VenueAccepted, seq: int, out: Out) -> OrderEvent | None:
    """Apply an acknowledgement (and the cancel an OUCH Order State D carries with it).

    The venue's word on the order wins: a positive quantity it accepted other than the order's (OUCH Order
    Accepted, FIX OrderQty) becomes the order's quantity and open quantity (no fill comes before an
    acknowledgement: a fill moves the order past it), and a positive price other than a limit order's its price.
    """
    nxt = NEXT_STATE[order.state + _ACK]  # apply_ack and fire, inline
    if nxt is None:
        return None
    order.state = nxt
    # each field read once: compiled, a read of the Order or the event is a generic lookup
    venue_order_id = order.venue_order_id = ev.venue_order_id
    qty = ev.qty
    order_qty = order.qty
    if qty != order_qty and qty > 0:
        order.qty = order.leaves_qty = order_qty = qty
    price = ev.price
    order_price = order.price
    if price != order_price and price > 0 and order_price > 0:
        order.price = price
    canceled_reason = ev.canceled_reason
    if canceled_reason:
        _cancel_rest(order, seq + 1, canceled_reason, ev.canceled_text, out)
    return _OrderAccepted(seq, order.cl_ord_id, venue_order_id, order_qty, price)


def venue_order_id_only(order: Order, ev: VenueAccepted) -> bool:
    """Record the venue's order id from an acknowledgement of an order acknowledged already without one.

    OUCH answers an Enter whose answer it cannot read (a replay gap, ``answer_timeout_ms``) with an acknowledgement
    that has no venue order id ("in doubt"); the venue's own Order Accepted may follow, and its Order Reference
    Number is kept (fixouch52): the order gets it, the strategy nothing (it had its one OrderAccepted). Called only
    where ``accepted`` found the acknowledgement out of place; False (out of place, as before) when the order
    already has an id, has ended (a New for an order the venue or the gateway rejected is out of place: the adapter
    cancels it at the venue) or the event names none or carries a cancel.

    A positive price other than a limit order's becomes its price, as for any acknowledgement (``accepted``): the
    venue's word wins (an OUCH venue that improved the price; a worse one never gets here, the adapter ends such an
    order ``OUCH_ACCEPTED_MISMATCH``). The caller recounts the exposure (doubt53; before, only the quantity followed,
    by the adapter's ``Canceled`` ``MODIFIED``, and the order kept the price it was sent at).
    """
    venue_order_id = ev.venue_order_id
    if not venue_order_id or order.venue_order_id or ev.canceled_reason or order.state >= OrderState.FILLED:
        return False
    order.venue_order_id = venue_order_id
    price = ev.price
    if price != order.price and price > 0 and order.price > 0:
        order.price = price
    return True


def accepted_or_id(order: Order, ev: VenueAccepted, seq: int, out: Out) -> OrderEvent | None:
    """``accepted``, and where it is out of place the venue order id it may bring (``venue_order_id_only``)."""
    answer = accepted(order, ev, seq, out)
    if answer is None:
        venue_order_id_only(order, ev)
    return answer


def rejected(order: Order, ev: VenueRejected, seq: int, out: Out) -> OrderEvent | None:
    """Apply the venue's refusal of a new order (source GATEWAY for the gateway's own answer: ``ev.withheld``)."""
    if not apply_reject(order):
        return None
    return OrderRejected(seq, order.cl_ord_id, _GATEWAY if ev.withheld else _VENUE, ev.code, ev.text)


def executed(order: Order, ev: VenueExecuted, seq: int, out: Out) -> OrderEvent | None:
    """Apply an execution, unless the order already applied one with the same (non-empty) ``exec_id``.

    A venue can send one execution twice under two message numbers (a FIX PossResend copy, an OUCH or BOE
    server replaying from below what it was asked for after its numbering restarted): the copy leaves the
    order as it was (None, like an out-of-place event; ``is_repeated_fill`` tells the two apart). The ids
    are kept on the order, so recovery, which applies the journal with this function, rebuilds them. A FIX
    adapter reports a fill whose CumQty the order has already reached with quantity 0: refused the same way
    (``apply_fill`` applies no fill of nothing), so no check of it is added here.

    A fill the engine marked ``after_end`` (the order had ended when it came) is applied all the same: to
    ``cum_qty`` and the traded notional, the order staying terminal with ``leaves_qty`` 0.
    """
    exec_id = ev.exec_id
    if order.exec_id and repeated_fill(order, exec_id):  # no fill applied yet (the common case): one read
        return None
    if ev.after_end:  # reported after the order ended here: the venue traded, the position takes it
        if not apply_late_fill(order, ev.qty, ev.price):
            return None
    elif ev.replace_pending:  # a replace raising the quantity in flight may keep a filled order open (FIX, BOE)
        if not apply_fill_replace_pending(order, ev.qty, ev.price) and not apply_fill(order, ev.qty, ev.price):
            return None
        if ev.leaves_zero and order.is_open:  # the venue has nothing open: the replace's answer decides (BOE)
            order.venue_leaves_zero = True
    elif not apply_fill(order, ev.qty, ev.price):
        return None
    if exec_id:
        if not order.exec_id:  # the order's first fill: a field, nothing allocated
            order.exec_id = exec_id
        else:
            remember_fill(order, exec_id)
    return Executed(seq, order.cl_ord_id, ev.qty, ev.price, ev.liquidity, exec_id, order.cum_qty, order.leaves_qty)


def is_repeated_fill(order: Order, ev: VenueExecuted) -> bool:
    """Return True when ``executed`` refused ``ev`` as a copy of a fill the order already counted.

    Either the order already applied its ``exec_id``, or ``ev`` has no quantity: the adapter found the
    venue's report to repeat what the order has counted by its cumulative quantity (FIX CumQty; a status
    answer's fill has no ExecID to tell it by). Asked only after ``executed`` returned None: a refused event
    left the order unchanged, so its id is among the order's only if it was there before.
    """
    return not ev.qty or repeated_fill(order, ev.exec_id)


def canceled(order: Order, ev: VenueCanceled, seq: int, out: Out) -> OrderEvent | None:
    """Apply canceled quantity (0 = everything still open)."""
    removed = apply_canceled(order, ev.canceled_qty)
    if removed is None:
        return None
    if ev.venue_ts:  # OUCH: a renumbered venue's copy is no later (``OuchVenue.restore``)
        order.venue_cancel_ts = ev.venue_ts
    return Canceled(seq, order.cl_ord_id, removed, order.leaves_qty, ev.reason, ev.text)


def _filled_end(order: Order, seq: int) -> Executed:
    """Return the end of an order that reached FILLED without a fill in this message: an ``Executed`` of nothing."""
    return Executed(seq, order.cl_ord_id, 0, 0, "", "", order.cum_qty, 0)


def replaced(order: Order, ev: VenueReplaced, seq: int, out: Out) -> OrderEvent | None:
    """Apply a completed replace; one that leaves nothing open also cancels the order.

    Unless the venue says the order is filled (``ev.filled``, FIX OrdStatus 2) and the executions reached the
    new quantity: then the order ends FILLED, its end an ``Executed`` of nothing (qty 0, price 0). A replace the
    venue applied after the gateway reported it refused (``ev.late_qty``, BOE) resizes an open order with no
    replace in flight (``apply_late_replaced``); to an ended order it is out of place.
    """
    if ev.late_qty:
        if not apply_late_replaced(order, ev.late_qty, ev.leaves_qty, ev.price, ev.venue_order_id, ev.late_ref):
            return None
        return Replaced(seq, order.cl_ord_id, order.qty, order.price, order.leaves_qty)
    if ev.filled and ev.leaves_qty <= 0 and apply_replaced_filled(order, ev.price, ev.venue_order_id):
        out.append(_filled_end(order, seq + 1))
        return Replaced(seq, order.cl_ord_id, order.qty, order.price, 0)
    if not apply_replaced(order, ev.leaves_qty, ev.price, ev.venue_order_id):
        return None
    first = Replaced(seq, order.cl_ord_id, order.qty, order.price, order.leaves_qty)
    if order.state is OrderState.CANCELED:
        out.append(Canceled(seq + 1, order.cl_ord_id, 0, 0, "NOTHING_LEFT", _NOTHING_LEFT_TEXT))
    elif ev.canceled_reason:
        _cancel_rest(order, seq + 1, ev.canceled_reason, ev.canceled_text, out)
    return first


def cancel_rejected(order: Order, ev: VenueCancelRejected, seq: int, out: Out) -> OrderEvent | None:
    """Apply the venue's refusal of a cancel or a replace.

    A refused replace that kept a filled order open (``VenueExecuted.replace_pending``) ends it FILLED: the
    order's end follows, an ``Executed`` of nothing (qty 0, price 0) with ``leaves_qty`` 0. A replace refused only
    because the venue's answer was late (``ev.lapsed``) is kept on the order (``Order.venue_lapsed``).

    The refusal of the gateway's own cancel (``Order.own_cancel``, in flight: no strategy sent it and none joined
    it; fixeng55) is applied but produces no strategy event: None, as for an event out of place, but with the
    order moved back and ``own_cancel`` cleared (the engine tells the two apart by that flag). A cancel's refusal
    never ends the order (only a replace keeps a filled order open). Its source is GATEWAY for the gateway's own
    answer about a request that never left it (``ev.withheld``, lows57), VENUE otherwise.
    """
    lapsed = (order.pending_ref, order.pending_qty, order.pending_price) if ev.lapsed and order.pending_qty else None
    own = order.own_cancel and order.state in _CANCELING
    if not apply_cancel_rejected(order):
        return None
    if own:  # the gateway's own cancel refused: the order is as before it, answered to no strategy
        order.own_cancel = False
        return None
    if lapsed is not None:  # the venue may still apply it (BOE): kept, so a restart keeps it too
        order.venue_lapsed = lapsed
    if order.cum_qty >= order.qty and end_filled(order):  # a replace raising the quantity kept it open (FIX)
        out.append(_filled_end(order, seq + 1))
    return CancelRejected(seq, order.cl_ord_id, _GATEWAY if ev.withheld else _VENUE, ev.code, ev.text)


def _cancel_rest(order: Order, seq: int, reason: str, text: str, out: Out) -> None:
    """The message that acknowledged or replaced the order also canceled what is still open."""
    removed = apply_canceled(order, 0)
    if removed is not None:
        out.append(Canceled(seq, order.cl_ord_id, removed, order.leaves_qty, reason, text))


APPLY: Final[dict[type, Callable[[Order, VenueEvent, int, Out], OrderEvent | None]]] = {
    VenueAccepted: accepted_or_id,  # type: ignore[dict-item]
    VenueRejected: rejected,  # type: ignore[dict-item]
    VenueExecuted: executed,  # type: ignore[dict-item]
    VenueCanceled: canceled,  # type: ignore[dict-item]
    VenueReplaced: replaced,  # type: ignore[dict-item]
    VenueCancelRejected: cancel_rejected,  # type: ignore[dict-item]
}


def apply_venue_event(order: Order, event: VenueEvent, seq: int, out: Out) -> OrderEvent | None:
    """Apply ``event`` to ``order``; return its strategy event (``seq``), a second one appended to ``out``."""
    return APPLY[type(event)](order, event, seq, out)
