"""``gateway kill`` while a disconnect policy's Cancel is in flight, which Cboe then refuses: the kill's Cancel follows.

kill60 (rev59merge17 HIGH): the kill's answer counts every open order of its scope, and each gets the kill's Cancel
once. An order whose strategy's disconnect policy sent its own Cancel just before the kill is owed the kill's Cancel
until the gateway sends one after the kill: when Cboe refuses the policy's, the kill's goes (before: the order
worked on under the kill, and a restart owed nothing). The same across ``kill -9``: the restarted gateway owes it
(its journal shows no Cancel after the kill), and sends it when Cboe's replay brings the refusal. Once: the kill's
Cancel refused too, the order stays open, and a later restart owes nothing more.

``gateway run`` as a process, the project's BOE simulator in this process on its own event loop thread (it refuses
every MSFT Cancel, "too late to cancel"); its loop is held while the policy's Cancel and the kill go, so the Cancel
is in flight at the kill.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from gateway.admin import admin_request
from gateway.journal import JSentCancel, read_journal, unwrap_requests
from model.enums import Side
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.reliability.support import BOE_VENUE, BoeGateway, Gateway, RecordingClient, wait_until, write_boe_config

pytestmark = pytest.mark.timeout(180)

RESTING = 4_000_000  # 400.00: below MSFT's reference 420.55, rests on the book
T = TypeVar("T")


class _SimThread:
    """The BOE simulator, refusing MSFT Cancels, served by an event loop of its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        config = SimulatorConfig(
            exchange=BoeExchangeConfig(
                units=3,
                symbol_units={"AAPL": 1, "MSFT": 2},
                reference_prices={"AAPL": 2_301_000, "MSFT": 4_205_500},
                cancel_reject_symbols=frozenset({"MSFT"}),
            )
        )
        self.sim = self.call(lambda: BoeSimulator(config))
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)
        self.gate = threading.Event()
        self.gate.set()

    def call(self, action: Callable[[], T]) -> T:
        """Run ``action`` on the simulator's loop and return its result."""

        async def run() -> T:
            return action()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def hold(self) -> None:
        """Hold the simulator's loop (it reads nothing, answers nothing) until ``release``."""
        self.gate.clear()
        held = threading.Event()

        def wait() -> None:
            held.set()
            self.gate.wait(30)

        self.loop.call_soon_threadsafe(wait)
        assert held.wait(10)

    def release(self) -> None:
        self.gate.set()

    def cancels(self) -> int:
        """Cancel Order messages Cboe received."""
        return self.call(lambda: sum(1 for r in self.sim.exchange.records if r.type == "Cancel Order"))

    def stop(self) -> None:
        self.gate.set()
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def sim() -> Iterator[_SimThread]:
    simulator = _SimThread()
    yield simulator
    simulator.stop()


def _config(workdir: Path, port: int) -> Path:
    path = write_boe_config(workdir, port)
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    config["strategies"]["S1"]["on_disconnect"] = "cancel"
    path.write_text(yaml.safe_dump(config))
    return path


def _own_cancels_journaled(gateway: Gateway) -> int:
    records = unwrap_requests(read_journal(gateway.journal()))
    return sum(1 for rec in records if isinstance(rec, JSentCancel) and rec.own)


def _refusals_logged(gateway: Gateway) -> int:
    return gateway.log_text().count("the gateway's own Cancel of order")


@pytest.mark.parametrize("crash", [False, True], ids=["live", "kill9"])
def test_policy_cancel_in_flight_at_the_kill_refused_then_the_kills_cancel_once(
    workdir: Path, sim: _SimThread, gateways: list[Gateway], crash: bool
) -> None:
    gateway = BoeGateway(workdir, _config(workdir, sim.sim.port))
    gateways.append(gateway)
    gateway.start()

    async def rest_then_leave() -> None:
        client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="P")
        await client.connect()
        handle = await client.submit("ACC1", BOE_VENUE, "MSFT", Side.BUY, 10, price_ticks=RESTING)
        await handle.wait_accepted(15)
        sim.hold()  # Cboe reads nothing now: the policy's Cancel stays in flight
        await client.close()  # on_disconnect cancel: the policy's own Cancel goes

    asyncio.run(rest_then_leave())
    wait_until(lambda: _own_cancels_journaled(gateway) == 1, 15, "the disconnect policy's Cancel sent")
    reply = admin_request(gateway.admin, {"cmd": "kill", "account": "ACC1", "who": "ops", "reason": "kill60 drill"})
    assert reply["orders_canceled"] == 1, reply  # the kill's answer counts the order
    if crash:
        gateway.kill9()
    sim.release()  # Cboe refuses the policy's Cancel (answered live, or replayed to the restarted gateway)
    if crash:
        gateway.start()
    wait_until(lambda: sim.cancels() >= 2, 15, "the kill's Cancel after the policy's was refused")
    wait_until(lambda: _refusals_logged(gateway) >= 2, 15, "the kill's Cancel refused too")
    assert sim.cancels() == 2  # the policy's and the kill's, once
    assert "a kill switch owes it a Cancel" in gateway.log_text()
    assert gateway.status()["risk"]["accounts"]["ACC1"]["runtime_state"] == "HALTED"
    gateway.kill9()  # (not a clean stop: its own disconnect policy's Cancel would go, the stop's)
    gateway.start()  # nothing owed any more: no kill's Cancel carried on at the start
    assert "cut short" not in gateway.log_text()
    assert int(gateway.status()["risk"]["open_orders"]) == 1  # Cboe refused both: the order stays open
    assert sim.cancels() == 2
