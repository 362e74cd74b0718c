"""The strategy Unix socket and the client SDK over real sockets (asyncio and uvloop)."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from gateway.admin import AdminError, admin_request, start_admin_server
from gateway.client import BlockingGatewayClient, GatewayClient, GatewayError, OrderStatus
from gateway.entitlements import StrategyEntitlement
from gateway.protocol.framing import LENGTH_PREFIX
from gateway.protocol.messages import Executed, OrderAccepted, OrderRejected
from gateway.server import SocketInUseError, start_strategy_server
from model.enums import Side
from tests.harness import Rig


@pytest.fixture
def sock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # AF_UNIX paths are limited to ~107 bytes: keep them short.
    import tempfile

    return Path(tempfile.mkdtemp(prefix="gw", dir="/tmp"))


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
            final = await order.wait_done(timeout=5)
            assert isinstance(final, Executed) and final.leaves_qty == 0
            assert order.status is OrderStatus.FILLED
            assert [type(e) for e in order.events] == [OrderAccepted, Executed]
            assert client.last_seq == 2
    finally:
        server.close()
        await server.wait_closed()


async def test_client_when_uid_not_entitled_then_connect_raises_with_reason(sock_dir: Path) -> None:
    rig = _rig()
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    try:
        with pytest.raises(GatewayError, match="NOT_AUTHORIZED"):
            await GatewayClient(path, "OTHER_USER").connect(timeout=5)
    finally:
        server.close()
        await server.wait_closed()


async def test_client_when_bad_strategy_floods_garbage_then_good_strategy_keeps_trading(
    sock_dir: Path,
) -> None:
    rig = _rig()
    path = sock_dir / "s.sock"
    server = await start_strategy_server(rig.engine, path, rig.clock)
    try:
        good = GatewayClient(path, "S2")
        await good.connect()
        bad = GatewayClient(path, "S1")
        await bad.connect()
        assert bad._transport is not None
        bad._transport.write(LENGTH_PREFIX.pack(1_000_000) + b"x" * 100)
        await asyncio.wait_for(bad.wait_closed(), 5)
        assert "FRAME_TOO_LARGE" in bad.close_reason
        order = await good.submit("ACC2", "V1", "MSFT", Side.SELL, 10, 3_000_000)
        for _ in range(100):
            if rig.engine.orders:
                break
            await asyncio.sleep(0.01)
        (oid,) = rig.engine.orders
        rig.venue.reject(oid, "VENUE_CLOSED", "market closed")
        rig.engine.flush()
        final = await order.wait_done(timeout=5)
        assert isinstance(final, OrderRejected) and final.code == "VENUE_CLOSED"
        await good.close()
    finally:
        server.close()
        await server.wait_closed()


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
            final = gw.wait_done(order, timeout=5)
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
