"""The venue asks again while its ResendRequest is answered in slices: every number it asked for is answered.

rev59fix MEDIUM (a regression of fixresend58): a second ResendRequest from the first's BeginSeqNo or above was
"answered by" the answer under way, whose end did not move: RR(100,200) then RR(300,400) answered 100..200 only,
RR(100,1500) then RR(100,0) never answered 1501 and up, RR(100,1500) then RR(50,2500) stopped at 1500. The venue's
gap stayed open (QuickFIX does not ask again: every later message of ours held as too high) while the INFO line
said it was answered. Now the answer's end moves to the farther request's end, never beyond the last number sent
before the answer began: what was numbered after that waits behind the answer and goes as itself, once, after it.
Sans-IO, fake clock (``Rig``).
"""

from __future__ import annotations

import logging

import pytest

from venues.fix.codec import FixMessage
from venues.fix.fields import MsgType

from .test_session import Rig
from .test_session_resend_slices import _covered, _day, _order, _resend_request

pytestmark = pytest.mark.timeout(30)


def _answer(rig: Rig, wire: list[FixMessage]) -> list[FixMessage]:
    """Poll the session until its answer has ended; return ``wire`` with what it queued."""
    while rig.session.resending:
        rig.session.poll(rig.clock())
        wire += rig.take()
    return wire


def test_second_request_above_the_end_of_the_one_answered_then_the_answer_runs_on_to_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig().logged_on()
    last = _day(rig, 600)
    with caplog.at_level(logging.INFO, logger="venues.fix.session.session"):
        rig.feed(_resend_request(rig, 100, 200), _resend_request(rig, 300, 400))  # one read
    assert rig.session.resending
    wire = _answer(rig, rig.take())
    # the old code: [100, ..., 200], 300..400 never answered
    assert _covered(wire) == list(range(100, 401)), _covered(wire)[-3:]
    assert last > 400 and all(m.get(b"43") == b"Y" for m in wire if m.msg_type != MsgType.SEQUENCE_RESET)
    (line,) = [r.getMessage() for r in caplog.records if "while its ResendRequest" in r.getMessage()]
    assert "venue asked for 300..400 while its ResendRequest 100..200 is answered" in line, line
    assert f"answered by it, which ends at 400 (at most {last}," in line, line


def test_second_request_to_the_end_from_the_same_begin_then_answered_up_to_the_last_number_sent() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 600)
    rig.feed(_resend_request(rig, 100, 300), _resend_request(rig, 100, 0))
    wire = _answer(rig, rig.take())
    assert _covered(wire) == list(range(100, last + 1)), _covered(wire)[-3:]  # the old code: up to 300


def test_second_request_from_below_to_a_farther_end_then_answered_from_there_to_that_end() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 600)
    rig.feed(_resend_request(rig, 100, 300))
    wire = rig.take()
    assert rig.session.resending  # the answer is under way when the venue asks again
    sent_to = _covered(wire)[-1]
    rig.feed(_resend_request(rig, 50, 500))
    wire = _answer(rig, wire + rig.take())
    covered = _covered(wire)
    # the old code: 100..sent_to, then 50..300 (stops at the first request's end)
    assert covered == [*range(100, sent_to + 1), *range(50, 501)], (sent_to, covered[-3:])
    assert last > 500


def test_second_request_beyond_what_was_numbered_behind_the_answer_then_those_go_once_as_themselves() -> None:
    """Capped at the last number sent before the answer began: what waits behind it is never replayed first."""
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 100, 300))
    wire = rig.take()
    assert rig.session.resending  # the answer is under way when the venue asks again
    behind = [_order(rig, 1000 + n) for n in range(2)]  # a strategy's orders meanwhile: behind the answer
    assert behind == [last + 1, last + 2]
    rig.feed(_resend_request(rig, 120, last + 2))  # the venue asks up to a number not sent yet
    wire = _answer(rig, wire + rig.take())
    assert _covered(wire) == [*range(100, last + 1), last + 1, last + 2]  # each once, in order
    tail = wire[-2:]
    assert [(m.msg_type, m.seq, m.get(b"43")) for m in tail] == [
        (MsgType.NEW_ORDER_SINGLE, last + 1, b""),
        (MsgType.NEW_ORDER_SINGLE, last + 2, b""),
    ]
    assert rig.session.queue is rig.session.outbox


def test_second_request_only_for_numbers_behind_the_answer_then_the_answer_keeps_its_end() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 100, 200))
    wire = rig.take()
    assert rig.session.resending  # the answer is under way when the venue asks again
    new_order = _order(rig, 1000)
    rig.feed(_resend_request(rig, new_order, 0))  # asks for the order that waits behind the answer
    wire = _answer(rig, wire + rig.take())
    assert _covered(wire) == [*range(100, 201), new_order]
    assert (wire[-1].seq, wire[-1].get(b"43")) == (last + 1, b"")


def test_second_request_from_below_to_the_end_then_capped_at_the_last_number_sent_before_the_answer() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 100, 200))
    wire = rig.take()
    assert rig.session.resending  # the answer is under way when the venue asks again
    sent_to = _covered(wire)[-1]
    new_order = _order(rig, 1000)
    rig.feed(_resend_request(rig, 10, 0))
    wire = _answer(rig, wire + rig.take())
    # the old code: 10..200 (the first request's end), 201..last never answered
    assert _covered(wire) == [*range(100, sent_to + 1), *range(10, last + 1), new_order]
    assert (wire[-1].seq, wire[-1].get(b"43")) == (new_order, b"")
