"""The admin socket: status, metrics, kill switch, risk reload and venue reconnect, independent of any strategy.

Protocol: one JSON object per line from the client, e.g. ``{"cmd": "kill", "account": "ACC1"}``.
The answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``, as one JSON line, or,
when the request says ``"reply": "msgpack"``, as a 4-byte big-endian length and a MessagePack
map (the histogram counts travel as raw bytes instead of base64), or, for ``status`` and
``metrics`` with ``"reply": "snapshot"`` (what ``gateway status``, ``gateway metrics`` and the
exporter ask for), as ``{"ok": true, "snapshot": <bytes>}``: the binary snapshot of
``gateway.snapshot``, written into the reply by the loop and assembled into the documents by the
asking process. The socket is created with mode 0600 (the gateway's user only),
stricter than the strategy socket, and every request but ``status`` and ``metrics`` is logged
with the caller's pid and uid.

Each request's cost to the event loop (request parsed to reply written) is measured with the
monotonic clock and kept in ``AdminStats``, which ``status`` and ``metrics`` report.

Connections are bounded (``AdminConnections``): at most ``MAX_ADMIN_CONNECTIONS`` (an eighth of the descriptor limit
when that is less); one more closes the oldest idle one (else the one whose partial request is oldest, else, once its
request under way is answered, one pipelining requests behind it), a connection with no request under way that sent
nothing for ``ADMIN_IDLE_TIMEOUT_S`` is closed, and so is one whose request is not whole ``ADMIN_REQUEST_TIMEOUT_S``
after its first byte, each with a last JSON line saying why. A closed connection counts until it is gone: its unread
bytes are dropped with it after ``ADMIN_CLOSE_LINGER_S``. Replies queue for a client that does not read them up to the
transport's high-water mark (``ADMIN_WRITE_HIGH``): reading stops there, so pipelined requests wait unanswered in the
socket; past ``ADMIN_MAX_UNREAD`` bytes unread (answers from tasks) the connection is closed. Snapshot replies included:
one is spliced only with nothing queued ahead of it, and what the socket does not take is copied at once and queued. A
request answered from a task (``risk_reload``) is the only one under way on its connection: the requests after it wait,
unread, until it is answered (answers in request order). A stuck script or exporter holding connections open thus cannot
take every descriptor, or memory, and lock strategies or ops out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import thread_time_ns
from typing import Any, ClassVar, Final, cast

import msgspec

from gateway.latency import LatencySnapshot
from gateway.metrics import MetricsSnapshot
from gateway.server import create_unix_server, peer_credentials, unread_bytes
from gateway.snapshot import Snapshot, decode_snapshot, metrics_snapshot, status_document, with_shared_histograms
from gateway.stats_map import SharedMovedError, SharedReadError
from model.clock import NowNs, monotonic_ns
from obs.histogram import SparseHistogram
from obs.ratelog import TallyLog

log = logging.getLogger(__name__)

AdminHandler = Callable[[dict[str, Any], str], dict[str, Any] | Awaitable[dict[str, Any]]]
"""Called with (request, caller description); returns the reply fields."""

MAX_REQUEST_BYTES = 64 * 1024
QUIET_COMMANDS: Final = frozenset({"status", "metrics"})
"""Commands polled by monitoring: not logged."""
_LENGTH: Final = struct.Struct(">I")
MAX_ADMIN_CONNECTIONS: Final = 32
"""Admin connections held at most (an eighth of the descriptor limit when that is less), those closing included: one
more drops a closing one, else closes the oldest idle one, else the one whose partial request is oldest, else one
pipelining requests behind one under way once that one is answered (or, every one carrying out a request with nothing
behind it, is refused itself)."""
ADMIN_IDLE_TIMEOUT_S: Final = 30
"""An admin connection with no request under way that sent nothing for this long is closed (the CLI and the
exporter connect per request and send it at once; an answer they wait for is a request under way)."""
ADMIN_REQUEST_TIMEOUT_S: Final = 5
"""A request not whole (its newline) this long after its first byte closes the connection (the CLI sends each
request in one write: a request that trickles in is a stuck or hostile client holding a connection)."""
ADMIN_CLOSE_LINGER_S: Final = 2
"""A connection the gateway closed whose client does not read its last bytes is dropped with them after this."""
ADMIN_WRITE_HIGH: Final = 64 * 1024
"""Replies queued for a client above this: its socket is not read (pipelined requests wait there) until it reads."""
ADMIN_MAX_UNREAD: Final = 1024 * 1024
"""Replies queued unread above this (answers of requests carried out from tasks): the connection is closed."""
ADMIN_CLOSED_LOG_NS: Final = 10_000_000_000
"""The WARNING about admin connections closed is written at most once per 10 s (with the counts)."""
_IDLE, _BOUND, _REQUEST_TIMEOUT, _UNREAD = range(4)
"""Why an admin connection was closed (``AdminConnections``' tally kinds)."""


def _splice_max() -> int:
    """Return half a fresh Unix socket's send buffer (0: unknown, no bound)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            return int(probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) // 2
    except OSError:
        return 0


SPLICE_MAX: Final = _splice_max()
"""Half a fresh Unix socket's send buffer (the host's ``net.core.wmem_default``: 212,992 bytes by default, so
106,496): the live bytes a ``metrics`` snapshot splices at most (``SnapshotWriter.splice_max``: a wider fsync range
is merged on the loop). Every snapshot reply goes by one ``writev`` from where its parts are, whatever its size;
what the socket does not take is queued at once (``_queue_rest``: the immutable slow bytes by reference, the live
ones copied)."""
SnapshotWrite = Callable[[bytearray, int], tuple[int, tuple[bytes | bytearray | memoryview, ...]] | None]
"""Writes a command's binary snapshot into the reply buffer from an offset on (``gateway.snapshot``); returns
None, or (offset, buffers) when the snapshot is the reply buffer with those live buffers spliced in at that
offset (``SnapshotWriter.write_spliced``: the reply sends them from where they live, uncopied)."""
_SNAPSHOT_PREFIX: Final = b"\0\0\0\0\x82\xa2ok\xc3\xa8snapshot\xc6\0\0\0\0"
"""A snapshot reply's first bytes: the frame length, then MessagePack ``{"ok": true, "snapshot": <bin 32>}``
up to the bin's length; the snapshot itself follows (``AdminProtocol._reply_snapshot``)."""
SNAPSHOT_COMMANDS: Final = ("status", "metrics")


SHARED: Final = ":shared"
"""A snapshot command's key for the reply without the histogram bytes (``snapshots``: ``"status:shared"``)."""


def snapshot_request(cmd: str, shared: bool = False) -> bytes:
    """Return the request line asking for ``cmd``'s snapshot, byte for byte as the gateway recognises it.

    ``shared``: the reader maps the gateway's stats memfd (``gateway.stats_map``) and wants the snapshot without the
    histogram bytes (a gateway without the memfd, or an older one, answers with them: the key is ignored)."""
    request: dict[str, object] = {"cmd": cmd, "reply": "snapshot"}
    if shared:
        request["shared"] = True
    return json.dumps(request, separators=(",", ":")).encode() + b"\n"


_SNAPSHOT_REQUESTS: Final = {snapshot_request(cmd): (cmd, cmd) for cmd in SNAPSHOT_COMMANDS} | {
    snapshot_request(cmd, True): (cmd, cmd + SHARED) for cmd in SNAPSHOT_COMMANDS
}
"""The snapshot requests ``fetch_snapshot`` sends -> (command, ``snapshots`` key), answered without the JSON parser
(any other spelling is parsed)."""


def _encodable(obj: Any) -> Any:
    return str(obj)


_json_encode: Final = msgspec.json.Encoder(enc_hook=_encodable).encode
_msgpack_encode_into: Final = msgspec.msgpack.Encoder(enc_hook=_encodable).encode_into


def _msgpack_frame(obj: Any, frame: bytearray | None = None) -> bytearray:
    """Return the length-prefixed MessagePack reply, encoded in one buffer (no second copy for the prefix).

    ``frame``: a buffer to encode into (its memory is reused: no allocation and regrowth of a
    ~50 KiB reply on the event loop); a new one when None.
    """
    if frame is None:
        frame = bytearray(_LENGTH.size)
    _msgpack_encode_into(obj, frame, _LENGTH.size)
    _LENGTH.pack_into(frame, 0, len(frame) - _LENGTH.size)
    return frame


class AdminStats:
    """Requests answered and what each cost the event loop, from parsing to the reply handed to the socket.

    Two clocks: ``loop_ns`` is wall time on the loop thread (CLOCK_MONOTONIC: what a strategy
    waiting behind the request would see, preemption included), ``cpu_ns`` the loop thread's CPU
    time over the same span (CLOCK_THREAD_CPUTIME_ID: the work itself, whatever else the host runs).
    """

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.loop_ns = SparseHistogram()
        self.last_loop_ns = 0
        self.max_loop_ns = 0
        self.last_cpu_ns = 0
        self.max_cpu_ns = 0

    def record(self, cmd: str, loop_ns: int, cpu_ns: int) -> None:
        """Count one answered request."""
        self.requests[cmd] = self.requests.get(cmd, 0) + 1
        self.loop_ns.record(loop_ns)
        self.last_loop_ns = loop_ns
        self.max_loop_ns = max(self.max_loop_ns, loop_ns)
        self.last_cpu_ns = cpu_ns
        self.max_cpu_ns = max(self.max_cpu_ns, cpu_ns)


def admin_connection_bound(descriptor_limit: int) -> int:
    """Return the bound on admin connections: ``MAX_ADMIN_CONNECTIONS``, at most an eighth of ``descriptor_limit``."""
    return max(1, min(MAX_ADMIN_CONNECTIONS, descriptor_limit // 8))


class AdminConnections:
    """Bound the admin connections and close idle or stuck ones; count and log what was closed.

    ``opened`` past ``limit`` drops a connection already closing, else closes the oldest idle one (no request under
    way, nothing unread either way), else the oldest stalled one (no request being carried out: a partial request,
    oldest first; requests waiting behind unread replies), else the oldest one with requests pipelined behind one it
    is carrying out (closed once that one is answered; it makes room at once: at most ``limit`` such, above the bound
    until they go), or the new one when every one is carrying out a request with nothing behind it.
    ``sweep`` (the gateway's timer, every second) closes those with no request under way that sent nothing for
    ``idle_timeout_s`` and those whose partial request is older than ``request_timeout_s``, and writes the WARNING
    (at most once per 10 s). A closed connection counts in ``open`` until it is gone (``done``): at most
    ``linger_s`` later.
    """

    def __init__(
        self,
        limit: int = MAX_ADMIN_CONNECTIONS,
        idle_timeout_s: float = ADMIN_IDLE_TIMEOUT_S,
        clock: NowNs = monotonic_ns,
        on_close: Callable[[], None] | None = None,
        request_timeout_s: float = ADMIN_REQUEST_TIMEOUT_S,
        linger_s: float = ADMIN_CLOSE_LINGER_S,
    ) -> None:
        self.limit = limit
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.linger_s = linger_s
        self._idle_ns = int(idle_timeout_s * 1_000_000_000)
        self._request_ns = int(request_timeout_s * 1_000_000_000)
        self.clock = clock
        self._on_close = on_close
        self._open: dict[AdminProtocol, int] = {}
        """Each connection's last activity (bytes received, a reply written or read), least recent first."""
        self._closing: dict[AdminProtocol, None] = {}
        """Connections closed here, not gone yet (their client has not read their last bytes), oldest first."""
        self._dropped: set[AdminProtocol] = set()
        """Connections of ``_closing`` going on the next loop turn (aborted, or closed with nothing left to write):
        they make room for new ones already (a burst of new ones in one loop turn must not all count the same one);
        also those of ``_finishing``."""
        self._finishing: set[AdminProtocol] = set()
        """Connections closed to make room that go once their request under way is answered (a pipelining client's
        risk reload: it ends by itself): at most ``limit`` of them, above the bound meanwhile."""
        self.closed_idle = 0
        self.closed_bound = 0
        self.closed_request_timeout = 0
        self.closed_unread = 0
        self._closed_log = TallyLog(4, ADMIN_CLOSED_LOG_NS)
        """Closed for idling, for the bound, for a request not whole in time, for replies unread, not said yet."""

    @property
    def open(self) -> int:
        """Return how many admin connections are open, those closed here and not gone yet included."""
        return len(self._open) + len(self._closing)

    @property
    def closing(self) -> int:
        """Return how many admin connections were closed here and are not gone yet (at most ``linger_s``)."""
        return len(self._closing)

    def opened(self, link: AdminProtocol) -> None:
        """Hold a new connection; past the bound make room (see the class), or close ``link`` when nothing can go."""
        connections = self._open
        connections[link] = self.clock()
        closing = self._closing
        while len(connections) + len(closing) - len(self._dropped) > self.limit:
            lingering = next((c for c in closing if c not in self._dropped), None)
            if lingering is not None:  # closed already, its last line unread: dropped now
                self._drop(lingering)
                continue
            victim, why, after_answer = self._victim(link)
            self._close(victim, why, _BOUND, after_answer)
            if after_answer:  # goes once its request is answered (within that request's time): room made now
                self._finishing.add(victim)
                self._dropped.add(victim)
            else:
                self._drop(victim)  # the bound holds now: no linger for a connection closed to make room

    def _victim(self, link: AdminProtocol) -> tuple[AdminProtocol, str, bool]:
        """Return the connection to close to make room for ``link`` (``link`` itself if none can go), why, and
        whether it closes once its request under way is answered."""
        connections = self._open
        others = [c for c in connections if c is not link and not c.busy()]
        oldest = next((c for c in others if c.idle()), None)
        bound = f"closed: more than {self.limit} admin connections; this was the oldest"
        if oldest is not None:
            return oldest, f"{bound} idle one", False
        stuck = [c for c in others if c.partial_since is not None or c.unread_replies()]
        if stuck:  # a request coming a byte at a time, or requests kept behind replies the client does not read
            stalled = min(stuck, key=lambda c: connections[c] if c.partial_since is None else c.partial_since)
            if stalled.partial_since is None:
                what = "its replies unread"
            else:
                what = f"its request unfinished for {(self.clock() - stalled.partial_since) / 1e9:.1f} s"
            return stalled, f"{bound} stalled one ({what})", False
        if len(self._finishing) < self.limit:
            pipelining = [c for c in connections if c is not link and c.busy() and c.waiting()]
            if pipelining:  # requests pipelined behind one under way: that one is answered, the rest are not run
                return (
                    min(pipelining, key=connections.__getitem__),
                    f"{bound} pipelining requests behind one under way (that one was answered above; the requests "
                    "after it were not carried out: send one request at a time and read its answer)",
                    True,
                )
        return (
            link,
            (
                f"refused: all {self.limit} admin connections are carrying out or receiving a request (none idle or "
                "stalled to close); try again once one is answered"
            ),
            False,
        )

    def _drop(self, link: AdminProtocol) -> None:
        """Make ``link``, closed here, go on the next loop turn: aborted if its client left bytes unread."""
        self._dropped.add(link)
        if link.unread_replies():
            link.abort()

    def active(self, link: AdminProtocol) -> None:
        """Note activity on ``link`` (its idle time starts again)."""
        connections = self._open
        if connections.pop(link, None) is not None:
            connections[link] = self.clock()

    def done(self, link: AdminProtocol) -> None:
        """Forget a connection that is gone."""
        self._open.pop(link, None)
        self._closing.pop(link, None)
        self._dropped.discard(link)
        self._finishing.discard(link)

    def unread(self, link: AdminProtocol, queued: int) -> None:
        """Close ``link``: ``queued`` bytes of replies wait unread, past ``ADMIN_MAX_UNREAD``."""
        if link in self._open:
            self._close(
                link,
                f"closed: {queued} bytes of replies unread (more than {ADMIN_MAX_UNREAD}): read each reply",
                _UNREAD,
            )

    def sweep(self) -> None:
        """Close idle and timed-out connections; write the WARNING about those closed (once per 10 s)."""
        now = self.clock()
        cutoff = now - self._idle_ns
        request_cutoff = now - self._request_ns
        for link, last in list(self._open.items()):
            since = link.partial_since
            if since is not None and since <= request_cutoff:
                self._close(
                    link,
                    f"closed: a request not whole {self.request_timeout_s:g} s after its first byte (send each "
                    "request as one line ending in a newline, at once)",
                    _REQUEST_TIMEOUT,
                )
            elif last <= cutoff and not link.busy():
                self._close(link, f"closed: idle for {self.idle_timeout_s:g} s (no request)", _IDLE)
        due = self._closed_log.due(now)
        if due is not None:
            idle, bound, request, unread = due
            log.warning(
                "%d admin connections closed since the last such line (%d idle longer than %g s, %d past the bound "
                "of %d open, %d with a request not whole after %g s, %d not reading their replies): something holds "
                "admin connections open without asking (a stuck script or exporter); find it (ss -xp on the admin "
                "socket)",
                idle + bound + request + unread,
                idle,
                self.idle_timeout_s,
                bound,
                self.limit,
                request,
                self.request_timeout_s,
                unread,
            )

    def _close(self, link: AdminProtocol, why: str, kind: int, after_answer: bool = False) -> None:
        """Close ``link`` with a last JSON line saying ``why`` (``after_answer``: once its request under way is
        answered); count it by ``kind``; it counts until it is gone."""
        if self._open.pop(link, None) is None:
            return
        self._closing[link] = None
        line = (
            f"admin connection {why} (at most {self.limit} admin connections, idle at most "
            f"{self.idle_timeout_s:g} s, a request whole within {self.request_timeout_s:g} s: docs/ops-guide.md "
            "section 6, the descriptor budget)"
        )
        if after_answer:
            link.close_after_answer(line, self.linger_s)
        else:
            link.close_with(line, self.linger_s)
        self._closed_log.add(kind)
        if kind == _IDLE:
            self.closed_idle += 1
        elif kind == _BOUND:
            self.closed_bound += 1
        elif kind == _REQUEST_TIMEOUT:
            self.closed_request_timeout += 1
        else:
            self.closed_unread += 1
        if self._on_close is not None:
            self._on_close()


class AdminRefusedError(Exception):
    """A command the gateway will not carry out as asked (e.g. an unknown account): nothing was changed.

    Answered ``{"ok": false, "error": <the message>}`` and logged as a warning, not as a failure.
    """


def _queue_rest(transport: asyncio.Transport, parts: tuple[bytes | bytearray | memoryview, ...], sent: int) -> None:
    """Queue on ``transport`` what of ``parts`` follows the first ``sent`` bytes, in order, as of now.

    A ``bytes`` part cannot change: it is queued by reference (uvloop sends it from where it is; the stdlib
    loop's transport copies what it buffers). Any other part is a live buffer (the histograms, the reply
    buffer the next request rewrites): what is left of a run of them is copied now, in one ``bytes``.
    """
    live: list[bytes | bytearray | memoryview] = []
    for whole in parts:
        size = len(whole)
        if sent >= size:
            sent -= size
            continue
        part = memoryview(whole)[sent:] if sent else whole
        sent = 0
        if type(whole) is bytes or (isinstance(whole, memoryview) and type(whole.obj) is bytes):
            if live:
                transport.write(b"".join(live))
                live = []
            transport.write(part)
        else:
            live.append(part)
    if live:
        transport.write(b"".join(live))


class AdminProtocol(asyncio.Protocol):
    """Answer newline-delimited JSON requests."""

    _frame: ClassVar[bytearray | None] = None
    """The last MessagePack reply's buffer (any connection: monitoring connects per request), reused
    when its transport wrote it whole; one event loop per process answers every admin connection."""

    def __init__(
        self,
        handlers: dict[str, AdminHandler],
        stats: AdminStats | None = None,
        snapshots: dict[str, SnapshotWrite] | None = None,
        connections: AdminConnections | None = None,
    ) -> None:
        self._handlers = handlers
        self._stats = stats if stats is not None else AdminStats()
        self._snapshots = snapshots or {}
        self._connections = connections
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._caller: str | None = None
        self._pending = 0
        """Requests answered from a task, not answered yet."""
        self.partial_since: int | None = None
        """When the first byte of the partial request in ``_buf`` arrived (``AdminConnections.clock``); None: none."""
        self._writing_paused = False
        """Replies queued above the high-water mark: the socket is not read and buffered requests wait."""
        self._abort_timer: asyncio.TimerHandle | None = None
        self._fd = -1
        """The socket's descriptor, looked up on the first spliced reply (``_write_spliced``)."""
        self._close_after: tuple[str, float] | None = None
        """A last line and linger to close with once the request under way is answered (``close_after_answer``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        self._transport = transport
        transport.set_write_buffer_limits(high=ADMIN_WRITE_HIGH)
        if self._connections is not None:
            self._connections.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        if self._connections is not None:
            self._connections.done(self)

    def pause_writing(self) -> None:
        """Replies queued above the high-water mark: stop reading the client (its requests wait in its socket)."""
        self._writing_paused = True
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def resume_writing(self) -> None:
        """The client read its replies: read it again and answer the requests kept (on the next loop turn)."""
        self._writing_paused = False
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._connections is not None:
            self._connections.active(self)
        if self._pending:
            return  # a request is under way: its answer reads the client again (``_answered``)
        transport.resume_reading()
        if b"\n" in self._buf:
            asyncio.get_running_loop().call_soon(self._take_kept)

    def _take_kept(self) -> None:
        """Answer the requests kept while replies were queued; a partial one left starts its time limit now."""
        self._take_requests()
        if self._buf and b"\n" not in self._buf and self.partial_since is None:
            connections = self._connections
            self.partial_since = connections.clock() if connections is not None else monotonic_ns()

    def busy(self) -> bool:
        """Return True while a request is under way (answered from a task)."""
        return self._pending > 0

    def waiting(self) -> bool:
        """Return True if requests wait behind the one under way: kept here or unread in the socket."""
        transport = self._transport
        if self._buf:
            return True
        return transport is not None and unread_bytes(transport.get_extra_info("socket")) > 0

    def close_after_answer(self, why: str, linger_s: float = ADMIN_CLOSE_LINGER_S) -> None:
        """Close with the last line ``why`` once the request under way is answered (at once if none is); the
        requests behind it are not carried out."""
        if not self._pending:
            self.close_with(why, linger_s)
            return
        self._close_after = (why, linger_s)

    def idle(self) -> bool:
        """Return True if nothing is under way or waiting: no request pending, partial, kept or unread in the socket,
        no reply unread by the client."""
        transport = self._transport
        if self._pending or self._buf or transport is None or transport.get_write_buffer_size():
            return False
        return not unread_bytes(transport.get_extra_info("socket"))

    def unread_replies(self) -> int:
        """Return the bytes of replies queued that the client has not read."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def close_with(self, why: str, linger_s: float = ADMIN_CLOSE_LINGER_S) -> None:
        """Write ``{"ok": false, "error": why}`` as a last line and close; drop what is unread after ``linger_s``."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(_json_encode({"ok": False, "error": why}) + b"\n")
        self._close_transport(linger_s)

    def _close_transport(self, linger_s: float = ADMIN_CLOSE_LINGER_S) -> None:
        """Close after the queued bytes are written, or drop them with the socket after ``linger_s`` at most."""
        transport = self._transport
        if transport is None:
            return
        transport.close()
        if self._abort_timer is None and transport.get_write_buffer_size():
            self._abort_timer = asyncio.get_running_loop().call_later(linger_s, transport.abort)

    def abort(self) -> None:
        """Drop the connection now, with whatever its client left unread."""
        if self._transport is not None:
            self._transport.abort()

    def _who(self) -> str:
        """Return the caller's description (SO_PEERCRED), read on first use: status and metrics never need it."""
        if self._caller is None:
            transport = self._transport
            peer = peer_credentials(transport.get_extra_info("socket")) if transport is not None else None
            self._caller = f"pid {peer.pid} uid {peer.uid}" if peer is not None else "unknown caller"
        return self._caller

    def data_received(self, data: bytes) -> None:
        connections = self._connections
        if connections is not None:
            connections.active(self)
        if not self._buf and not self._writing_paused and not self._pending:
            known = _SNAPSHOT_REQUESTS.get(data)
            if known is not None:
                write = self._snapshots.get(known[1]) or self._snapshots.get(known[0])
                if write is not None:  # the snapshot request as gateway.admin sends it: no JSON parser
                    self._answer_snapshot(known[0], write, monotonic_ns(), thread_time_ns())
                    return
        partial_before = self.partial_since is not None
        self._buf += data
        if b"\n" in data or not partial_before:  # a new partial request (if any is left) starts in this chunk
            self.partial_since = None
            self._take_requests()
            if self._buf and b"\n" not in self._buf:
                self.partial_since = connections.clock() if connections is not None else monotonic_ns()
        if len(self._buf) > MAX_REQUEST_BYTES and b"\n" not in self._buf:
            self._reply({"ok": False, "error": f"request longer than {MAX_REQUEST_BYTES} bytes"}, False)
            self._close_transport()

    def _take_requests(self) -> None:
        """Answer the whole requests in ``_buf``, in order, until replies queue above the high-water mark or one is
        answered from a task (then the rest wait: here, and in the socket, not read meanwhile)."""
        transport = self._transport
        while not self._writing_paused and not self._pending and b"\n" in self._buf:
            if transport is None or transport.is_closing() or self._close_after is not None:
                return
            line, _, rest = bytes(self._buf).partition(b"\n")
            self._buf = bytearray(rest)
            self._answer(line)

    def _check_unread(self) -> None:
        """Close the connection if the replies its client left unread passed ``ADMIN_MAX_UNREAD``."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        queued = transport.get_write_buffer_size()
        if queued > ADMIN_MAX_UNREAD:
            if self._connections is not None:
                self._connections.unread(self, queued)
            else:
                self.close_with(f"admin connection closed: {queued} bytes of replies unread: read each reply")

    def _answer(self, line: bytes) -> None:
        """Answer one request; a handler returning an awaitable is answered from a task."""
        started = monotonic_ns()
        started_cpu = thread_time_ns()
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                raise ValueError('expected a JSON object with a string "cmd"')
        except ValueError as exc:
            self._reply({"ok": False, "error": f"bad request: {exc}"}, False)
            return
        except RecursionError:  # JSON nested deeper than the parser goes
            self._reply({"ok": False, "error": "bad request: JSON nested too deep; expected a JSON object"}, False)
            return
        cmd = request["cmd"]
        reply = request.get("reply")
        if reply == "snapshot":
            write = self._snapshots.get(cmd)
            if request.get("shared") is True:
                write = self._snapshots.get(cmd + SHARED) or write
            if write is not None:
                self._answer_snapshot(cmd, write, started, started_cpu)
                return
        binary = reply in ("msgpack", "snapshot")
        handler = self._handlers.get(cmd)
        if handler is None:
            self._reply({"ok": False, "error": f"unknown command {cmd!r}; known: {sorted(self._handlers)}"}, binary)
            return
        if cmd not in QUIET_COMMANDS:
            log.info("admin: %s from %s: %s", cmd, self._who(), request)
        try:
            result = handler(request, self._who())
        except AdminRefusedError as exc:
            self._refused(cmd, exc, binary)
            return
        except Exception as exc:  # an admin command must never take the gateway down
            self._failed(cmd, exc, binary)
            return
        if type(result) is not dict and isinstance(result, Awaitable):  # (an ABC check costs the loop)
            self._pending += 1  # one at a time: the requests after it wait, the socket is not read meanwhile
            if self._transport is not None:
                self._transport.pause_reading()
            asyncio.get_running_loop().create_task(self._answer_later(cmd, result, binary))
            return
        self._reply({"ok": True, **result}, binary)
        self._stats.record(cmd, monotonic_ns() - started, thread_time_ns() - started_cpu)

    async def _answer_later(self, cmd: str, pending: Awaitable[dict[str, Any]], binary: bool) -> None:
        try:
            result = await pending
        except AdminRefusedError as exc:
            self._refused(cmd, exc, binary)
        except Exception as exc:
            self._failed(cmd, exc, binary)
        else:
            self._reply({"ok": True, **result}, binary)
        finally:
            self._pending -= 1
        self._answered()  # (not when cancelled: the gateway is stopping)

    def _answered(self) -> None:
        """The request under way was answered: close if asked to, else take the next ones and read again."""
        if self._connections is not None:
            self._connections.active(self)  # its idle time starts from the answer
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._close_after is not None:
            why, linger_s = self._close_after
            self._close_after = None
            self.close_with(why, linger_s)
            return
        if self._writing_paused:
            return  # the client reads its replies first (``resume_writing``)
        self._take_kept()
        if not self._pending and not self._writing_paused and not transport.is_closing():
            transport.resume_reading()

    def _refused(self, cmd: str, exc: AdminRefusedError, binary: bool) -> None:
        log.warning("admin: %s from %s refused: %s", cmd, self._who(), exc)
        self._reply({"ok": False, "error": str(exc)}, binary)

    def _failed(self, cmd: str, exc: Exception, binary: bool) -> None:
        log.exception("admin: %s failed", cmd, exc_info=exc)
        self._reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, binary)

    def _answer_snapshot(self, cmd: str, write: SnapshotWrite, started: int, started_cpu: int) -> None:
        """Answer ``cmd`` with its snapshot and count the request."""
        try:
            self._reply_snapshot(write)
        except Exception as exc:  # an admin command must never take the gateway down
            self._failed(cmd, exc, True)
            return
        self._stats.record(cmd, monotonic_ns() - started, thread_time_ns() - started_cpu)

    def _reply_snapshot(self, write: SnapshotWrite) -> None:
        """Answer with a snapshot written straight into the reply buffer (no document, no second copy)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        frame = AdminProtocol._frame
        AdminProtocol._frame = None
        if frame is None:
            frame = bytearray()
        prefix = len(_SNAPSHOT_PREFIX)
        frame[:prefix] = _SNAPSHOT_PREFIX
        spliced = write(frame, prefix)
        length = len(frame) if spliced is None else len(frame) + sum(len(part) for part in spliced[1])
        _LENGTH.pack_into(frame, 0, length - _LENGTH.size)
        _LENGTH.pack_into(frame, prefix - _LENGTH.size, length - prefix)
        if spliced is not None:
            at, live = spliced
            view = memoryview(frame)
            parts = (view[:at], *live, view[at:])
            if transport.get_write_buffer_size():  # replies queued ahead of it (a pipelining client): after them
                _queue_rest(transport, parts, 0)
            else:
                self._write_spliced(transport, parts, length)
            del view, parts
            AdminProtocol._frame = frame  # sent, or its rest copied: the transport holds no reference to it
            self._check_unread()
            return
        transport.write(frame)
        if not transport.get_write_buffer_size():
            AdminProtocol._frame = frame
        else:
            self._check_unread()

    def _write_spliced(
        self, transport: asyncio.Transport, parts: tuple[bytes | bytearray | memoryview, ...], length: int
    ) -> None:
        """Send ``parts`` (``length`` bytes, the live ones among them) by one ``writev`` on the socket itself.

        Called with nothing queued on the transport, so nothing goes ahead of it. What the socket does not take
        (a large reply, or a client that left earlier replies unread in it) is queued on the transport now
        (``_queue_rest``): the immutable parts by reference, the live ones copied before they change: never
        sent later from the live buffers (a torn snapshot), never dropped.
        """
        fd = self._fd
        if fd < 0:
            sock = transport.get_extra_info("socket")
            fd = self._fd = sock.fileno() if sock is not None else -1
        try:
            sent = os.writev(fd, parts) if fd >= 0 else 0
        except OSError:  # EAGAIN (nothing went), or a client gone: the transport's own write meets it and closes
            sent = 0
        if sent < length:
            _queue_rest(transport, parts, sent)

    def _reply(self, obj: dict[str, Any], binary: bool) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        if binary:
            frame = _msgpack_frame(obj, AdminProtocol._frame)
            AdminProtocol._frame = None
            self._transport.write(frame)
            # written whole: the transport keeps no reference and the buffer serves the next reply;
            # otherwise it is the transport's until sent, and the next reply gets a new one
            if not self._transport.get_write_buffer_size():
                AdminProtocol._frame = frame
        else:
            self._transport.write(_json_encode(obj) + b"\n")
        self._check_unread()


async def start_admin_server(
    path: str | Path,
    handlers: dict[str, AdminHandler],
    stats: AdminStats | None = None,
    snapshots: dict[str, SnapshotWrite] | None = None,
    connections: AdminConnections | None = None,
) -> asyncio.AbstractServer:
    """Serve admin requests on a Unix socket only the gateway's own user can open.

    ``snapshots``: commands that can answer ``"reply": "snapshot"`` with a binary snapshot. ``connections``:
    the bound on connections and their idle timeout (its ``sweep`` is the caller's to run every second).
    """
    shared = stats if stats is not None else AdminStats()
    server = await create_unix_server(path, lambda: AdminProtocol(handlers, shared, snapshots, connections), 0o600)
    log.info("admin socket listening on %s (mode 600)", path)
    return server


class AdminError(Exception):
    """The gateway could not be reached or refused the request."""


class AdminNoAnswerError(AdminError):
    """The request was sent but no answer came: the gateway may still carry it out (a hung, frozen or dying gateway)."""


def _not_a_socket(path: str | Path) -> str:
    """Return what ``path`` is if it is not a socket ("a directory", "a regular file", ...); "" if it is one."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""
    if stat.S_ISSOCK(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "a special file"


def _connect(path: str | Path, timeout_s: float) -> socket.socket:
    if not math.isfinite(timeout_s) or timeout_s <= 0:  # settimeout raises on some, and inf would never give up
        raise AdminError(f"timeout {timeout_s!r} s: expected a finite number of seconds above 0")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(str(path))
    except FileNotFoundError as exc:
        sock.close()
        raise AdminError(f"no gateway admin socket at {path} (is the gateway running?)") from exc
    except PermissionError as exc:
        sock.close()
        raise AdminError(f"permission denied on {path}: run as the gateway's user") from exc
    except ConnectionRefusedError as exc:
        sock.close()
        kind = _not_a_socket(path)
        if kind:
            raise AdminError(f"{path} is not a socket but {kind}: name the gateway's admin socket") from exc
        raise AdminError(f"{path}: nothing is listening (stale socket?)") from exc
    except TimeoutError as exc:  # the gateway accepts no connection (its backlog is full): nothing was sent
        sock.close()
        raise AdminError(f"{path}: the gateway accepted no connection within {timeout_s} s; nothing was sent") from exc
    except OSError as exc:  # e.g. EAGAIN (its backlog full), EMFILE here: nothing was sent
        sock.close()
        raise AdminError(f"{path}: cannot connect ({exc}); nothing was sent") from exc
    return sock


def _cut_off(exc: OSError) -> str:
    """Say that the gateway closed the connection unanswered (``exc``: the reset or broken pipe seen)."""
    return (
        f"the gateway closed the admin connection without answering ({exc}): at its descriptor limit it closes "
        "new connections at once (docs/ops-guide.md section 6, the descriptor budget)"
    )


def _closing_line(sock: socket.socket) -> str:
    """Return the error of the JSON line a gateway wrote before closing the connection unread ("": none came).

    The admin server closes a connection past its bound or idle too long with ``{"ok": false, "error": ...}``
    before reading anything: the request was not carried out.
    """
    try:
        sock.settimeout(1.0)
        data = sock.recv(65536)
        reply = json.loads(data.partition(b"\n")[0]) if data.endswith(b"\n") else None
    except (OSError, ValueError):
        return ""
    error = reply.get("error") if isinstance(reply, dict) and reply.get("ok") is False else None
    return error if isinstance(error, str) else ""


def _send(sock: socket.socket, line: bytes) -> None:
    """Send the request line; a connection the gateway closed with a line saying why raises that (nothing done)."""
    try:
        sock.sendall(line)
    except OSError as exc:
        said = _closing_line(sock)
        if said:
            raise AdminError(said) from exc
        raise


def _receive(sock: socket.socket, buf: bytearray, until: int) -> None:
    """Read into ``buf`` until it holds ``until`` bytes."""
    while len(buf) < until:
        chunk = sock.recv(max(until - len(buf), 65536))
        if not chunk:
            raise AdminError("the gateway closed the admin connection without answering")
        buf += chunk


def admin_request(path: str | Path, request: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one request to a running gateway's admin socket and return its JSON reply (blocking)."""
    sock = _connect(path, timeout_s)
    try:
        _send(sock, json.dumps(request).encode() + b"\n")
        buf = bytearray()
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise AdminNoAnswerError("the gateway closed the admin connection without answering")
            buf += chunk
    except TimeoutError as exc:
        raise AdminNoAnswerError(f"no answer from the gateway within {timeout_s} s") from exc
    except OSError as exc:  # reset or broken pipe: it may have read the request before it closed
        raise AdminNoAnswerError(_cut_off(exc)) from exc
    finally:
        sock.close()
    reply = json.loads(bytes(buf).partition(b"\n")[0])
    if not isinstance(reply, dict):
        raise AdminError(f"unexpected reply: {reply!r}")
    return reply


def admin_request_msgpack(
    path: str | Path, request: dict[str, Any], timeout_s: float = 10.0, reply: str = "msgpack"
) -> dict[str, Any]:
    """Send one request asking for a MessagePack reply; return the decoded reply (blocking).

    ``reply="snapshot"``: ``status`` and ``metrics`` answer ``{"ok": true, "snapshot": <bytes>}``
    (``gateway.snapshot.decode_snapshot``).
    """
    return _binary_request(path, json.dumps({**request, "reply": reply}).encode() + b"\n", timeout_s)


def _binary_request(path: str | Path, line: bytes, timeout_s: float) -> dict[str, Any]:
    """Send one request line; return its length-prefixed MessagePack reply, decoded (blocking)."""
    sock = _connect(path, timeout_s)
    try:
        _send(sock, line)
        buf = bytearray()
        _receive(sock, buf, _LENGTH.size)
        if buf[:1] == b"{":  # a JSON line: a gateway that does not know the reply asked for
            while b"\n" not in buf:
                _receive(sock, buf, len(buf) + 1)
            line_reply = json.loads(bytes(buf).partition(b"\n")[0])
            if isinstance(line_reply, dict) and line_reply.get("ok") is False and line_reply.get("error"):
                raise AdminError(str(line_reply["error"]))  # e.g. an idle connection closed, saying why
            raise AdminError(f"the gateway answered in JSON (an older version?): {line_reply!r:.200}")
        (length,) = _LENGTH.unpack_from(buf)
        _receive(sock, buf, _LENGTH.size + length)
    except TimeoutError as exc:
        raise AdminError(f"no answer from the gateway within {timeout_s} s") from exc
    except OSError as exc:  # reset or broken pipe (ECONNRESET, EPIPE)
        raise AdminError(_cut_off(exc)) from exc
    finally:
        sock.close()
    decoded = msgspec.msgpack.decode(memoryview(buf)[_LENGTH.size : _LENGTH.size + length])
    if not isinstance(decoded, dict):
        raise AdminError(f"unexpected reply: {decoded!r}")
    return decoded


def _checked(reply: dict[str, Any], cmd: str) -> dict[str, Any]:
    if not reply.get("ok"):
        raise AdminError(f"{cmd} refused: {reply.get('error')}")
    return reply


SHARED_TRIES: Final = 3
"""Shared replies ``fetch_snapshot`` asks for at most when the stats memfd's ``carried`` count moved each time."""


def fetch_snapshot(path: str | Path, cmd: str, timeout_s: float = 10.0, shared: bool = True) -> Snapshot:
    """Return the gateway's ``status`` or ``metrics`` snapshot, decoded (nothing assembled yet).

    ``shared`` (the default): ask for the snapshot without the histogram bytes and copy them from the gateway's
    stats memfd, ``/proc/<pid>/fd/<n>`` (``gateway.stats_map``: nothing of them on the gateway's loop). Where it
    cannot be read (another user, another pid namespace, no ``/proc``), ask for the reply with the bytes, as
    ``shared=False`` does at once.
    """
    if shared:
        for _ in range(SHARED_TRIES):
            snap = _fetch_decoded(path, cmd, timeout_s, True)
            if snap.low:  # the gateway sent the bytes (no stats memfd, or a version without it)
                return snap
            try:
                return with_shared_histograms(snap)
            except SharedMovedError:
                continue
            except SharedReadError:
                break
    return _fetch_decoded(path, cmd, timeout_s, False)


def _fetch_decoded(path: str | Path, cmd: str, timeout_s: float, shared: bool) -> Snapshot:
    reply = _checked(_binary_request(path, snapshot_request(cmd, shared), timeout_s), cmd)
    snapshot = reply.get("snapshot")
    if not isinstance(snapshot, bytes):
        raise AdminError(f"{cmd}: the gateway answered without a snapshot (a version without it?)")
    return decode_snapshot(snapshot)


def fetch_status(path: str | Path, timeout_s: float = 10.0) -> dict[str, Any]:
    """Return the status document with ``latency_us`` per stage, assembled here from the gateway's snapshot."""
    status = status_document(fetch_snapshot(path, "status", timeout_s))
    latency = status.pop("latency", None)
    if latency is not None:
        status["latency_us"] = msgspec.convert(latency, LatencySnapshot).summaries()
    return status


def fetch_metrics(path: str | Path, timeout_s: float = 10.0) -> MetricsSnapshot:
    """Return the gateway's metrics snapshot."""
    return metrics_snapshot(fetch_snapshot(path, "metrics", timeout_s))
