"""A journal cut short or with a damaged header page at start: ``gateway run`` refuses it in one line (exit 1).

Real processes: ``gateway run`` with ``gateway sim ouch``, orders accepted, a clean stop (the header's durable
end is then the data end), the file damaged, a restart. The old code started a partial day (cut at a record
boundary), an empty one (cut to its header page, or to 0 bytes) or died with a traceback (owner block).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.client import GatewayClient
from gateway.journal import DATA_START, read_journal
from gateway.journal_read import OWNER_AT
from gateway.protocol.messages import OrderAccepted
from model.enums import Side
from tests.reliability.support import Gateway, Simulator, write_config

RESTING = 2_290_000  # 229.00: below the simulator's reference price, a buy rests


@pytest.mark.parametrize("damage", ["record boundary", "header page only", "0 bytes", "owner block"])
async def test_start_when_the_journal_was_damaged_while_stopped_then_exit_1_in_one_line(
    workdir: Path, sim: Simulator, gateways: list[Gateway], damage: str
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        handles = [
            await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100 + i, price_ticks=RESTING) for i in range(6)
        ]
        for handle in handles:
            assert isinstance(await handle.wait_accepted(10), OrderAccepted)
    finally:
        await client.close()
    assert gateway.stop() == 0
    journal = gateway.journal()
    durable = os.path.getsize(journal)
    records = list(read_journal(journal))
    assert len(records) >= 6
    if damage == "owner block":
        with open(journal, "r+b") as fh:
            fh.seek(OWNER_AT + 6)
            fh.write(b"\x00\x01")
        expected = "damaged owner block in the header page; move the file aside only after investigating it"
    else:
        data = journal.read_bytes()
        cut = {"record boundary": DATA_START + 8 + int.from_bytes(data[DATA_START : DATA_START + 4], "big")}.get(
            damage, DATA_START if damage == "header page only" else 0
        )
        os.truncate(journal, cut)
        if cut:
            expected = f"the data ends at byte {cut} (the file ends there), before the end of the data made durable "
            expected += f"({durable})"
        else:
            expected = f"the journal {journal} is empty (0 bytes), but this gateway began it today"
    size = os.path.getsize(journal)
    gateway.start(wait_up=False)
    assert gateway.proc is not None
    assert gateway.proc.wait(20) == 1  # the old code: a partial or empty day (exit 0), or a traceback
    text = gateway.log_text().split("==== start 2", 1)[1]
    assert expected in text
    assert "move the file aside only after investigating it" in text
    assert "did not start; closed what it had opened" in text
    assert "Traceback" not in text
    assert os.path.getsize(journal) == size  # left as it was for the operator
