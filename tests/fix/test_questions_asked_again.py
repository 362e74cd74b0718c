"""Questions about orders in doubt that were never asked again (fixfix45, stop 44 leftovers).

Sans-IO: the adapter on a fake clock and wire, the venue scripted, each event applied to its order as the
engine does (``Rig.applying``). Before fixfix45: a question the message store refused was sent again only by
``after_replay`` for an order with a request unanswered, so a question about an acknowledged order (after a gap
fill, a reset or a refused report) was never asked and the fill it would have reported was lost; a status question
the venue refused (so asked with a cancel) went out as an OrderStatusRequest again at a reset, and the answer to
the first asking cancel was ignored; a question with no answer at all waited for ever.
"""

from __future__ import annotations

import logging

import pytest

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import Order, OrderState
from model.venue_events import VenueExecuted, VenueRejected
from venues.fix.adapter import QUESTION_ASKS, QUESTION_WAIT_NS
from venues.fix.codec import FixMessage
from venues.fix.fields import MsgType

from .test_adapter import Rig, _FailingStore
from .test_reset_lost_reports import _order, _venue_resets
from .test_reset_question_lost import _status

SECOND = 1_000_000_000


def _failing_rig() -> tuple[Rig, _FailingStore]:
    rig = Rig("broker-fix44")
    store = rig.venue_adapter.session.store = rig.store = _FailingStore()
    return rig.up(), store


def _gap_filled(rig: Rig) -> list[FixMessage]:
    """The venue gap-fills one number the gateway never received (a report among them may be a fill)."""
    seq = rig.peer.next_seq
    rig.feed(rig.peer.message(MsgType.HEARTBEAT, seq=seq + 1))  # seq missing: ResendRequest
    assert MsgType.RESEND_REQUEST in [m.msg_type for m in rig.wire.take()]
    rig.feed(rig.peer.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"%d" % (seq + 1))], seq=seq))
    rig.peer.next_seq = seq + 2
    return [m for m in rig.wire.take() if m.msg_type != MsgType.HEARTBEAT]


def _polled(rig: Rig, seconds: float) -> list[FixMessage]:
    """Let ``seconds`` pass (the venue's heartbeats keep the link alive), polling as the connector does."""
    for second in range(1, int(seconds) + 1):
        rig.clock.advance_ms(1_000)
        if second % 10 == 0:
            rig.feed(rig.peer.message(MsgType.HEARTBEAT))
        rig.adapter.poll(rig.clock())
        rig.adapter.flush()
    rig.feed(rig.peer.message(MsgType.HEARTBEAT))
    return [m for m in rig.wire.take() if m.msg_type not in (MsgType.HEARTBEAT, MsgType.TEST_REQUEST)]


def test_status_question_the_store_refused_after_a_gap_fill_then_sent_once_it_writes_and_the_fill_reported() -> None:
    rig, store = _failing_rig()
    order, ref = _order(rig, acked=True)
    store.failing = True  # a full disk: the question about the order cannot be stored
    assert _gap_filled(rig) == []
    assert rig.adapter.counters["store_failures"] == 1
    assert rig.adapter.status()["questions_open"] == 0
    assert _polled(rig, 3) == []  # still refused: retried each second, nothing out
    store.failing = False
    asked = _polled(rig, 2)
    assert [(m.msg_type, m.get(b"11")) for m in asked] == [(MsgType.ORDER_STATUS_REQUEST, ref.encode())]  # before: []
    assert rig.adapter.status()["questions_open"] == 1
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref.encode(), b"1", 30)))  # filled 30 in the gap
    (executed,) = rig.events()
    assert isinstance(executed, VenueExecuted) and (executed.qty, executed.price) == (30, 1_500_000)
    assert (order.cum_qty, order.leaves_qty, rig.adapter.status()["questions_open"]) == (30, 70, 0)
    assert _polled(rig, 120) == []  # answered: never asked again


def test_status_question_the_store_refused_then_sent_after_a_reconnect_without_reset() -> None:
    rig, store = _failing_rig()
    order, ref = _order(rig, acked=True)
    store.failing = True
    assert _gap_filled(rig) == []
    rig.adapter.detach()
    rig.adapter.connection_lost(rig.clock())
    store.failing = False
    rig.connect()
    rig.wire.take()
    rig.feed(rig.peer.logon())  # the same numbering: nothing of the venue's is in doubt but the question
    rig.adapter.after_replay([])  # the core, on UP
    rig.adapter.flush()
    asked = [(m.msg_type, m.get(b"11")) for m in rig.wire.take() if m.msg_type != MsgType.HEARTBEAT]
    assert asked == [(MsgType.ORDER_STATUS_REQUEST, ref.encode())]  # before: [] (only unanswered requests)
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref.encode(), b"4", 30)))  # filled 30, canceled
    assert [type(e).__name__ for e in rig.events()] == ["VenueExecuted", "VenueCanceled"]
    assert (order.state, order.cum_qty, rig.adapter.status()["questions_open"]) == (OrderState.CANCELED, 30, 0)


def test_new_order_question_the_store_refused_then_not_sent_once_the_venue_acknowledged_the_order() -> None:
    rig, store = _failing_rig()
    order, ref = _order(rig, acked=False)
    store.failing = True
    rig.feed(rig.peer.message(MsgType.RESEND_REQUEST, [(b"7", b"2"), (b"16", b"0")]))  # not replayed: stale
    store.failing = False
    rig.wire.take()
    rig.feed(rig.peer.execution_report(ref.encode(), b"0"))  # the venue had it: answered meanwhile
    assert order.state is OrderState.LIVE
    assert _polled(rig, 3) == []  # nothing left to ask
    assert rig.adapter.status()["questions_open"] == 0


def test_status_refused_by_the_venue_asked_with_a_cancel_then_a_reset_asks_with_a_cancel_again() -> None:
    rig = Rig("broker-fix44").up()
    order, ref = _order(rig, acked=False)
    unanswered = [UnansweredRequest(order, RequestKind.NEW, ref)]
    (status_request,) = _venue_resets(rig, order, unanswered)
    assert status_request.msg_type == MsgType.ORDER_STATUS_REQUEST
    unsupported = [(b"45", b"%d" % status_request.seq), (b"372", b"H"), (b"380", b"3")]
    rig.feed(rig.peer.message(MsgType.BUSINESS_MESSAGE_REJECT, unsupported))
    (first,) = rig.wire.take()
    assert (first.msg_type, first.get(b"41")) == (MsgType.ORDER_CANCEL_REQUEST, ref.encode())
    rig.clock.advance_ms(1_000)  # a later numbering (its creation time names it)
    again = _venue_resets(rig, order, unanswered)  # the numbering restarts before the asking cancel's answer
    # before: an OrderStatusRequest, which the venue refuses (it has none)
    assert [(m.msg_type, m.get(b"41")) for m in again] == [(MsgType.ORDER_CANCEL_REQUEST, ref.encode())]
    assert again[0].get(b"11") != first.get(b"11")
    # the venue got the first asking cancel and answers it under the new numbering: it does not know the order
    unknown = [(b"37", b"NONE"), (b"11", first.get(b"11")), (b"41", ref.encode()), (b"39", b"8"), (b"434", b"1")]
    rig.feed(rig.peer.message(MsgType.ORDER_CANCEL_REJECT, [*unknown, (b"102", b"1")]))
    (event,) = rig.events()  # before: ignored as the refusal of a settled question, the question left out
    assert isinstance(event, VenueRejected) and event.code == "NOT_SENT"
    assert (order.state, rig.adapter.status()["questions_open"]) == (OrderState.REJECTED, 0)


def test_asking_cancel_asked_again_at_two_resets_then_the_first_ones_answer_still_settles() -> None:
    rig = Rig("equities-fix42").up()
    order, ref = _order(rig, acked=False)
    unanswered = [UnansweredRequest(order, RequestKind.NEW, ref)]
    (first,) = _venue_resets(rig, order, unanswered)
    _venue_resets(rig, order, unanswered)
    (third,) = _venue_resets(rig, order, unanswered)
    assert len({first.get(b"11"), third.get(b"11")}) == 2
    unknown = [(b"103", b"5")]  # the venue answers the first one only now: it does not know the order
    rig.feed(rig.peer.execution_report(first.get(b"11"), b"8", ord_status=b"8", leaves=0, extra=unknown))
    (event,) = rig.events()  # before: the first one's answer was no longer the question's after the second reset
    assert isinstance(event, VenueRejected) and event.code == "NOT_SENT"
    assert rig.adapter.status()["questions_open"] == 0


def test_stale_status_answer_settles_a_later_question_and_no_fill_is_lost() -> None:
    """An answer to an earlier question (asked twice: before and after a gap fill) settles a later one.

    The venue answers in order: the later answer went out after every report before it, so its CumQty holds the
    fill whose report was refused (the reason for the later question); the fill after it arrives and applies.
    """
    rig = Rig("broker-fix44").up()
    order, ref = _asked_after_a_gap_fill(rig)
    (again,) = _gap_filled(rig)  # asked again: its answer may have been among the numbers never received
    assert again.msg_type == MsgType.ORDER_STATUS_REQUEST
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"0", 0)))  # first answer: nothing filled
    assert rig.events() == [] and rig.adapter.status()["questions_open"] == 0
    fill = rig.peer.execution_report(ref, b"F", ord_status=b"1", leaves=70, cum=30, last_qty=30, last_px=b"15O")
    rig.feed(fill)  # refused (LastPx does not parse): a new question about the order
    (later,) = [m for m in rig.wire.take() if m.msg_type == MsgType.ORDER_STATUS_REQUEST]
    assert later.get(b"11") == ref and rig.adapter.status()["questions_open"] == 1
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"1", 30)))  # the second ask's answer
    (executed,) = rig.events()
    assert isinstance(executed, VenueExecuted) and executed.qty == 30
    assert rig.adapter.status()["questions_open"] == 0
    rig.feed(rig.peer.execution_report(ref, b"F", ord_status=b"1", leaves=50, cum=50, last_qty=20, last_px=b"150"))
    assert [e.qty for e in rig.events() if isinstance(e, VenueExecuted)] == [20]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"1", 50)))  # the later question's own answer
    assert rig.events() == []  # settled already: ignored, no fill twice
    assert (order.cum_qty, order.leaves_qty, rig.adapter.status()["questions_open"]) == (50, 50, 0)


def _asked_after_a_gap_fill(rig: Rig) -> tuple[Order, bytes]:
    order, ref = _order(rig, acked=True)
    (question,) = _gap_filled(rig)
    assert (question.msg_type, question.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref.encode())
    return order, ref.encode()


def test_status_question_never_answered_then_asked_again_with_backoff_then_given_up_once_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("broker-fix44").up()
    order, ref = _asked_after_a_gap_fill(rig)
    wait = QUESTION_WAIT_NS // SECOND
    asked_at: list[int] = []
    with caplog.at_level(logging.ERROR, logger="venues.fix.adapter"):
        for second in range(1, 16 * wait):
            for message in _polled(rig, 1):
                assert (message.msg_type, message.get(b"11")) == (MsgType.ORDER_STATUS_REQUEST, ref)
                asked_at.append(second)
    assert asked_at == [wait, 3 * wait, 7 * wait]  # before: [] (waited for ever)
    assert len(asked_at) == QUESTION_ASKS - 1
    counters = rig.adapter.counters
    assert (counters["questions_asked_again"], counters["questions_unanswered"]) == (3, 1)  # given up once
    assert [r.levelname for r in caplog.records if "has not answered" in r.getMessage()] == ["ERROR"]
    assert rig.adapter.status()["questions_open"] == 1  # still out: ops take it up with the venue
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"1", 30)))  # a late answer still settles
    assert [e.qty for e in rig.events() if isinstance(e, VenueExecuted)] == [30]
    assert (order.cum_qty, rig.adapter.status()["questions_open"]) == (30, 0)


def test_status_question_asked_again_for_a_timeout_then_both_answers_applied_once() -> None:
    rig = Rig("broker-fix44").up()
    order, ref = _asked_after_a_gap_fill(rig)
    asked = _polled(rig, QUESTION_WAIT_NS // SECOND)
    assert [(m.msg_type, m.get(b"11")) for m in asked] == [(MsgType.ORDER_STATUS_REQUEST, ref)]
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"1", 30)))  # the first ask's (late) answer
    rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, _status(ref, b"1", 30)))  # the second's
    assert [e.qty for e in rig.events() if isinstance(e, VenueExecuted)] == [30]
    assert (order.cum_qty, rig.adapter.status()["questions_open"]) == (30, 0)


def test_asking_cancel_never_answered_then_not_sent_again_but_given_up_once_and_counted() -> None:
    rig = Rig("equities-fix42").up()
    order, ref = _order(rig, acked=False)
    (asking,) = _venue_resets(rig, order, [UnansweredRequest(order, RequestKind.NEW, ref)])
    assert asking.msg_type == MsgType.ORDER_CANCEL_REQUEST
    wait = QUESTION_WAIT_NS // SECOND * ((1 << QUESTION_ASKS) - 1)
    assert _polled(rig, wait - 2) == []
    assert rig.adapter.counters["questions_unanswered"] == 0
    assert _polled(rig, 3) == []  # a cancel may cancel the order: never sent again for a timeout
    assert rig.adapter.counters["questions_unanswered"] == 1
    assert _polled(rig, wait) == [] and rig.adapter.counters["questions_unanswered"] == 1
    assert rig.adapter.status()["questions_open"] == 1
