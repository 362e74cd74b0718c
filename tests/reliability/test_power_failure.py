"""A power failure under ``fsync: interval``, real processes and real files: no seq and no order id used twice.

``gateway run`` and ``gateway sim ouch`` as processes. The journal's syncer process is frozen
(SIGSTOP), so the records of the next orders are never made durable; the gateway is killed and the
journal file is zeroed from the durable end its header names to its data end: what a power failure
leaves on disk (the page cache lost). The venue holds those orders; the journal does not, and the
strategy (the SDK) has seen their events. After the restart the strategy's new events are numbered
after its ``last_seq`` (``Error(LAST_SEQ_AHEAD)`` says so), the SDK receives them with no change, and
no order id (the OUCH ClOrdID) names two orders at the venue. Events numbered at the restart before the
strategy's Hello (a kill switch's Canceled) are issued again after its ``last_seq`` at that Hello (seq61).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from gateway.client import ConnectionState, GatewayClient
from gateway.journal import JournalScan, JSeqAhead, read_journal
from gateway.journal_read import MMAP_HEADER
from gateway.protocol.messages import OrderAccepted
from gateway.recovery import ORDER_ID_MARGIN, open_marker
from model.enums import Side
from tests.rawclient import CANCELED, ERROR, VENUE_STATUS, RawClient, order_events
from tests.reliability.support import (
    Gateway,
    Simulator,
    entered_at_venue,
    order_ids_by_cl_ord_id,
    wait_for,
    write_config,
)

RESTING = 2_290_000  # 229.00: below the simulator's reference price, a buy rests


def _syncer_pid(gateway: Gateway) -> int:
    """Return the pid of the gateway's journal syncer process (its only child)."""
    assert gateway.proc is not None
    pid = gateway.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    syncers = [int(c) for c in children if b"journal_syncer" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(syncers) == 1, children
    return syncers[0]


def _power_failure(journal: Path) -> int:
    """Zero the journal from its durable end to its data end (the unsynced page cache lost); return the bytes zeroed."""
    data = journal.read_bytes()
    synced: int = MMAP_HEADER.unpack_from(data, 0)[2]
    scan = JournalScan()
    for _ in read_journal(journal, scan):
        pass
    assert scan.good_bytes > synced, "the frozen syncer left no unsynced tail"
    with journal.open("r+b") as fh:
        fh.seek(synced)
        fh.write(bytes(scan.good_bytes - synced))
    return scan.good_bytes - synced


async def _submit(client: GatewayClient, count: int, qty: int) -> list[OrderAccepted]:
    handles = [
        await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, qty + i, price_ticks=RESTING) for i in range(count)
    ]
    accepted = [await handle.wait_accepted(10) for handle in handles]
    assert all(isinstance(event, OrderAccepted) for event in accepted)
    return accepted  # type: ignore[return-value]


async def test_power_failure_when_journal_lost_its_tail_then_new_events_follow_the_strategy_s_last_seq_and_no_id_reused(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1", auto_reconnect=True, reconnect_initial_s=0.02, reconnect_max_s=0.2)
    await client.connect()
    await _submit(client, 5, 100)
    journal = gateway.journal()
    await wait_for(lambda: MMAP_HEADER.unpack_from(journal.read_bytes(), 0)[2] > 4096, 15, "a sync of the first orders")
    await asyncio.sleep(0.2)
    syncer = _syncer_pid(gateway)
    os.kill(syncer, signal.SIGSTOP)
    try:
        await _submit(client, 10, 200)  # their records are never made durable
        assert client.last_seq == 15
        gateway.kill9()
    finally:
        os.kill(syncer, signal.SIGKILL)
        os.kill(syncer, signal.SIGCONT)
    assert open_marker(journal).exists()  # made durable when the gateway started: a power failure leaves it
    assert _power_failure(journal) > 0

    gateway.start()
    status = gateway.status()
    assert status["recovery"]["stopped_cleanly"] is False
    assert status["recovery"]["order_ids_skipped"] == ORDER_ID_MARGIN
    assert status["strategies"]["S1"]["next_seq"] < 16  # the journal lost events the strategy has
    assert open_marker(journal).read_text() == f"{5 + ORDER_ID_MARGIN + 1}\n"  # this run's first id, durable
    await wait_for(lambda: client.state is ConnectionState.CONNECTED and client.connections == 2, 15, "the reconnect")
    assert client.welcome is not None and client.welcome.next_seq == 16  # numbered after the strategy's last_seq
    assert [e.code for e in client.errors] == ["LAST_SEQ_AHEAD"]
    assert "numbered from 16" in client.errors[0].text
    (after,) = await _submit(client, 1, 300)  # the old code numbered it 6: the SDK discarded it as a repeat
    assert after.seq == 16 and client.last_seq == 16
    status = gateway.status()
    assert status["counters"]["strategy_seq_ahead"] == 1
    assert "said Hello with last_seq 15 but the gateway numbered its events up to seq 5" in gateway.log_text()

    # no order id names two orders at the venue: each ClOrdID was entered once (16 orders, none a repeat)
    await wait_for(lambda: len(sim.records()) >= 16, 15, "the venue's record of 16 orders")
    entered = entered_at_venue(sim.records())
    assert len(entered) == 16 and {len(records) for records in entered.values()} == {1}
    ids = order_ids_by_cl_ord_id(journal, "S1")
    assert len(ids) == 6 and max(ids.values()) == 5 + ORDER_ID_MARGIN + 1

    # a clean stop: the next start skips nothing, keeps the numbering, and replays across the lost numbers
    await client.close()
    assert gateway.stop() == 0
    assert not open_marker(journal).exists()
    assert [r.next_seq for r in read_journal(journal) if isinstance(r, JSeqAhead)] == [16]
    gateway.start()
    status = gateway.status()
    assert status["recovery"]["stopped_cleanly"] is True and status["recovery"]["order_ids_skipped"] == 0
    fresh = GatewayClient(gateway.socket, "S1")
    welcome = await fresh.connect()
    try:
        assert welcome.next_seq == 17 and welcome.replayed == 6
        await wait_for(lambda: len(fresh.history) == 6, 15, "the replay")
        assert [e.seq for e in fresh.history] == [1, 2, 3, 4, 5, 16]
        assert not fresh.errors
        (later,) = await _submit(fresh, 1, 400)
        assert later.seq == 17
    finally:
        await fresh.close()
    ids = order_ids_by_cl_ord_id(journal, "S1")
    assert max(ids.values()) == 5 + ORDER_ID_MARGIN + 2  # after a clean stop the ids simply continue


@pytest.mark.parametrize("first", ["sdk", "raw"])
async def test_power_failure_when_events_are_numbered_before_the_strategy_s_hello_then_they_are_issued_again_after_it(
    workdir: Path, sim: Simulator, gateways: list[Gateway], first: str
) -> None:
    """rev60merge6 HIGH 2: events numbered at the restart before the strategy's first Hello (a kill switch's Canceled
    here; a fill from the venue's replay alike) took numbers 6..10, which the strategy held for events the journal
    lost: it discarded them as repeats and never saw its orders end. Now its first Hello (``last_seq`` 15, above
    the journal's 5) is told ``LAST_SEQ_AHEAD`` and gets them again as 16..20, for the SDK and for a client written
    from the protocol doc alone (``first``); a later Hello is replayed them as any event."""
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    await _submit(client, 5, 100)
    journal = gateway.journal()
    await wait_for(lambda: MMAP_HEADER.unpack_from(journal.read_bytes(), 0)[2] > 4096, 15, "a sync of the first orders")
    await asyncio.sleep(0.2)
    syncer = _syncer_pid(gateway)
    os.kill(syncer, signal.SIGSTOP)
    try:
        await _submit(client, 10, 200)  # their records are never made durable
        assert client.last_seq == 15
        gateway.kill9()
    finally:
        os.kill(syncer, signal.SIGKILL)
        os.kill(syncer, signal.SIGCONT)
    await client.close()
    assert _power_failure(journal) > 0

    gateway.start()
    killed = gateway.cli("kill", "--reason", "seq61 drill")  # before the strategy is back: its 5 orders canceled
    assert killed.returncode == 0, killed.stderr
    await wait_for(lambda: gateway.status()["orders_open"] == 0, 15, "the kill's cancels")
    assert gateway.status()["strategies"]["S1"]["next_seq"] == 11  # numbered 6..10: the strategy holds those numbers
    if first == "sdk":
        back = GatewayClient(gateway.socket, "S1", last_seq=15)
        welcome = await back.connect()
        try:
            await wait_for(lambda: len(back.history) == 5, 15, "the replay")
            # the old code: Welcome(next_seq 16, replayed 0) and no Canceled: the SDK held 6..10 and discarded them
            assert (welcome.next_seq, welcome.replayed) == (21, 5)
            assert [e.seq for e in back.history] == [16, 17, 18, 19, 20]
            assert {type(e).__name__ for e in back.history} == {"Canceled"}
            assert [e.code for e in back.errors] == ["LAST_SEQ_AHEAD"]
            assert "the 5 events numbered since, 6..10, are issued again as 16..20" in back.errors[0].text
        finally:
            await back.close()
    else:
        raw = await RawClient(str(gateway.socket)).connect()
        try:
            welcome_frame = await raw.hello("S1", 3, last_seq=15)
            assert (welcome_frame[3], welcome_frame[5]) == (21, 5)  # next_seq, replayed
            notice, *replay = await raw.read(6)
            assert notice[0] == ERROR and notice[1] == "LAST_SEQ_AHEAD" and notice[3] is False
            assert [m[0] for m in replay] == [CANCELED] * 5
            assert [m[1] for m in replay] == [16, 17, 18, 19, 20]  # each above its last_seq: none discarded
            (status,) = await raw.read(1)
            assert status[0] == VENUE_STATUS
        finally:
            raw.close()
    assert gateway.status()["counters"]["strategy_seq_ahead"] == 1
    assert "the 5 events numbered since, 6..10, are issued again as 16..20" in gateway.log_text()

    later = await RawClient(str(gateway.socket)).connect()  # not the first Hello: a replay as any other
    try:
        welcome_frame = await later.hello("S1", 3, last_seq=15)
        assert (welcome_frame[3], welcome_frame[5]) == (21, 5)
        replay = await later.read(5)
        assert [m[1] for m in order_events(replay)] == [16, 17, 18, 19, 20]
        assert not [m for m in replay if m[0] == ERROR]
    finally:
        later.close()
    assert gateway.status()["counters"]["strategy_seq_ahead"] == 1
