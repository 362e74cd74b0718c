"""Replay from the journal through the coarse index: same events as a full read, bounded index, refusals kept.

A random day of two strategies (new orders, acks, rejects, partial and full fills, cancels, replaces,
cancel rejects, and one order resting from the start until late) is journaled with both storages;
then for random ``last_seq`` values the indexed read (``gateway.replay``) must give exactly the bytes
of the events a full recovery rebuilds, with the engine's index and with the one recovery rebuilds.
"""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from gateway.engine import RELEASE_BATCH
from gateway.journal import FileJournal, JournalCorruptError, JournalScan
from gateway.protocol.messages import OrderEvent
from gateway.recovery import recover
from gateway.replay import MARK_EVERY, JournalMarks, ReplayJob, replay_start
from model.fsync import FsyncPolicy
from tests.harness import MemoryLink, Rig, journal_of_kind, step_at_random

KEPT = 300


def _day(rig: Rig, steps: int, seed: int) -> None:
    """Trade a random day; S1's first order rests, untouched, for the first quarter."""
    rnd = random.Random(seed)
    engine = rig.engine
    venue = rig.venue
    s1 = rig.connect("S1")
    s2 = rig.connect("S2")
    links = {"S1": s1, "S2": s2}
    rig.new_order(s1, "rest", qty=1_000)
    resting = engine.next_order_id - 1
    venue.accept(resting, 1_000_000)
    n = 0
    for step in range(steps):
        if step == steps // 4:
            venue.fill(resting, 1_000, 1_000_000)
        open_orders = [o for o in list(engine.open_orders.values())[:20] if o.order_id != resting]
        if rnd.random() < 0.2 or not open_orders:
            n += 1
            strategy = "S1" if rnd.random() < 0.7 else "S2"
            rig.new_order(links[strategy], f"c{n}", qty=100, account="ACC1" if strategy == "S1" else "ACC2")
        else:
            order = rnd.choice(open_orders)
            step_at_random(rig, links[order.strategy_id], order, rnd)
        engine.flush()
        s1.written.clear()
        s2.written.clear()


def _encoded(events: list[OrderEvent]) -> list[bytes]:
    return [msgspec.msgpack.encode(e) for e in events]


@pytest.mark.parametrize("storage", ["mmap", "file"])
def test_an_indexed_replay_gives_exactly_the_events_a_full_read_rebuilds(tmp_path: Path, storage: str) -> None:
    journal = journal_of_kind(storage, tmp_path / "j")
    rig = Rig(journal=journal)
    rig.engine.events_kept = rig.engine.terminal_orders_kept = KEPT
    _day(rig, 14_000, seed=13)
    st = rig.engine.strategies["S1"]
    base = st.events_base
    assert base >= 4 * MARK_EVERY and len(st.marks) >= 4
    full = recover(journal.records()).strategies["S1"].events
    assert [e.seq for e in full] == list(range(1, st.next_seq))
    scan = JournalScan()
    recovered = recover(journal.records(scan), scan)
    rebuilt = recovered.strategies["S1"].marks
    assert list(rebuilt.keys) == list(st.marks.keys)
    total_records = scan.records
    rnd = random.Random(7)
    cases = [0, 1, base - 1, base - 2, MARK_EVERY, MARK_EVERY + 1, 2 * MARK_EVERY - 1] + [
        rnd.randrange(0, base) for _ in range(25)
    ]
    for last_seq in cases:
        want = _encoded(full[last_seq:base])
        for marks in (st.marks, rebuilt):
            job = ReplayJob(journal.reader(replay_start(marks, last_seq)), "S1", last_seq, base)
            got = job.run()
            assert isinstance(got, list), (last_seq, got)
            assert _encoded(got) == want, last_seq
    # once the resting order is done, a late replay reads only the journal's tail
    late = base - 2
    start = replay_start(st.marks, late)
    job = ReplayJob(journal.reader(start), "S1", late, base)
    assert isinstance(job.run(), list)
    assert start > 0 and job.records < total_records * 0.6
    # while it rests, the index sends the read back to where it was created
    early = MARK_EVERY + 5
    assert replay_start(st.marks, early) <= rig.engine.order_marks.at_or_before(1)


def test_the_index_is_a_few_bytes_per_thousand_events(tmp_path: Path) -> None:
    rig = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    rig.engine.events_kept = rig.engine.terminal_orders_kept = KEPT
    _day(rig, 6_000, seed=5)
    engine = rig.engine
    events = sum(st.next_seq - 1 for st in engine.strategies.values())
    entries = sum(len(st.marks) for st in engine.strategies.values()) + len(engine.order_marks)
    assert events > 3 * MARK_EVERY
    assert entries <= events // MARK_EVERY + engine.next_order_id // MARK_EVERY + 2
    index_bytes = sum(st.marks.nbytes for st in engine.strategies.values()) + engine.order_marks.nbytes
    assert index_bytes <= 16 * entries
    assert index_bytes / engine.orders_total < 0.1  # of the 100 bytes an order may cost


def test_marks_find_the_last_position_at_or_before_a_key() -> None:
    marks = JournalMarks()
    for key, position in ((1024, 100), (2048, 90), (3072, 500)):
        marks.add(key, position)
    marks.add(3000, 7)  # not above the last key: ignored
    assert [marks.at_or_before(k) for k in (0, 1023, 1024, 2047, 2048, 5000)] == [0, 0, 100, 100, 90, 500]
    assert marks.before(1024) == 0 and marks.before(1025) == 100
    assert len(marks) == 3


@pytest.mark.parametrize("storage", ["mmap", "file"])
def test_a_damaged_record_in_the_range_refuses_the_replay(tmp_path: Path, storage: str) -> None:
    journal = journal_of_kind(storage, tmp_path / "j")
    rig = Rig(journal=journal)
    rig.engine.events_kept = rig.engine.terminal_orders_kept = KEPT
    _day(rig, 3_000, seed=3)
    st = rig.engine.strategies["S1"]
    base = st.next_seq - 1
    good = ReplayJob(journal.reader(0), "S1", 0, base).run()
    assert isinstance(good, list) and len(good) == base
    path = tmp_path / "j"
    data = bytearray(path.read_bytes())
    middle = journal.tell() // 2  # inside the records (an mmap file is preallocated beyond them)
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data))
    bad = ReplayJob(journal.reader(0), "S1", 0, base).run()
    assert isinstance(bad, str), bad


def test_a_journal_that_ends_before_the_window_refuses_the_replay(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    rig = Rig(journal=journal)
    rig.engine.events_kept = rig.engine.terminal_orders_kept = KEPT
    _day(rig, 3_000, seed=4)
    base = rig.engine.strategies["S1"].next_seq - 1
    path = tmp_path / "j"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = ReplayJob(journal.reader(0), "S1", 0, base).run()
    assert isinstance(result, str) and "not in the journal" in result


def test_a_replay_while_the_engine_trades_stays_within_the_window(tmp_path: Path) -> None:
    """The engine's own replay path (sans-IO, no scheduler) uses the index and answers exactly once."""
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    rig = Rig(journal=journal)
    rig.engine.events_kept = rig.engine.terminal_orders_kept = KEPT
    _day(rig, 8_000, seed=9)
    engine = rig.engine
    st = engine.strategies["S1"]
    link: MemoryLink | None = st.link  # type: ignore[assignment]
    assert link is not None
    engine.link_closed(link)
    last_seq = st.events_base // 2
    assert st.events_base > RELEASE_BATCH
    again = rig.connect("S1", last_seq=last_seq)
    messages = again.received()
    seqs = [m.seq for m in messages if hasattr(m, "seq") and m.__class__.__name__ != "Welcome"]
    assert seqs == list(range(last_seq + 1, st.next_seq))
    assert engine.journal_replays == 1 and engine.replay_records > 0


def test_damage_after_the_needed_records_does_not_refuse_a_replay_that_stops_before_it(tmp_path: Path) -> None:
    """A reader returns the good records before damage and raises on the next read (a record half written)."""
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE)
    rig = Rig(journal=journal)
    rig.engine.events_kept = rig.engine.terminal_orders_kept = KEPT
    _day(rig, 2_000, seed=11)
    upto = rig.engine.strategies["S1"].next_seq - 1
    with (tmp_path / "j").open("ab") as fh:
        fh.write(b"\x00\x00\x00\x10garbage-garbage-garbage")  # a record whose CRC cannot match
    good = ReplayJob(journal.reader(0), "S1", 0, upto).run()
    assert isinstance(good, list) and len(good) == upto
    reader = journal.reader(0)
    records = reader.read(1_000_000)
    assert records and len(records) == len(list(journal.records()))
    with pytest.raises(JournalCorruptError):
        reader.read(10)
    too_far = ReplayJob(journal.reader(0), "S1", 0, upto + 1).run()
    assert isinstance(too_far, str) and "damaged record" in too_far
