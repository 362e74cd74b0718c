"""A limits file the running gateway held back (modified in place) is not put in force by a kill -9 and restart.

Real processes: ``gateway sim ouch`` and ``gateway run``; orders from a strategy client over the gateway's socket.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from pathlib import Path

import yaml

from gateway.client import GatewayClient
from model.enums import Side
from tests.reliability.support import GATEWAY, Gateway, Simulator, wait_until, write_config


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _answer(gateway: Gateway, symbol: str) -> tuple[str, str]:
    """Send one buy of ``symbol`` for ACC1 as S1; return the answer's type and code."""

    async def run() -> tuple[str, str]:
        async with GatewayClient(str(gateway.socket), "S1") as client:
            handle = client.submit_nowait("ACC1", "OUCH", symbol, Side.BUY, 10, "229.00")
            event = await handle.wait_accepted(timeout=10)
            return type(event).__name__, str(getattr(event, "code", ""))

    return asyncio.run(run())


def test_restart_when_limits_file_held_back_then_old_limits_stay_until_an_explicit_reload(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev45risk HIGH: after kill -9 the prefix written in place (no restricted list) was in force, silently."""
    config = write_config(workdir, sim.port)
    limits = workdir / "limits.yaml"
    doc = yaml.safe_load(limits.read_text())
    restricted = doc.pop("restricted")
    restricted["no_trade"] = [*restricted["no_trade"], "AAPL"]
    doc["restricted"] = restricted  # last: a prefix ending before it is a valid file with no restricted list
    full = yaml.safe_dump(doc, sort_keys=False)
    prefix = full[: full.index("restricted:")]
    limits.write_text(full)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    assert _answer(gateway, "AAPL") == ("OrderRejected", "RESTRICTED_SYMBOL")

    limits.write_text(prefix)  # `cp` over it: modified in place, maybe half-written
    wait_until(lambda: gateway.status()["risk"]["not_applied"], 10, "the watch to flag the file")
    gateway.kill9()
    gateway.start()

    risk = gateway.status()["risk"]
    assert risk["sha256"] == _sha(full)
    assert [(n["file"], n["sha256"]) for n in risk["not_applied"]] == [(str(limits), _sha(prefix))]
    assert _answer(gateway, "AAPL") == ("OrderRejected", "RESTRICTED_SYMBOL")
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    startup = [r for r in records if r["event"] == "startup"][-1]
    assert startup["sha256"] == _sha(full)
    assert any(_sha(prefix) in w and "NOT applied before the gateway stopped" in w for w in startup["warnings"])
    shown = subprocess.run(
        [*GATEWAY, "status", "--config", str(config)], capture_output=True, text=True, timeout=30, check=False
    )
    assert f"risk NOT APPLIED: {limits} was modified in place" in shown.stdout

    reload = subprocess.run(
        [*GATEWAY, "risk", "reload", "--config", str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    assert reload.returncode == 0, reload.stderr
    risk = gateway.status()["risk"]
    assert risk["sha256"] == _sha(prefix) and risk["not_applied"] == []
    assert _answer(gateway, "AAPL") == ("OrderAccepted", "")


def test_restart_when_reference_file_held_back_then_the_prices_in_force_stay_until_an_explicit_reload(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev47risk HIGH: after kill -9 the half-written reference file (`AAPL: 23` of 230.10) was in force, silently."""
    config = write_config(workdir, sim.port)
    reference = workdir / "reference-prices.yaml"
    full = reference.read_text()
    prefix = full[: full.index("AAPL: 230.10") + len("AAPL: 23")]  # itself a valid file: AAPL at 23
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    assert _answer(gateway, "AAPL") == ("OrderAccepted", "")

    reference.write_text(prefix)  # `cp` over it: modified in place, maybe half-written
    wait_until(lambda: gateway.status()["risk"]["not_applied"], 10, "the watch to flag the file")
    gateway.kill9()
    gateway.start()

    risk = gateway.status()["risk"]
    assert risk["reference_sha256"] == _sha(full)
    assert [(n["file"], n["sha256"]) for n in risk["not_applied"]] == [(str(reference), _sha(prefix))]
    assert _answer(gateway, "AAPL") == ("OrderAccepted", "")  # 229.00 against 230.10, not against 23
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    startup = [r for r in records if r["event"] == "startup"][-1]
    assert startup["reference_sha256"] == _sha(full)
    assert any(_sha(prefix) in w and "NOT applied before the gateway stopped" in w for w in startup["warnings"])
    shown = subprocess.run(
        [*GATEWAY, "status", "--config", str(config)], capture_output=True, text=True, timeout=30, check=False
    )
    assert f"risk NOT APPLIED: {reference} was modified in place" in shown.stdout

    reload = subprocess.run(
        [*GATEWAY, "risk", "reload", "--config", str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    assert reload.returncode == 0, reload.stderr
    risk = gateway.status()["risk"]
    assert risk["reference_sha256"] == _sha(prefix) and risk["not_applied"] == []
    assert _answer(gateway, "AAPL") == ("OrderRejected", "PRICE_COLLAR")
