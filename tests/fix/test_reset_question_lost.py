"""Questions to the venue whose answers a numbering reset or a gap fill lost (fixfix44).

Sans-IO: the adapter on a fake clock and wire, the venue scripted, each event applied to its order as the
engine does (``Rig.applying``). Before fixfix44 an order with a question out (``_probes``) was skipped by
``after_replay`` and ``_check_live_orders``: a question whose answer was lost stayed out for good, the order was
never asked about again (at the next reset nor gap fill) and ``questions_open`` stayed above 0.
"""

from __future__ import annotations

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import Order, OrderState, request_cancel
from model.send_result import Sent
from model.venue_events import VenueAccepted, VenueExecuted, VenueRejected, VenueState
from venues.fix.codec import FixMessage
from venues.fix.fields import MsgType

from .test_adapter import Rig
from .test_reset_lost_reports import _order, _venue_resets


def _status(ref: bytes, ord_status: bytes, cum: int) -> list[tuple[bytes, bytes]]:
    """The body of a status answer (ExecType I) about ``ref`` with CumQty ``cum`` at AvgPx 150."""
    ids = [(b"37", b"OID1"), (b"17", b"S1"), (b"11", ref), (b"150", b"I"), (b"39", ord_status)]
    return [*ids, (b"38", b"100"), (b"151", b"%d" % (100 - cum)), (b"14", b"%d" % cum), (b"6", b"150")]


def _asked_after_reset(rig: Rig) -> tuple[Order, bytes]:
    """Order 7 acknowledged; the venue's numbering restarts and the gateway asks about it (OrderStatusRequest)."""
    order, ref = _order(rig, acked=True)
    (question,) = _venue_resets(rig, order, [])
    assert (question.msg_type, question.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref.encode())
    assert rig.adapter.status()["questions_open"] == 1
    return order, ref.encode()


def test_reset_before_the_status_answer_then_asked_again_and_either_answer_applied_once() -> None:
    rig = Rig("broker-fix44").up()
    order, ref = _asked_after_reset(rig)
    again = _venue_resets(rig, order, [])  # the answer was lost with a second reset
    assert [(m.msg_type, m.get(b"11")) for m in again] == [(MsgType.ORDER_STATUS_REQUEST, ref)]  # before: []
    assert rig.adapter.status()["questions_open"] == 1
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"1", 30)))  # the first answer to come
    (executed,) = rig.events()
    assert isinstance(executed, VenueExecuted)
    assert (executed.qty, executed.price, executed.exec_id) == (30, 1_500_000, "")
    assert rig.adapter.status()["questions_open"] == 0
    ignored = rig.adapter.counters["ignored_exec_reports"]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"1", 30)))  # the other question's answer
    assert rig.events() == []  # no fill twice
    assert rig.adapter.counters["ignored_exec_reports"] == ignored + 1
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.LIVE, 30, 70)


def test_question_unanswered_for_an_hour_then_asked_again_until_given_up_and_again_at_a_gap_fill() -> None:
    # fixfix45: asked again after 30 s, 60 s, 120 s without an answer (tests/fix/test_questions_asked_again.py)
    rig = Rig("broker-fix44").up()
    order, ref = _asked_after_reset(rig)
    for _ in range(120):
        rig.clock.advance_ms(30_000)
        rig.feed(rig.peer.message(MsgType.HEARTBEAT))
        rig.adapter.poll(rig.clock())
    sent = [m.msg_type for m in rig.wire.take() if m.msg_type != MsgType.HEARTBEAT]
    assert sent == [MsgType.ORDER_STATUS_REQUEST] * 3  # then given up (questions_unanswered)
    assert rig.adapter.counters["questions_unanswered"] == 1
    assert rig.adapter.status()["questions_open"] == 1
    seq = rig.peer.next_seq
    rig.feed(rig.peer.message(MsgType.HEARTBEAT, seq=seq + 1))  # seq missing: ResendRequest
    assert MsgType.RESEND_REQUEST in [m.msg_type for m in rig.wire.take()]
    rig.feed(rig.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"%d" % (seq + 1))], seq=seq))
    rig.peer.next_seq = seq + 2
    asked: list[FixMessage] = [m for m in rig.wire.take() if m.msg_type != MsgType.HEARTBEAT]
    assert [(m.msg_type, m.get(b"11")) for m in asked] == [(MsgType.ORDER_STATUS_REQUEST, ref)]  # before: []
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"1", 30)))
    (executed,) = rig.events()
    assert isinstance(executed, VenueExecuted) and executed.qty == 30
    assert (order.cum_qty, rig.adapter.status()["questions_open"]) == (30, 0)


def test_reset_before_the_asking_cancel_answered_then_asked_again_and_the_first_cancels_answer_still_settles() -> None:
    rig = Rig("equities-fix42").up()
    order, ref = _order(rig, acked=False)
    unanswered = [UnansweredRequest(order, RequestKind.NEW, ref)]
    (first,) = _venue_resets(rig, order, unanswered)
    again = _venue_resets(rig, order, unanswered)  # before: [] (the order was never asked about again)
    assert [(m.msg_type, m.get(b"41")) for m in again] == [(MsgType.ORDER_CANCEL_REQUEST, ref.encode())]
    assert again[0].get(b"11") != first.get(b"11")
    # the venue did get the first asking cancel and answers it under the new numbering: it does not know the order
    unknown = [(b"103", b"5")]  # OrdRejReason 5: unknown order
    rig.feed(rig.peer.execution_report(first.get(b"11"), b"8", ord_status=b"8", leaves=0, extra=unknown))
    (event,) = rig.events()
    assert isinstance(event, VenueRejected) and event.code == "NOT_SENT"
    assert order.state is OrderState.REJECTED
    assert rig.adapter.status()["questions_open"] == 0


def test_in_session_reset_logon_before_the_status_answer_then_asked_again_under_the_new_numbering() -> None:
    rig = Rig("broker-fix44").up()
    order, ref = _asked_after_reset(rig)
    told: list[VenueState] = []

    def on_state(_name: str, state: VenueState, _reason: str) -> None:  # the core's on_venue_state
        told.append(state)
        if state is VenueState.UP:
            rig.adapter.after_replay([])

    rig.adapter.state_sink = on_state
    rig.peer.next_seq = 1
    rig.feed(rig.peer.logon(reset=True))  # the venue restarts the numbering in session (MsgSeqNum 1)
    assert told == [VenueState.UP]  # told UP again
    sent = rig.wire.take()
    assert (sent[0].msg_type, sent[0].seq) == (MsgType.LOGON, 1)
    assert [(m.msg_type, m.get(b"11")) for m in sent[1:]] == [(MsgType.ORDER_STATUS_REQUEST, ref)]  # before: []
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"4", 30)))  # filled 30, then canceled there
    assert [type(e).__name__ for e in rig.events()] == ["VenueExecuted", "VenueCanceled"]
    assert (order.state, order.cum_qty, rig.adapter.status()["questions_open"]) == (OrderState.CANCELED, 30, 0)


def test_asking_cancel_asked_twice_when_the_first_refusal_settled_it_then_the_second_is_not_the_strategys() -> None:
    """rev44diff: the second asking cancel's refusal landed on the strategy's own cancel as a CancelRejected."""
    rig = Rig("equities-fix42").up()
    order, ref = _order(rig, acked=False)
    unanswered = [UnansweredRequest(order, RequestKind.NEW, ref)]
    (first,) = _venue_resets(rig, order, unanswered)  # asking cancel A1
    (again,) = _venue_resets(rig, order, unanswered)  # a reset before A1's answer: A2
    a1, a2 = first.get(b"11"), again.get(b"11")

    def refused(asking: bytes) -> list[tuple[bytes, bytes]]:
        """The venue has the order (New, nothing filled): it refuses the asking cancel, too late to cancel."""
        return [(b"37", b"OID1"), (b"11", asking), (b"41", ref.encode()), (b"39", b"0"), (b"434", b"1"), (b"102", b"0")]

    rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, refused(a1)))
    assert [type(event) for event in rig.events()] == [VenueAccepted]  # A1's refusal says the venue has it
    assert rig.adapter.status()["questions_open"] == 0
    sent = rig.adapter.send_cancel(order)  # the strategy cancels the order now acknowledged
    assert isinstance(sent, Sent)
    request_cancel(order, sent.venue_ref)
    rig.adapter.flush()
    rig.wire.take()
    ignored = rig.adapter.counters["ignored_exec_reports"]
    rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, refused(a2)))  # the venue refuses A2 the same way
    assert rig.events() == []  # before: a VenueCancelRejected, applied to the strategy's cancel (still live there)
    assert order.state is OrderState.PENDING_CANCEL
    assert rig.adapter.counters["ignored_exec_reports"] == ignored + 1
