"""A stop (SIGTERM) while the journal cannot be written is a clean stop: the next start skips no order ids.

Real processes (``gateway run`` + ``gateway sim ouch``) with the journal on a 2 MiB tmpfs (skipped where mounting is
not permitted), both storages. The disk fills while the gateway trades, requests are held, then SIGTERM: exit 3,
nothing held reaches the venue. Found by the BOE certification review (rev56boe, journalstop56): the next start,
after the disk was freed, logged "torn record ... ignoring the tail" (``file``) and "not closed cleanly ... a power
failure may have cut records", and the order ids skipped 4,194,304 (which BOE's ClOrdID table counts against the
prefix's room), although every record of anything sent was on disk. Now the close cuts the record written in part,
syncs what the file holds and, that sync done, marks the stop clean with what it dropped: the next start says so in
one line and goes on with the ids.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from gateway.app import EXIT_JOURNAL_NOT_DURABLE
from gateway.journal import read_journal, unwrap_requests
from gateway.recovery import open_marker
from model.enums import Side
from tests.reliability.support import (
    Gateway,
    RecordingClient,
    Simulator,
    fill_rest,
    fill_the_journal,
    write_config,
)

RESTING = 2_290_000
ROOM = 128 << 10
"""Left free on the disk for the gateway's start: its lock file, journal, open marker and a few orders."""


@pytest.mark.parametrize("storage", ["mmap", "file"])
def test_sigterm_while_journal_cannot_be_written_then_next_start_is_clean_and_says_what_the_stop_dropped(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway], storage: str
) -> None:
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    journal_config = {"directory": str(small_disk), "fsync": "interval", "storage": storage}
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal=journal_config))
    gateways.append(gateway)
    gateway.start()
    (journal,) = small_disk.glob("*.journal")
    assert open_marker(journal).read_text().strip().isdigit()  # this run's first order id: an unclean stop until...

    async def flow() -> Path:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="J")
        await client.connect()
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(10)
        second = await fill_the_journal(client, gateway, small_disk, RESTING)
        for _ in range(5):  # held behind the journal: never answered, never sent
            await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 200, price_ticks=RESTING)
        await asyncio.sleep(0.3)
        await client.close()
        return second

    second = asyncio.run(flow())
    entered = len([r for r in sim.records() if r.type == "O"])
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE
    assert len([r for r in sim.records() if r.type == "O"]) == entered  # nothing held reached the venue
    text = gateway.log_text()
    assert "JOURNAL NOT DURABLE AT STOP" in text and "Traceback" not in text
    journaled = {rec.order_id for rec in unwrap_requests(read_journal(journal)) if hasattr(rec, "order_id")}

    second.unlink()
    filler.unlink()
    gateway.start()
    status = gateway.status()
    recovery = status["recovery"]
    after = gateway.log_text()[len(text) :]
    # the old code: "torn record at byte N" (file), "was not closed cleanly ... new order ids start at 4194xxx"
    assert "torn record" not in after and "not closed cleanly" not in after, after
    assert recovery["stopped_cleanly"] is True and recovery["order_ids_skipped"] == 0, recovery
    assert recovery["torn_bytes_truncated"] == 0, recovery
    assert recovery["last_stop_dropped_records"] >= 5, recovery
    (line,) = [line for line in after.splitlines() if "the last stop on the journal" in line]
    assert f"dropped {recovery['last_stop_dropped_records']} records" in line, line
    # after the ids of the 5 held orders too (lead56e: the stop's note keeps its next id; none given twice)
    going_on = re.search(r"order ids go on from (\d+) \(none skipped\)", line)
    assert going_on is not None and max(journaled) + 5 < int(going_on[1]) < max(journaled) + 1_000, line
    (stopped,) = [line for line in text.splitlines() if "JOURNAL NOT DURABLE AT STOP" in line]
    assert "a clean stop" in stopped and "no order ids skipped" in stopped, stopped
    assert gateway.stop() == 0
    assert not open_marker(journal).exists()
