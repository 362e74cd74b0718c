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
import shutil
from pathlib import Path

import pytest

from gateway.app import EXIT_JOURNAL_NOT_DURABLE
from gateway.commands.admin import EXIT_KILL_PENDING
from gateway.journal import JTradingState, read_journal
from model.enums import Side
from tests.e2e.support import short_tmp
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


def _trading_states(disk: Path) -> list[str]:
    (journal,) = disk.glob("*.journal")
    return [rec.state for rec in read_journal(journal) if isinstance(rec, JTradingState)]


def _working_at_venue(sim: Simulator) -> dict[int, int]:
    """Return the open quantity at the venue of each gateway order id still working there (its outbound stream)."""
    return {oid: order.open_qty for oid, order in venue_orders(sim.outbound()).items() if order.open_qty}


def _cancels_received(sim: Simulator) -> int:
    return sum(1 for record in sim.records() if record.type == "X")


def _open_orders(gateway: Gateway) -> int:
    return int(gateway.status()["risk"]["open_orders"])


def _kill_pending_then(gateway: Gateway, small_disk: Path, *kill: str, accounts: tuple[str, ...] = ()) -> Path:
    """Rest an order (and one per ``accounts``), fill the journal's disk, run ``gateway kill *kill`` (exit 3: its
    HALTED record and cancels pending); return the second filler file (delete it, and ``filler``, to free the disk)."""

    async def flow() -> Path:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="W")
        await client.connect()
        for account in ("ACC1", *accounts):
            handle = await client.submit(account, "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
            await handle.wait_accepted(10)
        second = await fill_the_journal(client, gateway, small_disk, RESTING)
        await client.close()
        return second

    second = asyncio.run(flow())
    killed = gateway.cli("kill", *kill)
    assert killed.returncode == EXIT_KILL_PENDING, (killed.returncode, killed.stdout, killed.stderr)
    return second


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
        second = await fill_the_journal(client, gateway, small_disk, RESTING)
        await client.close()
        return second

    second = asyncio.run(flow())
    killed = gateway.cli("kill", "--reason", "killstop56 drill")
    assert killed.returncode == EXIT_KILL_PENDING, (killed.returncode, killed.stdout, killed.stderr)
    assert gateway.firm_state() == "HALTED"
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE
    text = gateway.log_text()
    assert _trading_states(small_disk) == []  # the kill's record was dropped: the journal alone says ACTIVE

    second.unlink()
    filler.unlink()
    gateway.start()
    after = gateway.log_text()[len(text) :]
    assert gateway.firm_state() == "HALTED", after  # the old code: ACTIVE (the kill lost, trading again)
    (said,) = [line for line in after.splitlines() if "starts HALTED: the risk audit log" in line]
    assert " ERROR " in said and "killstop56 drill" in said and "`gateway resume`" in said, said
    (stopped,) = [line for line in text.splitlines() if "JOURNAL NOT DURABLE AT STOP" in line]
    assert "HALTED record (all trading) is among the records dropped" in stopped, stopped
    assert "re-applies the kill from the risk audit log" in killed.stdout, killed.stdout
    assert gateway.stop() == 0
    assert _trading_states(small_disk) == ["HALTED"]  # journaled again: the journal alone keeps it from now on

    gateway.start()
    assert gateway.firm_state() == "HALTED"
    resumed = gateway.cli("resume", "--reason", "checked")
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert gateway.stop() == 0
    seen = len(gateway.log_text())
    gateway.start()
    assert gateway.firm_state() == "ACTIVE"  # the resume is the audit log's last word too: not halted again
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
        second = await fill_the_journal(client, gateway, small_disk, RESTING)
        await client.close()
        return second

    second = asyncio.run(flow())
    killed = gateway.cli("kill", "--account", "ACC1", "--reason", "crash drill")
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


def test_two_gateways_share_the_audit_log_then_one_gateways_kill_does_not_halt_the_other(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """rev56merge4 K3 (killstop56b): gwK's kill, journaled by gwK, halted gwL at its next start (an ERROR saying
    gwL's journal had lost it). Every audit record names its gateway now; the start reads only its own."""
    shared = workdir / "shared-audit.jsonl"
    other = short_tmp()
    other_sim = Simulator(other)
    try:
        gw_k = Gateway(workdir, write_config(workdir, sim.port, gateway_id="relk", risk_audit_log=str(shared)))
        gw_l = Gateway(other, write_config(other, other_sim.port, gateway_id="rell", risk_audit_log=str(shared)))
        gateways.extend([gw_k, gw_l])
        gw_k.start()
        gw_l.start()
        killed = gw_k.cli("kill", "--reason", "gwK only")
        assert killed.returncode == 0, (killed.stdout, killed.stderr)
        assert (gw_k.firm_state(), gw_l.firm_state()) == ("HALTED", "ACTIVE")
        assert gw_l.stop() == 0
        seen = len(gw_l.log_text())
        gw_l.start()
        after = gw_l.log_text()[seen:]
        assert gw_l.firm_state() == "ACTIVE", after  # the old code: HALTED, gwK's kill re-applied to gwL
        assert "starts HALTED" not in after
        assert gw_k.stop() == 0
        seen = len(gw_k.log_text())
        gw_k.start()
        assert gw_k.firm_state() == "HALTED"  # its own kill, from its journal: no ERROR
        assert "starts HALTED" not in gw_k.log_text()[seen:]
    finally:
        for gateway in gateways:
            gateway.stop()
        other_sim.stop()
        shutil.rmtree(other, ignore_errors=True)


def test_resume_whose_audit_record_was_lost_then_the_start_halts_again_and_cancels_the_orders_sent_after_it(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """docs/reliability.md 2.3a: the journal holds the kill and its resume, the audit log only the kill (the resume's
    record lost with the process). The start halts again (fail closed) and carries the kill out again: the order sent
    after the resume is canceled. kill58 let such a resume stand, by identity; a refused resume whose ACTIVE record
    reached the journal (its re-statement dropped) looks the same and stood too (rev58merge F1), so a journal resume
    the audit log does not hold is judged by state again (kill58c). Its ERROR names the journal's last state."""
    gateway = Gateway(workdir, write_config(workdir, sim.port))
    gateways.append(gateway)
    gateway.start()
    assert gateway.cli("kill", "--reason", "drill").returncode == 0
    assert gateway.cli("resume", "--reason", "checked").returncode == 0

    async def flow() -> None:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="A")
        await client.connect()
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(10)
        await client.close()

    asyncio.run(flow())
    assert list(_working_at_venue(sim).values()) == [100]
    assert gateway.stop() == 0
    audit = workdir / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True)
    (resume,) = [i for i, line in enumerate(lines) if b'"trading_state"' in line and b'"new":"ACTIVE"' in line]
    audit.write_bytes(b"".join(lines[:resume] + lines[resume + 1 :]))
    seen = len(gateway.log_text())
    gateway.start()
    assert gateway.firm_state() == "HALTED"  # kill58: ACTIVE
    (said,) = [line for line in gateway.log_text()[seen:].splitlines() if "starts HALTED" in line]
    assert "the journal's last state for it is ACTIVE" in said, said
    assert "and carried out: the cancels of its 1 open orders are queued" in said, said
    wait_until(lambda: _open_orders(gateway) == 0, 30, "the re-applied kill's cancel answered")
    assert _working_at_venue(sim) == {} and _cancels_received(sim) == 1
    assert gateway.stop() == 0
    assert _trading_states(workdir / "journal") == ["HALTED", "ACTIVE", "HALTED"]  # re-applied with the kill's id


@pytest.mark.parametrize("storage", ["mmap", "file"])
def test_kill_pending_at_stop_then_the_start_that_re_applies_it_cancels_every_open_order_once(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway], storage: str
) -> None:
    """rev57ops (killcancel57): the re-applied kill halted, but its cancels, dropped with its record, were never
    redone: every order stayed open at the gateway and working at the venue ("kill" = halt and cancel every open
    order; docs/reliability.md 2.3a: a stop "does not lose the kill"). Now the start queues them as the kill did and
    they leave once the venue is UP; a later start (the kill journaled) cancels nothing again, a resume is kept."""
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    journal_config = {"directory": str(small_disk), "fsync": "interval", "storage": storage}
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal=journal_config))
    gateways.append(gateway)
    gateway.start()
    second = _kill_pending_then(gateway, small_disk, "--reason", "killcancel57 drill")
    working = _open_orders(gateway)
    assert working > 1 and len(_working_at_venue(sim)) == working
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE
    assert _cancels_received(sim) == 0  # the kill's cancels were dropped with its record: none reached the venue

    second.unlink()
    filler.unlink()
    seen = len(gateway.log_text())
    gateway.start()
    assert gateway.firm_state() == "HALTED"
    wait_until(lambda: _open_orders(gateway) == 0, 30, "the re-applied kill's cancels answered")  # the old code: all
    assert _working_at_venue(sim) == {}  # still open, still working at the venue
    assert _cancels_received(sim) == working
    (said,) = [line for line in gateway.log_text()[seen:].splitlines() if "starts HALTED" in line]
    assert f"and carried out: the cancels of its {working} open orders are queued" in said, said
    assert gateway.stop() == 0

    seen = len(gateway.log_text())
    gateway.start()  # the kill and its cancels are journaled now: nothing is re-applied, nothing canceled again
    assert gateway.firm_state() == "HALTED"
    assert "starts HALTED" not in gateway.log_text()[seen:]
    resumed = gateway.cli("resume", "--reason", "checked")
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert gateway.stop() == 0
    gateway.start()
    assert gateway.firm_state() == "ACTIVE"  # the resume is kept: no re-halt
    assert gateway.stop() == 0
    assert _cancels_received(sim) == working  # and no cancel sent twice
    assert "starts HALTED" not in gateway.log_text()[seen:]


def test_start_on_a_still_full_disk_re_applies_the_kill_then_its_stop_names_it_and_the_next_start_cancels(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    """rev57ops: a stop on a still-full disk after a start that re-applied a kill dropped that HALTED record again
    without naming it (``_kills_pending`` was only filled by ``gateway kill``). The restart once the disk is freed
    re-applies the kill once more and cancels the orders."""
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    gateway = Gateway(workdir, write_config(workdir, sim.port, journal={"directory": str(small_disk)}))
    gateways.append(gateway)
    gateway.start()
    second = _kill_pending_then(gateway, small_disk, "--reason", "full twice")
    working = _open_orders(gateway)
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE

    seen = len(gateway.log_text())
    gateway.start()  # the disk still full: HALTED re-applied in memory, its record and cancels pending again
    assert gateway.firm_state() == "HALTED"
    assert gateway.stop() == EXIT_JOURNAL_NOT_DURABLE
    (stopped,) = [line for line in gateway.log_text()[seen:].splitlines() if "JOURNAL NOT DURABLE AT STOP" in line]
    assert "HALTED record (all trading) is among the records dropped" in stopped, stopped  # the old code: not named
    assert _cancels_received(sim) == 0  # journal first: nothing left

    second.unlink()
    filler.unlink()
    gateway.start()
    assert gateway.firm_state() == "HALTED"
    wait_until(lambda: _open_orders(gateway) == 0, 30, "the re-applied kill's cancels answered")
    assert _working_at_venue(sim) == {}
    assert _cancels_received(sim) == working
    assert gateway.stop() == 0
    assert _trading_states(small_disk) == ["HALTED"]


def test_account_kill_lost_by_a_crash_then_the_start_cancels_that_accounts_orders_only(
    workdir: Path, sim: Simulator, small_disk: Path, gateways: list[Gateway]
) -> None:
    """``gateway kill --account ACC1`` pending on a full journal, then kill -9: the start re-applies the account's
    halt and cancels ACC1's open orders; ACC2's keeps working (the kill never covered it)."""
    filler = fill_rest(small_disk / "filler")
    os.truncate(filler, filler.stat().st_size - ROOM)
    strategies = {"S1": {"accounts": ["ACC1", "ACC2"], "on_disconnect": "keep"}}
    config = write_config(workdir, sim.port, strategies=strategies, journal={"directory": str(small_disk)})
    gateway = Gateway(workdir, config)
    gateways.append(gateway)
    gateway.start()
    second = _kill_pending_then(gateway, small_disk, "--account", "ACC1", "--reason", "acc drill", accounts=("ACC2",))
    working = _open_orders(gateway)
    gateway.kill9()
    second.unlink()
    filler.unlink()
    seen = len(gateway.log_text())
    gateway.start()
    risk = gateway.status()["risk"]
    assert risk["accounts"]["ACC1"]["runtime_state"] == "HALTED"
    assert risk["trading_state"]["firm_runtime"] == "ACTIVE"
    wait_until(lambda: _open_orders(gateway) == 1, 30, "ACC1's orders canceled")  # the old code: all still open
    assert list(_working_at_venue(sim).values()) == [100]  # ACC2's order
    assert _cancels_received(sim) == working - 1
    (said,) = [line for line in gateway.log_text()[seen:].splitlines() if "account ACC1 starts HALTED" in line]
    assert f"the cancels of its {working - 1} open orders are queued" in said, said
    assert gateway.stop() == 0
