"""The strategy Unix socket and the client SDK over real sockets (asyncio and uvloop)."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.admin import AdminError, admin_request, start_admin_server
from gateway.client import (
    BlockingGatewayClient,
    ConnectionEvent,
    ConnectionState,
    GatewayClient,
    GatewayError,
    OrderStatus,
)
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.framing import LENGTH_PREFIX
from gateway.protocol.messages import (
    Canceled,
    Executed,
    MassCancelAck,
    MassCancelRejected,
    OrderAccepted,
    OrderRejected,
)
from gateway.server import SocketInUseError, start_strategy_server
from model.enums import Side
from tests.harness import Rig
from tests.rawclient import (
    ERROR,
    HELLO,
    MASS_CANCEL,
    MASS_CANCEL_ACK,
    MASS_CANCEL_REJECTED,
    VENUE_STATUS,
    RawClient,
    frame,
    raw_frame,
)
from tests.socket_gateway import wait_for


@pytest.fixture
def rig() -> Rig:
    """Return an engine whose strategies S1 and S2 are this process's uid (OTHER_USER is not)."""
    return _rig()


@pytest.fixture
async def socket_path(rig: Rig, sock_dir: Path) -> AsyncIterator[Path]:
    """Serve ``rig``'s engine on a strategy socket in ``sock_dir``; return its path (the server closed after)."""
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    yield path
    server.close()
    await server.wait_closed()


def _rig() -> Rig:
    uid = os.getuid()
    return Rig(
        strategies={
            "S1": StrategyEntitlement(accounts=["ACC1"], uids=[uid]),
            "S2": StrategyEntitlement(accounts=["ACC2"], uids=[uid]),
            "OTHER_USER": StrategyEntitlement(accounts=["ACC1"], uids=[uid + 12345]),
        }
    )


async def test_client_when_order_accepted_and_filled_then_handle_reaches_filled(sock_dir: Path) -> None:
    rig = _rig()
    rig.engine.entitlements.gateway_uid = os.getuid()
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        async with GatewayClient(path, "S1") as client:
            order = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.25")
            for _ in range(100):
                if rig.engine.orders:
                    break
                await asyncio.sleep(0.01)
            (oid,) = rig.engine.orders
            assert rig.engine.orders[oid].price == 1_502_500
            assert rig.engine.orders[oid].t_sent > 0
            rig.venue.accept(oid, 1_502_500)
            rig.venue.fill(oid, 100, 1_502_500)
            rig.engine.flush()
            final = await order.wait_done(timeout=15)
            assert isinstance(final, Executed) and final.leaves_qty == 0
            assert order.status is OrderStatus.FILLED
            assert [type(e) for e in order.events] == [OrderAccepted, Executed]
            assert client.last_seq == 2
    finally:
        server.close()
        await server.wait_closed()


async def test_client_when_uid_not_entitled_then_connect_raises_with_reason(socket_path: Path) -> None:
    with pytest.raises(GatewayError, match="NOT_AUTHORIZED"):
        await GatewayClient(socket_path, "OTHER_USER").connect(timeout=5)


async def test_client_when_bad_strategy_floods_garbage_then_good_strategy_keeps_trading(
    rig: Rig,
    socket_path: Path,
) -> None:
    good = GatewayClient(socket_path, "S2")
    await good.connect()
    bad = GatewayClient(socket_path, "S1")
    await bad.connect()
    assert bad._transport is not None
    bad._transport.write(LENGTH_PREFIX.pack(1_000_000) + b"x" * 100)
    await asyncio.wait_for(bad.wait_closed(), 5)
    assert "FRAME_TOO_LARGE" in bad.close_reason
    order = await good.submit("ACC2", "V1", "MSFT", Side.SELL, 10, price_ticks=3_000_000)
    for _ in range(100):
        if rig.engine.orders:
            break
        await asyncio.sleep(0.01)
    (oid,) = rig.engine.orders
    rig.venue.reject(oid, "VENUE_CLOSED", "market closed")
    rig.engine.flush()
    final = await order.wait_done(timeout=15)
    assert isinstance(final, OrderRejected) and final.code == "VENUE_CLOSED"
    await good.close()


async def test_server_when_socket_path_in_use_then_refuses_to_start(sock_dir: Path) -> None:
    rig = _rig()
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    try:
        with pytest.raises(SocketInUseError):
            await start_strategy_server(rig.engine, path, rig.clock)
    finally:
        server.close()
        await server.wait_closed()


async def test_server_when_stale_socket_file_left_then_replaced(sock_dir: Path) -> None:
    rig = _rig()
    path = sock_dir / "s.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    server = await start_strategy_server(rig.engine, path, rig.clock)
    server.close()
    await server.wait_closed()


def test_blocking_client_when_script_submits_then_waits_for_terminal_event(sock_dir: Path) -> None:
    import threading

    rig = _rig()
    path = sock_dir / "s.sock"
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve() -> None:
        await start_strategy_server(rig.engine, path, rig.clock)
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(5)
    try:
        with BlockingGatewayClient(path, "S1") as gw:
            order = gw.submit("ACC1", "V1", "AAPL", Side.BUY, 50_000, "10")
            final = gw.wait_done(order, timeout=15)
            assert isinstance(final, OrderRejected) and final.code == "MAX_ORDER_QTY"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


async def test_admin_when_request_sent_then_handler_answers_and_bad_requests_get_errors(
    sock_dir: Path,
) -> None:
    path = sock_dir / "a.sock"
    server = await start_admin_server(path, {"status": lambda req, who: {"who": who, "echo": req.get("x")}})
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        reply = await asyncio.to_thread(admin_request, path, {"cmd": "status", "x": 7})
        assert reply["ok"] and reply["echo"] == 7 and f"uid {os.getuid()}" in reply["who"]
        unknown = await asyncio.to_thread(admin_request, path, {"cmd": "nope"})
        assert not unknown["ok"] and "unknown command" in unknown["error"]
    finally:
        server.close()
        await server.wait_closed()
    with pytest.raises(AdminError, match="no gateway admin socket"):
        admin_request(sock_dir / "missing.sock", {"cmd": "status"})


def _drop(rig: Rig, strategy_id: str) -> None:
    """Cut the strategy's connection from the gateway's side (like a crash of the socket)."""
    link = rig.engine.strategies[strategy_id].link
    assert link is not None
    link.transport.abort()  # type: ignore[attr-defined]


async def test_events_when_iterator_started_after_connect_then_replayed_events_are_yielded(sock_dir: Path) -> None:
    rig = _rig()
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    try:
        async with GatewayClient(path, "S1") as first:
            for i in range(85):
                first.submit_nowait("ACC1", "V1", "AAPL", Side.BUY, 1, "1.00", cl_ord_id=f"C{i}")
            await wait_for(lambda: len(rig.engine.orders) == 85, "the orders")
            for oid in list(rig.engine.orders):
                rig.venue.accept(oid)
                rig.venue.fill(oid, 1, 10_000)
            rig.venue.reject(1)  # out of place: ignored
            rig.engine.flush()
            await wait_for(lambda: first.last_seq == 170, "the events")
        async with GatewayClient(path, "S1") as again:  # last_seq 0: 170 events replayed after the Welcome
            assert again.welcome is not None and again.welcome.replayed == 170
            seen: list[object] = []

            async def collect() -> None:
                async for message in again.events():
                    seen.append(message)

            watcher = asyncio.ensure_future(collect())
            await wait_for(lambda: len([m for m in seen if hasattr(m, "seq")]) == 170, "the replay in events()")
            assert [m.seq for m in seen if hasattr(m, "seq")] == list(range(1, 171))
            later = [m async for m in _take(again.events(since_seq=168), 2)]
            assert [m.seq for m in later] == [169, 170]
            watcher.cancel()
    finally:
        server.close()
        await server.wait_closed()


async def _take(iterator: Any, count: int) -> Any:
    got = 0
    async for item in iterator:
        yield item
        got += 1
        if got == count:
            return


async def test_handles_when_connection_lost_and_auto_reconnect_then_they_survive_and_catch_up(sock_dir: Path) -> None:
    rig = Rig(strategies={"S1": StrategyEntitlement(accounts=["ACC1"], uids=[os.getuid()], on_disconnect="keep")})
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    states: list[tuple[ConnectionState, str]] = []
    try:
        client = GatewayClient(
            path, "S1", auto_reconnect=True, on_connection_state=lambda e: states.append((e.state, e.reason))
        )
        await client.connect()
        gone = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.25")
        stays = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.00")
        await wait_for(lambda: len(rig.engine.orders) == 2, "the orders")
        rig.venue.accept(1)
        rig.venue.accept(2)
        rig.engine.flush()
        await gone.wait_accepted(15)
        await stays.wait_accepted(15)
        done = asyncio.ensure_future(gone.wait_done(10))  # waits across the reconnect

        _drop(rig, "S1")
        await wait_for(lambda: ConnectionState.DISCONNECTED in [s for s, _ in states], "the loss to be seen")
        rig.venue.cancel(1)  # while the strategy is away (say, canceled by ops at the venue)
        rig.engine.flush()
        await client.wait_connected(15)
        final = await done
        assert isinstance(final, Canceled) and gone.status is OrderStatus.CANCELED
        await stays.replace(200, "150.10")  # the old handle talks over the new connection
        await wait_for(lambda: any(c[0] == "replace" for c in rig.venue.commands), "the replace at the venue")
        assert [s for s, _ in states] == [
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
            ConnectionState.DISCONNECTED,
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
        ]
        assert client.connections == 2
        await client.close()
        assert states[-1][0] is ConnectionState.CLOSED
    finally:
        server.close()
        await server.wait_closed()


async def test_reconnect_when_gateway_socket_away_then_retries_with_backoff_until_it_is_back(sock_dir: Path) -> None:
    rig = _rig()
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    events: list[ConnectionEvent] = []
    client = GatewayClient(path, "S1", auto_reconnect=True, reconnect_initial_s=0.01, reconnect_max_s=0.05)
    await client.connect()
    watcher = asyncio.ensure_future(_collect(client, events))
    server.close()
    await server.wait_closed()
    _drop(rig, "S1")

    def failures() -> list[ConnectionEvent]:
        return [e for e in events if isinstance(e, ConnectionEvent) and e.state is ConnectionState.DISCONNECTED]

    await wait_for(lambda: len(failures()) >= 3, "several failed attempts")
    assert "cannot connect" in failures()[-1].reason
    server = await start_strategy_server(rig.engine, path, rig.clock)
    try:
        await client.wait_connected(15)
        await client.close()
        await asyncio.wait_for(watcher, 5)  # the iterator ends when the client is closed
        assert isinstance(events[-1], ConnectionEvent) and events[-1].state is ConnectionState.CLOSED
    finally:
        server.close()
        await server.wait_closed()


async def _collect(client: GatewayClient, into: list[Any]) -> None:
    async for item in client.events():
        into.append(item)


async def test_reconnect_when_refused_for_good_then_gives_up_and_waiters_fail(rig: Rig, socket_path: Path) -> None:
    client = GatewayClient(socket_path, "S1", auto_reconnect=True, reconnect_initial_s=0.01)
    await client.connect()
    handle = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.25")
    rig.engine.entitlements.strategies.pop("S1")  # the operator removed the strategy
    _drop(rig, "S1")
    with pytest.raises(GatewayError, match="NOT_AUTHORIZED"):
        await handle.wait_done(15)
    assert client.state is ConnectionState.CLOSED


async def test_handles_when_no_auto_reconnect_then_waiters_fail_on_loss_and_work_again_after_connect(
    rig: Rig,
    socket_path: Path,
) -> None:
    client = GatewayClient(socket_path, "S1")
    await client.connect()
    handle = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.25")
    await wait_for(lambda: rig.engine.orders, "the order")
    rig.venue.accept(1)
    rig.engine.flush()
    await handle.wait_accepted(15)
    _drop(rig, "S1")
    with pytest.raises(GatewayError, match="disconnected before the answer arrived"):
        await handle.wait_done(15)
    with pytest.raises(GatewayError, match="not connected"):
        await handle.cancel()
    rig.venue.fill(1, 100, 1_502_500)
    rig.engine.flush()
    await client.connect()  # same client: last_seq carries over, the fill is replayed
    final = await handle.wait_done(15)
    assert isinstance(final, Executed) and handle.status is OrderStatus.FILLED
    await client.close()


async def test_price_when_bare_int_or_float_then_type_error_naming_price_ticks(rig: Rig, socket_path: Path) -> None:
    async with GatewayClient(socket_path, "S1") as client:
        with pytest.raises(TypeError, match=r"price_ticks=229 \(= 0.0229 currency units\)"):
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, 229)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="never a float"):
            client.submit_nowait("ACC1", "V1", "AAPL", Side.BUY, 100, 229.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not both"):
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "229", price_ticks=2_290_000)
        with pytest.raises(TypeError, match="needs a price"):
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100)
        by_ticks = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, price_ticks=2_290_000)
        by_text = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "229")
        by_decimal = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, Decimal("229.0000"))
        assert by_ticks.price == by_text.price == by_decimal.price == 2_290_000
        assert by_text.price_decimal == Decimal("229")
        with pytest.raises(TypeError, match="ambiguous"):
            await by_text.replace(200, 230)  # type: ignore[arg-type]
        assert not rig.engine.counters.invalid_requests


async def test_mass_cancel_when_called_then_returns_the_gateways_answer(rig: Rig, socket_path: Path) -> None:
    async with GatewayClient(socket_path, "S1") as client:
        await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.25")
        await wait_for(lambda: rig.engine.orders, "the order")
        rig.venue.accept(1)
        rig.engine.flush()
        ack = await client.mass_cancel(symbol="AAPL")
        assert isinstance(ack, MassCancelAck) and ack.count == 1
        refused = await client.mass_cancel(account="ACC2")
        assert isinstance(refused, MassCancelRejected) and refused.code == "ACCOUNT_NOT_PERMITTED"


async def _answers(client: RawClient, count: int) -> list[list[Any]]:
    """Return the next ``count`` messages that are not a VenueStatus (one per venue follows the Welcome)."""
    got: list[list[Any]] = []
    while len(got) < count:
        got += [m for m in await client.read(1) if m[0] != VENUE_STATUS]
        assert not client.closed, got
    return got


async def test_mass_cancel_when_v2_filters_malformed_then_rejected_by_its_request_id_over_the_socket(
    socket_path: Path,
) -> None:
    """A version-2 client, written from the doc, has only the request_id to match a MassCancel's answer by.

    Fails on the old code: the three answers came with request_id '' (rev58strat MEDIUM 2).
    """
    client = await RawClient(str(socket_path)).connect()
    try:
        await client.hello("S1", version=2)
        await client.send(
            frame(MASS_CANCEL, "A" * 500, "", "", "REQ-B")
            + frame(MASS_CANCEL, "", "", ["x"], "REQ-C")
            + raw_frame(msgspec.msgpack.encode([MASS_CANCEL, "", {"k": 1}, "", "REQ-D"]))
            + frame(MASS_CANCEL, "A" * 500, "", "", "R" * 33)  # an id the answer cannot carry: '' as before
            + frame(MASS_CANCEL, "", "", "", "REQ-E")
        )
        answers = await _answers(client, 5)
        assert [(m[0], m[1], m[2]) for m in answers] == [
            (MASS_CANCEL_REJECTED, "REQ-B", "INVALID_FIELD"),
            (MASS_CANCEL_REJECTED, "REQ-C", "INVALID_FIELD"),
            (MASS_CANCEL_REJECTED, "REQ-D", "INVALID_FIELD"),
            (MASS_CANCEL_REJECTED, "", "INVALID_FIELD"),
            (MASS_CANCEL_ACK, "REQ-E", 0),
        ], answers
        assert "`account`" in answers[0][3] and "`symbol`" in answers[1][3] and "`venue`" in answers[2][3]
    finally:
        client.close()


async def test_second_hello_when_it_breaks_a_rule_then_already_logged_in_over_the_socket(socket_path: Path) -> None:
    """Fails on the old code: INVALID_MESSAGE, where the doc (7.2, 8.6) says a second Hello gets ALREADY_LOGGED_IN."""
    client = await RawClient(str(socket_path)).connect()
    try:
        await client.hello("S1", version=3)
        await client.send(
            frame(HELLO, "S1", 3, 0, 1000) + frame(HELLO, "x" * 40, 3, 0, 1000) + frame(HELLO, "S1", 3, 0, 50)
        )
        answers = await _answers(client, 3)
        assert [(m[0], m[1], m[3]) for m in answers] == [(ERROR, "ALREADY_LOGGED_IN", False)] * 3, answers
        assert answers[0] == answers[1] == answers[2]
    finally:
        client.close()


async def test_submit_when_cl_ord_id_sent_again_then_same_handle_and_the_duplicate_answer_does_not_end_it(
    rig: Rig,
    socket_path: Path,
) -> None:
    async with GatewayClient(socket_path, "S1") as client:
        first = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.25", cl_ord_id="R1")
        again = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.25", cl_ord_id="R1")
        assert again is first
        await wait_for(lambda: len(first.events) == 1, "the duplicate answer")
        assert isinstance(first.events[0], OrderRejected) and first.events[0].code == "DUPLICATE_CL_ORD_ID"
        assert first.status is OrderStatus.PENDING_NEW
        rig.venue.accept(1)
        rig.engine.flush()
        assert isinstance(await first.wait_accepted(15), OrderAccepted)
        rig.engine.strategies["S1"].orders["X9"] = rig.engine.orders[1]  # an id used before this client ran
        unknown = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "150.25", cl_ord_id="X9")
        final = await unknown.wait_done(15)
        assert isinstance(final, OrderRejected) and unknown.status is OrderStatus.REJECTED


async def test_connect_when_refused_then_gateway_error_and_state_disconnected(sock_dir: Path) -> None:
    rig = _rig()
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    states: list[ConnectionState] = []
    try:
        client = GatewayClient(path, "NOBODY", on_connection_state=lambda e: states.append(e.state))
        with pytest.raises(GatewayError, match="NOT_AUTHORIZED"):
            await client.connect()
        assert states == [ConnectionState.CONNECTING, ConnectionState.DISCONNECTED]
        assert not client.connected
    finally:
        server.close()
        await server.wait_closed()


async def test_client_when_gateway_sends_an_unknown_tag_then_frame_skipped_and_session_goes_on(sock_dir: Path) -> None:
    from gateway.protocol.framing import encode_frame
    from gateway.protocol.messages import VenueStatus, Welcome

    async def fake_gateway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)  # the Hello
        unknown = b"\x92\x63\x01"  # [99, 1]: a message from a newer protocol version
        writer.write(encode_frame(Welcome(2, "fake", 1, 1000, 0)) + LENGTH_PREFIX.pack(3) + unknown)
        writer.write(encode_frame(VenueStatus("X", "UP", "")))
        await writer.drain()
        await reader.read(100)

    path = sock_dir / "f.sock"
    server = await asyncio.start_unix_server(fake_gateway, str(path))
    try:
        async with GatewayClient(path, "S1") as client:
            await wait_for(lambda: "X" in client.venues, "the VenueStatus after the unknown frame")
    finally:
        server.close()
        await server.wait_closed()
