"""Regression (found in review): the recovery floor outlived the venue's sequence space.

The floor is gone; what replaced it, the exactly-once high water, restarts with each numbering epoch.
"""

from __future__ import annotations

from pathlib import Path

from gateway.journal import FileJournal, read_journal
from gateway.protocol.messages import OrderAccepted
from gateway.recovery import recover
from model.fsync import FsyncPolicy
from model.order import OrderState
from tests.harness import Rig


def test_venue_events_when_venue_sequence_resets_after_restart_then_not_dropped_as_duplicates(tmp_path: Path) -> None:
    first = Rig(journal=FileJournal(tmp_path / "j", fsync=FsyncPolicy.NONE))
    link = first.connect("S1")
    for i in range(5):
        first.new_order(link, f"A{i}")
        first.venue.accept(i + 1)  # venue seq 1..5 journaled
    first.engine.journal.close()

    rig = Rig()
    rig.engine.adopt(recover(read_journal(tmp_path / "j")))
    link = rig.connect("S1", last_seq=5)
    rig.new_order(link, "B")
    rig.venue.new_epoch("2")  # e.g. FIX ResetSeqNumFlag on logon, a scheduled daily reset, a new SoupBinTCP session
    rig.venue.accept(6)  # the venue's message 1 of its new sequence space
    assert rig.order("S1", "B").state is OrderState.LIVE, f"{rig.engine.exactly_once.duplicates} dropped"
    rig.engine.flush()
    got = link.received()
    assert any(isinstance(m, OrderAccepted) for m in got), got
