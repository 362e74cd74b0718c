"""The admin socket: status, kill switch and risk reload, independent of any strategy.

Protocol: one JSON object per line each way. A request names a command and may
carry arguments, e.g. ``{"cmd": "kill", "account": "ACC1"}``; the answer is
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. The socket is created
with mode 0600 (the gateway's user only), stricter than the strategy socket, and
every request is logged with the caller's pid and uid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from gateway.server import create_unix_server, peer_credentials

log = logging.getLogger(__name__)

AdminHandler = Callable[[dict[str, Any], str], dict[str, Any] | Awaitable[dict[str, Any]]]
"""Called with (request, caller description); returns the reply fields."""

MAX_REQUEST_BYTES = 64 * 1024


class AdminRefusedError(Exception):
    """A command the gateway will not carry out as asked (e.g. an unknown account): nothing was changed.

    Answered ``{"ok": false, "error": <the message>}`` and logged as a warning, not as a failure.
    """


class AdminProtocol(asyncio.Protocol):
    """Answer newline-delimited JSON requests."""

    def __init__(self, handlers: dict[str, AdminHandler]) -> None:
        self._handlers = handlers
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._caller = "unknown caller"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop transports are not subclasses
        self._transport = transport
        peer = peer_credentials(transport.get_extra_info("socket"))
        if peer is not None:
            self._caller = f"pid {peer.pid} uid {peer.uid}"

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > MAX_REQUEST_BYTES and b"\n" not in self._buf:
            self._reply({"ok": False, "error": f"request longer than {MAX_REQUEST_BYTES} bytes"})
            if self._transport is not None:
                self._transport.close()
            return
        while b"\n" in self._buf:
            line, _, rest = bytes(self._buf).partition(b"\n")
            self._buf = bytearray(rest)
            asyncio.get_running_loop().create_task(self._answer(line))

    async def _answer(self, line: bytes) -> None:
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                raise ValueError('expected a JSON object with a string "cmd"')
        except ValueError as exc:
            self._reply({"ok": False, "error": f"bad request: {exc}"})
            return
        cmd = request["cmd"]
        handler = self._handlers.get(cmd)
        if handler is None:
            self._reply({"ok": False, "error": f"unknown command {cmd!r}; known: {sorted(self._handlers)}"})
            return
        if cmd != "status":
            log.info("admin: %s from %s: %s", cmd, self._caller, request)
        try:
            result = handler(request, self._caller)
            if isinstance(result, Awaitable):
                result = await result
        except AdminRefusedError as exc:
            log.warning("admin: %s from %s refused: %s", cmd, self._caller, exc)
            self._reply({"ok": False, "error": str(exc)})
            return
        except Exception as exc:  # an admin command must never take the gateway down
            log.exception("admin: %s failed", cmd)
            self._reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return
        self._reply({"ok": True, **result})

    def _reply(self, obj: dict[str, Any]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(json.dumps(obj, default=str).encode() + b"\n")


async def start_admin_server(path: str | Path, handlers: dict[str, AdminHandler]) -> asyncio.AbstractServer:
    """Serve admin requests on a Unix socket only the gateway's own user can open."""
    server = await create_unix_server(path, lambda: AdminProtocol(handlers), 0o600)
    log.info("admin socket listening on %s (mode 600)", path)
    return server


class AdminError(Exception):
    """The gateway could not be reached or refused the request."""


def admin_request(path: str | Path, request: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one request to a running gateway's admin socket and return its reply (blocking)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(str(path))
        except FileNotFoundError as exc:
            raise AdminError(f"no gateway admin socket at {path} (is the gateway running?)") from exc
        except PermissionError as exc:
            raise AdminError(f"permission denied on {path}: run as the gateway's user") from exc
        except ConnectionRefusedError as exc:
            raise AdminError(f"{path}: nothing is listening (stale socket?)") from exc
        sock.sendall(json.dumps(request).encode() + b"\n")
        buf = bytearray()
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise AdminError("the gateway closed the admin connection without answering")
            buf += chunk
    except TimeoutError as exc:
        raise AdminError(f"no answer from the gateway within {timeout_s} s") from exc
    finally:
        sock.close()
    reply = json.loads(bytes(buf).partition(b"\n")[0])
    if not isinstance(reply, dict):
        raise AdminError(f"unexpected reply: {reply!r}")
    return reply
