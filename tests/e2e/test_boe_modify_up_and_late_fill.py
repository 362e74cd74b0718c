"""Over loopback TCP against the project's BOE simulator (boefix38): the gateway process, the SDK, the real risk engine.

D1: a Modify raising the quantity crossed by a fill of everything (LeavesQty 0), which Cboe then applies to the
open quantity (the simulator's ``modify_reopens_filled``): the order stays open, the later fill counts and the
strategy's Cancel reaches Cboe (nothing is left working there). D2: a fill Cboe reports after Order Cancelled
counts in the position, and still does after the gateway restarts from its journal.
"""

from __future__ import annotations

from pathlib import Path

from gateway.app import GatewayProcess
from gateway.client import GatewayClient, OrderStatus
from gateway.protocol.messages import Canceled, Executed
from gateway.protocol.prices import to_fixed
from model.enums import Side
from model.venue_events import VenueState
from risk.engine import RiskEngine
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, short_tmp, wait_for
from tests.e2e.test_boe_pipeline import REFS, UNITS, boe_gateway_config
from venues.boe.messages import OrderExecution, ReturnFields


def _position(process: GatewayProcess) -> int:
    risk = process.risk
    assert isinstance(risk, RiskEngine)
    return risk.position("ACC1", "AAPL").position


async def _started(workdir: Path, sim: BoeSimulator) -> GatewayProcess:
    process = GatewayProcess(boe_gateway_config(workdir, sim.port, e2e_limits(workdir, ["S1"])))
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
    return process


async def _simulator(**exchange: object) -> BoeSimulator:
    sim = BoeSimulator(
        SimulatorConfig(exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS, **exchange))  # type: ignore[arg-type]
    )
    await sim.start()
    return sim


async def test_modify_up_when_a_fill_takes_everything_before_cboe_applies_it_then_the_rest_is_tracked() -> None:
    workdir = short_tmp()
    sim = await _simulator(modify_reopens_filled=True)
    process = await _started(workdir, sim)
    start = _position(process)  # the limits file's start-of-day position
    try:
        async with GatewayClient(Path(process.config.path(process.config.strategy_socket)), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
            [cl_ord_id] = list(sim.exchange.orders)
            sim.core.hold = True  # Cboe has the Modify, not processed yet
            await order.replace(150, "229.00")
            await wait_for(lambda: len(sim.core.held) == 1, what="Modify held at Cboe")
            sim.execute(cl_ord_id, 100)  # LeavesQty 0
            await wait_for(lambda: order.cum_qty == 100, what="the fill of 100")
            assert order.status is not OrderStatus.FILLED and order.leaves_qty == 50  # the old code: FILLED, 0
            sim.core.release_held(sim.core.connections[-1])  # Order Modified: 50 open at Cboe
            sim.flush_all()
            await wait_for(lambda: order.qty == 150, what="Replaced")
            [modified] = list(sim.exchange.orders)
            sim.execute(modified, 30)
            await wait_for(lambda: order.cum_qty == 130, what="the fill of 30")
            await order.cancel()
            final = await order.wait_done(timeout=15)
            assert isinstance(final, Canceled) and final.canceled_qty == 20 and final.leaves_qty == 0
        assert sim.exchange.orders == {}  # the old code: 20 shares left working at Cboe
        assert sim.exchange.violations == []
        assert _position(process) - start == 130
    finally:
        await process.stop()
        await sim.stop()


async def test_execution_when_cboe_reports_it_after_order_cancelled_then_counted_also_after_a_restart() -> None:
    workdir = short_tmp()
    sim = await _simulator()
    process = await _started(workdir, sim)
    start = _position(process)
    try:
        sock = Path(process.config.path(process.config.strategy_socket))
        async with GatewayClient(sock, "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
            [cl_ord_id] = list(sim.exchange.orders)
            sim.execute(cl_ord_id, 10)
            sim.exchange.cancel(cl_ord_id, "U")
            late = OrderExecution(
                0, 0, 1, cl_ord_id, 990_001, 5, to_fixed("229.00"), 0, "A", "", "SIMU", ReturnFields()
            )
            sim.streams.append(UNITS["AAPL"], late)  # a routed fill Cboe reports after the Order Cancelled
            sim.flush_all()
            await wait_for(lambda: order.cum_qty == 15, what="the late fill")
            assert [type(e).__name__ for e in order.events[-3:]] == ["Executed", "Canceled", "Executed"]
            last = order.events[-1]
            assert isinstance(last, Executed) and (last.qty, last.leaves_qty) == (5, 0)
            assert order.status is OrderStatus.CANCELED
        assert _position(process) - start == 15  # the old code: 10
        await process.stop()
        process = await _started(workdir, sim)
        assert _position(process) - start == 15
        assert process.engine is not None and process.engine.orders[1].cum_qty == 15
    finally:
        await process.stop()
        await sim.stop()
