"""Idle admin connections and a full descriptor table (rev48ops): bounded, timed out, counted and warned.

Real processes (``gateway run`` with ``RLIMIT_NOFILE`` set in the child, ``gateway sim ouch``) and real Unix sockets.
Found by rev48ops under ``ulimit -n 60``: 40 idle admin connections took every descriptor (strategies got
ECONNRESET, ``gateway status`` was refused) and the descriptor watch saw nothing: listing ``/proc/self/fd`` needs a
descriptor itself, failed with EMFILE, and the watch ignored the failure (peak 29, ``descriptors_near_limit`` 0).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from gateway.admin import MAX_ADMIN_CONNECTIONS
from tests.reliability.support import GATEWAY, Gateway, Simulator
from tests.reliability.test_descriptor_limit import IDS, LIMIT, _config, _session


def _admin(gateway: Gateway) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(gateway.admin))
    return sock


def _closed_with(sock: socket.socket, timeout_s: float = 5.0) -> str:
    """Return the last line the gateway wrote before closing ``sock`` ("" if it is still open after ``timeout_s``)."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        return ""
    except OSError as exc:
        return f"reset: {exc}"
    return data.decode() or "closed"


def _status(gateway: Gateway) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [*GATEWAY, "status", "--admin-socket", str(gateway.admin), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_idle_admin_flood_when_past_the_bound_then_the_oldest_closed_saying_why_and_status_answers(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, _config(workdir, sim))
    gateways.append(gateway)
    gateway.start(nofile=1024)  # the bound: 32 (an eighth of the limit is more)
    flood = [_admin(gateway) for _ in range(MAX_ADMIN_CONNECTIONS + 8)]
    try:
        oldest = [_closed_with(sock) for sock in flood[:8]]
        for line in oldest:  # old: every one held, none closed
            reply = json.loads(line)
            assert reply["ok"] is False, line
            assert "closed: more than 32 admin connections; this was the oldest idle one" in reply["error"], line
        assert _closed_with(flood[8], 0.3) == ""  # the rest held
        status = _status(gateway)  # one more: the oldest idle one goes, the request is answered
        assert status["admin_connections"]["max"] == MAX_ADMIN_CONNECTIONS
        assert status["admin_connections"]["open"] <= MAX_ADMIN_CONNECTIONS
        assert status["counters"]["admin_connections_closed"] == status["admin_connections"]["closed_past_max"] >= 9
        strategy = _session(gateway.socket, IDS[0])
        assert strategy is not None, "a strategy was not served during an idle admin flood"
        strategy.close()
        deadline = time.monotonic() + 15
        while "admin connections closed since the last such line" not in gateway.log_text():
            assert time.monotonic() < deadline, "no WARNING about the admin connections closed"
            time.sleep(0.2)
        assert "past the bound of 32 open" in gateway.log_text()
    finally:
        for sock in flood:
            sock.close()


def test_full_descriptor_table_when_counted_then_peak_is_the_limit_warned_and_counted(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, _config(workdir, sim))
    gateways.append(gateway)
    gateway.start(nofile=LIMIT)
    sessions: list[socket.socket] = []
    try:
        for sid in IDS:  # sessions until the gateway cannot accept one more: the table is full
            sock = _session(gateway.socket, sid)
            if sock is None:
                break
            sessions.append(sock)
        else:
            raise AssertionError("the descriptor limit was never reached")
        time.sleep(2.5)  # the watch counts every second: at a full table its own listing fails (EMFILE)
        for sock in sessions[: len(sessions) // 2]:
            sock.close()
        del sessions[: len(sessions) // 2]
        deadline = time.monotonic() + 15
        status = gateway.status_or_none()
        while status is None:
            assert time.monotonic() < deadline, "gateway status never answered after the sessions closed"
            time.sleep(0.5)
            status = gateway.status_or_none()
        assert status["descriptors"]["peak"] == status["descriptors"]["limit"] == LIMIT  # old: at most LIMIT - 1
        assert status["counters"]["descriptors_near_limit"] >= 1
        assert (
            f"{LIMIT} file descriptors open of the limit {LIMIT} (100 %: the descriptor table is full: counting them "
            "failed with EMFILE" in gateway.log_text()
        )
    finally:
        for sock in sessions:
            sock.close()
