"""A failback replay's owed NextUserRefNum mark that cannot be written: cancels still go out (ouchmark59b).

ouchfail58b puts on file, at the first number of another host a login's replay names (or at a replay gap), that the
venue's NextUserRefNum is owed, with a provisional floor above that number, before anything later in the replay is
journaled: a restart after a stop inside the Account Query's wait still numbers above the other host. When the
UserRefNum store file cannot be written at that moment, the mark lives in memory only (rev58merge7, a double fault).

ouchmark59 held the login until the write landed (not UP, the connection dropped and asked again, backing off):
every Cancel, the kill switch's included, waited for the disk to be repaired (rev59merge2 HIGH 2). Now the login goes
on as before ouchmark59: the kill's Cancels reach the venue, the ERROR says the mark is in memory only, what a restart
would lose and the remedy; the store's background retry carries the mark once the directory is repaired, and a
restart after that still numbers above the other host.

The unwritable file: a directory where the store file is (the atomic rename onto it fails), put back as the file that
was there after the store read it (what a failed write leaves). A strict venue on real loopback sockets.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.venue_events import VenueState
from tests.ouch.test_failback_above_other_host import _other_host_passes, _primary_day
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_replace_number_taken_by_other_host import (
    ReplaceVenue,
    _primary_with_a_replace_lost,
    _standby_enters_under_3,
)
from tests.ouch.test_standby_unseen_numbers import Host, StrictVenue

PRIMARYS = (1, 2, 3)
"""The primary's own orders, live at the venue (``_primary_day``)."""


def _break(store_file: Path) -> bytes:
    """Put a directory where the store file is (every write of it fails); return the file's bytes."""
    saved = store_file.read_bytes()
    store_file.unlink()
    store_file.mkdir()
    return saved


def _read(host: Host, venue: StrictVenue) -> bool:
    """The first login's replay read to its end (ouchmark59's hold dropped the login and began a second one)."""
    assert host.venue.status()["logins"] in (0, 1), "a second login: the login was held"
    return host.venue.sequence.high_water == len(venue.history)


def _repair(store_file: Path, saved: bytes) -> None:
    store_file.rmdir()
    store_file.write_bytes(saved)


async def test_owed_mark_not_written_then_the_kill_switchs_cancels_still_reach_the_venue(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev59merge2 HIGH 2: the store file unwritable when a failback replay makes the mark due, then a kill.

    ouchmark59: the login was held out of UP while the disk was broken: none of the kill's Cancels left (71 held
    logins in 3 s). Now they reach the venue as soon as the session is UP (the Account Query unanswered: within
    ``server_timeout_ms``), and once the directory is repaired the mark lands: a restart numbers above the other host.
    """
    venue = await StrictVenue().start()
    root = tmp_path / "a"
    await _primary_day(venue, root)
    highest = _other_host_passes(venue)
    venue.answer_queries = False
    store_file = root / "ouch" / "nasdaq.userrefnum.json"
    back = Host(venue, root)  # its store read the file
    saved = _break(store_file)
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            back.connector.start()
            await wait_until(lambda: _read(back, venue), "the replay read to its end")
            sent = len(venue.inbound)
            assert back.engine.cancel_all(None, walk=True) == len(PRIMARYS)
            await wait_until(
                lambda: not any(urn in venue.live for urn in PRIMARYS), "the kill's Cancels at the venue", timeout=5.0
            )
            assert sorted(int.from_bytes(m[1:5], "big") for m in venue.inbound[sent:] if m[:1] == b"X") == [1, 2, 3]
            assert back.venue.state is VenueState.UP
            assert "that the venue's NextUserRefNum is owed" in caplog.text
            assert "it is kept in memory only: cancels go out" in caplog.text
            assert "not going UP" not in caplog.text
            _repair(store_file, saved)
            await wait_until(lambda: back.store.error is None, "the mark written by the store's retry")
    finally:
        await back.stop()
        venue.drop()
    again = Host(venue, root)
    try:
        await again.start()
        urn, cl_ord_id = await again.enter(venue, "a9")
        await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        assert venue.ignored == [] and urn > highest and venue.live.get(urn) == cl_ord_id
    finally:
        await again.stop()
        await venue.stop()


async def test_gap_login_while_the_store_is_unwritable_gives_no_all_clear(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev59merge8 MEDIUM 3: a failback whose replay has a REPLAY GAP, the store file unwritable when the mark is due.

    Before: the ERROR (the mark in memory only) was followed at once by the WARNING `... owed is on file in <path>
    again: a restart asks it too` while the file was still a directory (an operator reading it restarts below the
    other host's numbers). Now only the ERROR, its reason said once.
    """
    venue = ReplaceVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_with_a_replace_lost(venue, root, doubt=True)
    _standby_enters_under_3(venue)
    venue.replay_from = len(venue.history) + 1  # the standby's messages cannot be replayed: a REPLAY GAP
    store_file = root / "ouch" / "nasdaq.userrefnum.json"
    back = Host(venue, root)  # its store read the file
    _break(store_file)
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            back.link = back.rig.connect("S1")
            back.connector.start()
            await wait_until(lambda: back.venue.state is VenueState.UP, "UP", timeout=10.0)
    finally:
        await back.stop()
        await venue.stop()
    assert store_file.is_dir()  # nothing of the mark is on file
    assert "owed is on file" not in caplog.text, "the all-clear WARNING while the file is still a directory"
    (error,) = [r.getMessage() for r in caplog.records if "cannot put on file" in r.getMessage()]
    assert "NextUserRefNum is owed (a replay gap, or an earlier login's replay)" in error  # its reason said once
