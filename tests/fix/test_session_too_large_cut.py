"""A venue message above ``max_body_length`` whose header is cut before MsgSeqNum can be read (fixfix52).

fixfix51 skipped such a message once, asked for it again and skipped it for good when the venue's resend gave it too
large again: by its MsgSeqNum, read from the header. When a read ended inside the header (before MsgSeqNum, 34) the
message had no number: each copy the venue resent was skipped as a new unnumbered message, the gap was asked for
again and again, the session logged out and reconnected for ever. Now the decoder waits for the header up to
MsgSeqNum (at most 256 bytes), and a message whose MsgSeqNum is still not readable is taken as the expected number
when the next message is numbered one above. Sans-IO, fake clock.
"""

from __future__ import annotations

import logging

import pytest

from venues.fix.codec import DecodeError, DecodeErrorKind, FrameDecoder
from venues.fix.fields import MsgType

from .test_session_gaps import SECOND, Rig, _types
from .test_session_too_large import _big_report

_POSS_DUP = [(b"43", b"Y"), (b"122", b"20240102-09:59:59.000")]


def _cut_at_seq(raw: bytes) -> int:
    """Return where a read must end for the header to be cut just before MsgSeqNum's value ends."""
    return raw.index(b"\x0134=") + 5


def test_decoder_when_read_ends_before_msg_seq_num_then_waits_and_error_names_its_seq() -> None:
    rig = Rig()
    big = _big_report(rig, 7)
    after = rig.venue.message(MsgType.HEARTBEAT, seq=8)
    decoder = FrameDecoder(65_536)
    cut = _cut_at_seq(big)
    first = decoder.feed(big[:cut])
    assert first == []  # before fixfix52: TOO_LARGE with seq 0 at once
    (error, heartbeat) = decoder.feed(big[cut:] + after)
    assert isinstance(error, DecodeError)
    assert (error.kind, error.seq) == (DecodeErrorKind.TOO_LARGE, 7)
    assert not isinstance(heartbeat, DecodeError) and heartbeat.seq == 8


def test_decoder_when_msg_seq_num_missing_from_header_then_too_large_without_seq_after_256_bytes() -> None:
    rig = Rig()
    big = _big_report(rig, 7).replace(b"\x0134=7\x01", b"\x01")
    decoder = FrameDecoder(65_536)
    assert decoder.feed(big[:100]) == []
    (error,) = decoder.feed(big[100:])
    assert isinstance(error, DecodeError) and (error.kind, error.seq) == (DecodeErrorKind.TOO_LARGE, 0)


def _feed_cut(rig: Rig, raw: bytes, *rest: bytes) -> None:
    cut = _cut_at_seq(raw)
    rig.feed(raw[:cut])
    rig.feed(raw[cut:], *rest)


def _gap_closes_without_asking_again(rig: Rig) -> None:
    sent: list[bytes] = []
    for _ in range(6):
        rig.session.poll(rig.clock.advance(10 * SECOND))
        rig.feed(rig.venue.message(MsgType.HEARTBEAT))
        sent += _types(rig.take())
    assert MsgType.RESEND_REQUEST not in sent and MsgType.LOGOUT not in sent  # before fixfix52: asked for ever
    assert not rig.session.closing()
    assert not rig.session.gap.open


def test_too_large_when_header_cut_in_every_copy_then_skipped_for_good_and_gap_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(heartbeat_interval_s=10, max_resend_attempts=3).logged_on()
    with caplog.at_level(logging.ERROR, logger="venues.fix.session.session"):
        _feed_cut(rig, _big_report(rig, 2), rig.venue.message(MsgType.HEARTBEAT, seq=3))
        (ask,) = rig.take()
        assert (ask.msg_type, ask.get(b"7")) == (MsgType.RESEND_REQUEST, b"2")
        # the venue's resend: the same message, too large again and cut again, then its heartbeat resent
        _feed_cut(
            rig, _big_report(rig, 2, poss_dup=True), rig.venue.message(MsgType.HEARTBEAT, seq=3, header=_POSS_DUP)
        )
    assert rig.session.next_target_seq == 4
    assert rig.handler.gap_fills == [(2, 3, 1)]  # the adapter asks about its open orders
    assert rig.session.too_large_skipped == 2
    assert any("MsgSeqNum 2" in r.getMessage() and "skipped for good" in r.getMessage() for r in caplog.records)
    rig.venue.next_seq = 4
    _gap_closes_without_asking_again(rig)


def test_too_large_when_msg_seq_num_unreadable_then_taken_as_expected_by_the_next_and_gap_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(heartbeat_interval_s=10, max_resend_attempts=3).logged_on()

    def unreadable(*, poss_dup: bool = False) -> bytes:
        return _big_report(rig, 2, poss_dup=poss_dup).replace(b"\x0134=2\x01", b"\x01")

    with caplog.at_level(logging.ERROR, logger="venues.fix.session.session"):
        rig.feed(unreadable(), rig.venue.message(MsgType.HEARTBEAT, seq=3))
        assert rig.session.counters["too_large_unnumbered"] == 1
        (ask,) = rig.take()
        assert (ask.msg_type, ask.get(b"7")) == (MsgType.RESEND_REQUEST, b"2")
        rig.feed(unreadable(poss_dup=True), rig.venue.message(MsgType.HEARTBEAT, seq=3, header=_POSS_DUP))
    assert rig.session.counters["too_large_unnumbered"] == 2
    assert rig.session.next_target_seq == 4
    assert rig.handler.gap_fills == [(2, 3, 1)]
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "MsgSeqNum (34) not readable" in m and "taken as MsgSeqNum 2 if the next message is 3" in m for m in messages
    )
    rig.venue.next_seq = 4
    _gap_closes_without_asking_again(rig)


def test_too_large_when_unreadable_and_next_not_one_above_then_not_taken_as_any_number() -> None:
    rig = Rig(heartbeat_interval_s=10).logged_on()
    unreadable = _big_report(rig, 2).replace(b"\x0134=2\x01", b"\x01")
    rig.feed(unreadable, rig.venue.message(MsgType.HEARTBEAT, seq=4))  # 2 and 3 missing: which was it?
    (ask,) = rig.take()
    assert (ask.msg_type, ask.get(b"7")) == (MsgType.RESEND_REQUEST, b"2")
    assert rig.session.too_large == set() and rig.handler.gap_fills == []
    assert rig.session.next_target_seq == 2


def test_too_large_when_two_unreadable_in_a_row_then_taken_as_the_two_numbers_and_gap_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two oversize messages in a row whose MsgSeqNum is unreadable (fix53): the next message is two numbers above.

    Before fix53 the garbled header was not followed by the next expected number, so neither was taken as any
    number: the venue's every resend of the two cycled the same way, the session logged out and reconnected for ever.
    """
    rig = Rig(heartbeat_interval_s=10, max_resend_attempts=3).logged_on()

    def unreadable(seq: int, *, poss_dup: bool = False) -> bytes:
        return _big_report(rig, seq, poss_dup=poss_dup).replace(b"\x0134=%d\x01" % seq, b"\x01")

    with caplog.at_level(logging.ERROR, logger="venues.fix.session.session"):
        rig.feed(unreadable(2), unreadable(3), rig.venue.message(MsgType.HEARTBEAT, seq=4))
        (ask,) = rig.take()
        assert (ask.msg_type, ask.get(b"7")) == (MsgType.RESEND_REQUEST, b"2")
        assert rig.session.too_large == {2, 3}
        rig.feed(
            unreadable(2, poss_dup=True),
            unreadable(3, poss_dup=True),
            rig.venue.message(MsgType.HEARTBEAT, seq=4, header=_POSS_DUP),
        )
    assert rig.session.counters["too_large_unnumbered"] == 4
    assert rig.session.next_target_seq == 5
    assert rig.handler.gap_fills == [(2, 3, 1), (3, 4, 1)]
    messages = [r.getMessage() for r in caplog.records]
    assert any("taken as MsgSeqNum 3 (2 such in a row from 2) if the next message is 4" in m for m in messages)
    rig.venue.next_seq = 5
    _gap_closes_without_asking_again(rig)
