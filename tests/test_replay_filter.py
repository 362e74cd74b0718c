"""A far replay decodes the replaying strategy's records only, and lets go of what it read once it ends.

A day where one strategy trades a little among several that trade a lot (protocol versions 2 and 3, ids
that share a prefix, order ids past one byte): replaying the small one from 0 must give exactly the
events a full recovery rebuilds, while decoding about as many records as it has of its own (every other
record is CRC-checked and passed over by its first bytes, ``gateway.journal_scan``). Count-based only.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from pathlib import Path

import msgspec
import pytest

from gateway.entitlements import StrategyEntitlement
from gateway.journal import Journal, JournalScan
from gateway.journal_scan import record_wanted
from gateway.protocol.messages import OrderEvent
from gateway.recovery import recover
from gateway.replay import JournalRead, ReplayJob, ReplayRunner
from tests.harness import MemoryLink, Rig, journal_of_kind, step_at_random

KEPT = 100
HEAVY = ("S10", "S2", "S3")
"""Strategies that trade four times as much as S1 ("S10" begins as "S1" does)."""


def _rig(journal: Journal) -> Rig:
    names = ("S1", *HEAVY)
    rig = Rig(
        journal=journal,
        strategies={name: StrategyEntitlement(accounts=[f"A{name}"], uids=[1000]) for name in names},
    )
    rig.engine.events_kept = rig.engine.terminal_orders_kept = KEPT
    return rig


def _day(rig: Rig, steps: int, seed: int, s1_version: int) -> None:
    """S1 sends one order in 5, the others the rest; acks, fills, cancels, replaces, rejects at random."""
    rnd = random.Random(seed)
    links: dict[str, MemoryLink] = {"S1": rig.connect("S1", version=s1_version)}
    for name in HEAVY:
        links[name] = rig.connect(name, version=2 if name == "S2" else 3)
    n = 0
    for _ in range(steps):
        open_orders = list(rig.engine.open_orders.values())[:30]
        if rnd.random() < 0.3 or not open_orders:
            n += 1
            name = "S1" if n % 5 == 0 else rnd.choice(HEAVY)
            rig.new_order(links[name], f"c{n}", qty=100, account=f"A{name}")
        else:
            order = rnd.choice(open_orders)
            step_at_random(rig, links[order.strategy_id], order, rnd)
        rig.engine.flush()
        for link in links.values():
            link.written.clear()


def _encoded(events: list[OrderEvent]) -> list[bytes]:
    return [msgspec.msgpack.encode(e) for e in events]


@pytest.mark.parametrize(("storage", "s1_version"), [("mmap", 3), ("file", 2)])
def test_a_far_replay_decodes_its_own_records_not_the_journals(tmp_path: Path, storage: str, s1_version: int) -> None:
    journal = journal_of_kind(storage, tmp_path / "j")
    rig = _rig(journal)
    _day(rig, 15_000, seed=21, s1_version=s1_version)
    st = rig.engine.strategies["S1"]
    base = st.events_base
    assert base > 100 and rig.engine.next_order_id > 300  # order ids of one, two and three bytes
    scan = JournalScan()
    full = recover(journal.records(scan), scan).strategies["S1"].events
    assert [e.seq for e in full] == list(range(1, st.next_seq))
    for last_seq in (0, 1, base // 2, base - 1):
        job = ReplayJob(journal.reader(0), "S1", last_seq, base)
        got = job.run()
        assert isinstance(got, list), got
        assert _encoded(got) == _encoded(full[last_seq:base])
        assert job.records + job.skipped <= scan.records
        if last_seq == 0:
            # S1 made 1 order in 5: its records (requests, venue events) are about 2 per event; the rest passed over
            assert job.records <= 2.5 * base, (job.records, base)
            assert job.skipped >= 3 * job.records, (job.skipped, job.records)  # the others trade 4 times as much


def test_a_record_the_filter_does_not_know_is_decoded() -> None:
    orders: dict[int, object] = {7: None}
    sid = msgspec.msgpack.encode("S1")
    assert record_wanted(b"\x81\x01\x02", 0, sid, orders)  # a map, not an array
    assert record_wanted(b"\x93\x63\xa2S1", 0, sid, orders)  # an unknown tag
    assert record_wanted(b"\x93\x0d", 0, sid, orders) is False  # cut short where the strategy id belongs: not S1
    assert record_wanted(b"\x92\x02\x07", 0, sid, orders) and not record_wanted(b"\x92\x02\x08", 0, sid, orders)
    assert record_wanted(b"\x92\x02\xcd\x01\x00", 0, sid, {256: None})
    assert not record_wanted(b"\x94\x0b\xa1V\xa1E", 0, sid, orders)  # the venue epoch concerns nobody's events
    assert not record_wanted(b"\x92\x11\xa1A", 0, sid, orders)  # nor does a position adjustment
    assert record_wanted(b"\x94\x0e\xa2V1\x95\xa3acc\x05\x07", 0, sid, orders)
    assert not record_wanted(b"\x94\x0e\xa2V1\x95\xa3acc\xcc\xff\x08", 0, sid, orders)
    assert record_wanted(b"\x94\x0e\xa2V1\x95\xa3acc\xd3", 0, sid, orders)  # cut short: decoded


def test_a_replay_lets_go_of_its_file_buffer_and_events_when_it_ends(tmp_path: Path) -> None:
    journal = journal_of_kind("file", tmp_path / "j")
    rig = _rig(journal)
    _day(rig, 15_000, seed=5, s1_version=3)
    base = rig.engine.strategies["S1"].events_base
    assert base >= 1_000
    results: list[object] = []
    runner = ReplayRunner()

    def one_replay() -> JournalRead:
        read = JournalRead("S1", lambda: ReplayJob(journal.reader(0), "S1", 0, base), results.append)
        runner.submit(read)
        while runner.busy:
            finished = runner.step()
            if finished is not None:
                finished[0].done(finished[1])
        return read

    one_replay()  # warm: imports, caches
    results.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        reads = [one_replay() for _ in range(3)]
        assert all(isinstance(r, list) and len(r) == base for r in results)
        results.clear()  # the engine drops the events as it writes them
        held = tracemalloc.get_traced_memory()[0] - before  # the reads themselves are still referenced here
    finally:
        tracemalloc.stop()
    for read in reads:
        job = read.job
        assert job is not None and job.reader._fd == -1 and job.reader._buf == b"" and not job.orders
    assert held < 16 << 10, held  # each job's 64 KiB read buffer and its orders are gone, not just its file
