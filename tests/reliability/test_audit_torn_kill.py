"""A kill whose audit record was short-written on a full disk is re-applied by the next start (audittorn57).

Real processes (``gateway run`` + ``gateway sim ouch``, the admin CLI). The journal on a 2 MiB tmpfs, full, as in
``test_kill_lost_at_stop.py``; the risk audit log on a second 1 MiB tmpfs, full when the kill is written, with less
room left in the file's last page than the kill's record takes: the kernel takes part of it (a short write). Found by
the review of stop 56 (rev57diff): the part written stayed without a newline, the kill's record written late was glued
onto it, and the next start, skipping that line, traded ACTIVE although the stop had said it would re-apply the kill.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from gateway.app import EXIT_JOURNAL_NOT_DURABLE
from gateway.commands.admin import EXIT_KILL_PENDING
from model.enums import Side
from risk.audit import utc_text
from tests.reliability.support import (
    Gateway,
    RecordingClient,
    Simulator,
    fill_rest,
    fill_the_journal,
    wait_until,
    write_config,
)

RESTING = 2_290_000
ROOM = 128 << 10
"""Left free on the journal's disk for the gateway's start."""
PAGE = 4096
SLACK = 100
"""Room left in the audit file's last page when its disk is full: less than the kill's record (~300 bytes)."""


@pytest.fixture
def audit_disk(workdir: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at ``workdir/adisk`` for the risk audit log; skip if this host does not let us mount."""
    mount = workdir / "adisk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _end_near_a_page_end(audit: Path) -> None:
    """Append another gateway's record (the log may be shared) sized so that the file ends ``SLACK`` bytes before
    a page boundary."""
    record = {"time": utc_text(0), "time_ns": 0, "event": "startup", "trigger": "startup", "who": "gateway"}
    bare = len(msgspec.json.encode({**record, "pad": "", "gateway_id": "other"})) + 1
    size = audit.stat().st_size
    target = -(-(size + bare) // PAGE) * PAGE - SLACK
    if target - size < bare:
        target += PAGE
    line = msgspec.json.encode({**record, "pad": "x" * (target - size - bare), "gateway_id": "other"}) + b"\n"
    with audit.open("ab") as handle:
        handle.write(line)
    assert audit.stat().st_size % PAGE == PAGE - SLACK


def test_kill_short_written_to_a_full_audit_log_then_written_late_is_reapplied_after_the_stop(
    workdir: Path, sim: Simulator, small_disk: Path, audit_disk: Path, gateways: list[Gateway]
) -> None:
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    audit = audit_disk / "audit.jsonl"
    config = write_config(
        workdir, sim.port, journal={"directory": str(small_disk), "fsync": "interval"}, risk_audit_log=str(audit)
    )
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    _end_near_a_page_end(audit)

    async def flow() -> Path:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="T")
        await client.connect()
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(10)
        second = await fill_the_journal(client, gateway, small_disk, RESTING)
        await client.close()
        return second

    second = asyncio.run(flow())
    audit_filler = fill_rest(audit_disk / "filler")
    killed = gateway.cli("kill", "--reason", "audittorn57 drill")
    assert killed.returncode == EXIT_KILL_PENDING, (killed.returncode, killed.stdout, killed.stderr)
    assert gateway.firm_state() == "HALTED"
    (failed,) = [line for line in gateway.log_text().splitlines() if "risk audit log write failed" in line]
    assert f"{SLACK} of " in failed and "the part written was blanked out" in failed, failed
    audit_filler.unlink()  # room again: the file watch writes the kill's record, marked late
    wait_until(lambda: b'"late":true' in audit.read_bytes(), 15, "the kill's audit record written late")
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE  # the journal's HALTED record dropped
    text = gateway.log_text()

    lines = [line for line in audit.read_bytes().splitlines() if line.strip()]
    late = msgspec.json.decode(lines[-1])  # every line one record: the old code glued it onto the part written
    assert (late["event"], late["new"], late["late"], late["gateway_id"]) == ("trading_state", "HALTED", True, "rel")
    assert all(isinstance(msgspec.json.decode(line), dict) for line in lines)

    second.unlink()
    filler.unlink()
    gateway.start()
    after = gateway.log_text()[len(text) :]
    assert gateway.firm_state() == "HALTED", after  # the old code: ACTIVE (the kill lost, trading again)
    (said,) = [line for line in after.splitlines() if "starts HALTED: the risk audit log" in line]
    assert "audittorn57 drill" in said, said
    assert gateway.stop() == 0


def test_kill_glued_onto_a_torn_line_an_older_version_left_is_reapplied_with_a_warning(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """The file an older version left after that stop: a record cut short, the kill written late glued onto it.
    The start reads the kill out of the damaged line (the old code skipped the line and started ACTIVE)."""
    now = time.time_ns()
    kill = {
        "time": utc_text(now),
        "time_ns": now,
        "event": "trading_state",
        "trigger": "kill",
        "who": "root (cli pid 4711) [pid 4711 uid 0]",
        "scope": "firm",
        "account": None,
        "old": "ACTIVE",
        "new": "HALTED",
        "effective": "HALTED",
        "reason": "older torn drill",
        "gateway_id": "rel",
    }
    torn = msgspec.json.encode({**kill, "reason": "torn"})[:130]
    late = msgspec.json.encode({**kill, "late": True, "written_time": utc_text(now)})
    (workdir / "audit.jsonl").write_bytes(torn + late + b"\n")
    gateway = Gateway(workdir, write_config(workdir, sim.port))
    gateways.append(gateway)
    gateway.start()
    text = gateway.log_text()
    assert gateway.firm_state() == "HALTED", text  # the old code: ACTIVE
    (warned,) = [line for line in text.splitlines() if "lines are not one whole record" in line]
    assert " WARNING " in warned and "byte offset 0, line 1: 1 whole records recovered" in warned, warned
    (said,) = [line for line in text.splitlines() if "starts HALTED: the risk audit log" in line]
    assert "older torn drill" in said, said
    assert gateway.stop() == 0
