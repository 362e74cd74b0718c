"""End to end through the gateway to a FIX venue: strategy -> gateway -> FIX 4.2 session -> real QuickFIX acceptor."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.messages import Canceled, Executed, OrderAccepted, OrderRejected
from gateway.protocol.prices import to_fixed
from model.enums import OrderType, RejectSource, Side
from model.venue_events import VenueState
from simulators.fix.simulator import FixSimulator
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for
from venues.fix.fields import MsgType


@contextlib.asynccontextmanager
async def gateway_with_fix() -> AsyncIterator[tuple[GatewayProcess, FixSimulator]]:
    """Start a QuickFIX acceptor and a gateway whose only venue is a FIX 4.2 session to it."""
    workdir = short_tmp()
    sim = FixSimulator(reference_prices={"AAPL": to_fixed("230.10")}, reject_symbols=["ZVZZT"])
    sim.start()
    config = gateway_config(workdir, 1, e2e_limits(workdir, ("S1",)))
    fix_venue = {
        "protocol": "fix",
        "name": "EQX",
        "host": "127.0.0.1",
        "port": sim.port,
        "dialect": "equities-fix42",
        "heartbeat_interval_s": 1,
        "store_dir": str(workdir / "fix"),
    }
    from msgspec.structs import replace

    config = replace(
        config,
        venues=[fix_venue],
        strategies={"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()])},
    )
    process = GatewayProcess(config)
    try:
        await process.start()
        await wait_for(lambda: process.venues[0].state is VenueState.UP, what="FIX logon")
        yield process, sim
    finally:
        await process.stop()
        sim.close()


async def test_fix_venue_when_orders_flow_then_filled_canceled_and_rejected_like_ouch() -> None:
    async with gateway_with_fix() as (process, sim):
        config = process.config
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            taker = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, "230.15")
            filled = await taker.wait_done(timeout=15)
            assert isinstance(filled, Executed) and filled.price == to_fixed("230.10") and filled.leaves_qty == 0

            resting = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await resting.wait_accepted(timeout=15), OrderAccepted)
            await resting.replace(200, "229.50")
            await wait_for(lambda: resting.qty == 200, what="Replaced")
            await resting.cancel()
            assert isinstance(await resting.wait_done(timeout=15), Canceled)

            refused = await client.submit("ACC1", "EQX", "ZVZZT", Side.BUY, 100, "10.00")
            final = await refused.wait_done(timeout=15)
            assert isinstance(final, OrderRejected) and final.source is RejectSource.VENUE
        new_orders = [m for m in sim.received if m.msg_type == b"D"]
        assert len(new_orders) == 3


async def test_market_order_when_limits_forbid_it_then_risk_rejects_and_fix_venue_never_sees_it() -> None:
    """OUCH cannot carry a market order, FIX can: here risk's MARKET_ORDER_NOT_ALLOWED is what stops it."""
    async with gateway_with_fix() as (process, sim):
        config = process.config
        async with GatewayClient(config.path(config.strategy_socket), "S1") as client:
            market = await client.submit("ACC1", "EQX", "AAPL", Side.BUY, 100, price_ticks=0, ord_type=OrderType.MARKET)
            final = await market.wait_done(timeout=15)
            assert isinstance(final, OrderRejected)
            assert (final.source, final.code) == (RejectSource.RISK, "MARKET_ORDER_NOT_ALLOWED")
        assert not [m for m in sim.received if m.msg_type == b"D"]


async def test_gateway_stop_when_fix_venue_up_then_logout_sent_and_answered_before_the_connection_closes() -> None:
    async with gateway_with_fix() as (process, sim):
        venue = process.venues[0]
        await process.stop()  # what SIGTERM runs; stopping again on the way out is a no-op
        assert [m.get(b"58") for m in sim.messages("in", MsgType.LOGOUT)] == [b"gateway stopping"]
        assert len(sim.messages("out", MsgType.LOGOUT)) == 1  # the acceptor answered before the close
        assert venue.status()["reason"] == "gateway stopping"
