"""UserRefNums and ClOrdIDs another host (or this one, its record lost) used are not used again (ouchstandby57).

OUCH 5.0 2.2: an account's UserRefNums are strictly increasing throughout the trading day, across SoupBinTCP
sessions; the venue ignores a lower one and gaps are allowed. The ClOrdID is the order's CAT identifier: the venue
does not check it, the gateway must not enter one of the day's twice. A strict venue on real loopback sockets replays
the session's earlier traffic at each login (from the sequence asked), ignores an Enter not above its NextUserRefNum,
and may leave the Account Query unanswered:

* F2: a standby host with no record of the day, the other host's last Enter (UserRefNum 5) taken by the venue and
  unanswered, the Account Query unanswered. Before, the standby floored on the highest number the replay named (4):
  its Enter went out as 5 (ignored), and the Cancel of that Enter in doubt canceled the other host's live order,
  reported to the standby's strategy as its own. Now new numbers start a tenth of a block above, and the order
  ids a margin above the highest ClOrdID named.
* The failback after that margin (ouchmargin57, rev57merge3 finding 1): the margin was a whole block, exactly where
  the primary's next reserved block starts. The primary back the same day sent its Enters below the standby's (the
  venue ignored them; its strategy had them accepted, then in doubt) and read each of the standby's messages as a
  number never issued, out of frame: 3 reconnects per message.
* F3: a session change the same day with the Account Query unanswered restarted the numbers at 1 (ignored by the
  venue); now they continue above the day's.
* F4: ClOrdIDs of the day entered again: the other host's unanswered Enter's (the venue's NextUserRefNum shows it);
  a primary back after the standby traded (the standby's ClOrdIDs in its replay); a journal lost with the UserRefNum
  store kept (this host's own ClOrdIDs in the replay).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import pytest

from gateway.journal import FileJournal, read_journal
from gateway.protocol.messages import Cancel, NewOrder, OrderAccepted
from gateway.recovery import recover
from model.clock import monotonic_ns
from model.enums import Side
from model.fsync import FsyncPolicy
from model.venue_events import VenueState
from tests.harness import LimitRisk, MemoryLink, Rig
from tests.ouch.harness import DAY, PX, TS, venue_config
from tests.ouch.test_late_fill_released import wait_until
from venues.connector import VenueConnector
from venues.ouch.adapter import UNSEEN_ORDER_ID_MARGIN, OuchVenue, unanswered_ref_margin
from venues.ouch.codec import encode_message
from venues.ouch.messages import AccountQueryResponse, OrderCanceled
from venues.ouch.messages import OrderAccepted as OuchAccepted
from venues.ouch.refstore import UserRefNumStore
from venues.ouch.soupbin import SERVER_HEARTBEAT_PACKET, encode_login_accepted, encode_sequenced

BLOCK = 100
RESTING = PX - 100
STANDBY = 50
"""Orders the standby host entered before the primary came back (failback)."""


class StrictVenue:
    """A SoupBinTCP/OUCH venue: the session's messages replayed from the sequence a login asks, strict UserRefNums."""

    def __init__(self) -> None:
        self.session = "SESS01"
        self.history: list[bytes] = []
        """The session's sequenced messages (sequence n is ``history[n - 1]``)."""
        self.inbound: list[bytes] = []
        self.next_user_ref_num = 1
        self.live: dict[int, str] = {}
        """UserRefNum -> ClOrdID of the orders live at the venue."""
        self.entered: list[str] = []
        """The ClOrdID of every Enter the venue took, in order (whoever sent it)."""
        self.ignored: list[int] = []
        """UserRefNums of the Enters ignored (not above every number of the day)."""
        self.answer_queries = True
        self.answer_enters = True
        self.writer: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> StrictVenue:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def publish(self, message: bytes) -> None:
        """Append one message to the session (sent at once to a connected gateway)."""
        self.history.append(message)
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(encode_sequenced(message))

    def take_enter(self, urn: int, cl_ord_id: str, *, answer: bool) -> None:
        """An Enter (of whoever) the venue takes: live, answered Accepted or not."""
        assert urn >= self.next_user_ref_num
        self.next_user_ref_num = urn + 1
        self.live[urn] = cl_ord_id
        self.entered.append(cl_ord_id)
        if answer:
            self.publish(
                encode_message(
                    OuchAccepted(
                        TS, urn, "B", 100, "AAPL", RESTING, "0", "Y", 7000 + urn, "A", "N", "N", "L", cl_ord_id
                    )
                )
            )

    def new_session(self, session: str) -> None:
        """The same trading day goes on in another SoupBinTCP session (its numbers stay the account's)."""
        self.session = session
        self.history = []

    def _on_message(self, message: bytes) -> None:
        self.inbound.append(message)
        kind = message[:1]
        if kind == b"Q" and self.answer_queries:
            self.publish(encode_message(AccountQueryResponse(TS, self.next_user_ref_num)))
        elif kind == b"O":
            urn = struct.unpack(">I", message[1:5])[0]
            if urn < self.next_user_ref_num:
                self.ignored.append(urn)
                return
            self.take_enter(urn, message[31:45].decode().strip(), answer=self.answer_enters)
        elif kind == b"X":
            urn = struct.unpack(">I", message[1:5])[0]
            if self.live.pop(urn, None) is not None:
                self.publish(encode_message(OrderCanceled(TS, urn, 100, "U")))

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
                    first = min(asked, len(self.history) + 1)
                    writer.write(encode_login_accepted(self.session, first))
                    for message in self.history[first - 1 :]:
                        writer.write(encode_sequenced(message))
                    self.writer = writer
                elif packet[:1] == b"U":
                    self._on_message(packet[1:])
                elif packet[:1] == b"O":  # Logout Request
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            beat.cancel()
            writer.close()

    async def _beat(self, writer: asyncio.StreamWriter) -> None:
        while not writer.is_closing():
            writer.write(SERVER_HEARTBEAT_PACKET)
            await asyncio.sleep(0.05)

    def drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def stop(self) -> None:
        self.drop()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 5)
        if self.server is not None:
            self.server.close()


class Host:
    """One gateway host: an engine journaling to ``<root>/journal``, its OUCH store in ``<root>/ouch``."""

    def __init__(self, venue: StrictVenue, root: Path, server_timeout_ms: int = 1_100) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "journal"
        config = venue_config(
            root / "ouch",
            port=venue.port,
            reconnect_initial_ms=5,
            reconnect_max_ms=50,
            server_timeout_ms=server_timeout_ms,  # the Account Query unanswered this long: acted on without it
            answer_timeout_ms=300,
        )
        (root / "ouch").mkdir(exist_ok=True)
        self.store = UserRefNumStore(root / "ouch", config.name, today=lambda: DAY, block=BLOCK)
        self.venue = OuchVenue(config, monotonic_ns, store=self.store)
        recovered = recover(read_journal(self.path)) if self.path.exists() else None
        self.rig = Rig(
            journal=FileJournal(self.path, fsync=FsyncPolicy.NONE),
            venues=[self.venue],  # type: ignore[list-item]  # a real OuchVenue where the harness scripts one
            risk=LimitRisk(max_qty=2_000_000),
        )
        self.engine = self.rig.engine
        if recovered is not None:
            self.engine.adopt(recovered)
            point = recovered.resume.get(self.venue.name)
            if point is not None:
                self.venue.resume_after(point)
        self.engine.next_order_id = max(self.engine.next_order_id, self.venue.order_id_floor() + 1)
        self.connector = VenueConnector(self.venue, "127.0.0.1", venue.port, after_input=self.engine.flush)
        self.link: MemoryLink | None = None

    async def start(self) -> Host:
        self.connector.start()
        await wait_until(lambda: self.venue.state is VenueState.UP, "the venue to be up")
        self.link = self.rig.connect("S1")
        return self

    async def stop(self) -> None:
        await self.connector.stop()
        self.engine.journal.close()

    def send(self, *messages: object) -> None:
        assert self.link is not None
        self.rig.send(self.link, *messages)
        self.engine.flush()

    async def enter(self, venue: StrictVenue, cl_ord_id: str) -> tuple[int, str]:
        """Send one new order; return the UserRefNum and ClOrdID of the Enter the venue received."""
        sent = len(venue.inbound)
        self.send(NewOrder(cl_ord_id, "ACC1", "nasdaq", "AAPL", Side.BUY, 100, RESTING))
        await wait_until(lambda: any(m[:1] == b"O" for m in venue.inbound[sent:]), "the Enter at the venue")
        enter = next(m for m in venue.inbound[sent:] if m[:1] == b"O")
        return struct.unpack(">I", enter[1:5])[0], enter[31:45].decode().strip()

    def accepted(self) -> list[str]:
        assert self.link is not None
        return [m.cl_ord_id for m in self.link.received() if isinstance(m, OrderAccepted)]


def _other_hosts_day(venue: StrictVenue) -> None:
    """Host A's day: ClOrdIDs 1..4 under UserRefNums 1..4 answered, its Enter 5 (ClOrdID '5') taken, unanswered."""
    for n in range(1, 5):
        venue.take_enter(n, str(n), answer=True)
    venue.take_enter(5, "5", answer=False)
    assert venue.next_user_ref_num == 6


async def test_standby_with_no_record_when_the_account_query_is_unanswered_then_numbers_and_ids_clear_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """F2 (HIGH) and F4: no Enter under the other host's number, no Cancel of its live order, no ClOrdID again."""
    venue = await StrictVenue().start()
    _other_hosts_day(venue)
    venue.answer_queries = False
    host = Host(venue, tmp_path / "b")
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            await host.start()
            urn, cl_ord_id = await host.enter(venue, "n1")
            await wait_until(lambda: host.accepted() == ["n1"], "the order accepted")
        assert urn > 5  # before: 5, ignored by the venue (then its Cancel in doubt canceled host A's order 5)
        assert urn == 5 + unanswered_ref_margin(BLOCK) == 15  # a tenth of a block above the highest named (5)
        assert venue.ignored == []
        assert cl_ord_id not in {"1", "2", "3", "4", "5"}  # before: "5", host A's unanswered Enter's
        assert int(cl_ord_id) > 4 + UNSEEN_ORDER_ID_MARGIN
        host.send(Cancel("n1"))
        await wait_until(lambda: urn not in venue.live, "the Cancel at the venue")
        assert 5 in venue.live  # host A's order untouched
        assert not any(m[:1] == b"X" and struct.unpack(">I", m[1:5])[0] == 5 for m in venue.inbound)
        assert "new UserRefNums start at 15, a margin of 10 above it" in caplog.text
        assert "the margin covers up to 10 of them (user_ref_num_block / 10)" in caplog.text
        assert f"a margin of {UNSEEN_ORDER_ID_MARGIN} for their ClOrdIDs" in caplog.text
    finally:
        await host.stop()
        await venue.stop()


async def test_standby_with_no_record_when_next_user_ref_num_shows_an_unseen_enter_then_its_clordid_is_not_reused(
    tmp_path: Path,
) -> None:
    """F4: NextUserRefNum 6 above the highest number named (4): host A's unanswered Enter's ClOrdID is unknown."""
    venue = await StrictVenue().start()
    _other_hosts_day(venue)
    host = Host(venue, tmp_path / "b")
    try:
        await host.start()
        urn, cl_ord_id = await host.enter(venue, "n1")
        await wait_until(lambda: host.accepted() == ["n1"], "the order accepted")
        assert urn == 6  # the venue's NextUserRefNum
        assert cl_ord_id != "5"  # before: "5", the ClOrdID of host A's Enter the replay did not show
        assert int(cl_ord_id) > 4 + UNSEEN_ORDER_ID_MARGIN
        assert len(set(venue.entered)) == len(venue.entered)
    finally:
        await host.stop()
        await venue.stop()


async def test_session_change_the_same_day_when_the_account_query_is_unanswered_then_numbers_continue(
    tmp_path: Path,
) -> None:
    """F3: the day's numbers 1..3 in SESS01; in SESS02 (query unanswered) the next Enter goes out as 4, not 1."""
    venue = await StrictVenue().start()
    host = Host(venue, tmp_path / "a")
    try:
        await host.start()
        for n in range(3):
            await host.enter(venue, f"a{n}")
        await wait_until(lambda: len(host.accepted()) == 3, "the orders accepted")
        venue.new_session("SESS02")
        venue.answer_queries = False
        logins = host.venue.status()["logins"]
        venue.drop()
        await wait_until(lambda: host.venue.status()["logins"] == logins + 1, "the login to SESS02")  # type: ignore[operator]
        await wait_until(lambda: host.venue.state is VenueState.UP, "UP in SESS02")
        urn, _cl_ord_id = await host.enter(venue, "b1")
        assert urn == 4  # before: 1, ignored by the venue (the strategy got OUCH_OUTCOME_UNKNOWN)
        await wait_until(lambda: "b1" in host.accepted(), "the order accepted")
        assert venue.ignored == []
    finally:
        await host.stop()
        await venue.stop()


async def test_primary_back_after_the_standby_traded_then_the_standbys_clordids_are_not_entered_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """F4 failback: A (ClOrdIDs 1..3) stops cleanly; B enters ClOrdIDs 4, 5; A back with its journal enters 6 on."""
    venue = await StrictVenue().start()
    host = Host(venue, tmp_path / "a")
    try:
        await host.start()
        for n in range(3):
            await host.enter(venue, f"a{n}")
        await wait_until(lambda: len(host.accepted()) == 3, "the orders accepted")
    finally:
        await host.stop()
    venue.drop()
    for n in range(4, 4 + STANDBY):  # the standby host's orders (it numbered above the venue's 4)
        venue.take_enter(n, str(n), answer=True)
    again = Host(venue, tmp_path / "a")
    try:
        with caplog.at_level(logging.WARNING, logger="venues.ouch.adapter"):
            await again.start()
            urn, cl_ord_id = await again.enter(venue, "a9")
            await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
            highest = 3 + STANDBY
            assert urn > highest
            assert cl_ord_id == str(highest + 1)  # before: "4", the standby's ClOrdID entered again
            await wait_until(lambda: again.store.order_ids == highest, "the floor on file")  # a restart starts above
        assert len(set(venue.entered)) == len(venue.entered)
        raised = [r for r in caplog.records if "ClOrdIDs of this gateway's form up to" in r.getMessage()]
        assert len(raised) == 1, caplog.text  # once for the whole replay, not once per message (nor a write each)
    finally:
        await again.stop()
        await venue.stop()


async def test_journal_lost_with_the_store_kept_then_the_replays_clordids_and_an_unseen_one_are_not_reused(
    tmp_path: Path,
) -> None:
    """F4 lost journal: the replay's ClOrdIDs 1..3 (this host's own, its journal gone), its Enter 4 unanswered."""
    venue = await StrictVenue().start()
    host = Host(venue, tmp_path / "a")
    try:
        await host.start()
        for n in range(3):
            await host.enter(venue, f"a{n}")
        await wait_until(lambda: len(host.accepted()) == 3, "the orders accepted")
        venue.answer_enters = False
        await host.enter(venue, "a3")  # taken by the venue, never answered
    finally:
        await host.stop()
    venue.drop()
    venue.answer_enters = True
    (tmp_path / "a" / "journal").unlink()  # the journal lost, the OUCH state_dir kept
    again = Host(venue, tmp_path / "a")
    try:
        await again.start()
        urn, cl_ord_id = await again.enter(venue, "b1")
        await wait_until(lambda: "b1" in again.accepted(), "the order accepted")
        assert urn > 4
        assert cl_ord_id not in {"1", "2", "3", "4"}  # before: "1", this host's first ClOrdID of the day again
        assert int(cl_ord_id) > 3 + UNSEEN_ORDER_ID_MARGIN  # NextUserRefNum 5 shows the unanswered Enter 4
        assert len(set(venue.entered)) == len(venue.entered)
    finally:
        await again.stop()
        await venue.stop()


async def test_primary_back_after_a_standby_took_the_margin_then_its_enters_are_taken_and_it_stays_logged_in(
    tmp_path: Path,
) -> None:
    """rev57merge3 finding 1 (HIGH): A enters 1..3 and stops; standby B (no record, the Account Query unanswered)
    takes the margin and enters 2 orders; A back with its own journal and store enters above them, stays logged in."""
    venue = await StrictVenue().start()
    primary = Host(venue, tmp_path / "a")
    try:
        await primary.start()
        for n in range(3):
            await primary.enter(venue, f"a{n}")
        await wait_until(lambda: len(primary.accepted()) == 3, "the primary's orders accepted")
    finally:
        await primary.stop()
    venue.drop()
    venue.answer_queries = False
    standby = Host(venue, tmp_path / "b")
    try:
        await standby.start()
        standby_urns = [(await standby.enter(venue, f"b{n}"))[0] for n in range(2)]
        await wait_until(lambda: len(standby.accepted()) == 2, "the standby's orders accepted")
    finally:
        await standby.stop()
    venue.drop()
    again = Host(venue, tmp_path / "a")
    try:
        await again.start()
        urn, _cl_ord_id = await again.enter(venue, "a9")
        assert urn == BLOCK + 1  # its own next reserved block, as before
        assert urn > max(standby_urns)  # before: 101, not above the standby's 105
        assert venue.ignored == []  # before: [101], the Enter ignored by the venue
        await wait_until(lambda: "a9" in again.accepted(), "the order accepted")
        assert venue.live.get(urn) is not None  # the venue has the order the strategy was told is accepted
        status = again.venue.status
        await wait_until(lambda: status()["unknown_user_ref_num"] == 2, "the standby's messages read, unknown")
        # the standby's numbers are below this host's last issued (its reserved block's end): another host's, not a
        # stream out of frame (before: 3 refetches, reconnecting, per message: 7 logins here)
        assert status()["ref_never_issued"] == 0
        assert status()["logins"] == 1
        assert again.venue.state is VenueState.UP
    finally:
        await again.stop()
        await venue.stop()
    margin = unanswered_ref_margin(BLOCK)
    assert standby_urns == [3 + margin + 1, 3 + margin + 2]  # before: 104, 105 (a whole block above 3)
