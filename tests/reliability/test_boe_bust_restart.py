"""BOE over loopback: a Trade Cancel or Correct is reported once, across ``kill -9`` and a clean stop (rev45boe 2).

A bust produces no event, so the journal never holds its number: after a restart the login lists its unit at the
execution before it and Cboe replays it. Before fixboe45 every restart logged its WARNING again, telling ops to
run ``gateway risk adjust-position ... --qty -10`` once more. The adapter now keeps the busts it reported on file
(``<name>.boe-corrections.json``) and drops a replayed one.

``gateway run`` as a process (SIGKILL or SIGTERM), the project's BOE simulator in this process on its own event
loop thread (the test busts the trade through it), a real strategy client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from model.enums import Side
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.reliability.support import (
    BOE_VENUE,
    BoeGateway,
    Gateway,
    RecordingClient,
    wait_until,
    write_boe_config,
)

RESTING = 2_290_000  # 229.00: below AAPL's reference, rests on the book
T = TypeVar("T")


class _SimThread:
    """The BOE simulator served by an event loop of its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        config = SimulatorConfig(
            exchange=BoeExchangeConfig(
                units=3, symbol_units={"AAPL": 1, "MSFT": 2}, reference_prices={"AAPL": 2_301_000, "MSFT": 4_205_500}
            )
        )
        self.sim = self.call(lambda: BoeSimulator(config))
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)

    def call(self, action: Callable[[], T]) -> T:
        """Run ``action`` on the simulator's loop and return its result."""

        async def run() -> T:
            return action()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def sim() -> Iterator[_SimThread]:
    simulator = _SimThread()
    yield simulator
    simulator.stop()


def _venue(gateway: Gateway) -> dict[str, int]:
    venue: dict[str, int] = gateway.status()["venues"][BOE_VENUE]
    return venue


@pytest.mark.parametrize("stop", ["kill9", "sigterm"])
def test_bust_when_the_gateway_restarts_then_reported_once(
    workdir: Path, sim: _SimThread, gateways: list[Gateway], stop: str
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, sim.sim.port))
    gateways.append(gateway)
    gateway.start()

    async def submit() -> None:
        async with RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="B") as client:
            handle = await client.submit("ACC1", BOE_VENUE, "AAPL", Side.BUY, 100, price_ticks=RESTING)
            await handle.wait_accepted(15)

    asyncio.run(submit())
    [cl_ord_id] = sim.call(lambda: list(sim.sim.exchange.orders))
    assert sim.call(lambda: sim.sim.execute(cl_ord_id, 10))
    [exec_id] = sim.call(lambda: list(sim.sim.exchange.executions))

    def bust() -> bool:
        done = sim.sim.exchange.correct_trade(exec_id)
        sim.sim.flush_all()
        return done

    assert sim.call(bust)
    wait_until(lambda: _venue(gateway)["trade_corrections"] == 1, 10, "the bust reported")
    for _restart in range(2):
        gateway.kill9() if stop == "kill9" else gateway.stop()
        gateway.start()
        wait_until(lambda: _venue(gateway)["repeated_trade_corrections"] == 1, 10, "the replayed bust dropped")
        venue = _venue(gateway)
        assert venue["trade_corrections"] == 0 and venue["replayed"] >= 1  # Cboe replayed it (old: reported)
    reported = [line for line in gateway.log_text().splitlines() if "Trade Cancel or Correct (venue_seq" in line]
    assert len(reported) == 1, reported  # the old code: 3 (one per process)
    assert "--qty -10 --price 229 " in reported[0]
