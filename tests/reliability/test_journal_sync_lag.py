"""The journal sync lag after a restart: counted from when unsynced bytes are first seen, never from boot.

Real processes: ``gateway run`` (``fsync: interval``) with ``gateway sim ouch``. The restarted gateway's
fsync process is frozen (SIGSTOP) once it is up, before this process synced anything (the synced position
still 0); an order then leaves bytes unsynced. The lag the gateway reports may not exceed the time since
that order (the old code reported the host's uptime, ``gateway_journal_sync_stalled`` 1 and a CRITICAL
"not synced for 35372.3 s").
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from gateway.admin import fetch_metrics
from gateway.client import GatewayClient
from gateway.protocol.messages import OrderAccepted
from model.enums import Side
from tests.reliability.support import Gateway, Simulator, wait_for, write_config
from tests.reliability.test_journal_file_gone import RESTING, _children


async def _one_order(gateway: Gateway, qty: int) -> None:
    client = GatewayClient(gateway.socket, "S1")
    await client.connect()
    try:
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, qty, price_ticks=RESTING)
        assert isinstance(await handle.wait_accepted(15), OrderAccepted)
    finally:
        await client.close()


async def test_restart_then_syncer_frozen_at_once_then_lag_counts_from_the_first_unsynced_bytes(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port, fsync="interval"))
    gateways.append(gateway)
    gateway.start()
    await _one_order(gateway, 100)
    assert gateway.stop() == 0

    gateway.start()
    assert gateway.proc is not None
    (syncer,) = _children(gateway.proc.pid)
    os.kill(syncer, signal.SIGSTOP)
    try:
        assert gateway.status()["journal"]["bytes_synced"] == 0  # this process has synced nothing yet
        log_start = len(gateway.log_text())
        before = time.monotonic()
        await _one_order(gateway, 200)  # written, not synced: the syncer is frozen
        lag = 0.0

        def lag_seen() -> bool:
            nonlocal lag
            lag = fetch_metrics(gateway.admin).extra["journal_sync_lag_seconds"]
            return lag > 0

        await wait_for(lag_seen, 15, "the unsynced bytes seen by the journal check")
        assert lag <= time.monotonic() - before  # the old code: time.monotonic() itself (the host's uptime)
        await wait_for(lambda: "not synced for" in gateway.log_text()[log_start:], 15, "the stall logged")
        extra = fetch_metrics(gateway.admin).extra
        assert extra["journal_sync_stalled"] == 1.0 and extra["journal_sync_stalls_total"] == 1.0
        said = re.search(r"not synced for ([0-9.]+) s", gateway.log_text()[log_start:])
        assert said is not None and 1.0 <= float(said.group(1)) <= time.monotonic() - before
    finally:
        os.kill(syncer, signal.SIGCONT)
    await wait_for(lambda: "synced again" in gateway.log_text()[log_start:], 15, "the sync going again")
    extra = fetch_metrics(gateway.admin).extra
    assert extra["journal_sync_stalled"] == 0.0 and extra["journal_sync_stalls_total"] == 1.0  # the trace stays
    assert gateway.stop() == 0
