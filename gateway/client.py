"""Strategy SDK: talk to the gateway over its Unix socket.

Asyncio::

    async with GatewayClient("/run/gateway/strategies.sock", "my-strategy", auto_reconnect=True) as gw:
        order = await gw.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "150.25")
        final = await order.wait_done()          # Executed / Canceled / OrderRejected
        async for event in gw.events():          # or watch everything (the replay included)
            ...

Blocking (scripts)::

    with BlockingGatewayClient(path, "my-script") as gw:
        order = gw.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "150.25")
        print(gw.wait_done(order, timeout=5))

Prices are decimal strings or ``Decimal`` (``"150.25"``), or the wire's fixed-point integer
passed explicitly as ``price_ticks=1_502_500``; a bare ``int`` price is refused (``TypeError``)
because 229 could mean $229 or $0.0229.

``last_seq`` is the highest event sequence number processed. The client sends it in every
Hello, so a reconnect (``connect()`` again, or ``auto_reconnect=True``) receives exactly the
events it missed. Order handles belong to the client, not to one connection: they keep
updating across reconnects.

Exactly once across a gateway crash (protocol version 3): every request carries ``req_seq``
(1, 2, 3, ... per strategy id for the session day, numbered by the client). The client keeps
each request until it knows the gateway processed it; after a reconnect, ``Welcome.last_req_seq``
says how far the gateway got: the requests after it are sent again, unchanged and in order
(``resend=True``, the default), or reported as not received (``resend=False``:
``RequestNotReceivedError``, ``client.not_received``); the answers to those at or below it are in the
replay (a MassCancel's, which is not replayed, is asked for again). No request is carried out
twice, none is left without an answer, and nothing needs probing.

After a power failure cut the gateway's journal (``Error(LAST_SEQ_AHEAD)``), events it numbered before the Hello
are issued again; one may repeat a fill this client holds: an ``Executed`` with an ``exec_id`` the order already has
is dropped, at any time (``repeats_dropped``; docs/strategy-protocol.md 4.1).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import enum
import itertools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import msgspec

from gateway.protocol.framing import FrameSplitter, FrameWriter, gateway_message_decoder
from gateway.protocol.messages import (
    MAX_STR_BYTES,
    PROTOCOL_VERSION,
    REQ_SEQ_VERSION,
    Cancel,
    Canceled,
    CancelRejected,
    Error,
    Executed,
    GatewayMessage,
    Heartbeat,
    Hello,
    MassCancel,
    MassCancelAck,
    MassCancelRejected,
    NewOrder,
    OrderAccepted,
    OrderEvent,
    OrderRejected,
    Replace,
    Replaced,
    SequencedRequest,
    VenueStatus,
    Welcome,
)
from gateway.protocol.prices import to_decimal, to_fixed
from model.enums import OrderType, Side, TimeInForce

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=SequencedRequest)
PriceLike = str | Decimal
"""A price in currency units, exactly: ``"150.25"`` or ``Decimal("150.25")`` (never a float or a bare int)."""
_ORDER_EVENTS = (OrderAccepted, OrderRejected, Executed, Canceled, Replaced, CancelRejected)
CLOSE_DRAIN_S = 1.0
"""How long ``close()`` lets buffered requests drain to a gateway that is not reading before dropping them."""
PERMANENT_REFUSALS = frozenset({"NOT_AUTHORIZED", "UNSUPPORTED_VERSION", "BAD_HELLO", "HELLO_REQUIRED"})
"""Fatal Error codes after which reconnecting cannot help: auto-reconnect stops."""
TRANSIENT_REFUSALS = frozenset({"ALREADY_CONNECTED", "TOO_MANY_CONNECTIONS"})
"""Refusals of a Hello that clear by themselves (the old session's close not read yet, a flood of idle connections):
with ``auto_reconnect`` a first ``connect()`` tries again for ``timeout`` before raising."""


class GatewayError(Exception):
    """The gateway refused the session or the connection failed."""


class RequestNotReceivedError(GatewayError):
    """The gateway never got this request (it restarted without it), and with ``resend=False`` it was not sent again.

    Raised by the waits of a NewOrder's handle and by ``mass_cancel``; ``request`` is the request as
    it was sent. Nothing of it reached a venue.
    """

    def __init__(self, request: SequencedRequest, why: str = "not sent again (resend=False)") -> None:
        super().__init__(f"request {request.req_seq} ({type(request).__name__}) not received by the gateway: {why}")
        self.request = request


class RequestOutcomeUnknownError(GatewayError):
    """The gateway started a new trading session (a new journal) while this request was in flight.

    The new session never got it and will not answer it; whether the previous one carried it out
    before it ended is unknown (reconcile with the venue's records). Raised by the waits of a
    NewOrder's handle and by ``mass_cancel``; ``request`` is the request as it was sent.
    """

    def __init__(self, request: SequencedRequest) -> None:
        super().__init__(
            f"request {request.req_seq} ({type(request).__name__}): the gateway started a new session while it "
            "was in flight; whether the previous session carried it out is unknown"
        )
        self.request = request


class RequestRefusedError(GatewayError):
    """The gateway could not read this request and answered it with a non-fatal ``Error`` (``error``).

    Raised by the waits of a NewOrder's handle (status ``REJECTED``); ``request`` is the request as sent.
    The SDK checks what it can before sending, so this means a field the gateway reads differently.
    """

    def __init__(self, request: SequencedRequest, error: Error) -> None:
        super().__init__(f"request {request.req_seq} ({type(request).__name__}) refused: {error.code}: {error.text}")
        self.request = request
        self.error = error


class OrderStatus(enum.StrEnum):
    """An order's status as the strategy sees it."""

    PENDING_NEW = "PENDING_NEW"
    LIVE = "LIVE"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    NOT_RECEIVED = "NOT_RECEIVED"
    """The gateway never got the NewOrder, which was not sent again (``RequestNotReceivedError``): reusable id."""
    UNKNOWN = "UNKNOWN"
    """The gateway started a new session while the NewOrder was in flight (``RequestOutcomeUnknownError``)."""


TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.NOT_RECEIVED, OrderStatus.UNKNOWN}
)


class ConnectionState(enum.StrEnum):
    """Where the client's connection stands."""

    DISCONNECTED = "DISCONNECTED"
    """Not connected (not yet, or the connection was lost; with ``auto_reconnect`` a retry is scheduled)."""
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    """Welcome received: requests may be sent."""
    CLOSED = "CLOSED"
    """``close()`` was called, or auto-reconnect gave up after a permanent refusal."""


@dataclass(frozen=True)
class ConnectionEvent:
    """A change of the client's connection state (yielded by ``events()`` and passed to ``on_connection_state``)."""

    state: ConnectionState
    reason: str = ""


def price_to_ticks(price: PriceLike | None, price_ticks: int | None, ord_type: OrderType = OrderType.LIMIT) -> int:
    """Return the wire's fixed-point price from exactly one of ``price`` (decimal) or ``price_ticks`` (int)."""
    if price_ticks is not None:
        if price is not None:
            raise TypeError("give either price (decimal) or price_ticks (fixed-point int), not both")
        if type(price_ticks) is not int:
            raise TypeError(f"price_ticks must be an int in 1/10,000 currency units, got {price_ticks!r}")
        return price_ticks
    if price is None:
        if ord_type is OrderType.MARKET:
            return 0
        raise TypeError("a limit order needs a price: price='230.10' (str or Decimal) or price_ticks=2301000")
    value: object = price  # callers without type checks pass anything
    if isinstance(value, bool | int):
        raise TypeError(
            f"price={value!r} is ambiguous: pass a decimal string or Decimal (price='{value}' means {value} currency "
            f"units) or the wire's fixed-point integer as price_ticks={value} (= {to_decimal(value)} currency units)"
        )
    if not isinstance(value, str | Decimal):
        raise TypeError(f"price must be a decimal str or Decimal (never a float), got {type(value).__name__}")
    return to_fixed(value)


def check_cl_ord_id(value: object, what: str = "cl_ord_id") -> str:
    """Return ``value`` if it is an id the gateway can read (a str of 1 to 32 UTF-8 bytes), else raise.

    TypeError for a non-str, ValueError for an empty or too long one: nothing is sent.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    size = len(value.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= MAX_STR_BYTES:
        raise ValueError(f"{what} {value!r} is {size} bytes in UTF-8; the gateway reads 1 to {MAX_STR_BYTES}")
    return value


def _check_str(name: str, value: object, *, optional: bool = False) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not optional and not value:
        raise ValueError(f"{name} must not be empty")


def _check_filter(name: str, value: object) -> None:
    """Check a MassCancel filter: a str of 0 (any) to 32 UTF-8 bytes, else raise (TypeError / ValueError)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_STR_BYTES:
        raise ValueError(f"{name} filter is {size} bytes in UTF-8; the gateway reads 0 (any) to {MAX_STR_BYTES}")


def _check_int(name: str, value: object) -> None:
    if type(value) is not int:  # not bool, not numpy.int64: the wire takes a plain int
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r}); convert it with int()")


_E = TypeVar("_E", Side, TimeInForce, OrderType)


def _check_enum(name: str, value: object, kind: type[_E]) -> _E:
    """Return ``value`` as a ``kind`` member: a member, or its wire code (``"0"``); else raise, nothing sent.

    A member's name (``"DAY"``) is not its wire code: ValueError naming the member to pass instead.
    """
    if isinstance(value, kind):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__} ({value!r})")
    try:
        return kind(value)
    except ValueError:
        pass
    named = kind.__members__.get(value.upper())
    hint = f": pass {kind.__name__}.{named.name} (wire code {named.value!r})" if named is not None else ""
    codes = ", ".join(f"{m.name} {m.value!r}" for m in kind)
    raise ValueError(f"{name} {value!r} is not a wire code of {kind.__name__} ({codes}){hint}")


def _id_of(order: OrderHandle | str) -> str:
    return order.cl_ord_id if isinstance(order, OrderHandle) else order


def _id_prefix(prefix: object) -> str:
    """Return the prefix ids start with: ``prefix``, plus ``-`` if it ends with a digit (``run1`` -> ``run1-``)."""
    if not isinstance(prefix, str):
        raise TypeError(f"cl_ord_id_prefix must be a str, got {type(prefix).__name__}")
    if prefix[-1:].isdigit():
        prefix += "-"  # "run1" + 11 and "run11" + 1 must not both be "run11"
    check_cl_ord_id(prefix + "1", "cl_ord_id_prefix + counter")
    return prefix


class OrderHandle:
    """One order: its latest state, every event so far, and awaitables for what comes next.

    A handle belongs to its client, not to one connection: events replayed after a reconnect
    update it, and ``cancel`` / ``replace`` go out on whatever connection is current.
    """

    def __init__(self, client: GatewayClient, cl_ord_id: str, request: NewOrder | None) -> None:
        self._client = client
        self.cl_ord_id = cl_ord_id
        self.request = request
        self.status = OrderStatus.PENDING_NEW
        self.qty = request.qty if request else 0
        self.price = request.price if request else 0
        """The price in fixed-point ticks (1/10,000 currency units), as on the wire; see ``price_decimal``."""
        self.cum_qty = 0
        self.leaves_qty = self.qty
        self.venue_order_id = ""
        self.events: list[OrderEvent] = []
        self.last_cancel_reject: CancelRejected | None = None
        self._exec_ids: set[str] | None = None
        """The ``exec_id`` of every fill of this order taken (made at the first): an ``Executed`` repeating one is
        dropped (``GatewayClient._repeated_fill``). As long-lived as ``events``, which holds those fills anyway."""
        self._repeats = 0
        """NewOrders sent again for this handle whose DUPLICATE_CL_ORD_ID answer is still to come."""
        loop = asyncio.get_running_loop()
        self._done: asyncio.Future[OrderEvent] = loop.create_future()
        self._acked: asyncio.Future[OrderEvent] = loop.create_future()
        self._changed = asyncio.Event()

    @property
    def is_terminal(self) -> bool:
        """Return True once the order can change no more."""
        return self.status in TERMINAL

    @property
    def price_decimal(self) -> Decimal:
        """Return the price in currency units."""
        return to_decimal(self.price)

    def _apply(self, event: OrderEvent) -> None:
        self.events.append(event)
        if isinstance(event, OrderAccepted):
            self.status = OrderStatus.LIVE if self.status is OrderStatus.PENDING_NEW else self.status
            self.venue_order_id = event.venue_order_id
            self.qty = event.qty  # as the venue accepted it: the open quantity follows
            self.leaves_qty = max(event.qty - self.cum_qty, 0)
            self.price = event.price or self.price
            _resolve(self._acked, event)
        elif isinstance(event, Executed):
            self.cum_qty, self.leaves_qty = event.cum_qty, event.leaves_qty
            if event.exec_id:
                if self._exec_ids is None:
                    self._exec_ids = {event.exec_id}
                else:
                    self._exec_ids.add(event.exec_id)
            if self.is_terminal:  # a fill the venue reported after the order's end: it counts, the end stands
                pass
            elif event.leaves_qty == 0:
                self.status = OrderStatus.FILLED
            elif self.status is OrderStatus.PENDING_NEW:
                self.status = OrderStatus.LIVE
            _resolve(self._acked, event)
        elif isinstance(event, Canceled):
            self.leaves_qty = event.leaves_qty
            if event.leaves_qty == 0:
                self.status = OrderStatus.CANCELED
            _resolve(self._acked, event)
        elif isinstance(event, Replaced):
            self.qty, self.price, self.leaves_qty = event.qty, event.price, event.leaves_qty
        elif isinstance(event, OrderRejected):
            if self._repeats and event.code == "DUPLICATE_CL_ORD_ID" and event.source == "GATEWAY":
                self._repeats -= 1
                self._changed.set()  # the answer to a repeated request: the order itself is untouched
                return
            self.status = OrderStatus.REJECTED
            self.leaves_qty = 0
            _resolve(self._acked, event)
        elif isinstance(event, CancelRejected):
            self.last_cancel_reject = event
        if self.is_terminal:
            _resolve(self._done, event)
        self._changed.set()

    def _give_up(self, error: RequestNotReceivedError | RequestOutcomeUnknownError | RequestRefusedError) -> None:
        """The NewOrder will get no order event (not received, lost with a previous session, or unreadable): end it."""
        certain = not isinstance(error, RequestOutcomeUnknownError)
        if isinstance(error, RequestRefusedError):
            self.status = OrderStatus.REJECTED
        else:
            self.status = OrderStatus.NOT_RECEIVED if certain else OrderStatus.UNKNOWN
        if certain:
            self.leaves_qty = 0
        for fut in (self._acked, self._done):
            if not fut.done():
                fut.set_exception(error)
                fut.exception()  # retrieved: nobody may be waiting
        self._changed.set()

    async def wait_accepted(self, timeout: float | None = None) -> OrderEvent:
        """Wait for the venue's answer: OrderAccepted, or OrderRejected, or an early fill/cancel.

        Raises GatewayError if the client gives up first: without ``auto_reconnect`` when the
        connection is lost; with it, only when the client is closed.
        """
        return await self._client._wait_for(self._acked, timeout)

    async def wait_done(self, timeout: float | None = None) -> OrderEvent:
        """Wait until the order is terminal and return the event that ended it (GatewayError as above)."""
        return await self._client._wait_for(self._done, timeout)

    async def updates(self) -> AsyncIterator[OrderEvent]:
        """Yield this order's events as they arrive (earlier ones first) until it is terminal."""
        seen = 0
        while True:
            while seen < len(self.events):
                seen += 1
                yield self.events[seen - 1]
            if self.is_terminal:
                return
            self._client._check_not_given_up("order updates")
            self._changed.clear()
            await self._changed.wait()

    async def cancel(self) -> None:
        """Ask the gateway to cancel this order."""
        await self._client.cancel(self.cl_ord_id)

    async def replace(self, qty: int, price: PriceLike | None = None, *, price_ticks: int | None = None) -> None:
        """Ask the gateway to change the total quantity and price (decimal ``price`` or ``price_ticks``)."""
        await self._client.replace(self.cl_ord_id, qty, price, price_ticks=price_ticks)

    def __repr__(self) -> str:
        return (
            f"OrderHandle({self.cl_ord_id!r}, {self.status.value}, qty={self.qty}, "
            f"cum={self.cum_qty}, leaves={self.leaves_qty})"
        )


def _resolve(fut: asyncio.Future[T], value: T) -> None:
    if not fut.done():
        fut.set_result(value)


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, client: GatewayClient) -> None:
        self._client = client
        self._splitter = FrameSplitter()
        self._decode = gateway_message_decoder.decode

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        self._client._transport = transport

    def data_received(self, data: bytes) -> None:
        client = self._client
        client._last_received = time.monotonic_ns()
        for frame in self._splitter.feed(data):
            try:
                message = self._decode(frame)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:  # e.g. a tag from a newer version
                log.warning("skipped a frame from the gateway this SDK cannot decode: %s", exc)
                continue
            client._on_message(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client._on_lost(exc)

    def pause_writing(self) -> None:
        self._client._writable.clear()

    def resume_writing(self) -> None:
        self._client._writable.set()


class GatewayClient:
    """An asyncio connection to the gateway for one strategy id.

    ``auto_reconnect=True``: when an established connection is lost, reconnect with
    ``last_seq`` after ``reconnect_initial_s``, doubling the wait up to ``reconnect_max_s``
    between failed attempts; stop only on ``close()`` or a permanent refusal
    (``PERMANENT_REFUSALS``). ``on_connection_state`` is called with a ``ConnectionEvent`` on
    every change; ``events()`` yields the same objects.

    ``protocol_version`` (default the newest, 3) is sent in every Hello; 2 gives up the request
    numbering (for a gateway that speaks only 1 and 2). ``resend`` (version 3): after a reconnect,
    send the requests the gateway did not process again (True) or report them as not received.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        strategy_id: str,
        *,
        heartbeat_ms: int = 1_000,
        last_seq: int = 0,
        cl_ord_id_prefix: str | None = None,
        auto_reconnect: bool = False,
        reconnect_initial_s: float = 0.05,
        reconnect_max_s: float = 5.0,
        on_connection_state: Callable[[ConnectionEvent], None] | None = None,
        protocol_version: int = PROTOCOL_VERSION,
        resend: bool = True,
        resend_venue_wait_s: float = 5.0,
        welcome_timeout_s: float = 60.0,
    ) -> None:
        self.socket_path = os.fspath(socket_path)
        self.strategy_id = strategy_id
        self.heartbeat_ms = heartbeat_ms
        self.last_seq = last_seq
        self.first_seq = last_seq
        """The ``last_seq`` the client started from: ``events()`` yields everything after it by default."""
        self.auto_reconnect = auto_reconnect
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self.on_connection_state = on_connection_state
        self.state = ConnectionState.DISCONNECTED
        self.welcome: Welcome | None = None
        self.orders: dict[str, OrderHandle] = {}
        self.history: list[OrderEvent] = []
        """Every order event this client processed, in ``seq`` order, across connections."""
        self.venues: dict[str, VenueStatus] = {}
        """The latest VenueStatus per venue (the gateway sends every venue's state after each Welcome)."""
        self.errors: list[Error] = []
        self.repeats_dropped = 0
        """Executed events dropped as repeats of a fill already held (same ``exec_id``, at any time: ``_on_message``;
        the events issued again after a power failure may repeat one, docs/strategy-protocol.md 4.1)."""
        self.close_reason = ""
        self.connections = 0
        self.protocol_version = protocol_version
        self.resend = resend
        self.resend_venue_wait_s = resend_venue_wait_s
        self.welcome_timeout_s = welcome_timeout_s
        """Once connected, wait this long at least for the Welcome: a reconnect far back waits for the gateway's
        read of its journal (seconds on a long day; every new attempt would start that read again)."""
        """Before sending requests again after a reconnect, wait this long at most for their venues to be UP."""
        self._fresh_venues: dict[str, str] = {}
        """Venue states received on the current connection (the ones from before may be stale)."""
        self._venue_news = asyncio.Event()
        self.req_seq = 0
        """(Version 3) The number of the last request sent; the next one gets ``req_seq + 1``."""
        self.processed_req_seq = 0
        """(Version 3) Every request up to this number is known to have been processed by the gateway."""
        self.resent = 0
        """Requests sent again after reconnects because the gateway had not processed them."""
        self.not_received: list[SequencedRequest] = []
        """Requests the gateway never got that were not sent again (``resend=False``)."""
        self.outcome_unknown: list[SequencedRequest] = []
        """Requests in flight when the gateway started a new session (``RequestOutcomeUnknownError``)."""
        self._unprocessed: dict[int, SequencedRequest] = {}
        """Requests sent and not known to be processed, by ``req_seq`` (increasing)."""
        self._new_order_seq: dict[str, int] = {}
        """``req_seq`` of each NewOrder with no event yet: its first event proves it (and all before it) processed."""
        self._mass_cancel_seq: dict[str, MassCancel] = {}
        """MassCancels without an answer yet, by ``request_id``."""
        self._sequenced = False
        """True while the session speaks version 3 (requests carry ``req_seq``)."""
        self._prefix = _id_prefix(cl_ord_id_prefix) if cl_ord_id_prefix is not None else _default_prefix()
        self._frames_out = 0
        """Frames sent on the current connection (the Hello is 1), as the gateway counts them (``frame N:``)."""
        self._frame_requests: dict[int, SequencedRequest] = {}
        """Numbered requests sent on the current connection and not known processed, by frame number."""
        self._counter = itertools.count(1)
        self._writer = FrameWriter()
        self._transport: asyncio.Transport | None = None
        self._welcome: asyncio.Future[Welcome] | None = None
        self._subscribers: list[asyncio.Queue[GatewayMessage | ConnectionEvent | None]] = []
        self._mass_cancels: dict[str, asyncio.Future[MassCancelAck | MassCancelRejected]] = {}
        self._writable = asyncio.Event()
        self._writable.set()
        self._last_sent = 0
        self._last_received = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed: asyncio.Future[None] | None = None
        self._give_up: asyncio.Future[None] | None = None
        """Resolved when waiters on order handles must stop waiting (see ``wait_done``)."""
        self._established = False
        self._closing = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._lost_reason = ""
        """Why the last established connection was lost (``close_reason`` is each attempt's since)."""
        self._gave_up_reason = ""
        """Why auto-reconnect stopped for good (a permanent refusal), for ``GatewayError`` texts."""

    # ---- lifecycle -------------------------------------------------------------------------

    async def connect(self, timeout: float = 5.0) -> Welcome:
        """Connect, say Hello with ``last_seq`` and wait for Welcome (missed events follow it automatically).

        ``timeout`` bounds the connection; the Welcome is awaited for ``timeout`` or ``welcome_timeout_s``,
        whichever is longer.

        May be called again after the connection was lost: handles and ``last_seq`` carry over. With
        ``auto_reconnect``, a refusal that clears by itself (``TRANSIENT_REFUSALS``) is tried again with the
        reconnect backoff for ``timeout`` seconds before it is raised.
        """
        if self._transport_open and self.welcome is not None:  # up, or an automatic reconnect's handshake
            return self.welcome
        self._closing = False
        self._gave_up_reason = ""
        if not self.auto_reconnect:
            return await self._open(timeout)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        delay = self.reconnect_initial_s
        while True:
            try:
                return await self._open(timeout)
            except GatewayError as exc:
                code = self.close_reason.split(":", 1)[0]
                if code not in TRANSIENT_REFUSALS or self._closing or loop.time() + delay > give_up:
                    raise
                log.warning("connect refused (%s); next attempt in %.2f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_s)

    async def _open(self, timeout: float) -> Welcome:
        loop = asyncio.get_running_loop()
        self._welcome = loop.create_future()
        self._closed = loop.create_future()
        self._established = False
        self.close_reason = ""
        self._set_state(ConnectionState.CONNECTING)
        try:
            await asyncio.wait_for(
                loop.create_unix_connection(lambda: _ClientProtocol(self), self.socket_path), timeout
            )
        except (OSError, TimeoutError) as exc:
            self.close_reason = f"cannot connect to gateway at {self.socket_path}: {exc}"
            self._set_state(ConnectionState.DISCONNECTED, self.close_reason)
            raise GatewayError(self.close_reason) from exc
        self._last_received = time.monotonic_ns()
        self._frames_out = 0
        self._frame_requests.clear()
        self._fresh_venues.clear()
        self._send(Hello(self.strategy_id, self.protocol_version, self.last_seq, self.heartbeat_ms))
        try:
            welcome = await asyncio.wait_for(asyncio.shield(self._welcome), max(timeout, self.welcome_timeout_s))
            if not self._transport_open:  # lost right after the Welcome, before this task resumed
                raise GatewayError(self.close_reason or "connection closed")
        except (TimeoutError, GatewayError) as exc:
            if isinstance(exc, TimeoutError):
                self.close_reason = "no Welcome from the gateway within the timeout"
            if self._transport is not None:
                self._transport.close()
            self._set_state(ConnectionState.DISCONNECTED, self.close_reason)
            raise GatewayError(self.close_reason) from None
        self._schedule_heartbeat()
        if self._sequenced_resend_pending(welcome) and not await self._wait_venues_up():
            if self._timer is not None:  # lost while waiting: as if lost before the Welcome
                self._timer.cancel()
            self._set_state(ConnectionState.DISCONNECTED, self.close_reason)
            raise GatewayError(self.close_reason or "connection closed")
        self.welcome = welcome
        self._established = True
        self.connections += 1
        if self._give_up is None or self._give_up.done():
            self._give_up = loop.create_future()
        resent, lost = self._after_welcome(welcome)
        reason = f"replayed {welcome.replayed} events"
        if resent:
            reason += f", re-sent {resent} requests the gateway had not processed"
        if lost:
            reason += f", {lost} requests in flight not sent again"
        self._set_state(ConnectionState.CONNECTED, reason)
        return welcome

    def _sequenced_resend_pending(self, welcome: Welcome) -> bool:
        """Return True if ``_after_welcome`` will send requests again (version 3, ``resend``, some not processed)."""
        if (
            welcome.protocol_version < REQ_SEQ_VERSION
            or not self.resend
            or welcome.last_req_seq < self.processed_req_seq
        ):
            return False
        return any(seq > welcome.last_req_seq for seq in self._unprocessed)

    def _resend_venues(self) -> set[str]:
        """Return the venues the requests to send again go to (a Cancel's or Replace's: its order's)."""
        venues: set[str] = set()
        for request in self._unprocessed.values():
            if isinstance(request, NewOrder | MassCancel):
                venue = request.venue
            else:
                handle = self.orders.get(request.cl_ord_id)
                venue = handle.request.venue if handle is not None and handle.request is not None else ""
            if venue in self.venues:  # a venue the gateway never reported cannot become UP: no waiting for it
                venues.add(venue)
        return venues

    async def _wait_venues_up(self) -> bool:
        """Wait (at most ``resend_venue_wait_s``) until every venue the resends go to says UP on this connection.

        The gateway sends every venue's state right after the Welcome; after its own restart a venue
        is usually still logging in, and a request sent now would be refused ``VENUE_UNAVAILABLE``
        (4.5). After the wait the requests go anyway, and the gateway's answer stands. Return
        False if the connection was lost meanwhile.
        """
        venues = self._resend_venues()
        deadline = time.monotonic() + self.resend_venue_wait_s
        while self._transport_open and any(self._fresh_venues.get(v) != "UP" for v in venues):
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    "venues %s not UP after %.1f s: sending the requests again anyway",
                    sorted(v for v in venues if self._fresh_venues.get(v) != "UP"),
                    self.resend_venue_wait_s,
                )
                break
            self._venue_news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._venue_news.wait(), min(left, 0.05))
        return self._transport_open

    def _after_welcome(self, welcome: Welcome) -> tuple[int, int]:
        """(Version 3) Settle the requests in flight with ``welcome.last_req_seq``; return (re-sent, not received).

        Requests at or below it were processed: their answers are in the replay, or still to
        come from the venue; a MassCancel still waiting for its answer is sent again, and the
        gateway, recognising the duplicate, answers it again. Requests above it never reached
        the gateway: sent again unchanged and in order before anything new (or reported as not
        received with ``resend=False``). A ``last_req_seq`` below a request known to be processed
        means the gateway started a new session (a new day's journal) or its journal lost its tail (a
        power failure): nothing is sent again, and what was in flight ends with
        ``RequestOutcomeUnknownError``. ``last_seq`` stays: the gateway numbers new events after it
        (``Error(LAST_SEQ_AHEAD)``).
        """
        self._sequenced = welcome.protocol_version >= REQ_SEQ_VERSION
        if not self._sequenced:
            return 0, 0
        last = welcome.last_req_seq
        if last < self.processed_req_seq:
            log.warning(
                "the gateway processed up to request %d but now says %d: it started a new session (journal), or "
                "its journal lost its tail in a power failure; %d requests in flight will get no answer (reconcile "
                "with the venue)",
                self.processed_req_seq,
                last,
                len(self._unprocessed),
            )
            lost = self._give_up_unprocessed(certain=False)
            self.req_seq = self.processed_req_seq = last
            return 0, lost
        self.req_seq = max(self.req_seq, last)  # a new client (or the strategy restarted) continues after it
        self._mark_processed(last)
        for mass_cancel in list(self._mass_cancel_seq.values()):
            if mass_cancel.req_seq <= last:  # processed, but its answer (not an order event) was lost: ask again
                self._send(mass_cancel)
        if not self._unprocessed:
            return 0, 0
        if not self.resend:
            lost = self._give_up_unprocessed(certain=True)
            self.req_seq = last  # the gateway expects last + 1 next
            return 0, lost
        for request in self._unprocessed.values():
            self._send(request)
            self._frame_requests[self._frames_out] = request
        self.resent += len(self._unprocessed)
        return len(self._unprocessed), 0

    def _give_up_unprocessed(self, *, certain: bool) -> int:
        """End every request not known to be processed; return how many.

        ``certain``: the gateway said it never got them (they go to ``not_received``); otherwise it
        started a new session and their outcome is unknown (MassCancels still waiting for their
        answer end too: the new session has none to give).
        """
        requests = list(self._unprocessed.values())
        self._unprocessed.clear()
        if not certain:
            requests += [r for r in self._mass_cancel_seq.values() if r not in requests]
        for request in requests:
            error = RequestNotReceivedError(request) if certain else RequestOutcomeUnknownError(request)
            (self.not_received if certain else self.outcome_unknown).append(request)
            if isinstance(request, NewOrder):
                if self._new_order_seq.get(request.cl_ord_id) == request.req_seq:
                    del self._new_order_seq[request.cl_ord_id]
                handle = self.orders.get(request.cl_ord_id)
                if handle is not None and not handle.events:
                    handle._give_up(error)
            elif isinstance(request, MassCancel):
                self._mass_cancel_seq.pop(request.request_id, None)
                answer = self._mass_cancels.get(request.request_id)
                if answer is not None and not answer.done():
                    answer.set_exception(error)
        return len(requests)

    def _mark_processed(self, req_seq: int) -> None:
        """Every request up to ``req_seq`` was processed: stop keeping them."""
        if req_seq <= self.processed_req_seq:
            return
        self.processed_req_seq = req_seq
        unprocessed = self._unprocessed
        while unprocessed:
            first = next(iter(unprocessed))
            if first > req_seq:
                break
            del unprocessed[first]
        by_frame = self._frame_requests
        while by_frame:
            frame = next(iter(by_frame))
            if by_frame[frame].req_seq > req_seq:
                break
            del by_frame[frame]

    async def close(self) -> None:
        """Close the connection for good (open orders follow the strategy's disconnect policy)."""
        self._closing = True
        task = self._reconnect_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._timer is not None:
            self._timer.cancel()
        transport = self._transport
        if transport is not None:
            transport.close()  # sends what is buffered first ...
            if self._closed is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(self._closed), CLOSE_DRAIN_S)
                except TimeoutError:  # ... unless the gateway stopped reading: drop it
                    transport.abort()
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(self._closed)
                except asyncio.CancelledError:
                    pass
        self._stop("closed by the client")

    def _stop(self, reason: str) -> None:
        """Stop for good: waiters give up, iterators end."""
        if self._give_up is not None:
            _resolve(self._give_up, None)
        self._wake_handles()
        if self.state is not ConnectionState.CLOSED:
            self._set_state(ConnectionState.CLOSED, reason)
            for queue in self._subscribers:
                queue.put_nowait(None)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Return True while the session is up: Welcome received (state ``CONNECTED``), connection open.

        False while an automatic reconnect is under way, also once its new connection is open and waits for
        the Welcome (or for the venues before sending requests again): requests raise ``GatewayError`` then.
        """
        return self.state is ConnectionState.CONNECTED and self._transport_open

    @property
    def reconnecting(self) -> bool:
        """Return True while auto-reconnect is trying to get the session back (attempts, or a handshake)."""
        task = self._reconnect_task
        return task is not None and not task.done() and not self._closing

    @property
    def _transport_open(self) -> bool:
        """Return True while the current connection (established or in its handshake) is open."""
        return self._transport is not None and not self._transport.is_closing()

    def _not_connected(self, fallback: str = "connection closed") -> str:
        """Return the ``GatewayError`` text for a request or wait with no session: reconnecting, gave up, or why."""
        if self.reconnecting:
            text = f"not connected: reconnecting to the gateway (connection lost: {self._lost_reason or fallback}"
            if self.state is ConnectionState.CONNECTING:
                text += "; an attempt is under way"
            elif self.close_reason and self.close_reason != self._lost_reason:
                text += f"; last attempt: {self.close_reason}"
            return text + "); nothing was sent: wait_connected() waits for the session"
        if self._gave_up_reason:
            return f"not connected: auto-reconnect gave up ({self._gave_up_reason})"
        return f"not connected ({self.close_reason or fallback})"

    async def wait_closed(self) -> None:
        """Wait until the current connection is gone."""
        if self._closed is not None:
            await asyncio.shield(self._closed)

    async def wait_connected(self, timeout: float | None = None) -> Welcome:
        """Wait until the client is connected (e.g. after an automatic reconnect); return the Welcome."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self.connected and self.state is ConnectionState.CONNECTED):
            self._check_not_given_up("connecting")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("not connected within the timeout")
            await asyncio.sleep(0.01)
        assert self.welcome is not None
        return self.welcome

    def _set_state(self, state: ConnectionState, reason: str = "") -> None:
        if state is self.state and state is not ConnectionState.CONNECTED:
            return
        self.state = state
        event = ConnectionEvent(state, reason)
        if self.on_connection_state is not None:
            try:
                self.on_connection_state(event)
            except Exception:
                log.exception("on_connection_state callback failed")
        for queue in self._subscribers:
            queue.put_nowait(event)

    async def _reconnect(self) -> None:
        """Reconnect with backoff until connected, closed, or refused for good."""
        delay = self.reconnect_initial_s
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self._open(max(5.0, self.heartbeat_ms / 1000 * 3))
            except GatewayError as exc:
                code = self.close_reason.split(":", 1)[0]
                if code in PERMANENT_REFUSALS:
                    log.error("gateway refused the session for good, not reconnecting: %s", exc)
                    self._gave_up_reason = f"the gateway refused the session for good: {exc}"
                    self._stop(str(exc))
                    return
                log.warning("reconnect failed (%s); next attempt in %.2f s", exc, min(delay * 2, self.reconnect_max_s))
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            return

    # ---- requests --------------------------------------------------------------------------

    def next_cl_ord_id(self) -> str:
        """Return a fresh client order id (unique across restarts of this strategy): prefix and counter.

        Raises ValueError, with nothing sent, once the counter no longer fits in 32 bytes after the prefix.
        """
        return check_cl_ord_id(f"{self._prefix}{next(self._counter)}", "prefix + counter")

    def submit_nowait(
        self,
        account: str,
        venue: str,
        symbol: str,
        side: Side,
        qty: int,
        price: PriceLike | None = None,
        *,
        price_ticks: int | None = None,
        tif: TimeInForce = TimeInForce.DAY,
        ord_type: OrderType = OrderType.LIMIT,
        cl_ord_id: str | None = None,
    ) -> OrderHandle:
        """Send a new order now (no waiting on back-pressure) and return its handle.

        ``price`` is a decimal string or Decimal (``"150.25"``); ``price_ticks`` the fixed-point
        integer instead (``1_502_500``). Exactly one of them (neither for a market order).

        Sending a ``cl_ord_id`` again (e.g. when unsure whether it reached the gateway before a
        disconnect) returns the existing handle: if the gateway had it, it answers the repeat with
        ``OrderRejected(DUPLICATE_CL_ORD_ID)``, which is kept in the handle's events but does not
        end it (the original order is untouched). An id this client has no handle for is a new
        order: a DUPLICATE_CL_ORD_ID answer rejects it.
        """
        side = _check_enum("side", side, Side)
        tif = _check_enum("tif", tif, TimeInForce)
        ord_type = _check_enum("ord_type", ord_type, OrderType)
        fixed = price_to_ticks(price, price_ticks, ord_type)
        for name, value in (("account", account), ("venue", venue), ("symbol", symbol)):
            _check_str(name, value)
        _check_int("qty", qty)
        cl_ord_id = check_cl_ord_id(cl_ord_id) if cl_ord_id is not None else self.next_cl_ord_id()
        self._check_can_send()
        request = self._send_request(
            lambda req_seq: NewOrder(
                cl_ord_id, account, venue, symbol, side, qty, fixed, tif, ord_type, time.monotonic_ns(), req_seq
            )
        )
        if request.req_seq:
            self._new_order_seq.setdefault(cl_ord_id, request.req_seq)
        handle = self.orders.get(cl_ord_id)
        if handle is None or handle.status in (OrderStatus.NOT_RECEIVED, OrderStatus.UNKNOWN):
            handle = self.orders[cl_ord_id] = OrderHandle(self, cl_ord_id, request)
        else:  # sent again: a DUPLICATE_CL_ORD_ID answer means the first one arrived
            handle._repeats += 1
            if handle.request is None:  # known from a replay only
                handle.request = request
        return handle

    async def submit(
        self,
        account: str,
        venue: str,
        symbol: str,
        side: Side,
        qty: int,
        price: PriceLike | None = None,
        *,
        price_ticks: int | None = None,
        tif: TimeInForce = TimeInForce.DAY,
        ord_type: OrderType = OrderType.LIMIT,
        cl_ord_id: str | None = None,
    ) -> OrderHandle:
        """Send a new order (waiting if the socket is backed up) and return its handle (prices as above)."""
        price_to_ticks(price, price_ticks, ord_type)  # a wrong price raises before any waiting
        if cl_ord_id is not None:
            check_cl_ord_id(cl_ord_id)
        await self._writable.wait()
        return self.submit_nowait(
            account,
            venue,
            symbol,
            side,
            qty,
            price,
            price_ticks=price_ticks,
            tif=tif,
            ord_type=ord_type,
            cl_ord_id=cl_ord_id,
        )

    async def cancel(self, order: OrderHandle | str) -> None:
        """Ask the gateway to cancel an order (its handle or its ``cl_ord_id``)."""
        cl_ord_id = check_cl_ord_id(_id_of(order))
        await self._writable.wait()
        self._check_can_send()
        self._send_request(lambda req_seq: Cancel(cl_ord_id, time.monotonic_ns(), req_seq))

    async def replace(
        self, order: OrderHandle | str, qty: int, price: PriceLike | None = None, *, price_ticks: int | None = None
    ) -> None:
        """Ask the gateway to change an order's total quantity and price (decimal ``price`` or ``price_ticks``).

        ``order`` is its handle or its ``cl_ord_id``.
        """
        cl_ord_id = check_cl_ord_id(_id_of(order))
        _check_int("qty", qty)
        fixed = price_to_ticks(price, price_ticks)
        await self._writable.wait()
        self._check_can_send()
        self._send_request(lambda req_seq: Replace(cl_ord_id, qty, fixed, time.monotonic_ns(), req_seq))

    async def mass_cancel(
        self, account: str = "", venue: str = "", symbol: str = "", *, timeout: float | None = 5.0
    ) -> MassCancelAck | MassCancelRejected:
        """Cancel every open order of this strategy matching the non-empty filters; return the gateway's answer.

        ``MassCancelAck.count`` is how many matching open orders are being canceled (each then gets
        its own Canceled event); ``MassCancelRejected`` says why nothing was done.
        """
        for name, value in (("account", account), ("venue", venue), ("symbol", symbol)):
            _check_filter(name, value)  # the gateway would refuse a longer one INVALID_FIELD: nothing sent
        await self._writable.wait()
        request_id = check_cl_ord_id(f"{self._prefix}M{next(self._counter)}", "request_id")
        answer: asyncio.Future[MassCancelAck | MassCancelRejected] = asyncio.get_running_loop().create_future()
        self._mass_cancels[request_id] = answer
        try:
            self._check_can_send()
            request = self._send_request(lambda req_seq: MassCancel(account, venue, symbol, request_id, req_seq))
            if request.req_seq:
                self._mass_cancel_seq[request_id] = request
            return await self._wait_for(answer, timeout)
        finally:
            self._mass_cancels.pop(request_id, None)

    def _check_can_send(self) -> None:
        """Raise GatewayError unless the session is up (requests are never queued behind the caller's back)."""
        if not self.connected:
            raise GatewayError(self._not_connected())

    def _send_request(self, make: Callable[[int], R]) -> R:
        """Number, send and keep (version 3, until the gateway is known to have processed it) a request.

        ``make`` builds the request from its number. One that cannot be encoded raises (``TypeError``)
        with nothing sent, nothing numbered and nothing kept.
        """
        req_seq = self.req_seq + 1 if self._sequenced else 0
        request = make(req_seq)
        self._send(request)  # encodes first: raises before anything is written
        if req_seq:
            self.req_seq = req_seq
            self._unprocessed[req_seq] = request
            self._frame_requests[self._frames_out] = request
        return request

    def _send(self, message: Any) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise GatewayError(self._not_connected())
        writer = self._writer
        start = len(writer.buffer)
        try:
            writer.write(message)
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. a numpy integer: leave no half-written frame
            del writer.buffer[start:]
            raise TypeError(f"cannot encode {type(message).__name__}: {exc}") from exc
        transport.write(writer.take())
        self._frames_out += 1
        self._last_sent = time.monotonic_ns()

    async def _wait_for(self, fut: asyncio.Future[T], timeout: float | None) -> T:
        """Wait for ``fut``; raise GatewayError if the client gives up first, TimeoutError after ``timeout``."""
        if fut.done():
            return fut.result()
        give_up = self._give_up
        if give_up is None or give_up.done():
            raise GatewayError(f"not connected ({self.close_reason or 'never connected'})")
        waiting: set[asyncio.Future[Any]] = {fut, give_up}
        await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if fut.done():
            return fut.result()
        if give_up.done():
            raise GatewayError(f"disconnected before the answer arrived: {self.close_reason or 'connection closed'}")
        raise TimeoutError

    def _check_not_given_up(self, what: str) -> None:
        if self._give_up is None or self._give_up.done():
            raise GatewayError(f"{what}: {self._not_connected()}")

    def _wake_handles(self) -> None:
        for handle in self.orders.values():
            if not handle.is_terminal:
                handle._changed.set()

    # ---- events ----------------------------------------------------------------------------

    async def events(self, since_seq: int | None = None) -> AsyncIterator[GatewayMessage | ConnectionEvent]:
        """Yield the order events already received with ``seq > since_seq``, then every message from now on.

        Like the gateway after a Welcome: first the backlog of order events (``since_seq`` defaults to
        ``first_seq``, the ``last_seq`` the client was created with, so an iterator started after
        ``connect()`` still sees the events replayed right after the Welcome), then the latest
        VenueStatus of every venue, then live messages: order events, VenueStatus, Error,
        MassCancelAck / MassCancelRejected and ``ConnectionEvent``s. Iteration ends when the client
        stops: ``close()``, a lost connection without ``auto_reconnect``, or a permanent refusal.
        """
        start = self.first_seq if since_seq is None else since_seq
        queue: asyncio.Queue[GatewayMessage | ConnectionEvent | None] = asyncio.Queue()
        self._subscribers.append(queue)  # subscribe and copy the backlog with no await in between
        backlog: list[GatewayMessage] = [*self.history[bisect.bisect_right(self.history, start, key=_seq_of) :]]
        backlog += self.venues.values()
        stopped = self.state is ConnectionState.CLOSED or (
            not self.auto_reconnect and not self._transport_open and self._give_up is not None
        )
        try:
            for message in backlog:
                yield message
            if stopped:
                return
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            self._subscribers.remove(queue)

    def _on_message(self, message: GatewayMessage) -> None:
        if isinstance(message, _ORDER_EVENTS):
            seq = message.seq
            if seq <= self.last_seq:
                return
            # every Executed, not only after a LAST_SEQ_AHEAD on this connection: copies issued again after a power
            # failure also reach a client started from an older last_seq, or reconnected in the middle of them
            if type(message) is Executed and message.exec_id and self._repeated_fill(message):
                self.last_seq = seq
                return
            self.last_seq = seq
            self.history.append(message)
            if self._new_order_seq:
                first = self._new_order_seq.pop(message.cl_ord_id, 0)
                if first:  # the order's first event: its NewOrder, and every request before it, was processed
                    self._mark_processed(first)
            handle = self.orders.get(message.cl_ord_id)
            if handle is None:
                handle = self.orders[message.cl_ord_id] = OrderHandle(self, message.cl_ord_id, None)
            handle._apply(message)
        elif isinstance(message, Welcome):
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(message)
        elif isinstance(message, VenueStatus):
            self.venues[message.venue] = message
            self._fresh_venues[message.venue] = message.state
            self._venue_news.set()
        elif isinstance(message, MassCancelAck | MassCancelRejected):
            request = self._mass_cancel_seq.pop(message.request_id, None)
            if request is not None:
                self._mark_processed(request.req_seq)
            answer = self._mass_cancels.get(message.request_id)
            if answer is not None:
                _resolve(answer, message)
        elif isinstance(message, Error):
            self.errors.append(message)
            log.warning("gateway error %s: %s%s", message.code, message.text, " (fatal)" if message.fatal else "")
            if not message.fatal:
                self._on_request_error(message)
            else:
                self.close_reason = f"{message.code}: {message.text}"
                if self._welcome is not None and not self._welcome.done():
                    self._welcome.set_exception(GatewayError(self.close_reason))
        elif isinstance(message, Heartbeat):
            return
        for queue in self._subscribers:
            queue.put_nowait(message)

    def _repeated_fill(self, event: Executed) -> bool:
        """Return True if ``event`` repeats a fill of its order this client holds (same ``exec_id``), taking its state.

        The events the gateway issued again after a power failure may repeat a fill received before it
        (docs/strategy-protocol.md 4.1); the rule holds at any time (an ``exec_id`` names one fill of its order). It is
        not a new fill: not in ``history``, not yielded, not in the handle's events; its ``cum_qty`` / ``leaves_qty``
        are the order's at that point (a state event issued again before it may have taken them back), so the handle
        takes them. One set lookup (``OrderHandle._exec_ids``); an empty ``exec_id`` is never a repeat.
        """
        handle = self.orders.get(event.cl_ord_id)
        if handle is None:
            return False
        exec_ids = handle._exec_ids
        exec_id = event.exec_id
        if exec_ids is None or exec_id not in exec_ids:
            return False
        handle.cum_qty, handle.leaves_qty = event.cum_qty, event.leaves_qty
        self.repeats_dropped += 1
        log.info("dropped Executed seq %d of %s: it repeats exec_id %s", event.seq, event.cl_ord_id, exec_id)
        return True

    def _on_request_error(self, error: Error) -> None:
        """A non-fatal Error naming a frame this client numbered is that request's answer (4.5): settle it."""
        head = error.text.split(":", 1)[0]
        if not head.startswith("frame ") or not head[6:].isdigit():
            return
        request = self._frame_requests.pop(int(head[6:]), None)
        if request is None:
            return
        self._mark_processed(request.req_seq)  # it took its place in the sequence
        if isinstance(request, NewOrder):
            if self._new_order_seq.get(request.cl_ord_id) == request.req_seq:
                del self._new_order_seq[request.cl_ord_id]
            handle = self.orders.get(request.cl_ord_id)
            if handle is not None and not handle.events and not handle.is_terminal:
                handle._give_up(RequestRefusedError(request, error))

    def _on_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._writable.set()
        if self._timer is not None:
            self._timer.cancel()
        reason = self.close_reason or (str(exc) if exc else "connection closed")
        self.close_reason = reason
        if self._welcome is not None and not self._welcome.done():
            self._welcome.set_exception(GatewayError(reason))
            self._welcome.exception()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        if not self._established:
            return  # a refused or failed attempt: whoever called _open handles it
        self._established = False
        self._lost_reason = reason
        self._set_state(ConnectionState.DISCONNECTED, reason)
        code = reason.split(":", 1)[0]
        if self._closing:
            return
        if self.auto_reconnect and code not in PERMANENT_REFUSALS:
            log.warning("connection to the gateway lost (%s); reconnecting", reason)
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())
            return
        if self.auto_reconnect:
            self._gave_up_reason = f"the gateway refused the session for good: {reason}"
        self._stop(reason)
        self.state = ConnectionState.DISCONNECTED  # connect() may be called again

    # ---- heartbeats ------------------------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.heartbeat_ms / 2000, self._on_heartbeat_timer)

    def _on_heartbeat_timer(self) -> None:
        if not self._transport_open:  # (also while the venues are awaited after the Welcome: state CONNECTING)
            return
        now = time.monotonic_ns()
        interval = self.heartbeat_ms * 1_000_000
        if now - self._last_received > 3 * interval:
            self.close_reason = "gateway silent for three heartbeat intervals"
            assert self._transport is not None
            self._transport.abort()  # close() would wait for a backed-up write buffer the frozen gateway never reads
            return
        if now - self._last_sent >= interval:
            self._send(Heartbeat())
        self._schedule_heartbeat()


def _seq_of(event: OrderEvent) -> int:
    return event.seq


def _default_prefix() -> str:
    """Return a short time-based prefix so ids stay unique when the strategy restarts."""
    millis = time.time_ns() // 1_000_000
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while millis:
        millis, rem = divmod(millis, 36)
        out = digits[rem] + out
    return out + "-"


async def _settle_tasks() -> None:
    """End the loop's other tasks (a wait a Ctrl-C abandoned) and let their results reach their callers."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)  # the done callbacks of tasks that had just finished


class BlockingGatewayClient:
    """A blocking wrapper for scripts: the asyncio client runs on a private background loop."""

    def __init__(self, socket_path: str | os.PathLike[str], strategy_id: str, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gateway-client", daemon=True)
        self._thread.start()
        self._client: GatewayClient = self._run(self._make(socket_path, strategy_id, kwargs))

    async def _make(self, socket_path: str | os.PathLike[str], strategy_id: str, kw: dict[str, Any]) -> GatewayClient:
        return GatewayClient(socket_path, strategy_id, **kw)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def client(self) -> GatewayClient:
        """Return the underlying asyncio client (touch it only from its loop)."""
        return self._client

    def connect(self, timeout: float = 5.0) -> Welcome:
        """Connect and complete the handshake."""
        return self._run(self._client.connect(timeout))

    def submit(
        self,
        account: str,
        venue: str,
        symbol: str,
        side: Side,
        qty: int,
        price: PriceLike | None = None,
        **kw: Any,
    ) -> OrderHandle:
        """Send a new order and return its handle (``price`` decimal, or ``price_ticks=`` as a keyword)."""
        price_to_ticks(
            price, kw.get("price_ticks"), _check_enum("ord_type", kw.get("ord_type", OrderType.LIMIT), OrderType)
        )
        return self._run(self._client.submit(account, venue, symbol, side, qty, price, **kw))

    def wait_accepted(self, order: OrderHandle, timeout: float | None = None) -> OrderEvent:
        """Block until the venue answers the order."""
        return self._run(order.wait_accepted(timeout))

    def wait_done(self, order: OrderHandle, timeout: float | None = None) -> OrderEvent:
        """Block until the order is terminal; return the event that ended it."""
        return self._run(order.wait_done(timeout))

    def cancel(self, order: OrderHandle | str) -> None:
        """Ask the gateway to cancel an order."""
        self._run(self._client.cancel(order))

    def replace(
        self, order: OrderHandle | str, qty: int, price: PriceLike | None = None, *, price_ticks: int | None = None
    ) -> None:
        """Ask the gateway to change an order."""
        price_to_ticks(price, price_ticks)
        self._run(self._client.replace(order, qty, price, price_ticks=price_ticks))

    def mass_cancel(self, account: str = "", venue: str = "", symbol: str = "") -> MassCancelAck | MassCancelRejected:
        """Cancel every matching open order of this strategy; return the gateway's answer."""
        return self._run(self._client.mass_cancel(account, venue, symbol))

    def close(self) -> None:
        """Close the connection and stop the background loop (again: nothing to do)."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._client.close(), timeout=5)
            self._run(_settle_tasks(), timeout=1)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def __enter__(self) -> Self:
        try:
            self.connect()
        except BaseException:
            self.close()  # the background thread and its loop's descriptors too
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
