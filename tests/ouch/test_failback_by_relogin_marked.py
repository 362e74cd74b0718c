"""A failback by re-login puts the orders whose Enter it left unanswered on file too (rev61merge3 HIGH 1, ouch62).

ouchpf61 names in the doubts file (``replayed``) an order whose Enter was unanswered at an unclean start: the login's
replay may answer it with the standby's Accepted under the same number, ClOrdID and terms, and that order's numbers
are then never taken as confirmed by this host's journal (no later Replaced from them adopted as a Replace the
journal lost). rev61merge3 HIGH 1: a failback by a re-login, without a restart, marked nothing. Host A's Enter of a2
(UserRefNum 2, ClOrdID ``2``) is lost in flight; the venue refuses A's connections while A runs (A keeps
reconnecting); the standby B logs in and enters b1 under 2 with ClOrdID ``2`` and the same terms, and stops; A's
connection comes back and the replay's Accepted of b1 is journaled as a2's (known58); A is killed, starts once (entering
a3: its store reserves the next block) and is killed again; B takes over again and replaces b1 (a number within A's
reservation); A starts after that unclean stop. Before: B's Replace was adopted as a2's lost one, B's fill booked
on A, A's Cancel naming B's order. Now a2 goes on file at A's re-login, before its replay is read.

The orders restored at a start keep ``journal_opened``'s rule (none after a clean stop, rev61merge3 HIGH 2), also at a
later re-login. A strict venue on real loopback sockets (a second door for the standby), real engines and journals.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.protocol.messages import Cancel, Executed, OrderAccepted, Replace, Replaced
from model.venue_events import VenueState
from tests.ouch.test_late_fill_released import wait_until
from tests.ouch.test_lost_replace_after_failback import LossyVenue, _back_after_unclean_stop
from tests.ouch.test_replace_number_taken_by_other_host import Inbox
from tests.ouch.test_standby_unseen_numbers import RESTING, Host
from venues.ouch.doubts import doubts_path


class TwoDoorVenue(LossyVenue):
    """The lossy strict venue with a second listening port for the standby host; ``shut``: the first port (the
    primary's) closes every connection at once, as a venue refusing that host while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.shut = False
        self.refused = 0
        self.standby_port = 0
        self.standby_server: asyncio.Server | None = None

    async def start(self) -> TwoDoorVenue:
        await super().start()
        self.standby_server = await asyncio.start_server(self._standby_door, "127.0.0.1", 0)
        self.standby_port = self.standby_server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.shut:
            self.refused += 1
            writer.close()
            return
        await super()._handle(reader, writer)

    async def _standby_door(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await super()._handle(reader, writer)

    async def stop(self) -> None:
        await super().stop()
        if self.standby_server is not None:
            self.standby_server.close()


def _standby(venue: TwoDoorVenue, root: Path) -> Host:
    """A host connecting through the standby's door."""
    port, venue.port = venue.port, venue.standby_port
    try:
        return Host(venue, root)
    finally:
        venue.port = port


def _marked(root: Path, host: Host) -> list[int]:
    path = doubts_path(root / "ouch", host.venue.name)
    if not path.exists():
        return []
    marked = json.loads(path.read_text()).get("replayed", [])
    assert isinstance(marked, list)
    return marked


async def test_failback_by_relogin_then_the_standbys_replace_at_a_second_takeover_not_adopted_here(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    venue = TwoDoorVenue()
    await venue.start()
    primary = Host(venue, tmp_path / "a")
    try:
        await primary.start()
        assert await primary.enter(venue, "a1") == (1, "1")
        inbox = Inbox(primary)
        await wait_until(lambda: inbox(OrderAccepted), "a1 accepted")
        venue.lose_enters = True
        assert await primary.enter(venue, "a2") == (2, "2")  # lost in flight
        venue.shut = True  # A's connection cut, its process alive: every reconnect refused
        venue.drop()
        venue.lose_enters = False
        await wait_until(lambda: venue.refused >= 2, "A's reconnects refused")
        assert primary.venue.state is not VenueState.UP

        standby = _standby(venue, tmp_path / "b")
        try:
            await standby.start()
            assert await standby.enter(venue, "b1") == (2, "2")  # a2's number, ClOrdID and terms
            theirs = Inbox(standby)
            await wait_until(lambda: theirs(OrderAccepted), "b1 accepted")
        finally:
            await standby.stop()  # (kill -9)
        venue.drop()

        logins = primary.venue.status()["logins"]
        venue.shut = False  # A's connection comes back: the failback by re-login
        await wait_until(
            lambda: primary.venue.status()["logins"] != logins and primary.venue.state is VenueState.UP, "A UP again"
        )
        assert primary.rig.order("S1", "a2").venue_ref == "2"  # b1's Accepted journaled as a2's (known58)
    finally:
        await primary.stop()  # (kill -9: not stopped cleanly)
    venue.drop()
    middle = await _back_after_unclean_stop(venue, tmp_path / "a")  # nothing unanswered at this start: no mark
    try:
        inbox = Inbox(middle)
        await middle.enter(venue, "a3")  # A trades on: its store reserves the next block
        await wait_until(lambda: any(m.cl_ord_id == "a3" for m in inbox(OrderAccepted)), "a3 accepted")
    finally:
        await middle.stop()  # (kill -9 again)
    venue.drop()

    standby = _standby(venue, tmp_path / "b")  # the second takeover: B replaces its order only now
    try:
        await standby.start()
        theirs = Inbox(standby)
        standby.send(Replace("b1", 50, RESTING - 50))
        await wait_until(lambda: theirs(Replaced), "b1 replaced")
        (urn,) = [u for u, cl_ord_id in venue.live.items() if cl_ord_id == "2"]
        assert 2 < urn <= json.loads(middle.store.path.read_text())["reserved"]  # within A's reservation
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
        await wait_until(lambda: counters["unknown_user_ref_num"] >= 2 or a2.cum_qty == 4, "B's Replaced and fill read")
        assert counters.get("replaced_journal_lost", 0) == 0  # before: 1
        assert (a2.qty, a2.price, a2.cum_qty, a2.venue_ref) == (100, RESTING, 0, "2")  # before: 50, 4 filled, urn
        assert not inbox(Replaced, Executed)  # before: B's Replaced and its fill of 4
        assert "journal may have lost" not in caplog.text
        sent = len(venue.inbound)
        again.send(Cancel("a2"))
        await wait_until(lambda: venue.cancels(sent), "a2's Cancel at the venue")
        assert venue.cancels(sent) == [2]  # before: [urn], B's order
        assert venue.live.get(urn) == "2"  # B's order untouched
        assert _marked(tmp_path / "a", again) == [2]  # on file since A's re-login
    finally:
        await again.stop()
        await venue.stop()


async def test_an_enter_unanswered_at_a_clean_stop_is_not_marked_at_a_later_relogin_either(tmp_path: Path) -> None:
    """lead61's rule (rev61merge3 HIGH 2) holds past the first login: an order restored at a clean start whose Enter
    is still unanswered when the connection drops mid-login is not marked at the re-login (only orders this process
    entered are)."""
    venue = TwoDoorVenue()
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
    venue.answer_queries = False  # the first login's Account Query unanswered: a2 still waits at the re-login

    def queries() -> int:
        return sum(m[:1] == b"Q" for m in venue.inbound)

    asked = queries()
    again = Host(venue, tmp_path / "a")
    try:
        again.venue.journal_opened(str(again.path), True, False, False)  # a clean stop, as at a start
        again.connector.start()
        await wait_until(lambda: queries() > asked, "the first login's Account Query")
        logins = again.venue.status()["logins"]
        venue.drop()
        await wait_until(lambda: queries() > asked + 1, "the re-login's Account Query")
        assert again.venue.status()["logins"] != logins
        assert _marked(tmp_path / "a", again) == []
    finally:
        await again.stop()
        await venue.stop()
