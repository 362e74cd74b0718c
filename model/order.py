"""One order's life inside the gateway: its fields and its explicit state machine.

States::

    PENDING_NEW --ack--> LIVE --fill/cancel/replace...--> FILLED | CANCELED
         |                 |  \\--cancel req--> PENDING_CANCEL --canceled--> CANCELED
         |                 |                        \\--cancel reject--> LIVE
         |                 \\--replace req--> PENDING_REPLACE --replaced--> LIVE
         |                                          \\--replace reject--> LIVE
         \\--reject--> REJECTED

Transitions are applied by the ``apply_*`` functions below; each returns ``True`` when
the event was legal in the current state and changed the order, ``False`` when it was
out of place (the caller counts and logs it; the order is left as it was).
"""

from __future__ import annotations

import enum

import msgspec

from model.enums import OrderType, Side, TimeInForce


class OrderState(enum.IntEnum):
    """Where an order stands; values above ``PENDING_REPLACE`` are terminal."""

    PENDING_NEW = 0
    LIVE = 1
    PENDING_CANCEL = 2
    PENDING_REPLACE = 3
    FILLED = 4
    CANCELED = 5
    REJECTED = 6


TERMINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED})
WORKING_STATES = frozenset(
    {OrderState.PENDING_NEW, OrderState.LIVE, OrderState.PENDING_CANCEL, OrderState.PENDING_REPLACE}
)


class Order(msgspec.Struct, gc=False):
    """Mutable record of one order; holds scalars only, so it is exempt from the GC."""

    order_id: int
    strategy_id: str
    cl_ord_id: str
    account: str
    venue: str
    symbol: str
    side: Side
    qty: int
    price: int
    tif: TimeInForce
    ord_type: OrderType
    state: OrderState = OrderState.PENDING_NEW
    acked: bool = False
    cum_qty: int = 0
    leaves_qty: int = 0
    venue_order_id: str = ""
    pending_qty: int = 0
    """Requested total quantity of a Replace in flight."""
    pending_price: int = 0
    """Requested price of a Replace in flight."""
    cancel_queued: bool = False
    """A cancel arrived while a Replace was in flight; it is sent once the Replace resolves."""
    notional_traded: int = 0
    """Sum of fill qty * fill price (fixed-point) for this order."""
    t_sent: int = 0
    """Strategy's send time (its monotonic clock), 0 if not supplied."""
    t_in: int = 0
    """Gateway ingress: monotonic ns when the bytes carrying this order were read."""
    t_risk: int = 0
    """Monotonic ns when the risk chain finished."""
    t_wire: int = 0
    """Monotonic ns right after the venue write that carried the order."""

    @property
    def is_terminal(self) -> bool:
        """Return True when nothing more can happen to the order."""
        return self.state >= OrderState.FILLED

    @property
    def is_open(self) -> bool:
        """Return True while the order may still trade."""
        return self.state < OrderState.FILLED


def new_order_leaves(order: Order) -> None:
    """Initialise open quantity for a freshly created order."""
    order.leaves_qty = order.qty


def apply_ack(order: Order, venue_order_id: str) -> bool:
    """Record the venue's acknowledgement of the order."""
    if order.state >= OrderState.FILLED or order.acked:
        return False
    order.acked = True
    order.venue_order_id = venue_order_id
    if order.state == OrderState.PENDING_NEW:
        order.state = OrderState.LIVE
    return True


def apply_reject(order: Order) -> bool:
    """Record the venue refusing a new order."""
    if order.state not in (OrderState.PENDING_NEW, OrderState.PENDING_CANCEL) or order.acked:
        return False
    order.state = OrderState.REJECTED
    order.leaves_qty = 0
    return True


def apply_fill(order: Order, qty: int, price: int) -> bool:
    """Record an execution; the order is FILLED once nothing is left open."""
    if order.state >= OrderState.FILLED or qty <= 0:
        return False
    order.acked = True
    order.cum_qty += qty
    order.notional_traded += qty * price
    order.leaves_qty = max(order.leaves_qty - qty, 0)
    if order.leaves_qty == 0:
        order.state = OrderState.FILLED
    elif order.state == OrderState.PENDING_NEW:
        order.state = OrderState.LIVE
    return True


def apply_canceled(order: Order, canceled_qty: int) -> int:
    """Record canceled quantity (0 = all still open); return the quantity actually removed."""
    if order.state >= OrderState.FILLED:
        return 0
    removed = order.leaves_qty if canceled_qty <= 0 else min(canceled_qty, order.leaves_qty)
    order.leaves_qty -= removed
    if order.leaves_qty == 0:
        order.state = OrderState.CANCELED
        order.cancel_queued = False
    return removed


def request_cancel(order: Order) -> bool:
    """Move an open order to PENDING_CANCEL; False if a request is already in flight."""
    if order.state in (OrderState.PENDING_NEW, OrderState.LIVE):
        order.state = OrderState.PENDING_CANCEL
        return True
    return False


def request_replace(order: Order, qty: int, price: int) -> bool:
    """Move a live order to PENDING_REPLACE; False unless it is LIVE."""
    if order.state != OrderState.LIVE:
        return False
    order.state = OrderState.PENDING_REPLACE
    order.pending_qty = qty
    order.pending_price = price
    return True


def apply_replaced(order: Order, leaves_qty: int, price: int, venue_order_id: str) -> bool:
    """Record a completed replace: new total quantity, price and open quantity."""
    if order.state != OrderState.PENDING_REPLACE:
        return False
    order.qty = order.pending_qty
    order.price = price
    order.leaves_qty = leaves_qty
    if venue_order_id:
        order.venue_order_id = venue_order_id
    order.pending_qty = 0
    order.pending_price = 0
    order.state = OrderState.LIVE if leaves_qty > 0 else OrderState.CANCELED
    return True


def apply_cancel_rejected(order: Order) -> bool:
    """Return an order whose cancel or replace was refused to where it was."""
    if order.state not in (OrderState.PENDING_CANCEL, OrderState.PENDING_REPLACE):
        return False
    order.pending_qty = 0
    order.pending_price = 0
    order.state = OrderState.LIVE if order.acked else OrderState.PENDING_NEW
    return True
