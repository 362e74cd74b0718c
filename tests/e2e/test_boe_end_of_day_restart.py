"""Over loopback TCP against the project's BOE simulator (fixboe53, rev53boe s22): Cboe's end of the day is
remembered across a restart.

Cboe ends the day (Logout ``E``); a Cancel is refused ``VENUE_SESSION_ENDED`` at once. The gateway stops
(SIGTERM's stop) and starts again the same trading day. Before, the new process logged in again, Cboe refused it
(the simulator answers ``D`` after its end of day, as Cboe refuses logins then), the venue ended LOGIN_REFUSED with
advice to "ask Cboe to enable the session", and the same Cancel was held unanswered. Now the end of the day is on
file (``<state_dir>/CBOE.boe-endofday.json``): the new process does not connect, the venue is ENDED from the start,
the Cancel is refused ``VENUE_SESSION_ENDED`` at once and a new order ``VENUE_UNAVAILABLE``, as before the restart.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.protocol.messages import CancelRejected, OrderAccepted, OrderRejected
from model.enums import Side
from model.venue_events import VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.server import BoeServerConnection
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, short_tmp, wait_for
from tests.e2e.test_boe_pipeline import REFS, UNITS, boe_gateway_config
from venues.boe.adapter import BoeVenue


def _adapter(process: GatewayProcess) -> BoeVenue:
    [venue] = process.venues
    assert isinstance(venue, BoeVenue)
    return venue


def _socket(process: GatewayProcess) -> Path:
    return Path(process.config.path(process.config.strategy_socket))


async def test_end_of_day_when_the_gateway_restarts_the_same_day_then_the_venue_stays_ended() -> None:
    workdir = short_tmp()
    sim = BoeSimulator(SimulatorConfig(exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS)))
    await sim.start()
    connects: list[int] = []
    connect = sim.core.connect

    def counted(now_ns: int) -> BoeServerConnection:
        connects.append(now_ns)
        return connect(now_ns)

    sim.core.connect = counted  # type: ignore[method-assign]
    config = boe_gateway_config(workdir, sim.port, e2e_limits(workdir, ["S1"]))
    process = GatewayProcess(config)
    await process.start()
    try:
        await wait_for(lambda: _adapter(process).state is VenueState.UP, what="venue UP")
        async with GatewayClient(_socket(process), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
            sim.end_of_day()
            await wait_for(lambda: _adapter(process).state is VenueState.ENDED, what="venue ENDED")
            await client.cancel(order)
            await wait_for(lambda: any(isinstance(e, CancelRejected) for e in order.events), what="cancel refused")
            [refused] = [e for e in order.events if isinstance(e, CancelRejected)]
            assert refused.code == "VENUE_SESSION_ENDED"
        mark = json.loads((workdir / "boe" / "CBOE.boe-endofday.json").read_text())
        assert mark["reason"] == "E" and mark["day"] == _adapter(process)._day
        await process.stop()
        assert len(connects) == 1
        assert process.engine is not None
        numbered = process.engine.strategies["S1"].next_seq  # the stop's own cancel (on_disconnect) was refused too
        process = GatewayProcess(config)  # the same trading day, from the journal
        await process.start()
        await wait_for(lambda: _adapter(process).state is VenueState.ENDED, what="venue ENDED after the restart")
        assert "ended for the day before a restart (Logout 'E'" in _adapter(process).reason
        assert len(connects) == 1  # no login tried (the old code: logged in, refused D, LOGIN_REFUSED)
        async with GatewayClient(_socket(process), "S1") as client:
            await wait_for(lambda: order.cl_ord_id in client.orders, what="the order replayed")
            await client.cancel(order.cl_ord_id)
            again = client.orders[order.cl_ord_id]
            await wait_for(
                lambda: any(isinstance(e, CancelRejected) and e.seq >= numbered for e in again.events),
                timeout_s=5,
                what="the Cancel refused at once",  # the old code: held, unanswered
            )
            assert {e.code for e in again.events if isinstance(e, CancelRejected)} == {"VENUE_SESSION_ENDED"}
            late = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            final = await late.wait_done(timeout=5)
            assert isinstance(final, OrderRejected) and final.code == "VENUE_UNAVAILABLE"
        assert len(connects) == 1
        assert [r.type for r in sim.exchange.records] == ["New Order"]  # nothing else reached Cboe
    finally:
        await process.stop()
        await sim.stop()
