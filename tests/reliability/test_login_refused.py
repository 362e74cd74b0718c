"""A venue that refuses our credentials: the gateway stops knocking, says so, and comes back on command.

Real processes on loopback: ``gateway sim ouch`` / ``gateway sim boe`` started with another password than the
gateway's refuse every login (SoupBinTCP Login Rejected ``A``, BOE Login Response ``N``). After
``max_login_refusals`` (3 by default) the venue sits in LOGIN_REFUSED: no more connections, one ERROR line,
``gateway status`` (text and --json) and the Prometheus venue state show it, a strategy gets its VenueStatus and
its order is refused VENUE_UNAVAILABLE. Once the simulator accepts (restarted on the same port with the right
password) ``gateway venue reconnect NAME`` brings the venue UP without a restart.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.client import GatewayClient
from gateway.protocol.messages import OrderRejected
from model.enums import Side
from risk.audit import read_audit_log
from tests.reliability.support import (
    BOE_VENUE,
    GATEWAY,
    Gateway,
    spawn_listening,
    wait_until,
    write_boe_config,
    write_config,
)

SIM_OPTIONS = {
    "ouch": ["--reference-price", "AAPL=230.10"],
    "boe": ["--reference-price", "AAPL=230.10"],
}
VENUES = {"ouch": "OUCH", "boe": BOE_VENUE}
REFUSAL = {"ouch": "not authorized (A)", "boe": "(N)"}


def _sim(protocol: str, workdir: Path, password: str, port: int | None = None) -> tuple[int, subprocess.Popen[bytes]]:
    """Start ``gateway sim <protocol>`` accepting only ``password`` (on ``port`` if given)."""
    options = [*SIM_OPTIONS[protocol], "--password", password]
    log = workdir / f"sim-{protocol}.log"
    if port is None:
        return spawn_listening(["sim", protocol], options, log, f"the {protocol} simulator")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*GATEWAY, "sim", protocol, "--listen", f"127.0.0.1:{port}", *options], stdout=out, stderr=subprocess.STDOUT
        )
    wait_until(lambda: f"listening on 127.0.0.1:{port} " in log.read_text(errors="replace"), 30, "the simulator")
    return port, proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _cli(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args, "--admin-socket", str(gateway.admin)], capture_output=True, text=True, timeout=30, check=False
    )


def _metrics(gateway: Gateway) -> str:
    """Return ``gateway metrics`` (the Prometheus text)."""
    command = [*GATEWAY, "metrics", "--admin-socket", str(gateway.admin)]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout


def _venue(gateway: Gateway, name: str) -> dict[str, Any]:
    status = gateway.status_or_none()
    return status["venues"][name] if status is not None else {}


async def _strategy_view(gateway: Gateway, venue: str) -> tuple[str, OrderRejected]:
    """Connect as S1: return the venue's state from its VenueStatus and the answer to a new order."""
    async with GatewayClient(gateway.socket, "S1", cl_ord_id_prefix="R") as client:
        await client.connect()
        deadline = time.monotonic() + 15
        while venue not in client.venues and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        state = client.venues[venue].state
        handle = await client.submit("ACC1", venue, "AAPL", Side.BUY, 100, price_ticks=2_000_000)
        event = await handle.wait_done(15)
        assert isinstance(event, OrderRejected), event
        return state, event


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["ouch", "boe"])
def test_login_refused_when_limit_reached_then_stops_reports_refuses_orders_and_reconnect_recovers(
    protocol: str, workdir: Path, gateways: list[Gateway]
) -> None:
    name = VENUES[protocol]
    port, sim = _sim(protocol, workdir, "OTHER")
    try:
        config = write_config(workdir, port) if protocol == "ouch" else write_boe_config(workdir, port)
        gateway = Gateway(workdir, config)
        gateways.append(gateway)
        gateway.start(wait_up=False)
        wait_until(lambda: _venue(gateway, name).get("state") == "LOGIN_REFUSED", 15, "LOGIN_REFUSED")

        venue = _venue(gateway, name)
        assert venue["login_refusals"] == 3
        assert REFUSAL[protocol] in venue["last_login_refusal"]
        assert "login refused 3 times in a row" in venue["reason"]
        metrics = _metrics(gateway)
        assert f'gateway_venue_state{{state="LOGIN_REFUSED",venue="{name}"}} 1.0' in metrics
        assert f'gateway_venue_state{{state="DISCONNECTED",venue="{name}"}} 0.0' in metrics
        time.sleep(1.0)  # reconnect_max_ms is 200: a session still retrying would have connected again by now
        connections = f'gateway_venue_connections_total{{venue="{name}"}} 3.0'
        assert connections in _metrics(gateway).splitlines()
        assert _venue(gateway, name)["login_refusals"] == 3
        errors = [line for line in gateway.log_text().splitlines() if "ERROR" in line and "LOGIN REFUSED" in line]
        assert len(errors) == 1, errors
        assert f"venue {name}: LOGIN REFUSED 3 times in a row" in errors[0]
        assert f"gateway venue reconnect {name}" in errors[0]

        text = _cli(gateway, "status")
        assert text.returncode == 0, text.stderr
        (line,) = [line for line in text.stdout.splitlines() if line.strip().startswith(name)]
        assert "LOGIN_REFUSED" in line and REFUSAL[protocol] in line and "gateway venue reconnect" in line
        as_json = _cli(gateway, "status", "--json")
        assert '"state": "LOGIN_REFUSED"' in as_json.stdout

        state, rejected = asyncio.run(_strategy_view(gateway, name))
        assert state == "LOGIN_REFUSED"
        assert rejected.code == "VENUE_UNAVAILABLE"

        unknown = _cli(gateway, "venue", "reconnect", "NOPE")
        assert unknown.returncode == 1
        assert "unknown venue 'NOPE'" in unknown.stderr and name in unknown.stderr

        _stop(sim)
        _, sim = _sim(protocol, workdir, "PASS", port)  # the venue accepts our password again
        time.sleep(0.5)
        assert _venue(gateway, name)["state"] == "LOGIN_REFUSED"  # nothing happens by itself

        done = _cli(gateway, "venue", "reconnect", name, "--reason", "password fixed at the venue")
        assert done.returncode == 0, done.stderr
        wait_until(lambda: _venue(gateway, name).get("state") == "UP", 10, "UP after venue reconnect")
        assert _venue(gateway, name)["login_refusals"] == 0
        log = gateway.log_text()
        assert "admin: venue_reconnect from pid " in log
        assert f"venue {name}: reconnect by " in log and "password fixed at the venue" in log
        # the --reason is in the audit log too, as its help says (fixfix54b: before, only in the gateway log)
        records = [r for r in read_audit_log(workdir / "audit.jsonl") if r["event"] == "venue_reconnect"]
        assert len(records) == 1, records
        assert records[0]["venue"] == name and records[0]["reason"] == "password fixed at the venue"
        assert records[0]["trigger"] == "admin" and "[pid " in records[0]["who"]

        again = _cli(gateway, "venue", "reconnect", name)
        assert again.returncode == 1
        assert f"venue {name} is UP, not LOGIN_REFUSED" in again.stderr
    finally:
        _stop(sim)


@pytest.mark.slow
def test_boe_login_refused_when_session_invalid_then_login_refused_at_once_with_the_fix_named(
    workdir: Path, gateways: list[Gateway]
) -> None:
    """Login Response ``S`` (invalid session): the same login gets the same answer, so it counts like ``N``.

    The old code retried it for ever at the usual backoff (200 ms here), all day; it now stops after
    ``max_login_refusals`` (3), says what to fix (the session sub-id) and refuses orders VENUE_UNAVAILABLE.
    """
    port, sim = spawn_listening(
        ["sim", "boe"], [*SIM_OPTIONS["boe"], "--session", "0002"], workdir / "sim-boe.log", "the boe simulator"
    )
    try:
        gateway = Gateway(workdir, write_boe_config(workdir, port))  # session_sub_id 0001
        gateways.append(gateway)
        gateway.start(wait_up=False)
        wait_until(lambda: _venue(gateway, BOE_VENUE).get("state") == "LOGIN_REFUSED", 15, "LOGIN_REFUSED")
        venue = _venue(gateway, BOE_VENUE)
        assert (venue["login_refusals"], venue["last_login_refusal_status"]) == (3, "S")
        assert "(S)" in venue["last_login_refusal"]
        time.sleep(1.0)  # a session still retrying would have connected again by now
        connections = f'gateway_venue_connections_total{{venue="{BOE_VENUE}"}} 3.0'
        assert connections in _metrics(gateway).splitlines()
        assert f'gateway_venue_state{{state="LOGIN_REFUSED",venue="{BOE_VENUE}"}} 1.0' in _metrics(gateway)
        errors = [line for line in gateway.log_text().splitlines() if "ERROR" in line and "LOGIN REFUSED" in line]
        assert len(errors) == 1, errors
        assert "(S)" in errors[0] and "session_sub_id" in errors[0] and "gateway venue reconnect" in errors[0]
        state, rejected = asyncio.run(_strategy_view(gateway, BOE_VENUE))
        assert (state, rejected.code) == ("LOGIN_REFUSED", "VENUE_UNAVAILABLE")
    finally:
        _stop(sim)


def test_venue_reconnect_cli_when_gateway_not_running_then_exit_1(workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "venue", "reconnect", "X", "--admin-socket", str(workdir / "none.sock")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("gateway venue reconnect:")
