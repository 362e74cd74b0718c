"""Unix-domain socket server for strategies: a thin asyncio Protocol over the engine.

The protocol only moves bytes: it stamps ingress time, hands data to the engine
(which decodes, decides and flushes), writes what the engine gives back, and
enforces the slow-consumer bound. Events are sequenced and kept by the engine, so
cutting off a strategy that stops reading loses nothing: it gets them on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import select
import socket
import stat
import struct
import termios
from collections.abc import Callable
from pathlib import Path
from typing import Final, cast

from gateway.config import DEFAULT_MAX_STRATEGY_WRITE_BUFFER
from gateway.engine import Engine
from gateway.entitlements import PeerCredentials
from gateway.ops.paths import accepts_connections
from gateway.strategy_session import (
    DEFAULT_FRAME_TIMEOUT_MS,
    DEFAULT_HELLO_TIMEOUT_MS,
    StrategySession,
    StrategySessionState,
)
from gateway.strategy_state import StrategyState
from model.clock import NowNs
from obs.ratelog import TallyLog

log = logging.getLogger(__name__)

_UCRED = struct.Struct("3i")
DEFAULT_MAX_WRITE_BUFFER = DEFAULT_MAX_STRATEGY_WRITE_BUFFER
"""Bytes queued for a strategy that does not read before it is disconnected (gateway.yaml's default)."""
SLOW_CONSUMER_LINGER_S = 2.0
"""How long a cut-off slow consumer's socket stays open for it to read its backlog and the fatal Error."""
OUTPUT_HIGH_WATER_MAX: Final = 1 << 20
"""At most this many bytes unsent to a strategy stop the reading of its requests (back-pressure): a quarter of
``max_strategy_write_buffer`` when that is smaller (``output_marks``)."""
OUTPUT_STALL_S = 10.0
"""A strategy whose requests are not read for back-pressure and that reads nothing of its answers for this long is
cut off as a slow consumer (as a replay not read for 10 s)."""
OUTPUT_STALL_CHECK_S: Final = 1.0
"""How often a back-pressured strategy's reading is looked at (``OUTPUT_STALL_S``)."""
DEFAULT_MAX_PENDING_HELLO: Final = 64
"""Connections that have not sent Hello held at most (gateway.yaml ``strategy_max_pending_hello``)."""
_AWAITING_HELLO: Final = StrategySessionState.AWAITING_HELLO
EVICTED_LOG_NS: Final = 10_000_000_000
"""The log line about connections closed for the bound is written at most once per 10 s (with the count)."""
FREE_DESCRIPTORS_KEPT: Final = 16
"""A connection accepted with a descriptor number this close to the limit closes the oldest idle one waiting for
its Hello (descriptors are numbered lowest free first: a high number means the table is nearly full)."""


class HelloBacklog:
    """Bound the connections that have not sent Hello: past ``limit`` the oldest gets a fatal Error and is closed.

    An idle flood (connections that never say Hello, each holding a descriptor for ``strategy_hello_timeout_ms``)
    then costs at most ``limit`` descriptors, and a strategy that connects and says Hello at once is served.
    """

    def __init__(
        self, limit: int, clock: NowNs, on_evict: Callable[[], None] | None = None, descriptor_limit: int = 0
    ) -> None:
        self.limit = limit
        self.descriptor_limit = descriptor_limit
        """The process's descriptor limit (0: not watched); see ``FREE_DESCRIPTORS_KEPT``."""
        self._headroom = max(2, min(FREE_DESCRIPTORS_KEPT, descriptor_limit // 8))
        self._near = max(0, descriptor_limit - self._headroom)
        """A new connection's descriptor number from which the oldest idle waiting one is closed."""
        self.room = limit
        """The bound in force: ``limit``, lowered while the descriptors left free are few (``counted``, ``opened``)."""
        self._clock = clock
        self._on_evict = on_evict
        self._waiting: dict[StrategyProtocol, None] = {}
        """The connections without a Hello, oldest first (a dict keeps insertion order)."""
        self.evicted = 0
        self._closed_log = TallyLog(1, EVICTED_LOG_NS)

    @property
    def waiting(self) -> int:
        """Return how many connections have not sent Hello yet."""
        return len(self._waiting)

    def opened(self, link: StrategyProtocol) -> None:
        """Hold a new connection until its Hello; close the oldest idle waiting one if that passes the bound.

        Idle: nothing sent that the gateway has not read yet. A loop accepting a burst of connections opens them
        all before it reads any (the stdlib loop does), so a connection whose Hello waits unread in its socket is
        not idle and is never the one closed; past the bound with no idle connection, none is closed until one is.
        """
        waiting = self._waiting
        waiting[link] = None
        while len(waiting) > self.room:
            if not self._evict(None, self._why()):
                break  # every one has bytes on their way (a Hello): each leaves the count when it is read
        if self._near and link.descriptor() >= self._near:  # every lower number is taken: the table nearly full
            self.room = max(1, len(waiting) - 1)  # until the next count: a descriptor freed here is not retaken
            self._evict(link, self._why())
        self.flush_log()

    def flush_log(self) -> None:
        """Log the connections closed since the last line, at most once per 10 s (the gateway's timer calls it too).

        Called only from ``opened``, the count of a burst after the first line waited for the next eviction,
        which may never come: the timer says it within 10 s.
        """
        due = self._closed_log.due(self._clock())
        if due is not None:
            log.warning(
                "%d strategy connections closed (TOO_MANY_CONNECTIONS) since the last such line: more than %d "
                "connections had not sent Hello (strategy_max_pending_hello), or the descriptor table was nearly full; "
                "something connects without saying Hello (an idle flood, a stuck client)",
                due[0],
                self.limit,
            )

    def counted(self, open_descriptors: int) -> None:
        """Set the bound in force from the descriptors open now (the gateway's count every second).

        The connections waiting for their Hello may take what the rest of the gateway leaves free, less a
        headroom (``FREE_DESCRIPTORS_KEPT``) for a strategy's connection, admin requests and venue reconnects.
        """
        if not self.descriptor_limit:
            return
        others = open_descriptors - len(self._waiting)
        self.room = max(1, min(self.limit, self.descriptor_limit - self._headroom - others))

    def _why(self) -> str:
        """Say why the oldest waiting connection is closed."""
        if self.room < self.limit:
            return (
                f"the gateway is near its descriptor limit ({self.descriptor_limit}): of the connections that had "
                "not sent Hello the oldest is closed; send Hello at once after connecting"
            )
        return (
            f"more than {self.limit} connections had not sent Hello: the oldest is closed; send Hello at once "
            "after connecting (strategy_max_pending_hello)"
        )

    def _evict(self, spare: StrategyProtocol | None, text: str) -> bool:
        """Close the oldest waiting connection with nothing unread (never ``spare``); False if there is none."""
        waiting = self._waiting
        oldest = next((w for w in waiting if w is not spare and not w.has_unread_bytes()), None)
        if oldest is None:
            return False
        del waiting[oldest]
        oldest.refuse("TOO_MANY_CONNECTIONS", text)
        self.evicted += 1
        self._closed_log.add()
        if self._on_evict is not None:
            self._on_evict()
        return True

    def done(self, link: StrategyProtocol) -> None:
        """Forget a connection that said Hello or closed."""
        self._waiting.pop(link, None)


def output_marks(max_write_buffer: int) -> tuple[int, int]:
    """Return the (high, low) marks of unsent bytes between which a strategy's requests are not read.

    Above ``high`` the gateway stops reading the strategy's requests until what it has not sent is back under
    ``low``: a client that pipelines faster than it reads its answers is slowed down, not cut off. ``high`` is well
    under the cut (``max_write_buffer``): what the requests already read produce (a read is carried out 16 KiB per
    loop turn, each turn's answers a few times that) and the venue's events fit on top of it.
    """
    high = max(1, min(OUTPUT_HIGH_WATER_MAX, max_write_buffer // 4))
    return high, high // 4


def peer_credentials(sock: socket.socket | None) -> PeerCredentials | None:
    """Return the kernel's SO_PEERCRED identity of the process at the other end."""
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid, uid, gid)


_HANG_UP: Final = select.POLLHUP | select.POLLRDHUP | select.POLLERR
_CLOSED: Final = select.POLLHUP | select.POLLERR
"""A close both ways (or a reset): on a Unix socket ``POLLHUP`` once the other end closed, not after its ``SHUT_WR``."""


def unread_bytes(sock: socket.socket | None) -> int:
    """Return how many bytes the other end of ``sock`` sent that are not read yet (0 if it cannot be told)."""
    if sock is None:
        return 0
    try:
        fd = sock.fileno()
        if fd < 0:
            return 0
        unread = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    count: int = struct.unpack("i", unread)[0]
    return count


def peer_hung_up(transport: asyncio.BaseTransport) -> bool:
    """Return True if the other end closed the connection both ways (a close, not a half-close: ``SHUT_WR``)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return True
    try:
        fd = sock.fileno()
        if fd < 0:
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        events = poller.poll(0)
    except (OSError, ValueError):
        return True
    return bool(events and events[0][1] & (select.POLLHUP | select.POLLERR))


def drop_unread_bytes(sock: socket.socket | None) -> int:
    """Read and drop the bytes waiting unread in ``sock`` now (bounded: what is there when called); return how many."""
    count = unread_bytes(sock)
    if sock is None or count <= 0:
        return 0
    dropped = 0
    try:
        fd = sock.fileno()
        while dropped < count:
            data = os.read(fd, min(count - dropped, 1 << 16))  # (non-blocking: the loop's socket)
            if not data:
                break
            dropped += len(data)
    except (OSError, ValueError):  # nothing more to read now, or the socket is gone: closed as it is
        pass
    return dropped


def peer_closed(sock: socket.socket | None, *, full: bool = False) -> bool:
    """Return True if the other end of ``sock`` closed (or reset) it and no byte of it is left unread.

    ``full``: only a close both ways counts (hang-up or error, not the end-of-file of a half-close, ``SHUT_WR``:
    that session goes on), whatever is left unread.
    """
    if sock is None:
        return False
    try:
        fd = sock.fileno()
        if fd < 0:
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLRDHUP)
        events = poller.poll(0)
        if not events or not events[0][1] & (_CLOSED if full else _HANG_UP):
            return False
        if full:
            return True
        unread = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return False
    count: int = struct.unpack("i", unread)[0]
    return count == 0


class StrategyProtocol(asyncio.Protocol):
    """One strategy connection."""

    def __init__(
        self,
        engine: Engine,
        clock: NowNs,
        *,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
        on_activity: Callable[[], None] | None = None,
        hello_timeout_ms: int = DEFAULT_HELLO_TIMEOUT_MS,
        frame_timeout_ms: int = DEFAULT_FRAME_TIMEOUT_MS,
        slow_consumer_linger_s: float = SLOW_CONSUMER_LINGER_S,
        backlog: HelloBacklog | None = None,
    ) -> None:
        self._engine = engine
        self._backlog = backlog
        """Where this connection waits for its Hello (None once it said Hello or closed, or with no bound)."""
        self._clock = clock
        self._max_write_buffer = max_write_buffer
        self._on_activity = on_activity
        self._linger_s = slow_consumer_linger_s
        self._abort_timer: asyncio.TimerHandle | None = None
        self._close_scheduled = False
        """``close_transport`` has asked the engine to forget this connection (on the next loop turn)."""
        self.session = StrategySession(clock(), hello_timeout_ms=hello_timeout_ms, frame_timeout_ms=frame_timeout_ms)
        self.strategy: StrategyState | None = None
        self.peer: PeerCredentials | None = None
        self.transport: asyncio.Transport | None = None
        self._replay_allowance = -1
        """Unread bytes when the Welcome + replay were written, tolerated on top of the bound until they drain (-1:
        the next write ends the replay)."""
        self._replaying = False
        """A long replay is being written a slice at a time: no bound (the engine cuts one not read for 10 s)."""
        self._input_held = False
        """Reading is paused: the engine holds enough bytes behind a Hello waiting for its Welcome."""
        self._rest_kept = False
        """Reading is paused: the engine takes the rest of a long read a part per loop turn (``read_rest_soon``)."""
        self.output_full = False
        """Reading is paused: more than the high mark of answers is unsent (``pause_writing``, ``output_marks``);
        the engine keeps the rest of a long read and the bytes held behind a Hello meanwhile."""
        self._reading_paused = False
        """The transport's reading is paused (for any of the three reasons above)."""
        self._rest_waits = False
        """The next part of a long read waits for the strategy to read its answers (``_output_full``)."""
        self._stall_timer: asyncio.TimerHandle | None = None
        self._stall_size = 0
        self._stall_since = 0
        self._half_closed = False
        """The strategy half-closed while its Welcome, replay or held requests were still to come: they are
        finished, then the connection closes (``eof_received``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        self.transport = transport
        high, low = output_marks(self._max_write_buffer)
        transport.set_write_buffer_limits(high, low)  # pause_writing / resume_writing: back-pressure on reading
        self.peer = peer_credentials(transport.get_extra_info("socket"))
        self._engine.link_opened(self)
        if self._backlog is not None:
            self._backlog.opened(self)

    def data_received(self, data: bytes) -> None:
        t_in = self._clock()
        if self._on_activity is not None:
            self._on_activity()
        self._engine.link_data(self, data, t_in)
        backlog = self._backlog
        if backlog is not None and self.session.state is not _AWAITING_HELLO:
            backlog.done(self)  # said Hello (or was closed): no longer waiting
            self._backlog = None

    def eof_received(self) -> bool:
        """The strategy half-closed (or closed): keep the connection open while its Hello is still being answered.

        A half-close loses nothing sent before it (docs/strategy-protocol.md 1): the requests read behind a Hello
        whose Welcome or replay is still to come are carried out after it, as any, and answered; the connection
        closes once they are (``hold_input`` False). A full close (hang-up both ways) closes at once, as before.
        """
        transport = self.transport
        if self._half_closed:
            return True
        if transport is None or not self._engine.welcome_pending(self) or peer_hung_up(transport):
            return False  # close: what was read has been carried out, its answers are written before the close
        self._half_closed = True
        return True  # asyncio and uvloop stop reading; the connection stays open for writing

    def _close_after_half_close(self) -> None:
        """Close a half-closed connection once its Hello is all answered (nothing of it left for the engine)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._engine.welcome_pending(self):
            return
        transport.close()  # after what is queued; connection_lost then ends the session, as for any end-of-file

    def pause_writing(self) -> None:
        """More than the high mark is unsent: stop reading the strategy's requests until it reads its answers."""
        self.output_full = True
        self._set_reading()
        self.session.pause_input(True, self._clock())
        if self._stall_timer is None:
            self._stall_size = self.write_buffer_size()
            self._stall_since = self._clock()
            self._stall_timer = asyncio.get_running_loop().call_later(OUTPUT_STALL_CHECK_S, self._check_stall)

    def resume_writing(self) -> None:
        """What is unsent is back under the low mark: read the strategy's requests again."""
        self.output_full = False
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self.session.pause_input(False, self._clock())
        if self._rest_waits:
            self._rest_waits = False
            asyncio.get_running_loop().call_soon(self._read_rest)
        self._set_reading()

    def _check_stall(self) -> None:
        """Cut off a back-pressured strategy that has read nothing of its answers for ``OUTPUT_STALL_S``."""
        self._stall_timer = None
        transport = self.transport
        if not self.output_full or transport is None or transport.is_closing():
            return
        size = transport.get_write_buffer_size()
        now = self._clock()
        if size < self._stall_size or self._replaying:  # it reads (a replay has its own 10 s rule in the engine)
            self._stall_size = size
            self._stall_since = now
        elif now - self._stall_since >= OUTPUT_STALL_S * 1e9:
            self._cut_off(transport, size, f"nothing of it was read for {OUTPUT_STALL_S:g} s")
            return
        self._stall_size = min(self._stall_size, size)
        self._stall_timer = asyncio.get_running_loop().call_later(OUTPUT_STALL_CHECK_S, self._check_stall)

    def _set_reading(self) -> None:
        """Pause or resume reading the strategy's socket: paused while any reason holds (none after end-of-file)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._half_closed:
            return
        pause = self._input_held or self._rest_kept or self.output_full
        if pause is self._reading_paused:
            return
        self._reading_paused = pause
        if pause:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._backlog is not None:
            self._backlog.done(self)
            self._backlog = None
        if self._abort_timer is not None:
            self._abort_timer.cancel()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self.output_full = False  # nothing more is written: no back-pressure holds anything of it any longer
        self._rest_waits = False
        self._engine.link_closed(self)
        self.transport = None

    def descriptor(self) -> int:
        """Return this connection's descriptor number (-1 if it cannot be told)."""
        transport = self.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        try:
            return sock.fileno() if sock is not None else -1
        except (OSError, ValueError):
            return -1

    def has_unread_bytes(self) -> bool:
        """Return True if the strategy sent bytes this connection has not read yet (a Hello on its way)."""
        transport = self.transport
        return transport is not None and unread_bytes(transport.get_extra_info("socket")) > 0

    def refuse(self, code: str, text: str) -> None:
        """Send a fatal Error (``code``, ``text``) to a connection that has not said Hello, and close it."""
        self._backlog = None
        session = self.session
        session.close(code, text)
        out = session.take_output(self._clock())
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if out:
                transport.write(out)
            transport.close()

    def write_out(self, data: bytearray) -> None:
        """Write to the strategy; cut it off if it lets too much pile up unread."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if self._replaying:
            return
        size = transport.get_write_buffer_size()
        allowance = self._replay_allowance
        if allowance < 0 and self.strategy is not None:
            # The first write after the Welcome carries every missed event (or the last slice of a long replay):
            # a strategy that fell far behind must be able to catch up, so the replay does not count.
            allowance = self._replay_allowance = size
        elif allowance > 0 and size <= self._max_write_buffer:
            allowance = self._replay_allowance = 0
        if size > self._max_write_buffer + max(allowance, 0):
            self._cut_off(transport, size)

    def _cut_off(self, transport: asyncio.Transport, size: int, why: str = "") -> None:
        """End a slow consumer's session: fatal Error behind its backlog, detached now, socket closed soon.

        The Error can only go behind the bytes the strategy has not read, so it arrives only if the
        strategy reads within the linger time (best effort). The engine forgets the connection at once:
        the disconnect policy applies and the strategy may reconnect (with ``last_seq``) right away.
        """
        strategy = self.strategy.strategy_id if self.strategy else "?"
        log.warning(
            "strategy %s: disconnected as a slow consumer (%d bytes unread%s); "
            "its events will be replayed when it reconnects",
            strategy,
            size,
            f", {why}" if why else "",
        )
        session = self.session
        session.close(
            "SLOW_CONSUMER",
            f"{size} bytes of events were waiting unread ({why or f'limit {self._max_write_buffer}'}); reconnect "
            "with last_seq to receive every event after the last one you processed",
        )
        error = session.take_output(self._clock())
        if error:
            transport.write(error)
        self.close_transport()

    def set_replaying(self, replaying: bool) -> None:
        """Note a long replay started or ended; what is still unread of it when it ends does not count either."""
        self._replaying = replaying
        if not replaying:
            self._replay_allowance = -1

    def hold_input(self, hold: bool) -> None:
        """Pause (True) or resume (False) reading the strategy's socket (still paused while a read's rest is kept).

        False after a half-close (``eof_received``): the engine has nothing left of the Hello; close when its
        answers are written (on the next loop turn, after the flush that writes them).
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._half_closed and not hold:
            asyncio.get_running_loop().call_soon(self._close_after_half_close)
        self._input_held = hold
        self._set_reading()

    def read_rest_soon(self) -> bool:
        """Pause reading and have the engine take the next part of a long read on the next loop turn.

        A connection closing (its end found closed by a write, a fatal Error on its way) takes no more turns:
        ``connection_lost`` follows, and the engine drops the rest then, undecoded. While the strategy's answers
        are over the high mark (``pause_writing``) the next part waits until it has read them (``resume_writing``).
        """
        transport = self.transport
        if transport is None:
            return False
        if transport.is_closing():
            return True
        self._rest_kept = True
        self._set_reading()
        asyncio.get_running_loop().call_soon(self._read_rest)
        return True

    def _read_rest(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():  # the engine drops the rest at connection_lost
            return
        if self.output_full:  # taken when the strategy has read its answers (or dropped at its cut)
            self._rest_waits = True
            return
        self._engine.link_rest(self)

    def read_rest_done(self) -> None:
        """Read the strategy's socket again (unless ``hold_input`` holds it) once a long read's rest is all taken."""
        if not self._rest_kept:
            return
        self._rest_kept = False
        self._set_reading()

    def is_closing(self) -> bool:
        """Return True once the connection is ending: the transport is closing, or the strategy closed its end.

        The second covers a close the loop has not read yet (asyncio's loop reads end-of-file a loop iteration
        after the last data): the socket reports hang-up with no byte left unread, so nothing more can come.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return True
        if self._half_closed:  # its Hello is still being answered (eof_received): the session goes on until then
            return False
        sock = transport.get_extra_info("socket")
        if self._input_held or self.session.walk_paused:
            # not read while the engine holds its bytes behind a Hello, or walks the strategy's MassCancel: a
            # connection closed both ways ends now, its unread bytes with it (walk59: a new Hello was refused
            # ALREADY_CONNECTED until the walk's end); a half-close does not (walk59b; walk59c for the bytes held
            # behind a Hello): what it sent before its end-of-file is read and carried out once it is read again,
            # its answers written, and only then does the session end (docs/strategy-protocol.md section 1)
            return peer_closed(sock, full=True)
        return peer_closed(sock)

    def write_buffer_size(self) -> int:
        """Return the bytes the transport holds that the strategy has not read yet."""
        transport = self.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def close_transport(self, *, drop_unread: bool = False) -> None:
        """End the session now; close after queued bytes (a fatal Error) are written, within the linger at most.

        The engine forgets the connection on the next loop turn (not from inside its flush), whether or not the
        strategy reads: the disconnect policy applies at once and the strategy may reconnect. Bytes it leaves
        unread for the linger (``slow_consumer_linger_s``) are dropped with the socket (best effort).

        ``drop_unread`` (the stop): what the strategy sent that the gateway did not read (held behind a MassCancel's
        walk, heartbeats) is read now and dropped, not carried out, so that the strategy reads its last answers and
        then an end-of-file, not a reset (a Unix socket closed with bytes unread resets its peer; mass58b).
        """
        transport = self.transport
        if transport is None:
            return
        if drop_unread and not transport.is_closing():
            drop_unread_bytes(transport.get_extra_info("socket"))
        transport.close()
        loop = asyncio.get_running_loop()
        if self._abort_timer is None and transport.get_write_buffer_size():
            self._abort_timer = loop.call_later(self._linger_s, transport.abort)
        if not self._close_scheduled:
            self._close_scheduled = True
            loop.call_soon(self._engine.link_closed, self)  # a no-op if connection_lost came first


class SocketInUseError(Exception):
    """Another process is already listening on the socket path."""


class NotASocketError(Exception):
    """Something other than a socket (a regular file, a directory, a symlink) is at the socket path."""


def prepare_socket_path(path: str | Path) -> Path:
    """Create the socket's directory and remove a stale socket file; refuse a live one, and anything not a socket.

    Only a socket (``S_ISSOCK`` of ``lstat``) is ever removed: a regular file at the path (a typo
    naming the risk limits file) is left alone and refused, never replaced by the socket.
    """
    sock_path = Path(path)
    sock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.lstat(sock_path).st_mode
    except FileNotFoundError:
        return sock_path
    if not stat.S_ISSOCK(mode):
        raise NotASocketError(f"{sock_path}: exists and is not a socket")
    if accepts_connections(sock_path):
        raise SocketInUseError(f"{sock_path}: another process is listening on this socket")
    sock_path.unlink()
    return sock_path


LISTEN_BACKLOG: Final = socket.SOMAXCONN
"""Connections the kernel queues before ``accept`` (capped by ``net.core.somaxconn``; asyncio's default is 100).

Strategies reconnecting together after a restart must not see ``EAGAIN`` from ``connect`` while the loop is busy.
"""


async def create_unix_server(
    path: str | Path, factory: Callable[[], asyncio.Protocol], mode: int
) -> asyncio.AbstractServer:
    """Listen on ``path`` with permission ``mode`` from the moment the socket exists."""
    sock_path = prepare_socket_path(path)
    loop = asyncio.get_running_loop()
    old_umask = os.umask(0o777 & ~mode)
    try:
        server = await loop.create_unix_server(factory, str(sock_path), backlog=LISTEN_BACKLOG)
    finally:
        os.umask(old_umask)
    os.chmod(sock_path, mode)
    return server


async def start_strategy_server(
    engine: Engine,
    path: str | Path,
    clock: NowNs,
    *,
    mode: int = 0o660,
    max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
    on_activity: Callable[[], None] | None = None,
    hello_timeout_ms: int = DEFAULT_HELLO_TIMEOUT_MS,
    frame_timeout_ms: int = DEFAULT_FRAME_TIMEOUT_MS,
    backlog: HelloBacklog | None = None,
) -> asyncio.AbstractServer:
    """Serve strategies on a Unix socket (owner and group may connect by default).

    ``backlog``: the bound on connections that have not sent Hello (None: unbounded).
    """

    def factory() -> asyncio.Protocol:
        return StrategyProtocol(
            engine,
            clock,
            max_write_buffer=max_write_buffer,
            on_activity=on_activity,
            hello_timeout_ms=hello_timeout_ms,
            frame_timeout_ms=frame_timeout_ms,
            backlog=backlog,
        )

    server = await create_unix_server(path, factory, mode)
    log.info("strategy socket listening on %s (mode %o)", path, mode)
    return server


SocketIdentity = tuple[int, int]
"""A socket file's (device, inode): which file this process bound, told apart from one bound by another."""


def socket_identity(path: str | Path) -> SocketIdentity | None:
    """Return the (device, inode) of the socket file at ``path`` (None if there is none)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def remove_socket(path: str | Path, identity: SocketIdentity | None) -> bool:
    """Remove the socket file at ``path`` if it is still the one this process bound (``identity``).

    A file this process never bound (``identity`` None: its start stopped before, e.g. another gateway
    listens there) or bound again by another process since (another inode) is left alone: unlinking it
    would cut that process off from its strategies and operators. Return True if removed.
    """
    if identity is None or socket_identity(path) != identity:
        return False
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()
    return True
