"""BOE: a Modify and its Order Modified lost with the journal's tail in a power failure, real processes (boepf60).

``gateway run`` (``fsync: interval``, the default) and ``gateway sim boe`` as processes. The order is entered and
its Acknowledgment made durable; the journal's syncer is frozen (a slow disk), the strategy's Replace goes out as a
Modify and Cboe answers Order Modified (the strategy sees Replaced); ``kill -9``, and the journal is zeroed from the
durable end its header names (what a power failure leaves: the Modify and its answer gone). At the restart Cboe
replays the Order Modified (docs/reliability.md 2.5 step 3: "the venue replays exactly what the journal does not
hold"). The old code dropped it as ``repeated-modified``: the order kept its old ClOrdID, the Cancel (the
strategy's, or the kill switch's) named it, Cboe refused it ``O`` and the gateway ended the order ``Canceled
BOE_NOT_AT_CBOE``, exposure released, while Cboe worked it at 200 shares, also under a standing kill (rev60chaos
HIGH 2). Now the order takes Cboe's terms and ClOrdID, and the Cancel cancels it at Cboe.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.journal import JournalScan, read_journal
from gateway.journal_read import MMAP_HEADER
from gateway.protocol.messages import Canceled, Replaced
from model.enums import Side
from simulators.boe.exchange import violations
from tests.reliability.support import (
    BOE_VENUE,
    BoeGateway,
    BoeSimulatorProcess,
    RecordingClient,
    wait_for,
    wait_until,
    write_boe_config,
)
from tests.reliability.test_power_failure import _power_failure, _syncer_pid

RESTING = 2_290_000  # 229.00: below AAPL's reference 230.10, rests on the book


@pytest.fixture
def boe_sim(workdir: Path) -> Iterator[BoeSimulatorProcess]:
    """``gateway sim boe`` recording to ``workdir/boe-record.jsonl``."""
    simulator = BoeSimulatorProcess(workdir)
    yield simulator
    simulator.stop()


def _all_synced(journal: Path) -> bool:
    """Return True once the header's durable end reaches the journal's last record (everything made durable)."""
    scan = JournalScan()
    for _ in read_journal(journal, scan):
        pass
    return bool(MMAP_HEADER.unpack_from(journal.read_bytes(), 0)[2] >= scan.good_bytes)


@pytest.mark.parametrize("cancel_by", ["strategy", "kill switch"])
async def test_modify_lost_in_a_power_failure_when_cboe_replays_its_modified_then_the_cancel_cancels_it_at_cboe(
    workdir: Path, boe_sim: BoeSimulatorProcess, cancel_by: str
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe_sim.port, fsync="interval"))
    try:
        gateway.start()
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="A")
        await client.connect()
        handle = await client.submit("ACC1", BOE_VENUE, "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(15)
        journal = gateway.journal()
        await wait_for(lambda: _all_synced(journal), 15, "the order and its Acknowledgment made durable")
        syncer = _syncer_pid(gateway)
        os.kill(syncer, signal.SIGSTOP)  # a slow disk: nothing after this is made durable
        try:
            await client.replace(handle, 200, price_ticks=RESTING - 100)
            await wait_for(lambda: any(isinstance(e, Replaced) for e in handle.events), 15, "Replaced")
            await client.close()
            gateway.kill9()
        finally:
            os.kill(syncer, signal.SIGKILL)
            os.kill(syncer, signal.SIGCONT)
        assert _power_failure(journal) > 0  # the Modify and its Order Modified gone from the journal
        [modify] = [r for r in boe_sim.records() if r.type == "Modify Order"]
        assert modify.outcome == "modified" and modify.qty == 200

        gateway.start()
        again = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="B", last_seq=client.last_seq)
        await again.connect()
        try:
            if cancel_by == "strategy":
                await again.cancel(handle.cl_ord_id)
            else:
                # off the loop: the CLI took over 3 s under load, and a blocked loop missed the client's heartbeats
                kill = await asyncio.to_thread(gateway.cli, "kill", "--reason", "boepf60 drill")
                assert kill.returncode == 0
            await wait_for(lambda: any(isinstance(e, Canceled) for e in again.order_events()), 20, "the Canceled")
        finally:
            await again.close()
        [canceled] = [e for e in again.order_events() if isinstance(e, Canceled)]
        # the old code: Canceled(canceled_qty=100, reason='BOE_NOT_AT_CBOE'), Cboe working 200 shares
        assert (canceled.canceled_qty, canceled.leaves_qty) == (200, 0) and canceled.reason != "BOE_NOT_AT_CBOE"
        records = boe_sim.records()
        [cancel] = [r for r in records if r.type == "Cancel Order"]
        assert (cancel.orig_cl_ord_id, cancel.outcome) == (modify.cl_ord_id, "cancelled")  # Cboe has nothing open
        assert violations(records) == []
        wait_until(lambda: gateway.status()["orders_open"] == 0, 15, "no order open")
        status = gateway.status()["venues"][BOE_VENUE]
        assert (status["lost_modifies"], status["ended_not_at_cboe"]) == (1, 0)
        assert status["ignored_by_type"].get("repeated-modified") is None
        assert "whose Modify " + modify.cl_ord_id + " the journal lost with its tail" in gateway.log_text()
    finally:
        gateway.stop()
