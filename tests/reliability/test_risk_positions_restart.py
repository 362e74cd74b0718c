"""A same-day restart on other start-of-day positions than the day's first start read says so (rev49risk MEDIUM).

Real processes: ``gateway sim ouch`` and ``gateway run``; orders from a strategy client over the gateway's socket.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import yaml

from gateway.client import GatewayClient
from model.enums import Side
from tests.reliability.support import GATEWAY, Gateway, Simulator, write_config


def _sell(gateway: Gateway, qty: int) -> tuple[str, str]:
    """Sell ``qty`` AAPL for ACC1 as S1 (side S: a plain sale, refused beyond the long position); type and code."""

    async def run() -> tuple[str, str]:
        async with GatewayClient(str(gateway.socket), "S1") as client:
            handle = client.submit_nowait("ACC1", "OUCH", "AAPL", Side.SELL, qty, "230.00")
            event = await handle.wait_accepted(timeout=10)
            return type(event).__name__, str(getattr(event, "code", ""))

    return asyncio.run(run())


def test_restart_when_start_positions_file_dropped_from_the_limits_then_flat_said_everywhere(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """The reviewer's repro: start_positions_file removed mid-day (mv + reload), restart: flat, without a word."""
    config = write_config(workdir, sim.port)
    limits = workdir / "limits.yaml"
    positions = (workdir / "start-positions.yaml").read_text()
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    assert _sell(gateway, 900) == ("OrderAccepted", "")  # ACC1 is long 50,000 AAPL at the start of day

    doc = yaml.safe_load(limits.read_text())
    del doc["start_positions_file"]
    (workdir / "limits.new").write_text(yaml.safe_dump(doc, sort_keys=False))
    (workdir / "limits.new").replace(limits)
    reload = subprocess.run(
        [*GATEWAY, "risk", "reload", "--config", str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    assert reload.returncode == 0, reload.stdout + reload.stderr
    assert gateway.stop() == 0
    gateway.start()

    risk = gateway.status()["risk"]
    assert risk["start_positions"]["case"] == "not_set"
    assert risk["start_positions"]["day_first"]["file"] == str(workdir / "start-positions.yaml")
    records = [json.loads(line) for line in (workdir / "audit.jsonl").read_text().splitlines()]
    startup = [r for r in records if r["event"] == "startup"][-1]
    assert startup["start_positions"]["case"] == "not_set"
    assert any(w.startswith("start_positions_file is not set now, but the day's first") for w in startup["warnings"])
    assert "WARNING risk: risk start_positions_file is not set now" in gateway.log_text().replace("  ", " ")
    shown = subprocess.run(
        [*GATEWAY, "status", "--config", str(config)], capture_output=True, text=True, timeout=30, check=False
    )
    assert "risk start-of-day positions NOT the day's first start's: start_positions_file is not set" in shown.stdout
    copy = workdir / "var" / "state" / "rel-risk-in-force-start-positions.yaml"
    assert copy.read_text() == positions  # the day's first read, kept
    assert _sell(gateway, 1) == ("OrderRejected", "SHORT_SALE_NOT_MARKED")  # flat, plus the day's fills: as said
