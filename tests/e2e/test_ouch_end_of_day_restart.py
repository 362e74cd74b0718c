"""OUCH System Event ``E`` kept across a gateway restart: a real gateway and the OUCH simulator over loopback TCP."""

from __future__ import annotations

from pathlib import Path

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.protocol.messages import Canceled, OrderAccepted, OrderRejected
from model.enums import RejectSource, Side
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for


def _sock(process: GatewayProcess) -> Path:
    config = process.config
    return Path(config.path(config.strategy_socket))


async def _start(workdir: Path, sim: OuchSimulator) -> GatewayProcess:
    config = gateway_config(workdir, sim.port, Path())
    process = GatewayProcess(gateway_config(workdir, sim.port, e2e_limits(workdir, config.strategies)))
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
    return process


async def test_end_of_day_when_the_gateway_restarts_then_new_orders_refused_without_reaching_the_venue() -> None:
    workdir = short_tmp()
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": 2_301_000})))
    await sim.start()
    try:
        process = await _start(workdir, sim)
        try:
            async with GatewayClient(_sock(process), "S1") as client:
                first = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
                await wait_for(lambda: any(isinstance(e, OrderAccepted) for e in first.events), what="accepted")
                sim.exchange.system_event("E")
                await wait_for(lambda: process.venues[0].status()["day_ended"] is True, what="System Event E read")
                await first.cancel()  # its Canceled, journaled, follows E: the next login does not replay E
                assert isinstance(await first.wait_done(timeout=15), Canceled)
        finally:
            await process.stop()
        entered = len([r for r in sim.exchange.records if r.type == "O"])

        process = await _start(workdir, sim)  # the same session day, the same venue session
        try:
            assert process.venues[0].status()["day_ended"] is True  # old: False, lost with the process
            async with GatewayClient(_sock(process), "S1") as client:
                order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
                final = await order.wait_done(timeout=15)
            assert isinstance(final, OrderRejected)
            assert (final.source, final.code) == (RejectSource.GATEWAY, "OUCH_END_OF_DAY")
            assert len([r for r in sim.exchange.records if r.type == "O"]) == entered  # old: sent to the venue
        finally:
            await process.stop()
    finally:
        await sim.stop()
