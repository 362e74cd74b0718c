"""BOE over loopback: a lost Modify's Order Modified that comes through a gap after the order ended (boemod62).

``gateway run`` as a process (``fsync: interval``), the project's BOE simulator in this process (the test holds and
releases messages inside it). The order's Modify reaches Cboe and waits inside it; a power failure (the journal's
syncer frozen, ``kill -9``, the unsynced tail zeroed) cuts it from the journal. After the restart the strategy's
Cancel names the old ClOrdID; Cboe applies the Modify first (Order Modified, sequenced, lost in transit: a gap),
then refuses the Cancel ``O``. The gateway ends the order ``Canceled BOE_NOT_AT_CBOE`` (the refusal shows no
renaming). Cboe's replay of the gap (a re-login, or a restart) then brings the Order Modified: the old code dropped
it as ``repeated-modified`` (the order ended here; after a restart: older than the message that ended it), so Cboe
worked the order at 200 shares, untracked, out of the kill switch's reach (rev61boe HIGH 1). Now it is canceled at
Cboe by the Modify's ClOrdID, once; the strategy, told Canceled already, gets nothing more.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.messages import Canceled
from model.enums import Side
from simulators.boe.exchange import violations
from tests.reliability.support import (
    BOE_VENUE,
    BoeGateway,
    Gateway,
    RecordingClient,
    wait_for,
    wait_until,
    write_boe_config,
)
from tests.reliability.test_boe_bust_restart import RESTING, _SimThread
from tests.reliability.test_boe_power_failure import _all_synced
from tests.reliability.test_power_failure import _power_failure, _syncer_pid
from venues.boe.messages import CancelRejected as BoeCancelRejected
from venues.boe.state import gaps_path

UNIT = 1  # AAPL's matching unit


@pytest.fixture
def boe() -> Iterator[_SimThread]:
    simulator = _SimThread()
    yield simulator
    simulator.stop()


def _held(boe: _SimThread) -> int:
    return boe.call(lambda: len(boe.sim.core.held))


def _book(boe: _SimThread) -> dict[str, int]:
    return boe.call(lambda: {k: o.leaves for k, o in boe.sim.core.exchange.orders.items()})


def _modify_lost(workdir: Path, boe: _SimThread, gateways: list[Gateway]) -> tuple[BoeGateway, str, int, str]:
    """Order 100 acknowledged and durable; its Modify to 200 held inside Cboe; a power failure cuts it from the
    journal; the gateway started again. Return the gateway, the strategy's ClOrdID and last_seq, Cboe's ClOrdID."""
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe.sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    core = boe.sim.core

    async def modify_lost() -> tuple[str, int]:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="A")
        await client.connect()
        handle = await client.submit("ACC1", BOE_VENUE, "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(15)
        journal = gateway.journal()
        await wait_for(lambda: _all_synced(journal), 15, "the order and its Acknowledgment made durable")
        syncer = _syncer_pid(gateway)
        os.kill(syncer, signal.SIGSTOP)  # a slow disk: nothing after this is made durable
        try:

            def hold() -> None:
                core.hold = True

            boe.call(hold)
            await client.replace(handle, 200, price_ticks=RESTING - 100)
            await asyncio.to_thread(wait_until, lambda: _held(boe) == 1, 15, "the Modify held inside Cboe")
            await client.close()
            gateway.kill9()
        finally:
            os.kill(syncer, signal.SIGKILL)
            os.kill(syncer, signal.SIGCONT)
        assert _power_failure(journal) > 0  # the Modify gone from the journal
        return handle.cl_ord_id, client.last_seq

    cl_ord_id, last_seq = asyncio.run(modify_lost())
    [old] = list(_book(boe))
    gateway.start()
    return gateway, cl_ord_id, last_seq, old


@pytest.mark.parametrize(
    ("clean_start", "then"), [(False, "relogin"), (False, "clean restart"), (True, "relogin")], ids=str
)
def test_lost_modify_s_modified_through_a_gap_after_the_o_ended_the_order_then_canceled_at_cboe_once(
    workdir: Path, boe: _SimThread, gateways: list[Gateway], clean_start: bool, then: str
) -> None:
    """``clean_start``: a clean stop and start after the power failure's restart, before the Cancel: the process that
    ends the order did not start after a stop that was not clean (``_journal_cut`` is per process)."""
    gateway, cl_ord_id, last_seq, old = _modify_lost(workdir, boe, gateways)
    core = boe.sim.core
    if clean_start:
        assert gateway.stop() == 0
        gateway.start()

    async def cancel() -> tuple[list[object], int]:
        async with RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="B", last_seq=last_seq) as client:
            await client.cancel(cl_ord_id)
            await asyncio.to_thread(wait_until, lambda: _held(boe) == 2, 15, "the Cancel held behind the Modify")

            def apply_lose_refuse() -> None:
                assert core.release_held(None) == 2  # Order Modified (sequenced); the Cancel's O to no connection
                [connection] = core.connections
                connection.sent[UNIT] = core.streams.highest(UNIT)  # the Order Modified lost in transit: a gap
                core.streams.append(UNIT, BoeCancelRejected(0, 0, 0, old, "O", "ClOrdID does not match a live order"))

            boe.call(apply_lose_refuse)
            await wait_for(lambda: any(isinstance(e, Canceled) for e in client.order_events()), 15, "the Canceled")
            return list(client.order_events()), client.last_seq

    events, last_seq = asyncio.run(cancel())
    [canceled] = [e for e in events if isinstance(e, Canceled)]
    assert canceled.reason == "BOE_NOT_AT_CBOE"  # the refusal showed no renaming (the gap hides it)
    assert _book(boe) == {old + ".1.1": 200}
    if then == "relogin":
        boe.call(boe.sim.drop_connections)  # the re-login asks Cboe for the gap
    else:
        assert gateway.stop() == 0  # at once: the gaps file written at the stop (not only at a timer run)
        gaps = gaps_path(workdir / "boe", BOE_VENUE)
        assert '"gaps":[[1,2,2]]' in gaps.read_text()
        gateway.start()  # a clean start: the order, ended, is no longer mapped; the gap is asked for
    # the old code: {old.1.1: 200} worked on at Cboe, untracked (dropped as repeated-modified / older-than-end)
    wait_until(lambda: not _book(boe), 20, "the order canceled at Cboe")
    cancels = [(r.orig_cl_ord_id, r.outcome) for r in core.exchange.records if r.type == "Cancel Order"]
    assert cancels == [(old, "cancel-rejected:O"), (old + ".1.1", "cancelled")]
    assert violations(core.exchange.records) == []
    status = gateway.status()
    venue = status["venues"][BOE_VENUE]
    # (a clean restart begins the counters again)
    ended_here = 1 if then == "relogin" else 0
    assert (venue["live_after_end"], venue["ended_not_at_cboe"], venue["late_cancels_waiting"]) == (1, ended_here, 0)
    assert venue["ignored_by_type"].get("repeated-modified") is None
    assert venue["ignored_by_type"].get("older-than-end") is None
    assert status["orders_open"] == 0

    async def nothing_more() -> list[object]:  # the strategy, told Canceled, gets no second answer
        async with RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="C", last_seq=last_seq) as client:
            await asyncio.sleep(0.5)
            return list(client.order_events())

    assert asyncio.run(nothing_more()) == []
    if then == "relogin":
        assert "whose Modify " + old + ".1.1 the journal lost with its tail" in gateway.log_text()


def test_lost_modify_s_modified_older_than_cboe_s_own_end_of_the_order_then_stale_nothing_sent(
    workdir: Path, boe: _SimThread, gateways: list[Gateway]
) -> None:
    """The boe59 rule stays for an end Cboe reported of the order (not an ``O`` of the old ClOrdID): Cboe applies the
    lost Modify (Order Modified, lost in transit) then cancels the order itself (Order Cancelled of the new ClOrdID,
    newer); the Order Modified the re-login's replay brings is older than that end: stale, nothing sent."""
    gateway, _cl_ord_id, _last_seq, old = _modify_lost(workdir, boe, gateways)
    core = boe.sim.core

    def apply_lose_cancel() -> None:
        assert core.release_held(None) == 1  # Order Modified (sequenced)
        [connection] = core.connections
        connection.sent[UNIT] = core.streams.highest(UNIT)  # lost in transit: a gap
        assert core.exchange.cancel(old + ".1.1")  # Order Cancelled, sent

    boe.call(apply_lose_cancel)
    wait_until(lambda: gateway.status()["orders_open"] == 0, 15, "the order ended by Cboe's Order Cancelled")
    boe.call(boe.sim.drop_connections)  # the re-login's replay brings the Order Modified
    wait_until(lambda: gateway.status()["venues"][BOE_VENUE]["open_gaps"] == 0, 20, "the gap filled")
    venue = gateway.status()["venues"][BOE_VENUE]
    assert venue["ignored_by_type"].get("older-than-end") == 1 and venue["live_after_end"] == 0
    assert [r for r in core.exchange.records if r.type == "Cancel Order"] == []
    assert not _book(boe)
