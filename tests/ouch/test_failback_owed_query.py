"""What a failback replay showed survives a stop before the Account Query's answer; a replay gap asks it too.

ouchfail58 made a host coming back below the other host's UserRefNums ask the venue's NextUserRefNum (Account Query)
after its login's replay, and floor its store on the answer. Two holes (rev58merge2, HIGH):

* The other host's numbers lived in memory only until the answer. A stop or crash inside that wait, with this host's
  own message later in the same replay (a fill of its resting order) journaled, made the restart log in after it
  (``resume_after``): its replay showed nothing of the other host, no query went out, and the host went UP at its old
  store. Its Enter went out under a number the venue had passed (ignored), was answered in doubt, and its Cancel
  named the other host's live order. Now the first such number puts on file, at once, a provisional floor (a tenth of
  a block above it, as an unanswered query takes) and a mark that the venue's NextUserRefNum is owed: the restart
  numbers above the floor and asks the query again before anything goes out.
* A replay gap (the venue resumed after the messages asked for) can hide the other host's numbers: the login went UP
  at the old store and nothing asked the venue's number. Now a gap asks it before UP.

A strict venue on real loopback sockets (``StrictVenue`` of ``test_standby_unseen_numbers``), real engines and
journals; block 100 (the primary's restart numbers from 101).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import pytest

from gateway.journal import read_journal
from gateway.recovery import recover
from model.venue_events import VenueState
from tests.ouch.harness import DAY, PX, TS
from tests.ouch.test_failback_above_other_host import _other_host_passes, _primary_day, _reserved_on_file
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_standby_unseen_numbers import BLOCK, Host, StrictVenue
from venues.ouch.adapter import unanswered_ref_margin
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderExecuted
from venues.ouch.refstore import UserRefNumStore
from venues.ouch.soupbin import encode_login_accepted, encode_sequenced


async def _stopped_inside_the_query_wait(venue: StrictVenue, root: Path) -> None:
    """The primary back: its replay shows the other host's numbers, then its own fill; stopped before the answer."""
    venue.answer_queries = False
    back = Host(venue, root)
    try:
        back.connector.start()
        await wait_until(lambda: any(m[:1] == b"Q" for m in venue.inbound), "the Account Query at the venue")
        assert back.venue.counters["ref_other_host"] > 0
        assert back.venue.state is not VenueState.UP
        assert back.venue.sequence.high_water == len(venue.history)  # its own fill, after the other host's, applied
    finally:
        await back.stop()  # inside the query's wait (server_timeout_ms 1,100): nothing answered it
    venue.drop()


@pytest.mark.parametrize("answered", [True, False], ids=["answered", "unanswered"])
async def test_stop_inside_the_failback_query_wait_then_the_restart_enters_above_the_other_host_and_cancels_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, answered: bool
) -> None:
    """rev58merge2 finding 1: the restart logs in after the other host's messages, and still numbers above them.

    Before: the restart went UP at its old store; its Enter went out as 101 (the venue past 153: ignored).
    """
    venue = await StrictVenue().start()
    root = tmp_path / "a"
    await _primary_day(venue, root)
    highest = _other_host_passes(venue)
    venue.publish(encode_message(OrderExecuted(TS, 1, 10, PX - 100, "A", 99)))  # the primary's own, after them
    await _stopped_inside_the_query_wait(venue, root)
    point = recover(read_journal(root / "journal")).resume["nasdaq"]
    assert point.high_water == len(venue.history)  # the restart asks for nothing of the other host's again
    reserved = _reserved_on_file(root)  # the provisional floor, on file before the answer (before: 100)
    venue.answer_queries = answered
    queries = sum(m[:1] == b"Q" for m in venue.inbound)
    again = Host(venue, root)
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            await again.start()
            urn, cl_ord_id = await again.enter(venue, "a9")
            await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        assert venue.ignored == []  # before: [101], the Enter ignored, its strategy told OrderAccepted
        assert urn > highest and venue.live.get(urn) == cl_ord_id
        assert int(cl_ord_id) > highest  # none of the other host's ClOrdIDs ('4'..'153') again
        assert len(set(venue.entered)) == len(venue.entered)
        assert sum(m[:1] == b"Q" for m in venue.inbound) == queries + 1  # the owed query asked again
        assert "the venue's NextUserRefNum is owed since an earlier login" in caplog.text
        await asyncio.sleep(0.6)  # two answer_timeout_ms (300): before, the doubted Enter's Cancel went out
        assert not any(m[:1] == b"X" for m in venue.inbound)  # no Cancel: none names the other host's orders
        assert all(venue.live.get(n) == str(n) for n in range(4, highest + 1))
        assert again.venue.status()["in_doubt"] == 0
        assert reserved >= highest + unanswered_ref_margin(BLOCK) // 2 and urn > reserved  # never lowered
    finally:
        await again.stop()
        await venue.stop()
    assert not UserRefNumStore(root / "ouch", "nasdaq", today=lambda: DAY, block=BLOCK).ask  # settled, on file


class GapVenue(StrictVenue):
    """A strict venue that can no longer replay its messages below ``min_replay`` (a login resumes after them)."""

    def __init__(self) -> None:
        super().__init__()
        self.min_replay = 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        beat = asyncio.get_running_loop().create_task(self._beat(writer))
        try:
            while True:
                (length,) = struct.unpack(">H", await reader.readexactly(2))
                packet = await reader.readexactly(length)
                if packet[:1] == b"L":
                    asked = int(packet[27:47].strip() or b"0") or len(self.history) + 1
                    first = max(min(asked, len(self.history) + 1), self.min_replay)
                    writer.write(encode_login_accepted(self.session, first))
                    for message in self.history[first - 1 :]:
                        writer.write(encode_sequenced(message))
                    self.writer = writer
                elif packet[:1] == b"U":
                    self._on_message(packet[1:])
                elif packet[:1] == b"O":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            beat.cancel()
            writer.close()


async def test_replay_gap_hiding_the_other_hosts_numbers_then_the_venues_number_is_asked_before_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev58merge2 finding 2: the other host's 4..153 fall in a replay gap; the Account Query floors the store.

    Before: REPLAY GAP at ERROR, UP at the old store, the Enter out as 101 (ignored by the venue).
    """
    venue = GapVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_day(venue, root)
    highest = _other_host_passes(venue)
    venue.min_replay = len(venue.history) + 1  # the venue lost those messages: it resumes after them
    again = Host(venue, root)
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            await again.start()
            urn, cl_ord_id = await again.enter(venue, "a9")
            await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        assert venue.ignored == []  # before: [101], the Enter ignored, its strategy told OrderAccepted
        assert "REPLAY GAP" in caplog.text
        assert any(m[:1] == b"Q" for m in venue.inbound)  # before: no Account Query
        assert urn == highest + 1 and venue.live.get(urn) == cl_ord_id
        assert f"NextUserRefNum {highest + 1}: new UserRefNums start at {highest + 1}" in caplog.text
        assert _reserved_on_file(root) >= highest + 1
    finally:
        await again.stop()
        await venue.stop()
    assert not UserRefNumStore(root / "ouch", "nasdaq", today=lambda: DAY, block=BLOCK).ask


def test_owed_query_mark_on_file_is_loaded_and_cleared_by_the_answer_and_a_new_day(tmp_path: Path) -> None:
    """``mark_ask`` writes the mark and the provisional floor at once; ``floor(settled=True)`` clears the mark."""
    day = ["20260105"]
    store = UserRefNumStore(tmp_path, "v", today=lambda: day[0], block=BLOCK)
    store.bind("S1")
    assert store.next() == 1
    assert store.mark_ask(153, 163)
    assert store.last_issued == 1  # this process's numbers are not moved: the answer may say 154
    reloaded = UserRefNumStore(tmp_path, "v", today=lambda: day[0], block=BLOCK)
    assert reloaded.ask and reloaded.other == 153 and reloaded.last_issued == 163  # a restart numbers above it
    reloaded.ensure_above(153)  # an answer lower than the floor on file: never lowered
    assert reloaded.floor(settled=True)
    again = UserRefNumStore(tmp_path, "v", today=lambda: day[0], block=BLOCK)
    assert not again.ask and again.other == 0 and again.last_issued == 163
    assert again.mark_ask(0, 0, 77) and again.order_ids == 77  # a replay gap: the mark alone; ClOrdIDs noted
    day[0] = "20260106"
    again.bind("S1")
    assert not again.ask and again.last_issued == 0
