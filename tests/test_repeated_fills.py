"""A venue's copy of a fill the order already applied is not applied again, whatever the venue (fills30).

A venue can send one execution twice under two message numbers: FIX with PossResend=Y, an OUCH server that
restarted its numbering and replays from below the number asked for, BOE after a re-login whose numbering went
back. The exactly-once check by message number cannot tell (the copy's number is new); the execution id can.
The core (``gateway.venue_apply.executed``) keeps each order's ids (the first in a field, later ones in a set)
and leaves a copy unapplied: no strategy event, no risk update, counted (``repeated_fills``) and logged at most
once per 10 s. Recovery applies the journal with the same function, so the ids come back with the order.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

import msgspec
import pytest

from gateway.journal import FileJournal, read_journal
from gateway.protocol.messages import Executed
from gateway.recovery import recover
from model.fsync import FsyncPolicy
from model.order import Order, OrderState
from model.venue_events import VenueExecuted
from tests.harness import MemoryLink, Rig

PX = 1_000_000


def _executed(rig: Rig, link: MemoryLink) -> list[tuple[int, int, str]]:
    rig.engine.flush()
    return [(m.qty, m.cum_qty, m.exec_id) for m in link.received() if isinstance(m, Executed)]


def _fill(rig: Rig, order_id: int, qty: int, exec_id: str) -> None:
    """The venue's next message: an execution of ``order_id`` with ``exec_id`` (a copy if the id was seen)."""
    venue = rig.venue
    venue.emit(VenueExecuted(venue._next(), order_id, qty, PX, "A", exec_id))


def _live(rig: Rig, qty: int = 100) -> MemoryLink:
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=qty, price=PX)
    rig.venue.accept(1)
    link.received()
    return link


def test_fill_when_repeated_under_a_new_venue_seq_then_applied_once_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    link = _live(rig)
    with caplog.at_level(logging.WARNING, logger="gateway.engine"):
        _fill(rig, 1, 70, "M7")
        _fill(rig, 1, 70, "M7")  # the copy: "140 of 100" and FILLED if applied
        _fill(rig, 1, 30, "M8")  # the venue's real last fill
    rig.engine.flush()
    assert _executed(rig, link) == [(70, 70, "M7"), (30, 100, "M8")]
    order = rig.order("S1", "A")
    assert (order.cum_qty, order.leaves_qty, order.state) == (100, 0, OrderState.FILLED)
    assert rig.risk.executions == [(1, 70, PX), (1, 30, PX)]  # risk saw the copy not at all
    counters = rig.engine.counter_values()
    assert (counters["repeated_fills"], counters["executions"]) == (1, 2)
    assert (counters["venue_events_out_of_place"], counters["overfills"]) == (0, 0)
    assert rig.engine.status()["counters"]["repeated_fills"] == 1  # type: ignore[index]
    (line,) = [r.getMessage() for r in caplog.records if "repeated" in r.getMessage()]
    assert "'M7'" in line and "order 1" in line and "venue V1" in line


def test_fills_when_distinct_exec_ids_then_all_applied_and_only_copies_refused() -> None:
    rig = Rig()
    link = _live(rig)
    for i in range(1, 6):
        _fill(rig, 1, 10, f"M{i}")
    for i in (1, 3, 5, 2):  # copies of the first (the field) and of later ones (the set)
        _fill(rig, 1, 10, f"M{i}")
    _fill(rig, 1, 50, "M6")
    rig.engine.flush()
    assert _executed(rig, link) == [(10, 10 * i, f"M{i}") for i in range(1, 6)] + [(50, 100, "M6")]
    order = rig.order("S1", "A")
    assert order.exec_id == "M1" and order.exec_ids == {"M2", "M3", "M4", "M5", "M6"}
    assert rig.engine.counters.repeated_fills == 4


def test_fill_when_the_order_has_one_fill_then_nothing_is_allocated_for_its_id() -> None:
    rig = Rig()
    _live(rig)
    _fill(rig, 1, 40, "M1")
    order = rig.order("S1", "A")
    assert (order.exec_id, order.exec_ids) == ("M1", None)


def test_fills_when_without_exec_id_then_each_applied() -> None:
    # Nothing to tell a copy by (a FIX report without ExecID, the fill a FIX status answer reports at AvgPx):
    # each is applied, as before.
    rig = Rig()
    link = _live(rig)
    _fill(rig, 1, 10, "")
    _fill(rig, 1, 10, "")
    _fill(rig, 1, 10, "M1")
    _fill(rig, 1, 10, "")
    assert [qty for qty, _cum, _id in _executed(rig, link)] == [10, 10, 10, 10]
    assert rig.engine.counters.repeated_fills == 0
    assert (rig.order("S1", "A").exec_id, rig.order("S1", "A").exec_ids) == ("M1", None)


def test_fill_when_the_same_id_comes_for_another_order_then_applied_to_each() -> None:
    # OUCH: the buy and the sell execution of one trade share the Match Number; both may be ours.
    rig = Rig()
    link = rig.connect("S1")
    rig.new_order(link, "B", qty=100, price=PX)
    rig.new_order(link, "S", qty=100, price=PX)
    rig.venue.accept(1)
    rig.venue.accept(2)
    link.received()
    _fill(rig, 1, 100, "M9")
    _fill(rig, 2, 100, "M9")
    assert [(qty, cum) for qty, cum, _id in _executed(rig, link)] == [(100, 100), (100, 100)]
    assert rig.engine.counters.repeated_fills == 0


def test_fill_when_repeated_after_the_order_filled_then_counted_as_repeated_not_out_of_place() -> None:
    rig = Rig()
    link = _live(rig)
    _fill(rig, 1, 100, "M1")
    _fill(rig, 1, 100, "M1")
    assert _executed(rig, link) == [(100, 100, "M1")]
    assert rig.engine.counters.repeated_fills == 1
    assert rig.engine.counters.venue_events_out_of_place == 0


def test_fill_when_after_the_order_filled_with_a_new_id_then_applied_late_not_a_copy() -> None:
    rig = Rig()
    link = _live(rig)
    _fill(rig, 1, 100, "M1")
    _fill(rig, 1, 10, "M2")  # the order is FILLED: the venue traded 10 more (boefix38: it was dropped)
    _fill(rig, 1, 10, "M2")  # a copy of that one
    assert _executed(rig, link) == [(100, 100, "M1"), (10, 110, "M2")]
    counters = rig.engine.counters
    assert (counters.late_fills, counters.repeated_fills, counters.venue_events_out_of_place) == (1, 1, 0)
    assert rig.order("S1", "A").exec_ids == {"M2"}


def test_repeated_fills_when_many_then_logged_at_most_once_per_10_s(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    _live(rig, qty=1_000)
    _fill(rig, 1, 10, "M1")
    with caplog.at_level(logging.WARNING, logger="gateway.engine"):
        for _ in range(50):
            _fill(rig, 1, 10, "M1")
        rig.clock.advance_ms(9_999)
        _fill(rig, 1, 10, "M1")
        rig.clock.advance_ms(2)
        _fill(rig, 1, 10, "M1")
    lines = [r.getMessage() for r in caplog.records if "repeated" in r.getMessage()]
    assert len(lines) == 2
    assert "(50 similar lines suppressed)" in lines[1]
    assert rig.engine.counters.repeated_fills == 52
    assert rig.order("S1", "A").cum_qty == 10


# ---- across a restart: the journal rebuilds the ids -------------------------------------------------------------


def _comparable(order: Order) -> Order:
    """Return ``order`` without the latency stamps, which the journal does not carry."""
    return msgspec.structs.replace(order, t_risk=0, t_wire=0)


def _journaled_rig(path: Path) -> Rig:
    return Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))


def test_fill_when_repeated_after_a_kill_and_restart_then_not_applied_again(tmp_path: Path) -> None:
    path = tmp_path / "gw.journal"
    rig = _journaled_rig(path)
    link = _live(rig, qty=100)
    _fill(rig, 1, 30, "M1")
    _fill(rig, 1, 20, "M2")
    _fill(rig, 1, 20, "M1")  # a copy before the crash: journaled (its number was processed), not applied
    rig.engine.flush()
    assert [qty for qty, _cum, _id in _executed(rig, link)] == [30, 20]
    before = rig.order("S1", "A")
    # kill -9: nothing more runs in the first process (its journal is not closed); a new one recovers
    recovered = recover(read_journal(path))
    assert _comparable(recovered.orders[1]) == _comparable(before)  # ids included: the replay ran the same function
    assert (before.exec_id, before.exec_ids) == ("M1", {"M2"})
    assert isinstance(rig.engine.journal, FileJournal)
    fcntl.flock(rig.engine.journal._fd, fcntl.LOCK_UN)  # the killed process's lock on the journal goes with it
    fresh = _journaled_rig(path)  # appends to the same journal
    fresh.venue.seq = rig.venue.seq
    fresh.engine.adopt(recovered)
    link2 = fresh.connect("S1", last_seq=3)  # had the ack and both fills
    link2.received()
    _fill(fresh, 1, 30, "M1")  # the venue's copies after the restart (new message numbers)
    _fill(fresh, 1, 20, "M2")
    _fill(fresh, 1, 50, "M3")
    fresh.engine.flush()
    assert _executed(fresh, link2) == [(50, 100, "M3")]
    order = fresh.order("S1", "A")
    assert (order.cum_qty, order.state) == (100, OrderState.FILLED)
    assert fresh.engine.counters.repeated_fills == 2
    assert fresh.risk.executions == [(1, 30, PX), (1, 20, PX), (1, 50, PX)]  # recovery's two, then the new one
    # and the second process's journal recovers to the same order again
    assert _comparable(recover(read_journal(path)).orders[1]) == _comparable(order)
