"""Strategy SDK: talk to the gateway over its Unix socket.

Asyncio::

    async with GatewayClient("/run/gateway/strategies.sock", "my-strategy") as gw:
        order = await gw.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "150.25")
        final = await order.wait_done()          # Executed / Canceled / OrderRejected
        async for event in gw.events():          # or watch everything
            ...

Blocking (scripts)::

    with BlockingGatewayClient(path, "my-script") as gw:
        order = gw.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "150.25")
        print(gw.wait_done(order, timeout=5))

``last_seq`` is the highest event sequence number processed; pass it as
``last_seq`` when reconnecting to receive exactly the events you missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from gateway.protocol.framing import FrameSplitter, FrameWriter, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Cancel,
    Canceled,
    CancelRejected,
    Error,
    Executed,
    GatewayMessage,
    Heartbeat,
    Hello,
    MassCancel,
    NewOrder,
    OrderAccepted,
    OrderEvent,
    OrderRejected,
    Replace,
    Replaced,
    Welcome,
)
from gateway.protocol.prices import to_fixed
from model.enums import OrderType, Side, TimeInForce

log = logging.getLogger(__name__)

T = TypeVar("T")
PriceLike = int | str | Decimal
_ORDER_EVENTS = (OrderAccepted, OrderRejected, Executed, Canceled, Replaced, CancelRejected)


class GatewayError(Exception):
    """The gateway refused the session or the connection failed."""


class OrderStatus(enum.StrEnum):
    """An order's status as the strategy sees it."""

    PENDING_NEW = "PENDING_NEW"
    LIVE = "LIVE"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})


class OrderHandle:
    """One order: its latest state, every event so far, and awaitables for what comes next."""

    def __init__(self, client: GatewayClient, cl_ord_id: str, request: NewOrder | None) -> None:
        self._client = client
        self.cl_ord_id = cl_ord_id
        self.request = request
        self.status = OrderStatus.PENDING_NEW
        self.qty = request.qty if request else 0
        self.price = request.price if request else 0
        self.cum_qty = 0
        self.leaves_qty = self.qty
        self.venue_order_id = ""
        self.events: list[OrderEvent] = []
        self.last_cancel_reject: CancelRejected | None = None
        loop = asyncio.get_running_loop()
        self._done: asyncio.Future[OrderEvent] = loop.create_future()
        self._acked: asyncio.Future[OrderEvent] = loop.create_future()
        self._changed = asyncio.Event()

    @property
    def is_terminal(self) -> bool:
        """Return True once the order can change no more."""
        return self.status in TERMINAL

    def _apply(self, event: OrderEvent) -> None:
        self.events.append(event)
        if isinstance(event, OrderAccepted):
            self.status = OrderStatus.LIVE if self.status is OrderStatus.PENDING_NEW else self.status
            self.venue_order_id = event.venue_order_id
            self.qty = event.qty
            self.price = event.price or self.price
            _resolve(self._acked, event)
        elif isinstance(event, Executed):
            self.cum_qty, self.leaves_qty = event.cum_qty, event.leaves_qty
            if event.leaves_qty == 0:
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
            self.status = OrderStatus.REJECTED
            self.leaves_qty = 0
            _resolve(self._acked, event)
        elif isinstance(event, CancelRejected):
            self.last_cancel_reject = event
        if self.is_terminal:
            _resolve(self._done, event)
        self._changed.set()

    def _fail(self, exc: BaseException) -> None:
        for fut in (self._done, self._acked):
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: nobody may be waiting
        self._changed.set()

    async def wait_accepted(self, timeout: float | None = None) -> OrderEvent:
        """Wait for the venue's answer: OrderAccepted, or OrderRejected, or an early fill/cancel."""
        return await asyncio.wait_for(asyncio.shield(self._acked), timeout)

    async def wait_done(self, timeout: float | None = None) -> OrderEvent:
        """Wait until the order is terminal and return the event that ended it."""
        return await asyncio.wait_for(asyncio.shield(self._done), timeout)

    async def updates(self) -> AsyncIterator[OrderEvent]:
        """Yield this order's events as they arrive (earlier ones first) until it is terminal."""
        seen = 0
        while True:
            while seen < len(self.events):
                seen += 1
                yield self.events[seen - 1]
            if self.is_terminal or self._done.done():
                return
            self._changed.clear()
            await self._changed.wait()

    async def cancel(self) -> None:
        """Ask the gateway to cancel this order."""
        await self._client.cancel(self.cl_ord_id)

    async def replace(self, qty: int, price: PriceLike) -> None:
        """Ask the gateway to change the total quantity and price."""
        await self._client.replace(self.cl_ord_id, qty, price)

    def __repr__(self) -> str:
        return (
            f"OrderHandle({self.cl_ord_id!r}, {self.status.value}, qty={self.qty}, "
            f"cum={self.cum_qty}, leaves={self.leaves_qty})"
        )


def _resolve(fut: asyncio.Future[OrderEvent], event: OrderEvent) -> None:
    if not fut.done():
        fut.set_result(event)


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
            client._on_message(self._decode(frame))

    def connection_lost(self, exc: Exception | None) -> None:
        self._client._on_lost(exc)

    def pause_writing(self) -> None:
        self._client._writable.clear()

    def resume_writing(self) -> None:
        self._client._writable.set()


class GatewayClient:
    """An asyncio connection to the gateway for one strategy id."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        strategy_id: str,
        *,
        heartbeat_ms: int = 1_000,
        last_seq: int = 0,
        cl_ord_id_prefix: str | None = None,
    ) -> None:
        self.socket_path = os.fspath(socket_path)
        self.strategy_id = strategy_id
        self.heartbeat_ms = heartbeat_ms
        self.last_seq = last_seq
        self.welcome: Welcome | None = None
        self.orders: dict[str, OrderHandle] = {}
        self.errors: list[Error] = []
        self.close_reason = ""
        self._prefix = cl_ord_id_prefix if cl_ord_id_prefix is not None else _default_prefix()
        self._counter = itertools.count(1)
        self._writer = FrameWriter()
        self._transport: asyncio.Transport | None = None
        self._welcome: asyncio.Future[Welcome] | None = None
        self._subscribers: list[asyncio.Queue[GatewayMessage | None]] = []
        self._writable = asyncio.Event()
        self._writable.set()
        self._last_sent = 0
        self._last_received = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed: asyncio.Future[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def connect(self, timeout: float = 5.0) -> Welcome:
        """Connect, say Hello and wait for Welcome (missed events follow it automatically)."""
        loop = asyncio.get_running_loop()
        self._welcome = loop.create_future()
        self._closed = loop.create_future()
        try:
            await asyncio.wait_for(
                loop.create_unix_connection(lambda: _ClientProtocol(self), self.socket_path), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise GatewayError(f"cannot connect to gateway at {self.socket_path}: {exc}") from exc
        self._last_received = time.monotonic_ns()
        self._send(Hello(self.strategy_id, PROTOCOL_VERSION, self.last_seq, self.heartbeat_ms))
        try:
            self.welcome = await asyncio.wait_for(asyncio.shield(self._welcome), timeout)
        except TimeoutError:
            await self.close()
            raise GatewayError("no Welcome from the gateway within the timeout") from None
        self._schedule_heartbeat()
        return self.welcome

    async def close(self) -> None:
        """Close the connection (open orders follow the strategy's disconnect policy)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._transport.close()
            if self._closed is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(self._closed)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Return True while the session is open."""
        return self._transport is not None and not self._transport.is_closing()

    async def wait_closed(self) -> None:
        """Wait until the connection is gone."""
        if self._closed is not None:
            await asyncio.shield(self._closed)

    # ---- requests --------------------------------------------------------------------------

    def next_cl_ord_id(self) -> str:
        """Return a fresh client order id (unique across restarts of this strategy)."""
        return f"{self._prefix}{next(self._counter)}"

    def submit_nowait(
        self,
        account: str,
        venue: str,
        symbol: str,
        side: Side,
        qty: int,
        price: PriceLike,
        *,
        tif: TimeInForce = TimeInForce.DAY,
        ord_type: OrderType = OrderType.LIMIT,
        cl_ord_id: str | None = None,
    ) -> OrderHandle:
        """Send a new order now (no waiting on back-pressure) and return its handle."""
        cl_ord_id = cl_ord_id or self.next_cl_ord_id()
        fixed = price if isinstance(price, int) else to_fixed(price)
        request = NewOrder(cl_ord_id, account, venue, symbol, side, qty, fixed, tif, ord_type, time.monotonic_ns())
        handle = OrderHandle(self, cl_ord_id, request)
        self.orders[cl_ord_id] = handle
        self._send(request)
        return handle

    async def submit(
        self,
        account: str,
        venue: str,
        symbol: str,
        side: Side,
        qty: int,
        price: PriceLike,
        *,
        tif: TimeInForce = TimeInForce.DAY,
        ord_type: OrderType = OrderType.LIMIT,
        cl_ord_id: str | None = None,
    ) -> OrderHandle:
        """Send a new order (waiting if the socket is backed up) and return its handle."""
        await self._writable.wait()
        return self.submit_nowait(
            account, venue, symbol, side, qty, price, tif=tif, ord_type=ord_type, cl_ord_id=cl_ord_id
        )

    async def cancel(self, cl_ord_id: str) -> None:
        """Ask the gateway to cancel an order."""
        await self._writable.wait()
        self._send(Cancel(cl_ord_id, time.monotonic_ns()))

    async def replace(self, cl_ord_id: str, qty: int, price: PriceLike) -> None:
        """Ask the gateway to change an order's total quantity and price."""
        await self._writable.wait()
        fixed = price if isinstance(price, int) else to_fixed(price)
        self._send(Replace(cl_ord_id, qty, fixed, time.monotonic_ns()))

    async def mass_cancel(self, account: str = "", venue: str = "", symbol: str = "") -> None:
        """Cancel every open order of this strategy matching the non-empty filters."""
        await self._writable.wait()
        self._send(MassCancel(account, venue, symbol))

    def _send(self, message: Any) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise GatewayError(f"not connected ({self.close_reason or 'connection closed'})")
        self._writer.write(message)
        transport.write(self._writer.take())
        self._last_sent = time.monotonic_ns()

    # ---- events ----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[GatewayMessage]:
        """Yield every message from the gateway from now on, until the connection closes."""
        queue: asyncio.Queue[GatewayMessage | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                message = await queue.get()
                if message is None:
                    return
                yield message
        finally:
            self._subscribers.remove(queue)

    def _on_message(self, message: GatewayMessage) -> None:
        if isinstance(message, _ORDER_EVENTS):
            if message.seq <= self.last_seq:
                return
            self.last_seq = message.seq
            handle = self.orders.get(message.cl_ord_id)
            if handle is None:
                handle = self.orders[message.cl_ord_id] = OrderHandle(self, message.cl_ord_id, None)
            handle._apply(message)
        elif isinstance(message, Welcome):
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(message)
        elif isinstance(message, Error):
            self.errors.append(message)
            log.warning("gateway error %s: %s%s", message.code, message.text, " (fatal)" if message.fatal else "")
            if message.fatal:
                self.close_reason = f"{message.code}: {message.text}"
                if self._welcome is not None and not self._welcome.done():
                    self._welcome.set_exception(GatewayError(self.close_reason))
        elif isinstance(message, Heartbeat):
            return
        for queue in self._subscribers:
            queue.put_nowait(message)

    def _on_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
        reason = self.close_reason or (str(exc) if exc else "connection closed")
        self.close_reason = reason
        if self._welcome is not None and not self._welcome.done():
            self._welcome.set_exception(GatewayError(reason))
            self._welcome.exception()
        for handle in self.orders.values():
            if not handle.is_terminal:
                handle._fail(GatewayError(f"disconnected before the order finished: {reason}"))
        for queue in self._subscribers:
            queue.put_nowait(None)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    # ---- heartbeats ------------------------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.heartbeat_ms / 2000, self._on_heartbeat_timer)

    def _on_heartbeat_timer(self) -> None:
        if not self.connected:
            return
        now = time.monotonic_ns()
        interval = self.heartbeat_ms * 1_000_000
        if now - self._last_received > 3 * interval:
            self.close_reason = "gateway silent for three heartbeat intervals"
            assert self._transport is not None
            self._transport.close()
            return
        if now - self._last_sent >= interval:
            self._send(Heartbeat())
        self._schedule_heartbeat()


def _default_prefix() -> str:
    """Return a short time-based prefix so ids stay unique when the strategy restarts."""
    millis = time.time_ns() // 1_000_000
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while millis:
        millis, rem = divmod(millis, 36)
        out = digits[rem] + out
    return out + "-"


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
        self, account: str, venue: str, symbol: str, side: Side, qty: int, price: PriceLike, **kw: Any
    ) -> OrderHandle:
        """Send a new order and return its handle."""
        return self._run(self._client.submit(account, venue, symbol, side, qty, price, **kw))

    def wait_accepted(self, order: OrderHandle, timeout: float | None = None) -> OrderEvent:
        """Block until the venue answers the order."""
        return self._run(order.wait_accepted(timeout))

    def wait_done(self, order: OrderHandle, timeout: float | None = None) -> OrderEvent:
        """Block until the order is terminal; return the event that ended it."""
        return self._run(order.wait_done(timeout))

    def cancel(self, order: OrderHandle | str) -> None:
        """Ask the gateway to cancel an order."""
        self._run(self._client.cancel(order if isinstance(order, str) else order.cl_ord_id))

    def replace(self, order: OrderHandle | str, qty: int, price: PriceLike) -> None:
        """Ask the gateway to change an order."""
        self._run(self._client.replace(order if isinstance(order, str) else order.cl_ord_id, qty, price))

    def mass_cancel(self, account: str = "", venue: str = "", symbol: str = "") -> None:
        """Cancel every matching open order of this strategy."""
        self._run(self._client.mass_cancel(account, venue, symbol))

    def close(self) -> None:
        """Close the connection and stop the background loop."""
        try:
            self._run(self._client.close(), timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
