"""``VenueConnector.stop`` while a connection completes: the connection is closed and stop returns.

Python 3.11's ``asyncio.wait_for`` returns its inner result and swallows the outer task's cancel when both
happen in the same loop turn. Found by a fresh-clone run of stop 46: a test's ``connector.stop()`` waited for
ever on the new connection (its venue had just been asked to reconnect). The swallow is reproduced here by a
``wait_for`` that takes the cancel and returns the connection, as 3.11's does in that turn.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from model.clock import monotonic_ns
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.ouch.harness import PX, venue_config
from venues.connector import VenueConnector
from venues.ouch.adapter import OuchVenue

pytestmark = pytest.mark.timeout(30)


async def test_stop_when_its_cancel_is_swallowed_as_a_connection_completes_then_closed_and_stop_returns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": PX})))
    await sim.start()
    try:
        venue = OuchVenue(venue_config(tmp_path, port=sim.port), monotonic_ns)
        connector = VenueConnector(venue, "127.0.0.1", sim.port, after_input=lambda: None)
        stopping: list[asyncio.Task[None]] = []
        real_wait_for = asyncio.wait_for

        async def wait_for_swallowing(aw: Any, timeout: float | None) -> Any:
            result = await real_wait_for(aw, timeout)
            stopping.append(asyncio.ensure_future(connector.stop()))  # stop() cancels this task ...
            with contextlib.suppress(asyncio.CancelledError):  # ... and 3.11's wait_for, its inner future
                await asyncio.sleep(0)  # done, returns the result instead
            return result

        monkeypatch.setattr(asyncio, "wait_for", wait_for_swallowing)
        task = connector.start()
        while not stopping:
            await asyncio.sleep(0.001)
        monkeypatch.setattr(asyncio, "wait_for", real_wait_for)
        await asyncio.wait_for(stopping[0], 5)  # before the fix: the task waited on the connection for ever
        assert task.done()
        assert connector.connections == 0
        assert connector.sock is None
    finally:
        await sim.stop()
