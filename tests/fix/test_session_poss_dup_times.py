"""PossDupFlag=Y copies numbered too low: OrigSendingTime (122) against SendingTime (52), as QuickFIX's
``Session::doPossDup`` checks them (sans-IO session, fake clock, scripted venue)."""

from __future__ import annotations

import calendar
import logging

import pytest

from venues.fix.codec import build_message
from venues.fix.fields import MsgType
from venues.fix.session import FixSessionState
from venues.fix.session.session import _utc_timestamp_ns

from .test_session import SECOND, Rig

_LOGGER = "venues.fix.session.session"


def _copy(seq: int, sending_time: bytes, orig_sending_time: bytes, msg_type: bytes = MsgType.EXECUTION_REPORT) -> bytes:
    """Return the venue's PossDupFlag=Y copy of message ``seq`` with the two timestamps given."""
    body = [(b"11", b"Q7"), (b"150", b"0")] if msg_type == MsgType.EXECUTION_REPORT else [(b"123", b"Y"), (b"36", b"3")]
    return build_message(
        b"FIX.4.2",
        msg_type,
        sender=b"EQX",
        target=b"GATEWAY",
        seq=seq,
        sending_time=sending_time,
        body_fields=body,
        header_fields=[(b"43", b"Y"), (b"122", orig_sending_time)],
    )


def _after_one_fill() -> Rig:
    rig = Rig(logout_timeout_ns=2 * SECOND).logged_on()
    rig.feed(rig.venue.execution_report(b"Q7", b"0"))
    rig.take()
    return rig


def test_possdup_too_low_when_orig_sending_time_later_than_sending_time_then_reject_10_and_logout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # QuickFIX: generateReject(msg, SendingTime accuracy problem) with no RefTagID, then generateLogout() with no
    # Text, and it waits for the Logout reply. The copy is not applied and its number is not consumed.
    rig = _after_one_fill()
    expected = rig.session.next_target_seq
    copy = _copy(2, b"20240102-10:00:01.000", b"20240102-10:00:01.001")
    with caplog.at_level(logging.WARNING, logger=_LOGGER):
        rig.feed(copy)
    reject, logout = rig.take()
    assert (reject.msg_type, reject.get(b"45"), reject.get(b"373"), reject.get(b"372")) == (
        MsgType.REJECT,
        b"2",
        b"10",
        MsgType.EXECUTION_REPORT,
    )
    assert b"371" not in reject.fields
    assert reject.get(b"58").startswith(b"SendingTime accuracy problem")
    assert logout.msg_type == MsgType.LOGOUT and b"58" not in logout.fields
    assert logout.seq == reject.seq + 1
    assert len(rig.handler.app) == 1
    assert rig.session.counters["poss_dup_orig_sending_time_late"] == 1
    assert (rig.session.counters["poss_dup_ignored"], rig.session.counters["poss_dup_rejected"]) == (0, 0)
    assert rig.session.next_target_seq == expected
    assert rig.session.state is FixSessionState.LOGOUT_SENT
    assert rig.session.close_reason is None  # waits for the venue's Logout, as QuickFIX does
    assert [r.levelno for r in caplog.records if "later than SendingTime" in r.getMessage()] == [logging.WARNING]
    rig.feed(rig.venue.message(MsgType.LOGOUT))
    assert "SendingTime accuracy problem" in str(rig.session.close_reason)  # closed once the venue answered


def test_possdup_too_low_when_orig_sending_time_later_and_venue_silent_then_closed_after_logout_timeout() -> None:
    rig = _after_one_fill()
    rig.feed(_copy(2, b"20240102-10:00:01", b"20240102-10:00:02"))
    assert rig.session.state is FixSessionState.LOGOUT_SENT
    rig.session.poll(rig.clock.advance(SECOND))
    assert rig.session.close_reason is None
    rig.session.poll(rig.clock.advance(SECOND))
    assert str(rig.session.close_reason).startswith("no Logout reply")


@pytest.mark.parametrize(
    ("sending_time", "orig_sending_time", "late"),
    [
        (b"20240102-10:00:01.000", b"20240102-10:00:01.000", False),  # equal: not later
        (b"20240102-10:00:01", b"20240102-10:00:01.000", False),  # precisions differ, same instant
        (b"20240102-10:00:01.000", b"20240102-10:00:00.999999", False),
        (b"20240102-10:00:01.000000", b"20240102-10:00:01.000001", True),  # 1 us later
        (b"20240102-10:00:01.123456789", b"20240102-10:00:01.12345679", True),  # 1 ns later
        (b"20240102-10:00:01", b"20240102-10:00:01.1", True),
        (b"20240103-00:00:00", b"20240102-23:59:60.500", True),  # leap second counts as the next minute
        (b"20240301-00:00:00", b"20240230-00:00:00", False),  # day past the month's end rolls over (QuickFIX)
        (b"20240301-00:00:00", b"20240231-00:00:00", True),
        (b"20250102-10:00:00", b"20240102-10:00:01", False),
    ],
)
def test_possdup_too_low_when_timestamps_compared_then_later_only_if_strictly_after(
    sending_time: bytes, orig_sending_time: bytes, late: bool
) -> None:
    rig = _after_one_fill()
    rig.feed(_copy(2, sending_time, orig_sending_time))
    sent = rig.take()
    if late:
        assert [(m.msg_type, m.get(b"373")) for m in sent] == [(MsgType.REJECT, b"10"), (MsgType.LOGOUT, b"")]
        assert rig.session.counters["poss_dup_orig_sending_time_late"] == 1
    else:
        assert sent == []
        assert rig.session.counters["poss_dup_ignored"] == 1
        assert rig.session.state is FixSessionState.ACTIVE
    assert len(rig.handler.app) == 1


@pytest.mark.parametrize(
    "orig_sending_time",
    [
        b"2024-01-02 10:00:00",
        b"20240102-10:00:00.12a",
        b"20240102-10:00:00.1234567891",  # more than 9 fraction digits
        b"20241302-10:00:00",  # month 13
        b"20240100-10:00:00",  # day 0
        b"20240102-24:00:00",
        b"20240102-10:60:00",
        b"20240102-10:00:61",
        b"20240102-10:00:00Z",
        b"1704189600",
    ],
)
def test_possdup_too_low_when_orig_sending_time_unparsable_then_reject_6_naming_122_and_session_up(
    orig_sending_time: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    rig = _after_one_fill()
    expected = rig.session.next_target_seq
    copy = _copy(2, b"20240102-10:00:01.000", orig_sending_time)
    with caplog.at_level(logging.WARNING, logger=_LOGGER):
        rig.feed(copy, copy)
    rejects = rig.take()
    assert [(m.msg_type, m.get(b"45"), m.get(b"373"), m.get(b"371"), m.get(b"372")) for m in rejects] == [
        (MsgType.REJECT, b"2", b"6", b"122", MsgType.EXECUTION_REPORT)
    ] * 2
    assert rig.session.counters["poss_dup_rejected"] == 2
    assert rig.session.counters["poss_dup_ignored"] == rig.session.counters["poss_dup_orig_sending_time_late"] == 0
    assert rig.session.next_target_seq == expected
    assert rig.session.state is FixSessionState.ACTIVE and rig.session.close_reason is None
    assert len([r for r in caplog.records if "not a UTCTimestamp" in r.getMessage()]) == 1  # rate-limited


def test_possdup_too_low_when_sending_time_unparsable_then_reject_6_naming_52() -> None:
    rig = _after_one_fill()
    rig.feed(_copy(2, b"20240102-10:00:01.0x0", b"20240102-10:00:00.000"))
    (reject,) = rig.take()
    assert (reject.msg_type, reject.get(b"373"), reject.get(b"371")) == (MsgType.REJECT, b"6", b"52")
    assert rig.session.counters["poss_dup_rejected"] == 1
    assert rig.session.state is FixSessionState.ACTIVE


def test_possdup_sequence_reset_too_low_when_orig_sending_time_later_then_ignored() -> None:
    # QuickFIX's doPossDup skips SequenceReset entirely.
    rig = _after_one_fill()
    rig.feed(_copy(2, b"20240102-10:00:01", b"20240102-10:00:09", MsgType.SEQUENCE_RESET))
    assert rig.take() == []
    assert rig.session.counters["poss_dup_ignored"] == 1
    assert rig.session.state is FixSessionState.ACTIVE


def test_possdup_in_sequence_when_orig_sending_time_later_then_processed_unchecked() -> None:
    # The check belongs to the too-low branch only (QuickFIX too): an in-sequence message costs nothing more.
    rig = _after_one_fill()
    rig.feed(_copy(rig.session.next_target_seq, b"20240102-10:00:01", b"20240102-10:00:09"))
    assert rig.take() == []
    assert len(rig.handler.app) == 2
    assert rig.session.counters["poss_dup_orig_sending_time_late"] == 0


def test_possdup_too_low_when_already_logging_out_then_reject_without_second_logout() -> None:
    rig = _after_one_fill()
    rig.session.logout("end of day", rig.clock())
    rig.take()
    rig.feed(_copy(2, b"20240102-10:00:01", b"20240102-10:00:02"))
    assert [m.msg_type for m in rig.take()] == [MsgType.REJECT]
    assert rig.session.reason == "end of day"


@pytest.mark.parametrize(
    ("value", "parts", "fraction_ns"),
    [
        (b"20240102-10:00:01", (2024, 1, 2, 10, 0, 1), 0),
        (b"20240102-10:00:01.", (2024, 1, 2, 10, 0, 1), 0),
        (b"20240102-10:00:01.5", (2024, 1, 2, 10, 0, 1), 500_000_000),
        (b"20240102-10:00:01.123", (2024, 1, 2, 10, 0, 1), 123_000_000),
        (b"20240102-10:00:01.123456", (2024, 1, 2, 10, 0, 1), 123_456_000),
        (b"20240102-10:00:01.123456789", (2024, 1, 2, 10, 0, 1), 123_456_789),
        (b"20240229-23:59:60", (2024, 3, 1, 0, 0, 0), 0),
        (b"20230229-00:00:00", (2023, 3, 1, 0, 0, 0), 0),
        (b"19691231-23:59:59.999", (1969, 12, 31, 23, 59, 59), 999_000_000),
        (b"21000301-00:00:00", (2100, 3, 1, 0, 0, 0), 0),
    ],
)
def test_utc_timestamp_ns_when_valid_then_ns_since_epoch(
    value: bytes, parts: tuple[int, int, int, int, int, int], fraction_ns: int
) -> None:
    assert _utc_timestamp_ns(value) == calendar.timegm((*parts, 0, 0, 0)) * 1_000_000_000 + fraction_ns


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"20240102",
        b"20240102-10:00",
        b"20240102T10:00:00",
        b"2024010-210:00:00",
        b"20240102-10:00:00+",
        b"\xff" * 17,
    ],
)
def test_utc_timestamp_ns_when_not_a_timestamp_then_none(value: bytes) -> None:
    assert _utc_timestamp_ns(value) is None
