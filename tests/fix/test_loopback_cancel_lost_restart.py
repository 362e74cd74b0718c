"""A strategy's Cancel lost on its way to the venue, then the gateway killed and restarted (QuickFIX acceptor).

rev41fix A (HIGH): the OrderCancelRequest never reached the venue; the gateway was killed -9 before anything
showed it. After the restart (a new ``FixVenue`` on the same message store, a new engine recovering the same
journal) the venue's ResendRequest covers the cancel. ``Engine.adopt`` restores the ref of a replace in flight
only, so the new adapter did not know the cancel was unanswered: it gap-filled it and never sent it again. The
strategy's Cancel was never answered and the order stayed live at the venue. Now the adapter takes the cancel in
flight from the order the journal rebuilt (``pending_ref``): the equities dialect replays it (PossDupFlag=Y), the
broker dialect, which never replays business messages, sends it again under a new ClOrdID (docs/venues/fix.md,
"Requests whose outcome is unknown"). The strategy gets one Canceled.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.journal import read_journal
from gateway.protocol.messages import Cancel, Canceled, CancelRejected
from gateway.recovery import recover
from model.order import OrderState
from simulators.fix.simulator import FixSimulator
from venues.fix.fields import MsgType

from .live import GatewaySide, running_simulator, wait_until
from .loopback import journaled_rig, kill_gateway, restarted_gateway, resting_order

pytest.importorskip("quickfix")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["equities-fix42", "broker-fix44"])
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FixSimulator]:
    with running_simulator(tmp_path / "sim", request.param) as simulator:
        yield simulator


async def test_cancel_lost_on_the_way_then_gateway_killed_then_sent_after_the_restart_and_answered_once(
    sim: FixSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "gw.journal"
    first = await GatewaySide(sim, tmp_path / "store").start()
    rig = journaled_rig(first, path)
    link = rig.connect("S1")
    order = await resting_order(rig, link)

    sim.drop_next_input(1)  # the cancel is lost on its way: the acceptor never sees it
    rig.send(link, Cancel("A"))
    await wait_until(lambda: sim.relay.dropped_input, 15.0, "the lost cancel")
    rig.engine.flush()
    assert order.state is OrderState.PENDING_CANCEL
    cancel_ref = order.pending_ref
    cancel_seq = first.venue.session.next_sender_seq - 1
    assert sim.messages("in", MsgType.ORDER_CANCEL_REQUEST) == []
    last_seq = rig.engine.strategies["S1"].next_seq - 1

    # kill -9 before anything shows the loss; the journal and the store stay
    await kill_gateway(first, rig)
    sim.drop_connection()
    await wait_until(lambda: not sim.logged_on, 15.0, "the acceptor to see the disconnect")
    second, rig2 = restarted_gateway(sim, tmp_path / "store", path)  # appends to the same journal
    again = rig2.order("S1", "A")
    assert (again.state, again.pending_ref) == (OrderState.PENDING_CANCEL, cancel_ref)
    try:
        link2 = rig2.connect("S1", last_seq=last_seq)
        link2.received()
        await second.start()
        # the acceptor's ResendRequest covers the lost cancel; the venue then cancels the order
        await wait_until(lambda: again.state is OrderState.CANCELED, 15.0, "the order to be canceled")  # old: stays
        rig2.engine.flush()
        answers = [m for m in link2.received() if isinstance(m, (Canceled, CancelRejected))]
        assert [(type(m), m.cl_ord_id) for m in answers] == [(Canceled, "A")]
        (resend,) = sim.messages("out", MsgType.RESEND_REQUEST)
        assert int(resend.get(b"7")) == cancel_seq
        cancels = sim.messages("in", MsgType.ORDER_CANCEL_REQUEST)
        counters = second.venue.counters
        if sim.dialect.name == "equities-fix42":  # replayed under its own number and ClOrdID
            assert [(m.seq, m.get(b"11").decode(), m.get(b"43")) for m in cancels] == [(cancel_seq, cancel_ref, b"Y")]
            assert (counters["not_replayed"], counters["cancels_resent"]) == (0, 0)
        else:  # gap-filled (the broker never takes a replay), sent again under a new ClOrdID
            assert [m.get(b"43") for m in cancels] == [b""]
            assert cancels[0].get(b"11").decode() not in ("", cancel_ref)
            assert cancels[0].get(b"41").decode() == order.venue_ref
            assert (counters["not_replayed"], counters["outcome_unknown"], counters["cancels_resent"]) == (1, 1, 1)
        assert counters["unknown_cl_ord_id"] == 0
        assert second.venue.session.counters["resend_requests_received"] == 1
        assert sim.book.duplicates == 0
    finally:
        await second.stop()
        rig2.engine.journal.close()
    assert recover(read_journal(path)).orders[order.order_id].state is OrderState.CANCELED
