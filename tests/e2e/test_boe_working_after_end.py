"""Over loopback TCP against the project's BOE simulator (late41boe): an order Cboe works after it ended here, seen
by a gateway restarted from its journal, is canceled at Cboe.

Order 100; a Modify to 150 is received by Cboe and held; the connection is cut, the copy re-sent after the
re-login is refused as a duplicate at once, and a fill of 100 (LeavesQty 0) comes meanwhile. At the in-doubt
deadline (5 s) the gateway reports the Modify refused and the order ends FILLED. The gateway restarts (SIGTERM's
stop, then a new process from the journal); then Cboe applies the Modify after all: 50 open again. The restarted
adapter does not map the order (only open orders are restored); before late41boe the Order Modified was an
unknown ClOrdID and the 50 shares worked at Cboe, tracked nowhere, until the end of the day.
"""

from __future__ import annotations

from pathlib import Path

from gateway.app import GatewayProcess
from gateway.client import GatewayClient, OrderStatus
from gateway.protocol.messages import CancelRejected
from model.enums import Side
from model.venue_events import VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, short_tmp, wait_for
from tests.e2e.test_boe_pipeline import REFS, UNITS, boe_gateway_config
from venues.boe.adapter import BoeVenue


async def _started(workdir: Path, sim: BoeSimulator) -> GatewayProcess:
    process = GatewayProcess(boe_gateway_config(workdir, sim.port, e2e_limits(workdir, ["S1"])))
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
    return process


def _adapter(process: GatewayProcess) -> BoeVenue:
    [venue] = process.venues
    assert isinstance(venue, BoeVenue)
    return venue


async def test_modify_lapsed_when_cboe_applies_it_after_the_order_filled_and_a_restart_then_canceled_there() -> None:
    workdir = short_tmp()
    sim = BoeSimulator(
        SimulatorConfig(
            exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS, modify_reopens_filled=True)
        )
    )
    await sim.start()
    process = await _started(workdir, sim)
    try:
        async with GatewayClient(Path(process.config.path(process.config.strategy_socket)), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
            [cl_ord_id] = list(sim.exchange.orders)
            sim.core.hold = True  # Cboe receives the Modify and processes nothing yet
            sim.core.duplicates_first = True
            await order.replace(150, "229.00")
            await wait_for(lambda: len(sim.core.held) == 1, what="Modify held at Cboe")
            sim.drop_connections()
            await wait_for(
                lambda: any(r.outcome.endswith(":held-duplicate") for r in sim.exchange.records),
                what="the copy refused as a duplicate",
            )
            sim.execute(cl_ord_id, 100)  # LeavesQty 0 at Cboe, the Modify still held
            await wait_for(lambda: order.status is OrderStatus.FILLED, timeout_s=10, what="the in-doubt deadline")
            assert any(isinstance(e, CancelRejected) and e.code == "BOE_ANSWER_LOST" for e in order.events)
            assert sim.exchange.orders == {}
        await process.stop()
        process = await _started(workdir, sim)  # a new process, from the journal: the FILLED order is not restored
        [connection] = [c for c in sim.core.connections if not c.closed]
        assert sim.core.release_held(connection) == 1  # Cboe applies the Modify after all: 50 open there
        sim.flush_all()
        await wait_for(lambda: sim.exchange.orders == {}, what="the order canceled at Cboe")  # old code: 50 left
        status = _adapter(process).status()
        assert (status["live_after_end"], status["unknown_cl_ord_id"]) == (1, 0)
        await wait_for(
            lambda: _adapter(process).status()["late_cancels_waiting"] == 0, what="Cboe's answer to the Cancel"
        )
        assert _adapter(process).status()["after_end"] == 1
        assert process._venue_metrics()["venue_orders_live_after_end_total"] == 1
        assert sim.exchange.violations == []
        assert process.engine is not None and process.engine.orders[1].state.name == "FILLED"
    finally:
        await process.stop()
        await sim.stop()
