"""Thin asyncio transport for venue adapters: connect, move bytes, fire timers, reconnect.

All protocol decisions (logon, heartbeats, when to give up, how long to back off)
live in the sans-IO adapter; this module only owns the socket and the timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Final, cast

from model.clock import NowNs, monotonic_ns
from venues.base import VenueAdapter

log = logging.getLogger(__name__)


def _log_fault(where: str, exc: Exception) -> None:
    log.critical("INTERNAL ERROR in %s (%s: %s)", where, type(exc).__name__, exc, exc_info=exc)


DEFAULT_WRITE_BUFFER_HIGH = 256 * 1024
"""Bytes queued for a venue (beyond the kernel's socket buffer) before new orders are refused."""

BATCH_BYTES: Final = 8192
"""Venue bytes handed to the adapter between two flushes of the core (about 120 OUCH answers)."""
READ_TURN_BYTES: Final = 2 * BATCH_BYTES
"""Venue bytes of one read taken per event-loop turn (fairvenue57): a longer read (the venue answering a burst,
up to 256 KiB) has its rest kept, the socket not read meanwhile, and taken on later turns, in order, the
strategies' reads served in between (as ``gateway.engine.READ_TURN_BYTES`` for a strategy's read)."""

LATE_TIMER_S: Final = 0.02
"""A timer that fires this much past its time found the event loop stalled (the process frozen, a long
callback): input that arrived meanwhile may wait unread. Its timeouts are judged only after one more turn
of the loop has read it (``AFTER_INPUT_S``), so a peer is never timed out for the gateway's own stall."""
AFTER_INPUT_S: Final = 0.001
"""The deferral of a late timer: due after the current loop turn's I/O (a timer due now could run first)."""


class LateTimer:
    """When a periodic timer is due, and whether its late firing already waited one loop turn for input."""

    __slots__ = ("deferred", "due")

    def __init__(self) -> None:
        self.due = 0.0
        """The event loop's time the timer is due at (``arm``)."""
        self.deferred = False
        """True while a late firing waits one loop turn for the input that arrived during the stall."""

    def arm(self, loop: asyncio.AbstractEventLoop, delay_s: float) -> float:
        """Note the timer is due ``delay_s`` from now; return ``delay_s`` (for ``call_later``)."""
        self.due = loop.time() + delay_s
        return delay_s

    def wait_for_input(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Return True when this firing is more than ``LATE_TIMER_S`` late: call again in ``AFTER_INPUT_S`` instead.

        Once: the firing after that runs whatever its lateness, so a loop late at every turn still runs its timers.
        """
        if loop.time() - self.due > LATE_TIMER_S and not self.deferred:
            self.deferred = True
            return True
        self.deferred = False
        return False


SocketHook = Callable[[socket.socket, str], None]
"""Called with (socket, venue name) right after connect: latency options, acceleration checks."""


def set_tcp_nodelay(sock: socket.socket, venue: str) -> None:
    """Disable Nagle: venue messages are small and must leave at once."""
    del venue
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _VenueProtocol(asyncio.Protocol):
    """Forward one TCP connection's bytes to the adapter and flush the core after each read (a long read: after each
    ``BATCH_BYTES`` slice, ``READ_TURN_BYTES`` of it per loop turn)."""

    def __init__(self, connector: VenueConnector) -> None:
        self._connector = connector
        self._adapter = connector.adapter
        self._clock = connector.clock
        self._after_input = connector.after_input
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self._rest: bytes | None = None
        """A long read past its turn's ``READ_TURN_BYTES``: the bytes from ``_rest_start`` wait for a later turn."""
        self._rest_start = 0
        self._reading_paused = False
        """This protocol paused reading the socket while a rest is kept (resumed once it is taken)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for hook in self._connector.socket_hooks:
                try:
                    hook(sock, self._adapter.name)
                except OSError:
                    log.exception("venue %s: socket option hook failed", self._adapter.name)
        self._transport = transport
        self._connector.protocol = self
        transport.set_write_buffer_limits(high=self._connector.write_buffer_high)
        self._adapter.set_write_paused(False)
        self._adapter.attach(transport.write, transport.close)
        self._adapter.connection_made(self._clock())
        self._after_input()

    def data_received(self, data: bytes) -> None:
        try:  # free until raised (3.11, mypyc): a fault of the gateway's own reading the venue (``_fault``)
            if len(data) <= BATCH_BYTES and self._rest is None:
                self._adapter.data_received(data, self._clock())
                self._after_input()
                return
            if self._rest is not None:  # never while the socket is paused; kept in the order the bytes came
                data = self._rest[self._rest_start :] + data
                self._rest = None
            self._take(data, 0, True)
        except Exception as exc:
            self._fault(exc)

    def rest_kept(self) -> bool:
        """Return True while the rest of a long read waits for a later loop turn (the venue's bytes are here)."""
        return self._rest is not None

    def _take(self, data: bytes, start: int, defer: bool) -> None:
        """Hand ``data`` from ``start`` to the adapter in ``BATCH_BYTES`` slices, each followed by the core's flush.

        The first answers of a burst reach strategies without waiting for the whole read. Past ``READ_TURN_BYTES``
        (when ``defer`` and the connection is not closing) the rest is kept and the socket's reading paused: a later
        loop turn (``_take_rest``) goes on where this one stopped, so one venue read never holds the loop for the
        strategies (docs/strategy-protocol.md 4.6). A slice that raises ends the read: its rest is dropped, as it
        always was (the caller's ``_fault`` drops the connection).
        """
        end = len(data)
        turn_end = start + READ_TURN_BYTES
        while start < end:
            self._adapter.data_received(data[start : start + BATCH_BYTES], self._clock())
            start += BATCH_BYTES
            self._after_input()
            if start >= turn_end and start < end and defer:
                transport = self._transport
                if transport is not None and not transport.is_closing():
                    self._rest = data
                    self._rest_start = start
                    if not self._reading_paused:
                        self._reading_paused = True
                        transport.pause_reading()
                    asyncio.get_running_loop().call_soon(self._take_rest)
                    return
        if defer:  # before the socket is read again: a venue that keeps it full must not keep the poll waiting
            self._connector.read_taken()
        if self._reading_paused:  # the whole read taken: read the socket again
            self._reading_paused = False
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def _take_rest(self) -> None:
        """Take the next turn's part of a long read's kept rest (nothing if the connection ended since)."""
        data = self._rest
        if data is None:
            return
        self._rest = None
        try:
            self._take(data, self._rest_start, True)
        except Exception as exc:
            self._fault(exc)

    def _fault(self, exc: Exception) -> None:
        """An exception out of the adapter's reading or the core's flush (fault51): never out of the protocol.

        Treated as a protocol fault of the session (docs/reliability.md 2.8): counted and logged at CRITICAL by
        the connector's ``on_fault`` (the engine's ``transport_fault``), the connection dropped (the adapter
        logs in again and the venue's replay brings the messages after the one being read: that one, which the
        adapter had counted, may be lost), and what the read produced before the fault flushed.
        """
        connector = self._connector
        try:
            connector.on_fault(
                f"reading venue {self._adapter.name}'s messages (its connection is dropped and it logs in again; the "
                "message being read when it raised may be lost, those after it come again: reconcile its open orders)",
                exc,
            )
        except Exception:
            log.exception("venue %s: reporting a fault failed", self._adapter.name)
        connector.disconnect()
        try:
            self._after_input()
        except Exception:
            log.exception("venue %s: the flush after a fault failed", self._adapter.name)

    def pause_writing(self) -> None:
        self._adapter.set_write_paused(True)

    def resume_writing(self) -> None:
        self._adapter.set_write_paused(False)
        self._after_input()

    def connection_lost(self, exc: Exception | None) -> None:
        rest = self._rest
        if rest is not None:  # the venue sent these bytes before the end: the adapter reads them first, in order
            self._rest = None
            try:
                self._take(rest, self._rest_start, False)
            except Exception as fault:
                self._fault(fault)
        if self._connector.protocol is self:
            self._connector.protocol = None
        self._adapter.set_write_paused(False)
        self._adapter.detach()
        self._adapter.connection_lost(self._clock())
        self._after_input()
        if not self.closed.done():
            self.closed.set_result(None)


class VenueConnector:
    """Keep one venue adapter connected to ``host:port`` until stopped or the adapter gives up."""

    def __init__(
        self,
        adapter: VenueAdapter,
        host: str,
        port: int,
        *,
        after_input: Callable[[], None],
        socket_hooks: list[SocketHook] | None = None,
        clock: NowNs = monotonic_ns,
        connect_timeout_s: float = 5.0,
        write_buffer_high: int = DEFAULT_WRITE_BUFFER_HIGH,
    ) -> None:
        self.adapter = adapter
        self.host = host
        self.port = port
        self.after_input = after_input
        self.on_fault: Callable[[str, Exception], None] = _log_fault
        """Told of a fault of the gateway's own while reading the venue (the gateway sets the engine's)."""
        self.socket_hooks: list[SocketHook] = [set_tcp_nodelay, *(socket_hooks or [])]
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.write_buffer_high = write_buffer_high
        self.connections = 0
        """TCP connections made (the first and every reconnect)."""
        self.connect_failures = 0
        """Connection attempts that failed."""
        self.sock: socket.socket | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.Handle | None = None
        self._late = LateTimer()
        """The poll timer's due time; a late poll waits one loop turn for what arrived during the stall."""
        self.protocol: _VenueProtocol | None = None
        """The current connection's protocol (None between connections)."""
        self._poll_waits = False
        """The poll timer fired while a long read's rest was kept: it runs once that read is all taken."""
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        """Set while the loop waits to reconnect: ``restart`` cuts the wait short."""
        self._restart_pending = False
        """``restart`` came before the loop's next wait: that wait is skipped."""
        adapter.poll_soon = self.poll_soon

    def start(self) -> asyncio.Task[None]:
        """Run the connect/reconnect loop as a task."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"venue-{self.adapter.name}")
        return self._task

    async def run(self) -> None:
        """Connect, wait for the connection to end, back off, repeat."""
        loop = asyncio.get_running_loop()
        attempt = 0
        if not self.adapter.before_connect():  # e.g. a BOE venue whose trading day Cboe ended before this start
            log.info("venue %s: not connecting (session %s)", self.adapter.name, self.adapter.state)
            return
        while not self.stopping():
            try:
                transport, protocol = await asyncio.wait_for(
                    loop.create_connection(lambda: _VenueProtocol(self), self.host, self.port),
                    self.connect_timeout_s,
                )
            except (OSError, TimeoutError) as exc:
                attempt += 1
                self.connect_failures += 1
                log.warning(
                    "venue %s: connect to %s:%d failed (attempt %d): %s",
                    self.adapter.name,
                    self.host,
                    self.port,
                    attempt,
                    exc or type(exc).__name__,
                )
            else:
                if self.stopping():  # stop() came as the connection completed: Python 3.11's wait_for can
                    transport.close()  # return the connection and swallow the task's cancel, so nothing
                    break  # else would close it and stop() would wait on it for ever
                self.connections += 1
                self._transport = transport
                self.sock = transport.get_extra_info("socket")
                self._schedule_poll(0)
                await protocol.closed
                self._cancel_timer()
                self._transport = None
                self.sock = None
                attempt = 1
            if self.stopping():
                break
            delay_ns = self.adapter.reconnect_delay_ns(attempt)
            if delay_ns is None:
                log.info("venue %s: not reconnecting (session %s)", self.adapter.name, self.adapter.state)
                break
            await self._sleep(delay_ns / 1e9)

    async def _sleep(self, delay_s: float) -> None:
        """Wait ``delay_s`` before the next connect, or less if ``restart`` wakes the loop (fix53)."""
        if self._restart_pending:  # ``restart`` came while the loop was between its connection and this wait
            self._restart_pending = False
            return
        wake = self._wake = asyncio.Event()
        try:
            await asyncio.wait_for(wake.wait(), delay_s)
        except TimeoutError:
            pass
        finally:
            self._wake = None

    def restart(self) -> bool:
        """Run the connect loop again after the adapter ended it (LOGIN_REFUSED, then ``reconnect``).

        A loop still running (a FIX venue LOGIN_REFUSED under a session schedule waits for its next start, fix53)
        connects at once instead of waiting. Return False when the connector is stopping.
        """
        if self._stopping:
            return False
        if self._task is not None and not self._task.done():
            if self._wake is not None:
                self._wake.set()
            else:  # closing the connection the venue refused: no wait before the next connect
                self._restart_pending = True
            return True
        self.start()
        return True

    def stopping(self) -> bool:
        """Return True once ``stop`` was called."""
        return self._stopping

    def _schedule_poll(self, delay_ns: int) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._late.arm(loop, max(delay_ns, 0) / 1e9), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._transport is None:
            return
        protocol = self.protocol
        if protocol is not None and protocol.rest_kept():  # the venue's bytes are here, not yet read: after them
            self._poll_waits = True
            return
        loop = asyncio.get_running_loop()
        if self._late.wait_for_input(loop):  # stalled: read what waits before judging any timeout
            self._timer = loop.call_later(AFTER_INPUT_S, self._on_timer)
            return
        next_ns = self.adapter.poll(self.clock())
        self.after_input()
        if self._transport is not None:
            self._schedule_poll(next_ns)

    def poll_soon(self) -> None:
        """Run the adapter's poll at the loop's next turn instead of when its timer is due (``VenueAdapter.poll_soon``).

        Only while that timer waits: otherwise a poll is running now (it schedules the next from its answer), waits
        for a long read's rest (``read_taken`` runs it) or there is no connection. One timer at a time, always.
        """
        timer = self._timer
        if timer is None or self._transport is None:
            return
        timer.cancel()
        self._schedule_poll(0)

    def read_taken(self) -> None:
        """A long read is all taken: run the poll that came due while its rest was kept, now.

        Now, before the socket is read again (lead57c): scheduled with ``call_soon`` instead (fairvenue57), uvloop ran
        it only after its next I/O poll, by which time a venue that kept its socket full (a flood, a long replay) had
        made a new long read keep a rest, so the poll waited again, for as long as the venue sent: no heartbeat went
        out (rev57merge5: 23.6 s without one against a 1 s interval; a SoupBinTCP server drops a silent client after
        ~15 s, Cboe after 5 s). The venue's bytes are all read, so the stall check (``LateTimer``) has nothing to wait
        for. A fault of the poll is a timer's, as ever: reported to the loop's exception handler, not a read fault.
        """
        if not self._poll_waits:
            return
        self._poll_waits = False
        if self._transport is None:
            return
        try:
            next_ns = self.adapter.poll(self.clock())
            self.after_input()
        except Exception as exc:
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"venue {self.adapter.name}: poll failed", "exception": exc}
            )
            return
        if self._transport is not None and self._timer is None:
            self._schedule_poll(next_ns)

    def _cancel_timer(self) -> None:
        self._poll_waits = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def disconnect(self) -> None:
        """Drop the current connection (the run loop reconnects unless stopping)."""
        if self._transport is not None:
            self._transport.close()

    async def stop(self) -> None:
        """Stop reconnecting, close the connection and wait for the loop to end."""
        self._stopping = True
        self._cancel_timer()
        if self._transport is not None:
            self._transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
