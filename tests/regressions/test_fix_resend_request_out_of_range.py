"""Regression (found attacking the FIX session as a venue would): a ResendRequest the session cannot answer got
no answer at all.

``BeginSeqNo`` above ``EndSeqNo`` (``EndSeqNo`` not 0), or ``BeginSeqNo`` above the last message we sent, made
``answer_resend_request`` return nothing, and the session sent nothing: the venue waited for a resend that never
came, with only an INFO line ("0 replayed") on our side. Bad input gets a clear error: a session Reject (3),
SessionRejectReason 5 (value incorrect, out of range) naming the tag, and the session goes on.
"""

from __future__ import annotations

import pytest

from venues.fix.fields import MsgType
from venues.fix.session import FixSessionState

from ..fix.test_session import Rig, _sent_order


@pytest.mark.parametrize(
    ("begin", "end", "tag", "words"),
    [
        (b"5", b"3", b"16", "EndSeqNo 3 is below BeginSeqNo 5"),
        (b"50", b"0", b"7", "BeginSeqNo 50 is above the last message sent (4)"),
        (b"5", b"9", b"7", "BeginSeqNo 5 is above the last message sent (4)"),
    ],
)
def test_resend_request_when_range_out_of_range_then_reject_5_and_session_goes_on(
    begin: bytes, end: bytes, tag: bytes, words: str
) -> None:
    rig = Rig().logged_on()  # our Logon is 1
    for name in (b"Q1", b"Q2", b"Q3"):  # 2, 3, 4
        _sent_order(rig, name)
    rig.take()
    request = rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", begin), (b"16", end)])
    rig.feed(request)
    (reject,) = rig.take()
    assert reject.msg_type == MsgType.REJECT
    assert (reject.get(b"45"), reject.get(b"373"), reject.get(b"371"), reject.get(b"372")) == (
        b"2",
        b"5",
        tag,
        MsgType.RESEND_REQUEST,
    )
    assert words in reject.get(b"58").decode()
    assert rig.session.state is FixSessionState.ACTIVE
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"4"), (b"16", b"0")]))  # a valid one still answered
    replayed, gap_fill = rig.take()  # our order 4, then the Reject (5, admin) gap-filled
    assert (replayed.msg_type, replayed.seq, replayed.get(b"43")) == (MsgType.NEW_ORDER_SINGLE, 4, b"Y")
    assert (gap_fill.msg_type, gap_fill.seq, gap_fill.get(b"36")) == (MsgType.SEQUENCE_RESET, 5, b"6")


def test_resend_request_when_end_is_last_sent_or_beyond_then_still_answered() -> None:
    rig = Rig().logged_on()
    _sent_order(rig, b"Q1")  # 2
    rig.take()
    rig.feed(rig.venue.message(MsgType.RESEND_REQUEST, [(b"7", b"2"), (b"16", b"40")]))
    assert [(m.msg_type, m.seq) for m in rig.take()] == [(MsgType.NEW_ORDER_SINGLE, 2)]
