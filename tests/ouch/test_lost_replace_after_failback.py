"""A Replaced the journal lacks is this host's lost Replace only from a number its own journal confirmed (rev60merge9).

ouchpf60 applies a replayed ``U`` Order Replaced whose records the journal lost with its tail (an unclean stop under
``fsync: interval``/``none``). rev60merge9 HIGH 1: host A's Enter of order 2 (UserRefNum 2, ClOrdID ``2``) is lost
in flight and A is killed (nothing lost from its journal, but not stopped cleanly). The standby B takes over: the
venue's NextUserRefNum is 2 and B numbers its order ids right above the ClOrdIDs it saw, so its first order is
entered under UserRefNum 2 with ClOrdID ``2`` and the same terms; B replaces it 2 -> 3 and it trades. A fails back:
the replay's Accepted of B's Enter maps 2 to A's order (the known "lost Enter's number reused" case), and B's
Replaced (OrigUserRefNum 2, ClOrdID ``2``) looked like A's lost Replace. Before: A's strategy got a ``Replaced`` it
never asked for and B's fills (booked twice across the hosts), and A's Cancel canceled B's order at the venue. Now
number 2 is not one A's journal confirmed for the order (the Enter was never acknowledged there): the Replaced is
counted unknown, A's order keeps its number, its Cancel names 2. A single host whose journal lost a Replace and its
answer still has it applied from the venue's replay (the control).

The strict venue of ``test_replace_number_taken_by_other_host`` on real loopback sockets, real engines and journals:
two gateway hosts, one after the other, each with its own journal and state directory.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, Executed, OrderAccepted, Replace, Replaced
from model.venue_events import VenueState
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_replace_number_taken_by_other_host import Inbox, ReplaceVenue
from tests.ouch.test_standby_unseen_numbers import RESTING, Host


class LossyVenue(ReplaceVenue):
    """The strict venue, also losing Enters in flight (``lose_enters``: never received, their number not used up)."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_enters = False

    def _on_message(self, message: bytes) -> None:
        if message[:1] == b"O" and self.lose_enters:
            self.inbound.append(message)
            return
        super()._on_message(message)


async def _back_after_unclean_stop(venue: LossyVenue, root: Path) -> Host:
    """The host at ``root`` started again after a stop that was not clean under ``fsync: interval`` (as ``gateway
    run`` tells the adapter: ``journal_opened``), its strategy connected before the login (it sees the replay)."""
    host = Host(venue, root)
    host.venue.journal_opened(str(host.path), False, False, False)
    host.link = host.rig.connect("S1")
    host.connector.start()
    await wait_until(lambda: host.venue.state is VenueState.UP, "the venue to be up")
    return host


async def _standby_took_a2s_number(venue: LossyVenue, tmp_path: Path) -> None:
    """A's a2 lost in flight, A killed; the standby B enters under a2's number (its ClOrdID and terms), replaces
    it 2 -> 3 and trades 4; B stopped, the venue's connections dropped."""
    primary = Host(venue, tmp_path / "a")
    try:
        await primary.start()
        assert await primary.enter(venue, "a1") == (1, "1")
        inbox = Inbox(primary)
        await wait_until(lambda: inbox(OrderAccepted), "a1 accepted")
        venue.lose_enters = True
        assert await primary.enter(venue, "a2") == (2, "2")  # lost in flight
    finally:
        await primary.stop()  # (kill -9: the journal holds a2 sent, unanswered; not stopped cleanly)
    venue.drop()
    venue.lose_enters = False
    assert venue.next_user_ref_num == 2

    standby = Host(venue, tmp_path / "b")  # no record of the day: numbers from the venue's NextUserRefNum
    try:
        await standby.start()
        assert await standby.enter(venue, "b1") == (2, "2")  # a2's number, ClOrdID and terms
        theirs = Inbox(standby)
        await wait_until(lambda: theirs(OrderAccepted), "b1 accepted")
        standby.send(Replace("b1", 50, RESTING - 50))
        await wait_until(lambda: theirs(Replaced), "b1 replaced 2 -> 3")
        assert venue.live == {1: "1", 3: "2"}
        venue.execute(3, 4)
        await wait_until(lambda: theirs(Executed), "b1's fill")
    finally:
        await standby.stop()
    venue.drop()


async def test_failback_after_own_enter_lost_when_standby_replaced_its_order_under_that_number_then_not_applied_here(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = LossyVenue()
    await venue.start()
    await _standby_took_a2s_number(venue, tmp_path)

    back = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(back)
        a2 = back.rig.order("S1", "a2")
        assert (a2.qty, a2.price, a2.cum_qty, a2.venue_ref) == (100, RESTING, 0, "2")  # before: 50, 4 filled, "3"
        assert not inbox(Replaced, Executed)  # before: the standby's Replaced and its fill of 4
        counters = back.venue.counters
        assert counters.get("replaced_journal_lost", 0) == 0  # before: 1
        assert counters["unknown_user_ref_num"] >= 2  # the standby's Replaced and Executed (3)
        assert "journal may have lost" not in caplog.text
        sent = len(venue.inbound)
        back.send(Cancel("a2"))
        await wait_until(lambda: venue.cancels(sent), "a2's Cancel at the venue")
        assert venue.cancels(sent) == [2]  # before: [3], the standby's order
        assert venue.live.get(3) == "2"  # the standby's order untouched (before: canceled by A)
    finally:
        await back.stop()
        await venue.stop()


async def test_single_host_replace_and_its_answer_cut_from_the_journal_then_applied_from_the_replay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The control (rev60chaos HIGH 1): no other host; the journal's tail lost a Replace of a1 and its Replaced."""
    venue = LossyVenue()
    await venue.start()
    host = Host(venue, tmp_path / "a")
    try:
        await host.start()
        assert await host.enter(venue, "a1") == (1, "1")
        inbox = Inbox(host)
        await wait_until(lambda: inbox(OrderAccepted), "a1 accepted")
        host.engine.journal.flush()
        durable = host.path.read_bytes()  # what a power failure leaves
        host.send(Replace("a1", 200, RESTING - 100))
        await wait_until(lambda: inbox(Replaced), "a1 replaced 1 -> 2")
    finally:
        await host.stop()
    venue.drop()
    host.path.write_bytes(durable)  # the power failure: the Replace and its Replaced gone from the journal

    back = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(back)
        await wait_until(lambda: inbox(Replaced), "the Replaced the journal lost, applied")
        a1 = back.rig.order("S1", "a1")
        assert (a1.qty, a1.price, a1.venue_ref) == (200, RESTING - 100, "2")
        assert back.venue.counters["replaced_journal_lost"] == 1
        assert "journal may have lost with its tail (an unclean stop under fsync interval/none)" in caplog.text
        sent = len(venue.inbound)
        back.send(Cancel("a1"))
        await wait_until(lambda: inbox(Canceled), "a1 canceled")
        assert venue.cancels(sent) == [2]
        assert not venue.live
        assert struct.unpack(">I", venue.inbound[-1][1:5])[0] == 2
    finally:
        await back.stop()
        await venue.stop()


async def test_failback_then_a_second_unclean_restart_then_the_standbys_replace_still_not_applied_here(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rev60merge11 HIGH: the failback journaled the standby's Accepted as a2's (known: a lost Enter's number reused),
    so at a second unclean start a2's number looked confirmed by this host's journal and the standby's Replace was
    adopted: its terms and fills booked here, this host's kill Cancel canceling its order. Another host's traffic on
    file (its ClOrdIDs, its earlier messages, numbers retired as its) now stops every adoption."""
    venue = LossyVenue()
    await venue.start()
    await _standby_took_a2s_number(venue, tmp_path)
    back = await _back_after_unclean_stop(venue, tmp_path / "a")
    await back.stop()  # not stopped cleanly again
    venue.drop()
    again = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(again)
        a2 = again.rig.order("S1", "a2")
        assert (a2.qty, a2.price, a2.cum_qty, a2.venue_ref) == (100, RESTING, 0, "2")  # ouchpf60b: 50, 4 filled, "3"
        assert not inbox(Replaced, Executed)
        assert again.venue.counters.get("replaced_journal_lost", 0) == 0  # ouchpf60b: 1
        sent = len(venue.inbound)
        again.send(Cancel("a2"))
        await wait_until(lambda: venue.cancels(sent), "a2's Cancel at the venue")
        assert venue.cancels(sent) == [2] and venue.live.get(3) == "2"  # the standby's order untouched
    finally:
        await again.stop()
        await venue.stop()
