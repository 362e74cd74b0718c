"""A standby host that took over, then died unclean with its orders lost from the journal's tail (ouchid54).

The takeover raises the engine's order ids above the ClOrdIDs of the day's earlier traffic (standby53), after the
start wrote its open marker (the start-up id). After a kill -9 (``fsync: none``/``interval``) the records of the
orders entered since may be gone from the journal: the next start skips ``ORDER_ID_MARGIN`` (4,194,304) past the
journal's last id and the marker's, then only lifts the ids to just above the takeover's floor (``order_id_floor``,
the OUCH state file's ``order_ids``) when that floor lies above. A floor more than the margin above the start-up id
gave ids from floor + 1 on again: ClOrdIDs the lost orders had been entered under. Now the margin counts from the
venue floor too (``first_order_id``). Real gateways (``GatewayProcess``) and the strict OUCH simulator over loopback.
"""

from __future__ import annotations

from pathlib import Path

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.protocol.messages import OrderAccepted
from gateway.recovery import ORDER_ID_MARGIN, mark_journal_open, read_open_marker
from model.enums import Side
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, short_tmp, wait_for

PORT = 49731  # this suite's range (49700-49799)
PRIMARY_IDS = 5_000_000  # the primary's last order id: more than ORDER_ID_MARGIN above the standby's start (1)


def _sock(process: GatewayProcess) -> Path:
    config = process.config
    return Path(config.path(config.strategy_socket))


def _entered(sim: OuchSimulator) -> list[str]:
    """Return the ClOrdIDs of the Enter Orders the venue received today, in order (whichever host sent them)."""
    return [r.cl_ord_id.strip() for r in sim.exchange.records if r.type == "O"]


async def _start(workdir: Path, sim: OuchSimulator) -> GatewayProcess:
    config = gateway_config(workdir, sim.port, Path())
    process = GatewayProcess(gateway_config(workdir, sim.port, e2e_limits(workdir, config.strategies)))
    await process.start()
    await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP", timeout_s=15)
    return process


async def _trade(process: GatewayProcess, orders: int) -> None:
    async with GatewayClient(_sock(process), "S1") as client:
        for _ in range(orders):
            events = (await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, "229.00")).events
            await wait_for(lambda: any(isinstance(e, OrderAccepted) for e in events), what="accepted")  # noqa: B023


async def test_standby_floor_above_margin_when_it_dies_and_its_journal_lost_orders_then_no_cl_ord_id_reused() -> None:
    exchange = ExchangeConfig(reference_prices={"AAPL": 2_301_000}, strict_user_ref_num=True)
    sim = OuchSimulator(SimulatorConfig(exchange=exchange, port=PORT))
    await sim.start()
    try:
        primary = await _start(short_tmp(), sim)
        try:
            assert primary.engine is not None
            primary.engine.next_order_id = PRIMARY_IDS - 1  # a long day: ClOrdIDs 4999999, 5000000
            await _trade(primary, 2)
        finally:
            await primary.stop()

        workdir = short_tmp()
        standby = await _start(workdir, sim)  # takes over: its ids start above 5000000 (standby53)
        try:
            journal = standby._journal_marked
            assert journal is not None
            first_id = read_open_marker(journal)
            assert first_id == 1  # its start-up id, on file before the takeover raised the ids
            before = journal.read_bytes()  # the journal before its orders: what a kill -9 may leave of it
            await _trade(standby, 2)
        finally:
            await standby.stop()
        assert _entered(sim)[-2:] == [str(PRIMARY_IDS + 1), str(PRIMARY_IDS + 2)]
        # a kill -9 under fsync none: the open marker stays, the orders' records are gone from the journal's tail
        journal.write_bytes(before)
        assert mark_journal_open(journal, first_id) is None

        again = await _start(workdir, sim)
        try:
            recovery = again.recovery
            assert recovery["stopped_cleanly"] is False
            assert again.engine is not None
            assert again.engine.next_order_id == PRIMARY_IDS + 1 + ORDER_ID_MARGIN  # old: 5000001, used again
            await _trade(again, 1)
        finally:
            await again.stop()
        entered = _entered(sim)
        assert len(entered) == len(set(entered)), entered  # no ClOrdID entered twice
        assert entered[-1] == str(PRIMARY_IDS + 1 + ORDER_ID_MARGIN)
        assert sim.exchange.violations == []
    finally:
        await sim.stop()
