"""Operator commands that change state, sent to a gateway that does not answer (opsfix37).

The ops review froze a gateway (SIGSTOP): ``gateway kill`` / ``resume`` printed "no answer ... within 10.0 s" and
exited 1, the code the guides give for "refused, nothing was changed", and then the kill applied when the
gateway woke up. A request that was sent but not answered now exits 4 and says it may still apply.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.commands.admin import EXIT_NO_ANSWER, EXIT_REFUSED
from tests.e2e.support import short_tmp
from tests.reliability.support import Gateway, Simulator, write_config

STATE_CHANGING = (
    ["kill", "--reason", "hung"],
    ["resume", "--reason", "hung"],
    ["venue", "reconnect", "OUCH"],
    ["risk", "reload"],
)


def _cli(admin: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway", *args, "--admin-socket", str(admin)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def hangs_up() -> Iterator[Path]:
    """An admin socket that reads each request and closes without answering (a gateway dying mid-request)."""
    path = short_tmp() / "a.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(5)
        server.close()


@pytest.mark.parametrize("args", STATE_CHANGING, ids=lambda a: a[0])
def test_state_changing_command_when_the_gateway_hangs_up_unanswered_then_exit_4_may_still_apply(
    hangs_up: Path, args: list[str]
) -> None:
    result = _cli(hangs_up, *args)
    assert result.returncode == EXIT_NO_ANSWER == 4, result.stderr
    assert "MAY STILL BE APPLIED" in result.stderr and "gateway status" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", STATE_CHANGING, ids=lambda a: a[0])
def test_state_changing_command_when_no_gateway_listens_then_exit_1_nothing_sent(args: list[str]) -> None:
    result = _cli(short_tmp() / "none.sock", *args)
    assert result.returncode == EXIT_REFUSED == 1, result.stderr
    assert "MAY STILL" not in result.stderr


def test_kill_when_the_gateway_is_frozen_then_exit_4_and_the_halt_applies_when_it_wakes() -> None:
    workdir = short_tmp()
    sim = Simulator(workdir)
    gateway = Gateway(workdir, write_config(workdir, sim.port))
    try:
        gateway.start()
        assert gateway.proc is not None
        os.kill(gateway.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            result = _cli(gateway.admin, "kill", "--reason", "frozen")
            assert time.monotonic() - started < 30
        finally:
            os.kill(gateway.proc.pid, signal.SIGCONT)
        assert result.returncode == EXIT_NO_ANSWER, result.stderr
        assert "no answer from the gateway within 10.0 s" in result.stderr
        assert "MAY STILL BE APPLIED" in result.stderr
        deadline = time.monotonic() + 10
        while gateway.status()["risk"]["trading_state"]["firm"] != "HALTED" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gateway.status()["risk"]["trading_state"]["firm"] == "HALTED"  # as the message warned
    finally:
        gateway.stop()
        sim.stop()
