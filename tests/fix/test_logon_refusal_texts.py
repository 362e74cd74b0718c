"""Which Logout texts say our MsgSeqNum is too low: only those that say it of the sequence number (fixfix54b).

rev54fix s12: "Logon rejected: margin below requirement (account 34)" (a 34 anywhere counted as tag 34) and
"Logon rejected: HeartBtInt 1 is less than the minimum 30 (MsgSeqNum 1)" (a "less than" anywhere in a text naming
MsgSeqNum) stopped the session in LOGIN_REFUSED with set-seq advice; docs/venues/fix.md says any other refusal is
retried. The known venue / QuickFIX phrasings (fixfix52, fix53) are still recognised
(tests/fix/test_loopback_logon_seq_too_low.py keeps their list).
"""

from __future__ import annotations

import re
from pathlib import Path
from re import _parser as re_parser  # type: ignore[attr-defined]

import pytest

from model.venue_events import VenueState
from venues.fix.session import session as fix_session
from venues.fix.session.session import seq_too_low_refusal

from .live import wait_until
from .test_loopback_gaps import _gateway
from .test_loopback_logon_seq_too_low import _RefusingVenue

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # not about our sequence number: retried (before fixfix54b: LOGIN_REFUSED, 0)
        ("Logon rejected: margin below requirement (account 34)", None),
        ("Logon rejected: HeartBtInt 1 is less than the minimum 30 (MsgSeqNum 1)", None),
        ("Session not available until 08:00; seq 5 below threshold ignored", None),
        ("Incorrect BeginSeqNo: seq 9 less than 1000 in FIX.4.2 tag 34", None),
        ("Credit 34 below the minimum", None),
        # said of the sequence number: recognised
        ("Sequence number 7 too low, expected 57", 57),
        ("Received MsgSeqNum(8) lower than expected MsgSeqNum(58)", 58),
        ("MsgSeqNum too small", 0),
        ("Logon with low MsgSeqNum", 0),
        ("MsgSeqNum 12 is below the expected value", 0),
        ("Tag 34 is too low", 0),
    ],
)
def test_seq_too_low_refusal_when_the_words_are_not_about_the_seq_num_then_none(
    text: str, expected: int | None
) -> None:
    assert seq_too_low_refusal(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # fix55: "was" took the expected number itself as the received one (40 received, 40 expected: not too low):
        # the refusal was retried for good instead of LOGIN_REFUSED with the number to set
        ("MsgSeqNum 12 was below the expected 40", 40),
        ("MsgSeqNum 12 was below expected 40", 40),
        ("MsgSeqNum(34) 12 was below the expected 40", 40),
        ("MsgSeqNum (12) was below the expected (40)", 40),
        ("MSGSEQNUM 12 WAS BELOW THE EXPECTED 40", 40),
        ("Logon rejected: MsgSeqNum 12 was below the expected 40. Contact the desk", 40),
        ("MsgSeqNum 12 was behind the expected 40", 40),
        # the same family, recognised before and still
        ("MsgSeqNum 12 is below the expected 40", 40),
        ("MsgSeqNum 12 was lower than the expected 40", 40),
        ("MsgSeqNum too low, expecting 40 but received 12", 40),  # QuickFIX C++, QuickFIX/J, QuickFIX/n, quickfixgo
        ("MsgSeqNum too low, expecting 40 received 12", 40),  # libtrading
        ("MsgSeqNum too low: got 12, expected 40", 40),
        ("Invalid sequence number: expected 40, was 12", 40),
        # no new false positives: above the expected, or "was below the expected" not said of the MsgSeqNum
        ("MsgSeqNum 50 was above the expected 40", None),
        ("MsgSeqNum too high, expecting 40 but received 50", None),
        ("MsgSeqNum 12: password was below the expected length 8", None),
        ("Password length 6 was below the expected 8 (MsgSeqNum 12)", None),
        ("Order qty 12 was below the expected 40 (MsgSeqNum 9)", None),
        ("Throughput 12 was below the expected 40 (SeqNum 5)", None),
    ],
)
def test_seq_too_low_refusal_when_was_below_the_expected_then_the_expected_number(
    text: str, expected: int | None
) -> None:
    assert seq_too_low_refusal(text) == expected
    assert seq_too_low_refusal(text, 12) == expected  # the Logon refused was 12: the same answer


@pytest.mark.parametrize(
    "text",
    ["Logon rejected: margin below requirement (account 34)", "HeartBtInt 1 is less than the minimum 30 (MsgSeqNum 1)"],
    ids=["account-34", "heartbtint-less-than"],
)
async def test_logon_when_refusal_text_only_mentions_34_or_less_than_then_retried(tmp_path: Path, text: str) -> None:
    venue = _RefusingVenue([(b"58", text.encode())])
    await venue.start()
    try:
        side = await _gateway(venue, tmp_path)
        await wait_until(lambda: venue.connections >= 3, 10.0, "the Logon retried")  # before: one, LOGIN_REFUSED
        assert VenueState.LOGIN_REFUSED not in side.states
        await side.connector.stop()
        side.venue.close()
    finally:
        await venue.close()


def _unbounded_repeats(pattern: re.Pattern[str]) -> list[str]:
    """Return the repeats of ``pattern`` with no upper bound (``*``, ``+``, ``{n,}``), as parsed by ``re``."""
    found: list[str] = []

    def walk(items: object) -> None:
        for op, arg in items:  # type: ignore[attr-defined]
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, high, sub = arg
                if high == re_parser.MAXREPEAT:
                    found.append(f"{name}({low},...)")
                walk(sub)
            elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
                walk(arg[-1])
            elif name == "BRANCH":
                for branch in arg[1]:
                    walk(branch)

    walk(re_parser.parse(pattern.pattern, pattern.flags))
    return found


@pytest.mark.parametrize("name", ["_TOO_LOW_RE", "_SEQ_RE", "_EXPECTED_RE", "_RECEIVED_RE"])
def test_refusal_patterns_when_parsed_then_every_repeat_is_bounded(name: str) -> None:
    """rev60fix HIGH: ``\\w*`` before ``\\D{0,20}?`` backtracked from every "expect" of a venue's Logout Text: a
    9,000-byte Text held the event loop 7.6 s per Logon (every strategy's heartbeat timed out), 12 KB 21 s."""
    assert _unbounded_repeats(getattr(fix_session, name)) == []


@pytest.mark.parametrize("word", ["expect", "receiv", "seq", "expected_", "Sequence", "seq 1 ", "tag 34 "])
def test_seq_too_low_refusal_when_a_long_text_repeats_a_key_word_then_none(word: str) -> None:
    assert seq_too_low_refusal(word * 1500, 2) is None


def test_refusal_text_read_when_long_then_its_two_ends_only() -> None:
    """A venue says "too low" at the start or the end of its Text: both ends are read, the middle of a long one not."""
    size = fix_session.REFUSAL_TEXT_READ
    short = b"x" * (2 * size)
    assert fix_session.refusal_text_read(short) == short.decode()
    long = b"a" * size + b" MsgSeqNum too low " + b"z" * size
    assert (
        fix_session.refusal_text_read(long)
        == "a" * size + fix_session._CUT + (b" MsgSeqNum too low " + b"z" * size)[-size:].decode()
    )
    assert seq_too_low_refusal(fix_session.refusal_text_read(long), 2) is None


_CUT_TEXT = "MsgSeqNum too low, expecting 1500 but received 7"


def _cut_after(digits: int, after: int) -> bytes:
    """A long Text whose expected number 1500 is cut by the head's end after its first ``digits`` digits, with
    ``after`` bytes of padding after the sentence."""
    at = _CUT_TEXT.index("1500") + digits
    return ("y" * (fix_session.REFUSAL_TEXT_READ - at) + _CUT_TEXT + " " + "z" * after).encode()


def test_refusal_text_read_when_the_cut_goes_through_the_expected_number_then_no_number_read() -> None:
    """rev61fix LOW: "expecting 1500" cut after "15" was read as 15 (LOGIN_REFUSED named a number the venue does not
    expect: the operator's set-seq was refused again). A number the cut goes through is not read: 0, none named."""
    raw = _cut_after(2, 3000)
    assert seq_too_low_refusal(fix_session.refusal_text_read(raw), 7) == 0  # before: 15


def test_refusal_text_read_when_a_number_lies_across_both_cuts_then_neither_part_read() -> None:
    """A Text one byte longer than both ends: the byte between them is a digit of the number (before: 1 read as
    expected, 7 as received: a retry)."""
    size = fix_session.REFUSAL_TEXT_READ
    raw = _cut_after(1, 0)[:size] + b"5" + b"00 but received 7 "  # the head ends "expecting 1"
    raw += b"z" * (2 * size + 1 - len(raw))  # the tail begins "00 but"
    assert len(raw) == 2 * size + 1
    assert seq_too_low_refusal(fix_session.refusal_text_read(raw), 7) == 0


def test_refusal_text_read_when_the_head_ends_before_its_number_then_none_read_across_the_cut() -> None:
    """The head ends "expecting ", the tail begins " but received 7": 7 is no expected number (before: 7)."""
    size = fix_session.REFUSAL_TEXT_READ
    raw = _cut_after(0, 0)[:size] + b"1500 but received 7 "  # the head ends "expecting "
    raw += b"z" * (2 * size + 5 - len(raw))
    assert fix_session.refusal_text_read(raw)[size:].lstrip().startswith("but received 7")
    assert seq_too_low_refusal(fix_session.refusal_text_read(raw), 7) == 0


def test_refusal_text_read_when_the_cut_falls_just_after_the_number_then_it_is_read() -> None:
    raw = _cut_after(4, 3000)
    assert seq_too_low_refusal(fix_session.refusal_text_read(raw), 7) == 1500


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Unexpected MsgSeqNum: received 5 but expected 20", 20),
        ("Unexpected sequence number: got 5, expected 20", 20),
        ("Logon rejected: MsgSeqNumTooLow", 0),
        ("Reject reason: SeqNumTooLow", 0),
        ("MsgSeqNumTooLow expected 20 received 5", 20),
        ("SeqTooLow", 0),
    ],
)
def test_seq_too_low_refusal_when_bounded_then_read_as_the_unbounded_patterns_did(text: str, expected: int) -> None:
    """rev60merge4: a first bounding took "Unexpected"'s expect up to the received number and never gave "TooLow"
    back to the too-low words: these were retried, the gateway creeping up to the venue's number unnoticed."""
    assert seq_too_low_refusal(text, 5) == expected
