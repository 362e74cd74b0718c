"""The SDK against a real gateway on a Unix socket: what it refuses to send, dead gateways, restarts, examples.

A real engine (the test harness's scripted venue) behind the real strategy server; the client is
``gateway.client`` as a strategy uses it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import gateway.client as client_module
from gateway.client import (
    BlockingGatewayClient,
    ConnectionEvent,
    ConnectionState,
    GatewayClient,
    GatewayError,
    OrderStatus,
    RequestRefusedError,
)
from gateway.protocol.messages import MassCancelRejected, OrderAccepted
from model.enums import Side, TimeInForce
from model.venue_events import VenueState
from tests.socket_gateway import Gateway, wait_for

ROOT = Path(__file__).resolve().parent.parent


class Shares:
    """An int-like quantity (as numpy.int64 is) that the wire's encoder cannot encode."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


# ---- 1. a request that cannot be encoded ------------------------------------------------------


async def test_unencodable_argument_when_submitting_then_type_error_nothing_numbered_and_next_order_clean(
    sock_dir: Path,
) -> None:
    """Fails on the old code: the request was numbered and half-written, the next order glued to the garbage."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    async with GatewayClient(gateway.path, "S1") as client:
        with pytest.raises(TypeError, match="qty must be an int"):
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, Shares(100), "100.00")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="symbol must be a str"):
            await client.submit("ACC1", "V1", 7, Side.BUY, 100, "100.00")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="side must be a Side"):
            await client.submit("ACC1", "V1", "AAPL", Shares(1), 100, "100.00")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cl_ord_id must be a str"):
            await client.cancel(Shares(1))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="account must be a str"):
            await client.mass_cancel(account=Shares(1))  # type: ignore[arg-type]
        assert client.req_seq == 0 and client._writer.buffer == bytearray() and not client._unprocessed
        order = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "100.00")
        await wait_for(lambda: gateway.engine.orders, "the valid order")
        gateway.rig.venue.accept(1)
        gateway.engine.flush()
        assert isinstance(await order.wait_accepted(15), OrderAccepted)
        assert client.errors == [] and gateway.engine.strategies["S1"].last_req_seq == 1
    gateway.stop()


async def test_enum_name_instead_of_wire_code_when_submitting_then_value_error_nothing_sent(sock_dir: Path) -> None:
    """Fails on the old code: ``tif="DAY"`` was sent and answered INVALID_FIELD by the gateway (rev43fix44)."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    async with GatewayClient(gateway.path, "S1") as client:
        with pytest.raises(ValueError, match=r"tif 'DAY' is not a wire code of TimeInForce .*pass TimeInForce.DAY"):
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, 1, "1.00", tif="DAY")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"side 'buy' .*pass Side.BUY \(wire code 'B'\)"):
            await client.submit("ACC1", "V1", "AAPL", "buy", 1, "1.00")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="ord_type 'X' is not a wire code of OrderType"):
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, 1, "1.00", ord_type="X")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="tif must be a TimeInForce"):
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, 1, "1.00", tif=1)  # type: ignore[arg-type]
        assert client.req_seq == 0 and client._writer.buffer == bytearray() and not client._unprocessed
        order = await client.submit("ACC1", "V1", "AAPL", "B", 100, "100.00", tif="1")  # type: ignore[arg-type]
        await wait_for(lambda: gateway.engine.orders, "the order given by wire codes")
        placed = next(iter(gateway.engine.orders.values()))
        assert placed.tif is TimeInForce.GTC and placed.side is Side.BUY
        gateway.rig.venue.accept(1)
        gateway.engine.flush()
        assert isinstance(await order.wait_accepted(15), OrderAccepted)
        assert client.errors == []
    gateway.stop()


# ---- 2. ids the gateway cannot read ------------------------------------------------------------


async def test_unreadable_cl_ord_id_when_submitting_then_refused_up_front_with_nothing_sent(sock_dir: Path) -> None:
    """Fails on the old code: a 33-byte id was sent, answered by an Error, and its handle stayed PENDING_NEW."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    async with GatewayClient(gateway.path, "S1", cl_ord_id_prefix="x" * 31) as client:
        with pytest.raises(ValueError, match="33 bytes in UTF-8"):
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, 1, "1.00", cl_ord_id="\u20ac" * 11)
        with pytest.raises(ValueError, match="0 bytes"):
            await client.cancel("")
        assert client.next_cl_ord_id() == "x" * 31 + "1"
        for _ in range(8):
            client.next_cl_ord_id()
        with pytest.raises(ValueError, match="prefix \\+ counter"):  # the 10th id would be 33 bytes
            await client.submit("ACC1", "V1", "AAPL", Side.BUY, 1, "1.00")
        assert client.req_seq == 0 and client.orders == {}
    with pytest.raises(ValueError, match="cl_ord_id_prefix"):
        GatewayClient(gateway.path, "S1", cl_ord_id_prefix="p" * 32)
    gateway.stop()


async def test_mass_cancel_when_a_filter_is_longer_than_32_bytes_then_value_error_with_nothing_sent(
    sock_dir: Path,
) -> None:
    """Fails on the old code: ``mass_cancel(account="A" * 500)`` was sent, and waited out its timeout although the
    gateway had answered it (its MassCancelRejected had request_id '': rev58strat MEDIUM 2)."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    async with GatewayClient(gateway.path, "S1") as client:
        with pytest.raises(ValueError, match=r"account filter is 500 bytes in UTF-8; .* 0 \(any\) to 32"):
            await client.mass_cancel(account="A" * 500, timeout=3)
        with pytest.raises(ValueError, match="symbol filter is 33 bytes"):
            await client.mass_cancel(symbol="\u20ac" * 11)
        with pytest.raises(TypeError, match="venue must be a str"):
            await client.mass_cancel(venue=["V1"])  # type: ignore[arg-type]
        assert client.req_seq == 0 and client._writer.buffer == bytearray() and not client._unprocessed
        refused = await client.mass_cancel(account="A" * 32, timeout=15)  # 32 bytes: sent, and answered
        assert isinstance(refused, MassCancelRejected) and refused.code == "ACCOUNT_NOT_PERMITTED"
        assert client.req_seq == 1 and client.errors == []
    gateway.stop()


async def test_error_naming_a_request_when_gateway_cannot_read_it_then_its_handle_ends_and_numbering_goes_on(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails on the old code: the Error went to client.errors only and wait_done() hung."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    monkeypatch.setattr(client_module, "check_cl_ord_id", lambda value, what="": value)  # an SDK that misses one
    async with GatewayClient(gateway.path, "S1") as client:
        bad = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 1, "1.00", cl_ord_id="y" * 33)
        with pytest.raises(RequestRefusedError, match="request 1 \\(NewOrder\\) refused: INVALID_MESSAGE"):
            await bad.wait_done(15)
        assert bad.status is OrderStatus.REJECTED and client.processed_req_seq == 1
        good = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 1, "1.00")  # request 2: no gap
        await wait_for(lambda: gateway.engine.orders, "the next order")
        gateway.rig.venue.accept(1)
        gateway.engine.flush()
        assert isinstance(await good.wait_accepted(15), OrderAccepted)
        assert [e.code for e in client.errors] == ["INVALID_MESSAGE"]
    gateway.stop()


# ---- 3. a frozen gateway behind a backed-up socket ---------------------------------------------


async def _back_up(client: GatewayClient) -> None:
    """Submit until the socket's buffers are full and the transport holds the rest."""
    for _ in range(100_000):
        if not client._writable.is_set():
            return
        client.submit_nowait("ACC1", "V1", "AAPL", Side.BUY, 1, price_ticks=10_000)
        if client.req_seq % 500 == 0:
            await asyncio.sleep(0)
    raise AssertionError("the socket never backed up")


async def test_frozen_gateway_when_write_buffer_backed_up_then_detected_after_three_intervals(sock_dir: Path) -> None:
    """Fails on the old code: transport.close() waited for the buffer, so the client stayed wedged."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    states: list[ConnectionState] = []
    # 400 ms: the back-up below (thousands of submits) must end before 3 intervals of silence, also on a loaded CI
    # machine (at 200 ms it did not always: the silence was found during the back-up, a flaky failure)
    client = GatewayClient(gateway.path, "S1", heartbeat_ms=400, on_connection_state=lambda e: states.append(e.state))
    await client.connect()
    gateway.stop_reading()
    await _back_up(client)
    backed_up_while_connected = client.connected  # a local: mypy would narrow the property for the end's check
    assert backed_up_while_connected  # backed up before the silence was found: the case under test
    order = next(iter(client.orders.values()))
    started = time.monotonic()
    with pytest.raises(GatewayError, match="silent for three heartbeat intervals"):
        await order.wait_done(15)
    assert time.monotonic() - started < 10.0  # 3 x 400 ms of silence, checked every 100 ms (10: a slow machine)
    assert client.state is ConnectionState.DISCONNECTED and not client.connected  # connect() may be called again
    await client.close()
    gateway.stop()


async def test_close_when_gateway_stopped_reading_then_returns_after_a_short_drain(sock_dir: Path) -> None:
    """Fails on the old code: close() waited for a gateway that never reads again."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    client = GatewayClient(gateway.path, "S1", heartbeat_ms=60_000)
    await client.connect()
    gateway.stop_reading()
    await _back_up(client)
    started = time.monotonic()
    await asyncio.wait_for(client.close(), 10)  # a short drain, not for ever (10: a slow machine)
    assert time.monotonic() - started >= client_module.CLOSE_DRAIN_S * 0.9  # it did wait for the drain
    assert client.state is ConnectionState.CLOSED
    gateway.stop()


# ---- 4. resending after a restart waits for the venue --------------------------------------------


async def test_resend_when_gateway_restarts_with_venue_not_yet_up_then_requests_wait_for_venue_up(
    sock_dir: Path,
) -> None:
    """Fails on the old code: the requests went out at the Welcome and were refused VENUE_UNAVAILABLE."""
    first = Gateway(sock_dir)
    await first.start()
    states: list[ConnectionState] = []
    client = GatewayClient(
        first.path,
        "S1",
        auto_reconnect=True,
        reconnect_initial_s=0.01,
        on_connection_state=lambda e: states.append(e.state),
    )
    await client.connect()
    first.stop_reading()
    orders = [await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "100.00") for _ in range(3)]
    await asyncio.sleep(0.05)
    await first.crash()

    second = Gateway(sock_dir)
    second.rig.venue._state = VenueState.LOGGING_IN  # the venue session is still logging in after the restart
    await second.start()
    await wait_for(lambda: "S1" in second.engine.strategies, "the reconnect")
    await asyncio.sleep(0.3)
    assert second.engine.strategies["S1"].last_req_seq == 0 and states[-1:] == [ConnectionState.CONNECTING]
    assert second.engine.orders == {}
    second.rig.venue.set_state(VenueState.UP)
    second.engine.flush()
    await wait_for(lambda: second.engine.strategies["S1"].last_req_seq == 3, "the requests sent again")
    assert states[-1:] == [ConnectionState.CONNECTED] and client.resent == 3
    for order_id in (1, 2, 3):
        second.rig.venue.accept(order_id)
    second.engine.flush()
    for order in orders:
        assert isinstance(await order.wait_accepted(15), OrderAccepted)
    await client.close()
    second.stop()


async def test_resend_when_venue_never_comes_up_then_sent_after_the_wait_and_gateway_answer_stands(
    sock_dir: Path,
) -> None:
    first = Gateway(sock_dir)
    await first.start()
    client = GatewayClient(first.path, "S1", auto_reconnect=True, reconnect_initial_s=0.01, resend_venue_wait_s=0.3)
    await client.connect()
    first.stop_reading()
    order = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "100.00")
    await asyncio.sleep(0.05)
    await first.crash()

    second = Gateway(sock_dir)
    second.rig.venue._state = VenueState.DISCONNECTED
    await second.start()
    final = await order.wait_done(15)
    assert order.status is OrderStatus.REJECTED and getattr(final, "code", "") == "VENUE_UNAVAILABLE"
    assert client.resent == 1
    await client.close()
    second.stop()


# ---- 5. blocking client: a failed connect leaves nothing behind ------------------------------


def test_blocking_client_when_connect_fails_then_no_thread_or_descriptor_left(sock_dir: Path) -> None:
    """Fails on the old code: each failed attempt left its loop thread and 3 descriptors."""
    missing = sock_dir / "missing.sock"
    with pytest.raises(GatewayError), BlockingGatewayClient(missing, "S1"):
        pass  # warm-up: imports and lazily opened descriptors
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(GatewayError), BlockingGatewayClient(missing, "S1"):
            pass
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds


# ---- 6. Ctrl-C on the examples ------------------------------------------------------------------


def _interrupt(proc: subprocess.Popen[str]) -> str:
    """Send SIGINT (Ctrl-C) and return what the example wrote to stderr."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    return err


def _example(name: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


async def test_blocking_example_when_interrupted_waiting_for_its_order_then_exits_130_without_traceback(
    sock_dir: Path,
) -> None:
    """Fails on the old code: a KeyboardInterrupt traceback and status 1 (then a 'Task exception' one)."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    args = ("--socket", str(gateway.path), "--strategy", "S1", "--venue", "V1", "AAPL", "B", "100", "100.00")
    proc = _example("blocking_script.py", *args)
    await wait_for(lambda: gateway.engine.orders, "the example's order", 20)
    await asyncio.sleep(0.3)  # it waits in wait_done()
    err = await asyncio.get_running_loop().run_in_executor(None, _interrupt, proc)
    assert proc.returncode == 130 and "Traceback" not in err, err
    gateway.stop()


def test_asyncio_example_when_interrupted_then_exits_130_without_traceback(sock_dir: Path) -> None:
    """Fails on the old code: a KeyboardInterrupt traceback and status 1."""
    path = sock_dir / "silent.sock"
    server = socket.socket(socket.AF_UNIX)  # accepts, never answers: the example waits for its Welcome
    server.bind(str(path))
    server.listen()
    proc = _example("simple_strategy.py", "--socket", str(path))
    try:
        conn, _ = server.accept()
        time.sleep(0.3)
        err = _interrupt(proc)
        conn.close()
    finally:
        server.close()
    assert proc.returncode == 130 and "Traceback" not in err, err


# ---- 7. handles or ids, unambiguous ids ---------------------------------------------------------


async def test_cancel_and_replace_when_given_a_handle_then_act_on_its_order(sock_dir: Path) -> None:
    gateway = Gateway(sock_dir)
    await gateway.start()
    async with GatewayClient(gateway.path, "S1", cl_ord_id_prefix="run1") as client:
        order = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "100.00")
        other = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, "100.00")
        assert (order.cl_ord_id, other.cl_ord_id) == ("run1-1", "run1-2")  # "run1" + 11 and "run11" + 1 differ
        await wait_for(lambda: len(gateway.engine.orders) == 2, "the orders")
        gateway.rig.venue.accept(1)
        gateway.rig.venue.accept(2)
        gateway.engine.flush()
        await other.wait_accepted(15)
        await client.replace(order, 200, "101.00")
        await client.cancel(other)
        await wait_for(lambda: gateway.engine.strategies["S1"].last_req_seq == 4, "the replace and the cancel")
        assert [command[:3] for command in gateway.rig.venue.commands[2:]] == [("replace", 1, 200), ("cancel", 2, 0)]
    async with GatewayClient(gateway.path, "S1", cl_ord_id_prefix="run-") as plain:
        assert plain.next_cl_ord_id() == "run-1"  # a prefix not ending in a digit is used as it is
    gateway.stop()


# ---- a first connect() refused ALREADY_CONNECTED, with auto_reconnect --------------------------


async def test_first_connect_when_refused_already_connected_with_auto_reconnect_then_tried_again_until_welcomed(
    sock_dir: Path,
) -> None:
    """rev47strat: the first ``connect()`` raised at once; ALREADY_CONNECTED is transient (protocol section 1)."""
    gateway = Gateway(sock_dir)
    await gateway.start()
    old = GatewayClient(gateway.path, "S1")  # the session a previous instance still holds
    await old.connect()
    with pytest.raises(GatewayError, match="ALREADY_CONNECTED"):  # without auto_reconnect: raised, as before
        await GatewayClient(gateway.path, "S1").connect(timeout=5)
    events: list[ConnectionEvent] = []
    client = GatewayClient(
        gateway.path, "S1", auto_reconnect=True, reconnect_initial_s=0.02, on_connection_state=events.append
    )

    async def old_goes_away() -> None:
        await wait_for(lambda: any(e.reason.startswith("ALREADY_CONNECTED") for e in events), "the first refusal")
        await old.close()

    going = asyncio.create_task(old_goes_away())
    welcome = await client.connect(timeout=5)
    await going
    assert welcome.gateway_id and client.connected and gateway.engine.strategies["S1"].link is not None
    assert [e.state for e in events].count(ConnectionState.CONNECTED) == 1
    await client.close()
    gateway.stop()
