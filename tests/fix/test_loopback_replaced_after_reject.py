"""A replace the venue refused and then applied anyway, over loopback against a real QuickFIX acceptor (rev48diff).

The venue (``FixSimulator``) takes a replace to 300 without reporting it, the test sends its OrderCancelReject, and
later the Replaced the book held back. Before fixfix48 the adapter kept only the last refused ClOrdID, none after a
restart: a second refused replace, or a restart, made the late Replaced out of place (the order stayed 100 here, a
fill of 250 an overfill, 50 open there untracked). With another replace in flight the order itself was canceled at
the venue and that replace got no answer of its own; the cancel's answer never left ``late_cancels_waiting``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.protocol.messages import CancelRejected, Replace, Replaced
from model.order import Order, OrderState
from simulators.fix.sim_book import Report
from simulators.fix.simulator import FixSimulator
from tests.harness import MemoryLink, Rig
from venues.fix.fields import MsgType

from .live import GatewaySide, wait_until
from .loopback import journaled_rig, kill_gateway, restarted_gateway, resting_order
from .test_loopback_gap_fill_in_flight import _answers, _next_silent

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


def _refuse(sim: FixSimulator, cl_ord_id: bytes, order: Order) -> None:
    """Send the OrderCancelReject (too late) of replace ``cl_ord_id`` of ``order``."""
    body = [(b"37", b"NONE"), (b"11", cl_ord_id), (b"41", order.venue_ref.encode()), (b"39", b"0"), (b"434", b"2")]
    sim.send(MsgType.ORDER_CANCEL_REJECT, [*body, (b"102", b"0"), (b"58", b"too late")])


async def _refused_but_taken(sim: FixSimulator, rig: Rig, link: MemoryLink, order: Order) -> tuple[bytes, list[Report]]:
    """Replace ``order`` to 300: the book takes it unreported, the venue refuses it; return its ClOrdID and reports."""
    reports: list[Report] = []
    taken = _next_silent(sim, "on_replace", kept=reports)
    rig.send(link, Replace("A", 300, order.price))
    await wait_until(lambda: taken, 15.0, "the venue to take the replace")
    g1 = sim.messages("in", MsgType.ORDER_CANCEL_REPLACE_REQUEST)[-1].get(b"11")
    _refuse(sim, g1, order)
    await wait_until(lambda: order.state is OrderState.LIVE and order.qty == 100, 15.0, "the cancel reject")
    return g1, reports


async def _second_replace(sim: FixSimulator, rig: Rig, link: MemoryLink, qty: int) -> bytes:
    """Send a replace to ``qty`` that the book drops unanswered; return its ClOrdID."""
    dropped = _next_silent(sim, "on_replace", work=False)
    rig.send(link, Replace("A", qty, rig.order("S1", "A").price))
    await wait_until(lambda: dropped, 15.0, "the venue to get the second replace")
    return sim.messages("in", MsgType.ORDER_CANCEL_REPLACE_REQUEST)[-1].get(b"11")


async def test_two_replaces_refused_then_the_first_replaced_then_its_terms_applied_and_no_overfill(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    # rev48diff 1a: R2 refused too (it names the old ClOrdID) overwrote the refused R1: its Replaced was out of place
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    g1, reports = await _refused_but_taken(sim, rig, link, order)
    g2 = await _second_replace(sim, rig, link, 250)
    assert order.state is OrderState.PENDING_REPLACE
    _refuse(sim, g2, order)
    await wait_until(lambda: order.state is OrderState.LIVE, 15.0, "R2's reject")
    assert [type(m).__name__ for m in _answers(rig, link)] == ["CancelRejected", "CancelRejected"]
    for msg_type, report in reports:
        sim.send(msg_type, report)
    await wait_until(lambda: order.qty == 300, 15.0, "the late Replaced")
    assert sim.execute(g1.decode(), 250)
    await wait_until(lambda: order.cum_qty == 250, 15.0, "the fill")
    assert (order.state, order.qty, order.leaves_qty, order.venue_ref) == (OrderState.LIVE, 300, 50, g1.decode())
    assert [type(m).__name__ for m in _answers(rig, link)] == ["Replaced", "Executed"]
    assert rig.engine.counters.overfills == 0
    assert rig.engine.counters.venue_events_out_of_place == 0
    assert gateway.venue.counters["replaced_after_reject"] == 1


async def test_replace_refused_then_restart_then_replaced_then_its_terms_applied_and_no_overfill(
    broker: FixSimulator, tmp_path: Path
) -> None:
    # rev48diff 1b: the restart kept no refused ClOrdID: the late Replaced was out of place, the fill an overfill
    path = tmp_path / "gw.journal"
    first = await GatewaySide(broker, tmp_path / "store").start()
    rig = journaled_rig(first, path)
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    g1, reports = await _refused_but_taken(broker, rig, link, order)
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
        for msg_type, report in reports:
            broker.send(msg_type, report)
        await wait_until(lambda: again.qty == 300, 15.0, "the late Replaced")
        assert broker.execute(g1.decode(), 250)
        await wait_until(lambda: again.cum_qty == 250, 15.0, "the fill")
        assert (again.state, again.qty, again.leaves_qty, again.venue_ref) == (OrderState.LIVE, 300, 50, g1.decode())
        assert [type(m).__name__ for m in _answers(rig2, link2)] == ["Replaced", "Executed"]
        assert rig2.engine.counters.overfills == 0
        assert rig2.engine.counters.venue_events_out_of_place == 0
        assert second.venue.counters["replaced_after_reject"] == 1
    finally:
        await second.stop()
        rig2.engine.journal.close()


async def test_replaced_after_reject_while_another_replace_in_flight_then_that_one_answered_refused(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    # rev48diff 2: the order itself was canceled at the venue, R2 got no answer, late_cancels_waiting stayed 1
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    g1, reports = await _refused_but_taken(sim, rig, link, order)
    assert [type(m).__name__ for m in _answers(rig, link)] == ["CancelRejected"]
    g2 = await _second_replace(sim, rig, link, 150)
    assert order.state is OrderState.PENDING_REPLACE
    for msg_type, report in reports:
        sim.send(msg_type, report)
    await wait_until(lambda: order.qty == 300, 15.0, "the late Replaced")
    answers = _answers(rig, link)
    assert [type(m) for m in answers] == [CancelRejected, Replaced]
    assert isinstance(answers[0], CancelRejected) and answers[0].code == "FIX_REPLACED_EARLIER"
    assert isinstance(answers[1], Replaced) and (answers[1].qty, answers[1].leaves_qty) == (300, 300)
    assert (order.state, order.venue_ref) == (OrderState.LIVE, g1.decode())
    _refuse(sim, g2, order)  # the venue's own answer to R2 (its OrigClOrdID is gone there): nothing more to say
    assert sim.execute(g1.decode(), 250)
    await wait_until(lambda: order.cum_qty == 250, 15.0, "the fill")
    assert (order.state, order.qty, order.leaves_qty) == (OrderState.LIVE, 300, 50)
    assert [type(m).__name__ for m in _answers(rig, link)] == ["Executed"]
    assert sim.messages("in", MsgType.ORDER_CANCEL_REQUEST) == []
    status = gateway.venue.status()
    assert (status["late_cancels_waiting"], gateway.venue.counters["live_after_end"]) == (0, 0)
    assert rig.engine.counters.venue_events_out_of_place == 0
    assert rig.engine.counters.overfills == 0
    assert gateway.venue.counters["replaced_after_reject"] == 1


async def test_replaced_after_reject_with_more_open_than_its_quantity_then_the_order_canceled_there_and_answered(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    # rev48diff 2: a Replaced the order cannot take (LeavesQty 400 of 300): the order is canceled at the venue; its
    # Canceled, which names the order, ends it here and answers the cancel (late_cancels_waiting back to 0)
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    g1, reports = await _refused_but_taken(sim, rig, link, order)
    for msg_type, report in reports:
        sim.send(msg_type, [(tag, b"400" if tag == b"151" else value) for tag, value in report])
    await wait_until(lambda: order.state is OrderState.CANCELED, 15.0, "the order canceled there")
    cancels = sim.messages("in", MsgType.ORDER_CANCEL_REQUEST)
    assert [c.get(b"41") for c in cancels] == [g1]
    assert (order.qty, order.leaves_qty) == (100, 0)
    assert [type(m).__name__ for m in _answers(rig, link)] == ["CancelRejected", "Canceled"]
    assert gateway.venue.status()["late_cancels_waiting"] == 0
    assert gateway.venue.counters["live_after_end"] == 1
    assert gateway.venue.counters["replaced_after_reject"] == 1


async def test_replaced_after_reject_ending_the_order_the_replace_in_flight_kept_open_then_canceled_there(
    sim: FixSimulator, gateway: GatewaySide, rig: Rig
) -> None:
    # fixfix48: order 100, R1 to 300 refused but taken, R2 to 150 in flight, then the venue fills 100: the fill keeps
    # the order open only for R2. The Replaced of R1 (300, 100 executed, 200 open there) answers R2 refused, which
    # ends the order FILLED here: the 200 open there are canceled at the venue, not left untracked
    link = rig.connect("S1")
    order = await resting_order(rig, link)
    rig.engine.flush()
    link.received()
    g1, reports = await _refused_but_taken(sim, rig, link, order)
    await _second_replace(sim, rig, link, 150)
    assert sim.execute(g1.decode(), 100)
    await wait_until(lambda: order.cum_qty == 100, 15.0, "the fill")
    assert (order.state, order.leaves_qty) == (OrderState.PENDING_REPLACE, 50)
    late = {b"14": b"100", b"151": b"200", b"39": b"1"}
    for msg_type, report in reports:
        sim.send(msg_type, [(tag, late.get(tag, value)) for tag, value in report])
    await wait_until(lambda: gateway.venue.counters["live_after_end"] == 1, 15.0, "the cancel at the venue")
    assert order.state is OrderState.FILLED
    answers = _answers(rig, link)
    assert [type(m).__name__ for m in answers] == ["CancelRejected", "Executed", "CancelRejected", "Executed"]
    assert isinstance(answers[2], CancelRejected) and answers[2].code == "FIX_REPLACED_EARLIER"
    # the counter moves when the gateway sends the cancel; the acceptor's thread may not have read it yet
    await wait_until(lambda: sim.messages("in", MsgType.ORDER_CANCEL_REQUEST), 15.0, "the cancel at the acceptor")
    assert [c.get(b"41") for c in sim.messages("in", MsgType.ORDER_CANCEL_REQUEST)] == [g1]
    await wait_until(lambda: gateway.venue.status()["late_cancels_waiting"] == 0, 15.0, "the venue's Canceled")
    assert rig.engine.counters.overfills == 0
