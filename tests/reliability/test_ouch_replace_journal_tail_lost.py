"""OUCH, a power failure under ``fsync: interval`` cuts a Replace and its Replaced from the journal (rev60chaos HIGH 1).

``gateway run`` and ``gateway sim ouch`` as processes. An order is accepted and synced; the journal's syncer is frozen
(a slow disk), the strategy replaces the order and gets ``Replaced``; the gateway is killed and the journal zeroed from
its durable end (``tests/reliability/test_power_failure.py``'s cut). The venue works the order as UserRefNum 2, the
journal knows it as UserRefNum 1. The restart's login replay brings the Replaced back: before, it was counted "for
unknown UserRefNum 2", the kill switch's Cancel named UserRefNum 1, the venue ignored it (OUCH 5.0: superfluous
cancels are silently ignored) and the order worked on at the venue under a standing kill, its Cancel never answered.
Now the Replaced is applied (the journal lost that Replace) and the kill's Cancel names UserRefNum 2.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from gateway.client import GatewayClient
from gateway.journal_read import MMAP_HEADER
from gateway.protocol.messages import Replaced
from model.enums import Side
from tests.reliability.support import Gateway, Simulator, wait_for, write_config
from tests.reliability.test_power_failure import RESTING, _power_failure, _syncer_pid


async def test_replace_cut_from_the_journal_by_a_power_failure_when_the_kill_switch_cancels_then_the_venue_cancels_it(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
    await handle.wait_accepted(10)
    journal = gateway.journal()
    await wait_for(lambda: MMAP_HEADER.unpack_from(journal.read_bytes(), 0)[2] > 4096, 15, "a sync of the order")
    await asyncio.sleep(0.2)  # its Accepted synced too
    syncer = _syncer_pid(gateway)
    os.kill(syncer, signal.SIGSTOP)  # a slow disk: what follows is never made durable
    try:
        await client.replace(handle, 200, price_ticks=RESTING - 100)
        await wait_for(lambda: any(isinstance(e, Replaced) for e in handle.events), 10, "the Replaced")
        await client.close()
        gateway.kill9()
    finally:
        os.kill(syncer, signal.SIGKILL)
        os.kill(syncer, signal.SIGCONT)
    assert _power_failure(journal) > 0

    gateway.start()
    status = gateway.status()
    assert status["recovery"]["stopped_cleanly"] is False
    done = gateway.cli("kill", "--reason", "test")
    assert done.returncode == 0, done.stderr

    def canceled_at_venue() -> bool:
        return any(r.type == "X" and r.user_ref_num == 2 and r.outcome == "canceled" for r in sim.records())

    await wait_for(canceled_at_venue, 15, "the kill switch's Cancel of UserRefNum 2 at the venue")
    await wait_for(lambda: gateway.status()["orders_open"] == 0, 15, "the order ended in the gateway")
    assert not [r for r in sim.records() if r.type == "X" and r.user_ref_num == 1]  # never the dead number
    venue = gateway.status()["venues"]["OUCH"]
    assert venue["awaiting_answer"] == 0
    assert venue["unknown_user_ref_num"] == 0  # before: 1 (the Replaced dropped)
    assert venue["replaced_journal_lost"] == 1
    assert "whose records the journal may have lost with its tail" in gateway.log_text()
