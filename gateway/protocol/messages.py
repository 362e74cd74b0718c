"""Strategy protocol messages: the contract between strategies and the gateway.

Every frame carries one MessagePack array whose first element is the message tag
and whose remaining elements are the fields below, in declaration order. Fields
with a default may be omitted from the end of the array. See
``docs/strategy-protocol.md`` for the byte-level description.

Prices are fixed-point integers with ``model.enums.PRICE_SCALE`` (10,000) units per currency
unit: ``150.25`` travels as ``1_502_500``. No binary floats ever cross the wire.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.venue_events import EVENT_MAX_PRICE, EVENT_MAX_QTY

PROTOCOL_VERSION: Final = 3
"""The newest protocol version this gateway speaks (what the SDK sends in its Hello)."""

MIN_PROTOCOL_VERSION: Final = 1
"""The oldest version still accepted: a Hello may carry any version from this to ``PROTOCOL_VERSION``.

A session speaks the version its Hello asked for (echoed in Welcome); messages introduced in a
later version are never sent to it. Version 2 added MassCancel's ``request_id`` and the
MassCancelAck / MassCancelRejected answers. Version 3 added ``req_seq`` to every request and
``last_req_seq`` to Welcome (docs/strategy-protocol.md, section 4.5).
"""

REQ_SEQ_VERSION: Final = 3
"""The first version whose requests carry ``req_seq``."""

LAST_SEQ_LIMIT: Final = 1 << 62
"""A Hello's ``last_seq`` must be below this, 2^62, or below the strategy's ``next_seq`` (else ``BAD_HELLO``,
docs/strategy-protocol.md 4.1; checked by the engine, which knows the numbering).

The gateway numbers a strategy's events on after a ``last_seq`` beyond its own (``LAST_SEQ_AHEAD``), and
journals that number: a bound far below 2^64 on that jump keeps every ``seq`` it can ever number (2^62 more
events would be needed to reach 2^63) within the journal's, the wire's and ``gateway status``' unsigned 64-bit
integers, and within a signed 64-bit integer in a strategy's own code. Requests cannot move a strategy's
numbering: only such a Hello can, so the jump is the one place it is bounded. A ``last_seq`` the gateway has
numbered itself (at or above 2^62 after a jump to near the bound) moves nothing and is always accepted, so a
strategy can always resume with the last ``seq`` it processed."""

MAX_STR_BYTES: Final = 32
"""Longest identifier (``str(32)`` in the protocol doc), counted in UTF-8 bytes, not characters."""

MAX_FRAME_SIZE: Final = 64 * 1024
"""Largest payload (bytes after the 4-byte length prefix) either side may send."""

MAX_PRICE: Final = EVENT_MAX_PRICE
"""Largest price value accepted (keeps prices exact in languages with float64 numbers)."""

MAX_QTY: Final = EVENT_MAX_QTY

# String lengths are bounded so a single frame can never make the gateway allocate much.
ClOrdId = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
OptName = Annotated[str, msgspec.Meta(max_length=32)]
Quantity = Annotated[int, msgspec.Meta(gt=0, le=MAX_QTY)]
NonNegQty = Annotated[int, msgspec.Meta(ge=0, le=MAX_QTY)]
Price = Annotated[int, msgspec.Meta(ge=0, le=MAX_PRICE)]
Seq = Annotated[int, msgspec.Meta(ge=0)]
ReqSeq = Annotated[int, msgspec.Meta(ge=0)]
"""A request's sequence number (version 3; 0 = absent: versions 1 and 2 have none)."""
Version = Annotated[int, msgspec.Meta(ge=0)]
"""A Hello's ``protocol_version``: a uint (one other than 1 to 3 is UNSUPPORTED_VERSION, a negative one BAD_HELLO)."""
SentNs = Annotated[int, msgspec.Meta(ge=0)]
"""A request's ``sent_ns``: the strategy's clock in ns, 0 when not given (a uint: a negative one is INVALID_FIELD)."""
Text = Annotated[str, msgspec.Meta(max_length=256)]


class _Message(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base for wire messages: positional MessagePack arrays with an integer tag first."""


# --------------------------------------------------------------------------------------
# Strategy -> gateway
# --------------------------------------------------------------------------------------


class Hello(_Message, tag=1, frozen=True):
    """Open a session; must be the first frame on a connection."""

    strategy_id: Name
    protocol_version: Version
    last_seq: Seq = 0
    """Highest event ``seq`` this strategy has already processed (0 on a fresh start)."""
    heartbeat_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 1_000


class NewOrder(_Message, tag=2, frozen=True):
    """Submit a new order."""

    cl_ord_id: ClOrdId
    account: Name
    venue: Name
    symbol: Name
    side: Side
    qty: Quantity
    price: Price
    tif: TimeInForce = TimeInForce.DAY
    ord_type: OrderType = OrderType.LIMIT
    sent_ns: SentNs = 0
    """Strategy's CLOCK_MONOTONIC at send time in ns (optional, used for latency measurement)."""
    req_seq: ReqSeq = 0
    """(Version 3) This request's number: 1, 2, 3, ... per strategy id for the session day."""


class Cancel(_Message, tag=3, frozen=True):
    """Cancel the remaining quantity of an open order."""

    cl_ord_id: ClOrdId
    sent_ns: SentNs = 0
    req_seq: ReqSeq = 0
    """(Version 3) As NewOrder's."""


class Replace(_Message, tag=4, frozen=True):
    """Change quantity and/or price of an open order; ``qty`` is the new total including fills."""

    cl_ord_id: ClOrdId
    qty: Quantity
    price: Price
    sent_ns: SentNs = 0
    req_seq: ReqSeq = 0
    """(Version 3) As NewOrder's."""


class MassCancel(_Message, tag=5, frozen=True):
    """Cancel every open order of this strategy matching the non-empty filters."""

    account: OptName = ""
    venue: OptName = ""
    symbol: OptName = ""
    request_id: OptName = ""
    """(Version 2) Echoed in the MassCancelAck / MassCancelRejected that answers this request."""
    req_seq: ReqSeq = 0
    """(Version 3) As NewOrder's."""


class Heartbeat(_Message, tag=6, frozen=True):
    """Keep the session alive; either side sends one after ``heartbeat_ms`` of silence."""


# --------------------------------------------------------------------------------------
# Gateway -> strategy
# --------------------------------------------------------------------------------------


class Welcome(_Message, tag=16, frozen=True):
    """Accept a Hello; events with ``seq > last_seq`` that the strategy missed follow."""

    protocol_version: int
    gateway_id: str
    next_seq: Seq
    """``seq`` the next order event will carry once any replayed events have been sent."""
    heartbeat_ms: int
    replayed: int = 0
    """Number of events re-sent right after this Welcome (missed while disconnected)."""
    last_req_seq: ReqSeq = 0
    """(Version 3) The highest ``req_seq`` the gateway has processed for this strategy id (0: none yet)."""


class WelcomeV2(_Message, tag=16, frozen=True):
    """The Welcome of versions 1 and 2 (without ``last_req_seq``), for sessions that speak them.

    Encode only: a decoder reads it as ``Welcome``, whose ``last_req_seq`` then defaults to 0.
    """

    protocol_version: int
    gateway_id: str
    next_seq: Seq
    heartbeat_ms: int
    replayed: int = 0


class OrderAccepted(_Message, tag=17, frozen=True):
    """The venue acknowledged the order; it is live."""

    seq: Seq
    cl_ord_id: str
    venue_order_id: str
    qty: int
    price: int


class OrderRejected(_Message, tag=18, frozen=True):
    """The order was refused and is finished; ``source`` says who refused it."""

    seq: Seq
    cl_ord_id: str
    source: RejectSource
    code: str
    text: str


class Executed(_Message, tag=19, frozen=True):
    """A (partial) fill; the order is finished when ``leaves_qty`` is 0."""

    seq: Seq
    cl_ord_id: str
    qty: int
    price: int
    liquidity: str
    exec_id: str
    cum_qty: int
    leaves_qty: int


class Canceled(_Message, tag=20, frozen=True):
    """Quantity was canceled; the order is finished when ``leaves_qty`` is 0."""

    seq: Seq
    cl_ord_id: str
    canceled_qty: int
    leaves_qty: int
    reason: str
    text: str


class Replaced(_Message, tag=21, frozen=True):
    """A Replace took effect; ``qty`` is the new total and ``leaves_qty`` what is still open."""

    seq: Seq
    cl_ord_id: str
    qty: int
    price: int
    leaves_qty: int


class CancelRejected(_Message, tag=22, frozen=True):
    """A Cancel or Replace was refused; the order is unchanged."""

    seq: Seq
    cl_ord_id: str
    source: RejectSource
    code: str
    text: str


class Error(_Message, tag=23, frozen=True):
    """A protocol-level problem with what the strategy sent; ``fatal`` means the gateway closes."""

    code: str
    text: str
    fatal: bool = False


class VenueStatus(_Message, tag=24, frozen=True):
    """A venue session changed state (informational; orders in flight resolve after reconnect)."""

    venue: str
    state: str
    text: str


class MassCancelAck(_Message, tag=25, frozen=True):
    """(Version 2) A MassCancel was carried out: ``count`` matching open orders are being canceled.

    Not an order event: no ``seq``, never replayed (each order's own Canceled is).
    """

    request_id: str
    count: int


class MassCancelRejected(_Message, tag=26, frozen=True):
    """(Version 2) A MassCancel was refused; nothing was canceled. Not an order event."""

    request_id: str
    code: str
    text: str


StrategyMessage = Hello | NewOrder | Cancel | Replace | MassCancel | Heartbeat
GatewayMessage = (
    Welcome
    | OrderAccepted
    | OrderRejected
    | Executed
    | Canceled
    | Replaced
    | CancelRejected
    | Heartbeat
    | Error
    | VenueStatus
    | MassCancelAck
    | MassCancelRejected
)
OrderEvent = OrderAccepted | OrderRejected | Executed | Canceled | Replaced | CancelRejected
"""Events about one order; each carries the per-strategy sequence number ``seq``."""
SequencedRequest = NewOrder | Cancel | Replace | MassCancel
"""The requests that carry ``req_seq`` in version 3."""
MassCancelAnswer = MassCancelAck | MassCancelRejected
"""What answers a MassCancel (not an order event: kept by ``req_seq`` so a re-sent duplicate gets it again)."""
