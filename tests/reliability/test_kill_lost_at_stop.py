"""A kill switch pending on a full journal survives a stop: the next start re-applies it from the risk audit log.

Real processes (``gateway run`` + ``gateway sim ouch``, the admin CLI) with the journal on a 2 MiB tmpfs (skipped
where mounting is not permitted), the risk audit log on another disk. Found by the ops review (rev56ops,
killstop56): ``gateway kill`` with the journal's disk full exits 3 (HALTED in memory, its record pending); a SIGTERM
then drops the pending records (exit 3, a clean stop since journalstop56); after the disk was freed the restart was
ACTIVE and traded, no line said the kill was gone, while the audit log's last trading_state record said HALTED.
Now the stop's CRITICAL names the kill among the records dropped, and the start re-applies it (HALTED, journaled,
one ERROR with the remedy); a resume after that is kept by the next start (no false halt).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from gateway.app import EXIT_JOURNAL_NOT_DURABLE
from gateway.commands.admin import EXIT_KILL_PENDING
from gateway.journal import JTradingState, read_journal
from model.enums import Side
from tests.reliability.support import (
    GATEWAY,
    Gateway,
    RecordingClient,
    Simulator,
    fill_rest,
    write_config,
)

RESTING = 2_290_000
ROOM = 128 << 10
"""Left free on the disk for the gateway's start: its lock file, journal, open marker and a few orders."""


def _journal_error(gateway: Gateway) -> str:
    status = gateway.status_or_none()
    return str(status.get("journal_error") or "") if status is not None else ""


def _firm_state(gateway: Gateway) -> str:
    return str(gateway.status()["risk"]["trading_state"]["firm_runtime"])


def _admin(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    command = [*GATEWAY, *args, "--config", str(gateway.config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def _trading_states(disk: Path) -> list[str]:
    (journal,) = disk.glob("*.journal")
    return [rec.state for rec in read_journal(journal) if isinstance(rec, JTradingState)]


async def _fill_the_journal(client: RecordingClient, gateway: Gateway, disk: Path) -> Path:
    """Take what the disk has left, then send orders until the journal's own room is used up too."""
    second = fill_rest(disk / "filler2")
    for i in range(400):
        for _ in range(20):
            await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 1_000 + i, price_ticks=RESTING)
        await asyncio.sleep(0.02)
        if _journal_error(gateway):
            return second
    raise AssertionError("the journal never failed")


@pytest.mark.parametrize("storage", ["mmap", "file"])
def test_stop_when_kill_is_pending_on_a_full_journal_then_next_start_is_halted_from_the_audit_log(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway], storage: str
) -> None:
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    journal_config = {"directory": str(small_disk), "fsync": "interval", "storage": storage}
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal=journal_config))
    gateways.append(gateway)
    gateway.start()

    async def flow() -> Path:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="L")
        await client.connect()
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(10)
        second = await _fill_the_journal(client, gateway, small_disk)
        await client.close()
        return second

    second = asyncio.run(flow())
    killed = _admin(gateway, "kill", "--reason", "killstop56 drill")
    assert killed.returncode == EXIT_KILL_PENDING, (killed.returncode, killed.stdout, killed.stderr)
    assert _firm_state(gateway) == "HALTED"
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE
    text = gateway.log_text()
    assert _trading_states(small_disk) == []  # the kill's record was dropped: the journal alone says ACTIVE

    second.unlink()
    filler.unlink()
    gateway.start()
    after = gateway.log_text()[len(text) :]
    assert _firm_state(gateway) == "HALTED", after  # the old code: ACTIVE (the kill lost, trading again)
    (said,) = [line for line in after.splitlines() if "starts HALTED: the risk audit log" in line]
    assert " ERROR " in said and "killstop56 drill" in said and "`gateway resume`" in said, said
    (stopped,) = [line for line in text.splitlines() if "JOURNAL NOT DURABLE AT STOP" in line]
    assert "HALTED record (all trading) is among the records dropped" in stopped, stopped
    assert "re-applies the kill from the risk audit log" in killed.stdout, killed.stdout
    assert gateway.stop() == 0
    assert _trading_states(small_disk) == ["HALTED"]  # journaled again: the journal alone keeps it from now on

    gateway.start()
    assert _firm_state(gateway) == "HALTED"
    resumed = _admin(gateway, "resume", "--reason", "checked")
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert gateway.stop() == 0
    seen = len(gateway.log_text())
    gateway.start()
    assert _firm_state(gateway) == "ACTIVE"  # the resume is the audit log's last word too: not halted again
    assert "starts HALTED" not in gateway.log_text()[seen:]
    assert gateway.stop() == 0


def test_crash_when_kill_is_pending_on_a_full_journal_then_next_start_is_halted_from_the_audit_log(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal={"directory": str(small_disk)}))
    gateways.append(gateway)
    gateway.start()

    async def flow() -> Path:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="C")
        await client.connect()
        second = await _fill_the_journal(client, gateway, small_disk)
        await client.close()
        return second

    second = asyncio.run(flow())
    killed = _admin(gateway, "kill", "--account", "ACC1", "--reason", "crash drill")
    assert killed.returncode == EXIT_KILL_PENDING, (killed.returncode, killed.stdout, killed.stderr)
    gateway.kill9()
    second.unlink()
    filler.unlink()
    gateway.start()
    risk = gateway.status()["risk"]
    assert risk["accounts"]["ACC1"]["runtime_state"] == "HALTED", risk["accounts"]  # the old code: ACTIVE
    assert risk["trading_state"]["firm_runtime"] == "ACTIVE"  # the account's kill only
    said = [line for line in gateway.log_text().splitlines() if "account ACC1 starts HALTED" in line]
    assert said and "gateway resume --account ACC1" in said[0], said
    assert gateway.stop() == 0
    assert _trading_states(small_disk) == ["HALTED"]
