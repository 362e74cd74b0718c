"""A gateway near its descriptor limit: a strategy that says Hello at once is served, `gateway status` says why not.

Real processes (``gateway run`` with ``RLIMIT_NOFILE`` set in the child, ``gateway sim ouch``) and real Unix sockets.
Found by rev47strat (limit 330, 290 sessions, an idle flood): the pending-Hello bound (64) let sessions plus idle
connections take every descriptor, so a strategy connecting and saying Hello at once got a reset with no Error
frame; and `gateway status` at the limit ended in a BrokenPipeError traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.rawclient import ERROR, HELLO, NEW_ORDER, VENUE_STATUS, WELCOME, frame, split
from tests.reliability.support import GATEWAY, Gateway, Simulator, write_config

LIMIT = 128
"""The gateway's descriptor limit: its pending-Hello bound is a quarter (32)."""
IDS = [f"S{i}" for i in range(LIMIT)]


def _config(workdir: Path, sim: Simulator) -> Path:
    strategies = {sid: {"accounts": ["ACC1"], "on_disconnect": "keep"} for sid in IDS}
    return write_config(workdir, sim.port, strategies=strategies)


def _read(sock: socket.socket, buffer: bytearray, timeout_s: float = 5.0) -> list[list[Any]]:
    """Read until at least one whole frame came; return them ([] if the gateway closed the connection)."""
    sock.settimeout(timeout_s)
    while True:
        frames = split(buffer)
        if frames:
            return frames
        data = sock.recv(65536)
        if not data:
            return []
        buffer += data


def _session(path: Path, sid: str) -> socket.socket | None:
    """Connect as ``sid`` and say Hello at once (heartbeat 60 s); the socket once welcomed, else None."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        sock.sendall(frame(HELLO, sid, 3, 0, 60_000))
        buffer = bytearray()
        frames = _read(sock, buffer)
        while frames and frames[-1][0] != VENUE_STATUS and frames[0][0] == WELCOME:
            frames += _read(sock, buffer)
        if frames and frames[0][0] == WELCOME:
            return sock
    except OSError:
        pass
    sock.close()
    return None


def _open(gateway: Gateway) -> int:
    """Return the descriptors the gateway process has open now."""
    assert gateway.proc is not None
    return len(os.listdir(f"/proc/{gateway.proc.pid}/fd"))


def test_idle_flood_when_sessions_hold_most_descriptors_then_a_strategy_saying_hello_is_still_served(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, _config(workdir, sim))
    gateways.append(gateway)
    gateway.start(nofile=LIMIT)
    sessions: list[socket.socket] = []
    idle: list[socket.socket] = []
    try:
        ids = iter(IDS)
        while _open(gateway) < LIMIT - 32 + 2:  # sessions + a full pending-Hello bound > the limit
            sock = _session(gateway.socket, next(ids))
            assert sock is not None
            sessions.append(sock)
        for _ in range(48):  # an idle flood: connections that never say Hello
            flood = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                flood.connect(str(gateway.socket))
            except OSError:
                flood.close()
                continue
            idle.append(flood)
        time.sleep(0.5)  # the gateway accepts them (old: up to the limit; new: the oldest idle ones are closed)
        late = _session(gateway.socket, next(ids))
        assert late is not None, "a strategy saying Hello at once near the limit was not served"
        sessions.append(late)
        assert _open(gateway) < LIMIT
        assert "near its descriptor limit" in gateway.log_text() or "TOO_MANY_CONNECTIONS" in gateway.log_text()
    finally:
        for sock in [*sessions, *idle]:
            sock.close()


def test_status_when_the_gateway_is_at_its_descriptor_limit_then_one_line_and_exit_1_and_trading_goes_on(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, _config(workdir, sim))
    gateways.append(gateway)
    gateway.start(nofile=LIMIT)
    sessions: list[socket.socket] = []
    try:
        first = _session(gateway.socket, IDS[0])
        assert first is not None
        sessions.append(first)
        for sid in IDS[1:]:  # sessions until the gateway cannot accept one more
            sock = _session(gateway.socket, sid)
            if sock is None:
                break
            sessions.append(sock)
        else:
            raise AssertionError("the descriptor limit was never reached")
        done = subprocess.run(
            [*GATEWAY, "status", "--admin-socket", str(gateway.admin)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "gateway status:" in done.stderr and "descriptor" in done.stderr, done.stderr
        # the sessions that are in trade on: an order is answered at once (the journal needs no new descriptor)
        first.sendall(frame(NEW_ORDER, "fd1", "ACC1", "OUCH", "AAPL", "B", 10, 2_290_000, "0", "2", 0, 1))
        buffer = bytearray()
        answer = _read(first, buffer, 10)
        assert answer and answer[0][0] != ERROR, answer  # answered (within the read's 10 s), not refused
        assert "JOURNAL WRITE FAILED" not in gateway.log_text()
    finally:
        for sock in sessions:
            sock.close()
