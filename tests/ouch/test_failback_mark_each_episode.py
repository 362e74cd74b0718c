"""The owed-mark ERROR once per episode, each ended by an all-clear (rev60ouch MEDIUM 2, a double fault).

A replay gap at a re-login makes the venue's NextUserRefNum owed: the mark goes on file before anything later is
journaled (``mark_ask``). With the UserRefNum store file unwritable the mark is in memory only, said at ERROR
(``_owed_mark_not_on_file``). Before, that ERROR came once per process: the flag behind it was cleared only by a later
mark's own write, never when the store's retry wrote the state (the mark, or the venue's floor once the Account Query
settled it), so a second episode the same day had no ERROR (only the store's own, whose ops-guide row says "no restart
needed", when a restart is exactly what would lose the mark), and no all-clear followed the first.

One process, two episodes: the store file replaced by a directory (as ``test_failback_mark_unwritten``), the
connection dropped, messages sent meanwhile that the venue cannot replay (a REPLAY GAP), the directory repaired. A
strict venue on real loopback sockets, a real engine and journal.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model.venue_events import VenueState
from tests.ouch.test_failback_mark_unwritten import _break, _repair
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_replace_number_taken_by_other_host import ReplaceVenue
from tests.ouch.test_standby_unseen_numbers import Host

NOT_ON_FILE = "cannot put on file"
ALL_CLEAR = "the venue's NextUserRefNum owed is settled and the numbers above it are on file"


def _logins(host: Host) -> int:
    logins = host.venue.status()["logins"]
    assert isinstance(logins, int)
    return logins


def _said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


async def _episode(venue: ReplaceVenue, host: Host, store_file: Path) -> None:
    """The store file unwritable, a re-login with a replay gap (the mark due, the Account Query answered), repaired."""
    logins = _logins(host)
    saved = _break(store_file)
    venue.drop()
    venue.execute(1, 1)  # sent while the gateway is away, and not replayed
    venue.replay_from = len(venue.history) + 1
    await wait_until(lambda: _logins(host) > logins and host.venue.state is VenueState.UP, "UP again after the gap")
    assert store_file.is_dir()
    _repair(store_file, saved)
    await wait_until(lambda: host.store.error is None, "the store's retry written")


async def test_owed_mark_unwritten_twice_in_one_process_is_said_twice_each_time_cleared(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = ReplaceVenue()
    await venue.start()
    host = Host(venue, tmp_path / "a")
    store_file = tmp_path / "a" / "ouch" / "nasdaq.userrefnum.json"
    try:
        await host.start()
        assert (await host.enter(venue, "a1"))[0] == 1
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            await _episode(venue, host, store_file)
            assert _said(caplog, NOT_ON_FILE) == 1
            await _episode(venue, host, store_file)  # (at once: the episode ended with the retry's write)
            assert _said(caplog, NOT_ON_FILE) == 2  # before: 1, the second episode said nothing of the mark
            await wait_until(lambda: _said(caplog, ALL_CLEAR) >= 1, "the all-clear once the retry wrote the state")
        assert host.store.owed_on_file and not host.store.ask
    finally:
        await host.stop()
        await venue.stop()


async def test_owed_mark_written_by_the_retry_before_the_answer_gives_the_all_clear(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The directory repaired inside the Account Query's wait: the retry's write carries the mark itself (``ask``
    on file); the all-clear says a restart asks it too (before: no all-clear, the ERROR left standing)."""
    venue = ReplaceVenue()
    venue.answer_queries = False  # the wait lasts server_timeout_ms: the repair and the 1 s retry land inside it
    await venue.start()
    host = Host(venue, tmp_path / "a", server_timeout_ms=5_000)  # 1.1 s raced the retry: 1 run in 6 failed (ouch60b)
    store_file = tmp_path / "a" / "ouch" / "nasdaq.userrefnum.json"
    try:
        await host.start()
        logins = _logins(host)
        saved = _break(store_file)
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            venue.drop()
            venue.execute(1, 1)
            venue.replay_from = len(venue.history) + 1
            await wait_until(lambda: _said(caplog, NOT_ON_FILE) == 1, "the mark due and not written")
            assert _logins(host) > logins and host.venue.state is not VenueState.UP
            _repair(store_file, saved)
            await wait_until(
                lambda: f"owed is on file in {store_file} again: a restart asks it too" in caplog.text,
                "the all-clear of the mark written",
            )
            await wait_until(lambda: host.venue.state is VenueState.UP, "UP once the query times out")
        assert _said(caplog, NOT_ON_FILE) == 1 and _said(caplog, ALL_CLEAR) == 0  # one all-clear, for the mark
    finally:
        await host.stop()
        await venue.stop()
