"""A venue message above ``max_body_length``, and a SequenceReset-Reset that would lower the number (fixfix51).

rev51fix r2: a 70 KB fill report (above the decoder's undocumented 64 KiB) was dropped as ``bad BodyLength`` plus
GARBAGE entries; the gap was asked for 5 times, the session logged out, reconnected, and asked again for ever. Now
the limit is the venue setting ``max_body_length``, the message is skipped whole with an ERROR naming it, asked for
once more, and skipped for good when the venue's resend gives it too large again (counted as never received: the
adapter asks about open orders). rev51fix s3 step 4: a SequenceReset-Reset lowering the number was refused but its
own MsgSeqNum never counted as received, so the venue's later gap fill of it was taken as a lost message.
Sans-IO, fake clock.
"""

from __future__ import annotations

import logging

import pytest

from venues.fix.codec import DecodeError, DecodeErrorKind, FrameDecoder
from venues.fix.config import session_config
from venues.fix.dialect import load_dialect
from venues.fix.fields import MsgType
from venues.registry import decode_venue_config

from .test_session_gaps import SECOND, Rig, _types

_BIG_TEXT = b"x" * 70_000


def _big_report(rig: Rig, seq: int, *, poss_dup: bool = False) -> bytes:
    header = [(b"43", b"Y"), (b"122", b"20240102-09:59:59.000")] if poss_dup else None
    body = [(b"37", b"O1"), (b"11", b"Q6rj7"), (b"17", b"BIG1"), (b"20", b"0"), (b"150", b"0"), (b"39", b"0")]
    return rig.venue.message(MsgType.EXECUTION_REPORT, [*body, (b"58", _BIG_TEXT)], seq=seq, header=header)


def test_decoder_when_body_above_limit_then_one_too_large_error_with_its_seq_and_next_message_decoded() -> None:
    rig = Rig()
    big = _big_report(rig, 7)
    after = rig.venue.message(MsgType.HEARTBEAT, seq=8)
    decoder = FrameDecoder(65_536)
    out = decoder.feed(big[:40_000]) + decoder.feed(big[40_000:] + after)
    (error, heartbeat) = out  # before fixfix51: BAD_BODY_LENGTH, then GARBAGE entries
    assert isinstance(error, DecodeError)
    assert (error.kind, error.seq) == (DecodeErrorKind.TOO_LARGE, 7)
    assert "above the limit of 65536 (max_body_length)" in error.text
    assert not isinstance(heartbeat, DecodeError) and heartbeat.msg_type == MsgType.HEARTBEAT
    assert len(FrameDecoder(200_000).feed(big)) == 1 and not isinstance(FrameDecoder(200_000).feed(big)[0], DecodeError)


def test_too_large_when_resent_too_large_again_then_skipped_for_good_and_gap_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(heartbeat_interval_s=10, max_resend_attempts=3).logged_on()
    with caplog.at_level(logging.ERROR, logger="venues.fix.session.session"):
        rig.feed(_big_report(rig, 2))
        assert rig.session.next_target_seq == 2
        rig.feed(rig.venue.message(MsgType.HEARTBEAT, seq=3))
        (ask,) = rig.take()
        assert (ask.msg_type, ask.get(b"7"), ask.get(b"16")) == (MsgType.RESEND_REQUEST, b"2", b"0")
        # the venue's resend: the same message, too large again, then a gap fill of the heartbeat
        gap_fill = rig.venue.message(
            MsgType.SEQUENCE_RESET,
            [(b"123", b"Y"), (b"36", b"4")],
            seq=3,
            header=[(b"43", b"Y"), (b"122", b"20240102-09:59:59.000")],
        )
        rig.feed(_big_report(rig, 2, poss_dup=True), gap_fill)
    assert rig.session.next_target_seq == 4
    assert rig.handler.gap_fills == [(2, 3, 1)]  # the adapter asks about its open orders
    assert rig.session.counters["gap_filled_unseen"] == 1
    assert rig.session.too_large_skipped == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("MsgSeqNum 2" in m and "raise the venue setting max_body_length" in m for m in messages)
    assert any("MsgSeqNum 2" in m and "skipped for good" in m for m in messages)
    # no more asking, no logout (before fixfix51: asked 5 times, logout, reconnect, for ever)
    sent: list[bytes] = []
    rig.venue.next_seq = 4
    for _ in range(6):
        rig.session.poll(rig.clock.advance(10 * SECOND))
        rig.feed(rig.venue.message(MsgType.HEARTBEAT))
        sent += _types(rig.take())
    assert MsgType.RESEND_REQUEST not in sent and MsgType.LOGOUT not in sent
    assert not rig.session.closing()
    assert rig.handler.app == []


def test_max_body_length_when_raised_in_venue_config_then_big_message_taken() -> None:
    raw = {"protocol": "fix", "name": "EQX", "host": "127.0.0.1", "port": 9878, "dialect": "equities-fix42"}
    dialect = load_dialect("equities-fix42")
    assert session_config(decode_venue_config(raw, "venues[0]"), dialect).max_body_length == 65_536
    config = session_config(decode_venue_config({**raw, "max_body_length": 131_072}, "venues[0]"), dialect)
    rig = Rig(max_body_length=config.max_body_length).logged_on()
    rig.feed(_big_report(rig, 2))
    (message,) = rig.handler.app
    assert message.get(b"58") == _BIG_TEXT
    assert rig.session.next_target_seq == 3


def test_sequence_reset_lowering_when_at_expected_number_then_rejected_and_its_number_taken() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"36", b"1")]))  # Reset mode, NewSeqNo 1 < 2, MsgSeqNum 2
    (reject,) = rig.take()
    assert (reject.msg_type, reject.get(b"45"), reject.get(b"373")) == (MsgType.REJECT, b"2", b"5")
    assert rig.session.next_target_seq == 3  # before fixfix51: 2, so the next message opened a gap
    rig.feed(rig.venue.message(MsgType.HEARTBEAT))
    assert rig.take() == []
    assert rig.session.counters["gap_filled_unseen"] == 0


def test_sequence_reset_lowering_when_numbered_above_expected_then_gap_fill_over_it_not_counted_lost() -> None:
    rig = Rig().logged_on()
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"36", b"1")], seq=3))  # 2 missing; this one is 3
    assert _types(rig.take()) == [MsgType.REJECT]
    rig.feed(rig.venue.message(MsgType.HEARTBEAT, seq=4))
    assert _types(rig.take()) == [MsgType.RESEND_REQUEST]
    header = [(b"43", b"Y"), (b"122", b"20240102-09:59:59.000")]
    rig.feed(rig.venue.message(MsgType.SEQUENCE_RESET, [(b"123", b"Y"), (b"36", b"4")], seq=2, header=header))
    assert rig.session.next_target_seq == 5
    assert rig.handler.gap_fills == [(2, 4, 1)]  # 2 never arrived; 3 (the Reset) did: before fixfix51 (2, 4, 2)
