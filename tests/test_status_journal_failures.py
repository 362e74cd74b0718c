"""``gateway status`` counts failed journal writes and syncs: ``journal.write_failures`` / ``fsync_failures``.

Both are shown in text too when non-zero (writes: opsfix31; syncs: stop 31).

The count was in ``gateway metrics`` only (``gateway_journal_write_failures_total``); status had the error
while it lasts (``journal_error``) but no count, so a disk that filled and recovered left no trace in it. A
real gateway (``storage: file``) and a real OUCH simulator on loopback; the journal's descriptor is pointed
at ``/dev/full`` (every write fails with ENOSPC, as on a full disk), then back at its file.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import msgspec

from gateway.admin import fetch_status
from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.commands.admin import format_status
from gateway.journal import FileJournal
from gateway.journal_mmap import MmapJournal
from model.enums import Side
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, running_gateway, short_tmp, wait_for


def _journal_line(status: dict[str, Any]) -> str:
    return next(line for line in format_status(status).splitlines() if line.startswith("journal:"))


async def test_status_when_journal_writes_fail_then_json_and_text_count_them_and_keep_the_count_after() -> None:
    workdir = short_tmp()
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig()))
    await sim.start()
    config = gateway_config(workdir, sim.port, e2e_limits(workdir, ("S1", "S2")))
    config = msgspec.structs.replace(config, journal=msgspec.structs.replace(config.journal, storage="file"))
    process = GatewayProcess(config)
    admin = config.path(config.admin_socket)
    loop = asyncio.get_running_loop()
    try:
        await process.start()
        await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
        assert process.engine is not None and isinstance(process.journal, FileJournal)
        before = await loop.run_in_executor(None, fetch_status, admin)
        assert before["journal"]["write_failures"] == 0
        assert "failed writes" not in _journal_line(before)

        journal_fd = process.journal._fd
        # the descriptor swapped for /dev/full no longer names the file at the journal's path: keep the file
        # watch (docs/reliability.md 2.3d) from reporting that instead of the full disk this test is about
        process.journal.check_file = lambda: ("", False)  # type: ignore[method-assign]
        saved = os.dup(journal_fd)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, journal_fd)  # the disk is full
        os.close(full)
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            engine = process.engine
            await wait_for(lambda: engine.journal_failures >= 2, what="two failed journal writes (input, timer)")
            failing = await loop.run_in_executor(None, fetch_status, admin)
            failures = failing["journal"]["write_failures"]
            assert failures >= 2 and failing["journal_error"].startswith("OSError")
            assert process.status()["journal"]["write_failures"] >= failures  # the gateway's own document
            line = _journal_line(failing)
            assert line.startswith("journal: WRITE FAILING (OSError: [Errno 28] No space left on device)")
            assert line.endswith(f", {failures} failed writes since start"), line

            os.dup2(saved, journal_fd)  # room again: the next flush (100 ms timer) writes the batch
            os.close(saved)
            await wait_for(lambda: engine.journal_error == "", what="the journal written again")
        after = await loop.run_in_executor(None, fetch_status, admin)
        assert after["journal_error"] is None
        assert after["journal"]["write_failures"] == engine.journal_failures >= failures  # a count, not a state
        line = _journal_line(after)
        assert "WRITE FAILING" not in line
        assert line.endswith(f", {engine.journal_failures} failed writes since start"), line
    finally:
        await process.stop()
        await sim.stop()


async def test_status_when_the_journal_syncer_dies_then_json_and_text_count_a_failed_fsync() -> None:
    # status had no count of failed syncs (only metrics' gateway_journal_fsync_failures_total): a syncer that died
    # or an fdatasync that failed left no trace in ``gateway status``
    async with running_gateway(short_tmp(), fsync="interval") as (process, _sim):
        journal = process.journal
        assert isinstance(journal, MmapJournal) and journal._syncer is not None
        admin = process.config.path(process.config.admin_socket)
        loop = asyncio.get_running_loop()
        before = await loop.run_in_executor(None, fetch_status, admin)
        assert before["journal"]["fsync_failures"] == 0
        assert "failed fsyncs" not in _journal_line(before)
        syncer = journal._syncer
        syncer.kill()  # the syncer dies: counted as a failed sync, and started again
        await loop.run_in_executor(None, syncer.wait)
        await wait_for(lambda: journal.fsync_failures == 1, what="the dead syncer counted")
        after = await loop.run_in_executor(None, fetch_status, admin)
        assert after["journal"]["fsync_failures"] == 1
        assert process.status()["journal"]["fsync_failures"] == 1  # the gateway's own document
        assert _journal_line(after).endswith(", 1 failed fsyncs since start"), _journal_line(after)


async def test_status_when_journal_writes_fail_then_the_records_count_stops_until_the_journal_is_back() -> None:
    # rev53ops LOW: docs/ops-guide.md says the journal line's "counts stop moving until the journal is back", but
    # "N records" counted records queued (``records_written``): it grew with every order taken while nothing was
    # written. Now it is the records in the file (``records_flushed``), as the bytes count already was.
    workdir = short_tmp()
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig()))
    await sim.start()
    config = gateway_config(workdir, sim.port, e2e_limits(workdir, ("S1", "S2")))
    config = msgspec.structs.replace(config, journal=msgspec.structs.replace(config.journal, storage="file"))
    process = GatewayProcess(config)
    admin = config.path(config.admin_socket)
    loop = asyncio.get_running_loop()
    try:
        await process.start()
        await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
        journal = process.journal
        engine = process.engine
        assert engine is not None and isinstance(journal, FileJournal)
        journal.check_file = lambda: ("", False)  # type: ignore[method-assign]  # the swapped descriptor is the point
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            await wait_for(lambda: journal.pending_bytes == 0 and len(engine.open_orders) == 1, what="order written")
            before = await loop.run_in_executor(None, fetch_status, admin)
            written = before["journal"]["records_written"]
            assert written == journal.records_written > 0
            saved = os.dup(journal._fd)
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, journal._fd)  # the disk is full
            os.close(full)
            for price in ("228.00", "227.00", "226.00"):
                await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price)
            await wait_for(lambda: engine.journal_failures >= 2, what="two failed journal writes")
            await wait_for(lambda: journal.records_written >= written + 3, what="the three orders taken")
            failing = await loop.run_in_executor(None, fetch_status, admin)
            assert failing["journal_error"]
            assert failing["journal"]["records_written"] == written  # old: written + the records queued
            assert failing["journal"]["bytes_written"] == before["journal"]["bytes_written"]
            assert process.status()["journal"]["records_written"] == written  # the gateway's own document
            line = _journal_line(failing)
            assert f"; {written} records, " in line, line
            os.dup2(saved, journal._fd)  # room again: the next flush writes the batch
            os.close(saved)
            await wait_for(lambda: engine.journal_error == "", what="the journal written again")
            await wait_for(lambda: journal.pending_bytes == 0, what="the held records written")
            after = await loop.run_in_executor(None, fetch_status, admin)
            assert after["journal"]["records_written"] == journal.records_written >= written + 3
    finally:
        await process.stop()
        await sim.stop()
