"""Over loopback TCP against the project's BOE simulator (boefix41, rev41boe item 4): Cboe applies a Modify or a Cancel,
then a venue-side failover restarts the unit's numbering (book and LastReceivedSequenceNumber kept) before its
answer reached the gateway: the answer is gone with the old numbering.

After the re-login the request is in doubt (S <= L, no answer replayed) and its copy goes out. Cboe no longer has
the order by the ClOrdID the copy names, so it refuses it (``O``). Before boefix41 that refusal, with no other answer
within 5 s, was taken as a refusal of the original: the Modify was reported refused (``UNKNOWN_ORDER``) while Cboe
worked the order at the new size, and the Cancel was reported refused while Cboe held nothing (the order stuck open
here, every later Cancel refused). Now the answer is what Cboe did: the Modify is asked about by its ClOrdID
(Replaced), and the Cancel's order, which Cboe no longer holds, ends here (Canceled ``BOE_ANSWER_LOST``).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from gateway.app import GatewayProcess
from gateway.client import GatewayClient, OrderStatus
from gateway.protocol.messages import Canceled, CancelRejected
from model.enums import Side
from model.order import OrderState
from model.venue_events import VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, short_tmp, wait_for
from tests.e2e.test_boe_pipeline import REFS, UNITS, boe_gateway_config
from venues.boe.adapter import BoeVenue


async def _started(workdir: Path, sim: BoeSimulator) -> GatewayProcess:
    config = boe_gateway_config(workdir, sim.port, e2e_limits(workdir, ["S1"]))
    config.strategies["S1"] = msgspec.structs.replace(config.strategies["S1"], on_disconnect="keep")
    process = GatewayProcess(config)
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
    return process


def _adapter(process: GatewayProcess) -> BoeVenue:
    [venue] = process.venues
    assert isinstance(venue, BoeVenue)
    return venue


def _failover(sim: BoeSimulator) -> None:
    """Cut the connection, let Cboe process what it holds (answers on unit 1), then restart unit 1's numbering."""
    sim.drop_connections()
    assert sim.core.release_held(None) == 1
    sim.restart_numbering(1)


async def test_modify_applied_when_its_answer_is_lost_in_a_failover_then_asked_and_replaced() -> None:
    workdir = short_tmp()
    sim = BoeSimulator(SimulatorConfig(exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS)))
    await sim.start()
    process = await _started(workdir, sim)
    try:
        async with GatewayClient(Path(process.config.path(process.config.strategy_socket)), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
            sim.core.hold = True
            await order.replace(150, "229.00")
            await wait_for(lambda: len(sim.core.held) == 1, what="Modify held at Cboe")
            _failover(sim)
            [(working, resting)] = sim.exchange.orders.items()
            assert resting.order_qty == 150  # Cboe applied it; its Order Modified is gone
            await wait_for(lambda: order.qty == 150, timeout_s=15, what="Replaced")  # old: CancelRejected
            assert not any(isinstance(e, CancelRejected) for e in order.events)
            assert (order.status, order.leaves_qty) == (OrderStatus.LIVE, 150)
            adapter = _adapter(process)
            assert adapter.status()["renumbered_asks"] == 1
            [(asked, _resting)] = sim.exchange.orders.items()  # Cboe knows it by the asking Modify's ClOrdID
            assert asked != working
            assert sim.execute(asked, 150)
            await wait_for(lambda: order.status is OrderStatus.FILLED, what="filled")
            assert process.engine is not None
            engine_order = process.engine.orders[1]
            assert (engine_order.qty, engine_order.cum_qty) == (150, 150)  # old: 150 filled against 100
            assert sim.exchange.orders == {}  # (``violations`` lists the copy: the in-doubt re-send, by design)
    finally:
        await process.stop()
        await sim.stop()


async def test_cancel_applied_when_its_answer_is_lost_in_a_failover_then_the_order_ends_canceled() -> None:
    workdir = short_tmp()
    sim = BoeSimulator(SimulatorConfig(exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS)))
    await sim.start()
    process = await _started(workdir, sim)
    try:
        async with GatewayClient(Path(process.config.path(process.config.strategy_socket)), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
            sim.core.hold = True
            await order.cancel()
            await wait_for(lambda: len(sim.core.held) == 1, what="Cancel held at Cboe")
            _failover(sim)
            assert sim.exchange.orders == {}  # Cboe canceled it; its Order Cancelled is gone
            await wait_for(lambda: order.status is OrderStatus.CANCELED, timeout_s=15, what="Canceled")  # old: LIVE
            [end] = [e for e in order.events if isinstance(e, Canceled)]
            assert end.reason == "BOE_ANSWER_LOST" and "reconcile" in end.text
            assert not any(isinstance(e, CancelRejected) for e in order.events)
            assert process.engine is not None and process.engine.orders[1].state is OrderState.CANCELED
    finally:
        await process.stop()
        await sim.stop()
