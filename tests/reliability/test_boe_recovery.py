"""Crash recovery on BOE with real processes: ``kill -9`` of ``gateway run`` mid-flow, restart, re-login per unit.

The strategy is the SDK client in this process; the venue is ``gateway sim boe`` in its own
process, whose record file (every New / Cancel / Modify it received, with its outcome) is the
truth the gateway is checked against: no request the venue already had is ever sent again
(``simulators.boe.exchange.violations``), every order the strategy knows ends as the venue has
it, every event reaches the strategy exactly once, and ClOrdIDs stay unique across the crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.client import GatewayError
from gateway.journal import FileJournal, JOrderCreated, JSentCancel, JSentNew, JSentReplace
from gateway.protocol.messages import Canceled, CancelRejected, Executed, OrderAccepted, OrderRejected, Replaced
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from simulators.boe.exchange import InboundRecord, violations
from tests.reliability.support import (
    BOE_VENUE,
    BoeGateway,
    BoeSimulatorProcess,
    Gateway,
    RecordingClient,
    StrategyView,
    order_ids_by_cl_ord_id,
    reconnect_and_settle,
    wait_for,
    write_boe_config,
)

RESTING = 2_290_000  # 229.00: below AAPL's reference 230.10, rests on the book
MARKETABLE = 2_301_500  # 230.15: executes at once
BURST = 200
VENUE = BOE_VENUE


@pytest.fixture
def boe_sim(workdir: Path) -> Iterator[BoeSimulatorProcess]:
    """``gateway sim boe`` recording to ``workdir/boe-record.jsonl``."""
    simulator = BoeSimulatorProcess(workdir)
    yield simulator
    simulator.stop()


def _state(events: list[Any]) -> tuple[str, int, int]:
    """Return (state, cum_qty, leaves_qty) of one order from its events (replaces included)."""
    state, cum, leaves = "PENDING_NEW", 0, -1
    for event in events:
        if isinstance(event, OrderAccepted):
            assert state == "PENDING_NEW", events
            state, leaves = "LIVE", event.qty
        elif isinstance(event, OrderRejected):
            assert state == "PENDING_NEW", events
            state, leaves = "REJECTED", 0
        elif isinstance(event, Executed):
            cum, leaves = event.cum_qty, event.leaves_qty
            state = "FILLED" if leaves == 0 else "LIVE"
        elif isinstance(event, Canceled):
            leaves = event.leaves_qty
            if leaves == 0:
                state = "CANCELED"
        elif isinstance(event, Replaced):
            leaves = event.leaves_qty
    return state, cum, leaves


async def _burst_then_crash(gateway: Gateway, view: StrategyView, sent: list[str], modified: list[str]) -> None:
    """Trade a while (fills, cancels, modifies), then a burst; SIGKILL the gateway in the middle of it."""
    client = RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="A")
    await client.connect()
    resting = [await client.submit("ACC1", VENUE, "AAPL", Side.BUY, 100 + i, price_ticks=RESTING) for i in range(8)]
    filled = [await client.submit("ACC1", VENUE, "MSFT", Side.BUY, 50 + i, price_ticks=4_206_000) for i in range(4)]
    for handle in resting:
        await handle.wait_accepted(15)
    for handle in filled:
        await handle.wait_done(15)
    await resting[0].cancel()
    await resting[0].wait_done(15)
    for handle in resting[6:]:
        await handle.replace(handle.qty + 50, price_ticks=RESTING - 100)
        await wait_for(lambda h=handle: any(isinstance(e, Replaced) for e in h.events), 15, "Replaced")  # type: ignore[misc]
        modified.append(handle.cl_ord_id)
    client.kill_after(30, gateway.send_kill)
    try:
        for i in range(BURST):
            price = MARKETABLE if i % 3 == 0 else RESTING
            client.submit_nowait("ACC1", VENUE, "AAPL", Side.BUY, 200 + i, price_ticks=price)
            if i % 40 == 1:
                await client.cancel(resting[1 + i // 40].cl_ord_id)
            if i % 10 == 9:
                await asyncio.sleep(0.0005)
    except GatewayError:
        pass
    await wait_for(lambda: not client.connected, 15, "the gateway to die mid-burst")
    gateway.kill9()
    await wait_for(lambda: not client.connected, 15, "the client to see the connection drop")
    sent.extend(client.orders)
    view.add(client.order_events())


@pytest.mark.slow
def test_kill9_when_boe_orders_fills_cancels_and_modifies_in_flight_then_restart_resumes_per_unit_exactly_once(
    workdir: Path, boe_sim: BoeSimulatorProcess, gateways: list[Gateway]
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe_sim.port))
    gateways.append(gateway)
    gateway.start()
    view = StrategyView()
    sent: list[str] = []
    modified: list[str] = []
    asyncio.run(_burst_then_crash(gateway, view, sent, modified))
    assert 12 < len(sent) <= 12 + BURST
    before_restart = len(boe_sim.records())

    gateway.start()
    status = gateway.status()
    assert status["recovery"]["records"] > 0
    venue_status = status["venues"][VENUE]
    assert venue_status["start_of_day"] == 2

    async def after() -> RecordingClient:
        client, _welcome = await reconnect_and_settle(gateway.socket, view, sent, _state, timeout_s=15)
        # Modify again after the crash: new ClOrdIDs from this process's start number.
        events = view.events + client.order_events()
        live_modified = [c for c in modified if _state(StrategyView(events).per_order()[c])[0] == "LIVE"]
        for cl_ord_id in live_modified:
            await client.replace(cl_ord_id, 500, price_ticks=RESTING - 200)
        await wait_for(
            lambda: sum(isinstance(e, Replaced) for e in client.order_events()) >= len(live_modified),
            15,
            "Replaced after the restart",
        )
        await client.close()
        return client

    client = asyncio.run(after())
    view.add(client.order_events())
    records = boe_sim.records()
    assert len(records) > before_restart

    # Exactly once to the strategy, across the crash.
    view.assert_exactly_once()
    # The venue never received a request it already had, and every ClOrdID is unique in the day.
    assert violations(records) == []
    cl_ord_ids = [r.cl_ord_id for r in records if r.type in ("New Order", "Modify Order")]
    assert len(cl_ord_ids) == len(set(cl_ord_ids))
    assert any(".2." in c for c in cl_ord_ids), "a Modify after the restart carries start number 2"
    # Every order the gateway knows agrees with the venue: entered once, ends as the venue has it.
    ids = order_ids_by_cl_ord_id(gateway.journal(), "S1")
    new_orders = {r.cl_ord_id: r for r in records if r.type == "New Order"}
    by_order_id = {int(c[3:]): r for c, r in new_orders.items()}
    cancelled_at_venue = {r.orig_cl_ord_id for r in records if r.type == "Cancel Order" and r.outcome == "cancelled"}
    for cl_ord_id, events in view.per_order().items():
        order_events = [e for e in events if not isinstance(e, CancelRejected)]
        if cl_ord_id not in ids:
            codes = [e.code for e in events if isinstance(e, CancelRejected)]
            assert codes == ["UNKNOWN_ORDER"], (cl_ord_id, codes)
            continue
        state, cum, leaves = _state(order_events)
        record = by_order_id.get(ids[cl_ord_id])
        if record is None:
            assert state == "REJECTED", (cl_ord_id, order_events)  # refused by risk or never sent (NOT_SENT)
            continue
        if record.outcome.startswith("rejected"):
            assert state == "REJECTED"
        elif record.price >= 2_301_000:
            assert (state, cum) == ("FILLED", record.qty), (cl_ord_id, order_events)
        elif state == "CANCELED":
            assert any(c.startswith(record.cl_ord_id) for c in cancelled_at_venue), (cl_ord_id, order_events)
        else:
            assert state == "LIVE" and leaves > 0, (cl_ord_id, order_events)
    assert gateway.stop() == 0


def _one_resting_order_then_crash(gateway: Gateway) -> tuple[int, str]:
    """Place one resting order on BOE, SIGKILL the gateway; return (last_seq, cl_ord_id)."""

    async def trade() -> tuple[int, str]:
        async with RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="L") as client:
            handle = await client.submit("ACC1", VENUE, "AAPL", Side.BUY, 77, price_ticks=RESTING)
            await handle.wait_accepted(15)
            return client.last_seq, handle.cl_ord_id

    result = asyncio.run(trade())
    gateway.kill9()
    return result


async def _events_after_restart(gateway: Gateway, last_seq: int, until: type) -> list[Any]:
    async with RecordingClient(gateway.socket, "S1", cl_ord_id_prefix="M", last_seq=last_seq) as client:
        await wait_for(lambda: any(isinstance(e, until) for e in client.order_events()), 15, until.__name__)
        return list(client.order_events())


def _venue_ref(records: list[InboundRecord]) -> str:
    """Return the venue reference of the one New Order the venue has (ClOrdID and its SequenceNumber)."""
    [record] = [r for r in records if r.type == "New Order"]
    return f"{record.cl_ord_id}@{record.sequence}"


def test_restart_when_every_boe_order_answered_then_nothing_resent_and_login_skips_the_journaled(
    workdir: Path, boe_sim: BoeSimulatorProcess, gateways: list[Gateway]
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe_sim.port))
    gateways.append(gateway)
    gateway.start()
    _one_resting_order_then_crash(gateway)
    gateway.start()
    venue = gateway.status()["venues"][VENUE]
    assert (venue["resent"], venue["answers_lost"], venue["replayed"]) == (0, 0, 0)
    assert venue["units"]["1"] == 1  # logged in after the journaled Acknowledgment
    assert [r.outcome for r in boe_sim.records()] == ["acknowledged"]


def test_restart_when_cancel_and_modify_journaled_but_never_sent_then_sent_once_after_replay_complete(
    workdir: Path, boe_sim: BoeSimulatorProcess, gateways: list[Gateway]
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe_sim.port))
    gateways.append(gateway)
    gateway.start()
    last_seq, cl_ord_id = _one_resting_order_then_crash(gateway)
    order_id = order_ids_by_cl_ord_id(gateway.journal(), "S1")[cl_ord_id]
    venue_ref = _venue_ref(boe_sim.records())
    # The crash hit between the journal write of a modify and its bytes reaching the venue.
    journal = FileJournal(gateway.journal(), fsync=FsyncPolicy.NONE)
    journal.append(JSentReplace(order_id, 300, RESTING - 100, f"{venue_ref.split('@')[0]}.1.1@50"))
    journal.close()

    gateway.start()
    events = asyncio.run(_events_after_restart(gateway, last_seq, Replaced))
    assert [type(e) for e in events] == [Replaced] and events[0].qty == 300
    assert [r.type for r in boe_sim.records()] == ["New Order", "Modify Order"]
    assert gateway.status()["venues"][VENUE]["resent"] == 1

    # Then a cancel, journaled and cut off the same way.
    gateway.kill9()
    modified = next(r for r in boe_sim.records() if r.type == "Modify Order").cl_ord_id
    journal = FileJournal(gateway.journal(), fsync=FsyncPolicy.NONE)
    journal.append(JSentCancel(order_id, f"{modified}@60"))
    journal.close()
    gateway.start()
    events = asyncio.run(_events_after_restart(gateway, last_seq + 1, Canceled))
    assert [type(e) for e in events] == [Canceled]
    assert [r.outcome for r in boe_sim.records() if r.type == "Cancel Order"] == ["cancelled"]
    assert violations(boe_sim.records()) == []
    assert gateway.status()["orders_open"] == 0


def test_restart_when_new_order_journaled_but_never_reached_cboe_then_sent_once_after_replay_complete(
    workdir: Path, boe_sim: BoeSimulatorProcess, gateways: list[Gateway]
) -> None:
    gateway = BoeGateway(workdir, write_boe_config(workdir, boe_sim.port))
    gateways.append(gateway)
    gateway.start()
    last_seq, _ = _one_resting_order_then_crash(gateway)
    day = _venue_ref(boe_sim.records())[:3]
    journal = FileJournal(gateway.journal(), fsync=FsyncPolicy.NONE)
    journal.append(
        JOrderCreated(
            99, "S1", "LOST-1", "ACC1", VENUE, "AAPL", Side.BUY, 55, RESTING, TimeInForce.DAY, OrderType.LIMIT, 0
        )
    )
    journal.append(JSentNew(99, f"{day}99@40"))
    journal.close()

    gateway.start()
    events = asyncio.run(_events_after_restart(gateway, last_seq, OrderAccepted))
    assert [(type(e), e.cl_ord_id) for e in events] == [(OrderAccepted, "LOST-1")]
    entered = [r.cl_ord_id for r in boe_sim.records() if r.type == "New Order"]
    assert entered.count(f"{day}99") == 1
    assert violations(boe_sim.records()) == []
