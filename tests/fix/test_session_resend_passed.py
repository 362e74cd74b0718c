"""The venue asks again from a number the answer under way has passed: answered again from there, once per begin.

rev59merge3 MEDIUM 3 (since fixresend58): a second ResendRequest from the first's BeginSeqNo or above but below the
number the answer had got to (``job.next``) was "answered by it": the numbers already passed were never sent again.
RR(1000,0), copies up to 1255 sent, then RR(1050,0) from a venue that discarded them (garbled): 1050..1255 never came,
while the INFO line said "answered by it". Now a request from below ``job.next`` goes back there (PossDupFlag Y),
once per BeginSeqNo taken on in this answer (``ResendJob.begins``): a venue asking the same again on its own resend
timeout never loops the answer; the end and the limit keep fixresend59's rules. Sans-IO, fake clock (``Rig``).
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
    polls = 0
    while rig.session.resending:
        rig.session.poll(rig.clock())
        wire += rig.take()
        polls += 1
        assert polls < 1000, "the answer never ends"
    return wire


def _answered_to(rig: Rig, wire: list[FixMessage], past: int) -> list[FixMessage]:
    """Poll until the answer has sent ``past`` (and is still under way); return ``wire`` with what it queued."""
    while _covered(wire)[-1] < past:
        rig.session.poll(rig.clock())
        wire += rig.take()
    assert rig.session.resending
    return wire


def _again_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "while its ResendRequest" in r.getMessage()]


def test_request_from_a_number_the_answer_passed_then_answered_again_from_there(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rev59merge3 s20: RR(1000,0), copies to 1255 at least, RR(1050,0): 1050.. all sent again."""
    rig = Rig().logged_on()
    last = _day(rig, 1500)
    rig.feed(_resend_request(rig, 1000))
    wire = _answered_to(rig, rig.take(), 1255)
    sent_to = _covered(wire)[-1]
    with caplog.at_level(logging.INFO, logger="venues.fix.session.session"):
        rig.feed(_resend_request(rig, 1050))
        wire = _answer(rig, wire + rig.take())
    # merge59: [1000..last], 1050..sent_to never sent again
    assert _covered(wire) == [*range(1000, sent_to + 1), *range(1050, last + 1)], _covered(wire)[-3:]
    assert all(m.get(b"43") == b"Y" for m in wire if m.msg_type != MsgType.SEQUENCE_RESET)
    (line,) = _again_lines(caplog)
    assert (
        f"venue asked for 1050..0 while its ResendRequest 1000..{last} is answered (at {sent_to + 1}): answering "
        f"1050..{last} ({sent_to + 1 - 1050} number(s) already sent in it go again)"
    ) in line, line


def test_same_begin_asked_again_after_the_answer_went_back_there_then_not_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A venue asking RR(150,0) on its own timeout: the answer goes back to 150 once, not at every ask."""
    rig = Rig().logged_on()
    last = _day(rig, 600)
    rig.feed(_resend_request(rig, 100))
    wire = _answered_to(rig, rig.take(), 200)
    first_to = _covered(wire)[-1]
    rig.feed(_resend_request(rig, 150))
    wire = _answered_to(rig, wire + rig.take(), 300)
    rig.clock.advance(11_000_000_000)  # the INFO line is at most once per 10 s
    with caplog.at_level(logging.INFO, logger="venues.fix.session.session"):
        rig.feed(_resend_request(rig, 150))  # asked again: not once more
        at = rig.session._resend.next  # type: ignore[union-attr]
        wire = _answer(rig, wire + rig.take())
    assert _covered(wire) == [*range(100, first_to + 1), *range(150, last + 1)], _covered(wire)[-3:]
    (line,) = _again_lines(caplog)
    assert f"(at {at}): asked from 150 before in this answer, 150..{at - 1} not sent again" in line, line


def test_first_begin_asked_again_mid_answer_then_the_answer_goes_on_each_number_once() -> None:
    """The first request's BeginSeqNo asked again (its resend timeout, both in one read): taken on already."""
    rig = Rig().logged_on()
    last = _day(rig, 600)
    rig.feed(_resend_request(rig, 100))
    wire = _answered_to(rig, rig.take(), 250)
    rig.feed(_resend_request(rig, 100))
    wire = _answer(rig, wire + rig.take())
    assert _covered(wire) == list(range(100, last + 1))


def test_request_from_below_then_from_a_number_passed_then_both_sent_again_once_each() -> None:
    rig = Rig().logged_on()
    last = _day(rig, 600)
    rig.feed(_resend_request(rig, 300))
    wire = _answered_to(rig, rig.take(), 400)
    first_to = _covered(wire)[-1]
    rig.feed(_resend_request(rig, 50))  # below the first: from there (as before)
    wire = _answered_to(rig, wire + rig.take(), 150)
    second_to = _covered(wire)[-1]
    rig.feed(_resend_request(rig, 120))  # a number passed in the second go: from there once
    rig.feed(_resend_request(rig, 50))  # asked already: not again
    wire = _answer(rig, wire + rig.take())
    assert _covered(wire) == [*range(300, first_to + 1), *range(50, second_to + 1), *range(120, last + 1)]


def test_request_from_a_number_passed_with_orders_behind_then_capped_and_those_go_once_after() -> None:
    """fixresend59's limit holds: the answer going back never reaches what waits behind it."""
    rig = Rig().logged_on()
    last = _day(rig, 300)
    rig.feed(_resend_request(rig, 100))
    wire = _answered_to(rig, rig.take(), 150)
    sent_to = _covered(wire)[-1]
    behind = [_order(rig, 1000 + n) for n in range(2)]
    rig.feed(_resend_request(rig, 120, 0))
    wire = _answer(rig, wire + rig.take())
    assert _covered(wire) == [*range(100, sent_to + 1), *range(120, last + 1), *behind]
    assert [(m.seq, m.get(b"43")) for m in wire[-2:]] == [(behind[0], b""), (behind[1], b"")]
    assert rig.session.queue is rig.session.outbox


def test_venue_asking_after_every_slice_from_a_number_lagging_behind_then_the_answer_ends() -> None:
    """A venue asking from where it got to, which lags the copies in flight: every ask a new begin, the answer
    goes back each time, and still ends (each begin once; every slice moves on past the last begin)."""
    rig = Rig().logged_on()
    last = _day(rig, 2000)
    rig.feed(_resend_request(rig, 1))
    wire = rig.take()
    asks = 0
    while rig.session.resending:
        lagging = max(_covered(wire)[-1] - 20, 1)
        rig.feed(_resend_request(rig, lagging))
        asks += 1
        rig.session.poll(rig.clock())
        wire += rig.take()
        assert asks < 200, "the answer never ends"
    covered = _covered(wire)
    assert covered[-1] == last and set(covered) == set(range(1, last + 1))
    assert max(covered.count(n) for n in set(covered)) <= 3
