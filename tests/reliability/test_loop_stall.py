"""A gateway frozen longer than the peers' timeouts cuts no peer off that kept talking (rev44chaos).

``gateway run`` and ``gateway sim ouch`` as processes. The strategy sends a Heartbeat every 100 ms
(its ``heartbeat_ms`` 200: cut off after 600 ms of silence) and the simulator its Server Heartbeats
every second (the gateway gives up on it after ``server_timeout_ms`` 1,500). The gateway is frozen
(SIGSTOP) for 2.5 s: both peers' bytes wait in its socket buffers. When it runs again its timers are
due before those bytes are read; before the fix it cut the strategy off ``HEARTBEAT_TIMEOUT``
("nothing received for 2500 ms") and dropped the venue session ("no data from the server"), which
under ``on_disconnect: cancel`` cancels the strategy's orders at the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import yaml

from tests.rawclient import ERROR, HEARTBEAT, NEW_ORDER, ORDER_ACCEPTED, RawClient, frame
from tests.reliability.support import Gateway, Simulator, write_config

RESTING = 2_290_000
"""A limit price that rests on the simulator's book: answered by OrderAccepted and nothing else."""


async def _beat(client: RawClient, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await client.send(frame(HEARTBEAT))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def test_gateway_frozen_past_every_timeout_when_peers_kept_talking_then_no_session_is_cut(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    config_path = write_config(workdir, sim.port, strategies={"S1": {"accounts": ["ACC1"], "on_disconnect": "cancel"}})
    config = yaml.safe_load(config_path.read_text())
    config["venues"][0].update(heartbeat_interval_ms=200, server_timeout_ms=1_500)
    config_path.write_text(yaml.safe_dump(config))
    gateway = Gateway(workdir, config_path)
    gateways.append(gateway)
    gateway.start()
    assert gateway.proc is not None

    client = await RawClient(str(gateway.socket)).connect()
    welcome = await client.hello("S1", version=3, heartbeat_ms=200)
    await client.read(welcome[5] + 1)  # the replay (none), then the venue's VenueStatus
    await client.send(frame(NEW_ORDER, "R1", "ACC1", "OUCH", "AAPL", "B", 10, RESTING, "0", "2", 0, 1))
    (accepted,) = await client.read(1)
    assert accepted[0] == ORDER_ACCEPTED, accepted

    stop = asyncio.Event()
    beating = asyncio.create_task(_beat(client, stop))
    await asyncio.sleep(0.5)
    os.kill(gateway.proc.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(2.5)
    finally:
        os.kill(gateway.proc.pid, signal.SIGCONT)
    await asyncio.sleep(1.0)  # the gateway catches up; a cut would come now
    await client.send(frame(NEW_ORDER, "R2", "ACC1", "OUCH", "AAPL", "B", 10, RESTING, "0", "2", 0, 2))
    answers = await client.read(1)
    stop.set()
    await beating
    assert not client.closed and [m[0] for m in answers] == [ORDER_ACCEPTED], answers
    assert not [m for m in client.received if m[0] == ERROR]
    log = gateway.log_text()
    assert "HEARTBEAT_TIMEOUT" not in log and "no data from the server" not in log, log[-3000:]
    assert gateway.status()["venues"]["OUCH"]["state"] == "UP"
    client.close()
