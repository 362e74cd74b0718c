"""UserRefNums above every number the journal holds for the session: answered without reading the session again.

rev56ops (HIGH): a primary gateway restarts on an OUCH session a standby traded on meanwhile; the login replay names
the standby's UserRefNums, inside the primary's reserved but unused block (below its store's high-water mark, so
not "never issued"). Each was a journal search, and with no order of the venue near the replay index's last marks
(the day's last orders rejected by risk, or another venue's) each read the whole session, 100-200 ms; at the
login and the replay's end the held messages are acted on whatever the budget: the loop stalled for minutes, and
again at every restart. Now recovery notes the highest number the session has in the journal, and so does any
search that reads to the journal's end (``Engine.ref_highs``): a number above it reads only the records journaled
since. A message of an order that IS in the journal is still found and applied once.

Real ``Engine`` journaling to a real file, recovered as ``gateway run`` does (``journal.records(scan)``), a real
``OuchVenue`` fed sequenced messages, a fake clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.journal import FileJournal, JournalScan, JSentCancel, JVenueEpoch
from gateway.journal_records import JOrderSent
from gateway.recovery import recover
from gateway.ref_lookup import note_session
from gateway.replay import MARK_MASK
from model.clock import FakeClock
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy
from tests.harness import LimitRisk, Rig
from tests.ouch.harness import PX, TS, venue_config
from venues.ouch.adapter import OuchVenue
from venues.ouch.codec import encode_message
from venues.ouch.messages import OrderExecuted, OutboundMessage
from venues.ouch.refstore import UserRefNumStore

pytestmark = pytest.mark.timeout(120)

DAY = "2024-05-01"
OURS = 1_500
"""Orders sent to the OUCH venue: order ``n`` under UserRefNum ``n``."""
OTHERS = 6_000
"""Orders sent to another venue after them: no order of the OUCH venue near the replay index's last marks."""
RESERVED = 5_000
"""The UserRefNum store's high-water mark: numbers OURS+1..RESERVED reserved here, used by a standby."""
STANDBY = 40
"""Messages of the standby's orders the replay names (numbers OURS+1..OURS+STANDBY)."""


def _sent(order_id: int, venue: str, ref: int) -> JOrderSent:
    return JOrderSent(
        order_id, "S1", f"c{order_id}", "ACC1", venue, "AAPL", Side.BUY, 10, PX, TimeInForce.DAY, OrderType.LIMIT, 0,
        str(ref),
    )  # fmt: skip


class Gateway:
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
        self.seq = 0

    def says(self, *messages: OutboundMessage) -> None:
        for message in messages:
            self.seq += 1
            self.venue.on_sequenced(self.seq, memoryview(encode_message(message)))


def _day(path: Path, state: Path) -> None:
    """Journal the day so far: OURS orders to the OUCH venue (each canceled), then OTHERS to another venue."""
    state.mkdir()
    first = Gateway(path, state, recovered=False)
    engine, journal = first.engine, first.journal
    name = first.venue.name
    note_session(engine.venue_sessions, name, "S1", journal.tell())
    journal.append(JVenueEpoch(name, "S1"))
    for order_id in range(1, OURS + OTHERS + 1):
        if not order_id & MARK_MASK:
            engine.order_marks.add(order_id, journal.tell())
        venue = name if order_id <= OURS else "boe"
        journal.append(_sent(order_id, venue, order_id))
        journal.append(JSentCancel(order_id, str(order_id)))
    journal.flush()
    first.store.ensure_above(RESERVED)  # reserved ahead of use, as the store does by blocks
    assert first.store.floor()
    journal.close()


@pytest.fixture
def restarted(tmp_path: Path) -> Gateway:
    _day(tmp_path / "journal", tmp_path / "ouch")
    gw = Gateway(tmp_path / "journal", tmp_path / "ouch", recovered=True)
    assert gw.store.last_issued >= RESERVED
    return gw


def _standby_messages() -> list[OutboundMessage]:
    return [OrderExecuted(TS, OURS + n, 10, PX, "A", 7_000 + n) for n in range(1, STANDBY + 1)]


def test_restart_when_the_replay_names_numbers_above_the_journal_s_then_none_reads_the_session(
    restarted: Gateway,
) -> None:
    venue, engine = restarted.venue, restarted.engine
    restarted.says(*_standby_messages())
    venue.on_caught_up()  # the replay's end: every held message acted on

    assert engine.ref_lookup_records == 0  # old: 21,210 per number (the whole journal): 848,400
    assert venue.counters["held_for_lookup"] == 0  # none waited for the search budget (old: 30 of the 40)
    assert venue.status()["held_now"] == 0
    assert venue.counters["unknown_user_ref_num"] == STANDBY  # as before: not ours, counted (and logged) unknown
    assert (engine.ref_lookups, venue.counters["ref_above_journal"]) == (0, STANDBY)


def test_restart_when_records_were_journaled_since_then_only_those_are_read(restarted: Gateway) -> None:
    venue, engine, journal = restarted.venue, restarted.engine, restarted.journal
    journal.append(JVenueEpoch(venue.name, "S1"))  # the login's record: written after recovery's note
    journal.flush()
    restarted.says(*_standby_messages())

    assert (engine.ref_lookups, engine.ref_lookup_records) == (1, 1)  # the first reads the one record, then notes
    assert venue.counters["ref_above_journal"] == STANDBY - 1
    assert venue.counters["unknown_user_ref_num"] == STANDBY


def test_live_when_a_number_sent_after_the_note_then_found_in_the_records_since(restarted: Gateway) -> None:
    engine, journal, name = restarted.engine, restarted.journal, restarted.venue.name
    assert engine._order_of_ref(name, OURS + 1, "S1") == 0  # noted by recovery: nothing read
    order_id = OURS + OTHERS + 1
    journal.append(_sent(order_id, name, OURS + 2))  # this life's order above the note, ended and released
    journal.flush()

    before = engine.ref_lookup_records
    assert engine._order_of_ref(name, OURS + 2, "S1") == order_id
    assert engine.ref_lookup_records - before <= 2  # the records since the note only
    assert engine._order_of_ref(name, 700, "S1") == 700  # below it: the binary search and scan, as ever


def test_without_recovery_when_numbers_above_the_journal_s_then_the_session_is_read_once(tmp_path: Path) -> None:
    _day(tmp_path / "journal", tmp_path / "ouch")
    gw = Gateway(tmp_path / "journal", tmp_path / "ouch", recovered=False)  # positions of the day not known
    engine, name = gw.engine, gw.venue.name
    note_session(engine.venue_sessions, name, "S1", 0)
    assert engine._order_of_ref(name, OURS + 1, "S1") == 0
    first = engine.ref_lookup_records
    assert first > OURS  # the first search reads the session to its end
    for n in range(2, STANDBY + 1):
        assert engine._order_of_ref(name, OURS + n, "S1") == 0
    assert engine.ref_lookup_records - first < STANDBY  # old: as many again for each number
    assert engine._order_of_ref(name, 33, "S1") == 33
