"""``gateway.ref_lookup`` on a real journal file: which order a UserRefNum was sent for, read in a bounded span.

A day of 20,000 orders over two OUCH venues whose numbers overlap (each its own UserRefNums), Replaces, and a
session change of one venue half way (its numbers start again at 1). The binary search over the replay index
starts the scan near the record, not at the journal's start; a number of the venue's earlier session, of the
other venue, or never sent answers 0.
"""

from __future__ import annotations

from pathlib import Path

from gateway.journal import FileJournal, JSentReplace, JVenueEpoch
from gateway.journal_records import JOrderSent
from gateway.ref_lookup import find_ref, note_session, ref_scan_start, session_floor
from gateway.replay import MARK_MASK, JournalMarks
from model.enums import OrderType, Side, TimeInForce
from model.fsync import FsyncPolicy

ORDERS = 20_000
SWITCH = 15_000
"""The order id from which venue "nq" is in session "S2" (its numbers from 1 again)."""


def _sent(order_id: int, venue: str, ref: int) -> JOrderSent:
    return JOrderSent(
        order_id, "S1", f"c{order_id}", "ACC1", venue, "AAPL", Side.BUY, 10, 1_000_000, TimeInForce.DAY,
        OrderType.LIMIT, 0, str(ref),
    )  # fmt: skip


Day = tuple[FileJournal, JournalMarks, dict[str, tuple[str, int]], dict[tuple[str, str, int], int]]


def _epoch(journal: FileJournal, sessions: dict[str, tuple[str, int]], venue: str, epoch: str) -> None:
    note_session(sessions, venue, epoch, journal.tell())  # as the engine does (``Engine._on_venue_epoch``)
    journal.append(JVenueEpoch(venue, epoch))


def _day(path: Path) -> Day:
    """Write the day; return the journal, its replay index, its venues' sessions and (venue, session, number) -> id."""
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    marks = JournalMarks()
    sessions: dict[str, tuple[str, int]] = {}
    sent: dict[tuple[str, str, int], int] = {}
    refs = {"nq": 0, "nq2": 100}
    session = {"nq": "S1", "nq2": "T1"}
    _epoch(journal, sessions, "nq", "S1")
    _epoch(journal, sessions, "nq2", "T1")
    for order_id in range(1, ORDERS + 1):
        if order_id == SWITCH:
            _epoch(journal, sessions, "nq", "S2")
            session["nq"], refs["nq"] = "S2", 0
        if not order_id & MARK_MASK:
            marks.add(order_id, journal.tell())
        venue = "nq" if order_id % 3 else "nq2"
        refs[venue] += 1
        journal.append(_sent(order_id, venue, refs[venue]))
        sent[venue, session[venue], refs[venue]] = order_id
        if order_id % 7 == 0 and order_id > 10:  # a Replace of an earlier order of the venue, under a new number
            earlier = order_id - 9 if (order_id - 9) % 3 else order_id - 10
            target = "nq" if earlier % 3 else "nq2"
            refs[target] += 1
            journal.append(JSentReplace(earlier, 10, 1_000_000, str(refs[target])))
            sent[target, session[target], refs[target]] = earlier
        journal.flush()  # one batch per order: ``tell`` is where the next batch goes
        if order_id == SWITCH + 2000:  # a re-login in the same session, the venue renumbered: not a new session
            _epoch(journal, sessions, "nq", "S2#1")
    journal.flush()
    return journal, marks, sessions, sent


def _lookup(day: Day, venue: str, ref: int, session: str) -> tuple[int, int]:
    journal, marks, sessions, _sent_refs = day
    floor = session_floor(sessions, venue, session)  # as ``Engine._order_of_ref``
    if floor is None:
        return 0, 0
    start, probed = ref_scan_start(journal.reader, marks.positions, venue, ref, floor)
    order_id, records = find_ref(journal.reader(start), venue, ref, session, lambda _order_id: None)
    return order_id, probed + records


def test_lookup_when_numbers_were_sent_then_each_names_its_order_read_in_a_bounded_span(tmp_path: Path) -> None:
    day = _day(tmp_path / "j")
    journal, _marks, _sessions, sent = day
    try:
        total = ORDERS + ORDERS // 7 + 3
        checked = 0
        for (venue, session, ref), order_id in sorted(sent.items())[::97]:
            found, records = _lookup(day, venue, ref, session)
            if (venue, session) == ("nq", "S1"):  # the venue's earlier session: not searched
                assert found == 0, (venue, session, ref)
                continue
            assert found == order_id, (venue, session, ref)
            assert records < total // 4, (venue, session, ref)  # a scan from the journal's start: up to every one
            checked += 1
        assert checked > 100
    finally:
        journal.close()


def test_lookup_when_the_number_is_another_session_s_or_another_venue_s_or_never_sent_then_none(
    tmp_path: Path,
) -> None:
    day = _day(tmp_path / "j")
    journal, _marks, _sessions, sent = day
    try:
        s1_high = max(ref for (venue, session, ref) in sent if (venue, session) == ("nq", "S1"))
        s2_high = max(ref for (venue, session, ref) in sent if (venue, session) == ("nq", "S2"))
        assert s2_high < s1_high
        # a number only the earlier session sent: never the current session's order
        assert _lookup(day, "nq", s2_high + 5, "S2")[0] == 0
        # a number both sessions sent: the current session's order
        assert _lookup(day, "nq", 3, "S2")[0] == sent["nq", "S2", 3]
        # the other venue's numbering is its own
        assert _lookup(day, "nq2", 150, "T1")[0] == sent["nq2", "T1", 150]
        assert sent["nq2", "T1", 150] != sent.get(("nq", "S2", 150))
        # never sent
        assert _lookup(day, "nq", s2_high + 1000, "S2")[0] == 0
        assert _lookup(day, "nq", 3, "S9")[0] == 0
    finally:
        journal.close()
