"""BOE over loopback: a Cancel refused ``O`` over a sequence gap that holds a lost Modify's Order Modified (boegap61).

``gateway run`` (``fsync: interval``) as a process, the project's BOE simulator in this process (the test holds and
releases messages inside it). The order's Acknowledgment is made durable; the journal's syncer is frozen; the
strategy's Replace goes out as a Modify that Cboe holds (received, not processed); ``kill -9`` and the journal is
zeroed from its durable end (a power failure: the Modify gone). After the restart the strategy cancels: the Cancel
names the old ClOrdID. Cboe applies the Modify (the order goes by ``<ClOrdID>.1.1``): its Order Modified is lost in
transit; Cboe refuses the Cancel ``O``, sequenced, which shows the gap. The old code ended the order ``Canceled
BOE_NOT_AT_CBOE`` at once and dropped the Order Modified the re-login's replay brought as a repeat: 200 shares worked
at Cboe, tracked nowhere (rev61boe HIGH 1). Now the order waits for the gap; the replay renames it and the Cancel
naming ``<ClOrdID>.1.1`` cancels it at Cboe.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.messages import Canceled, Replaced
from model.enums import Side
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

UNIT = 1  # AAPL's matching unit


@pytest.fixture
def boe() -> Iterator[_SimThread]:
    simulator = _SimThread()
    yield simulator
    simulator.stop()


def _held(boe: _SimThread) -> int:
    return boe.call(lambda: len(boe.sim.core.held))


def _venue(gateway: Gateway) -> dict[str, object]:
    venue: dict[str, object] = gateway.status()["venues"][BOE_VENUE]
    return venue


async def test_cancel_refused_o_over_the_gap_of_a_lost_modified_then_it_waits_and_the_replay_cancels_it_at_cboe(
    workdir: Path, boe: _SimThread, gateways: list[Gateway]
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe.sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    core = boe.sim.core
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
    [old] = boe.call(lambda: list(core.exchange.orders))

    gateway.start()
    again = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="B", last_seq=client.last_seq)
    await again.connect()
    try:
        await again.cancel(handle.cl_ord_id)  # names the old ClOrdID: held behind the Modify inside Cboe
        await asyncio.to_thread(wait_until, lambda: _held(boe) == 2, 15, "the Cancel held behind the Modify")

        def apply_then_refuse() -> None:
            core.held.pop()  # Cboe's refusal of it is the sequenced one below
            assert core.release_held(None) == 1  # the Modify: Order Modified, unit 1 message 2 ...
            [connection] = core.connections
            connection.sent[UNIT] = 2  # ... lost in transit
            core.streams.append(UNIT, BoeCancelRejected(0, 0, 0, old, "O", "ClOrdID does not match a live order"))
            boe.sim.flush_all()

        boe.call(apply_then_refuse)

        def judged() -> bool:
            waits = _venue(gateway)["ignored_by_type"].get("cancel-reject-over-gap")  # type: ignore[attr-defined]
            return waits == 1 or any(isinstance(e, Canceled) for e in again.order_events())

        await asyncio.to_thread(wait_until, judged, 15, "the refusal taken")
        # the old code: Canceled BOE_NOT_AT_CBOE here, exposure released, 200 shares working at Cboe
        assert [(e.reason, e.canceled_qty) for e in again.order_events() if isinstance(e, Canceled)] == []
        assert gateway.status()["orders_open"] == 1 and _venue(gateway)["ended_not_at_cboe"] == 0
        boe.call(boe.sim.drop_connections)  # the re-login asks Cboe for the gap: its replay brings the Modified
        await wait_for(lambda: any(isinstance(e, Canceled) for e in again.order_events()), 20, "the Canceled")
    finally:
        await again.close()
    [replaced] = [e for e in again.order_events() if isinstance(e, Replaced)]
    [canceled] = [e for e in again.order_events() if isinstance(e, Canceled)]
    assert (replaced.qty, canceled.canceled_qty, canceled.reason) == (200, 200, "USER_REQUESTED")
    assert boe.call(lambda: dict(core.exchange.orders)) == {}  # the old code: {old.1.1: 200 shares} working
    cancels = [(r.orig_cl_ord_id, r.outcome) for r in core.exchange.records if r.type == "Cancel Order"]
    assert cancels == [(old + ".1.1", "cancelled")]
    assert boe.call(lambda: core.exchange.violations) == []
    wait_until(lambda: gateway.status()["orders_open"] == 0, 15, "no order open")
    venue = _venue(gateway)
    assert (venue["lost_modifies"], venue["ended_not_at_cboe"], venue["late_cancels_waiting"]) == (1, 0, 0)
    assert "while sequence gap(s) below it are open (unit 1 2..2)" in gateway.log_text()
