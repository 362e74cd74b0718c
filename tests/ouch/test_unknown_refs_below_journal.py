"""UserRefNums below every number the journal holds for the session: answered without reading the journal.

ouchlow57: a standby that took over mid-day numbers its session from above the primary's UserRefNums (its store is
floored on the venue's NextUserRefNum, docs/venues/ouch.md "Neither the store nor the journal knows the day"), so
the session's numbers in its journal start far above 1. A replay from early in the day (a venue that renumbered
and replays from 1, a re-login asking from an early sequence) names the primary's numbers: each is below the
store's high-water mark (not "never issued") and below the journal's highest (not ``ref_above_journal``), so each
was a journal search, and at the replay's end every waiting one was made in one turn: 3,000 of them stalled the
event loop 2.8 s compiled, 3.7 s pure Python, against a 21 MB journal (``/tmp/ouchlow57/repro_below.py``). Numbers
increase with the journal within a session, so one below the session's first is not ours: the engine keeps the
lowest (``Engine.ref_lows``: noted by recovery, and by a search that read from the session's start) and such a
number costs no search (``ref_below_journal``). A fill for a number of ours that ended is still found, once.

Real ``Engine`` journaling to a real file, recovered as ``gateway run`` does; a real ``OuchVenue`` fed sequenced
messages with a fake clock, and against ``OuchSimulator`` over loopback TCP.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.engine import RELEASE_BATCH
from gateway.journal import FileJournal, JournalScan, JSentCancel, JVenueEpoch
from gateway.journal_records import JOrderSent
from gateway.recovery import recover
from gateway.ref_lookup import note_session
from gateway.replay import MARK_MASK
from model.clock import FakeClock
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from simulators.ouch.simulator import OuchSimulator
from tests.harness import LimitRisk, Rig
from tests.ouch.harness import PX, TS, venue_config
from tests.ouch.test_late_fill_released import Gateway as LiveGateway
from tests.ouch.test_late_fill_released import _executed, _late_fill, _push_out, _rest_and_cancel, sim, wait_until
from venues.ouch.adapter import OuchVenue
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderCanceled, OrderExecuted, OutboundMessage
from venues.ouch.refstore import UserRefNumStore

pytestmark = pytest.mark.timeout(120)

__all__ = ["sim"]  # the simulator fixture, shared

DAY = "2024-05-01"
FIRST = 100_001
"""The standby's first UserRefNum: the primary used 1..FIRST-1 (the venue's NextUserRefNum at the takeover)."""
OURS = 3_000
"""The standby's orders to the OUCH venue: order ``FIRST + n`` under UserRefNum ``FIRST + n``."""
PRIMARY = 500
"""Messages of the primary's orders a replay from early in the day names (numbers below FIRST)."""


def _sent(order_id: int, ref: int) -> JOrderSent:
    return JOrderSent(
        order_id, "S1", f"c{order_id}", "ACC1", "nasdaq", "AAPL", Side.BUY, 10, PX, TimeInForce.DAY, OrderType.LIMIT,
        0, str(ref),
    )  # fmt: skip


class Standby:
    """An engine over the journal at ``path`` and an OUCH adapter of session S1 (store in ``state``)."""

    def __init__(self, path: Path, state: Path, recovered: bool) -> None:
        config = venue_config(state)
        self.store = UserRefNumStore(state, config.name, today=lambda: DAY, block=1_000)
        self.store.bind("S1")
        self.clock = FakeClock()
        self.venue = OuchVenue(config, self.clock, store=self.store)
        self.journal = FileJournal(path, fsync=FsyncPolicy.NONE)
        self.rig = Rig(journal=self.journal, venues=[self.venue], risk=LimitRisk())  # type: ignore[list-item]
        self.engine = self.rig.engine
        if recovered:  # as ``gateway run``: every record read once, the replay index and positions rebuilt
            scan = JournalScan()
            self.engine.adopt(recover(self.journal.records(scan), scan))

    def says(self, first_seq: int, messages: list[OutboundMessage]) -> None:
        for seq, message in enumerate(messages, first_seq):
            self.venue.on_sequenced(seq, memoryview(encode_message(message)))


def _day(path: Path, state: Path) -> None:
    """Journal the standby's day so far: its session began, OURS orders from FIRST on (each asked to cancel)."""
    state.mkdir()
    first = Standby(path, state, recovered=False)
    engine, journal, name = first.engine, first.journal, first.venue.name
    note_session(engine.venue_sessions, name, "S1", journal.tell())
    journal.append(JVenueEpoch(name, "S1"))
    for n in range(OURS):
        order_id = FIRST + n
        if not order_id & MARK_MASK:
            engine.order_marks.add(order_id, journal.tell())
        journal.append(_sent(order_id, order_id))
        journal.append(JSentCancel(order_id, str(order_id)))
    journal.flush()
    first.store.ensure_above(FIRST + OURS + 1_000)  # reserved ahead of use, as the store does by blocks
    journal.close()


def _primary_messages() -> list[OutboundMessage]:
    """A Canceled or an Executed of each of PRIMARY of the primary's orders, numbers below FIRST."""
    return [
        OrderCanceled(TS, n * 97, 10, "U") if n % 2 else OrderExecuted(TS, n * 97, 10, PX, "A", 50_000 + n)
        for n in range(1, PRIMARY + 1)
    ]


@pytest.fixture
def restarted(tmp_path: Path) -> Standby:
    _day(tmp_path / "journal", tmp_path / "ouch")
    return Standby(tmp_path / "journal", tmp_path / "ouch", recovered=True)


def test_restart_when_a_replay_names_numbers_below_the_session_s_first_then_none_is_searched(
    restarted: Standby,
) -> None:
    venue, engine = restarted.venue, restarted.engine
    assert restarted.store.last_issued > FIRST  # the primary's numbers are not "never issued" here
    restarted.says(1, _primary_messages())
    venue.on_caught_up()  # the replay's end: every waiting message acted on, whatever the budget

    assert engine.ref_lookup_records == 0  # old: 320,000, 640 a number (the probes, the scan from the session start)
    assert venue.counters["held_for_lookup"] == 0  # none waited for the search budget (old: 490 of the 500)
    assert (engine.ref_lookups, venue.counters["ref_below_journal"]) == (0, PRIMARY)
    assert venue.counters["unknown_user_ref_num"] == PRIMARY  # as before: not ours, counted (and logged) unknown


def test_restart_when_numbers_at_or_above_the_session_s_first_then_still_found(restarted: Standby) -> None:
    engine, name = restarted.engine, restarted.venue.name
    assert engine.ref_lows[name][1] == FIRST  # noted by recovery
    assert engine._order_of_ref(name, FIRST, "S1") == FIRST  # the lowest itself: searched, found
    assert engine._order_of_ref(name, FIRST + 1_500, "S1") == FIRST + 1_500
    before = engine.ref_lookup_records
    assert engine._order_of_ref(name, FIRST - 1, "S1") == 0
    assert engine.ref_lookup_records == before  # below it: nothing read


def test_live_when_a_search_read_from_the_session_s_start_then_lower_numbers_are_not_searched(tmp_path: Path) -> None:
    _day(tmp_path / "journal", tmp_path / "ouch")
    gw = Standby(tmp_path / "journal", tmp_path / "ouch", recovered=False)  # the session began in this life
    engine, venue, name = gw.engine, gw.venue, gw.venue.name
    note_session(engine.venue_sessions, name, "S1", 0)
    gw.store.ensure_above(FIRST + OURS)  # handed out in this life
    assert name not in engine.ref_lows
    gw.says(1, _primary_messages())

    assert engine.ref_lookups == 1  # the first reads from the session's start to its first number, and notes it
    assert engine.ref_lows[name] == (0, FIRST)
    assert (venue.counters["ref_below_journal"], venue.counters["held_for_lookup"]) == (PRIMARY - 1, 0)
    assert venue.counters["unknown_user_ref_num"] == PRIMARY
    assert engine._order_of_ref(name, FIRST, "S1") == FIRST  # ours: found as ever


def test_another_session_when_its_numbers_start_lower_then_the_earlier_session_s_lowest_does_not_apply(
    restarted: Standby,
) -> None:
    engine, journal, name = restarted.engine, restarted.journal, restarted.venue.name
    note_session(engine.venue_sessions, name, "S2", journal.tell())
    journal.append(JVenueEpoch(name, "S2"))  # a new session: numbers from 1 again
    journal.append(_sent(FIRST + OURS, 5))
    journal.flush()
    assert engine._ref_outside_journal(name, 5, "S2") == 0  # S1's lowest says nothing of S2
    assert engine._order_of_ref(name, 5, "S2") == FIRST + OURS
    assert engine._order_of_ref(name, 4, "S2") == 0
    assert engine.ref_lows[name][1] == 5  # learnt for S2 by that search, which read from S2's start
    assert engine._ref_outside_journal(name, 4, "S2") == -1


async def test_live_when_the_venue_names_numbers_below_ours_then_an_ended_order_s_fill_applied_once(
    sim: OuchSimulator, tmp_path: Path
) -> None:
    gw = LiveGateway(sim, tmp_path, kept=2)
    gw.venue._store.ensure_above(FIRST - 1)  # floored on the venue's NextUserRefNum, as at a standby takeover
    await gw.start()
    try:
        link = gw.rig.connect("S1")
        order_id, urn = await _rest_and_cancel(gw, link, "A")
        assert urn == FIRST  # the session's lowest number in the journal
        await _push_out(gw, link, RELEASE_BATCH + 20)
        assert order_id not in gw.engine.orders  # released: the adapter forgot its UserRefNum too
        lookups = gw.engine.ref_lookups

        for n in range(1, 201):  # the primary's orders' messages, then a late fill of ours
            sim.stream.append(encode_message(OrderCanceled(TS, n, 10, "U")))
        _late_fill(sim, urn, 30, 9001)
        await wait_until(lambda: gw.engine.counters.late_fills == 1, "the late fill to be applied")
        _late_fill(sim, urn, 30, 9001)  # a copy: the same Match Number
        await wait_until(lambda: gw.venue.counters["executions_after_end"] == 2, "the copy to be read")
        gw.engine.flush()

        assert _executed(link) == [("A", 30, 30, 0, "9001")]
        assert gw.engine.counters.repeated_fills == 1
        assert gw.venue.counters["unknown_user_ref_num"] == 200
        # one search learnt the session's lowest (old: 200, at most 10 per 100 ms, the late fill waiting behind)
        assert gw.engine.ref_lookups - lookups == 2  # that one and the late fill's
        assert gw.venue.counters["ref_below_journal"] == 199
        assert gw.venue.counters["held_for_lookup"] == 0
        last_seq = gw.engine.strategies["S1"].next_seq - 1
    finally:
        await gw.stop()

    gw = await LiveGateway(sim, tmp_path).start()  # restarted on the same journal: the first fill not applied again
    try:
        link = gw.rig.connect("S1", last_seq=last_seq)
        for n in range(201, 301):
            sim.stream.append(encode_message(OrderCanceled(TS, n, 10, "U")))
        _late_fill(sim, urn, 30, 9001)  # a copy of the fill applied before the restart
        _late_fill(sim, urn, 20, 9002)
        await wait_until(lambda: gw.engine.counters.late_fills == 1, "the second late fill")
        gw.engine.flush()
        assert _executed(link) == [("A", 20, 50, 0, "9002")]
        assert gw.engine.counters.repeated_fills == 1
        # this harness recovers without the journal's positions (``gateway run`` has them: recovery notes the
        # lowest, the tests above): the first number below it learns it again, with one search
        assert (gw.engine.ref_lookups, gw.venue.counters["ref_below_journal"]) == (2, 99)
    finally:
        await gw.stop()
