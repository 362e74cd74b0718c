"""``gateway kill`` and ``gateway resume`` while the journal cannot be written (disk full): fail safe.

Real processes (``gateway run`` + ``gateway sim ouch``, the admin CLI) with the journal on a 2 MiB tmpfs
(skipped where mounting is not permitted). Found by a review: both commands answered "refused: OSError ENOSPC"
(exit 1) yet took effect in part. The kill halted in memory but never cancelled the open orders; the resume
made trading ACTIVE at once and, once space was freed, journaled it (ACTIVE after a restart too) although the
operator was told it was refused.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gateway.commands.admin import EXIT_KILL_PENDING
from gateway.journal import JTradingState, read_journal
from model.enums import Side
from tests.reliability.support import (
    Gateway,
    RecordingClient,
    Simulator,
    fill_disk,
    fill_rest,
    wait_until,
    write_config,
)

RESTING = 2_290_000
ROOM = 64 << 10
"""Freed for the journal after the start on a full disk: room for the resting orders, then used up."""


def _start_with_room(workdir: Path, sim: Simulator, disk: Path, gateways: list[Gateway]) -> tuple[Gateway, Path]:
    """Start on a full disk, then free ``ROOM`` bytes: the journal writes again (and has little room)."""
    filler = fill_disk(disk, "rel")
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal={"directory": str(disk), "fsync": "none"}))
    gateways.append(gateway)
    gateway.start(wait_up=False)
    wait_until(gateway.journal_error, 15, "the first journal write to fail (disk full)")
    os.truncate(filler, filler.stat().st_size - ROOM)
    wait_until(lambda: not gateway.journal_error(), 10, "the journal to be written again")
    gateway.wait_up()
    return gateway, filler


async def _rest_orders(client: RecordingClient, count: int) -> None:
    handles = [
        await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100 + i, price_ticks=RESTING) for i in range(count)
    ]
    for handle in handles:
        await handle.wait_accepted(10)


async def _use_up_the_journal(client: RecordingClient, gateway: Gateway, disk: Path) -> Path:
    """Fill what the disk has left, then send orders until the journal's own room is used up too."""
    second = fill_rest(disk / "filler2")
    for i in range(400):
        for _ in range(20):
            await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 1_000 + i, price_ticks=RESTING)
        await asyncio.sleep(0.02)
        if gateway.journal_error():
            return second
    raise AssertionError("the journal never failed")


def _trading_states(disk: Path) -> list[str]:
    (journal,) = disk.glob("*.journal")
    return [rec.state for rec in read_journal(journal) if isinstance(rec, JTradingState)]


def test_kill_when_journal_cannot_be_written_then_halted_at_once_and_record_and_cancels_follow_when_it_can(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    gateway, filler = _start_with_room(workdir, sim, small_disk, gateways)

    async def flow() -> Path:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="K")
        await client.connect()
        await _rest_orders(client, 5)
        second = await _use_up_the_journal(client, gateway, small_disk)
        await client.close()
        return second

    second = asyncio.run(flow())
    canceled_before = [r for r in sim.records() if r.type == "X"]
    assert canceled_before == []

    done = gateway.cli("kill", "--reason", "disk test")
    assert done.returncode == EXIT_KILL_PENDING, (done.returncode, done.stdout, done.stderr)  # old code: 1, "refused"
    assert "HALTED in memory now" in done.stdout and "PENDING" in done.stdout, done.stdout
    assert gateway.firm_state() == "HALTED"
    assert gateway.journal_error()
    assert [r for r in sim.records() if r.type == "X"] == []  # journal before wire: nothing sent yet
    log = gateway.log_text()
    assert "Traceback" not in log and "admin: kill failed" not in log
    assert "halted in memory (new orders refused); the journal cannot be written" in log

    second.unlink()
    filler.unlink()
    wait_until(lambda: not gateway.journal_error(), 10, "the journal to be written again")
    # every order the venue had is cancelled (the old code never ran the cancels: they stayed working)
    wait_until(lambda: gateway.status()["orders_open"] == 0, 20, "every open order to be cancelled")
    canceled = [r for r in sim.records() if r.type == "X" and r.outcome == "canceled"]
    assert len(canceled) >= 5
    assert _trading_states(small_disk) == ["HALTED"]

    gateway.kill9()
    gateway.start()
    assert gateway.firm_state() == "HALTED"  # the kill survives a crash once written
    assert gateway.stop() == 0


def test_resume_when_journal_cannot_be_written_then_refused_and_nothing_changes_now_or_later(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    gateway, filler = _start_with_room(workdir, sim, small_disk, gateways)
    killed = gateway.cli("kill", "--reason", "before the disk filled")
    assert killed.returncode == 0, killed.stderr

    async def flow() -> Path:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="R")
        await client.connect()
        second = await _use_up_the_journal(client, gateway, small_disk)  # refused orders are journaled too
        await client.close()
        return second

    second = asyncio.run(flow())
    done = gateway.cli("resume", "--reason", "disk test")
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert gateway.firm_state() == "HALTED"  # old code: ACTIVE at once
    assert "refused" in done.stderr and "nothing was changed" in done.stderr, done.stderr

    second.unlink()
    filler.unlink()
    wait_until(lambda: not gateway.journal_error(), 10, "the journal to be written again")
    assert gateway.firm_state() == "HALTED"
    assert _trading_states(small_disk) == ["HALTED"]  # old code: the refused ACTIVE was written once space freed
    log = gateway.log_text()
    assert "Traceback" not in log and "admin: resume failed" not in log

    gateway.kill9()
    gateway.start()
    assert gateway.firm_state() == "HALTED"  # old code: ACTIVE after the restart

    again = gateway.cli("resume", "--reason", "disk has room")  # with room, resume works as before
    assert again.returncode == 0, again.stderr
    assert gateway.firm_state() == "ACTIVE"
    assert gateway.stop() == 0
