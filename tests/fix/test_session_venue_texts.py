"""A venue's long Text in its Logout or Reject is bounded in the session's log lines and reasons (sans-IO, fake clock).

rev59merge3 MEDIUM 1: the Text of the venue's Logout went whole into the reason of the connection's end: the session's
WARNING "closing the connection: venue logged out: <text>" and the engine's state line "LOGGING_IN -> DISCONNECTED
(<reason>)", two lines per connection: a venue refusing every Logon with a 60 KB Text (180 KB of U+FFFD when it is
not UTF-8) grew the log ~400 KB a second at a 1 s reconnect. The Reject's WARNING carried its Text (and RefSeqNum,
SessionRejectReason, RefTagID) whole too. Now the session keeps ``VENUE_TEXT_LOGGED`` characters of such a Text, a
longer one its first ``VENUE_TEXT_LOGGED`` characters and ``… [N bytes, sha256 <hex>]`` (", not UTF-8" after the
length when it is not), as the adapter bounds a long non-UTF-8 Text of a business message (fixresend59); read whole
for what it says. fixresend59c: the marker comes after the 500 characters (it took ~90 of them), and a long field of
a Reject is cut on a character, not inside one.
"""

from __future__ import annotations

import hashlib
import logging

import pytest

from venues.fix.fields import MsgType
from venues.fix.session import FixSessionState
from venues.fix.session.session import VENUE_TEXT_LOGGED, venue_text

from .test_session import Rig

pytestmark = pytest.mark.timeout(30)

LATIN_1 = ("Session refusée: identifiant réservé à un autre participant. ".encode("latin-1") * 1100)[:60_000]
"""60,000 bytes of a venue's Latin-1 text: its é are no UTF-8 (U+FFFD each, 3 bytes in the log)."""
ASCII = (b"Logon refused: the session is held by another host. " * 1200)[:60_000]


def _marker(raw: bytes, utf8: bool) -> str:
    kind = "" if utf8 else ", not UTF-8"
    return f"… [{len(raw):,} bytes{kind}, sha256 {hashlib.sha256(raw).hexdigest()}]"


@pytest.mark.parametrize(("raw", "utf8"), [(LATIN_1, False), (ASCII, True)], ids=["latin1", "ascii"])
def test_venue_logout_when_its_text_is_60_kb_then_the_reason_and_the_log_line_are_bounded_and_name_it(
    raw: bytes, utf8: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig().logged_on()
    with caplog.at_level(logging.INFO, logger="venues.fix.session.session"):
        rig.feed(rig.venue.message(MsgType.LOGOUT, [(b"58", raw)]))
    state, reason = rig.handler.states[-1]
    assert state is FixSessionState.LOGOUT_SENT
    assert reason.startswith("venue logged out: " + raw[:100].decode(errors="replace")), reason[:200]
    # merge59: 60,018 characters (ASCII), 60,018 of U+FFFD-strewn text (Latin-1)
    assert len(reason) == len("venue logged out: ") + VENUE_TEXT_LOGGED + len(_marker(raw, utf8)), len(reason)
    assert reason.endswith(_marker(raw, utf8)), reason[-200:]
    assert rig.session.close_reason == reason
    lines = [r.getMessage() for r in caplog.records]
    assert any("closing the connection: venue logged out" in line for line in lines), lines
    assert max(len(line) for line in lines) < 1000, [len(line) for line in lines]


def test_venue_logout_refusing_our_logon_with_a_long_text_then_read_whole_but_kept_bounded() -> None:
    """The number the venue expects, after 60 KB of Text, still makes the refusal "too low" (LOGIN_REFUSED)."""
    rig = Rig()
    rig.session.connection_made(rig.clock())
    rig.take()
    raw = ASCII + b" MsgSeqNum too low, expecting 40 but received 1"
    rig.feed(rig.venue.message(MsgType.LOGOUT, [(b"58", raw)]))
    assert rig.session.state is FixSessionState.LOGIN_REFUSED
    assert rig.session.refused_expected == 40  # read in the whole Text
    # merge59: 60,047 characters, in `status` too
    assert len(rig.session.refused_text) == VENUE_TEXT_LOGGED + len(_marker(raw, True))
    assert rig.session.refused_text.endswith(_marker(raw, True))
    assert rig.session.close_reason == f"logon refused: {rig.session.refused_text}"


def test_venue_logout_refusing_our_logon_again_and_again_then_each_reason_is_bounded() -> None:
    """rev59merge3 s22: a venue refusing every Logon with 60,000 Latin-1 bytes, the session reconnecting."""
    rig = Rig()
    for _ in range(3):
        rig.session.connection_made(rig.clock())
        rig.take()
        rig.feed(rig.venue.message(MsgType.LOGOUT, [(b"58", LATIN_1)]))
        assert rig.session.close_reason is not None
        bound = len("logon refused: ") + VENUE_TEXT_LOGGED + len(_marker(LATIN_1, False))
        assert len(rig.session.close_reason) == bound
        rig.session.connection_lost(rig.clock.advance(1_000_000_000))
    reasons = [reason for _, reason in rig.handler.states]
    assert reasons and max(len(reason) for reason in reasons) == bound


def test_venue_reject_when_its_fields_are_huge_then_its_warning_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig().logged_on()
    text = LATIN_1[:50_000]
    body = [(b"45", b"9" * 5000), (b"373", b"5" * 3000), (b"371", b"7" * 3000), (b"58", text)]
    with caplog.at_level(logging.WARNING, logger="venues.fix.session.session"):
        rig.feed(rig.venue.message(MsgType.REJECT, body))
    (line,) = [r.getMessage() for r in caplog.records if "venue rejected our message" in r.getMessage()]
    assert len(line) < 1000, len(line)  # merge59: 61,052 characters
    assert "999999… (5,000 bytes): reason 555" in line, line[:200]
    assert line.endswith(_marker(text, False)), line[-200:]


def test_venue_text_when_short_then_as_is_and_a_control_character_a_space() -> None:
    assert venue_text(b"MsgSeqNum too low, expecting 40 but received 1") == (
        "MsgSeqNum too low, expecting 40 but received 1"
    )
    assert venue_text(b"refused\nWARNING forged line") == "refused WARNING forged line"
    assert venue_text(b"caf\xe9") == "caf\ufffd"  # short and not UTF-8: as before
    assert venue_text(b"") == ""
    exactly = b"x" * VENUE_TEXT_LOGGED
    assert venue_text(exactly) == exactly.decode()


@pytest.mark.parametrize("extra", [1, 2, 90])
def test_venue_text_when_just_longer_than_the_bound_then_its_first_500_characters_and_the_marker(extra: int) -> None:
    """rev59merge10 LOW 4: a 501-character Text kept ~410 characters: the marker took ~90 of the 500."""
    raw = ("é" * (VENUE_TEXT_LOGGED - 10) + "0123456789" + "x" * extra).encode()
    assert venue_text(raw) == raw.decode()[:VENUE_TEXT_LOGGED] + _marker(raw, True)  # merge59: 410 characters, …


def test_venue_logon_refused_with_a_501_character_text_then_its_end_up_to_500_characters_kept() -> None:
    tail = b" MsgSeqNum too low, expecting 40 but received 5"
    raw = b"x" * (VENUE_TEXT_LOGGED + 1 - len(tail) - 1) + tail + b"."
    rig = Rig()
    rig.session.connection_made(rig.clock())
    rig.take()
    rig.feed(rig.venue.message(MsgType.LOGOUT, [(b"58", raw)]))
    assert rig.session.refused_expected == 40
    assert rig.session.refused_text == raw[:-1].decode() + _marker(raw, True)
    assert "expecting 40 but received 5…" in rig.session.refused_text  # merge59: cut at 410 characters


def test_venue_reject_when_a_long_field_is_multibyte_then_cut_on_a_character(caplog: pytest.LogCaptureFixture) -> None:
    """rev59merge10 LOW 4: ``_field_text`` cut at 24 bytes split a UTF-8 character (U+FFFD in the line)."""
    rig = Rig().logged_on()
    euro = "€" * 30  # 3 bytes each: the 24th byte ends the 8th; before, 24 bytes cut no character but 24 chars did
    body = [(b"45", b"7"), (b"373", b"5"), (b"371", ("a" + euro).encode()), (b"58", b"refused")]
    with caplog.at_level(logging.WARNING, logger="venues.fix.session.session"):
        rig.feed(rig.venue.message(MsgType.REJECT, body))
    (line,) = [r.getMessage() for r in caplog.records if "venue rejected our message" in r.getMessage()]
    assert "\ufffd" not in line, line
    assert ("a" + euro)[:24] + "… (91 bytes)" in line, line
