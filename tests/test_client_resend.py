"""The SDK across a gateway restart (protocol version 3): what the gateway never got is sent again, once.

A real engine behind the real Unix-socket server, journaling to a file. The "crash" is made
exact: the first engine stops reading the strategy's bytes from some request on (they stay in
a socket buffer that dies with the process) or processes a request and loses its answer on
the wire; then it is gone, a second engine recovers from the journal and listens on the same
path, and the client reconnects by itself. Real processes and ``kill -9`` are in
``tests/reliability/test_request_resend.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.client import (
    ConnectionState,
    GatewayClient,
    OrderHandle,
    OrderStatus,
    RequestNotReceivedError,
    RequestOutcomeUnknownError,
)
from gateway.journal import JOrderCreated, JSentCancel, read_journal, unwrap_requests
from gateway.protocol.messages import MassCancel, MassCancelAck, NewOrder, OrderAccepted
from model.enums import Side
from tests.socket_gateway import Gateway, wait_for


def _created(gateway: Gateway) -> list[str]:
    return [r.cl_ord_id for r in unwrap_requests(read_journal(gateway.journal_path)) if isinstance(r, JOrderCreated)]


async def _submit(client: GatewayClient, count: int) -> list[OrderHandle]:
    return [await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, price_ticks=1_000_000) for _ in range(count)]


async def test_resend_when_gateway_restarts_having_missed_requests_then_sdk_sends_exactly_those_again(
    sock_dir: Path,
) -> None:
    first = Gateway(sock_dir)
    await first.start()
    client = GatewayClient(first.path, "S1", auto_reconnect=True, reconnect_initial_s=0.01)
    welcome = await client.connect()
    assert welcome.protocol_version == 3 and welcome.last_req_seq == 0
    early = await _submit(client, 3)
    await wait_for(lambda: len(first.engine.orders) == 3, "the first orders")
    first.stop_reading()
    late = await _submit(client, 3)  # requests 4 to 6: never read
    await client.cancel(early[0].cl_ord_id)  # request 7: never read
    mass = asyncio.ensure_future(client.mass_cancel(symbol="MSFT", timeout=10))  # request 8: never read
    await asyncio.sleep(0.05)
    assert client.req_seq == 8
    await first.crash()

    second = Gateway(sock_dir)
    assert second.engine.strategies["S1"].last_req_seq == 3
    await second.start()
    await wait_for(lambda: client.connections == 2 and client.state is ConnectionState.CONNECTED, "the reconnect")
    assert client.welcome is not None and client.welcome.last_req_seq == 3
    assert client.resent == 5  # 4 to 8, unchanged and in order
    answer = await mass
    assert isinstance(answer, MassCancelAck) and answer.count == 0
    await wait_for(lambda: second.engine.strategies["S1"].last_req_seq == 8, "every request processed")
    assert _created(second) == [h.cl_ord_id for h in early + late]  # each order created once
    for order_id in range(1, 7):
        second.rig.venue.accept(order_id)
    second.engine.flush()
    for handle in early + late:
        assert isinstance(await handle.wait_accepted(15), OrderAccepted)
    decisions = [r for r in unwrap_requests(read_journal(second.journal_path)) if isinstance(r, JSentCancel)]
    assert [r.order_id for r in decisions] == [1]  # request 7, once
    assert client.not_received == []
    await client.close()
    second.server.close()  # type: ignore[union-attr]


async def test_resend_when_a_mass_cancel_was_processed_but_its_answer_lost_then_asked_again_and_answered_once(
    sock_dir: Path,
) -> None:
    first = Gateway(sock_dir)
    await first.start()
    client = GatewayClient(first.path, "S1", auto_reconnect=True, reconnect_initial_s=0.01)
    await client.connect()
    (order,) = await _submit(client, 1)
    await wait_for(lambda: first.engine.orders, "the order")
    first.rig.venue.accept(1)
    first.engine.flush()
    await order.wait_accepted(15)
    first.lose_answers()
    mass = asyncio.ensure_future(client.mass_cancel(timeout=10))  # processed: the cancel goes out; answer lost
    await wait_for(lambda: first.engine.strategies["S1"].last_req_seq == 2, "the mass cancel processed")
    await first.crash()

    second = Gateway(sock_dir)
    await second.start()
    answer = await mass
    assert isinstance(answer, MassCancelAck) and answer.count == 1
    assert client.resent == 0 and second.engine.counters.duplicate_requests == 1  # asked again, not carried out
    cancels = [r for r in unwrap_requests(read_journal(second.journal_path)) if isinstance(r, JSentCancel)]
    assert len(cancels) == 1
    await client.close()
    second.server.close()  # type: ignore[union-attr]


async def test_resend_false_when_gateway_missed_requests_then_reported_not_received_and_numbering_goes_on(
    sock_dir: Path,
) -> None:
    first = Gateway(sock_dir)
    await first.start()
    client = GatewayClient(first.path, "S1", auto_reconnect=True, reconnect_initial_s=0.01, resend=False)
    await client.connect()
    (kept,) = await _submit(client, 1)
    await wait_for(lambda: first.engine.orders, "the first order")
    first.stop_reading()
    (lost,) = await _submit(client, 1)
    mass = asyncio.ensure_future(client.mass_cancel(timeout=10))
    await asyncio.sleep(0.05)
    await first.crash()

    second = Gateway(sock_dir)
    await second.start()
    with pytest.raises(RequestNotReceivedError, match="request 2 \\(NewOrder\\) not received"):
        await lost.wait_done(15)
    with pytest.raises(RequestNotReceivedError, match="request 3 \\(MassCancel\\)"):
        await mass
    assert lost.status is OrderStatus.NOT_RECEIVED and kept.status is OrderStatus.PENDING_NEW
    assert [type(r) for r in client.not_received] == [NewOrder, MassCancel]
    assert client.req_seq == 1  # the next request is 2 again
    again = await client.submit("ACC1", "V1", "AAPL", Side.BUY, 100, price_ticks=1_000_000, cl_ord_id=lost.cl_ord_id)
    await wait_for(lambda: second.engine.strategies["S1"].last_req_seq == 2, "the new request 2")
    assert again is not lost and _created(second) == [kept.cl_ord_id, lost.cl_ord_id]
    await client.close()
    second.server.close()  # type: ignore[union-attr]


async def test_new_session_when_gateway_starts_a_new_journal_then_requests_in_flight_not_received_and_renumbered(
    sock_dir: Path,
) -> None:
    first = Gateway(sock_dir)
    await first.start()
    states: list[tuple[ConnectionState, str]] = []
    client = GatewayClient(
        first.path,
        "S1",
        auto_reconnect=True,
        reconnect_initial_s=0.01,
        on_connection_state=lambda e: states.append((e.state, e.reason)),
    )
    await client.connect()
    done = await _submit(client, 2)
    await wait_for(lambda: len(first.engine.orders) == 2, "the orders")
    first.rig.venue.accept(1)
    first.engine.flush()
    await done[0].wait_accepted(15)  # request 1 (and so nothing before it) processed
    first.stop_reading()
    (in_flight,) = await _submit(client, 1)
    await asyncio.sleep(0.05)
    await first.crash()
    (sock_dir / "j").rename(sock_dir / "yesterday.j")  # a new trading day: a new journal

    second = Gateway(sock_dir)
    await second.start()
    await wait_for(lambda: client.connections == 2 and client.state is ConnectionState.CONNECTED, "the reconnect")
    assert client.welcome is not None and client.welcome.last_req_seq == 0
    assert in_flight.status is OrderStatus.UNKNOWN and client.resent == 0
    with pytest.raises(RequestOutcomeUnknownError, match="new session"):
        await in_flight.wait_done(1)
    assert [r.req_seq for r in client.outcome_unknown] == [2, 3]  # 2 was processed, unknown to the client
    assert "2 requests in flight not sent again" in states[-1][1]
    await _submit(client, 1)
    await wait_for(lambda: second.engine.strategies["S1"].last_req_seq == 1, "request 1 of the new session")
    await client.close()
    second.server.close()  # type: ignore[union-attr]


async def test_numbering_when_a_new_client_connects_then_it_continues_after_the_gateway(sock_dir: Path) -> None:
    gateway = Gateway(sock_dir)
    await gateway.start()
    async with GatewayClient(gateway.path, "S1") as first:
        await _submit(first, 2)
        await first.cancel("nope")
        await wait_for(lambda: gateway.engine.strategies["S1"].last_req_seq == 3, "three requests")
    async with GatewayClient(gateway.path, "S1") as second:  # the strategy restarted
        assert second.req_seq == 3
        await _submit(second, 1)
        await wait_for(lambda: gateway.engine.strategies["S1"].last_req_seq == 4, "request 4")
        assert gateway.engine.counters.duplicate_requests == 0
    async with GatewayClient(gateway.path, "S1", protocol_version=2) as old:  # version 2: no numbers
        await _submit(old, 1)
        await wait_for(lambda: len(gateway.engine.orders) == 4, "the version-2 order")
        assert old.req_seq == 0 and gateway.engine.strategies["S1"].last_req_seq == 4
    assert gateway.server is not None
    gateway.server.close()
