"""An asking cancel (FIX 4.2, no OrderStatusRequest) out when the gateway restarts (fixfix46).

A new order gap-filled on the venue's resend request is asked about with a cancel naming it (OrigClOrdID). The
gateway is killed before the answer. Before fixfix46 the restarted adapter did not take that question back (only
OrderStatusRequests): the stop-45 reviewer's case held because the venue's Canceled names its order by ClOrdID and
ends it as any cancel does. But the venue's OrderCancelReject "unknown order" (the order never reached it) was then
a refusal of a cancel the strategy never sent: the order stayed PENDING_NEW for good (never NOT_SENT), and a venue
that never got the asking cancel was never asked again. Now the asking cancel is taken back from the store: its
answer settles the question as before the restart, and once up it is asked again (either answer settles it).
"""

from __future__ import annotations

from pathlib import Path

from model.order import Order, OrderState
from model.venue_events import VenueCanceled, VenueCancelRejected, VenueRejected
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import Rig
from .test_reset_lost_reports import _order


def _asked_then_restarted(tmp_path: Path) -> tuple[Rig, Order, bytes, bytes]:
    """Order 7 sent, not answered; the venue's resend request gap-fills it: asked with a cancel; then a restart."""
    starts = tmp_path / "starts"  # each start of the day numbers its cancels' ClOrdIDs apart
    first = Rig(starts_file=starts).up()
    _, ref = _order(first, acked=False)
    first.clock.advance_ms(31_000)  # older than the dialect's stale_after_ms: gap-filled, not replayed
    first.feed(first.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"2"), (b"16", b"0")]))
    (asking,) = [m for m in first.wire.take() if m.msg_type == MsgType.ORDER_CANCEL_REQUEST]
    assert (asking.msg_type, asking.get(b"41")) == (MsgType.ORDER_CANCEL_REQUEST, ref.encode())
    store = first.store
    rig = Rig(starts_file=starts)  # the restarted gateway: the same store, the order restored from the journal
    rig.venue_adapter.session.store = rig.store = store
    again = make_order(7)
    again.venue_ref = ref
    again.state = OrderState.PENDING_NEW
    rig.adapter.restore(again, ref)
    rig.applying(again)
    rig.peer.next_seq = first.peer.next_seq
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())  # the same numbering
    return rig, again, ref.encode(), asking.get(b"11")


def test_asking_cancel_out_at_a_restart_then_the_answer_unknown_order_reports_not_sent(tmp_path: Path) -> None:
    rig, order, ref, asking_ref = _asked_then_restarted(tmp_path)
    assert rig.adapter.status()["questions_open"] == 1  # before fixfix46: 0
    reject = [(b"37", b"NONE"), (b"11", asking_ref), (b"41", ref), (b"39", b"8"), (b"102", b"1"), (b"434", b"1")]
    rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, reject, header=[(b"43", b"Y")]))  # resent at the logon
    (rejected,) = rig.events()
    assert isinstance(rejected, VenueRejected) and rejected.code == "NOT_SENT"  # before: a CancelRejected
    assert order.state is OrderState.REJECTED  # before fixfix46: PENDING_NEW for good
    assert rig.adapter.status()["questions_open"] == 0


def test_asking_cancel_out_at_a_restart_then_asked_again_once_up_and_the_first_answer_settles_it(
    tmp_path: Path,
) -> None:
    rig, order, ref, asking_ref = _asked_then_restarted(tmp_path)
    rig.adapter.after_replay([])  # the core, on UP: the venue may never have got the asking cancel
    rig.adapter.flush()
    (again,) = [m for m in rig.wire.take() if m.msg_type == MsgType.ORDER_CANCEL_REQUEST]  # before fixfix46: none
    assert again.get(b"41") == ref and again.get(b"11") != asking_ref
    canceled = rig.peer.execution_report(asking_ref, b"4", ord_status=b"4", leaves=0, cum=0, orig_cl_ord_id=ref)
    rig.feed(canceled)  # the venue had the order: the first asking cancel canceled it
    assert [type(e) for e in rig.events()] == [VenueCanceled]
    assert order.state is OrderState.CANCELED
    late = [(b"37", b"OID1"), (b"11", again.get(b"11")), (b"41", ref), (b"39", b"4"), (b"102", b"1"), (b"434", b"1")]
    rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, late))  # the second one's answer: the order is gone
    # the other answer, after the order ended: passed on as about an ended order (the core counts it out of place)
    assert [type(e) for e in rig.events()] == [VenueCancelRejected]
    assert order.state is OrderState.CANCELED
    assert rig.adapter.status()["questions_open"] == 0
