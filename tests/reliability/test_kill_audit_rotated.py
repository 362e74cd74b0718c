"""A kill pending on a full journal, a stop, a rotated risk audit log; and a kill on one full disk with the audit log.

Real processes (``gateway run`` + ``gateway sim ouch``, the admin CLI) with the journal on a 2 MiB tmpfs (skipped
where mounting is not permitted). Found by the ops review of stop 58 (rev58ops, kill58b):

1. (HIGH) ``gateway kill`` on a full journal (exit 3: "the next start re-applies the kill from the risk audit log,
   which holds it"), a stop (exit 3, the same in its CRITICAL), then ``mv audit.jsonl audit.jsonl.1`` (the guide's
   rotation), the disk freed, the restart: ACTIVE, every order still working at the venue, nothing logged. The start
   read only the current audit file; it reads ``<log>.1`` first now.
3. (MEDIUM) the journal and the audit log on one full disk: the kill's answer and the stop's CRITICAL said the audit
   log held the kill, which it did not (its record late, in memory): now they say nothing on disk holds it.
4. (MEDIUM) the stop's WARNING said "the kill switch's cancel sent, no answer at exit" for cancels that never left
   (waiting behind the journal): now "... cancel not sent: the journal cannot be written (<error>)", as the ops guide
   promises.
6. (LOW) ``gateway resume`` refused on a full journal with nothing halted said "(trading stays halted)".
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec

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
    venue_orders,
    wait_until,
    write_config,
)

RESTING = 2_290_000
ROOM = 128 << 10
"""Left free on the disk for the gateway's start: its lock file, journal, open marker and a few orders."""
PAGE = 4096


def _working_at_venue(sim: Simulator) -> dict[int, int]:
    return {oid: order.open_qty for oid, order in venue_orders(sim.outbound()).items() if order.open_qty}


def _cancels_received(sim: Simulator) -> int:
    return sum(1 for record in sim.records() if record.type == "X")


def _open_orders(gateway: Gateway) -> int:
    return int(gateway.status()["risk"]["open_orders"])


def _rest_and_fill(gateway: Gateway, small_disk: Path) -> Path:
    """Rest an order, then fill the journal's disk; return the second filler file (delete it to free the disk)."""

    async def flow() -> Path:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="R")
        await client.connect()
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(10)
        second = await fill_the_journal(client, gateway, small_disk, RESTING)
        await client.close()
        return second

    return asyncio.run(flow())


def _stop_lines(text: str, what: str) -> list[str]:
    return [line for line in text.splitlines() if what in line]


def test_kill_pending_then_stop_then_audit_log_rotated_then_the_start_re_applies_it_and_cancels(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal={"directory": str(small_disk)}))
    gateways.append(gateway)
    gateway.start()
    second = _rest_and_fill(gateway, small_disk)

    resumed = gateway.cli("resume", "--reason", "nothing halted")  # refused: the journal cannot record it
    assert resumed.returncode == 1, (resumed.stdout, resumed.stderr)
    assert gateway.firm_state() == "ACTIVE"

    killed = gateway.cli("kill", "--reason", "kill58b drill")
    assert killed.returncode == EXIT_KILL_PENDING, (killed.returncode, killed.stdout, killed.stderr)
    assert "re-applies the kill from the risk audit log, which holds it" in killed.stdout, killed.stdout
    working = _open_orders(gateway)
    assert working > 1 and len(_working_at_venue(sim)) == working
    seen = len(gateway.log_text())
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE
    stop = gateway.log_text()[seen:]
    assert _cancels_received(sim) == 0  # journal first: none of the kill's cancels left
    # the venue acknowledged them: at the venues (ops59b; the old code: "at the venues or never sent to them")
    (still,) = _stop_lines(stop, f"{working} orders still open at the venues at exit (")
    assert not _stop_lines(stop, "or never sent to them"), stop
    (critical,) = _stop_lines(stop, "JOURNAL NOT DURABLE AT STOP")

    audit = workdir / "audit.jsonl"
    audit.rename(workdir / "audit.jsonl.1")  # the guide's rotation (`mv`; logrotate without `create`)
    second.unlink()
    filler.unlink()
    seen = len(gateway.log_text())
    gateway.start()
    after = gateway.log_text()[seen:]
    assert gateway.firm_state() == "HALTED", after  # the old code: ACTIVE, every order working, nothing logged
    (said,) = _stop_lines(after, "starts HALTED")
    assert "kill58b drill" in said and "audit.jsonl.1 says" in said, said
    wait_until(lambda: _open_orders(gateway) == 0, 30, "the re-applied kill's cancels answered")
    assert _working_at_venue(sim) == {}
    assert _cancels_received(sim) == working
    assert gateway.stop() == 0

    # what the stop said: the old code "(the kill switch's cancel sent, no answer at exit)", though none was sent
    assert f"{working} orders still open" in still and "the kill switch's cancel not sent: the journal" in still, still
    assert "which holds the kill's record" in critical and "audit.jsonl.1" in critical, critical  # the file read too
    assert "nothing was changed (trading stays ACTIVE)" in resumed.stderr, resumed.stderr  # the old code: "halted"


def _end_at_a_page_end(audit: Path) -> None:
    """Append another gateway's record (the log may be shared) so that the file ends on a page boundary: on a full
    tmpfs the next record finds no room at all."""
    record = {"time": utc_text(0), "time_ns": 0, "event": "startup", "trigger": "startup", "who": "gateway"}
    bare = len(msgspec.json.encode({**record, "pad": "", "gateway_id": "other"})) + 1
    size = audit.stat().st_size
    target = -(-(size + bare) // PAGE) * PAGE
    line = msgspec.json.encode({**record, "pad": "x" * (target - size - bare), "gateway_id": "other"}) + b"\n"
    with audit.open("ab") as handle:
        handle.write(line)
    assert audit.stat().st_size % PAGE == 0


def test_kill_with_the_audit_log_on_the_full_disk_too_then_the_answer_and_the_stop_say_nothing_holds_it(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    audit = small_disk / "audit.jsonl"
    config = write_config(workdir, sim.port, journal={"directory": str(small_disk)}, risk_audit_log=str(audit))
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    _end_at_a_page_end(audit)
    second = _rest_and_fill(gateway, small_disk)
    third = fill_rest(small_disk / "filler3")

    killed = gateway.cli("kill", "--reason", "one disk drill")
    assert killed.returncode == EXIT_KILL_PENDING, (killed.returncode, killed.stdout, killed.stderr)
    assert gateway.firm_state() == "HALTED"
    # the old code: "... re-applies the kill from the risk audit log, which holds it (if that log could not ..."
    assert "which holds it" not in killed.stdout, killed.stdout
    assert "the risk audit log could NOT be written either" in killed.stdout, killed.stdout
    assert "LOSES the kill" in killed.stdout and "run `gateway kill` again" in killed.stdout, killed.stdout
    seen = len(gateway.log_text())
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE
    (critical,) = _stop_lines(gateway.log_text()[seen:], "JOURNAL NOT DURABLE AT STOP")
    assert "which holds the kill's record" not in critical, critical
    assert "NOTHING ON DISK HOLDS THE KILL" in critical and "run `gateway kill` again" in critical, critical
    assert b"one disk drill" not in audit.read_bytes()  # as they say: the audit log does not hold it

    for path in (third, second, filler):
        path.unlink()
    gateway.start()
    assert gateway.firm_state() == "ACTIVE"  # lost, as the stop said (docs/reliability.md 2.3a): the remedy
    working = _open_orders(gateway)
    again = gateway.cli("kill", "--reason", "again after the start")
    assert again.returncode == 0, (again.stdout, again.stderr)
    wait_until(lambda: _open_orders(gateway) == 0, 30, "the kill's cancels answered")
    assert _cancels_received(sim) == working
    assert gateway.stop() == 0
