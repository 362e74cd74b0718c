"""A fill the venue reports for an order released from memory: rebuilt from the journal, applied to the position.

Before, an event whose order was no longer in memory (released after ``memory.terminal_orders_kept``) was
counted ``venue_events_unknown_order`` and dropped: the venue's shares never reached the position. Now the
engine reads the order back from the journal, applies the fill as a late fill (``after_end``), journals it
so recovery rebuilds the same position, delivers the ``Executed`` to the owning strategy, and still catches a
repeated ExecID (the journal has the order's execution ids). An order id this gateway never issued stays
unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.engine import RELEASE_BATCH
from gateway.journal import FileJournal, JStrategyEvent, JVenueEvent, MmapJournal, read_journal
from gateway.protocol.messages import Error, Executed, NewOrder
from gateway.recovery import recover
from model.enums import Side
from model.fsync import FsyncPolicy
from model.order import OrderState
from model.venue_events import VenueExecuted
from tests.harness import MemoryLink, Rig

PX = 1_000_000
KEPT = 2


def _filler(rig: Rig, link: MemoryLink, prefix: str, count: int) -> None:
    """Create ``count`` orders and have the venue reject each: terminal orders that push older ones out."""
    first = rig.engine.next_order_id
    orders = [NewOrder(f"{prefix}{i}", "ACC1", "V1", "AAPL", Side.BUY, 10, PX) for i in range(count)]
    for start in range(0, count, 50):
        rig.send(link, *orders[start : start + 50])
    for order_id in range(first, first + count):
        rig.venue.reject(order_id)
    rig.engine.flush()
    link.received()


def _executed(received: Sequence[object]) -> list[tuple[str, int, int, int, str]]:
    return [(m.cl_ord_id, m.qty, m.cum_qty, m.leaves_qty, m.exec_id) for m in received if isinstance(m, Executed)]


def _released_rig(path: Path, *, mmap: bool = False, events_kept: int = 10_000) -> tuple[Rig, MemoryLink]:
    journal = (
        MmapJournal(path, fsync=FsyncPolicy.NONE, grow_bytes=1 << 20)
        if mmap
        else FileJournal(path, fsync=FsyncPolicy.NONE)
    )
    rig = Rig(journal=journal)
    rig.engine.terminal_orders_kept = KEPT
    rig.engine.events_kept = events_kept
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1)
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 20, PX, "A", "E1"))
    rig.venue.cancel(1)
    rig.engine.flush()
    _filler(rig, link, "f", RELEASE_BATCH + KEPT + 10)
    assert 1 not in rig.engine.orders  # released
    link.received()
    return rig, link


@pytest.mark.parametrize("mmap", [False, True], ids=["file", "mmap"])
def test_fill_when_its_order_was_released_then_rebuilt_from_the_journal_and_applied(
    tmp_path: Path, mmap: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rig, link = _released_rig(tmp_path / "j", mmap=mmap)
    engine = rig.engine
    unknown = engine.counters.venue_events_unknown_order
    with caplog.at_level(logging.ERROR, logger="gateway.engine"):
        rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 10, PX + 100, "A", "LATE1"))
        engine.flush()
    assert _executed(link.received()) == [("A", 10, 30, 0, "LATE1")]
    assert rig.risk.executions[-1] == (1, 10, PX + 100)
    assert sum(qty for oid, qty, _px in rig.risk.executions if oid == 1) == 30
    order = engine.orders[1]
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 30, 0)
    assert order.notional_traded == 20 * PX + 10 * (PX + 100)
    counters = engine.counters
    assert (counters.late_fills, counters.venue_events_unknown_order) == (1, unknown)
    assert engine.journal_rebuilds == 1
    assert any("after the order ended CANCELED" in r.getMessage() for r in caplog.records)


def test_fill_when_repeated_for_a_released_order_then_applied_once_even_after_a_second_release(
    tmp_path: Path,
) -> None:
    rig, link = _released_rig(tmp_path / "j")
    engine = rig.engine
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 10, PX, "A", "LATE1"))
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 20, PX, "A", "E1"))  # a copy of the fill before the cancel
    engine.flush()
    assert _executed(link.received()) == [("A", 10, 30, 0, "LATE1")]
    _filler(rig, link, "g", RELEASE_BATCH + KEPT + 10)
    assert 1 not in engine.orders  # released again: the journal has LATE1 now
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 10, PX, "A", "LATE1"))  # PossResend copy, new number
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 5, PX, "A", "LATE2"))
    engine.flush()
    assert _executed(link.received()) == [("A", 5, 35, 0, "LATE2")]
    assert sum(qty for oid, qty, _px in rig.risk.executions if oid == 1) == 35
    assert (engine.counters.late_fills, engine.counters.repeated_fills) == (2, 2)


def test_restart_when_a_released_order_took_a_late_fill_then_recovery_gives_the_same_position(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    rig, link = _released_rig(path)
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 10, PX, "A", "LATE1"))
    rig.new_order(link, "B", qty=50)  # an event after it: numbered after the late Executed
    rig.venue.accept(rig.engine.next_order_id - 1)
    rig.engine.flush()
    live = [(type(m).__name__, m.seq) for m in link.received() if hasattr(m, "seq")]
    assert [name for name, _ in live] == ["Executed", "OrderAccepted"]
    rig.engine.journal.close()
    records = list(read_journal(path))
    (late,) = [r for r in records if type(r) is JVenueEvent]  # then the Executed it produced, as its own record
    assert isinstance(late.event, VenueExecuted) and (late.event.order_id, late.event.after_end) == (1, True)
    after = records[records.index(late) + 1]
    assert isinstance(after, JStrategyEvent) and isinstance(after.event, Executed) and after.event.exec_id == "LATE1"

    again = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    again.engine.adopt(recover(read_journal(path)))
    order = again.engine.orders[1]
    assert (order.state, order.cum_qty, order.leaves_qty) == (OrderState.CANCELED, 30, 0)
    assert sum(qty for oid, qty, _px in again.risk.executions if oid == 1) == 30
    fresh = again.connect("S1", last_seq=live[0][1] - 1)
    assert [(type(m).__name__, m.seq) for m in fresh.received() if hasattr(m, "seq")] == live
    again.engine.journal.close()


def test_fill_when_the_order_id_was_never_issued_then_unknown_and_no_position(tmp_path: Path) -> None:
    rig, link = _released_rig(tmp_path / "j")
    engine = rig.engine
    executions = list(rig.risk.executions)
    unknown = engine.counters.venue_events_unknown_order
    for order_id in (engine.next_order_id, engine.next_order_id + 1000, 0):
        rig.venue.emit(VenueExecuted(rig.venue._next(), order_id, 10, PX, "A", f"X{order_id}"))
    engine.flush()
    assert _executed(link.received()) == []
    assert rig.risk.executions == executions
    assert engine.counters.venue_events_unknown_order == unknown + 3
    assert engine.counters.late_fills == 0


def test_fill_when_the_released_order_was_another_venue_s_then_unknown(tmp_path: Path) -> None:
    from tests.harness import ScriptedVenue

    rig = Rig(
        journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE), venues=[ScriptedVenue("V1"), ScriptedVenue("V2")]
    )
    rig.engine.terminal_orders_kept = KEPT
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=100)
    rig.venue.accept(1)
    rig.venue.cancel(1)
    _filler(rig, link, "f", RELEASE_BATCH + KEPT + 10)
    assert 1 not in rig.engine.orders
    other = rig.venues[1]
    other.emit(VenueExecuted(other._next(), 1, 10, PX, "A", "LATE1"))
    rig.engine.flush()
    assert _executed(link.received()) == []
    assert rig.engine.counters.late_fills == 0
    assert 1 not in rig.engine.orders


def test_replay_from_the_journal_when_it_reaches_back_across_a_late_fill_then_the_executed_is_in_it(
    tmp_path: Path,
) -> None:
    """The old code journaled a late fill as a ``JVenueApplied`` whose ``Executed`` a replay from the journal
    (which follows only the orders open where it starts) could not rebuild: REPLAY_UNAVAILABLE."""
    rig, link = _released_rig(tmp_path / "j", events_kept=KEPT)
    rig.venue.emit(VenueExecuted(rig.venue._next(), 1, 10, PX, "A", "LATE1"))
    rig.engine.flush()
    (live,) = [m for m in link.received() if isinstance(m, Executed)]
    _filler(rig, link, "g", RELEASE_BATCH + KEPT + 10)
    st = rig.engine.strategies["S1"]
    assert st.events_base > live.seq  # released from memory: the replay reads the journal
    rig.engine.link_closed(link)
    again = rig.connect("S1", last_seq=live.seq - 1)
    got = again.received()
    assert not [m for m in got if isinstance(m, Error)]
    assert got[1] == live  # after the Welcome: the late Executed, as it was delivered live
    assert len([m for m in got if hasattr(m, "seq")]) == st.next_seq - live.seq
