"""A failback replay's owed NextUserRefNum mark that cannot be written: the login does not go on (ouchmark59).

ouchfail58b puts on file, at the first number of another host a login's replay names (or at a replay gap), that the
venue's NextUserRefNum is owed, with a provisional floor above that number, before anything later in the replay is
journaled: a restart after a stop inside the Account Query's wait still numbers above the other host. When the
UserRefNum store file could not be written at that moment, the mark lived in memory only (rev58merge7 HIGH, a double
fault): the replay went on, this host's own later message was journaled (the resume point passed the other host's
messages), and a restart after the disk was repaired logged in after them, went UP at its old store and sent its
Enter under a number the venue had passed (ignored; its strategy told OrderAccepted, then in doubt).

Now the login does not go on while the mark is not on file: nothing from the other host's message on is acted on, the
connection drops and the login asks for that message again (backing off); the venue stays out of UP. The disk repaired
in the same process: the store's retry carries the mark and the next login goes on. Repaired only for a restart: its
replay still shows the other host's numbers, so it asks the venue's NextUserRefNum before anything goes out.

The unwritable file: a directory where the store file is (the atomic rename onto it fails), put back as the file that
was there after the store read it (what a failed write leaves). A strict venue on real loopback sockets.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.journal import read_journal
from gateway.recovery import recover
from model.venue_events import VenueState
from tests.ouch.harness import PX, TS
from tests.ouch.test_failback_above_other_host import _other_host_passes, _primary_day
from tests.ouch.test_failback_owed_query import GapVenue
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_standby_unseen_numbers import BLOCK, Host, StrictVenue
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderExecuted

UNWRITTEN = "that the venue's NextUserRefNum is owed"


def _break(store_file: Path) -> bytes:
    """Put a directory where the store file is (every write of it fails); return the file's bytes."""
    saved = store_file.read_bytes()
    store_file.unlink()
    store_file.mkdir()
    return saved


def _relogged_or_read(host: Host, venue: StrictVenue) -> bool:
    """The login dropped and a second one began, or (before) the replay was read to its end."""
    logins = host.venue.status()["logins"]
    return (isinstance(logins, int) and logins >= 2) or host.venue.sequence.high_water == len(venue.history)


def _repair(store_file: Path, saved: bytes) -> None:
    store_file.rmdir()
    store_file.write_bytes(saved)


@pytest.mark.parametrize("repair", ["restart", "in_process"])
async def test_owed_mark_not_written_then_no_up_and_nothing_journaled_past_the_other_hosts_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, repair: str
) -> None:
    """rev58merge7 finding 1: the store file unwritable when the mark is due; the restart (or the repaired process)
    still numbers above the other host.

    Before: the replay went on (the primary's own fill journaled after the other host's 4..153), and the restart
    went UP at its old store: its Enter out as 101, ignored by the venue.
    """
    venue = await StrictVenue().start()
    root = tmp_path / "a"
    await _primary_day(venue, root)
    highest = _other_host_passes(venue)  # UserRefNum n at sequence n
    first_other = BLOCK + 1  # the first above the primary's reservation: where the mark is due
    venue.publish(encode_message(OrderExecuted(TS, 1, 10, PX - 100, "A", 99)))  # the primary's own, after them
    venue.answer_queries = False
    store_file = root / "ouch" / "nasdaq.userrefnum.json"
    back = Host(venue, root)  # its store read the file
    saved = _break(store_file)
    sent = len(venue.inbound)
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            back.connector.start()
            await wait_until(lambda: _relogged_or_read(back, venue), "a second login, or the replay read to its end")
            assert back.venue.sequence.high_water < first_other  # before: 154, its own fill after them applied
            assert UNWRITTEN in caplog.text and "not going UP" in caplog.text
            assert back.venue.state is not VenueState.UP
            assert not any(m[:1] in b"OU" for m in venue.inbound[sent:])
            if repair == "in_process":
                _repair(store_file, saved)
                await wait_until(lambda: back.venue.state is VenueState.UP, "the venue up once the mark is on file")
                assert "owed is on file in" in caplog.text
                assert back.venue.sequence.high_water == len(venue.history)
                back.link = back.rig.connect("S1")
                urn, cl_ord_id = await back.enter(venue, "a9")
                await wait_until(lambda: "a9" in back.accepted(), "the order accepted")
                assert venue.ignored == [] and urn > highest and venue.live.get(urn) == cl_ord_id
                return
    finally:
        await back.stop()
        venue.drop()
        if repair == "in_process":
            await venue.stop()
    point = recover(read_journal(root / "journal")).resume["nasdaq"]
    assert point.high_water < first_other  # before: the primary's own fill, after the other host's, journaled
    _repair(store_file, saved)
    again = Host(venue, root)
    try:
        await again.start()
        urn, cl_ord_id = await again.enter(venue, "a9")
        await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        assert venue.ignored == []  # before: [101], the Enter ignored, its strategy told OrderAccepted
        assert urn > highest and venue.live.get(urn) == cl_ord_id
        assert int(cl_ord_id) > highest
    finally:
        await again.stop()
        await venue.stop()


async def test_owed_mark_of_a_replay_gap_not_written_then_the_restart_sees_the_gap_again_and_asks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same at a replay gap (the other host's 4..153 in it): the login drops before its replay is acted on.

    Before: the primary's own fill after the gap was journaled, the restart logged in after it (no gap, no query),
    went UP at its old store and its Enter went out as 101, ignored by the venue.
    """
    venue = GapVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_day(venue, root)
    highest = _other_host_passes(venue)
    venue.min_replay = len(venue.history) + 1  # the venue lost those messages: it resumes after them
    venue.publish(encode_message(OrderExecuted(TS, 1, 10, PX - 100, "A", 99)))  # the primary's own, after the gap
    store_file = root / "ouch" / "nasdaq.userrefnum.json"
    back = Host(venue, root)
    saved = _break(store_file)
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            back.connector.start()
            await wait_until(lambda: _relogged_or_read(back, venue), "a second login, or the replay read to its end")
            assert back.venue.sequence.high_water < venue.min_replay  # before: its own fill after the gap applied
            assert "REPLAY GAP" in caplog.text and UNWRITTEN in caplog.text
            assert back.venue.state is not VenueState.UP
    finally:
        await back.stop()
        venue.drop()
    point = recover(read_journal(root / "journal")).resume["nasdaq"]
    assert point.high_water < venue.min_replay  # before: the fill after the gap journaled
    _repair(store_file, saved)
    again = Host(venue, root)
    try:
        await again.start()
        urn, cl_ord_id = await again.enter(venue, "a9")
        await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        assert venue.ignored == []  # before: [101]
        assert any(m[:1] == b"Q" for m in venue.inbound)
        assert urn > highest and venue.live.get(urn) == cl_ord_id
    finally:
        await again.stop()
        await venue.stop()
