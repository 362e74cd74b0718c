"""End to end on BOE: strategy (SDK) -> gateway -> risk -> BOE adapter -> the `gateway sim boe` core over TCP, and back.

The same events and guarantees as the OUCH pipeline tests (``test_pipeline.py``): fills, partial
fills, modify, cancel, rejects with their codes, and a venue that cuts the session mid-stream
repeatedly with replay, no event lost or repeated, and no request sent to the venue twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayProcess
from gateway.client import GatewayClient, OrderStatus
from gateway.config import GatewayConfig, JournalConfig
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.messages import Canceled, CancelRejected, Executed, OrderAccepted, OrderEvent, OrderRejected
from gateway.protocol.prices import to_fixed
from model.enums import OrderType, RejectSource, Side, TimeInForce
from model.venue_events import VenueState
from simulators.boe.exchange import BoeExchangeConfig
from simulators.boe.simulator import BoeSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, short_tmp, wait_for

REFS = {"AAPL": to_fixed("230.10"), "MSFT": to_fixed("420.55"), "SPY": to_fixed("580.25")}
UNITS = {"AAPL": 1, "MSFT": 2, "SPY": 3}


def boe_gateway_config(workdir: Path, port: int, limits: Path, **venue: Any) -> GatewayConfig:
    """Return a gateway config with one BOE venue named CBOE on ``port``."""
    return GatewayConfig(
        gateway_id="e2e",
        strategy_socket=str(workdir / "s.sock"),
        admin_socket=str(workdir / "a.sock"),
        state_dir=str(workdir / "state"),
        risk_limits=str(limits),
        risk_audit_log=str(workdir / "audit.jsonl"),
        journal=JournalConfig(directory=str(workdir / "journal"), fsync="none"),  # type: ignore[arg-type]
        strategies={"S1": StrategyEntitlement(accounts=["ACC1", "ACC2"], uids=[os.getuid()])},
        venues=[
            {
                "protocol": "boe",
                "name": "CBOE",
                "host": "127.0.0.1",
                "port": port,
                "session_sub_id": "0001",
                "username": "USER",
                "password": "PASS",
                "state_dir": str(workdir / "boe"),
                "reconnect_initial_ms": 20,
                "reconnect_max_ms": 200,
                **venue,
            }
        ],
        base_dir=str(workdir),
    )


@contextlib.asynccontextmanager
async def running_boe_gateway(
    workdir: Path, *, drop_after: int | None = None, **exchange: Any
) -> AsyncIterator[tuple[GatewayProcess, BoeSimulator]]:
    """Start a BOE simulator (three matching units) and a gateway connected to it; stop both afterwards."""
    sim = BoeSimulator(
        SimulatorConfig(
            drop_after=drop_after,
            exchange=BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS, **exchange),
        )
    )
    await sim.start()
    limits = e2e_limits(workdir, ["S1"])
    process = GatewayProcess(boe_gateway_config(workdir, sim.port, limits))
    try:
        await process.start()
        await wait_for(lambda: all(v.state is VenueState.UP for v in process.venues), what="venue UP")
        yield process, sim
    finally:
        await process.stop()
        await sim.stop()


def _sock(process: GatewayProcess) -> Path:
    config = process.config
    return Path(config.path(config.strategy_socket))


async def test_order_when_marketable_then_accepted_filled_and_entered_once_at_cboe() -> None:
    async with running_boe_gateway(short_tmp()) as (process, sim):
        async with GatewayClient(_sock(process), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "230.15")
            final = await order.wait_done(timeout=15)
            assert isinstance(final, Executed) and final.price == REFS["AAPL"] and final.leaves_qty == 0
            assert [type(e) for e in order.events] == [OrderAccepted, Executed]
        entered = [r for r in sim.exchange.records if r.type == "New Order"]
        assert len(entered) == 1 and (entered[0].symbol, entered[0].qty) == ("AAPL", 100)


async def test_partial_fills_when_venue_executes_in_pieces_then_strategy_sees_each_and_the_total() -> None:
    async with running_boe_gateway(short_tmp()) as (process, sim):
        async with GatewayClient(_sock(process), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "MSFT", Side.SELL, 300, "421.00")
            await order.wait_accepted(timeout=15)
            [cl_ord_id] = list(sim.exchange.orders)
            for qty in (100, 120, 80):
                sim.execute(cl_ord_id, qty)
            final = await order.wait_done(timeout=15)
            assert isinstance(final, Executed) and final.leaves_qty == 0
            assert [e.qty for e in order.events if isinstance(e, Executed)] == [100, 120, 80]
            assert order.cum_qty == 300 and order.status is OrderStatus.FILLED


async def test_modify_and_cancel_when_order_rests_then_venue_and_strategy_agree() -> None:
    async with running_boe_gateway(short_tmp()) as (process, sim):
        async with GatewayClient(_sock(process), "S1") as client:
            order = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            assert isinstance(await order.wait_accepted(timeout=15), OrderAccepted)
            await order.replace(300, "229.50")
            await wait_for(lambda: order.qty == 300, what="Replaced")
            assert order.price == to_fixed("229.50") and order.leaves_qty == 300
            await order.replace(200, "229.40")
            await wait_for(lambda: order.qty == 200, what="second Replaced")
            await order.cancel()
            final = await order.wait_done(timeout=15)
            assert isinstance(final, Canceled) and final.leaves_qty == 0 and final.reason == "USER_REQUESTED"
        assert sim.exchange.orders == {}
        modifies = [r for r in sim.exchange.records if r.type == "Modify Order"]
        assert len({r.cl_ord_id for r in modifies}) == 2
        assert sim.exchange.violations == []


async def test_rejects_when_venue_refuses_then_strategy_gets_the_mapped_codes() -> None:
    async with running_boe_gateway(
        short_tmp(), reject_symbols=frozenset({"SPY"}), cancel_reject_symbols=frozenset({"MSFT"})
    ) as (process, _sim):
        async with GatewayClient(_sock(process), "S1") as client:
            spy = await client.submit("ACC1", "CBOE", "SPY", Side.BUY, 10, "580.00")
            final = await spy.wait_done(timeout=15)
            assert isinstance(final, OrderRejected)
            assert (final.source, final.code) == (RejectSource.VENUE, "UNKNOWN_SYMBOL")
            msft = await client.submit("ACC1", "CBOE", "MSFT", Side.BUY, 10, "400.00")
            await msft.wait_accepted(timeout=15)
            await msft.cancel()
            await wait_for(lambda: any(isinstance(e, CancelRejected) for e in msft.events), what="CancelRejected")
            rejected = next(e for e in msft.events if isinstance(e, CancelRejected))
            assert (rejected.source, rejected.code) == (RejectSource.VENUE, "TOO_LATE_TO_CANCEL")
            assert msft.status is OrderStatus.LIVE


async def test_risk_and_venue_checks_when_order_refused_then_strategy_told_and_cboe_never_sees_it() -> None:
    async with running_boe_gateway(short_tmp()) as (process, sim):
        async with GatewayClient(_sock(process), "S1") as client:
            big = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 10_001, "230.10")
            final = await big.wait_done(timeout=15)
            assert isinstance(final, OrderRejected) and (final.source, final.code) == (RejectSource.RISK, "MAX_QTY")
            odd = await client.submit("ACC1", "CBOE", "TOOLONGSYM", Side.BUY, 10, "230.10")
            final = await odd.wait_done(timeout=15)
            assert isinstance(final, OrderRejected)
            assert (final.source, final.code) == (RejectSource.GATEWAY, "BOE_SYMBOL")
        assert sim.exchange.records == []


async def test_ioc_and_market_when_sent_then_ioc_remainder_canceled_and_market_filled() -> None:
    async with running_boe_gateway(short_tmp()) as (process, _sim):
        async with GatewayClient(_sock(process), "S1") as client:
            ioc = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00", tif=TimeInForce.IOC)
            final = await ioc.wait_done(timeout=15)
            assert isinstance(final, Canceled) and final.reason == "NO_LIQUIDITY"
            market = await client.submit(
                "ACC1", "CBOE", "AAPL", Side.BUY, 100, None, ord_type=OrderType.MARKET, tif=TimeInForce.IOC
            )
            final = await market.wait_done(timeout=15)
            assert isinstance(final, (Executed, OrderRejected)), final


@pytest.mark.slow
async def test_venue_connection_when_cut_mid_stream_repeatedly_then_nothing_lost_twice_or_resent_to_cboe() -> None:
    """The OUCH acceptance test on BOE: the simulator cuts the gateway repeatedly during a flow of orders."""
    async with running_boe_gateway(short_tmp(), drop_after=37, fill_ratio=0.7, partial_fills=True, seed=3) as (
        process,
        sim,
    ):
        async with GatewayClient(_sock(process), "S1") as client:
            events: list[OrderEvent] = []

            async def collect() -> None:
                async for message in client.events():
                    if hasattr(message, "seq"):
                        events.append(message)  # type: ignore[arg-type]

            watcher = asyncio.ensure_future(collect())
            handles = []
            venue = process.venues[0]
            for i in range(300):
                await wait_for(lambda: venue.state is VenueState.UP, what="venue back up")
                symbol = ("AAPL", "MSFT", "SPY")[i % 3]
                price = REFS[symbol] + (500 if i % 3 else -50_000)
                handles.append(
                    await client.submit("ACC1", "CBOE", symbol, Side.BUY, 100 + i % 5 * 100, price_ticks=price)
                )
                if i % 10 == 9:
                    await asyncio.sleep(0.002)
            await wait_for(lambda: all(h.events for h in handles), timeout_s=20, what="first answers")
            await client.mass_cancel()
            await wait_for(lambda: all(h.is_terminal for h in handles), timeout_s=20, what="terminal orders")
            await asyncio.sleep(0.05)
            watcher.cancel()

        assert process.connectors[0].connections > 3, "the simulator should have cut the session several times"
        seqs = [e.seq for e in events]
        assert seqs == list(range(1, len(seqs) + 1)), "events to the strategy are gap-free and never repeated"
        fills_at_venue = sum(type(m).__name__ == "OrderExecution" for m in sim.core.outbound())
        assert sum(isinstance(e, Executed) for e in events) == fills_at_venue
        in_flight = []
        for handle in handles:
            kinds = [type(e) for e in handle.events]
            if kinds == [OrderRejected] and getattr(handle.events[0], "code", "") == "VENUE_UNAVAILABLE":
                continue
            in_flight.append(handle)
            assert kinds.count(OrderAccepted) == 1
            terminal = [e for e in handle.events if isinstance(e, (Executed, Canceled)) and e.leaves_qty == 0]
            assert len(terminal) == 1
            assert sum(e.qty for e in handle.events if isinstance(e, Executed)) == handle.cum_qty
        entered = [r for r in sim.exchange.records if r.type == "New Order"]
        assert len(in_flight) > len(handles) // 2
        assert len({r.cl_ord_id for r in entered}) == len(in_flight) == len(entered), "each order entered once"
        assert sim.exchange.violations == []


async def test_gateway_stop_when_venue_up_then_logout_request_sent_and_answered_before_the_connection_closes() -> None:
    workdir = short_tmp()
    exchange = BoeExchangeConfig(units=3, symbol_units=UNITS, reference_prices=REFS)
    sim = BoeSimulator(SimulatorConfig(exchange=exchange))
    await sim.start()
    try:
        process = GatewayProcess(boe_gateway_config(workdir, sim.port, e2e_limits(workdir, ["S1"])))
        await process.start()
        await wait_for(lambda: process.venues[0].state is VenueState.UP, what="venue UP")
        (connection,) = sim.core.connections
        await process.stop()  # what SIGTERM runs
        assert connection.reason == "logout U: User requested"  # Cboe's answer to our Logout Request
        assert process.venues[0].status()["session_state"] == "LOGGED_OUT"
    finally:
        await sim.stop()


async def test_modify_and_cancel_in_doubt_when_cboe_answers_the_copies_first_then_one_answer_each() -> None:
    """Cboe received a Modify and a Cancel, then the connection was cut before it answered them; after the
    re-login the gateway re-sends both (same ClOrdID) and Cboe refuses each copy (D, J) before it answers the
    originals (rev37boe s8c). The strategy gets one Replaced and one Canceled, and can cancel the modified order."""
    async with running_boe_gateway(short_tmp()) as (process, sim):
        async with GatewayClient(_sock(process), "S1") as client:
            a = await client.submit("ACC1", "CBOE", "AAPL", Side.BUY, 100, "229.00")
            b = await client.submit("ACC1", "CBOE", "MSFT", Side.SELL, 100, "421.00")
            await a.wait_accepted(timeout=15)
            await b.wait_accepted(timeout=15)
            sim.core.hold = True  # received (LastReceivedSequenceNumber counts them), not processed
            sim.core.duplicates_first = True
            await a.replace(150, "229.00")
            await b.cancel()
            await wait_for(lambda: len(sim.core.held) == 2, what="Modify and Cancel held")
            sim.drop_connections()

            def copies_refused() -> int:
                return sum(r.outcome.endswith(":held-duplicate") for r in sim.exchange.records)

            await wait_for(lambda: copies_refused() == 2, what="both copies refused")
            await asyncio.sleep(0.2)  # the refusals reach the gateway: they answer nothing yet
            assert not [e for e in (*a.events, *b.events) if isinstance(e, CancelRejected)]
            [connection] = sim.core.connections
            sim.core.release_held(connection)
            sim.flush_all()
            await wait_for(lambda: a.qty == 150, what="Replaced")
            assert isinstance(await b.wait_done(timeout=15), Canceled)
            await a.cancel()  # names the ClOrdID Cboe has the order under
            final = await a.wait_done(timeout=15)
            assert isinstance(final, Canceled) and final.reason == "USER_REQUESTED"
            assert not [e for e in (*a.events, *b.events) if isinstance(e, CancelRejected)]
            assert [type(e).__name__ for e in b.events] == ["OrderAccepted", "Canceled"]
        assert sim.exchange.orders == {}
