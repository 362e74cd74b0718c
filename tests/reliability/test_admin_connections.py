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
import sys
import time
from pathlib import Path

import msgspec

from gateway.admin import MAX_ADMIN_CONNECTIONS, snapshot_request
from gateway.snapshot import decode_snapshot, status_document
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
        admin = status["admin_connections"]  # the one closed for this request counts until gone (a loop turn)
        assert admin["open"] - admin["closing"] <= MAX_ADMIN_CONNECTIONS, admin
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
        # the watch counts every second: at a full table its own listing fails (EMFILE) and it says so; wait for that
        # line (a fixed 2.5 s could pass without a count on a loaded machine), then free half the table
        full = f"{LIMIT} file descriptors open of the limit {LIMIT} (100 %: the descriptor table is full"
        deadline = time.monotonic() + 20
        while full not in gateway.log_text():
            assert time.monotonic() < deadline, "the watch never counted the full descriptor table"
            time.sleep(0.2)
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


def _pipeline_unread(gateway: Gateway, requests: int) -> socket.socket:
    """An admin client that pipelines ``requests`` status requests and never reads (rev49diff's admin_nonreader)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(str(gateway.admin))
    sock.setblocking(False)
    line = b'{"cmd":"status"}\n' * requests
    sent = 0
    deadline = time.monotonic() + 5
    while sent < len(line) and time.monotonic() < deadline:
        try:
            sent += sock.send(line[sent:])
        except BlockingIOError:
            time.sleep(0.01)
    return sock


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _descriptors(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_admin_clients_not_reading_when_past_the_bound_then_memory_bounded_and_the_closed_one_dropped(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, _config(workdir, sim))
    gateways.append(gateway)
    gateway.start(nofile=1024)
    assert gateway.proc is not None
    pid = gateway.proc.pid
    _status(gateway)
    rss_before, fds_before = _rss_kib(pid), _descriptors(pid)
    readers = [_pipeline_unread(gateway, 100) for _ in range(MAX_ADMIN_CONNECTIONS)]
    try:
        time.sleep(3)  # old: 3,200 status documents answered into memory (about 200 MB)
        grown_mib = (_rss_kib(pid) - rss_before) / 1024
        assert grown_mib < 40, f"RSS grew {grown_mib:.0f} MiB for 32 admin clients that do not read"
        status = _status(gateway)  # past the bound: the oldest stalled one is closed, the request answered
        assert status["admin_connections"]["closed_past_max"] == 1
        assert status["admin_connections"]["open"] <= MAX_ADMIN_CONNECTIONS + 1  # the asking one included
        deadline = time.monotonic() + 15  # dropped after the 2 s linger, unread replies and all (old: held for ever)
        while _descriptors(pid) > fds_before + MAX_ADMIN_CONNECTIONS - 1:
            assert time.monotonic() < deadline, f"{_descriptors(pid) - fds_before} admin descriptors still open"
            time.sleep(0.2)
        admin = _status(gateway)["admin_connections"]
        assert admin["open"] == MAX_ADMIN_CONNECTIONS and admin["closing"] == 0, admin
        strategy = _session(gateway.socket, IDS[0])
        assert strategy is not None, "a strategy was not served while admin clients did not read"
        strategy.close()
    finally:
        for sock in readers:
            sock.close()


def test_trickling_admin_clients_when_they_hold_the_table_then_gateway_kill_gets_through_and_they_are_closed(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, _config(workdir, sim))
    gateways.append(gateway)
    gateway.start(nofile=1024)
    # The kill must reach the gateway while the 32 still trickle (5 s after their first byte they are closed anyway):
    # a `gateway kill` started then spent seconds importing on a loaded machine and came after all 32 were closed.
    # So the CLI is started first and imports everything, then runs the kill when told: `gateway kill` as operators
    # type it, without its start-up inside the window.
    kill = _cli_when_told("kill", "--admin-socket", str(gateway.admin), "--reason", "trickle test")
    trickling = [_admin(gateway) for _ in range(MAX_ADMIN_CONNECTIONS)]
    try:
        for sock in trickling:
            sock.sendall(b"{")  # a request begun, never finished (rev49diff's admin_trickle)
        time.sleep(1)
        for sock in trickling:
            sock.sendall(b" ")
        stdout, stderr = kill.communicate("go\n", timeout=60)
        assert kill.returncode == 0, stdout + stderr  # old: refused, every one "with a request under way"
        assert "HALTED" in stdout
        first = json.loads(_closed_with(trickling[0], 10))
        assert "this was the oldest stalled one (its request unfinished for" in first["error"], first
        for sock in trickling[1:]:  # the rest: closed 5 s after their first byte, saying why
            reply = json.loads(_closed_with(sock, 15))
            assert "a request not whole 5 s after its first byte" in reply["error"], reply
        admin = _status(gateway)["admin_connections"]
        assert admin["closed_request_timeout"] == MAX_ADMIN_CONNECTIONS - 1
        assert admin["closed_past_max"] == 1
    finally:
        for sock in trickling:
            sock.close()
        if kill.poll() is None:  # the test failed before it told the CLI to run
            kill.kill()
            kill.communicate(timeout=15)


def _cli_when_told(*args: str) -> subprocess.Popen[str]:
    """Start ``gateway *args`` with every command module imported; it runs when a line comes on its stdin."""
    code = (
        "import sys\n"
        "from gateway.cli import build_parser, main\n"
        "build_parser()\n"  # imports every command's module now, not inside the test's window
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    assert ready == "ready\n", ready + proc.communicate(timeout=60)[1]
    return proc


def _cli(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args, "--admin-socket", str(gateway.admin)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_snapshots_pipelined_then_a_kill_when_read_late_then_every_reply_whole_and_the_kill_carried_out(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, _config(workdir, sim))
    gateways.append(gateway)
    gateway.start(nofile=1024)
    sock = _admin(gateway)
    try:  # rev50diff's snapshot_pipeline_kill: the CLI's own spelling, then a kill, in one write, read 1 s later
        sock.sendall(snapshot_request("status") * 3 + b'{"cmd":"kill","reason":"pipelined"}\n')
        time.sleep(1)
        sock.settimeout(10)
        data = b""
        while not data.endswith(b"}\n"):  # old: aborted after two replies and part of the third, the kill lost
            chunk = sock.recv(1 << 20)
            assert chunk, f"the gateway closed the connection after {len(data)} bytes"
            data += chunk
        for _ in range(3):
            length = int.from_bytes(data[:4], "big")
            reply = msgspec.msgpack.decode(data[4 : 4 + length])
            assert status_document(decode_snapshot(reply["snapshot"]))["venues"]["OUCH"]["state"] == "UP"
            data = data[4 + length :]
        assert json.loads(data)["state"] == "HALTED"
    finally:
        sock.close()
    status = _status(gateway)
    assert status["counters"]["admin_connections_closed"] == 0
    assert "a snapshot reply did not fit" not in gateway.log_text()
    assert "KILL SWITCH" in gateway.log_text()


def test_risk_reloads_pipelined_on_every_admin_connection_then_kill_and_an_operators_reload_get_in_at_once(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, _config(workdir, sim))
    gateways.append(gateway)
    gateway.start(nofile=1024)
    flood = [_admin(gateway) for _ in range(MAX_ADMIN_CONNECTIONS)]
    try:  # rev50diff's kill_vs_reload_flood: each connection pipelines reloads, reads nothing
        for sock in flood:
            sock.sendall(b'{"cmd":"risk_reload"}\n' * 100)
        time.sleep(1)
        done = _cli(gateway, "kill", "--reason", "reload flood")
        assert done.returncode == 0, done.stdout + done.stderr  # old: refused, all 32 "carrying out" (for minutes)
        assert "HALTED" in done.stdout
        started = time.monotonic()
        done = _cli(gateway, "risk", "reload")  # one reload at most ahead of it (joined by the others' requests)
        assert done.returncode == 0, done.stdout + done.stderr  # old: exit 4 behind another connection's queue
        assert time.monotonic() - started < 30
        assert _status(gateway)["admin_connections"]["closed_past_max"] == 1  # one made room for the kill
        last_lines = [line for line in map(_last_line_if_closed, flood) if line]
        assert len(last_lines) == 1, last_lines  # that one: its reload under way answered, then closed saying why
        assert "this was the oldest pipelining requests behind one under way" in last_lines[0], last_lines
    finally:
        for sock in flood:
            sock.close()


def _last_line_if_closed(sock: socket.socket) -> str:
    """Return the last line the gateway wrote on ``sock`` if it closed it, else "" (without waiting)."""
    sock.setblocking(False)
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return ""
        if not chunk:
            return data.decode().splitlines()[-1] if data else "closed without a word"
        data += chunk
