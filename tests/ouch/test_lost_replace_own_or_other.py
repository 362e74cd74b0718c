"""Whose a Replaced the journal lacks is, across more than one restart (rev60merge12 HIGH 1 and HIGH 2, ouchpf61).

ouchpf60/ouchpf60b apply a replayed ``U`` Order Replaced whose records the journal lost with its tail (an unclean
stop under ``fsync: interval``/``none``) only from a number this host's journal confirmed, and (a53ca7a4) not once
the day shows another host on file. Two cases were left:

* HIGH 1 (two hosts, three faults): host A's Enter of a2 (UserRefNum 2, ClOrdID ``2``) is lost in flight and A is
  killed; the standby B enters its own order under 2 with ClOrdID ``2`` and the same terms; A fails back and the
  replay's Accepted of B's order is journaled as a2's (known58: nothing in OUCH tells the two Enters apart); A is
  killed again, B takes over a second time and only then replaces its order; A starts again after that unclean
  stop. Nothing of B's was on file at A's start, a2's number looked confirmed by A's journal, and B's Replace was
  adopted: its terms and fills booked here, A's Cancel canceling B's order. Now an order whose Enter was unanswered
  in the journal at a start goes on file (the doubts file) before the login that may answer it, and its numbers are
  never taken as this host's own, at any later start.
* HIGH 2 (one host): a power failure cut a2's Enter and Accepted from the journal; the replay's Accepted of a2 raised
  the store's order ids with A's own ClOrdID ``2``, and from then on that day no lost Replace was adopted (taken as
  another host on file): a second power failure's lost Replace left the order working at the venue under its new
  number while every Cancel, the kill switch's too, named the old one. Now the raise goes on file as this host's own
  (an unclean start's ClOrdID above the journal's highest, under one of this host's numbers), and only another
  host's ClOrdIDs stop the adoption.

The strict venue of ``test_lost_replace_after_failback`` on real loopback sockets, real engines and journals.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Canceled, Executed, OrderAccepted, Replace, Replaced
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_lost_replace_after_failback import LossyVenue, _back_after_unclean_stop, _standby_took_a2s_number
from tests.ouch.test_replace_number_taken_by_other_host import Inbox
from tests.ouch.test_standby_unseen_numbers import BLOCK, RESTING, Host
from venues.ouch.doubts import doubts_path


async def test_standby_replaces_the_mapped_order_only_at_a_second_takeover_then_not_adopted_here(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = LossyVenue()
    await venue.start()
    primary = Host(venue, tmp_path / "a")
    try:
        await primary.start()
        assert await primary.enter(venue, "a1") == (1, "1")
        inbox = Inbox(primary)
        await wait_until(lambda: inbox(OrderAccepted), "a1 accepted")
        venue.lose_enters = True
        assert await primary.enter(venue, "a2") == (2, "2")  # lost in flight
    finally:
        await primary.stop()  # (kill -9: the journal holds a2 sent, unanswered)
    venue.drop()
    venue.lose_enters = False

    standby = Host(venue, tmp_path / "b")
    try:
        await standby.start()
        assert await standby.enter(venue, "b1") == (2, "2")  # a2's number, ClOrdID and terms
        theirs = Inbox(standby)
        await wait_until(lambda: theirs(OrderAccepted), "b1 accepted")
    finally:
        await standby.stop()
    venue.drop()

    back = await _back_after_unclean_stop(venue, tmp_path / "a")  # the failback: b1's Accepted journaled as a2's
    try:
        inbox = Inbox(back)
        await wait_until(lambda: back.rig.order("S1", "a2").venue_ref == "2", "a2 mapped to b1's Accepted")
        a3, _ = await back.enter(venue, "a3")  # A trades on: its store's numbers run above the standby's
        await wait_until(lambda: any(m.cl_ord_id == "a3" for m in inbox(OrderAccepted)), "a3 accepted")
    finally:
        await back.stop()  # not stopped cleanly again
    venue.drop()

    standby = Host(venue, tmp_path / "b")  # the second takeover: B replaces its order only now
    try:
        await standby.start()
        theirs = Inbox(standby)
        standby.send(Replace("b1", 50, RESTING - 50))
        await wait_until(lambda: theirs(Replaced), "b1 replaced")
        (urn,) = [u for u, cl_ord_id in venue.live.items() if cl_ord_id == "2"]
        assert 2 < urn < a3 + BLOCK  # within A's reservation: not a number above this host's
        venue.execute(urn, 4)
        await wait_until(lambda: theirs(Executed), "b1's fill")
    finally:
        await standby.stop()
    venue.drop()

    again = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(again)
        a2 = again.rig.order("S1", "a2")
        counters = again.venue.counters
        await wait_until(  # (before: adopted, the fill applied to a2)
            lambda: counters["unknown_user_ref_num"] >= 2 or a2.cum_qty == 4, "B's Replaced and fill read"
        )
        assert (a2.qty, a2.price, a2.cum_qty, a2.venue_ref) == (100, RESTING, 0, "2")  # before: 50, 4 filled, urn
        assert not inbox(Replaced, Executed)  # before: B's Replaced and its fill of 4
        assert counters.get("replaced_journal_lost", 0) == 0  # before: 1
        assert "journal may have lost" not in caplog.text
        sent = len(venue.inbound)
        again.send(Cancel("a2"))
        await wait_until(lambda: venue.cancels(sent), "a2's Cancel at the venue")
        assert venue.cancels(sent) == [2]  # before: [urn], B's order
        assert venue.live.get(urn) == "2"  # B's order untouched
        doubts = json.loads(doubts_path(tmp_path / "a" / "ouch", again.venue.name).read_text())
        assert doubts["replayed"] == [2]  # on file since the failback: a2's Enter was unanswered at that start
    finally:
        await again.stop()
        await venue.stop()


async def test_single_host_whose_own_lost_enter_raised_the_ids_still_adopts_a_later_lost_replace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
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
        assert await host.enter(venue, "a2") == (2, "2")
        await wait_until(lambda: len(inbox(OrderAccepted)) == 2, "a2 accepted")
        host.send(Replace("a1", 200, RESTING - 100))
        await wait_until(lambda: inbox(Replaced), "a1 replaced 1 -> 3")
    finally:
        await host.stop()
    venue.drop()
    host.path.write_bytes(durable)  # the power failure: a2 and a1's Replace gone from the journal

    back = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(back)
        await wait_until(lambda: inbox(Replaced), "the Replaced the journal lost, applied")
        assert back.rig.order("S1", "a1").venue_ref == "3"
        await wait_until(lambda: back.store.order_ids == 2, "the ids raised above a2's ClOrdID")
        back.engine.journal.flush()
        durable = back.path.read_bytes()  # the second power failure
        back.send(Replace("a1", 150, RESTING - 200))
        await wait_until(lambda: len(inbox(Replaced)) == 2, "a1 replaced again")
        (urn,) = [u for u, cl_ord_id in venue.live.items() if cl_ord_id == "1"]
    finally:
        await back.stop()
    venue.drop()
    back.path.write_bytes(durable)

    again = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        inbox = Inbox(again)
        await wait_until(lambda: inbox(Replaced), "the second lost Replaced, applied")  # before: counted unknown
        a1 = again.rig.order("S1", "a1")
        assert (a1.qty, a1.price, a1.venue_ref) == (150, RESTING - 200, str(urn))
        assert again.venue.counters["replaced_journal_lost"] == 1
        sent = len(venue.inbound)
        again.send(Cancel("a1"))
        await wait_until(lambda: inbox(Canceled), "a1 canceled")
        assert venue.cancels(sent) == [urn]  # before: [3], ignored by the venue: a1 working under a standing kill
        assert urn not in venue.live
        stored = json.loads(again.store.path.read_text())
        assert (stored["order_ids"], stored.get("own_ids")) == (2, True)  # this host's own lost Enter's, on file
    finally:
        await again.stop()
        await venue.stop()


async def test_failback_raises_the_ids_as_another_hosts(tmp_path: Path) -> None:
    """The two-host case of HIGH 2's cover: the standby's ClOrdID in A's failback replay is another host's (not
    above A's journal's highest), on file so: no later lost Replace is adopted that day (rev60merge11 kept)."""
    venue = LossyVenue()
    await venue.start()
    await _standby_took_a2s_number(venue, tmp_path)
    back = await _back_after_unclean_stop(venue, tmp_path / "a")
    try:
        await wait_until(lambda: back.store.order_ids == 2, "the ids raised above the standby's ClOrdID")
        assert "own_ids" not in json.loads(back.store.path.read_text())  # another host's
    finally:
        await back.stop()
        await venue.stop()


@pytest.mark.parametrize("clean", [True, False])
async def test_an_enter_unanswered_at_a_stop_is_marked_only_when_the_stop_was_not_clean(
    tmp_path: Path, clean: bool
) -> None:
    """rev61merge3 HIGH 2: the first form marked an Enter unanswered at a *clean* stop too (a venue stall at
    ``gateway stop``); a single host's later power failure then had that order's lost Replace refused, the kill's
    Cancel naming the old number while the order worked at the venue. A clean stop is no failover: no mark."""
    venue = LossyVenue()
    await venue.start()
    host = Host(venue, tmp_path / "a")
    try:
        await host.start()
        assert await host.enter(venue, "a1") == (1, "1")
        inbox = Inbox(host)
        await wait_until(lambda: inbox(OrderAccepted), "a1 accepted")
        venue.lose_enters = True
        assert await host.enter(venue, "a2") == (2, "2")  # unanswered when the gateway stops
    finally:
        await host.stop()
    venue.drop()
    venue.lose_enters = False
    again = Host(venue, tmp_path / "a")
    try:
        again.venue.journal_opened(str(again.path), clean, False, False)  # before the first login, as at a start
        path = doubts_path(tmp_path / "a" / "ouch", again.venue.name)
        marked = json.loads(path.read_text()).get("replayed", []) if path.exists() else []
        assert marked == ([] if clean else [2])  # before: [2] after the clean stop too
    finally:
        await again.stop()
        await venue.stop()
