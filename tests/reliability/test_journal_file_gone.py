"""The journal file deleted or replaced while ``gateway run`` writes it; a journal of another gateway id at start.

Real processes and real files: ``gateway run`` with ``gateway sim ouch``. A journal unlinked while the
gateway runs is restored from the open file, so a kill -9 afterwards recovers every order; a journal
whose path names another file is not overwritten and the gateway refuses orders until it is back; a
journal begun by another gateway id (a file renamed into place) stops the start with exit 1.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from gateway.admin import fetch_metrics
from gateway.client import GatewayClient
from gateway.commands.admin import format_status
from gateway.journal import read_journal
from gateway.protocol.messages import OrderAccepted, OrderRejected
from model.enums import Side
from tests.reliability.support import Gateway, Simulator, order_ids_by_cl_ord_id, wait_for, write_config

RESTING = 2_290_000  # 229.00: below the simulator's reference price, a buy rests


async def _submit(client: GatewayClient, count: int, qty: int) -> list[object]:
    handles = [
        await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, qty + i, price_ticks=RESTING) for i in range(count)
    ]
    return [await handle.wait_accepted(10) for handle in handles]


@pytest.mark.parametrize("storage", ["mmap", "file"])
async def test_journal_deleted_while_running_then_restored_and_a_kill_9_recovers_every_order(
    workdir: Path, sim: Simulator, gateways: list[Gateway], storage: str
) -> None:
    config = write_config(workdir, sim.port, fsync="interval")
    config.write_text(config.read_text().replace("fsync: interval", f"fsync: interval\n  storage: {storage}"))
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        first = await _submit(client, 5, 100)
        assert all(isinstance(event, OrderAccepted) for event in first)
        journal = gateway.journal()
        inode = journal.stat().st_ino
        journal.unlink()
        after = await _submit(client, 10, 200)  # accepted: the file comes back, holding them
        assert all(isinstance(event, OrderAccepted) for event in after)
        await wait_for(journal.exists, 15, "the journal file restored")
        assert journal.stat().st_ino != inode
        more = await _submit(client, 3, 300)  # written into the restored file
        assert all(isinstance(event, OrderAccepted) for event in more)
        status = gateway.status()
        assert status["journal_file"]["restores"] == 1 and status["journal_file"]["state"] == "ok"
        assert "was deleted while the gateway had it open" in status["journal_file"]["last_problem"]
        assert status["journal_error"] is None
        assert "restored it from the open file" in gateway.log_text()
    finally:
        await client.close()
    gateway.kill9()
    assert len(order_ids_by_cl_ord_id(journal, "S1")) == 18

    gateway.start()  # the old code: a fresh journal, 0 orders, the 18 open at the venue forgotten
    status = gateway.status()
    assert status["recovery"]["orders"] == 18 and status["recovery"]["open_orders"] == 18
    fresh = GatewayClient(gateway.socket, "S1")
    welcome = await fresh.connect()
    try:
        assert welcome.next_seq == 19 and not fresh.errors  # no LAST_SEQ_AHEAD: every event is in the journal
    finally:
        await fresh.close()


async def test_journal_directory_deleted_while_running_then_made_again_and_a_restart_recovers_every_order(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    assert gateway.proc is not None
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        first = await _submit(client, 4, 100)
        assert all(isinstance(event, OrderAccepted) for event in first)
        journal = gateway.journal()
        directory = journal.parent
        shutil.rmtree(directory)  # the old code: never made again, every later order refused JOURNAL_UNAVAILABLE
        lock, marker = directory / "gateway.lock", journal.with_name(journal.name + ".open")
        await wait_for(lambda: journal.exists() and lock.exists() and marker.exists(), 15, "directory, files back")
        assert lock.read_text() == f"{gateway.proc.pid}\n"
        after = await _submit(client, 6, 200)
        assert all(isinstance(event, OrderAccepted) for event in after)
        status = gateway.status()
        assert status["journal_file"]["restores"] == 1 and status["journal_error"] is None
        assert status["journal_file"]["lock_restores"] == 1 and status["journal_file"]["marker_restores"] == 1
        assert fetch_metrics(gateway.admin).extra["journal_file_restores_total"] == 3.0  # all three files put back
    finally:
        await client.close()
    assert gateway.stop() == 0
    assert len(order_ids_by_cl_ord_id(journal, "S1")) == 10
    gateway.start()
    assert gateway.status()["recovery"]["orders"] == 10


async def test_lock_file_and_open_marker_deleted_while_running_then_put_back_and_counted_for_the_alert(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    journal = gateway.journal()
    lock, marker = journal.parent / "gateway.lock", journal.with_name(journal.name + ".open")
    assert fetch_metrics(gateway.admin).extra["journal_file_restores_total"] == 0.0
    lock.unlink()
    await wait_for(lock.exists, 15, "gateway.lock back")
    # the old code: put back and logged CRITICAL, but the counter stayed 0, so GatewayJournalFileRestored never fired
    await wait_for(lambda: fetch_metrics(gateway.admin).extra["journal_file_restores_total"] == 1.0, 15, "counted")
    marker.unlink()
    await wait_for(marker.exists, 15, "the open marker back")
    await wait_for(lambda: fetch_metrics(gateway.admin).extra["journal_file_restores_total"] == 2.0, 15, "counted")
    status = gateway.status()
    files = status["journal_file"]
    assert (files["restores"], files["lock_restores"], files["marker_restores"]) == (0, 1, 1)
    assert "gateway.lock put back 1 times, .open marker 1 times" in format_status(status)
    log = gateway.log_text()
    assert "re-created and locked it again" in log and "wrote it again" in log
    assert gateway.stop() == 0


async def test_journal_directory_deleted_while_stopped_then_start_refused_until_the_note_is_moved_aside(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        (accepted,) = await _submit(client, 1, 100)
        assert isinstance(accepted, OrderAccepted)
    finally:
        await client.close()
    journal = gateway.journal()
    gateway.kill9()
    shutil.rmtree(journal.parent)  # with the gateway down: nothing can put it back
    gateway.start(wait_up=False)
    assert gateway.proc is not None
    assert gateway.proc.wait(15) == 1  # the old code: an empty day, the open order and its position forgotten
    note = workdir / "var" / "state" / "rel.journal-begun"
    assert f"the journal {journal} is gone, but this gateway began it today" in gateway.log_text()
    assert f"move {note} aside" in gateway.log_text() and not journal.exists()
    note.rename(workdir / "note.aside")  # the operator's decision: begin the day with an empty journal
    gateway.start()
    assert gateway.status()["recovery"]["orders"] == 0


async def test_note_corrupt_and_journal_gone_while_stopped_then_start_refused_until_the_note_is_moved_aside(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        (accepted,) = await _submit(client, 1, 100)
        assert isinstance(accepted, OrderAccepted)
    finally:
        await client.close()
    journal = gateway.journal()
    gateway.kill9()
    note = workdir / "var" / "state" / "rel.journal-begun"
    note.write_bytes(b"\x00\xff garbage\n")  # a disk fault or an edit: it no longer names the journal
    shutil.rmtree(journal.parent)
    gateway.start(wait_up=False)
    assert gateway.proc is not None
    assert gateway.proc.wait(15) == 1  # the old code: the note ignored, an empty day, the open order forgotten
    text = gateway.log_text()
    assert f"{note} is corrupt" in text and f"the journal {journal} is gone" in text, text[-2000:]
    assert f"move {note} aside" in text and not journal.exists()
    note.rename(workdir / "note.aside")
    gateway.start()
    assert gateway.status()["recovery"]["orders"] == 0


async def test_note_corrupt_and_journal_there_then_start_warns_recovers_and_writes_the_note_again(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        (accepted,) = await _submit(client, 1, 100)
        assert isinstance(accepted, OrderAccepted)
    finally:
        await client.close()
    journal = gateway.journal()
    gateway.kill9()
    note = workdir / "var" / "state" / "rel.journal-begun"
    note.write_text("relative/path\n")
    gateway.start()
    assert gateway.status()["recovery"]["orders"] == 1
    text = gateway.log_text()
    assert f"{note} is corrupt" in text and f"today's journal {journal} is there" in text, text[-2000:]
    assert note.read_text().splitlines()[0] == str(journal.resolve())


async def test_journal_replaced_by_another_file_then_orders_refused_until_it_is_moved_aside(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        (accepted,) = await _submit(client, 1, 100)
        assert isinstance(accepted, OrderAccepted)
        journal = gateway.journal()
        stranger = workdir / "stranger"
        stranger.write_bytes(b"someone else's file")
        stranger.rename(journal)  # in one step: the journal's name now names that file
        await wait_for(lambda: gateway.status()["journal_file"]["state"] == "missing", 15, "the replaced file seen")
        status = gateway.status()
        assert "replaced by another file" in status["journal_file"]["problem"]
        assert status["journal_error"]
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 7, price_ticks=RESTING)
        assert journal.read_bytes() == b"someone else's file"  # never overwritten
        journal.rename(workdir / "other")  # moved aside: the gateway restores its journal and goes on
        refused = await handle.wait_accepted(10)
        assert isinstance(refused, OrderRejected) and refused.code == "JOURNAL_UNAVAILABLE"
        await wait_for(lambda: gateway.status()["journal_file"]["state"] == "ok", 15, "the journal restored")
        (later,) = await _submit(client, 1, 200)
        assert isinstance(later, OrderAccepted)
    finally:
        await client.close()
    assert "replaced by another file" in gateway.log_text()
    assert gateway.stop() == 0
    assert len(order_ids_by_cl_ord_id(journal, "S1")) == 3


async def test_start_when_journal_begun_by_another_gateway_id_then_exit_1_naming_both(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    config = write_config(workdir, sim.port, fsync="interval")
    other = Gateway(workdir, config)
    gateways.append(other)
    other.start()
    client = GatewayClient(other.socket, "S1")
    await client.connect()
    try:
        await _submit(client, 3, 100)
    finally:
        await client.close()
    other.kill9()
    theirs = other.journal()
    assert len(list(read_journal(theirs))) > 0
    config.write_text(config.read_text().replace("gateway_id: rel", "gateway_id: rel2"))
    ours = theirs.with_name(theirs.name.replace("rel-", "rel2-"))
    theirs.rename(ours)  # gw rel's file put in the place of gw rel2's (the old code took it over)
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start(wait_up=False)
    assert gateway.proc is not None
    assert gateway.proc.wait(15) == 1
    text = gateway.log_text()
    assert f"journal {ours} was begun by gateway 'rel' for session" in text
    assert "not by this gateway 'rel2'" in text
    assert os.path.exists(ours)  # left where it is for the operator


@pytest.mark.parametrize("crash", [False, True])
async def test_journal_replaced_then_stop_or_kill_9_then_start_refused_and_the_file_left_untouched(
    workdir: Path, sim: Simulator, gateways: list[Gateway], crash: bool
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        (accepted,) = await _submit(client, 1, 100)
        assert isinstance(accepted, OrderAccepted)
    finally:
        await client.close()
    journal = gateway.journal()
    journal.rename(workdir / "aside.journal")
    journal.write_bytes(b"not a journal\n")
    await wait_for(lambda: gateway.status()["journal_file"]["state"] == "missing", 15, "the replaced file seen")
    if crash:
        gateway.kill9()
    else:
        assert gateway.stop() == 3  # JOURNAL NOT DURABLE AT STOP
    gateway.start(wait_up=False)
    assert gateway.proc is not None
    assert gateway.proc.wait(15) == 1  # the old code: "torn record at byte 0", cut, a fresh 64 MiB journal
    text = gateway.log_text()
    assert f"{journal} is not a journal file" in text
    assert journal.read_bytes() == b"not a journal\n"
    assert len(order_ids_by_cl_ord_id(workdir / "aside.journal", "S1")) == 1


async def test_journal_syncer_frozen_then_stall_logged_and_gauged_and_killed_then_restarted_unasked(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    assert gateway.proc is not None
    (syncer,) = _children(gateway.proc.pid)
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        os.kill(syncer, signal.SIGSTOP)
        try:
            await _submit(client, 2, 100)  # accepted: in the page cache, not on disk
            await wait_for(lambda: "not synced for" in gateway.log_text(), 15, "the stall logged")  # old: silent
            extra = fetch_metrics(gateway.admin).extra
            assert extra["journal_sync_stalled"] == 1.0 and extra["journal_sync_lag_seconds"] >= 1.0
            assert gateway.status()["journal_file"]["sync_stalled"] is True
        finally:
            os.kill(syncer, signal.SIGCONT)
        await wait_for(lambda: "synced again" in gateway.log_text(), 15, "the sync going again")
        assert fetch_metrics(gateway.admin).extra["journal_sync_stalled"] == 0.0
        os.kill(syncer, signal.SIGKILL)
        # noticed by the timer, not by a status or metrics read (the old code: only when someone looked)
        await wait_for(lambda: f"the fsync process {syncer} exited" in gateway.log_text(), 15, "the gone syncer seen")
        # the line is logged before the new helper is spawned: wait for the spawn, not for the line
        pid = gateway.proc.pid
        await wait_for(lambda: [p for p in _children(pid) if p != syncer] != [], 15, "a new syncer started")
        (again,) = _children(pid)
        assert again != syncer
        (later,) = await _submit(client, 1, 300)
        assert isinstance(later, OrderAccepted)
    finally:
        await client.close()
    assert gateway.stop() == 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found
