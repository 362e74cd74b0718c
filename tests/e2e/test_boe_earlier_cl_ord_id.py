"""Over loopback TCP against the project's BOE simulator (boefix41, rev41boe item 3): after a gateway restart, Cboe
reports an open order under an earlier ClOrdID of it (its New Order's, or an earlier Modify's).

Order 100, modified to 150 then to 200 (each Modify gives it a new ClOrdID); the gateway restarts (a new process
from the journal), which maps the order only by the ClOrdID it is known by now. Cboe then executes 30 and cancels
the order under an earlier ClOrdID. The process that sent those ClOrdIDs maps every one of them and applies both;
before boefix41 the restarted one took the Order Cancelled for an unknown ClOrdID (logged, counted): the order stayed
open here with 170 shares while Cboe held nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pytest

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
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
    config.strategies["S1"] = msgspec.structs.replace(config.strategies["S1"], on_disconnect="keep")  # order stays
    process = GatewayProcess(config)
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
    return process


def _adapter(process: GatewayProcess) -> BoeVenue:
    [venue] = process.venues
    assert isinstance(venue, BoeVenue)
    return venue


def _rename(sim: BoeSimulator, cl_ord_id: str) -> None:
    """Have Cboe's one order report under ``cl_ord_id`` from now on (a message it made before the Modify)."""
    [(latest, resting)] = sim.exchange.orders.items()
    del sim.exchange.orders[latest]
    resting.cl_ord_id = cl_ord_id
    sim.exchange.orders[cl_ord_id] = resting


def _not_applied(adapter: BoeVenue) -> int:
    """Return how many messages named a ClOrdID no tracked order has (unknown, or of an order ended here)."""
    status = adapter.status()
    unknown, after_end = status["unknown_cl_ord_id"], status.get("after_end", 0)
    assert isinstance(unknown, int) and isinstance(after_end, int)
    return unknown + after_end


@pytest.mark.parametrize("earlier", [0, 1])
async def test_order_reported_under_an_earlier_cl_ord_id_after_a_restart_then_filled_and_canceled_here(
    earlier: int,
) -> None:
    workdir = short_tmp()
    sim = BoeSimulator(SimulatorConfig(exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS)))
    await sim.start()
    process = await _started(workdir, sim)
    try:
        ids: list[str] = []
        async with GatewayClient(Path(process.config.path(process.config.strategy_socket)), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
            ids.extend(sim.exchange.orders)
            await order.replace(150, "229.00")
            await wait_for(lambda: order.qty == 150, what="Replaced to 150")
            ids.extend(sim.exchange.orders)
            await order.replace(200, "229.00")
            await wait_for(lambda: order.qty == 200, what="Replaced to 200")
            ids.extend(sim.exchange.orders)
        assert len(set(ids)) == 3  # the New Order's ClOrdID and the two Modifies'
        await process.stop()
        process = await _started(workdir, sim)  # a new process, from the journal
        assert process.engine is not None
        restored = process.engine.orders[1]
        assert (restored.state, restored.qty, restored.leaves_qty) == (OrderState.LIVE, 200, 200)
        _rename(sim, ids[earlier])
        assert sim.execute(ids[earlier], 30)
        await wait_for(lambda: restored.cum_qty == 30, what="the execution applied")
        assert (restored.state, restored.leaves_qty) == (OrderState.LIVE, 170)
        assert sim.exchange.cancel(ids[earlier], "A")  # Cboe cancels it (administrative), under that ClOrdID
        sim.flush_all()
        await wait_for(lambda: restored.state is OrderState.CANCELED, what="the order canceled here")  # old: LIVE
        assert (restored.cum_qty, restored.leaves_qty) == (30, 0)
        status = _adapter(process).status()
        assert (status["unknown_cl_ord_id"], status["executions_after_end"], status["open_orders"]) == (0, 0, 0)
        assert sim.exchange.orders == {} and sim.exchange.violations == []
    finally:
        await process.stop()
        await sim.stop()


async def test_modify_cl_ord_id_of_this_process_that_it_never_sent_after_a_restart_then_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only an earlier process's Modify ClOrdIDs are read for the order id: this process maps every one it sent.

    A ClOrdID not of this gateway is unknown; the WARNING names it as text (before boefix41 an Order Cancelled or
    Order Acknowledgment printed the 20 NUL-padded bytes, ``b'ZZFOREIGN\\x00...'``).
    """
    workdir = short_tmp()
    sim = BoeSimulator(SimulatorConfig(exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS)))
    await sim.start()
    process = await _started(workdir, sim)
    try:
        async with GatewayClient(Path(process.config.path(process.config.strategy_socket)), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            await order.wait_accepted(timeout=15)
        [original] = list(sim.exchange.orders)
        await process.stop()
        process = await _started(workdir, sim)
        adapter = _adapter(process)
        never_sent = f"{original}.{adapter.status()['start_of_day']}.7"
        resting = sim.exchange.orders[original]
        _rename(sim, never_sent)
        assert sim.exchange.cancel(never_sent, "A")
        sim.flush_all()
        await wait_for(lambda: _not_applied(adapter) == 1, what="the Order Cancelled counted, not applied")
        assert process.engine is not None and process.engine.orders[1].state is OrderState.LIVE
        resting.leaves = 100
        sim.exchange.orders[never_sent] = resting  # Cboe's order again, under a ClOrdID of no gateway of ours
        _rename(sim, "ZZFOREIGN")
        caplog.set_level(logging.WARNING, logger="venues.boe.adapter")
        assert sim.exchange.cancel("ZZFOREIGN", "A")
        sim.flush_all()
        await wait_for(lambda: _not_applied(adapter) == 2, what="the foreign ClOrdID counted")
        [line] = [r.getMessage() for r in caplog.records if "ZZFOREIGN" in r.getMessage()]
        assert "for unknown ClOrdID 'ZZFOREIGN'" in line, line
    finally:
        await process.stop()
        await sim.stop()
