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

Connections are bounded (``AdminConnections``): at most ``MAX_ADMIN_CONNECTIONS`` (an eighth of the
descriptor limit when that is less); one more closes the oldest idle one, and a connection with no request
under way that sent nothing for ``ADMIN_IDLE_TIMEOUT_S`` is closed, each with a last JSON line saying why.
A stuck script or exporter holding connections open thus cannot take every descriptor and lock strategies out.
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
from gateway.snapshot import Snapshot, decode_snapshot, metrics_snapshot, status_document
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
"""Admin connections held at most (an eighth of the descriptor limit when that is less): one more closes the
oldest idle one (or, every one with a request under way, is refused itself)."""
ADMIN_IDLE_TIMEOUT_S: Final = 30
"""An admin connection with no request under way that sent nothing for this long is closed (the CLI and the
exporter connect per request and send it at once; an answer they wait for is a request under way)."""
ADMIN_CLOSED_LOG_NS: Final = 10_000_000_000
"""The WARNING about admin connections closed is written at most once per 10 s (with the counts)."""


def _splice_max() -> int:
    """Return the largest snapshot reply sent spliced: half a fresh Unix socket's send buffer (0: never)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            return int(probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) // 2
    except OSError:
        return 0


SPLICE_MAX: Final = _splice_max()
"""A snapshot reply up to this size goes by one ``writev`` from the live buffers; a larger one is copied
into the reply first (a fresh connection's send buffer takes the smaller one whole; the host's
``net.core.wmem_default`` sets it: 212,992 bytes by default, so up to 106,496 bytes are spliced)."""
SnapshotWrite = Callable[[bytearray, int], tuple[int, tuple[bytes | bytearray | memoryview, ...]] | None]
"""Writes a command's binary snapshot into the reply buffer from an offset on (``gateway.snapshot``); returns
None, or (offset, buffers) when the snapshot is the reply buffer with those live buffers spliced in at that
offset (``SnapshotWriter.write_spliced``: the reply sends them from where they live, uncopied)."""
_SNAPSHOT_PREFIX: Final = b"\0\0\0\0\x82\xa2ok\xc3\xa8snapshot\xc6\0\0\0\0"
"""A snapshot reply's first bytes: the frame length, then MessagePack ``{"ok": true, "snapshot": <bin 32>}``
up to the bin's length; the snapshot itself follows (``AdminProtocol._reply_snapshot``)."""
SNAPSHOT_COMMANDS: Final = ("status", "metrics")


def snapshot_request(cmd: str) -> bytes:
    """Return the request line asking for ``cmd``'s snapshot, byte for byte as the gateway recognises it."""
    return json.dumps({"cmd": cmd, "reply": "snapshot"}, separators=(",", ":")).encode() + b"\n"


_SNAPSHOT_REQUESTS: Final = {snapshot_request(cmd): cmd for cmd in SNAPSHOT_COMMANDS}
"""The snapshot requests ``fetch_snapshot`` sends, answered without the JSON parser (any other spelling is parsed)."""


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
    """Bound the admin connections and close idle ones; count and log what was closed.

    ``opened`` past ``limit`` closes the oldest idle connection (no request under way, nothing unread), or the
    new one when none is idle; ``sweep`` (the gateway's timer, every second) closes those with no request under
    way that sent nothing for ``idle_timeout_s``, and writes the WARNING (at most once per 10 s).
    """

    def __init__(
        self,
        limit: int = MAX_ADMIN_CONNECTIONS,
        idle_timeout_s: float = ADMIN_IDLE_TIMEOUT_S,
        clock: NowNs = monotonic_ns,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.limit = limit
        self.idle_timeout_s = idle_timeout_s
        self._idle_ns = int(idle_timeout_s * 1_000_000_000)
        self._clock = clock
        self._on_close = on_close
        self._open: dict[AdminProtocol, int] = {}
        """Each connection's last activity (bytes received, a reply written), least recent first."""
        self.closed_idle = 0
        self.closed_bound = 0
        self._closed_log = TallyLog(2, ADMIN_CLOSED_LOG_NS)
        """Closed for idling (kind 0) and for the bound (kind 1), not said yet."""

    @property
    def open(self) -> int:
        """Return how many admin connections are open."""
        return len(self._open)

    def opened(self, link: AdminProtocol) -> None:
        """Hold a new connection; past the bound close the oldest idle one, or ``link`` when none is."""
        connections = self._open
        connections[link] = self._clock()
        if len(connections) <= self.limit:
            return
        oldest = next((c for c in connections if c is not link and c.idle()), None)
        if oldest is None:
            self._close(link, f"refused: {self.limit} admin connections are open, each with a request under way", True)
        else:
            self._close(oldest, f"closed: more than {self.limit} admin connections; this was the oldest idle one", True)

    def active(self, link: AdminProtocol) -> None:
        """Note activity on ``link`` (its idle time starts again)."""
        connections = self._open
        if connections.pop(link, None) is not None:
            connections[link] = self._clock()

    def done(self, link: AdminProtocol) -> None:
        """Forget a closed connection."""
        self._open.pop(link, None)

    def sweep(self) -> None:
        """Close the connections idle for ``idle_timeout_s``; write the WARNING about those closed (once per 10 s)."""
        now = self._clock()
        cutoff = now - self._idle_ns
        for link, last in list(self._open.items()):
            if last > cutoff:
                break  # least recent first: the rest are younger
            if not link.busy():
                self._close(link, f"closed: idle for {self.idle_timeout_s:g} s (no request)", False)
        due = self._closed_log.due(now)
        if due is not None:
            idle, bound = due
            log.warning(
                "%d admin connections closed since the last such line (%d idle longer than %g s, %d past the bound "
                "of %d open): something holds admin connections open without asking (a stuck script or exporter); "
                "find it (ss -xp on the admin socket)",
                idle + bound,
                idle,
                self.idle_timeout_s,
                bound,
                self.limit,
            )

    def _close(self, link: AdminProtocol, why: str, bound: bool) -> None:
        """Close ``link`` with a last JSON line saying ``why``; count it (``bound``: for the bound, else idle)."""
        self._open.pop(link, None)
        link.close_with(
            f"admin connection {why} (at most {self.limit} admin connections, idle at most "
            f"{self.idle_timeout_s:g} s: docs/ops-guide.md section 6, the descriptor budget)"
        )
        self._closed_log.add(bound)
        if bound:
            self.closed_bound += 1
        else:
            self.closed_idle += 1
        if self._on_close is not None:
            self._on_close()


class AdminRefusedError(Exception):
    """A command the gateway will not carry out as asked (e.g. an unknown account): nothing was changed.

    Answered ``{"ok": false, "error": <the message>}`` and logged as a warning, not as a failure.
    """


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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        self._transport = transport
        if self._connections is not None:
            self._connections.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connections is not None:
            self._connections.done(self)

    def busy(self) -> bool:
        """Return True while a request is under way (answered from a task)."""
        return self._pending > 0

    def idle(self) -> bool:
        """Return True if nothing is under way or waiting: no request pending, partial or unread in the socket."""
        if self._pending or self._buf or self._transport is None:
            return False
        return not unread_bytes(self._transport.get_extra_info("socket"))

    def close_with(self, why: str) -> None:
        """Write ``{"ok": false, "error": why}`` as a last line and close the connection."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(_json_encode({"ok": False, "error": why}) + b"\n")
        transport.close()

    def _who(self) -> str:
        """Return the caller's description (SO_PEERCRED), read on first use: status and metrics never need it."""
        if self._caller is None:
            transport = self._transport
            peer = peer_credentials(transport.get_extra_info("socket")) if transport is not None else None
            self._caller = f"pid {peer.pid} uid {peer.uid}" if peer is not None else "unknown caller"
        return self._caller

    def data_received(self, data: bytes) -> None:
        if self._connections is not None:
            self._connections.active(self)
        if not self._buf:
            cmd = _SNAPSHOT_REQUESTS.get(data)
            if cmd is not None:
                write = self._snapshots.get(cmd)
                if write is not None:  # the snapshot request as gateway.admin sends it: no JSON parser
                    self._answer_snapshot(cmd, write, monotonic_ns(), thread_time_ns())
                    return
        self._buf += data
        if len(self._buf) > MAX_REQUEST_BYTES and b"\n" not in self._buf:
            self._reply({"ok": False, "error": f"request longer than {MAX_REQUEST_BYTES} bytes"}, False)
            if self._transport is not None:
                self._transport.close()
            return
        while b"\n" in self._buf:
            line, _, rest = bytes(self._buf).partition(b"\n")
            self._buf = bytearray(rest)
            self._answer(line)

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
        cmd = request["cmd"]
        reply = request.get("reply")
        if reply == "snapshot":
            write = self._snapshots.get(cmd)
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
            self._pending += 1
            asyncio.get_running_loop().create_task(self._answer_later(cmd, result, binary))
            return
        self._reply({"ok": True, **result}, binary)
        self._stats.record(cmd, monotonic_ns() - started, thread_time_ns() - started_cpu)

    async def _answer_later(self, cmd: str, pending: Awaitable[dict[str, Any]], binary: bool) -> None:
        try:
            result = await pending
        except AdminRefusedError as exc:
            self._refused(cmd, exc, binary)
            return
        except Exception as exc:
            self._failed(cmd, exc, binary)
            return
        finally:
            self._pending -= 1
            if self._connections is not None:
                self._connections.active(self)  # its idle time starts from the answer
        self._reply({"ok": True, **result}, binary)

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
        if spliced is not None and length > SPLICE_MAX:  # might not all go at once: copy, send later safely
            at, live = spliced
            frame[at:at] = b"".join(live)
            spliced = None
        if spliced is None:
            transport.write(frame)
        else:  # one writev: the spliced bytes go from the live buffer, so they must go now, whole
            at, live = spliced
            view = memoryview(frame)
            transport.writelines((view[:at], *live, view[at:]))
            del view
            if transport.get_write_buffer_size():  # never seen: SPLICE_MAX fits a fresh connection's buffer
                log.warning("admin: a snapshot reply did not fit the socket's send buffer; connection aborted")
                transport.abort()  # the rest would be sent later, from bytes changed since: no torn snapshot
                return
        if not transport.get_write_buffer_size():
            AdminProtocol._frame = frame

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


def fetch_snapshot(path: str | Path, cmd: str, timeout_s: float = 10.0) -> Snapshot:
    """Return the gateway's ``status`` or ``metrics`` snapshot, decoded (nothing assembled yet)."""
    reply = _checked(_binary_request(path, snapshot_request(cmd), timeout_s), cmd)
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
