"""A FIX venue that refuses our Logon as numbered too low, with real processes (fixfix52).

``gateway run`` logs on to ``gateway sim fix`` (a real QuickFIX acceptor), stops cleanly, and its FIX message store
is lost (deleted: the venue's side of the numbering is not). Started again, its Logon carries MsgSeqNum 1 and the
acceptor answers Logout "MsgSeqNum too low, expecting N but received 1". Before fixfix52 the gateway reconnected
without end (every ``reconnect.maximum_ms``, each Logon one number higher); now the venue is LOGIN_REFUSED: one
ERROR line with the venue's text, the number it expects and what to do, ``gateway status`` (text and --json) and the
Prometheus venue state show it, a strategy's order is refused VENUE_UNAVAILABLE, and once the venue's numbers are
set right (here: the simulator restarted with fresh numbers, as a venue desk resetting the session)
``gateway venue reconnect EQX`` brings it UP.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest

from gateway.client import GatewayClient
from gateway.protocol.messages import OrderRejected
from model.enums import Side
from tests.e2e.support import short_tmp
from tests.reliability.support import GATEWAY, spawn_listening, wait_until
from tests.reliability.test_fix_recovery import FixGateway, _write_config


def _cli(gateway: FixGateway, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args, "--admin-socket", str(gateway.admin)], capture_output=True, text=True, timeout=30, check=False
    )


def _state(gateway: FixGateway) -> str:
    status = gateway.status_or_none()
    return str(status["venues"]["EQX"]["state"]) if status is not None else ""


async def _order_refused(gateway: FixGateway) -> tuple[str, OrderRejected]:
    async with GatewayClient(gateway.socket, "S1", cl_ord_id_prefix="R") as client:
        await client.connect()
        deadline = time.monotonic() + 5
        while "EQX" not in client.venues and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        state = client.venues["EQX"].state
        handle = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, price_ticks=2_290_000)
        event = await handle.wait_done(5)
        assert isinstance(event, OrderRejected), event
        return state, event


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.slow
def test_fix_logon_when_store_lost_and_venue_says_seq_too_low_then_login_refused_and_reconnect_recovers() -> None:
    workdir = short_tmp()
    venue_args = ["--begin-string", "FIX.4.2", "--reference-price", "AAPL=230.10"]
    port, sim = spawn_listening(["sim", "fix"], venue_args, workdir / "sim.log", "the FIX simulator")
    gateway = FixGateway(workdir, _write_config(workdir, port))
    try:
        gateway.start()
        assert gateway.stop() == 0  # Logon 1, Logout 2: the venue expects 3 next
        shutil.rmtree(workdir / "fix")  # the gateway's FIX store lost; the venue keeps its numbers
        gateway.start(wait_up=False)
        wait_until(lambda: _state(gateway) == "LOGIN_REFUSED", 15, "LOGIN_REFUSED")
        time.sleep(1.0)  # reconnect maximum_ms is 200: a session still retrying would have logged on again by now
        venue = gateway.status()["venues"]["EQX"]
        assert venue["state"] == "LOGIN_REFUSED" and venue["session_state"] == "LOGIN_REFUSED"
        assert venue["login_refused_expected_seq"] == 3
        assert "MsgSeqNum too low, expecting 3 but received 1" in venue["last_login_refusal"]
        assert venue["next_sender_seq"] == 2  # one Logon only: before fixfix52 it kept climbing
        errors = [line for line in gateway.log_text().splitlines() if "LOGON REFUSED" in line]
        assert len(errors) == 1, errors
        assert "ERROR" in errors[0] and "it expects 3; our Logon carried 1" in errors[0]
        assert "ask the venue desk to expect MsgSeqNum 2 from us" in errors[0]
        assert "gateway venue reconnect EQX" in errors[0]

        text = _cli(gateway, "status")
        assert text.returncode == 0, text.stderr
        (line,) = [line for line in text.stdout.splitlines() if line.strip().startswith("EQX")]
        assert "LOGIN_REFUSED" in line and "MsgSeqNum too low" in line and "ask the venue desk" in line
        assert "fix the credentials" not in line
        metrics = subprocess.run(
            [*GATEWAY, "metrics", "--admin-socket", str(gateway.admin)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        assert 'gateway_venue_state{state="LOGIN_REFUSED",venue="EQX"} 1.0' in metrics

        state, rejected = asyncio.run(_order_refused(gateway))
        assert state == "LOGIN_REFUSED" and rejected.code == "VENUE_UNAVAILABLE"

        # the venue desk resets the session (here: the simulator restarted with fresh numbers)
        _stop(sim)
        sim = subprocess.Popen(
            [*GATEWAY, "sim", "fix", "--listen", f"127.0.0.1:{port}", *venue_args],
            stdout=(workdir / "sim2.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: "listening on" in (workdir / "sim2.log").read_text(errors="replace"), 10, "the simulator")
        time.sleep(0.5)
        assert _state(gateway) == "LOGIN_REFUSED"  # nothing happens by itself
        done = _cli(gateway, "venue", "reconnect", "EQX", "--reason", "venue desk reset the session")
        assert done.returncode == 0, done.stderr
        wait_until(lambda: _state(gateway) == "UP", 15, "UP after venue reconnect")
        assert "last_login_refusal" not in gateway.status()["venues"]["EQX"]
    finally:
        gateway.stop()
        _stop(sim)
