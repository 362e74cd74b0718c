"""A cancel/replace refused with an ExecutionReport (ExecType 8) whose OrdStatus says the order is over (rev49fix 1).

Over loopback against a real QuickFIX acceptor (``FixSimulator``), FIX 4.4 (broker-fix44, which has
OrderStatusRequest) and FIX 4.2 (equities-fix42, which has not). Before fixfix49 the adapter forgot the order
(OrdStatus 8, 4, 2, C or 3 in the refusal) while the core kept it open: the venue's later Canceled was dropped as an
unknown ClOrdID (the strategy never told, the order open in the gateway and risk for good), and the next
cancel/replace reused a ClOrdID already sent in the session, which the venue ignores as a duplicate. Now the
refusal is the request's answer and the order stays tracked; its OrdStatus is taken as an OrderCancelReject's is
(docs/venues/fix.md, "restatements"): counted ``status_disagreements``, asked about where the dialect has
OrderStatusRequest, else logged at ERROR to reconcile.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Replace
from model.order import Order, OrderState
from simulators.fix.sim_book import Report
from simulators.fix.simulator import FixSimulator
from tests.harness import MemoryLink, Rig
from venues.fix.fields import MsgType

from .live import GatewaySide, running_simulator, wait_until
from .loopback import journaled_rig, kill_gateway, restarted_gateway, resting_order
from .test_loopback_gap_fill_in_flight import _answers, _next_silent

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)

_PENDING = (OrderState.PENDING_CANCEL, OrderState.PENDING_REPLACE)


@pytest.fixture(params=["broker-fix44", "equities-fix42"])
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FixSimulator]:
    """Run a simulator of each dialect (a real QuickFIX acceptor) for the test."""
    with running_simulator(tmp_path / "sim", request.param) as simulator:
        yield simulator


def _refuse(sim: FixSimulator, cl_ord_id: bytes, order: Order, ord_status: bytes) -> None:
    """Send an ExecutionReport ExecType 8 (Rejected) refusing request ``cl_ord_id`` with OrdStatus ``ord_status``."""
    body = [(b"37", b"OID1"), (b"11", cl_ord_id), (b"41", order.venue_ref.encode()), (b"17", b"RJ%s" % cl_ord_id)]
    if sim.begin_string == "FIX.4.2":
        body.append((b"20", b"0"))
    body += [(b"150", b"8"), (b"39", ord_status), (b"55", b"MSFT"), (b"54", b"1"), (b"38", b"%d" % order.qty)]
    body += [(b"151", b"0"), (b"14", b"0"), (b"6", b"0"), (b"58", b"refused")]
    sim.send(MsgType.EXECUTION_REPORT, body)


async def _refused(
    sim: FixSimulator,
    rig: Rig,
    link: MemoryLink,
    order: Order,
    kind: str,
    status: bytes,
    then: list[Report] | None = None,
) -> bytes:
    """Have ``order``'s cancel (or replace to 80) dropped by the book, refused by the venue; return its ClOrdID.

    The reports ``then`` follow the refusal at once (before the gateway can ask anything about it).
    """
    name, msg_type = ("on_cancel", MsgType.ORDER_CANCEL_REQUEST)
    if kind == "replace":
        name, msg_type = ("on_replace", MsgType.ORDER_CANCEL_REPLACE_REQUEST)
    dropped = _next_silent(sim, name, work=False)
    rig.send(link, Cancel("A") if kind == "cancel" else Replace("A", 80, order.price))
    await wait_until(lambda: dropped, 15.0, f"the venue to get the {kind}")
    request = sim.messages("in", msg_type)[-1].get(b"11")
    _refuse(sim, request, order, status)
    for msg_type, report in then or ():
        sim.send(msg_type, report)
    await wait_until(lambda: order.state not in _PENDING, 15.0, "the refusal")
    return request


@pytest.mark.parametrize(("kind", "status"), [("replace", b"4"), ("cancel", b"8"), ("replace", b"2")])
async def test_refused_with_an_ended_ord_status_then_the_order_tracked_and_the_next_cancel_gets_a_new_cl_ord_id(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig, kind: str, status: bytes
) -> None:
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    first = await _refused(sim, rig, link, order, kind, status)
    answers = _answers(rig, link)
    assert [type(m) for m in answers] == [CancelRejected]
    assert gateway.venue.status()["open_orders"] == 1  # still tracked
    assert gateway.venue.counters["status_disagreements"] == 1
    rig.send(link, Cancel("A"))
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the second cancel's Canceled")
    second = sim.messages("in", MsgType.ORDER_CANCEL_REQUEST)[-1].get(b"11")
    assert second != first  # before: the same ClOrdID again, which the venue ignored as a duplicate
    assert second.endswith(b".2")
    assert [type(m) for m in _answers(rig, link)] == [Canceled]
    assert gateway.venue.counters["unknown_cl_ord_id"] == 0
    assert rig.engine.counters.venue_events_out_of_place == 0
    assert gateway.venue.status()["open_orders"] == 0


async def test_replace_refused_crossing_an_unsolicited_cancel_then_the_strategy_told_canceled(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    # rev49fix s5 "replace 4": the venue cancels the order on its own; its refusal of the replace in flight says
    # OrdStatus 4, then its Canceled of the order comes. Before: dropped as unknown, the order LIVE here for good
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    canceled = sim.book.cancel_all(sim.session_key())  # the book cancels it; its report comes after the refusal
    assert len(canceled) == 1
    await _refused(sim, rig, link, order, "replace", b"4", then=canceled)
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the venue's Canceled")
    answers = _answers(rig, link)
    assert [type(m) for m in answers] == [CancelRejected, Canceled]
    assert gateway.venue.counters["unknown_cl_ord_id"] == 0
    assert gateway.venue.counters["status_disagreements"] == 1
    assert rig.engine.counters.venue_events_out_of_place == 0
    assert gateway.venue.status()["open_orders"] == 0


async def test_restart_then_cancel_refused_with_ord_status_4_then_the_venue_canceled_reaches_the_strategy(
    broker: FixSimulator, tmp_path: Path
) -> None:
    # the same shape with the order restored from the journal after a kill -9 (its tracking rebuilt by restore)
    path = tmp_path / "gw.journal"
    first = await GatewaySide(broker, tmp_path / "store").start()
    rig = journaled_rig(first, path)
    link = rig.connect("S1")
    await resting_order(rig, link)
    rig.engine.flush()
    last_seq = rig.engine.strategies["S1"].next_seq - 1
    await kill_gateway(first, rig)
    broker.drop_connection()
    await wait_until(lambda: not broker.logged_on, 15.0, "the acceptor to see the disconnect")
    second, rig2 = restarted_gateway(broker, tmp_path / "store", path)
    again = rig2.order("S1", "A")
    try:
        link2 = rig2.connect("S1", last_seq=last_seq)
        link2.received()
        await second.start()
        await wait_until(lambda: broker.logged_on, 15.0, "the logon")
        canceled = broker.book.cancel_all(broker.session_key())
        first_cancel = await _refused(broker, rig2, link2, again, "cancel", b"4", then=canceled)
        await wait_until(lambda: again.state is OrderState.CANCELED, 15.0, "the venue's Canceled")
        assert [type(m) for m in _answers(rig2, link2)] == [CancelRejected, Canceled]
        assert second.venue.counters["unknown_cl_ord_id"] == 0
        assert second.venue.status()["open_orders"] == 0
        assert first_cancel.endswith(b".1")
    finally:
        await second.stop()
        rig2.engine.journal.close()


async def test_cancel_before_the_ack_refused_with_ord_status_8_then_the_order_tracked_until_its_answer(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    # the book loses the new order; the strategy's cancel sent before the ack gets an OrderCancelReject with OrdStatus
    # 8 (unknown order). Before: the adapter forgot the order while the core kept it PENDING_NEW, so the new order's
    # answer was dropped as an unknown ClOrdID. Now it stays tracked: FIX 4.4 asks the venue (unknown there:
    # rejected NOT_SENT); on FIX 4.2 the venue's late Rejected of the new order ends it
    dropped = _next_silent(sim, "on_new", work=False)
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100, venue="FIXV", symbol="MSFT")
    order = rig.order("S1", "A")
    await wait_until(lambda: dropped, 15.0, "the venue to get the order")
    rig.send(link, Cancel("A"))
    await wait_until(lambda: sim.messages("out", MsgType.ORDER_CANCEL_REJECT), 15.0, "the venue's refusal")
    if sim.begin_string == "FIX.4.2":
        await wait_until(lambda: order.state is OrderState.PENDING_NEW, 15.0, "the refusal")
        assert gateway.venue.status()["open_orders"] == 1  # still tracked
        body = [(b"37", b"NONE"), (b"11", order.venue_ref.encode()), (b"17", b"RJ1"), (b"20", b"0"), (b"150", b"8")]
        body += [(b"39", b"8"), (b"55", b"MSFT"), (b"54", b"1"), (b"38", b"100"), (b"151", b"0"), (b"14", b"0")]
        sim.send(MsgType.EXECUTION_REPORT, [*body, (b"6", b"0"), (b"103", b"0"), (b"58", b"lost")])
    await wait_until(lambda: order.state is OrderState.REJECTED, 15.0, "the new order's answer")
    rig.engine.flush()
    names = [type(m).__name__ for m in link.received()]
    assert names[-2:] == ["CancelRejected", "OrderRejected"]
    assert gateway.venue.counters["unknown_cl_ord_id"] == 0
    assert gateway.venue.counters["status_disagreements"] == 1
    assert gateway.venue.status()["open_orders"] == 0
