"""Event numbers after a power failure cut the journal's tail (rev60merge6 HIGH 2): none the strategy discards.

The engine rig with a ``FileJournal`` cut back as a power failure leaves it: the records written after the last
durable byte are gone, among them events the strategy received (a risk refusal, seq 2). At the restart an event the
venue's replay brings before the strategy's Hello (a fill of an order the journal holds) is numbered after the
journal's last: seq 2 again, a number the strategy holds. At the strategy's first Hello since the start, a
``last_seq`` above what the journal held then is told ``Error(LAST_SEQ_AHEAD)`` and gets every event numbered since
the start issued again after it (copies, journaled), so it discards none (seq61). Without journal loss (a plain
``kill -9``: ``last_seq`` at or below what the journal held) nothing changes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.app import LoopReplayReader, _loop_scheduler
from gateway.journal import FileJournal, JSeqAhead, JStrategyEvent, read_journal
from gateway.protocol.messages import Error, Executed, OrderAccepted, OrderEvent, OrderRejected, Welcome
from gateway.recovery import recover
from gateway.replay import ReplayRunner
from model.fsync import FsyncPolicy
from tests.harness import MemoryLink, Rig

PRICE = 1_000_000
ORDER_EVENTS = (OrderAccepted, OrderRejected, Executed)


def _day(path: Path, *, refused: int = 1, lost: bool = True, qty: int = 100) -> None:
    """S1: A accepted (seq 1, durable), then ``refused`` orders refused by risk (seq 2..): lost with the tail if
    ``lost`` (a power failure), else on disk (a plain ``kill -9``: the page cache keeps every record)."""
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=qty)
    rig.venue.accept(1)
    rig.engine.flush()
    durable = path.stat().st_size  # what the disk held when the power went
    for i in range(refused):
        rig.new_order(link, f"B{i}", qty=50_000)  # above the rig's max_qty: refused by risk at once
    rig.engine.flush()
    seqs = [m.seq for m in link.received() if isinstance(m, ORDER_EVENTS)]
    assert seqs == list(range(1, refused + 2))  # the strategy holds them all
    rig.engine.journal.close()
    if lost:
        with path.open("r+b") as fh:  # the page cache lost: the file ends where the disk had it
            fh.truncate(durable)


def _restart(path: Path) -> Rig:
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    rig.engine.adopt(recover(read_journal(path)))
    rig.venue.seq = 1  # the venue's numbering: its Accepted was 1, the fill the gateway never saw is 2
    return rig


def _split(link: MemoryLink) -> tuple[Welcome, list[Error], list[OrderEvent]]:
    welcome, *rest = link.received()
    assert isinstance(welcome, Welcome)
    return welcome, [m for m in rest if isinstance(m, Error)], [m for m in rest if isinstance(m, ORDER_EVENTS)]


def test_restart_when_the_lost_tail_held_an_event_the_strategy_has_then_a_fill_numbered_before_its_hello_comes_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    _day(path)
    rig = _restart(path)
    rig.venue.fill(1, 10, PRICE)  # the venue's replay, before the strategy's Hello: numbered 2, as the lost refusal
    rig.engine.flush()
    assert rig.engine.strategies["S1"].next_seq == 3
    link = rig.connect("S1", last_seq=2)
    welcome, errors, events = _split(link)
    # the old code: Welcome(next_seq 3, replayed 0) and nothing: the strategy never saw the fill
    assert (welcome.next_seq, welcome.replayed) == (4, 1)
    assert [e.code for e in errors] == ["LAST_SEQ_AHEAD"] and not errors[0].fatal
    assert "the 1 events numbered since, 2..2, are issued again as 3..3" in errors[0].text
    assert "new events are numbered from 4" in errors[0].text
    (fill,) = events
    assert isinstance(fill, Executed) and (fill.seq, fill.cl_ord_id, fill.qty, fill.exec_id) == (3, "A", 10, "M2")
    rig.venue.fill(1, 5, PRICE)  # live after it
    rig.engine.flush()
    assert [m.seq for m in link.received() if isinstance(m, Executed)] == [4]
    assert rig.engine.counters.strategy_seq_ahead == 1
    assert rig.order("S1", "A").cum_qty == 15  # the copy moved no order: the fill counts once
    rig.engine.journal.close()

    # the copy is journaled (no numbers skipped: no JSeqAhead); a restart numbers the same way, and a replay from
    # before the start gives the original and its copy (docs/strategy-protocol.md 4.1)
    records = list(read_journal(path))
    assert not [r for r in records if isinstance(r, JSeqAhead)]
    copies = [r.event for r in records if isinstance(r, JStrategyEvent) and isinstance(r.event, Executed)]
    assert [(c.seq, c.exec_id) for c in copies] == [(3, "M2")]
    again = _restart(path)
    assert again.order("S1", "A").cum_qty == 15
    fresh = again.connect("S1")
    welcome, errors, events = _split(fresh)
    assert (welcome.next_seq, welcome.replayed) == (5, 4) and not errors
    assert [(type(e).__name__, e.seq) for e in events] == [
        ("OrderAccepted", 1),
        ("Executed", 2),
        ("Executed", 3),
        ("Executed", 4),
    ]
    again.engine.journal.close()


def test_restart_when_the_strategy_holds_more_than_was_numbered_since_then_the_copies_follow_its_last_seq(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    _day(path, refused=4)  # the strategy holds 1..5, the journal 1
    rig = _restart(path)
    rig.venue.fill(1, 10, PRICE)  # seq 2
    rig.engine.flush()
    link = rig.connect("S1", last_seq=5)
    welcome, errors, events = _split(link)
    assert (welcome.next_seq, welcome.replayed) == (7, 1)
    assert [e.code for e in errors] == ["LAST_SEQ_AHEAD"]
    assert "lost events 2..5); the 1 events numbered since, 2..2, are issued again as 6..6" in errors[0].text
    assert [(type(e).__name__, e.seq) for e in events] == [("Executed", 6)]
    rig.engine.journal.close()
    assert [(r.next_seq, r.lost_from) for r in read_journal(path) if isinstance(r, JSeqAhead)] == [(6, 3)]

    again = _restart(path)  # the numbers 3..5 name no event, now or after a restart
    fresh = again.connect("S1", last_seq=1)
    welcome, errors, events = _split(fresh)
    assert (welcome.next_seq, welcome.replayed) == (7, 2) and not errors
    assert [(type(e).__name__, e.seq) for e in events] == [("Executed", 2), ("Executed", 6)]
    again.engine.journal.close()


def test_restart_when_the_journal_lost_nothing_then_events_numbered_before_the_hello_are_replayed_as_ever(
    tmp_path: Path,
) -> None:
    """A plain ``kill -9``: the journal holds every event the strategy received; its ``last_seq`` is at or below what
    it held at the start: no notice, no copy, the events numbered since are replayed under their numbers."""
    path = tmp_path / "j"
    _day(path, lost=False)
    rig = _restart(path)
    rig.venue.seq = 1
    rig.venue.fill(1, 10, PRICE)  # seq 3
    rig.engine.flush()
    link = rig.connect("S1", last_seq=2)
    welcome, errors, events = _split(link)
    assert (welcome.next_seq, welcome.replayed) == (4, 1) and not errors
    assert [(type(e).__name__, e.seq) for e in events] == [("Executed", 3)]
    link.close_transport()
    rig.engine.link_closed(link)
    later = rig.connect("S1", last_seq=9)  # not its first Hello since the start: the jump of 4.1, no copy
    welcome, errors, events = _split(later)
    assert (welcome.next_seq, welcome.replayed) == (10, 0) and not events
    assert "new events are numbered from 10" in errors[0].text
    assert rig.engine.counters.strategy_seq_ahead == 1
    rig.engine.journal.close()
    assert not [r for r in read_journal(path) if isinstance(r, JStrategyEvent) and r.event.seq > 3]


def _many_since_the_start(path: Path) -> Rig:
    _day(path, qty=5_000)
    rig = _restart(path)
    rig.engine.events_kept = 10
    for _ in range(1_100):  # more than events_kept + RELEASE_BATCH: the oldest leave memory
        rig.venue.fill(1, 1, PRICE)
        rig.engine.flush()
    assert rig.engine.strategies["S1"].events_base > 2  # the first fills since the start are in the journal only
    return rig


def test_restart_when_more_events_were_numbered_since_than_memory_keeps_then_they_are_read_back_and_issued_again(
    tmp_path: Path,
) -> None:
    rig = _many_since_the_start(tmp_path / "j")
    link = rig.connect("S1", last_seq=2)
    welcome, errors, events = _split(link)
    assert (welcome.next_seq, welcome.replayed) == (2_202, 1_100)
    assert "the 1100 events numbered since, 2..1101, are issued again as 1102..2201" in errors[0].text
    assert [e.seq for e in events] == list(range(1_102, 2_202))
    assert [e.cum_qty for e in events if isinstance(e, Executed)] == list(range(1, 1_101))
    rig.engine.journal.close()


async def test_restart_when_the_events_to_issue_again_are_read_back_on_the_loop_then_the_welcome_waits_for_them(
    tmp_path: Path,
) -> None:
    """As ``gateway run`` reads them: a step per loop callback (``memory.replay_read: loop``), the Welcome after."""
    rig = _many_since_the_start(tmp_path / "j")
    engine = rig.engine
    loop = asyncio.get_running_loop()
    runner = ReplayRunner()
    engine.replay_reader = LoopReplayReader(loop, runner)
    engine.replay_scheduler = _loop_scheduler(loop)
    link = rig.connect("S1", last_seq=2)
    assert link.received() == []  # the Welcome waits for the read
    got: list[object] = []
    for _ in range(2_000):
        got += link.received()
        if len([m for m in got if isinstance(m, ORDER_EVENTS)]) == 1_100:
            break
        await asyncio.sleep(0.005)
    welcome, notice, *rest = got
    assert isinstance(welcome, Welcome) and (welcome.next_seq, welcome.replayed) == (2_202, 1_100)
    assert isinstance(notice, Error) and notice.code == "LAST_SEQ_AHEAD"
    assert [e.seq for e in rest if isinstance(e, ORDER_EVENTS)] == list(range(1_102, 2_202))
    assert runner.finished == 1 and engine.strategies["S1"].replay_pending == 0
    rig.venue.fill(1, 1, PRICE)  # live after the copies
    engine.flush()
    assert [m.seq for m in link.received() if isinstance(m, Executed)] == [2_202]
    engine.journal.close()
