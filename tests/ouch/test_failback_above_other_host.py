"""A host coming back below the other host's UserRefNums asks the venue's number first (ouchfail58).

OUCH 5.0 2.2: an account's UserRefNums are strictly increasing throughout the trading day; the venue ignores an Enter
whose number is not above every one of the day. A host with its own record of the day numbers from its reservation on
file. When the other host traded past that (more than the gap; a second failback; different ``user_ref_num_block``s)
its Enters went out under numbers the venue had passed: ignored, while its strategy was told ``OrderAccepted``, then
in doubt, and their Cancels went out under numbers that could name the other host's live orders. It read each of the
other host's messages as a number never issued, out of frame: 3 reconnects per message (rev57merge3, ouchmargin57's
"Known limit"). Now a login reads its replay before going UP; numbers above this host's store in it are another
host's: the venue's NextUserRefNum (Account Query) floors the store (on file) before anything new goes out, or,
unanswered, a tenth of a block above the highest named. Orders asked for between Login Accepted and the replay's end
are refused ``VENUE_UNAVAILABLE`` (before: sent at once, under the other host's ClOrdIDs and a number it had passed).

A strict venue on real loopback sockets (``StrictVenue`` of ``test_standby_unseen_numbers``), real engines and
journals; block 100 (the primary's restart numbers from 101).
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from pathlib import Path

import pytest

from gateway.protocol.messages import NewOrder, OrderRejected
from model.enums import Side
from model.venue_events import VenueState
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_standby_unseen_numbers import BLOCK, RESTING, Host, StrictVenue
from venues.ouch.adapter import UNSEEN_ORDER_ID_MARGIN, unanswered_ref_margin
from venues.ouch.soupbin import SERVER_HEARTBEAT_PACKET, encode_login_accepted, encode_sequenced

PASSED = 150
"""The other host's orders while the primary was away: UserRefNums 4..153, past the primary's next block (101)."""


async def _primary_day(venue: StrictVenue, root: Path) -> None:
    """The primary: ClOrdIDs 1..3 under UserRefNums 1..3 (its store reserves 1..100), then a clean stop."""
    primary = Host(venue, root)
    try:
        await primary.start()
        for n in range(3):
            await primary.enter(venue, f"a{n}")
        await wait_until(lambda: len(primary.accepted()) == 3, "the primary's orders accepted")
    finally:
        await primary.stop()
    venue.drop()


def _other_host_passes(venue: StrictVenue) -> int:
    """The other host's orders 4..153 (ClOrdIDs '4'..'153'), answered and live; return its highest number."""
    for n in range(4, 4 + PASSED):
        venue.take_enter(n, str(n), answer=True)
    return 3 + PASSED


def _reserved_on_file(root: Path) -> int:
    return int(json.loads((root / "ouch" / "nasdaq.userrefnum.json").read_text())["reserved"])


async def test_primary_back_after_the_other_host_passed_its_next_block_then_it_enters_above_the_venues_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The gap exceeded: the other host's 4..153 pass the primary's next block (101); the Account Query answered."""
    venue = await StrictVenue().start()
    await _primary_day(venue, tmp_path / "a")
    highest = _other_host_passes(venue)
    again = Host(venue, tmp_path / "a")
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            await again.start()
            urn, cl_ord_id = await again.enter(venue, "a9")
            await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        assert venue.ignored == []  # before: [101], the Enter ignored by the venue, its strategy told OrderAccepted
        assert urn == highest + 1  # the venue's NextUserRefNum (before: 101, its own next reserved block)
        assert venue.live.get(urn) == cl_ord_id  # the venue has the order the strategy was told is accepted
        assert int(cl_ord_id) > highest  # none of the other host's ClOrdIDs again
        assert _reserved_on_file(tmp_path / "a") >= highest + 1  # a restart today numbers above it too
        status = again.venue.status()
        assert status["logins"] == 1  # before: 3 reconnects per message numbered above 100 (out of frame)
        assert status["refetches"] == 0 and status["ref_never_issued"] == 0
        assert status["ref_other_host"] == highest - 100
        assert f"the replay names UserRefNum 101 (Order Accepted at sequence {3 + 98})" in caplog.text
        assert f"NextUserRefNum {highest + 1}: new UserRefNums start at {highest + 1}" in caplog.text
    finally:
        await again.stop()
        await venue.stop()


async def test_primary_back_when_the_account_query_is_unanswered_then_a_margin_above_the_other_hosts_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The gap exceeded, the venue silent on the Account Query: a tenth of a block above the highest named (153)."""
    venue = await StrictVenue().start()
    await _primary_day(venue, tmp_path / "a")
    highest = _other_host_passes(venue)
    venue.answer_queries = False
    again = Host(venue, tmp_path / "a")
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            await again.start()
            urn, cl_ord_id = await again.enter(venue, "a9")
            await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        margin = unanswered_ref_margin(BLOCK)
        assert urn == highest + margin + 1  # before: 101, ignored
        assert venue.ignored == []
        assert int(cl_ord_id) > highest + UNSEEN_ORDER_ID_MARGIN  # unanswered: the other host's unseen ClOrdIDs
        assert _reserved_on_file(tmp_path / "a") >= highest + margin + 1
        assert again.venue.status()["logins"] == 1
        assert (
            f"after the replay named another host's UserRefNums up to {highest}, above this host's: new UserRefNums "
            f"start at {highest + margin + 1}, a margin of {margin} above it"
        ) in caplog.text
    finally:
        await again.stop()
        await venue.stop()


async def test_second_failback_then_the_returning_standby_enters_above_the_primarys_numbers_and_cancels_none(
    tmp_path: Path,
) -> None:
    """A 1..3; standby B (no record) 4, 5; A back 101..105; B back with its own journal and store (its next: 104).

    Before: B's Enters went out as 104, 105, below A's 105 (ignored), its strategy told OrderAccepted; in doubt after
    answer_timeout_ms their Cancels went out under 104 and 105 and canceled A's live orders.
    """
    venue = await StrictVenue().start()
    await _primary_day(venue, tmp_path / "a")
    standby = Host(venue, tmp_path / "b")
    try:
        await standby.start()
        for n in range(2):
            await standby.enter(venue, f"b{n}")
        await wait_until(lambda: len(standby.accepted()) == 2, "the standby's orders accepted")
    finally:
        await standby.stop()
    venue.drop()
    primary = Host(venue, tmp_path / "a")
    try:
        await primary.start()
        primary_urns = [(await primary.enter(venue, f"c{n}"))[0] for n in range(5)]
        ours = {f"c{n}" for n in range(5)}
        await wait_until(lambda: ours <= set(primary.accepted()), "the primary's orders accepted again")
    finally:
        await primary.stop()
    venue.drop()
    assert primary_urns == [101, 102, 103, 104, 105]
    back = Host(venue, tmp_path / "b")
    try:
        await back.start()
        urns = [(await back.enter(venue, f"d{n}"))[0] for n in range(2)]
        await wait_until(lambda: {"d0", "d1"} <= set(back.accepted()), "the standby's orders accepted again")
        assert urns == [106, 107]  # before: [104, 105], ignored by the venue
        assert venue.ignored == []
        await asyncio.sleep(0.6)  # two answer_timeout_ms (300): before, the Cancels of the doubted Enters went out
        cancels = [struct.unpack(">I", m[1:5])[0] for m in venue.inbound if m[:1] == b"X"]
        assert not set(cancels) & set(primary_urns)  # no Cancel under the primary's numbers
        assert all(urn in venue.live for urn in primary_urns)  # the primary's orders untouched
        assert back.venue.status()["in_doubt"] == 0 and back.venue.status()["logins"] == 1
        assert len(set(venue.entered)) == len(venue.entered)  # no ClOrdID twice
    finally:
        await back.stop()
        await venue.stop()


class SlowReplayVenue(StrictVenue):
    """A strict venue that sends its replay ``lag`` seconds after Login Accepted, and no heartbeat meanwhile."""

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag
        self.logged_in = asyncio.Event()
        self.replayed = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        beat: asyncio.Task[None] | None = None
        try:
            while True:
                (length,) = struct.unpack(">H", await reader.readexactly(2))
                packet = await reader.readexactly(length)
                if packet[:1] == b"L":
                    asked = int(packet[27:47].strip() or b"0") or len(self.history) + 1
                    first = min(asked, len(self.history) + 1)
                    writer.write(encode_login_accepted(self.session, first))
                    await writer.drain()
                    self.logged_in.set()
                    await asyncio.sleep(self.lag)  # a loaded venue or link: SoupBinTCP promises no timing
                    for message in self.history[first - 1 :]:
                        writer.write(encode_sequenced(message))
                    writer.write(SERVER_HEARTBEAT_PACKET)
                    self.replayed = True
                    self.writer = writer
                    beat = asyncio.get_running_loop().create_task(self._beat(writer))
                elif packet[:1] == b"U":
                    self._on_message(packet[1:])
                elif packet[:1] == b"O":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if beat is not None:
                beat.cancel()
            writer.close()


async def test_order_between_login_accepted_and_the_replays_end_then_refused_not_sent_under_the_others_numbers(
    tmp_path: Path,
) -> None:
    """rev57merge3 MEDIUM 2: the replay 0.3 s after Login Accepted; an order asked for meanwhile waits (refused).

    Before: the venue went UP at Login Accepted and the order went out at once as ClOrdID '4' (the other host's) under
    UserRefNum 101 (which the venue had passed: ignored).
    """
    venue = SlowReplayVenue(lag=0.3)
    await venue.start()
    await _primary_day(venue, tmp_path / "a")
    highest = _other_host_passes(venue)
    venue.logged_in.clear()
    venue.replayed = False
    sent = len(venue.inbound)
    again = Host(venue, tmp_path / "a")
    again.link = again.rig.connect("S1")
    try:
        again.connector.start()
        await asyncio.wait_for(venue.logged_in.wait(), 10)
        await wait_until(lambda: again.venue.status()["logins"] == 1, "Login Accepted read")
        assert not venue.replayed
        again.send(NewOrder("early", "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        (refused,) = [m for m in again.link.received() if isinstance(m, OrderRejected)]  # before: sent, accepted
        assert refused.code == "VENUE_UNAVAILABLE"
        assert not any(m[:1] == b"O" for m in venue.inbound[sent:])
        await wait_until(lambda: again.venue.state is VenueState.UP, "UP after the replay")
        urn, cl_ord_id = await again.enter(venue, "a9")
        await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        assert urn == highest + 1 and int(cl_ord_id) > highest
        assert venue.ignored == []
        assert len(set(venue.entered)) == len(venue.entered)
    finally:
        await again.stop()
        await venue.stop()


async def test_reconnect_after_the_other_host_traded_meanwhile_then_the_same_process_enters_above_its_numbers(
    tmp_path: Path,
) -> None:
    """No restart: the primary's connection drops, the other host trades 4..153 meanwhile, the primary logs in again.

    Before: the reconnect went UP at Login Accepted, read each of the other host's numbers above 100 as out of frame
    (3 reconnects per message), and entered under 4 (its store's next number), ignored by the venue.
    """
    venue = await StrictVenue().start()
    primary = Host(venue, tmp_path / "a")
    try:
        await primary.start()
        for n in range(3):
            await primary.enter(venue, f"a{n}")
        await wait_until(lambda: len(primary.accepted()) == 3, "the primary's orders accepted")
        logins = primary.venue.status()["logins"]
        assert isinstance(logins, int)
        venue.drop()
        highest = _other_host_passes(venue)  # before the primary's reconnect: in the replay of its next login
        await wait_until(lambda: primary.venue.status()["logins"] == logins + 1, "the login again")
        await wait_until(lambda: primary.venue.state is VenueState.UP, "UP again")
        urn, cl_ord_id = await primary.enter(venue, "a9")
        await wait_until(lambda: "a9" in primary.accepted(), "the order accepted")
        assert urn == highest + 1  # before: 4, the store's next number, ignored by the venue
        assert venue.ignored == []
        assert int(cl_ord_id) > highest
        status = primary.venue.status()
        assert status["logins"] == logins + 1 and status["refetches"] == 0
    finally:
        await primary.stop()
        await venue.stop()
