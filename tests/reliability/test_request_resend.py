"""``kill -9`` with requests in flight, real processes: the strategy sends again exactly what the gateway never got.

``gateway run`` and ``gateway sim ouch`` as processes. To leave requests in the socket buffer
for certain, the gateway is first stopped (SIGSTOP), the strategy writes a burst it cannot read,
and it is SIGKILLed: those bytes die with it. Then a plain ``kill -9`` in the middle of a burst.
After each restart the strategy reconnects and, from ``Welcome.last_req_seq``, sends the rest
again; it never probes. Checked: every request gets exactly one answer, every order is entered
once at the venue (the simulator's record), and the venue sees no cancel the strategy did not ask
for. Once with the SDK, once with the raw client written from the protocol doc alone (which also
sends some processed requests again: duplicates, skipped unanswered; and a MassCancel that matched
nothing, answered again as a duplicate after another kill -9).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from gateway.client import ConnectionState, GatewayError, OrderHandle
from gateway.protocol.messages import MassCancelAck, OrderAccepted, OrderRejected
from model.enums import Side
from tests.rawclient import (
    MASS_CANCEL,
    MASS_CANCEL_ACK,
    NEW_ORDER,
    ORDER_ACCEPTED,
    ORDER_EVENTS,
    WELCOME,
    RawClient,
    frame,
)
from tests.reliability.support import (
    Gateway,
    RecordingClient,
    Simulator,
    StrategyView,
    entered_at_venue,
    wait_for,
    write_config,
)

RESTING = 2_290_000  # rests on the simulator's book: answered by OrderAccepted and nothing else


def _stop(gateway: Gateway) -> None:
    """Freeze the gateway: it reads nothing more, so what the strategy writes stays in the socket buffer."""
    assert gateway.proc is not None
    os.kill(gateway.proc.pid, signal.SIGSTOP)


def _check_venue(sim: Simulator, orders: int, cancels: int) -> None:
    entered = entered_at_venue(sim.records())
    assert len(entered) == orders and {len(r) for r in entered.values()} == {1}  # each order entered once
    assert len([r for r in sim.records() if r.type == "X"]) == cancels  # no probe: only the cancels asked for


async def _reconnected(client: RecordingClient, connections: int) -> None:
    await wait_for(
        lambda: client.connections == connections and client.state is ConnectionState.CONNECTED, 15, "the reconnect"
    )


async def test_sdk_when_gateway_killed_with_requests_in_its_socket_buffer_and_mid_burst_then_each_answered_once(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    gateway = Gateway(workdir, write_config(workdir, sim.port))
    gateways.append(gateway)
    gateway.start()
    client = RecordingClient(gateway.socket, "S1", auto_reconnect=True, reconnect_initial_s=0.02, reconnect_max_s=0.2)
    await client.connect()

    def burst(count: int) -> list[OrderHandle]:
        return [client.submit_nowait("ACC1", "OUCH", "AAPL", Side.BUY, 10, price_ticks=RESTING) for _ in range(count)]

    first = burst(10)
    for handle in first:
        await handle.wait_accepted(10)
    _stop(gateway)
    unread = burst(40)  # requests 11 to 50: written, never read
    await client.cancel(first[0].cl_ord_id)  # 51
    mass = asyncio.ensure_future(client.mass_cancel(symbol="MSFT", timeout=30))  # 52
    await asyncio.sleep(0.1)
    gateway.kill9()
    gateway.start()
    await _reconnected(client, 2)
    assert client.welcome is not None and client.welcome.last_req_seq == 10
    assert client.resent == 42
    for handle in unread:
        assert isinstance(await handle.wait_accepted(10), OrderAccepted)
    answer = await mass
    assert isinstance(answer, MassCancelAck) and answer.count == 0
    await first[0].wait_done(10)

    # A plain kill -9 in the middle of a burst: wherever it lands, the rest is sent again.
    client.kill_after(7, gateway.send_kill)
    late: list[OrderHandle] = []
    try:
        for _ in range(60):
            late += burst(1)
            await asyncio.sleep(0.0005)
    except GatewayError:
        pass  # the client saw the connection go
    await wait_for(lambda: not client.connected, 10, "the connection to drop")
    gateway.kill9()
    gateway.start()
    await _reconnected(client, 3)
    for handle in late:
        assert isinstance(await handle.wait_accepted(10), OrderAccepted)

    view = StrategyView(client.order_events())
    view.assert_exactly_once()
    firsts = Counter(e.cl_ord_id for e in view.events if isinstance(e, OrderAccepted))
    orders = first + unread + late
    assert firsts == dict.fromkeys((h.cl_ord_id for h in orders), 1)  # one answer each, none lost
    assert not [e for e in view.events if isinstance(e, OrderRejected)]  # no DUPLICATE_CL_ORD_ID: none twice
    assert client.req_seq == len(orders) + 2 and client.not_received == [] and client.outcome_unknown == []
    _check_venue(sim, len(orders), cancels=1)
    await client.close()


async def _raw_session(gateway: Gateway, last_seq: int) -> tuple[RawClient, list[Any]]:
    client = await RawClient(str(gateway.socket)).connect()
    welcome = await client.hello("S1", version=3, last_seq=last_seq)
    assert welcome[0] == WELCOME and welcome[1] == 3
    await client.read(welcome[5] + 1)  # the replay, then the venue's VenueStatus
    return client, welcome


async def test_raw_client_when_gateway_killed_with_requests_unread_then_resends_after_last_req_seq_each_answered_once(
    workdir: Path, sim: Simulator, gateways: list[Gateway]
) -> None:
    """The doc's section 4.5, followed by a client that knows only the doc."""
    gateway = Gateway(workdir, write_config(workdir, sim.port))
    gateways.append(gateway)
    gateway.start()
    requests = {
        n: frame(NEW_ORDER, f"R{n}", "ACC1", "OUCH", "AAPL", "B", 10, RESTING, "0", "2", 0, n) for n in range(1, 51)
    }
    client, welcome = await _raw_session(gateway, 0)
    assert welcome[6] == 0  # last_req_seq: start from 1
    await client.send(b"".join(requests[n] for n in range(1, 11)))
    answers = await client.read(10)
    _stop(gateway)
    await client.send(b"".join(requests[n] for n in range(11, 51)))  # never read
    await asyncio.sleep(0.1)
    gateway.kill9()
    client.close()
    gateway.start()

    seen = [m for m in answers if m[0] in ORDER_EVENTS]
    again, welcome = await _raw_session(gateway, last_seq=max(m[1] for m in seen))
    last_req_seq = welcome[6]
    assert last_req_seq == 10
    # Unchanged and in order; from 6 on, as a client that keeps no track of answers might: 6 to 10 are
    # duplicates (at or below last_req_seq), skipped with no second answer.
    await again.send(b"".join(requests[n] for n in range(last_req_seq - 4, 51)))
    seen += [m for m in await again.read(40) if m[0] in ORDER_EVENTS]
    assert [m[1] for m in seen] == list(range(1, 51))  # seq: each event exactly once
    assert Counter((m[0], m[2]) for m in seen) == {(ORDER_ACCEPTED, f"R{n}"): 1 for n in range(1, 51)}
    # A MassCancel that matches nothing (no other journaled effect), then the same again: the duplicate is not
    # carried out, and gets the first answer again (a MassCancel's answer is not in the replay). Nothing came
    # between: the duplicates above had no answer.
    mass = frame(MASS_CANCEL, "", "", "MSFT", "M51", 51)
    await again.send(mass + mass)
    assert await again.read(2) == [[MASS_CANCEL_ACK, "M51", 0]] * 2
    again.close()

    # Across another kill -9, the MassCancel that left nothing else in the journal is still known processed.
    gateway.kill9()
    gateway.start()
    third, welcome = await _raw_session(gateway, last_seq=50)
    assert welcome[6] == 51 and welcome[5] == 0  # last_req_seq 51; nothing to replay
    await third.send(mass)
    assert await third.read(1) == [[MASS_CANCEL_ACK, "M51", 0]]
    _check_venue(sim, 50, cancels=0)
    third.close()
