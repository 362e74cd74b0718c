"""A Replace's UserRefNum that another host then enters its own order under is never this order's (rev59ouch).

OUCH 5.0 2.2: a Replace the venue never received does not use up its new UserRefNum, so a standby host taking over
enters its first order under it (the venue's NextUserRefNum). A Replace is answered Replaced or Rejected, never
Accepted: an Order Accepted naming such a number is the other host's Enter.

* HIGH 1: host A's Replace (UserRefNum 3) lost in flight at its stop, the standby enters under 3 and trades, A comes
  back. Before: the standby's Accepted and fills were applied to A's order, A's Replace was never answered, the Cancel
  held behind it never went out, and A's next order reused the standby's ClOrdID.
* A replay gap that hides who took a doubted Replace's number: A's Replace 3 answered in doubt
  (``answer_timeout_ms``), A's failback replay has a gap and the venue's NextUserRefNum is 4. Either the slow venue
  applied A's Replace (its Replaced in the gap) or the standby entered under 3 (its Accepted in the gap): OUCH cannot
  tell them apart. ouchrep59 retired 3 (rev59ouch MEDIUM 2), which in the first, more common, case dropped A's own
  fill and left a1 live at the venue with a Cancel never answered (rev59merge8 HIGH 2). ouchgap59: the doubt stays
  (as before ouchrep59; a message naming 3 settles it as the order's), an ERROR says the ambiguity and what to check
  with the venue desk, and new order ids start a margin above (the standby's ClOrdIDs may be in the gap).

A strict venue on real loopback sockets (``StrictVenue`` of ``test_standby_unseen_numbers``, with Replaces and a
replay floor), real engines and journals.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path
from typing import Any

import pytest

from gateway.protocol.messages import Cancel, Canceled, CancelRejected, Executed, OrderAccepted, Replace, Replaced
from model.venue_events import VenueState
from tests.ouch.harness import TS
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_standby_unseen_numbers import RESTING, Host, StrictVenue
from venues.ouch.adapter import UNSEEN_ORDER_ID_MARGIN
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderExecuted, OrderReplaced
from venues.ouch.soupbin import encode_login_accepted, encode_sequenced

OTHER_PRICE = RESTING + 5_000
"""The other host's order's price (its fills' too)."""


class ReplaceVenue(StrictVenue):
    """The strict venue, also taking Replaces (or losing them: ``lose_replaces``); ``replay_from``: the lowest
    sequence number it can still replay (a login asking for less gets a REPLAY GAP: Login Accepted above it)."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_replaces = False
        self.replay_from = 1

    def execute(self, urn: int, qty: int) -> None:
        self.publish(encode_message(OrderExecuted(TS, urn, qty, OTHER_PRICE, "A", 9000 + len(self.history))))

    def _on_message(self, message: bytes) -> None:
        if message[:1] != b"U":
            super()._on_message(message)
            return
        self.inbound.append(message)
        orig, urn = struct.unpack(">II", message[1:9])
        if self.lose_replaces or urn < self.next_user_ref_num or orig not in self.live:
            return  # lost in flight, or ignored (OUCH 5.0: its number not used up)
        self.next_user_ref_num = urn + 1
        cl_ord_id = self.live.pop(orig)
        self.live[urn] = cl_ord_id
        qty, price = struct.unpack(">IQ", message[9:21])
        self.publish(
            encode_message(
                OrderReplaced(
                    TS, orig, urn, "B", qty, "AAPL", price, "0", "Y", 8000 + urn, "A", "N", "N", "L", cl_ord_id
                )
            )
        )

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
                    first = max(min(asked, len(self.history) + 1), self.replay_from)
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

    def cancels(self, since: int = 0) -> list[int]:
        return [struct.unpack(">I", m[1:5])[0] for m in self.inbound[since:] if m[:1] == b"X"]


async def _primary_with_a_replace_lost(venue: ReplaceVenue, root: Path, *, doubt: bool) -> None:
    """A: orders a1 (UserRefNum 1) and a2 (2) live; its Replace of a1 (3) never reaches the venue; A stops.

    ``doubt``: the connection stays up until ``answer_timeout_ms`` answers the Replace ``OUCH_IN_DOUBT`` first.
    """
    primary = Host(venue, root)
    try:
        await primary.start()
        assert (await primary.enter(venue, "a1"))[0] == 1
        assert (await primary.enter(venue, "a2"))[0] == 2
        inbox = Inbox(primary)
        await wait_until(lambda: len(inbox(OrderAccepted)) == 2, "the primary's orders accepted")
        venue.lose_replaces = True
        sent = len(venue.inbound)
        primary.send(Replace("a1", 150, RESTING + 100))
        await wait_until(lambda: any(m[:1] == b"U" for m in venue.inbound[sent:]), "the Replace sent")
        if doubt:
            await wait_until(lambda: inbox(CancelRejected), "the Replace answered in doubt")
            (answer,) = inbox(CancelRejected)
            assert answer.code == "OUCH_IN_DOUBT"
    finally:
        await primary.stop()
    venue.drop()
    venue.lose_replaces = False
    assert venue.next_user_ref_num == 3  # the Replace's number never used up


class Inbox:
    """What a host's strategy link received, kept (``MemoryLink.received`` consumes)."""

    def __init__(self, host: Host) -> None:
        assert host.link is not None
        self.link = host.link
        self.seen: list[object] = []

    def __call__(self, *kinds: type) -> list[Any]:
        self.seen += self.link.received()
        return [m for m in self.seen if isinstance(m, kinds)]


def _standby_enters_under_3(venue: ReplaceVenue) -> None:
    """The standby host's order under the venue's NextUserRefNum (3), ClOrdID '3', which trades 3 shares."""
    venue.take_enter(3, "3", answer=True)
    venue.execute(3, 3)


async def _back(venue: ReplaceVenue, root: Path) -> Host:
    """A back with its journal and state: its strategy connected before the login (it sees the replay's answers)."""
    host = Host(venue, root)
    host.link = host.rig.connect("S1")
    host.connector.start()
    await wait_until(lambda: host.venue.state is VenueState.UP, "the venue to be up")
    return host


async def test_replace_lost_at_a_stop_whose_number_the_standby_entered_under_then_answered_and_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """HIGH 1: the Replace is answered OUCH_NOT_RECEIVED, the Cancel goes to UserRefNum 1, the standby's order (3)
    is never applied to A's order nor canceled, and A's next ClOrdID is above the standby's."""
    venue = ReplaceVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_with_a_replace_lost(venue, root, doubt=False)
    _standby_enters_under_3(venue)
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        back = await _back(venue, root)
    try:
        inbox = Inbox(back)
        await wait_until(lambda: inbox(CancelRejected), "the Replace answered")
        (answer,) = inbox(CancelRejected)
        assert (answer.cl_ord_id, answer.code) == ("a1", "OUCH_NOT_RECEIVED")  # before: never answered
        assert not inbox(Executed, Replaced)  # before: Executed 3 shares on a1 (the standby's fill)
        order = back.rig.order("S1", "a1")
        assert (order.qty, order.price, order.cum_qty, order.venue_ref) == (100, RESTING, 0, "1")
        assert "another host's Enter (left alone" in caplog.text
        sent = len(venue.inbound)
        back.send(Cancel("a1"))  # before: held behind the Replace for good
        await wait_until(lambda: inbox(Canceled), "a1 canceled")
        assert venue.cancels(sent) == [1]
        assert 1 not in venue.live and venue.live.get(3) == "3"  # the standby's order untouched
        urn, cl_ord_id = await back.enter(venue, "a3")
        assert urn > 3 and venue.ignored == []  # (a restart numbers from its next reserved block)
        assert cl_ord_id != "3" and int(cl_ord_id) > 3  # before: '3', the standby's ClOrdID again
        assert len(set(venue.entered)) == len(venue.entered)
    finally:
        await back.stop()
    venue.drop()
    venue.execute(3, 2)  # the standby's order trades again: a restart maps it to nothing of A's
    again = await _back(venue, root)
    try:
        await asyncio.sleep(0.2)  # the replay read (UP), then what the venue sends live: nothing for A
        assert not Inbox(again)(Executed)
        assert 3 not in venue.cancels()
    finally:
        await again.stop()
        await venue.stop()


def _venue_applies_the_lost_replace(venue: ReplaceVenue) -> None:
    """The slow venue applies A's Replace now (Replaced 1 -> 3, sequenced), no other host."""
    (replace,) = [m for m in venue.inbound if m[:1] == b"U"]
    venue._on_message(replace)
    assert 3 in venue.live and 1 not in venue.live


async def test_replace_in_doubt_applied_behind_a_replay_gap_then_settled_by_its_fill_and_canceled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev59merge8 HIGH 2: no other host; the venue applied A's doubted Replace, its Replaced lost in a replay gap.

    ouchrep59 retired 3 at the gap: A's fill under 3 was counted unknown, the Cancel went to 1 only (ignored by the
    venue), no answer reached the strategy and a1 stayed live at the venue as 3. Now the doubt stays (ERROR: check
    with the desk), the fill settles it (Replaced, Executed), the Cancel ends the order at the venue.
    """
    venue = ReplaceVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_with_a_replace_lost(venue, root, doubt=True)
    _venue_applies_the_lost_replace(venue)
    venue.replay_from = len(venue.history) + 1  # A's login asks for the Replaced: a REPLAY GAP
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        back = await _back(venue, root)
    try:
        inbox = Inbox(back)
        venue.execute(3, 2)  # a1, replaced at the venue, trades
        await wait_until(lambda: inbox(Executed), "the fill under 3 applied to a1")  # before: counted unknown
        (replaced,) = inbox(Replaced)  # the doubt settled: the venue applied the Replace
        assert (replaced.cl_ord_id, replaced.qty) == ("a1", 150)
        sent = len(venue.inbound)
        back.send(Cancel("a1"))
        await wait_until(lambda: inbox(Canceled), "a1 canceled")  # before: never answered
        assert 3 in venue.cancels(sent)  # before: [1] only, ignored by the venue
        assert 3 not in venue.live and 1 not in venue.live  # before: a1 live at the venue as 3
        assert "may have been taken by the venue behind a replay gap (NextUserRefNum 4)" in caplog.text
        assert "check with the venue desk whose order UserRefNum 3 is" in caplog.text
    finally:
        await back.stop()
        await venue.stop()


async def test_replace_in_doubt_whose_number_the_standby_took_behind_a_replay_gap_stays_in_doubt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The other reading of the same gap: the standby entered under 3. The gateway cannot tell it from the test above:
    the doubt stays (a Cancel names 1 and 3), the ERROR names both readings and the desk check, and no ClOrdID of
    the gap is entered again (new order ids a margin above)."""
    venue = ReplaceVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_with_a_replace_lost(venue, root, doubt=True)
    _standby_enters_under_3(venue)
    venue.replay_from = len(venue.history) + 1  # A's login asks for the standby's messages: a REPLAY GAP
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        back = await _back(venue, root)
    try:
        inbox = Inbox(back)
        errors = [r.getMessage() for r in caplog.records if "behind a replay gap" in r.getMessage()]
        assert len(errors) == 1 and "or by another host's Enter (a failback" in errors[0]
        assert "a Cancel of the order names UserRefNums 1/3" in errors[0]
        assert "stay in doubt: the replay had a gap" not in caplog.text  # one line for it, the ERROR
        urn, cl_ord_id = await back.enter(venue, "a3")
        assert urn > 3 and venue.ignored == []
        assert int(cl_ord_id) > UNSEEN_ORDER_ID_MARGIN  # not '3', the standby's ClOrdID (in the gap)
        sent = len(venue.inbound)
        back.send(Cancel("a1"))
        await wait_until(lambda: sorted(venue.cancels(sent)) == [1, 3], "the Cancel of a1 naming both numbers")
        assert not inbox(Replaced)  # nothing named 3 before the Cancel
    finally:
        await back.stop()
        await venue.stop()


async def test_gap_error_with_the_query_unanswered_names_no_made_up_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A replay gap, another host's higher number replayed, the Account Query unanswered: the ERROR about the doubted
    Replace's number says the query went unanswered (rev59merge4 LOW 3: it printed NextUserRefNum 4294967296)."""
    venue = ReplaceVenue()
    await venue.start()
    root = tmp_path / "a"
    await _primary_with_a_replace_lost(venue, root, doubt=True)
    _standby_enters_under_3(venue)
    venue.replay_from = len(venue.history) + 1  # the gap: the standby's Accepted of 3 and its fill
    venue.take_enter(900_000, "900000", answer=True)  # the standby's later order, above A's block: replayed
    venue.answer_queries = False
    with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
        back = await _back(venue, root)
        try:
            inbox = Inbox(back)
            sent = len(venue.inbound)
            back.send(Cancel("a1"))
            await wait_until(lambda: inbox(Canceled), "a1 canceled")
            cancels = venue.cancels(sent)
        finally:
            await back.stop()
            await venue.stop()
    lines = [r.getMessage() for r in caplog.records if "behind a replay gap" in r.getMessage()]
    assert lines, "the gap ERROR was logged"
    assert not any("NextUserRefNum 4294967296" in line for line in lines)  # the old text: a made-up number
    assert all("the Account Query unanswered" in line for line in lines)
    assert sorted(cancels) == [1, 3]  # the doubt kept (ouchgap59): a Cancel names both numbers
