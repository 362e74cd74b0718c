"""FIX log lines that said what did not happen (rev56fix, fixlogon56). Sans-IO, fake clock.

- a request asked about after ``set-seq --next-sender`` or a numbering reset was logged "(gap-filled on the venue's
  resend request)": no resend came, no gap fill;
- a message above ``max_body_length`` skipped for good: the session's ERROR said "open orders are asked about", on a
  dialect without OrderStatusRequest too, where nothing is asked (the adapter's next line says to reconcile);
- the session end's WARNING read "order 2: new the FIX session ended ...": a separator was missing.
"""

from __future__ import annotations

import logging

import pytest

from model.exactly_once import RequestKind, UnansweredRequest
from model.order import mark_sent
from model.send_result import Sent
from model.venue_events import VenueState
from venues.fix.fields import MsgType

from .helpers import make_order
from .test_adapter import Rig

_STAMP = b"20240102-09:59:59.000"


def _unanswered_order(rig: Rig) -> list[UnansweredRequest]:
    order = make_order(7)
    sent = rig.adapter.send_new(order)
    assert isinstance(sent, Sent)
    mark_sent(order, sent.venue_ref)
    rig.adapter.flush()
    return [UnansweredRequest(order, RequestKind.NEW, sent.venue_ref)]


def _asking_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "unknown (" in r.getMessage() and "asking with" in r.getMessage()]


def test_after_replay_when_set_seq_raised_our_number_then_the_question_names_that_not_a_gap_fill(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig().up()
    unanswered = _unanswered_order(rig)
    rig.adapter.connection_lost(rig.clock())
    ours = rig.adapter.session.next_sender_seq
    assert rig.adapter.set_sequence_numbers(ours + 10, 0) == ""
    rig.connect()
    rig.wire.take()
    with caplog.at_level(logging.INFO, logger="venues.fix.adapter"):
        rig.feed(rig.peer.logon())
        rig.adapter.after_replay(unanswered)
    (line,) = _asking_lines(caplog)
    assert "gap-filled on the venue's resend request" not in line
    assert "the operator raised our MsgSeqNum (set-seq --next-sender) past it" in line


def test_after_replay_when_numbering_reset_then_the_question_names_the_reset_not_a_gap_fill(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig().up()
    unanswered = _unanswered_order(rig)
    adapter = rig.adapter

    def core(name: str, state: VenueState, reason: str) -> None:  # the engine: after_replay at every UP
        del name, reason
        if state is VenueState.UP:
            adapter.after_replay(unanswered)

    adapter.state_sink = core
    with caplog.at_level(logging.INFO, logger="venues.fix.adapter"):
        rig.peer.next_seq = 1
        rig.feed(rig.peer.logon(reset=True))  # the venue resets the numbers in session
    (line,) = _asking_lines(caplog)
    assert "gap-filled on the venue's resend request" not in line
    assert "sequence numbers reset" in line


def test_too_large_skipped_for_good_when_dialect_has_no_status_request_then_no_line_says_orders_are_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("equities-fix42").up()
    assert not rig.dialect.orders.status_request
    order = make_order(7)
    sent = rig.adapter.send_new(order)
    assert isinstance(sent, Sent)
    rig.adapter.flush()
    rig.feed(rig.peer.execution_report(sent.venue_ref.encode(), b"0"))  # acked: open
    body = [(b"37", b"O1"), (b"11", sent.venue_ref.encode()), (b"17", b"BIG1"), (b"20", b"0"), (b"150", b"4")]
    body += [(b"39", b"4"), (b"58", b"x" * 70_000)]
    with caplog.at_level(logging.ERROR):
        rig.feed(rig.peer.message(MsgType.EXECUTION_REPORT, body, seq=3))
        rig.feed(rig.peer.message(MsgType.HEARTBEAT, seq=4))
        resent = rig.peer.message(MsgType.EXECUTION_REPORT, body, seq=3, header=[(b"43", b"Y"), (b"122", _STAMP)])
        gap_fill = rig.peer.message(
            MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"5")], seq=4, header=[(b"43", b"Y"), (b"122", _STAMP)]
        )
        rig.feed(resent, gap_fill)
    lines = [r.getMessage() for r in caplog.records]
    (skipped,) = [m for m in lines if "skipped for good:" in m]
    assert "open orders are asked about" not in skipped  # before: said whatever the dialect
    assert "the adapter's next line says what is done" in skipped
    assert any("the dialect has no OrderStatusRequest: reconcile them with the venue" in m for m in lines)
    asked = (MsgType.ORDER_STATUS_REQUEST, MsgType.ORDER_CANCEL_REQUEST)
    assert not [m for m in rig.wire.take() if m.msg_type in asked]


def test_after_session_end_when_requests_unanswered_then_warning_separates_the_request_kind_from_the_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig().up()
    unanswered = _unanswered_order(rig)
    with caplog.at_level(logging.WARNING, logger="venues.fix.adapter"):
        rig.adapter.after_session_end(unanswered)
    (line,) = [r.getMessage() for r in caplog.records if "order 7" in r.getMessage()]
    assert "order 7: new: the FIX session ended" in line  # before: "order 7: new the FIX session ended"
