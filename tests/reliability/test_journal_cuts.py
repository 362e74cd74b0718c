"""Recovery from every possible crash point: the journal cut after each record, and inside each record.

A SIGKILL during the journal's ``os.write`` of a multi-page batch can leave only part of the
batch on disk (the kernel stops copying at a page boundary when a fatal signal is pending), so
recovery must cope with any prefix of the records, not only with whole batches. Nothing of a
batch reached a venue or a strategy before the whole batch was written, so every cut must give:
each order either sent to its venue or answered to its strategy, and each strategy's event log
agreeing with the order states the replayed venue events produced.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.journal import FileJournal, JournalRecord, JournalScan, read_journal, truncate_torn_tail
from gateway.protocol.messages import (
    Cancel,
    Canceled,
    CancelRejected,
    Executed,
    OrderAccepted,
    OrderEvent,
    OrderRejected,
    Replace,
    Replaced,
)
from gateway.recovery import recover
from model.fsync import FsyncPolicy
from model.order import ACKED_STATES, OrderState
from tests.harness import Rig, as_earlier_version

SENT_UNANSWERED = {OrderState.PENDING_NEW, OrderState.PENDING_NEW_CANCEL, OrderState.PENDING_NEW_HELD_CANCEL}


def _journaled_flow(path: Path) -> list[JournalRecord]:
    """Run a day with every kind of record through a real engine journaling to ``path``."""
    rig = Rig(journal=FileJournal(path, fsync=FsyncPolicy.NONE))
    link = rig.connect("S1")
    rig.new_order(link, "A", qty=300)
    rig.new_order(link, "B")
    rig.new_order(link, "BIG", qty=50_000)  # risk refuses
    rig.new_order(link, "D")
    rig.new_order(link, "U", symbol="UNSUPPORTED")  # venue cannot carry it
    rig.venue.accept(1)
    rig.venue.fill(1, 100, 1_000_000)
    rig.venue.accept(2)
    rig.venue.reject(4)
    rig.send(link, Replace("A", 400, 1_010_000), Cancel("A"))  # cancel held behind the replace
    rig.venue.replaced(1, 300, 1_010_000)  # -> Replaced, then the held cancel goes out
    rig.venue.cancel(1)
    rig.send(link, Cancel("nope"))  # CancelRejected with no venue event behind it
    rig.new_order(link, "E", qty=10)
    rig.venue.accept(6)
    rig.venue.fill(6, 10, 1_000_000)
    rig.new_order(link, "F")  # sent, never answered
    rig.engine.flush()
    rig.engine.journal.close()
    return list(read_journal(path))


def _fold(events: list[OrderEvent]) -> tuple[str, int, int]:
    state, cum, leaves = "PENDING_NEW", 0, 0
    for event in events:
        if isinstance(event, OrderAccepted):
            state, leaves = "LIVE", event.qty
        elif isinstance(event, OrderRejected):
            state, leaves = "REJECTED", 0
        elif isinstance(event, Executed):
            cum, leaves = event.cum_qty, event.leaves_qty
            state = "FILLED" if leaves == 0 else state
        elif isinstance(event, Canceled):
            leaves = event.leaves_qty
            state = "CANCELED" if leaves == 0 else state
        elif isinstance(event, Replaced):
            leaves = event.leaves_qty
    return state, cum, leaves


def _write(path: Path, records: list[JournalRecord]) -> None:
    path.unlink(missing_ok=True)
    journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    for record in records:
        journal.append(record)
    journal.close()


def _recover(path: Path) -> Rig:
    """Recover a fresh engine from ``path`` the way the gateway process does."""
    rig = Rig()
    scan = JournalScan()
    recovered = recover(read_journal(path, scan))
    if scan.torn_bytes:
        truncate_torn_tail(path, scan.good_bytes)
    rig.engine.journal = FileJournal(path, fsync=FsyncPolicy.NONE)
    rig.engine.adopt(recovered)
    rig.engine.journal.close()
    return rig


def _events(rig: Rig) -> dict[str, list[OrderEvent]]:
    return {sid: st.events for sid, st in rig.engine.strategies.items()}


def _check_consistent(rig: Rig, where: str) -> None:
    engine = rig.engine
    for st in engine.strategies.values():
        assert [e.seq for e in st.events] == list(range(1, len(st.events) + 1)), where
        by_order: dict[str, list[OrderEvent]] = {}
        for event in st.events:
            if not isinstance(event, CancelRejected):
                by_order.setdefault(event.cl_ord_id, []).append(event)
        for cl_ord_id, order in st.orders.items():
            if order.state in SENT_UNANSWERED:
                assert order.order_id in engine.open_orders, f"{where}: {cl_ord_id} neither sent nor answered"
                assert cl_ord_id not in by_order, where
                continue
            state = "LIVE" if order.state in ACKED_STATES else order.state.name
            folded = _fold(by_order.get(cl_ord_id, []))
            assert folded == (state, order.cum_qty, order.leaves_qty), f"{where}: {cl_ord_id} {folded} vs {order}"


@pytest.mark.parametrize("version", ["current", "earlier"])
def test_recover_when_journal_cut_after_any_record_then_every_order_sent_or_answered_and_events_match(
    tmp_path: Path, version: str
) -> None:
    records = _journaled_flow(tmp_path / "full.journal")
    assert len(records) > 20
    if version == "earlier":  # records as an earlier version wrote them: two per sent order, 1 + n per venue event
        records = as_earlier_version(records)
        assert len(records) > 35
    for cut in range(len(records) + 1):
        path = tmp_path / f"cut{cut}.journal"
        _write(path, records[:cut])
        rig = _recover(path)
        _check_consistent(rig, f"cut after record {cut}")
        # What recovery completed is journaled: recovering again finds nothing left to complete.
        again = _recover(path)
        _check_consistent(again, f"second recovery, cut {cut}")
        assert _events(again) == _events(rig)


@pytest.mark.parametrize("inside", [1, 4, 9])
def test_recover_when_journal_cut_inside_a_record_then_same_as_cut_before_it(tmp_path: Path, inside: int) -> None:
    full = tmp_path / "full.journal"
    records = _journaled_flow(full)
    data = full.read_bytes()
    sizes = []
    for k in range(len(records) + 1):
        _write(tmp_path / "k.journal", records[:k])
        sizes.append((tmp_path / "k.journal").stat().st_size)
    for k in range(len(records)):
        torn = tmp_path / f"torn{k}.journal"
        torn.write_bytes(data[: sizes[k] + min(inside, sizes[k + 1] - sizes[k] - 1)])
        clean = tmp_path / f"clean{k}.journal"
        clean.write_bytes(data[: sizes[k]])
        torn_rig, clean_rig = _recover(torn), _recover(clean)
        assert torn.read_bytes() == clean.read_bytes()
        assert _events(torn_rig) == _events(clean_rig)
