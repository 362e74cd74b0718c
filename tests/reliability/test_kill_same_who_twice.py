"""A second kill by the same admin client, dropped from the journal, is carried out at the next start (lead57d).

Found by the release review of killresume57 (rev57merge6, HIGH): a start that halted again a kill the journal held
(its resume's audit record lost) journaled that halt with the kill's own ``who`` and reason, so the journal then
held one more such record than the audit log counted; a later kill by the same client (a risk desk tool that stays
up: the same ``who``, its pid in it) and reason, whose journal record a stop dropped, was judged held: halted again
but never carried out (541 orders left working at the venue in the review's run). Now that halt is journaled as
the start's own (``who`` marked ``FROM_AUDIT``), which ``journal_holds`` does not count.

Real processes (``gateway run`` + ``gateway sim ouch``), the journal on a 2 MiB tmpfs (skipped where mounting is not
permitted); every kill and resume from this one process over the admin socket (the same ``who``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from gateway.admin import admin_request
from model.enums import Side
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

ROOM = 128 << 10
RESTING = 2_290_000
WHO, REASON = "riskdesk", "limit breach"


def _cancels_received(sim: Simulator) -> int:
    return sum(1 for record in sim.records() if record.type == "X")


def _working_at_venue(sim: Simulator) -> dict[int, int]:
    return {oid: order.open_qty for oid, order in venue_orders(sim.outbound()).items() if order.open_qty}


def _drop_the_resumes_audit_record(audit: Path) -> None:
    """Remove the last resume's record: written late, then lost when the gateway stopped."""
    lines = audit.read_bytes().splitlines(keepends=True)
    resume = max(i for i, line in enumerate(lines) if b'"trading_state"' in line and b'"new":"ACTIVE"' in line)
    audit.write_bytes(b"".join(lines[:resume] + lines[resume + 1 :]))


def _admin(gateway: Gateway, cmd: str) -> dict[str, Any]:
    request = {"cmd": cmd, "account": "ACC1", "who": WHO, "reason": REASON if cmd == "kill" else "checked"}
    reply: dict[str, Any] = admin_request(gateway.admin, request, timeout_s=15)
    return reply


def test_second_kill_by_the_same_client_dropped_from_the_journal_then_carried_out_at_the_start(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    journal = {"directory": str(small_disk), "fsync": "interval"}
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal=journal))
    gateways.append(gateway)
    gateway.start()

    async def rest(prefix: str, fill: bool = False) -> Path | None:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix=prefix)
        await client.connect()
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(10)
        second = await fill_the_journal(client, gateway, small_disk, RESTING) if fill else None
        await client.close()
        return second

    asyncio.run(rest("A"))
    _admin(gateway, "kill")  # the first kill: journaled and carried out
    wait_until(lambda: _cancels_received(sim) == 1, 10, "the first kill's cancel")
    _admin(gateway, "resume")
    assert gateway.stop() == 0
    _drop_the_resumes_audit_record(workdir / "audit.jsonl")

    seen = len(gateway.log_text())
    gateway.start()  # the journal holds the kill and a resume the audit log lacks: halted again, nothing canceled
    assert "the journal holds this same record followed by a resume" in gateway.log_text()[seen:]
    _admin(gateway, "resume")
    cancels_before = _cancels_received(sim)
    second = asyncio.run(rest("B", fill=True))
    assert second is not None
    _admin(gateway, "kill")  # the same who and reason; its HALTED record and cancels pending on the full journal
    gateway.stop()  # drops them (exit 3)
    assert _cancels_received(sim) == cancels_before
    assert _working_at_venue(sim)
    second.unlink()
    filler.unlink()

    seen = len(gateway.log_text())
    gateway.start()
    text = gateway.log_text()[seen:]
    assert gateway.status()["risk"]["accounts"]["ACC1"]["runtime_state"] == "HALTED"
    # before the fix: "... the kill was carried out when it was set, so nothing is canceled again", all left working
    assert "and carried out: the cancels of its" in text, [line for line in text.splitlines() if "HALTED" in line]
    wait_until(lambda: not _working_at_venue(sim), 15, "the second kill's cancels at the venue")
