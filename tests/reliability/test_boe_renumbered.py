"""A BOE venue rebuilt under the same session, with real processes on loopback (boeseq30).

``gateway sim boe`` is replaced by a new process on the same port: every matching unit numbers
from 1 again. The gateway lists its old numbers at login; the venue refuses ``Q`` (sequence ahead)
and lists its units. The gateway must come back UP in the venue's new numbering, deliver the new
answers, and after ``kill -9`` resume in that numbering from its journal (no ``Q`` again, nothing
applied twice).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.protocol.messages import OrderAccepted
from model.enums import Side
from tests.reliability.support import (
    BOE_VENUE,
    GATEWAY,
    BoeGateway,
    BoeSimulatorProcess,
    Gateway,
    RecordingClient,
    wait_until,
    write_boe_config,
)

RESTING = 2_290_000  # 229.00: below AAPL's reference 230.10, rests on the book
VENUE = BOE_VENUE


class RebuiltSimulator(BoeSimulatorProcess):
    """A new ``gateway sim boe`` on ``port`` (the old one stopped): nothing of the old one's numbering is kept."""

    def __init__(self, workdir: Path, port: int) -> None:
        """Start it with the base's options on ``port``, recording to its own file."""
        self.record = workdir / "boe-record-rebuilt.jsonl"
        self.log = workdir / "boe-sim-rebuilt.log"
        options = ["--record", str(self.record), "--reference-price", "AAPL=230.10", "--units", "3"]
        options += ["--symbol-unit", "AAPL=1", "--symbol-unit", "MSFT=2"]
        self.port = port
        command = [*GATEWAY, "sim", "boe", "--listen", f"127.0.0.1:{port}", *options]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        ready = f"listening on 127.0.0.1:{port} "
        wait_until(lambda: ready in self.log.read_text() or self.proc.poll() is not None, 30, "the rebuilt simulator")
        assert self.proc.poll() is None, self.log.read_text()


@pytest.fixture
def boe_sim(workdir: Path) -> Iterator[BoeSimulatorProcess]:
    """``gateway sim boe`` recording to ``workdir/boe-record.jsonl``."""
    simulator = BoeSimulatorProcess(workdir)
    yield simulator
    simulator.stop()


async def _submit(gateway: Gateway, prefix: str, count: int, last_seq: int = 0) -> tuple[int, list[Any]]:
    """Submit ``count`` resting orders and wait for their acceptance; return (last_seq, every order event)."""
    async with RecordingClient(gateway.socket, "S1", cl_ord_id_prefix=prefix, last_seq=last_seq) as client:
        for _ in range(count):
            handle = await client.submit("ACC1", VENUE, "AAPL", Side.BUY, 77, price_ticks=RESTING)
            await handle.wait_accepted(15)
        return client.last_seq, list(client.order_events())


def _venue(gateway: Gateway) -> dict[str, Any]:
    status = gateway.status_or_none()
    return status["venues"][VENUE] if status is not None else {}


def test_venue_rebuilt_under_the_same_session_then_up_in_its_new_numbering_across_kill9(
    workdir: Path, boe_sim: BoeSimulatorProcess, gateways: list[Gateway]
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe_sim.port))
    gateways.append(gateway)
    gateway.start()
    last_seq, events = asyncio.run(_submit(gateway, "A", 2))
    assert [type(e) for e in events] == [OrderAccepted, OrderAccepted]
    assert _venue(gateway)["units"]["1"] == 2

    boe_sim.stop()
    rebuilt = RebuiltSimulator(workdir, boe_sim.port)
    try:
        wait_until(
            lambda: _venue(gateway).get("numbering_restarts") == 1 and _venue(gateway).get("state") == "UP",
            15,
            "the gateway UP again in the rebuilt venue's numbering",
        )
        venue = _venue(gateway)
        assert venue["renumbered_units"] == {"1": 1}
        assert venue["login_rejects"] == 1  # the one Q
        assert "Cboe restarted the numbering of matching unit(s) 1" in gateway.log_text()
        last_seq, events = asyncio.run(_submit(gateway, "B", 1, last_seq))
        assert [type(e) for e in events] == [OrderAccepted]  # the rebuilt venue's unit 1 message 1
        assert _venue(gateway)["units"]["1"] == 1

        gateway.kill9()
        gateway.start()  # resumes from the journal: unit 1 at 1 of the new numbering, no Q
        venue = _venue(gateway)
        assert (venue["login_rejects"], venue["units"]["1"], venue["renumbered_units"]) == (0, 1, {"1": 1})
        assert venue["duplicates_dropped"] == 0
        last_seq, events = asyncio.run(_submit(gateway, "C", 1, last_seq))
        assert [type(e) for e in events] == [OrderAccepted]  # nothing of before the crash again
        assert _venue(gateway)["units"]["1"] == 2
        assert [r.outcome for r in rebuilt.records()] == ["acknowledged", "acknowledged"]
    finally:
        rebuilt.stop()
