"""Set-up shared by the end-to-end tests of a FIX venue: ``gateway sim fix``'s QuickFIX acceptor with its raw relay,
a gateway config of one FIX venue ``FIXV`` to it, and a raw strategy client's helpers.

Importing this module needs the ``quickfix`` package (the tests that use it skip without it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from gateway.app import GatewayProcess
from gateway.config import GatewayConfig
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.prices import to_fixed
from model.venue_events import VenueState
from simulators.fix.simulator import FixSimulator
from tests.e2e.support import e2e_limits, gateway_config, wait_for
from tests.rawclient import RawClient, order_events


@contextlib.asynccontextmanager
async def fix_gateway(
    workdir: Path, prepare: Callable[[FixSimulator], None] | None = None, **venue_settings: object
) -> AsyncIterator[tuple[GatewayConfig, FixSimulator]]:
    """Start a QuickFIX acceptor with a raw relay (``prepare``d first); yield it and the config of venue ``FIXV``."""
    sim = FixSimulator(
        dialect="broker-fix44",
        reference_prices={"AAPL": to_fixed("230.10")},
        raw_channel=True,
        work_dir=str(workdir / "sim"),
    )
    if prepare is not None:
        prepare(sim)
    sim.start()
    config = gateway_config(workdir, 1, e2e_limits(workdir, ("S1",)))
    venue = {
        "protocol": "fix",
        "name": "FIXV",
        "host": "127.0.0.1",
        "port": sim.port,
        "dialect": "broker-fix44",
        "heartbeat_interval_s": 1,
        "store_dir": str(workdir / "fix"),
        "username": "user1",
        "password": "pw",
        **venue_settings,
    }
    config = replace(
        config, venues=[venue], strategies={"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()])}
    )
    try:
        yield config, sim
    finally:
        sim.close()


async def started(config: GatewayConfig, sim: FixSimulator) -> GatewayProcess:
    """Start a gateway on ``config`` and wait until its FIX venue and the acceptor are logged on."""
    process = GatewayProcess(config)
    await process.start()
    await wait_for(lambda: process.venues[0].state is VenueState.UP, what="FIX logon")
    await wait_for(lambda: bool(sim.logged_on), what="the acceptor to mark the session logged on")
    return process


async def next_order_events(client: RawClient, count: int, timeout_s: float = 30.0) -> list[list[Any]]:
    """Return the next ``count`` order events (VenueStatus frames skipped)."""
    out: list[list[Any]] = []
    while len(out) < count:
        out += order_events(await client.read(1, timeout_s))
    return out
