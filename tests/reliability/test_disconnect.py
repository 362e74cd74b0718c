"""Disconnect policies, venue session drops, hung and slow strategies, a venue that stops reading.

A real gateway (``GatewayProcess``) and the real OUCH simulator over loopback TCP in this event
loop, real Unix sockets to the strategies; the simulator's records are the venue's truth.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import msgspec
import pytest
import yaml

from gateway.app import GatewayProcess
from gateway.client import GatewayClient
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.framing import FrameSplitter, encode_frame, gateway_message_decoder
from gateway.protocol.messages import (
    PROTOCOL_VERSION,
    Canceled,
    Error,
    Executed,
    Hello,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    VenueStatus,
)
from gateway.server import start_strategy_server
from model.enums import Side, TimeInForce
from model.venue_events import VenueState
from simulators.ouch.exchange import ExchangeConfig
from simulators.ouch.simulator import OuchSimulator, SimulatorConfig
from tests.e2e.support import e2e_limits, gateway_config, running_gateway, short_tmp, wait_for
from tests.reliability.support import RecordingClient
from venues.base import VenueAdapter

REFS = {"AAPL": 2_301_000, "MSFT": 4_205_500}
RESTING = 2_290_000
IOC_AWAY = 2_280_000


def _strategies(policy: str = "cancel") -> dict[str, StrategyEntitlement]:
    uid = os.getuid()
    return {
        "S1": StrategyEntitlement(accounts=["ACC1"], uids=[uid], on_disconnect=policy),  # type: ignore[arg-type]
        "S2": StrategyEntitlement(accounts=["ACC2"], uids=[uid]),
    }


def _sock(process: object) -> Path:
    return Path(process.config.path(process.config.strategy_socket))  # type: ignore[attr-defined]


def _cancels(sim: object) -> list[str]:
    return [r.outcome for r in sim.exchange.records if r.type == "X"]  # type: ignore[attr-defined]


async def test_disconnect_when_policy_cancel_then_open_orders_canceled_at_venue_and_replayed_on_reconnect() -> None:
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies("cancel")) as (process, sim):
        client = RecordingClient(_sock(process), "S1")
        await client.connect()
        handles = [await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=RESTING) for i in range(3)]
        for handle in handles:
            await handle.wait_accepted(15)
        last_seq = client.last_seq
        await client.close()
        assert process.engine is not None
        engine = process.engine
        await wait_for(lambda: len(_cancels(sim)) == 3 and not engine.open_orders, what="cancels at venue")
        assert _cancels(sim) == ["canceled"] * 3
        assert not sim.exchange.orders

        async with RecordingClient(_sock(process), "S1", last_seq=last_seq) as again:
            await wait_for(lambda: len(again.order_events()) == 3, what="the cancels, replayed")
            assert [type(e) for e in again.order_events()] == [Canceled] * 3
            assert [e.seq for e in again.order_events()] == [last_seq + 1, last_seq + 2, last_seq + 3]


async def test_disconnect_when_policy_keep_then_orders_keep_working_and_fills_meanwhile_are_delivered() -> None:
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies("keep")) as (process, sim):
        client = RecordingClient(_sock(process), "S1")
        await client.connect()
        handle = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 100, price_ticks=RESTING)
        await handle.wait_accepted(15)
        last_seq = client.last_seq
        await client.close()
        await asyncio.sleep(0.05)
        assert _cancels(sim) == [] and len(sim.exchange.orders) == 1
        (urn,) = [o.user_ref_num for o in sim.exchange.orders.values()]
        assert sim.execute(urn, 40)  # a fill while the strategy is away

        async with RecordingClient(_sock(process), "S1", last_seq=last_seq) as again:
            await wait_for(lambda: len(again.order_events()) == 1, what="the fill")
            (fill,) = again.order_events()
            assert isinstance(fill, Executed) and (fill.qty, fill.leaves_qty) == (40, 60)
        assert process.engine is not None and len(process.engine.open_orders) == 1


async def test_venue_drop_when_orders_in_flight_then_strategies_told_and_orders_resolved_once_after_reconnect() -> None:
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies()) as (process, sim):
        async with RecordingClient(_sock(process), "S1") as client, RecordingClient(_sock(process), "S2") as other:
            venue = process.venues[0]
            handles = [
                client.submit_nowait(
                    "ACC1", "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=RESTING if i % 2 else 2_302_000
                )
                for i in range(20)
            ]
            sim.drop_connections()  # cut while the orders are on their way
            await wait_for(lambda: venue.state is not VenueState.UP, what="the drop to be seen")
            late = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 5, price_ticks=RESTING)
            await wait_for(lambda: all(h.events for h in handles), timeout_s=10, what="every order answered")
            for watcher in (client, other):
                notices = [(m.venue, m.state) for m in watcher.raw if isinstance(m, VenueStatus)]
                assert ("OUCH", "DISCONNECTED") in notices and notices[-1] == ("OUCH", "UP"), notices
            rejected = await late.wait_accepted(15)
            assert isinstance(rejected, OrderRejected) and rejected.code in ("VENUE_UNAVAILABLE", "")
            for handle in handles:
                kinds = [type(e) for e in handle.events]
                assert kinds.count(OrderAccepted) + kinds.count(OrderRejected) == 1, (handle, kinds)
            entered = [r for r in sim.exchange.records if r.type == "O" and not r.outcome.startswith("ignored")]
            assert (
                len(entered)
                == len({r.user_ref_num for r in entered})
                == sum(1 for h in handles if any(isinstance(e, OrderAccepted) for e in h.events))
            )


async def test_venue_drop_every_50_messages_at_a_strict_venue_then_no_user_ref_num_sent_twice_and_all_answered() -> (
    None
):
    exchange = ExchangeConfig(reference_prices=REFS, strict_user_ref_num=True)
    async with running_gateway(
        short_tmp(), exchange=exchange, strategies=_strategies(), sim_kwargs={"drop_after": 50}
    ) as (process, sim):
        async with RecordingClient(_sock(process), "S1") as client:
            handles = []
            for i in range(150):
                await wait_for(lambda: process.venues[0].state is VenueState.UP, timeout_s=10, what="UP")
                price = 2_302_000 if i % 3 == 0 else RESTING
                handles.append(client.submit_nowait("ACC1", "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=price))
                if i % 10 == 9:
                    await asyncio.sleep(0.002)
            await wait_for(lambda: all(h.events for h in handles), timeout_s=20, what="every order answered")
            assert sim.core.cuts >= 2
            assert sim.exchange.violations == [], (len(sim.exchange.violations), sim.exchange.violations[:3])
            for handle in handles:
                kinds = [type(e) for e in handle.events]
                assert kinds.count(OrderAccepted) + kinds.count(OrderRejected) == 1, (handle, kinds)
            entered = [r.user_ref_num for r in sim.exchange.records if r.type == "O"]
            assert len(entered) == len(set(entered))


async def test_gateway_stop_when_venue_up_then_logout_request_sent_before_the_connection_closes() -> None:
    workdir = short_tmp()
    sim = OuchSimulator(SimulatorConfig(exchange=ExchangeConfig(reference_prices=REFS)))
    await sim.start()
    try:
        config = gateway_config(workdir, sim.port, Path())
        process = GatewayProcess(gateway_config(workdir, sim.port, e2e_limits(workdir, config.strategies)))
        await process.start()
        await wait_for(lambda: process.venues[0].state is VenueState.UP, what="venue UP")
        (connection,) = sim.core.connections
        await process.stop()
        assert connection.reason == "client logged out"
        assert process.venues[0].status()["reason"] == "logged out"
    finally:
        await sim.stop()


async def test_hung_strategy_when_connected_but_silent_then_heartbeat_timeout_closes_it_and_policy_applies() -> None:
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(short_tmp(), exchange=exchange, strategies=_strategies("cancel")) as (process, sim):
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, str(_sock(process)))
        hello = Hello("S1", PROTOCOL_VERSION, 0, 100)  # heartbeat 100 ms, then never another byte
        order = NewOrder("H1", "ACC1", "OUCH", "AAPL", Side.BUY, 10, RESTING, req_seq=1)
        await loop.sock_sendall(sock, encode_frame(hello) + encode_frame(order))
        splitter, messages = FrameSplitter(), []
        while True:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
            if not data:
                break
            messages += [gateway_message_decoder.decode(f) for f in splitter.feed(data)]
        sock.close()
        errors = [m for m in messages if isinstance(m, Error)]
        assert [(e.code, e.fatal) for e in errors] == [("HEARTBEAT_TIMEOUT", True)]
        assert any(isinstance(m, OrderAccepted) for m in messages)
        await wait_for(lambda: _cancels(sim) == ["canceled"], what="the hung strategy's order canceled")


async def _restart_strategy_server(process: GatewayProcess) -> None:
    """Re-open the strategy socket with the process's (changed) config."""
    assert process.engine is not None
    old = process._servers.pop(0)
    old.close()
    config = process.config
    process._servers.insert(
        0,
        await start_strategy_server(
            process.engine,
            config.path(config.strategy_socket),
            process.clock,
            max_write_buffer=config.max_strategy_write_buffer,
        ),
    )


def _paused(venue: VenueAdapter) -> bool:
    return venue.write_paused


def _fast_limits(directory: Path) -> Path:
    """The e2e limits with throttles raised so a burst of thousands of orders passes risk."""
    path = e2e_limits(directory)
    doc = yaml.safe_load(path.read_text())
    for name in ("ACC1", "ACC2"):
        doc["accounts"][name]["orders_per_s"] = {"per_account": 100_000, "per_symbol": 100_000}
    for sid in ("S1", "S2"):
        doc["strategies"][sid]["orders_per_s"] = {"per_strategy": 100_000}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.slow
async def test_slow_consumer_when_it_stops_reading_then_cut_off_other_strategy_unaffected_and_nothing_lost() -> None:
    workdir = short_tmp()
    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(workdir, _fast_limits(workdir), exchange=exchange, strategies=_strategies("keep")) as (
        process,
        _sim,
    ):
        # A 64 KiB cut-off instead of 8 MiB, so a few thousand events are enough (new connections).
        process.config = msgspec.structs.replace(process.config, max_strategy_write_buffer=64 * 1024)
        await _restart_strategy_server(process)
        loop = asyncio.get_running_loop()
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.setblocking(False)
        await loop.sock_connect(slow, str(_sock(process)))
        orders = b"".join(
            encode_frame(
                NewOrder(
                    f"Q{i}", "ACC1", "OUCH", "AAPL", Side.BUY, 1 + i % 50, IOC_AWAY, TimeInForce.IOC, req_seq=i + 1
                )
            )
            for i in range(3000)
        )
        await loop.sock_sendall(slow, encode_frame(Hello("S1", PROTOCOL_VERSION, 0, 60_000)) + orders)
        async with GatewayClient(_sock(process), "S2") as good:  # keeps trading, with answers in time
            for i in range(20):
                handle = await good.submit("ACC2", "OUCH", "AAPL", Side.BUY, 10 + i, price_ticks=2_302_000)
                await handle.wait_done(10)  # answered while S1 is stuck (a bound for a slow machine)
        assert process.engine is not None
        st = process.engine.strategies["S1"]
        # cut when its events pass the limit, or (its requests no longer read: back-pressure, strategy-protocol.md
        # 4.6) when it has read nothing for 10 s; S2's own disconnect above is counted too
        await wait_for(lambda: st.link is None, timeout_s=25, what="the slow consumer to be cut off")
        slow.close()
        # the requests read before the cut (the rest of its write, still kept for a later loop turn, was dropped
        # with the connection, as bytes left in its socket): each IOC accepted, then canceled by the venue
        carried = st.last_req_seq
        assert 0 < carried <= 3000
        await wait_for(lambda: len(st.events) == 2 * carried, timeout_s=10, what="every IOC read done")
        # Everything it missed comes back on reconnect, exactly once and in order.
        async with RecordingClient(_sock(process), "S1") as again:
            await wait_for(lambda: len(again.order_events()) == len(st.events), timeout_s=10, what="the replay")
            assert [e.seq for e in again.order_events()] == list(range(1, len(st.events) + 1))
            assert st.last_req_seq == carried  # the Welcome says how far it got


@pytest.mark.slow
async def test_venue_not_reading_when_orders_keep_coming_then_refused_venue_backpressure_never_buffered() -> None:
    workdir = short_tmp()

    def small_send_buffer(sock: socket.socket, venue: str) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    exchange = ExchangeConfig(reference_prices=REFS)
    async with running_gateway(workdir, _fast_limits(workdir), exchange=exchange, strategies=_strategies()) as (
        process,
        sim,
    ):
        connector = process.connectors[0]
        connector.write_buffer_high = 16 * 1024
        connector.socket_hooks.append(small_send_buffer)
        for listening in sim._server.sockets if sim._server is not None else ():  # the venue's side small too: the
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # kernel stops taking bytes soon, for good
        sim.drop_connections()  # reconnect with the small buffers
        venue = process.venues[0]
        await wait_for(lambda: connector.connections == 2 and venue.state is VenueState.UP, what="reconnect")
        for protocol in sim.protocols:
            assert protocol.transport is not None
            protocol.transport.pause_reading()  # the venue stops reading

        assert process.engine is not None
        engine = process.engine
        received_before = engine.counters.orders_received
        async with RecordingClient(_sock(process), "S1") as client:
            handles = []
            for i in range(20_000):
                handles.append(client.submit_nowait("ACC1", "OUCH", "AAPL", Side.BUY, 1 + i % 900, price_ticks=RESTING))
                if i % 50 == 49:
                    await asyncio.sleep(0)
                    if _paused(venue):
                        # paused for good once the kernel's buffers are full too, judged when the gateway has read
                        # every order sent (a fixed 50 ms left orders unread on a loaded machine: read later, they
                        # were queued or refused after the snapshot below)
                        await wait_for(
                            lambda: engine.counters.orders_received - received_before == len(handles),
                            timeout_s=20,
                            what="every order sent read by the gateway",
                        )
                        if _paused(venue):
                            break
            assert _paused(venue), "the venue socket never backed up"
            awaiting = venue.status()["awaiting_answer"]
            refused = [
                await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 7 + i, price_ticks=RESTING) for i in range(50)
            ]
            for handle in refused:
                event = await handle.wait_accepted(15)
                assert isinstance(event, OrderRejected) and event.code == "VENUE_BACKPRESSURE"
            assert venue.status()["awaiting_answer"] == awaiting  # nothing more was queued for the venue
            await client.cancel(handles[0].cl_ord_id)  # cancels still go out (queued behind)

            for protocol in sim.protocols:
                assert protocol.transport is not None
                protocol.transport.resume_reading()
            await wait_for(lambda: all(h.events for h in handles), timeout_s=20, what="the backlog answered")
            assert not _paused(venue)
            first = [h.events[0] for h in handles]
            accepted = sum(isinstance(e, OrderAccepted) for e in first)
            # one read in a moment the venue was paused was refused then, as the 50 above: never queued
            refused_early = [e for e in first if not isinstance(e, OrderAccepted)]
            assert all(isinstance(e, OrderRejected) and e.code == "VENUE_BACKPRESSURE" for e in refused_early)
            assert accepted == awaiting and accepted + len(refused_early) == len(handles)
            await wait_for(lambda: handles[0].is_terminal, what="the cancel sent during back-pressure")
            after = await client.submit("ACC1", "OUCH", "AAPL", Side.BUY, 3, price_ticks=RESTING)
            assert isinstance(await after.wait_accepted(15), OrderAccepted)
