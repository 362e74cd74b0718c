"""OUCH End of Session (SoupBinTCP ``Z``) kept across a restart: a real gateway and the OUCH simulator over loopback.

The venue ends its session; a Cancel is refused ``VENUE_SESSION_ENDED`` at once. The gateway stops and starts again
the same trading day (rev56ouch M1: the strict venue answers every later login Login Rejected ``S``, as the
simulator does). Before, the new process logged in again and again (DISCONNECTED / CONNECTING every
``reconnect_max_ms`` for ever), the same Cancel was held unanswered and a new order said the session was CONNECTING.
Now the End of Session is on file (``<state_dir>/OUCH.endofday.json``, ``closed``): the new process does not
connect, the venue is ENDED from the start, the Cancel is refused ``VENUE_SESSION_ENDED`` at once and a new order
``VENUE_UNAVAILABLE``, as before the restart.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.protocol.messages import CancelRejected, OrderAccepted, OrderRejected
from model.enums import Side
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from simulators.ouch.soup_server import SoupServerConnection
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for


def _sock(process: GatewayProcess) -> Path:
    config = process.config
    return Path(config.path(config.strategy_socket))


async def test_end_of_session_when_the_gateway_restarts_the_same_day_then_ended_without_a_login() -> None:
    workdir = short_tmp()
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices={"AAPL": 2_301_000})))
    await sim.start()
    connects: list[int] = []
    connect = sim.core.connect

    def counted(now_ns: int) -> SoupServerConnection:
        connects.append(now_ns)
        return connect(now_ns)

    sim.core.connect = counted  # type: ignore[method-assign]
    config = gateway_config(workdir, sim.port, e2e_limits(workdir, ["S1", "S2"]))
    process = GatewayProcess(config)
    await process.start()
    try:
        await wait_for(lambda: process.venues[0].state is VenueState.UP, what="venue UP")
        async with GatewayClient(_sock(process), "S1") as client:
            order = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
            sim.end_session()
            await wait_for(lambda: process.venues[0].state is VenueState.ENDED, what="venue ENDED")
            await client.cancel(order)
            await wait_for(lambda: any(isinstance(e, CancelRejected) for e in order.events), what="cancel refused")
            assert {e.code for e in order.events if isinstance(e, CancelRejected)} == {"VENUE_SESSION_ENDED"}
        await process.stop()
        assert len(connects) == 1
        assert process.engine is not None
        numbered = process.engine.strategies["S1"].next_seq
        process = GatewayProcess(config)  # the same trading day, from the journal
        await process.start()
        await wait_for(lambda: process.venues[0].state is VenueState.ENDED, what="venue ENDED after the restart")
        assert "before a restart" in str(process.venues[0].status()["reason"])
        assert len(connects) == 1  # no login tried (old: refused S every reconnect_max_ms, for ever)
        async with GatewayClient(_sock(process), "S1") as client:
            await wait_for(lambda: order.cl_ord_id in client.orders, what="the order replayed")
            await client.cancel(order.cl_ord_id)
            again = client.orders[order.cl_ord_id]
            await wait_for(
                lambda: any(isinstance(e, CancelRejected) and e.seq >= numbered for e in again.events),
                timeout_s=5,
                what="the Cancel refused at once",  # old: held, unanswered
            )
            assert {e.code for e in again.events if isinstance(e, CancelRejected)} == {"VENUE_SESSION_ENDED"}
            late = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")
            final = await late.wait_done(timeout=5)
            assert isinstance(final, OrderRejected) and final.code == "VENUE_UNAVAILABLE"
        assert len(connects) == 1
        assert [r.type for r in sim.exchange.records] == ["O"]  # nothing else reached the venue
        mark = json.loads((workdir / "ouch" / "OUCH.endofday.json").read_text())
        assert (mark["session"], mark["closed"]) == (sim.stream.session, True)
    finally:
        await process.stop()
        await sim.stop()
