"""Regression (found in review): a journal that cannot be written must stop everything, lose nothing, and resume."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.journal import FileJournal, JOrderCreated, read_journal, unwrap_requests
from gateway.protocol.messages import OrderAccepted, OrderRejected
from model.fsync import FsyncPolicy
from tests.harness import Rig


def test_journal_when_disk_full_then_nothing_leaves_new_orders_refused_and_all_flows_once_writable(
    tmp_path: Path,
) -> None:
    journal = FileJournal("/dev/full", fsync=FsyncPolicy.NONE)  # every write fails with ENOSPC, like a full disk
    rig = Rig(journal=journal)
    link = rig.connect("S1")
    assert [type(m).__name__ for m in link.received()] == [
        "Welcome",
        "VenueStatus",
    ]  # nothing journaled yet: nothing to wait for
    flushes = rig.venue.flushes
    rig.new_order(link, "A")
    assert rig.venue.commands == [("new", 1, 100, 1_000_000)]  # queued in the adapter, not flushed
    assert rig.venue.flushes == flushes
    assert rig.engine.journal_error.startswith("OSError")
    rig.new_order(link, "B")
    assert rig.order("S1", "B").state.name == "REJECTED"  # refused while the journal is down

    real = tmp_path / "journal"
    fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    os.dup2(fd, journal._fd)  # the disk has room again
    os.close(fd)
    rig.engine.flush()
    assert rig.engine.journal_error == ""
    assert rig.venue.flushes == flushes + 1
    messages = link.received()
    assert [type(m).__name__ for m in messages] == ["OrderRejected"]
    assert isinstance(messages[0], OrderRejected) and messages[0].code == "JOURNAL_UNAVAILABLE"
    rig.venue.accept(1)
    rig.engine.flush()
    assert [type(m) for m in link.received()] == [OrderAccepted]
    journal.close()
    created = [r.cl_ord_id for r in unwrap_requests(read_journal(real)) if isinstance(r, JOrderCreated)]
    assert created == ["A", "B"], "nothing written twice, nothing lost"
