"""A standby host takes over mid-day with neither the journal nor the OUCH state_dir (fixouch51, item 1).

Real gateways and the OUCH simulator in strict mode over loopback TCP: the primary trades, stops for good; the
standby, with fresh directories, logs in to the same venue session, whose replay is the primary's day. Before
fixouch51 the standby took each replayed message as a stream out of frame and logged in again and again (the venue
flapping, orders refused VENUE_UNAVAILABLE); now it says once that it has no record of the day's earlier traffic,
numbers above the venue's NextUserRefNum and trades.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.protocol.messages import OrderAccepted
from model.enums import Side
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for


def _sock(process: GatewayProcess) -> Path:
    config = process.config
    return Path(config.path(config.strategy_socket))


def _acknowledged(events: list[Any]) -> Callable[[], bool]:
    return lambda: any(isinstance(e, OrderAccepted) for e in events)


def _entered(sim: OuchSimulator) -> list[str]:
    """Return the ClOrdIDs of the Enter Orders the venue received today, in order (whichever host sent them)."""
    return [r.cl_ord_id.strip() for r in sim.exchange.records if r.type == "O"]


async def _start(workdir: Path, sim: OuchSimulator) -> GatewayProcess:
    config = gateway_config(workdir, sim.port, Path())
    process = GatewayProcess(gateway_config(workdir, sim.port, e2e_limits(workdir, config.strategies)))
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP", timeout_s=10)
    return process


async def test_standby_without_journal_or_state_dir_when_the_session_has_traffic_then_it_trades() -> None:
    exchange = ExchangeConfig(reference_prices={"AAPL": 2_301_000}, strict_user_ref_num=True)
    sim = OuchSimulator(SimulatorConfig(exchange=exchange))
    await sim.start()
    try:
        primary = await _start(short_tmp(), sim)
        try:
            async with GatewayClient(_sock(primary), "S1") as client:
                for _ in range(3):
                    order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
                    await wait_for(_acknowledged(order.events), what="acknowledged")
        finally:
            await primary.stop()
        assert sim.exchange.next_user_ref_num() == 4
        earlier = sim.stream.next_sequence - 1  # the primary's day: its Accepted (and Canceled at its stop)
        assert earlier >= 3

        standby = await _start(short_tmp(), sim)  # a fresh journal and a fresh state_dir
        try:
            venue = standby.venues[0]
            async with GatewayClient(_sock(standby), "S1") as client:
                order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
                await wait_for(lambda: any(isinstance(e, OrderAccepted) for e in order.events), what="accepted")
            status = venue.status()
            assert status["logins"] == 1  # old: a re-login per replayed message, again and again
            assert status["earlier_traffic"] == earlier  # every message of the primary's day, none applied
            assert status["refetches"] == 0
            assert status["last_user_ref_num"] == 4  # above the primary's 1..3
        finally:
            await standby.stop()
        assert sim.exchange.violations == []
        assert _entered(sim) == ["1", "2", "3", "4"]  # standby53: the standby's ClOrdID was "1" again
    finally:
        await sim.stop()


async def test_standby_that_took_over_when_it_restarts_before_sending_then_it_skips_the_earlier_traffic() -> None:
    """fixstandby52: the standby's own restart (same journal and state_dir) keeps what it learned at the takeover.

    Before, the journal held nothing of the primary's traffic and the floor lived in memory: the restart logged in
    from sequence 1 and read the primary's messages again, each a journal search and an unknown order (with more
    numbers than the store's first block, each a framing error: re-logins, the venue DISCONNECTED).
    """
    exchange = ExchangeConfig(reference_prices={"AAPL": 2_301_000}, strict_user_ref_num=True)
    sim = OuchSimulator(SimulatorConfig(exchange=exchange))
    await sim.start()
    try:
        primary = await _start(short_tmp(), sim)
        try:
            async with GatewayClient(_sock(primary), "S1") as client:
                for _ in range(3):
                    order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
                    await wait_for(_acknowledged(order.events), what="acknowledged")
        finally:
            await primary.stop()
        earlier = sim.stream.next_sequence - 1
        workdir = short_tmp()
        standby = await _start(workdir, sim)
        try:
            assert standby.venues[0].status()["earlier_traffic"] == earlier
        finally:
            await standby.stop()  # before it sent anything

        again = await _start(workdir, sim)  # the same journal and state_dir
        try:
            venue = again.venues[0]
            async with GatewayClient(_sock(again), "S1") as client:
                order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
                await wait_for(lambda: any(isinstance(e, OrderAccepted) for e in order.events), what="accepted")
            status = venue.status()
            assert status["logins"] == 1
            assert status["unknown_user_ref_num"] == 0  # old: every message of the primary's day read again
            assert status["refetches"] == 0
            last = status["last_user_ref_num"]
            assert isinstance(last, int) and last > 3  # above the primary's 1..3
        finally:
            await again.stop()
        assert sim.exchange.violations == []
        assert _entered(sim) == ["1", "2", "3", "4"]  # standby53: the state_dir keeps the primary's ClOrdIDs' floor
    finally:
        await sim.stop()
