"""One order's life inside the gateway: its fields and the one table that moves its state.

``order.state`` is written in exactly one place, ``fire``, and only with a value read from
``_NEXT``: the (state, input) -> state table built from ``TRANSITIONS``. Quantities (cumulative
and open quantity, price, the replace in flight) are fields the small ``apply_*`` / ``request_*``
functions update around the table; none of them writes the state itself.

Two entry points, because the two kinds of input deserve different answers:

* **Venue inputs** (ack, reject, fills, cancels, replaced, cancel/replace rejected) come from
  outside: a venue may send anything at any time. An input that is out of place in the current
  state returns False and leaves the order as it was; the caller counts and logs it.
* **Gateway requests** (send, refuse, request/hold/release/drop a cancel, request a replace) are
  the gateway's own decisions. One that is illegal in the current state is a bug in the gateway:
  ``request`` raises ``IllegalTransition``. Callers check ``can(order, input)`` first.

The table (``docs/architecture.md`` renders it from ``TRANSITIONS``; a test checks they agree)::

    CREATED --send--> PENDING_NEW --ack / partial fill--> LIVE --full fill--> FILLED
       \\--refuse--> REJECTED   |  \\--reject--> REJECTED   |  \\--full cancel--> CANCELED
                               |                          |--request cancel--> PENDING_CANCEL
                               |--request cancel--> PENDING_NEW_CANCEL (cancel sent before the ack)
                               \\--hold cancel--> PENDING_NEW_HELD_CANCEL (venue down)
    LIVE --request replace--> PENDING_REPLACE --replaced--> LIVE (or CANCELED: nothing left)
                                  \\--hold cancel--> PENDING_REPLACE_HELD_CANCEL --replaced /
                                      cancel/replace rejected--> LIVE_HELD_CANCEL --release--> PENDING_CANCEL
    Every held state --drop held cancel--> the same state without the held cancel (PENDING_NEW, PENDING_REPLACE, LIVE)
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from model.enums import OrderType, Side, TimeInForce


class OrderInput(enum.IntEnum):
    """Everything that can move an order; venue inputs first, then the gateway's own requests."""

    ACK = 0
    REJECT = 1
    PARTIAL_FILL = 2
    FULL_FILL = 3
    PARTIAL_CANCEL = 4
    FULL_CANCEL = 5
    REPLACED = 6
    REPLACED_TO_NOTHING = 7
    CANCEL_REJECT = 8
    """The venue refused a cancel or a replace."""
    SEND = 9
    """The new order went to the venue."""
    REFUSE = 10
    """The gateway or risk refused the order before sending it."""
    REQUEST_CANCEL = 11
    """A cancel went to the venue."""
    HOLD_CANCEL = 12
    """A cancel was accepted but must wait (replace in flight, venue down)."""
    RELEASE_CANCEL = 13
    """A held cancel went to the venue."""
    DROP_HELD_CANCEL = 14
    """A held cancel could not be sent (the venue adapter refused it, or the venue's session ENDED): legal from every
    held state, back to that state without the held cancel."""
    REQUEST_REPLACE = 15
    """A replace went to the venue."""


_ROW: Final = len(OrderInput)
"""Inputs per row of the flat table."""


class OrderState(enum.IntEnum):
    """Where an order stands; values from ``FILLED`` on are terminal.

    Each value is the state's row offset in the flat table (its index times ``len(OrderInput)``), so
    a lookup is ``_NEXT[order.state + input]``. The values are the gateway's own: neither the journal
    nor the strategy protocol carries them.
    """

    CREATED = 0 * _ROW
    """Read from the strategy and journaled; neither sent to the venue nor refused yet."""
    PENDING_NEW = 1 * _ROW
    """Sent; the venue has not acknowledged it."""
    PENDING_NEW_CANCEL = 2 * _ROW
    """A cancel was sent before the venue acknowledged the order."""
    PENDING_NEW_HELD_CANCEL = 3 * _ROW
    """Not acknowledged; a cancel waits for the venue session to come back."""
    LIVE = 4 * _ROW
    """Acknowledged; nothing in flight."""
    PENDING_CANCEL = 5 * _ROW
    """Acknowledged; a cancel is in flight."""
    PENDING_REPLACE = 6 * _ROW
    """A replace is in flight."""
    PENDING_REPLACE_HELD_CANCEL = 7 * _ROW
    """A replace is in flight and a cancel waits behind it."""
    LIVE_HELD_CANCEL = 8 * _ROW
    """Acknowledged, nothing in flight; a cancel waits to be sent (venue down, or a replace just resolved)."""
    FILLED = 9 * _ROW
    CANCELED = 10 * _ROW
    REJECTED = 11 * _ROW


_S = OrderState
_I = OrderInput

VENUE_INPUTS: Final = frozenset(i for i in OrderInput if i < _I.SEND)
REQUESTS: Final = frozenset(i for i in OrderInput if i >= _I.SEND)
TERMINAL_STATES: Final = frozenset({_S.FILLED, _S.CANCELED, _S.REJECTED})
WORKING_STATES: Final = frozenset(s for s in OrderState if s < _S.FILLED)
HELD_CANCEL_STATES: Final = frozenset({_S.PENDING_NEW_HELD_CANCEL, _S.PENDING_REPLACE_HELD_CANCEL, _S.LIVE_HELD_CANCEL})
"""A cancel was accepted and waits to be sent."""
REPLACING_STATES: Final = frozenset({_S.PENDING_REPLACE, _S.PENDING_REPLACE_HELD_CANCEL})
"""A replace is in flight."""
CANCEL_WANTED_STATES: Final = HELD_CANCEL_STATES | {_S.PENDING_NEW_CANCEL, _S.PENDING_CANCEL}
"""A cancel is in flight or held: another one is redundant."""
ACKED_STATES: Final = frozenset(
    {_S.LIVE, _S.PENDING_CANCEL, _S.PENDING_REPLACE, _S.PENDING_REPLACE_HELD_CANCEL, _S.LIVE_HELD_CANCEL}
)
"""Working and acknowledged by the venue (ack or fill seen)."""

_OPEN_AT_VENUE = (
    _S.PENDING_NEW,
    _S.PENDING_NEW_CANCEL,
    _S.PENDING_NEW_HELD_CANCEL,
    _S.LIVE,
    _S.PENDING_CANCEL,
    _S.PENDING_REPLACE,
    _S.PENDING_REPLACE_HELD_CANCEL,
    _S.LIVE_HELD_CANCEL,
)


def _rows() -> dict[tuple[OrderState, OrderInput], OrderState]:
    table: dict[tuple[OrderState, OrderInput], OrderState] = {
        (_S.CREATED, _I.SEND): _S.PENDING_NEW,
        (_S.CREATED, _I.REFUSE): _S.REJECTED,
        # not acknowledged yet
        (_S.PENDING_NEW, _I.ACK): _S.LIVE,
        (_S.PENDING_NEW, _I.REJECT): _S.REJECTED,
        (_S.PENDING_NEW, _I.PARTIAL_FILL): _S.LIVE,
        (_S.PENDING_NEW, _I.REQUEST_CANCEL): _S.PENDING_NEW_CANCEL,
        (_S.PENDING_NEW, _I.HOLD_CANCEL): _S.PENDING_NEW_HELD_CANCEL,
        (_S.PENDING_NEW_CANCEL, _I.ACK): _S.PENDING_CANCEL,
        (_S.PENDING_NEW_CANCEL, _I.REJECT): _S.REJECTED,
        (_S.PENDING_NEW_CANCEL, _I.PARTIAL_FILL): _S.PENDING_CANCEL,
        (_S.PENDING_NEW_CANCEL, _I.CANCEL_REJECT): _S.PENDING_NEW,
        (_S.PENDING_NEW_HELD_CANCEL, _I.ACK): _S.LIVE_HELD_CANCEL,
        (_S.PENDING_NEW_HELD_CANCEL, _I.REJECT): _S.REJECTED,
        (_S.PENDING_NEW_HELD_CANCEL, _I.PARTIAL_FILL): _S.LIVE_HELD_CANCEL,
        (_S.PENDING_NEW_HELD_CANCEL, _I.RELEASE_CANCEL): _S.PENDING_NEW_CANCEL,
        (_S.PENDING_NEW_HELD_CANCEL, _I.DROP_HELD_CANCEL): _S.PENDING_NEW,
        # acknowledged
        (_S.LIVE, _I.REQUEST_CANCEL): _S.PENDING_CANCEL,
        (_S.LIVE, _I.HOLD_CANCEL): _S.LIVE_HELD_CANCEL,
        (_S.LIVE, _I.REQUEST_REPLACE): _S.PENDING_REPLACE,
        (_S.PENDING_CANCEL, _I.CANCEL_REJECT): _S.LIVE,
        (_S.PENDING_REPLACE, _I.REPLACED): _S.LIVE,
        (_S.PENDING_REPLACE, _I.CANCEL_REJECT): _S.LIVE,
        (_S.PENDING_REPLACE, _I.HOLD_CANCEL): _S.PENDING_REPLACE_HELD_CANCEL,
        (_S.PENDING_REPLACE_HELD_CANCEL, _I.REPLACED): _S.LIVE_HELD_CANCEL,
        (_S.PENDING_REPLACE_HELD_CANCEL, _I.CANCEL_REJECT): _S.LIVE_HELD_CANCEL,
        # a held cancel refused while the replace is still in flight (a kill at a venue whose session ENDED): the
        # replace stays in flight (ended60: there was no way back, the drop raised and nothing could journal it)
        (_S.PENDING_REPLACE_HELD_CANCEL, _I.DROP_HELD_CANCEL): _S.PENDING_REPLACE,
        (_S.LIVE_HELD_CANCEL, _I.RELEASE_CANCEL): _S.PENDING_CANCEL,
        (_S.LIVE_HELD_CANCEL, _I.DROP_HELD_CANCEL): _S.LIVE,
    }
    for state in _OPEN_AT_VENUE:
        # fills and cancels can come at any time while the order is at the venue
        table.setdefault((state, _I.PARTIAL_FILL), state)
        table[(state, _I.FULL_FILL)] = _S.FILLED
        table[(state, _I.PARTIAL_CANCEL)] = state
        table[(state, _I.FULL_CANCEL)] = _S.CANCELED
    for state in (_S.PENDING_REPLACE, _S.PENDING_REPLACE_HELD_CANCEL):
        table[(state, _I.REPLACED_TO_NOTHING)] = _S.CANCELED
    return table


TRANSITIONS: Final[dict[tuple[OrderState, OrderInput], OrderState]] = _rows()
"""Every legal (state, input) pair and the state it leads to; anything else is out of place / illegal."""

_NEXT: Final[list[OrderState | None]] = [
    TRANSITIONS.get((state, event)) for state in OrderState for event in OrderInput
]
"""Flat table indexed by ``state + input`` (a state's value is its row offset): the next state, or None."""
assert all(state == index * _ROW for index, state in enumerate(OrderState))

# module-level names for the inputs the functions below use: an enum member looked up through its class
# costs more than the table lookup itself on this path
_ACK: Final = OrderInput.ACK
_REJECT: Final = OrderInput.REJECT
_PARTIAL_FILL: Final = OrderInput.PARTIAL_FILL
_FULL_FILL: Final = OrderInput.FULL_FILL
_PARTIAL_CANCEL: Final = OrderInput.PARTIAL_CANCEL
_FULL_CANCEL: Final = OrderInput.FULL_CANCEL
_REPLACED: Final = OrderInput.REPLACED
_REPLACED_TO_NOTHING: Final = OrderInput.REPLACED_TO_NOTHING
_CANCEL_REJECT: Final = OrderInput.CANCEL_REJECT
_SEND: Final = OrderInput.SEND
_REFUSE: Final = OrderInput.REFUSE
_REQUEST_CANCEL: Final = OrderInput.REQUEST_CANCEL
_HOLD_CANCEL: Final = OrderInput.HOLD_CANCEL
_RELEASE_CANCEL: Final = OrderInput.RELEASE_CANCEL
_DROP_HELD_CANCEL: Final = OrderInput.DROP_HELD_CANCEL
_REQUEST_REPLACE: Final = OrderInput.REQUEST_REPLACE


PHASE: Final = {
    OrderState.CREATED: "PENDING_NEW",
    OrderState.PENDING_NEW: "PENDING_NEW",
    OrderState.PENDING_NEW_CANCEL: "PENDING_CANCEL",
    OrderState.PENDING_NEW_HELD_CANCEL: "PENDING_NEW",
    OrderState.LIVE: "LIVE",
    OrderState.PENDING_CANCEL: "PENDING_CANCEL",
    OrderState.PENDING_REPLACE: "PENDING_REPLACE",
    OrderState.PENDING_REPLACE_HELD_CANCEL: "PENDING_REPLACE",
    OrderState.LIVE_HELD_CANCEL: "LIVE",
    OrderState.FILLED: "FILLED",
    OrderState.CANCELED: "CANCELED",
    OrderState.REJECTED: "REJECTED",
}
"""The coarse name a strategy knows the state by (texts of CancelRejected, status)."""


class IllegalTransition(Exception):  # noqa: N818 - the name says what it is
    """The gateway asked for a transition its own order table forbids: a bug, never venue input."""

    def __init__(self, order: Order, event: OrderInput) -> None:
        super().__init__(f"order {order.order_id}: {event.name} is illegal in state {order.state.name}")
        self.order_id = order.order_id
        self.state = order.state
        self.event = event


class OrderTicket(msgspec.Struct):
    """What a strategy's NewOrder fixes about an order: the one definition of these fields.

    ``Order`` starts with them, and so does the journal's ``JOrderCreated`` (which adds ``t_in``):
    both inherit this list rather than spell it again.
    """

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


class Order(OrderTicket, gc=False):
    """Mutable record of one order; exempt from the GC: it holds scalars, and at most a set of str
    (``exec_ids``), which refers to nothing that could lead back to it, so no cycle can pass through it.

    The fields of ``OrderTicket`` first (positional construction follows them), then the
    order's life: its table state and the quantities around it.
    """

    state: OrderState = OrderState.CREATED
    cum_qty: int = 0
    leaves_qty: int = 0
    venue_order_id: str = ""
    venue_ref: str = ""
    """The reference the venue knows the order by now (its new order, or the last replace it took)."""
    pending_ref: str = ""
    """The reference of the cancel or replace in flight ("" = none)."""
    pending_qty: int = 0
    """Requested total quantity of a Replace in flight."""
    pending_price: int = 0
    """Requested price of a Replace in flight."""
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
    exec_id: str = ""
    """The execution id (FIX ExecID, OUCH Match Number, BOE ExecID) of the order's first fill applied ("" = none
    yet, or the fill carried none): a fill repeating it is not applied again (``repeated_fill``)."""
    exec_ids: set[str] | None = None
    """The execution ids of its later fills (None until a second one: most orders fill once and allocate nothing)."""
    venue_leaves_zero: bool = False
    """A fill said the venue has nothing of the order open while a replace was in flight
    (``VenueExecuted.leaves_zero``): the replace's answer reopens the order or ends it. Cleared by that answer."""
    venue_lapsed: tuple[str, int, int] | None = None
    """(reference, total quantity, price) of a replace reported refused only because the venue's answer was late
    (``VenueCancelRejected.lapsed``): the venue may still apply it (``apply_late_replaced`` clears it)."""
    venue_cancel_ts: int = 0
    """The venue's time of the last cancel applied (``VenueCanceled.venue_ts``; rebuilt from the journal)."""
    own_cancel: bool = False
    """The cancel held or in flight is the gateway's own (the kill switch, a disconnect policy, the stop; fixeng55):
    no strategy sent it, so its refusal is answered to none (``gateway.venue_apply.cancel_rejected``). Set with the
    journal's ``JCancelQueued.own`` / ``JSentCancel.own``, cleared when a strategy's Cancel joins it (its
    ``JCancelQueued`` without ``own``), when it is dropped (``drop_held_cancel``) or refused; rebuilt from the journal
    by ``gateway.journal.follow_order_record``."""

    @property
    def is_terminal(self) -> bool:
        """Return True when nothing more can happen to the order."""
        return self.state >= OrderState.FILLED

    @property
    def is_open(self) -> bool:
        """Return True while the order may still trade."""
        return self.state < OrderState.FILLED

    @property
    def acked(self) -> bool:
        """Return True while the order works at the venue acknowledged (an ack or a fill was seen)."""
        return self.state in ACKED_STATES

    @property
    def cancel_held(self) -> bool:
        """Return True while a cancel waits to be sent."""
        return self.state in HELD_CANCEL_STATES


ORDER_FIELDS: Final = OrderTicket.__struct_fields__
"""The fields a new order is created with, in order (``JOrderCreated`` starts with the same)."""
_N_TICKET: Final = len(ORDER_FIELDS)
_astuple: Final = msgspec.structs.astuple


Ticket = tuple[int, str, str, str, str, str, Side, int, int, TimeInForce, OrderType]
"""The values of ``ORDER_FIELDS``, in order."""


def ticket(struct: OrderTicket) -> Ticket:
    """Return the ``OrderTicket`` fields of ``struct`` (an Order or a journal record), in order."""
    return _astuple(struct)[:_N_TICKET]  # the first fields of any OrderTicket


def order_from_ticket(struct: OrderTicket, *, t_in: int = 0) -> Order:
    """Return a new order (CREATED, everything open) with the ticket fields of ``struct``."""
    return Order(*ticket(struct), leaves_qty=struct.qty, t_in=t_in)


def new_order_leaves(order: Order) -> None:
    """Initialise open quantity for a freshly created order."""
    order.leaves_qty = order.qty


# ---- the table --------------------------------------------------------------------------------------


def next_state(state: OrderState, event: OrderInput) -> OrderState | None:
    """Return the state ``event`` leads to from ``state``, or None when it is out of place / illegal."""
    return _NEXT[state + event]


def can(order: Order, event: OrderInput) -> bool:
    """Return True if ``event`` is legal for ``order`` now."""
    return _NEXT[order.state + event] is not None


def fire(order: Order, event: OrderInput) -> bool:
    """Move ``order`` by ``event`` if the table allows it; return False (order unchanged) if not.

    The only writer of ``Order.state`` but for two inline copies on the compiled hot path, reading the same table
    (``gateway.venue_apply.NEXT_STATE``: the acknowledgement, the send). Venue inputs call it directly (False = out
    of place); gateway requests go through ``request``, which raises instead.
    """
    nxt = _NEXT[order.state + event]
    if nxt is None:
        return False
    order.state = nxt
    return True


def request(order: Order, event: OrderInput) -> None:
    """Apply the gateway's own request ``event``; raise IllegalTransition if the table forbids it."""
    if not fire(order, event):
        raise IllegalTransition(order, event)


# ---- venue inputs: quantities around the table --------------------------------------------------------


def apply_ack(order: Order, venue_order_id: str) -> bool:
    """Record the venue's acknowledgement of the order."""
    if not fire(order, _ACK):
        return False
    order.venue_order_id = venue_order_id
    return True


def apply_reject(order: Order) -> bool:
    """Record the venue refusing a new order."""
    if not fire(order, _REJECT):
        return False
    order.leaves_qty = 0
    return True


def apply_fill(order: Order, qty: int, price: int) -> bool:
    """Record an execution; the order is FILLED once nothing is left open."""
    if qty <= 0:
        return False
    leaves = order.leaves_qty - qty
    if not fire(order, _FULL_FILL if leaves <= 0 else _PARTIAL_FILL):
        return False
    order.cum_qty += qty
    order.notional_traded += qty * price
    order.leaves_qty = leaves if leaves > 0 else 0
    if leaves <= 0:
        order.pending_qty = order.pending_price = 0
        order.pending_ref = ""
    return True


def apply_fill_replace_pending(order: Order, qty: int, price: int) -> bool:
    """Record an execution that leaves nothing of the current quantity while a replace raising it is in flight.

    Only for a venue that says so on the fill (FIX: a Replace to increase the quantity still takes after the
    order filled, FIX Appendix D): the order keeps its replace in flight instead of ending, and its open
    quantity is what the replace leaves (its quantity less what executed), so risk never counts less than the
    venue may still execute. Return False (order unchanged) when the order has no such replace in flight, or
    ``qty`` leaves some of the current quantity open (``apply_fill`` is the answer then).
    """
    cum = order.cum_qty + qty
    if qty <= 0 or order.leaves_qty > qty or order.pending_qty <= cum or order.state not in REPLACING_STATES:
        return False
    if not fire(order, _PARTIAL_FILL):  # a replace in flight stays in flight
        return False
    order.cum_qty = cum
    order.notional_traded += qty * price
    order.leaves_qty = order.pending_qty - cum
    return True


def end_filled(order: Order) -> bool:
    """End an open order whose executions reached its quantity (a replace kept it open, then was refused).

    Return False (order unchanged) unless the order is open with ``cum_qty`` at or above ``qty``.
    """
    if order.cum_qty < order.qty or not fire(order, _FULL_FILL):
        return False
    order.leaves_qty = 0
    order.pending_qty = order.pending_price = 0
    order.pending_ref = ""
    return True


def apply_late_fill(order: Order, qty: int, price: int) -> bool:
    """Record an execution the venue reported after the order ended here (filled, canceled or rejected).

    The venue says it traded: the fill counts in ``cum_qty`` and ``notional_traded``; the order stays in its
    terminal state with nothing open. Return False (order unchanged) unless the order is terminal and ``qty``
    is positive.
    """
    if qty <= 0 or order.state < _S.FILLED:
        return False
    order.cum_qty += qty
    order.notional_traded += qty * price
    return True


def repeated_fill(order: Order, exec_id: str) -> bool:
    """Return True when ``order`` already applied a fill with the non-empty ``exec_id`` (a venue's copy of it)."""
    first = order.exec_id
    if not first or not exec_id:
        return False
    if exec_id == first:
        return True
    later = order.exec_ids
    return later is not None and exec_id in later


def remember_fill(order: Order, exec_id: str) -> None:
    """Note that ``order`` applied the fill ``exec_id`` (non-empty): the first in a field, later ones in a set."""
    if not order.exec_id:
        order.exec_id = exec_id
    elif order.exec_ids is None:
        order.exec_ids = {exec_id}
    else:
        order.exec_ids.add(exec_id)


def apply_canceled(order: Order, canceled_qty: int) -> int | None:
    """Record canceled quantity (0 = all still open); return the quantity removed, None if out of place."""
    leaves = order.leaves_qty
    removed = leaves if canceled_qty <= 0 or canceled_qty >= leaves else canceled_qty
    if not fire(order, _FULL_CANCEL if removed == leaves else _PARTIAL_CANCEL):
        return None
    order.leaves_qty = leaves - removed
    if removed == leaves:
        order.pending_qty = order.pending_price = 0
        order.pending_ref = ""
    return removed


def apply_replaced(order: Order, leaves_qty: int, price: int, venue_order_id: str) -> bool:
    """Record a completed replace: new total quantity, price and open quantity."""
    if not fire(order, _REPLACED if leaves_qty > 0 else _REPLACED_TO_NOTHING):
        return False
    _take_replace(order, leaves_qty if leaves_qty > 0 else 0, price, venue_order_id)
    return True


def _take_replace(order: Order, leaves_qty: int, price: int, venue_order_id: str) -> None:
    """Make the replace in flight the order's quantity, price, open quantity and venue references."""
    order.qty = order.pending_qty
    order.price = price
    order.leaves_qty = leaves_qty
    if venue_order_id:
        order.venue_order_id = venue_order_id
    if order.pending_ref:
        order.venue_ref = order.pending_ref
    order.pending_ref = ""
    order.pending_qty = order.pending_price = 0
    order.venue_leaves_zero = False


_LATE_REPLACE_STATES: Final = frozenset({_S.LIVE, _S.LIVE_HELD_CANCEL, _S.PENDING_CANCEL})


def apply_late_replaced(order: Order, qty: int, leaves_qty: int, price: int, venue_order_id: str, ref: str) -> bool:
    """Record a replace the venue applied after the gateway reported it refused: its quantity, price and open quantity.

    The venue's word on the order wins: the order takes the new total ``qty``, ``price`` and ``leaves_qty`` and, when
    given, the reference ``ref`` the venue knows it by now; its state is unchanged (a cancel in flight or held stays
    so). Return False (order unchanged) unless the order is open with no replace in flight and ``leaves_qty`` is
    positive and within ``qty`` less what executed.
    """
    if order.state not in _LATE_REPLACE_STATES or leaves_qty <= 0 or order.cum_qty + leaves_qty > qty:
        return False
    order.qty = qty
    order.price = price
    order.leaves_qty = leaves_qty
    if venue_order_id:
        order.venue_order_id = venue_order_id
    if ref:
        order.venue_ref = ref
    order.venue_lapsed = None
    return True


def apply_replaced_filled(order: Order, price: int, venue_order_id: str) -> bool:
    """Record a completed replace whose new quantity the executions have reached: the order ends FILLED.

    Return False (order unchanged) unless a replace is in flight whose quantity ``cum_qty`` reaches.
    """
    if order.pending_qty <= 0 or order.cum_qty < order.pending_qty or not fire(order, _REPLACED):
        return False
    _take_replace(order, 0, price, venue_order_id)
    return end_filled(order)


def apply_cancel_rejected(order: Order) -> bool:
    """Return an order whose cancel or replace was refused to where it was."""
    if not fire(order, _CANCEL_REJECT):
        return False
    order.pending_ref = ""
    order.pending_qty = order.pending_price = 0
    order.venue_leaves_zero = False
    return True


# ---- gateway requests ---------------------------------------------------------------------------------


def mark_sent(order: Order, venue_ref: str) -> None:
    """The new order went to the venue under ``venue_ref``."""
    if not fire(order, _SEND):
        raise IllegalTransition(order, _SEND)
    order.venue_ref = venue_ref


def refuse(order: Order) -> None:
    """The gateway or risk refused the order before it reached a venue."""
    if not fire(order, _REFUSE):
        raise IllegalTransition(order, _REFUSE)
    order.leaves_qty = 0


def request_cancel(order: Order, venue_ref: str = "") -> None:
    """A cancel went to the venue (``venue_ref``: the reference it carries, if the venue has one)."""
    if not fire(order, _REQUEST_CANCEL):
        raise IllegalTransition(order, _REQUEST_CANCEL)
    order.pending_ref = venue_ref


def hold_cancel(order: Order) -> None:
    """A cancel was accepted but must wait for a replace in flight or for the venue session."""
    request(order, _HOLD_CANCEL)


def release_cancel(order: Order, venue_ref: str = "") -> None:
    """The held cancel went to the venue."""
    if not fire(order, _RELEASE_CANCEL):
        raise IllegalTransition(order, _RELEASE_CANCEL)
    order.pending_ref = venue_ref


def drop_held_cancel(order: Order) -> None:
    """The held cancel could not be sent (the venue adapter refused it, or its venue's session ENDED); the order is as
    before the hold (a replace in flight stays in flight)."""
    request(order, _DROP_HELD_CANCEL)
    order.own_cancel = False


def request_replace(order: Order, qty: int, price: int, venue_ref: str = "") -> None:
    """A replace to total ``qty`` at ``price`` went to the venue under ``venue_ref``."""
    if not fire(order, _REQUEST_REPLACE):
        raise IllegalTransition(order, _REQUEST_REPLACE)
    order.pending_qty = qty
    order.pending_price = price
    order.pending_ref = venue_ref


def cancel_input(order: Order) -> OrderInput:
    """Return the input a cancel that goes out now is: a release of a held one, or a fresh request."""
    return _RELEASE_CANCEL if order.state in HELD_CANCEL_STATES else _REQUEST_CANCEL


def table_markdown() -> str:
    """Return the order table as a Markdown table, one row per state (docs/architecture.md shows it)."""
    lines = [
        "| State | Venue inputs (any other: out of place) | Gateway requests (any other: IllegalTransition) |",
        "|---|---|---|",
    ]
    for state in OrderState:
        cells = []
        for kinds in (VENUE_INPUTS, REQUESTS):
            moves = [
                f"{event.name} -> {'same' if nxt is state else nxt.name}"
                for event in OrderInput
                if event in kinds and (nxt := _NEXT[state + event]) is not None
            ]
            cells.append(", ".join(moves) or "none")
        lines.append(f"| {state.name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"
