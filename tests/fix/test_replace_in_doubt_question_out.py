"""A replace put in doubt while a status question about its order is out (fixfix46, left by stop 45).

The order is acknowledged; a gap fill makes the gateway ask about its state (an OrderStatusRequest out). The
strategy replaces it, and the venue's resend request gap-fills the replace (the broker dialect never replays
business messages): its fate is unknown. Before fixfix46 nothing asked about it, because a question was already out
about the order: after that question's answer the order stayed PENDING_REPLACE for good (a cancel waiting behind
it too). Now the replace is asked about once the question is settled, unless the venue's own report settled it.
"""

from __future__ import annotations

from model.order import Order, OrderState, request_replace
from model.venue_events import VenueCancelRejected, VenueReplaced
from tests.harness import sent_ref
from venues.fix.fields import MsgType

from .test_adapter import Rig
from .test_questions_asked_again import _gap_filled
from .test_reset_lost_reports import _order


def _status(ref: bytes, ord_status: bytes, qty: int, price: bytes) -> list[tuple[bytes, bytes]]:
    ids = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref), (b"150", b"I"), (b"39", ord_status)]
    return [*ids, (b"38", b"%d" % qty), (b"44", price), (b"151", b"%d" % qty), (b"14", b"0"), (b"6", b"0")]


def _replace_in_doubt_while_asked() -> tuple[Rig, Order, bytes, bytes]:
    """Order 7 live, asked about after a gap fill; then a replace to 300 @ 149 is gap-filled: in doubt."""
    rig = Rig("broker-fix44").up()
    order, ref = _order(rig, acked=True)
    (question,) = _gap_filled(rig)
    assert (question.msg_type, question.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref.encode())
    replace_ref = sent_ref(rig.adapter.send_replace(order, 300, 1_490_000))
    request_replace(order, 300, 1_490_000, replace_ref)
    rig.adapter.flush()
    (replace,) = rig.wire.take()
    rig.feed(rig.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"%d" % replace.seq), (b"16", b"0")]))
    assert [m.msg_type for m in rig.wire.take()] == [MsgType.SEQUENCE_RESET]  # gap-filled: the replace in doubt
    assert rig.adapter.counters["outcome_unknown"] == 1
    assert rig.adapter.status()["questions_open"] == 1
    return rig, order, ref.encode(), replace_ref.encode()


def test_replace_in_doubt_while_a_question_is_out_then_asked_about_after_the_answer_and_applied() -> None:
    rig, order, ref, replace_ref = _replace_in_doubt_while_asked()
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"0", 100, b"150")))  # as the gateway knew it
    rig.adapter.flush()
    asked = [(m.msg_type, m.get(b"11")) for m in rig.wire.take()]
    assert asked == [(MsgType.ORDER_STATUS_REQUEST, replace_ref)]  # before fixfix46: [] and pending for good
    assert rig.adapter.status()["questions_open"] == 1
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(replace_ref, b"0", 300, b"149")))  # the venue took it
    assert rig.events() == [VenueReplaced(rig.peer.next_seq - 1, 7, 300, 1_490_000, "OID1")]
    assert (order.state, order.qty, order.price) == (OrderState.LIVE, 300, 1_490_000)
    assert rig.adapter.status()["questions_open"] == 0


def test_replace_in_doubt_while_a_question_is_out_then_not_known_there_answered_not_sent() -> None:
    rig, order, ref, replace_ref = _replace_in_doubt_while_asked()
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"0", 100, b"150")))
    rig.adapter.flush()
    assert [m.get(b"11") for m in rig.wire.take()] == [replace_ref]
    unknown = [(b"37", b"NONE"), (b"17", b"S2"), (b"11", replace_ref), (b"150", b"I"), (b"39", b"8")]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, [*unknown, (b"151", b"0"), (b"14", b"0"), (b"6", b"0")]))
    (refused,) = rig.events()
    assert isinstance(refused, VenueCancelRejected) and refused.code == "NOT_SENT"
    assert (order.state, order.qty) == (OrderState.LIVE, 100)


def test_replace_in_doubt_settled_by_the_venues_report_then_not_asked_after_the_answer() -> None:
    rig, order, ref, replace_ref = _replace_in_doubt_while_asked()
    rig.feed(
        rig.peer.execution_report(
            replace_ref, b"5", ord_status=b"0", leaves=300, cum=0, orig_cl_ord_id=ref, order_qty=300, price=b"149"
        )
    )
    assert [type(e) for e in rig.events()] == [VenueReplaced]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(replace_ref, b"0", 300, b"149")))
    rig.adapter.flush()
    assert [m for m in rig.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST] == []  # nothing left in doubt
    assert rig.adapter.status()["questions_open"] == 0
    assert order.state is OrderState.LIVE
